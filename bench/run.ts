/**
 * The benchmarks of sauce-registry (`deno task bench`), on loopback only, against the local
 * stand-in for the Sauce API and a real `docker-registry` (and a real `dockerd` for logins):
 *
 * - a cached credential-helper `get` under Deno, against `deno run` of an empty module;
 * - a cached `get` of the Bun-compiled binary, against a Go credential helper's start-up
 *   (`docker-credential-ecr-login version`);
 * - a cold `login` (token + `docker login` through the daemon), against the seed's shell recipe;
 * - API requests made by 1, 8, 32 and 64 concurrent `get`s on an empty cache;
 * - peak memory of `get` against the bare runtime; binary and payload sizes.
 *
 * Every figure is the median of `--runs` runs (default 15) after warm-up runs, and every ratio
 * compares two things measured in turns within the same run. The table goes to stdout (and as
 * JSON to `--json PATH`); progress goes to stderr. The exit code is 1 only when a run broke (a
 * command failed, a count came out wrong), never because a goal was missed.
 *
 * @example
 * ```sh
 * deno run -A bench/run.ts --runs 15 --json bench-results.json
 * deno run -A bench/run.ts --only get,memory --cli /tmp/experiment/cli.ts
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_USERS, type StandIn, startStandIn } from "../tests/fixtures/stand_in.ts";
import {
  type Dockerd,
  type Registry,
  requireTool,
  startDockerd,
  startRegistry,
} from "../tests/fixtures/services.ts";
import {
  BrokenRunError,
  type Contender,
  expectExit,
  type Outcome,
  peakMemoryKib,
  type ProcessSpec,
  roundRobin,
  runProcess,
  summarize,
  type Summary,
} from "./measure.ts";

const SECTIONS = ["get", "bun", "memory", "concurrency", "login", "sizes"] as const;
type Section = typeof SECTIONS[number];

const USAGE = `Usage: deno run -A bench/run.ts [--runs N] [--warmup N] [--json PATH] [--cli PATH]
                               [--compare-cli PATH] [--only SECTION,...]

  --runs N        runs per figure, the median is reported (default 15)
  --warmup N      runs before those, not kept (default 3)
  --json PATH     also write the results as JSON to PATH
  --cli PATH      the cli.ts to measure (default: this repository's), e.g. an experiment's copy
  --compare-cli PATH
                  also time this cli.ts (say, the code before a change) in the same turns, for
                  before/after figures of the cached get (Deno and Bun binary) and its memory
  --only LIST     only these sections: ${SECTIONS.join(", ")}
  -h, --help      this help

Exit code: 0 when every run worked (whether or not the goals were met), 1 when a run broke.`;

/** How many `get`s start at once in the concurrency figures. */
const CONCURRENCY = [1, 8, 32, 64];

/** A figure's goal: a ratio not above `maxRatio`, or every sample equal to `every`. */
interface Goal {
  maxRatio?: number;
  every?: number;
}

type Unit = "ms" | "KiB" | "bytes" | "requests";

/** One row of the results table. */
interface Figure {
  id: string;
  figure: string;
  unit: Unit;
  samples: number[];
  baseline?: { label: string; samples: number[] };
  goal?: Goal;
}

/** Where everything lives during a run, and the environment every child gets. */
interface Bench {
  root: string;
  cli: string;
  /** `--compare-cli`: the other cli.ts of before/after figures. */
  compareCli?: string;
  /** The Bun binary built from `compareCli`, under the helper's name. */
  compareBunHelper?: string;
  /** The flags of `deno task compile:bun`, when they differ from the plain build's. */
  shippedFlags?: string[];
  /** The Bun binary built with `shippedFlags`, under the helper's name. */
  shippedBunHelper?: string;
  deno: string;
  bun: string;
  env: Record<string, string>;
  standIn: StandIn;
  registry: Registry;
  /** `127.0.0.1:PORT/bench`: the registry URL the helper is configured for. */
  registryUrl: string;
  /** The password of the token the warm cache holds. */
  cachedSecret: string;
  emptyModule: string;
  loadOnlyModule: string;
  helperWrapper: string;
  bunBinary: string;
  bunHelper: string;
  bunEmpty: string;
  goHelper: string;
  timeProgram: string;
  runs: number;
  warmups: number;
  progress: (line: string) => void;
  /** Where sections put their figures as soon as they have them, so a later failure keeps them. */
  figures: Figure[];
}

const DENO_FLAGS = ["run", "-A", "--no-config"];

function fail(message: string): never {
  throw new BrokenRunError(message);
}

function denoSpec(bench: Bench, args: string[], extra: Partial<ProcessSpec> = {}): ProcessSpec {
  return {
    program: bench.deno,
    args: [...DENO_FLAGS, ...args],
    env: bench.env,
    cwd: bench.root,
    ...extra,
  };
}

/** The credential-helper answer for the registry, checked: exit 0 and the expected JSON. */
function helperSecret(spec: ProcessSpec, outcome: Outcome, host: string): string {
  expectExit(spec, outcome);
  let answer: { ServerURL?: unknown; Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(outcome.stdout);
  } catch {
    fail(`${spec.program} get printed no JSON: "${outcome.stdout.slice(0, 80)}"`);
  }
  if (answer.ServerURL !== host || answer.Username !== "oauth2accesstoken") {
    fail(
      `${spec.program} get answered for ${String(answer.ServerURL)} as ${String(answer.Username)}`,
    );
  }
  if (typeof answer.Secret !== "string" || answer.Secret === "") fail("get gave no Secret");
  return answer.Secret;
}

function host(bench: Bench): string {
  return bench.registry.host;
}

/** Counts token requests between checks. */
interface RequestCounter {
  /** Throw a {@linkcode BrokenRunError} unless exactly `expected` were made since the last check. */
  expect(expected: number, what: string): void;
}

/** Checks that a group of runs asked the token API exactly `expected` times more than before. */
function requestCounter(standIn: StandIn): RequestCounter {
  let last = standIn.tokenRequestCount();
  return {
    expect(expected: number, what: string): void {
      const now = standIn.tokenRequestCount();
      if (now - last !== expected) {
        const made = now - last;
        last = now;
        fail(`${what} made ${made} token request${made === 1 ? "" : "s"}, expected ${expected}`);
      }
      last = now;
    },
  };
}

async function setUp(
  options: { cli: string; compareCli?: string; runs: number; warmups: number },
  progress: (line: string) => void,
  figures: Figure[],
  cleanups: (() => Promise<void>)[],
): Promise<Bench> {
  const root = await Deno.makeTempDir({ prefix: "sauce-bench-" });
  cleanups.push(() => Deno.remove(root, { recursive: true }));
  const home = `${root}/home`;
  for (const dir of [".config", ".cache", ".docker"]) {
    await Deno.mkdir(`${home}/${dir}`, { recursive: true });
  }
  await Deno.mkdir(`${root}/bin`);
  const [username, accessKey] = Object.entries(DEFAULT_USERS)[0];
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    XDG_CONFIG_HOME: `${home}/.config`,
    XDG_CACHE_HOME: `${home}/.cache`,
    DOCKER_CONFIG: `${home}/.docker`,
    // A private, warmed module cache for every Deno child, the empty module's as much as ours.
    DENO_DIR: `${root}/deno-dir`,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    TMPDIR: Deno.env.get("TMPDIR") ?? "/tmp",
    SAUCE_USERNAME: username,
    SAUCE_ACCESS_KEY: accessKey,
  };

  progress("starting the stand-in and docker-registry");
  // Long-lived tokens: the warm cache must stay fresh for the whole run.
  const standIn = await startStandIn({ tokenLifetimeSeconds: 3600 });
  cleanups.push(() => standIn.close());
  const registry = await startRegistry(standIn);
  cleanups.push(() => registry.stop());

  const emptyModule = `${root}/empty.ts`;
  await Deno.writeTextFile(emptyModule, "");
  const loadOnlyModule = `${root}/load_only.ts`;
  // cli.ts runs nothing when it is not the main module: this is the cost of loading it.
  await Deno.writeTextFile(loadOnlyModule, `import ${JSON.stringify(toFileUrl(options.cli))};\n`);

  const bench: Bench = {
    root,
    cli: options.cli,
    compareCli: options.compareCli,
    shippedFlags: await shippedBunFlags(options.cli),
    shippedBunHelper: `${root}/shipped/docker-credential-saucelabs`,
    compareBunHelper: options.compareCli
      ? `${root}/compare/docker-credential-saucelabs`
      : undefined,
    deno: Deno.execPath(),
    bun: requireTool("bun"),
    env,
    standIn,
    registry,
    registryUrl: `${registry.host}/bench`,
    cachedSecret: "",
    emptyModule,
    loadOnlyModule,
    helperWrapper: `${root}/wrapper/docker-credential-saucelabs`,
    bunBinary: `${root}/bin/sauce-registry`,
    bunHelper: `${root}/bin/docker-credential-saucelabs`,
    bunEmpty: `${root}/bin/bun-empty`,
    goHelper: tool("docker-credential-ecr-login", "apt-get install amazon-ecr-credential-helper"),
    timeProgram: tool("/usr/bin/time", "apt-get install time"),
    runs: options.runs,
    warmups: options.warmups,
    progress,
    figures,
  };

  progress("building the Bun binaries (bun build --compile)");
  await bunCompile(bench, bench.cli, bench.bunBinary);
  await bunCompile(bench, emptyModule, bench.bunEmpty);
  await Deno.symlink(bench.bunBinary, bench.bunHelper);
  if (bench.shippedFlags) {
    await Deno.mkdir(`${root}/shipped`);
    await bunCompile(bench, bench.cli, `${root}/shipped/sauce-registry`, bench.shippedFlags);
    await Deno.symlink(`${root}/shipped/sauce-registry`, bench.shippedBunHelper!);
  }
  if (bench.compareCli) {
    await Deno.mkdir(`${root}/compare`);
    await bunCompile(bench, bench.compareCli, `${root}/compare/sauce-registry`);
    await Deno.symlink(`${root}/compare/sauce-registry`, bench.compareBunHelper!);
  }

  progress(`configure-docker ${bench.registryUrl} and install-helper`);
  const configure = denoSpec(bench, [
    bench.cli,
    "configure-docker",
    bench.registryUrl,
    "--api-url",
    standIn.url,
  ]);
  expectExit(configure, await runProcess(configure));
  const install = denoSpec(bench, [bench.cli, "install-helper", "--dir", `${root}/wrapper`]);
  expectExit(install, await runProcess(install));

  // The one cold get that fills the cache every "cached get" figure reads.
  const counter = requestCounter(standIn);
  const prime = denoSpec(bench, [bench.cli, "credential-helper", "get"], { stdin: host(bench) });
  bench.cachedSecret = helperSecret(prime, await runProcess(prime), host(bench));
  counter.expect(1, "the first get");
  return bench;
}

/** A tool's path, or a broken run that says how to install it. */
function tool(name: string, install: string): string {
  try {
    return requireTool(name);
  } catch (error) {
    throw new BrokenRunError(`${name} is not installed: ${install}`, { cause: error });
  }
}

function toFileUrl(path: string): string {
  return new URL(`file://${path.split("/").map(encodeURIComponent).join("/")}`).href;
}

/** The flags of the issue's build; `deno task compile:bun` may add more (see shippedBunFlags). */
const PLAIN_BUN_FLAGS = ["--compile", "--no-compile-autoload-dotenv"];

async function bunCompile(
  bench: Bench,
  entry: string,
  outfile: string,
  flags: string[] = PLAIN_BUN_FLAGS,
): Promise<void> {
  const spec: ProcessSpec = {
    program: bench.bun,
    args: ["build", ...flags, entry, "--outfile", outfile],
    env: bench.env,
    cwd: bench.root,
  };
  expectExit(spec, await runProcess(spec));
}

/**
 * The `bun build` flags of the `compile:bun` task in the deno.json beside the measured cli.ts, so
 * that the binary users get is measured too; undefined when they are the plain build's.
 */
async function shippedBunFlags(cli: string): Promise<string[] | undefined> {
  const configFile = `${cli.replace(/\/[^/]*$/, "")}/deno.json`;
  let task: unknown;
  try {
    task = JSON.parse(await Deno.readTextFile(configFile))?.tasks?.["compile:bun"];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new BrokenRunError(`Cannot read ${configFile}: ${String(error)}`, { cause: error });
  }
  if (typeof task !== "string") return undefined;
  const words = task.trim().split(/\s+/);
  const flags: string[] = [];
  for (let index = words.indexOf("build") + 1; index > 0 && index < words.length; index++) {
    if (words[index] === "--outfile") index++; // and its value
    else if (words[index].startsWith("-")) flags.push(words[index]);
  }
  const same = flags.length === PLAIN_BUN_FLAGS.length &&
    PLAIN_BUN_FLAGS.every((flag) => flags.includes(flag));
  return flags.includes("--compile") && !same ? flags : undefined;
}

/** A cached `get` contender: right answer, and not one request to the API. */
function cachedGet(bench: Bench, name: string, spec: ProcessSpec): Contender {
  const counter = requestCounter(bench.standIn);
  return {
    name,
    spec: { ...spec, stdin: host(bench) },
    verify: (outcome) => {
      const secret = helperSecret(spec, outcome, host(bench));
      if (secret !== bench.cachedSecret) fail(`${name} did not hand out the cached token`);
    },
    after: () => counter.expect(0, `a cached get (${name})`),
  };
}

function plain(
  bench: Bench,
  name: string,
  program: string,
  args: string[],
  verify?: (outcome: Outcome) => void,
): Contender {
  return { name, spec: { program, args, env: bench.env, cwd: bench.root }, verify };
}

/** `docker-credential-ecr-login version`: exit 0 and a version on stdout. */
function goVersion(bench: Bench): Contender {
  return plain(bench, "ecr-login version", bench.goHelper, ["version"], (outcome) => {
    expectExit({ program: bench.goHelper, args: ["version"] }, outcome);
    if (outcome.stdout.trim() === "") fail("docker-credential-ecr-login version printed nothing");
  });
}

async function denoGetFigures(bench: Bench): Promise<void> {
  bench.progress("cached get under Deno, against deno run of an empty module");
  const compare = bench.compareCli
    ? [
      cachedGet(
        bench,
        "compare get",
        denoSpec(bench, [bench.compareCli, "credential-helper", "get"]),
      ),
    ]
    : [];
  const [get, bare, load, wrapper, compared] = await roundRobin(
    [
      cachedGet(bench, "deno get", denoSpec(bench, [bench.cli, "credential-helper", "get"])),
      plain(bench, "deno empty", bench.deno, [...DENO_FLAGS, bench.emptyModule]),
      plain(bench, "deno load", bench.deno, [...DENO_FLAGS, bench.loadOnlyModule]),
      cachedGet(bench, "wrapper get", {
        program: bench.helperWrapper,
        args: ["get"],
        env: bench.env,
        cwd: bench.root,
      }),
      ...compare,
    ],
    bench.runs,
    bench.warmups,
  );
  const baseline = { label: "`deno run` of an empty module", samples: bare };
  if (compared) {
    bench.figures.push({
      id: "deno-get-compare",
      figure: "cached `get`, Deno, `--compare-cli` (before)",
      unit: "ms",
      samples: compared,
      baseline,
    }, {
      id: "deno-get-after-vs-before",
      figure: "cached `get`, Deno, `--cli` (after)",
      unit: "ms",
      samples: get,
      baseline: { label: "the same, `--compare-cli` (before)", samples: compared },
    });
  }
  bench.figures.push(
    {
      id: "deno-get",
      figure: "cached `credential-helper get`, Deno (`deno run -A --no-config cli.ts`)",
      unit: "ms",
      samples: get,
      baseline,
      goal: { maxRatio: 1.5 },
    },
    {
      id: "deno-get-wrapper",
      figure: "cached `get` through install-helper's wrapper (sh + deno: what Docker runs)",
      unit: "ms",
      samples: wrapper,
      baseline,
    },
    {
      id: "deno-load",
      figure: "loading cli.ts and mod.ts under Deno, running nothing",
      unit: "ms",
      samples: load,
      baseline,
    },
  );
}

async function bunGetFigures(bench: Bench): Promise<void> {
  bench.progress("cached get of the Bun binary, against docker-credential-ecr-login version");
  const compare = bench.compareBunHelper
    ? [cachedGet(bench, "compare bun get", {
      program: bench.compareBunHelper,
      args: ["get"],
      env: bench.env,
      cwd: bench.root,
    })]
    : [];
  const shipped = bench.shippedFlags
    ? [cachedGet(bench, "shipped bun get", {
      program: bench.shippedBunHelper!,
      args: ["get"],
      env: bench.env,
      cwd: bench.root,
    })]
    : [];
  const [get, go, bare, ...others] = await roundRobin(
    [
      cachedGet(bench, "bun get", {
        program: bench.bunHelper,
        args: ["get"],
        env: bench.env,
        cwd: bench.root,
      }),
      goVersion(bench),
      plain(bench, "bun empty", bench.bunEmpty, []),
      ...shipped,
      ...compare,
    ],
    bench.runs,
    bench.warmups,
  );
  const goBaseline = {
    label: "Go helper start-up (`docker-credential-ecr-login version`)",
    samples: go,
  };
  const shippedGet = shipped.length > 0 ? others.shift() : undefined;
  const compared = others.shift();
  if (compared) {
    bench.figures.push({
      id: "bun-get-compare",
      figure: "cached `get`, Bun binary built from `--compare-cli` (before)",
      unit: "ms",
      samples: compared,
      baseline: goBaseline,
    }, {
      id: "bun-get-after-vs-before",
      figure: "cached `get`, Bun binary from `--cli` (after)",
      unit: "ms",
      samples: get,
      baseline: { label: "the same, `--compare-cli` (before)", samples: compared },
    });
  }
  bench.figures.push(
    {
      id: "bun-get",
      figure: "cached `get`, Bun-compiled binary (as `docker-credential-saucelabs`)",
      unit: "ms",
      samples: get,
      baseline: goBaseline,
      goal: { maxRatio: 2 },
    },
    ...(shippedGet
      ? [{
        id: "bun-get-shipped",
        figure: `cached \`get\`, Bun binary as \`deno task compile:bun\` builds it (${
          bench.shippedFlags!.filter((flag) => !PLAIN_BUN_FLAGS.includes(flag)).join(" ")
        })`,
        unit: "ms" as const,
        samples: shippedGet,
        baseline: goBaseline,
        goal: { maxRatio: 2 },
      }]
      : []),
    {
      id: "bun-get-vs-bare",
      figure: "cached `get`, Bun-compiled binary",
      unit: "ms",
      samples: get,
      baseline: { label: "Bun-compiled empty module", samples: bare },
    },
    {
      id: "bun-bare",
      figure: "Bun-compiled empty module (the floor of any Bun binary)",
      unit: "ms",
      samples: bare,
      baseline: goBaseline,
    },
  );
}

async function memoryFigures(bench: Bench): Promise<void> {
  bench.progress("peak memory (GNU time %M)");
  const contenders = [
    cachedGet(bench, "deno get", denoSpec(bench, [bench.cli, "credential-helper", "get"])),
    plain(bench, "deno empty", bench.deno, [...DENO_FLAGS, bench.emptyModule]),
    cachedGet(bench, "bun get", {
      program: bench.bunHelper,
      args: ["get"],
      env: bench.env,
      cwd: bench.root,
    }),
    plain(bench, "bun empty", bench.bunEmpty, []),
    goVersion(bench),
  ];
  if (bench.compareCli) {
    contenders.push(
      cachedGet(
        bench,
        "compare get",
        denoSpec(bench, [bench.compareCli, "credential-helper", "get"]),
      ),
      cachedGet(bench, "compare bun get", {
        program: bench.compareBunHelper!,
        args: ["get"],
        env: bench.env,
        cwd: bench.root,
      }),
    );
  }
  const peaks: number[][] = contenders.map(() => []);
  for (let round = 0; round < bench.runs; round++) {
    for (const [index, contender] of contenders.entries()) {
      peaks[index].push(
        await peakMemoryKib(contender.spec, bench.timeProgram, contender.verify),
      );
      contender.after?.();
    }
  }
  const [denoGet, denoBare, bunGet, bunBare, go, compareDeno, compareBun] = peaks;
  if (compareDeno) {
    bench.figures.push({
      id: "deno-get-memory-after-vs-before",
      figure: "peak memory, cached `get`, Deno, `--cli` (after)",
      unit: "KiB",
      samples: denoGet,
      baseline: { label: "the same, `--compare-cli` (before)", samples: compareDeno },
    }, {
      id: "bun-get-memory-after-vs-before",
      figure: "peak memory, cached `get`, Bun binary from `--cli` (after)",
      unit: "KiB",
      samples: bunGet,
      baseline: { label: "the same, `--compare-cli` (before)", samples: compareBun },
    });
  }
  bench.figures.push(
    {
      id: "deno-get-memory",
      figure: "peak memory, cached `get`, Deno",
      unit: "KiB",
      samples: denoGet,
      baseline: { label: "`deno run` of an empty module", samples: denoBare },
    },
    {
      id: "bun-get-memory",
      figure: "peak memory, cached `get`, Bun-compiled binary",
      unit: "KiB",
      samples: bunGet,
      baseline: { label: "Bun-compiled empty module", samples: bunBare },
    },
    {
      id: "go-memory",
      figure: "peak memory, `docker-credential-ecr-login version` (Go)",
      unit: "KiB",
      samples: go,
    },
  );
}

async function concurrencyFigures(bench: Bench): Promise<void> {
  const runners: [string, (concurrency: number) => ProcessSpec][] = [
    ["Deno", () => denoSpec(bench, [bench.cli, "credential-helper", "get"])],
    ["Bun binary", () => ({
      program: bench.bunHelper,
      args: ["get"],
      env: bench.env,
      cwd: bench.root,
    })],
  ];
  const cacheDir = `${bench.env.XDG_CACHE_HOME}/sauce-registry`;
  let wrongCounts = "";
  for (const [runtime, makeSpec] of runners) {
    for (const concurrency of CONCURRENCY) {
      bench.progress(`${concurrency} concurrent gets on a cold cache (${runtime})`);
      const requests: number[] = [];
      const walls: number[] = [];
      for (let round = 0; round < bench.runs; round++) {
        await Deno.remove(cacheDir, { recursive: true }).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
        const before = bench.standIn.tokenRequestCount();
        const spec = { ...makeSpec(concurrency), stdin: host(bench) };
        const started = performance.now();
        const outcomes = await Promise.all(
          Array.from({ length: concurrency }, () => runProcess(spec)),
        );
        walls.push(performance.now() - started);
        const secrets = new Set(
          outcomes.map((outcome) => helperSecret(spec, outcome, host(bench))),
        );
        const made = bench.standIn.tokenRequestCount() - before;
        requests.push(made);
        if (made !== 1 || secrets.size !== 1) {
          wrongCounts ||= `${concurrency} concurrent gets (${runtime}) made ${made} token ` +
            `requests and handed out ${secrets.size} different tokens; expected 1 and 1`;
        }
      }
      bench.figures.push(
        {
          id: `requests-${concurrency}-${runtime === "Deno" ? "deno" : "bun"}`,
          figure: `token requests, ${concurrency} concurrent \`get\`${
            concurrency === 1 ? "" : "s"
          } on a cold cache (${runtime})`,
          unit: "requests",
          samples: requests,
          goal: { every: 1 },
        },
        {
          id: `wall-${concurrency}-${runtime === "Deno" ? "deno" : "bun"}`,
          figure: `wall time until ${
            concurrency === 1 ? "it has" : `all ${concurrency} have`
          } answered (${runtime})`,
          unit: "ms",
          samples: walls,
        },
      );
    }
  }
  // The cached figures after this section need the warm cache back.
  const refill = denoSpec(bench, [bench.cli, "credential-helper", "get"], { stdin: host(bench) });
  bench.cachedSecret = helperSecret(refill, await runProcess(refill), host(bench));
  if (wrongCounts) fail(wrongCounts);
}

async function loginFigures(bench: Bench, dockerd: Dockerd): Promise<void> {
  bench.progress(
    "cold login through dockerd, against the seed's recipe (curl | jq | docker login)",
  );
  const recipe = new URL("./seed_recipe.sh", import.meta.url).pathname;
  const bash = requireTool("bash");
  const counter = requestCounter(bench.standIn);
  const loginEnv = (name: string) => ({
    ...bench.env,
    DOCKER_HOST: dockerd.host,
    DOCKER_CONFIG: `${bench.root}/${name}`,
    SAUCE_API_URL: bench.standIn.url,
    REGISTRY_URL: bench.registryUrl,
    REGISTRY_HOST: host(bench),
  });
  const configs = ["login-deno", "login-bun", "login-recipe"];
  for (const name of configs) await Deno.mkdir(`${bench.root}/${name}`);
  const loginArgs = [
    "login",
    bench.registryUrl,
    "--tool",
    "docker",
    "--api-url",
    bench.standIn.url,
  ];
  const oneRequest = (name: string) => () => counter.expect(1, `a login (${name})`);
  const [deno, bun, seed] = await roundRobin(
    [
      {
        name: "deno login",
        spec: { ...denoSpec(bench, [bench.cli, ...loginArgs]), env: loginEnv("login-deno") },
        after: oneRequest("deno"),
      },
      {
        name: "bun login",
        spec: {
          program: bench.bunBinary,
          args: loginArgs,
          env: loginEnv("login-bun"),
          cwd: bench.root,
        },
        after: oneRequest("bun binary"),
      },
      {
        name: "seed recipe",
        spec: { program: bash, args: [recipe], env: loginEnv("login-recipe"), cwd: bench.root },
        after: oneRequest("seed recipe"),
      },
    ],
    bench.runs,
    bench.warmups,
  );
  for (const name of configs) {
    const config = JSON.parse(await Deno.readTextFile(`${bench.root}/${name}/config.json`));
    if (!config?.auths?.[host(bench)]) {
      fail(`${name}: docker config has no auths for ${host(bench)}`);
    }
  }
  const baseline = { label: "seed recipe: curl | jq | docker login", samples: seed };
  bench.figures.push(
    {
      id: "login-deno",
      figure: "cold `login --tool docker` (token + docker login via dockerd), Deno",
      unit: "ms",
      samples: deno,
      baseline,
      goal: { maxRatio: 1.1 },
    },
    {
      id: "login-bun",
      figure: "cold `login --tool docker`, Bun-compiled binary",
      unit: "ms",
      samples: bun,
      baseline,
    },
  );
}

async function sizeFigures(bench: Bench): Promise<void> {
  bench.progress("sizes");
  const size = async (path: string) => (await Deno.stat(await Deno.realPath(path))).size;
  const bundle = async (minify: boolean) => {
    const outfile = `${bench.root}/bundle${minify ? ".min" : ""}.js`;
    const flags = ["--target=bun", ...(minify ? ["--minify"] : [])];
    const spec: ProcessSpec = {
      program: bench.bun,
      args: ["build", ...flags, bench.cli, "--outfile", outfile],
      env: bench.env,
      cwd: bench.root,
    };
    expectExit(spec, await runProcess(spec));
    return await size(outfile);
  };
  const cliDir = bench.cli.replace(/\/[^/]*$/, "");
  const sources = (await Promise.all(
    (await programSources(cliDir)).map((file) => size(`${cliDir}/${file}`)),
  )).reduce((sum, bytes) => sum + bytes, 0);
  const binary = await size(bench.bunBinary);
  const empty = await size(bench.bunEmpty);
  const emptyBaseline = { label: "Bun-compiled empty module", samples: [empty] };
  const figures: Figure[] = [
    {
      id: "bun-binary-size",
      figure: "Bun-compiled `sauce-registry` binary",
      unit: "bytes",
      samples: [binary],
      baseline: emptyBaseline,
    },
    {
      id: "bun-payload",
      figure: "its embedded payload (binary minus the empty module's binary)",
      unit: "bytes",
      samples: [binary - empty],
    },
  ];
  if (bench.shippedFlags) {
    const shipped = await size(bench.shippedBunHelper!);
    figures.push({
      id: "bun-shipped-size",
      figure: "Bun binary as `deno task compile:bun` builds it",
      unit: "bytes",
      samples: [shipped],
      baseline: emptyBaseline,
    }, {
      id: "bun-shipped-payload",
      figure: "its embedded payload",
      unit: "bytes",
      samples: [shipped - empty],
    });
  }
  figures.push(
    {
      id: "bundle",
      figure: "JS bundle (`bun build --target=bun`)",
      unit: "bytes",
      samples: [await bundle(false)],
    },
    {
      id: "bundle-min",
      figure: "JS bundle, minified (`--minify`)",
      unit: "bytes",
      samples: [await bundle(true)],
    },
    {
      id: "sources",
      figure: "sources: cli.ts, mod.ts, deps.ts and the internal _*.ts",
      unit: "bytes",
      samples: [sources],
    },
    {
      id: "bun-executable-size",
      figure: "the `bun` executable (every Bun binary embeds it)",
      unit: "bytes",
      samples: [await size(bench.bun)],
    },
    {
      id: "deno-executable-size",
      figure: "the `deno` executable (`deno compile` cannot fetch its base here)",
      unit: "bytes",
      samples: [await size(bench.deno)],
    },
    {
      id: "go-binary-size",
      figure: "Go helper binary (`docker-credential-ecr-login`)",
      unit: "bytes",
      samples: [await size(bench.goHelper)],
    },
  );
  bench.figures.push(...figures);
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

function formatValue(value: number, unit: Unit): string {
  switch (unit) {
    case "ms":
      return `${value.toFixed(1)} ms`;
    case "KiB":
      return `${(value / 1024).toFixed(1)} MiB`;
    case "requests":
      return `${Number.isInteger(value) ? value : value.toFixed(1)}`;
    case "bytes":
      return value >= 1024 * 1024
        ? `${(value / (1024 * 1024)).toFixed(1)} MiB`
        : value >= 1024
        ? `${(value / 1024).toFixed(1)} KiB`
        : `${value} B`;
  }
}

interface Row {
  id: string;
  /** For a goal on every run: how many runs met it. */
  runsMeetingGoal?: number;
  figure: string;
  unit: Unit;
  summary: Summary;
  samples: number[];
  baseline?: { label: string; summary: Summary; samples: number[] };
  ratio?: number;
  goal?: string;
  met?: boolean;
}

function toRow(figure: Figure): Row {
  const summary = summarize(figure.samples);
  const baseline = figure.baseline
    ? { ...figure.baseline, summary: summarize(figure.baseline.samples) }
    : undefined;
  const ratio = baseline ? summary.median / baseline.summary.median : undefined;
  let goal: string | undefined;
  let met: boolean | undefined;
  let runsMeetingGoal: number | undefined;
  if (figure.goal?.maxRatio !== undefined && ratio !== undefined) {
    goal = `≤ ${figure.goal.maxRatio}×`;
    met = ratio <= figure.goal.maxRatio;
  } else if (figure.goal?.every !== undefined) {
    const every = figure.goal.every;
    goal = `${every} in every run`;
    runsMeetingGoal = figure.samples.filter((sample) => sample === every).length;
    met = runsMeetingGoal === figure.samples.length;
  }
  return {
    id: figure.id,
    figure: figure.figure,
    unit: figure.unit,
    summary,
    samples: figure.samples,
    baseline,
    ratio,
    goal,
    met,
    runsMeetingGoal,
  };
}

function table(rows: Row[]): string {
  const header = ["figure", "median", "baseline", "baseline median", "ratio", "goal", "met?"];
  const lines = rows.map((row) => {
    let met = "—";
    if (row.met !== undefined) {
      met = row.met ? "yes" : "**no**";
      if (row.runsMeetingGoal !== undefined) {
        met += ` (${row.runsMeetingGoal}/${row.samples.length} runs)`;
      }
    }
    const spread = row.samples.length > 1 && row.unit === "ms"
      ? ` (${row.summary.p25.toFixed(1)}–${row.summary.p75.toFixed(1)})`
      : "";
    return [
      row.figure,
      row.unit === "requests" && row.samples.length > 1
        ? `${formatValue(row.summary.median, row.unit)} (max ${row.summary.max})`
        : `${formatValue(row.summary.median, row.unit)}${spread}`,
      row.baseline?.label ?? "—",
      row.baseline ? formatValue(row.baseline.summary.median, row.unit) : "—",
      row.ratio !== undefined ? `${row.ratio.toFixed(2)}×` : "—",
      row.goal ?? "—",
      met,
    ];
  });
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  return [header, header.map(() => "---"), ...lines]
    .map((cells) => `| ${cells.map(escape).join(" | ")} |`)
    .join("\n");
}

interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  loadAverageAtStart: number[];
  deno: string;
  bun: string;
  docker: string;
  dockerRegistry: string;
  goHelper: string;
}

/** The program's own source files in a folder: cli.ts, mod.ts, deps.ts and the internal `_*.ts`. */
async function programSources(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && /^(_[a-z_]+|cli|mod|deps)\.ts$/.test(entry.name)) names.push(entry.name);
  }
  return names.sort();
}

/** The measured code's commit, "+changes" when one of its source files differs from it. */
async function codeVersion(cli: string): Promise<string> {
  const dir = cli.replace(/\/[^/]*$/, "");
  const git = async (args: string[]) => {
    const output = await new Deno.Command("git", {
      args: ["-C", dir, ...args],
      stdout: "piped",
      stderr: "null",
    })
      .output().catch(() => undefined);
    return output?.success ? new TextDecoder().decode(output.stdout).trim() : undefined;
  };
  const commit = await git(["rev-parse", "--short", "HEAD"]);
  if (!commit) return "not in a git repository";
  const changed = await git(["status", "--porcelain", "--", ...await programSources(dir)]);
  return changed ? `${commit}+changes` : commit;
}

async function machine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const version = async (program: string, args: string[]) => {
    try {
      const output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" })
        .output();
      return new TextDecoder().decode(output.stdout).trim().split("\n")[0];
    } catch {
      return "not installed";
    }
  };
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    memoryGiB:
      Math.round(Number(/^MemTotal:\s*(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024 / 1024 * 10) /
      10,
    kernel: Deno.osRelease(),
    loadAverageAtStart: Deno.loadavg(),
    deno: Deno.version.deno,
    bun: await version("bun", ["--version"]),
    docker: await version("docker", ["--version"]),
    dockerRegistry: await version("docker-registry", ["--version"]),
    goHelper: `docker-credential-ecr-login ${await version("docker-credential-ecr-login", [
      "version",
    ])}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

interface Options {
  runs: number;
  warmups: number;
  json?: string;
  cli: string;
  compareCli?: string;
  only: Section[];
}

function parseOptions(args: string[]): Options | undefined {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string" },
      warmup: { type: "string" },
      json: { type: "string" },
      cli: { type: "string" },
      "compare-cli": { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const count = (value: string | undefined, fallback: number, name: string, min: number) => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min) {
      throw new TypeError(`--${name} expects a whole number of at least ${min}, got "${value}"`);
    }
    return Number(value);
  };
  const only = values.only ? values.only.split(",").map((name) => name.trim()) : [...SECTIONS];
  for (const name of only) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new TypeError(`Unknown section "${name}": expected ${SECTIONS.join(", ")}`);
    }
  }
  const cli = values.cli ?? new URL("../cli.ts", import.meta.url).pathname;
  const absolute = (path: string) => path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  return {
    runs: count(values.runs, 15, "runs", 1),
    warmups: count(values.warmup, 3, "warmup", 0),
    json: values.json,
    cli: absolute(cli),
    compareCli: values["compare-cli"] === undefined ? undefined : absolute(values["compare-cli"]),
    only: only as Section[],
  };
}

async function main(args: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (!options) return 0;
  const started = performance.now();
  const progress = (line: string) =>
    console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}`);
  const about = await machine();
  const code = await codeVersion(options.cli);
  const figures: Figure[] = [];
  const broken: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let dockerdStarting: Promise<Dockerd> | undefined;
  const record = (section: string, error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    broken.push(`${section}: ${message}`);
    console.error(`BROKEN ${section}: ${message}`);
    if (!(error instanceof BrokenRunError) && error instanceof Error && error.stack) {
      console.error(error.stack);
    }
  };
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    cleaning ??= (async () => {
      progress("cleaning up");
      await dockerdStarting?.catch(() => {}); // so that its stop is among the cleanups
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error) => console.error(`cleanup: ${String(error)}`));
      }
    })();
  // Ctrl-C must not leave dockerd and docker-registry running.
  const interrupted = () => void cleanUp().finally(() => Deno.exit(130));
  Deno.addSignalListener("SIGINT", interrupted);
  try {
    const wants = (section: Section) => options.only.includes(section);
    // dockerd takes seconds to come up: start it while the rest is prepared.
    dockerdStarting = wants("login") ? startDockerd() : undefined;
    dockerdStarting?.then((dockerd) => cleanups.push(() => dockerd.stop())).catch(() => {});
    const bench = await setUp(options, progress, figures, cleanups);
    const sections: [Section, () => Promise<void>][] = [
      ["get", () => denoGetFigures(bench)],
      ["bun", () => bunGetFigures(bench)],
      ["memory", () => memoryFigures(bench)],
      ["concurrency", () => concurrencyFigures(bench)],
      ["login", async () => loginFigures(bench, await dockerdStarting!)],
      ["sizes", () => sizeFigures(bench)],
    ];
    for (const [section, measure] of sections) {
      if (!wants(section)) continue;
      try {
        await measure();
      } catch (error) {
        record(section, error);
      }
    }
  } catch (error) {
    record("setup", error);
  } finally {
    await cleanUp();
    Deno.removeSignalListener("SIGINT", interrupted);
  }

  const seconds = (performance.now() - started) / 1000;
  const rows = figures.map(toRow);
  const loadAtEnd = Deno.loadavg();
  console.log(
    `sauce-registry benchmarks: ${options.runs} runs per figure${
      options.runs < 15 ? " (fewer than the 15 the figures call for)" : ""
    }, median (interquartile range in brackets), ${options.warmups} warm-up runs; ` +
      `every ratio compares two things measured in turns in this run\n`,
  );
  console.log(table(rows));
  console.log(
    `\nMachine: ${about.cpus} × ${about.cpuModel}, ${about.memoryGiB} GiB, Linux ${about.kernel}; ` +
      `load average ${about.loadAverageAtStart.map((x) => x.toFixed(2)).join(" ")} at start, ` +
      `${loadAtEnd.map((x) => x.toFixed(2)).join(" ")} at end`,
  );
  console.log(
    `Deno ${about.deno}, Bun ${about.bun}, ${about.docker}, ${about.dockerRegistry}, ${about.goHelper}`,
  );
  console.log(
    `Measured: ${options.cli} (${code})${
      options.compareCli ? `, before/after against ${options.compareCli}` : ""
    }; took ${seconds.toFixed(0)} s`,
  );
  if (broken.length > 0) {
    console.log(`\nBROKEN RUN:\n${broken.map((line) => `- ${line}`).join("\n")}`);
  }
  if (options.json) {
    await Deno.writeTextFile(
      options.json,
      `${
        JSON.stringify(
          {
            date: new Date().toISOString(),
            durationSeconds: Math.round(seconds),
            options: {
              runs: options.runs,
              warmups: options.warmups,
              cli: options.cli,
              code,
              compareCli: options.compareCli,
              only: options.only,
            },
            machine: { ...about, loadAverageAtEnd: loadAtEnd },
            figures: rows,
            broken,
          },
          null,
          2,
        )
      }\n`,
    );
  }
  return broken.length > 0 ? 1 : 0;
}

Deno.exit(await main(Deno.args));
