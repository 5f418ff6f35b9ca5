// The Docker credential helper (`credential-helper get|store|erase|list|version`), the files
// `configure-docker` writes, and the token cache with its cross-process lock (SPEC §3).
//
// Every test runs the real CLI as a child process under the runtime that runs the tests, in a
// sandboxed home, against the local Sauce API stand-in. Runs unchanged under `deno test -A` and
// `bun test`.

import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { basename, join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { goneProcess, startTimeOf } from "./fixtures/processes.ts";
import { shellQuote, sleep, waitUntil } from "./fixtures/common.ts";
import { DEFAULT_USERS, type StandIn, startStandIn, TOKEN_USERNAME } from "./fixtures/stand_in.ts";
import { run } from "./fixtures/services.ts";
import {
  CLI,
  cliCommand,
  type CliResult,
  makeSandbox,
  ROOT,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import { DENO_HELPER_FLAGS } from "../src/install_helper.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
const NOT_FOUND = "credentials not found in native keychain";
const VERSION = (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { version: string })
  .version;
const HOST = "registry.example.com";
const REGISTRY_URL = `${HOST}/your-private-registry`;
const PORT_HOST = "127.0.0.1:5443";

/** The CLI in a sandbox, run from inside it so no `.env` of the repository is read. */
function cli(sandbox: Sandbox, args: string[], stdin = ""): Promise<CliResult> {
  return runCli(args, { env: sandbox.env, stdin, cwd: sandbox.dir });
}

function helper(sandbox: Sandbox, action: string[], stdin = ""): Promise<CliResult> {
  return cli(sandbox, ["credential-helper", ...action], stdin);
}

interface HelperAnswer {
  ServerURL: string;
  Username: string;
  Secret: string;
}

function parseAnswer(result: CliResult): HelperAnswer {
  assert.equal(result.code, 0, `helper get failed: ${result.stderr}`);
  const answer = JSON.parse(result.stdout) as HelperAnswer;
  assert.deepEqual(Object.keys(answer).sort(), ["Secret", "ServerURL", "Username"]);
  return answer;
}

/**
 * The `docker-credential-saucelabs` Docker would run: a shell wrapper around the CLI under the
 * current runtime, in a bin folder of its own.
 */
async function writeHelperWrapper(binDir: string): Promise<string> {
  await mkdir(binDir, { recursive: true });
  const path = join(binDir, "docker-credential-saucelabs");
  const command = cliCommand().map(shellQuote).join(" ");
  await writeFile(path, `#!/bin/sh\nexec ${command} credential-helper "$@"\n`);
  await chmod(path, 0o755);
  return path;
}

function modeOf(info: { mode: number }): number {
  return info.mode & 0o777;
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

function cacheDir(sandbox: Sandbox): string {
  return join(sandbox.env.XDG_CACHE_HOME, "sauce-registry");
}

function dockerConfigPath(sandbox: Sandbox): string {
  return join(sandbox.env.DOCKER_CONFIG, "config.json");
}

function registriesPath(sandbox: Sandbox): string {
  return join(sandbox.env.XDG_CONFIG_HOME, "sauce-registry", "registries.json");
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

function spawnCli(sandbox: Sandbox, args: string[], stdin: string): ChildProcess {
  const [program, ...first] = cliCommand();
  const child = spawn(program, [...first, ...args], {
    env: sandbox.env,
    cwd: sandbox.dir,
    stdio: ["pipe", "ignore", "ignore"],
  });
  child.stdin?.on("error", () => {});
  child.stdin?.end(stdin);
  return child;
}

describe("credential-helper protocol", () => {
  let standIn: StandIn;
  const sandboxes: Sandbox[] = [];
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY);

  before(async () => {
    standIn = await startStandIn();
  });
  after(async () => {
    await standIn.close();
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
  });

  /** A sandbox with Sauce credentials whose `configure-docker` recorded `registries`. */
  async function configured(
    registries: string[],
    extra: Record<string, string> = {},
  ): Promise<Sandbox> {
    const sandbox = await makeSandbox({
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: ALICE_KEY,
      SAUCE_API_URL: standIn.url,
      ...extra,
    });
    sandboxes.push(sandbox);
    if (registries.length > 0) {
      const result = await cli(sandbox, ["configure-docker", ...registries]);
      assert.equal(result.code, 0, result.stderr);
    }
    return sandbox;
  }

  function issuedPasswords(): string[] {
    const passwords = standIn.issued.map((token) => token.password);
    scanner.add(...passwords);
    return passwords;
  }

  it("answers get for host, host:port and https://host/path with exactly ServerURL, Username and Secret", async () => {
    const sandbox = await configured([REGISTRY_URL, `${PORT_HOST}/team`]);
    const inputs: [string, string][] = [
      [HOST, REGISTRY_URL],
      [PORT_HOST, `${PORT_HOST}/team`],
      [`https://${HOST}/v2/`, REGISTRY_URL],
      [`  https://${PORT_HOST}/team/app\n`, `${PORT_HOST}/team`],
    ];
    const start = standIn.tokenRequestCount();
    for (const [input, registryUrl] of inputs) {
      const before = standIn.tokenRequestCount();
      const result = await helper(sandbox, ["get"], input);
      const answer = parseAnswer(result);
      assert.equal(answer.ServerURL, input.trim());
      assert.equal(answer.Username, TOKEN_USERNAME);
      assert.ok(issuedPasswords().includes(answer.Secret), "the Secret is a password Sauce issued");
      assert.equal(result.stdout.trim().split("\n").length, 1, "one line of JSON");
      if (standIn.tokenRequestCount() > before) {
        // The API wants the whole registry URL, which only the registries file knows.
        const request = standIn.requests.at(-1)!;
        assert.deepEqual(JSON.parse(request.body), { registry_url: registryUrl });
        assert.equal(
          request.headers.authorization,
          `Basic ${btoa(`alice:${ALICE_KEY}`)}`,
        );
      }
      scanner.check("helper get stderr", result.stderr);
    }
    // Two hosts, two registry URLs: one token request for each, the rest came from the cache.
    assert.equal(standIn.tokenRequestCount() - start, 2);
  });

  it("answers exactly 'credentials not found' for an unconfigured host, without asking the API", async () => {
    const sandbox = await configured([REGISTRY_URL]);
    const empty = await configured([]);
    const before = standIn.tokenRequestCount();
    for (
      const [box, input] of [
        [sandbox, "other.example.com"],
        [sandbox, "https://index.docker.io/v1/"],
        [sandbox, "127.0.0.1:5000"],
        [sandbox, ""],
        [sandbox, "not a host"],
        [empty, HOST],
      ] as const
    ) {
      const result = await helper(box, ["get"], input);
      assert.equal(result.code, 1, `get ${JSON.stringify(input)}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^${NOT_FOUND}\\n?$`));
    }
    assert.equal(standIn.tokenRequestCount(), before, "no token may be minted for these hosts");
  });

  it("puts the real cause on stderr when the API refuses, and no secret anywhere", async () => {
    const wrongKey = await configured([REGISTRY_URL], { SAUCE_ACCESS_KEY: "wrong-key-123456" });
    scanner.add("wrong-key-123456");
    const refused = await helper(wrongKey, ["get"], HOST);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /401/);
    assert.equal(refused.stderr.trim().split("\n").length, 1, "a one-line message");
    assert.ok(!refused.stdout.includes("Secret"), refused.stdout);
    assert.ok(!refused.stdout.includes(NOT_FOUND), "a refusal is not 'not found'");
    scanner.checkResult("refused get", refused);

    const sandbox = await configured([REGISTRY_URL]);
    standIn.fault({ status: 403 });
    const forbidden = await helper(sandbox, ["get"], HOST);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /403/);
    assert.match(forbidden.stderr, /support/i);

    const noCredentials = await configured([REGISTRY_URL], { SAUCE_ACCESS_KEY: "" });
    const missing = await helper(noCredentials, ["get"], HOST);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /SAUCE_ACCESS_KEY/);
    assert.equal(missing.stdout, "");
  });

  it("gives up on a hung API after SAUCE_REGISTRY_TIMEOUT, so a push cannot hang with it", async () => {
    const sandbox = await configured([REGISTRY_URL], { SAUCE_REGISTRY_TIMEOUT: "1" });
    standIn.fault({ delayMs: 12_000 });
    const started = Date.now();
    const result = await helper(sandbox, ["get"], HOST);
    standIn.clearFaults();
    assert.equal(result.code, 1);
    assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms, not about 1 s`);
    assert.match(result.stderr, /Timed out after 1 s \(SAUCE_REGISTRY_TIMEOUT\)/);
    assert.equal(result.stdout, "");
  });

  it("refuses wrong usage with a message and exit 1", async () => {
    const sandbox = await configured([REGISTRY_URL]);
    for (const args of [[], ["get", "store"], ["fetch"]]) {
      const result = await helper(sandbox, args, HOST);
      assert.equal(result.code, 1, `credential-helper ${args.join(" ")}`);
      assert.match(result.stderr, /get.*store.*erase.*list/s);
      assert.ok(!result.stdout.includes("Secret"));
    }
  });

  it("accepts store and erase; erase drops only that host's cached token", async () => {
    const sandbox = await configured([REGISTRY_URL, `${PORT_HOST}/team`]);
    const stored = await helper(
      sandbox,
      ["store"],
      JSON.stringify({ ServerURL: HOST, Username: "someone", Secret: "typed-password-42" }),
    );
    assert.equal(stored.code, 0, stored.stderr);
    assert.match(stored.stderr, /minted on demand/);
    assert.equal(stored.stdout, "");
    assert.ok(!stored.stderr.includes("typed-password-42"));

    const first = parseAnswer(await helper(sandbox, ["get"], HOST));
    const other = parseAnswer(await helper(sandbox, ["get"], PORT_HOST));
    const count = standIn.tokenRequestCount();
    assert.equal(parseAnswer(await helper(sandbox, ["get"], HOST)).Secret, first.Secret);
    assert.equal(standIn.tokenRequestCount(), count, "a cached token is reused");

    const erased = await helper(sandbox, ["erase"], HOST);
    assert.equal(erased.code, 0, erased.stderr);
    assert.match(erased.stderr, /dropped the cached token/);
    assert.equal(erased.stdout, "");
    const again = parseAnswer(await helper(sandbox, ["get"], HOST));
    assert.equal(standIn.tokenRequestCount(), count + 1, "get after erase asks the API");
    assert.notEqual(again.Secret, first.Secret);
    assert.equal(parseAnswer(await helper(sandbox, ["get"], PORT_HOST)).Secret, other.Secret);
    assert.equal(standIn.tokenRequestCount(), count + 1, "the other host's token is kept");

    const nothing = await helper(sandbox, ["erase"], "unknown.example.com");
    assert.equal(nothing.code, 0);
    assert.match(nothing.stderr, /no cached token/);
    scanner.check("erase", erased.stderr, nothing.stderr);
    issuedPasswords();
  });

  it("lists configured hosts with the Sauce username, without any API request", async () => {
    const sandbox = await configured([REGISTRY_URL, `${PORT_HOST}/team`]);
    const before = standIn.tokenRequestCount();
    const result = await helper(sandbox, ["list"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { [HOST]: "alice", [PORT_HOST]: "alice" });
    assert.equal(standIn.tokenRequestCount(), before);
    scanner.checkResult("list", result);
    const empty = await configured([]);
    assert.deepEqual(JSON.parse((await helper(empty, ["list"])).stdout), {});
  });

  it("prints its version", async () => {
    const sandbox = await configured([]);
    const result = await helper(sandbox, ["version"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, new RegExp(`saucelabs.*${VERSION.replaceAll(".", "\\.")}`));
  });

  it("install-helper --dir writes a docker-credential-saucelabs that answers get", async () => {
    const sandbox = await configured([REGISTRY_URL]);
    const dir = join(sandbox.dir, "helper bin");
    const installed = await cli(sandbox, ["install-helper", "--dir", dir]);
    assert.equal(installed.code, 0, installed.stderr);
    assert.match(installed.stderr, /not on PATH/);
    const program = join(dir, "docker-credential-saucelabs");
    assert.ok(((await stat(program)).mode & 0o111) !== 0, "the helper is executable");

    const answer = await run(program, ["get"], {
      env: { ...sandbox.env, PATH: "/usr/bin:/bin" },
      stdin: HOST,
      cwd: sandbox.dir,
    });
    assert.equal(parseAnswer(answer).ServerURL, HOST);
    const notFound = await run(program, ["get"], { env: sandbox.env, stdin: "elsewhere.io" });
    assert.deepEqual([notFound.code, notFound.stdout.trim()], [1, NOT_FOUND]);

    // Once the folder is on PATH, configure-docker stops warning.
    const onPath = { ...sandbox, env: { ...sandbox.env, PATH: `${dir}:/usr/bin:/bin` } };
    const quiet = await cli(onPath, ["configure-docker", REGISTRY_URL]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.ok(!quiet.stderr.includes("warning"), quiet.stderr);
  });
});

describe("configure-docker files", () => {
  const sandboxes: Sandbox[] = [];
  const API_URL = "http://127.0.0.1:9/";

  after(async () => {
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
  });

  async function sandboxWithConfig(content?: string, mode = 0o600): Promise<Sandbox> {
    const sandbox = await makeSandbox({ PATH: "/usr/bin:/bin" });
    sandboxes.push(sandbox);
    if (content !== undefined) {
      await mkdir(sandbox.env.DOCKER_CONFIG, { recursive: true });
      await writeFile(dockerConfigPath(sandbox), content);
      await chmod(dockerConfigPath(sandbox), mode);
    }
    return sandbox;
  }

  it("records host → registry URL, region and API URL in the registries file", async () => {
    const sandbox = await sandboxWithConfig();
    const withApi = { ...sandbox, env: { ...sandbox.env, SAUCE_API_URL: API_URL } };
    const first = await cli(withApi, ["configure-docker", `https://${REGISTRY_URL}/`, PORT_HOST]);
    assert.equal(first.code, 0, first.stderr);
    const flag = await cli(sandbox, [
      "configure-docker",
      "--api-url",
      "http://localhost:8080",
      "flag.example.com/team",
    ]);
    assert.equal(flag.code, 0, flag.stderr);
    const region = await cli(sandbox, [
      "configure-docker",
      "--region",
      "eu-central-1",
      "eu.example.com/org/",
    ]);
    assert.equal(region.code, 0, region.stderr);

    const registries = (await readJson(registriesPath(sandbox))).registries;
    assert.deepEqual(registries, {
      [HOST]: { registryUrl: REGISTRY_URL, region: "us-west-1", apiUrl: "http://127.0.0.1:9" },
      [PORT_HOST]: { registryUrl: PORT_HOST, region: "us-west-1", apiUrl: "http://127.0.0.1:9" },
      "flag.example.com": {
        registryUrl: "flag.example.com/team",
        region: "us-west-1",
        apiUrl: "http://localhost:8080",
      },
      "eu.example.com": { registryUrl: "eu.example.com/org", region: "eu-central-1" },
    });
    assert.deepEqual((await readJson(dockerConfigPath(sandbox))).credHelpers, {
      [HOST]: "saucelabs",
      [PORT_HOST]: "saucelabs",
      "flag.example.com": "saucelabs",
      "eu.example.com": "saucelabs",
    });
  });

  it("keeps unknown keys and other entries of the Docker config, and its 0640 mode", async () => {
    const original = {
      auths: {
        "other.example.com": { auth: btoa("bob:hunter2") },
        "https://index.docker.io/v1/": {},
      },
      credHelpers: { "gcr.io": "gcloud" },
      credsStore: "pass",
      psFormat: "table {{.ID}}\\t{{.Names}}",
      proxies: { default: { httpProxy: "http://proxy:3128", noProxy: "*.local" } },
      "x-unknown-key": { nested: [1, 2.5, { deep: null, flag: true }], "ünïcode": "✓ \u2028" },
      currentContext: "remote",
    };
    const text = JSON.stringify(original, null, 2);
    const sandbox = await sandboxWithConfig(text, 0o640);
    const result = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(result.code, 0, result.stderr);
    const updated = await readJson(dockerConfigPath(sandbox));
    assert.deepEqual(updated, {
      ...original,
      credHelpers: { "gcr.io": "gcloud", [HOST]: "saucelabs" },
    });
    assert.equal(modeOf(await stat(dockerConfigPath(sandbox))), 0o640);
    assert.equal(await readFile(`${dockerConfigPath(sandbox)}.bak`, "utf8"), text);
  });

  it("creates a missing Docker config with mode 0600", async () => {
    const sandbox = await sandboxWithConfig();
    const result = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await readJson(dockerConfigPath(sandbox)), {
      credHelpers: { [HOST]: "saucelabs" },
    });
    assert.equal(modeOf(await stat(dockerConfigPath(sandbox))), 0o600);
    assert.deepEqual(await listing(sandbox.env.DOCKER_CONFIG), ["config.json"]);
  });

  it("keeps one backup, and a second run changes nothing", async () => {
    const first = '{"auths":{}}\n';
    const sandbox = await sandboxWithConfig(first);
    const path = dockerConfigPath(sandbox);
    assert.equal((await cli(sandbox, ["configure-docker", REGISTRY_URL])).code, 0);
    const afterFirst = await readFile(path, "utf8");
    assert.equal(await readFile(`${path}.bak`, "utf8"), first);

    const second = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.match(/already up to date/g)?.length, 2, second.stdout);
    assert.equal(await readFile(path, "utf8"), afterFirst, "byte-identical");
    assert.equal(await readFile(`${path}.bak`, "utf8"), first, "the backup is not rotated");
    const registries = await readFile(registriesPath(sandbox), "utf8");

    // Another registry: the backup now holds the version before this run.
    assert.equal((await cli(sandbox, ["configure-docker", "second.example.com"])).code, 0);
    assert.equal(await readFile(`${path}.bak`, "utf8"), afterFirst);
    assert.deepEqual(await listing(sandbox.env.DOCKER_CONFIG), ["config.json", "config.json.bak"]);
    assert.notEqual(await readFile(registriesPath(sandbox), "utf8"), registries);
  });

  it("follows a symlinked config: the target is updated, the link stays a link", async () => {
    const sandbox = await sandboxWithConfig();
    const realDir = join(sandbox.dir, "dotfiles");
    await mkdir(realDir);
    await mkdir(sandbox.env.DOCKER_CONFIG, { recursive: true });
    const previous = '{"credsStore":"secretservice"}';
    await writeFile(join(realDir, "docker.json"), previous, { mode: 0o644 });
    await chmod(join(realDir, "docker.json"), 0o644);
    await symlink("../../dotfiles/docker.json", dockerConfigPath(sandbox));

    const result = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(result.code, 0, result.stderr);
    const link = await lstat(dockerConfigPath(sandbox));
    assert.ok(link.isSymbolicLink(), "config.json is still a symlink");
    assert.equal(await readlink(dockerConfigPath(sandbox)), "../../dotfiles/docker.json");
    assert.deepEqual(await readJson(join(realDir, "docker.json")), {
      credsStore: "secretservice",
      credHelpers: { [HOST]: "saucelabs" },
    });
    assert.equal(modeOf(await stat(join(realDir, "docker.json"))), 0o644);
    assert.equal(await readFile(join(realDir, "docker.json.bak"), "utf8"), previous);
    assert.deepEqual(await listing(realDir), ["docker.json", "docker.json.bak"]);
  });

  it("refuses a config that is not valid JSON, says where, and leaves no trace", async () => {
    const broken = '{\n  "auths": {,\n  "credsStore": "pass"\n}\n';
    const sandbox = await sandboxWithConfig(broken, 0o644);
    const result = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /line 2, column 13/);
    assert.ok(result.stderr.includes(dockerConfigPath(sandbox)), result.stderr);
    assert.equal(await readFile(dockerConfigPath(sandbox), "utf8"), broken);
    assert.equal(modeOf(await stat(dockerConfigPath(sandbox))), 0o644);
    assert.deepEqual(await listing(sandbox.env.DOCKER_CONFIG), ["config.json"]);
    await assert.rejects(stat(registriesPath(sandbox)), "nothing is recorded either");
  });

  it("refuses an array but takes null, an empty file and a UTF-8 BOM as an empty config", async () => {
    const array = "[]\n";
    const refused = await sandboxWithConfig(array);
    const result = await cli(refused, ["configure-docker", REGISTRY_URL]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /array/);
    assert.equal(await readFile(dockerConfigPath(refused), "utf8"), array);
    assert.deepEqual(await listing(refused.env.DOCKER_CONFIG), ["config.json"]);

    for (
      const [content, expected] of [
        ["null", {}],
        ["null\n", {}],
        ["", {}],
        ["  \n", {}],
        ['\uFEFF{"auths":{"a.io":{}}}', { auths: { "a.io": {} } }],
      ] as const
    ) {
      const sandbox = await sandboxWithConfig(content);
      const taken = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
      assert.equal(taken.code, 0, `${JSON.stringify(content)}: ${taken.stderr}`);
      // JSON.parse rejects a BOM, as Docker's own Go decoder does: none may be written.
      const written = JSON.parse(await readFile(dockerConfigPath(sandbox), "utf8"));
      assert.deepEqual(written, { ...expected, credHelpers: { [HOST]: "saucelabs" } });
      assert.equal(await readFile(`${dockerConfigPath(sandbox)}.bak`, "utf8"), content);
    }
  });

  it("refuses a registries file of the wrong shape, naming it, and writes nothing", {
    timeout: 120_000, // 21 runs of the command line: seconds each on a busy machine
  }, async () => {
    const shapes: [string, RegExp][] = [
      ['{"version":1,"registries":[]}', /"registries" must be an object .*found an array/],
      ['{"version":1,"registries":"x"}', /"registries" must be an object .*found a string/],
      ['{"registries":null}', /"registries" must be an object .*found null/],
      ['{"registries":{"a.io":[]}}', /registry "a\.io" must be an object, found an array/],
      [
        '{"registries":{"a.io":{"registryUrl":5,"region":"us-west-1"}}}',
        /registry "a\.io": "registryUrl" must be a registry URL, found a number/,
      ],
      [
        '{"registries":{"a.io":{"registryUrl":"a.io/x"}}}',
        /registry "a\.io": "region" must be a region name, found nothing/,
      ],
      [
        '{"registries":{"a.io":{"registryUrl":"a.io/x","region":"us-west-1","apiUrl":{}}}}',
        /registry "a\.io": "apiUrl" must be a URL, found an object/,
      ],
    ];
    for (const [content, problem] of shapes) {
      const sandbox = await sandboxWithConfig('{"auths":{}}');
      await mkdir(join(sandbox.env.XDG_CONFIG_HOME, "sauce-registry"), { recursive: true });
      await writeFile(registriesPath(sandbox), content);
      for (
        const [args, stdin] of [
          [["configure-docker", REGISTRY_URL], ""],
          [["credential-helper", "get"], "a.io"],
          [["credential-helper", "list"], ""],
        ] as const
      ) {
        const result = await cli(sandbox, [...args], stdin);
        const where = `${args.join(" ")} with ${content}`;
        assert.equal(result.code, 1, `${where}: ${result.stdout}${result.stderr}`);
        assert.ok(result.stderr.includes(registriesPath(sandbox)), `${where}: ${result.stderr}`);
        assert.match(result.stderr, problem, where);
        assert.doesNotMatch(result.stderr, /TypeError|Unexpected/, where);
        assert.equal(result.stderr.trim().split("\n").length, 1, `${where}: one line`);
      }
      assert.equal(await readFile(registriesPath(sandbox), "utf8"), content);
      assert.equal(await readFile(dockerConfigPath(sandbox), "utf8"), '{"auths":{}}');
      assert.deepEqual(await listing(sandbox.env.DOCKER_CONFIG), ["config.json"]);
    }
  });

  it("warns, naming install-helper, when the helper is not on PATH", async () => {
    const sandbox = await sandboxWithConfig();
    const missing = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(missing.code, 0);
    assert.match(missing.stderr, /docker-credential-saucelabs.*install-helper/);

    const bin = join(sandbox.dir, "bin");
    await writeHelperWrapper(bin);
    const found = await cli({ ...sandbox, env: { ...sandbox.env, PATH: `${bin}:/usr/bin:/bin` } }, [
      "configure-docker",
      REGISTRY_URL,
    ]);
    assert.equal(found.code, 0);
    assert.equal(found.stderr, "");
  });

  it(
    "loses no host when 10 processes configure one config at once",
    { timeout: 60_000 },
    async () => {
      const sandbox = await sandboxWithConfig('{"auths":{"keep.example.com":{}},"x":1}');
      const hosts = Array.from({ length: 10 }, (_, i) => `host${i}.example.com`);
      const results = await Promise.all(
        hosts.map((host) => cli(sandbox, ["configure-docker", `${host}/team`])),
      );
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      const config = await readJson(dockerConfigPath(sandbox));
      assert.deepEqual(config.credHelpers, Object.fromEntries(hosts.map((h) => [h, "saucelabs"])));
      assert.deepEqual(config.auths, { "keep.example.com": {} });
      assert.equal(config.x, 1);
      const registries = (await readJson(registriesPath(sandbox))).registries as Record<
        string,
        { registryUrl: string }
      >;
      assert.deepEqual(Object.keys(registries).sort(), hosts);
      for (const host of hosts) assert.equal(registries[host].registryUrl, `${host}/team`);
      assert.deepEqual(await listing(sandbox.env.DOCKER_CONFIG), [
        "config.json",
        "config.json.bak",
      ]);
      assert.deepEqual(
        await listing(join(sandbox.env.XDG_CONFIG_HOME, "sauce-registry")),
        ["registries.json", "registries.json.bak"],
      );
    },
  );
});

describe("token cache and lock", () => {
  let standIn: StandIn;
  const sandboxes: Sandbox[] = [];
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY);

  before(async () => {
    standIn = await startStandIn();
  });
  after(async () => {
    await standIn.close();
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
  });

  async function configured(extra: Record<string, string> = {}): Promise<Sandbox> {
    const sandbox = await makeSandbox({
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: ALICE_KEY,
      SAUCE_API_URL: standIn.url,
      ...extra,
    });
    sandboxes.push(sandbox);
    const result = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(result.code, 0, result.stderr);
    return sandbox;
  }

  /**
   * A lock as a holder that has the given identity writes it (see withFileLock in mod.ts), over
   * an unusable cache entry so that the next get must take the lock.
   */
  async function plantLock(sandbox: Sandbox, holder: Record<string, unknown>): Promise<string> {
    parseAnswer(await helper(sandbox, ["get"], HOST));
    const [name] = await listing(cacheDir(sandbox));
    const file = join(cacheDir(sandbox), name);
    const lock = {
      bootId: (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim(),
      pidNamespace: await readlink("/proc/self/ns/pid"),
      created: Date.now(),
      nonce: "planted",
      ...holder,
    };
    await writeFile(`${file}.lock`, JSON.stringify(lock), { mode: 0o600 });
    await writeFile(file, "{}");
    return file;
  }

  /**
   * A get that gives up after 20 s, with room for a slow start on a loaded machine: behind a lock
   * that {@linkcode whileLockLooksLive} renews, a lock it wrongly keeps makes it fail (no time
   * stamp goes stale, and the 2-minute age limit is far off).
   */
  async function impatientGet(sandbox: Sandbox): Promise<CliResult> {
    return await runCli(["credential-helper", "get"], {
      env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "20" },
      stdin: HOST,
      cwd: sandbox.dir,
    });
  }

  /**
   * Run `work` while the lock at `lockPath` looks held: its time stamp renewed every 250 ms (a
   * live holder renews it every second), so it never goes stale (5 s) and a waiter can only break
   * it by checking its holder, or by its age. No wall clock then judges how soon a lock is broken.
   */
  async function whileLockLooksLive<T>(lockPath: string, work: () => Promise<T>): Promise<T> {
    const renew = setInterval(() => {
      const now = new Date();
      utimes(lockPath, now, now).catch(() => {}); // gone once broken: nothing left to renew
    }, 250);
    try {
      return await work();
    } finally {
      clearInterval(renew);
    }
  }

  /** `credential-helper get` with the permissions of install-helper's Deno wrapper (no /proc). */
  function denoWrapperCommand(): string[] {
    return ["deno", "run", ...DENO_HELPER_FLAGS, CLI, "credential-helper", "get"];
  }

  async function concurrentGets(count: number): Promise<void> {
    const sandbox = await configured();
    const before = standIn.tokenRequestCount();
    // A slow answer widens the window in which every process finds the cache empty.
    standIn.fault({ delayMs: 300 });
    const results = await Promise.all(
      Array.from({ length: count }, () => helper(sandbox, ["get"], HOST)),
    );
    const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
    const requests = standIn.tokenRequestCount() - before;
    console.log(`${count} concurrent gets: ${requests} token request(s)`);
    assert.equal(secrets.size, 1, "every process got the same token");
    assert.equal(requests, 1, "exactly one token request");
    for (const result of results) scanner.check("concurrent get stderr", result.stderr);
  }

  it("makes exactly one token request for 32 concurrent gets on an empty cache", {
    timeout: 90_000,
  }, () => concurrentGets(32));

  it("makes exactly one token request for 64 concurrent gets on an empty cache", {
    timeout: 120_000,
  }, () => concurrentGets(64));

  it("keeps tokens in a 0700 folder, in 0600 files named by a SHA-256 hash", async () => {
    const sandbox = await configured();
    parseAnswer(await helper(sandbox, ["get"], HOST));
    const dir = cacheDir(sandbox);
    assert.equal(modeOf(await stat(dir)), 0o700);
    const names = await listing(dir);
    assert.equal(names.length, 1, names.join(", "));
    assert.match(names[0], /^[0-9a-f]{64}\.json$/);
    assert.ok(!names[0].includes("alice"));
    assert.equal(modeOf(await stat(join(dir, names[0]))), 0o600);
    scanner.add(...standIn.issued.map((token) => token.password));
    // The token lives only in the cache; the access key nowhere.
    await scanner.checkTree(sandbox.dir, (path) => path.startsWith(`${dir}/`));
    const cached = await readFile(join(dir, names[0]), "utf8");
    assert.ok(!cached.includes(ALICE_KEY));
  });

  it("breaks a dead holder's lock at once, by its PID, however fresh its time stamp", {
    timeout: 60_000,
  }, async () => {
    // The lock as a holder writes it (pid, start time, boot id, PID namespace), of a process that
    // is gone, its time stamp kept fresh: only the check of its holder can break it in time.
    const sandbox = await configured();
    const file = await plantLock(sandbox, await goneProcess());
    const before = standIn.tokenRequestCount();
    const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
    const answer = parseAnswer(result);
    assert.equal(standIn.tokenRequestCount(), before + 1);
    assert.equal(answer.Secret, standIn.issued.at(-1)!.password);
    assert.deepEqual(await listing(cacheDir(sandbox)), [basename(file)], "no lock left behind");
  });

  it("breaks a lock whose holder it cannot check once its time stamp is 5 s old", {
    timeout: 60_000,
  }, async () => {
    // Judged by the time stamp alone: a lock of an earlier version (its text is not this
    // version's JSON), and one taken on another machine sharing the folder (another boot id).
    const gone = await goneProcess();
    const locks: [string, (lock: string) => Promise<void>][] = [
      ["an earlier version's lock", async (lock) => {
        await writeFile(lock, `${gone.pid} ${Date.now()} x`, { mode: 0o600 });
      }],
      ["another machine's lock", async (lock) => {
        const holder = JSON.parse(await readFile(lock, "utf8"));
        holder.bootId = "00000000-0000-4000-8000-000000000000";
        await writeFile(lock, JSON.stringify(holder), { mode: 0o600 });
      }],
    ];
    await Promise.all(locks.map(async ([what, rewrite]) => {
      const sandbox = await configured();
      const file = await plantLock(sandbox, gone);
      await rewrite(`${file}.lock`);
      const planted = (await stat(`${file}.lock`)).mtimeMs;
      const result = await runCli(["credential-helper", "get"], {
        env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "30" },
        stdin: HOST,
        cwd: sandbox.dir,
      });
      const brokenAfter = Date.now() - planted;
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      // Not before: its holder might still be at work. Then without waiting for the 2-minute age
      // limit: 15 s more than the 5 s leave room for two gets at once on a loaded machine.
      assert.ok(brokenAfter > 5_000, `${what}: broken ${brokenAfter} ms after its time stamp`);
      assert.ok(brokenAfter < 20_000, `${what}: broken ${brokenAfter} ms after its time stamp`);
      assert.deepEqual(await listing(cacheDir(sandbox)), [basename(file)], `${what}: lock left`);
    }));
  });

  it("still makes one token request when 32 concurrent gets find a dead holder's lock", {
    timeout: 120_000,
  }, async () => {
    // Twice: when several waiters break the same dead lock at once, the race shows most times.
    for (let round = 0; round < 2; round++) {
      const sandbox = await configured();
      const cacheFile = await plantLock(sandbox, await goneProcess());
      const name = basename(cacheFile);
      const before = standIn.tokenRequestCount();
      standIn.fault({ delayMs: 300 });
      const results = await Promise.all(
        Array.from({ length: 32 }, () => helper(sandbox, ["get"], HOST)),
      );
      const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
      assert.equal(standIn.tokenRequestCount() - before, 1, `round ${round}: one token request`);
      assert.equal(secrets.size, 1);
      assert.deepEqual(await listing(cacheDir(sandbox)), [name], "no lock left behind");
    }
  });

  it("does not block behind a helper that was SIGKILLed while holding the lock", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await configured();
    const dir = cacheDir(sandbox);
    const before = standIn.tokenRequestCount();
    standIn.fault({ delayMs: 30_000 });
    const holder = spawnCli(sandbox, ["credential-helper", "get"], HOST);
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    try {
      await waitUntil(
        "the holder's token request",
        20_000,
        async () =>
          standIn.tokenRequestCount() > before &&
          (await listing(dir).catch(() => [])).some((entry) => entry.endsWith(".lock")),
      );
    } finally {
      holder.kill("SIGKILL");
      await exited;
    }
    // Its lock's time stamp kept fresh, as if the holder still ran: only the check of the holder
    // (gone) can break the lock before the get gives up.
    const [lock] = (await listing(dir)).filter((entry) => entry.endsWith(".lock"));
    const answer = parseAnswer(
      await whileLockLooksLive(join(dir, lock), () => impatientGet(sandbox)),
    );
    assert.equal(standIn.tokenRequestCount(), before + 2, "the killed holder's, then ours");
    assert.equal(answer.Secret, standIn.issued.at(-1)!.password);
    assert.ok(!(await listing(dir)).some((entry) => entry.endsWith(".lock")), "lock released");
  });

  it("breaks a lock whose PID now names another process (a reused PID)", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await configured();
    const other = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      // The PID runs, but it started at another time than the lock's holder did.
      const startTime = String(Number(await startTimeOf(other.pid!)) - 1);
      const file = await plantLock(sandbox, { pid: other.pid, startTime });
      const before = standIn.tokenRequestCount();
      const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
      assert.equal(result.code, 0, `a reused PID kept its lock: ${result.stderr}`);
      assert.equal(standIn.tokenRequestCount(), before + 1);
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("breaks a lock whose holder is a zombie", { timeout: 60_000 }, async () => {
    const sandbox = await configured();
    // The backgrounded sleep exits after the shell became `sleep 60`, which never reaps it.
    const parent = spawn("sh", ["-c", "sleep 1 & echo $!; exec sleep 60"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) =>
          parent.stdout!.once("data", (chunk) => resolve(String(chunk)))
        ),
      );
      await waitUntil("the zombie", 10_000, async () => {
        const stat = await readFile(`/proc/${zombie}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
      });
      const file = await plantLock(sandbox, { pid: zombie, startTime: await startTimeOf(zombie) });
      const before = standIn.tokenRequestCount();
      const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
      assert.equal(result.code, 0, `a zombie kept its lock: ${result.stderr}`);
      assert.equal(standIn.tokenRequestCount(), before + 1);
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("breaks a lock older than two minutes even when its holder lives", {
    timeout: 60_000,
  }, async () => {
    const sandbox = await configured();
    const holder = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const file = await plantLock(sandbox, {
        pid: holder.pid,
        startTime: await startTimeOf(holder.pid!),
        created: Date.now() - 3 * 60_000,
      });
      const before = standIn.tokenRequestCount();
      const result = await whileLockLooksLive(`${file}.lock`, () => impatientGet(sandbox));
      assert.equal(result.code, 0, `a hung holder kept its lock: ${result.stderr}`);
      assert.equal(standIn.tokenRequestCount(), before + 1);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("breaks the lock of a holder killed in another PID namespace, where its PID is alive", {
    timeout: 90_000,
  }, async () => {
    // Containers sharing a cache volume: each has its own PID 1. The holder runs as PID 1 of a
    // namespace of its own and is killed; the waiter runs where PID 1 is alive (its shell).
    const sandbox = await configured();
    const dir = cacheDir(sandbox);
    const before = standIn.tokenRequestCount();
    standIn.fault({ delayMs: 30_000 });
    const [program, ...first] = cliCommand();
    const holder = spawn(
      "unshare",
      ["--pid", "--mount-proc", "--kill-child", program, ...first, "credential-helper", "get"],
      { env: sandbox.env, cwd: sandbox.dir, stdio: ["pipe", "ignore", "ignore"] },
    );
    holder.stdin?.on("error", () => {});
    holder.stdin?.end(HOST);
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    let namespacePids = "";
    try {
      await waitUntil(
        "the holder's lock",
        30_000,
        async () =>
          standIn.tokenRequestCount() > before &&
          (await listing(dir).catch(() => [])).some((entry) => entry.endsWith(".lock")),
      );
      // unshare's child, as each PID namespace numbers it: the last number is its own.
      const [child] = (await readFile(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8"))
        .trim().split(" ");
      const status = await readFile(`/proc/${child}/status`, "utf8");
      namespacePids = /^NSpid:\s*(.*)$/m.exec(status)![1];
    } finally {
      holder.kill("SIGKILL"); // unshare --kill-child takes its child along
      await exited;
    }
    assert.match(namespacePids, /\s1$/, "the holder was PID 1 of its namespace");
    const quoted = [program, ...first, "credential-helper", "get"].map(shellQuote).join(" ");
    const waiter = await run(
      "unshare",
      ["--pid", "--fork", "--mount-proc", "sh", "-c", `${quoted}; exit $?`],
      {
        env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "30" },
        inheritEnv: false,
        stdin: HOST,
        cwd: sandbox.dir,
        timeoutMs: 60_000,
      },
    );
    const answer = parseAnswer(waiter);
    assert.equal(answer.Secret, standIn.issued.at(-1)!.password);
    assert.equal(standIn.tokenRequestCount(), before + 2, "the killed holder's request, then ours");
  });

  it("breaks a killed holder's lock under the Deno wrapper's permissions, where /proc is closed", {
    timeout: 90_000,
  }, async () => {
    // install-helper's Deno wrapper runs without --allow-all, and Deno then refuses /proc: the
    // lock's time stamp, which a live holder renews every second, tells instead.
    const sandbox = await configured();
    const dir = cacheDir(sandbox);
    const wrapper = denoWrapperCommand();
    const before = standIn.tokenRequestCount();
    standIn.fault({ delayMs: 30_000 });
    const holder = spawn(wrapper[0], wrapper.slice(1), {
      env: sandbox.env,
      cwd: sandbox.dir,
      stdio: ["pipe", "ignore", "ignore"],
    });
    holder.stdin?.on("error", () => {});
    holder.stdin?.end(HOST);
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    try {
      await waitUntil(
        "the holder's token request",
        30_000,
        async () =>
          standIn.tokenRequestCount() > before &&
          (await listing(dir).catch(() => [])).some((entry) => entry.endsWith(".lock")),
      );
    } finally {
      holder.kill("SIGKILL");
      await exited;
    }
    const waiter = await run(wrapper[0], wrapper.slice(1), {
      env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "30" },
      inheritEnv: false,
      stdin: HOST,
      cwd: sandbox.dir,
    });
    assert.equal(parseAnswer(waiter).Secret, standIn.issued.at(-1)!.password);
    assert.equal(standIn.tokenRequestCount(), before + 2, "the killed holder's request, then ours");
    assert.ok(!(await listing(dir)).some((entry) => entry.endsWith(".lock")), "lock released");
  });

  it("keeps a live holder's lock under the Deno wrapper's permissions, by its heartbeat", {
    timeout: 90_000,
  }, async () => {
    // Without /proc, waiters judge a lock by its time stamp, stale after 5 s: a holder waiting 8 s
    // for the API renews it every second, so the 4 waiters reuse its token.
    const sandbox = await configured();
    const before = standIn.tokenRequestCount();
    standIn.fault({ delayMs: 8_000 });
    const wrapper = denoWrapperCommand();
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        run(wrapper[0], wrapper.slice(1), {
          env: sandbox.env,
          inheritEnv: false,
          stdin: HOST,
          cwd: sandbox.dir,
        })),
    );
    const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
    assert.equal(standIn.tokenRequestCount() - before, 1, "exactly one token request");
    assert.equal(secrets.size, 1, "every process got the same token");
  });

  it("never breaks a dead holder's lock while another waiter is breaking it (.break)", {
    timeout: 90_000,
  }, async () => {
    // Deterministic: a breaker that stays busy (its .break renewed) keeps every other waiter from
    // breaking the same dead lock, so a get that may wait 4 s gives up without a request. Without
    // the guard, two waiters could each remove the lock, the second one the first one's new lock.
    const sandbox = await configured();
    const dead = await run("sh", ["-c", "echo $$"]);
    const pid = Number(dead.stdout.trim());
    const file = await plantLock(sandbox, { pid, startTime: "1" });
    const breaker = `${file}.lock.break`;
    await writeFile(breaker, "busy breaker", { mode: 0o600 });
    const renew = setInterval(() => {
      const now = new Date();
      utimes(breaker, now, now).catch(() => {});
    }, 250);
    const before = standIn.tokenRequestCount();
    let blocked: CliResult;
    try {
      blocked = await runCli(["credential-helper", "get"], {
        env: { ...sandbox.env, SAUCE_REGISTRY_TIMEOUT: "4" },
        stdin: HOST,
        cwd: sandbox.dir,
      });
    } finally {
      clearInterval(renew);
    }
    assert.equal(blocked.code, 1, "a get broke the lock while another breaker was at work");
    assert.match(blocked.stderr, /Timed out/);
    assert.equal(standIn.tokenRequestCount(), before, "no request while the breaker worked");
    // A breaker that stops (killed) is itself stale after 2 s: the next get goes through.
    const answer = parseAnswer(await helper(sandbox, ["get"], HOST));
    assert.equal(answer.Secret, standIn.issued.at(-1)!.password);
    assert.equal(standIn.tokenRequestCount(), before + 1);
    assert.deepEqual(
      (await listing(cacheDir(sandbox))).filter((name) => !name.endsWith(".json")),
      [],
      "no lock or breaker left behind",
    );
  });

  it("asks the API every time with SAUCE_REGISTRY_NO_CACHE=1 and stores nothing", async () => {
    const sandbox = await configured({ SAUCE_REGISTRY_NO_CACHE: "1" });
    const before = standIn.tokenRequestCount();
    const secrets = new Set<string>();
    for (let i = 0; i < 3; i++) {
      secrets.add(parseAnswer(await helper(sandbox, ["get"], HOST)).Secret);
    }
    assert.equal(standIn.tokenRequestCount(), before + 3);
    assert.equal(secrets.size, 3);
    assert.deepEqual(await listing(cacheDir(sandbox)).catch(() => []), []);
  });

  it("never hands out an expired token (3-second tokens)", { timeout: 60_000 }, async () => {
    const sandbox = await configured();
    standIn.tokenLifetimeSeconds = 3;
    try {
      const first = parseAnswer(await helper(sandbox, ["get"], HOST));
      const firstToken = standIn.issued.find((token) => token.password === first.Secret)!;
      assert.ok(firstToken, "the first answer is an issued token");
      // Ask again and again across the first token's expiry: each answer must still be valid
      // when it arrives.
      const until = firstToken.expiresAt.getTime() + 2_000;
      let answers = 0;
      while (Date.now() < until) {
        const answer = parseAnswer(await helper(sandbox, ["get"], HOST));
        const arrived = Date.now();
        const token = standIn.issued.find((issued) => issued.password === answer.Secret);
        assert.ok(token, "every answer is an issued token");
        assert.ok(
          token.expiresAt.getTime() > arrived,
          `a token that expired at ${token.expiresAt.toISOString()} was handed out`,
        );
        answers++;
        await sleep(150);
      }
      assert.ok(answers >= 3, `only ${answers} answers`);
      const last = parseAnswer(await helper(sandbox, ["get"], HOST));
      assert.notEqual(last.Secret, first.Secret);
    } finally {
      standIn.tokenLifetimeSeconds = 300;
    }
  });

  it(
    "serves repeated gets from the cache without asking the API",
    { timeout: 60_000 },
    async () => {
      // Speed is the benchmarks' business (deno task bench); here only that the cache answers.
      const sandbox = await configured();
      const first = parseAnswer(await helper(sandbox, ["get"], HOST));
      const before = standIn.tokenRequestCount();
      for (let i = 0; i < 5; i++) {
        assert.equal(parseAnswer(await helper(sandbox, ["get"], HOST)).Secret, first.Secret);
      }
      assert.equal(standIn.tokenRequestCount(), before, "all from the cache");
    },
  );

  it("keeps waiting behind a live holder of a slow request, however old its lock's time stamp", {
    timeout: 90_000,
  }, async () => {
    // A live holder keeps its lock however long the API takes, whatever its time stamp says: the
    // stamp is set 10 s back every 50 ms (the holder renews it every second), so that only the
    // check of the holder keeps the 7 waiters from breaking the lock. They reuse its token. The
    // 8 s answer leaves room for the 8 gets to start on a loaded machine and wait behind it.
    const sandbox = await configured();
    const dir = cacheDir(sandbox);
    const before = standIn.tokenRequestCount();
    standIn.fault({ delayMs: 8_000 });
    const aging = setInterval(async () => {
      const old = new Date(Date.now() - 10_000);
      const locks = (await listing(dir).catch(() => [])).filter((name) => name.endsWith(".lock"));
      for (const lock of locks) await utimes(join(dir, lock), old, old).catch(() => {});
    }, 50);
    let results: CliResult[];
    try {
      results = await Promise.all(
        Array.from({ length: 8 }, () => helper(sandbox, ["get"], HOST)),
      );
    } finally {
      clearInterval(aging);
    }
    const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
    assert.equal(secrets.size, 1, "every process got the same token");
    assert.equal(standIn.tokenRequestCount() - before, 1, "exactly one token request");
  });
});
