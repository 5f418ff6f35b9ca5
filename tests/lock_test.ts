// The cross-process lock (src/lock.ts), in process: the order in which holders take it when the
// age ceiling breaks a live holder's lock. The ceiling is an option of holdLock, so that what the
// real two minutes would take minutes to show is seen with a ceiling of 1.5 s.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { holdLock } from "../src/lock.ts";

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** When a holder took the lock and when it let it go (ms since the epoch). */
interface Turn {
  took: number;
  left: number;
}

describe("holdLock's age ceiling", () => {
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
});
