// The action's `post` entry (action.yml): undoes what `main` did.
import process from "node:process";
import { post } from "./action.ts";

process.exitCode = await post();
