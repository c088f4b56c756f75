// The committed Grafana dashboards are what scripts/dashboards.mjs writes from its panel list (the list the
// built-apps test runs against Prometheus), so an edit of one without the other fails here.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const script = fileURLToPath(new URL("../../../../scripts/dashboards.mjs", import.meta.url));

it("the committed dashboards are the generator's output", () => {
  expect(() => execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" })).not.toThrow();
});
