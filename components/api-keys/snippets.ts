// How to call the gateway with a new key, for the three ways programs usually do.

export interface SnippetInput {
  /** The gateway's OpenAI-compatible base URL, e.g. https://api.example.org/v1 */
  baseUrl: string;
  key: string;
  /** A deployment's name: what programs pass as `model`. */
  model: string;
}

export function curlSnippet({ baseUrl, key, model }: SnippetInput): string {
  return [
    `export OPENAI_BASE_URL=${baseUrl}`,
    `curl $OPENAI_BASE_URL/chat/completions \\`,
    `  -H "Authorization: Bearer ${key}" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d '${JSON.stringify({ model, messages: [{ role: "user", content: "Hello" }] })}'`,
  ].join("\n");
}

export function pythonSnippet({ baseUrl, key, model }: SnippetInput): string {
  return [
    `from openai import OpenAI`,
    ``,
    `client = OpenAI(base_url=${JSON.stringify(baseUrl)}, api_key=${JSON.stringify(key)})`,
    `reply = client.chat.completions.create(`,
    `    model=${JSON.stringify(model)},`,
    `    messages=[{"role": "user", "content": "Hello"}],`,
    `)`,
    `print(reply.choices[0].message.content)`,
  ].join("\n");
}

export function typescriptSnippet({ baseUrl, key, model }: SnippetInput): string {
  return [
    `import OpenAI from "openai";`,
    ``,
    `const client = new OpenAI({ baseURL: ${JSON.stringify(baseUrl)}, apiKey: ${JSON.stringify(key)} });`,
    `const reply = await client.chat.completions.create({`,
    `  model: ${JSON.stringify(model)},`,
    `  messages: [{ role: "user", content: "Hello" }],`,
    `});`,
    `console.log(reply.choices[0].message.content);`,
  ].join("\n");
}

/**
 * The deployment to show in the examples: the first running one the key may call (any of the
 * organisation's when the key is not restricted), else the first it may call at all.
 */
export function exampleModel(deployments: { id: string; name: string; phase: string }[], allowedDeploymentIds: string[]): string | null {
  const callable = allowedDeploymentIds.length ? deployments.filter((d) => allowedDeploymentIds.includes(d.id)) : deployments;
  return (callable.find((d) => d.phase === "RUNNING") ?? callable[0])?.name ?? null;
}
