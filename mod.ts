/**
 * sauce-registry: log container tools in to the Sauce Labs Container Registry with short-lived
 * tokens, and serve those tokens to Docker, Podman, Skopeo and Buildah as a credential helper.
 *
 * The library behind the `sauce-registry` command. It runs on Deno and on Bun, uses only the
 * runtimes' built-ins and can be imported by URL.
 *
 * @example Fetch a token and log Docker in
 * ```ts
 * import { fetchToken, login, resolveCredentials } from "./mod.ts";
 *
 * const credentials = await resolveCredentials();
 * const registry = "registry.example.com/your-private-registry";
 * const token = await fetchToken({ credentials, registryUrl: registry });
 * await login(token, registry, { tool: "docker" });
 * console.log(`logged in until ${token.expiresAt.toISOString()}`);
 * ```
 *
 * @module
 */

import { loadUtil } from "./deps.ts";
import {
  ApiError,
  AuthenticationError,
  ConfigError,
  CredentialsNotFoundError,
  errorText,
  printable,
  redact,
  SauceRegistryError,
  shellQuote,
  TimeoutError,
  ToolError,
  UsageError,
} from "./_errors.ts";
import {
  concat,
  currentUserId,
  describeFileKind,
  dirname,
  env,
  type FileInfo,
  fileInfo,
  homeDirectory,
  isLinux,
  isWindows,
  joinPath,
  linkInfo,
  processId,
  randomId,
  readRegularFile,
  readTextFile,
  sha256Hex,
} from "./_runtime.ts";
import {
  BUN_RUN_FLAGS,
  changeMode,
  copyFileTo,
  createSynced,
  DENO_HELPER_FLAGS,
  executableFileName,
  fetchAndRead,
  findOnPath,
  isRootUser,
  type Launcher,
  listDirectory,
  makeDirectory,
  makeSymlink,
  makeTempDirectory,
  pathListSeparator,
  processTag,
  removePath,
  renameFile,
  resolveSymlinks,
  runtimeName,
  sleep,
  spawn,
  type SpawnResult,
  syncDirectory,
  toolEnvironment,
  userId,
} from "./_system.ts";
import { timeLimit, timeoutMessage } from "./_limits.ts";

export {
  ApiError,
  type ApiErrorOptions,
  AuthenticationError,
  ConfigError,
  CredentialsNotFoundError,
  redact,
  SauceRegistryError,
  type SauceRegistryErrorOptions,
  TimeoutError,
  ToolError,
  type ToolErrorOptions,
  UsageError,
} from "./_errors.ts";
export { type Launcher, launcher } from "./_system.ts";
export { DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS } from "./_limits.ts";

/** The version of this library and of the `sauce-registry` command (kept equal to deno.json's). */
export const VERSION = "0.1.0";

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/** Paths sauce-registry reads and writes; every one can be moved by an option or variable. */
export interface PathOptions {
  /** The Docker config folder; default `$DOCKER_CONFIG`, else `~/.docker`. */
  dockerConfigDir?: string;
  /** The registries file; default `$XDG_CONFIG_HOME/sauce-registry/registries.json`. */
  settingsFile?: string;
  /** The token cache folder; default `$XDG_CACHE_HOME/sauce-registry`, else `~/.cache/…`. */
  cacheDir?: string;
}

function dockerConfigFile(options: PathOptions = {}): string {
  const dir = options.dockerConfigDir ?? env("DOCKER_CONFIG") ??
    joinPath(homeDirectory(), ".docker");
  return joinPath(dir, "config.json");
}

function settingsFile(options: PathOptions = {}): string {
  if (options.settingsFile) return options.settingsFile;
  const base = env("XDG_CONFIG_HOME") || joinPath(homeDirectory(), ".config");
  return joinPath(base, "sauce-registry", "registries.json");
}

function cacheDirectory(options: PathOptions = {}): string {
  if (options.cacheDir) return options.cacheDir;
  const base = env("XDG_CACHE_HOME") || joinPath(homeDirectory(), ".cache");
  return joinPath(base, "sauce-registry");
}

// ---------------------------------------------------------------------------------------------
// Regions and credentials
// ---------------------------------------------------------------------------------------------

/** The Sauce Labs regions and their API base URLs (saucectl's table). */
export const REGIONS: Readonly<Record<string, string>> = Object.freeze({
  "us-west-1": "https://api.us-west-1.saucelabs.com",
  "us-east-4": "https://api.us-east-4.saucelabs.com",
  "eu-central-1": "https://api.eu-central-1.saucelabs.com",
  "staging": "https://api.staging.saucelabs.net",
});

/** The region used when none is given. */
export const DEFAULT_REGION = "us-west-1";

/**
 * Whether a URL's host is this machine, for the http:// allowance and for going around proxies:
 * only `localhost`, 127.0.0.0/8 and ::1. A name under `.localhost` is not taken on trust: it is
 * resolved like any other name, and may resolve elsewhere.
 */
function isLoopbackHost(hostname: string): boolean {
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
function isSauceLabsUrl(url: string): boolean {
  try {
    const { protocol, hostname } = new URL(url);
    return protocol === "https:" && /(^|\.)saucelabs\.(com|net)$/i.test(hostname);
  } catch {
    return false;
  }
}

/**
 * A URL or registry reference as it may be shown: everything before the last `@` of what could
 * be its authority (`user:password@`, where a password may hold `/` and `@`) becomes `***`. An
 * `@` that starts a digest (`…/app@sha256:…`) is not userinfo.
 */
function maskUserinfo(input: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(input)?.[0] ?? "";
  const rest = input.slice(scheme.length);
  let at = rest.lastIndexOf("@");
  while (at !== -1 && DIGEST.test(rest.slice(at + 1)) && rest.slice(0, at).includes("/")) {
    at = rest.lastIndexOf("@", at - 1);
  }
  return at === -1 ? input : `${scheme}***${rest.slice(at)}`;
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

/** A Sauce Labs username and access key. */
export interface SauceCredentials {
  /** The Sauce Labs username. */
  username: string;
  /** The Sauce Labs access key: a secret. */
  accessKey: string;
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

async function readDotenv(path: string | false | undefined): Promise<Record<string, string>> {
  if (path === false) return {};
  const file = path ?? ".env";
  const text = await readTextFile(file);
  if (text === undefined) {
    if (path !== undefined) throw new UsageError(`Cannot read the env file ${path}: no such file`);
    return {};
  }
  const { parseEnv } = await loadUtil();
  return parseEnv(text) as Record<string, string>;
}

/** Read saucectl's `credentials.yml` (see {@linkcode parseSaucectlCredentials}). */
async function readSaucectlCredentials(path: string): Promise<Partial<SauceCredentials>> {
  const text = await readTextFile(path);
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
function parseSaucectlCredentials(path: string, text: string): Record<string, string> {
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
function yamlScalar(text: string, fail: (problem: string) => never): string {
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

interface QuotedScalar {
  /** The value without quotes, escapes resolved. */
  value: string;
  /** The index just past the closing quote. */
  end: number;
}

/** Where a credential came from, in the words a user would look for. */
function sourceName(source: CredentialSource, variable: string): string {
  return {
    flag: "--username",
    stdin: "standard input",
    environment: variable,
    ".env file": `${variable} in the .env file`,
    saucectl: "~/.sauce/credentials.yml",
  }[source];
}

/** HTTP Basic authentication splits `user:key` at the first `:`: such a username cannot work. */
function checkUsername(username: string, from: string): void {
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

// ---------------------------------------------------------------------------------------------
// Token API client
// ---------------------------------------------------------------------------------------------

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

/** Options of {@linkcode fetchToken}. */
export interface FetchTokenOptions {
  /** The Sauce Labs username and access key. */
  credentials: SauceCredentials;
  /** The whole registry URL (`registry.example.com/your-private-registry`), sent when known. */
  registryUrl?: string;
  /** The region; default `us-west-1`. */
  region?: string;
  /** An explicit API base URL, which wins over the region. */
  apiUrl?: string;
  /** Aborting stops the request and any wait between retries. */
  signal?: AbortSignal;
  /**
   * How long to wait for the token, retries and their waits included, in seconds (at most
   * {@linkcode MAX_TIMEOUT_SECONDS}); default `SAUCE_REGISTRY_TIMEOUT`, else
   * {@linkcode DEFAULT_TIMEOUT_SECONDS}. `signal` can end it sooner.
   */
  timeoutSeconds?: number;
  /**
   * Retries after the first attempt, for connection errors, 429 and 5xx but 501; default
   * `SAUCE_REGISTRY_RETRIES`, else 3.
   */
  retries?: number;
  /**
   * The first backoff delay in ms, doubled each retry and capped at 30 s; default
   * `SAUCE_REGISTRY_RETRY_DELAY_MS`, else 1000.
   */
  retryDelayMs?: number;
  /** Called with one line per request and answer, credentials redacted (for `--verbose`). */
  log?: (line: string) => void;
  /** Called when a request starts and when a retry waits: for a status line on a terminal. */
  onProgress?: (progress: TokenProgress) => void;
}

/** What {@linkcode fetchToken} is waiting for, as `onProgress` reports it. */
export type TokenProgress =
  | {
    /** A request is on its way to the API. */
    phase: "request";
    /** This attempt, from 1. */
    attempt: number;
    /** How many attempts there are at most. */
    attempts: number;
    /** The API's host. */
    host: string;
  }
  | {
    /** Waiting before the next attempt. */
    phase: "retry";
    /** The attempt that comes next, from 2. */
    attempt: number;
    /** How many attempts there are at most. */
    attempts: number;
    /** How long the wait is. */
    delayMs: number;
    /** Why the last attempt failed, in a few words. */
    reason: string;
  };

const TOKEN_PATH = "/v1alpha1/hosted/container-registry/authorization-token";
const MAX_BACKOFF_MS = 30_000;
const MAX_ERROR_BODY = 64 * 1024;
const MAX_TOKEN_BODY = 1024 * 1024;
/**
 * Clocks closer than this are taken to agree: the `Date` header counts whole seconds and the
 * answer takes time to arrive, so a smaller difference is noise, not skew.
 */
const CLOCK_TOLERANCE_MS = 5_000;

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * What must never be shown of a username and access key: the key, and the Basic credentials
 * made of it (`base64(user:key)`, standard and URL-safe, with and without padding), which a
 * server may echo back.
 */
function credentialSecrets({ username, accessKey }: SauceCredentials): string[] {
  const basic = base64(`${username}:${accessKey}`);
  const urlSafe = basic.replaceAll("+", "-").replaceAll("/", "_");
  // The longest first, so that a padded form is replaced whole rather than leaving its "=".
  return [basic, urlSafe, basic.replace(/=+$/, ""), urlSafe.replace(/=+$/, ""), accessKey];
}

/**
 * A short, safe excerpt of an error answer: a JSON `message`/`detail`, an HTML page's title, or
 * the first words of plain text.
 */
function answerExcerpt(body: string, secrets: readonly string[]): string {
  let text = body.trim();
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const message = json?.message ?? json?.detail ?? json?.error ?? json?.errors;
    if (message !== undefined) {
      text = typeof message === "string" ? message : JSON.stringify(message);
    }
  } catch {
    if (/^<!doctype html|^<html|<\/(html|body|head|div|p|h1)>/i.test(text)) {
      const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text)?.[1] ??
        /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(text)?.[1] ?? "";
      text = title ? `HTML page "${title.replace(/<[^>]*>/g, "").trim()}"` : "an HTML page";
    }
  }
  return printable(redact(text, secrets), 120);
}

function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = parseHttpDate(value);
  return date === undefined ? undefined : Math.max(0, date - now);
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501);
}

/**
 * A UTC time from its parts, or undefined when the parts name no real time (a 30 February, a
 * 25th hour): `Date.UTC` would quietly roll them over. A leap second counts as the second before.
 */
function utcTime(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
): number | undefined {
  const time = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const date = new Date(time);
  const real = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day && hour <= 23 && minute <= 59 && second <= 60;
  return real ? time : undefined;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** An RFC 3339 time in ms since the epoch; undefined for anything else or an impossible date. */
function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, fraction, sign, offsetHours, offsetMinutes] =
    match;
  const time = utcTime(+year, +month, +day, +hour, +minute, +second);
  if (time === undefined || Number(offsetHours ?? 0) > 23 || Number(offsetMinutes ?? 0) > 59) {
    return undefined;
  }
  const offset = (Number(offsetHours ?? 0) * 60 + Number(offsetMinutes ?? 0)) * 60_000;
  return time + Math.floor(Number(`0${fraction ?? ""}`) * 1000) - (sign === "-" ? -offset : offset);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850_DATE =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME_DATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ( \d|\d{2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP date (RFC 9110: IMF-fixdate, or the obsolete RFC 850 and asctime forms) in ms since
 * the epoch; undefined for anything else (`-5`, an impossible date).
 */
function parseHttpDate(text: string): number | undefined {
  const month = (name: string) => MONTHS.indexOf(name) + 1;
  let match = IMF_FIXDATE.exec(text);
  if (match) {
    const [, day, name, year, hour, minute, second] = match;
    return utcTime(+year, month(name), +day, +hour, +minute, +second);
  }
  match = RFC850_DATE.exec(text);
  if (match) {
    const [, day, name, shortYear, hour, minute, second] = match;
    // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
    const thisYear = new Date().getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(shortYear);
    if (year > thisYear + 50) year -= 100;
    return utcTime(year, month(name), +day, +hour, +minute, +second);
  }
  match = ASCTIME_DATE.exec(text);
  if (match) {
    const [, name, day, hour, minute, second, year] = match;
    return utcTime(+year, month(name), +day, +hour, +minute, +second);
  }
  return undefined;
}

/**
 * Check an answer's shape and turn it into a token; the error names what is wrong. `receivedAt`
 * is this machine's time when the answer came, `serverDate` the answer's `Date` header.
 */
function parseTokenAnswer(
  body: string,
  receivedAt: number,
  serverDate: number | undefined,
  registryUrl?: string,
): RegistryToken {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new ApiError("Cannot fetch registry token: Sauce Labs answered 200 with invalid JSON", {
      status: 200,
    });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ApiError(
      "Cannot fetch registry token: Sauce Labs answered 200 with JSON that is not an object",
      { status: 200 },
    );
  }
  const answer = json as Record<string, unknown>;
  const problems: string[] = [];
  for (const field of ["username", "password", "expires_at"]) {
    const value = answer[field];
    if (value === undefined || value === null) problems.push(`"${field}" is missing`);
    else if (typeof value !== "string") problems.push(`"${field}" is not a string`);
    else if (value === "") problems.push(`"${field}" is empty`);
  }
  if (problems.length > 0) {
    throw new ApiError(
      `Cannot fetch registry token: the answer is not a token (${problems.join(", ")})`,
      { status: 200 },
    );
  }
  const expiresText = answer.expires_at as string;
  const expires = parseRfc3339(expiresText);
  if (expires === undefined) {
    throw new ApiError(
      `Cannot fetch registry token: "expires_at" is not an RFC 3339 time ("${
        printable(expiresText, 40)
      }")`,
      { status: 200 },
    );
  }
  // The server's clock decides when its token expires; this machine's may be off. Counted from
  // the server's own Date, the lifetime holds whatever either clock says.
  const skew = serverDate === undefined ? 0 : serverDate - receivedAt;
  const expiresAt = Math.abs(skew) < CLOCK_TOLERANCE_MS ? expires : expires - skew;
  if (expiresAt <= receivedAt) {
    throw new ApiError(
      `Cannot fetch registry token: the token expired already (expires_at ${expiresText}${
        serverDate === undefined
          ? "; check this machine's clock"
          : `, and Sauce Labs' clock says ${new Date(serverDate).toISOString()}`
      })`,
      { status: 200 },
    );
  }
  return {
    username: answer.username as string,
    password: answer.password as string,
    expiresAt: new Date(expiresAt),
    ...(registryUrl ? { registryUrl } : {}),
  };
}

/**
 * The proxy the runtime's fetch sends a URL through (HTTPS_PROXY/HTTP_PROXY, minus NO_PROXY), as
 * "origin (VARIABLE)" without any credentials: only named in messages, so users see that a
 * failure may be the proxy's. None for loopback, which fetchToken reaches directly.
 */
function proxyFor(url: URL): string | undefined {
  if (isLoopbackHost(url.hostname)) return undefined;
  const names = url.protocol === "https:"
    ? ["HTTPS_PROXY", "https_proxy"]
    : ["HTTP_PROXY", "http_proxy"];
  const name = names.find((variable) => env(variable));
  if (!name) return undefined;
  const host = url.hostname.toLowerCase();
  const bypassed = (env("NO_PROXY") ?? env("no_proxy") ?? "").split(",")
    .map((entry) => entry.trim().toLowerCase().replace(/:\d+$/, "").replace(/^\*?\./, ""))
    .some((entry) =>
      entry === "*" || (entry !== "" && (host === entry || host.endsWith(`.${entry}`)))
    );
  if (bypassed) return undefined;
  try {
    return `${new URL(env(name)!).origin} (${name})`;
  } catch {
    return name;
  }
}

/** What went wrong on the wire, in a few words: runtimes word these differently and at length. */
function networkProblem(error: unknown): string {
  const text = errorText(error);
  const known: [RegExp, string][] = [
    [/proxy authentication required|tunnel: 407/i, "the proxy wants authentication (407)"],
    [/tunnel/i, "the proxy refused to open a tunnel"],
    [/refused/i, "connection refused"],
    [
      /reset|hang up|other side closed|connection closed|closed unexpectedly|EPIPE/i,
      "connection reset",
    ],
    [/dns|ENOTFOUND|EAI_AGAIN|lookup|resolve host/i, "host name not found"],
    [/certificate|tls|ssl/i, "TLS handshake failed"],
    [/timed? ?out/i, "connection timed out"],
  ];
  const match = known.find(([pattern]) => pattern.test(text));
  return match ? match[1] : printable(text, 120);
}

/** Which API an answer came from, for messages that must say where to look. */
interface ApiTarget {
  /** The API's host (and port). */
  host: string;
  /** Its region, when the URL is a region's. */
  region?: string;
}

function apiTarget(base: string): ApiTarget {
  const region = Object.keys(REGIONS).find((name) => REGIONS[name] === base);
  return { host: new URL(base).host, ...(region ? { region } : {}) };
}

function statusError(
  status: number,
  excerpt: string,
  target: ApiTarget,
  proxy?: string,
): ApiError {
  const detail = excerpt ? `: ${excerpt}` : "";
  if (status === 407 && proxy) {
    return new ApiError(
      `Cannot fetch registry token: the proxy ${proxy} wants authentication (407)`,
      { status },
    );
  }
  if (status === 403 && proxy && !excerpt.startsWith("{") && /HTML/.test(excerpt)) {
    return new ApiError(
      `Cannot fetch registry token: 403 with ${excerpt} through the proxy ${proxy}; the proxy may have refused the request`,
      { status },
    );
  }
  if (status === 401) {
    // An account lives in one region: the default region refuses an EU account's key.
    const others = Object.keys(REGIONS).filter((name) =>
      name !== target.region && name !== "staging"
    );
    return new AuthenticationError(
      `Sauce Labs at ${target.host} (${
        target.region ? `region ${target.region}` : "an explicit API URL"
      }) refused the username or access key (401)${detail}; check SAUCE_USERNAME and SAUCE_ACCESS_KEY, and the region: an account of ${
        others.join(" or ")
      } needs --region (or SAUCE_REGION)`,
      { status },
    );
  }
  if (status === 403) {
    return new AuthenticationError(
      `Sauce Labs did not allow a registry token (403)${detail}; your organization may not be enrolled in the Sauce Labs Container Registry: ask Sauce Labs support for registry access`,
      { status },
    );
  }
  if (status === 422 || status === 500) {
    return new ApiError(
      `Cannot fetch registry token: Sauce Labs could not generate a short-lived token (${status})${detail}`,
      { status },
    );
  }
  return new ApiError(`Cannot fetch registry token: Sauce Labs answered ${status}${detail}`, {
    status,
  });
}

/**
 * The token endpoint never redirects. Following one would send the request (and, at the next
 * hop, perhaps the credentials) wherever the answer says, https:// to http:// included.
 */
function redirectError(response: Response, base: string): ApiError {
  let target = "";
  try {
    const location = response.headers.get("location");
    if (location) target = ` to ${printable(new URL(location, base).origin, 80)}`;
  } catch {
    target = " to an address that is not a URL";
  }
  return new ApiError(
    `Cannot fetch registry token: ${base} answered ${response.status} (a redirect${target}); redirects are refused, since the token endpoint never redirects: check the API URL`,
    { status: response.status },
  );
}

async function readLimited(response: Response, limit: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  if (size >= limit) await reader.cancel().catch(() => {});
  return new TextDecoder().decode(concat(chunks).subarray(0, limit));
}

function isTimeout(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true &&
    (signal.reason instanceof TimeoutError ||
      (signal.reason as { name?: string })?.name === "TimeoutError");
}

function abortError(signal: AbortSignal): SauceRegistryError {
  if (signal.reason instanceof SauceRegistryError) return signal.reason;
  if (isTimeout(signal)) return new TimeoutError("Timed out", { cause: signal.reason });
  return new SauceRegistryError("Cancelled", { cause: signal.reason, exitCode: 130 });
}

/** What one request brought back, read while its connection was open. */
interface Answer {
  status: number;
  statusText: string;
  /** This machine's time when the answer's head arrived. */
  receivedAt: number;
  /** The answer's `Date` header, when it holds a valid HTTP date. */
  serverDate?: number;
  retryAfter: string | null;
  /** The body, read up to the limit for the status; empty for a redirect. */
  body: string;
  /** The refusal of a redirect. */
  redirect?: ApiError;
}

/**
 * Ask Sauce Labs for a short-lived registry token. Retries connection errors, 429 and 5xx (but
 * 501) with exponential backoff, honouring `Retry-After`; refuses redirects; gives up after
 * `timeoutSeconds` (default 60). A loopback API is reached directly, never through a proxy.
 *
 * @example
 * ```ts
 * import { fetchToken } from "./mod.ts";
 * const token = await fetchToken({
 *   credentials: { username: "alice", accessKey: "…" },
 *   registryUrl: "registry.example.com/your-private-registry",
 *   region: "eu-central-1",
 * });
 * console.log(token.username, token.expiresAt);
 * ```
 *
 * @param options Credentials, registry, region or API URL, retry policy, time limit, abort signal.
 * @returns The token, its expiry in this machine's clock.
 * @throws {AuthenticationError} On 401 and 403.
 * @throws {ApiError} On any other failure or an answer of the wrong shape.
 * @throws {TimeoutError} When the time limit or the signal's timeout runs out.
 * @throws {UsageError} For a bad region, API URL or time limit, or a username with a `:`.
 */
export async function fetchToken(options: FetchTokenOptions): Promise<RegistryToken> {
  const base = apiBaseUrl(options.region, options.apiUrl);
  checkUsername(options.credentials.username, "the credentials");
  const limit = timeLimit(options.timeoutSeconds);
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new TimeoutError(timeoutMessage(limit, `waiting for a registry token from ${base}`)),
      ),
    limit.seconds * 1000,
  );
  const outer = options.signal;
  const passOn = () => controller.abort(outer!.reason);
  if (outer?.aborted) passOn();
  else outer?.addEventListener("abort", passOn, { once: true });
  try {
    return await requestToken(base, options, controller.signal);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", passOn);
  }
}

async function requestToken(
  base: string,
  options: FetchTokenOptions,
  signal: AbortSignal,
): Promise<RegistryToken> {
  const url = new URL(`${base}${TOKEN_PATH}`);
  const { username, accessKey } = options.credentials;
  const secrets = credentialSecrets(options.credentials);
  const retries = options.retries ?? whole(env("SAUCE_REGISTRY_RETRIES")) ?? 3;
  const firstDelay = options.retryDelayMs ?? whole(env("SAUCE_REGISTRY_RETRY_DELAY_MS")) ?? 1000;
  const log = options.log ?? (() => {});
  const body = options.registryUrl
    ? JSON.stringify({ registry_url: options.registryUrl })
    : undefined;
  const proxy = proxyFor(url);
  const target = apiTarget(base);
  const progress = options.onProgress ?? (() => {});
  for (let attempt = 0;; attempt++) {
    let failure: ApiError;
    let reason: string;
    let waitMs: number | undefined;
    const started = Date.now();
    progress({ phase: "request", attempt: attempt + 1, attempts: retries + 1, host: url.host });
    try {
      log(
        `POST ${url} (Authorization: Basic [redacted]${body ? `, body ${body}` : ""})`,
      );
      const init: RequestInit = {
        method: "POST",
        headers: {
          "Authorization": `Basic ${base64(`${username}:${accessKey}`)}`,
          "Content-Type": "application/json",
          "Accept": "application/json",
          "User-Agent": `sauce-registry/${VERSION}`,
        },
        body,
        redirect: "manual",
        signal,
      };
      const answer = await fetchAndRead(
        url,
        init,
        isLoopbackHost(url.hostname),
        (response) => readAnswer(response, base),
      );
      log(`${answer.status} ${answer.statusText} in ${Date.now() - started} ms`);
      if (answer.redirect) throw answer.redirect;
      if (answer.status === 200) {
        return parseTokenAnswer(
          answer.body,
          answer.receivedAt,
          answer.serverDate,
          options.registryUrl,
        );
      }
      failure = statusError(answer.status, answerExcerpt(answer.body, secrets), target, proxy);
      reason = `Sauce Labs answered ${answer.status}`;
      if (!isRetryableStatus(answer.status)) throw failure;
      waitMs = retryAfterMs(answer.retryAfter, Date.now());
    } catch (error) {
      if (signal.aborted) throw abortError(signal);
      if (error instanceof SauceRegistryError) throw error;
      reason = redact(networkProblem(error), secrets);
      failure = new ApiError(
        `Cannot reach Sauce Labs at ${base}${
          proxy ? ` through the proxy ${proxy}` : ""
        }: ${reason}`,
        { cause: error },
      );
      log(`failed in ${Date.now() - started} ms: ${failure.message}`);
    }
    if (attempt >= retries) {
      throw attempt === 0 ? failure : new ApiError(`${failure.message} (${attempt + 1} attempts)`, {
        status: failure.status,
        cause: failure.cause,
      });
    }
    const delay = Math.min(waitMs ?? firstDelay * 2 ** attempt, MAX_BACKOFF_MS);
    log(`retrying in ${delay} ms (attempt ${attempt + 2} of ${retries + 1})`);
    progress({
      phase: "retry",
      attempt: attempt + 2,
      attempts: retries + 1,
      delayMs: delay,
      reason,
    });
    try {
      await sleep(delay, signal);
    } catch {
      throw abortError(signal);
    }
  }
}

/** A whole number from an environment variable; undefined when unset or not one. */
function whole(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

async function readAnswer(response: Response, base: string): Promise<Answer> {
  const receivedAt = Date.now();
  const head = {
    status: response.status,
    statusText: response.statusText,
    receivedAt,
    serverDate: parseHttpDate(response.headers.get("date")?.trim() ?? ""),
    retryAfter: response.headers.get("retry-after"),
  };
  if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
    await response.body?.cancel();
    return { ...head, body: "", redirect: redirectError(response, base) };
  }
  const limit = response.status === 200 ? MAX_TOKEN_BODY : MAX_ERROR_BODY;
  return { ...head, body: await readLimited(response, limit) };
}

// ---------------------------------------------------------------------------------------------
// Registry references
// ---------------------------------------------------------------------------------------------

/** A registry URL or image reference, taken apart. */
export interface RegistryReference {
  /** The host and optional port, lower-cased: what `docker login` takes. */
  host: string;
  /** Host and path without scheme, tag, digest or trailing slash: what the Sauce API takes. */
  registryUrl: string;
  /** The repository path after the host, if any (`team/app`). */
  path: string;
  /** The tag, for an image reference. */
  tag?: string;
  /** The digest, for an image reference. */
  digest?: string;
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const PATH_COMPONENT = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

function registryUsage(input: string, problem: string): UsageError {
  // A password in user:password@host must not be echoed back, whatever it holds.
  const shown = maskUserinfo(input);
  return new UsageError(
    `Invalid registry "${
      printable(shown, 60)
    }": ${problem}; expected a registry URL like registry.example.com/your-private-registry or an image like registry.example.com/team/app:1.0`,
  );
}

/** Whether `[…]` holds a valid IPv6 address (the URL parser knows the grammar). */
function isIpv6Literal(bracketed: string): boolean {
  if (!/^\[[0-9a-f:.]+\]$/.test(bracketed)) return false;
  try {
    return new URL(`http://${bracketed}/`).hostname.startsWith("[");
  } catch {
    return false;
  }
}

function checkHost(input: string, host: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host);
  if (!match) throw registryUsage(input, "the host is malformed");
  const [, name, port] = match;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw registryUsage(input, `port ${port} is out of range`);
  }
  const lower = name.toLowerCase();
  if (name.startsWith("[")) {
    if (!isIpv6Literal(lower)) throw registryUsage(input, "the host is not a valid IPv6 address");
  } else {
    const labels = lower.split(".");
    if (lower.length > 253 || labels.some((label) => !HOST_LABEL.test(label))) {
      throw registryUsage(input, "the host is not a valid host name");
    }
    if (labels.length === 1 && lower !== "localhost" && port === undefined) {
      throw registryUsage(input, `"${lower}" is not a registry host (no dot or port)`);
    }
  }
  // "host:08080" and "host:8080" are one registry: Docker's config must see one spelling.
  return port === undefined ? lower : `${lower}:${Number(port)}`;
}

/**
 * Take apart a registry URL as Sauce Labs gives it (`registry.example.com/your-private-registry`,
 * with or without `https://`, a trailing slash or a port) or an image reference
 * (`registry.example.com/team/app:1.2@sha256:…`).
 *
 * @example
 * ```ts
 * import { parseRegistry } from "./mod.ts";
 * parseRegistry("https://registry.example.com/team/app:1.2/".replace(/\/$/, ""));
 * // { host: "registry.example.com", registryUrl: "registry.example.com/team/app", path: "team/app", tag: "1.2" }
 * ```
 *
 * @param input The registry URL or image reference.
 * @returns Its parts.
 * @throws {UsageError} When it is not a registry URL or image reference.
 */
export function parseRegistry(input: string): RegistryReference {
  let rest = input.trim();
  if (rest === "") throw registryUsage(input, "it is empty");
  // deno-lint-ignore no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(rest)) throw registryUsage(input, "it contains white space");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (scheme) {
    if (!/^https?$/i.test(scheme[1])) {
      throw registryUsage(input, `the scheme ${scheme[1]}:// is not supported`);
    }
    rest = rest.slice(scheme[0].length);
  }
  if (maskUserinfo(rest) !== rest) {
    throw registryUsage(input, "credentials (user:password@) do not belong in it");
  }
  if (/[?#]/.test(rest)) throw registryUsage(input, "it has a query or fragment");
  rest = rest.replace(/\/+$/, "");
  const slash = rest.indexOf("/");
  const hostPart = slash === -1 ? rest : rest.slice(0, slash);
  let path = slash === -1 ? "" : rest.slice(slash + 1);
  if (hostPart === "") throw registryUsage(input, "the host is missing");
  const host = checkHost(input, hostPart);
  let digest: string | undefined;
  let tag: string | undefined;
  const at = path.indexOf("@");
  if (at !== -1) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
    if (!DIGEST.test(digest)) throw registryUsage(input, "the digest is malformed");
  }
  const lastColon = path.lastIndexOf(":");
  if (lastColon !== -1 && lastColon > path.lastIndexOf("/")) {
    tag = path.slice(lastColon + 1);
    path = path.slice(0, lastColon);
    if (!TAG.test(tag)) throw registryUsage(input, "the tag is malformed");
  }
  if (path !== "" && path.split("/").some((part) => !PATH_COMPONENT.test(part))) {
    throw registryUsage(
      input,
      "the repository path is malformed (lower-case letters, digits, . _ -)",
    );
  }
  if ((tag !== undefined || digest !== undefined) && path === "") {
    throw registryUsage(input, "a tag or digest needs a repository");
  }
  return {
    host,
    registryUrl: path ? `${host}/${path}` : host,
    path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * The host (and port) that `docker login` takes for a registry URL or image reference: the
 * part before the first `/`.
 *
 * @example
 * ```ts
 * import { registryHost } from "./mod.ts";
 * registryHost("https://registry.example.com/your-private-registry/"); // "registry.example.com"
 * ```
 *
 * @param ref A registry URL or image reference.
 * @returns The host, lower-cased, with its port if one was given.
 * @throws {UsageError} When `ref` is malformed.
 */
export function registryHost(ref: string): string {
  return parseRegistry(ref).host;
}

/** The registry URL an image lives in: the image reference without its last path component. */
function imageRegistryUrl(ref: RegistryReference): string {
  const parts = ref.path.split("/");
  return parts.length > 1 ? `${ref.host}/${parts.slice(0, -1).join("/")}` : ref.host;
}

// ---------------------------------------------------------------------------------------------
// Files: atomic writes and a cross-process lock
// ---------------------------------------------------------------------------------------------

/**
 * Write a file so that readers see the old or the new content, never half, even after a power
 * loss: a temporary file in the same folder, flushed to the disk, then renamed over the target,
 * then the folder flushed so that the rename itself is on the disk.
 */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temporary = `${path}.tmp-${processId()}-${randomId()}`;
  try {
    if (!(await createSynced(temporary, data, mode))) {
      throw new SauceRegistryError(`Cannot write ${path}: ${temporary} exists`);
    }
    await changeMode(temporary, mode); // the umask may have narrowed it
    await renameFile(temporary, path);
  } catch (error) {
    await removePath(temporary);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * Run `work` while holding a lock file, so that processes take turns (see `_lock.ts`: who holds
 * a lock, and when a waiter breaks it). Loaded only when a lock is needed: not on the credential
 * helper's hot path.
 */
async function withFileLock<T>(
  lockPath: string,
  work: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const { holdLock } = await import("./_lock.ts");
  return await holdLock(lockPath, work, { signal, abortError });
}

// ---------------------------------------------------------------------------------------------
// Token cache
// ---------------------------------------------------------------------------------------------

/** Options of {@linkcode getToken}: those of {@linkcode fetchToken}, plus the cache. */
export interface GetTokenOptions extends FetchTokenOptions, PathOptions {
  /** Skip the cache: always ask the API, store nothing. */
  noCache?: boolean;
  /**
   * Called with a one-line message when the cache is not safe to use (a folder of another user,
   * a symlink, one others can write to): the token is then fetched without it.
   */
  warn?: (message: string) => void;
}

interface CachedToken {
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
const MAX_CACHED_TOKEN_MS = 60 * 60 * 1000;

/**
 * Whether a cached token can still be handed out: not within its refresh margin of expiry. The
 * margin is 60 s or a fifth of the lifetime, whichever is longer, but never more than half the
 * lifetime, so that very short tokens can still be shared by processes that start together. The
 * lifetime counts at most an hour, and an entry fetched "in the future" is not trusted.
 */
function isFresh(token: CachedToken, now: number): boolean {
  const issued = Date.parse(token.issued_at);
  const expires = Date.parse(token.expires_at);
  if (Number.isNaN(expires) || Number.isNaN(issued) || issued > now) return false;
  return now < renewalTime(expires, issued);
}

/** When the cache stops handing out a token issued at `issued` (ms) that expires at `expires`. */
function renewalTime(expires: number, issued: number): number {
  const trusted = Math.min(expires, issued + MAX_CACHED_TOKEN_MS);
  const lifetime = Math.max(0, trusted - issued);
  const margin = Math.min(Math.max(60_000, lifetime / 5), lifetime / 2);
  return trusted - margin;
}

/**
 * The API part of a cache key, without parsing a URL (a millisecond of the hot path on Deno). Safe:
 * a token is only ever cached after fetchToken checked the same URL, and a URL spelled two ways
 * only costs one more cache file.
 */
function cacheKeyApiUrl(options: GetTokenOptions): string {
  return options.apiUrl ? options.apiUrl.replace(/\/+$/, "") : apiBaseUrl(options.region);
}

/**
 * What identifies a cached token: the API, the username, the access key and the registry. The
 * access key is part of it, so that a rotated or wrong key never gets a token another key
 * fetched; only a hash of it is ever written (as the cache file's name).
 */
function cacheKey(options: GetTokenOptions): string {
  const { username, accessKey } = options.credentials;
  return JSON.stringify([cacheKeyApiUrl(options), username, accessKey, options.registryUrl ?? ""]);
}

async function cacheFile(options: GetTokenOptions): Promise<string> {
  return joinPath(cacheDirectory(options), `${sha256Hex(cacheKey(options))}.json`);
}

/** Whether the cache folder can be trusted, and this process's user id for its entries. */
interface CacheFolder {
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
async function checkCacheFolder(dir: string): Promise<CacheFolder> {
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
function ownershipProblem(
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
interface CacheEntry {
  token?: CachedToken;
  problem?: string;
}

async function readCacheEntry(path: string, folder: CacheFolder): Promise<CacheEntry> {
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

function fromCache(token: CachedToken): RegistryToken {
  return {
    username: token.username,
    password: token.password,
    expiresAt: new Date(token.expires_at),
    ...(token.registry_url ? { registryUrl: token.registry_url } : {}),
    issuedAt: new Date(token.issued_at),
  };
}

/** Token requests under way in this process, by cache folder and key: callers share them. */
const requestsInFlight = new Map<string, { token: Promise<RegistryToken>; signal?: AbortSignal }>();

/**
 * Get a token through the cache: reuse one until it nears expiry, else fetch one. Across
 * processes only one asks the API at a time; the others wait and reuse its token; within one
 * process, concurrent calls share one request. The cache lives in a 0700 folder, one 0600 file
 * per (API URL, username, access key, registry), named by a hash. A folder or file that is not
 * this user's alone (another owner, a symlink, writable by others) is not used: `warn` says so
 * and the token is fetched without the cache.
 *
 * @example
 * ```ts
 * import { getToken, resolveCredentials } from "./mod.ts";
 * const token = await getToken({
 *   credentials: await resolveCredentials(),
 *   registryUrl: "registry.example.com/your-private-registry",
 * });
 * ```
 *
 * @param options Those of {@linkcode fetchToken}, the cache folder, `noCache` and `warn`.
 * @returns A token that is not about to expire.
 * @throws {AuthenticationError | ApiError | TimeoutError} As {@linkcode fetchToken}.
 */
export async function getToken(options: GetTokenOptions): Promise<RegistryToken> {
  if (options.noCache) return await fetchToken(options);
  // Looked up and registered with no await in between, so that concurrent calls cannot both lead.
  const key = `${cacheDirectory(options)}\n${cacheKey(options)}`;
  for (;;) {
    const flight = requestsInFlight.get(key);
    if (flight === undefined) break;
    try {
      return await settledOrAborted(flight.token, options.signal);
    } catch (error) {
      // The request this call joined was cancelled by its own caller's signal: ask anew.
      if (flight.signal?.aborted && !options.signal?.aborted) continue;
      throw error;
    }
  }
  const flight = { token: cachedOrFetched(options), signal: options.signal };
  requestsInFlight.set(key, flight);
  try {
    return await flight.token;
  } finally {
    if (requestsInFlight.get(key) === flight) requestsInFlight.delete(key);
  }
}

/** The promise's outcome, or the signal's abort error as soon as it aborts. */
function settledOrAborted<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

async function cachedOrFetched(options: GetTokenOptions): Promise<RegistryToken> {
  const path = await cacheFile(options);
  const dir = dirname(path);
  let folder = await checkCacheFolder(dir);
  if (folder.exists && !folder.problem) {
    const entry = await readCacheEntry(path, folder);
    if (entry.problem) return await fetchUncached(entry.problem, options);
    if (entry.token && isFresh(entry.token, Date.now())) return fromCache(entry.token);
  }
  if (!folder.exists) {
    await makeDirectory(dir, 0o700);
    folder = await checkCacheFolder(dir);
  }
  if (folder.problem) return await fetchUncached(folder.problem, options);
  await changeMode(dir, 0o700);
  return await withFileLock(`${path}.lock`, async () => {
    const again = await readCacheEntry(path, folder);
    if (again.token && isFresh(again.token, Date.now())) return fromCache(again.token);
    const issuedAt = new Date();
    const token = await fetchToken(options);
    const entry: CachedToken = {
      username: token.username,
      password: token.password,
      expires_at: token.expiresAt.toISOString(),
      issued_at: issuedAt.toISOString(),
      ...(options.registryUrl ? { registry_url: options.registryUrl } : {}),
    };
    await writeFileAtomic(path, JSON.stringify(entry), 0o600);
    return { ...token, issuedAt };
  }, options.signal);
}

async function fetchUncached(problem: string, options: GetTokenOptions): Promise<RegistryToken> {
  options.warn?.(
    `${problem}; fetching the token without the cache (remove it, and sauce-registry makes a new one)`,
  );
  return await fetchToken(options);
}

/**
 * Remove cached tokens: those for one registry host, or all of them.
 *
 * @example
 * ```ts
 * import { clearCachedTokens } from "./mod.ts";
 * const removed = await clearCachedTokens("registry.example.com");
 * ```
 *
 * @param host Only tokens for this registry host; all when undefined.
 * @param options The cache folder.
 * @returns How many were removed.
 * @throws {SauceRegistryError} When the cache folder is not this user's alone (it is left alone).
 */
export async function clearCachedTokens(host?: string, options: PathOptions = {}): Promise<number> {
  const dir = cacheDirectory(options);
  const folder = await checkCacheFolder(dir);
  if (folder.problem) throw new SauceRegistryError(folder.problem);
  let removed = 0;
  for (const name of await listDirectory(dir)) {
    if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
    const path = joinPath(dir, name);
    const { token } = await readCacheEntry(path, folder);
    const tokenHost = token?.registry_url ? safeHost(token.registry_url) : undefined;
    if (host === undefined || tokenHost === host) {
      await removePath(path);
      removed++;
    }
  }
  return removed;
}

/** When the cached token for a registry expires, if one is cached, or why the cache is not used. */
async function cachedTokenState(
  options: GetTokenOptions,
): Promise<{ expiresAt?: Date; problem?: string }> {
  const path = await cacheFile(options);
  const folder = await checkCacheFolder(dirname(path));
  if (!folder.exists || folder.problem) return folder.problem ? { problem: folder.problem } : {};
  const { token, problem } = await readCacheEntry(path, folder);
  if (problem) return { problem };
  return token ? { expiresAt: new Date(token.expires_at) } : {};
}

function safeHost(ref: string): string | undefined {
  try {
    return registryHost(ref);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Tool runners
// ---------------------------------------------------------------------------------------------

/** The container tools `login` and `logout` know. */
export const TOOLS = [
  "docker",
  "podman",
  "buildah",
  "skopeo",
  "nerdctl",
  "helm",
  "oras",
  "crane",
] as const;

/** One of {@linkcode TOOLS}. */
export type Tool = typeof TOOLS[number];

/**
 * Each tool's documented login with the password on standard input, and its logout. `extra` is
 * placed before the host, where every tool accepts options.
 */
const TOOL_COMMANDS: Record<
  Tool,
  {
    login(host: string, username: string, extra: string[]): string[];
    logout(host: string, extra: string[]): string[];
  }
> = {
  docker: standardLogin(),
  podman: standardLogin(),
  buildah: standardLogin(),
  skopeo: standardLogin(),
  nerdctl: standardLogin(),
  oras: standardLogin(),
  helm: {
    login: (host, username, extra) => [
      "registry",
      "login",
      "--username",
      username,
      "--password-stdin",
      ...extra,
      host,
    ],
    logout: (host, extra) => ["registry", "logout", ...extra, host],
  },
  crane: {
    login: (host, username, extra) => [
      "auth",
      "login",
      "--username",
      username,
      "--password-stdin",
      ...extra,
      host,
    ],
    logout: (host, extra) => ["auth", "logout", ...extra, host],
  },
};

function standardLogin() {
  return {
    login: (host: string, username: string, extra: string[]) => [
      "login",
      "--username",
      username,
      "--password-stdin",
      ...extra,
      host,
    ],
    logout: (host: string, extra: string[]) => ["logout", ...extra, host],
  };
}

function checkTool(tool: string): Tool {
  if (!(TOOLS as readonly string[]).includes(tool)) {
    throw new UsageError(
      `Unknown tool "${printable(tool, 30)}": expected one of ${TOOLS.join(", ")}`,
    );
  }
  return tool as Tool;
}

/** Options of {@linkcode login} and {@linkcode logout}. */
export interface ToolOptions {
  /** The tool to log in; default `docker`. */
  tool?: Tool | string;
  /** Extra arguments for the tool, such as `--tls-verify=false`. */
  toolArgs?: string[];
  /** The tool's environment; default this process's, less `SAUCE_ACCESS_KEY`. */
  env?: Record<string, string>;
  /**
   * Where podman, buildah and skopeo keep the login; default {@linkcode containersAuthFile}. An
   * `--authfile` among `toolArgs` wins.
   */
  authFile?: string;
  /** Aborting stops the tool. */
  signal?: AbortSignal;
}

/** What a tool printed on success (already free of secrets). */
export interface ToolResult {
  /** The tool's standard output. */
  stdout: string;
  /** The tool's standard error. */
  stderr: string;
  /** The argument list it ran with (never holds a secret). */
  argv: string[];
  /** The containers auth file podman, buildah or skopeo was given (`--authfile`). */
  authFile?: string;
}

/** The tools that keep logins in a containers auth file (containers-auth.json(5)). */
const CONTAINERS_TOOLS: readonly Tool[] = ["podman", "buildah", "skopeo"];

/**
 * The containers auth file (containers-auth.json(5)) that {@linkcode login} gives podman, buildah
 * and skopeo, so that they never write the Docker config: `REGISTRY_AUTH_FILE` when set; else, when
 * `DOCKER_CONFIG` is set, `$XDG_CONFIG_HOME/containers/auth.json` (with `DOCKER_CONFIG` set,
 * podman and buildah take `$DOCKER_CONFIG/config.json` as their own file and no longer read the
 * one in `$XDG_RUNTIME_DIR`, but all three read this one); else the file they use by default:
 * `$XDG_RUNTIME_DIR/containers/auth.json`, `/run/containers/UID/auth.json` on Linux without
 * `XDG_RUNTIME_DIR`, `~/.config/containers/auth.json` elsewhere.
 *
 * @example
 * ```ts
 * import { containersAuthFile } from "./mod.ts";
 * console.log(containersAuthFile()); // e.g. /run/user/1000/containers/auth.json
 * ```
 *
 * @param environment The tools' environment; default this process's.
 * @returns The file's path.
 */
export function containersAuthFile(
  environment: Record<string, string | undefined> = toolEnvironment(),
): string {
  const { REGISTRY_AUTH_FILE, DOCKER_CONFIG, XDG_CONFIG_HOME, XDG_RUNTIME_DIR } = environment;
  if (REGISTRY_AUTH_FILE) return REGISTRY_AUTH_FILE;
  const configHome = () => XDG_CONFIG_HOME || joinPath(homeDirectory(), ".config");
  if (DOCKER_CONFIG) return joinPath(configHome(), "containers", "auth.json");
  if (!isLinux()) return joinPath(homeDirectory(), ".config", "containers", "auth.json");
  if (XDG_RUNTIME_DIR) return joinPath(XDG_RUNTIME_DIR, "containers", "auth.json");
  return `/run/containers/${userId() ?? 0}/auth.json`;
}

/**
 * Run a login or logout with what the tool needs on top of its own arguments. podman, buildah and
 * skopeo get an explicit `--authfile` (else, with `DOCKER_CONFIG` set, they rewrite the Docker
 * config, dropping every key they do not know and replacing a symlink by a file), and an empty
 * `DOCKER_CONFIG` of their own: before a login they look up the host's current credentials,
 * which would run a credential helper named for it in the Docker config, such as this
 * package's own, which cannot work without the access key the tool is not given.
 */
async function withToolSetup<T>(
  tool: Tool,
  options: ToolOptions,
  run: (extra: string[], env: Record<string, string>, authFile?: string) => Promise<T>,
): Promise<T> {
  const env = options.env ?? toolEnvironment();
  const toolArgs = options.toolArgs ?? [];
  if (!CONTAINERS_TOOLS.includes(tool)) return await run(toolArgs, env);
  const own = toolArgs.findIndex((arg) => arg === "--authfile" || arg.startsWith("--authfile="));
  const authFile = own === -1
    ? options.authFile ?? containersAuthFile(env)
    : toolArgs[own].startsWith("--authfile=")
    ? toolArgs[own].slice("--authfile=".length)
    : toolArgs[own + 1];
  const emptyDockerConfig = await makePrivateFolder();
  try {
    const extra = own === -1 ? ["--authfile", authFile, ...toolArgs] : toolArgs;
    return await run(extra, { ...env, DOCKER_CONFIG: emptyDockerConfig }, authFile);
  } finally {
    await removePath(emptyDockerConfig, true);
  }
}

/** How many of a failing tool's lines its error shows, and how many characters at most. */
const TOOL_ERROR_LINES = 3;
const TOOL_ERROR_CHARS = 300;

/** One line of a tool's output, as a person reads it. */
interface OutputLine {
  text: string;
  /** The severity the line states (`error`, `warn`, …), when it states one. */
  level?: string;
}

/**
 * A tool's output line without its log decoration: logrus' `time=… level=fatal msg="…"` (skopeo)
 * becomes its message, `WARN[0000] …` (podman, buildah) keeps its level.
 */
function outputLine(raw: string): OutputLine {
  const logfmt = /\blevel=(\w+)\s+msg="((?:[^"\\]|\\.)*)"/.exec(raw);
  if (logfmt) {
    const message = logfmt[2].replace(/\\(.)/g, (_, c: string) => "nt".includes(c) ? " " : c);
    return { level: logfmt[1].toLowerCase(), text: message.replace(/\s+/g, " ").trim() };
  }
  const text = raw.replace(/\s+/g, " ").trim();
  const prefix = /^(ERRO|WARN|INFO|DEBU|FATA|PANI)\[\d+\]/.exec(text)?.[1];
  return prefix ? { level: prefix.toLowerCase(), text } : { text };
}

/** Where a tool's error starts: a line that says it is one, else one that sounds like one. */
function errorStart(lines: readonly OutputLine[]): number {
  const severe = (line: OutputLine) =>
    /^(erro|error|fata|fatal|pani|panic)$/.test(line.level ?? "") ||
    /^(error|fatal|panic)\b/i.test(line.text);
  const sounds = (line: OutputLine) =>
    !/^(warn|warning|info|debu|debug|trace)$/.test(line.level ?? "") &&
    /\b(error|fail(ed|ure)?|denied|unauthori[sz]ed|refused|cannot|invalid|not found)\b/i.test(
      line.text,
    );
  for (const test of [severe, sounds]) {
    const index = lines.findIndex(test);
    if (index !== -1) return index;
  }
  return 0;
}

/**
 * A tool failed: say so with the first lines of its error (not its last line, which after a
 * crash is the bottom of a stack trace), secrets masked, bounded.
 */
function toolFailure(
  tool: string,
  action: string,
  result: SpawnResult,
  secrets: string[],
): ToolError {
  const lines = redact(`${result.stderr}\n${result.stdout}`, secrets).split(/\r?\n/)
    .map(outputLine).filter((line) => line.text !== "");
  const start = errorStart(lines);
  // Masked again: unquoting a log line's message can bring a secret back together.
  const excerpt = redact(
    lines.slice(start, start + TOOL_ERROR_LINES).map((line) => line.text).join(" | "),
    secrets,
  );
  return new ToolError(
    tool,
    `${tool} ${action} failed (exit code ${result.code})${
      excerpt ? `: ${printable(excerpt, TOOL_ERROR_CHARS)}` : ""
    }`,
    { toolExitCode: result.code },
  );
}

/**
 * Log a container tool in to the registry host with a token, the password passed on standard
 * input only (`--password-stdin`), never on the command line. podman, buildah and skopeo keep the
 * login in a containers auth file ({@linkcode containersAuthFile}), never in the Docker config.
 *
 * @example
 * ```ts
 * import { fetchToken, login } from "./mod.ts";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * await login(token, "registry.example.com/your-private-registry", { tool: "podman" });
 * ```
 *
 * @param token The registry token.
 * @param registry The registry URL or an image reference; only its host is used.
 * @param options The tool, extra arguments, environment.
 * @returns What the tool printed, with any secret removed.
 * @throws {UsageError} For a malformed registry or unknown tool.
 * @throws {ToolError} When the tool fails or is not installed.
 */
export async function login(
  token: RegistryToken,
  registry: string,
  options: ToolOptions = {},
): Promise<ToolResult> {
  const tool = checkTool(options.tool ?? "docker");
  const host = registryHost(registry);
  return await withToolSetup(tool, options, async (extra, env, authFile) => {
    const argv = TOOL_COMMANDS[tool].login(host, token.username, extra);
    const result = await spawn(tool, argv, { stdin: token.password, env, signal: options.signal });
    const secrets = [token.password];
    if (result.code !== 0) throw toolFailure(tool, "login", result, secrets);
    return {
      stdout: redact(result.stdout, secrets),
      stderr: redact(result.stderr, secrets),
      argv,
      ...(authFile ? { authFile } : {}),
    };
  });
}

/**
 * Log a container tool out of a registry host (for podman, buildah and skopeo, out of the same
 * containers auth file {@linkcode login} uses).
 *
 * @example
 * ```ts
 * import { logout } from "./mod.ts";
 * await logout("registry.example.com", { tool: "docker" });
 * ```
 *
 * @param registry The registry URL or image reference.
 * @param options The tool, extra arguments, environment.
 * @returns What the tool printed.
 * @throws {ToolError} When the tool fails.
 */
export async function logout(registry: string, options: ToolOptions = {}): Promise<ToolResult> {
  const tool = checkTool(options.tool ?? "docker");
  const host = registryHost(registry);
  return await withToolSetup(tool, options, async (extra, env, authFile) => {
    const argv = TOOL_COMMANDS[tool].logout(host, extra);
    const result = await spawn(tool, argv, { env, signal: options.signal });
    if (result.code !== 0) throw toolFailure(tool, "logout", result, []);
    return {
      stdout: result.stdout,
      stderr: result.stderr,
      argv,
      ...(authFile ? { authFile } : {}),
    };
  });
}

/** The helper's name in the Docker config's `credHelpers`, as {@linkcode configureDocker} writes it. */
const HELPER_NAME = "saucelabs";

/** The tools that use `credHelpers` from the Docker config, and so the credential helper. */
const HELPER_TOOLS: readonly Tool[] = ["docker", "podman", "buildah", "skopeo"];

/**
 * Whether the credential helper already serves a registry host for a tool, so that a login is of
 * no use: the host is recorded by {@linkcode configureDocker}, the Docker config names the helper
 * for it in `credHelpers`, the helper is on PATH, and the tool reads `credHelpers` (docker,
 * podman, buildah, skopeo). Such a tool asks the helper for a fresh token on every pull and push;
 * a login would only be shadowed (docker) or shadow the helper until it expired (the others).
 *
 * @example
 * ```ts
 * import { credentialHelperServes } from "./mod.ts";
 * const config = await credentialHelperServes("registry.example.com", "podman");
 * if (config) console.log(`no login needed: ${config} names the helper`);
 * ```
 *
 * @param host The registry host.
 * @param tool The tool.
 * @param options Where the files are.
 * @returns The Docker config that names the helper for the host, or undefined.
 */
export async function credentialHelperServes(
  host: string,
  tool: string,
  options: PathOptions = {},
): Promise<string | undefined> {
  if (!(HELPER_TOOLS as readonly string[]).includes(tool)) return undefined;
  let docker: DockerConfigStatus;
  let recorded: RegistrySettings | undefined;
  try {
    docker = await dockerConfigStatus(host, options);
    recorded = (await readRegistrySettings(options))[host];
  } catch (error) {
    // A broken file means the helper cannot serve the host: the login goes ahead (and docker's
    // own login then reports its broken config).
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
  if (!recorded || docker.credHelper !== HELPER_NAME) return undefined;
  return (await findOnPath(HELPER_PROGRAM)) ? docker.path : undefined;
}

// ---------------------------------------------------------------------------------------------
// Docker config
// ---------------------------------------------------------------------------------------------

/**
 * The `auths` Docker config for one registry host: what `token --format docker-config` prints.
 *
 * @example
 * ```ts
 * import { dockerConfigFor } from "./mod.ts";
 * const token = { username: "oauth2accesstoken", password: "…", expiresAt: new Date() };
 * dockerConfigFor(token, "registry.example.com"); // { auths: { "registry.example.com": { auth: "…" } } }
 * ```
 *
 * @param token The registry token.
 * @param host The registry host.
 * @returns The config object.
 */
export function dockerConfigFor(
  token: RegistryToken,
  host: string,
): { auths: Record<string, { auth: string }> } {
  return { auths: { [host]: { auth: base64(`${token.username}:${token.password}`) } } };
}

/** Where a JSON text first goes wrong, as "line L, column C", for messages about broken files. */
function jsonErrorPosition(text: string): string {
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

/** A settings file's text; undefined when it does not exist. */
async function readSettingsText(path: string): Promise<string | undefined> {
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
async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  const raw = await readSettingsText(path);
  return raw === undefined ? undefined : parseJsonObject(path, raw);
}

/** "an array", "a string", "null", … for messages about a value of the wrong type. */
function jsonType(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** Parse a settings file's text, which must hold an object (or nothing, or `null`). */
function parseJsonObject(path: string, raw: string): Record<string, unknown> {
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

/** Check what configure-docker edits in a parsed Docker config: `credHelpers` is an object. */
function checkCredHelpers(path: string, json: Record<string, unknown>): void {
  const helpers = json.credHelpers;
  if (
    helpers !== undefined && helpers !== null &&
    (typeof helpers !== "object" || Array.isArray(helpers))
  ) {
    throw new ConfigError(
      path,
      `"credHelpers" must be an object, found ${jsonType(helpers)}; it was left unchanged`,
    );
  }
}

/**
 * Change a JSON settings file safely: under a lock (concurrent writers lose nothing), following
 * a symlink to its target, keeping its mode (0600 for a new file) and one backup (`.bak`, 0600:
 * it can hold credentials that a later `docker logout` removed from the file), written
 * atomically, and only when `edit` returns new text (undefined: no change).
 */
async function updateJsonFile(
  path: string,
  edit: (existing: string | undefined) => string | undefined,
  signal?: AbortSignal,
): Promise<boolean> {
  const target = await resolveSymlinks(path);
  await makeDirectory(dirname(target), 0o700);
  return await withFileLock(`${target}.lock`, async () => {
    const existing = await readSettingsText(target);
    const updated = edit(existing);
    if (updated === undefined) return false;
    const mode = (await fileInfo(target))?.mode ?? 0o600;
    if (existing !== undefined) await writeFileAtomic(`${target}.bak`, existing, 0o600);
    await writeFileAtomic(target, updated, mode);
    return true;
  }, signal);
}

// ---------------------------------------------------------------------------------------------
// Registries file and configure-docker
// ---------------------------------------------------------------------------------------------

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
function registriesIn(
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

/** Options of {@linkcode configureDocker}. */
export interface ConfigureDockerOptions extends PathOptions {
  /** The region the registries belong to; default `us-west-1`. */
  region?: string;
  /** An explicit API URL, recorded so that the helper asks the same API. */
  apiUrl?: string;
  /** The helper's name in `credHelpers`: `docker-credential-<name>`; default `saucelabs`. */
  helperName?: string;
  /** Aborting stops waiting for the files' locks. */
  signal?: AbortSignal;
}

/** What {@linkcode configureDocker} did. */
export interface ConfigureDockerResult {
  /** The hosts now served by the helper. */
  hosts: string[];
  /** The Docker config file written (after following a symlink). */
  dockerConfig: string;
  /** The registries file. */
  settingsFile: string;
  /** Whether the Docker config changed. */
  dockerConfigChanged: boolean;
  /** Whether the registries file changed. */
  settingsChanged: boolean;
}

/**
 * Make Docker (and Podman, Skopeo, Buildah, which read the same file) use the
 * `docker-credential-saucelabs` helper for these registries: records each registry in the
 * registries file and adds `credHelpers` entries to the Docker config. Idempotent.
 *
 * @example
 * ```ts
 * import { configureDocker } from "./mod.ts";
 * await configureDocker(["registry.example.com/your-private-registry"], { region: "us-west-1" });
 * ```
 *
 * @param registries Registry URLs as Sauce Labs gives them.
 * @param options Region or API URL, and where the files are.
 * @returns The hosts and files, and whether each file changed.
 * @throws {UsageError} For a malformed registry.
 * @throws {ConfigError} When the Docker config or the registries file cannot be used (not valid
 * JSON, not a regular file, the wrong shape): both are then left untouched.
 */
export async function configureDocker(
  registries: readonly string[],
  options: ConfigureDockerOptions = {},
): Promise<ConfigureDockerResult> {
  if (registries.length === 0) throw new UsageError("configure-docker needs at least one registry");
  const references = registries.map(parseRegistry);
  const region = options.region || DEFAULT_REGION;
  apiBaseUrl(region, options.apiUrl); // reject a bad region or URL before touching any file
  const helper = options.helperName ?? "saucelabs";
  const dockerConfig = await resolveSymlinks(dockerConfigFile(options));
  const settingsPath = settingsFile(options);
  const hosts = references.map((reference) => reference.host);
  const editSettings = (raw: string | undefined): string | undefined => {
    const json = raw === undefined ? {} : parseJsonObject(settingsPath, raw);
    const known = { ...registriesIn(settingsPath, json) };
    let changed = json.version !== 1;
    for (const { host, registryUrl } of references) {
      const entry: RegistrySettings = {
        registryUrl,
        region,
        ...(options.apiUrl ? { apiUrl: apiBaseUrl(region, options.apiUrl) } : {}),
      };
      if (JSON.stringify(known[host]) !== JSON.stringify(entry)) {
        known[host] = entry;
        changed = true;
      }
    }
    return changed
      ? `${JSON.stringify({ ...json, version: 1, registries: known }, null, "\t")}\n`
      : undefined;
  };
  const { withCredHelpers } = await import("./_json_edit.ts");
  const editDockerConfig = (raw: string | undefined): string | undefined => {
    checkCredHelpers(dockerConfig, raw === undefined ? {} : parseJsonObject(dockerConfig, raw));
    return withCredHelpers(raw ?? "", hosts, helper);
  };
  // Every input is checked before anything is written: a broken file found half-way would
  // leave the other one changed. (Each edit checks again under its file's lock.)
  editDockerConfig(await readSettingsText(dockerConfig));
  editSettings(await readSettingsText(await resolveSymlinks(settingsPath)));
  // The registries file first: a host it knows but Docker does not ask about is harmless; the
  // other way round, the helper would answer "not found" for a host Docker sends to it.
  const settingsChanged = await updateJsonFile(settingsPath, editSettings, options.signal);
  const dockerConfigChanged = await updateJsonFile(dockerConfig, editDockerConfig, options.signal);
  return {
    hosts,
    dockerConfig,
    settingsFile: settingsPath,
    dockerConfigChanged,
    settingsChanged,
  };
}

/** Options of {@linkcode unconfigureDocker}. */
export interface UnconfigureDockerOptions extends PathOptions {
  /** The helper's name in `credHelpers`; default `saucelabs`. Entries naming another stay. */
  helperName?: string;
  /** Aborting stops waiting for the files' locks. */
  signal?: AbortSignal;
}

/**
 * Undo {@linkcode configureDocker} for these registries: drop their `credHelpers` entries that
 * name this helper (and `credHelpers` itself once empty) and their records in the registries
 * file. Files that do not exist are not created; other settings are kept. Idempotent.
 *
 * @example
 * ```ts
 * import { unconfigureDocker } from "./mod.ts";
 * await unconfigureDocker(["registry.example.com/your-private-registry"]);
 * ```
 *
 * @param registries Registry URLs or hosts.
 * @param options Where the files are.
 * @returns The hosts and files, and whether each file changed.
 * @throws {UsageError} For a malformed registry.
 * @throws {ConfigError} When the Docker config is not valid JSON (it is left untouched).
 */
export async function unconfigureDocker(
  registries: readonly string[],
  options: UnconfigureDockerOptions = {},
): Promise<ConfigureDockerResult> {
  const hosts = registries.map((registry) => parseRegistry(registry).host);
  const helper = options.helperName ?? "saucelabs";
  const dockerConfig = await resolveSymlinks(dockerConfigFile(options));
  const settingsPath = settingsFile(options);
  const { withoutCredHelpers } = await import("./_json_edit.ts");
  const editDockerConfig = (raw: string | undefined): string | undefined => {
    if (raw === undefined) return undefined;
    checkCredHelpers(dockerConfig, parseJsonObject(dockerConfig, raw));
    return withoutCredHelpers(raw, hosts, helper);
  };
  const editSettings = (raw: string | undefined): string | undefined => {
    if (raw === undefined) return undefined;
    const json = parseJsonObject(settingsPath, raw);
    const known = { ...registriesIn(settingsPath, json) };
    const dropped = hosts.filter((host) => Object.hasOwn(known, host));
    for (const host of dropped) delete known[host];
    return dropped.length > 0
      ? `${JSON.stringify({ ...json, registries: known }, null, "\t")}\n`
      : undefined;
  };
  // Files that do not exist stay so; every input is checked before anything is written.
  const [dockerText, settingsText] = await Promise.all([
    readSettingsText(dockerConfig),
    readSettingsText(await resolveSymlinks(settingsPath)),
  ]);
  editDockerConfig(dockerText);
  editSettings(settingsText);
  const dockerConfigChanged = dockerText !== undefined &&
    await updateJsonFile(dockerConfig, editDockerConfig, options.signal);
  const settingsChanged = settingsText !== undefined &&
    await updateJsonFile(settingsPath, editSettings, options.signal);
  return { hosts, dockerConfig, settingsFile: settingsPath, dockerConfigChanged, settingsChanged };
}

/** What the Docker config says about one registry host, for `status`. */
export interface DockerConfigStatus {
  /** The file read. */
  path: string;
  /** Whether it exists. */
  exists: boolean;
  /** The helper named for this host in `credHelpers`, if any. */
  credHelper?: string;
  /** The global `credsStore`, if any. */
  credsStore?: string;
  /** Whether `auths` holds an entry for this host. */
  hasAuth: boolean;
}

/**
 * Read what the Docker config says for a host, without changing it.
 *
 * @example
 * ```ts
 * import { dockerConfigStatus } from "./mod.ts";
 * console.log(await dockerConfigStatus("registry.example.com"));
 * ```
 *
 * @param host The registry host.
 * @param options Where the Docker config is.
 * @returns Its entries for the host.
 * @throws {ConfigError} When the file is not valid JSON.
 */
export async function dockerConfigStatus(
  host: string,
  options: PathOptions = {},
): Promise<DockerConfigStatus> {
  const path = await resolveSymlinks(dockerConfigFile(options));
  const json = await readJsonObject(path);
  const helpers = json?.credHelpers;
  const credHelper = helpers && typeof helpers === "object" && Object.hasOwn(helpers, host)
    ? (helpers as Record<string, unknown>)[host]
    : undefined;
  const auths = json?.auths && typeof json.auths === "object" ? json.auths : {};
  const hasAuth = Object.keys(auths).some((key) => safeHost(key) === host);
  return {
    path,
    exists: json !== undefined,
    ...(typeof credHelper === "string" && credHelper ? { credHelper } : {}),
    ...(typeof json?.credsStore === "string" ? { credsStore: json.credsStore } : {}),
    hasAuth,
  };
}

// ---------------------------------------------------------------------------------------------
// Credential helper
// ---------------------------------------------------------------------------------------------

/** The name Docker runs the helper by (`credHelpers` value `saucelabs`). */
export const HELPER_PROGRAM = "docker-credential-saucelabs";

/** The exact answer Docker's clients take as "no credentials here, carry on anonymously". */
export const CREDENTIALS_NOT_FOUND = "credentials not found in native keychain";

/** Options of {@linkcode credentialHelper}. */
export interface CredentialHelperOptions extends PathOptions, CredentialOptions {
  /** Skip the token cache. */
  noCache?: boolean;
  /** Aborting stops a token request. */
  signal?: AbortSignal;
  /**
   * How long `get` may wait for a token, lock and retries included, in seconds; default
   * `SAUCE_REGISTRY_TIMEOUT`, else {@linkcode DEFAULT_TIMEOUT_SECONDS}. Docker waits for a helper
   * with no limit of its own: a hung API must not hang a pull or push with it.
   */
  timeoutSeconds?: number;
  /** Retries for the token request; default as {@linkcode fetchToken}. */
  retries?: number;
  /** The first retry delay in ms; default as {@linkcode fetchToken}. */
  retryDelayMs?: number;
  /** Verbose log lines, credentials redacted. */
  log?: (line: string) => void;
}

/** What the helper answers: Docker reads stdout and the exit code; stderr reaches the user. */
export interface CredentialHelperResult {
  /** Standard output for Docker. */
  stdout: string;
  /** A message for the user, if any. */
  stderr: string;
  /** 0 on success, 1 otherwise. */
  exitCode: number;
}

/**
 * The Docker credential-helper protocol (`get`, `store`, `erase`, `list`, `version`). `get`
 * mints (or reuses) a token only for hosts recorded by {@linkcode configureDocker}; `store` and
 * `erase` accept and explain, since tokens are minted on demand; `list` calls no API.
 *
 * @example
 * ```ts
 * import { credentialHelper } from "./mod.ts";
 * const answer = await credentialHelper("get", "registry.example.com\n");
 * console.log(answer.exitCode, answer.stdout);
 * ```
 *
 * @param action The protocol's action.
 * @param input What Docker wrote on standard input.
 * @param options Where the files are, credentials, cache.
 * @returns Output and exit code; never throws for a protocol failure.
 */
export async function credentialHelper(
  action: string,
  input: string,
  options: CredentialHelperOptions = {},
): Promise<CredentialHelperResult> {
  try {
    switch (action) {
      case "get":
        return await helperGet(input.trim(), options);
      case "store": {
        const host = helperStoreHost(input);
        return ok(
          "",
          `${HELPER_PROGRAM}: nothing to store${
            host ? ` for ${host}` : ""
          }: Sauce Labs tokens are minted on demand by this helper\n`,
        );
      }
      case "erase": {
        const host = safeHost(input.trim());
        // `docker logout` must succeed even when the cache cannot be cleaned: say why, exit 0.
        const removed = host
          ? await clearCachedTokens(host, options).catch((error: unknown) => errorText(error))
          : 0;
        return ok(
          "",
          `${HELPER_PROGRAM}: ${
            typeof removed === "string"
              ? `could not drop the cached token for ${host}: ${removed}`
              : removed > 0
              ? `dropped the cached token for ${host}`
              : "no cached token to drop"
          }; a new one is minted on the next pull or push\n`,
        );
      }
      case "list":
        return await helperList(options);
      case "version":
        return ok(`${HELPER_PROGRAM} (sauce-registry) ${VERSION}\n`, "");
      default:
        return {
          stdout: "",
          stderr: `Usage: ${HELPER_PROGRAM} <get|store|erase|list|version>\n`,
          exitCode: 1,
        };
    }
  } catch (error) {
    const message = error instanceof SauceRegistryError
      ? error.message
      : `Unexpected failure: ${errorText(error)}`;
    return { stdout: "", stderr: `${HELPER_PROGRAM}: ${message}\n`, exitCode: 1 };
  }
}

function ok(stdout: string, stderr: string): CredentialHelperResult {
  return { stdout, stderr, exitCode: 0 };
}

function helperStoreHost(input: string): string | undefined {
  try {
    const { ServerURL } = JSON.parse(input) as { ServerURL?: string };
    return typeof ServerURL === "string" ? safeHost(ServerURL) : undefined;
  } catch {
    return undefined;
  }
}

async function helperGet(
  serverUrl: string,
  options: CredentialHelperOptions,
): Promise<CredentialHelperResult> {
  const host = safeHost(serverUrl);
  const registries = host ? await readRegistrySettings(options) : {};
  const entry = host ? registries[host] : undefined;
  if (!host || !entry) return { stdout: `${CREDENTIALS_NOT_FOUND}\n`, stderr: "", exitCode: 1 };
  const limit = timeLimit(options.timeoutSeconds);
  // AbortSignal.timeout, not setTimeout: Deno's first setTimeout costs ~10 ms, a third of a get.
  const limitSignal = AbortSignal.timeout(limit.seconds * 1000);
  const signal = options.signal ? AbortSignal.any([options.signal, limitSignal]) : limitSignal;
  const credentials = await resolveCredentials({ ...options, envFile: options.envFile ?? false });
  const warnings: string[] = [];
  let token: RegistryToken;
  try {
    token = await getToken({
      ...options,
      signal,
      timeoutSeconds: limit.seconds,
      credentials,
      registryUrl: entry.registryUrl,
      region: entry.region,
      apiUrl: entry.apiUrl,
      warn: (message) => warnings.push(`${HELPER_PROGRAM}: ${message}\n`),
    });
  } catch (error) {
    const ranOut = limitSignal.aborted ||
      (error instanceof TimeoutError && !options.signal?.aborted);
    if (ranOut) {
      throw new TimeoutError(timeoutMessage(limit, "asking for a token"), { cause: error });
    }
    throw error;
  }
  return ok(
    `${
      JSON.stringify({ ServerURL: serverUrl, Username: token.username, Secret: token.password })
    }\n`,
    warnings.join(""),
  );
}

async function helperList(options: CredentialHelperOptions): Promise<CredentialHelperResult> {
  const registries = await readRegistrySettings(options);
  let username = "";
  try {
    username =
      (await resolveCredentials({ ...options, envFile: options.envFile ?? false })).username;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // no credentials yet: list the hosts all the same
  }
  const listing: Record<string, string> = {};
  for (const host of Object.keys(registries)) listing[host] = username;
  return ok(`${JSON.stringify(listing)}\n`, "");
}

/** What {@linkcode installHelper} wrote. */
export interface InstallHelperResult {
  /** The `docker-credential-saucelabs` file or symlink. */
  path: string;
  /** Whether its folder is on PATH, where Docker looks. */
  onPath: boolean;
}

/**
 * Put `docker-credential-saucelabs` in a folder: for a compiled binary a symlink to it (it acts
 * as the helper under that name; on Windows a copy named `docker-credential-saucelabs.exe`), else
 * a two-line script that runs this program's script with Deno or Bun and the `credential-helper`
 * command. Docker runs the helper in whatever folder the user is in, so the script keeps the
 * runtime from loading anything of that folder: Deno with `--no-config`, Bun with
 * `--no-env-file --config=/dev/null --tsconfig-override=/dev/null`.
 *
 * @example
 * ```ts
 * import { installHelper, launcher } from "./mod.ts";
 * const { path } = await installHelper(launcher(import.meta.url), "/usr/local/bin");
 * ```
 *
 * @param how How this program was started ({@linkcode launcher}).
 * @param dir The folder; default `/usr/local/bin` as root, else `~/.local/bin`.
 * @returns The path written and whether its folder is on PATH.
 * @throws {UsageError} On Windows when the program is not the standalone binary.
 */
export async function installHelper(how: Launcher, dir?: string): Promise<InstallHelperResult> {
  const folder =
    (dir ?? (isRootUser() ? "/usr/local/bin" : joinPath(homeDirectory(), ".local", "bin")))
      .replace(/(.)\/+$/, "$1");
  const path = joinPath(folder, executableFileName(HELPER_PROGRAM));
  if (isWindows() && how.kind !== "compiled") {
    throw new UsageError(
      "install-helper on Windows needs the standalone binary (sauce-registry-<version>-windows-x64.exe): Docker cannot run a shell script as a credential helper there",
    );
  }
  await makeDirectory(folder, 0o755);
  await removePath(path);
  if (how.kind === "compiled") {
    // Windows lets only administrators make symlinks: a copy answers the same.
    await (isWindows() ? copyFileTo(how.program, path) : makeSymlink(how.program, path));
  } else {
    const runner = how.kind === "bun"
      ? `exec ${shellQuote(how.program)} ${BUN_RUN_FLAGS.join(" ")} ${
        shellQuote(how.script!)
      } credential-helper "$@"`
      : `exec ${shellQuote(how.program)} run ${DENO_HELPER_FLAGS.join(" ")} ${
        shellQuote(how.script!)
      } credential-helper "$@"`;
    await writeFileAtomic(
      path,
      `#!/bin/sh\n# Written by sauce-registry install-helper\n${runner}\n`,
      0o755,
    );
  }
  const onPath = (env("PATH") ?? "").split(pathListSeparator()).includes(folder);
  return { path, onPath };
}

// ---------------------------------------------------------------------------------------------
// Kubelet credential provider
// ---------------------------------------------------------------------------------------------

/** The kubelet credential provider API versions answered, each in its own version. */
export const KUBELET_PROVIDER_API_VERSIONS = [
  "credentialprovider.kubelet.k8s.io/v1",
  "credentialprovider.kubelet.k8s.io/v1beta1",
  "credentialprovider.kubelet.k8s.io/v1alpha1",
] as const;

/** One of {@linkcode KUBELET_PROVIDER_API_VERSIONS}. */
export type KubeletProviderApiVersion = typeof KUBELET_PROVIDER_API_VERSIONS[number];

/** What the kubelet writes on the provider's standard input (fields it may add are ignored). */
export interface CredentialProviderRequest {
  /** The API version, answered in kind. */
  apiVersion: KubeletProviderApiVersion;
  /** Always `CredentialProviderRequest`. */
  kind: "CredentialProviderRequest";
  /** The image being pulled, such as `registry.example.com/team/app:1.0`. */
  image: string;
}

/** What the provider answers on standard output. */
export interface CredentialProviderResponse {
  /** The request's API version. */
  apiVersion: KubeletProviderApiVersion;
  /** Always `CredentialProviderResponse`. */
  kind: "CredentialProviderResponse";
  /** How the kubelet caches the answer: `Registry`, per registry host. */
  cacheKeyType: "Image" | "Registry" | "Global";
  /** How long the kubelet may reuse the answer, as a Go duration (`4m0s`; `0s`: not at all). */
  cacheDuration: string;
  /** Registry host (a `matchImages` pattern that matches the image) → login; empty for others. */
  auth: Record<string, { username: string; password: string }>;
}

/** Options of {@linkcode kubeletCredentialProvider}. */
export interface KubeletProviderOptions extends PathOptions, CredentialOptions {
  /**
   * The registries to serve, as Sauce Labs gives their URLs (`--registry`); default those
   * `configure-docker` recorded in the registries file.
   */
  registries?: readonly string[];
  /** The region; wins over what the registries file recorded. */
  region?: string;
  /** An explicit API URL; wins over what the registries file recorded. */
  apiUrl?: string;
  /** Skip the token cache. */
  noCache?: boolean;
  /** Aborting stops a token request. */
  signal?: AbortSignal;
  /** Retries for the token request; default as {@linkcode fetchToken}. */
  retries?: number;
  /** The first retry delay in ms; default as {@linkcode fetchToken}. */
  retryDelayMs?: number;
}

const PROVIDER_REQUEST_EXAMPLE = `{"apiVersion":"${
  KUBELET_PROVIDER_API_VERSIONS[0]
}","kind":"CredentialProviderRequest","image":"…"}`;

function providerRequestProblem(problem: string): UsageError {
  return new UsageError(
    `Invalid CredentialProviderRequest on standard input: ${problem}; expected ${PROVIDER_REQUEST_EXAMPLE}`,
  );
}

function shown(value: unknown): string {
  return value === undefined ? "missing" : `"${printable(String(value), 60)}"`;
}

function checkProviderRequest(request: string | CredentialProviderRequest): {
  apiVersion: KubeletProviderApiVersion;
  image: string;
} {
  let json: unknown = request;
  if (typeof request === "string") {
    if (request.trim() === "") throw providerRequestProblem("it is empty");
    try {
      json = JSON.parse(request);
    } catch {
      throw providerRequestProblem("it is not JSON");
    }
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw providerRequestProblem("it is not a JSON object");
  }
  const { apiVersion, kind, image } = json as Record<string, unknown>;
  if (kind !== "CredentialProviderRequest") {
    throw providerRequestProblem(`kind is ${shown(kind)}`);
  }
  if (!(KUBELET_PROVIDER_API_VERSIONS as readonly unknown[]).includes(apiVersion)) {
    throw providerRequestProblem(`apiVersion is ${shown(apiVersion)}`);
  }
  if (typeof image !== "string" || image.trim() === "") {
    throw providerRequestProblem("it names no image");
  }
  return { apiVersion: apiVersion as KubeletProviderApiVersion, image: image.trim() };
}

/**
 * The registry host of an image as the kubelet and Docker read it, or undefined for a Docker Hub
 * image: a first path component with no dot or port (other than `localhost`) is a Hub namespace.
 */
function imageHost(image: string): string | undefined {
  const slash = image.indexOf("/");
  const first = slash === -1 ? "" : image.slice(0, slash);
  if (!/[.:[]/.test(first) && first !== "localhost") return undefined;
  return safeHost(first);
}

/** The registries served, by host: from the options, else from the registries file. */
async function servedRegistries(
  options: KubeletProviderOptions,
): Promise<Record<string, RegistrySettings>> {
  const region = options.region || DEFAULT_REGION;
  const explicitApi = Boolean(options.region || options.apiUrl);
  const served: Record<string, RegistrySettings> = {};
  if (options.registries && options.registries.length > 0) {
    for (const registry of options.registries) {
      const { host, registryUrl } = parseRegistry(registry);
      const known = served[host];
      if (known && known.registryUrl !== registryUrl) {
        throw new UsageError(
          `The registries ${known.registryUrl} and ${registryUrl} share the host ${host}: the kubelet caches logins per host, so give one URL per host`,
        );
      }
      served[host] = { registryUrl, region, ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}) };
    }
    return served;
  }
  const recorded = await readRegistrySettings(options);
  for (const [host, entry] of Object.entries(recorded)) {
    served[host] = explicitApi
      ? {
        registryUrl: entry.registryUrl,
        region,
        ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
      }
      : entry;
  }
  if (Object.keys(served).length === 0) {
    throw new UsageError(
      "No registry to serve: pass --registry URL in the provider's args, or run configure-docker REGISTRY on the node",
    );
  }
  return served;
}

/** A duration as Go's `time.Duration` prints it, in whole seconds: `1h0m5s`, `4m30s`, `0s`. */
function goDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}

/**
 * The kubelet's image credential provider protocol: answer one CredentialProviderRequest. For an
 * image of a served registry, a login keyed by the registry host (`cacheKeyType: Registry`) that the
 * kubelet may reuse until the token cache would renew it (never past `expires_at`); tokens come
 * through the cache the credential helper uses, so concurrent pulls share one token request. Any
 * other image gets an empty `auth`, and no token is asked for. `./.env` is not read (the kubelet's
 * working folder is not the user's); an explicit `envFile` is.
 *
 * @example
 * ```ts
 * import { kubeletCredentialProvider } from "./mod.ts";
 * const response = await kubeletCredentialProvider(
 *   '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/team/app:1"}',
 *   { registries: ["registry.example.com/your-private-registry"] },
 * );
 * console.log(response.cacheDuration, Object.keys(response.auth));
 * ```
 *
 * @param request The request: the JSON text the kubelet wrote, or the parsed object.
 * @param options The registries to serve, credentials, region or API URL, cache.
 * @returns The response, in the request's API version.
 * @throws {UsageError} For a malformed request, no registry to serve, or no credentials.
 * @throws {AuthenticationError | ApiError | TimeoutError} When no token can be had.
 */
export async function kubeletCredentialProvider(
  request: string | CredentialProviderRequest,
  options: KubeletProviderOptions = {},
): Promise<CredentialProviderResponse> {
  const { apiVersion, image } = checkProviderRequest(request);
  const served = await servedRegistries(options);
  const host = imageHost(image);
  const registry = host === undefined ? undefined : served[host];
  const kind = "CredentialProviderResponse";
  if (host === undefined || !registry) {
    return { apiVersion, kind, cacheKeyType: "Registry", cacheDuration: "0s", auth: {} };
  }
  parseRegistry(image); // an image of a served registry must be well formed
  const credentials = await providerCredentials(options);
  const askedAt = new Date();
  const token = await getToken({
    ...options,
    credentials,
    registryUrl: registry.registryUrl,
    region: registry.region,
    apiUrl: registry.apiUrl,
  });
  const renewal = renewalTime(token.expiresAt.getTime(), (token.issuedAt ?? askedAt).getTime());
  return {
    apiVersion,
    kind,
    cacheKeyType: "Registry",
    cacheDuration: goDuration(renewal - Date.now()),
    auth: { [host]: { username: token.username, password: token.password } },
  };
}

/** The credentials, never from `./.env`; when missing, say where a provider takes them from. */
async function providerCredentials(options: KubeletProviderOptions): Promise<SauceCredentials> {
  try {
    return await resolveCredentials({ ...options, envFile: options.envFile ?? false });
  } catch (error) {
    if (!(error instanceof CredentialsNotFoundError)) throw error;
    throw new CredentialsNotFoundError(
      error.missing,
      error.lookedIn,
      "set SAUCE_USERNAME and SAUCE_ACCESS_KEY in the --env-file (mode 0600) or in the provider's env",
    );
  }
}

/** Options of {@linkcode pullSecretYaml}. */
export interface PullSecretOptions {
  /** The Secret's name; default `sauce-registry`. */
  name?: string;
  /** The Secret's namespace; default none (kubectl's current one). */
  namespace?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A Kubernetes pull Secret (`kubernetes.io/dockerconfigjson`) holding a login for one registry
 * host, as YAML for `kubectl apply -f -`. It stops working when the token expires (its
 * `sauce-registry/expires-at` annotation says when): refresh it before then.
 *
 * @example
 * ```ts
 * import { fetchToken, pullSecretYaml } from "./mod.ts";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * console.log(pullSecretYaml(token, "registry.example.com", { namespace: "ci" }));
 * ```
 *
 * @param token The registry token.
 * @param host The registry host.
 * @param options The Secret's name and namespace.
 * @returns The YAML document.
 * @throws {UsageError} When the name or namespace is not a valid Kubernetes name.
 */
export function pullSecretYaml(
  token: RegistryToken,
  host: string,
  options: PullSecretOptions = {},
): string {
  const name = options.name ?? "sauce-registry";
  if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label))) {
    throw new UsageError(
      `Invalid Secret name "${
        printable(name, 60)
      }": expected lower-case letters, digits, "-" and ".", like sauce-registry`,
    );
  }
  const namespace = options.namespace;
  if (namespace !== undefined && (namespace.length > 63 || !DNS_LABEL.test(namespace))) {
    throw new UsageError(
      `Invalid namespace "${
        printable(namespace, 70)
      }": expected at most 63 lower-case letters, digits and "-", like ci`,
    );
  }
  const expiresAt = token.expiresAt.toISOString().replace(/\.000Z$/, "Z");
  const config = base64(JSON.stringify(dockerConfigFor(token, host)));
  return [
    `# A pull Secret for ${host}, made by sauce-registry. It stops working when the token expires`,
    `# (${expiresAt}): refresh it before then.`,
    "apiVersion: v1",
    "kind: Secret",
    "metadata:",
    `  name: ${name}`,
    ...(namespace !== undefined ? [`  namespace: ${namespace}`] : []),
    "  annotations:",
    `    sauce-registry/expires-at: "${expiresAt}"`,
    "type: kubernetes.io/dockerconfigjson",
    "data:",
    `  .dockerconfigjson: ${config}`,
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// exec and push: a private, temporary Docker config
// ---------------------------------------------------------------------------------------------

/** Options of {@linkcode withTemporaryAuth}. */
export interface TemporaryAuthOptions {
  /** Called once the folder exists, before `work`; for tests and diagnostics. */
  onCreated?: (dir: string) => void;
  /** Told about abandoned folders that could not be removed. */
  log?: (line: string) => void;
}

/** Private folders are named `sauce-registry-tmp-PID-IDENTITY-RANDOM` after their owner. */
const PRIVATE_FOLDER_PREFIX = "sauce-registry-tmp-";
const PRIVATE_FOLDER = /^sauce-registry-tmp-(\d+)-([0-9a-f]+\.\d+)-/;

/**
 * Where private folders go: `$XDG_RUNTIME_DIR/sauce-registry` when `XDG_RUNTIME_DIR` exists (the
 * user's own, in memory, emptied when they log out), else the temporary folder (undefined).
 */
async function privateFoldersParent(): Promise<string | undefined> {
  const runtimeDir = env("XDG_RUNTIME_DIR");
  const info = runtimeDir ? await fileInfo(runtimeDir) : undefined;
  if (!runtimeDir || !info || info.isFile) return undefined;
  const parent = joinPath(runtimeDir, "sauce-registry");
  await makeDirectory(parent, 0o700);
  return parent;
}

/**
 * Make a private folder (0700) for exec, push and tool logins, named after this process (its PID
 * and {@linkcode processTag}), and remove the folders of processes that are gone: one killed
 * with SIGKILL cannot clean up, and its folder may hold a token.
 */
async function makePrivateFolder(log?: (line: string) => void): Promise<string> {
  const identity = await processTag();
  const dir = await makeTempDirectory(
    `${PRIVATE_FOLDER_PREFIX}${processId()}-${identity ?? "unknown"}-`,
    await privateFoldersParent(),
  );
  // Without /proc no owner can be told apart from a stranger with its PID: then sweep nothing.
  if (identity) await removeAbandonedFolders(dirname(dir), log);
  return dir;
}

async function removeAbandonedFolders(
  parent: string,
  log?: (line: string) => void,
): Promise<void> {
  for (const name of await listDirectory(parent)) {
    const owner = PRIVATE_FOLDER.exec(name);
    if (!owner || (await processTag(Number(owner[1]))) === owner[2]) continue;
    try {
      await removePath(joinPath(parent, name), true);
    } catch (error) {
      // In a shared temporary folder it may be another user's: theirs to remove. This run goes on.
      log?.(`cannot remove the abandoned folder ${joinPath(parent, name)}: ${errorText(error)}`);
    }
  }
}

/**
 * Write a private Docker config (folder 0700, file 0600) holding auth for one registry host and
 * the user's other Docker settings (not their credentials), run `work` with its folder and the
 * environment that points tools at it (less `SAUCE_ACCESS_KEY`), then remove it whatever happens.
 * The folder is in `$XDG_RUNTIME_DIR/sauce-registry` when `XDG_RUNTIME_DIR` exists, else in the
 * temporary folder; one left by a process killed with SIGKILL is removed by the next call.
 *
 * @example
 * ```ts
 * import { fetchToken, withTemporaryAuth } from "./mod.ts";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * await withTemporaryAuth(token, "registry.example.com", async (_dir, env) => {
 *   const pull = new Deno.Command("docker", { args: ["pull", "registry.example.com/team/app:1"], env });
 *   return (await pull.output()).code;
 * });
 * ```
 *
 * @param token The registry token.
 * @param host The registry host.
 * @param work What to run while the config exists.
 * @param options A hook called when the folder exists.
 * @returns What `work` returned.
 */
export async function withTemporaryAuth<T>(
  token: RegistryToken,
  host: string,
  work: (dir: string, env: Record<string, string>) => Promise<T>,
  options: TemporaryAuthOptions = {},
): Promise<T> {
  const dir = await makePrivateFolder(options.log);
  try {
    const configPath = joinPath(dir, "config.json");
    const config = {
      ...(await userSettingsWithoutCredentials(dir)),
      ...dockerConfigFor(token, host),
    };
    await writeFileAtomic(configPath, JSON.stringify(config), 0o600);
    options.onCreated?.(dir);
    return await work(dir, {
      ...toolEnvironment(),
      DOCKER_CONFIG: dir,
      REGISTRY_AUTH_FILE: configPath,
      DOCKER_USERNAME: token.username,
      DOCKER_PASSWORD: token.password,
      DOCKER_REGISTRY: host,
    });
  } finally {
    await removePath(dir, true);
  }
}

/**
 * The user's own Docker settings for a private config in `dir`: every key of their config.json but
 * the credentials (`auths`, `credsStore`, `credHelpers`), and links to their `contexts` and
 * `cli-plugins`, so that `docker buildx`, `docker compose` and the current context still work.
 */
async function userSettingsWithoutCredentials(dir: string): Promise<Record<string, unknown>> {
  let userConfig: string;
  try {
    userConfig = dockerConfigFile();
  } catch (error) {
    if (error instanceof UsageError) return {}; // no HOME and no DOCKER_CONFIG: nothing to keep
    throw error;
  }
  const userDir = dirname(userConfig);
  for (const name of ["contexts", "cli-plugins"]) {
    if (await fileInfo(joinPath(userDir, name))) {
      await makeSymlink(joinPath(userDir, name), joinPath(dir, name));
    }
  }
  let settings: Record<string, unknown> = {};
  try {
    settings = (await readJsonObject(await resolveSymlinks(userConfig))) ?? {};
  } catch (error) {
    // A broken config of the user's is theirs to fix; the private one works without it.
    if (!(error instanceof ConfigError)) throw error;
  }
  const { auths: _auths, credsStore: _store, credHelpers: _helpers, ...rest } = settings;
  return rest;
}

/** Options of {@linkcode pushImage}. */
export interface PushOptions {
  /** `docker` (default) or `podman`. */
  tool?: "docker" | "podman" | string;
  /** Extra arguments for the tool's push, such as `--tls-verify=false`. */
  toolArgs?: string[];
  /** Aborting stops the push. */
  signal?: AbortSignal;
  /** Told about abandoned private folders that could not be removed. */
  log?: (line: string) => void;
  /**
   * Wraps the tool's run, and only that: the command line hands its termination signals to the
   * tool while it runs, and handles them itself before (cleaning up the private config).
   */
  whileToolRuns?: <T>(run: () => Promise<T>) => Promise<T>;
}

/**
 * Push an image with a fresh token, through a private temporary config (the user's own config
 * and keyring are not involved). The tool's progress stays visible.
 *
 * @example
 * ```ts
 * import { fetchToken, pushImage } from "./mod.ts";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * const code = await pushImage(token, "registry.example.com/team/app:1.0");
 * ```
 *
 * @param token The registry token.
 * @param image The image reference.
 * @param options The tool and its extra arguments.
 * @returns The tool's exit code.
 */
export async function pushImage(
  token: RegistryToken,
  image: string,
  options: PushOptions = {},
): Promise<number> {
  const tool = options.tool ?? "docker";
  if (tool !== "docker" && tool !== "podman") {
    throw new UsageError(`push works with docker or podman, not "${printable(tool, 30)}"`);
  }
  const { host } = parseRegistry(image);
  return await withTemporaryAuth(token, host, async (dir, env) => {
    // The tool reads the private config; a password in its environment could only leak (any
    // process of the user can read /proc/PID/environ).
    const {
      DOCKER_USERNAME: _username,
      DOCKER_PASSWORD: _password,
      DOCKER_REGISTRY: _registry,
      ...toolEnv
    } = env;
    const args = tool === "docker"
      ? ["--config", dir, "push", ...(options.toolArgs ?? []), image]
      : ["push", "--authfile", joinPath(dir, "config.json"), ...(options.toolArgs ?? []), image];
    const push = () =>
      spawn(tool, args, {
        env: toolEnv,
        inheritStdio: true,
        signal: options.signal,
        forwardSignals: true,
      });
    const result = await (options.whileToolRuns ? options.whileToolRuns(push) : push());
    return result.code;
  }, { log: options.log });
}

/**
 * The registry URL to ask the API for when pushing an image: the one recorded by
 * `configure-docker` for its host, else the image reference without the image name.
 *
 * @example
 * ```ts
 * import { registryUrlForImage } from "./mod.ts";
 * await registryUrlForImage("registry.example.com/team/app:1"); // "registry.example.com/team"
 * ```
 *
 * @param image The image reference.
 * @param options Where the registries file is.
 * @returns The registry URL.
 */
export async function registryUrlForImage(
  image: string,
  options: PathOptions = {},
): Promise<string> {
  const reference = parseRegistry(image);
  const known = (await readRegistrySettings(options))[reference.host];
  return known?.registryUrl ?? imageRegistryUrl(reference);
}

// ---------------------------------------------------------------------------------------------
// status
// ---------------------------------------------------------------------------------------------

/** Diagnostics: never a secret, only where things come from and what state they are in. */
export interface StatusReport {
  /** The version. */
  version: string;
  /** The runtime. */
  runtime: string;
  /** The username and where it and the access key came from; undefined when not found. */
  credentials?: { username: string; usernameSource: string; accessKeySource: string };
  /** Why credentials were not found. */
  credentialsProblem?: string;
  /** The region and API base URL in use. */
  region: string;
  /** The API base URL. */
  apiUrl: string;
  /** Whether the API answered a token request, and how. */
  api?: { ok: boolean; detail: string; expiresAt?: string; exitCode?: number };
  /** The registry host asked about. */
  host?: string;
  /** What the registries file says of it. */
  registry?: RegistrySettings;
  /** When its cached token expires. */
  cachedTokenExpiresAt?: string;
  /** Why the token cache is not used (another user's folder, a symlink, …), if it is not. */
  cacheProblem?: string;
  /** What the Docker config says of it. */
  dockerConfig?: DockerConfigStatus;
  /** Where the credential helper's program is on PATH, if it is. */
  helperOnPath?: string;
}

/** Options of {@linkcode status}. */
export interface StatusOptions extends CredentialOptions, PathOptions {
  /** The region. */
  region?: string;
  /** An explicit API URL. */
  apiUrl?: string;
  /** Skip the token request. */
  offline?: boolean;
  /** Aborting stops the API check. */
  signal?: AbortSignal;
  /** Retries for the API check; default 0. */
  retries?: number;
}

/**
 * Gather diagnostics: where credentials come from (never their values), the region and API
 * URL, whether the API gives a token, the cached token's expiry and the Docker config's entry.
 *
 * @example
 * ```ts
 * import { status } from "./mod.ts";
 * console.log(await status("registry.example.com/your-private-registry"));
 * ```
 *
 * @param registry A registry to report on, if any.
 * @param options Credentials, region, files.
 * @returns The report.
 */
export async function status(
  registry?: string,
  options: StatusOptions = {},
): Promise<StatusReport> {
  const reference = registry ? parseRegistry(registry) : undefined;
  const registries = await readRegistrySettings(options);
  const recorded = reference ? registries[reference.host] : undefined;
  const region = options.region || recorded?.region || DEFAULT_REGION;
  const apiUrl = apiBaseUrl(region, options.apiUrl || recorded?.apiUrl);
  const report: StatusReport = {
    version: VERSION,
    runtime: runtimeName(),
    region,
    apiUrl,
  };
  let credentials: ResolvedCredentials | undefined;
  try {
    credentials = await resolveCredentials(options);
    report.credentials = {
      username: credentials.username,
      usernameSource: credentials.usernameSource,
      accessKeySource: credentials.accessKeySource,
    };
  } catch (error) {
    if (!(error instanceof SauceRegistryError)) throw error;
    report.credentialsProblem = error.message;
  }
  const registryUrl = recorded?.registryUrl ?? reference?.registryUrl;
  if (credentials && !options.offline) {
    try {
      const token = await fetchToken({
        credentials,
        apiUrl,
        registryUrl,
        signal: options.signal,
        retries: options.retries ?? 0,
      });
      report.api = {
        ok: true,
        detail: "a token was issued",
        expiresAt: token.expiresAt.toISOString(),
      };
    } catch (error) {
      if (!(error instanceof SauceRegistryError) || error instanceof TimeoutError) throw error;
      report.api = { ok: false, detail: error.message, exitCode: error.exitCode };
    }
  }
  if (reference) {
    report.host = reference.host;
    if (recorded) report.registry = recorded;
    if (credentials) {
      const cached = await cachedTokenState({ ...options, credentials, apiUrl, registryUrl });
      if (cached.expiresAt) report.cachedTokenExpiresAt = cached.expiresAt.toISOString();
      if (cached.problem) report.cacheProblem = cached.problem;
    }
    report.dockerConfig = await dockerConfigStatus(reference.host, options);
  }
  const onPath = await findOnPath(HELPER_PROGRAM);
  if (onPath) report.helperOnPath = onPath;
  return report;
}
