/**
 * `npm run bench:grounded`: the CPU cost of the built-in groundedness check
 * (server/guardrails/grounded.ts) on one core, in process — a benchmark, not a test: it asserts
 * nothing, it reports.
 *
 * Sources: the 15 documents of tests/fixtures/guardrails/grounded-samples.json plus three longer
 * ones below (French, German, English), just over 10 KiB of UTF-8 together. Answers: three of ~2 KB, one per
 * language, each the fixture's answers of that language put end to end (grounded and ungrounded).
 * Every call gets a new sources array of new objects holding new strings, as a request parsed from
 * JSON does, so the index (cached by the array's identity only) is built every time.
 *
 * Prints p50 / p95 / mean (ms) of: index + check (what a request pays), the index alone, the check
 * alone (index already built). BENCH_RUNS (default 600) timed calls after BENCH_WARMUP (200).
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { checkGroundedness, indexGroundingSources, type GroundingSource } from "../server/guardrails/grounded";

const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const RUNS = num("BENCH_RUNS", 600);
const WARMUP = num("BENCH_WARMUP", 200);

const fixture = JSON.parse(readFileSync(new URL("../tests/fixtures/guardrails/grounded-samples.json", import.meta.url), "utf8")) as {
  sourceSets: Record<string, GroundingSource[]>;
  samples: { language: string; answer: string }[];
};

const EXTRA: GroundingSource[] = [
  {
    id: "compte-rendu-cse",
    title: "Compte rendu du CSE du 18 septembre 2025 — Hexacloud SAS",
    text:
      "Le comité social et économique s'est réuni le 18 septembre 2025 au siège de Lyon, sous la présidence de Claire Morvan. " +
      "Étaient présents 11 élus titulaires sur 12, ainsi que Mme Sophie Garnier, responsable des ressources humaines, et M. Julien Perrault, directeur financier. " +
      "La direction a présenté le plan de recrutement 2026 : 64 postes ouverts, dont 38 à Strasbourg, 17 à Nantes et 9 à Lyon, pour une masse salariale supplémentaire estimée à 3,9 millions d'euros. " +
      "L'enveloppe d'augmentations individuelles est fixée à 2,8 % de la masse salariale, avec un plancher de 600 € bruts annuels pour les salaires inférieurs à 36 000 €. " +
      "Le taux d'absentéisme du premier semestre s'établit à 4,1 %, contre 4,6 % un an plus tôt. " +
      "Le projet de centre de données de Strasbourg est en avance : la mise en service des 1 200 serveurs GPU est avancée au 1er décembre 2025. " +
      "Les élus ont demandé une expertise sur les conditions de travail des équipes d'astreinte, confiée au cabinet Secafi, pour un coût de 28 500 € HT. " +
      "La prochaine réunion est fixée au 16 octobre 2025 à 9 h 30. Le procès-verbal sera diffusé sur l'intranet sous 15 jours.",
  },
  {
    id: "quartalsbericht",
    title: "Quartalsmitteilung Q3 2025 — Nordwind Energie AG",
    text:
      "Die Nordwind Energie AG hat in den ersten neun Monaten 2025 einen Umsatz von 1,41 Mrd. Euro erzielt, 4,7 Prozent mehr als im Vorjahreszeitraum. " +
      "Das bereinigte EBITDA stieg auf 286,3 Mio. Euro, die EBITDA-Marge lag bei 20,3 Prozent. " +
      "Die Stromerzeugung aus Windkraft an Land erreichte 3.912 GWh, davon 1.248 GWh im dritten Quartal. " +
      "Der Windpark Nordsee Ost II mit 42 Anlagen und einer Leistung von 504 MW wurde am 14. August 2025 in Betrieb genommen. " +
      "Finanzvorständin Dr. Katrin Seidel bestätigte die Prognose für das Gesamtjahr: ein Umsatz zwischen 1,9 und 2,0 Mrd. Euro und ein bereinigtes EBITDA von rund 380 Mio. Euro. " +
      "Die Nettoverschuldung betrug zum 30.09.2025 noch 742 Mio. Euro nach 815 Mio. Euro Ende 2024. " +
      "Die Zahl der Beschäftigten stieg auf 2.318 (Vorjahr: 2.204). " +
      "Der Aufsichtsrat unter Vorsitz von Prof. Matthias Brandt hat die Verlängerung des Vertrags von Dr. Henrik Albers bis zum 31. Dezember 2029 beschlossen. " +
      "Im Segment Netze investierte das Unternehmen 118,4 Mio. Euro, vor allem in den Ausbau des Umspannwerks Brunsbüttel, dessen erste Ausbaustufe am 3. November 2025 ans Netz ging. " +
      "Die Eigenkapitalquote verbesserte sich auf 38,9 Prozent. Für Rückfragen steht die Abteilung Investor Relations unter Leitung von Jana Petersen zur Verfügung. " +
      "Die Mitteilung für das Geschäftsjahr 2025 erscheint am 12. März 2026.",
  },
  {
    id: "board-minutes",
    title: "Minutes of the Board of Directors — Brightline Analytics, Inc.",
    text:
      "The Board of Directors met on October 21, 2025 in Boston, Massachusetts, with all nine directors present. " +
      "Chief Executive Officer Dana Whitfield reviewed third-quarter performance: revenue of $412.7 million, subscription revenue of $331.9 million (80.4% of the total) and an operating margin of 18.6%. " +
      "Chief Financial Officer Priya Raman presented the capital allocation plan, including a share repurchase program of up to $250 million over 24 months and a quarterly dividend of $0.35 per share. " +
      "The Audit Committee, chaired by Michael O'Connor, reported that the external auditor, Ernst & Young LLP, had raised no material weaknesses. " +
      "The Board approved the acquisition of Lumen Data GmbH, based in Munich, for €86 million in cash, expected to close in the first quarter of 2026 subject to regulatory approval. " +
      "Headcount stood at 3,140 employees at September 30, 2025, including 612 in Europe. " +
      "The Compensation Committee proposed a 3.5% increase in the annual retainer for independent directors, to $95,000. " +
      "The next meeting will be held on January 27, 2026 at 10:00 a.m. Eastern Time.",
  },
  {
    id: "contrat-hebergement",
    title: "Contrat d'hébergement n° 2025-117 — Ville de Grenoble",
    text:
      "Entre la Ville de Grenoble, représentée par son maire, et la société Hexacloud SAS, au capital de 2 500 000 €, immatriculée au RCS de Lyon, il est convenu ce qui suit. " +
      "Article 1 : Hexacloud héberge les applications métier de la Ville dans son centre de données de Lyon, qualifié SecNumCloud par l'ANSSI, avec une réplication vers le site de Nantes. " +
      "Article 2 : le contrat prend effet le 1er février 2025 pour une durée de 36 mois, renouvelable une fois par reconduction expresse. " +
      "Article 3 : le prix annuel est de 184 300 € HT, révisable chaque année selon l'indice Syntec, dans la limite de 3 % par an. " +
      "Article 4 : la disponibilité garantie est de 99,95 % par mois ; en dessous, des pénalités de 2 % du montant mensuel s'appliquent par tranche de 0,1 point manquant, plafonnées à 15 %. " +
      "Article 5 : le délai de rétablissement d'un incident de priorité 1 est de 4 heures, celui d'un incident de priorité 2 de 24 heures. " +
      "Article 6 : les sauvegardes sont conservées 35 jours, et un test de restauration est réalisé chaque trimestre en présence de la Direction des systèmes d'information. " +
      "Article 7 : en fin de contrat, Hexacloud restitue les données dans un délai de 30 jours puis les efface, procès-verbal à l'appui. " +
      "Fait à Grenoble, le 20 janvier 2025, en deux exemplaires originaux.",
  },
];

const SOURCES: GroundingSource[] = [...Object.values(fixture.sourceSets).flat(), ...EXTRA];
const sourceBytes = SOURCES.reduce((n, s) => n + Buffer.byteLength(s.text) + (s.title ? Buffer.byteLength(s.title) : 0), 0);

function answerOf(language: string): string {
  let out = "";
  for (const s of fixture.samples) {
    if (s.language !== language) continue;
    if (Buffer.byteLength(out) >= 2048) break;
    out += (out ? " " : "") + s.answer;
  }
  return out;
}
const ANSWERS = ["fr", "de", "en"].map(answerOf);

/** A new array of new objects with new strings (a request's JSON.parse gives the same). */
const freshSources = (): GroundingSource[] => JSON.parse(JSON.stringify(SOURCES)) as GroundingSource[];

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}
const fmt = (x: number) => x.toFixed(3).padStart(7);

function main() {
  const total: number[] = [], index: number[] = [], check: number[] = [];
  let sink = 0;
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const answer = ANSWERS[i % ANSWERS.length];
    const a = freshSources();
    const t0 = performance.now();
    sink += checkGroundedness(answer, a).score;
    const t1 = performance.now();
    const b = freshSources();
    const t2 = performance.now();
    indexGroundingSources(b);
    const t3 = performance.now();
    sink += checkGroundedness(answer, b).unsupported.length;
    const t4 = performance.now();
    if (i >= WARMUP) {
      total.push(t1 - t0);
      index.push(t3 - t2);
      check.push(t4 - t3);
    }
  }
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`built-in groundedness: ${SOURCES.length} sources, ${(sourceBytes / 1024).toFixed(1)} KiB of UTF-8; answers ${ANSWERS.map((a) => `${(Buffer.byteLength(a) / 1024).toFixed(1)} KB`).join(" / ")} (fr / de / en)`);
  console.log(`${RUNS} timed calls after ${WARMUP}; Node ${process.version}, ${os.cpus().length} cores, load average ${load}`);
  console.log("                    p50      p95     mean  (ms)");
  for (const [name, ms] of [["index + check", total], ["index only", index], ["check only", check]] as const) {
    const r = stats(ms);
    console.log(`${name.padEnd(15)} ${fmt(r.p50)}  ${fmt(r.p95)}  ${fmt(r.mean)}`);
  }
  if (sink < 0) console.log(sink);
}

main();
