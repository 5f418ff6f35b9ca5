// The Docker credential helper (`credential-helper get|store|erase|list|version`) and the helper
// install-helper writes (SPEC §3). The files `configure-docker` writes are in
// configure_docker_test.ts; the token cache and its lock, as helpers share them, in cache_test.ts
// and lock_test.ts.
//
// Every test runs the real CLI as a child process under the runtime that runs the tests, in a
// sandboxed home, against the local Sauce API stand-in. Runs unchanged under `deno test -A` and
// `bun test`.

import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { DEFAULT_USERS, TOKEN_USERNAME } from "./fixtures/stand_in.ts";
import { run } from "./fixtures/services.ts";
import { ROOT, SecretScanner } from "./fixtures/harness.ts";
import { cli, helper, HOST, parseAnswer, PORT_HOST, REGISTRY_URL } from "./fixtures/helper.ts";
import { useStandIn } from "./fixtures/suite.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
const NOT_FOUND = "credentials not found in native keychain";
const VERSION = (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { version: string })
  .version;

describe("credential-helper protocol", () => {
  const suite = useStandIn();
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY);

  function issuedPasswords(): string[] {
    const passwords = suite.standIn.issued.map((token) => token.password);
    scanner.add(...passwords);
    return passwords;
  }

  it("answers get for host, host:port and https://host/path with exactly ServerURL, Username and Secret", async () => {
    const sandbox = await suite.configured([REGISTRY_URL, `${PORT_HOST}/team`]);
    const inputs: [string, string][] = [
      [HOST, REGISTRY_URL],
      [PORT_HOST, `${PORT_HOST}/team`],
      [`https://${HOST}/v2/`, REGISTRY_URL],
      [`  https://${PORT_HOST}/team/app\n`, `${PORT_HOST}/team`],
    ];
    const start = suite.standIn.tokenRequestCount();
    for (const [input, registryUrl] of inputs) {
      const before = suite.standIn.tokenRequestCount();
      const result = await helper(sandbox, ["get"], input);
      const answer = parseAnswer(result);
      assert.equal(answer.ServerURL, input.trim());
      assert.equal(answer.Username, TOKEN_USERNAME);
      assert.ok(issuedPasswords().includes(answer.Secret), "the Secret is a password Sauce issued");
      assert.equal(result.stdout.trim().split("\n").length, 1, "one line of JSON");
      if (suite.standIn.tokenRequestCount() > before) {
        // The API wants the whole registry URL, which only the registries file knows.
        const request = suite.standIn.requests.at(-1)!;
        assert.deepEqual(JSON.parse(request.body), { registry_url: registryUrl });
        assert.equal(
          request.headers.authorization,
          `Basic ${btoa(`alice:${ALICE_KEY}`)}`,
        );
      }
      scanner.check("helper get stderr", result.stderr);
    }
    // Two hosts, two registry URLs: one token request for each, the rest came from the cache.
    assert.equal(suite.standIn.tokenRequestCount() - start, 2);
  });

  it("answers exactly 'credentials not found' for an unconfigured host, without asking the API", async () => {
    const sandbox = await suite.configured([REGISTRY_URL]);
    const empty = await suite.configured([]);
    const before = suite.standIn.tokenRequestCount();
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
    assert.equal(
      suite.standIn.tokenRequestCount(),
      before,
      "no token may be minted for these hosts",
    );
  });

  it("puts the real cause on stderr when the API refuses, and no secret anywhere", async () => {
    const wrongKey = await suite.configured([REGISTRY_URL], {
      SAUCE_ACCESS_KEY: "wrong-key-123456",
    });
    scanner.add("wrong-key-123456");
    const refused = await helper(wrongKey, ["get"], HOST);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /401/);
    assert.equal(refused.stderr.trim().split("\n").length, 1, "a one-line message");
    assert.ok(!refused.stdout.includes("Secret"), refused.stdout);
    assert.ok(!refused.stdout.includes(NOT_FOUND), "a refusal is not 'not found'");
    scanner.checkResult("refused get", refused);

    const sandbox = await suite.configured([REGISTRY_URL]);
    suite.standIn.fault({ status: 403 });
    const forbidden = await helper(sandbox, ["get"], HOST);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /403/);
    assert.match(forbidden.stderr, /support/i);

    const noCredentials = await suite.configured([REGISTRY_URL], { SAUCE_ACCESS_KEY: "" });
    const missing = await helper(noCredentials, ["get"], HOST);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /SAUCE_ACCESS_KEY/);
    assert.equal(missing.stdout, "");
  });

  it("gives up on a hung API after SAUCE_REGISTRY_TIMEOUT, so a push cannot hang with it", async () => {
    const sandbox = await suite.configured([REGISTRY_URL], { SAUCE_REGISTRY_TIMEOUT: "1" });
    suite.standIn.fault({ delayMs: 12_000 });
    const started = Date.now();
    const result = await helper(sandbox, ["get"], HOST);
    suite.standIn.clearFaults();
    assert.equal(result.code, 1);
    assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms, not about 1 s`);
    assert.match(result.stderr, /Timed out after 1 s \(SAUCE_REGISTRY_TIMEOUT\)/);
    assert.equal(result.stdout, "");
  });

  it("refuses wrong usage with a message and exit 1", async () => {
    const sandbox = await suite.configured([REGISTRY_URL]);
    for (const args of [[], ["get", "store"], ["fetch"]]) {
      const result = await helper(sandbox, args, HOST);
      assert.equal(result.code, 1, `credential-helper ${args.join(" ")}`);
      assert.match(result.stderr, /get.*store.*erase.*list/s);
      assert.ok(!result.stdout.includes("Secret"));
    }
  });

  it("accepts store and erase; erase drops only that host's cached token", async () => {
    const sandbox = await suite.configured([REGISTRY_URL, `${PORT_HOST}/team`]);
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
    const count = suite.standIn.tokenRequestCount();
    assert.equal(parseAnswer(await helper(sandbox, ["get"], HOST)).Secret, first.Secret);
    assert.equal(suite.standIn.tokenRequestCount(), count, "a cached token is reused");

    const erased = await helper(sandbox, ["erase"], HOST);
    assert.equal(erased.code, 0, erased.stderr);
    assert.match(erased.stderr, /dropped the cached token/);
    assert.equal(erased.stdout, "");
    const again = parseAnswer(await helper(sandbox, ["get"], HOST));
    assert.equal(suite.standIn.tokenRequestCount(), count + 1, "get after erase asks the API");
    assert.notEqual(again.Secret, first.Secret);
    assert.equal(parseAnswer(await helper(sandbox, ["get"], PORT_HOST)).Secret, other.Secret);
    assert.equal(suite.standIn.tokenRequestCount(), count + 1, "the other host's token is kept");

    const nothing = await helper(sandbox, ["erase"], "unknown.example.com");
    assert.equal(nothing.code, 0);
    assert.match(nothing.stderr, /no cached token/);
    scanner.check("erase", erased.stderr, nothing.stderr);
    issuedPasswords();
  });

  it("lists configured hosts with the Sauce username, without any API request", async () => {
    const sandbox = await suite.configured([REGISTRY_URL, `${PORT_HOST}/team`]);
    const before = suite.standIn.tokenRequestCount();
    const result = await helper(sandbox, ["list"]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { [HOST]: "alice", [PORT_HOST]: "alice" });
    assert.equal(suite.standIn.tokenRequestCount(), before);
    scanner.checkResult("list", result);
    const empty = await suite.configured([]);
    assert.deepEqual(JSON.parse((await helper(empty, ["list"])).stdout), {});
  });

  it("prints its version", async () => {
    const sandbox = await suite.configured([]);
    const result = await helper(sandbox, ["version"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, new RegExp(`saucelabs.*${VERSION.replaceAll(".", "\\.")}`));
  });

  it("install-helper --dir writes a docker-credential-saucelabs that answers get", async () => {
    const sandbox = await suite.configured([REGISTRY_URL]);
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
