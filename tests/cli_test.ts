// The `sauce-registry` command line, run as a child process under the runtime that runs the
// tests, against the local stand-in for the Sauce Labs API: token formats, usage errors, help,
// credential sources and their precedence, timeouts, verbose output, colour and status.
//
// Every stdout and stderr goes through the secret scanner: never an access key, and never a
// token password except on the stdout of a command whose job is to print it.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { Buffer } from "node:buffer";
import { access, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, afterEach, assert, before, describe, it } from "./deps.ts";
import { describeResult, shellQuote } from "./fixtures/common.ts";
import {
  cliCommand,
  type CliResult,
  makeSandbox,
  ROOT,
  runCli,
  type Sandbox,
  SecretScanner,
  yamlDocuments,
} from "./fixtures/harness.ts";
import { run } from "./fixtures/services.ts";
import { type StandIn, startStandIn, TOKEN_USERNAME } from "./fixtures/stand_in.ts";

const ALICE_KEY = "alice-access-key-0123456789";
const BOB_KEY = "bob-access-key-9876543210";
const WRONG_KEY = "wrong-access-key-4242424242";
const FLAG_KEY = "flag-access-key-3131313131";
const REGISTRY = "registry.example.com/your-private-registry";
const SLOW = { timeout: 30_000 };
const ESC = "\x1b";

let standIn: StandIn;
const sandboxes: Sandbox[] = [];
const keys = new SecretScanner();
keys.add(ALICE_KEY, BOB_KEY, WRONG_KEY, FLAG_KEY);
const savedEnv: Record<string, string | undefined> = {};

/** A sandbox whose environment points at the stand-in; alice's credentials unless overridden. */
async function sandbox(
  extra: Record<string, string> = {},
  credentials = true,
): Promise<Sandbox> {
  const made = await makeSandbox({
    SAUCE_API_URL: standIn.url,
    ...(credentials ? { SAUCE_USERNAME: "alice", SAUCE_ACCESS_KEY: ALICE_KEY } : {}),
    ...extra,
  });
  sandboxes.push(made);
  await mkdir(made.env.HOME, { recursive: true });
  return made;
}

interface CliOptions {
  stdin?: string;
  cwd?: string;
  /** The command's job is to print the token password on stdout (never on stderr). */
  printsPassword?: boolean;
}

/** Run the CLI in the sandbox's folder and scan what it printed for secrets. */
async function cli(box: Sandbox, args: string[], options: CliOptions = {}): Promise<CliResult> {
  const cwd = options.cwd ?? box.dir;
  // runCli starts Bun as `bun --no-env-file`, as README says: the tool reads .env itself.
  const result = await runCli(args, { env: box.env, stdin: options.stdin, cwd });
  const where = `sauce-registry ${args.join(" ")}`;
  keys.checkResult(where, result);
  const issued = standIn.issued.map((token) => token.password);
  const everyPassword = new SecretScanner();
  everyPassword.add(...issued);
  everyPassword.check(`${where} stderr`, result.stderr);
  if (options.printsPassword) {
    const earlier = new SecretScanner();
    earlier.add(...issued.slice(0, -1));
    earlier.check(`${where} stdout`, result.stdout);
  } else {
    everyPassword.check(`${where} stdout`, result.stdout);
  }
  return result;
}

/** The Sauce user of the last token request the stand-in received. */
function lastRequestUser(): string {
  const header = standIn.requests.at(-1)?.headers.authorization ?? "";
  const decoded = Buffer.from(header.replace(/^Basic /, ""), "base64").toString("utf8");
  return decoded.slice(0, decoded.indexOf(":"));
}

function lastRequestKey(): string {
  const header = standIn.requests.at(-1)?.headers.authorization ?? "";
  const decoded = Buffer.from(header.replace(/^Basic /, ""), "base64").toString("utf8");
  return decoded.slice(decoded.indexOf(":") + 1);
}

/** A usage error: exit 2, nothing on stdout, one `error:` line, then a usage line. */
function assertUsageError(result: CliResult, message: RegExp): void {
  assert.equal(result.code, 2, describeResult(result));
  assert.equal(result.stdout, "");
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, `one error line and one usage line:\n${result.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], message);
  assert.match(lines[1], /usage/i);
}

before(async () => {
  // The children inherit this process's environment under the sandbox's; no outer Sauce
  // setting or colour preference may leak into them.
  for (const name of Object.keys(process.env)) {
    if (/^SAUCE_/.test(name) || name === "NO_COLOR" || /_PROXY$/i.test(name)) {
      savedEnv[name] = process.env[name];
      delete process.env[name];
    }
  }
  standIn = await startStandIn({
    users: { alice: ALICE_KEY, bob: BOB_KEY },
    enrolled: ["alice"],
  });
});

afterEach(() => {
  standIn.clearFaults();
});

after(async () => {
  await standIn.close();
  await Promise.all(sandboxes.map((box) => box.cleanup()));
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value !== undefined) process.env[name] = value;
  }
});

describe("sauce-registry token", () => {
  it("prints {username, password, expires_at} as JSON by default", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, ["token"], { printsPassword: true });
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(result.stderr, "");
    const token = JSON.parse(result.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(token).sort(), ["expires_at", "password", "username"]);
    const issued = standIn.issued.at(-1)!;
    assert.equal(token.username, TOKEN_USERNAME);
    assert.equal(token.password, issued.password);
    assert.match(token.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(Date.parse(token.expires_at), issued.expiresAt.getTime());
    assert.equal(standIn.requests.at(-1)?.body, "", "no registry, no body");
  });

  it("asks for the whole registry URL, without scheme or trailing slash", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, ["token", "--registry", `https://${REGISTRY}/`], {
      printsPassword: true,
    });
    assert.equal(result.code, 0, describeResult(result));
    assert.deepEqual(JSON.parse(standIn.requests.at(-1)!.body), { registry_url: REGISTRY });
  });

  it(
    "asks for the registry an image reference lies in: the recorded one, else its folder",
    SLOW,
    async () => {
      const box = await sandbox();
      const asked = async (args: string[]) => {
        const result = await cli(box, args, { printsPassword: true });
        assert.equal(result.code, 0, describeResult(result));
        return JSON.parse(standIn.requests.at(-1)!.body).registry_url;
      };
      // Not recorded: the image's name goes, its tag or digest says it is an image.
      assert.equal(await asked(["token", `${REGISTRY}/app:1.0`]), REGISTRY);
      assert.equal(
        await asked(["token", `${REGISTRY}/tools/app@sha256:${"a".repeat(64)}`]),
        `${REGISTRY}/tools`,
      );
      // Without a tag it is a registry URL, taken as it is.
      assert.equal(await asked(["token", `${REGISTRY}/app`]), `${REGISTRY}/app`);
      // Recorded by configure-docker: the recorded URL, for an image under it.
      const configured = await cli(box, ["configure-docker", REGISTRY]);
      assert.equal(configured.code, 0, describeResult(configured));
      assert.equal(await asked(["token", `${REGISTRY}/tools/app:1.0`]), REGISTRY);
      assert.equal(
        await asked(["token", "registry.example.com/another-registry/app:1.0"]),
        "registry.example.com/another-registry",
        "an image outside the recorded registry keeps its own",
      );
      // exec (and login) ask the same way.
      assert.equal(
        await asked(["exec", "registry.example.com/team-b/app:1", "--", "true"]),
        "registry.example.com/team-b",
      );
    },
  );

  it("prints shell-quoted export lines that eval into the token", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(
      box,
      ["token", "--format", "env", "--registry", "registry.example.com:5000/team"],
      { printsPassword: true },
    );
    assert.equal(result.code, 0, describeResult(result));
    for (const line of result.stdout.trim().split("\n")) assert.match(line, /^export [A-Z_]+='/);
    const shell = await evalInShell(result.stdout);
    assert.deepEqual(shell, [
      TOKEN_USERNAME,
      standIn.issued.at(-1)!.password,
      "registry.example.com:5000",
    ]);

    const withoutRegistry = await cli(box, ["token", "--format", "env"], { printsPassword: true });
    assert.equal(withoutRegistry.code, 0, describeResult(withoutRegistry));
    assert.doesNotMatch(withoutRegistry.stdout, /DOCKER_REGISTRY/);
    assert.equal((await evalInShell(withoutRegistry.stdout))[2], "unset");
  });

  it("quotes quotes, dollars and backticks so that eval runs nothing", SLOW, async () => {
    const box = await sandbox();
    const marker = join(box.dir, "pwned");
    const username = `o'brien $HOME \`id\``;
    const password = `pa'ss $(touch ${marker}) "q" \\ end'`;
    standIn.fault({
      body: JSON.stringify({
        username,
        password,
        expires_at: new Date(Date.now() + 300_000).toISOString().replace(/\.\d+Z$/, "Z"),
      }),
    });
    const result = await cli(box, ["token", "--format", "env"], { printsPassword: true });
    assert.equal(result.code, 0, describeResult(result));
    assert.deepEqual(await evalInShell(result.stdout), [username, password, "unset"]);
    await assert.rejects(access(marker), "eval must not run the command substitution");
  });

  it("prints one value for --format username, password and expires-at", SLOW, async () => {
    const box = await sandbox();
    const username = await cli(box, ["token", "--format", "username"]);
    assert.equal(username.code, 0, describeResult(username));
    assert.equal(username.stdout, `${TOKEN_USERNAME}\n`);

    const password = await cli(box, ["token", "--format", "password"], { printsPassword: true });
    assert.equal(password.code, 0, describeResult(password));
    assert.equal(password.stdout, `${standIn.issued.at(-1)!.password}\n`);

    const expiresAt = await cli(box, ["token", "--format", "expires-at"]);
    assert.equal(expiresAt.code, 0, describeResult(expiresAt));
    assert.match(expiresAt.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    assert.equal(Date.parse(expiresAt.stdout.trim()), standIn.issued.at(-1)!.expiresAt.getTime());
  });

  it("prints a Docker config whose auth decodes to username:password", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(
      box,
      ["token", "--format", "docker-config", "--registry", "localhost:5000/team/app:1.0"],
      { printsPassword: true },
    );
    assert.equal(result.code, 0, describeResult(result));
    const config = JSON.parse(result.stdout) as { auths: Record<string, { auth: string }> };
    assert.deepEqual(Object.keys(config.auths), ["localhost:5000"]);
    assert.equal(
      Buffer.from(config.auths["localhost:5000"].auth, "base64").toString("utf8"),
      `${TOKEN_USERNAME}:${standIn.issued.at(-1)!.password}`,
    );
  });

  it(
    "writes the answer to a 0600 file with --output, replacing it whole, and prints nothing",
    SLOW,
    async () => {
      const box = await sandbox();
      const file = join(box.dir, "pull-secret.yaml");
      await writeFile(file, "an older, world-readable answer\n", { mode: 0o644 });
      const result = await cli(box, [
        "token",
        REGISTRY,
        "--format",
        "k8s-secret",
        "--namespace",
        "ci",
        "--output",
        file,
      ]);
      assert.equal(result.code, 0, describeResult(result));
      assert.equal(result.stdout, "");
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const [secret] = await yamlDocuments(await readFile(file, "utf8")) as {
        kind: string;
        data: Record<string, string>;
      }[];
      assert.equal(secret.kind, "Secret");
      const config = JSON.parse(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString());
      assert.equal(
        Buffer.from(config.auths["registry.example.com"].auth, "base64").toString(),
        `${TOKEN_USERNAME}:${standIn.issued.at(-1)!.password}`,
      );
      assert.deepEqual(
        await readdir(box.dir).then((names) =>
          names.filter((name) => name.startsWith("pull-secret"))
        ),
        [
          "pull-secret.yaml",
        ],
        "no temporary file left beside it",
      );

      const empty = await cli(box, ["token", "--output", ""]);
      assertUsageError(empty, /--output is empty: expected a value/);
      // "-" is standard output, as for most tools: no file named "-".
      const dash = await cli(box, ["token", "--format", "expires-at", "--output", "-"]);
      assert.equal(dash.code, 0, describeResult(dash));
      assert.match(dash.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
      assert.equal(await stat(join(box.dir, "-")).catch(() => undefined), undefined);
    },
  );

  it("refuses --format docker-config without --registry before asking Sauce", SLOW, async () => {
    const box = await sandbox();
    const before = standIn.requests.length;
    const result = await cli(box, ["token", "--format", "docker-config"]);
    assertUsageError(result, /--format docker-config needs a REGISTRY/);
    assert.equal(standIn.requests.length, before, "no token was requested");
  });
});

/** Eval `exports` in sh and return DOCKER_USERNAME, DOCKER_PASSWORD and DOCKER_REGISTRY. */
async function evalInShell(exports: string): Promise<string[]> {
  const shell = await run("sh", [
    "-c",
    'eval "$1" && printf "%s\\0" "$DOCKER_USERNAME" "$DOCKER_PASSWORD" "${DOCKER_REGISTRY-unset}"',
    "sh",
    exports,
  ], { env: { HOME: "/nonexistent-home" } });
  assert.equal(shell.code, 0, shell.stderr);
  return shell.stdout.split("\0").slice(0, 3);
}

describe("usage errors, help and version", () => {
  it("rejects an unknown format with one line saying what was expected", SLOW, async () => {
    const box = await sandbox();
    const before = standIn.requests.length;
    const result = await cli(box, ["token", "--format", "yaml"]);
    assertUsageError(result, /Unknown format "yaml": expected one of json, env/);
    assert.match(result.stderr.split("\n")[1], /^Usage: sauce-registry token/);
    assert.equal(standIn.requests.length, before);
  });

  it("rejects an unknown option with one line and the command's usage", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, ["token", "--bogus"]);
    assertUsageError(result, /--bogus/);
    assert.match(result.stderr.split("\n")[1], /^Usage: sauce-registry token/);
  });

  it("rejects an unknown command, even one named like an object property", SLOW, async () => {
    const box = await sandbox();
    const results = await Promise.all(
      ["frobnicate", "constructor", "toString", "__proto__", "hasOwnProperty"].map((command) =>
        cli(box, [command])
      ),
    );
    for (const result of results) assertUsageError(result, /Unknown command/);
  });

  it("rejects options that do not apply, bad timeouts and stray arguments", SLOW, async () => {
    const box = await sandbox();
    const [format, timeout, zero, extra] = await Promise.all([
      cli(box, ["status", "--format", "json"]),
      cli(box, ["token", "--timeout", "soon"]),
      cli(box, ["token", "--timeout", "0"]),
      cli(box, ["token", "a.example.com/x", "b.example.com/y"]),
    ]);
    assertUsageError(format, /--format does not apply to status/);
    assertUsageError(timeout, /--timeout/);
    assertUsageError(zero, /--timeout/);
    assertUsageError(
      extra,
      /token takes at most 1 REGISTRY, got 2 \("b\.example\.com\/y" too many\)/,
    );
  });

  it("refuses a registry host with a non-ASCII letter before asking Sauce", SLOW, async () => {
    const box = await sandbox();
    const before = standIn.requests.length;
    // KELVIN SIGN lower-cases to "k"; LONG S and DOTTED CAPITAL I do not, but are no better.
    const hosts = ["re\u212Aistry.example.com", "regi\u017Ftry.example.com", "\u0130o.example.com"];
    // printsPassword: were one accepted, the test should fail on its exit code, not on the scan.
    const results = await Promise.all(
      hosts.map((host) => cli(box, ["token", host], { printsPassword: true })),
    );
    results.forEach((result, index) => {
      assertUsageError(result, /^error: Invalid registry .*not an ASCII letter/);
      assert.ok(result.stderr.includes(hosts[index]), `names the input:\n${result.stderr}`);
    });
    const flag = await cli(box, ["login", "--registry", "re\u212Aistry.example.com/team"]);
    assertUsageError(flag, /U\+212A/);
    assert.equal(standIn.requests.length, before);
  });

  it("prints the overview on stderr and exits 2 when no command is given", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, []);
    assert.equal(result.code, 2, describeResult(result));
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /Usage: sauce-registry COMMAND/);
  });

  it("prints help with a Usage: line and exits 0 for every command", SLOW, async () => {
    const box = await sandbox();
    const requestsBefore = standIn.requests.length;
    const commands = [
      "token",
      "login",
      "logout",
      "push",
      "exec",
      "configure-docker",
      "install-helper",
      "credential-helper",
      "status",
    ];
    const results = await Promise.all([
      ...commands.map((command) => cli(box, [command, "--help"])),
      ...commands.map((command) => cli(box, [command, "-h"])),
    ]);
    results.forEach((result, index) => {
      const command = commands[index % commands.length];
      assert.equal(result.code, 0, `${command}: ${describeResult(result)}`);
      assert.match(result.stdout, new RegExp(`Usage: sauce-registry ${command}\\b`), command);
      assert.equal(result.stderr, "", command);
    });
    const overview = await cli(box, ["--help"]);
    assert.equal(overview.code, 0, describeResult(overview));
    assert.match(overview.stdout, /Usage:/);
    for (const command of commands) assert.match(overview.stdout, new RegExp(`\\b${command}\\b`));
    assert.equal(standIn.requests.length, requestsBefore, "help never asks for a token");
  });

  it("prints the version from deno.json with -V and --version", SLOW, async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")) as {
      version: string;
    };
    const box = await sandbox();
    for (const flag of ["-V", "--version"]) {
      const result = await cli(box, [flag]);
      assert.equal(result.code, 0, describeResult(result));
      assert.equal(result.stdout, `sauce-registry ${version}\n`);
    }
  });
});

describe("refusals by Sauce Labs", () => {
  it("exits 3 on a wrong access key, naming SAUCE_ACCESS_KEY but not the key", SLOW, async () => {
    const box = await sandbox({ SAUCE_ACCESS_KEY: WRONG_KEY });
    const result = await cli(box, ["token"]);
    assert.equal(result.code, 3, describeResult(result));
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /SAUCE_ACCESS_KEY/);
    assert.ok(!result.stderr.includes(WRONG_KEY));
    assert.equal(result.stderr.trimEnd().split("\n").length, 1, "one line");
    // Where it went; with an explicit API URL (the stand-in's) there is no region to suggest.
    assert.match(result.stderr, new RegExp(`Sauce Labs at ${new URL(standIn.url).host} `));
    assert.doesNotMatch(result.stderr, /--region/);
  });

  it(
    "exits 3 when the organization is not enrolled, pointing at Sauce Labs support",
    SLOW,
    async () => {
      const box = await sandbox({ SAUCE_USERNAME: "bob", SAUCE_ACCESS_KEY: BOB_KEY });
      const result = await cli(box, ["token", "--registry", REGISTRY]);
      assert.equal(result.code, 3, describeResult(result));
      assert.match(result.stderr, /Sauce Labs support/);
    },
  );

  it("exits 1 when Sauce keeps failing, after retrying", SLOW, async () => {
    const box = await sandbox();
    const before = standIn.requests.length;
    standIn.fault({ status: 503, times: 4 });
    const result = await cli(box, ["token"]);
    assert.equal(result.code, 1, describeResult(result));
    assert.match(result.stderr, /503/);
    assert.equal(standIn.requests.length - before, 4, "the first try and 3 retries");
  });
});

describe("credentials", () => {
  it(
    "reads the access key from stdin with --access-key-stdin, over the environment",
    SLOW,
    async () => {
      const box = await sandbox({ SAUCE_ACCESS_KEY: WRONG_KEY });
      const args = ["token", "--access-key-stdin", "--format", "expires-at"];
      const result = await cli(box, args, { stdin: `${ALICE_KEY}\n` });
      assert.equal(result.code, 0, describeResult(result));
      assert.equal(lastRequestKey(), ALICE_KEY);
      assert.ok(!args.join(" ").includes(ALICE_KEY), "the key is not on the command line");
    },
  );

  it(
    "tells the user to check the credentials where they set them when Sauce Labs refuses them",
    SLOW,
    async () => {
      // The environment holds the right key; the refused one came from standard input.
      const box = await sandbox();
      const fromStdin = await cli(box, ["token", "--access-key-stdin"], { stdin: WRONG_KEY });
      assert.equal(fromStdin.code, 3, describeResult(fromStdin));
      assert.match(
        fromStdin.stderr,
        /\(401\).*; check the username \(SAUCE_USERNAME\) and the access key \(standard input\)$/m,
      );
      const envFile = join(box.dir, "ci.env");
      await writeFile(envFile, `SAUCE_USERNAME=alice\nSAUCE_ACCESS_KEY=${WRONG_KEY}\n`);
      const box2 = await sandbox({}, false);
      const fromFile = await cli(box2, ["token", "--env-file", envFile]);
      assert.equal(fromFile.code, 3, describeResult(fromFile));
      assert.match(
        fromFile.stderr,
        new RegExp(`\\(401\\).*; check SAUCE_USERNAME and SAUCE_ACCESS_KEY in ${envFile}$`, "m"),
      );
      const fromEnv = await cli(await sandbox({ SAUCE_ACCESS_KEY: WRONG_KEY }), ["token"]);
      assert.match(fromEnv.stderr, /\(401\).*; check SAUCE_USERNAME and SAUCE_ACCESS_KEY$/m);
    },
  );

  it(
    "offers no way to pass the access key as an argument, and does not echo one",
    SLOW,
    async () => {
      const box = await sandbox();
      for (
        const args of [["token", "--access-key", FLAG_KEY], ["token", `--access-key=${FLAG_KEY}`]]
      ) {
        const result = await cli(box, args);
        assert.equal(result.code, 2, describeResult(result));
      }
    },
  );

  it("refuses an empty --access-key-stdin", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, ["token", "--access-key-stdin"], { stdin: "" });
    assertUsageError(result, /--access-key-stdin/);
  });

  it(
    "says where it looked for credentials and how to set them, with no Usage: line",
    SLOW,
    async () => {
      const box = await sandbox({}, false);
      const before = standIn.requests.length;
      const result = await cli(box, ["token"]);
      assert.equal(result.code, 2, describeResult(result));
      assert.deepEqual(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
      assert.doesNotMatch(result.stderr, /Usage:/);
      assert.match(
        result.stderr,
        /^error: No Sauce Labs username and access key found: looked in the flags, SAUCE_USERNAME and SAUCE_ACCESS_KEY in the environment, \.\/\.env, ~\/\.sauce\/credentials\.yml; set SAUCE_USERNAME and SAUCE_ACCESS_KEY/,
      );
      assert.equal(standIn.requests.length, before);
    },
  );

  it("reads SAUCE_USERNAME and SAUCE_ACCESS_KEY from the environment", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, ["token", "--format", "username"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(lastRequestUser(), "alice");
    assert.equal(lastRequestKey(), ALICE_KEY);
  });

  it("reads a .env file in the working folder", SLOW, async () => {
    const box = await sandbox({}, false);
    await writeFile(
      join(box.dir, ".env"),
      `SAUCE_USERNAME=alice\nSAUCE_ACCESS_KEY="${ALICE_KEY}"\n`,
    );
    const result = await cli(box, ["token", "--format", "username"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(lastRequestKey(), ALICE_KEY);
  });

  it("reads SAUCE_API_URL from a .env file named with --env-file", SLOW, async () => {
    const box = await sandbox({}, false);
    delete box.env.SAUCE_API_URL;
    await writeFile(
      join(box.dir, ".env"),
      `SAUCE_API_URL=${standIn.url}\nSAUCE_USERNAME=alice\nSAUCE_ACCESS_KEY=${ALICE_KEY}\n`,
    );
    const before = standIn.requests.length;
    const result = await cli(box, ["token", "--env-file", ".env", "--format", "username"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(standIn.requests.length, before + 1);
  });

  it("reads the file given with --env-file instead of ./.env", SLOW, async () => {
    const box = await sandbox({}, false);
    await mkdir(join(box.dir, "conf"));
    const envFile = join(box.dir, "conf", "sauce.env");
    await writeFile(envFile, `SAUCE_USERNAME=alice\nSAUCE_ACCESS_KEY=${ALICE_KEY}\n`);
    await writeFile(join(box.dir, ".env"), `SAUCE_USERNAME=bob\nSAUCE_ACCESS_KEY=${BOB_KEY}\n`);
    const result = await cli(box, ["token", "--env-file", envFile, "--format", "username"], {});
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(lastRequestUser(), "alice");

    const missing = await cli(box, ["token", "--env-file", join(box.dir, "nope.env")]);
    assertUsageError(missing, /nope\.env/);
  });

  it("reads saucectl's ~/.sauce/credentials.yml", SLOW, async () => {
    const box = await sandbox({}, false);
    await mkdir(join(box.env.HOME, ".sauce"), { recursive: true });
    await writeFile(
      join(box.env.HOME, ".sauce", "credentials.yml"),
      `username: alice\naccessKey: ${ALICE_KEY}\n`,
    );
    const result = await cli(box, ["token", "--format", "username"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(lastRequestKey(), ALICE_KEY);
  });

  it("lets --username win over SAUCE_USERNAME", SLOW, async () => {
    const box = await sandbox({ SAUCE_USERNAME: "bob" });
    const result = await cli(box, ["token", "--username", "alice", "--format", "username"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(lastRequestUser(), "alice");
  });

  it("lets the environment win over .env, and .env over credentials.yml", SLOW, async () => {
    const box = await sandbox();
    await writeFile(join(box.dir, ".env"), `SAUCE_USERNAME=bob\nSAUCE_ACCESS_KEY=${BOB_KEY}\n`);
    const fromEnvironment = await cli(box, ["token", "--format", "username"]);
    assert.equal(fromEnvironment.code, 0, describeResult(fromEnvironment));
    assert.equal(lastRequestUser(), "alice");

    const files = await sandbox({}, false);
    await writeFile(
      join(files.dir, ".env"),
      `SAUCE_USERNAME=alice\nSAUCE_ACCESS_KEY=${ALICE_KEY}\n`,
    );
    await mkdir(join(files.env.HOME, ".sauce"), { recursive: true });
    await writeFile(
      join(files.env.HOME, ".sauce", "credentials.yml"),
      `username: bob\naccessKey: ${BOB_KEY}\n`,
    );
    const fromDotenv = await cli(files, ["token", "--format", "username"]);
    assert.equal(fromDotenv.code, 0, describeResult(fromDotenv));
    assert.equal(lastRequestUser(), "alice");
  });

  it("never lets .env override a variable that is already set", SLOW, async () => {
    const box = await sandbox();
    // If .env won, the request would go to a closed port and fail.
    await writeFile(join(box.dir, ".env"), "SAUCE_API_URL=http://127.0.0.1:9\n");
    const before = standIn.requests.length;
    const result = await cli(box, ["token", "--format", "username"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.equal(standIn.requests.length, before + 1);
  });
});

describe("API address, timeout and output", () => {
  it("refuses plain http:// to a host that is not loopback", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, ["token", "--api-url", "http://example.com"]);
    assertUsageError(result, /https/);
  });

  it("refuses an unknown region and lists the known ones", SLOW, async () => {
    const box = await sandbox();
    delete box.env.SAUCE_API_URL;
    const result = await cli(box, ["token", "--region", "mars-1"]);
    assertUsageError(result, /us-west-1, us-east-4, eu-central-1, staging/);
  });

  it("exits 124 soon after --timeout when Sauce is slow", SLOW, async () => {
    const box = await sandbox();
    standIn.fault({ delayMs: 12_000 });
    const started = Date.now();
    const result = await cli(box, ["token", "--timeout", "1"]);
    const elapsed = Date.now() - started;
    assert.equal(result.code, 124, describeResult(result));
    assert.match(result.stderr, /Timed out/);
    assert.equal(result.stdout, "");
    assert.ok(elapsed < 8000, `took ${elapsed} ms, not about 1 s (the answer takes 12 s)`);
  });

  it("logs the request with --verbose, credentials redacted", SLOW, async () => {
    const box = await sandbox();
    const result = await cli(box, [
      "token",
      "--verbose",
      "--registry",
      REGISTRY,
      "--format",
      "expires-at",
    ]);
    assert.equal(result.code, 0, describeResult(result));
    assert.match(
      result.stderr,
      /POST http:\/\/127\.0\.0\.1:\d+\/v1alpha1\/hosted\/container-registry\/authorization-token/,
    );
    assert.match(result.stderr, /\[redacted\]/);
    assert.match(result.stderr, /200/);
    assert.ok(
      !result.stderr.includes(Buffer.from(`alice:${ALICE_KEY}`).toString("base64")),
      "no Basic credentials",
    );
  });

  it("colours errors on a terminal, and not with NO_COLOR", SLOW, async () => {
    const box = await sandbox({ SAUCE_ACCESS_KEY: WRONG_KEY });
    const { NO_COLOR: _, ...colourEnv } = box.env;
    const command = [...cliCommand(), "token"].map(shellQuote).join(" ");
    const onTerminal = (env: Record<string, string>) =>
      run("script", ["-qec", command, "/dev/null"], { env, cwd: box.dir, timeoutMs: 30_000 });
    const coloured = await onTerminal(colourEnv);
    keys.check("terminal output", coloured.stdout, coloured.stderr);
    assert.ok(
      coloured.stdout.includes(`${ESC}[`),
      `a terminal without NO_COLOR gets colour: ${JSON.stringify(coloured.stdout)}`,
    );
    const plain = await onTerminal({ ...colourEnv, NO_COLOR: "1" });
    keys.check("terminal output", plain.stdout, plain.stderr);
    assert.match(plain.stdout, /error:/);
    assert.ok(!plain.stdout.includes(ESC), JSON.stringify(plain.stdout));
    const piped = await cli(await sandbox({ SAUCE_ACCESS_KEY: WRONG_KEY, NO_COLOR: "" }), [
      "token",
    ]);
    assert.ok(!piped.stderr.includes(ESC), "no colour when stderr is not a terminal");
  });
});

describe("time limits", () => {
  it(
    "refuses a --timeout or SAUCE_REGISTRY_TIMEOUT a timer cannot hold, instead of firing at once",
    SLOW,
    async () => {
      const box = await sandbox();
      const before = standIn.requests.length;
      const [flag, variable] = await Promise.all([
        cli(box, ["token", "--timeout", "3000000"]),
        cli(await sandbox({ SAUCE_REGISTRY_TIMEOUT: "3000000" }), ["token"]),
      ]);
      assertUsageError(flag, /Invalid --timeout: expected .* at most 2147483/);
      assertUsageError(variable, /Invalid SAUCE_REGISTRY_TIMEOUT: expected .* at most 2147483/);
      assert.equal(standIn.requests.length, before, "nothing was asked");
      const longest = await cli(box, ["token", "--timeout", "2147483", "--format", "username"]);
      assert.equal(longest.code, 0, describeResult(longest));
    },
  );

  it(
    "the credential helper says its SAUCE_REGISTRY_TIMEOUT is out of range, and no false timeout",
    SLOW,
    async () => {
      const box = await sandbox({ SAUCE_REGISTRY_TIMEOUT: "3000000" });
      assert.equal((await cli(box, ["configure-docker", REGISTRY])).code, 0);
      const result = await cli(box, ["credential-helper", "get"], {
        stdin: "registry.example.com",
      });
      assert.equal(result.code, 1, describeResult(result));
      assert.equal(result.stdout, "");
      assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
      assert.match(result.stderr, /Invalid SAUCE_REGISTRY_TIMEOUT: expected .* at most 2147483/);
      assert.ok(!/Timed out/.test(result.stderr), result.stderr);
    },
  );

  it(
    "token, login, exec and push give up on a silent API by default (SAUCE_REGISTRY_TIMEOUT)",
    SLOW,
    async () => {
      const box = await sandbox({ SAUCE_REGISTRY_TIMEOUT: "1" });
      const marker = join(box.dir, "command-ran");
      const commands = [
        ["token"],
        ["login", REGISTRY],
        ["exec", REGISTRY, "--", "touch", marker],
        ["push", `${REGISTRY}/app:1`],
      ];
      standIn.fault({ delayMs: 15_000, times: commands.length });
      const started = Date.now();
      const results = await Promise.all(commands.map((args) => cli(box, args)));
      standIn.clearFaults();
      results.forEach((result, index) => {
        const what = commands[index][0];
        assert.equal(result.code, 124, `${what}: ${describeResult(result)}`);
        assert.match(result.stderr, /Timed out after 1 s \(SAUCE_REGISTRY_TIMEOUT\)/, what);
      });
      assert.ok(Date.now() - started < 12_000, `took ${Date.now() - started} ms, not about 1 s`);
      await assert.rejects(access(marker), "exec ran its command without a token");
    },
  );

  it("for exec the limit is on getting the token, not on the command", SLOW, async () => {
    const box = await sandbox({ SAUCE_REGISTRY_TIMEOUT: "1" });
    const result = await cli(box, ["exec", REGISTRY, "--", "sh", "-c", "sleep 2.5; exit 7"]);
    assert.equal(result.code, 7, describeResult(result));
  });

  it("says the default in --help", SLOW, async () => {
    const box = await sandbox();
    for (const command of ["token", "login", "exec", "push"]) {
      const help = await cli(box, [command, "--help"]);
      const words = help.stdout.replace(/\s+/g, " "); // help wraps its lines
      assert.match(words, /SAUCE_REGISTRY_TIMEOUT or 60 s/, command);
      assert.match(words, /exec and push: the token only, not the command/, command);
    }
  });
});

describe("a Sauce Labs clock that is off", () => {
  it(
    "prints the expiry in this machine's clock: the lifetime Sauce gave, from now",
    SLOW,
    async () => {
      const box = await sandbox();
      for (const offset of [600, -600]) {
        standIn.clockOffsetSeconds = offset;
        try {
          const before = Date.now();
          const result = await cli(box, ["token", "--format", "expires-at"], {
            printsPassword: true,
          });
          assert.equal(result.code, 0, describeResult(result));
          const lifetime = Date.parse(result.stdout.trim()) - before;
          assert.ok(
            lifetime > 290_000 && lifetime < 310_000,
            `clock ${offset} s off: expires in ${lifetime} ms, not 300 s`,
          );
        } finally {
          standIn.clockOffsetSeconds = 0;
        }
      }
    },
  );
});

describe("an API URL from the implicit ./.env", () => {
  it(
    "is refused when it is not Sauce Labs, loopback included, before any request",
    SLOW,
    async () => {
      const box = await sandbox();
      delete box.env.SAUCE_API_URL;
      const before = standIn.requests.length;
      for (const url of ["https://collector.example.com", standIn.url]) {
        await writeFile(join(box.dir, ".env"), `SAUCE_API_URL=${url}\n`);
        const result = await cli(box, ["token"]);
        assertUsageError(
          result,
          /SAUCE_API_URL in \.\/\.env is not an https:\/\/ address of Sauce Labs/,
        );
      }
      assert.equal(standIn.requests.length, before);
    },
  );

  it("is used when the same file is named with --env-file", SLOW, async () => {
    const box = await sandbox();
    delete box.env.SAUCE_API_URL;
    await writeFile(join(box.dir, ".env"), "SAUCE_API_URL=https://collector.example.com\n");
    const result = await cli(box, ["status", "--offline", "--env-file", ".env"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.match(result.stdout, /API https:\/\/collector\.example\.com/);
  });
});

describe("sauce-registry status", () => {
  it(
    "says where the credentials came from, asks the API, and never prints the key",
    SLOW,
    async () => {
      const box = await sandbox();
      const before = standIn.requests.length;
      const result = await cli(box, ["status", REGISTRY]);
      assert.equal(result.code, 0, describeResult(result));
      assert.match(
        result.stdout,
        /username alice \(from environment\), access key from environment/,
      );
      assert.match(result.stdout, new RegExp(`API ${standIn.url.replaceAll(".", "\\.")}`));
      assert.match(result.stdout, /API: ok/);
      assert.match(result.stdout, /Registry host: registry\.example\.com/);
      assert.equal(standIn.requests.length, before + 1);
    },
  );

  it("reports the cached token's expiry, the Docker config's entries and the helper on PATH", {
    timeout: 60_000,
  }, async () => {
    const box = await sandbox();
    await mkdir(box.env.DOCKER_CONFIG, { recursive: true });
    const config = join(box.env.DOCKER_CONFIG, "config.json");
    await writeFile(
      config,
      JSON.stringify({ auths: { "https://registry.example.com/v1/": {} }, credsStore: "pass" }),
    );
    assert.equal((await cli(box, ["configure-docker", REGISTRY])).code, 0);
    const bin = join(box.dir, "bin");
    const installed = await cli(box, ["install-helper", "--dir", bin]);
    assert.equal(installed.code, 0, describeResult(installed));
    const helper = join(bin, "docker-credential-saucelabs");
    const onPath = { ...box, env: { ...box.env, PATH: `${bin}:${box.env.PATH}` } };

    const empty = await cli(onPath, ["status", "--offline", REGISTRY]);
    assert.match(empty.stdout, /^Cached token: none$/m);
    const get = await cli(onPath, ["credential-helper", "get"], {
      stdin: "registry.example.com",
      printsPassword: true,
    });
    assert.equal(get.code, 0, describeResult(get));
    const issued = standIn.issued.at(-1)!;

    const result = await cli(onPath, ["status", "--json", "--offline", REGISTRY]);
    assert.equal(result.code, 0, describeResult(result));
    const report = JSON.parse(result.stdout);
    assert.equal(report.cachedTokenExpiresAt, issued.expiresAt.toISOString());
    assert.deepEqual(report.registry, {
      registryUrl: REGISTRY,
      region: "us-west-1",
      apiUrl: standIn.url,
    });
    assert.deepEqual(report.dockerConfig, {
      path: config,
      exists: true,
      credHelper: "saucelabs",
      credsStore: "pass",
      hasAuth: true,
    });
    assert.equal(report.helperOnPath, helper);

    const text = await cli(onPath, ["status", "--offline", REGISTRY]);
    assert.equal(text.code, 0, describeResult(text));
    const lines = text.stdout.split("\n");
    assert.ok(
      lines.includes(`Cached token: expires ${issued.expiresAt.toISOString()}`),
      text.stdout,
    );
    assert.ok(
      lines.includes(
        `Docker config ${config}: credHelpers → docker-credential-saucelabs, an auths entry, credsStore pass`,
      ),
      text.stdout,
    );
    assert.ok(lines.includes(`Credential helper on PATH: ${helper}`), text.stdout);
    assert.ok(lines.includes(`Registry host: registry.example.com (configured: ${REGISTRY})`));

    const elsewhere = await cli(box, ["status", "--json", "--offline", "other.example.com/x"]);
    const other = JSON.parse(elsewhere.stdout);
    assert.equal(other.cachedTokenExpiresAt, undefined);
    assert.equal(other.registry, undefined);
    assert.deepEqual(other.dockerConfig, {
      path: config,
      exists: true,
      credsStore: "pass",
      hasAuth: false,
    });
    assert.equal(other.helperOnPath, undefined, "the helper is not on this PATH");
  });

  it("reports the same as JSON with --json", SLOW, async () => {
    const box = await sandbox();
    await writeFile(join(box.dir, ".env"), "SAUCE_REGION=eu-central-1\n");
    const result = await cli(box, ["status", "--json", REGISTRY]);
    assert.equal(result.code, 0, describeResult(result));
    const report = JSON.parse(result.stdout) as {
      credentials: Record<string, string>;
      apiUrl: string;
      region: string;
      api: { ok: boolean };
      host: string;
    };
    assert.deepEqual(report.credentials, {
      username: "alice",
      usernameSource: "environment",
      accessKeySource: "environment",
    });
    assert.equal(report.apiUrl, standIn.url, "an explicit API URL wins over the region");
    assert.equal(report.region, "eu-central-1", "SAUCE_REGION from .env");
    assert.equal(report.api.ok, true);
    assert.equal(report.host, "registry.example.com");
  });

  it("names a .env file and stdin as sources", SLOW, async () => {
    const box = await sandbox({}, false);
    await writeFile(join(box.dir, ".env"), "SAUCE_USERNAME=alice\n");
    const result = await cli(box, ["status", "--json", "--offline", "--access-key-stdin"], {
      stdin: ALICE_KEY,
    });
    assert.equal(result.code, 0, describeResult(result));
    const report = JSON.parse(result.stdout) as { credentials: Record<string, string> };
    assert.equal(report.credentials.usernameSource, ".env file");
    assert.equal(report.credentials.accessKeySource, "stdin");
  });

  it("asks nothing with --offline", SLOW, async () => {
    const box = await sandbox();
    const before = standIn.requests.length;
    const result = await cli(box, ["status", "--offline"]);
    assert.equal(result.code, 0, describeResult(result));
    assert.match(result.stdout, /API: not checked/);
    assert.equal(standIn.requests.length, before);
  });

  it(
    "reports a refused key with exit 3 (as every command does), without the key",
    SLOW,
    async () => {
      const box = await sandbox({ SAUCE_ACCESS_KEY: WRONG_KEY });
      const result = await cli(box, ["status"]);
      assert.equal(result.code, 3, describeResult(result));
      assert.match(result.stdout, /API: failed: .*401/);
    },
  );

  it("exits 2 and says what is missing when no credentials are found", SLOW, async () => {
    const box = await sandbox({}, false);
    const result = await cli(box, ["status", "--offline"]);
    assert.equal(result.code, 2, describeResult(result));
    assert.match(result.stdout, /Credentials: No Sauce Labs username and access key found/);
  });
});
