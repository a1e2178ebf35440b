#!/usr/bin/env node
// Prints the cost tables of docs/contract.md from clarinet-sdk's costs-reports.json (written by
// `vitest run -- --costs`), and the cost summary that README.md repeats (records, then Merkle):
//   - medical-analysis's public functions: the cost of each one's first successful call, and for
//     the batch call, batches of 1, 10 and 50 items (two alternating findings, as a two-label model
//     gives them) and of 50 items with 50 distinct findings (the dearest batch to check), total and
//     per analysis;
//   - its read-only functions: the dearest call the tests made, against the limit a default
//     stacks-node sets on one read-only call (a function over it fails on such a node);
//   - the naive baseline contract (tests/fixtures/naive-analysis.clar, never deployed), measured
//     on the same workload;
//   - Merkle anchoring against records: one root of 100,000 analyses against a batch of 50, per
//     analysis and per block. Issue 14 asks for at least 1,000 times less per analysis and 1,000
//     times more analyses per block; the script fails when the measurements fall short.
// Usage: node scripts/cost-table.mjs [costs-reports.json] [--write DOC | --check DOC]
//   --write DOC  replaces the tables between DOC's cost-table markers, and README.md's summary
//   --check DOC  exits 1 when DOC's tables or README.md's summary differ from the measured costs
//                (docs out of date); either way, exits 1 when a read-only function is over the limit
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
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

const CONTRACT = "medical-analysis";
const BASELINE = "naive-analysis";
const LIMITS = reports[0]?.cost_result?.limit;
// stacks-node's defaults for one read-only call ([connection_options] read_only_call_limit_*).
const READ_ONLY_LIMITS = { runtime: 1_000_000_000, read_count: 30, read_length: 100_000 };
const fields = ["runtime", "read_count", "read_length", "write_count", "write_length"];
const of = (contract) => reports.filter((r) => r.contract_id.endsWith(`.${contract}`));
const ours = of(CONTRACT);
const baseline = of(BASELINE);
// A state-changing call that succeeded writes something; failed calls and read-only calls write nothing.
const succeeded = (r) => r.cost_result.total.write_count > 0;
const args = (r) => r.args.join(" ");
const batchSize = (r) => (args(r).match(/image-hash/g) ?? []).length;
const findings = (r) => new Set(args(r).match(/\(finding "[^"]*"\)/g) ?? []).size;
const pctOfBlock = (t) => Math.max(...fields.map((f) => t[f] / LIMITS[f])) * 100;
const perItem = (t, f, n) => Math.round(t[f] / n);

const readOnlyNames = new Set(
  [...readFileSync(path.join(root, "contracts", `${CONTRACT}.clar`), "utf8").matchAll(/\(define-read-only \(([a-z0-9-]+)/g)].map(
    (m) => m[1],
  ),
);

function callTable(rows) {
  return [
    "| call | runtime | read count | read length | write count | write length | share of block budget |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(({ label, t, n }) => {
      const cells = fields.map((f) => (n === 1 ? `${t[f]}` : `${t[f]} (${perItem(t, f, n)})`));
      return `| ${label} | ${cells.join(" | ")} | ${pctOfBlock(t).toFixed(3)}% |`;
    }),
  ];
}

function submissionRows(calls, batchRows) {
  const rows = [];
  const single = calls.find((r) => r.method === "submit-analysis" && succeeded(r));
  if (single) rows.push({ label: "`submit-analysis`", t: single.cost_result.total, n: 1 });
  for (const { n, distinct, label } of batchRows) {
    const r = calls.find(
      (x) => x.method === "submit-analyses" && succeeded(x) && batchSize(x) === n && findings(x) === distinct,
    );
    if (r) rows.push({ label, t: r.cost_result.total, n });
  }
  return rows;
}

const twoFindings = (n) => ({
  n,
  distinct: Math.min(n, 2),
  label: `\`submit-analyses\`, ${n} item${n > 1 ? "s" : ""}`,
});
const ourRows = submissionRows(ours, [
  twoFindings(1),
  twoFindings(10),
  twoFindings(50),
  { n: 50, distinct: 50, label: "`submit-analyses`, 50 items, 50 distinct findings" },
]);
// Calls that carry a Merkle proof cost more the deeper the leaf: their row is the deepest call.
const PROOF_ARG = { "review-leaf": 3, "retract-leaf": 3 };
const depth = (r, m) => (r.args[PROOF_ARG[m]].match(/0x/g) ?? []).length;
const others = [...new Set(ours.filter(succeeded).map((r) => r.method))]
  .filter((m) => m !== "submit-analysis" && m !== "submit-analyses")
  .sort();
for (const m of others) {
  const calls = ours.filter((r) => r.method === m && succeeded(r));
  if (m in PROOF_ARG) {
    const deepest = calls.reduce((a, b) => (depth(b, m) > depth(a, m) ? b : a));
    ourRows.push({ label: `\`${m}\`, depth ${depth(deepest, m)}`, t: deepest.cost_result.total, n: 1 });
  } else {
    ourRows.push({ label: `\`${m}\``, t: calls[0].cost_result.total, n: 1 });
  }
}

// Read-only functions: the dearest call of each, the one nearest a default node's limit.
const shareOfReadOnlyLimit = (t) => Math.max(...Object.keys(READ_ONLY_LIMITS).map((f) => t[f] / READ_ONLY_LIMITS[f]));
const overLimit = [];
const readOnlyRows = [...readOnlyNames].sort().flatMap((m) => {
  const calls = ours.filter((r) => r.method === m);
  if (calls.length === 0) return [];
  const t = calls
    .map((r) => r.cost_result.total)
    .reduce((a, b) => (shareOfReadOnlyLimit(b) > shareOfReadOnlyLimit(a) ? b : a));
  const over = Object.keys(READ_ONLY_LIMITS).filter((f) => t[f] > READ_ONLY_LIMITS[f]);
  if (over.length) overLimit.push(`${m} (${over.map((f) => `${f} ${t[f]} > ${READ_ONLY_LIMITS[f]}`).join(", ")})`);
  return [`| \`${m}\` | ${t.runtime} | ${t.read_count} | ${t.read_length} | ${over.length ? "**no**" : "yes"} |`];
});

const baselineRows = submissionRows(baseline, [twoFindings(1), twoFindings(10), twoFindings(50)]);

const perAnalysis = (rows) => {
  const r = rows.find((x) => x.label === "`submit-analyses`, 50 items");
  return r && { reads: perItem(r.t, "read_count", 50), exactReads: r.t.read_count / 50, runtime: perItem(r.t, "runtime", 50) };
};
const a = perAnalysis(ourRows);
const b = perAnalysis(baselineRows);
if (!a || !b) {
  console.error(`costs: ${file} lacks a successful 50-item submit-analyses of ${!a ? CONTRACT : BASELINE}`);
  process.exit(2);
}
// Markdown prose in the docs is wrapped at 100 columns; so is the generated sentence.
const wrap = (text, width = 100) =>
  text
    .split(" ")
    .reduce((lines, word) => {
      const last = lines[lines.length - 1];
      if (last && last.length + 1 + word.length <= width) lines[lines.length - 1] = `${last} ${word}`;
      else lines.push(word);
      return lines;
    }, [])
    .join("\n");
const summary = wrap(
  `Per analysis in a batch of 50, \`medical-analysis\` costs ${a.exactReads.toFixed(2)} reads and ` +
  `${a.runtime} runtime units; the naive single-map contract a newcomer would write ` +
  `(\`tests/fixtures/naive-analysis.clar\`, never deployed) costs ` +
  `${b.exactReads.toFixed(2)} reads and ${b.runtime}, measured the same way (\`node scripts/cost-table.mjs\`).`,
);

// Merkle anchoring against records. A block holds as many transactions as its scarcest dimension
// allows; a root anchors ROOT_LEAVES analyses, a batch 50.
const ROOT_LEAVES = 100_000;
const rootCall = ours.find((r) => r.method === "anchor-root" && succeeded(r));
const batch50 = ourRows.find((x) => x.label === "`submit-analyses`, 50 items");
if (!rootCall) {
  console.error(`costs: ${file} lacks a successful anchor-root`);
  process.exit(2);
}
const perBlock = (t) => Math.min(...fields.map((f) => Math.floor(LIMITS[f] / t[f])));
const rootT = rootCall.cost_result.total;
const costRatio = Math.min(...fields.map((f) => (batch50.t[f] / 50) / (rootT[f] / ROOT_LEAVES)));
const recordsPerBlock = perBlock(batch50.t) * 50;
const leavesPerBlock = perBlock(rootT) * ROOT_LEAVES;
const blockRatio = leavesPerBlock / recordsPerBlock;
const fmt = (x) => Math.round(x).toLocaleString("en-US");
const merkleNote = wrap(
  `Merkle anchoring against records: one \`anchor-root\` of ${fmt(ROOT_LEAVES)} analyses costs ` +
    `${rootT.runtime} runtime and ${rootT.read_count} reads, ${(rootT.runtime / ROOT_LEAVES).toFixed(2)} runtime and ` +
    `${(rootT.read_count / ROOT_LEAVES).toFixed(5)} reads per analysis, against ${fmt(batch50.t.runtime / 50)} runtime and ` +
    `${(batch50.t.read_count / 50).toFixed(2)} reads per analysis in a batch of 50: in every one of the five dimensions ` +
    `at least ${fmt(costRatio)} times less per analysis. A block holds ${perBlock(batch50.t)} batches of 50 ` +
    `(${fmt(recordsPerBlock)} analyses) or ${fmt(perBlock(rootT))} roots (${fmt(leavesPerBlock)} analyses at ` +
    `${fmt(ROOT_LEAVES)} a root): ${fmt(blockRatio)} times as many analyses per block.`,
);
const shortfalls = [
  costRatio < 1000 && `a root's cost per analysis is only ${costRatio.toFixed(0)} times below a record's`,
  blockRatio < 1000 && `roots fit only ${blockRatio.toFixed(0)} times as many analyses in a block`,
].filter(Boolean);

const limitsNote =
  `runtime ${LIMITS.runtime}, read count ${LIMITS.read_count}, read length ${LIMITS.read_length}, write count ` +
  `${LIMITS.write_count}, write length ${LIMITS.write_length}`;
const table = [
  ...callTable(ourRows),
  "",
  "Batch rows show the total and, in brackets, the cost per analysis. Share of block budget is the" +
    ` largest of the five dimensions as a share of the block limit (${limitsNote}).`,
  "",
  "Read-only functions, the dearest call the tests make of each, against the limit a default stacks-node" +
    ` sets on one read-only call (read count ${READ_ONLY_LIMITS.read_count}, read length` +
    ` ${READ_ONLY_LIMITS.read_length}, runtime ${READ_ONLY_LIMITS.runtime}):`,
  "",
  "| read-only call | runtime | read count | read length | within a default node's limit |",
  "| --- | --- | --- | --- | --- |",
  ...readOnlyRows,
  "",
  "The naive baseline, `tests/fixtures/naive-analysis.clar`, on the same workload:",
  "",
  ...callTable(baselineRows),
  "",
  summary,
  "",
  merkleNote,
].join("\n");

const BEGIN = "<!-- cost-table:begin -->";
const END = "<!-- cost-table:end -->";
const SUMMARY_BEGIN = "<!-- cost-summary:begin -->";
const SUMMARY_END = "<!-- cost-summary:end -->";
const README = path.join(root, "README.md");
const section = (doc, begin, end) => {
  const text = readFileSync(doc, "utf8");
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) {
    console.error(`costs: ${doc} has no ${begin} ... ${end} section`);
    process.exit(2);
  }
  return { text, a: i + begin.length, b: j };
};
const targets = (doc) => [
  { doc, begin: BEGIN, end: END, body: table },
  { doc: README, begin: SUMMARY_BEGIN, end: SUMMARY_END, body: `${summary}\n\n${merkleNote}` },
];

let status = 0;
if (writeDoc) {
  for (const t of targets(writeDoc)) {
    const { text, a: i, b: j } = section(t.doc, t.begin, t.end);
    writeFileSync(t.doc, `${text.slice(0, i)}\n${t.body}\n${text.slice(j)}`);
    console.log(`costs: wrote the measured costs into ${t.doc}`);
  }
} else if (checkDoc) {
  console.log(table);
  for (const t of targets(checkDoc)) {
    const { text, a: i, b: j } = section(t.doc, t.begin, t.end);
    if (text.slice(i, j).trim() !== t.body.trim()) {
      console.error(
        `costs: the costs in ${t.doc} do not match the measured ones;` +
          ` run 'npm run test:contract && node scripts/cost-table.mjs --write ${checkDoc}'`,
      );
      status = 1;
    }
  }
} else {
  console.log(table);
}
if (shortfalls.length) {
  console.error(`costs: Merkle anchoring falls short of issue 14's factor 1,000: ${shortfalls.join("; ")}`);
  status = 1;
}
if (overLimit.length) {
  console.error(`costs: read-only calls over a default node's limit: ${overLimit.join("; ")}`);
  status = 1;
}
process.exit(status);
