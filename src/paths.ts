/**
 * Internal: paths — where sauce-registry's files are (the Docker config, the registries file, the
 * token cache), taking paths apart and following symlinks, and finding programs on PATH.
 *
 * @example
 * ```ts
 * import { cacheDirectory, joinPath } from "./paths.ts";
 * console.log(joinPath(cacheDirectory(), "example.json"));
 * ```
 *
 * @module
 */

import { SauceRegistryError, UsageError } from "./errors.ts";
import { env, fileInfo, isPermissionDenied, isWindows, readLink } from "./runtime.ts";

/** Paths sauce-registry reads and writes; every one can be moved by an option or variable. */
export interface PathOptions {
  /** The Docker config folder; default `$DOCKER_CONFIG`, else `~/.docker`. */
  dockerConfigDir?: string;
  /** The registries file; default `$XDG_CONFIG_HOME/sauce-registry/registries.json`. */
  settingsFile?: string;
  /** The token cache folder; default `$XDG_CACHE_HOME/sauce-registry`, else `~/.cache/…`. */
  cacheDir?: string;
}

/** Join path parts with `/`. */
export function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/** The last part of a path, after its last `/` (or `\\`). */
export function basename(path: string): string {
  return path.split(/[\\/]/).pop()!;
}

/** The folder of a path: all before its last `/`. */
export function dirname(path: string): string {
  const index = path.replace(/\/+$/, "").lastIndexOf("/");
  return index <= 0 ? (index === 0 ? "/" : ".") : path.slice(0, index);
}

/** Whether a path is absolute, the POSIX way or the Windows way. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);
}

/** The user's home folder (`HOME`, else `USERPROFILE`). */
export function homeDirectory(): string {
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) throw new UsageError("Cannot find the home folder: set HOME");
  return home;
}

/** The Docker config file: in `dockerConfigDir`, else `$DOCKER_CONFIG`, else `~/.docker`. */
export function dockerConfigFile(options: PathOptions = {}): string {
  const dir = options.dockerConfigDir ?? env("DOCKER_CONFIG") ??
    joinPath(homeDirectory(), ".docker");
  return joinPath(dir, "config.json");
}

/** The registries file that `configure-docker` writes. */
export function settingsFile(options: PathOptions = {}): string {
  if (options.settingsFile) return options.settingsFile;
  return settingsFileIn(env("XDG_CONFIG_HOME") || joinPath(homeDirectory(), ".config"));
}

/** The registries file of a process whose `XDG_CONFIG_HOME` is `configHome`. */
export function settingsFileIn(configHome: string): string {
  return joinPath(configHome, "sauce-registry", "registries.json");
}

/** The token cache's folder. */
export function cacheDirectory(options: PathOptions = {}): string {
  if (options.cacheDir) return options.cacheDir;
  return cacheDirectoryIn(env("XDG_CACHE_HOME") || joinPath(homeDirectory(), ".cache"));
}

/** The token cache's folder of a process whose `XDG_CACHE_HOME` is `cacheHome`. */
export function cacheDirectoryIn(cacheHome: string): string {
  return joinPath(cacheHome, "sauce-registry");
}

/** Follow symlinks to the file they name; a path that does not exist yet is returned as is. */
export async function resolveSymlinks(path: string): Promise<string> {
  for (let hops = 0; hops < 32; hops++) {
    let target: string;
    try {
      target = await readLink(path);
    } catch (error) {
      if (isPermissionDenied(error)) throw error;
      return path; // not a symlink, or does not exist
    }
    path = isAbsolute(target) ? target : joinPath(dirname(path), target);
  }
  throw new SauceRegistryError(`Cannot follow ${path}: too many levels of symbolic links`);
}

/** The separator of PATH's folders: `;` on Windows, `:` elsewhere. */
export function pathListSeparator(windows: boolean = isWindows()): string {
  return windows ? ";" : ":";
}

/**
 * The file names under which a command can sit in a PATH folder: on Windows the name with each
 * extension of PATHEXT (default `.COM;.EXE;.BAT;.CMD`), as Windows and Go's exec.LookPath try
 * them, after the name itself when it already ends in one; elsewhere the name alone.
 */
export function executableNames(
  program: string,
  windows: boolean = isWindows(),
  pathext: string | undefined = env("PATHEXT"),
): string[] {
  if (!windows) return [program];
  const extensions = (pathext || ".COM;.EXE;.BAT;.CMD").split(";")
    .filter((extension) => extension.startsWith("."))
    .map((extension) => extension.toLowerCase());
  const named = extensions.some((extension) => program.toLowerCase().endsWith(extension));
  return [...(named ? [program] : []), ...extensions.map((extension) => program + extension)];
}

/** A program's file name: with `.exe` on Windows, where nothing runs without an extension. */
export function executableFileName(program: string, windows: boolean = isWindows()): string {
  return windows ? `${program}.exe` : program;
}

/**
 * Whether a command names a file by its path (`./run.sh`, `/usr/bin/env`, and on Windows also
 * `.\run.cmd`), which is run as it is, rather than a program looked for on PATH: as a shell
 * and Go's exec.LookPath tell them apart, by a separator in the name.
 */
export function namesFile(program: string, windows: boolean = isWindows()): boolean {
  return program.includes("/") || (windows && program.includes("\\"));
}

/** The first of a program's file names (`executableNames`) under `dir` that can be run. */
async function executableIn(dir: string | undefined, program: string): Promise<string | undefined> {
  // On Windows `docker-credential-saucelabs` is found as `docker-credential-saucelabs.exe`.
  for (const name of executableNames(program)) {
    const candidate = dir === undefined ? name : joinPath(dir, name);
    // A file where a folder of the path should be (ENOTDIR), or a folder this user cannot look
    // in: nothing runnable there either.
    const info = await fileInfo(candidate).catch(() => undefined);
    if (info?.isFile && (isWindows() || (info.mode & 0o111) !== 0)) return candidate;
  }
  return undefined;
}

/**
 * Find a program on PATH, without running it.
 *
 * @param program The program's name (on Windows also found with an extension from `PATHEXT`).
 * @returns Its path, or undefined when it is not on PATH.
 */
export async function findOnPath(program: string): Promise<string | undefined> {
  for (const dir of (env("PATH") ?? "").split(pathListSeparator())) {
    if (!dir) continue;
    const found = await executableIn(dir, program);
    if (found) return found;
  }
  return undefined;
}

/**
 * Find the file a command would run, without running it: the file its path names (see
 * {@linkcode namesFile}), when that is an executable file, else the program found on PATH.
 *
 * @param program A program's name or a file's path.
 * @returns The file, or undefined when there is none to run.
 */
export async function findProgram(program: string): Promise<string | undefined> {
  return namesFile(program) ? await executableIn(undefined, program) : await findOnPath(program);
}
