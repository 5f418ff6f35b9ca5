// Moved to tests/fixtures/harness.ts. This re-export keeps tests/release_test.ts and the new
// tests/validation_test.ts working while they are edited on other branches; remove it once both
// import "./fixtures/harness.ts".
export * from "./fixtures/harness.ts";
