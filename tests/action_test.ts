// The GitHub Action (action.yml), run the way the Actions runner runs it: Node 24 executes
// `runs.main`, then later steps, then `runs.post`, each with the runner's environment (inputs as
// INPUT_* with hyphens kept, fresh GITHUB_ENV/GITHUB_PATH/GITHUB_STATE/GITHUB_OUTPUT files,
// STATE_* for post, a clean HOME with no DOCKER_CONFIG and no SAUCE_* variable). A later step
// with no access key in its environment pushes to the real registry through the helper, and after
// post nothing the action added is left.
//
// Node runs the action's TypeScript and this checkout's mod.ts as they are: when mod.ts stops
// working under Node 24, these tests fail.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import {
  buildOciImage,
  loadIntoDocker,
  OnDemandServices,
  requireTool,
  type RunResult,
} from "./fixtures/services.ts";
import {
  parseYamlDocuments,
  requireNode24,
  RunnerJob,
  type StepResult,
} from "./fixtures/ci_runner.ts";
import { ROOT, SecretScanner } from "./harness.ts";
import { configureDocker, unconfigureDocker } from "../mod.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];

interface ActionYaml {
  runs: { using: string; main: string; post: string };
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, unknown>;
}

function output(result: RunResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

describe("the GitHub Action, run as the Actions runner runs it", () => {
  let standIn: StandIn;
  let services: OnDemandServices;
  let node: string;
  let action: ActionYaml;
  let work: string;
  let image: string;
  const scanner = new SecretScanner();
  scanner.add(KEY);

  // Bun cuts hooks off after 5 s: Node and the YAML are found in the first test instead.
  before(async () => {
    standIn = await startStandIn();
    services = new OnDemandServices(standIn);
    work = await mkdtemp(join(tmpdir(), "sr-action-"));
    image = await buildOciImage(join(work, "oci"), { tag: "v1" });
  });

  after(async () => {
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
    assert.equal(main.code, 1, output(main));
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
    assert.equal(main.code, 1, output(main));
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
    const main = await runEntry(
      job,
      "main",
      inputs({
        registry: `${host}/team`,
        username: USER,
        "access-key": wrongKey,
        "api-url": standIn.url,
      }),
    );
    assert.equal(main.code, 1, output(main));
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
    const post = await runEntry(job, "post", stateEnv(main));
    assert.equal(post.code, 0, output(post));
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

    const main = await runEntry(
      job,
      "main",
      inputs({ registry, username: USER, "access-key": KEY, "api-url": standIn.url }),
    );
    assert.equal(main.code, 0, output(main));
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
    assert.deepEqual(config, { credHelpers: { [host]: "saucelabs" } });

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
      `${output(push)}\n${(await services.registry()).logs().slice(-2000)}`,
    );
    scanner.check("docker push output", push.stdout, push.stderr);
    // The helper reused main's token: no new request for the push.
    assert.equal(standIn.tokenRequestCount(), before + 1);
    const inspect = await job.step(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      `docker://${reference}`,
    ]);
    assert.equal(inspect.code, 0, output(inspect));
    assert.equal(JSON.parse(inspect.stdout).Name, `${registry}/app`);
    assert.ok(
      standIn.realmRequests.some((request) => request.headers.authorization !== undefined),
      "the registry's realm saw the token",
    );

    const post = await runEntry(job, "post", stateEnv(main));
    assert.equal(post.code, 0, output(post));
    assert.deepEqual(await filesUnder(job.home), [], "no Docker config or backup is left");
    assert.deepEqual(
      (await filesUnder(job.runnerTemp)).filter((path) => !path.startsWith("_runner")),
      [],
      "no key file, helper or cached token is left",
    );
    for (const issued of standIn.issued) scanner.add(issued.password);
    await scanner.checkTree(job.dir);
  });

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
    const main = await runEntry(
      job,
      "main",
      inputs({
        registry: `${host}/team`,
        username: USER,
        "access-key": KEY,
        "api-url": standIn.url,
      }),
    );
    assert.equal(main.code, 0, output(main));
    scanner.add(standIn.issued.at(-1)!.password);
    const configured = JSON.parse(await readFile(join(dockerDir, "config.json"), "utf8"));
    assert.deepEqual(configured.credHelpers, { [host]: "saucelabs" });
    assert.deepEqual(configured.unknownKey, [1, 2]);

    const post = await runEntry(job, "post", stateEnv(main));
    assert.equal(post.code, 0, output(post));
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
    const main = await runEntry(
      job,
      "main",
      inputs({
        registry: `${host}/team`,
        username: USER,
        "access-key": KEY,
        "api-url": standIn.url,
        mode: "login",
      }),
    );
    assert.equal(main.code, 0, output(main));
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
    assert.equal(push.code, 0, output(push));

    const post = await runEntry(job, "post", stateEnv(main));
    assert.equal(post.code, 0, output(post));
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
    const main = await runEntry(
      job,
      "main",
      inputs({
        registry: `${host}/team`,
        username: USER,
        "access-key": "wrong-access-key-for-the-test",
        "api-url": standIn.url,
        mode: "login",
      }),
    );
    assert.equal(main.code, 1, output(main));
    assert.match(main.stdout, /^::error::.*refused the username or access key/m);
    assert.equal(await readFile(join(dockerDir, "config.json"), "utf8"), original);
    const post = await runEntry(job, "post", stateEnv(main));
    assert.equal(post.code, 0, output(post));
    assert.equal(await readFile(join(dockerDir, "config.json"), "utf8"), original);
    assert.deepEqual(await filesUnder(dockerDir), ["config.json"]);
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
