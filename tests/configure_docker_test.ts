// The files `configure-docker` writes (SPEC §3): the registries file, and the Docker config's
// credHelpers with every other byte, its mode, one backup and symlinks kept; broken files refused
// with where they are broken; concurrent runs that lose no host.
//
// Every test runs the real CLI as a child process under the runtime that runs the tests, in a
// sandboxed home. Runs unchanged under `deno test -A` and `bun test`.

import {
  chmod,
  lstat,
  mkdir,
  readFile,
  readlink,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { after, assert, describe, it } from "./deps.ts";
import { listing, modeOf, readJson } from "./fixtures/common.ts";
import { dockerConfigPath, makeSandbox, registriesPath, type Sandbox } from "./fixtures/harness.ts";
import { cli, HOST, PORT_HOST, REGISTRY_URL, writeHelperWrapper } from "./fixtures/helper.ts";

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

  it("says when it takes a host from another credential helper, and where the old config is", async () => {
    const before = `{"credHelpers":{"${HOST}":"ecr-login","other.example.com":"gcloud"}}\n`;
    const sandbox = await sandboxWithConfig(before);
    const path = dockerConfigPath(sandbox);
    const first = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stderr,
      new RegExp(
        `^warning: credHelpers for ${
          HOST.replaceAll(".", "\\.")
        } named ecr-login; it now names saucelabs \\(the previous config is in .*config\\.json\\.bak\\)$`,
        "m",
      ),
    );
    assert.equal(await readFile(`${path}.bak`, "utf8"), before);
    assert.deepEqual((await readJson(path)).credHelpers, {
      [HOST]: "saucelabs",
      "other.example.com": "gcloud",
    });
    const json = await cli(sandbox, ["configure-docker", "--json", "other.example.com"]);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).replacedHelpers, { "other.example.com": "gcloud" });
    const again = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.doesNotMatch(again.stderr, /credHelpers for/, "ours already: nothing to say");
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
