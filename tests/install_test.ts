// scripts/install.sh, run by dash (Debian's POSIX sh): it installs the release binary for this
// machine and the docker-credential-saucelabs symlink after checking SHA256SUMS, and refuses a
// tampered binary or one SHA256SUMS does not list, installing nothing.

import { createHash } from "node:crypto";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { describeResult, exists } from "./fixtures/common.ts";
import {
  makeArgvRecorderShim,
  readShimCalls,
  requireTool,
  run,
  type RunResult,
} from "./fixtures/services.ts";
import { ROOT } from "./fixtures/harness.ts";

const INSTALLER = join(ROOT, "scripts", "install.sh");
const TARGETS = [
  "linux-x64",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
  "darwin-x64",
  "darwin-arm64",
];

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A release of small stand-in files, each holding its target's name, with their SHA256SUMS. */
async function fakeRelease(folder: string): Promise<string> {
  await mkdir(folder, { recursive: true });
  const lines = [];
  for (const target of TARGETS) {
    const name = `sauce-registry-1.2.3-${target}`;
    await writeFile(join(folder, name), `${target}\n`);
    lines.push(`${sha256(`${target}\n`)}  ${name}`);
  }
  await writeFile(join(folder, "SHA256SUMS"), `${lines.join("\n")}\n`);
  return folder;
}

/** An HTTP server on 127.0.0.1 that answers with `handler`; closed by `close()`. */
async function serve(
  handler: http.RequestListener,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Serves the files of `folder` under `/v1/`, recording each request's path in `served`. */
function serveFolder(folder: string, served: string[]): http.RequestListener {
  return (request, response) => {
    served.push(request.url ?? "");
    readFile(join(folder, (request.url ?? "").replace(/^\/v1\//, "")))
      .then((body) => response.end(body))
      .catch(() => {
        response.statusCode = 404;
        response.end("not found");
      });
  };
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
    assert.equal(built.code, 0, describeResult(built));

    const bin = join(work, "bin");
    const result = await install(["--from", release, "--dir", bin]);
    assert.equal(result.code, 0, describeResult(result));
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
    // The release ships the man page, and a bin folder gets it in its sibling share/man/man1,
    // where man finds it through PATH.
    const manPage = join(work, "share", "man", "man1", "sauce-registry.1");
    assert.match(
      result.stderr,
      /installed the man page in .*share\/man\/man1 \(man sauce-registry\)/,
    );
    assert.equal(
      await readFile(manPage, "utf8"),
      await readFile(join(ROOT, "docs", "sauce-registry.1"), "utf8"),
    );
    assert.equal((await stat(manPage)).mode & 0o777, 0o644);
    const found = await run(requireTool("man"), ["-w", "sauce-registry"], {
      inheritEnv: false,
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home },
    });
    assert.equal(found.stdout.trim(), manPage, describeResult(found));

    // Again, with the version pinned and the folder on PATH: replaced in place, nothing left over.
    const again = await install(["--from", release, "--dir", bin, "--version", `v${version}`], {
      PATH: `${bin}:/usr/bin:/bin`,
    });
    assert.equal(again.code, 0, describeResult(again));
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
    assert.equal(refused.code, 1, describeResult(refused));
    assert.match(
      refused.stderr,
      new RegExp(`error: checksum mismatch for ${binaryName}: .*nothing was installed`),
    );
    assert.equal(refused.stderr.trim().split("\n").length, 1, "one line");
    assert.equal(await exists(fresh), false);

    const bin = join(work, "bin");
    const before = sha256(await readFile(join(bin, "sauce-registry")));
    const over = await install(["--from", tampered, "--dir", bin]);
    assert.equal(over.code, 1, describeResult(over));
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
    assert.equal(pinned.code, 1, describeResult(pinned));
    assert.match(pinned.stderr, new RegExp(`no checksum for ${binaryName}: refusing`));
    const unpinned = await install(["--from", unlisted, "--dir", bin]);
    assert.equal(unpinned.code, 1, describeResult(unpinned));
    assert.match(unpinned.stderr, /lists no sauce-registry binary for linux-x64/);

    await rm(join(unlisted, "SHA256SUMS"));
    const none = await install(["--from", unlisted, "--dir", bin]);
    assert.equal(none.code, 1, describeResult(none));
    assert.match(none.stderr, /cannot get SHA256SUMS from /);
    assert.equal(await exists(bin), false);
  });

  it("downloads from a URL (here on loopback) and refuses plain http to anywhere else", {
    timeout: 120_000,
  }, async () => {
    const served: string[] = [];
    const server = await serve(serveFolder(release, served));
    try {
      const bin = join(work, "url-bin");
      const result = await install(["--from", `${server.url}/v1/`, "--dir", bin]);
      assert.equal(result.code, 0, describeResult(result));
      assert.deepEqual(served, ["/v1/SHA256SUMS", `/v1/${binaryName}`]);
      assert.equal(await readlink(join(bin, "docker-credential-saucelabs")), "sauce-registry");
    } finally {
      await server.close();
    }
    const plain = await install(["--from", "http://downloads.example.com/v1", "--dir", "x"]);
    assert.equal(plain.code, 2, describeResult(plain));
    assert.match(plain.stderr, /plain http:\/\/ is accepted only from this machine/);
  });

  describe("the man page", () => {
    const PAGE = ".TH SAUCE\\-REGISTRY 1\n.SH NAME\nsauce\\-registry \\- a stand-in page\n";

    /** A stand-in release with a man page (listed in SHA256SUMS as `sums` says), and its folder. */
    async function releaseWithPage(name: string, sums: "listed" | "tampered"): Promise<string> {
      const folder = await fakeRelease(join(work, name));
      await writeFile(
        join(folder, "sauce-registry.1"),
        sums === "listed" ? PAGE : `${PAGE}.\\"x\n`,
      );
      const listed = await readFile(join(folder, "SHA256SUMS"), "utf8");
      await writeFile(join(folder, "SHA256SUMS"), `${listed}${sha256(PAGE)}  sauce-registry.1\n`);
      return folder;
    }

    /** The installer for linux-x64 from `from` into `dir`. */
    function installInto(from: string, dir: string): Promise<RunResult> {
      return install(["--from", from, "--dir", dir, "--target", "linux-x64"]);
    }

    it("goes beside a bin folder, into share/man/man1 made for it, checked and 0644", {
      timeout: 120_000,
    }, async () => {
      const release = await releaseWithPage("page-release", "listed");
      const prefix = join(work, "page-prefix");
      const result = await installInto(release, join(prefix, "bin"));
      assert.equal(result.code, 0, describeResult(result));
      const page = join(prefix, "share", "man", "man1", "sauce-registry.1");
      assert.equal(await readFile(page, "utf8"), PAGE);
      assert.equal((await stat(page)).mode & 0o777, 0o644);
      assert.deepEqual(await readdir(join(prefix, "share", "man", "man1")), ["sauce-registry.1"]);

      // Not a bin folder: the binary only, and no share/ made anywhere.
      const other = join(work, "page-other");
      const tools = await installInto(release, join(other, "tools"));
      assert.equal(tools.code, 0, describeResult(tools));
      assert.deepEqual(await readdir(other), ["tools"]);
      assert.doesNotMatch(tools.stderr, /man page/);
    });

    it("refuses a man page that differs from SHA256SUMS, installing nothing", {
      timeout: 120_000,
    }, async () => {
      const release = await releaseWithPage("tampered-page-release", "tampered");
      const prefix = join(work, "tampered-page-prefix");
      const result = await installInto(release, join(prefix, "bin"));
      assert.equal(result.code, 1, describeResult(result));
      assert.match(
        result.stderr,
        /error: checksum mismatch for sauce-registry\.1: .*nothing was installed/,
      );
      assert.equal(result.stderr.trim().split("\n").length, 1, "one line");
      assert.equal(await exists(prefix), false);
    });

    it(
      "is left out, with a note, where share/man/man1 cannot be made; and of a release without one",
      {
        timeout: 120_000,
      },
      async () => {
        const release = await releaseWithPage("page-release-2", "listed");
        const prefix = join(work, "blocked-prefix");
        await mkdir(prefix);
        await writeFile(join(prefix, "share"), "a file where the folder would go\n");
        const blocked = await installInto(release, join(prefix, "bin"));
        assert.equal(blocked.code, 0, describeResult(blocked));
        assert.match(blocked.stderr, /note: the man page is not installed: cannot write to .*man1/);
        assert.equal(await readFile(join(prefix, "bin", "sauce-registry"), "utf8"), "linux-x64\n");

        const older = join(work, "older-prefix");
        const without = await installInto(
          await fakeRelease(join(work, "pageless")),
          join(older, "bin"),
        );
        assert.equal(without.code, 0, describeResult(without));
        assert.deepEqual(await readdir(older), ["bin"]);
      },
    );
  });

  describe("picking the binary for the machine", () => {
    let fake: string;

    before(async () => {
      fake = await fakeRelease(join(work, "fake-release"));
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
        assert.equal(result.code, 0, `${JSON.stringify(machine)}: ${describeResult(result)}`);
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
      assert.equal(bsd.result.code, 1, describeResult(bsd.result));
      assert.match(bsd.result.stderr, /no sauce-registry binary for FreeBSD/);
      const riscv = await installOn({ system: "Linux", arch: "riscv64", glibc: true });
      assert.equal(riscv.result.code, 1, describeResult(riscv.result));
      assert.match(riscv.result.stderr, /no sauce-registry binary for Linux on riscv64/);
      for (
        const args of [
          ["--dir", "x"],
          ["--from", fake, "--target", "plan9-x64"],
          ["--from", fake, "--version", "1.2.3;rm"],
          ["--from", fake, "--version", "x1.2.3"],
          ["--from"],
          ["--frm", fake],
        ]
      ) {
        const result = await install(args);
        assert.equal(result.code, 2, `${args.join(" ")}: ${describeResult(result)}`);
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
      assert.equal(result.code, 0, describeResult(result));
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

  describe("refusing what it cannot trust", () => {
    let fake: string;

    before(async () => {
      fake = await fakeRelease(join(work, "trust-release"));
    });

    /** A copy of the stand-in release, to tamper with. */
    async function copyOfFake(name: string): Promise<string> {
      const copy = join(work, name);
      await mkdir(copy);
      for (const file of await readdir(fake)) {
        await writeFile(join(copy, file), await readFile(join(fake, file)));
      }
      return copy;
    }

    /**
     * A folder for PATH holding every command of /usr/bin except curl and wget, plus `wget` when
     * given: the installer then downloads with that wget.
     */
    async function pathWithWget(wget: string): Promise<string> {
      const tools = await mkdtemp(join(work, "wget-path-"));
      for (const name of await readdir("/usr/bin")) {
        if (name === "curl" || name === "wget") continue;
        await symlink(join("/usr/bin", name), join(tools, name));
      }
      await symlink(wget, join(tools, "wget"));
      return tools;
    }

    it(
      "refuses plain http to any host but this machine's, and URLs with user@host, before fetching",
      {
        timeout: 120_000,
      },
      async () => {
        const tools = await mkdtemp(join(work, "no-fetch-"));
        const curl = await makeArgvRecorderShim(tools, "curl", null, { exitCode: 1 });
        const wget = await makeArgvRecorderShim(tools, "wget", null, { exitCode: 1 });
        const refused: [string, RegExp][] = [
          ["http://127.0.0.1@evil.example/rel", /no user@host/],
          ["http://localhost:x@evil.example/", /no user@host/],
          ["http://[::1]@evil.example/", /no user@host/],
          [
            "http://127.evil.example/",
            /accepted only from this machine .*got host 127\.evil\.example/,
          ],
          ["http://localhost.evil.example/", /accepted only from this machine/],
          ["http://127.0.0.2/rel", /accepted only from this machine/],
          ["http://127.0.0.1#@evil.example/", /no user@host, \? or #/],
          ["http://127.0.0.1:80x/", /the port in .* is not a number/],
          ["https://user@downloads.example.com/rel", /no user@host/],
          ["HTTP://evil.example/", /expects a folder or an https:\/\/ URL/],
        ];
        for (const [from, message] of refused) {
          const bin = join(work, "never-bin");
          const result = await install(["--from", from, "--dir", bin, "--target", "linux-x64"], {
            PATH: `${tools}:/usr/bin:/bin`,
          });
          assert.equal(result.code, 2, `${from}: ${describeResult(result)}`);
          assert.match(result.stderr, /^install\.sh: error: --from/, from);
          assert.match(result.stderr, message, from);
          assert.equal(await exists(bin), false, from);
        }
        assert.deepEqual(await readShimCalls(curl.log), [], "curl was never run");
        assert.deepEqual(await readShimCalls(wget.log), [], "wget was never run");
      },
    );

    for (const [which, wget] of [["GNU wget", "/usr/bin/wget"], ["BusyBox wget", "busybox"]]) {
      it(`with ${which} (no curl), follows redirects on the same server and none to plain http`, {
        timeout: 120_000,
      }, async () => {
        const tools = await pathWithWget(requireTool(wget));
        const elsewhere: string[] = [];
        const other = await serve(serveFolder(fake, elsewhere));
        const served: string[] = [];
        const files = serveFolder(fake, served);
        const server = await serve((request, response) => {
          const path = request.url ?? "";
          if (path.startsWith("/to-http/")) {
            response.writeHead(302, { location: `${other.url}/v1/${path.slice(9)}` }).end();
          } else if (path.startsWith("/same-server/")) {
            response.writeHead(302, { location: `/v1/${path.slice(13)}` }).end();
          } else files(request, response);
        });
        try {
          const bin = join(work, `redirected-bin-${which.split(" ")[0]}`);
          const followed = await install(
            ["--from", `${server.url}/same-server`, "--dir", bin, "--target", "linux-x64"],
            { PATH: tools },
          );
          assert.equal(followed.code, 0, describeResult(followed));
          assert.equal(await readFile(join(bin, "sauce-registry"), "utf8"), "linux-x64\n");

          const refusedBin = join(work, `refused-bin-${which.split(" ")[0]}`);
          const refused = await install(
            ["--from", `${server.url}/to-http`, "--dir", refusedBin, "--target", "linux-x64"],
            { PATH: tools },
          );
          assert.equal(refused.code, 1, describeResult(refused));
          assert.match(
            refused.stderr,
            /install\.sh: error: .*\/to-http\/SHA256SUMS was redirected to plain http:\/\/.*nothing was installed/,
          );
          assert.equal(refused.stderr.trim().split("\n").length, 1, "one line");
          assert.equal(await exists(refusedBin), false);
          assert.deepEqual(elsewhere, ["/v1/SHA256SUMS"], "only SHA256SUMS came from there");
        } finally {
          await server.close();
          await other.close();
        }
      });
    }

    it(
      "refuses, on every target, a changed binary and a SHA256SUMS line changed in its last hex digit",
      {
        timeout: 300_000,
      },
      async () => {
        for (const target of TARGETS) {
          const name = `sauce-registry-1.2.3-${target}`;
          const changedBinary = await copyOfFake(`changed-binary-${target}`);
          await writeFile(join(changedBinary, name), `${target}!\n`);
          const changedSum = await copyOfFake(`changed-sum-${target}`);
          const sums = await readFile(join(changedSum, "SHA256SUMS"), "utf8");
          const line = sums.split("\n").find((entry) => entry.endsWith(`  ${name}`))!;
          const last = line[63] === "0" ? "1" : "0";
          await writeFile(
            join(changedSum, "SHA256SUMS"),
            sums.replace(line, `${line.slice(0, 63)}${last}${line.slice(64)}`),
          );
          for (const from of [changedBinary, changedSum]) {
            const bin = join(work, `tamper-bin-${target}`);
            const result = await install(["--from", from, "--dir", bin, "--target", target]);
            assert.equal(result.code, 1, `${target} ${from}: ${describeResult(result)}`);
            assert.match(
              result.stderr,
              new RegExp(
                `^install\\.sh: error: checksum mismatch for ${name}: .*nothing was installed\n$`,
              ),
            );
            assert.equal(await exists(bin), false, `${target}: nothing installed`);
          }
        }
      },
    );

    it(
      "stages in a new folder: a link or folder already at the old staging names changes nothing",
      {
        timeout: 120_000,
      },
      async () => {
        const bin = join(work, "planted-bin");
        await mkdir(bin);
        const victim = join(work, "victim-file");
        await writeFile(victim, "not yours\n");
        // The installer named its staging files after its PID: exec keeps the planting shell's.
        const planted = await run(requireTool("dash"), [
          "-c",
          'ln -s "$1" "$2/.sauce-registry.install-$$" && mkdir "$2/.docker-credential-saucelabs.install-$$" && ' +
          'shift 2 && exec dash "$@"',
          "plant",
          victim,
          bin,
          INSTALLER,
          "--from",
          fake,
          "--dir",
          bin,
          "--target",
          "linux-x64",
        ], { env: { PATH: "/usr/bin:/bin", HOME: home }, inheritEnv: false, cwd: work });
        assert.equal(planted.code, 0, describeResult(planted));
        assert.equal(
          await readFile(victim, "utf8"),
          "not yours\n",
          "the link's target is untouched",
        );
        const installed = await lstat(join(bin, "sauce-registry"));
        assert.equal(installed.isFile(), true, "sauce-registry is a file, not a link");
        assert.equal(await readFile(join(bin, "sauce-registry"), "utf8"), "linux-x64\n");
        assert.equal(await readlink(join(bin, "docker-credential-saucelabs")), "sauce-registry");
        const left = (await readdir(bin)).filter((entry) => entry.startsWith("."));
        assert.equal(left.length, 2, `only the planted entries are left: ${left.join(", ")}`);
      },
    );

    it("refuses a version in SHA256SUMS that is not a version, and never prints it raw", {
      timeout: 120_000,
    }, async () => {
      for (const version of ["1.2.3\x1b[2J\x1b]0;owned\x07", "evil", "1.2.3/../../x"]) {
        const folder = await mkdtemp(join(work, "odd-version-"));
        const name = `sauce-registry-${version}-linux-x64`;
        if (!version.includes("/")) await writeFile(join(folder, name), "linux-x64\n");
        await writeFile(join(folder, "SHA256SUMS"), `${sha256("linux-x64\n")}  ${name}\n`);
        const bin = join(work, "odd-version-bin");
        const result = await install(["--from", folder, "--dir", bin, "--target", "linux-x64"]);
        assert.equal(result.code, 1, `${JSON.stringify(version)}: ${describeResult(result)}`);
        assert.match(
          result.stderr,
          /^install\.sh: error: SHA256SUMS in .* names a linux-x64 binary whose version is not a version such as 1\.2\.3 .*nothing was installed\n$/,
        );
        assert.doesNotMatch(result.stderr.trimEnd(), /\p{Cc}/u, "no control characters");
        assert.equal(await exists(bin), false);
      }
    });
  });
});
