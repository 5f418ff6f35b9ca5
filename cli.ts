/**
 * The `sauce-registry` command: parse arguments, call the library, format output, map errors to
 * exit codes. Also the `docker-credential-saucelabs` helper when run under that name.
 *
 * @example
 * ```sh
 * deno run -A --no-config cli.ts login registry.example.com/your-private-registry
 * bun --no-env-file --config=/dev/null --tsconfig-override=/dev/null cli.ts token --format env
 * ```
 *
 * @module
 */

import {
  configureDocker,
  credentialHelper,
  type CredentialHelperOptions,
  credentialHelperServes,
  dockerConfigFor,
  fetchToken,
  type FetchTokenOptions,
  findOnPath,
  HELPER_PROGRAM,
  installHelper,
  kubeletCredentialProvider,
  launcher,
  login,
  logout,
  parseRegistry,
  parseTimeoutSeconds,
  pullSecretYaml,
  pushImage,
  registryUrlForImage,
  resolveApiSettings,
  resolveCredentials,
  SauceRegistryError,
  settingLookup,
  shellQuote,
  status,
  TimeoutError,
  type Tool,
  ToolError,
  TOOLS,
  UsageError,
  VERSION,
  withTemporaryAuth,
} from "./mod.ts";
import {
  BUN_RUN_FLAGS,
  commandLineArgs,
  env,
  exit,
  onTerminationSignal,
  programName,
  readStdin,
  spawn,
  stderrIsTerminal,
  stdinIsTerminal,
  type TerminationSignal,
  writeStderr,
  writeStdout,
} from "./_runtime.ts";
import { errorText, printable } from "./_errors.ts";
import { loadUtil } from "./deps.ts";

/**
 * How long the kubelet credential provider waits for a token by default: the kubelet gives a
 * plugin a minute, and the provider's own message is worth more in its log than a kill.
 */
const PROVIDER_TIMEOUT_SECONDS = 50;

const PROVIDER = "kubelet-credential-provider";

const GLOBAL_OPTIONS = `Global options:
  --region REGION        us-west-1 (default), us-east-4, eu-central-1 or staging (or SAUCE_REGION)
  --api-url URL          the Sauce Labs API base URL, overrides the region (or SAUCE_API_URL)
  --username NAME        the Sauce Labs username (or SAUCE_USERNAME)
  --access-key-stdin     read the access key from standard input (else SAUCE_ACCESS_KEY,
                         a .env file, or ~/.sauce/credentials.yml)
  --env-file PATH        read variables from this file (default ./.env when present);
                         variables already set win
  --timeout SECONDS      give up after this long, whole operation (exit 124); without it,
                         waiting for a token gives up after SAUCE_REGISTRY_TIMEOUT or 60 s
                         (for exec and push: the token only, not the command they run)
  --json                 machine-readable output
  --quiet                no informational messages
  --verbose              log requests on stderr, credentials redacted
  -h, --help             help for the command
  -V, --version          print the version`;

const COMMANDS: Record<string, { usage: string; summary: string; details: string }> = {
  token: {
    usage:
      "sauce-registry token [--registry URL] [--format FORMAT] [--namespace NS] [--secret-name NAME]",
    summary: "fetch a short-lived registry token and print it",
    details: `Formats:
  json (default)   {"username", "password", "expires_at"}
  env              export DOCKER_USERNAME=… DOCKER_PASSWORD=… DOCKER_REGISTRY=… lines for eval
  username, password, expires-at   that one value
  docker-config    a Docker config.json with "auths" for the registry (needs --registry)
  k8s-secret       a Kubernetes pull Secret (type kubernetes.io/dockerconfigjson) for the registry
                   (needs --registry), in --namespace NS (default: kubectl's current one), named
                   --secret-name NAME (default sauce-registry). It stops working when the token
                   expires: refresh it every few minutes (a CronJob: examples/kubernetes/), or let
                   the kubelet fetch tokens itself (kubelet-credential-provider)

expires_at and expires-at are in this machine's clock: when Sauce Labs' clock differs, the
lifetime Sauce Labs gave is counted from now, so compare them with this machine's time.

Examples:
  eval "$(sauce-registry token --registry registry.example.com/your-private-registry --format env)"
  sauce-registry token --registry registry.example.com/your-private-registry --format k8s-secret \\
    --namespace ci | kubectl apply -f -`,
  },
  login: {
    usage: "sauce-registry login REGISTRY [--tool TOOL] [--tool-arg ARG]...",
    summary: "fetch a token and log a container tool in (password on stdin only)",
    details: `Tools: ${TOOLS.join(", ")} (default docker).
--tool-arg passes an argument to the tool's login, e.g. --tool-arg=--tls-verify=false.
podman, buildah and skopeo keep the login in a containers auth file, never in the Docker config:
REGISTRY_AUTH_FILE, else $XDG_CONFIG_HOME/containers/auth.json when DOCKER_CONFIG is set, else
$XDG_RUNTIME_DIR/containers/auth.json (their own default); an --authfile of yours wins.
When the credential helper already serves the host (configure-docker), no login is made.

Example:
  sauce-registry login registry.example.com/your-private-registry --tool podman`,
  },
  logout: {
    usage: "sauce-registry logout REGISTRY [--tool TOOL] [--tool-arg ARG]...",
    summary: "log a container tool out of the registry host",
    details: `Example:
  sauce-registry logout registry.example.com --tool docker`,
  },
  push: {
    usage: "sauce-registry push IMAGE [--tool docker|podman] [--tool-arg ARG]...",
    summary: "push an image with a fresh token through a private temporary config",
    details:
      `The token goes to a private temporary config (see exec), not to the tool's environment.
The tool's progress stays visible; the exit code is the tool's.

Example:
  sauce-registry push registry.example.com/your-private-registry/app:1.0`,
  },
  exec: {
    usage: "sauce-registry exec REGISTRY -- COMMAND [ARG]...",
    summary: "run a command with fresh registry auth in a private, temporary config",
    details:
      `COMMAND runs with DOCKER_CONFIG and REGISTRY_AUTH_FILE pointing at a temporary folder (0700,
in $XDG_RUNTIME_DIR/sauce-registry when it exists, else in the temp folder) holding auth for the
registry host, and DOCKER_USERNAME, DOCKER_PASSWORD and DOCKER_REGISTRY set (SAUCE_ACCESS_KEY is
not passed on; your other Docker settings are kept). Termination signals go to the command; the
folder is removed afterwards, whatever happens, and a folder left by a killed run (SIGKILL) is
removed by the next exec or push. The exit code is the command's.

Example:
  sauce-registry exec registry.example.com/your-private-registry -- docker push registry.example.com/your-private-registry/app:1.0`,
  },
  "configure-docker": {
    usage: "sauce-registry configure-docker REGISTRY...",
    summary: "make Docker, Podman, Skopeo and Buildah use the credential helper",
    details:
      `Records each registry (with the region or --api-url) in $XDG_CONFIG_HOME/sauce-registry/registries.json
and adds "credHelpers": {"<host>": "saucelabs"} to $DOCKER_CONFIG/config.json (else ~/.docker/config.json),
keeping every other byte as written; the previous version goes to config.json.bak (mode 0600).
Both files are checked before either is written. Running it again changes nothing.

Example:
  sauce-registry configure-docker registry.example.com/your-private-registry
  sauce-registry install-helper`,
  },
  "install-helper": {
    usage: "sauce-registry install-helper [--dir DIR]",
    summary: "put docker-credential-saucelabs on PATH for this way of running the tool",
    details:
      `Writes DIR/docker-credential-saucelabs (default ~/.local/bin, or /usr/local/bin as root): a
symlink to a compiled binary, or a small script that runs this tool with deno or bun.

Example:
  sauce-registry install-helper --dir /usr/local/bin`,
  },
  "credential-helper": {
    usage: "sauce-registry credential-helper [--no-cache] get|store|erase|list|version",
    summary: "the Docker credential-helper protocol (as docker-credential-saucelabs)",
    details:
      `Docker runs it with the server address on standard input. Set SAUCE_REGISTRY_NO_CACHE=1
to turn the token cache off, SAUCE_REGISTRY_TIMEOUT=SECONDS to change how long it waits for a
token (default 60, at most 2147483), SAUCE_REGISTRY_CREDENTIALS_FILE=PATH to read the username and
access key from that file (saucectl's "username:" and "accessKey:" lines) instead of
~/.sauce/credentials.yml. The cache ($XDG_CACHE_HOME/sauce-registry) is used only while its folder
and files are yours alone (not another user's, not a symlink, not writable by others), and a cached
token for an hour at most.

Example:
  printf registry.example.com | sauce-registry credential-helper get`,
  },
  "kubelet-credential-provider": {
    usage:
      "sauce-registry kubelet-credential-provider [--registry URL]... [--env-file PATH] [--region REGION | --api-url URL]",
    summary: "the kubelet's image credential provider: fresh tokens for every pull",
    details: `The kubelet runs it for each image that matches the provider's matchImages, with a
CredentialProviderRequest (credentialprovider.kubelet.k8s.io v1, v1beta1 or v1alpha1) on standard
input, and reads a CredentialProviderResponse in the same version: a login for the registry host
(cacheKeyType Registry), which the kubelet reuses until the token is due for renewal. Images of
other registries get an empty answer, and no token is asked for. Tokens are cached, shared with
the credential helper: a node pulling 20 images at once makes one token request.

Options (in the provider's args; the provider's env can set the SAUCE_* variables instead):
  --registry URL       a registry to serve (repeatable); default those configure-docker recorded
  --env-file PATH      read SAUCE_USERNAME, SAUCE_ACCESS_KEY, SAUCE_REGION, SAUCE_API_URL from this
                       file (keep it 0600); ./.env is never read. Else the environment, then
                       ~/.sauce/credentials.yml
  --username NAME      the Sauce Labs username
  --region REGION      us-west-1 (default), us-east-4, eu-central-1 or staging
  --api-url URL        the Sauce Labs API base URL, overrides the region
  --timeout SECONDS    give up after this long (default ${PROVIDER_TIMEOUT_SECONDS}, within the kubelet's minute;
                       or SAUCE_REGISTRY_TIMEOUT)
  --no-cache           ask Sauce Labs on every call (or SAUCE_REGISTRY_NO_CACHE=1)
  -h, --help           this help

A failure exits non-zero with one line on standard error and nothing on standard output.
Setup (CredentialProviderConfig, install, env file): examples/kubernetes/ and the README.

Example:
  printf '%s' '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/your-private-registry/app:1"}' |
    sauce-registry kubelet-credential-provider --registry registry.example.com/your-private-registry`,
  },
  status: {
    usage: "sauce-registry status [REGISTRY]",
    summary: "diagnostics: credentials' sources, region, API, cached token, docker config",
    details: `Never prints a secret. --offline skips the token request.

Example:
  sauce-registry status registry.example.com/your-private-registry`,
  },
};

function mainUsage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const list = Object.entries(COMMANDS).map(([name, command]) =>
    `  ${name.padEnd(width)}  ${command.summary}`
  ).join("\n");
  return `sauce-registry ${VERSION}: log container tools in to the Sauce Labs Container Registry

Usage: sauce-registry COMMAND [OPTIONS]

Commands:
${list}

${GLOBAL_OPTIONS}

Run "sauce-registry COMMAND --help" for a command's options and examples.
Exit codes: 0 success, 1 failure, 2 usage error, 3 refused by Sauce Labs, 124 timeout;
exec and push pass on the command's own.
`;
}

/** Commands run by other programs, which parse their own few options. */
const OWN_OPTIONS = ["credential-helper", "kubelet-credential-provider"];

function commandHelp(name: string): string {
  const command = COMMANDS[name];
  return `Usage: ${command.usage}

${command.summary[0].toUpperCase()}${command.summary.slice(1)}.

${command.details}
${
    // Docker runs the helper with exactly one argument, the kubelet its provider with the options
    // listed above: neither takes the global options.
    OWN_OPTIONS.includes(name) ? "" : `\n${GLOBAL_OPTIONS}\n`}`;
}

/** Options only some commands take, with the commands that take them. */
const COMMAND_OPTIONS: Record<string, string[]> = {
  registry: ["token"],
  format: ["token"],
  namespace: ["token"],
  "secret-name": ["token"],
  tool: ["login", "logout", "push"],
  "tool-arg": ["login", "logout", "push"],
  dir: ["install-helper"],
  offline: ["status"],
};

const OPTIONS = {
  region: { type: "string" },
  "api-url": { type: "string" },
  username: { type: "string" },
  "access-key-stdin": { type: "boolean" },
  "env-file": { type: "string" },
  timeout: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  registry: { type: "string" },
  format: { type: "string" },
  namespace: { type: "string" },
  "secret-name": { type: "string" },
  tool: { type: "string" },
  "tool-arg": { type: "string", multiple: true },
  dir: { type: "string" },
  offline: { type: "boolean" },
} as const;

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[]
    : (typeof OPTIONS)[K] extends { type: "boolean" } ? boolean
    : string;
};

interface Context {
  values: Values;
  positionals: string[];
  signal: AbortSignal;
  /** From --timeout, which bounds the whole command. */
  timeoutSeconds?: number;
  log?: (line: string) => void;
  /** Run a child that gets this process's termination signals and decides the exit code. */
  whileChildRuns<T>(work: () => Promise<T>): Promise<T>;
}

async function parse(args: string[]): Promise<{ values: Values; positionals: string[] }> {
  const { parseArgs } = await loadUtil();
  try {
    const { values, positionals } = parseArgs({
      args,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    // parseArgs puts the remedy on a later line; keep it, since that line is what users need.
    const ambiguous = text.match(/^Option '(--[\w-]+)' argument is ambiguous/);
    const message = ambiguous
      ? `${ambiguous[0]}: for a value that starts with a dash, write ${ambiguous[1]}=VALUE`
      : text.split("\n")[0].replace(/^(Unknown option '[^']*')\..*/, "$1");
    throw new UsageError(message.replace(/\.$/, "").replace(/^./, (c) => c.toUpperCase()));
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

async function info(context: Context, text: string): Promise<void> {
  if (!context.values.quiet) await writeStderr(`${text}\n`);
}

function onlyPositionals(context: Context, command: string, min: number, max: number): string[] {
  const args = context.positionals;
  if (args.length < min || args.length > max) {
    const expected = min === max
      ? `${min}`
      : max === Infinity
      ? `at least ${min}`
      : `${min} to ${max}`;
    throw new UsageError(
      `${command} takes ${expected} argument${max === 1 ? "" : "s"}, got ${args.length}`,
    );
  }
  return args;
}

function checkTool(name: string | undefined, allowed: readonly string[]): Tool {
  const tool = name ?? "docker";
  if (!allowed.includes(tool)) {
    throw new UsageError(`Unknown tool "${tool}": expected one of ${allowed.join(", ")}`);
  }
  return tool as Tool;
}

/** Everything a token request needs, from flags, environment, `.env` and saucectl's file. */
async function tokenOptions(context: Context, registryUrl?: string): Promise<FetchTokenOptions> {
  const { values } = context;
  const settings = settingLookup({ envFile: values["env-file"] });
  const accessKey = values["access-key-stdin"] ? await readAccessKey() : undefined;
  const credentials = await resolveCredentials({
    username: values.username,
    accessKey,
    envFile: values["env-file"],
  }, settings);
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
    ...retryTuning(),
  };
}

function apiOptions(context: Context): { region?: string; apiUrl?: string; envFile?: string } {
  return {
    region: context.values.region,
    apiUrl: context.values["api-url"],
    envFile: context.values["env-file"],
  };
}

/** Advanced tuning from the environment (tests use short delays). */
function retryTuning(): { retries?: number; retryDelayMs?: number } {
  const tuning: { retries?: number; retryDelayMs?: number } = {};
  const retries = env("SAUCE_REGISTRY_RETRIES");
  const delay = env("SAUCE_REGISTRY_RETRY_DELAY_MS");
  if (retries !== undefined && /^\d+$/.test(retries)) tuning.retries = Number(retries);
  if (delay !== undefined && /^\d+$/.test(delay)) tuning.retryDelayMs = Number(delay);
  return tuning;
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
  onlyPositionals(context, "token", 0, 0);
  const format = context.values.format ?? "json";
  const formats = [
    "json",
    "env",
    "username",
    "password",
    "expires-at",
    "docker-config",
    "k8s-secret",
  ];
  if (!formats.includes(format)) {
    throw new UsageError(`Unknown format "${format}": expected one of ${formats.join(", ")}`);
  }
  const reference = context.values.registry ? parseRegistry(context.values.registry) : undefined;
  if ((format === "docker-config" || format === "k8s-secret") && !reference) {
    throw new UsageError(`--format ${format} needs --registry URL`);
  }
  const secret = { name: context.values["secret-name"], namespace: context.values.namespace };
  if (format !== "k8s-secret" && (secret.name !== undefined || secret.namespace !== undefined)) {
    throw new UsageError("--namespace and --secret-name go with --format k8s-secret");
  }
  const token = await fetchToken(await tokenOptions(context, reference?.registryUrl));
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
  const [registry] = onlyPositionals(context, "login", 1, 1);
  const reference = parseRegistry(registry);
  const tool = checkTool(context.values.tool, TOOLS);
  await requireOnPath(tool);
  const helperConfig = await credentialHelperServes(reference.host, tool);
  if (helperConfig) return await reportHelperServes(context, reference.host, tool, helperConfig);
  const token = await fetchToken(await tokenOptions(context, reference.registryUrl));
  const result = await login(token, registry, {
    tool,
    toolArgs: context.values["tool-arg"],
    signal: context.signal,
  });
  if (context.values.verbose) await writeStderr(`${tool}: ${result.stdout}${result.stderr}`);
  if (context.values.json) {
    await writeStdout(
      `${
        JSON.stringify({
          host: reference.host,
          tool,
          username: token.username,
          expires_at: isoTime(token.expiresAt),
          ...(result.authFile ? { auth_file: result.authFile } : {}),
        })
      }\n`,
    );
  } else if (!context.values.quiet) {
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
  if (context.values.json) {
    await writeStdout(
      `${
        JSON.stringify({
          host,
          tool,
          credential_helper: HELPER_PROGRAM,
          docker_config: dockerConfig,
        })
      }\n`,
    );
  } else if (!context.values.quiet) {
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
  const [registry] = onlyPositionals(context, "logout", 1, 1);
  const tool = checkTool(context.values.tool, TOOLS);
  await logout(registry, { tool, toolArgs: context.values["tool-arg"], signal: context.signal });
  await info(context, `Logged ${tool} out of ${parseRegistry(registry).host}`);
  return 0;
}

async function runPush(context: Context): Promise<number> {
  const [image] = onlyPositionals(context, "push", 1, 1);
  const tool = checkTool(context.values.tool, ["docker", "podman"]);
  const reference = parseRegistry(image);
  if (!reference.path) {
    throw new UsageError(`push needs an image, such as ${reference.host}/team/app:1.0`);
  }
  await requireOnPath(tool);
  const token = await fetchToken(await tokenOptions(context, await registryUrlForImage(image)));
  await info(
    context,
    `Pushing ${image} with ${tool}; the token expires at ${describeExpiry(token.expiresAt)}`,
  );
  return await pushImage(token, image, {
    tool,
    toolArgs: context.values["tool-arg"],
    signal: context.signal,
    log: context.log,
    whileToolRuns: context.whileChildRuns,
  });
}

async function runExec(context: Context, command: string[]): Promise<number> {
  const [registry] = onlyPositionals(context, "exec", 1, 1);
  if (command.length === 0) throw new UsageError("exec needs a command after --");
  const reference = parseRegistry(registry);
  const token = await fetchToken(await tokenOptions(context, reference.registryUrl));
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
  const registries = onlyPositionals(context, "configure-docker", 1, Infinity);
  const { region, apiUrl } = await resolveApiSettings(apiOptions(context));
  const result = await configureDocker(registries, { region, apiUrl, signal: context.signal });
  const helperPath = await findOnPath(HELPER_PROGRAM);
  if (context.values.json) {
    await writeStdout(`${JSON.stringify({ ...result, helperOnPath: helperPath ?? null })}\n`);
  } else if (!context.values.quiet) {
    const state = (changed: boolean) => changed ? "updated" : "already up to date";
    await writeStdout(
      `Docker config ${result.dockerConfig}: ${state(result.dockerConfigChanged)}\n` +
        `Registries file ${result.settingsFile}: ${state(result.settingsChanged)}\n` +
        `Docker, Podman, Skopeo and Buildah now get fresh tokens for ${result.hosts.join(", ")}\n`,
    );
  }
  if (!helperPath) {
    await writeStderr(
      `warning: ${HELPER_PROGRAM} is not on PATH, so Docker cannot run it yet; run: ${installHelperCommand()}\n`,
    );
  }
  return 0;
}

function installHelperCommand(): string {
  const { kind, program, script } = launcher(import.meta.url);
  if (kind === "compiled") return `${shellQuote(program)} install-helper`;
  return kind === "bun"
    ? `bun ${BUN_RUN_FLAGS.join(" ")} ${shellQuote(script!)} install-helper`
    : `deno run -A --no-config ${shellQuote(script!)} install-helper`;
}

async function runInstallHelper(context: Context): Promise<number> {
  onlyPositionals(context, "install-helper", 0, 0);
  const how = launcher(import.meta.url);
  const { path, onPath } = await installHelper(how, context.values.dir);
  await writeStdout(
    `Installed ${path} (${how.kind === "compiled" ? "symlink" : `${how.kind} wrapper`})\n`,
  );
  if (!onPath) {
    await writeStderr(
      `warning: ${dirnameOf(path)} is not on PATH; add it so Docker finds the helper\n`,
    );
  }
  return 0;
}

function dirnameOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

async function runStatus(context: Context): Promise<number> {
  const [registry] = onlyPositionals(context, "status", 0, 1);
  const settings = settingLookup({ envFile: context.values["env-file"] });
  const accessKey = context.values["access-key-stdin"] ? await readAccessKey() : undefined;
  const report = await status(registry, {
    username: context.values.username,
    accessKey,
    envFile: context.values["env-file"],
    ...(await resolveApiSettings(apiOptions(context), settings)),
    offline: context.values.offline,
    signal: context.signal,
  });
  if (context.values.json) {
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

const RUNNERS: Record<string, (context: Context, rest: string[]) => Promise<number>> = {
  token: runToken,
  login: runLogin,
  logout: runLogout,
  push: runPush,
  exec: runExec,
  "configure-docker": runConfigureDocker,
  "install-helper": runInstallHelper,
  status: runStatus,
};

/** The exit code of a process ended by a signal is 128 plus the signal's number. */
const SIGNAL_EXIT: Record<TerminationSignal, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGTERM: 15,
};

/** The credential-helper protocol: exactly one argument, input on stdin for get/store/erase. */
async function helperMain(argv: string[]): Promise<number> {
  const noCache = argv[0] === "--no-cache" || env("SAUCE_REGISTRY_NO_CACHE") === "1";
  const args = argv[0] === "--no-cache" ? argv.slice(1) : argv;
  if (args.length !== 1 || args[0] === "--help" || args[0] === "-h") {
    const help = args[0] === "--help" || args[0] === "-h";
    await (help ? writeStdout : writeStderr)(commandHelp("credential-helper"));
    return help ? 0 : 1;
  }
  const action = args[0];
  const input = ["get", "store", "erase"].includes(action) ? await readStdin() : "";
  // The library bounds get (SAUCE_REGISTRY_TIMEOUT, else 60 s): Docker waits with no limit.
  const options: CredentialHelperOptions = {
    noCache,
    // A file of saucectl's shape read in place of ~/.sauce/credentials.yml: how the GitHub Action
    // and the GitLab component hand the helper a key without putting it in every step's env.
    saucectlFile: env("SAUCE_REGISTRY_CREDENTIALS_FILE") || undefined,
    ...retryTuning(),
  };
  const answer = await credentialHelper(action, input, options);
  if (answer.stdout) await writeStdout(answer.stdout);
  if (answer.stderr) await writeStderr(answer.stderr);
  return answer.exitCode;
}

interface ProviderArguments {
  registries: string[];
  help?: boolean;
  noCache?: boolean;
  username?: string;
  region?: string;
  apiUrl?: string;
  envFile?: string;
  timeout?: string;
}

/** The provider's few options, read by hand: parseArgs costs the cached path ~3 ms on Deno. */
function providerArguments(argv: string[]): ProviderArguments {
  const parsed: ProviderArguments = { registries: [] };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === "-h" || arg === "--help") parsed.help = true;
    else if (arg === "--no-cache") parsed.noCache = true;
    else {
      const match = /^--(registry|username|region|api-url|env-file|timeout)(?:=([^]*))?$/.exec(arg);
      if (!match) {
        throw new UsageError(
          `Unknown argument "${printable(arg, 40)}" for ${PROVIDER} (see ${PROVIDER} --help)`,
        );
      }
      const value = match[2] ?? argv[++index];
      if (
        value === undefined || value === "" || (match[2] === undefined && value.startsWith("--"))
      ) {
        throw new UsageError(`Option --${match[1]} needs a value (--${match[1]}=VALUE)`);
      }
      if (match[1] === "registry") parsed.registries.push(value);
      else if (match[1] === "api-url") parsed.apiUrl = value;
      else if (match[1] === "env-file") parsed.envFile = value;
      else parsed[match[1] as "username" | "region" | "timeout"] = value;
    }
  }
  return parsed;
}

/**
 * The kubelet credential provider: one request on stdin, one response on stdout. Every failure is
 * one line on stderr and a non-zero exit, with nothing on stdout (the kubelet then pulls without
 * this provider's login and logs the line).
 */
async function providerMain(argv: string[]): Promise<number> {
  let seconds = PROVIDER_TIMEOUT_SECONDS;
  try {
    const args = providerArguments(argv);
    if (args.help) {
      await writeStdout(commandHelp(PROVIDER));
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
    const response = await kubeletCredentialProvider(await readStdin(), {
      registries: args.registries,
      username: args.username,
      envFile: args.envFile ?? false,
      region,
      apiUrl,
      noCache: args.noCache || env("SAUCE_REGISTRY_NO_CACHE") === "1",
      signal,
      ...retryTuning(),
    });
    await writeStdout(`${JSON.stringify(response)}\n`);
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
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    });
  });
}

function colour(text: string): string {
  return stderrIsTerminal() && !env("NO_COLOR") ? `\x1b[31m${text}\x1b[0m` : text;
}

/**
 * Run the command line and return the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const code = await main(["token", "--format", "expires-at"]);
 * ```
 *
 * @param args The arguments after the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "credential-helper") return await helperMain(args.slice(1));
  if (args[0] === PROVIDER) return await providerMain(args.slice(1));
  // Only a known command skips the check: reading the program's name costs Deno start-up time.
  if (!Object.hasOwn(RUNNERS, args[0] ?? "") && programName() === HELPER_PROGRAM) {
    return await helperMain(args);
  }
  const separator = args.indexOf("--");
  const own = separator === -1 ? args : args.slice(0, separator);
  const rest = separator === -1 ? [] : args.slice(separator + 1);
  let command: string | undefined;
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
  try {
    const { values, positionals } = await parse(own);
    command = positionals[0];
    if (values.version) {
      await writeStdout(`sauce-registry ${VERSION}\n`);
      return 0;
    }
    if (command === undefined) {
      await (values.help ? writeStdout : writeStderr)(mainUsage());
      return values.help ? 0 : 2;
    }
    // hasOwn, not `in`: "constructor" or "toString" must not reach Object.prototype.
    if (!Object.hasOwn(RUNNERS, command)) throw new UsageError(`Unknown command "${command}"`);
    if (values.help) {
      await writeStdout(commandHelp(command));
      return 0;
    }
    for (const [option, commands] of Object.entries(COMMAND_OPTIONS)) {
      if (values[option as keyof Values] !== undefined && !commands.includes(command)) {
        throw new UsageError(`--${option} does not apply to ${command}`);
      }
    }
    if (command !== "exec" && separator !== -1) {
      throw new UsageError(`"--" only goes with exec`);
    }
    const timeoutSeconds = values.timeout === undefined
      ? undefined
      : parseTimeoutSeconds(values.timeout, "--timeout");
    if (timeoutSeconds !== undefined) {
      timer = setTimeout(
        () => controller.abort(new TimeoutError(`Timed out after ${values.timeout} s (--timeout)`)),
        timeoutSeconds * 1000,
      );
    }
    const context: Context = {
      values,
      positionals: positionals.slice(1),
      signal: controller.signal,
      timeoutSeconds,
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
      RUNNERS[command](context, rest),
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
      await writeStderr(`${colour("error:")} ${failure.message}\n`);
      if (failure instanceof UsageError) {
        // When the arguments could not be parsed, the command is still worth naming.
        const known = command ?? own.find((arg) => Object.hasOwn(COMMANDS, arg));
        await writeStderr(
          known && Object.hasOwn(COMMANDS, known)
            ? `Usage: ${COMMANDS[known].usage} (see --help)\n`
            : `Run "sauce-registry --help" for usage\n`,
        );
      }
      return failure.exitCode;
    }
    await writeStderr(`${colour("error:")} Unexpected failure: ${errorText(error)}\n`);
    return 1;
  } finally {
    clearTimeout(timer);
    stopListening();
  }
}

if (import.meta.main) exit(await main(commandLineArgs()));
