// The naive baseline contract (tests/fixtures/naive-analysis.clar, never deployed anywhere else):
// deployed into the test simnet and driven with the same workload as medical-analysis's cost rows
// (one submission; batches of 1, 10 and 50 with two alternating findings), so that
// scripts/cost-table.mjs can print both contracts' costs per analysis side by side.
import { Cl, type ClarityValue } from "@stacks/transactions";
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";

const CONTRACT = "naive-analysis";
const accounts = simnet.getAccounts();
const deployer = accounts.get("deployer")!;
const doctor = accounts.get("wallet_3")!;
const outsider = accounts.get("wallet_6")!;

function h32(n: number): Uint8Array {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(28, n);
  b[0] = 0xa5;
  return b;
}

const call = (fn: string, args: ClarityValue[], sender: string) => simnet.callPublicFn(CONTRACT, fn, args, sender);

const FINDINGS = ["nodule-present", "nodule-absent"];
const item = (image: number, i = 0, confidence = 9000) =>
  Cl.tuple({
    "image-hash": Cl.buffer(h32(image)),
    "model-id": Cl.uint(1),
    finding: Cl.stringAscii(FINDINGS[i % 2]),
    confidence: Cl.uint(confidence),
    "report-digest": Cl.buffer(h32(500 + image)),
  });
const batch = (n: number, first: number) => Cl.list(Array.from({ length: n }, (_, i) => item(first + i, i)));

describe("naive-analysis (cost baseline)", () => {
  beforeEach(() => {
    const source = readFileSync("tests/fixtures/naive-analysis.clar", "utf8");
    simnet.deployContract(CONTRACT, source, { clarityVersion: 4 }, deployer);
    expect(call("add-professional", [Cl.principal(doctor)], deployer).result).toBeOk(Cl.bool(true));
    expect(call("add-model", [Cl.uint(1), Cl.uint(6000)], deployer).result).toBeOk(Cl.bool(true));
  });

  it("records single analyses and batches of 1, 10 and 50 (the cost table's workload)", () => {
    const args = [Cl.buffer(h32(1)), Cl.uint(1), Cl.stringAscii("nodule-present"), Cl.uint(9000), Cl.buffer(h32(501))];
    expect(call("submit-analysis", args, doctor).result).toBeOk(Cl.uint(1));
    let next = 2;
    for (const n of [1, 10, 50]) {
      expect(call("submit-analyses", [batch(n, 1000 * n)], doctor).result).toBeOk(Cl.uint(next + n - 1));
      next += n;
    }
    expect(simnet.callReadOnlyFn(CONTRACT, "get-analysis", [Cl.uint(next - 1)], deployer).result).toBeSome(
      Cl.tuple({
        "image-hash": Cl.buffer(h32(50 * 1000 + 49)),
        "model-id": Cl.uint(1),
        finding: Cl.stringAscii("nodule-absent"),
        confidence: Cl.uint(9000),
        "report-digest": Cl.buffer(h32(500 + 50 * 1000 + 49)),
        analyst: Cl.principal(doctor),
        "block-height": Cl.uint(simnet.blockHeight),
      }),
    );
  });

  it("refuses unknown senders and low confidence", () => {
    expect(call("submit-analyses", [batch(2, 1)], outsider).result).toBeErr(Cl.uint(100));
    expect(call("submit-analyses", [Cl.list([item(1), item(2, 1, 5999)])], doctor).result).toBeErr(Cl.uint(102));
  });
});
