/**
 * Internal: the token cache — one file per (API URL, username, access key, registry) under
 * `$XDG_CACHE_HOME/sauce-registry`, trusted only while it is this user's alone, and
 * {@linkcode getToken}, the one way the library, the Docker credential helper and the kubelet
 * provider get a token: from the cache while it is fresh, else from one request shared by every
 * caller (within this process, and across processes under a lock). A cached answer loads nothing
 * else; the token client and the lock load only when a token must be fetched.
 *
 * @example
 * ```ts
 * import { getToken } from "./cache.ts";
 * const token = await getToken({
 *   credentials: { username: "alice", accessKey: "…" },
 *   registryUrl: "registry.example.com/your-private-registry",
 * });
 * ```
 *
 * @module
 */

import type { FetchTokenOptions, RegistryToken } from "./api.ts";
import type { SauceCredentials } from "./credentials.ts";
import { abortError, errorText, SauceRegistryError, UsageError } from "./errors.ts";
import { ownershipProblem, withFileLock, writeFileAtomic } from "./files.ts";
import { cacheDirectory, dirname, joinPath, type PathOptions } from "./paths.ts";
import { safeHost } from "./reference.ts";
import {
  changeMode,
  currentUserId,
  linkInfo,
  listDirectory,
  makeDirectory,
  readRegularFile,
  removePath,
  sha256Hex,
  sleep,
} from "./runtime.ts";
import { apiBaseUrl, deadline, timeLimit } from "./settings.ts";

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

/** What names a cached token: the API, the identity and the registry it is for. */
export interface CacheKeyOptions {
  /** The username and access key. */
  credentials: SauceCredentials;
  /** The registry URL the token is for. */
  registryUrl?: string;
  /** The region, when there is no explicit API URL. */
  region?: string;
  /** An explicit API URL. */
  apiUrl?: string;
}

/**
 * The one composition of a cache key: the API, the username, the access key and the registry.
 * The access key is part of it, so that a rotated or wrong key never gets a token another key
 * fetched; only a hash of it is ever written (as the cache file's name). The API part is read
 * without parsing a URL (a millisecond of the hot path on Deno): a token is only ever cached
 * after the token client checked the same URL, and a URL spelled two ways costs one more file.
 *
 * @param options The API, the credentials and the registry.
 * @returns The key (a secret: never written as it is).
 * @throws {UsageError} For an unknown region.
 */
export function cacheKey(options: CacheKeyOptions): string {
  const api = options.apiUrl ? options.apiUrl.replace(/\/+$/, "") : apiBaseUrl(options.region);
  const { username, accessKey } = options.credentials;
  return JSON.stringify([api, username, accessKey, options.registryUrl ?? ""]);
}

/**
 * The cache file of a key: named by its SHA-256, so no username or key shows in a name.
 *
 * @param dir The cache folder.
 * @param key The {@linkcode cacheKey}.
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
  const problem = ownershipProblem(info, { expected: "folder", uid });
  return {
    exists: true,
    ...(problem ? { problem: `Not using the token cache ${dir}: ${problem}` } : {}),
    ...(uid !== undefined ? { uid } : {}),
  };
}

/** What a cache file holds: a token, nothing usable (damaged, absent), or a reason to distrust it. */
export interface CacheEntry {
  token?: CachedToken;
  problem?: string;
}

export async function readCacheEntry(path: string, folder: CacheFolder): Promise<CacheEntry> {
  const file = await readRegularFile(path, { noFollow: true });
  if (file === undefined) return {};
  const problem = ownershipProblem(file.info, { expected: "file", uid: folder.uid });
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

/** Options of {@linkcode getToken}: those of {@linkcode fetchToken}, plus the cache. */
export interface GetTokenOptions extends FetchTokenOptions, PathOptions {
  /** Skip the cache: always ask the API, store nothing. */
  noCache?: boolean;
  /**
   * Called with a one-line message when the cache is not used: not safe (a folder of another
   * user, a symlink, one others can write to) or not writable (a full disk). The token is then
   * fetched without it.
   */
  warn?: (message: string) => void;
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
 * this user's alone (another owner, a symlink, writable by others), or that cannot be written,
 * is not used: `warn` says so and the token is fetched without the cache. The wait for another
 * process's request and the request itself are bounded together by `timeoutSeconds`.
 *
 * @example
 * ```ts
 * import { getToken, resolveCredentials } from "@saucelabs-community/sauce-registry";
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
  if (options.noCache) return await fetchUncached(options);
  let dir: string;
  try {
    dir = cacheDirectory(options);
  } catch (error) {
    // No HOME and no XDG_CACHE_HOME (a kubelet's plugin, a bare service): no cache to use.
    if (!(error instanceof UsageError)) throw error;
    return await fetchUncached(options, `No token cache (${error.message})`);
  }
  // Looked up and registered with no await in between, so that concurrent calls cannot both lead.
  const key = `${dir}\n${cacheKey(options)}`;
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
  let folder: CacheFolder;
  let entry: CacheEntry = {};
  try {
    folder = await checkCacheFolder(dir);
    if (folder.exists && !folder.problem) entry = await readCacheEntry(path, folder);
  } catch (error) {
    // A folder or entry this user cannot read (mode 000, another's ACL): a cache it cannot use.
    if (error instanceof SauceRegistryError) throw error;
    return await fetchUncached(options, cannotRead(dir, error));
  }
  if (entry.problem) return await fetchUncached(options, notUsing(entry.problem));
  if (entry.token && isFresh(entry.token, (options.now ?? Date.now)())) {
    return fromCache(entry.token);
  }
  // Not a fresh hit: what follows (the folder, the lock, the request) is bounded as one wait.
  const limit = timeLimit(options.timeoutSeconds);
  const { signal, release } = deadline(limit, "asking for a token", options.signal);
  const bounded = { ...options, signal, timeoutSeconds: limit.seconds };
  try {
    if (!folder.exists) {
      try {
        await makeDirectory(dir, 0o700);
      } catch (error) {
        return await fetchUncached(bounded, cannotWrite(dir, error));
      }
      folder = await checkCacheFolder(dir);
    }
    if (folder.problem) return await fetchUncached(bounded, notUsing(folder.problem));
    const made = await anotherProcessFetch(path, folder, bounded);
    return made ?? await lockedFetch(path, folder, bounded);
  } finally {
    release();
  }
}

/** How long a waiter sleeps between reads of the cache entry at first, and at most (ms). */
const WAITER_FIRST_SLEEP_MS = 5;
const WAITER_LONGEST_SLEEP_MS = 100;

/**
 * How long a waiter reads the cache entry before it goes to the lock itself (ms): about what a
 * token request takes. Only the lock's code can tell a live holder from a dead one whose time
 * stamp something keeps fresh, so a longer wait is the lock's to judge.
 */
const WAITER_PATIENCE_MS = 1_000;

/**
 * While another process holds the entry's lock (it is fetching this token), wait for its token
 * by reading the cache entry, with sleeps that grow from 5 to 100 ms, for a second at most:
 * neither the lock's code nor the token client is loaded, and the lock is not fought over.
 * Undefined when there is no lock, the entry is not usable, or the second is up: the caller then
 * goes to the lock.
 */
async function anotherProcessFetch(
  path: string,
  folder: CacheFolder,
  options: GetTokenOptions,
): Promise<RegistryToken | undefined> {
  const signal = options.signal!;
  const giveUp = Date.now() + WAITER_PATIENCE_MS;
  let sleepMs = WAITER_FIRST_SLEEP_MS;
  while (Date.now() < giveUp && (await linkInfo(`${path}.lock`)) !== undefined) {
    await sleep(sleepMs, signal).catch(() => {});
    if (signal.aborted) throw abortError(signal);
    sleepMs = Math.min(sleepMs * 2, WAITER_LONGEST_SLEEP_MS);
    const made = await freshEntry(path, folder, options);
    if (made) return made;
  }
  return undefined;
}

/** The entry's token when it can be handed out now, by the caller's clock. */
async function freshEntry(
  path: string,
  folder: CacheFolder,
  options: GetTokenOptions,
): Promise<RegistryToken | undefined> {
  const { token } = await readCacheEntry(path, folder);
  return token && isFresh(token, (options.now ?? Date.now)()) ? fromCache(token) : undefined;
}

/**
 * Under the cache entry's lock: the entry again (another process may have just written it), else
 * a request whose token is written for the others. A cache that cannot be written (a full disk,
 * a read-only folder) costs its callers nothing but a warning: the token is answered all the same.
 */
async function lockedFetch(
  path: string,
  folder: CacheFolder,
  options: GetTokenOptions,
): Promise<RegistryToken> {
  let fetched: RegistryToken | undefined;
  try {
    await changeMode(dirname(path), 0o700);
    // Loaded before the lock is taken: compiling the token client is work the event loop waits
    // for, and a holder on a starved machine would then miss its heartbeats for seconds, long
    // enough for a waiter in another PID namespace to break its lock and ask again.
    const { fetchToken } = await import("./api.ts");
    return await withFileLock(`${path}.lock`, async () => {
      const again = await freshEntry(path, folder, options);
      if (again) return again;
      const issuedAt = new Date((options.now ?? Date.now)());
      fetched = { ...(await fetchToken(options)), issuedAt };
      const entry: CachedToken = {
        username: fetched.username,
        password: fetched.password,
        expires_at: fetched.expiresAt.toISOString(),
        issued_at: issuedAt.toISOString(),
        ...(options.registryUrl ? { registry_url: options.registryUrl } : {}),
      };
      await writeFileAtomic(path, JSON.stringify(entry), 0o600);
      return fetched;
    }, { signal: options.signal, whileWaiting: () => freshEntry(path, folder, options) });
  } catch (error) {
    if (error instanceof SauceRegistryError || options.signal?.aborted) throw error;
    const problem = cannotWrite(dirname(path), error);
    if (fetched) {
      options.warn?.(`${problem}; the token was fetched, and is not kept`);
      return fetched;
    }
    return await fetchUncached(options, problem);
  }
}

function notUsing(problem: string): string {
  return `${problem}; fetching the token without the cache (remove it, and sauce-registry makes a new one)`;
}

function cannotRead(dir: string, error: unknown): string {
  return `Cannot read the token cache ${dir} (${errorText(error)})`;
}

function cannotWrite(dir: string, error: unknown): string {
  return `Cannot write to the token cache ${dir} (${errorText(error)})`;
}

/** Fetch without the cache, after saying why (when there is a reason to say). */
async function fetchUncached(options: GetTokenOptions, why?: string): Promise<RegistryToken> {
  if (why) {
    options.warn?.(
      why.includes("fetching the token") ? why : `${why}; fetching the token without the cache`,
    );
  }
  const { fetchToken } = await import("./api.ts");
  return await fetchToken(options);
}

/**
 * Remove cached tokens: those for one registry host, or all of them.
 *
 * @example
 * ```ts
 * import { clearCachedTokens } from "@saucelabs-community/sauce-registry";
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

/**
 * When the cached token for a registry expires, if one is cached, or why the cache is not used
 * (for `status`).
 *
 * @param options The cache key's parts and the cache folder.
 * @returns The expiry, or the problem.
 */
export async function cachedTokenState(
  options: GetTokenOptions,
): Promise<{ expiresAt?: Date; problem?: string }> {
  const path = cacheFile(options);
  const folder = await checkCacheFolder(dirname(path));
  if (!folder.exists || folder.problem) return folder.problem ? { problem: folder.problem } : {};
  const { token, problem } = await readCacheEntry(path, folder);
  if (problem) return { problem };
  return token ? { expiresAt: new Date(token.expires_at) } : {};
}
