/**
 * Internal: the kubelet's image credential provider protocol (re-exported by `mod.ts`). A node
 * starts the provider for every image it pulls, so an answer from the token cache loads only this
 * module and `_store.ts`; the token client is imported only when a token must be fetched.
 *
 * @example
 * ```ts
 * import { kubeletCredentialProvider } from "./_kubelet.ts";
 * const response = await kubeletCredentialProvider(
 *   '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/team/app:1"}',
 *   { registries: ["registry.example.com/team"] },
 * );
 * ```
 *
 * @module
 */

import { CredentialsNotFoundError, printable, UsageError } from "./_errors.ts";
import { parseRegistry, safeHost } from "./_registry.ts";
import {
  cacheDirectory,
  cacheKeyApiUrl,
  type CredentialOptions,
  DEFAULT_REGION,
  freshCachedToken,
  fromCache,
  type PathOptions,
  readRegistrySettings,
  type RegistrySettings,
  renewalTime,
  resolveCredentials,
  type SauceCredentials,
  tokenCacheKey,
} from "./_store.ts";

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
  /**
   * Called with a one-line message when the token cache is not safe to use (see `getToken`): the
   * token is then fetched without it.
   */
  warn?: (message: string) => void;
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

export function checkProviderRequest(request: string | CredentialProviderRequest): {
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
export function imageHost(image: string): string | undefined {
  const slash = image.indexOf("/");
  const first = slash === -1 ? "" : image.slice(0, slash);
  if (!/[.:[]/.test(first) && first !== "localhost") return undefined;
  return safeHost(first);
}

/** The registries served, by host: from the options, else from the registries file. */
export async function servedRegistries(
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
export function goDuration(ms: number): string {
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
  // A fresh cached token is answered without loading the token client (a node starts this
  // program for every pull); anything else takes getToken's whole way: lock, request, checks.
  const cached = options.noCache ? undefined : await freshCachedToken(
    cacheDirectory(options),
    tokenCacheKey(
      cacheKeyApiUrl(registry.apiUrl, registry.region),
      credentials,
      registry.registryUrl,
    ),
  );
  const token = cached ? fromCache(cached) : await (await import("./mod.ts")).getToken({
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
export async function providerCredentials(
  options: KubeletProviderOptions,
): Promise<SauceCredentials> {
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
