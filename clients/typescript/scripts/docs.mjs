// Copies Swagger UI's files from the swagger-ui-dist package to where the gateway serves
// the API reference (/docs) from: its ADPILOT_DOCS_DIR, by default
// services/gateway/docs/swagger-ui.
//
//   node scripts/docs.mjs [target folder]
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const fallback = join(ROOT, "services", "gateway", "docs", "swagger-ui");
const target = resolve(process.argv[2] ?? process.env.ADPILOT_DOCS_DIR ?? fallback);
const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

mkdirSync(target, { recursive: true });
// The two files the page loads, and the licence they come under.
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
  copyFileSync(join(dist, name), join(target, name));
}
console.log(`Swagger UI copied to ${target}`);
