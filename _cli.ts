/**
 * Internal: the command line. It parses arguments with the command table of `_commands.ts`,
 * calls the library, formats output and maps errors to exit codes. `cli.ts` loads it for every
 * command but the two that other programs run (the credential helper and the kubelet provider).
 *
 * @example
 * ```ts
 * import { cliMain } from "./_cli.ts";
 * const code = await cliMain(["help", "token"]);
 * ```
 *
 * @module
 */

import {
  ApiError,
  AuthenticationError,
  ConfigError,
  configureDocker,
  credentialHelperServes,
  CredentialsNotFoundError,
  dockerConfigFor,
  fetchToken,
  type FetchTokenOptions,
  HELPER_PROGRAM,
  installHelper,
  launcher,
  login,
  logout,
  parseRegistry,
  pullSecretYaml,
  pushImage,
  type RegistryToken,
  registryUrlForImage,
  resolveApiSettings,
  resolveCredentials,
  SauceRegistryError,
  settingLookup,
  status,
  TimeoutError,
  type TokenProgress,
  type Tool,
  ToolError,
  TOOLS,
  UsageError,
  VERSION,
  withTemporaryAuth,
} from "./mod.ts";
import {
  env,
  exit,
  readStdin,
  stderrIsTerminal,
  stdinIsTerminal,
  writeStderr,
  writeStdout,
} from "./_runtime.ts";
import {
  BUN_RUN_FLAGS,
  findOnPath,
  onTerminationSignal,
  runtimeName,
  spawn,
  type TerminationSignal,
} from "./_system.ts";
import { errorText, printable, shellQuote } from "./_errors.ts";
import { parseTimeoutSeconds } from "./_limits.ts";
import {
  commandHelp,
  COMMANDS,
  type CommandSpec,
  completableCommands,
  findCommand,
  FORMATS,
  mainHelp,
  nearest,
  optionsOf,
  parserOptions,
  PROGRAM,
  SHELLS,
  topOptions,
} from "./_commands.ts";
import { completionScript, type Shell } from "./_completions.ts";
import { parseArguments } from "./_args.ts";

/** The values of the options given, by long name. */
type Values = Record<string, string | boolean | string[] | undefined>;

interface Context {
  command: CommandSpec;
  values: Values;
  positionals: string[];
  signal: AbortSignal;
  /** From --timeout, which bounds the whole command. */
  timeoutSeconds?: number;
  /** `--json`: output, and errors, as JSON. */
  json: boolean;
  quiet: boolean;
  log?: (line: string) => void;
  /** The status line on a terminal while a token request takes its time. */
  status: StatusLine;
  /** Run a child that gets this process's termination signals and decides the exit code. */
  whileChildRuns<T>(work: () => Promise<T>): Promise<T>;
}

function text(context: Context, name: string): string | undefined {
  const value = context.values[name];
  return typeof value === "string" ? value : undefined;
}

function list(context: Context, name: string): string[] {
  const value = context.values[name];
  return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
}

function parse(args: string[]): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArguments(args, parserOptions());
    return { values: values as Values, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // parseArgs puts the remedy on a later line; keep it, since that line is what users need.
    const ambiguous = message.match(/^Option '(--[\w-]+)' argument is ambiguous/);
    if (ambiguous) {
      throw new UsageError(
        `${ambiguous[0]}: for a value that starts with a dash, write ${ambiguous[1]}=VALUE`,
      );
    }
    const unknown = message.match(/^Unknown option '(-{1,2})([^']*)'/);
    if (unknown) {
      const command = findCommand(args.find((arg) => !arg.startsWith("-")) ?? "");
      const names = (command ? optionsOf(command) : Object.keys(parserOptions()).map((name) => ({
        name,
      }))).map((option) => option.name);
      const guess = unknown[1] === "--" ? nearest(unknown[2], names) : undefined;
      throw new UsageError(
        `Unknown option '${unknown[1]}${printable(unknown[2], 40)}'${
          guess ? `: did you mean --${guess}?` : ""
        }`,
      );
    }
    throw new UsageError(
      printable(message.split("\n")[0]).replace(/\.$/, "").replace(/^./, (c) => c.toUpperCase()),
    );
  }
}

/** RFC 3339 in UTC, without milliseconds when they are zero (as Sauce Labs writes it). */
function isoTime(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

function describeExpiry(expiresAt: Date): string {
  const seconds = Math.round((expiresAt.getTime() - Date.now()) / 1000);
  const inWords = seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
  return `${isoTime(expiresAt)} (in ${inWords})`;
}

async function info(context: Context, line: string): Promise<void> {
  if (!context.quiet && !context.json) await writeStderr(`${line}\n`);
}

async function json(value: unknown): Promise<void> {
  await writeStdout(`${JSON.stringify(value)}\n`);
}

/**
 * The registries a command was given: as arguments, or with `--registry` (the same thing), but
 * not both ways at once.
 */
function registries(context: Context, min: number, max: number, what = "REGISTRY"): string[] {
  const flagged = list(context, "registry");
  const given = context.positionals;
  if (flagged.length > 0 && given.length > 0 && max === 1) {
    throw new UsageError(
      `${context.command.name} takes one ${what}: give it as an argument or with --registry, not both`,
    );
  }
  const all = [...given, ...flagged];
  if (all.length < min || all.length > max) {
    const expected = min === max
      ? `one ${what}`
      : max === Infinity
      ? `at least ${min} ${what}`
      : `at most ${max} ${what}`;
    throw new UsageError(
      `${context.command.name} takes ${expected}, got ${all.length}${
        given.length > max
          ? ` (${given.slice(max).map((arg) => `"${printable(arg, 30)}"`).join(", ")} too many)`
          : ""
      }`,
    );
  }
  return all;
}

function noArguments(context: Context): void {
  if (context.positionals.length > 0) {
    throw new UsageError(
      `${context.command.name} takes no arguments, got "${printable(context.positionals[0], 40)}"`,
    );
  }
}

function checkTool(name: string | undefined, allowed: readonly string[]): Tool {
  const tool = name ?? "docker";
  if (!allowed.includes(tool)) {
    const guess = nearest(tool, allowed);
    throw new UsageError(
      `Unknown tool "${printable(tool, 30)}": expected one of ${allowed.join(", ")}${
        guess ? ` (did you mean ${guess}?)` : ""
      }`,
    );
  }
  return tool as Tool;
}

/** Everything a token request needs, from flags, environment, `.env` and saucectl's file. */
async function tokenOptions(context: Context, registryUrl?: string): Promise<FetchTokenOptions> {
  const envFile = text(context, "env-file");
  const settings = settingLookup({ envFile });
  const accessKey = context.values["access-key-stdin"] ? await readAccessKey() : undefined;
  const credentials = await resolveCredentials(
    { username: text(context, "username"), accessKey, envFile },
    settings,
  );
  const { region, apiUrl } = await resolveApiSettings(apiOptions(context), settings);
  return {
    credentials,
    region,
    apiUrl,
    registryUrl,
    signal: context.signal,
    // --timeout bounds the whole command; without it the library's default bounds the request.
    timeoutSeconds: context.timeoutSeconds,
    log: context.log,
    onProgress: (progress) => context.status.show(progressText(progress)),
  };
}

/** A token, with the status line on a terminal while it takes its time. */
async function fetchWithStatus(context: Context, registryUrl?: string): Promise<RegistryToken> {
  try {
    return await fetchToken(await tokenOptions(context, registryUrl));
  } finally {
    await context.status.clear();
  }
}

function progressText(progress: TokenProgress): string {
  return progress.phase === "request"
    ? `Waiting for a registry token from ${progress.host} (attempt ${progress.attempt} of ${progress.attempts})…`
    : `${progress.reason}; retrying in ${
      Math.ceil(progress.delayMs / 1000)
    } s (attempt ${progress.attempt} of ${progress.attempts})…`;
}

function apiOptions(context: Context): { region?: string; apiUrl?: string; envFile?: string } {
  return {
    region: text(context, "region"),
    apiUrl: text(context, "api-url"),
    envFile: text(context, "env-file"),
  };
}

async function readAccessKey(): Promise<string> {
  if (stdinIsTerminal()) {
    throw new UsageError(
      '--access-key-stdin reads the key from a pipe, not a terminal (where it would show): use printf %s "$KEY" | sauce-registry …',
    );
  }
  const key = (await readStdin()).replace(/\r?\n$/, "");
  if (key === "" || /[\r\n]/.test(key)) {
    throw new UsageError("--access-key-stdin expects the access key alone on standard input");
  }
  return key;
}

async function runToken(context: Context): Promise<number> {
  const [registry] = registries(context, 0, 1);
  const chosen = text(context, "format");
  if (context.json && chosen !== undefined && chosen !== "json") {
    throw new UsageError(
      `--json prints JSON: it does not go with --format ${printable(chosen, 20)}`,
    );
  }
  const format = chosen ?? "json";
  if (!(FORMATS as readonly string[]).includes(format)) {
    const guess = nearest(format, FORMATS);
    throw new UsageError(
      `Unknown format "${printable(format, 30)}": expected one of ${FORMATS.join(", ")}${
        guess ? ` (did you mean ${guess}?)` : ""
      }`,
    );
  }
  const reference = registry ? parseRegistry(registry) : undefined;
  if ((format === "docker-config" || format === "k8s-secret") && !reference) {
    throw new UsageError(`--format ${format} needs a REGISTRY`);
  }
  const secret = { name: text(context, "secret-name"), namespace: text(context, "namespace") };
  if (format !== "k8s-secret" && (secret.name !== undefined || secret.namespace !== undefined)) {
    throw new UsageError("--namespace and --secret-name go with --format k8s-secret");
  }
  const token = await fetchWithStatus(context, reference?.registryUrl);
  const expiresAt = isoTime(token.expiresAt);
  const outputs: Record<string, () => string> = {
    json: () =>
      JSON.stringify({ username: token.username, password: token.password, expires_at: expiresAt }),
    env: () =>
      [
        `export DOCKER_USERNAME=${shellQuote(token.username)}`,
        `export DOCKER_PASSWORD=${shellQuote(token.password)}`,
        ...(reference ? [`export DOCKER_REGISTRY=${shellQuote(reference.host)}`] : []),
      ].join("\n"),
    username: () => token.username,
    password: () => token.password,
    "expires-at": () => expiresAt,
    "docker-config": () => JSON.stringify(dockerConfigFor(token, reference!.host), null, "\t"),
    "k8s-secret": () => pullSecretYaml(token, reference!.host, secret).trimEnd(),
  };
  await writeStdout(`${outputs[format]()}\n`);
  return 0;
}

async function runLogin(context: Context): Promise<number> {
  const [registry] = registries(context, 1, 1);
  const reference = parseRegistry(registry);
  const tool = checkTool(text(context, "tool"), TOOLS);
  await requireOnPath(tool);
  const helperConfig = await credentialHelperServes(reference.host, tool);
  if (helperConfig) return await reportHelperServes(context, reference.host, tool, helperConfig);
  const token = await fetchWithStatus(context, reference.registryUrl);
  const result = await login(token, registry, {
    tool,
    toolArgs: list(context, "tool-arg"),
    signal: context.signal,
  });
  if (context.values.verbose) {
    await writeStderr(`${tool}: ${printable(`${result.stdout}${result.stderr}`, 2000)}\n`);
  }
  if (context.json) {
    await json({
      host: reference.host,
      tool,
      username: token.username,
      expires_at: isoTime(token.expiresAt),
      ...(result.authFile ? { auth_file: result.authFile } : {}),
    });
  } else if (!context.quiet) {
    await writeStdout(
      `Logged in to ${reference.host} with ${tool}${
        result.authFile ? ` (kept in ${result.authFile})` : ""
      }; the login expires at ${describeExpiry(token.expiresAt)}\n`,
    );
  }
  return 0;
}

/**
 * The credential helper already serves the host for this tool: a login would be shadowed by it,
 * or shadow it until the login expired. Say so instead of logging in.
 */
async function reportHelperServes(
  context: Context,
  host: string,
  tool: string,
  dockerConfig: string,
): Promise<number> {
  if (context.json) {
    await json({ host, tool, credential_helper: HELPER_PROGRAM, docker_config: dockerConfig });
  } else if (!context.quiet) {
    await writeStdout(
      `${host} is already served by the credential helper (credHelpers in ${dockerConfig}): ${tool} gets a fresh token for every pull and push, so no login is needed and none was made\n`,
    );
  }
  return 0;
}

/** Fail before asking for a token that a missing tool could not use. */
async function requireOnPath(tool: string): Promise<void> {
  if (!(await findOnPath(tool))) {
    throw new ToolError(tool, `Cannot run ${tool}: it is not installed or not on PATH`);
  }
}

async function runLogout(context: Context): Promise<number> {
  const [registry] = registries(context, 1, 1);
  const tool = checkTool(text(context, "tool"), TOOLS);
  const host = parseRegistry(registry).host;
  await logout(registry, { tool, toolArgs: list(context, "tool-arg"), signal: context.signal });
  if (context.json) await json({ host, tool });
  else await info(context, `Logged ${tool} out of ${host}`);
  return 0;
}

async function runPush(context: Context): Promise<number> {
  const [image] = registries(context, 1, 1, "IMAGE");
  const tool = checkTool(text(context, "tool"), ["docker", "podman"]);
  const reference = parseRegistry(image);
  if (!reference.path) {
    throw new UsageError(`push needs an image, such as ${reference.host}/team/app:1.0`);
  }
  await requireOnPath(tool);
  const token = await fetchWithStatus(context, await registryUrlForImage(image));
  await info(
    context,
    `Pushing ${image} with ${tool}; the token expires at ${describeExpiry(token.expiresAt)}`,
  );
  return await pushImage(token, image, {
    tool,
    toolArgs: list(context, "tool-arg"),
    signal: context.signal,
    log: context.log,
    whileToolRuns: context.whileChildRuns,
  });
}

async function runExec(context: Context, command: string[]): Promise<number> {
  const [registry] = registries(context, 1, 1);
  if (command.length === 0) throw new UsageError("exec needs a command after --");
  const reference = parseRegistry(registry);
  const token = await fetchWithStatus(context, reference.registryUrl);
  return await withTemporaryAuth(
    token,
    reference.host,
    (_dir, environment) =>
      context.whileChildRuns(async () => {
        const result = await spawn(command[0], command.slice(1), {
          env: environment,
          inheritStdio: true,
          signal: context.signal,
          forwardSignals: true,
        });
        return result.code;
      }),
    { log: context.log },
  );
}

async function runConfigureDocker(context: Context): Promise<number> {
  const given = registries(context, 1, Infinity);
  const { region, apiUrl } = await resolveApiSettings(apiOptions(context));
  const result = await configureDocker(given, { region, apiUrl, signal: context.signal });
  const helperPath = await findOnPath(HELPER_PROGRAM);
  if (context.json) {
    await json({ ...result, helperOnPath: helperPath ?? null });
  } else if (!context.quiet) {
    const state = (changed: boolean) => changed ? "updated" : "already up to date";
    await writeStdout(
      `Docker config ${result.dockerConfig}: ${state(result.dockerConfigChanged)}\n` +
        `Registries file ${result.settingsFile}: ${state(result.settingsChanged)}\n` +
        `Docker, Podman, Skopeo and Buildah now get fresh tokens for ${result.hosts.join(", ")}\n`,
    );
  }
  if (!helperPath && !context.json) {
    await writeStderr(
      `warning: ${HELPER_PROGRAM} is not on PATH, so Docker cannot run it yet; run: ${installHelperCommand()}\n`,
    );
  }
  return 0;
}

function installHelperCommand(): string {
  const { kind, program, script } = launcher(new URL("./cli.ts", import.meta.url).href);
  if (kind === "compiled") return `${shellQuote(program)} install-helper`;
  return kind === "bun"
    ? `bun ${BUN_RUN_FLAGS.join(" ")} ${shellQuote(script!)} install-helper`
    : `deno run -A --no-config ${shellQuote(script!)} install-helper`;
}

async function runInstallHelper(context: Context): Promise<number> {
  noArguments(context);
  const how = launcher(new URL("./cli.ts", import.meta.url).href);
  const { path, onPath } = await installHelper(how, text(context, "dir"));
  const kind = how.kind === "compiled" ? "symlink" : `${how.kind} wrapper`;
  if (context.json) {
    await json({ path, kind, on_path: onPath });
  } else {
    if (!context.quiet) await writeStdout(`Installed ${path} (${kind})\n`);
    if (!onPath) {
      await writeStderr(
        `warning: ${dirnameOf(path)} is not on PATH; add it so Docker finds the helper\n`,
      );
    }
  }
  return 0;
}

function dirnameOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

async function runStatus(context: Context): Promise<number> {
  const [registry] = registries(context, 0, 1);
  const envFile = text(context, "env-file");
  const settings = settingLookup({ envFile });
  const accessKey = context.values["access-key-stdin"] ? await readAccessKey() : undefined;
  const report = await status(registry, {
    username: text(context, "username"),
    accessKey,
    envFile,
    ...(await resolveApiSettings(apiOptions(context), settings)),
    offline: context.values.offline === true,
    signal: context.signal,
  });
  if (context.json) {
    await writeStdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const lines = [
      `sauce-registry ${report.version} on ${report.runtime}`,
      `Credentials: ${
        report.credentials
          ? `username ${report.credentials.username} (from ${report.credentials.usernameSource}), access key from ${report.credentials.accessKeySource}`
          : report.credentialsProblem
      }`,
      `Region: ${report.region}, API ${report.apiUrl}`,
      `API: ${
        report.api ? `${report.api.ok ? "ok" : "failed"}: ${report.api.detail}` : "not checked"
      }`,
    ];
    if (report.host) {
      const docker = report.dockerConfig!;
      lines.push(
        `Registry host: ${report.host}${
          report.registry
            ? ` (configured: ${report.registry.registryUrl})`
            : " (not configured for the helper)"
        }`,
        `Cached token: ${
          report.cachedTokenExpiresAt
            ? `expires ${report.cachedTokenExpiresAt}`
            : report.cacheProblem ?? "none"
        }`,
        `Docker config ${docker.path}: ${
          !docker.exists ? "does not exist" : [
            docker.credHelper
              ? `credHelpers → docker-credential-${docker.credHelper}`
              : "no credHelpers entry",
            docker.hasAuth ? "an auths entry" : "no auths entry",
            docker.credsStore ? `credsStore ${docker.credsStore}` : "",
          ].filter(Boolean).join(", ")
        }`,
      );
    }
    lines.push(`Credential helper on PATH: ${report.helperOnPath ?? "no"}`);
    // Usernames, registry URLs and Docker settings come from files: nothing may steer the terminal.
    await writeStdout(`${lines.map((line) => printable(line, Infinity)).join("\n")}\n`);
  }
  if (report.api && !report.api.ok) return report.api.exitCode ?? 1;
  return report.credentials ? 0 : 2;
}

async function runHelp(context: Context): Promise<number> {
  if (context.positionals.length > 1) {
    throw new UsageError(`help takes one COMMAND, got ${context.positionals.length}`);
  }
  const [name] = context.positionals;
  if (name === undefined) {
    await writeStdout(mainHelp(VERSION));
    return 0;
  }
  await writeStdout(commandHelp(known(name)));
  return 0;
}

async function runVersion(context: Context): Promise<number> {
  noArguments(context);
  if (context.json) await json({ version: VERSION, runtime: runtimeName() });
  else await writeStdout(`sauce-registry ${VERSION}\n`);
  return 0;
}

async function runCompletions(context: Context): Promise<number> {
  if (context.positionals.length !== 1) {
    throw new UsageError(`completions takes one shell: ${SHELLS.join(", ")}`);
  }
  const shell = context.positionals[0];
  if (!(SHELLS as readonly string[]).includes(shell)) {
    const guess = nearest(shell, SHELLS);
    throw new UsageError(
      `Unknown shell "${printable(shell, 20)}": expected one of ${SHELLS.join(", ")}${
        guess ? ` (did you mean ${guess}?)` : ""
      }`,
    );
  }
  await writeStdout(completionScript(shell as Shell, PROGRAM, completableCommands(), topOptions()));
  return 0;
}

/** The commands other programs run have an entry of their own (cli.ts): they come first. */
function runElsewhere(context: Context): Promise<number> {
  throw new UsageError(
    `${context.command.name} takes no global options and comes first: ${PROGRAM} ${context.command.usage}`,
  );
}

const RUNNERS: Record<string, (context: Context, rest: string[]) => Promise<number>> = {
  token: runToken,
  login: runLogin,
  logout: runLogout,
  push: runPush,
  exec: runExec,
  "configure-docker": runConfigureDocker,
  "install-helper": runInstallHelper,
  "credential-helper": runElsewhere,
  "kubelet-credential-provider": runElsewhere,
  status: runStatus,
  completions: runCompletions,
  help: runHelp,
  version: runVersion,
};

/** The command of that name, or a usage error that suggests the nearest one. */
function known(name: string): CommandSpec {
  const command = findCommand(name);
  if (command) return command;
  const guess = nearest(name, COMMANDS.map((each) => each.name));
  throw new UsageError(
    `Unknown command "${printable(name, 40)}"${guess ? `: did you mean ${guess}?` : ""}`,
  );
}

/** How long a step that cannot be cancelled may outlive an abort before main stops waiting. */
const ABORT_GRACE_MS = 2000;

/**
 * The command's outcome; or, once the signal aborts while no child runs, the abort's reason a
 * moment later: a step that cannot be cancelled (a read from a FIFO or a terminal) must not keep
 * the command past --timeout. The moment lets steps that can be cancelled clean up first. A
 * running child is not left behind: it gets the abort as SIGTERM, and its exit ends the work.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, childRuns: () => boolean) {
  return new Promise<T>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      if (!childRuns()) timer = setTimeout(() => reject(signal.reason), ABORT_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    });
  });
}

/** The exit code of a process ended by a signal is 128 plus the signal's number. */
const SIGNAL_EXIT: Record<TerminationSignal, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGTERM: 15,
};

/**
 * A one-line status on standard error, for a terminal only: it appears when a wait has lasted
 * about a second, is replaced as the wait changes, and is erased when it ends.
 */
interface StatusLine {
  show(line: string): void;
  clear(): Promise<void>;
}

const SHOW_AFTER_MS = 1000;

function statusLine(enabled: boolean): StatusLine {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let shown = false;
  let writing = Promise.resolve();
  const draw = (line: string) => {
    shown = true;
    writing = writing.then(() => writeStderr(`\r\x1b[2K${line}`));
  };
  return {
    show(line) {
      if (!enabled) return;
      if (timer !== undefined) clearTimeout(timer);
      if (shown) draw(line);
      else timer = setTimeout(() => draw(line), SHOW_AFTER_MS);
    },
    async clear() {
      // Deno loads its timers on their first use, even clearTimeout(undefined): ~10 ms.
      if (timer !== undefined) clearTimeout(timer);
      await writing;
      if (shown) await writeStderr("\r\x1b[2K");
      shown = false;
    },
  };
}

/** What kind of failure an error is, for `--json` errors. */
function errorKind(error: SauceRegistryError): string {
  if (error instanceof UsageError) return "usage";
  if (error instanceof CredentialsNotFoundError) return "credentials";
  if (error instanceof AuthenticationError) return "auth";
  if (error instanceof TimeoutError) return "timeout";
  if (error instanceof ApiError) return error.status === undefined ? "network" : "api";
  if (error instanceof ToolError) return "tool";
  if (error instanceof ConfigError) return "config";
  return error.exitCode > 128 ? "signal" : "failure";
}

function colour(line: string): string {
  return stderrIsTerminal() && !env("NO_COLOR") ? `\x1b[31m${line}\x1b[0m` : line;
}

async function report(
  failure: SauceRegistryError,
  asJson: boolean,
  command: CommandSpec | undefined,
): Promise<void> {
  const message = printable(failure.message, Infinity);
  if (asJson) {
    await writeStderr(
      `${
        JSON.stringify({
          error: { message, exit_code: failure.exitCode, kind: errorKind(failure) },
        })
      }\n`,
    );
    return;
  }
  await writeStderr(`${colour("error:")} ${message}\n`);
  if (failure instanceof UsageError) {
    await writeStderr(
      command
        ? `Usage: ${PROGRAM} ${command.usage} (see ${PROGRAM} help ${command.name})\n`
        : `Run "${PROGRAM} help" for usage\n`,
    );
  }
}

/**
 * Run the command line (every command but the two that `cli.ts` sends elsewhere) and return the
 * exit code.
 *
 * @param args The arguments after the program name.
 * @returns The exit code.
 */
export async function cliMain(args: string[]): Promise<number> {
  const separator = args.indexOf("--");
  const own = separator === -1 ? args : args.slice(0, separator);
  const rest = separator === -1 ? [] : args.slice(separator + 1);
  // Known before parsing, so that even a failure to parse answers in JSON.
  let asJson = own.includes("--json");
  let command: CommandSpec | undefined;
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let childRunning = false;
  const stopListening = onTerminationSignal((signal) => {
    if (childRunning) return; // passed on to the child, whose exit code then tells what happened
    const exitCode = 128 + SIGNAL_EXIT[signal];
    controller.abort(new SauceRegistryError(`Stopped by ${signal}`, { exitCode }));
    // A step that cannot be cancelled (reading stdin, say) must not keep the process alive.
    setTimeout(() => exit(exitCode), 2000);
  });
  let status = statusLine(false);
  try {
    const { values, positionals } = parse(own);
    asJson = values.json === true;
    if (positionals.length === 0) {
      if (values.version) return await runVersion(contextFor(known("version"), values, []));
      await (values.help ? writeStdout : writeStderr)(mainHelp(VERSION));
      return values.help ? 0 : 2;
    }
    command = known(positionals[0]);
    if (values.help) {
      await writeStdout(commandHelp(command));
      return 0;
    }
    const accepted = new Set(optionsOf(command).map((option) => option.name));
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined || accepted.has(name)) continue;
      throw new UsageError(
        name === "version"
          ? `--version goes alone: ${PROGRAM} --version`
          : `--${name} does not apply to ${command.name}`,
      );
    }
    if (command.name !== "exec" && separator !== -1) {
      throw new UsageError(`"--" only goes with exec`);
    }
    let timeoutSeconds: number | undefined;
    if (typeof values.timeout === "string") {
      timeoutSeconds = parseTimeoutSeconds(values.timeout, "--timeout");
      const seconds = timeoutSeconds;
      timer = setTimeout(
        () => controller.abort(new TimeoutError(`Timed out after ${seconds} s (--timeout)`)),
        seconds * 1000,
      );
    }
    status = statusLine(stderrIsTerminal() && values.quiet !== true && !asJson);
    const context: Context = {
      ...contextFor(command, values, positionals.slice(1)),
      signal: controller.signal,
      timeoutSeconds,
      status,
      log: values.verbose ? (line) => void writeStderr(`sauce-registry: ${line}\n`) : undefined,
      async whileChildRuns(work) {
        childRunning = true;
        try {
          return await work();
        } finally {
          childRunning = false;
        }
      },
    };
    const code = await untilAborted(
      RUNNERS[command.name](context, rest),
      controller.signal,
      () => childRunning,
    );
    if (controller.signal.aborted) throw controller.signal.reason;
    return code;
  } catch (error) {
    const failure =
      controller.signal.aborted && controller.signal.reason instanceof SauceRegistryError
        ? controller.signal.reason
        : error;
    if (failure instanceof SauceRegistryError) {
      await report(
        failure,
        asJson,
        command ?? findCommand(own.find((arg) => findCommand(arg)) ?? ""),
      );
      return failure.exitCode;
    }
    await report(
      new SauceRegistryError(`Unexpected failure: ${errorText(error)}`),
      asJson,
      command,
    );
    return 1;
  } finally {
    await status.clear();
    if (timer !== undefined) clearTimeout(timer);
    stopListening();
  }
}

/** A context for commands that need only their options and arguments. */
function contextFor(command: CommandSpec, values: Values, positionals: string[]): Context {
  return {
    command,
    values,
    positionals,
    signal: new AbortController().signal,
    json: values.json === true,
    quiet: values.quiet === true,
    status: statusLine(false),
    whileChildRuns: (work) => work(),
  };
}
