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
import type { DockerConfigStatus } from "../docker_config.ts";
import { status, type StatusReport } from "../status.ts";
import { apiOptions, type Context, readAccessKey, registries, text } from "./context.ts";

/** The options a configured registry's report does not use: the helper has its own settings. */
const NOT_FOR_THE_HELPER = ["username", "access-key-stdin", "env-file", "region", "api-url"];

/**
 * `status [REGISTRY] [--offline]`: never prints a secret.
 *
 * @param context The command's context.
 * @returns 0; else the API's exit code when it failed, 1 for a registries file or Docker config
 * that cannot be read, 2 without credentials.
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
  const unusedOptions = report.settingsOf === "credential-helper"
    ? NOT_FOR_THE_HELPER.filter((name) => context.values[name] !== undefined).map((name) =>
      `--${name}`
    )
    : [];
  if (context.json) {
    const json = unusedOptions.length > 0 ? { ...report, unusedOptions } : report;
    await writeStdout(`${JSON.stringify(json, null, 2)}\n`);
  } else {
    await writeStdout(statusText(report, unusedOptions));
  }
  if (report.api && !report.api.ok) return report.api.exitCode ?? 1;
  if (report.registriesProblem || report.dockerConfigProblem) return 1;
  return report.credentials ? 0 : 2;
}

/** The report as lines of text; `unusedOptions` were given but do not change the helper's view. */
function statusText(report: StatusReport, unusedOptions: string[]): string {
  const helperView = report.settingsOf === "credential-helper";
  const lines = [`sauce-registry ${report.version} on ${report.runtime}`];
  if (report.registriesProblem) lines.push(`Registries file: ${report.registriesProblem}`);
  if (helperView) {
    lines.push(
      `Settings: the credential helper's for ${report.host}, as configure-docker recorded them${
        unusedOptions.length > 0
          ? `; ${unusedOptions.join(", ").replace(/, ([^,]*)$/, " and $1")} ${
            unusedOptions.length > 1 ? "do" : "does"
          } not change them`
          : ""
      }`,
    );
  }
  const credentials = report.credentials;
  lines.push(
    `Credentials: ${
      !credentials
        ? report.credentialsProblem
        : credentials.credentialsFile
        ? `username ${credentials.username}, from ${credentials.credentialsFile} (configure-docker --credentials-file)`
        : `username ${credentials.username} (from ${credentials.usernameSource}), access key from ${credentials.accessKeySource}`
    }`,
    `Region: ${report.region}, API ${report.apiUrl}`,
    `API: ${
      report.api ? `${report.api.ok ? "ok" : "failed"}: ${report.api.detail}` : "not checked"
    }`,
  );
  if (report.host) {
    lines.push(
      `Registry host: ${report.host}${
        report.registry
          ? ` (configured: ${report.registry.registryUrl})`
          : report.registriesProblem
          ? " (the registries file cannot be read)"
          : " (not configured for the helper)"
      }`,
      `Cached token: ${
        report.cachedTokenExpiresAt
          ? `expires ${report.cachedTokenExpiresAt}`
          : report.cacheProblem ?? "none"
      }`,
      report.dockerConfig
        ? dockerConfigLine(report.dockerConfig)
        : `Docker config: ${report.dockerConfigProblem}`,
    );
  }
  lines.push(`Credential helper on PATH: ${report.helperOnPath ?? "no"}`);
  // Usernames, registry URLs and Docker settings come from files: nothing may steer the terminal.
  return `${lines.map((line) => printable(line, Infinity)).join("\n")}\n`;
}

function dockerConfigLine(docker: DockerConfigStatus): string {
  return `Docker config ${docker.path}: ${
    !docker.exists ? "does not exist" : [
      docker.credHelper
        ? `credHelpers → docker-credential-${docker.credHelper}`
        : "no credHelpers entry",
      docker.hasAuth ? "an auths entry" : "no auths entry",
      docker.credsStore ? `credsStore ${docker.credsStore}` : "",
    ].filter(Boolean).join(", ")
  }`;
}
