// The standalone binary, built here with `bun build --compile` (deno compile cannot fetch its
// runtime base on this machine): it runs with no runtime on PATH, acts as the credential helper
// under the name docker-credential-saucelabs, and runs inside a FROM scratch container that holds
// only the binary and the shared libraries it links.

import { copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { type Dockerd, requireTool, run, startDockerd } from "./fixtures/services.ts";
import { cliCommand, makeSandbox, ROOT, type Sandbox, SecretScanner } from "./fixtures/harness.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];

describe("the Bun-compiled standalone binary", () => {
  let standIn: StandIn;
  let work: string;
  let binary: string;
  let sandbox: Sandbox;
  const scanner = new SecretScanner();

  before(async () => {
    const bun = requireTool("bun");
    standIn = await startStandIn();
    work = await mkdtemp(join(tmpdir(), "sr-binary-"));
    binary = join(work, "bin", "sauce-registry");
    // Built exactly as `deno task compile:bun` builds it, only to another file.
    const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    const task: string[] = denoJson.tasks["compile:bun"].split(/\s+/);
    assert.deepEqual(task.slice(0, 3), ["bun", "build", "--compile"]);
    const args = task.slice(1);
    args[args.indexOf("--outfile") + 1] = binary;
    const build = await run(bun, args, { cwd: ROOT, timeoutMs: 120_000 });
    assert.equal(build.code, 0, `bun build --compile failed: ${build.stderr}`);
    sandbox = await makeSandbox();
    scanner.add(KEY);
  });

  after(async () => {
    await standIn?.close();
    await sandbox?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** The binary's environment: nothing but what it needs, no PATH at all (so no deno or bun). */
  function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      HOME: sandbox.env.HOME,
      XDG_CONFIG_HOME: sandbox.env.XDG_CONFIG_HOME,
      XDG_CACHE_HOME: sandbox.env.XDG_CACHE_HOME,
      DOCKER_CONFIG: sandbox.env.DOCKER_CONFIG,
      SAUCE_USERNAME: USER,
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
      ...extra,
    };
  }

  it("prints its version and fetches a token with no Deno or Bun on PATH", async () => {
    const version = await run(binary, ["--version"], { env: bareEnv(), inheritEnv: false });
    const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    assert.equal(version.stdout.trim(), `sauce-registry ${denoJson.version}`);

    const before = standIn.tokenRequestCount();
    const token = await run(binary, ["token", "--registry", "registry.example.com/team"], {
      env: bareEnv(),
      inheritEnv: false,
      cwd: work,
    });
    assert.equal(token.code, 0, token.stderr);
    const answer = JSON.parse(token.stdout);
    assert.equal(answer.username, "oauth2accesstoken");
    assert.equal(answer.password, standIn.issued.at(-1)!.password);
    assert.equal(standIn.tokenRequestCount(), before + 1);
    scanner.check("binary token stderr", token.stderr);
  });

  it("does not load a .env file into its environment by itself", async () => {
    // SAUCE_REGISTRY_RETRIES is read from the environment only, never from .env: had Bun loaded
    // ./.env into the environment, the binary would give up after the first 503.
    const folder = join(work, "dotenv");
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, ".env"), "SAUCE_REGISTRY_RETRIES=0\n");
    standIn.fault({ status: 503, times: 2 });
    const before = standIn.tokenRequestCount();
    const result = await run(binary, ["token", "--format", "expires-at"], {
      env: bareEnv({ SAUCE_REGISTRY_RETRY_DELAY_MS: "10" }),
      inheritEnv: false,
      cwd: folder,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(standIn.tokenRequestCount(), before + 3);
  });

  it("answers the credential-helper protocol as docker-credential-saucelabs via a symlink", async () => {
    const configure = await run(binary, ["configure-docker", "127.0.0.1:5999/team"], {
      env: bareEnv(),
      inheritEnv: false,
    });
    assert.equal(configure.code, 0, configure.stderr);
    const helper = join(work, "bin", "docker-credential-saucelabs");
    await symlink(binary, helper);

    const get = await run(helper, ["get"], {
      env: bareEnv(),
      inheritEnv: false,
      stdin: "127.0.0.1:5999",
    });
    assert.equal(get.code, 0, get.stderr);
    const answer = JSON.parse(get.stdout);
    assert.deepEqual(Object.keys(answer), ["ServerURL", "Username", "Secret"]);
    assert.equal(answer.ServerURL, "127.0.0.1:5999");
    assert.equal(answer.Secret, standIn.issued.at(-1)!.password);
    const body = JSON.parse(standIn.requests.at(-1)!.body);
    assert.equal(body.registry_url, "127.0.0.1:5999/team");

    const unknown = await run(helper, ["get"], {
      env: bareEnv(),
      inheritEnv: false,
      stdin: "docker.io",
    });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout.trim(), "credentials not found in native keychain");

    const usage = await run(helper, [], { env: bareEnv(), inheritEnv: false });
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /get\|store\|erase\|list\|version/);
  });

  it("install-helper links the binary itself, and that link answers get", async () => {
    const dir = join(work, "installed");
    const install = await run(binary, ["install-helper", "--dir", dir], {
      env: bareEnv(),
      inheritEnv: false,
    });
    assert.equal(install.code, 0, install.stderr);
    const list = await run(join(dir, "docker-credential-saucelabs"), ["list"], {
      env: bareEnv(),
      inheritEnv: false,
    });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), { "127.0.0.1:5999": USER });
  });

  describe("inside a FROM scratch container run by a real dockerd", () => {
    let dockerd: Dockerd;
    const image = "sauce-registry-scratch:test";

    after(async () => {
      await dockerd?.stop();
    });

    // dockerd starts inside the test: Bun cuts hooks off after 5 s whatever their timeout.
    it("fetches a token from the stand-in with only the binary and its shared libraries", {
      timeout: 180_000,
    }, async () => {
      const docker = requireTool("docker");
      dockerd = await startDockerd();
      const context = join(work, "scratch-context");
      const rootfs = join(context, "rootfs");
      await mkdir(rootfs, { recursive: true });
      await copyFile(binary, join(rootfs, "sauce-registry"));
      // What distroless/cc provides: the C library and the loader the binary links.
      const ldd = await run("ldd", [binary]);
      assert.equal(ldd.code, 0, ldd.stderr);
      const libraries = [...ldd.stdout.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((match) => match[1]);
      assert.ok(libraries.some((path) => path.includes("libc.so")), ldd.stdout);
      for (const library of libraries) {
        const target = join(rootfs, library);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(library, target);
      }
      await writeFile(
        join(context, "Dockerfile"),
        'FROM scratch\nCOPY rootfs/ /\nENTRYPOINT ["/sauce-registry"]\n',
      );
      const env = { ...dockerd.env, DOCKER_BUILDKIT: "0" };
      const build = await run(docker, ["build", "-q", "-t", image, context], {
        env,
        timeoutMs: 120_000,
      });
      assert.equal(build.code, 0, `docker build failed: ${build.stderr}`);

      const before = standIn.tokenRequestCount();
      // The key reaches the container through the docker CLI's environment (-e NAME without a
      // value), never through an argument.
      const args = [
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        "SAUCE_USERNAME",
        "-e",
        "SAUCE_ACCESS_KEY",
        "-e",
        "SAUCE_API_URL",
        image,
        "token",
        "--format",
        "expires-at",
      ];
      scanner.check("docker run argv", args.join(" "));
      const result = await run(docker, args, {
        env: { ...env, SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY, SAUCE_API_URL: standIn.url },
        timeoutMs: 60_000,
      });
      assert.equal(result.code, 0, `container run failed: ${result.stderr}`);
      assert.ok(
        Date.parse(result.stdout.trim()) > Date.now(),
        `expected an expiry in the future: ${result.stdout}`,
      );
      assert.equal(standIn.tokenRequestCount(), before + 1);
      const images = await run(docker, ["image", "inspect", image, "--format", "{{.Size}}"], {
        env,
      });
      const binarySize = (await stat(binary)).size;
      assert.ok(Number(images.stdout.trim()) >= binarySize, "the image holds the binary");
    });
  });
});

describe("the way tests start the command line", () => {
  it("uses the runtime that runs the tests", () => {
    const [program] = cliCommand();
    const expected = "Bun" in globalThis ? /bun/ : /deno/;
    assert.match(program, expected);
  });
});
