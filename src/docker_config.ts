/**
 * Internal: the Docker config — `configure-docker` (the helper named in `credHelpers`, the
 * registry recorded in the registries file), its undoing, what the config says of a host, and
 * the `auths` config of one login. Every edit keeps the rest of the file byte for byte
 * (`json_edit.ts`), under a lock, atomically, after checking both files.
 *
 * @example
 * ```ts
 * import { configureDocker } from "./docker_config.ts";
 * await configureDocker(["registry.example.com/your-private-registry"]);
 * ```
 *
 * @module
 */

import { base64, type RegistryToken } from "./api.ts";
import { type SauceCredentials, writeCredentialsFile } from "./credentials.ts";
import { ConfigError, printable, UsageError } from "./errors.ts";
import { readSettingsText, updateFile } from "./files.ts";
import { HELPER_NAME } from "./helper.ts";
import { jsonType, parseJsonObject, readJsonObject } from "./json.ts";
import {
  dockerConfigFile,
  isAbsolute,
  type PathOptions,
  resolveSymlinks,
  settingsFile,
} from "./paths.ts";
import { onePerHost, parseRegistry, safeHost } from "./reference.ts";
import { REGISTRIES_FILE_READ, registriesIn, type RegistrySettings } from "./registries.ts";
import { apiBaseUrl, DEFAULT_REGION } from "./settings.ts";

/**
 * The `auths` Docker config for one registry host: what `token --format docker-config` prints.
 *
 * @example
 * ```ts
 * import { dockerConfigFor } from "@saucelabs-community/sauce-registry";
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

/** Options of {@linkcode configureDocker}. */
export interface ConfigureDockerOptions extends PathOptions {
  /** The region the registries belong to; default `us-west-1`. */
  region?: string;
  /** An explicit API URL, recorded so that the helper asks the same API. */
  apiUrl?: string;
  /** The helper's name in `credHelpers`: `docker-credential-<name>`; default `saucelabs`. */
  helperName?: string;
  /**
   * A file to serve these registries' credentials from (written now, mode 0600, with
   * `credentials`), instead of the environment and saucectl's file: how a machine serves two
   * registries with two Sauce Labs identities, and how CI keeps the key out of every step. An
   * absolute path: the helper runs in whatever folder Docker does.
   */
  credentialsFile?: string;
  /** The identity written to `credentialsFile`; needed with it. */
  credentials?: SauceCredentials;
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
  /**
   * The hosts whose `credHelpers` entry named another helper (such as `ecr-login`), with its name:
   * they now name this one, and the old config is in `config.json.bak` (configureDocker only).
   */
  replacedHelpers?: Record<string, string>;
}

/**
 * Make Docker (and Podman, Skopeo, Buildah, which read the same file) use the
 * `docker-credential-saucelabs` helper for these registries: records each registry in the
 * registries file and adds `credHelpers` entries to the Docker config. Idempotent.
 *
 * @example
 * ```ts
 * import { configureDocker } from "@saucelabs-community/sauce-registry";
 * await configureDocker(["registry.example.com/your-private-registry"], { region: "us-west-1" });
 * ```
 *
 * @param registries Registry URLs as Sauce Labs gives them.
 * @param options Region or API URL, a credentials file, and where the files are.
 * @returns The hosts and files, and whether each file changed.
 * @throws {UsageError} For a malformed registry, or a credentials file that is not an absolute
 * path.
 * @throws {ConfigError} When the Docker config or the registries file cannot be used (not valid
 * JSON, not a regular file, the wrong shape, a registries file that is not this user's or root's
 * or that others can write to): both are then left untouched.
 */
export async function configureDocker(
  registries: readonly string[],
  options: ConfigureDockerOptions = {},
): Promise<ConfigureDockerResult> {
  if (registries.length === 0) throw new UsageError("configure-docker needs at least one registry");
  const references = [
    ...onePerHost(
      registries.map(parseRegistry),
      "Docker asks the credential helper for a host only, so configure one registry per host",
    ).values(),
  ];
  const region = options.region || DEFAULT_REGION;
  apiBaseUrl(region, options.apiUrl); // reject a bad region or URL before touching any file
  const helper = options.helperName ?? HELPER_NAME;
  const credentialsFile = options.credentialsFile;
  if ((credentialsFile === undefined) !== (options.credentials === undefined)) {
    throw new UsageError("configureDocker takes credentialsFile and credentials together");
  }
  if (credentialsFile === "") {
    throw new UsageError("The credentials file is empty: expected a file's path");
  }
  if (credentialsFile !== undefined && !isAbsolute(credentialsFile)) {
    // Docker runs the helper in whatever folder it was started in: a relative path would name
    // another file there.
    throw new UsageError(
      `The credentials file must be an absolute path, as the helper reads it from any folder: got "${
        printable(credentialsFile, 200)
      }"`,
    );
  }
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
        ...(credentialsFile ? { credentialsFile } : {}),
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
  const { withCredHelpers } = await import("./json_edit.ts");
  let replacedHelpers: Record<string, string> = {};
  const editDockerConfig = (raw: string | undefined): string | undefined => {
    const json = raw === undefined ? {} : parseJsonObject(dockerConfig, raw);
    checkCredHelpers(dockerConfig, json);
    const entries = (json.credHelpers ?? {}) as Record<string, unknown>;
    replacedHelpers = Object.fromEntries(
      hosts.filter((host) => Object.hasOwn(entries, host) && entries[host] !== helper)
        .map((host) => [host, String(entries[host])]),
    );
    return withCredHelpers(raw ?? "", hosts, helper);
  };
  // Every input is checked before anything is written: a broken file found half-way would
  // leave the other one changed. (Each edit checks again under its file's lock.)
  editDockerConfig(await readSettingsText(dockerConfig));
  editSettings(await readSettingsText(await resolveSymlinks(settingsPath), REGISTRIES_FILE_READ));
  // The credentials, then the registries file: a host it knows but Docker does not ask about is
  // harmless; the other way round, the helper would answer "not found" for a host Docker sends.
  if (credentialsFile) await writeCredentialsFile(credentialsFile, options.credentials!);
  const settingsChanged = await updateFile(settingsPath, editSettings, {
    ...REGISTRIES_FILE_READ,
    signal: options.signal,
  });
  const dockerConfigChanged = await updateFile(dockerConfig, editDockerConfig, {
    signal: options.signal,
  });
  return {
    hosts,
    dockerConfig,
    settingsFile: settingsPath,
    dockerConfigChanged,
    settingsChanged,
    replacedHelpers,
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
 * import { unconfigureDocker } from "@saucelabs-community/sauce-registry";
 * await unconfigureDocker(["registry.example.com/your-private-registry"]);
 * ```
 *
 * @param registries Registry URLs or hosts.
 * @param options Where the files are.
 * @returns The hosts and files, and whether each file changed.
 * @throws {UsageError} For a malformed registry.
 * @throws {ConfigError} When the Docker config or the registries file cannot be used (not valid
 * JSON, a registries file that is not this user's or root's or that others can write to): both
 * are then left untouched.
 */
export async function unconfigureDocker(
  registries: readonly string[],
  options: UnconfigureDockerOptions = {},
): Promise<ConfigureDockerResult> {
  const hosts = registries.map((registry) => parseRegistry(registry).host);
  const helper = options.helperName ?? HELPER_NAME;
  const dockerConfig = await resolveSymlinks(dockerConfigFile(options));
  const settingsPath = settingsFile(options);
  const { withoutCredHelpers } = await import("./json_edit.ts");
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
    readSettingsText(await resolveSymlinks(settingsPath), REGISTRIES_FILE_READ),
  ]);
  editDockerConfig(dockerText);
  editSettings(settingsText);
  const dockerConfigChanged = dockerText !== undefined &&
    await updateFile(dockerConfig, editDockerConfig, { signal: options.signal });
  const settingsChanged = settingsText !== undefined &&
    await updateFile(settingsPath, editSettings, {
      ...REGISTRIES_FILE_READ,
      signal: options.signal,
    });
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
 * import { dockerConfigStatus } from "@saucelabs-community/sauce-registry";
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
