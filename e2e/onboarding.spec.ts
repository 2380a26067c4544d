import { expect, test } from "@playwright/test";
import OpenAI from "openai";
import { DEMO_LOGINS, signIn, uniqueEmail, TINY_MODEL_CHOICE } from "./helpers";

/**
 * The must-show of onboarding (docs/onboarding.md): a brand-new organisation deploys the tiny model
 * with the platform's starter quota, with no admin action, calls it through the gateway with its
 * own key, and its checklist follows every step.
 */
test("a brand-new organisation deploys the tiny model with its starter quota and gets an answer through the gateway, with no admin action", async ({ page }) => {
  test.setTimeout(420_000);
  const email = uniqueEmail("newcomer");
  const orgName = `Startup ${Date.now().toString(36)}`;
  const deploymentName = `first-${Date.now().toString(36)}`;

  // Sign up: the account and its organisation.
  await page.goto("/signup");
  await page.getByLabel("Your name").fill("Noor Haddad");
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill("a sovereign passphrase");
  await page.getByLabel("Organisation name").fill(orgName);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { name: orgName })).toBeVisible();
  const slug = new URL(page.url()).pathname.split("/")[2];

  // The checklist: nothing done, and the starter quota offered at once.
  const steps = page.getByTestId("first-steps");
  await expect(steps).toHaveAttribute("data-complete", "false");
  await expect(steps).toContainText("0 of 4 done");
  await expect(page.getByTestId("first-step-deploy")).toContainText(/You can deploy now: 1 GPU in On-premises demo cluster/);
  for (const id of ["deploy", "apiKey", "call", "usage"]) await expect(page.getByTestId(`first-step-${id}`)).toHaveAttribute("data-state", "todo");

  // Deploy through the wizard, from the checklist's link.
  await page.getByTestId("first-step-deploy").getByRole("link", { name: "Open the deployment wizard" }).click();
  await expect(page).toHaveURL(new RegExp(`/o/${slug}/deployments/new`));
  await page.getByRole("radio", TINY_MODEL_CHOICE).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: "Internal", exact: true }).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: /On-premises demo cluster/ }).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("radio", { name: /CPU-SLOT/ }).check();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByLabel("Deployment name").fill(deploymentName);
  await page.getByRole("button", { name: "Deploy" }).click();
  await expect(page.getByText(`Deployment ${deploymentName} created`)).toBeVisible();
  // The local driver starts a real model server on this machine.
  await expect(page.getByTestId("deployment-phase")).toHaveText(/running/i, { timeout: 180_000 });

  // Back on the overview, the first step has ticked itself.
  await page.getByRole("link", { name: "Overview" }).first().click();
  await expect(page.getByTestId("first-step-deploy")).toHaveAttribute("data-state", "done");
  await expect(steps).toContainText("1 of 4 done");

  // An API key, from the checklist's link; its secret is shown once.
  await page.getByTestId("first-step-apiKey").getByRole("link", { name: "Go to API keys" }).click();
  await page.getByRole("button", { name: "Create API key" }).click();
  await page.getByLabel("Name").fill("first program");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = await page.getByLabel("Your new API key").inputValue();
  expect(key).toMatch(/^enc_/);
  await page.getByRole("button", { name: "Done" }).click();

  // A program calls the deployment through the gateway with the key, using the OpenAI SDK.
  const baseURL = (await (await page.request.get(`/api/v1/orgs/${slug}/gateway`)).json()).baseUrl as string;
  const client = new OpenAI({ apiKey: key, baseURL, maxRetries: 0 });
  const completion = await client.chat.completions.create({ model: deploymentName, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 });
  expect(completion.choices).toHaveLength(1);
  expect(completion.usage?.completion_tokens).toBeGreaterThan(0);

  // The checklist follows, live, without a reload: the key, the call, then the call in usage.
  await page.getByRole("link", { name: "Overview" }).first().click();
  await expect(page.getByTestId("first-step-apiKey")).toHaveAttribute("data-state", "done");
  await expect(page.getByTestId("first-step-call")).toHaveAttribute("data-state", "done", { timeout: 60_000 });
  // The workers roll new requests up every ~15 s.
  await expect(steps).toHaveAttribute("data-complete", "true", { timeout: 150_000 });
  await expect(steps).toContainText("First steps complete");

  // The call is on the usage page, for the period chosen (kept in the URL).
  await page.getByRole("link", { name: "Usage" }).first().click();
  await page.getByRole("group", { name: "Period" }).getByRole("button", { name: "24 hours" }).click();
  await expect(page).toHaveURL(/period=24h/);
  await expect(page.getByTestId("usage-requests")).toHaveText("1", { timeout: 60_000 });
  await page.getByRole("group", { name: "Period" }).getByRole("button", { name: "30 days" }).click();
  await expect(page).toHaveURL(/period=30d/);
  await expect(page.getByTestId("usage-requests")).toHaveText("1");
});

test("platform admins see the starter quota in Platform settings, and an amount above the region's capacity is refused next to its field", async ({ page }) => {
  await signIn(page, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  await page.goto("/admin");
  await page.getByRole("link", { name: "Platform settings" }).first().click();
  await expect(page.getByRole("heading", { name: "Platform settings", level: 1 })).toBeVisible();
  const line = page.getByTestId("starter-quota-line");
  // The demo's setting: one CPU slot in the on-premises demo region.
  await expect(line).toHaveCount(1);
  await expect(line.getByLabel("Region")).toHaveValue(/.+/);
  await expect(line.getByLabel("Region").locator("option:checked")).toHaveText(/onprem-demo/);
  await expect(line.getByLabel("GPUs")).toHaveValue("1");

  await line.getByLabel("GPUs").fill("999");
  await page.getByRole("button", { name: "Save starter quota" }).click();
  await expect(line.getByRole("alert")).toHaveText(/^At most \d+ GPUs: that is region onprem-demo's whole CPU-SLOT capacity$/);
  // Nothing was saved.
  const saved = await (await page.request.get("/api/v1/admin/starter-quota")).json();
  expect(saved.entries).toMatchObject([{ region: { code: "onprem-demo" }, gpuType: { code: "CPU-SLOT" }, limitGpus: 1 }]);
});
