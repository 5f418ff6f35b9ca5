/**
 * The command line's parser. It does what `parseArgs` from `node:util` does in strict mode with
 * positionals allowed, with the same results and the same messages, but without loading
 * `node:util`: under Deno that first import costs about a quarter of the runtime's own start-up,
 * on every command.
 *
 * @example
 * ```ts
 * import { parseArguments } from "./args.ts";
 * const { values, positionals } = parseArguments(["token", "-h"], {
 *   help: { type: "boolean", short: "h" },
 * });
 * console.log(values.help, positionals); // true [ "token" ]
 * ```
 *
 * @module
 */

import { printable, unknownChoice, UsageError } from "../errors.ts";

/** One option, as `parseArgs` takes it. */
export interface ArgumentSpec {
  /** `string` options take a value. */
  type: "string" | "boolean";
  /** The one-letter name, without `-`. */
  short?: string;
  /** May be given more than once; its values are collected in a list. */
  multiple?: boolean;
}

/** The options found, by long name. */
export type ArgumentValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What {@linkcode parseArguments} found. */
export interface ParsedArguments {
  /** The options, by long name (an object with no prototype). */
  values: ArgumentValues;
  /** The other arguments, in order, and everything after `--`. */
  positionals: string[];
}

/**
 * Parse a command line: `--name value`, `--name=value`, `-n value`, `-nvalue`, groups of flags
 * such as `-hV`, and `--` before arguments that start with a dash. An option given twice keeps
 * its last value, or all of them when `multiple`.
 *
 * @param args The arguments, without the program's name.
 * @param options The options, by long name.
 * @returns The options and the other arguments.
 * @throws {Error} For an unknown option, a missing value, a value given to a flag, or a value
 * that looks like an option, with `parseArgs`' message.
 */
export function parseArguments(
  args: readonly string[],
  options: Readonly<Record<string, ArgumentSpec>>,
): ParsedArguments {
  const values: ArgumentValues = Object.create(null);
  const positionals: string[] = [];
  const spec = (name: string) => Object.hasOwn(options, name) ? options[name] : undefined;
  const longName = (short: string) =>
    Object.keys(options).find((name) => options[name].short === short) ?? short;
  const takesValue = (name: string) => spec(name)?.type === "string";

  const store = (name: string, rawName: string, value: string | undefined, inline: boolean) => {
    const option = spec(name);
    if (!option) {
      throw new Error(
        `Unknown option '${rawName}'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ${
          JSON.stringify(rawName)
        }`,
      );
    }
    const shortAndLong = `${option.short ? `-${option.short}, ` : ""}--${name}`;
    if (option.type === "string" && value === undefined) {
      throw new Error(`Option '${shortAndLong} <value>' argument missing`);
    }
    if (option.type === "boolean" && value !== undefined) {
      throw new Error(`Option '${shortAndLong}' does not take an argument`);
    }
    if (!inline && value !== undefined && value.length > 1 && value[0] === "-") {
      const example = rawName.startsWith("--")
        ? `'${rawName}=-XYZ'`
        : `'--${name}=-XYZ' or '${rawName}-XYZ'`;
      throw new Error(
        `Option '${rawName}' argument is ambiguous.\nDid you forget to specify the option argument for '${rawName}'?\nTo specify an option argument starting with a dash use ${example}.`,
      );
    }
    const found = value ?? true;
    if (!option.multiple) values[name] = found;
    else values[name] = [...(values[name] as (string | boolean)[] | undefined) ?? [], found];
  };

  const queue = [...args];
  while (queue.length > 0) {
    const arg = queue.shift()!;
    if (arg === "--") {
      positionals.push(...queue);
      break;
    }
    const short = arg[0] === "-" && arg[1] !== "-" && arg.length >= 2;
    if (short && arg.length === 2) {
      // -n, and its value from the next argument when it takes one
      const name = longName(arg[1]);
      store(name, arg, takesValue(name) ? queue.shift() : undefined, false);
    } else if (short && takesValue(longName(arg[1]))) {
      // -nvalue
      store(longName(arg[1]), arg.slice(0, 2), arg.slice(2), true);
    } else if (short) {
      // -abc is -a -b -c; -abnvalue is -a -b -nvalue
      const expanded: string[] = [];
      for (let index = 1; index < arg.length; index++) {
        if (!takesValue(longName(arg[index])) || index === arg.length - 1) {
          expanded.push(`-${arg[index]}`);
        } else {
          expanded.push(`-${arg.slice(index)}`);
          break;
        }
      }
      queue.unshift(...expanded);
    } else if (arg.length > 2 && arg.startsWith("--")) {
      const equals = arg.indexOf("=", 3);
      if (equals === -1) {
        // --name, and its value from the next argument when it takes one
        const name = arg.slice(2);
        store(name, arg, takesValue(name) ? queue.shift() : undefined, false);
      } else {
        // --name=value
        store(arg.slice(2, equals), arg.slice(0, equals), arg.slice(equals + 1), true);
      }
    } else {
      positionals.push(arg);
    }
  }
  return { values, positionals };
}

/**
 * Parse a command line, as {@linkcode parseArguments} does, refusing what it refuses with a
 * {@linkcode UsageError} that says what to do: an unknown option gets the list of known ones
 * (and the nearest), a value that starts with a dash gets the `--name=VALUE` form. An empty value
 * is refused too: `--api-url "$UNSET"` must not quietly mean "no --api-url" (another API, another
 * identity, another folder than the one meant).
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * parseCommandLine(["--regstry", "x"], { registry: { type: "string" } });
 * // throws: Unknown option "--regstry": expected one of --registry (did you mean --registry?)
 * ```
 *
 * @param args The arguments, without the program's name.
 * @param options The options, by long name.
 * @param known The option names to offer when one is unknown; default all of `options`.
 * @returns The options and the other arguments.
 * @throws {UsageError} For anything {@linkcode parseArguments} refuses, and an empty value.
 */
export function parseCommandLine(
  args: readonly string[],
  options: Readonly<Record<string, ArgumentSpec>>,
  known: readonly string[] = Object.keys(options),
): ParsedArguments {
  let parsed: ParsedArguments;
  try {
    parsed = parseArguments(args, options);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The remedy comes on a later line of the message; keep it, since that line is what users need.
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
    if (ambiguous) {
      throw new UsageError(
        `${ambiguous[0]}: for a value that starts with a dash, write ${ambiguous[1]}=VALUE`,
      );
    }
    const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(message);
    if (unknown) {
      const names = known.map((name) => `--${name}`);
      throw unknown[1] === "--"
        ? unknownChoice("option", `--${unknown[2]}`, names)
        : new UsageError(
          `Unknown option "-${printable(unknown[2], 40)}": expected one of ${names.join(", ")}`,
        );
    }
    throw new UsageError(
      printable(message.split("\n")[0]).replace(/\.$/, "").replace(/^./, (c) => c.toUpperCase()),
    );
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === "" || (Array.isArray(value) && value.includes(""))) {
      throw new UsageError(`--${name} is empty: expected a value, or leave the option out`);
    }
  }
  return parsed;
}
