// The credentials file (`configure-docker --credentials-file`, `writeCredentialsFile`): the one
// writer of saucectl's `username:` / `accessKey:` file, which the GitHub Action and the GitLab
// component keep the key in. Whatever a value holds, it reads back exactly, by this tool's reader
// and by a YAML reader; the file is 0600; the helper serves its registries from it alone, and a
// refused key names the file, or the settings of the CI integration that wrote it.

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { AWKWARD_USERS, DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { parseYamlFiles } from "./fixtures/ci_runner.ts";
import { makeSandbox, runCli, type Sandbox, SecretScanner } from "./fixtures/harness.ts";
import { parseSaucectlCredentials, writeCredentialsFile } from "../src/credentials.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];
const [AWKWARD_USER, AWKWARD_KEY] = Object.entries(AWKWARD_USERS)[0];

/**
 * Values a YAML writer must quote: escapes, quotes, comments, a mapping's ": ", what YAML reads as
 * something else unquoted (booleans, numbers, null, aliases, tags, block scalars), spaces at
 * either end, line breaks of YAML 1.1 (U+0085, U+2028) and of any YAML, and non-ASCII.
 */
const TRICKY_VALUES = [
  AWKWARD_USER,
  AWKWARD_KEY,
  'back\\slash and "quotes"',
  "\\e\\x41\\u0042 not escapes",
  "#not a comment",
  "key: value",
  "ends with:",
  "no",
  "012",
  "0x1f",
  "1.5e3",
  "~",
  "null",
  "- item",
  "[flow]",
  "{flow: map}",
  "*alias",
  "&anchor",
  "!tag",
  "|",
  "> folded",
  "%directive",
  "@at",
  "`tick",
  " both ends ",
  "tab\there",
  "line\nbreak",
  "next\u0085line\u2028separator\u2029paragraph",
  "zoë 🔑",
];

describe("the credentials file", () => {
  let standIn: StandIn;
  let dir: string;
  const scanner = new SecretScanner();
  scanner.add(KEY, AWKWARD_KEY);

  before(async () => {
    standIn = await startStandIn({ users: { ...DEFAULT_USERS, ...AWKWARD_USERS } });
    dir = await mkdtemp(join(tmpdir(), "sr-credentials-file-"));
  });

  after(async () => {
    await standIn?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads back exactly whatever a value holds, by this tool's reader and by a YAML reader", {
    timeout: 120_000,
  }, async () => {
    const written = [];
    for (const [index, value] of TRICKY_VALUES.entries()) {
      const path = join(dir, "values", `${index}.yml`);
      // A username cannot hold ":" (HTTP Basic authentication): it keeps a plain one then.
      const identity = { username: value.includes(":") ? "plain-user" : value, accessKey: value };
      await writeCredentialsFile(path, identity);
      const text = await readFile(path, "utf8");
      const ours = parseSaucectlCredentials(path, text);
      assert.deepEqual(
        { username: ours.username, accessKey: ours.accessKey },
        identity,
        `this tool's reader, value ${index}:\n${text}`,
      );
      written.push({ path, text, identity });
    }
    const read = (await parseYamlFiles(written.map((file) => file.path))) as Record<
      string,
      unknown
    >[];
    for (const [index, { text, identity }] of written.entries()) {
      assert.deepEqual(
        { username: read[index].username, accessKey: read[index].accessKey },
        identity,
        `a YAML reader, value ${index}:\n${text}`,
      );
    }
  });

  it("is 0600 in a folder made 0700, also when it replaces a file others could read", async () => {
    const folder = join(dir, "made", "for", "it");
    const path = join(folder, "credentials.yml");
    await writeCredentialsFile(path, { username: USER, accessKey: KEY });
    assert.equal((await stat(folder)).mode & 0o777, 0o700);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await writeFile(path, "username: someone\n", { mode: 0o644 });
    await writeCredentialsFile(path, { username: USER, accessKey: KEY });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(folder), ["credentials.yml"], "no temporary file is left");
  });

  describe("configure-docker --credentials-file and the helper", () => {
    let sandbox: Sandbox;
    let credentials: string;
    const host = "127.0.0.1:5999";

    before(async () => {
      sandbox = await makeSandbox();
      credentials = join(sandbox.dir, "home", "identities", "team.yml");
    });

    after(async () => {
      await sandbox?.cleanup();
    });

    /** `credential-helper get` for the host, as Docker runs it, with more environment. */
    const helperGet = (extra: Record<string, string> = {}) =>
      runCli(["credential-helper", "--no-cache", "get"], {
        env: { ...sandbox.env, ...extra },
        stdin: host,
      });

    it("serves the registry from the file alone, whatever identity the environment holds", {
      timeout: 120_000,
    }, async () => {
      const configured = await runCli([
        "configure-docker",
        `${host}/team`,
        "--api-url",
        standIn.url,
        "--username",
        AWKWARD_USER,
        "--access-key-stdin",
        "--credentials-file",
        credentials,
      ], { env: sandbox.env, stdin: AWKWARD_KEY });
      assert.equal(configured.code, 0, configured.stderr);
      assert.match(configured.stdout, /Credentials file .*team\.yml: written \(mode 0600\)/);
      scanner.checkResult("configure-docker", configured);
      assert.equal((await stat(credentials)).mode & 0o777, 0o600);
      const registries = JSON.parse(
        await readFile(
          join(sandbox.env.XDG_CONFIG_HOME, "sauce-registry", "registries.json"),
          "utf8",
        ),
      );
      assert.equal(registries.registries[host].credentialsFile, credentials);

      // Another valid identity in the environment: the file's is the one used.
      const before = standIn.issued.length;
      const get = await helperGet({ SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY });
      assert.equal(get.code, 0, get.stderr);
      assert.deepEqual(standIn.issued.slice(before).map((issued) => issued.sauceUser), [
        AWKWARD_USER,
      ]);
      for (const issued of standIn.issued) scanner.add(issued.password);
      scanner.check("credential-helper get stderr", get.stderr); // stdout is the token, for Docker
      const list = await runCli(["credential-helper", "list"], { env: sandbox.env });
      assert.deepEqual(JSON.parse(list.stdout), { [host]: AWKWARD_USER });
      await scanner.checkTree(sandbox.dir, (path) => path === credentials);
    });

    it(
      "names the file when Sauce Labs refuses its key, or the settings of the CI integration that wrote it",
      {
        timeout: 120_000,
      },
      async () => {
        standIn.setAccessKey(AWKWARD_USER, "a-rotated-access-key");
        try {
          const wordings: Record<string, string> = {
            "": `the username and access key in ${credentials}`,
            "github-action": "the action's username and access-key inputs",
            "gitlab-component": "the SAUCE_USERNAME and SAUCE_ACCESS_KEY CI/CD variables",
          };
          for (const [configuredBy, names] of Object.entries(wordings)) {
            const get = await helperGet(
              configuredBy ? { SAUCE_REGISTRY_CONFIGURED_BY: configuredBy } : {},
            );
            assert.equal(get.code, 1, get.stderr);
            assert.ok(
              get.stderr.endsWith(
                `refused the username or access key (401): Unauthorized; check ${names}\n`,
              ),
              `${configuredBy || "no CI"}: ${get.stderr}`,
            );
            // An explicit API URL: no region to change.
            assert.doesNotMatch(get.stderr, /region/i);
            scanner.checkResult("credential-helper get", get);
          }
        } finally {
          standIn.setAccessKey(AWKWARD_USER, AWKWARD_KEY);
        }
      },
    );

    it(
      "refuses a relative path, and --username or --access-key-stdin without a file, writing nothing",
      {
        timeout: 120_000,
      },
      async () => {
        const fresh = await makeSandbox();
        try {
          const cwd = join(fresh.dir, "work");
          await mkdir(cwd);
          const cases: [string[], RegExp][] = [
            [
              ["--username", USER, "--access-key-stdin", "--credentials-file", "team.yml"],
              /The credentials file must be an absolute path, as the helper reads it from any folder: got "team\.yml"/,
            ],
            [["--username", USER], /--username needs --credentials-file PATH/],
            [["--access-key-stdin"], /--access-key-stdin needs --credentials-file PATH/],
          ];
          for (const [args, message] of cases) {
            const result = await runCli(["configure-docker", `${host}/team`, ...args], {
              env: fresh.env,
              stdin: KEY,
              cwd,
            });
            assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
            assert.match(result.stderr, message);
            scanner.checkResult("configure-docker", result);
          }
          assert.deepEqual(await readdir(cwd), []);
          for (const folder of [fresh.env.DOCKER_CONFIG, fresh.env.XDG_CONFIG_HOME]) {
            assert.equal(await stat(folder).catch(() => undefined), undefined, `${folder} exists`);
          }
        } finally {
          await fresh.cleanup();
        }
      },
    );
  });
});
