import type { Command } from "@kvasir/runtime";
import { type RouterConfig, routerConfigFromFlags, routerFlags } from "./config.js";
import { type Router, start } from "./router.js";

/** `kvasir router`: the standalone KV router. */
export const routerCommand: Command<RouterConfig> & { start(config: RouterConfig): Promise<Router> } = {
  name: "router",
  summary:
    "Run the standalone KV-aware router: RouterService (BestWorker, Generate, ...) over Connect and gRPC.",
  flags: routerFlags.specs,
  refused: routerFlags.refused,
  toConfig: routerConfigFromFlags,
  start,
};
