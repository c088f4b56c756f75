import { describe, expect, it } from "vitest";
import { parseInstanceKey } from "./worker-presence.js";

describe("parseInstanceKey", () => {
  it("reads component and id from an instance key", () => {
    expect(parseInstanceKey("v1/instances/ns/backend/generate/00000000000000ff")).toEqual({
      component: "backend",
      instanceId: 255n,
    });
  });

  it("ignores keys of another shape", () => {
    expect(parseInstanceKey("v1/mdc/ns/model/00000000000000ff")).toBeUndefined();
    expect(parseInstanceKey("v1/instances/ns/backend/generate")).toBeUndefined();
    expect(parseInstanceKey("v1/instances/ns/backend/generate/not-hex")).toBeUndefined();
  });
});
