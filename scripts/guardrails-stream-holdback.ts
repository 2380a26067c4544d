/**
 * What a stream's redaction holds back (docs/guardrails.md, "Personal data" → redaction and
 * streaming): realistic answers streamed through a `StreamRedactor` in deltas of 4 characters, one
 * every 10 ms (~100 tokens/s), counting when the first character leaves and how long each waits.
 * Deterministic (delays are counted in deltas, not timed). `npx tsx scripts/guardrails-stream-holdback.ts
 * [module]`: another build of server/guardrails/pii.ts may be passed to compare.
 */

import * as defaultModule from "../server/guardrails/pii";

type StreamRedactorClass = typeof defaultModule.StreamRedactor;

export const HOLDBACK_TEXTS: Record<string, string> = {
  "French answer with an IBAN and a phone number":
    "Bonjour Madame, merci pour votre message du 12 mars. Votre remboursement de 120,50 € a été validé " +
    "et sera versé sous cinq jours ouvrés sur le compte FR76 3000 6000 0112 3456 7890 189. Si vous " +
    "constatez un écart, appelez notre service client au 01 23 45 67 89 (du lundi au vendredi, de 9 h " +
    "à 18 h) ou répondez simplement à ce courriel. Nous restons à votre disposition. Bien cordialement, " +
    "le service client.",
  "English answer, prose only":
    "Thanks for reaching out. Your order has been shipped and should arrive within three to five " +
    "business days. You can follow it from your account page under Orders; the carrier updates the " +
    "tracking status every few hours. If anything looks wrong when it arrives, reply to this email " +
    "and we will arrange a replacement or a refund, whichever you prefer.",
};

export interface HoldBack {
  characters: number;
  deltas: number;
  /** Time from the first delta to the first character sent, and the characters received by then. */
  firstContentMs: number;
  firstContentAfterChars: number;
  /** Characters held after each delta: mean and maximum. */
  heldMean: number;
  heldMax: number;
  /** How long each character waits between arriving and leaving: mean and 95th percentile. */
  delayMeanMs: number;
  delayP95Ms: number;
}

export function measureHoldBack(
  StreamRedactor: StreamRedactorClass,
  text: string,
  { deltaChars = 4, msPerDelta = 10, lookahead = 64 } = {},
): HoldBack {
  // Without a redactor the output is the original text, so its length counts what was released; the
  // hold-back is the same as when redacting (only the released text is rewritten).
  const stream = new StreamRedactor({ lookahead });
  const arrived: number[] = []; // delta index at which each original character arrived
  const delays: number[] = [];
  let released = 0; // original characters released so far (output length differs when redacted)
  let firstDelta = -1;
  const held: number[] = [];
  const deltas = Math.ceil(text.length / deltaChars);
  for (let k = 0; k <= deltas; k++) {
    const chunk = text.slice(k * deltaChars, (k + 1) * deltaChars);
    for (let i = 0; i < chunk.length; i++) arrived.push(k);
    const out = k < deltas ? stream.push(chunk) : stream.end();
    if (out.length > 0 && firstDelta < 0) firstDelta = k;
    const nowReleased = released + out.length;
    for (; released < nowReleased; released++) delays.push((k - arrived[released]) * msPerDelta);
    if (k < deltas) held.push(arrived.length - released);
  }
  delays.sort((a, b) => a - b);
  return {
    characters: text.length,
    deltas,
    firstContentMs: firstDelta * msPerDelta,
    firstContentAfterChars: Math.min(text.length, (firstDelta + 1) * deltaChars),
    heldMean: held.reduce((a, b) => a + b, 0) / held.length,
    heldMax: Math.max(...held),
    delayMeanMs: delays.reduce((a, b) => a + b, 0) / delays.length,
    delayP95Ms: delays[Math.floor(delays.length * 0.95)],
  };
}

async function main() {
  const path = process.argv[2];
  const mod = (path ? await import(new URL(path, `file://${process.cwd()}/`).href) : defaultModule) as typeof defaultModule;
  for (const [name, text] of Object.entries(HOLDBACK_TEXTS)) {
    const m = measureHoldBack(mod.StreamRedactor, text);
    console.log(
      `${name}: ${m.characters} characters in ${m.deltas} deltas of 4 every 10 ms — first character sent after ${m.firstContentMs} ms ` +
        `(${m.firstContentAfterChars} characters received); held ${m.heldMean.toFixed(1)} characters on average, ${m.heldMax} at most; ` +
        `each character waits ${m.delayMeanMs.toFixed(1)} ms on average, ${m.delayP95Ms} ms at the 95th percentile`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
