/**
 * Internal: reading JSON settings files (the Docker config, the registries file) that must hold
 * an object, and saying where a broken one goes wrong.
 *
 * @example
 * ```ts
 * import { parseJsonObject } from "./json.ts";
 * parseJsonObject("config.json", '{"auths": {}}'); // { auths: {} }
 * ```
 *
 * @module
 */

import { ConfigError } from "./errors.ts";
import { readSettingsText, type SettingsReadOptions } from "./files.ts";

/**
 * Parse a JSON settings file that must hold an object; undefined when it does not exist.
 * `options` are those of `readSettingsText` (`trusted`: a file only this user or root wrote).
 */
export async function readJsonObject(
  path: string,
  options: SettingsReadOptions = {},
): Promise<Record<string, unknown> | undefined> {
  const raw = await readSettingsText(path, options);
  return raw === undefined ? undefined : parseJsonObject(path, raw);
}

/** Parse a settings file's text, which must hold an object (or nothing, or `null`). */
export function parseJsonObject(path: string, raw: string): Record<string, unknown> {
  const text = raw.replace(/^\uFEFF/, "");
  if (text.trim() === "") return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      path,
      `not valid JSON at ${jsonErrorPosition(text)}; fix or move it, it was left unchanged`,
      { cause: error },
    );
  }
  // Docker's own loader reads `null` as an empty config, so it holds nothing to keep.
  if (json === null) return {};
  if (typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError(
      path,
      `expected a JSON object, found ${
        Array.isArray(json) ? "an array" : typeof json
      }; it was left unchanged`,
    );
  }
  return json as Record<string, unknown>;
}

/** "an array", "a string", "null", … for messages about a value of the wrong type. */
export function jsonType(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Where a JSON text first goes wrong, as "line L, column C", for messages about broken files. */
export function jsonErrorPosition(text: string): string {
  let index = 0;
  const fail = (): never => {
    throw index;
  };
  const space = () => {
    while (/[ \t\r\n]/.test(text[index] ?? "")) index++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, index)) index += word.length;
    else fail();
  };
  const string = () => {
    index++; // opening quote
    while (index < text.length && text[index] !== '"') {
      if (text.charCodeAt(index) < 0x20) fail();
      if (text[index] === "\\") {
        index++;
        if (text[index] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(index + 1, index + 5))) fail();
          index += 4;
        } else if (!/["\\/bfnrt]/.test(text[index] ?? "")) fail();
      }
      index++;
    }
    if (text[index] !== '"') fail();
    index++;
  };
  const value = (): void => {
    space();
    const char = text[index];
    if (char === "{") {
      index++;
      space();
      if (text[index] === "}") return void index++;
      for (;;) {
        space();
        if (text[index] !== '"') fail();
        string();
        space();
        if (text[index] !== ":") fail();
        index++;
        value();
        space();
        if (text[index] === ",") index++;
        else if (text[index] === "}") return void index++;
        else fail();
      }
    } else if (char === "[") {
      index++;
      space();
      if (text[index] === "]") return void index++;
      for (;;) {
        value();
        space();
        if (text[index] === ",") index++;
        else if (text[index] === "]") return void index++;
        else fail();
      }
    } else if (char === '"') string();
    else if (char === "t") literal("true");
    else if (char === "f") literal("false");
    else if (char === "n") literal("null");
    else {
      const number = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(index));
      if (!number) fail();
      index += number![0].length;
    }
  };
  try {
    value();
    space();
    if (index < text.length) fail();
  } catch (position) {
    if (typeof position !== "number") throw position;
  }
  const before = text.slice(0, index).split("\n");
  return `line ${before.length}, column ${before[before.length - 1].length + 1}`;
}
