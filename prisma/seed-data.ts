import path from "node:path";
import type { RegionInput } from "../server/services/regions";

/**
 * Demo data that tells the truth: real regions, operators and certifications, GPU prices in the
 * range European offers charge, catalog models with their published sizes, contexts and licences.
 * Where a figure is an Enclave assumption rather than a public fact, the comment says so.
 */

// Demo installations only (never seeded with DATABASE_URL set, see seed.ts); like every password,
// they meet the password policy (server/passwords.ts, tests/integration/bootstrap.test.ts).
export const DEMO_PASSWORD = "enclave-demo";

export const DEMO_LOGINS = {
  admin: { email: "admin@enclave.local", password: "enclave-admin-demo", name: "Platform Admin" },
  tenants: [
    { email: "claire.martin@hopital-rive-gauche.fr", password: DEMO_PASSWORD, name: "Claire Martin", role: "OWNER", org: "Hôpital Rive Gauche" },
    { email: "marc.dubois@hopital-rive-gauche.fr", password: DEMO_PASSWORD, name: "Marc Dubois", role: "MEMBER", org: "Hôpital Rive Gauche" },
    { email: "ines.lindqvist@nordicdata.eu", password: DEMO_PASSWORD, name: "Inès Lindqvist", role: "OWNER", org: "Nordic Data Agency" },
  ],
} as const;

export const GPU_TYPES = [
  { code: "H100-80GB", name: "NVIDIA H100 80GB", vendor: "NVIDIA", memoryGb: 80 },
  { code: "A100-80GB", name: "NVIDIA A100 80GB", vendor: "NVIDIA", memoryGb: 80 },
  { code: "L40S-48GB", name: "NVIDIA L40S 48GB", vendor: "NVIDIA", memoryGb: 48 },
  { code: "L4-24GB", name: "NVIDIA L4 24GB", vendor: "NVIDIA", memoryGb: 24 },
  // One MI250X module is two GCDs of 64 GB each; LUMI schedules per GCD.
  { code: "MI250X-GCD", name: "AMD Instinct MI250X (one GCD, 64GB)", vendor: "AMD", memoryGb: 64 },
  // The demo cluster has no GPU: a "slot" is one CPU model-server process.
  { code: "CPU-SLOT", name: "CPU slot (no GPU, demo cluster)", vendor: "none", memoryGb: 4 },
] as const;

type Capacity = { gpu: (typeof GPU_TYPES)[number]["code"]; total: number; priceCents: number };

/** A region as the admin form creates it (`RegionInput`), with capacities by GPU code. */
export const REGIONS: (Omit<RegionInput, "exposureNote" | "driverEndpoint" | "capacities" | "certificationDetails" | "sovereigntyLevel"> & {
  // Certification details: issuers and scopes as published; validity dates are illustrative (an
  // operator checks them against the issuer's register, e.g. ANSSI's list of qualified providers).
  certificationDetails?: RegionInput["certificationDetails"];
  // EU Cloud Sovereignty Framework level: Enclave's demo assessment, not an official rating.
  sovereigntyLevel?: RegionInput["sovereigntyLevel"];
  exposureNote?: string;
  driverEndpoint?: string;
  capacities: Capacity[];
})[] = [
  {
    code: "fr-par-snc",
    name: "Paris SecNumCloud",
    provider: "3DS Outscale",
    country: "FR",
    city: "Paris",
    jurisdiction: "FR",
    // Outscale's cloud is SecNumCloud-qualified by ANSSI and HDS-certified for health data.
    certifications: ["SecNumCloud", "HDS", "ISO 27001"],
    certificationDetails: [
      { name: "SecNumCloud", issuer: "ANSSI", scope: "IaaS qualification (SecNumCloud 3.2) of the Outscale cloud, French regions", validFrom: "2023-12-12", validUntil: "2026-12-11" },
      { name: "HDS", issuer: "COFRAC-accredited certification body", scope: "Hébergeur de données de santé: physical hosting and infrastructure operation (HDS 2.0)", validFrom: "2024-03-01", validUntil: "2027-02-28" },
      { name: "ISO 27001", issuer: "COFRAC-accredited certification body", scope: "Information security management of the cloud services and data centres", validFrom: "2024-01-15", validUntil: "2027-01-14" },
    ],
    sovereigntyLevel: "SEAL_3",
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "KUBERNETES",
    driverEndpoint: "https://k8s.fr-par-snc.example.internal:6443",
    carbonIntensityGco2Kwh: 32, // French grid, 2024 average (RTE)
    capacities: [
      { gpu: "H100-80GB", total: 32, priceCents: 310 },
      { gpu: "L40S-48GB", total: 24, priceCents: 155 },
    ],
  },
  {
    code: "fi-kajaani-lumi",
    name: "LUMI (EuroHPC)",
    provider: "CSC – IT Center for Science (LUMI consortium)",
    country: "FI",
    city: "Kajaani",
    jurisdiction: "FI",
    certifications: ["ISO 27001"],
    certificationDetails: [{ name: "ISO 27001", issuer: "Accredited certification body (FINAS)", scope: "CSC's data centre and HPC services, Kajaani", validFrom: "2024-05-20", validUntil: "2027-05-19" }],
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "SLURM",
    driverEndpoint: "https://slurmrest.lumi.example.internal/slurm/v0.0.38",
    carbonIntensityGco2Kwh: 0, // LUMI runs on 100% hydropower
    // EuroHPC access is by allocation; the price is Enclave's internal charge-back assumption.
    capacities: [{ gpu: "MI250X-GCD", total: 64, priceCents: 120 }],
  },
  {
    code: "fr-orsay-jeanzay",
    name: "Jean Zay (IDRIS, CNRS)",
    provider: "GENCI / IDRIS (CNRS)",
    country: "FR",
    city: "Orsay",
    jurisdiction: "FR",
    certifications: [],
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "SLURM",
    driverEndpoint: "https://slurmrest.jean-zay.example.internal/slurm/v0.0.38",
    carbonIntensityGco2Kwh: 32,
    // Jean Zay's 2024 extension added 1,456 H100; the price is an internal charge-back assumption.
    capacities: [
      { gpu: "H100-80GB", total: 48, priceCents: 280 },
      { gpu: "A100-80GB", total: 16, priceCents: 190 },
    ],
  },
  {
    code: "de-neckarsulm-c5",
    name: "STACKIT Germany",
    provider: "STACKIT (Schwarz Digits)",
    country: "DE",
    city: "Neckarsulm",
    jurisdiction: "DE",
    certifications: ["C5", "ISO 27001"],
    certificationDetails: [
      { name: "C5", issuer: "BSI (attested by an independent auditor)", scope: "Cloud Computing Compliance Criteria Catalogue (C5:2020), type 2 attestation of STACKIT cloud services", validFrom: "2025-01-01", validUntil: "2025-12-31" },
      { name: "ISO 27001", issuer: "DAkkS-accredited certification body", scope: "STACKIT data centres and cloud platform", validFrom: "2024-02-01", validUntil: "2027-01-31" },
    ],
    sovereigntyLevel: "SEAL_3",
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "KUBERNETES",
    driverEndpoint: "https://api.ske.eu01.example.internal",
    carbonIntensityGco2Kwh: 363, // German grid, 2024 average
    capacities: [
      { gpu: "L40S-48GB", total: 16, priceCents: 150 },
      { gpu: "L4-24GB", total: 32, priceCents: 75 },
    ],
  },
  {
    code: "eu-paris-hyperscaler",
    name: "US hyperscaler, Paris region",
    provider: "Amazon Web Services (eu-west-3)",
    country: "FR",
    city: "Paris",
    jurisdiction: "US",
    certifications: ["HDS", "ISO 27001", "C5"],
    certificationDetails: [
      { name: "HDS", issuer: "COFRAC-accredited certification body", scope: "Hébergeur de données de santé for the eu-west-3 (Paris) region", validFrom: "2024-06-01", validUntil: "2027-05-31" },
      { name: "ISO 27001", issuer: "Accredited certification body", scope: "AWS global infrastructure and services", validFrom: "2024-11-01", validUntil: "2027-10-31" },
      { name: "C5", issuer: "BSI (attested by an independent auditor)", scope: "C5:2020 type 2 attestation of AWS services in EU regions", validFrom: "2025-01-01", validUntil: "2025-12-31" },
    ],
    sovereigntyLevel: "SEAL_0",
    extraterritorialExposure: true,
    exposureNote: "Operated by a US company: subject to the US CLOUD Act and FISA section 702 wherever the data is stored.",
    onPremises: false,
    driverKind: "KUBERNETES",
    driverEndpoint: "https://eks.eu-west-3.example.internal",
    carbonIntensityGco2Kwh: 32,
    capacities: [
      { gpu: "H100-80GB", total: 64, priceCents: 320 },
      { gpu: "L4-24GB", total: 64, priceCents: 85 },
    ],
  },
  {
    code: "onprem-demo",
    name: "On-premises demo cluster (this machine)",
    provider: "Your own servers",
    country: "FR",
    city: "On-premises",
    jurisdiction: "FR",
    certifications: [],
    extraterritorialExposure: false,
    onPremises: true,
    driverKind: "LOCAL",
    carbonIntensityGco2Kwh: 32,
    // No GPU here: model servers run on the CPU; the price is a nominal internal charge-back.
    // Room for the demo's deployment and a few newcomers' starter slots at once (docs/onboarding.md).
    capacities: [{ gpu: "CPU-SLOT", total: 8, priceCents: 5 }],
  },
];

export const TINY_MODEL_URI = "local://tiny-random-llama";

export const CATALOG = [
  {
    slug: "mistral-7b-instruct",
    family: "Mistral",
    name: "Mistral 7B Instruct",
    version: "v0.3",
    parameterCount: 7_248_023_552n,
    contextLength: 32_768,
    license: "Apache-2.0",
    openWeights: true,
    openData: false,
    origin: "Mistral AI, Paris, France",
    artifactUri: "hf://mistralai/Mistral-7B-Instruct-v0.3",
    runtime: "VLLM",
    gpuMemoryGb: 16,
    minGpuCount: 1,
    fits: ["H100-80GB", "A100-80GB", "L40S-48GB", "L4-24GB", "MI250X-GCD"],
    description: "Mistral AI's 7B instruction-tuned model with function calling and a 32k context.",
    // € per million tokens, as micro-euros (docs/budgets.md): €0.15 in, €0.15 out.
    inputMicroEurPerMillionTokens: 150_000,
    outputMicroEurPerMillionTokens: 150_000,
  },
  {
    slug: "mixtral-8x7b-instruct",
    family: "Mistral",
    name: "Mixtral 8x7B Instruct",
    version: "v0.1",
    parameterCount: 46_702_792_704n,
    contextLength: 32_768,
    license: "Apache-2.0",
    openWeights: true,
    openData: false,
    origin: "Mistral AI, Paris, France",
    artifactUri: "hf://mistralai/Mixtral-8x7B-Instruct-v0.1",
    runtime: "VLLM",
    // 46.7B parameters in bf16 need about 94 GB: two 80 GB GPUs.
    gpuMemoryGb: 94,
    minGpuCount: 2,
    fits: ["H100-80GB", "A100-80GB"],
    description: "Sparse mixture of experts: 46.7B parameters, 12.9B active per token.",
    // € per million tokens, as micro-euros (docs/budgets.md): €0.60 in, €0.60 out.
    inputMicroEurPerMillionTokens: 600_000,
    outputMicroEurPerMillionTokens: 600_000,
  },
  {
    slug: "eurollm-9b-instruct",
    family: "EuroLLM",
    name: "EuroLLM-9B Instruct",
    version: "1.0",
    parameterCount: 9_154_707_456n,
    contextLength: 4_096,
    license: "Apache-2.0",
    openWeights: true,
    openData: false,
    origin: "EuroLLM consortium (Unbabel, IST Lisbon, University of Edinburgh, Sorbonne, …), trained on EuroHPC MareNostrum 5",
    artifactUri: "hf://utter-project/EuroLLM-9B-Instruct",
    runtime: "VLLM",
    gpuMemoryGb: 20,
    minGpuCount: 1,
    fits: ["H100-80GB", "A100-80GB", "L40S-48GB", "MI250X-GCD"],
    description: "Covers the 24 official EU languages and 11 others.",
    // € per million tokens, as micro-euros (docs/budgets.md): €0.18 in, €0.18 out.
    inputMicroEurPerMillionTokens: 180_000,
    outputMicroEurPerMillionTokens: 180_000,
  },
  {
    slug: "llama-3.1-8b-instruct",
    family: "Llama",
    name: "Llama 3.1 8B Instruct",
    version: "3.1",
    parameterCount: 8_030_261_248n,
    contextLength: 131_072,
    license: "Llama 3.1 Community License",
    openWeights: true,
    openData: false,
    origin: "Meta Platforms, United States",
    artifactUri: "hf://meta-llama/Llama-3.1-8B-Instruct",
    runtime: "VLLM",
    gpuMemoryGb: 18,
    minGpuCount: 1,
    fits: ["H100-80GB", "A100-80GB", "L40S-48GB", "L4-24GB", "MI250X-GCD"],
    description: "Meta's 8B instruction model with a 128k context; licence restricts very large services.",
    // € per million tokens, as micro-euros (docs/budgets.md): €0.15 in, €0.20 out.
    inputMicroEurPerMillionTokens: 150_000,
    outputMicroEurPerMillionTokens: 200_000,
  },
  {
    slug: "lucie-7b-instruct",
    family: "Lucie",
    name: "Lucie-7B Instruct",
    version: "v1.1",
    parameterCount: 6_706_958_336n,
    contextLength: 32_000,
    license: "Apache-2.0",
    openWeights: true,
    openData: true,
    origin: "OpenLLM-France and LINAGORA, trained on Jean Zay (GENCI)",
    artifactUri: "hf://OpenLLM-France/Lucie-7B-Instruct-v1.1",
    runtime: "VLLM",
    gpuMemoryGb: 16,
    minGpuCount: 1,
    fits: ["H100-80GB", "A100-80GB", "L40S-48GB", "L4-24GB"],
    description: "French-English model trained on an open dataset, with its training data published.",
    // € per million tokens, as micro-euros (docs/budgets.md): €0.15 in, €0.15 out.
    inputMicroEurPerMillionTokens: 150_000,
    outputMicroEurPerMillionTokens: 150_000,
  },
  {
    slug: "tiny-random-llama",
    family: "Test",
    name: "Tiny random Llama (demo)",
    version: "1",
    parameterCount: 0n, // replaced at seed time by the generated model's real count
    contextLength: 512,
    license: "Apache-2.0",
    openWeights: true,
    openData: true,
    origin: "Generated by Enclave with seeded random weights (a test model: it speaks gibberish, fast)",
    artifactUri: TINY_MODEL_URI,
    runtime: "LLAMA_CPP",
    gpuMemoryGb: 1,
    minGpuCount: 1,
    fits: ["CPU-SLOT", "L4-24GB", "L40S-48GB", "H100-80GB", "MI250X-GCD"],
    description: "A llama-architecture model small enough to run on a laptop CPU: proves the whole path end to end.",
    // € per million tokens, as micro-euros (docs/budgets.md): €0.10 in, €0.20 out.
    inputMicroEurPerMillionTokens: 100_000,
    outputMicroEurPerMillionTokens: 200_000,
  },
] as const;

export const DEMO_ORGS = [
  {
    slug: "hopital-rive-gauche",
    name: "Hôpital Rive Gauche",
    // A soft monthly budget with the default alerts (docs/budgets.md).
    budget: { monthlyBudgetCents: 50_000, budgetMode: "SOFT", budgetAlertThresholds: [50, 80, 100] },
    quotas: [
      { region: "fr-par-snc", gpu: "H100-80GB", limit: 4 },
      { region: "fr-par-snc", gpu: "L40S-48GB", limit: 2 },
      { region: "onprem-demo", gpu: "CPU-SLOT", limit: 2 },
    ],
    // Health data may only leave the hospital for an HDS + SecNumCloud region under French law.
    policies: [
      { dataClassification: "RESTRICTED", allowedJurisdictions: ["FR"], requiredCertifications: ["SecNumCloud", "HDS"], allowExtraterritorial: false },
      { dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["FR"], requiredCertifications: ["HDS"], allowExtraterritorial: false },
      { dataClassification: "INTERNAL", allowedJurisdictions: ["FR", "DE", "FI"], requiredCertifications: [], allowExtraterritorial: false },
    ],
  },
  {
    slug: "nordic-data-agency",
    name: "Nordic Data Agency",
    // A hard one: every gateway refuses the agency's calls once €2,000 are spent in a month.
    budget: { monthlyBudgetCents: 200_000, budgetMode: "HARD", budgetAlertThresholds: [80, 100] },
    quotas: [
      { region: "fi-kajaani-lumi", gpu: "MI250X-GCD", limit: 8 },
      { region: "de-neckarsulm-c5", gpu: "L40S-48GB", limit: 2 },
      { region: "onprem-demo", gpu: "CPU-SLOT", limit: 2 },
    ],
    // No RESTRICTED policy: the agency's restricted data is refused everywhere until it sets one (docs/residency.md).
    policies: [
      { dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["FI", "DE", "FR"], requiredCertifications: [], allowExtraterritorial: false },
    ],
  },
] as const;

/** Where the demo API key's secret is kept so `npm start` can print it (only its hash is in the database). */
export const DEMO_KEY_FILE = process.env.ENCLAVE_DEMO_KEY_FILE ?? path.resolve(import.meta.dirname, "..", ".data", "demo-api-key");

/** What `npm start` has running when it finishes: the tiny model and a key for it. */
export const DEMO_WORKLOAD = {
  org: "hopital-rive-gauche",
  owner: "claire.martin@hopital-rive-gauche.fr",
  deployment: "tiny-demo",
  keyName: "Demo key (printed by npm start)",
} as const;
