import { describe, expect, it } from "vitest";
import { redactFields, redactText, redactUrl } from "./redact.js";

describe("redactUrl", () => {
  it("masks the password and keeps the user", () => {
    expect(redactUrl("nats://alice:s3cret@10.0.0.1:4222")).toBe("nats://alice:***@10.0.0.1:4222");
  });
  it("masks a lone token userinfo and every URL of a list", () => {
    expect(redactUrl("nats://tok123@a:4222,tls://bob:pw@b:4222")).toBe(
      "nats://***@a:4222,tls://bob:***@b:4222",
    );
  });
  it("masks a password holding an unencoded '@'", () => {
    expect(redactUrl("nats://u:p@ss@h:4222")).toBe("nats://u:***@h:4222");
  });
  it("masks redis's empty-user form and leaves plain URLs alone", () => {
    expect(redactUrl("rediss://:hunter2@r:6379/0")).toBe("rediss://***@r:6379/0");
    expect(redactUrl("http://127.0.0.1:8000/v1/models")).toBe("http://127.0.0.1:8000/v1/models");
  });
});

describe("redactText", () => {
  it("masks bearer tokens and given secrets inside messages", () => {
    const text = "cannot connect to nats://u:pw1@h:1 (Authorization: Bearer abc.def) token=sekrit-value";
    const out = redactText(text, ["sekrit-value"]);
    expect(out).not.toContain("pw1");
    expect(out).not.toContain("abc.def");
    expect(out).not.toContain("sekrit-value");
    expect(out).toContain("nats://u:***@h:1");
  });
});

describe("redactFields", () => {
  it("masks secret-named keys and URLs nested in objects", () => {
    const out = redactFields({
      natsServers: "nats://u:pw@h:4222",
      auth: { password: "pw", token: "t0ken", user: "u" },
      keys: ["redis://:pw2@r:1"],
    });
    expect(out).toEqual({
      natsServers: "nats://u:***@h:4222",
      auth: { password: "***", token: "***", user: "u" },
      keys: ["redis://***@r:1"],
    });
  });
});
