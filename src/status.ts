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
import { cachedTokenState, type GetTokenOptions } from "./cache.ts";
import {
  type CredentialOptions,
  resolveCredentials,
  type ResolvedCredentials,
} from "./credentials.ts";
import { type DockerConfigStatus, dockerConfigStatus } from "./docker_config.ts";
import { ConfigError, SauceRegistryError, TimeoutError } from "./errors.ts";
import { HELPER_PROGRAM, helperEnvironment, helperTokenOptions } from "./helper.ts";
import { findOnPath, type PathOptions } from "./paths.ts";
import { parseRegistry, type RegistryReference, requestedRegistryUrl } from "./reference.ts";
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
  /**
   * Whose settings the credentials, region, API URL, API check and cached token are:
   * `"credential-helper"` for a registry host the registries file records (what the helper uses
   * for it: the recorded registry URL, region, API URL and credentials file, else the environment
   * and saucectl's file, never a `.env` file, and not the options of `status`), `"command"`
   * otherwise (the options, the environment, the `.env` file, saucectl's file).
   */
  settingsOf: "credential-helper" | "command";
  /**
   * The username and where it and the access key came from; undefined when not found.
   * `credentialsFile` is the file `configure-docker --credentials-file` recorded, when they came
   * from there.
   */
  credentials?: {
    username: string;
    usernameSource: string;
    accessKeySource: string;
    credentialsFile?: string;
  };
  /** Why credentials were not found. */
  credentialsProblem?: string;
  /** The region and API base URL in use. */
  region: string;
  /** The API base URL. */
  apiUrl: string;
  /** Whether the API answered a token request, and how. */
  api?: { ok: boolean; detail: string; expiresAt?: string; exitCode?: number };
  /** Why the registries file cannot be read (broken JSON, a wrong shape), if it cannot. */
  registriesProblem?: string;
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
  /** Why the Docker config cannot be read (broken JSON, not an object), if it cannot. */
  dockerConfigProblem?: string;
  /** Where the credential helper's program is on PATH, if it is. */
  helperOnPath?: string;
}

/** Options of {@linkcode status}. */
export interface StatusOptions extends CredentialOptions, PathOptions {
  /** The region; not used for a registry the registries file records (the helper's is). */
  region?: string;
  /** An explicit API URL; not used for a registry the registries file records. */
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
 * For a registry that `configure-docker` recorded, they are what the credential helper uses for
 * it (its recorded settings and credentials), not the options' credentials, region or API URL.
 * A registries file or Docker config that cannot be read is reported, not thrown.
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
  let registries: Record<string, RegistrySettings> = {};
  let registriesProblem: string | undefined;
  try {
    registries = await readRegistrySettings(options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    registriesProblem = error.message;
  }
  const recorded = reference && Object.hasOwn(registries, reference.host)
    ? registries[reference.host]
    : undefined;
  const settings = recorded
    ? await helperSettings(recorded, options)
    : await commandSettings(reference, options);
  const report: StatusReport = {
    version: VERSION,
    runtime: runtimeName(),
    settingsOf: settings.settingsOf,
    region: settings.region,
    apiUrl: settings.apiUrl,
  };
  const token = settings.token;
  if (token) {
    const { username, usernameSource, accessKeySource } = token.credentials;
    report.credentials = {
      username,
      usernameSource,
      accessKeySource,
      ...(recorded?.credentialsFile ? { credentialsFile: recorded.credentialsFile } : {}),
    };
  } else {
    report.credentialsProblem = settings.credentialsProblem;
  }
  if (token && !options.offline) {
    try {
      const answer = await fetchToken({
        ...token,
        signal: options.signal,
        retries: options.retries ?? 0,
      });
      report.api = {
        ok: true,
        detail: "a token was issued",
        expiresAt: answer.expiresAt.toISOString(),
      };
    } catch (error) {
      if (!(error instanceof SauceRegistryError) || error instanceof TimeoutError) throw error;
      report.api = { ok: false, detail: error.message, exitCode: error.exitCode };
    }
  }
  if (registriesProblem) report.registriesProblem = registriesProblem;
  if (reference) {
    report.host = reference.host;
    if (recorded) report.registry = recorded;
    if (token) {
      const cached = await cachedTokenState(token);
      if (cached.expiresAt) report.cachedTokenExpiresAt = cached.expiresAt.toISOString();
      if (cached.problem) report.cacheProblem = cached.problem;
    }
    try {
      report.dockerConfig = await dockerConfigStatus(reference.host, options);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      report.dockerConfigProblem = error.message;
    }
  }
  const onPath = await findOnPath(HELPER_PROGRAM);
  if (onPath) report.helperOnPath = onPath;
  return report;
}

/** The settings a report is about, and what a token is asked (and looked up in the cache) with. */
interface ReportSettings {
  settingsOf: StatusReport["settingsOf"];
  region: string;
  apiUrl: string;
  /** Undefined when no credentials were found. */
  token?: GetTokenOptions & { credentials: ResolvedCredentials };
  credentialsProblem?: string;
}

/** What the credential helper uses for a recorded registry: the helper's own code path. */
async function helperSettings(
  recorded: RegistrySettings,
  options: StatusOptions,
): Promise<ReportSettings> {
  const { dockerConfigDir, settingsFile, cacheDir } = options;
  const settings: ReportSettings = {
    settingsOf: "credential-helper",
    region: recorded.region,
    apiUrl: apiBaseUrl(recorded.region, recorded.apiUrl),
  };
  try {
    settings.token = await helperTokenOptions(recorded, {
      ...helperEnvironment(),
      dockerConfigDir,
      settingsFile,
      cacheDir,
    });
  } catch (error) {
    if (!(error instanceof SauceRegistryError)) throw error;
    settings.credentialsProblem = error.message;
  }
  return settings;
}

/** What this command finds: the options, the environment, the `.env` file, saucectl's file. */
async function commandSettings(
  reference: RegistryReference | undefined,
  options: StatusOptions,
): Promise<ReportSettings> {
  const region = options.region || DEFAULT_REGION;
  const apiUrl = apiBaseUrl(region, options.apiUrl);
  const settings: ReportSettings = { settingsOf: "command", region, apiUrl };
  try {
    const credentials = await resolveCredentials(options);
    // Not recorded for the helper: asked for as token asks for it.
    const registryUrl = reference && requestedRegistryUrl(reference);
    settings.token = { ...options, credentials, apiUrl, registryUrl };
  } catch (error) {
    if (!(error instanceof SauceRegistryError)) throw error;
    settings.credentialsProblem = error.message;
  }
  return settings;
}
