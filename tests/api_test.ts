// The token API client (fetchToken) and the token cache (getToken) against the local stand-in
// for the Sauce Labs API: the request's exact shape, every documented failure, retries, answers
// of the wrong shape, timeouts, and the cache's files and refresh.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { Buffer } from "node:buffer";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, afterEach, assert, before, describe, it } from "./deps.ts";
import { rejection, sleep } from "./fixtures/common.ts";
import { ROOT, SecretScanner } from "./fixtures/harness.ts";
import { freePort } from "./fixtures/services.ts";
import { type StandIn, startStandIn, TOKEN_PATH, TOKEN_USERNAME } from "./fixtures/stand_in.ts";
import {
  ApiError,
  AuthenticationError,
  clearCachedTokens,
  DEFAULT_TIMEOUT_SECONDS,
  fetchToken,
  type FetchTokenOptions,
  getToken,
  MAX_TIMEOUT_SECONDS,
  SauceRegistryError,
  TimeoutError,
  UsageError,
  VERSION,
} from "../mod.ts";
import { CI_SETTING_NAMES } from "../src/helper.ts";

const ALICE_KEY = "alice-access-key-0123456789";
const BOB_KEY = "bob-access-key-9876543210";
const CAROL_KEY = "carol-access-key-5555555555";
const WRONG_KEY = "wrong-access-key-4242424242";
const REGISTRY = "registry.example.com/your-private-registry";

function futureRfc3339(seconds: number): string {
  return new Date(Math.floor(Date.now() / 1000 + seconds) * 1000).toISOString().replace(
    ".000Z",
    "Z",
  );
}

describe("fetchToken against the stand-in", () => {
  let standIn: StandIn;
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY, BOB_KEY, WRONG_KEY);

  /** Options for alice with fast retries; `extra` overrides. */
  function options(extra: Partial<FetchTokenOptions> = {}): FetchTokenOptions {
    return {
      credentials: { username: "alice", accessKey: ALICE_KEY },
      apiUrl: standIn.url,
      retryDelayMs: 10,
      ...extra,
    };
  }

  /** The rejection of a token request, checked for secrets. */
  async function failure(extra: Partial<FetchTokenOptions> = {}): Promise<Error> {
    const error = await rejection(fetchToken(options(extra)));
    scanner.check("error message", error.message, String(error.stack ?? ""));
    return error;
  }

  before(async () => {
    standIn = await startStandIn({
      users: { alice: ALICE_KEY, bob: BOB_KEY },
      enrolled: ["alice"],
    });
  });
  afterEach(() => {
    standIn.clearFaults();
    standIn.requests.length = 0;
  });
  after(() => standIn.close());

  it("posts to the token path with Basic auth, JSON content type and its User-Agent", async () => {
    await fetchToken(options());
    assert.equal(standIn.requests.length, 1);
    const [request] = standIn.requests;
    assert.equal(request.method, "POST");
    assert.equal(request.path, TOKEN_PATH);
    assert.equal(
      request.headers.authorization,
      `Basic ${Buffer.from(`alice:${ALICE_KEY}`).toString("base64")}`,
    );
    assert.equal(request.headers["content-type"], "application/json");
    assert.equal(request.headers["user-agent"], `sauce-registry/${VERSION}`);
  });

  it("reports the same version as deno.json", async () => {
    const config = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")) as {
      version: string;
    };
    assert.equal(VERSION, config.version);
  });

  it("sends {registry_url} when a registry is given and no body otherwise", async () => {
    await fetchToken(options({ registryUrl: REGISTRY }));
    await fetchToken(options());
    assert.deepEqual(JSON.parse(standIn.requests[0].body), { registry_url: REGISTRY });
    assert.equal(standIn.requests[1].body, "");
    assert.equal(standIn.issued.at(-2)?.registryUrl, REGISTRY);
  });

  it("returns the issued username, password and expiry as a Date", async () => {
    const token = await fetchToken(options({ registryUrl: REGISTRY }));
    const issued = standIn.issued.at(-1)!;
    assert.equal(token.username, TOKEN_USERNAME);
    assert.equal(token.password, issued.password);
    assert.ok(token.expiresAt instanceof Date);
    assert.equal(token.expiresAt.getTime(), issued.expiresAt.getTime());
    assert.equal(token.registryUrl, REGISTRY);
  });

  it("turns 401 into an AuthenticationError (exit 3) that never shows the key", async () => {
    const error = await failure({ credentials: { username: "alice", accessKey: WRONG_KEY } });
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.equal(error.exitCode, 3);
    assert.equal(error.status, 401);
    assert.match(error.message, /username or access key/);
    assert.ok(!error.message.includes(WRONG_KEY));
    assert.equal(standIn.requests.length, 1, "a refusal is not retried");
  });

  it("turns 403 into an AuthenticationError that sends the user to Sauce Labs support", async () => {
    const error = await failure({ credentials: { username: "bob", accessKey: BOB_KEY } });
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.equal(error.exitCode, 3);
    assert.equal(error.status, 403);
    assert.match(error.message, /Sauce Labs support/);
    assert.equal(standIn.requests.length, 1, "a refusal is not retried");
  });

  it("turns 422 and 500 into an ApiError saying Sauce could not generate a token", async () => {
    standIn.fault({
      status: 422,
      body: '{"code":422,"message":"couldn\'t generate a short living token"}',
    });
    const unprocessable = await failure();
    assert.ok(unprocessable instanceof ApiError && !(unprocessable instanceof AuthenticationError));
    assert.equal(unprocessable.status, 422);
    assert.equal(unprocessable.exitCode, 1);
    assert.match(unprocessable.message, /could not generate/);
    assert.equal(standIn.requests.length, 1, "422 is not retried");

    standIn.fault({ status: 500, times: 3 });
    const serverError = await failure({ retries: 2 });
    assert.ok(serverError instanceof ApiError);
    assert.equal(serverError.status, 500);
    assert.match(serverError.message, /could not generate/);
    assert.equal(standIn.requests.length, 1 + 3, "500 is retried");
  });

  it("retries 503 twice and then succeeds, with three requests in all", async () => {
    standIn.fault({ status: 503, times: 2 });
    const token = await fetchToken(options());
    assert.equal(token.password, standIn.issued.at(-1)?.password);
    assert.equal(standIn.requests.length, 3);
  });

  it("waits as long as Retry-After says, in seconds, after a 429", async () => {
    standIn.fault({ status: 429, headers: { "Retry-After": "1" } });
    await fetchToken(options());
    assert.equal(standIn.requests.length, 2);
    const waited = standIn.requests[1].at - standIn.requests[0].at;
    assert.ok(waited >= 950, `waited ${waited} ms, not the 1 s Retry-After asked for`);
    assert.ok(waited < 5000, `waited ${waited} ms`);
  });

  it("waits until a Retry-After HTTP-date", async () => {
    const until = new Date(Date.now() + 2000).toUTCString(); // whole seconds: 1 to 2 s from now
    standIn.fault({ status: 503, headers: { "Retry-After": until } });
    await fetchToken(options());
    // Judged against the date itself, not against the first request, whose own delay on a loaded
    // machine would eat into the 1 to 2 s (a timer may fire a few ms early: 20 ms of room).
    const early = Date.parse(until) - standIn.requests[1].at;
    assert.ok(early <= 20, `retried ${early} ms before ${until}`);
    const waited = standIn.requests[1].at - standIn.requests[0].at;
    assert.ok(waited < 5000, `waited ${waited} ms`);
  });

  it("does not retry 501 or 400", async () => {
    for (const status of [501, 400]) {
      standIn.requests.length = 0;
      standIn.fault({ status, times: 4 });
      const error = await failure();
      assert.ok(error instanceof ApiError, String(error));
      assert.equal(error.status, status);
      assert.match(error.message, new RegExp(String(status)));
      assert.equal(standIn.requests.length, 1, `${status} is not retried`);
      standIn.clearFaults();
    }
  });

  it("retries a reset connection", async () => {
    standIn.fault({ reset: true });
    const token = await fetchToken(options());
    assert.equal(token.username, TOKEN_USERNAME);
    assert.equal(standIn.requests.length, 2);
  });

  it("gives up after the retries with an ApiError naming the last status", async () => {
    standIn.fault({ status: 503, times: 10 });
    const error = await failure({ retries: 2 });
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, 503);
    assert.match(error.message, /503/);
    assert.equal(standIn.requests.length, 3);
  });

  it("backs off exponentially from retryDelayMs", async () => {
    standIn.fault({ status: 502, times: 3 });
    await fetchToken(options({ retryDelayMs: 100 }));
    const at = standIn.requests.map((request) => request.at);
    assert.equal(at.length, 4);
    const gaps = [at[1] - at[0], at[2] - at[1], at[3] - at[2]];
    assert.ok(gaps[0] >= 90, `first gap ${gaps[0]}`);
    assert.ok(gaps[1] >= 190, `second gap ${gaps[1]}`);
    assert.ok(gaps[2] >= 390, `third gap ${gaps[2]}`);
  });

  it("rejects an answer that is not JSON, without retrying", async () => {
    standIn.fault({ body: "{not json" });
    const error = await failure();
    assert.ok(error instanceof ApiError, String(error));
    assert.match(error.message, /invalid JSON/);
    assert.equal(standIn.requests.length, 1);
  });

  it("names the missing field, and never shows the password it did get", async () => {
    standIn.fault({
      body: JSON.stringify({ username: TOKEN_USERNAME, password: "leaked-password-abcdef" }),
    });
    const error = await failure();
    assert.ok(error instanceof ApiError, String(error));
    assert.match(error.message, /"expires_at" is missing/);
    assert.ok(!error.message.includes("leaked-password-abcdef"), error.message);

    standIn.fault({
      body: JSON.stringify({ username: TOKEN_USERNAME, expires_at: futureRfc3339(300) }),
    });
    assert.match((await failure()).message, /"password" is missing/);
  });

  it("rejects fields of the wrong type, an empty password and a non-object answer", async () => {
    standIn.fault({
      body: JSON.stringify({
        username: TOKEN_USERNAME,
        password: 42,
        expires_at: futureRfc3339(300),
      }),
    });
    assert.match((await failure()).message, /"password" is not a string/);

    standIn.fault({
      body: JSON.stringify({
        username: TOKEN_USERNAME,
        password: "",
        expires_at: futureRfc3339(300),
      }),
    });
    assert.match((await failure()).message, /"password" is empty/);

    standIn.fault({ body: JSON.stringify(["not", "an", "object"]) });
    assert.match((await failure()).message, /not an object/);
  });

  it("rejects an expires_at that is not an RFC 3339 time", async () => {
    for (const expires of ["tomorrow", "2030-13-45T99:99:99Z", "1700000000"]) {
      standIn.fault({
        body: JSON.stringify({
          username: TOKEN_USERNAME,
          password: "p-123456",
          expires_at: expires,
        }),
      });
      const error = await failure();
      assert.ok(error instanceof ApiError, String(error));
      assert.match(error.message, /expires_at/, expires);
    }
  });

  it("rejects a token that has already expired", async () => {
    standIn.fault({
      body: JSON.stringify({
        username: TOKEN_USERNAME,
        password: "expired-password-123",
        expires_at: "2020-01-01T00:00:00Z",
      }),
    });
    const error = await failure();
    assert.ok(error instanceof ApiError, String(error));
    assert.match(error.message, /expires_at/);
    assert.match(error.message, /expired/);
    assert.ok(!error.message.includes("expired-password-123"));
  });

  it("shows a short excerpt of an HTML error page, without markup", async () => {
    const page = `<!DOCTYPE html><html><head><title>502 Bad Gateway</title>
      <style>body { font: 12px sans-serif }</style></head><body><h1>Bad Gateway</h1>
      ${"<p>The proxy could not reach the upstream server.</p>".repeat(200)}</body></html>`;
    standIn.fault({ status: 502, body: page, contentType: "text/html", times: 4 });
    const error = await failure({ retries: 0 });
    assert.ok(error instanceof ApiError, String(error));
    assert.equal(error.status, 502);
    assert.ok(!error.message.includes("<"), error.message);
    assert.ok(error.message.length < 300, `${error.message.length} characters`);
    assert.match(error.message, /Bad Gateway/);
  });

  it("shows a JSON error's message and shortens a long plain-text one", async () => {
    standIn.fault({ status: 418, body: JSON.stringify({ detail: "teapot says no" }) });
    assert.match((await failure()).message, /teapot says no/);

    standIn.fault({
      status: 418,
      body: `plain words ${"x".repeat(5000)}`,
      contentType: "text/plain",
    });
    const error = await failure();
    assert.match(error.message, /plain words/);
    assert.ok(error.message.length < 300, `${error.message.length} characters`);
  });

  it("never repeats the access key when the server echoes it", async () => {
    standIn.fault({ status: 400, body: JSON.stringify({ message: `bad key ${ALICE_KEY}` }) });
    const error = await failure();
    assert.ok(!error.message.includes(ALICE_KEY), error.message);
  });

  it("copes with a huge answer (over 2 MB), successful or not", async () => {
    const huge = JSON.stringify({
      username: TOKEN_USERNAME,
      padding: "x".repeat(3 * 1024 * 1024),
      password: "huge-password-1",
      expires_at: futureRfc3339(300),
    });
    standIn.fault({ body: huge });
    const tooBig = await failure();
    assert.ok(tooBig instanceof ApiError, String(tooBig));
    assert.ok(tooBig.message.length < 300);

    standIn.fault({ status: 400, body: "y".repeat(3 * 1024 * 1024), contentType: "text/plain" });
    const hugeError = await failure();
    assert.equal((hugeError as ApiError).status, 400);
    assert.ok(hugeError.message.length < 300, `${hugeError.message.length} characters`);
  });

  it("turns AbortSignal.timeout into a TimeoutError (exit 124) on a slow answer", async () => {
    standIn.fault({ delayMs: 12_000 });
    const started = Date.now();
    const error = await failure({ signal: AbortSignal.timeout(300) });
    const elapsed = Date.now() - started;
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.exitCode, 124);
    assert.ok(elapsed < 6000, `took ${elapsed} ms, not about 300 ms (the answer takes 12 s)`);
  });

  it("stops waiting between retries when the signal fires", async () => {
    standIn.fault({ status: 503, headers: { "Retry-After": "30" } });
    const started = Date.now();
    const error = await failure({ signal: AbortSignal.timeout(300) });
    assert.ok(error instanceof TimeoutError, String(error));
    assert.ok(Date.now() - started < 6000, "did not sit out the 30 s Retry-After");
  });

  it("tells a cancellation from a timeout", async () => {
    const controller = new AbortController();
    standIn.fault({ delayMs: 2000 });
    setTimeout(() => controller.abort(), 100);
    const error = await failure({ signal: controller.signal });
    assert.ok(error instanceof SauceRegistryError, String(error));
    assert.ok(!(error instanceof TimeoutError), "a plain abort is not a timeout");
  });

  it("retries a refused connection and then fails with an ApiError", async () => {
    const port = await freePort();
    const lines: string[] = [];
    const error = await failure({
      apiUrl: `http://127.0.0.1:${port}`,
      retries: 2,
      log: (line) => lines.push(line),
    });
    assert.ok(error instanceof ApiError && !(error instanceof AuthenticationError), String(error));
    assert.equal(error.status, undefined);
    assert.match(error.message, /Cannot reach Sauce Labs/);
    assert.equal(lines.filter((line) => line.startsWith("POST ")).length, 3, lines.join("\n"));
  });

  it("logs each request with the credentials redacted", async () => {
    const lines: string[] = [];
    const token = await fetchToken(
      options({ registryUrl: REGISTRY, log: (line) => lines.push(line) }),
    );
    const text = lines.join("\n");
    assert.match(text, /POST /);
    assert.match(text, /\[redacted\]/);
    assert.ok(!text.includes(ALICE_KEY));
    assert.ok(!text.includes(Buffer.from(`alice:${ALICE_KEY}`).toString("base64")));
    assert.ok(!text.includes(token.password));
  });
});

describe("getToken and its cache", () => {
  let standIn: StandIn;
  let dir: string;
  let cacheDir: string;
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY, CAROL_KEY);

  function options(extra: Partial<Parameters<typeof getToken>[0]> = {}) {
    return {
      credentials: { username: "alice", accessKey: ALICE_KEY },
      apiUrl: standIn.url,
      registryUrl: REGISTRY,
      retryDelayMs: 10,
      cacheDir,
      ...extra,
    };
  }

  async function cacheFiles(): Promise<string[]> {
    return (await readdir(cacheDir).catch(() => [] as string[])).sort();
  }

  before(async () => {
    standIn = await startStandIn({ users: { alice: ALICE_KEY, carol: CAROL_KEY } });
    dir = await mkdtemp(join(tmpdir(), "sr-api-"));
  });
  afterEach(async () => {
    standIn.clearFaults();
    standIn.requests.length = 0;
    standIn.tokenLifetimeSeconds = 300;
    // Every file the cache wrote may hold a password, so each must be private; none may hold a key.
    await scanner.checkTree(dir, (path) => /[0-9a-f]{64}\.json$/.test(path));
  });
  after(async () => {
    await standIn.close();
    await rm(dir, { recursive: true, force: true });
  });

  let testNumber = 0;
  function freshCacheDir(): void {
    cacheDir = join(dir, `case-${++testNumber}`, "sauce-registry");
  }

  it("asks once and then answers from the cache", async () => {
    freshCacheDir();
    const first = await getToken(options());
    const second = await getToken(options());
    assert.equal(standIn.requests.length, 1);
    assert.equal(second.password, first.password);
    assert.equal(second.username, first.username);
    assert.equal(second.expiresAt.getTime(), first.expiresAt.getTime());
    assert.equal(second.registryUrl, REGISTRY);
  });

  it("keeps the cache in a 0700 folder, one 0600 file named by a SHA-256 hash", async () => {
    freshCacheDir();
    await getToken(options());
    const folder = await stat(cacheDir);
    assert.equal(folder.mode & 0o777, 0o700);
    const files = await cacheFiles();
    assert.equal(files.length, 1, `only the token file is left: ${files}`);
    assert.match(files[0], /^[0-9a-f]{64}\.json$/);
    assert.ok(!files[0].includes("alice"));
    assert.equal((await stat(join(cacheDir, files[0]))).mode & 0o777, 0o600);
  });

  it("narrows a cache folder that already exists with wider permissions", async () => {
    freshCacheDir();
    await mkdir(cacheDir, { recursive: true, mode: 0o755 });
    await getToken(options());
    assert.equal((await stat(cacheDir)).mode & 0o777, 0o700);
  });

  it("keeps separate entries per registry and per user", async () => {
    freshCacheDir();
    await getToken(options());
    await getToken(options({ registryUrl: "registry.example.com/other" }));
    await getToken(options({ credentials: { username: "carol", accessKey: CAROL_KEY } }));
    await getToken(options());
    assert.equal(standIn.requests.length, 3);
    const files = await cacheFiles();
    assert.equal(files.length, 3);
    for (const file of files) assert.ok(!file.includes("carol") && !file.includes("alice"));
  });

  it("always asks and stores nothing with noCache", async () => {
    freshCacheDir();
    const first = await getToken(options({ noCache: true }));
    const second = await getToken(options({ noCache: true }));
    assert.equal(standIn.requests.length, 2);
    assert.notEqual(first.password, second.password);
    assert.deepEqual(await cacheFiles(), []);
  });

  /**
   * Move the one cache entry in time: fetched `ageSeconds` ago, expiring in `leftSeconds`. The
   * password stays the one Sauce issued; only what the cache knows of its lifetime changes, so
   * refresh rules are checked at any point of a token's life without sleeping through it.
   */
  async function ageCachedToken(ageSeconds: number, leftSeconds: number): Promise<void> {
    const [file] = (await cacheFiles()).filter((name) => name.endsWith(".json"));
    const path = join(cacheDir, file);
    const entry = JSON.parse(await readFile(path, "utf8")) as Record<string, string>;
    entry.issued_at = new Date(Date.now() - ageSeconds * 1000).toISOString();
    entry.expires_at = new Date(Date.now() + leftSeconds * 1000).toISOString();
    await writeFile(path, JSON.stringify(entry), { mode: 0o600 });
  }

  it("refetches a token once it is within its refresh margin (a fifth of a 20 s token's life, but at most half)", async () => {
    freshCacheDir();
    standIn.tokenLifetimeSeconds = 20;
    const first = await getToken(options());
    // 20 s: the margin is min(max(60 s, 4 s), 10 s) = 10 s. 15 s left: fresh.
    await ageCachedToken(5, 15);
    assert.equal((await getToken(options())).password, first.password, "fresh with 15 s left");
    assert.equal(standIn.requests.length, 1);
    // 5 s left, well inside the margin, and not expired: due for renewal.
    await ageCachedToken(15, 5);
    const renewed = await getToken(options());
    assert.equal(standIn.requests.length, 2);
    assert.notEqual(renewed.password, first.password);
  });

  it("keeps a 60 s refresh margin for a 200 s token, longer than a fifth of its life", async () => {
    freshCacheDir();
    standIn.tokenLifetimeSeconds = 200;
    const first = await getToken(options());
    // 200 s: a fifth is 40 s, the floor 60 s. 75 s left: fresh.
    await ageCachedToken(125, 75);
    assert.equal((await getToken(options())).password, first.password, "fresh with 75 s left");
    assert.equal(standIn.requests.length, 1);
    // 50 s left: past the 60 s floor, though not past a fifth (40 s): renewed.
    await ageCachedToken(150, 50);
    const renewed = await getToken(options());
    assert.equal(standIn.requests.length, 2, "50 s before expiry a 200 s token is renewed");
    assert.notEqual(renewed.password, first.password);
  });

  it("gives a rotated key no token cached for the old one, and a wrong key none at all", async () => {
    freshCacheDir();
    const ROTATED_KEY = "alice-rotated-key-1111111111";
    scanner.add(ROTATED_KEY);
    const first = await getToken(options());
    assert.equal((await getToken(options())).password, first.password, "cached");
    standIn.setAccessKey("alice", ROTATED_KEY);
    try {
      // A wrong (or revoked) key is Sauce's to judge: the cache must not answer for it.
      const wrong = await rejection(
        getToken(options({ credentials: { username: "alice", accessKey: WRONG_KEY } })),
      );
      assert.ok(wrong instanceof AuthenticationError, String(wrong));
      assert.equal(standIn.requests.length, 2, "the wrong key went to Sauce");
      // The new key gets a token of its own, fetched with it.
      const rotated = await getToken(
        options({ credentials: { username: "alice", accessKey: ROTATED_KEY } }),
      );
      assert.notEqual(rotated.password, first.password);
      assert.equal(standIn.requests.length, 3, "the rotated key went to Sauce");
      assert.equal(
        standIn.requests.at(-1)!.headers.authorization,
        `Basic ${btoa(`alice:${ROTATED_KEY}`)}`,
      );
      for (const name of await cacheFiles()) {
        assert.ok(!name.includes(ROTATED_KEY) && !name.includes(ALICE_KEY), name);
      }
    } finally {
      standIn.setAccessKey("alice", ALICE_KEY);
    }
  });

  it("makes one request for two concurrent calls in one process, past the lock's age limit", {
    timeout: 60_000,
  }, async () => {
    freshCacheDir();
    // Longer than the 10 s after which a lock of this process used to be judged abandoned.
    standIn.fault({ delayMs: 11_000 });
    const [first, second] = await Promise.all([getToken(options()), getToken(options())]);
    assert.equal(standIn.requests.length, 1, "one request");
    assert.equal(first.password, second.password, "one token for both");
  });

  it("shares one request between concurrent calls when the cache folder cannot be used", async () => {
    freshCacheDir();
    await mkdir(join(cacheDir, ".."), { recursive: true });
    await symlink(join(dir), cacheDir); // a symlinked cache folder is not used
    const warnings: string[] = [];
    standIn.fault({ delayMs: 300 });
    const tokens = await Promise.all(
      Array.from({ length: 4 }, () => getToken(options({ warn: (line) => warnings.push(line) }))),
    );
    assert.equal(standIn.requests.length, 1, "one request for the four calls");
    assert.equal(new Set(tokens.map((token) => token.password)).size, 1);
    assert.match(warnings[0], /Not using the token cache .*: it is a symlink/);
    assert.deepEqual(
      (await readdir(dir)).filter((name) => /^[0-9a-f]{64}\.json/.test(name)),
      [],
      "nothing was written through the symlink",
    );
  });

  it("lets a caller whose signal aborts leave, while the request it joined goes on", async () => {
    freshCacheDir();
    standIn.fault({ delayMs: 1_500 });
    const leader = getToken(options());
    const controller = new AbortController();
    const follower = getToken(options({ signal: controller.signal }));
    setTimeout(() => controller.abort(new TimeoutError("Timed out")), 200);
    const error = await rejection(follower);
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal((await leader).password, standIn.issued.at(-1)!.password);
    assert.equal(standIn.requests.length, 1);
  });

  it("never hands out a cached token that has expired", async () => {
    freshCacheDir();
    const first = await getToken(options());
    const [file] = await cacheFiles();
    const path = join(cacheDir, file);
    const entry = JSON.parse(await readFile(path, "utf8")) as Record<string, string>;
    entry.expires_at = "2020-01-01T00:00:00.000Z";
    entry.issued_at = "2019-12-31T23:55:00.000Z";
    await writeFile(path, JSON.stringify(entry), { mode: 0o600 });
    const second = await getToken(options());
    assert.equal(standIn.requests.length, 2);
    assert.notEqual(second.password, first.password);
    assert.ok(second.expiresAt.getTime() > Date.now());
  });

  it("refetches over a damaged cache file instead of failing", async () => {
    freshCacheDir();
    await getToken(options());
    const [file] = await cacheFiles();
    await writeFile(join(cacheDir, file), "{half a", { mode: 0o600 });
    const token = await getToken(options());
    assert.equal(standIn.requests.length, 2);
    assert.equal(token.password, standIn.issued.at(-1)?.password);
  });

  it("makes one request for eight concurrent calls on an empty cache", async () => {
    freshCacheDir();
    const tokens = await Promise.all(Array.from({ length: 8 }, () => getToken(options())));
    assert.equal(standIn.requests.length, 1);
    assert.equal(new Set(tokens.map((token) => token.password)).size, 1);
  });

  it("caches nothing when the request fails", async () => {
    freshCacheDir();
    standIn.fault({ status: 401 });
    await rejection(getToken(options()));
    assert.deepEqual((await cacheFiles()).filter((name) => name.endsWith(".json")), []);
    await getToken(options());
    assert.equal(standIn.requests.length, 2);
  });

  it("clearCachedTokens drops one host's tokens, or all of them", async () => {
    freshCacheDir();
    await getToken(options({ registryUrl: "registry-a.example.com/team" }));
    await getToken(options({ registryUrl: "registry-b.example.com/team" }));
    await getToken(options({ registryUrl: "registry-b.example.com/other" }));
    assert.equal(standIn.requests.length, 3);

    assert.equal(await clearCachedTokens("registry-a.example.com", { cacheDir }), 1);
    await getToken(options({ registryUrl: "registry-a.example.com/team" }));
    await getToken(options({ registryUrl: "registry-b.example.com/team" }));
    assert.equal(standIn.requests.length, 4, "only registry-a was asked again");

    assert.equal(await clearCachedTokens(undefined, { cacheDir }), 3);
    assert.deepEqual((await cacheFiles()).filter((name) => name.endsWith(".json")), []);
    assert.equal(await clearCachedTokens(undefined, { cacheDir: join(dir, "missing") }), 0);
  });
});

describe("fetchToken: impossible dates, skewed clocks, where a 401 came from, time limits", () => {
  let standIn: StandIn;
  let dir: string;
  const saved = process.env.SAUCE_REGISTRY_TIMEOUT;

  function options(extra: Partial<Parameters<typeof getToken>[0]> = {}) {
    return {
      credentials: { username: "alice", accessKey: ALICE_KEY },
      apiUrl: standIn.url,
      registryUrl: REGISTRY,
      retryDelayMs: 10,
      ...extra,
    };
  }

  before(async () => {
    standIn = await startStandIn({ users: { alice: ALICE_KEY } });
    dir = await mkdtemp(join(tmpdir(), "sr-clock-"));
  });
  afterEach(() => {
    standIn.clearFaults();
    standIn.clockOffsetSeconds = 0;
    standIn.tokenLifetimeSeconds = 300;
    if (saved === undefined) delete process.env.SAUCE_REGISTRY_TIMEOUT;
    else process.env.SAUCE_REGISTRY_TIMEOUT = saved;
  });
  after(async () => {
    await standIn.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses an expires_at that names no real time instead of rolling it over", async () => {
    const impossible = [
      "2030-02-30T12:00:00Z",
      "2031-02-29T12:00:00Z",
      "2030-04-31T12:00:00Z",
      "2030-01-01T24:00:00Z",
      "2030-01-01T12:60:00Z",
      "2030-01-01T12:00:61Z",
      "2030-00-10T12:00:00Z",
      "2030-01-01T12:00:00+24:00",
      "2030-01-01T12:00:00+01:60",
    ];
    for (const expires_at of impossible) {
      standIn.fault({ body: JSON.stringify({ username: "u", password: "p-123456", expires_at }) });
      const error = await rejection(fetchToken(options()));
      assert.ok(error instanceof ApiError, `${expires_at}: ${error}`);
      assert.match(error.message, /"expires_at" is not an RFC 3339 time/, expires_at);
    }
    for (
      const [expires_at, iso] of [
        ["2032-02-29T12:00:00Z", "2032-02-29T12:00:00.000Z"],
        ["2032-02-29T23:30:00.5-01:00", "2032-03-01T00:30:00.500Z"],
      ]
    ) {
      standIn.fault({ body: JSON.stringify({ username: "u", password: "p-123456", expires_at }) });
      const token = await fetchToken(options());
      assert.equal(token.expiresAt.toISOString(), iso);
    }
  });

  for (const offset of [600, -600]) {
    const side = offset > 0 ? "ahead" : "behind";
    it(`takes the lifetime from the Date header when Sauce's clock is ${side} by 10 min`, async () => {
      standIn.clockOffsetSeconds = offset;
      const before = Date.now();
      const token = await fetchToken(options());
      const lifetime = token.expiresAt.getTime() - before;
      // 300 s as the server counts them, give or take the Date header's whole seconds.
      assert.ok(lifetime > 295_000 && lifetime < 305_000, `lifetime ${lifetime} ms, not 300 s`);
    });
  }

  it("reuses a token from a server whose clock is behind, without a false 'expired already'", async () => {
    standIn.clockOffsetSeconds = -600;
    const cacheDir = join(dir, "behind");
    const first = await getToken(options({ cacheDir }));
    const second = await getToken(options({ cacheDir }));
    assert.equal(second.password, first.password);
    assert.equal(standIn.issued.filter((t) => t.password === first.password).length, 1);
  });

  it("refreshes a token from a server whose clock is ahead once its real lifetime runs low", {
    timeout: 30_000,
  }, async () => {
    standIn.clockOffsetSeconds = 600;
    standIn.tokenLifetimeSeconds = 4;
    const cacheDir = join(dir, "ahead");
    const first = await getToken(options({ cacheDir }));
    // Half of a 4-5 s lifetime: past the refresh margin, while the server still takes it.
    await sleep(3000);
    const second = await getToken(options({ cacheDir }));
    assert.notEqual(second.password, first.password, "a token near its real expiry was reused");
  });

  it("names the API host that refused the key, and no region for an explicit API URL", async () => {
    const error = await rejection(
      fetchToken(options({ credentials: { username: "alice", accessKey: WRONG_KEY } })),
    );
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.match(
      error.message,
      new RegExp(`at ${new URL(standIn.url).host} \\(an explicit API URL\\)`),
    );
    assert.match(error.message, /check SAUCE_USERNAME and SAUCE_ACCESS_KEY$/);
    assert.doesNotMatch(error.message, /region/i, "an explicit API URL has no region to change");
    assert.ok(!error.message.includes(WRONG_KEY));
  });

  it("points a refused key of a region at the other regions, in the caller's words", async () => {
    const refuse = (_url: URL, _init: RequestInit) =>
      Promise.resolve(new Response('{"message":"Unauthorized"}', { status: 401 }));
    const error = await rejection(
      fetchToken({ credentials: { username: "alice", accessKey: WRONG_KEY }, fetch: refuse }),
    );
    assert.ok(error instanceof AuthenticationError, String(error));
    assert.match(error.message, /at api\.us-west-1\.saucelabs\.com \(region us-west-1\)/);
    assert.match(
      error.message,
      /check SAUCE_USERNAME and SAUCE_ACCESS_KEY, and the region: an account of us-east-4 or eu-central-1 needs --region \(or SAUCE_REGION\)$/,
    );
    const named = await rejection(fetchToken({
      credentials: { username: "alice", accessKey: WRONG_KEY },
      region: "eu-central-1",
      fetch: refuse,
      settingNames: { credentials: "the action's inputs", region: "the region input" },
    }));
    assert.match(
      named.message,
      /check the action's inputs, and the region: an account of us-west-1 or us-east-4 needs the region input$/,
    );
    assert.ok(!`${error.message}${named.message}`.includes(WRONG_KEY));
  });

  it("words a refused key of a region as each CI integration's users set it, and no region for api-url", async () => {
    const refuse = (_url: URL, _init: RequestInit) =>
      Promise.resolve(new Response('{"message":"Unauthorized"}', { status: 401 }));
    const refusal = async (configuredBy: string, place: { region?: string; apiUrl?: string }) =>
      (await rejection(fetchToken({
        credentials: { username: "alice", accessKey: WRONG_KEY },
        ...place,
        fetch: refuse,
        settingNames: CI_SETTING_NAMES[configuredBy],
      }))).message;
    assert.match(
      await refusal("github-action", {}),
      /\(region us-west-1\) refused the username or access key \(401\): Unauthorized; check the action's username and access-key inputs, and the region: an account of us-east-4 or eu-central-1 needs the action's region input$/,
    );
    assert.match(
      await refusal("gitlab-component", { region: "eu-central-1" }),
      /\(region eu-central-1\) refused the username or access key \(401\): Unauthorized; check the SAUCE_USERNAME and SAUCE_ACCESS_KEY CI\/CD variables, and the region: an account of us-west-1 or us-east-4 needs the component's region input$/,
    );
    for (const configuredBy of ["github-action", "gitlab-component"]) {
      const message = await refusal(configuredBy, { apiUrl: "http://127.0.0.1:9" });
      assert.match(message, /\(an explicit API URL\) refused/);
      assert.doesNotMatch(message, /region/i, `${configuredBy}: api-url has no region to change`);
    }
  });

  it("gives up after SAUCE_REGISTRY_TIMEOUT when no limit is given, naming it", {
    timeout: 30_000,
  }, async () => {
    process.env.SAUCE_REGISTRY_TIMEOUT = "1";
    standIn.fault({ delayMs: 12_000 });
    const started = Date.now();
    const error = await rejection(fetchToken(options()));
    assert.ok(error instanceof TimeoutError, String(error));
    assert.match(
      error.message,
      /Timed out after 1 s \(SAUCE_REGISTRY_TIMEOUT\) waiting for a registry token/,
    );
    assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  });

  it("has a default limit of 60 s and refuses limits a timer cannot hold", async () => {
    assert.equal(DEFAULT_TIMEOUT_SECONDS, 60);
    assert.equal(MAX_TIMEOUT_SECONDS, Math.floor((2 ** 31 - 1) / 1000));
    for (const seconds of [0, -1, MAX_TIMEOUT_SECONDS + 1, 3_000_000, Infinity, NaN]) {
      const error = await rejection(fetchToken(options({ timeoutSeconds: seconds })));
      assert.ok(error instanceof UsageError, `${seconds}: ${error}`);
    }
    process.env.SAUCE_REGISTRY_TIMEOUT = "3000000";
    const error = await rejection(fetchToken(options()));
    assert.ok(error instanceof UsageError, String(error));
    assert.match(error.message, /Invalid SAUCE_REGISTRY_TIMEOUT: expected .* at most 2147483/);
    const token = await fetchToken(options({ timeoutSeconds: MAX_TIMEOUT_SECONDS }));
    assert.ok(token.password, "the longest limit does not fire at once");
  });
});
