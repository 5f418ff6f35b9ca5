/**
 * Internal: the help texts, made from the command table: a command's `--help` and the overview;
 * and the two tables that the overview and the generated reference (`reference.ts`) share: the
 * exit codes and the environment variables. Also loaded by the credential helper and the kubelet
 * provider for their `--help` (only then).
 *
 * @example
 * ```ts
 * import { commandHelp } from "./help.ts";
 * import { HELPER_COMMAND } from "../helper.ts";
 * console.log(commandHelp(HELPER_COMMAND));
 * ```
 *
 * @module
 */

import {
  type CommandSpec,
  GROUPS,
  HELP_OPTION,
  type OptionSpec,
  PROGRAM,
  VERSION_OPTION,
} from "./options.ts";
import {
  DEFAULT_REGION,
  DEFAULT_TIMEOUT_SECONDS,
  MAX_TIMEOUT_SECONDS,
  REGIONS,
} from "../settings.ts";

/** One exit code, as the overview and the reference give it. */
export interface ExitCode {
  /** The code, or a range in words (`128+N`). */
  code: string;
  /** A few words, for the overview's one line. */
  brief: string;
  /** What it means, for the reference. */
  meaning: string;
}

/** The exit codes of every command but `credential-helper` (0 or 1, as its protocol wants). */
export const EXIT_CODES: readonly ExitCode[] = [
  { code: "0", brief: "success", meaning: "success" },
  {
    code: "1",
    brief: "failure",
    meaning: "failure: the Sauce API, the network, a tool, a broken config file",
  },
  {
    code: "2",
    brief: "usage error or no credentials",
    meaning: "usage error (unknown option, malformed registry), or no credentials found",
  },
  {
    code: "3",
    brief: "refused by Sauce Labs",
    meaning: "Sauce Labs refused: wrong username or access key (401), not enrolled (403)",
  },
  {
    code: "124",
    brief: "timeout",
    meaning:
      `--timeout reached, or no token within SAUCE_REGISTRY_TIMEOUT (default ${DEFAULT_TIMEOUT_SECONDS} s)`,
  },
  {
    code: "other",
    brief: "exec and push pass on the command's own",
    meaning: "exec and push pass on the command's own code (128 + N when signal N ended it)",
  },
];

/** One environment variable the program reads. */
export interface EnvironmentVariable {
  /** Its name. */
  name: string;
  /** What it does, with its default. */
  meaning: string;
}

/** Every environment variable the program reads, in the order the reference lists them. */
export const ENVIRONMENT: readonly EnvironmentVariable[] = [
  { name: "SAUCE_USERNAME", meaning: "the Sauce Labs username, when --username is not given" },
  {
    name: "SAUCE_ACCESS_KEY",
    meaning: "the Sauce Labs access key, when --access-key-stdin is not given",
  },
  {
    name: "SAUCE_REGION",
    meaning: `the region, when --region is not given: ${Object.keys(REGIONS).join(", ")} ` +
      `(default ${DEFAULT_REGION})`,
  },
  {
    name: "SAUCE_API_URL",
    meaning: "the Sauce Labs API base URL, instead of the region's, when --api-url is not " +
      "given; from the implicit ./.env only when it is an https:// address of Sauce Labs",
  },
  {
    name: "SAUCE_REGISTRY_TIMEOUT",
    meaning: `seconds to wait for a token, the API's retries included, without --timeout ` +
      `(default ${DEFAULT_TIMEOUT_SECONDS}, at most ${MAX_TIMEOUT_SECONDS}; exit 124)`,
  },
  {
    name: "SAUCE_REGISTRY_RETRIES",
    meaning: "retries of a token request after a connection error, 429 or 5xx but 501 " +
      "(default 3, at most 100)",
  },
  {
    name: "SAUCE_REGISTRY_RETRY_DELAY_MS",
    meaning: "the first retry's delay in milliseconds, doubled each retry up to 30 s, unless " +
      "Retry-After says otherwise (default 1000, at most 30000)",
  },
  {
    name: "SAUCE_REGISTRY_NO_CACHE",
    meaning: "1: the credential helper and the kubelet provider ask Sauce Labs every time " +
      "(as --no-cache)",
  },
  {
    name: "SAUCE_REGISTRY_CREDENTIALS_FILE",
    meaning: "the credential helper reads the username and access key from this file " +
      "(username: and accessKey: lines) instead of ~/.sauce/credentials.yml",
  },
  {
    name: "SAUCE_REGISTRY_CONFIGURED_BY",
    meaning: "set by the GitHub Action (github-action) and the GitLab component " +
      "(gitlab-component) for the helper they configure: a refused key is named as their " +
      "inputs or CI/CD variables",
  },
  {
    name: "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
    meaning: "the proxy for the Sauce Labs API; a loopback API is never reached through one",
  },
  {
    name: "DOCKER_CONFIG",
    meaning: "the Docker config folder (default ~/.docker): configure-docker edits its " +
      "config.json, login --tool docker logs in there",
  },
  {
    name: "REGISTRY_AUTH_FILE",
    meaning: "the containers auth file where login puts podman, buildah and skopeo logins",
  },
  {
    name: "XDG_CONFIG_HOME",
    meaning: "where sauce-registry/registries.json is kept (default ~/.config)",
  },
  {
    name: "XDG_CACHE_HOME",
    meaning: "where the token cache sauce-registry/ is kept (default ~/.cache)",
  },
  {
    name: "XDG_RUNTIME_DIR",
    meaning: "where exec and push make their private folder (sauce-registry/), else TMPDIR",
  },
  {
    name: "PATH",
    meaning: "where status and configure-docker look for docker-credential-saucelabs, and " +
      "whether install-helper's folder is on it (PATHEXT: the extensions tried on Windows)",
  },
  { name: "TMPDIR", meaning: "the temporary folder (default /tmp)" },
  { name: "HOME", meaning: "your home folder, for the defaults above (USERPROFILE on Windows)" },
  { name: "NO_COLOR", meaning: "set: no colour in messages (there is colour only on a terminal)" },
];

/** The column where option help starts in `--help`. */
const HELP_COLUMN = 26;

/**
 * An option as help and the reference name it: `-h, --help`, `--registry URL`.
 *
 * @param option The option.
 * @returns Its names and its value's placeholder.
 */
export function optionTerm(option: OptionSpec): string {
  return `${option.short ? `-${option.short}, ` : ""}--${option.name}${
    option.placeholder ? ` ${option.placeholder}` : ""
  }`;
}

function optionLines(options: readonly OptionSpec[]): string {
  return options.map((option) =>
    `  ${optionTerm(option).padEnd(HELP_COLUMN - 3)} ${wrap(option.help, 100 - HELP_COLUMN)}`
  ).join("\n");
}

/** Wrap text to a width, continuing lines at the help column. */
function wrap(text: string, width: number): string {
  return wrapText(text, width, " ".repeat(HELP_COLUMN));
}

/**
 * Wrap text at spaces into lines of at most `width` characters (a longer word stays whole).
 *
 * @param text The text, one line.
 * @param width The widest line, not counting `indent`.
 * @param indent What starts each line after the first.
 * @returns The wrapped text.
 */
function wrapText(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${indent}`);
}

/** The exit codes in one line: `0 success, 1 failure, …; exec and push pass on …`. */
function exitCodeLine(): string {
  const numbered = EXIT_CODES.filter((exit) => /^\d+$/.test(exit.code));
  const others = EXIT_CODES.filter((exit) => !numbered.includes(exit));
  return [
    numbered.map((exit) => `${exit.code} ${exit.brief}`).join(", "),
    ...others.map((exit) => exit.brief),
  ].join("; ");
}

/**
 * A command's `--help`: usage, summary, its options (its own first), then details and examples.
 *
 * @param command The command.
 * @returns The text.
 */
export function commandHelp(command: CommandSpec): string {
  const shared = command.groups.flatMap((group) => GROUPS[group]);
  const sections = [
    `Usage: ${PROGRAM} ${command.usage}`,
    `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    `Options:\n${optionLines([...command.options, ...shared, HELP_OPTION])}`,
    command.details,
  ];
  return `${sections.join("\n\n")}\n`;
}

/**
 * The overview that `--help` without a command prints.
 *
 * @param commands The commands, in the order to list them.
 * @param version The program's version.
 * @returns The text.
 */
export function mainHelp(commands: readonly CommandSpec[], version: string): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const list = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`)
    .join("\n");
  return `${PROGRAM} ${version}: log container tools in to the Sauce Labs Container Registry

Usage: ${PROGRAM} COMMAND [OPTIONS]

Commands:
${list}

Options:
${optionLines([HELP_OPTION, VERSION_OPTION])}

Run "${PROGRAM} help COMMAND" for a command's options and examples.
${wrapText(`Exit codes: ${exitCodeLine()}.`, 100)}
${wrapText(`Environment: ${ENVIRONMENT.map((variable) => variable.name).join(", ")}.`, 100)}
`;
}
