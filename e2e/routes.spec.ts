import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

// The hospital's running demo deployment (tiny-demo): a route over it is called by name through the
// real gateway, then deleted (confirmed); nothing of the demo is left changed.
const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ORG = "hopital-rive-gauche";
const NAME = `e2e-route-${Date.now().toString(36)}`;

test("an owner creates a route in the console, a program calls it by name through the gateway, and the owner deletes it", async ({ page, baseURL }) => {
  test.setTimeout(240_000);
  const origin = baseURL!;
  await signIn(page, claire.email, claire.password);
  await page.goto(`/o/${ORG}`);
  await page.getByRole("link", { name: "Routes" }).first().click();
  await expect(page.getByRole("heading", { name: "Routes", exact: true })).toBeVisible();

  await page.getByRole("button", { name: "New route" }).first().click();
  const dialog = page.getByRole("dialog", { name: "New route" });
  // Refused as typed, with the server's own rule.
  await dialog.getByRole("button", { name: "Create route" }).click();
  await expect(dialog.getByText("Add at least one deployment")).toBeVisible();
  await dialog.getByLabel("Name").fill(NAME);
  await dialog.getByLabel("Add a deployment").selectOption({ label: "tiny-demo (onprem-demo, Internal)" });
  await dialog.getByRole("button", { name: "Create route" }).click();
  await expect(page.getByText("Route created")).toBeVisible();
  const card = page.getByTestId("route-card").filter({ hasText: NAME });
  await expect(card.getByTestId("route-member")).toContainText("tiny-demo");
  await expect(card.getByTestId("route-member")).toContainText("Restricted");

  // A program calls the route by name.
  const key = await page.request.post(`/api/v1/orgs/${ORG}/api-keys`, { headers: { origin, "content-type": "application/json" }, data: { name: "e2e route program", scopes: ["inference"] } });
  const { key: secret } = await key.json();
  const gateway = (await (await page.request.get(`/api/v1/orgs/${ORG}/gateway`)).json()).baseUrl as string;
  const callRoute = () => page.request.post(`${gateway}/chat/completions`, { headers: { authorization: `Bearer ${secret}` }, data: { model: NAME, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 3 } });
  await expect.poll(async () => (await callRoute()).status(), { timeout: 150_000, intervals: [1000] }).toBe(200);

  await card.getByRole("button", { name: "Delete" }).click();
  const confirm = page.getByRole("alertdialog", { name: `Delete the route ${NAME}?` });
  await expect(confirm.getByRole("button", { name: "Delete route" })).toBeDisabled();
  await confirm.getByLabel(`Type ${NAME} to confirm`).fill(NAME);
  await confirm.getByRole("button", { name: "Delete route" }).click();
  await expect(page.getByText(`Route ${NAME} deleted`)).toBeVisible();
  await expect.poll(async () => (await callRoute()).status(), { timeout: 5_000, intervals: [100] }).toBe(404);
});
