// In-process workers for the pipeline's tests: each a real WorkerService behind Connect's router transport, in a
// WorkerPool fed by hand-made discovery entries. Not part of the package's surface.
import { createClient, createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { FinishReason, type GenerateRequest, WorkerService } from "@kvasir/protocol";
import type { Discovery } from "@kvasir/runtime";
import { WorkerPool } from "../worker-pool.js";
import type { WorkerClient } from "./call-worker.js";

export type Behaviour = (
  request: GenerateRequest,
  signal: AbortSignal,
) => AsyncIterable<{
  tokenIds: number[];
  finishReason?: FinishReason;
  disaggParamsJson?: string;
}>;

/** One worker address → client map shared by several pools. */
export class InMemoryWorkers {
  readonly calls: { worker: string; request: GenerateRequest }[] = [];
  private readonly clients = new Map<string, WorkerClient>();
  private nextId = 1n;

  /** `discovery` is never written: pools are fed by hand. */
  constructor(private readonly discovery: Discovery) {}

  /** A pool of `component` with one worker per behaviour, named by its key; ids count up across pools. */
  pool(behaviours: Record<string, Behaviour>, component = "backend"): WorkerPool {
    const pool = new WorkerPool(this.discovery, { namespace: "ns", component });
    for (const [name, behaviour] of Object.entries(behaviours)) {
      const calls = this.calls;
      const impl: Partial<ServiceImpl<typeof WorkerService>> = {
        async *generate(request, ctx) {
          calls.push({ worker: name, request });
          for await (const step of behaviour(request, ctx.signal)) {
            yield {
              tokenIds: step.tokenIds,
              finishReason: step.finishReason ?? FinishReason.UNSPECIFIED,
              usage: { promptTokens: request.tokenIds.length, completionTokens: 0, cachedTokens: 4 },
              disaggParamsJson: step.disaggParamsJson ?? "",
            };
          }
        },
      };
      const address = `mem://${name}`;
      this.clients.set(
        address,
        createClient(
          WorkerService,
          createRouterTransport(({ service }) => service(WorkerService, impl)),
        ),
      );
      const id = (this.nextId++).toString(16);
      pool.apply({
        type: "put",
        key: `v1/instances/ns/${component}/generate/${id}`,
        value: { address, transport: "connect-h2c", metadata: {} },
      });
      pool.apply({
        type: "put",
        key: `v1/mdc/ns/m/${id}`,
        value: {
          name: "m",
          kvCacheBlockSize: 4,
          runtimeConfig: { dataParallelSize: 1, totalKvBlocks: 100, maxNumBatchedTokens: 64 },
        },
      });
    }
    return pool;
  }

  clientFor = (address: string): WorkerClient => {
    const client = this.clients.get(address);
    if (!client) throw new Error(`no worker at ${address}`);
    return client;
  };
}
