import { z } from "zod";
import { int32, uint32 } from "./wire.js";

// Instance ids are u64 and JSON numbers lose precision above 2^53, so larger ids travel as strings.
const instanceId = z
  .union(
    [
      z.int().min(0),
      z.string().regex(/^(?:\d+|0x[0-9a-fA-F]+)$/, { error: "expected a decimal or 0x-prefixed hex string" }),
    ],
    {
      error: "expected a non-negative safe integer, or a decimal or 0x-prefixed hex string",
    },
  )
  .transform((v) => BigInt(v))
  .refine((v) => v < 1n << 64n, { error: "exceeds u64" });

/** Dynamo's request extension (`nvext`), shared by the OpenAI and Anthropic APIs. */
export const nvextSchema = z.object({
  /** Route to this worker instance, bypassing the router's choice. */
  backend_instance_id: instanceId.optional(),
  agent_hints: z
    .object({
      /** Higher is more important. */
      priority: int32().optional(),
      /** Expected output sequence length in tokens. */
      osl: uint32().optional(),
      speculative_prefill: z.boolean().optional(),
      latency_sensitivity: z.number().optional(),
    })
    .optional(),
  cache_control: z.object({ type: z.literal("ephemeral"), ttl: z.string().optional() }).optional(),
});

export type Nvext = z.output<typeof nvextSchema>;
