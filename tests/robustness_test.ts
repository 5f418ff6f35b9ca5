// A user's Docker config is never corrupted or half-written: generated configs of every shape go
// through configure-docker (valid ones keep every key, invalid ones are refused and left
// byte-for-byte as they were), and configure-docker killed at random moments leaves either the
// old config or the new one, never anything else.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { ConfigError, configureDocker } from "../mod.ts";
import { cliCommand, makeSandbox, runCli, type Sandbox } from "./harness.ts";

/** A small seeded generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const VALID_CONFIG = JSON.stringify(
  {
    auths: { "ghcr.io": { auth: "dXNlcjpwYXNz" } },
    credHelpers: { "gcr.io": "gcloud" },
    psFormat: "table {{.ID}}",
    experimentalFeature: { nested: [1, 2, { deep: null }], unicode: "é ✓" },
  },
  null,
  "\t",
);

interface Shape {
  name: string;
  content: string;
  /** The parsed object configure-docker must keep, or undefined when it must refuse. */
  keeps?: Record<string, unknown>;
}

function generatedShapes(): Shape[] {
  const next = random(4242);
  const huge: Record<string, unknown> = { auths: {} };
  for (let i = 0; i < 20_000; i++) {
    (huge.auths as Record<string, unknown>)[`registry-${i}.example.com`] = { auth: `a${i}` };
  }
  const shapes: Shape[] = [
    { name: "an empty file", content: "", keeps: {} },
    { name: "white space", content: " \n\t\n", keeps: {} },
    { name: "null", content: "null", keeps: {} },
    { name: "an empty object", content: "{}", keeps: {} },
    {
      name: "a UTF-8 BOM before valid JSON",
      content: `\uFEFF${VALID_CONFIG}`,
      keeps: JSON.parse(VALID_CONFIG),
    },
    { name: "a huge config (20,000 auths)", content: JSON.stringify(huge), keeps: huge },
    { name: "an array", content: "[]" },
    { name: "a string", content: '"config"' },
    { name: "a number", content: "42" },
    { name: "true", content: "true" },
    { name: "credHelpers that is not an object", content: '{"credHelpers": ["x"]}' },
    { name: "a trailing comma", content: '{"auths": {},}' },
    { name: "a comment", content: '{\n  // mine\n  "auths": {}\n}' },
    { name: "two documents", content: "{} {}" },
  ];
  // Every way of cutting a valid config short is invalid, and each must be refused untouched.
  for (let i = 0; i < 60; i++) {
    const cut = 1 + Math.floor(next() * (VALID_CONFIG.length - 2));
    shapes.push({ name: `cut at ${cut}`, content: VALID_CONFIG.slice(0, cut) });
  }
  // A stray byte in a structural place breaks it too.
  const structural = [...VALID_CONFIG.matchAll(/[{}[\]:,"]/g)].map((match) => match.index!);
  for (let i = 0; i < 40; i++) {
    const at = structural[Math.floor(next() * structural.length)];
    const content = `${VALID_CONFIG.slice(0, at)}@${VALID_CONFIG.slice(at + 1)}`;
    // Inside a string value the byte is harmless: the runtime's own parser is the reference.
    let keeps: Record<string, unknown> | undefined;
    try {
      keeps = JSON.parse(content);
    } catch {
      keeps = undefined;
    }
    shapes.push({ name: `@ at ${at}`, content, keeps });
  }
  return shapes;
}

describe("generated Docker configs through configure-docker", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sr-robust-"));
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("keeps every key of a valid config and refuses an invalid one untouched, 114 shapes", async () => {
    let refused = 0;
    let updated = 0;
    for (const [index, shape] of generatedShapes().entries()) {
      const configDir = join(dir, `case-${index}`);
      await mkdir(configDir);
      const path = join(configDir, "config.json");
      await writeFile(path, shape.content);
      const options = {
        dockerConfigDir: configDir,
        settingsFile: join(configDir, "registries.json"),
      };
      try {
        await configureDocker(["registry.example.com/team"], options);
        assert.ok(shape.keeps, `${shape.name}: accepted, but it is not a Docker config`);
        const written = JSON.parse(await readFile(path, "utf8"));
        const { credHelpers, ...rest } = written;
        const { credHelpers: keptHelpers = {}, ...keptRest } = shape.keeps;
        assert.deepEqual(rest, keptRest, `${shape.name}: other keys changed`);
        assert.deepEqual(credHelpers, {
          ...(keptHelpers as Record<string, string>),
          "registry.example.com": "saucelabs",
        });
        updated++;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        assert.equal(shape.keeps, undefined, `${shape.name}: refused: ${error.message}`);
        assert.equal(await readFile(path, "utf8"), shape.content, `${shape.name}: changed`);
        assert.ok(!error.message.includes("\n"), error.message);
        assert.match(error.message, /left unchanged/);
        if (/^(cut|@)/.test(shape.name)) {
          assert.match(error.message, /line \d+, column \d+/);
        }
        refused++;
      }
      assert.deepEqual(
        (await readdir(configDir)).filter((name) => /\.tmp-|\.lock/.test(name)),
        [],
        `${shape.name}: temporary or lock files left behind`,
      );
    }
    assert.equal(updated + refused, 114);
    assert.ok(updated >= 6 && refused >= 80, `updated ${updated}, refused ${refused}`);
  });
});

describe("configure-docker interrupted at random moments", () => {
  let sandbox: Sandbox;

  before(async () => {
    sandbox = await makeSandbox();
  });

  after(async () => {
    await sandbox?.cleanup();
  });

  function startConfigure(host: string): ChildProcess {
    const [program, ...first] = cliCommand();
    return spawn(program, [...first, "configure-docker", `${host}/team`], {
      env: sandbox.env,
      stdio: "ignore",
    });
  }

  it("leaves the old config or the new one, never a broken one, 24 kills", {
    timeout: 120_000,
  }, async () => {
    const configDir = sandbox.env.DOCKER_CONFIG;
    await mkdir(configDir, { recursive: true });
    const path = join(configDir, "config.json");
    // Large enough that writing it takes a moment, so kills land during the write as well.
    const auths: Record<string, unknown> = {};
    for (let i = 0; i < 30_000; i++) auths[`r${i}.example.com`] = { auth: `a${i}` };
    await writeFile(path, JSON.stringify({ auths }));
    const next = random(99);
    const seen = { old: 0, new: 0 };
    for (let round = 0; round < 24; round++) {
      const before = await readFile(path, "utf8");
      const host = `round${round}.example.com`;
      const child = startConfigure(host);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 400)));
      child.kill(["SIGKILL", "SIGTERM", "SIGINT"][round % 3] as NodeJS.Signals);
      await exited;
      const after = await readFile(path, "utf8");
      const parsed = JSON.parse(after); // never half-written
      assert.equal(Object.keys(parsed.auths).length, 30_000, "no auth entry lost");
      if (after === before) seen.old++;
      else {
        assert.equal(parsed.credHelpers[host], "saucelabs");
        seen.new++;
      }
    }
    // The config is still usable afterwards: a lock left by a killed run does not block.
    const started = Date.now();
    const result = await runCli(["configure-docker", "final.example.com/team"], {
      env: sandbox.env,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Date.now() - started < 15_000);
    const final = JSON.parse(await readFile(path, "utf8"));
    assert.equal(final.credHelpers["final.example.com"], "saucelabs");
    assert.equal(Object.keys(final.auths).length, 30_000);
    // Both outcomes happened, so kills landed before and after the rename.
    assert.ok(seen.old > 0, `old kept ${seen.old} times, new ${seen.new}`);
  });
});
