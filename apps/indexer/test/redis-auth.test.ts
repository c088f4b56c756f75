// The snapshot Redis with a password: taken from the URL's userinfo or from --redis-password; a wrong one fails
// the connect with a message that names the server but not the password.
import { type RedisServer, startRedisServer } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SnapshotStore } from "../src/snapshot-store.js";

const PASSWORD = "r3dis-Pa55";
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer({ password: PASSWORD });
});
afterAll(() => redis?.stop());

async function connects(store: SnapshotStore): Promise<string> {
  try {
    await store.connect();
    return "connected";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await store.close().catch(() => {});
  }
}

describe("snapshot Redis with a password", () => {
  it("connects with the password in the URL or as an option", async () => {
    expect(await connects(new SnapshotStore(`redis://:${PASSWORD}@127.0.0.1:${redis.port}`, "k"))).toBe(
      "connected",
    );
    expect(await connects(new SnapshotStore(redis.url, "k", () => {}, { password: PASSWORD }))).toBe(
      "connected",
    );
  });

  it("fails with a wrong password, naming the server and not the password", async () => {
    const message = await connects(new SnapshotStore(`redis://:wr0ng-pa55@127.0.0.1:${redis.port}`, "k"));
    expect(message).toContain(`cannot connect to Redis at 127.0.0.1:${redis.port}`);
    expect(message).toMatch(/WRONGPASS|invalid|auth/i);
    expect(message).not.toContain("wr0ng-pa55");
  });
});
