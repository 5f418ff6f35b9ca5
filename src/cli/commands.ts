/**
 * Internal: the one table of the command line's commands — their usage, options, help and the
 * runner each is bound to (a command without a runner does not compile). It feeds the argument
 * parser, every `--help` text, the shell completions and the generated command reference.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./commands.ts";
 * console.log(COMMANDS.map((command) => command.name).join(" "));
 * ```
 *
 * @module
 */

import { HELPER_COMMAND } from "../helper.ts";
import { PROVIDER_COMMAND } from "../kubelet.ts";
import { TOOLS } from "../login.ts";
import { PUSH_TOOLS } from "../temporary_auth.ts";
import type { ArgumentSpec } from "./args.ts";
import { SHELLS } from "./completions.ts";
import type { Command } from "./context.ts";
import { runCompletions, runElsewhere, runHelp, runVersion } from "./info.ts";
import {
  argumentSpecs,
  optionsOf,
  type OptionSpec,
  REGISTRY_OPTION,
  VERSION_OPTION,
} from "./options.ts";
import { runConfigureDocker, runInstallHelper } from "./setup.ts";
import { runStatus } from "./status.ts";
import { FORMATS, runToken } from "./token.ts";
import { runExec, runLogin, runLogout, runPush } from "./tools.ts";

const TOOL_OPTION: OptionSpec = {
  name: "tool",
  type: "string",
  placeholder: "TOOL",
  help: `${TOOLS.join(", ")} (default docker)`,
  choices: TOOLS,
};

const TOOL_ARG_OPTION: OptionSpec = {
  name: "tool-arg",
  type: "string",
  multiple: true,
  placeholder: "ARG",
  help: "an argument for the tool (repeatable), e.g. --tool-arg=--tls-verify=false",
};

/** The commands, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [
  {
    name: "token",
    run: runToken,
    usage:
      "token [REGISTRY] [--format FORMAT] [--namespace NS] [--secret-name NAME] [--output FILE]",
    summary: "fetch a short-lived registry token and print it",
    options: [
      REGISTRY_OPTION,
      {
        name: "format",
        type: "string",
        placeholder: "FORMAT",
        help: "json (default), env, username, password, expires-at, docker-config, k8s-secret",
        choices: FORMATS,
      },
      {
        name: "namespace",
        type: "string",
        placeholder: "NS",
        help: "k8s-secret: the Secret's namespace (default: kubectl's current one)",
      },
      {
        name: "secret-name",
        type: "string",
        placeholder: "NAME",
        help: "k8s-secret: the Secret's name (default sauce-registry)",
      },
      {
        name: "output",
        type: "string",
        placeholder: "FILE",
        help: "write the answer to FILE (a regular file, mode 0600, replaced in one rename) " +
          "instead of stdout; - is stdout",
        completeWith: "file",
      },
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details: `Formats:
  json             {"username", "password", "expires_at"} (also --json)
  env              export DOCKER_USERNAME=… DOCKER_PASSWORD=… DOCKER_REGISTRY=… lines for eval
  username, password, expires-at   that one value
  docker-config    a Docker config.json with "auths" for the registry (needs REGISTRY)
  k8s-secret       a Kubernetes pull Secret (type kubernetes.io/dockerconfigjson) for the registry
                   (needs REGISTRY). It stops working when the token expires: refresh it every few
                   minutes (a CronJob: examples/kubernetes/), or let the kubelet fetch tokens
                   itself (kubelet-credential-provider)

--output FILE writes the answer to FILE instead of standard output: readable by you alone (0600),
never half-written (written beside it, then renamed), for a program that reads a file rather than
a pipe, such as the next container of a pod (examples/kubernetes/pull-secret-cronjob.yaml).

expires_at and expires-at are in this machine's clock: when Sauce Labs' clock differs, the
lifetime Sauce Labs gave is counted from now, so compare them with this machine's time.
Waiting for the token gives up after SAUCE_REGISTRY_TIMEOUT seconds, else 60 (--timeout: the
whole command).

Examples:
  eval "$(sauce-registry token registry.example.com/your-private-registry --format env)"
  sauce-registry token registry.example.com/your-private-registry --format k8s-secret \\
    --namespace ci | kubectl apply -f -`,
  },
  {
    name: "login",
    run: runLogin,
    usage: "login REGISTRY [--tool TOOL] [--tool-arg ARG]...",
    summary: "fetch a token and log a container tool in (password on stdin only)",
    options: [
      REGISTRY_OPTION,
      TOOL_OPTION,
      TOOL_ARG_OPTION,
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `podman, buildah and skopeo keep the login in a containers auth file, never in the Docker config:
REGISTRY_AUTH_FILE, else $XDG_CONFIG_HOME/containers/auth.json when DOCKER_CONFIG is set, else
$XDG_RUNTIME_DIR/containers/auth.json (their own default); an --authfile of yours wins.
When the credential helper already serves the host (configure-docker), no login is made.
Waiting for the token gives up after SAUCE_REGISTRY_TIMEOUT seconds, else 60.

Example:
  sauce-registry login registry.example.com/your-private-registry --tool podman`,
  },
  {
    name: "logout",
    run: runLogout,
    usage: "logout REGISTRY [--tool TOOL] [--tool-arg ARG]...",
    summary: "log a container tool out of the registry host",
    options: [
      REGISTRY_OPTION,
      TOOL_OPTION,
      TOOL_ARG_OPTION,
    ],
    groups: ["timeout", "json", "logging"],
    details: `Example:
  sauce-registry logout registry.example.com --tool docker`,
  },
  {
    name: "push",
    run: runPush,
    usage: "push IMAGE [--tool docker|podman] [--tool-arg ARG]...",
    summary: "push an image with a fresh token through a private temporary config",
    options: [
      { ...REGISTRY_OPTION, placeholder: "IMAGE", help: "the image, as the IMAGE argument" },
      {
        name: "tool",
        type: "string",
        placeholder: "TOOL",
        help: `${PUSH_TOOLS.join(" (default) or ")}`,
        choices: PUSH_TOOLS,
      },
      TOOL_ARG_OPTION,
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `The token goes to a private temporary config (see exec), not to the tool's environment.
IMAGE is checked before a token is asked for: docker pushes a tag, not a digest (podman pushes
both). The tool's progress stays visible; the exit code is the tool's. Waiting for the token gives up
after SAUCE_REGISTRY_TIMEOUT seconds, else 60; the push itself takes as long as it takes
(--timeout bounds the whole command). With --json, failures of sauce-registry itself are JSON.

Example:
  sauce-registry push registry.example.com/your-private-registry/app:1.0`,
  },
  {
    name: "exec",
    run: runExec,
    usage: "exec REGISTRY -- COMMAND [ARG]...",
    summary: "run a command with fresh registry auth in a private, temporary config",
    options: [REGISTRY_OPTION],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `COMMAND runs with DOCKER_CONFIG and REGISTRY_AUTH_FILE pointing at a temporary folder (0700,
in $XDG_RUNTIME_DIR/sauce-registry when it exists, else in the temp folder) holding auth for the
registry host, and DOCKER_USERNAME, DOCKER_PASSWORD and DOCKER_REGISTRY set (SAUCE_ACCESS_KEY is
not passed on; your other Docker settings are kept). Termination signals go to the command; the
folder is removed afterwards, whatever happens, and a folder left by a killed run (SIGKILL) is
removed by a later exec or push once it is a minute old. The exit code is the command's. Waiting
for the token gives up after SAUCE_REGISTRY_TIMEOUT seconds, else 60; the command itself runs as
long as it runs (--timeout bounds the whole command). COMMAND is looked for before a token is
asked for: on PATH, or as a file when it has a "/" (exit 1 when there is nothing to run). With
--json, failures of sauce-registry itself are JSON.

Example:
  sauce-registry exec registry.example.com/your-private-registry -- docker push registry.example.com/your-private-registry/app:1.0`,
  },
  {
    name: "configure-docker",
    run: runConfigureDocker,
    usage: "configure-docker REGISTRY...",
    summary: "make Docker, Podman, Skopeo and Buildah use the credential helper",
    options: [
      {
        ...REGISTRY_OPTION,
        multiple: true,
        help: "a registry (repeatable), as the arguments",
      },
      {
        name: "credentials-file",
        type: "string",
        placeholder: "PATH",
        help: "write the username and access key found now to PATH (absolute, mode 0600) and " +
          "serve these registries from it: another identity per registry, no key in the " +
          "environment later",
        completeWith: "file",
      },
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details:
      `Records each registry (with the region or --api-url) in $XDG_CONFIG_HOME/sauce-registry/registries.json
and adds "credHelpers": {"<host>": "saucelabs"} to $DOCKER_CONFIG/config.json (else ~/.docker/config.json),
keeping every other byte as written; the previous version goes to config.json.bak (mode 0600).
Both files are checked before either is written. Running it again changes nothing. A host whose
credHelpers entry named another helper (ecr-login, say) now names this one, with a warning.
With --credentials-file PATH (an absolute path), the helper reads these registries' username and
access key from that file only, whatever the environment it runs in holds. The file is written now
(mode 0600, its folder made 0700 when missing) in saucectl's "username:" and "accessKey:" form,
each value quoted so that it reads back exactly, from --username, --access-key-stdin,
SAUCE_USERNAME and SAUCE_ACCESS_KEY, the .env file or ~/.sauce/credentials.yml; --username and
--access-key-stdin need it. When Sauce Labs refuses the key, the helper's message names the file.
The GitHub Action and the GitLab component keep the key this way, out of the job's environment.

Example:
  sauce-registry configure-docker registry.example.com/your-private-registry
  sauce-registry install-helper
  printf %s "$EU_KEY" | sauce-registry configure-docker registry.eu.example.com/team \\
    --region eu-central-1 --username eu-user --access-key-stdin \\
    --credentials-file ~/.config/sauce-registry/eu.yml`,
  },
  {
    name: "install-helper",
    run: runInstallHelper,
    usage: "install-helper [--dir DIR]",
    summary: "put docker-credential-saucelabs on PATH for this way of running the tool",
    options: [{
      name: "dir",
      type: "string",
      placeholder: "DIR",
      help: "the folder (default ~/.local/bin, or /usr/local/bin as root)",
      completeWith: "directory",
    }],
    groups: ["json", "logging"],
    details: `Writes DIR/docker-credential-saucelabs: a symlink to a compiled binary, or a small
script that runs this tool with deno or bun, loading nothing from the folder Docker runs it in.

Example:
  sauce-registry install-helper --dir ~/bin`,
  },
  { ...HELPER_COMMAND, run: runElsewhere },
  { ...PROVIDER_COMMAND, run: runElsewhere },
  {
    name: "status",
    run: runStatus,
    usage: "status [REGISTRY] [--offline]",
    summary: "diagnostics: credentials' sources, region, API, cached token, docker config",
    options: [
      REGISTRY_OPTION,
      { name: "offline", type: "boolean", help: "skip the token request" },
    ],
    groups: ["identity", "env-file", "api", "timeout", "json", "logging"],
    details: `Never prints a secret. For a REGISTRY configured with configure-docker, it shows and
checks what the credential helper uses for it: the recorded registry URL, region and API URL, the
recorded credentials file (else SAUCE_USERNAME, SAUCE_ACCESS_KEY and saucectl's file, never a .env
file), and the cached token the helper reads; --username, --access-key-stdin, --region, --api-url,
--env-file, SAUCE_REGION and SAUCE_API_URL do not change that, as they do not change the helper.
For any other REGISTRY, or none, it shows this command's own settings. A registries file or
Docker config that cannot be read is reported, and the rest still checked. Exits with the API's
code when the token request fails, else 1 when a file cannot be read, else 2 without credentials.

Example:
  sauce-registry status registry.example.com/your-private-registry`,
  },
  {
    name: "completions",
    run: runCompletions,
    usage: "completions bash|zsh|fish",
    summary: "print a shell completion script",
    options: [],
    groups: [],
    positionalChoices: SHELLS,
    details: `Install:
  bash   sauce-registry completions bash > ~/.local/share/bash-completion/completions/sauce-registry
  zsh    sauce-registry completions zsh > "\${fpath[1]}/_sauce-registry"   (then start a new zsh)
  fish   sauce-registry completions fish > ~/.config/fish/completions/sauce-registry.fish`,
  },
  {
    name: "help",
    run: runHelp,
    usage: "help [COMMAND]",
    summary: "help for a command (the same as COMMAND --help)",
    options: [],
    groups: [],
    details: `Example:
  sauce-registry help token`,
  },
  {
    name: "version",
    run: runVersion,
    usage: "version",
    summary: "print the version",
    options: [],
    groups: ["json"],
    details: `Example:
  sauce-registry version`,
  },
];

/**
 * Every option of every command, as the parser wants them before it knows the command
 * (`--registry` repeatable).
 *
 * @returns The parser's options, by long name.
 */
export function allOptions(): Record<string, ArgumentSpec> {
  return argumentSpecs([...COMMANDS.flatMap(optionsOf), VERSION_OPTION]);
}
