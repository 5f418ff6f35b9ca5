/**
 * Internal: the Docker credential-helper protocol (`get`, `store`, `erase`, `list`, `version`) and
 * its entry, which Docker, Podman, Skopeo and Buildah run for every pull and push (as
 * `docker-credential-saucelabs`, or `sauce-registry credential-helper`). A `get` answered from the
 * token cache loads only the cache and the settings it reads; the command line never loads.
 *
 * @example
 * ```ts
 * import { credentialHelper } from "./helper.ts";
 * const answer = await credentialHelper("get", "registry.example.com\n");
 * console.log(answer.exitCode, answer.stdout);
 * ```
 *
 * @module
 */

import type { SettingNames } from "./api.ts";
import { clearCachedTokens, getToken, type GetTokenOptions } from "./cache.ts";
import {
  type CredentialOptions,
  registryCredentials,
  type ResolvedCredentials,
} from "./credentials.ts";
import {
  CredentialsNotFoundError,
  errorText,
  printable,
  SauceRegistryError,
  UsageError,
} from "./errors.ts";
import type { PathOptions } from "./paths.ts";
import { safeHost } from "./reference.ts";
import { readRegistrySettings, type RegistrySettings } from "./registries.ts";
import { env, readStdin, writeStderr, writeStdout } from "./runtime.ts";
import { VERSION } from "./version.ts";
import { type CommandSpec, NO_CACHE_OPTION } from "./cli/options.ts";

/** The helper's name in the Docker config's `credHelpers`: Docker runs `docker-credential-NAME`. */
export const HELPER_NAME = "saucelabs";

/**
 * The program Docker runs for a helper named `name` in `credHelpers`.
 *
 * @param name The helper's name in `credHelpers`.
 * @returns `docker-credential-<name>`.
 */
export function helperProgram(name: string): string {
  return `docker-credential-${name}`;
}

/** The name Docker runs the helper by (`credHelpers` value `saucelabs`). */
export const HELPER_PROGRAM: string = helperProgram(HELPER_NAME);

/** The exact answer Docker's clients take as "no credentials here, carry on anonymously". */
export const CREDENTIALS_NOT_FOUND = "credentials not found in native keychain";

/** The helper's entry in the command table (help, completions). */
export const HELPER_COMMAND: CommandSpec = {
  name: "credential-helper",
  usage: "credential-helper [--no-cache] get|store|erase|list|version",
  summary: "the Docker credential-helper protocol (as docker-credential-saucelabs)",
  options: [NO_CACHE_OPTION],
  groups: [],
  positionalChoices: ["get", "store", "erase", "list", "version"],
  details: `Docker runs it with the server address on standard input. Set SAUCE_REGISTRY_NO_CACHE=1
to turn the token cache off, SAUCE_REGISTRY_TIMEOUT=SECONDS to change how long it waits for a
token (default 60, at most 2147483), SAUCE_REGISTRY_CREDENTIALS_FILE=PATH to read the username and
access key from that file (saucectl's "username:" and "accessKey:" lines) instead of
~/.sauce/credentials.yml; a registry configured with configure-docker --credentials-file reads its
own file. It never reads a .env file. The cache ($XDG_CACHE_HOME/sauce-registry) is used only
while its folder and files are yours alone (not another user's, not a symlink, not writable by
others), and a cached token for an hour at most.

Example:
  sauce-registry configure-docker registry.example.com/your-private-registry
  printf registry.example.com | sauce-registry credential-helper get`,
};

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
  /** What the user calls the settings a refused login is about (see {@linkcode fetchToken}). */
  settingNames?: SettingNames;
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
 * import { credentialHelper } from "@saucelabs-community/sauce-registry";
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
    return {
      stdout: "",
      stderr: `${HELPER_PROGRAM}: ${printable(message, Infinity)}\n`,
      exitCode: 1,
    };
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
  const entry = host && Object.hasOwn(registries, host) ? registries[host] : undefined;
  if (!entry) return { stdout: `${CREDENTIALS_NOT_FOUND}\n`, stderr: "", exitCode: 1 };
  const warnings: string[] = [];
  // A refusal names where the key came from (the credentials say), unless a CI integration
  // names its own settings (options.settingNames).
  const token = await getToken({
    ...await helperTokenOptions(entry, options),
    warn: (message) => warnings.push(`${HELPER_PROGRAM}: ${printable(message, 1000)}\n`),
  });
  const answer = { ServerURL: serverUrl, Username: token.username, Secret: token.password };
  return ok(`${JSON.stringify(answer)}\n`, warnings.join(""));
}

async function helperList(options: CredentialHelperOptions): Promise<CredentialHelperResult> {
  const registries = await readRegistrySettings(options);
  const listing: Record<string, string> = {};
  for (const [host, entry] of Object.entries(registries)) {
    try {
      listing[host] = (await helperCredentials(entry, options)).username;
    } catch (error) {
      if (!(error instanceof UsageError || error instanceof CredentialsNotFoundError)) throw error;
      listing[host] = ""; // no credentials yet: list the host all the same
    }
  }
  return ok(`${JSON.stringify(listing)}\n`, "");
}

/**
 * The credentials the helper serves a configured registry with: from the file
 * `configure-docker --credentials-file` recorded (and only from there), else from `options` (the
 * flags of a library caller), the environment and saucectl's file (`options.saucectlFile`, which
 * the entry takes from `SAUCE_REGISTRY_CREDENTIALS_FILE`); never from a `.env` file, since Docker
 * runs the helper in whatever folder it was started in.
 *
 * @param entry What the registries file records of the registry.
 * @param options How to find credentials when the entry names no file.
 * @returns The username and access key, with where they came from.
 * @throws {CredentialsNotFoundError | ConfigError | UsageError} As {@linkcode registryCredentials}.
 */
export async function helperCredentials(
  entry: RegistrySettings,
  options: CredentialHelperOptions,
): Promise<ResolvedCredentials> {
  return await registryCredentials(entry, { ...options, envFile: false });
}

/**
 * What `get` asks the token cache and the API with for a configured registry: the credentials of
 * {@linkcode helperCredentials}, and the registry URL, region and API URL the registries file
 * records, whatever the environment says. `status` reports and checks the same, so that it shows
 * the identity, API and cache entry the helper uses.
 *
 * @param entry What the registries file records of the registry.
 * @param options The helper's options.
 * @returns The options of {@linkcode getToken} (and {@linkcode fetchToken}).
 * @throws {CredentialsNotFoundError | ConfigError | UsageError} As {@linkcode registryCredentials}.
 */
export async function helperTokenOptions(
  entry: RegistrySettings,
  options: CredentialHelperOptions,
): Promise<GetTokenOptions & { credentials: ResolvedCredentials }> {
  return {
    ...options,
    credentials: await helperCredentials(entry, options),
    registryUrl: entry.registryUrl,
    region: entry.region,
    apiUrl: entry.apiUrl,
  };
}

/**
 * What the CI integrations call the settings a refused login is about: the helper they configure
 * is told which one it serves by `SAUCE_REGISTRY_CONFIGURED_BY`.
 */
export const CI_SETTING_NAMES: Readonly<Record<string, SettingNames>> = {
  "github-action": {
    credentials: "the action's username and access-key inputs",
    region: "the action's region input",
  },
  "gitlab-component": {
    credentials: "the SAUCE_USERNAME and SAUCE_ACCESS_KEY CI/CD variables",
    region: "the component's region input",
  },
};

/**
 * The options the helper's entry takes from its environment: the credentials file that stands in
 * for saucectl's (`SAUCE_REGISTRY_CREDENTIALS_FILE`) and the CI integration that configured it
 * (`SAUCE_REGISTRY_CONFIGURED_BY`), which names the settings a refusal is about.
 *
 * @returns The options, as {@linkcode helperMain} passes them to {@linkcode credentialHelper}.
 */
export function helperEnvironment(): CredentialHelperOptions {
  // A file of saucectl's shape read in place of ~/.sauce/credentials.yml: how a CI job hands the
  // helper a key without putting it in every step's environment.
  const saucectlFile = env("SAUCE_REGISTRY_CREDENTIALS_FILE") || undefined;
  const configuredBy = env("SAUCE_REGISTRY_CONFIGURED_BY");
  return {
    saucectlFile,
    ...(configuredBy && Object.hasOwn(CI_SETTING_NAMES, configuredBy)
      ? { settingNames: CI_SETTING_NAMES[configuredBy] }
      : {}),
  };
}

/**
 * The credential-helper entry: exactly one argument (after an optional `--no-cache`), input on
 * stdin for get, store and erase.
 *
 * @param argv The arguments after `credential-helper` (or after the program's name).
 * @returns The exit code.
 */
export async function helperMain(argv: string[]): Promise<number> {
  const noCache = argv[0] === "--no-cache" || env("SAUCE_REGISTRY_NO_CACHE") === "1";
  const args = argv[0] === "--no-cache" ? argv.slice(1) : argv;
  if (args.length !== 1 || args[0] === "--help" || args[0] === "-h") {
    const help = args[0] === "--help" || args[0] === "-h";
    const { commandHelp } = await import("./cli/help.ts");
    await (help ? writeStdout : writeStderr)(commandHelp(HELPER_COMMAND));
    return help ? 0 : 1;
  }
  const action = args[0];
  let input = "";
  try {
    if (["get", "store", "erase"].includes(action)) {
      input = await readStdin("a registry address, as Docker writes it");
    }
  } catch (error) {
    await writeStderr(`${HELPER_PROGRAM}: ${errorText(error)}\n`);
    return 1;
  }
  const answer = await credentialHelper(action, input, { noCache, ...helperEnvironment() });
  if (answer.stdout) await writeStdout(answer.stdout);
  if (answer.stderr) await writeStderr(answer.stderr);
  return answer.exitCode;
}
