/**
 * `npm run api:types`: writes the OpenAPI document (docs/openapi.json) and the TypeScript types of
 * a client generated from it with openapi-typescript (tests/generated/enclave-api.d.ts), which the
 * REST client tests drive through openapi-fetch. The tests fail when either file is stale.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { apiTypesSource, documentSource } from "../tests/api-client-source";

const root = path.resolve(import.meta.dirname, "..");
writeFileSync(path.join(root, "docs", "openapi.json"), documentSource());
writeFileSync(path.join(root, "tests", "generated", "enclave-api.d.ts"), await apiTypesSource());
console.log("wrote docs/openapi.json and tests/generated/enclave-api.d.ts");
