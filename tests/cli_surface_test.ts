// What users touch on the command line (issue 12): one way to give a registry, --json for output
// and for errors, help and version commands, suggestions for typos, per-command help, the
// missing-credentials message, a status line on a terminal only, shell completions that real
// bash, zsh and fish load and answer, and a library that exports no runtime plumbing.
//
// Runs unchanged under `deno test -A` and `bun test`.

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { describeResult } from "./fixtures/common.ts";
import { cliCommand, type CliResult, type Sandbox } from "./fixtures/harness.ts";
import { cli } from "./fixtures/helper.ts";
import { useStandIn } from "./fixtures/suite.ts";
import { requireTool, run } from "./fixtures/services.ts";
import * as library from "../mod.ts";

const REGISTRY = "registry.example.com/your-private-registry";
const SLOW = { timeout: 60_000 };

const suite = useStandIn();

async function sandbox(extra: Record<string, string> = {}): Promise<Sandbox> {
  const made = await suite.sandbox(extra);
  await mkdir(made.env.HOME, { recursive: true });
  return made;
}

/** The one JSON object a `--json` failure writes on stderr. */
function jsonError(result: CliResult): { message: string; exit_code: number; kind: string } {
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr:\n${result.stderr}`);
  const parsed = JSON.parse(lines[0]) as {
    error: { message: string; exit_code: number; kind: string };
  };
  assert.equal(parsed.error.exit_code, result.code, "the JSON carries the exit code");
  return parsed.error;
}

describe("giving a registry", () => {
  it("takes it as an argument or with --registry, the same token either way", SLOW, async () => {
    const box = await sandbox();
    const bodies: string[] = [];
    for (const args of [[REGISTRY], ["--registry", REGISTRY]]) {
      const result = await cli(box, ["token", ...args, "--format", "username"]);
      assert.equal(result.code, 0, describeResult(result));
      assert.equal(result.stdout, "oauth2accesstoken\n");
      bodies.push(suite.standIn.requests.at(-1)!.body);
    }
    assert.deepEqual(bodies, [JSON.stringify({ registry_url: REGISTRY })].concat(bodies[0]));
    const [positional, flagged] = await Promise.all(
      [[REGISTRY], ["--registry", REGISTRY]].map((args) =>
        cli(box, ["status", ...args, "--offline", "--json"])
      ),
    );
    assert.equal(JSON.parse(positional.stdout).host, "registry.example.com");
    assert.deepEqual(JSON.parse(positional.stdout), JSON.parse(flagged.stdout));
  });

  it("refuses both ways at once, and more registries than the command takes", SLOW, async () => {
    const box = await sandbox();
    const before = suite.standIn.requests.length;
    const both = await cli(box, ["token", REGISTRY, "--registry", REGISTRY]);
    assert.equal(both.code, 2, describeResult(both));
    assert.match(
      both.stderr,
      /token takes one REGISTRY: give it as an argument or with --registry, not both/,
    );
    const two = await cli(box, [
      "login",
      "--registry",
      "a.example.com",
      "--registry",
      "b.example.com",
    ]);
    assert.equal(two.code, 2, describeResult(two));
    assert.match(two.stderr, /login takes one REGISTRY, got 2/);
    assert.equal(suite.standIn.requests.length, before, "no token was requested");
  });
});

describe("--json", () => {
  it("turns every failure into one JSON object on stderr, exit code unchanged", SLOW, async () => {
    const box = await sandbox();
    const wrongKey = await cli({ ...box, env: { ...box.env, SAUCE_ACCESS_KEY: "wrong-key-123" } }, [
      "token",
      REGISTRY,
      "--json",
    ]);
    assert.equal(wrongKey.code, 3, describeResult(wrongKey));
    assert.equal(wrongKey.stdout, "");
    const auth = jsonError(wrongKey);
    assert.equal(auth.kind, "auth");
    assert.match(auth.message, /refused the username or access key \(401\)/);
    assert.ok(!wrongKey.stderr.includes("wrong-key-123"));

    const typo = await cli(box, ["--json", "tokn"]);
    assert.equal(typo.code, 2);
    assert.deepEqual(jsonError(typo), {
      message: 'Unknown command "tokn": did you mean token?',
      exit_code: 2,
      kind: "usage",
    });

    const unparsable = await cli(box, ["token", "--json", "--bogus"]);
    assert.equal(unparsable.code, 2);
    assert.equal(jsonError(unparsable).kind, "usage");

    const noCredentials = await cli(
      { ...box, env: { ...box.env, SAUCE_USERNAME: "", SAUCE_ACCESS_KEY: "" } },
      ["token", "--json"],
    );
    assert.equal(noCredentials.code, 2, describeResult(noCredentials));
    assert.equal(jsonError(noCredentials).kind, "credentials");

    suite.standIn.fault({ delayMs: 8000 });
    const slow = await cli(box, ["token", "--json", "--timeout", "1"]);
    suite.standIn.clearFaults();
    assert.equal(slow.code, 124, describeResult(slow));
    assert.equal(jsonError(slow).kind, "timeout");
  });

  it(
    "is a usage error with a --format other than json, and prints JSON elsewhere",
    SLOW,
    async () => {
      const box = await sandbox();
      const clash = await cli(box, ["token", "--json", "--format", "env"]);
      assert.equal(clash.code, 2, describeResult(clash));
      assert.match(
        jsonError(clash).message,
        /--json prints JSON: it does not go with --format env/,
      );
      const token = await cli(box, ["token", "--json"]);
      assert.equal(token.code, 0, describeResult(token));
      assert.deepEqual(Object.keys(JSON.parse(token.stdout)), [
        "username",
        "password",
        "expires_at",
      ]);
      const version = await cli(box, ["version", "--json"]);
      assert.equal(JSON.parse(version.stdout).version, library.VERSION);
      const installed = await cli(box, ["install-helper", "--dir", join(box.dir, "bin"), "--json"]);
      assert.equal(installed.code, 0, describeResult(installed));
      assert.equal(JSON.parse(installed.stdout).path, join(box.dir, "bin", library.HELPER_PROGRAM));
    },
  );
});

describe("help, version and typos", () => {
  it("prints exactly COMMAND --help for help COMMAND, for every command", SLOW, async () => {
    const box = await sandbox();
    const overview = await cli(box, ["help"]);
    assert.equal(overview.code, 0);
    const commands = [...overview.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((match) =>
      match[1]
    );
    assert.ok(commands.includes("token") && commands.includes("completions"), overview.stdout);
    for (const command of commands) {
      const [viaHelp, viaFlag] = await Promise.all([
        cli(box, ["help", command]),
        cli(box, [command, "--help"]),
      ]);
      assert.equal(viaHelp.code, 0, describeResult(viaHelp));
      assert.equal(viaHelp.stdout, viaFlag.stdout, command);
      assert.match(viaHelp.stdout, new RegExp(`^Usage: sauce-registry ${command}\\b`));
    }
    const [version, flag] = await Promise.all([cli(box, ["version"]), cli(box, ["--version"])]);
    assert.equal(version.stdout, `sauce-registry ${library.VERSION}\n`);
    assert.equal(flag.stdout, version.stdout);
  });

  it("suggests the nearest command or option for a typo, exit 2", SLOW, async () => {
    const box = await sandbox();
    const cases: [string[], RegExp][] = [
      [["tokn"], /Unknown command "tokn": did you mean token\?/],
      [["stauts"], /did you mean status\?/],
      [["help", "lgoin"], /did you mean login\?/],
      [["token", "--formt", "env"], /Unknown option "--formt": did you mean --format\?/],
      [["completions", "bsh"], /did you mean bash\?/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(box, args);
      assert.equal(result.code, 2, describeResult(result));
      assert.match(result.stderr.split("\n")[0], message);
    }
  });

  it("lists a command's own options first and only the options it takes", SLOW, async () => {
    const box = await sandbox();
    const logout = (await cli(box, ["logout", "--help"])).stdout;
    const options = [...logout.matchAll(/^ {2}(?:-\w, )?--([a-z-]+)/gm)].map((match) => match[1]);
    assert.deepEqual(options.slice(0, 3), ["registry", "tool", "tool-arg"]);
    for (const absent of ["access-key-stdin", "username", "region", "api-url", "env-file"]) {
      assert.ok(!options.includes(absent), `logout --help lists --${absent}`);
    }
    const token = (await cli(box, ["token", "--help"])).stdout;
    assert.match(token, /^ {2}--format FORMAT +json \(default\), env/m);
    assert.match(token, /^ {2}--access-key-stdin/m);
    const refused = await cli(box, ["logout", REGISTRY, "--access-key-stdin"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--access-key-stdin does not apply to logout/);
  });
});

describe("the status line", () => {
  it(
    "shows on a terminal while a request and a retry take over a second, never on a pipe",
    SLOW,
    async () => {
      requireTool("script");
      const box = await sandbox({ SAUCE_REGISTRY_RETRY_DELAY_MS: "1500" });
      const command = [...cliCommand(), "token", REGISTRY, "--format", "username"]
        .map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ");
      const host = new URL(suite.standIn.url).host;

      suite.standIn.fault({ delayMs: 2500, status: 503 });
      const terminal = await run("script", ["-q", "-e", "-c", command, "/dev/null"], {
        env: box.env,
        cwd: box.dir,
        inheritEnv: false,
        timeoutMs: 30_000,
      });
      assert.equal(terminal.code, 0, `${terminal.stdout}\n${terminal.stderr}`);
      // "\r" and "erase the line" before each status, and before the answer once it is done.
      const erase = "\r\x1b[2K";
      const shown = (line: string) =>
        assert.ok(terminal.stdout.includes(`${erase}${line}`), JSON.stringify(terminal.stdout));
      shown(`Waiting for a registry token from ${host} (attempt 1 of 4)…`);
      shown("Sauce Labs answered 503; retrying in 2 s (attempt 2 of 4)…");
      assert.ok(
        /oauth2accesstoken\r?\n$/.test(terminal.stdout) &&
          terminal.stdout.includes(`${erase}oauth2accesstoken`),
        JSON.stringify(terminal.stdout),
      );

      suite.standIn.fault({ delayMs: 2500, status: 503 });
      const piped = await cli(box, ["token", REGISTRY, "--format", "username"]);
      assert.equal(piped.code, 0, describeResult(piped));
      assert.equal(piped.stdout, "oauth2accesstoken\n");
      assert.equal(piped.stderr, "");

      suite.standIn.fault({ delayMs: 2500 });
      const quiet = await run("script", ["-q", "-e", "-c", `${command} --quiet`, "/dev/null"], {
        env: box.env,
        cwd: box.dir,
        inheritEnv: false,
        timeoutMs: 30_000,
      });
      assert.equal(quiet.code, 0);
      assert.doesNotMatch(quiet.stdout, /Waiting/);
    },
  );

  it("says how many attempts a retried failure made", SLOW, async () => {
    const box = await sandbox({ SAUCE_REGISTRY_RETRIES: "2" });
    suite.standIn.fault({ status: 503, times: 3 });
    const result = await cli(box, ["token", REGISTRY]);
    assert.equal(result.code, 1, describeResult(result));
    assert.match(result.stderr, /answered 503: Service Unavailable \(3 attempts\)$/m);
  });
});

describe("shell completions", () => {
  async function script(box: Sandbox, shell: string): Promise<string> {
    const result = await cli(box, ["completions", shell]);
    assert.equal(result.code, 0, describeResult(result));
    const path = join(box.dir, `completion.${shell}`);
    await writeFile(path, result.stdout);
    return path;
  }

  /**
   * What the bash function answers for the words typed so far (the last one being completed),
   * each word as the user typed it (quotes and backslashes included), and the `compopt` options
   * it asked readline for (a stand-in records them: compopt works only under readline).
   */
  async function bashCompletion(
    file: string,
    words: string[],
    cwd?: string,
  ): Promise<{ replies: string[]; compopt: string[] }> {
    const quoted = words.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ");
    const result = await run("bash", [
      "--norc",
      "-c",
      `compopt() { COMPOPT+=("$*"); }; source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${
        words.length - 1
      }; _sauce_registry; printf 'reply %s\\n' "\${COMPREPLY[@]}"; printf 'compopt %s\\n' "\${COMPOPT[@]}"`,
    ], { timeoutMs: 20_000, cwd });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    const lines = result.stdout.split("\n");
    const after = (prefix: string) =>
      lines.filter((line) => line.startsWith(prefix) && line !== prefix)
        .map((line) => line.slice(prefix.length));
    return { replies: after("reply "), compopt: after("compopt ") };
  }

  async function bashComplete(file: string, words: string[], cwd?: string): Promise<string[]> {
    return (await bashCompletion(file, words, cwd)).replies;
  }

  /** A folder of awkward names: a space, a `*` and a `*` inside, a folder with a space. */
  async function awkwardFolder(box: Sandbox): Promise<string> {
    const dir = join(box.dir, "awkward");
    await mkdir(join(dir, "sub dir"), { recursive: true });
    for (const name of ["my file.env", "*", "a*b"]) await writeFile(join(dir, name), "");
    return dir;
  }

  it(
    "bash: completes commands, options per command, and the values of --tool, --region, --format",
    SLOW,
    async () => {
      const box = await sandbox();
      const file = await script(box, "bash");
      assert.deepEqual(await bashComplete(file, ["sauce-registry", "to"]), ["token"]);
      assert.deepEqual(await bashComplete(file, ["sauce-registry", "login", "--tool", ""]), [
        ...library.TOOLS,
      ]);
      assert.deepEqual(await bashComplete(file, ["sauce-registry", "push", "--tool", ""]), [
        "docker",
        "podman",
      ]);
      assert.deepEqual(await bashComplete(file, ["sauce-registry", "token", "--region", "eu"]), [
        "eu-central-1",
      ]);
      assert.deepEqual(await bashComplete(file, ["sauce-registry", "token", "--format", "k"]), [
        "k8s-secret",
      ]);
      // As bash splits it: `--tool=po` is three words.
      assert.deepEqual(
        await bashComplete(file, ["sauce-registry", "login", "--tool", "=", "po"]),
        ["podman"],
      );
      const logout = await bashComplete(file, ["sauce-registry", "logout", "--"]);
      assert.ok(
        logout.includes("--tool-arg") && !logout.includes("--access-key-stdin"),
        logout.join(),
      );
      // The value of an option is not taken for the command.
      assert.deepEqual(
        await bashComplete(file, ["sauce-registry", "token", "--format", "env", "--for"]),
        ["--format"],
      );
      assert.deepEqual(await bashComplete(file, ["sauce-registry", "help", "confi"]), [
        "configure-docker",
      ]);
    },
  );

  it(
    "bash: offers file names whole, spaces and * included, however the prefix was typed",
    SLOW,
    async () => {
      const box = await sandbox();
      const file = await script(box, "bash");
      const dir = await awkwardFolder(box);
      const complete = (...words: string[]) =>
        bashComplete(file, ["sauce-registry", ...words], dir);
      const everything = await bashCompletion(
        file,
        ["sauce-registry", "token", "--env-file", ""],
        dir,
      );
      assert.deepEqual(everything.replies.sort(), ["*", "a*b", "my file.env", "sub dir"]);
      // readline quotes what it inserts (my\ file.env, \*) and adds / to a folder.
      assert.deepEqual(everything.compopt, ["-o filenames"]);
      assert.deepEqual(await complete("login", "--env-file", "my"), ["my file.env"]);
      assert.deepEqual(await complete("login", "--env-file", "a"), ["a*b"]);
      assert.deepEqual(await complete("exec", "--env-file", "=", "my"), ["my file.env"]);
      // What the user typed is read as the shell will read it.
      assert.deepEqual(await complete("push", "--env-file", "my\\ f"), ["my file.env"]);
      assert.deepEqual(await complete("status", "--env-file", "'my f"), ["my file.env"]);
      assert.deepEqual(await complete("token", "--env-file", '"my f'), ["my file.env"]);
      assert.deepEqual(await complete("token", "--env-file", "a\\*"), ["a*b"]);
      assert.deepEqual(await complete("install-helper", "--dir", ""), ["sub dir"]);
      assert.deepEqual(await complete("install-helper", "--dir", "sub\\ "), ["sub dir"]);
    },
  );

  it(
    "bash: offers a command's choices for its first argument only, after options too",
    SLOW,
    async () => {
      const box = await sandbox();
      const file = await script(box, "bash");
      const choices = ["get", "store", "erase", "list", "version"];
      const complete = (...words: string[]) => bashComplete(file, ["sauce-registry", ...words]);
      assert.deepEqual(await complete("credential-helper", ""), choices);
      assert.deepEqual(await complete("credential-helper", "--no-cache", ""), choices);
      assert.deepEqual(await complete("--help", "credential-helper", "--no-cache", "g"), ["get"]);
      assert.deepEqual(await complete("credential-helper", "get", ""), []);
      assert.deepEqual(await complete("credential-helper", "--no-cache", "get", ""), []);
      assert.deepEqual(await complete("completions", "bash", ""), []);
      assert.deepEqual(await complete("help", "token", ""), []);
      // After "--" every word is an argument, not an option; "--" only goes after exec.
      assert.deepEqual(await complete("exec", "--", "--he"), []);
      assert.deepEqual(await complete("exec", "--he"), ["--help"]);
      assert.deepEqual(await complete("--", "t"), []);
    },
  );

  it("zsh: loads without error and defines its completion function", SLOW, async () => {
    requireTool("zsh");
    const box = await sandbox();
    const file = await script(box, "zsh");
    const result = await run("zsh", [
      "-f",
      "-c",
      `autoload -Uz compinit && compinit -u -D && source '${file}' && (( $+functions[_sauce_registry] )) && print -r -- "\${_comps[sauce-registry]}"`,
    ], { env: { HOME: box.env.HOME, PATH: box.env.PATH }, inheritEnv: false, timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, "_sauce_registry\n");
  });

  /** What fish offers for a command line, with the generated script loaded (as fish lists it). */
  async function fishCompleter(): Promise<(line: string) => Promise<string[]>> {
    requireTool("fish");
    const box = await sandbox();
    const file = await script(box, "fish");
    return async (line: string) => {
      const result = await run("fish", [
        "--no-config",
        "-c",
        `source '${file}'; complete -C '${line}'`,
      ], {
        env: { HOME: box.env.HOME, PATH: box.env.PATH },
        inheritEnv: false,
        timeoutMs: 20_000,
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, "");
      return result.stdout.split("\n").filter(Boolean).map((row) => row.split("\t")[0]);
    };
  }

  it("fish: loads without error and completes commands and --tool values", SLOW, async () => {
    const complete = await fishCompleter();
    assert.deepEqual(await complete("sauce-registry to"), ["token"]);
    assert.deepEqual(await complete("sauce-registry login --tool "), [...library.TOOLS].sort());
    assert.ok((await complete("sauce-registry token --format ")).includes("k8s-secret"));
    assert.ok(!(await complete("sauce-registry logout --")).includes("--access-key-stdin"));
  });

  it(
    "fish: finds the command past options and their values, and offers choices for its first argument only",
    SLOW,
    async () => {
      const fish = await fishCompleter();
      const complete = async (line: string) => (await fish(line)).sort();
      const choices = ["erase", "get", "list", "store", "version"];
      assert.deepEqual(await complete("sauce-registry credential-helper "), choices);
      assert.deepEqual(await complete("sauce-registry credential-helper --no-cache "), choices);
      assert.deepEqual(await complete("sauce-registry -h credential-helper --no-cache g"), ["get"]);
      assert.deepEqual(await complete("sauce-registry credential-helper get "), []);
      assert.deepEqual(await complete("sauce-registry credential-helper --no-cache get "), []);
      // A word after the command is an argument, not a command: help takes only --help, and
      // "version" after credential-helper does not bring version's --json.
      assert.deepEqual(await complete("sauce-registry help token --"), ["--help"]);
      assert.deepEqual(await complete("sauce-registry credential-helper version --"), [
        "--help",
        "--no-cache",
      ]);
      // An option's value is not the command: --registry login does not make it login.
      assert.deepEqual(await complete("sauce-registry token --registry login --t"), ["--timeout"]);
      // After "--" every word is an argument, not an option; "--" only goes after exec.
      assert.deepEqual(await complete("sauce-registry exec -- --he"), []);
      assert.deepEqual(await complete("sauce-registry exec --he"), ["--help"]);
      assert.deepEqual(await complete("sauce-registry -- t"), []);
      assert.deepEqual(await complete("sauce-registry token --format "), [
        "docker-config",
        "env",
        "expires-at",
        "json",
        "k8s-secret",
        "password",
        "username",
      ]);
    },
  );

  /**
   * Each line as it stands after one TAB in an interactive zsh (run in `cwd`), with the matches
   * the TAB offered.
   */
  async function zshComplete(
    box: Sandbox,
    cwd: string,
    typed: string[],
  ): Promise<{ buffer: string; matches: string[] }[]> {
    requireTool("zsh");
    const file = await script(box, "zsh");
    const driver = join(box.dir, "zsh_driver.zsh");
    const setup = join(box.dir, "zsh_setup.zsh");
    await writeFile(driver, ZSH_DRIVER);
    await writeFile(setup, ZSH_SETUP);
    const out = join(box.dir, "zsh.out");
    const result = await run("zsh", ["-f", driver, file, out, setup, ...typed], {
      env: { HOME: box.env.HOME, PATH: box.env.PATH },
      inheritEnv: false,
      cwd,
      timeoutMs: 50_000,
    });
    assert.equal(result.code, 0, result.stderr);
    // One "BUFFER:" row per line typed, after the "MATCH:" rows of its TAB.
    const answers: { buffer: string; matches: string[] }[] = [];
    let matches: string[] = [];
    for (const row of (await readFile(out, "utf8")).split("\n")) {
      if (row.startsWith("MATCH:")) matches.push(row.slice("MATCH:".length));
      if (row.startsWith("BUFFER:")) {
        answers.push({ buffer: row.slice("BUFFER:".length), matches });
        matches = [];
      }
    }
    assert.equal(answers.length, typed.length, `zsh answered ${JSON.stringify(answers)}`);
    return answers;
  }

  it("zsh: completes file names with spaces and *, and values after --option=", SLOW, async () => {
    const box = await sandbox();
    const typed = [
      "sauce-registry token --env-f",
      "sauce-registry token --env-file my",
      "sauce-registry token --env-file a",
      "sauce-registry login --env-file=my",
      "sauce-registry install-helper --dir=s",
      "sauce-registry token --format=k8",
    ];
    const answers = await zshComplete(box, await awkwardFolder(box), typed);
    assert.deepEqual(answers.map((answer) => answer.buffer), [
      "sauce-registry token --env-file=",
      "sauce-registry token --env-file my\\ file.env ",
      "sauce-registry token --env-file a\\*b ",
      "sauce-registry login --env-file=my\\ file.env ",
      "sauce-registry install-helper --dir=sub\\ dir/",
      "sauce-registry token --format=k8s-secret ",
    ]);
  });

  it("zsh: offers a command's choices for its first argument only", SLOW, async () => {
    const box = await sandbox();
    const [noCache, second, third] = await zshComplete(box, box.dir, [
      "sauce-registry credential-helper --no-cache ",
      "sauce-registry credential-helper get ",
      "sauce-registry completions zsh ",
    ]);
    assert.deepEqual(noCache.matches.sort(), ["erase", "get", "list", "store", "version"]);
    // No second argument: what is left to offer is options.
    for (const { matches } of [second, third]) {
      assert.ok(matches.every((match) => match.startsWith("-")), matches.join());
    }
  });
});

/**
 * Drives an interactive zsh through a pseudo-terminal (zpty): it reads ZSH_SETUP, then for each
 * LINE types it and a TAB. Usage: zsh -f zsh_driver.zsh SCRIPT OUT SETUP LINE...
 */
const ZSH_DRIVER = `zmodload zsh/zpty
export COMPLETION_SCRIPT=$1 COMPLETION_OUT=$2
setup=$3
shift 3
: > $COMPLETION_OUT
zpty completing zsh -f -i
zpty -w completing "source \${(q)setup}"
for line in "$@"; do
  answered=$(( $(grep -c '^BUFFER:' $COMPLETION_OUT) + 1 ))
  zpty -n -w completing "$line"$'\\t\\x18'
  for attempt in {1..400}; do
    (( $(grep -c '^BUFFER:' $COMPLETION_OUT) >= answered )) && break
    sleep 0.05
  done
done
zpty -d completing
`;

/**
 * What the interactive zsh reads: the completion system and COMPLETION_SCRIPT, a compadd that
 * writes each match offered to COMPLETION_OUT (`MATCH:`), and CTRL-X, which writes the line as
 * it stands (`BUFFER:`) and clears it.
 */
const ZSH_SETUP = `PS1=
autoload -Uz compinit && compinit -u -D
source $COMPLETION_SCRIPT
zstyle ':completion:*' insert-tab false
compadd() {
  # A call that only asks for the matches (-O, -A, -D) is the completion system's own business.
  if (( \${\${@[1,(i)(-|--)]}[(I)-[OAD]]} )); then
    builtin compadd "$@"
    return
  fi
  local -a hits
  builtin compadd -O hits "$@"
  (( $#hits )) && print -rl -- MATCH:\${^hits} >> $COMPLETION_OUT
  builtin compadd "$@"
}
show-buffer() {
  print -r -- "BUFFER:$BUFFER" >> $COMPLETION_OUT
  BUFFER=
}
zle -N show-buffer
bindkey '^X' show-buffer
`;
