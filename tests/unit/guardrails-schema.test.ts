import { describe, expect, it } from "vitest";
import { cachedValidatorCount, compileResponseFormat, MAX_SCHEMA_BYTES, type CompiledFormat } from "@/server/guardrails/schema";

function compiled(responseFormat: unknown): CompiledFormat {
  const r = compileResponseFormat(responseFormat);
  if (!r.ok) throw new Error(r.message);
  if (!r.format) throw new Error("no format");
  return r.format;
}

const invoiceSchema = {
  type: "object",
  properties: {
    numero: { type: "string", pattern: "^F-\\d{4}-\\d{3}$" },
    client: { type: "object", properties: { nom: { type: "string" }, email: { type: "string", format: "email" } }, required: ["nom", "email"], additionalProperties: false },
    montant_ttc: { type: "number", minimum: 0 },
    devise: { enum: ["EUR", "CHF"] },
    lignes: { type: "array", minItems: 1, items: { type: "object", properties: { libelle: { type: "string" }, quantite: { type: "integer" } }, required: ["libelle", "quantite"] } },
    etiquettes: { type: "object", additionalProperties: { type: "integer" } },
    pays: { const: "FR" },
  },
  required: ["numero", "client", "montant_ttc", "devise", "lignes"],
  additionalProperties: false,
};
const invoiceFormat = { type: "json_schema", json_schema: { name: "facture", strict: true, schema: invoiceSchema } };

const validInvoice = {
  numero: "F-2025-042",
  client: { nom: "Atelier Durand SARL", email: "compta@atelier-durand.fr" },
  montant_ttc: 1832.09,
  devise: "EUR",
  lignes: [{ libelle: "Maintenance serveurs, mars 2025", quantite: 3 }],
};

describe("compileResponseFormat", () => {
  it("has no validator for an absent format or {type:'text'}", () => {
    expect(compileResponseFormat(undefined)).toEqual({ ok: true, format: null });
    expect(compileResponseFormat(null)).toEqual({ ok: true, format: null });
    expect(compileResponseFormat({ type: "text" })).toEqual({ ok: true, format: null });
  });

  it("refuses an unknown type and a json_schema without a name", () => {
    expect(compileResponseFormat({ type: "xml" })).toMatchObject({ ok: false, message: expect.stringContaining("response_format.type") });
    expect(compileResponseFormat({ type: "json_schema", json_schema: { schema: {} } })).toMatchObject({ ok: false, message: expect.stringContaining("json_schema.name") });
  });

  it("refuses an invalid schema with the validator's message", () => {
    const r = compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { age: { type: "entier" } } } } });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(/^response_format\.json_schema\.schema is invalid: /);
      expect(r.message).toContain("/properties/age/type must be equal to one of the allowed values");
    }
  });

  it("never fetches a remote $ref: an unknown one is refused", () => {
    const r = compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema: { $ref: "https://schemas.example.com/person.json" } } });
    expect(r).toMatchObject({ ok: false, message: expect.stringContaining("can't resolve reference https://schemas.example.com/person.json") });
  });

  it("refuses hostile schemas: too large, too deep, too many subschemas, backtracking-only regex syntax", () => {
    const big = { type: "object", description: "x".repeat(MAX_SCHEMA_BYTES) };
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema: big } })).toMatchObject({ ok: false, message: expect.stringContaining("is too large") });
    let deep: unknown = { type: "string" };
    for (let i = 0; i < 40; i++) deep = { type: "object", properties: { a: deep } };
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema: deep } })).toMatchObject({ ok: false, message: expect.stringContaining("nests more than") });
    const wide = { anyOf: Array.from({ length: 1200 }, (_, i) => ({ const: i })) };
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema: wide } })).toMatchObject({ ok: false, message: expect.stringContaining("objects") });
    const lookahead = { type: "string", pattern: "^(?=.*\\d).+$" };
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema: lookahead } })).toMatchObject({ ok: false, message: expect.stringContaining("invalid or unsupported Perl syntax") });
  });

  it("accepts a large, deeply nested but legitimate schema (its size is counted once, not per level)", () => {
    let schema: Record<string, unknown> = {
      type: "object",
      properties: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`champ_${i}`, { type: "string", description: "Description du champ. ".repeat(4) }])),
    };
    for (let i = 0; i < 12; i++) schema = { type: "object", properties: { niveau: schema }, required: ["niveau"] };
    expect(JSON.stringify(schema).length).toBeGreaterThan(30_000);
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "x", schema } }).ok).toBe(true);
  });

  it("matches patterns in linear time: a catastrophic-backtracking pattern answers at once", () => {
    const f = compiled({ type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { code: { type: "string", pattern: "^(a+)+$" } } } } });
    // With a backtracking engine this input would take longer than the test's time-out.
    const v = f.validate(JSON.stringify({ code: "a".repeat(50_000) + "!" }), "stop");
    expect(v).toMatchObject({ valid: false, reason: "schema", errors: [{ path: "/code", keyword: "pattern" }] });
    expect(f.validate(JSON.stringify({ code: "aaaa" }), "stop").valid).toBe(true);
  });

  it("does not let one request's $id clash with the next one's", () => {
    const a = compileResponseFormat({ type: "json_schema", json_schema: { name: "a", schema: { $id: "https://example.com/s", type: "string" } } });
    const b = compileResponseFormat({ type: "json_schema", json_schema: { name: "b", schema: { $id: "https://example.com/s", type: "integer" } } });
    expect(a.ok && b.ok).toBe(true);
    const metaId = compileResponseFormat({ type: "json_schema", json_schema: { name: "c", schema: { $id: "https://json-schema.org/draft/2020-12/schema", type: "object" } } });
    expect(metaId.ok).toBe(true);
    // The instance still validates schemas against the real meta-schema afterwards.
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "d", schema: { type: 12 } } }).ok).toBe(false);
  });

  it("accepts draft-07 schemas (zod-to-json-schema's default) and refuses an unknown $schema", () => {
    const d7 = compiled({
      type: "json_schema",
      json_schema: { name: "p", schema: { $schema: "http://json-schema.org/draft-07/schema#", type: "object", definitions: { n: { type: "integer" } }, properties: { n: { $ref: "#/definitions/n" } } } },
    });
    expect(d7.validate('{"n": 3}', "stop").valid).toBe(true);
    expect(d7.validate('{"n": "3"}', "stop").errors[0]).toMatchObject({ path: "/n", keyword: "type" });
    expect(compileResponseFormat({ type: "json_schema", json_schema: { name: "p", schema: { $schema: "https://example.com/my-dialect" } } })).toMatchObject({ ok: false });
  });

  it("caches validators by the schema's canonical JSON: key order does not matter", () => {
    const before = cachedValidatorCount();
    compiled({ type: "json_schema", json_schema: { name: "k1", schema: { type: "object", properties: { zeta: { type: "string" }, alpha: { type: "number" } } } } });
    const after = cachedValidatorCount();
    compiled({ type: "json_schema", json_schema: { name: "k2", schema: { properties: { alpha: { type: "number" }, zeta: { type: "string" } }, type: "object" } } });
    expect(after).toBe(before + 1);
    expect(cachedValidatorCount()).toBe(after);
  });
});

describe("a completion against its response_format", () => {
  const f = compiled(invoiceFormat);

  it("passes a valid completion", () => {
    expect(f.kind).toBe("json_schema");
    expect(f.name).toBe("facture");
    expect(f.validate(JSON.stringify(validInvoice, null, 2), "stop")).toEqual({ valid: true, reason: "ok", errors: [] });
  });

  it("lists every failing path of a schema-invalid completion", () => {
    const bad = {
      numero: "2025-42",
      client: { nom: "Atelier Durand SARL", email: "pas-une-adresse", telephone: "+33 6 12 34 56 78" },
      montant_ttc: -12,
      devise: "USD",
      lignes: [{ libelle: "Maintenance" }, { libelle: "Audit", quantite: 1.5 }],
      remise: 10,
    };
    const v = f.validate(JSON.stringify(bad), "stop");
    expect(v.valid).toBe(false);
    expect(v.reason).toBe("schema");
    const paths = v.errors.map((e) => `${e.path} ${e.keyword}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        " additionalProperties",
        "/numero pattern",
        "/client additionalProperties",
        "/client/email format",
        "/montant_ttc minimum",
        "/devise enum",
        "/lignes/0 required",
        "/lignes/1/quantite type",
      ]),
    );
  });

  it("says a text that is not JSON is not JSON, and a cut one is truncated", () => {
    expect(f.validate("Voici la facture : {\"numero\": \"F-2025-042\"}", "stop")).toMatchObject({ valid: false, reason: "not_json" });
    const cut = JSON.stringify(validInvoice).slice(0, 60);
    expect(f.validate(cut, "length")).toMatchObject({ valid: false, reason: "truncated", errors: [{ path: "", keyword: "json" }] });
    expect(f.validate("", "stop").reason).toBe("not_json");
    // A document that is complete although the token limit was reached (trailing white space) is judged as it is.
    expect(f.validate(JSON.stringify(validInvoice) + "\n\n", "length").valid).toBe(true);
  });

  it("json_object: an object passes, an array or a string does not", () => {
    const o = compiled({ type: "json_object" });
    expect(o.kind).toBe("json_object");
    expect(o.validate('{"réponse": "oui"}', "stop").valid).toBe(true);
    expect(o.validate('[{"réponse": "oui"}]', "stop")).toMatchObject({ valid: false, reason: "not_object", errors: [{ message: "must be a JSON object, not an array" }] });
    expect(o.validate('"oui"', "stop").reason).toBe("not_object");
    expect(o.validate('{"réponse": "ou', "length").reason).toBe("truncated");
  });

  it("caps the errors listed", () => {
    const many = compiled({ type: "json_schema", json_schema: { name: "l", schema: { type: "array", items: { type: "integer" } } } });
    const v = many.validate(JSON.stringify(Array.from({ length: 500 }, (_, i) => `v${i}`)), "stop");
    expect(v.errors).toHaveLength(20);
  });

  it("puts no value of the completion in a verdict: keys the schema does not name become *", () => {
    const secret = "jeanne.martin@exemple.fr";
    const iban = "FR7630006000011234567890189";
    const bad = {
      numero: iban,
      client: { nom: secret, email: secret, [secret]: iban },
      montant_ttc: iban,
      devise: secret,
      lignes: [{ libelle: secret, quantite: iban }],
      etiquettes: { [secret]: iban },
      pays: secret,
      [iban]: secret,
    };
    const verdicts = [
      f.validate(JSON.stringify(bad), "stop"),
      f.validate(JSON.stringify(bad).slice(0, -3), "length"),
      f.validate(`${secret} ${iban}`, "stop"),
      compiled({ type: "json_object" }).validate(JSON.stringify([secret, iban]), "stop"),
    ];
    const text = JSON.stringify(verdicts);
    expect(text).not.toContain("jeanne");
    expect(text).not.toContain("FR76");
    expect(text).not.toContain("30006000");
    expect(verdicts[0].errors.map((e) => e.path)).toContain("/etiquettes/*");
  });
});
