import { expect, test } from "@playwright/test";
import { apiJson, DEMO_LOGINS, signIn, uniqueEmail } from "./helpers";

// One styled confirmation for destructive actions, nothing offered that cannot succeed, errors once
// in human words, and filters kept in the URL (docs/console-interactions.md).
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;
const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ORG = "nordic-data-agency";

const json = apiJson;

test("stop and delete ask first in a styled alert dialog; a deleted deployment shows the name it was given, when it went, and nothing to use or pay", async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  const origin = baseURL!;
  const name = `e2e-confirm-${Date.now().toString(36)}`;
  await signIn(page, ines.email, ines.password);
  const models = await json(page.request, "get", "/api/v1/catalog/models", origin);
  const regions = await json(page.request, "get", `/api/v1/orgs/${ORG}/regions`, origin);
  const onprem = regions.find((r: { code: string }) => r.code === "onprem-demo");
  const slot = onprem.gpus.find((g: { gpuType: { code: string } }) => g.gpuType.code === "CPU-SLOT").gpuType;
  const deployment = await json(page.request, "post", `/api/v1/orgs/${ORG}/deployments`, origin, {
    name,
    catalogModelId: models.find((m: { slug: string }) => m.slug === "tiny-random-llama").id,
    regionId: onprem.id,
    gpuTypeId: slot.id,
    replicas: 1,
    minReplicas: 1,
    maxReplicas: 1,
    dataClassification: "INTERNAL",
  });
  let deleted = false;
  try {
    await page.goto(`/o/${ORG}/deployments/${deployment.id}`);
    // Stop no longer acts on one click: it asks, focus on Cancel, Escape cancels and focus goes back.
    const stop = page.getByRole("button", { name: "Stop", exact: true });
    await stop.click();
    const askStop = page.getByRole("alertdialog", { name: `Stop ${name}?` });
    await expect(askStop).toBeVisible();
    await expect(askStop.getByRole("button", { name: "Cancel" })).toBeFocused();
    await page.keyboard.press("Escape");
    await expect(askStop).toHaveCount(0);
    await expect(stop).toBeFocused();
    const afterCancel = await json(page.request, "get", `/api/v1/orgs/${ORG}/deployments/${deployment.id}`, origin);
    expect(afterCancel.desiredState).toBe("RUNNING");

    // Delete: no browser-native confirm; the styled one needs the name typed.
    page.on("dialog", (d) => {
      throw new Error(`native dialog opened: ${d.message()}`);
    });
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    const askDelete = page.getByRole("alertdialog", { name: `Delete ${name}?` });
    const confirm = askDelete.getByRole("button", { name: "Delete deployment" });
    await expect(confirm).toBeDisabled();
    await askDelete.getByLabel(`Type ${name} to confirm`).fill(`${name}-nope`);
    await expect(confirm).toBeDisabled();
    await askDelete.getByLabel(`Type ${name} to confirm`).fill(name);
    await confirm.click();
    await expect(askDelete).toHaveCount(0);
    deleted = true;

    // Once the workers have removed it: the given name, "Deleted on …", no "Use it", no price, no actions.
    await expect(page.getByTestId("deleted-on")).toContainText("Deleted on", { timeout: 90_000 });
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
    await expect(page.getByText("~deleted-")).toHaveCount(0);
    await expect(page.getByRole("heading", { name: "Use it" })).toHaveCount(0);
    await expect(page.getByTestId("price-per-hour")).toHaveCount(0);
    for (const action of ["Stop", "Start", "Delete", "Evidence", "Apply", "Retry"]) await expect(page.getByRole("button", { name: action, exact: true })).toHaveCount(0);
    await page.reload();
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
  } finally {
    if (!deleted) await json(page.request, "delete", `/api/v1/orgs/${ORG}/deployments/${deployment.id}`, origin);
  }
});

test("a sole owner is not offered 'Leave' and is told why", async ({ page }) => {
  // A brand-new organisation: its creator is its only owner.
  const email = uniqueEmail("sole-owner");
  await page.goto("/signin");
  await page.getByRole("link", { name: "Create an organisation" }).click();
  await page.getByLabel("Your name").fill("Sole Owner");
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill("a sovereign passphrase");
  await page.getByLabel("Organisation name").fill(`Sole ${Date.now().toString(36)}`);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/o\/sole-/);
  const slug = new URL(page.url()).pathname.split("/")[2];
  await page.goto(`/o/${slug}/settings`);
  const members = page.getByRole("table", { name: "Members" });
  await expect(members).toContainText(email);
  await expect(members.getByRole("button", { name: "Leave" })).toHaveCount(0);
  await expect(page.getByTestId("sole-owner-note")).toContainText("only owner");
});

test("removing a residency policy needs its name typed, in a styled alert dialog that Escape cancels", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/residency");
  const card = page.getByTestId("policy-RESTRICTED");
  const remove = card.getByRole("button", { name: "Remove", exact: true });
  await remove.click();
  const ask = page.getByRole("alertdialog", { name: "Remove the restricted policy?" });
  await expect(ask.getByRole("button", { name: "Remove policy" })).toBeDisabled();
  await expect(ask.getByLabel("Type Restricted to confirm")).toBeFocused();
  // Focus stays inside: Tab from the last control comes back to the first.
  for (let i = 0; i < 6; i++) await page.keyboard.press("Tab");
  expect(await ask.evaluate((el) => el.contains(document.activeElement))).toBe(true);
  await page.keyboard.press("Escape");
  await expect(ask).toHaveCount(0);
  await expect(remove).toBeFocused();
  await expect(card).toContainText("SecNumCloud");
});

test("a quota request's errors show once, beside the field, in human words; its line breaks are kept", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/quotas");
  const form = page.locator("form").filter({ has: page.getByLabel("Justification") });
  await form.getByLabel("Region").selectOption({ index: 1 });
  await form.getByLabel("GPU type").selectOption({ index: 1 });
  await form.getByLabel("Justification").fill("x".repeat(2001));
  await form.getByRole("button", { name: "Send request" }).click();
  await expect(page.locator("#justification-error")).toHaveText("Use at most 2,000 characters");
  // Once: no toast repeats it, and no raw field prefix anywhere.
  await expect(page.locator("[data-sonner-toast]")).toHaveCount(0);
  await expect(page.getByText("justification:")).toHaveCount(0);

  const text = `Line one of the need\nLine two: ${Date.now().toString(36)}`;
  await form.getByLabel("Justification").fill(text);
  await form.getByRole("button", { name: "Send request" }).click();
  await expect(page.getByText("Request sent to the platform administrators")).toBeVisible();
  const shown = page.getByTestId("quota-justification").filter({ hasText: text.split("\n")[1] }).first();
  expect(await shown.evaluate((el) => getComputedStyle(el).whiteSpace)).toBe("pre-wrap");
  expect(await shown.innerText()).toBe(text);
  await shown.locator("xpath=ancestor::li").getByRole("button", { name: "Cancel request" }).click();
  await page.getByRole("alertdialog", { name: "Cancel this request?" }).getByRole("button", { name: "Cancel request" }).click();
  await expect(page.getByText("Request cancelled")).toBeVisible();
});

test("the admin's New region form shows every error in one round", async ({ page }) => {
  await signIn(page, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  await page.goto("/admin/regions");
  await page.getByRole("button", { name: "New region" }).click();
  const dialog = page.getByRole("dialog", { name: "New region" });
  await dialog.getByRole("button", { name: "Create region" }).click();
  // Before, the first round held only the client-side number checks; the schema's errors came later.
  await expect(dialog.locator("#carbonIntensityGco2Kwh-error")).toBeVisible();
  await expect(dialog.locator("#code-error")).toHaveText("Use at least 2 characters");
  await expect(dialog.locator("#country-error")).toBeVisible();
  await expect(dialog.locator("#city-error")).toHaveText("City is required");
});

test("filters are kept in the URL: the regions comparison reloads and shares as filtered", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/regions");
  await page.getByLabel("Data class").selectOption("RESTRICTED");
  await page.getByRole("checkbox", { name: "HDS only" }).check();
  await expect(page).toHaveURL(/dataClass=RESTRICTED/);
  await expect(page).toHaveURL(/cert=HDS/);
  await page.reload();
  await expect(page.getByLabel("Data class")).toHaveValue("RESTRICTED");
  await expect(page.getByRole("checkbox", { name: "HDS only" })).toBeChecked();
  await page.getByRole("checkbox", { name: "HDS only" }).uncheck();
  await expect(page).not.toHaveURL(/cert=/);
  await expect(page).toHaveURL(/dataClass=RESTRICTED/);
});

test("the deployments list's data-class filter is kept in the URL", async ({ page }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/deployments?dataClass=RESTRICTED");
  await expect(page.getByLabel("Data class")).toHaveValue("RESTRICTED");
  await page.getByLabel("Data class").selectOption("INTERNAL");
  await expect(page).toHaveURL(/dataClass=INTERNAL/);
  await expect(page.getByRole("table", { name: "Deployments" })).toContainText("Internal");
  await page.reload();
  await expect(page.getByLabel("Data class")).toHaveValue("INTERNAL");
  await page.getByLabel("Data class").selectOption("");
  await expect(page).not.toHaveURL(/dataClass=/);
});
