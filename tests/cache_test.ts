// The token cache. In process, its clock and fetch injected: a fresh hit asks nothing, when a token
// is renewed (60 s before expiry, or a fifth of its lifetime, at most half; an hour at most), a
// token issued in the future is not trusted, a rotated key gets no cached token, concurrent calls
// share one request, noCache. As credential-helper processes share it: one token request for many
// concurrent gets, private files named by a hash, no expired token handed out,
// SAUCE_REGISTRY_NO_CACHE. When
// it cannot be used as it is: a full disk (a real 64 KiB tmpfs as the cache folder) costs a
// warning that names the cache, never the answer, never a wait behind an empty lock, never a file
// left behind; and on Windows, whose file modes say nothing of who may write, the mode bits do not
// refuse the cache.
//
// Runs unchanged under `deno test -A` and `bun test` (as root: the tests mount a tmpfs).

import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { run } from "./fixtures/services.ts";
import { listing, modeOf, sleep } from "./fixtures/common.ts";
import { cacheDir, makeSandbox, runCli, type Sandbox, SecretScanner } from "./fixtures/harness.ts";
import { cli, helper, HOST, parseAnswer, REGISTRY_URL } from "./fixtures/helper.ts";
import { useStandIn, useTempDir } from "./fixtures/suite.ts";
import { getToken } from "../mod.ts";
import { ownershipProblem } from "../src/files.ts";
import { AuthenticationError } from "../src/errors.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
/** A tmpfs holds this much, in 4 KiB pages; every file takes one page at least. */
const TMPFS_BYTES = 64 * 1024;
const PAGE_BYTES = 4096;

/** Escape a text for use in a RegExp. */
function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("a token cache on a full disk", () => {
  let standIn: StandIn;
  let work: string;
  const mounts: string[] = [];
  const sandboxes: Sandbox[] = [];

  before(async () => {
    standIn = await startStandIn();
    work = await mkdtemp(join(tmpdir(), "cache-test-"));
  });
  after(async () => {
    for (const mount of mounts) await run("umount", [mount]);
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
    await rm(work, { recursive: true, force: true });
    await standIn.close();
  });

  /**
   * Mount a 64 KiB tmpfs (0700, this user's: a cache folder that passes every check) at `dir`
   * and fill it but for `freePages` pages.
   */
  async function fullTmpfs(dir: string, freePages = 0): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const mounted = await run("mount", [
      "-t",
      "tmpfs",
      "-o",
      `size=${TMPFS_BYTES},mode=0700`,
      "tmpfs",
      dir,
    ]);
    assert.equal(mounted.code, 0, `mount: ${mounted.stderr}`);
    mounts.push(dir);
    await writeFile(join(dir, "filler"), new Uint8Array(TMPFS_BYTES - freePages * PAGE_BYTES));
  }

  function options(cacheDir: string, warn: (line: string) => void) {
    return {
      credentials: { username: "alice", accessKey: ALICE_KEY },
      apiUrl: standIn.url,
      registryUrl: REGISTRY_URL,
      cacheDir,
      warn,
    };
  }

  it("answers with a fetched token, warns once naming the cache, and leaves no lock", async () => {
    const cacheDir = join(work, "full");
    await fullTmpfs(cacheDir);
    const warnings: string[] = [];
    const token = await getToken(options(cacheDir, (line) => warnings.push(line)));
    assert.equal(token.password, standIn.issued.at(-1)!.password);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], new RegExp(`token cache ${literally(cacheDir)}\\b`));
    assert.match(warnings[0], /no space left on device/i);
    assert.deepEqual(await readdir(cacheDir), ["filler"]);
  });

  it("answers with the token it fetched when there was room for the lock but not the token", async () => {
    const cacheDir = join(work, "one-page");
    await fullTmpfs(cacheDir, 1);
    const warnings: string[] = [];
    const before = standIn.tokenRequestCount();
    const token = await getToken(options(cacheDir, (line) => warnings.push(line)));
    assert.equal(standIn.tokenRequestCount(), before + 1, "one token request");
    assert.equal(token.password, standIn.issued.at(-1)!.password);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], new RegExp(`token cache ${literally(cacheDir)}\\b`));
    assert.match(warnings[0], /not kept/);
    assert.deepEqual(await readdir(cacheDir), ["filler"], "no lock, no temporary file");
  });

  it("answers 8 concurrent helper gets promptly, each warning once, and leaves no lock", {
    timeout: 120_000,
  }, async () => {
    const sandbox = await makeSandbox({
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: ALICE_KEY,
      SAUCE_API_URL: standIn.url,
    });
    sandboxes.push(sandbox);
    const configured = await cli(sandbox, ["configure-docker", REGISTRY_URL]);
    assert.equal(configured.code, 0, configured.stderr);
    const cacheDir = join(sandbox.env.XDG_CACHE_HOME, "sauce-registry");
    await fullTmpfs(cacheDir);

    /** Eight gets at once, each with how long it took. */
    const gets = (env: Record<string, string>) =>
      Promise.all(Array.from({ length: 8 }, async () => {
        const started = Date.now();
        const result = await runCli(["credential-helper", "get"], {
          env,
          stdin: HOST,
          cwd: sandbox.dir,
        });
        return { ...result, ms: Date.now() - started };
      }));
    const slowest = (results: { ms: number }[]) => Math.max(...results.map((r) => r.ms));
    // What eight gets that fetch cost here, without the cache: only a wait beyond it counts.
    const baseline = await gets({ ...sandbox.env, SAUCE_REGISTRY_NO_CACHE: "1" });
    for (const result of baseline) assert.equal(result.code, 0, result.stderr);

    const before = standIn.tokenRequestCount();
    const results = await gets(sandbox.env);
    const issued = new Set(standIn.issued.map((token) => token.password));
    for (const result of results) {
      assert.equal(result.code, 0, result.stderr);
      assert.ok(issued.has(JSON.parse(result.stdout).Secret), result.stdout);
      const lines = result.stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], new RegExp(`token cache ${literally(cacheDir)}\\b`));
    }
    assert.equal(standIn.tokenRequestCount() - before, 8, "each get fetched without the cache");
    // A get that waited behind an empty lock or breaker would wait out its 5 s staleness.
    const waited = slowest(results) - slowest(baseline);
    console.log(`8 gets, full cache: ${slowest(results)} ms; no cache: ${slowest(baseline)} ms`);
    assert.ok(waited < 3_000, `the slowest get took ${waited} ms beyond the baseline`);
    assert.deepEqual(await readdir(cacheDir), ["filler"], "no lock or breaker left");
  });
});

describe("ownershipProblem on Windows", () => {
  // What Bun's lstat says of a file or folder anyone may write to on Windows: mode 0666 (0777),
  // no owner (common.ts leaves the uid out there), and chmod changes nothing.
  const windowsFile = { mode: 0o666, mtimeMs: 0, kind: "file", isFile: true } as const;
  const windowsFolder = { mode: 0o777, mtimeMs: 0, kind: "folder", isFile: false } as const;

  it("does not judge the mode bits of a Windows file status", () => {
    assert.equal(
      ownershipProblem(windowsFile, { expected: "file", uid: undefined, windows: true }),
      undefined,
    );
    assert.equal(
      ownershipProblem(windowsFolder, { expected: "folder", uid: undefined, windows: true }),
      undefined,
    );
  });

  it("still refuses the wrong kind on Windows, and a writable mode elsewhere", () => {
    assert.match(
      ownershipProblem(windowsFolder, { expected: "file", uid: undefined, windows: true })!,
      /not a regular file/,
    );
    assert.match(
      ownershipProblem(windowsFile, { expected: "file", uid: undefined, windows: false })!,
      /mode 0666/,
    );
    assert.match(
      ownershipProblem(windowsFolder, { expected: "folder", uid: undefined, windows: false })!,
      /mode 0777/,
    );
  });
});

describe("the token cache, shared by credential-helper processes", () => {
  const suite = useStandIn();
  const scanner = new SecretScanner();
  scanner.add(ALICE_KEY);

  async function concurrentGets(count: number): Promise<void> {
    const sandbox = await suite.configured();
    const before = suite.standIn.tokenRequestCount();
    // A slow answer widens the window in which every process finds the cache empty.
    suite.standIn.fault({ delayMs: 300 });
    const results = await Promise.all(
      Array.from({ length: count }, () => helper(sandbox, ["get"], HOST)),
    );
    const secrets = new Set(results.map((result) => parseAnswer(result).Secret));
    const requests = suite.standIn.tokenRequestCount() - before;
    console.log(`${count} concurrent gets: ${requests} token request(s)`);
    assert.equal(secrets.size, 1, "every process got the same token");
    assert.equal(requests, 1, "exactly one token request");
    for (const result of results) scanner.check("concurrent get stderr", result.stderr);
  }

  it("makes exactly one token request for 32 concurrent gets on an empty cache", {
    timeout: 90_000,
  }, () => concurrentGets(32));

  it("makes exactly one token request for 64 concurrent gets on an empty cache", {
    timeout: 120_000,
  }, () => concurrentGets(64));

  it("keeps tokens in a 0700 folder, in 0600 files named by a SHA-256 hash", async () => {
    const sandbox = await suite.configured();
    parseAnswer(await helper(sandbox, ["get"], HOST));
    const dir = cacheDir(sandbox);
    assert.equal(modeOf(await stat(dir)), 0o700);
    const names = await listing(dir);
    assert.equal(names.length, 1, names.join(", "));
    assert.match(names[0], /^[0-9a-f]{64}\.json$/);
    assert.ok(!names[0].includes("alice"));
    assert.equal(modeOf(await stat(join(dir, names[0]))), 0o600);
    scanner.add(...suite.standIn.issued.map((token) => token.password));
    // The token lives only in the cache; the access key nowhere.
    await scanner.checkTree(sandbox.dir, (path) => path.startsWith(`${dir}/`));
    const cached = await readFile(join(dir, names[0]), "utf8");
    assert.ok(!cached.includes(ALICE_KEY));
  });

  it("asks the API every time with SAUCE_REGISTRY_NO_CACHE=1 and stores nothing", async () => {
    const sandbox = await suite.configured([REGISTRY_URL], { SAUCE_REGISTRY_NO_CACHE: "1" });
    const before = suite.standIn.tokenRequestCount();
    const secrets = new Set<string>();
    for (let i = 0; i < 3; i++) {
      secrets.add(parseAnswer(await helper(sandbox, ["get"], HOST)).Secret);
    }
    assert.equal(suite.standIn.tokenRequestCount(), before + 3);
    assert.equal(secrets.size, 3);
    assert.deepEqual(await listing(cacheDir(sandbox)).catch(() => []), []);
  });

  it("never hands out an expired token (3-second tokens)", { timeout: 60_000 }, async () => {
    const sandbox = await suite.configured();
    suite.standIn.tokenLifetimeSeconds = 3;
    try {
      const first = parseAnswer(await helper(sandbox, ["get"], HOST));
      const firstToken = suite.standIn.issued.find((token) => token.password === first.Secret)!;
      assert.ok(firstToken, "the first answer is an issued token");
      // Ask again and again across the first token's expiry: each answer must still be valid
      // when it arrives.
      const until = firstToken.expiresAt.getTime() + 2_000;
      let answers = 0;
      while (Date.now() < until) {
        const answer = parseAnswer(await helper(sandbox, ["get"], HOST));
        const arrived = Date.now();
        const token = suite.standIn.issued.find((issued) => issued.password === answer.Secret);
        assert.ok(token, "every answer is an issued token");
        assert.ok(
          token.expiresAt.getTime() > arrived,
          `a token that expired at ${token.expiresAt.toISOString()} was handed out`,
        );
        answers++;
        await sleep(150);
      }
      assert.ok(answers >= 3, `only ${answers} answers`);
      const last = parseAnswer(await helper(sandbox, ["get"], HOST));
      assert.notEqual(last.Secret, first.Secret);
    } finally {
      suite.standIn.tokenLifetimeSeconds = 300;
    }
  });

  it(
    "serves repeated gets from the cache without asking the API",
    { timeout: 60_000 },
    async () => {
      // Speed is the benchmarks' business (deno task bench); here only that the cache answers.
      const sandbox = await suite.configured();
      const first = parseAnswer(await helper(sandbox, ["get"], HOST));
      const before = suite.standIn.tokenRequestCount();
      for (let i = 0; i < 5; i++) {
        assert.equal(parseAnswer(await helper(sandbox, ["get"], HOST)).Secret, first.Secret);
      }
      assert.equal(suite.standIn.tokenRequestCount(), before, "all from the cache");
    },
  );
});

describe("getToken in process, its clock and fetch injected", () => {
  const T = Date.UTC(2030, 0, 15, 12, 0, 0);
  const SECOND = 1_000;
  const MINUTE = 60 * SECOND;
  const temp = useTempDir("cache-unit-");
  let folders = 0;

  /**
   * A Sauce API that issues `password-1`, `password-2`, … living `lifetimeMs` from the clock's
   * time, a clock the test sets, and getToken's options for alice with both, in a cache folder of
   * the test's own (not made yet).
   */
  function world(lifetimeMs = 5 * MINUTE, answer?: () => Response) {
    const clock = { now: T };
    let requests = 0;
    const fetch = (_url: URL, _init: RequestInit): Promise<Response> => {
      requests++;
      return Promise.resolve(
        answer?.() ??
          Response.json({
            username: "oauth2accesstoken",
            password: `password-${requests}`,
            expires_at: new Date(clock.now + lifetimeMs).toISOString(),
          }),
      );
    };
    const options = {
      credentials: { username: "alice", accessKey: ALICE_KEY },
      registryUrl: REGISTRY_URL,
      cacheDir: join(temp.path, `cache-${++folders}`),
      fetch,
      now: () => clock.now,
      retries: 0,
    };
    return { clock, options, requests: () => requests };
  }

  /** The password getToken answers at `at`, and whether that took a token request. */
  async function tokenAt(w: ReturnType<typeof world>, at: number) {
    w.clock.now = at;
    const before = w.requests();
    const token = await getToken(w.options);
    return { password: token.password, fetched: w.requests() > before };
  }

  it("answers a fresh cached token without a request, from one 0600 file", async () => {
    const w = world();
    assert.deepEqual(await tokenAt(w, T), { password: "password-1", fetched: true });
    assert.deepEqual(await tokenAt(w, T + 10 * SECOND), { password: "password-1", fetched: false });
    const token = await getToken(w.options);
    assert.equal(token.issuedAt?.getTime(), T, "when it was fetched");
    const [file, ...others] = await listing(w.options.cacheDir);
    assert.deepEqual(others, []);
    assert.equal(modeOf(await stat(join(w.options.cacheDir, file))), 0o600);
  });

  it("renews a token 60 s before it expires when a fifth of its lifetime is less (4-minute token)", async () => {
    const w = world(4 * MINUTE);
    await tokenAt(w, T);
    assert.deepEqual(await tokenAt(w, T + 179 * SECOND), {
      password: "password-1",
      fetched: false,
    });
    assert.deepEqual(await tokenAt(w, T + 181 * SECOND), { password: "password-2", fetched: true });
  });

  it("renews a token a fifth of its lifetime before it expires when that is more than 60 s (30-minute token)", async () => {
    const w = world(30 * MINUTE);
    await tokenAt(w, T);
    assert.equal((await tokenAt(w, T + 24 * MINUTE - SECOND)).fetched, false);
    assert.equal((await tokenAt(w, T + 24 * MINUTE + SECOND)).fetched, true);
  });

  it("renews a token at half its lifetime when 60 s would be more than half (1-minute token)", async () => {
    const w = world(1 * MINUTE);
    await tokenAt(w, T);
    assert.deepEqual(await tokenAt(w, T + 29 * SECOND), { password: "password-1", fetched: false });
    assert.deepEqual(await tokenAt(w, T + 31 * SECOND), { password: "password-2", fetched: true });
  });

  it("trusts a token for an hour at most, whatever its expires_at says (a day)", async () => {
    // An hour's lifetime: renewed a fifth of it (12 minutes) before the hour is out.
    const w = world(24 * 60 * MINUTE);
    await tokenAt(w, T);
    assert.equal((await tokenAt(w, T + 47 * MINUTE)).fetched, false);
    assert.deepEqual(await tokenAt(w, T + 49 * MINUTE), { password: "password-2", fetched: true });
  });

  it("does not trust a token issued in its future: the clock was turned back since", async () => {
    const w = world();
    await tokenAt(w, T + 60 * MINUTE);
    assert.deepEqual(await tokenAt(w, T), { password: "password-2", fetched: true });
    assert.equal((await tokenAt(w, T + SECOND)).fetched, false, "the new one is trusted");
  });

  it("gives a rotated access key no token the old key fetched", async () => {
    const w = world();
    await tokenAt(w, T);
    const rotated = { ...w.options, credentials: { username: "alice", accessKey: "rotated-key" } };
    assert.equal((await getToken(rotated)).password, "password-2");
    assert.equal(w.requests(), 2);
    assert.equal((await getToken(w.options)).password, "password-1", "each key its own entry");
    assert.equal((await getToken(rotated)).password, "password-2");
    assert.equal(w.requests(), 2);
  });

  it("asks every time with noCache, and writes no cache folder", async () => {
    const w = world();
    const options = { ...w.options, noCache: true };
    const passwords = [];
    for (let i = 0; i < 3; i++) passwords.push((await getToken(options)).password);
    assert.deepEqual(passwords, ["password-1", "password-2", "password-3"]);
    await assert.rejects(stat(w.options.cacheDir), "no cache folder");
  });

  it("makes one request for 16 concurrent calls on an empty cache", async () => {
    const w = world();
    const tokens = await Promise.all(Array.from({ length: 16 }, () => getToken(w.options)));
    assert.equal(w.requests(), 1);
    assert.deepEqual(new Set(tokens.map((token) => token.password)), new Set(["password-1"]));
  });

  it("makes one request for 16 concurrent calls where the cache cannot be used, and warns once", async () => {
    // A folder others can write to is not used: no file, no lock can join the calls, only the
    // request they share in this process.
    const w = world();
    await mkdir(w.options.cacheDir);
    await chmod(w.options.cacheDir, 0o777);
    const warnings: string[] = [];
    const options = { ...w.options, warn: (line: string) => warnings.push(line) };
    const tokens = await Promise.all(Array.from({ length: 16 }, () => getToken(options)));
    assert.equal(w.requests(), 1, "one request for all 16");
    assert.deepEqual(new Set(tokens.map((token) => token.password)), new Set(["password-1"]));
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /others can write to it \(mode 0777\)/);
    assert.deepEqual(await listing(w.options.cacheDir), []);
  });

  it("fails every caller of a shared request that failed, and asks anew on the next call", async () => {
    const w = world(5 * MINUTE, () => new Response("", { status: 401 }));
    const failures = await Promise.all(
      Array.from({ length: 4 }, () => getToken(w.options).then(() => undefined, (error) => error)),
    );
    assert.equal(w.requests(), 1);
    for (const error of failures) assert.ok(error instanceof AuthenticationError, String(error));
    await assert.rejects(getToken(w.options), AuthenticationError);
    assert.equal(w.requests(), 2, "a failure is not cached");
  });
});
