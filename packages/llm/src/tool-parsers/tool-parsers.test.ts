import { describe, expect, it } from "vitest";
import { createToolCallParser, type ToolCallParserName } from "../output-parser.js";
import type { ToolCallStreamParser } from "../tool-call-parser.js";

interface Parsed {
  content: string;
  calls: { name: string; arguments: unknown }[];
}

function ids(): () => string {
  let n = 0;
  return () => `call_${n++}`;
}

function feed(parser: ToolCallStreamParser, chunks: string[]): Parsed {
  const deltas = [...chunks.map((c) => parser.push(c)), parser.flush()];
  return {
    content: deltas.map((d) => d.content).join(""),
    calls: deltas.flatMap((d) =>
      d.toolCalls.map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) })),
    ),
  };
}

/** The same result whole, split in two at every point, and one character at a time. */
function expectChunkingInvariant(name: ToolCallParserName, text: string, expected: Parsed): void {
  const make = () => createToolCallParser(name, { newId: ids() });
  expect(feed(make(), [text]), "whole").toEqual(expected);
  for (let i = 0; i <= text.length; i++) {
    expect(feed(make(), [text.slice(0, i), text.slice(i)]), `split at ${i}`).toEqual(expected);
  }
  expect(feed(make(), [...text]), "one character at a time").toEqual(expected);
}

/** The call is returned by the push that completes it, not held for flush. */
function expectEmittedAt(name: ToolCallParserName, before: string, completing: string): void {
  const parser = createToolCallParser(name, { newId: ids() });
  expect(parser.push(before).toolCalls).toEqual([]);
  expect(parser.push(completing).toolCalls).toHaveLength(1);
}

const weather = { name: "get_weather", arguments: { city: "Paris", unit: "celsius" } };
const time = { name: "get_time", arguments: { tz: "CET" } };

describe("llama3_json", () => {
  it("parses Llama 3.1's JSON calls, with or without <|python_tag|>, several separated by ';'", () => {
    expectChunkingInvariant(
      "llama3_json",
      '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}',
      { content: "", calls: [weather] },
    );
    expectChunkingInvariant(
      "llama3_json",
      '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}; ' +
        '{"name": "get_time", "parameters": {"tz": "CET"}}',
      { content: "", calls: [weather, time] },
    );
  });

  it("leaves text and JSON that is not a call as content", () => {
    expectChunkingInvariant("llama3_json", "The weather in Paris is {mild}.", {
      content: "The weather in Paris is {mild}.",
      calls: [],
    });
    expectChunkingInvariant("llama3_json", ' {"answer": 42}', { content: ' {"answer": 42}', calls: [] });
  });

  it("emits each call when its object closes", () => {
    expectEmittedAt("llama3_json", '{"name": "get_time", "parameters": {"tz": "CET"}', "}; {");
  });
});

describe("mistral", () => {
  it("parses the v3 tokenizer's [TOOL_CALLS] array", () => {
    expectChunkingInvariant(
      "mistral",
      '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}, ' +
        '{"name": "get_time", "arguments": {"tz": "CET"}}]',
      { content: "", calls: [weather, time] },
    );
  });

  it("parses the v11 tokenizer's name[ARGS]{...} calls after content", () => {
    expectChunkingInvariant(
      "mistral",
      'Let me check. [TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "unit": "celsius"}[TOOL_CALLS]get_time[ARGS]{"tz": "CET"}',
      { content: "Let me check. ", calls: [weather, time] },
    );
  });

  it("accepts Dynamo's [/TOOL_CALLS] end marker and keeps text after it", () => {
    expectChunkingInvariant(
      "mistral",
      '[TOOL_CALLS]{"name": "get_time", "arguments": {"tz": "CET"}}[/TOOL_CALLS] ok',
      {
        content: " ok",
        calls: [time],
      },
    );
  });

  it("gives nine-character alphanumeric ids by default, as Mistral's API requires", () => {
    const parser = createToolCallParser("mistral");
    const [call] = parser.push('[TOOL_CALLS][{"name": "f", "arguments": {}}]').toolCalls;
    expect(call?.id).toMatch(/^[A-Za-z0-9]{9}$/);
  });

  it("emits each array element as soon as it closes", () => {
    expectEmittedAt("mistral", '[TOOL_CALLS] [{"name": "get_time", "arguments": {"tz": "CET"}', "}, {");
  });
});

describe("pythonic", () => {
  it("parses a list of Python calls with literal keyword arguments", () => {
    expectChunkingInvariant("pythonic", "[get_weather(city='Paris', unit=\"celsius\"), get_time(tz='CET')]", {
      content: "",
      calls: [weather, time],
    });
    expectChunkingInvariant(
      "pythonic",
      "[search(query='a, (b)', limit=3, exact=True, tags=['x', \"y\"], opts={'deep': None}, ratio=-0.5)]",
      {
        content: "",
        calls: [
          {
            name: "search",
            arguments: {
              query: "a, (b)",
              limit: 3,
              exact: true,
              tags: ["x", "y"],
              opts: { deep: null },
              ratio: -0.5,
            },
          },
        ],
      },
    );
  });

  it("unwraps Llama 4's <|python_start|> ... <|python_end|>", () => {
    expectChunkingInvariant("pythonic", "<|python_start|>[get_time(tz='CET')]<|python_end|>", {
      content: "",
      calls: [time],
    });
  });

  it("leaves prose and lists that are not calls as content", () => {
    expectChunkingInvariant("pythonic", "Sure: get_time(tz='CET')", {
      content: "Sure: get_time(tz='CET')",
      calls: [],
    });
    expectChunkingInvariant("pythonic", "[1, 2, 3]", { content: "[1, 2, 3]", calls: [] });
  });

  it("emits each call at its closing parenthesis", () => {
    expectEmittedAt("pythonic", "[get_time(tz='CET'", "), get_weather(");
  });
});

const dsV3 =
  "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n" +
  '{"city": "Paris", "unit": "celsius"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n' +
  '```json\n{"tz": "CET"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>';
const dsV31 =
  '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris", "unit": "celsius"}' +
  '<｜tool▁call▁end｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"tz": "CET"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>';

describe("deepseek_v3 / deepseek_v3_1", () => {
  it("parses DeepSeek-V3's fenced calls and V3.1's plain ones, with content before them", () => {
    expectChunkingInvariant("deepseek_v3", `Checking.${dsV3}`, {
      content: "Checking.",
      calls: [weather, time],
    });
    expectChunkingInvariant("deepseek_v3_1", `Checking.${dsV31}`, {
      content: "Checking.",
      calls: [weather, time],
    });
  });

  it("parses a last call whose end markers were cut off by a stop token", () => {
    expectChunkingInvariant(
      "deepseek_v3_1",
      '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"tz": "CET"}',
      { content: "", calls: [time] },
    );
  });

  it("emits each call at its end marker", () => {
    expectEmittedAt(
      "deepseek_v3_1",
      dsV31.slice(0, dsV31.indexOf("<｜tool▁call▁end｜>")),
      "<｜tool▁call▁end｜>",
    );
  });
});

describe("harmony", () => {
  it("parses gpt-oss's commentary call and keeps the other channels' text as content", () => {
    expectChunkingInvariant(
      "harmony",
      "<|channel|>analysis<|message|>Need the time.<|end|><|start|>assistant<|channel|>commentary " +
        'to=functions.get_time <|constrain|>json<|message|>{"tz": "CET"}<|call|>',
      { content: "Need the time.", calls: [time] },
    );
    expectChunkingInvariant("harmony", "<|channel|>final<|message|>Hello there!<|return|>", {
      content: "Hello there!",
      calls: [],
    });
  });

  it("takes a call ended by the output's end (<|call|> is a stop token) and a recipient in the role part", () => {
    expectChunkingInvariant(
      "harmony",
      '<|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>{"tz": "CET"}',
      { content: "", calls: [time] },
    );
  });

  it("passes output without Harmony framing through as content", () => {
    expectChunkingInvariant("harmony", "Plain <b>text</b> with <|odd marker", {
      content: "Plain <b>text</b> with <|odd marker",
      calls: [],
    });
  });

  it("emits the call at <|call|>", () => {
    expectEmittedAt(
      "harmony",
      '<|channel|>commentary to=functions.get_time <|message|>{"tz": "CET"}',
      "<|call|>",
    );
  });
});

describe("kimi_k2", () => {
  const kimi =
    "Let me look.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>" +
    '{"city": "Paris", "unit": "celsius"}<|tool_call_end|><|tool_call_begin|>functions.get_time:1' +
    '<|tool_call_argument_begin|>{"tz": "CET"}<|tool_call_end|><|tool_calls_section_end|>';

  it("parses Kimi K2's section of calls, in either section marker", () => {
    expectChunkingInvariant("kimi_k2", kimi, { content: "Let me look.", calls: [weather, time] });
    expectChunkingInvariant("kimi_k2", kimi.replaceAll("tool_calls_section", "tool_call_section"), {
      content: "Let me look.",
      calls: [weather, time],
    });
  });

  it("ids each call functions.NAME:INDEX, as Kimi's template expects back", () => {
    const parser = createToolCallParser("kimi_k2");
    const calls = [...parser.push(kimi).toolCalls, ...parser.flush().toolCalls];
    expect(calls.map((c) => c.id)).toEqual(["functions.get_weather:0", "functions.get_time:1"]);
  });

  it("emits each call at its end marker", () => {
    expectEmittedAt("kimi_k2", kimi.slice(0, kimi.indexOf("<|tool_call_end|>")), "<|tool_call_end|>");
  });
});

describe("nemotron_deci / jamba", () => {
  it("parses a JSON list of calls between Nemotron's and Jamba's tags", () => {
    const list =
      '[{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}, ' +
      '{"name": "get_time", "arguments": {"tz": "CET"}}]';
    expectChunkingInvariant("nemotron_deci", `Sure.<TOOLCALL>${list}</TOOLCALL>`, {
      content: "Sure.",
      calls: [weather, time],
    });
    expectChunkingInvariant("jamba", `<tool_calls>${list}</tool_calls>`, {
      content: "",
      calls: [weather, time],
    });
  });
});
