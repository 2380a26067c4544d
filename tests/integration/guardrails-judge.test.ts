import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkGroundedness, type GroundingSource } from "@/server/guardrails/grounded";
import { judgeMessages, parseJudgeReply, verifyOverHttp } from "@/server/guardrails/judge";

const sources: GroundingSource[] = [
  { id: "geschaeftsbericht", title: "Geschäftsbericht 2024", text: "Die Nordwind Energie AG erzielte 2024 einen Umsatz von 1,84 Mrd. Euro. Die Hauptversammlung findet am 22. Mai 2025 in Hamburg statt." },
];
const grounded = "Der Umsatz lag 2024 bei 1,84 Mrd. Euro. Die Hauptversammlung ist am 22. Mai 2025.";
const ungrounded = "Der Umsatz lag 2024 bei 2,1 Mrd. Euro. Die Hauptversammlung ist am 23. Mai 2025 in Hamburg.";

/**
 * A stand-in verifier: a real HTTP server speaking the documented contract, as an adapter in front
 * of LettuceDetect or HHEM would. It judges with the built-in check (span scores 1); other paths
 * misbehave on purpose.
 */
let standIn: Server;
let base = "";
const received: { path: string; contentType: string | undefined; body: unknown }[] = [];

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

beforeAll(async () => {
  standIn = createServer(async (req, res) => {
    const raw = await readBody(req);
    const body = JSON.parse(raw) as { sources: GroundingSource[]; answer: string };
    received.push({ path: req.url ?? "", contentType: req.headers["content-type"], body });
    const reply = (status: number, payload: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(payload);
    };
    switch (req.url) {
      case "/verify": {
        const r = checkGroundedness(body.answer, body.sources);
        return reply(200, JSON.stringify({ score: r.score, unsupported: r.unsupported.map((u) => ({ start: u.start, end: u.end, score: 1 })) }));
      }
      case "/slow":
        return setTimeout(() => reply(200, JSON.stringify({ score: 1, unsupported: [] })), 2_000);
      case "/error":
        // A failing verifier echoing what it was sent: none of it may reach the error message.
        return reply(500, JSON.stringify({ error: `cannot judge: ${body.answer}` }));
      case "/not-json":
        return reply(200, `<html>${body.answer}</html>`);
      case "/out-of-contract":
        return reply(200, JSON.stringify({ score: 1.7, unsupported: [], note: body.answer }));
      case "/span-outside":
        return reply(200, JSON.stringify({ score: 0.5, unsupported: [{ start: 10, end: body.answer.length + 5 }] }));
      default:
        return reply(404, "{}");
    }
  });
  await new Promise<void>((resolve) => standIn.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(standIn.address() as AddressInfo).port}`;
});

afterAll(async () => {
  standIn.closeAllConnections();
  await new Promise((resolve) => standIn.close(resolve));
});

describe("verifyOverHttp against a stand-in verifier", () => {
  it("posts the documented body and returns the score and spans", async () => {
    const ok = await verifyOverHttp(`${base}/verify`, { sources, answer: grounded });
    expect(ok).toEqual({ score: 1, unsupported: [] });
    const sent = received.at(-1)!;
    expect(sent.contentType).toBe("application/json");
    expect(sent.body).toEqual({ sources, answer: grounded });

    const bad = await verifyOverHttp(`${base}/verify`, { sources, answer: ungrounded });
    expect(bad.score).toBeLessThan(1);
    expect(bad.unsupported.map((u) => ungrounded.slice(u.start, u.end))).toEqual(["2,1 Mrd. Euro", "23. Mai 2025"]);
  });

  it("rejects a timeout, an error status, a reply that is not JSON or breaks the contract — with no text in the message", async () => {
    const cases: [string, RegExp][] = [
      ["/slow", /no answer within 300 ms/],
      ["/error", /HTTP 500/],
      ["/not-json", /not JSON/],
      ["/out-of-contract", /does not follow the contract at 'score'/],
      ["/span-outside", /unsupported\[0\] ends after the answer/],
    ];
    for (const [path, message] of cases) {
      const err = await verifyOverHttp(`${base}${path}`, { sources, answer: ungrounded }, { timeoutMs: 300 }).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, path).toBeInstanceOf(Error);
      expect(err!.message, path).toMatch(message);
      for (const word of ["Hamburg", "Nordwind", "Hauptversammlung", "Umsatz", "Mrd"]) expect(err!.message, path).not.toContain(word);
    }
  });

  it("rejects when the caller cancels, and when nothing listens", async () => {
    const controller = new AbortController();
    const pending = verifyOverHttp(`${base}/slow`, { sources, answer: grounded }, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(/cancelled/);
    // A port that was just closed: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(verifyOverHttp(`http://127.0.0.1:${port}/verify`, { sources, answer: grounded })).rejects.toThrow(/request failed \(ECONNREFUSED\)/);
    await expect(verifyOverHttp("file:///etc/passwd", { sources, answer: grounded })).rejects.toThrow(/http or https/);
  });
});

describe("a deployment as the judge: its prompt and its reply", () => {
  it("tags each sentence of the answer with its span, so the model copies offsets instead of counting", () => {
    const messages = judgeMessages(sources, ungrounded);
    expect(messages.map((m) => m.role)).toEqual(["system", "user"]);
    const user = messages[1].content;
    expect(user).toContain('<source n="1" id="geschaeftsbericht" title="Geschäftsbericht 2024">');
    const tags = [...user.matchAll(/\[(\d+)-(\d+)\] ([^\n]*)/g)];
    expect(tags).toHaveLength(2);
    for (const t of tags) expect(ungrounded.slice(+t[1], +t[2])).toBe(t[3]);
  });

  it("reads a usable reply, fenced or wrapped in prose, and refuses an unusable one", () => {
    expect(parseJudgeReply('{"score": 0.5, "unsupported": [{"start": 41, "end": 97}]}')).toEqual({ score: 0.5, unsupported: [{ start: 41, end: 97 }] });
    expect(parseJudgeReply('Voici mon évaluation :\n```json\n{"score": 1, "unsupported": []}\n```')).toEqual({ score: 1, unsupported: [] });
    expect(parseJudgeReply('{"score": 80, "unsupported": [[0, 12]]}')).toEqual({ score: 0.8, unsupported: [{ start: 0, end: 12 }] });
    expect(parseJudgeReply("The answer is fully supported.")).toBeNull();
    expect(parseJudgeReply('{"score": "high"}')).toBeNull();
    expect(parseJudgeReply('{"score": 0.4, "unsupported": [{"start": 30, "end": 10}]}')).toBeNull();
    expect(parseJudgeReply('{"score": 250, "unsupported": []}')).toBeNull();
  });
});
