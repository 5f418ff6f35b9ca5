// Inputs are read back as given, and checked before anything is asked or touched (issue 18,
// items 5 and 10):
//
// - `yamlString` reads back exactly, through PyYAML (both its loaders), kubectl and the tool's own
//   reader of credentials files: Kubernetes names that YAML would take for null, a boolean, a
//   number or a date, and generated strings with quotes, backslashes, controls and non-ASCII;
// - `token --format k8s-secret` run for real keeps such a name and namespace strings, for PyYAML
//   and for kubectl (`--namespace null` stays in namespace "null");
// - every command refuses a malformed input (exit 2, one line saying what was expected) before
//   it asks the stand-in for a token — which here never answers — and before it writes a file.
//
// Runs unchanged under `deno test -A` and `bun test`.

import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { seeded } from "./fixtures/common.ts";
import {
  type CliResult,
  makeSandbox,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import { makeArgvRecorderShim, readShimCalls, requireTool, run } from "./fixtures/services.ts";
import { type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { parseSaucectlCredentials } from "../src/credentials.ts";
import { configureDocker } from "../src/docker_config.ts";
import { UsageError } from "../src/errors.ts";
import { installHelper } from "../src/install_helper.ts";
import { yamlString } from "../src/quote.ts";
import { parseImage, parseRegistry } from "../src/reference.ts";
import { launcher } from "../src/runtime.ts";

const KEY = "alice-access-key-0123456789";
const PYTHON = "/usr/bin/python3";
const SLOW = { timeout: 240_000 };

/**
 * Valid Kubernetes names that a YAML reader takes for something else when they are plain
 * scalars: null, booleans (YAML 1.1's y, on, off too: kubectl reads them so), integers in
 * several bases, floats, a date, NaN.
 */
const TRICKY_NAMES = [
  "null",
  "on",
  "no",
  "y",
  "n",
  "true",
  "yes",
  "off",
  "123",
  "0x1f",
  "012",
  "0o17",
  "0b101",
  "1e3",
  "1e-3",
  "1.5",
  "2001-12-14",
  "nan",
];

/** A namespace is one DNS label: no dot. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Characters that quoting gets wrong first. */
const AWKWARD = [
  '"',
  "'",
  "\\",
  "#",
  ":",
  ": ",
  " #",
  "-",
  "? ",
  "&",
  "*",
  "!",
  "|",
  ">",
  "%",
  "@",
  "`",
  "{",
  "[",
  ",",
  " ",
  "\t",
  ...Array.from({ length: 32 }, (_, code) => String.fromCharCode(code)), // C0 controls
  "\x7f",
  ...Array.from({ length: 32 }, (_, code) => String.fromCharCode(0x80 + code)), // C1 controls
  "\u00a0",
  "\u00e9",
  "\u00df",
  "\u4e2d",
  "\u05d0",
  "\u2028",
  "\u2029",
  "\ufeff",
  "\ufffe",
  "\uffff",
  "\ud83d\ude00",
  "\u{10ffff}",
];

/** Well-formed strings (no lone surrogates): awkward characters and random code points. */
function generatedStrings(count: number): string[] {
  const random = seeded(18);
  const strings: string[] = ["", " ", "  leading and trailing  ", "\n", "a\r\nb"];
  for (let index = 0; index < count; index++) {
    let text = "";
    const length = Math.floor(random() * 24);
    for (let char = 0; char < length; char++) {
      const pick = random();
      if (pick < 0.5) {
        text += AWKWARD[Math.floor(random() * AWKWARD.length)];
      } else if (pick < 0.7) {
        text += String.fromCharCode(0x20 + Math.floor(random() * 0x5f));
      } else {
        let code = Math.floor(random() * 0x110000);
        if (code >= 0xd800 && code <= 0xdfff) code -= 0x800;
        text += String.fromCodePoint(code);
      }
    }
    strings.push(text);
  }
  return strings;
}

/**
 * What PyYAML reads back from a YAML list of these scalars, with its pure-Python SafeLoader and
 * with libyaml's CSafeLoader: `[{loader, index, got}]` for each value read otherwise than expected.
 */
async function pyyamlMismatches(
  scalars: string[],
  expected: string[],
): Promise<{ loader: string; index: number; got: unknown }[]> {
  const script = `
import json, sys, yaml
data = json.loads(sys.stdin.read())
document = "".join("- " + scalar + "\\n" for scalar in data["scalars"])
wrong = []
for name in ("SafeLoader", "CSafeLoader"):
    try:
        got = yaml.load(document, Loader=getattr(yaml, name))
    except yaml.YAMLError as error:
        wrong.append({"loader": name, "index": -1, "got": str(error)})
        continue
    for index, value in enumerate(got):
        if value != data["expected"][index]:
            wrong.append({"loader": name, "index": index, "got": repr(value)})
print(json.dumps(wrong))
`;
  const result = await run(PYTHON, ["-c", script], {
    stdin: JSON.stringify({ scalars, expected }),
  });
  assert.equal(
    result.code,
    0,
    `python3 with PyYAML (apt-get install python3-yaml): ${result.stderr}`,
  );
  return JSON.parse(result.stdout);
}

/** An object as kubectl reads it from YAML, without a cluster: `kubectl label --local`. */
async function kubectlReads(yaml: string): Promise<Record<string, unknown>> {
  const result = await run(requireTool("kubectl"), [
    "label",
    "--local",
    "-f",
    "-",
    "x=y",
    "-o",
    "json",
  ], { stdin: yaml, env: { KUBECONFIG: "/dev/null" } });
  assert.equal(result.code, 0, `kubectl could not read:\n${yaml.slice(0, 2000)}\n${result.stderr}`);
  return JSON.parse(result.stdout);
}

describe("yamlString", () => {
  const strings = [...TRICKY_NAMES, ...generatedStrings(400)];

  it("reads back as exactly the string through PyYAML's SafeLoader and CSafeLoader", async () => {
    const wrong = await pyyamlMismatches(strings.map(yamlString), strings);
    assert.deepEqual(
      wrong.slice(0, 5).map((each) => ({ ...each, expected: strings[each.index] })),
      [],
    );
  });

  it("reads back as exactly the string through kubectl", async () => {
    const annotations = strings.map((value, index) => `    k${index}: ${yamlString(value)}`);
    const object = await kubectlReads(
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n${
        annotations.join("\n")
      }\n`,
    );
    const read = (object.metadata as { annotations: Record<string, string> }).annotations;
    const wrong = strings.flatMap((value, index) =>
      read[`k${index}`] === value ? [] : [{ index, value, got: read[`k${index}`] }]
    );
    assert.deepEqual(wrong.slice(0, 5), []);
  });

  it("reads back as exactly the string through the reader of credentials files", () => {
    for (const value of strings) {
      const values = parseSaucectlCredentials(
        "credentials.yml",
        `accessKey: ${yamlString(value)}\n`,
      );
      assert.equal(values.accessKey, value, JSON.stringify(value));
    }
  });

  it("is one line whatever the string holds", () => {
    for (const value of strings) assert.doesNotMatch(yamlString(value), /[\n\r\u0085\u2028\u2029]/);
  });
});

describe("token --format k8s-secret, run for real", () => {
  let standIn: StandIn;
  let sandbox: Sandbox;
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    standIn = await startStandIn({ users: { alice: KEY } });
    sandbox = await makeSandbox({
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
    });
  });
  after(async () => {
    await standIn?.close();
    await sandbox?.cleanup();
  });

  it("keeps null, on, 012 or 2001-12-14 a string for PyYAML and kubectl", SLOW, async () => {
    for (const name of TRICKY_NAMES) {
      const namespace = DNS_LABEL.test(name) ? name : undefined;
      const args = [
        "token",
        "registry.example.com/team",
        "--format",
        "k8s-secret",
        "--secret-name",
        name,
        ...(namespace ? ["--namespace", namespace] : []),
      ];
      const result = await runCli(args, { env: sandbox.env });
      assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
      scanner.check(`${args.join(" ")} stderr`, result.stderr);
      const pyyaml = await run(PYTHON, [
        "-c",
        "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)['metadata']))",
      ], { stdin: result.stdout });
      assert.equal(pyyaml.code, 0, pyyaml.stderr);
      const read = JSON.parse(pyyaml.stdout);
      assert.equal(read.name, name, `PyYAML reads the name "${name}" as ${pyyaml.stdout}`);
      assert.equal(read.namespace, namespace, `PyYAML reads the namespace as ${pyyaml.stdout}`);
      const metadata = (await kubectlReads(result.stdout)).metadata as Record<string, unknown>;
      assert.equal(metadata.name, name, `kubectl reads the name "${name}" as ${metadata.name}`);
      assert.equal(
        metadata.namespace,
        namespace,
        `kubectl reads the namespace "${namespace}" as ${metadata.namespace}`,
      );
    }
  });
});

/** Every command's malformed inputs: refused before a token request and before any write. */
describe("a malformed input is refused before a token request or a file is touched", () => {
  let standIn: StandIn;
  let sandbox: Sandbox;
  let work: string;
  let dockerCalls: string;
  let watched: string[];
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    standIn = await startStandIn({ users: { alice: KEY } });
    sandbox = await makeSandbox({
      SAUCE_USERNAME: "alice",
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
      SAUCE_REGION: "us-west-1",
      // A request meant for anywhere but the stand-in (an empty --api-url once meant Sauce Labs'
      // own API) goes to a closed loopback port, never out of this machine.
      HTTPS_PROXY: "http://127.0.0.1:9",
      HTTP_PROXY: "http://127.0.0.1:9",
    });
    const { dir, env } = sandbox;
    work = join(dir, "work");
    const bin = join(dir, "bin");
    env.XDG_RUNTIME_DIR = join(dir, "run");
    await Promise.all(
      [work, bin, env.XDG_RUNTIME_DIR, env.DOCKER_CONFIG].map((path) =>
        mkdir(path, { recursive: true, mode: 0o700 })
      ),
    );
    // Tools that would log in and push, as far as the command can tell.
    dockerCalls = (await makeArgvRecorderShim(bin, "docker", null)).log;
    await makeArgvRecorderShim(bin, "podman", null);
    env.PATH = `${bin}:${env.PATH}`;
    // A machine already set up for one registry: its files must come out unchanged.
    // A script `exec` is given by its path but cannot run (no x bit).
    await writeFile(join(work, "not-executable.sh"), "#!/bin/sh\nexit 0\n", { mode: 0o644 });
    await symlink("not-executable.sh", join(work, "link-to-script"));
    const setUp = await runCli(["configure-docker", "registry.example.com/team"], {
      env,
      cwd: work,
    });
    assert.equal(setUp.code, 0, setUp.stderr);
    const cache = join(env.XDG_CACHE_HOME, "sauce-registry");
    await mkdir(cache, { recursive: true, mode: 0o700 });
    await writeFile(join(cache, "kept"), "kept\n", { mode: 0o600 });
    // Where the access key is looked for when the environment lacks it (WITHOUT_KEY): traps that
    // fail the command ("not a regular file") if it reads them before checking its options.
    await mkdir(join(env.HOME, ".sauce"), { recursive: true });
    for (const trap of [join(work, ".env"), join(env.HOME, ".sauce", "credentials.yml")]) {
      const made = await run("mkfifo", [trap]);
      assert.equal(made.code, 0, made.stderr);
    }
    watched = [
      env.DOCKER_CONFIG,
      join(env.XDG_CONFIG_HOME, "sauce-registry"),
      join(env.XDG_CACHE_HOME, "sauce-registry"),
      join(env.HOME, ".sauce"),
      join(env.HOME, ".local"),
      env.XDG_RUNTIME_DIR,
      work,
    ];
    // A token request waits for ever: a command that asks would not end in time.
    standIn.fault({ delayMs: 600_000, times: 1_000_000 });
  });
  after(async () => {
    standIn?.clearFaults();
    await standIn?.close();
    await sandbox?.cleanup();
  });

  /** Every entry under the watched folders: type, mode, and content or link target. */
  async function snapshot(): Promise<Record<string, string>> {
    const seen: Record<string, string> = {};
    const visit = async (path: string): Promise<void> => {
      const info = await lstat(path).catch(() => undefined);
      if (!info) return;
      const mode = (info.mode & 0o7777).toString(8);
      if (info.isDirectory()) {
        seen[path] = `folder ${mode}`;
        for (const entry of await readdir(path)) await visit(join(path, entry));
      } else if (info.isFile()) {
        seen[path] = `file ${mode} ${await readFile(path, "utf8")}`;
      } else if (info.isSymbolicLink()) {
        seen[path] = `symlink -> ${await readlink(path)}`;
      } else {
        seen[path] = `other ${mode}`;
      }
    };
    for (const root of watched) await visit(root);
    return seen;
  }

  interface Case {
    /** The arguments. */
    args: string[];
    /** What the one line says. */
    says: RegExp;
    /** Standard input. */
    stdin?: string;
    /** More environment. */
    env?: Record<string, string>;
    /** The exit code, when the command's protocol wants another than 2. */
    code?: number;
    /** Standard output, when the command's protocol wants some; default none. */
    stdout?: string;
    /** How its line starts; default `error: `. */
    starts?: RegExp;
  }

  /**
   * Run each case: the exit code, one `error:` line saying what was expected (then the usage
   * line), in time, with no token request, no tool run and no change to any watched file.
   */
  async function refuses(cases: Case[]): Promise<void> {
    const failures: string[] = [];
    for (const each of cases) {
      const where = `sauce-registry ${each.args.map((arg) => JSON.stringify(arg)).join(" ")}`;
      const before = await snapshot();
      const requests = standIn.tokenRequestCount();
      const toolCalls = (await readShimCalls(dockerCalls)).length;
      let result: CliResult;
      try {
        // A command that asked would wait for the stand-in (600 s) or its own limit (60 s).
        result = await runCli(each.args, {
          env: { ...sandbox.env, ...each.env },
          cwd: work,
          stdin: each.stdin,
          timeoutMs: 30_000,
        });
      } catch (error) {
        failures.push(`${where}: ${error}`);
        continue;
      }
      scanner.checkResult(where, result);
      const problems: string[] = [];
      const code = each.code ?? 2;
      if (result.code !== code) problems.push(`exit ${result.code}, expected ${code}`);
      const firstLine = result.stderr.split("\n")[0];
      if (!each.says.test(firstLine)) problems.push(`said ${JSON.stringify(result.stderr)}`);
      if (!(each.starts ?? /^error: /).test(firstLine)) problems.push("not an error: line");
      if (result.stdout !== (each.stdout ?? "")) {
        problems.push(`printed ${JSON.stringify(result.stdout)}`);
      }
      const asked = standIn.tokenRequestCount() - requests;
      if (asked > 0) problems.push(`${asked} token request(s)`);
      if ((await readShimCalls(dockerCalls)).length !== toolCalls) problems.push("ran docker");
      const after = await snapshot();
      const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])]
        .filter((path) => before[path] !== after[path]);
      if (changed.length > 0) problems.push(`changed ${changed.join(", ")}`);
      if (problems.length > 0) failures.push(`${where}: ${problems.join("; ")}`);
    }
    assert.deepEqual(failures, []);
  }

  const REGISTRY = "registry.example.org/team";
  const BAD_REGISTRY = "registry example.org/team";
  /** The access key is then looked for in files: ./.env and ~/.sauce/credentials.yml. */
  const WITHOUT_KEY = { SAUCE_ACCESS_KEY: "" };

  it("token: registry, format, the Secret's names, API settings, time limits", SLOW, async () => {
    const k8s = ["token", REGISTRY, "--format", "k8s-secret"];
    await refuses([
      { args: ["token", BAD_REGISTRY], says: /Invalid registry/ },
      { args: ["token", REGISTRY, "extra"], says: /takes at most 1 REGISTRY/ },
      { args: ["token", "--format", "yaml"], says: /Unknown format "yaml"/ },
      { args: ["token", "--format", "docker-config"], says: /needs a REGISTRY/ },
      {
        args: ["token", REGISTRY, "--json", "--format", "env"],
        says: /^\{"error":\{"message":"--json prints JSON: it does not go with --format env"/,
        starts: /^\{"error":/,
      },
      { args: [...k8s, "--namespace", "Not_A_Label"], says: /Invalid namespace "Not_A_Label"/ },
      { args: [...k8s, "--namespace", "a.b"], says: /Invalid namespace "a.b"/ },
      { args: [...k8s, "--namespace", "x".repeat(64)], says: /Invalid namespace/ },
      { args: [...k8s, "--secret-name=-bad"], says: /Invalid Secret name "-bad"/ },
      { args: [...k8s, "--secret-name", "Upper"], says: /Invalid Secret name "Upper"/ },
      { args: ["token", REGISTRY, "--namespace", "ci"], says: /go with --format k8s-secret/ },
      { args: ["token", REGISTRY, "--region", "mars-1"], says: /Unknown region "mars-1"/ },
      {
        args: ["token", REGISTRY, "--api-url", "http://api.example.com"],
        says: /Invalid API URL .*loopback/,
      },
      { args: ["token", REGISTRY, "--api-url", "not a url"], says: /Invalid API URL/ },
      { args: ["token", REGISTRY, "--username", "ali:ce"], says: /from --username contains ":"/ },
      { args: ["token", REGISTRY, "--region", "mars-1"], env: WITHOUT_KEY, says: /Unknown region/ },
      {
        args: ["token", REGISTRY, "--api-url", "http://api.example.com"],
        env: WITHOUT_KEY,
        says: /Invalid API URL/,
      },
      {
        args: ["token", REGISTRY, "--username", "ali:ce"],
        env: WITHOUT_KEY,
        says: /from --username contains ":"/,
      },
      { args: ["token", REGISTRY, "--timeout", "0"], says: /Invalid --timeout/ },
      { args: ["token", REGISTRY, "--timeout", "soon"], says: /Invalid --timeout/ },
      {
        args: ["token", REGISTRY, "--env-file", "missing.env"],
        says: /Cannot read the env file missing.env/,
      },
      { args: ["token", REGISTRY], env: { SAUCE_REGION: "mars-1" }, says: /Unknown region/ },
      {
        args: ["token", REGISTRY],
        env: { SAUCE_REGISTRY_TIMEOUT: "soon" },
        says: /Invalid SAUCE_REGISTRY_TIMEOUT/,
      },
      {
        args: ["token", REGISTRY],
        env: { SAUCE_REGISTRY_RETRIES: "many" },
        says: /Invalid SAUCE_REGISTRY_RETRIES: expected a whole number from 0 to 100, got "many"/,
      },
      {
        args: ["token", REGISTRY],
        env: { SAUCE_REGISTRY_RETRY_DELAY_MS: "-5" },
        says:
          /Invalid SAUCE_REGISTRY_RETRY_DELAY_MS: expected a whole number from 0 to 30000, got "-5"/,
      },
      // Empty: were it taken as not given, another API, identity or file than the one meant.
      { args: [...k8s, "--namespace", ""], says: /--namespace is empty/ },
      { args: [...k8s, "--secret-name", ""], says: /--secret-name is empty/ },
      { args: ["token", REGISTRY, "--api-url", ""], says: /--api-url is empty/ },
      { args: ["token", REGISTRY, "--region="], says: /--region is empty/ },
      { args: ["token", REGISTRY, "--username", ""], says: /--username is empty/ },
      { args: ["token", REGISTRY, "--env-file", ""], says: /--env-file is empty/ },
      // --output replaces a regular file in one rename: never a link, device or folder.
      {
        args: ["token", REGISTRY, "--output", "/dev/stdout"],
        says: /--output \/dev\/stdout is a symlink, not a regular file/,
      },
      {
        args: ["token", REGISTRY, "--output", "/dev/null"],
        says: /--output \/dev\/null is a device, not a regular file/,
      },
      {
        args: ["token", REGISTRY, "--output", "link-to-script"],
        says: /--output link-to-script is a symlink, not a regular file/,
      },
      { args: ["token", REGISTRY, "--output", "."], says: /--output \. is a folder/ },
      {
        args: ["token", REGISTRY, "--output", "no-such-folder/token.json"],
        says: /--output no-such-folder\/token\.json: no-such-folder does not exist/,
      },
      {
        args: ["token", REGISTRY, "--output", "not-executable.sh/token.json"],
        says: /--output not-executable\.sh\/token\.json: not-executable\.sh is not a folder/,
      },
    ]);
  });

  it("login and logout: registry, tool, API settings", SLOW, async () => {
    await refuses([
      { args: ["login", BAD_REGISTRY], says: /Invalid registry/ },
      { args: ["login"], says: /takes one REGISTRY/ },
      { args: ["login", REGISTRY, "--tool", "dockr"], says: /Unknown tool "dockr"/ },
      { args: ["login", REGISTRY, "--tool-arg", ""], says: /--tool-arg is empty/ },
      { args: ["login", REGISTRY, "--region", "mars-1"], says: /Unknown region/ },
      { args: ["login", REGISTRY, "--region", "mars-1"], env: WITHOUT_KEY, says: /Unknown region/ },
      { args: ["login", REGISTRY, "--api-url", "ftp://127.0.0.1"], says: /Invalid API URL/ },
      { args: ["login", REGISTRY, "--api-url="], says: /--api-url is empty/ },
      { args: ["login", REGISTRY, "--env-file", "missing.env"], says: /Cannot read the env file/ },
      { args: ["login", REGISTRY, "--username", "ali:ce"], says: /contains ":"/ },
      { args: ["login", REGISTRY, "--timeout", "-1"], says: /--timeout.*ambiguous/ },
      { args: ["login", REGISTRY, "--format", "env"], says: /--format does not apply to login/ },
      { args: ["logout", BAD_REGISTRY], says: /Invalid registry/ },
      { args: ["logout", REGISTRY, "--tool", "dockr"], says: /Unknown tool "dockr"/ },
    ]);
  });

  it("push: image, tool, API settings", SLOW, async () => {
    const image = `${REGISTRY}/app:1`;
    await refuses([
      { args: ["push", "registry.example.org"], says: /the repository is missing/ },
      { args: ["push", `${REGISTRY}/App:1`], says: /Invalid registry/ },
      { args: ["push", `${REGISTRY}/app:bad tag`], says: /Invalid registry/ },
      // What a registry URL may have, but `docker push` would refuse after the token request.
      { args: ["push", `https://${image}`], says: /Invalid image .*no scheme.* like registry/ },
      { args: ["push", `${image}/`], says: /Invalid image .*does not end with "\/"/ },
      { args: ["push", ` ${image}`], says: /Invalid image .*white space/ },
      { args: ["push", image, "--tool", "skopeo"], says: /Unknown tool "skopeo"/ },
      { args: ["push", image, "--region", "mars-1"], says: /Unknown region/ },
      { args: ["push", image, "--region", "mars-1"], env: WITHOUT_KEY, says: /Unknown region/ },
      { args: ["push", image, "--api-url", ""], says: /--api-url is empty/ },
      { args: ["push", image, "--env-file", "missing.env"], says: /Cannot read the env file/ },
      // `docker push` refuses a digest reference; the token would be spent for nothing.
      {
        args: ["push", `${REGISTRY}/app@sha256:${"0".repeat(64)}`],
        says: /docker cannot push by digest .*push a tag \(registry\.example\.org\/team\/app:TAG\)/,
      },
      {
        args: ["push", `${image}@sha256:${"0".repeat(64)}`, "--tool", "docker"],
        says: /docker cannot push by digest/,
      },
    ]);
  });

  it("exec: registry, command, API settings", SLOW, async () => {
    await refuses([
      { args: ["exec", BAD_REGISTRY, "--", "true"], says: /Invalid registry/ },
      { args: ["exec", REGISTRY], says: /needs a command after --/ },
      { args: ["exec", REGISTRY, "--"], says: /needs a command after --/ },
      { args: ["exec", REGISTRY, "--region", "mars-1", "--", "true"], says: /Unknown region/ },
      {
        args: ["exec", REGISTRY, "--region", "mars-1", "--", "true"],
        env: WITHOUT_KEY,
        says: /Unknown region/,
      },
      { args: ["exec", REGISTRY, "--timeout", "1e3", "--", "true"], says: /Invalid --timeout/ },
      { args: ["token", REGISTRY, "--", "true"], says: /"--" only goes with exec/ },
      {
        args: ["exec", REGISTRY, "--env-file", "missing.env", "--", "true"],
        says: /Cannot read the env file/,
      },
      // Not a usage error, but a typo all the same: exit 1, as when it could not be started.
      {
        args: ["exec", REGISTRY, "--", "no-such-command-18"],
        says: /Cannot run no-such-command-18: it is not installed or not on PATH/,
        code: 1,
      },
      // Nor one given by its path: missing, or a file that cannot be run.
      {
        args: ["exec", REGISTRY, "--", "./no-such-script-18", "arg"],
        says: /Cannot run \.\/no-such-script-18: it is not an executable file/,
        code: 1,
      },
      {
        args: ["exec", REGISTRY, "--", "./not-executable.sh"],
        says: /Cannot run \.\/not-executable\.sh: it is not an executable file/,
        code: 1,
      },
      {
        args: ["exec", REGISTRY, "--", `${work}`],
        says: /it is not an executable file/,
        code: 1,
      },
      {
        args: ["exec", REGISTRY, "--", "./not-executable.sh/run"],
        says: /Cannot run \.\/not-executable\.sh\/run: it is not an executable file/,
        code: 1,
      },
    ]);
  });

  it("configure-docker and install-helper: registries, API settings, paths", SLOW, async () => {
    await refuses([
      { args: ["configure-docker", REGISTRY, BAD_REGISTRY], says: /Invalid registry/ },
      { args: ["configure-docker"], says: /takes at least 1 REGISTRY/ },
      {
        // Docker asks the helper by host: the second would silently replace the first.
        args: ["configure-docker", REGISTRY, "registry.example.org/other-team"],
        says:
          /registry\.example\.org\/team and registry\.example\.org\/other-team share the host registry\.example\.org/,
      },
      { args: ["configure-docker", REGISTRY, "--region", "mars-1"], says: /Unknown region/ },
      {
        args: ["configure-docker", REGISTRY, "--api-url", "http://api.example.com"],
        says: /Invalid API URL/,
      },
      { args: ["configure-docker", REGISTRY, "--api-url="], says: /--api-url is empty/ },
      {
        args: ["configure-docker", REGISTRY, "--env-file", "missing.env"],
        says: /Cannot read the env file/,
      },
      {
        args: ["configure-docker", REGISTRY, "--credentials-file", ""],
        says: /--credentials-file is empty/,
      },
      {
        args: ["configure-docker", REGISTRY, "--credentials-file", "c.yml", "--username", "a:b"],
        says: /contains ":"/,
      },
      {
        args: ["configure-docker", REGISTRY, "--credentials-file", "c.yml", "--region", "mars-1"],
        env: WITHOUT_KEY,
        says: /Unknown region/,
      },
      { args: ["install-helper", "--dir", ""], says: /--dir is empty/ },
      {
        args: ["install-helper", "--dir", "not-executable.sh"],
        says: /The helper's folder not-executable\.sh is a file, not a folder/,
      },
      {
        args: ["install-helper", "--dir", "not-executable.sh/bin"],
        says: /^error: Cannot write not-executable\.sh\/bin\/docker-credential-saucelabs: /,
        code: 1,
      },
      { args: ["install-helper", "somewhere"], says: /takes no arguments/ },
    ]);
  });

  it("status: registry, API settings", SLOW, async () => {
    await refuses([
      { args: ["status", BAD_REGISTRY], says: /Invalid registry/ },
      { args: ["status", "--region", "mars-1"], says: /Unknown region/ },
      { args: ["status", "--api-url", "http://api.example.com"], says: /Invalid API URL/ },
      { args: ["status", "--api-url", ""], says: /--api-url is empty/ },
      { args: ["status", "--username", "ali:ce"], says: /from --username contains ":"/ },
      {
        args: ["status", "--username", "ali:ce"],
        env: WITHOUT_KEY,
        says: /from --username contains ":"/,
      },
      { args: ["status", "--timeout", "0"], says: /Invalid --timeout/ },
      { args: ["status", "--env-file", "missing.env"], says: /Cannot read the env file/ },
    ]);
  });

  it("completions, help and version: shell, command, arguments", SLOW, async () => {
    await refuses([
      { args: ["completions", "powershell"], says: /Unknown shell "powershell"/ },
      { args: ["completions"], says: /completions takes one shell/ },
      { args: ["help", "tokn"], says: /Unknown command "tokn"/ },
      { args: ["version", "1"], says: /version takes no arguments/ },
      { args: ["tokn"], says: /Unknown command "tokn"/ },
      { args: ["token", "--regstry", REGISTRY], says: /Unknown option "--regstry"/ },
    ]);
  });

  it("the helper and the kubelet provider: their own protocols' refusals", SLOW, async () => {
    const provider = /^sauce-registry kubelet-credential-provider: /;
    const request = JSON.stringify({
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderRequest",
      image: "registry.example.com/team/app:1",
    });
    await refuses([
      // Docker's protocol: wrong usage is exit 1 with the usage; an address that is no registry
      // host is one the helper does not serve.
      { args: ["credential-helper", "fetch"], says: /^Usage: /, starts: /^Usage: /, code: 1 },
      { args: ["credential-helper", "get", "x"], says: /^Usage: /, starts: /^Usage: /, code: 1 },
      {
        args: ["credential-helper", "get"],
        stdin: "registry example.org",
        says: /^$/,
        starts: /^$/,
        stdout: "credentials not found in native keychain\n",
        code: 1,
      },
      { args: ["--no-cache", "credential-helper", "get"], says: /takes no global options/ },
      {
        args: ["kubelet-credential-provider", "--registry", BAD_REGISTRY],
        says: /Invalid registry/,
        starts: provider,
      },
      {
        args: ["kubelet-credential-provider", "--region", "mars-1"],
        says: /Unknown region/,
        starts: provider,
      },
      {
        args: ["kubelet-credential-provider", "--api-url", ""],
        says: /--api-url is empty/,
        starts: provider,
      },
      {
        args: ["kubelet-credential-provider", "--timeout", "soon"],
        says: /Invalid --timeout/,
        starts: provider,
      },
      {
        args: ["kubelet-credential-provider", "--username", "ali:ce"],
        stdin: request,
        says: /contains ":"/,
        starts: provider,
      },
    ]);
  });
});

describe("parseImage", () => {
  it("takes an image as docker push takes it, and refuses what a registry URL may have", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    for (const image of ["registry.example.com:5000/team/app:1.0", `localhost/app@${digest}`]) {
      assert.deepEqual(parseImage(image), parseRegistry(image));
    }
    for (const image of ["https://registry.example.com/team/app", "registry.example.com/app/"]) {
      assert.ok(parseRegistry(image).path);
      assert.throws(() => parseImage(image), (error) => error instanceof UsageError);
    }
  });

  it("calls a short digest a malformed digest, still masking what comes before the @", () => {
    const shortDigests = [
      "registry.example.com/team/app@sha256:abc",
      "r.example.com/a@sha512:",
      "r.example.com/a@SHA256:abc",
    ];
    for (const image of shortDigests) {
      assert.throws(
        () => parseRegistry(image),
        (error) =>
          error instanceof UsageError && /the digest is malformed/.test(error.message) &&
          /"\*\*\*@(sha|SHA)/.test(error.message),
      );
    }
    // A registered algorithm's digest is its exact number of lower-case hex digits.
    for (const digest of [`sha256:${"a".repeat(40)}`, `sha256:${"A".repeat(64)}`]) {
      assert.throws(
        () => parseRegistry(`registry.example.com/team/app@${digest}`),
        (error) =>
          error instanceof UsageError &&
          /the digest is malformed \(expected sha256: and 64 lower-case hex digits\)/.test(
            error.message,
          ),
      );
    }
    assert.equal(
      parseRegistry(`r.example.com/a@sha512:${"b".repeat(128)}`).digest,
      `sha512:${"b".repeat(128)}`,
    );
    // Credentials stay credentials, whatever the password holds.
    const withCredentials = [
      "user:pa/ss@registry.example.com/team",
      "user:x@registry.example.com:5000",
      "https://bob:pa/ss@sha256:5000/team",
    ];
    for (const url of withCredentials) {
      assert.throws(
        () => parseRegistry(url),
        (error) =>
          error instanceof UsageError && /credentials \(user:password@\)/.test(error.message) &&
          !error.message.includes("pa/ss") && !error.message.includes("user:x"),
      );
    }
  });
});

describe("the library refuses an empty path rather than another one", () => {
  it("configureDocker with an empty credentialsFile changes no file", async () => {
    const sandbox = await makeSandbox();
    try {
      const paths = {
        dockerConfigDir: join(sandbox.dir, "docker"),
        settingsFile: join(sandbox.dir, "registries.json"),
      };
      await assert.rejects(
        configureDocker(["registry.example.com/team"], {
          ...paths,
          credentialsFile: "",
          credentials: { username: "alice", accessKey: KEY },
        }),
        (error) => error instanceof UsageError && /credentials file is empty/.test(error.message),
      );
      assert.deepEqual(await readdir(sandbox.dir), []);
    } finally {
      await sandbox.cleanup();
    }
  });

  it("installHelper with an empty folder writes nothing (it would have written to /)", async () => {
    const root = "/docker-credential-saucelabs";
    const there = async () => await lstat(root).then(() => true, () => false);
    const before = await there();
    try {
      await assert.rejects(
        installHelper(launcher(new URL("../cli.ts", import.meta.url).href), ""),
        (error) => error instanceof UsageError && /folder is empty/.test(error.message),
      );
    } finally {
      if (!before && await there()) {
        await rm(root);
        assert.fail(`installHelper wrote ${root}`);
      }
    }
  });
});
