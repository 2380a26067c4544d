import { expect, test, type Browser } from "@playwright/test";
import { TINY_MODEL_SHA256 } from "../workers/model-server/tiny-model";
import { DEMO_LOGINS, signIn } from "./helpers";

const claire = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("claire"))!;
const ines = DEMO_LOGINS.tenants.find((t) => t.email.startsWith("ines"))!;
const WRONG = "c0ffee".padEnd(64, "0");

async function signedIn(browser: Browser, login: { email: string; password: string }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, login.email, login.password);
  return { context, page };
}

test("a deployment whose catalog digest is not the file's is refused by the driver, with the reason on its page", async ({ browser, baseURL }) => {
  const admin = await signedIn(browser, DEMO_LOGINS.admin);
  const json = { origin: baseURL!, "content-type": "application/json" };
  // The tiny model again, with a digest that is not its file's (as a tampered or mis-catalogued artifact would be).
  const [regions, gpuTypes] = await Promise.all([admin.page.request.get("/api/v1/admin/regions"), admin.page.request.get("/api/v1/admin/gpu-types")]);
  const onprem = ((await regions.json()) as { id: string; code: string }[]).find((r) => r.code === "onprem-demo")!;
  const slot = ((await gpuTypes.json()) as { id: string; code: string }[]).find((g) => g.code === "CPU-SLOT")!;
  const version = `e2e-${Date.now().toString(36)}`;
  const created = await admin.page.request.post("/api/v1/admin/catalog/models", {
    headers: json,
    data: {
      slug: "tiny-random-llama-tampered",
      family: "tiny-e2e",
      name: "Tiny random Llama (wrong digest)",
      version,
      parameterCount: "2000000",
      contextLength: 512,
      license: "Apache-2.0",
      openWeights: true,
      openData: true,
      origin: "e2e",
      artifactUri: "local://tiny-random-llama",
      artifactSha256: WRONG,
      runtime: "LLAMA_CPP",
      gpuMemoryGb: 1,
      minGpuCount: 1,
      fitsGpuTypeIds: [slot.id],
      allowedRegionIds: [onprem.id],
      description: null,
    },
  });
  expect(created.status(), await created.text()).toBe(200);
  const model = (await created.json()) as { id: string };
  await admin.context.close();

  const tenant = await signedIn(browser, ines);
  const name = `tampered-${Date.now().toString(36)}`;
  const deployment = await tenant.page.request.post("/api/v1/orgs/nordic-data-agency/deployments", {
    headers: json,
    data: { name, catalogModelId: model.id, regionId: onprem.id, gpuTypeId: slot.id, replicas: 1, minReplicas: 1, maxReplicas: 1, dataClassification: "INTERNAL" },
  });
  expect(deployment.status(), await deployment.text()).toBe(200);
  const { id } = (await deployment.json()) as { id: string };

  await tenant.page.goto(`/o/nordic-data-agency/deployments/${id}`);
  await expect(tenant.page.getByTestId("deployment-phase")).toHaveText(/failed/i, { timeout: 45_000 });
  const alert = tenant.page.getByTestId("artifact-mismatch");
  await expect(alert).toContainText("The model's file was refused: its sha256 is not the one in the catalog.");
  await expect(alert).toContainText(`artifact sha256 mismatch: the catalog says ${WRONG}, the file is ${TINY_MODEL_SHA256}`);

  // Its evidence says the same per replica.
  await tenant.page.getByRole("link", { name: "Evidence", exact: true }).click();
  await expect(tenant.page.getByRole("heading", { name: `Evidence: ${name}` })).toBeVisible();
  const replica = tenant.page.getByTestId("replica-artifact").first();
  await expect(replica).toContainText("Mismatch");
  await expect(replica).toContainText(TINY_MODEL_SHA256);
  await tenant.context.close();
});

test("the evidence page of the running demo deployment shows the verified digest and the region's certifications set by an admin", async ({ browser, baseURL }) => {
  // A platform admin records the on-premises region's certification in the region form.
  const admin = await signedIn(browser, DEMO_LOGINS.admin);
  await admin.page.goto("/admin/regions");
  await admin.page.getByRole("button", { name: "Edit onprem-demo" }).click();
  const dialog = admin.page.getByRole("dialog");
  await dialog.getByRole("button", { name: "Add certification details" }).click();
  await dialog.getByLabel("Certification", { exact: true }).fill("ISO 27001");
  await dialog.getByLabel("Issuer").fill("Accredited certification body (e2e)");
  await dialog.getByLabel("Scope").fill("The hospital's own data centre");
  await dialog.getByLabel("Valid from").fill("2026-01-01");
  await dialog.getByLabel("Valid until").fill("2025-01-01");
  await dialog.getByRole("button", { name: "Save region" }).click();
  // Precise, on the field, before anything is sent.
  await expect(dialog.getByText("The end of validity must be after its start")).toBeVisible();
  await dialog.getByLabel("Valid from").fill("2025-01-01");
  await dialog.getByLabel("Valid until").fill("2099-01-01");
  await dialog.getByLabel("EU Cloud Sovereignty Framework level").selectOption("SEAL_4");
  await dialog.getByRole("button", { name: "Save region" }).click();
  await expect(admin.page.getByText("Region onprem-demo updated")).toBeVisible();
  await expect(admin.page.getByRole("row", { name: /onprem-demo/ })).toContainText("SEAL-4");

  try {
    const tenant = await signedIn(browser, claire);
    await tenant.page.goto("/o/hopital-rive-gauche/deployments");
    await tenant.page.getByRole("link", { name: "tiny-demo" }).first().click();
    await expect(tenant.page.getByTestId("deployment-phase")).toHaveText(/running/i, { timeout: 60_000 });
    await tenant.page.getByRole("link", { name: "Evidence", exact: true }).click();

    await expect(tenant.page.getByRole("heading", { name: "Evidence: tiny-demo" })).toBeVisible();
    const replica = tenant.page.getByTestId("replica-artifact").first();
    await expect(replica).toContainText("Verified");
    await expect(replica).toContainText(TINY_MODEL_SHA256);
    const certification = tenant.page.getByTestId("certification").filter({ hasText: "ISO 27001" });
    await expect(certification).toContainText("Accredited certification body (e2e)");
    await expect(certification).toContainText("Valid today");
    await expect(certification).toContainText("2025-01-01 – 2099-01-01");
    await expect(tenant.page.getByText("SEAL-4")).toBeVisible();
    // The JSON the page offers is the REST document.
    const href = await tenant.page.getByRole("link", { name: "Download JSON" }).getAttribute("href");
    const evidence = await tenant.page.request.get(href!);
    expect(evidence.status()).toBe(200);
    const body = await evidence.json();
    expect(body.model.replicas[0]).toMatchObject({ status: "verified", sha256: TINY_MODEL_SHA256 });
    expect(body.region.certifications).toContainEqual(expect.objectContaining({ name: "ISO 27001", validToday: true }));
    await tenant.context.close();
  } finally {
    // Leave the demo region as the seed made it, for the specs that follow.
    const regions = (await (await admin.page.request.get("/api/v1/admin/regions")).json()) as Record<string, unknown>[];
    const r = regions.find((x) => x.code === "onprem-demo")!;
    const capacities = (r.capacities as { gpuType: { id: string }; totalGpus: number; priceCentsPerGpuHour: number }[]).map((c) => ({ gpuTypeId: c.gpuType.id, totalGpus: c.totalGpus, priceCentsPerGpuHour: c.priceCentsPerGpuHour }));
    const fields = ["code", "name", "provider", "country", "city", "jurisdiction", "extraterritorialExposure", "exposureNote", "onPremises", "driverKind", "driverEndpoint", "carbonIntensityGco2Kwh"];
    const restored = await admin.page.request.put(`/api/v1/admin/regions/${r.id}`, {
      headers: { origin: baseURL!, "content-type": "application/json" },
      data: { ...Object.fromEntries(fields.map((f) => [f, r[f]])), certifications: [], certificationDetails: [], sovereigntyLevel: null, capacities },
    });
    expect(restored.status(), await restored.text()).toBe(200);
    await admin.context.close();
  }
});
