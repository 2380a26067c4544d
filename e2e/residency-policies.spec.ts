import { expect, test } from "@playwright/test";
import { apiJson, DEMO_LOGINS, signIn } from "./helpers";

// Nordic Data Agency (its CONFIDENTIAL policy: FI, DE or FR, no certification), so that the hospital's
// journeys keep their demo data; the policy and the deployment made here are put back at the end.
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;
const marc = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("marc"))!;
const ORG = "nordic-data-agency";
const NAME = "e2e-confidential-notes";

const json = apiJson;

test("a tenant restricts CONFIDENTIAL data to SecNumCloud, sees which deployment would stop complying, saves, and the gateway refuses that class to it at once", async ({ page, baseURL }) => {
  test.setTimeout(240_000);
  const origin = baseURL!;
  await signIn(page, ines.email, ines.password);

  // A CONFIDENTIAL deployment of the tiny model in the on-premises region (FR, no certification), and a key.
  const models = await json(page.request, "get", "/api/v1/catalog/models", origin);
  const regions = await json(page.request, "get", `/api/v1/orgs/${ORG}/regions`, origin);
  const onprem = regions.find((r: { code: string }) => r.code === "onprem-demo");
  const slot = onprem.gpus.find((g: { gpuType: { code: string } }) => g.gpuType.code === "CPU-SLOT").gpuType;
  const before = (await json(page.request, "get", `/api/v1/orgs/${ORG}/residency-policies`, origin)).find((p: { dataClassification: string }) => p.dataClassification === "CONFIDENTIAL");
  const deployment = await json(page.request, "post", `/api/v1/orgs/${ORG}/deployments`, origin, {
    name: NAME,
    catalogModelId: models.find((m: { slug: string }) => m.slug === "tiny-random-llama").id,
    regionId: onprem.id,
    gpuTypeId: slot.id,
    replicas: 1,
    minReplicas: 1,
    maxReplicas: 1,
    dataClassification: "CONFIDENTIAL",
  });
  const { key } = await json(page.request, "post", `/api/v1/orgs/${ORG}/api-keys`, origin, { name: "e2e residency program", scopes: ["inference"] });
  const gateway = (await json(page.request, "get", `/api/v1/orgs/${ORG}/gateway`, origin)).baseUrl as string;
  const confidentialCall = () =>
    page.request.post(`${gateway}/chat/completions`, {
      headers: { authorization: `Bearer ${key}`, "x-data-classification": "CONFIDENTIAL" },
      data: { model: NAME, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 },
    });
  // The workers start a real model server: served once it is ready.
  await expect.poll(async () => (await confidentialCall()).status(), { timeout: 150_000, intervals: [1000] }).toBe(200);

  try {
    await page.goto(`/o/${ORG}`);
    await page.getByRole("link", { name: "Residency policies" }).first().click();
    await expect(page.getByRole("heading", { name: "Residency policies", exact: true })).toBeVisible();
    await expect(page.getByTestId("policy-RESTRICTED")).toContainText("restricted data is refused everywhere until you set a policy");
    const card = page.getByTestId("policy-CONFIDENTIAL");
    await expect(card).toContainText("FI, DE, FR");

    await card.getByRole("button", { name: "Edit policy" }).click();
    await card.getByRole("checkbox", { name: "SecNumCloud", exact: true }).check();
    await card.getByRole("button", { name: "Review and save" }).click();
    const confirm = page.getByRole("dialog", { name: "Save the confidential policy?" });
    const stops = confirm.getByTestId("stops-complying").filter({ hasText: NAME });
    await expect(stops).toContainText("onprem-demo");
    await expect(stops).toContainText("missing certification SecNumCloud");
    await confirm.getByRole("button", { name: "Save policy" }).click();
    await expect(page.getByText("Confidential policy saved")).toBeVisible();

    // At once: the next call is refused with the reason (a request racing the NOTIFY is retried briefly).
    await expect.poll(async () => (await confidentialCall()).status(), { timeout: 5_000, intervals: [100] }).toBe(403);
    const refused = await confidentialCall();
    expect(refused.status()).toBe(403);
    const error = (await refused.json()).error;
    expect(error.code).toBe("residency_policy_violation");
    expect(error.message).toContain("missing certification SecNumCloud");

    // Flagged on its page, with the reason and a link to the policy.
    await expect(card).toContainText(`${NAME} in onprem-demo: missing certification SecNumCloud`);
    await page.goto(`/o/${ORG}/deployments/${deployment.id}`);
    const alert = page.getByTestId("residency-alert");
    await expect(alert).toContainText("missing certification SecNumCloud");
    await expect(alert.getByRole("link", { name: "See the residency policy" })).toHaveAttribute("href", `/o/${ORG}/residency#policy-CONFIDENTIAL`);
  } finally {
    await json(page.request, "put", `/api/v1/orgs/${ORG}/residency-policies/CONFIDENTIAL`, origin, {
      allowedJurisdictions: before.allowedJurisdictions,
      requiredCertifications: before.requiredCertifications,
      allowedRegionIds: before.allowedRegionIds,
      allowExtraterritorial: before.allowExtraterritorial,
    });
    await json(page.request, "delete", `/api/v1/orgs/${ORG}/deployments/${deployment.id}`, origin);
  }
});

test("a member reads the residency policies without controls to change them", async ({ page }) => {
  await signIn(page, marc.email, marc.password);
  await page.goto("/o/hopital-rive-gauche/residency");
  await expect(page.getByTestId("policy-RESTRICTED")).toContainText("SecNumCloud");
  await expect(page.getByTestId("policy-PUBLIC")).toContainText("No policy: every region is allowed.");
  await expect(page.getByText("Owners and admins change the residency policies.")).toBeVisible();
  await expect(page.getByRole("button", { name: /Edit policy|Set a policy/ })).toHaveCount(0);
});
