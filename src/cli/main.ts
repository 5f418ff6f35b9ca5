/**
 * Internal: the command line — parsing with the command table, one command's run with its time
 * limit and signals, and failures reported as one line (or one JSON object) with the right exit
 * code. `cli.ts` loads it for every command but the two that other programs run.
 *
 * @example
 * ```ts
 * import { cliMain } from "./main.ts";
 * const code = await cliMain(["help", "token"]);
 * ```
 *
 * @module
 */

import {
  ApiError,
  AuthenticationError,
  ConfigError,
  CredentialsNotFoundError,
  errorText,
  printable,
  SauceRegistryError,
  TimeoutError,
  ToolError,
  UsageError,
} from "../errors.ts";
import {
  env,
  exit,
  onTerminationSignal,
  stderrIsTerminal,
  type TerminationSignal,
  writeStderr,
  writeStdout,
} from "../runtime.ts";
import { timeLimit, timeoutMessage } from "../settings.ts";
import { VERSION } from "../version.ts";
import { parseCommandLine } from "./args.ts";
import { allOptions, COMMANDS } from "./commands.ts";
import type { Command, Context, StatusLine, Values } from "./context.ts";
import { commandHelp, mainHelp } from "./help.ts";
import { knownCommand, runVersion } from "./info.ts";
import { checkSharedOptions, optionsOf, PROGRAM } from "./options.ts";

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

const SHOW_AFTER_MS = 1000;

/**
 * A one-line status on standard error, for a terminal only: it appears when a wait has lasted
 * about a second, is replaced as the wait changes, and is erased when it ends.
 */
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
  command: Command | undefined,
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
 * Parse a command line with every command's options, offering a command's own when it names one.
 */
function parse(args: string[]): { values: Values; positionals: string[] } {
  const named = COMMANDS.find((command) =>
    command.name === args.find((arg) => !arg.startsWith("-"))
  );
  const { values, positionals } = parseCommandLine(
    args,
    allOptions(),
    named ? optionsOf(named).map((option) => option.name) : undefined,
  );
  return { values: values as Values, positionals };
}

/**
 * Run the command line (every command but the two that `cli.ts` sends elsewhere) and return the
 * exit code.
 *
 * @param args The arguments after the program name.
 * @param entry The URL of the program's entry module (`cli.ts`), for `install-helper`.
 * @returns The exit code.
 */
export async function cliMain(
  args: string[],
  entry: string = new URL("../../cli.ts", import.meta.url).href,
): Promise<number> {
  const separator = args.indexOf("--");
  const own = separator === -1 ? args : args.slice(0, separator);
  const rest = separator === -1 ? [] : args.slice(separator + 1);
  // Known before parsing, so that even a failure to parse answers in JSON.
  let asJson = own.includes("--json");
  let command: Command | undefined;
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
      if (values.version) {
        return await runVersion(contextFor(knownCommand(COMMANDS, "version"), values, [], entry));
      }
      await (values.help ? writeStdout : writeStderr)(mainHelp(COMMANDS, VERSION));
      return values.help ? 0 : 2;
    }
    command = knownCommand(COMMANDS, positionals[0]);
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
    await checkSharedOptions(values);
    let timeoutSeconds: number | undefined;
    if (typeof values.timeout === "string") {
      const limit = timeLimit(values.timeout);
      timeoutSeconds = limit.seconds;
      timer = setTimeout(
        () => controller.abort(new TimeoutError(timeoutMessage(limit))),
        limit.seconds * 1000,
      );
    }
    status = statusLine(stderrIsTerminal() && values.quiet !== true && !asJson);
    const context: Context = {
      ...contextFor(command, values, positionals.slice(1), entry),
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
      command.run(context, rest),
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
        command ?? COMMANDS.find((each) => own.includes(each.name)),
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
function contextFor(
  command: Command,
  values: Values,
  positionals: string[],
  entry: string,
): Context {
  return {
    command,
    commands: COMMANDS,
    entry,
    values,
    positionals,
    signal: new AbortController().signal,
    json: values.json === true,
    quiet: values.quiet === true,
    status: statusLine(false),
    whileChildRuns: (work) => work(),
  };
}
