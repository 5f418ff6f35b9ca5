// The one sweep of what killed processes leave (src/files.ts, sweepLeftovers): private folders of
// `exec` and `push`, temporaries of atomic writes. An entry is named after its owner (PID, boot,
// PID namespace, start time) and goes only when both guards agree: its owner is gone as this
// namespace's /proc tells, and it was last changed over a minute ago. Then the case the naming
// is for: two real `exec` runs sharing TMPDIR or XDG_RUNTIME_DIR, one of them in a PID namespace
// of its own (a container with `-v /tmp:/tmp`), must not delete each other's live folder.
//
// Runs unchanged under `deno test -A` and `bun test` (as root: `unshare --pid` needs it).

import { type ChildProcess, spawn } from "node:child_process";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
import { basename, join } from "node:path";
import process from "node:process";
import { after, assert, before, describe, it } from "./deps.ts";
import { useTempDir } from "./fixtures/suite.ts";
import { goneProcess, startTimeOf } from "./fixtures/processes.ts";
import { exists, waitUntil } from "./fixtures/common.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { run } from "./fixtures/services.ts";
import { cliCommand, makeSandbox, type Sandbox } from "./fixtures/harness.ts";
import { LEFTOVER_AGE_MS, makePrivateFolder, sweepLeftovers } from "../src/files.ts";

/** What names this process's entries, read from /proc here, not from the code under test. */
async function thisBootAndNamespace(): Promise<{ boot: string; namespace: string }> {
  const bootId = await readFile("/proc/sys/kernel/random/boot_id", "utf8");
  const link = await readlink("/proc/self/ns/pid"); // pid:[4026531836]
  return { boot: bootId.trim().replaceAll("-", "").slice(0, 8), namespace: /\d+/.exec(link)![0] };
}

describe("sweepLeftovers", () => {
  const temp = useTempDir("sweep-test-");

  it("removes what a gone owner of this namespace left over a minute ago, and nothing else", async () => {
    const { boot, namespace } = await thisBootAndNamespace();
    const gone = await goneProcess();
    const self = { pid: process.pid, startTime: await startTimeOf(process.pid) };
    const owner = (who: { pid: number; startTime: string }, b = boot, ns = namespace) =>
      `${who.pid}-${b}.${ns}.${who.startTime}`;
    const otherBoot = boot === "00000000" ? "11111111" : "00000000";
    const otherNamespace = String(Number(namespace) + 1);
    const cases: Record<string, { name: string; removed: boolean; recent?: boolean }> = {
      // Removed: the owner is gone, or its PID names another process now; both long ago.
      gone: { name: owner(gone), removed: true },
      reusedPid: { name: owner({ pid: self.pid, startTime: "1" }), removed: true },
      // Kept: gone, but changed moments ago.
      recent: { name: owner(gone), removed: false, recent: true },
      // Kept: an owner this namespace's /proc cannot judge (its PID is gone here).
      otherNamespace: { name: owner(gone, boot, otherNamespace), removed: false },
      otherBoot: { name: owner(gone, otherBoot), removed: false },
      // Kept: the owner still runs.
      live: { name: owner(self), removed: false },
      // Kept: named before the namespace was in the name (PID-BOOT.START), or without /proc.
      oldFormat: { name: `${gone.pid}-${boot}.${gone.startTime}`, removed: false },
      unknownOwner: { name: "12-34-unknown", removed: false },
    };
    const old = new Date(Date.now() - LEFTOVER_AGE_MS - 5 * 60_000);
    const made: Record<string, { folder: string; temporary: string }> = {};
    for (const [which, { name, recent }] of Object.entries(cases)) {
      // A private folder holding a Docker config, and a temporary of config.json's atomic write.
      const folder = join(temp.path, `sauce-registry-tmp-${name}-${which}`);
      await mkdir(folder, { mode: 0o700 });
      await writeFile(join(folder, "config.json"), "{}", { mode: 0o600 });
      const temporary = join(temp.path, `config.json.tmp-${name}-${which.length}-7`);
      await writeFile(temporary, "{}", { mode: 0o600 });
      if (!recent) {
        await utimes(folder, old, old);
        await utimes(temporary, old, old);
      }
      made[which] = { folder, temporary };
    }
    // Other names in the same folder: not this sweep's.
    const strangers = [`other-tmp-${owner(gone)}-x`, `registries.json.tmp-${owner(gone)}-1-2`];
    for (const name of strangers) {
      await writeFile(join(temp.path, name), "{}");
      await utimes(join(temp.path, name), old, old);
    }

    await sweepLeftovers(temp.path, "sauce-registry-tmp-");
    await sweepLeftovers(temp.path, "config.json.tmp-");

    for (const [which, { removed }] of Object.entries(cases)) {
      for (const path of Object.values(made[which])) {
        assert.equal(!(await exists(path)), removed, `${which}: ${basename(path)}`);
      }
    }
    for (const name of strangers) assert.ok(await exists(join(temp.path, name)), name);
  });

  it("names a private folder after this process, its boot and its PID namespace", async () => {
    const { boot, namespace } = await thisBootAndNamespace();
    const saved = process.env.XDG_RUNTIME_DIR;
    const runtimeDir = await mkdtemp(join(temp.path, "run-"));
    process.env.XDG_RUNTIME_DIR = runtimeDir;
    try {
      const folder = await makePrivateFolder();
      const owner = `${process.pid}-${boot}.${namespace}.${await startTimeOf(process.pid)}`;
      assert.equal(join(runtimeDir, "sauce-registry"), join(folder, ".."));
      assert.ok(basename(folder).startsWith(`sauce-registry-tmp-${owner}-`), basename(folder));
      assert.equal((await stat(folder)).mode & 0o777, 0o700);
    } finally {
      if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
      else process.env.XDG_RUNTIME_DIR = saved;
    }
  });
});

describe("exec in two PID namespaces sharing a temporary folder", () => {
  const REGISTRY_URL = "registry.example.com/your-private-registry";
  let standIn: StandIn;
  const sandboxes: Sandbox[] = [];

  before(async () => {
    standIn = await startStandIn();
  });
  after(async () => {
    await standIn.close();
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
  });

  /** The CLI's argv, in a PID namespace of its own (with its own /proc) when `contained`. */
  function command(contained: boolean, args: string[]): string[] {
    const cli = [...cliCommand(), ...args];
    return contained ? ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", ...cli] : cli;
  }

  const shares = ["TMPDIR", "XDG_RUNTIME_DIR"] as const;
  for (const shared of shares) {
    for (const firstContained of [true, false]) {
      const where = (contained: boolean) => contained ? "in a PID namespace" : "outside";
      it(
        `keeps a live exec's folder in ${shared}: the first ${where(firstContained)}, the next ${
          where(!firstContained)
        }`,
        { timeout: 90_000 },
        async () => {
          const sandbox = await makeSandbox({
            SAUCE_USERNAME: "alice",
            SAUCE_ACCESS_KEY: DEFAULT_USERS.alice,
            SAUCE_API_URL: standIn.url,
          });
          sandboxes.push(sandbox);
          const tmp = join(sandbox.dir, "tmp");
          await mkdir(tmp);
          sandbox.env.TMPDIR = tmp;
          if (shared === "XDG_RUNTIME_DIR") {
            const runtimeDir = join(sandbox.dir, "run");
            await mkdir(runtimeDir, { mode: 0o700 });
            sandbox.env.XDG_RUNTIME_DIR = runtimeDir;
          }
          const probe = join(sandbox.dir, "probe");
          await mkdir(probe);
          // The first command notes its DOCKER_CONFIG and makes the folder look an hour old (a
          // long push), so that only the owner's namespace can spare it; it waits for the next
          // run to finish, then says whether its folder is still whole.
          const script = [
            'printf %s "$DOCKER_CONFIG" > "$1/dir"',
            'touch -d "@$(($(date +%s) - 3600))" "$DOCKER_CONFIG"',
            ': > "$1/ready"',
            'i=0; while [ ! -e "$1/go" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done',
            'test -f "$DOCKER_CONFIG/config.json"',
          ].join("; ");
          const [program, ...args] = command(firstContained, [
            "exec",
            REGISTRY_URL,
            "--",
            "sh",
            "-c",
            script,
            "sh",
            probe,
          ]);
          const first: ChildProcess = spawn(program, args, {
            env: sandbox.env,
            cwd: sandbox.dir,
            stdio: ["ignore", "ignore", "pipe"],
          });
          let firstStderr = "";
          first.stderr?.setEncoding("utf8").on("data", (chunk: string) => (firstStderr += chunk));
          const firstExit = new Promise<number | null>((resolve) => first.once("exit", resolve));
          try {
            await waitUntil("the first exec's command", 30_000, () => exists(join(probe, "ready")));
            const folder = await readFile(join(probe, "dir"), "utf8");
            const parent = shared === "TMPDIR" ? tmp : join(sandbox.dir, "run", "sauce-registry");
            assert.equal(join(folder, ".."), parent, "the folder is in the shared place");

            const [nextProgram, ...nextArgs] = command(!firstContained, [
              "exec",
              REGISTRY_URL,
              "--",
              "true",
            ]);
            const next = await run(nextProgram, nextArgs, {
              env: sandbox.env,
              inheritEnv: false,
              cwd: sandbox.dir,
              timeoutMs: 60_000,
            });
            assert.equal(next.code, 0, next.stderr);
            assert.ok(await exists(join(folder, "config.json")), "the next run deleted the folder");
            await writeFile(join(probe, "go"), "");
            assert.equal(
              await firstExit,
              0,
              `the first exec's command lost its folder: ${firstStderr}`,
            );
            assert.deepEqual(await readdir(parent), [], "each run removed its own folder");
          } finally {
            first.kill("SIGKILL");
          }
        },
      );
    }
  }
});
