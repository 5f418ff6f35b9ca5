// Attacks through the files sauce-registry reads and writes (issue 14): a token cache another
// user controls (their folder, a symlink, a folder its group or anyone can write to, their file
// in ours), a cached token that claims to live for years, a FIFO where a config file should be,
// a read that never ends under --timeout, a backup that outlives a logout, and a Docker config
// whose values configure-docker must not respell.
//
// The tests run as root, as the suite does: root can hand folders to `nobody` (65534) and run the
// real CLI against them. Runs unchanged under `deno test -A` and `bun test`.

import { spawn } from "node:child_process";
import {
  chmod,
  chown,
  mkdir,
  readdir,
  readFile,
  rename,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { DEFAULT_USERS } from "./fixtures/stand_in.ts";
import { requireTool, run } from "./fixtures/services.ts";
import {
  cacheDir,
  cliCommand,
  type CliResult,
  DENO_WRAPPER_WITHOUT_UID,
  NOBODY,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import { HOST, REGISTRY_URL } from "./fixtures/helper.ts";
import { useStandIn } from "./fixtures/suite.ts";
import { configureDocker } from "../mod.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
const PLANTED = "planted-password-from-another-user";

const suite = useStandIn();
const scanner = new SecretScanner();
scanner.add(ALICE_KEY);

async function cli(box: Sandbox, args: string[], stdin = ""): Promise<CliResult> {
  const result = await runCli(args, { env: box.env, stdin, cwd: box.dir, timeoutMs: 30_000 });
  scanner.add(...suite.standIn.issued.map((token) => token.password));
  scanner.check(`${args.join(" ")} stderr`, result.stderr);
  return result;
}

/** A sandbox configured for the registry, whose cache holds one token, and that file's path. */
async function withCachedToken(): Promise<{ box: Sandbox; file: string }> {
  const box = await suite.sandbox();
  assert.equal((await cli(box, ["configure-docker", REGISTRY_URL])).code, 0);
  const first = await cli(box, ["credential-helper", "get"], HOST);
  assert.equal(first.code, 0, first.stderr);
  const [name] = (await readdir(cacheDir(box))).filter((entry) => entry.endsWith(".json"));
  return { box, file: join(cacheDir(box), name) };
}

/** What another user would plant: a token of theirs that looks valid for a year. */
async function plant(file: string): Promise<void> {
  const entry = JSON.parse(await readFile(file, "utf8"));
  entry.password = PLANTED;
  entry.issued_at = new Date().toISOString();
  entry.expires_at = new Date(Date.now() + 365 * 86_400_000).toISOString();
  await writeFile(file, JSON.stringify(entry));
}

/** The helper's answer: never the planted token, always one Sauce issued; and what it said. */
async function getRefusingTheCache(box: Sandbox, problem: RegExp, wrapper?: string[]) {
  const before = suite.standIn.tokenRequestCount();
  const result = wrapper
    ? await run(wrapper[0], [...wrapper.slice(1), "credential-helper", "get"], {
      env: box.env,
      inheritEnv: false,
      stdin: HOST,
      cwd: box.dir,
    })
    : await cli(box, ["credential-helper", "get"], HOST);
  assert.equal(result.code, 0, result.stderr);
  const secret = JSON.parse(result.stdout).Secret;
  assert.notEqual(secret, PLANTED, "the planted token was handed out");
  assert.equal(secret, suite.standIn.issued.at(-1)!.password, "a token Sauce issued");
  assert.equal(suite.standIn.tokenRequestCount(), before + 1, "fetched, not taken from the cache");
  assert.match(result.stderr, /Not using the (token cache|cached token) /);
  assert.match(result.stderr, problem);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
}

describe("a token cache that is not this user's alone", () => {
  it("refuses a cache folder owned by another user, and writes nothing into it", async () => {
    const { box, file } = await withCachedToken();
    await plant(file);
    await chown(cacheDir(box), NOBODY, NOBODY);
    await chown(file, NOBODY, NOBODY);
    const before = await readdir(cacheDir(box));
    await getRefusingTheCache(box, /it belongs to user 65534, not to this user \(0\)/);
    assert.deepEqual(await readdir(cacheDir(box)), before, "nothing written into their folder");
    assert.equal(
      JSON.parse(await readFile(file, "utf8")).password,
      PLANTED,
      "their file untouched",
    );
    assert.equal((await stat(cacheDir(box))).mode & 0o777, 0o700, "their folder not chmodded");
  });

  it("refuses another user's folder under the Deno wrapper's permissions too (no --allow-sys)", async () => {
    const { box, file } = await withCachedToken();
    // First: with the user's own folder, the wrapper uses the cache (it can tell its user id).
    const before = suite.standIn.tokenRequestCount();
    const cached = await run(DENO_WRAPPER_WITHOUT_UID[0], [
      ...DENO_WRAPPER_WITHOUT_UID.slice(1),
      "credential-helper",
      "get",
    ], {
      env: box.env,
      inheritEnv: false,
      stdin: HOST,
      cwd: box.dir,
    });
    assert.equal(cached.code, 0, cached.stderr);
    assert.equal(cached.stderr, "");
    assert.equal(suite.standIn.tokenRequestCount(), before, "answered from the cache");
    await plant(file);
    await chown(cacheDir(box), NOBODY, NOBODY);
    await chmod(cacheDir(box), 0o755);
    await chown(file, NOBODY, NOBODY);
    await getRefusingTheCache(box, /belongs to user 65534/, DENO_WRAPPER_WITHOUT_UID);
  });

  it("refuses another user's cache in the kubelet provider too, and says so on stderr", async () => {
    const { box, file } = await withCachedToken();
    await plant(file);
    await chown(cacheDir(box), NOBODY, NOBODY);
    await chown(file, NOBODY, NOBODY);
    const before = suite.standIn.tokenRequestCount();
    const request = JSON.stringify({
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderRequest",
      image: `${REGISTRY_URL}/app:1`,
    });
    const result = await cli(box, ["kubelet-credential-provider"], request);
    assert.equal(result.code, 0, result.stderr);
    const [login] = Object.values(
      JSON.parse(result.stdout).auth as Record<string, { password: string }>,
    );
    assert.notEqual(login.password, PLANTED, "the planted token was handed out");
    assert.equal(login.password, suite.standIn.issued.at(-1)!.password, "a token Sauce issued");
    assert.equal(
      suite.standIn.tokenRequestCount(),
      before + 1,
      "fetched, not taken from the cache",
    );
    assert.match(
      result.stderr,
      /^sauce-registry kubelet-credential-provider: Not using the token cache .*belongs to user 65534/,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  });

  it("refuses a symlinked cache folder", async () => {
    const { box, file } = await withCachedToken();
    await plant(file);
    const elsewhere = join(box.dir, "elsewhere");
    await rename(cacheDir(box), elsewhere);
    await symlink(elsewhere, cacheDir(box));
    await getRefusingTheCache(box, /it is a symlink, not a folder/);
  });

  it("refuses a cache folder anyone can write to (0777) or its group can (0770)", async () => {
    for (const mode of [0o777, 0o770]) {
      const { box, file } = await withCachedToken();
      await plant(file);
      await chmod(cacheDir(box), mode);
      const shown = `0${mode.toString(8)}`;
      try {
        await getRefusingTheCache(box, new RegExp(`others can write to it \\(mode ${shown}\\)`));
      } catch (error) {
        throw new Error(`a ${shown} folder: ${(error as Error).message}`);
      }
      assert.equal((await stat(cacheDir(box))).mode & 0o777, mode, "left as it was");
    }
  });

  it("refuses another user's file, a file others or its group can write, a symlink and a FIFO in its own folder", async () => {
    const cases: [string, (file: string) => Promise<void>, RegExp][] = [
      ["another user's file", (file) => chown(file, NOBODY, NOBODY), /belongs to user 65534/],
      [
        "a file anyone can write",
        (file) => chmod(file, 0o666),
        /others can write to it \(mode 0666\)/,
      ],
      [
        "a file its group can write",
        (file) => chmod(file, 0o620),
        /others can write to it \(mode 0620\)/,
      ],
      ["a symlink", async (file) => {
        const target = `${file}.target`;
        await rename(file, target);
        await symlink(target, file);
      }, /it is a symlink, not a regular file/],
      ["a FIFO", async (file) => {
        await rename(file, `${file}.old`);
        assert.equal((await run("mkfifo", [file])).code, 0);
      }, /it is a FIFO, not a regular file/],
    ];
    for (const [what, change, problem] of cases) {
      const { box, file } = await withCachedToken();
      await plant(file);
      await change(file);
      try {
        await getRefusingTheCache(box, problem);
      } catch (error) {
        throw new Error(`${what}: ${(error as Error).message}`);
      }
    }
  });

  it("trusts a cached token for an hour at most, whatever expiry it claims", async () => {
    const { box, file } = await withCachedToken();
    suite.standIn.tokenLifetimeSeconds = 10 * 365 * 86_400;
    try {
      await writeFile(file, "{}"); // refetch a token that claims to live ten years
      assert.equal((await cli(box, ["credential-helper", "get"], HOST)).code, 0);
      const before = suite.standIn.tokenRequestCount();
      assert.equal((await cli(box, ["credential-helper", "get"], HOST)).code, 0);
      assert.equal(suite.standIn.tokenRequestCount(), before, "fresh at first");
      const entry = JSON.parse(await readFile(file, "utf8"));
      entry.issued_at = new Date(Date.now() - 61 * 60_000).toISOString();
      await writeFile(file, JSON.stringify(entry), { mode: 0o600 });
      const later = await cli(box, ["credential-helper", "get"], HOST);
      assert.equal(later.code, 0, later.stderr);
      assert.equal(suite.standIn.tokenRequestCount(), before + 1, "renewed after an hour");
      assert.equal(JSON.parse(later.stdout).Secret, suite.standIn.issued.at(-1)!.password);
      // Nor is an entry that claims to have been fetched in the future.
      const renewed = JSON.parse(await readFile(file, "utf8"));
      renewed.issued_at = new Date(Date.now() + 10 * 60_000).toISOString();
      await writeFile(file, JSON.stringify(renewed), { mode: 0o600 });
      assert.equal((await cli(box, ["credential-helper", "get"], HOST)).code, 0);
      assert.equal(
        suite.standIn.tokenRequestCount(),
        before + 2,
        "an entry from the future is renewed",
      );
    } finally {
      suite.standIn.tokenLifetimeSeconds = 300;
    }
  });
});

describe("a token cache this user cannot read or find", () => {
  /** The CLI as root without the capabilities that let root read any file (mode bits apply). */
  async function getWithoutReadAnything(box: Sandbox, env: Record<string, string> = box.env) {
    const before = suite.standIn.tokenRequestCount();
    const result = await run(requireTool("setpriv"), [
      "--bounding-set=-dac_override,-dac_read_search",
      ...cliCommand(),
      "credential-helper",
      "get",
    ], { env, inheritEnv: false, stdin: HOST, cwd: box.dir, timeoutMs: 30_000 });
    scanner.add(...suite.standIn.issued.map((token) => token.password));
    scanner.check("get stderr", result.stderr);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).Secret, suite.standIn.issued.at(-1)!.password);
    assert.equal(suite.standIn.tokenRequestCount(), before + 1, "fetched without the cache");
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    return result;
  }

  it("fetches without the cache, and says so, when its entry or its folder cannot be read", async () => {
    const { box, file } = await withCachedToken();
    await chmod(file, 0o000);
    const entry = await getWithoutReadAnything(box);
    assert.match(
      entry.stderr,
      /Cannot read the token cache .*\(.*[Pp]ermission denied.*\); fetching the token without the cache/,
    );
    await chmod(file, 0o600);
    await chmod(cacheDir(box), 0o000);
    try {
      const folder = await getWithoutReadAnything(box);
      assert.match(folder.stderr, /Cannot read the token cache .*; fetching the token without/);
    } finally {
      await chmod(cacheDir(box), 0o700);
    }
  });

  it("fetches without a cache where there is no HOME nor XDG_CACHE_HOME (a kubelet's plugin)", async () => {
    const box = await suite.sandbox();
    const { HOME: _home, XDG_CACHE_HOME: _cache, ...env } = box.env;
    const before = suite.standIn.tokenRequestCount();
    const request = JSON.stringify({
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderRequest",
      image: `${REGISTRY_URL}/app:1`,
    });
    const result = await run(
      cliCommand()[0],
      [...cliCommand().slice(1), "kubelet-credential-provider", "--registry", REGISTRY_URL],
      { env, inheritEnv: false, stdin: request, cwd: box.dir, timeoutMs: 30_000 },
    );
    scanner.add(...suite.standIn.issued.map((token) => token.password));
    scanner.check("provider stderr", result.stderr);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(suite.standIn.tokenRequestCount(), before + 1);
    assert.match(
      result.stderr,
      /^sauce-registry kubelet-credential-provider: No token cache \(Cannot find the home folder: set HOME\); fetching the token without the cache\n$/,
    );
  });
});

describe("a FIFO where a file should be, and --timeout", () => {
  /** A sandbox whose file at `path` (relative to its home) is a FIFO nobody writes to. */
  async function withFifo(relative: string): Promise<Sandbox> {
    const box = await suite.sandbox();
    const path = join(box.env.HOME, relative);
    await mkdir(join(path, ".."), { recursive: true });
    assert.equal((await run("mkfifo", [path])).code, 0);
    return box;
  }

  it("refuses a FIFO as config.json in configure-docker and status, and exec goes on without it", {
    timeout: 120_000,
  }, async () => {
    for (const args of [["configure-docker", REGISTRY_URL], ["status", REGISTRY_URL]]) {
      for (const timeout of [[], ["--timeout", "20"]]) {
        const box = await withFifo(".docker/config.json");
        const result = await cli(box, [...args, ...timeout]);
        const where = `${args[0]} ${timeout.join(" ")}`;
        assert.equal(result.code, 1, `${where}: ${result.stdout}${result.stderr}`);
        // configure-docker fails saying so; status reports it among the rest.
        assert.match(
          args[0] === "status" ? result.stdout : result.stderr,
          /Cannot use .*\/\.docker\/config\.json: it is a FIFO, not a regular file/,
          where,
        );
        await assert.rejects(stat(join(box.env.XDG_CONFIG_HOME, "sauce-registry")), where);
      }
    }
    const box = await withFifo(".docker/config.json");
    const exec = await cli(box, ["exec", REGISTRY_URL, "--", "sh", "-c", "echo ran"]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, "ran\n");
  });

  it("refuses a FIFO as the registries file, in configure-docker and the helper", {
    timeout: 60_000,
  }, async () => {
    const box = await withFifo(".config/sauce-registry/registries.json");
    for (
      const [args, stdin] of [[["configure-docker", REGISTRY_URL], ""], [[
        "credential-helper",
        "get",
      ], HOST]] as const
    ) {
      const result = await cli(box, [...args], stdin);
      assert.equal(result.code, 1, `${args[0]}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /registries\.json: it is a FIFO, not a regular file/);
    }
    await assert.rejects(stat(join(box.env.DOCKER_CONFIG, "config.json")), "nothing written");
  });

  it("refuses a FIFO as saucectl's credentials file or the --env-file, rather than wait on it", {
    timeout: 60_000,
  }, async () => {
    // Without SAUCE_USERNAME and SAUCE_ACCESS_KEY the helper goes on to saucectl's file.
    const box = await withFifo(".sauce/credentials.yml");
    const bare = { ...box, env: { ...box.env, SAUCE_USERNAME: "", SAUCE_ACCESS_KEY: "" } };
    assert.equal((await cli(box, ["configure-docker", REGISTRY_URL])).code, 0);
    const helper = await cli(bare, ["credential-helper", "get"], HOST);
    assert.equal(helper.code, 1, `${helper.stdout}${helper.stderr}`);
    assert.match(helper.stderr, /credentials\.yml: it is a FIFO, not a regular file/);
    const envFile = join(box.dir, "fifo.env");
    assert.equal((await run("mkfifo", [envFile])).code, 0);
    const token = await cli(bare, ["token", "--env-file", envFile]);
    assert.equal(token.code, 1, `${token.stdout}${token.stderr}`);
    assert.match(token.stderr, /fifo\.env: it is a FIFO, not a regular file/);
    // /dev/null stays the way to say "no env file".
    const none = await cli(bare, ["status", "--offline", "--env-file", "/dev/null"]);
    assert.equal(none.code, 2, `${none.stdout}${none.stderr}`);
    assert.doesNotMatch(none.stdout + none.stderr, /\/dev\/null/);
    assert.match(none.stdout, /Credentials: Cannot use .*credentials\.yml: it is a FIFO/);
  });

  it(
    "ends a read that never finishes at --timeout, with exit 124",
    { timeout: 60_000 },
    async () => {
      const box = await suite.sandbox();
      const [program, ...first] = cliCommand();
      // Standard input stays open and empty: reading the key from it never ends by itself.
      const child = spawn(program, [...first, "token", "--access-key-stdin", "--timeout", "2"], {
        env: box.env,
        cwd: box.dir,
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      const started = Date.now();
      const code = await new Promise<number | null>((resolve) => {
        const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
        child.once("exit", (exitCode) => {
          clearTimeout(guard);
          resolve(exitCode);
        });
      });
      child.stdin!.destroy();
      assert.equal(code, 124, `exit ${code} after ${Date.now() - started} ms: ${stderr}`);
      assert.match(stderr, /Timed out after 2 s \(--timeout\)/);
    },
  );
});

describe("configure-docker's Docker config: backup and untouched values", () => {
  it("writes config.json.bak readable by this user alone, whatever the config's mode", async () => {
    const box = await suite.sandbox();
    await mkdir(box.env.DOCKER_CONFIG, { recursive: true });
    const config = join(box.env.DOCKER_CONFIG, "config.json");
    const credentials = JSON.stringify({ auths: { "ghcr.io": { auth: btoa("bob:hunter2") } } });
    await writeFile(config, credentials);
    await chmod(config, 0o644);
    assert.equal((await cli(box, ["configure-docker", REGISTRY_URL])).code, 0);
    assert.equal(await readFile(`${config}.bak`, "utf8"), credentials);
    assert.equal((await stat(`${config}.bak`)).mode & 0o777, 0o600);
    assert.equal((await stat(config)).mode & 0o777, 0o644, "the config keeps its own mode");
  });

  it("checks the registries file before it changes the Docker config", async () => {
    for (const registries of ['{"registries": {', '{"registries": []}']) {
      const box = await suite.sandbox();
      await mkdir(box.env.DOCKER_CONFIG, { recursive: true });
      const config = join(box.env.DOCKER_CONFIG, "config.json");
      await writeFile(config, '{"auths": {}}');
      const settings = join(box.env.XDG_CONFIG_HOME, "sauce-registry", "registries.json");
      await mkdir(join(settings, ".."), { recursive: true });
      await writeFile(settings, registries);
      const result = await cli(box, ["configure-docker", REGISTRY_URL]);
      assert.equal(result.code, 1, result.stderr);
      assert.ok(result.stderr.includes(settings), result.stderr);
      assert.equal(await readFile(config, "utf8"), '{"auths": {}}', "the Docker config unchanged");
      assert.deepEqual(await readdir(box.env.DOCKER_CONFIG), ["config.json"], "no backup either");
      assert.equal(await readFile(settings, "utf8"), registries);
    }
  });

  const H = `"${HOST}"`;
  const layouts: [string, string, string][] = [
    [
      "tabs, with numbers JSON.parse would respell",
      '{\n\t"auths": {},\n\t"x-big": 12345678901234567890123,\n\t"x-float": 1.0,\n\t"x-exp": 1e3,\n\t"x-esc": "\\u00e9\\/"\n}\n',
      `{\n\t"auths": {},\n\t"x-big": 12345678901234567890123,\n\t"x-float": 1.0,\n\t"x-exp": 1e3,\n\t"x-esc": "\\u00e9\\/",\n\t"credHelpers": {\n\t\t${H}: "saucelabs"\n\t}\n}\n`,
    ],
    [
      "two spaces, credHelpers with another entry",
      '{\n  "credHelpers": {\n    "gcr.io": "gcloud"\n  },\n  "n": 1.50\n}',
      `{\n  "credHelpers": {\n    "gcr.io": "gcloud",\n    ${H}: "saucelabs"\n  },\n  "n": 1.50\n}`,
    ],
    [
      "one line",
      '{"auths":{},"n":1E+3,"m":-0.0}',
      `{"auths":{},"n":1E+3,"m":-0.0,"credHelpers":{${H}:"saucelabs"}}`,
    ],
    [
      "the host served by another helper",
      `{"credHelpers": {${H}: "other", "x.io": "y"}, "n": 10000000000000000001}`,
      `{"credHelpers": {${H}: "saucelabs", "x.io": "y"}, "n": 10000000000000000001}`,
    ],
    [
      "an empty credHelpers",
      '{\n\t"credHelpers": {},\n\t"n": 2.50e-3\n}\n',
      `{\n\t"credHelpers": {\n\t\t${H}: "saucelabs"\n\t},\n\t"n": 2.50e-3\n}\n`,
    ],
    [
      "credHelpers null",
      '{\n    "credHelpers": null,\n    "n": 0.10\n}',
      `{\n    "credHelpers": {\n        ${H}: "saucelabs"\n    },\n    "n": 0.10\n}`,
    ],
    ["an empty object", "{}\n", `{\n\t"credHelpers": {\n\t\t${H}: "saucelabs"\n\t}\n}\n`],
  ];

  it("changes only credHelpers, keeping every other byte (7 layouts), and a second run nothing", async () => {
    const box = await suite.sandbox();
    for (const [index, [what, before, expected]] of layouts.entries()) {
      const dir = join(box.dir, `layout-${index}`);
      await mkdir(dir, { recursive: true });
      const config = join(dir, "config.json");
      await writeFile(config, before);
      const options = { dockerConfigDir: dir, settingsFile: join(dir, "registries.json") };
      await configureDocker([REGISTRY_URL], options);
      assert.equal(await readFile(config, "utf8"), expected, what);
      assert.equal(await readFile(`${config}.bak`, "utf8"), before, what);
      assert.deepEqual(JSON.parse(expected).credHelpers[HOST], "saucelabs");
      const again = await configureDocker([REGISTRY_URL], options);
      assert.equal(again.dockerConfigChanged, false, `${what}: a second run changes nothing`);
      assert.equal(await readFile(config, "utf8"), expected, what);
    }
  });

  it("keeps a big integer as written through the command line, on this runtime", async () => {
    const box = await suite.sandbox();
    await mkdir(box.env.DOCKER_CONFIG, { recursive: true });
    const config = join(box.env.DOCKER_CONFIG, "config.json");
    await writeFile(config, '{"auths": {}, "build-id": 9007199254740993}\n');
    assert.equal((await cli(box, ["configure-docker", REGISTRY_URL])).code, 0);
    const written = await readFile(config, "utf8");
    assert.ok(written.includes('"build-id": 9007199254740993'), written);
  });
});
