import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { API_DOCS_PATH, renderApiDocs } from "../../scripts/gen-api-docs.js";
import { catalog, targetOf, type ApiName } from "../../shared/api/catalog.js";

// docs/api.md is generated from the catalog; this fails when someone changes one without the
// other (fix: `npm run docs:api`).

it("docs/api.md is what `npm run docs:api` writes from the catalog", () => {
  expect(readFileSync(API_DOCS_PATH, "utf8")).toBe(renderApiDocs());
});

it("documents every target with its date", () => {
  const docs = readFileSync(API_DOCS_PATH, "utf8");
  for (const name of Object.keys(catalog) as ApiName[]) expect(docs).toContain(`### \`${targetOf(name)}\``);
  expect(docs).toContain("`Sora_20201124.PutSignalingNotifyMetadataItem`");
});
