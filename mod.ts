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

import {
  ApiError,
  AuthenticationError,
  ConfigError,
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
  basename,
  concat,
  dirname,
  env,
  fileInfo,
  homeDirectory,
  isLinux,
  isWindows,
  joinPath,
  linkInfo,
  processId,
  randomId,
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
import {
  apiBaseUrl,
  cacheDirectory,
  type CachedToken,
  cacheFilePath,
  cacheKeyApiUrl,
  checkCacheFolder,
  checkUsername,
  type CredentialOptions,
  CREDENTIALS_NOT_FOUND,
  DEFAULT_REGION,
  dockerConfigFile,
  fromCache,
  HELPER_PROGRAM,
  isFresh,
  isLoopbackHost,
  jsonType,
  parseJsonObject,
  type PathOptions,
  readCacheEntry,
  readJsonObject,
  readRegistrySettings,
  readSettingsText,
  REGIONS,
  registriesIn,
  type RegistrySettings,
  type RegistryToken,
  resolveCredentials,
  type ResolvedCredentials,
  type SauceCredentials,
  settingsFile,
  tokenCacheKey,
} from "./_store.ts";
import { imageRegistryUrl, parseRegistry, registryHost, safeHost } from "./_registry.ts";

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
export {
  type CredentialProviderRequest,
  type CredentialProviderResponse,
  KUBELET_PROVIDER_API_VERSIONS,
  kubeletCredentialProvider,
  type KubeletProviderApiVersion,
  type KubeletProviderOptions,
} from "./_kubelet.ts";
export { parseRegistry, registryHost, type RegistryReference } from "./_registry.ts";
export {
  CREDENTIALS_NOT_FOUND,
  DEFAULT_REGION,
  HELPER_PROGRAM,
  type PathOptions,
  readRegistrySettings,
  REGIONS,
  type RegistrySettings,
  type RegistryToken,
  type SauceCredentials,
} from "./_store.ts";
export {
  apiBaseUrl,
  type ApiSettings,
  type ApiSettingsOptions,
  type CredentialOptions,
  type CredentialSource,
  type Found,
  resolveApiSettings,
  resolveCredentials,
  type ResolvedCredentials,
  type SettingLookup,
  settingLookup,
} from "./_store.ts";

/** The version of this library and of the `sauce-registry` command (kept equal to deno.json's). */
export const VERSION = "0.1.0";

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Token API client
// ---------------------------------------------------------------------------------------------

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
  // AbortSignal.timeout, not setTimeout: Deno's first setTimeout costs ~10 ms of every command.
  // Its timer does not keep the process alive, and its own reason is replaced by ours.
  const expiry = AbortSignal.timeout(limit.seconds * 1000);
  const expire = () =>
    controller.abort(
      new TimeoutError(timeoutMessage(limit, `waiting for a registry token from ${base}`)),
    );
  expiry.addEventListener("abort", expire, { once: true });
  const outer = options.signal;
  const passOn = () => controller.abort(outer!.reason);
  if (outer?.aborted) passOn();
  else outer?.addEventListener("abort", passOn, { once: true });
  try {
    return await requestToken(base, options, controller.signal);
  } finally {
    expiry.removeEventListener("abort", expire);
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
// Files: atomic writes and a cross-process lock
// ---------------------------------------------------------------------------------------------

/**
 * Write a file so that readers see the old or the new content, never half, even after a power
 * loss: a temporary file in the same folder, flushed to the disk, then renamed over the target,
 * then the folder flushed so that the rename itself is on the disk.
 *
 * The temporary file is named `TARGET.tmp-PID-TAG-RANDOM` after its writer ({@linkcode
 * processTag}); a writer killed with SIGKILL leaves it behind, with a token or the Docker
 * config's credentials in it, and the next write of the same target removes it.
 */
async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const identity = await processTag();
  const temporary = `${path}.tmp-${processId()}-${identity ?? "unknown"}-${randomId()}`;
  // Without /proc no writer can be told apart from a stranger with its PID: then sweep nothing.
  if (identity) await removeAbandonedTemporaries(path);
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

/** How old a temporary file must be before a write removes it as abandoned. */
const ABANDONED_AFTER_MS = 60_000;

/**
 * Remove the temporary files of `path` that {@linkcode writeFileAtomic} calls left behind: those
 * of writers that are gone (or whose PID another process now has), when older than a minute. The
 * age spares a writer in another PID namespace that shares the folder (a cache volume shared by
 * containers), whose PID means nothing here: its write takes milliseconds.
 */
async function removeAbandonedTemporaries(path: string): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  const owner = (name: string) =>
    name.startsWith(prefix)
      ? /^(\d+)-([0-9a-f]+\.\d+)-\d+-\d+$/.exec(name.slice(prefix.length))
      : null;
  const abandoned = await entriesOfGoneOwners(dirname(path), owner).catch(() => []);
  for (const temporary of abandoned) {
    const info = await linkInfo(temporary).catch(() => undefined);
    if (!info || Date.now() - info.mtimeMs < ABANDONED_AFTER_MS) continue;
    await removePath(temporary).catch(() => {}); // another writer's sweep may have been first
  }
}

/**
 * The entries of `folder` named after a process that is gone (or whose PID another process now
 * has): `owner` finds the PID (group 1) and its {@linkcode processTag} (group 2) in a name, or
 * null for a name that is not such an entry.
 */
async function entriesOfGoneOwners(
  folder: string,
  owner: (name: string) => RegExpExecArray | null,
): Promise<string[]> {
  const gone: string[] = [];
  for (const name of await listDirectory(folder)) {
    const found = owner(name);
    if (found && (await processTag(Number(found[1]))) !== found[2]) {
      gone.push(joinPath(folder, name));
    }
  }
  return gone;
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

function cacheKey(options: GetTokenOptions): string {
  return tokenCacheKey(
    cacheKeyApiUrl(options.apiUrl, options.region),
    options.credentials,
    options.registryUrl,
  );
}

function cacheFile(options: GetTokenOptions): string {
  return cacheFilePath(cacheDirectory(options), cacheKey(options));
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
  const path = cacheFile(options);
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
  const path = cacheFile(options);
  const folder = await checkCacheFolder(dirname(path));
  if (!folder.exists || folder.problem) return folder.problem ? { problem: folder.problem } : {};
  const { token, problem } = await readCacheEntry(path, folder);
  if (problem) return { problem };
  return token ? { expiresAt: new Date(token.expires_at) } : {};
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
// Kubernetes pull Secrets
// ---------------------------------------------------------------------------------------------

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
  for (const folder of await entriesOfGoneOwners(parent, (name) => PRIVATE_FOLDER.exec(name))) {
    try {
      await removePath(folder, true);
    } catch (error) {
      // In a shared temporary folder it may be another user's: theirs to remove. This run goes on.
      log?.(`cannot remove the abandoned folder ${folder}: ${errorText(error)}`);
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
