// What the tests take from outside the repository: the runtimes' own test runner and asserts,
// which Deno and Bun both provide (JSR's @std packages cannot be installed on the project's machines).
export { after, afterEach, before, beforeEach, describe, it, test } from "node:test";
export { default as assert } from "node:assert/strict";
