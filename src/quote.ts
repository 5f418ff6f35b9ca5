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
  // JSON escapes only the C0 controls, '"' and '\\'. YAML readers refuse DEL, the C1 controls,
  // U+FFFE and U+FFFF even between quotes ("control characters are not allowed"), and YAML 1.1
  // readers take U+0085, U+2028 and U+2029 for line breaks: escaped, each reads back as itself.
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029\ufffe\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
