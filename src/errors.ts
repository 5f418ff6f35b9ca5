/**
 * Internal: the error classes of sauce-registry and what keeps messages safe and helpful: secrets
 * redacted, terminal controls stripped, and one way to say "unknown X: did you mean Y". `mod.ts`
 * re-exports the classes and `redact`; the rest is not public API.
 *
 * @example
 * ```ts
 * import { UsageError } from "./errors.ts";
 * throw new UsageError("Unknown region \"mars\": expected one of us-west-1, …");
 * ```
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** Options common to every sauce-registry error. */
export interface SauceRegistryErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** The process exit code the command line uses for this error. */
  exitCode?: number;
}

/**
 * The base of every error sauce-registry throws. Messages never contain an access key, a token
 * password or an authorization header.
 *
 * @example
 * ```ts
 * import { fetchToken, SauceRegistryError } from "@saucelabs-community/sauce-registry";
 * try {
 *   await fetchToken({ credentials: { username: "u", accessKey: "k" } });
 * } catch (error) {
 *   if (error instanceof SauceRegistryError) console.error(error.message, error.exitCode);
 * }
 * ```
 */
export class SauceRegistryError extends Error {
  /** The process exit code the command line uses for this error. */
  readonly exitCode: number;

  /**
   * Make the error.
   *
   * @param message What went wrong, one line.
   * @param options Cause and exit code (default 1).
   */
  constructor(message: string, options: SauceRegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SauceRegistryError";
    this.exitCode = options.exitCode ?? 1;
  }
}

/**
 * Bad input from the user: an unknown option, a malformed registry, a missing credential.
 * Exit code 2.
 *
 * @example
 * ```ts
 * import { UsageError, registryHost } from "@saucelabs-community/sauce-registry";
 * try { registryHost("not a registry"); } catch (e) { console.log(e instanceof UsageError); }
 * ```
 */
export class UsageError extends SauceRegistryError {
  /**
   * Make the error.
   *
   * @param message What was expected, one line.
   * @param options The cause, if any.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 2 });
    this.name = "UsageError";
  }
}

/** Options of an {@linkcode ApiError}. */
export interface ApiErrorOptions {
  /** The HTTP status Sauce Labs answered with, when it answered. */
  status?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The Sauce Labs API failed: a network error, an unexpected status or an answer of the wrong
 * shape. Exit code 1.
 *
 * @example
 * ```ts
 * import { ApiError } from "@saucelabs-community/sauce-registry";
 * const error = new ApiError("Cannot fetch registry token: Sauce Labs answered 500", { status: 500 });
 * console.log(error.status);
 * ```
 */
export class ApiError extends SauceRegistryError {
  /** The HTTP status, or undefined when no answer came (connection refused, reset, …). */
  readonly status?: number;

  /**
   * Make the error.
   *
   * @param message What went wrong, one line.
   * @param options Status and cause.
   */
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(message, { cause: options.cause, exitCode: 1 });
    this.name = "ApiError";
    this.status = options.status;
  }
}

/**
 * Sauce Labs refused the credentials (401) or the organization is not enrolled in the
 * registry (403). Exit code 3.
 *
 * @example
 * ```ts
 * import { AuthenticationError } from "@saucelabs-community/sauce-registry";
 * const error = new AuthenticationError("Sauce Labs refused the username or access key", { status: 401 });
 * console.log(error.exitCode); // 3
 * ```
 */
export class AuthenticationError extends ApiError {
  /**
   * Make the error.
   *
   * @param message What was refused and what to do, one line.
   * @param options Status and cause.
   */
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(message, options);
    this.name = "AuthenticationError";
    Object.defineProperty(this, "exitCode", { value: 3 });
  }
}

/**
 * The operation did not finish within its time limit. Exit code 124.
 *
 * @example
 * ```ts
 * import { TimeoutError } from "@saucelabs-community/sauce-registry";
 * console.log(new TimeoutError("Timed out after 5 s").exitCode); // 124
 * ```
 */
export class TimeoutError extends SauceRegistryError {
  /** Always true: lets callers branch without `instanceof`. */
  readonly timedOut = true;

  /**
   * Make the error.
   *
   * @param message What timed out, one line.
   * @param options The cause, if any.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 124 });
    this.name = "TimeoutError";
  }
}

/** Options of a {@linkcode ToolError}. */
export interface ToolErrorOptions {
  /** The tool's own exit code, when it ran. */
  toolExitCode?: number;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * A container tool (docker, podman, …) failed or could not be started. Exit code 1.
 *
 * @example
 * ```ts
 * import { ToolError } from "@saucelabs-community/sauce-registry";
 * const error = new ToolError("docker", "docker login failed: unauthorized", { toolExitCode: 1 });
 * console.log(error.tool, error.toolExitCode);
 * ```
 */
export class ToolError extends SauceRegistryError {
  /** The program that failed. */
  readonly tool: string;
  /** The tool's own exit code, or undefined when it could not be started. */
  readonly toolExitCode?: number;

  /**
   * Make the error.
   *
   * @param tool The program that failed.
   * @param message What went wrong, one line, secrets already removed.
   * @param options The tool's exit code and the cause.
   */
  constructor(tool: string, message: string, options: ToolErrorOptions = {}) {
    super(message, { cause: options.cause, exitCode: 1 });
    this.name = "ToolError";
    this.tool = tool;
    this.toolExitCode = options.toolExitCode;
  }
}

/**
 * No Sauce Labs username or access key was found anywhere it is looked for. Not a usage error:
 * the command was right, the machine lacks credentials. Exit code 2.
 *
 * @example
 * ```ts
 * import { CredentialsNotFoundError, resolveCredentials } from "@saucelabs-community/sauce-registry";
 * try {
 *   await resolveCredentials();
 * } catch (error) {
 *   if (error instanceof CredentialsNotFoundError) console.error(error.missing, error.lookedIn);
 * }
 * ```
 */
export class CredentialsNotFoundError extends SauceRegistryError {
  /** What is missing. */
  readonly missing: readonly ("username" | "access key")[];
  /** Where it was looked for, in order. */
  readonly lookedIn: readonly string[];

  /**
   * Make the error.
   *
   * @param missing What is missing.
   * @param lookedIn Where it was looked for, in order.
   * @param remedy How to set it, appended to the message.
   */
  constructor(
    missing: readonly ("username" | "access key")[],
    lookedIn: readonly string[],
    remedy: string,
  ) {
    super(
      `No Sauce Labs ${missing.join(" and ")} found: looked in ${lookedIn.join(", ")}; ${remedy}`,
      { exitCode: 2 },
    );
    this.name = "CredentialsNotFoundError";
    this.missing = missing;
    this.lookedIn = lookedIn;
  }
}

/**
 * A configuration file (the Docker config or the registries file) cannot be used, for example
 * because it is not valid JSON. It is left untouched. Exit code 1.
 *
 * @example
 * ```ts
 * import { ConfigError } from "@saucelabs-community/sauce-registry";
 * const error = new ConfigError("/root/.docker/config.json", "not valid JSON at line 3, column 7");
 * console.log(error.path);
 * ```
 */
export class ConfigError extends SauceRegistryError {
  /** The file at fault. */
  readonly path: string;

  /**
   * Make the error.
   *
   * @param path The file at fault.
   * @param problem What is wrong with it.
   * @param options The cause, if any.
   */
  constructor(path: string, problem: string, options: { cause?: unknown } = {}) {
    super(`Cannot use ${path}: ${problem}`, { ...options, exitCode: 1 });
    this.name = "ConfigError";
    this.path = path;
  }
}

/**
 * The error an aborted signal stands for: its reason when that is one of ours, a
 * {@linkcode TimeoutError} for a timeout's, else "Cancelled" (exit code 130).
 *
 * @param signal The aborted signal.
 * @returns The error to throw.
 */
export function abortError(signal: AbortSignal): SauceRegistryError {
  const reason = signal.reason;
  if (reason instanceof SauceRegistryError) return reason;
  if ((reason as { name?: string })?.name === "TimeoutError") {
    return new TimeoutError("Timed out", { cause: reason });
  }
  return new SauceRegistryError("Cancelled", { cause: reason, exitCode: 130 });
}

/**
 * Replace every secret in a text by `***`, so that tool output and server answers can be shown.
 *
 * @example
 * ```ts
 * import { redact } from "@saucelabs-community/sauce-registry";
 * redact("password=hunter22", ["hunter22"]); // "password=***"
 * ```
 *
 * @param text The text to clean.
 * @param secrets The values that must not appear (empty ones are ignored).
 * @returns The text with each secret replaced.
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let clean = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 3) clean = clean.split(secret).join("***");
  }
  return clean;
}

/**
 * An error as one line of text (its message and its cause's), safe to show: see
 * {@linkcode printable}.
 */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return printable(`${error.message}${cause}`, Infinity);
  }
  return printable(String(error), Infinity);
}

/**
 * Characters that must not reach a terminal from text that came from the network or a file:
 * C0 and C1 controls (ESC starts terminal commands, CR and BS overwrite what was shown) and the
 * line separators, which become a space; the bidirectional marks, embeddings, overrides and
 * isolates (U+061C, U+200E-F, U+202A-E, U+2066-9), which reorder what is shown and are dropped.
 */
// deno-lint-ignore no-control-regex
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028\u2029]+/g;
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Keep what is safe to show of a text that came from the network, a file or a tool: no control
 * characters and no bidirectional overrides (the readable words stay), on one line, at most
 * `max` characters. Every message that quotes such text goes through here.
 *
 * @param text The text.
 * @param max The longest result; a longer text is cut and ends with `…`.
 * @returns The text, safe for a terminal.
 */
export function printable(text: string, max = 80): string {
  const clean = text.replace(BIDI, "").replace(CONTROLS, " ").trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/**
 * The nearest of some names to a mistyped one, if any is near enough to be what was meant: at
 * most two edits apart (one for names of four letters or fewer), or the only one it starts.
 *
 * @param typed What was typed.
 * @param names The names it could have meant.
 * @returns The suggestion, or undefined.
 */
export function nearest(typed: string, names: readonly string[]): string | undefined {
  const starting = names.filter((name) => typed.length >= 2 && name.startsWith(typed));
  if (starting.length === 1) return starting[0];
  let best: string | undefined;
  let bestDistance = typed.length <= 4 ? 2 : 3;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
      }
    }
  }
  return rows[a.length][b.length];
}

/**
 * The one way to refuse a value that is not among the known ones: `Unknown region "eu-west":
 * expected one of us-west-1, us-east-4, eu-central-1, staging (did you mean ...?)`. A long list
 * (commands, options) is not spelled out, only the nearest name: `--help` lists them.
 *
 * @example
 * ```ts
 * import { unknownChoice } from "./errors.ts";
 * unknownChoice("shell", "bsh", ["bash", "zsh", "fish"]).message;
 * // 'Unknown shell "bsh": expected one of bash, zsh, fish (did you mean bash?)'
 * ```
 *
 * @param what What the value names (`region`, `tool`, `format`, `shell`, `command`, …).
 * @param given The value given.
 * @param choices The values known.
 * @returns The usage error to throw.
 */
export function unknownChoice(what: string, given: string, choices: readonly string[]): UsageError {
  const guess = nearest(given, choices);
  const shown = `Unknown ${what} "${printable(given, 40)}"`;
  if (choices.length > MAX_LISTED_CHOICES) {
    return new UsageError(guess ? `${shown}: did you mean ${guess}?` : shown);
  }
  return new UsageError(
    `${shown}: expected one of ${choices.join(", ")}${guess ? ` (did you mean ${guess}?)` : ""}`,
  );
}

/** How many known values a message lists at most. */
const MAX_LISTED_CHOICES = 8;
