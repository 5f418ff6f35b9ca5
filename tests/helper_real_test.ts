// The credential helper driven by real clients: after `configure-docker`, skopeo and a real
// dockerd push to a real token-authenticated docker-registry with no login and no credentials
// on their command lines. Docker finds `docker-credential-saucelabs` on PATH through
// `credHelpers`; the helper asks the local Sauce API stand-in, whose realm vouches for the
// tokens it issued. `docker login`/`docker logout` keep working, and a push after the first
// token expired gets a new one.
//
// Runs unchanged under `deno test -A` and `bun test`. Bun cuts hooks off at 5 s, so the
// registry and dockerd start inside the first test that needs them and stop in after().

import { mkdir, mkdtemp, readFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { useRealComponents } from "./fixtures/suite.ts";
import { basic, describeResult, sleep } from "./fixtures/common.ts";
import { writeHelperWrapper } from "./fixtures/helper.ts";
import { DEFAULT_USERS, TOKEN_USERNAME } from "./fixtures/stand_in.ts";
import {
  loadIntoDocker,
  makeArgvRecorderShim,
  privateContainersStorage,
  readShimCalls,
  requireTool,
  run,
  type RunResult,
} from "./fixtures/services.ts";
import { runCli, type Sandbox, SecretScanner } from "./fixtures/harness.ts";

const ALICE_KEY = DEFAULT_USERS.alice;

describe("real clients through credHelpers and docker-credential-saucelabs", () => {
  const suite = useRealComponents("helper-real-");
  const helperLogs = new Map<Sandbox, string>();
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY);

  /**
   * A sandbox whose Docker config folder lies outside HOME (so a tool that only read
   * ~/.docker/config.json would find nothing), with `docker-credential-saucelabs` on PATH and,
   * unless `configure` is false, `configure-docker HOST` done.
   */
  async function helperSandbox(
    host: string,
    configure = true,
    how: "by hand" | "install-helper" = "by hand",
  ): Promise<Sandbox> {
    const sandbox = await suite.sandbox();
    // The wrapper Docker runs, behind a recorder that notes which actions were asked for. Both
    // live outside the sandbox: the recorder keeps each call's environment (access key included).
    const bin = await mkdtemp(join(suite.work, "bin-"));
    const implementation = join(bin, "impl");
    await mkdir(implementation);
    const wrapper = join(implementation, "docker-credential-saucelabs");
    if (how === "install-helper") {
      const installed = await runCli(["install-helper", "--dir", implementation], {
        env: sandbox.env,
        cwd: sandbox.dir,
      });
      assert.equal(installed.code, 0, installed.stderr);
    } else {
      await writeHelperWrapper(implementation);
    }
    helperLogs.set(
      sandbox,
      (await makeArgvRecorderShim(bin, "docker-credential-saucelabs", wrapper)).log,
    );
    const runtimeDir = join(sandbox.dir, "run");
    await mkdir(runtimeDir, { mode: 0o700 });
    Object.assign(sandbox.env, {
      PATH: `${bin}:${sandbox.env.PATH}`,
      DOCKER_CONFIG: join(sandbox.dir, "docker-config"),
      // containers/image also looks in $XDG_RUNTIME_DIR/containers/auth.json: keep it empty.
      XDG_RUNTIME_DIR: runtimeDir,
    });
    if (configure) {
      const configured = await runCli(["configure-docker", host], {
        env: sandbox.env,
        cwd: sandbox.dir,
      });
      assert.equal(configured.code, 0, configured.stderr);
      assert.ok(!configured.stderr.includes("warning"), configured.stderr);
      const config = JSON.parse(
        await readFile(join(sandbox.env.DOCKER_CONFIG, "config.json"), "utf8"),
      ) as { credHelpers: Record<string, string> };
      assert.deepEqual(config.credHelpers, { [host]: "saucelabs" });
    }
    return sandbox;
  }

  /** A tool's environment: the sandbox's, with no outer auth file that could lend credentials. */
  function toolEnv(sandbox: Sandbox, extra: Record<string, string> = {}) {
    return { ...sandbox.env, REGISTRY_AUTH_FILE: undefined, ...extra };
  }

  function skopeo(sandbox: Sandbox, args: string[]): Promise<RunResult> {
    return run(requireTool("skopeo"), args, {
      env: toolEnv(sandbox),
      cwd: sandbox.dir,
      timeoutMs: 60_000,
    });
  }

  async function docker(sandbox: Sandbox, args: string[], stdin = ""): Promise<RunResult> {
    return await run(requireTool("docker"), args, {
      env: toolEnv(sandbox, { DOCKER_HOST: (await suite.services.dockerd()).host }),
      cwd: sandbox.dir,
      stdin,
      timeoutMs: 90_000,
    });
  }

  /** Whether the image is in the registry, checked with a fresh credential of our own. */
  async function inRegistry(reference: string): Promise<boolean> {
    const token = suite.standIn.issue();
    const inspected = await run(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      "--creds",
      `${TOKEN_USERNAME}:${token.password}`,
      `docker://${reference}`,
    ], { env: { REGISTRY_AUTH_FILE: undefined } });
    return inspected.code === 0;
  }

  /** The helper actions run so far in a sandbox, in order (`get`, `store`, …). */
  async function helperActions(sandbox: Sandbox): Promise<string[]> {
    return (await readShimCalls(helperLogs.get(sandbox)!)).map((call) => call.args.join(" "));
  }

  /** Where the stand-in's records stand now, to tell what an action added. */
  function mark(): { requests: number; issued: number } {
    return { requests: suite.standIn.tokenRequestCount(), issued: suite.standIn.issued.length };
  }

  /** The passwords issued since `since` (none is issued directly while a tool runs). */
  function passwordsSince(since: { issued: number }): string[] {
    return suite.standIn.issued.slice(since.issued).map((token) => token.password);
  }

  it(
    "lets skopeo push with credHelpers from $DOCKER_CONFIG alone",
    { timeout: 120_000 },
    async () => {
      const { host } = await suite.services.registry();
      const sandbox = await helperSandbox(host);
      const start = mark();
      const realm = suite.standIn.realmRequests.length;

      const copied = await skopeo(sandbox, [
        "copy",
        "--dest-tls-verify=false",
        suite.image,
        `docker://${host}/team/app:1`,
      ]);
      assert.equal(
        copied.code,
        0,
        `${describeResult(copied)}\n${(await suite.services.registry()).logs().slice(-2000)}`,
      );
      assert.ok(
        suite.standIn.tokenRequestCount() > start.requests,
        "the helper asked the Sauce API",
      );
      const issued = passwordsSince(start);
      scanner.add(...issued);
      const realmAuth = suite.standIn.realmRequests.slice(realm).map((r) =>
        r.headers.authorization
      );
      assert.ok(realmAuth.length > 0, "skopeo asked the realm for a registry token");
      for (const auth of realmAuth) {
        assert.ok(
          issued.some((password) => auth === basic(TOKEN_USERNAME, password)),
          "skopeo authenticated with a token the helper fetched",
        );
      }
      assert.ok(await inRegistry(`${host}/team/app:1`), "the image is in the registry");

      const inspected = await skopeo(sandbox, [
        "inspect",
        "--tls-verify=false",
        `docker://${host}/team/app:1`,
      ]);
      assert.equal(inspected.code, 0, describeResult(inspected));
      assert.equal(
        (JSON.parse(inspected.stdout) as { Architecture: string }).Architecture,
        "amd64",
      );

      scanner.check("skopeo output", copied.stdout, copied.stderr, inspected.stderr);
      const cache = join(sandbox.env.XDG_CACHE_HOME, "sauce-registry");
      await scanner.checkTree(sandbox.dir, (path) => path.startsWith(`${cache}/`));
    },
  );

  for (const tool of ["podman", "buildah"] as const) {
    it(
      `lets ${tool} push through the helper that install-helper wrote`,
      { timeout: 120_000 },
      async () => {
        const { host } = await suite.services.registry();
        const sandbox = await helperSandbox(host, true, "install-helper");
        sandbox.env.CONTAINERS_STORAGE_CONF = await privateContainersStorage(
          join(sandbox.dir, "storage"),
        );
        const reference = `${host}/team/app:${tool}`;
        const stored = await skopeo(sandbox, [
          "copy",
          suite.image,
          `containers-storage:${reference}`,
        ]);
        assert.equal(stored.code, 0, describeResult(stored));
        const start = mark();
        const realm = suite.standIn.realmRequests.length;

        const pushed = await run(requireTool(tool), ["push", "--tls-verify=false", reference], {
          env: toolEnv(sandbox),
          cwd: sandbox.dir,
          timeoutMs: 90_000,
        });
        assert.equal(
          pushed.code,
          0,
          `${describeResult(pushed)}\n${(await suite.services.registry()).logs()}`,
        );
        assert.ok((await helperActions(sandbox)).includes("get"), `${tool} did not run the helper`);
        const issued = passwordsSince(start);
        assert.ok(issued.length > 0, "the helper fetched no token");
        scanner.add(...issued);
        const realmAuth = suite.standIn.realmRequests.slice(realm).map((r) =>
          r.headers.authorization
        );
        assert.ok(realmAuth.length > 0, `${tool} asked the realm for no registry token`);
        for (const auth of realmAuth) {
          assert.ok(
            issued.some((password) => auth === basic(TOKEN_USERNAME, password)),
            `${tool} authenticated with something the helper did not fetch`,
          );
        }
        assert.ok(await inRegistry(reference), "the image is in the registry");
        scanner.check(`${tool} push output`, pushed.stdout, pushed.stderr);
      },
    );
  }

  it(
    "fails to push without configure-docker, and mints no token",
    { timeout: 120_000 },
    async () => {
      const { host } = await suite.services.registry();
      const sandbox = await helperSandbox(host, false);
      const requests = suite.standIn.tokenRequestCount();
      const copied = await skopeo(sandbox, [
        "copy",
        "--dest-tls-verify=false",
        suite.image,
        `docker://${host}/team/app:anonymous`,
      ]);
      assert.notEqual(copied.code, 0, describeResult(copied));
      assert.match(copied.stderr, /unauthorized|authentication required/i);
      assert.equal(suite.standIn.tokenRequestCount(), requests);
      assert.ok(!(await inRegistry(`${host}/team/app:anonymous`)));
    },
  );

  it("lets a real dockerd push through the helper", { timeout: 180_000 }, async () => {
    const { host } = await suite.services.registry();
    await suite.services.dockerd();
    const sandbox = await helperSandbox(host);
    await loadIntoDocker(
      suite.image,
      `${host}/team/app:2`,
      toolEnv(sandbox, { DOCKER_HOST: (await suite.services.dockerd()).host }),
    );
    const start = mark();
    const pushed = await docker(sandbox, ["push", `${host}/team/app:2`]);
    assert.equal(
      pushed.code,
      0,
      `${describeResult(pushed)}\n${(await suite.services.dockerd()).logs().slice(-2000)}`,
    );
    assert.ok(suite.standIn.tokenRequestCount() > start.requests, "docker ran the helper");
    assert.ok((await helperActions(sandbox)).includes("get"));
    scanner.add(...passwordsSince(start));
    assert.ok(await inRegistry(`${host}/team/app:2`), "the image is in the registry");
    scanner.check("docker push output", pushed.stdout, pushed.stderr);
  });

  it("keeps docker login and docker logout working for a helper-configured host", {
    timeout: 120_000,
  }, async () => {
    const { host } = await suite.services.registry();
    await suite.services.dockerd();
    const sandbox = await helperSandbox(host);
    const configPath = join(sandbox.env.DOCKER_CONFIG, "config.json");
    // The daemon checks the login against the registry, so it must be a live credential.
    const typed = suite.standIn.issue();
    scanner.add(typed.password);
    const loggedIn = await docker(
      sandbox,
      ["login", "--username", TOKEN_USERNAME, "--password-stdin", host],
      typed.password,
    );
    assert.equal(loggedIn.code, 0, describeResult(loggedIn));
    assert.match(loggedIn.stdout, /Login Succeeded/);
    const config = JSON.parse(await readFile(configPath, "utf8")) as {
      credHelpers: Record<string, string>;
    };
    assert.equal(config.credHelpers[host], "saucelabs", "login kept the helper");
    assert.ok((await helperActions(sandbox)).includes("store"), "docker login ran store");
    scanner.check("config.json after docker login", await readFile(configPath, "utf8"));

    // A token in the cache, so that logout has something to drop.
    const get = () =>
      run("docker-credential-saucelabs", ["get"], {
        env: sandbox.env,
        stdin: host,
      });
    assert.equal((await get()).code, 0);
    const start = mark();
    assert.equal((await get()).code, 0);
    assert.equal(suite.standIn.tokenRequestCount(), start.requests, "cached");

    const loggedOut = await docker(sandbox, ["logout", host]);
    assert.equal(loggedOut.code, 0, describeResult(loggedOut));
    assert.equal((await helperActions(sandbox)).at(-1), "erase", "docker logout ran erase");
    const got = await get();
    assert.equal(got.code, 0, got.stderr);
    assert.equal(
      suite.standIn.tokenRequestCount(),
      start.requests + 1,
      "logout erased the cached token",
    );
    scanner.add(...passwordsSince(start));
    scanner.check(
      "docker login/logout output",
      loggedIn.stderr,
      loggedOut.stdout,
      loggedOut.stderr,
    );
  });

  it(
    "pushes again with a new token after the first one expired",
    { timeout: 180_000 },
    async () => {
      const { host } = await suite.services.registry();
      await suite.services.dockerd();
      const sandbox = await helperSandbox(host);
      await loadIntoDocker(
        suite.image,
        `${host}/team/app:3`,
        toolEnv(sandbox, { DOCKER_HOST: (await suite.services.dockerd()).host }),
      );
      await loadIntoDocker(
        suite.image,
        `${host}/team/app:4`,
        toolEnv(sandbox, { DOCKER_HOST: (await suite.services.dockerd()).host }),
      );
      suite.standIn.tokenLifetimeSeconds = 3;
      try {
        const start = mark();
        const first = await docker(sandbox, ["push", `${host}/team/app:3`]);
        assert.equal(first.code, 0, describeResult(first));
        const old = suite.standIn.issued.slice(start.issued);
        assert.ok(old.length > 0, "the first push fetched a token");
        scanner.add(...old.map((token) => token.password));
        const latest = Math.max(...old.map((token) => token.expiresAt.getTime()));
        await sleep(Math.max(0, latest - Date.now()) + 2_000);

        // The registry itself now refuses the old password.
        const lastOld = old.at(-1)!;
        const refused = await run(requireTool("skopeo"), [
          "copy",
          "--dest-tls-verify=false",
          "--dest-creds",
          `${TOKEN_USERNAME}:${lastOld.password}`,
          suite.image,
          `docker://${host}/team/app:stale`,
        ], { env: toolEnv(sandbox), timeoutMs: 60_000 });
        assert.notEqual(refused.code, 0, describeResult(refused));
        assert.match(refused.stderr, /unauthorized|authentication required/i);

        const afterFirst = mark();
        const realm = suite.standIn.realmRequests.length;
        const second = await docker(sandbox, ["push", `${host}/team/app:4`]);
        assert.equal(
          second.code,
          0,
          `${describeResult(second)}\n${(await suite.services.dockerd()).logs().slice(-2000)}`,
        );
        assert.ok(
          suite.standIn.tokenRequestCount() > afterFirst.requests,
          "the helper fetched a new token",
        );
        const fresh = passwordsSince(afterFirst);
        scanner.add(...fresh);
        for (const request of suite.standIn.realmRequests.slice(realm)) {
          assert.ok(
            fresh.some((password) =>
              request.headers.authorization === basic(TOKEN_USERNAME, password)
            ),
            "the second push used only new tokens",
          );
        }
        assert.ok(await inRegistry(`${host}/team/app:4`));
        scanner.check("docker push output", first.stderr, second.stdout, second.stderr);
      } finally {
        suite.standIn.tokenLifetimeSeconds = 300;
      }
    },
  );
});
