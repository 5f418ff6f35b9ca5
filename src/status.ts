/**
 * Internal: `status`, the diagnostics — where credentials come from (never their values), the
 * region and API URL, whether the API gives a token, the cached token's expiry, what the Docker
 * config says of a registry, and whether the helper is on PATH.
 *
 * @example
 * ```ts
 * import { status } from "./status.ts";
 * console.log(await status("registry.example.com/your-private-registry", { offline: true }));
 * ```
 *
 * @module
 */

import { fetchToken } from "./api.ts";
import { cachedTokenState } from "./cache.ts";
import {
  type CredentialOptions,
  resolveCredentials,
  type ResolvedCredentials,
} from "./credentials.ts";
import { type DockerConfigStatus, dockerConfigStatus } from "./docker_config.ts";
import { SauceRegistryError, TimeoutError } from "./errors.ts";
import { HELPER_PROGRAM } from "./helper.ts";
import { findOnPath, type PathOptions } from "./paths.ts";
import { parseRegistry } from "./reference.ts";
import { readRegistrySettings, type RegistrySettings } from "./registries.ts";
import { runtimeName } from "./runtime.ts";
import { apiBaseUrl, DEFAULT_REGION } from "./settings.ts";
import { VERSION } from "./version.ts";

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
 * import { status } from "@saucelabs-community/sauce-registry";
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
