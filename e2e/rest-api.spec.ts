import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

const owner = DEMO_LOGINS.tenants[0];

test.describe("REST API through the real console server", () => {
  test("serves the OpenAPI document, and a session's changes must come from the console's origin", async ({ page, baseURL }) => {
    const doc = await page.request.get("/api/v1/openapi.json");
    expect(doc.status()).toBe(200);
    expect((await doc.json()).openapi).toBe("3.1.0");

    await signIn(page, owner.email, owner.password);
    const me = await page.request.get("/api/v1/me");
    expect(me.status()).toBe(200);
    const slug = (await me.json()).memberships[0].org.slug as string;

    // The browser's own cookie, sent from another site's page: refused, and nothing created.
    const name = `csrf-${Date.now()}`;
    const forged = await page.request.post(`/api/v1/orgs/${slug}/api-keys`, { headers: { origin: "https://evil.example", "content-type": "application/json" }, data: { name, scopes: ["manage"] } });
    expect(forged.status()).toBe(403);
    expect((await forged.json()).error.code).toBe("cross_origin_request");
    const noOrigin = await page.request.post(`/api/v1/orgs/${slug}/api-keys`, { headers: { "content-type": "application/json" }, data: { name, scopes: ["manage"] } });
    expect(noOrigin.status()).toBe(403);
    const form = await page.request.post(`/api/v1/orgs/${slug}/api-keys`, { headers: { origin: baseURL!, "content-type": "text/plain" }, data: JSON.stringify({ name, scopes: ["manage"] }) });
    expect(form.status()).toBe(415);
    const keys = await page.request.get(`/api/v1/orgs/${slug}/api-keys?limit=200`);
    expect(((await keys.json()).items as { name: string }[]).some((k) => k.name === name)).toBe(false);

    // tRPC mutations are held to the same rule.
    const trpc = await page.request.post(`/api/trpc/apiKeys.create`, { headers: { origin: "https://evil.example", "content-type": "application/json" }, data: { json: { orgId: slug, name, scopes: ["manage"] } } });
    expect(trpc.status()).toBe(403);

    // From the console's origin it works, and a key created so can then drive the API alone.
    // A forged client address is not believed (no TRUSTED_PROXIES here): the audit trail shows the socket's.
    const made = await page.request.post(`/api/v1/orgs/${slug}/api-keys`, {
      headers: { origin: baseURL!, "content-type": "application/json", "x-forwarded-for": "6.6.6.6", "x-enclave-client-ip": "7.7.7.7" },
      data: { name, scopes: ["read"] },
    });
    expect(made.status()).toBe(200);
    const { key: secret, id: keyId } = (await made.json()) as { key: string; id: string };
    const trail = await page.request.get(`/api/v1/orgs/${slug}/audit-events?limit=20`);
    const event = ((await trail.json()).items as { targetId: string; action: string; ip: string | null }[]).find((e) => e.targetId === keyId && e.action === "api_key.created");
    expect(event?.ip).toMatch(/^(127\.0\.0\.1|::1)$/);
    const asProgram = await page.request.get(`/api/v1/orgs/${slug}/deployments`, { headers: { authorization: `Bearer ${secret}`, cookie: "" } });
    expect(asProgram.status()).toBe(200);
  });

  test("the API reference page renders the document from the console itself", async ({ page }) => {
    const external: string[] = [];
    page.on("request", (r) => {
      const url = new URL(r.url());
      if (url.hostname !== "localhost" && url.protocol.startsWith("http")) external.push(r.url());
    });
    await signIn(page, owner.email, owner.password);
    await page.goto("/");
    await page.getByRole("link", { name: "API reference" }).first().click();
    await expect(page.getByRole("heading", { name: "API reference", level: 1 })).toBeVisible();
    const reference = page.getByTestId("api-reference");
    await expect(reference.getByText("Who am I").first()).toBeVisible({ timeout: 30_000 });
    await reference.getByText("Deployments", { exact: true }).first().click();
    await expect(reference.getByText("Create a deployment").first()).toBeVisible();
    await expect(reference.getByText("Ask AI")).toHaveCount(0);
    expect(external).toEqual([]);
  });
});
