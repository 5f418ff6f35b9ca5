// The cross-process lock (src/lock.ts): a holder killed in this PID namespace is known gone at
// once, by the identity its lock records; and the order in which holders take the lock when the
// age ceiling breaks a live holder's. The ceiling is an option of holdLock, so that what the real
// two minutes would take minutes to show is seen with a ceiling of 1.5 s. Then the lock between
// credential-helper processes: when a waiter breaks a holder's lock (gone, killed, a zombie, a
// reused PID, another PID namespace, too old, unreadable) and when it must not (a live holder, a
// breaker at work), also under the Deno wrapper's permissions, where /proc is closed.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, readlink, stat, utimes, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { listing, shellQuote, sleep, waitUntil } from "./fixtures/common.ts";
import { goneProcess, startTimeOf } from "./fixtures/processes.ts";
import { run } from "./fixtures/services.ts";
import {
  cacheDir,
  CLI,
  cliCommand,
  type CliResult,
  runCli,
  type Sandbox,
} from "./fixtures/harness.ts";
import { helper, HOST, parseAnswer } from "./fixtures/helper.ts";
import { useStandIn, useTempDir } from "./fixtures/suite.ts";
import { holdLock } from "../src/lock.ts";
import { DENO_HELPER_FLAGS } from "../src/install_helper.ts";

/** When a holder took the lock and when it let it go (ms since the epoch). */
interface Turn {
  took: number;
  left: number;
}

describe("holdLock", () => {
  const temp = useTempDir("lock-test-");

  it("counts a lock's age from when its holder took it, not from when it began to wait", {
    timeout: 30_000,
  }, async () => {
    // A ceiling well above the 15-30 ms poll; every holder here is this live process, so only
    // the ceiling can break a lock (the 1 s heartbeat keeps each time stamp fresh meanwhile).
    const ceiling = 1_500;
    const lockPath = join(temp.path, "ordering.lock");
    const turns: Record<string, Turn> = {};
    let aTookIt: () => void = () => {};
    const aHasIt = new Promise<void>((resolve) => aTookIt = resolve);
    const hold = (who: string, workMs: number) =>
      holdLock(lockPath, async () => {
        const took = Date.now();
        if (who === "A") aTookIt();
        await sleep(workMs);
        turns[who] = { took, left: Date.now() };
      }, { maxAgeMs: ceiling });

    // A hangs past the ceiling; B waits from the start, C from 300 ms later. Whichever of them
    // takes the lock when A's is broken holds it for two thirds of the ceiling: the other must
    // wait for it to let go, however long it had been waiting itself.
    const a = hold("A", 4_000);
    await aHasIt;
    const b = hold("B", 1_000);
    await sleep(300);
    const c = hold("C", 1_000);
    await Promise.all([a, b, c]);

    const { A, B, C } = turns;
    const since = (turn: Turn) => `took ${turn.took - A.took} ms, left ${turn.left - A.took} ms`;
    const timeline = `A ${since(A)}; B ${since(B)}; C ${since(C)} (after A took it)`;
    const [first, second] = B.took < C.took ? [B, C] : [C, B];
    // A stamps its lock a moment before its work starts.
    assert.ok(first.took - A.took >= ceiling - 100, `A's lock broken too soon: ${timeline}`);
    assert.ok(first.took < A.left, `A's lock was not broken at the ceiling: ${timeline}`);
    assert.ok(second.took >= first.left, `a lock held for less than the ceiling: ${timeline}`);
    assert.deepEqual(await readdir(temp.path), [], "no lock or breaker left");
  });

  it("breaks at once the lock of a holder SIGKILLed in this PID namespace", {
    timeout: 30_000,
  }, async () => {
    const lockPath = join(temp.path, "killed.lock");
    const script = join(temp.path, "holder.ts");
    const lockModule = new URL("../src/lock.ts", import.meta.url).href;
    await writeFile(
      script,
      `import { holdLock } from ${JSON.stringify(lockModule)};\n` +
        `await holdLock(${JSON.stringify(lockPath)}, () => {\n` +
        `  console.log("held");\n` +
        `  return new Promise(() => {});\n` +
        `});\n`,
    );
    // The runtime that runs this test, as it runs the CLI, with the script instead.
    const [program, ...args] = [...cliCommand().slice(0, -1), script];
    const holder = spawn(program, args, { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.setEncoding("utf8").on("data", (text: string) => {
          if (text.includes("held")) resolve();
        });
        holder.once("exit", () => reject(new Error("the holder ended before it held the lock")));
      });
    } finally {
      holder.kill("SIGKILL");
      await exited;
    }
    // Its time stamp is at most a heartbeat (1 s) old: judged by it alone, the lock would be kept
    // for 4 s more. Its identity says the holder is gone.
    const started = Date.now();
    await holdLock(lockPath, () => Promise.resolve());
    const waited = Date.now() - started;
    assert.ok(waited < 1_000, `waited ${waited} ms behind a killed holder`);
    const locks = (await readdir(temp.path)).filter((name) => name.endsWith(".lock"));
    assert.deepEqual(locks, [], "the lock was released");
  });
});

function spawnCli(sandbox: Sandbox, args: string[], stdin: string): ChildProcess {
  const [program, ...first] = cliCommand();
  const child = spawn(program, [...first, ...args], {
    env: sandbox.env,
    cwd: sandbox.dir,
    stdio: ["pipe", "ignore", "ignore"],
  });
  child.stdin?.on("error", () => {});
  child.stdin?.end(stdin);
  return child;
}

describe("the cache lock, between credential-helper processes", () => {
  const suite = useStandIn();

  /**
   * Wait (at most `boundMs`) until a holder has asked for a token (more than `before` requests)
   * and holds the cache's lock in `dir`, run `whileHeld`, then SIGKILL the holder and wait for it.
   */
  async function killHolderOnceLocked(
    holder: ChildProcess,
    dir: string,
    before: number,
    boundMs: number,
    whileHeld: () => Promise<void> = () => Promise.resolve(),
  ): Promise<void> {
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    try {
      await waitUntil(
        "the holder's token request and lock",
        boundMs,
        async () =>
          suite.standIn.tokenRequestCount() > before &&
          (await listing(dir).catch(() => [])).some((entry) => entry.endsWith(".lock")),
      );
      await whileHeld();
    } finally {
      holder.kill("SIGKILL");
      await exited;
    }
  }

  /**
   * A lock as a holder that has the given identity writes it (see withFileLock in mod.ts), over
   * an unusable cache entry so that the next get must take the lock.
   */
  async function plantLock(sandbox: Sandbox, holder: Record<string, unknown>): Promise<string> {
    parseAnswer(await helper(sandbox, ["get"], HOST));
    const [name] = await listing(cacheDir(sandbox));
    const file = join(cacheDir(sandbox), name);
    const lock = {
      bootId: (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim(),
      pidNamespace: await readlink("/proc/self/ns/pid"),
      created: Date.now(),
      nonce: "planted",
      ...holder,
    };
    await writeFile(`${file}.lock`, JSON.stringify(lock), { mode: 0o600 });
    await writeFile(file, "{}");
    return file;
  }

  /**
   * A get that gives up after 20 s, with room for a slow start on a loaded machine: behind a lock
   * that {@linkcode whileLockLooksLive} renews, a lock it wrongly keeps makes it fail (no time
   * stamp goes stale, and the 2-minute age limit is far off).
   */
  async function impatientGet(sandbox: Sandbox): Promise<CliResult> {
    return await runCli(["credential-helper", "get"], {
      env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "20" },
      stdin: HOST,
      cwd: sandbox.dir,
    });
  }

  /**
   * Run `work` while the lock at `lockPath` looks held: its time stamp renewed every 250 ms (a
   * live holder renews it every second), so it never goes stale (5 s) and a waiter can only break
   * it by checking its holder, or by its age. No wall clock then judges how soon a lock is broken.
   */
  async function whileLockLooksLive<T>(lockPath: string, work: () => Promise<T>): Promise<T> {
    const renew = setInterval(() => {
      const now = new Date();
      utimes(lockPath, now, now).catch(() => {}); // gone once broken: nothing left to renew
    }, 250);
    try {
      return await work();
    } finally {
      clearInterval(renew);
    }
  }

  /** `credential-helper get` with the permissions of install-helper's Deno wrapper (no /proc). */
  function denoWrapperCommand(): string[] {
    return ["deno", "run", ...DENO_HELPER_FLAGS, CLI, "credential-helper", "get"];
  }

  it("breaks a dead holder's lock at once, by its PID, however fresh its time stamp", {
    timeout: 60_000,
  }, async () => {
    // The lock as a holder writes it (pid, start time, boot id, PID namespace), of a process that
    // is gone, its time stamp kept fresh: only the check of its holder can break it in time.
    const sandbox = await suite.configured();
    const file = await plantLock(sandbox, await goneProcess());
    const before = suite.standIn.tokenRequestCount();
    const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
    const answer = parseAnswer(result);
    assert.equal(suite.standIn.tokenRequestCount(), before + 1);
    assert.equal(answer.Secret, suite.standIn.issued.at(-1)!.password);
    assert.deepEqual(await listing(cacheDir(sandbox)), [basename(file)], "no lock left behind");
  });

  it("breaks a lock whose holder it cannot check once its time stamp is 5 s old", {
    timeout: 60_000,
  }, async () => {
    // Judged by the time stamp alone: a lock of an earlier version (its text is not this
    // version's JSON), and one taken on another machine sharing the folder (another boot id).
    const gone = await goneProcess();
    const locks: [string, (lock: string) => Promise<void>][] = [
      ["an earlier version's lock", async (lock) => {
        await writeFile(lock, `${gone.pid} ${Date.now()} x`, { mode: 0o600 });
      }],
      ["another machine's lock", async (lock) => {
        const holder = JSON.parse(await readFile(lock, "utf8"));
        holder.bootId = "00000000-0000-4000-8000-000000000000";
        await writeFile(lock, JSON.stringify(holder), { mode: 0o600 });
      }],
    ];
    await Promise.all(locks.map(async ([what, rewrite]) => {
      const sandbox = await suite.configured();
      const file = await plantLock(sandbox, gone);
      await rewrite(`${file}.lock`);
      const planted = (await stat(`${file}.lock`)).mtimeMs;
      const result = await runCli(["credential-helper", "get"], {
        env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "30" },
        stdin: HOST,
        cwd: sandbox.dir,
      });
      const brokenAfter = Date.now() - planted;
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      // Not before: its holder might still be at work. Then without waiting for the 2-minute age
      // limit: 15 s more than the 5 s leave room for two gets at once on a loaded machine.
      assert.ok(brokenAfter > 5_000, `${what}: broken ${brokenAfter} ms after its time stamp`);
      assert.ok(brokenAfter < 20_000, `${what}: broken ${brokenAfter} ms after its time stamp`);
      assert.deepEqual(await listing(cacheDir(sandbox)), [basename(file)], `${what}: lock left`);
    }));
  });

  it("still makes one token request when 32 concurrent gets find a dead holder's lock", {
    timeout: 120_000,
  }, async () => {
    // Twice: when several waiters break the same dead lock at once, the race shows most times.
    for (let round = 0; round < 2; round++) {
      const sandbox = await suite.configured();
      const cacheFile = await plantLock(sandbox, await goneProcess());
      const name = basename(cacheFile);
      const before = suite.standIn.tokenRequestCount();
      suite.standIn.fault({ delayMs: 300 });
      const results = await Promise.all(
        Array.from({ length: 32 }, () => helper(sandbox, ["get"], HOST)),
      );
      const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
      assert.equal(
        suite.standIn.tokenRequestCount() - before,
        1,
        `round ${round}: one token request`,
      );
      assert.equal(secrets.size, 1);
      assert.deepEqual(await listing(cacheDir(sandbox)), [name], "no lock left behind");
    }
  });

  it("does not block behind a helper that was SIGKILLed while holding the lock", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await suite.configured();
    const dir = cacheDir(sandbox);
    const before = suite.standIn.tokenRequestCount();
    suite.standIn.fault({ delayMs: 30_000 });
    const holder = spawnCli(sandbox, ["credential-helper", "get"], HOST);
    await killHolderOnceLocked(holder, dir, before, 20_000);
    // Its lock's time stamp kept fresh, as if the holder still ran: only the check of the holder
    // (gone) can break the lock before the get gives up.
    const [lock] = (await listing(dir)).filter((entry) => entry.endsWith(".lock"));
    const answer = parseAnswer(
      await whileLockLooksLive(join(dir, lock), () => impatientGet(sandbox)),
    );
    assert.equal(suite.standIn.tokenRequestCount(), before + 2, "the killed holder's, then ours");
    assert.equal(answer.Secret, suite.standIn.issued.at(-1)!.password);
    assert.ok(!(await listing(dir)).some((entry) => entry.endsWith(".lock")), "lock released");
  });

  it("breaks the lock of a holder that lives but stopped beating (SIGSTOP, Ctrl-Z)", {
    timeout: 120_000,
  }, async () => {
    const sandbox = await suite.configured();
    const dir = cacheDir(sandbox);
    const before = suite.standIn.tokenRequestCount();
    suite.standIn.fault({ delayMs: 30_000 });
    // The helper runs under a shell that waits for it, and is the one stopped: Deno's
    // child_process never reports the exit of a child of its own that was once stopped.
    const pidFile = join(sandbox.dir, "holder.pid");
    const get = [...cliCommand(), "credential-helper", "get"].map(shellQuote).join(" ");
    const holder = spawn("sh", [
      "-c",
      `printf %s ${shellQuote(HOST)} | ${get} & echo $! > ${shellQuote(pidFile)}; wait`,
    ], { env: sandbox.env, cwd: sandbox.dir, stdio: "ignore" });
    let waiter: CliResult | undefined;
    await killHolderOnceLocked(holder, dir, before, 20_000, async () => {
      const pid = Number(await readFile(pidFile, "utf8"));
      process.kill(pid, "SIGSTOP");
      try {
        // /proc shows the holder alive; its lock's time stamp stops. The waiter's limit leaves
        // room over the 15 s a silent live holder is given, far below the 2-minute age limit.
        waiter = await runCli(["credential-helper", "get"], {
          env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "50" },
          stdin: HOST,
          cwd: sandbox.dir,
          timeoutMs: 70_000,
        });
      } finally {
        process.kill(pid, "SIGKILL");
      }
    });
    assert.equal(waiter?.code, 0, `a stopped holder kept its lock: ${waiter?.stderr}`);
    assert.equal(suite.standIn.tokenRequestCount(), before + 2, "the stopped holder's, then ours");
    assert.equal(parseAnswer(waiter!).Secret, suite.standIn.issued.at(-1)!.password);
  });

  it("breaks a lock whose PID now names another process (a reused PID)", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await suite.configured();
    const other = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      // The PID runs, but it started at another time than the lock's holder did.
      const startTime = String(Number(await startTimeOf(other.pid!)) - 1);
      const file = await plantLock(sandbox, { pid: other.pid, startTime });
      const before = suite.standIn.tokenRequestCount();
      const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
      assert.equal(result.code, 0, `a reused PID kept its lock: ${result.stderr}`);
      assert.equal(suite.standIn.tokenRequestCount(), before + 1);
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("breaks a lock whose holder is a zombie", { timeout: 60_000 }, async () => {
    const sandbox = await suite.configured();
    // The backgrounded sleep exits after the shell became `sleep 60`, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 1 & echo $!; exec sleep 60"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) =>
          parent.stdout!.once("data", (chunk) => resolve(String(chunk)))
        ),
      );
      await waitUntil("the zombie", 10_000, async () => {
        const stat = await readFile(`/proc/${zombie}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
      });
      const file = await plantLock(sandbox, { pid: zombie, startTime: await startTimeOf(zombie) });
      const before = suite.standIn.tokenRequestCount();
      const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
      assert.equal(result.code, 0, `a zombie kept its lock: ${result.stderr}`);
      assert.equal(suite.standIn.tokenRequestCount(), before + 1);
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("breaks a lock older than two minutes even when its holder lives", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await suite.configured();
    const holder = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const file = await plantLock(sandbox, {
        pid: holder.pid,
        startTime: await startTimeOf(holder.pid!),
        created: Date.now() - 3 * 60_000,
      });
      const before = suite.standIn.tokenRequestCount();
      const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
      assert.equal(result.code, 0, `a hung holder kept its lock: ${result.stderr}`);
      assert.equal(suite.standIn.tokenRequestCount(), before + 1);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("breaks the lock of a holder killed in another PID namespace, where its PID is alive", {
    timeout: 90_000,
  }, async () => {
    // Containers sharing a cache volume: each has its own PID 1. The holder runs as PID 1 of a
    // namespace of its own and is killed; the waiter runs where PID 1 is alive (its shell).
    const sandbox = await suite.configured();
    const dir = cacheDir(sandbox);
    const before = suite.standIn.tokenRequestCount();
    suite.standIn.fault({ delayMs: 30_000 });
    const [program, ...first] = cliCommand();
    const holder = spawn(
      "unshare",
      ["--pid", "--mount-proc", "--kill-child", program, ...first, "credential-helper", "get"],
      { env: sandbox.env, cwd: sandbox.dir, stdio: ["pipe", "ignore", "ignore"] },
    );
    holder.stdin?.on("error", () => {});
    holder.stdin?.end(HOST);
    let namespacePids = "";
    // unshare --kill-child takes its child along.
    await killHolderOnceLocked(holder, dir, before, 30_000, async () => {
      // unshare's child, as each PID namespace numbers it: the last number is its own.
      const [child] = (await readFile(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8"))
        .trim().split(" ");
      const status = await readFile(`/proc/${child}/status`, "utf8");
      namespacePids = /^NSpid:\s*(.*)$/m.exec(status)![1];
    });
    assert.match(namespacePids, /\s1$/, "the holder was PID 1 of its namespace");
    const quoted = [program, ...first, "credential-helper", "get"].map(shellQuote).join(" ");
    const waiter = await run(
      "unshare",
      ["--pid", "--fork", "--mount-proc", "sh", "-c", `${quoted}; exit $?`],
      {
        env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "30" },
        inheritEnv: false,
        stdin: HOST,
        cwd: sandbox.dir,
        timeoutMs: 60_000,
      },
    );
    const answer = parseAnswer(waiter);
    assert.equal(answer.Secret, suite.standIn.issued.at(-1)!.password);
    assert.equal(
      suite.standIn.tokenRequestCount(),
      before + 2,
      "the killed holder's request, then ours",
    );
  });

  it("breaks a killed holder's lock under the Deno wrapper's permissions, where /proc is closed", {
    timeout: 90_000,
  }, async () => {
    // install-helper's Deno wrapper runs without --allow-all, and Deno then refuses /proc: the
    // lock's time stamp, which a live holder renews every second, tells instead.
    const sandbox = await suite.configured();
    const dir = cacheDir(sandbox);
    const wrapper = denoWrapperCommand();
    const before = suite.standIn.tokenRequestCount();
    suite.standIn.fault({ delayMs: 30_000 });
    const holder = spawn(wrapper[0], wrapper.slice(1), {
      env: sandbox.env,
      cwd: sandbox.dir,
      stdio: ["pipe", "ignore", "ignore"],
    });
    holder.stdin?.on("error", () => {});
    holder.stdin?.end(HOST);
    await killHolderOnceLocked(holder, dir, before, 30_000);
    const waiter = await run(wrapper[0], wrapper.slice(1), {
      env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "30" },
      inheritEnv: false,
      stdin: HOST,
      cwd: sandbox.dir,
    });
    assert.equal(parseAnswer(waiter).Secret, suite.standIn.issued.at(-1)!.password);
    assert.equal(
      suite.standIn.tokenRequestCount(),
      before + 2,
      "the killed holder's request, then ours",
    );
    assert.ok(!(await listing(dir)).some((entry) => entry.endsWith(".lock")), "lock released");
  });

  it("keeps a live holder's lock under the Deno wrapper's permissions, by its heartbeat", {
    timeout: 90_000,
  }, async () => {
    // Without /proc, waiters judge a lock by its time stamp, stale after 5 s: a holder waiting 8 s
    // for the API renews it every second, so the 4 waiters reuse its token.
    const sandbox = await suite.configured();
    const before = suite.standIn.tokenRequestCount();
    suite.standIn.fault({ delayMs: 8_000 });
    const wrapper = denoWrapperCommand();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        run(wrapper[0], wrapper.slice(1), {
          env: sandbox.env,
          inheritEnv: false,
          stdin: HOST,
          cwd: sandbox.dir,
        })),
    );
    const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
    assert.equal(suite.standIn.tokenRequestCount() - before, 1, "exactly one token request");
    assert.equal(secrets.size, 1, "every process got the same token");
  });

  it("never breaks a dead holder's lock while another waiter is breaking it (.break)", {
    timeout: 90_000,
  }, async () => {
    // Deterministic: a breaker that stays busy (its .break renewed) keeps every other waiter from
    // breaking the same dead lock, so a get that may wait 4 s gives up without a request. Without
    // the guard, two waiters could each remove the lock, the second one the first one's new lock.
    const sandbox = await suite.configured();
    const dead = await run("sh", ["-c", "echo $$"]);
    const pid = Number(dead.stdout.trim());
    const file = await plantLock(sandbox, { pid, startTime: "1" });
    const breaker = `${file}.lock.break`;
    await writeFile(breaker, "busy breaker", { mode: 0o600 });
    const renew = setInterval(() => {
      const now = new Date();
      utimes(breaker, now, now).catch(() => {});
    }, 250);
    const before = suite.standIn.tokenRequestCount();
    let blocked: CliResult;
    try {
      blocked = await runCli(["credential-helper", "get"], {
        env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "4" },
        stdin: HOST,
        cwd: sandbox.dir,
      });
    } finally {
      clearInterval(renew);
    }
    assert.equal(blocked.code, 1, "a get broke the lock while another breaker was at work");
    assert.match(blocked.stderr, /Timed out/);
    assert.equal(suite.standIn.tokenRequestCount(), before, "no request while the breaker worked");
    // A breaker that stops (killed) is itself stale after 2 s: the next get goes through.
    const answer = parseAnswer(await helper(sandbox, ["get"], HOST));
    assert.equal(answer.Secret, suite.standIn.issued.at(-1)!.password);
    assert.equal(suite.standIn.tokenRequestCount(), before + 1);
    assert.deepEqual(
      (await listing(cacheDir(sandbox))).filter((name) => !name.endsWith(".json")),
      [],
      "no lock or breaker left behind",
    );
  });

  it("keeps waiting behind a live holder of a slow request, however old its lock's time stamp", {
    timeout: 90_000,
  }, async () => {
    // A live holder keeps its lock however long the API takes, whatever its time stamp says: the
    // stamp is set 10 s back every 50 ms (the holder renews it every second), so that only the
    // check of the holder keeps the 7 waiters from breaking the lock. They reuse its token. The
    // 8 s answer leaves room for the 8 gets to start on a loaded machine and wait behind it.
    const sandbox = await suite.configured();
    const dir = cacheDir(sandbox);
    const before = suite.standIn.tokenRequestCount();
    suite.standIn.fault({ delayMs: 8_000 });
    const aging = setInterval(async () => {
      const old = new Date(Date.now() - 10_000);
      const locks = (await listing(dir).catch(() => [])).filter((name) => name.endsWith(".lock"));
      for (const lock of locks) await utimes(join(dir, lock), old, old).catch(() => {});
    }, 50);
    let results: CliResult[];
    try {
      results = await Promise.all(
        Array.from({ length: 8 }, () => helper(sandbox, ["get"], HOST)),
      );
    } finally {
      clearInterval(aging);
    }
    const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
    assert.equal(secrets.size, 1, "every process got the same token");
    assert.equal(suite.standIn.tokenRequestCount() - before, 1, "exactly one token request");
  });
});
