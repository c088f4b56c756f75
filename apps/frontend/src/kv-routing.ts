// `--router-mode kv` settings: Dynamo's router flags, plus the frontend's switch to standalone routers. The router
// itself is @kvasir/serving's KvRouter host (routing.ts); a full router queue answers 503.
import type { KvRouterSettings } from "@kvasir/kv";
import { defineFlags, type FlagValues } from "@kvasir/runtime";
import { kvRouterFlags, kvRouterSettingsFromFlags } from "@kvasir/serving";

/** The router flags `--router-mode kv` reads (Dynamo's names), plus the frontend's remote-router switch. */
export const kvRoutingFlags = defineFlags(
  {
    ...kvRouterFlags.defs,
    "use-remote-router": {
      type: "boolean",
      default: false,
      help: "With --router-mode kv: ask a standalone router (kvasir router) found in discovery instead of embedding one",
    },
  },
  kvRouterFlags.refused,
);

export interface KvRoutingConfig {
  settings: KvRouterSettings;
  useRemoteRouter: boolean;
}

export function kvRoutingConfigFromFlags(values: FlagValues): KvRoutingConfig {
  const flags = kvRoutingFlags.read(values);
  return { settings: kvRouterSettingsFromFlags(flags), useRemoteRouter: flags["use-remote-router"] };
}
