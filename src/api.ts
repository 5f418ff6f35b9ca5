/**
 * Internal: the client of the Sauce Labs token API (`POST /v1alpha1/hosted/container-registry/
 * authorization-token`): retries with backoff, `Retry-After`, no redirects, no proxy for loopback,
 * a bounded wait, answers checked for their shape, clock skew corrected, and failures explained
 * in one line that never holds a secret.
 *
 * @example
 * ```ts
 * import { fetchToken } from "./api.ts";
 * const token = await fetchToken({
 *   credentials: { username: "alice", accessKey: "…" },
 *   registryUrl: "registry.example.com/your-private-registry",
 * });
 * ```
 *
 * @module
 */

import type { SauceCredentials } from "./credentials.ts";
import { checkUsername } from "./credentials.ts";
import { parseHttpDate, parseRfc3339 } from "./dates.ts";
import {
  abortError,
  ApiError,
  AuthenticationError,
  errorText,
  printable,
  redact,
  SauceRegistryError,
} from "./errors.ts";
import { env, fetchAndRead, sleep } from "./runtime.ts";
import { concat } from "./runtime/common.ts";
import {
  apiBaseUrl,
  deadline,
  isLoopbackHost,
  REGIONS,
  timeLimit,
  wholeNumberSetting,
} from "./settings.ts";
import { VERSION } from "./version.ts";

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
  /**
   * What the user calls the settings a refusal (401) is about, for its message: where they set
   * them (inputs of a CI step, variables, flags).
   */
  settingNames?: SettingNames;
  /**
   * The `fetch` to send requests with; default the runtime's, past any proxy for a loopback API.
   * For tests, and for callers with an HTTP client of their own.
   */
  fetch?: (url: URL, init: RequestInit) => Promise<Response>;
  /**
   * This machine's clock, in ms since the epoch: when an answer came, for the token's lifetime and
   * the clock skew; default `Date.now`. For tests.
   */
  now?: () => number;
}

/** The names of the settings a refused login is about, as the user set them. */
export interface SettingNames {
  /**
   * The username and access key; default the credentials' own `settingName`, else
   * `SAUCE_USERNAME and SAUCE_ACCESS_KEY`.
   */
  credentials?: string;
  /** The region; default `--region (or SAUCE_REGION)`. */
  region?: string;
}

const DEFAULT_SETTING_NAMES: Required<SettingNames> = {
  credentials: "SAUCE_USERNAME and SAUCE_ACCESS_KEY",
  region: "--region (or SAUCE_REGION)",
};

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

export function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * What must never be shown of a username and its secret (an access key, a token's password): the
 * secret, and the Basic credentials made of it (`base64(user:secret)`, standard and URL-safe,
 * with and without padding), which a server or a tool may echo back.
 *
 * @param username The username.
 * @param secret The secret.
 * @returns The texts to redact, the longest first.
 */
export function secretForms(username: string, secret: string): string[] {
  const basic = base64(`${username}:${secret}`);
  const urlSafe = basic.replaceAll("+", "-").replaceAll("/", "_");
  // The longest first, so that a padded form is replaced whole rather than leaving its "=".
  return [basic, urlSafe, basic.replace(/=+$/, ""), urlSafe.replace(/=+$/, ""), secret];
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
  names: Required<SettingNames>,
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
    // An account lives in one region: the default region refuses an EU account's key. With an
    // explicit API URL there is no region to suggest.
    const others = Object.keys(REGIONS).filter((name) =>
      name !== target.region && name !== "staging"
    );
    const where = target.region ? `region ${target.region}` : "an explicit API URL";
    const regionHint = target.region
      ? `, and the region: an account of ${others.join(" or ")} needs ${names.region}`
      : "";
    return new AuthenticationError(
      `Sauce Labs at ${target.host} (${where}) refused the username or access key (401)${detail}; check ${names.credentials}${regionHint}`,
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
 * import { fetchToken } from "@saucelabs-community/sauce-registry";
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
  const { signal, release } = deadline(
    limit,
    `waiting for a registry token from ${base}`,
    options.signal,
  );
  try {
    return await requestToken(base, options, signal);
  } finally {
    release();
  }
}

async function requestToken(
  base: string,
  options: FetchTokenOptions,
  signal: AbortSignal,
): Promise<RegistryToken> {
  const url = new URL(`${base}${TOKEN_PATH}`);
  const { username, accessKey } = options.credentials;
  const secrets = secretForms(options.credentials.username, options.credentials.accessKey);
  const retries = options.retries ?? wholeNumberSetting("SAUCE_REGISTRY_RETRIES", 100) ?? 3;
  const firstDelay = options.retryDelayMs ??
    wholeNumberSetting("SAUCE_REGISTRY_RETRY_DELAY_MS", MAX_BACKOFF_MS) ?? 1000;
  const log = options.log ?? (() => {});
  const body = options.registryUrl
    ? JSON.stringify({ registry_url: options.registryUrl })
    : undefined;
  const proxy = proxyFor(url);
  const target = apiTarget(base);
  const progress = options.onProgress ?? (() => {});
  const now = options.now ?? Date.now;
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
      const answer = options.fetch
        ? await readAnswer(await options.fetch(url, init), base, now)
        : await fetchAndRead(
          url,
          init,
          isLoopbackHost(url.hostname),
          (response) => readAnswer(response, base, now),
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
      failure = statusError(
        answer.status,
        answerExcerpt(answer.body, secrets),
        target,
        {
          ...DEFAULT_SETTING_NAMES,
          ...(options.credentials.settingName
            ? { credentials: options.credentials.settingName }
            : {}),
          ...options.settingNames,
        },
        proxy,
      );
      reason = `Sauce Labs answered ${answer.status}`;
      if (!isRetryableStatus(answer.status)) throw failure;
      waitMs = retryAfterMs(answer.retryAfter, now());
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

async function readAnswer(
  response: Response,
  base: string,
  now: () => number,
): Promise<Answer> {
  const receivedAt = now();
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
