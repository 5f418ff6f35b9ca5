// mod.ts works when imported by URL, as users of a published module do: the repository is served
// over HTTP on loopback and a fresh `deno eval --no-config` (no deno.json, no import map) imports
// it by that URL and calls the public API against the stand-in.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { requireTool, run } from "./fixtures/services.ts";
import { ROOT } from "./fixtures/harness.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];

describe("importing mod.ts by URL", () => {
  let server: http.Server;
  let base: string;
  let standIn: StandIn;
  let denoDir: string;
  const served: string[] = [];

  before(async () => {
    standIn = await startStandIn();
    denoDir = await mkdtemp(join(tmpdir(), "sr-deno-dir-"));
    server = http.createServer(async (request, response) => {
      const path = normalize(decodeURIComponent(new URL(request.url!, "http://x").pathname));
      served.push(path);
      try {
        const body = await readFile(join(ROOT, path));
        response.writeHead(200, { "content-type": "application/typescript; charset=utf-8" });
        response.end(body);
      } catch {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections?.();
    await new Promise((resolve) => server?.close(resolve));
    await standIn?.close();
    if (denoDir) await rm(denoDir, { recursive: true, force: true });
  });

  it("needs no import map and fetches a token through the public API", async () => {
    const deno = requireTool("deno");
    const script = `
      import { apiBaseUrl, fetchToken, registryHost, UsageError, VERSION } from "${base}/mod.ts";
      const token = await fetchToken({
        credentials: { username: Deno.env.get("SR_USER"), accessKey: Deno.env.get("SR_KEY") },
        apiUrl: Deno.env.get("SR_API"),
        registryUrl: "registry.example.com/team",
      });
      let usage = false;
      try { registryHost("not a registry"); } catch (error) { usage = error instanceof UsageError; }
      console.log(JSON.stringify({
        host: registryHost("https://Registry.Example.com/team/"),
        eu: apiBaseUrl("eu-central-1"),
        version: VERSION,
        username: token.username,
        expiresInFuture: token.expiresAt.getTime() > Date.now(),
        usage,
      }));
    `;
    const before = standIn.tokenRequestCount();
    const result = await run(deno, ["eval", "--no-config", "--quiet", script], {
      cwd: tmpdir(),
      env: { DENO_DIR: denoDir, SR_USER: USER, SR_KEY: KEY, SR_API: standIn.url, NO_COLOR: "1" },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout);
    const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    assert.deepEqual(answer, {
      host: "registry.example.com",
      eu: "https://api.eu-central-1.saucelabs.com",
      version: denoJson.version,
      username: "oauth2accesstoken",
      expiresInFuture: true,
      usage: true,
    });
    assert.equal(standIn.tokenRequestCount(), before + 1);
    // Only the library's own files were fetched: mod.ts, deps.ts and the internal modules they
    // import (Deno also fetches those mod.ts imports on demand), never cli.ts, tests or fixtures.
    const fetched = [...new Set(served)].sort();
    assert.ok(fetched.includes("/mod.ts") && fetched.includes("/deps.ts"), fetched.join());
    for (const path of fetched) assert.match(path, /^\/(mod|deps|src\/[a-z0-9_/]+)\.ts$/);
    // The command line's table and runners stay out: only its parser and option shapes, which
    // the kubelet provider shares, and its help, which the two entries load for --help.
    const commandLine = fetched.filter((path) => path.startsWith("/src/cli/"));
    for (const path of commandLine) assert.match(path, /^\/src\/cli\/(args|options|help)\.ts$/);
  });
});
