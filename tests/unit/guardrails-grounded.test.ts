import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { checkGroundedness, MAX_GROUNDING_BYTES, parseGrounding, type GroundingSource } from "@/server/guardrails/grounded";

/** The text of each unsupported span, to read the expectations (the verdict itself holds positions only). */
const flagged = (answer: string, sources: GroundingSource[]) =>
  checkGroundedness(answer, sources).unsupported.map((u) => `${u.kind}:${answer.slice(u.start, u.end)}`);

const fr: GroundingSource[] = [
  {
    id: "rapport-2024",
    title: "Rapport annuel 2024 — Hexacloud SAS",
    text: "En 2024, Hexacloud SAS a réalisé un chiffre d'affaires de 48,6 millions d'euros, en hausse de 17,3 % par rapport à 2023. Le résultat net s'établit à 3 120 000 €. L'entreprise compte 412 salariés répartis entre Lyon, Nantes et Strasbourg. Le conseil d'administration, présidé par Claire Morvan, a approuvé les comptes le 14 mars 2025.",
  },
  { id: "communique", text: "« Notre ambition est de rester un acteur de confiance pour les données sensibles », a déclaré Claire Morvan. Le site de Strasbourg accueillera 1 200 serveurs GPU pour un investissement de 22 M€." },
];
const de: GroundingSource[] = [
  {
    id: "geschaeftsbericht",
    text: "Die Nordwind Energie AG erzielte 2024 einen Umsatz von 1,84 Mrd. Euro, ein Plus von 6,2 Prozent. Die Hauptversammlung findet am 22. Mai 2025 in Hamburg statt. Vorstandsvorsitzender ist Dr. Henrik Albers. Die Kaution beträgt 1.200 €.",
  },
];
const en: GroundingSource[] = [
  {
    id: "q3",
    text: "Brightline Analytics reported third-quarter revenue of $412.7 million, up 9.8% year over year. Chief Executive Officer Dana Whitfield said the results reflected strong demand in Europe. The dividend of $0.35 per share is payable on November 15, 2024.",
  },
];

describe("checkGroundedness on real answers", () => {
  it("passes grounded answers in French, German and English", () => {
    const answers: [string, GroundingSource[]][] = [
      ["En 2024, Hexacloud SAS a réalisé un chiffre d'affaires de 48,6 M€, en hausse de 17,3 % [rapport-2024]. Les comptes ont été approuvés le 14/03/2025 par Claire Morvan [1].", fr],
      ["Selon Claire Morvan, « notre ambition est de rester un acteur de confiance pour les données sensibles » [2].", fr],
      ["Die Nordwind Energie AG steigerte den Umsatz auf 1,84 Milliarden Euro (+6,2 %). Die Hauptversammlung ist am 22.05.2025 in Hamburg; Vorstandschef ist Henrik Albers.", de],
      ["Brightline Analytics reported Q3 revenue of $412.7 million, up 9.8%. Dana Whitfield pointed to strong demand in Europe [q3]. The dividend is payable on 15 November 2024.", en],
    ];
    for (const [answer, sources] of answers) {
      const r = checkGroundedness(answer, sources);
      expect(flagged(answer, sources), answer).toEqual([]);
      expect(r.score).toBe(1);
      expect(r.unsupportedSentences).toBe(0);
    }
  });

  it("catches an ungrounded French answer with the right kinds and positions", () => {
    const answer = "Hexacloud emploie 450 salariés. Le chiffre d'affaires atteint 52,4 millions d'euros [3]. Les comptes ont été approuvés le 21 mars 2025 par Jean-Marc Lefèvre, qui a déclaré « nous voulons devenir le leader européen du cloud ».";
    const r = checkGroundedness(answer, fr);
    expect(r.sentences).toBe(3);
    expect(r.unsupportedSentences).toBe(3);
    expect(r.unsupported.map((u) => [u.kind, answer.slice(u.start, u.end), u.sentence])).toEqual([
      ["number", "450", 0],
      ["amount", "52,4 millions d'euros", 1],
      ["citation", "[3]", 1],
      ["date", "21 mars 2025", 2],
      ["entity", "Jean-Marc Lefèvre", 2],
      ["quote", "« nous voulons devenir le leader européen du cloud »", 2],
    ]);
    expect(r.score).toBe(0);
  });

  it("catches an ungrounded German answer", () => {
    const answer = "Der Umsatz stieg um 8,1 Prozent. Die Hauptversammlung findet am 15. Juni 2025 statt. Vorstandsvorsitzende ist Dr. Sabine Köhler.";
    expect(flagged(answer, de)).toEqual(["amount:8,1 Prozent", "date:15. Juni 2025", "entity:Sabine Köhler"]);
    expect(checkGroundedness(answer, de).sentences).toBe(3);
  });

  it("catches an ungrounded English answer, and scores the share of supported claims", () => {
    const answer = "Revenue was $431.2 million, up 9.8%. Chief Financial Officer Mark Ellison cited demand in Europe. The dividend is payable on December 15, 2024.";
    expect(flagged(answer, en)).toEqual(["amount:$431.2 million", "entity:Chief Financial Officer Mark Ellison", "date:December 15, 2024"]);
    // Claims: $431.2 million, 9.8%, the entity, Europe, the date: 2 of 5 supported.
    expect(checkGroundedness(answer, en).score).toBe(0.4);
  });

  it("flags a citation to a source that does not exist, by index or by id", () => {
    expect(flagged("Le résultat net est de 3,12 M€ [1][2].", fr)).toEqual([]);
    expect(flagged("Le résultat net est de 3,12 M€ [3].", fr)).toEqual(["citation:[3]"]);
    expect(flagged("Le résultat net est de 3,12 M€ [rapport-2023].", fr)).toEqual(["citation:[rapport-2023]"]);
    // "[doc2]" names the second source when no source has that id.
    expect(flagged("Le résultat net est de 3,12 M€ [doc2].", fr)).toEqual([]);
    expect(flagged("Le résultat net est de 3,12 M€ [doc3].", fr)).toEqual(["citation:[doc3]"]);
    expect(flagged("Le résultat net est de 3,12 M€ 【2】, voir [1, 4].", fr)).toEqual(["citation:[1, 4]"]);
    // Markdown links and editorial brackets are not citations.
    expect(flagged("Voir [le rapport](https://example.com/rapport) [sic].", fr)).toEqual([]);
  });

  it("normalises dates across languages and formats", () => {
    const src: GroundingSource[] = [{ id: "a", text: "Le contrat a été signé le 3 mars 2025." }];
    for (const d of ["3 March 2025", "March 3, 2025", "3 mars 2025", "3. März 2025", "2025-03-03", "03.03.2025", "03/03/2025", "le 3 mars", "mars 2025"]) {
      expect(flagged(`Signed on ${d}.`, src), d).toEqual([]);
    }
    expect(flagged("Signed on 4 March 2025.", src)).toEqual(["date:4 March 2025"]);
    expect(flagged("Unterzeichnet am 3. April 2025.", src)).toEqual(["date:3. April 2025"]);
  });

  it("normalises amounts and percentages across languages", () => {
    const src: GroundingSource[] = [{ id: "a", text: "Le taux atteint 12,5 %. Le loyer est de 1 200 €. Le budget est de 1,2 million d'euros." }];
    for (const a of ["12.5%", "12,5 %", "12,5 Prozent", "12.5 percent", "€1,200", "1.200 Euro", "EUR 1200", "1 200 euros", "€1.2m", "1,2 Mio. €", "1.2 million euros", "€1,200,000"]) {
      expect(flagged(`Montant : ${a}.`, src), a).toEqual([]);
    }
    for (const a of ["13.5%", "€1,300", "1,3 Mio. €", "$1,200"]) expect(flagged(`Montant : ${a}.`, src), a).toHaveLength(1);
    // Less precision than the source is a rounding, not a new figure.
    expect(flagged("Le taux est d'environ 12 % et le budget de 1 million d'euros.", [{ id: "a", text: "Taux : 12,4 %. Budget : 1 040 000 €." }])).toEqual([]);
  });

  it("does not flag counts, list numbers, sentence-initial words or German nouns", () => {
    const src: GroundingSource[] = [{ id: "a", text: "Die Firma bietet Wartung und Beratung an." }];
    expect(flagged("Es gibt 2 Angebote:\n1. Wartung\n2. Beratung\nDiese Leistungen bietet die Firma an.", src)).toEqual([]);
  });

  it("returns positions only: no text of the answer or the sources in the verdict", () => {
    const answer = "Le contrat de Jeanne Martin (jeanne.martin@exemple.fr) vaut 9 999 €, selon « une clause secrète ».";
    const r = checkGroundedness(answer, fr);
    expect(r.unsupported.length).toBeGreaterThan(0);
    const json = JSON.stringify(r);
    for (const word of ["Jeanne", "Martin", "exemple", "9 999", "secrète"]) expect(json).not.toContain(word);
  });

  it("gives a score of 1 to an answer with nothing to check", () => {
    expect(checkGroundedness("Je ne sais pas.", fr)).toEqual({ score: 1, sentences: 1, unsupportedSentences: 0, unsupported: [] });
  });
});

describe("the labelled sample set", () => {
  const fixture = JSON.parse(readFileSync("tests/fixtures/guardrails/grounded-samples.json", "utf8")) as {
    sourceSets: Record<string, GroundingSource[]>;
    samples: { id: string; language: string; sources: string; answer: string; grounded: boolean; note?: string }[];
  };

  it("holds at least 60 labelled samples in French, German and English, both grounded and not", () => {
    expect(fixture.samples.length).toBeGreaterThanOrEqual(60);
    for (const lang of ["fr", "de", "en"]) {
      const of = fixture.samples.filter((s) => s.language === lang);
      expect(of.some((s) => s.grounded) && of.some((s) => !s.grounded), lang).toBe(true);
    }
    for (const s of fixture.samples) expect(fixture.sourceSets[s.sources], s.id).toBeDefined();
  });

  it("flags no grounded sample but those with a figure computed from the sources (a documented limit)", () => {
    const falseAlarms = fixture.samples.filter((s) => s.grounded && checkGroundedness(s.answer, fixture.sourceSets[s.sources]).unsupported.length > 0);
    const computed = fixture.samples.filter((s) => s.grounded && s.note?.includes("computed"));
    expect(computed.length).toBeGreaterThan(0);
    expect(falseAlarms.map((s) => s.id).sort()).toEqual(computed.map((s) => s.id).sort());
  });

  it("catches most ungrounded samples: every one with a wrong figure, date, name, quote or citation", () => {
    const checkable = fixture.samples.filter((s) => !s.grounded && /wrong|invented|citation/.test(s.note ?? "") && !/elsewhere/.test(s.note ?? ""));
    expect(checkable.length).toBeGreaterThanOrEqual(25);
    const missed = checkable.filter((s) => checkGroundedness(s.answer, fixture.sourceSets[s.sources]).unsupported.length === 0).map((s) => s.id);
    expect(missed).toEqual([]);
  });
});

describe("parseGrounding", () => {
  it("reads the extension field, or null without one", () => {
    expect(parseGrounding({ model: "m" })).toEqual({ ok: true, sources: null });
    expect(parseGrounding({ grounding: { sources: [{ id: "doc1", title: "T", text: "x" }, { id: "doc2", text: "y" }] } })).toEqual({
      ok: true,
      sources: [{ id: "doc1", title: "T", text: "x" }, { id: "doc2", text: "y" }],
    });
  });

  it("refuses malformed or oversized grounding with precise messages", () => {
    const cases: [unknown, string, string][] = [
      ["docs", "grounding", "expected an object"],
      [{ sources: "x" }, "grounding.sources", "expected an array"],
      [{ sources: [] }, "grounding.sources", "at least one source"],
      [{ sources: Array.from({ length: 33 }, (_, i) => ({ id: `d${i}`, text: "x" })) }, "grounding.sources", "at most 32 sources, got 33"],
      [{ sources: [{ id: "a", text: "x" }, { id: "a", text: "y" }] }, "grounding.sources[1].id", "ids must be unique"],
      [{ sources: [{ id: "", text: "x" }] }, "grounding.sources[0].id", "non-empty string"],
      [{ sources: [{ id: "a", text: 3 }] }, "grounding.sources[0].text", "expected a string"],
      [{ sources: [{ id: "a", text: "x", title: 1 }] }, "grounding.sources[0].title", "expected a string"],
      [{ sources: [{ id: "a", text: "é".repeat(MAX_GROUNDING_BYTES / 2 + 1) }] }, "grounding.sources", "more than 262144 bytes"],
    ];
    for (const [grounding, param, words] of cases) {
      const r = parseGrounding({ grounding });
      expect(r.ok, param).toBe(false);
      if (!r.ok) {
        expect(r.param).toBe(param);
        expect(r.message).toContain(`Invalid '${param}'`);
        expect(r.message).toContain(words);
      }
    }
  });
});
