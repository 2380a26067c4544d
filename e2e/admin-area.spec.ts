import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

test("the demo admin signs in and sees the regions table", async ({ page }) => {
  await signIn(page, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  await expect(page).toHaveURL(/\/admin\/regions/);
  const table = page.getByRole("table", { name: "Regions" });
  await expect(table).toBeVisible();
  await expect(table.getByText("fi-kajaani-lumi")).toBeVisible();
  await expect(table.getByText("fr-par-snc")).toBeVisible();
  await expect(table.getByText("Exposed").first()).toBeVisible();
  await page.getByRole("link", { name: "Catalog" }).click();
  await expect(page.getByText("EuroLLM-9B", { exact: false }).first()).toBeVisible();
});

test("a member cannot open the admin area", async ({ page }) => {
  const member = DEMO_LOGINS.tenants.find((t) => t.role === "MEMBER")!;
  await signIn(page, member.email, member.password);
  await expect(page.getByRole("navigation", { name: "Main" }).first().getByText("Platform admin")).toHaveCount(0);
  await page.goto("/admin/regions");
  await expect(page.getByRole("heading", { name: "You don't have access to the admin area" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Regions" })).toHaveCount(0);
});
