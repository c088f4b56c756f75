import { describe, expect, it } from "vitest";
import { InvalidEngineRequest } from "../engine.js";
import { disaggRoleOf, type HeldKv, type PrefillIdentity, transferParams } from "./transfer-params.js";

const held: HeldKv = {
  requestId: "req-1",
  blockIds: [0, 1, 2],
  bytesPerBlock: 1024,
  checksums: ["a", "b", "c"],
  region: { v: 1, engine: "e1", host: "h", region: 3, size: 3072, shm: { path: "/dev/shm/x" } },
  numTokens: 40,
};
const identity: PrefillIdentity = {
  engineId: "000000000000001f",
  host: "10.0.0.5",
  port: 41000,
  releaseUrl: "http://10.0.0.5:9000",
};
/** The dict as it reaches the decode worker: through JSON, as the pipeline forwards it. */
const wire = (p: Record<string, unknown>) => JSON.parse(JSON.stringify(p)) as Record<string, unknown>;

describe("disaggregation params", () => {
  it("returns vLLM's prefill-side dict with Kvasir's keys, and a decode worker reads it back whole", () => {
    const params = transferParams(held, identity);
    expect(params).toMatchObject({
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_block_ids: [[0, 1, 2]],
      remote_engine_id: "000000000000001f",
      remote_request_id: "req-1",
      remote_host: "10.0.0.5",
      remote_port: 41000,
      tp_size: 1,
    });
    expect(
      Object.keys(params).filter((k) => !k.startsWith("kvasir_") && !/^(do_|remote_|tp_)/.test(k)),
    ).toEqual([]);
    expect(disaggRoleOf(wire(params))).toEqual({ kind: "pull", remote: { ...held, ...identity } });
  });

  it("tells the prefill leg (do_remote_decode) from plain requests", () => {
    const prefillLeg = {
      do_remote_decode: true,
      do_remote_prefill: false,
      remote_engine_id: null,
      remote_block_ids: null,
      remote_host: null,
      remote_port: null,
    };
    expect(disaggRoleOf(prefillLeg)).toEqual({ kind: "hold" });
    expect(disaggRoleOf(undefined)).toEqual({ kind: "none" });
    expect(disaggRoleOf({})).toEqual({ kind: "none" });
    expect(disaggRoleOf({ do_remote_prefill: false })).toEqual({ kind: "none" });
    // SGLang's bootstrap fields: well formed, and not something the mocker pulls with.
    expect(
      disaggRoleOf({ bootstrap_host: "10.0.0.5", bootstrap_port: null, bootstrap_room: 2 ** 53 - 1 }),
    ).toEqual({ kind: "none" });
  });

  it("recomputes, saying why, when a decode request's params cannot be pulled from", () => {
    const full = transferParams(held, identity);
    const without = (key: string) => {
      const p = { ...full };
      delete p[key];
      return disaggRoleOf(p);
    };
    // A real vLLM prefill's dict: the six classic keys and no Kvasir ones.
    expect(without("kvasir_region")).toEqual({
      kind: "recompute",
      why: expect.stringMatching(/kvasir_region/),
    });
    expect(without("remote_host")).toMatchObject({
      kind: "recompute",
      why: expect.stringMatching(/remote_host/),
    });
    expect(without("kvasir_release_url")).toMatchObject({ kind: "recompute" });
    expect(disaggRoleOf({ ...full, kvasir_block_checksums: ["a"] })).toMatchObject({
      why: expect.stringMatching(/one checksum per block/),
    });
    expect(
      disaggRoleOf({ ...full, remote_block_ids: [[0, 1, 9]], kvasir_block_checksums: ["a", "b", "c"] }),
    ).toMatchObject({
      why: expect.stringMatching(/outside the region/),
    });
    expect(disaggRoleOf({ ...full, remote_block_ids: [[0], [1]] })).toMatchObject({
      why: expect.stringMatching(/2 KV-cache groups/),
    });
    expect(disaggRoleOf({ ...full, kvasir_region: { ...held.region, v: 2 } })).toMatchObject({
      kind: "recompute",
    });
  });

  it("refuses keys of the wrong JSON type as the caller's error", () => {
    for (const params of [
      { do_remote_decode: "true" },
      { do_remote_prefill: 1 },
      { do_remote_prefill: true, do_remote_decode: true },
      { remote_block_ids: [0, 1] },
      { remote_block_ids: [[-1]] },
      { remote_block_ids: [[1.5]] },
      { remote_engine_id: 5 },
      { remote_request_id: {} },
      { remote_port: 0 },
      { remote_port: "80" },
      { bootstrap_host: 1 },
      { bootstrap_port: "8998" },
      { bootstrap_room: -1 },
    ]) {
      expect(() => disaggRoleOf(params), JSON.stringify(params)).toThrow(InvalidEngineRequest);
    }
  });
});
