/**
 * The `sauce-registry` command: the entry of the program, also when it runs as the Docker
 * credential helper `docker-credential-saucelabs` or as the kubelet's credential provider. Those
 * two, which Docker and the kubelet start for every pull, go straight to their own entries; the
 * command line and its table load only for the other commands.
 *
 * @example
 * ```sh
 * deno run -A --no-config cli.ts login registry.example.com/your-private-registry
 * bun --no-env-file --config=/dev/null --tsconfig-override=/dev/null cli.ts token --format env
 * ```
 *
 * @module
 */

import { HELPER_PROGRAM, helperMain } from "./src/helper.ts";
import { providerMain } from "./src/kubelet.ts";
import { commandLineArgs, exit, programName } from "./src/runtime.ts";

/**
 * Run the command line and return the exit code.
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * const code = await main(["token", "--format", "expires-at"]);
 * ```
 *
 * @param args The arguments after the program name.
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "credential-helper") return await helperMain(args.slice(1));
  if (args[0] === "kubelet-credential-provider") return await providerMain(args.slice(1));
  // Run through a symlink named like the helper, the program is the helper.
  if (programName() === HELPER_PROGRAM) return await helperMain(args);
  const { cliMain } = await import("./src/cli/main.ts");
  return await cliMain(args, import.meta.url);
}

if (import.meta.main) exit(await main(commandLineArgs()));
