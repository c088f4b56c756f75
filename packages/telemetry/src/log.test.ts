import { afterEach, describe, expect, it } from "vitest";
import { createLogger, type LoggerOptions, setLogLevel } from "./log.js";

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const opts: LoggerOptions = {
    env: {},
    now: () => new Date("2026-01-02T03:04:05.678Z"),
    sink: (line) => lines.push(line),
    ...options,
  };
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, records, opts };
}

afterEach(() => setLogLevel(undefined));

describe("createLogger", () => {
  it("writes one JSON object per line with time, level, component, msg and fields", () => {
    const c = capture();
    const log = createLogger("router", { instance: "ab12" }, c.opts);
    log.info("picked worker", { worker_id: "0f", overlap: 3 });
    expect(c.lines).toHaveLength(1);
    expect(c.lines[0]).not.toContain("\n");
    expect(c.records()[0]).toEqual({
      time: "2026-01-02T03:04:05.678Z",
      level: "info",
      component: "router",
      msg: "picked worker",
      instance: "ab12",
      worker_id: "0f",
      overlap: 3,
    });
  });

  it("drops lines below the threshold", () => {
    const c = capture({ level: "warn" });
    const log = createLogger("worker", {}, c.opts);
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(c.records().map((r) => r.level)).toEqual(["warn", "error"]);
    expect(log.enabled("info")).toBe(false);
  });

  it("takes the level from DYN_LOG per component when nothing else is set", () => {
    const c = capture({ env: { DYN_LOG: "error,frontend=debug" } });
    createLogger("frontend", {}, c.opts).debug("shown");
    createLogger("worker", {}, c.opts).warn("hidden");
    expect(c.records().map((r) => r.msg)).toEqual(["shown"]);
  });

  it("lets setLogLevel (from --log-level) override the environment for existing loggers", () => {
    const c = capture({ env: { KVASIR_LOG_LEVEL: "error" } });
    const log = createLogger("planner", {}, c.opts);
    log.info("before");
    setLogLevel("debug");
    log.debug("after");
    expect(c.records().map((r) => r.msg)).toEqual(["after"]);
    expect(log.level()).toBe("debug");
  });

  it("child loggers add fields and keep the parent's", () => {
    const c = capture();
    const parent = createLogger("frontend", { a: 1 }, c.opts);
    const req = parent.child({ request_id: "r-1" });
    req.child({ step: "route" }).info("x");
    parent.info("y");
    expect(req.component).toBe("frontend");
    expect(c.records()[0]).toMatchObject({ a: 1, request_id: "r-1", step: "route" });
    expect(c.records()[1]).not.toHaveProperty("request_id");
  });

  it("serialises bigints and errors and never lets fields replace the envelope", () => {
    const c = capture();
    const log = createLogger("worker", {}, c.opts);
    log.error("failed", {
      instance_id: 2n ** 64n - 1n,
      err: new TypeError("boom"),
      msg: "shadow",
      level: "x",
    });
    const r = c.records()[0] ?? {};
    expect(r.msg).toBe("failed");
    expect(r.level).toBe("error");
    expect(r["fields.msg"]).toBe("shadow");
    expect(r["fields.level"]).toBe("x");
    expect(r.instance_id).toBe("18446744073709551615");
    expect(r.err).toMatchObject({ type: "TypeError", message: "boom" });
  });

  it("still writes a line when a field is circular", () => {
    const c = capture();
    const loop: Record<string, unknown> = { name: "loop" };
    loop.self = loop;
    createLogger("worker", {}, c.opts).info("circular", { loop });
    expect(c.records()[0]).toMatchObject({ msg: "circular", loop: { name: "loop", self: "[Circular]" } });
  });
});
