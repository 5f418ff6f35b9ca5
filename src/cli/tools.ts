/**
 * Internal: the commands that run container tools — `login`, `logout`, `push` and `exec`.
 *
 * @example
 * ```ts
 * import { runLogin } from "./tools.ts";
 * console.log(typeof runLogin);
 * ```
 *
 * @module
 */

import { HELPER_PROGRAM } from "../helper.ts";
import { checkTool, credentialHelperServes, login, logout } from "../login.ts";
import { spawn } from "../process.ts";
import { parseRegistry } from "../reference.ts";
import { writeStderr, writeStdout } from "../runtime.ts";
import {
  checkPush,
  PUSH_TOOLS,
  pushImage,
  registryUrlFor,
  registryUrlForImage,
  withTemporaryAuth,
} from "../temporary_auth.ts";
import { printable, UsageError } from "../errors.ts";
import {
  type Context,
  describeExpiry,
  fetchWithStatus,
  info,
  isoTime,
  json,
  list,
  registries,
  requireProgram,
  text,
} from "./context.ts";

/**
 * `login REGISTRY [--tool TOOL] [--tool-arg ARG]...`.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runLogin(context: Context): Promise<number> {
  const [registry] = registries(context, 1, 1);
  const reference = parseRegistry(registry);
  const tool = checkTool(text(context, "tool") ?? "docker");
  await requireProgram(tool);
  const helperConfig = await credentialHelperServes(reference.host, tool);
  if (helperConfig) return await reportHelperServes(context, reference.host, tool, helperConfig);
  const token = await fetchWithStatus(context, await registryUrlFor(registry));
  const result = await login(token, registry, {
    tool,
    toolArgs: list(context, "tool-arg"),
    signal: context.signal,
  });
  if (context.values.verbose) {
    await writeStderr(`${tool}: ${printable(`${result.stdout}${result.stderr}`, 2000)}\n`);
  }
  if (context.json) {
    await json({
      host: reference.host,
      tool,
      username: token.username,
      expires_at: isoTime(token.expiresAt),
      ...(result.authFile ? { auth_file: result.authFile } : {}),
    });
  } else if (!context.quiet) {
    await writeStdout(
      `Logged in to ${reference.host} with ${tool}${
        result.authFile ? ` (kept in ${result.authFile})` : ""
      }; the login expires at ${describeExpiry(token.expiresAt)}\n`,
    );
  }
  return 0;
}

/**
 * The credential helper already serves the host for this tool: a login would be shadowed by it,
 * or shadow it until the login expired. Say so instead of logging in.
 */
async function reportHelperServes(
  context: Context,
  host: string,
  tool: string,
  dockerConfig: string,
): Promise<number> {
  if (context.json) {
    await json({ host, tool, credential_helper: HELPER_PROGRAM, docker_config: dockerConfig });
  } else if (!context.quiet) {
    await writeStdout(
      `${host} is already served by the credential helper (credHelpers in ${dockerConfig}): ${tool} gets a fresh token for every pull and push, so no login is needed and none was made\n`,
    );
  }
  return 0;
}

/**
 * `logout REGISTRY [--tool TOOL] [--tool-arg ARG]...`.
 *
 * @param context The command's context.
 * @returns The exit code.
 */
export async function runLogout(context: Context): Promise<number> {
  const [registry] = registries(context, 1, 1);
  const tool = checkTool(text(context, "tool") ?? "docker");
  const host = parseRegistry(registry).host;
  await logout(registry, { tool, toolArgs: list(context, "tool-arg"), signal: context.signal });
  if (context.json) await json({ host, tool });
  else await info(context, `Logged ${tool} out of ${host}`);
  return 0;
}

/**
 * `push IMAGE [--tool docker|podman] [--tool-arg ARG]...`.
 *
 * @param context The command's context.
 * @returns The exit code (the tool's).
 */
export async function runPush(context: Context): Promise<number> {
  const [image] = registries(context, 1, 1, "IMAGE");
  const tool = checkTool(text(context, "tool") ?? "docker", PUSH_TOOLS);
  checkPush(image, tool);
  await requireProgram(tool);
  const token = await fetchWithStatus(context, await registryUrlForImage(image));
  await info(
    context,
    `Pushing ${image} with ${tool}; the token expires at ${describeExpiry(token.expiresAt)}`,
  );
  return await pushImage(token, image, {
    tool,
    toolArgs: list(context, "tool-arg"),
    signal: context.signal,
    log: context.log,
    whileToolRuns: context.whileChildRuns,
  });
}

/**
 * `exec REGISTRY -- COMMAND [ARG]...`.
 *
 * @param context The command's context.
 * @param command The command after `--`.
 * @returns The exit code (the command's).
 */
export async function runExec(context: Context, command: string[]): Promise<number> {
  const [registry] = registries(context, 1, 1);
  if (command.length === 0) throw new UsageError("exec needs a command after --");
  const reference = parseRegistry(registry);
  // A command typed wrong costs no token, whether a name on PATH or a file's path.
  await requireProgram(command[0]);
  const token = await fetchWithStatus(context, await registryUrlFor(registry));
  return await withTemporaryAuth(
    token,
    reference.host,
    (_dir, environment) =>
      context.whileChildRuns(async () => {
        const result = await spawn(command[0], command.slice(1), {
          env: environment,
          inheritStdio: true,
          signal: context.signal,
          forwardSignals: true,
        });
        return result.code;
      }),
    { log: context.log },
  );
}
