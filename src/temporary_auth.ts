/**
 * Internal: temporary auth for `exec` and `push` — a private Docker config (folder 0700, file
 * 0600) holding a login for one registry host and the user's other Docker settings, which exists
 * only while the command runs.
 *
 * @example
 * ```ts
 * import { withTemporaryAuth } from "./temporary_auth.ts";
 * const token = { username: "oauth2accesstoken", password: "…", expiresAt: new Date() };
 * await withTemporaryAuth(token, "registry.example.com", async (dir) => console.log(dir));
 * ```
 *
 * @module
 */

import type { RegistryToken } from "./api.ts";
import { dockerConfigFor } from "./docker_config.ts";
import { ConfigError, UsageError } from "./errors.ts";
import { checkTool } from "./login.ts";
import { makePrivateFolder, writeFileAtomic } from "./files.ts";
import { readJsonObject } from "./json.ts";
import { dirname, dockerConfigFile, joinPath, type PathOptions, resolveSymlinks } from "./paths.ts";
import { spawn, toolEnvironment } from "./process.ts";
import {
  parseImage,
  parseRegistry,
  type RegistryReference,
  requestedRegistryUrl,
} from "./reference.ts";
import { readRegistrySettings } from "./registries.ts";
import { fileInfo, makeSymlink, removePath } from "./runtime.ts";

/** Options of {@linkcode withTemporaryAuth}. */
export interface TemporaryAuthOptions {
  /** Called once the folder exists, before `work`; for tests and diagnostics. */
  onCreated?: (dir: string) => void;
  /** Told about abandoned folders that could not be removed. */
  log?: (line: string) => void;
}

/**
 * Write a private Docker config (folder 0700, file 0600) holding auth for one registry host and
 * the user's other Docker settings (not their credentials), run `work` with its folder and the
 * environment that points tools at it (less `SAUCE_ACCESS_KEY`), then remove it whatever happens.
 * The folder is in `$XDG_RUNTIME_DIR/sauce-registry` when `XDG_RUNTIME_DIR` exists, else in the
 * temporary folder; one left by a process killed with SIGKILL is removed by a later call once it
 * is a minute old.
 *
 * @example
 * ```ts
 * import { fetchToken, withTemporaryAuth } from "@saucelabs-community/sauce-registry";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * await withTemporaryAuth(token, "registry.example.com", async (_dir, env) => {
 *   const pull = new Deno.Command("docker", { args: ["pull", "registry.example.com/team/app:1"], env });
 *   return (await pull.output()).code;
 * });
 * ```
 *
 * @param token The registry token.
 * @param host The registry host.
 * @param work What to run while the config exists.
 * @param options A hook called when the folder exists.
 * @returns What `work` returned.
 */
export async function withTemporaryAuth<T>(
  token: RegistryToken,
  host: string,
  work: (dir: string, env: Record<string, string>) => Promise<T>,
  options: TemporaryAuthOptions = {},
): Promise<T> {
  const dir = await makePrivateFolder(options.log);
  try {
    const configPath = joinPath(dir, "config.json");
    const config = {
      ...(await userSettingsWithoutCredentials(dir)),
      ...dockerConfigFor(token, host),
    };
    await writeFileAtomic(configPath, JSON.stringify(config), 0o600);
    options.onCreated?.(dir);
    return await work(dir, {
      ...toolEnvironment(),
      DOCKER_CONFIG: dir,
      REGISTRY_AUTH_FILE: configPath,
      DOCKER_USERNAME: token.username,
      DOCKER_PASSWORD: token.password,
      DOCKER_REGISTRY: host,
    });
  } finally {
    await removePath(dir, true);
  }
}

/**
 * The user's own Docker settings for a private config in `dir`: every key of their config.json but
 * the credentials (`auths`, `credsStore`, `credHelpers`), and links to their `contexts` and
 * `cli-plugins`, so that `docker buildx`, `docker compose` and the current context still work.
 */
async function userSettingsWithoutCredentials(dir: string): Promise<Record<string, unknown>> {
  let userConfig: string;
  try {
    userConfig = dockerConfigFile();
  } catch (error) {
    if (error instanceof UsageError) return {}; // no HOME and no DOCKER_CONFIG: nothing to keep
    throw error;
  }
  const userDir = dirname(userConfig);
  for (const name of ["contexts", "cli-plugins"]) {
    if (await fileInfo(joinPath(userDir, name))) {
      await makeSymlink(joinPath(userDir, name), joinPath(dir, name));
    }
  }
  let settings: Record<string, unknown> = {};
  try {
    settings = (await readJsonObject(await resolveSymlinks(userConfig))) ?? {};
  } catch (error) {
    // A broken config of the user's is theirs to fix; the private one works without it.
    if (!(error instanceof ConfigError)) throw error;
  }
  const { auths: _auths, credsStore: _store, credHelpers: _helpers, ...rest } = settings;
  return rest;
}

/** The tools {@linkcode pushImage} works with. */
export const PUSH_TOOLS: readonly string[] = ["docker", "podman"];

/** Options of {@linkcode pushImage}. */
export interface PushOptions {
  /** `docker` (default) or `podman`. */
  tool?: "docker" | "podman" | string;
  /** Extra arguments for the tool's push, such as `--tls-verify=false`. */
  toolArgs?: string[];
  /** Aborting stops the push. */
  signal?: AbortSignal;
  /** Told about abandoned private folders that could not be removed. */
  log?: (line: string) => void;
  /**
   * Wraps the tool's run, and only that: the command line hands its termination signals to the
   * tool while it runs, and handles them itself before (cleaning up the private config).
   */
  whileToolRuns?: <T>(run: () => Promise<T>) => Promise<T>;
}

/**
 * Check that a tool can push an image as it is given, before a token is spent on it: a reference
 * it takes as typed (see {@linkcode parseImage}) and, for Docker, one without a digest — `docker
 * push` refuses `app@sha256:…` ("cannot push a digest reference"), Podman pushes it.
 *
 * @param image The image reference.
 * @param tool The push tool, one of {@linkcode PUSH_TOOLS}.
 * @returns The image's parts.
 * @throws {UsageError} When the tool cannot push that reference.
 */
export function checkPush(image: string, tool: string): RegistryReference {
  const reference = parseImage(image);
  if (reference.digest !== undefined && tool === "docker") {
    throw new UsageError(
      `docker cannot push by digest (${image}): push a tag (${reference.registryUrl}:TAG), or use --tool podman`,
    );
  }
  return reference;
}

/**
 * Push an image with a fresh token, through a private temporary config (the user's own config
 * and keyring are not involved). The tool's progress stays visible.
 *
 * @example
 * ```ts
 * import { fetchToken, pushImage } from "@saucelabs-community/sauce-registry";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * const code = await pushImage(token, "registry.example.com/team/app:1.0");
 * ```
 *
 * @param token The registry token.
 * @param image The image reference.
 * @param options The tool and its extra arguments.
 * @returns The tool's exit code.
 * @throws {UsageError} When the image is not a reference the tool takes as it is (a scheme, a
 * trailing "/", no repository, a digest for docker).
 */
export async function pushImage(
  token: RegistryToken,
  image: string,
  options: PushOptions = {},
): Promise<number> {
  const tool = checkTool(options.tool ?? "docker", PUSH_TOOLS);
  const { host } = checkPush(image, tool);
  return await withTemporaryAuth(token, host, async (dir, env) => {
    // The tool reads the private config; a password in its environment could only leak (any
    // process of the user can read /proc/PID/environ).
    const {
      DOCKER_USERNAME: _username,
      DOCKER_PASSWORD: _password,
      DOCKER_REGISTRY: _registry,
      ...toolEnv
    } = env;
    const args = tool === "docker"
      ? ["--config", dir, "push", ...(options.toolArgs ?? []), image]
      : ["push", "--authfile", joinPath(dir, "config.json"), ...(options.toolArgs ?? []), image];
    const push = () =>
      spawn(tool, args, {
        env: toolEnv,
        inheritStdio: true,
        signal: options.signal,
        forwardSignals: true,
      });
    const result = await (options.whileToolRuns ? options.whileToolRuns(push) : push());
    return result.code;
  }, { log: options.log });
}

/**
 * The registry URL to ask the API for when pushing an image: the one recorded by
 * `configure-docker` for its host when the image lies under it, else the image reference without
 * the image name.
 *
 * @example
 * ```ts
 * import { registryUrlForImage } from "@saucelabs-community/sauce-registry";
 * await registryUrlForImage("registry.example.com/team/app:1"); // "registry.example.com/team"
 * ```
 *
 * @param image The image reference.
 * @param options Where the registries file is.
 * @returns The registry URL.
 */
export async function registryUrlForImage(
  image: string,
  options: PathOptions = {},
): Promise<string> {
  const reference = parseRegistry(image);
  const recorded = (await readRegistrySettings(options))[reference.host]?.registryUrl;
  return requestedRegistryUrl(reference, recorded, true);
}

/**
 * The registry URL to ask the API for from a command's REGISTRY, which may be a registry URL
 * (`registry.example.com/team`, taken as it is) or an image reference with a tag or a digest
 * (`registry.example.com/team/app:1.0`, taken as {@linkcode registryUrlForImage} takes it): the
 * API wants the registry's whole URL, not a repository inside it.
 *
 * @param registry The REGISTRY argument.
 * @param options Where the registries file is.
 * @returns The registry URL.
 */
export async function registryUrlFor(
  registry: string,
  options: PathOptions = {},
): Promise<string> {
  const reference = parseRegistry(registry);
  if (reference.tag === undefined && reference.digest === undefined) {
    return requestedRegistryUrl(reference);
  }
  const recorded = (await readRegistrySettings(options))[reference.host]?.registryUrl;
  return requestedRegistryUrl(reference, recorded);
}
