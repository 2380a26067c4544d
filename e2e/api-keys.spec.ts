import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ORG = "hopital-rive-gauche";
/** The demo deployment the e2e server's seed runs in the hospital's on-premises region. */
const MODEL = "tiny-demo";

test("an API key is created in the console, copied, calls the gateway, and once revoked is refused with 401", async ({ page, context }) => {
  test.setTimeout(240_000);
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await signIn(page, claire.email, claire.password);
  await page.goto(`/o/${ORG}/api-keys`);
  const name = `e2e journey ${Date.now().toString(36)}`;

  await page.getByRole("button", { name: "Create API key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create key" }).click();

  // Shown once, and the Copy button puts exactly that secret on the clipboard.
  const revealed = page.getByLabel("Your new API key");
  const key = await revealed.inputValue();
  expect(key).toMatch(/^enc_[A-Za-z0-9]+_/);
  await page.getByRole("button", { name: "Copy", exact: true }).click();
  await expect(page.getByText("Copied")).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await page.getByRole("button", { name: "Done" }).click();
  // The list shows the key by its prefix only; the secret is not on the page any more.
  const row = page.getByRole("row", { name: new RegExp(name) });
  await expect(row).toBeVisible();
  expect(await page.content()).not.toContain(key);

  // The copied key calls the gateway (the demo deployment may still be starting on a fresh server).
  const gateway = (await (await page.request.get(`/api/v1/orgs/${ORG}/gateway`)).json()).baseUrl as string;
  const call = () =>
    fetch(`${gateway}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 }),
    });
  await expect(async () => expect((await call()).status).toBe(200)).toPass({ timeout: 150_000, intervals: [1_000, 2_000, 5_000] });

  // Revoked through the styled confirmation: the very next call is refused.
  await row.getByRole("button", { name: /Revoke/ }).click();
  const confirm = page.getByRole("alertdialog", { name: `Revoke ${name}?` });
  await confirm.getByRole("button", { name: "Revoke key" }).click();
  await expect(page.getByText(`API key ${name} revoked`)).toBeVisible();
  await expect(row).toContainText(/revoked/i);
  const refused = await call();
  expect(refused.status).toBe(401);
  const body = (await refused.json()) as { error: { message: string } };
  expect(body.error.message).not.toContain(key);
});
