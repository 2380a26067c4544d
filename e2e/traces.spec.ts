import { randomBytes } from "node:crypto";
import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, expectNoSidewaysScroll, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const org = "hopital-rive-gauche";
// The journeys run in order: the phone's checks read the trace the first one sent.
test.describe.configure({ mode: "serial" });
let sent = "";

test("a request sent with a traceparent keeps its trace id, and its trace shows on the Traces page and as a waterfall with real timings and the artifact digest", async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  await signIn(page, claire.email, claire.password);

  // The demo's tiny model, started by the workers on this machine.
  await expect
    .poll(
      async () => {
        const list = await (await page.request.get(`/api/v1/orgs/${org}/deployments?limit=200`)).json();
        return (list.items as { name: string; phase: string }[]).find((d) => d.name === "tiny-demo")?.phase;
      },
      { timeout: 120_000, intervals: [1_000] },
    )
    .toBe("RUNNING");

  const made = await page.request.post(`/api/v1/orgs/${org}/api-keys`, { headers: { origin: baseURL!, "content-type": "application/json" }, data: { name: "e2e traces", scopes: ["inference"] } });
  expect(made.status()).toBe(200);
  const { key } = (await made.json()) as { key: string };
  const gateway = (await (await page.request.get(`/api/v1/orgs/${org}/gateway`)).json()).baseUrl as string;

  // A program's own trace context, as an instrumented client sends it.
  const traceId = randomBytes(16).toString("hex");
  const callerSpan = randomBytes(8).toString("hex");
  const reply = await page.request.post(`${gateway}/chat/completions`, {
    headers: { authorization: `Bearer ${key}`, traceparent: `00-${traceId}-${callerSpan}-01` },
    data: { model: "tiny-demo", messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 },
  });
  expect(reply.status()).toBe(200);
  expect(reply.headers()["traceparent"]).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  const requestId = reply.headers()["x-request-id"];
  expect(requestId).toBeTruthy();

  // Written off the hot path: it appears within seconds, over REST first.
  await expect.poll(async () => (await page.request.get(`/api/v1/orgs/${org}/traces/${traceId}`)).status(), { timeout: 30_000, intervals: [500] }).toBe(200);
  const trace = await (await page.request.get(`/api/v1/orgs/${org}/traces/${traceId}`)).json();
  expect(trace.requests).toHaveLength(1);
  const [request] = trace.requests as {
    requestId: string;
    parentSpanId: string;
    durationMs: number;
    spans: { name: string; durationMs: number; startMs: number }[];
    artifact: { uri: string | null; sha256: string | null } | null;
    residency: { dataClass: string; verdict: string; policy: string; reasons: string[] } | null;
  }[];
  expect(request.requestId).toBe(requestId);
  expect(request.parentSpanId).toBe(callerSpan);
  const names = request.spans.map((s) => s.name);
  for (const name of ["gateway.request", "auth", "residency", "limits", "route", "upstream"]) expect(names).toContain(name);
  // Real timings: the upstream call took time, and it lies within the request.
  const upstream = request.spans.find((s) => s.name === "upstream")!;
  expect(upstream.durationMs).toBeGreaterThan(0);
  expect(upstream.startMs + upstream.durationMs).toBeLessThanOrEqual(request.durationMs + 0.01);
  expect(request.artifact?.sha256).toMatch(/^[0-9a-f]{64}$/);
  // Allowed: the decision, its data class and whether a policy applied (reasons list only what refuses).
  expect(request.residency).toMatchObject({ dataClass: "INTERNAL", verdict: "allowed", policy: expect.stringMatching(/^(applied|none)$/) });

  // The Traces page finds it by the traceparent pasted in the search.
  await page.goto(`/o/${org}/traces`);
  await expect(page.getByRole("heading", { name: "Traces" })).toBeVisible();
  await page.getByLabel("Trace id").fill(`00-${traceId}-${callerSpan}-01`);
  await page.getByRole("button", { name: "Find" }).click();
  await expect(page).toHaveURL(new RegExp(`trace=${traceId}`));
  await expect(page.getByTestId("trace-row")).toHaveCount(1);
  await expect(page.getByTestId("trace-row")).toContainText("tiny-demo");
  await expect(page.getByTestId("trace-row")).toContainText("e2e traces");
  await page.getByRole("link", { name: `Open trace ${traceId}` }).click();

  await expect(page).toHaveURL(new RegExp(`/o/${org}/traces/${traceId}$`));
  await expect(page.getByTestId("trace-id")).toHaveText(traceId);
  const waterfall = page.getByTestId("waterfall");
  for (const name of ["gateway.request", "auth", "residency", "limits", "route", "upstream"]) {
    await expect(waterfall.locator(`[data-span-name="${name}"]`)).toHaveCount(1);
  }
  // Each bar reads as text: its start and duration, as measured.
  await expect(waterfall.locator('[data-span-name="upstream"]')).toHaveAttribute("aria-label", /^upstream: starts at [\d.]+ m?s, lasts [\d.]+ m?s, succeeded/);
  await expect(page.getByTestId("artifact-sha256")).toHaveText(request.artifact!.sha256!);
  await expect(page.getByTestId("residency")).toContainText("allowed");
  await expect(page.getByTestId("residency")).toContainText("internal data");

  // Selecting a span shows its attributes.
  await waterfall.locator('[data-span-name="upstream"]').click();
  await expect(page.getByTestId("span-details")).toContainText("gen_ai.usage.output_tokens");
  await waterfall.locator('[data-span-name="route"]').click();
  await expect(page.getByTestId("span-details")).toContainText("enclave.artifact.sha256");
  await expect(page.getByTestId("span-details")).toContainText(request.artifact!.sha256!);

  // Links to what answered.
  await expect(page.getByRole("link", { name: "tiny-demo", exact: true })).toHaveAttribute("href", /\/deployments\/[a-z0-9]+$/);
  await expect(page.getByRole("link", { name: /On-premises demo/ })).toHaveAttribute("href", /\/regions#region-onprem-demo$/);

  // No content is kept unless the key captures it.
  await expect(page.getByTestId("trace-content")).toHaveCount(0);
  sent = traceId;

  // Turned on for this key in the console, the next requests' prompt and completion are kept with their trace.
  await page.goto(`/o/${org}/api-keys`);
  await page.getByRole("row", { name: /e2e traces/ }).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel(/Capture content/).check();
  await page.getByRole("button", { name: "Save changes" }).click();
  await expect(page.getByText("API key e2e traces saved")).toBeVisible();
  await expect(page.getByRole("row", { name: /e2e traces/ })).toContainText("Captures prompts and completions");
  let captured = "";
  // The gateways drop the key from their cache on the change's commit; a request racing it is retried.
  await expect
    .poll(
      async () => {
        const id = randomBytes(16).toString("hex");
        const answer = await page.request.post(`${gateway}/chat/completions`, {
          headers: { authorization: `Bearer ${key}`, traceparent: `00-${id}-${callerSpan}-01` },
          data: { model: "tiny-demo", messages: [{ role: "user", content: "Bonjour, docteur" }], max_tokens: 4 },
        });
        expect(answer.status()).toBe(200);
        await expect.poll(async () => (await page.request.get(`/api/v1/orgs/${org}/traces/${id}`)).status(), { timeout: 30_000, intervals: [500] }).toBe(200);
        const stored = (await (await page.request.get(`/api/v1/orgs/${org}/traces/${id}`)).json()).requests[0].content;
        if (stored) captured = id;
        return stored !== null;
      },
      { timeout: 60_000, intervals: [1_000] },
    )
    .toBe(true);
  await page.goto(`/o/${org}/traces/${captured}`);
  await expect(page.getByTestId("trace-content")).toContainText("Bonjour, docteur");
});

test.describe("on a phone", () => {
  test.use({ viewport: { width: 412, height: 839 }, isMobile: true, hasTouch: true });

  test("the Traces page and the trace view fit the screen", async ({ page }) => {
    await signIn(page, claire.email, claire.password);
    await page.goto(`/o/${org}/traces?period=7d`);
    await expect(page.getByTestId("trace-row").first()).toBeVisible();
    await expectNoSidewaysScroll(page);
    await page.goto(`/o/${org}/traces/${sent}`);
    await expect(page.getByTestId("waterfall")).toBeVisible();
    await expectNoSidewaysScroll(page);
  });
});

test("a trace id that is not this organisation's, or not a trace id, is the 404 page", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  expect((await page.goto(`/o/${org}/traces/${randomBytes(16).toString("hex")}`))?.status()).toBe(404);
  expect((await page.goto(`/o/${org}/traces/not-a-trace`))?.status()).toBe(404);
});
