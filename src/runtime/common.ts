/**
 * Internal: what the runtime adapters share — reading `stat` results of either shape, joining
 * byte chunks, writing a buffer whole, reading a stream up to a limit. Plain code, no runtime API.
 *
 * @example
 * ```ts
 * import { concat } from "./common.ts";
 * concat([new Uint8Array([1]), new Uint8Array([2])]); // Uint8Array [1, 2]
 * ```
 *
 * @module
 */

import { type FileInfo, type FileKind, InputTooLargeError } from "./adapter.ts";

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

/** What `Deno.stat` and `node:fs` `stat` both return, as far as sauce-registry reads it. */
export interface StatLike {
  mode: number | null;
  mtimeMs?: number;
  mtime?: Date | null;
  uid: number | null;
  ino: number | null;
  isFile: boolean | (() => boolean);
  isDirectory: boolean | (() => boolean);
}

/**
 * A stat result as a {@linkcode FileInfo}. Windows has no owners (Bun reports uid 0 there): the
 * uid is left out on Windows.
 *
 * @param stats What the runtime's stat returned.
 * @param windows Whether this is Windows.
 * @returns The info.
 */
export function toFileInfo(stats: StatLike, windows: boolean): FileInfo {
  const isFile = typeof stats.isFile === "function" ? stats.isFile() : stats.isFile;
  const isDirectory = typeof stats.isDirectory === "function"
    ? stats.isDirectory()
    : stats.isDirectory;
  const kind: FileKind = fileKind(stats.mode, isFile, isDirectory);
  return {
    mode: (stats.mode ?? 0o600) & 0o7777,
    mtimeMs: stats.mtimeMs ?? stats.mtime?.getTime() ?? 0,
    kind,
    isFile: kind === "file",
    ...(stats.uid !== null && !windows ? { uid: stats.uid } : {}),
    ...(stats.ino !== null && stats.ino !== 0 ? { ino: stats.ino } : {}),
  };
}

/** Join byte chunks into one array. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/** Write all of `data` to a writer that may take part of it at a time. */
export async function writeAll(
  target: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  for (let offset = 0; offset < data.length;) offset += await target.write(data.subarray(offset));
}

/**
 * Collect chunks of standard input up to `limit` bytes, then decode them.
 *
 * @param next The next chunk, or undefined at the end.
 * @param limit The most bytes taken.
 * @returns The text.
 * @throws {InputTooLargeError} When there is more; the rest is not read.
 */
export async function readUpTo(
  next: () => Promise<Uint8Array | undefined>,
  limit: number,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let chunk = await next(); chunk !== undefined; chunk = await next()) {
    size += chunk.length;
    if (size > limit) throw new InputTooLargeError(limit);
    chunks.push(chunk);
  }
  return new TextDecoder().decode(concat(chunks));
}

/** The error's `code` (`ENOENT`, …), where it has one. */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" ? code : undefined;
}
