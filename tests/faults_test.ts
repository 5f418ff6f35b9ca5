// Every way the Sauce API (or the network, or a proxy) can fail, through the real command line:
// the exit code SPEC §2 gives, and exactly one line on stderr, under 300 characters, that names
// the cause — with no secret and no HTML. Transient faults recover within the retry budget.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type Fault, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { freePort } from "./fixtures/services.ts";
import { ApiError, fetchToken } from "../mod.ts";
import { makeSandbox, runCli, type Sandbox, SecretScanner } from "./fixtures/harness.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];
const HTML_PAGE = `<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>` +
  `<h1>Bad Gateway</h1><p>${"upstream trouble ".repeat(400)}</p></body></html>`;

interface FaultCase {
  name: string;
  /** Made when the case runs (an HTTP date must be fresh). */
  faults: () => Fault[];
  code: number;
  /** What the one stderr line must say (on failure) . */
  says?: RegExp;
  /** Token requests the stand-in must have seen (retries included). */
  requests: number;
  extraArgs?: string[];
}

const RETRY_BUDGET = 4; // the first attempt and 3 retries

const CASES: FaultCase[] = [
  { name: "400", faults: () => [{ status: 400 }], code: 1, says: /answered 400/, requests: 1 },
  {
    name: "401",
    faults: () => [{ status: 401 }],
    code: 3,
    says: /refused the username or access key \(401\)/,
    requests: 1,
  },
  {
    name: "403",
    faults: () => [{ status: 403 }],
    code: 3,
    says: /403.*Sauce Labs support/,
    requests: 1,
  },
  { name: "404", faults: () => [{ status: 404 }], code: 1, says: /answered 404/, requests: 1 },
  {
    name: "422",
    faults: () => [{ status: 422, body: '{"detail":"couldn\'t generate a short living token"}' }],
    code: 1,
    says: /could not generate a short-lived token \(422\)/,
    requests: 1,
  },
  {
    name: "429 with Retry-After in seconds, then success",
    faults: () => [{ status: 429, headers: { "Retry-After": "1" } }],
    code: 0,
    requests: 2,
  },
  {
    name: "429 with Retry-After as an HTTP date, then success",
    faults: () => [{
      status: 429,
      headers: { "Retry-After": new Date(Date.now() + 3000).toUTCString() },
    }],
    code: 0,
    requests: 2,
  },
  {
    name: "429 without Retry-After, every time",
    faults: () => [{ status: 429, times: RETRY_BUDGET }],
    code: 1,
    says: /answered 429/,
    requests: RETRY_BUDGET,
  },
  {
    name: "500, every time",
    faults: () => [{ status: 500, times: RETRY_BUDGET }],
    code: 1,
    says: /could not generate a short-lived token \(500\)/,
    requests: RETRY_BUDGET,
  },
  { name: "501 (not retried)", faults: () => [{ status: 501 }], code: 1, says: /501/, requests: 1 },
  {
    name: "502 with an HTML page, every time",
    faults: () => [{ status: 502, body: HTML_PAGE, contentType: "text/html", times: RETRY_BUDGET }],
    code: 1,
    says: /502.*Bad Gateway/,
    requests: RETRY_BUDGET,
  },
  {
    name: "503 twice, then success",
    faults: () => [{ status: 503, times: 2 }],
    code: 0,
    requests: 3,
  },
  {
    name: "malformed JSON",
    faults: () => [{ status: 200, body: '{"username": "oauth2accesstoken", "password": ' }],
    code: 1,
    says: /invalid JSON/,
    requests: 1,
  },
  {
    name: "missing fields",
    faults: () => [{ status: 200, body: '{"username":"oauth2accesstoken"}' }],
    code: 1,
    says: /"password" is missing.*"expires_at" is missing/,
    requests: 1,
  },
  {
    name: "wrong types",
    faults: () => [{
      status: 200,
      body: '{"username":"oauth2accesstoken","password":12345,"expires_at":true}',
    }],
    code: 1,
    says: /"password" is not a string.*"expires_at" is not a string/,
    requests: 1,
  },
  {
    name: "expires_at unparseable",
    faults: () => [{
      status: 200,
      body: '{"username":"u","password":"p-123456","expires_at":"next tuesday"}',
    }],
    code: 1,
    says: /"expires_at" is not an RFC 3339 time/,
    requests: 1,
  },
  {
    name: "expires_at already past",
    faults: () => [{
      status: 200,
      body: '{"username":"u","password":"p-123456","expires_at":"2023-10-23T12:03:55Z"}',
    }],
    code: 1,
    says: /expired already/,
    requests: 1,
  },
  {
    name: "a huge body",
    faults: () => [{ status: 200, body: `{"padding":"${"x".repeat(3_000_000)}"` }],
    code: 1,
    says: /invalid JSON/,
    requests: 1,
  },
  {
    name: "a huge error page",
    faults: () => [{
      status: 400,
      body: "<html><body>" + "<p>no</p>".repeat(300_000),
      contentType: "text/html",
    }],
    code: 1,
    says: /answered 400: an HTML page/,
    requests: 1,
  },
  {
    name: "a reset connection, then success",
    faults: () => [{ reset: true }],
    code: 0,
    requests: 2,
  },
  {
    name: "a reset connection, every time",
    faults: () => [{ reset: true, times: RETRY_BUDGET }],
    code: 1,
    says: /Cannot reach Sauce Labs at .*: connection reset/,
    requests: RETRY_BUDGET,
  },
  {
    name: "a slow answer past --timeout",
    faults: () => [{ delayMs: 12_000 }],
    code: 124,
    says: /Timed out after 1 s/,
    requests: 1,
    extraArgs: ["--timeout", "1"],
  },
];

describe("API faults through the command line", () => {
  let standIn: StandIn;
  let sandbox: Sandbox;
  const scanner = new SecretScanner();

  before(async () => {
    standIn = await startStandIn();
    sandbox = await makeSandbox({
      SAUCE_USERNAME: USER,
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
    });
    scanner.add(KEY);
  });

  after(async () => {
    await standIn?.close();
    await sandbox?.cleanup();
  });

  function checkOneLine(result: { stderr: string }, says: RegExp) {
    const lines = result.stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, `expected one line on stderr, got:\n${result.stderr}`);
    assert.ok(lines[0].length < 300, `stderr line is ${lines[0].length} characters`);
    assert.ok(!lines[0].includes("<"), `stderr holds HTML: ${lines[0]}`);
    assert.match(lines[0], says);
  }

  for (const fault of CASES) {
    it(`${fault.name}: exit ${fault.code}`, { timeout: 30_000 }, async () => {
      standIn.clearFaults();
      const faults = fault.faults();
      standIn.fault(...faults);
      const before = standIn.tokenRequestCount();
      const started = Date.now();
      const result = await runCli(
        ["token", "--registry", "registry.example.com/team", ...(fault.extraArgs ?? [])],
        { env: sandbox.env },
      );
      standIn.clearFaults();
      assert.equal(result.code, fault.code, `stderr: ${result.stderr}`);
      assert.equal(standIn.tokenRequestCount() - before, fault.requests, "token requests");
      scanner.check(`${fault.name} stderr`, result.stderr);
      for (const token of standIn.issued) scanner.add(token.password);
      scanner.check(`${fault.name} stderr`, result.stderr);
      if (fault.code === 0) {
        assert.equal(JSON.parse(result.stdout).password, standIn.issued.at(-1)!.password);
        const retryAfter = faults[0].headers?.["Retry-After"];
        if (retryAfter) assert.ok(Date.now() - started >= 900, "Retry-After was honoured");
      } else {
        assert.equal(result.stdout, "");
        checkOneLine(result, fault.says!);
      }
      if (fault.code === 124) assert.ok(Date.now() - started < 8000, "--timeout bounds the run");
    });
  }

  it("connection refused: exit 1 after the retry budget", async () => {
    const port = await freePort();
    const result = await runCli(["token"], {
      env: { ...sandbox.env, SAUCE_API_URL: `http://127.0.0.1:${port}` },
    });
    assert.equal(result.code, 1);
    checkOneLine(
      result,
      /Cannot reach Sauce Labs at http:\/\/127\.0\.0\.1:\d+: connection refused/,
    );
    scanner.check("connection refused stderr", result.stderr);
  });

  it("--timeout bounds retries and their waits too", async () => {
    standIn.fault({ status: 503, headers: { "Retry-After": "20" }, times: RETRY_BUDGET });
    const started = Date.now();
    const result = await runCli(["token", "--timeout", "1.5"], { env: sandbox.env });
    standIn.clearFaults();
    assert.equal(result.code, 124);
    assert.ok(Date.now() - started < 10_000, "not the 20 s Retry-After");
    checkOneLine(result, /Timed out after 1\.5 s/);
  });

  describe("through a proxy from the environment", () => {
    let proxy: http.Server;
    let proxyUrl: string;
    let connectStatus = 403;
    const proxied: string[] = [];

    before(async () => {
      // A proxy that refuses every request, as corporate proxies do: an HTML page for plain
      // http://, and a refused tunnel for https:// (which is asked for with CONNECT).
      proxy = http.createServer((request, response) => {
        proxied.push(`${request.method} ${request.url}`);
        response.writeHead(403, { "content-type": "text/html" });
        response.end("<html><head><title>Access denied by policy</title></head></html>");
      });
      proxy.on("connect", (request, socket) => {
        proxied.push(`CONNECT ${request.url}`);
        socket.end(`HTTP/1.1 ${connectStatus} Denied\r\nContent-Length: 0\r\n\r\n`);
      });
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    });

    after(async () => {
      proxy?.closeAllConnections?.();
      await new Promise((resolve) => proxy?.close(resolve));
    });

    /** The real Sauce Labs API, which the proxy stands between: nothing leaves this machine. */
    function throughProxy(extra: Record<string, string>) {
      const { SAUCE_API_URL: _, ...env } = sandbox.env;
      return runCli(["token", "--region", "eu-central-1"], {
        env: { ...env, SAUCE_REGISTRY_RETRIES: "0", ...extra },
      });
    }

    it("a proxy that refuses: exit 1, naming the proxy, not blaming enrolment", async () => {
      proxied.length = 0;
      connectStatus = 403;
      const result = await throughProxy({ HTTPS_PROXY: proxyUrl });
      assert.equal(result.code, 1, result.stderr);
      checkOneLine(
        result,
        /through the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTPS_PROXY\): the proxy refused to open a tunnel/,
      );
      assert.ok(!/support/.test(result.stderr));
      assert.deepEqual(proxied, ["CONNECT api.eu-central-1.saucelabs.com:443"]);
    });

    it("a proxy that wants authentication: exit 1, saying so", async () => {
      connectStatus = 407;
      const result = await throughProxy({ HTTPS_PROXY: proxyUrl });
      assert.equal(result.code, 1, result.stderr);
      checkOneLine(result, /\(HTTPS_PROXY\): the proxy wants authentication \(407\)/);
    });

    it("a proxy that is down: exit 1, naming the proxy", async () => {
      const port = await freePort();
      const result = await throughProxy({ HTTPS_PROXY: `http://127.0.0.1:${port}` });
      assert.equal(result.code, 1);
      checkOneLine(
        result,
        /through the proxy http:\/\/127\.0\.0\.1:\d+ \(HTTPS_PROXY\): connection refused/,
      );
    });

    it("a loopback API is reached directly, never through the proxy", async () => {
      proxied.length = 0;
      const before = standIn.tokenRequestCount();
      const result = await runCli(["token"], {
        env: { ...sandbox.env, HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl },
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(standIn.tokenRequestCount(), before + 1);
      assert.deepEqual(proxied, []);
    });
  });
});

describe("random JSON shapes as API answers", () => {
  let standIn: StandIn;

  before(async () => {
    standIn = await startStandIn();
  });

  after(async () => {
    await standIn?.close();
  });

  /** A small seeded generator, so that a failure can be replayed. */
  function generator(seed: number) {
    let state = seed >>> 0;
    const next = () => {
      state = (state * 1664525 + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
    const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)];
    const value = (depth: number): unknown => {
      const kind = pick(["string", "number", "bool", "null", "array", "object", "date"]);
      if (depth > 2 && (kind === "array" || kind === "object")) return "leaf";
      switch (kind) {
        case "string":
          return pick(["", "x", "oauth2accesstoken", "ya29.secret-ish", "\u0000\u202e"]);
        case "number":
          return pick([0, -1, 1e308, 3.5]);
        case "bool":
          return next() < 0.5;
        case "null":
          return null;
        case "date":
          return pick(["2099-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2099-13-45T99:99:99Z"]);
        case "array":
          return Array.from({ length: Math.floor(next() * 3) }, () => value(depth + 1));
        default: {
          const object: Record<string, unknown> = {};
          for (const key of ["username", "password", "expires_at", "extra"]) {
            if (next() < 0.6) object[key] = value(depth + 1);
          }
          return object;
        }
      }
    };
    // Half the answers start from a real token with one field spoiled (or none), so that the
    // checks of each field are reached, not only "not an object".
    return () => {
      if (next() < 0.5) return value(0);
      const token: Record<string, unknown> = {
        username: "oauth2accesstoken",
        password: "ya29.generated",
        expires_at: "2099-01-01T00:00:00Z",
      };
      const field = pick(["username", "password", "expires_at", "none"]);
      if (field !== "none") token[field] = value(1);
      return token;
    };
  }

  it("either give a valid token or an ApiError that names the problem, 300 shapes", async () => {
    const next = generator(20261127);
    let accepted = 0;
    for (let i = 0; i < 300; i++) {
      const shape = next();
      standIn.fault({ status: 200, body: JSON.stringify(shape) });
      try {
        const token = await fetchToken({
          credentials: { username: USER, accessKey: KEY },
          apiUrl: standIn.url,
          retries: 0,
        });
        // Accepted only when the shape really is a token.
        const answer = shape as Record<string, unknown>;
        assert.equal(token.username, answer.username);
        assert.equal(token.password, answer.password);
        assert.ok(typeof answer.username === "string" && answer.username !== "");
        assert.ok(token.expiresAt.getTime() > Date.now());
        accepted++;
      } catch (error) {
        assert.ok(error instanceof ApiError, `shape ${i} gave ${error}`);
        assert.equal(error.exitCode, 1);
        assert.match(error.message, /^Cannot fetch registry token: /);
        assert.ok(!error.message.includes("\n") && error.message.length < 300, error.message);
        assert.ok(!error.message.includes(KEY));
      }
    }
    // The generator makes some valid tokens too, so both paths were exercised.
    assert.ok(accepted > 0 && accepted < 300, `accepted ${accepted} of 300`);
  });
});
