import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn, TINY_MODEL_CHOICE } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;

test("a tenant deploys the tiny model to the on-premises region from the console, sees it running, and it answers through the gateway only", async ({ page, baseURL }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/deployments");
  await page.getByRole("link", { name: "New deployment" }).click();

  await page.getByRole("radio", TINY_MODEL_CHOICE).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: "Internal", exact: true }).check();
  await page.getByRole("button", { name: "Next" }).click();
  // A region the residency policy refuses for internal data is shown, disabled, with the reason.
  await expect(page.getByRole("radio", { name: /US hyperscaler/ })).toBeDisabled();
  await page.getByRole("radio", { name: /On-premises demo cluster/ }).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: /CPU-SLOT/ }).check();
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page.getByLabel("Replicas")).toHaveValue("1");
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Deployment name").fill("triage-assistant");
  await expect(page.getByTestId("price-per-hour")).toHaveText("€0.05");
  await page.getByRole("button", { name: "Deploy" }).click();

  await expect(page.getByText("Deployment triage-assistant created")).toBeVisible();
  await expect(page).toHaveURL(/\/deployments\/[a-z0-9]+$/);
  // Live status, without reloading: the workers start a real model server on this machine.
  await expect(page.getByTestId("deployment-phase")).toHaveText(/running/i, { timeout: 60_000 });
  const replica = page.getByTestId("replica-row").first();
  await expect(replica).toContainText(/ready/i);
  const copy = page.getByRole("button", { name: /^Copy endpoint http:\/\/127\.0\.0\.1:\d+$/ }).first();
  const endpoint = (await copy.getAttribute("aria-label"))!.replace("Copy endpoint ", "");
  const body = { model: "triage-assistant", messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 };
  // The replica itself is no side door: without the gateway's per-replica token it refuses.
  expect((await page.request.post(`${endpoint}/v1/chat/completions`, { data: body })).status()).toBe(401);
  // A program's way in: an API key (made over REST from the console's origin) and the gateway.
  const key = await page.request.post("/api/v1/orgs/hopital-rive-gauche/api-keys", { headers: { origin: baseURL!, "content-type": "application/json" }, data: { name: "e2e program", scopes: ["inference"] } });
  expect(key.status()).toBe(200);
  const gateway = (await (await page.request.get("/api/v1/orgs/hopital-rive-gauche/gateway")).json()).baseUrl as string;
  const reply = await page.request.post(`${gateway}/chat/completions`, { headers: { authorization: `Bearer ${(await key.json()).key}` }, data: body });
  expect(reply.status()).toBe(200);
  expect((await reply.json()).choices).toHaveLength(1);

  // Stop releases the GPU slot; the timeline says so.
  await page.getByRole("button", { name: "Stop", exact: true }).click();
  await page.getByRole("alertdialog", { name: "Stop triage-assistant?" }).getByRole("button", { name: "Stop deployment" }).click();
  await expect(page.getByTestId("deployment-phase")).toHaveText(/stopped/i, { timeout: 30_000 });
  await expect(page.getByText(/GPU\(s\) released/).first()).toBeVisible();
});
