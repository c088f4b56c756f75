import { existsSync } from "node:fs";
import { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort, spawnNode, startNatsServer, startRedisServer, waitFor } from "../src/index.js";

const echo = new URL("./fixtures/echo.ts", import.meta.url).pathname;

function reply(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.once("error", reject);
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.connect(port, "127.0.0.1", () => socket.write(send));
  });
}

describe("@kvasir/testing", () => {
  it("starts a JetStream nats-server on a free loopback port and stops it", async () => {
    const nats = await startNatsServer();
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    const info = await reply(nats.port, "");
    expect(info).toMatch(/^INFO .*"jetstream":true/);
    await nats.stop();
    await expect(reply(nats.port, "")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("starts a redis-server that answers PING", async () => {
    const redis = await startRedisServer();
    expect(await reply(redis.port, "PING\r\n")).toBe("+PONG\r\n");
    await redis.stop();
  });

  it("runs a TypeScript script, waits for its ready line and reports its exit", async () => {
    const child = await spawnNode(echo, ["a", "b"], { env: { ECHO_LABEL: "x" }, readyLine: /^ready$/ });
    expect(child.stdout).toContain("args a,b");
    await waitFor(() => child.stderr.includes("label x"));
    child.kill("SIGTERM");
    expect(await child.exited).toEqual({ code: 7, signal: null });
  });

  it("rejects when the ready line does not appear in time", async () => {
    await expect(spawnNode(echo, [], { readyLine: /never printed/, readyTimeoutMs: 300 })).rejects.toThrow(
      /never printed/,
    );
  });

  it("rejects with the exit status and output when the script exits before its ready line", async () => {
    await expect(spawnNode(echo, [], { env: { ECHO_EXIT: "3" }, readyLine: /^ready$/ })).rejects.toThrow(
      /exited \(code 3[\s\S]*args/,
    );
  });

  it("freePort returns a bindable port and waitFor times out with a message", async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    await expect(waitFor(() => false, { timeoutMs: 50, message: "never" })).rejects.toThrow(/never/);
    expect(existsSync(echo)).toBe(true);
  });
});
