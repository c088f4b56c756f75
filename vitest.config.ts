import { defineConfig } from "vitest/config";

// Unit tests live beside the code (src/**/*.test.ts) and do no I/O beyond memory.
// Integration tests live in test/ and start real nats-server, redis-server and processes.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts", "apps/*/src/**/*.test.ts", "native/src/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "native/test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Integration tests start servers and processes; two cores, so keep concurrency low.
          maxWorkers: 2,
          minWorkers: 1,
        },
      },
    ],
  },
});
