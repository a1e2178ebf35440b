// anchor.proof.json: the proof that travels with a Merkle-anchored analysis's report, as an .ots
// file travels with a timestamped document (format: docs/merkle.md, "Proof file"). It holds the
// leaf's fields, its index, the tree's size, the audit path and the root, and where the root was
// anchored; with it, anyone can check the analysis offline against the root (verify_proof) and
// on chain with one `verify-leaf` call.
//
// The parser reads files from anyone: it refuses unknown fields, duplicate keys, hashes that are
// not 64 lowercase hex digits, numbers out of their bounds and files over kMaxProofFileBytes,
// and every error names the source (the file) and the field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "chain/merkle.h"
#include "common/error.h"

namespace medanchor::chain {

inline constexpr std::string_view kProofFormat = "medanchor-merkle-proof/1";
// The name of the file beside a report.
inline constexpr std::string_view kProofFileName = "anchor.proof.json";
// A proof with 20 siblings and the longest fields is under 3 KiB as this build writes it.
inline constexpr std::size_t kMaxProofFileBytes = 16 * 1024;
// Heights, times and ids are JSON numbers: at most 2^53 - 1, so any JSON reader (JavaScript
// included) reads the same number back (I-JSON, RFC 7493).
inline constexpr std::uint64_t kMaxJsonInteger = (std::uint64_t{1} << 53) - 1;

// Where and when the root was anchored: the `anchor-root` transaction, and what the contract
// stored with the root (which `verify-leaf` answers, so a reader can compare).
struct RootAnchor {
    std::string network;                  // "devnet", "testnet" or "mainnet"
    stacks::Value contract;               // the contract principal, ADDRESS.medical-analysis
    std::uint64_t root_id = 0;            // the contract's id of the root, >= 1
    Hash32 txid{};                        // the anchor-root transaction
    std::uint64_t block_height = 0;       // Stacks block that mined it (stacks-block-height)
    std::uint64_t block_time = 0;         // that block's stacks-block-time, Unix seconds
    std::uint64_t burn_block_height = 0;  // the Bitcoin block that Stacks block builds on

    bool operator==(const RootAnchor&) const = default;
};

// One analysis's proof: leaf `index` of the tree of `size` leaves whose root is `root`.
struct LeafProof {
    LeafFields leaf;
    std::uint64_t index = 0;
    std::uint64_t size = 0;
    std::vector<Hash32> path;  // RFC 6962 audit path, leaf level first (MerkleTree::audit_path)
    Hash32 root{};
    RootAnchor anchor;

    bool operator==(const LeafProof&) const = default;
};

// True when `proof.path` gives `proof.root` for its leaf, index and size (verify_path): what
// `verify-leaf` checks on chain besides the root being anchored. False for a proof whose fields
// were altered. REQUIRES nothing: a leaf that check_leaf refuses proves nothing (false).
bool verify_proof(const LeafProof& proof);

// The file's text: JSON, members in the documented order, two-space indent, a final newline.
// kInvalidArgument, naming the field, for a proof this build would refuse to read back, or one
// that does not verify (verify_proof): a proof file is written only for a proven leaf.
Result<std::string> format_proof(const LeafProof& proof);
// Parses a proof file's text. `source` names it in every error (usually its path). Errors:
// kTooLarge (over kMaxProofFileBytes), kUnsupported (another "format"), kCorrupt naming the
// field. It checks each field's form and bounds, not the proof: that is verify_proof's verdict.
Result<LeafProof> parse_proof(std::string_view text, std::string_view source);

// read_regular_file's rules (a regular file, at most kMaxProofFileBytes; kNotFound, kIo, ...)
// then parse_proof, with the path as the source.
Result<LeafProof> read_proof_file(const std::filesystem::path& path);
// format_proof, then write_file_atomically: readers see the whole file or none. Replaces an
// existing file; whether a proof may be rewritten is the caller's policy.
Status write_proof_file(const std::filesystem::path& path, const LeafProof& proof);

}  // namespace medanchor::chain
