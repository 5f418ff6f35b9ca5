// The shape of the program, read from Deno's own module graph (`deno info --json`): no import
// cycles (static, dynamic or type-only), nothing under src/ reaching up into the public mod.ts,
// mod.ts nothing but re-exports, and the two entries other programs run for every pull (the
// credential helper and the kubelet provider) loading, before a token must be fetched, only the
// subjects a cached answer needs.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { assert, describe, it } from "./deps.ts";
import { requireTool, run } from "./fixtures/services.ts";
import { ROOT } from "./fixtures/harness.ts";

interface Edge {
  to: string;
  /** A dynamic `import()`: loaded only when that code runs. */
  dynamic: boolean;
  /** `import type`: erased, never loaded. */
  typeOnly: boolean;
}

/** The repository's modules and their imports of each other, paths relative to the root. */
async function moduleGraph(entries: string[]): Promise<Map<string, Edge[]>> {
  const graph = new Map<string, Edge[]>();
  const root = new URL(`file://${ROOT.endsWith("/") ? ROOT : `${ROOT}/`}`).href;
  for (const entry of entries) {
    const info = await run(requireTool("deno"), ["info", "--json", "--no-config", entry], {
      cwd: ROOT,
      timeoutMs: 60_000,
    });
    assert.equal(info.code, 0, info.stderr);
    const modules = JSON.parse(info.stdout).modules as {
      specifier: string;
      dependencies?: {
        code?: { specifier: string };
        type?: { specifier: string };
        isDynamic?: boolean;
      }[];
    }[];
    for (const module of modules) {
      if (!module.specifier.startsWith(root)) continue;
      const edges: Edge[] = [];
      for (const dependency of module.dependencies ?? []) {
        const target = dependency.code?.specifier ?? dependency.type?.specifier;
        if (!target?.startsWith(root)) continue;
        edges.push({
          to: target.slice(root.length),
          dynamic: dependency.isDynamic === true,
          typeOnly: dependency.code === undefined,
        });
      }
      graph.set(module.specifier.slice(root.length), edges);
    }
  }
  return graph;
}

/** Every cycle found by a depth-first walk, as "a -> b -> a". */
function cycles(graph: Map<string, Edge[]>): string[] {
  const found: string[] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const visit = (node: string) => {
    const at = stack.indexOf(node);
    if (at !== -1) return void found.push([...stack.slice(at), node].join(" -> "));
    if (done.has(node)) return;
    stack.push(node);
    for (const edge of graph.get(node) ?? []) visit(edge.to);
    stack.pop();
    done.add(node);
  };
  for (const node of graph.keys()) visit(node);
  return found;
}

/** What starting a module loads: its static runtime imports, and theirs. */
function loadedBy(graph: Map<string, Edge[]>, entry: string): Set<string> {
  const loaded = new Set<string>();
  const visit = (node: string) => {
    if (loaded.has(node)) return;
    loaded.add(node);
    for (const edge of graph.get(node) ?? []) {
      if (!edge.dynamic && !edge.typeOnly) visit(edge.to);
    }
  };
  visit(entry);
  return loaded;
}

describe("the module graph", () => {
  it("has no import cycle, and nothing under src/ imports mod.ts", {
    timeout: 120_000,
  }, async () => {
    const graph = await moduleGraph(["cli.ts", "mod.ts", "action/action.ts"]);
    assert.ok(graph.size > 20, `only ${graph.size} modules: the graph was not read`);
    assert.deepEqual(cycles(graph), []);
    const upward = [...graph].filter(([from, edges]) =>
      from.startsWith("src/") && edges.some((edge) => edge.to === "mod.ts")
    ).map(([from]) => from);
    assert.deepEqual(upward, [], "src/ modules that import mod.ts");
  });

  it("finds a cycle and an upward import when there is one (the check itself)", () => {
    const edge = (to: string): Edge => ({ to, dynamic: false, typeOnly: false });
    const graph = new Map<string, Edge[]>([
      ["a.ts", [edge("b.ts")]],
      ["b.ts", [{ to: "a.ts", dynamic: true, typeOnly: false }]],
      ["c.ts", [{ to: "c2.ts", dynamic: false, typeOnly: true }]],
      ["c2.ts", [edge("c.ts")]],
      ["d.ts", []],
    ]);
    const found = cycles(graph);
    assert.ok(found.some((cycle) => cycle.includes("a.ts -> b.ts -> a.ts")), found.join("; "));
    assert.ok(found.some((cycle) => cycle.includes("c.ts -> c2.ts -> c.ts")), found.join("; "));
    assert.deepEqual([...loadedBy(graph, "a.ts")], ["a.ts", "b.ts"].slice(0, 2));
  });

  it("keeps mod.ts a façade: documentation and re-exports from src/, nothing else", async () => {
    const text = await readFile(join(ROOT, "mod.ts"), "utf8");
    const code = text.replace(/\/\*\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const statements = code.split(";").map((statement) => statement.trim()).filter(Boolean);
    assert.ok(statements.length > 10, "mod.ts re-exports the API");
    for (const statement of statements) {
      assert.match(statement, /^export (type )?\{[^}]*\} from "\.\/src\/[a-z_/]+\.ts"$/s);
    }
  });

  it("loads only what a cached answer needs when Docker or the kubelet starts it", {
    timeout: 120_000,
  }, async () => {
    const graph = await moduleGraph(["cli.ts"]);
    const hot = loadedBy(graph, "cli.ts");
    // What a cached get or provider answer reads: the cache, credentials, settings, paths, the
    // registries file and references, JSON and errors, the runtime adapter; the provider's
    // parser and option shapes. Everything else loads when a token must be fetched, or never.
    const cold = [
      "src/api.ts",
      "src/lock.ts",
      "src/json_edit.ts",
      "src/docker_config.ts",
      "src/login.ts",
      "src/temporary_auth.ts",
      "src/status.ts",
      "src/pull_secret.ts",
      "src/install_helper.ts",
      "src/cli/main.ts",
      "src/cli/commands.ts",
      "src/cli/help.ts",
      "src/cli/completions.ts",
    ];
    for (const module of cold) {
      assert.ok(graph.has(module), `${module} is not in the program any more: update this list`);
      assert.ok(!hot.has(module), `the helper's and the provider's start loads ${module}`);
    }
    assert.ok(hot.has("src/cache.ts") && hot.has("src/helper.ts") && hot.has("src/kubelet.ts"));
  });
});
