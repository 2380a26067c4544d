import { expect, test, type Locator, type Page } from "@playwright/test";
import { DEMO_LOGINS, expectNoSidewaysScroll, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ORG = "hopital-rive-gauche";
/** The demo deployment `npm start` (and the e2e server's seed) runs in the hospital's on-premises region. */
const MODEL = "tiny-demo";
const SENT = 6;
/** The workers roll new requests up every ~15 s and the dashboards refetch every 30 s: within a minute, more on a busy machine. */
const ROLLUP_WAIT = { timeout: 150_000, intervals: [1_000, 2_000, 5_000] };

const countIn = async (locator: Locator) => Number((await locator.textContent())!.replace(/[^\d]/g, ""));

test.describe.serial("dashboards", () => {
  let deploymentId: string;

  test("requests sent through the gateway appear on the usage page's charts and on their deployment's page", async ({ page, baseURL }) => {
    test.setTimeout(300_000);
    await signIn(page, claire.email, claire.password);
    const made = await page.request.post(`/api/v1/orgs/${ORG}/api-keys`, { headers: { origin: baseURL!, "content-type": "application/json" }, data: { name: "e2e dashboards", scopes: ["inference"] } });
    expect(made.status()).toBe(200);
    const authorization = `Bearer ${(await made.json()).key}`;
    const gateway = (await (await page.request.get(`/api/v1/orgs/${ORG}/gateway`)).json()).baseUrl as string;
    const deployments = (await (await page.request.get(`/api/v1/orgs/${ORG}/deployments?limit=200`)).json()).items as { id: string; name: string }[];
    deploymentId = deployments.find((d) => d.name === MODEL)!.id;

    // The first answer once the workers have the demo model running; then plain and streamed calls
    // (time to first token is measured on streamed ones).
    const call = (stream: boolean) =>
      page.request.post(`${gateway}/chat/completions`, { headers: { authorization }, data: { model: MODEL, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4, stream } });
    await expect(async () => expect((await call(false)).status()).toBe(200)).toPass({ timeout: 120_000, intervals: [1_000, 2_000] });
    for (let i = 1; i < SENT; i++) {
      const reply = await call(i % 2 === 0);
      expect(reply.status()).toBe(200);
      await reply.body();
    }

    // The organisation's usage page, over the last 24 hours (kept in the URL).
    await page.goto(`/o/${ORG}/usage`);
    await page.getByRole("button", { name: "24 hours" }).click();
    await expect(page).toHaveURL(/[?&]period=24h/);
    // No reload: the page refetches on its own (every 30 s) and the new requests show up.
    const requests = page.getByTestId("usage-requests");
    await expect.poll(async () => ((await requests.count()) ? countIn(requests) : 0), ROLLUP_WAIT).toBeGreaterThanOrEqual(SENT);
    await expect(page.getByTestId("usage-ttft-p50")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
    await expect(page.getByRole("button", { name: "24 hours" })).toHaveAttribute("aria-pressed", "true");
    await expect(page.getByTestId("usage-latency-p50")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
    await expect(page.getByTestId("usage-latency-p99")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);

    // The latency chart: its accessible name carries the figures, its table the hour of the requests.
    const latency = page.getByRole("figure", { name: "Latency", exact: true });
    await expect(latency.getByRole("img")).toHaveAccessibleName(/p50 \d+(\.\d+)? (ms|s), p95 \d/);
    await expect(latency.locator(".recharts-line")).toHaveCount(3);
    await latency.getByText("Show the figures").click();
    await expect(latency.getByRole("table").getByRole("row").nth(1)).toContainText(/\d+(\.\d+)? (ms|s)/);
    const requestsChart = page.getByRole("figure", { name: "Requests and errors" });
    await expect(requestsChart.getByRole("img")).toHaveAccessibleName(/\d+ requests in the last 24 hours/);
    await expect(requestsChart.locator(".recharts-bar-rectangle").first()).toBeVisible();
    // The distribution of the same requests over the latency buckets, and the time to first token.
    const distribution = page.getByRole("figure", { name: "Latency distribution" });
    await expect(distribution.getByRole("img")).toHaveAccessibleName(/\d+ requests; p50 \d/);
    await expect(distribution.locator(".recharts-bar-rectangle").first()).toBeVisible();
    await expect(page.getByRole("figure", { name: "Time to first token", exact: true }).getByRole("img")).toHaveAccessibleName(/p50 \d+(\.\d+)? (ms|s)/);

    // The breakdown switches between deployment, key and region, in the URL too.
    const breakdown = page.getByRole("table", { name: "Usage by deployment" });
    const row = breakdown.getByRole("row").filter({ has: page.getByRole("link", { name: MODEL }) });
    await expect(row).toBeVisible();
    expect(await countIn(row.getByRole("cell").nth(1))).toBeGreaterThanOrEqual(SENT);
    await page.getByRole("button", { name: "API key" }).click();
    await expect(page).toHaveURL(/[?&]by=key/);
    await expect(page.getByRole("table", { name: "Usage by API key" }).getByRole("row").filter({ hasText: "e2e dashboards" })).toBeVisible();
    // Sorting is announced to assistive technology.
    const requestsHeader = page.getByRole("table", { name: "Usage by API key" }).getByRole("columnheader", { name: /Requests/ });
    await expect(requestsHeader).toHaveAttribute("aria-sort", "descending");
    await requestsHeader.getByRole("button").click();
    await expect(requestsHeader).toHaveAttribute("aria-sort", "ascending");
    await page.getByRole("button", { name: "Region" }).click();
    await expect(page.getByRole("table", { name: "Usage by region" }).getByText("On-premises demo cluster")).toBeVisible();

    // It fits a laptop and a phone without sideways scrolling (tables scroll in their own frame).
    await page.setViewportSize({ width: 1440, height: 900 });
    await expectNoSidewaysScroll(page);
    await page.setViewportSize({ width: 390, height: 844 });
    await expect(latency.getByRole("img")).toBeVisible();
    await expectNoSidewaysScroll(page);
    await page.setViewportSize({ width: 1280, height: 720 });

    // The deployment's own page shows the same charts for it alone.
    await page.goto(`/o/${ORG}/deployments/${deploymentId}`);
    const usage = page.getByRole("region", { name: "Usage" });
    const deploymentRequests = usage.getByTestId("usage-requests");
    await expect.poll(async () => ((await deploymentRequests.count()) ? countIn(deploymentRequests) : 0), ROLLUP_WAIT).toBeGreaterThanOrEqual(SENT);
    await expect(usage.getByTestId("usage-latency-p95")).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
    await expect(usage.getByRole("figure", { name: "Latency", exact: true }).locator(".recharts-line")).toHaveCount(3);
    await expect(usage.getByRole("table", { name: "Usage by API key" }).getByText("e2e dashboards")).toBeVisible();
    await usage.getByRole("button", { name: "7 days" }).click();
    await expect(page).toHaveURL(/[?&]period=7d/);
    await expect(usage.getByRole("figure", { name: "Requests and errors" }).getByRole("img")).toHaveAccessibleName(/in the last 7 days/);
  });

  test("the admin dashboard shows GPUs allocated vs capacity, spend and errors per organisation, and the slowest deployments", async ({ page }) => {
    await signIn(page, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
    await page.getByRole("link", { name: "Dashboard" }).first().click();
    await expect(page).toHaveURL(/\/admin$/);
    await expect(page.getByRole("heading", { name: "Platform dashboard", level: 1 })).toBeVisible();

    // The demo deployment holds one slot of the on-premises demo cluster.
    const capacity = page.getByRole("region", { name: "GPUs allocated vs capacity" });
    const onPremises = capacity.getByRole("figure", { name: /^On-premises demo cluster.* · CPU slot/ });
    await expect(onPremises.getByRole("img")).toHaveAccessibleName(/Now [1-9]\d* of \d+ GPUs allocated/);
    await expect(capacity.getByTestId("admin-gpus-allocated")).toHaveText(/[1-9]/);

    const organizations = page.getByRole("table", { name: "Spend and errors by organisation and region" });
    const hospital = organizations.getByRole("row").filter({ hasText: "Hôpital Rive Gauche" }).filter({ hasText: "onprem-demo" });
    await expect(hospital).toBeVisible();
    expect(await countIn(hospital.getByRole("cell").nth(2))).toBeGreaterThanOrEqual(SENT);
    await expect(hospital.getByRole("link", { name: "Hôpital Rive Gauche" })).toHaveAttribute("href", `/admin/organizations#org-${ORG}`);
    const errorRate = organizations.getByRole("columnheader", { name: /Error rate/ });
    await errorRate.getByRole("button").click();
    await expect(errorRate).toHaveAttribute("aria-sort", "descending");

    const slowest = page.getByRole("table", { name: "Slowest deployments" });
    const demo = slowest.getByRole("row").filter({ hasText: MODEL });
    await expect(demo).toBeVisible();
    await expect(demo.getByRole("cell").nth(5)).toHaveText(/^\d+(\.\d+)? (ms|s)$/);
    await demo.getByRole("link", { name: "onprem-demo" }).click();
    await expect(page).toHaveURL(/\/admin\/regions$/);
  });
});
