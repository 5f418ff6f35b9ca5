/**
 * Internal: sauce-registry's own files — settings read only when they are regular files (and,
 * for those that say where the access key goes, only when no one else can have written them),
 * the one rule of whose files and folders to trust ({@linkcode ownershipProblem}), writes that
 * are atomic and durable, edits under a cross-process lock (`lock.ts`, loaded when needed),
 * private folders, and the one sweep of what killed processes left behind.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./files.ts";
 * await writeFileAtomic("/tmp/example.json", "{}\n", 0o600);
 * ```
 *
 * @module
 */

import { ConfigError, errorText, SauceRegistryError, UsageError } from "./errors.ts";
import { basename, dirname, joinPath, resolveSymlinks } from "./paths.ts";
import type { LockOptions } from "./lock.ts";
import { OWNER_NAME_PART, ownerInName, ownerNamePart, ownerState } from "./process.ts";
import {
  changeMode,
  createSynced,
  currentUserId,
  describeFileKind,
  env,
  type FileInfo,
  fileInfo,
  isNotFound,
  isPermissionDenied,
  isWindows,
  linkInfo,
  listDirectory,
  makeDirectory,
  makeTempDirectory,
  randomId,
  readRegularFile,
  removePath,
  renameFile,
  syncDirectory,
} from "./runtime.ts";

/** Options of {@linkcode readSettingsText}. */
export interface SettingsReadOptions {
  /**
   * Read it only when it is this user's or root's, and no one else can write to it
   * ({@linkcode ownershipProblem} with `rootMayOwn`): for a file that says where the access key
   * is sent (the registries file), which another user must not be able to point elsewhere.
   *
   * Symlinks are followed, and the file they lead to is judged (its status comes from the read
   * itself, so it is the file whose text is returned): `configure-docker` writes through a
   * symlink to its target too, so a registries file kept elsewhere (dotfiles) goes on working,
   * while a symlink another user planted leads to a file of theirs, which its owner refuses, or
   * to one of root's or this user's, whose text they do not control. (The token cache refuses
   * symlinks because it writes into its folder; nothing is written here.)
   *
   * @default false
   */
  trusted?: boolean;
}

/**
 * A settings file's text (the registries file, a Docker config, saucectl's file, a `.env` file);
 * undefined when it does not exist. `/dev/null` reads as empty (how to say "no env file").
 *
 * @param path The file.
 * @param options `trusted`: only a file this user or root alone can have written.
 * @returns Its text.
 * @throws {ConfigError} When it is not a regular file (a FIFO would wait for a writer for ever),
 * or, with `trusted`, when someone else owns it or can write to it.
 */
export async function readSettingsText(
  path: string,
  options: SettingsReadOptions = {},
): Promise<string | undefined> {
  if (path === "/dev/null") return "";
  const file = await readRegularFile(path);
  if (file === undefined) return undefined;
  if (file.text === undefined) {
    throw new ConfigError(
      path,
      `it is ${describeFileKind(file.info.kind)}, not a regular file; it was left unchanged`,
    );
  }
  if (options.trusted) {
    // Deno without --allow-sys learns its user id from a file it makes (and removes) beside this.
    const uid = await currentUserId(dirname(path));
    const problem = ownershipProblem(file.info, { expected: "file", uid, rootMayOwn: true });
    if (problem) {
      throw new ConfigError(
        path,
        `${problem}; it says where the access key is sent, so only this user or root may write it`,
      );
    }
  }
  return file.text;
}

/** What {@linkcode ownershipProblem} holds a file or folder to. */
export interface OwnershipRules {
  /** What it must be. */
  expected: "folder" | "file";
  /** This process's user id; undefined where the system has none or it cannot be told. */
  uid: number | undefined;
  /**
   * Whether root may own it too: a file root wrote (under /etc) is fine for any user, as root
   * could change this user's own files anyway.
   *
   * @default false
   */
  rootMayOwn?: boolean;
  /**
   * Whether this is Windows, which has neither owners nor mode bits as POSIX has them (Bun
   * reports 0666 for any writable file there, and chmod changes nothing): there only the kind
   * is checked.
   *
   * @default isWindows()
   */
  windows?: boolean;
}

/**
 * The one rule of trust for a file or folder another user could have planted: it is of the
 * expected kind, owned by this user (or by root, with `rootMayOwn`), and neither its group nor
 * others can write to it. The token cache holds its folder and files to it, and the registries
 * file ({@linkcode readSettingsText} with `trusted`).
 *
 * @example
 * ```ts
 * import { ownershipProblem } from "./files.ts";
 * const info = { mode: 0o660, mtimeMs: 0, kind: "file", isFile: true, uid: 1000 } as const;
 * ownershipProblem(info, { expected: "file", uid: 1000 }); // "others can write to it (mode 0660)"
 * ```
 *
 * @param info What stat, lstat or fstat said of it.
 * @param rules What it must be, and who this process is.
 * @returns Why it must not be trusted, or undefined when it may.
 */
export function ownershipProblem(info: FileInfo, rules: OwnershipRules): string | undefined {
  const { expected, uid } = rules;
  if (info.kind !== expected) {
    return `it is ${describeFileKind(info.kind)}, not a ${
      expected === "file" ? "regular file" : expected
    }`;
  }
  if (info.uid !== undefined && !(rules.rootMayOwn && info.uid === 0)) {
    if (uid === undefined) {
      return "this process cannot tell its own user id to check the owner (run Deno with --allow-sys=uid)";
    }
    if (info.uid !== uid) {
      const orRoot = rules.rootMayOwn && uid !== 0 ? " nor to root" : "";
      return `it belongs to user ${info.uid}, not to this user (${uid})${orRoot}`;
    }
  }
  if (!(rules.windows ?? isWindows()) && (info.mode & 0o022) !== 0) {
    return `others can write to it (mode 0${(info.mode & 0o777).toString(8)})`;
  }
  return undefined;
}

/**
 * Write a file so that readers see the old or the new content, never half, even after a power
 * loss: a temporary file in the same folder, flushed to the disk, then renamed over the target,
 * then the folder flushed so that the rename itself is on the disk.
 *
 * The temporary file is named `TARGET.tmp-OWNER-RANDOM` after its writer (see
 * {@linkcode sweepLeftovers}); a writer killed with SIGKILL leaves it behind, with a token or the
 * Docker config's credentials in it, and a later write of the same target removes it.
 *
 * @param path The file.
 * @param data Its new content.
 * @param mode Its permissions.
 */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temporary = await temporaryPathFor(path);
  try {
    if (!(await createSynced(temporary, data, mode))) {
      throw new SauceRegistryError(`Cannot write ${path}: ${temporary} exists`);
    }
    await changeMode(temporary, mode); // the umask may have narrowed it
    await renameFile(temporary, path);
  } catch (error) {
    await removePath(temporary);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Check, before anything is asked for or written, that a file can be replaced atomically at
 * `path` ({@linkcode writeFileAtomic}): its folder exists, and nothing or a regular file is
 * there. The rename would replace a symlink, a device or a FIFO rather than write through it
 * (`/dev/stdout` as root became a file), and cannot replace a folder.
 *
 * @param path The file to write.
 * @param what How the user named it (`--output`), for the message.
 * @throws {UsageError} When it cannot be written there, saying why.
 */
export async function checkReplaceable(path: string, what: string): Promise<void> {
  const folder = dirname(path);
  let folderInfo;
  try {
    folderInfo = await fileInfo(folder);
  } catch (error) {
    // A file where one of the path's folders should be (ENOTDIR), or one that cannot be looked in.
    throw new UsageError(`${what} ${path}: cannot look in ${folder} (${systemReason(error)})`);
  }
  if (folderInfo?.kind !== "folder") {
    throw new UsageError(
      `${what} ${path}: ${folder} ${folderInfo ? "is not a folder" : "does not exist"}`,
    );
  }
  const info = await linkInfo(path);
  if (info && info.kind !== "file") {
    throw new UsageError(
      `${what} ${path} is ${
        describeFileKind(info.kind)
      }, not a regular file: give the path of a file to write (it is replaced whole)`,
    );
  }
}

/**
 * A failure to write `path` as one line: the file the user named (not a temporary file it was
 * written through) and the system's reason, the same words on every runtime for the common ones.
 *
 * @param path The file.
 * @param error What the write threw.
 * @returns The error to throw; a {@linkcode SauceRegistryError} as it was.
 */
export function cannotWriteError(path: string, error: unknown): SauceRegistryError {
  if (error instanceof SauceRegistryError) return error;
  return new SauceRegistryError(`Cannot write ${path}: ${systemReason(error)}`, { cause: error });
}

/**
 * Why a file operation failed, without the paths the runtime puts in its message (which may be a
 * temporary file's): the same words on every runtime for the common reasons.
 */
function systemReason(error: unknown): string {
  if (isNotFound(error)) return "no such file or folder";
  if (isPermissionDenied(error)) return "permission denied";
  // Deno's "File exists (os error 17): mkdir '…'", Node's "EEXIST: file exists, mkdir '…'".
  return errorText(error).replace(/(?::|,) [a-z]+ '.*$/, "");
}

/**
 * A name beside `path` to write it under before renaming it over `path`: `TARGET.tmp-OWNER-RANDOM`
 * after this process, so that {@linkcode sweepLeftovers} can tell a leftover of a killed writer;
 * the leftovers of earlier writes of `path` are swept first.
 *
 * @param path The file to be replaced.
 * @returns The temporary path, not yet made.
 */
export async function temporaryPathFor(path: string): Promise<string> {
  const owner = await ownerNamePart();
  await sweepLeftovers(dirname(path), `${basename(path)}.tmp-`);
  return `${path}.tmp-${owner ?? `${randomId()}-unknown`}-${randomId()}`;
}

/** How old a leftover must be before a sweep removes it (its owner must be gone, too). */
export const LEFTOVER_AGE_MS = 60_000;

/**
 * Remove what processes that are gone left in `folder` under names that start with `prefix` and
 * go on with their owner ({@linkcode ownerNamePart}): temporary files of writes cut short,
 * private folders of `exec` and `push` runs killed with SIGKILL. An entry goes only when both
 * guards agree: its owner is gone as /proc tells in this boot and PID namespace (an owner of
 * another namespace, such as a container sharing `/tmp` with the host, is never judged), and it
 * was last changed over a minute ago.
 *
 * @param folder The folder.
 * @param prefix What the names start with, before the owner.
 * @param log Told about entries that could not be removed.
 */
export async function sweepLeftovers(
  folder: string,
  prefix: string,
  log?: (line: string) => void,
): Promise<void> {
  const pattern = new RegExp(`^${escapeRegExp(prefix)}${OWNER_NAME_PART.source}-`);
  let names: string[];
  try {
    names = await listDirectory(folder);
  } catch {
    return; // a folder that cannot be listed holds nothing this run can sweep
  }
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match || (await ownerState(ownerInName(match))) !== "gone") continue;
    const path = joinPath(folder, name);
    const info = await linkInfo(path).catch(() => undefined);
    if (!info || Date.now() - info.mtimeMs < LEFTOVER_AGE_MS) continue;
    try {
      await removePath(path, info.kind === "folder");
    } catch (error) {
      // In a shared temporary folder it may be another user's: theirs to remove. This run goes on.
      log?.(`cannot remove the abandoned ${path}: ${errorText(error)}`);
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Private folders are named `sauce-registry-tmp-OWNER-RANDOM`. */
const PRIVATE_FOLDER_PREFIX = "sauce-registry-tmp-";

/**
 * Where private folders go: `$XDG_RUNTIME_DIR/sauce-registry` when `XDG_RUNTIME_DIR` exists (the
 * user's own, in memory, emptied when they log out), else the temporary folder (undefined).
 */
async function privateFoldersParent(): Promise<string | undefined> {
  const runtimeDir = env("XDG_RUNTIME_DIR");
  const info = runtimeDir ? await fileInfo(runtimeDir) : undefined;
  if (!runtimeDir || !info || info.isFile) return undefined;
  const parent = joinPath(runtimeDir, "sauce-registry");
  await makeDirectory(parent, 0o700);
  return parent;
}

/**
 * Make a private folder (0700) for exec, push and tool logins, named after this process, and
 * sweep the folders of processes that are gone ({@linkcode sweepLeftovers}): one killed with
 * SIGKILL cannot clean up, and its folder may hold a token.
 *
 * @param log Told about abandoned folders that could not be removed.
 * @returns The folder.
 */
export async function makePrivateFolder(log?: (line: string) => void): Promise<string> {
  const owner = await ownerNamePart();
  const dir = await makeTempDirectory(
    `${PRIVATE_FOLDER_PREFIX}${owner ?? `${randomId()}-unknown`}-`,
    await privateFoldersParent(),
  );
  await sweepLeftovers(dirname(dir), PRIVATE_FOLDER_PREFIX, log);
  return dir;
}

/**
 * Run `work` while holding a lock file, so that processes take turns (see `lock.ts`: who holds
 * a lock, and when a waiter breaks it). Loaded only when a lock is needed: not on the credential
 * helper's hot path.
 *
 * @param lockPath The lock file.
 * @param work What to do while holding it.
 * @param options Aborting stops the wait; `whileWaiting` can end it with what the holder made.
 * @returns What `work` returned (or `whileWaiting` found).
 */
export async function withFileLock<T>(
  lockPath: string,
  work: () => Promise<T>,
  options: LockOptions<T> = {},
): Promise<T> {
  const { holdLock } = await import("./lock.ts");
  return await holdLock(lockPath, work, options);
}

/** Options of {@linkcode updateFile}. */
export interface UpdateFileOptions extends SettingsReadOptions {
  /** Aborting stops the wait for the lock. */
  signal?: AbortSignal;
}

/**
 * Change a settings file safely: under a lock (concurrent writers lose nothing), following a
 * symlink to its target, keeping its mode (0600 for a new file) and one backup (`.bak`, 0600: it
 * can hold credentials that a later `docker logout` removed from the file), written atomically,
 * and only when `edit` returns new text (undefined: no change).
 *
 * @param path The file.
 * @param edit The new text from the old (undefined: the file does not exist).
 * @param options `signal`: aborting stops the wait for the lock; `trusted`: read under the lock
 * as {@linkcode readSettingsText} reads it (nothing is written when it is refused).
 * @returns Whether the file changed.
 */
export async function updateFile(
  path: string,
  edit: (existing: string | undefined) => string | undefined,
  options: UpdateFileOptions = {},
): Promise<boolean> {
  const target = await resolveSymlinks(path);
  await makeDirectory(dirname(target), 0o700);
  return await withFileLock(`${target}.lock`, async () => {
    const existing = await readSettingsText(target, options);
    const updated = edit(existing);
    if (updated === undefined) return false;
    const mode = (await fileInfo(target))?.mode ?? 0o600;
    if (existing !== undefined) await writeFileAtomic(`${target}.bak`, existing, 0o600);
    await writeFileAtomic(target, updated, mode);
    return true;
  }, { signal: options.signal });
}
