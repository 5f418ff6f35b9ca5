/**
 * Internal: the registries file (`$XDG_CONFIG_HOME/sauce-registry/registries.json`), which
 * `configure-docker` writes and the credential helper and the kubelet provider read: for each
 * registry host, the whole registry URL the Sauce API wants, the region, an explicit API URL and
 * a credentials file. As it says where the access key is sent, it is read only when this user or
 * root owns it and no one else can write to it ({@linkcode REGISTRIES_FILE_READ}).
 *
 * @example
 * ```ts
 * import { readRegistrySettings } from "./registries.ts";
 * console.log(Object.keys(await readRegistrySettings()));
 * ```
 *
 * @module
 */

import { ConfigError, printable } from "./errors.ts";
import type { SettingsReadOptions } from "./files.ts";
import { jsonType, readJsonObject } from "./json.ts";
import { type PathOptions, settingsFile } from "./paths.ts";

/** What the credential helper knows of a registry host. */
export interface RegistrySettings {
  /** The whole registry URL for the Sauce API. */
  registryUrl: string;
  /** The region. */
  region: string;
  /** An explicit API URL (from `--api-url`), which wins over the region. */
  apiUrl?: string;
  /**
   * The file its credentials are read from (`configure-docker --credentials-file`), instead of the
   * environment and saucectl's file.
   */
  credentialsFile?: string;
}

/**
 * How the registries file is read, by every reader and by `configure-docker` before it rewrites
 * it: only when it is this user's or root's and no one else can write to it. Otherwise another
 * user (whose HOME root's helper was run with) could send root's access key, from a
 * `credentialsFile` of root's, to an `apiUrl` of their own.
 */
export const REGISTRIES_FILE_READ: SettingsReadOptions = { trusted: true };

/**
 * Read the registries file (host → settings) that `configure-docker` writes.
 *
 * @example
 * ```ts
 * import { readRegistrySettings } from "@saucelabs-community/sauce-registry";
 * const registries = await readRegistrySettings();
 * console.log(Object.keys(registries));
 * ```
 *
 * @param options Where the file is.
 * @returns The registries, empty when the file does not exist.
 * @throws {ConfigError} When the file is not valid JSON or not of the registries file's shape,
 * or when someone other than this user or root owns it or can write to it.
 */
export async function readRegistrySettings(
  options: PathOptions = {},
): Promise<Record<string, RegistrySettings>> {
  const path = settingsFile(options);
  const json = await readJsonObject(path, REGISTRIES_FILE_READ);
  return json === undefined ? {} : registriesIn(path, json);
}

/**
 * The registries a parsed registries file holds, checked: the one place that says what the file
 * must look like. `registries` maps hosts to objects with a non-empty `registryUrl` and a
 * `region` (strings), and an `apiUrl` string when there is one.
 */
export function registriesIn(
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
    const { registryUrl, region, apiUrl, credentialsFile } = entry as Record<string, unknown>;
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
    if (
      credentialsFile !== undefined && (typeof credentialsFile !== "string" || !credentialsFile)
    ) {
      throw new ConfigError(
        path,
        `${where}: "credentialsFile" must be a file's path, found ${
          jsonType(credentialsFile)
        }; ${fix}`,
      );
    }
  }
  return registries as Record<string, RegistrySettings>;
}
