// Values written into YAML read back as given (issue 18, item 5):
//
// - `yamlString` reads back exactly, through PyYAML (both its loaders), kubectl and the tool's own
//   reader of credentials files: Kubernetes names that YAML would take for null, a boolean, a
//   number or a date, and generated strings with quotes, backslashes, controls and non-ASCII;
// - `token --format k8s-secret` run for real keeps such a name and namespace strings, for PyYAML
//   and for kubectl (`--namespace null` stays in namespace "null");
//
// Runs unchanged under `deno test -A` and `bun test`.

import { after, assert, before, describe, it } from "./deps.ts";
import { makeSandbox, runCli, type Sandbox, SecretScanner } from "./harness.ts";
import { requireTool, run } from "./fixtures/services.ts";
import { type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { parseSaucectlCredentials } from "../src/credentials.ts";
import { yamlString } from "../src/quote.ts";

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

/** A small seeded generator (mulberry32): the same strings on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

  it(
    "keeps names like null, on, 012 or 2001-12-14 strings for PyYAML and kubectl",
    SLOW,
    async () => {
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
    },
  );
});
