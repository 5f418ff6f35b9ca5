// Standard input is bounded: a credential request is a few hundred bytes, and the helper refuses
// more than 64 KiB with one line, without reading the rest (a runaway writer costs it nothing).
//
// Runs unchanged under `deno test -A` and `bun test`.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { requireTool, run } from "./fixtures/services.ts";
import { cliCommand, makeSandbox, runCli, type Sandbox } from "./fixtures/harness.ts";

const LIMIT = 64 * 1024;
const HOST = "registry.example.com";

describe("the credential helper's standard input", () => {
  let sandbox: Sandbox;
  let work: string;

  before(async () => {
    sandbox = await makeSandbox();
    work = await mkdtemp(join(tmpdir(), "stdin-test-"));
  });
  after(async () => {
    await sandbox.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  function get(stdin: string) {
    return runCli(["credential-helper", "get"], { env: sandbox.env, stdin, cwd: sandbox.dir });
  }

  it("refuses more than 64 KiB with one line on stderr and nothing on stdout", async () => {
    const result = await get(HOST + " ".repeat(LIMIT + 1 - HOST.length));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^docker-credential-saucelabs: .*more than 64 KiB.*\n$/);
    // 64 KiB itself is a request like any other (here: a host that is not configured).
    const atLimit = await get(HOST + " ".repeat(LIMIT - HOST.length));
    assert.equal(atLimit.stdout, "credentials not found in native keychain\n", atLimit.stderr);
  });

  it("stops reading a 100 MB stream at the limit instead of holding it", {
    timeout: 120_000,
  }, async () => {
    const time = requireTool("time"); // GNU time: the child's peak resident memory
    const peakFile = join(work, "peak");
    const writerFile = join(work, "writer");
    // head writes 100 MB into the helper's input; it ends with SIGPIPE (141) when the helper
    // leaves before reading it all, with 0 when everything was read.
    const script =
      'head -c 104857600 /dev/zero | "$3" -o "$1" -f %M "${@:4}" credential-helper get; ' +
      'echo "${PIPESTATUS[0]}" > "$2"';
    const result = await run("bash", [
      "-c",
      script,
      "bash",
      peakFile,
      writerFile,
      time,
      ...cliCommand(),
    ], {
      env: sandbox.env,
      inheritEnv: false,
      cwd: sandbox.dir,
      timeoutMs: 100_000,
    });
    assert.equal(result.stdout, "");
    assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
    assert.match(result.stderr, /more than 64 KiB/);
    const writerStatus = Number((await readFile(writerFile, "utf8")).trim());
    assert.notEqual(writerStatus, 0, "the helper read all 100 MB");
    const peakKiB = Number((await readFile(peakFile, "utf8")).trim().split("\n").at(-1));
    console.log(`100 MB on stdin: writer exited ${writerStatus}, helper peak ${peakKiB} KiB`);
    assert.ok(peakKiB < 100 * 1024, `the helper's memory peaked at ${peakKiB} KiB`);
  });
});
