// Rendezvous pre-dialers for `rv . medical-analysis invariant` (passed with --dial by
// scripts/rendezvous.sh). Random arguments almost never form a valid analysis (a random buffer is
// rarely 32 bytes, a random uint rarely a registered model id), so the invariants would only ever
// watch refusals. These dialers steer the arguments of the analysis functions into the region where
// the rules decide the outcome: 32-byte hashes, the seeded model ids 1 and 2, confidences spread
// over 0..10000 (so both sides of the thresholds occur), well-formed finding codes, and analysis
// ids that exist; likewise registration hashes and codes, and verification expiries within two years
// of now (simnet's block time follows the wall clock), so grants, renewals and shortenings occur;
// and Merkle roots with leaf counts and lowest confidences around their bounds.
// Callers, pause state and professional status stay random.
const { createHash } = require("node:crypto");
const { Cl, ClarityType } = require("@stacks/transactions");

const digest = (cv) => Cl.buffer(createHash("sha256").update(Buffer.from(cv.value ?? "", "hex")).digest());
const small = (cv, mod, offset = 0) => Cl.uint((BigInt(cv.value) % BigInt(mod)) + BigInt(offset));
const code = (cv) => Cl.stringAscii(cv.value.replace(/[^A-Za-z0-9._:-]/g, "") || "finding");

function steerItem(t) {
  return Cl.tuple({
    "image-hash": digest(t["image-hash"]),
    finding: code(t.finding),
    confidence: small(t.confidence, 10001),
    "report-digest": digest(t["report-digest"]),
  });
}

async function preSteerAnalysisArguments({ selectedFunction, clarityValueArguments: args }) {
  switch (selectedFunction.name) {
    case "submit-analysis": {
      const [image, model, finding, confidence, report] = args;
      const item = steerItem({ "image-hash": image, finding, confidence, "report-digest": report });
      args.splice(0, 5, item.value["image-hash"], small(model, 2, 1), item.value.finding, item.value.confidence, item.value["report-digest"]);
      break;
    }
    case "submit-analyses":
      args[0] = small(args[0], 2, 1);
      if (args[1].type === ClarityType.List) args[1] = Cl.list(args[1].value.map((t) => steerItem(t.value)));
      break;
    case "review-analysis":
      args[0] = small(args[0], 20, 1);
      args[2] = digest(args[2]);
      break;
    case "retract-analysis":
      args[0] = small(args[0], 20, 1);
      break;
    case "register-professional":
      args[0] = digest(args[0]);
      args[1] = Cl.stringAscii(code(args[1]).value.slice(0, 16));
      break;
    case "verify-professional": {
      const now = BigInt(Math.floor(Date.now() / 1000));
      args[1] = Cl.uint(now + (BigInt(args[1].value) % 63_000_000n));
      break;
    }
    case "anchor-root":
      args[0] = digest(args[0]);
      args[1] = small(args[1], 2 ** 20 + 2);
      args[2] = small(args[2], 2, 1);
      args[3] = small(args[3], 10002);
      break;
    case "register-model":
      args[0] = digest(args[0]);
      args[3] = small(args[3], 10001);
      break;
  }
}

module.exports = { preSteerAnalysisArguments };
