/**
 * Internal: settings — the Sauce Labs regions and API URL, the environment and the `.env` file
 * (read the same way by every command), and time limits: every wait of sauce-registry is bounded,
 * by `--timeout`, `SAUCE_REGISTRY_TIMEOUT` or a default, read by one parser.
 *
 * @example
 * ```ts
 * import { apiBaseUrl, timeLimit } from "./settings.ts";
 * apiBaseUrl("eu-central-1"); // "https://api.eu-central-1.saucelabs.com"
 * timeLimit("90").seconds; // 90
 * ```
 *
 * @module
 */

import { loadUtil } from "../deps.ts";
import { printable, TimeoutError, unknownChoice, UsageError } from "./errors.ts";
import { readSettingsText } from "./files.ts";
import { maskUserinfo } from "./reference.ts";
import { env } from "./runtime.ts";

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
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Whether a URL is an https:// address of Sauce Labs (`*.saucelabs.com`, `*.saucelabs.net`).
 *
 * @example
 * ```ts
 * import { isSauceLabsUrl } from "./settings.ts";
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
 * import { apiBaseUrl } from "@saucelabs-community/sauce-registry";
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
  if (!base) throw unknownChoice("region", name, Object.keys(REGIONS));
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
 * import { settingLookup } from "@saucelabs-community/sauce-registry";
 * const settings = settingLookup({ envFile: ".env" });
 * console.log((await settings.get("SAUCE_REGION"))?.value);
 * ```
 *
 * @param options Which `.env` file to read (as {@linkcode ApiSettingsOptions}' `envFile`).
 * @returns The lookup.
 */
export function settingLookup(options: { envFile?: string | false } = {}): SettingLookup {
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

/** Options of {@linkcode resolveApiSettings}. */
export interface ApiSettingsOptions {
  /** From `--region`; else `SAUCE_REGION`. */
  region?: string;
  /** From `--api-url`; else `SAUCE_API_URL`. */
  apiUrl?: string;
  /**
   * A `.env` file; default `./.env` when it exists. An explicit file must exist. `false` reads
   * none: the credential helper runs in whatever folder Docker was started in, often a cloned
   * repository, whose `.env` must not choose the identity or the API.
   */
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
 * import { fetchToken, resolveApiSettings, resolveCredentials } from "@saucelabs-community/sauce-registry";
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

/** How long a token request (retries included) may take unless told otherwise, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 60;

/**
 * The longest time limit, in seconds: about 24.8 days, the most a timer can hold (2^31 - 1 ms).
 * A longer one would fire at once.
 */
export const MAX_TIMEOUT_SECONDS = 2_147_483;

/**
 * Read a time limit in seconds (`--timeout`, `SAUCE_REGISTRY_TIMEOUT`): a number above 0 and at
 * most {@linkcode MAX_TIMEOUT_SECONDS}.
 *
 * @example
 * ```ts
 * import { parseTimeoutSeconds } from "./settings.ts";
 * parseTimeoutSeconds("1.5", "--timeout"); // 1.5
 * ```
 *
 * @param text The text given.
 * @param origin Where it was given, for the message.
 * @returns The seconds.
 * @throws {UsageError} For anything else.
 */
export function parseTimeoutSeconds(text: string, origin: string): number {
  const seconds = /^\s*(\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : NaN;
  checkTimeout(seconds, origin, `"${printable(text, 30)}"`);
  return seconds;
}

function checkTimeout(seconds: number, origin: string, shown: string): void {
  if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) {
    throw new UsageError(
      `Invalid ${origin}: expected a number of seconds above 0 and at most ${MAX_TIMEOUT_SECONDS} (24 days), got ${shown}`,
    );
  }
}

/**
 * A whole number from 0 to `max` in an environment variable (`SAUCE_REGISTRY_RETRIES`); undefined
 * when it is unset or empty, as an empty `SAUCE_REGISTRY_TIMEOUT` is.
 *
 * @param name The variable.
 * @param max The largest value it may hold.
 * @returns The number, or undefined.
 * @throws {UsageError} When it holds anything else.
 */
export function wholeNumberSetting(name: string, max: number): number | undefined {
  const text = env(name);
  if (text === undefined || text === "") return undefined;
  if (!/^\d{1,9}$/.test(text) || Number(text) > max) {
    throw new UsageError(
      `Invalid ${name}: expected a whole number from 0 to ${max}, got "${printable(text, 30)}"`,
    );
  }
  return Number(text);
}

/** A time limit and where it came from (for the message when it runs out). */
export interface TimeLimit {
  /** The seconds. */
  seconds: number;
  /** Where they came from: `--timeout`, `SAUCE_REGISTRY_TIMEOUT`, the default. */
  origin?: string;
}

/**
 * The one reading of a time limit, for every command: `--timeout` when given (its text), or a
 * number a caller chose; else `SAUCE_REGISTRY_TIMEOUT` (empty is unset); else the default.
 *
 * @example
 * ```ts
 * import { timeLimit } from "./settings.ts";
 * timeLimit("90"); // { seconds: 90, origin: "--timeout" }
 * timeLimit(undefined, 50).seconds; // 50, unless SAUCE_REGISTRY_TIMEOUT says otherwise
 * ```
 *
 * @param given The `--timeout` text, or a number of seconds; undefined when neither was given.
 * @param defaultSeconds The limit when nothing sets one.
 * @returns The limit and its origin.
 * @throws {UsageError} For a limit that is not a number above 0 and at most
 * {@linkcode MAX_TIMEOUT_SECONDS}.
 */
export function timeLimit(
  given?: string | number,
  defaultSeconds: number = DEFAULT_TIMEOUT_SECONDS,
): TimeLimit {
  if (typeof given === "string") {
    return { seconds: parseTimeoutSeconds(given, "--timeout"), origin: "--timeout" };
  }
  if (given !== undefined) {
    checkTimeout(given, "timeoutSeconds", String(given));
    return { seconds: given };
  }
  const text = env("SAUCE_REGISTRY_TIMEOUT");
  if (text === undefined || text.trim() === "") {
    return {
      seconds: defaultSeconds,
      origin: "the default; SAUCE_REGISTRY_TIMEOUT or --timeout changes it",
    };
  }
  return {
    seconds: parseTimeoutSeconds(text, "SAUCE_REGISTRY_TIMEOUT"),
    origin: "SAUCE_REGISTRY_TIMEOUT",
  };
}

/**
 * What to say when a time limit runs out: `Timed out after 60 s (SAUCE_REGISTRY_TIMEOUT) asking
 * for a token`.
 *
 * @param limit The limit.
 * @param what What was being waited for, if it should be said.
 * @returns The message.
 */
export function timeoutMessage(limit: TimeLimit, what?: string): string {
  return `Timed out after ${limit.seconds} s${limit.origin ? ` (${limit.origin})` : ""}${
    what ? ` ${what}` : ""
  }`;
}

/** A signal bound by a time limit, and how to stop listening to what it is bound by. */
export interface Deadline {
  /** Aborts when the limit runs out (with a {@linkcode TimeoutError}) or the outer signal does. */
  signal: AbortSignal;
  /** Stop listening; call it when the work is done. */
  release(): void;
}

/**
 * A signal that aborts with a {@linkcode TimeoutError} saying {@linkcode timeoutMessage} when a
 * time limit runs out, or with the outer signal's reason when that aborts first.
 *
 * @example
 * ```ts
 * import { deadline, timeLimit } from "./settings.ts";
 * const { signal, release } = deadline(timeLimit(5), "asking for a token");
 * try {
 *   await fetch("http://127.0.0.1:9/", { signal }).catch(() => {});
 * } finally {
 *   release();
 * }
 * ```
 *
 * @param limit The limit.
 * @param what What is waited for, for the message.
 * @param outer A signal that can end it sooner.
 * @returns The signal and its release.
 */
export function deadline(limit: TimeLimit, what: string, outer?: AbortSignal): Deadline {
  const controller = new AbortController();
  // AbortSignal.timeout, not setTimeout: Deno's first setTimeout costs ~10 ms of every command.
  // Its timer does not keep the process alive, and its own reason is replaced by ours.
  const expiry = AbortSignal.timeout(limit.seconds * 1000);
  const expire = () => controller.abort(new TimeoutError(timeoutMessage(limit, what)));
  expiry.addEventListener("abort", expire, { once: true });
  const passOn = () => controller.abort(outer!.reason);
  if (outer?.aborted) passOn();
  else outer?.addEventListener("abort", passOn, { once: true });
  return {
    signal: controller.signal,
    release() {
      expiry.removeEventListener("abort", expire);
      outer?.removeEventListener("abort", passOn);
    },
  };
}
