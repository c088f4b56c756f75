// One benchmark client as a process: gets a model straight from the hub into its own cache (direct), or
// through model-express (express), then serves it to its peers (registered in a file discovery) until SIGTERM.
// It prints `{"msg":"client ready",...}` once it holds the whole model.
import { parseArgs } from "node:util";
import { createDiscovery, httpUrl } from "@kvasir/runtime";
import {
  fetchThroughExpress,
  HfCache,
  HubSource,
  peerKey,
  SnapshotFetcher,
  startPeerServer,
} from "../src/index.js";

const { values } = parseArgs({
  options: {
    mode: { type: "string" },
    model: { type: "string" },
    cache: { type: "string" },
    hub: { type: "string" },
    express: { type: "string" },
    "discovery-file": { type: "string" },
    namespace: { type: "string", default: "bench" },
    id: { type: "string", default: "0" },
  },
});
const { mode, model, cache: cacheDir } = values;
if (!mode || !model || !cacheDir) throw new Error("--mode, --model and --cache are required");
const cache = new HfCache(cacheDir);
const started = performance.now();
const line = (fields: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(fields)}\n`);

if (mode === "direct") {
  if (!values.hub) throw new Error("--hub is required");
  await new SnapshotFetcher(cache, new HubSource({ endpoint: values.hub })).ensure(model, "main");
  line({ msg: "client ready", seconds: (performance.now() - started) / 1000 });
  process.exit(0);
}

if (!values.express || !values["discovery-file"])
  throw new Error("--express and --discovery-file are required");
const discovery = await createDiscovery({
  backend: "file",
  filePath: values["discovery-file"],
  ttlMs: 10_000,
});
const peers = await startPeerServer({ cacheDir, host: "127.0.0.1", port: 0 });
const instance = values.id.padStart(16, "0");
const url = httpUrl("127.0.0.1", peers.port);
// Files are served to the other clients as soon as they are whole, as a worker does.
const announce = async (revision: string, held: readonly string[]) => {
  await discovery.register(peerKey(values.namespace, model, revision, instance), {
    url,
    instance_id: instance,
    model,
    revision,
    files: [...held],
  });
};
const result = await fetchThroughExpress({
  url: values.express,
  modelId: model,
  revision: "main",
  cache,
  excludePeers: [url],
  onFile: (manifest, held) => announce(manifest.revision, held),
});
line({
  msg: "client ready",
  seconds: (performance.now() - started) / 1000,
  from_peers: result.bytes.peers,
  from_server: result.bytes.server,
});
process.on("SIGTERM", () => {
  void Promise.all([peers.close(), discovery.close()]).then(() => process.exit(0));
});
