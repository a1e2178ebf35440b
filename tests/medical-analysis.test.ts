// Tests of contracts/medical-analysis.clar on clarinet-sdk's simnet (the real Clarity VM).
// Errors are asserted by name through ERR, which mirrors the contract's constants; a test below
// checks that the two tables agree, so a renumbered code cannot slip through.
import { Cl, ClarityType, type ClarityValue, cvToValue } from "@stacks/transactions";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type LeafFields,
  auditPath,
  hex,
  leafBytes,
  leafBytesDirect,
  leafCV,
  leafHash,
  rootFromPath,
  treeHash,
  unhex,
} from "./merkle/merkle";
import {
  ENCODING_LEAVES,
  GENERATED_INDEXES,
  GENERATED_SIZE,
  UNIFORM_INDEX,
  UNIFORM_SIZE,
  VECTOR_ANALYST,
  buildVectors,
  generatedLeaf,
  uniformTree,
  vectorLeaf,
} from "./merkle/vectors";

const CONTRACT = "medical-analysis";

const ERR = {
  NOT_ADMIN: 1000,
  NOT_VERIFIER: 1001,
  ALREADY_ADMIN: 1002,
  UNKNOWN_ADMIN: 1003,
  LAST_ADMIN: 1004,
  ALREADY_VERIFIER: 1005,
  UNKNOWN_VERIFIER: 1006,
  INVALID_PARAMETER: 1007,
  ALREADY_PAUSED: 1008,
  NOT_PAUSED: 1009,
  PAUSED: 1010,
  ALREADY_REGISTERED: 1020,
  NOT_REGISTERED: 1021,
  INVALID_CREDENTIAL: 1022,
  NOT_VERIFIED: 1023,
  VERIFICATION_EXPIRED: 1024,
  SUSPENDED: 1025,
  NOT_SUSPENDED: 1026,
  INVALID_EXPIRY: 1027,
  SELF_VERIFICATION: 1028,
  NOT_GRANTOR: 1029,
  NOT_SUSPENDER: 1030,
  UNKNOWN_MODEL: 1040,
  MODEL_RETIRED: 1041,
  MODEL_EXISTS: 1042,
  INVALID_MODEL: 1043,
  INVALID_IMAGE_HASH: 1060,
  INVALID_FINDING: 1061,
  INVALID_CONFIDENCE: 1062,
  CONFIDENCE_BELOW_THRESHOLD: 1063,
  EMPTY_BATCH: 1064,
  INVALID_REPORT_DIGEST: 1065,
  INVALID_ROOT: 1066,
  INVALID_LEAF_COUNT: 1067,
  ROOT_EXISTS: 1068,
  UNKNOWN_ROOT: 1069,
  INVALID_PROOF: 1070,
  LEAF_MISMATCH: 1071,
  UNKNOWN_ANALYSIS: 1080,
  SELF_REVIEW: 1081,
  ALREADY_REVIEWED: 1082,
  NOT_AUTHOR: 1083,
  ANALYSIS_RETRACTED: 1084,
  INVALID_NOTE_DIGEST: 1085,
} as const;
type ErrName = keyof typeof ERR;

const accounts = simnet.getAccounts();
const deployer = accounts.get("deployer")!;
const admin2 = accounts.get("wallet_1")!;
const verifier = accounts.get("wallet_2")!;
const doctor = accounts.get("wallet_3")!;
const doctor2 = accounts.get("wallet_4")!;
const doctor3 = accounts.get("wallet_5")!;
const outsider = accounts.get("wallet_6")!;
const verifier2 = accounts.get("wallet_7")!;

const DAY = 86_400;
const MAX_UINT = 2n ** 128n - 1n;
const ZERO32 = new Uint8Array(32);

/** Deterministic 32-byte value; `n` distinguishes values. */
function h32(n: number): Uint8Array {
  const b = new Uint8Array(32);
  new DataView(b.buffer).setUint32(28, n);
  b[0] = 0xa5;
  return b;
}

function call(fn: string, args: ClarityValue[], sender: string) {
  return simnet.callPublicFn(CONTRACT, fn, args, sender);
}

function ro(fn: string, args: ClarityValue[] = []) {
  return simnet.callReadOnlyFn(CONTRACT, fn, args, deployer).result;
}

function expectOk(res: { result: ClarityValue }, value: ClarityValue = Cl.bool(true)) {
  expect(res.result).toBeOk(value);
}

function expectErr(res: { result: ClarityValue }, name: ErrName) {
  expect(res.result).toBeErr(Cl.uint(ERR[name]));
}

/** stacks-block-time at the chain tip; the next transaction runs in a later block. */
function tipBlockTime(): number {
  return Number(cvToValue(Cl.deserialize(simnet.runSnippet("stacks-block-time") as string)));
}

function registerModel(hashN = 1, minConfidence = 6000, sender = deployer) {
  return call(
    "register-model",
    [Cl.buffer(h32(hashN)), Cl.stringAscii(`nodule-cnn-${hashN}`), Cl.stringAscii("1.0.0"), Cl.uint(minConfidence)],
    sender,
  );
}

function register(who: string, credN = 100) {
  return call("register-professional", [Cl.buffer(h32(credN)), Cl.stringAscii("radiology")], who);
}

function verify(who: string, seconds = 365 * DAY, by = verifier) {
  return call("verify-professional", [Cl.principal(who), Cl.uint(tipBlockTime() + seconds), Cl.uint(1)], by);
}

type Item = { image: number; model?: number; finding?: string; confidence?: number; report?: number };

function itemArgs(it: Item): ClarityValue[] {
  return [
    Cl.buffer(it.image === 0 ? ZERO32 : h32(it.image)),
    Cl.uint(it.model ?? 1),
    Cl.stringAscii(it.finding ?? "nodule-present"),
    Cl.uint(it.confidence ?? 9000),
    Cl.buffer(it.report === 0 ? ZERO32 : h32(it.report ?? 500 + it.image)),
  ];
}

/** A batch item: the fields of `itemArgs` without the model, which a batch names once. */
function itemTuple(it: Item): ClarityValue {
  const [imageHash, , finding, confidence, reportDigest] = itemArgs(it);
  return Cl.tuple({ "image-hash": imageHash, finding, confidence, "report-digest": reportDigest });
}

function submit(it: Item, sender = doctor) {
  return call("submit-analysis", itemArgs(it), sender);
}

function submitBatch(items: Item[], sender = doctor, model = 1) {
  return call("submit-analyses", [Cl.uint(model), Cl.list(items.map(itemTuple))], sender);
}

/** The error of a refused batch: the code by name, and the index of the item at fault or none. */
function expectBatchErr(res: { result: ClarityValue }, name: ErrName, index: number | null) {
  expect(res.result).toBeErr(
    Cl.tuple({ code: Cl.uint(ERR[name]), index: index === null ? Cl.none() : Cl.some(Cl.uint(index)) }),
  );
}

/** Alternating findings, as a model with two labels produces them. */
const FINDINGS = ["nodule-present", "nodule-absent"];
function batchOf(n: number, firstImage: number): Item[] {
  return Array.from({ length: n }, (_, i) => ({ image: firstImage + i, finding: FINDINGS[i % 2] }));
}

/** A Clarity value as plain JS: uint/int -> bigint, buffer -> hex, none -> null, some -> inner. */
function value(cv: ClarityValue): any {
  switch (cv.type) {
    case ClarityType.UInt:
    case ClarityType.Int:
      return BigInt(cv.value);
    case ClarityType.BoolTrue:
      return true;
    case ClarityType.BoolFalse:
      return false;
    case ClarityType.Buffer:
      return cv.value;
    case ClarityType.StringASCII:
    case ClarityType.StringUTF8:
      return cv.value;
    case ClarityType.PrincipalStandard:
    case ClarityType.PrincipalContract:
      return cvToValue(cv);
    case ClarityType.OptionalNone:
      return null;
    case ClarityType.OptionalSome:
    case ClarityType.ResponseOk:
    case ClarityType.ResponseErr:
      return value(cv.value);
    case ClarityType.List:
      return cv.value.map(value);
    case ClarityType.Tuple:
      return Object.fromEntries(Object.entries(cv.value).map(([k, v]) => [k, value(v)]));
  }
}

function analysis(id: number): any {
  const r = ro("get-analysis", [Cl.uint(id)]);
  return r.type === ClarityType.OptionalNone ? null : value(r);
}

function params(): any {
  return value(ro("get-parameters"));
}

/** Admin + verifier + one model + three verified professionals. */
function setupWorld() {
  expectOk(call("appoint-verifier", [Cl.principal(verifier)], deployer));
  expect(registerModel(1).result).toBeOk(Cl.uint(1));
  for (const [i, who] of [doctor, doctor2, doctor3].entries()) {
    expectOk(register(who, 100 + i));
    expectOk(verify(who));
  }
}

describe("error table", () => {
  it("matches the contract's constants and docs/contract.md", () => {
    const source = readFileSync("contracts/medical-analysis.clar", "utf8");
    const inContract = new Map<string, number>();
    for (const m of source.matchAll(/\(define-constant ERR-([A-Z-]+) \(err u(\d+)\)\)/g)) {
      inContract.set(m[1].replaceAll("-", "_"), Number(m[2]));
    }
    expect(Object.fromEntries(inContract)).toEqual(ERR);
    const docs = readFileSync("docs/contract.md", "utf8");
    for (const [name, code] of Object.entries(ERR)) {
      expect(docs).toMatch(new RegExp(`\\|\\s*u${code}\\s*\\|\\s*\`ERR-${name.replaceAll("_", "-")}\``));
    }
  });
});

describe("deployment files", () => {
  const source = readFileSync("contracts/medical-analysis.clar", "utf8");
  const field = (text: string, name: string) => text.match(new RegExp(`^\\s*-?\\s*${name}: (.+)$`, "m"))?.[1];

  it("publish only medical-analysis: the naive baseline is in no manifest or plan", () => {
    const manifest = readFileSync("Clarinet.toml", "utf8");
    expect([...manifest.matchAll(/^\[contracts\.([^\]]+)\]/gm)].map((m) => m[1])).toEqual([CONTRACT]);
    for (const plan of ["deployments/default.simnet-plan.yaml", "deployments/default.testnet-plan.yaml"]) {
      const text = readFileSync(plan, "utf8");
      expect([...text.matchAll(/contract-name: (\S+)/g)].map((m) => m[1])).toEqual([CONTRACT]);
      expect(text).not.toMatch(/naive/);
    }
  });

  it("the contract source is printable ASCII, as a Stacks contract-publish transaction requires", () => {
    expect(source).toMatch(/^[\x20-\x7e\n]*$/);
  });

  it("the testnet plan is Clarinet's format for this contract, with a sender nobody holds", () => {
    const plan = readFileSync("deployments/default.testnet-plan.yaml", "utf8");
    expect(field(plan, "network")).toBe("testnet");
    expect(field(plan, "transaction-type")).toBe("contract-publish");
    expect(field(plan, "path")).toBe("contracts/medical-analysis.clar");
    const manifest = readFileSync("Clarinet.toml", "utf8");
    expect(field(plan, "clarity-version")).toBe(manifest.match(/clarity_version = (\d+)/)![1]);
    // Clarinet prices a publish at deployment_fee_rate x the source's length
    const feeRate = Number(readFileSync("settings/Testnet.toml.example", "utf8").match(/deployment_fee_rate = (\d+)/)![1]);
    expect(Number(field(plan, "cost"))).toBe(feeRate * Buffer.byteLength(source));
    // the testnet boot address: applying this template fails until it is generated for a real account
    expect(field(plan, "expected-sender")).toBe("ST000000000000000000002AMW42H");
  });

  it("the testnet settings example holds a placeholder, and real settings files are ignored by git", () => {
    const example = readFileSync("settings/Testnet.toml.example", "utf8");
    const mnemonics = [...example.matchAll(/^mnemonic = "(.*)"$/gm)].map((m) => m[1]);
    expect(mnemonics).toEqual(["<YOUR PRIVATE TESTNET MNEMONIC HERE>"]);
    expect(example).toMatch(/^name = "testnet"$/m);
    const ignored = readFileSync("settings/.gitignore", "utf8").split("\n");
    expect(ignored).toContain("Testnet.toml");
    expect(ignored).toContain("Mainnet.toml");
  });
});

describe("deployment", () => {
  it("makes the deployer the only admin with default parameters", () => {
    expect(ro("is-admin", [Cl.principal(deployer)])).toBeBool(true);
    expect(ro("is-admin", [Cl.principal(admin2)])).toBeBool(false);
    const p = params();
    expect(p["admin-count"]).toBe(1n);
    expect(p["min-confidence"]).toBe(5000n);
    expect(p["max-batch-size"]).toBe(50n);
    expect(p.paused).toBe(false);
    expect(p["analysis-count"]).toBe(0n);
  });
});

describe("admins", () => {
  it("adds and removes admins, never the last one", () => {
    expectOk(call("add-admin", [Cl.principal(admin2)], deployer));
    expect(simnet.getMapEntry(CONTRACT, "admins", Cl.principal(admin2))).toBeSome(Cl.bool(true));
    expectErr(call("add-admin", [Cl.principal(admin2)], deployer), "ALREADY_ADMIN");
    expect(params()["admin-count"]).toBe(2n);
    // the new admin removes the deployer; then it is the last admin and cannot remove itself
    expectOk(call("remove-admin", [Cl.principal(deployer)], admin2));
    expectErr(call("remove-admin", [Cl.principal(admin2)], admin2), "LAST_ADMIN");
    expectErr(call("remove-admin", [Cl.principal(deployer)], admin2), "UNKNOWN_ADMIN");
    // the removed deployer lost every admin power
    expectErr(call("add-admin", [Cl.principal(outsider)], deployer), "NOT_ADMIN");
    expect(params()["admin-count"]).toBe(1n);
  });

  it("emits an event per role change", () => {
    const res = call("add-admin", [Cl.principal(admin2)], deployer);
    expect(res.events).toHaveLength(1);
    const ev = value(res.events[0].data.value as ClarityValue);
    expect(ev.event).toBe("admin-added");
    expect(ev.admin).toBe(admin2);
    expect(ev.by).toBe(deployer);
  });

  it("refuses non-admins for every admin function", () => {
    const calls: [string, ClarityValue[]][] = [
      ["add-admin", [Cl.principal(outsider)]],
      ["remove-admin", [Cl.principal(deployer)]],
      ["appoint-verifier", [Cl.principal(outsider)]],
      ["dismiss-verifier", [Cl.principal(verifier)]],
      ["set-min-confidence", [Cl.uint(1)]],
      ["set-max-verification-period", [Cl.uint(1)]],
      ["pause", []],
      ["unpause", []],
      ["register-model", [Cl.buffer(h32(9)), Cl.stringAscii("m"), Cl.stringAscii("1"), Cl.uint(0)]],
    ];
    for (const [fn, args] of calls) expectErr(call(fn, args, outsider), "NOT_ADMIN");
    expect(registerModel(1).result).toBeOk(Cl.uint(1));
    expectErr(call("retire-model", [Cl.uint(1)], outsider), "NOT_ADMIN");
  });
});

describe("verifiers", () => {
  it("are appointed and dismissed by admins", () => {
    expectOk(call("appoint-verifier", [Cl.principal(verifier)], deployer));
    expect(ro("is-verifier", [Cl.principal(verifier)])).toBeBool(true);
    expectErr(call("appoint-verifier", [Cl.principal(verifier)], deployer), "ALREADY_VERIFIER");
    expectOk(call("dismiss-verifier", [Cl.principal(verifier)], deployer));
    expect(ro("is-verifier", [Cl.principal(verifier)])).toBeBool(false);
    expectErr(call("dismiss-verifier", [Cl.principal(verifier)], deployer), "UNKNOWN_VERIFIER");
  });

  it("a dismissed verifier can no longer verify, but past verifications stand", () => {
    setupWorld();
    expectOk(call("dismiss-verifier", [Cl.principal(verifier)], deployer));
    expectOk(register(outsider, 300));
    expectErr(verify(outsider), "NOT_VERIFIER");
    expect(ro("is-active-professional", [Cl.principal(doctor)])).toBeBool(true);
  });
});

describe("parameters and pause", () => {
  it("sets the global minimum confidence within 0..10000", () => {
    expectOk(call("set-min-confidence", [Cl.uint(10000)], deployer));
    expect(params()["min-confidence"]).toBe(10000n);
    expectErr(call("set-min-confidence", [Cl.uint(10001)], deployer), "INVALID_PARAMETER");
  });

  it("sets a positive maximum verification period", () => {
    expectOk(call("set-max-verification-period", [Cl.uint(30 * DAY)], deployer));
    expect(params()["max-verification-period"]).toBe(BigInt(30 * DAY));
    expectErr(call("set-max-verification-period", [Cl.uint(0)], deployer), "INVALID_PARAMETER");
  });

  // Issue 10: a period near 2^128 made every `verify-professional` abort with an overflow.
  it("bounds the maximum verification period to five years, so verification never overflows", () => {
    const limit = 5 * 365 * DAY;
    expectErr(call("set-max-verification-period", [Cl.uint(MAX_UINT)], deployer), "INVALID_PARAMETER");
    expect(params()["max-verification-period-limit"]).toBe(BigInt(limit));
    expectErr(call("set-max-verification-period", [Cl.uint(limit + 1)], deployer), "INVALID_PARAMETER");
    expectOk(call("set-max-verification-period", [Cl.uint(limit)], deployer));
    expectOk(call("appoint-verifier", [Cl.principal(verifier)], deployer));
    expectOk(register(doctor));
    // the longest grant the limit allows, and no expiry (not even 2^128 - 1) aborts the check
    expectErr(verify(doctor, limit + DAY), "INVALID_EXPIRY");
    expectErr(call("verify-professional", [Cl.principal(doctor), Cl.uint(MAX_UINT), Cl.uint(1)], verifier), "INVALID_EXPIRY");
    expectOk(verify(doctor, limit));
    expect(ro("is-active-professional", [Cl.principal(doctor)])).toBeBool(true);
  });

  it("pauses submissions and reviews but not retraction", () => {
    setupWorld();
    expect(submit({ image: 1 }).result).toBeOk(Cl.uint(1));
    expectOk(call("pause", [], deployer));
    expectErr(call("pause", [], deployer), "ALREADY_PAUSED");
    expect(params().paused).toBe(true);
    expectErr(submit({ image: 2 }), "PAUSED");
    expectBatchErr(submitBatch([{ image: 2 }]), "PAUSED", null);
    expectErr(call("review-analysis", [Cl.uint(1), Cl.bool(true), Cl.buffer(h32(7))], doctor2), "PAUSED");
    expectOk(call("retract-analysis", [Cl.uint(1), Cl.uint(3)], doctor));
    expectOk(call("unpause", [], deployer));
    expectErr(call("unpause", [], deployer), "NOT_PAUSED");
    expect(submit({ image: 2 }).result).toBeOk(Cl.uint(2));
  });
});

describe("model registry", () => {
  it("registers models with increasing ids and looks them up by hash", () => {
    const res = registerModel(1, 6000);
    expect(res.result).toBeOk(Cl.uint(1));
    expect(value(res.events[0].data.value as ClarityValue).event).toBe("model-registered");
    expect(registerModel(2, 0).result).toBeOk(Cl.uint(2));
    expect(ro("get-model-id", [Cl.buffer(h32(2))])).toBeSome(Cl.uint(2));
    expect(ro("get-model-id", [Cl.buffer(h32(3))])).toBeNone();
    const m = value(ro("get-model", [Cl.uint(1)]));
    expect(m.name).toBe("nodule-cnn-1");
    expect(m["min-confidence"]).toBe(6000n);
    expect(m.active).toBe(true);
    expect(params()["model-count"]).toBe(2n);
  });

  it("refuses duplicate hashes and invalid fields", () => {
    expect(registerModel(1).result).toBeOk(Cl.uint(1));
    expectErr(registerModel(1), "MODEL_EXISTS");
    const bad: ClarityValue[][] = [
      [Cl.buffer(ZERO32), Cl.stringAscii("m"), Cl.stringAscii("1"), Cl.uint(0)],
      [Cl.buffer(h32(5).slice(0, 20)), Cl.stringAscii("m"), Cl.stringAscii("1"), Cl.uint(0)],
      [Cl.buffer(h32(5)), Cl.stringAscii(""), Cl.stringAscii("1"), Cl.uint(0)],
      [Cl.buffer(h32(5)), Cl.stringAscii("m"), Cl.stringAscii(""), Cl.uint(0)],
      [Cl.buffer(h32(5)), Cl.stringAscii("m"), Cl.stringAscii("1"), Cl.uint(10001)],
    ];
    for (const args of bad) expectErr(call("register-model", args, deployer), "INVALID_MODEL");
  });

  it("retires a model for good; its old analyses stay, new ones are refused", () => {
    setupWorld();
    expect(submit({ image: 1 }).result).toBeOk(Cl.uint(1));
    expectOk(call("retire-model", [Cl.uint(1)], deployer));
    expectErr(call("retire-model", [Cl.uint(1)], deployer), "MODEL_RETIRED");
    expectErr(call("retire-model", [Cl.uint(99)], deployer), "UNKNOWN_MODEL");
    expectErr(submit({ image: 2 }), "MODEL_RETIRED");
    expect(value(ro("verify-image", [Cl.buffer(h32(1))])).valid).toBe(true);
  });
});

describe("professionals", () => {
  beforeEach(() => {
    expectOk(call("appoint-verifier", [Cl.principal(verifier)], deployer));
  });

  it("register with a credential hash and specialty, once", () => {
    const res = register(doctor);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue).event).toBe("professional-registered");
    expectErr(register(doctor), "ALREADY_REGISTERED");
    expectErr(call("register-professional", [Cl.buffer(ZERO32), Cl.stringAscii("rad")], doctor2), "INVALID_CREDENTIAL");
    expectErr(call("register-professional", [Cl.buffer(h32(1)), Cl.stringAscii("")], doctor2), "INVALID_CREDENTIAL");
    expectErr(call("register-professional", [Cl.buffer(h32(1)), Cl.stringAscii("Dr Who")], doctor2), "INVALID_CREDENTIAL");
    expectErr(call("register-professional", [Cl.buffer(h32(1).slice(1)), Cl.stringAscii("rad")], doctor2), "INVALID_CREDENTIAL");
    const p = value(ro("get-professional", [Cl.principal(doctor)]));
    expect(p.active).toBe(false);
    expect(p["inactive-reason"]).toBe(BigInt(ERR.NOT_VERIFIED));
    expect(ro("get-professional", [Cl.principal(outsider)])).toBeNone();
    expect(params()["professional-count"]).toBe(1n);
  });

  it("are verified by a verifier until an expiry within the allowed period", () => {
    expectErr(verify(doctor), "NOT_REGISTERED");
    expectOk(register(doctor));
    expectErr(verify(doctor, 10, outsider), "NOT_VERIFIER");
    expectErr(verify(doctor, 0), "INVALID_EXPIRY");
    expectErr(verify(doctor, 2 * 365 * DAY + DAY), "INVALID_EXPIRY");
    expectOk(verify(doctor, 30 * DAY));
    const p = value(ro("get-professional", [Cl.principal(doctor)]));
    expect(p.active).toBe(true);
    expect(p["inactive-reason"]).toBe(0n);
    expect(p["verified-by"]).toBe(verifier);
  });

  it("a verifier cannot verify, suspend or reinstate themselves", () => {
    expectOk(register(verifier));
    expectErr(verify(verifier), "SELF_VERIFICATION");
    expectErr(call("suspend-professional", [Cl.principal(verifier), Cl.uint(1)], verifier), "SELF_VERIFICATION");
    expectErr(call("reinstate-professional", [Cl.principal(verifier), Cl.uint(1)], verifier), "SELF_VERIFICATION");
  });

  it("lose the right to submit when their verification expires, and regain it on renewal", () => {
    expect(registerModel(1).result).toBeOk(Cl.uint(1));
    expectOk(register(doctor));
    expectOk(verify(doctor, 3600)); // one hour; simnet mines empty blocks about 600 s apart
    expect(submit({ image: 1 }).result).toBeOk(Cl.uint(1));
    simnet.mineEmptyBlocks(10);
    expect(ro("is-active-professional", [Cl.principal(doctor)])).toBeBool(false);
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["inactive-reason"]).toBe(
      BigInt(ERR.VERIFICATION_EXPIRED),
    );
    expectErr(submit({ image: 2 }), "VERIFICATION_EXPIRED");
    expectOk(verify(doctor, 30 * DAY));
    expect(submit({ image: 2 }).result).toBeOk(Cl.uint(2));
  });

  // Issue 10: any verifier could lift another's suspension or cut another's grant short, and
  // nothing recorded who had suspended or reinstated a professional.
  it("only the verifier who suspended, or an admin, may reinstate; each step records who", () => {
    expectOk(call("appoint-verifier", [Cl.principal(verifier2)], deployer));
    expectOk(register(doctor));
    expectOk(verify(doctor));
    expectOk(call("suspend-professional", [Cl.principal(doctor), Cl.uint(7)], verifier));
    expectErr(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], verifier2), "NOT_SUSPENDER");
    let p = value(ro("get-professional", [Cl.principal(doctor)]));
    expect(p["suspended-by"]).toBe(verifier);
    expect(p["reinstated-by"]).toBeNull();
    expectErr(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], outsider), "NOT_VERIFIER");
    expectOk(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], verifier));
    p = value(ro("get-professional", [Cl.principal(doctor)]));
    expect(p.suspended).toBe(false);
    expect(p["suspended-by"]).toBe(verifier); // the record keeps who suspended
    expect(p["reinstated-by"]).toBe(verifier);
    // suspended again by the second verifier: the first may not lift it, an admin may
    expectOk(call("suspend-professional", [Cl.principal(doctor), Cl.uint(9)], verifier2));
    expectErr(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], verifier), "NOT_SUSPENDER");
    const res = call("reinstate-professional", [Cl.principal(doctor), Cl.uint(10)], deployer);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue).by).toBe(deployer);
    p = value(ro("get-professional", [Cl.principal(doctor)]));
    expect(p["suspended-by"]).toBe(verifier2);
    expect(p["reinstated-by"]).toBe(deployer);
    // a suspender who is dismissed as verifier loses the power to reinstate
    expectOk(call("suspend-professional", [Cl.principal(doctor), Cl.uint(9)], verifier2));
    expectOk(call("dismiss-verifier", [Cl.principal(verifier2)], deployer));
    expectErr(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], verifier2), "NOT_VERIFIER");
  });

  it("only the grantor, or an admin, may shorten a running verification; others may extend it", () => {
    expectOk(call("appoint-verifier", [Cl.principal(verifier2)], deployer));
    expectOk(register(doctor));
    expectOk(verify(doctor, 300 * DAY, verifier));
    const until = () => value(ro("get-professional", [Cl.principal(doctor)]))["verified-until"];
    const grantor = () => value(ro("get-professional", [Cl.principal(doctor)]))["verified-by"];
    const before = until();
    expectErr(verify(doctor, 30 * DAY, verifier2), "NOT_GRANTOR");
    expect(until()).toBe(before);
    // an admin who is not a verifier may shorten (the grantor stays accountable for the grant) ...
    const res = verify(doctor, 200 * DAY, deployer);
    expectOk(res);
    const ev = value(res.events[0].data.value as ClarityValue);
    expect(ev.by).toBe(deployer);
    expect(ev["verified-by"]).toBe(verifier);
    expect(grantor()).toBe(verifier);
    // ... but not grant or extend: that is a verifier's act
    expectErr(verify(doctor, 250 * DAY, deployer), "NOT_VERIFIER");
    // the grantor may shorten their own grant
    expectOk(verify(doctor, 100 * DAY, verifier));
    expect(grantor()).toBe(verifier);
    // another verifier may extend, and becomes the grantor; then the first may no longer shorten
    expectOk(verify(doctor, 365 * DAY, verifier2));
    expect(grantor()).toBe(verifier2);
    expectErr(verify(doctor, 10 * DAY, verifier), "NOT_GRANTOR");
    // once a verification has expired, any verifier may grant a new one, of any length
    expectOk(verify(doctor, 3600, verifier2));
    simnet.mineEmptyBlocks(10);
    expect(ro("is-active-professional", [Cl.principal(doctor)])).toBeBool(false);
    expectOk(verify(doctor, DAY, verifier));
    expect(grantor()).toBe(verifier);
  });

  it("are suspended and reinstated with a reason code", () => {
    expect(registerModel(1).result).toBeOk(Cl.uint(1));
    expectOk(register(doctor));
    expectOk(verify(doctor));
    expectErr(call("suspend-professional", [Cl.principal(doctor), Cl.uint(7)], outsider), "NOT_VERIFIER");
    expectErr(call("suspend-professional", [Cl.principal(outsider), Cl.uint(7)], verifier), "NOT_REGISTERED");
    expectErr(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], verifier), "NOT_SUSPENDED");
    const res = call("suspend-professional", [Cl.principal(doctor), Cl.uint(7)], verifier);
    expectOk(res);
    const ev = value(res.events[0].data.value as ClarityValue);
    expect(ev.event).toBe("professional-suspended");
    expect(ev.reason).toBe(7n);
    expectErr(call("suspend-professional", [Cl.principal(doctor), Cl.uint(7)], verifier), "SUSPENDED");
    expectErr(submit({ image: 1 }), "SUSPENDED");
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["status-reason"]).toBe(7n);
    // renewal does not lift a suspension
    expectOk(verify(doctor));
    expectErr(submit({ image: 1 }), "SUSPENDED");
    expectErr(call("reinstate-professional", [Cl.principal(outsider), Cl.uint(8)], verifier), "NOT_REGISTERED");
    expectErr(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], outsider), "NOT_VERIFIER");
    expectOk(call("reinstate-professional", [Cl.principal(doctor), Cl.uint(8)], verifier));
    expect(submit({ image: 1 }).result).toBeOk(Cl.uint(1));
  });
});

describe("submit-analysis", () => {
  beforeEach(setupWorld);

  it("stores the full record with analyst, height, time and threshold", () => {
    const res = submit({ image: 1, confidence: 9100, finding: "SCT:27550009" });
    const time = tipBlockTime(); // the block that holds the submission is now the tip
    expect(res.result).toBeOk(Cl.uint(1));
    const a = analysis(1);
    expect(a["analysis-id"]).toBe(1n);
    expect(a["image-hash"]).toBe(Buffer.from(h32(1)).toString("hex"));
    expect(a["model-id"]).toBe(1n);
    expect(a.finding).toBe("SCT:27550009");
    expect(a.confidence).toBe(9100n);
    expect(a["report-digest"]).toBe(Buffer.from(h32(501)).toString("hex"));
    expect(a.analyst).toBe(doctor);
    expect(a["block-height"]).toBe(BigInt(simnet.blockHeight));
    expect(a["block-time"]).toBe(BigInt(time));
    expect(a.threshold).toBe(6000n); // model's 6000 beats the global 5000
    expect(a.status).toBe("unreviewed");
    const ev = value(res.events[0].data.value as ClarityValue);
    expect(ev.event).toBe("analysis-submitted");
    expect(ev["analysis-id"]).toBe(1n);
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(1n);
  });

  it("refuses confidence below the model's or the global minimum, whichever is higher", () => {
    expectErr(submit({ image: 1, confidence: 5999 }), "CONFIDENCE_BELOW_THRESHOLD");
    expect(submit({ image: 1, confidence: 6000 }).result).toBeOk(Cl.uint(1));
    expectOk(call("set-min-confidence", [Cl.uint(8000)], deployer));
    expectErr(submit({ image: 1, confidence: 7999 }), "CONFIDENCE_BELOW_THRESHOLD");
    expect(submit({ image: 1, confidence: 8000 }).result).toBeOk(Cl.uint(2));
    expect(analysis(2).threshold).toBe(8000n);
  });

  it("refuses invalid fields", () => {
    expectErr(submit({ image: 0 }), "INVALID_IMAGE_HASH");
    expectErr(submit({ image: 1, finding: "" }), "INVALID_FINDING");
    expectErr(submit({ image: 1, confidence: 10001 }), "INVALID_CONFIDENCE");
    expectErr(submit({ image: 1, report: 0 }), "INVALID_REPORT_DIGEST");
    expectErr(submit({ image: 1, model: 42 }), "UNKNOWN_MODEL");
    // (buff 32) admits shorter buffers: hashes must be exactly 32 bytes
    const short = itemArgs({ image: 1 });
    expectErr(call("submit-analysis", [Cl.buffer(h32(1).slice(0, 31)), ...short.slice(1)], doctor), "INVALID_IMAGE_HASH");
    expectErr(call("submit-analysis", [...short.slice(0, 4), Cl.buffer(new Uint8Array([1]))], doctor), "INVALID_REPORT_DIGEST");
    // finding codes are identifiers, not free text
    for (const finding of ["John Smith", "nodule,left", "a/b", "x\ty"]) {
      expectErr(submit({ image: 1, finding }), "INVALID_FINDING");
    }
    expect(params()["analysis-count"]).toBe(0n);
  });

  it("refuses senders who are not active professionals", () => {
    expectErr(submit({ image: 1 }, outsider), "NOT_REGISTERED");
    expectOk(register(outsider, 900));
    expectErr(submit({ image: 1 }, outsider), "NOT_VERIFIED");
  });

  it("is append-only: several analyses of one image, none overwritten", () => {
    expect(submit({ image: 1, confidence: 9000 }, doctor).result).toBeOk(Cl.uint(1));
    expect(submit({ image: 1, confidence: 7000, finding: "no-nodule" }, doctor2).result).toBeOk(Cl.uint(2));
    expect(submit({ image: 2 }, doctor).result).toBeOk(Cl.uint(3));
    expect(submit({ image: 1, confidence: 9500 }, doctor).result).toBeOk(Cl.uint(4));
    expect(value(ro("get-image-stats", [Cl.buffer(h32(1))]))).toEqual({ total: 3n, valid: 3n, disputed: 0n });
    expect(ro("get-image-analysis-ids", [Cl.buffer(h32(1)), Cl.uint(0)])).toBeList([Cl.uint(1), Cl.uint(2), Cl.uint(4)]);
    expect(ro("get-image-analysis-ids", [Cl.buffer(h32(1)), Cl.uint(1)])).toBeList([Cl.uint(2), Cl.uint(4)]);
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(1)), Cl.uint(2)])).toBeSome(Cl.uint(4));
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(1)), Cl.uint(3)])).toBeNone();
    expect(analysis(1).confidence).toBe(9000n);
    expect(analysis(2).finding).toBe("no-nodule");
    expect(analysis(4)["image-index"]).toBe(2n);
    expect(analysis(5)).toBeNull();
  });
});

describe("submit-analyses (batch)", () => {
  beforeEach(setupWorld);

  it("anchors a batch with consecutive ids and one event that names them", () => {
    const items = batchOf(3, 1);
    const res = submitBatch(items);
    expect(res.result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(3) }));
    expect(res.events).toHaveLength(1);
    const ev = value(res.events[0].data.value as ClarityValue);
    expect(ev).toEqual({
      event: "analyses-submitted",
      "first-id": 1n,
      "last-id": 3n,
      "model-id": 1n,
      analyst: doctor,
      threshold: 6000n,
    });
    // analysis first-id + i is item i
    for (const [i, it] of items.entries()) {
      const a = analysis(1 + i);
      expect(a["image-hash"]).toBe(Buffer.from(h32(it.image)).toString("hex"));
      expect(a.finding).toBe(it.finding);
      expect(a["batch-id"]).toBe(1n);
      expect(a.analyst).toBe(doctor);
    }
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(3n);
  });

  it("accepts the maximum size and stores every item", () => {
    expect(submitBatch(batchOf(50, 1)).result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(50) }));
    expect(params()["analysis-count"]).toBe(50n);
    expect(analysis(50).analyst).toBe(doctor);
    expect(analysis(50).finding).toBe("nodule-absent");
  });

  it("keeps ids consecutive across batches of 1, 10 and 50 (the sizes in the cost table)", () => {
    let next = 1;
    for (const n of [1, 10, 50]) {
      const res = submitBatch(batchOf(n, 1000 * n), doctor2);
      expect(res.result).toBeOk(Cl.tuple({ "first-id": Cl.uint(next), "last-id": Cl.uint(next + n - 1) }));
      expect(analysis(next + n - 1)["image-hash"]).toBe(Buffer.from(h32(1000 * n + n - 1)).toString("hex"));
      next += n;
    }
    expect(value(ro("get-professional", [Cl.principal(doctor2)]))["analysis-count"]).toBe(61n);
  });

  it("accepts 50 distinct finding codes in one batch (the cost table's worst case)", () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ image: 3000 + i, finding: `SCT:${1000000 + i}` }));
    expect(submitBatch(items).result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(50) }));
    expect(analysis(50).finding).toBe("SCT:1000049");
  });

  it("indexes an image repeated within a batch and across batches", () => {
    expect(submitBatch([{ image: 1 }, { image: 2 }, { image: 1, finding: "nodule-absent" }]).result).toBeOk(
      Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(3) }),
    );
    expect(submitBatch([{ image: 1 }], doctor2).result).toBeOk(Cl.tuple({ "first-id": Cl.uint(4), "last-id": Cl.uint(4) }));
    expect(ro("get-image-analysis-ids", [Cl.buffer(h32(1)), Cl.uint(0)])).toBeList([Cl.uint(1), Cl.uint(3), Cl.uint(4)]);
    expect(analysis(3)["image-index"]).toBe(1n);
    expect(analysis(4)["image-index"]).toBe(2n);
    expect(value(ro("get-image-stats", [Cl.buffer(h32(1))]))).toEqual({ total: 3n, valid: 3n, disputed: 0n });
  });

  // Issue 10: a refused batch names its first failing item, the way sBTC's
  // complete-deposits-wrapper does, so the caller can drop it and retry the rest.
  it("reports the index and error of the first item at fault", () => {
    const cases: [Item, ErrName][] = [
      [{ image: 0 }, "INVALID_IMAGE_HASH"],
      [{ image: 90, finding: "not a code" }, "INVALID_FINDING"],
      [{ image: 90, finding: "" }, "INVALID_FINDING"],
      [{ image: 90, confidence: 10001 }, "INVALID_CONFIDENCE"],
      [{ image: 90, report: 0 }, "INVALID_REPORT_DIGEST"],
      [{ image: 90, confidence: 5999 }, "CONFIDENCE_BELOW_THRESHOLD"],
    ];
    for (const [bad, name] of cases) {
      for (const at of [0, 7, 49]) {
        const items = batchOf(50, 100);
        items[at] = bad;
        const res = submitBatch(items);
        expectBatchErr(res, name, at);
        expect(res.events).toHaveLength(0);
      }
    }
    // several faults: the first one counts, whatever its kind
    const items = batchOf(10, 100);
    items[8] = { image: 0 };
    items[3] = { image: 93, confidence: 1 };
    items[5] = { image: 95, finding: "a b" };
    expectBatchErr(submitBatch(items), "CONFIDENCE_BELOW_THRESHOLD", 3);
    // within one item, the checks run in the documented order
    expectBatchErr(submitBatch([{ image: 0, finding: "", confidence: 1, report: 0 }]), "INVALID_IMAGE_HASH", 0);
    expectBatchErr(submitBatch([{ image: 1, finding: "", confidence: 10001, report: 0 }]), "INVALID_FINDING", 0);
    expectBatchErr(submitBatch([{ image: 1, confidence: 10001, report: 0 }]), "INVALID_CONFIDENCE", 0);
    expectBatchErr(submitBatch([{ image: 1, confidence: 1, report: 0 }]), "INVALID_REPORT_DIGEST", 0);
    // short buffers are not hashes, and a code that passed earlier in the batch still binds later items
    const short = Cl.tuple({
      "image-hash": Cl.buffer(h32(1).slice(0, 31)),
      finding: Cl.stringAscii("nodule-present"),
      confidence: Cl.uint(9000),
      "report-digest": Cl.buffer(h32(2)),
    });
    const res = call("submit-analyses", [Cl.uint(1), Cl.list([itemTuple({ image: 1 }), short])], doctor);
    expectBatchErr(res, "INVALID_IMAGE_HASH", 1);
    expect(params()["analysis-count"]).toBe(0n);
  });

  it("is all or nothing: a refused batch leaves no trace", () => {
    expect(submit({ image: 9 }).result).toBeOk(Cl.uint(1));
    const res = submitBatch([{ image: 9 }, { image: 1 }, { image: 2 }, { image: 3, confidence: 100 }, { image: 4 }]);
    expectBatchErr(res, "CONFIDENCE_BELOW_THRESHOLD", 3);
    expect(res.events).toHaveLength(0);
    expect(params()["analysis-count"]).toBe(1n);
    expect(analysis(2)).toBeNull();
    expect(value(ro("get-image-stats", [Cl.buffer(h32(1))]))).toEqual({ total: 0n, valid: 0n, disputed: 0n });
    expect(value(ro("get-image-stats", [Cl.buffer(h32(9))]))).toEqual({ total: 1n, valid: 1n, disputed: 0n });
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(1n);
    // the same batch without the bad item goes through
    const rest = [{ image: 9 }, { image: 1 }, { image: 2 }, { image: 4 }];
    expect(submitBatch(rest).result).toBeOk(Cl.tuple({ "first-id": Cl.uint(2), "last-id": Cl.uint(5) }));
  });

  it("refuses whole-batch conditions with no index: empty, caller, model", () => {
    expectBatchErr(submitBatch([]), "EMPTY_BATCH", null);
    expectBatchErr(submitBatch([{ image: 1 }], outsider), "NOT_REGISTERED", null);
    expectOk(register(outsider, 900));
    expectBatchErr(submitBatch([{ image: 1 }], outsider), "NOT_VERIFIED", null);
    expectOk(call("suspend-professional", [Cl.principal(doctor2), Cl.uint(1)], verifier));
    expectBatchErr(submitBatch([{ image: 1 }], doctor2), "SUSPENDED", null);
    expectBatchErr(submitBatch([{ image: 1 }], doctor, 42), "UNKNOWN_MODEL", null);
    expectOk(call("retire-model", [Cl.uint(1)], deployer));
    expectBatchErr(submitBatch([{ image: 1 }], doctor, 1), "MODEL_RETIRED", null);
    // whole-batch conditions come before the items' own faults
    expectBatchErr(submitBatch([{ image: 0 }], doctor, 1), "MODEL_RETIRED", null);
    expect(params()["analysis-count"]).toBe(0n);
  });

  it("stops a professional whose verification expired", () => {
    expectOk(call("appoint-verifier", [Cl.principal(verifier2)], deployer));
    expectOk(register(outsider, 901));
    expectOk(verify(outsider, 3600, verifier2));
    simnet.mineEmptyBlocks(10);
    expectBatchErr(submitBatch([{ image: 1 }], outsider), "VERIFICATION_EXPIRED", null);
  });

  it("records the block, its time and the burn block of the submission", () => {
    const res = submitBatch(batchOf(2, 1));
    expect(res.result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(2) }));
    const burn = Number(cvToValue(Cl.deserialize(simnet.runSnippet("burn-block-height") as string)));
    for (const id of [1, 2]) {
      const a = analysis(id);
      expect(a["block-height"]).toBe(BigInt(simnet.blockHeight));
      expect(a["block-time"]).toBe(BigInt(tipBlockTime()));
      expect(a["burn-block-height"]).toBe(BigInt(burn));
      expect(a["burn-block-height"]).toBeGreaterThan(0n);
    }
  });
});

describe("peer review and retraction", () => {
  beforeEach(() => {
    setupWorld();
    expect(submit({ image: 1 }, doctor).result).toBeOk(Cl.uint(1));
  });

  const review = (id: number, confirmed: boolean, who: string) =>
    call("review-analysis", [Cl.uint(id), Cl.bool(confirmed), Cl.buffer(h32(700))], who);

  it("counts confirmations and disputes and derives the status", () => {
    expectOk(review(1, true, doctor2));
    expect(analysis(1).status).toBe("confirmed");
    expect(analysis(1).confirmations).toBe(1n);
    expectOk(review(1, false, doctor3));
    expect(analysis(1).status).toBe("confirmed"); // a tie stays confirmed
    expect(analysis(1).disputes).toBe(1n);
    const r = value(ro("get-review", [Cl.uint(1), Cl.principal(doctor3)]) as ClarityValue);
    expect(r.confirmed).toBe(false);
    expect(ro("get-review", [Cl.uint(1), Cl.principal(outsider)])).toBeNone();
  });

  it("a dispute without confirmation makes the analysis disputed, and a confirmation restores it", () => {
    const stats = () => value(ro("get-image-stats", [Cl.buffer(h32(1))]));
    const res = review(1, false, doctor2);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue).event).toBe("analysis-reviewed");
    expect(analysis(1).status).toBe("disputed");
    expect(stats()).toEqual({ total: 1n, valid: 0n, disputed: 1n });
    expectOk(review(1, true, doctor3));
    expect(analysis(1).status).toBe("confirmed");
    expect(stats()).toEqual({ total: 1n, valid: 1n, disputed: 0n });
  });

  it("retracting a disputed analysis moves it from disputed to retracted", () => {
    expectOk(review(1, false, doctor2));
    expectOk(call("retract-analysis", [Cl.uint(1), Cl.uint(4)], doctor));
    expect(value(ro("get-image-stats", [Cl.buffer(h32(1))]))).toEqual({ total: 1n, valid: 0n, disputed: 0n });
    const v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v["retracted-count"]).toBe(1n);
    expect(v["disputed-count"]).toBe(0n);
  });

  it("refuses self review, double review, unknown analyses and inactive reviewers", () => {
    expectErr(review(1, true, doctor), "SELF_REVIEW");
    expectOk(review(1, true, doctor2));
    expectErr(review(1, false, doctor2), "ALREADY_REVIEWED");
    expectErr(review(2, true, doctor2), "UNKNOWN_ANALYSIS");
    expectErr(call("review-analysis", [Cl.uint(1), Cl.bool(true), Cl.buffer(ZERO32)], doctor3), "INVALID_NOTE_DIGEST");
    expectErr(call("review-analysis", [Cl.uint(1), Cl.bool(true), Cl.buffer(h32(1).slice(2))], doctor3), "INVALID_NOTE_DIGEST");
    expectErr(review(1, true, outsider), "NOT_REGISTERED");
    expectOk(call("suspend-professional", [Cl.principal(doctor3), Cl.uint(2)], verifier));
    expectErr(review(1, true, doctor3), "SUSPENDED");
  });

  it("lets only the author retract, once; the record stays, marked", () => {
    expectErr(call("retract-analysis", [Cl.uint(1), Cl.uint(4)], doctor2), "NOT_AUTHOR");
    expectErr(call("retract-analysis", [Cl.uint(2), Cl.uint(4)], doctor), "UNKNOWN_ANALYSIS");
    const res = call("retract-analysis", [Cl.uint(1), Cl.uint(4)], doctor);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue).event).toBe("analysis-retracted");
    expectErr(call("retract-analysis", [Cl.uint(1), Cl.uint(4)], doctor), "ANALYSIS_RETRACTED");
    const a = analysis(1);
    expect(a.retracted).toBe(true);
    expect(a["retraction-reason"]).toBe(4n);
    expect(a.status).toBe("retracted");
    expect(a.confidence).toBe(9000n);
    expectErr(review(1, true, doctor2), "ANALYSIS_RETRACTED");
  });

  it("a suspended author may still retract", () => {
    expectOk(call("suspend-professional", [Cl.principal(doctor), Cl.uint(2)], verifier));
    expectOk(call("retract-analysis", [Cl.uint(1), Cl.uint(4)], doctor));
  });
});

describe("verify-image", () => {
  beforeEach(setupWorld);

  it("finds nothing for an unknown image", () => {
    expect(ro("verify-image", [Cl.buffer(h32(1))])).toBeTuple({
      valid: Cl.bool(false),
      total: Cl.uint(0),
      "valid-count": Cl.uint(0),
      "disputed-count": Cl.uint(0),
      "retracted-count": Cl.uint(0),
      "latest-valid": Cl.none(),
    });
  });

  // Issue 10: `valid` ignored disputes. The rule: an analysis with more disputes than
  // confirmations is disputed, not valid (docs/contract.md, "The dispute rule").
  it("does not count a disputed analysis as valid", () => {
    const review = (id: number, confirmed: boolean, who: string) =>
      call("review-analysis", [Cl.uint(id), Cl.bool(confirmed), Cl.buffer(h32(700))], who);
    expect(submit({ image: 1 }, doctor).result).toBeOk(Cl.uint(1));
    expectOk(review(1, false, doctor2));
    let v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v.valid).toBe(false);
    expect(v.total).toBe(1n);
    expect(v["valid-count"]).toBe(0n);
    expect(v["disputed-count"]).toBe(1n);
    expect(v["latest-valid"]).toBeNull();
    // a newer undisputed analysis of the same image is the valid one
    expect(submit({ image: 1 }, doctor3).result).toBeOk(Cl.uint(2));
    v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v.valid).toBe(true);
    expect(v["latest-valid"]["analysis-id"]).toBe(2n);
    // disputed newer, valid older: the older one answers
    expectOk(review(2, false, doctor));
    expectOk(review(1, true, doctor3));
    v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v["latest-valid"]["analysis-id"]).toBe(1n); // one confirmation, one dispute: a tie is not disputed
    expect(v["latest-valid"].status).toBe("confirmed");
    expect(v["disputed-count"]).toBe(1n);
  });

  it("looks for the newest valid analysis among the image's 10 newest; the counts cover all", () => {
    expect(submit({ image: 1 }, doctor).result).toBeOk(Cl.uint(1));
    for (let i = 0; i < 10; i++) expect(submit({ image: 1 }, doctor2).result).toBeOk(Cl.uint(2 + i));
    for (let id = 2; id <= 11; id++) expectOk(call("retract-analysis", [Cl.uint(id), Cl.uint(1)], doctor2));
    const v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v).toMatchObject({ valid: true, total: 11n, "valid-count": 1n, "retracted-count": 10n });
    expect(v["latest-valid"]).toBeNull();
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(1)), Cl.uint(0)])).toBeSome(Cl.uint(1));
    // the dearest call (the cost table checks it against a node's read-only limit): the valid
    // analysis is the last of the window
    expect(submit({ image: 2 }, doctor).result).toBeOk(Cl.uint(12));
    for (let i = 0; i < 9; i++) expect(submit({ image: 2 }, doctor2).result).toBeOk(Cl.uint(13 + i));
    for (let id = 13; id <= 21; id++) expectOk(call("retract-analysis", [Cl.uint(id), Cl.uint(1)], doctor2));
    expect(value(ro("verify-image", [Cl.buffer(h32(2))]))["latest-valid"]["analysis-id"]).toBe(12n);
  });

  it("answers the newest unretracted analysis and skips retracted ones", () => {
    expect(submit({ image: 1, confidence: 8000 }, doctor).result).toBeOk(Cl.uint(1));
    expect(submit({ image: 1, confidence: 9000 }, doctor2).result).toBeOk(Cl.uint(2));
    let v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v.valid).toBe(true);
    expect(v["valid-count"]).toBe(2n);
    expect(v["latest-valid"]["analysis-id"]).toBe(2n);
    expectOk(call("retract-analysis", [Cl.uint(2), Cl.uint(1)], doctor2));
    v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v.total).toBe(2n);
    expect(v["valid-count"]).toBe(1n);
    expect(v["latest-valid"]["analysis-id"]).toBe(1n);
    expectOk(call("retract-analysis", [Cl.uint(1), Cl.uint(1)], doctor));
    v = value(ro("verify-image", [Cl.buffer(h32(1))]));
    expect(v.valid).toBe(false);
    expect(v["latest-valid"]).toBeNull();
  });

  it("stays valid after the analyst is suspended (they were verified when they submitted)", () => {
    expect(submit({ image: 1 }, doctor).result).toBeOk(Cl.uint(1));
    expectOk(call("suspend-professional", [Cl.principal(doctor), Cl.uint(2)], verifier));
    expect(value(ro("verify-image", [Cl.buffer(h32(1))])).valid).toBe(true);
  });
});

describe("paging", () => {
  beforeEach(setupWorld);

  // Issue 10: a huge start index made the paging call abort with an arithmetic overflow.
  it("returns an empty page for any start at or past the end, never aborting", () => {
    for (const start of [0n, 1n, 20n, MAX_UINT]) {
      expect(ro("get-image-analysis-ids", [Cl.buffer(h32(1)), Cl.uint(start)])).toBeList([]);
    }
    expect(submitBatch(batchOf(25, 1)).result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(25) }));
    for (let i = 0; i < 24; i++) expect(submit({ image: 1 }, i % 2 ? doctor2 : doctor3).result).toBeOk(Cl.uint(26 + i));
    const ids = (start: bigint) => value(ro("get-image-analysis-ids", [Cl.buffer(h32(1)), Cl.uint(start)]));
    expect(ids(0n)).toEqual([1n, ...Array.from({ length: 19 }, (_, i) => BigInt(26 + i))]);
    expect(ids(20n)).toEqual([45n, 46n, 47n, 48n, 49n]);
    for (const start of [25n, 26n, 2n ** 64n, MAX_UINT - 19n, MAX_UINT]) expect(ids(start)).toEqual([]);
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(1)), Cl.uint(24)])).toBeSome(Cl.uint(49));
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(1)), Cl.uint(25)])).toBeNone();
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(1)), Cl.uint(MAX_UINT)])).toBeNone();
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(2)), Cl.uint(0)])).toBeSome(Cl.uint(2));
    expect(ro("get-image-analysis-id", [Cl.buffer(h32(999)), Cl.uint(0)])).toBeNone();
  });
});

// ---------------------------------------------------------------------------------------------
// Merkle-root anchoring (issue 14)
// ---------------------------------------------------------------------------------------------

const vectors = buildVectors();
const sha = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const proofCV = (path: string[] | Uint8Array[]) =>
  Cl.list(path.map((p) => Cl.buffer(typeof p === "string" ? unhex(p) : p)));

function anchorRoot(root: string | Uint8Array, count: number | bigint, minConfidence = 6000, sender = doctor, model = 1) {
  return call(
    "anchor-root",
    [Cl.buffer(typeof root === "string" ? unhex(root) : root), Cl.uint(count), Cl.uint(model), Cl.uint(minConfidence)],
    sender,
  );
}

function verifyLeaf(root: string, leaf: LeafFields, index: number, path: string[] | Uint8Array[]) {
  return ro("verify-leaf", [Cl.buffer(unhex(root)), leafCV(leaf), Cl.uint(index), proofCV(path)]);
}

describe("Merkle trees: the independent implementation and the vectors", () => {
  it("tests/merkle/vectors.json is what the implementation builds", async () => {
    await expect(JSON.stringify(vectors, null, 2) + "\n").toMatchFileSnapshot("./merkle/vectors.json");
  });

  it("reproduces the roots of RFC 6962's reference tests (Certificate Transparency's published test data)", () => {
    // transparency-dev/merkle testonly/constants.go (and certificate-transparency before it): the
    // roots of the first 1..8 of these leaves.
    expect(vectors.rfc6962.roots).toEqual([
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
      "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
      "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
      "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
      "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
      "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]);
  });

  it("follows RFC 6962 on small trees, checked by hand with SHA-256", () => {
    const h = vectors.leaves.slice(0, 7).map((l) => unhex(l.leaf_hash));
    const node = (a: Uint8Array, b: Uint8Array) => sha(new Uint8Array([1]), a, b);
    const root = (n: number) => vectors.trees.find((t) => t.size === n)!.root;
    expect(hex(sha(new Uint8Array([0]), unhex(vectors.leaves[0].leaf_bytes)))).toBe(vectors.leaves[0].leaf_hash);
    expect(root(1)).toBe(hex(h[0]));
    expect(root(2)).toBe(hex(node(h[0], h[1])));
    // an odd count splits at the largest power of two below it: the last leaf is not duplicated
    expect(root(3)).toBe(hex(node(node(h[0], h[1]), h[2])));
    expect(root(5)).toBe(hex(node(node(node(h[0], h[1]), node(h[2], h[3])), h[4])));
    expect(root(7)).toBe(hex(node(node(node(h[0], h[1]), node(h[2], h[3])), node(node(h[4], h[5]), h[6]))));
    expect(vectors.trees.find((t) => t.size === 7)!.proofs[6].path).toEqual([hex(node(h[4], h[5])), hex(node(node(h[0], h[1]), node(h[2], h[3])))]);
  });

  it("writes leaf bytes directly exactly as @stacks/transactions serializes them", () => {
    const sample = [
      ...vectors.leaves.map((_, i) => vectorLeaf(i)),
      ...ENCODING_LEAVES,
      ...[0, 1, 2, 3, 4097, 65_536, 99_999].map(generatedLeaf),
    ];
    for (const leaf of sample) expect(hex(leafBytesDirect(leaf))).toBe(hex(leafBytes(leaf)));
  });

  it("encodes a leaf as the Clarity serialization of its tuple, fields in name order", () => {
    const bytes = leafBytes(vectorLeaf(0));
    const names = ["analyst", "confidence", "finding", "image-hash", "model-id", "report-digest"];
    expect(hex(bytes.slice(0, 5))).toBe("0c00000006"); // a tuple of six fields
    let at = 5;
    for (const name of names) {
      expect(bytes[at]).toBe(name.length);
      expect(Buffer.from(bytes.slice(at + 1, at + 1 + name.length)).toString("ascii")).toBe(name);
      at += 1 + name.length;
      const type = bytes[at];
      // principal 0x05: version + 20 bytes; uint 0x01: 16 bytes; string-ascii 0x0d and buffer 0x02: u32 length
      at += type === 0x05 ? 22 : type === 0x01 ? 17 : 5 + new DataView(bytes.buffer, bytes.byteOffset + at + 1, 4).getUint32(0);
    }
    expect(at).toBe(bytes.length);
    // docs/merkle.md: 201 bytes plus the finding's length, for a standard principal
    for (const l of vectors.leaves) expect(l.leaf_bytes.length / 2).toBe(201 + l.finding.length);
    for (const l of vectors.encodings) expect(l.finding.length).toBeLessThanOrEqual(32);
  });

  it("the iterative check (RFC 9162) accepts every vector proof and refuses every bad one", () => {
    for (const t of vectors.trees) {
      for (const p of t.proofs) {
        expect(hex(rootFromPath(unhex(vectors.leaves[p.index].leaf_hash), p.index, t.size, p.path.map(unhex))!)).toBe(t.root);
      }
    }
    for (const p of vectors.generated.proofs) {
      expect(hex(rootFromPath(unhex(p.leaf.leaf_hash), p.index, vectors.generated.size, p.path.map(unhex))!)).toBe(vectors.generated.root);
    }
    for (const b of vectors.bad_proofs) {
      const r = rootFromPath(unhex(b.leaf_hash), b.index, b.size, b.path.map(unhex));
      expect(r === null || hex(r) !== b.root, b.why).toBe(true);
    }
  });
});

describe("Merkle trees: the contract agrees with the vectors", () => {
  beforeEach(setupWorld);

  it("hashes every vector leaf as the vectors do (the Clarity VM's serializer against @stacks/transactions')", () => {
    const all = [...vectors.leaves.map((_, i) => vectorLeaf(i)), ...ENCODING_LEAVES];
    const expected = [...vectors.leaves, ...vectors.encodings];
    for (const [i, leaf] of all.entries()) {
      expect(ro("leaf-hash", [leafCV(leaf)])).toBeBuff(unhex(expected[i].leaf_hash));
    }
  });

  it("verify-leaf accepts every leaf of every vector tree, and nothing else", { timeout: 120_000 }, () => {
    for (const t of vectors.trees) expect(anchorRoot(t.root, t.size).result.type).toBe(ClarityType.ResponseOk);
    for (const [n, t] of vectors.trees.entries()) {
      for (const p of t.proofs) {
        const v = value(verifyLeaf(t.root, vectorLeaf(p.index), p.index, p.path));
        expect(v["root-id"]).toBe(BigInt(n + 1));
        expect(v.valid).toBe(true);
        // the same path under another index, or another leaf under this index, fails
        if (t.size > 1) {
          const other = (p.index + 1) % t.size;
          expect(verifyLeaf(t.root, vectorLeaf(p.index), other, p.path)).toBeErr(Cl.uint(ERR.INVALID_PROOF));
          expect(verifyLeaf(t.root, vectorLeaf(other), p.index, p.path)).toBeErr(Cl.uint(ERR.INVALID_PROOF));
        }
      }
    }
    for (const b of vectors.bad_proofs) {
      const r = ro("verify-leaf", [Cl.buffer(unhex(b.root)), leafCV(vectorLeaf(4)), Cl.uint(b.index), proofCV(b.path)]);
      expect(r, b.why).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    }
  });

  // Issue 14's "done when": one root anchors 100,000 analyses.
  it("anchors the generated tree of 100,000 analyses with one root, and proves its leaves", () => {
    expect(anchorRoot(vectors.generated.root, GENERATED_SIZE).result).toBeOk(Cl.uint(1));
    for (const [n, p] of vectors.generated.proofs.entries()) {
      expect(p.index).toBe(GENERATED_INDEXES[n]);
      const v = value(verifyLeaf(vectors.generated.root, generatedLeaf(p.index), p.index, p.path));
      expect(v).toMatchObject({ "root-id": 1n, size: BigInt(GENERATED_SIZE), analyst: VECTOR_ANALYST, valid: true });
    }
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(BigInt(GENERATED_SIZE));
  });

  // docs/merkle.md: the example proof file's leaf is proven on chain with its members.
  it("proves the leaf of the example anchor.proof.json with the file's own members", () => {
    const file = JSON.parse(readFileSync("tests/chain/data/anchor.proof.json", "utf8"));
    const leaf: LeafFields = {
      imageHash: file.leaf.image_hash,
      modelId: BigInt(file.leaf.model_id),
      finding: file.leaf.finding,
      confidence: BigInt(file.leaf.confidence),
      reportDigest: file.leaf.report_digest,
      analyst: file.leaf.analyst,
    };
    expect(leaf.analyst).toBe(doctor);
    expect(anchorRoot(file.root, file.size).result).toBeOk(Cl.uint(file.anchor.root_id));
    expect(ro("get-root-id", [Cl.principal(leaf.analyst), Cl.buffer(unhex(file.root))])).toBeSome(Cl.uint(file.anchor.root_id));
    const v = value(verifyLeaf(file.root, leaf, file.index, file.path));
    expect(v).toMatchObject({ "root-id": BigInt(file.anchor.root_id), size: BigInt(file.size), analyst: leaf.analyst, valid: true });
  });

  it("proves a leaf at depth 20, in a tree of 2^20 analyses (the cost table's verify-leaf and review-leaf)", () => {
    expect(vectors.uniform.proofs[0].path).toHaveLength(20);
    expect(anchorRoot(vectors.uniform.root, UNIFORM_SIZE).result).toBeOk(Cl.uint(1));
    const [p] = vectors.uniform.proofs;
    expect(value(verifyLeaf(vectors.uniform.root, vectorLeaf(0), UNIFORM_INDEX, p.path)).valid).toBe(true);
    const review = call(
      "review-leaf",
      [Cl.buffer(unhex(vectors.uniform.root)), leafCV(vectorLeaf(0)), Cl.uint(UNIFORM_INDEX), proofCV(p.path), Cl.bool(true), Cl.buffer(h32(700))],
      doctor2,
    );
    expect(review.result).toBeOk(Cl.bool(true));
    const retract = call(
      "retract-leaf",
      [Cl.buffer(unhex(vectors.uniform.root)), leafCV(vectorLeaf(0)), Cl.uint(UNIFORM_INDEX), proofCV(p.path), Cl.uint(3)],
      doctor,
    );
    expect(retract.result).toBeOk(Cl.bool(true));
  });
});

/** A small tree of `leaves`, anchored by `sender`: its root and each leaf's path. */
function tree(leaves: LeafFields[]) {
  const hashes = leaves.map((l) => leafHash(leafBytes(l)));
  return { root: hex(treeHash(hashes)), paths: leaves.map((_, i) => auditPath(i, hashes).map(hex)) };
}
const leafOf = (i: number, over: Partial<LeafFields> = {}): LeafFields => ({ ...vectorLeaf(i), analyst: doctor, ...over });

describe("anchor-root", () => {
  beforeEach(setupWorld);

  it("anchors a root once, with its size, model, threshold, analyst and blocks; one event", () => {
    const t = tree([leafOf(0), leafOf(1), leafOf(2)]);
    const res = anchorRoot(t.root, 3, 6250);
    expect(res.result).toBeOk(Cl.uint(1));
    expect(res.events).toHaveLength(1);
    expect(value(res.events[0].data.value as ClarityValue)).toEqual({
      event: "root-anchored",
      "root-id": 1n,
      root: t.root,
      count: 3n,
      "model-id": 1n,
      "min-confidence": 6250n,
      threshold: 6000n,
      analyst: doctor,
    });
    const burn = Number(cvToValue(Cl.deserialize(simnet.runSnippet("burn-block-height") as string)));
    expect(value(ro("get-root", [Cl.uint(1)]))).toEqual({
      root: t.root,
      size: 3n,
      "model-id": 1n,
      "min-confidence": 6250n,
      threshold: 6000n,
      analyst: doctor,
      "block-height": BigInt(simnet.blockHeight),
      "block-time": BigInt(tipBlockTime()),
      "burn-block-height": BigInt(burn),
    });
    expect(ro("get-root-id", [Cl.principal(doctor), Cl.buffer(unhex(t.root))])).toBeSome(Cl.uint(1));
    expect(ro("get-root-id", [Cl.principal(doctor2), Cl.buffer(unhex(t.root))])).toBeNone();
    expect(ro("get-root", [Cl.uint(2)])).toBeNone();
    expectErr(anchorRoot(t.root, 3, 6250), "ROOT_EXISTS");
    expectErr(anchorRoot(t.root, 4, 9000), "ROOT_EXISTS");
    expect(params()["root-count"]).toBe(1n);
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(3n);
  });

  // Review of issue 14: a root was once anchored by whoever came first, so another professional
  // who saw it in the mempool could anchor it before its analyst and leave them ERR-ROOT-EXISTS.
  it("lets no one anchor an analyst's root in their place: a root is its analyst's", () => {
    const leaves = [leafOf(0), leafOf(1), leafOf(2)];
    const t = tree(leaves);
    // doctor2 copies doctor's root from the mempool and gets it mined first
    expect(anchorRoot(t.root, 3, 9000, doctor2).result).toBeOk(Cl.uint(1));
    expect(verifyLeaf(t.root, leaves[0], 0, t.paths[0])).toBeErr(Cl.uint(ERR.UNKNOWN_ROOT));
    // doctor's own transaction still anchors it, and every leaf proves against doctor's record
    expect(anchorRoot(t.root, 3).result).toBeOk(Cl.uint(2));
    expect(ro("get-root-id", [Cl.principal(doctor2), Cl.buffer(unhex(t.root))])).toBeSome(Cl.uint(1));
    expect(ro("get-root-id", [Cl.principal(doctor), Cl.buffer(unhex(t.root))])).toBeSome(Cl.uint(2));
    for (const [i, leaf] of leaves.entries()) {
      expect(value(verifyLeaf(t.root, leaf, i, t.paths[i]))).toMatchObject({ "root-id": 2n, analyst: doctor, valid: true });
    }
    // doctor2's copy proves nothing: a leaf naming doctor2 does not hash into doctor's tree
    expect(verifyLeaf(t.root, { ...leaves[0], analyst: doctor2 }, 0, t.paths[0])).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expectErr(anchorRoot(t.root, 3, 9000, doctor2), "ROOT_EXISTS");
  });

  it("refuses a root from anyone but an active professional, while paused, or with a bad model", () => {
    const root = h32(77);
    expectErr(anchorRoot(root, 1, 9000, outsider), "NOT_REGISTERED");
    expectOk(call("suspend-professional", [Cl.principal(doctor2), Cl.uint(1)], verifier));
    expectErr(anchorRoot(root, 1, 9000, doctor2), "SUSPENDED");
    expectErr(anchorRoot(root, 1, 9000, doctor, 9), "UNKNOWN_MODEL");
    expectOk(call("pause", [], deployer));
    expectErr(anchorRoot(root, 1, 9000), "PAUSED");
    expectOk(call("unpause", [], deployer));
    expectOk(call("retire-model", [Cl.uint(1)], deployer));
    expectErr(anchorRoot(root, 1, 9000), "MODEL_RETIRED");
    expect(params()["root-count"]).toBe(0n);
  });

  it("refuses a malformed root, a leaf count outside 1 .. 2^20 and a minimum below the threshold", () => {
    expectErr(anchorRoot(ZERO32, 1), "INVALID_ROOT");
    expectErr(anchorRoot(h32(1).slice(0, 31), 1), "INVALID_ROOT");
    expectErr(anchorRoot(h32(1), 0), "INVALID_LEAF_COUNT");
    expectErr(anchorRoot(h32(1), 2 ** 20 + 1), "INVALID_LEAF_COUNT");
    expectErr(anchorRoot(h32(1), MAX_UINT), "INVALID_LEAF_COUNT");
    expectErr(anchorRoot(h32(1), 1, 10_001), "INVALID_CONFIDENCE");
    expectErr(anchorRoot(h32(1), 1, 5999), "CONFIDENCE_BELOW_THRESHOLD");
    expectOk(call("set-min-confidence", [Cl.uint(7000)], deployer));
    expectErr(anchorRoot(h32(1), 1, 6999), "CONFIDENCE_BELOW_THRESHOLD");
    expect(anchorRoot(h32(1), 2 ** 20, 7000).result).toBeOk(Cl.uint(1));
    expect(value(ro("get-root", [Cl.uint(1)])).threshold).toBe(7000n);
  });
});

describe("verify-leaf", () => {
  beforeEach(setupWorld);

  it("answers who anchored the leaf, with which model, when, and whether it meets the stored threshold", () => {
    // the analyst declared 6000 as the lowest confidence, but leaf 2 has 5500: verify-leaf says so
    const leaves = [leafOf(0), leafOf(1), leafOf(2, { confidence: 5500n }), leafOf(3)];
    const t = tree(leaves);
    expect(anchorRoot(t.root, 4, 6000).result).toBeOk(Cl.uint(1));
    const v = value(verifyLeaf(t.root, leaves[0], 0, t.paths[0]));
    expect(v).toEqual({
      "root-id": 1n,
      index: 0n,
      size: 4n,
      analyst: doctor,
      "model-id": 1n,
      threshold: 6000n,
      "meets-threshold": true,
      "block-height": BigInt(simnet.blockHeight),
      "block-time": BigInt(tipBlockTime()),
      "burn-block-height": v["burn-block-height"],
      confirmations: 0n,
      disputes: 0n,
      retracted: false,
      "retraction-reason": 0n,
      status: "unreviewed",
      valid: true,
    });
    const low = value(verifyLeaf(t.root, leaves[2], 2, t.paths[2]));
    expect(low["meets-threshold"]).toBe(false);
    expect(low.valid).toBe(false);
  });

  it("recomputes the root correctly for every index of every tree size from 1 to 24", { timeout: 120_000 }, () => {
    const leaves = Array.from({ length: 24 }, (_, i) => leafOf(i, { confidence: 9000n }));
    for (let size = 1; size <= 24; size++) {
      const t = tree(leaves.slice(0, size));
      expect(anchorRoot(t.root, size).result).toBeOk(Cl.uint(size));
      for (let i = 0; i < size; i++) {
        expect(value(verifyLeaf(t.root, leaves[i], i, t.paths[i]))["root-id"]).toBe(BigInt(size));
      }
    }
  });

  it("refuses an unknown root, an index past the tree, an altered leaf and a forged or resized path", () => {
    const leaves = [0, 1, 2, 3, 4].map((i) => leafOf(i));
    const t = tree(leaves);
    expect(anchorRoot(t.root, 5).result).toBeOk(Cl.uint(1));
    const good = t.paths[1];
    expect(verifyLeaf(t.root, leaves[1], 1, good).type).toBe(ClarityType.ResponseOk);
    expect(verifyLeaf(hex(h32(5)), leaves[1], 1, good)).toBeErr(Cl.uint(ERR.UNKNOWN_ROOT));
    expect(verifyLeaf(t.root, leaves[1], 5, good)).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expect(verifyLeaf(t.root, leaves[1], Number.MAX_SAFE_INTEGER, good)).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expect(verifyLeaf(t.root, { ...leaves[1], confidence: 9999n }, 1, good)).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expect(verifyLeaf(t.root, leaves[1], 1, [...good, good[0]])).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expect(verifyLeaf(t.root, leaves[1], 1, good.slice(0, -1))).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expect(verifyLeaf(t.root, leaves[1], 1, [good[1], good[0], good[2]])).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    expect(verifyLeaf(t.root, leaves[1], 1, Array(20).fill(good[0]))).toBeErr(Cl.uint(ERR.INVALID_PROOF));
    // an internal node is no leaf: its children's hash with the leaf prefix gives another hash
    expect(verifyLeaf(t.root, leaves[1], 0, good.slice(1))).toBeErr(Cl.uint(ERR.INVALID_PROOF));
  });

  it("refuses a leaf that names another analyst (whose root it is not) or model, or has a malformed field", () => {
    const leaves = [
      leafOf(0),
      leafOf(1, { analyst: doctor2 }),
      leafOf(2, { modelId: 2n }),
      leafOf(3, { finding: "not a code" }),
      leafOf(4, { imageHash: hex(ZERO32) }),
      leafOf(5, { confidence: 10_001n }),
    ];
    const t = tree(leaves);
    expect(anchorRoot(t.root, leaves.length).result).toBeOk(Cl.uint(1));
    // a proof looks the root up under the leaf's analyst: doctor2 anchored no such root
    expect(verifyLeaf(t.root, leaves[1], 1, t.paths[1])).toBeErr(Cl.uint(ERR.UNKNOWN_ROOT));
    expect(verifyLeaf(t.root, leaves[2], 2, t.paths[2])).toBeErr(Cl.uint(ERR.LEAF_MISMATCH));
    expect(verifyLeaf(t.root, leaves[3], 3, t.paths[3])).toBeErr(Cl.uint(ERR.INVALID_FINDING));
    expect(verifyLeaf(t.root, leaves[4], 4, t.paths[4])).toBeErr(Cl.uint(ERR.INVALID_IMAGE_HASH));
    expect(verifyLeaf(t.root, leaves[5], 5, t.paths[5])).toBeErr(Cl.uint(ERR.INVALID_CONFIDENCE));
  });
});

describe("review-leaf and retract-leaf", () => {
  const leaves = () => [0, 1, 2].map((i) => leafOf(i));
  let t: { root: string; paths: string[][] };
  beforeEach(() => {
    setupWorld();
    t = tree(leaves());
    expect(anchorRoot(t.root, 3).result).toBeOk(Cl.uint(1));
  });
  const reviewLeaf = (i: number, confirmed: boolean, who: string, path = t.paths[i], note = h32(700)) =>
    call(
      "review-leaf",
      [Cl.buffer(unhex(t.root)), leafCV(leaves()[i]), Cl.uint(i), proofCV(path), Cl.bool(confirmed), Cl.buffer(note)],
      who,
    );
  const retractLeaf = (i: number, who: string, path = t.paths[i]) =>
    call("retract-leaf", [Cl.buffer(unhex(t.root)), leafCV(leaves()[i]), Cl.uint(i), proofCV(path), Cl.uint(4)], who);
  const state = (i: number) => value(verifyLeaf(t.root, leaves()[i], i, t.paths[i]));

  it("records reviews of a proven leaf and applies the dispute rule", () => {
    const res = reviewLeaf(0, false, doctor2);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue)).toEqual({
      event: "leaf-reviewed",
      "root-id": 1n,
      index: 0n,
      reviewer: doctor2,
      confirmed: false,
      "note-digest": Buffer.from(h32(700)).toString("hex"),
    });
    expect(state(0)).toMatchObject({ disputes: 1n, status: "disputed", valid: false });
    expectOk(reviewLeaf(0, true, doctor3));
    expect(state(0)).toMatchObject({ confirmations: 1n, status: "confirmed", valid: true });
    expect(value(ro("get-leaf-review", [Cl.uint(1), Cl.uint(0), Cl.principal(doctor3)])).confirmed).toBe(true);
    expect(ro("get-leaf-review", [Cl.uint(1), Cl.uint(1), Cl.principal(doctor3)])).toBeNone();
    expect(state(1).status).toBe("unreviewed");
  });

  it("refuses the same reviews a record refuses, and an unproven leaf", () => {
    expectErr(reviewLeaf(0, true, doctor), "SELF_REVIEW");
    expectErr(reviewLeaf(0, true, outsider), "NOT_REGISTERED");
    expectErr(reviewLeaf(0, true, doctor2, t.paths[0], ZERO32), "INVALID_NOTE_DIGEST");
    expectErr(reviewLeaf(0, true, doctor2, t.paths[1]), "INVALID_PROOF");
    expectOk(reviewLeaf(0, true, doctor2));
    expectErr(reviewLeaf(0, false, doctor2), "ALREADY_REVIEWED");
    expectOk(call("pause", [], deployer));
    expectErr(reviewLeaf(1, true, doctor2), "PAUSED");
    // retraction stays possible while paused, for the analyst only, once
    expectErr(retractLeaf(1, doctor2), "NOT_AUTHOR");
    expectErr(retractLeaf(1, doctor, t.paths[0]), "INVALID_PROOF");
    const res = retractLeaf(1, doctor);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue)).toMatchObject({ event: "leaf-retracted", "root-id": 1n, index: 1n, reason: 4n, by: doctor });
    expectErr(retractLeaf(1, doctor), "ANALYSIS_RETRACTED");
    expectOk(call("unpause", [], deployer));
    expectErr(reviewLeaf(1, true, doctor2), "ANALYSIS_RETRACTED");
    expect(state(1)).toMatchObject({ retracted: true, "retraction-reason": 4n, status: "retracted", valid: false });
    expect(state(2).valid).toBe(true);
  });
});
