// Unit tests of the library's pure parts: registry references, API base URLs, credential
// resolution from explicit files, redaction and the error classes.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, assert, before, describe, it } from "./deps.ts";
import { seeded } from "./fixtures/common.ts";
import { sha256Hex } from "../src/runtime.ts";
import { simpleDotenv } from "../src/settings.ts";
import {
  apiBaseUrl,
  ApiError,
  AuthenticationError,
  ConfigError,
  CredentialsNotFoundError,
  DEFAULT_REGION,
  parseRegistry,
  redact,
  REGIONS,
  registryHost,
  resolveCredentials,
  SauceRegistryError,
  TimeoutError,
  ToolError,
  UsageError,
} from "../mod.ts";
import { credentialsSettingName } from "../src/credentials.ts";
import type { CredentialSource } from "../src/settings.ts";

/** Asserts that `work` throws a UsageError (exit code 2) with a one-line message; returns it. */
function assertUsageError(work: () => unknown, what: string): UsageError {
  let caught: unknown;
  try {
    const result = work();
    assert.fail(`${what}: expected a UsageError, got ${JSON.stringify(result)}`);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `${what}: expected a UsageError, got ${caught}`);
  assert.equal(caught.exitCode, 2, what);
  assert.ok(!caught.message.includes("\n"), `${what}: the message is one line`);
  return caught;
}

describe("parseRegistry and registryHost", () => {
  it("take the host of a Sauce registry URL with or without scheme, slash, port or capitals", () => {
    const cases: [string, string, string][] = [
      [
        "registry.example.com/your-private-registry",
        "registry.example.com",
        "registry.example.com/your-private-registry",
      ],
      [
        "https://registry.example.com/your-private-registry",
        "registry.example.com",
        "registry.example.com/your-private-registry",
      ],
      [
        "https://registry.example.com/your-private-registry/",
        "registry.example.com",
        "registry.example.com/your-private-registry",
      ],
      [
        "registry.example.com/your-private-registry//",
        "registry.example.com",
        "registry.example.com/your-private-registry",
      ],
      [
        "http://registry.example.com:8443/team",
        "registry.example.com:8443",
        "registry.example.com:8443/team",
      ],
      ["HTTPS://Registry.Example.COM/team", "registry.example.com", "registry.example.com/team"],
      ["registry.example.com", "registry.example.com", "registry.example.com"],
      ["  registry.example.com/team  ", "registry.example.com", "registry.example.com/team"],
    ];
    for (const [input, host, registryUrl] of cases) {
      const reference = parseRegistry(input);
      assert.equal(reference.host, host, input);
      assert.equal(reference.registryUrl, registryUrl, input);
      assert.equal(registryHost(input), host, input);
    }
  });

  it("takes image references apart into host, path, tag and digest", () => {
    const digest = `sha256:${"ab12".repeat(16)}`;
    assert.deepEqual(parseRegistry("registry.example.com/team/app:1.2"), {
      host: "registry.example.com",
      registryUrl: "registry.example.com/team/app",
      path: "team/app",
      tag: "1.2",
    });
    assert.deepEqual(parseRegistry(`registry.example.com/team/app@${digest}`), {
      host: "registry.example.com",
      registryUrl: "registry.example.com/team/app",
      path: "team/app",
      digest,
    });
    assert.deepEqual(parseRegistry(`registry.example.com:5000/team/app:1.2@${digest}`), {
      host: "registry.example.com:5000",
      registryUrl: "registry.example.com:5000/team/app",
      path: "team/app",
      tag: "1.2",
      digest,
    });
  });

  it("accepts an IPv6 address with a port, localhost:5000 and a single label with a port", () => {
    assert.equal(registryHost("[::1]:5000/team/app:1"), "[::1]:5000");
    assert.equal(registryHost("https://[FE80::1]:443/team"), "[fe80::1]:443");
    assert.equal(registryHost("localhost:5000/team/app"), "localhost:5000");
    assert.equal(registryHost("localhost"), "localhost");
    assert.equal(registryHost("127.0.0.1:5000"), "127.0.0.1:5000");
    assert.equal(registryHost("ubuntu:5000/x"), "ubuntu:5000");
  });

  it("rejects malformed input with a one-line UsageError that says what was expected", () => {
    const rejected = [
      "",
      "   ",
      "registry.example.com/your private registry",
      "registry.example.com/team\tapp",
      "ftp://registry.example.com/team",
      "user@registry.example.com/team",
      "https://user:secret@registry.example.com/team",
      "ubuntu",
      "ubuntu:latest",
      "registry.example.com:70000/team",
      "registry.example.com:0/team",
      "registry.example.com/team?x=1",
      "registry.example.com/team#frag",
      "registry.example.com/:1.0",
      "registry.example.com/@sha256:0123456789abcdef0123456789abcdef",
      "registry.example.com/team/app@sha256:xyz",
      "registry.example.com/team/app@notadigest",
      "registry.example.com/team/app:bad:tag",
      "registry.example.com/Team/App",
      "registry.example.com/team//app",
      "-registry.example.com/team",
      "registry..example.com/team",
      "/team/app",
      "https://",
    ];
    for (const input of rejected) {
      const error = assertUsageError(() => parseRegistry(input), JSON.stringify(input));
      assert.match(error.message, /expected/, input);
      assert.equal(error.name, "UsageError");
      assertUsageError(() => registryHost(input), JSON.stringify(input));
    }
  });

  it("never echoes a password given in user:password@host form", () => {
    const error = assertUsageError(
      () => parseRegistry("https://user:hunter2-secret@registry.example.com/team"),
      "credentials in the URL",
    );
    assert.ok(!error.message.includes("hunter2-secret"), error.message);
  });

  it("keeps a control character out of its message", () => {
    const error = assertUsageError(() => parseRegistry("registry\x1b[31m.example.com"), "escape");
    assert.ok(!error.message.includes("\x1b"), JSON.stringify(error.message));
  });

  it("refuses a host with a non-ASCII character, even one that lower-cases to ASCII", () => {
    // "\u212A" (KELVIN SIGN) lower-cases to "k": a check made after toLowerCase() let it through.
    const characters = [
      "\u212A", // KELVIN SIGN, lower-cases to "k"
      "\u0130", // LATIN CAPITAL LETTER I WITH DOT ABOVE, lower-cases to "i" + U+0307
      "\u017F", // LATIN SMALL LETTER LONG S, upper-cases to "S"
      "\u0435", // CYRILLIC SMALL LETTER IE, looks like "e"
      "\uFF45", // FULLWIDTH LATIN SMALL LETTER E
      "\u00DF", // LATIN SMALL LETTER SHARP S
      "\u{1D41E}", // MATHEMATICAL BOLD SMALL E, outside the BMP
    ];
    for (const character of characters) {
      const shown = `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
      for (
        const input of [
          `${character}registry.example.com`,
          `https://regi${character}try.example.com/team/app:1.0`,
          `registry.example.com${character}:5000/team`,
          `${character}:5000/team`,
        ]
      ) {
        const error = assertUsageError(() => parseRegistry(input), `${shown} in ${input}`);
        assert.match(error.message, /not an ASCII letter/, input);
        assert.ok(error.message.includes(`(${shown})`), `${shown}: ${error.message}`);
        assertUsageError(() => registryHost(input), `${shown} in ${input}`);
      }
    }
  });

  it("refuses every character that lower-cases to ASCII without being ASCII", () => {
    let found = 0;
    for (let code = 0x80; code <= 0x10ffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      const character = String.fromCodePoint(code);
      // deno-lint-ignore no-control-regex
      if (!/^[\x00-\x7f]+$/.test(character.toLowerCase())) continue;
      found++;
      assertUsageError(
        () => parseRegistry(`re${character}g.example.com`),
        `U+${code.toString(16)}`,
      );
    }
    // Unicode has at least the KELVIN SIGN; none found means the search itself is broken.
    assert.ok(found >= 1, `found ${found}`);
  });

  it("either returns a plain lower-case host or throws a UsageError, for 2000 generated inputs", () => {
    const random = seeded(0x5a0c_e2e9);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    const hostPattern = /^[a-z0-9.\-\[\]:]+$/;
    let accepted = 0;
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const input = random() < 0.6 ? plausibleReference(random, pick) : garbage(random, pick);
      const first = outcome(input);
      const second = outcome(input);
      assert.deepEqual(
        second,
        first,
        `the same input gives the same answer: ${JSON.stringify(input)}`,
      );
      if (first.kind === "host") {
        accepted++;
        assert.match(first.host, hostPattern, `host of ${JSON.stringify(input)}`);
        assert.equal(registryHost(input), first.host);
        assert.ok(
          first.registryUrl === first.host || first.registryUrl.startsWith(`${first.host}/`),
          `registryUrl of ${JSON.stringify(input)} starts with its host`,
        );
      } else {
        rejected++;
      }
    }
    // Both sides of the property were exercised, or the generator is broken.
    assert.ok(accepted >= 150, `accepted ${accepted}`);
    assert.ok(rejected >= 300, `rejected ${rejected}`);
  });
});

type Outcome =
  | { kind: "host"; host: string; registryUrl: string }
  | { kind: "usage"; message: string };

function outcome(input: string): Outcome {
  try {
    const { host, registryUrl } = parseRegistry(input);
    return { kind: "host", host, registryUrl };
  } catch (error) {
    assert.ok(
      error instanceof UsageError,
      `only UsageError may escape, got ${error} for ${JSON.stringify(input)}`,
    );
    assert.equal(error.exitCode, 2);
    assert.ok(!error.message.includes("\n"));
    return { kind: "usage", message: error.message };
  }
}

function plausibleReference(random: () => number, pick: <T>(items: readonly T[]) => T): string {
  const label = () => {
    const letters = "abcdefghijklmnopqrstuvwxyz0123456789";
    let text = "";
    const length = 1 + Math.floor(random() * 8);
    for (let i = 0; i < length; i++) text += pick([...letters]);
    // Now and then a capital, or a hyphen that may land where it is not allowed.
    if (random() < 0.1) text = text.toUpperCase();
    if (random() < 0.1) text = pick([`${text}-x`, `-${text}`, `${text}-`]);
    return text;
  };
  const host = pick([
    () => `${label()}.${label()}`,
    () => `${label()}.${label()}.${pick(["com", "io", "net", "LOCAL"])}`,
    () => "localhost",
    () => label(),
    () => pick(["[::1]", "[fe80::1]", "[2001:DB8::5]", "[::]", "[zz::1]"]),
    () => `${Math.floor(random() * 300)}.${Math.floor(random() * 300)}.0.1`,
  ])();
  const port = random() < 0.4
    ? `:${pick(["5000", "443", "0", "65535", "65536", "70000", "08080", "x"])}`
    : "";
  const segments: string[] = [];
  const count = Math.floor(random() * 4);
  for (let i = 0; i < count; i++) {
    segments.push(pick([label(), "team", "app_1", "a.b", "A", "x--y"]));
  }
  const path = segments.length > 0 ? `/${segments.join("/")}` : "";
  const tag = random() < 0.3 ? `:${pick(["1.2", "latest", "-bad", "v1_0", ""])}` : "";
  const digest = random() < 0.15
    ? `@${pick([`sha256:${"0f".repeat(32)}`, "sha256:short", "md5", `sha512:${"a".repeat(128)}`])}`
    : "";
  const scheme = pick([
    "",
    "",
    "",
    "https://",
    "https://",
    "http://",
    "HTTPS://",
    "ftp://",
    "oci://",
  ]);
  const trailing = pick(["", "", "", "", "/", "/", "//", " ", "?q=1", "#x"]);
  const user = random() < 0.05 ? "user@" : "";
  return `${scheme}${user}${host}${port}${path}${tag}${digest}${trailing}`;
}

function garbage(random: () => number, pick: <T>(items: readonly T[]) => T): string {
  const alphabet = [
    ..."abcXYZ019:/@.-_[]?#%~!$&'()*+,;= \t\n\\\"`^{}|<>",
    "\u0000",
    "\u001b",
    "\u00e9",
    "\u2603",
    "\ud83d\ude00",
    "\u0130",
    "\u212a",
  ];
  let text = "";
  const length = Math.floor(random() * 40);
  for (let i = 0; i < length; i++) text += pick(alphabet);
  return text;
}

describe("apiBaseUrl", () => {
  it("maps each of the four regions to its API, us-west-1 by default", () => {
    assert.equal(apiBaseUrl("us-west-1"), "https://api.us-west-1.saucelabs.com");
    assert.equal(apiBaseUrl("us-east-4"), "https://api.us-east-4.saucelabs.com");
    assert.equal(apiBaseUrl("eu-central-1"), "https://api.eu-central-1.saucelabs.com");
    assert.equal(apiBaseUrl("staging"), "https://api.staging.saucelabs.net");
    assert.equal(apiBaseUrl(), "https://api.us-west-1.saucelabs.com");
    assert.equal(apiBaseUrl(""), "https://api.us-west-1.saucelabs.com");
    assert.equal(DEFAULT_REGION, "us-west-1");
    assert.deepEqual(Object.keys(REGIONS).sort(), [
      "eu-central-1",
      "staging",
      "us-east-4",
      "us-west-1",
    ]);
  });

  it("rejects an unknown region with a message that lists the regions", () => {
    for (const region of ["mars-1", "US-WEST-1", "constructor", "toString", "__proto__"]) {
      const error = assertUsageError(() => apiBaseUrl(region), region);
      for (const known of Object.keys(REGIONS)) assert.match(error.message, new RegExp(known));
      assert.match(error.message, /expected/);
    }
  });

  it("accepts an https URL, which wins over the region, without its trailing slash", () => {
    assert.equal(apiBaseUrl(undefined, "https://api.example.test/"), "https://api.example.test");
    assert.equal(
      apiBaseUrl("eu-central-1", "https://api.example.test"),
      "https://api.example.test",
    );
    assert.equal(
      apiBaseUrl(undefined, "https://proxy.example.test:8443/sauce//"),
      "https://proxy.example.test:8443/sauce",
    );
  });

  it("accepts plain http only for loopback hosts", () => {
    assert.equal(apiBaseUrl(undefined, "http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
    assert.equal(apiBaseUrl(undefined, "http://localhost:3000"), "http://localhost:3000");
    assert.equal(apiBaseUrl(undefined, "http://[::1]:9000/"), "http://[::1]:9000");
    for (
      const url of [
        "http://example.com",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com:80",
        "http://10.0.0.1",
      ]
    ) {
      const error = assertUsageError(() => apiBaseUrl(undefined, url), url);
      assert.match(error.message, /https/);
    }
  });

  it("rejects URLs with credentials, other schemes and text that is not a URL", () => {
    const withCredentials = assertUsageError(
      () => apiBaseUrl(undefined, "https://alice:topsecret-key@api.example.test"),
      "credentials",
    );
    assert.ok(!withCredentials.message.includes("topsecret-key"), withCredentials.message);
    assertUsageError(() => apiBaseUrl(undefined, "https://alice@api.example.test"), "username");
    assertUsageError(() => apiBaseUrl(undefined, "ftp://api.example.test"), "ftp");
    assertUsageError(() => apiBaseUrl(undefined, "api.example.test"), "no scheme");
    assertUsageError(() => apiBaseUrl(undefined, "not a url"), "not a url");
  });
});

describe("resolveCredentials from explicit files", () => {
  const saved: Record<string, string | undefined> = {};
  let dir: string;
  let emptyEnv: string;
  let noSaucectl: string;

  before(async () => {
    // The outer environment wins over files; take it out of the way for these tests.
    for (const name of ["SAUCE_USERNAME", "SAUCE_ACCESS_KEY"]) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
    dir = await mkdtemp(join(tmpdir(), "sr-unit-"));
    emptyEnv = join(dir, "empty.env");
    await writeFile(emptyEnv, "");
    noSaucectl = join(dir, "missing-credentials.yml");
  });

  after(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value !== undefined) process.env[name] = value;
    }
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  it("reads both values from a .env file, quotes and comments handled", async () => {
    const envFile = await file(
      "quoted.env",
      "# Sauce\nSAUCE_USERNAME=\"dot user\"\nSAUCE_ACCESS_KEY='dot-key-123' # trailing\n",
    );
    const credentials = await resolveCredentials({ envFile, saucectlFile: noSaucectl });
    assert.deepEqual(credentials, {
      username: "dot user",
      accessKey: "dot-key-123",
      usernameSource: ".env file",
      accessKeySource: ".env file",
      settingName: `SAUCE_USERNAME and SAUCE_ACCESS_KEY in ${envFile}`,
    });
  });

  it("reads saucectl's credentials.yml when nothing else has them", async () => {
    const saucectlFile = await file(
      "credentials.yml",
      'username: "yaml-user"\naccessKey: yaml-key-456   # from saucectl configure\nregion: eu\n',
    );
    const credentials = await resolveCredentials({ envFile: emptyEnv, saucectlFile });
    assert.deepEqual(credentials, {
      username: "yaml-user",
      accessKey: "yaml-key-456",
      usernameSource: "saucectl",
      accessKeySource: "saucectl",
      settingName: `the username and access key in ${saucectlFile}`,
    });
  });

  it("takes each value from the first place that has it: flags, then .env, then saucectl", async () => {
    const envFile = await file("user-only.env", "SAUCE_USERNAME=env-file-user\n");
    const saucectlFile = await file(
      "both.yml",
      "username: yaml-user\naccessKey: yaml-key-456\n",
    );
    const mixed = await resolveCredentials({ envFile, saucectlFile });
    assert.equal(mixed.username, "env-file-user");
    assert.equal(mixed.usernameSource, ".env file");
    assert.equal(mixed.accessKey, "yaml-key-456");
    assert.equal(mixed.accessKeySource, "saucectl");
    assert.equal(
      mixed.settingName,
      `the username (SAUCE_USERNAME in ${envFile}) and the access key (${saucectlFile})`,
    );

    const flagged = await resolveCredentials({
      username: "flag-user",
      accessKey: "stdin-key-789",
      envFile,
      saucectlFile,
    });
    assert.deepEqual(flagged, {
      username: "flag-user",
      accessKey: "stdin-key-789",
      usernameSource: "flag",
      accessKeySource: "stdin",
      settingName: "the username (--username) and the access key (standard input)",
    });
  });

  it("names credentials from the environment as the variables, and the default files as such", () => {
    const names: [CredentialSource, CredentialSource, string][] = [
      ["environment", "environment", "SAUCE_USERNAME and SAUCE_ACCESS_KEY"],
      [".env file", ".env file", "SAUCE_USERNAME and SAUCE_ACCESS_KEY in ./.env"],
      ["saucectl", "saucectl", "the username and access key in ~/.sauce/credentials.yml"],
      ["environment", "stdin", "the username (SAUCE_USERNAME) and the access key (standard input)"],
    ];
    for (const [username, accessKey, expected] of names) {
      assert.equal(credentialsSettingName(username, accessKey), expected);
    }
  });

  it("says what is missing, without any value it found, when a credential is found nowhere", async () => {
    const envFile = await file("key-only.env", "SAUCE_ACCESS_KEY=lonely-key-000\n");
    let error = await captureRejection(resolveCredentials({ envFile, saucectlFile: noSaucectl }));
    assert.ok(error instanceof CredentialsNotFoundError, String(error));
    assert.ok(!(error instanceof UsageError), "not a usage error");
    assert.equal(error.exitCode, 2);
    assert.deepEqual(error.missing, ["username"]);
    assert.deepEqual(error.lookedIn, [
      "the flags",
      "SAUCE_USERNAME and SAUCE_ACCESS_KEY in the environment",
      envFile,
      noSaucectl,
    ]);
    assert.match(error.message, /No Sauce Labs username found/);
    assert.ok(!error.message.includes("lonely-key-000"), error.message);

    error = await captureRejection(
      resolveCredentials({ envFile: emptyEnv, saucectlFile: noSaucectl }),
    );
    assert.ok(error instanceof CredentialsNotFoundError, String(error));
    assert.match(error.message, /username and access key/);
  });

  it("refuses an explicit .env file that does not exist", async () => {
    const error = await captureRejection(
      resolveCredentials({ envFile: join(dir, "nope.env"), saucectlFile: noSaucectl }),
    );
    assert.ok(error instanceof UsageError, String(error));
    assert.match(error.message, /nope\.env/);
  });

  it("does not read saucectl's file when flags and .env already have both values", async () => {
    const envFile = await file("both.env", "SAUCE_USERNAME=u1\nSAUCE_ACCESS_KEY=k1-abc\n");
    // A folder cannot be read as a file: reading it would reject.
    const credentials = await resolveCredentials({ envFile, saucectlFile: dir });
    assert.equal(credentials.username, "u1");
    assert.equal(credentials.accessKey, "k1-abc");
  });
});

describe("saucectl's credentials.yml", () => {
  let dir: string;
  const saved: Record<string, string | undefined> = {};

  before(async () => {
    for (const name of ["SAUCE_USERNAME", "SAUCE_ACCESS_KEY"]) {
      saved[name] = process.env[name];
      delete process.env[name];
    }
    dir = await mkdtemp(join(tmpdir(), "sr-saucectl-"));
  });

  after(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value !== undefined) process.env[name] = value;
    }
    await rm(dir, { recursive: true, force: true });
  });

  let count = 0;
  async function fromYaml(text: string) {
    const saucectlFile = join(dir, `credentials-${count++}.yml`);
    await writeFile(saucectlFile, text);
    return { saucectlFile, read: resolveCredentials({ envFile: false, saucectlFile }) };
  }

  it("reads quoted values (escapes included) and drops comments", async () => {
    const cases: [string, string, string][] = [
      ['username: "x" # comment\naccessKey: k-1\n', "x", "k-1"],
      [
        "username: 'o''brien' # c\naccessKey: 'k # not a comment'\n",
        "o'brien",
        "k # not a comment",
      ],
      [
        'username: "tab\\tq\\"u\\\\s\\u00e9\\x41\\U0001F600"\naccessKey: "a#b"\n',
        'tab\tq"u\\s\u00e9A\u{1F600}',
        "a#b",
      ],
      [
        "\uFEFF---\r\n# saucectl\r\nusername: plain-user  # trailing\r\naccessKey: key#1\r\n",
        "plain-user",
        "key#1",
      ],
      ["username:   spaced   \naccessKey:\tk-2\nregion: eu-central-1\n", "spaced", "k-2"],
    ];
    for (const [text, username, accessKey] of cases) {
      const credentials = await (await fromYaml(text)).read;
      assert.equal(credentials.username, username, JSON.stringify(text));
      assert.equal(credentials.accessKey, accessKey, JSON.stringify(text));
      assert.equal(credentials.accessKeySource, "saucectl");
    }
  });

  it("refuses what it does not parse, naming the file and the line", async () => {
    const cases: [string, number, RegExp][] = [
      ["username: u\naccessKey: >-\n  folded-key\n", 2, /block scalars/],
      ["username: u\naccessKey: |\n  literal-key\n", 2, /block scalars/],
      ["username: &who u\naccessKey: k\n", 1, /anchors/],
      ["username: *who\naccessKey: k\n", 1, /aliases/],
      ["username: !!str u\naccessKey: k\n", 1, /tags/],
      ["username: [u]\naccessKey: k\n", 1, /flow collections/],
      ["username: u\naccessKey: {k: v}\n", 2, /flow collections/],
      ['username: "u\naccessKey: k\n', 1, /not closed/],
      ['username: "u" extra\naccessKey: k\n', 1, /after the quoted value/],
      ['username: "\\q"\naccessKey: k\n', 1, /unknown escape/],
      ["credentials:\n  username: u\n", 2, /indented/],
      ["username: u\nusername: v\naccessKey: k\n", 2, /appears twice/],
      ["- username: u\n", 1, /not a key: value line/],
      ["username: a: b\naccessKey: k\n", 1, /quote it/],
    ];
    for (const [text, line, problem] of cases) {
      const { saucectlFile, read } = await fromYaml(text);
      const error = await captureRejection(read);
      assert.ok(error instanceof ConfigError, `${JSON.stringify(text)}: ${error}`);
      assert.equal(error.path, saucectlFile);
      assert.ok(error.message.includes(saucectlFile), error.message);
      assert.match(error.message, new RegExp(`line ${line}: `), JSON.stringify(text));
      assert.match(error.message, problem, JSON.stringify(text));
      assert.ok(!/folded-key|literal-key/.test(error.message), error.message);
      assert.ok(!error.message.includes("\n"), "one line");
    }
  });
});

async function captureRejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

describe("redact", () => {
  it("replaces every occurrence of every secret", () => {
    assert.equal(
      redact("key=abc123 again abc123, token xyz789", ["abc123", "xyz789"]),
      "key=*** again ***, token ***",
    );
  });

  it("ignores empty, missing and very short secrets instead of mangling the text", () => {
    assert.equal(redact("a normal sentence", ["", undefined, "a"]), "a normal sentence");
  });

  it("leaves text without secrets untouched", () => {
    const text = "nothing secret here: status 500";
    assert.equal(redact(text, ["hunter22"]), text);
  });

  it("removes a secret containing characters that are special in regular expressions", () => {
    assert.equal(redact("p=a.b*c+(d)$ end", ["a.b*c+(d)$"]), "p=*** end");
    assert.equal(redact("p=aXbbc end", ["a.b*c+(d)$"]), "p=aXbbc end");
  });
});

describe("error classes", () => {
  it("carry the exit code, name and base class the command line relies on", () => {
    const cause = new Error("underlying");
    const cases: [SauceRegistryError, string, number][] = [
      [new SauceRegistryError("base"), "SauceRegistryError", 1],
      [new UsageError("usage", { cause }), "UsageError", 2],
      [new ApiError("api", { status: 500 }), "ApiError", 1],
      [new AuthenticationError("auth", { status: 401 }), "AuthenticationError", 3],
      [new TimeoutError("timeout"), "TimeoutError", 124],
      [new ToolError("docker", "tool", { toolExitCode: 7 }), "ToolError", 1],
      [new ConfigError("/x/config.json", "broken"), "ConfigError", 1],
    ];
    for (const [error, name, exitCode] of cases) {
      assert.ok(error instanceof SauceRegistryError, name);
      assert.ok(error instanceof Error, name);
      assert.equal(error.name, name);
      assert.equal(error.exitCode, exitCode, name);
    }
    assert.equal(new SauceRegistryError("custom", { exitCode: 130 }).exitCode, 130);
  });

  it("expose typed fields: status, timedOut, tool, toolExitCode, path and cause", () => {
    const cause = new Error("socket hang up");
    const api = new ApiError("api", { status: 503, cause });
    assert.equal(api.status, 503);
    assert.equal(api.cause, cause);
    const auth = new AuthenticationError("auth", { status: 403 });
    assert.ok(auth instanceof ApiError);
    assert.equal(auth.status, 403);
    assert.equal(new ApiError("no answer").status, undefined);
    assert.equal(new TimeoutError("t").timedOut, true);
    const tool = new ToolError("podman", "podman login failed", { toolExitCode: 125 });
    assert.equal(tool.tool, "podman");
    assert.equal(tool.toolExitCode, 125);
    const config = new ConfigError("/home/u/.docker/config.json", "not valid JSON at line 1");
    assert.equal(config.path, "/home/u/.docker/config.json");
    assert.match(config.message, /^Cannot use \/home\/u\/\.docker\/config\.json: not valid JSON/);
    assert.equal(new UsageError("u").cause, undefined);
  });
});

describe("sha256Hex, which names the token cache's files", () => {
  it("gives NIST's answers for the FIPS 180-4 examples", () => {
    const vectors: [string, string][] = [
      ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
      ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
      [
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      ],
      ["a".repeat(1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"],
    ];
    for (const [text, digest] of vectors) assert.equal(sha256Hex(text), digest, text.slice(0, 10));
  });

  it("agrees with WebCrypto on every length around the block edges and on any UTF-8", async () => {
    const texts = Array.from({ length: 140 }, (_, length) => "é€x".repeat(length).slice(0, length));
    texts.push(
      "🔑".repeat(33),
      JSON.stringify(["https://api", "alice", "key:with\nodd", "r.io/x"]),
    );
    for (const text of texts) {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      const expected = Array.from(
        new Uint8Array(digest),
        (byte) => byte.toString(16).padStart(2, "0"),
      )
        .join("");
      assert.equal(sha256Hex(text), expected, JSON.stringify(text));
    }
  });
});

describe("simpleDotenv, the .env reader of the hot path", () => {
  it("reads plain files exactly as node:util's parseEnv does, and leaves the rest to it", async () => {
    const { parseEnv } = await import("node:util");
    const plain = [
      "",
      "SAUCE_USERNAME=alice\nSAUCE_ACCESS_KEY=0123-abcd\n",
      "# a comment\nA=1\n\nB=\nC=x=y==\r\nD=https://api.example.com:8443/v1\n",
      "K=a.b_c-d:e/f@g+h%i,j\n#end",
      "A=1\nA=2\n",
    ];
    for (const text of plain) {
      assert.deepEqual(simpleDotenv(text), { ...parseEnv(text) }, JSON.stringify(text));
    }
    const others = [
      'A="quoted value"',
      "A='single'",
      "A=with space",
      "A=x # trailing comment",
      "export A=1",
      " A=1",
      "A =1",
      "A=$HOME",
      "A=`cmd`",
      'A="multi\nline"',
      "not a line",
      "1A=x",
    ];
    for (const text of others) assert.equal(simpleDotenv(text), undefined, JSON.stringify(text));
  });
});
