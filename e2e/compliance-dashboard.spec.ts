import { readFile } from "node:fs/promises";
import { expect, test } from "@playwright/test";
import { DEMO_LOGINS, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const admin = DEMO_LOGINS.admin;
const ORG = "hopital-rive-gauche";
const num = new Intl.NumberFormat("en-IE");

test("the compliance dashboard shows the demo organisation's figures, and the report downloads as PDF and JSON", async ({ page }) => {
  test.setTimeout(180_000);
  await signIn(page, claire.email, claire.password);

  // The figures the API gives for the dashboard's default period (30 days)…
  const res = await page.request.get(`/api/v1/orgs/${ORG}/compliance/overview?period=30d`);
  expect(res.status()).toBe(200);
  const o = await res.json();

  // …are the ones the dashboard shows.
  await page.goto(`/o/${ORG}/compliance`);
  await expect(page.getByRole("heading", { name: "Compliance", level: 1 })).toBeVisible();
  await expect(page.getByTestId("tile-compliant")).toHaveText(num.format(o.deployments.compliant));
  await expect(page.getByTestId("tile-non-compliant")).toHaveText(num.format(o.deployments.nonCompliant));
  await expect(page.getByTestId("tile-exposed")).toHaveText(num.format(o.exposure.deploymentsInExposedRegions));
  await expect(page.getByTestId("tile-audit")).toHaveText(o.audit.verification.ok ? "Intact" : "Broken");
  const deployments = page.getByTestId("compliance-deployments");
  for (const d of o.deployments.items as { deploymentName: string }[]) await expect(deployments.getByRole("link", { name: d.deploymentName })).toBeVisible();
  if (o.audit.latestCheckpoint) await expect(page.getByTestId("audit-checkpoint-root")).toHaveText(o.audit.latestCheckpoint.rootHash);
  await expect(page.getByTestId("compliance-retention")).toContainText(`${o.retention.traceDays} days`);
  // The period is kept in the URL.
  await page.getByRole("group", { name: "Period" }).getByRole("button", { name: "7 days" }).click();
  await expect(page).toHaveURL(/period=7d/);

  // Download report: the PDF through the button…
  const form = page.getByTestId("download-report");
  const [download] = await Promise.all([page.waitForEvent("download"), form.getByRole("button", { name: "Download PDF" }).click()]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^compliance-${ORG}-\\d{4}-\\d{2}-\\d{2}-\\d{4}-\\d{2}-\\d{2}\\.pdf$`));
  const bytes = await readFile((await download.path())!);
  expect(bytes.length).toBeGreaterThan(1000);
  expect(bytes.subarray(0, 5).toString()).toBe("%PDF-");

  // …and both formats over the API with the session, as the console fetches them.
  const from = await form.getByLabel("From (UTC)").inputValue();
  const to = await form.getByLabel("To (UTC, included)").inputValue();
  const pdf = await page.request.get(`/api/v1/orgs/${ORG}/compliance/report.pdf?from=${from}&to=${to}`);
  expect(pdf.status()).toBe(200);
  expect(pdf.headers()["content-type"]).toBe("application/pdf");
  expect((await pdf.body()).length).toBeGreaterThan(1000);
  const json = await page.request.get(`/api/v1/orgs/${ORG}/compliance/report?from=${from}&to=${to}`);
  expect(json.status()).toBe(200);
  const report = JSON.parse(await json.text());
  expect(report.organization.slug).toBe(ORG);
  expect(report.compliance.nonCompliant).toBe(o.deployments.nonCompliant);
  const [jsonDownload] = await Promise.all([page.waitForEvent("download"), form.getByRole("button", { name: "Download JSON" }).click()]);
  expect(JSON.parse(await readFile((await jsonDownload.path())!, "utf8")).schema).toBe(report.schema);
  // The schema it follows is published.
  const schema = await page.request.get("/api/v1/schemas/compliance-report.json");
  expect(schema.status()).toBe(200);
  expect((await schema.json()).$id).toBe(report.schema);
});

test("platform admins see compliance across organisations", async ({ page }) => {
  await signIn(page, admin.email, admin.password);
  await page.goto("/admin/compliance");
  await expect(page.getByRole("heading", { name: "Compliance across organisations" })).toBeVisible();
  const res = await page.request.get("/api/v1/admin/compliance/overview?period=30d");
  expect(res.status()).toBe(200);
  const all = await res.json();
  await expect(page.getByTestId("admin-non-compliant")).toHaveText(num.format(all.totals.nonCompliant));
  await expect(page.getByTestId("admin-compliance-table").getByRole("link", { name: "Hôpital Rive Gauche" })).toBeVisible();
});
