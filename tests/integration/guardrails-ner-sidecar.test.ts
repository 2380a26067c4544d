import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectPersons, nerSidecarFromEnv } from "@/server/guardrails/ner-sidecar";

// A stand-in NER sidecar over real HTTP: it "recognises" capitalised words from a fixed list of
// first and last names, which is enough to exercise the contract (not a recogniser).
const STAND_IN_NAMES = ["Claire", "Dubois", "Hans", "Becker"];
const received: { text: string; language?: string; contentType?: string }[] = [];
let behaviour: "names" | "slow" | "500" | "garbage" | "bad-shape" | "out-of-range" = "names";

async function readJson(req: IncomingMessage): Promise<{ text: string; language?: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function standInSidecar(req: IncomingMessage, res: ServerResponse) {
  void readJson(req).then((body) => {
    received.push({ ...body, contentType: req.headers["content-type"] });
    const send = (status: number, payload: string) => res.writeHead(status, { "content-type": "application/json" }).end(payload);
    if (behaviour === "slow") return void setTimeout(() => send(200, '{"entities":[]}'), 1_000);
    if (behaviour === "500") return send(500, JSON.stringify({ error: `could not process ${body.text}` }));
    if (behaviour === "garbage") return send(200, `not json ${body.text}`);
    if (behaviour === "bad-shape") return send(200, JSON.stringify({ entities: [{ type: "PERSON", start: "0", end: 3 }] }));
    if (behaviour === "out-of-range") return send(200, JSON.stringify({ entities: [{ type: "PERSON", start: 0, end: body.text.length + 5, score: 0.9 }] }));
    const entities: { type: string; start: number; end: number; score: number }[] = [];
    for (const m of body.text.matchAll(/\p{Lu}\p{Ll}+(?: \p{Lu}\p{Ll}+)?/gu)) {
      if (m[0].split(" ").every((w) => STAND_IN_NAMES.includes(w))) entities.push({ type: "PERSON", start: m.index, end: m.index + m[0].length, score: 0.85 });
    }
    entities.push({ type: "LOCATION", start: 0, end: 1, score: 0.5 }); // other types are ignored
    send(200, JSON.stringify({ entities }));
  });
}

let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer(standInSidecar);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/analyze`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("the NER sidecar contract (against a stand-in sidecar)", () => {
  it("posts the text and language as JSON and returns PERSON findings with the sidecar's scores", async () => {
    behaviour = "names";
    const text = "Bonjour, ici Claire Dubois ; mon collègue Hans Becker vous rappellera.";
    const findings = await detectPersons(text, { url, language: "fr" });
    expect(received.at(-1)).toEqual({ text, language: "fr", contentType: "application/json" });
    expect(findings.map((f) => [text.slice(f.start, f.end), f.type, f.score])).toEqual([
      ["Claire Dubois", "PERSON", 0.85],
      ["Hans Becker", "PERSON", 0.85],
    ]);
  });

  it("rejects on a timeout, an HTTP error, invalid JSON, a wrong shape or out-of-range offsets, never quoting the text", async () => {
    const text = "Le patient Claire Dubois, né le 12 mars.";
    const cases = [
      ["slow", /within 100 ms/],
      ["500", /HTTP 500/],
      ["garbage", /invalid JSON/],
      ["bad-shape", /does not match the contract/],
    ] as const;
    for (const [b, message] of cases) {
      behaviour = b;
      // Only the slow case may run into the timeout (the machine may be busy).
      const error = await detectPersons(text, { url, timeoutMs: b === "slow" ? 100 : 5_000 }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain("Dubois");
      expect((error as Error).message).not.toContain("patient");
    }
    behaviour = "out-of-range";
    expect(await detectPersons(text, { url })).toEqual([]);
  });

  it("rejects when the caller aborts and when nothing listens", async () => {
    behaviour = "slow";
    const controller = new AbortController();
    const pending = detectPersons("Hans Becker", { url, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(/aborted/);
    await expect(detectPersons("Hans Becker", { url: "http://127.0.0.1:1/analyze" })).rejects.toThrow(/unreachable/);
  });

  it("is configured by GUARDRAILS_NER_URL and GUARDRAILS_NER_TIMEOUT_MS", () => {
    expect(nerSidecarFromEnv({})).toBeNull();
    expect(nerSidecarFromEnv({ GUARDRAILS_NER_URL: "http://ner:3000/analyze" })).toEqual({ url: "http://ner:3000/analyze", timeoutMs: 500 });
    expect(nerSidecarFromEnv({ GUARDRAILS_NER_URL: "http://ner:3000/analyze", GUARDRAILS_NER_TIMEOUT_MS: "250" })?.timeoutMs).toBe(250);
    expect(() => nerSidecarFromEnv({ GUARDRAILS_NER_URL: "http://ner", GUARDRAILS_NER_TIMEOUT_MS: "soon" })).toThrow(/positive integer/);
  });
});
