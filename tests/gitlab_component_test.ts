// The GitLab CI/CD component (templates/sauce-registry.yml): it parses as YAML with `spec:
// inputs:`, pins this release, and its job template really works. The test interpolates the
// inputs as GitLab does, then runs the template's before_script and a job script in one shell,
// and after_script in another (as the GitLab runner does), against a release built here, the
// stand-in for the Sauce API and a real docker-registry: skopeo pushes through the helper while
// the job's script has no access key in its environment, also for CI/CD variables that need
// quoting; a refused key is named as the CI/CD variables. Then gitlab-ci-local includes it as README
// says, from a Git host on loopback holding only the release tag: by `include: remote` (as from
// GitHub) and as a component (as from a GitLab mirror), and runs the job; and the repository's
// .gitlab-ci.yml publishes only semantic-version tags to the CI/CD Catalog.

import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { describeResult } from "./fixtures/common.ts";
import { AWKWARD_USERS, DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import {
  buildOciImage,
  OnDemandServices,
  requireTool,
  run,
  type RunResult,
} from "./fixtures/services.ts";
import { parseYamlDocuments } from "./fixtures/ci_runner.ts";
import { type GitHost, startGitHost } from "./fixtures/git_http.ts";
import { ROOT, SecretScanner } from "./fixtures/harness.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];
// CI/CD variables that a YAML or shell writer must quote (a leading space included).
const [AWKWARD_USER, AWKWARD_KEY] = Object.entries(AWKWARD_USERS)[0];
const COMPONENT = join(ROOT, "templates", "sauce-registry.yml");
/** The docs whose recipes name the release: the installer's and the CI pages. */
const RECIPES = ["README.md", join("docs", "install.md"), join("docs", "ci.md")];

/** The recipes the docs give, as one text. */
async function readRecipes(): Promise<string> {
  return (await Promise.all(RECIPES.map((file) => readFile(join(ROOT, file), "utf8")))).join("\n");
}

interface Spec {
  spec: { inputs: Record<string, { default?: string; description?: string; regex?: string }> };
}

interface JobTemplate {
  variables: Record<string, string>;
  before_script: string[];
  after_script: string[];
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
      const regex = header.spec.inputs[name]?.regex;
      if (regex !== undefined && !new RegExp(regex).test(value)) {
        throw new Error(`\`${name}\` input: \`${value}\` does not match required regex: ${regex}`);
      }
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
  scanner.add(KEY, AWKWARD_KEY);

  before(async () => {
    standIn = await startStandIn({ users: { ...DEFAULT_USERS, ...AWKWARD_USERS } });
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
    assert.equal(template.variables.SR_RELEASE, `${inputs["release-url"].default}/${version}`);
    for (const tagLike of ["v0.1.0", "0.1", "latest", "0.1.0/../x", "0.1.0 ; id"]) {
      await assert.rejects(
        interpolate({ registry: "registry.example.com/team", version: tagLike }),
        /`version` input: .* does not match required regex/,
        tagLike,
      );
    }
  });

  it("names the release by one tag, the bare version, everywhere the docs and the template do", async () => {
    const readme = await readRecipes();
    const template = await readFile(COMPONENT, "utf8");
    const refs = [
      ...readme.matchAll(/releases\/download\/([^/\s"]+)/g),
      ...readme.matchAll(/uses: saucelabs-community\/sauce-registry@(\S+)/g),
      ...readme.matchAll(/sauce-registry\/sauce-registry@(\S+)/g),
      ...readme.matchAll(/sauce-registry\/([^/\s]+)\/templates\/sauce-registry\.yml/g),
      ...template.matchAll(/sauce-registry\/sauce-registry@(\S+)/g),
      ...template.matchAll(/sauce-registry\/([^/\s]+)\/templates\/sauce-registry\.yml/g),
    ].map((match) => match[1]);
    assert.ok(refs.length >= 8, `found ${refs.join(", ")}`);
    for (const ref of refs) assert.ok(ref === version || ref === "$VERSION", ref);
    assert.match(readme, new RegExp(`^VERSION=${version.replaceAll(".", "\\.")}$`, "m"));
  });

  /**
   * A GitLab job extending the template: its variables and the CI/CD variables in the
   * environment, before_script and `script` in one shell, after_script in another.
   */
  async function runJob(
    template: JobTemplate,
    script: string[],
    jobId: string,
    identity: { username: string; accessKey: string } = { username: USER, accessKey: KEY },
    tmpName = "tmp",
  ): Promise<{ main: RunResult; after: RunResult; tmp: string; home: string }> {
    const job = await mkdtemp(join(work, "job-"));
    const tmp = join(job, tmpName);
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
      SAUCE_USERNAME: identity.username,
      SAUCE_ACCESS_KEY: identity.accessKey,
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
      join(releases, version),
      "linux-x64",
    ], { cwd: ROOT, timeoutMs: 540_000 });
    assert.equal(built.code, 0, describeResult(built));
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
      `${describeResult(main)}\n${(await services.registry()).logs().slice(-2000)}`,
    );
    assert.match(main.stdout, new RegExp(`fresh tokens for ${host.replace(/\./g, "\\.")}`));
    assert.match(main.stdout, new RegExp(`^sauce-registry ${version.replace(/\./g, "\\.")}$`, "m"));
    // One token when the job starts (the key is checked), reused by both skopeo calls.
    assert.equal(standIn.tokenRequestCount(), before + 1);
    assert.doesNotMatch(`${main.stdout}${main.stderr}`, /not on PATH/, "no PATH advice in CI logs");
    for (const issued of standIn.issued) scanner.add(issued.password);
    scanner.check("job output", main.stdout, main.stderr);
    assert.equal(after.code, 0, describeResult(after));
    assert.deepEqual(await readdir(tmp), [], "after_script removed the key file, helper, cache");
    assert.deepEqual(await readdir(home), [], "the user's Docker config was not touched");
  });

  it(
    "takes CI/CD variables holding \\, \", ', #, ': ', a leading space and non-ASCII, and a TMPDIR with quotes: the script pushes and pulls with them",
    {
      timeout: 300_000,
    },
    async () => {
      const { host } = await services.registry();
      const registry = `${host}/team-awkward`;
      const template = await interpolate({
        registry,
        "release-url": releases,
        "api-url": standIn.url,
      });
      const before = standIn.issued.length;
      const realmFrom = standIn.realmRequests.length;
      const { main, after, tmp } = await runJob(
        template,
        [
          'if env | grep -q "^SAUCE_ACCESS_KEY="; then echo "the key is in the environment" >&2; exit 9; fi',
          'echo "credentials file mode $(stat -c %a "$TMPDIR/sauce-registry-$CI_JOB_ID/credentials.yml")"',
          `skopeo copy --dest-tls-verify=false ${image} docker://${registry}/app:1`,
          `skopeo copy --src-tls-verify=false docker://${registry}/app:1 dir:pulled`,
          "test -f pulled/manifest.json",
        ],
        "4444",
        { username: AWKWARD_USER, accessKey: AWKWARD_KEY },
        // The helper's wrapper holds this folder's name: quotes, $ and ` must stay literal.
        `tmp it's "$HOME" \`id\` \\`,
      );
      assert.equal(main.code, 0, describeResult(main));
      assert.match(main.stdout, /^credentials file mode 600$/m);
      // One token, for this identity, when the job starts; the push and the pull reuse it.
      assert.deepEqual(standIn.issued.slice(before).map((issued) => issued.sauceUser), [
        AWKWARD_USER,
      ]);
      const users = standIn.realmRequests.slice(realmFrom).flatMap((request) => {
        const authorization = request.headers.authorization ?? "";
        if (!authorization.startsWith("Basic ")) return [];
        const password = atob(authorization.slice("Basic ".length)).replace(/^[^:]*:/, "");
        return [standIn.issued.find((issued) => issued.password === password)?.sauceUser];
      });
      assert.ok(users.length > 0, "the registry asked for the token");
      assert.deepEqual([...new Set(users)], [AWKWARD_USER]);
      for (const issued of standIn.issued) scanner.add(issued.password);
      scanner.check("job output", main.stdout, main.stderr);
      assert.equal(after.code, 0, describeResult(after));
      assert.deepEqual(await readdir(tmp), []);
    },
  );

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
    const { main, after, tmp } = await runJob(template, ["echo the script ran"], "4343", {
      username: USER,
      accessKey: wrongKey,
    });
    assert.notEqual(main.code, 0, describeResult(main));
    // In the words of what the user set: the CI/CD variables; api-url is set, so no region hint.
    assert.match(
      main.stderr,
      /refused the username or access key \(401\).*; check the SAUCE_USERNAME and SAUCE_ACCESS_KEY CI\/CD variables$/m,
    );
    assert.doesNotMatch(main.stderr, /--region|SAUCE_REGION/);
    assert.doesNotMatch(main.stderr, /region/i, "api-url is set: there is no region to change");
    assert.doesNotMatch(main.stdout, /the script ran/);
    scanner.check("job output", main.stdout, main.stderr);
    assert.equal(after.code, 0, describeResult(after));
    assert.deepEqual(await readdir(tmp), []);
  });

  it("installs nothing when the release's checksum does not match", {
    timeout: 300_000,
  }, async () => {
    const tampered = join(work, "tampered");
    const folder = join(tampered, version);
    await mkdir(folder, { recursive: true });
    for (const name of await readdir(join(releases, version))) {
      const bytes = await readFile(join(releases, version, name));
      if (name.endsWith("linux-x64")) bytes[bytes.length - 1] ^= 0xff;
      await writeFile(join(folder, name), bytes);
    }
    const template = await interpolate({
      registry: "127.0.0.1:5999/team",
      "release-url": tampered,
      "api-url": standIn.url,
    });
    const { main, after, tmp } = await runJob(template, ["echo the script ran"], "4545");
    assert.notEqual(main.code, 0, describeResult(main));
    assert.match(main.stderr, /checksum mismatch/);
    assert.doesNotMatch(main.stdout, /the script ran/);
    assert.equal(after.code, 0);
    assert.equal((await stat(tmp)).isDirectory(), true);
    assert.deepEqual(await readdir(tmp), []);
  });

  describe("included as README says, run by gitlab-ci-local", () => {
    let host: GitHost;
    let project: string;
    let readme: string;
    const git = (cwd: string, ...args: string[]) =>
      run(requireTool("git"), [
        "-c",
        "user.name=sauce-registry tests",
        "-c",
        "user.email=tests@example.invalid",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "tag.gpgsign=false",
        ...args,
      ], { cwd }).then((result) => {
        assert.equal(result.code, 0, `git ${args.join(" ")}: ${describeResult(result)}`);
        return result;
      });

    /**
     * The repository at its release tag (README, the template, .gitlab-ci.yml), and a Git host on
     * loopback whose mirrors of it hold that tag and nothing else.
     */
    before(async () => {
      readme = await readRecipes();
      project = join(work, "sauce-registry");
      await mkdir(join(project, "templates"), { recursive: true });
      for (const file of ["README.md", ".gitlab-ci.yml", join("templates", "sauce-registry.yml")]) {
        await cp(join(ROOT, file), join(project, file));
      }
      await git(project, "init", "-q");
      await git(project, "add", "-A");
      await git(project, "commit", "-q", "-m", "The release");
      await git(project, "tag", version);
      const repos = join(work, "git-host");
      for (const mirror of ["saucelabs-community/sauce-registry", "your-group/sauce-registry"]) {
        await mkdir(join(repos, mirror + ".git"), { recursive: true });
        await git(join(repos, mirror + ".git"), "init", "-q", "--bare");
        await git(project, "push", "-q", join(repos, mirror + ".git"), `refs/tags/${version}`);
      }
      host = await startGitHost(repos);
      await git(project, "remote", "add", "origin", `${host.url}/your-group/sauce-registry.git`);
    });

    after(async () => {
      await host?.close();
    });

    /** gitlab-ci-local in `cwd`, with a job's private TMPDIR and HOME; no Sauce key in its env. */
    async function gitlabCiLocal(
      cwd: string,
      args: string[],
    ): Promise<{ result: RunResult; tmp: string }> {
      const tmp = await mkdtemp(join(work, "gcl-tmp-"));
      const home = await mkdtemp(join(work, "gcl-home-"));
      const result = await run(requireTool("gitlab-ci-local"), ["--color=false", ...args], {
        cwd,
        env: {
          TMPDIR: tmp,
          HOME: home,
          XDG_RUNTIME_DIR: home,
          SAUCE_USERNAME: undefined,
          SAUCE_ACCESS_KEY: undefined,
          DOCKER_CONFIG: undefined,
        },
        timeoutMs: 300_000,
      });
      return { result, tmp };
    }

    /**
     * A GitLab project of a user (its origin on the Git host: gitlab-ci-local takes
     * $CI_SERVER_FQDN and components from there) whose pipeline includes the template with
     * `include` and `inputs`, and a job extending it; the key in its CI/CD variables.
     */
    async function userProject(
      name: string,
      include: string,
      inputs: string,
      identity: { username: string; accessKey: string } = { username: USER, accessKey: KEY },
    ): Promise<string> {
      const dir = join(work, name);
      await mkdir(dir);
      await git(dir, "init", "-q");
      await git(dir, "remote", "add", "origin", `${host.url}/users/${name}.git`);
      await writeFile(
        join(dir, ".gitlab-ci.yml"),
        `include:\n  - ${include}\n    inputs:\n${inputs}\n` +
          "job:\n  extends: .sauce-registry\n  script:\n    - sauce-registry --version\n",
      );
      await writeFile(
        join(dir, ".gitlab-ci-local-variables.yml"),
        `SAUCE_USERNAME: ${JSON.stringify(identity.username)}\n` +
          `SAUCE_ACCESS_KEY: ${JSON.stringify(identity.accessKey)}\n`,
      );
      await git(dir, "add", ".gitlab-ci.yml");
      await git(dir, "commit", "-q", "-m", "Pipeline");
      return dir;
    }

    const inputs = () =>
      [
        "      registry: 127.0.0.1:5999/team",
        `      release-url: ${JSON.stringify(releases)}`,
        `      api-url: ${JSON.stringify(standIn.url)}`,
      ].join("\n");

    /** The job ran before_script, script and after_script, with no PATH advice in its log. */
    async function assertJobRan(result: RunResult, tmp: string): Promise<void> {
      assert.equal(result.code, 0, describeResult(result));
      const log = `${result.stdout}${result.stderr}`;
      assert.match(
        log,
        /job > sauce-registry .*: docker, podman, buildah and skopeo get fresh tokens for 127\.0\.0\.1:5999/,
      );
      assert.match(log, new RegExp(`job > sauce-registry ${version.replaceAll(".", "\\.")}$`, "m"));
      assert.doesNotMatch(log, /not on PATH/, "the job's log gives no PATH advice");
      assert.match(log, /PASS +job/);
      for (const issued of standIn.issued) scanner.add(issued.password);
      scanner.check("gitlab-ci-local output", result.stdout, result.stderr);
      assert.deepEqual(await readdir(tmp), [], "after_script removed the job's folder");
    }

    it("include: remote of README's URL (the template at the release tag) runs the job", {
      timeout: 600_000,
    }, async () => {
      const url = /- remote: (https:\/\/raw\.githubusercontent\.com\/\S+)/.exec(readme)?.[1];
      assert.ok(url, "README has an include: remote recipe");
      const served = url.replace("https://raw.githubusercontent.com/", `${host.url}/raw/`);
      const dir = await userProject("remote-include", `remote: ${served}`, inputs());
      const { result, tmp } = await gitlabCiLocal(dir, ["job"]);
      await assertJobRan(result, tmp);
      assert.ok(host.requests.includes(new URL(served).pathname), host.requests.join("\n"));
    });

    it(
      "include: component as README names it, from a mirror holding only the release tag; CI/CD variables that need quoting",
      {
        timeout: 600_000,
      },
      async () => {
        const component = /- component: (\$CI_SERVER_FQDN\/\S+)/.exec(readme)?.[1];
        assert.ok(component, "README has an include: component recipe");
        const dir = await userProject("component-include", `component: ${component}`, inputs(), {
          username: AWKWARD_USER,
          accessKey: AWKWARD_KEY,
        });
        const { result, tmp } = await gitlabCiLocal(dir, ["job"]);
        await assertJobRan(result, tmp);
      },
    );

    it("fails the pipeline, installing nothing, when the version input has a v", {
      timeout: 300_000,
    }, async () => {
      const url = /- remote: (https:\/\/raw\.githubusercontent\.com\/\S+)/.exec(readme)![1]
        .replace("https://raw.githubusercontent.com/", `${host.url}/raw/`);
      const dir = await userProject(
        "v-version",
        `remote: ${url}`,
        `${inputs()}\n      version: v${version}`,
      );
      const { result, tmp } = await gitlabCiLocal(dir, ["job"]);
      assert.notEqual(result.code, 0, describeResult(result));
      assert.match(
        `${result.stdout}${result.stderr}`,
        new RegExp(
          `\`version\` input: \`v${version.replaceAll(".", "\\.")}\` does not match required regex`,
        ),
      );
      assert.doesNotMatch(result.stdout, /job starting/);
      assert.deepEqual(await readdir(tmp), []);
    });

    it("publishes to the CI/CD Catalog (create-release) for semantic-version tags only", {
      timeout: 120_000,
    }, async () => {
      for (const [tag, listed] of [[version, true], ["1.2.3-rc.1", true], [`v${version}`, false]]) {
        const { result } = await gitlabCiLocal(project, [
          "--list",
          "--variable",
          `CI_COMMIT_TAG=${tag}`,
        ]);
        assert.equal(result.code, 0, describeResult(result));
        assert.equal(/^create-release\b/m.test(result.stdout), listed, `${tag}: ${result.stdout}`);
      }
      const { result: branch } = await gitlabCiLocal(project, ["--list"]);
      assert.doesNotMatch(branch.stdout, /^create-release\b/m, "no release for a branch pipeline");
    });
  });
});
