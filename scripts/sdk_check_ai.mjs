// Drives a running openrouter-proxy with the Vercel AI SDK: its default OpenAI provider (which
// speaks the Responses API) for generateText, streamText and a tool call, and its Anthropic
// provider (the Messages API) for generateText.
// Usage: node scripts/sdk_check_ai.mjs http://127.0.0.1:PORT/v1
// scripts/sdk-check installs `ai`, `@ai-sdk/openai` and `@ai-sdk/anthropic` and runs this.
import { generateText, streamText, tool, jsonSchema } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
import { createAnthropic } from "@ai-sdk/anthropic";

const base = process.argv[2];
const fail = (message) => { console.error("AI SDK check FAILED: " + message); process.exit(1); };
const paths = [];
const watched = (url, init) => { paths.push(new URL(String(url)).pathname); return fetch(url, init); };

const openai = createOpenAI({ baseURL: base, apiKey: "anything", fetch: watched });
const said = await generateText({ model: openai("auto"), prompt: "Say hello", maxRetries: 0 });
if (!said.text) fail("generateText: no text");
if (paths.at(-1) !== "/v1/responses") fail("the default provider called " + paths.at(-1));
console.log(`ai generateText (${paths.at(-1)}): ${JSON.stringify(said.text)}`);

const streamed = streamText({ model: openai("auto"), prompt: "Say hello", maxRetries: 0 });
const parts = [];
for await (const part of streamed.textStream) parts.push(part);
if (parts.length < 2) fail("streamText: the text did not arrive in parts: " + JSON.stringify(parts));
console.log(`ai streamText: ${parts.length} parts: ${JSON.stringify(parts.join(""))}`);

const called = await generateText({
  model: openai("auto"),
  prompt: "Weather in Paris?",
  maxRetries: 0,
  tools: {
    weather: tool({
      description: "The weather",
      inputSchema: jsonSchema({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }),
    }),
  },
});
const call = called.toolCalls[0];
if (!call || call.toolName !== "weather") fail("no tool call: " + JSON.stringify(called.toolCalls));
console.log(`ai tool call: ${call.toolName}(${JSON.stringify(call.input)})`);

const anthropic = createAnthropic({ baseURL: base, apiKey: "anything", fetch: watched });
const message = await generateText({
  model: anthropic("auto"), prompt: "Say hello", maxRetries: 0, maxOutputTokens: 256,
});
if (!message.text) fail("anthropic generateText: no text");
if (paths.at(-1) !== "/v1/messages") fail("the Anthropic provider called " + paths.at(-1));
console.log(`ai anthropic generateText (${paths.at(-1)}): ${JSON.stringify(message.text)}`);
