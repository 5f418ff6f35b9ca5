// Proves the test fixtures honestly work: the stand-in checks credentials and injects faults as
// documented, its realm signs tokens a real docker-registry accepts only for live Sauce tokens,
// the dockerd, OCI image and argv-recorder helpers do what the other tests rely on, and the
// secret scanner fails on what it cannot read instead of passing it.
//
// Runs unchanged under `deno test -A` and `bun test`. Bun ignores hook timeouts (5 s cap), so
// slow starts (registry, dockerd) happen inside tests that carry their own timeout.

import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, afterEach, assert, before, describe, it } from "./deps.ts";
import { basic, sleep } from "./fixtures/common.ts";
import {
  DEFAULT_USERS,
  REALM_PATH,
  type StandIn,
  startStandIn,
  TOKEN_PATH,
  TOKEN_USERNAME,
} from "./fixtures/stand_in.ts";
import {
  buildOciImage,
  type Dockerd,
  freePort,
  makeArgvRecorderShim,
  readShimCalls,
  type Registry,
  requireTool,
  run,
  startDockerd,
  startRegistry,
} from "./fixtures/services.ts";
import { ROOT, runtime, runtimeExecutable, SecretScanner } from "./fixtures/harness.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
const BOB_KEY = "bob-access-key-9876543210";

/** Waits until a credential's expiry has passed (plus a margin), however it was rounded. */
async function sleepPast(expiresAt: Date, marginMs = 200): Promise<void> {
  await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + marginMs);
}

interface TokenAnswer {
  status: number;
  headers: Headers;
  text: string;
}

async function requestToken(
  standIn: StandIn,
  init: { auth?: string; body?: string; method?: string } = {},
): Promise<TokenAnswer> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (init.auth !== undefined) headers.authorization = init.auth;
  const response = await fetch(`${standIn.url}${TOKEN_PATH}`, {
    method: init.method ?? "POST",
    headers,
    body: init.body,
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

interface SauceToken {
  expires_at: string;
  password: string;
  username: string;
}

async function issueViaApi(standIn: StandIn, body?: string): Promise<SauceToken> {
  const answer = await requestToken(standIn, { auth: basic("alice", ALICE_KEY), body });
  assert.equal(answer.status, 200, answer.text);
  return JSON.parse(answer.text) as SauceToken;
}

function decodeJwtPart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("stand-in token endpoint", () => {
  let standIn: StandIn;

  before(async () => {
    standIn = await startStandIn({
      users: { alice: ALICE_KEY, bob: BOB_KEY },
      enrolled: ["alice"],
    });
  });
  afterEach(() => standIn.clearFaults());
  after(() => standIn.close());

  it("issues a unique oauth2accesstoken password for a valid access key", async () => {
    const before = Date.now();
    const first = await issueViaApi(standIn);
    const second = await issueViaApi(standIn, JSON.stringify({ registry_url: "127.0.0.1:5000/t" }));

    assert.equal(first.username, TOKEN_USERNAME);
    assert.match(first.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // From when the stand-in took the request (it issues in the same turn): 300 s, rounded up to
    // a whole second, whatever the round trip cost.
    const lifetimeMs = Date.parse(first.expires_at) - standIn.requests.at(-2)!.at;
    assert.ok(lifetimeMs >= 300_000 && lifetimeMs <= 301_000, `lifetime ${lifetimeMs} ms`);
    assert.ok(first.password.length >= 40, "password is long");
    assert.notEqual(first.password, second.password);

    const issued = standIn.issued.slice(-2);
    assert.equal(issued[0].password, first.password);
    assert.equal(issued[0].sauceUser, "alice");
    assert.equal(issued[0].registryUrl, undefined);
    assert.equal(issued[1].registryUrl, "127.0.0.1:5000/t");
    assert.equal(issued[0].expiresAt.toISOString().replace(".000Z", "Z"), first.expires_at);

    const recorded = standIn.requests.at(-1);
    assert.equal(recorded?.method, "POST");
    assert.equal(recorded?.path, TOKEN_PATH);
    assert.equal(recorded?.headers["content-type"], "application/json");
    assert.equal(recorded?.headers.authorization, basic("alice", ALICE_KEY));
    assert.equal(recorded?.body, JSON.stringify({ registry_url: "127.0.0.1:5000/t" }));
    assert.ok(recorded && recorded.at >= before);
  });

  it("rounds expires_at up so a short token is never shorter than asked", async () => {
    standIn.tokenLifetimeSeconds = 3;
    try {
      const token = await issueViaApi(standIn);
      // From when the stand-in took the request, not from before the round trip: a bound of
      // 4 s plus the trip's time would leave a loaded machine 100 ms.
      const lifetimeMs = Date.parse(token.expires_at) - standIn.requests.at(-1)!.at;
      assert.ok(lifetimeMs >= 3_000 && lifetimeMs <= 4_000, `lifetime ${lifetimeMs} ms`);
    } finally {
      standIn.tokenLifetimeSeconds = 300;
    }
  });

  it("runs on a clock of its own with clockOffsetSeconds: its Date header and expires_at", async () => {
    for (const offset of [600, -600]) {
      standIn.clockOffsetSeconds = offset;
      try {
        const before = Date.now();
        const answer = await requestToken(standIn, { auth: basic("alice", ALICE_KEY) });
        const token = JSON.parse(answer.text) as SauceToken;
        const serverDate = Date.parse(answer.headers.get("date") ?? "");
        assert.ok(Math.abs(serverDate - (before + offset * 1000)) < 3000, `Date ${serverDate}`);
        const lifetimeMs = Date.parse(token.expires_at) - serverDate;
        assert.ok(lifetimeMs >= 300_000 && lifetimeMs <= 302_000, `lifetime ${lifetimeMs} ms`);
      } finally {
        standIn.clockOffsetSeconds = 0;
      }
    }
  });

  it("refuses missing, wrong and unknown credentials with 401", async () => {
    const issuedBefore = standIn.issued.length;
    for (
      const auth of [undefined, basic("alice", "wrong"), basic("mallory", ALICE_KEY), "Bearer x"]
    ) {
      const answer = await requestToken(standIn, { auth });
      assert.equal(answer.status, 401, `auth ${auth}`);
      assert.equal((JSON.parse(answer.text) as { message: string }).message, "Unauthorized");
    }
    assert.equal(standIn.issued.length, issuedBefore, "nothing issued");
  });

  it("answers 403 to a user who is not enrolled", async () => {
    const answer = await requestToken(standIn, { auth: basic("bob", BOB_KEY) });
    assert.equal(answer.status, 403);
    assert.deepEqual(JSON.parse(answer.text), {
      code: 403,
      message: "you are not allowed to generate a short living token for your organization",
    });
  });

  it("answers 400 to a body that is not JSON, 405 to a wrong method, 404 elsewhere", async () => {
    const bad = await requestToken(standIn, { auth: basic("alice", ALICE_KEY), body: "{nope" });
    assert.equal(bad.status, 400);
    const wrongMethod = await requestToken(standIn, {
      auth: basic("alice", ALICE_KEY),
      method: "GET",
    });
    assert.equal(wrongMethod.status, 405);
    const elsewhere = await fetch(`${standIn.url}/v1/whatever`);
    await elsewhere.body?.cancel();
    assert.equal(elsewhere.status, 404);
  });

  it("applies queued faults in order, each `times` times, then answers normally", async () => {
    const auth = basic("alice", ALICE_KEY);
    const countBefore = standIn.tokenRequestCount();
    standIn.fault(
      { status: 429, headers: { "Retry-After": "1" } },
      {
        status: 500,
        body: '{"code":500,"message":"couldn\'t generate a short living token"}',
        times: 2,
      },
      { reset: true },
      { body: "{not json" },
      { status: 502, body: "<html><body>Bad Gateway</body></html>", contentType: "text/html" },
      { body: JSON.stringify({ username: TOKEN_USERNAME }) },
    );

    const throttled = await requestToken(standIn, { auth });
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers.get("retry-after"), "1");
    for (let i = 0; i < 2; i++) {
      const failed = await requestToken(standIn, { auth });
      assert.equal(failed.status, 500);
      assert.match(failed.text, /couldn't generate/);
    }
    await assert.rejects(requestToken(standIn, { auth }), "a reset is a network error");
    const malformed = await requestToken(standIn, { auth });
    assert.equal(malformed.status, 200);
    assert.equal(malformed.text, "{not json");
    const html = await requestToken(standIn, { auth });
    assert.equal(html.status, 502);
    assert.equal(html.headers.get("content-type"), "text/html");
    const missing = await requestToken(standIn, { auth });
    assert.deepEqual(JSON.parse(missing.text), { username: TOKEN_USERNAME });

    const normal = await requestToken(standIn, { auth });
    assert.equal(normal.status, 200);
    assert.ok((JSON.parse(normal.text) as SauceToken).password);
    // Every request is recorded, the reset one included, before the fault is applied.
    assert.equal(standIn.tokenRequestCount(), countBefore + 8);
  });

  it("delays answers, normal or faulted", async () => {
    const auth = basic("alice", ALICE_KEY);
    standIn.fault({ delayMs: 300 }, { delayMs: 200, status: 503 });
    let started = Date.now();
    const slow = await requestToken(standIn, { auth });
    assert.equal(slow.status, 200);
    assert.ok(Date.now() - started >= 290, "slow normal answer");
    started = Date.now();
    const slowFailure = await requestToken(standIn, { auth });
    assert.equal(slowFailure.status, 503);
    assert.ok(Date.now() - started >= 190, "slow failure");
  });

  it("clearFaults drops queued faults; faults never touch other paths", async () => {
    standIn.fault({ status: 500, times: 5 });
    const realm = await fetch(`${standIn.url}${REALM_PATH}`);
    await realm.body?.cancel();
    assert.equal(realm.status, 401, "the realm is not faulted");
    standIn.clearFaults();
    const answer = await requestToken(standIn, { auth: basic("alice", ALICE_KEY) });
    assert.equal(answer.status, 200);
  });
});

describe("stand-in registry token realm", () => {
  let standIn: StandIn;

  before(async () => {
    standIn = await startStandIn();
  });
  after(() => standIn.close());

  async function realmGet(query: string, auth?: string): Promise<Response> {
    return await fetch(`${standIn.realm}?${query}`, {
      headers: auth === undefined ? {} : { authorization: auth },
    });
  }

  it("refuses anonymous requests and passwords it never issued", async () => {
    for (
      const auth of [undefined, basic(TOKEN_USERNAME, "ya29.c.made-up"), basic("alice", ALICE_KEY)]
    ) {
      const response = await realmGet(`service=${standIn.service}&scope=repository:a/b:pull`, auth);
      assert.equal(response.status, 401);
      const body = (await response.json()) as { errors: { code: string }[] };
      assert.equal(body.errors[0].code, "UNAUTHORIZED");
    }
  });

  it("judges expiry by its own clock, and signs claims in the registry's", async () => {
    const token = await issueViaApi(standIn);
    const query = `service=${standIn.service}&scope=repository:a/b:pull`;
    standIn.clockOffsetSeconds = 400; // its clock is now past the 300 s token's expiry
    try {
      const late = await realmGet(query, basic(TOKEN_USERNAME, token.password));
      assert.equal(late.status, 401);
      await late.body?.cancel();
      standIn.clockOffsetSeconds = -400;
      const early = await realmGet(query, basic(TOKEN_USERNAME, token.password));
      assert.equal(early.status, 200);
      const claims = decodeJwtPart(((await early.json()) as { token: string }).token.split(".")[1]);
      const now = Date.now() / 1000;
      assert.ok(Math.abs((claims.iat as number) - now) < 5, `iat ${claims.iat} vs ${now}`);
    } finally {
      standIn.clockOffsetSeconds = 0;
    }
  });

  it("signs an ES256 JWT the certificate verifies, granting every requested scope", async () => {
    const token = await issueViaApi(standIn);
    const scopes = [
      "repository:team/app:pull,push",
      "repository:team/other:pull",
      "registry:catalog:*",
    ];
    const query = `service=${standIn.service}&account=${TOKEN_USERNAME}&` +
      scopes.map((scope) => `scope=${encodeURIComponent(scope)}`).join("&");
    const response = await realmGet(query, basic(token.username, token.password));
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      token: string;
      access_token: string;
      expires_in: number;
      issued_at: string;
    };
    assert.equal(body.access_token, body.token);
    assert.ok(body.expires_in > 0 && body.expires_in <= 60);
    assert.match(body.issued_at, /Z$/);

    const [headerPart, claimsPart, signaturePart] = body.token.split(".");
    const header = decodeJwtPart(headerPart);
    assert.equal(header.alg, "ES256");
    assert.equal(header.typ, "JWT");
    const certPem = await readFile(standIn.certFile, "utf8");
    const certDer = certPem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    assert.deepEqual(header.x5c, [certDer]);

    // Verify with the public key openssl extracts from the certificate: independent of the signer.
    const pubkey = await run(requireTool("openssl"), [
      "x509",
      "-in",
      standIn.certFile,
      "-pubkey",
      "-noout",
    ]);
    assert.equal(pubkey.code, 0, pubkey.stderr);
    const spki = Buffer.from(
      pubkey.stdout.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""),
      "base64",
    );
    const key = await crypto.subtle.importKey(
      "spki",
      new Uint8Array(spki),
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    const valid = await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      new Uint8Array(Buffer.from(signaturePart, "base64url")),
      new TextEncoder().encode(`${headerPart}.${claimsPart}`),
    );
    assert.ok(valid, "signature verifies");

    const claims = decodeJwtPart(claimsPart);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(claims.iss, standIn.issuer);
    assert.equal(claims.aud, standIn.service);
    assert.equal(claims.sub, "alice");
    assert.ok(typeof claims.jti === "string" && claims.jti.length > 0);
    assert.ok(Math.abs((claims.iat as number) - now) <= 2);
    assert.ok((claims.nbf as number) < now && (claims.exp as number) > now);
    assert.ok((claims.exp as number) <= Date.parse(token.expires_at) / 1000);
    assert.deepEqual(claims.access, [
      { type: "repository", name: "team/app", actions: ["pull", "push"] },
      { type: "repository", name: "team/other", actions: ["pull"] },
      { type: "registry", name: "catalog", actions: ["*"] },
    ]);
  });

  it("accepts the OAuth2 password grant that docker login posts", async () => {
    const token = await issueViaApi(standIn);
    const form = new URLSearchParams({
      grant_type: "password",
      username: token.username,
      password: token.password,
      service: standIn.service,
      scope: "repository:team/app:pull",
      client_id: "docker",
    });
    const response = await fetch(standIn.realm, { method: "POST", body: form });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { access_token: string };
    const claims = decodeJwtPart(body.access_token.split(".")[1]);
    assert.deepEqual(claims.access, [{ type: "repository", name: "team/app", actions: ["pull"] }]);

    form.set("password", "wrong");
    const refused = await fetch(standIn.realm, { method: "POST", body: form });
    await refused.body?.cancel();
    assert.equal(refused.status, 401);
  });

  it(
    "caps the JWT at the Sauce token's expiry and refuses it once expired",
    { timeout: 10_000 },
    async () => {
      standIn.tokenLifetimeSeconds = 1;
      try {
        const token = await issueViaApi(standIn);
        const auth = basic(token.username, token.password);
        const live = await realmGet(`service=${standIn.service}&scope=repository:a/b:pull`, auth);
        assert.equal(live.status, 200);
        const { token: jwt } = (await live.json()) as { token: string };
        assert.ok(
          (decodeJwtPart(jwt.split(".")[1]).exp as number) <= Date.parse(token.expires_at) / 1000,
        );

        await sleepPast(new Date(token.expires_at));
        const expired = await realmGet(
          `service=${standIn.service}&scope=repository:a/b:pull`,
          auth,
        );
        assert.equal(expired.status, 401);
        const body = (await expired.json()) as { errors: { message: string }[] };
        assert.match(body.errors[0].message, /expired/);
      } finally {
        standIn.tokenLifetimeSeconds = 300;
      }
    },
  );
});

describe("real docker-registry behind the stand-in", () => {
  let standIn: StandIn;
  let registry: Registry | undefined;
  let workDir: string;
  let image: string;

  before(async () => {
    standIn = await startStandIn();
    workDir = await mkdtemp(join(tmpdir(), "fixtures-test-"));
    image = await buildOciImage(join(workDir, "oci"), { tag: "v1" });
  });
  after(async () => {
    await registry?.stop();
    await standIn.close();
    await rm(workDir, { recursive: true, force: true });
  });

  /** Started inside the first test: Bun would cut a slow `before` hook off at 5 s. */
  async function theRegistry(): Promise<Registry> {
    registry ??= await startRegistry(standIn);
    return registry;
  }

  function skopeoCopy(registryHost: string, password: string, tag: string) {
    return run(requireTool("skopeo"), [
      "copy",
      "--dest-tls-verify=false",
      "--dest-creds",
      `${TOKEN_USERNAME}:${password}`,
      image,
      `docker://${registryHost}/team/app:${tag}`,
    ], { timeoutMs: 30_000 });
  }

  it(
    "starts and challenges anonymous clients with the stand-in's realm",
    { timeout: 30_000 },
    async () => {
      const { url } = await theRegistry();
      const response = await fetch(`${url}/v2/`);
      await response.body?.cancel();
      assert.equal(response.status, 401);
      const challenge = response.headers.get("www-authenticate") ?? "";
      assert.ok(challenge.includes(`realm="${standIn.realm}"`), challenge);
      assert.ok(challenge.includes(`service="${standIn.service}"`), challenge);
    },
  );

  it("accepts a push with a freshly issued password", { timeout: 30_000 }, async () => {
    const { host } = await theRegistry();
    const token = await issueViaApi(standIn);
    const pushed = await skopeoCopy(host, token.password, "1");
    assert.equal(pushed.code, 0, `${pushed.stderr}\n${(await theRegistry()).logs()}`);
    const inspected = await run(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      "--creds",
      `${TOKEN_USERNAME}:${token.password}`,
      `docker://${host}/team/app:1`,
    ]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { Architecture: string }).Architecture, "amd64");
  });

  it("refuses a push with a wrong password", { timeout: 30_000 }, async () => {
    const { host } = await theRegistry();
    await issueViaApi(standIn);
    const pushed = await skopeoCopy(host, "ya29.c.not-a-token-we-issued", "wrong");
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /unauthorized|401|authentication required/i);
  });

  it("refuses a push with an expired password", { timeout: 30_000 }, async () => {
    const { host } = await theRegistry();
    standIn.tokenLifetimeSeconds = 2;
    let token: SauceToken;
    try {
      token = await issueViaApi(standIn);
    } finally {
      standIn.tokenLifetimeSeconds = 300;
    }
    await sleepPast(new Date(token.expires_at), 1_000);
    const pushed = await skopeoCopy(host, token.password, "expired");
    assert.notEqual(pushed.code, 0);
    assert.match(pushed.stderr, /unauthorized|401|authentication required/i);
    const lastRealm = standIn.realmRequests.at(-1);
    assert.equal(lastRealm?.headers.authorization, basic(TOKEN_USERNAME, token.password));
  });
});

describe("dockerd, OCI image and tool helpers", () => {
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "fixtures-test-"));
  });
  after(() => rm(workDir, { recursive: true, force: true }));

  it("requireTool finds tools on PATH and fails loudly with an install hint", () => {
    assert.match(requireTool("sh"), /^\/.*\/sh$/);
    assert.throws(() => requireTool("no-such-tool-xyz"), /no-such-tool-xyz is not installed/);
    assert.throws(() => requireTool("podman-not-here"), /install podman-not-here/);
  });

  it("freePort gives a bindable loopback port", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
  });

  it("builds a reproducible OCI image that skopeo reads", { timeout: 20_000 }, async () => {
    const first = await buildOciImage(join(workDir, "a"), { tag: "t", content: "one\n" });
    const again = await buildOciImage(join(workDir, "b"), { tag: "t", content: "one\n" });
    const other = await buildOciImage(join(workDir, "c"), { tag: "t", content: "two\n" });
    assert.equal(first, `oci:${join(workDir, "a")}:t`);
    const digestOf = async (reference: string) => {
      const inspected = await run(requireTool("skopeo"), ["inspect", reference]);
      assert.equal(inspected.code, 0, inspected.stderr);
      return (JSON.parse(inspected.stdout) as { Digest: string }).Digest;
    };
    assert.equal(await digestOf(first), await digestOf(again));
    assert.notEqual(await digestOf(first), await digestOf(other));
  });

  it("records argv, env and stdin of a fake tool, and passes through to a real one", async () => {
    const shimDir = await mkdtemp(join(workDir, "shims-"));
    // Found through PATH, the way the product will find the tools it drives.
    const path = `${shimDir}:${process.env.PATH ?? ""}`;
    const helm = await makeArgvRecorderShim(shimDir, "helm", null);
    const login = await run("helm", ["registry", "login", "a b", "--password-stdin"], {
      stdin: "s3cret\n",
      env: { PATH: path, MARKER: "x" },
    });
    assert.deepEqual([login.code, login.stdout], [0, "Login Succeeded\n"]);
    await run("helm", ["version"], { env: { PATH: path } });
    const calls = await readShimCalls(helm.log);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[0].args, ["registry", "login", "a b", "--password-stdin"]);
    assert.equal(calls[0].argv[0], join(shimDir, "helm"));
    assert.equal(calls[0].stdin, "s3cret\n");
    assert.equal(calls[0].stdinCaptured, true);
    assert.equal(calls[0].env.MARKER, "x");
    assert.deepEqual(calls[1].args, ["version"]);
    assert.equal(calls[1].stdin, "");

    const oras = await makeArgvRecorderShim(shimDir, "oras", null, {
      stdout: "",
      stderr: "denied\n",
      exitCode: 3,
    });
    const refused = await run(join(shimDir, "oras"), ["login"]);
    assert.deepEqual([refused.code, refused.stdout, refused.stderr], [3, "", "denied\n"]);
    assert.equal((await readShimCalls(oras.log)).length, 1);

    // Pass-through: the real `cat` gets the same arguments and the untouched stdin.
    const cat = await makeArgvRecorderShim(shimDir, "cat", requireTool("cat"));
    const echoed = await run(join(shimDir, "cat"), ["-"], { stdin: "through\n" });
    assert.deepEqual([echoed.code, echoed.stdout], [0, "through\n"]);
    const [catCall] = await readShimCalls(cat.log);
    assert.deepEqual(catCall.args, ["-"]);
    assert.equal(catCall.stdinCaptured, false);
  });

  it("runs a private dockerd that loads, runs and pushes the built image", {
    timeout: 60_000,
  }, async () => {
    const docker = requireTool("docker");
    const standIn = await startStandIn();
    let registry: Registry | undefined;
    let dockerd: Dockerd | undefined;
    try {
      registry = await startRegistry(standIn);
      dockerd = await startDockerd();
      const env = dockerd.env;
      assert.ok(existsSync(dockerd.dir), "the daemon's directory exists while it runs");
      const version = await run(docker, ["version", "--format", "{{.Server.Version}}"], { env });
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^\d+\./);

      const reference = await buildOciImage(join(workDir, "for-docker"), {
        tag: "v1",
        content: "hello from a hand-made image\n",
      });
      const archive = join(workDir, "image.tar");
      const copied = await run(requireTool("skopeo"), [
        "copy",
        reference,
        `docker-archive:${archive}:team/hello:v1`,
      ]);
      assert.equal(copied.code, 0, copied.stderr);
      const loaded = await run(docker, ["load", "-i", archive], { env });
      assert.equal(loaded.code, 0, `${loaded.stderr}\n${dockerd.logs()}`);
      assert.match(loaded.stdout, /team\/hello:v1/);

      // The image's /hello really runs (this also leaves the netns mount stop() must undo).
      const ran = await run(docker, ["run", "--rm", "--network", "host", "team/hello:v1"], { env });
      assert.deepEqual([ran.code, ran.stdout], [0, "hello from a hand-made image\n"], ran.stderr);

      // dockerd reaches the registry over plain http on loopback and its login flow passes the
      // stand-in's realm.
      const token = standIn.issue();
      const login = await run(docker, [
        "login",
        "-u",
        token.username,
        "--password-stdin",
        registry.host,
      ], {
        env,
        stdin: token.password,
      });
      assert.equal(login.code, 0, login.stderr);
      const target = `${registry.host}/team/hello:v1`;
      assert.equal((await run(docker, ["tag", "team/hello:v1", target], { env })).code, 0);
      const pushed = await run(docker, ["push", target], { env });
      assert.equal(pushed.code, 0, `${pushed.stderr}\n${registry.logs()}`);
      assert.ok(standIn.realmRequests.some((request) => request.path.includes("push")));
    } finally {
      await dockerd?.stop();
      await registry?.stop();
      await standIn.close();
    }
    assert.equal(existsSync(dockerd.dir), false, "stop() removes the daemon's directory");
  });
});

describe("SecretScanner.checkTree", () => {
  const SECRET = "scanner-test-secret-4f9a";
  let workDir: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), "scanner-test-"));
  });
  after(async () => {
    await run("chmod", ["-R", "u+rwx", workDir]);
    await rm(workDir, { recursive: true, force: true });
  });

  /** A tree whose `inner` folder holds a file with the secret, the folder given `mode`. */
  async function treeWithSecret(name: string, mode = 0o700): Promise<string> {
    const dir = join(workDir, name);
    await mkdir(join(dir, "outer", "inner"), { recursive: true });
    await writeFile(join(dir, "outer", "clean.txt"), "nothing here\n");
    await writeFile(join(dir, "outer", "inner", "leak.txt"), `token=${SECRET}\n`);
    await chmod(join(dir, "outer", "inner"), mode);
    return dir;
  }

  /**
   * checkTree of `dir` in a process of this runtime that runs as root but without root's right
   * to read what its mode forbids (no CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as a test run by
   * an ordinary user would: what it printed.
   */
  async function scanWithoutOverride(dir: string): Promise<string> {
    const script = join(workDir, "scan.ts");
    await writeFile(
      script,
      `import process from "node:process";
import { SecretScanner } from ${JSON.stringify(join(ROOT, "tests", "fixtures", "harness.ts"))};
const scanner = new SecretScanner();
scanner.add(process.env.SCAN_SECRET ?? "");
try {
  await scanner.checkTree(process.argv.at(-1) ?? "");
  console.log("scanned: no secret found");
} catch (error) {
  console.log(\`failed: \${(error as Error).message}\`);
}
`,
    );
    const runtimeArgs = runtime() === "deno" ? ["run", "-A", "--no-config", script] : [script];
    const result = await run(requireTool("setpriv"), [
      "--bounding-set=-dac_override,-dac_read_search",
      runtimeExecutable(),
      ...runtimeArgs,
      dir,
    ], { env: { SCAN_SECRET: SECRET } });
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  }

  it("finds a secret in any file of the tree, and wants files allowed one to be private", async () => {
    const scanner = new SecretScanner();
    scanner.add(SECRET);
    const dir = await treeWithSecret("readable");
    // A link back to the tree's top (as a symlinked cache folder can make) and one to nothing.
    await symlink(dir, join(dir, "outer", "loop"));
    await symlink(join(dir, "gone"), join(dir, "outer", "dangling"));
    await assert.rejects(scanner.checkTree(dir), /a secret \(scan…\) appeared in .*leak\.txt/);
    const leak = join(dir, "outer", "inner", "leak.txt");
    await chmod(leak, 0o644);
    await assert.rejects(
      scanner.checkTree(dir, (path) => path === leak),
      /leak\.txt holds a secret and must be private/,
    );
    await chmod(leak, 0o600);
    await scanner.checkTree(dir, (path) => path === leak);
  });

  it("fails on a folder that does not exist, rather than pass it", async () => {
    const scanner = new SecretScanner();
    scanner.add(SECRET);
    await assert.rejects(scanner.checkTree(join(workDir, "no-such-folder")), /ENOENT/);
  });

  it("fails on a folder it cannot read, open or enter, rather than pass it", {
    timeout: 60_000,
  }, async () => {
    // First the same tree, readable: the scan without the override does find the secret.
    assert.match(
      await scanWithoutOverride(await treeWithSecret("control")),
      /^failed: a secret \(scan…\) appeared in .*leak\.txt$/,
    );
    const cases: [string, string][] = [
      ["a folder it cannot open (0000)", await treeWithSecret("closed", 0o000)],
      ["a folder it can list but not enter (0444)", await treeWithSecret("unentered", 0o444)],
      ["a top folder it cannot open", join(await treeWithSecret("top"), "outer", "inner")],
    ];
    await chmod(join(workDir, "top", "outer", "inner"), 0o000);
    for (const [what, dir] of cases) {
      assert.match(await scanWithoutOverride(dir), /^failed: .*(EACCES|permission denied)/i, what);
    }
  });
});
