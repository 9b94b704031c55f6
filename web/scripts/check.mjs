// Signs in, visits pages, saves a screenshot of each, and reports console errors and
// axe-core violations (serious and critical). Uses the system's chromium.
//
//   ADPILOT_API_KEY=adp_... node scripts/check.mjs [--base URL] [--out DIR] [/path ...]
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i === -1) return fallback;
  const value = args[i + 1];
  args.splice(i, 2);
  return value;
};
const base = option("--base", "http://localhost:4173");
const out = option("--out", "/tmp/adpilot-shots");
const width = Number(option("--width", "1400"));
const height = Number(option("--height", "900"));
const full = args.includes("--full");
const paths = args.filter((a) => a.startsWith("/"));
const pages = paths.length
  ? paths
  : ["/overview", "/alerts", "/decisions", "/recommendations", "/market", "/optimizations", "/rules", "/budgets",
     "/forecasts", "/experiments", "/performance", "/audit", "/status"];
const key = process.env.ADPILOT_API_KEY;
if (!key) throw new Error("set ADPILOT_API_KEY");

mkdirSync(out, { recursive: true });
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const page = await browser.newPage({ viewport: { width, height } });
const problems = [];
page.on("console", (m) => {
  if (m.type() === "error" || m.type() === "warning") problems.push(`[${m.type()}] ${page.url()} ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`[pageerror] ${page.url()} ${e.message}`));

await page.goto(`${base}/`);
await page.getByLabel("API key").fill(key);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByRole("navigation").waitFor();

for (const path of pages) {
  await page.goto(`${base}${path}`);
  await page.waitForTimeout(Number(process.env.WAIT ?? 2500));
  const name = path.replace(/\W+/g, "_").replace(/^_|_$/g, "") || "root";
  await page.screenshot({ path: `${out}/${name}.png`, fullPage: full });
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}) e.g. ${v.nodes[0]?.target?.join(" ")}`);
  });
  const h1 = await page.locator("h1").first().textContent().catch(() => null);
  console.log(`${path}: h1=${JSON.stringify(h1)} axe=${result.length ? "\n  " + result.join("\n  ") : "ok"}`);
}
console.log(problems.length ? `console:\n  ${problems.join("\n  ")}` : "console: clean");
await browser.close();
