/**
 * Measuring whole processes for the benchmarks: run one with a private environment and time it
 * from spawn to exit, run several round-robin so that they share the machine's ups and downs,
 * read a process's peak memory with GNU time, and summarize samples.
 *
 * @example
 * ```ts
 * import { median, runProcess } from "./measure.ts";
 * const outcome = await runProcess({ program: "true", args: [], env: {}, cwd: "/" });
 * console.log(outcome.code, median([outcome.ms]));
 * ```
 *
 * @module
 */

/** One process to run. */
export interface ProcessSpec {
  /** The executable (a path, or a name found on the environment's PATH). */
  program: string;
  /** Its arguments. */
  args: string[];
  /** The whole environment: nothing is inherited. */
  env: Record<string, string>;
  /** The working folder. */
  cwd: string;
  /** Written to standard input, which is then closed (it is always closed). */
  stdin?: string;
  /** Kill the process and count the run as broken after this long; default 120 s. */
  timeoutMs?: number;
}

/** What a run left behind. */
export interface Outcome {
  /** The exit code (128 + signal when killed). */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** Wall-clock milliseconds from spawn until the process had exited and its output was read. */
  ms: number;
}

/**
 * A run that broke: a command failed or a count came out wrong. The benchmark exits non-zero for
 * these only, never for a missed goal.
 */
export class BrokenRunError extends Error {
  /**
   * @param message What broke.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokenRunError";
  }
}

/**
 * Run a process to completion and time it with `performance.now()`.
 *
 * @example
 * ```ts
 * import { runProcess } from "./measure.ts";
 * const { code, ms } = await runProcess({ program: "true", args: [], env: {}, cwd: "/" });
 * ```
 *
 * @param spec What to run.
 * @returns Its exit code, output and wall-clock time.
 * @throws {BrokenRunError} When it cannot be started or runs past its timeout.
 */
export async function runProcess(spec: ProcessSpec): Promise<Outcome> {
  const timeoutMs = spec.timeoutMs ?? 120_000;
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(spec.program, {
      args: spec.args,
      env: spec.env,
      clearEnv: true,
      cwd: spec.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).spawn();
  } catch (error) {
    throw new BrokenRunError(`Cannot start ${spec.program}: ${String(error)}`, { cause: error });
  }
  const writer = child.stdin.getWriter();
  // A process that exits without reading its input closes the pipe early: that is its right.
  await writer.write(new TextEncoder().encode(spec.stdin ?? "")).catch(() => {});
  await writer.close().catch(() => {});
  const output = await child.output();
  const ms = performance.now() - started;
  if (output.signal === "SIGTERM" && ms >= timeoutMs) {
    throw new BrokenRunError(`${describe(spec)} timed out after ${timeoutMs} ms`);
  }
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    ms,
  };
}

/** A short, readable form of a command line, for messages. */
export function describe(spec: Pick<ProcessSpec, "program" | "args">): string {
  return [spec.program, ...spec.args].map((part) => part.split("/").pop()).join(" ");
}

/**
 * Throw a {@linkcode BrokenRunError} unless a run exited 0 (or as `expectedCode` says).
 *
 * @param spec What ran.
 * @param outcome What it left behind.
 * @param expectedCode The exit code a good run has; default 0.
 * @returns The outcome, for chaining.
 * @throws {BrokenRunError} With the command, its code and the end of its stderr.
 */
export function expectExit(
  spec: Pick<ProcessSpec, "program" | "args">,
  outcome: Outcome,
  expectedCode = 0,
): Outcome {
  if (outcome.code !== expectedCode) {
    const tail = outcome.stderr.trim().split("\n").slice(-5).join("\n  ");
    throw new BrokenRunError(
      `${describe(spec)} exited ${outcome.code} (expected ${expectedCode})${
        tail ? `:\n  ${tail}` : ""
      }`,
    );
  }
  return outcome;
}

/** One contender of a round-robin measurement. */
export interface Contender {
  /** A label for messages. */
  name: string;
  /** What to run each time. */
  spec: ProcessSpec;
  /** Throws {@linkcode BrokenRunError} when a run's outcome is wrong; default: exit 0. */
  verify?: (outcome: Outcome) => void;
  /** Called after each run, for checks that span runs (such as API request counts). */
  after?: () => void;
}

/**
 * Time several contenders in turns (A B C, then C B A, …) so that a noisy neighbour or a
 * frequency change hits all of them alike; the first `warmups` rounds are not kept.
 *
 * @example
 * ```ts
 * import { roundRobin } from "./measure.ts";
 * const spec = { program: "true", args: [], env: {}, cwd: "/" };
 * const [samples] = await roundRobin([{ name: "true", spec }], 15, 3);
 * ```
 *
 * @param contenders What to time.
 * @param runs Rounds kept.
 * @param warmups Rounds run first and dropped.
 * @returns Each contender's kept wall-clock times in ms, in the contenders' order.
 * @throws {BrokenRunError} When any run is wrong.
 */
export async function roundRobin(
  contenders: Contender[],
  runs: number,
  warmups: number,
): Promise<number[][]> {
  const samples: number[][] = contenders.map(() => []);
  for (let round = 0; round < warmups + runs; round++) {
    const order = contenders.map((_, index) => index);
    if (round % 2 === 1) order.reverse();
    for (const index of order) {
      const contender = contenders[index];
      const outcome = await runProcess(contender.spec);
      if (contender.verify) contender.verify(outcome);
      else expectExit(contender.spec, outcome);
      contender.after?.();
      if (round >= warmups) samples[index].push(outcome.ms);
    }
  }
  return samples;
}

/**
 * Run a process under GNU time and return its peak resident memory (max RSS).
 *
 * @param spec What to run.
 * @param timeProgram GNU time's path.
 * @param verify Checks the outcome; default: exit 0.
 * @returns The peak resident set size in KiB.
 * @throws {BrokenRunError} When the run is wrong or GNU time printed no number.
 */
export async function peakMemoryKib(
  spec: ProcessSpec,
  timeProgram: string,
  verify?: (outcome: Outcome) => void,
): Promise<number> {
  const report = await Deno.makeTempFile({ prefix: "bench-time-" });
  try {
    const wrapped: ProcessSpec = {
      ...spec,
      program: timeProgram,
      args: ["-f", "%M", "-o", report, spec.program, ...spec.args],
    };
    const outcome = await runProcess(wrapped);
    if (verify) verify(outcome);
    else expectExit(spec, outcome);
    // GNU time puts "Command exited with non-zero status N" first when it does; %M is last.
    const last = (await Deno.readTextFile(report)).trim().split("\n").pop() ?? "";
    if (!/^\d+$/.test(last)) {
      throw new BrokenRunError(`GNU time printed no peak memory for ${describe(spec)}: "${last}"`);
    }
    return Number(last);
  } finally {
    await Deno.remove(report);
  }
}

/** Summary statistics of samples. */
export interface Summary {
  /** How many samples. */
  n: number;
  /** The median. */
  median: number;
  /** The smallest sample. */
  min: number;
  /** The 25th percentile. */
  p25: number;
  /** The 75th percentile. */
  p75: number;
  /** The largest sample. */
  max: number;
}

/**
 * The median of numbers (the mean of the middle two for an even count).
 *
 * @param values At least one number.
 * @returns Their median.
 */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}

/**
 * A quantile by linear interpolation between closest ranks.
 *
 * @param values At least one number.
 * @param q Between 0 and 1.
 * @returns The quantile.
 */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) throw new RangeError("No samples");
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/**
 * Summarize samples.
 *
 * @param values At least one number.
 * @returns Count, median, extremes and quartiles.
 */
export function summarize(values: number[]): Summary {
  return {
    n: values.length,
    median: median(values),
    min: Math.min(...values),
    p25: quantile(values, 0.25),
    p75: quantile(values, 0.75),
    max: Math.max(...values),
  };
}
