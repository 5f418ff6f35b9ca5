// `exec REGISTRY -- COMMAND` and `push IMAGE`: a private, temporary Docker config holding fresh
// auth, removed afterwards whatever happens (exit codes, signals to the child and to
// sauce-registry itself), the child's exit code passed on, real skopeo and dockerd pushes to a
// real token-authenticated registry, and no password in any argv or output.
//
// Runs unchanged under `deno test -A` and `bun test`. Bun cuts hooks off at 5 s, so the
// registry and dockerd start inside the first test that needs them and stop in after().

import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import process from "node:process";
import { assert, describe, it } from "./deps.ts";
import { useRealComponents, useTempDir } from "./fixtures/suite.ts";
import { exists, sleep, waitUntil } from "./fixtures/common.ts";
import { DEFAULT_USERS, TOKEN_USERNAME } from "./fixtures/stand_in.ts";
import {
  loadIntoDocker,
  makeArgvRecorderShim,
  privateContainersStorage,
  readShimCalls,
  requireTool,
  run,
} from "./fixtures/services.ts";
import { spawn as spawnTool } from "../src/process.ts";
import { TimeoutError } from "../src/errors.ts";
import {
  cliCommand,
  type CliResult,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
const REGISTRY_URL = "registry.example.com/your-private-registry";
const HOST = "registry.example.com";

/** Whether a process is still running (a zombie counts as gone). */
async function isAlive(pid: number): Promise<boolean> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ")[0] !== "Z";
  } catch {
    return false;
  }
}

interface ExecSandbox extends Sandbox {
  tmp: string;
  privateDir: string;
  probe: string;
  bin: string;
}

describe("exec and push", () => {
  const suite = useRealComponents("exec-test-");
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY);

  /**
   * A sandbox with Sauce credentials, a TMPDIR and an XDG_RUNTIME_DIR of its own, so that every
   * private folder sauce-registry makes can be seen (in `privateDir`, under XDG_RUNTIME_DIR) and
   * must be gone afterwards. `probe` is a folder outside the sandbox where children write what
   * they saw (secrets included).
   */
  async function execSandbox(): Promise<ExecSandbox> {
    const sandbox = await suite.sandbox();
    const tmp = join(sandbox.dir, "tmp");
    await mkdir(tmp);
    const run = join(sandbox.dir, "run");
    await mkdir(run, { mode: 0o700 });
    const probe = await mkdtemp(join(suite.work, "probe-"));
    const bin = await mkdtemp(join(suite.work, "bin-"));
    Object.assign(sandbox.env, {
      TMPDIR: tmp,
      PATH: `${bin}:${sandbox.env.PATH}`,
      XDG_RUNTIME_DIR: run,
    });
    return { ...sandbox, tmp, privateDir: join(run, "sauce-registry"), probe, bin };
  }

  /** What sauce-registry left in the sandbox's temporary and private folders. */
  async function leftovers(sandbox: ExecSandbox): Promise<string[]> {
    const inPrivate = await readdir(sandbox.privateDir).catch((error: { code?: string }) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    return [...await readdir(sandbox.tmp), ...inPrivate];
  }

  function cli(sandbox: Sandbox, args: string[]): Promise<CliResult> {
    return runCli(args, { env: sandbox.env, cwd: sandbox.dir, timeoutMs: 120_000 });
  }

  /** `exec REGISTRY_URL -- sh -c SCRIPT sh ARG`: the script sees ARG as $1. */
  function execShell(sandbox: Sandbox, script: string, arg: string): Promise<CliResult> {
    return cli(sandbox, ["exec", REGISTRY_URL, "--", "sh", "-c", script, "sh", arg]);
  }

  /** The passwords issued since `count` credentials had been issued. */
  function issuedSince(count: number): string[] {
    const passwords = suite.standIn.issued.slice(count).map((token) => token.password);
    scanner.add(...passwords);
    return passwords;
  }

  /** push's tool reads the private config: no password (nor its companions) in its environment. */
  function assertNoPasswordInEnvironment(tool: string, env: Record<string, string>): void {
    for (const name of ["DOCKER_USERNAME", "DOCKER_PASSWORD", "DOCKER_REGISTRY"]) {
      assert.equal(env[name], undefined, `push gave ${tool} ${name}`);
    }
    scanner.check(`${tool}'s environment`, Object.values(env).join("\n"));
  }

  async function inRegistry(reference: string): Promise<boolean> {
    const token = suite.standIn.issue();
    const inspected = await run(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      "--creds",
      `${TOKEN_USERNAME}:${token.password}`,
      `docker://${reference}`,
    ], { env: { REGISTRY_AUTH_FILE: undefined } });
    return inspected.code === 0;
  }

  it("gives the command a private 0700 config with fresh auth, and removes it", async () => {
    const sandbox = await execSandbox();
    const issued = suite.standIn.issued.length;
    const script = [
      "set -e",
      'out="$1"',
      'printf %s "$DOCKER_CONFIG" > "$out/docker_config"',
      'stat -c %a "$DOCKER_CONFIG" > "$out/dir_mode"',
      'stat -c %a "$DOCKER_CONFIG/config.json" > "$out/file_mode"',
      'cp "$DOCKER_CONFIG/config.json" "$out/config.json"',
      'printf %s "$REGISTRY_AUTH_FILE" > "$out/auth_file"',
      'cp "$REGISTRY_AUTH_FILE" "$out/auth_file_copy"',
      'printf %s "$DOCKER_USERNAME" > "$out/username"',
      'printf %s "$DOCKER_PASSWORD" > "$out/password"',
      'printf %s "$DOCKER_REGISTRY" > "$out/registry"',
    ].join("\n");
    const result = await execShell(sandbox, script, sandbox.probe);
    assert.equal(result.code, 0, result.stderr);
    const [password] = issuedSince(issued);
    assert.ok(password, "a token was fetched");
    assert.deepEqual(JSON.parse(suite.standIn.requests.at(-1)!.body), {
      registry_url: REGISTRY_URL,
    });

    const seen = async (name: string) => await readFile(join(sandbox.probe, name), "utf8");
    const dir = await seen("docker_config");
    assert.ok(dir.startsWith(`${sandbox.privateDir}/`), `${dir} is not under XDG_RUNTIME_DIR`);
    assert.equal((await seen("dir_mode")).trim(), "700");
    assert.equal((await seen("file_mode")).trim(), "600");
    assert.equal(await seen("auth_file"), join(dir, "config.json"));
    const config = JSON.parse(await seen("config.json"));
    assert.deepEqual(config, {
      auths: { [HOST]: { auth: Buffer.from(`${TOKEN_USERNAME}:${password}`).toString("base64") } },
    });
    assert.equal(await seen("auth_file_copy"), await seen("config.json"));
    assert.equal(await seen("username"), TOKEN_USERNAME);
    assert.equal(await seen("password"), password);
    assert.equal(await seen("registry"), HOST);

    assert.equal(await exists(dir), false, "the folder is gone");
    assert.deepEqual(await leftovers(sandbox), []);
    scanner.checkResult("exec", result);
    await scanner.checkTree(sandbox.dir);
  });

  it("keeps the user's Docker settings but not their credentials, nor the access key", async () => {
    const sandbox = await execSandbox();
    const userDir = sandbox.env.DOCKER_CONFIG;
    await mkdir(join(userDir, "contexts", "meta"), { recursive: true });
    await mkdir(join(userDir, "cli-plugins"), { recursive: true });
    await writeFile(
      join(userDir, "config.json"),
      JSON.stringify({
        auths: { "other.example.com": { auth: "b3RoZXI6c2VjcmV0" } },
        credsStore: "desktop",
        credHelpers: { "gcr.io": "gcloud" },
        currentContext: "remote",
        psFormat: "table {{.ID}}",
        proxies: { default: { httpProxy: "http://127.0.0.1:3128" } },
      }),
    );
    const script = [
      "set -e",
      'cp "$DOCKER_CONFIG/config.json" "$1/config.json"',
      'readlink "$DOCKER_CONFIG/contexts" > "$1/contexts"',
      'readlink "$DOCKER_CONFIG/cli-plugins" > "$1/cli-plugins"',
      'env > "$1/env"',
    ].join("\n");
    const result = await execShell(sandbox, script, sandbox.probe);
    assert.equal(result.code, 0, result.stderr);
    const seen = async (name: string) => await readFile(join(sandbox.probe, name), "utf8");
    const config = JSON.parse(await seen("config.json"));
    assert.deepEqual(Object.keys(config.auths), [HOST], "only the fresh auth");
    assert.equal(config.credsStore, undefined);
    assert.equal(config.credHelpers, undefined);
    assert.equal(config.currentContext, "remote");
    assert.equal(config.psFormat, "table {{.ID}}");
    assert.deepEqual(config.proxies, { default: { httpProxy: "http://127.0.0.1:3128" } });
    assert.equal((await seen("contexts")).trim(), join(userDir, "contexts"));
    assert.equal((await seen("cli-plugins")).trim(), join(userDir, "cli-plugins"));
    const env = await seen("env");
    assert.match(env, /^SAUCE_USERNAME=alice$/m);
    assert.doesNotMatch(env, /SAUCE_ACCESS_KEY/);
    assert.ok(!env.includes(ALICE_KEY), "the access key reached the command");
    assert.deepEqual(await leftovers(sandbox), []);
  });

  it("works without HOME or DOCKER_CONFIG, as in a minimal container", async () => {
    const sandbox = await execSandbox();
    for (const name of ["HOME", "DOCKER_CONFIG", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"]) {
      delete sandbox.env[name];
    }
    const result = await execShell(
      sandbox,
      'cp "$DOCKER_CONFIG/config.json" "$1"',
      join(sandbox.probe, "config.json"),
    );
    assert.equal(result.code, 0, result.stderr);
    const config = JSON.parse(await readFile(join(sandbox.probe, "config.json"), "utf8"));
    assert.deepEqual(Object.keys(config), ["auths"]);
    assert.deepEqual(await leftovers(sandbox), []);
  });

  it("uses the temporary folder when there is no XDG_RUNTIME_DIR", async () => {
    const sandbox = await execSandbox();
    delete sandbox.env.XDG_RUNTIME_DIR;
    const result = await execShell(
      sandbox,
      'printf %s "$DOCKER_CONFIG" > "$1"',
      join(sandbox.probe, "dir"),
    );
    assert.equal(result.code, 0, result.stderr);
    const dir = await readFile(join(sandbox.probe, "dir"), "utf8");
    assert.ok(dir.startsWith(`${sandbox.tmp}/sauce-registry-`), dir);
    assert.deepEqual(await leftovers(sandbox), []);
  });

  it(
    "removes folders of processes that are gone (killed, or whose PID another has now), not a live one's",
    {
      timeout: 90_000,
    },
    async () => {
      const sandbox = await execSandbox();
      const started: ChildProcess[] = [];
      const commandPids: number[] = [];
      /** An exec whose command notes its folder and PID, then sleeps: returns the folder. */
      const startExec = async (name: string) => {
        const [program, ...first] = cliCommand();
        const child = spawn(program, [
          ...first,
          "exec",
          REGISTRY_URL,
          "--",
          "sh",
          "-c",
          'printf %s "$DOCKER_CONFIG" > "$1.dir"; echo $$ > "$1.tmp"; mv "$1.tmp" "$1.pid"; exec sleep 60',
          "sh",
          join(sandbox.probe, name),
        ], { env: sandbox.env, cwd: sandbox.dir, stdio: "ignore" });
        started.push(child);
        await waitUntil(
          `${name} to start`,
          30_000,
          () => exists(join(sandbox.probe, `${name}.pid`)),
        );
        commandPids.push(Number(await readFile(join(sandbox.probe, `${name}.pid`), "utf8")));
        return { child, dir: await readFile(join(sandbox.probe, `${name}.dir`), "utf8") };
      };
      try {
        const killed = await startExec("killed");
        const exited = new Promise((resolve) => killed.child.once("exit", resolve));
        killed.child.kill("SIGKILL");
        await exited;
        assert.ok(await exists(join(killed.dir, "config.json")), "SIGKILL left no token behind?");
        // The folder is named after its owner: the PID, then what tells it from a later process
        // (the boot and the start time) and from a process of another PID namespace.
        const [, ownerPid, bootAndNamespace] =
          /^sauce-registry-tmp-(\d+)-([0-9a-f]{8}\.\d+)\.\d+-/.exec(basename(killed.dir)) ?? [];
        assert.equal(Number(ownerPid), killed.child.pid, basename(killed.dir));
        // A folder whose PID now belongs to a live process (this one) that started at another time.
        const reused = join(
          sandbox.privateDir,
          `sauce-registry-tmp-${process.pid}-${bootAndNamespace}.1-xYz123`,
        );
        await mkdir(reused, { mode: 0o700 });
        await writeFile(join(reused, "config.json"), "{}", { mode: 0o600 });
        // Both were left over a minute ago: a sweep spares anything changed more recently.
        const old = new Date(Date.now() - 5 * 60_000);
        for (const folder of [killed.dir, reused]) await utimes(folder, old, old);

        const live = await startExec("live");
        const next = await cli(sandbox, ["exec", REGISTRY_URL, "--", "true"]);
        assert.equal(next.code, 0, next.stderr);
        assert.equal(await exists(killed.dir), false, "the killed exec's folder is still there");
        assert.equal(await exists(reused), false, "the folder of a reused PID is still there");
        assert.ok(await exists(join(live.dir, "config.json")), "a live exec lost its folder");

        const ended = new Promise((resolve) => live.child.once("exit", resolve));
        live.child.kill("SIGTERM");
        await ended;
        assert.deepEqual(await leftovers(sandbox), []);
      } finally {
        for (const child of started) child.kill("SIGKILL");
        for (const pid of commandPids) if (await isAlive(pid)) process.kill(pid, "SIGKILL");
      }
    },
  );

  for (
    const [what, ending, code] of [
      ["the command's exit code", "exit 7", 7],
      ["a signal's exit code when the command is killed", "kill -TERM $$; sleep 5", 143],
    ] as const
  ) {
    it(`passes on ${what} (${code}) and removes the folder`, async () => {
      const sandbox = await execSandbox();
      const result = await execShell(
        sandbox,
        `printf %s "$DOCKER_CONFIG" > "$1"; ${ending}`,
        join(sandbox.probe, "dir"),
      );
      assert.equal(result.code, code, result.stderr);
      const dir = await readFile(join(sandbox.probe, "dir"), "utf8");
      assert.ok(dir.startsWith(`${sandbox.privateDir}/`), dir);
      assert.equal(await exists(dir), false);
      assert.deepEqual(await leftovers(sandbox), []);
      scanner.checkResult(`exec, ${ending}`, result);
    });
  }

  it("runs nothing and leaves nothing when Sauce refuses the credentials", async () => {
    const sandbox = await execSandbox();
    sandbox.env.SAUCE_ACCESS_KEY = "not-alices-key-4242";
    scanner.add("not-alices-key-4242");
    const marker = join(sandbox.probe, "ran");
    const result = await cli(sandbox, ["exec", REGISTRY_URL, "--", "touch", marker]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /401/);
    assert.equal(await exists(marker), false);
    assert.deepEqual(await leftovers(sandbox), []);
    scanner.checkResult("refused exec", result);
  });

  // sauce-registry passes a termination signal on to the command, waits for it, removes the
  // folder and exits with the command's own code: 128 + n when the signal ended it, or whatever
  // the command chose when it handled the signal itself.
  const signalCases = [
    { signal: "SIGTERM", code: 143, trap: "", command: "exec sleep 60", what: "ends the command" },
    { signal: "SIGINT", code: 130, trap: "", command: "exec sleep 60", what: "ends the command" },
    { signal: "SIGHUP", code: 129, trap: "", command: "exec sleep 60", what: "ends the command" },
    {
      signal: "SIGTERM",
      code: 0,
      // Set before the pid file appears, so the signal cannot arrive before the trap.
      trap: "trap 'exit 0' TERM; ",
      command: "sleep 60 & wait",
      what: "lets a command that handles it exit 0",
    },
  ] as const;
  for (const { signal, code, trap, command, what } of signalCases) {
    it(`${what} when sent ${signal}, removes the folder and exits ${code}`, {
      timeout: 60_000,
    }, async () => {
      const sandbox = await execSandbox();
      const pidFile = join(sandbox.probe, "pid");
      const [program, ...first] = cliCommand();
      const child = spawn(program, [
        ...first,
        "exec",
        REGISTRY_URL,
        "--",
        "sh",
        "-c",
        `${trap}printf %s "$DOCKER_CONFIG" > "$1"; echo $$ > "$2.tmp"; mv "$2.tmp" "$2"; ${command}`,
        "sh",
        join(sandbox.probe, "dir"),
        pidFile,
      ], { env: sandbox.env, cwd: sandbox.dir, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.once(
          "exit",
          (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }),
        )
      );
      let commandPid = 0;
      try {
        await waitUntil("the command to start", 30_000, () => exists(pidFile));
        commandPid = Number((await readFile(pidFile, "utf8")).trim());
        const dir = await readFile(join(sandbox.probe, "dir"), "utf8");
        assert.ok(await exists(dir), "the folder exists while the command runs");
        const sent = Date.now();
        // process.kill, not child.kill: Deno's node:child_process reports a child it signalled
        // itself as killed by that signal, whatever the child's real exit status was.
        process.kill(child.pid!, signal);
        const status = await Promise.race([
          exited,
          sleep(15_000).then(() => ({ code: -1, signal: "still running after 15 s" })),
        ]);
        assert.deepEqual(status, { code, signal: null }, stderr);
        assert.ok(Date.now() - sent < 10_000);
        assert.equal(await exists(dir), false, "the folder is gone");
        assert.deepEqual(await leftovers(sandbox), []);
        await waitUntil("the command to be gone", 5_000, async () => !(await isAlive(commandPid)));
      } finally {
        child.kill("SIGKILL");
        if (commandPid && await isAlive(commandPid)) process.kill(commandPid, "SIGKILL");
      }
    });
  }

  it("runs a real skopeo push with the temporary auth, no password in its argv", {
    timeout: 120_000,
  }, async () => {
    const { host } = await suite.services.registry();
    const sandbox = await execSandbox();
    const shim = await makeArgvRecorderShim(sandbox.bin, "skopeo", requireTool("skopeo"));
    const issued = suite.standIn.issued.length;
    const result = await cli(sandbox, [
      "exec",
      `${host}/team`,
      "--",
      "skopeo",
      "copy",
      "--dest-tls-verify=false",
      suite.image,
      `docker://${host}/team/app:exec`,
    ]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    issuedSince(issued);
    assert.ok(await inRegistry(`${host}/team/app:exec`), "the image is in the registry");
    const calls = await readShimCalls(shim.log);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].env.REGISTRY_AUTH_FILE, join(calls[0].env.DOCKER_CONFIG, "config.json"));
    scanner.check("skopeo argv", calls[0].argv.join(" "));
    scanner.checkResult("exec skopeo", result);
    assert.deepEqual(await leftovers(sandbox), []);
  });

  it("pushes a loaded image with real dockerd, no password in docker's argv", {
    timeout: 180_000,
  }, async () => {
    const { host } = await suite.services.registry();
    const { host: dockerHost } = await suite.services.dockerd();
    const sandbox = await execSandbox();
    sandbox.env.DOCKER_HOST = dockerHost;
    const reference = `${host}/team/app:pushed`;
    await loadIntoDocker(suite.image, reference, sandbox.env);
    const shim = await makeArgvRecorderShim(sandbox.bin, "docker", requireTool("docker"));
    const issued = suite.standIn.issued.length;
    const result = await cli(sandbox, ["push", reference]);
    assert.equal(
      result.code,
      0,
      `${result.stdout}\n${result.stderr}\n${(await suite.services.dockerd()).logs().slice(-2000)}`,
    );
    const [password] = issuedSince(issued);
    assert.ok(password, "a token was fetched");
    assert.deepEqual(JSON.parse(suite.standIn.requests.at(-1)!.body), {
      registry_url: `${host}/team`,
    });
    assert.ok(await inRegistry(reference), "the image is in the registry");

    const calls = await readShimCalls(shim.log);
    assert.equal(calls.length, 1);
    assertNoPasswordInEnvironment("docker", calls[0].env);
    const [configFlag, configDir, ...rest] = calls[0].args;
    assert.equal(configFlag, "--config");
    assert.deepEqual(rest, ["push", reference]);
    assert.ok(configDir.startsWith(`${sandbox.privateDir}/`), configDir);
    assert.equal(await exists(configDir), false, "the temporary config is gone");
    assert.equal(await exists(sandbox.env.DOCKER_CONFIG), false, "the user's config is untouched");
    scanner.check("docker argv", calls[0].argv.join(" "));
    scanner.checkResult("push", result);
    await scanner.checkTree(sandbox.dir);
  });

  it("pushes with real podman through --authfile, no password in podman's argv", {
    timeout: 180_000,
  }, async () => {
    const { host } = await suite.services.registry();
    const sandbox = await execSandbox();
    const storageConf = await privateContainersStorage(join(sandbox.dir, "storage"));
    sandbox.env.CONTAINERS_STORAGE_CONF = storageConf;
    const reference = `${host}/team/app:podman`;
    const copied = await run(requireTool("skopeo"), [
      "copy",
      suite.image,
      `containers-storage:${reference}`,
    ], { env: { CONTAINERS_STORAGE_CONF: storageConf }, timeoutMs: 120_000 });
    assert.equal(copied.code, 0, copied.stderr);
    const shim = await makeArgvRecorderShim(sandbox.bin, "podman", requireTool("podman"));
    const issued = suite.standIn.issued.length;
    const result = await cli(sandbox, [
      "push",
      reference,
      "--tool",
      "podman",
      "--tool-arg=--tls-verify=false",
    ]);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    const [password] = issuedSince(issued);
    assert.ok(password, "a token was fetched");
    assert.ok(await inRegistry(reference), "the image is in the registry");
    const calls = await readShimCalls(shim.log);
    assert.equal(calls.length, 1);
    assertNoPasswordInEnvironment("podman", calls[0].env);
    const [verb, authFlag, authFile, ...rest] = calls[0].args;
    assert.deepEqual([verb, authFlag], ["push", "--authfile"]);
    assert.ok(authFile.startsWith(`${sandbox.privateDir}/`), authFile);
    assert.deepEqual(rest, ["--tls-verify=false", reference]);
    assert.equal(await exists(authFile), false, "the temporary auth file is gone");
    scanner.check("podman argv", calls[0].argv.join(" "));
    scanner.checkResult("podman push", result);
  });

  it("passes on docker's exit code when the push fails", { timeout: 120_000 }, async () => {
    const { host } = await suite.services.registry();
    const { host: dockerHost } = await suite.services.dockerd();
    const sandbox = await execSandbox();
    sandbox.env.DOCKER_HOST = dockerHost;
    const missing = await cli(sandbox, ["push", `${host}/team/nothing-here:1`]);
    const direct = await run(requireTool("docker"), ["push", `${host}/team/nothing-here:1`], {
      env: { ...sandbox.env, DOCKER_CONFIG: join(sandbox.probe, "empty") },
    });
    assert.notEqual(direct.code, 0);
    assert.equal(missing.code, direct.code, missing.stderr);
    assert.match(missing.stderr, /does not exist|no such image/i);
    scanner.checkResult("failed push", missing);

    // A tool exit code that cannot be confused with sauce-registry's own.
    const fake = await makeArgvRecorderShim(sandbox.bin, "docker", null, {
      stdout: "",
      stderr: "denied: requested access to the resource is denied\n",
      exitCode: 42,
    });
    const issued = suite.standIn.issued.length;
    const denied = await cli(sandbox, ["push", `${HOST}/team/app:1`]);
    assert.equal(denied.code, 42, denied.stderr);
    assert.match(denied.stderr, /requested access to the resource is denied/);
    const passwords = issuedSince(issued);
    assert.equal(passwords.length, 1);
    const [call] = await readShimCalls(fake.log);
    scanner.check("fake docker argv and stdin", call.argv.join(" "), call.stdin);
    assert.deepEqual(await leftovers(sandbox), []);
  });
});

// What exec and push rely on when a timeout or Ctrl-C comes between the token fetch and the
// command's start: the runtime's spawn must not start a command for an operation already
// stopped, nor lose a signal that comes while it starts one.
describe("spawn, as exec and push use it", () => {
  const temp = useTempDir("spawn-test-");

  it("does not start the program when the operation was aborted already", async () => {
    const marker = join(temp.path, "aborted-ran");
    const controller = new AbortController();
    controller.abort(new TimeoutError("Timed out after 1 s (--timeout)"));
    await assert.rejects(
      spawnTool("sh", ["-c", 'touch "$1"', "sh", marker], {
        signal: controller.signal,
        inheritStdio: true,
        forwardSignals: true,
      }),
      (error: unknown) => error instanceof TimeoutError,
    );
    await sleep(300);
    assert.equal(await exists(marker), false, "the program ran after the abort");
  });

  it("passes on a termination signal that comes while it starts the program", {
    timeout: 30_000,
  }, async () => {
    const marker = join(temp.path, "signalled-finished");
    const running = spawnTool("sh", ["-c", 'sleep 10; touch "$1"', "sh", marker], {
      inheritStdio: true,
      forwardSignals: true,
    });
    // The earliest a signal can arrive: before spawn's first await resumes. Bun hands a signal
    // to process listeners through process.emit, so emitting it here is that arrival; on Deno,
    // whose signal listeners emit does not reach, a real signal to this process stands in.
    if ("Bun" in globalThis) {
      (process as unknown as { emit(event: string): boolean }).emit("SIGTERM");
    } else {
      process.kill(process.pid, "SIGTERM");
    }
    const result = await running;
    assert.equal(result.code, 143, "the signal did not reach the program");
    assert.equal(await exists(marker), false, "the program ran to its end");
  });
});
