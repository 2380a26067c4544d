import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

// Nordic Data Agency: guardrails.spec.ts relies on Hôpital Rive Gauche's built-in defaults, so this journey changes another organisation's.
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;
const marc = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("marc"))!;
const ORG = "nordic-data-agency";

test("an owner sets the guardrail defaults, overrides a key, removes the override after confirming, and returns to the built-in defaults", async ({ page, baseURL }) => {
  await signIn(page, ines.email, ines.password);
  const made = await page.request.post(`/api/v1/orgs/${ORG}/api-keys`, { headers: { origin: baseURL!, "content-type": "application/json" }, data: { name: "e2e guardrail override", scopes: ["inference"] } });
  expect(made.status()).toBe(200);

  await page.goto(`/o/${ORG}`);
  await page.getByRole("link", { name: "Guardrails" }).first().click();
  await expect(page.getByRole("heading", { name: "Guardrails", exact: true })).toBeVisible();
  await expect(page.getByText("Built-in defaults", { exact: true })).toBeVisible();
  const output = page.getByRole("group", { name: "Action of Personal data · output" });
  await expect(output.getByRole("button", { name: "Observe" })).toHaveAttribute("aria-pressed", "true");

  await output.getByRole("button", { name: "Redact" }).click();
  await page.getByRole("button", { name: "Save defaults" }).click();
  await expect(page.getByText("Guardrail defaults saved")).toBeVisible();
  await page.reload();
  await expect(page.getByRole("group", { name: "Action of Personal data · output" }).getByRole("button", { name: "Redact" })).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByText("Built-in defaults", { exact: true })).toHaveCount(0);

  // An override of the new key: input personal data blocked for it alone.
  await page.getByRole("button", { name: "Add an override" }).click();
  const dialog = page.getByRole("dialog", { name: "Add an override" });
  await dialog.getByLabel("Deployment or API key").selectOption({ label: await optionLabel(page, "e2e guardrail override") });
  await dialog.getByLabel("Personal data · input").selectOption("block");
  await dialog.getByRole("button", { name: "Save override" }).click();
  await expect(page.getByText("Override of e2e guardrail override saved")).toBeVisible();
  const keys = page.getByRole("table", { name: "API keys with guardrail overrides" });
  await expect(keys.getByRole("row").filter({ hasText: "e2e guardrail override" })).toBeVisible();

  // Removal asks first; cancelling keeps it.
  await page.getByRole("button", { name: "Remove the override of e2e guardrail override" }).click();
  const confirm = page.getByRole("alertdialog", { name: "Remove the override of e2e guardrail override?" });
  await confirm.getByRole("button", { name: "Cancel" }).click();
  await expect(keys.getByRole("row").filter({ hasText: "e2e guardrail override" })).toBeVisible();
  await page.getByRole("button", { name: "Remove the override of e2e guardrail override" }).click();
  await page.getByRole("alertdialog", { name: "Remove the override of e2e guardrail override?" }).getByRole("button", { name: "Remove override" }).click();
  await expect(page.getByText("No API key overrides a rule.")).toBeVisible();

  await page.getByRole("button", { name: "Return to the built-in defaults" }).click();
  await page.getByRole("alertdialog", { name: "Return to the built-in defaults?" }).getByRole("button", { name: "Return to built-in" }).click();
  await expect(page.getByText("Built-in defaults", { exact: true })).toBeVisible();
});

test("a member reads the guardrails without controls to change them", async ({ page }) => {
  await signIn(page, marc.email, marc.password);
  await page.goto("/o/hopital-rive-gauche/guardrails");
  await expect(page.getByRole("table", { name: "Guardrail rules and their actions" })).toBeVisible();
  await expect(page.getByText("Owners and admins change the guardrails.")).toBeVisible();
  await expect(page.getByRole("button", { name: "Save defaults" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Add an override" })).toHaveCount(0);
});

/** The label of the override dialog's option for a key named `name` ("name (prefix)"). */
async function optionLabel(page: import("@playwright/test").Page, name: string) {
  const option = page.getByRole("dialog", { name: "Add an override" }).locator("option", { hasText: name });
  await expect(option).toHaveCount(1);
  return (await option.textContent())!.trim();
}
