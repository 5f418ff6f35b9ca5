// The cross-process lock (src/lock.ts): a holder killed in this PID namespace is known gone at
// once, by the identity its lock records; and the order in which holders take the lock when the
// age ceiling breaks a live holder's. The ceiling is an option of holdLock, so that what the real
// two minutes would take minutes to show is seen with a ceiling of 1.5 s.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { sleep } from "./fixtures/common.ts";
import { cliCommand } from "./fixtures/harness.ts";
import { holdLock } from "../src/lock.ts";

/** When a holder took the lock and when it let it go (ms since the epoch). */
interface Turn {
  took: number;
  left: number;
}

describe("holdLock", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lock-test-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("counts a lock's age from when its holder took it, not from when it began to wait", {
    timeout: 30_000,
  }, async () => {
    // A ceiling well above the 15-30 ms poll; every holder here is this live process, so only
    // the ceiling can break a lock (the 1 s heartbeat keeps each time stamp fresh meanwhile).
    const ceiling = 1_500;
    const lockPath = join(dir, "ordering.lock");
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
    assert.deepEqual(await readdir(dir), [], "no lock or breaker left");
  });

  it("breaks at once the lock of a holder SIGKILLed in this PID namespace", {
    timeout: 30_000,
  }, async () => {
    const lockPath = join(dir, "killed.lock");
    const script = join(dir, "holder.ts");
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
    const locks = (await readdir(dir)).filter((name) => name.endsWith(".lock"));
    assert.deepEqual(locks, [], "the lock was released");
  });
});
