// Kubernetes (issue 10): `kubelet-credential-provider` driven the way the kubelet drives an exec
// plugin, `token --format k8s-secret`, and the examples in examples/kubernetes/.
//
// No kubelet can run here (SPEC §8), so a kubelet stand-in does its part: it reads a
// CredentialProviderConfig, runs the provider found under its `name` in a bin dir with the
// config's `args` and `env` for images that match `matchImages`, feeds it a
// CredentialProviderRequest of the config's apiVersion, checks every rule of SPEC §8 on the
// answer, and then pulls the image from the real docker-registry with the answered login through
// skopeo and a 0600 auth file (never a password in argv). The Sauce API is the local stand-in.
//
// Each protocol test runs the provider two ways: the CLI under the runtime that runs the tests,
// and the standalone binary built as `deno task compile:bun` builds it.

import { Buffer } from "node:buffer";
import { chmod, link, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { shellQuote } from "./fixtures/common.ts";
import { DEFAULT_USERS, type StandIn, startStandIn, TOKEN_USERNAME } from "./fixtures/stand_in.ts";
import {
  buildOciImage,
  makeArgvRecorderShim,
  OnDemandServices,
  readShimCalls,
  requireTool,
  run,
  type RunResult,
} from "./fixtures/services.ts";
import {
  cliCommand,
  makeSandbox,
  ROOT,
  runCli,
  type Sandbox,
  SecretScanner,
  yamlDocuments,
} from "./fixtures/harness.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];
const API_VERSIONS = [
  "credentialprovider.kubelet.k8s.io/v1",
  "credentialprovider.kubelet.k8s.io/v1beta1",
  "credentialprovider.kubelet.k8s.io/v1alpha1",
] as const;
const PROVIDER_NAME = "sauce-registry";
const EXAMPLES = join(ROOT, "examples", "kubernetes");
/** Debian's python3 with python3-yaml parses the YAML (no npm dependency). */

// ---------------------------------------------------------------------------------------------
// What the kubelet knows: matchImages patterns, Go durations, its config and its exec plugin call
// ---------------------------------------------------------------------------------------------

// The kubelet's own matching, ported from its Go source (kubernetes/kubernetes
// pkg/credentialprovider/keyring.go: ParseSchemelessURL, SplitURL, URLsMatch, BasicDockerKeyring's
// Add and Lookup; pkg/credentialprovider/plugin/plugin.go: the answer's cache) and from what it
// leans on (Go's net/url.Parse, net.SplitHostPort and path/filepath.Match; the Docker reference
// parser that names the repository it asks for). Matching is case-sensitive throughout.

/** A login as a CredentialProviderResponse carries it. */
interface Login {
  username: string;
  password: string;
}

/** The ASCII characters Go's url.Parse lets through unescaped in a host. */
const GO_HOST_CHARACTER = /^[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]$/;

/** Go's url unescaping of one part (`host` or `path`): the decoded text, undefined where Go errs. */
function goUnescape(text: string, mode: "host" | "path"): string | undefined {
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let index = 0; index < text.length; index++) {
    const character = text[index];
    if (character === "%") {
      const hex = text.slice(index + 1, index + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      // In a host, only non-ASCII bytes (and %25 of a zone) may be escaped.
      if (mode === "host" && parseInt(hex[0], 16) < 8 && hex !== "25") return undefined;
      bytes.push(parseInt(hex, 16));
      index += 2;
      continue;
    }
    if (mode === "host" && character < "\x80" && !GO_HOST_CHARACTER.test(character)) {
      return undefined;
    }
    bytes.push(...encoder.encode(character));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Go's validOptionalPort: empty, or a colon and digits (none at all is allowed). */
function goValidOptionalPort(colonPort: string): boolean {
  return colonPort === "" || /^:[0-9]*$/.test(colonPort);
}

/**
 * Go's url.Parse of `scheme://authority/path?query#fragment`, as far as the kubelet reads it: the
 * host (with its port, as spelled) and the unescaped path; undefined where Go returns an error.
 */
function goParseUrl(raw: string): { host: string; path: string } | undefined {
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) return undefined;
  const hash = raw.indexOf("#");
  let rest = hash === -1 ? raw : raw.slice(0, hash);
  if (hash !== -1 && goUnescape(raw.slice(hash + 1), "path") === undefined) return undefined;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(rest);
  if (!scheme) return undefined;
  rest = rest.slice(scheme[0].length);
  const question = rest.indexOf("?");
  if (question !== -1) rest = rest.slice(0, question);
  const slash = rest.indexOf("/");
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const rawPath = slash === -1 ? "" : rest.slice(slash);
  const at = authority.lastIndexOf("@");
  if (at !== -1 && !/^[A-Za-z0-9\-._~!$&'()*+,;=:%@]*$/.test(authority.slice(0, at))) {
    return undefined;
  }
  const rawHost = authority.slice(at + 1);
  if (rawHost.startsWith("[")) {
    const close = rawHost.lastIndexOf("]");
    if (close === -1 || !goValidOptionalPort(rawHost.slice(close + 1))) return undefined;
  } else {
    const colon = rawHost.lastIndexOf(":");
    if (colon !== -1 && !goValidOptionalPort(rawHost.slice(colon))) return undefined;
  }
  const host = goUnescape(rawHost, "host");
  const path = goUnescape(rawPath, "path");
  return host === undefined || path === undefined ? undefined : { host, path };
}

/** Go's net.SplitHostPort: undefined where it errs (no port, misplaced brackets or colons). */
function goSplitHostPort(hostPort: string): { host: string; port: string } | undefined {
  const colon = hostPort.lastIndexOf(":");
  if (colon === -1) return undefined;
  let host: string;
  let from = 0;
  let after = 0;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close === -1 || close + 1 !== colon) return undefined;
    host = hostPort.slice(1, close);
    from = 1;
    after = close + 1;
  } else {
    host = hostPort.slice(0, colon);
    if (host.includes(":")) return undefined;
  }
  if (hostPort.slice(from).includes("[") || hostPort.slice(after).includes("]")) return undefined;
  return { host, port: hostPort.slice(colon + 1) };
}

/** The kubelet's SplitURL: a host's dot-separated labels and its port ("" without one). */
function kubeletSplitUrl(host: string): { labels: string[]; port: string } {
  const split = goSplitHostPort(host) ?? { host, port: "" };
  return { labels: split.host.split("."), port: split.port };
}

type GlobToken =
  | { kind: "star" }
  | { kind: "any" }
  | { kind: "literal"; character: string }
  | { kind: "class"; negated: boolean; ranges: [string, string][] };

/** A filepath.Match pattern in tokens; undefined for a pattern Go calls malformed. */
function globTokens(pattern: string): GlobToken[] | undefined {
  const characters = Array.from(pattern);
  const tokens: GlobToken[] = [];
  let index = 0;
  /** One character of a class, escapes resolved; a bare "-" or "]", or nothing, is malformed. */
  const classCharacter = (): string | undefined => {
    let character = characters[index];
    if (character === undefined || character === "-" || character === "]") return undefined;
    if (character === "\\") {
      index++;
      character = characters[index];
      if (character === undefined) return undefined;
    }
    index++;
    return character;
  };
  while (index < characters.length) {
    const character = characters[index++];
    if (character === "*") tokens.push({ kind: "star" });
    else if (character === "?") tokens.push({ kind: "any" });
    else if (character === "\\") {
      if (index === characters.length) return undefined;
      tokens.push({ kind: "literal", character: characters[index++] });
    } else if (character === "[") {
      const negated = characters[index] === "^";
      if (negated) index++;
      const ranges: [string, string][] = [];
      while (!(characters[index] === "]" && ranges.length > 0)) {
        const low = classCharacter();
        if (low === undefined) return undefined;
        let high = low;
        if (characters[index] === "-") {
          index++;
          const end = classCharacter();
          if (end === undefined) return undefined;
          high = end;
        }
        ranges.push([low, high]);
      }
      index++;
      tokens.push({ kind: "class", negated, ranges });
    } else tokens.push({ kind: "literal", character });
  }
  return tokens;
}

/**
 * Go's filepath.Match on Linux, for one host label against one glob label: `*` and `?` never
 * cross a "/", classes compare code points, and a malformed pattern matches nothing.
 */
function globMatches(pattern: string, name: string): boolean {
  const tokens = globTokens(pattern);
  if (tokens === undefined) return false;
  const characters = Array.from(name);
  const codePoint = (character: string) => character.codePointAt(0)!;
  const matchFrom = (token: number, at: number): boolean => {
    if (token === tokens.length) return at === characters.length;
    const current = tokens[token];
    if (current.kind === "star") {
      for (let end = at; end <= characters.length; end++) {
        if (matchFrom(token + 1, end)) return true;
        if (characters[end] === "/") return false;
      }
      return false;
    }
    const character = characters[at];
    if (character === undefined) return false;
    const matched = current.kind === "any"
      ? character !== "/"
      : current.kind === "literal"
      ? character === current.character
      : current.ranges.some(([low, high]) =>
        codePoint(low) <= codePoint(character) && codePoint(character) <= codePoint(high)
      ) !== current.negated;
    return matched && matchFrom(token + 1, at + 1);
  };
  return matchFrom(0, 0);
}

/**
 * The kubelet's URLsMatchStr(glob, target), for a matchImages pattern or a keyring key against an
 * image: both parsed as scheme-less URLs; the ports equal as text; as many host labels, each
 * matched by its glob (case-sensitively); the glob's path a string prefix of the image's.
 */
function urlsMatch(glob: string, target: string): boolean {
  const globUrl = goParseUrl(`https://${glob}`);
  const targetUrl = goParseUrl(`https://${target}`);
  if (globUrl === undefined || targetUrl === undefined) return false;
  const globHost = kubeletSplitUrl(globUrl.host);
  const targetHost = kubeletSplitUrl(targetUrl.host);
  if (globHost.port !== targetHost.port) return false;
  if (globHost.labels.length !== targetHost.labels.length) return false;
  if (!targetUrl.path.startsWith(globUrl.path)) return false;
  return globHost.labels.every((label, index) => globMatches(label, targetHost.labels[index]));
}

/** The keyring's isDefaultRegistryMatch: whether an image is Docker Hub's. */
function isDefaultRegistryImage(image: string): boolean {
  const slash = image.indexOf("/");
  if (slash === 0) return false;
  if (slash === -1) return true;
  const first = image.slice(0, slash);
  return first === "docker.io" || first === "index.docker.io" || !/[.:]/.test(first);
}

/**
 * The kubelet's BasicDockerKeyring, into which it puts each provider's `auth` before it looks the
 * image up: a key loses its scheme and a leading /v1 or /v2 (a trailing slash stays), and keys are
 * tried most specific first.
 */
class DockerKeyring {
  readonly #logins = new Map<string, Login[]>();
  #index: string[] = [];

  add(auth: Record<string, Login>): void {
    for (const [location, login] of Object.entries(auth)) {
      const parsed = goParseUrl(/^https?:\/\//.test(location) ? location : `https://${location}`);
      if (parsed === undefined) continue; // the kubelet logs the entry and ignores it
      let path = parsed.path;
      if (path.startsWith("/v2/") || path.startsWith("/v1/")) path = path.slice(3);
      const key = path !== "" && path !== "/" ? parsed.host + path : parsed.host;
      const logins = this.#logins.get(key) ?? [];
      logins.push({ username: login.username, password: login.password });
      this.#logins.set(key, logins);
      this.#index.push(key);
    }
    this.#index = [...new Set(this.#index)].sort().reverse();
  }

  /** The logins the kubelet would try for a repository, in its order. */
  lookup(image: string): Login[] {
    const found = this.#index.filter((key) => urlsMatch(key, image))
      .flatMap((key) => this.#logins.get(key)!);
    if (found.length > 0) return found;
    return isDefaultRegistryImage(image) ? this.#logins.get("index.docker.io") ?? [] : [];
  }
}

/**
 * The repository the kubelet asks providers about for a pod's image (parsers.ParseImageName over
 * Docker's ParseNormalizedNamed): no tag or digest; a first component without a dot or port,
 * other than `localhost`, and all lower-case, is a Docker Hub namespace. Throws where the kubelet
 * refuses the image (an upper-case repository path) and asks nobody.
 */
function repositoryToPull(image: string): string {
  const slash = image.indexOf("/");
  const first = slash === -1 ? "" : image.slice(0, slash);
  const hubNamespace = slash === -1 ||
    (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first);
  let domain = hubNamespace ? "docker.io" : first;
  let remainder = hubNamespace ? image : image.slice(slash + 1);
  if (domain === "index.docker.io") domain = "docker.io";
  if (domain === "docker.io" && !remainder.includes("/")) remainder = `library/${remainder}`;
  const path = remainder.split(/[:@]/)[0];
  if (path.toLowerCase() !== path) {
    throw new Error(`invalid reference format: repository name (${path}) must be lowercase`);
  }
  return `${domain}/${path}`;
}

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A Go duration string (`4m30s`, `1h0m0s`, `0s`) in ms; undefined when Go would refuse it. */
function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (
    !/^([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))*$/
      .test(text)
  ) {
    return undefined;
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * GO_UNITS[unit];
  }
  return total;
}

/** The token cache's refresh margin (SPEC §3) for a token of this lifetime, in ms. */
function refreshMargin(lifetimeMs: number): number {
  return Math.min(Math.max(60_000, lifetimeMs / 5), lifetimeMs / 2);
}

interface ProviderConfig {
  name: string;
  matchImages: string[];
  defaultCacheDuration: string;
  apiVersion: string;
  args?: string[];
  env?: { name: string; value: string }[];
}

interface CredentialProviderConfig {
  apiVersion: string;
  kind: string;
  providers: ProviderConfig[];
}

interface ProviderResponse {
  apiVersion: string;
  kind: string;
  cacheKeyType: string;
  cacheDuration?: string;
  auth: Record<string, { username: string; password: string }>;
}

/** One exec plugin call as the kubelet saw it. */
interface PluginCall {
  request: Record<string, unknown>;
  response: ProviderResponse;
  result: RunResult;
  /** When the kubelet started the plugin and when it had its answer (ms). */
  startedAt: number;
  answeredAt: number;
  /** The cache duration in ms (the answer's, else the config's default). */
  cacheDurationMs: number;
  /** What the kubelet's keyring finds for the requested image in this answer alone. */
  credentials: Login[];
}

/** One pull as the kubelet makes it, its answer cache included. */
interface KubeletPull {
  /** The repository the kubelet asked about (no tag, Docker Hub names in full). */
  repository: string;
  /** The logins the kubelet hands the container runtime, in its order. */
  credentials: Login[];
  /** The plugin calls it made (none when its cache answered). */
  calls: PluginCall[];
}

/** An answer the kubelet keeps, under its cache key, until `expiresAt`. */
interface CachedAnswer {
  auth: Record<string, Login>;
  expiresAt: number;
}

/** The kubelet's side of the exec plugin protocol, with SPEC §8's checks on every answer. */
class KubeletStandIn {
  /** Per provider: cache key (an image, a registry host, "global") → answer, as plugin.go keeps it. */
  readonly #cache = new Map<string, Map<string, CachedAnswer>>();

  constructor(
    readonly config: CredentialProviderConfig,
    readonly binDir: string,
    readonly env: Record<string, string>,
    readonly scanner: SecretScanner,
  ) {
    assert.equal(config.apiVersion, "kubelet.config.k8s.io/v1");
    assert.equal(config.kind, "CredentialProviderConfig");
    for (const provider of config.providers) {
      assert.ok(provider.matchImages.length > 0, "a provider needs matchImages");
      for (const pattern of provider.matchImages) {
        assert.ok(goParseUrl(`https://${pattern}`), `matchImages entry ${pattern} is a URL`);
      }
      assert.ok(
        parseGoDuration(provider.defaultCacheDuration) !== undefined,
        `defaultCacheDuration ${provider.defaultCacheDuration} is a Go duration`,
      );
    }
  }

  /** The providers the kubelet would run for an image. */
  providersFor(image: string): ProviderConfig[] {
    const repository = repositoryToPull(image);
    return this.config.providers.filter((provider) =>
      provider.matchImages.some((pattern) => urlsMatch(pattern, repository))
    );
  }

  /**
   * What a kubelet with an empty cache does before a pull: run each matching provider for the
   * image's repository; answers in order. `extra`: request fields newer kubelets add.
   */
  async credentialsFor(image: string, extra: Record<string, unknown> = {}): Promise<PluginCall[]> {
    const providers = this.providersFor(image);
    assert.ok(providers.length > 0, `no provider's matchImages matches ${image}`);
    const repository = repositoryToPull(image);
    return await Promise.all(providers.map((provider) => this.exec(provider, repository, extra)));
  }

  /**
   * What the kubelet does for a pull, with the answers it cached from earlier pulls: for each
   * provider whose matchImages match the repository, the answer cached under the repository, else
   * under its registry host, else the global one, else a plugin call (whose answer it caches by
   * its cacheKeyType for its cacheDuration; "0s" not at all); then every answer goes into one
   * keyring, and the repository is looked up in it.
   */
  async pull(image: string): Promise<KubeletPull> {
    const repository = repositoryToPull(image);
    const keyring = new DockerKeyring();
    const calls: PluginCall[] = [];
    for (const provider of this.providersFor(image)) {
      const cache = this.#cache.get(provider.name) ?? new Map<string, CachedAnswer>();
      this.#cache.set(provider.name, cache);
      const cached = [repository, repository.split("/")[0], "global"]
        .map((key) => cache.get(key))
        .find((answer) => answer !== undefined && Date.now() <= answer.expiresAt);
      if (cached) {
        keyring.add(cached.auth);
        continue;
      }
      const call = await this.exec(provider, repository);
      calls.push(call);
      const { cacheKeyType, auth } = call.response;
      if (call.cacheDurationMs > 0) {
        const key = cacheKeyType === "Image"
          ? repository
          : cacheKeyType === "Registry"
          ? repository.split("/")[0]
          : "global";
        cache.set(key, { auth, expiresAt: call.answeredAt + call.cacheDurationMs });
      }
      keyring.add(auth);
    }
    return { repository, credentials: keyring.lookup(repository), calls };
  }

  /** Run one provider for an image (matched or not) and check its answer. */
  async exec(
    provider: ProviderConfig,
    image: string,
    extra: Record<string, unknown> = {},
  ): Promise<PluginCall> {
    const request = {
      apiVersion: provider.apiVersion,
      kind: "CredentialProviderRequest",
      image,
      ...extra,
    };
    const env = { ...this.env };
    for (const { name, value } of provider.env ?? []) env[name] = value;
    const startedAt = Date.now();
    const result = await run(join(this.binDir, provider.name), provider.args ?? [], {
      env,
      inheritEnv: false,
      stdin: JSON.stringify(request),
      timeoutMs: 90_000,
    });
    const answeredAt = Date.now();
    this.scanner.check("provider stderr", result.stderr);
    assert.equal(result.code, 0, `the provider failed: ${result.stderr}`);
    let response: ProviderResponse;
    try {
      response = JSON.parse(result.stdout);
    } catch {
      assert.fail(`the provider's stdout is not one JSON document: ${result.stdout}`);
    }
    assert.ok(
      response !== null && typeof response === "object" && !Array.isArray(response),
      "the answer is an object",
    );
    assert.equal(response.apiVersion, request.apiVersion, "answered in the request's apiVersion");
    assert.equal(response.kind, "CredentialProviderResponse");
    assert.ok(
      ["Image", "Registry", "Global"].includes(response.cacheKeyType),
      `cacheKeyType ${response.cacheKeyType} is one the kubelet keeps`,
    );
    let cacheDurationMs = parseGoDuration(provider.defaultCacheDuration)!;
    if (response.cacheDuration !== undefined) {
      const parsed = parseGoDuration(response.cacheDuration);
      assert.ok(parsed !== undefined, `cacheDuration "${response.cacheDuration}" is a Go duration`);
      cacheDurationMs = parsed;
    }
    assert.ok(response.auth && typeof response.auth === "object", "auth is an object");
    for (const [key, login] of Object.entries(response.auth)) {
      assert.ok(urlsMatch(key, image), `auth key ${key} matches the image ${image}`);
      assert.equal(typeof login.username, "string");
      assert.equal(typeof login.password, "string");
      assert.ok(login.username !== "" && login.password !== "", "a login has both parts");
    }
    // As the kubelet uses the answer: into a keyring, then the image looked up in it.
    const keyring = new DockerKeyring();
    keyring.add(response.auth);
    const credentials = keyring.lookup(image);
    const sorted = (logins: Login[]) => logins.map((login) => JSON.stringify(login)).sort();
    assert.deepEqual(
      sorted(credentials),
      sorted(Object.values(response.auth)),
      `the kubelet finds for ${image} the logins answered`,
    );
    return { request, response, result, startedAt, answeredAt, cacheDurationMs, credentials };
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function base64(text: string): string {
  return Buffer.from(text).toString("base64");
}

/** The lines a failing command must print: exactly one, and nothing on stdout. */
function assertOneLineFailure(result: RunResult, where: string): string {
  assert.notEqual(result.code, 0, `${where}: expected a failure, got ${result.stdout}`);
  assert.equal(result.stdout, "", `${where}: nothing on stdout`);
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  assert.equal(lines.length, 1, `${where}: one line on stderr, got ${JSON.stringify(lines)}`);
  assert.ok(result.stderr.endsWith("\n"), `${where}: the line ends`);
  return lines[0];
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/**
 * skopeo's environment, in a fresh HOME under `work`: no auth file or Docker config of the
 * machine's can lend a login.
 */
async function skopeoEnv(work: string): Promise<Record<string, string | undefined>> {
  const home = await mkdtemp(join(work, "skopeo-home-"));
  return {
    HOME: home,
    DOCKER_CONFIG: join(home, ".docker"),
    XDG_RUNTIME_DIR: home,
    REGISTRY_AUTH_FILE: undefined,
  };
}

describe("the kubelet stand-in's own rules (so that its checks can be trusted)", () => {
  it("matches as the kubelet's URLsMatch does: labels by glob, ports as text, paths by prefix", () => {
    const cases: [string, string, boolean][] = [
      ["registry.example.com", "registry.example.com/team/app", true],
      ["*.example.com", "registry.example.com/app", true],
      ["*.example.com", "a.registry.example.com/app", false],
      ["*.com", "registry.example.com/app", false],
      ["registry.*.com", "registry.example.com/app", true],
      ["regi*.example.com", "registry.example.com/app", true],
      ["r[ae]gistry.example.com", "registry.example.com/app", true],
      ["r[a-f]gistry.example.com", "registry.example.com/app", true],
      ["r[^e]gistry.example.com", "registry.example.com/app", false],
      // A host that starts with "[" is an IPv6 literal to Go's url.Parse: this one is malformed.
      ["[r]egistry.example.com", "registry.example.com/app", false],
      ["*:5000", "localhost:5000/team/app", true],
      // Go's url.Parse takes "?" for the start of a query: the glob is the host "r".
      ["r?gistry.example.com", "registry.example.com/app", false],
      // A malformed glob (filepath.ErrBadPattern) matches nothing.
      ["r[]gistry.example.com", "registry.example.com/app", false],
      ["r[e-]gistry.example.com", "registry.example.com/app", false],
      ["registry.example.com\\", "registry.example.com/app", false],
      // Case-sensitive: a literal label matches only itself; a glob's "*" any letters.
      ["registry.example.com", "Registry.Example.com/app", false],
      ["Registry.Example.com", "Registry.Example.com/app", true],
      ["Registry.Example.com", "registry.example.com/app", false],
      ["*.example.com", "Registry.example.com/app", true],
      ["*.example.com", "registry.Example.com/app", false],
      ["registry.example.com/Team", "registry.example.com/team/app", false],
      // The path is a string prefix, not a path-component prefix.
      ["registry.example.com/team", "registry.example.com/team/app", true],
      ["registry.example.com/team", "registry.example.com/team", true],
      ["registry.example.com/team", "registry.example.com/team-b/app", true],
      ["registry.example.com/team", "registry.example.com/teams", true],
      ["registry.example.com/team", "registry.example.com/other/app", false],
      ["registry.example.com/team/", "registry.example.com/team/app", true],
      ["registry.example.com/team/", "registry.example.com/team-b/app", false],
      ["registry.example.com/team/", "registry.example.com/team", false],
      // Ports compare as text, and a pattern without one matches only images without one.
      ["registry.example.com:5000", "registry.example.com:5000/app", true],
      ["registry.example.com:5000", "registry.example.com/app", false],
      ["registry.example.com", "registry.example.com:5000/app", false],
      ["registry.example.com:5000", "registry.example.com:05000/app", false],
      ["127.0.0.1:5000", "127.0.0.1:5000/team/app", true],
      ["127.0.0.1:5000", "127.0.0.1:5001/team/app", false],
      ["127.0.0.1", "127.0.0.1:5000/team/app", false],
      ["[::1]:5000", "[::1]:5000/team/app", true],
      ["registry.example.com:http", "registry.example.com:http/app", false],
      // A matchImages entry takes no scheme (only keyring keys lose theirs).
      ["https://registry.example.com", "registry.example.com/app", false],
    ];
    for (const [pattern, image, expected] of cases) {
      assert.equal(urlsMatch(pattern, image), expected, `${pattern} vs ${image}`);
    }
  });

  it("keys a keyring as the kubelet's does and finds what its Lookup finds", () => {
    const login = (name: string): Login => ({ username: name, password: `${name}-password` });
    const keyring = new DockerKeyring();
    keyring.add({
      "registry.example.com": login("host"),
      "registry.example.com/team": login("team"),
      "https://other.example.com/v2/": login("scheme"),
      "third.example.com/team/": login("slash"),
      "index.docker.io": login("hub"),
      "bad host.example.com": login("ignored"),
    });
    const names = (image: string) => keyring.lookup(image).map((found) => found.username);
    assert.deepEqual(
      names("registry.example.com/team/app"),
      ["team", "host"],
      "most specific first",
    );
    assert.deepEqual(names("registry.example.com/teams/app"), ["team", "host"]);
    assert.deepEqual(names("registry.example.com/other/app"), ["host"]);
    assert.deepEqual(names("Registry.Example.com/team/app"), []);
    assert.deepEqual(names("other.example.com/any/app"), ["scheme"], "scheme and /v2/ dropped");
    assert.deepEqual(names("third.example.com/team/app"), ["slash"]);
    assert.deepEqual(names("third.example.com/team-b/app"), [], "a trailing slash stays");
    assert.deepEqual(names("third.example.com/team"), []);
    assert.deepEqual(names("docker.io/library/nginx"), ["hub"]);
    assert.deepEqual(names("bad host.example.com/app"), []);
  });

  it("asks about the repository the kubelet names for an image", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const cases: [string, string][] = [
      ["nginx", "docker.io/library/nginx"],
      ["nginx:1.27", "docker.io/library/nginx"],
      ["team/app:1", "docker.io/team/app"],
      ["index.docker.io/team/app", "docker.io/team/app"],
      ["localhost/team/app:1", "localhost/team/app"],
      ["LOCALHOST:5000/team/app:1", "LOCALHOST:5000/team/app"],
      ["Team/app", "Team/app"],
      [`Registry.Example.com/team/app@${digest}`, "Registry.Example.com/team/app"],
      ["registry.example.com/team:1", "registry.example.com/team"],
    ];
    for (const [image, repository] of cases) assert.equal(repositoryToPull(image), repository);
    assert.throws(() => repositoryToPull("registry.example.com/Team/app:1"), /must be lowercase/);
  });

  it("reads Go durations and refuses what Go refuses", () => {
    assert.equal(parseGoDuration("4m30s"), 270_000);
    assert.equal(parseGoDuration("1h0m5s"), 3_605_000);
    assert.equal(parseGoDuration("0s"), 0);
    assert.equal(parseGoDuration("1.5s"), 1500);
    for (const bad of ["", "4 m", "270", "-1s", "1d", "4m30"]) {
      assert.equal(parseGoDuration(bad), undefined, bad);
    }
  });
});

describe("kubelet-credential-provider", () => {
  let standIn: StandIn;
  let services: OnDemandServices;
  let work: string;
  let ociImage: string;
  let binary: Promise<string> | undefined;
  let seeded: Promise<string> | undefined;
  const sandboxes: Sandbox[] = [];
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    standIn = await startStandIn();
    services = new OnDemandServices(standIn);
    work = await mkdtemp(join(tmpdir(), "sr-kubelet-"));
    ociImage = await buildOciImage(join(work, "oci"), { tag: "v1" });
  });
  after(async () => {
    await services?.stop();
    await standIn?.close();
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Write a 0600 file (an auth file or an env file holding a secret). */
  async function privateFile(name: string, content: string): Promise<string> {
    const dir = await mkdtemp(join(work, "private-"));
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  }

  /** An auth file (0600) holding one login for a host, as containers tools read it. */
  function authFile(host: string, username: string, password: string): Promise<string> {
    return privateFile(
      "auth.json",
      JSON.stringify({ auths: { [host]: { auth: base64(`${username}:${password}`) } } }),
    );
  }

  /**
   * The registry, with the test image pushed as HOST/team/app:1 and, exactly at the registry's
   * path, as HOST/team:1; resolves to the host.
   */
  function registryWithImage(): Promise<string> {
    seeded ??= (async () => {
      const { host } = await services.registry();
      const token = standIn.issue();
      scanner.add(token.password);
      const auth = await authFile(host, TOKEN_USERNAME, token.password);
      for (const repository of ["team/app", "team"]) {
        const copied = await run(requireTool("skopeo"), [
          "copy",
          "--dest-tls-verify=false",
          "--dest-authfile",
          auth,
          ociImage,
          `docker://${host}/${repository}:1`,
        ], { env: await skopeoEnv(work), timeoutMs: 120_000 });
        assert.equal(copied.code, 0, `seeding the registry failed: ${copied.stderr}`);
      }
      return host;
    })();
    return seeded;
  }

  /**
   * Pull an image with the one login the kubelet found for it (in a plugin call's answer, or in
   * its cache), through a 0600 auth file keyed by the host as the image spells it.
   */
  async function pullWith(image: string, found: { credentials: Login[] }): Promise<RunResult> {
    const logins = found.credentials;
    assert.equal(logins.length, 1, "one login for the image");
    scanner.add(logins[0].password);
    const host = image.slice(0, image.indexOf("/"));
    const auth = await authFile(host, logins[0].username, logins[0].password);
    const target = await mkdtemp(join(work, "pulled-"));
    const args = [
      "copy",
      "--src-tls-verify=false",
      "--src-authfile",
      auth,
      `docker://${image}`,
      `oci:${target}:pulled`,
    ];
    scanner.check("skopeo argv", args.join(" "));
    return await run(requireTool("skopeo"), args, {
      env: await skopeoEnv(work),
      timeoutMs: 120_000,
    });
  }

  async function sandbox(extra: Record<string, string> = {}): Promise<Sandbox> {
    const made = await makeSandbox(extra);
    sandboxes.push(made);
    return made;
  }

  /** The binary, built once as `deno task compile:bun` builds it (in a test: Bun cuts hooks at 5 s). */
  function compiledBinary(): Promise<string> {
    binary ??= (async () => {
      const output = join(work, "dist", "sauce-registry");
      const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
      const task: string[] = denoJson.tasks["compile:bun"].split(/\s+/);
      assert.deepEqual(task.slice(0, 3), ["bun", "build", "--compile"]);
      const args = task.slice(1);
      args[args.indexOf("--outfile") + 1] = output;
      const build = await run(requireTool("bun"), args, { cwd: ROOT, timeoutMs: 180_000 });
      assert.equal(build.code, 0, `bun build --compile failed: ${build.stderr}`);
      return output;
    })();
    return binary;
  }

  /** The two ways to run the provider: put it in a kubelet bin dir under `name`. */
  const WAYS: { name: string; install(binDir: string, name: string): Promise<void> }[] = [
    {
      name: "the CLI under this runtime",
      async install(binDir, name) {
        const command = cliCommand().map(shellQuote).join(" ");
        await writeFile(join(binDir, name), `#!/bin/sh\nexec ${command} "$@"\n`, { mode: 0o755 });
      },
    },
    {
      name: "the compiled binary",
      async install(binDir, name) {
        // A hard link: the same file under the provider's name, without 100 MB copies.
        await link(await compiledBinary(), join(binDir, name));
      },
    },
  ];

  /** A kubelet whose bin dir holds the provider, with the node's environment `env`. */
  async function kubelet(
    way: (typeof WAYS)[number],
    config: CredentialProviderConfig,
    env: Record<string, string>,
  ): Promise<KubeletStandIn> {
    const binDir = await mkdtemp(join(work, "bin-"));
    for (const provider of config.providers) await way.install(binDir, provider.name);
    return new KubeletStandIn(config, binDir, env, scanner);
  }

  /** A provider config serving HOST/team, with credentials in the provider's env. */
  function providerConfig(
    host: string,
    apiVersion: string,
    overrides: Partial<ProviderConfig> = {},
  ): CredentialProviderConfig {
    return {
      apiVersion: "kubelet.config.k8s.io/v1",
      kind: "CredentialProviderConfig",
      providers: [{
        name: PROVIDER_NAME,
        matchImages: [host],
        defaultCacheDuration: "1m",
        apiVersion,
        args: ["kubelet-credential-provider", "--registry", `${host}/team`],
        env: [
          { name: "SAUCE_USERNAME", value: USER },
          { name: "SAUCE_ACCESS_KEY", value: KEY },
          { name: "SAUCE_API_URL", value: standIn.url },
        ],
        ...overrides,
      }],
    };
  }

  /**
   * Check cacheDuration against SPEC §8: within the token's life less the refresh margin, and no
   * shorter than that (less the time the call took). `askedSince`: when the token was first asked
   * for (before the call that fetched it).
   */
  function assertCacheDuration(
    call: PluginCall,
    lifetimeSeconds: number,
    askedSince = call.startedAt,
  ): void {
    const token = standIn.issued.find((issued) =>
      issued.password === Object.values(call.response.auth)[0].password
    );
    assert.ok(token, "the answered password was issued by Sauce");
    const expires = token.expiresAt.getTime();
    const upper = expires - refreshMargin(lifetimeSeconds * 1000) - call.startedAt;
    const lower = expires - refreshMargin(expires - askedSince) - call.answeredAt - 1000;
    assert.ok(
      call.cacheDurationMs <= upper,
      `cacheDuration ${call.response.cacheDuration} ends after the token's renewal (${upper} ms)`,
    );
    assert.ok(call.cacheDurationMs <= expires - call.startedAt, "never past expires_at");
    assert.ok(
      call.cacheDurationMs >= Math.max(0, lower),
      `cacheDuration ${call.response.cacheDuration} is as long as the token allows (${lower} ms)`,
    );
  }

  for (const way of WAYS) {
    for (const apiVersion of API_VERSIONS) {
      it(`${way.name}: answers a ${apiVersion} request with a login the real registry accepts`, {
        timeout: 240_000,
      }, async () => {
        const host = await registryWithImage();
        const node = await sandbox();
        const kubeletStandIn = await kubelet(way, providerConfig(host, apiVersion), node.env);
        const image = `${host}/team/app:1`;
        const before = standIn.tokenRequestCount();
        // A v1 kubelet with service account tokens for plugins adds fields the provider ignores.
        const extra = apiVersion.endsWith("/v1")
          ? { serviceAccountToken: "header.payload.signature", serviceAccountAnnotations: {} }
          : {};
        const [call] = await kubeletStandIn.credentialsFor(image, extra);
        assert.equal(standIn.tokenRequestCount(), before + 1, "one token request");
        assert.equal(call.response.cacheKeyType, "Image", "a path's login is kept per image");
        assert.deepEqual(
          Object.keys(call.response.auth),
          [`${host}/team`],
          "keyed by the registry's path, host and port as the image spells them",
        );
        assert.equal(
          JSON.parse(standIn.requests.at(-1)!.body).registry_url,
          `${host}/team`,
          "the whole registry URL went to Sauce",
        );
        assertCacheDuration(call, standIn.tokenLifetimeSeconds);
        const pulled = await pullWith(image, call);
        assert.equal(pulled.code, 0, `skopeo could not pull with the answer: ${pulled.stderr}`);
        scanner.check("skopeo output", pulled.stdout, pulled.stderr);
      });
    }

    it(`${way.name}: makes one token request for 20 concurrent pulls on an empty cache`, {
      timeout: 240_000,
    }, async () => {
      const host = await registryWithImage();
      const node = await sandbox();
      const kubeletStandIn = await kubelet(way, providerConfig(host, API_VERSIONS[0]), node.env);
      const before = standIn.tokenRequestCount();
      // A slow answer widens the window in which every process finds the cache empty.
      standIn.fault({ delayMs: 300 });
      const calls = await Promise.all(
        Array.from(
          { length: 20 },
          (_, index) => kubeletStandIn.credentialsFor(`${host}/team/app-${index}:1`),
        ),
      );
      const passwords = new Set(
        calls.map(([call]) => Object.values(call.response.auth)[0].password),
      );
      const requests = standIn.tokenRequestCount() - before;
      console.log(`${way.name}: 20 concurrent provider calls, ${requests} token request(s)`);
      assert.equal(requests, 1, "exactly one token request");
      assert.equal(passwords.size, 1, "every call answered the same token");
    });

    it(`${way.name}: fails bad input with one line on stderr, nothing on stdout`, {
      timeout: 120_000,
    }, async () => {
      // Every setting the provider reads, with the API URL given on its command line.
      const node = await sandbox({
        SAUCE_USERNAME: USER,
        SAUCE_ACCESS_KEY: KEY,
        SAUCE_REGION: "us-west-1",
      });
      const binDir = await mkdtemp(join(work, "bin-"));
      await way.install(binDir, PROVIDER_NAME);
      const program = join(binDir, PROVIDER_NAME);
      const request = (fields: Record<string, unknown>) =>
        JSON.stringify({
          apiVersion: API_VERSIONS[0],
          kind: "CredentialProviderRequest",
          image: "registry.example.com/team/app:1",
          ...fields,
        });
      const serve = ["--registry", "registry.example.com/team", "--api-url", standIn.url];
      const cases: { what: string; args: string[]; stdin: string; code: number; says: RegExp }[] = [
        { what: "not JSON", args: serve, stdin: "{oops", code: 2, says: /not JSON/ },
        { what: "empty input", args: serve, stdin: "", code: 2, says: /empty/ },
        { what: "a JSON array", args: serve, stdin: "[]", code: 2, says: /not a JSON object/ },
        {
          what: "the wrong kind",
          args: serve,
          stdin: request({ kind: "CredentialProviderResponse" }),
          code: 2,
          says: /kind is "CredentialProviderResponse"/,
        },
        {
          what: "an unknown apiVersion",
          args: serve,
          stdin: request({ apiVersion: "credentialprovider.kubelet.k8s.io/v2" }),
          code: 2,
          says: /apiVersion is "credentialprovider\.kubelet\.k8s\.io\/v2"/,
        },
        {
          what: "no image",
          args: serve,
          stdin: request({ image: undefined }),
          code: 2,
          says: /no image/,
        },
        {
          what: "an empty image",
          args: serve,
          stdin: request({ image: " " }),
          code: 2,
          says: /no image/,
        },
        {
          what: "a request over 64 KiB",
          args: serve,
          stdin: request({ padding: "x".repeat(70_000) }),
          code: 2,
          says: /Standard input holds more than 64 KiB: expected a CredentialProviderRequest/,
        },
        {
          what: "a malformed image of a served registry",
          args: serve,
          stdin: request({ image: "registry.example.com/Team/App:1" }),
          code: 2,
          says: /repository path is malformed/,
        },
        {
          what: "an unknown option",
          args: [...serve, "--tool", "docker"],
          stdin: request({}),
          code: 2,
          says: /Unknown option "--tool": expected one of --registry, /,
        },
        {
          what: "--registry without a value",
          args: ["--registry"],
          stdin: request({}),
          code: 2,
          says: /Option '--registry <value>' argument missing/,
        },
        {
          what: "no registry to serve",
          args: [],
          stdin: request({}),
          code: 2,
          says: /No registry to serve/,
        },
        {
          what: "one host under two URLs",
          args: ["--registry", "registry.example.com/a", "--registry", "registry.example.com/b"],
          stdin: request({}),
          code: 2,
          says: /share the host registry\.example\.com: /,
        },
        {
          what: "a bad --timeout",
          args: [...serve, "--timeout", "soon"],
          stdin: request({}),
          code: 2,
          says: /Invalid --timeout: expected a number of seconds above 0 and at most 2147483/,
        },
        {
          // The environment holds every setting, so nothing would read the file: a typo in the
          // kubelet's config must not pass unnoticed until the environment changes.
          what: "a missing --env-file",
          args: [...serve, "--env-file", "/etc/sauce-registry/no-such.env"],
          stdin: request({}),
          code: 2,
          says: /Cannot read the env file \/etc\/sauce-registry\/no-such\.env: no such file/,
        },
      ];
      for (const { what, args, stdin, code, says } of cases) {
        const result = await run(program, ["kubelet-credential-provider", ...args], {
          env: node.env,
          inheritEnv: false,
          stdin,
        });
        scanner.check(`${what} output`, result.stdout, result.stderr);
        const line = assertOneLineFailure(result, what);
        assert.equal(result.code, code, `${what}: exit code (${line})`);
        assert.match(line, says, what);
        assert.match(line, /^sauce-registry kubelet-credential-provider: [A-Z]/, what);
      }
    });

    it(`${way.name}: fails one line and no secret when Sauce refuses or fails`, {
      timeout: 120_000,
    }, async () => {
      const binDir = await mkdtemp(join(work, "bin-"));
      await way.install(binDir, PROVIDER_NAME);
      const program = join(binDir, PROVIDER_NAME);
      const stdin = JSON.stringify({
        apiVersion: API_VERSIONS[1],
        kind: "CredentialProviderRequest",
        image: "registry.example.com/team/app:1",
      });
      const args = ["kubelet-credential-provider", "--registry", "registry.example.com/team"];
      const cases: { what: string; env: Record<string, string>; code: number; says: RegExp }[] = [
        {
          what: "no credentials",
          env: {},
          code: 2,
          says:
            /No Sauce Labs username and access key found: looked in the flags, SAUCE_USERNAME and SAUCE_ACCESS_KEY in the environment, [^;]*credentials\.yml; set SAUCE_USERNAME and SAUCE_ACCESS_KEY in the --env-file/,
        },
        {
          what: "a wrong access key",
          env: { SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: `${KEY}-wrong` },
          code: 3,
          says: /refused the username or access key \(401\)/,
        },
      ];
      for (const { what, env, code, says } of cases) {
        const node = await sandbox({ SAUCE_API_URL: standIn.url, ...env });
        scanner.add(env.SAUCE_ACCESS_KEY ?? "");
        const result = await run(program, args, { env: node.env, inheritEnv: false, stdin });
        scanner.check(`${what} output`, result.stdout, result.stderr);
        const line = assertOneLineFailure(result, what);
        assert.equal(result.code, code, `${what}: exit code (${line})`);
        assert.match(line, says, what);
      }
      const node = await sandbox({
        SAUCE_API_URL: standIn.url,
        SAUCE_USERNAME: USER,
        SAUCE_ACCESS_KEY: KEY,
        SAUCE_REGISTRY_RETRIES: "1",
      });
      standIn.fault({ status: 500, body: `{"message":"broken, key ${KEY}"}`, times: 2 });
      const result = await run(program, args, { env: node.env, inheritEnv: false, stdin });
      scanner.check("500 output", result.stdout, result.stderr);
      const line = assertOneLineFailure(result, "a failing API");
      assert.equal(result.code, 1, line);
      assert.match(line, /could not generate a short-lived token \(500\)/);
    });

    it(`${way.name}: refuses 100 MB on stdin in one line, without reading it all`, {
      timeout: 120_000,
    }, async () => {
      const node = await sandbox({ SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY });
      const binDir = await mkdtemp(join(work, "bin-"));
      await way.install(binDir, PROVIDER_NAME);
      // A writer that stops only when the provider stops reading, and the provider's peak memory.
      const script = 'head -c "$1" /dev/zero | /usr/bin/time -f %M -o "$2/peak" "$3" ' +
        'kubelet-credential-provider --registry registry.example.com/team >"$2/stdout" 2>"$2/stderr"\n' +
        'echo "${PIPESTATUS[0]} ${PIPESTATUS[1]}"';
      const feed = async (bytes: number) => {
        const out = await mkdtemp(join(work, "stdin-"));
        const fed = await run("/bin/bash", [
          "-c",
          script,
          "feed",
          String(bytes),
          out,
          join(binDir, PROVIDER_NAME),
        ], { env: node.env, inheritEnv: false });
        assert.equal(fed.code, 0, fed.stderr);
        const [writer, code] = fed.stdout.trim().split(" ").map(Number);
        const peak = (await readFile(join(out, "peak"), "utf8")).trim().split("\n").at(-1)!;
        return {
          writer,
          code,
          stdout: await readFile(join(out, "stdout"), "utf8"),
          stderr: await readFile(join(out, "stderr"), "utf8"),
          peakKiB: Number(peak),
        };
      };
      const small = await feed(1000);
      assert.equal(small.writer, 0, "a small input is read whole");
      assert.match(small.stderr, /not JSON/);
      const flood = await feed(100 * 1024 * 1024);
      const line = assertOneLineFailure(flood, "100 MB on stdin");
      assert.equal(flood.code, 2, line);
      assert.match(
        line,
        /^sauce-registry kubelet-credential-provider: Standard input holds more than 64 KiB: expected a CredentialProviderRequest/,
      );
      assert.notEqual(flood.writer, 0, "the writer was cut off: the provider stopped reading");
      assert.ok(Number.isFinite(flood.peakKiB) && Number.isFinite(small.peakKiB));
      assert.ok(
        flood.peakKiB < small.peakKiB + 32 * 1024,
        `peak memory ${flood.peakKiB} KiB, against ${small.peakKiB} KiB for 1000 bytes`,
      );
    });
  }

  it("serves the registries configure-docker recorded when no --registry is given", {
    timeout: 120_000,
  }, async () => {
    const host = await registryWithImage();
    const node = await sandbox();
    const configured = await runCli(
      ["configure-docker", "--api-url", standIn.url, `${host}/team`],
      {
        env: node.env,
      },
    );
    assert.equal(configured.code, 0, configured.stderr);
    // No SAUCE_API_URL: the recorded API URL is the only way to reach the stand-in.
    const config = providerConfig(host, API_VERSIONS[2], {
      args: ["kubelet-credential-provider"],
      env: [{ name: "SAUCE_USERNAME", value: USER }, { name: "SAUCE_ACCESS_KEY", value: KEY }],
    });
    const kubeletStandIn = await kubelet(WAYS[0], config, node.env);
    const [call] = await kubeletStandIn.credentialsFor(`${host}/team/app:1`);
    assert.deepEqual(Object.keys(call.response.auth), [`${host}/team`]);
    assert.equal(JSON.parse(standIn.requests.at(-1)!.body).registry_url, `${host}/team`);
    const pulled = await pullWith(`${host}/team/app:1`, call);
    assert.equal(pulled.code, 0, pulled.stderr);
  });

  it("answers other images with an empty auth, asking Sauce for nothing", {
    timeout: 120_000,
  }, async () => {
    const host = await registryWithImage();
    const port = Number(host.split(":")[1]);
    const others = [
      "docker.io/library/nginx:1.27",
      "nginx",
      "team/app:1",
      "localhost/team/app:1",
      "other.example.com/team/app:1",
      `127.0.0.1:${port === 65535 ? port - 1 : port + 1}/team/app:1`,
    ];
    const assertEmptyAnswers = async (kubeletStandIn: KubeletStandIn, provider: ProviderConfig) => {
      for (const image of others) {
        const call = await kubeletStandIn.exec(provider, image);
        assert.deepEqual(call.response.auth, {}, image);
        assert.equal(call.cacheDurationMs, 0, `${image}: an empty answer is not cached`);
      }
    };
    // As on a node: the provider has credentials and Sauce answers, so that only the image
    // stands between it and a token request.
    const node = await sandbox();
    const config = providerConfig(host, API_VERSIONS[0]);
    const kubeletStandIn = await kubelet(WAYS[0], config, node.env);
    const before = standIn.tokenRequestCount();
    await assertEmptyAnswers(kubeletStandIn, config.providers[0]);
    assert.equal(standIn.tokenRequestCount(), before, "no token request for other images");
    const cache = join(node.env.XDG_CACHE_HOME, "sauce-registry");
    const cached = await readdir(cache).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    assert.deepEqual(cached, [], "no token cached for them");
    // The same provider does ask for its own registry's image: the count above could move.
    const [served] = await kubeletStandIn.credentialsFor(`${host}/team/app:1`);
    assert.deepEqual(Object.keys(served.response.auth), [`${host}/team`]);
    assert.equal(standIn.tokenRequestCount(), before + 1, "one token request for its own image");

    // No credentials at all: an image of another registry must not even need them.
    const bare = providerConfig(host, API_VERSIONS[0], { env: [] });
    await assertEmptyAnswers(
      await kubelet(WAYS[0], bare, (await sandbox()).env),
      bare.providers[0],
    );
    assert.equal(standIn.tokenRequestCount(), before + 1, "no token request without credentials");
  });

  it("tells the kubelet to cache a login only until the token is due for renewal", {
    timeout: 180_000,
  }, async () => {
    const host = await registryWithImage();
    try {
      for (const lifetime of [300, 1800, 20]) {
        standIn.tokenLifetimeSeconds = lifetime;
        const node = await sandbox();
        const kubeletStandIn = await kubelet(
          WAYS[0],
          providerConfig(host, API_VERSIONS[0]),
          node.env,
        );
        const before = standIn.tokenRequestCount();
        const [first] = await kubeletStandIn.credentialsFor(`${host}/team/app:1`);
        assertCacheDuration(first, lifetime);
        if (lifetime === 300) assert.match(first.response.cacheDuration!, /^[34]m\d+s$/);
        if (lifetime === 1800) assert.match(first.response.cacheDuration!, /^2[34]m\d+s$/);
        // From the cache, a while later: the same token, no request, and a duration that still
        // ends at the token's renewal (which needs the time the token was first asked for).
        if (lifetime === 20) await new Promise((resolve) => setTimeout(resolve, 3000));
        const [second] = await kubeletStandIn.credentialsFor(`${host}/team/app:1`);
        assert.equal(standIn.tokenRequestCount(), before + 1, `${lifetime} s: from the cache`);
        assert.deepEqual(second.response.auth, first.response.auth);
        assertCacheDuration(second, lifetime, first.startedAt);
        assert.ok(second.cacheDurationMs <= first.cacheDurationMs);
      }
    } finally {
      standIn.tokenLifetimeSeconds = 300;
    }
  });

  it("reads no ./.env, but an explicit --env-file", { timeout: 120_000 }, async () => {
    const host = await registryWithImage();
    const node = await sandbox();
    const folder = await mkdtemp(join(work, "kubelet-cwd-"));
    const dotenv =
      `SAUCE_USERNAME=${USER}\nSAUCE_ACCESS_KEY=${KEY}\nSAUCE_API_URL=${standIn.url}\n`;
    await writeFile(join(folder, ".env"), dotenv, { mode: 0o600 });
    const binDir = await mkdtemp(join(work, "bin-"));
    await WAYS[0].install(binDir, PROVIDER_NAME);
    const stdin = JSON.stringify({
      apiVersion: API_VERSIONS[0],
      kind: "CredentialProviderRequest",
      image: `${host}/team/app:1`,
    });
    const args = ["kubelet-credential-provider", "--registry", `${host}/team`];
    const before = standIn.tokenRequestCount();
    const refused = await run(join(binDir, PROVIDER_NAME), args, {
      env: node.env,
      inheritEnv: false,
      stdin,
      cwd: folder,
    });
    const line = assertOneLineFailure(refused, "./.env only");
    assert.match(line, /No Sauce Labs username and access key found/);
    assert.equal(standIn.tokenRequestCount(), before);

    const envFile = await privateFile("sauce-registry.env", dotenv);
    const config = providerConfig(host, API_VERSIONS[0], {
      args: [...args, "--env-file", envFile],
      env: [],
    });
    const [call] = await (await kubelet(WAYS[0], config, node.env)).credentialsFor(
      `${host}/team/app:1`,
    );
    const pulled = await pullWith(`${host}/team/app:1`, call);
    assert.equal(pulled.code, 0, pulled.stderr);
  });

  it("answers only images inside the served path, and the kubelet keeps the login there", {
    timeout: 180_000,
  }, async () => {
    const host = await registryWithImage();
    const node = await sandbox();
    // matchImages names the whole host: the kubelet asks about every image on it.
    const config = providerConfig(host, API_VERSIONS[0]);
    const outside = [`${host}/other-team/app:1`, `${host}/team-b/app:1`, `${host}/teams:1`];
    const before = standIn.tokenRequestCount();
    const kubeletStandIn = await kubelet(WAYS[0], config, node.env);
    for (const image of outside) {
      const pulled = await kubeletStandIn.pull(image);
      assert.equal(pulled.calls.length, 1, `${image}: the provider is asked`);
      assert.deepEqual(pulled.calls[0].response.auth, {}, `${image}: an empty answer`);
      assert.deepEqual(pulled.credentials, [], `${image}: no login`);
    }
    assert.equal(standIn.tokenRequestCount(), before, "no token request for another path");

    // Below the path, exactly at it, then outside again, with what the kubelet cached meanwhile:
    // a login must reach every image of the path, and no image of another.
    for (const image of [`${host}/team/app:1`, `${host}/team:1`, ...outside]) {
      const pulled = await kubeletStandIn.pull(image);
      if (outside.includes(image)) {
        assert.deepEqual(pulled.credentials, [], `${image}: no login from an earlier answer`);
        continue;
      }
      assert.equal(pulled.credentials.length, 1, `${image}: the kubelet finds a login`);
      const copied = await pullWith(image, pulled);
      assert.equal(copied.code, 0, `${image}: ${copied.stderr}`);
    }
    assert.equal(standIn.tokenRequestCount(), before + 1, "one token request for the path");

    // A kubelet whose first pull is the image exactly at the path.
    const fresh = await kubelet(WAYS[0], config, node.env);
    const exact = await fresh.pull(`${host}/team:1`);
    assert.deepEqual(Object.keys(exact.calls[0].response.auth), [`${host}/team`]);
    assert.equal(exact.credentials.length, 1);
    for (const image of outside) {
      assert.deepEqual((await fresh.pull(image)).credentials, [], `${image} after ${host}/team`);
    }
  });

  it("keys a login by the host as the image spells it, as the kubelet matches case-sensitively", {
    timeout: 180_000,
  }, async () => {
    const host = await registryWithImage();
    const port = host.slice(host.lastIndexOf(":") + 1);
    const node = await sandbox();
    // Served as localhost:PORT/team, pulled as LOCALHOST:PORT/team/app:1: the same registry.
    const config = providerConfig(`LOCALHOST:${port}`, API_VERSIONS[0], {
      args: ["kubelet-credential-provider", "--registry", `localhost:${port}/team`],
    });
    const image = `LOCALHOST:${port}/team/app:1`;
    const pulled = await (await kubelet(WAYS[0], config, node.env)).pull(image);
    assert.deepEqual(Object.keys(pulled.calls[0].response.auth), [`LOCALHOST:${port}/team`]);
    assert.equal(pulled.credentials.length, 1, "the kubelet finds the login");
    assert.equal(JSON.parse(standIn.requests.at(-1)!.body).registry_url, `localhost:${port}/team`);
    const copied = await pullWith(image, pulled);
    assert.equal(copied.code, 0, copied.stderr);

    // A registry without a path: the host alone, as spelled, kept per host.
    const hostOnly = providerConfig("Registry.Example.com", API_VERSIONS[1], {
      args: ["kubelet-credential-provider", "--registry", "registry.example.com"],
    });
    const mixed = await (await kubelet(WAYS[0], hostOnly, node.env))
      .pull("Registry.Example.com/team/app:1");
    assert.equal(mixed.calls[0].response.cacheKeyType, "Registry");
    assert.deepEqual(Object.keys(mixed.calls[0].response.auth), ["Registry.Example.com"]);
    assert.equal(mixed.credentials.length, 1, "the kubelet finds the login");

    // A first component with an upper-case letter names a host to Docker and the kubelet, even
    // without a dot or port: LOCALHOST/team/app is localhost's, not a Docker Hub namespace's.
    const bare = providerConfig("LOCALHOST", API_VERSIONS[2], {
      args: ["kubelet-credential-provider", "--registry", "localhost/team"],
    });
    const upper = await (await kubelet(WAYS[0], bare, node.env)).pull("LOCALHOST/team/app:1");
    assert.deepEqual(Object.keys(upper.calls[0].response.auth), ["LOCALHOST/team"]);
    assert.equal(upper.credentials.length, 1, "the kubelet finds the login");
  });

  it("takes an empty SAUCE_REGISTRY_TIMEOUT for unset, as every command does", {
    timeout: 120_000,
  }, async () => {
    const host = await registryWithImage();
    for (const value of ["", " "]) {
      const node = await sandbox();
      const config = providerConfig(host, API_VERSIONS[0]);
      config.providers[0].env!.push({ name: "SAUCE_REGISTRY_TIMEOUT", value });
      const [call] = await (await kubelet(WAYS[0], config, node.env))
        .credentialsFor(`${host}/team/app:1`);
      assert.equal(call.credentials.length, 1, `SAUCE_REGISTRY_TIMEOUT="${value}"`);
    }
  });

  it("waits for a token as long as --timeout says, over SAUCE_REGISTRY_TIMEOUT", {
    timeout: 120_000,
  }, async () => {
    const host = await registryWithImage();
    try {
      // --timeout 10 with SAUCE_REGISTRY_TIMEOUT=1 in its env: an answer 2 s late is waited for.
      const config = providerConfig(host, API_VERSIONS[0]);
      config.providers[0].args!.push("--timeout", "10");
      config.providers[0].env!.push({ name: "SAUCE_REGISTRY_TIMEOUT", value: "1" });
      const kubeletStandIn = await kubelet(WAYS[0], config, (await sandbox()).env);
      standIn.fault({ delayMs: 2000, times: 5 });
      const before = standIn.tokenRequestCount();
      const [call] = await kubeletStandIn.credentialsFor(`${host}/team/app:1`);
      assert.equal(call.credentials.length, 1);
      assert.equal(standIn.tokenRequestCount(), before + 1, "the late answer was taken");
      assert.ok(call.answeredAt - call.startedAt >= 2000, "the answer came late");
      standIn.clearFaults();

      // --timeout 1 with SAUCE_REGISTRY_TIMEOUT=4: gives up, and names the limit it kept.
      const node = await sandbox({
        SAUCE_USERNAME: USER,
        SAUCE_ACCESS_KEY: KEY,
        SAUCE_API_URL: standIn.url,
        SAUCE_REGISTRY_TIMEOUT: "4",
      });
      standIn.fault({ delayMs: 3000, times: 5 });
      const result = await run(join(kubeletStandIn.binDir, PROVIDER_NAME), [
        "kubelet-credential-provider",
        "--registry",
        `${host}/team`,
        "--timeout",
        "1",
      ], {
        env: node.env,
        inheritEnv: false,
        stdin: JSON.stringify({
          apiVersion: API_VERSIONS[0],
          kind: "CredentialProviderRequest",
          image: `${host}/team/app`,
        }),
      });
      const line = assertOneLineFailure(result, "--timeout 1");
      assert.equal(result.code, 124, line);
      assert.match(line, /Timed out after 1 s \(--timeout\) asking for a token$/);
    } finally {
      standIn.clearFaults();
    }
  });

  it("prints its help on stdout", async () => {
    const node = await sandbox();
    const help = await runCli(["kubelet-credential-provider", "--help"], { env: node.env });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: sauce-registry kubelet-credential-provider/);
    assert.match(help.stdout, /--registry URL/);
    assert.match(help.stdout, /--env-file PATH/);
    const main = await runCli(["--help"], { env: node.env });
    assert.match(main.stdout, /kubelet-credential-provider/);
  });

  describe("examples/kubernetes/credential-provider-config.yaml", () => {
    it("is a kubelet.config.k8s.io/v1 CredentialProviderConfig that runs this provider", async () => {
      const [config, ...rest] = await yamlDocuments(
        await readFile(join(EXAMPLES, "credential-provider-config.yaml"), "utf8"),
      ) as unknown as CredentialProviderConfig[];
      assert.equal(rest.length, 0);
      assert.equal(config.apiVersion, "kubelet.config.k8s.io/v1");
      assert.equal(config.kind, "CredentialProviderConfig");
      const [provider] = config.providers;
      assert.equal(provider.apiVersion, "credentialprovider.kubelet.k8s.io/v1");
      assert.equal(provider.args?.[0], "kubelet-credential-provider");
      assert.ok(provider.args?.includes("--env-file"), "the key comes from an env file");
      assert.ok(parseGoDuration(provider.defaultCacheDuration)! > 0);
      assert.ok(
        urlsMatch(provider.matchImages[0], "registry.example.com/your-private-registry/app"),
      );
      for (const { name } of provider.env ?? []) assert.notEqual(name, "SAUCE_ACCESS_KEY");
    });

    it("works as written once installed on a node, with the compiled binary", {
      timeout: 240_000,
    }, async () => {
      const host = await registryWithImage();
      const node = await sandbox();
      const cache = await mkdtemp(join(work, "var-cache-"));
      const envFile = await privateFile(
        "sauce-registry.env",
        `SAUCE_USERNAME=${USER}\nSAUCE_ACCESS_KEY=${KEY}\nSAUCE_API_URL=${standIn.url}\n`,
      );
      // The node's own values: the registry URL, the env file's and the cache's places.
      const text = (await readFile(join(EXAMPLES, "credential-provider-config.yaml"), "utf8"))
        .replaceAll("registry.example.com/your-private-registry", `${host}/team`)
        .replaceAll("/etc/kubernetes/sauce-registry.env", envFile)
        .replaceAll("/var/cache", cache);
      const [config] = await yamlDocuments(text) as unknown as CredentialProviderConfig[];
      // The kubelet's environment, as systemd gives it: no HOME.
      const kubeletStandIn = await kubelet(WAYS[1], config, { PATH: node.env.PATH });
      const image = `${host}/team/app:1`;
      assert.equal(kubeletStandIn.providersFor(`${host}/other/app:1`).length, 0);
      const [call] = await kubeletStandIn.credentialsFor(image);
      assert.equal(call.response.cacheKeyType, "Image");
      assertCacheDuration(call, standIn.tokenLifetimeSeconds);
      const pulled = await pullWith(image, call);
      assert.equal(pulled.code, 0, pulled.stderr);
      const cached = join(cache, "sauce-registry");
      assert.equal((await stat(cached)).mode & 0o777, 0o700);
      await scanner.checkTree(cache, (path) => /[0-9a-f]{64}\.json$/.test(path));
    });
  });
});

describe("token --format k8s-secret and the CronJob that refreshes it", () => {
  let standIn: StandIn;
  let services: OnDemandServices;
  let work: string;
  let seeded: Promise<string> | undefined;
  const sandboxes: Sandbox[] = [];
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    standIn = await startStandIn();
    services = new OnDemandServices(standIn);
    work = await mkdtemp(join(tmpdir(), "sr-k8s-secret-"));
  });
  after(async () => {
    await services?.stop();
    await standIn?.close();
    await Promise.all(sandboxes.map((sandbox) => sandbox.cleanup()));
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function sandbox(): Promise<Sandbox> {
    const made = await makeSandbox({
      SAUCE_USERNAME: USER,
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
    });
    sandboxes.push(made);
    return made;
  }

  /** The registry with an image in it (HOST/team/app:1). */
  function registryWithImage(): Promise<string> {
    seeded ??= (async () => {
      const { host } = await services.registry();
      const image = await buildOciImage(join(work, "oci"), { tag: "v1" });
      const token = standIn.issue();
      const auth = join(await mkdtemp(join(work, "seed-")), "auth.json");
      await writeFile(
        auth,
        JSON.stringify({
          auths: { [host]: { auth: base64(`${TOKEN_USERNAME}:${token.password}`) } },
        }),
        { mode: 0o600 },
      );
      const copied = await run(requireTool("skopeo"), [
        "copy",
        "--dest-tls-verify=false",
        "--dest-authfile",
        auth,
        image,
        `docker://${host}/team/app:1`,
      ], { env: await skopeoEnv(work), timeoutMs: 120_000 });
      assert.equal(copied.code, 0, copied.stderr);
      return host;
    })();
    return seeded;
  }

  /**
   * Decode a pull Secret the way the kubelet does (base64 → JSON → auths → base64 user:password)
   * and have the real registry accept that login, through the decoded config as a 0600 auth file.
   */
  async function assertSecretLogsIn(
    secret: Record<string, unknown>,
    host: string,
  ): Promise<{ username: string; password: string }> {
    assert.equal(secret.apiVersion, "v1");
    assert.equal(secret.kind, "Secret");
    assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
    const data = secret.data as Record<string, string>;
    assert.deepEqual(Object.keys(data), [".dockerconfigjson"]);
    const dockerConfigJson = Buffer.from(data[".dockerconfigjson"], "base64").toString("utf8");
    const { auths } = JSON.parse(dockerConfigJson) as {
      auths: Record<string, { auth: string }>;
    };
    assert.deepEqual(Object.keys(auths), [host], "auths holds the registry host");
    const pair = Buffer.from(auths[host].auth, "base64").toString("utf8");
    const colon = pair.indexOf(":");
    const login = { username: pair.slice(0, colon), password: pair.slice(colon + 1) };
    assert.equal(login.username, TOKEN_USERNAME);
    assert.ok(
      standIn.issued.some((token) => token.password === login.password),
      "a password Sauce issued",
    );
    scanner.add(login.password);
    const auth = join(await mkdtemp(join(work, "secret-")), "config.json");
    await writeFile(auth, dockerConfigJson, { mode: 0o600 });
    const inspected = await run(requireTool("skopeo"), [
      "inspect",
      "--tls-verify=false",
      "--authfile",
      auth,
      `docker://${host}/team/app:1`,
    ], { env: await skopeoEnv(work), timeoutMs: 60_000 });
    assert.equal(inspected.code, 0, `the registry refused the Secret's login: ${inspected.stderr}`);
    return login;
  }

  it("prints a dockerconfigjson Secret whose login the real registry accepts", {
    timeout: 180_000,
  }, async () => {
    const host = await registryWithImage();
    const node = await sandbox();
    const result = await runCli([
      "token",
      "--registry",
      `${host}/team`,
      "--format",
      "k8s-secret",
      "--namespace",
      "ci",
      "--secret-name",
      "team.pull-secret",
    ], { env: node.env });
    assert.equal(result.code, 0, result.stderr);
    scanner.check("k8s-secret stderr", result.stderr);
    const [secret, ...rest] = await yamlDocuments(result.stdout);
    assert.equal(rest.length, 0, "one document");
    const metadata = secret.metadata as {
      name: string;
      namespace: string;
      annotations: Record<string, string>;
    };
    assert.equal(metadata.name, "team.pull-secret");
    assert.equal(metadata.namespace, "ci");
    const login = await assertSecretLogsIn(secret, host);
    const issued = standIn.issued.find((token) => token.password === login.password)!;
    assert.equal(
      Date.parse(metadata.annotations["sauce-registry/expires-at"]),
      issued.expiresAt.getTime(),
      "the Secret says when it stops working",
    );
    assert.match(result.stdout, /stops working when the token expires/);
  });

  it("names the Secret sauce-registry and leaves the namespace to kubectl by default", {
    timeout: 60_000,
  }, async () => {
    const node = await sandbox();
    const result = await runCli([
      "token",
      "--registry",
      "registry.example.com/team",
      "--format",
      "k8s-secret",
    ], { env: node.env });
    assert.equal(result.code, 0, result.stderr);
    const [secret] = await yamlDocuments(result.stdout);
    assert.deepEqual(Object.keys(secret.metadata as object), ["name", "annotations"]);
    assert.equal((secret.metadata as { name: string }).name, "sauce-registry");
  });

  it("refuses bad names and stray options with one clear line", { timeout: 60_000 }, async () => {
    const node = await sandbox();
    const base = ["token", "--registry", "registry.example.com/team", "--format", "k8s-secret"];
    const cases: [string[], RegExp][] = [
      [[...base, "--namespace", "Not_A_Label"], /Invalid namespace "Not_A_Label"/],
      [[...base, "--secret-name=-bad"], /Invalid Secret name "-bad"/],
      [[...base, "--namespace", "x".repeat(64)], /Invalid namespace/],
      [["token", "--format", "k8s-secret"], /--format k8s-secret needs a REGISTRY/],
      [
        ["token", "--registry", "registry.example.com/team", "--namespace", "ci"],
        /go with --format k8s-secret/,
      ],
      [
        ["login", "registry.example.com", "--secret-name", "x"],
        /--secret-name does not apply to login/,
      ],
    ];
    for (const [args, says] of cases) {
      const result = await runCli(args, { env: node.env });
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.equal(result.stdout, "");
      assert.match(result.stderr.split("\n")[0], says);
      scanner.check("usage error", result.stderr);
    }
  });

  it("token --help explains the Secret expires and how to refresh it", async () => {
    const node = await sandbox();
    const help = await runCli(["token", "--help"], { env: node.env });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /k8s-secret/);
    assert.match(help.stdout, /--namespace NS/);
    assert.match(help.stdout, /--secret-name NAME/);
    assert.match(help.stdout, /stops working when the token\s+expires/);
    assert.match(help.stdout, /kubectl apply -f -/);
  });

  describe("examples/kubernetes/pull-secret-cronjob.yaml", () => {
    async function manifests(): Promise<Record<string, unknown>[]> {
      return await yamlDocuments(
        await readFile(join(EXAMPLES, "pull-secret-cronjob.yaml"), "utf8"),
      );
    }

    type Container = {
      name: string;
      image: string;
      command?: string[];
      args?: string[];
      env?: {
        name: string;
        value?: string;
        valueFrom?: {
          fieldRef?: { fieldPath: string };
          secretKeyRef?: { name: string; key: string };
        };
      }[];
      volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    };
    type Pod = {
      serviceAccountName: string;
      initContainers: Container[];
      containers: Container[];
      volumes: { name: string; emptyDir?: { medium?: string } }[];
    };

    function cronJob(documents: Record<string, unknown>[]) {
      const job = documents.find((document) => document.kind === "CronJob") as {
        apiVersion: string;
        metadata: { namespace: string };
        spec: { schedule: string; jobTemplate: { spec: { template: { spec: Pod } } } };
      };
      assert.ok(job, "a CronJob");
      return job;
    }

    /** The file the token container writes and the apply container reads, on their volume. */
    function handoff(pod: Pod): { file: string; mountPath: string } {
      const [token] = pod.initContainers;
      const args = token.args ?? [];
      const file = args[args.indexOf("--output") + 1];
      const mount = token.volumeMounts.find((each) => file.startsWith(`${each.mountPath}/`))!;
      assert.ok(mount, `--output ${file} is on a volume of the token container`);
      return { file, mountPath: mount.mountPath };
    }

    /** A container's argument as Kubernetes hands it over: $(NAME) from the container's env. */
    function expand(arg: string, env: Record<string, string>): string {
      return arg.replace(
        /\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (whole, name) => whole === "$$" ? "$" : env[name] ?? whole,
      );
    }

    it("names the right kinds and versions, refreshes every few minutes, and runs the release image as it is", async () => {
      const documents = await manifests();
      const kinds = documents.map((document) => `${document.apiVersion} ${document.kind}`);
      assert.deepEqual(kinds, [
        "v1 ServiceAccount",
        "rbac.authorization.k8s.io/v1 Role",
        "rbac.authorization.k8s.io/v1 RoleBinding",
        "batch/v1 CronJob",
      ]);
      const job = cronJob(documents);
      const minutes = /^\*\/(\d+) \* \* \* \*$/.exec(job.spec.schedule);
      assert.ok(minutes && Number(minutes[1]) <= 4, `every few minutes: ${job.spec.schedule}`);
      const pod = job.spec.jobTemplate.spec.template.spec;
      assert.equal(pod.serviceAccountName, "sauce-registry-refresher");

      // The release image, at this release, with its own entrypoint: no shell, no build.
      const version = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).version;
      assert.equal(pod.initContainers.length, 1);
      const [token] = pod.initContainers;
      assert.match(token.image, new RegExp(`/sauce-registry:${version.replaceAll(".", "\\.")}$`));
      assert.equal(token.command, undefined, "the image's entrypoint, /sauce-registry");
      assert.equal(token.args![0], "token");
      assert.match(token.args!.join(" "), /--format k8s-secret .*--output /);
      for (const variable of token.env ?? []) {
        if (variable.name === "SAUCE_ACCESS_KEY") {
          assert.ok(variable.valueFrom?.secretKeyRef, "the key comes from a Secret");
        }
      }

      // Handed over in a memory-backed volume the apply container only reads.
      const { file, mountPath } = handoff(pod);
      const [apply] = pod.containers;
      assert.equal(pod.containers.length, 1);
      assert.match(apply.image, /^registry\.k8s\.io\/kubectl:/);
      assert.deepEqual(apply.command, ["kubectl", "apply", "-f", file]);
      const volume = token.volumeMounts.find((each) => each.mountPath === mountPath)!.name;
      const mounted = apply.volumeMounts.find((each) => each.name === volume);
      assert.deepEqual(mounted, { name: volume, mountPath, readOnly: true });
      assert.equal(
        pod.volumes.find((each) => each.name === volume)?.emptyDir?.medium,
        "Memory",
        "never on a disk",
      );
      assert.ok(
        !(apply.env ?? []).some((variable) => variable.name.startsWith("SAUCE_")),
        "kubectl gets no Sauce credentials",
      );
    });

    it("applies a Secret the real registry accepts: the binary writes it 0600, kubectl reads it", {
      timeout: 240_000,
    }, async () => {
      const host = await registryWithImage();
      const job = cronJob(await manifests());
      const pod = job.spec.jobTemplate.spec.template.spec;
      const [token] = pod.initContainers;
      const [apply] = pod.containers;
      const { file, mountPath } = handoff(pod);
      // The release image's entrypoint is the compiled binary; kubectl needs an API server that
      // cannot run here, so a recorder stands in for it. The pod's volume is a folder here.
      const bin = await mkdtemp(join(work, "image-bin-"));
      const binary = join(bin, "sauce-registry");
      const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
      const task: string[] = denoJson.tasks["compile:bun"].split(/\s+/);
      const buildArgs = task.slice(1);
      buildArgs[buildArgs.indexOf("--outfile") + 1] = binary;
      const build = await run(requireTool("bun"), buildArgs, { cwd: ROOT, timeoutMs: 180_000 });
      assert.equal(build.code, 0, build.stderr);
      const { log } = await makeArgvRecorderShim(bin, "kubectl", null, {
        stdout: "secret/sauce-registry configured\n",
      });
      const home = await mkdtemp(join(work, "pod-home-"));
      const secrets: Record<string, string> = { SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY };
      const tokenEnv = (key: string): Record<string, string> => {
        const env: Record<string, string> = { HOME: home, SAUCE_API_URL: standIn.url };
        for (const variable of token.env ?? []) {
          const from = variable.valueFrom;
          env[variable.name] = from?.fieldRef
            ? job.metadata.namespace
            : from?.secretKeyRef
            ? (from.secretKeyRef.key === "SAUCE_ACCESS_KEY" ? key : secrets[from.secretKeyRef.key])
            : variable.value!;
        }
        env.SAUCE_REGISTRY_URL = `${host}/team`;
        return env;
      };
      const runPod = async (key: string) => {
        const volume = await mkdtemp(join(work, "pull-secret-"));
        const local = (path: string) => path.replace(mountPath, volume);
        const env = tokenEnv(key);
        const args = (token.args ?? []).map((arg) => local(expand(arg, env)));
        const first = await run(binary, args, { env, inheritEnv: false, cwd: home });
        scanner.check("token container output", first.stdout, first.stderr);
        if (first.code !== 0) return { first, volume };
        const [program, ...rest] = apply.command!;
        const second = await run(join(bin, program), rest.map(local), {
          env: { HOME: home },
          inheritEnv: false,
          stdin: await readFile(local(file), "utf8"), // what kubectl reads from the file
        });
        return { first, second, volume };
      };

      const { first, second, volume } = await runPod(KEY);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(first.stdout, "", "the Secret goes to the file, not to the log");
      assert.equal(second!.code, 0, second!.stderr);
      const written = join(volume, file.slice(mountPath.length + 1));
      assert.equal((await stat(written)).mode & 0o777, 0o600, "the pod's user's alone");
      const [call] = await readShimCalls(log);
      assert.deepEqual(call.args, ["apply", "-f", written]);
      scanner.check("kubectl argv", call.argv.join(" "));
      const [secret] = await yamlDocuments(call.stdin);
      assert.equal((secret.metadata as { name: string }).name, "sauce-registry");
      assert.equal((secret.metadata as { namespace: string }).namespace, "ci");
      await assertSecretLogsIn(secret, host);

      // A refused key fails the token container, so kubectl never runs and the Job fails.
      scanner.add(`${KEY}-wrong`);
      const failed = await runPod(`${KEY}-wrong`);
      assert.notEqual(failed.first.code, 0, "the job fails when no token comes");
      assert.deepEqual(await readdir(failed.volume), [], "nothing written");
      assert.equal((await readShimCalls(log)).length, 1, "kubectl did not run again");
    });
  });
});
