/**
 * Internal: the runtime adapter on Deno, with `Deno.*` APIs only (Deno's Node layer costs
 * milliseconds to load, which the credential helper's hot path cannot spare).
 *
 * @example
 * ```ts
 * import { denoAdapter } from "./deno.ts";
 * console.log(denoAdapter.name());
 * ```
 *
 * @module
 */

import type { Child, ChildOptions, RuntimeAdapter, SpawnResult } from "./adapter.ts";
import { concat, errorCode, readUpTo, toFileInfo, writeAll } from "./common.ts";

const windows = () => Deno.build.os === "windows";

function basename(path: string): string {
  return path.split(/[\\/]/).pop()!;
}

/** This process's user id once a probe told it; a probe that could not is tried again. */
let knownUserId: number | undefined;

function isNotPermitted(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || errorCode(error) === "ENOENT";
}

function isPermissionDenied(error: unknown): boolean {
  return error instanceof Deno.errors.PermissionDenied ||
    ["EACCES", "EPERM"].includes(errorCode(error) ?? "");
}

/**
 * The user id. Deno gives it only with `--allow-sys=uid` (asked without a prompt); without it,
 * the owner of a file created in `probeDir` (and removed at once) tells.
 */
async function probeUserId(probeDir: string): Promise<number | undefined> {
  if (windows()) return undefined;
  // Deno may prompt for a permission only on a terminal; elsewhere (the credential helper's input
  // is Docker's pipe) asking directly costs half what querying first does.
  if (!Deno.stdin.isTerminal()) {
    try {
      return Deno.uid() ?? undefined;
    } catch (error) {
      if (!isNotPermitted(error)) throw error;
    }
  } else if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
    return Deno.uid() ?? undefined;
  }
  const random = crypto.getRandomValues(new Uint32Array(2)).join("-");
  const probe = `${probeDir}/.uid-probe-${Deno.pid}-${random}`;
  try {
    const file = await Deno.open(probe, { write: true, createNew: true, mode: 0o600 });
    try {
      return (await file.stat()).uid ?? undefined;
    } finally {
      file.close();
      await Deno.remove(probe);
    }
  } catch (error) {
    if (
      isNotFound(error) || isPermissionDenied(error) || isNotPermitted(error) ||
      errorCode(error) === "EROFS"
    ) return undefined;
    throw error;
  }
}

/** The rest of an open file, as text (a UTF-8 byte order mark is kept, as Node's read keeps it). */
function readAllText(file: Deno.FsFile): string {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(16 * 1024);
  for (let n = file.readSync(buffer); n !== null; n = file.readSync(buffer)) {
    chunks.push(buffer.slice(0, n));
  }
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(concat(chunks));
}

function startChild(program: string, args: readonly string[], options: ChildOptions): Child {
  const inherit = options.inheritStdio === true;
  const child = new Deno.Command(program, {
    args: [...args],
    env: options.env,
    clearEnv: options.env !== undefined,
    stdin: options.stdin !== undefined ? "piped" : inherit ? "inherit" : "null",
    stdout: inherit ? "inherit" : "piped",
    stderr: inherit ? "inherit" : "piped",
  }).spawn();
  const writing = options.stdin === undefined
    ? Promise.resolve()
    : writeAndClose(child.stdin, options.stdin);
  const finished = (async (): Promise<SpawnResult> => {
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
  })();
  return {
    kill(signal) {
      try {
        child.kill(signal);
      } catch {
        // the child has already exited
      }
    },
    finished,
  };
}

async function writeAndClose(stream: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = stream.getWriter();
  try {
    await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch {
    // the child closed its input early (it did not want it); its exit status tells the rest
  }
}

/** The runtime adapter on Deno. */
export const denoAdapter: RuntimeAdapter = {
  name: () => `Deno ${Deno.version.deno}`,
  env: (name) => Deno.env.get(name),
  setEnv(name, value) {
    if (value === undefined) Deno.env.delete(name);
    else Deno.env.set(name, value);
  },
  environment: () => Deno.env.toObject(),
  processId: () => Deno.pid,
  os: () => Deno.build.os,
  commandLineArgs: () => [...Deno.args],
  programName() {
    // The `process` global costs ~20 ms of start-up: `deno run`, whose executable is Deno's own,
    // is answered without it when reading is allowed, as asking for the executable's path needs.
    // Only a compiled binary, which is its own executable, can run under another name.
    if (Deno.permissions.querySync({ name: "read" }).state === "granted") {
      const executable = basename(Deno.execPath()).replace(/\.exe$/i, "");
      if (executable === "deno") return executable;
    }
    const argv0 = (globalThis as unknown as { process: { argv0: string } }).process.argv0;
    return basename(argv0).replace(/\.exe$/i, "");
  },
  stdinIsTerminal: () => Deno.stdin.isTerminal(),
  stderrIsTerminal: () => Deno.stderr.isTerminal(),
  writeStdout: (text) => writeAll(Deno.stdout, new TextEncoder().encode(text)),
  writeStderr: (text) => writeAll(Deno.stderr, new TextEncoder().encode(text)),
  readStdin(limit, interruptible) {
    // Deno.stdin.read(Sync), not Deno.stdin.readable: setting up the web stream costs 5-13 ms.
    // readSync where it may block: each async read is a trip through Deno's thread pool.
    const buffer = new Uint8Array(16 * 1024);
    return readUpTo(async () => {
      const n = interruptible ? await Deno.stdin.read(buffer) : Deno.stdin.readSync(buffer);
      return n === null ? undefined : buffer.slice(0, n);
    }, limit);
  },
  exit: (code) => Deno.exit(code),
  // A probe that cannot tell (a folder this process cannot write to: the registries file under
  // /etc) leaves the next one (the cache folder) free to.
  currentUserId: async (probeDir) => knownUserId ??= await probeUserId(probeDir),
  userId: () => Deno.uid() ?? undefined,
  isNotFound,
  isPermissionDenied,
  isAlreadyExists: (error) =>
    error instanceof Deno.errors.AlreadyExists || errorCode(error) === "EEXIST",
  isNotPermitted,
  readTextFile: (path) => Deno.readTextFile(path),
  readRegularFile(path, noFollow) {
    // Synchronous calls: on the helper's hot path an async call's trip through Deno's thread
    // pool costs more than the call itself, and stat never waits on a FIFO. The stat only keeps
    // what is not a regular file from being opened (a FIFO put in its place after the stat would
    // block the async read as well); the info returned is the open file's own (fstat), so that it
    // describes the text read even when the path changed in between: the registries file's owner
    // is checked on it, and that file may sit in another user's folder, where they can swap it.
    try {
      const seen = toFileInfo(noFollow ? Deno.lstatSync(path) : Deno.statSync(path), windows());
      if (!seen.isFile) return Promise.resolve({ info: seen });
      const file = Deno.openSync(path);
      try {
        const info = toFileInfo(file.statSync(), windows());
        return Promise.resolve(info.isFile ? { info, text: readAllText(file) } : { info });
      } finally {
        file.close();
      }
    } catch (error) {
      if (isNotFound(error)) return Promise.resolve(undefined);
      return Promise.reject(error);
    }
  },

  async fileInfo(path, follow) {
    return toFileInfo(follow ? await Deno.stat(path) : Deno.lstatSync(path), windows());
  },
  readLink: (path) => Deno.readLink(path),
  async createNew(path, data, mode, sync) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, createNew: true, mode });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
    try {
      await writeAll(file, new TextEncoder().encode(data));
      if (sync) await file.sync();
    } catch (error) {
      file.close();
      await Deno.remove(path).catch(() => {});
      throw error;
    }
    file.close();
    return true;
  },
  async syncDirectory(path) {
    if (windows()) return; // Windows cannot open a folder for this
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } finally {
      dir.close();
    }
  },
  makeSymlink: (target, path) => Deno.symlink(target, path),
  async changeMode(path, mode) {
    if (!windows()) await Deno.chmod(path, mode);
  },
  renameFile: (from, to) => Deno.rename(from, to),
  copyFile: (from, to) => Deno.copyFile(from, to),
  async removePath(path, recursive) {
    try {
      await Deno.remove(path, { recursive });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  },
  makeDirectory: (path, mode) => Deno.mkdir(path, { recursive: true, mode }),
  async listDirectory(path) {
    return (await Array.fromAsync(Deno.readDir(path))).map((entry) => entry.name);
  },
  makeTempDirectory: (prefix, parent) => Deno.makeTempDir({ prefix, dir: parent }),
  async touch(path) {
    const now = new Date();
    await Deno.utime(path, now, now);
  },
  fetchDirect(url, init) {
    // Deno reads the proxy variables when an HTTP client is made: a client of its own, now.
    const client = Deno.createHttpClient({});
    return { response: fetch(url, { ...init, client }), close: () => client.close() };
  },
  onSignal(signal, listener) {
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  },
  prepareToSpawn: () => Promise.resolve(),
  startChild,
  launcher(entry) {
    const main = new URL(entry);
    const program = Deno.execPath();
    if (main.pathname.includes("/$deno$/") || Deno.mainModule.includes("/deno-compile-")) {
      return { kind: "compiled", program };
    }
    const script = main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href;
    return { kind: "deno", program, script };
  },
};
