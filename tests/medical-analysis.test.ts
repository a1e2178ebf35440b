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

const DAY = 86_400;
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

function itemTuple(it: Item): ClarityValue {
  const [imageHash, modelId, finding, confidence, reportDigest] = itemArgs(it);
  return Cl.tuple({
    "image-hash": imageHash,
    "model-id": modelId,
    finding,
    confidence,
    "report-digest": reportDigest,
  });
}

function submit(it: Item, sender = doctor) {
  return call("submit-analysis", itemArgs(it), sender);
}

function submitBatch(items: Item[], sender = doctor) {
  return call("submit-analyses", [Cl.list(items.map(itemTuple))], sender);
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

  it("pauses submissions and reviews but not retraction", () => {
    setupWorld();
    expect(submit({ image: 1 }).result).toBeOk(Cl.uint(1));
    expectOk(call("pause", [], deployer));
    expectErr(call("pause", [], deployer), "ALREADY_PAUSED");
    expect(params().paused).toBe(true);
    expectErr(submit({ image: 2 }), "PAUSED");
    expectErr(submitBatch([{ image: 2 }]), "PAUSED");
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
    expect(ro("get-image-stats", [Cl.buffer(h32(1))])).toBeTuple({ total: Cl.uint(3), valid: Cl.uint(3) });
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

  it("anchors a batch with consecutive ids and one event each", () => {
    const items = [1, 2, 3].map((image) => ({ image }));
    const res = submitBatch(items);
    expect(res.result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(3) }));
    expect(res.events).toHaveLength(3);
    for (const [i, ev] of res.events.entries()) {
      expect(value(ev.data.value as ClarityValue)["analysis-id"]).toBe(BigInt(i + 1));
    }
    expect(analysis(3)["image-hash"]).toBe(Buffer.from(h32(3)).toString("hex"));
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(3n);
  });

  it("accepts the maximum size and stores every item", () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ image: i + 1 }));
    expect(submitBatch(items).result).toBeOk(Cl.tuple({ "first-id": Cl.uint(1), "last-id": Cl.uint(50) }));
    expect(params()["analysis-count"]).toBe(50n);
    expect(analysis(50).analyst).toBe(doctor);
  });

  it("keeps ids consecutive across batches of 1, 10 and 50 (the sizes in the cost table)", () => {
    let next = 1;
    for (const n of [1, 10, 50]) {
      const items = Array.from({ length: n }, (_, i) => ({ image: 1000 * n + i }));
      const res = submitBatch(items, doctor2);
      expect(res.result).toBeOk(Cl.tuple({ "first-id": Cl.uint(next), "last-id": Cl.uint(next + n - 1) }));
      expect(analysis(next + n - 1)["image-hash"]).toBe(Buffer.from(h32(1000 * n + n - 1)).toString("hex"));
      next += n;
    }
    expect(value(ro("get-professional", [Cl.principal(doctor2)]))["analysis-count"]).toBe(61n);
  });

  it("is all or nothing: one bad item leaves no trace", () => {
    expect(submit({ image: 9 }).result).toBeOk(Cl.uint(1));
    const res = submitBatch([{ image: 1 }, { image: 2 }, { image: 3, confidence: 100 }, { image: 4 }]);
    expectErr(res, "CONFIDENCE_BELOW_THRESHOLD");
    expect(res.events).toHaveLength(0);
    expect(params()["analysis-count"]).toBe(1n);
    expect(analysis(2)).toBeNull();
    expect(ro("get-image-stats", [Cl.buffer(h32(1))])).toBeTuple({ total: Cl.uint(0), valid: Cl.uint(0) });
    expect(value(ro("get-professional", [Cl.principal(doctor)]))["analysis-count"]).toBe(1n);
  });

  it("refuses an empty batch and inactive senders", () => {
    expectErr(submitBatch([]), "EMPTY_BATCH");
    expectErr(submitBatch([{ image: 1 }], outsider), "NOT_REGISTERED");
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

  it("a dispute without confirmation makes the analysis disputed", () => {
    const res = review(1, false, doctor2);
    expectOk(res);
    expect(value(res.events[0].data.value as ClarityValue).event).toBe("analysis-reviewed");
    expect(analysis(1).status).toBe("disputed");
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
      "latest-valid": Cl.none(),
    });
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
