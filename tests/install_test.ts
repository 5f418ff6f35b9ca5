// scripts/install.sh, run by dash (Debian's POSIX sh): it installs the release binary for this
// machine and the docker-credential-saucelabs symlink after checking SHA256SUMS, and refuses a
// tampered binary or one SHA256SUMS does not list, installing nothing.

import { createHash } from "node:crypto";
import {
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { requireTool, run, type RunResult } from "./fixtures/services.ts";
import { ROOT } from "./harness.ts";

const INSTALLER = join(ROOT, "scripts", "install.sh");
const TARGETS = [
  "linux-x64",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
];

function output(result: RunResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

describe("scripts/install.sh", () => {
  let work: string;
  let release: string;
  let version: string;
  let binaryName: string;
  let home: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "sr-install-"));
    await chmod(work, 0o755); // the test that runs as nobody reads from here
    release = join(work, "release");
    home = join(work, "home");
    await mkdir(home);
    version = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).version;
    binaryName = `sauce-registry-${version}-linux-x64`;
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Run the installer with dash, a plain PATH and the test's HOME, plus `env`. */
  function install(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
    return run(requireTool("dash"), [INSTALLER, ...args], {
      env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, ...env },
      inheritEnv: false,
      cwd: work,
      timeoutMs: 120_000,
    });
  }

  /** A copy of the real release folder, to tamper with. */
  async function copyOfRelease(name: string): Promise<string> {
    const copy = join(work, name);
    await mkdir(copy);
    for (const file of ["SHA256SUMS", binaryName]) {
      await writeFile(join(copy, file), await readFile(join(release, file)));
    }
    return copy;
  }

  it("installs from a local release folder: the checked binary and the helper symlink", {
    timeout: 600_000,
  }, async () => {
    const built = await run(requireTool("bash"), [
      join(ROOT, "scripts", "release.sh"),
      "--out",
      release,
      "linux-x64",
    ], { cwd: ROOT, timeoutMs: 540_000 });
    assert.equal(built.code, 0, output(built));

    const bin = join(work, "bin");
    const result = await install(["--from", release, "--dir", bin]);
    assert.equal(result.code, 0, output(result));
    assert.match(result.stderr, new RegExp(`installed sauce-registry ${version} \\(linux-x64\\)`));
    assert.match(result.stderr, /is not on PATH/);
    const installed = join(bin, "sauce-registry");
    assert.equal((await stat(installed)).mode & 0o777, 0o755);
    assert.equal(
      sha256(await readFile(installed)),
      sha256(await readFile(join(release, binaryName))),
    );
    assert.equal(await readlink(join(bin, "docker-credential-saucelabs")), "sauce-registry");
    const shown = await run(installed, ["--version"], { inheritEnv: false, env: { HOME: home } });
    assert.equal(shown.stdout, `sauce-registry ${version}\n`);
    const helper = await run(join(bin, "docker-credential-saucelabs"), ["version"], {
      inheritEnv: false,
      env: { HOME: home },
    });
    assert.equal(helper.stdout, `docker-credential-saucelabs (sauce-registry) ${version}\n`);

    // Again, with the version pinned and the folder on PATH: replaced in place, nothing left over.
    const again = await install(["--from", release, "--dir", bin, "--version", `v${version}`], {
      PATH: `${bin}:/usr/bin:/bin`,
    });
    assert.equal(again.code, 0, output(again));
    assert.doesNotMatch(again.stderr, /not on PATH/);
    assert.deepEqual((await readdir(bin)).sort(), [
      "docker-credential-saucelabs",
      "sauce-registry",
    ]);
  });

  it("refuses a tampered binary: exit 1, says so, installs nothing, keeps what was there", {
    timeout: 120_000,
  }, async () => {
    const tampered = await copyOfRelease("tampered");
    const bytes = await readFile(join(tampered, binaryName));
    bytes[bytes.length - 100] ^= 0xff;
    await writeFile(join(tampered, binaryName), bytes);

    const fresh = join(work, "fresh-bin");
    const refused = await install(["--from", tampered, "--dir", fresh]);
    assert.equal(refused.code, 1, output(refused));
    assert.match(
      refused.stderr,
      new RegExp(`error: checksum mismatch for ${binaryName}: .*nothing was installed`),
    );
    assert.equal(refused.stderr.trim().split("\n").length, 1, "one line");
    assert.equal(await exists(fresh), false);

    const bin = join(work, "bin");
    const before = sha256(await readFile(join(bin, "sauce-registry")));
    const over = await install(["--from", tampered, "--dir", bin]);
    assert.equal(over.code, 1, output(over));
    assert.equal(sha256(await readFile(join(bin, "sauce-registry"))), before);
  });

  it("refuses a binary that SHA256SUMS does not list, or no SHA256SUMS at all", {
    timeout: 120_000,
  }, async () => {
    const unlisted = await copyOfRelease("unlisted");
    const sums = await readFile(join(unlisted, "SHA256SUMS"), "utf8");
    await writeFile(
      join(unlisted, "SHA256SUMS"),
      sums.split("\n").filter((line) => !line.endsWith(`  ${binaryName}`)).join("\n"),
    );
    const bin = join(work, "unlisted-bin");
    const pinned = await install(["--from", unlisted, "--dir", bin, "--version", version]);
    assert.equal(pinned.code, 1, output(pinned));
    assert.match(pinned.stderr, new RegExp(`no checksum for ${binaryName}: refusing`));
    const unpinned = await install(["--from", unlisted, "--dir", bin]);
    assert.equal(unpinned.code, 1, output(unpinned));
    assert.match(unpinned.stderr, /lists no sauce-registry binary for linux-x64/);

    await rm(join(unlisted, "SHA256SUMS"));
    const none = await install(["--from", unlisted, "--dir", bin]);
    assert.equal(none.code, 1, output(none));
    assert.match(none.stderr, /cannot get SHA256SUMS from /);
    assert.equal(await exists(bin), false);
  });

  it("downloads from a URL (here on loopback) and refuses plain http to anywhere else", {
    timeout: 120_000,
  }, async () => {
    const served: string[] = [];
    const server = http.createServer((request, response) => {
      served.push(request.url ?? "");
      readFile(join(release, (request.url ?? "").replace(/^\/v1\//, "")))
        .then((body) => response.end(body))
        .catch(() => {
          response.statusCode = 404;
          response.end("not found");
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const bin = join(work, "url-bin");
      const result = await install(["--from", `http://127.0.0.1:${port}/v1/`, "--dir", bin]);
      assert.equal(result.code, 0, output(result));
      assert.deepEqual(served, ["/v1/SHA256SUMS", `/v1/${binaryName}`]);
      assert.equal(await readlink(join(bin, "docker-credential-saucelabs")), "sauce-registry");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const plain = await install(["--from", "http://downloads.example.com/v1", "--dir", "x"]);
    assert.equal(plain.code, 1, output(plain));
    assert.match(plain.stderr, /plain http:\/\/ is accepted only from this machine/);
  });

  describe("picking the binary for the machine", () => {
    let fake: string;

    /** A release of small stand-in files, each holding its target's name. */
    before(async () => {
      fake = join(work, "fake-release");
      await mkdir(fake);
      const lines = [];
      for (const target of TARGETS) {
        const name = `sauce-registry-1.2.3-${target}`;
        await writeFile(join(fake, name), `${target}\n`);
        lines.push(`${sha256(`${target}\n`)}  ${name}`);
      }
      await writeFile(join(fake, "SHA256SUMS"), `${lines.join("\n")}\n`);
    });

    /**
     * Install on a pretend machine: `uname`, `getconf`, `ldd` and `sysctl` answer as given
     * (unset ones fail like a missing command), and the installed file names the target.
     */
    async function installOn(machine: {
      system: string;
      arch: string;
      glibc?: boolean;
      lddSays?: string;
      rosetta?: boolean;
    }, args: string[] = []): Promise<{ result: RunResult; target?: string }> {
      const tools = await mkdtemp(join(work, "machine-"));
      const script = (name: string, body: string) =>
        writeFile(join(tools, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      await script(
        "uname",
        `case "$1" in -s) echo ${machine.system};; -m) echo ${machine.arch};; esac`,
      );
      await script("getconf", machine.glibc ? "echo glibc 2.36" : "exit 1");
      await script("ldd", machine.lddSays ? `echo '${machine.lddSays}' >&2; exit 1` : "exit 127");
      await script("sysctl", machine.rosetta ? "echo 1" : "exit 1");
      const bin = join(tools, "bin");
      const result = await install(["--from", fake, "--dir", bin, ...args], {
        PATH: `${tools}:/usr/bin:/bin`,
      });
      const installed = await readFile(join(bin, "sauce-registry"), "utf8").catch(() => undefined);
      return { result, target: installed?.trim() };
    }

    it("chooses by system, architecture and C library", { timeout: 120_000 }, async () => {
      const cases: [Parameters<typeof installOn>[0], string][] = [
        [{ system: "Linux", arch: "x86_64", glibc: true }, "linux-x64"],
        [{ system: "Linux", arch: "aarch64", glibc: true }, "linux-arm64"],
        [{ system: "Linux", arch: "x86_64", lddSays: "musl libc (x86_64)" }, "linux-x64-musl"],
        [{ system: "Linux", arch: "aarch64", lddSays: "musl libc (aarch64)" }, "linux-arm64-musl"],
        [{ system: "Darwin", arch: "arm64" }, "darwin-arm64"],
        [{ system: "Darwin", arch: "x86_64" }, "darwin-x64"],
        // A shell under Rosetta on Apple silicon: the native binary.
        [{ system: "Darwin", arch: "x86_64", rosetta: true }, "darwin-arm64"],
      ];
      for (const [machine, expected] of cases) {
        const { result, target } = await installOn(machine);
        assert.equal(result.code, 0, `${JSON.stringify(machine)}: ${output(result)}`);
        assert.equal(target, expected, JSON.stringify(machine));
      }
      const chosen = await installOn({ system: "Linux", arch: "x86_64", glibc: true }, [
        "--target",
        "linux-arm64-musl",
      ]);
      assert.equal(chosen.target, "linux-arm64-musl");
    });

    it("refuses machines it has no binary for, and bad arguments (exit 2)", {
      timeout: 120_000,
    }, async () => {
      const bsd = await installOn({ system: "FreeBSD", arch: "amd64" });
      assert.equal(bsd.result.code, 1, output(bsd.result));
      assert.match(bsd.result.stderr, /no sauce-registry binary for FreeBSD/);
      const riscv = await installOn({ system: "Linux", arch: "riscv64", glibc: true });
      assert.equal(riscv.result.code, 1, output(riscv.result));
      assert.match(riscv.result.stderr, /no sauce-registry binary for Linux on riscv64/);
      for (
        const args of [
          ["--dir", "x"],
          ["--from", fake, "--target", "plan9-x64"],
          ["--from", fake, "--version", "1.2.3;rm"],
          ["--from"],
          ["--frm", fake],
        ]
      ) {
        const result = await install(args);
        assert.equal(result.code, 2, `${args.join(" ")}: ${output(result)}`);
        assert.match(result.stderr, /install\.sh: error: .*\ninstall\.sh: usage: /);
      }
    });

    it("installs into ~/.local/bin when /usr/local/bin is not writable", {
      timeout: 120_000,
    }, async () => {
      const userHome = join(work, "nobody-home");
      await mkdir(userHome);
      await chown(userHome, 65534, 65534);
      const result = await run(requireTool("setpriv"), [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        requireTool("dash"),
        INSTALLER,
        "--from",
        fake,
        "--target",
        "linux-x64",
      ], {
        env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: userHome },
        inheritEnv: false,
        cwd: userHome,
      });
      assert.equal(result.code, 0, output(result));
      assert.equal(
        await readFile(join(userHome, ".local", "bin", "sauce-registry"), "utf8"),
        "linux-x64\n",
      );
      assert.equal(
        await readlink(join(userHome, ".local", "bin", "docker-credential-saucelabs")),
        "sauce-registry",
      );
    });
  });
});
