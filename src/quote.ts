/**
 * Internal: values written into other languages' text — a POSIX shell's, YAML's — quoted so that
 * they read back exactly as they are, whatever characters they hold.
 *
 * @example
 * ```ts
 * import { shellQuote, yamlString } from "./quote.ts";
 * shellQuote("it's"); // "'it'\\''s'"
 * yamlString("no"); // '"no"' (a string, not the boolean false)
 * ```
 *
 * @module
 */

/**
 * Quote a value for a POSIX shell: single quotes, with any single quote spelled `'\''`.
 *
 * @param value The value.
 * @returns The quoted value.
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * A YAML scalar that reads back as exactly this string: a JSON string, which YAML reads as a
 * double-quoted scalar with the same escapes. Never a plain scalar, which YAML could read as a
 * boolean (`no`, `on`), a number (`012`, `0x1f`, `1.5`), a date or null.
 *
 * @param value The string.
 * @returns The quoted scalar.
 */
export function yamlString(value: string): string {
  // JSON leaves U+0085, U+2028 and U+2029 as they are; YAML 1.1 readers take them for line breaks.
  return JSON.stringify(value).replace(
    /[\u0085\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
