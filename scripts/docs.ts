/**
 * Writes the command reference that the command table generates: `docs/commands.md`, the man
 * page `docs/sauce-registry.1`, and README's exit-code table (`deno task docs`). With `--check`,
 * writes nothing and exits 1 when a committed file differs from what the table makes.
 *
 * @example
 * ```sh
 * deno task docs           # after changing src/cli/commands.ts, options.ts or help.ts
 * deno task docs --check
 * ```
 *
 * @module
 */

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../src/cli/commands.ts";
import {
  commandReference,
  manPage,
  readmeWithExitCodes,
  REFERENCE_FILES,
} from "../src/cli/reference.ts";
import { VERSION } from "../src/version.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const check = Deno.args.includes("--check");
const wanted: [string, string][] = [
  [REFERENCE_FILES.markdown, commandReference(COMMANDS, VERSION)],
  [REFERENCE_FILES.man, manPage(COMMANDS, VERSION)],
  ["README.md", readmeWithExitCodes(await readFile(root + "README.md", "utf8"))],
];
let stale = 0;
for (const [file, text] of wanted) {
  const current = await readFile(root + file, "utf8").catch(() => undefined);
  if (current === text) continue;
  if (check) {
    console.error(`${file} differs from what the command table makes: run deno task docs`);
    stale++;
  } else {
    await writeFile(root + file, text);
    console.error(`wrote ${file}`);
  }
}
Deno.exit(stale === 0 ? 0 : 1);
