// The documentation (issue 20): README.md stays short; the command reference and the man page are
// what the command table generates, so `--help`, completions and docs cannot drift apart; the man
// page renders without a warning; every relative link between the docs reaches a file and a
// heading; and every shell, transcript and TypeScript example marked runnable runs against the
// local stand-in, so a renamed flag breaks the build, not the user.
//
// Examples run as a user would run them: as an unprivileged user (nobody, when the tests run as
// root), in a fresh home and folder (this checkout's, for a block marked `in-checkout`), with
// `sauce-registry` on PATH running this checkout's cli.ts under the runtime that runs the tests,
// deno and bun on PATH, recording stand-ins for docker, podman, skopeo, buildah, kubectl and the
// other tools, and this environment: SAUCE_USERNAME, SAUCE_ACCESS_KEY and SAUCE_API_URL for the
// stand-in's user alice; EU_KEY, the access key of its second user, eu-user; and a proxy that
// leads nowhere, so that nothing outside loopback is reached.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { describeResult } from "./fixtures/common.ts";
import { cliCommand, NOBODY, ROOT } from "./fixtures/harness.ts";
import { makeArgvRecorderShim, requireTool, run, type RunResult } from "./fixtures/services.ts";
import { type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { COMMANDS } from "../src/cli/commands.ts";
import { ENVIRONMENT, EXIT_CODES, mainHelp } from "../src/cli/help.ts";
import {
  commandReference,
  headingSlug,
  manPage,
  readmeWithExitCodes,
  REFERENCE_FILES,
} from "../src/cli/reference.ts";
import { AuthenticationError, TimeoutError, UsageError } from "../src/errors.ts";
import { TOOLS } from "../src/login.ts";
import { VERSION } from "../src/version.ts";

const README_LIMIT = 20 * 1024;
const BENCHMARKS_LIMIT = 10 * 1024;
/** The tools examples may run, each a recording stand-in that answers "Login Succeeded". */
const TOOL_SHIMS = [...TOOLS, "kubectl"];
const ALICE_KEY = "alice-access-key-0123456789";
const EU_KEY = "eu-user-access-key-9876543210";

/** The documentation the tests read: README.md, CONTRIBUTING.md, BENCHMARKS.md and docs/*.md. */
async function documents(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, "docs"))).filter((name) => name.endsWith(".md"))
    .map((name) => join("docs", name));
  return ["README.md", "CONTRIBUTING.md", "BENCHMARKS.md", ...docs.sort()];
}

/** A fenced block of a Markdown file. */
interface Fence {
  file: string;
  /** The line of the opening fence, from 1. */
  line: number;
  /** The info string's first word (`sh`, `console`, `ts`, …). */
  language: string;
  /** The rest of the info string (`runnable`, …). */
  attributes: string[];
  /** The nearest non-blank line before the fence. */
  before: string;
  code: string;
}

/** A Markdown file's fenced blocks, and its lines outside them. */
function parseMarkdown(file: string, text: string): { fences: Fence[]; prose: string[] } {
  const fences: Fence[] = [];
  const prose: string[] = [];
  const lines = text.split("\n");
  let open: { marker: string; fence: Fence; body: string[] } | undefined;
  let before = "";
  lines.forEach((line, index) => {
    if (open) {
      if (
        line.trim().startsWith(open.marker) && line.trim().replaceAll(open.marker[0], "") === ""
      ) {
        open.fence.code = open.body.join("\n");
        fences.push(open.fence);
        open = undefined;
      } else {
        open.body.push(line.startsWith("   ") ? line.replace(/^ {0,3}/, "") : line);
      }
      return;
    }
    const opening = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/.exec(line);
    if (opening) {
      const [language, ...rest] = [opening[2], ...opening[3].split(/\s+/).filter(Boolean)];
      open = {
        marker: opening[1],
        fence: { file, line: index + 1, language, attributes: rest, before, code: "" },
        body: [],
      };
      return;
    }
    prose.push(line);
    if (line.trim() !== "") before = line.trim();
  });
  assert.equal(open, undefined, `${file}: a fence opened on line ${open?.fence.line} never closes`);
  return { fences, prose };
}

/** The anchors of a Markdown file's headings, as GitHub makes them (repeats get -1, -2, …). */
function anchors(prose: string[]): Set<string> {
  const seen = new Map<string, number>();
  const all = new Set<string>();
  for (const line of prose) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (!heading) continue;
    const text = heading[1].replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const slug = headingSlug(text);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    all.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return all;
}

/** The inline links of prose lines, outside code spans. */
function links(prose: string[]): string[] {
  const text = prose.join("\n").replace(/(`+)[\s\S]*?\1/g, "");
  return [...text.matchAll(/\[(?:[^\]]|\n)*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)]
    .map((match) => match[1]);
}

describe("README.md and BENCHMARKS.md", () => {
  it(`are at most ${README_LIMIT / 1024} KB and ${BENCHMARKS_LIMIT / 1024} KB`, async () => {
    const readme = (await stat(join(ROOT, "README.md"))).size;
    assert.ok(readme <= README_LIMIT, `README.md is ${readme} bytes`);
    const benchmarks = (await stat(join(ROOT, "BENCHMARKS.md"))).size;
    assert.ok(benchmarks <= BENCHMARKS_LIMIT, `BENCHMARKS.md is ${benchmarks} bytes`);
  });
});

describe("CONTRIBUTING.md", () => {
  it("maps every source file and names every test file", async () => {
    const text = await readFile(join(ROOT, "CONTRIBUTING.md"), "utf8");
    const sources = async (dir: string): Promise<string[]> => {
      const found: string[] = [];
      for (const entry of await readdir(join(ROOT, dir), { withFileTypes: true })) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) found.push(...await sources(path));
        else if (entry.name.endsWith(".ts")) found.push(path);
      }
      return found;
    };
    const tests = (await readdir(join(ROOT, "tests"))).filter((name) => name.endsWith("_test.ts"));
    const missing = [...await sources("src"), ...tests].filter((name) =>
      !text.includes(`\`${name}\``)
    );
    assert.deepEqual(missing, []);
    assert.ok(tests.length > 30 && text.includes("`src/api.ts`"));
  });
});

describe("the demo, README's first command", () => {
  it("runs the real command against its own stand-in", { timeout: 120_000 }, async () => {
    const result = await run(requireTool("deno"), ["task", "demo"], {
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      cwd: ROOT,
      timeoutMs: 110_000,
    });
    assert.equal(result.code, 0, describeResult(result));
    assert.match(
      result.stdout,
      /\$ sauce-registry token --registry .*\n\{"username":"oauth2accesstoken"/,
    );
    assert.match(result.stdout, /Done\.\n$/);
  });
});

describe("the command reference", () => {
  it("is what the command table generates: docs/commands.md, the man page, README's exit codes", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    for (
      const [file, text] of [
        [REFERENCE_FILES.markdown, commandReference(COMMANDS, VERSION)],
        [REFERENCE_FILES.man, manPage(COMMANDS, VERSION)],
        ["README.md", readmeWithExitCodes(readme)],
      ]
    ) {
      const lines = (await readFile(join(ROOT, file), "utf8")).split("\n");
      const wanted = text.split("\n");
      const differs = wanted.findIndex((line, index) => lines[index] !== line);
      const at = differs < 0 ? wanted.length : differs;
      assert.ok(
        differs < 0 && lines.length === wanted.length,
        `${file} differs from what src/cli/ generates (run deno task docs): line ${at + 1} is\n` +
          `${lines[at]}\nand should be\n${wanted[at]}`,
      );
    }
  });

  it("has every command, option, environment variable and exit code", async () => {
    const markdown = await readFile(join(ROOT, REFERENCE_FILES.markdown), "utf8");
    const man = await readFile(join(ROOT, REFERENCE_FILES.man), "utf8");
    const roff = (text: string) => text.replaceAll("-", "\\-");
    for (const command of COMMANDS) {
      assert.match(markdown, new RegExp(`^### ${command.name}$`, "m"));
      assert.match(man, new RegExp(`^\\.SS ${roff(command.name).replaceAll("\\", "\\\\")}$`, "m"));
      for (const option of command.options) {
        assert.ok(markdown.includes(`\`--${option.name}`), `--${option.name} of ${command.name}`);
        assert.ok(man.includes(`\\-\\-${roff(option.name)}`), `--${option.name} in the man page`);
      }
    }
    for (const variable of ENVIRONMENT) {
      assert.ok(markdown.includes(`\`${variable.name}\``), variable.name);
      assert.ok(man.includes(`.B ${variable.name}`), variable.name);
    }
    for (const exit of EXIT_CODES) {
      assert.ok(markdown.includes(`- \`${exit.code}\`: `), exit.code);
      assert.ok(man.includes(`.B ${exit.code}\n`), exit.code);
    }
  });

  it("gives the exit codes the errors carry, and --help shows them from the same table", () => {
    const codes = EXIT_CODES.map((exit) => exit.code);
    for (
      const error of [
        new UsageError("x"),
        new AuthenticationError("x", { status: 401 }),
        new TimeoutError("x"),
      ]
    ) {
      assert.ok(codes.includes(String(error.exitCode)), `${error.name}: ${error.exitCode}`);
    }
    const help = mainHelp(COMMANDS, VERSION).replaceAll("\n", " ");
    for (const exit of EXIT_CODES) assert.ok(help.includes(exit.brief), exit.brief);
    for (const variable of ENVIRONMENT) assert.ok(help.includes(variable.name), variable.name);
  });

  it("lists every environment variable the program reads", async () => {
    const documented = ENVIRONMENT.map((variable) => `${variable.name} ${variable.meaning}`)
      .join(" ");
    const sources: string[] = [];
    const walk = async (folder: string) => {
      for (const entry of await readdir(folder, { withFileTypes: true })) {
        const path = join(folder, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.name.endsWith(".ts")) sources.push(await readFile(path, "utf8"));
      }
    };
    await walk(join(ROOT, "src"));
    const read = new Set(
      sources.flatMap((text) => [...text.matchAll(/\benv\("([A-Z][A-Z0-9_]*)"/g)])
        .map((match) => match[1]),
    );
    assert.ok(read.has("SAUCE_REGISTRY_TIMEOUT") && read.has("XDG_CACHE_HOME"), [...read].join());
    for (const name of read) {
      assert.match(documented, new RegExp(`\\b${name}\\b`), `${name} is read but not documented`);
    }
  });

  it("renders as a man page without a warning (groff -ww) and with man -l", async () => {
    const page = join(ROOT, REFERENCE_FILES.man);
    // As the issue checks it (groff -ww -z, the page loading the man macros itself), and as man
    // runs it, for each kind of output.
    for (const args of [[], ["-man", "-Tutf8"], ["-man", "-Tascii"], ["-man", "-Tps"]]) {
      const result = await run(requireTool("groff"), ["-ww", "-z", ...args, page]);
      assert.equal(result.code, 0, describeResult(result));
      assert.equal(result.stderr, "", `groff -ww -z ${args.join(" ")}: ${result.stderr}`);
    }
    const shown = await run(requireTool("man"), ["--warnings", "-l", page], {
      env: { MANPAGER: "cat", PAGER: "cat", MANWIDTH: "100", LANG: "C.UTF-8" },
    });
    assert.equal(shown.code, 0, describeResult(shown));
    assert.equal(shown.stderr, "");
    for (const heading of ["NAME", "SYNOPSIS", "COMMANDS", "ENVIRONMENT", "EXIT STATUS"]) {
      assert.match(shown.stdout, new RegExp(`^${heading}$`, "m"));
    }
    for (const command of COMMANDS) {
      assert.match(shown.stdout, new RegExp(`^ +${command.name}$`, "m"));
    }
  });
});

describe("links between the docs", () => {
  it("lead to a file that exists and, with an anchor, to a heading of it", async () => {
    const parsed = new Map<string, ReturnType<typeof parseMarkdown>>();
    const read = async (file: string) => {
      if (!parsed.has(file)) {
        parsed.set(file, parseMarkdown(file, await readFile(join(ROOT, file), "utf8")));
      }
      return parsed.get(file)!;
    };
    const broken: string[] = [];
    let checked = 0;
    for (const file of await documents()) {
      for (const target of links((await read(file)).prose)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …
        checked++;
        const [path, anchor] = target.split("#", 2);
        const resolved = path === "" ? file : relative(ROOT, join(ROOT, dirname(file), path));
        if (resolved.startsWith("..")) {
          broken.push(`${file}: ${target} leaves the repository`);
          continue;
        }
        const info = await stat(join(ROOT, resolved)).catch(() => undefined);
        if (!info) {
          broken.push(`${file}: ${target}: no file ${resolved}`);
          continue;
        }
        if (anchor === undefined) continue;
        if (!resolved.endsWith(".md")) {
          broken.push(`${file}: ${target}: an anchor into a file that is not Markdown`);
          continue;
        }
        if (!anchors((await read(resolved)).prose).has(anchor)) {
          broken.push(`${file}: ${target}: ${resolved} has no heading #${anchor}`);
        }
      }
    }
    assert.deepEqual(broken, []);
    assert.ok(checked > 50, `only ${checked} relative links`);
  });

  it("lead only to files the package published to JSR holds, so they work there too", async () => {
    const config = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    const include: string[] = config.publish.include;
    const published = (path: string) =>
      include.some((entry) => entry.endsWith("/") ? `${path}/`.startsWith(entry) : path === entry);
    const outside: string[] = [];
    let checked = 0;
    for (const file of await documents()) {
      if (!published(file)) continue;
      for (
        const target of links(parseMarkdown(file, await readFile(join(ROOT, file), "utf8")).prose)
      ) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const path = target.split("#", 1)[0];
        if (path === "") continue;
        checked++;
        const resolved = relative(ROOT, join(ROOT, dirname(file), path));
        if (!published(resolved)) outside.push(`${file}: ${target} (${resolved} is not published)`);
      }
    }
    assert.deepEqual(outside, []);
    assert.ok(checked > 50, `only ${checked} links`);
    assert.ok(published("README.md") && published("docs/ci.md"), "README and docs/ are published");
  });

  it("finds headings the way GitHub names them", () => {
    const prose = [
      "# Install",
      "## The credential helper",
      "## login — log a tool in",
      "# Install",
    ];
    assert.deepEqual([...anchors(prose)], [
      "install",
      "the-credential-helper",
      "login--log-a-tool-in",
      "install-1",
    ]);
    assert.equal(headingSlug("Releases and `SHA256SUMS`"), "releases-and-sha256sums");
    assert.equal(headingSlug("What .env does (and doesn't)"), "what-env-does-and-doesnt");
  });
});

/** A runnable example and what it needs. */
interface Example extends Fence {
  kind: "script" | "transcript" | "typescript";
}

/** Every `sh`, `console` and `ts` block is runnable, or says why not in a comment before it. */
async function examples(): Promise<{ runnable: Example[]; unexplained: string[] }> {
  const runnable: Example[] = [];
  const unexplained: string[] = [];
  for (const file of await documents()) {
    const { fences } = parseMarkdown(file, await readFile(join(ROOT, file), "utf8"));
    for (const fence of fences) {
      const kind =
        ({ sh: "script", bash: "script", console: "transcript", ts: "typescript" } as const)[
          fence.language as "sh"
        ];
      if (!kind) continue;
      if (fence.attributes.includes("runnable")) runnable.push({ ...fence, kind });
      else if (!/^<!-- not runnable: .+ -->$/.test(fence.before)) {
        unexplained.push(`${fence.file}:${fence.line}`);
      }
    }
  }
  return { runnable, unexplained };
}

/**
 * A transcript's commands (`$ ` lines, continued by `> ` lines or a trailing `\`) and the output
 * each shows, where `…` stands for any text.
 */
function transcript(code: string): { command: string; expected: string[] }[] {
  const steps: { command: string; expected: string[] }[] = [];
  const lines = code.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    if (line.startsWith("$ ")) {
      let command = line.slice(2);
      while (command.endsWith("\\") && index + 1 < lines.length) {
        command = `${command}\n${lines[++index]}`;
      }
      steps.push({ command, expected: [] });
    } else if (line.startsWith("> ") && steps.at(-1)?.expected.length === 0) {
      steps[steps.length - 1].command += `\n${line.slice(2)}`;
    } else {
      assert.ok(steps.length > 0, `a transcript starts with a "$ " line: ${line}`);
      steps[steps.length - 1].expected.push(line);
    }
  }
  return steps;
}

function matchesShown(actual: string, shown: string): boolean {
  const pattern = shown.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${pattern}$`).test(actual);
}

describe("the runnable examples", () => {
  let standIn: StandIn;
  let work: string;
  let denoDir: string;
  let counter = 0;
  const asNobody = process.getuid?.() === 0;

  before(async () => {
    standIn = await startStandIn({ users: { alice: ALICE_KEY, "eu-user": EU_KEY } });
    work = await mkdtemp(join(tmpdir(), "sr-docs-"));
    denoDir = join(work, "deno-dir");
    await mkdir(denoDir);
    if (asNobody) {
      await chown(work, NOBODY, NOBODY);
      await chown(denoDir, NOBODY, NOBODY);
    }
  });

  after(async () => {
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A fresh home with the tools on PATH, owned by the user examples run as. */
  async function sandbox(): Promise<{ dir: string; env: Record<string, string> }> {
    const dir = join(work, `example-${++counter}`);
    const bin = join(dir, "bin");
    const home = join(dir, "home");
    for (const folder of [bin, home, join(dir, "run"), join(dir, "tmp"), join(dir, "cwd")]) {
      await mkdir(folder, { recursive: true });
    }
    const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
    await writeFile(
      join(bin, "sauce-registry"),
      `#!/bin/sh\nexec ${cliCommand().map(quote).join(" ")} "$@"\n`,
      { mode: 0o755 },
    );
    for (const tool of TOOL_SHIMS) {
      await makeArgvRecorderShim(bin, tool, null, { stdout: tool === "kubectl" ? "" : undefined });
    }
    if (asNobody) await chownTree(dir);
    const env: Record<string, string> = {
      PATH: [
        bin,
        join(home, ".local", "bin"),
        join(home, ".deno", "bin"),
        dirname(requireTool("deno")),
        dirname(requireTool("bun")),
        "/usr/local/bin:/usr/bin:/bin",
      ].join(":"),
      HOME: home,
      XDG_RUNTIME_DIR: join(dir, "run"),
      TMPDIR: join(dir, "tmp"),
      LANG: "C.UTF-8",
      NO_COLOR: "1",
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: ALICE_KEY,
      SAUCE_API_URL: standIn.url,
      SAUCE_REGISTRY_RETRY_DELAY_MS: "50",
      EU_KEY,
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
    };
    return { dir, env };
  }

  async function chownTree(path: string): Promise<void> {
    await chown(path, NOBODY, NOBODY);
    if (!(await stat(path)).isDirectory()) return;
    for (const entry of await readdir(path)) await chownTree(join(path, entry));
  }

  /** Runs a program as the examples' user, in the sandbox (or in `cwd`). */
  function runAs(
    box: { dir: string; env: Record<string, string> },
    program: string,
    args: string[],
    cwd = join(box.dir, "cwd"),
  ): Promise<RunResult> {
    const [command, ...rest] = asNobody
      ? [
        requireTool("setpriv"),
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        program,
        ...args,
      ]
      : [program, ...args];
    return run(command, rest, {
      env: box.env,
      inheritEnv: false,
      cwd,
      timeoutMs: 120_000,
    });
  }

  async function runExample(example: Example): Promise<string | undefined> {
    const where = `${example.file}:${example.line}`;
    const box = await sandbox();
    const file = join(box.dir, `example.${example.kind === "typescript" ? "ts" : "sh"}`);
    if (example.kind === "script") {
      await writeFile(file, `set -eo pipefail\n${example.code}\n`);
      if (asNobody) await chown(file, NOBODY, NOBODY);
      // `in-checkout`: run in this repository's folder, as the examples of running cli.ts are.
      const cwd = example.attributes.includes("in-checkout") ? ROOT : undefined;
      const result = await runAs(box, requireTool("bash"), [file], cwd);
      return result.code === 0 ? undefined : `${where}: ${describeResult(result)}`;
    }
    if (example.kind === "typescript") {
      const code = example.code.replace(
        /"https:\/\/[^"]*\/mod\.ts"/g,
        JSON.stringify(join(ROOT, "mod.ts")),
      );
      await writeFile(file, code);
      if (asNobody) await chown(file, NOBODY, NOBODY);
      const [program, ...first] = cliCommand();
      const result = await runAs(box, program, [...first.slice(0, -1), file]);
      return result.code === 0 ? undefined : `${where}: ${describeResult(result)}`;
    }
    const steps = transcript(example.code);
    const script = steps.map((step, index) =>
      `printf '\\n@@step ${index}@@\\n'\n{ ${step.command}\n} 2>&1`
    ).join("\n");
    await writeFile(file, `${script}\n`);
    if (asNobody) await chown(file, NOBODY, NOBODY);
    const result = await runAs(box, requireTool("bash"), [file]);
    const shown = result.stdout.split(/\n@@step \d+@@\n/).slice(1);
    const problems: string[] = [];
    steps.forEach((step, index) => {
      const lines = (text: string[]) => text.length === 1 && text[0] === "" ? [] : text;
      const actual = lines((shown[index] ?? "").replace(/\n$/, "").split("\n"));
      const expected = lines(step.expected);
      const same = actual.length === expected.length &&
        actual.every((line, at) => matchesShown(line, expected[at]));
      if (!same) {
        problems.push(
          `$ ${step.command}\nexpected:\n${expected.join("\n")}\ngot:\n${actual.join("\n")}`,
        );
      }
    });
    return problems.length === 0
      ? undefined
      : `${where}:\n${problems.join("\n")}\n${result.stderr}`;
  }

  it("are marked, or say why they cannot run", async () => {
    const { runnable, unexplained } = await examples();
    assert.deepEqual(unexplained, [], "mark each runnable, or explain: <!-- not runnable: why -->");
    assert.ok(runnable.length >= 20, `only ${runnable.length} runnable examples`);
  });

  it("transcripts compare what each command shows, … standing for anything", () => {
    assert.deepEqual(transcript("$ a \\\n  b\nout …\n$ c |\n>   d"), [
      { command: "a \\\n  b", expected: ["out …"] },
      { command: "c |\n  d", expected: [] },
    ]);
    assert.ok(matchesShown('{"password":"x1y2","n":1}', '{"password":"…","n":1}'));
    assert.ok(!matchesShown("exit 2", "exit 3"));
  });

  it("run against the stand-in, each in a fresh home", { timeout: 900_000 }, async () => {
    const [runtimeProgram] = cliCommand();
    const reachable = await runAs(await sandbox(), requireTool("sh"), [
      "-c",
      'test -r "$1" && test -x "$2"',
      "sh",
      join(ROOT, "cli.ts"),
      runtimeProgram,
    ]);
    assert.equal(
      reachable.code,
      0,
      `the examples run as user ${NOBODY}, who cannot read ${ROOT} or run ${runtimeProgram}: ` +
        "let others read and enter the checkout's folders and the runtime's",
    );
    const { runnable } = await examples();
    const failures: string[] = [];
    for (const example of runnable) {
      const failure = await runExample(example);
      if (failure) failures.push(failure);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${runnable.length} examples failed`);
  });
});
