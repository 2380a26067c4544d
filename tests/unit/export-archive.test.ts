/**
 * The archive's pure parts (server/exports/archive.ts, focus.ts): CSV written and read back
 * whatever the text (quotes, commas, line breaks, characters split across chunks), guardrail
 * outcomes as text and back, and the manifest's signed note — refused under another key, for
 * another digest, or with a signature byte changed.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { noteSignerFromSeed } from "@/server/audit/note";
import { csvLine, csvRecords, signManifestNote, textLines, verifyManifestNote } from "@/server/exports/archive";
import { guardrailCodes, guardrailOutcomesText } from "@/server/exports/focus";

/** Splits text into byte chunks at arbitrary places (UTF-8 sequences cut in two included). */
function chunked(text: string, cuts: number[]): Readable {
  const bytes = Buffer.from(text);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    parts.push(bytes.subarray(last, p));
    last = p;
  }
  parts.push(bytes.subarray(last));
  return Readable.from(parts.filter((p) => p.length > 0));
}

describe("CSV of the export", () => {
  it("reads back every record as written, however the bytes are chunked", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.string({ unit: "grapheme" }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), async (rows, cuts) => {
        const text = rows.map((r) => csvLine(r)).join("");
        const back: string[][] = [];
        for await (const record of csvRecords(chunked(text, cuts))) back.push(record);
        expect(back).toEqual(rows);
      }),
      { numRuns: 200 },
    );
  });

  it("splits JSON Lines across chunks without breaking a character", async () => {
    const lines = ["{\"a\":\"é\"}", "{\"b\":\"漢字\"}", "{\"c\":\"🙂\"}"];
    const back: string[] = [];
    for await (const line of textLines(chunked(`${lines.join("\n")}\n`, [3, 4, 13, 14, 15, 27]))) back.push(line);
    expect(back).toEqual(lines);
  });
});

describe("guardrail outcomes in usage/focus.csv", () => {
  it("go to text and back, none and not-recorded kept apart", () => {
    expect(guardrailOutcomesText([0, 9])).toMatch(/^[a-z]+\.[a-z]+:pass;[a-z]+\.[a-z]+:flagged$/);
    expect(guardrailCodes(guardrailOutcomesText([0, 9, 26])!)).toEqual([0, 9, 26]);
    expect(guardrailCodes("[]")).toEqual([]);
    expect(guardrailCodes("")).toBeNull();
    expect(() => guardrailCodes("pii.input:maybe")).toThrow(/unknown guardrail outcome/);
  });
});

describe("the manifest's signed note", () => {
  const signer = noteSignerFromSeed("enclave.test", randomBytes(32));
  const other = noteSignerFromSeed("enclave.test", randomBytes(32));
  const digest = "ab".repeat(32);

  it("verifies with the signer's key over the manifest's digest", () => {
    expect(verifyManifestNote(signManifestNote(signer, digest), digest, signer.verifierKey)).toBeNull();
  });

  it("is refused under another key, for another digest, or with a changed signature", () => {
    const note = signManifestNote(signer, digest);
    expect(verifyManifestNote(note, digest, other.verifierKey)).toMatch(/does not verify/);
    expect(verifyManifestNote(note, "cd".repeat(32), signer.verifierKey)).toMatch(/another manifest/);
    const line = note.trimEnd().split("\n").at(-1)!;
    const sig = Buffer.from(line.split(" ")[2], "base64");
    sig[10] ^= 1;
    const forged = note.replace(line, `${line.split(" ").slice(0, 2).join(" ")} ${sig.toString("base64")}`);
    expect(verifyManifestNote(forged, digest, signer.verifierKey)).toMatch(/does not verify/);
  });
});
