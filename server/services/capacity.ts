import { db } from "../db";

const regionSelect = {
  id: true,
  code: true,
  name: true,
  provider: true,
  country: true,
  city: true,
  jurisdiction: true,
  certifications: true,
  extraterritorialExposure: true,
  exposureNote: true,
  onPremises: true,
  driverKind: true,
  status: true,
  statusReason: true,
  carbonIntensityGco2Kwh: true,
  capacities: {
    select: { totalGpus: true, allocatedGpus: true, priceCentsPerGpuHour: true, gpuType: { select: { id: true, code: true, name: true, memoryGb: true } } },
    orderBy: { gpuType: { code: "asc" } },
  },
} as const;

/** Regions a tenant can see: every region that is not retired, with prices and free capacity. */
export function listRegionsForTenants() {
  return db.region.findMany({ where: { status: { not: "RETIRED" } }, select: regionSelect, orderBy: { code: "asc" } });
}

export function listRegionsForAdmins() {
  return db.region.findMany({ select: { ...regionSelect, driverEndpoint: true, updatedAt: true }, orderBy: { code: "asc" } });
}

/** Per region × GPU type: the limit, what the organisation has allocated, and pending requests. */
export async function listQuotas(orgId: string) {
  const [quotas, allocations, requests] = await Promise.all([
    db.quota.findMany({
      where: { orgId },
      select: { id: true, limitGpus: true, region: { select: { id: true, code: true, name: true, status: true } }, gpuType: { select: { id: true, code: true, name: true } } },
      orderBy: [{ region: { code: "asc" } }, { gpuType: { code: "asc" } }],
    }),
    db.deployment.groupBy({ by: ["regionId", "gpuTypeId"], where: { orgId, deletedAt: null }, _sum: { reservedGpus: true } }),
    db.quotaRequest.findMany({
      where: { orgId },
      orderBy: { createdAt: "desc" },
      take: 50,
      select: {
        id: true,
        additionalGpus: true,
        approvedGpus: true,
        justification: true,
        status: true,
        decisionNote: true,
        createdAt: true,
        decidedAt: true,
        region: { select: { code: true, name: true } },
        gpuType: { select: { code: true, name: true } },
        requestedBy: { select: { name: true } },
      },
    }),
  ]);
  const allocated = new Map(allocations.map((a) => [`${a.regionId}/${a.gpuTypeId}`, a._sum.reservedGpus ?? 0]));
  return {
    quotas: quotas.map((q) => {
      const used = allocated.get(`${q.region.id}/${q.gpuType.id}`) ?? 0;
      return { ...q, allocatedGpus: used, freeGpus: Math.max(0, q.limitGpus - used) };
    }),
    requests,
  };
}

export function listQuotaRequestsForAdmins() {
  return db.quotaRequest.findMany({
    orderBy: [{ status: "asc" }, { createdAt: "asc" }],
    take: 200,
    select: {
      id: true,
      additionalGpus: true,
      approvedGpus: true,
      justification: true,
      status: true,
      decisionNote: true,
      createdAt: true,
      org: { select: { id: true, name: true, slug: true } },
      region: { select: { code: true, name: true } },
      gpuType: { select: { code: true, name: true } },
      requestedBy: { select: { name: true, email: true } },
    },
  });
}

export async function listOrganizationsForAdmins() {
  const orgs = await db.organization.findMany({
    orderBy: { name: "asc" },
    select: {
      id: true,
      name: true,
      slug: true,
      status: true,
      createdAt: true,
      _count: { select: { memberships: true, deployments: { where: { deletedAt: null } } } },
      quotas: { select: { limitGpus: true } },
      deployments: { where: { deletedAt: null }, select: { reservedGpus: true } },
    },
  });
  return orgs.map(({ quotas, deployments, _count, ...org }) => ({
    ...org,
    members: _count.memberships,
    deployments: _count.deployments,
    quotaGpus: quotas.reduce((s, q) => s + q.limitGpus, 0),
    gpusInUse: deployments.reduce((s, d) => s + d.reservedGpus, 0),
  }));
}
