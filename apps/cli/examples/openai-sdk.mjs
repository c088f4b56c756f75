// The official OpenAI SDK against `kvasir serve` (run from the repository: node apps/cli/examples/openai-sdk.mjs).
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.KVASIR_URL ?? "http://localhost:8000/v1",
  apiKey: "unused",
});

const models = await client.models.list();
console.log("models:", models.data.map((m) => m.id).join(", "));

const stream = await client.chat.completions.create({
  model: "Qwen/Qwen3-0.6B",
  messages: [{ role: "user", content: "Write a haiku about KV caches." }],
  max_tokens: 24,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
  if (chunk.usage) console.log("\nusage:", chunk.usage);
}
