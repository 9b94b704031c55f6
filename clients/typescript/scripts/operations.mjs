// Writes src/operations.ts from openapi.json: one function per operation of the API, named
// after its operationId (`list_alerts` -> `listAlerts`), calling openapi-fetch with the
// operation's path and method so that every type comes from src/schema.ts.
//
//   node scripts/operations.mjs            write src/operations.ts
//   node scripts/operations.mjs --check    exit 1 if src/operations.ts is not what it would write
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const INPUT = join(ROOT, "openapi.json");
const OUTPUT = join(ROOT, "src", "operations.ts");
const METHODS = ["get", "put", "post", "delete", "patch"];

const HEADER = `/**
 * This file was generated from openapi.json by scripts/operations.mjs (\`npm run generate\`).
 * Do not make direct changes to the file.
 */

import type { Client } from "openapi-fetch";

import { call, type Body, type CallOptions, type Query } from "./call.js";
import type { paths } from "./schema.js";

/** One function per operation of the API, named after its \`operationId\`. */
export function operations(api: Client<paths>) {
  return {
`;

const FOOTER = `  };
}

/** The functions of \`operations\`, by name. */
export type Operations = ReturnType<typeof operations>;
`;

function camel(id) {
  return id.replace(/_([a-z0-9])/g, (_m, c) => c.toUpperCase());
}

function comment(text) {
  return text.replaceAll("*/", "*\\/");
}

/** Words of `text` in lines no longer than `width`, each prefixed with `prefix`. */
function wrap(text, prefix, width = 96) {
  const lines = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    let line = "";
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && prefix.length + line.length + 1 + word.length > width) {
        lines.push(prefix + line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    if (line) lines.push(prefix + line);
    lines.push(prefix.trimEnd());
  }
  lines.pop();
  return lines;
}

function resolve(document, schema) {
  const ref = schema?.$ref;
  return ref ? resolve(document, ref.split("/").slice(1).reduce((o, k) => o[k], document)) : schema;
}

/** Whether an action may be sent without a body: every field of its body has a default.
 * (An update with no field is valid too, but says nothing; it is not made the default.) */
function bodyMayBeEmpty(document, operation) {
  if (operation.requestBody === undefined) return false;
  const schema = resolve(document, operation.requestBody?.content?.["application/json"]?.schema);
  return schema?.type === "object" && (schema.required ?? []).length === 0;
}

function render(document) {
  const functions = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      const id = operation.operationId;
      const parameters = operation.parameters ?? [];
      const pathParams = parameters.filter((p) => p.in === "path").map((p) => p.name);
      const hasQuery = parameters.some((p) => p.in === "query");
      const hasBody = operation.requestBody !== undefined;

      const args = pathParams.map((name) => `${name}: string`);
      if (hasBody) {
        args.push(
          method === "post" && bodyMayBeEmpty(document, operation)
            ? `body: Body<"${id}"> = {}`
            : `body: Body<"${id}">`,
        );
      }
      if (hasQuery) args.push(`query?: Query<"${id}">`);
      args.push("options?: CallOptions");

      const params = [];
      if (pathParams.length) params.push(`path: { ${pathParams.join(", ")} }`);
      if (hasQuery) params.push("query: query ?? {}");
      const init = ["...init"];
      if (params.length) init.push(`params: { ${params.join(", ")} }`);
      if (hasBody) init.push("body");

      const doc = [
        ...wrap(comment(operation.summary ?? id), "     * "),
        ...(operation.description
          ? ["     *", ...wrap(comment(operation.description), "     * ")]
          : []),
        "     *",
        `     * \`${method.toUpperCase()} ${path}\`, role \`${operation["x-required-role"]}\`.`,
      ];
      functions.push(
        [
          "    /**",
          ...doc,
          "     */",
          `    ${camel(id)}: (${args.join(", ")}) =>`,
          `      call(options, (init) =>`,
          `        api.${method.toUpperCase()}("${path}", { ${init.join(", ")} }),`,
          "      ),",
        ].join("\n"),
      );
    }
  }
  return HEADER + functions.join("\n") + "\n" + FOOTER;
}

const text = render(JSON.parse(readFileSync(INPUT, "utf8")));
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(OUTPUT, "utf8");
  } catch {
    // a missing file is stale too
  }
  if (current !== text) {
    console.error("src/operations.ts is not up to date with openapi.json: run `npm run generate`");
    process.exit(1);
  }
} else {
  writeFileSync(OUTPUT, text);
}
