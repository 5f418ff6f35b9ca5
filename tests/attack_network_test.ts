// Issue 14, the network side: what comes back from the network, and what a cloned repository's
// working folder holds, attack the tool. A `.env` that points the API elsewhere, an answer that
// echoes the Basic credentials or drives the terminal, a redirect, credentials in a registry URL,
// an odd Retry-After, a username Basic authentication cannot carry, and a proxy that would see a
// loopback request. Each test fails on the code before the fix.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { Buffer } from "node:buffer";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { after, afterEach, assert, before, describe, it } from "./deps.ts";
import { rejection } from "./fixtures/common.ts";
import { makeSandbox, runCli, type Sandbox, SecretScanner } from "./fixtures/harness.ts";
import { type StandIn, startStandIn, TOKEN_PATH } from "./fixtures/stand_in.ts";
import {
  apiBaseUrl,
  ApiError,
  AuthenticationError,
  fetchToken,
  parseRegistry,
  resolveApiSettings,
  resolveCredentials,
  UsageError,
} from "../mod.ts";
import { printable } from "../src/errors.ts";

// A username and key whose Basic credentials hold "+", "/" and padding, so that the standard,
// URL-safe and unpadded forms all differ.
const USER = "alice";
const KEY = "k>?~k>?~attack-key-0123456789";
const MALLORY_KEY = "mallory-access-key-6666666666";
const REGISTRY = "registry.example.com/your-private-registry";
const SLOW = { timeout: 60_000 };

/** Every form in which the key must never appear. */
function keyForms(user: string, key: string): string[] {
  const basic = Buffer.from(`${user}:${key}`).toString("base64");
  const urlSafe = Buffer.from(`${user}:${key}`).toString("base64url");
  return [key, basic, urlSafe, basic.replace(/=+$/, ""), `${urlSafe}=`];
}

/** A loopback HTTP server that records what reaches it and answers as told. */
interface Recorder {
  url: string;
  port: number;
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function startRecorder(
  answer: (request: http.IncomingMessage, response: http.ServerResponse) => void = (_, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  },
): Promise<Recorder> {
  const requests: Recorder["requests"] = [];
  const server = http.createServer((request, response) => {
    requests.push({
      method: request.method ?? "",
      url: request.url ?? "",
      headers: request.headers,
    });
    request.resume();
    answer(request, response);
  });
  // A proxy is asked with CONNECT for https://: record that too, and refuse it.
  server.on("connect", (request, socket) => {
    requests.push({ method: "CONNECT", url: request.url ?? "", headers: request.headers });
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let standIn: StandIn;
const sandboxes: Sandbox[] = [];
const recorders: Recorder[] = [];
const scanner = new SecretScanner();
scanner.add(...keyForms(USER, KEY), ...keyForms("mallory", MALLORY_KEY));
const savedEnv: Record<string, string | undefined> = {};

async function sandbox(extra: Record<string, string> = {}): Promise<Sandbox> {
  const made = await makeSandbox({ SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY, ...extra });
  sandboxes.push(made);
  await mkdir(made.env.HOME, { recursive: true });
  return made;
}

async function recorder(answer?: Parameters<typeof startRecorder>[0]): Promise<Recorder> {
  const made = await startRecorder(answer);
  recorders.push(made);
  return made;
}

function options(extra: Record<string, unknown> = {}) {
  return {
    credentials: { username: USER, accessKey: KEY },
    apiUrl: standIn.url,
    retryDelayMs: 10,
    ...extra,
  };
}

before(async () => {
  for (const name of Object.keys(process.env)) {
    if (/^SAUCE_/.test(name) || /_PROXY$/i.test(name)) {
      savedEnv[name] = process.env[name];
      delete process.env[name];
    }
  }
  standIn = await startStandIn({ users: { alice: KEY, mallory: MALLORY_KEY } });
});

afterEach(() => standIn.clearFaults());

after(async () => {
  await standIn.close();
  await Promise.all(recorders.map((made) => made.close()));
  await Promise.all(sandboxes.map((box) => box.cleanup()));
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value !== undefined) process.env[name] = value;
  }
});

describe("a repository's ./.env does not steer the API (14.2)", () => {
  /** A cloned repository: a `.env` with another identity and a loopback API of its own. */
  async function hostileRepository(box: Sandbox, api: Recorder): Promise<string> {
    const repo = join(box.dir, "repo");
    await mkdir(repo, { recursive: true });
    await writeFile(
      join(repo, ".env"),
      `SAUCE_API_URL=${api.url}\nSAUCE_USERNAME=mallory\nSAUCE_ACCESS_KEY=${MALLORY_KEY}\n`,
    );
    return repo;
  }

  it(
    "token refuses a loopback SAUCE_API_URL from ./.env: exit 2, nothing sent there",
    SLOW,
    async () => {
      const box = await sandbox();
      const api = await recorder();
      const repo = await hostileRepository(box, api);
      const result = await runCli(["token", "--registry", REGISTRY], { env: box.env, cwd: repo });
      scanner.checkResult("token in a hostile repository", result);
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        /SAUCE_API_URL in \.\/\.env is not an https:\/\/ address of Sauce/,
      );
      assert.match(result.stderr, /--api-url or --env-file/);
      assert.equal(api.requests.length, 0, "the repository's API got a request");
    },
  );

  it("the same file named with --env-file is the user's choice and is used", SLOW, async () => {
    const box = await sandbox({ SAUCE_USERNAME: "", SAUCE_ACCESS_KEY: "" });
    const repo = join(box.dir, "own");
    await mkdir(repo, { recursive: true });
    await writeFile(join(repo, ".env"), `SAUCE_API_URL=${standIn.url}\n`);
    const before = standIn.requests.length;
    const result = await runCli(
      ["token", "--env-file", ".env", "--format", "expires-at"],
      { env: { ...box.env, SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY }, cwd: repo },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(standIn.requests.length, before + 1);
  });

  it(
    "the credential helper uses the user's own identity and API, not the .env's",
    SLOW,
    async () => {
      // No identity in the environment: the user's is in ~/.sauce/credentials.yml.
      const box = await sandbox({ SAUCE_USERNAME: "", SAUCE_ACCESS_KEY: "" });
      const api = await recorder();
      const repo = await hostileRepository(box, api);
      await mkdir(join(box.env.HOME, ".sauce"), { recursive: true });
      await writeFile(
        join(box.env.HOME, ".sauce", "credentials.yml"),
        `username: ${USER}\naccessKey: "${KEY}"\n`,
      );
      const configured = await runCli(
        ["configure-docker", REGISTRY, "--api-url", standIn.url],
        { env: box.env, cwd: box.dir },
      );
      assert.equal(configured.code, 0, configured.stderr);
      const before = standIn.requests.length;
      const result = await runCli(["credential-helper", "get"], {
        env: box.env,
        cwd: repo,
        stdin: "registry.example.com",
      });
      scanner.check("helper stderr", result.stderr);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(standIn.requests.length, before + 1);
      const header = standIn.requests.at(-1)!.headers.authorization;
      assert.equal(header, `Basic ${Buffer.from(`${USER}:${KEY}`).toString("base64")}`);
      assert.equal(api.requests.length, 0, "the repository's API got a request");
    },
  );

  it("the library's resolveApiSettings holds the policy, loopback included", async () => {
    const fromDotenv = (value: string) => ({
      get: (name: string) =>
        Promise.resolve(
          name === "SAUCE_API_URL" ? { value, source: ".env file" as const } : undefined,
        ),
    });
    for (
      const url of ["http://127.0.0.1:8080", "http://localhost:1", "https://collector.example"]
    ) {
      const error = await rejection(resolveApiSettings({}, fromDotenv(url)));
      assert.ok(error instanceof UsageError, `${url}: ${error}`);
    }
    assert.deepEqual(
      await resolveApiSettings({}, fromDotenv("https://api.eu-central-1.saucelabs.com")),
      { region: undefined, apiUrl: "https://api.eu-central-1.saucelabs.com" },
    );
    assert.deepEqual(
      await resolveApiSettings({ envFile: ".env" }, fromDotenv("http://127.0.0.1:8080")),
      { region: undefined, apiUrl: "http://127.0.0.1:8080" },
    );
  });
});

describe("the key in base64 is redacted too (14.3)", () => {
  const basic = Buffer.from(`${USER}:${KEY}`).toString("base64");
  const urlSafe = Buffer.from(`${USER}:${KEY}`).toString("base64url");

  it("a 401 body echoing the Authorization header shows no form of it", async () => {
    assert.notEqual(basic, urlSafe, "the test's key must make the two forms differ");
    assert.ok(basic.endsWith("="), "the test's key must need padding");
    for (
      const echoed of [
        `Basic ${basic}`,
        `Basic ${urlSafe}`,
        `Basic ${basic.replace(/=+$/, "")}`,
        `Basic ${urlSafe.replace(/=+$/, "")}`,
      ]
    ) {
      standIn.fault({
        status: 401,
        body: JSON.stringify({ message: `rejected Authorization: ${echoed} for ${USER}` }),
      });
      const error = await rejection(fetchToken(options()));
      assert.ok(error instanceof AuthenticationError, String(error));
      scanner.check(`401 message echoing ${echoed.slice(0, 12)}…`, error.message);
      assert.match(error.message, /rejected Authorization: Basic \*\*\*/);
    }
  });

  it("through the command line too", SLOW, async () => {
    const box = await sandbox({ SAUCE_API_URL: standIn.url });
    standIn.fault({ status: 401, body: `{"detail":"bad credentials Basic ${basic}"}` });
    const result = await runCli(["token"], { env: box.env, cwd: box.dir });
    assert.equal(result.code, 3, result.stderr);
    scanner.checkResult("token after a 401 echoing the header", result);
  });
});

describe("server text cannot drive the terminal (14.4)", () => {
  const HOSTILE = [
    "\x1b[2J",
    "\x07",
    "\r",
    "\x08",
    "\x9b31m",
    "\x85",
    "\u202e",
    "\u202a",
    "\u2066",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u2028",
  ];
  const FORBIDDEN =
    // deno-lint-ignore no-control-regex
    /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/;

  it("printable strips every C0/C1 control and bidi control, keeping the words", () => {
    for (const hostile of HOSTILE) {
      const shown = printable(`Access${hostile}denied now`, 200);
      assert.ok(!FORBIDDEN.test(shown), JSON.stringify(shown));
      assert.ok(shown.startsWith("Access") && shown.endsWith("denied now"), JSON.stringify(shown));
    }
    for (let code = 0; code <= 0x9f; code++) {
      if (code >= 0x20 && code < 0x7f) continue;
      const shown = printable(`a${String.fromCharCode(code)}b`);
      assert.ok(!FORBIDDEN.test(shown) && !shown.includes("\n"), `U+${code.toString(16)}`);
    }
  });

  it("an error answer's controls and overrides do not reach stderr", SLOW, async () => {
    const box = await sandbox({ SAUCE_API_URL: standIn.url });
    const message = `Your ${HOSTILE.join("")}account\u202eevil is locked`;
    standIn.fault({ status: 403, body: JSON.stringify({ message }) });
    const result = await runCli(["token"], { env: box.env, cwd: box.dir });
    assert.equal(result.code, 3, result.stderr);
    assert.ok(!FORBIDDEN.test(result.stderr), JSON.stringify(result.stderr));
    assert.match(result.stderr, /Your .*account ?evil is locked/);
  });

  it("an HTML page's title is cleaned too", async () => {
    standIn.fault({
      status: 400,
      contentType: "text/html",
      body: "<html><head><title>Blocked\u202e\x9b7m by policy</title></head></html>",
    });
    const html = await rejection(fetchToken(options()));
    assert.ok(!FORBIDDEN.test(html.message), JSON.stringify(html.message));
    assert.match(html.message, /Blocked.*by policy/);
  });
});

describe("redirects are refused (14.6)", () => {
  for (const status of [301, 302, 303, 307, 308]) {
    it(`a ${status} to another server: an ApiError naming it, and that server gets nothing`, async () => {
      const elsewhere = await recorder();
      const redirecting = await recorder((_, response) => {
        response.writeHead(status, { location: `${elsewhere.url}${TOKEN_PATH}` });
        response.end();
      });
      const error = await rejection(fetchToken(options({ apiUrl: redirecting.url })));
      assert.ok(
        error instanceof ApiError && !(error instanceof AuthenticationError),
        String(error),
      );
      assert.equal((error as ApiError).status, status);
      assert.match(error.message, new RegExp(`answered ${status} \\(a redirect to http://127`));
      assert.match(error.message, /redirects are refused/);
      scanner.check("redirect message", error.message);
      assert.equal(elsewhere.requests.length, 0, "the redirect was followed");
      assert.equal(redirecting.requests.length, 1, "a redirect is not retried");
    });
  }

  it("through the command line: exit 1, one line", SLOW, async () => {
    const elsewhere = await recorder();
    const redirecting = await recorder((_, response) => {
      response.writeHead(307, { location: `${elsewhere.url}${TOKEN_PATH}` });
      response.end();
    });
    const box = await sandbox({ SAUCE_API_URL: redirecting.url });
    const result = await runCli(["token"], { env: box.env, cwd: box.dir });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, /307 .*redirects are refused/);
    assert.equal(elsewhere.requests.length, 0);
  });
});

describe("credentials in a registry URL are masked and refused (14.9)", () => {
  const INPUTS = [
    "https://u:aa@SECRETPART@registry.example.com/x",
    "https://u:SECRETPART/x@registry.example.com/x",
    "u:SECRETPART@registry.example.com:5000/team/app@sha256:" + "ab".repeat(32),
    "https://u:SECRETPART/x@registry.example.com:5000/x",
    "ftp://u:SECRETPART@registry.example.com/x",
    "u:SECRET PART@registry.example.com/x",
  ];

  it("parseRegistry refuses each, without the secret in its message", () => {
    for (const input of INPUTS) {
      let caught: unknown;
      try {
        parseRegistry(input);
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof UsageError, `${input}: ${caught}`);
      assert.ok(!/SECRET/.test(caught.message), caught.message);
      assert.match(caught.message, /\*\*\*@/, caught.message);
    }
    // A digest's "@" is not userinfo.
    assert.equal(
      parseRegistry(`registry.example.com/team/app@sha256:${"ab".repeat(32)}`).host,
      "registry.example.com",
    );
  });

  it("an API URL that does not parse is shown masked too", () => {
    try {
      apiBaseUrl(undefined, "https://u:SECRETPART/x@api.example.com");
      assert.fail("accepted");
    } catch (error) {
      assert.ok(error instanceof UsageError, String(error));
      assert.ok(!/SECRET/.test(error.message), error.message);
    }
  });

  it(
    "every command that takes a registry refuses them: exit 2, no secret on stderr",
    SLOW,
    async () => {
      const box = await sandbox({ SAUCE_API_URL: standIn.url });
      const before = standIn.requests.length;
      for (const input of INPUTS.slice(0, 2)) {
        const commands = [
          ["token", "--registry", input],
          ["login", input],
          ["logout", input],
          ["push", input],
          ["exec", input, "--", "true"],
          ["configure-docker", input],
          ["status", input, "--offline"],
        ];
        const results = await Promise.all(
          commands.map((args) => runCli(args, { env: box.env, cwd: box.dir })),
        );
        results.forEach((result, index) => {
          const what = commands[index][0];
          assert.equal(result.code, 2, `${what}: ${result.stderr}`);
          assert.ok(!/SECRET/.test(result.stderr + result.stdout), `${what}: ${result.stderr}`);
          assert.match(result.stderr, /credentials \(user:password@\) do not belong/, what);
        });
      }
      assert.equal(standIn.requests.length, before, "no token was asked for");
    },
  );
});

describe("smaller ones (14.11)", () => {
  it("a negative Retry-After is not a date: the backoff applies", async () => {
    standIn.fault({ status: 503, headers: { "Retry-After": "-5" } });
    const before = standIn.requests.length;
    await fetchToken(options({ retryDelayMs: 600 }));
    const [first, second] = standIn.requests.slice(before);
    assert.ok(second, "retried");
    const gap = second.at - first.at;
    assert.ok(gap >= 500, `retried after ${gap} ms, not after the 600 ms backoff`);
  });

  it(
    "an impossible HTTP date in Retry-After is not taken either",
    { timeout: 40_000 },
    async () => {
      standIn.fault({ status: 503, headers: { "Retry-After": "Sun, 31 Feb 2099 10:00:00 GMT" } });
      const started = Date.now();
      await fetchToken(options({ retryDelayMs: 10, timeoutSeconds: 20 }));
      assert.ok(Date.now() - started < 15_000, "waited for a date that does not exist");
    },
  );

  it("a username with ':' is refused before anything is sent (exit 2)", SLOW, async () => {
    const before = standIn.requests.length;
    const error = await rejection(
      fetchToken(options({ credentials: { username: "ali:ce", accessKey: KEY } })),
    );
    assert.ok(error instanceof UsageError, String(error));
    const resolved = await rejection(
      resolveCredentials({ username: "ali:ce", accessKey: KEY, envFile: false }),
    );
    assert.ok(resolved instanceof UsageError, String(resolved));
    assert.match(resolved.message, /--username contains ":"/);
    const box = await sandbox({ SAUCE_API_URL: standIn.url, SAUCE_USERNAME: "ali:ce" });
    const result = await runCli(["token"], { env: box.env, cwd: box.dir });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /SAUCE_USERNAME contains ":"/);
    scanner.checkResult("token with a colon in the username", result);
    assert.equal(standIn.requests.length, before);
  });

  it("a loopback API is never reached through HTTP_PROXY or HTTPS_PROXY (library)", async () => {
    const proxy = await recorder();
    const names = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
    for (const name of names) process.env[name] = proxy.url;
    const noProxy = process.env.NO_PROXY;
    try {
      const token = await fetchToken(options());
      assert.ok(token.password);
      await fetchToken(options({ apiUrl: standIn.url.replace("127.0.0.1", "localhost") }));
    } finally {
      for (const name of names) delete process.env[name];
    }
    assert.equal(proxy.requests.length, 0, JSON.stringify(proxy.requests.map((r) => r.url)));
    assert.equal(process.env.NO_PROXY, noProxy, "NO_PROXY is left as it was");
  });

  it("nor from the command line, whatever no_proxy says", SLOW, async () => {
    const proxy = await recorder();
    const box = await sandbox({
      SAUCE_API_URL: standIn.url,
      HTTP_PROXY: proxy.url,
      HTTPS_PROXY: proxy.url,
      http_proxy: proxy.url,
      no_proxy: "example.com",
    });
    const result = await runCli(["token"], { env: box.env, cwd: box.dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(proxy.requests.length, 0, JSON.stringify(proxy.requests.map((r) => r.url)));
  });

  it(
    "while an https API still goes through the proxy, which is named when it refuses",
    SLOW,
    async () => {
      const proxy = await recorder();
      const box = await sandbox({ HTTPS_PROXY: proxy.url, SAUCE_REGISTRY_RETRIES: "0" });
      const result = await runCli(["token", "--region", "eu-central-1"], {
        env: box.env,
        cwd: box.dir,
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /through the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTPS_PROXY\)/);
      assert.match(result.stderr, /the proxy refused to open a tunnel/);
      assert.deepEqual(proxy.requests.map((r) => `${r.method} ${r.url}`), [
        "CONNECT api.eu-central-1.saucelabs.com:443",
      ]);
    },
  );

  it("a name under .localhost is not loopback: no plain http:// for it", () => {
    for (const url of ["http://api.localhost:8080", "http://127.0.0.1.localhost"]) {
      try {
        apiBaseUrl(undefined, url);
        assert.fail(`${url} was accepted`);
      } catch (error) {
        assert.ok(error instanceof UsageError, String(error));
        assert.match(error.message, /loopback/);
      }
    }
    assert.equal(apiBaseUrl(undefined, "http://localhost:8080"), "http://localhost:8080");
    assert.equal(apiBaseUrl(undefined, "http://127.3.2.1:8080"), "http://127.3.2.1:8080");
  });
});
