#!/usr/bin/env node
// Runs the CLI from source through tsx, so the workspace needs no build step to be used.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
