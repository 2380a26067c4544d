import { randomBytes } from "node:crypto";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { DEMO_LOGINS, expectNoSidewaysScroll, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ORG = "hopital-rive-gauche";
const MODEL = "tiny-demo";
/** The workers roll new requests up every ~15 s and the dashboards refetch every 30 s: within a minute, more on a busy machine. */
const ROLLUP_WAIT = { timeout: 150_000, intervals: [1_000, 2_000, 5_000] };
// A valid IBAN (its check digits hold) and an address: what a patient might paste into a prompt.
const IBAN = "FR76 3000 6000 0112 3456 7890 189";
const EMAIL = "claire.martin@exemple.fr";

interface RuleCounts {
  rule: string;
  checked: number;
  flagged: number;
  failed: number;
}

async function piiInputFlagged(page: Page, query = "period=24h") {
  const res = await page.request.get(`/api/v1/orgs/${ORG}/usage/guardrails?${query}`);
  expect(res.status()).toBe(200);
  return ((await res.json()).rules as RuleCounts[]).find((r) => r.rule === "pii.input")!.flagged;
}

const countOf = async (cell: Locator) => ((await cell.count()) ? Number(await cell.getAttribute("data-count")) : 0);

test("a prompt with personal data through the real gateway: its verdict in the trace view, counted on the usage, deployment and compliance pages", async ({ page, baseURL }) => {
  test.setTimeout(360_000);
  await signIn(page, claire.email, claire.password);
  await expect
    .poll(
      async () => {
        const list = await (await page.request.get(`/api/v1/orgs/${ORG}/deployments?limit=200`)).json();
        return (list.items as { name: string; phase: string }[]).find((d) => d.name === MODEL)?.phase;
      },
      { timeout: 120_000, intervals: [1_000] },
    )
    .toBe("RUNNING");
  const deployments = (await (await page.request.get(`/api/v1/orgs/${ORG}/deployments?limit=200`)).json()).items as { id: string; name: string }[];
  const deploymentId = deployments.find((d) => d.name === MODEL)!.id;
  const made = await page.request.post(`/api/v1/orgs/${ORG}/api-keys`, { headers: { origin: baseURL!, "content-type": "application/json" }, data: { name: "e2e guardrails", scopes: ["inference"] } });
  expect(made.status()).toBe(200);
  const { key } = (await made.json()) as { key: string };
  const gateway = (await (await page.request.get(`/api/v1/orgs/${ORG}/gateway`)).json()).baseUrl as string;
  const before = await piiInputFlagged(page);

  // The demo organisation has no guardrail policy of its own: the defaults check personal data in observe mode.
  const traceId = randomBytes(16).toString("hex");
  await expect(async () => {
    const reply = await page.request.post(`${gateway}/chat/completions`, {
      headers: { authorization: `Bearer ${key}`, traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` },
      data: { model: MODEL, messages: [{ role: "user", content: `Bonjour, mon IBAN est ${IBAN} et mon adresse ${EMAIL}, pouvez-vous confirmer ?` }], max_tokens: 4 },
    });
    expect(reply.status()).toBe(200);
    // Recorded, not acted on: the summary header says what was found, by type and count.
    expect(reply.headers()["x-enclave-guardrails"]).toMatch(/(^|; )pii\.input=flagged:2(;|$)/);
  }).toPass({ timeout: 60_000, intervals: [1_000, 2_000] });

  // The trace over REST: the verdict, with types and counts, and nothing of the data itself.
  await expect.poll(async () => (await page.request.get(`/api/v1/orgs/${ORG}/traces/${traceId}`)).status(), { timeout: 30_000, intervals: [500] }).toBe(200);
  const traceText = await (await page.request.get(`/api/v1/orgs/${ORG}/traces/${traceId}`)).text();
  expect(traceText).not.toContain(EMAIL);
  expect(traceText).not.toContain("3000 6000");
  const [request] = JSON.parse(traceText).requests as { spans: { name: string }[]; verdicts: { check: string; stage: string; outcome: string; findings: { types: Record<string, number> } | null }[] }[];
  const verdict = request.verdicts.find((v) => v.check === "pii" && v.stage === "input");
  expect(verdict).toMatchObject({ outcome: "flagged", findings: { types: { IBAN: 1, EMAIL: 1 } } });
  expect(request.spans.map((s) => s.name)).toContain("apply_guardrail pii");

  // The trace view: the check's span in the waterfall with its outcome, and the verdict listed with what it found.
  await page.goto(`/o/${ORG}/traces/${traceId}`);
  const waterfall = page.getByTestId("waterfall");
  const spans = waterfall.locator('[data-span-name="apply_guardrail pii"]');
  await expect(spans.first()).toBeVisible();
  await expect(spans.filter({ has: page.locator('[data-outcome="flagged"]') })).toHaveCount(1);
  await expect(spans.filter({ has: page.locator('[data-outcome="flagged"]') })).toHaveAttribute("aria-label", /^apply_guardrail pii \(failed, recorded\): starts at/);
  const section = page.getByRole("region", { name: "Guardrails" });
  const item = section.locator('[data-testid="guardrail-verdict"][data-check="pii"][data-stage="input"]');
  await expect(item).toHaveAttribute("data-outcome", "flagged");
  await expect(item).toContainText("Personal data of the prompt");
  await expect(item).toContainText("observe (record only)");
  await expect(item.getByTestId("guardrail-pii-types")).toContainText("IBAN × 1");
  await expect(item.getByTestId("guardrail-pii-types")).toContainText("EMAIL × 1");
  // Positions, not the data: nothing on the page holds what was found.
  await expect(item).toContainText(/IBAN message 0 \[\d+–\d+\)/);
  expect(await page.locator("body").innerText()).not.toContain(EMAIL);
  // Selecting the span shows its OpenTelemetry guardrail attributes.
  await spans.filter({ has: page.locator('[data-outcome="flagged"]') }).click();
  await expect(page.getByTestId("span-details")).toContainText("gen_ai.guardrail.result.value");

  // Counted by the roll-up, within a minute.
  await expect.poll(() => piiInputFlagged(page), ROLLUP_WAIT).toBeGreaterThanOrEqual(before + 1);

  // The usage page's Guardrails panel: the check's row, the chart of failed verdicts.
  await page.goto(`/o/${ORG}/usage?period=24h`);
  const panel = page.getByRole("region", { name: "Guardrails" });
  const piiRow = panel.getByTestId("guardrail-rules").locator('[data-rule="pii.input"]');
  await expect.poll(() => countOf(piiRow.locator('[data-cell="failed"]')), ROLLUP_WAIT).toBeGreaterThanOrEqual(before + 1);
  expect(await countOf(piiRow.locator('[data-cell="checked"]'))).toBeGreaterThanOrEqual(before + 1);
  await expect(panel.getByRole("figure", { name: "Failed verdicts over time" }).getByRole("img")).toHaveAccessibleName(/\d+ verdicts in the last 24 hours: \d+ failed and recorded/);
  await expect(panel.getByRole("figure", { name: "Failed verdicts over time" }).locator(".recharts-bar-rectangle").first()).toBeVisible();
  await expect(panel.getByRole("table", { name: "Guardrail verdicts by deployment" }).getByRole("row").filter({ has: page.getByRole("link", { name: MODEL }) })).toContainText("Personal data in the prompt");
  await panel.getByRole("button", { name: "Per key" }).click();
  await expect(page).toHaveURL(/[?&]guardrailsBy=key/);
  await expect(panel.getByRole("table", { name: "Guardrail verdicts by API key" }).getByRole("row").filter({ hasText: "e2e guardrails" })).toBeVisible();
  // It fits a phone without sideways scrolling (its tables scroll in their own frame).
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(panel.getByTestId("guardrail-rules")).toBeVisible();
  await expectNoSidewaysScroll(page);
  await page.setViewportSize({ width: 1280, height: 720 });

  // The deployment's page, for it alone.
  await page.goto(`/o/${ORG}/deployments/${deploymentId}?period=24h`);
  const deploymentPanel = page.getByTestId("guardrails-panel");
  await expect.poll(() => countOf(deploymentPanel.locator('[data-rule="pii.input"] [data-cell="failed"]')), ROLLUP_WAIT).toBeGreaterThanOrEqual(1);
  await expect(deploymentPanel.getByRole("table", { name: "Guardrail verdicts by API key" }).getByRole("row").filter({ hasText: "e2e guardrails" })).toBeVisible();

  // The compliance page's counts, over 30 days.
  await page.goto(`/o/${ORG}/compliance`);
  const compliance = page.getByTestId("compliance-guardrails");
  await expect.poll(() => countOf(compliance.locator('[data-rule="pii.input"] [data-cell="failed"]')), ROLLUP_WAIT).toBeGreaterThanOrEqual(before + 1);
  await expect(compliance.getByRole("link", { name: "Over time, per deployment and key" })).toHaveAttribute("href", `/o/${ORG}/usage?period=30d#guardrails-heading`);
});
