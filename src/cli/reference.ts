/**
 * Internal: the command reference, generated from the command table that also feeds the parser,
 * `--help` and the completions: `docs/commands.md` (Markdown) and the man page
 * `docs/sauce-registry.1` (roff). Both come from one document, so they say the same; `deno task
 * docs` writes them, and a test fails when the committed files differ from what this makes.
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./commands.ts";
 * import { commandReference, manPage } from "./reference.ts";
 * console.log(commandReference(COMMANDS, "1.2.3"));
 * console.log(manPage(COMMANDS, "1.2.3"));
 * ```
 *
 * @module
 */

import { DEFAULT_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS } from "../settings.ts";
import { ENVIRONMENT, EXIT_CODES, optionTerm } from "./help.ts";
import {
  type CommandSpec,
  GROUPS,
  HELP_OPTION,
  type OptionGroup,
  type OptionSpec,
  PROGRAM,
  VERSION_OPTION,
} from "./options.ts";

/** Where the reference files are, from the repository's root. */
export const REFERENCE_FILES = {
  markdown: "docs/commands.md",
  man: "docs/sauce-registry.1",
} as const;

/** One piece of a section. */
type Block =
  /** Text that reflows. */
  | { kind: "paragraph"; text: string }
  /** Text kept line by line, such as a usage line or an aligned list. */
  | { kind: "preformatted"; text: string }
  /** Shell commands that the docs test runs (`sh runnable` in Markdown). */
  | { kind: "example"; text: string }
  /** Terms (options, variables, codes, files), each with its meaning. */
  | { kind: "definitions"; items: readonly Definition[] }
  /** A pointer to the options several commands share, by group. */
  | { kind: "shared"; groups: readonly OptionGroup[] };

/** A term and its meaning; `anchor` links it to a heading of the Markdown reference. */
interface Definition {
  term: string;
  text: string;
  anchor?: string;
}

/** A section: a heading and its blocks, with sub-sections one level down. */
interface Section {
  title: string;
  blocks: Block[];
  sections?: Section[];
}

/** How the shared option groups are titled in the reference. */
const GROUP_TITLES: Readonly<Record<OptionGroup, string>> = {
  identity: "Credentials",
  "env-file": "The .env file",
  api: "Region and API",
  timeout: "Time limit",
  json: "Machine-readable output",
  logging: "Messages",
};

/** What the command line does in general, before the commands. */
const DESCRIPTION: readonly string[] = [
  `${PROGRAM} logs Docker, Podman, Buildah, Skopeo, nerdctl, Helm, ORAS and crane in to the Sauce ` +
  "Labs Container Registry with short-lived tokens, and hands out fresh ones on demand as a " +
  "Docker credential helper (docker-credential-saucelabs) and as the kubelet's image " +
  "credential provider.",
  "REGISTRY is the registry URL as Sauce Labs gives it (registry.example.com/your-private-registry, " +
  "with or without https://, a trailing slash or a port) or an image reference " +
  "(registry.example.com/your-private-registry/app:1.2). Tools log in to its host; the Sauce API " +
  "is sent the whole registry URL: for an image reference (a tag or digest says it is one), the " +
  "registry configure-docker recorded for its host when the image lies under it, else the " +
  "reference without the image's name. Every command that takes a registry takes it as an argument or with " +
  "--registry, the same. A registry URL with credentials in it (user:password@...) is refused " +
  "and never echoed: the part before its last @ shows as ***.",
  "The Sauce Labs username and access key are each taken from the first place that has it: " +
  "--username and --access-key-stdin (the access key is never taken on the command line); " +
  "SAUCE_USERNAME and SAUCE_ACCESS_KEY; a .env file (--env-file PATH, else ./.env when it " +
  "exists; it never overrides a variable already set); saucectl's ~/.sauce/credentials.yml. " +
  "When one is found nowhere, the command says where it looked and exits 2. The credential " +
  "helper and the kubelet provider never read ./.env.",
  "Data goes to standard output, messages to standard error. --json makes the output " +
  "machine-readable wherever there is output, and every failure one JSON object on standard " +
  'error, {"error": {"message", "exit_code", "kind"}}, with the exit code unchanged; kind is ' +
  "one of usage, credentials, auth, api, network, timeout, tool, config, signal or failure.",
  "Without --timeout, waiting for a token (the API, its retries and their waits) gives up after " +
  `SAUCE_REGISTRY_TIMEOUT seconds, else ${DEFAULT_TIMEOUT_SECONDS}, with exit 124. For exec and ` +
  "push that limit is on getting the token only, not on the command they run; --timeout bounds " +
  `the whole command, up to ${MAX_TIMEOUT_SECONDS} seconds (about 24 days).`,
  "On a terminal, a token request or a retry that takes more than about a second shows a " +
  "one-line status on standard error (Waiting for a registry token from " +
  "api.us-west-1.saucelabs.com (attempt 1 of 4)...), erased when it is done; never on a pipe, " +
  "with --quiet or with --json. A failure after retries says how many attempts were made.",
  `${PROGRAM} help COMMAND prints the same as COMMAND --help: the options that command takes, ` +
  'its own first. A mistyped command or option gets a suggestion (Unknown command "tokn": ' +
  "did you mean token?) and exit 2.",
];

/** The files the program reads and writes. */
const FILES: readonly Definition[] = [
  {
    term: "~/.sauce/credentials.yml",
    text: "saucectl's credentials (username: and accessKey:), the last place credentials are " +
      "looked for",
  },
  { term: "./.env", text: "variables for the command line (never for the helper or provider)" },
  {
    term: "$XDG_CONFIG_HOME/sauce-registry/registries.json",
    text: "the registries configure-docker recorded, for the helper and the provider (0600)",
  },
  {
    term: "$XDG_CACHE_HOME/sauce-registry/",
    text: "the token cache: folder 0700, files 0600, named by a SHA-256 hash",
  },
  {
    term: "$DOCKER_CONFIG/config.json",
    text: "the Docker config, where configure-docker adds credHelpers entries; " +
      "config.json.bak (0600) keeps its previous version",
  },
  {
    term: "$XDG_RUNTIME_DIR/sauce-registry/",
    text: "the private folders of exec and push (0700), removed when they end",
  },
];

/** The reference's other pages, from the repository's `docs/` folder. */
const SEE_ALSO: readonly { page: string; text: string }[] = [
  { page: "install.md", text: "the installer, Deno and Bun" },
  { page: "credentials.md", text: "credentials, region and API" },
  { page: "command-line.md", text: "tokens, logins, push, exec, --json" },
  { page: "credential-helper.md", text: "the credential helper and its cache" },
  { page: "kubernetes.md", text: "the kubelet provider and pull Secrets" },
  { page: "ci.md", text: "the GitHub Action and the GitLab component" },
  { page: "security.md", text: "what is promised about secrets, files and networks" },
  { page: "troubleshooting.md", text: "when something fails" },
];

function optionDefinitions(options: readonly OptionSpec[]): Block {
  return {
    kind: "definitions",
    items: options.map((option) => ({
      term: optionTerm(option),
      text: option.help,
    })),
  };
}

/** Removes `by` spaces from the start of each line. */
function dedent(lines: readonly string[], by: number): string {
  return lines.map((line) => line.slice(Math.min(by, line.length - line.trimStart().length)))
    .join("\n");
}

/**
 * A command's details as blocks: paragraphs of plain lines, and a `Label:` line over indented
 * lines as the label and what it heads (commands when the label is `Example:` or `Examples:`).
 */
function detailBlocks(details: string): Block[] {
  const blocks: Block[] = [];
  for (const chunk of details.split(/\n\s*\n/)) {
    const lines = chunk.split("\n");
    const [first, ...rest] = lines;
    if (first.endsWith(":") && rest.length > 0 && rest.every((line) => line.startsWith("  "))) {
      blocks.push({ kind: "paragraph", text: first });
      blocks.push({
        kind: /^Examples?:$/.test(first) ? "example" : "preformatted",
        text: dedent(rest, 2),
      });
    } else if (lines.some((line) => line.startsWith(" "))) {
      blocks.push({ kind: "preformatted", text: chunk });
    } else {
      blocks.push({ kind: "paragraph", text: lines.join(" ") });
    }
  }
  return blocks;
}

function commandSection(command: CommandSpec): Section {
  const blocks: Block[] = [
    { kind: "preformatted", text: `${PROGRAM} ${command.usage}` },
    {
      kind: "paragraph",
      text: `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    },
  ];
  if (command.options.length > 0) blocks.push(optionDefinitions(command.options));
  blocks.push({ kind: "shared", groups: command.groups });
  blocks.push(...detailBlocks(command.details));
  return { title: command.name, blocks };
}

/** Every group's options, in the order commands list them. */
function sharedOptionSections(): Section[] {
  return (Object.keys(GROUPS) as OptionGroup[]).map((group) => ({
    title: GROUP_TITLES[group],
    blocks: [optionDefinitions(GROUPS[group])],
  }));
}

/**
 * The reference as one document, for either renderer.
 *
 * @param commands The command table.
 * @param version The program's version.
 * @returns The title and the sections.
 */
function referenceDocument(commands: readonly CommandSpec[], version: string) {
  const sections: Section[] = [
    {
      title: "Synopsis",
      blocks: [{
        kind: "preformatted",
        text: [
          `${PROGRAM} COMMAND [OPTIONS] [ARGUMENTS]`,
          `${PROGRAM} --help | --version`,
          "docker-credential-saucelabs get|store|erase|list|version",
        ].join("\n"),
      }],
    },
    {
      title: "Description",
      blocks: DESCRIPTION.map((text) => ({ kind: "paragraph", text })),
    },
    {
      title: "Commands",
      blocks: [{
        kind: "definitions",
        items: commands.map((command) => ({
          term: command.name,
          text: command.summary,
          anchor: headingSlug(command.name),
        })),
      }],
      sections: commands.map(commandSection),
    },
    {
      title: "Options of several commands",
      blocks: [
        {
          kind: "paragraph",
          text: "Each command takes the groups of these that its section names, and refuses the " +
            `others. Every command takes --${HELP_OPTION.name}; --${VERSION_OPTION.name} goes ` +
            "before any command.",
        },
        optionDefinitions([HELP_OPTION, VERSION_OPTION]),
      ],
      sections: sharedOptionSections(),
    },
    {
      title: "Environment",
      blocks: [{
        kind: "definitions",
        items: ENVIRONMENT.map((variable) => ({ term: variable.name, text: variable.meaning })),
      }],
    },
    {
      title: "Exit status",
      blocks: [
        {
          kind: "definitions",
          items: EXIT_CODES.map((exit) => ({ term: exit.code, text: exit.meaning })),
        },
        {
          kind: "paragraph",
          text: "credential-helper exits 0 or 1, as the Docker credential-helper protocol " +
            "wants; kubelet-credential-provider exits 0 with an empty answer for an image it " +
            "does not serve.",
        },
      ],
    },
    { title: "Files", blocks: [{ kind: "definitions", items: FILES }] },
  ];
  return { title: `${PROGRAM} ${version}`, sections };
}

// ---------------------------------------------------------------------------------------------
// Markdown

/** Escapes what Markdown would read as markup in plain text. */
function markdownText(text: string): string {
  return text.replace(/[\\`*<>[\]~&|]/g, "\\$&").replace(
    /(^|[^A-Za-z0-9])_|_(?=[^A-Za-z0-9]|$)/g,
    (match) => match.replace("_", "\\_"),
  );
}

/** A word that would make a Markdown line a list item, a heading or a rule if it came first. */
const BLOCK_MARKER = /^(?:[-+*]|\d+[.)]|#{1,6}|=+|-+)$/;

/**
 * Wraps Markdown text at 100 columns, continuing lines with `indent`; a word that would start a
 * block as a line's first word stays on the line before.
 */
function markdownWrap(text: string, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    const width = 100 - (lines.length === 0 ? 0 : indent.length);
    if (line !== "" && line.length + 1 + word.length > width && !BLOCK_MARKER.test(word)) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${indent}`);
}

/**
 * A heading's anchor, as GitHub makes it: lower case, spaces to hyphens, and every other
 * character that is not a letter, digit, `_` or `-` dropped.
 *
 * @param heading The heading's text, without its markup.
 * @returns The anchor, without `#`.
 */
export function headingSlug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "").replaceAll(
    " ",
    "-",
  );
}

/** A code span that holds `text` whatever backticks it has. */
function codeSpan(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = "`".repeat(longest + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

function markdownBlock(block: Block): string {
  switch (block.kind) {
    case "paragraph":
      return markdownWrap(markdownText(block.text));
    case "preformatted":
      return `\`\`\`text\n${block.text}\n\`\`\``;
    case "example":
      return `\`\`\`sh runnable\n${block.text}\n\`\`\``;
    case "definitions":
      return block.items.map((item) =>
        `- ${item.anchor ? `[${codeSpan(item.term)}](#${item.anchor})` : codeSpan(item.term)}: ${
          markdownText(item.text)
        }`
      ).map((item) => markdownWrap(item, "  ")).join("\n");
    case "shared":
      return markdownWrap(
        block.groups.length === 0
          ? `Only these options, and ${codeSpan("--help")}.`
          : `Also the [options of several commands](#${
            headingSlug("Options of several commands")
          }): ${
            block.groups.map((group) =>
              `[${GROUP_TITLES[group]}](#${headingSlug(GROUP_TITLES[group])}) (${
                GROUPS[group].map((option) => codeSpan(`--${option.name}`)).join(", ")
              })`
            ).join(", ")
          }; and ${codeSpan("--help")}.`,
      );
  }
}

function markdownSection(section: Section, level: number): string {
  return [
    `${"#".repeat(level)} ${section.title}`,
    ...section.blocks.map(markdownBlock),
    ...(section.sections ?? []).map((each) => markdownSection(each, level + 1)),
  ].join("\n\n");
}

/**
 * The command reference in Markdown (`docs/commands.md`).
 *
 * @param commands The command table.
 * @param version The program's version.
 * @returns The Markdown text.
 */
export function commandReference(commands: readonly CommandSpec[], version: string): string {
  const document = referenceDocument(commands, version);
  const parts = [
    `# ${PROGRAM} command reference`,
    `<!-- Generated by \`deno task docs\` from src/cli/commands.ts: edit the table, not this file. -->`,
    markdownWrap(
      `The commands, options, environment variables and exit codes of ${document.title}, as ` +
        `${
          codeSpan("--help")
        } gives them; also the man page [sauce-registry.1](sauce-registry.1) ` +
        `(${codeSpan("man -l docs/sauce-registry.1")}). Examples marked ${
          codeSpan("sh runnable")
        } run in the test suite against a local stand-in for the Sauce Labs API.`,
    ),
    ...document.sections.map((section) => markdownSection(section, 2)),
    "## See also",
    SEE_ALSO.map((each) => `- [${each.page}](${each.page}): ${each.text}`).join("\n"),
  ];
  return `${parts.join("\n\n")}\n`;
}

/** The comment that opens README's generated exit-code table; `<!-- /exit-codes -->` closes it. */
const README_EXIT_CODES = "<!-- exit-codes: generated by `deno task docs` from src/cli/help.ts -->";

/** A Markdown table laid out as `deno fmt` lays it out. */
function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(3, title.length, ...rows.map((row) => row[column].length))
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column])).join(" | ")} |`;
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join(
    "\n",
  );
}

/**
 * README with its exit-code table made from the table `--help` and the reference use, between
 * the comments that mark it.
 *
 * @param readme README.md as it is.
 * @returns README.md as it should be.
 * @throws {Error} When README lacks the marking comments.
 */
export function readmeWithExitCodes(readme: string): string {
  const start = readme.indexOf(README_EXIT_CODES);
  const end = readme.indexOf("<!-- /exit-codes -->", start);
  if (start < 0 || end < 0) {
    throw new Error(`README.md has no "${README_EXIT_CODES}" … "<!-- /exit-codes -->"`);
  }
  const table = markdownTable(
    ["code", "meaning"],
    EXIT_CODES.map((exit) => [exit.code, markdownText(exit.meaning)]),
  );
  return `${readme.slice(0, start)}${README_EXIT_CODES}\n\n${table}\n\n${readme.slice(end)}`;
}

// ---------------------------------------------------------------------------------------------
// roff (man(7))

const ROFF_CHARACTERS: Readonly<Record<string, string>> = {
  "\\": "\\e",
  "-": "\\-",
  "…": "...",
  "→": "\\(->",
  "—": "\\(em",
};

/** Escapes text for roff, including a line that would start with a control character. */
function roffText(text: string): string {
  const escaped = text.replace(
    /[\\-]|[\u0080-\u{10ffff}]/gu,
    (character) =>
      ROFF_CHARACTERS[character] ??
        `\\[u${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`,
  );
  return escaped.split("\n").map((line) => /^[.']/.test(line) ? `\\&${line}` : line).join("\n");
}

function roffBlock(block: Block): string {
  switch (block.kind) {
    case "paragraph":
      return `.PP\n${roffText(block.text)}`;
    case "preformatted":
    case "example":
      return `.PP\n.RS 4\n.nf\n${roffText(block.text)}\n.fi\n.RE`;
    case "definitions":
      return block.items.map((item) => `.TP\n.B ${roffText(item.term)}\n${roffText(item.text)}`)
        .join("\n");
    case "shared":
      return block.groups.length === 0
        ? ".PP\nOnly these options, and \\fB\\-\\-help\\fR."
        : `.PP\nAlso the options of several commands (see OPTIONS): ${
          block.groups.map((group) =>
            `${GROUP_TITLES[group]} (${
              GROUPS[group].map((option) => `\\fB\\-\\-${roffText(option.name)}\\fR`).join(", ")
            })`
          ).join(", ")
        }; and \\fB\\-\\-help\\fR.`;
  }
}

function roffSection(section: Section, level: number): string {
  const heading = level === 0 ? `.SH ${section.title.toUpperCase()}` : `.SS ${section.title}`;
  return [
    roffText(heading).replace(/^\\&/, ""),
    ...section.blocks.map(roffBlock),
    ...(section.sections ?? []).map((each) => roffSection(each, level + 1)),
  ].join("\n");
}

/**
 * The man page in roff (`docs/sauce-registry.1`), for `man -l` or a `share/man/man1` folder.
 *
 * @param commands The command table.
 * @param version The program's version.
 * @returns The roff text.
 */
export function manPage(commands: readonly CommandSpec[], version: string): string {
  const document = referenceDocument(commands, version);
  const renamed = document.sections.map((section) =>
    section.title === "Options of several commands" ? { ...section, title: "Options" } : section
  );
  const lines = [
    `.\\" Generated by \`deno task docs\` from src/cli/commands.ts: edit the table, not this file.`,
    // The man macros, when nothing loaded them (plain `groff FILE`): man and `groff -man` have.
    ".if !d TH .mso an.tmac",
    `.TH SAUCE\\-REGISTRY 1 "" "${roffText(document.title)}" "User Commands"`,
    // Identifiers and paths read best unhyphenated, and ragged right keeps their spacing even.
    ".nh",
    ".ad l",
    ".SH NAME",
    `${PROGRAM.replaceAll("-", "\\-")} \\- log container tools in to the Sauce Labs Container ` +
    "Registry with short\\-lived tokens",
    ...renamed.map((section) => roffSection(section, 0)),
    ".SH SEE ALSO",
    ".PP",
    roffText(
      `The guides in the docs/ folder of the ${PROGRAM} repository: ${
        SEE_ALSO.map((each) => `${each.page} (${each.text})`).join(", ")
      }.`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}
