// Builds tests/merkle/vectors.json (format: docs/merkle.md) with the independent implementation in
// merkle.ts. tests/medical-analysis.test.ts checks that the file is what this builds (update it
// with `npx vitest run -u`) and that the contract agrees with every vector.
import { createHash } from "node:crypto";
import { type Bytes, type LeafFields, auditPath, hex, leafBytes, leafBytesDirect, leafHash, nodeHash, treeHash } from "./merkle";

/** wallet_3 of settings/Devnet.toml: the tests anchor the vector trees as this professional. */
export const VECTOR_ANALYST = "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC";
export const VECTOR_MODEL = 1n;
export const TREE_SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16];
export const GENERATED_SIZE = 100_000;
export const GENERATED_INDEXES = [0, 1, 65_535, 65_536, 99_998, 99_999];
export const UNIFORM_SIZE = 2 ** 20;
export const UNIFORM_INDEX = 777_777;

const digest = (text: string) => createHash("sha256").update(text).digest("hex");
const FINDINGS = ["nodule-present", "nodule-absent", "SCT:27550009", "ground-glass_opacity.v2"];

/** Leaf i of the vector trees. */
export function vectorLeaf(i: number): LeafFields {
  return {
    imageHash: digest(`medanchor merkle vector image ${i}`),
    modelId: VECTOR_MODEL,
    finding: FINDINGS[i % FINDINGS.length],
    confidence: BigInt(6000 + 250 * i),
    reportDigest: digest(`medanchor merkle vector report ${i}`),
    analyst: VECTOR_ANALYST,
  };
}

/** Leaf i of the generated tree of GENERATED_SIZE leaves (the rule is in docs/merkle.md). */
export function generatedLeaf(i: number): LeafFields {
  return {
    imageHash: digest(`medanchor merkle generated image ${i}`),
    modelId: VECTOR_MODEL,
    finding: i % 2 === 0 ? "nodule-present" : "nodule-absent",
    confidence: BigInt(6000 + (i % 4000)),
    reportDigest: digest(`medanchor merkle generated report ${i}`),
    analyst: VECTOR_ANALYST,
  };
}

/** The raw leaf data of RFC 6962's reference tests (Certificate Transparency): the tree layer alone,
 *  leaf hash = SHA-256(0x00 || data), for the first 1..8 of them. */
export const RFC6962_LEAF_DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/** Leaves that exercise the encoding's corners; not in any tree. */
export const ENCODING_LEAVES: LeafFields[] = [
  { ...vectorLeaf(0), analyst: "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medanchor-multisig" },
  { ...vectorLeaf(1), finding: "x" },
  { ...vectorLeaf(2), finding: "SCT:123456789012345.finding-abcd" }, // 32 characters, the most
  { ...vectorLeaf(3), confidence: 0n },
  { ...vectorLeaf(4), confidence: 10_000n },
  { ...vectorLeaf(5), modelId: 2n ** 64n + 1n },
];

const fieldsJson = (f: LeafFields) => ({
  image_hash: f.imageHash,
  model_id: f.modelId.toString(),
  finding: f.finding,
  confidence: f.confidence.toString(),
  report_digest: f.reportDigest,
  analyst: f.analyst,
});
const leafJson = (f: LeafFields) => {
  const bytes = leafBytes(f);
  return { ...fieldsJson(f), leaf_bytes: hex(bytes), leaf_hash: hex(leafHash(bytes)) };
};
const proofJson = (index: number, hashes: Bytes[]) => ({ index, path: auditPath(index, hashes).map(hex) });

/** The root and path of leaf `index` in a tree of `size` copies of one leaf hash. */
export function uniformTree(leaf: Bytes, size: number, index: number): { root: Bytes; path: Bytes[] } {
  // MTH of 2^j copies, by doubling; a size that is a power of two splits into equal halves.
  const full = [leaf];
  for (let j = 1; 2 ** j <= size; j++) full.push(nodeHash(full[j - 1], full[j - 1]));
  const depth = Math.log2(size);
  if (!Number.isInteger(depth)) throw new Error("uniformTree: size must be a power of two");
  const path = Array.from({ length: depth }, (_, j) => full[j]);
  return { root: full[depth], path };
}

export function buildVectors() {
  const leaves = Array.from({ length: Math.max(...TREE_SIZES) }, (_, i) => vectorLeaf(i));
  const hashes = leaves.map((f) => leafHash(leafBytes(f)));
  const trees = TREE_SIZES.map((size) => {
    const part = hashes.slice(0, size);
    return {
      size,
      root: hex(treeHash(part)),
      proofs: Array.from({ length: size }, (_, i) => proofJson(i, part)),
    };
  });

  const generatedHashes = Array.from({ length: GENERATED_SIZE }, (_, i) => leafHash(leafBytesDirect(generatedLeaf(i))));
  const generated = {
    size: GENERATED_SIZE,
    root: hex(treeHash(generatedHashes)),
    proofs: GENERATED_INDEXES.map((i) => ({ leaf: leafJson(generatedLeaf(i)), ...proofJson(i, generatedHashes) })),
  };

  const uniform = uniformTree(hashes[0], UNIFORM_SIZE, UNIFORM_INDEX);

  // Proofs that must fail, each a small change to a valid one.
  const seven = trees.find((t) => t.size === 7)!;
  const good = seven.proofs[4];
  const bad = (why: string, index: number, path: string[]) => ({ why, size: 7, index, leaf_hash: hex(hashes[4]), path, root: seven.root });
  const badProofs = [
    bad("siblings swapped", 4, [good.path[1], good.path[0], good.path[2]]),
    bad("last sibling dropped", 4, good.path.slice(0, -1)),
    bad("a sibling appended", 4, [...good.path, good.path[0]]),
    bad("another leaf's index", 5, good.path),
    bad("a sibling altered", 4, [good.path[0], good.path[1].replace(/^./, (c) => (c === "0" ? "1" : "0")), good.path[2]]),
    bad("index past the tree", 7, good.path),
  ];

  const rfcHashes = RFC6962_LEAF_DATA.map((d) => leafHash(Buffer.from(d, "hex")));

  return {
    format: "medanchor-merkle-vectors/1",
    spec: "docs/merkle.md",
    rfc6962: {
      leaf_data: RFC6962_LEAF_DATA,
      roots: rfcHashes.map((_, n) => hex(treeHash(rfcHashes.slice(0, n + 1)))),
    },
    leaves: leaves.map(leafJson),
    encodings: ENCODING_LEAVES.map(leafJson),
    trees,
    generated,
    uniform: {
      size: UNIFORM_SIZE,
      leaf: "leaves[0]",
      root: hex(uniform.root),
      proofs: [{ index: UNIFORM_INDEX, path: uniform.path.map(hex) }],
    },
    bad_proofs: badProofs,
  };
}
