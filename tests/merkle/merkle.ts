// An implementation of medanchor's Merkle trees (docs/merkle.md) written apart from the contract,
// to cross-check it: leaf bytes by @stacks/transactions' Clarity serializer (not the contract's
// `to-consensus-buff?`), tree hashes and audit paths by RFC 6962's recursive definitions
// (section 2.1, split at the largest power of two below n), not the iterative check the contract
// runs (RFC 9162 section 2.1.3.2), which `rootFromPath` implements separately for the tests.
import { Cl, type ClarityValue } from "@stacks/transactions";
import { c32addressDecode } from "c32check";
import { createHash } from "node:crypto";

export type Bytes = Uint8Array;

/** The fields of one Merkle-anchored analysis. Hashes as 64 hex digits. */
export interface LeafFields {
  imageHash: string;
  modelId: bigint;
  finding: string;
  confidence: bigint;
  reportDigest: string;
  analyst: string; // a standard (ST…) or contract (ST….name) principal
}

const sha256 = (...parts: Bytes[]): Bytes => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
export const hex = (b: Bytes): string => Buffer.from(b).toString("hex");
export const unhex = (s: string): Bytes => new Uint8Array(Buffer.from(s, "hex"));

/** The leaf as the Clarity tuple the contract's functions take. */
export function leafCV(f: LeafFields): ClarityValue {
  return Cl.tuple({
    "image-hash": Cl.buffer(unhex(f.imageHash)),
    "model-id": Cl.uint(f.modelId),
    finding: Cl.stringAscii(f.finding),
    confidence: Cl.uint(f.confidence),
    "report-digest": Cl.buffer(unhex(f.reportDigest)),
    analyst: Cl.principal(f.analyst),
  });
}

/** Leaf bytes: the SIP-005 serialization of the tuple (fields in name order), by @stacks/transactions. */
export const leafBytes = (f: LeafFields): Bytes => unhex(Cl.serialize(leafCV(f)));

const principals = new Map<string, number[]>();
/** A principal's serialization: 0x05, version, hash160; or 0x06, version, hash160, name length, name. */
function principalBytes(principal: string): number[] {
  let bytes = principals.get(principal);
  if (!bytes) {
    const [address, contract] = principal.split(".");
    const [version, hash160] = c32addressDecode(address);
    bytes = [contract === undefined ? 0x05 : 0x06, version, ...unhex(hash160)];
    if (contract !== undefined) bytes.push(contract.length, ...Buffer.from(contract, "ascii"));
    principals.set(principal, bytes);
  }
  return bytes;
}

/** The same bytes written out field by field as docs/merkle.md lists them: a hundred times faster
 *  than `leafBytes`, for trees of 100,000 leaves; the tests hold it to `leafBytes`. */
export function leafBytesDirect(f: LeafFields): Bytes {
  const out: number[] = [0x0c, 0, 0, 0, 6];
  const u32 = (n: number) => out.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  const name = (s: string) => out.push(s.length, ...Buffer.from(s, "ascii"));
  const uint = (v: bigint) => {
    out.push(0x01);
    for (let i = 15; i >= 0; i--) out.push(Number((v >> BigInt(8 * i)) & 255n));
  };
  const buff = (h: string) => {
    out.push(0x02);
    u32(h.length / 2);
    out.push(...unhex(h));
  };
  name("analyst");
  out.push(...principalBytes(f.analyst));
  name("confidence");
  uint(f.confidence);
  name("finding");
  out.push(0x0d);
  u32(f.finding.length);
  out.push(...Buffer.from(f.finding, "ascii"));
  name("image-hash");
  buff(f.imageHash);
  name("model-id");
  uint(f.modelId);
  name("report-digest");
  buff(f.reportDigest);
  return new Uint8Array(out);
}
export const leafHash = (bytes: Bytes): Bytes => sha256(new Uint8Array([0x00]), bytes);
export const nodeHash = (left: Bytes, right: Bytes): Bytes => sha256(new Uint8Array([0x01]), left, right);

/** The largest power of two below n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// Subtree hashes by leaf array and range: an audit path's siblings are subtrees the root's
// computation already hashed, so paths in large trees cost nothing more.
const subtrees = new WeakMap<Bytes[], Map<string, Bytes>>();

/** MTH(D[lo:hi]) over leaf hashes, hi > lo (RFC 6962 section 2.1). */
export function treeHash(hashes: Bytes[], lo = 0, hi = hashes.length): Bytes {
  if (hi - lo === 1) return hashes[lo];
  let memo = subtrees.get(hashes);
  if (!memo) subtrees.set(hashes, (memo = new Map()));
  const key = `${lo}:${hi}`;
  let h = memo.get(key);
  if (!h) {
    const k = split(hi - lo);
    h = nodeHash(treeHash(hashes, lo, lo + k), treeHash(hashes, lo + k, hi));
    memo.set(key, h);
  }
  return h;
}

/** PATH(m, D[lo:hi]): the audit path of leaf m, leaf level first (RFC 6962 section 2.1.1). */
export function auditPath(m: number, hashes: Bytes[], lo = 0, hi = hashes.length): Bytes[] {
  if (hi - lo === 1) return [];
  const k = split(hi - lo);
  return m < k
    ? [...auditPath(m, hashes, lo, lo + k), treeHash(hashes, lo + k, hi)]
    : [...auditPath(m - k, hashes, lo + k, hi), treeHash(hashes, lo, lo + k)];
}

/** The root that `path` gives leaf `index` of a tree of `size`, or null when the path cannot be one
 *  (RFC 9162 section 2.1.3.2, the check the contract runs, for comparison). */
export function rootFromPath(leaf: Bytes, index: number, size: number, path: Bytes[]): Bytes | null {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 ? r : null;
}
