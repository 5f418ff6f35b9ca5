/**
 * Internal: the core of the runtime adapter, the one place (with `_system.ts`) that asks which
 * runtime this is (Deno, Bun, or Node), and the small functions that hide the differences. This
 * core holds what the credential helper's cached answer needs (environment, standard streams,
 * reading files and their owners, hashing); `_system.ts` the rest (signals, spawning, writing
 * files, processes). Not public API; `deno.json`'s `exports` does not name it.
 *
 * @example
 * ```ts
 * import { env, writeStdout } from "./_runtime.ts";
 * await writeStdout(`${env("HOME")}\n`);
 * ```
 *
 * @module
 */

import { loadFs, loadFsSync, requireFsSyncOnBun } from "./deps.ts";
import { UsageError } from "./_errors.ts";

// ---------------------------------------------------------------------------------------------
// Runtime: the only place that asks which runtime this is
// ---------------------------------------------------------------------------------------------

interface NodeProcess {
  env: Record<string, string | undefined>;
  argv: string[];
  argv0: string;
  pid: number;
  exitCode?: number;
  execPath: string;
  platform: string;
  stdin: AsyncIterable<Uint8Array> & { isTTY?: boolean };
  stdout: { write(chunk: string | Uint8Array, callback?: () => void): boolean; isTTY?: boolean };
  stderr: { write(chunk: string | Uint8Array, callback?: () => void): boolean; isTTY?: boolean };
  on(event: string, listener: () => void): void;
  off(event: string, listener: () => void): void;
  exit(code?: number): never;
  getuid?: () => number;
}

/** Bun first: Bun and Deno both define `process.versions.node`. */
export function isBun(): boolean {
  return "Bun" in globalThis;
}

export function isDeno(): boolean {
  return !isBun() && typeof Deno !== "undefined";
}

export function nodeProcess(): NodeProcess {
  return (globalThis as unknown as { process: NodeProcess }).process;
}

/** The parts of Bun's own API the hot path uses: its node:stream-backed stdio costs ~20 ms. */
interface BunApi {
  stdin: { stream(): ReadableStream<Uint8Array> };
  stdout: unknown;
  stderr: unknown;
  write(destination: unknown, data: string): Promise<number>;
  file(path: string): { arrayBuffer(): Promise<ArrayBuffer> };
  env: Record<string, string | undefined>;
  CryptoHasher: new (
    algorithm: "sha256",
  ) => { update(text: string): { digest(encoding: "hex"): string } };
}

export function bun(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

/**
 * Read an environment variable of this process.
 *
 * @example
 * ```ts
 * import { env } from "./_runtime.ts";
 * console.log(env("HOME"));
 * ```
 *
 * @param name The variable's name.
 * @returns Its value, or undefined when unset.
 */
export function env(name: string): string | undefined {
  if (isDeno()) return Deno.env.get(name);
  return isBun() ? bun().env[name] : nodeProcess().env[name];
}

export function processId(): number {
  return isDeno() ? Deno.pid : nodeProcess().pid;
}

export function isWindows(): boolean {
  return isDeno() ? Deno.build.os === "windows" : nodeProcess().platform === "win32";
}

/** Whether this is Linux, where container tools keep logins under /run when nothing else says. */
export function isLinux(): boolean {
  return isDeno() ? Deno.build.os === "linux" : nodeProcess().platform === "linux";
}

/**
 * The command-line arguments after the program (and script) name.
 *
 * @example
 * ```ts
 * import { commandLineArgs } from "./_runtime.ts";
 * const [command] = commandLineArgs();
 * ```
 *
 * @returns The arguments.
 */
export function commandLineArgs(): string[] {
  return isDeno() ? [...Deno.args] : nodeProcess().argv.slice(2);
}

/**
 * The name this program was started under: a symlink's name, not its target's. (On Deno the
 * `process` global that tells it costs ~20 ms of start-up: `deno run`, whose executable is Deno's
 * own, is answered without it when reading is allowed, as asking for the executable's path
 * needs.)
 *
 * @example
 * ```ts
 * import { programName } from "./_runtime.ts";
 * if (programName() === "docker-credential-saucelabs") console.log("helper mode");
 * ```
 *
 * @returns The base name, without `.exe`.
 */
export function programName(): string {
  if (isDeno() && Deno.permissions.querySync({ name: "read" }).state === "granted") {
    const executable = basename(Deno.execPath()).replace(/\.exe$/i, "");
    // Only a compiled binary, which is its own executable, can run under another name.
    if (executable === "deno") return executable;
  }
  return basename(nodeProcess().argv0).replace(/\.exe$/i, "");
}

/**
 * Whether standard error is a terminal (progress and colour only go there).
 *
 * @example
 * ```ts
 * import { stderrIsTerminal } from "./_runtime.ts";
 * const red = stderrIsTerminal() ? "\x1b[31m" : "";
 * ```
 *
 * @returns True on a terminal.
 */
export function stderrIsTerminal(): boolean {
  return isDeno() ? Deno.stderr.isTerminal() : nodeProcess().stderr.isTTY === true;
}

/**
 * Whether standard input is a terminal (a secret must not be typed where it echoes).
 *
 * @example
 * ```ts
 * import { stdinIsTerminal } from "./_runtime.ts";
 * if (stdinIsTerminal()) console.error("pipe the key in");
 * ```
 *
 * @returns True on a terminal.
 */
export function stdinIsTerminal(): boolean {
  return isDeno() ? Deno.stdin.isTerminal() : nodeProcess().stdin.isTTY === true;
}

/**
 * Write text to standard output, completely, before returning.
 *
 * @example
 * ```ts
 * import { writeStdout } from "./_runtime.ts";
 * await writeStdout("done\n");
 * ```
 *
 * @param text The text.
 * @returns When all is written.
 */
export async function writeStdout(text: string): Promise<void> {
  if (isDeno()) await writeAll(Deno.stdout, new TextEncoder().encode(text));
  else if (isBun()) await bun().write(bun().stdout, text);
  else await new Promise<void>((resolve) => nodeProcess().stdout.write(text, resolve));
}

/**
 * Write text to standard error, completely, before returning.
 *
 * @example
 * ```ts
 * import { writeStderr } from "./_runtime.ts";
 * await writeStderr("warning: …\n");
 * ```
 *
 * @param text The text.
 * @returns When all is written.
 */
export async function writeStderr(text: string): Promise<void> {
  if (isDeno()) await writeAll(Deno.stderr, new TextEncoder().encode(text));
  else if (isBun()) await bun().write(bun().stderr, text);
  else await new Promise<void>((resolve) => nodeProcess().stderr.write(text, resolve));
}

export async function writeAll(
  target: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
) {
  for (let offset = 0; offset < data.length;) offset += await target.write(data.subarray(offset));
}

/**
 * Read all of standard input as text (the credential helper's and `--access-key-stdin`'s input).
 *
 * @example
 * ```ts
 * import { readStdin } from "./_runtime.ts";
 * const serverUrl = (await readStdin()).trim();
 * ```
 *
 * @returns Everything until end of input.
 */
export async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  if (isBun()) {
    // The stream's reader, not Bun.stdin.text(): about a millisecond less of every helper call.
    const reader = bun().stdin.stream().getReader();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      chunks.push(chunk.value);
    }
  } else if (isDeno()) {
    // Deno.stdin.read, not Deno.stdin.readable: setting up the web stream costs 5-13 ms.
    const buffer = new Uint8Array(16 * 1024);
    for (let n = await Deno.stdin.read(buffer); n !== null; n = await Deno.stdin.read(buffer)) {
      chunks.push(buffer.slice(0, n));
    }
  } else {
    for await (const chunk of nodeProcess().stdin) chunks.push(chunk);
  }
  return new TextDecoder().decode(concat(chunks));
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/**
 * Leave with an exit code.
 *
 * @example
 * ```ts
 * import { exit } from "./_runtime.ts";
 * exit(0);
 * ```
 *
 * @param code The exit code.
 * @returns Never.
 */
export function exit(code: number): never {
  return isDeno() ? Deno.exit(code) : nodeProcess().exit(code);
}

/** What the file system says of a path. */
export interface FileInfo {
  /** The permission bits (`0o7777`). */
  mode: number;
  mtimeMs: number;
  /** What it is: a regular file, a folder, a symlink (only from {@linkcode linkInfo}), … */
  kind: FileKind;
  isFile: boolean;
  /** The owner's user id; undefined where the system has none (Windows). */
  uid?: number;
  /** The inode number; undefined where the system has none. */
  ino?: number;
}

/** The kinds of file system entries, from the type bits of `st_mode`. */
export type FileKind = "file" | "folder" | "symlink" | "FIFO" | "socket" | "device" | "unknown";

function fileKind(fullMode: number | null | undefined, isFile: boolean, isDirectory: boolean) {
  switch ((fullMode ?? 0) & 0o170000) {
    case 0o100000:
      return "file";
    case 0o040000:
      return "folder";
    case 0o120000:
      return "symlink";
    case 0o010000:
      return "FIFO";
    case 0o140000:
      return "socket";
    case 0o020000:
    case 0o060000:
      return "device";
  }
  // Windows reports no type bits.
  return isFile ? "file" : isDirectory ? "folder" : "unknown";
}

/**
 * A file kind for messages about a file that is not what it should be.
 *
 * @param kind The kind.
 * @returns "a FIFO", "a folder", "a symlink", …
 */
export function describeFileKind(kind: FileKind): string {
  return kind === "unknown" ? "a special file" : `a ${kind}`;
}

interface StatLike {
  mode: number | null;
  mtimeMs?: number;
  mtime?: Date | null;
  uid: number | null;
  ino: number | null;
  isFile: boolean | (() => boolean);
  isDirectory: boolean | (() => boolean);
}

function toFileInfo(stats: StatLike): FileInfo {
  const isFile = typeof stats.isFile === "function" ? stats.isFile() : stats.isFile;
  const isDirectory = typeof stats.isDirectory === "function"
    ? stats.isDirectory()
    : stats.isDirectory;
  const kind = fileKind(stats.mode, isFile, isDirectory);
  return {
    mode: (stats.mode ?? 0o600) & 0o7777,
    mtimeMs: stats.mtimeMs ?? stats.mtime?.getTime() ?? 0,
    kind,
    isFile: kind === "file",
    ...(stats.uid !== null && !isWindows() ? { uid: stats.uid } : {}),
    ...(stats.ino !== null && stats.ino !== 0 ? { ino: stats.ino } : {}),
  };
}

export function isNotFound(error: unknown): boolean {
  return (isDeno() && error instanceof Deno.errors.NotFound) ||
    (error as { code?: string })?.code === "ENOENT";
}

export function isPermissionDenied(error: unknown): boolean {
  return (isDeno() && error instanceof Deno.errors.PermissionDenied) ||
    ["EACCES", "EPERM"].includes((error as { code?: string })?.code ?? "");
}

export function isAlreadyExists(error: unknown): boolean {
  return (isDeno() && error instanceof Deno.errors.AlreadyExists) ||
    (error as { code?: string })?.code === "EEXIST";
}

/** Deno refuses /proc and the sys calls without the permissions they need (NotCapable). */
export function isNotPermitted(error: unknown): boolean {
  return isDeno() && (error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied);
}

/** `node:fs` for its synchronous calls (Bun, Node): Bun's own require is the cheaper way in. */
async function fsSync(): Promise<typeof import("node:fs")> {
  return isBun() ? requireFsSyncOnBun() : await loadFsSync();
}

/** Read a text file; undefined when it does not exist. */
export async function readTextFile(path: string): Promise<string | undefined> {
  try {
    if (isDeno()) return await Deno.readTextFile(path);
    // Bun.file().text() drops a UTF-8 BOM; the docker config's backup must keep the bytes.
    if (isBun()) {
      const bytes = await bun().file(path).arrayBuffer();
      return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    }
    return await (await loadFs()).readFile(path, "utf8");
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** A file read by {@linkcode readRegularFile}: its text (only for a regular file) and its info. */
export interface RegularFile {
  /** The text; undefined when the path is not a regular file, which is then not opened. */
  text?: string;
  /** What fstat (or lstat with `noFollow`) says of it. */
  info: FileInfo;
}

/**
 * Read a file only if it is a regular file. A FIFO, device, socket or folder in its place is not
 * read (a FIFO would wait for a writer for ever): its info comes back without text. With
 * `noFollow`, a symlink is not followed (and comes back as one). Deno checks before opening;
 * elsewhere the file is opened non-blocking and checked with fstat.
 *
 * @example
 * ```ts
 * import { readRegularFile } from "./_runtime.ts";
 * const file = await readRegularFile("/etc/hostname");
 * if (file?.text !== undefined) console.log(file.text);
 * ```
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
    if (isDeno()) {
      // Synchronous stat calls: on the helper's hot path an async call's trip through Deno's
      // thread pool costs more than the call itself, and stat never waits on a FIFO.
      const info = toFileInfo(options.noFollow ? Deno.lstatSync(path) : Deno.statSync(path));
      if (!info.isFile) return { info };
      return { info, text: await Deno.readTextFile(path) };
    }
    const fs = await fsSync();
    const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
    let fd: number;
    try {
      fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | (options.noFollow ? O_NOFOLLOW : 0));
    } catch (error) {
      // O_NOFOLLOW refuses a symlink with ELOOP: describe the link itself.
      if ((error as { code?: string })?.code !== "ELOOP" || !options.noFollow) throw error;
      return { info: toFileInfo(fs.lstatSync(path)) };
    }
    try {
      const info = toFileInfo(fs.fstatSync(fd));
      if (!info.isFile) return { info };
      const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(fs.readFileSync(fd));
      return { info, text };
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * What the file system says of a path, following symlinks.
 *
 * @param path The path.
 * @returns Its info; undefined when it does not exist.
 */
export async function fileInfo(path: string): Promise<FileInfo | undefined> {
  try {
    if (isDeno()) return toFileInfo(await Deno.stat(path));
    return toFileInfo(await (await loadFs()).stat(path));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * What the file system says of a path itself, without following a symlink (lstat).
 *
 * @param path The path.
 * @returns Its info; undefined when it does not exist.
 */
export async function linkInfo(path: string): Promise<FileInfo | undefined> {
  try {
    if (isDeno()) return toFileInfo(Deno.lstatSync(path));
    return toFileInfo((await fsSync()).lstatSync(path));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

let cachedUserId: Promise<number | undefined> | undefined;

/**
 * This process's (effective) user id, for checking who owns a folder before trusting it. Deno
 * gives it only with `--allow-sys=uid` (asked without a prompt); without it, the owner of a file
 * this process creates in `probeDir` (and removes at once) tells.
 *
 * @param probeDir A folder this process may write to, used only on Deno without the permission.
 * @returns The user id; undefined on Windows, or when the probe cannot be written.
 */
export function currentUserId(probeDir: string): Promise<number | undefined> {
  cachedUserId ??= (async () => {
    if (isWindows()) return undefined;
    if (!isDeno()) return nodeProcess().getuid?.();
    // Deno may prompt for a permission only on a terminal; elsewhere (the credential helper's
    // input is Docker's pipe) asking directly costs half what querying first does.
    if (!Deno.stdin.isTerminal()) {
      try {
        return Deno.uid() ?? undefined;
      } catch (error) {
        if (!isNotPermitted(error)) throw error;
      }
    } else if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
      return Deno.uid() ?? undefined;
    }
    const probe = joinPath(probeDir, `.uid-probe-${Deno.pid}-${randomId()}`);
    try {
      const file = await Deno.open(probe, { write: true, createNew: true, mode: 0o600 });
      try {
        return (await file.stat()).uid ?? undefined;
      } finally {
        file.close();
        await Deno.remove(probe);
      }
    } catch (error) {
      if (isNotFound(error) || isPermissionDenied(error) || isNotPermitted(error)) {
        return undefined;
      }
      throw error;
    }
  })();
  return cachedUserId;
}

/** A random name part, for temporary files and lock stamps. */
export function randomId(): string {
  return crypto.getRandomValues(new Uint32Array(2)).join("-");
}

/**
 * The SHA-256 of a text, in hex: the name of a token's cache file. Bun has a native hasher; on
 * Deno the first WebCrypto digest costs about 3 ms of start-up (a tenth of a cached helper call),
 * so a plain implementation of FIPS 180-4 does it, checked against NIST's vectors and WebCrypto.
 *
 * @param text The text (UTF-8).
 * @returns 64 hex digits.
 */
export function sha256Hex(text: string): string {
  if (isBun()) return new (bun().CryptoHasher)("sha256").update(text).digest("hex");
  return Array.from(
    sha256(new TextEncoder().encode(text)),
    (word) => (word >>> 0).toString(16).padStart(8, "0"),
  ).join("");
}

let sha256Constants: Uint32Array | undefined;

/** SHA-256's 64 round constants: the first 32 bits of the fractions of the first 64 primes' cube roots. */
function roundConstants(): Uint32Array {
  if (sha256Constants) return sha256Constants;
  const primes: number[] = [];
  for (let candidate = 2; primes.length < 64; candidate++) {
    if (primes.every((prime) => candidate % prime !== 0)) primes.push(candidate);
  }
  sha256Constants = Uint32Array.from(primes, (prime) => (Math.cbrt(prime) % 1) * 2 ** 32);
  return sha256Constants;
}

/** SHA-256 (FIPS 180-4) of some bytes, as eight 32-bit words. */
function sha256(bytes: Uint8Array): Uint32Array {
  const k = roundConstants();
  // The initial hash: the first 32 bits of the fractions of the first 8 primes' square roots.
  const hash = Uint32Array.from(
    [2, 3, 5, 7, 11, 13, 17, 19],
    (prime) => (Math.sqrt(prime) % 1) * 2 ** 32,
  );
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 2 ** 29));
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);
  const w = new Uint32Array(64);
  const rotate = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, h] = hash;
    for (let i = 0; i < 64; i++) {
      const t1 = h + (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) + ((e & f) ^ (~e & g)) + k[i] +
        w[i];
      const t2 = (rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      [h, g, f, e, d, c, b, a] = [g, f, e, (d + t1) | 0, c, b, a, (t1 + t2) | 0];
    }
    hash[0] += a;
    hash[1] += b;
    hash[2] += c;
    hash[3] += d;
    hash[4] += e;
    hash[5] += f;
    hash[6] += g;
    hash[7] += h;
  }
  return hash;
}

export function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/** The last part of a path, after its last `/` (or `\\`). */
export function basename(path: string): string {
  return path.split(/[\\/]/).pop()!;
}

export function dirname(path: string): string {
  const index = path.replace(/\/+$/, "").lastIndexOf("/");
  return index <= 0 ? (index === 0 ? "/" : ".") : path.slice(0, index);
}

export function homeDirectory(): string {
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) throw new UsageError("Cannot find the home folder: set HOME");
  return home;
}
