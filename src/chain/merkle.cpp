#include "chain/merkle.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "common/encoding.h"

namespace medanchor::chain {
namespace {

// RFC 6962 domain separation: a leaf can never pass for a node.
constexpr std::uint8_t kLeafPrefix = 0x00;
constexpr std::uint8_t kNodePrefix = 0x01;

// The contract's CODE-CHARS: letters, digits and . _ : -
bool is_code(std::string_view s) {
    return !s.empty() && s.size() <= kMaxFindingLength &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == ':' || c == '-';
           });
}

// The contract's is-digest: all zero is no hash at all (an unset field).
bool is_digest(const Hash32& h) {
    return std::any_of(h.begin(), h.end(), [](std::uint8_t b) { return b != 0; });
}

Status check_tree_size(std::size_t n) {
    if (n == 0)
        return Error(ErrorCode::kInvalidArgument, "a Merkle tree needs at least one leaf");
    if (n > kMaxLeaves) {
        return Error(ErrorCode::kTooLarge, "a Merkle tree of " + std::to_string(n) +
                                               " leaves: a root anchors at most " +
                                               std::to_string(kMaxLeaves));
    }
    return Status::Ok();
}

stacks::Value buffer_of(const Hash32& h) {
    return stacks::Value::buffer(stacks::Bytes(h.begin(), h.end()));
}

}  // namespace

Status check_leaf(const LeafFields& leaf, std::string_view where) {
    const auto invalid = [where](std::string_view field, std::string_view problem) {
        return Error(ErrorCode::kInvalidArgument,
                     std::string(where) + std::string(field) + " " + std::string(problem));
    };
    if (!is_digest(leaf.image_hash))
        return invalid("image_hash", "is all zero");
    if (!is_code(leaf.finding)) {
        return invalid("finding", "is not a code of 1 to 32 letters, digits and . _ : - (\"" +
                                      leaf.finding.substr(0, 40) + "\")");
    }
    if (leaf.confidence > kMaxConfidence)
        return invalid("confidence", "is above 10000 basis points");
    if (!is_digest(leaf.report_digest))
        return invalid("report_digest", "is all zero");
    const auto kind = leaf.analyst.kind();
    if (kind != stacks::ValueKind::kStandardPrincipal &&
        kind != stacks::ValueKind::kContractPrincipal) {
        return invalid("analyst", "is not a principal");
    }
    return Status::Ok();
}

Result<stacks::Value> leaf_tuple(const LeafFields& leaf) {
    if (auto s = check_leaf(leaf); !s)
        return s.error();
    return stacks::Value::tuple({
        {"image-hash", buffer_of(leaf.image_hash)},
        {"model-id", stacks::Value::uint_(leaf.model_id)},
        {"finding", stacks::Value::ascii(leaf.finding)},
        {"confidence", stacks::Value::uint_(leaf.confidence)},
        {"report-digest", buffer_of(leaf.report_digest)},
        {"analyst", leaf.analyst},
    });
}

Result<stacks::Bytes> leaf_bytes(const LeafFields& leaf) {
    auto tuple = leaf_tuple(leaf);
    if (!tuple)
        return tuple.error();
    return stacks::serialize(*tuple);
}

Result<Hash32> leaf_hash(const LeafFields& leaf) {
    auto tuple = leaf_tuple(leaf);
    if (!tuple)
        return tuple.error();
    // The prefix first, then the tuple serialized after it: one buffer, one digest.
    stacks::Bytes prefixed{kLeafPrefix};
    stacks::serialize_into(prefixed, *tuple);
    return sha256(prefixed);
}

Hash32 hash_leaf_bytes(stacks::ByteView bytes) {
    stacks::Bytes prefixed;
    prefixed.reserve(bytes.size() + 1);
    prefixed.push_back(kLeafPrefix);
    prefixed.insert(prefixed.end(), bytes.begin(), bytes.end());
    return sha256(prefixed);
}

Hash32 hash_children(const Hash32& left, const Hash32& right) {
    std::array<std::uint8_t, 65> node;
    node[0] = kNodePrefix;
    std::memcpy(node.data() + 1, left.data(), 32);
    std::memcpy(node.data() + 33, right.data(), 32);
    return sha256(node);
}

// ---- the tree -------------------------------------------------------------------------------

MerkleTree::MerkleTree(std::vector<Hash32> leaf_hashes) {
    std::size_t levels = 1;
    for (std::size_t n = leaf_hashes.size(); n > 1; n = (n + 1) / 2)
        ++levels;
    levels_.reserve(levels);
    levels_.push_back(std::move(leaf_hashes));
    while (levels_.back().size() > 1) {
        const std::vector<Hash32>& below = levels_.back();
        std::vector<Hash32> above((below.size() + 1) / 2);
        for (std::size_t i = 0; i + 1 < below.size(); i += 2)
            above[i / 2] = hash_children(below[i], below[i + 1]);
        if (below.size() % 2 == 1)
            above.back() = below.back();  // no right sibling: it rises unchanged
        levels_.push_back(std::move(above));
    }
}

Result<MerkleTree> MerkleTree::from_leaf_hashes(std::vector<Hash32> leaf_hashes) {
    if (auto s = check_tree_size(leaf_hashes.size()); !s)
        return s.error();
    return MerkleTree(std::move(leaf_hashes));
}

Result<MerkleTree> MerkleTree::from_leaves(std::span<const LeafFields> leaves) {
    // The bounds first, so that no hashing is spent on a tree that cannot be anchored.
    if (auto s = check_tree_size(leaves.size()); !s)
        return s.error();
    std::vector<Hash32> hashes;
    hashes.reserve(leaves.size());
    for (std::size_t i = 0; i < leaves.size(); ++i) {
        auto h = chain::leaf_hash(leaves[i]);
        if (!h)
            return Error(h.error().code(),
                         "leaf " + std::to_string(i) + ": " + h.error().message());
        hashes.push_back(*h);
    }
    return MerkleTree(std::move(hashes));
}

Result<std::vector<Hash32>> MerkleTree::audit_path(std::size_t index) const {
    if (index >= size()) {
        return Error(ErrorCode::kInvalidArgument, "leaf " + std::to_string(index) +
                                                      " is past a tree of " +
                                                      std::to_string(size()) + " leaves");
    }
    std::vector<Hash32> path;
    path.reserve(levels_.size() - 1);
    for (std::size_t j = 0; j + 1 < levels_.size(); ++j, index /= 2) {
        const std::size_t sibling = index ^ 1;
        if (sibling < levels_[j].size())
            path.push_back(levels_[j][sibling]);
    }
    return path;
}

std::size_t MerkleTree::memory_bytes() const {
    std::size_t bytes = levels_.capacity() * sizeof(std::vector<Hash32>);
    for (const auto& level : levels_)
        bytes += level.capacity() * sizeof(Hash32);
    return bytes;
}

// ---- checking a path ------------------------------------------------------------------------

std::size_t path_length(std::uint64_t index, std::uint64_t size) {
    std::size_t length = 0;
    for (; size > 1; size = (size + 1) / 2, index /= 2) {
        if ((index ^ 1) < size)
            ++length;
    }
    return length;
}

std::optional<Hash32> root_from_path(const Hash32& leaf_hash, std::uint64_t index,
                                     std::uint64_t size, std::span<const Hash32> path) {
    if (index >= size)
        return std::nullopt;
    // fn: the node's index at this level; sn: the last index at this level.
    std::uint64_t fn = index;
    std::uint64_t sn = size - 1;
    Hash32 r = leaf_hash;
    for (const Hash32& p : path) {
        if (sn == 0)
            return std::nullopt;  // a sibling past the root
        if (fn % 2 == 1 || fn == sn) {
            r = hash_children(p, r);
            // The last node of a level without a right sibling rises until it is a right child.
            while (fn % 2 == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            r = hash_children(r, p);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return std::nullopt;  // a sibling short
    return r;
}

bool verify_path(const Hash32& leaf_hash, std::uint64_t index, std::uint64_t size,
                 std::span<const Hash32> path, const Hash32& root) {
    const auto computed = root_from_path(leaf_hash, index, size, path);
    return computed.has_value() && *computed == root;
}

}  // namespace medanchor::chain
