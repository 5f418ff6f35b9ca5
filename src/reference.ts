/**
 * Internal: registry URLs and image references, taken apart (re-exported by `mod.ts`). Small and
 * free of other dependencies, so that the credential helper's and the kubelet provider's cached
 * answers can check a host the same way every other command does.
 *
 * @example
 * ```ts
 * import { registryHost } from "./reference.ts";
 * registryHost("https://registry.example.com/your-private-registry/"); // "registry.example.com"
 * ```
 *
 * @module
 */

import { printable, UsageError } from "./errors.ts";

/** A registry URL or image reference, taken apart. */
export interface RegistryReference {
  /** The host and optional port, lower-cased: what `docker login` takes. */
  host: string;
  /** Host and path without scheme, tag, digest or trailing slash: what the Sauce API takes. */
  registryUrl: string;
  /** The repository path after the host, if any (`team/app`). */
  path: string;
  /** The tag, for an image reference. */
  tag?: string;
  /** The digest, for an image reference. */
  digest?: string;
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const PATH_COMPONENT = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
/** The registered digest algorithms (OCI image spec), by their lower-case hex length. */
const DIGEST_HEX_DIGITS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * What is wrong with a digest, or undefined: one of a registered algorithm must be its name in
 * lower case and exactly as many lower-case hex digits as it makes; another, `ALGORITHM:ENCODED`.
 */
function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(":");
  const algorithm = colon === -1 ? "" : digest.slice(0, colon).toLowerCase();
  const digits = Object.hasOwn(DIGEST_HEX_DIGITS, algorithm) ? DIGEST_HEX_DIGITS[algorithm] : 0;
  if (digits > 0) {
    return new RegExp(`^${algorithm}:[0-9a-f]{${digits}}$`).test(digest)
      ? undefined
      : `the digest is malformed (expected ${algorithm}: and ${digits} lower-case hex digits)`;
  }
  return DIGEST.test(digest)
    ? undefined
    : "the digest is malformed (expected sha256: and 64 lower-case hex digits)";
}

/**
 * A URL or registry reference as it may be shown: everything before the last `@` of what could
 * be its authority (`user:password@`, where a password may hold `/` and `@`) becomes `***`. An
 * `@` that starts a digest (`…/app@sha256:…`) is not userinfo.
 */
export function maskUserinfo(input: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(input)?.[0] ?? "";
  const rest = input.slice(scheme.length);
  let at = rest.lastIndexOf("@");
  while (at !== -1 && DIGEST.test(rest.slice(at + 1)) && rest.slice(0, at).includes("/")) {
    at = rest.lastIndexOf("@", at - 1);
  }
  return at === -1 ? input : `${scheme}***${rest.slice(at)}`;
}

function registryUsage(input: string, problem: string): UsageError {
  // A password in user:password@host must not be echoed back, whatever it holds.
  const shown = maskUserinfo(input);
  return new UsageError(
    `Invalid registry "${
      printable(shown, 60)
    }": ${problem}; expected a registry URL like registry.example.com/your-private-registry or an image like registry.example.com/team/app:1.0`,
  );
}

/** Whether `[…]` holds a valid IPv6 address (the URL parser knows the grammar). */
function isIpv6Literal(bracketed: string): boolean {
  if (!/^\[[0-9a-f:.]+\]$/.test(bracketed)) return false;
  try {
    return new URL(`http://${bracketed}/`).hostname.startsWith("[");
  } catch {
    return false;
  }
}

/** How a character is named in a message: `U+212A`, which a look-alike letter cannot hide. */
function codePointName(character: string): string {
  return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

function checkHost(input: string, host: string): string {
  // Checked as given, before toLowerCase(), which maps some non-ASCII letters to ASCII ones:
  // "\u212A" (KELVIN SIGN) would become "k" and pass for a host nobody typed.
  const foreign = /[^A-Za-z0-9.\-[\]:]/u.exec(host);
  if (foreign) {
    throw registryUsage(
      input,
      `the host has a character that is not an ASCII letter, digit, "-" or "." (${
        codePointName(foreign[0])
      })`,
    );
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host);
  if (!match) throw registryUsage(input, "the host is malformed");
  const [, name, port] = match;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw registryUsage(input, `port ${port} is out of range`);
  }
  const lower = name.toLowerCase();
  if (name.startsWith("[")) {
    if (!isIpv6Literal(lower)) throw registryUsage(input, "the host is not a valid IPv6 address");
  } else {
    const labels = lower.split(".");
    if (lower.length > 253 || labels.some((label) => !HOST_LABEL.test(label))) {
      throw registryUsage(input, "the host is not a valid host name");
    }
    if (labels.length === 1 && lower !== "localhost" && port === undefined) {
      throw registryUsage(input, `"${lower}" is not a registry host (no dot or port)`);
    }
  }
  // "host:08080" and "host:8080" are one registry: Docker's config must see one spelling.
  return port === undefined ? lower : `${lower}:${Number(port)}`;
}

/**
 * Take apart a registry URL as Sauce Labs gives it (`registry.example.com/your-private-registry`,
 * with or without `https://`, a trailing slash or a port) or an image reference
 * (`registry.example.com/team/app:1.2@sha256:…`).
 *
 * @example
 * ```ts
 * import { parseRegistry } from "@saucelabs-community/sauce-registry";
 * parseRegistry("https://registry.example.com/team/app:1.2/".replace(/\/$/, ""));
 * // { host: "registry.example.com", registryUrl: "registry.example.com/team/app", path: "team/app", tag: "1.2" }
 * ```
 *
 * @param input The registry URL or image reference.
 * @returns Its parts.
 * @throws {UsageError} When it is not a registry URL or image reference.
 */
export function parseRegistry(input: string): RegistryReference {
  let rest = input.trim();
  if (rest === "") throw registryUsage(input, "it is empty");
  // deno-lint-ignore no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(rest)) throw registryUsage(input, "it contains white space");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (scheme) {
    if (!/^https?$/i.test(scheme[1])) {
      throw registryUsage(input, `the scheme ${scheme[1]}:// is not supported`);
    }
    rest = rest.slice(scheme[0].length);
  }
  if (maskUserinfo(rest) !== rest) {
    // What is shown stays masked (a password may hold "/"), but a known digest algorithm after a
    // path is a digest typed wrong, not credentials.
    const at = rest.lastIndexOf("@");
    const after = rest.slice(at + 1);
    const digestTypedWrong = /^sha(256|384|512):[^/]*$/i.test(after) &&
      rest.slice(0, at).includes("/");
    throw registryUsage(
      input,
      digestTypedWrong
        ? digestProblem(after) ?? "the digest is malformed"
        : "credentials (user:password@) do not belong in it",
    );
  }
  if (/[?#]/.test(rest)) throw registryUsage(input, "it has a query or fragment");
  rest = rest.replace(/\/+$/, "");
  const slash = rest.indexOf("/");
  const hostPart = slash === -1 ? rest : rest.slice(0, slash);
  let path = slash === -1 ? "" : rest.slice(slash + 1);
  if (hostPart === "") throw registryUsage(input, "the host is missing");
  const host = checkHost(input, hostPart);
  let digest: string | undefined;
  let tag: string | undefined;
  const at = path.indexOf("@");
  if (at !== -1) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) throw registryUsage(input, problem);
  }
  const lastColon = path.lastIndexOf(":");
  if (lastColon !== -1 && lastColon > path.lastIndexOf("/")) {
    tag = path.slice(lastColon + 1);
    path = path.slice(0, lastColon);
    if (!TAG.test(tag)) throw registryUsage(input, "the tag is malformed");
  }
  if (path !== "" && path.split("/").some((part) => !PATH_COMPONENT.test(part))) {
    throw registryUsage(
      input,
      "the repository path is malformed (lower-case letters, digits, . _ -)",
    );
  }
  if ((tag !== undefined || digest !== undefined) && path === "") {
    throw registryUsage(input, "a tag or digest needs a repository");
  }
  return {
    host,
    registryUrl: path ? `${host}/${path}` : host,
    path,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/**
 * Take apart an image reference as container tools take it (`registry.example.com/team/app:1.0`):
 * as {@linkcode parseRegistry} does, but without what that forgives in a registry URL — a scheme,
 * white space around it, a trailing `/` — since the tool is given the image as it was typed, and
 * with a repository.
 *
 * @example
 * ```ts
 * import { parseImage } from "./reference.ts";
 * parseImage("registry.example.com/team/app:1.0").tag; // "1.0"
 * ```
 *
 * @param input The image reference.
 * @returns Its parts.
 * @throws {UsageError} When it is not an image reference a tool takes as it is.
 */
export function parseImage(input: string): RegistryReference {
  const reference = parseRegistry(input);
  const { host, path, tag, digest } = reference;
  const plain = `${host}/${path || "team/app"}${tag !== undefined ? `:${tag}` : ""}${
    digest !== undefined ? `@${digest}` : ""
  }`;
  const problem = !path
    ? "the repository is missing"
    : input !== input.trim()
    ? "it has white space around it"
    : /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(input)
    ? "an image has no scheme"
    : input.endsWith("/")
    ? 'an image does not end with "/"'
    : undefined;
  if (problem) {
    throw new UsageError(
      `Invalid image "${printable(maskUserinfo(input), 60)}": ${problem}; expected an image like ${
        path ? plain : `${plain}:1.0`
      }`,
    );
  }
  return reference;
}

/**
 * The host (and port) that `docker login` takes for a registry URL or image reference: the
 * part before the first `/`.
 *
 * @example
 * ```ts
 * import { registryHost } from "@saucelabs-community/sauce-registry";
 * registryHost("https://registry.example.com/your-private-registry/"); // "registry.example.com"
 * ```
 *
 * @param ref A registry URL or image reference.
 * @returns The host, lower-cased, with its port if one was given.
 * @throws {UsageError} When `ref` is malformed.
 */
export function registryHost(ref: string): string {
  return parseRegistry(ref).host;
}

/**
 * The registry URL to ask the Sauce API for, from a registry URL or an image reference: a
 * registry URL (no tag nor digest, unless `image` says it is one) as it is; an image as the
 * registry recorded for its host when the image lies under it, else without its name. The API
 * wants the registry's whole URL, not a repository inside it.
 *
 * @param reference The parsed reference.
 * @param recorded The registry URL `configure-docker` recorded for its host, if any.
 * @param image Whether it is an image even without a tag or digest (`push IMAGE`).
 * @returns The registry URL.
 */
export function requestedRegistryUrl(
  reference: RegistryReference,
  recorded?: string,
  image = false,
): string {
  if (!image && reference.tag === undefined && reference.digest === undefined) {
    return reference.registryUrl;
  }
  const under = recorded !== undefined &&
    (reference.registryUrl === recorded || reference.registryUrl.startsWith(`${recorded}/`));
  return under ? recorded : imageRegistryUrl(reference);
}

/** The registry URL an image lives in: the image reference without its last path component. */
export function imageRegistryUrl(ref: RegistryReference): string {
  const parts = ref.path.split("/");
  return parts.length > 1 ? `${ref.host}/${parts.slice(0, -1).join("/")}` : ref.host;
}

/**
 * Registries by host, when no host has two registry URLs: what is keyed by host alone (Docker's
 * credential helpers, the kubelet's logins) can serve one URL per host. The same URL twice
 * counts once.
 *
 * @param references The registries.
 * @param why Why one URL per host, for the message.
 * @returns The registries by host, in the order given.
 * @throws {UsageError} When two URLs share a host.
 */
export function onePerHost<T extends { host: string; registryUrl: string }>(
  references: readonly T[],
  why: string,
): Map<string, T> {
  const byHost = new Map<string, T>();
  for (const reference of references) {
    const seen = byHost.get(reference.host);
    if (seen && seen.registryUrl !== reference.registryUrl) {
      throw new UsageError(
        `The registries ${seen.registryUrl} and ${reference.registryUrl} share the host ${reference.host}: ${why}`,
      );
    }
    byHost.set(reference.host, reference);
  }
  return byHost;
}

/** The host of a registry reference, or undefined when it is not one. */
export function safeHost(ref: string): string | undefined {
  try {
    return registryHost(ref);
  } catch {
    return undefined;
  }
}
