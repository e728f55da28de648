import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { catalog, targetOf, type ApiName } from "../../shared/api/catalog.js";
import { API_ERRORS } from "../../shared/api/errors.js";
import { buildOpenApiDocument, operationPath } from "../../shared/api/openapi.js";

// The edge's /openapi.json (shared/api/openapi.ts) is a valid OpenAPI 3.1 document, built from
// the catalog: every target is an operation with the catalog's schemas and Sora's error shape.

const names = Object.keys(catalog) as ApiName[];
type Doc = ReturnType<typeof buildOpenApiDocument> & Record<string, any>;
const doc = buildOpenApiDocument() as Doc;

async function validate(document: unknown): Promise<{ valid: boolean; errors?: unknown }> {
  return new Validator().validate(structuredClone(document) as Record<string, unknown>);
}

/** What a `$ref` inside the document points to. */
function deref(node: any): any {
  if (!node?.$ref) return node;
  const path = (node.$ref as string).replace(/^#\//, "").split("/");
  return path.reduce((at: any, key) => at?.[key], doc);
}

describe("OpenAPI document", () => {
  it("validates as OpenAPI 3.1 (schema and $refs)", async () => {
    const result = await validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
  });

  it("the validator does refuse broken documents (this test can fail)", async () => {
    const noInfo = structuredClone(doc);
    delete noInfo.info;
    expect((await validate(noInfo)).valid).toBe(false);
    const danglingRef = structuredClone(doc);
    delete danglingRef.components.schemas.RequestRtpStreamRequest;
    expect((await validate(danglingRef)).valid).toBe(false);
    const badPath = structuredClone(doc);
    badPath.paths["Sora_20201005.RequestRtpStream"] = badPath.paths[operationPath("RequestRtpStream")];
    expect((await validate(badPath)).valid).toBe(false);
  });

  it("has one operation per catalog target, and no other besides the edge's own paths", () => {
    const apiPaths = Object.keys(doc.paths).filter((p) => p.startsWith("/#"));
    expect(apiPaths.sort()).toEqual(names.map((n) => `/#${targetOf(n)}`).sort());
    expect(Object.keys(doc.paths).filter((p) => !p.startsWith("/#")).sort()).toEqual(["/health", "/node", "/openapi.json", "/signaling"]);
    const ids = Object.values(doc.paths).flatMap((item: any) => Object.values(item).map((op: any) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(names)("%s: target header, schemas from the catalog, error responses", (name) => {
    const target = targetOf(name);
    const item = doc.paths[operationPath(name)];
    expect(Object.keys(item)).toEqual(["post"]);
    const op = item.post;
    expect(op.operationId).toBe(name);
    expect(op["x-sora-target"]).toBe(target);
    expect(op.tags).toEqual([catalog[name].section]);
    expect(op.description).toContain(catalog[name].description);
    expect(op.parameters).toEqual([
      expect.objectContaining({ name: "x-sora-target", in: "header", required: true, schema: { type: "string", enum: [target], default: target } }),
    ]);

    const request = deref(op.requestBody.content["application/json"].schema);
    const { $schema: _r, ...expectedRequest } = z.toJSONSchema(catalog[name].request, { io: "input", unrepresentable: "any" }) as any;
    expect(request).toEqual(expectedRequest);
    // A body is required exactly when the call has a required key (an empty body is `{}`).
    expect(op.requestBody.required).toBe((expectedRequest.required ?? []).length > 0);

    const answer = deref(op.responses["200"].content["application/json"].schema);
    const expectedAnswer = JSON.parse(
      JSON.stringify(z.toJSONSchema(catalog[name].answer, { io: "output", unrepresentable: "any" }), (k, v) =>
        k === "$schema" || (k === "additionalProperties" && v === false) ? undefined : v,
      ),
    );
    expect(answer).toEqual(expectedAnswer);

    for (const status of ["400", "401", "413", "500"]) {
      const response = deref(op.responses[status]);
      const types = response.content["application/json"].schema.properties.error_type.enum as string[];
      expect(types.length, status).toBeGreaterThan(0);
      for (const type of types) expect(API_ERRORS[type as keyof typeof API_ERRORS].status).toBe(Number(status));
    }
  });

  it("every error type of shared/api/errors.ts is in a response with its status", () => {
    const documented = Object.values(doc.components.responses).flatMap(
      (r: any) => r.content["application/json"].schema.properties.error_type.enum as string[],
    );
    expect(documented.sort()).toEqual(Object.keys(API_ERRORS).sort());
    expect(doc.components.schemas.ErrorAnswer.properties.error_type.enum.sort()).toEqual(Object.keys(API_ERRORS).sort());
  });

  it("needs the API token for calls, not for /health or /openapi.json", () => {
    expect(doc.security).toEqual([{ apiToken: [] }]);
    expect(doc.components.securitySchemes.apiToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/health"].get.security).toEqual([]);
    expect(doc.paths["/openapi.json"].get.security).toEqual([]);
  });
});
