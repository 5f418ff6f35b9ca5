/**
 * Internal: the one table of the command line's commands and options. It feeds the argument
 * parser, every `--help` text and the shell completions, so they cannot drift apart.
 *
 * @example
 * ```ts
 * import { commandHelp, optionsOf } from "./_commands.ts";
 * console.log(commandHelp("token"));
 * console.log(optionsOf("logout").map((option) => option.name));
 * ```
 *
 * @module
 */

import type { CompletableCommand, CompletableOption } from "./_completions.ts";
import { SHELLS } from "./_completions.ts";
import { PROVIDER_TIMEOUT_SECONDS } from "./_helper.ts";
import type { ArgumentSpec } from "./_args.ts";

/** The program's name. */
export const PROGRAM = "sauce-registry";

/** One option of the command line. */
export interface OptionSpec {
  /** The long name, without `--`. */
  name: string;
  /** The one-letter name, without `-`. */
  short?: string;
  /** `string` options take a value. */
  type: "string" | "boolean";
  /** May be given more than once. */
  multiple?: boolean;
  /** The value's name in help, such as `URL`. */
  placeholder?: string;
  /** One line (or two) of help. */
  help: string;
  /** The values it accepts, offered by completions. */
  choices?: readonly string[];
  /** Complete its value with file (or folder) names. */
  completeWith?: "file" | "directory";
}

/**
 * Groups of options that several commands share. A command lists the groups that mean
 * something for it; `--help` shows only those, and the parser refuses the others.
 */
export type OptionGroup = "identity" | "env-file" | "api" | "timeout" | "json" | "logging";

/** One command of the command line. */
export interface CommandSpec {
  /** Its name. */
  name: string;
  /** Its usage line, after the program's name. */
  usage: string;
  /** One line: what it does. */
  summary: string;
  /** More help and examples. */
  details: string;
  /** Its own options, listed first in its help. */
  options: readonly OptionSpec[];
  /** The shared option groups it accepts. */
  groups: readonly OptionGroup[];
  /** Values its positional arguments complete to. */
  positionalChoices?: readonly string[];
}

const REGION_NAMES = ["us-west-1", "us-east-4", "eu-central-1", "staging"] as const;

/** The shared options, by group. */
export const GROUPS: Readonly<Record<OptionGroup, readonly OptionSpec[]>> = {
  identity: [
    {
      name: "username",
      type: "string",
      placeholder: "NAME",
      help: "the Sauce Labs username (or SAUCE_USERNAME)",
    },
    {
      name: "access-key-stdin",
      type: "boolean",
      help: "read the access key from standard input (else SAUCE_ACCESS_KEY, a .env file, or " +
        "~/.sauce/credentials.yml)",
    },
  ],
  "env-file": [
    {
      name: "env-file",
      type: "string",
      placeholder: "PATH",
      help: "read variables from this file (default ./.env when present); variables already " +
        "set win",
      completeWith: "file",
    },
  ],
  api: [
    {
      name: "region",
      type: "string",
      placeholder: "REGION",
      help: "us-west-1 (default), us-east-4, eu-central-1 or staging (or SAUCE_REGION)",
      choices: REGION_NAMES,
    },
    {
      name: "api-url",
      type: "string",
      placeholder: "URL",
      help: "the Sauce Labs API base URL, overrides the region (or SAUCE_API_URL)",
    },
  ],
  timeout: [
    {
      name: "timeout",
      type: "string",
      placeholder: "SECONDS",
      help: "give up after this long, the whole command (exit 124); without it, waiting for a " +
        "token gives up after SAUCE_REGISTRY_TIMEOUT or 60 s (for exec and push: the token only, " +
        "not the command they run)",
    },
  ],
  json: [{ name: "json", type: "boolean", help: "machine-readable output, errors included" }],
  logging: [
    { name: "quiet", type: "boolean", help: "no informational messages" },
    { name: "verbose", type: "boolean", help: "log requests on stderr, credentials redacted" },
  ],
};

const GROUPS_API = GROUPS.api;

/** `-h/--help`, which every command takes. */
export const HELP_OPTION: OptionSpec = {
  name: "help",
  short: "h",
  type: "boolean",
  help: "help for the command",
};

/** `-V/--version`, before any command. */
export const VERSION_OPTION: OptionSpec = {
  name: "version",
  short: "V",
  type: "boolean",
  help: "print the version",
};

const REGISTRY_OPTION: OptionSpec = {
  name: "registry",
  type: "string",
  placeholder: "URL",
  help: "the registry, instead of the REGISTRY argument",
};

const TOOL_NAMES = ["docker", "podman", "buildah", "skopeo", "nerdctl", "helm", "oras", "crane"];

const TOOL_OPTION: OptionSpec = {
  name: "tool",
  type: "string",
  placeholder: "TOOL",
  help: `${TOOL_NAMES.join(", ")} (default docker)`,
  choices: TOOL_NAMES,
};

const TOOL_ARG_OPTION: OptionSpec = {
  name: "tool-arg",
  type: "string",
  multiple: true,
  placeholder: "ARG",
  help: "an argument for the tool (repeatable), e.g. --tool-arg=--tls-verify=false",
};

const NO_CACHE_OPTION: OptionSpec = {
  name: "no-cache",
  type: "boolean",
  help: "ask Sauce Labs every time (or SAUCE_REGISTRY_NO_CACHE=1)",
};

/** The token formats of `token --format`. */
export const FORMATS = [
  "json",
  "env",
  "username",
  "password",
  "expires-at",
  "docker-config",
  "k8s-secret",
] as const;

/** The commands, in the order `--help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "token",
    usage: "token [REGISTRY] [--format FORMAT] [--namespace NS] [--secret-name NAME]",
    summary: "fetch a short-lived registry token and print it",
    options: [
      REGISTRY_OPTION,
      {
        name: "format",
        type: "string",
        placeholder: "FORMAT",
        help: "json (default), env, username, password, expires-at, docker-config, k8s-secret",
        choices: FORMATS,
      },
      {
        name: "namespace",
        type: "string",
        placeholder: "NS",
        help: "k8s-secret: the Secret's namespace (default: kubectl's current one)",
      },
      {
        name: "secret-name",
        type: "string",
        placeholder: "NAME",
        help: "k8s-secret: the Secret's name (default sauce-registry)",
      },
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details: `Formats:
  json             {"username", "password", "expires_at"} (also --json)
  env              export DOCKER_USERNAME=… DOCKER_PASSWORD=… DOCKER_REGISTRY=… lines for eval
  username, password, expires-at   that one value
  docker-config    a Docker config.json with "auths" for the registry (needs REGISTRY)
  k8s-secret       a Kubernetes pull Secret (type kubernetes.io/dockerconfigjson) for the registry
                   (needs REGISTRY). It stops working when the token expires: refresh it every few
                   minutes (a CronJob: examples/kubernetes/), or let the kubelet fetch tokens
                   itself (kubelet-credential-provider)

expires_at and expires-at are in this machine's clock: when Sauce Labs' clock differs, the
lifetime Sauce Labs gave is counted from now, so compare them with this machine's time.
Waiting for the token gives up after SAUCE_REGISTRY_TIMEOUT seconds, else 60 (--timeout: the
whole command).

Examples:
  eval "$(sauce-registry token registry.example.com/your-private-registry --format env)"
  sauce-registry token registry.example.com/your-private-registry --format k8s-secret \\
    --namespace ci | kubectl apply -f -`,
  },
  {
    name: "login",
    usage: "login REGISTRY [--tool TOOL] [--tool-arg ARG]...",
    summary: "fetch a token and log a container tool in (password on stdin only)",
    options: [
      REGISTRY_OPTION,
      TOOL_OPTION,
      TOOL_ARG_OPTION,
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `podman, buildah and skopeo keep the login in a containers auth file, never in the Docker config:
REGISTRY_AUTH_FILE, else $XDG_CONFIG_HOME/containers/auth.json when DOCKER_CONFIG is set, else
$XDG_RUNTIME_DIR/containers/auth.json (their own default); an --authfile of yours wins.
When the credential helper already serves the host (configure-docker), no login is made.
Waiting for the token gives up after SAUCE_REGISTRY_TIMEOUT seconds, else 60.

Example:
  sauce-registry login registry.example.com/your-private-registry --tool podman`,
  },
  {
    name: "logout",
    usage: "logout REGISTRY [--tool TOOL] [--tool-arg ARG]...",
    summary: "log a container tool out of the registry host",
    options: [
      REGISTRY_OPTION,
      TOOL_OPTION,
      TOOL_ARG_OPTION,
    ],
    groups: ["timeout", "json", "logging"],
    details: `Example:
  sauce-registry logout registry.example.com --tool docker`,
  },
  {
    name: "push",
    usage: "push IMAGE [--tool docker|podman] [--tool-arg ARG]...",
    summary: "push an image with a fresh token through a private temporary config",
    options: [
      { ...REGISTRY_OPTION, placeholder: "IMAGE", help: "the image, as the IMAGE argument" },
      {
        name: "tool",
        type: "string",
        placeholder: "TOOL",
        help: "docker (default) or podman",
        choices: ["docker", "podman"],
      },
      TOOL_ARG_OPTION,
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `The token goes to a private temporary config (see exec), not to the tool's environment.
The tool's progress stays visible; the exit code is the tool's. Waiting for the token gives up
after SAUCE_REGISTRY_TIMEOUT seconds, else 60; the push itself takes as long as it takes
(--timeout bounds the whole command). With --json, failures of sauce-registry itself are JSON.

Example:
  sauce-registry push registry.example.com/your-private-registry/app:1.0`,
  },
  {
    name: "exec",
    usage: "exec REGISTRY -- COMMAND [ARG]...",
    summary: "run a command with fresh registry auth in a private, temporary config",
    options: [REGISTRY_OPTION],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `COMMAND runs with DOCKER_CONFIG and REGISTRY_AUTH_FILE pointing at a temporary folder (0700,
in $XDG_RUNTIME_DIR/sauce-registry when it exists, else in the temp folder) holding auth for the
registry host, and DOCKER_USERNAME, DOCKER_PASSWORD and DOCKER_REGISTRY set (SAUCE_ACCESS_KEY is
not passed on; your other Docker settings are kept). Termination signals go to the command; the
folder is removed afterwards, whatever happens, and a folder left by a killed run (SIGKILL) is
removed by the next exec or push. The exit code is the command's. Waiting for the token gives
up after SAUCE_REGISTRY_TIMEOUT seconds, else 60; the command itself runs as long as it runs
(--timeout bounds the whole command). With --json, failures of sauce-registry itself are JSON.

Example:
  sauce-registry exec registry.example.com/your-private-registry -- docker push registry.example.com/your-private-registry/app:1.0`,
  },
  {
    name: "configure-docker",
    usage: "configure-docker REGISTRY...",
    summary: "make Docker, Podman, Skopeo and Buildah use the credential helper",
    options: [{
      ...REGISTRY_OPTION,
      multiple: true,
      help: "a registry (repeatable), as the arguments",
    }],
    groups: ["env-file", "api", "timeout", "json", "logging"],
    details:
      `Records each registry (with the region or --api-url) in $XDG_CONFIG_HOME/sauce-registry/registries.json
and adds "credHelpers": {"<host>": "saucelabs"} to $DOCKER_CONFIG/config.json (else ~/.docker/config.json),
keeping every other byte as written; the previous version goes to config.json.bak (mode 0600).
Both files are checked before either is written. Running it again changes nothing.

Example:
  sauce-registry configure-docker registry.example.com/your-private-registry
  sauce-registry install-helper`,
  },
  {
    name: "install-helper",
    usage: "install-helper [--dir DIR]",
    summary: "put docker-credential-saucelabs on PATH for this way of running the tool",
    options: [{
      name: "dir",
      type: "string",
      placeholder: "DIR",
      help: "the folder (default ~/.local/bin, or /usr/local/bin as root)",
      completeWith: "directory",
    }],
    groups: ["json", "logging"],
    details: `Writes DIR/docker-credential-saucelabs: a symlink to a compiled binary, or a small
script that runs this tool with deno or bun, loading nothing from the folder Docker runs it in.

Example:
  sauce-registry install-helper --dir /usr/local/bin`,
  },
  {
    name: "credential-helper",
    usage: "credential-helper [--no-cache] get|store|erase|list|version",
    summary: "the Docker credential-helper protocol (as docker-credential-saucelabs)",
    options: [NO_CACHE_OPTION],
    groups: [],
    positionalChoices: ["get", "store", "erase", "list", "version"],
    details:
      `Docker runs it with the server address on standard input. Set SAUCE_REGISTRY_NO_CACHE=1
to turn the token cache off, SAUCE_REGISTRY_TIMEOUT=SECONDS to change how long it waits for a
token (default 60, at most 2147483), SAUCE_REGISTRY_CREDENTIALS_FILE=PATH to read the username and
access key from that file (saucectl's "username:" and "accessKey:" lines) instead of
~/.sauce/credentials.yml. It never reads a .env file. The cache ($XDG_CACHE_HOME/sauce-registry)
is used only while its folder and files are yours alone (not another user's, not a symlink, not
writable by others), and a cached token for an hour at most.

Example:
  printf registry.example.com | sauce-registry credential-helper get`,
  },
  {
    name: "kubelet-credential-provider",
    usage:
      "kubelet-credential-provider [--registry URL]... [--env-file PATH] [--region REGION | --api-url URL]",
    summary: "the kubelet's image credential provider: fresh tokens for every pull",
    options: [
      {
        ...REGISTRY_OPTION,
        multiple: true,
        help: "a registry to serve (repeatable); default those configure-docker recorded",
      },
      {
        name: "username",
        type: "string",
        placeholder: "NAME",
        help: "the Sauce Labs username (or SAUCE_USERNAME)",
      },
      {
        name: "env-file",
        type: "string",
        placeholder: "PATH",
        help: "read SAUCE_USERNAME, SAUCE_ACCESS_KEY, SAUCE_REGION, SAUCE_API_URL from this file " +
          "(keep it 0600); ./.env is never read",
        completeWith: "file",
      },
      ...GROUPS_API,
      {
        name: "timeout",
        type: "string",
        placeholder: "SECONDS",
        help: `give up after this long (default ${PROVIDER_TIMEOUT_SECONDS}, within the ` +
          "kubelet's minute; or SAUCE_REGISTRY_TIMEOUT)",
      },
      NO_CACHE_OPTION,
    ],
    groups: [],
    details: `The kubelet runs it for each image that matches the provider's matchImages, with a
CredentialProviderRequest (credentialprovider.kubelet.k8s.io v1, v1beta1 or v1alpha1) on standard
input, and reads a CredentialProviderResponse in the same version: a login for the registry host
(cacheKeyType Registry), which the kubelet reuses until the token is due for renewal. Images of
other registries get an empty answer, and no token is asked for. Tokens are cached, shared with
the credential helper: a node pulling 20 images at once makes one token request. Credentials:
the --env-file, else the environment (the provider's env), then ~/.sauce/credentials.yml.

A failure exits non-zero with one line on standard error and nothing on standard output.
Setup (CredentialProviderConfig, install, env file): examples/kubernetes/ and the README.

Example:
  printf '%s' '{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"registry.example.com/your-private-registry/app:1"}' |
    sauce-registry kubelet-credential-provider --registry registry.example.com/your-private-registry`,
  },
  {
    name: "status",
    usage: "status [REGISTRY] [--offline]",
    summary: "diagnostics: credentials' sources, region, API, cached token, docker config",
    options: [
      REGISTRY_OPTION,
      { name: "offline", type: "boolean", help: "skip the token request" },
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details: `Never prints a secret.

Example:
  sauce-registry status registry.example.com/your-private-registry`,
  },
  {
    name: "completions",
    usage: "completions bash|zsh|fish",
    summary: "print a shell completion script",
    options: [],
    groups: [],
    positionalChoices: SHELLS,
    details: `Install:
  bash   sauce-registry completions bash > ~/.local/share/bash-completion/completions/sauce-registry
  zsh    sauce-registry completions zsh > "\${fpath[1]}/_sauce-registry"   (then start a new zsh)
  fish   sauce-registry completions fish > ~/.config/fish/completions/sauce-registry.fish`,
  },
  {
    name: "help",
    usage: "help [COMMAND]",
    summary: "help for a command (the same as COMMAND --help)",
    options: [],
    groups: [],
    details: `Example:
  sauce-registry help token`,
  },
  {
    name: "version",
    usage: "version",
    summary: "print the version",
    options: [],
    groups: ["json"],
    details: `Example:
  sauce-registry version`,
  },
];

/**
 * The command of that name.
 *
 * @param name A command's name.
 * @returns The command, or undefined for an unknown name.
 */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/**
 * The options a command accepts: its own, then its groups', then `--help`.
 *
 * @param command The command.
 * @returns The options.
 */
export function optionsOf(command: CommandSpec): OptionSpec[] {
  return [...command.options, ...command.groups.flatMap((group) => GROUPS[group]), HELP_OPTION];
}

/** Every option of every command, as the parser wants them (`--registry` repeatable). */
export function parserOptions(): Record<string, ArgumentSpec> {
  const all: Record<string, ArgumentSpec> = {};
  const add = (option: OptionSpec) => {
    const known = all[option.name];
    all[option.name] = {
      type: option.type,
      ...(option.short ? { short: option.short } : {}),
      ...(option.multiple || known?.multiple ? { multiple: true } : {}),
    };
  };
  for (const command of COMMANDS) optionsOf(command).forEach(add);
  add(VERSION_OPTION);
  add(HELP_OPTION);
  return all;
}

/**
 * The table as the completion generator wants it.
 *
 * @returns The commands with every option each accepts.
 */
export function completableCommands(): CompletableCommand[] {
  return COMMANDS.map((command) => ({
    name: command.name,
    summary: command.summary,
    options: optionsOf(command).map(completable),
    positionalChoices: command.name === "help"
      ? COMMANDS.map((each) => each.name)
      : command.positionalChoices,
  }));
}

/** The options accepted before a command. */
export function topOptions(): CompletableOption[] {
  return [HELP_OPTION, VERSION_OPTION].map(completable);
}

function completable(option: OptionSpec): CompletableOption {
  return {
    name: option.name,
    short: option.short,
    takesValue: option.type === "string",
    help: option.help,
    choices: option.choices,
    completeWith: option.completeWith,
  };
}

/**
 * The nearest of some names to a mistyped one, if any is near enough to be what was meant: at
 * most two edits apart (one for names of four letters or fewer), or the only one it starts.
 *
 * @param typed What was typed.
 * @param names The names it could have meant.
 * @returns The suggestion, or undefined.
 */
export function nearest(typed: string, names: readonly string[]): string | undefined {
  const starting = names.filter((name) => typed.length >= 2 && name.startsWith(typed));
  if (starting.length === 1) return starting[0];
  let best: string | undefined;
  let bestDistance = typed.length <= 4 ? 2 : 3;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
      }
    }
  }
  return rows[a.length][b.length];
}

/** The column where option help starts in `--help`. */
const HELP_COLUMN = 26;

function optionLines(options: readonly OptionSpec[]): string {
  return options.map((option) => {
    const names = `${option.short ? `-${option.short}, ` : ""}--${option.name}${
      option.placeholder ? ` ${option.placeholder}` : ""
    }`;
    const help = option.help;
    return `  ${names.padEnd(HELP_COLUMN - 3)} ${wrap(help, 100 - HELP_COLUMN)}`;
  }).join("\n");
}

/** Wrap text to a width, continuing lines at the help column. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${" ".repeat(HELP_COLUMN)}`);
}

/**
 * A command's `--help`: usage, summary, its options (its own first), then details and examples.
 *
 * @param command The command.
 * @returns The text.
 */
export function commandHelp(command: CommandSpec): string {
  const own = [...command.options];
  const shared = command.groups.flatMap((group) => GROUPS[group]);
  const sections = [
    `Usage: ${PROGRAM} ${command.usage}`,
    `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    `Options:\n${optionLines([...own, ...shared, HELP_OPTION])}`,
    command.details,
  ];
  return `${sections.join("\n\n")}\n`;
}

/**
 * The overview that `--help` without a command prints.
 *
 * @param version The program's version.
 * @returns The text.
 */
export function mainHelp(version: string): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  const list = COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`)
    .join("\n");
  return `${PROGRAM} ${version}: log container tools in to the Sauce Labs Container Registry

Usage: ${PROGRAM} COMMAND [OPTIONS]

Commands:
${list}

Options:
${optionLines([HELP_OPTION, VERSION_OPTION])}

Run "${PROGRAM} help COMMAND" for a command's options and examples.
Exit codes: 0 success, 1 failure, 2 usage error or no credentials, 3 refused by Sauce Labs,
124 timeout; exec and push pass on the command's own.
`;
}

export { SHELLS };
