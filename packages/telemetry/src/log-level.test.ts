import { describe, expect, it } from "vitest";
import { levelFromDynLog, levelFromEnv, parseLogLevel } from "./log-level.js";

describe("parseLogLevel", () => {
  it("accepts the five levels in any case and warning as warn", () => {
    expect(parseLogLevel("DEBUG")).toBe("debug");
    expect(parseLogLevel(" warning ")).toBe("warn");
    expect(parseLogLevel("verbose")).toBeUndefined();
  });
});

describe("levelFromDynLog", () => {
  it("uses the bare directive as the default", () => {
    expect(levelFromDynLog("warn", "router")).toBe("warn");
  });

  it("prefers the longest matching target over the default", () => {
    const spec = "info,router=debug,router::queue=trace,frontend=error";
    expect(levelFromDynLog(spec, "router")).toBe("debug");
    expect(levelFromDynLog(spec, "router::queue")).toBe("trace");
    expect(levelFromDynLog(spec, "worker")).toBe("info");
    expect(levelFromDynLog(spec, "routerx")).toBe("info");
  });

  it("returns undefined when nothing applies", () => {
    expect(levelFromDynLog("frontend=debug", "worker")).toBeUndefined();
  });
});

describe("levelFromEnv", () => {
  it("lets KVASIR_LOG_LEVEL win over DYN_LOG and defaults to info", () => {
    expect(levelFromEnv({ KVASIR_LOG_LEVEL: "error", DYN_LOG: "debug" }, "router")).toBe("error");
    expect(levelFromEnv({ DYN_LOG: "debug" }, "router")).toBe("debug");
    expect(levelFromEnv({}, "router")).toBe("info");
  });
});
