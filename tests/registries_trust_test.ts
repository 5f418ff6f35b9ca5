// The registries file says where the access key is sent (`apiUrl`) and which file it is read from
// (`credentialsFile`), so it is trusted only when it is a regular file of this user's or root's
// that neither its group nor others can write to. Run as root with another user's
// XDG_CONFIG_HOME, the credential helper, the kubelet provider and configure-docker refuse that
// user's file with one line before any token request, and root's key (in a 0600 file of root's
// that the file names) never reaches the API the file names. Root's own file, a file root wrote
// for every user, and a user's own file serve as before; a symlink is judged by the file it leads
// to, as configure-docker writes through it. And the rule itself, on Windows-shaped file statuses.
//
// The tests run as root, as the suite does: root hands files to `nobody` (65534) and runs the CLI
// as nobody with setpriv. Runs unchanged under `deno test -A` and `bun test`.

import { chmod, chown, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { DEFAULT_USERS } from "./fixtures/stand_in.ts";
import { requireTool, run, type RunResult } from "./fixtures/services.ts";
import { exists } from "./fixtures/common.ts";
import {
  cliCommand,
  type CliResult,
  DENO_WRAPPER_WITHOUT_UID,
  dockerConfigPath,
  NOBODY,
  registriesPath,
  runCli,
  type Sandbox,
  SecretScanner,
} from "./fixtures/harness.ts";
import { HOST, REGISTRY_URL } from "./fixtures/helper.ts";
import { useStandIn } from "./fixtures/suite.ts";
import { ConfigError, unconfigureDocker } from "../mod.ts";
import { ownershipProblem } from "../src/files.ts";

const ALICE_KEY = DEFAULT_USERS.alice;
/** Root's own identity, kept in a 0600 file of root's that another user's registries file names. */
const ROOT_USER = "root-user";
const ROOT_KEY = "root-access-key-0123456789";

const suite = useStandIn({ users: { ...DEFAULT_USERS, [ROOT_USER]: ROOT_KEY } });
const scanner = new SecretScanner();
scanner.add(ALICE_KEY, ROOT_KEY);

/** Root's credentials file: 0600 in a 0700 folder of root's, outside any home. */
async function rootCredentialsFile(box: Sandbox): Promise<string> {
  const dir = join(box.dir, "root-only");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, "credentials.yml");
  await writeFile(path, `username: ${ROOT_USER}\naccessKey: ${ROOT_KEY}\n`, { mode: 0o600 });
  return path;
}

/**
 * A registries file for HOST whose `apiUrl` is the stand-in (standing for a server of the other
 * user's), with the owner and mode given, naming `credentialsFile` when there is one.
 */
async function writeRegistries(
  path: string,
  options: { owner: number; mode: number; credentialsFile?: string },
): Promise<string> {
  const entry = {
    registryUrl: REGISTRY_URL,
    region: "us-west-1",
    apiUrl: suite.standIn.url,
    ...(options.credentialsFile ? { credentialsFile: options.credentialsFile } : {}),
  };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify({ version: 1, registries: { [HOST]: entry } })}\n`);
  await chmod(path, options.mode);
  await chown(path, options.owner, options.owner);
  return path;
}

/** The other user's registries file in the sandbox's config folder, naming root's key file. */
async function plantedRegistries(box: Sandbox, owner = NOBODY, mode = 0o644): Promise<string> {
  const credentialsFile = await rootCredentialsFile(box);
  return await writeRegistries(registriesPath(box), { owner, mode, credentialsFile });
}

/** How many token requests since `from` carried root's access key. */
function rootKeySent(from: number): number {
  return suite.standIn.requests.slice(from).filter((request) => {
    const authorization = request.headers.authorization ?? "";
    return authorization.startsWith("Basic ") && atob(authorization.slice(6)).includes(ROOT_KEY);
  }).length;
}

async function helperGet(box: Sandbox, wrapper?: string[]): Promise<RunResult> {
  const result = wrapper
    ? await run(wrapper[0], [...wrapper.slice(1), "credential-helper", "get"], {
      env: box.env,
      inheritEnv: false,
      stdin: HOST,
      cwd: box.dir,
    })
    : await runCli(["credential-helper", "get"], { env: box.env, stdin: HOST, cwd: box.dir });
  scanner.checkResult("credential-helper get", result);
  return result;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A get that fails with one line naming the file and `problem`, before any token request. */
async function getRefused(box: Sandbox, path: string, problem: RegExp, wrapper?: string[]) {
  const before = suite.standIn.tokenRequestCount();
  const result = await helperGet(box, wrapper);
  assert.equal(result.code, 1, `the get should fail: ${result.stdout}`);
  assert.equal(result.stdout, "");
  assert.match(
    result.stderr,
    new RegExp(`^docker-credential-saucelabs: Cannot use ${escapeRegExp(path)}: `),
  );
  assert.match(result.stderr, problem);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.equal(suite.standIn.tokenRequestCount(), before, "no token request reached the API");
  assert.equal(rootKeySent(before), 0, "root's key was sent");
}

/** A get answered with a token Sauce issued, asked with the file's settings. */
async function getServed(box: Sandbox, wrapper?: string[]): Promise<RunResult> {
  const before = suite.standIn.tokenRequestCount();
  const result = await helperGet(box, wrapper);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).Secret, suite.standIn.issued.at(-1)!.password);
  assert.equal(suite.standIn.tokenRequestCount(), before + 1, "one token request");
  return result;
}

describe("a registries file that is not this user's or root's, as root", () => {
  it("refuses another user's file before any token request: root's key is never sent", async () => {
    const box = await suite.sandbox();
    const path = await plantedRegistries(box);
    await getRefused(box, path, /it belongs to user 65534, not to this user \(0\);/);
    // The same file, root's: it is served, with root's key, from the API it names.
    await chown(path, 0, 0);
    const before = suite.standIn.tokenRequestCount();
    await getServed(box);
    assert.equal(rootKeySent(before), 1, "the file's settings were used");
  });

  it("refuses it under the Deno wrapper's permissions too (no --allow-sys: a probe file)", async () => {
    const box = await suite.sandbox();
    const path = await plantedRegistries(box);
    await getRefused(
      box,
      path,
      /it belongs to user 65534, not to this user \(0\);/,
      DENO_WRAPPER_WITHOUT_UID,
    );
    await chown(path, 0, 0);
    const served = await getServed(box, DENO_WRAPPER_WITHOUT_UID);
    assert.equal(served.stderr, "");
    assert.deepEqual(
      (await readdir(dirname(path))).filter((name) => name.startsWith(".uid-probe")),
      [],
      "no probe file left behind",
    );
  });

  it("refuses a file its group or anyone can write to (0620, 0660, 0602, 0666)", async () => {
    for (const mode of [0o620, 0o660, 0o602, 0o666]) {
      const box = await suite.sandbox();
      const path = await plantedRegistries(box, 0, mode);
      const shown = `0${mode.toString(8)}`;
      try {
        await getRefused(box, path, new RegExp(`others can write to it \\(mode ${shown}\\);`));
      } catch (error) {
        throw new Error(`a ${shown} file: ${(error as Error).message}`);
      }
      assert.equal((await stat(path)).mode & 0o777, mode, "left as it was");
    }
  });

  it("follows a symlink and judges the file it leads to, as configure-docker writes there", async () => {
    const box = await suite.sandbox();
    const theirs = await writeRegistries(join(box.dir, "theirs", "registries.json"), {
      owner: NOBODY,
      mode: 0o644,
      credentialsFile: await rootCredentialsFile(box),
    });
    const link = registriesPath(box);
    await mkdir(dirname(link), { recursive: true });
    await symlink(theirs, link);
    await getRefused(box, link, /it belongs to user 65534, not to this user \(0\);/);
    await chown(theirs, 0, 0);
    await getServed(box);
  });

  it("fails the kubelet provider with one line, before any token request", async () => {
    const box = await suite.sandbox();
    await plantedRegistries(box);
    const before = suite.standIn.tokenRequestCount();
    const request = JSON.stringify({
      apiVersion: "credentialprovider.kubelet.k8s.io/v1",
      kind: "CredentialProviderRequest",
      image: `${REGISTRY_URL}/app:1`,
    });
    const result = await runCli(["kubelet-credential-provider"], {
      env: box.env,
      stdin: request,
      cwd: box.dir,
    });
    scanner.checkResult("kubelet-credential-provider", result);
    assert.equal(result.code, 1, result.stdout);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^sauce-registry kubelet-credential-provider: Cannot use .*registries\.json: it belongs to user 65534, not to this user \(0\);/,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.equal(suite.standIn.tokenRequestCount(), before, "no token request");
  });

  it("keeps configure-docker from rewriting another user's file: byte for byte as it was", async () => {
    const box = await suite.sandbox();
    const path = await plantedRegistries(box);
    const original = await readFile(path);
    const broken = await suite.sandbox();
    await mkdir(dirname(registriesPath(broken)), { recursive: true });
    await writeFile(registriesPath(broken), "{not json");
    const args = ["configure-docker", "other.example.com/team"];
    const notJson = await runCli(args, { env: broken.env, cwd: broken.dir });
    const result: CliResult = await runCli(args, { env: box.env, cwd: box.dir });
    scanner.checkResult("configure-docker", result);
    assert.equal(result.code, notJson.code, "the exit code of any other unusable file");
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`Cannot use ${escapeRegExp(path)}: it belongs to user 65534, not to this user`),
    );
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.deepEqual(await readFile(path), original, "the file's bytes");
    const info = await stat(path);
    assert.deepEqual([info.uid, info.mode & 0o777], [NOBODY, 0o644], "its owner and mode");
    assert.deepEqual(await readdir(dirname(path)), ["registries.json"], "no backup, no lock");
    assert.equal(await exists(dockerConfigPath(box)), false, "the Docker config not written");
  });

  it("keeps unconfigureDocker (the Action's undoing) from rewriting it too", async () => {
    const box = await suite.sandbox();
    const path = await plantedRegistries(box);
    const original = await readFile(path);
    const options = { dockerConfigDir: box.env.DOCKER_CONFIG, settingsFile: path };
    await assert.rejects(unconfigureDocker([HOST], options), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, /it belongs to user 65534, not to this user \(0\);/);
      return true;
    });
    assert.deepEqual(await readFile(path), original, "the file's bytes");
    assert.equal((await stat(path)).uid, NOBODY, "still theirs");
  });
});

describe("a registries file of root's or this user's, as another user (nobody)", () => {
  /** A sandbox nobody can use: its home nobody's, its folder open to them. */
  async function nobodysSandbox(configHome: string): Promise<Sandbox> {
    const box = await suite.sandbox();
    await chmod(box.dir, 0o755);
    await mkdir(box.env.HOME, { recursive: true });
    await chown(box.env.HOME, NOBODY, NOBODY);
    box.env.XDG_CONFIG_HOME = join(box.dir, configHome);
    return box;
  }

  function asNobody(box: Sandbox, argv: string[]): Promise<RunResult> {
    return run(
      requireTool("setpriv"),
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", ...argv],
      { env: box.env, inheritEnv: false, stdin: HOST, cwd: box.env.HOME, timeoutMs: 60_000 },
    );
  }

  it("serves nobody from a file root wrote (0644), also with no --allow-sys", async () => {
    const box = await nobodysSandbox("etc");
    const path = await writeRegistries(
      join(box.env.XDG_CONFIG_HOME, "sauce-registry", "registries.json"),
      {
        owner: 0,
        mode: 0o644,
      },
    );
    await chmod(dirname(path), 0o755);
    await chmod(dirname(dirname(path)), 0o755);
    for (
      const argv of [[...cliCommand(), "credential-helper", "get"], [
        ...DENO_WRAPPER_WITHOUT_UID,
        "credential-helper",
        "get",
      ]]
    ) {
      const before = suite.standIn.tokenRequestCount();
      const first = await asNobody(box, argv);
      scanner.checkResult("get as nobody", first);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(JSON.parse(first.stdout).Secret, suite.standIn.issued.at(-1)!.password);
      // Told its user id by a probe in its cache folder when one in root's folder could not:
      // the second get is answered from nobody's cache, with nothing to say.
      const second = await asNobody(box, argv);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(second.stderr, "", `${argv[0]}: ${second.stderr}`);
      assert.ok(suite.standIn.tokenRequestCount() - before <= 1, "the second get used the cache");
    }
  });

  it("serves nobody from a file of nobody's own, and refuses one of another user's", async () => {
    const box = await nobodysSandbox("home/.config");
    const path = await writeRegistries(registriesPath(box), { owner: NOBODY, mode: 0o600 });
    await chown(dirname(path), NOBODY, NOBODY);
    await chown(dirname(dirname(path)), NOBODY, NOBODY);
    const argv = [...cliCommand(), "credential-helper", "get"];
    const own = await asNobody(box, argv);
    assert.equal(own.code, 0, own.stderr);
    await chown(path, 1000, 1000);
    await chmod(path, 0o644);
    const before = suite.standIn.tokenRequestCount();
    const theirs = await asNobody(box, argv);
    assert.equal(theirs.code, 1, theirs.stdout);
    assert.match(
      theirs.stderr,
      /^docker-credential-saucelabs: Cannot use .*: it belongs to user 1000, not to this user \(65534\) nor to root;/,
    );
    assert.equal(suite.standIn.tokenRequestCount(), before, "no token request");
  });
});

describe("the one ownership rule, on file statuses of every shape", () => {
  // What Bun says of a file anyone may write to on Windows: mode 0666, no owner (common.ts leaves
  // the uid out there), and chmod changes nothing. Only the kind can be judged there.
  const windowsFile = { mode: 0o666, mtimeMs: 0, kind: "file", isFile: true } as const;
  const registriesRule = { expected: "file", rootMayOwn: true } as const;

  it("judges only the kind of a Windows file status", () => {
    assert.equal(
      ownershipProblem(windowsFile, { ...registriesRule, uid: undefined, windows: true }),
      undefined,
    );
    assert.match(
      ownershipProblem({ ...windowsFile, kind: "folder", isFile: false }, {
        ...registriesRule,
        uid: undefined,
        windows: true,
      })!,
      /it is a folder, not a regular file/,
    );
    assert.match(
      ownershipProblem(windowsFile, { ...registriesRule, uid: undefined, windows: false })!,
      /others can write to it \(mode 0666\)/,
    );
  });

  it("lets root own a file when the rule says so, and only then", () => {
    const rootsFile = { mode: 0o644, mtimeMs: 0, kind: "file", isFile: true, uid: 0 } as const;
    const posix = { ...registriesRule, windows: false };
    assert.equal(ownershipProblem(rootsFile, { ...posix, uid: 1000 }), undefined);
    // Whose it is needs no user id of this process's: Deno without --allow-sys can tell.
    assert.equal(ownershipProblem(rootsFile, { ...posix, uid: undefined }), undefined);
    assert.match(
      ownershipProblem(rootsFile, { expected: "file", uid: 1000, windows: false })!,
      /it belongs to user 0, not to this user \(1000\)$/,
    );
    assert.match(
      ownershipProblem({ ...rootsFile, uid: 1001 }, { ...posix, uid: undefined })!,
      /cannot tell its own user id/,
    );
    assert.match(
      ownershipProblem({ ...rootsFile, mode: 0o664 }, { ...posix, uid: 1000 })!,
      /others can write to it \(mode 0664\)/,
    );
  });
});
