/**
 * Internal: the runtime adapter on Bun — Node's (`node.ts`), with Bun's own faster ways for what
 * the credential helper's hot path does: its stdio (Bun's `node:stream`-backed stdio costs
 * ~20 ms), its native SHA-256, and `node:fs` through the `require` Bun gives ES modules. Standard
 * input and output are read and written with synchronous calls on their file descriptors: Bun's
 * stream reader and `Bun.write` each start threads (its I/O pool, the allocator's scavenger, a
 * warm-up thread) that a helper call, which reads a few bytes and writes one line, pays for on
 * every pull.
 *
 * @example
 * ```ts
 * import { bunAdapter } from "./bun.ts";
 * console.log(bunAdapter.name());
 * ```
 *
 * @module
 */

import { requireFsSyncOnBun } from "../../deps.ts";
import { InputTooLargeError, type RuntimeAdapter } from "./adapter.ts";
import { errorCode, readUpTo } from "./common.ts";
import { nodeLikeAdapter } from "./node.ts";

/** The parts of Bun's own API that sauce-registry uses. */
interface BunApi {
  version: string;
  stdin: { stream(): ReadableStream<Uint8Array> };
  stdout: unknown;
  stderr: unknown;
  write(destination: unknown, data: string | Uint8Array): Promise<number>;
  env: Record<string, string | undefined>;
  SHA256: { hash(text: string, encoding: "hex"): string };
}

function bun(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

/** Read the rest of standard input through Bun's stream reader, after what was read already. */
function readStdinStream(limit: number, already?: Uint8Array): Promise<string> {
  let pending = already;
  const reader = bun().stdin.stream().getReader();
  return readUpTo(async () => {
    const chunk = pending;
    pending = undefined;
    if (chunk) return chunk;
    const { done, value } = await reader.read();
    return done ? undefined : value;
  }, limit);
}

/**
 * Read fd 0 to its end with synchronous reads, up to `limit` bytes: with `interruptible`, or when
 * a non-blocking input has nothing yet (EAGAIN), through Bun's stream reader instead.
 */
async function readStdin(limit: number, interruptible: boolean): Promise<string> {
  if (interruptible) return await readStdinStream(limit);
  const fs = requireFsSyncOnBun();
  const buffer = new Uint8Array(limit + 1);
  let size = 0;
  for (;;) {
    let read: number;
    try {
      read = fs.readSync(0, buffer, size, buffer.length - size, null);
    } catch (error) {
      if (errorCode(error) !== "EAGAIN") throw error;
      return await readStdinStream(limit, size > 0 ? buffer.slice(0, size) : undefined);
    }
    if (read === 0) return new TextDecoder().decode(buffer.subarray(0, size));
    size += read;
    if (size > limit) throw new InputTooLargeError(limit);
  }
}

/**
 * Write text whole to fd 1 or 2 with synchronous writes; what a non-blocking output does not take
 * at once (EAGAIN) goes through `Bun.write`.
 */
async function writeSync(fd: 1 | 2, text: string): Promise<void> {
  const fs = requireFsSyncOnBun();
  const bytes = new TextEncoder().encode(text);
  for (let offset = 0; offset < bytes.length;) {
    try {
      offset += fs.writeSync(fd, bytes, offset);
    } catch (error) {
      if (errorCode(error) !== "EAGAIN") throw error;
      await bun().write(fd === 1 ? bun().stdout : bun().stderr, bytes.subarray(offset));
      return;
    }
  }
}

/** The runtime adapter on Bun. */
export const bunAdapter: RuntimeAdapter = {
  ...nodeLikeAdapter(requireFsSyncOnBun),
  name: () => `Bun ${bun().version}`,
  env: (name) => bun().env[name],
  setEnv(name, value) {
    const variables = bun().env;
    if (value === undefined) delete variables[name];
    else variables[name] = value;
  },
  writeStdout: (text) => writeSync(1, text),
  writeStderr: (text) => writeSync(2, text),
  readStdin,
  sha256Hex: (text) => bun().SHA256.hash(text, "hex"),
  launcher(entry) {
    const main = new URL(entry);
    const program = (globalThis as unknown as { process: { execPath: string } }).process.execPath;
    if (main.pathname.includes("/$bunfs/")) return { kind: "compiled", program };
    const script = main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href;
    return { kind: "bun", program, script };
  },
};
