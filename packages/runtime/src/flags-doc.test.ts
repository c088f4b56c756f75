import { describe, expect, it } from "vitest";
import { defineFlags } from "./flags.js";
import { renderFlagsDoc } from "./flags-doc.js";

const flags = defineFlags(
  {
    "http-port": { type: "number", default: 8000, env: "DYN_HTTP_PORT", help: "API port", dynamo: true },
    "kv-cache-block-size": {
      type: "number",
      default: 16,
      aliases: ["page-size"],
      help: "Tokens per block",
      dynamo: "--page-size (dynamo.sglang)",
      differs: "Default 16 (Dynamo's mocker: 64)",
    },
    "router-mode": { type: "string", default: "kv", choices: ["kv", "random"], help: "Routing a|b" },
    cache: { type: "boolean", default: true, help: "Use the cache" },
    topic: { type: "string", default: "", help: "Topic" },
  },
  [
    { name: "load-aware", env: ["DYN_ROUTER_LOAD_AWARE"], message: "use --router-mode kv" },
    { name: "track-prefill", accepts: "on", message: "always on" },
  ],
);

describe("renderFlagsDoc", () => {
  const doc = renderFlagsDoc(
    [
      {
        name: "frontend",
        dynamo: "dynamo.frontend",
        summary: "The API.",
        flags: flags.specs,
        refused: flags.refused,
      },
    ],
    "# Flags",
    "The end.",
  );

  it("puts Dynamo's name beside Kvasir's with env variables, default and meaning", () => {
    expect(doc).toContain("## `kvasir frontend` (dynamo.frontend)");
    expect(doc).toContain("| Dynamo | Kvasir | env | default | meaning |");
    expect(doc).toContain("| `--http-port` | `--http-port` | `DYN_HTTP_PORT` | `8000` | API port |");
    expect(doc).toContain(
      "| --page-size (dynamo.sglang) | `--kv-cache-block-size` (also `--page-size`) |  | `16` | Tokens per block |",
    );
    // Kvasir-only flags show a dash; pipes in cells are escaped; booleans show their --no- form.
    expect(doc).toContain("| — | `--router-mode` |  | `kv` | Routing a\\|b (`kv`, `random`) |");
    expect(doc).toContain("| — | `--[no-]cache` |  | `true` | Use the cache |");
    expect(doc).toContain('| — | `--topic` |  | `""` | Topic |');
  });

  it("lists deliberate differences and refused flags with their messages", () => {
    expect(doc).toContain("- `--kv-cache-block-size`: Default 16 (Dynamo's mocker: 64).");
    expect(doc).toContain("| `--load-aware`, `DYN_ROUTER_LOAD_AWARE` | use --router-mode kv |");
    expect(doc).toContain(
      "| `--track-prefill` | always on (`--track-prefill`, Kvasir's behaviour, is accepted) |",
    );
  });

  it("frames the tables with the intro and outro and ends with one newline", () => {
    expect(doc.startsWith("# Flags\n\n## `kvasir frontend`")).toBe(true);
    expect(doc.endsWith("The end.\n")).toBe(true);
  });
});
