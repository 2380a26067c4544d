import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;

test("a tenant asks for 4 more H100 in a SecNumCloud region, the admin grants 2 with a note, and the tenant sees both", async ({ page, browser }) => {
  await signIn(page, claire.email, claire.password);
  await page.goto("/o/hopital-rive-gauche/quotas");
  const h100Row = page.getByRole("table", { name: "GPU quotas" }).getByRole("row", { name: /Paris SecNumCloud.*H100/ });
  await expect(h100Row).toContainText("4");

  await page.getByLabel("Region").selectOption({ label: "Paris SecNumCloud (fr-par-snc)" });
  await page.getByLabel("GPU type").selectOption({ label: "NVIDIA H100 80GB" });
  await page.getByLabel("Additional GPUs").fill("4");
  await page.getByLabel("Justification").fill("Radiology report summarisation pilot with Mistral 7B, three months.");
  await page.getByRole("button", { name: "Send request" }).click();
  await expect(page.getByText("Request sent to the platform administrators")).toBeVisible();
  await expect(page.getByTestId("quota-request").first()).toContainText("Pending");

  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signIn(admin, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  await admin.goto("/admin/quotas");
  const card = admin.getByRole("article", { name: /Hôpital Rive Gauche: \+4 H100-80GB in fr-par-snc/ });
  await expect(card).toContainText("Radiology report summarisation");
  await card.getByRole("button", { name: "Approve part", exact: true }).click();
  await admin.getByLabel("GPUs to approve").fill("2");
  await admin.getByLabel("Note to the tenant").fill("Two now; the rest when the January H100 delivery is racked.");
  await admin.getByRole("button", { name: "Confirm decision", exact: true }).click();
  await expect(admin.getByRole("article", { name: /Hôpital Rive Gauche: \+4 H100-80GB/ })).toHaveCount(0);
  await adminContext.close();

  await page.reload();
  await expect(h100Row.getByRole("cell").nth(2)).toHaveText("6");
  const decided = page.getByTestId("quota-request").first();
  await expect(decided).toContainText("Partly approved");
  await expect(decided).toContainText("2 granted");
  await expect(decided).toContainText("Two now; the rest when the January H100 delivery is racked.");
});

test("an admin puts a region in maintenance and the tenant's regions page shows it as unavailable", async ({ page, browser }) => {
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signIn(admin, DEMO_LOGINS.admin.email, DEMO_LOGINS.admin.password);
  await admin.goto("/admin/regions");
  const row = admin.getByRole("table", { name: "Regions" }).getByRole("row", { name: /de-neckarsulm-c5/ });
  await row.getByRole("button", { name: "Maintenance", exact: true }).click();
  await admin.getByLabel("Reason").fill("Firmware upgrade of the L40S nodes");
  await admin.getByRole("button", { name: "Confirm", exact: true }).click();
  await expect(row).toContainText(/maintenance/i);
  await adminContext.close();

  await signIn(page, ines.email, ines.password);
  await page.goto("/o/nordic-data-agency/regions");
  const region = page.getByTestId("region-de-neckarsulm-c5");
  await expect(region).toContainText("Unavailable: maintenance");
  await expect(region).toContainText("Firmware upgrade of the L40S nodes");
  await expect(page.getByTestId("region-onprem-demo")).toContainText("Available");

  // The data class filter applies the residency policy, with the reasons.
  await page.getByLabel("Data class").selectOption("CONFIDENTIAL");
  await expect(page.getByTestId("region-eu-paris-hyperscaler")).toContainText("operator exposed to extraterritorial law");
});
