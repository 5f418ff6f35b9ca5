/**
 * Internal: `token`, which prints a fresh token in the format asked for.
 *
 * @example
 * ```ts
 * import { FORMATS } from "./token.ts";
 * console.log(FORMATS.join(", "));
 * ```
 *
 * @module
 */

import { dockerConfigFor } from "../docker_config.ts";
import { printable, unknownChoice, UsageError } from "../errors.ts";
import { cannotWriteError, checkReplaceable, writeFileAtomic } from "../files.ts";
import { pullSecretNames, pullSecretYaml } from "../pull_secret.ts";
import { shellQuote } from "../quote.ts";
import { parseRegistry } from "../reference.ts";
import { writeStdout } from "../runtime.ts";
import { registryUrlFor } from "../temporary_auth.ts";
import { type Context, fetchWithStatus, isoTime, registries, text } from "./context.ts";

/** The token formats of `token --format`. */
export const FORMATS = [
  "json",
  "env",
  "username",
  "password",
  "expires-at",
  "docker-config",
  "k8s-secret",
] as const;

/**
 * `token [REGISTRY] [--format FORMAT] [--namespace NS] [--secret-name NAME] [--output FILE]`.
 * Every input is checked before the token is asked for: a typo costs no token.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runToken(context: Context): Promise<number> {
  const [registry] = registries(context, 0, 1);
  const chosen = text(context, "format");
  if (context.json && chosen !== undefined && chosen !== "json") {
    throw new UsageError(
      `--json prints JSON: it does not go with --format ${printable(chosen, 20)}`,
    );
  }
  const format = chosen ?? "json";
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw unknownChoice("format", format, FORMATS);
  }
  const reference = registry ? parseRegistry(registry) : undefined;
  if ((format === "docker-config" || format === "k8s-secret") && !reference) {
    throw new UsageError(`--format ${format} needs a REGISTRY`);
  }
  const given = { name: text(context, "secret-name"), namespace: text(context, "namespace") };
  if (format !== "k8s-secret" && (given.name !== undefined || given.namespace !== undefined)) {
    throw new UsageError("--namespace and --secret-name go with --format k8s-secret");
  }
  const secret = format === "k8s-secret" ? pullSecretNames(given) : undefined;
  const output = text(context, "output");
  const file = output === "-" ? undefined : output;
  if (file !== undefined) await checkReplaceable(file, "--output");
  const token = await fetchWithStatus(context, registry && await registryUrlFor(registry));
  const expiresAt = isoTime(token.expiresAt);
  const outputs: Record<string, () => string> = {
    json: () =>
      JSON.stringify({ username: token.username, password: token.password, expires_at: expiresAt }),
    env: () =>
      [
        `export DOCKER_USERNAME=${shellQuote(token.username)}`,
        `export DOCKER_PASSWORD=${shellQuote(token.password)}`,
        ...(reference ? [`export DOCKER_REGISTRY=${shellQuote(reference.host)}`] : []),
      ].join("\n"),
    username: () => token.username,
    password: () => token.password,
    "expires-at": () => expiresAt,
    "docker-config": () => JSON.stringify(dockerConfigFor(token, reference!.host), null, "\t"),
    "k8s-secret": () => pullSecretYaml(token, reference!.host, secret).trimEnd(),
  };
  const answer = `${outputs[format]()}\n`;
  if (file === undefined) {
    await writeStdout(answer);
    return 0;
  }
  try {
    await writeFileAtomic(file, answer, 0o600);
  } catch (error) {
    throw cannotWriteError(file, error);
  }
  return 0;
}
