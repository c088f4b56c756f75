// Child process of `pnpm bench:disagg`: one `kvasir serve` topology (its flags as given) plus a loopback stats
// server, because inside `serve` the workers have no status server of their own. GET /metrics is every worker's
// dynamo_component_* exposition (each series labelled with its component and worker_id); GET /stats is this
// process's event-loop delay p99 and CPU seconds, to show whether the host or the simulated engines set the pace.
// Prints one JSON line {"ready":true,"url":...,"statsUrl":...} once the frontend listens; SIGTERM stops it.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { serveCommand, start as startServe } from "@kvasir/cli";
import { parseFlags } from "@kvasir/runtime";

const serving = await startServe(
  serveCommand.toConfig(parseFlags(serveCommand.flags, process.argv.slice(2), process.env)),
);
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
let cpuAtStart = process.cpuUsage();

const server = createServer((req, res) => {
  if (req.url === "/metrics") {
    Promise.all(serving.workers.map((w) => w.metrics.metrics())).then(
      (texts) => res.end(texts.join("\n")),
      (error: unknown) => {
        res.statusCode = 500;
        res.end(String(error));
      },
    );
    return;
  }
  if (req.url === "/stats/reset") {
    delay.reset();
    cpuAtStart = process.cpuUsage();
    res.end();
    return;
  }
  if (req.url === "/stats") {
    const cpu = process.cpuUsage(cpuAtStart);
    res.setHeader("content-type", "application/json");
    res.end(
      JSON.stringify({
        loopDelayP99Ms: delay.percentile(99) / 1e6,
        loopDelayMaxMs: delay.max / 1e6,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
      }),
    );
    return;
  }
  res.statusCode = 404;
  res.end();
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;
process.stdout.write(
  `${JSON.stringify({ ready: true, url: serving.url, statsUrl: `http://127.0.0.1:${port}` })}\n`,
);

let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  server.close();
  serving.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`disagg-serve: stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
