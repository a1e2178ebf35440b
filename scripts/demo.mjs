#!/usr/bin/env node
// The contract demo: runs medanchor's on-chain workflow end to end on clarinet-sdk's simnet (the
// real Clarity VM, in process) and prints what happened. It is the main job until the C++ pipeline
// (`medanchor analyze`) and the local chain take over.
//
// Usage: node scripts/demo.mjs [IMAGE_HASH_HEX ...]
//   With hashes (64 hex digits each, e.g. from `medanchor hash --json`), those are anchored;
//   without, the demo derives stand-in hashes and says so.
import { initSimnet } from "@stacks/clarinet-sdk";
import { Cl, ClarityType, cvToString } from "@stacks/transactions";
import { createHash } from "node:crypto";

async function quietAsync(fn) {
  const saved = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = saved;
  }
}
const sha256 = (s) => createHash("sha256").update(s).digest();
const ERRORS = {
  1010: "ERR-PAUSED",
  1021: "ERR-NOT-REGISTERED",
  1023: "ERR-NOT-VERIFIED",
  1024: "ERR-VERIFICATION-EXPIRED",
  1025: "ERR-SUSPENDED",
  1063: "ERR-CONFIDENCE-BELOW-THRESHOLD",
  1081: "ERR-SELF-REVIEW",
};

// The simnet echoes every contract `print` to the console; the demo shows its own summary instead.
const say = console.log;
const quiet = (fn) => {
  console.log = () => {};
  try {
    return fn();
  } finally {
    console.log = say;
  }
};

const hashes = process.argv.slice(2);
for (const h of hashes) {
  if (!/^[0-9a-f]{64}$/i.test(h) || /^0+$/.test(h)) {
    console.error(`demo: '${h}' is not a 32-byte image hash (64 hex digits, not all zero)`);
    process.exit(2);
  }
}
const images = hashes.length
  ? hashes.map((h, i) => ({ label: `image ${i + 1}`, hash: Buffer.from(h, "hex") }))
  : ["sample-ct-001", "sample-ct-002", "sample-ct-003"].map((label) => ({
      label: `${label} (stand-in hash)`,
      hash: sha256(`medanchor demo ${label}`),
    }));

const simnet = await quietAsync(() => initSimnet("./Clarinet.toml"));
const acc = simnet.getAccounts();
const admin = acc.get("deployer");
const verifier = acc.get("wallet_1");
const radiologist = acc.get("wallet_2");
const reviewer = acc.get("wallet_3");
const C = "medical-analysis";

function tx(label, fn, args, sender) {
  const { result } = quiet(() => simnet.callPublicFn(C, fn, args, sender));
  const ok = result.type === ClarityType.ResponseOk;
  // A refused batch answers (err { code, index }); every other refusal (err code).
  const code = result.value.type === ClarityType.Tuple ? result.value.value.code : result.value;
  const shown = ok ? cvToString(result) : `${cvToString(result)} ${ERRORS[Number(code.value)] ?? ""}`;
  console.log(`  ${ok ? "ok " : "err"}  ${label.padEnd(58)} ${shown}`);
  return result;
}
const read = (fn, args) => quiet(() => simnet.callReadOnlyFn(C, fn, args, admin).result);
const now = () => Number(Cl.deserialize(quiet(() => simnet.runSnippet("stacks-block-time"))).value);

console.log("medanchor contract demo on the local Clarity VM (clarinet-sdk simnet)\n");
console.log("Roles and model registry");
tx("admin appoints a credentialing authority (verifier)", "appoint-verifier", [Cl.principal(verifier)], admin);
tx(
  "admin registers the model (SHA-256 of its ONNX file)",
  "register-model",
  [Cl.buffer(sha256("medanchor demo model")), Cl.stringAscii("demo-nodule-cnn"), Cl.stringAscii("0.1.0"), Cl.uint(6000)],
  admin,
);
for (const [who, n] of [
  [radiologist, 1],
  [reviewer, 2],
]) {
  tx(`professional ${n} registers (salted licence hash, no name)`, "register-professional", [Cl.buffer(sha256(`licence-record-${n}:salt`)), Cl.stringAscii("radiology")], who);
  tx(`verifier verifies professional ${n} for one year`, "verify-professional", [Cl.principal(who), Cl.uint(now() + 365 * 86400), Cl.uint(1)], verifier);
}

console.log("\nAnalyses");
const item = (img, confidence) =>
  Cl.tuple({
    "image-hash": Cl.buffer(img.hash),
    finding: Cl.stringAscii("nodule-present"),
    confidence: Cl.uint(confidence),
    "report-digest": Cl.buffer(sha256(`report of ${img.hash.toString("hex")}`)),
  });
const batch = images.map((img, i) => item(img, 9100 - 700 * i));
tx("a below-threshold result is refused (confidence 41.00%)", "submit-analysis", [Cl.buffer(images[0].hash), Cl.uint(1), Cl.stringAscii("nodule-present"), Cl.uint(4100), Cl.buffer(sha256("r"))], radiologist);
tx("a batch with one such result is refused, naming its index", "submit-analyses", [Cl.uint(1), Cl.list([...batch, item(images[0], 4100)])], radiologist);
tx(`professional 1 anchors ${images.length} analyses in one batch (model 1)`, "submit-analyses", [Cl.uint(1), Cl.list(batch)], radiologist);
tx("professional 2 confirms analysis 1 (note digest)", "review-analysis", [Cl.uint(1), Cl.bool(true), Cl.buffer(sha256("agree"))], reviewer);
tx("the author may not review their own analysis", "review-analysis", [Cl.uint(2), Cl.bool(true), Cl.buffer(sha256("self"))], radiologist);
tx("verifier suspends professional 1", "suspend-professional", [Cl.principal(radiologist), Cl.uint(7)], verifier);
tx("a suspended professional's submission is refused", "submit-analysis", [Cl.buffer(images[0].hash), Cl.uint(1), Cl.stringAscii("nodule-present"), Cl.uint(9000), Cl.buffer(sha256("r2"))], radiologist);

console.log("\nVerification (read-only verify-image)");
let valid = 0;
for (const img of images) {
  const v = read("verify-image", [Cl.buffer(img.hash)]).value;
  const latest = v["latest-valid"];
  if (latest.type === ClarityType.OptionalSome) {
    valid++;
    const a = latest.value.value;
    console.log(
      `  ${img.label}: VALID, analysis ${a["analysis-id"].value}, ${a.finding.value} at ` +
        `${(Number(a.confidence.value) / 100).toFixed(2)}% (threshold ${(Number(a.threshold.value) / 100).toFixed(2)}%), ` +
        `block ${a["block-height"].value} (Bitcoin block ${a["burn-block-height"].value}), status ${a.status.value}`,
    );
  } else {
    console.log(`  ${img.label}: no valid analysis on chain`);
  }
}
const unknown = read("verify-image", [Cl.buffer(sha256("an image nobody analysed"))]).value;
console.log(`  an image never analysed: ${unknown.valid.type === ClarityType.BoolTrue ? "VALID?!" : "nothing recorded (as expected)"}`);

const p = read("get-parameters", []).value;
console.log(
  `\nSummary: ${p["analysis-count"].value} analyses anchored, ${valid}/${images.length} images verify, ` +
    `${p["model-count"].value} model, ${p["professional-count"].value} professionals, minimum confidence ` +
    `${(Number(p["min-confidence"].value) / 100).toFixed(2)}%.`,
);
if (valid !== images.length) process.exit(1);
