// `sauce-registry login` and `logout` for the tools that cannot be installed here (nerdctl, helm,
// oras, crane): a recorder shim stands in for each and the tests assert the exact argv of the
// tool's documented login and the stdin it got. Also the failures: refused credentials, an
// organization that is not enrolled, a tool that fails, a tool that is missing.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { describeResult } from "./fixtures/common.ts";
import {
  type CliResult,
  makeSandbox,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import { makeArgvRecorderShim, readShimCalls, type ShimCall } from "./fixtures/services.ts";
import { type StandIn, startStandIn, TOKEN_USERNAME } from "./fixtures/stand_in.ts";

const USERS = {
  alice: "alice-access-key-0123456789",
  bob: "bob-access-key-not-enrolled-42",
};

/** A registry URL as Sauce hands it out; only its host reaches the tools. No one connects. */
const REGISTRY_URL = "127.0.0.1:5999/your-private-registry";
const HOST = "127.0.0.1:5999";

/**
 * Each tool's documented login and logout (checked against their docs):
 * - nerdctl: `nerdctl login [flags] [SERVER]`, `-u/--username`, `--password-stdin`.
 * - oras: `oras login [flags] <registry>`, `-u/--username`, `--password-stdin`.
 * - helm: `helm registry login [host] [flags]`, `--username`, `--password-stdin`.
 * - crane: `crane auth login [OPTIONS] [SERVER]`, `-u/--username`, `--password-stdin`.
 * All four read stdin to the end and drop one trailing newline (`\n`, then `\r`), so the
 * password with or without a newline is the same password to them.
 */
const EXPECTED: Record<
  "nerdctl" | "helm" | "oras" | "crane",
  { login: string[]; logout: string[]; toolArg: string }
> = {
  nerdctl: {
    login: ["login", "--username", TOKEN_USERNAME, "--password-stdin"],
    logout: ["logout"],
    toolArg: "--insecure-registry",
  },
  oras: {
    login: ["login", "--username", TOKEN_USERNAME, "--password-stdin"],
    logout: ["logout"],
    toolArg: "--plain-http",
  },
  helm: {
    login: ["registry", "login", "--username", TOKEN_USERNAME, "--password-stdin"],
    logout: ["registry", "logout"],
    toolArg: "--insecure",
  },
  crane: {
    login: ["auth", "login", "--username", TOKEN_USERNAME, "--password-stdin"],
    logout: ["auth", "logout"],
    toolArg: "--insecure",
  },
};

describe("login through tools that are only recorded, and login failures", () => {
  let standIn: StandIn | undefined;
  const scanner = new SecretScanner();
  scanner.add(...Object.values(USERS));

  before(async () => {
    standIn = await startStandIn({ users: USERS, enrolled: ["alice"] });
  });

  after(async () => {
    await standIn?.close();
  });

  /** A sandbox for `user` whose PATH starts with its own shims folder. */
  async function sandboxFor(
    user: keyof typeof USERS,
    accessKey: string = USERS[user],
  ): Promise<{ sandbox: Sandbox; shims: string }> {
    const sandbox = await makeSandbox({
      SAUCE_API_URL: standIn!.url,
      SAUCE_USERNAME: user,
      SAUCE_ACCESS_KEY: accessKey,
    });
    const shims = join(sandbox.dir, "shims");
    await mkdir(shims);
    sandbox.env.PATH = `${shims}:${sandbox.env.PATH}`;
    return { sandbox, shims };
  }

  function cli(args: string[], sandbox: Sandbox): Promise<CliResult> {
    return runCli(args, { env: sandbox.env, cwd: sandbox.dir, timeoutMs: 30_000 });
  }

  function issuedSince(count: number): string[] {
    const passwords = standIn!.issued.slice(count).map((token) => token.password);
    scanner.add(...passwords);
    return passwords;
  }

  /** A fake tool of our own, for behaviour the recorder shim does not offer. */
  async function writeExecutable(path: string, script: string): Promise<void> {
    await writeFile(path, `#!/bin/sh\n${script}`);
    await chmod(path, 0o755);
  }

  function assertNoSecretIn(call: ShimCall, password: string): void {
    for (const [index, arg] of call.argv.entries()) {
      assert.ok(!arg.includes(password), `the password is in argv[${index}]`);
    }
    scanner.check("the tool's argv", call.argv.join("\0"));
    for (const [name, value] of Object.entries(call.env)) {
      assert.ok(!value.includes(password), `the password is in the tool's env ${name}`);
    }
  }

  for (const [tool, expected] of Object.entries(EXPECTED)) {
    it(`runs ${tool}'s documented login with the password on stdin, then its logout`, async () => {
      const { sandbox, shims } = await sandboxFor("alice");
      try {
        const { log } = await makeArgvRecorderShim(shims, tool, null);
        const issued = standIn!.issued.length;
        const login = await cli(
          ["login", REGISTRY_URL, "--tool", tool, `--tool-arg=${expected.toolArg}`],
          sandbox,
        );
        assert.equal(login.code, 0, describeResult(login));
        const [password, ...more] = issuedSince(issued);
        assert.ok(password, "no token was issued");
        assert.equal(more.length, 0, "one login, one token");
        assert.deepEqual(JSON.parse(standIn!.requests.at(-1)!.body), {
          registry_url: REGISTRY_URL,
        });
        assert.match(login.stdout, new RegExp(`^Logged in to ${HOST} with ${tool}; .*expires at`));
        scanner.checkResult(`${tool} login`, login);

        const [call, ...others] = await readShimCalls(log);
        assert.equal(others.length, 0, `${tool} ran more than once`);
        assert.deepEqual(call.args, [...expected.login, expected.toolArg, HOST]);
        assert.ok(call.stdinCaptured, "the shim could not record stdin");
        assert.ok(
          call.stdin === password || call.stdin === `${password}\n`,
          `stdin was not exactly the password (${JSON.stringify(call.stdin.length)} chars)`,
        );
        assertNoSecretIn(call, password);

        const logout = await cli(
          ["logout", REGISTRY_URL, "--tool", tool, `--tool-arg=${expected.toolArg}`],
          sandbox,
        );
        assert.equal(logout.code, 0, describeResult(logout));
        assert.equal(standIn!.issued.length, issued + 1, "logout must not fetch a token");
        const logoutCall = (await readShimCalls(log))[1];
        assert.deepEqual(logoutCall?.args, [...expected.logout, expected.toolArg, HOST]);
        assert.equal(logoutCall.stdin, "", "logout must not write to the tool's stdin");
        scanner.checkResult(`${tool} logout`, logout);
      } finally {
        await sandbox.cleanup();
      }
    });
  }

  it("passes every --tool-arg through, in order, before the host", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      const { log } = await makeArgvRecorderShim(shims, "oras", null);
      const login = await cli([
        "login",
        REGISTRY_URL,
        "--tool=oras",
        "--tool-arg=--plain-http",
        "--tool-arg=--registry-config",
        "--tool-arg",
        "/tmp/with space.json",
        "--tool-arg=-d",
      ], sandbox);
      assert.equal(login.code, 0, describeResult(login));
      const [call] = await readShimCalls(log);
      assert.deepEqual(call.args, [
        ...EXPECTED.oras.login,
        "--plain-http",
        "--registry-config",
        "/tmp/with space.json",
        "-d",
        HOST,
      ]);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("logs docker in by default and prints the login as JSON with --json", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      const { log } = await makeArgvRecorderShim(shims, "docker", null);
      const issued = standIn!.issued.length;
      const result = await cli(["login", `https://${REGISTRY_URL}/`, "--json"], sandbox);
      assert.equal(result.code, 0, describeResult(result));
      const [password] = issuedSince(issued);
      const token = standIn!.issued.at(-1)!;
      const printed = JSON.parse(result.stdout) as Record<string, string>;
      assert.deepEqual(Object.keys(printed).sort(), ["expires_at", "host", "tool", "username"]);
      assert.deepEqual([printed.host, printed.tool, printed.username], [
        HOST,
        "docker",
        TOKEN_USERNAME,
      ]);
      // RFC 3339 in UTC, the instant Sauce gave (with or without milliseconds).
      assert.match(printed.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      assert.equal(Date.parse(printed.expires_at), token.expiresAt.getTime());
      const [call] = await readShimCalls(log);
      assert.deepEqual(call.args, [
        "login",
        "--username",
        TOKEN_USERNAME,
        "--password-stdin",
        HOST,
      ]);
      assert.ok(call.stdin === password || call.stdin === `${password}\n`);
      assertNoSecretIn(call, password);
      scanner.checkResult("login --json", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("redacts the password from the tool's output shown by --verbose", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      await writeExecutable(
        join(shims, "oras"),
        'password=$(cat)\necho "Login Succeeded (token $password)"\necho "debug: $password" >&2\n',
      );
      const issued = standIn!.issued.length;
      const result = await cli(
        ["login", REGISTRY_URL, "--tool", "oras", "--verbose"],
        sandbox,
      );
      const [password] = issuedSince(issued);
      assert.equal(result.code, 0, describeResult(result));
      // The tool did print it: the CLI shows its output, with the password replaced.
      assert.match(result.stderr, /Login Succeeded \(token \*\*\*\)/);
      assert.match(result.stderr, /debug: \*\*\*/);
      assert.ok(!`${result.stdout}${result.stderr}`.includes(password));
      scanner.checkResult("login --verbose", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("refuses --tool-arg followed by a separate dashed value and says how to write it", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      const { log } = await makeArgvRecorderShim(shims, "oras", null);
      const requests = standIn!.tokenRequestCount();
      const result = await cli(
        ["login", REGISTRY_URL, "--tool", "oras", "--tool-arg", "--plain-http"],
        sandbox,
      );
      assert.equal(result.code, 2, describeResult(result));
      assert.match(result.stderr, /write --tool-arg=VALUE/);
      assert.match(result.stderr, /Usage: sauce-registry login/);
      assert.equal(standIn!.tokenRequestCount(), requests, "a usage error must not ask the API");
      assert.deepEqual(await readShimCalls(log), []);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("exits 3 on a wrong access key and never runs the tool", async () => {
    const { sandbox, shims } = await sandboxFor("alice", "alice-wrong-access-key-000");
    scanner.add("alice-wrong-access-key-000");
    try {
      const { log } = await makeArgvRecorderShim(shims, "crane", null);
      const requests = standIn!.tokenRequestCount();
      const result = await cli(["login", REGISTRY_URL, "--tool", "crane"], sandbox);
      assert.equal(result.code, 3, describeResult(result));
      assert.equal(standIn!.tokenRequestCount(), requests + 1, "the API was not asked");
      assert.match(result.stderr, /username or access key/i);
      assert.deepEqual(await readShimCalls(log), [], "the tool ran without a token");
      assert.equal(result.stdout, "");
      scanner.checkResult("refused login", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("exits 3 and points to Sauce Labs support when the organization is not enrolled", async () => {
    const { sandbox, shims } = await sandboxFor("bob");
    try {
      const { log } = await makeArgvRecorderShim(shims, "helm", null);
      const issued = standIn!.issued.length;
      const result = await cli(["login", REGISTRY_URL, "--tool", "helm"], sandbox);
      assert.equal(result.code, 3, describeResult(result));
      assert.match(result.stderr, /Sauce Labs support/);
      assert.match(result.stderr, /403/);
      assert.equal(standIn!.issued.length, issued, "a token was issued to bob");
      assert.deepEqual(await readShimCalls(log), [], "the tool ran without a token");
      scanner.checkResult("not enrolled", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("exits 1 with the tool's own message, the password in it redacted", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      // Like a real tool that echoes what it was given: the CLI must not pass that on.
      await writeExecutable(
        join(shims, "nerdctl"),
        [
          "password=$(cat)",
          'echo "WARN some noise" >&2',
          'echo "Error: login to $5 refused for password $password: unauthorized" >&2',
          "exit 1",
          "",
        ].join("\n"),
      );
      const issued = standIn!.issued.length;
      const result = await cli(["login", REGISTRY_URL, "--tool", "nerdctl"], sandbox);
      const [password] = issuedSince(issued);
      assert.ok(password, "no token was issued");
      assert.equal(result.code, 1, describeResult(result));
      assert.ok(!result.stderr.includes(password), "the password reached the terminal");
      assert.match(
        result.stderr,
        new RegExp(`nerdctl login failed \\(exit code 1\\).*refused for password \\*\\*\\*`),
      );
      // The shim saw the password on stdin, and the host as its last argument ($5).
      assert.match(result.stderr, new RegExp(`login to ${HOST} refused`));
      assert.equal(result.stdout, "");
      scanner.checkResult("failed tool", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("shows the first lines of a crashed tool's error, not the bottom of its stack trace", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      // What a Go tool prints when it crashes: its last line says nothing about the error.
      const crash = [
        'time="2026-01-01T00:00:00Z" level=warning msg="Not using native diff for overlay"',
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x55f0c3]",
        "",
        "goroutine 1 [running]:",
        ...Array.from(
          { length: 40 },
          (_, i) =>
            `github.com/containers/image/v5/docker.frame${i}(...)\n\t/build/vendor/docker_client.go:${
              700 + i
            } +0x25`,
        ),
        "runtime/mgc.go:1159 +0x25",
      ].join("\n");
      await writeExecutable(
        join(shims, "skopeo"),
        `cat > /dev/null\ncat >&2 <<'EOF'\n${crash}\nEOF\nexit 2\n`,
      );
      const result = await cli(["login", REGISTRY_URL, "--tool", "skopeo"], sandbox);
      issuedSince(0);
      assert.equal(result.code, 1, describeResult(result));
      const [line, ...more] = result.stderr.trimEnd().split("\n");
      assert.deepEqual(more, [], "the error is one line");
      assert.match(
        line,
        /^error: skopeo login failed \(exit code 2\): panic: runtime error: invalid memory address or nil pointer dereference \| \[signal SIGSEGV/,
      );
      assert.doesNotMatch(line, /mgc\.go|Not using native diff/);
      assert.ok(line.length < 400, `the error is not bounded: ${line.length} characters`);
      scanner.checkResult("crashed tool", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("shows a logged error's message, unquoted, with the password in it masked", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      // skopeo logs as logfmt: the message is quoted, with its line breaks escaped.
      await writeExecutable(
        join(shims, "skopeo"),
        String.raw`password=$(cat)
eval "host=\${$#}"
basic=$(printf '%s' "oauth2accesstoken:$password" | base64 -w0)
cat >&2 <<EOF
time="2026-01-01T00:00:00Z" level=fatal msg="authenticating creds for \"$host\": unauthorized: password $password (Basic $basic) refused\n\tsee the registry log\n"
EOF
exit 1
`,
      );
      const issued = standIn!.issued.length;
      const result = await cli(["login", REGISTRY_URL, "--tool", "skopeo"], sandbox);
      const [password] = issuedSince(issued);
      assert.equal(result.code, 1, describeResult(result));
      assert.equal(
        result.stderr,
        `error: skopeo login failed (exit code 1): authenticating creds for "${HOST}": ` +
          "unauthorized: password *** (Basic ***) refused see the registry log\n",
      );
      assert.ok(!result.stderr.includes(password));
      scanner.add(Buffer.from(`oauth2accesstoken:${password}`).toString("base64"));
      scanner.checkResult("skopeo's error", result);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("exits 1 saying the tool is not installed when it is not on PATH", async () => {
    const { sandbox, shims } = await sandboxFor("alice");
    try {
      // Only an empty folder on PATH: the runtime itself is started by its absolute path.
      sandbox.env.PATH = shims;
      const result = await cli(["login", REGISTRY_URL, "--tool", "crane"], sandbox);
      assert.equal(result.code, 1, describeResult(result));
      assert.match(result.stderr, /crane.*not installed or not on PATH/);
      assert.equal(result.stdout, "");
      issuedSince(0);
      scanner.checkResult("missing tool", result);
    } finally {
      await sandbox.cleanup();
    }
  });
});
