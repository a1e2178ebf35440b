// Merkle trees of analyses (docs/merkle.md): the leaf encoding, RFC 6962 trees and audit paths,
// and RFC 9162's inclusion check, byte for byte what the contract's `anchor-root`, `verify-leaf`,
// `review-leaf` and `retract-leaf` expect. tests/chain/merkle_test.cpp holds this file to
// tests/merkle/vectors.json, which an independent TypeScript implementation builds.
//
// Thread safety: free functions are pure; a MerkleTree is immutable once built, so any number of
// threads may read one (audit_path included) at the same time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "stacks/bytes.h"
#include "stacks/clarity_value.h"
#include "stacks/hash.h"

namespace medanchor::chain {

using stacks::Hash32;

// The contract's bounds: a root anchors 1 .. 2^20 leaves (MAX-ROOT-LEAVES), so an audit path has
// at most 20 siblings (the `(list 20 (buff 32))` of `verify-leaf`).
inline constexpr std::size_t kMaxLeaves = std::size_t{1} << 20;
inline constexpr std::size_t kMaxPathLength = 20;
// A finding is a `(string-ascii 32)`; a confidence is in basis points.
inline constexpr std::size_t kMaxFindingLength = 32;
inline constexpr std::uint32_t kMaxConfidence = 10000;

// One Merkle-anchored analysis: the tuple `{image-hash, model-id, finding, confidence,
// report-digest, analyst}` of docs/merkle.md, with a record's meaning of each field.
struct LeafFields {
    Hash32 image_hash{};             // keyed hash of the pixels, never zero
    stacks::UInt128 model_id = 0;    // the contract's model id
    std::string finding;             // a code: 1..32 of [A-Za-z0-9._:-]
    stacks::UInt128 confidence = 0;  // basis points, 0..10000
    Hash32 report_digest{};          // SHA-256 of the canonical report, never zero
    stacks::Value analyst;           // the standard or contract principal who anchors the root

    bool operator==(const LeafFields&) const = default;
};

// The checks `verify-leaf` makes of a leaf's fields besides the proof: the tuple's types (a
// principal, a finding of at most 32 characters) and a submitted item's format rules (non-zero
// hashes, a finding code, a confidence of at most 10000). kInvalidArgument naming the field. A
// leaf that fails can be hashed by no one: the contract would refuse its every proof. Messages
// read `where` + field name + problem, e.g. "leaf field finding is not a code ...".
Status check_leaf(const LeafFields& leaf, std::string_view where = "leaf field ");

// The leaf as the Clarity tuple the contract's leaf functions take. Errors: check_leaf's.
Result<stacks::Value> leaf_tuple(const LeafFields& leaf);
// The leaf bytes: the tuple's consensus serialization (SIP-005), by stacks::serialize, so they
// are what `to-consensus-buff?` gives on chain. Errors: check_leaf's.
Result<stacks::Bytes> leaf_bytes(const LeafFields& leaf);
// SHA-256(0x00 || leaf bytes). Errors: check_leaf's.
Result<Hash32> leaf_hash(const LeafFields& leaf);

// SHA-256(0x00 || bytes): the leaf hash of any leaf data (RFC 6962's reference tests hash raw
// data this way).
Hash32 hash_leaf_bytes(stacks::ByteView bytes);
// SHA-256(0x01 || left || right).
Hash32 hash_children(const Hash32& left, const Hash32& right);

// An RFC 6962 Merkle tree of 1 .. kMaxLeaves leaf hashes, every level kept so that any leaf's
// audit path is a lookup: memory is the leaf hashes and about as much again for the nodes above
// them, at most (2n + 20) * 32 bytes (64 MiB for 2^20 leaves: 2^21 - 1 hashes); the leaves
// themselves are not kept.
class MerkleTree {
  public:
    // kInvalidArgument for no leaf hashes, kTooLarge for more than kMaxLeaves.
    static Result<MerkleTree> from_leaf_hashes(std::vector<Hash32> leaf_hashes);
    // Checks and hashes each leaf; an error names the leaf's index and field.
    static Result<MerkleTree> from_leaves(std::span<const LeafFields> leaves);

    std::size_t size() const { return levels_.front().size(); }
    // MTH(D[n]), what `anchor-root` anchors.
    const Hash32& root() const { return levels_.back().front(); }
    // REQUIRES: index < size().
    const Hash32& leaf_hash(std::size_t index) const { return levels_.front()[index]; }
    // RFC 6962 PATH(index, D[n]): the sibling subtree hashes from the leaf level up, the `proof`
    // of `verify-leaf`. kInvalidArgument when index >= size().
    Result<std::vector<Hash32>> audit_path(std::size_t index) const;
    // The heap memory the tree holds: its levels' hashes (by capacity) and the table of levels.
    std::size_t memory_bytes() const;

  private:
    explicit MerkleTree(std::vector<Hash32> leaf_hashes);

    // levels_[0]: the leaf hashes; levels_[j + 1][i]: the hash of levels_[j][2i] and
    // levels_[j][2i + 1], or levels_[j][2i] itself when it has no right sibling (a node that
    // rises unchanged: RFC 6962's split at the largest power of two below n gives the same
    // tree). levels_.back() holds the root alone.
    std::vector<std::vector<Hash32>> levels_;
};

// The number of siblings in the audit path of leaf `index` in a tree of `size` leaves: the
// levels at which its subtree has a sibling. REQUIRES: index < size.
std::size_t path_length(std::uint64_t index, std::uint64_t size);

// RFC 9162 section 2.1.3.2, the check the contract runs: the root that `path` gives the leaf
// with hash `leaf_hash` at `index` of a tree of `size` leaves, or nullopt when `path` cannot be
// such a path (index >= size, a sibling too many or too few). Right for every index of every
// size; any sibling altered, swapped or dropped gives another root.
std::optional<Hash32> root_from_path(const Hash32& leaf_hash, std::uint64_t index,
                                     std::uint64_t size, std::span<const Hash32> path);
// root_from_path(...) == root.
bool verify_path(const Hash32& leaf_hash, std::uint64_t index, std::uint64_t size,
                 std::span<const Hash32> path, const Hash32& root);

}  // namespace medanchor::chain
