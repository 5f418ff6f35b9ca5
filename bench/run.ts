/**
 * The benchmarks of sauce-registry (`deno task bench`), on loopback only, against the local
 * stand-in for the Sauce API and a real `docker-registry` (and a real `dockerd` for logins):
 *
 * - a cached credential-helper `get` under Deno, against `deno run` of an empty module;
 * - a cached `get` of the Bun binary as `deno task compile:bun` builds it, against a Go credential
 *   helper's start-up (`docker-credential-ecr-login version`); the Google Cloud CLI's
 *   `docker-credential-gcloud` (a Python program), when installed, in turns with the Go helper;
 * - a cached `kubelet-credential-provider` answer, both ways, configured as
 *   examples/kubernetes/credential-provider-config.yaml does, against the same baselines;
 * - peak memory of a cached `get` against the bare runtime's;
 * - API requests made by 1, 8, 32 and 64 concurrent `get`s on an empty cache;
 * - a cold `login` (token + `docker login`), against the seed's shell recipe;
 * - binary, payload and bundle sizes;
 * - the Bun binary built with and without `--minify` and `--bytecode`: cached `get` and size.
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
import { DENO_HELPER_FLAGS } from "../src/install_helper.ts";
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
  describe,
  expectExit,
  type Outcome,
  peakMemoryKib,
  type ProcessSpec,
  quantile,
  roundRobin,
  runProcess,
  summarize,
  type Summary,
} from "./measure.ts";

const SECTIONS = [
  "get",
  "bun",
  "memory",
  "concurrency",
  "renewal",
  "login",
  "sizes",
  "variants",
] as const;
type Section = typeof SECTIONS[number];

const USAGE = `Usage: deno run -A bench/run.ts [--runs N] [--warmup N] [--json PATH | --save]
                               [--cli PATH] [--compare-cli PATH] [--only SECTION,...]

  --runs N        runs per figure, the median is reported (default 15)
  --warmup N      runs before those, not kept (default 3)
  --json PATH     also write the results as JSON to PATH
  --save          write them to bench/results/<date>.json, the benchmarks' history
  --cli PATH      the cli.ts to measure (default: this repository's), e.g. an experiment's copy;
                  the compile:bun task of the deno.json beside it says how to build the binary
  --compare-cli PATH
                  also time this cli.ts (say, the code before a change) in the same turns, for
                  before/after figures of the cached get (Deno and Bun binary) and its memory
  --only LIST     only these sections: ${SECTIONS.join(", ")}
  -h, --help      this help

Exit code: 0 when every run worked (whether or not the goals were met), 1 when a run broke.`;

/** How many `get`s start at once in the concurrency figures. */
const CONCURRENCY = [1, 8, 32, 64];

/** The renewal figures: this many `get`s at once on a cache whose token is due, in namespaces. */
const RENEWAL_GETS = 200;
const RENEWAL_NAMESPACES = 8;

/** The goals of issues 13 and 21 (and the login's): the most a median may be, over its baseline's. */
const GOAL = {
  /** A cached `get` or provider answer of the Bun binary, over the Go helper's start-up. */
  bunStart: 1.5,
  /** The same, over an empty module built into a Bun binary the same way. */
  bunEmpty: 1.3,
  /**
   * A cached `get` or provider answer under Deno run as install-helper's wrapper runs it, over
   * `deno run` of an empty module with the same flags.
   */
  denoStart: 1.25,
  /** Peak memory of a cached `get` or provider answer, over the bare runtime's. */
  memory: 1.25,
  /** A cold login, over the seed's shell recipe. */
  login: 1.1,
};

/** The name under which the program is the Docker credential helper. */
const HELPER_NAME = "docker-credential-saucelabs";

/** The provider API version of the kubelet's requests in the figures (the example's). */
const PROVIDER_API_VERSION = "credentialprovider.kubelet.k8s.io/v1";

/**
 * gcloud's settings in the bench: no probe for the GCE metadata server (a DNS look-up of
 * metadata.google.internal, off loopback) and no usage reports.
 */
const GCLOUD_ENV = {
  CLOUDSDK_CORE_CHECK_GCE_METADATA: "false",
  CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: "true",
};

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
  /** Empty when the figure could not be taken; `note` then says why. */
  samples: number[];
  note?: string;
  baseline?: { label: string; samples: number[] };
  goal?: Goal;
}

/** A `bun build --compile` of the program: its flags and its entry module. */
interface BunBuild {
  flags: string[];
  /** The entry module's absolute path. */
  entry: string;
}

/** The kubelet credential provider, set up as examples/kubernetes does. */
interface Provider {
  /** What the kubelet passes it: the example's `args`. */
  args: string[];
  /** The kubelet's environment (no HOME, as systemd starts it) plus the example's `env`. */
  env: Record<string, string>;
  /** The CredentialProviderRequest on stdin, for an image of the served registry. */
  request: string;
  /** The password of the token its warm cache holds. */
  cachedSecret: string;
}

/** Where everything lives during a run, and the environment every child gets. */
interface Bench {
  root: string;
  cli: string;
  /** `--compare-cli`: the other cli.ts of before/after figures. */
  compareCli?: string;
  /** The Bun binary built from `compareCli` (by its own compile:bun task), as the helper. */
  compareBunHelper?: string;
  /** How `deno task compile:bun` builds the measured binary. */
  bunBuild: BunBuild;
  deno: string;
  bun: string;
  env: Record<string, string>;
  standIn: StandIn;
  registry: Registry;
  /** `127.0.0.1:PORT/bench`: the registry URL the helper is configured for. */
  registryUrl: string;
  /** The password of the token the warm cache holds. */
  cachedSecret: string;
  provider: Provider;
  emptyModule: string;
  loadOnlyModule: string;
  helperWrapper: string;
  /** The Bun binary as `deno task compile:bun` builds it, named `sauce-registry`. */
  bunBinary: string;
  /** The same, through a symlink named like the helper. */
  bunHelper: string;
  /** An empty module built the same way: the floor of such a binary. */
  bunEmpty: string;
  goHelper: string;
  /** The Google Cloud CLI's helper, when it is installed (it often is not). */
  gcloudHelper?: string;
  timeProgram: string;
  runs: number;
  warmups: number;
  progress: (line: string) => void;
  /** Where sections put their figures as soon as they have them, so a later failure keeps them. */
  figures: Figure[];
}

const DENO_FLAGS = ["run", "-A", "--no-config"];

/** How install-helper's wrapper runs Deno (`deno run` and its flags), for the goal figures. */
const DENO_WRAPPER_FLAGS = ["run", ...DENO_HELPER_FLAGS];

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

/** The credential helper's `get` through a program named like the helper. */
function helperSpec(bench: Bench, program: string): ProcessSpec {
  return { program, args: ["get"], env: bench.env, cwd: bench.root };
}

/** The kubelet provider under Deno. */
function denoProviderSpec(bench: Bench): ProcessSpec {
  return {
    program: bench.deno,
    args: [...DENO_FLAGS, bench.cli, ...bench.provider.args],
    env: bench.provider.env,
    cwd: bench.root,
    stdin: bench.provider.request,
  };
}

/** The kubelet provider under Deno with the wrapper's flags. */
function denoWrapperProviderSpec(bench: Bench): ProcessSpec {
  return {
    ...denoProviderSpec(bench),
    args: [...DENO_WRAPPER_FLAGS, bench.cli, ...bench.provider.args],
  };
}

/** The kubelet provider as the Bun binary, named `sauce-registry` as the example's `name` says. */
function bunProviderSpec(bench: Bench): ProcessSpec {
  return {
    program: bench.bunBinary,
    args: bench.provider.args,
    env: bench.provider.env,
    cwd: bench.root,
    stdin: bench.provider.request,
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

/**
 * The provider's answer, checked: exit 0 and a CredentialProviderResponse of the request's
 * version that the kubelet keeps (cacheKeyType Image, as for any registry path, and a
 * cacheDuration other than 0s), with a login for the registry URL and nothing else — or, from a
 * checkout before the provider answered registry paths (--compare-cli), cacheKeyType Registry
 * with a login for the host. Returns the password; messages never show it.
 */
function providerSecret(spec: ProcessSpec, outcome: Outcome, registryUrl: string): string {
  expectExit(spec, outcome);
  let answer: {
    apiVersion?: unknown;
    kind?: unknown;
    cacheKeyType?: unknown;
    cacheDuration?: unknown;
    auth?: Record<string, { username?: unknown; password?: unknown }>;
  };
  try {
    answer = JSON.parse(outcome.stdout);
  } catch {
    fail(`${describe(spec)} printed no JSON (${outcome.stdout.length} bytes on stdout)`);
  }
  const keys = Object.keys(answer.auth ?? {});
  const host = registryUrl.split("/")[0];
  const byHost = answer.cacheKeyType === "Registry" && keys[0] === host;
  const login = answer.auth?.[byHost ? host : registryUrl];
  const problem = answer.apiVersion !== PROVIDER_API_VERSION
    ? `apiVersion ${String(answer.apiVersion)}, expected ${PROVIDER_API_VERSION}`
    : answer.kind !== "CredentialProviderResponse"
    ? `kind ${String(answer.kind)}, expected CredentialProviderResponse`
    : answer.cacheKeyType !== "Image" && !byHost
    ? `cacheKeyType ${String(answer.cacheKeyType)}, expected Image`
    : typeof answer.cacheDuration !== "string" || !/^[1-9]/.test(answer.cacheDuration)
    ? `cacheDuration ${String(answer.cacheDuration)}, expected a time to keep the login`
    : keys.length !== 1 || (keys[0] !== registryUrl && !byHost)
    ? `auth for [${keys.join(", ")}], expected ${registryUrl}`
    : typeof login?.username !== "string" || login.username === ""
    ? "no username"
    : typeof login.password !== "string" || login.password === ""
    ? "no password"
    : undefined;
  if (problem) fail(`${describe(spec)} answered ${problem}`);
  return login!.password as string;
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

/**
 * The kubelet provider set up as examples/kubernetes/credential-provider-config.yaml does: args
 * `kubelet-credential-provider --registry URL --env-file FILE`, a 0600 env file with the account
 * and the API URL (the stand-in's), the example's env (SAUCE_REGION, and XDG_CACHE_HOME since
 * the kubelet runs without HOME) over the kubelet's own environment, and a cache of its own.
 */
async function setUpProvider(
  root: string,
  env: Record<string, string>,
  standIn: StandIn,
  registryUrl: string,
): Promise<Provider> {
  const dir = `${root}/kubelet`;
  await Deno.mkdir(`${dir}/cache`, { recursive: true });
  const envFile = `${dir}/sauce-registry.env`;
  await Deno.writeTextFile(
    envFile,
    `SAUCE_USERNAME=${env.SAUCE_USERNAME}\nSAUCE_ACCESS_KEY=${env.SAUCE_ACCESS_KEY}\n` +
      `SAUCE_API_URL=${standIn.url}\n`,
    { mode: 0o600 },
  );
  await Deno.chmod(envFile, 0o600);
  return {
    args: ["kubelet-credential-provider", "--registry", registryUrl, "--env-file", envFile],
    env: {
      PATH: env.PATH,
      TMPDIR: env.TMPDIR,
      NO_COLOR: "1",
      // The Deno way's module cache, warmed as every Deno child's is.
      DENO_DIR: env.DENO_DIR,
      DENO_NO_UPDATE_CHECK: "1",
      SAUCE_REGION: "us-west-1",
      XDG_CACHE_HOME: `${dir}/cache`,
    },
    request: JSON.stringify({
      apiVersion: PROVIDER_API_VERSION,
      kind: "CredentialProviderRequest",
      image: `${registryUrl}/app:1`,
    }),
    cachedSecret: "",
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
  const registryUrl = `${registry.host}/bench`;

  const emptyModule = `${root}/empty.ts`;
  await Deno.writeTextFile(emptyModule, "");
  const loadOnlyModule = `${root}/load_only.ts`;
  // cli.ts runs nothing when it is not the main module: this is the cost of loading it.
  await Deno.writeTextFile(loadOnlyModule, `import ${JSON.stringify(toFileUrl(options.cli))};\n`);

  const bench: Bench = {
    root,
    cli: options.cli,
    compareCli: options.compareCli,
    compareBunHelper: options.compareCli ? `${root}/compare/${HELPER_NAME}` : undefined,
    bunBuild: await shippedBunBuild(options.cli),
    deno: Deno.execPath(),
    bun: requireTool("bun"),
    env,
    standIn,
    registry,
    registryUrl,
    cachedSecret: "",
    provider: await setUpProvider(root, env, standIn, registryUrl),
    emptyModule,
    loadOnlyModule,
    helperWrapper: `${root}/wrapper/${HELPER_NAME}`,
    bunBinary: `${root}/bin/sauce-registry`,
    bunHelper: `${root}/bin/${HELPER_NAME}`,
    bunEmpty: `${root}/bin/bun-empty`,
    goHelper: tool("docker-credential-ecr-login", "apt-get install amazon-ecr-credential-helper"),
    gcloudHelper: optionalTool("docker-credential-gcloud"),
    timeProgram: tool("/usr/bin/time", "apt-get install time"),
    runs: options.runs,
    warmups: options.warmups,
    progress,
    figures,
  };

  progress(`building the Bun binaries (bun build ${bench.bunBuild.flags.join(" ")})`);
  await bunCompile(bench, bench.bunBuild, bench.bunBinary);
  await bunCompile(bench, { ...bench.bunBuild, entry: emptyModule }, bench.bunEmpty);
  await Deno.symlink(bench.bunBinary, bench.bunHelper);
  if (bench.compareCli) {
    await Deno.mkdir(`${root}/compare`);
    const compareBuild = await shippedBunBuild(bench.compareCli);
    await bunCompile(bench, compareBuild, `${root}/compare/sauce-registry`);
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

  // The one cold get that fills the cache every "cached get" figure reads, and the provider's.
  const counter = requestCounter(standIn);
  const prime = denoSpec(bench, [bench.cli, "credential-helper", "get"], { stdin: host(bench) });
  bench.cachedSecret = helperSecret(prime, await runProcess(prime), host(bench));
  counter.expect(1, "the first get");
  const primeProvider = denoProviderSpec(bench);
  bench.provider.cachedSecret = providerSecret(
    primeProvider,
    await runProcess(primeProvider),
    bench.registryUrl,
  );
  counter.expect(1, "the provider's first answer");
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

/** A tool's path, or undefined when it is not on PATH. */
function optionalTool(name: string): string | undefined {
  try {
    return requireTool(name);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(`${name} is not installed`)) {
      return undefined;
    }
    throw error;
  }
}

function toFileUrl(path: string): string {
  return new URL(`file://${path.split("/").map(encodeURIComponent).join("/")}`).href;
}

/** The build of a cli.ts whose deno.json has no compile:bun task. */
const PLAIN_BUN_FLAGS = ["--compile", "--no-compile-autoload-dotenv"];

async function bunCompile(bench: Bench, build: BunBuild, outfile: string): Promise<void> {
  const spec: ProcessSpec = {
    program: bench.bun,
    args: ["build", ...build.flags, build.entry, "--outfile", outfile],
    env: bench.env,
    cwd: bench.root,
  };
  expectExit(spec, await runProcess(spec));
}

/**
 * How the `compile:bun` task in the deno.json beside `cli` builds the binary users get: its
 * flags and its entry (resolved beside `cli`; `cli` itself when the task names none). A plain
 * `bun build --compile` of `cli` when there is no such task.
 */
async function shippedBunBuild(cli: string): Promise<BunBuild> {
  const dir = cli.replace(/\/[^/]*$/, "");
  const configFile = `${dir}/deno.json`;
  let task: unknown;
  try {
    task = JSON.parse(await Deno.readTextFile(configFile))?.tasks?.["compile:bun"];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { flags: PLAIN_BUN_FLAGS, entry: cli };
    throw new BrokenRunError(`Cannot read ${configFile}: ${String(error)}`, { cause: error });
  }
  if (typeof task !== "string") return { flags: PLAIN_BUN_FLAGS, entry: cli };
  const words = task.trim().split(/\s+/);
  const flags: string[] = [];
  let entry = cli;
  for (let index = words.indexOf("build") + 1; index > 0 && index < words.length; index++) {
    const word = words[index];
    if (/^--out(file|dir)$/.test(word)) index++; // and its value: the bench picks the output
    else if (/^--out(file|dir)=/.test(word)) continue;
    else if (word.startsWith("-")) flags.push(word);
    else entry = word.startsWith("/") ? word : `${dir}/${word}`;
  }
  if (!flags.includes("--compile")) {
    fail(`${configFile}: the compile:bun task is no \`bun build --compile\`: "${task}"`);
  }
  return { flags, entry };
}

/**
 * The builds of the variants figures: the shipped flags less every `--minify…` and `--bytecode`,
 * then with `--minify`, `--bytecode`, and both. `--bytecode` takes `--format=esm` along when the
 * shipped flags name no format: the program's top-level `await` needs an ES module.
 */
function bunVariants(flags: string[]): { name: string; flags: string[] }[] {
  const bare = flags.filter((flag) => !/^--(minify|bytecode)/.test(flag));
  const bytecode = bare.some((flag) => flag.startsWith("--format"))
    ? ["--bytecode"]
    : ["--bytecode", "--format=esm"];
  return [
    { name: "neither", flags: bare },
    { name: "--minify", flags: [...bare, "--minify"] },
    { name: bytecode.join(" "), flags: [...bare, ...bytecode] },
    { name: `--minify ${bytecode.join(" ")}`, flags: [...bare, "--minify", ...bytecode] },
  ];
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

/** A cached provider answer: a login the kubelet keeps, the cached token, no request. */
function cachedProvider(bench: Bench, name: string, spec: ProcessSpec): Contender {
  const counter = requestCounter(bench.standIn);
  return {
    name,
    spec,
    verify: (outcome) => {
      const secret = providerSecret(spec, outcome, bench.registryUrl);
      if (secret !== bench.provider.cachedSecret) {
        fail(`${name} did not hand out the cached token`);
      }
    },
    after: () => counter.expect(0, `a cached provider answer (${name})`),
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
  bench.progress(
    "cached get and provider answer under Deno, against deno run of an empty module",
  );
  const compare = bench.compareCli
    ? [
      cachedGet(
        bench,
        "compare get",
        denoSpec(bench, [bench.compareCli, "credential-helper", "get"]),
      ),
    ]
    : [];
  const printsVersion = (cli: string) => (outcome: Outcome) => {
    expectExit({ program: bench.deno, args: [cli, "version"] }, outcome);
    if (!outcome.stdout.startsWith("sauce-registry ")) fail(`${cli} version printed no version`);
  };
  const wrapperGet = {
    ...denoSpec(bench, [bench.cli, "credential-helper", "get"]),
    args: [...DENO_WRAPPER_FLAGS, bench.cli, "credential-helper", "get"],
  };
  const [get, bare, load, version, wrapper, provider, flagsGet, flagsBare, flagsProvider, ...rest] =
    await roundRobin(
      [
        cachedGet(bench, "deno get", denoSpec(bench, [bench.cli, "credential-helper", "get"])),
        plain(bench, "deno empty", bench.deno, [...DENO_FLAGS, bench.emptyModule]),
        plain(bench, "deno load", bench.deno, [...DENO_FLAGS, bench.loadOnlyModule]),
        plain(
          bench,
          "deno version",
          bench.deno,
          [...DENO_FLAGS, bench.cli, "version"],
          printsVersion(bench.cli),
        ),
        cachedGet(bench, "wrapper get", helperSpec(bench, bench.helperWrapper)),
        cachedProvider(bench, "deno provider", denoProviderSpec(bench)),
        cachedGet(bench, "deno get, wrapper's flags", wrapperGet),
        plain(bench, "deno empty, wrapper's flags", bench.deno, [
          ...DENO_WRAPPER_FLAGS,
          bench.emptyModule,
        ]),
        cachedProvider(bench, "deno provider, wrapper's flags", denoWrapperProviderSpec(bench)),
        ...compare,
      ],
      bench.runs,
      bench.warmups,
    );
  const [compared] = rest;
  const baseline = { label: "`deno run` of an empty module", samples: bare };
  const flagsBaseline = {
    label: "`deno run` of an empty module with the wrapper's flags",
    samples: flagsBare,
  };
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
  const wrapperFlags = `\`deno run ${DENO_HELPER_FLAGS.join(" ")}\``;
  bench.figures.push(
    {
      id: "deno-get-wrapper-flags",
      figure:
        `cached \`credential-helper get\`, Deno run as install-helper's wrapper runs it (${wrapperFlags} cli.ts)`,
      unit: "ms",
      samples: flagsGet,
      baseline: flagsBaseline,
      goal: { maxRatio: GOAL.denoStart },
    },
    {
      id: "deno-provider-wrapper-flags",
      figure: "cached `kubelet-credential-provider` answer, Deno with the same flags",
      unit: "ms",
      samples: flagsProvider,
      baseline: flagsBaseline,
      goal: { maxRatio: GOAL.denoStart },
    },
    {
      id: "deno-empty-flags",
      figure: "`deno run` of an empty module with the wrapper's flags (the floor of those)",
      unit: "ms",
      samples: flagsBare,
      baseline,
    },
    {
      id: "deno-get",
      figure: "cached `credential-helper get`, Deno (`deno run -A --no-config cli.ts`)",
      unit: "ms",
      samples: get,
      baseline,
    },
    {
      id: "deno-get-wrapper",
      figure: "cached `get` through install-helper's wrapper (sh + deno: what Docker runs)",
      unit: "ms",
      samples: wrapper,
      baseline: flagsBaseline,
    },
    {
      id: "deno-provider",
      figure:
        "cached `kubelet-credential-provider` answer, Deno (as examples/kubernetes sets it up)",
      unit: "ms",
      samples: provider,
      baseline,
    },
    {
      id: "deno-load",
      figure: "loading cli.ts under Deno (what it imports at start), running nothing",
      unit: "ms",
      samples: load,
      baseline,
    },
    {
      id: "deno-version",
      figure:
        "the command line's start-up under Deno (`cli.ts version`: every command but the helper's)",
      unit: "ms",
      samples: version,
      baseline,
    },
  );
}

/**
 * `docker-credential-gcloud version` (gcloud's start-up; it prints nothing) and `get` for
 * gcr.io (exit 1 here: the bench's fresh HOME has no Google account), once each under strace
 * first when strace is installed, to prove they reach nothing off loopback.
 */
async function gcloudContenders(bench: Bench, gcloud: string): Promise<Contender[]> {
  const env = { ...bench.env, ...GCLOUD_ENV };
  const version: Contender = {
    name: "gcloud version",
    spec: { program: gcloud, args: ["version"], env, cwd: bench.root },
  };
  const get: Contender = {
    name: "gcloud get",
    spec: { program: gcloud, args: ["get"], env, cwd: bench.root, stdin: "gcr.io" },
    verify: (outcome) => {
      expectExit(get.spec, outcome, 1);
      if (!/active account/.test(outcome.stdout + outcome.stderr)) {
        fail(`docker-credential-gcloud get failed otherwise: "${outcome.stdout.slice(0, 200)}"`);
      }
    },
  };
  const strace = optionalTool("strace");
  if (!strace) {
    bench.progress("strace is not installed: gcloud's connections are not checked");
    return [version, get];
  }
  for (const contender of [version, get]) {
    const log = `${bench.root}/gcloud-strace.txt`;
    const traced: ProcessSpec = {
      ...contender.spec,
      program: strace,
      args: [
        "-f",
        "-qq",
        "-e",
        "trace=connect,sendto,sendmsg",
        "-o",
        log,
        gcloud,
        ...contender.spec.args,
      ],
    };
    (contender.verify ?? ((outcome) => expectExit(contender.spec, outcome)))(
      await runProcess(traced),
    );
    const offLoopback = (await Deno.readTextFile(log)).split("\n").filter((line) =>
      /sa_family=AF_INET6?\b/.test(line) &&
      !/inet_addr\("127\.|inet_pton\(AF_INET6, "::1"/.test(line)
    );
    if (offLoopback.length > 0) {
      fail(`${describe(contender.spec)} reached off loopback: ${offLoopback[0].slice(0, 200)}`);
    }
  }
  return [version, get];
}

/** The Google Cloud CLI's version, from the VERSION file of the installation `gcloud` is in. */
async function gcloudVersion(gcloud: string): Promise<string> {
  const installation = (await Deno.realPath(gcloud)).replace(/\/bin\/[^/]*$/, "");
  try {
    return (await Deno.readTextFile(`${installation}/VERSION`)).trim();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "of unknown version";
    throw error;
  }
}

async function bunGetFigures(bench: Bench): Promise<void> {
  bench.progress(
    "cached get and provider answer of the Bun binary, against docker-credential-ecr-login version",
  );
  const compare = bench.compareBunHelper
    ? [cachedGet(bench, "compare bun get", helperSpec(bench, bench.compareBunHelper))]
    : [];
  const [get, provider, go, bare, ...others] = await roundRobin(
    [
      cachedGet(bench, "bun get", helperSpec(bench, bench.bunHelper)),
      cachedProvider(bench, "bun provider", bunProviderSpec(bench)),
      goVersion(bench),
      plain(bench, "bun empty", bench.bunEmpty, []),
      ...compare,
    ],
    bench.runs,
    bench.warmups,
  );
  const [compared] = others;
  const goBaseline = {
    label: "Go helper start-up (`docker-credential-ecr-login version`)",
    samples: go,
  };
  const build = `bun build ${bench.bunBuild.flags.join(" ")}`;
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
      figure: `cached \`get\`, Bun binary as \`deno task compile:bun\` builds it (${build})`,
      unit: "ms",
      samples: get,
      baseline: goBaseline,
      goal: { maxRatio: GOAL.bunStart },
    },
    {
      id: "bun-provider",
      figure: "cached `kubelet-credential-provider` answer, the same Bun binary",
      unit: "ms",
      samples: provider,
      baseline: goBaseline,
      goal: { maxRatio: GOAL.bunStart },
    },
    {
      id: "bun-get-vs-bare",
      figure: "cached `get`, the same Bun binary",
      unit: "ms",
      samples: get,
      baseline: { label: "Bun-compiled empty module", samples: bare },
      goal: { maxRatio: GOAL.bunEmpty },
    },
    {
      id: "bun-provider-vs-bare",
      figure: "cached `kubelet-credential-provider` answer, the same Bun binary",
      unit: "ms",
      samples: provider,
      baseline: { label: "Bun-compiled empty module", samples: bare },
      goal: { maxRatio: GOAL.bunEmpty },
    },
    {
      id: "bun-bare",
      figure: "Bun-compiled empty module, built the same way (the floor of such a binary)",
      unit: "ms",
      samples: bare,
      baseline: goBaseline,
    },
  );
  await gcloudFigures(bench);
}

/**
 * `docker-credential-gcloud` beside the Go helper, in turns of their own with the Go helper and
 * the Bun binary's cached `get`: a Python program taking about a second a run would otherwise sit
 * between the runs of the goal figures above. A row saying so when it is not installed.
 */
async function gcloudFigures(bench: Bench): Promise<void> {
  if (!bench.gcloudHelper) {
    bench.figures.push({
      id: "gcloud-version",
      figure: "`docker-credential-gcloud` (Google Cloud CLI)",
      unit: "ms",
      samples: [],
      note: "not installed",
    });
    return;
  }
  bench.progress("docker-credential-gcloud, in turns with the Go helper and the Bun binary");
  const [go, version, failingGet, get] = await roundRobin(
    [
      goVersion(bench),
      ...await gcloudContenders(bench, bench.gcloudHelper),
      cachedGet(bench, "bun get", helperSpec(bench, bench.bunHelper)),
    ],
    bench.runs,
    bench.warmups,
  );
  const goBaseline = {
    label: "Go helper start-up (`docker-credential-ecr-login version`), in these turns",
    samples: go,
  };
  const name = `Google Cloud CLI ${await gcloudVersion(bench.gcloudHelper)}, Python`;
  bench.figures.push(
    {
      id: "gcloud-version",
      figure: `\`docker-credential-gcloud version\` (${name}): its start-up`,
      unit: "ms",
      samples: version,
      baseline: goBaseline,
    },
    {
      id: "gcloud-get",
      figure: "`docker-credential-gcloud get` for gcr.io: fails here, no Google account (exit 1)",
      unit: "ms",
      samples: failingGet,
      baseline: goBaseline,
    },
    {
      id: "bun-get-vs-gcloud",
      figure: "cached `get`, the Bun binary, in these turns",
      unit: "ms",
      samples: get,
      baseline: { label: "`docker-credential-gcloud version`", samples: version },
    },
  );
}

async function memoryFigures(bench: Bench): Promise<void> {
  bench.progress("peak memory (GNU time %M)");
  const denoGet = denoSpec(bench, [bench.cli, "credential-helper", "get"]);
  const contenders = [
    cachedGet(bench, "deno get", {
      ...denoGet,
      args: [...DENO_WRAPPER_FLAGS, ...denoGet.args.slice(DENO_FLAGS.length)],
    }),
    plain(bench, "deno empty", bench.deno, [...DENO_WRAPPER_FLAGS, bench.emptyModule]),
    cachedGet(bench, "bun get", helperSpec(bench, bench.bunHelper)),
    plain(bench, "bun empty", bench.bunEmpty, []),
    goVersion(bench),
    cachedProvider(bench, "deno provider", denoWrapperProviderSpec(bench)),
    cachedProvider(bench, "bun provider", bunProviderSpec(bench)),
  ];
  if (bench.compareCli) {
    contenders.push(
      cachedGet(bench, "compare get", {
        ...denoGet,
        args: [...DENO_WRAPPER_FLAGS, bench.compareCli, "credential-helper", "get"],
      }),
      cachedGet(bench, "compare bun get", helperSpec(bench, bench.compareBunHelper!)),
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
  const [denoGetPeak, denoBare, bunGet, bunBare, go, denoProvider, bunProvider, ...compares] =
    peaks;
  const [compareDeno, compareBun] = compares;
  if (compareDeno) {
    bench.figures.push({
      id: "deno-get-memory-after-vs-before",
      figure: "peak memory, cached `get`, Deno, `--cli` (after)",
      unit: "KiB",
      samples: denoGetPeak,
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
      figure: "peak memory, cached `get`, Deno with the wrapper's flags",
      unit: "KiB",
      samples: denoGetPeak,
      baseline: { label: "`deno run` of an empty module, the same flags", samples: denoBare },
      goal: { maxRatio: GOAL.memory },
    },
    {
      id: "deno-provider-memory",
      figure: "peak memory, cached `kubelet-credential-provider` answer, Deno, the same flags",
      unit: "KiB",
      samples: denoProvider,
      baseline: { label: "`deno run` of an empty module, the same flags", samples: denoBare },
      goal: { maxRatio: GOAL.memory },
    },
    {
      id: "bun-provider-memory",
      figure: "peak memory, cached `kubelet-credential-provider` answer, Bun binary",
      unit: "KiB",
      samples: bunProvider,
      baseline: { label: "Bun-compiled empty module", samples: bunBare },
      goal: { maxRatio: GOAL.memory },
    },
    {
      id: "bun-get-memory",
      figure: "peak memory, cached `get`, Bun binary as `deno task compile:bun` builds it",
      unit: "KiB",
      samples: bunGet,
      baseline: { label: "Bun-compiled empty module", samples: bunBare },
      goal: { maxRatio: GOAL.memory },
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
    ["Bun binary", () => helperSpec(bench, bench.bunHelper)],
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

/** Make every token in a cache folder due for renewal: fetched 50 minutes ago, expiring in 5. */
async function makeDue(cacheDir: string): Promise<void> {
  for await (const entry of Deno.readDir(cacheDir)) {
    if (!/^[0-9a-f]{64}\.json$/.test(entry.name)) continue;
    const path = `${cacheDir}/${entry.name}`;
    const token = JSON.parse(await Deno.readTextFile(path));
    token.issued_at = new Date(Date.now() - 50 * 60_000).toISOString();
    token.expires_at = new Date(Date.now() + 5 * 60_000).toISOString();
    await Deno.writeTextFile(path, JSON.stringify(token));
  }
}

/**
 * A token's renewal under load: the warm cache's token made due, then {@linkcode RENEWAL_GETS}
 * gets at once, started by {@linkcode RENEWAL_NAMESPACES} shells each in a PID namespace of its
 * own (where /proc cannot tell whether another namespace's lock holder lives), each get timed by
 * its shell from start to answer. Every get must hand out a token of that round's requests; the
 * goal is exactly one request per round.
 */
async function renewalFigures(bench: Bench): Promise<void> {
  const cacheDir = `${bench.env.XDG_CACHE_HOME}/sauce-registry`;
  const perNamespace = RENEWAL_GETS / RENEWAL_NAMESPACES;
  const script =
    `for i in $(seq ${perNamespace}); do (s=$(date +%s%N); "$@" <"$DIR/in" >"$DIR/out.$NS.$i" 2>/dev/null; ` +
    `echo $? $(( $(date +%s%N) - s )) >"$DIR/t.$NS.$i") & done; wait`;
  const rounds = Math.max(1, Math.ceil(bench.runs / 5));
  const runners: [string, string, string[]][] = [
    ["Deno", "deno", [bench.deno, ...DENO_WRAPPER_FLAGS, bench.cli, "credential-helper", "get"]],
    ["Bun binary", "bun", [bench.bunHelper, "get"]],
  ];
  try {
    await renewalCrowds(bench, runners, cacheDir, script, rounds);
  } finally {
    // The cached figures after this section need a warm cache whose token they know.
    const refill = denoSpec(bench, [bench.cli, "credential-helper", "get"], {
      stdin: host(bench),
    });
    bench.cachedSecret = helperSecret(refill, await runProcess(refill), host(bench));
  }
}

async function renewalCrowds(
  bench: Bench,
  runners: [string, string, string[]][],
  cacheDir: string,
  script: string,
  rounds: number,
): Promise<void> {
  const unshare = optionalTool("unshare");
  const sh = requireTool("sh");
  const perNamespace = RENEWAL_GETS / RENEWAL_NAMESPACES;
  for (const [runtime, id, command] of runners) {
    bench.progress(
      `${RENEWAL_GETS} gets at a token's renewal, in ${RENEWAL_NAMESPACES} PID namespaces (${runtime})`,
    );
    const latencies: number[] = [];
    const p99s: number[] = [];
    const requests: number[] = [];
    const warmLatencies: number[] = [];
    const warmP99s: number[] = [];
    // Each round: the same crowd on the fresh cache first (what the crowd costs by itself), then
    // at the renewal.
    for (let step = 0; step < rounds * 2; step++) {
      const due = step % 2 === 1;
      if (due) await makeDue(cacheDir);
      const dir = await Deno.makeTempDir({ dir: bench.root, prefix: "renewal-" });
      await Deno.writeTextFile(`${dir}/in`, host(bench));
      const before = bench.standIn.tokenRequestCount();
      await Promise.all(
        Array.from({ length: RENEWAL_NAMESPACES }, (_, namespace) => {
          const shell = [sh, "-c", script, "sh", ...command];
          const spec: ProcessSpec = {
            program: unshare ?? sh,
            args: unshare ? ["--pid", "--fork", ...shell] : shell.slice(1),
            env: { ...bench.env, DIR: dir, NS: String(namespace) },
            cwd: bench.root,
            timeoutMs: 600_000,
          };
          return runProcess(spec).then((outcome) => expectExit(spec, outcome));
        }),
      );
      const made = bench.standIn.tokenRequestCount() - before;
      if (due) requests.push(made);
      else if (made !== 0) fail(`a crowd of cached gets (${runtime}) made ${made} token requests`);
      const secrets = new Set<string>();
      const times: number[] = [];
      for (let namespace = 0; namespace < RENEWAL_NAMESPACES; namespace++) {
        for (let index = 1; index <= perNamespace; index++) {
          const [code, nanoseconds] = (await Deno.readTextFile(`${dir}/t.${namespace}.${index}`))
            .trim().split(" ").map(Number);
          if (code !== 0) fail(`a get at the renewal (${runtime}) exited ${code}`);
          times.push(nanoseconds / 1e6);
          secrets.add(
            JSON.parse(await Deno.readTextFile(`${dir}/out.${namespace}.${index}`)).Secret,
          );
        }
      }
      // A second token request (a holder starved of CPU past the lock's 5 s staleness, where
      // another PID namespace cannot check it) is the goal's to report; a token Sauce did not
      // issue in this round, or more tokens than requests, is a broken run.
      const issued = new Set(bench.standIn.issued.map((token) => token.password));
      if ([...secrets].some((secret) => !issued.has(secret))) {
        fail(`the renewal (${runtime}) handed out a token the stand-in did not issue`);
      }
      if (secrets.size > Math.max(1, made)) {
        fail(`the renewal (${runtime}) handed out ${secrets.size} tokens for ${made} requests`);
      }
      (due ? latencies : warmLatencies).push(...times);
      (due ? p99s : warmP99s).push(quantile(times, 0.99));
      await Deno.remove(dir, { recursive: true });
    }
    bench.figures.push(
      {
        id: `renewal-requests-${id}`,
        figure:
          `token requests, ${RENEWAL_GETS} concurrent \`get\`s at a token's renewal in ${RENEWAL_NAMESPACES} PID namespaces (${runtime})`,
        unit: "requests",
        samples: requests,
        goal: { every: 1 },
      },
      {
        id: `renewal-latency-${id}`,
        figure:
          `one \`get\`'s time from start to answer in that crowd (${runtime}), all ${rounds} rounds`,
        unit: "ms",
        samples: latencies,
        baseline: { label: "the same crowd on a fresh cache", samples: warmLatencies },
      },
      {
        id: `renewal-p99-${id}`,
        figure: `its 99th percentile, per round (${runtime})`,
        unit: "ms",
        samples: p99s,
        baseline: { label: "the same on a fresh cache", samples: warmP99s },
      },
    );
  }
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
  const configs = [
    "login-deno",
    "login-bun",
    "login-recipe",
    ...(bench.compareCli ? ["login-deno-compare"] : []),
  ];
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
  const compare = bench.compareCli
    ? [{
      name: "compare deno login",
      spec: {
        ...denoSpec(bench, [bench.compareCli, ...loginArgs]),
        env: loginEnv("login-deno-compare"),
      },
      after: oneRequest("deno, --compare-cli"),
    }]
    : [];
  const [deno, bun, seed, compared] = await roundRobin(
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
      ...compare,
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
  if (compared) {
    bench.figures.push(
      {
        id: "login-deno-compare",
        figure: "cold `login --tool docker`, Deno, `--compare-cli` (before)",
        unit: "ms",
        samples: compared,
        baseline,
      },
      {
        id: "login-deno-after",
        figure: "cold `login --tool docker`, Deno, `--cli` (after)",
        unit: "ms",
        samples: deno,
        baseline: { label: "the same, `--compare-cli` (before)", samples: compared },
      },
    );
  }
  bench.figures.push(
    {
      id: "login-deno",
      figure: "cold `login --tool docker` (token + docker login via dockerd), Deno",
      unit: "ms",
      samples: deno,
      baseline,
      goal: { maxRatio: GOAL.login },
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
      args: ["build", ...flags, bench.bunBuild.entry, "--outfile", outfile],
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
  const figures: Figure[] = [
    {
      id: "bun-binary-size",
      figure: "Bun binary as `deno task compile:bun` builds it",
      unit: "bytes",
      samples: [binary],
      baseline: { label: "Bun-compiled empty module", samples: [empty] },
    },
    {
      id: "bun-payload",
      figure: "its embedded payload (binary minus the empty module's binary)",
      unit: "bytes",
      samples: [binary - empty],
    },
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
      figure: "sources: cli.ts, mod.ts, deps.ts and src/",
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
  ];
  bench.figures.push(...figures);
}

/**
 * The Bun binary built with neither, either and both of `--minify` and `--bytecode` (the shipped
 * build's other flags kept), each one's cached `get` timed in turns with the shipped binary's,
 * and each one's size.
 */
async function variantFigures(bench: Bench): Promise<void> {
  const variants = bunVariants(bench.bunBuild.flags);
  bench.progress(`building the Bun binary ${variants.length} ways (--minify, --bytecode)`);
  const helpers: string[] = [];
  for (const [index, variant] of variants.entries()) {
    const dir = `${bench.root}/variant-${index}`;
    await Deno.mkdir(dir);
    await bunCompile(bench, { ...bench.bunBuild, flags: variant.flags }, `${dir}/sauce-registry`);
    await Deno.symlink(`${dir}/sauce-registry`, `${dir}/${HELPER_NAME}`);
    helpers.push(`${dir}/${HELPER_NAME}`);
  }
  bench.progress("cached get of each build, in turns with the shipped binary");
  const [shipped, ...timed] = await roundRobin(
    [
      cachedGet(bench, "shipped bun get", helperSpec(bench, bench.bunHelper)),
      ...variants.map((variant, index) =>
        cachedGet(bench, `bun get (${variant.name})`, helperSpec(bench, helpers[index]))
      ),
    ],
    bench.runs,
    bench.warmups,
  );
  const size = async (path: string) => (await Deno.stat(await Deno.realPath(path))).size;
  const empty = await size(bench.bunEmpty);
  const shippedPayload = (await size(bench.bunBinary)) - empty;
  const same = (flags: string[]) =>
    flags.length === bench.bunBuild.flags.length &&
    flags.every((flag) => bench.bunBuild.flags.includes(flag));
  for (const [index, variant] of variants.entries()) {
    const binary = await size(helpers[index]);
    const name = `${variant.name}${same(variant.flags) ? ", the shipped flags" : ""}`;
    bench.figures.push({
      id: `variant-get-${index}`,
      figure: `cached \`get\`, Bun binary built with ${name}`,
      unit: "ms",
      samples: timed[index],
      baseline: { label: "the shipped binary (`compile:bun`)", samples: shipped },
    }, {
      id: `variant-payload-${index}`,
      figure: `its payload (the binary: ${formatValue(binary, "bytes")})`,
      unit: "bytes",
      samples: [binary - empty],
      baseline: { label: "the shipped binary's payload", samples: [shippedPayload] },
    });
  }
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
  /** Absent for a figure that could not be taken: `note` says why. */
  summary?: Summary;
  note?: string;
  samples: number[];
  baseline?: { label: string; summary: Summary; samples: number[] };
  ratio?: number;
  goal?: string;
  met?: boolean;
}

function toRow(figure: Figure): Row {
  if (figure.samples.length === 0) {
    const { id, unit, samples, note } = figure;
    return { id, figure: figure.figure, unit, samples, note: note ?? "not measured" };
  }
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
    if (!row.summary) return [row.figure, row.note!, "—", "—", "—", "—", "—"];
    const summary = row.summary;
    let met = "—";
    if (row.met !== undefined) {
      met = row.met ? "yes" : "**no**";
      if (row.runsMeetingGoal !== undefined) {
        met += ` (${row.runsMeetingGoal}/${row.samples.length} runs)`;
      }
    }
    const spread = row.samples.length > 1 && row.unit === "ms"
      ? ` (${summary.p25.toFixed(1)}–${summary.p75.toFixed(1)})`
      : "";
    return [
      row.figure,
      row.unit === "requests" && row.samples.length > 1
        ? `${formatValue(summary.median, row.unit)} (max ${summary.max})`
        : `${formatValue(summary.median, row.unit)}${spread}`,
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
  gcloudHelper: string;
}

/**
 * The program's own source files in a folder: cli.ts, mod.ts, deps.ts and those under src/ (an
 * older checkout's internal `_*.ts` at the top, too).
 */
async function programSources(dir: string): Promise<string[]> {
  const names: string[] = [];
  const walk = async (folder: string, prefix: string) => {
    for await (const entry of Deno.readDir(folder)) {
      const name = `${prefix}${entry.name}`;
      if (entry.isDirectory && (name === "src" || prefix.startsWith("src/"))) {
        await walk(`${folder}/${entry.name}`, `${name}/`);
      } else if (
        entry.isFile && (/^(_[a-z_]+|cli|mod|deps)\.ts$/.test(name) || /^src\/.*\.ts$/.test(name))
      ) {
        names.push(name);
      }
    }
  };
  await walk(dir, "");
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
  const gcloud = optionalTool("docker-credential-gcloud");
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
    gcloudHelper: gcloud
      ? `docker-credential-gcloud (Google Cloud CLI ${await gcloudVersion(gcloud)})`
      : "docker-credential-gcloud not installed",
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
      save: { type: "boolean" },
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
  if (values.save && values.json !== undefined) {
    throw new TypeError("--save writes bench/results/<date>.json: it does not go with --json");
  }
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
    json: values.save
      ? new URL(`./results/${new Date().toISOString().slice(0, 10)}.json`, import.meta.url).pathname
      : values.json,
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
      ["renewal", () => renewalFigures(bench)],
      ["login", async () => loginFigures(bench, await dockerdStarting!)],
      ["sizes", () => sizeFigures(bench)],
      ["variants", () => variantFigures(bench)],
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
    `Deno ${about.deno}, Bun ${about.bun}, ${about.docker}, ${about.dockerRegistry}, ` +
      `${about.goHelper}, ${about.gcloudHelper}`,
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
