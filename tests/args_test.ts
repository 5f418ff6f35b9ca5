// The command line's own parser (src/cli/args.ts) against the one it stands in for: Node's parseArgs
// (node:util) in strict mode with positionals allowed, given the command table's real options.
// Node itself answers (Bun's parseArgs words some refusals differently): the same results, and
// the same message for every refusal.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { assert, describe, it } from "./deps.ts";
import { type ArgumentSpec, parseArguments } from "../src/cli/args.ts";
import { allOptions as parserOptions } from "../src/cli/commands.ts";
import { requireNode24 } from "./fixtures/ci_runner.ts";
import { run } from "./fixtures/services.ts";

type Outcome =
  | { values: Record<string, unknown>; positionals: string[] }
  | { error: string };

function ours(args: string[], options: Record<string, ArgumentSpec>): Outcome {
  try {
    const { values, positionals } = parseArguments(args, options);
    return { values: { ...values }, positionals };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** What Node's parseArgs makes of each command line, in one Node process. */
async function nodes(
  cases: string[][],
  options: Record<string, ArgumentSpec>,
): Promise<Outcome[]> {
  const program = `
    const { parseArgs } = require("node:util");
    const { options, cases } = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
    const outcomes = cases.map((args) => {
      try {
        const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
        return { values: { ...values }, positionals };
      } catch (error) {
        return { error: error.message };
      }
    });
    process.stdout.write(JSON.stringify(outcomes));
  `;
  const result = await run(await requireNode24(), ["-e", program], {
    stdin: JSON.stringify({ options, cases }),
    timeoutMs: 60_000,
  });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

function assertSameAsNode(
  cases: string[][],
  expected: Outcome[],
  options: Record<string, ArgumentSpec>,
) {
  assert.equal(expected.length, cases.length);
  cases.forEach((args, index) => {
    assert.deepEqual(ours(args, options), expected[index], JSON.stringify(args));
  });
}

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("the command line's parser", () => {
  const options = parserOptions();
  const strings = Object.keys(options).filter((name) => options[name].type === "string");
  const flags = Object.keys(options).filter((name) => options[name].type === "boolean");
  const shorts = Object.values(options).flatMap((option) => option.short ? [option.short] : []);

  it("knows the table's options, flags and values alike, with their one-letter names", () => {
    // What the generated command lines below draw on: a table without these would test little.
    assert.ok(strings.includes("timeout") && strings.includes("tool"), strings.join(" "));
    assert.ok(flags.includes("json") && flags.includes("help"), flags.join(" "));
    assert.equal(options.registry.multiple, true);
    assert.deepEqual(shorts.sort(), ["V", "h"]);
  });

  it("answers as Node's parseArgs does, for hand-picked command lines", async () => {
    const cases: string[][] = [
      [],
      ["token", "127.0.0.1:5000"],
      ["token", "--format", "env", "--timeout=30", "reg"],
      ["login", "reg", "--tool", "podman", "--tool-arg", "--tls-verify=false"],
      ["login", "reg", "--tool-arg=--tls-verify=false"],
      ["--json", "--json", "token"],
      ["--registry", "a", "--registry=b", "configure-docker"],
      ["-hV"],
      ["-h=1"],
      ["-hx"],
      ["-x"],
      ["--foo"],
      ["--foo=1"],
      ["--=x"],
      ["---x"],
      ["-"],
      ["--timeout"],
      ["--timeout", "-5"],
      ["--timeout", "-"],
      ["--timeout=-5"],
      ["--timeout="],
      ["--json=1"],
      ["--help="],
      ["a", "--", "--b", "-h"],
      ["--toString"],
      ["--__proto__"],
      ["--constructor=1"],
      ["--hasOwnProperty", "x"],
    ];
    assertSameAsNode(cases, await nodes(cases, options), options);
  });

  /** `count` command lines drawn from a table's option names and some that are not in it. */
  function generated(table: Record<string, ArgumentSpec>, count: number, seed: number) {
    const names = Object.keys(table);
    const strings = names.filter((name) => table[name].type === "string");
    const flags = names.filter((name) => table[name].type === "boolean");
    const shorts = names.flatMap((name) => table[name].short ? [table[name].short!] : []);
    const next = random(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
    const words = [
      () => `--${pick(strings)}`,
      () => `--${pick(flags)}`,
      () => `--${pick(strings)}=${pick(["", "x", "-5", "=", "a=b"])}`,
      () => `--${pick(flags)}=${pick(["", "1"])}`,
      () => `-${pick(shorts)}`,
      () => `-${pick(shorts)}${pick(shorts)}${pick(["", "-x", "=v", ...shorts])}`,
      () => `-${pick([...shorts, "x", "=", "-"])}${pick(["", "v", "=1", "-x"])}`,
      () => `--${pick(["nope", "t", "Help", "", "-"])}`,
      () => pick(["--", "-", "token", "login", "reg:5000/x", "-5", "", "=", "--="]),
    ];
    return Array.from(
      { length: count },
      () => Array.from({ length: Math.floor(next() * 6) }, () => pick(words)()),
    );
  }

  /** A table of the kinds the command table lacks: one-letter names for values and lists. */
  const shortValues: Record<string, ArgumentSpec> = {
    tool: { type: "string", short: "t" },
    registry: { type: "string", short: "r", multiple: true },
    help: { type: "boolean", short: "h" },
    verbose: { type: "boolean", short: "v" },
    json: { type: "boolean" },
  };

  for (
    const [what, table, seed] of [
      ["the command table's options", options, 20261202],
      ["one-letter names for values and lists", shortValues, 1202],
    ] as const
  ) {
    it(`answers as Node's parseArgs does, for 3000 generated command lines (${what})`, async () => {
      const cases = generated(table, 3000, seed);
      const expected = await nodes(cases, table);
      assertSameAsNode(cases, expected, table);
      // Both kinds of outcome were exercised.
      const refused = expected.filter((outcome) => "error" in outcome).length;
      assert.ok(refused > 300 && refused < 2700, `${refused} of 3000 refused`);
    });
  }

  it("shares no state between calls, and reads only the options' own names", () => {
    const first = parseArguments(["--registry", "a"], options);
    const second = parseArguments(["--registry", "b"], options);
    assert.deepEqual(first.values.registry, ["a"]);
    assert.deepEqual(second.values.registry, ["b"]);
    assert.equal(Object.getPrototypeOf(first.values), null);
  });
});
