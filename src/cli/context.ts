/**
 * Internal: what a command's runner is given (its options, arguments, abort signal, output
 * settings) and the steps runners share: reading REGISTRY arguments, the access key from stdin,
 * the settings of a token request, and a token fetched with a status line on a terminal.
 *
 * @example
 * ```ts
 * import type { Runner } from "./context.ts";
 * const runVersion: Runner = () => Promise.resolve(0);
 * ```
 *
 * @module
 */

import {
  fetchToken,
  type FetchTokenOptions,
  type RegistryToken,
  type TokenProgress,
} from "../api.ts";
import { resolveCredentials } from "../credentials.ts";
import { printable, ToolError, UsageError } from "../errors.ts";
import { findProgram, namesFile } from "../paths.ts";
import { readStdin, stdinIsTerminal, writeStderr, writeStdout } from "../runtime.ts";
import { resolveApiSettings, settingLookup } from "../settings.ts";
import type { CommandSpec } from "./options.ts";

/** The values of the options given, by long name. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** A command's way to run: its context and what came after `--`, to its exit code. */
export type Runner = (context: Context, rest: string[]) => Promise<number>;

/** A command of the table: how help, completions and the parser see it, and how it runs. */
export interface Command extends CommandSpec {
  /** Runs the command. */
  run: Runner;
}

/** A one-line status on standard error, on a terminal only, while a wait takes its time. */
export interface StatusLine {
  /** Show (or replace) the line, after about a second. */
  show(line: string): void;
  /** Erase it. */
  clear(): Promise<void>;
}

/** What a runner is given. */
export interface Context {
  /** The command run. */
  command: CommandSpec;
  /** Every command (for `help` and `completions`). */
  commands: readonly Command[];
  /** The URL of the program's entry module (`cli.ts`), for `install-helper`. */
  entry: string;
  /** Its options. */
  values: Values;
  /** Its arguments, after the command's name. */
  positionals: string[];
  /** Aborts on --timeout and on termination signals. */
  signal: AbortSignal;
  /** From --timeout, which bounds the whole command. */
  timeoutSeconds?: number;
  /** `--json`: output, and errors, as JSON. */
  json: boolean;
  /** `--quiet`. */
  quiet: boolean;
  /** `--verbose`: where log lines go. */
  log?: (line: string) => void;
  /** The status line on a terminal while a token request takes its time. */
  status: StatusLine;
  /** Run a child that gets this process's termination signals and decides the exit code. */
  whileChildRuns<T>(work: () => Promise<T>): Promise<T>;
}

/** A string option's value. */
export function text(context: Context, name: string): string | undefined {
  const value = context.values[name];
  return typeof value === "string" ? value : undefined;
}

/** A repeatable option's values. */
export function list(context: Context, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

/** RFC 3339 in UTC, without milliseconds when they are zero (as Sauce Labs writes it). */
export function isoTime(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/** An expiry as a time and how far away it is. */
export function describeExpiry(expiresAt: Date): string {
  const seconds = Math.round((expiresAt.getTime() - Date.now()) / 1000);
  const inWords = seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
  return `${isoTime(expiresAt)} (in ${inWords})`;
}

/** An informational line on stderr, unless `--quiet` or `--json`. */
export async function info(context: Context, line: string): Promise<void> {
  if (!context.quiet && !context.json) await writeStderr(`${line}\n`);
}

/** A JSON result on stdout. */
export async function json(value: unknown): Promise<void> {
  await writeStdout(`${JSON.stringify(value)}\n`);
}

/**
 * The registries a command was given: as arguments, or with `--registry` (the same thing), but
 * not both ways at once.
 */
export function registries(
  context: Context,
  min: number,
  max: number,
  what = "REGISTRY",
): string[] {
  const flagged = list(context, "registry");
  const given = context.positionals;
  if (flagged.length > 0 && given.length > 0 && max === 1) {
    throw new UsageError(
      `${context.command.name} takes one ${what}: give it as an argument or with --registry, not both`,
    );
  }
  const all = [...given, ...flagged];
  if (all.length < min || all.length > max) {
    const expected = min === max
      ? `one ${what}`
      : max === Infinity
      ? `at least ${min} ${what}`
      : `at most ${max} ${what}`;
    throw new UsageError(
      `${context.command.name} takes ${expected}, got ${all.length}${
        given.length > max
          ? ` (${given.slice(max).map((arg) => `"${printable(arg, 30)}"`).join(", ")} too many)`
          : ""
      }`,
    );
  }
  return all;
}

/** Refuse arguments, for commands that take none. */
export function noArguments(context: Context): void {
  if (context.positionals.length > 0) {
    throw new UsageError(
      `${context.command.name} takes no arguments, got "${printable(context.positionals[0], 40)}"`,
    );
  }
}

/** `--region`, `--api-url` and `--env-file`, as the settings take them. */
export function apiOptions(
  context: Context,
): { region?: string; apiUrl?: string; envFile?: string } {
  return {
    region: text(context, "region"),
    apiUrl: text(context, "api-url"),
    envFile: text(context, "env-file"),
  };
}

/** The access key from a pipe (`--access-key-stdin`), alone on standard input. */
export async function readAccessKey(): Promise<string> {
  if (stdinIsTerminal()) {
    throw new UsageError(
      '--access-key-stdin reads the key from a pipe, not a terminal (where it would show): use printf %s "$KEY" | sauce-registry …',
    );
  }
  // Interruptible: a pipe whose writer never closes must not outlast --timeout.
  const key = (await readStdin("the access key alone", { interruptible: true }))
    .replace(/\r?\n$/, "");
  if (key === "" || /[\r\n]/.test(key)) {
    throw new UsageError("--access-key-stdin expects the access key alone on standard input");
  }
  return key;
}

/** Everything a token request needs, from flags, environment, `.env` and saucectl's file. */
export async function tokenOptions(
  context: Context,
  registryUrl?: string,
): Promise<FetchTokenOptions> {
  const envFile = text(context, "env-file");
  const settings = settingLookup({ envFile });
  const accessKey = context.values["access-key-stdin"] ? await readAccessKey() : undefined;
  const credentials = await resolveCredentials(
    { username: text(context, "username"), accessKey, envFile },
    settings,
  );
  const { region, apiUrl } = await resolveApiSettings(apiOptions(context), settings);
  return {
    credentials,
    region,
    apiUrl,
    registryUrl,
    signal: context.signal,
    // --timeout bounds the whole command; without it the library's default bounds the request.
    timeoutSeconds: context.timeoutSeconds,
    log: context.log,
    onProgress: (progress) => context.status.show(progressText(progress)),
  };
}

/** A token, with the status line on a terminal while it takes its time. */
export async function fetchWithStatus(
  context: Context,
  registryUrl?: string,
): Promise<RegistryToken> {
  try {
    return await fetchToken(await tokenOptions(context, registryUrl));
  } finally {
    await context.status.clear();
  }
}

function progressText(progress: TokenProgress): string {
  return progress.phase === "request"
    ? `Waiting for a registry token from ${progress.host} (attempt ${progress.attempt} of ${progress.attempts})…`
    : `${progress.reason}; retrying in ${
      Math.ceil(progress.delayMs / 1000)
    } s (attempt ${progress.attempt} of ${progress.attempts})…`;
}

/**
 * Fail before asking for a token that a missing tool or command could not use: a name is looked
 * for on PATH, a path (`./run.sh`) must be an executable file.
 */
export async function requireProgram(program: string): Promise<void> {
  if (await findProgram(program)) return;
  throw new ToolError(
    program,
    namesFile(program)
      ? `Cannot run ${program}: it is not an executable file`
      : `Cannot run ${program}: it is not installed or not on PATH`,
  );
}
