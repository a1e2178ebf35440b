#!/usr/bin/env node
// Prints the cost table of docs/contract.md from clarinet-sdk's costs-reports.json (written by
// `vitest run -- --costs`): for each public function, the cost of its first successful call, and
// for the batch call, the cost of batches of 1, 10 and the maximum, total and per analysis.
// Usage: node scripts/cost-table.mjs [costs-reports.json] [--write DOC | --check DOC]
//   --write DOC  replaces the table between DOC's cost-table markers
//   --check DOC  exits 1 when DOC's table differs from the measured one (docs out of date)
import { readFileSync, writeFileSync } from "node:fs";

const argv = process.argv.slice(2);
const flag = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv.splice(i, 2)[1] : undefined;
};
const writeDoc = flag("--write");
const checkDoc = flag("--check");
const file = argv[0] ?? "costs-reports.json";
let reports;
try {
  reports = JSON.parse(readFileSync(file, "utf8"));
} catch (e) {
  console.error(`costs: cannot read ${file}: ${e.message} (run the contract tests with --costs first)`);
  process.exit(2);
}

const LIMITS = reports[0]?.cost_result?.limit;
const fields = ["runtime", "read_count", "read_length", "write_count", "write_length"];
// A state-changing call that succeeded writes something; failed calls and read-only calls write nothing.
const succeeded = (r) => r.cost_result.total.write_count > 0;
const batchSize = (r) => (r.args[0].match(/image-hash/g) ?? []).length;
const pctOfBlock = (t) =>
  Math.max(...fields.map((f) => t[f] / LIMITS[f])) * 100;

const rows = [];
const row = (label, t, n = 1) => {
  const cells = fields.map((f) => (n === 1 ? `${t[f]}` : `${t[f]} (${Math.round(t[f] / n)})`));
  rows.push(`| ${label} | ${cells.join(" | ")} | ${pctOfBlock(t).toFixed(3)}% |`);
};

const single = reports.find((r) => r.method === "submit-analysis" && succeeded(r));
if (single) row("`submit-analysis`", single.cost_result.total);
for (const n of [1, 10, 50]) {
  const r = reports.find((x) => x.method === "submit-analyses" && succeeded(x) && batchSize(x) === n);
  if (r) row(`\`submit-analyses\`, ${n} item${n > 1 ? "s" : ""}`, r.cost_result.total, n);
}
const others = [...new Set(reports.filter(succeeded).map((r) => r.method))]
  .filter((m) => m !== "submit-analysis" && m !== "submit-analyses")
  .sort();
for (const m of others) row(`\`${m}\``, reports.find((r) => r.method === m && succeeded(r)).cost_result.total);

const table = [
  "| call | runtime | read count | read length | write count | write length | share of block budget |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows,
  "",
  "Batch rows show the total and, in brackets, the cost per analysis. Share of block budget is the" +
    " largest of the five dimensions as a share of the block limit (runtime " +
    `${LIMITS.runtime}, read count ${LIMITS.read_count}, read length ${LIMITS.read_length}, write count ` +
    `${LIMITS.write_count}, write length ${LIMITS.write_length}).`,
].join("\n");

const BEGIN = "<!-- cost-table:begin -->";
const END = "<!-- cost-table:end -->";
const docTable = (doc) => {
  const text = readFileSync(doc, "utf8");
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) {
    console.error(`costs: ${doc} has no ${BEGIN} ... ${END} section`);
    process.exit(2);
  }
  return { text, a: a + BEGIN.length, b };
};

if (writeDoc) {
  const { text, a, b } = docTable(writeDoc);
  writeFileSync(writeDoc, `${text.slice(0, a)}\n${table}\n${text.slice(b)}`);
  console.log(`costs: wrote the cost table into ${writeDoc}`);
} else if (checkDoc) {
  const { text, a, b } = docTable(checkDoc);
  console.log(table);
  if (text.slice(a, b).trim() !== table.trim()) {
    console.error(
      `costs: the cost table in ${checkDoc} does not match the measured costs;` +
        ` run 'npm run test:contract && node scripts/cost-table.mjs --write ${checkDoc}'`,
    );
    process.exit(1);
  }
} else {
  console.log(table);
}
