// The benchmark's source as a process: the hub fixture serving one model read from a directory, with its
// bandwidth capped (remote storage). `GET /stats` tells the bytes it served.
//   node --import tsx bench-hub.ts --dir D --model org/name --bandwidth-mbps 100
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startHubFixture } from "./hub-fixture.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string" },
    model: { type: "string" },
    "bandwidth-mbps": { type: "string" },
  },
});
if (!values.dir || !values.model) throw new Error("--dir and --model are required");
const files: Record<string, Uint8Array> = {};
for (const name of await readdir(values.dir)) files[name] = await readFile(join(values.dir, name));
const mbps = Number(values["bandwidth-mbps"] ?? 0);
const hub = await startHubFixture(
  { [values.model]: { files } },
  mbps > 0 ? { bandwidthBytesPerSecond: mbps * 2 ** 20 } : {},
);
process.stdout.write(
  `${JSON.stringify({ msg: "hub ready", url: hub.url, commit: hub.commitOf(values.model) })}\n`,
);
process.on("SIGTERM", () => void hub.close().then(() => process.exit(0)));
