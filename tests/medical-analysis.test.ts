// Tests of contracts/medical-analysis.clar on clarinet-sdk's simnet (the real Clarity VM).
// Errors are asserted by name through ERR, which mirrors the contract's constants; a test below
// checks that the two tables agree, so a renumbered code cannot slip through.
import { Cl, ClarityType, type ClarityValue, cvToValue } from "@stacks/transactions";
import { readFileSync } from "node:fs";
import { beforeEach, describe, expect, it } from "vitest";

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
