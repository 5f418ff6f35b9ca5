/**
 * Internal: the help texts, made from the command table: a command's `--help` and the overview.
 * Also loaded by the credential helper and the kubelet provider for their `--help` (only then).
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

/** The column where option help starts in `--help`. */
const HELP_COLUMN = 26;

function optionLines(options: readonly OptionSpec[]): string {
  return options.map((option) => {
    const names = `${option.short ? `-${option.short}, ` : ""}--${option.name}${
      option.placeholder ? ` ${option.placeholder}` : ""
    }`;
    return `  ${names.padEnd(HELP_COLUMN - 3)} ${wrap(option.help, 100 - HELP_COLUMN)}`;
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
Exit codes: 0 success, 1 failure, 2 usage error or no credentials, 3 refused by Sauce Labs,
124 timeout; exec and push pass on the command's own.
`;
}
