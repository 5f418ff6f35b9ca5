// The action's `main` entry (action.yml): Node 24 runs the TypeScript behind it as it is.
import process from "node:process";
import { main } from "./action.ts";

process.exitCode = await main();
