/**
 * Internal: processes — telling one apart from another (a PID is reused, and containers sharing a
 * folder each have their own PID 1), and running programs: the abort signal and this process's
 * termination signals reach the child, its output is read while its input is written.
 *
 * @example
 * ```ts
 * import { spawn } from "./process.ts";
 * const { code } = await spawn("echo", ["hello"]);
 * ```
 *
 * @module
 */

import { errorText, SauceRegistryError, ToolError } from "./errors.ts";
import {
  children,
  environment,
  isNotFound,
  isNotPermitted,
  isPermissionDenied,
  onTerminationSignal,
  processId,
  readLink,
  readTextFile,
  type TerminationSignal,
} from "./runtime.ts";
import type { ChildSignal, SpawnResult } from "./runtime/adapter.ts";

export type { SpawnResult };

/** What the kernel says of a running process, from `/proc/<pid>/stat`. */
export interface ProcessStat {
  /** The state letter: R, S, D, T, Z (zombie), X (dead), … */
  state: string;
  /** The start time, in clock ticks after boot (field 22): with the PID, it names one process. */
  startTime: string;
}

async function readProc(path: string): Promise<string> {
  const text = await readTextFile(path);
  if (text === undefined) throw Object.assign(new Error(`${path}: not found`), { code: "ENOENT" });
  return text;
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
    text = await readProc(`/proc/${pid}/stat`);
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
    await readProc("/proc/self/stat");
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
 * where /proc can be read.
 *
 * @returns The identity (computed once).
 */
export function processIdentity(): Promise<ProcessIdentity> {
  identity ??= (async () => {
    const pid = processId();
    const [stat, pidNamespace, bootId] = await Promise.all([
      readProc("/proc/self/stat").catch(unreadable),
      readLink("/proc/self/ns/pid").catch(unreadable),
      readProc("/proc/sys/kernel/random/boot_id").catch(unreadable),
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

/**
 * The environment for a container tool this library runs: this process's, less the Sauce access
 * key, which no tool needs (it gets a token password on stdin or in a private file instead).
 */
export function toolEnvironment(): Record<string, string> {
  const { SAUCE_ACCESS_KEY: _accessKey, ...rest } = environment();
  return rest;
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

const SIGNAL_NUMBERS: Record<ChildSignal, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
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
    await children.prepareToSpawn();
    // Getting ready may have taken a turn of the event loop: the operation may have been stopped.
    if (options.signal?.aborted) throw notStarted(program, options.signal.reason);
    const early = supervisor.earlySignal();
    if (early) return { code: 128 + SIGNAL_NUMBERS[early], signal: early, stdout: "", stderr: "" };
    const child = children.startChild(program, args, options);
    supervisor.attach((signal) => child.kill(signal));
    return await child.finished;
  } catch (error) {
    if (error instanceof SauceRegistryError) throw error;
    throw new ToolError(
      program,
      isNotFound(error)
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

/** What {@linkcode superviseChild} gives {@linkcode spawn}. */
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
    ? onTerminationSignal((signal: TerminationSignal) =>
      send(received++ === 0 ? signal : "SIGKILL")
    )
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

/** The first 8 hex digits of a boot id: enough to tell boots apart in a file name. */
function shortBootId(bootId: string): string {
  return bootId.replaceAll("-", "").slice(0, 8);
}

/** The number of a PID namespace link (`pid:[4026531836]` → `4026531836`). */
function namespaceNumber(pidNamespace: string): string {
  return /\d+/.exec(pidNamespace)?.[0] ?? pidNamespace;
}

/**
 * A process that owns something (a lock, a private folder, a temporary file), as recorded when it
 * made it: its PID, with what tells it apart from a later process under the same PID.
 */
export interface ProcessOwner {
  /** The process id, in the owner's PID namespace. */
  pid: number;
  /** Its start time (ticks after boot). */
  startTime?: string;
  /** Its boot id (whole, or its first 8 hex digits). */
  bootId?: string;
  /** Its PID namespace (`pid:[N]`, or N). */
  pidNamespace?: string;
}

/**
 * Whether an owner still runs, as far as this process can tell. Only an owner of this boot and
 * this PID namespace can be looked up in /proc; any other is "unknown" (a container that shares
 * a folder with the host numbers its processes differently, and a cache on a network volume may
 * be shared by machines): its entries must be judged some other way, or left alone.
 *
 * @param owner The owner, as recorded.
 * @returns "alive" (the same process runs), "gone" (no such process, a zombie, or another
 * process under its PID) or "unknown".
 */
export async function ownerState(owner: ProcessOwner): Promise<"alive" | "gone" | "unknown"> {
  const me = await processIdentity();
  if (
    !me.startTime || !me.bootId || !me.pidNamespace || !owner.startTime || !owner.bootId ||
    !owner.pidNamespace || shortBootId(owner.bootId) !== shortBootId(me.bootId) ||
    namespaceNumber(owner.pidNamespace) !== namespaceNumber(me.pidNamespace)
  ) {
    return "unknown";
  }
  const stat = await processStat(owner.pid);
  if (stat === "unknown" || stat === "gone") return stat;
  const same = stat.startTime === owner.startTime && stat.state !== "Z" && stat.state !== "X";
  return same ? "alive" : "gone";
}

/**
 * This process as a file name part, `PID-BOOT.NAMESPACE.START` (see {@linkcode ownerInName}):
 * what names the files and folders it may leave behind if killed.
 *
 * @returns The name part; undefined where /proc cannot tell (then nothing is swept either).
 */
export async function ownerNamePart(): Promise<string | undefined> {
  const me = await processIdentity();
  if (!me.startTime || !me.bootId || !me.pidNamespace) return undefined;
  return `${me.pid}-${shortBootId(me.bootId)}.${namespaceNumber(me.pidNamespace)}.${me.startTime}`;
}

/** The pattern of {@linkcode ownerNamePart}: PID, boot, namespace, start time. */
export const OWNER_NAME_PART = /(\d+)-([0-9a-f]{8})\.(\d+)\.(\d+)/;

/**
 * The owner a name part of {@linkcode ownerNamePart} records.
 *
 * @param match A match of {@linkcode OWNER_NAME_PART} (groups 1 to 4).
 * @returns The owner.
 */
export function ownerInName(match: RegExpExecArray): ProcessOwner {
  const [, pid, bootId, pidNamespace, startTime] = match;
  return { pid: Number(pid), bootId, pidNamespace, startTime };
}
