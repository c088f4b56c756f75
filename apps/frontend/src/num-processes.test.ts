import { FlagError, parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { frontendConfigFromFlags, frontendFlags } from "./config.js";
import { processConfig } from "./num-processes.js";

const parse = (args: string) =>
  frontendConfigFromFlags(parseFlags(frontendFlags.specs, args.split(" "), {}, frontendFlags.refused));
const nats = "--discovery-backend nats";

describe("--num-processes", () => {
  it("is one process by default, leaving replica sync as the flags say", () => {
    const config = parse(`${nats} --router-mode kv`);
    expect(config.numProcesses).toBe(1);
    expect(config.kvRouting?.settings.replicaSync).toBe(false);
  });

  it("turns router replica sync on for an embedded KV router over the NATS event plane", () => {
    const config = parse(`${nats} --router-mode kv --num-processes 4`);
    expect(config.numProcesses).toBe(4);
    expect(config.kvRouting?.settings.replicaSync).toBe(true);
  });

  it("leaves a remote router's replicas alone, and round-robin needs no shared state", () => {
    expect(
      parse(`${nats} --router-mode kv --use-remote-router --num-processes 2`).kvRouting?.settings,
    ).toMatchObject({ replicaSync: false });
    expect(parse("--event-plane memory --num-processes 2").numProcesses).toBe(2);
  });

  it("refuses a memory event plane with --router-mode kv", () => {
    expect(() => parse("--router-mode kv --event-plane memory --num-processes 2")).toThrow(FlagError);
    expect(() => parse("--router-mode kv --num-processes 2")).toThrow(/memory event plane cannot be shared/);
  });

  it("gives each process its own status port, refusing port 0 and ports past 65535", () => {
    const config = parse(`${nats} --system-port 9100 --num-processes 3`);
    expect([0, 1, 2].map((i) => processConfig(config, i).systemPort)).toEqual([9100, 9101, 9102]);
    expect(processConfig(parse(`${nats} --num-processes 3`), 2).systemPort).toBeUndefined();
    expect(() => parse(`${nats} --system-port 0 --num-processes 2`)).toThrow(/--system-port 0/);
    expect(() => parse(`${nats} --system-port 65535 --num-processes 2`)).toThrow(
      /no room for 2 status ports/,
    );
    expect(() => parse(`${nats} --num-processes 0`)).toThrow(FlagError);
  });
});
