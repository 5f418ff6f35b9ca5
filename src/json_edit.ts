/**
 * Internal: edits of a JSON text that change one value and keep every other byte as it was
 * (configure-docker's change to the Docker config). Loaded only when a file is edited, so that
 * the credential helper's hot path does not pay for reading it.
 *
 * @example
 * ```ts
 * import { withCredHelpers } from "./json_edit.ts";
 * withCredHelpers('{"n": 1.0}', ["registry.example.com"], "saucelabs");
 * // '{"n": 1.0, "credHelpers": {"registry.example.com": "saucelabs"}}'
 * ```
 *
 * @module
 */

/** Where a value sits in a JSON text (`start` to `end`), and an object's members. */
interface JsonNode {
  start: number;
  end: number;
  kind: "object" | "array" | "string" | "other";
  /** An object's members, in order (duplicates included); empty for anything else. */
  members: JsonMember[];
}

interface JsonMember {
  key: string;
  keyStart: number;
  keyEnd: number;
  value: JsonNode;
}

/** Where each value of a JSON text sits; the text must be one that JSON.parse accepts. */
function jsonSpans(text: string): JsonNode {
  let index = 0;
  const space = () => {
    while (index < text.length && " \t\r\n".includes(text[index])) index++;
  };
  const skipString = () => {
    index++;
    while (text[index] !== '"') index += text[index] === "\\" ? 2 : 1;
    index++;
  };
  const value = (): JsonNode => {
    space();
    const start = index;
    const char = text[index];
    const members: JsonMember[] = [];
    if (char === "{" || char === "[") {
      const close = char === "{" ? "}" : "]";
      index++;
      space();
      while (text[index] !== close) {
        if (char === "{") {
          const keyStart = index;
          skipString();
          const keyEnd = index;
          space();
          index++; // the colon
          const member = value();
          members.push({
            key: JSON.parse(text.slice(keyStart, keyEnd)),
            keyStart,
            keyEnd,
            value: member,
          });
        } else {
          value();
        }
        space();
        if (text[index] === ",") index++;
        space();
      }
      index++;
      return { start, end: index, kind: char === "{" ? "object" : "array", members };
    }
    if (char === '"') {
      skipString();
      return { start, end: index, kind: "string", members };
    }
    while (index < text.length && !",]} \t\r\n".includes(text[index])) index++;
    return { start, end: index, kind: "other", members };
  };
  return value();
}

/** How a JSON text lays out its objects, so that what is added looks like what is there. */
interface JsonLayout {
  /** Members on lines of their own. */
  multiline: boolean;
  /** One level of indentation. */
  indent: string;
  /** What sits between a key and its value (`": "`, `":"`, …), after the key's quote. */
  colon: string;
}

function jsonLayout(text: string, root: JsonNode): JsonLayout {
  const first = root.members[0];
  if (!first) return { multiline: true, indent: "\t", colon: ": " };
  const lead = text.slice(root.start + 1, first.keyStart);
  const indent = lead.slice(lead.lastIndexOf("\n") + 1);
  return {
    multiline: lead.includes("\n"),
    indent: indent || "\t",
    colon: text.slice(first.keyEnd, first.value.start),
  };
}

/** An object's text at a depth, in the layout: `{"key": value, …}`. */
function formatObject(entries: [string, string][], depth: number, layout: JsonLayout): string {
  const members = entries.map(([key, value]) => `${JSON.stringify(key)}${layout.colon}${value}`);
  if (!layout.multiline) return `{${members.join(", ")}}`;
  const inner = layout.indent.repeat(depth + 1);
  return `{\n${inner}${members.join(`,\n${inner}`)}\n${layout.indent.repeat(depth)}}`;
}

interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** The edit that adds members to an object at a depth: after its last member, spaced the same. */
function addMembers(
  text: string,
  object: JsonNode,
  entries: [string, string][],
  depth: number,
  layout: JsonLayout,
): TextEdit {
  const last = object.members.at(-1);
  if (!last) {
    return { start: object.start, end: object.end, text: formatObject(entries, depth, layout) };
  }
  const lead = text.slice(object.start + 1, object.members[0].keyStart);
  const colon = text.slice(last.keyEnd, last.value.start);
  const added = entries.map(([key, value]) => `,${lead}${JSON.stringify(key)}${colon}${value}`);
  return { start: last.value.end, end: last.value.end, text: added.join("") };
}

/**
 * The Docker config's text with `"credHelpers": {"<host>": "<helper>"}` for each host, and every
 * other byte as it was: numbers keep their spelling (`1.0`, `1e3`, integers beyond 2^53), keys
 * their order, the file its indentation. Only a UTF-8 BOM is dropped (Docker's own decoder
 * refuses one). The text must be a JSON object (or empty, or `null`) whose `credHelpers` is an
 * object or absent or null.
 *
 * @returns The new text, or undefined when every host already has the helper.
 */
export function withCredHelpers(
  raw: string,
  hosts: readonly string[],
  helper: string,
): string | undefined {
  const text = raw.replace(/^\uFEFF/, "");
  const value = JSON.stringify(helper);
  const wanted = [...new Set(hosts)];
  if (text.trim() === "" || JSON.parse(text) === null) {
    const entries = wanted.map((host): [string, string] => [host, value]);
    const layout = { multiline: true, indent: "\t", colon: ": " };
    return `{\n\t"credHelpers": ${formatObject(entries, 1, layout)}\n}\n`;
  }
  const root = jsonSpans(text);
  const layout = jsonLayout(text, root);
  const edits: TextEdit[] = [];
  const helpers = root.members.findLast((member) => member.key === "credHelpers")?.value;
  if (helpers?.kind === "object") {
    const missing: [string, string][] = [];
    for (const host of wanted) {
      const entry = helpers.members.findLast((member) => member.key === host)?.value;
      if (!entry) missing.push([host, value]);
      else if (text.slice(entry.start, entry.end) !== value) {
        if (entry.kind !== "string" || JSON.parse(text.slice(entry.start, entry.end)) !== helper) {
          edits.push({ start: entry.start, end: entry.end, text: value });
        }
      }
    }
    if (missing.length > 0) edits.push(addMembers(text, helpers, missing, 1, layout));
  } else {
    const object = formatObject(wanted.map((host) => [host, value]), 1, layout);
    edits.push(
      helpers // null
        ? { start: helpers.start, end: helpers.end, text: object }
        : addMembers(text, root, [["credHelpers", object]], 0, layout),
    );
  }
  if (edits.length === 0) return undefined;
  let result = text;
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    result = `${result.slice(0, edit.start)}${edit.text}${result.slice(edit.end)}`;
  }
  return result;
}

/**
 * The Docker config's text without the `credHelpers` entries of these hosts that name `helper`
 * (entries naming another helper stay), and without `credHelpers` once it is empty; every other
 * byte as it was. The text must be a JSON object (or empty, or `null`).
 *
 * @returns The new text, or undefined when no such entry is there.
 */
export function withoutCredHelpers(
  raw: string,
  hosts: readonly string[],
  helper: string,
): string | undefined {
  let text = raw.replace(/^\uFEFF/, "");
  if (text.trim() === "" || JSON.parse(text) === null) return undefined;
  let changed = false;
  // One entry at a time, each from a fresh look at the text: removals never overlap that way.
  for (;;) {
    const root = jsonSpans(text);
    const helpers = root.members.findLast((member) => member.key === "credHelpers")?.value;
    if (helpers?.kind !== "object") break;
    const index = helpers.members.findIndex((member) =>
      hosts.includes(member.key) && member.value.kind === "string" &&
      JSON.parse(text.slice(member.value.start, member.value.end)) === helper
    );
    if (index === -1) {
      if (!changed || helpers.members.length > 0) break;
      const emptied = root.members.findLastIndex((member) => member.key === "credHelpers");
      text = withoutMember(text, root, emptied);
      break;
    }
    text = withoutMember(text, helpers, index);
    changed = true;
  }
  return changed ? text : undefined;
}

/** The text without an object's member, with the comma that separated it from a neighbour. */
function withoutMember(text: string, object: JsonNode, index: number): string {
  const { members } = object;
  const member = members[index];
  const [start, end] = index < members.length - 1
    ? [member.keyStart, members[index + 1].keyStart]
    : index > 0
    ? [members[index - 1].value.end, member.value.end]
    : [object.start + 1, object.end - 1];
  return `${text.slice(0, start)}${text.slice(end)}`;
}
