/**
 * The gateway under hostile input (issue 10), against a real gateway process (server/gateway/main.ts)
 * with small, configured timeouts, real upstream servers over HTTP and the real database. Most
 * cases talk raw HTTP over node:net so that framings no client library would send can be sent, and
 * so that every byte the client receives is seen. Client addresses are spread over 127.0.0.0/8
 * (`localAddress`) so that the per-address connection cap of one case does not meet another's.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { estimatePromptTokens } from "@/server/gateway/validation";
import { createApiKey } from "../deployment-fixtures";
import { chatBody, postChat, registerDeployment, spawnGateway, startFastUpstream, waitFor, waitForModel, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { createTenant, type Tenant } from "../helpers";

// ---- raw HTTP over node:net ----

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface RawResult {
  data: Buffer;
  responses: RawResponse[];
  /** The gateway closed the connection (or reset it) before the client gave up. */
  closed: boolean;
  /** Milliseconds from connect to close (or to giving up). */
  ms: number;
  /** Bytes the client managed to write. */
  written: number;
}

/** Every complete HTTP/1.1 response in `data`, in order (content-length, chunked, or until close). */
function parseResponses(data: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const end = data.indexOf("\r\n\r\n", at);
    if (end === -1) break;
    const head = data.toString("latin1", at, end).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    let pos = end + 4;
    let body: Buffer;
    if (headers["content-length"] !== undefined) {
      const len = Number(headers["content-length"]);
      if (pos + len > data.length) break;
      body = data.subarray(pos, pos + len);
      pos += len;
    } else if (headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = data.indexOf("\r\n", pos);
        if (lineEnd === -1) break;
        const size = parseInt(data.toString("latin1", pos, lineEnd), 16);
        if (size === 0) {
          pos = lineEnd + 4;
          complete = true;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        pos = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else {
      body = data.subarray(pos);
      pos = data.length;
    }
    out.push({ status, headers, body: body.toString("utf8") });
    at = pos;
  }
  return out;
}

/**
 * Connects, then runs the steps (strings and buffers are written, numbers are pauses in ms), and
 * collects what comes back until the gateway closes the connection or `timeoutMs` passes.
 */
function raw(steps: (string | Buffer | number)[], options: { localAddress?: string; timeoutMs?: number; endAfterSteps?: boolean } = {}): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ port: gatewayPort, host: "127.0.0.1", localAddress: options.localAddress });
    const chunks: Buffer[] = [];
    let written = 0;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const data = Buffer.concat(chunks);
      resolve({ data, responses: parseResponses(data), closed, ms: performance.now() - started, written });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5000);
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    socket.on("data", (d) => chunks.push(d));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("connect", async () => {
      for (const step of steps) {
        if (done) return;
        if (typeof step === "number") await new Promise((r) => setTimeout(r, step));
        else {
          written += Buffer.byteLength(step);
          if (!socket.write(step)) await Promise.race([new Promise((r) => socket.once("drain", r)), closed]);
        }
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function post(pathname: string, body: string | Buffer, headers: Record<string, string> = {}, k = key) {
  const extra = Object.entries(headers)
    .map(([h, v]) => `${h}: ${v}\r\n`)
    .join("");
  return `POST ${pathname} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${k}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

const errorOf = (r: RawResponse) => (JSON.parse(r.body) as { error: { message: string; type: string; param: string | null; code: string | null } }).error;

/** 20,000 levels of `[{"content": …}]`: what the recursive prompt estimator overflowed on (280 KB). */
const DEEP = `${'[{"content":'.repeat(20_000)}"x"${"}]".repeat(20_000)}`;

// ---- upstreams and the gateway ----

/**
 * A replica that reports no usage (so the gateway estimates), streams when asked, has no route
 * for completions (answering with its own plain-text 404) and fails embeddings with internal
 * details in its error.
 */
async function startOddUpstream(): Promise<FakeUpstream> {
  let served = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      served++;
      if (req.url === "/v1/completions") {
        res.writeHead(404, { "content-type": "text/plain" });
        return res.end("no route for POST /v1/completions");
      }
      if (req.url === "/v1/embeddings") {
        res.writeHead(500, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: "CUDA error: out of memory in /srv/enclave/models/llama.gguf (pid 4242)", type: "server_error", param: null, code: null } }));
      }
      let stream = false;
      try {
        stream = JSON.parse(Buffer.concat(chunks).toString()).stream === true;
      } catch {
        // not JSON
      }
      const chunk = (content: string) =>
        `data: ${JSON.stringify({ id: "chatcmpl-odd", object: "chat.completion.chunk", created: 1_700_000_000, model: "odd", choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] })}\n\n`;
      if (stream) {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        res.end(`${chunk("Bon")}${chunk("jour")}data: [DONE]\n\n`);
      } else {
        const body = JSON.stringify({ id: "chatcmpl-odd", object: "chat.completion", created: 1_700_000_000, model: "odd", choices: [{ index: 0, message: { role: "assistant", content: "Bonjour." }, finish_reason: "stop" }] });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served: () => served,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The limits the gateway runs with here: small, so that every slow-client case takes about a second. */
const LIMITS = {
  GATEWAY_HEADERS_TIMEOUT_MS: "600",
  GATEWAY_BODY_TIMEOUT_MS: "600",
  GATEWAY_BODY_MIN_RATE: "65536",
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: "700",
  GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: "16",
};

let spoolRoot: string;
let tenant: Tenant;
let fast: FakeUpstream;
let odd: FakeUpstream;
let gw: GatewayProcess;
let gatewayPort: number;
let key: string;
let model: string;
let oddModel: string;

beforeAll(async () => {
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-gateway-hostile-"));
  tenant = await createTenant("hostile");
  [fast, odd] = await Promise.all([startFastUpstream(), startOddUpstream()]);
  model = (await registerDeployment(tenant, [fast.url])).name;
  oddModel = (await registerDeployment(tenant, [odd.url])).name;
  gw = await spawnGateway({ spoolDir: path.join(spoolRoot, "gw"), env: LIMITS });
  gatewayPort = Number(new URL(gw.url).port);
  key = (await createApiKey(tenant.org.id, tenant.ownerId)).key;
  await waitForModel(gw.url, key, model);
  await waitForModel(gw.url, key, oddModel);
});

afterAll(async () => {
  await gw?.kill();
  await Promise.all([fast?.close(), odd?.close()]);
  rmSync(spoolRoot, { recursive: true, force: true });
});

function alive() {
  expect(gw.child.exitCode).toBeNull();
  expect(gw.child.signalCode).toBeNull();
}

/** Waits for the spool to deliver, then the number of this key's usage records with status 200. */
async function records200(apiKeyId: string, expected: number) {
  await waitFor(async () => (await db.usageRecord.count({ where: { apiKeyId, status: 200 } })) >= expected, 5000, 50).catch(() => {});
  await sleep(400); // one more batch period: nothing else may arrive
  return db.usageRecord.count({ where: { apiKeyId, status: 200 } });
}

describe("one request never kills the gateway", () => {
  it("refuses a streaming chat request nested 20,000 levels deep with 400, and the same process answers the next call", async () => {
    const body = `{"model":${JSON.stringify(oddModel)},"stream":true,"messages":[{"role":"user","content":${DEEP}}]}`;
    expect(body.length).toBeGreaterThan(270_000);
    const served = odd.served();
    const r = await raw([post("/v1/chat/completions", body)], { localAddress: "127.0.1.1" });
    expect(r.responses[0]?.status).toBe(400);
    expect(errorOf(r.responses[0])).toMatchObject({ type: "invalid_request_error", code: "json_too_deep" });
    // Nesting in a field the gateway does not validate is refused at the edge too: it never reaches a replica.
    const extension = `{"model":${JSON.stringify(oddModel)},"stream":true,"messages":[{"role":"user","content":"hi"}],"vendor_extension":${DEEP}}`;
    const deep = await raw([post("/v1/chat/completions", extension)], { localAddress: "127.0.1.1" });
    expect(deep.responses[0]?.status).toBe(400);
    expect(errorOf(deep.responses[0])).toMatchObject({ type: "invalid_request_error", code: "json_too_deep", param: null });
    expect(odd.served()).toBe(served);

    const next = await postChat(gw.url, key, oddModel, {}, { stream: true });
    expect(next.status).toBe(200);
    expect(next.text).toContain("[DONE]");
    alive();
  });

  it("estimates prompt tokens without recursion, whatever the depth", () => {
    const parsed = JSON.parse(`{"messages":[{"role":"user","content":${DEEP}}]}`);
    expect(estimatePromptTokens(parsed)).toBe(1);
    expect(estimatePromptTokens({ messages: [{ role: "user", content: [{ type: "text", text: "12345678" }] }, null, 7], prompt: ["abcd", "efgh"], input: "ijkl" })).toBe(5);
  });
});

describe("metering matches what the client received", () => {
  const framings: [string, string, number][] = [
    ["GARBAGE", "GARBAGE\r\n\r\n", 400],
    ["a 20 KB header", `GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`, 431],
  ];
  for (const [label, bad, status] of framings) {
    it(`a valid request followed on the same socket by ${label}: the client gets its 200, then ${status}, and is billed once`, async () => {
      const { key: k, row } = await createApiKey(tenant.org.id, tenant.ownerId);
      let received200 = 0;
      for (let i = 0; i < 8; i++) {
        const r = await raw([post("/v1/chat/completions", chatBody(model), {}, k) + bad], { localAddress: "127.0.1.2" });
        expect(r.responses.map((x) => x.status)).toEqual([200, status]);
        expect(JSON.parse(r.responses[0].body).usage.total_tokens).toBe(10);
        expect(errorOf(r.responses[1]).type).toBe("invalid_request_error");
        expect(r.responses[1].headers.connection).toBe("close");
        expect(r.closed).toBe(true);
        received200++;
      }
      expect(await records200(row.id, received200)).toBe(received200);
      alive();
    });
  }

  it("clients that half-close or hang up right after their request are billed 200 only for the 200s they received", async () => {
    const { key: k, row } = await createApiKey(tenant.org.id, tenant.ownerId);
    let received200 = 0;
    for (let i = 0; i < 12; i++) {
      const data = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const s = net.connect({ port: gatewayPort, host: "127.0.0.1", localAddress: "127.0.1.3" }, () => {
          // Sent, then half-closed (FIN) or reset at once.
          s.write(post("/v1/chat/completions", chatBody(model), {}, k));
          if (i % 2 === 0) s.end();
          else setImmediate(() => s.resetAndDestroy());
        });
        s.on("data", (d) => chunks.push(d));
        s.on("close", () => resolve(Buffer.concat(chunks)));
        s.on("error", () => {});
      });
      received200 += parseResponses(data).filter((r) => r.status === 200).length;
    }
    expect(await records200(row.id, received200)).toBe(received200);
  });
});

describe("slow clients are cut with 408, and connections per address are capped", () => {
  it("Content-Length: 100 and no body: 408 within the body deadline", async () => {
    const r = await raw([`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nContent-Length: 100\r\n\r\n`], { localAddress: "127.0.2.1" });
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(2500);
    expect(r.responses.map((x) => x.status)).toEqual([408]);
    expect(errorOf(r.responses[0])).toMatchObject({ type: "invalid_request_error", code: "request_timeout" });
  });

  it("a chunked body without its last chunk: 408", async () => {
    const r = await raw([`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"mod\r\n`], { localAddress: "127.0.2.1" });
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(2500);
    expect(r.responses.map((x) => x.status)).toEqual([408]);
  });

  it("headers sent a byte at a time are cut at the headers timeout with 408", async () => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\n`;
    const steps: (string | number)[] = [];
    for (const c of head) steps.push(c, 50);
    const r = await raw(steps, { localAddress: "127.0.2.2", timeoutMs: 8000 });
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(2500);
    expect(r.written).toBeLessThan(head.length);
    expect(r.responses.map((x) => x.status)).toEqual([408]);
  });

  it("a body trickling in is cut; a large body arriving at a fair rate, slower than the base deadline, is served", async () => {
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;
    const trickle: (string | number)[] = [head];
    for (let i = 0; i < 40; i++) trickle.push("          ", 100);
    const slow = await raw(trickle, { localAddress: "127.0.2.3", timeoutMs: 8000 });
    expect(slow.closed).toBe(true);
    expect(slow.ms).toBeLessThan(2500);
    expect(slow.responses.map((x) => x.status)).toEqual([408]);

    const body = Buffer.from(chatBody(model, { messages: [{ role: "user", content: "x".repeat(512 * 1024) }] }));
    const steps: (Buffer | string | number)[] = [post("/v1/chat/completions", "").replace("Content-Length: 0", `Content-Length: ${body.length}`)];
    for (let at = 0; at < body.length; at += 32 * 1024) steps.push(50, body.subarray(at, at + 32 * 1024));
    const fair = await raw(steps, { localAddress: "127.0.2.3", timeoutMs: 8000 });
    expect(fair.ms).toBeGreaterThan(600);
    expect(fair.responses.map((x) => x.status)).toEqual([200]);
  });

  it("idle connections are closed: before a request at the headers timeout, after one at the keep-alive timeout", async () => {
    const idle = await Promise.all(Array.from({ length: 12 }, () => raw([], { localAddress: "127.0.2.4", timeoutMs: 8000 })));
    for (const r of idle) {
      expect(r.closed).toBe(true);
      expect(r.ms).toBeLessThan(2500);
    }
    const kept = await raw([post("/v1/chat/completions", chatBody(model))], { localAddress: "127.0.2.5", timeoutMs: 8000 });
    expect(kept.responses.map((x) => x.status)).toEqual([200]);
    expect(kept.closed).toBe(true);
    expect(kept.ms).toBeLessThan(2500);
  });

  it("caps connections per client address with 429, without touching other addresses", async () => {
    const sockets: net.Socket[] = [];
    const open = (localAddress: string) =>
      new Promise<net.Socket>((resolve) => {
        const s = net.connect({ port: gatewayPort, host: "127.0.0.1", localAddress }, () => resolve(s));
        s.on("error", () => {});
      });
    for (let i = 0; i < 16; i++) sockets.push(await open("127.0.2.6"));
    await sleep(50);
    const refused = await raw([post("/v1/chat/completions", chatBody(model))], { localAddress: "127.0.2.6" });
    expect(refused.closed).toBe(true);
    expect(refused.responses.map((x) => x.status)).toEqual([429]);
    expect(errorOf(refused.responses[0])).toMatchObject({ code: "too_many_connections" });
    const other = await raw([post("/v1/chat/completions", chatBody(model))], { localAddress: "127.0.2.7", timeoutMs: 300 });
    expect(other.responses.map((x) => x.status)).toEqual([200]);
    for (const s of sockets) s.destroy();
    await sleep(100);
    const again = await raw([post("/v1/chat/completions", chatBody(model))], { localAddress: "127.0.2.6", timeoutMs: 300 });
    expect(again.responses.map((x) => x.status)).toEqual([200]);
  });
});

describe("status codes", () => {
  it("414 for an oversized URL, 431 for oversized headers, in OpenAI's shape", async () => {
    for (const size of [9_000, 20_000]) {
      const r = await raw([`GET /v1/models/${"m".repeat(size)} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\n\r\n`], { localAddress: "127.0.3.1" });
      expect(r.responses.map((x) => x.status)).toEqual([414]);
      expect(errorOf(r.responses[0])).toMatchObject({ type: "invalid_request_error", code: "uri_too_long" });
      expect(r.responses[0].body.length).toBeLessThan(1000);
    }
    const h = await raw([`GET /v1/models HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`], { localAddress: "127.0.3.1" });
    expect(h.responses.map((x) => x.status)).toEqual([431]);
    expect(errorOf(h.responses[0])).toMatchObject({ type: "invalid_request_error", code: "headers_too_large" });
  });

  it("a bad chunked body after a 401 gets one response, not two", async () => {
    const head = (k: string) => `POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${k}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const wrongSecret = `${key.slice(0, 17)}${"A".repeat(43)}`;
    const unknownPrefix = `enc_000000000000_${"A".repeat(43)}`;
    for (const k of [wrongSecret, unknownPrefix]) {
      // The bad chunk in the same packet as the head, or sent once the 401 is out.
      for (const steps of [[`${head(k)}ZZZ\r\nnot a chunk\r\n\r\n`], [`${head(k)}5\r\nhello\r\n`, 150, "ZZZ\r\nnot a chunk\r\n\r\n"]]) {
        const r = await raw(steps, { localAddress: "127.0.3.2" });
        expect(r.data.toString("latin1").match(/HTTP\/1\.1 /g)).toHaveLength(1);
        expect([400, 401]).toContain(r.responses[0].status);
        expect(errorOf(r.responses[0]).type).toBe("invalid_request_error");
        expect(r.closed).toBe(true);
      }
    }
  });

  it("a refusal given before a small body has arrived keeps the connection: the next call on it is served", async () => {
    const put = post("/v1/chat/completions", chatBody(model)).replace("POST", "PUT");
    const r = await raw([put + post("/v1/chat/completions", chatBody(model))], { localAddress: "127.0.3.5", timeoutMs: 500 });
    expect(r.responses.map((x) => x.status)).toEqual([405, 200]);
    expect(r.responses[0].headers.connection).not.toBe("close");
  });

  it("an unknown long path is not echoed back in full", async () => {
    const long = `/v1/${"p".repeat(6000)}`;
    const r = await raw([`GET ${long} HTTP/1.1\r\nHost: gw\r\n\r\n`], { localAddress: "127.0.3.3", timeoutMs: 500 });
    expect(r.responses[0].status).toBe(404);
    expect(errorOf(r.responses[0]).code).toBe("unknown_url");
    expect(r.responses[0].body.length).toBeLessThan(600);
  });

  it("an upstream's own 404 and 500 texts are not passed through", async () => {
    const completions = await fetch(`${gw.url}/v1/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: oddModel, prompt: "hi", max_tokens: 2 }),
    });
    const text = await completions.text();
    expect(completions.status).toBe(400);
    expect(JSON.parse(text).error).toMatchObject({ type: "invalid_request_error", code: "model_not_supported", param: "model" });
    expect(text).not.toContain("no route");
    const embeddings = await fetch(`${gw.url}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: oddModel, input: "hi" }),
    });
    const etext = await embeddings.text();
    expect(embeddings.status).toBe(502);
    expect(JSON.parse(etext).error).toMatchObject({ type: "server_error", code: "upstream_error" });
    expect(etext).not.toContain("CUDA");
    expect(etext).not.toContain("/srv");
  });

  it("a request without Host, or with an unknown Expect, is refused in OpenAI's shape", async () => {
    const noHost = await raw([`GET /v1/models HTTP/1.1\r\nAuthorization: Bearer ${key}\r\n\r\n`], { localAddress: "127.0.3.4" });
    expect(noHost.responses.map((x) => x.status)).toEqual([400]);
    expect(errorOf(noHost.responses[0]).type).toBe("invalid_request_error");
    const expect417 = await raw([`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nExpect: teapot\r\nContent-Length: 2\r\n\r\n{}`], { localAddress: "127.0.3.4" });
    expect(expect417.responses.map((x) => x.status)).toEqual([417]);
    expect(errorOf(expect417.responses[0]).type).toBe("invalid_request_error");
  });
});

describe("the OpenAI fields are validated at the edge", () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ["stream: 'yes'", { stream: "yes" }, "stream"],
    ["max_tokens: -1", { max_tokens: -1 }, "max_tokens"],
    ["max_tokens: 1.5", { max_tokens: 1.5 }, "max_tokens"],
    ["max_tokens: 1e308", { max_tokens: 1e308 }, "max_tokens"],
    ["max_tokens: '100'", { max_tokens: "100" }, "max_tokens"],
    ["max_tokens beyond the model's context", { max_tokens: 2049 }, "max_tokens"],
    ["max_completion_tokens beyond the model's context", { max_tokens: undefined, max_completion_tokens: 100_000 }, "max_completion_tokens"],
    ["n: 100", { n: 100 }, "n"],
    ["n: 2 on a llama.cpp deployment", { n: 2 }, "n"],
    ["temperature: 'NaN'", { temperature: "NaN" }, "temperature"],
    ["temperature: 3", { temperature: 3 }, "temperature"],
    ["top_p: 2", { top_p: 2 }, "top_p"],
    ["junk tools", { tools: [{ type: "function", function: { name: "bad name!" } }] }, "tools[0].function.name"],
    ["tools not an array", { tools: "all" }, "tools"],
    ["response_format: 'json'", { response_format: "json" }, "response_format"],
    ["stop: 5 strings", { stop: ["a", "b", "c", "d", "e"] }, "stop"],
    ["a message without a role", { messages: [{ content: "hi" }] }, "messages[0].role"],
    ["no messages", { messages: [] }, "messages"],
    ["a content part of an unknown type", { messages: [{ role: "user", content: [{ type: "video", url: "x" }] }] }, "messages[0].content"],
  ];
  it.each(cases)("%s: 400 invalid_value with the param, never sent upstream", async (_label, extra, param) => {
    const served = fast.served();
    const r = await postChat(gw.url, key, model, {}, extra);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ type: "invalid_request_error", code: "invalid_value", param });
    expect(fast.served()).toBe(served);
  });

  it("completions and embeddings are validated too", async () => {
    const call = (p: string, body: unknown) =>
      fetch(`${gw.url}${p}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) }).then(async (r) => ({
        status: r.status,
        error: ((await r.json()) as { error: { param: string; code: string } }).error,
      }));
    expect(await call("/v1/completions", { model, prompt: { text: "hi" } })).toMatchObject({ status: 400, error: { code: "invalid_value", param: "prompt" } });
    expect(await call("/v1/completions", { model, prompt: "hi", max_tokens: 5000 })).toMatchObject({ status: 400, error: { param: "max_tokens" } });
    expect(await call("/v1/embeddings", { model, input: [] })).toMatchObject({ status: 400, error: { param: "input" } });
    expect(await call("/v1/embeddings", { model, input: "hi", encoding_format: "hex" })).toMatchObject({ status: 400, error: { param: "encoding_format" } });
  });

  it("a request using every documented field correctly is served", async () => {
    const r = await postChat(gw.url, key, model, {}, {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "Bonjour" }, { type: "image_url", image_url: { url: "data:image/png;base64,AA==", detail: "low" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "lookup", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "42" },
      ],
      max_tokens: 2048,
      temperature: 0.2,
      top_p: 1,
      n: 1,
      stop: ["\n"],
      seed: 7,
      presence_penalty: -1,
      frequency_penalty: 2,
      logit_bias: { "50256": -100 },
      user: "u-1",
      tools: [{ type: "function", function: { name: "lookup", description: "d", parameters: { type: "object", properties: { q: { type: "string" } } }, strict: true } }],
      tool_choice: { type: "function", function: { name: "lookup" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object" }, strict: true } },
      logprobs: true,
      top_logprobs: 3,
      stream: false,
      stream_options: null,
      top_k: 40,
    });
    expect(r.status).toBe(200);
  });
});

describe("authentication takes the same time whether the key prefix exists or not", () => {
  it("no threshold on the answer time tells a real key's prefix (wrong secret) from an unknown prefix", async () => {
    // One keep-alive connection, raw: the least noise between the two kinds of call.
    const socket = net.connect({ port: gatewayPort, host: "127.0.0.1", localAddress: "127.0.3.9" });
    await new Promise((r) => socket.once("connect", r));
    let received = Buffer.alloc(0);
    let answered: (() => void) | null = null;
    socket.on("data", (d) => {
      received = Buffer.concat([received, d]);
      const r = parseResponses(received);
      if (r.length > 0 && answered) {
        expect(r[0].status).toBe(401);
        received = Buffer.alloc(0);
        const a = answered;
        answered = null;
        a();
      }
    });
    const body = chatBody(model);
    const time = (k: string) =>
      new Promise<number>((resolve) => {
        const t = performance.now();
        answered = () => resolve(performance.now() - t);
        socket.write(post("/v1/chat/completions", body, {}, k));
      });
    const prefix = key.slice(4, 16);
    const secret = () => randomBytes(32).toString("base64url");
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) await time(`enc_${prefix}_${secret()}`); // warm-up
    for (let i = 0; i < 80; i++) {
      known.push(await time(`enc_${prefix}_${secret()}`));
      unknown.push(await time(`enc_${randomBytes(6).toString("hex")}_${secret()}`));
    }
    socket.destroy();
    // Without the equal answer time the medians differ by about 1 ms (0.5 and 1.1 ms here) and one
    // threshold tells them apart about 90 % of the time. With it, both answer at the 20 ms mark; what
    // remains is scheduling noise. On a loaded machine the unknown prefix's database lookup also
    // moves its median: 0.56 ms in a CI run, 0.52–0.68 ms with both cores kept busy by other
    // processes (2026-12-03), while one threshold still told the two apart only 64–75 % of the
    // time. So the medians get 1 ms here, and the threshold check below is the one that decides.
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    expect(Math.abs(median(known) - median(unknown))).toBeLessThan(1);
    let best = 0;
    for (const t of [...known, ...unknown]) {
      const right = known.filter((x) => x <= t).length + unknown.filter((x) => x > t).length;
      best = Math.max(best, right, known.length + unknown.length - right);
    }
    expect(best / (known.length + unknown.length)).toBeLessThan(0.8);
  });
});

describe("a refused request's body is not read to the end", () => {
  const big = 64 << 20;
  const pump = (head: string, localAddress: string) => {
    const chunk = Buffer.alloc(1 << 20, 0x20);
    const steps: (string | Buffer)[] = [head];
    for (let i = 0; i < 64; i++) steps.push(chunk);
    return raw(steps, { localAddress, timeoutMs: 10_000 });
  };
  it("401 with a 64 MiB body: answered and closed, having read a fraction of it", async () => {
    const r = await pump(`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer enc_000000000000_${"A".repeat(43)}\r\nContent-Length: ${big}\r\n\r\n`, "127.0.4.1");
    expect(r.responses.map((x) => x.status)).toEqual([401]);
    expect(r.responses[0].headers.connection).toBe("close");
    expect(r.closed).toBe(true);
    expect(r.written).toBeLessThan(big / 4);
  });
  it("413 for a declared 64 MiB body, and for a chunked one past the limit", async () => {
    const declared = await pump(`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nContent-Length: ${big}\r\n\r\n`, "127.0.4.2");
    expect(declared.responses.map((x) => x.status)).toEqual([413]);
    expect(declared.closed).toBe(true);
    expect(declared.written).toBeLessThan(big / 4);
    const chunk = Buffer.alloc(1 << 20, 0x20);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    const steps: (string | Buffer)[] = [`POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${key}\r\nTransfer-Encoding: chunked\r\n\r\n`];
    for (let i = 0; i < 64; i++) steps.push(framed);
    const chunked = await raw(steps, { localAddress: "127.0.4.2", timeoutMs: 10_000 });
    expect(chunked.responses.map((x) => x.status)).toEqual([413]);
    expect(chunked.closed).toBe(true);
    expect(chunked.written).toBeLessThan(big / 2);
  });
});

describe("after all of it", () => {
  it("is the same process, still serving", async () => {
    alive();
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    expect((await postChat(gw.url, key, model)).status).toBe(200);
    expect(gw.logs.join("")).not.toContain(key.slice(17));
  });
});
