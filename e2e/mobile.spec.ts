import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, expectNoSidewaysScroll, signIn } from "./helpers";

test("on a phone, the navigation opens from the menu button and pages fit the screen", async ({ page }) => {
  const owner = DEMO_LOGINS.tenants[0];
  await signIn(page, owner.email, owner.password);
  await page.getByRole("button", { name: "Menu" }).click();
  await page.locator("#mobile-nav").getByRole("link", { name: "Quotas" }).click();
  await expect(page).toHaveURL(/\/quotas$/);
  await expectNoSidewaysScroll(page);
});
