/**
 * Internal: putting `docker-credential-saucelabs` on PATH for the way this program runs — a
 * symlink to the standalone binary, or a two-line script that runs Deno or Bun with flags that
 * load nothing from the folder Docker runs the helper in.
 *
 * @example
 * ```ts
 * import { installHelper } from "./install_helper.ts";
 * import { launcher } from "./runtime.ts";
 * const { path } = await installHelper(launcher(import.meta.url), "/usr/local/bin");
 * ```
 *
 * @module
 */

import { UsageError } from "./errors.ts";
import { cannotWriteError, temporaryPathFor, writeFileAtomic } from "./files.ts";
import { HELPER_PROGRAM } from "./helper.ts";
import { executableFileName, homeDirectory, joinPath, pathListSeparator } from "./paths.ts";
import { shellQuote } from "./quote.ts";
import {
  copyFileTo,
  describeFileKind,
  env,
  fileInfo,
  isRootUser,
  isWindows,
  type Launcher,
  makeDirectory,
  makeSymlink,
  removePath,
  renameFile,
} from "./runtime.ts";

/**
 * How Bun must run sauce-registry's script so that nothing of the working folder (often a cloned
 * repository) is loaded: no `.env` (sauce-registry reads it itself, where it may), no
 * `bunfig.toml` (its `preload` runs code) and no `tsconfig.json` (its `paths` redirect imports),
 * in the folder or above it. Bun looks for all three from the working folder, whatever the
 * script's own folder.
 */
export const BUN_RUN_FLAGS: readonly string[] = [
  "--no-env-file",
  "--config=/dev/null",
  "--tsconfig-override=/dev/null",
];

/**
 * How the credential helper's Deno wrapper runs sauce-registry's script: `--no-config`, so that no
 * `deno.json` of the working folder (or above it) swaps modules in; no prompt (Docker's stdin is
 * a pipe); and only the permissions the tool needs, `--allow-sys=uid` included so that the cache's
 * owner can be checked without a probe file.
 */
export const DENO_HELPER_FLAGS: readonly string[] = [
  "--quiet",
  "--no-prompt",
  "--no-config",
  "--allow-net",
  "--allow-env",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-sys=uid",
];

/** What {@linkcode installHelper} wrote. */
export interface InstallHelperResult {
  /** The `docker-credential-saucelabs` file or symlink. */
  path: string;
  /** Whether its folder is on PATH, where Docker looks. */
  onPath: boolean;
}

/**
 * Put `docker-credential-saucelabs` in a folder: for a compiled binary a symlink to it (it acts
 * as the helper under that name; on Windows a copy named `docker-credential-saucelabs.exe`), else
 * a two-line script that runs this program's script with Deno or Bun and the `credential-helper`
 * command. Docker runs the helper in whatever folder the user is in, so the script keeps the
 * runtime from loading anything of that folder: Deno with `--no-config`, Bun with
 * `--no-env-file --config=/dev/null --tsconfig-override=/dev/null`.
 *
 * @example
 * ```ts
 * import { installHelper, launcher } from "@saucelabs-community/sauce-registry";
 * const { path } = await installHelper(launcher(import.meta.url), "/usr/local/bin");
 * ```
 *
 * @param how How this program was started ({@linkcode launcher}).
 * @param dir The folder; default `/usr/local/bin` as root, else `~/.local/bin`.
 * @returns The path written and whether its folder is on PATH.
 * @throws {UsageError} On Windows when the program is not the standalone binary, and for an
 * empty `dir` (which would put the helper in `/`).
 */
export async function installHelper(how: Launcher, dir?: string): Promise<InstallHelperResult> {
  if (dir === "") throw new UsageError("The helper's folder is empty: expected a folder's path");
  const folder =
    (dir ?? (isRootUser() ? "/usr/local/bin" : joinPath(homeDirectory(), ".local", "bin")))
      .replace(/(.)\/+$/, "$1");
  const path = joinPath(folder, executableFileName(HELPER_PROGRAM));
  if (isWindows() && how.kind !== "compiled") {
    throw new UsageError(
      "install-helper on Windows needs the standalone binary (sauce-registry-<version>-windows-x64.exe): Docker cannot run a shell script as a credential helper there",
    );
  }
  let existing;
  try {
    existing = await fileInfo(folder);
  } catch (error) {
    throw cannotWriteError(path, error); // a file where one of its folders should be (ENOTDIR)
  }
  if (existing && existing.kind !== "folder") {
    throw new UsageError(
      `The helper's folder ${folder} is ${describeFileKind(existing.kind)}, not a folder`,
    );
  }
  try {
    await makeDirectory(folder, 0o755);
    await writeHelper(how, path);
  } catch (error) {
    throw cannotWriteError(path, error);
  }
  const onPath = (env("PATH") ?? "").split(pathListSeparator()).includes(folder);
  return { path, onPath };
}

/**
 * Put the helper at `path`, replacing what is there in one rename, so that a pull running
 * meanwhile finds the old helper or the new one, never none.
 */
async function writeHelper(how: Launcher, path: string): Promise<void> {
  if (how.kind === "compiled") {
    // Made beside it, then renamed over it. Windows lets only administrators make symlinks: a
    // copy answers the same.
    const temporary = await temporaryPathFor(path);
    try {
      await (isWindows()
        ? copyFileTo(how.program, temporary)
        : makeSymlink(how.program, temporary));
      await renameFile(temporary, path);
    } catch (error) {
      await removePath(temporary);
      throw error;
    }
  } else {
    const runner = how.kind === "bun"
      ? `exec ${shellQuote(how.program)} ${BUN_RUN_FLAGS.join(" ")} ${
        shellQuote(how.script!)
      } credential-helper "$@"`
      : `exec ${shellQuote(how.program)} run ${DENO_HELPER_FLAGS.join(" ")} ${
        shellQuote(how.script!)
      } credential-helper "$@"`;
    await writeFileAtomic(
      path,
      `#!/bin/sh\n# Written by sauce-registry install-helper\n${runner}\n`,
      0o755,
    );
  }
}
