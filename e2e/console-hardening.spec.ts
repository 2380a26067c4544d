import { expect, test, type Page } from "@playwright/test";
import { DEMO_LOGINS, signIn, TINY_MODEL_CHOICE } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const marc = DEMO_LOGINS.tenants.find((t) => t.role === "MEMBER")!;
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;

/** Collects what the browser reports about the Content-Security-Policy: violation events and console errors. */
async function watchCsp(page: Page) {
  const violations: string[] = [];
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as unknown as { __csp: string[] }).__csp ??= [];
      (window as unknown as { __csp: string[] }).__csp.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on("console", (message) => {
    if (/Content Security Policy|Content-Security-Policy/i.test(message.text())) violations.push(message.text());
  });
  return async () => [...violations, ...((await page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? [])) as string[])];
}

function expectSecurityHeaders(headers: Record<string, string>) {
  const csp = headers["content-security-policy"] ?? "";
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
  expect(csp).toContain("frame-ancestors 'none'");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("same-origin");
  expect(headers["x-frame-options"]).toBe("DENY");
  // Served over plain http here: no HSTS.
  expect(headers["strict-transport-security"]).toBeUndefined();
}

test("every main page carries the security headers, and the browser reports no CSP violation while using them", async ({ page }) => {
  const violations = await watchCsp(page);
  const signin = await page.goto("/signin");
  expectSecurityHeaders(signin!.headers());
  await signIn(page, claire.email, claire.password);

  const nonces = new Set<string>();
  for (const path of ["", "/deployments", "/deployments/new", "/quotas", "/regions", "/api-keys", "/usage", "/compliance", "/settings"]) {
    const response = await page.goto(`/o/hopital-rive-gauche${path}`);
    expect(response!.status(), path).toBe(200);
    expectSecurityHeaders(response!.headers());
    nonces.add(/'nonce-([^']+)'/.exec(response!.headers()["content-security-policy"])![1]);
    // The page is alive: React hydrated and fetched its data (blocked scripts would leave it loading).
    await expect(page.getByRole("heading", { level: 1 }).first()).toBeVisible();
    await expect(page.getByText(/Loading|Checking/)).toHaveCount(0);
  }
  expect(nonces.size).toBe(9);

  // The usage chart (recharts) and a toast (sonner) render under the policy.
  await page.goto("/o/hopital-rive-gauche/usage");
  await page.getByRole("button", { name: "7 days" }).click();
  await page.goto("/o/hopital-rive-gauche/deployments/new");
  await page.getByRole("radio", TINY_MODEL_CHOICE).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: "Public", exact: true }).check();
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByRole("radio", { name: /On-premises demo cluster/ })).toBeEnabled();

  expect(await violations()).toEqual([]);

  // Route handlers get the static headers and a policy that forbids framing.
  const api = await page.request.get("/api/trpc/account.me");
  expect(api.headers()["x-content-type-options"]).toBe("nosniff");
  expect(api.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
  // Behind a TLS proxy (X-Forwarded-Proto: https), HSTS is sent.
  const overHttps = await page.request.get("/signin", { headers: { "x-forwarded-proto": "https" } });
  expect(overHttps.headers()["strict-transport-security"]).toMatch(/max-age=\d+/);
});

test("the admin area answers 403 to a member and 200 to a platform admin, without CSP violations", async ({ page, browser }) => {
  await signIn(page, marc.email, marc.password);
  const denied = await page.goto("/admin/regions");
  expect(denied!.status()).toBe(403);
  await expect(page.getByRole("heading", { name: "You don't have access to the admin area" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Regions" })).toHaveCount(0);

  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  const violations = await watchCsp(admin);
  await signIn(admin, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  for (const path of ["/admin/regions", "/admin/catalog", "/admin/quotas", "/admin/organizations"]) {
    const response = await admin.goto(path);
    expect(response!.status(), path).toBe(200);
    expectSecurityHeaders(response!.headers());
    await expect(admin.getByRole("heading", { level: 1 }).first()).toBeVisible();
  }
  // Which regions this installation can drive, and what an operator sets for the others.
  await admin.goto("/admin/regions");
  const regions = admin.getByRole("table", { name: "Regions" });
  await expect(regions.getByRole("row", { name: /onprem-demo/ })).toContainText("Connected");
  const lumi = regions.getByRole("row", { name: /fi-kajaani-lumi/ });
  await expect(lumi).toContainText("Not connected");
  await expect(lumi).toContainText("ENCLAVE_REGION_FI_KAJAANI_LUMI_SLURM_TOKEN");
  expect(await violations()).toEqual([]);
  await adminContext.close();
});

test("another organisation's pages answer 404, whether it exists or not, and so does another organisation's deployment", async ({ page }) => {
  await signIn(page, ines.email, ines.password);
  expect((await page.goto("/o/nordic-data-agency"))!.status()).toBe(200);
  for (const path of ["/o/hopital-rive-gauche", "/o/hopital-rive-gauche/deployments", "/o/hopital-rive-gauche/settings", "/o/no-such-organisation-here/usage"]) {
    const response = await page.goto(path);
    expect(response!.status(), path).toBe(404);
    await expect(page.getByRole("heading", { name: /does not exist, or you do not have access to it/ })).toBeVisible();
    // Nothing of the organisation is rendered.
    await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);
  }
  expect((await page.goto("/o/nordic-data-agency/deployments/not-a-deployment-of-ours"))!.status()).toBe(404);

  // Signed out: sent to sign in, never shown the page.
  const signedOut = await page.context().browser()!.newContext();
  const anonymous = await signedOut.newPage();
  await anonymous.goto("/o/hopital-rive-gauche/usage");
  await expect(anonymous).toHaveURL(/\/signin\?callbackUrl=/);
  await signedOut.close();
});

test("regions whose cluster is not connected are shown as such to tenants, and the wizard does not let them pick one", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/regions");
  const lumi = page.getByTestId("region-fi-kajaani-lumi");
  await expect(lumi).toContainText("Not connected");
  await expect(lumi).toContainText("until a platform operator connects its cluster");
  await expect(page.getByTestId("region-onprem-demo")).toContainText("Available");

  await page.goto("/o/hopital-rive-gauche/deployments/new");
  await page.getByRole("radio", TINY_MODEL_CHOICE).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: "Public", exact: true }).check();
  await page.getByRole("button", { name: "Next" }).click();
  // Claire has H100 quota in Paris SecNumCloud, but its Kubernetes cluster is not connected here.
  const paris = page.getByRole("radio", { name: /Paris SecNumCloud/ });
  await expect(paris).toBeDisabled();
  await expect(page.locator("label", { has: paris })).toContainText("Not connected to this installation yet");
  await expect(page.getByRole("radio", { name: /On-premises demo cluster/ })).toBeEnabled();
});
