/**
 * Internal: the runtime adapter on Node (the GitHub Action's runtime), with `node:*` modules
 * loaded only when first used. Bun's adapter (`bun.ts`) is this one with Bun's faster ways in.
 *
 * @example
 * ```ts
 * import { nodeAdapter } from "./node.ts";
 * console.log(nodeAdapter.name());
 * ```
 *
 * @module
 */

import { loadChildProcess, loadFs, loadFsSync, loadOs } from "../../deps.ts";
import type { Child, ChildOptions, RuntimeAdapter, SpawnResult } from "./adapter.ts";
import { concat, errorCode, readUpTo, toFileInfo } from "./common.ts";

/** The parts of Node's `process` global that sauce-registry uses. */
interface NodeProcess {
  env: Record<string, string | undefined>;
  argv: string[];
  argv0: string;
  pid: number;
  execPath: string;
  platform: string;
  version: string;
  stdin: AsyncIterable<Uint8Array> & { isTTY?: boolean };
  stdout: { write(chunk: string | Uint8Array, callback?: () => void): boolean; isTTY?: boolean };
  stderr: { write(chunk: string | Uint8Array, callback?: () => void): boolean; isTTY?: boolean };
  on(event: string, listener: () => void): void;
  off(event: string, listener: () => void): void;
  exit(code?: number): never;
  getuid?: () => number;
}

/** Node's `process` global (also Bun's). */
export function nodeProcess(): NodeProcess {
  return (globalThis as unknown as { process: NodeProcess }).process;
}

const windows = () => nodeProcess().platform === "win32";

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

let childProcess: typeof import("node:child_process") | undefined;

function startChild(program: string, args: readonly string[], options: ChildOptions): Child {
  const inherit = options.inheritStdio === true;
  const child = childProcess!.spawn(program, [...args], {
    env: options.env ?? environment(),
    stdio: [
      options.stdin !== undefined ? "pipe" : inherit ? "inherit" : "ignore",
      inherit ? "inherit" : "pipe",
      inherit ? "inherit" : "pipe",
    ],
  });
  const stdout: Uint8Array[] = [];
  const stderr: Uint8Array[] = [];
  child.stdout?.on("data", (chunk: Uint8Array) => stdout.push(chunk));
  child.stderr?.on("data", (chunk: Uint8Array) => stderr.push(chunk));
  if (child.stdin) {
    child.stdin.on("error", () => {/* the child closed its input early */});
    child.stdin.end(options.stdin);
  }
  const finished = new Promise<SpawnResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      const decoder = new TextDecoder();
      resolve({
        code: code ?? 128 + (SIGNAL_NUMBERS[signal ?? ""] ?? 0),
        signal: signal ?? undefined,
        stdout: decoder.decode(concat(stdout)),
        stderr: decoder.decode(concat(stderr)),
      });
    });
  });
  return { kill: (signal) => void child.kill(signal), finished };
}

function environment(): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const [key, value] of Object.entries(nodeProcess().env)) {
    if (value !== undefined) copy[key] = value;
  }
  return copy;
}

/** Write to a Node stream and wait until it has taken the text. */
function writeStream(stream: NodeProcess["stdout"], text: string): Promise<void> {
  return new Promise<void>((resolve) => stream.write(text, resolve));
}

/** How `node:fs` (for its synchronous calls) is loaded: Bun has a cheaper way in than Node. */
export type FsSyncLoader = () => Promise<typeof import("node:fs")> | typeof import("node:fs");

/**
 * The runtime adapter of a runtime with Node's API.
 *
 * @param loadFsSync How to load `node:fs`.
 * @returns The adapter.
 */
export function nodeLikeAdapter(loadFsSync: FsSyncLoader): RuntimeAdapter {
  const fsSync = async () => await loadFsSync();
  return {
    name: () => `Node ${nodeProcess().version}`,
    env: (name) => nodeProcess().env[name],
    setEnv(name, value) {
      const variables = nodeProcess().env;
      if (value === undefined) delete variables[name];
      else variables[name] = value;
    },
    environment,
    processId: () => nodeProcess().pid,
    os: () => windows() ? "windows" : nodeProcess().platform,
    commandLineArgs: () => nodeProcess().argv.slice(2),
    programName: () => nodeProcess().argv0.split(/[\\/]/).pop()!.replace(/\.exe$/i, ""),
    stdinIsTerminal: () => nodeProcess().stdin.isTTY === true,
    stderrIsTerminal: () => nodeProcess().stderr.isTTY === true,
    writeStdout: (text) => writeStream(nodeProcess().stdout, text),
    writeStderr: (text) => writeStream(nodeProcess().stderr, text),
    readStdin(limit) {
      const iterator = nodeProcess().stdin[Symbol.asyncIterator]();
      return readUpTo(async () => {
        const { done, value } = await iterator.next();
        return done ? undefined : value;
      }, limit);
    },
    exit: (code) => nodeProcess().exit(code),
    currentUserId: () => Promise.resolve(windows() ? undefined : nodeProcess().getuid?.()),
    userId: () => nodeProcess().getuid?.(),
    isNotFound: (error) => errorCode(error) === "ENOENT",
    isPermissionDenied: (error) => ["EACCES", "EPERM"].includes(errorCode(error) ?? ""),
    isAlreadyExists: (error) => errorCode(error) === "EEXIST",
    isNotPermitted: () => false,
    readTextFile: async (path) => await (await loadFs()).readFile(path, "utf8"),
    async readRegularFile(path, noFollow) {
      // Opened non-blocking and checked with fstat: a FIFO would otherwise wait for a writer.
      const fs = await fsSync();
      const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
      let fd: number;
      try {
        fd = fs.openSync(path, O_RDONLY | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0));
      } catch (error) {
        const code = errorCode(error);
        if (code === "ENOENT") return undefined;
        // O_NOFOLLOW refuses a symlink with ELOOP: describe the link itself.
        if (code !== "ELOOP" || !noFollow) throw error;
        return { info: toFileInfo(fs.lstatSync(path), windows()) };
      }
      try {
        const info = toFileInfo(fs.fstatSync(fd), windows());
        if (!info.isFile) return { info };
        const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(fs.readFileSync(fd));
        return { info, text };
      } finally {
        fs.closeSync(fd);
      }
    },
    async fileInfo(path, follow) {
      const stats = follow ? await (await loadFs()).stat(path) : (await fsSync()).lstatSync(path);
      return toFileInfo(stats, windows());
    },
    readLink: async (path) => await (await loadFs()).readlink(path),
    async createNew(path, data, mode, sync) {
      const fs = await loadFs();
      let handle;
      try {
        handle = await fs.open(path, "wx", mode);
      } catch (error) {
        if (errorCode(error) === "EEXIST") return false;
        throw error;
      }
      try {
        await handle.writeFile(new TextEncoder().encode(data));
        if (sync) await handle.sync();
      } catch (error) {
        await handle.close();
        await fs.rm(path, { force: true });
        throw error;
      }
      await handle.close();
      return true;
    },
    async syncDirectory(path) {
      if (windows()) return; // Windows cannot open a folder for this
      const handle = await (await loadFs()).open(path, "r");
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    makeSymlink: async (target, path) => await (await loadFs()).symlink(target, path),
    async changeMode(path, mode) {
      if (!windows()) await (await loadFs()).chmod(path, mode);
    },
    renameFile: async (from, to) => await (await loadFs()).rename(from, to),
    copyFile: async (from, to) => await (await loadFs()).copyFile(from, to),
    async removePath(path, recursive) {
      await (await loadFs()).rm(path, { recursive, force: true });
    },
    async makeDirectory(path, mode) {
      await (await loadFs()).mkdir(path, { recursive: true, mode });
    },
    listDirectory: async (path) => await (await loadFs()).readdir(path),
    async makeTempDirectory(prefix, parent) {
      const base = parent ?? (await loadOs()).tmpdir();
      return await (await loadFs()).mkdtemp(`${base.replace(/[\\/]+$/, "")}/${prefix}`);
    },
    async touch(path) {
      const now = new Date();
      await (await loadFs()).utimes(path, now, now);
    },
    // Node and Bun read the proxy variables when fetch is called.
    fetchDirect: (url, init) => ({ response: fetch(url, init), close: () => {} }),
    onSignal(signal, listener) {
      nodeProcess().on(signal, listener);
      return () => nodeProcess().off(signal, listener);
    },
    async prepareToSpawn() {
      childProcess ??= await loadChildProcess();
    },
    startChild,
    launcher() {
      throw new Error("install-helper runs under Deno, Bun or the standalone binary, not Node");
    },
  };
}

/** The runtime adapter on Node. */
export const nodeAdapter: RuntimeAdapter = nodeLikeAdapter(loadFsSync);
