/**
 * Internal: Kubernetes pull Secrets (`kubernetes.io/dockerconfigjson`) for `token --format
 * k8s-secret`: a login for one registry host as YAML for `kubectl apply -f -`, every string quoted.
 *
 * @example
 * ```ts
 * import { pullSecretYaml } from "./pull_secret.ts";
 * const token = { username: "oauth2accesstoken", password: "…", expiresAt: new Date() };
 * console.log(pullSecretYaml(token, "registry.example.com", { namespace: "ci" }));
 * ```
 *
 * @module
 */

import { base64, type RegistryToken } from "./api.ts";
import { dockerConfigFor } from "./docker_config.ts";
import { printable, UsageError } from "./errors.ts";
import { yamlString } from "./quote.ts";

/** Options of {@linkcode pullSecretYaml}. */
export interface PullSecretOptions {
  /** The Secret's name; default `sauce-registry`. */
  name?: string;
  /** The Secret's namespace; default none (kubectl's current one). */
  namespace?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The Secret's name and namespace, checked: what `token --format k8s-secret` checks before it
 * asks for a token, so that a typo costs no token.
 *
 * @param options The name and namespace given.
 * @returns The name (default `sauce-registry`) and the namespace.
 * @throws {UsageError} When the name or namespace is not a valid Kubernetes name.
 */
export function pullSecretNames(
  options: PullSecretOptions = {},
): { name: string; namespace?: string } {
  const name = options.name ?? "sauce-registry";
  if (name.length > 253 || !name.split(".").every((label) => DNS_LABEL.test(label))) {
    throw new UsageError(
      `Invalid Secret name "${
        printable(name, 60)
      }": expected lower-case letters, digits, "-" and ".", like sauce-registry`,
    );
  }
  const namespace = options.namespace;
  if (namespace !== undefined && (namespace.length > 63 || !DNS_LABEL.test(namespace))) {
    throw new UsageError(
      `Invalid namespace "${
        printable(namespace, 70)
      }": expected at most 63 lower-case letters, digits and "-", like ci`,
    );
  }
  return { name, ...(namespace !== undefined ? { namespace } : {}) };
}

/**
 * A Kubernetes pull Secret (`kubernetes.io/dockerconfigjson`) holding a login for one registry
 * host, as YAML for `kubectl apply -f -`. It stops working when the token expires (its
 * `sauce-registry/expires-at` annotation says when): refresh it before then.
 *
 * @example
 * ```ts
 * import { fetchToken, pullSecretYaml } from "@saucelabs-community/sauce-registry";
 * const token = await fetchToken({ credentials: { username: "alice", accessKey: "…" } });
 * console.log(pullSecretYaml(token, "registry.example.com", { namespace: "ci" }));
 * ```
 *
 * @param token The registry token.
 * @param host The registry host.
 * @param options The Secret's name and namespace.
 * @returns The YAML document.
 * @throws {UsageError} When the name or namespace is not a valid Kubernetes name.
 */
export function pullSecretYaml(
  token: RegistryToken,
  host: string,
  options: PullSecretOptions = {},
): string {
  const { name, namespace } = pullSecretNames(options);
  const expiresAt = token.expiresAt.toISOString().replace(/\.000Z$/, "Z");
  const config = base64(JSON.stringify(dockerConfigFor(token, host)));
  // Every string quoted: a name such as null, on, 012 or 2001-12-14 is a valid Kubernetes name
  // that YAML would read as null, a boolean, a number or a date.
  return [
    `# A pull Secret for ${host}, made by sauce-registry. It stops working when the token expires`,
    `# (${expiresAt}): refresh it before then.`,
    "apiVersion: v1",
    "kind: Secret",
    "metadata:",
    `  name: ${yamlString(name)}`,
    ...(namespace !== undefined ? [`  namespace: ${yamlString(namespace)}`] : []),
    "  annotations:",
    `    sauce-registry/expires-at: ${yamlString(expiresAt)}`,
    `type: ${yamlString("kubernetes.io/dockerconfigjson")}`,
    "data:",
    `  .dockerconfigjson: ${yamlString(config)}`,
    "",
  ].join("\n");
}
