// The request body read straight from Node's request (under @hono/node-server): the whole body, the size limit,
// and a client that leaves mid-body, over a real socket.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jsonBody, readBody } from "../src/body.js";
import { toHttpError } from "../src/errors.js";
import type { AppEnv } from "../src/request-scope.js";

let server: Server;
let port = 0;
const refusals: number[] = [];

beforeAll(async () => {
  const app = new Hono<AppEnv>();
  app.onError((error, c) => c.json(toHttpError(error).toBody(), toHttpError(error).status));
  const errorBody = (_path: string, failure: ReturnType<typeof toHttpError>) => {
    refusals.push(failure.status);
    return failure.toBody();
  };
  app.post("/x", readBody({ maxBytes: 64 * 1024, timeoutMs: 5_000, errorBody }), async (c) => {
    const body = await jsonBody(c);
    return c.json({ length: Array.isArray(body) ? body.length : -1 });
  });
  server = createServer(getRequestListener(app.fetch));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  port = typeof address === "object" && address ? address.port : 0;
});

afterAll(async () => {
  server.close();
});

const post = (body: string) =>
  fetch(`http://127.0.0.1:${port}/x`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
  });

describe("the body read from Node's request", () => {
  it("reads a body that arrives in many chunks", async () => {
    const ids = Array.from({ length: 8_000 }, (_, i) => i);
    const response = await post(JSON.stringify(ids));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ length: 8_000 });
  });

  it("answers 413 past the limit and closes the connection", async () => {
    const response = await post(JSON.stringify(Array.from({ length: 20_000 }, (_, i) => i)));
    expect(response.status).toBe(413);
    expect(response.headers.get("connection")).toBe("close");
  });

  it("keeps serving after a client leaves mid-body", async () => {
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.write(
      "POST /x HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[1,2,3",
    );
    const before = refusals.length;
    socket.destroy();
    // Whether the server was reading yet or not, the request ends as unreadable (400), never waits out the timeout.
    for (let i = 0; i < 200 && refusals.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(refusals.slice(before)).toEqual([400]);
    const response = await post("[1,2]");
    expect(await response.json()).toEqual({ length: 2 });
  });
});
