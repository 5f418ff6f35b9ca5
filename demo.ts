/**
 * The demo: no account and no network needed. Starts the local stand-in for the Sauce Labs API
 * on loopback, then runs the real `sauce-registry` command against it: `token`,
 * `token --format env` and a `login` (with real skopeo into a real docker-registry when both are
 * installed; otherwise it shows what it would run). Secrets are masked in what it prints.
 *
 * Run it with `deno task demo` (or `npx -y deno@2 task demo` where only Node.js is installed).
 *
 * @module
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./tests/fixtures/stand_in.ts";
import { type Registry, startRegistry } from "./tests/fixtures/services.ts";

const CLI = fileURLToPath(new URL("./cli.ts", import.meta.url));
const bold = (text: string) => Deno.noColor ? text : `\x1b[1m${text}\x1b[0m`;

function onPath(program: string): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${program}`).isFile;
    } catch {
      return false;
    }
  });
}

/** Run the CLI, showing its command line and output with every issued secret masked. */
function cli(standIn: StandIn, args: string[], env: Record<string, string>): Promise<number> {
  const mask = (text: string) => {
    let masked = text;
    for (const secret of [...standIn.issued.map((token) => token.password), env.SAUCE_ACCESS_KEY]) {
      masked = masked.split(secret).join(`${secret.slice(0, 6)}…(masked)`);
    }
    return masked;
  };
  console.log(`\n${bold(`$ sauce-registry ${args.join(" ")}`)}`);
  return new Promise((resolve, reject) => {
    const child = spawn(Deno.execPath(), ["run", "-A", "--quiet", "--no-config", CLI, ...args], {
      env: { ...Deno.env.toObject(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (chunk: Uint8Array) => Deno.stdout.writeSync(enc(mask(dec(chunk)))));
    child.stderr.on("data", (chunk: Uint8Array) => Deno.stderr.writeSync(enc(mask(dec(chunk)))));
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}
const enc = (text: string) => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

const standIn = await startStandIn();
let registry: Registry | undefined;
const home = await Deno.makeTempDir({ prefix: "sauce-registry-demo-" });
try {
  const [username, accessKey] = Object.entries(DEFAULT_USERS)[0];
  const env = {
    SAUCE_API_URL: standIn.url,
    SAUCE_USERNAME: username,
    SAUCE_ACCESS_KEY: accessKey,
    HOME: home,
    XDG_CONFIG_HOME: `${home}/.config`,
    XDG_CACHE_HOME: `${home}/.cache`,
    DOCKER_CONFIG: `${home}/.docker`,
    REGISTRY_AUTH_FILE: `${home}/auth.json`,
  };
  console.log(`Local stand-in for the Sauce Labs API at ${standIn.url} (user "${username}").`);
  console.log("The access key comes from SAUCE_ACCESS_KEY, never from the command line.");

  const useRealRegistry = onPath("skopeo") && onPath("docker-registry");
  if (useRealRegistry) registry = await startRegistry(standIn);
  const registryUrl = `${registry?.host ?? "registry.example.com"}/your-private-registry`;

  let failures = 0;
  failures += await cli(standIn, ["token", "--registry", registryUrl], env) === 0 ? 0 : 1;
  failures += await cli(standIn, ["token", "--registry", registryUrl, "--format", "env"], env) ===
      0
    ? 0
    : 1;
  if (registry) {
    console.log(
      `\nA real docker-registry at ${registry.host} accepts only tokens the stand-in issued:`,
    );
    failures += await cli(
        standIn,
        ["login", registryUrl, "--tool", "skopeo", "--tool-arg=--tls-verify=false"],
        env,
      ) === 0
      ? 0
      : 1;
  } else {
    console.log(`\n${bold(`$ sauce-registry login ${registryUrl} --tool skopeo`)}`);
    console.log(
      "skopeo and docker-registry are not installed, so this step is not run. It would run:\n" +
        `  skopeo login --username oauth2accesstoken --password-stdin ${
          registryUrl.split("/")[0]
        }\n` +
        "with the token's password written to skopeo's standard input, never its arguments.",
    );
  }
  console.log(
    `\nThe stand-in answered ${standIn.tokenRequestCount()} token requests.` +
      (failures ? ` ${failures} step(s) failed.` : " Done."),
  );
  Deno.exitCode = failures ? 1 : 0;
} finally {
  await registry?.stop();
  await standIn.close();
  await Deno.remove(home, { recursive: true });
}
