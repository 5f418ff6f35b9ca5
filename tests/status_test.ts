// `sauce-registry status REGISTRY` for a registry `configure-docker` recorded: it reports and
// checks what the credential helper uses for it (the recorded credentials file, registry URL,
// region and API URL, and the cache entry the helper reads), not the shell's identity or API; and
// a registries file or Docker config that cannot be read is reported while the rest is checked.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { describeResult } from "./fixtures/common.ts";
import {
  type CliResult,
  dockerConfigPath,
  registriesPath,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import { cli, helper, HOST, parseAnswer, REGISTRY_URL } from "./fixtures/helper.ts";
import { DEFAULT_USERS } from "./fixtures/stand_in.ts";
import { useStandIn } from "./fixtures/suite.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
const BOB_KEY = "bob-access-key-5555555555";
const SLOW = { timeout: 60_000 };
/** A loopback port nothing listens on: an API there would fail the check. */
const DEAD_API = "http://127.0.0.1:9";

/** What `status --json` prints, as far as these tests read it. */
interface Report {
  settingsOf: string;
  credentials?: Record<string, string>;
  credentialsProblem?: string;
  region: string;
  apiUrl: string;
  api?: { ok: boolean; detail: string };
  registriesProblem?: string;
  host?: string;
  registry?: Record<string, string>;
  cachedTokenExpiresAt?: string;
  dockerConfig?: Record<string, unknown>;
  dockerConfigProblem?: string;
  unusedOptions?: string[];
}

describe("sauce-registry status for a configured registry", () => {
  const suite = useStandIn({ users: { alice: ALICE_KEY, bob: BOB_KEY } });
  const keys = new SecretScanner();
  keys.add(ALICE_KEY, BOB_KEY);

  /** `status ARGS…` in the sandbox; neither key nor any issued password may show. */
  async function status(box: Sandbox, args: string[]): Promise<CliResult> {
    const result = await cli(box, ["status", ...args]);
    const where = `status ${args.join(" ")}`;
    keys.checkResult(where, result);
    const passwords = new SecretScanner();
    passwords.add(...suite.standIn.issued.map((token) => token.password));
    passwords.checkResult(where, result);
    return result;
  }

  async function jsonStatus(box: Sandbox, args: string[]): Promise<[Report, CliResult]> {
    const result = await status(box, ["--json", ...args]);
    return [JSON.parse(result.stdout) as Report, result];
  }

  /** A sandbox signed in as alice, whose REGISTRY_URL the helper serves as bob from a file. */
  async function configuredAsBob(): Promise<{ box: Sandbox; bobFile: string }> {
    const box = await suite.sandbox();
    const bobFile = join(box.dir, "creds", "bob.yml");
    const configured = await cli(box, [
      "configure-docker",
      REGISTRY_URL,
      "--credentials-file",
      bobFile,
      "--username",
      "bob",
      "--access-key-stdin",
    ], BOB_KEY);
    assert.equal(configured.code, 0, describeResult(configured));
    return { box, bobFile };
  }

  /** The Sauce username of the last token request's HTTP Basic credentials. */
  function lastRequestUser(): string {
    const authorization = suite.standIn.requests.at(-1)!.headers.authorization;
    const basic = /^Basic (.+)$/.exec(authorization);
    assert.ok(basic, `not HTTP Basic: ${authorization?.slice(0, 6)}`);
    const [user, key] = atob(basic[1]).split(":");
    assert.equal(key, { alice: ALICE_KEY, bob: BOB_KEY }[user], "the user's own key");
    return user;
  }

  it(
    "names the helper's identity and its credentials file, asks the API as it, and reads its cached token",
    SLOW,
    async () => {
      const { box, bobFile } = await configuredAsBob();
      parseAnswer(await helper(box, ["get"], HOST));
      const cached = suite.standIn.issued.at(-1)!;
      assert.equal(cached.sauceUser, "bob", "the helper fetches as bob");

      const before = suite.standIn.requests.length;
      const text = await status(box, [REGISTRY_URL]);
      assert.equal(text.code, 0, describeResult(text));
      assert.equal(suite.standIn.requests.length, before + 1);
      assert.equal(lastRequestUser(), "bob", "status asks the API with bob's key");
      assert.equal(suite.standIn.issued.at(-1)!.registryUrl, REGISTRY_URL);
      const lines = text.stdout.split("\n");
      for (
        const line of [
          `Settings: the credential helper's for ${HOST}, as configure-docker recorded them`,
          `Credentials: username bob, from ${bobFile} (configure-docker --credentials-file)`,
          `Region: us-west-1, API ${suite.standIn.url}`,
          "API: ok: a token was issued",
          `Cached token: expires ${cached.expiresAt.toISOString()}`,
        ]
      ) {
        assert.ok(lines.includes(line), `no line "${line}" in:\n${text.stdout}`);
      }
      assert.doesNotMatch(text.stdout, /alice/, "the shell's identity is not the helper's");

      const [report, json] = await jsonStatus(box, ["--offline", REGISTRY_URL]);
      assert.equal(json.code, 0, describeResult(json));
      assert.equal(report.settingsOf, "credential-helper");
      assert.deepEqual(report.credentials, {
        username: "bob",
        usernameSource: "saucectl",
        accessKeySource: "saucectl",
        credentialsFile: bobFile,
      });
      assert.equal(report.apiUrl, suite.standIn.url);
      assert.equal(report.cachedTokenExpiresAt, cached.expiresAt.toISOString());
      assert.equal(report.unusedOptions, undefined);
    },
  );

  it("says that --username and --region do not change what the helper uses", SLOW, async () => {
    const { box } = await configuredAsBob();
    const args = ["--offline", "--username", "alice", "--region", "eu-central-1", REGISTRY_URL];
    const [report, json] = await jsonStatus(box, args);
    assert.equal(json.code, 0, describeResult(json));
    assert.equal(report.credentials?.username, "bob");
    assert.equal(report.region, "us-west-1");
    assert.equal(report.apiUrl, suite.standIn.url);
    assert.deepEqual(report.unusedOptions, ["--username", "--region"]);
    const text = await status(box, args);
    assert.match(
      text.stdout,
      /^Settings: .*recorded them; --username and --region do not change them$/m,
    );
  });

  it(
    "checks the recorded API as the helper would, whatever SAUCE_API_URL, SAUCE_REGION or the flags say",
    SLOW,
    async () => {
      const box = await suite.configured();
      parseAnswer(await helper(box, ["get"], HOST));
      const cached = suite.standIn.issued.at(-1)!;
      const elsewhere = {
        ...box,
        env: { ...box.env, SAUCE_API_URL: DEAD_API, SAUCE_REGION: "eu-central-1" },
      };
      const before = suite.standIn.requests.length;
      const [report, result] = await jsonStatus(elsewhere, [REGISTRY_URL]);
      assert.equal(result.code, 0, describeResult(result));
      assert.equal(report.settingsOf, "credential-helper");
      assert.equal(report.apiUrl, suite.standIn.url);
      assert.equal(report.region, "us-west-1");
      assert.equal(report.api?.ok, true, report.api?.detail);
      assert.equal(suite.standIn.requests.length, before + 1, "the stand-in was asked");
      assert.equal(lastRequestUser(), "alice");
      assert.equal(report.cachedTokenExpiresAt, cached.expiresAt.toISOString());

      // Nor do flags: the helper reads SAUCE_USERNAME and SAUCE_ACCESS_KEY, not status's options.
      const flags = ["--username", "carol", "--access-key-stdin", "--api-url", DEAD_API];
      const flagged = await cli(
        elsewhere,
        ["status", "--json", ...flags, REGISTRY_URL],
        "carol-key",
      );
      keys.checkResult("status with flags", flagged);
      assert.equal(flagged.code, 0, describeResult(flagged));
      const withFlags = JSON.parse(flagged.stdout) as Report;
      assert.equal(withFlags.credentials?.username, "alice");
      assert.equal(withFlags.apiUrl, suite.standIn.url);
      assert.equal(withFlags.api?.ok, true, withFlags.api?.detail);
      assert.deepEqual(withFlags.unusedOptions, ["--username", "--access-key-stdin", "--api-url"]);
      assert.equal(lastRequestUser(), "alice");

      // A registry nobody configured is checked with the command's own settings, as before.
      const [other] = await jsonStatus(elsewhere, ["--offline", "other.example.com/x"]);
      assert.equal(other.settingsOf, "command");
      assert.equal(other.apiUrl, DEAD_API);
      assert.equal(other.region, "eu-central-1");
    },
  );

  it(
    "reports the helper's missing credentials file with exit 2, not the shell's identity",
    SLOW,
    async () => {
      const { box, bobFile } = await configuredAsBob();
      await rm(bobFile);
      const before = suite.standIn.requests.length;
      const [report, result] = await jsonStatus(box, [REGISTRY_URL]);
      assert.equal(result.code, 2, describeResult(result));
      assert.equal(report.credentials, undefined);
      assert.ok(report.credentialsProblem?.includes(bobFile), report.credentialsProblem);
      assert.equal(report.api, undefined, "no credentials: no request");
      assert.equal(suite.standIn.requests.length, before);
    },
  );

  it("reports a broken registries file and checks the rest, with exit 1", SLOW, async () => {
    const box = await suite.configured();
    await writeFile(registriesPath(box), "{broken");
    const [report, result] = await jsonStatus(box, [REGISTRY_URL]);
    assert.equal(result.code, 1, describeResult(result));
    assert.match(
      report.registriesProblem ?? "",
      /^Cannot use .*registries\.json: not valid JSON at line 1, column 2/,
    );
    assert.equal(report.settingsOf, "command", "the helper's settings cannot be read");
    assert.equal(report.credentials?.username, "alice");
    assert.equal(report.api?.ok, true, "the API was still checked");
    assert.equal(report.dockerConfig?.credHelper, "saucelabs", "the Docker config was still read");

    const text = await status(box, ["--offline", REGISTRY_URL]);
    assert.equal(text.code, 1, describeResult(text));
    const lines = text.stdout.split("\n");
    assert.ok(lines.some((line) => /^Registries file: Cannot use .*not valid JSON/.test(line)));
    assert.ok(lines.includes(`Registry host: ${HOST} (the registries file cannot be read)`));
    assert.ok(lines.some((line) => line.startsWith("Credential helper on PATH: ")));

    const none = await status(box, ["--offline"]);
    assert.equal(none.code, 1, "without a REGISTRY too");
    assert.match(none.stdout, /^Registries file: Cannot use /m);
  });

  it("reports a broken Docker config and checks the rest, with exit 1", SLOW, async () => {
    const box = await suite.configured();
    await writeFile(dockerConfigPath(box), "[1");
    const [report, result] = await jsonStatus(box, [REGISTRY_URL]);
    assert.equal(result.code, 1, describeResult(result));
    assert.match(report.dockerConfigProblem ?? "", /^Cannot use .*config\.json: not valid JSON/);
    assert.equal(report.dockerConfig, undefined);
    assert.equal(report.settingsOf, "credential-helper");
    assert.equal(report.api?.ok, true);

    const text = await status(box, ["--offline", REGISTRY_URL]);
    assert.equal(text.code, 1, describeResult(text));
    assert.match(text.stdout, /^Docker config: Cannot use .*not valid JSON/m);
    assert.match(text.stdout, /^Cached token: /m);
  });

  it("asks for the registry an unconfigured image lies in, as token does", SLOW, async () => {
    const box = await suite.sandbox();
    const image = "registry.example.org/team/app:1.0";
    const token = await cli(box, ["token", image, "--format", "expires-at"]);
    assert.equal(token.code, 0, describeResult(token));
    const asked = JSON.parse(suite.standIn.requests.at(-1)!.body);
    assert.deepEqual(asked, { registry_url: "registry.example.org/team" });
    const [report, result] = await jsonStatus(box, [image]);
    assert.equal(result.code, 0, describeResult(result));
    assert.deepEqual(JSON.parse(suite.standIn.requests.at(-1)!.body), asked);
    assert.equal(report.settingsOf, "command");
    assert.equal(report.api?.ok, true);
  });
});
