/**
 * Internal: the kubelet's image credential provider — its protocol (one CredentialProviderRequest
 * on stdin, one CredentialProviderResponse on stdout), its arguments and its entry. A node starts
 * the provider for every image it pulls: an answer from the token cache loads only the cache and
 * the settings it reads; the token client loads only when a token must be fetched.
 *
 * @example
 * ```ts
 * import { kubeletCredentialProvider } from "./kubelet.ts";
 * const response = await kubeletCredentialProvider(
 *   '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/team/app:1"}',
 *   { registries: ["registry.example.com/team"] },
 * );
 * ```
 *
 * @module
 */

import { getToken, renewalTime } from "./cache.ts";
import { type CredentialOptions, registryCredentials } from "./credentials.ts";
import {
  CredentialsNotFoundError,
  errorText,
  printable,
  SauceRegistryError,
  TimeoutError,
  UsageError,
} from "./errors.ts";
import type { PathOptions } from "./paths.ts";
import { onePerHost, parseRegistry, safeHost } from "./reference.ts";
import { readRegistrySettings, type RegistrySettings } from "./registries.ts";
import { env, readStdin, writeStderr, writeStdout } from "./runtime.ts";
import { DEFAULT_REGION, resolveApiSettings, timeLimit, timeoutMessage } from "./settings.ts";
import { parseCommandLine } from "./cli/args.ts";
import {
  argumentSpecs,
  checkSharedOptions,
  type CommandSpec,
  GROUPS,
  NO_CACHE_OPTION,
  optionsOf,
  REGISTRY_OPTION,
} from "./cli/options.ts";

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
  /**
   * How the kubelet keeps the answer: `Image` (per image) for a registry path, `Registry` (per
   * host, as the image spells it) for a registry without a path.
   */
  cacheKeyType: "Image" | "Registry" | "Global";
  /** How long the kubelet may reuse the answer, as a Go duration (`4m0s`; `0s`: not at all). */
  cacheDuration: string;
  /**
   * The registry as the image spells its host (`host/team`, a `matchImages`-style pattern that
   * matches the image) → login; empty for an image outside the served registries.
   */
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
  /**
   * How long to wait for a token, lock and retries included, in seconds; default
   * `SAUCE_REGISTRY_TIMEOUT`, else {@linkcode DEFAULT_TIMEOUT_SECONDS}.
   */
  timeoutSeconds?: number;
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

/** The registries served, by host: from the options, else from the registries file. */
export async function servedRegistries(
  options: KubeletProviderOptions,
): Promise<Record<string, RegistrySettings>> {
  const region = options.region || DEFAULT_REGION;
  const explicitApi = Boolean(options.region || options.apiUrl);
  const served: Record<string, RegistrySettings> = {};
  if (options.registries && options.registries.length > 0) {
    const byHost = onePerHost(
      options.registries.map(parseRegistry),
      "the kubelet caches logins per host, so give one URL per host",
    );
    for (const [host, { registryUrl }] of byHost) {
      served[host] = { registryUrl, region, ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}) };
    }
    return served;
  }
  const recorded = await readRegistrySettings(options);
  for (const [host, entry] of Object.entries(recorded)) {
    const { apiUrl: _recordedApi, ...rest } = entry;
    served[host] = explicitApi
      ? { ...rest, region, ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}) }
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
 * Whether an image lies in a served registry, and how the kubelet must keep its login. The kubelet
 * matches `auth` keys to images case-sensitively, the key's path as a string prefix of the image's;
 * a `Registry` answer it keeps per host as the image spells it, and applies to later images of
 * that host. So a registry without a path is answered per host, keyed by the host as the image
 * spells it; a registry path (`host/team`) per image, keyed by the path: kept per host, any key
 * that reaches `host/team` would reach `host/team-b` too.
 *
 * @param image The image, as the kubelet names it.
 * @param served The served registries, by host (lower-cased).
 * @returns The registry, the `auth` key and the `cacheKeyType`; undefined for an image outside
 * every served registry (another host, another path, a Docker Hub image).
 * @throws {UsageError} For a malformed image of a served host.
 */
export function servedImage(
  image: string,
  served: Readonly<Record<string, RegistrySettings>>,
): { registry: RegistrySettings; authKey: string; cacheKeyType: "Image" | "Registry" } | undefined {
  const slash = image.indexOf("/");
  const spelledHost = slash === -1 ? "" : image.slice(0, slash);
  // As Docker splits a name, and the kubelet with it: a first component without a dot, a port or
  // an upper-case letter, other than localhost, is a Docker Hub namespace.
  if (
    !/[.:[]/.test(spelledHost) && spelledHost !== "localhost" &&
    spelledHost === spelledHost.toLowerCase()
  ) {
    return undefined;
  }
  const host = safeHost(spelledHost);
  if (host === undefined || !Object.hasOwn(served, host)) return undefined;
  const registry = served[host];
  const reference = parseRegistry(image); // an image of a served host must be well formed
  const registryPath = parseRegistry(registry.registryUrl).path;
  if (registryPath === "") return { registry, authKey: spelledHost, cacheKeyType: "Registry" };
  if (reference.path !== registryPath && !reference.path.startsWith(`${registryPath}/`)) {
    return undefined;
  }
  return { registry, authKey: `${spelledHost}/${registryPath}`, cacheKeyType: "Image" };
}

/**
 * The kubelet's image credential provider protocol: answer one CredentialProviderRequest. For an
 * image inside a served registry, a login keyed by the registry (`host/team`, the host as the
 * image spells it), kept per image for a registry path (kept per host, it would reach the host's
 * other paths) and per host for a whole host, that the kubelet may reuse until the token cache
 * would renew it (never past `expires_at`); tokens come through the cache the credential helper
 * uses, so concurrent pulls share one token request. Any other image gets an empty `auth`, and
 * no token is asked for.
 * `./.env` is not read (the kubelet's working folder is not the user's); an explicit `envFile` is.
 *
 * @example
 * ```ts
 * import { kubeletCredentialProvider } from "@saucelabs-community/sauce-registry";
 * const response = await kubeletCredentialProvider(
 *   '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/your-private-registry/app:1"}',
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
  const served = servedImage(image, await servedRegistries(options));
  const kind = "CredentialProviderResponse";
  if (!served) return { apiVersion, kind, cacheKeyType: "Registry", cacheDuration: "0s", auth: {} };
  const { registry, authKey, cacheKeyType } = served;
  const askedAt = new Date();
  const token = await getToken({
    ...options,
    credentials: await providerCredentials(registry, options),
    registryUrl: registry.registryUrl,
    region: registry.region,
    apiUrl: registry.apiUrl,
  });
  const renewal = renewalTime(token.expiresAt.getTime(), (token.issuedAt ?? askedAt).getTime());
  return {
    apiVersion,
    kind,
    cacheKeyType,
    cacheDuration: goDuration(renewal - Date.now()),
    auth: { [authKey]: { username: token.username, password: token.password } },
  };
}

/** The credentials, never from `./.env`; when missing, say where a provider takes them from. */
async function providerCredentials(
  registry: RegistrySettings,
  options: KubeletProviderOptions,
) {
  try {
    return await registryCredentials(registry, { ...options, envFile: options.envFile ?? false });
  } catch (error) {
    if (!(error instanceof CredentialsNotFoundError) || registry.credentialsFile) throw error;
    throw new CredentialsNotFoundError(
      error.missing,
      error.lookedIn,
      "set SAUCE_USERNAME and SAUCE_ACCESS_KEY in the --env-file (mode 0600) or in the provider's env",
    );
  }
}

/**
 * How long the provider waits for a token by default: the kubelet gives a plugin a minute, and the
 * provider's own message is worth more in its log than a kill.
 */
export const PROVIDER_TIMEOUT_SECONDS = 50;

const PROVIDER = "kubelet-credential-provider";

/** The provider's entry in the command table: its options are what {@linkcode providerMain} parses. */
export const PROVIDER_COMMAND: CommandSpec = {
  name: PROVIDER,
  usage:
    "kubelet-credential-provider [--registry URL]... [--env-file PATH] [--region REGION | --api-url URL]",
  summary: "the kubelet's image credential provider: fresh tokens for every pull",
  options: [
    {
      ...REGISTRY_OPTION,
      multiple: true,
      help: "a registry to serve (repeatable); default those configure-docker recorded",
    },
    {
      name: "username",
      type: "string",
      placeholder: "NAME",
      help: "the Sauce Labs username (or SAUCE_USERNAME)",
    },
    {
      name: "env-file",
      type: "string",
      placeholder: "PATH",
      help: "read SAUCE_USERNAME, SAUCE_ACCESS_KEY, SAUCE_REGION, SAUCE_API_URL from this file " +
        "(keep it 0600); ./.env is never read",
      completeWith: "file",
    },
    ...GROUPS.api,
    {
      name: "timeout",
      type: "string",
      placeholder: "SECONDS",
      help: `give up after this long (default ${PROVIDER_TIMEOUT_SECONDS}, within the ` +
        "kubelet's minute; or SAUCE_REGISTRY_TIMEOUT)",
    },
    NO_CACHE_OPTION,
  ],
  groups: [],
  details: `The kubelet runs it for each image that matches the provider's matchImages, with a
CredentialProviderRequest (credentialprovider.kubelet.k8s.io v1, v1beta1 or v1alpha1) on standard
input, and reads a CredentialProviderResponse in the same version: a login keyed by the registry
URL, with the host as the image spells it, which the kubelet reuses until the token is due for
renewal (per image for a registry path, per host for a registry without one). Images outside the
served registries (another host, or another path on the host) get an empty answer, and no token
is asked for. Tokens are cached, shared with the credential helper: a node pulling 20 images at
once makes one token request. Credentials: the --env-file, else the environment (the provider's
env), then ~/.sauce/credentials.yml.

A failure exits non-zero with one line on standard error and nothing on standard output.
Setup (CredentialProviderConfig, install, env file): examples/kubernetes/ and docs/kubernetes.md.

Example:
  printf '%s' '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/your-private-registry/app:1"}' |
    sauce-registry kubelet-credential-provider --registry registry.example.com/your-private-registry`,
};

/**
 * The kubelet credential provider's entry: one request on stdin, one response on stdout. Every
 * failure is one line on stderr and a non-zero exit, with nothing on stdout (the kubelet then
 * pulls without this provider's login and logs the line). Every argument is checked before any
 * file or network access.
 *
 * @param argv The arguments after the command.
 * @returns The exit code.
 */
export async function providerMain(argv: string[]): Promise<number> {
  const options = optionsOf(PROVIDER_COMMAND);
  let limit;
  try {
    const { values, positionals } = parseCommandLine(
      argv,
      argumentSpecs(options),
      options.map((option) => option.name),
    );
    if (values.help) {
      const { commandHelp } = await import("./cli/help.ts");
      await writeStdout(commandHelp(PROVIDER_COMMAND));
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError(
        `${PROVIDER} takes no arguments, got "${
          printable(positionals[0], 40)
        }" (see ${PROVIDER} --help)`,
      );
    }
    const text = (name: string) => values[name] as string | undefined;
    limit = timeLimit(text("timeout"), PROVIDER_TIMEOUT_SECONDS);
    const registries = (values.registry ?? []) as string[];
    registries.forEach((registry) => parseRegistry(registry));
    await checkSharedOptions(values);
    // The kubelet's folder is not the user's: only an explicit --env-file is read.
    const envFile = text("env-file") ?? false;
    const { region, apiUrl } = await resolveApiSettings({
      region: text("region"),
      apiUrl: text("api-url"),
      envFile,
    });
    const warnings: string[] = [];
    const response = await kubeletCredentialProvider(
      await readStdin("a CredentialProviderRequest"),
      {
        registries,
        username: text("username"),
        envFile,
        region,
        apiUrl,
        noCache: values["no-cache"] === true || env("SAUCE_REGISTRY_NO_CACHE") === "1",
        timeoutSeconds: limit.seconds,
        warn: (message) =>
          warnings.push(`sauce-registry ${PROVIDER}: ${printable(message, 1000)}\n`),
      },
    );
    await writeStdout(`${JSON.stringify(response)}\n`);
    // The kubelet logs what a provider writes on stderr: a cache it cannot trust is worth a line.
    if (warnings.length > 0) await writeStderr(warnings.join(""));
    return 0;
  } catch (error) {
    const message = error instanceof TimeoutError && limit
      ? timeoutMessage(limit, "asking for a token")
      : error instanceof SauceRegistryError
      ? error.message
      : `Unexpected failure: ${errorText(error)}`;
    await writeStderr(`sauce-registry ${PROVIDER}: ${printable(message, 1000)}\n`);
    return error instanceof SauceRegistryError ? error.exitCode : 1;
  }
}
