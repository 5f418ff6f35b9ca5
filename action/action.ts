/**
 * The GitHub Action (`action.yml` at the repository's root): `main` logs the job in to a Sauce
 * Labs Container Registry, `post` undoes all of it. Node 24 runs this TypeScript as it is (type
 * stripping), together with the repository's own `mod.ts`: there is no bundle that could fall
 * behind the library.
 *
 * Mode `helper` (the default) configures `docker-credential-saucelabs` for the registry host, so
 * every later docker, podman, buildah or skopeo step of the job gets a fresh token. The access key
 * goes only into a 0600 file in a private folder under `RUNNER_TEMP`, which the helper (a script
 * this action puts on `GITHUB_PATH`) reads: never into `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH`
 * or the Docker config. Mode `login` runs one `docker login` now.
 *
 * @example
 * ```ts
 * import { main } from "./action.ts";
 * process.exitCode = await main();
 * ```
 *
 * @module
 */

import { randomUUID } from "node:crypto";
import {
  appendFile,
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  apiBaseUrl,
  configureDocker,
  credentialHelper,
  dockerConfigStatus,
  fetchToken,
  HELPER_PROGRAM,
  login,
  logout,
  parseRegistry,
  SauceRegistryError,
  unconfigureDocker,
  UsageError,
} from "../mod.ts";
import { errorText, shellQuote } from "../_errors.ts";

/** Docker runs the helper that `credHelpers` names `<name>` as the program `docker-credential-<name>`. */
const HELPER_PREFIX = "docker-credential-";

/** The name `configure-docker` gives the helper in `credHelpers`. */
const HELPER_NAME = HELPER_PROGRAM.slice(HELPER_PREFIX.length);

/** How long `main` waits for the Sauce API, whole operation. */
const TOKEN_TIMEOUT_MS = 120_000;

/** What `main` changed, kept in `GITHUB_STATE` so that `post` can undo it. */
interface ActionState {
  /** `helper` or `login`. */
  mode: string;
  /** The private folder under RUNNER_TEMP: key file, helper script, registries, token cache. */
  dir?: string;
  /** The Docker config's folder (that of its target when config.json is a symlink). */
  dockerConfigDir: string;
  /** Whether that folder existed before `main`. */
  dockerConfigDirExisted: boolean;
  /** Whether config.json existed before `main`. */
  dockerConfigExisted: boolean;
  /** Whether config.json.bak existed before `main` (then a copy of it is kept in `dir`). */
  backupExisted: boolean;
  /** The hosts whose `credHelpers` entry `main` added. */
  addedHosts: string[];
  /** Login mode: the host `docker login` logged in to, set once it has. */
  loginHost?: string;
}

// ---------------------------------------------------------------------------------------------
// The runner's interface: inputs, workflow commands, file commands
// ---------------------------------------------------------------------------------------------

/** An input as the runner passes it: `INPUT_<NAME>`, upper case, spaces as `_`, hyphens kept. */
function input(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] ?? "").trim();
}

function requiredInput(name: string, hint: string): string {
  const value = input(name);
  if (!value) throw new UsageError(`Input ${name} is required: ${hint}`);
  return value;
}

/** Workflow-command data escaping, as the runner undoes it. */
function escapeData(text: string): string {
  return text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** Hide a value in the job's log from now on. */
function mask(value: string): void {
  if (value) process.stdout.write(`::add-mask::${escapeData(value)}\n`);
}

function fail(message: string): void {
  process.stdout.write(`::error::${escapeData(message)}\n`);
}

function warn(message: string): void {
  process.stdout.write(`::warning::${escapeData(message)}\n`);
}

function info(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** Append `name` = `value` to a file command (GITHUB_OUTPUT, GITHUB_STATE) in its heredoc form. */
async function fileCommand(variable: string, name: string, value: string): Promise<void> {
  const file = process.env[variable];
  if (!file) {
    throw new SauceRegistryError(`${variable} is not set: run this action as a step of a job`);
  }
  const delimiter = `ghadelimiter_${randomUUID()}`;
  await appendFile(file, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
}

async function addPath(folder: string): Promise<void> {
  const file = process.env.GITHUB_PATH;
  if (!file) {
    throw new SauceRegistryError("GITHUB_PATH is not set: run this action as a step of a job");
  }
  await appendFile(file, `${folder}\n`);
}

/** The environment for docker: the runner's, without the inputs (the access key is one). */
function childEnvironment(): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("INPUT_") && name !== "SAUCE_ACCESS_KEY") {
      environment[name] = value;
    }
  }
  return environment;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

function isNotFound(error: unknown): boolean {
  return (error as { code?: string }).code === "ENOENT";
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Whether a Docker config holds nothing but empty sections (what is left after undoing). */
function holdsNothing(json: unknown): boolean {
  return json === null ||
    Object.values(json as Record<string, unknown>).every((value) =>
      value === null || (typeof value === "object" && Object.keys(value as object).length === 0)
    );
}

/** The helper Docker finds on PATH: this checkout's cli.ts, with this Node, reading the key file. */
function helperScript(dir: string): string {
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const exports = [
    `SAUCE_REGISTRY_CREDENTIALS_FILE=${shellQuote(join(dir, "credentials.yml"))}`,
    `XDG_CONFIG_HOME=${shellQuote(join(dir, "config"))}`,
    `XDG_CACHE_HOME=${shellQuote(join(dir, "cache"))}`,
  ];
  return [
    "#!/bin/sh",
    "# Written by the sauce-registry GitHub Action for this job; its post step removes it.",
    "# The identity is the action's: its key file, not a SAUCE_* variable of the step.",
    "unset SAUCE_USERNAME SAUCE_ACCESS_KEY",
    `export ${exports.join(" ")}`,
    `exec ${shellQuote(process.execPath)} --disable-warning=ExperimentalWarning ${
      shellQuote(cli)
    } credential-helper "$@"`,
    "",
  ].join("\n");
}

/** saucectl's credentials.yml shape, quoted: what the helper reads through the key file. */
function credentialsFile(username: string, accessKey: string): string {
  return `username: "${username}"\naccessKey: "${accessKey}"\n`;
}

function settingsPaths(dir: string): { settingsFile: string; cacheDir: string } {
  return {
    settingsFile: join(dir, "config", "sauce-registry", "registries.json"),
    cacheDir: join(dir, "cache", "sauce-registry"),
  };
}

// ---------------------------------------------------------------------------------------------
// main and post
// ---------------------------------------------------------------------------------------------

interface Inputs {
  registry: string;
  username: string;
  accessKey: string;
  region?: string;
  apiUrl?: string;
  mode: "helper" | "login";
}

function readInputs(): Inputs {
  // The key first, so that it is masked before anything else can print it.
  const accessKey = input("access-key");
  mask(accessKey);
  const registry = requiredInput(
    "registry",
    "your registry URL, such as registry.example.com/your-private-registry",
  );
  const username = requiredInput("username", "pass it from a secret or variable");
  if (!accessKey) {
    throw new UsageError(
      "Input access-key is required: pass it from a secret, as access-key: ${{ secrets.SAUCE_ACCESS_KEY }}",
    );
  }
  if (/[\r\n"]/.test(username) || /[\r\n]/.test(accessKey)) {
    throw new UsageError("Inputs username and access-key must be one line each");
  }
  const mode = input("mode") || "helper";
  if (mode !== "helper" && mode !== "login") {
    throw new UsageError(`Input mode expects helper or login, got "${mode}"`);
  }
  const region = input("region") || undefined;
  const apiUrl = input("api-url") || undefined;
  apiBaseUrl(region, apiUrl); // a bad region or URL stops here, before anything is written
  return { registry, username, accessKey, region, apiUrl, mode };
}

async function saveState(state: ActionState): Promise<void> {
  await fileCommand("GITHUB_STATE", "sauce-registry", JSON.stringify(state));
}

/**
 * The action's `main`: read the inputs, then configure the credential helper (mode `helper`) or
 * log docker in (mode `login`). On failure it undoes what it did and reports one `::error::`.
 *
 * @returns The exit code for the runner.
 */
export async function main(): Promise<number> {
  let state: ActionState | undefined;
  try {
    if (process.platform === "win32") {
      throw new UsageError(
        "The sauce-registry action runs on Linux and macOS runners; on Windows use the release's sauce-registry-<version>-windows-x64.exe",
      );
    }
    const inputs = readInputs();
    const reference = parseRegistry(inputs.registry);
    // A config that is not valid JSON stops here, before anything is written.
    const docker = await dockerConfigStatus(reference.host);
    const dockerConfig = docker.path;
    const current = docker.credHelper;
    if (inputs.mode === "helper" && current !== undefined && current !== HELPER_NAME) {
      throw new UsageError(
        `The Docker config ${dockerConfig} already sends ${reference.host} to ${HELPER_PREFIX}${current}: remove that entry, or use mode: login`,
      );
    }
    const dockerConfigDir = dirname(dockerConfig);
    state = {
      mode: inputs.mode,
      dockerConfigDir,
      dockerConfigDirExisted: await exists(dockerConfigDir),
      dockerConfigExisted: docker.exists,
      backupExisted: await exists(`${dockerConfig}.bak`),
      addedHosts: [],
    };
    if (inputs.mode === "login") {
      await loginNow(inputs, reference.registryUrl, state);
    } else {
      const runnerTemp = process.env.RUNNER_TEMP;
      if (!runnerTemp) {
        throw new SauceRegistryError("RUNNER_TEMP is not set: run this action as a step of a job");
      }
      state.dir = await mkdtemp(join(runnerTemp, "sauce-registry-"));
      await chmod(state.dir, 0o700);
      if (current !== HELPER_NAME) state.addedHosts = [reference.host];
      await saveState(state);
      await configureHelper(inputs, reference.host, state, dockerConfig);
    }
    await fileCommand("GITHUB_OUTPUT", "registry-host", reference.host);
    return 0;
  } catch (error) {
    fail(errorText(error));
    if (state) await undo(state).catch((cleanup) => warn(`Cleaning up: ${errorText(cleanup)}`));
    return 1;
  }
}

async function loginNow(inputs: Inputs, registryUrl: string, state: ActionState): Promise<void> {
  const token = await fetchToken({
    credentials: { username: inputs.username, accessKey: inputs.accessKey },
    registryUrl,
    region: inputs.region,
    apiUrl: inputs.apiUrl,
    signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
  });
  mask(token.password);
  const host = parseRegistry(registryUrl).host;
  await login(token, registryUrl, { tool: "docker", env: childEnvironment() });
  // Only a login this run made is logged out: a failed one may have left the user's own.
  state.loginHost = host;
  await saveState(state);
  const expiresAt = token.expiresAt.toISOString().replace(/\.000Z$/, "Z");
  await fileCommand("GITHUB_OUTPUT", "expires-at", expiresAt);
  info(`Logged docker in to ${host}; the login expires at ${expiresAt}`);
}

async function configureHelper(
  inputs: Inputs,
  host: string,
  state: ActionState,
  dockerConfig: string,
): Promise<void> {
  const dir = state.dir!;
  if (state.backupExisted) await copyFile(`${dockerConfig}.bak`, join(dir, "config.json.bak"));
  await writeFile(
    join(dir, "credentials.yml"),
    credentialsFile(inputs.username, inputs.accessKey),
    {
      mode: 0o600,
    },
  );
  const bin = join(dir, "bin");
  await mkdir(bin, { mode: 0o700 });
  await writeFile(join(bin, HELPER_PROGRAM), helperScript(dir), { mode: 0o700 });
  const paths = settingsPaths(dir);
  await configureDocker([inputs.registry], {
    region: inputs.region,
    apiUrl: inputs.apiUrl,
    settingsFile: paths.settingsFile,
    dockerConfigDir: state.dockerConfigDir,
  });
  // One token now, the way later steps get theirs: a wrong key fails here, not at a push, and
  // the token waits in the cache for the first step that needs it.
  const answer = await credentialHelper("get", host, {
    ...paths,
    username: inputs.username,
    accessKey: inputs.accessKey,
    envFile: false,
    signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
  });
  if (answer.exitCode !== 0) {
    throw new SauceRegistryError(answer.stderr.trim().replace(`${HELPER_PROGRAM}: `, ""));
  }
  mask((JSON.parse(answer.stdout) as { Secret: string }).Secret);
  await addPath(bin);
  info(
    `Docker, Podman, Buildah and Skopeo in later steps get fresh tokens for ${host} from ${HELPER_PROGRAM}`,
  );
}

/** Put config.json.bak back as it was before `main`: removed, or the copy `main` kept. */
async function restoreBackup(state: ActionState, dockerConfig: string): Promise<void> {
  const backup = `${dockerConfig}.bak`;
  const kept = state.dir ? join(state.dir, "config.json.bak") : undefined;
  if (!state.backupExisted) {
    await rm(backup, { force: true });
  } else if (kept && (await exists(kept))) {
    const staged = `${backup}.tmp-${randomUUID()}`;
    await copyFile(kept, staged);
    await chmod(staged, (await stat(backup).catch(() => stat(kept))).mode & 0o777);
    await rename(staged, backup);
  }
}

/** Remove config.json that `main` created, when it holds nothing any more. */
async function removeIfEmpty(dockerConfig: string): Promise<void> {
  let text: string;
  try {
    text = (await readFile(dockerConfig, "utf8")).replace(/^\uFEFF/, "");
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  if (text.trim() === "" || holdsNothing(JSON.parse(text))) await rm(dockerConfig, { force: true });
}

/** Undo what `main` recorded: logout or credHelpers entries, files it created, its folder. */
async function undo(state: ActionState): Promise<void> {
  const dockerConfig = join(state.dockerConfigDir, "config.json");
  if (state.loginHost) {
    await logout(state.loginHost, { tool: "docker", env: childEnvironment() }).catch((error) =>
      warn(`docker logout ${state.loginHost}: ${errorText(error)}`)
    );
  }
  if (state.addedHosts.length > 0) {
    const paths = state.dir ? settingsPaths(state.dir) : {};
    await unconfigureDocker(state.addedHosts, {
      dockerConfigDir: state.dockerConfigDir,
      ...paths,
    });
    // configure-docker and the undo each kept a backup of the config they replaced.
    await restoreBackup(state, dockerConfig);
  }
  if (!state.dockerConfigExisted) await removeIfEmpty(dockerConfig);
  if (!state.dockerConfigDirExisted) {
    // Only when empty: a later step may have put its own files there.
    await rmdir(state.dockerConfigDir).catch(() => undefined);
  }
  if (state.dir) await rm(state.dir, { recursive: true, force: true });
}

/**
 * The action's `post`: undo what `main` recorded in its state (the credHelpers entries it added,
 * the key file, the helper script, the cached tokens; in login mode, `docker logout`).
 *
 * @returns The exit code for the runner.
 */
export async function post(): Promise<number> {
  const saved = process.env["STATE_sauce-registry"];
  if (!saved) return 0; // main changed nothing
  try {
    const state = JSON.parse(saved) as ActionState;
    await undo(state);
    info(
      state.loginHost
        ? `Logged docker out of ${state.loginHost}`
        : `Removed the credential helper for ${
          state.addedHosts.join(", ") || "the registry"
        }, its key file and cached tokens`,
    );
    return 0;
  } catch (error) {
    fail(`Cleaning up: ${errorText(error)}`);
    return 1;
  }
}
