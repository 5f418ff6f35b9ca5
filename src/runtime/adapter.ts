/**
 * Internal: the seam between sauce-registry and the runtime it runs on. Everything the program
 * needs from Deno, Bun or Node is one method of {@linkcode RuntimeAdapter}, with one
 * implementation per runtime (`deno.ts`, `bun.ts`, `node.ts` beside this file); `../runtime.ts`
 * picks the one that runs. Nothing else asks which runtime it is.
 *
 * @example
 * ```ts
 * import type { RuntimeAdapter } from "./adapter.ts";
 * const describe = (adapter: RuntimeAdapter) => adapter.name();
 * ```
 *
 * @module
 */

/** What the file system says of a path. */
export interface FileInfo {
  /** The permission bits (`0o7777`). */
  mode: number;
  /** The modification time, in ms since the epoch. */
  mtimeMs: number;
  /** What it is: a regular file, a folder, a symlink (only from an lstat), … */
  kind: FileKind;
  /** Whether it is a regular file. */
  isFile: boolean;
  /** The owner's user id; undefined where the system has none (Windows). */
  uid?: number;
  /** The inode number; undefined where the system has none. */
  ino?: number;
}

/** The kinds of file system entries, from the type bits of `st_mode`. */
export type FileKind = "file" | "folder" | "symlink" | "FIFO" | "socket" | "device" | "unknown";

/** A file read only because it is a regular file: its text, and what fstat or lstat said. */
export interface RegularFile {
  /** The text; undefined when the path is not a regular file, which is then not opened. */
  text?: string;
  /** What fstat (or lstat with `noFollow`) says of it. */
  info: FileInfo;
}

/** The signals that ask a process to end, which sauce-registry handles to clean up first. */
export type TerminationSignal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGQUIT";

/** A signal sent to a child: a termination signal, or SIGKILL. */
export type ChildSignal = TerminationSignal | "SIGKILL";

/** How to start a child process. */
export interface ChildOptions {
  /** Written to the child's standard input, which is then closed. */
  stdin?: string;
  /** The child uses this process's standard input, output and error. */
  inheritStdio?: boolean;
  /** The child's whole environment; default this process's. */
  env?: Record<string, string>;
}

/** What a finished child left behind. */
export interface SpawnResult {
  /** The exit code; 128 + the signal's number when a signal ended it. */
  code: number;
  /** The signal that ended it, if one did. */
  signal?: string;
  /** Its standard output (empty with `inheritStdio`). */
  stdout: string;
  /** Its standard error (empty with `inheritStdio`). */
  stderr: string;
}

/** A running child process. */
export interface Child {
  /** Send it a signal (nothing when it has exited). */
  kill(signal: ChildSignal): void;
  /** How it ended, with its output. */
  finished: Promise<SpawnResult>;
}

/** How the running program was started. */
export interface Launcher {
  /** A standalone binary, or a script run by Deno or Bun. */
  kind: "compiled" | "deno" | "bun";
  /** The executable: the binary itself, or the runtime. */
  program: string;
  /** The script's path or URL, when a runtime runs one. */
  script?: string;
}

/** A request sent past every proxy, and how to release what it used. */
export interface DirectRequest {
  /** The answer. */
  response: Promise<Response>;
  /** Release the connection's resources once the answer is read. */
  close(): void;
}

/** The largest standard input any command reads: a credential request is a few hundred bytes. */
export const STDIN_LIMIT_BYTES = 64 * 1024;

/** Everything sauce-registry needs from the runtime. No method relies on `this`. */
export interface RuntimeAdapter {
  /** The runtime's name and version, such as `Deno 2.9.6`. */
  name(): string;
  /** An environment variable of this process. */
  env(name: string): string | undefined;
  /** Set an environment variable of this process, or remove it (undefined). */
  setEnv(name: string, value: string | undefined): void;
  /** A copy of this process's environment. */
  environment(): Record<string, string>;
  /** This process's id. */
  processId(): number;
  /** The operating system: `linux`, `darwin`, `windows`, … */
  os(): string;
  /** The command-line arguments after the program (and script) name. */
  commandLineArgs(): string[];
  /** The name this program was started under (a symlink's name), without `.exe`. */
  programName(): string;
  /** Whether standard input is a terminal. */
  stdinIsTerminal(): boolean;
  /** Whether standard error is a terminal. */
  stderrIsTerminal(): boolean;
  /** Write text to standard output, completely. */
  writeStdout(text: string): Promise<void>;
  /** Write text to standard error, completely. */
  writeStderr(text: string): Promise<void>;
  /**
   * Read standard input to its end, as text; more than `limit` bytes is refused (the read stops
   * there) with a {@linkcode InputTooLargeError}. With `interruptible`, the event loop runs while
   * the read waits (timers and signal handlers can end it); otherwise the reads may block it,
   * which costs less where the writer always closes its end (Docker, the kubelet).
   */
  readStdin(limit: number, interruptible: boolean): Promise<string>;
  /** Leave with an exit code. */
  exit(code: number): never;
  /** This process's user id, for checking owners; undefined where there is none or it is hidden. */
  currentUserId(probeDir: string): Promise<number | undefined>;
  /** This process's user id as the system reports it (Deno needs `--allow-sys=uid`). */
  userId(): number | undefined;
  /** The SHA-256 of a UTF-8 text in hex, where the runtime has a faster way than plain code. */
  sha256Hex?(text: string): string;
  /** Whether an error says that nothing is at a path. */
  isNotFound(error: unknown): boolean;
  /** Whether an error says that the system refused access. */
  isPermissionDenied(error: unknown): boolean;
  /** Whether an error says that a path exists already. */
  isAlreadyExists(error: unknown): boolean;
  /** Whether an error says that the runtime's own permissions refused (Deno without a flag). */
  isNotPermitted(error: unknown): boolean;
  /** Read a text file (a UTF-8 byte order mark is kept); throws when it does not exist. */
  readTextFile(path: string): Promise<string>;
  /** Read a file only if it is a regular file; undefined when nothing is there. */
  readRegularFile(path: string, noFollow: boolean): Promise<RegularFile | undefined>;
  /** stat (`follow`) or lstat; throws when nothing is there. */
  fileInfo(path: string, follow: boolean): Promise<FileInfo>;
  /** The target of a symlink; throws when the path is not one. */
  readLink(path: string): Promise<string>;
  /**
   * Create a file only if it does not exist, and write it (and fsync it with `sync`); false when
   * it existed. A write that fails (a full disk) removes the file it created, and throws.
   */
  createNew(path: string, data: string, mode: number, sync: boolean): Promise<boolean>;
  /** fsync a folder, so that a rename in it is on the disk. */
  syncDirectory(path: string): Promise<void>;
  /** Make a symlink at `path` to `target`. */
  makeSymlink(target: string, path: string): Promise<void>;
  /** Change a path's permission bits. */
  changeMode(path: string, mode: number): Promise<void>;
  /** Rename a file over another. */
  renameFile(from: string, to: string): Promise<void>;
  /** Copy a file. */
  copyFile(from: string, to: string): Promise<void>;
  /** Remove a path (a folder with `recursive`); nothing when nothing is there. */
  removePath(path: string, recursive: boolean): Promise<void>;
  /** Make a folder and its parents. */
  makeDirectory(path: string, mode: number): Promise<void>;
  /** The names in a folder; throws when it does not exist. */
  listDirectory(path: string): Promise<string[]>;
  /** Make a new folder named `prefix` and random characters in `parent` (default: the temp folder). */
  makeTempDirectory(prefix: string, parent?: string): Promise<string>;
  /** Set a path's modification time to now; throws when nothing is there. */
  touch(path: string): Promise<void>;
  /**
   * Send a request with `fetch` past every proxy (the caller has named the host in NO_PROXY for
   * the moment this call lasts; see `fetchAndRead` in `../runtime.ts`).
   */
  fetchDirect(url: URL, init: RequestInit): DirectRequest;
  /** Run a handler on a termination signal; returns the function that removes it. */
  onSignal(signal: TerminationSignal, listener: () => void): () => void;
  /** Whatever must be ready before {@linkcode startChild} (loading `node:child_process`). */
  prepareToSpawn(): Promise<void>;
  /** Start a program found on PATH; throws (or `finished` rejects) when it cannot start. */
  startChild(program: string, args: readonly string[], options: ChildOptions): Child;
  /** How the running program was started, from its entry module's URL. */
  launcher(entry: string): Launcher;
}

/**
 * Standard input held more than a command reads: a credential request is a few hundred bytes,
 * so this is not one, and it is not read any further.
 */
export class InputTooLargeError extends Error {
  /**
   * Make the error.
   *
   * @param limit The most standard input may hold, in bytes.
   */
  constructor(limit: number) {
    super(`Standard input holds more than ${limit} bytes`);
    this.name = "InputTooLargeError";
  }
}
