// `sauce-registry login` and `logout` driving the real container tools (skopeo, podman, buildah,
// docker) against a real docker-registry that only accepts tokens the local Sauce stand-in
// vouches for. Each login is then proven by using it (a push), and a recorder shim in front of
// each real tool proves the password travels through stdin only.
//
// Runs unchanged under `deno test -A` and `bun test`. Bun cuts hooks off after 5 s, so before()
// only starts the services and the tests that need them wait for them with their own timeout.

import { Buffer } from "node:buffer";
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { exists } from "./fixtures/common.ts";
import {
  type CliResult,
  makeSandbox,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import {
  buildOciImage,
  type Dockerd,
  makeArgvRecorderShim,
  privateContainersStorage,
  readShimCalls,
  type Registry,
  requireTool,
  run,
  type RunResult,
  startDockerd,
  startRegistry,
} from "./fixtures/services.ts";
import { DEFAULT_USERS, type StandIn, startStandIn, TOKEN_USERNAME } from "./fixtures/stand_in.ts";

const ACCESS_KEY = DEFAULT_USERS.alice;

/** A login to some other registry that docker's config already holds. */
const OTHER_HOST = "other.registry.invalid";
const OTHER_LOGIN = { auth: Buffer.from("someone:elsewhere").toString("base64") };

/**
 * A user's Docker config, written by hand: keys podman, buildah and skopeo do not know (they drop
 * them when they rewrite the file), an integer beyond 2^53 and a layout of its own. It must keep
 * every byte through a login and logout of theirs.
 */
const USER_DOCKER_CONFIG = `{
  "auths": { "${OTHER_HOST}": ${JSON.stringify(OTHER_LOGIN)} },
  "credsStore": "desktop",
  "proxies": { "default": { "httpProxy": "http://127.0.0.1:3128" } },
  "currentContext": "remote",
  "psFormat": "table {{.ID}}\\t{{.Image}}",
  "x-build-number": 12345678901234567890
}
`;

/** Generous: dockerd on vfs and a cold runtime can be slow on a busy machine. */
const SLOW = { timeout: 90_000 };

describe("login with the real container tools against a token-authenticated registry", () => {
  let workDir: string | undefined;
  let standIn: StandIn | undefined;
  let registry: Registry | undefined;
  let dockerd: Dockerd | undefined;
  let registryReady: Promise<Registry>;
  let dockerdReady: Promise<Dockerd>;
  let image: Promise<string>;
  const scanner = new SecretScanner();
  scanner.add(ACCESS_KEY);

  before(() => {
    // Not awaited: Bun would cut a slow hook off at 5 s. Each test awaits what it needs.
    registryReady = (async () => {
      standIn = await startStandIn();
      registry = await startRegistry(standIn);
      return registry;
    })();
    dockerdReady = (async () => {
      requireTool("docker");
      dockerd = await startDockerd();
      return dockerd;
    })();
    image = (async () => {
      workDir = await mkdtemp(join(tmpdir(), "login-real-test-"));
      return await buildOciImage(join(workDir, "oci"), { tag: "v1" });
    })();
    // The tests report a failed start; these only keep it from being an unhandled rejection.
    for (const started of [registryReady, dockerdReady, image]) started.catch(() => {});
  });

  after(async () => {
    await Promise.allSettled([registryReady, dockerdReady, image]);
    // In parallel: Bun gives this hook 5 s in all.
    await Promise.allSettled([registry?.stop(), dockerd?.stop(), standIn?.close()]);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** A sandbox whose CLI talks to the stand-in as alice, with a private containers auth file. */
  async function sandboxFor(extra: Record<string, string> = {}): Promise<Sandbox> {
    const { url } = standIn!;
    const sandbox = await makeSandbox({
      SAUCE_API_URL: url,
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: ACCESS_KEY,
      ...extra,
    });
    // skopeo, podman and buildah read and write this file: login and the later push share it.
    sandbox.env.REGISTRY_AUTH_FILE = join(sandbox.dir, "containers", "auth.json");
    // podman opens its storage even to log in: keep it out of /var/lib/containers.
    sandbox.env.CONTAINERS_STORAGE_CONF = await privateContainersStorage(
      join(sandbox.dir, "storage"),
    );
    return sandbox;
  }

  function cli(args: string[], sandbox: Sandbox): Promise<CliResult> {
    return runCli(args, { env: sandbox.env, cwd: sandbox.dir, timeoutMs: 60_000 });
  }

  /** The credential the stand-in issued last, registered with the scanner. */
  function lastIssuedPassword(): string {
    const issued = standIn!.issued.at(-1);
    assert.ok(issued, "the stand-in issued no token");
    scanner.add(issued.password);
    return issued.password;
  }

  function basicAuth(password: string): string {
    return Buffer.from(`${TOKEN_USERNAME}:${password}`).toString("base64");
  }

  async function readAuths(file: string): Promise<Record<string, { auth?: string }>> {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return {};
      throw error;
    }
    return (JSON.parse(text) as { auths?: Record<string, { auth?: string }> }).auths ?? {};
  }

  /**
   * A config with no auths, credsStore or credHelpers makes the docker CLI pick a desktop keyring
   * helper when one is installed (SPEC §3), which fails on a headless machine. A login to another
   * registry keeps docker on its own file store; it must survive our login and logout.
   */
  async function seedDockerConfig(sandbox: Sandbox): Promise<string> {
    const configFile = join(sandbox.env.DOCKER_CONFIG, "config.json");
    await mkdir(sandbox.env.DOCKER_CONFIG, { recursive: true });
    await writeFile(configFile, JSON.stringify({ auths: { [OTHER_HOST]: OTHER_LOGIN } }), {
      mode: 0o600,
    });
    return configFile;
  }

  /**
   * No secret in any file under the sandbox's home or containers folder, except the tool's own
   * auth file, which holds the token on purpose and must be private (0600). The recorder's log
   * and podman's storage are left out: the test, not the CLI, wrote those. A folder no tool
   * created holds nothing (docker never makes the containers one).
   */
  async function checkWrittenFiles(sandbox: Sandbox, authFile: string): Promise<void> {
    for (const folder of ["home", "containers"]) {
      const dir = join(sandbox.dir, folder);
      if (await exists(dir)) await scanner.checkTree(dir, (path) => path === authFile);
    }
  }

  /**
   * The tool's own push of the test image, with nothing but the sandbox's environment: skopeo
   * copies it, podman and buildah push it from their storage (where skopeo puts it first, which
   * needs no credentials).
   */
  async function pushWithTool(
    tool: "skopeo" | "podman" | "buildah",
    sandbox: Sandbox,
    tag: string,
  ): Promise<RunResult> {
    const target = `${registry!.host}/team/app:${tag}`;
    const options = { env: sandbox.env, inheritEnv: false, timeoutMs: 60_000 };
    if (tool === "skopeo") {
      return await run(requireTool("skopeo"), [
        "copy",
        "--dest-tls-verify=false",
        await image,
        `docker://${target}`,
      ], options);
    }
    const stored = await run(requireTool("skopeo"), [
      "copy",
      await image,
      `containers-storage:${target}`,
    ], options);
    assert.equal(stored.code, 0, explain(stored, `skopeo copy to ${tool}'s storage`));
    return await run(requireTool(tool), ["push", "--tls-verify=false", target], options);
  }

  function explain(result: CliResult | RunResult, what: string): string {
    return `${what} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}` +
      `\n--- registry logs (tail) ---\n${registry?.logs().slice(-2_000) ?? ""}`;
  }

  /** Checks a successful login's output: the host, the tool and the expiry; no secret. */
  function assertLoggedIn(result: CliResult, tool: string, what: string): void {
    assert.equal(result.code, 0, explain(result, what));
    const expiresAt = standIn!.issued.at(-1)!.expiresAt.toISOString().replace(/\.000Z$/, "Z");
    assert.match(result.stdout, new RegExp(`Logged in to ${registry!.host} with ${tool}`));
    assert.ok(
      result.stdout.includes(`expires at ${expiresAt}`),
      `the expiry ${expiresAt} is not in: ${result.stdout}`,
    );
    scanner.checkResult(what, result);
  }

  /**
   * A sandbox as most users have it: DOCKER_CONFIG set (by makeSandbox), no REGISTRY_AUTH_FILE,
   * and an XDG_RUNTIME_DIR of its own (as root the tools would otherwise use /run/containers/0).
   */
  async function plainSandbox(): Promise<Sandbox> {
    const sandbox = await sandboxFor();
    delete sandbox.env.REGISTRY_AUTH_FILE;
    sandbox.env.XDG_RUNTIME_DIR = join(sandbox.dir, "run");
    await mkdir(sandbox.env.XDG_RUNTIME_DIR, { mode: 0o700 });
    return sandbox;
  }

  /** Where podman, buildah and skopeo logins go when DOCKER_CONFIG is set. */
  function containersAuthFileOf(sandbox: Sandbox): string {
    return join(sandbox.env.XDG_CONFIG_HOME, "containers", "auth.json");
  }

  /** A real tool's login through the CLI, proven by the tool's own push with the stored login. */
  async function loginThenPush(tool: "skopeo" | "podman" | "buildah", tag: string): Promise<void> {
    requireTool(tool);
    const { host } = await registryReady;
    const sandbox = await sandboxFor();
    try {
      // podman and buildah refuse an auth file named by REGISTRY_AUTH_FILE that does not exist.
      await mkdir(dirname(sandbox.env.REGISTRY_AUTH_FILE), { recursive: true });
      await writeFile(sandbox.env.REGISTRY_AUTH_FILE, "{}\n", { mode: 0o600 });
      const anonymous = await pushWithTool(tool, sandbox, `${tag}-anonymous`);
      assert.notEqual(anonymous.code, 0, "the registry accepted a push without a login");
      assert.match(anonymous.stderr, /unauthorized|authentication required|401/i);

      const requestsBefore = standIn!.tokenRequestCount();
      const login = await cli(
        ["login", host, "--tool", tool, "--tool-arg=--tls-verify=false"],
        sandbox,
      );
      const password = lastIssuedPassword();
      assertLoggedIn(login, tool, `${tool} login`);
      assert.equal(standIn!.tokenRequestCount(), requestsBefore + 1, "one token per login");
      assert.deepEqual(JSON.parse(standIn!.requests.at(-1)!.body), { registry_url: host });
      assert.match(login.stdout, new RegExp(`kept in ${sandbox.env.REGISTRY_AUTH_FILE}`));

      const auths = await readAuths(sandbox.env.REGISTRY_AUTH_FILE);
      assert.equal(auths[host]?.auth, basicAuth(password), `${tool} did not store the token`);

      const pushed = await pushWithTool(tool, sandbox, tag);
      assert.equal(pushed.code, 0, explain(pushed, `${tool} push after login`));

      const logout = await cli(["logout", host, "--tool", tool], sandbox);
      assert.equal(logout.code, 0, explain(logout, `${tool} logout`));
      assert.equal((await readAuths(sandbox.env.REGISTRY_AUTH_FILE))[host], undefined);
      scanner.checkResult(`${tool} logout`, logout);
      const denied = await pushWithTool(tool, sandbox, `${tag}-after-logout`);
      assert.notEqual(denied.code, 0, "a push still worked after logout");
    } finally {
      await sandbox.cleanup();
    }
  }

  it(
    "logs skopeo in so that a push succeeds, where the same push without login is refused",
    SLOW,
    async () => {
      await loginThenPush("skopeo", "skopeo");
    },
  );

  it("logs podman in so that podman push with its stored credential succeeds", SLOW, async () => {
    await loginThenPush("podman", "podman");
  });

  it("logs buildah in so that buildah push with its stored credential succeeds", SLOW, async () => {
    await loginThenPush("buildah", "buildah");
  });

  for (const tool of ["skopeo", "podman", "buildah"] as const) {
    it(
      `keeps a ${tool} login out of the Docker config: a symlinked config.json keeps every byte`,
      SLOW,
      async () => {
        requireTool(tool);
        const { host } = await registryReady;
        const sandbox = await plainSandbox();
        try {
          const dotfile = join(sandbox.dir, "dotfiles", "docker-config.json");
          await mkdir(dirname(dotfile), { recursive: true });
          await writeFile(dotfile, USER_DOCKER_CONFIG, { mode: 0o600 });
          await mkdir(sandbox.env.DOCKER_CONFIG, { recursive: true });
          const link = join(sandbox.env.DOCKER_CONFIG, "config.json");
          await symlink(dotfile, link);
          const untouched = async (when: string) => {
            assert.ok((await lstat(link)).isSymbolicLink(), `${when}: config.json was replaced`);
            assert.equal(await readlink(link), dotfile, `${when}: the symlink changed`);
            assert.equal(await readFile(dotfile, "utf8"), USER_DOCKER_CONFIG, `${when}: edited`);
            assert.deepEqual(await readdir(sandbox.env.DOCKER_CONFIG), ["config.json"]);
          };

          const login = await cli(
            ["login", host, "--tool", tool, "--tool-arg=--tls-verify=false"],
            sandbox,
          );
          const password = lastIssuedPassword();
          assertLoggedIn(login, tool, `${tool} login with DOCKER_CONFIG set`);
          await untouched(`after ${tool} login`);
          const authFile = containersAuthFileOf(sandbox);
          assert.match(login.stdout, new RegExp(`kept in ${authFile}`));
          assert.equal((await readAuths(authFile))[host]?.auth, basicAuth(password));

          // Where the login went, the tool itself finds it.
          const pushed = await pushWithTool(tool, sandbox, `${tool}-docker-config`);
          assert.equal(pushed.code, 0, explain(pushed, `${tool} push after login`));

          const logout = await cli(["logout", host, "--tool", tool], sandbox);
          assert.equal(logout.code, 0, explain(logout, `${tool} logout`));
          assert.equal((await readAuths(authFile))[host], undefined, "logout left the login");
          await untouched(`after ${tool} logout`);
          await checkWrittenFiles(sandbox, authFile);
        } finally {
          await sandbox.cleanup();
        }
      },
    );

    it(
      `says the credential helper serves the host instead of a ${tool} login, and ${tool} pushes through it`,
      SLOW,
      async () => {
        requireTool(tool);
        const { host } = await registryReady;
        const sandbox = await plainSandbox();
        try {
          const bin = join(sandbox.dir, "bin");
          const installed = await cli(["install-helper", "--dir", bin], sandbox);
          assert.equal(installed.code, 0, explain(installed, "install-helper"));
          sandbox.env.PATH = `${bin}:${sandbox.env.PATH}`;
          const configured = await cli(["configure-docker", host], sandbox);
          assert.equal(configured.code, 0, explain(configured, "configure-docker"));
          const configFile = join(sandbox.env.DOCKER_CONFIG, "config.json");
          const config = await readFile(configFile, "utf8");

          const requests = standIn!.tokenRequestCount();
          const login = await cli(
            ["login", host, "--tool", tool, "--tool-arg=--tls-verify=false"],
            sandbox,
          );
          assert.equal(login.code, 0, explain(login, `${tool} login after configure-docker`));
          assert.equal(
            login.stdout,
            `${host} is already served by the credential helper (credHelpers in ${configFile}): ${tool} gets a fresh token for every pull and push, so no login is needed and none was made\n`,
          );
          const json = await cli(["login", host, "--tool", tool, "--json"], sandbox);
          assert.equal(json.code, 0, explain(json, `${tool} login --json after configure-docker`));
          assert.deepEqual(JSON.parse(json.stdout), {
            host,
            tool,
            credential_helper: "docker-credential-saucelabs",
            docker_config: configFile,
          });
          assert.equal(standIn!.tokenRequestCount(), requests, "a token for no login");
          assert.equal(await exists(containersAuthFileOf(sandbox)), false, "a login was stored");
          assert.equal(await exists(join(sandbox.env.XDG_RUNTIME_DIR, "containers")), false);
          assert.equal(await readFile(configFile, "utf8"), config);

          const pushed = await pushWithTool(tool, sandbox, `${tool}-helper`);
          assert.equal(pushed.code, 0, explain(pushed, `${tool} push through the helper`));
          assert.ok(standIn!.tokenRequestCount() > requests, `${tool} did not run the helper`);
          scanner.add(...standIn!.issued.map((token) => token.password));
          scanner.check(`${tool} push output`, pushed.stdout, pushed.stderr);
          const cache = join(sandbox.env.XDG_CACHE_HOME, "sauce-registry");
          await scanner.checkTree(join(sandbox.dir, "home"), (path) => path.startsWith(cache));
        } finally {
          await sandbox.cleanup();
        }
      },
    );
  }

  it(
    "logs skopeo in when the Docker config names a helper for the host that cannot answer",
    SLOW,
    async () => {
      const { host } = await registryReady;
      const sandbox = await plainSandbox();
      try {
        // The helper is not on PATH: skopeo would fail running it to look up the host's login.
        const configured = await cli(["configure-docker", host], sandbox);
        assert.equal(configured.code, 0, explain(configured, "configure-docker"));
        const login = await cli(
          ["login", host, "--tool", "skopeo", "--tool-arg=--tls-verify=false"],
          sandbox,
        );
        const password = lastIssuedPassword();
        assertLoggedIn(login, "skopeo", "skopeo login beside a helper that cannot answer");
        const authFile = containersAuthFileOf(sandbox);
        assert.equal((await readAuths(authFile))[host]?.auth, basicAuth(password));
        await checkWrittenFiles(sandbox, authFile);
      } finally {
        await sandbox.cleanup();
      }
    },
  );

  it(
    "logs docker in through a real dockerd, docker push then works, and logout removes the entry",
    SLOW,
    async () => {
      const docker = requireTool("docker");
      const [{ host }, daemon] = await Promise.all([registryReady, dockerdReady]);
      const sandbox = await sandboxFor({ DOCKER_HOST: daemon.host });
      try {
        const dockerEnv = { env: sandbox.env, inheritEnv: false, timeoutMs: 60_000 };
        const archive = join(sandbox.dir, "image.tar");
        const copied = await run(requireTool("skopeo"), [
          "copy",
          await image,
          `docker-archive:${archive}:sauce-registry-test/app:v1`,
        ], dockerEnv);
        assert.equal(copied.code, 0, explain(copied, "skopeo copy to docker-archive"));
        const loaded = await run(docker, ["load", "-i", archive], dockerEnv);
        assert.equal(loaded.code, 0, explain(loaded, "docker load"));
        const target = `${host}/team/app:docker`;
        const tagged = await run(docker, ["tag", "sauce-registry-test/app:v1", target], dockerEnv);
        assert.equal(tagged.code, 0, explain(tagged, "docker tag"));

        // Not an anonymous push: dockerd retries a refused layer upload for about 50 s.
        const anonymous = await run(docker, ["pull", target], dockerEnv);
        assert.notEqual(anonymous.code, 0, "the registry served docker without a login");
        assert.match(anonymous.stderr, /unauthorized|authentication required/i);

        const configFile = await seedDockerConfig(sandbox);

        const login = await cli(["login", host, "--tool", "docker"], sandbox);
        const password = lastIssuedPassword();
        assertLoggedIn(login, "docker", "docker login");
        const auths = await readAuths(configFile);
        assert.equal(auths[host]?.auth, basicAuth(password), "docker stored no auths entry");
        assert.deepEqual(auths[OTHER_HOST], OTHER_LOGIN);

        const pushed = await run(docker, ["push", target], dockerEnv);
        assert.equal(pushed.code, 0, explain(pushed, "docker push after login"));
        assert.match(pushed.stdout, /digest: sha256:[0-9a-f]{64}/);

        const logout = await cli(["logout", host, "--tool", "docker"], sandbox);
        assert.equal(logout.code, 0, explain(logout, "docker logout"));
        const remaining = await readAuths(configFile);
        assert.equal(remaining[host], undefined, "logout left the entry");
        assert.deepEqual(remaining[OTHER_HOST], OTHER_LOGIN);
        scanner.checkResult("docker logout", logout);
        await checkWrittenFiles(sandbox, configFile);
      } finally {
        await sandbox.cleanup();
      }
    },
  );

  for (const tool of ["skopeo", "podman", "buildah", "docker"] as const) {
    it(
      `gives ${tool} the password on stdin only, never in its argv or environment`,
      SLOW,
      async () => {
        const realPath = requireTool(tool);
        const { host } = await registryReady;
        const daemon = tool === "docker" ? await dockerdReady : undefined;
        const sandbox = await sandboxFor(daemon ? { DOCKER_HOST: daemon.host } : {});
        try {
          const shims = join(sandbox.dir, "shims");
          await mkdir(shims);
          const { log } = await makeArgvRecorderShim(shims, tool, realPath);
          sandbox.env.PATH = `${shims}:${sandbox.env.PATH}`;
          const extra = tool === "docker" ? [] : ["--tls-verify=false"];
          const realmBefore = standIn!.realmRequests.length;
          const authFile = tool === "docker"
            ? await seedDockerConfig(sandbox)
            : sandbox.env.REGISTRY_AUTH_FILE;

          const login = await cli(
            ["login", host, "--tool", tool, ...extra.map((arg) => `--tool-arg=${arg}`)],
            sandbox,
          );
          const password = lastIssuedPassword();
          assertLoggedIn(login, tool, `${tool} login behind the recorder`);

          const calls = await readShimCalls(log);
          assert.equal(calls.length, 1, `expected one ${tool} run, got ${calls.length}`);
          const [call] = calls;
          // podman, buildah and skopeo are told where the login goes, and REGISTRY_AUTH_FILE wins.
          const authArgs = tool === "docker" ? [] : ["--authfile", sandbox.env.REGISTRY_AUTH_FILE];
          assert.deepEqual(call.args, [
            "login",
            "--username",
            TOKEN_USERNAME,
            "--password-stdin",
            ...authArgs,
            ...extra,
            host,
          ]);
          for (const [index, arg] of call.argv.entries()) {
            assert.ok(!arg.includes(password), `the password is in ${tool}'s argv[${index}]`);
            assert.ok(!arg.includes(ACCESS_KEY), `the access key is in ${tool}'s argv[${index}]`);
          }
          scanner.check(`${tool}'s argv`, call.argv.join("\0"));
          for (const [name, value] of Object.entries(call.env)) {
            assert.ok(!value.includes(password), `the password is in ${tool}'s env ${name}`);
            assert.ok(!value.includes(ACCESS_KEY), `the access key is in ${tool}'s env ${name}`);
          }

          // Not in argv, not in the environment: the tool can only have read it from stdin.
          // It did: the registry's token realm saw it, and the tool stored it.
          const sawPassword = standIn!.realmRequests.slice(realmBefore).some((request) =>
            request.headers.authorization === `Basic ${basicAuth(password)}` ||
            new URLSearchParams(request.body).get("password") === password
          );
          assert.ok(sawPassword, `${tool} never presented the password to the registry`);
          assert.equal((await readAuths(authFile))[host]?.auth, basicAuth(password));
          await checkWrittenFiles(sandbox, authFile);
        } finally {
          await sandbox.cleanup();
        }
      },
    );
  }
});
