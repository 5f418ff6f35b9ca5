/**
 * Internal: `status`, the diagnostics, as text or JSON.
 *
 * @example
 * ```ts
 * import { runStatus } from "./status.ts";
 * console.log(typeof runStatus);
 * ```
 *
 * @module
 */

import { printable } from "../errors.ts";
import { parseRegistry } from "../reference.ts";
import { writeStdout } from "../runtime.ts";
import { resolveApiSettings, settingLookup } from "../settings.ts";
import { status } from "../status.ts";
import { apiOptions, type Context, readAccessKey, registries, text } from "./context.ts";

/**
 * `status [REGISTRY] [--offline]`: never prints a secret.
 *
 * @param context The command's context.
 * @returns 0, or the exit code of what failed (the API's, or 2 without credentials).
 */
export async function runStatus(context: Context): Promise<number> {
  const [registry] = registries(context, 0, 1);
  if (registry !== undefined) parseRegistry(registry); // every input before any file is read
  const envFile = text(context, "env-file");
  const settings = settingLookup({ envFile });
  const accessKey = context.values["access-key-stdin"] ? await readAccessKey() : undefined;
  const report = await status(registry, {
    username: text(context, "username"),
    accessKey,
    envFile,
    ...(await resolveApiSettings(apiOptions(context), settings)),
    offline: context.values.offline === true,
    signal: context.signal,
  });
  if (context.json) {
    await writeStdout(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const lines = [
      `sauce-registry ${report.version} on ${report.runtime}`,
      `Credentials: ${
        report.credentials
          ? `username ${report.credentials.username} (from ${report.credentials.usernameSource}), access key from ${report.credentials.accessKeySource}`
          : report.credentialsProblem
      }`,
      `Region: ${report.region}, API ${report.apiUrl}`,
      `API: ${
        report.api ? `${report.api.ok ? "ok" : "failed"}: ${report.api.detail}` : "not checked"
      }`,
    ];
    if (report.host) {
      const docker = report.dockerConfig!;
      lines.push(
        `Registry host: ${report.host}${
          report.registry
            ? ` (configured: ${report.registry.registryUrl})`
            : " (not configured for the helper)"
        }`,
        `Cached token: ${
          report.cachedTokenExpiresAt
            ? `expires ${report.cachedTokenExpiresAt}`
            : report.cacheProblem ?? "none"
        }`,
        `Docker config ${docker.path}: ${
          !docker.exists ? "does not exist" : [
            docker.credHelper
              ? `credHelpers → docker-credential-${docker.credHelper}`
              : "no credHelpers entry",
            docker.hasAuth ? "an auths entry" : "no auths entry",
            docker.credsStore ? `credsStore ${docker.credsStore}` : "",
          ].filter(Boolean).join(", ")
        }`,
      );
    }
    lines.push(`Credential helper on PATH: ${report.helperOnPath ?? "no"}`);
    // Usernames, registry URLs and Docker settings come from files: nothing may steer the terminal.
    await writeStdout(`${lines.map((line) => printable(line, Infinity)).join("\n")}\n`);
  }
  if (report.api && !report.api.ok) return report.api.exitCode ?? 1;
  return report.credentials ? 0 : 2;
}
