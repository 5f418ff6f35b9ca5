/**
 * Internal: the rest of the runtime adapter (its core, which the credential helper's hot path
 * loads, is `_runtime.ts`): signals, spawning programs, writing files and folders, processes and
 * their identity, the proxy-aware fetch, PATH. Not public API.
 *
 * @example
 * ```ts
 * import { spawn } from "./_system.ts";
 * const { code } = await spawn("echo", ["hello"]);
 * ```
 *
 * @module
 */

import { loadChildProcess, loadFs, loadOs } from "./deps.ts";
import { errorText, SauceRegistryError, ToolError } from "./_errors.ts";
import {
  bun,
  concat,
  dirname,
  env,
  fileInfo,
  isAlreadyExists,
  isBun,
  isDeno,
  isNotFound,
  isNotPermitted,
  isPermissionDenied,
  isWindows,
  joinPath,
  nodeProcess,
  processId,
  writeAll,
} from "./_runtime.ts";

type ChildSignal = TerminationSignal | "SIGKILL";

/** Set an environment variable of this process, or remove it (undefined). */
function setEnv(name: string, value: string | undefined): void {
  if (isDeno()) {
    if (value === undefined) Deno.env.delete(name);
    else Deno.env.set(name, value);
  } else {
    const variables = isBun() ? bun().env : nodeProcess().env;
    if (value === undefined) delete variables[name];
    else variables[name] = value;
  }
}

/**
 * `fetch`, then `read` the answer while its connection is open. With `direct`, never through a
 * proxy: both runtimes send even a loopback URL through HTTP_PROXY/HTTPS_PROXY, which would hand
 * the request, Authorization header included, in plain text to a proxy elsewhere. Deno reads the
 * proxy variables when an HTTP client is made and Bun when fetch is called, so NO_PROXY (and
 * no_proxy) names the host only for that moment, then is put back as it was (children never see
 * the change).
 *
 * @example
 * ```ts
 * import { fetchAndRead } from "./_runtime.ts";
 * const text = await fetchAndRead(new URL("http://127.0.0.1:8080/"), {}, true, (r) => r.text());
 * ```
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
  let client: Deno.HttpClient | undefined;
  let answer: Promise<Response>;
  for (const name of names) setEnv(name, url.hostname.replace(/^\[|\]$/g, ""));
  try {
    if (isDeno()) client = Deno.createHttpClient({});
    answer = fetch(url, client ? { ...init, client } : init);
  } finally {
    names.forEach((name, index) => setEnv(name, saved[index]));
  }
  try {
    return await read(await answer);
  } finally {
    client?.close();
  }
}

export function environment(): Record<string, string> {
  if (isDeno()) return Deno.env.toObject();
  const copy: Record<string, string> = {};
  for (const [key, value] of Object.entries(nodeProcess().env)) {
    if (value !== undefined) copy[key] = value;
  }
  return copy;
}

/**
 * The environment for a container tool this library runs: this process's, less the Sauce access
 * key, which no tool needs (it gets a token password on stdin or in a private file instead).
 */
export function toolEnvironment(): Record<string, string> {
  const { SAUCE_ACCESS_KEY: _accessKey, ...rest } = environment();
  return rest;
}

/** The signals that ask a process to end, which sauce-registry handles to clean up first. */
export type TerminationSignal = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGQUIT";

const TERMINATION_SIGNALS: readonly TerminationSignal[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
];

/**
 * Run a handler when this process receives SIGINT, SIGTERM, SIGHUP or SIGQUIT (a closed terminal
 * must not leave temporary credentials behind either).
 *
 * @example
 * ```ts
 * import { onTerminationSignal } from "./_runtime.ts";
 * const stop = onTerminationSignal((signal) => console.error(`got ${signal}`));
 * stop();
 * ```
 *
 * @param handler Called with the signal's name.
 * @returns The function that removes the handler.
 */
export function onTerminationSignal(
  handler: (signal: TerminationSignal) => void,
): () => void {
  const signals: readonly TerminationSignal[] = isWindows() ? ["SIGINT"] : TERMINATION_SIGNALS;
  const listeners = signals.map((signal) => [signal, () => handler(signal)] as const);
  for (const [signal, listener] of listeners) {
    if (isDeno()) Deno.addSignalListener(signal, listener);
    else nodeProcess().on(signal, listener);
  }
  return () => {
    for (const [signal, listener] of listeners) {
      if (isDeno()) Deno.removeSignalListener(signal, listener);
      else nodeProcess().off(signal, listener);
    }
  };
}

/** Set a file's modification time to now (a lock's heartbeat); false when it is gone. */
export async function touchFile(path: string): Promise<boolean> {
  const now = new Date();
  try {
    if (isDeno()) await Deno.utime(path, now, now);
    else await (await loadFs()).utimes(path, now, now);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Follow symlinks to the file they name; a path that does not exist yet is returned as is. */
export async function resolveSymlinks(path: string): Promise<string> {
  for (let hops = 0; hops < 32; hops++) {
    let target: string;
    try {
      target = isDeno() ? await Deno.readLink(path) : await (await loadFs()).readlink(path);
    } catch (error) {
      if (isPermissionDenied(error)) throw error;
      return path; // not a symlink, or does not exist
    }
    path = isAbsolute(target) ? target : joinPath(dirname(path), target);
  }
  throw new SauceRegistryError(`Cannot follow ${path}: too many levels of symbolic links`);
}

/** Create a file only if it does not exist; false when it already did. */
export async function createExclusive(path: string, data: string, mode: number): Promise<boolean> {
  try {
    if (isDeno()) await Deno.writeTextFile(path, data, { createNew: true, mode });
    else await (await loadFs()).writeFile(path, data, { flag: "wx", mode });
    return true;
  } catch (error) {
    if (isAlreadyExists(error)) return false;
    throw error;
  }
}

export async function copyFileTo(from: string, to: string): Promise<void> {
  if (isDeno()) await Deno.copyFile(from, to);
  else await (await loadFs()).copyFile(from, to);
}

/**
 * Create a file only if it does not exist, write it and flush it to the disk (fsync) before
 * returning, so that a rename over another file can never leave an empty one after a crash.
 *
 * @param path The new file.
 * @param data Its content.
 * @param mode Its permissions (the umask may narrow them).
 * @returns False when the file already existed (nothing was written).
 */
export async function createSynced(path: string, data: string, mode: number): Promise<boolean> {
  const bytes = new TextEncoder().encode(data);
  try {
    if (isDeno()) {
      const file = await Deno.open(path, { write: true, createNew: true, mode });
      try {
        await writeAll(file, bytes);
        await file.sync();
      } finally {
        file.close();
      }
    } else {
      const handle = await (await loadFs()).open(path, "wx", mode);
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    return true;
  } catch (error) {
    if (isAlreadyExists(error)) return false;
    throw error;
  }
}

/**
 * Flush a folder's entries to the disk (fsync on the folder), so that a rename in it survives a
 * crash. Windows cannot open a folder for this: there it does nothing.
 *
 * @param path The folder.
 */
export async function syncDirectory(path: string): Promise<void> {
  if (isWindows()) return;
  if (isDeno()) {
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
    return;
  }
  const handle = await (await loadFs()).open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function makeSymlink(target: string, path: string): Promise<void> {
  if (isDeno()) await Deno.symlink(target, path);
  else await (await loadFs()).symlink(target, path);
}

export async function changeMode(path: string, mode: number): Promise<void> {
  if (isWindows()) return;
  if (isDeno()) await Deno.chmod(path, mode);
  else await (await loadFs()).chmod(path, mode);
}

export async function renameFile(from: string, to: string): Promise<void> {
  if (isDeno()) await Deno.rename(from, to);
  else await (await loadFs()).rename(from, to);
}

export async function removePath(path: string, recursive = false): Promise<void> {
  try {
    if (isDeno()) await Deno.remove(path, { recursive });
    else await (await loadFs()).rm(path, { recursive, force: true });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function makeDirectory(path: string, mode: number): Promise<void> {
  if (isDeno()) await Deno.mkdir(path, { recursive: true, mode });
  else await (await loadFs()).mkdir(path, { recursive: true, mode });
}

export async function listDirectory(path: string): Promise<string[]> {
  try {
    if (isDeno()) return (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name);
    return await (await loadFs()).readdir(path);
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** Make a new folder (0700) named `prefix` and random characters, in `parent` or the temp folder. */
export async function makeTempDirectory(prefix: string, parent?: string): Promise<string> {
  const path = isDeno()
    ? await Deno.makeTempDir({ prefix, dir: parent })
    : await (await loadFs()).mkdtemp(joinPath(parent ?? (await loadOs()).tmpdir(), prefix));
  await changeMode(path, 0o700);
  return path;
}

/**
 * The runtime's name and version, for diagnostics.
 *
 * @example
 * ```ts
 * import { runtimeName } from "./_runtime.ts";
 * console.log(runtimeName()); // "Deno 2.9.6"
 * ```
 *
 * @returns For example `Deno 2.9.6` or `Bun 1.4.5`.
 */
export function runtimeName(): string {
  if (isBun()) return `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`;
  return isDeno() ? `Deno ${Deno.version.deno}` : "unknown";
}

/**
 * Whether this process runs as root (install-helper then installs for every user).
 *
 * @example
 * ```ts
 * import { isRootUser } from "./_runtime.ts";
 * console.log(isRootUser());
 * ```
 *
 * @returns True for user id 0.
 */
export function isRootUser(): boolean {
  return userId() === 0;
}

/** This process's user id; undefined where there is none (Windows). Deno needs --allow-sys=uid. */
export function userId(): number | undefined {
  return isDeno() ? Deno.uid() ?? undefined : nodeProcess().getuid?.();
}

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

/** How the running program was started. */
export interface Launcher {
  /** A standalone binary, or a script run by Deno or Bun. */
  kind: "compiled" | "deno" | "bun";
  /** The executable: the binary itself, or the runtime. */
  program: string;
  /** The script's path or URL, when a runtime runs one. */
  script?: string;
}

/**
 * How the running program was started, so that a helper script can start it the same way.
 *
 * @example
 * ```ts
 * import { launcher } from "./_runtime.ts";
 * console.log(launcher(import.meta.url).kind);
 * ```
 *
 * @param entry The entry module's `import.meta.url`.
 * @returns The kind, the executable and the script.
 */
export function launcher(entry: string): Launcher {
  const main = new URL(entry);
  const compiled = main.pathname.includes("/$bunfs/") || main.pathname.includes("/$deno$/") ||
    (isDeno() && Deno.mainModule.includes("/deno-compile-"));
  const program = isDeno() ? Deno.execPath() : nodeProcess().execPath;
  if (compiled) return { kind: "compiled", program };
  const script = main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href;
  return { kind: isBun() ? "bun" : "deno", program, script };
}

/** What the kernel says of a running process, from `/proc/<pid>/stat`. */
export interface ProcessStat {
  /** The state letter: R, S, D, T, Z (zombie), X (dead), … */
  state: string;
  /** The start time, in clock ticks after boot (field 22): with the PID, it names one process. */
  startTime: string;
}

async function readProcFile(path: string): Promise<string> {
  return isDeno() ? await Deno.readTextFile(path) : await (await loadFs()).readFile(path, "utf8");
}

/**
 * Read `/proc/<pid>/stat`: whether the process exists, its state and its start time.
 *
 * @param pid The process id, as this process's PID namespace numbers it.
 * @returns Its stat; "gone" when no such process exists; "unknown" where /proc cannot be read
 * (not Linux, or Deno without `--allow-all`).
 */
export async function processStat(pid: number | "self"): Promise<ProcessStat | "gone" | "unknown"> {
  let text: string;
  try {
    text = await readProcFile(`/proc/${pid}/stat`);
  } catch (error) {
    if (isNotPermitted(error)) return "unknown";
    // A process that exits while its /proc entry is read fails the read with ESRCH, not ENOENT.
    if (isNotFound(error) || (error as { code?: string })?.code === "ESRCH") {
      return pid === "self" || !(await procIsMounted()) ? "unknown" : "gone";
    }
    throw error;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], startTime: fields[19] };
}

async function procIsMounted(): Promise<boolean> {
  try {
    await readProcFile("/proc/self/stat");
    return true;
  } catch (error) {
    if (isNotFound(error) || isNotPermitted(error)) return false;
    throw error;
  }
}

/** What tells this process apart from every other, where /proc can be read. */
export interface ProcessIdentity {
  /** The process id. */
  pid: number;
  /** Its start time (ticks after boot), when /proc shows this process under its own id. */
  startTime?: string;
  /** The kernel's boot id: start times count from that boot. */
  bootId?: string;
  /** The PID namespace (`pid:[4026531836]`): PIDs mean something only inside one. */
  pidNamespace?: string;
}

let identity: Promise<ProcessIdentity> | undefined;

/**
 * This process's identity: its PID with its start time, the boot id and its PID namespace, each
 * where /proc can be read. A PID alone is reused, and containers sharing a folder each have a 1.
 *
 * @returns The identity (computed once).
 */
export function processIdentity(): Promise<ProcessIdentity> {
  identity ??= (async () => {
    const pid = processId();
    const [stat, pidNamespace, bootId] = await Promise.all([
      readProcFile("/proc/self/stat").catch(unreadable),
      readLinkText("/proc/self/ns/pid").catch(unreadable),
      readProcFile("/proc/sys/kernel/random/boot_id").catch(unreadable),
    ]);
    // /proc mounted for another PID namespace shows this process under another number: then its
    // entries say nothing a process of this namespace could check.
    if (stat === undefined || Number(stat.slice(0, stat.indexOf(" "))) !== pid) return { pid };
    const startTime = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    return {
      pid,
      startTime,
      ...(bootId ? { bootId: bootId.trim() } : {}),
      ...(pidNamespace ? { pidNamespace } : {}),
    };
  })();
  return identity;
}

/** Undefined for what /proc does not have or does not let this process read; else rethrow. */
function unreadable(error: unknown): undefined {
  if (isNotFound(error) || isNotPermitted(error) || isPermissionDenied(error)) return undefined;
  throw error;
}

async function readLinkText(path: string): Promise<string> {
  return isDeno() ? await Deno.readLink(path) : await (await loadFs()).readlink(path);
}

/**
 * A short tag that tells a process apart from a later one the system gives the same PID: the boot
 * it runs in and its start time, `BOOT.START` (from {@linkcode processStat} and
 * {@linkcode processIdentity}), short enough for a file name.
 *
 * @example
 * ```ts
 * import { processTag } from "./_runtime.ts";
 * console.log(await processTag()); // e.g. "b06ba002.1234567"
 * ```
 *
 * @param pid The process; default this one.
 * @returns Its tag; undefined when it is gone or has ended (a zombie), or where /proc cannot
 *   tell (for this process: only then).
 */
export async function processTag(pid: number = processId()): Promise<string | undefined> {
  const [stat, self] = await Promise.all([processStat(pid), processIdentity()]);
  if (typeof stat === "string" || stat.state === "Z" || stat.state === "X" || !self.bootId) {
    return undefined;
  }
  return `${self.bootId.replaceAll("-", "").slice(0, 8)}.${stat.startTime}`;
}

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

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  /** Written to the child's standard input, which is then closed. */
  stdin?: string;
  /** Let the child use this process's standard input, output and error (progress stays visible). */
  inheritStdio?: boolean;
  /** The child's whole environment; default this process's. */
  env?: Record<string, string>;
  /** Aborting sends SIGTERM to the child. */
  signal?: AbortSignal;
  /**
   * While the child runs, pass each termination signal this process gets on to it (a second one
   * as SIGKILL), so that the child ends as it would on its own and its exit code tells how.
   */
  forwardSignals?: boolean;
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

const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * Run a program: `Deno.Command` on Deno, `node:child_process` elsewhere. Standard input is the
 * given text (then closed) or nothing; output is captured while input is written.
 *
 * The abort signal and, with `forwardSignals`, this process's termination signals are listened
 * to before anything is awaited, so none is lost while the child starts: when the operation was
 * aborted already the program does not start (the abort's reason is thrown), and a termination
 * signal that came before the child existed keeps it from starting (the result then reads as if
 * that signal had ended it).
 *
 * @example
 * ```ts
 * import { spawn } from "./_runtime.ts";
 * const { code, stdout } = await spawn("echo", ["hello"]);
 * ```
 *
 * @param program The program, found on PATH.
 * @param args Its arguments (never secrets).
 * @param options Input, environment, abort signal.
 * @returns The exit code and output.
 * @throws {SauceRegistryError} When the operation was aborted before the program started.
 * @throws {ToolError} When the program cannot be started.
 */
export async function spawn(
  program: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Promise<SpawnResult> {
  const supervisor = superviseChild(options);
  try {
    if (options.signal?.aborted) throw notStarted(program, options.signal.reason);
    return isDeno()
      ? await spawnWithDeno(program, args, options, supervisor)
      : await spawnWithNode(program, args, options, supervisor);
  } catch (error) {
    if (error instanceof SauceRegistryError) throw error;
    const notFound = isNotFound(error);
    throw new ToolError(
      program,
      notFound
        ? `Cannot run ${program}: it is not installed or not on PATH`
        : `Cannot run ${program}: ${errorText(error)}`,
      { cause: error },
    );
  } finally {
    supervisor.release();
  }
}

function notStarted(program: string, reason: unknown): SauceRegistryError {
  return reason instanceof SauceRegistryError
    ? reason
    : new SauceRegistryError(`${program} was not started: the operation was aborted`, {
      cause: reason,
    });
}

/** What {@linkcode superviseChild} gives the runtime-specific spawners. */
interface ChildSupervisor {
  /** The signal that came before the child existed, if one did: then it must not start. */
  earlySignal(): ChildSignal | undefined;
  /** The child exists: pass signals (and an abort, as SIGTERM) on to it from now on. */
  attach(kill: (signal: ChildSignal) => void): void;
  /** Stop listening. */
  release(): void;
}

/**
 * Listen, synchronously, for what must reach the child: an abort becomes SIGTERM, forwarded
 * termination signals pass on (a second one as SIGKILL). Until the child exists they are held.
 */
function superviseChild(options: SpawnOptions): ChildSupervisor {
  let kill: ((signal: ChildSignal) => void) | undefined;
  let early: ChildSignal | undefined;
  let received = 0;
  const send = (signal: ChildSignal) => kill ? kill(signal) : (early ??= signal);
  const onAbort = () => send("SIGTERM");
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const stopForwarding = options.forwardSignals
    ? onTerminationSignal((signal) => send(received++ === 0 ? signal : "SIGKILL"))
    : () => {};
  return {
    earlySignal: () => early,
    attach(killChild) {
      kill = killChild;
    },
    release() {
      options.signal?.removeEventListener("abort", onAbort);
      stopForwarding();
    },
  };
}

/** The result of a child that a signal kept from starting: as if that signal had ended it. */
function signalledBeforeStart(signal: ChildSignal): SpawnResult {
  return { code: 128 + SIGNAL_NUMBERS[signal], signal, stdout: "", stderr: "" };
}

async function spawnWithDeno(
  program: string,
  args: readonly string[],
  options: SpawnOptions,
  supervisor: ChildSupervisor,
): Promise<SpawnResult> {
  const early = supervisor.earlySignal();
  if (early) return signalledBeforeStart(early);
  const inherit = options.inheritStdio === true;
  const child = new Deno.Command(program, {
    args: [...args],
    env: options.env,
    clearEnv: options.env !== undefined,
    stdin: options.stdin !== undefined ? "piped" : inherit ? "inherit" : "null",
    stdout: inherit ? "inherit" : "piped",
    stderr: inherit ? "inherit" : "piped",
  }).spawn();
  supervisor.attach((signal) => {
    try {
      child.kill(signal);
    } catch {
      // the child has already exited
    }
  });
  const writing = options.stdin === undefined
    ? Promise.resolve()
    : writeAndClose(child.stdin, options.stdin);
  const [output] = await Promise.all([
    inherit ? child.status.then((status) => ({ ...status, stdout: null, stderr: null })) : child
      .output(),
    writing,
  ]);
  const decoder = new TextDecoder();
  return {
    code: output.code,
    signal: output.signal ?? undefined,
    stdout: output.stdout ? decoder.decode(output.stdout) : "",
    stderr: output.stderr ? decoder.decode(output.stderr) : "",
  };
}

async function writeAndClose(
  stream: WritableStream<Uint8Array>,
  text: string,
): Promise<void> {
  const writer = stream.getWriter();
  try {
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch {
    // the child closed its input early (it did not want it); its exit status tells the rest
  }
}

async function spawnWithNode(
  program: string,
  args: readonly string[],
  options: SpawnOptions,
  supervisor: ChildSupervisor,
): Promise<SpawnResult> {
  const { spawn: nodeSpawn } = await loadChildProcess();
  // Loading took a turn of the event loop: the operation may have been stopped meanwhile.
  if (options.signal?.aborted) throw notStarted(program, options.signal.reason);
  const early = supervisor.earlySignal();
  if (early) return signalledBeforeStart(early);
  const inherit = options.inheritStdio === true;
  const child = nodeSpawn(program, [...args], {
    env: options.env ?? environment(),
    stdio: [
      options.stdin !== undefined ? "pipe" : inherit ? "inherit" : "ignore",
      inherit ? "inherit" : "pipe",
      inherit ? "inherit" : "pipe",
    ],
  });
  supervisor.attach((signal) => child.kill(signal));
  const stdout: Uint8Array[] = [];
  const stderr: Uint8Array[] = [];
  child.stdout?.on("data", (chunk: Uint8Array) => stdout.push(chunk));
  child.stderr?.on("data", (chunk: Uint8Array) => stderr.push(chunk));
  if (child.stdin) {
    child.stdin.on("error", () => {/* the child closed its input early */});
    child.stdin.end(options.stdin);
  }
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  const decoder = new TextDecoder();
  return {
    code: code ?? 128 + (SIGNAL_NUMBERS[signal ?? ""] ?? 0),
    signal: signal ?? undefined,
    stdout: decoder.decode(concat(stdout)),
    stderr: decoder.decode(concat(stderr)),
  };
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

function isAbsolute(path: string): boolean {
  return path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);
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
 * Find a program on PATH, without running it.
 *
 * @example
 * ```ts
 * import { findOnPath } from "./_runtime.ts";
 * console.log(await findOnPath("docker-credential-saucelabs"));
 * ```
 *
 * @param program The program's name (on Windows also found with an extension from `PATHEXT`).
 * @returns Its path, or undefined when it is not on PATH.
 */
export async function findOnPath(program: string): Promise<string | undefined> {
  for (const dir of (env("PATH") ?? "").split(pathListSeparator())) {
    if (!dir) continue;
    // On Windows `docker-credential-saucelabs` is found as `docker-credential-saucelabs.exe`.
    for (const name of executableNames(program)) {
      const candidate = joinPath(dir, name);
      const info = await fileInfo(candidate);
      if (info?.isFile && (isWindows() || (info.mode & 0o111) !== 0)) return candidate;
    }
  }
  return undefined;
}
