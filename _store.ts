/**
 * Internal: what sauce-registry keeps in files and reads on the credential helper's hot path —
 * where the files are, the regions, the registries file that `configure-docker` writes,
 * saucectl's credentials file, and the read side of the token cache (its key, its folder's and
 * files' checks, freshness). `mod.ts` builds on it and re-exports the public parts; the helper's
 * and the kubelet provider's cached answers use it without loading `mod.ts`.
 *
 * @example
 * ```ts
 * import { readRegistrySettings } from "./_store.ts";
 * console.log(Object.keys(await readRegistrySettings()));
 * ```
 *
 * @module
 */

import { loadUtil } from "./deps.ts";
import { ConfigError, CredentialsNotFoundError, printable, UsageError } from "./_errors.ts";
import { maskUserinfo } from "./_registry.ts";
import {
  currentUserId,
  describeFileKind,
  env,
  type FileInfo,
  homeDirectory,
  joinPath,
  linkInfo,
  readRegularFile,
  sha256Hex,
} from "./_runtime.ts";

/** Paths sauce-registry reads and writes; every one can be moved by an option or variable. */
export interface PathOptions {
  /** The Docker config folder; default `$DOCKER_CONFIG`, else `~/.docker`. */
  dockerConfigDir?: string;
  /** The registries file; default `$XDG_CONFIG_HOME/sauce-registry/registries.json`. */
  settingsFile?: string;
  /** The token cache folder; default `$XDG_CACHE_HOME/sauce-registry`, else `~/.cache/…`. */
  cacheDir?: string;
}

export function dockerConfigFile(options: PathOptions = {}): string {
  const dir = options.dockerConfigDir ?? env("DOCKER_CONFIG") ??
    joinPath(homeDirectory(), ".docker");
  return joinPath(dir, "config.json");
}

export function settingsFile(options: PathOptions = {}): string {
  if (options.settingsFile) return options.settingsFile;
  const base = env("XDG_CONFIG_HOME") || joinPath(homeDirectory(), ".config");
  return joinPath(base, "sauce-registry", "registries.json");
}

export function cacheDirectory(options: PathOptions = {}): string {
  if (options.cacheDir) return options.cacheDir;
  const base = env("XDG_CACHE_HOME") || joinPath(homeDirectory(), ".cache");
  return joinPath(base, "sauce-registry");
}

/** The Sauce Labs regions and their API base URLs (saucectl's table). */
export const REGIONS: Readonly<Record<string, string>> = Object.freeze({
  "us-west-1": "https://api.us-west-1.saucelabs.com",
  "us-east-4": "https://api.us-east-4.saucelabs.com",
  "eu-central-1": "https://api.eu-central-1.saucelabs.com",
  "staging": "https://api.staging.saucelabs.net",
});

/** The region used when none is given. */
export const DEFAULT_REGION = "us-west-1";

/** A Sauce Labs username and access key. */
export interface SauceCredentials {
  /** The Sauce Labs username. */
  username: string;
  /** The Sauce Labs access key: a secret. */
  accessKey: string;
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

export const YAML_ESCAPES: Record<string, string> = {
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

export interface QuotedScalar {
  /** The value without quotes, escapes resolved. */
  value: string;
  /** The index just past the closing quote. */
  end: number;
}

/** A short-lived registry login from Sauce Labs. */
export interface RegistryToken {
  /** The registry username (Sauce answers `oauth2accesstoken`). */
  username: string;
  /** The registry password: a secret. */
  password: string;
  /**
   * When the token stops working, in this machine's clock: when Sauce Labs' answer carries a
   * `Date` header, the lifetime it gave (`expires_at` minus `Date`) counted from when the answer
   * came, so that a clock that is off does not shorten or stretch it.
   */
  expiresAt: Date;
  /** The registry URL the token was asked for, when one was given. */
  registryUrl?: string;
  /**
   * When the token was asked for, as {@linkcode getToken} recorded it (also for a cached token);
   * with `expiresAt` it gives the lifetime, and so when the cache renews the token.
   */
  issuedAt?: Date;
}

/** A settings file's text; undefined when it does not exist. */
export async function readSettingsText(path: string): Promise<string | undefined> {
  // "--env-file /dev/null" is how to say "no env file": it reads as empty, and never blocks.
  if (path === "/dev/null") return "";
  const file = await readRegularFile(path);
  if (file === undefined) return undefined;
  if (file.text === undefined) {
    // Reading a FIFO would wait for a writer for ever; a device or a folder is no settings file.
    throw new ConfigError(
      path,
      `it is ${describeFileKind(file.info.kind)}, not a regular file; it was left unchanged`,
    );
  }
  return file.text;
}

/** Parse a JSON settings file that must hold an object; undefined when it does not exist. */
export async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  const raw = await readSettingsText(path);
  return raw === undefined ? undefined : parseJsonObject(path, raw);
}

/** "an array", "a string", "null", … for messages about a value of the wrong type. */
export function jsonType(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
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

/** What the credential helper knows of a registry host. */
export interface RegistrySettings {
  /** The whole registry URL for the Sauce API. */
  registryUrl: string;
  /** The region. */
  region: string;
  /** An explicit API URL (from `--api-url`), which wins over the region. */
  apiUrl?: string;
}

/**
 * Read the registries file (host → settings) that `configure-docker` writes.
 *
 * @example
 * ```ts
 * import { readRegistrySettings } from "./mod.ts";
 * const registries = await readRegistrySettings();
 * console.log(Object.keys(registries));
 * ```
 *
 * @param options Where the file is.
 * @returns The registries, empty when the file does not exist.
 * @throws {ConfigError} When the file is not valid JSON or not of the registries file's shape.
 */
export async function readRegistrySettings(
  options: PathOptions = {},
): Promise<Record<string, RegistrySettings>> {
  const path = settingsFile(options);
  const json = await readJsonObject(path);
  return json === undefined ? {} : registriesIn(path, json);
}

/**
 * The registries a parsed registries file holds, checked: the one place that says what the file
 * must look like. `registries` maps hosts to objects with a non-empty `registryUrl` and a
 * `region` (strings), and an `apiUrl` string when there is one.
 */
export function registriesIn(
  path: string,
  json: Record<string, unknown>,
): Record<string, RegistrySettings> {
  const registries = json.registries;
  if (registries === undefined) return {};
  const fix = "fix or remove it";
  if (registries === null || typeof registries !== "object" || Array.isArray(registries)) {
    throw new ConfigError(
      path,
      `"registries" must be an object of host → settings, found ${jsonType(registries)}; ${fix}`,
    );
  }
  for (const [host, entry] of Object.entries(registries)) {
    const where = `registry "${printable(host, 60)}"`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new ConfigError(path, `${where} must be an object, found ${jsonType(entry)}; ${fix}`);
    }
    const { registryUrl, region, apiUrl } = entry as Record<string, unknown>;
    if (typeof registryUrl !== "string" || registryUrl === "") {
      throw new ConfigError(
        path,
        `${where}: "registryUrl" must be a registry URL, found ${jsonType(registryUrl)}; ${fix}`,
      );
    }
    if (typeof region !== "string") {
      throw new ConfigError(
        path,
        `${where}: "region" must be a region name, found ${jsonType(region)}; ${fix}`,
      );
    }
    if (apiUrl !== undefined && typeof apiUrl !== "string") {
      throw new ConfigError(
        path,
        `${where}: "apiUrl" must be a URL, found ${jsonType(apiUrl)}; ${fix}`,
      );
    }
  }
  return registries as Record<string, RegistrySettings>;
}

export interface CachedToken {
  username: string;
  password: string;
  expires_at: string;
  issued_at: string;
  registry_url?: string;
}

/**
 * No cached token is trusted longer than this after it was fetched, whatever its `expires_at`
 * says (Sauce Labs' tokens live 5 to 30 minutes): a far-future expiry is not kept for ever.
 */
export const MAX_CACHED_TOKEN_MS = 60 * 60 * 1000;

/**
 * Whether a cached token can still be handed out: not within its refresh margin of expiry. The
 * margin is 60 s or a fifth of the lifetime, whichever is longer, but never more than half the
 * lifetime, so that very short tokens can still be shared by processes that start together. The
 * lifetime counts at most an hour, and an entry fetched "in the future" is not trusted.
 */
export function isFresh(token: CachedToken, now: number): boolean {
  const issued = Date.parse(token.issued_at);
  const expires = Date.parse(token.expires_at);
  if (Number.isNaN(expires) || Number.isNaN(issued) || issued > now) return false;
  return now < renewalTime(expires, issued);
}

/** When the cache stops handing out a token issued at `issued` (ms) that expires at `expires`. */
export function renewalTime(expires: number, issued: number): number {
  const trusted = Math.min(expires, issued + MAX_CACHED_TOKEN_MS);
  const lifetime = Math.max(0, trusted - issued);
  const margin = Math.min(Math.max(60_000, lifetime / 5), lifetime / 2);
  return trusted - margin;
}

/**
 * The API part of a cache key, without parsing a URL (a millisecond of the hot path on Deno). Safe:
 * a token is only ever cached after fetchToken checked the same URL, and a URL spelled two ways
 * only costs one more cache file.
 *
 * @param apiUrl An explicit API URL.
 * @param region The region, when there is no explicit URL.
 * @returns The API base URL as the key holds it.
 * @throws {UsageError} For an unknown region.
 */
export function cacheKeyApiUrl(apiUrl: string | undefined, region: string | undefined): string {
  return apiUrl ? apiUrl.replace(/\/+$/, "") : apiBaseUrl(region);
}

/**
 * What identifies a cached token: the API, the username, the access key and the registry. The
 * access key is part of it, so that a rotated or wrong key never gets a token another key
 * fetched; only a hash of it is ever written (as the cache file's name).
 *
 * @param api The API base URL, without a trailing slash.
 * @param credentials The username and access key.
 * @param registryUrl The registry URL the token is for.
 * @returns The key (a secret: never written as it is).
 */
export function tokenCacheKey(
  api: string,
  credentials: SauceCredentials,
  registryUrl: string | undefined,
): string {
  return JSON.stringify([api, credentials.username, credentials.accessKey, registryUrl ?? ""]);
}

/**
 * The cache file of a key: named by its SHA-256, so no username or key shows in a name.
 *
 * @param dir The cache folder.
 * @param key The {@linkcode tokenCacheKey}.
 * @returns The path.
 */
export function cacheFilePath(dir: string, key: string): string {
  return joinPath(dir, `${sha256Hex(key)}.json`);
}

/** Whether the cache folder can be trusted, and this process's user id for its entries. */
export interface CacheFolder {
  /** Whether the folder exists. */
  exists: boolean;
  /** Why it must not be used, if it must not. */
  problem?: string;
  /** This process's user id (undefined where the system has none). */
  uid?: number;
}

/**
 * Check the cache folder with lstat: a folder (not a symlink) of this user's that no one else can
 * write to. Anything else could hold a token another user planted there.
 */
export async function checkCacheFolder(dir: string): Promise<CacheFolder> {
  const info = await linkInfo(dir);
  if (info === undefined) return { exists: false };
  const uid = await currentUserId(dir);
  const problem = ownershipProblem(info, uid, "folder");
  return {
    exists: true,
    ...(problem ? { problem: `Not using the token cache ${dir}: ${problem}` } : {}),
    ...(uid !== undefined ? { uid } : {}),
  };
}

/** Why a cache folder or file is not this user's alone; undefined when it is. */
export function ownershipProblem(
  info: FileInfo,
  uid: number | undefined,
  expected: "folder" | "file",
): string | undefined {
  if (info.kind !== expected) {
    return `it is ${describeFileKind(info.kind)}, not a ${
      expected === "file" ? "regular file" : expected
    }`;
  }
  if (info.uid !== undefined) {
    if (uid === undefined) {
      return "this process cannot tell its own user id to check the owner (run Deno with --allow-sys=uid)";
    }
    if (info.uid !== uid) return `it belongs to user ${info.uid}, not to this user (${uid})`;
  }
  if ((info.mode & 0o022) !== 0) {
    return `others can write to it (mode 0${(info.mode & 0o777).toString(8)})`;
  }
  return undefined;
}

/** What a cache file holds: a token, nothing usable (damaged, absent), or a reason to distrust it. */
export interface CacheEntry {
  token?: CachedToken;
  problem?: string;
}

/**
 * The cached token for a key when it can be handed out as it is: the folder and the file pass
 * every check ({@linkcode checkCacheFolder}, {@linkcode readCacheEntry}) and the token is
 * {@linkcode isFresh}. Undefined otherwise — then the full path decides (and says why).
 *
 * @param dir The cache folder.
 * @param key The {@linkcode tokenCacheKey}.
 * @returns The token, or undefined.
 */
export async function freshCachedToken(dir: string, key: string): Promise<CachedToken | undefined> {
  const folder = await checkCacheFolder(dir);
  if (!folder.exists || folder.problem) return undefined;
  const { token } = await readCacheEntry(cacheFilePath(dir, key), folder);
  return token && isFresh(token, Date.now()) ? token : undefined;
}

export async function readCacheEntry(path: string, folder: CacheFolder): Promise<CacheEntry> {
  const file = await readRegularFile(path, { noFollow: true });
  if (file === undefined) return {};
  const problem = ownershipProblem(file.info, folder.uid, "file");
  if (problem) return { problem: `Not using the cached token ${path}: ${problem}` };
  try {
    const token = JSON.parse(file.text!) as CachedToken;
    return typeof token?.password === "string" && typeof token.username === "string"
      ? { token }
      : {};
  } catch {
    return {}; // a damaged cache entry is simply refetched
  }
}

export function fromCache(token: CachedToken): RegistryToken {
  return {
    username: token.username,
    password: token.password,
    expiresAt: new Date(token.expires_at),
    ...(token.registry_url ? { registryUrl: token.registry_url } : {}),
    issuedAt: new Date(token.issued_at),
  };
}

/** The name Docker runs the helper by (`credHelpers` value `saucelabs`). */
export const HELPER_PROGRAM = "docker-credential-saucelabs";

/** The exact answer Docker's clients take as "no credentials here, carry on anonymously". */
export const CREDENTIALS_NOT_FOUND = "credentials not found in native keychain";

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

// ---------------------------------------------------------------------------------------------
// Regions and credentials
// ---------------------------------------------------------------------------------------------

/**
 * Whether a URL's host is this machine, for the http:// allowance and for going around proxies:
 * only `localhost`, 127.0.0.0/8 and ::1. A name under `.localhost` is not taken on trust: it is
 * resolved like any other name, and may resolve elsewhere.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether a URL is an https:// address of Sauce Labs (`*.saucelabs.com`, `*.saucelabs.net`).
 *
 * @example
 * ```ts
 * import { isSauceLabsUrl } from "./mod.ts";
 * isSauceLabsUrl("https://api.eu-central-1.saucelabs.com"); // true
 * isSauceLabsUrl("http://127.0.0.1:8080"); // false
 * ```
 *
 * @param url The URL.
 * @returns False also for a URL that does not parse.
 */
export function isSauceLabsUrl(url: string): boolean {
  try {
    const { protocol, hostname } = new URL(url);
    return protocol === "https:" && /(^|\.)saucelabs\.(com|net)$/i.test(hostname);
  } catch {
    return false;
  }
}

/**
 * The Sauce Labs API base URL for a region, or a checked explicit URL. Plain `http://` is
 * accepted only for loopback hosts (tests, the demo).
 *
 * @example
 * ```ts
 * import { apiBaseUrl } from "./mod.ts";
 * apiBaseUrl("eu-central-1"); // "https://api.eu-central-1.saucelabs.com"
 * apiBaseUrl(undefined, "http://127.0.0.1:8080/"); // "http://127.0.0.1:8080"
 * ```
 *
 * @param region A region name; default `us-west-1`.
 * @param apiUrl An explicit API URL, which wins over the region.
 * @returns The base URL, without a trailing slash.
 * @throws {UsageError} For an unknown region or an unusable URL.
 */
export function apiBaseUrl(region?: string, apiUrl?: string): string {
  const name = region || DEFAULT_REGION;
  const base = Object.hasOwn(REGIONS, name) ? REGIONS[name] : undefined;
  if (!base) {
    throw new UsageError(
      `Unknown region "${printable(name)}": expected one of ${Object.keys(REGIONS).join(", ")}`,
    );
  }
  if (apiUrl !== undefined && apiUrl !== "") {
    let url: URL;
    try {
      url = new URL(apiUrl);
    } catch {
      throw new UsageError(
        `Invalid API URL "${printable(maskUserinfo(apiUrl))}": expected https://host[:port][/path]`,
      );
    }
    if (url.username || url.password) {
      throw new UsageError("Invalid API URL: credentials do not belong in the URL");
    }
    if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
      throw new UsageError(
        `Invalid API URL "${url.origin}": plain http:// is only accepted for loopback hosts (localhost, 127.0.0.0/8, ::1); use https://`,
      );
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new UsageError(
        `Invalid API URL "${printable(maskUserinfo(apiUrl))}": expected an https:// URL`,
      );
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
  }
  return base;
}

/** Where each credential came from, for `status` (never the values). */
export type CredentialSource = "flag" | "stdin" | "environment" | ".env file" | "saucectl";

/** Credentials with where they came from. */
export interface ResolvedCredentials extends SauceCredentials {
  /** Where the username came from. */
  usernameSource: CredentialSource;
  /** Where the access key came from. */
  accessKeySource: CredentialSource;
}

/** Options of {@linkcode resolveCredentials} and {@linkcode settingLookup}. */
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

/** A setting's value and where it was found. */
export interface Found {
  /** The value. */
  value: string;
  /** Where it was found. */
  source: CredentialSource;
}

/**
 * Reads settings the way every command does: the process environment first, then the `.env`
 * file (which never overrides a variable already set). The `.env` file is read at most once.
 */
export interface SettingLookup {
  /** The value of a variable from the environment or the `.env` file. */
  get(name: string): Promise<Found | undefined>;
}

/**
 * Make a {@linkcode SettingLookup}: environment first, then the `.env` file.
 *
 * @example
 * ```ts
 * import { settingLookup } from "./mod.ts";
 * const settings = settingLookup({ envFile: ".env" });
 * console.log((await settings.get("SAUCE_REGION"))?.value);
 * ```
 *
 * @param options Which `.env` file to read.
 * @returns The lookup.
 */
export function settingLookup(options: CredentialOptions = {}): SettingLookup {
  let dotenv: Promise<Record<string, string>> | undefined;
  return {
    async get(name: string): Promise<Found | undefined> {
      const value = env(name);
      if (value) return { value, source: "environment" };
      dotenv ??= readDotenv(options.envFile);
      const fromFile = (await dotenv)[name];
      return fromFile ? { value: fromFile, source: ".env file" } : undefined;
    },
  };
}

export async function readDotenv(
  path: string | false | undefined,
): Promise<Record<string, string>> {
  if (path === false) return {};
  const file = path ?? ".env";
  const text = await readSettingsText(file);
  if (text === undefined) {
    if (path !== undefined) throw new UsageError(`Cannot read the env file ${path}: no such file`);
    return {};
  }
  return simpleDotenv(text) ?? (await loadUtil()).parseEnv(text) as Record<string, string>;
}

/**
 * The variables of a `.env` text made only of plain `NAME=value` lines (no quotes, spaces, `#`
 * or `$` in a value), blank lines and comment lines; undefined for anything else, which
 * `node:util`'s `parseEnv` then reads. Loading `node:util` costs Deno a quarter of a cached
 * credential helper call, and the kubelet provider's `--env-file` is read on every pull.
 *
 * @param text The file's text.
 * @returns The variables, or undefined when a line is not plain.
 */
export function simpleDotenv(text: string): Record<string, string> | undefined {
  const variables: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue;
    const plain = /^([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9_.:/@+%,=-]*)$/.exec(line);
    if (!plain) return undefined;
    variables[plain[1]] = plain[2];
  }
  return variables;
}

/** Where a credential came from, in the words a user would look for. */
export function sourceName(source: CredentialSource, variable: string): string {
  return {
    flag: "--username",
    stdin: "standard input",
    environment: variable,
    ".env file": `${variable} in the .env file`,
    saucectl: "~/.sauce/credentials.yml",
  }[source];
}

/** HTTP Basic authentication splits `user:key` at the first `:`: such a username cannot work. */
export function checkUsername(username: string, from: string): void {
  if (username.includes(":")) {
    throw new UsageError(
      `The Sauce Labs username from ${from} contains ":", which HTTP Basic authentication cannot carry: check the username`,
    );
  }
}

/**
 * Find the Sauce Labs username and access key: flags (the key only from stdin), then the
 * environment (`SAUCE_USERNAME`, `SAUCE_ACCESS_KEY`), then the `.env` file, then saucectl's
 * `~/.sauce/credentials.yml`. Each value is taken from the first place that has it.
 *
 * @example
 * ```ts
 * import { resolveCredentials } from "./mod.ts";
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
  checkUsername(user.value, sourceName(user.source, "SAUCE_USERNAME"));
  return {
    username: user.value,
    accessKey: key.value,
    usernameSource: user.source,
    accessKeySource: key.source,
  };
}

/** Options of {@linkcode resolveApiSettings}. */
export interface ApiSettingsOptions {
  /** From `--region`; else `SAUCE_REGION`. */
  region?: string;
  /** From `--api-url`; else `SAUCE_API_URL`. */
  apiUrl?: string;
  /** The `.env` file, as in {@linkcode CredentialOptions}: undefined means `./.env` if present. */
  envFile?: string | false;
}

/** The region and API URL a command uses (undefined: the default). */
export interface ApiSettings {
  /** The region name. */
  region?: string;
  /** An explicit API URL, which wins over the region. */
  apiUrl?: string;
}

/**
 * The region and API URL: options, then the environment (`SAUCE_REGION`, `SAUCE_API_URL`), then
 * the `.env` file. An API URL that only the implicit `./.env` names must be an https:// address
 * of Sauce Labs, loopback included: a `.env` that came with a cloned repository must not send
 * the access key to a server of its choosing. Name the file (`envFile`) or pass `apiUrl` to use
 * another API, such as a local one.
 *
 * @example
 * ```ts
 * import { fetchToken, resolveApiSettings, resolveCredentials } from "./mod.ts";
 * const token = await fetchToken({
 *   credentials: await resolveCredentials(),
 *   ...(await resolveApiSettings()),
 * });
 * ```
 *
 * @param options Values from flags and which `.env` file to read.
 * @param settings The lookup to share with {@linkcode resolveCredentials}; default one made from
 * `options`.
 * @returns The region and API URL.
 * @throws {UsageError} For an unknown region, an unusable URL, or an implicit `./.env` that
 * names an API elsewhere than Sauce Labs.
 */
export async function resolveApiSettings(
  options: ApiSettingsOptions = {},
  settings: SettingLookup = settingLookup(options),
): Promise<ApiSettings> {
  const region = options.region ?? (await settings.get("SAUCE_REGION"))?.value;
  let apiUrl = options.apiUrl;
  if (apiUrl === undefined) {
    const found = await settings.get("SAUCE_API_URL");
    if (
      found?.source === ".env file" && options.envFile === undefined && !isSauceLabsUrl(found.value)
    ) {
      throw new UsageError(
        `SAUCE_API_URL in ./.env is not an https:// address of Sauce Labs, so the access key is not sent there; for another API (a local one too), pass --api-url or --env-file .env`,
      );
    }
    apiUrl = found?.value;
  }
  apiBaseUrl(region, apiUrl);
  return { region, apiUrl };
}
