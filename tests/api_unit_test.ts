// The token client (fetchToken, src/api.ts) in process, its `fetch` and clock injected as
// docker-credential-gcr injects its token sources: retries and their backoff, Retry-After, what
// each status means and says, answers of the wrong shape, redirects, and the clock skew between
// this machine and Sauce Labs, each seen without a server and without waiting. The same client
// against real HTTP is in api_test.ts and faults_test.ts.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { assert, describe, it } from "./deps.ts";
import { rejection } from "./fixtures/common.ts";
import { fetchToken, type FetchTokenOptions, type TokenProgress } from "../src/api.ts";
import { ApiError, AuthenticationError, SauceRegistryError } from "../src/errors.ts";

const KEY = "alice-access-key-0123456789";
const REGISTRY_URL = "registry.example.com/your-private-registry";
const TOKEN_URL =
  "https://api.us-west-1.saucelabs.com/v1alpha1/hosted/container-registry/authorization-token";
/** This machine's clock in every test: a whole second, as HTTP dates count. */
const NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** An RFC 3339 time as Sauce Labs writes `expires_at`. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

/** One answer of the fake API, made anew for each request (a body is read once). */
type Answer = () => Response;

/** A token answer: `expires_at` at `expiresAt`, and the headers given (such as `Date`). */
function tokenAnswer(expiresAt = NOW + 5 * MINUTE, headers: Record<string, string> = {}): Answer {
  return () =>
    Response.json(
      {
        username: "oauth2accesstoken",
        password: "registry-password",
        expires_at: rfc3339(expiresAt),
      },
      { headers },
    );
}

/** An answer with this status, body and headers. */
function answer(status: number, body = "", headers: Record<string, string> = {}): Answer {
  return () => new Response(status === 204 || status === 304 ? null : body, { status, headers });
}

/** A 200 answer with this body as it is. */
function body(text: string): Answer {
  return answer(200, text, { "content-type": "application/json" });
}

/** What a connection that fails looks like to fetch's caller. */
function connectionError(message: string): Error {
  return new TypeError(`error sending request for url (${TOKEN_URL}): ${message}`);
}

/**
 * A scripted Sauce API: the n-th request gets the n-th answer (the last one again after that), or
 * the n-th error thrown; every request is recorded.
 */
function fakeApi(...answers: (Answer | Error)[]) {
  const requests: { url: URL; init: RequestInit }[] = [];
  return {
    requests,
    fetch(url: URL, init: RequestInit): Promise<Response> {
      requests.push({ url, init });
      const next = answers[Math.min(requests.length, answers.length) - 1];
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next());
    },
  };
}

/** Options for alice with this fake API, this machine's clock at NOW, 1 ms backoff, 3 retries. */
function options(
  api: ReturnType<typeof fakeApi>,
  extra: Partial<FetchTokenOptions> = {},
): FetchTokenOptions {
  return {
    credentials: { username: "alice", accessKey: KEY },
    registryUrl: REGISTRY_URL,
    fetch: api.fetch,
    now: () => NOW,
    retries: 3,
    retryDelayMs: 1,
    ...extra,
  };
}

/** The error fetchToken fails with; it must never hold the access key. */
async function failure(
  api: ReturnType<typeof fakeApi>,
  extra: Partial<FetchTokenOptions> = {},
): Promise<ApiError> {
  const error = await rejection(fetchToken(options(api, extra)));
  assert.ok(error instanceof ApiError, `${error.name}: ${error.message}`);
  assert.ok(!error.message.includes(KEY), `the access key in: ${error.message}`);
  return error;
}

/**
 * The waits fetchToken announces before its retries; `cancelAtFirst` cancels it at the first one,
 * so that a long wait is seen without being waited for.
 */
function retryWaits(cancelAtFirst = false) {
  const waits: number[] = [];
  const controller = new AbortController();
  const onProgress = (progress: TokenProgress) => {
    if (progress.phase !== "retry") return;
    waits.push(progress.delayMs);
    if (cancelAtFirst) controller.abort(new Error("seen the wait"));
  };
  return { waits, onProgress, signal: controller.signal };
}

describe("fetchToken's request, in process", () => {
  it("posts the registry URL to the token path with Basic auth and refuses to follow redirects", async () => {
    const api = fakeApi(tokenAnswer());
    const token = await fetchToken(options(api));
    assert.equal(token.password, "registry-password");
    assert.equal(token.registryUrl, REGISTRY_URL);
    assert.equal(api.requests.length, 1);
    const [{ url, init }] = api.requests;
    assert.equal(url.href, TOKEN_URL);
    assert.equal(init.method, "POST");
    assert.equal(init.redirect, "manual");
    assert.deepEqual(JSON.parse(String(init.body)), { registry_url: REGISTRY_URL });
    const headers = new Headers(init.headers);
    assert.equal(headers.get("authorization"), `Basic ${btoa(`alice:${KEY}`)}`);
    assert.equal(headers.get("content-type"), "application/json");
  });
});

describe("fetchToken's retries, in process", () => {
  it("retries 5xx and 429 with a backoff that doubles, then answers the token", async () => {
    const api = fakeApi(answer(503), answer(429), answer(500), tokenAnswer());
    const { waits, onProgress } = retryWaits();
    const token = await fetchToken(options(api, { onProgress }));
    assert.equal(token.password, "registry-password");
    assert.equal(api.requests.length, 4);
    assert.deepEqual(waits, [1, 2, 4]);
  });

  it("retries a connection that fails, and names the problem in a few words when it keeps failing", async () => {
    const api = fakeApi(connectionError("Connection refused (os error 111)"));
    const error = await failure(api);
    assert.equal(api.requests.length, 4, "the first attempt and 3 retries");
    assert.equal(error.status, undefined);
    assert.equal(
      error.message,
      "Cannot reach Sauce Labs at https://api.us-west-1.saucelabs.com: connection refused (4 attempts)",
    );
  });

  it("gives up after the retries with the last status and how many attempts it made", async () => {
    const api = fakeApi(answer(502, "Bad Gateway"));
    const error = await failure(api);
    assert.equal(api.requests.length, 4);
    assert.equal(error.status, 502);
    assert.equal(
      error.message,
      "Cannot fetch registry token: Sauce Labs answered 502: Bad Gateway (4 attempts)",
    );
  });

  it("makes one attempt with retries: 0, and says nothing of attempts", async () => {
    const api = fakeApi(answer(503));
    const error = await failure(api, { retries: 0 });
    assert.equal(api.requests.length, 1);
    assert.equal(error.message, "Cannot fetch registry token: Sauce Labs answered 503");
  });

  it("waits as long as Retry-After says in seconds instead of its own backoff", async () => {
    const api = fakeApi(answer(429, "", { "retry-after": "2" }), tokenAnswer());
    const { waits, onProgress, signal } = retryWaits(true);
    const error = await rejection(fetchToken(options(api, { onProgress, signal })));
    assert.ok(error instanceof SauceRegistryError && error.message === "Cancelled", error.message);
    assert.deepEqual(waits, [2_000]);
  });

  it("counts a Retry-After date from this machine's clock", async () => {
    const api = fakeApi(
      answer(503, "", { "retry-after": new Date(NOW + 3_000).toUTCString() }),
      tokenAnswer(),
    );
    const { waits, onProgress, signal } = retryWaits(true);
    await rejection(fetchToken(options(api, { onProgress, signal })));
    assert.deepEqual(waits, [3_000]);
  });

  it("waits at most 30 s, whatever Retry-After asks", async () => {
    const api = fakeApi(answer(503, "", { "retry-after": "3600" }), tokenAnswer());
    const { waits, onProgress, signal } = retryWaits(true);
    await rejection(fetchToken(options(api, { onProgress, signal })));
    assert.deepEqual(waits, [30_000]);
  });

  it("falls back to its own backoff for a Retry-After that is not a time", async () => {
    const api = fakeApi(answer(503, "", { "retry-after": "soon" }), tokenAnswer());
    const { waits, onProgress } = retryWaits();
    await fetchToken(options(api, { onProgress }));
    assert.deepEqual(waits, [1]);
  });
});

describe("fetchToken's statuses and messages, in process", () => {
  it("takes 401 for the username or access key, naming the API's region and the other regions", async () => {
    const api = fakeApi(answer(401, '{"message":"Invalid credentials"}'));
    const error = await failure(api);
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.status, 401);
    assert.equal(api.requests.length, 1, "a refusal is not retried");
    assert.equal(
      error.message,
      "Sauce Labs at api.us-west-1.saucelabs.com (region us-west-1) refused the username or access key (401): Invalid credentials; check SAUCE_USERNAME and SAUCE_ACCESS_KEY, and the region: an account of us-east-4 or eu-central-1 needs --region (or SAUCE_REGION)",
    );
  });

  it("names no region for a 401 from an explicit API URL, and the settings as the caller calls them", async () => {
    const api = fakeApi(answer(401));
    const error = await failure(api, {
      apiUrl: "https://sauce.internal.example",
      settingNames: { credentials: "the sauce-username and sauce-access-key inputs" },
    });
    assert.equal(
      error.message,
      "Sauce Labs at sauce.internal.example (an explicit API URL) refused the username or access key (401); check the sauce-username and sauce-access-key inputs",
    );
  });

  it("names the credentials where they were set (their settingName), unless the caller names them", async () => {
    const credentials = {
      username: "alice",
      accessKey: "alice-key-0123",
      settingName: "the username (--username) and the access key (standard input)",
    };
    const named = await failure(fakeApi(answer(401)), { credentials });
    assert.match(
      named.message,
      /refused the username or access key \(401\); check the username \(--username\) and the access key \(standard input\), and the region: /,
    );
    const overridden = await failure(fakeApi(answer(401)), {
      credentials,
      settingNames: { credentials: "the action's username and access-key inputs" },
    });
    assert.match(overridden.message, /; check the action's username and access-key inputs, and/);
  });

  it("takes 403 for an organization not enrolled in the registry, and sends the user to support", async () => {
    const api = fakeApi(answer(403, '{"detail":"not enrolled"}'));
    const error = await failure(api);
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.status, 403);
    assert.equal(api.requests.length, 1);
    assert.equal(
      error.message,
      "Sauce Labs did not allow a registry token (403): not enrolled; your organization may not be enrolled in the Sauce Labs Container Registry: ask Sauce Labs support for registry access",
    );
  });

  it("takes 422 for a token Sauce Labs could not generate, without retrying", async () => {
    const api = fakeApi(answer(422, '{"message":"unknown registry"}'));
    const error = await failure(api);
    assert.ok(!(error instanceof AuthenticationError));
    assert.equal(error.status, 422);
    assert.equal(api.requests.length, 1);
    assert.equal(
      error.message,
      "Cannot fetch registry token: Sauce Labs could not generate a short-lived token (422): unknown registry",
    );
  });

  it("takes 500 for a token Sauce Labs could not generate, after retrying", async () => {
    const api = fakeApi(answer(500));
    const error = await failure(api);
    assert.equal(error.status, 500);
    assert.equal(api.requests.length, 4);
    assert.equal(
      error.message,
      "Cannot fetch registry token: Sauce Labs could not generate a short-lived token (500) (4 attempts)",
    );
  });

  it("does not retry 501, which no retry can change", async () => {
    const api = fakeApi(answer(501, "Not Implemented"));
    const error = await failure(api);
    assert.equal(error.status, 501);
    assert.equal(api.requests.length, 1);
    assert.equal(
      error.message,
      "Cannot fetch registry token: Sauce Labs answered 501: Not Implemented",
    );
  });

  it("shows an HTML error page by its title, and never the access key an answer echoes", async () => {
    const page = `<!DOCTYPE html><html><head><title>Service <b>Unavailable</b></title></head>` +
      `<body>key ${KEY}</body></html>`;
    const html = await failure(fakeApi(answer(400, page)));
    assert.equal(
      html.message,
      'Cannot fetch registry token: Sauce Labs answered 400: HTML page "Service Unavailable"',
    );
    const echoed = await failure(fakeApi(answer(400, `{"message":"bad key ${KEY}"}`)));
    assert.equal(
      echoed.message,
      "Cannot fetch registry token: Sauce Labs answered 400: bad key ***",
    );
  });
});

describe("fetchToken's checks of an answer, in process", () => {
  for (
    const [text, problem] of [
      ["not json", "Sauce Labs answered 200 with invalid JSON"],
      ["[]", "Sauce Labs answered 200 with JSON that is not an object"],
      ["null", "Sauce Labs answered 200 with JSON that is not an object"],
      ['"token"', "Sauce Labs answered 200 with JSON that is not an object"],
      [
        "{}",
        'the answer is not a token ("username" is missing, "password" is missing, "expires_at" is missing)',
      ],
      [
        '{"username":7,"password":"","expires_at":null}',
        'the answer is not a token ("username" is not a string, "password" is empty, "expires_at" is missing)',
      ],
    ] as const
  ) {
    it(`refuses ${text} as an answer, without retrying`, async () => {
      const api = fakeApi(body(text));
      const error = await failure(api);
      assert.equal(error.status, 200);
      assert.equal(api.requests.length, 1);
      assert.equal(error.message, `Cannot fetch registry token: ${problem}`);
    });
  }

  for (
    const expires of [
      "2030-02-30T12:00:00Z", // 30 February
      "2030-01-15T24:00:00Z", // a 25th hour
      "2030-13-01T12:00:00Z", // a 13th month
      "2030-01-15T12:60:00Z",
      "2030-01-15T12:00:00+24:00",
      "2030-01-15T12:00:00", // no time zone
      "2030-01-15", // no time
      "tomorrow",
    ]
  ) {
    it(`refuses an expires_at that names no time: ${expires}`, async () => {
      const api = fakeApi(
        body(JSON.stringify({ username: "u", password: "p", expires_at: expires })),
      );
      const error = await failure(api);
      assert.equal(
        error.message,
        `Cannot fetch registry token: "expires_at" is not an RFC 3339 time ("${expires}")`,
      );
    });
  }

  it("takes an expires_at with an offset or fractional seconds as the time it names", async () => {
    const api = fakeApi(
      body('{"username":"u","password":"p","expires_at":"2030-01-15T14:05:00.5+02:00"}'),
    );
    const token = await fetchToken(options(api));
    assert.equal(token.expiresAt.getTime(), NOW + 5 * MINUTE + 500);
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`refuses a ${status} redirect, naming where it pointed, without following it`, async () => {
      const api = fakeApi(answer(status, "", { location: "http://collector.example/steal?x=1" }));
      const error = await failure(api);
      assert.equal(error.status, status);
      assert.equal(api.requests.length, 1, "no second request, there or anywhere");
      assert.equal(
        error.message,
        `Cannot fetch registry token: https://api.us-west-1.saucelabs.com answered ${status} (a redirect to http://collector.example); redirects are refused, since the token endpoint never redirects: check the API URL`,
      );
    });
  }
});

describe("fetchToken and a clock that disagrees with Sauce Labs', in process", () => {
  const LIFETIME = 5 * MINUTE;

  it("keeps the token's lifetime when Sauce Labs' clock is an hour ahead of this machine's", async () => {
    const server = NOW + HOUR;
    const api = fakeApi(
      tokenAnswer(server + LIFETIME, { date: new Date(server).toUTCString() }),
    );
    const token = await fetchToken(options(api));
    assert.equal(token.expiresAt.getTime(), NOW + LIFETIME);
  });

  it("keeps the token's lifetime when Sauce Labs' clock is an hour behind, where it looks expired", async () => {
    const server = NOW - HOUR;
    const api = fakeApi(
      tokenAnswer(server + LIFETIME, { date: new Date(server).toUTCString() }),
    );
    const token = await fetchToken(options(api));
    assert.equal(token.expiresAt.getTime(), NOW + LIFETIME);
  });

  it("takes expires_at as it is when the clocks differ by less than 5 s, or no Date is given", async () => {
    for (
      const headers of [
        { date: new Date(NOW + 3_000).toUTCString() },
        {},
        { date: "yesterday" },
      ] as Record<string, string>[]
    ) {
      const api = fakeApi(tokenAnswer(NOW + LIFETIME, headers));
      const token = await fetchToken(options(api));
      assert.equal(token.expiresAt.getTime(), NOW + LIFETIME, JSON.stringify(headers));
    }
  });

  it("refuses a token that expired already by Sauce Labs' own clock, saying what that clock says", async () => {
    const server = NOW + HOUR;
    const api = fakeApi(tokenAnswer(server - 1_000, { date: new Date(server).toUTCString() }));
    const error = await failure(api);
    assert.equal(api.requests.length, 1);
    assert.equal(
      error.message,
      `Cannot fetch registry token: the token expired already (expires_at ${
        rfc3339(server - 1_000)
      }, and Sauce Labs' clock says ${new Date(server).toISOString()})`,
    );
  });

  it("refuses a token that expired by this machine's clock when no Date tells Sauce Labs'", async () => {
    const error = await failure(fakeApi(tokenAnswer(NOW - 1_000)));
    assert.match(error.message, /the token expired already .*; check this machine's clock\)$/);
  });
});
