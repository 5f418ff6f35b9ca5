// `deno task release`: the compiled binary for every platform, named by target and version, with
// a SHA256SUMS that `sha256sum -c` accepts. The formats are checked with `file`, the linux-x64
// binary is run, and a second release built in a copy of the repository gives the same bytes.
// One build policy (scripts/build_policy.sh) for release.sh, compile.sh, test.sh and deno.json's
// compile:bun: the pinned Bun, and --bytecode for the build machine's target only. Also the
// Windows naming rules that install-helper and the PATH lookup follow.

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
    const expected = [...names, "install.sh", "sauce-registry.1"].sort();
    assert.deepEqual(
      check.stdout.trim().split("\n").sort(),
      expected.map((name) => `${name}: OK`).sort(),
    );
    assert.deepEqual((await readdir(release)).sort(), [...expected, "SHA256SUMS"].sort());
    assert.equal(
      await readFile(join(release, "install.sh"), "utf8"),
      await readFile(join(ROOT, "scripts", "install.sh"), "utf8"),
    );
    assert.equal(
      await readFile(join(release, "sauce-registry.1"), "utf8"),
      await readFile(join(ROOT, "docs", "sauce-registry.1"), "utf8"),
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

/** What scripts/build_policy.sh says, read by bash itself. */
async function buildPolicy(repository: string): Promise<{
  bunVersion: string;
  buildMachine: string;
  flags: Record<string, string[]>;
}> {
  const result = await run(requireTool("bash"), [
    "-c",
    'source scripts/build_policy.sh && echo "$BUN_VERSION" && echo "$BUILD_MACHINE" && ' +
    'for target in "${BUN_TARGETS[@]}"; do echo "$target $(bun_build_flags "$target")"; done',
  ], { cwd: repository });
  assert.equal(result.code, 0, output(result));
  const [bunVersion, buildMachine, ...lines] = result.stdout.trim().split("\n");
  const flags: Record<string, string[]> = {};
  for (const line of lines) {
    const [target, ...words] = line.split(" ");
    flags[target] = words;
  }
  return { bunVersion, buildMachine, flags };
}

describe("the build policy", () => {
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "sr-policy-"));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /**
   * A `bun` first on PATH that answers `--version` with `version`, records each `bun build` (and
   * writes a small file as its output) and hands everything else to the real Bun.
   */
  async function recordingBun(version: string): Promise<{ path: string; log: string }> {
    const tools = await mkdtemp(join(work, "bun-"));
    const log = join(tools, "builds.log");
    const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
    await writeFile(
      join(tools, "bun"),
      [
        "#!/bin/sh",
        `case "$1" in`,
        `  --version) echo ${quote(version)} ;;`,
        "  build)",
        `    printf '%s\\n' "$*" >> ${quote(log)}`,
        '    out= previous=; for word; do [ "$previous" = --outfile ] && out=$word; previous=$word; done',
        '    mkdir -p "$(dirname "$out")" && echo "built by the recording bun" > "$out" ;;',
        `  *) exec ${quote(requireTool("bun"))} "$@" ;;`,
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    return { path: `${tools}:${process.env.PATH ?? ""}`, log };
  }

  /** Each recorded `bun build`: its target (bun-… less the prefix) and its other flags. */
  async function builds(log: string): Promise<Record<string, string[]>> {
    const recorded: Record<string, string[]> = {};
    for (const line of (await readFile(log, "utf8")).trim().split("\n")) {
      const words = line.split(" ").slice(1);
      const target = words.find((word) => word.startsWith("--target=bun-"))!.slice(13);
      const outfile = words.indexOf("--outfile");
      recorded[target] = words.filter((word, index) =>
        word.startsWith("--") && !word.startsWith("--target=") && index !== outfile
      );
    }
    return recorded;
  }

  it(
    "gives each target the same flags in release.sh and compile.sh, --bytecode to linux-x64 only",
    {
      timeout: 300_000,
    },
    async () => {
      const repository = join(work, "repository");
      await copyRepository(repository);
      const policy = await buildPolicy(repository);
      assert.equal(policy.buildMachine, "linux-x64");
      for (const [target, flags] of Object.entries(policy.flags)) {
        assert.equal(flags.includes("--bytecode"), target === "linux-x64", target);
        assert.ok(flags.includes("--no-compile-autoload-dotenv"), target);
      }

      const released = await recordingBun(policy.bunVersion);
      const release = await run(requireTool("bash"), [
        "scripts/release.sh",
        "--out",
        join(work, "out"),
      ], {
        cwd: repository,
        env: { PATH: released.path },
        timeoutMs: 240_000,
      });
      assert.equal(release.code, 0, output(release));
      assert.deepEqual(await builds(released.log), policy.flags, "release.sh");

      const compiled = await recordingBun(policy.bunVersion);
      const compile = await run(requireTool("bash"), ["scripts/compile.sh", "bun"], {
        cwd: repository,
        env: { PATH: compiled.path },
        timeoutMs: 240_000,
      });
      assert.equal(compile.code, 0, output(compile));
      const { "windows-x64": _, ...unixFlags } = policy.flags;
      assert.deepEqual(await builds(compiled.log), unixFlags, "compile.sh bun");
    },
  );

  it("holds deno.json's compile:bun and scripts/test.sh's Bun to the policy", async () => {
    const policy = await buildPolicy(ROOT);
    const task: string[] = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks[
      "compile:bun"
    ].split(/\s+/);
    assert.deepEqual(task.slice(0, 2), ["bun", "build"]);
    const outfile = task.indexOf("--outfile");
    assert.deepEqual(
      task.filter((word, index) => word.startsWith("--") && index !== outfile),
      policy.flags[policy.buildMachine],
      "compile:bun builds for the machine it runs on, with the build machine's flags",
    );
    const testScript = await readFile(join(ROOT, "scripts", "test.sh"), "utf8");
    assert.match(testScript, /^source scripts\/build_policy\.sh\b/m, "test.sh takes BUN_VERSION");
    for (const script of await readdir(join(ROOT, "scripts"))) {
      if (script === "build_policy.sh") continue;
      const text = await readFile(join(ROOT, "scripts", script), "utf8");
      assert.doesNotMatch(
        text,
        /\bBUN_VERSION=|--bytecode/,
        `${script} sets no Bun policy of its own`,
      );
    }
  });

  it("refuses to build with a Bun other than the pinned one: exit 1, nothing built", {
    timeout: 120_000,
  }, async () => {
    const repository = join(work, "other-bun");
    await copyRepository(repository);
    const { bunVersion } = await buildPolicy(repository);
    const other = await recordingBun("1.0.0");
    for (
      const args of [["scripts/release.sh", "--out", join(work, "other-out")], [
        "scripts/compile.sh",
        "bun",
      ]]
    ) {
      const result = await run(requireTool("bash"), args, {
        cwd: repository,
        env: { PATH: other.path },
      });
      assert.equal(result.code, 1, `${args[0]}: ${output(result)}`);
      assert.match(
        result.stderr,
        new RegExp(`bun 1\\.0\\.0 is not the pinned ${bunVersion.replaceAll(".", "\\.")}`),
      );
      assert.equal(await stat(other.log).catch(() => undefined), undefined, "nothing was built");
    }
    assert.equal(await stat(join(work, "other-out")).catch(() => undefined), undefined);
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
