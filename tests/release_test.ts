// `deno task release`: the compiled binary for every platform, named by target and version, with
// a SHA256SUMS that `sha256sum -c` accepts. The formats are checked with `file`, the linux-x64
// binary is run, and a second release built in a copy of the repository gives the same bytes.
// Also the Windows naming rules that install-helper and the PATH lookup follow.

import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { requireTool, run, type RunResult } from "./fixtures/services.ts";
import { ROOT, SecretScanner } from "./harness.ts";
import { executableFileName, executableNames } from "../src/paths.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];

/** Each target, and what `file` says about its binary. */
const FORMATS: Record<string, RegExp> = {
  "linux-x64": /ELF 64-bit LSB executable, x86-64, .*interpreter \/lib64\/ld-linux-x86-64\.so\.2/,
  "linux-arm64": /ELF 64-bit LSB executable, ARM aarch64, .*interpreter \/lib\/ld-linux-aarch64/,
  "linux-x64-musl": /ELF 64-bit LSB executable, x86-64, .*interpreter \/lib\/ld-musl-x86_64\.so\.1/,
  "linux-arm64-musl":
    /ELF 64-bit LSB executable, ARM aarch64, .*interpreter \/lib\/ld-musl-aarch64\.so\.1/,
  "darwin-x64": /Mach-O 64-bit x86_64 executable/,
  "darwin-arm64": /Mach-O 64-bit arm64 executable/,
  "windows-x64": /PE32\+ executable \(console\) x86-64, for MS Windows/,
};

function output(result: RunResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** A copy of the repository as a fresh clone of this commit (with uncommitted edits) holds it. */
async function copyRepository(to: string): Promise<void> {
  const listed = await run(requireTool("git"), [
    "ls-files",
    "-z",
    "--cached",
    "--others",
    "--exclude-standard",
  ], { cwd: ROOT });
  assert.equal(listed.code, 0, listed.stderr);
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    const source = join(ROOT, file);
    if (!(await stat(source).catch(() => undefined))?.isFile()) continue; // deleted, not committed
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(source, join(to, file));
  }
}

describe("deno task release", () => {
  let work: string;
  let standIn: StandIn;
  let release: string;
  let version: string;
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "sr-release-"));
    standIn = await startStandIn();
    version = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).version;
    release = join(work, "release");
  });

  after(async () => {
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  function buildRelease(repository: string, out: string): Promise<RunResult> {
    return run(requireTool("bash"), [join(repository, "scripts", "release.sh"), "--out", out], {
      cwd: repository,
      timeoutMs: 900_000,
    });
  }

  it("builds the same bytes twice, from two copies of the repository", {
    timeout: 1_800_000,
  }, async () => {
    const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    assert.equal(denoJson.tasks.release, "bash scripts/release.sh");
    const first = await buildRelease(ROOT, release);
    assert.equal(first.code, 0, output(first));
    const copy = join(work, "copy-of-the-repository");
    await copyRepository(copy);
    const again = join(work, "again");
    const second = await buildRelease(copy, again);
    assert.equal(second.code, 0, output(second));
    const sums = await readFile(join(release, "SHA256SUMS"), "utf8");
    assert.equal(await readFile(join(again, "SHA256SUMS"), "utf8"), sums);
    assert.equal(first.stdout, sums, "the script prints SHA256SUMS");
    await rm(again, { recursive: true, force: true }); // 700 MB
  });

  it("writes SHA256SUMS in sha256sum -c format, covering every file", {
    timeout: 300_000,
  }, async () => {
    const check = await run(requireTool("sha256sum"), ["--strict", "-c", "SHA256SUMS"], {
      cwd: release,
      timeoutMs: 240_000,
    });
    assert.equal(check.code, 0, output(check));
    const names = Object.keys(FORMATS).map((target) =>
      `sauce-registry-${version}-${target}${target.startsWith("windows") ? ".exe" : ""}`
    );
    const expected = [...names, "install.sh"].sort();
    assert.deepEqual(
      check.stdout.trim().split("\n").sort(),
      expected.map((name) => `${name}: OK`).sort(),
    );
    assert.deepEqual((await readdir(release)).sort(), [...expected, "SHA256SUMS"].sort());
    assert.equal(
      await readFile(join(release, "install.sh"), "utf8"),
      await readFile(join(ROOT, "scripts", "install.sh"), "utf8"),
    );
  });

  it("gives each binary its platform's format (file)", { timeout: 60_000 }, async () => {
    for (const [target, format] of Object.entries(FORMATS)) {
      const name = `sauce-registry-${version}-${target}${
        target.startsWith("windows") ? ".exe" : ""
      }`;
      const result = await run(requireTool("file"), ["-b", join(release, name)]);
      assert.equal(result.code, 0, output(result));
      assert.match(result.stdout, format, `${name}: ${result.stdout}`);
    }
  });

  it("runs the linux-x64 binary with no runtime on PATH", { timeout: 120_000 }, async () => {
    const binary = join(release, `sauce-registry-${version}-linux-x64`);
    const home = join(work, "home");
    await mkdir(home);
    const env = {
      HOME: home,
      SAUCE_USERNAME: USER,
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
    };
    const shown = await run(binary, ["--version"], { env, inheritEnv: false });
    assert.equal(shown.stdout, `sauce-registry ${version}\n`, output(shown));
    const token = await run(binary, ["token", "--registry", "registry.example.com/team"], {
      env,
      inheritEnv: false,
      cwd: home,
    });
    assert.equal(token.code, 0, output(token));
    assert.equal(JSON.parse(token.stdout).password, standIn.issued.at(-1)!.password);
    scanner.check("binary stderr", token.stderr);
  });

  it("refuses to build when src/version.ts's VERSION is not deno.json's version", {
    timeout: 120_000,
  }, async () => {
    const copy = join(work, "mismatched");
    await copyRepository(copy);
    const mod = join(copy, "src", "version.ts");
    await writeFile(
      mod,
      (await readFile(mod, "utf8")).replace(
        /export const VERSION = "[^"]*";/,
        'export const VERSION = "9.9.9";',
      ),
    );
    const out = join(work, "mismatched-out");
    const result = await buildRelease(copy, out);
    assert.equal(result.code, 1, output(result));
    assert.match(
      result.stderr,
      new RegExp(
        `deno\\.json says version ${version} but src/version\\.ts's VERSION is "9\\.9\\.9"`,
      ),
    );
    assert.equal(await stat(out).catch(() => undefined), undefined, "nothing was built");
  });
});

describe("Windows names", () => {
  it("gives the helper and the binary an .exe name on Windows only", () => {
    assert.equal(
      executableFileName("docker-credential-saucelabs", true),
      "docker-credential-saucelabs.exe",
    );
    assert.equal(
      executableFileName("docker-credential-saucelabs", false),
      "docker-credential-saucelabs",
    );
  });

  it("looks a command up under each PATHEXT extension on Windows, as Windows does", () => {
    assert.deepEqual(executableNames("docker-credential-saucelabs", true, undefined), [
      "docker-credential-saucelabs.com",
      "docker-credential-saucelabs.exe",
      "docker-credential-saucelabs.bat",
      "docker-credential-saucelabs.cmd",
    ]);
    assert.deepEqual(executableNames("docker", true, ".EXE;.CMD"), ["docker.exe", "docker.cmd"]);
    assert.deepEqual(executableNames("docker.exe", true, ".EXE;.CMD"), [
      "docker.exe",
      "docker.exe.exe",
      "docker.exe.cmd",
    ]);
    assert.deepEqual(executableNames("docker", false, ".EXE"), ["docker"]);
  });
});
