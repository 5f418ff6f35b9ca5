/**
 * Internal: the runtime this program runs on, behind one interface. The adapter for Deno, Bun or
 * Node (`runtime/`) is picked here, once; this module gives the rest of the program its
 * functions, with the conventions they all follow: a path that does not exist reads as
 * `undefined` (or an empty list), never as an error.
 *
 * @example
 * ```ts
 * import { env, writeStdout } from "./runtime.ts";
 * await writeStdout(`${env("HOME")}\n`);
 * ```
 *
 * @module
 */

import {
  type FileInfo,
  type FileKind,
  InputTooLargeError,
  type Launcher,
  type RegularFile,
  type RuntimeAdapter,
  STDIN_LIMIT_BYTES,
  type TerminationSignal,
} from "./runtime/adapter.ts";
import { bunAdapter } from "./runtime/bun.ts";
import { denoAdapter } from "./runtime/deno.ts";
import { nodeAdapter } from "./runtime/node.ts";
import { UsageError } from "./errors.ts";
import { sha256Hex as plainSha256Hex } from "./sha256.ts";

export type { FileInfo, FileKind, Launcher, RegularFile, TerminationSignal };
export { STDIN_LIMIT_BYTES };

/** Bun first: Bun and Deno both define `process.versions.node`, and Bun defines no `Deno`. */
const adapter: RuntimeAdapter = "Bun" in globalThis
  ? bunAdapter
  : typeof Deno !== "undefined"
  ? denoAdapter
  : nodeAdapter;

/** An environment variable of this process; undefined when unset. */
export const env: RuntimeAdapter["env"] = adapter.env;

/** Set an environment variable of this process, or remove it (undefined). */
export const setEnv: RuntimeAdapter["setEnv"] = adapter.setEnv;

/** A copy of this process's environment. */
export const environment: RuntimeAdapter["environment"] = adapter.environment;

/** This process's id. */
export const processId: RuntimeAdapter["processId"] = adapter.processId;

/** The command-line arguments after the program (and script) name. */
export const commandLineArgs: RuntimeAdapter["commandLineArgs"] = adapter.commandLineArgs;

/** The name this program was started under (a symlink's name), without `.exe`. */
export const programName: RuntimeAdapter["programName"] = adapter.programName;

/** Whether standard input is a terminal (a secret must not be typed where it echoes). */
export const stdinIsTerminal: RuntimeAdapter["stdinIsTerminal"] = adapter.stdinIsTerminal;

/** Whether standard error is a terminal (progress and colour only go there). */
export const stderrIsTerminal: RuntimeAdapter["stderrIsTerminal"] = adapter.stderrIsTerminal;

/** Write text to standard output, completely, before returning. */
export const writeStdout: RuntimeAdapter["writeStdout"] = adapter.writeStdout;

/** Write text to standard error, completely, before returning. */
export const writeStderr: RuntimeAdapter["writeStderr"] = adapter.writeStderr;

/** Leave with an exit code. */
export const exit: RuntimeAdapter["exit"] = adapter.exit;

/** This process's user id; undefined where there is none (Windows). Deno needs --allow-sys=uid. */
export const userId: RuntimeAdapter["userId"] = adapter.userId;

/** Whether an error says that nothing is at a path. */
export const isNotFound: RuntimeAdapter["isNotFound"] = adapter.isNotFound;

/** Whether an error says that the system refused access. */
export const isPermissionDenied: RuntimeAdapter["isPermissionDenied"] = adapter.isPermissionDenied;

/** Whether an error says that a path exists already. */
export const isAlreadyExists: RuntimeAdapter["isAlreadyExists"] = adapter.isAlreadyExists;

/** Whether an error says that the runtime's own permissions refused (Deno without a flag). */
export const isNotPermitted: RuntimeAdapter["isNotPermitted"] = adapter.isNotPermitted;

/** Flush a folder's entries to the disk (fsync), so that a rename in it survives a crash. */
export const syncDirectory: RuntimeAdapter["syncDirectory"] = adapter.syncDirectory;

/** Make a symlink at `path` to `target`. */
export const makeSymlink: RuntimeAdapter["makeSymlink"] = adapter.makeSymlink;

/** Change a path's permission bits (nothing on Windows). */
export const changeMode: RuntimeAdapter["changeMode"] = adapter.changeMode;

/** Rename a file over another. */
export const renameFile: RuntimeAdapter["renameFile"] = adapter.renameFile;

const removeEntry: RuntimeAdapter["removePath"] = adapter.removePath;

/** Make a folder and its parents. */
export const makeDirectory: RuntimeAdapter["makeDirectory"] = adapter.makeDirectory;

/**
 * How the running program was started, so that a helper script can start it the same way: a
 * standalone binary (Bun's or Deno's), or a script that Deno or Bun runs.
 *
 * @example
 * ```ts
 * import { launcher } from "@saucelabs-community/sauce-registry";
 * console.log(launcher(import.meta.url).kind);
 * ```
 *
 * @param entry The entry module's `import.meta.url`.
 * @returns The kind, the executable and the script.
 */
export function launcher(entry: string): Launcher {
  return adapter.launcher(entry);
}

/** The runtime's name and version, for diagnostics: `Deno 2.9.6`, `Bun 1.4.5`. */
export const runtimeName: () => string = adapter.name;

/** Whether this is Windows. */
export function isWindows(): boolean {
  return adapter.os() === "windows";
}

/** Whether this is Linux, where container tools keep logins under /run when nothing else says. */
export function isLinux(): boolean {
  return adapter.os() === "linux";
}

/** Whether this process runs as root (install-helper then installs for every user). */
export function isRootUser(): boolean {
  return userId() === 0;
}

/**
 * This process's user id, for checking who owns a folder before trusting it (computed once).
 *
 * @param probeDir A folder this process may write to: Deno without `--allow-sys=uid` learns its
 * user id from a file it creates there (and removes at once).
 * @returns The user id; undefined on Windows, or when it cannot be told.
 */
export function currentUserId(probeDir: string): Promise<number | undefined> {
  return adapter.currentUserId(probeDir);
}

/**
 * Read all of standard input as text: a registry address, a kubelet request, an access key.
 *
 * @param expected What standard input should hold, for the message when it holds too much.
 * @param options `interruptible`: keep the event loop running while the read waits, so that
 * `--timeout` and termination signals can end a read whose writer never closes (the command
 * line's `--access-key-stdin`); without it the read may block, as it may for the credential
 * helper and the kubelet provider, whose callers always close their end.
 * @returns Everything until end of input.
 * @throws {UsageError} When it holds more than {@linkcode STDIN_LIMIT_BYTES} (the rest is not
 * read, so a runaway writer costs no memory).
 */
export async function readStdin(
  expected: string,
  options: { interruptible?: boolean } = {},
): Promise<string> {
  try {
    return await adapter.readStdin(STDIN_LIMIT_BYTES, options.interruptible === true);
  } catch (error) {
    if (!(error instanceof InputTooLargeError)) throw error;
    throw new UsageError(
      `Standard input holds more than ${STDIN_LIMIT_BYTES / 1024} KiB: expected ${expected}`,
    );
  }
}

/** The SHA-256 of a text (UTF-8), in hex: the name of a token's cache file. */
export function sha256Hex(text: string): string {
  return adapter.sha256Hex ? adapter.sha256Hex(text) : plainSha256Hex(text);
}

/** A random name part, for temporary files and lock stamps. */
export function randomId(): string {
  return crypto.getRandomValues(new Uint32Array(2)).join("-");
}

/** Read a text file; undefined when it does not exist. */
export async function readTextFile(path: string): Promise<string | undefined> {
  try {
    return await adapter.readTextFile(path);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Read a file only if it is a regular file. A FIFO, device, socket or folder in its place is not
 * read (a FIFO would wait for a writer for ever): its info comes back without text. With
 * `noFollow`, a symlink is not followed (and comes back as one).
 *
 * @param path The file.
 * @param options `noFollow`: do not follow a symlink.
 * @returns The text and info; undefined when nothing exists at the path.
 */
export async function readRegularFile(
  path: string,
  options: { noFollow?: boolean } = {},
): Promise<RegularFile | undefined> {
  try {
    return await adapter.readRegularFile(path, options.noFollow === true);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function statOrUndefined(path: string, follow: boolean): Promise<FileInfo | undefined> {
  try {
    return await adapter.fileInfo(path, follow);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** What the file system says of a path, following symlinks; undefined when nothing is there. */
export function fileInfo(path: string): Promise<FileInfo | undefined> {
  return statOrUndefined(path, true);
}

/** What the file system says of a path itself (lstat); undefined when nothing is there. */
export function linkInfo(path: string): Promise<FileInfo | undefined> {
  return statOrUndefined(path, false);
}

/** A file kind for messages: "a FIFO", "a folder", "a symlink", … */
export function describeFileKind(kind: FileKind): string {
  return kind === "unknown" ? "a special file" : `a ${kind}`;
}

/**
 * Create a file only if it does not exist; false when it already did. A write that fails (a full
 * disk) leaves no file behind, and throws.
 */
export function createExclusive(path: string, data: string, mode: number): Promise<boolean> {
  return adapter.createNew(path, data, mode, false);
}

/**
 * {@linkcode createExclusive}, and the file flushed to the disk (fsync) before returning, so that
 * a rename over another file can never leave an empty one after a crash.
 */
export function createSynced(path: string, data: string, mode: number): Promise<boolean> {
  return adapter.createNew(path, data, mode, true);
}

/** The target of a symlink. */
export function readLink(path: string): Promise<string> {
  return adapter.readLink(path);
}

/** Copy a file. */
export function copyFileTo(from: string, to: string): Promise<void> {
  return adapter.copyFile(from, to);
}

/** Remove a path (a folder and what it holds with `recursive`); nothing when it is not there. */
export function removePath(path: string, recursive = false): Promise<void> {
  return removeEntry(path, recursive);
}

/** The names in a folder; none when it does not exist. */
export async function listDirectory(path: string): Promise<string[]> {
  try {
    return await adapter.listDirectory(path);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Make a new folder (0700) named `prefix` and random characters, in `parent` or the temp folder. */
export async function makeTempDirectory(prefix: string, parent?: string): Promise<string> {
  const path = await adapter.makeTempDirectory(prefix, parent);
  await changeMode(path, 0o700);
  return path;
}

/** Set a file's modification time to now (a lock's heartbeat); false when it is gone. */
export async function touchFile(path: string): Promise<boolean> {
  try {
    await adapter.touch(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Wait `ms`; an abort ends the wait early with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const TERMINATION_SIGNALS: readonly TerminationSignal[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
];

/**
 * Run a handler when this process receives SIGINT, SIGTERM, SIGHUP or SIGQUIT (a closed terminal
 * must not leave temporary credentials behind either); on Windows, SIGINT only.
 *
 * @param handler Called with the signal's name.
 * @returns The function that removes the handler.
 */
export function onTerminationSignal(handler: (signal: TerminationSignal) => void): () => void {
  const signals = isWindows() ? TERMINATION_SIGNALS.slice(0, 1) : TERMINATION_SIGNALS;
  const stops = signals.map((signal) => adapter.onSignal(signal, () => handler(signal)));
  return () => stops.forEach((stop) => stop());
}

/**
 * `fetch`, then `read` the answer while its connection is open. With `direct`, never through a
 * proxy: both runtimes send even a loopback URL through HTTP_PROXY/HTTPS_PROXY, which would hand
 * the request, Authorization header included, in plain text to a proxy elsewhere. NO_PROXY (and
 * no_proxy) names the host only for the moment the request is made, then is put back as it was
 * (children never see the change).
 *
 * @param url The URL.
 * @param init The request.
 * @param direct Go around any proxy (for loopback URLs).
 * @param read What to do with the answer.
 * @returns What `read` returned.
 */
export async function fetchAndRead<T>(
  url: URL,
  init: RequestInit,
  direct: boolean,
  read: (response: Response) => Promise<T>,
): Promise<T> {
  if (!direct) return await read(await fetch(url, init));
  // Both spellings: Bun prefers a lower-case no_proxy when the user has one.
  const names = ["NO_PROXY", "no_proxy"];
  const saved = names.map((name) => env(name));
  let request;
  for (const name of names) setEnv(name, url.hostname.replace(/^\[|\]$/g, ""));
  try {
    request = adapter.fetchDirect(url, init);
  } finally {
    names.forEach((name, index) => setEnv(name, saved[index]));
  }
  try {
    return await read(await request.response);
  } finally {
    request.close();
  }
}

/** The adapter's way to start children (for `process.ts`). */
export const children: Pick<RuntimeAdapter, "prepareToSpawn" | "startChild"> = adapter;
