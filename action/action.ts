/**
 * The GitHub Action (`action.yml` at the repository's root): `main` logs the job in to a Sauce
 * Labs Container Registry, `post` undoes what `main` did and nothing else. Node 24 runs this
 * TypeScript as it is (type stripping), together with the repository's own `mod.ts`: there is no
 * bundle that could fall behind the library.
 *
 * Mode `helper` (the default) configures a credential helper of this run's own,
 * `docker-credential-saucelabs-<id>`, for the registry host, so every later docker, podman, buildah
 * or skopeo step of the job gets a fresh token; a job that runs the action for several registries
 * (each with its own Sauce account) has one helper per registry. The access key goes only into a
 * 0600 credentials file in the run's private folder under `RUNNER_TEMP`, written by the library's
 * `configureDocker` and recorded in the run's registries file, from which its helper (a script this
 * action puts on `GITHUB_PATH`) reads it: never into `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH`
 * or the Docker config. Mode `login` runs one `docker login` now. A refused key is reported in the
 * action's words (its inputs), by `main` and by the helper in later steps.
 *
 * @example
 * ```ts
 * import { main } from "./action.ts";
 * process.exitCode = await main();
 * ```
 *
 * @module
 */

import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  appendFile,
  chmod,
  mkdir,
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
  type DockerConfigStatus,
  dockerConfigStatus,
  fetchToken,
  login,
  logout,
  parseRegistry,
  SauceRegistryError,
  unconfigureDocker,
  UsageError,
} from "../mod.ts";
import { checkUsername } from "../src/credentials.ts";
import { errorText } from "../src/errors.ts";
import { CI_SETTING_NAMES, HELPER_NAME, HELPER_PROGRAM, helperProgram } from "../src/helper.ts";
import { readJsonObject } from "../src/json.ts";
import {
  cacheDirectoryIn,
  dockerConfigFile,
  resolveSymlinks,
  settingsFileIn,
} from "../src/paths.ts";
import { shellQuote } from "../src/quote.ts";

/** What tells the helper of later steps that it serves this action (see `CI_SETTING_NAMES`). */
const CONFIGURED_BY = "github-action";

/** How a refused key is reported: the action's inputs, not the command line's flags. */
const SETTING_NAMES = CI_SETTING_NAMES[CONFIGURED_BY];

/** How long `main` waits for the Sauce API, whole operation. */
const TOKEN_TIMEOUT_MS = 120_000;

/** What {@linkcode fileDigest} answers for a file that does not exist. */
const NO_FILE = "none";

/**
 * What `main` changed, kept in `GITHUB_STATE` so that `post` undoes that and nothing else. A job
 * can run the action several times (one registry each, often each with its own Sauce account):
 * each run has its own helper, its own folder and its own state.
 */
interface ActionState {
  /** `helper` or `login`. */
  mode: string;
  /** The Docker config's folder (that of its target when config.json is a symlink). */
  dockerConfigDir: string;
  /** Whether that folder existed before `main`. */
  dockerConfigDirExisted: boolean;
  /** Whether config.json existed before `main`. */
  dockerConfigExisted: boolean;
  /** Helper mode: this run's helper. */
  helper?: HelperRun;
  /** Login mode: the host `docker login` logged in to, set once it has. */
  loginHost?: string;
}

/** One run's credential helper (helper mode). */
interface HelperRun {
  /** The private folder under RUNNER_TEMP: key file, helper program, registries file, tokens. */
  dir: string;
  /** The registry host whose `credHelpers` entry names this helper. */
  host: string;
  /** `saucelabs-<id>`: Docker runs `docker-credential-saucelabs-<id>` from `dir/bin`. */
  name: string;
  /** The host's entry before `main` (this machine's own helper), which post puts back. */
  replaced?: string;
  /** Whether config.json.bak existed before `main` (then `dir` holds a copy). */
  backupExisted: boolean;
  /** config.json.bak's digest once `main` changed the config: how post knows it is main's. */
  backupAfterMain?: string;
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

/** A file's bytes and mode; undefined when it does not exist. */
async function readOptional(
  path: string,
): Promise<{ bytes: Uint8Array; mode: number } | undefined> {
  try {
    return { bytes: await readFile(path), mode: (await stat(path)).mode & 0o777 };
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** A SHA-256 of the bytes, or {@linkcode NO_FILE}: how post recognizes a file `main` left. */
function fileDigest(file: { bytes: Uint8Array } | undefined): string {
  return file ? createHash("sha256").update(file.bytes).digest("hex") : NO_FILE;
}

/** Make `path` hold these bytes with this mode (atomically), or not exist (undefined). */
async function putBack(path: string, file: { bytes: Uint8Array; mode: number } | undefined) {
  if (!file) {
    await rm(path, { force: true });
    return;
  }
  const staged = `${path}.tmp-${randomUUID()}`;
  await writeFile(staged, file.bytes, { mode: file.mode });
  await chmod(staged, file.mode);
  await rename(staged, path);
}

/** Whether a Docker config holds nothing but empty sections (what is left after undoing). */
function holdsNothing(json: Record<string, unknown>): boolean {
  return Object.values(json).every((value) =>
    value === null || (typeof value === "object" && Object.keys(value as object).length === 0)
  );
}

/** The XDG folders of a run's helper, in its private folder: its settings and its token cache. */
function helperHomes(dir: string): { configHome: string; cacheHome: string } {
  return { configHome: join(dir, "config"), cacheHome: join(dir, "cache") };
}

/** The helper Docker finds on PATH: this checkout's cli.ts, with this Node, in the run's folders. */
function helperScript(dir: string): string {
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const { configHome, cacheHome } = helperHomes(dir);
  const exports = [
    `XDG_CONFIG_HOME=${shellQuote(configHome)}`,
    `XDG_CACHE_HOME=${shellQuote(cacheHome)}`,
    `SAUCE_REGISTRY_CONFIGURED_BY=${CONFIGURED_BY}`,
  ];
  return [
    "#!/bin/sh",
    "# Written by the sauce-registry GitHub Action for this job; its post step removes it.",
    "# The identity is the action's: its registries file serves the host from the run's key file.",
    `export ${exports.join(" ")}`,
    `exec ${shellQuote(process.execPath)} --disable-warning=ExperimentalWarning ${
      shellQuote(cli)
    } credential-helper "$@"`,
    "",
  ].join("\n");
}

/** The registries file and token cache of a run's helper, as it finds them from its XDG folders. */
function settingsPaths(dir: string): { settingsFile: string; cacheDir: string } {
  const { configHome, cacheHome } = helperHomes(dir);
  return { settingsFile: settingsFileIn(configHome), cacheDir: cacheDirectoryIn(cacheHome) };
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
  if (/[\r\n]/.test(username) || /[\r\n]/.test(accessKey)) {
    throw new UsageError("Inputs username and access-key must be one line each");
  }
  checkUsername(username, "the username input");
  const mode = input("mode") || "helper";
  if (mode !== "helper" && mode !== "login") {
    throw new UsageError(`Input mode expects helper or login, got "${mode}"`);
  }
  const region = input("region") || undefined;
  const apiUrl = input("api-url") || undefined;
  apiBaseUrl(region, apiUrl); // a bad region or URL stops here, before anything is written
  return { registry, username, accessKey, region, apiUrl, mode };
}

/** Record what `main` did so far (post reads the last record). */
async function saveState(state: ActionState): Promise<void> {
  await fileCommand("GITHUB_STATE", "sauce-registry", JSON.stringify(state));
}

/**
 * The entry the Docker config has for the host that this run's helper stands in for until post:
 * none, or this machine's own `saucelabs` helper (from `sauce-registry configure-docker`). Any
 * other helper is refused: Docker asks one helper per host.
 */
function helperToReplace(docker: DockerConfigStatus, host: string): string | undefined {
  const current = docker.credHelper;
  if (current === undefined || current === HELPER_NAME) return current;
  if (current.startsWith(`${HELPER_NAME}-`)) {
    throw new UsageError(
      `The Docker config ${docker.path} already sends ${host} to ${
        helperProgram(current)
      }, which an earlier run of this action set up: Docker asks one helper per host, so use the action once per registry host in a job (if a job ended before its post step, remove that entry)`,
    );
  }
  throw new UsageError(
    `The Docker config ${docker.path} already sends ${host} to ${
      helperProgram(current)
    }: remove that entry, or use mode: login`,
  );
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
    // The folder of the file the library edits (config.json's target, when it is a symlink),
    // where config.json.bak goes too; every later call is given this one folder.
    const dockerConfigDir = dirname(await resolveSymlinks(dockerConfigFile()));
    // A config that is not valid JSON stops here, before anything is written.
    const docker = await dockerConfigStatus(reference.host, { dockerConfigDir });
    const replacedHelper = inputs.mode === "helper"
      ? helperToReplace(docker, reference.host)
      : undefined;
    state = {
      mode: inputs.mode,
      dockerConfigDir,
      dockerConfigDirExisted: await exists(dockerConfigDir),
      dockerConfigExisted: docker.exists,
    };
    if (inputs.mode === "login") {
      await loginNow(inputs, reference.registryUrl, state);
    } else {
      await configureHelper(inputs, reference.host, state, replacedHelper);
    }
    await fileCommand("GITHUB_OUTPUT", "registry-host", reference.host);
    return 0;
  } catch (error) {
    fail(errorText(error));
    // post runs after a failed main too, and finds nothing more to undo: undo is idempotent.
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
    settingNames: SETTING_NAMES,
    signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
  });
  mask(token.password);
  const host = parseRegistry(registryUrl).host;
  await login(token, registryUrl, { tool: "docker", env: childEnvironment() });
  // Only a login this run made is logged out by post: a failed one may have left the user's own.
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
  replacedHelper: string | undefined,
): Promise<void> {
  const runnerTemp = process.env.RUNNER_TEMP;
  if (!runnerTemp) {
    throw new SauceRegistryError("RUNNER_TEMP is not set: run this action as a step of a job");
  }
  // One id names this run's folder and helper, so that each run of the action in a job keeps its
  // own registry and account: Docker runs docker-credential-saucelabs-<id> for this host only.
  const id = randomBytes(4).toString("hex");
  const dir = join(runnerTemp, `sauce-registry-${id}`);
  await mkdir(dir, { mode: 0o700 }); // fails if it exists: never a folder of someone else's
  await chmod(dir, 0o700);
  const backup = join(state.dockerConfigDir, "config.json.bak");
  const foundBackup = await readOptional(backup);
  const helper: HelperRun = {
    dir,
    host,
    name: `${HELPER_NAME}-${id}`,
    ...(replacedHelper ? { replaced: replacedHelper } : {}),
    backupExisted: foundBackup !== undefined,
  };
  state.helper = helper;
  await saveState(state);
  // configure-docker keeps a backup of the config it replaces: post puts the user's back.
  if (foundBackup) await putBack(join(dir, "config.json.bak"), foundBackup);
  const bin = join(dir, "bin");
  await mkdir(bin, { mode: 0o700 });
  await writeFile(join(bin, helperProgram(helper.name)), helperScript(dir), { mode: 0o700 });
  const paths = settingsPaths(dir);
  // The key goes into the run's credentials file (0600), which the registries file names for
  // the host: the helper of later steps reads it from there and from nowhere else.
  await configureDocker([inputs.registry], {
    region: inputs.region,
    apiUrl: inputs.apiUrl,
    settingsFile: paths.settingsFile,
    dockerConfigDir: state.dockerConfigDir,
    helperName: helper.name,
    credentialsFile: join(dir, "credentials.yml"),
    credentials: { username: inputs.username, accessKey: inputs.accessKey },
  });
  helper.backupAfterMain = fileDigest(await readOptional(backup));
  await saveState(state);
  // One token now, the way later steps get theirs (from the credentials file): a wrong key fails
  // here, not at a push, and the token waits in the cache for the first step that needs it.
  const answer = await credentialHelper("get", host, {
    ...paths,
    envFile: false,
    settingNames: SETTING_NAMES,
    signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
  });
  if (answer.exitCode !== 0) {
    throw new SauceRegistryError(answer.stderr.trim().replace(`${HELPER_PROGRAM}: `, ""));
  }
  mask((JSON.parse(answer.stdout) as { Secret: string }).Secret);
  await addPath(bin);
  info(
    `Docker, Podman, Buildah and Skopeo in later steps get fresh tokens for ${host} from ${
      helperProgram(helper.name)
    }`,
  );
}

/**
 * Take this run's helper out of the Docker config: drop its entry, or put back the entry it stood
 * in for (unless a later step changed it). Then config.json.bak: each change of the config kept
 * a backup, so it goes back to what it was before `main` when it is still as `main` left it, and
 * to what a later step made it otherwise.
 */
async function removeHelper(helper: HelperRun, dockerConfigDir: string): Promise<void> {
  const { dir, host, replaced } = helper;
  const backup = join(dockerConfigDir, "config.json.bak");
  const found = await readOptional(backup);
  const backupIsMains = fileDigest(found) === helper.backupAfterMain;
  const paths = settingsPaths(dir);
  let changed = false;
  if (replaced) {
    const { credHelper } = await dockerConfigStatus(host, { dockerConfigDir });
    if (credHelper === helper.name) {
      // configureDocker also records the host in this run's registries file, removed below.
      const restored = await configureDocker([host], {
        dockerConfigDir,
        settingsFile: paths.settingsFile,
        helperName: replaced,
      });
      changed = restored.dockerConfigChanged;
    }
  } else {
    const removed = await unconfigureDocker([host], {
      dockerConfigDir,
      ...paths,
      helperName: helper.name,
    });
    changed = removed.dockerConfigChanged;
  }
  if (backupIsMains) {
    const kept = helper.backupExisted
      ? await readOptional(join(dir, "config.json.bak"))
      : undefined;
    if (!helper.backupExisted || kept) await putBack(backup, kept);
  } else if (changed) {
    await putBack(backup, found);
  }
}

/** Remove config.json that `main` created, when it holds nothing any more. */
async function removeIfEmpty(dockerConfig: string): Promise<void> {
  const json = await readJsonObject(dockerConfig);
  if (json !== undefined && holdsNothing(json)) await rm(dockerConfig, { force: true });
}

/** Undo what `main` recorded, and only that: its login or helper, files it created, its folder. */
async function undo(state: ActionState): Promise<void> {
  const problems: string[] = [];
  const attempt = async (what: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (error) {
      problems.push(`${what}: ${errorText(error)}`);
    }
  };
  const dockerConfig = join(state.dockerConfigDir, "config.json");
  if (state.loginHost) {
    await logout(state.loginHost, { tool: "docker", env: childEnvironment() }).catch((error) =>
      warn(`docker logout ${state.loginHost}: ${errorText(error)}`)
    );
  }
  const helper = state.helper;
  if (helper) {
    await attempt(
      `Removing ${helper.name} from ${dockerConfig}`,
      () => removeHelper(helper, state.dockerConfigDir),
    );
  }
  if (!state.dockerConfigExisted) {
    await attempt(`Removing ${dockerConfig}`, () => removeIfEmpty(dockerConfig));
  }
  if (!state.dockerConfigDirExisted) {
    await attempt(`Removing ${state.dockerConfigDir}`, async () => {
      // Only when empty: a later step may have put its own files there.
      await rmdir(state.dockerConfigDir).catch((error: { code?: string }) => {
        if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST" && !isNotFound(error)) {
          throw error;
        }
      });
    });
  }
  // The key file goes whatever else failed.
  if (helper) {
    await attempt(`Removing ${helper.dir}`, () => rm(helper.dir, { recursive: true, force: true }));
  }
  if (problems.length > 0) throw new SauceRegistryError(problems.join("; "));
}

/**
 * The action's `post`: undo what `main` recorded in its state (this run's credHelpers entry, the
 * key file, the helper script, the cached tokens; in login mode, `docker logout`), and nothing
 * that another run of the action or a later step did.
 *
 * @returns The exit code for the runner.
 */
export async function post(): Promise<number> {
  const saved = process.env["STATE_sauce-registry"];
  if (!saved) return 0; // main changed nothing
  try {
    const state = JSON.parse(saved) as ActionState;
    await undo(state);
    if (state.loginHost) {
      info(`Logged docker out of ${state.loginHost}`);
    } else if (state.helper) {
      const { host, name, replaced } = state.helper;
      const back = replaced ? `; ${host} goes to ${helperProgram(replaced)} again` : "";
      info(`Removed ${helperProgram(name)} for ${host}, its key file and cached tokens${back}`);
    }
    return 0;
  } catch (error) {
    fail(`Cleaning up: ${errorText(error)}`);
    return 1;
  }
}
