// The GitLab CI/CD component (templates/sauce-registry.yml): it parses as YAML with `spec:
// inputs:`, pins this release, and its job template really works. The test interpolates the
// inputs as GitLab does, then runs the template's before_script and a job script in one shell,
// and after_script in another (as the GitLab runner does), against a release built here, the
// stand-in for the Sauce API and a real docker-registry: skopeo pushes through the helper while
// the job's script has no access key in its environment.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import {
  buildOciImage,
  OnDemandServices,
  requireTool,
  run,
  type RunResult,
} from "./fixtures/services.ts";
import { parseYamlDocuments } from "./fixtures/ci_runner.ts";
import { ROOT, SecretScanner } from "./harness.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];
const COMPONENT = join(ROOT, "templates", "sauce-registry.yml");

interface Spec {
  spec: { inputs: Record<string, { default?: string; description?: string }> };
}

interface JobTemplate {
  variables: Record<string, string>;
  before_script: string[];
  after_script: string[];
}

function output(result: RunResult): string {
  return `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
}

/** GitLab's interpolation: `$[[ inputs.NAME ]]` from the given inputs or the spec's defaults. */
async function interpolate(given: Record<string, string>): Promise<JobTemplate> {
  const [header] = (await parseYamlDocuments(COMPONENT)) as [Spec];
  const text = await readFile(COMPONENT, "utf8");
  const body = text.slice(text.indexOf("\n---\n") + 5).replace(
    /\$\[\[\s*inputs\.([\w-]+)\s*\]\]/g,
    (_, name: string) => {
      const value = given[name] ?? header.spec.inputs[name]?.default;
      if (value === undefined) throw new Error(`input ${name} has no value and no default`);
      return value;
    },
  );
  const interpolated = join(await mkdtemp(join(tmpdir(), "sr-component-")), "jobs.yml");
  await writeFile(interpolated, body);
  const [jobs] = (await parseYamlDocuments(interpolated)) as [Record<string, JobTemplate>];
  await rm(join(interpolated, ".."), { recursive: true, force: true });
  return jobs[".sauce-registry"];
}

describe("the GitLab CI/CD component", () => {
  let standIn: StandIn;
  let services: OnDemandServices;
  let work: string;
  let releases: string;
  let version: string;
  let image: string;
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    standIn = await startStandIn();
    services = new OnDemandServices(standIn);
    work = await mkdtemp(join(tmpdir(), "sr-gitlab-"));
    version = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).version;
    releases = join(work, "releases");
    image = await buildOciImage(join(work, "oci"), { tag: "v1" });
  });

  after(async () => {
    await services?.stop();
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("is YAML with spec: inputs, a required registry and this release pinned", {
    timeout: 120_000,
  }, async () => {
    const documents = await parseYamlDocuments(COMPONENT);
    assert.equal(documents.length, 2);
    const { inputs } = (documents[0] as Spec).spec;
    assert.deepEqual(Object.keys(inputs).sort(), [
      "api-url",
      "region",
      "registry",
      "release-url",
      "version",
    ]);
    assert.equal(inputs.registry.default, undefined, "registry is required");
    assert.equal(inputs.version.default, version, "the component installs its own release");
    assert.match(inputs["release-url"].default!, /^https:\/\//);
    const template = await interpolate({ registry: "registry.example.com/team" });
    assert.equal(template.variables.SR_REGISTRY, "registry.example.com/team");
    assert.equal(template.variables.SR_RELEASE, `${inputs["release-url"].default}/v${version}`);
  });

  /**
   * A GitLab job extending the template: its variables and the CI/CD variables in the
   * environment, before_script and `script` in one shell, after_script in another.
   */
  async function runJob(
    template: JobTemplate,
    script: string[],
    jobId: string,
    accessKey = KEY,
  ): Promise<{ main: RunResult; after: RunResult; tmp: string; home: string }> {
    const job = await mkdtemp(join(work, "job-"));
    const tmp = join(job, "tmp");
    const home = join(job, "home");
    const runtime = join(job, "xdg-runtime");
    for (const folder of [tmp, home, runtime]) await mkdir(folder, { mode: 0o700 });
    const env = {
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: home,
      TMPDIR: tmp,
      // containers/image also reads $XDG_RUNTIME_DIR/containers/auth.json: keep it the job's own.
      XDG_RUNTIME_DIR: runtime,
      CI: "true",
      GITLAB_CI: "true",
      CI_JOB_ID: jobId,
      SAUCE_USERNAME: USER,
      SAUCE_ACCESS_KEY: accessKey,
      ...template.variables,
    };
    const shell = requireTool("dash");
    const main = await run(shell, ["-e", "-c", [...template.before_script, ...script].join("\n")], {
      env,
      inheritEnv: false,
      cwd: job,
      timeoutMs: 300_000,
    });
    const after = await run(shell, ["-e", "-c", template.after_script.join("\n")], {
      env,
      inheritEnv: false,
      cwd: job,
    });
    return { main, after, tmp, home };
  }

  it("runs a job whose script pushes through the helper with no key in its environment", {
    timeout: 900_000,
  }, async () => {
    const built = await run(requireTool("bash"), [
      join(ROOT, "scripts", "release.sh"),
      "--out",
      join(releases, `v${version}`),
      "linux-x64",
    ], { cwd: ROOT, timeoutMs: 540_000 });
    assert.equal(built.code, 0, output(built));
    const { host } = await services.registry();
    const registry = `${host}/team`;
    const template = await interpolate({
      registry,
      "release-url": releases,
      "api-url": standIn.url,
    });
    const before = standIn.tokenRequestCount();
    const { main, after, tmp, home } = await runJob(template, [
      'if env | grep -q "^SAUCE_ACCESS_KEY="; then echo "the key is in the environment" >&2; exit 9; fi',
      `skopeo copy --dest-tls-verify=false ${image} docker://${registry}/app:1`,
      `skopeo inspect --tls-verify=false docker://${registry}/app:1 > inspect.json`,
      "sauce-registry --version",
    ], "4242");
    assert.equal(
      main.code,
      0,
      `${output(main)}\n${(await services.registry()).logs().slice(-2000)}`,
    );
    assert.match(main.stdout, new RegExp(`fresh tokens for ${host.replace(/\./g, "\\.")}`));
    assert.match(main.stdout, new RegExp(`^sauce-registry ${version.replace(/\./g, "\\.")}$`, "m"));
    // One token when the job starts (the key is checked), reused by both skopeo calls.
    assert.equal(standIn.tokenRequestCount(), before + 1);
    assert.doesNotMatch(`${main.stdout}${main.stderr}`, /not on PATH/, "no PATH advice in CI logs");
    for (const issued of standIn.issued) scanner.add(issued.password);
    scanner.check("job output", main.stdout, main.stderr);
    assert.equal(after.code, 0, output(after));
    assert.deepEqual(await readdir(tmp), [], "after_script removed the key file, helper, cache");
    assert.deepEqual(await readdir(home), [], "the user's Docker config was not touched");
  });

  it("fails the job at before_script, with the cause, when Sauce refuses the key", {
    timeout: 300_000,
  }, async () => {
    const template = await interpolate({
      registry: "127.0.0.1:5999/team",
      "release-url": releases,
      "api-url": standIn.url,
    });
    const wrongKey = "not-alices-access-key";
    scanner.add(wrongKey);
    const { main, after, tmp } = await runJob(template, ["echo the script ran"], "4343", wrongKey);
    assert.notEqual(main.code, 0, output(main));
    assert.match(main.stderr, /refused the username or access key/);
    assert.doesNotMatch(main.stdout, /the script ran/);
    scanner.check("job output", main.stdout, main.stderr);
    assert.equal(after.code, 0, output(after));
    assert.deepEqual(await readdir(tmp), []);
  });

  it("installs nothing when the release's checksum does not match", {
    timeout: 300_000,
  }, async () => {
    const tampered = join(work, "tampered");
    const folder = join(tampered, `v${version}`);
    await mkdir(folder, { recursive: true });
    for (const name of await readdir(join(releases, `v${version}`))) {
      const bytes = await readFile(join(releases, `v${version}`, name));
      if (name.endsWith("linux-x64")) bytes[bytes.length - 1] ^= 0xff;
      await writeFile(join(folder, name), bytes);
    }
    const template = await interpolate({
      registry: "127.0.0.1:5999/team",
      "release-url": tampered,
      "api-url": standIn.url,
    });
    const { main, after, tmp } = await runJob(template, ["echo the script ran"], "4545");
    assert.notEqual(main.code, 0, output(main));
    assert.match(main.stderr, /checksum mismatch/);
    assert.doesNotMatch(main.stdout, /the script ran/);
    assert.equal(after.code, 0);
    assert.equal((await stat(tmp)).isDirectory(), true);
    assert.deepEqual(await readdir(tmp), []);
  });
});
