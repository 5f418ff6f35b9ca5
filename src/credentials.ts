/**
 * Internal: the Sauce Labs username and access key — where they are looked for (flags, the
 * environment, the `.env` file, saucectl's `~/.sauce/credentials.yml`, in that order) and how
 * saucectl's file is read.
 *
 * @example
 * ```ts
 * import { resolveCredentials } from "./credentials.ts";
 * const { username, usernameSource } = await resolveCredentials({ envFile: false });
 * ```
 *
 * @module
 */

import { ConfigError, CredentialsNotFoundError, printable, UsageError } from "./errors.ts";
import { readSettingsText, writeFileAtomic } from "./files.ts";
import { yamlString } from "./quote.ts";
import { dirname, homeDirectory, joinPath } from "./paths.ts";
import { makeDirectory } from "./runtime.ts";
import {
  type CredentialSource,
  type Found,
  type SettingLookup,
  settingLookup,
} from "./settings.ts";

/** A Sauce Labs username and access key. */
export interface SauceCredentials {
  /** The Sauce Labs username. */
  username: string;
  /** The Sauce Labs access key: a secret. */
  accessKey: string;
  /**
   * Where the user set them, as a refusal (401) tells them to check: `SAUCE_USERNAME and
   * SAUCE_ACCESS_KEY` when not given. {@linkcode resolveCredentials} names where it found them.
   */
  settingName?: string;
}

/** Credentials with where they came from. */
export interface ResolvedCredentials extends SauceCredentials {
  /** Where the username came from. */
  usernameSource: CredentialSource;
  /** Where the access key came from. */
  accessKeySource: CredentialSource;
  /** Where they came from, in the words of {@linkcode credentialsSettingName}. */
  settingName: string;
}

/** Options of {@linkcode resolveCredentials}. */
export interface CredentialOptions {
  /** From `--username`. */
  username?: string;
  /** From `--access-key-stdin` (never a flag value). */
  accessKey?: string;
  /**
   * A `.env` file; default `./.env` when it exists. An explicit file must exist. `false` reads
   * none: the credential helper runs in whatever folder Docker was started in, often a cloned
   * repository, whose `.env` must not choose the identity or the API.
   */
  envFile?: string | false;
  /** saucectl's credentials file; default `~/.sauce/credentials.yml`. */
  saucectlFile?: string;
}

/**
 * Find the Sauce Labs username and access key: flags (the key only from stdin), then the
 * environment (`SAUCE_USERNAME`, `SAUCE_ACCESS_KEY`), then the `.env` file, then saucectl's
 * `~/.sauce/credentials.yml`. Each value is taken from the first place that has it.
 *
 * @example
 * ```ts
 * import { resolveCredentials } from "@saucelabs-community/sauce-registry";
 * const { username, usernameSource } = await resolveCredentials();
 * ```
 *
 * @param options Values from flags and which files to read.
 * @param settings The lookup to share with other settings; default one made from `options`.
 * @returns The credentials and their sources.
 * @throws {CredentialsNotFoundError} When the username or the access key is found nowhere.
 * @throws {UsageError} When the username holds a `:` (HTTP Basic authentication cannot carry it).
 * @throws {ConfigError} When saucectl's file holds YAML this reader does not take (it names the
 * line).
 */
export async function resolveCredentials(
  options: CredentialOptions = {},
  settings: SettingLookup = settingLookup(options),
): Promise<ResolvedCredentials> {
  const username: Found | undefined = options.username
    ? { value: options.username, source: "flag" }
    : await settings.get("SAUCE_USERNAME");
  const accessKey: Found | undefined = options.accessKey
    ? { value: options.accessKey, source: "stdin" }
    : await settings.get("SAUCE_ACCESS_KEY");
  let saucectl: Partial<SauceCredentials> = {};
  const saucectlFile = options.saucectlFile ?? "~/.sauce/credentials.yml";
  if (!username || !accessKey) {
    saucectl = await readSaucectlCredentials(
      options.saucectlFile ?? joinPath(homeDirectory(), ".sauce", "credentials.yml"),
    );
  }
  const user = username ??
    (saucectl.username ? { value: saucectl.username, source: "saucectl" as const } : undefined);
  const key = accessKey ??
    (saucectl.accessKey ? { value: saucectl.accessKey, source: "saucectl" as const } : undefined);
  if (!user || !key) {
    const missing = [
      ...(user ? [] : ["username" as const]),
      ...(key ? [] : ["access key" as const]),
    ];
    throw new CredentialsNotFoundError(
      missing,
      [
        "the flags",
        "SAUCE_USERNAME and SAUCE_ACCESS_KEY in the environment",
        ...(options.envFile === false ? [] : [options.envFile ?? "./.env"]),
        saucectlFile,
      ],
      "set SAUCE_USERNAME and SAUCE_ACCESS_KEY (in your shell, or your CI's secret variables), or write username: and accessKey: to ~/.sauce/credentials.yml (mode 0600)",
    );
  }
  const files = { envFile: options.envFile, saucectlFile };
  checkUsername(user.value, sourceName(user.source, "SAUCE_USERNAME", files));
  return {
    username: user.value,
    accessKey: key.value,
    usernameSource: user.source,
    accessKeySource: key.source,
    settingName: credentialsSettingName(user.source, key.source, files),
  };
}

/** HTTP Basic authentication splits `user:key` at the first `:`: such a username cannot work. */
export function checkUsername(username: string, from: string): void {
  if (username.includes(":")) {
    throw new UsageError(
      `The Sauce Labs username from ${from} contains ":", which HTTP Basic authentication cannot carry: check the username`,
    );
  }
}

/** The files credentials are read from, to name them: the `.env` file and saucectl's. */
export interface CredentialFiles {
  /** The `.env` file, as {@linkcode CredentialOptions}' `envFile`; default `./.env`. */
  envFile?: string | false;
  /** saucectl's file; default `~/.sauce/credentials.yml`. */
  saucectlFile?: string;
}

/** Where a credential came from, in the words a user would look for. */
export function sourceName(
  source: CredentialSource,
  variable: string,
  files: CredentialFiles = {},
): string {
  return {
    flag: "--username",
    stdin: "standard input",
    environment: variable,
    ".env file": `${variable} in ${files.envFile || "./.env"}`,
    saucectl: files.saucectlFile ?? "~/.sauce/credentials.yml",
  }[source];
}

/**
 * What a refusal (401) tells the user to check: the username and the access key where they were
 * set, `SAUCE_USERNAME and SAUCE_ACCESS_KEY` from the environment, `the username and access key
 * in ~/.sauce/credentials.yml`, or each by its own place (`the username (--username) and the
 * access key (standard input)`).
 *
 * @param username Where the username came from.
 * @param accessKey Where the access key came from.
 * @param files Which files those are.
 * @returns The words.
 */
export function credentialsSettingName(
  username: CredentialSource,
  accessKey: CredentialSource,
  files: CredentialFiles = {},
): string {
  if (username === accessKey && username === "environment") {
    return "SAUCE_USERNAME and SAUCE_ACCESS_KEY";
  }
  if (username === accessKey && username === ".env file") {
    return `SAUCE_USERNAME and SAUCE_ACCESS_KEY in ${files.envFile || "./.env"}`;
  }
  if (username === accessKey && username === "saucectl") {
    return `the username and access key in ${sourceName("saucectl", "", files)}`;
  }
  return `the username (${sourceName(username, "SAUCE_USERNAME", files)}) and the access key (${
    sourceName(accessKey, "SAUCE_ACCESS_KEY", files)
  })`;
}

/** Read saucectl's `credentials.yml` (see {@linkcode parseSaucectlCredentials}). */
export async function readSaucectlCredentials(path: string): Promise<Partial<SauceCredentials>> {
  const text = await readSettingsText(path);
  if (text === undefined) return {};
  const values = parseSaucectlCredentials(path, text);
  return { username: values.username || undefined, accessKey: values.accessKey || undefined };
}

/**
 * The top-level `key: value` pairs of saucectl's `credentials.yml`, which is what saucectl writes:
 * plain, 'single-quoted' or "double-quoted" (with escapes) scalars, and comments. The rest of
 * YAML (nesting, block scalars, anchors and aliases, tags, flow collections) is refused, naming
 * the line, rather than misread: a key read wrong would be sent to Sauce Labs.
 */
export function parseSaucectlCredentials(path: string, text: string): Record<string, string> {
  const values: Record<string, string> = {};
  text.replace(/^\uFEFF/, "").split(/\r?\n/).forEach((line, index) => {
    const fail = (problem: string): never => {
      throw new ConfigError(
        path,
        `line ${
          index + 1
        }: ${problem}; expected lines such as "username: NAME" and "accessKey: KEY", as saucectl writes them`,
      );
    };
    if (/^\s*(#.*)?$/.test(line) || /^(---|\.\.\.)\s*(#.*)?$/.test(line)) return;
    if (/^\s/.test(line)) fail("an indented line (a nested or multi-line value) is not supported");
    const match = /^([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]+(.*))?$/.exec(line);
    if (!match) fail("this is not a key: value line");
    const [, key, rest = ""] = match!;
    if (Object.hasOwn(values, key)) fail(`"${key}" appears twice`);
    values[key] = yamlScalar(rest.trim(), fail);
  });
  return values;
}

/** One YAML scalar on one line, as the value of a key; `fail` says what is not supported. */
export function yamlScalar(text: string, fail: (problem: string) => never): string {
  if (text === "" || text.startsWith("#")) return "";
  const first = text[0];
  const refused: Record<string, string> = {
    "|": "block scalars (| and >) are not supported: write the value on one line",
    ">": "block scalars (| and >) are not supported: write the value on one line",
    "&": "anchors (&) are not supported",
    "*": "aliases (*) are not supported",
    "!": "tags (!) are not supported",
    "[": "flow collections ([ and {) are not supported",
    "{": "flow collections ([ and {) are not supported",
    "@": "a plain value cannot start with @: quote it",
    "`": "a plain value cannot start with `: quote it",
    "%": "a plain value cannot start with %: quote it",
  };
  if (Object.hasOwn(refused, first)) fail(refused[first]);
  if (/^[-?:](\s|$)/.test(text)) fail("sequences and complex keys are not supported");
  if (first === '"' || first === "'") {
    const { value, end } = first === '"' ? doubleQuoted(text, fail) : singleQuoted(text, fail);
    if (!/^(\s+#.*|\s*)$/.test(text.slice(end))) fail("unexpected text after the quoted value");
    return value;
  }
  const value = text.replace(/\s+#.*$/, "");
  if (/:\s/.test(value) || value.endsWith(":")) fail('a plain value cannot hold ": ": quote it');
  return value === "~" || value === "null" ? "" : value;
}

const YAML_ESCAPES: Record<string, string> = {
  "0": "\0",
  "a": "\x07",
  "b": "\b",
  "t": "\t",
  "\t": "\t",
  "n": "\n",
  "v": "\v",
  "f": "\f",
  "r": "\r",
  "e": "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  "N": "\x85",
  "_": "\xa0",
  "L": "\u2028",
  "P": "\u2029",
};

interface QuotedScalar {
  /** The value without quotes, escapes resolved. */
  value: string;
  /** The index just past the closing quote. */
  end: number;
}

function singleQuoted(text: string, fail: (problem: string) => never): QuotedScalar {
  let value = "";
  for (let index = 1; index < text.length; index++) {
    if (text[index] !== "'") {
      value += text[index];
    } else if (text[index + 1] === "'") {
      value += "'";
      index++;
    } else {
      return { value, end: index + 1 };
    }
  }
  return fail("the quoted value is not closed on this line");
}

function doubleQuoted(text: string, fail: (problem: string) => never): QuotedScalar {
  let value = "";
  for (let index = 1; index < text.length; index++) {
    const char = text[index];
    if (char === '"') return { value, end: index + 1 };
    if (char !== "\\") {
      value += char;
      continue;
    }
    const escape = text[++index] ?? "";
    const digits = { x: 2, u: 4, U: 8 }[escape as "x" | "u" | "U"];
    if (digits !== undefined) {
      const hex = text.slice(index + 1, index + 1 + digits);
      const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === digits ? parseInt(hex, 16) : NaN;
      if (!(code <= 0x10ffff)) fail(`the escape \\${escape} needs ${digits} hex digits`);
      value += String.fromCodePoint(code);
      index += digits;
    } else if (Object.hasOwn(YAML_ESCAPES, escape)) {
      value += YAML_ESCAPES[escape];
    } else {
      fail(`unknown escape \\${printable(escape, 4)} in the quoted value`);
    }
  }
  return fail("the quoted value is not closed on this line");
}

/**
 * The credentials a registry is served with: from its own credentials file when
 * `configure-docker --credentials-file` recorded one (and only from there), else found as
 * {@linkcode resolveCredentials} finds them.
 *
 * @param registry What the registries file records of the registry.
 * @param options How to find credentials otherwise.
 * @returns The username and access key.
 * @throws {CredentialsNotFoundError} When they are found nowhere (or the file lacks one).
 * @throws {ConfigError} When the file cannot be read.
 */
export async function registryCredentials(
  registry: { credentialsFile?: string },
  options: CredentialOptions,
): Promise<ResolvedCredentials> {
  if (registry.credentialsFile === undefined) return await resolveCredentials(options);
  const path = registry.credentialsFile;
  const { username, accessKey } = await readSaucectlCredentials(path);
  if (!username || !accessKey) {
    throw new CredentialsNotFoundError(
      [...(username ? [] : ["username" as const]), ...(accessKey ? [] : ["access key" as const])],
      [path],
      "run configure-docker --credentials-file again, or remove the file from the registries file",
    );
  }
  checkUsername(username, path);
  return {
    username,
    accessKey,
    usernameSource: "saucectl",
    accessKeySource: "saucectl",
    settingName: credentialsSettingName("saucectl", "saucectl", { saucectlFile: path }),
  };
}

/**
 * Write a credentials file (mode 0600, atomically, its folder made 0700 when missing) in
 * saucectl's shape, every value quoted so that it reads back exactly, whatever it holds (`"`,
 * `\`, `#`, `: `, leading spaces): what a registry configured with `configure-docker
 * --credentials-file` is served with, and how the GitHub Action and the GitLab component keep the
 * access key out of every step's environment.
 *
 * @example
 * ```ts
 * import { writeCredentialsFile } from "./credentials.ts";
 * await writeCredentialsFile("/tmp/credentials.yml", { username: "alice", accessKey: "…" });
 * ```
 *
 * @param path The file.
 * @param credentials The username and access key.
 * @throws {UsageError} When the username holds a `:` (HTTP Basic authentication cannot carry it).
 */
export async function writeCredentialsFile(
  path: string,
  credentials: SauceCredentials,
): Promise<void> {
  checkUsername(credentials.username, "the credentials");
  const text = `# Written by sauce-registry: the identity of the registries that name this file\n` +
    `username: ${yamlString(credentials.username)}\naccessKey: ${
      yamlString(credentials.accessKey)
    }\n`;
  await makeDirectory(dirname(path), 0o700);
  await writeFileAtomic(path, text, 0o600);
}
