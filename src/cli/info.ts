/**
 * Internal: the commands about the program itself — `help`, `version` and `completions` — and
 * the stand-in runner of the two commands that other programs run through their own entries.
 *
 * @example
 * ```ts
 * import { runVersion } from "./info.ts";
 * console.log(typeof runVersion);
 * ```
 *
 * @module
 */

import { unknownChoice, UsageError } from "../errors.ts";
import { runtimeName, writeStdout } from "../runtime.ts";
import { VERSION } from "../version.ts";
import { type CompletableOption, completionScript, type Shell, SHELLS } from "./completions.ts";
import { type Command, type Context, json, noArguments } from "./context.ts";
import { commandHelp, mainHelp } from "./help.ts";
import { HELP_OPTION, optionsOf, type OptionSpec, PROGRAM, VERSION_OPTION } from "./options.ts";

/**
 * The command of that name, or a usage error that lists the commands and suggests the nearest.
 *
 * @param commands The commands.
 * @param name A command's name, as typed.
 * @returns The command.
 * @throws {UsageError} For an unknown name.
 */
export function knownCommand(commands: readonly Command[], name: string): Command {
  const command = commands.find((each) => each.name === name);
  if (command) return command;
  throw unknownChoice("command", name, commands.map((each) => each.name));
}

/**
 * `help [COMMAND]`.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runHelp(context: Context): Promise<number> {
  if (context.positionals.length > 1) {
    throw new UsageError(`help takes one COMMAND, got ${context.positionals.length}`);
  }
  const [name] = context.positionals;
  await writeStdout(
    name === undefined
      ? mainHelp(context.commands, VERSION)
      : commandHelp(knownCommand(context.commands, name)),
  );
  return 0;
}

/**
 * `version`.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runVersion(context: Context): Promise<number> {
  noArguments(context);
  if (context.json) await json({ version: VERSION, runtime: runtimeName() });
  else await writeStdout(`${PROGRAM} ${VERSION}\n`);
  return 0;
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
 * `completions bash|zsh|fish`: the script, from the command table.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runCompletions(context: Context): Promise<number> {
  if (context.positionals.length !== 1) {
    throw new UsageError(`completions takes one shell: ${SHELLS.join(", ")}`);
  }
  const shell = context.positionals[0];
  if (!(SHELLS as readonly string[]).includes(shell)) throw unknownChoice("shell", shell, SHELLS);
  const commands = context.commands.map((command) => ({
    name: command.name,
    summary: command.summary,
    options: optionsOf(command).map(completable),
    positionalChoices: command.name === "help"
      ? context.commands.map((each) => each.name)
      : command.positionalChoices,
  }));
  const top = [HELP_OPTION, VERSION_OPTION].map(completable);
  await writeStdout(completionScript(shell as Shell, PROGRAM, commands, top));
  return 0;
}

/**
 * The runner of `credential-helper` and `kubelet-credential-provider`, which `cli.ts` sends to
 * their own entries when they come first: reached only when global options came before them.
 *
 * @param context The command's context.
 * @returns Never.
 */
export function runElsewhere(context: Context): Promise<number> {
  throw new UsageError(
    `${context.command.name} takes no global options and comes first: ${PROGRAM} ${context.command.usage}`,
  );
}
