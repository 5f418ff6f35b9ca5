/**
 * Shared test helpers: run the real CLI as a child process under the runtime that runs the tests
 * (so `deno test` proves Deno and `bun test` proves Bun), in an isolated home, and scan everything
 * captured for secrets.
 *
 * @module
 */

import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert } from "./deps.ts";
import { run } from "./fixtures/services.ts";

/** The repository's root folder. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The CLI's entry file. */
export const CLI: string = join(ROOT, "cli.ts");

/** Which runtime runs this test file. */
export function runtime(): "deno" | "bun" {
  return "Bun" in globalThis ? "bun" : "deno";
}

/** The runtime's own executable. */
export function runtimeExecutable(): string {
  return (globalThis as unknown as { process: { execPath: string } }).process.execPath;
}

/**
 * The argv that starts the CLI under the current runtime (before the CLI's own arguments), the
 * way README says to run it: nothing of the working folder is loaded (no `.env`, which the tool
 * reads itself; no `bunfig.toml` or `tsconfig.json` for Bun, no `deno.json` for Deno).
 */
export function cliCommand(): string[] {
  return runtime() === "bun"
    ? [
      runtimeExecutable(),
      "--no-env-file",
      "--config=/dev/null",
      "--tsconfig-override=/dev/null",
      CLI,
    ]
    : [runtimeExecutable(), "run", "--quiet", "-A", "--no-config", CLI];
}

/** A throw-away home: HOME, XDG folders and DOCKER_CONFIG inside one temp folder. */
export interface Sandbox {
  /** The temp folder. */
  dir: string;
  /** An environment for the CLI: no outer SAUCE_* variables, HOME and XDG_* inside `dir`. */
  env: Record<string, string>;
  /** Remove the folder. */
  cleanup(): Promise<void>;
}

/**
 * Make a sandbox. `extra` is merged into its environment (e.g. SAUCE_USERNAME, SAUCE_API_URL).
 */
export async function makeSandbox(extra: Record<string, string> = {}): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), "sr-test-"));
  const outer = (globalThis as unknown as { process: { env: Record<string, string | undefined> } })
    .process.env;
  const env: Record<string, string> = {
    PATH: outer.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: join(dir, "home"),
    XDG_CONFIG_HOME: join(dir, "home", ".config"),
    XDG_CACHE_HOME: join(dir, "home", ".cache"),
    DOCKER_CONFIG: join(dir, "home", ".docker"),
    TMPDIR: outer.TMPDIR ?? "/tmp",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
    // Short retry delays keep fault tests quick; the policy itself is unchanged.
    SAUCE_REGISTRY_RETRY_DELAY_MS: "50",
    ...extra,
  };
  return { dir, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The documents of a YAML text, as Python's PyYAML `safe_load_all` reads them (apt-get install
 * python3-yaml): YAML 1.1, so a bare `on:` key reads as `true`.
 */
export async function yamlDocuments(text: string): Promise<Record<string, unknown>[]> {
  const parsed = await run("/usr/bin/python3", [
    "-c",
    "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))",
  ], { stdin: text });
  assert.equal(
    parsed.code,
    0,
    `python3 could not parse the YAML (apt-get install python3-yaml): ${parsed.stderr}`,
  );
  return JSON.parse(parsed.stdout);
}

/** What a CLI run left behind. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the CLI with arguments, in a sandbox's environment, with optional stdin.
 */
export async function runCli(
  args: string[],
  options: { env: Record<string, string>; stdin?: string; cwd?: string; timeoutMs?: number },
): Promise<CliResult> {
  const [program, ...first] = cliCommand();
  return await run(program, [...first, ...args], {
    env: options.env,
    inheritEnv: false, // only the sandbox's variables: no SAUCE_* from the outer environment
    stdin: options.stdin ?? "",
    cwd: options.cwd,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
}

/**
 * The suite's one secret scanner: every captured output, recorded argv and written file goes
 * through it, and it fails the test when any registered secret appears.
 */
export class SecretScanner {
  #secrets = new Set<string>();

  /** Register values that must never appear (access keys, issued passwords). */
  add(...secrets: string[]): void {
    for (const secret of secrets) if (secret) this.#secrets.add(secret);
  }

  /** Fail when a secret appears in `text`; `where` names the place in the failure message. */
  check(where: string, ...texts: string[]): void {
    for (const text of texts) {
      for (const secret of this.#secrets) {
        assert.ok(
          !text.includes(secret),
          `a secret (${secret.slice(0, 4)}…) appeared in ${where}`,
        );
      }
    }
  }

  /** Check a CLI result's stdout and stderr. */
  checkResult(where: string, result: CliResult): void {
    this.check(`${where} stdout`, result.stdout);
    this.check(`${where} stderr`, result.stderr);
  }

  /**
   * Check every file under `dir`, except those allowed to hold a secret (0600 files the tool
   * writes on purpose, such as the token cache); those must be mode 0600. A folder or file it
   * cannot read (or a `dir` that does not exist) fails the check: it cannot vouch for it.
   * Symlinked files are read, symlinked folders not entered (one can loop back to its parent;
   * Bun's recursive readdir would follow it), under both runtimes alike.
   */
  async checkTree(dir: string, allowed: (path: string) => boolean = () => false): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await this.checkTree(path, allowed);
        continue;
      }
      const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
        // A dangling symlink points at nothing that could hold a secret.
        if (error.code === "ENOENT") return undefined;
        throw error;
      });
      if (!info?.isFile()) continue;
      if (allowed(path)) {
        assert.equal(info.mode & 0o077, 0, `${path} holds a secret and must be private`);
        continue;
      }
      this.check(path, await readFile(path, "utf8"));
    }
  }
}
