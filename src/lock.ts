/**
 * Internal: the cross-process lock of sauce-registry's files (the token cache, the Docker config,
 * the registries file). The lock file records who holds it, so that waiters can tell a live holder
 * from a dead one: its PID with the process's start time, the boot id and the PID namespace, where
 * /proc can be read. Loaded only when a lock is needed, not on the credential helper's hot path.
 *
 * @example
 * ```ts
 * import { holdLock } from "./lock.ts";
 * await holdLock("/tmp/example.lock", async () => {});
 * ```
 *
 * @module
 */

import { abortError, ConfigError } from "./errors.ts";
import { ownerState, processIdentity } from "./process.ts";
import {
  createExclusive,
  describeFileKind,
  linkInfo,
  processId,
  randomId,
  readRegularFile,
  removePath,
  sleep,
  touchFile,
} from "./runtime.ts";

/** Options of {@linkcode holdLock}. */
export interface LockOptions<T = never> {
  /** Aborting stops the wait for the lock (with the error {@linkcode abortError} makes). */
  signal?: AbortSignal;
  /**
   * Asked between tries while another process holds the lock: what the holder was making, once it
   * is there (a cached token). Its answer ends the wait without taking the lock, so that the
   * waiters of one holder do not then take the lock one after another only to find it made.
   */
  whileWaiting?: () => Promise<T | undefined>;
  /**
   * How long after it was taken a lock is broken, whoever holds it (for tests: the ordering of
   * holders that a two-minute ceiling would take minutes to show).
   *
   * @default {120_000}
   */
  maxAgeMs?: number;
}

/**
 * A holder that does not renew its lock's time stamp for this long is taken as gone, where its
 * process cannot be checked (another PID namespace or machine, no /proc, Deno without
 * `--allow-all`).
 */
const LOCK_STALE_MS = 5_000;
/**
 * A holder that /proc shows alive but that has not renewed its lock for this long is not getting
 * on with it: stopped (SIGSTOP, Ctrl-Z on the tool that ran it), frozen, or stuck. Its heartbeat
 * runs while it waits for the API, so only such a process misses it this long; a starved machine
 * delays it by seconds, not by this.
 */
const LOCK_FROZEN_MS = 15_000;
/** How often a holder renews its lock's time stamp. */
const LOCK_HEARTBEAT_MS = 1_000;
/**
 * No lock is kept longer than this after it was taken, whoever holds it: a hung holder must not
 * block for ever.
 */
const LOCK_MAX_AGE_MS = 120_000;
/**
 * How long a waiter sleeps between tries at first, and at most (ms), plus up to as much again at
 * random: hundreds of waiters at a token's renewal must not keep the machine busy polling.
 */
const LOCK_FIRST_POLL_MS = 15;
const LOCK_LONGEST_POLL_MS = 200;

/** What a lock file records of its holder, so that waiters can tell whether it still runs. */
interface LockHolder {
  pid: number;
  startTime?: string;
  bootId?: string;
  pidNamespace?: string;
  /** When the lock was taken (ms since the epoch), for the age ceiling: not when the wait began. */
  created: number;
  nonce: string;
}

/**
 * Run `work` while holding a lock file (created exclusively), so that processes take turns. The
 * holder renews the file's time stamp every second. A lock is broken when its holder is gone:
 * no such process, a zombie, or another process under the same PID (a different start time),
 * where /proc can tell (same boot, same PID namespace); else when its time stamp is older than
 * 5 s; when /proc shows it alive but its time stamp is older than 15 s (stopped, frozen); and
 * always 2 minutes after it was taken. A lock file that cannot be written (a full
 * disk) fails the call, and leaves nothing behind.
 */
export async function holdLock<T>(
  lockPath: string,
  work: () => Promise<T>,
  options: LockOptions<T> = {},
): Promise<T> {
  const { signal, maxAgeMs = LOCK_MAX_AGE_MS, whileWaiting } = options;
  const identity = await processIdentity();
  const nonce = randomId();
  // Stamped anew at each try: the age ceiling counts from when the lock was taken.
  const stampNow = () => JSON.stringify({ ...identity, created: Date.now(), nonce });
  let stamp = stampNow();
  let pollMs = LOCK_FIRST_POLL_MS;
  while (!(await createExclusive(lockPath, stamp, 0o600))) {
    if (signal?.aborted) throw abortError(signal);
    const abandoned = await abandonedLock(lockPath, maxAgeMs);
    if (abandoned === undefined || !(await breakLock(lockPath, abandoned))) {
      await sleep(pollMs + Math.random() * pollMs, signal).catch(() => {});
      pollMs = Math.min(pollMs * 1.5, LOCK_LONGEST_POLL_MS);
      const made = await whileWaiting?.();
      if (made !== undefined) return made;
    }
    stamp = stampNow();
  }
  const heartbeat = setInterval(() => {
    // A beat that cannot be written only lets the lock age, so that a waiter may break it: that
    // costs one more token request at worst, and the holder finishes all the same.
    touchFile(lockPath).catch(() => undefined);
  }, LOCK_HEARTBEAT_MS);
  try {
    return await work();
  } finally {
    clearInterval(heartbeat);
    if ((await readLockText(lockPath)) === stamp) await removePath(lockPath);
  }
}

/** A lock file's content; undefined when it is gone. */
async function readLockText(path: string): Promise<string | undefined> {
  const file = await readRegularFile(path, { noFollow: true });
  if (file === undefined) return undefined;
  if (file.text === undefined) {
    throw new ConfigError(path, `it is ${describeFileKind(file.info.kind)}, not a lock file`);
  }
  return file.text;
}

function parseLockHolder(text: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(text) as LockHolder;
    return Number.isInteger(holder?.pid) && typeof holder.created === "number" ? holder : undefined;
  } catch {
    return undefined; // not a lock of this version: judged by its age alone
  }
}

/** The content of the lock when it is abandoned; undefined while it is held or gone. */
async function abandonedLock(lockPath: string, maxAgeMs: number): Promise<string | undefined> {
  const [text, info] = await Promise.all([readLockText(lockPath), linkInfo(lockPath)]);
  if (text === undefined || info === undefined) return undefined; // released meanwhile
  const now = Date.now();
  const holder = parseLockHolder(text);
  if (holder && now - holder.created > maxAgeMs) return text;
  // A live holder keeps its lock however long it takes (a slow API, retries), as long as it
  // beats: breaking it would send every waiter to the API at once. Where /proc cannot tell, the
  // time stamp decides sooner.
  const state = holder ? await ownerState(holder) : "unknown";
  if (state === "gone") return text;
  const silentMs = now - info.mtimeMs;
  return silentMs > (state === "alive" ? LOCK_FROZEN_MS : LOCK_STALE_MS) ? text : undefined;
}

/** A breaker is held for a moment only; one this old was left by a killed process. */
const LOCK_BREAKER_STALE_MS = 2_000;

/**
 * Remove an abandoned lock, but only the one judged abandoned, and one breaker at a time:
 * otherwise two waiters that judged the same dead lock could each remove it, the second one
 * removing the lock the first had just taken, and both would work at once.
 */
async function breakLock(lockPath: string, abandoned: string): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  if (!(await createExclusive(breaker, `${processId()}`, 0o600))) {
    const info = await linkInfo(breaker);
    if (info && Date.now() - info.mtimeMs > LOCK_BREAKER_STALE_MS) await removePath(breaker);
    return false;
  }
  try {
    if ((await readLockText(lockPath)) !== abandoned) return false;
    await removePath(lockPath);
    return true;
  } finally {
    await removePath(breaker);
  }
}
