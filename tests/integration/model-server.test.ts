/**
 * The generated tiny GGUF and the OpenAI-compatible model server, as a real process (the same
 * command every driver runs) answering real HTTP, checked against node-llama-cpp loaded here and
 * against the official `openai` client.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { getLlama, LlamaLogLevel, resolveChatWrapper, type Llama, type LlamaModel } from "node-llama-cpp";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DriverError } from "@/workers/drivers/types";
import { modelServerCommand } from "@/workers/model-server/command";
import {
  buildTinyModel,
  ensureTinyModel,
  resolveModelArtifact,
  TINY_MODEL_FILE,
  TINY_MODEL_PARAMETERS,
  TINY_MODEL_SHA256,
  TINY_MODEL_URI,
} from "@/workers/model-server/tiny-model";

const MODEL_NAME = "tiny-chat";
const tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-model-server-"));
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let modelPath: string;
let llama: Llama;
let model: LlamaModel;
let child: ChildProcess;
let exited: Promise<number | null>;
let baseUrl: string;
let serverLog = "";

async function post(route: string, body: unknown) {
  return fetch(`${baseUrl}${route}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
}

/** Parses an SSE body into its `data:` payloads (JSON, or the literal "[DONE]"). */
async function sse(response: Response): Promise<unknown[]> {
  expect(response.headers.get("content-type")).toContain("text/event-stream");
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      expect(block.startsWith("data: ")).toBe(true);
      const data = block.slice("data: ".length);
      return data === "[DONE]" ? data : JSON.parse(data);
    });
}

const chatPromptTokens = (messages: { role: "system" | "user"; content: string }[]) =>
  resolveChatWrapper(model)
    .generateContextState({ chatHistory: [...messages.map((m) => ({ type: m.role, text: m.content })), { type: "model", response: [] }] })
    .contextText.tokenize(model.tokenizer).length;

beforeAll(async () => {
  modelPath = (await ensureTinyModel(path.join(tmp, "models"))).path;
  const port = await freePort();
  const command = modelServerCommand({ modelPath, servedModelName: MODEL_NAME, port });
  child = spawn(command.command, command.args, { cwd: command.cwd, env: { ...process.env, ...command.env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d) => (serverLog += d));
  child.stderr!.on("data", (d) => (serverLog += d));
  exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  baseUrl = `http://127.0.0.1:${port}`;
  // Load the same file here too, to check the server's numbers against node-llama-cpp's own.
  llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false, logLevel: LlamaLogLevel.warn });
  model = await llama.loadModel({ modelPath });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await fetch(`${baseUrl}/health`).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`model server did not become healthy:\n${serverLog}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGKILL");
    await exited;
  }
  await llama?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe("tiny random GGUF", () => {
  it("is deterministic: the pinned digest, reused when intact, rewritten when not, world-readable", async () => {
    expect(sha256(buildTinyModel())).toBe(TINY_MODEL_SHA256);
    const dir = path.join(tmp, "digest", "models");
    const first = await ensureTinyModel(dir);
    expect(first).toEqual({ path: path.join(dir, TINY_MODEL_FILE), sha256: TINY_MODEL_SHA256 });
    expect(sha256(readFileSync(first.path))).toBe(TINY_MODEL_SHA256);
    expect(statSync(first.path).mode & 0o777).toBe(0o644);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    const mtime = statSync(first.path).mtimeMs;
    await ensureTinyModel(dir);
    expect(statSync(first.path).mtimeMs).toBe(mtime);
    writeFileSync(first.path, "truncated");
    expect((await ensureTinyModel(dir)).sha256).toBe(TINY_MODEL_SHA256);
    expect(sha256(readFileSync(first.path))).toBe(TINY_MODEL_SHA256);
  });

  it("loads in node-llama-cpp as a llama model with a byte-fallback SPM tokenizer and chat template", () => {
    expect(model.fileInfo.metadata.general.architecture).toBe("llama");
    expect(model.trainContextSize).toBe(512);
    expect(model.tokens.bos).toBe(1);
    expect(model.tokens.eos).toBe(2);
    expect(model.fileInfo.metadata.tokenizer.chat_template).toContain("add_generation_prompt");
    const tensorValues = model.fileInfo.tensorInfo!.reduce((sum, t) => sum + t.dimensions.reduce<number>((a, b) => a * Number(b), 1), 0);
    expect(tensorValues).toBe(TINY_MODEL_PARAMETERS);
    const text = "hello world, the model says: héllo 👋";
    const tokens = model.tokenize(text);
    expect(model.detokenize(tokens).trimStart()).toBe(text);
    // "▁hello" is a vocabulary piece; "👋" needs the <0xXX> byte fallback (4 tokens).
    expect(tokens.length).toBeLessThan(Buffer.byteLength(text));
  });

  it("resolves catalog URIs: the tiny model, existing files, and refuses what it would have to fetch", async () => {
    expect(await resolveModelArtifact(TINY_MODEL_URI)).toMatch(/\.data\/models\/tiny-random-llama\.gguf$/);
    expect(await resolveModelArtifact(pathToFileURL(modelPath).href)).toBe(modelPath);
    await expect(resolveModelArtifact("file:///nonexistent/model.gguf")).rejects.toThrow(/does not exist/);
    await expect(resolveModelArtifact("hf://meta-llama/Llama-3-8B")).rejects.toThrow(/cannot fetch hf:\/\//);
    await expect(resolveModelArtifact("s3://bucket/model.gguf")).rejects.toBeInstanceOf(DriverError);
    await expect(resolveModelArtifact("local://other-model")).rejects.toThrow(/Unknown local model/);
  });
});

describe("model server (real process, real HTTP)", () => {
  it("reports health and lists the served model", async () => {
    expect(await (await fetch(`${baseUrl}/health`)).json()).toEqual({ status: "ok" });
    const models = await (await fetch(`${baseUrl}/v1/models`)).json();
    expect(models).toMatchObject({ object: "list", data: [{ id: MODEL_NAME, object: "model" }] });
    expect((await fetch(`${baseUrl}/v1/models/${MODEL_NAME}`)).status).toBe(200);
  });

  it("answers a chat completion with real token counts", async () => {
    const messages = [
      { role: "system" as const, content: "Answer briefly." },
      { role: "user" as const, content: "hello, what is the model?" },
    ];
    const response = await post("/v1/chat/completions", { model: MODEL_NAME, messages, max_tokens: 12, temperature: 0 });
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toMatchObject({ object: "chat.completion", model: MODEL_NAME, choices: [{ index: 0, message: { role: "assistant" } }] });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(typeof body.choices[0].message.content).toBe("string");
    expect(body.usage.prompt_tokens).toBe(chatPromptTokens(messages));
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(12);
    if (body.choices[0].finish_reason === "length") expect(body.usage.completion_tokens).toBe(12);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);
    // Greedy decoding is reproducible.
    const again = await (await post("/v1/chat/completions", { model: MODEL_NAME, messages, max_tokens: 12, temperature: 0 })).json();
    expect(again.choices[0].message.content).toBe(body.choices[0].message.content);
  });

  it("honours seed at temperature > 0, max_tokens and its cap", async () => {
    const request = { model: MODEL_NAME, messages: [{ role: "user", content: "tell me a story" }], max_tokens: 24, temperature: 1.2, seed: 42 };
    const a = await (await post("/v1/chat/completions", request)).json();
    const b = await (await post("/v1/chat/completions", request)).json();
    expect(b.choices[0].message.content).toBe(a.choices[0].message.content);
    const defaults = await (await post("/v1/chat/completions", { model: MODEL_NAME, messages: request.messages, temperature: 0 })).json();
    expect(defaults.usage.completion_tokens).toBeLessThanOrEqual(16);
    const huge = await (await post("/v1/chat/completions", { model: MODEL_NAME, messages: request.messages, max_tokens: 100_000, temperature: 0 })).json();
    expect(huge.usage.total_tokens).toBeLessThanOrEqual(512);
  });

  it("streams a chat completion as OpenAI SSE chunks, with a usage chunk and [DONE]", async () => {
    const messages = [{ role: "user" as const, content: "count to ten" }];
    const plain = await (await post("/v1/chat/completions", { model: MODEL_NAME, messages, max_tokens: 10, temperature: 0 })).json();
    const events = await sse(await post("/v1/chat/completions", { model: MODEL_NAME, messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } }));
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1) as { id: string; object: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage: unknown }[];
    for (const chunk of chunks) expect(chunk).toMatchObject({ id: chunks[0].id, object: "chat.completion.chunk", model: MODEL_NAME });
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual(plain.usage);
    const finish = chunks.at(-2)!;
    expect(finish.choices[0].finish_reason).toBe(plain.choices[0].finish_reason);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    // The streamed pieces add up to exactly the non-streamed answer.
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(plain.choices[0].message.content);
  });

  it("answers legacy completions, as JSON and as SSE", async () => {
    const prompt = "Once upon a time";
    const body = await (await post("/v1/completions", { model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0 })).json();
    expect(body).toMatchObject({ object: "text_completion", choices: [{ index: 0 }] });
    expect(body.usage.prompt_tokens).toBe(1 + model.tokenize(prompt).length); // BOS + prompt
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(8);
    const events = await sse(await post("/v1/completions", { model: MODEL_NAME, prompt, max_tokens: 8, temperature: 0, stream: true }));
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1) as { object: string; choices: { text: string; finish_reason: string | null }[] }[];
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe(body.choices[0].text);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe(body.choices[0].finish_reason);
  });

  it("rejects bad requests with OpenAI's error shape", async () => {
    const expectError = async (response: Response, status: number, param: string | null) => {
      expect(response.status).toBe(status);
      const body = await response.json();
      expect(body).toEqual({ error: { message: expect.any(String), type: expect.any(String), param, code: expect.anything() } });
      return body.error;
    };
    expect((await expectError(await post("/v1/chat/completions", "{not json"), 400, null)).type).toBe("invalid_request_error");
    await expectError(await post("/v1/chat/completions", { model: MODEL_NAME }), 400, "messages");
    await expectError(await post("/v1/chat/completions", { model: MODEL_NAME, messages: [] }), 400, "messages");
    await expectError(await post("/v1/chat/completions", { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 0 }), 400, "max_tokens");
    await expectError(await post("/v1/chat/completions", { model: MODEL_NAME, messages: [{ role: "user", content: "hi" }], temperature: 5 }), 400, "temperature");
    await expectError(await post("/v1/completions", { model: MODEL_NAME }), 400, "prompt");
    expect((await expectError(await post("/v1/chat/completions", { model: "gpt-4", messages: [{ role: "user", content: "hi" }] }), 404, "model")).code).toBe("model_not_found");
    await expectError(await fetch(`${baseUrl}/v1/embeddings`), 404, null);
    const long = "the ".repeat(600);
    expect((await expectError(await post("/v1/completions", { model: MODEL_NAME, prompt: long }), 400, "prompt")).code).toBe("context_length_exceeded");
  });

  it("serves concurrent requests without crashing", async () => {
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) => post("/v1/chat/completions", { model: MODEL_NAME, messages: [{ role: "user", content: `question ${i}` }], max_tokens: 8, seed: i })),
    );
    for (const r of responses) expect(r.status).toBe(200);
    const bodies = await Promise.all(responses.map((r) => r.json()));
    for (const b of bodies) expect(b.usage.completion_tokens).toBeGreaterThan(0);
    expect((await fetch(`${baseUrl}/health`)).status).toBe(200);
  });

  it("works with the official openai client, plain and streaming", async () => {
    const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: "unused", maxRetries: 0 });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual([MODEL_NAME]);
    const completion = await client.chat.completions.create({ model: MODEL_NAME, messages: [{ role: "user", content: "hello" }], max_tokens: 8, temperature: 0 });
    expect(completion.choices[0].message.role).toBe("assistant");
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({
      model: MODEL_NAME,
      messages: [{ role: "user", content: "hello" }],
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(completion.choices[0].message.content);
    expect(usage).toEqual(completion.usage);
    await expect(client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({ status: 404, code: "model_not_found" });
  });

  it("stops gracefully on SIGTERM", async () => {
    child.kill("SIGTERM");
    const started = Date.now();
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(serverLog).toContain('"event":"stopping"');
    expect(existsSync(modelPath)).toBe(true);
  });
});
