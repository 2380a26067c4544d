"use client";
/** What one request gets (docs/guardrails.md, "Policies"): pick a deployment and a key, see each rule's action and which level decided it. */
import { useState } from "react";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Field, Select } from "../ui/form";
import { Card, Table, Td } from "../ui/layout";
import { LoadingState, QueryView } from "../ui/states";
import { ActionBadge } from "./defaults-card";
import { RULE_LABELS, SOURCE_LABELS } from "./labels";

export function EffectiveCard() {
  const org = useCurrentOrg();
  const deployments = api.deployments.list.useQuery({ orgId: org.id, limit: 200 });
  const keys = api.apiKeys.list.useQuery({ orgId: org.id, limit: 200 });
  const [deploymentId, setDeploymentId] = useState("");
  const [apiKeyId, setApiKeyId] = useState("");
  const effective = api.guardrails.effective.useQuery({ orgId: org.id, deploymentId: deploymentId || undefined, apiKeyId: apiKeyId || undefined });
  return (
    <Card title="What a request gets">
      <div className="mb-4 grid gap-3 sm:grid-cols-2">
        <Field label="Through deployment" name="effectiveDeployment">
          <Select name="effectiveDeployment" value={deploymentId} onChange={(e) => setDeploymentId(e.target.value)}>
            <option value="">Any deployment without an override</option>
            {deployments.data?.items.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </Select>
        </Field>
        <Field label="With API key" name="effectiveKey">
          <Select name="effectiveKey" value={apiKeyId} onChange={(e) => setApiKeyId(e.target.value)}>
            <option value="">Any key without an override</option>
            {keys.data?.items
              .filter((k) => k.status !== "revoked")
              .map((k) => (
                <option key={k.id} value={k.id}>
                  {k.name} ({k.prefix})
                </option>
              ))}
          </Select>
        </Field>
      </div>
      <QueryView query={effective} loading={<LoadingState label="Resolving the guardrails…" rows={2} />}>
        {(e) => (
          <Table head={["Rule", "Action", "Decided by"]} caption="The effective guardrails of a request">
            {(Object.keys(e.rules) as (keyof typeof e.rules)[]).map((rule) => (
              <tr key={rule}>
                <Td>{RULE_LABELS[rule].title}</Td>
                <Td>
                  <ActionBadge action={e.rules[rule]} />
                </Td>
                <Td className="text-slate-600">{SOURCE_LABELS[e.sources[rule]]}</Td>
              </tr>
            ))}
          </Table>
        )}
      </QueryView>
    </Card>
  );
}
