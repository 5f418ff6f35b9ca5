// The GitHub Action (action.yml), run the way the Actions runner runs it: Node 24 executes
// `runs.main`, then later steps, then `runs.post`, each with the runner's environment (inputs as
// INPUT_* with hyphens kept, fresh GITHUB_ENV/GITHUB_PATH/GITHUB_STATE/GITHUB_OUTPUT files,
// STATE_* for post, a clean HOME with no DOCKER_CONFIG and no SAUCE_* variable). A later step
// with no access key in its environment pushes to the real registry through the helper, and after
// post nothing the action added is left. An identity that needs quoting passes through the key
// file intact, and a refused key is named in the action's words (its inputs), by main and by the
// helper of a later step.
//
// Node runs the action's TypeScript and this checkout's mod.ts as they are: when mod.ts stops
// working under Node 24, these tests fail.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { describeResult } from "./fixtures/common.ts";
import { AWKWARD_USERS, DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import {
  buildOciImage,
  loadIntoDocker,
  OnDemandServices,
  type Registry,
  requireTool,
  type RunResult,
  startRegistry,
} from "./fixtures/services.ts";
import {
  parseYamlDocuments,
  requireNode24,
  RunnerJob,
  type StepResult,
} from "./fixtures/ci_runner.ts";
import { ROOT, SecretScanner } from "./fixtures/harness.ts";
import { configureDocker, unconfigureDocker } from "../mod.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];
// A second Sauce account: a job's US and EU registries usually belong to different ones.
const EU_USER = "bob-eu";
const EU_KEY = "bob-eu-access-key-9876543210";
// An identity a YAML or shell writer must quote. Trimmed: the action trims its inputs, as
// @actions/core does (a secret pasted with a newline still works), so no leading space here.
const [AWKWARD_USER, AWKWARD_KEY] = Object.entries(AWKWARD_USERS)[0].map((text) => text.trim());
// An account whose key is rotated while a job runs.
const ROTATING_USER = "carol-rotates";
const ROTATING_KEY = "carol-access-key-5555555555";

interface ActionYaml {
  runs: { using: string; main: string; post: string };
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, unknown>;
}

describe("the GitHub Action, run as the Actions runner runs it", () => {
  let standIn: StandIn;
  let services: OnDemandServices;
  let node: string;
  let action: ActionYaml;
  let work: string;
  let image: string;
  let secondRegistry: Promise<Registry> | undefined;
  const scanner = new SecretScanner();
  scanner.add(KEY, EU_KEY, AWKWARD_KEY, ROTATING_KEY);

  // Bun cuts hooks off after 5 s: Node and the YAML are found in the first test instead.
  before(async () => {
    standIn = await startStandIn({
      users: {
        ...DEFAULT_USERS,
        [EU_USER]: EU_KEY,
        [AWKWARD_USER]: AWKWARD_KEY,
        [ROTATING_USER]: ROTATING_KEY,
      },
    });
    services = new OnDemandServices(standIn);
    work = await mkdtemp(join(tmpdir(), "sr-action-"));
    image = await buildOciImage(join(work, "oci"), { tag: "v1" });
  });

  after(async () => {
    await (await secondRegistry?.catch(() => undefined))?.stop();
    await services?.stop();
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** INPUT_* as the runner sets them: every declared input, from `with` or its default. */
  function inputs(given: Record<string, string>): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [name, spec] of Object.entries(action.inputs)) {
      env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] = given[name] ?? spec.default ?? "";
    }
    return env;
  }

  /** Run `runs.main` or `runs.post` with Node 24. */
  function runEntry(job: RunnerJob, entry: "main" | "post", extra: Record<string, string>) {
    return job.step(node, [join(ROOT, action.runs[entry])], extra);
  }

  /**
   * Run main with USER's key and the stand-in's API unless `given` says otherwise, and check its
   * exit code.
   */
  async function runMain(
    job: RunnerJob,
    given: Record<string, string>,
    code = 0,
  ): Promise<StepResult> {
    const main = await runEntry(
      job,
      "main",
      inputs({ username: USER, "access-key": KEY, "api-url": standIn.url, ...given }),
    );
    assert.equal(main.code, code, describeResult(main));
    return main;
  }

  /** Run post with the state `main` left, and check its exit code. */
  async function runPost(job: RunnerJob, main: StepResult, code = 0): Promise<StepResult> {
    const post = await runEntry(job, "post", stateEnv(main));
    assert.equal(post.code, code, describeResult(post));
    return post;
  }

  /** STATE_* for post, from what main wrote to GITHUB_STATE. */
  function stateEnv(main: StepResult): Record<string, string> {
    return Object.fromEntries(
      Object.entries(main.state).map(([name, value]) => [`STATE_${name}`, value]),
    );
  }

  /** Each `::add-mask::` value, and the output without those lines (which must show no secret). */
  function masks(result: RunResult): { masked: string[]; rest: string } {
    const masked: string[] = [];
    const rest = result.stdout.split("\n").filter((line) => {
      const match = /^::add-mask::(.*)$/.exec(line);
      if (match) masked.push(match[1]);
      return !match;
    }).join("\n");
    return { masked, rest };
  }

  /** Every file under a folder, as paths relative to it. */
  async function filesUnder(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    return entries.map(String).sort();
  }

  /** The Docker config the job's tools read, parsed. */
  async function dockerConfig(job: RunnerJob): Promise<Record<string, unknown>> {
    return JSON.parse(await readFile(join(job.home, ".docker", "config.json"), "utf8"));
  }

  /** What is left under RUNNER_TEMP besides the runner's own files. */
  async function leftInRunnerTemp(job: RunnerJob): Promise<string[]> {
    return (await filesUnder(job.runnerTemp)).filter((path) => !path.startsWith("_runner"));
  }

  /** The private folder of the one run of the action in a job (under RUNNER_TEMP). */
  async function runFolder(job: RunnerJob): Promise<string> {
    const folders = (await readdir(job.runnerTemp)).filter((name) => !name.startsWith("_"));
    assert.equal(folders.length, 1, folders.join(", "));
    return join(job.runnerTemp, folders[0]);
  }

  /**
   * A refusal as the action's user must read it: in the words of the inputs they set, never the
   * command line's flags and variables, and with an explicit api-url no region to change.
   */
  function assertNamesTheInputs(message: string): void {
    assert.match(
      message,
      /refused the username or access key \(401\).*; check the action's username and access-key inputs$/m,
    );
    assert.doesNotMatch(message, /--region|SAUCE_REGION|SAUCE_USERNAME|SAUCE_ACCESS_KEY/);
    assert.doesNotMatch(message, /region/i, "api-url is set: there is no region to change");
  }

  /** A second registry (another region's), started on first use. */
  function euRegistry(): Promise<Registry> {
    return secondRegistry ??= startRegistry(standIn);
  }

  /**
   * Which Sauce accounts' tokens the registries' realm saw for each repository, from the realm
   * request numbered `from` on.
   */
  function accountsByRepository(from: number): Record<string, string[]> {
    const seen: Record<string, Set<string>> = {};
    for (const request of standIn.realmRequests.slice(from)) {
      const authorization = request.headers.authorization ?? "";
      if (!authorization.startsWith("Basic ")) continue;
      const password = atob(authorization.slice("Basic ".length)).replace(/^[^:]*:/, "");
      const token = standIn.issued.find((issued) => issued.password === password);
      for (const scope of new URL(request.path, "http://realm").searchParams.getAll("scope")) {
        (seen[scope.split(":")[1]] ??= new Set()).add(token?.sauceUser ?? "(not issued)");
      }
    }
    return Object.fromEntries(
      Object.entries(seen).map(([repository, accounts]) => [repository, [...accounts].sort()]),
    );
  }

  it("declares a node24 action with main and post, the issue's inputs and outputs", {
    timeout: 60_000,
  }, async () => {
    node = await requireNode24();
    action = (await parseYamlDocuments(join(ROOT, "action.yml")))[0] as ActionYaml;
    assert.equal(action.runs.using, "node24");
    for (const entry of [action.runs.main, action.runs.post]) {
      assert.ok((await stat(join(ROOT, entry))).isFile(), `${entry} exists`);
      assert.match(await readFile(join(ROOT, entry), "utf8"), /from "\.\/action\.ts"/);
    }
    // The action runs the library itself, not a copy that could go stale.
    assert.match(await readFile(join(ROOT, "action", "action.ts"), "utf8"), /from "\.\.\/mod\.ts"/);
    assert.deepEqual(Object.keys(action.inputs).sort(), [
      "access-key",
      "api-url",
      "mode",
      "region",
      "registry",
      "username",
    ]);
    assert.equal(action.inputs.registry.required, true);
    assert.equal(action.inputs.mode.default, "helper");
    assert.deepEqual(Object.keys(action.outputs).sort(), ["expires-at", "registry-host"]);
  });

  it("refuses a missing access key with one ::error:: line and changes nothing", {
    timeout: 120_000,
  }, async () => {
    const job = await RunnerJob.create(work);
    const main = await runEntry(
      job,
      "main",
      inputs({ registry: "registry.example.com/team", username: USER }),
    );
    assert.equal(main.code, 1, describeResult(main));
    assert.match(main.stdout, /^::error::Input access-key is required: .*secrets\./m);
    assert.deepEqual(main.state, {});
    assert.deepEqual(main.path, []);
    assert.deepEqual(await filesUnder(job.home), []);
    assert.deepEqual(
      (await filesUnder(job.runnerTemp)).filter((path) => !path.startsWith("_runner")),
      [],
    );
  });

  it("refuses a Docker config that is not JSON, leaving it and everything else as it was", {
    timeout: 120_000,
  }, async () => {
    const job = await RunnerJob.create(work);
    await mkdir(join(job.home, ".docker"));
    await writeFile(join(job.home, ".docker", "config.json"), '{"auths": {,}}\n');
    const main = await runEntry(
      job,
      "main",
      inputs({ registry: "127.0.0.1:5999/team", username: USER, "access-key": KEY }),
    );
    assert.equal(main.code, 1, describeResult(main));
    assert.match(
      main.stdout,
      /^::error::Cannot use .*config\.json: not valid JSON at line 1, column 12; fix or move it/m,
    );
    assert.equal(
      await readFile(join(job.home, ".docker", "config.json"), "utf8"),
      '{"auths": {,}}\n',
    );
    assert.deepEqual(await filesUnder(job.home), [".docker", ".docker/config.json"]);
    assert.deepEqual(main.state, {});
  });

  it("fails main on a refused key, says why, and leaves nothing behind", {
    timeout: 120_000,
  }, async () => {
    const host = "127.0.0.1:5999";
    const job = await RunnerJob.create(work);
    const wrongKey = "wrong-access-key-for-the-test";
    scanner.add(wrongKey);
    const main = await runMain(job, { registry: `${host}/team`, "access-key": wrongKey }, 1);
    assert.match(main.stdout, /^::error::.*refused the username or access key/m);
    assert.deepEqual(masks(main).masked, [wrongKey]);
    scanner.check("main output", masks(main).rest, main.stderr);
    assert.deepEqual(main.path, []);
    assert.deepEqual(await filesUnder(job.home), [], "no Docker config is left");
    assert.deepEqual(
      (await filesUnder(job.runnerTemp)).filter((path) => !path.startsWith("_runner")),
      [],
      "no key file is left",
    );
    // post, which the runner runs after a failed main too, finds nothing more to do.
    await runPost(job, main);
    assert.deepEqual(await filesUnder(job.home), []);
  });

  it("helper mode: a later step with no key pushes through the helper; post removes it all", {
    timeout: 600_000,
  }, async () => {
    const { host } = await services.registry();
    const dockerd = await services.dockerd();
    const job = await RunnerJob.create(work, {
      DOCKER_HOST: dockerd.host,
      // containers/image also reads $XDG_RUNTIME_DIR/containers/auth.json: keep it the job's own.
      XDG_RUNTIME_DIR: join(work, "xdg-runtime-helper"),
    });
    const registry = `${host}/team`;
    const before = standIn.tokenRequestCount();

    const main = await runMain(job, { registry });
    const first = standIn.issued.at(-1)!;
    scanner.add(first.password);
    assert.equal(standIn.tokenRequestCount(), before + 1, "main checks the key with one token");
    assert.deepEqual(masks(main).masked, [KEY, first.password], "the key and the token are masked");
    scanner.check("main output", masks(main).rest, main.stderr);
    for (const [name, text] of Object.entries(main.files)) scanner.check(name, text);
    assert.deepEqual(main.env, {}, "nothing goes to GITHUB_ENV");
    assert.deepEqual(main.outputs, { "registry-host": host });
    assert.equal(main.path.length, 1);
    assert.ok(main.path[0].startsWith(job.runnerTemp), main.path[0]);

    // The key file: under RUNNER_TEMP, 0600 in a 0700 folder.
    const [actionDir] = (await readdir(job.runnerTemp)).filter((name) => !name.startsWith("_"));
    const privateDir = join(job.runnerTemp, actionDir);
    assert.equal((await stat(privateDir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(privateDir, "credentials.yml"))).mode & 0o777, 0o600);
    await scanner.checkTree(job.home);
    await scanner.checkTree(
      privateDir,
      (path) =>
        path.endsWith("credentials.yml") || path.includes(`${join("cache", "sauce-registry")}`),
    );
    const config = JSON.parse(await readFile(join(job.home, ".docker", "config.json"), "utf8"));
    // The run's own helper, on the PATH of later steps.
    const helperName = config.credHelpers[host];
    assert.match(helperName, /^saucelabs-[0-9a-f]{8}$/);
    assert.deepEqual(config, { credHelpers: { [host]: helperName } });
    assert.deepEqual(await readdir(main.path[0]), [`docker-credential-${helperName}`]);

    // A later step: the env and PATH the runner gives it, and no access key anywhere in it.
    const stepEnv = job.stepEnv();
    assert.ok(!Object.keys(stepEnv).some((name) => name.startsWith("SAUCE_")));
    scanner.check("later step env", JSON.stringify(stepEnv));
    const reference = `${registry}/app:1`;
    await loadIntoDocker(image, reference, dockerd.env);
    const push = await job.step(requireTool("docker"), ["push", reference], {}, 300_000);
    assert.equal(
      push.code,
      0,
      `${describeResult(push)}\n${(await services.registry()).logs().slice(-2000)}`,
    );
    scanner.check("docker push output", push.stdout, push.stderr);
    // The helper reused main's token: no new request for the push.
    assert.equal(standIn.tokenRequestCount(), before + 1);
    const inspect = await job.step(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      `docker://${reference}`,
    ]);
    assert.equal(inspect.code, 0, describeResult(inspect));
    assert.equal(JSON.parse(inspect.stdout).Name, `${registry}/app`);
    assert.ok(
      standIn.realmRequests.some((request) => request.headers.authorization !== undefined),
      "the registry's realm saw the token",
    );

    await runPost(job, main);
    assert.deepEqual(await filesUnder(job.home), [], "no Docker config or backup is left");
    assert.deepEqual(
      (await filesUnder(job.runnerTemp)).filter((path) => !path.startsWith("_runner")),
      [],
      "no key file, helper or cached token is left",
    );
    for (const issued of standIn.issued) scanner.add(issued.password);
    await scanner.checkTree(job.dir);
  });

  it(
    "helper mode: a username and key holding \\, \", ', #, ': ' and non-ASCII pass main; later steps push and pull with them",
    {
      timeout: 600_000,
    },
    async () => {
      const { host } = await services.registry();
      const dockerd = await services.dockerd();
      const job = await RunnerJob.create(work, {
        DOCKER_HOST: dockerd.host,
        XDG_RUNTIME_DIR: join(work, "xdg-runtime-awkward"),
      });
      const registry = `${host}/team-awkward`;
      const before = standIn.issued.length;
      const main = await runMain(job, {
        registry,
        username: AWKWARD_USER,
        "access-key": AWKWARD_KEY,
      });
      for (const issued of standIn.issued) scanner.add(issued.password);
      assert.deepEqual(standIn.issued.slice(before).map((issued) => issued.sauceUser), [
        AWKWARD_USER,
      ]);
      scanner.check("main output", masks(main).rest, main.stderr);
      for (const [name, text] of Object.entries(main.files)) scanner.check(name, text);

      // The key file: 0600, and a YAML reader (saucectl's kind) reads the identity given from it.
      const keyFile = join(await runFolder(job), "credentials.yml");
      assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
      const [read] = (await parseYamlDocuments(keyFile)) as [Record<string, string>];
      assert.ok(
        read.username === AWKWARD_USER && read.accessKey === AWKWARD_KEY,
        "the key file reads back as the inputs",
      );

      // Later steps, with no key in their environment: a push and a pull, each with this account.
      scanner.check("later step env", JSON.stringify(job.stepEnv()));
      const realmFrom = standIn.realmRequests.length;
      const reference = `${registry}/app:1`;
      await loadIntoDocker(image, reference, dockerd.env);
      const push = await job.step(requireTool("docker"), ["push", reference], {}, 300_000);
      assert.equal(push.code, 0, describeResult(push));
      const pulled = join(job.dir, "pulled");
      const pull = await job.step(
        requireTool("skopeo"),
        [
          "copy",
          "--src-tls-verify=false",
          `docker://${reference}`,
          `dir:${pulled}`,
        ],
        {},
        300_000,
      );
      assert.equal(pull.code, 0, describeResult(pull));
      assert.ok((await readdir(pulled)).includes("manifest.json"), "skopeo pulled the image");
      scanner.check("later steps' output", push.stdout, push.stderr, pull.stdout, pull.stderr);
      assert.deepEqual(accountsByRepository(realmFrom)["team-awkward/app"], [AWKWARD_USER]);
      // Both reused main's token: the helper read the same identity from the file.
      assert.equal(standIn.issued.length, before + 1);

      await runPost(job, main);
      assert.deepEqual(await filesUnder(job.home), []);
      assert.deepEqual(await leftInRunnerTemp(job), []);
      await scanner.checkTree(job.dir);
    },
  );

  it(
    "a refused key names the action's inputs, in both modes and in a later step, and no region with api-url",
    {
      timeout: 300_000,
    },
    async () => {
      const host = "127.0.0.1:5999";
      const wrongKey = "wrong-access-key-for-the-wording";
      scanner.add(wrongKey);
      for (const mode of ["helper", "login"]) {
        const job = await RunnerJob.create(work);
        const main = await runMain(
          job,
          { registry: `${host}/team`, "access-key": wrongKey, mode },
          1,
        );
        const errors = main.stdout.split("\n").filter((line) => line.startsWith("::error::"));
        assert.equal(errors.length, 1, `${mode}: ${main.stdout}`);
        assertNamesTheInputs(errors[0]);
        scanner.check("main output", masks(main).rest, main.stderr);
      }

      // A later step's helper, once Sauce Labs refuses the key the action was given (rotated while
      // the job runs) and main's token is no longer cached.
      const job = await RunnerJob.create(work);
      const main = await runMain(job, {
        registry: `${host}/team`,
        username: ROTATING_USER,
        "access-key": ROTATING_KEY,
      });
      scanner.add(standIn.issued.at(-1)!.password);
      const helperName = ((await dockerConfig(job)).credHelpers as Record<string, string>)[host];
      await rm(join(await runFolder(job), "cache"), { recursive: true, force: true });
      standIn.setAccessKey(ROTATING_USER, "carol-rotated-access-key");
      try {
        // What Docker does, through the PATH the runner gives the step.
        const get = await job.step(requireTool("sh"), [
          "-c",
          `printf %s ${host} | docker-credential-${helperName} get`,
        ]);
        assert.equal(get.code, 1, describeResult(get));
        assert.match(get.stderr, new RegExp(`^docker-credential-saucelabs: Sauce Labs at `, "m"));
        assertNamesTheInputs(get.stderr);
        scanner.check("the helper's output", get.stdout, get.stderr);
      } finally {
        standIn.setAccessKey(ROTATING_USER, ROTATING_KEY);
      }
      await runPost(job, main);
      assert.deepEqual(await leftInRunnerTemp(job), []);
    },
  );

  it("keeps a Docker config it found, restoring it and its backup exactly after post", {
    timeout: 300_000,
  }, async () => {
    const { host } = await services.registry();
    const job = await RunnerJob.create(work);
    const dockerDir = join(job.home, ".docker");
    await mkdir(dockerDir);
    const original = '{\n  "auths": {"other.example.com": {}},\n  "unknownKey": [1, 2]\n}\n';
    const backup = '{"previous": true}\n';
    await writeFile(join(dockerDir, "config.json"), original, { mode: 0o644 });
    await writeFile(join(dockerDir, "config.json.bak"), backup, { mode: 0o600 });
    const main = await runMain(job, { registry: `${host}/team` });
    scanner.add(standIn.issued.at(-1)!.password);
    const configured = JSON.parse(await readFile(join(dockerDir, "config.json"), "utf8"));
    assert.deepEqual(Object.keys(configured.credHelpers), [host]);
    assert.deepEqual(configured.unknownKey, [1, 2]);

    await runPost(job, main);
    const restored = JSON.parse(await readFile(join(dockerDir, "config.json"), "utf8"));
    assert.deepEqual(restored, JSON.parse(original), "the config holds what it held");
    assert.equal(await readFile(join(dockerDir, "config.json.bak"), "utf8"), backup);
    assert.deepEqual(await filesUnder(dockerDir), ["config.json", "config.json.bak"]);
  });

  it("login mode: docker login now, expires-at output, docker logout in post", {
    timeout: 300_000,
  }, async () => {
    const { host } = await services.registry();
    const dockerd = await services.dockerd();
    // docker behind a recorder of each run's arguments and whole environment: the runner gives
    // the action INPUT_ACCESS-KEY, and docker must not inherit it. /proc/$$/environ, not `env`:
    // a shell drops variables whose names hold a hyphen before a command it runs could see them.
    const shims = await mkdtemp(join(work, "shims-"));
    const log = join(shims, "calls");
    await mkdir(log);
    await writeFile(
      join(shims, "docker"),
      `#!/bin/sh\nn=$(date +%s%N)\nprintf '%s\\n' "$1" > ${log}/$n.args\n` +
        `cat /proc/$$/environ > ${log}/$n.env\nexec ${requireTool("docker")} "$@"\n`,
      { mode: 0o755 },
    );
    const job = await RunnerJob.create(work, { DOCKER_HOST: dockerd.host });
    job.baseEnv.PATH = `${shims}:${job.baseEnv.PATH}`;
    const main = await runMain(job, { registry: `${host}/team`, mode: "login" });
    const token = standIn.issued.at(-1)!;
    scanner.add(token.password);
    assert.deepEqual(masks(main).masked, [KEY, token.password]);
    scanner.check("main output", masks(main).rest, main.stderr);
    assert.equal(main.outputs["registry-host"], host);
    assert.match(main.outputs["expires-at"], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(main.outputs["expires-at"]) - token.expiresAt.getTime()) < 1000);
    assert.deepEqual(main.path, [], "no helper in login mode");
    assert.deepEqual(
      (await filesUnder(job.runnerTemp)).filter((path) => !path.startsWith("_runner")),
      [],
      "no key file in login mode",
    );
    const config = JSON.parse(await readFile(join(job.home, ".docker", "config.json"), "utf8"));
    assert.ok(config.auths?.[host], "docker login stored the login");

    const reference = `${host}/team/login-mode:1`;
    await loadIntoDocker(image, reference, dockerd.env);
    const push = await job.step(join(shims, "docker"), ["push", reference], {}, 300_000);
    assert.equal(push.code, 0, describeResult(push));

    const post = await runPost(job, main);
    const calls = (await readdir(log)).filter((name) => name.endsWith(".args")).sort();
    const commands = [];
    for (const call of calls) {
      commands.push((await readFile(join(log, call), "utf8")).trim());
      const environ = await readFile(join(log, call.replace(/args$/, "env")), "utf8");
      assert.ok(environ.includes("DOCKER_HOST="), "the recorder saw docker's environment");
      scanner.check(`docker ${commands.at(-1)} environment`, environ);
    }
    assert.deepEqual(commands, ["login", "push", "logout"]);
    assert.match(post.stdout, new RegExp(`Logged docker out of ${host.replace(/\./g, "\\.")}`));
    assert.deepEqual(await filesUnder(job.home), [], "the config docker login created is gone");
    await scanner.checkTree(job.dir);
  });

  it("two registries, two accounts: later steps push to both; each post undoes its part", {
    timeout: 600_000,
  }, async () => {
    const us = await services.registry();
    const eu = await euRegistry();
    const dockerd = await services.dockerd();
    const job = await RunnerJob.create(work, {
      DOCKER_HOST: dockerd.host,
      XDG_RUNTIME_DIR: join(work, "xdg-runtime-two-registries"),
    });
    const usRegistry = `${us.host}/team-us`;
    const euRegistryUrl = `${eu.host}/team-eu`;
    const apiUrl = standIn.url;
    const mainUs = await runMain(job, { registry: usRegistry, "api-url": apiUrl });
    const mainEu = await runMain(job, {
      registry: euRegistryUrl,
      username: EU_USER,
      "access-key": EU_KEY,
      "api-url": apiUrl,
    });
    for (const issued of standIn.issued) scanner.add(issued.password);
    for (const main of [mainUs, mainEu]) {
      scanner.check("main output", masks(main).rest, main.stderr);
      for (const [name, text] of Object.entries(main.files)) scanner.check(name, text);
    }
    const helpers = (await dockerConfig(job)).credHelpers as Record<string, string>;
    assert.deepEqual(Object.keys(helpers).sort(), [us.host, eu.host].sort());

    // A later step pushes to each registry with no key in its environment, each with its account.
    scanner.check("later step env", JSON.stringify(job.stepEnv()));
    const realmFrom = standIn.realmRequests.length;
    for (const registry of [usRegistry, euRegistryUrl]) {
      const reference = `${registry}/app:1`;
      await loadIntoDocker(image, reference, dockerd.env);
      const push = await job.step(requireTool("docker"), ["push", reference], {}, 300_000);
      assert.equal(push.code, 0, `docker push ${reference}\n${describeResult(push)}`);
      scanner.check("docker push output", push.stdout, push.stderr);
    }
    // (Docker also asks for repositories it may mount layers from: only these two matter.)
    const accounts = accountsByRepository(realmFrom);
    assert.deepEqual(accounts["team-us/app"], [USER], JSON.stringify(accounts));
    assert.deepEqual(accounts["team-eu/app"], [EU_USER], JSON.stringify(accounts));

    // The runner runs post steps in the reverse order: EU's leaves US's helper working.
    await runPost(job, mainEu);
    assert.deepEqual(await dockerConfig(job), { credHelpers: { [us.host]: helpers[us.host] } });
    const pull = await job.step(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      `docker://${usRegistry}/app:1`,
    ]);
    assert.equal(pull.code, 0, describeResult(pull));
    await runPost(job, mainUs);
    assert.deepEqual(await filesUnder(job.home), [], "no Docker config is left");
    assert.deepEqual(await leftInRunnerTemp(job), [], "no key file, helper or token is left");
    for (const issued of standIn.issued) scanner.add(issued.password);
    await scanner.checkTree(job.dir);
  });

  it("two registries, posts run in the order of the mains: each still undoes only its own part", {
    timeout: 600_000,
  }, async () => {
    const us = await services.registry();
    const eu = await euRegistry();
    const job = await RunnerJob.create(work, {
      XDG_RUNTIME_DIR: join(work, "xdg-runtime-two-registries-in-order"),
    });
    const dockerDir = join(job.home, ".docker");
    await mkdir(dockerDir);
    const original = '{\n  "auths": {"other.example.com": {}},\n  "unknownKey": [1, 2]\n}\n';
    await writeFile(join(dockerDir, "config.json"), original, { mode: 0o644 });
    const usRegistry = `${us.host}/team-us`;
    const euRegistryUrl = `${eu.host}/team-eu`;
    const mainUs = await runMain(job, { registry: usRegistry });
    const mainEu = await runMain(job, {
      registry: euRegistryUrl,
      username: EU_USER,
      "access-key": EU_KEY,
    });
    for (const issued of standIn.issued) scanner.add(issued.password);
    const helpers = (await dockerConfig(job)).credHelpers as Record<string, string>;
    /** A later step's push with skopeo, which reads the same Docker config. */
    const skopeoPush = (reference: string) =>
      job.step(
        requireTool("skopeo"),
        [
          "copy",
          "--dest-tls-verify=false",
          image,
          `docker://${reference}`,
        ],
        {},
        300_000,
      );
    const usPush = await skopeoPush(`${usRegistry}/in-order:1`);
    assert.equal(usPush.code, 0, describeResult(usPush));

    await runPost(job, mainUs);
    assert.deepEqual(await dockerConfig(job), {
      ...JSON.parse(original),
      credHelpers: { [eu.host]: helpers[eu.host] },
    });
    // EU's helper still serves a push after US's post.
    const realmFrom = standIn.realmRequests.length;
    const euPush = await skopeoPush(`${euRegistryUrl}/in-order:1`);
    assert.equal(euPush.code, 0, describeResult(euPush));
    assert.deepEqual(accountsByRepository(realmFrom)["team-eu/in-order"], [EU_USER]);
    await runPost(job, mainEu);
    assert.deepEqual(await dockerConfig(job), JSON.parse(original), "the config is as it was");
    assert.deepEqual(await leftInRunnerTemp(job), []);
    for (const issued of standIn.issued) scanner.add(issued.password);
    await scanner.checkTree(job.dir);
  });

  it("login mode: a main that fails leaves the login it found, and so does post", {
    timeout: 120_000,
  }, async () => {
    const host = "127.0.0.1:5999";
    const job = await RunnerJob.create(work);
    const dockerDir = join(job.home, ".docker");
    await mkdir(dockerDir);
    // The user's own login for the host, from before this step (a made-up one).
    const original = JSON.stringify({
      auths: { [host]: { auth: btoa("someone:their-password") } },
    });
    await writeFile(join(dockerDir, "config.json"), original, { mode: 0o600 });
    const main = await runMain(job, {
      registry: `${host}/team`,
      "access-key": "wrong-access-key-for-the-test",
      mode: "login",
    }, 1);
    assert.match(main.stdout, /^::error::.*refused the username or access key/m);
    assert.equal(await readFile(join(dockerDir, "config.json"), "utf8"), original);
    await runPost(job, main);
    assert.equal(await readFile(join(dockerDir, "config.json"), "utf8"), original);
    assert.deepEqual(await filesUnder(dockerDir), ["config.json"]);
  });

  it("post leaves what a later step wrote in the Docker folder it made (a config.json.bak)", {
    timeout: 120_000,
  }, async () => {
    const job = await RunnerJob.create(work);
    const dockerDir = join(job.home, ".docker");
    const main = await runMain(job, { registry: "127.0.0.1:5999/team" });
    scanner.add(standIn.issued.at(-1)!.password);
    // A later step keeps a copy of the config, as a user's script might.
    const later = '{"kept by": "a later step"}\n';
    await writeFile(join(dockerDir, "config.json.bak"), later, { mode: 0o600 });
    await runPost(job, main);
    assert.equal(await readFile(join(dockerDir, "config.json.bak"), "utf8"), later);
    assert.deepEqual(await filesUnder(job.home), [".docker", ".docker/config.json.bak"]);
    assert.deepEqual(await leftInRunnerTemp(job), []);
  });

  it("post removes the key file even when a later step broke the Docker config, and says so", {
    timeout: 120_000,
  }, async () => {
    const job = await RunnerJob.create(work);
    const main = await runMain(job, { registry: "127.0.0.1:5999/team" });
    scanner.add(standIn.issued.at(-1)!.password);
    const broken = '{"credHelpers": {,}}\n';
    await writeFile(join(job.home, ".docker", "config.json"), broken);
    const post = await runPost(job, main, 1);
    assert.match(post.stdout, /^::error::Cleaning up: .*config\.json: not valid JSON/m);
    scanner.check("post output", post.stdout, post.stderr);
    assert.equal(await readFile(join(job.home, ".docker", "config.json"), "utf8"), broken);
    assert.deepEqual(await leftInRunnerTemp(job), [], "no key file is left");
  });

  it("stands in for the machine's own saucelabs helper until post; refuses a host a run took", {
    timeout: 120_000,
  }, async () => {
    const host = "127.0.0.1:5999";
    const job = await RunnerJob.create(work);
    const dockerDir = join(job.home, ".docker");
    await mkdir(dockerDir);
    // What `sauce-registry configure-docker` left on a self-hosted runner.
    const original = `${JSON.stringify({ credHelpers: { [host]: "saucelabs" } })}\n`;
    await writeFile(join(dockerDir, "config.json"), original);
    const first = await runMain(job, { registry: `${host}/team` });
    scanner.add(standIn.issued.at(-1)!.password);
    const helperName = ((await dockerConfig(job)).credHelpers as Record<string, string>)[host];
    assert.match(helperName, /^saucelabs-[0-9a-f]{8}$/);

    // Docker asks one helper per host: a second run for it is refused and changes nothing.
    const second = await runMain(job, {
      registry: `${host}/other-team`,
      username: EU_USER,
      "access-key": EU_KEY,
    }, 1);
    assert.match(
      second.stdout,
      /^::error::The Docker config .* already sends 127\.0\.0\.1:5999 to docker-credential-saucelabs-[0-9a-f]{8}, which an earlier run of this action set up/m,
    );
    assert.deepEqual(second.path, []);
    assert.equal(
      ((await dockerConfig(job)).credHelpers as Record<string, string>)[host],
      helperName,
    );

    await runPost(job, second);
    assert.equal(
      ((await dockerConfig(job)).credHelpers as Record<string, string>)[host],
      helperName,
    );
    const postFirst = await runPost(job, first);
    assert.match(postFirst.stdout, /goes to docker-credential-saucelabs again/);
    assert.equal(await readFile(join(dockerDir, "config.json"), "utf8"), original);
    assert.deepEqual(await filesUnder(dockerDir), ["config.json"]);
    assert.deepEqual(await leftInRunnerTemp(job), []);
  });
});

describe("unconfigureDocker, which the action's post step uses", () => {
  it("drops this helper's credHelpers entries and records, keeps the rest, creates nothing", {
    timeout: 60_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "sr-unconfigure-"));
    try {
      const dockerConfigDir = join(dir, "docker");
      const settingsFile = join(dir, "registries.json");
      await mkdir(dockerConfigDir);
      await writeFile(
        join(dockerConfigDir, "config.json"),
        JSON.stringify({
          auths: { "a.example.com": {} },
          credHelpers: { "a.example.com": "saucelabs", "b.example.com": "ecr-login" },
          custom: { kept: true },
        }),
      );
      await configureDocker(["c.example.com/team"], { dockerConfigDir, settingsFile });
      const first = await unconfigureDocker(["a.example.com", "b.example.com/x", "c.example.com"], {
        dockerConfigDir,
        settingsFile,
      });
      assert.equal(first.dockerConfigChanged, true);
      assert.equal(first.settingsChanged, true);
      assert.deepEqual(
        JSON.parse(await readFile(join(dockerConfigDir, "config.json"), "utf8")),
        {
          auths: { "a.example.com": {} },
          credHelpers: { "b.example.com": "ecr-login" },
          custom: { kept: true },
        },
      );
      assert.deepEqual(JSON.parse(await readFile(settingsFile, "utf8")).registries, {});
      const again = await unconfigureDocker(["a.example.com"], { dockerConfigDir, settingsFile });
      assert.equal(again.dockerConfigChanged || again.settingsChanged, false, "idempotent");

      const empty = join(dir, "nothing-here");
      const none = await unconfigureDocker(["a.example.com"], {
        dockerConfigDir: empty,
        settingsFile: join(empty, "registries.json"),
      });
      assert.equal(none.dockerConfigChanged || none.settingsChanged, false);
      assert.equal(await stat(empty).catch(() => undefined), undefined, "nothing was created");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
