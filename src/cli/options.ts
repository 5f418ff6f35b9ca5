/**
 * Internal: the shapes of the command line's table (commands, options, shared option groups) and
 * the options several commands share. The table itself is `commands.ts`; the credential helper
 * and the kubelet provider define their own entries (`../helper.ts`, `../kubelet.ts`), which the
 * table includes, so that their hot paths never load the table.
 *
 * @example
 * ```ts
 * import { GROUPS } from "./options.ts";
 * console.log(GROUPS.api.map((option) => option.name)); // ["region", "api-url"]
 * ```
 *
 * @module
 */

import { checkUsername } from "../credentials.ts";
import { apiBaseUrl, DEFAULT_REGION, readDotenv, REGIONS } from "../settings.ts";
import type { ArgumentSpec, ArgumentValues } from "./args.ts";

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

/** One command of the command line, as help, completions and the parser see it. */
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

/** `--region` and `--api-url`. */
const API_OPTIONS: readonly OptionSpec[] = [
  {
    name: "region",
    type: "string",
    placeholder: "REGION",
    help: `${
      Object.keys(REGIONS).map((name) => name === DEFAULT_REGION ? `${name} (default)` : name)
        .join(", ").replace(/, ([^,]*)$/, " or $1")
    } (or SAUCE_REGION)`,
    choices: Object.keys(REGIONS),
  },
  {
    name: "api-url",
    type: "string",
    placeholder: "URL",
    help: "the Sauce Labs API base URL, overrides the region (or SAUCE_API_URL)",
  },
];

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
  api: API_OPTIONS,
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

/** `--registry`, which every command taking a REGISTRY also takes as an option. */
export const REGISTRY_OPTION: OptionSpec = {
  name: "registry",
  type: "string",
  placeholder: "URL",
  help: "the registry, instead of the REGISTRY argument",
};

/** `--no-cache`, of the credential helper and the kubelet provider. */
export const NO_CACHE_OPTION: OptionSpec = {
  name: "no-cache",
  type: "boolean",
  help: "ask Sauce Labs every time (or SAUCE_REGISTRY_NO_CACHE=1)",
};

/**
 * The options a command accepts: its own, then its groups', then `--help`.
 *
 * @param command The command.
 * @returns The options.
 */
export function optionsOf(command: CommandSpec): OptionSpec[] {
  return [...command.options, ...command.groups.flatMap((group) => GROUPS[group]), HELP_OPTION];
}

/**
 * Options as the parser takes them.
 *
 * @param options The options.
 * @returns Each option's parser spec, by long name.
 */
export function argumentSpecs(options: readonly OptionSpec[]): Record<string, ArgumentSpec> {
  const all: Record<string, ArgumentSpec> = {};
  for (const option of options) {
    all[option.name] = {
      type: option.type,
      ...(option.short ? { short: option.short } : {}),
      ...(option.multiple || all[option.name]?.multiple ? { multiple: true } : {}),
    };
  }
  return all;
}

/**
 * The options several commands share (and the kubelet provider), checked before the command reads
 * another file or asks for anything: a typo in --region is named as such, not after a token
 * request or as a missing credential; an --env-file that is missing or unreadable is named even
 * when the environment holds every setting, which would leave the file unread. Values from the
 * environment and `.env` are checked where they are read.
 *
 * @param values The parsed options.
 * @throws {UsageError} For the first option that is wrong.
 */
export async function checkSharedOptions(values: ArgumentValues): Promise<void> {
  const region = values.region;
  const apiUrl = values["api-url"];
  if (typeof region === "string" || typeof apiUrl === "string") {
    apiBaseUrl(
      typeof region === "string" ? region : undefined,
      typeof apiUrl === "string" ? apiUrl : undefined,
    );
  }
  if (typeof values.username === "string") checkUsername(values.username, "--username");
  if (typeof values["env-file"] === "string") await readDotenv(values["env-file"]);
}
