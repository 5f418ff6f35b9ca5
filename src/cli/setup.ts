/**
 * Internal: the commands that set a machine up for the credential helper — `configure-docker`
 * and `install-helper`.
 *
 * @example
 * ```ts
 * import { runConfigureDocker } from "./setup.ts";
 * console.log(typeof runConfigureDocker);
 * ```
 *
 * @module
 */

import { resolveCredentials } from "../credentials.ts";
import { configureDocker } from "../docker_config.ts";
import { printable, UsageError } from "../errors.ts";
import { HELPER_NAME, HELPER_PROGRAM } from "../helper.ts";
import { BUN_RUN_FLAGS, installHelper } from "../install_helper.ts";
import { dirname, findOnPath } from "../paths.ts";
import { shellQuote } from "../quote.ts";
import { parseRegistry } from "../reference.ts";
import { launcher, writeStderr, writeStdout } from "../runtime.ts";
import { resolveApiSettings, settingLookup } from "../settings.ts";
import {
  apiOptions,
  type Context,
  json,
  noArguments,
  readAccessKey,
  registries,
  text,
} from "./context.ts";

/**
 * `configure-docker REGISTRY... [--credentials-file PATH]`.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runConfigureDocker(context: Context): Promise<number> {
  const given = registries(context, 1, Infinity);
  given.forEach((registry) => parseRegistry(registry)); // every input before any file is read
  const envFile = text(context, "env-file");
  const settings = settingLookup({ envFile });
  const credentialsFile = text(context, "credentials-file");
  if (credentialsFile === undefined) {
    // The helper finds the identity when it runs: one given now would be dropped without a word.
    const given = ["username", "access-key-stdin"].find((name) => context.values[name]);
    if (given) {
      throw new UsageError(
        `configure-docker --${given} needs --credentials-file PATH, which keeps the identity for the helper; without it the helper reads SAUCE_USERNAME and SAUCE_ACCESS_KEY when it runs`,
      );
    }
  }
  const credentials = credentialsFile === undefined ? undefined : await resolveCredentials(
    {
      username: text(context, "username"),
      accessKey: context.values["access-key-stdin"] ? await readAccessKey() : undefined,
      envFile,
    },
    settings,
  );
  const { region, apiUrl } = await resolveApiSettings(apiOptions(context), settings);
  const result = await configureDocker(given, {
    region,
    apiUrl,
    ...(credentials ? { credentialsFile, credentials } : {}),
    signal: context.signal,
  });
  const helperPath = await findOnPath(HELPER_PROGRAM);
  if (context.json) {
    await json({ ...result, helperOnPath: helperPath ?? null });
  } else if (!context.quiet) {
    const state = (changed: boolean) => changed ? "updated" : "already up to date";
    await writeStdout(
      `Docker config ${result.dockerConfig}: ${state(result.dockerConfigChanged)}\n` +
        `Registries file ${result.settingsFile}: ${state(result.settingsChanged)}\n` +
        (credentialsFile ? `Credentials file ${credentialsFile}: written (mode 0600)\n` : "") +
        `Docker, Podman, Skopeo and Buildah now get fresh tokens for ${result.hosts.join(", ")}\n`,
    );
  }
  if (!context.json) {
    for (const [host, previous] of Object.entries(result.replacedHelpers ?? {})) {
      await writeStderr(
        `warning: credHelpers for ${host} named ${
          printable(previous, 60)
        }; it now names ${HELPER_NAME} (the previous config is in ${result.dockerConfig}.bak)\n`,
      );
    }
  }
  if (!helperPath && !context.json) {
    await writeStderr(
      `warning: ${HELPER_PROGRAM} is not on PATH, so Docker cannot run it yet; run: ${
        installHelperCommand(context.entry)
      }\n`,
    );
  }
  return 0;
}

function installHelperCommand(entry: string): string {
  const { kind, program, script } = launcher(entry);
  if (kind === "compiled") return `${shellQuote(program)} install-helper`;
  return kind === "bun"
    ? `bun ${BUN_RUN_FLAGS.join(" ")} ${shellQuote(script!)} install-helper`
    : `deno run -A --no-config ${shellQuote(script!)} install-helper`;
}

/**
 * `install-helper [--dir DIR]`.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runInstallHelper(context: Context): Promise<number> {
  noArguments(context);
  const how = launcher(context.entry);
  const { path, onPath } = await installHelper(how, text(context, "dir"));
  const kind = how.kind === "compiled" ? "symlink" : `${how.kind} wrapper`;
  if (context.json) {
    await json({ path, kind, on_path: onPath });
  } else {
    if (!context.quiet) await writeStdout(`Installed ${path} (${kind})\n`);
    if (!onPath) {
      await writeStderr(
        `warning: ${dirname(path)} is not on PATH; add it so Docker finds the helper\n`,
      );
    }
  }
  return 0;
}
