#!/usr/bin/env node
// Summarises clarinet-sdk's lcov.info for one contract and enforces a minimum line coverage.
// clarinet-sdk writes one lcov record per test; lines, functions and branches are merged here
// (a line is covered if any test hit it).
// Usage: node scripts/coverage-summary.mjs LCOV CONTRACT_PATH MIN_LINE_PERCENT
import { readFileSync } from "node:fs";
import path from "node:path";

const [lcovPath = "lcov.info", contract = "contracts/medical-analysis.clar", minArg = "95"] = process.argv.slice(2);
const min = Number(minArg);
let text;
try {
  text = readFileSync(lcovPath, "utf8");
} catch (e) {
  console.error(`coverage: cannot read ${lcovPath}: ${e.message} (run the contract tests with --coverage first)`);
  process.exit(2);
}

const lines = new Map(); // line -> hits
const functions = new Map(); // name -> hits
const branches = new Map(); // "line,block,branch" -> hits
const wanted = path.resolve(contract);
let inFile = false;
for (const raw of text.split("\n")) {
  const line = raw.trim();
  if (line.startsWith("SF:")) {
    inFile = path.resolve(line.slice(3)) === wanted;
  } else if (!inFile) {
    continue;
  } else if (line.startsWith("DA:")) {
    const [n, hits] = line.slice(3).split(",").map(Number);
    lines.set(n, (lines.get(n) ?? 0) + hits);
  } else if (line.startsWith("FN:")) {
    const name = line.slice(3).split(",")[1];
    if (!functions.has(name)) functions.set(name, 0);
  } else if (line.startsWith("FNDA:")) {
    const [hits, name] = line.slice(5).split(",");
    functions.set(name, (functions.get(name) ?? 0) + Number(hits));
  } else if (line.startsWith("BRDA:")) {
    const parts = line.slice(5).split(",");
    const key = parts.slice(0, 3).join(",");
    const hits = parts[3] === "-" ? 0 : Number(parts[3]);
    branches.set(key, (branches.get(key) ?? 0) + hits);
  }
}
if (lines.size === 0) {
  console.error(`coverage: ${lcovPath} has no line data for ${contract}`);
  process.exit(2);
}

const pct = (hit, all) => (all === 0 ? 100 : (100 * hit) / all);
const count = (m) => [...m.values()].filter((h) => h > 0).length;
const linePct = pct(count(lines), lines.size);
const uncovered = [...lines].filter(([, h]) => h === 0).map(([n]) => n).sort((a, b) => a - b);
const unusedFns = [...functions].filter(([, h]) => h === 0).map(([n]) => n);

console.log(`Contract coverage for ${contract}:`);
console.log(`  lines      ${count(lines)}/${lines.size} = ${linePct.toFixed(2)}%`);
console.log(`  functions  ${count(functions)}/${functions.size} = ${pct(count(functions), functions.size).toFixed(2)}%`);
console.log(`  branches   ${count(branches)}/${branches.size} = ${pct(count(branches), branches.size).toFixed(2)}%`);
if (uncovered.length) console.log(`  uncovered lines: ${uncovered.join(", ")}`);
if (unusedFns.length) console.log(`  functions never called: ${unusedFns.join(", ")}`);
if (linePct < min) {
  console.error(`coverage: line coverage ${linePct.toFixed(2)}% is below the required ${min}%`);
  process.exit(1);
}
