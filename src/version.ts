/**
 * Internal: the version of the library and of the `sauce-registry` command, kept equal to
 * `deno.json`'s (a test and the release script check).
 *
 * @example
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(`sauce-registry ${VERSION}`);
 * ```
 *
 * @module
 */

/** The version of this library and of the `sauce-registry` command (kept equal to deno.json's). */
export const VERSION = "0.1.0";
