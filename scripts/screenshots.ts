/**
 * Screenshots of the main console pages, laptop and phone, for docs/screenshots.md:
 * `npm run docs:screenshots`. Uses SCREENSHOT_BASE_URL when given (a running console with the
 * demo data), else starts the e2e server (fresh database, demo data, production build) and stops
 * it afterwards. Viewport screenshots, not full pages, so the PNGs stay small.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { chromium, type Page } from "@playwright/test";
import { DEMO_LOGINS } from "../prisma/seed-data";
import { BIN, ROOT, stopService, waitForHttp } from "./lib/processes";

const OUT = path.join(ROOT, "docs", "screenshots");
const VIEWPORTS = [
  { name: "desktop", width: 1440, height: 900, isMobile: false },
  { name: "phone", width: 390, height: 844, isMobile: true },
] as const;

type Shot = { file: string; title: string; path: (ctx: { slug: string; deploymentId: string }) => string; who: "none" | "owner" | "admin"; note: string };
const SHOTS: Shot[] = [
  { file: "signin", title: "Sign in", who: "none", path: () => "/signin", note: "Email and password, or a sign-in link by email." },
  { file: "overview", title: "Organisation overview", who: "owner", path: (c) => `/o/${c.slug}`, note: "What the organisation runs and spends, and what to do next." },
  { file: "deployments", title: "Deployments", who: "owner", path: (c) => `/o/${c.slug}/deployments`, note: "Every deployment with its state." },
  { file: "deployment", title: "A deployment", who: "owner", path: (c) => `/o/${c.slug}/deployments/${c.deploymentId}`, note: "Conditions, replicas, how to call it." },
  { file: "quotas", title: "Quotas", who: "owner", path: (c) => `/o/${c.slug}/quotas`, note: "GPU quotas per region, and requests for more." },
  { file: "regions", title: "Regions", who: "owner", path: (c) => `/o/${c.slug}/regions`, note: "Regions compared; the Status column is the residency filter's verdict." },
  { file: "usage", title: "Usage", who: "owner", path: (c) => `/o/${c.slug}/usage`, note: "Requests, tokens and cost over time." },
  { file: "compliance", title: "Compliance", who: "owner", path: (c) => `/o/${c.slug}/compliance`, note: "Residency, the audit trail and its integrity." },
  { file: "admin-dashboard", title: "Admin: dashboard", who: "admin", path: () => "/admin", note: "The platform at a glance." },
  { file: "admin-regions", title: "Admin: regions", who: "admin", path: () => "/admin/regions", note: "Regions, capacity and prices; row actions as icon buttons." },
  { file: "admin-catalog", title: "Admin: catalog", who: "admin", path: () => "/admin/catalog", note: "The models tenants can deploy." },
];

const log = (line: string) => console.log(`[screenshots] ${line}`);

async function main() {
  const given = process.env.SCREENSHOT_BASE_URL?.replace(/\/$/, "");
  const port = Number(process.env.E2E_PORT ?? 3100);
  const base = given ?? `http://localhost:${port}`;
  // Without a URL, the same server the e2e suite uses (on this shared machine: run under flock /tmp/e2e.lock).
  const server = given ? null : spawn(BIN("tsx"), ["scripts/e2e-server.ts"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: process.env });
  try {
    if (server) log("starting the e2e server (builds the console when its sources changed)…");
    await waitForHttp(`${base}/signin`, given ? 30_000 : 900_000);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    try {
      mkdirSync(OUT, { recursive: true });
      for (const f of readdirSync(OUT)) if (f.endsWith(".png")) rmSync(path.join(OUT, f));
      for (const viewport of VIEWPORTS) {
        const sessions = new Map<Shot["who"], Page>();
        const pageFor = async (who: Shot["who"]) => {
          const existing = sessions.get(who);
          if (existing) return existing;
          const context = await browser.newContext({ baseURL: base, viewport, isMobile: viewport.isMobile, hasTouch: viewport.isMobile, deviceScaleFactor: 1, reducedMotion: "reduce" });
          const page = await context.newPage();
          if (who !== "none") await signIn(page, who === "admin" ? DEMO_LOGINS.admin : DEMO_LOGINS.tenants[0]);
          // "/" redirects once more, to the owner's organisation: wait for it, the slug is read from there.
          if (who === "owner") await page.waitForURL(/\/o\/[^/]+/);
          sessions.set(who, page);
          return page;
        };
        const owner = await pageFor("owner");
        const slug = new URL(owner.url()).pathname.split("/")[2];
        const deploymentId = await firstDeploymentId(owner, slug);
        for (const shot of SHOTS) {
          const page = await pageFor(shot.who);
          await page.goto(shot.path({ slug, deploymentId }));
          await settle(page);
          const file = path.join(OUT, `${shot.file}-${viewport.name}.png`);
          await page.screenshot({ path: file, animations: "disabled", caret: "hide" });
          log(`${path.relative(ROOT, file)}  ${page.url().replace(base, "")}`);
        }
        for (const page of sessions.values()) await page.context().close();
      }
    } finally {
      await browser.close();
    }
    writeFileSync(path.join(ROOT, "docs", "screenshots.md"), markdown());
    log("wrote docs/screenshots.md");
  } finally {
    if (server) await stopService(server, 30_000);
  }
}

async function signIn(page: Page, login: { email: string; password: string }) {
  await page.goto("/signin");
  await page.getByLabel("Email").fill(login.email);
  await page.getByLabel("Password").fill(login.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/signin"));
}

async function firstDeploymentId(page: Page, slug: string): Promise<string> {
  await page.goto(`/o/${slug}/deployments`);
  await settle(page);
  const hrefs = await page.locator("a[href]").evaluateAll((as) => as.map((a) => a.getAttribute("href") ?? ""));
  const id = hrefs.map((h) => new RegExp(`^/o/${slug}/deployments/(?!new$)([^/?#]+)$`).exec(h)?.[1]).find(Boolean);
  if (!id) throw new Error("The demo organisation has no deployment to show: is this a demo installation?");
  return id;
}

/** Lets the page's queries and charts settle: no loading placeholder, toasts gone. */
async function settle(page: Page) {
  await page.waitForLoadState("load");
  await page.waitForFunction(() => !document.querySelector('[role="status"] .sr-only, .animate-pulse.h-10'), undefined, { timeout: 15_000 }).catch(() => undefined);
  await page.waitForTimeout(500);
}

function markdown(): string {
  const rows = SHOTS.map(
    (s) => `## ${s.title}\n\n${s.note}\n\n<img src="screenshots/${s.file}-desktop.png" alt="${s.title}, laptop (1440 × 900)" width="720"> <img src="screenshots/${s.file}-phone.png" alt="${s.title}, phone (390 × 844)" width="195">\n`,
  );
  return `# Screenshots\n\nThe console with the demo data, on a laptop (1440 × 900) and a phone (390 × 844). Generated by\n\`npm run docs:screenshots\` (scripts/screenshots.ts): set \`SCREENSHOT_BASE_URL\` to use a running console with the\ndemo data, otherwise the script starts the e2e server itself. Re-run it when a page changes.\n\n${rows.join("\n")}`;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
