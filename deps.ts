/**
 * The one place that names what sauce-registry takes from outside this repository: the
 * runtimes' own Node-compatible built-ins, which Deno and Bun both provide. JSR's `@std`
 * packages are deliberately not used, so the library installs anywhere with no registry.
 *
 * Everything is a lazy loader: importing `node:*` costs Deno several milliseconds at start-up,
 * and the credential helper's cached `get` must not pay for what it does not use.
 *
 * @example
 * ```ts
 * import { loadUtil } from "./deps.ts";
 * const { parseArgs } = await loadUtil();
 * ```
 *
 * @module
 */

/** `node:util`: `parseArgs` for the command line and `parseEnv` for `.env` files. */
export const loadUtil = (): Promise<typeof import("node:util")> => import("node:util");

/** `node:child_process`: spawning tools where `Deno.Command` does not exist (Bun, Node). */
export const loadChildProcess = (): Promise<typeof import("node:child_process")> =>
  import("node:child_process");

/** `node:fs/promises`: file access where `Deno.*` file APIs do not exist (Bun, Node). */
export const loadFs = (): Promise<typeof import("node:fs/promises")> => import("node:fs/promises");

/**
 * `node:fs`: its synchronous calls, where a file must be opened non-blocking and checked with
 * fstat before it is read (Bun, Node), and lstat on the credential helper's hot path.
 */
export const loadFsSync = (): Promise<typeof import("node:fs")> => import("node:fs");

/**
 * `node:fs` through the `require` Bun gives ES modules (Bun only): on the credential helper's
 * hot path it costs Bun's compiled binary 3 to 4 ms of CPU less than the dynamic import.
 */
export const requireFsSyncOnBun = (): typeof import("node:fs") =>
  (import.meta as unknown as { require(id: string): typeof import("node:fs") }).require("node:fs");

/** `node:os`: the temporary folder where `Deno.makeTempDir` does not exist. */
export const loadOs = (): Promise<typeof import("node:os")> => import("node:os");
