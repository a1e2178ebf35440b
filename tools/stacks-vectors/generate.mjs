#!/usr/bin/env node
// Generates tests/stacks/vectors.json: Clarity values and signed transactions encoded by
// @stacks/transactions (the reference implementation clients use). The C++ stacks layer must
// produce these bytes exactly and decode them back (tests/stacks/vectors_test.cpp).
//
// Usage: node tools/stacks-vectors/generate.mjs > tests/stacks/vectors.json
// Deterministic: RFC 6979 signatures, fixed keys, no clock or randomness.
import { createHash } from "node:crypto";
import {
  Cl,
  makeContractCall,
  makeContractDeploy,
  serializeCV,
  getAddressFromPrivateKey,
  privateKeyToPublic,
} from "@stacks/transactions";
import { c32encode, c32address } from "c32check";

// Clarinet's public devnet keys (settings/Devnet.toml): no value anywhere.
const DEPLOYER_KEY = "753b7cc01a1a2e86221266a154af739463fce51219d97e4f856cd7200c3bd2a601";
const WALLET1_KEY = "7287ba251d44a4d3fd9276c88ce34c5c52a038955511cccaf77e61068649c17801";
// A key made for these vectors only.
const VECTOR_KEY = createHash("sha256").update("medanchor test vector key").digest("hex") + "01";

if (getAddressFromPrivateKey(DEPLOYER_KEY, "testnet") !== "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM") {
  throw new Error("deployer key does not match settings/Devnet.toml");
}

// Each value: the JSON description the C++ test builds it from, and the library's encoding.
const h32 = (s) => createHash("sha256").update(s).digest("hex");
const desc = {
  int: (v) => ({ type: "int", value: String(v) }),
  uint: (v) => ({ type: "uint", value: String(v) }),
  buffer: (hex) => ({ type: "buffer", hex }),
  bool: (v) => ({ type: "bool", value: v }),
  principal: (p) => ({ type: "principal", value: p }),
  ok: (v) => ({ type: "ok", value: v }),
  err: (v) => ({ type: "err", value: v }),
  none: () => ({ type: "none" }),
  some: (v) => ({ type: "some", value: v }),
  list: (items) => ({ type: "list", items }),
  tuple: (fields) => ({ type: "tuple", fields }),
  ascii: (v) => ({ type: "ascii", value: v }),
  utf8: (v) => ({ type: "utf8", value: v }),
};
function toCV(d) {
  switch (d.type) {
    case "int": return Cl.int(BigInt(d.value));
    case "uint": return Cl.uint(BigInt(d.value));
    case "buffer": return Cl.bufferFromHex(d.hex);
    case "bool": return Cl.bool(d.value);
    case "principal": return Cl.principal(d.value);
    case "ok": return Cl.ok(toCV(d.value));
    case "err": return Cl.error(toCV(d.value));
    case "none": return Cl.none();
    case "some": return Cl.some(toCV(d.value));
    case "list": return Cl.list(d.items.map(toCV));
    case "tuple": return Cl.tuple(Object.fromEntries(Object.entries(d.fields).map(([k, v]) => [k, toCV(v)])));
    case "ascii": return Cl.stringAscii(d.value);
    case "utf8": return Cl.stringUtf8(d.value);
  }
  throw new Error(`unknown type ${d.type}`);
}

const analysisItem = (n) =>
  desc.tuple({
    "image-hash": desc.buffer(h32(`image ${n}`)),
    "model-id": desc.uint(1),
    finding: desc.ascii("nodule-present"),
    confidence: desc.uint(9000 - n),
    "report-digest": desc.buffer(h32(`report ${n}`)),
  });

const values = [
  ["int zero", desc.int(0)],
  ["int minus one", desc.int(-1)],
  ["int min", desc.int(-(2n ** 127n))],
  ["int max", desc.int(2n ** 127n - 1n)],
  ["uint zero", desc.uint(0)],
  ["uint basis points", desc.uint(10000)],
  ["uint max", desc.uint(2n ** 128n - 1n)],
  ["buffer empty", desc.buffer("")],
  ["buffer 32", desc.buffer(h32("x"))],
  ["true", desc.bool(true)],
  ["false", desc.bool(false)],
  ["standard principal testnet", desc.principal("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM")],
  ["standard principal mainnet", desc.principal("SP2J6ZY48GV1EZ5V2V5RB9MP66SW86PYKKNRV9EJ7")],
  ["contract principal", desc.principal("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medical-analysis")],
  ["ok uint", desc.ok(desc.uint(7))],
  ["err uint", desc.err(desc.uint(1063))],
  ["none", desc.none()],
  ["some bool", desc.some(desc.bool(true))],
  ["list empty", desc.list([])],
  ["list of uints", desc.list([1, 2, 3].map(desc.uint))],
  ["tuple (keys sorted on the wire)", desc.tuple({ z: desc.uint(1), a: desc.int(-2), m: desc.none() })],
  ["string-ascii", desc.ascii("SCT:27550009")],
  ["string-ascii empty", desc.ascii("")],
  ["string-utf8", desc.utf8("Röntgen – 放射線 🩻")],
  ["nested response", desc.ok(desc.tuple({ "first-id": desc.uint(1), "last-id": desc.uint(50) }))],
  ["batch of analyses", desc.list([1, 2].map(analysisItem))],
].map(([name, d]) => ({ name, value: d, hex: serializeCV(toCV(d)) }));

const CONTRACT_SOURCE = `(define-data-var n uint u0)\n(define-public (bump) (ok (var-set n (+ (var-get n) u1))))\n`;
const txCases = [
  { name: "submit-analysis, testnet, nonce 0", network: "testnet", key: DEPLOYER_KEY, nonce: 0, fee: 200, call: ["submit-analysis", [desc.buffer(h32("img")), desc.uint(1), desc.ascii("nodule-present"), desc.uint(9100), desc.buffer(h32("rep"))]] },
  { name: "submit-analysis, mainnet", network: "mainnet", key: DEPLOYER_KEY, nonce: 5, fee: 3000, call: ["submit-analysis", [desc.buffer(h32("img")), desc.uint(1), desc.ascii("nodule-present"), desc.uint(9100), desc.buffer(h32("rep"))]] },
  { name: "submit-analyses batch, large nonce and fee", network: "testnet", key: WALLET1_KEY, nonce: 123456789, fee: 987654321, call: ["submit-analyses", [desc.list([1, 2, 3].map(analysisItem))]] },
  { name: "appoint-verifier, post-condition mode allow", network: "testnet", key: DEPLOYER_KEY, nonce: 1, fee: 180, mode: "allow", call: ["appoint-verifier", [desc.principal("ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5")]] },
  { name: "pause, no arguments", network: "testnet", key: VECTOR_KEY, nonce: 2, fee: 1, call: ["pause", []] },
  { name: "every argument type", network: "mainnet", key: VECTOR_KEY, nonce: 42, fee: 10000, call: ["f", values.map((v) => v.value)] },
  { name: "deploy medical-analysis, Clarity 4, testnet", network: "testnet", key: DEPLOYER_KEY, nonce: 0, fee: 50000, deploy: ["medical-analysis", CONTRACT_SOURCE, 4] },
  { name: "deploy, Clarity 3, mainnet", network: "mainnet", key: VECTOR_KEY, nonce: 9, fee: 70000, deploy: ["counter", CONTRACT_SOURCE, 3] },
];

const contractAddress = (network) => getAddressFromPrivateKey(DEPLOYER_KEY, network);
const transactions = [];
for (const c of txCases) {
  const common = { senderKey: c.key, network: c.network, nonce: BigInt(c.nonce), fee: BigInt(c.fee), postConditionMode: c.mode ?? "deny" };
  const tx = c.call
    ? await makeContractCall({
        ...common,
        contractAddress: contractAddress(c.network),
        contractName: "medical-analysis",
        functionName: c.call[0],
        functionArgs: c.call[1].map(toCV),
        validateWithAbi: false,
      })
    : await makeContractDeploy({ ...common, contractName: c.deploy[0], codeBody: c.deploy[1], clarityVersion: c.deploy[2] });
  transactions.push({
    name: c.name,
    network: c.network,
    private_key: c.key,
    public_key: privateKeyToPublic(c.key),
    address: getAddressFromPrivateKey(c.key, c.network),
    nonce: String(c.nonce),
    fee: String(c.fee),
    post_condition_mode: c.mode ?? "deny",
    ...(c.call
      ? { contract_call: { contract: `${contractAddress(c.network)}.medical-analysis`, function: c.call[0], args: c.call[1] } }
      : { contract_deploy: { name: c.deploy[0], source: c.deploy[1], clarity_version: c.deploy[2] } }),
    hex: tx.serialize(),
    txid: tx.txid(),
  });
}

// c32: leading zero bytes, single digits, carries across byte boundaries, a real hash160.
const c32 = ["", "00", "0000", "01", "22", "0001", "000001", "10", "0100", "1000", "010000", "ff", "ffff",
  "a46ff88886c2ef9762d970b4d2c63678835bd39d", "0000000000000000000000000000000000000000",
  "000000000000000000000000000000000000000001"].map((hex) => ({ hex, c32: c32encode(hex) }));
const addresses = [
  [22, "a46ff88886c2ef9762d970b4d2c63678835bd39d"],
  [26, "a46ff88886c2ef9762d970b4d2c63678835bd39d"],
  [20, "0000000000000000000000000000000000000000"],
  [21, "0000000000000000000000000000000000000001"],
  [26, "6d78de7b0625dfbfc16c3a8a5735f6dc3dc3f2ce"],
].map(([version, hash160]) => ({ version, hash160, address: c32address(version, hash160) }));

process.stdout.write(
  JSON.stringify(
    { generator: "tools/stacks-vectors/generate.mjs", library: "@stacks/transactions 7.4.0, c32check", c32, addresses, values, transactions },
    null,
    1,
  ) + "\n",
);
