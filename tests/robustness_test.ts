// A user's Docker config is never corrupted or half-written: generated configs of every shape go
// through configure-docker (valid ones keep every key, invalid ones are refused and left
// byte-for-byte as they were), and configure-docker killed at random moments leaves either the
// old config or the new one, never anything else, and a reader meanwhile never finds it half
// written.

import { type ChildProcess, spawn } from "node:child_process";
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { after, assert, before, describe, it } from "./deps.ts";
import { ConfigError, configureDocker } from "../mod.ts";
import { cliCommand, makeSandbox, runCli, type Sandbox } from "./fixtures/harness.ts";

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

  /**
   * What a reader such as Docker finds at `path` until `done` settles: every size it saw. A file
   * replaced by a rename is the old one or the new one, whole: two sizes at most. A rewrite in
   * place shows it empty and partly written on the way.
   */
  async function sizesSeenUntil(path: string, done: Promise<unknown>): Promise<Set<number>> {
    let running = true;
    const sizes = new Set<number>();
    const watching = (async () => {
      while (running) sizes.add((await stat(path)).size);
    })();
    await done.finally(() => running = false);
    await watching;
    return sizes;
  }

  /** Fail unless `path` was replaced whole by a new file, as a rename does, when it changed. */
  async function assertReplacedWhole(
    path: string,
    before: { ino: number; size: number; text: string },
    sizes: Set<number>,
    what: string,
  ): Promise<string> {
    const after = await readFile(path, "utf8");
    const whole = [before.size, (await stat(path)).size];
    const torn = [...sizes].filter((size) => !whole.includes(size));
    assert.deepEqual(torn, [], `${what}: a reader saw the config empty or half-written`);
    if (after !== before.text) {
      // A rewrite in place can be seen half-done (and left so by a kill); a rename cannot.
      assert.notEqual((await stat(path)).ino, before.ino, `${what}: rewritten in place`);
    }
    return after;
  }

  async function snapshot(path: string): Promise<{ ino: number; size: number; text: string }> {
    const { ino, size } = await stat(path);
    return { ino, size, text: await readFile(path, "utf8") };
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
      const before = await snapshot(path);
      const host = `round${round}.example.com`;
      const child = startConfigure(host);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      const killed = (async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 400)));
        child.kill(["SIGKILL", "SIGTERM", "SIGINT"][round % 3] as NodeJS.Signals);
        await exited;
      })();
      const sizes = await sizesSeenUntil(path, killed);
      const after = await assertReplacedWhole(path, before, sizes, `round ${round}`);
      const parsed = JSON.parse(after); // never half-written
      assert.equal(Object.keys(parsed.auths).length, 30_000, "no auth entry lost");
      if (after === before.text) seen.old++;
      else {
        assert.equal(parsed.credHelpers[host], "saucelabs");
        seen.new++;
      }
    }
    // The config is still usable afterwards: a lock left by a killed run does not block. This
    // run is not killed, so at least one write is watched whatever the kills hit.
    const before = await snapshot(path);
    const started = Date.now();
    const last = runCli(["configure-docker", "final.example.com/team"], { env: sandbox.env });
    const sizes = await sizesSeenUntil(path, last);
    const result = await last;
    assert.equal(result.code, 0, result.stderr);
    // A lock left by a killed run is broken at once (its holder is gone), at worst when its
    // time stamp is 5 s old: 15 s leaves room for a slow start on a loaded machine.
    assert.ok(Date.now() - started < 15_000, `the last run took ${Date.now() - started} ms`);
    await assertReplacedWhole(path, before, sizes, "the last run");
    const final = JSON.parse(await readFile(path, "utf8"));
    assert.equal(final.credHelpers["final.example.com"], "saucelabs");
    assert.equal(Object.keys(final.auths).length, 30_000);
    // Kills landed before the rename too: some rounds kept the old config.
    console.log(`24 kills: the old config kept ${seen.old} times, the new one ${seen.new}`);
    assert.ok(seen.old > 0, `old kept ${seen.old} times, new ${seen.new}`);
  });
});

describe("configure-docker's atomic replacement", () => {
  let sandbox: Sandbox;

  before(async () => {
    sandbox = await makeSandbox();
  });

  after(async () => {
    await sandbox?.cleanup();
  });

  function run(args: string[], wrap: string[] = []): ChildProcess {
    const [program, ...first] = cliCommand();
    const command = [...wrap, program, ...first, ...args];
    return spawn(command[0], command.slice(1), { env: sandbox.env, stdio: "ignore" });
  }

  async function finish(child: ChildProcess): Promise<number | null> {
    return await new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  it("leaves the old config or a new file renamed over it, SIGKILLed at any moment, both seen", {
    timeout: 300_000,
  }, async () => {
    const configDir = sandbox.env.DOCKER_CONFIG;
    await mkdir(configDir, { recursive: true });
    const path = join(configDir, "config.json");
    const auths: Record<string, unknown> = {};
    for (let i = 0; i < 30_000; i++) auths[`r${i}.example.com`] = { auth: `a${i}` };
    await writeFile(path, JSON.stringify({ auths }));
    // How long a whole run takes here, so that the kills spread over it, start-up included.
    const started = Date.now();
    assert.equal(await finish(run(["configure-docker", "first.example.com/team"])), 0);
    let low = 0;
    let high = (Date.now() - started) * 1.2;
    const next = random(7);
    const seen = { old: 0, new: 0 };
    for (let round = 0; round < 60 && (round < 16 || seen.old < 3 || seen.new < 3); round++) {
      const before = await readFile(path, "utf8");
      const inode = (await stat(path)).ino;
      const host = `kill${round}.example.com`;
      const delay = low + (high - low) * next();
      const child = run(["configure-docker", `${host}/team`]);
      const exited = finish(child);
      await new Promise((resolve) => setTimeout(resolve, delay));
      child.kill("SIGKILL");
      await exited;
      const after = await readFile(path, "utf8");
      const parsed = JSON.parse(after); // never half-written
      assert.equal(Object.keys(parsed.auths).length, 30_000, "no auth entry lost");
      if (after === before) {
        seen.old++;
        low = delay;
      } else {
        seen.new++;
        high = delay;
        assert.equal(parsed.credHelpers[host], "saucelabs");
        // Replaced, not rewritten in place: a rewrite can be seen half-done, a rename cannot.
        assert.notEqual((await stat(path)).ino, inode, "the new config is a new file");
      }
      // Keep the window around the moment the config changes: the kills that matter land there.
      if (high - low < 40) [low, high] = [Math.max(0, low - 100), high + 100];
    }
    console.log(`SIGKILL rounds: the old config kept ${seen.old} times, the new one ${seen.new}`);
    assert.ok(seen.old > 0 && seen.new > 0, `old kept ${seen.old} times, new ${seen.new}`);
  });

  it("flushes the new file to the disk before the rename, and the folder after it", {
    timeout: 120_000,
  }, async () => {
    const configDir = sandbox.env.DOCKER_CONFIG;
    await mkdir(configDir, { recursive: true });
    const log = join(sandbox.dir, "strace.log");
    const child = run(["configure-docker", "synced.example.com/team"], [
      "strace",
      "-f",
      "-qq",
      "-s",
      "4096",
      "-e",
      "trace=open,openat,fsync,fdatasync,rename,renameat,renameat2,dup,dup2,dup3,fcntl",
      "-o",
      log,
    ]);
    assert.equal(await finish(child), 0);
    const calls = (await readFile(log, "utf8")).split("\n");
    const config = join(configDir, "config.json");
    /** Whether, after line `from`, a descriptor opened there (or a copy of it) is fsynced. */
    const syncedAfter = (from: number, until = calls.length): boolean => {
      // Deno keeps a copy of each descriptor (fcntl F_DUPFD_CLOEXEC): follow the copies.
      const fds = new Set([/ = (\d+)$/.exec(calls[from])?.[1]]);
      return calls.slice(from + 1, until).some((line) => {
        const copy = /(?:fcntl|dup[23]?)\((\d+)[^)]*\)\s+= (\d+)$/.exec(line);
        if (copy && fds.has(copy[1])) fds.add(copy[2]);
        const sync = /f(?:data)?sync\((\d+)\)\s+= 0$/.exec(line);
        return sync !== null && fds.has(sync[1]);
      });
    };
    // The write of config.json: open the temporary file, fsync it, rename it over the config,
    // then open the folder and fsync it.
    const renames = calls.flatMap((line, index) =>
      /rename/.test(line) && line.includes(`"${config}"`) && line.includes(".tmp-") ? [index] : []
    );
    assert.equal(renames.length, 1, "one rename over config.json");
    const temporary = /"([^"]*config\.json\.tmp-[^"]*)"/.exec(calls[renames[0]])![1];
    const opened = calls.findIndex((line) => /open/.test(line) && line.includes(`"${temporary}"`));
    assert.ok(opened >= 0, "the temporary file is opened");
    assert.ok(syncedAfter(opened, renames[0]), "the temporary file is fsynced before the rename");
    const folderOpened = calls.findIndex((line, index) =>
      index > renames[0] && /open/.test(line) && line.includes(`"${configDir}"`)
    );
    assert.ok(folderOpened > 0, "the folder is opened after the rename");
    assert.ok(syncedAfter(folderOpened), "the folder is fsynced after the rename");
  });

  it(
    "removes the temporary files that writers killed with SIGKILL left, sparing live and recent ones",
    {
      timeout: 60_000,
    },
    async () => {
      // A SIGKILL between writing the temporary file and the rename leaves it, with the config's
      // credentials (or, in the token cache, a token) in it. Its name says who wrote it:
      // TARGET.tmp-PID-TAG-RANDOM, the tag being the boot id's first 8 hex digits, the PID
      // namespace and the process's start time (/proc/PID/stat, field 22), so a later process
      // with the same PID, or a process of another namespace, is told apart. Read here from
      // /proc, not from the code under test.
      const bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim()
        .replaceAll("-", "").slice(0, 8);
      const namespace = /\d+/.exec(await readlink("/proc/self/ns/pid"))![0];
      const boot = `${bootId}.${namespace}`;
      const startTime = async (pid: number) => {
        const text = await readFile(`/proc/${pid}/stat`, "utf8");
        return text.slice(text.lastIndexOf(")") + 2).split(" ")[19];
      };
      const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
      const gone = { pid: sleeper.pid!, tag: `${boot}.${await startTime(sleeper.pid!)}` };
      const exited = new Promise((resolve) => sleeper.once("exit", resolve));
      sleeper.kill("SIGKILL");
      await exited;
      const self = { pid: process.pid, tag: `${boot}.${await startTime(process.pid)}` };

      // A sandbox of its own: the SIGKILL rounds above leave recent temporaries there.
      const own = await makeSandbox();
      const configDir = own.env.DOCKER_CONFIG;
      await mkdir(configDir, { recursive: true });
      const files = {
        dead: `config.json.tmp-${gone.pid}-${gone.tag}-11-12`,
        deadBackup: `config.json.bak.tmp-${gone.pid}-${gone.tag}-13-14`,
        reused: `config.json.tmp-${self.pid}-${boot}.1-15-16`, // its PID is alive, but not its writer
        live: `config.json.tmp-${self.pid}-${self.tag}-17-18`, // its writer is still running
        recent: `config.json.tmp-${gone.pid}-${gone.tag}-19-20`, // gone, but written moments ago
        otherTarget: `registries.json.tmp-${gone.pid}-${gone.tag}-21-22`, // not a config write
        // Its writer ran in another PID namespace (a container sharing the folder): this one's
        // /proc says nothing of it.
        otherNamespace: `config.json.tmp-${gone.pid}-${bootId}.1${namespace}.1-23-24`,
        oldFormat: `config.json.tmp-${gone.pid}-${bootId}.1-25-26`, // named before namespaces
        notOurs: `config.json.tmp-notes`,
      };
      const old = new Date(Date.now() - 5 * 60_000);
      for (const [which, name] of Object.entries(files)) {
        const path = join(configDir, name);
        await writeFile(path, '{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"}}}', { mode: 0o600 });
        if (which !== "recent") await utimes(path, old, old);
      }
      await writeFile(join(configDir, "config.json"), "{}");

      const result = await runCli(["configure-docker", "swept.example.com/team"], {
        env: own.env,
      });
      const left = new Set(await readdir(configDir));
      await own.cleanup();
      assert.equal(result.code, 0, result.stderr);
      for (const which of ["dead", "deadBackup", "reused"] as const) {
        assert.ok(!left.has(files[which]), `${which}: ${files[which]} was removed`);
      }
      const kept = [
        "live",
        "recent",
        "otherTarget",
        "otherNamespace",
        "oldFormat",
        "notOurs",
      ] as const;
      for (const which of kept) {
        assert.ok(left.has(files[which]), `${which}: ${files[which]} was kept`);
      }
      // And the write itself left none of its own.
      const temporaries = [...left].filter((name) => /^config\.json(\.bak)?\.tmp-/.test(name));
      assert.deepEqual(
        temporaries.sort(),
        [files.live, files.recent, files.otherNamespace, files.oldFormat, files.notOurs].sort(),
      );
    },
  );
});
