/**
 * Internal: tool logins — `login` and `logout` for docker, podman, buildah, skopeo, nerdctl,
 * helm, oras and crane, the password on standard input only; where podman, buildah and skopeo
 * keep their logins; a failing tool's error, shown short and without secrets; and whether a login
 * is needed at all where the credential helper serves the host.
 *
 * @example
 * ```ts
 * import { login } from "./login.ts";
 * const token = { username: "oauth2accesstoken", password: "…", expiresAt: new Date() };
 * await login(token, "registry.example.com/your-private-registry", { tool: "podman" });
 * ```
 *
 * @module
 */

import { type RegistryToken, secretForms } from "./api.ts";
import { type DockerConfigStatus, dockerConfigStatus } from "./docker_config.ts";
import { ConfigError, printable, redact, ToolError, unknownChoice } from "./errors.ts";
import { makePrivateFolder } from "./files.ts";
import { HELPER_NAME, HELPER_PROGRAM } from "./helper.ts";
import { findOnPath, homeDirectory, joinPath, type PathOptions } from "./paths.ts";
import { spawn, type SpawnResult, toolEnvironment } from "./process.ts";
import { registryHost } from "./reference.ts";
import { readRegistrySettings, type RegistrySettings } from "./registries.ts";
import { isLinux, removePath, userId } from "./runtime.ts";

/** The container tools `login` and `logout` know. */
export const TOOLS = [
  "docker",
  "podman",
  "buildah",
  "skopeo",
  "nerdctl",
  "helm",
  "oras",
  "crane",
] as const;

/** One of {@linkcode TOOLS}. */
export type Tool = typeof TOOLS[number];

/** A tool's login and logout argument lists. */
interface ToolCommands {
  login(host: string, username: string, extra: string[]): string[];
  logout(host: string, extra: string[]): string[];
}

/**
 * `login --username USER --password-stdin [EXTRA] HOST` and `logout [EXTRA] HOST`, after the
 * tool's subcommand group when it has one (`helm registry`, `crane auth`). `extra` is placed
 * before the host, where every tool accepts options.
 */
function passwordStdinLogin(...group: string[]): ToolCommands {
  return {
    login: (host, username, extra) => [
      ...group,
      "login",
      "--username",
      username,
      "--password-stdin",
      ...extra,
      host,
    ],
    logout: (host, extra) => [...group, "logout", ...extra, host],
  };
}

/** Each tool's documented login with the password on standard input, and its logout. */
const TOOL_COMMANDS: Record<Tool, ToolCommands> = {
  docker: passwordStdinLogin(),
  podman: passwordStdinLogin(),
  buildah: passwordStdinLogin(),
  skopeo: passwordStdinLogin(),
  nerdctl: passwordStdinLogin(),
  oras: passwordStdinLogin(),
  helm: passwordStdinLogin("registry"),
  crane: passwordStdinLogin("auth"),
};

/**
 * The tool, checked against those {@linkcode TOOLS} or `allowed` name.
 *
 * @param tool The tool's name.
 * @param allowed The tools allowed here.
 * @returns The tool.
 * @throws {UsageError} For any other name, with the nearest known one.
 */
export function checkTool(tool: string, allowed: readonly string[] = TOOLS): Tool {
  if (!allowed.includes(tool)) throw unknownChoice("tool", tool, allowed);
  return tool as Tool;
}

/** Options of {@linkcode login} and {@linkcode logout}. */
export interface ToolOptions {
  /** The tool to log in; default `docker`. */
  tool?: Tool | string;
  /** Extra arguments for the tool, such as `--tls-verify=false`. */
  toolArgs?: string[];
  /** The tool's environment; default this process's, less `SAUCE_ACCESS_KEY`. */
  env?: Record<string, string>;
  /**
   * Where podman, buildah and skopeo keep the login; default {@linkcode containersAuthFile}. An
   * `--authfile` among `toolArgs` wins.
   */
  authFile?: string;
  /** Aborting stops the tool. */
  signal?: AbortSignal;
}

/** What a tool printed on success (already free of secrets). */
export interface ToolResult {
  /** The tool's standard output. */
  stdout: string;
  /** The tool's standard error. */
  stderr: string;
  /** The argument list it ran with (never holds a secret). */
  argv: string[];
  /** The containers auth file podman, buildah or skopeo was given (`--authfile`). */
  authFile?: string;
}

/** The tools that keep logins in a containers auth file (containers-auth.json(5)). */
const CONTAINERS_TOOLS: readonly Tool[] = ["podman", "buildah", "skopeo"];

/**
 * The containers auth file (containers-auth.json(5)) that {@linkcode login} gives podman, buildah
 * and skopeo, so that they never write the Docker config: `REGISTRY_AUTH_FILE` when set; else, when
 * `DOCKER_CONFIG` is set, `$XDG_CONFIG_HOME/containers/auth.json` (with `DOCKER_CONFIG` set,
 * podman and buildah take `$DOCKER_CONFIG/config.json` as their own file and no longer read the
 * one in `$XDG_RUNTIME_DIR`, but all three read this one); else the file they use by default:
 * `$XDG_RUNTIME_DIR/containers/auth.json`, `/run/containers/UID/auth.json` on Linux without
 * `XDG_RUNTIME_DIR`, `~/.config/containers/auth.json` elsewhere.
 *
 * @example
 * ```ts
 * import { containersAuthFile } from "@saucelabs-community/sauce-registry";
 * console.log(containersAuthFile()); // e.g. /run/user/1000/containers/auth.json
 * ```
 *
 * @param environment The tools' environment; default this process's.
 * @returns The file's path.
 */
export function containersAuthFile(
  environment: Record<string, string | undefined> = toolEnvironment(),
): string {
  const { REGISTRY_AUTH_FILE, DOCKER_CONFIG, XDG_CONFIG_HOME, XDG_RUNTIME_DIR } = environment;
  if (REGISTRY_AUTH_FILE) return REGISTRY_AUTH_FILE;
  const configHome = () => XDG_CONFIG_HOME || joinPath(homeDirectory(), ".config");
  if (DOCKER_CONFIG) return joinPath(configHome(), "containers", "auth.json");
  if (!isLinux()) return joinPath(homeDirectory(), ".config", "containers", "auth.json");
  if (XDG_RUNTIME_DIR) return joinPath(XDG_RUNTIME_DIR, "containers", "auth.json");
  return `/run/containers/${userId() ?? 0}/auth.json`;
}

/**
 * Run a login or logout with what the tool needs on top of its own arguments. podman, buildah and
 * skopeo get an explicit `--authfile` (else, with `DOCKER_CONFIG` set, they rewrite the Docker
 * config, dropping every key they do not know and replacing a symlink by a file), and an empty
 * `DOCKER_CONFIG` of their own: before a login they look up the host's current credentials,
 * which would run a credential helper named for it in the Docker config, such as this
 * package's own, which cannot work without the access key the tool is not given.
 */
async function withToolSetup<T>(
  tool: Tool,
  options: ToolOptions,
  run: (extra: string[], env: Record<string, string>, authFile?: string) => Promise<T>,
): Promise<T> {
  const env = options.env ?? toolEnvironment();
  const toolArgs = options.toolArgs ?? [];
  if (!CONTAINERS_TOOLS.includes(tool)) return await run(toolArgs, env);
  const own = toolArgs.findIndex((arg) => arg === "--authfile" || arg.startsWith("--authfile="));
  const authFile = own === -1
    ? options.authFile ?? containersAuthFile(env)
    : toolArgs[own].startsWith("--authfile=")
    ? toolArgs[own].slice("--authfile=".length)
    : toolArgs[own + 1];
  const emptyDockerConfig = await makePrivateFolder();
  try {
    const extra = own === -1 ? ["--authfile", authFile, ...toolArgs] : toolArgs;
    return await run(extra, { ...env, DOCKER_CONFIG: emptyDockerConfig }, authFile);
  } finally {
    await removePath(emptyDockerConfig, true);
  }
}

/** How many of a failing tool's lines its error shows, and how many characters at most. */
const TOOL_ERROR_LINES = 3;

const TOOL_ERROR_CHARS = 300;

/** One line of a tool's output, as a person reads it. */
interface OutputLine {
  text: string;
  /** The severity the line states (`error`, `warn`, …), when it states one. */
  level?: string;
}

/**
 * A tool's output line without its log decoration: logrus' `time=… level=fatal msg="…"` (skopeo)
 * becomes its message, `WARN[0000] …` (podman, buildah) keeps its level.
 */
function outputLine(raw: string): OutputLine {
  const logfmt = /\blevel=(\w+)\s+msg="((?:[^"\\]|\\.)*)"/.exec(raw);
  if (logfmt) {
    const message = logfmt[2].replace(/\\(.)/g, (_, c: string) => "nt".includes(c) ? " " : c);
    return { level: logfmt[1].toLowerCase(), text: message.replace(/\s+/g, " ").trim() };
  }
  const text = raw.replace(/\s+/g, " ").trim();
  const prefix = /^(ERRO|WARN|INFO|DEBU|FATA|PANI)\[\d+\]/.exec(text)?.[1];
  return prefix ? { level: prefix.toLowerCase(), text } : { text };
}

/** Where a tool's error starts: a line that says it is one, else one that sounds like one. */
function errorStart(lines: readonly OutputLine[]): number {
  const severe = (line: OutputLine) =>
    /^(erro|error|fata|fatal|pani|panic)$/.test(line.level ?? "") ||
    /^(error|fatal|panic)\b/i.test(line.text);
  const sounds = (line: OutputLine) =>
    !/^(warn|warning|info|debu|debug|trace)$/.test(line.level ?? "") &&
    /\b(error|fail(ed|ure)?|denied|unauthori[sz]ed|refused|cannot|invalid|not found)\b/i.test(
      line.text,
    );
  for (const test of [severe, sounds]) {
    const index = lines.findIndex(test);
    if (index !== -1) return index;
  }
  return 0;
}

/**
 * A tool failed: say so with the first lines of its error (not its last line, which after a
 * crash is the bottom of a stack trace), secrets masked, bounded.
 */
function toolFailure(
  tool: string,
  action: string,
  result: SpawnResult,
  secrets: string[],
): ToolError {
  const lines = redact(`${result.stderr}\n${result.stdout}`, secrets).split(/\r?\n/)
    .map(outputLine).filter((line) => line.text !== "");
  const start = errorStart(lines);
  // Masked again: unquoting a log line's message can bring a secret back together.
  const excerpt = redact(
    lines.slice(start, start + TOOL_ERROR_LINES).map((line) => line.text).join(" | "),
    secrets,
  );
  return new ToolError(
    tool,
    `${tool} ${action} failed (exit code ${result.code})${
      excerpt ? `: ${printable(excerpt, TOOL_ERROR_CHARS)}` : ""
    }`,
    { toolExitCode: result.code },
  );
}

/**
 * Log a container tool in to the registry host with a token, the password passed on standard
 * input only (`--password-stdin`), never on the command line. podman, buildah and skopeo keep the
 * login in a containers auth file ({@linkcode containersAuthFile}), never in the Docker config.
 *
 * @example
 * ```ts
 * import { fetchToken, login } from "@saucelabs-community/sauce-registry";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * await login(token, "registry.example.com/your-private-registry", { tool: "podman" });
 * ```
 *
 * @param token The registry token.
 * @param registry The registry URL or an image reference; only its host is used.
 * @param options The tool, extra arguments, environment.
 * @returns What the tool printed, with any secret removed.
 * @throws {UsageError} For a malformed registry or unknown tool.
 * @throws {ToolError} When the tool fails or is not installed.
 */
export async function login(
  token: RegistryToken,
  registry: string,
  options: ToolOptions = {},
): Promise<ToolResult> {
  const tool = checkTool(options.tool ?? "docker");
  const host = registryHost(registry);
  return await withToolSetup(tool, options, async (extra, env, authFile) => {
    const argv = TOOL_COMMANDS[tool].login(host, token.username, extra);
    const result = await spawn(tool, argv, { stdin: token.password, env, signal: options.signal });
    // A tool that echoes what it sent would show the password, or the Basic auth made of it.
    const secrets = secretForms(token.username, token.password);
    if (result.code !== 0) throw toolFailure(tool, "login", result, secrets);
    return {
      stdout: redact(result.stdout, secrets),
      stderr: redact(result.stderr, secrets),
      argv,
      ...(authFile ? { authFile } : {}),
    };
  });
}

/**
 * Log a container tool out of a registry host (for podman, buildah and skopeo, out of the same
 * containers auth file {@linkcode login} uses).
 *
 * @example
 * ```ts
 * import { logout } from "@saucelabs-community/sauce-registry";
 * await logout("registry.example.com", { tool: "docker" });
 * ```
 *
 * @param registry The registry URL or image reference.
 * @param options The tool, extra arguments, environment.
 * @returns What the tool printed.
 * @throws {ToolError} When the tool fails.
 */
export async function logout(registry: string, options: ToolOptions = {}): Promise<ToolResult> {
  const tool = checkTool(options.tool ?? "docker");
  const host = registryHost(registry);
  return await withToolSetup(tool, options, async (extra, env, authFile) => {
    const argv = TOOL_COMMANDS[tool].logout(host, extra);
    const result = await spawn(tool, argv, { env, signal: options.signal });
    if (result.code !== 0) throw toolFailure(tool, "logout", result, []);
    return {
      stdout: result.stdout,
      stderr: result.stderr,
      argv,
      ...(authFile ? { authFile } : {}),
    };
  });
}

/** The tools that use `credHelpers` from the Docker config, and so the credential helper. */
const HELPER_TOOLS: readonly Tool[] = ["docker", "podman", "buildah", "skopeo"];

/**
 * Whether the credential helper already serves a registry host for a tool, so that a login is of
 * no use: the host is recorded by {@linkcode configureDocker}, the Docker config names the helper
 * for it in `credHelpers`, the helper is on PATH, and the tool reads `credHelpers` (docker,
 * podman, buildah, skopeo). Such a tool asks the helper for a fresh token on every pull and push;
 * a login would only be shadowed (docker) or shadow the helper until it expired (the others).
 *
 * @example
 * ```ts
 * import { credentialHelperServes } from "@saucelabs-community/sauce-registry";
 * const config = await credentialHelperServes("registry.example.com", "podman");
 * if (config) console.log(`no login needed: ${config} names the helper`);
 * ```
 *
 * @param host The registry host.
 * @param tool The tool.
 * @param options Where the files are.
 * @returns The Docker config that names the helper for the host, or undefined.
 */
export async function credentialHelperServes(
  host: string,
  tool: string,
  options: PathOptions = {},
): Promise<string | undefined> {
  if (!(HELPER_TOOLS as readonly string[]).includes(tool)) return undefined;
  let docker: DockerConfigStatus;
  let recorded: RegistrySettings | undefined;
  try {
    docker = await dockerConfigStatus(host, options);
    recorded = (await readRegistrySettings(options))[host];
  } catch (error) {
    // A broken file means the helper cannot serve the host: the login goes ahead (and docker's
    // own login then reports its broken config).
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
  if (!recorded || docker.credHelper !== HELPER_NAME) return undefined;
  return (await findOnPath(HELPER_PROGRAM)) ? docker.path : undefined;
}
