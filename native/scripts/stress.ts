// Runs the concurrency stress standalone (used by asan.sh): node --import tsx scripts/stress.ts [seconds]
import { loadAddon } from "../src/addon.js";
import { runStress } from "../test/stress.js";

const addon = loadAddon();
if (!addon.ok) {
  console.error(addon.reason);
  process.exit(1);
}
const seconds = Number(process.argv[2] ?? 5);
const r = await runStress(seconds, addon.path);
console.log(JSON.stringify({ addon: addon.path, seconds, ...r }));
process.exit(r.violations === 0 ? 0 : 1);
