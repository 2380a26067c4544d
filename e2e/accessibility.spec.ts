import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { DEMO_LOGINS, signIn, widest } from "./helpers";

/**
 * Every console page, found in app/ at test time (so a new page is never forgotten), scanned by
 * axe at laptop and phone width: no serious or critical violation, and no page wider than the
 * screen. Prints one line per page and width with the count of violations per impact level.
 */

const WIDTHS = [
  { name: "laptop", width: 1440, height: 900 },
  { name: "phone", width: 390, height: 844 },
] as const;
const IMPACTS = ["minor", "moderate", "serious", "critical"] as const;
// The WCAG 2.x A/AA rules plus axe's best practices (scrollable-region-focusable is one of them).
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];

/** Routes of app/ as patterns such as `/o/[slug]/deployments/[id]`, route groups left out. */
function appRoutes(dir = path.join(process.cwd(), "app"), prefix = ""): string[] {
  const routes: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) {
      if (entry === "api" && prefix === "") continue;
      const segment = entry.startsWith("(") && entry.endsWith(")") ? "" : `/${entry}`;
      routes.push(...appRoutes(full, prefix + segment));
    } else if (/^page\.(tsx|ts|jsx|js)$/.test(entry)) routes.push(prefix || "/");
  }
  return routes.sort();
}

type Role = "public" | "owner" | "admin";
const roleOf = (route: string): Role => (route.startsWith("/admin") ? "admin" : /^\/(signin|signup)(\/|$)/.test(route) ? "public" : "owner");

/** The dynamic segments this suite knows how to fill from the demo data; a new one fails loudly. */
type Ids = Record<string, string>;
function fill(route: string, ids: Ids): string {
  return route.replace(/\[([^\]]+)\]/g, (_, name: string) => {
    const value = ids[name];
    if (!value) throw new Error(`No demo value for the segment [${name}] of ${route}: teach e2e/accessibility.spec.ts where to find one.`);
    return encodeURIComponent(value);
  });
}

/**
 * Third-party renderers whose markup this project does not write: scanned and printed on their own,
 * not asserted (their violations are upstream's; see docs/accessibility.md). Keep this list short.
 */
const THIRD_PARTY = [{ selector: '[data-testid="api-reference"]', name: "Scalar API reference (@scalar/api-reference-react)" }];

type Result = { url: string; width: string; counts: Record<(typeof IMPACTS)[number], number>; blocking: string[]; overflow: number };

/** Waits for the page's queries to settle: no loading placeholder left (some pages pulse on purpose, so never fail here). */
async function settle(page: Page) {
  await page.waitForLoadState("load");
  await page.waitForFunction(() => !document.querySelector('[role="status"] .sr-only, .animate-pulse.h-10'), undefined, { timeout: 10_000 }).catch(() => undefined);
}

async function scan(page: Page, url: string): Promise<Result[]> {
  const results: Result[] = [];
  for (const viewport of WIDTHS) {
    await page.setViewportSize({ width: viewport.width, height: viewport.height });
    const response = await page.goto(url);
    expect(response?.status(), `${url} answers`).toBeLessThan(500);
    await settle(page);
    let builder = new AxeBuilder({ page }).withTags(TAGS);
    for (const part of THIRD_PARTY) builder = builder.exclude(part.selector);
    const axe = await builder.analyze();
    for (const part of THIRD_PARTY) {
      if ((await page.locator(part.selector).count()) === 0) continue;
      const own = await new AxeBuilder({ page }).withTags(TAGS).include(part.selector).analyze();
      const tally = (impact: string) => own.violations.filter((v) => v.impact === impact).reduce((n, v) => n + v.nodes.length, 0);
      console.log(`[axe] ${viewport.name.padEnd(6)} ${url.padEnd(48)} third-party ${part.name}, not asserted: critical=${tally("critical")} serious=${tally("serious")} (${own.violations.map((v) => v.id).join(", ")})`);
    }
    const counts = { minor: 0, moderate: 0, serious: 0, critical: 0 };
    const blocking: string[] = [];
    for (const v of axe.violations) {
      const impact = (v.impact ?? "minor") as keyof typeof counts;
      counts[impact] += v.nodes.length;
      if (impact === "serious" || impact === "critical") blocking.push(`${v.id} (${impact}) ×${v.nodes.length}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    results.push({ url, width: viewport.name, counts, blocking, overflow });
    if (overflow > 0) console.log(`[axe]   sticking out of ${url}: ${(await widest(page)).join(" | ")}`);
    console.log(
      `[axe] ${viewport.name.padEnd(6)} ${url.padEnd(48)} critical=${counts.critical} serious=${counts.serious} moderate=${counts.moderate} minor=${counts.minor} overflow=${Math.max(0, overflow)}px`,
    );
    expect.soft(blocking, `serious or critical violations on ${url} at ${viewport.width} px`).toEqual([]);
    expect.soft(overflow, `${url} is ${overflow} px wider than a ${viewport.width} px screen`).toBeLessThanOrEqual(0);
  }
  return results;
}

const routes = appRoutes();

/** Results go to a file too: a failed test restarts the worker, and the summary must count every scan. */
const resultsFile = () => path.join(test.info().project.outputDir, "axe-results.jsonl");

function printSummary(file: string) {
  if (!existsSync(file)) return;
  const all = readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Result);
  const total = { minor: 0, moderate: 0, serious: 0, critical: 0 };
  for (const r of all) for (const impact of IMPACTS) total[impact] += r.counts[impact];
  console.log(
    `[axe] summary: ${new Set(all.map((r) => r.url)).size} pages × ${WIDTHS.length} widths = ${all.length} scans; ` +
      `critical=${total.critical} serious=${total.serious} moderate=${total.moderate} minor=${total.minor}; wider than the screen: ${all.filter((r) => r.overflow > 0).length}`,
  );
}

/** One signed-in page per role, reused by that role's tests (one test per route, so one slow page cannot hide the others). */
function scanRoutesAs(role: Role, title: string, prepare: (page: Page) => Promise<Ids>, only: (route: string) => boolean = (r) => roleOf(r) === role) {
  test.describe(title, () => {
    let context: BrowserContext;
    let page: Page;
    let ids: Ids = {};
    let file = "";
    test.beforeAll(async ({ browser }, testInfo) => {
      testInfo.setTimeout(120_000);
      file = path.join(testInfo.project.outputDir, "axe-results.jsonl");
      // AxeBuilder needs a page of an explicit context.
      context = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
      page = await context.newPage();
      ids = await prepare(page);
    });
    test.afterAll(async () => {
      await context?.close();
      printSummary(file);
    });
    for (const route of routes.filter(only)) {
      test(route, async () => {
        test.setTimeout(120_000);
        mkdirSync(path.dirname(resultsFile()), { recursive: true });
        for (const r of await scan(page, fill(route, ids))) appendFileSync(resultsFile(), `${JSON.stringify(r)}\n`);
      });
    }
  });
}

test("the routes are found in app/", () => {
  expect(routes).toContain("/signin");
  expect(routes.some((r) => r.startsWith("/admin"))).toBe(true);
  expect(routes.some((r) => r.startsWith("/o/[slug]"))).toBe(true);
});

test("the site has an icon: /favicon.ico and the icon every page links to", async ({ page, request }) => {
  const ico = await request.get("/favicon.ico");
  expect(ico.status()).toBe(200);
  expect(ico.headers()["content-type"]).toMatch(/image\//);
  await page.goto("/signin");
  const href = await page.locator('link[rel="icon"]').first().getAttribute("href");
  expect(href, "the page links an icon").toBeTruthy();
  const linked = await request.get(href!);
  expect(linked.status()).toBe(200);
  expect(linked.headers()["content-type"]).toMatch(/image\//);
});

test("on a phone, the header's Sign out stays clear of the organisation selector", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const owner = DEMO_LOGINS.tenants[0];
  await signIn(page, owner.email, owner.password);
  const select = page.getByRole("combobox", { name: "Switch organisation" });
  const signOut = page.getByRole("button", { name: "Sign out" });
  await expect(select).toBeVisible();
  const [a, b] = [await select.boundingBox(), await signOut.boundingBox()];
  const overlap = a && b && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  expect(overlap, "Sign out and the organisation selector overlap").toBeFalsy();
  expect(b!.height, "Sign out fits on one line").toBeLessThan(40);
  expect(b!.x + b!.width).toBeLessThanOrEqual(390);
});

// An invitation's own token exists only once someone invites; an unknown token shows its "no longer valid" page.
scanRoutesAs("public", "signed-out pages", async () => ({ token: "unknown-invitation-token" }), (r) => roleOf(r) === "public" || r.startsWith("/invitations"));

scanRoutesAs(
  "owner",
  "tenant pages as the demo organisation's owner",
  async (page) => {
    const owner = DEMO_LOGINS.tenants[0];
    await signIn(page, owner.email, owner.password);
    await page.waitForURL(/\/o\/[^/]+/);
    const slug = new URL(page.url()).pathname.split("/")[2];
    expect(slug, "the owner lands in their organisation").toBeTruthy();
    return { slug, ...(await demoIds(page, slug)) };
  },
  (r) => roleOf(r) === "owner" && !r.startsWith("/invitations"),
);

scanRoutesAs("admin", "admin pages as the platform admin", async (page) => {
  await signIn(page, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  return {};
});

/** Real ids from the demo organisation, read from the pages that link to them. */
async function demoIds(page: Page, slug: string): Promise<Ids> {
  const hrefOf = async (list: string, pattern: RegExp) => {
    await page.goto(list);
    await settle(page);
    const hrefs = await page.locator("a[href]").evaluateAll((as) => as.map((a) => a.getAttribute("href") ?? ""));
    return hrefs.map((h) => pattern.exec(h)?.[1]).find(Boolean);
  };
  const id = await hrefOf(`/o/${slug}/deployments`, new RegExp(`^/o/${slug}/deployments/(?!new$)([^/?#]+)$`));
  expect(id, "the demo organisation has a deployment").toBeTruthy();
  // The demo has no traffic, hence often no trace: the trace page's "not found" state is then what is scanned.
  const traceId = (await hrefOf(`/o/${slug}/traces`, new RegExp(`^/o/${slug}/traces/([^/?#]+)$`))) ?? "0".repeat(32);
  return { id: id!, traceId };
}
