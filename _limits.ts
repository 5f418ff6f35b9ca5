/**
 * Internal: time limits. Every wait of sauce-registry is bounded: by `--timeout`, by
 * `SAUCE_REGISTRY_TIMEOUT`, or by a default. `mod.ts` re-exports the two constants.
 *
 * @example
 * ```ts
 * import { parseTimeoutSeconds } from "./_limits.ts";
 * parseTimeoutSeconds("90", "--timeout"); // 90
 * ```
 *
 * @module
 */

import { printable, UsageError } from "./_errors.ts";
import { env } from "./_runtime.ts";

/** How long a token request (retries included) may take unless told otherwise, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 60;

/**
 * The longest time limit, in seconds: about 24.8 days, the most a timer can hold (2^31 - 1 ms).
 * A longer one would fire at once.
 */
export const MAX_TIMEOUT_SECONDS = 2_147_483;

/**
 * Read a time limit in seconds (`--timeout`, `SAUCE_REGISTRY_TIMEOUT`): a number above 0 and at
 * most {@linkcode MAX_TIMEOUT_SECONDS}.
 *
 * @example
 * ```ts
 * import { parseTimeoutSeconds } from "./_limits.ts";
 * parseTimeoutSeconds("1.5", "--timeout"); // 1.5
 * ```
 *
 * @param text The text given.
 * @param origin Where it was given, for the message.
 * @returns The seconds.
 * @throws {UsageError} For anything else.
 */
export function parseTimeoutSeconds(text: string, origin: string): number {
  const seconds = /^\s*(\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
  checkTimeout(seconds, origin, `"${printable(text, 30)}"`);
  return seconds;
}

export function checkTimeout(seconds: number, origin: string, shown: string): void {
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(
      `Invalid ${origin}: expected a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS} (24 days), got ${shown}`,
    );
  }
}

/** A time limit and where it came from (for the message when it runs out). */
export interface TimeLimit {
  seconds: number;
  origin?: string;
}

/** The limit when none is given: `SAUCE_REGISTRY_TIMEOUT`, else the default. */
export function timeLimit(seconds?: number): TimeLimit {
  if (seconds !== undefined) {
    checkTimeout(seconds, "timeoutSeconds", String(seconds));
    return { seconds };
  }
  const text = env("SAUCE_REGISTRY_TIMEOUT");
  if (text === undefined || text === "") {
    return {
      seconds: DEFAULT_TIMEOUT_SECONDS,
      origin: "the default; SAUCE_REGISTRY_TIMEOUT or --timeout changes it",
    };
  }
  return {
    seconds: parseTimeoutSeconds(text, "SAUCE_REGISTRY_TIMEOUT"),
    origin: "SAUCE_REGISTRY_TIMEOUT",
  };
}

export function timeoutMessage(limit: TimeLimit, what: string): string {
  return `Timed out after ${limit.seconds} s${limit.origin ? ` (${limit.origin})` : ""} ${what}`;
}
