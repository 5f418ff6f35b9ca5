/**
 * Internal: the entry of the two commands other programs run, often: the Docker credential
 * helper (`credential-helper`, or the program run as `docker-credential-saucelabs`) and the
 * kubelet's image credential provider. Neither takes the command line's global options, and
 * neither loads the command line's tables.
 *
 * @example
 * ```ts
 * import { helperMain } from "./_helper.ts";
 * const code = await helperMain(["version"]);
 * ```
 *
 * @module
 */

import { env, readStdin, writeStderr, writeStdout } from "./_runtime.ts";
import { errorText, printable, SauceRegistryError, TimeoutError, UsageError } from "./_errors.ts";
import { parseTimeoutSeconds } from "./_limits.ts";
import { safeHost } from "./_registry.ts";
import {
  cacheDirectory,
  cacheKeyApiUrl,
  freshCachedToken,
  HELPER_PROGRAM,
  readRegistrySettings,
  resolveApiSettings,
  resolveCredentials,
  tokenCacheKey,
} from "./_store.ts";
import { kubeletCredentialProvider } from "./_kubelet.ts";

const PROVIDER = "kubelet-credential-provider";

/**
 * How long the provider waits for a token by default: the kubelet gives a plugin a minute, and the
 * provider's own message is worth more in its log than a kill.
 */
export const PROVIDER_TIMEOUT_SECONDS = 50;

async function helpText(name: string): Promise<string> {
  const { commandHelp, findCommand } = await import("./_commands.ts");
  return commandHelp(findCommand(name)!);
}

/**
 * The credential-helper protocol: exactly one argument, input on stdin for get/store/erase.
 *
 * @param argv The arguments after `credential-helper` (or after the program's name).
 * @returns The exit code.
 */
export async function helperMain(argv: string[]): Promise<number> {
  const noCache = argv[0] === "--no-cache" || env("SAUCE_REGISTRY_NO_CACHE") === "1";
  const args = argv[0] === "--no-cache" ? argv.slice(1) : argv;
  if (args.length !== 1 || args[0] === "--help" || args[0] === "-h") {
    const help = args[0] === "--help" || args[0] === "-h";
    await (help ? writeStdout : writeStderr)(await helpText("credential-helper"));
    return help ? 0 : 1;
  }
  const action = args[0];
  const input = ["get", "store", "erase"].includes(action) ? await readStdin() : "";
  // A file of saucectl's shape read in place of ~/.sauce/credentials.yml: how the GitHub Action
  // and the GitLab component hand the helper a key without putting it in every step's env.
  const saucectlFile = env("SAUCE_REGISTRY_CREDENTIALS_FILE") || undefined;
  if (action === "get" && !noCache) {
    // Whatever this quick look cannot settle (a broken file, no credentials, no fresh token), the
    // full path below settles, and reports.
    const cached = await cachedAnswer(input.trim(), saucectlFile).catch(() => undefined);
    if (cached) {
      await writeStdout(cached);
      return 0;
    }
  }
  const { credentialHelper } = await import("./mod.ts");
  // The library bounds get (SAUCE_REGISTRY_TIMEOUT, else 60 s): Docker waits with no limit.
  const answer = await credentialHelper(action, input, { noCache, saucectlFile });
  if (answer.stdout) await writeStdout(answer.stdout);
  if (answer.stderr) await writeStderr(answer.stderr);
  return answer.exitCode;
}

/**
 * The answer to `get` when the token cache holds a fresh token for the host: from the same files,
 * checks and rules as the library's `credentialHelper` (`_store.ts` holds them), without loading
 * the rest of the program. Undefined when there is none; then the full path runs.
 *
 * @param serverUrl What Docker wrote on standard input, trimmed.
 * @param saucectlFile saucectl's credentials file, when not the default.
 * @returns The protocol's answer, or undefined.
 */
export async function cachedAnswer(
  serverUrl: string,
  saucectlFile?: string,
): Promise<string | undefined> {
  const host = safeHost(serverUrl);
  if (host === undefined) return undefined;
  const registries = await readRegistrySettings();
  if (!Object.hasOwn(registries, host)) return undefined;
  const { registryUrl, region, apiUrl } = registries[host];
  const credentials = await resolveCredentials({ envFile: false, saucectlFile });
  const key = tokenCacheKey(cacheKeyApiUrl(apiUrl, region), credentials, registryUrl);
  const token = await freshCachedToken(cacheDirectory(), key);
  return token &&
    `${
      JSON.stringify({ ServerURL: serverUrl, Username: token.username, Secret: token.password })
    }\n`;
}

/** The provider's options (see its `--help`). */
export interface ProviderArguments {
  /** `--registry`, repeatable. */
  registries: string[];
  /** `-h`, `--help`. */
  help?: boolean;
  /** `--no-cache`. */
  noCache?: boolean;
  /** `--username`. */
  username?: string;
  /** `--region`. */
  region?: string;
  /** `--api-url`. */
  apiUrl?: string;
  /** `--env-file`. */
  envFile?: string;
  /** `--timeout`. */
  timeout?: string;
}

/** The options of the provider that take a value (the command table says the same; a test checks). */
export const PROVIDER_VALUE_OPTIONS = [
  "registry",
  "username",
  "env-file",
  "region",
  "api-url",
  "timeout",
] as const;

/**
 * The provider's few options, read by hand: `parseArgs` costs the cached path ~3 ms on Deno.
 *
 * @param argv The arguments after the command.
 * @returns The options.
 * @throws {UsageError} For an unknown option or a missing value.
 */
export function providerArguments(argv: string[]): ProviderArguments {
  const parsed: ProviderArguments = { registries: [] };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === "-h" || arg === "--help") parsed.help = true;
    else if (arg === "--no-cache") parsed.noCache = true;
    else {
      const match = /^--([a-z-]+)(?:=([^]*))?$/.exec(arg);
      const name = match?.[1] as typeof PROVIDER_VALUE_OPTIONS[number] | undefined;
      if (!match || !PROVIDER_VALUE_OPTIONS.includes(name!)) {
        throw new UsageError(
          `Unknown argument "${printable(arg, 40)}" for ${PROVIDER} (see ${PROVIDER} --help)`,
        );
      }
      const value = match[2] ?? argv[++index];
      if (
        value === undefined || value === "" || (match[2] === undefined && value.startsWith("--"))
      ) {
        throw new UsageError(`Option --${name} needs a value (--${name}=VALUE)`);
      }
      if (name === "registry") parsed.registries.push(value);
      else if (name === "api-url") parsed.apiUrl = value;
      else if (name === "env-file") parsed.envFile = value;
      else parsed[name!] = value;
    }
  }
  return parsed;
}

/**
 * The kubelet credential provider: one request on stdin, one response on stdout. Every failure is
 * one line on stderr and a non-zero exit, with nothing on stdout (the kubelet then pulls without
 * this provider's login and logs the line).
 *
 * @param argv The arguments after the command.
 * @returns The exit code.
 */
export async function providerMain(argv: string[]): Promise<number> {
  let seconds = PROVIDER_TIMEOUT_SECONDS;
  try {
    const args = providerArguments(argv);
    if (args.help) {
      await writeStdout(await helpText(PROVIDER));
      return 0;
    }
    if (args.timeout !== undefined) seconds = parseTimeoutSeconds(args.timeout, "--timeout");
    else if (env("SAUCE_REGISTRY_TIMEOUT") !== undefined) {
      seconds = parseTimeoutSeconds(env("SAUCE_REGISTRY_TIMEOUT")!, "SAUCE_REGISTRY_TIMEOUT");
    }
    const signal = AbortSignal.timeout(seconds * 1000);
    // The kubelet's folder is not the user's: only an explicit --env-file is read.
    const { region, apiUrl } = await resolveApiSettings({
      region: args.region,
      apiUrl: args.apiUrl,
      envFile: args.envFile ?? false,
    });
    const warnings: string[] = [];
    const response = await kubeletCredentialProvider(await readStdin(), {
      registries: args.registries,
      username: args.username,
      envFile: args.envFile ?? false,
      region,
      apiUrl,
      noCache: args.noCache || env("SAUCE_REGISTRY_NO_CACHE") === "1",
      signal,
      warn: (message) => warnings.push(`sauce-registry ${PROVIDER}: ${printable(message, 1000)}\n`),
    });
    await writeStdout(`${JSON.stringify(response)}\n`);
    // The kubelet logs what a provider writes on stderr: a cache it cannot trust is worth a line.
    if (warnings.length > 0) await writeStderr(warnings.join(""));
    return 0;
  } catch (error) {
    const message = error instanceof TimeoutError
      ? `Timed out after ${seconds} s asking for a token (--timeout, SAUCE_REGISTRY_TIMEOUT)`
      : error instanceof SauceRegistryError
      ? error.message
      : `Unexpected failure: ${errorText(error)}`;
    await writeStderr(`sauce-registry ${PROVIDER}: ${printable(message, 1000)}\n`);
    return error instanceof SauceRegistryError ? error.exitCode : 1;
  }
}

/** The name under which the program is the credential helper (for the entry's dispatch). */
export { HELPER_PROGRAM };
