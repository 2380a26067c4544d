import { expect, test, type Locator, type Page } from "@playwright/test";
import { DEMO_LOGINS, signIn, TINY_MODEL_CHOICE } from "./helpers";

// Keyboard-only journeys (Tab, Shift+Tab, arrows, Enter, Space; no click once signed in), with
// focus visible wherever it lands. Sign-in itself is the helper's and is not the point here.
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;
const ORG = "nordic-data-agency";

/** The focused element shows it: the global :focus-visible outline, or an input's ring. */
async function expectFocusVisible(page: Page) {
  const style = await page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return null;
    const s = getComputedStyle(el);
    return { outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0, ring: s.boxShadow !== "none", visible: el.matches(":focus-visible") };
  });
  expect(style, "something is focused").not.toBeNull();
  expect(style!.visible && (style!.outline || style!.ring), `focus is visible: ${JSON.stringify(style)}`).toBe(true);
}

const isFocused = (target: Locator) => target.evaluate((el) => el === document.activeElement).catch(() => false);

/** Presses Tab (or Shift+Tab) until `target` has focus, as a keyboard user would. */
async function tabTo(page: Page, target: Locator, { back = false, max = 60 } = {}) {
  for (let i = 0; i < max; i++) {
    if (await isFocused(target)) return expectFocusVisible(page);
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
  }
  throw new Error(`Tab never reached ${target}`);
}

/** In a radio group: Tab into it, then arrow keys until `choice` is checked. */
async function chooseRadio(page: Page, group: Locator, choice: Locator) {
  await tabTo(page, group.locator("input[type=radio]:focus").or(group.locator("input[type=radio]:not([disabled])").first()));
  // Arrows move and check within the group; Space checks the focused one (a group of one has nowhere to move).
  for (let i = 0; i < 20 && !(await choice.isChecked()); i++) await page.keyboard.press((await isFocused(choice)) ? "Space" : "ArrowDown");
  await expect(choice).toBeChecked();
  await expect(choice).toBeFocused();
  await expectFocusVisible(page);
}

test("the new-deployment wizard is completed with the keyboard only, focus landing on each step's heading", async ({ page, baseURL }) => {
  test.setTimeout(120_000);
  await signIn(page, ines.email, ines.password);
  await page.goto(`/o/${ORG}/deployments/new`);
  const name = `e2e-keyboard-${Date.now().toString(36)}`;
  const next = page.getByRole("button", { name: "Next" });
  const form = page.locator("form");

  await chooseRadio(page, form, page.getByRole("radio", TINY_MODEL_CHOICE));
  await tabTo(page, next);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Data classification", level: 2 })).toBeFocused();

  await chooseRadio(page, form, page.getByRole("radio", { name: "Internal", exact: true }));
  await tabTo(page, next);
  await page.keyboard.press("Space");
  await expect(page.getByRole("heading", { name: "Region", level: 2 })).toBeFocused();

  await chooseRadio(page, form, page.getByRole("radio", { name: /On-premises demo cluster/ }));
  await tabTo(page, next);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "GPUs", level: 2 })).toBeFocused();

  await chooseRadio(page, form, page.getByRole("radio", { name: /CPU-SLOT/ }));
  await tabTo(page, next);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Replicas", level: 2 })).toBeFocused();
  // Shift+Tab reaches the replicas field back from Next; the value stays.
  await tabTo(page, next);
  await tabTo(page, page.getByLabel("Replicas", { exact: true }), { back: true });
  await expect(page.getByLabel("Replicas", { exact: true })).toHaveValue("1");
  await tabTo(page, next);
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { name: "Name & review", level: 2 })).toBeFocused();

  const nameField = page.getByLabel("Deployment name");
  await tabTo(page, nameField);
  await page.keyboard.press("ControlOrMeta+a");
  await page.keyboard.type(name);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/deployments\/[a-z0-9]+$/);
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  const id = new URL(page.url()).pathname.split("/").pop()!;
  const removed = await page.request.delete(`/api/v1/orgs/${ORG}/deployments/${id}`, { headers: { origin: baseURL! } });
  expect(removed.status()).toBe(200);
});

test("an API key is created with the keyboard only: the dialog takes focus, keeps it, and gives it back", async ({ page, baseURL }) => {
  await signIn(page, ines.email, ines.password);
  await page.goto(`/o/${ORG}/api-keys`);
  const open = page.getByRole("button", { name: "Create API key" });
  await tabTo(page, open);
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "Create API key" });
  // Focus lands on the first field, visibly.
  await expect(dialog.getByLabel("Name", { exact: true })).toBeFocused();
  await expectFocusVisible(page);
  const name = `e2e keyboard key ${Date.now().toString(36)}`;
  await page.keyboard.type(name);
  // Space toggles a scope checkbox: add "read".
  const read = dialog.getByRole("checkbox", { name: /Read/ });
  await tabTo(page, read);
  await page.keyboard.press("Space");
  await expect(read).toBeChecked();
  // Tab stays inside the modal dialog however far it goes.
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    expect(await dialog.evaluate((el) => el.contains(document.activeElement))).toBe(true);
  }
  await tabTo(page, dialog.getByRole("button", { name: "Create key" }));
  await page.keyboard.press("Enter");
  const reveal = page.getByRole("dialog", { name: /API key created|created/i });
  await expect(reveal).toBeVisible();
  await expect(reveal).toContainText(name);
  await page.keyboard.press("Escape");
  await expect(reveal).toHaveCount(0);
  await expect(page.getByRole("table").getByText(name)).toBeVisible();
  // Focus is back on what opened the dialogs, not lost on <body>.
  await expect(open).toBeFocused();

  const keys = await (await page.request.get(`/api/v1/orgs/${ORG}/api-keys`, { headers: { origin: baseURL! } })).json();
  const made = keys.items.find((k: { name: string }) => k.name === name);
  expect(made.scopes).toEqual(expect.arrayContaining(["inference", "read"]));
  await page.request.post(`/api/v1/orgs/${ORG}/api-keys/${made.id}/revoke`, { headers: { origin: baseURL!, "content-type": "application/json" }, data: {} });
});
