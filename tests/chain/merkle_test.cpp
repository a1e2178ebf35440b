// chain/merkle against tests/merkle/vectors.json, which the independent TypeScript implementation
// (tests/merkle/merkle.ts: @stacks/transactions' serializer, RFC 6962's recursive definitions)
// builds and the contract tests hold the contract to. Read at test time; nothing here is a copy of
// an expected value. Besides: the generated and uniform trees rebuilt from their documented rules,
// every index of every size up to 70 against RFC 6962's recursive definitions written out below,
// and the bounds and refusals of the API.
#include "chain/merkle.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace medanchor::chain {
namespace {

using nlohmann::json;
using stacks::UInt128;
using stacks::Value;

const json& vectors() {
    static const json v = [] {
        std::ifstream in(MEDANCHOR_MERKLE_VECTORS);
        return json::parse(in);
    }();
    return v;
}

Hash32 hash_of(const std::string& hex) {
    const auto bytes = from_hex(hex);
    EXPECT_TRUE(bytes.has_value() && bytes->size() == 32) << hex;
    Hash32 h{};
    if (bytes && bytes->size() == 32)
        std::copy(bytes->begin(), bytes->end(), h.begin());
    return h;
}

std::vector<Hash32> hashes_of(const json& list) {
    std::vector<Hash32> out;
    for (const auto& item : list)
        out.push_back(hash_of(item.get<std::string>()));
    return out;
}

std::string hex_of(std::span<const std::uint8_t> bytes) {
    return to_hex(bytes);
}

UInt128 uint_of(const json& decimal) {
    auto v = stacks::parse_uint128(decimal.get<std::string>());
    EXPECT_TRUE(v.ok()) << decimal;
    return v.ok() ? *v : 0;
}

LeafFields fields_of(const json& j) {
    LeafFields f;
    f.image_hash = hash_of(j.at("image_hash").get<std::string>());
    f.model_id = uint_of(j.at("model_id"));
    f.finding = j.at("finding").get<std::string>();
    f.confidence = uint_of(j.at("confidence"));
    f.report_digest = hash_of(j.at("report_digest").get<std::string>());
    auto analyst = Value::parse_principal(j.at("analyst").get<std::string>());
    EXPECT_TRUE(analyst.ok()) << j.at("analyst");
    if (analyst.ok())
        f.analyst = *analyst;
    return f;
}

void expect_leaf_matches(const json& j) {
    const LeafFields f = fields_of(j);
    auto bytes = leaf_bytes(f);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message();
    EXPECT_EQ(hex_of(*bytes), j.at("leaf_bytes").get<std::string>());
    auto h = leaf_hash(f);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(hex_of(*h), j.at("leaf_hash").get<std::string>());
    EXPECT_EQ(hash_leaf_bytes(*bytes), *h);
}

// Leaf i of the generated tree, by the rule docs/merkle.md states (not taken from the vectors).
LeafFields generated_leaf(std::size_t i) {
    static const Value analyst =
        *Value::parse_principal("ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC");
    LeafFields f;
    f.image_hash = sha256("medanchor merkle generated image " + std::to_string(i));
    f.report_digest = sha256("medanchor merkle generated report " + std::to_string(i));
    f.finding = i % 2 == 0 ? "nodule-present" : "nodule-absent";
    f.confidence = 6000 + i % 4000;
    f.model_id = 1;
    f.analyst = analyst;
    return f;
}

// ---- RFC 6962's recursive definitions (section 2.1), the oracle for the level-by-level tree --

std::size_t split(std::size_t n) {
    std::size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

Hash32 mth(std::span<const Hash32> d) {
    if (d.size() == 1)
        return d[0];
    const std::size_t k = split(d.size());
    return hash_children(mth(d.first(k)), mth(d.subspan(k)));
}

std::vector<Hash32> rfc_path(std::size_t m, std::span<const Hash32> d) {
    if (d.size() == 1)
        return {};
    const std::size_t k = split(d.size());
    std::vector<Hash32> p;
    if (m < k) {
        p = rfc_path(m, d.first(k));
        p.push_back(mth(d.subspan(k)));
    } else {
        p = rfc_path(m - k, d.subspan(k));
        p.push_back(mth(d.first(k)));
    }
    return p;
}

// ---- the vectors ----------------------------------------------------------------------------

TEST(MerkleVectors, FileIsTheOneDocsDescribe) {
    EXPECT_EQ(vectors().at("format"), "medanchor-merkle-vectors/1");
}

TEST(MerkleVectors, EveryLeafHasItsBytesAndHash) {
    ASSERT_EQ(vectors().at("leaves").size(), 16u);
    for (const auto& leaf : vectors().at("leaves"))
        expect_leaf_matches(leaf);
}

TEST(MerkleVectors, EncodingCornersHaveTheirBytesAndHash) {
    // A contract principal, 1- and 32-character findings, confidence 0 and 10000, a model id
    // above 2^64.
    ASSERT_EQ(vectors().at("encodings").size(), 6u);
    for (const auto& leaf : vectors().at("encodings"))
        expect_leaf_matches(leaf);
}

TEST(MerkleVectors, Rfc6962ReferenceRoots) {
    const auto& rfc = vectors().at("rfc6962");
    std::vector<Hash32> leaves;
    for (const auto& data : rfc.at("leaf_data")) {
        const auto bytes = from_hex(data.get<std::string>());
        ASSERT_TRUE(bytes.has_value());
        leaves.push_back(hash_leaf_bytes(*bytes));
    }
    const auto& roots = rfc.at("roots");
    ASSERT_EQ(roots.size(), leaves.size());
    for (std::size_t n = 1; n <= leaves.size(); ++n) {
        auto tree = MerkleTree::from_leaf_hashes({leaves.begin(), leaves.begin() + n});
        ASSERT_TRUE(tree.ok());
        EXPECT_EQ(hex_of(tree->root()), roots[n - 1].get<std::string>()) << n << " leaves";
    }
}

TEST(MerkleVectors, EveryProofOfEveryTree) {
    std::vector<LeafFields> leaves;
    for (const auto& leaf : vectors().at("leaves"))
        leaves.push_back(fields_of(leaf));
    const auto& trees = vectors().at("trees");
    ASSERT_EQ(trees.size(), 11u);  // 1..9, 13, 16: odd counts and a tree of one among them
    for (const auto& t : trees) {
        const std::size_t size = t.at("size");
        SCOPED_TRACE("tree of " + std::to_string(size));
        auto tree = MerkleTree::from_leaves(std::span(leaves).first(size));
        ASSERT_TRUE(tree.ok()) << tree.error().message();
        ASSERT_EQ(tree->size(), size);
        const Hash32 root = hash_of(t.at("root"));
        EXPECT_EQ(tree->root(), root);
        ASSERT_EQ(t.at("proofs").size(), size);
        for (const auto& proof : t.at("proofs")) {
            const std::size_t index = proof.at("index");
            const auto expected = hashes_of(proof.at("path"));
            auto path = tree->audit_path(index);
            ASSERT_TRUE(path.ok());
            EXPECT_EQ(*path, expected) << "leaf " << index;
            EXPECT_EQ(path_length(index, size), expected.size()) << "leaf " << index;
            EXPECT_TRUE(verify_path(tree->leaf_hash(index), index, size, expected, root))
                << "leaf " << index;
        }
    }
}

TEST(MerkleVectors, GeneratedTreeOf100000LeavesFromItsRule) {
    const auto& g = vectors().at("generated");
    const std::size_t size = g.at("size");
    ASSERT_EQ(size, 100000u);
    std::vector<LeafFields> leaves;
    leaves.reserve(size);
    for (std::size_t i = 0; i < size; ++i)
        leaves.push_back(generated_leaf(i));
    auto tree = MerkleTree::from_leaves(leaves);
    ASSERT_TRUE(tree.ok());
    const Hash32 root = hash_of(g.at("root"));
    EXPECT_EQ(tree->root(), root);
    ASSERT_EQ(g.at("proofs").size(), 6u);
    for (const auto& proof : g.at("proofs")) {
        const std::size_t index = proof.at("index");
        SCOPED_TRACE("leaf " + std::to_string(index));
        EXPECT_EQ(fields_of(proof.at("leaf")), leaves[index]);
        expect_leaf_matches(proof.at("leaf"));
        const auto expected = hashes_of(proof.at("path"));
        auto path = tree->audit_path(index);
        ASSERT_TRUE(path.ok());
        EXPECT_EQ(*path, expected);
        EXPECT_TRUE(verify_path(tree->leaf_hash(index), index, size, expected, root));
    }
}

TEST(MerkleVectors, UniformTreeOf2To20Leaves) {
    const auto& u = vectors().at("uniform");
    ASSERT_EQ(u.at("size"), kMaxLeaves);
    ASSERT_EQ(u.at("leaf"), "leaves[0]");
    const Hash32 leaf = hash_of(vectors().at("leaves")[0].at("leaf_hash"));
    auto tree = MerkleTree::from_leaf_hashes(std::vector<Hash32>(kMaxLeaves, leaf));
    ASSERT_TRUE(tree.ok());
    const Hash32 root = hash_of(u.at("root"));
    EXPECT_EQ(tree->root(), root);
    for (const auto& proof : u.at("proofs")) {
        const std::size_t index = proof.at("index");
        const auto expected = hashes_of(proof.at("path"));
        ASSERT_EQ(expected.size(), kMaxPathLength);
        auto path = tree->audit_path(index);
        ASSERT_TRUE(path.ok());
        EXPECT_EQ(*path, expected);
        EXPECT_TRUE(verify_path(leaf, index, kMaxLeaves, expected, root));
    }
}

TEST(MerkleVectors, EveryBadProofIsRefused) {
    const auto& bad = vectors().at("bad_proofs");
    ASSERT_GE(bad.size(), 6u);
    for (const auto& b : bad) {
        SCOPED_TRACE(b.at("why").get<std::string>());
        const auto path = hashes_of(b.at("path"));
        const Hash32 leaf = hash_of(b.at("leaf_hash"));
        const Hash32 root = hash_of(b.at("root"));
        const std::uint64_t index = b.at("index");
        const std::uint64_t size = b.at("size");
        EXPECT_FALSE(verify_path(leaf, index, size, path, root));
    }
}

// ---- every index of every size against the recursive definitions ----------------------------

TEST(MerkleTree, MatchesRfc6962RecursiveDefinitionsForEverySizeUpTo70) {
    std::vector<Hash32> leaves;
    for (std::size_t i = 0; i < 70; ++i)
        leaves.push_back(hash_leaf_bytes(sha256("leaf " + std::to_string(i))));
    for (std::size_t n = 1; n <= leaves.size(); ++n) {
        const std::span<const Hash32> d(leaves.data(), n);
        auto tree = MerkleTree::from_leaf_hashes({d.begin(), d.end()});
        ASSERT_TRUE(tree.ok());
        const Hash32 root = mth(d);
        ASSERT_EQ(tree->root(), root) << n;
        for (std::size_t m = 0; m < n; ++m) {
            SCOPED_TRACE("leaf " + std::to_string(m) + " of " + std::to_string(n));
            const auto expected = rfc_path(m, d);
            auto path = tree->audit_path(m);
            ASSERT_TRUE(path.ok());
            ASSERT_EQ(*path, expected);
            ASSERT_EQ(path_length(m, n), expected.size());
            ASSERT_EQ(root_from_path(d[m], m, n, *path), root);
            // Another index, one sibling more or less, any sibling altered: never the root.
            for (std::size_t other = 0; other < n; ++other) {
                if (other != m) {
                    EXPECT_FALSE(verify_path(d[m], other, n, *path, root)) << "index " << other;
                }
            }
            auto longer = *path;
            longer.push_back(root);
            EXPECT_FALSE(verify_path(d[m], m, n, longer, root));
            if (!path->empty()) {
                auto shorter = *path;
                shorter.pop_back();
                EXPECT_FALSE(verify_path(d[m], m, n, shorter, root));
                for (std::size_t s = 0; s < path->size(); ++s) {
                    auto altered = *path;
                    altered[s][31] ^= 1;
                    EXPECT_FALSE(verify_path(d[m], m, n, altered, root)) << "sibling " << s;
                }
            }
        }
    }
}

// docs/merkle.md: the leaf hashes and about as much again, at most (2n + 20) * 32 bytes.
TEST(MerkleTree, HoldsTheLeafHashesAndAboutAsMuchAgain) {
    for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{1000},
                          std::size_t{1000000}, kMaxLeaves}) {
        auto tree = MerkleTree::from_leaf_hashes(std::vector<Hash32>(n));
        ASSERT_TRUE(tree.ok());
        const std::size_t levels = path_length(0, n) + 1;  // leaf 0 has a sibling at every level
        EXPECT_LE(tree->memory_bytes(),
                  (2 * n + 20) * sizeof(Hash32) + levels * sizeof(std::vector<Hash32>))
            << n;
        EXPECT_GE(tree->memory_bytes(), (2 * n - 1) * sizeof(Hash32)) << n;
    }
    auto full = MerkleTree::from_leaf_hashes(std::vector<Hash32>(kMaxLeaves));
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(full->memory_bytes(), ((std::size_t{2} << 20) - 1) * sizeof(Hash32) +
                                        21 * sizeof(std::vector<Hash32>));  // 64 MiB
}

TEST(MerkleTree, TreeOfOneIsItsLeafWithAnEmptyPath) {
    const Hash32 leaf = hash_leaf_bytes(std::vector<std::uint8_t>{1, 2, 3});
    auto tree = MerkleTree::from_leaf_hashes({leaf});
    ASSERT_TRUE(tree.ok());
    EXPECT_EQ(tree->root(), leaf);
    auto path = tree->audit_path(0);
    ASSERT_TRUE(path.ok());
    EXPECT_TRUE(path->empty());
    EXPECT_TRUE(verify_path(leaf, 0, 1, {}, leaf));
    EXPECT_FALSE(verify_path(leaf, 0, 1, std::vector<Hash32>{leaf}, leaf));
}

TEST(MerkleTree, OddCountIsNotPaddedByDuplicatingTheLast) {
    // Bitcoin's rule would give [d0 d1 d2] and [d0 d1 d2 d2] one root.
    std::vector<Hash32> d;
    for (int i = 0; i < 3; ++i)
        d.push_back(hash_leaf_bytes(std::vector<std::uint8_t>{static_cast<std::uint8_t>(i)}));
    auto three = MerkleTree::from_leaf_hashes(d);
    auto four = MerkleTree::from_leaf_hashes({d[0], d[1], d[2], d[2]});
    ASSERT_TRUE(three.ok() && four.ok());
    EXPECT_EQ(three->root(), hash_children(hash_children(d[0], d[1]), d[2]));
    EXPECT_NE(three->root(), four->root());
}

// ---- bounds and refusals --------------------------------------------------------------------

TEST(MerkleTree, RefusesNoLeavesAndMoreThanARootAnchors) {
    auto none = MerkleTree::from_leaf_hashes({});
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), ErrorCode::kInvalidArgument);
    auto none_fields = MerkleTree::from_leaves({});
    ASSERT_FALSE(none_fields.ok());
    EXPECT_EQ(none_fields.error().code(), ErrorCode::kInvalidArgument);

    auto over = MerkleTree::from_leaf_hashes(std::vector<Hash32>(kMaxLeaves + 1));
    ASSERT_FALSE(over.ok());
    EXPECT_EQ(over.error().code(), ErrorCode::kTooLarge);
    EXPECT_NE(over.error().message().find("1048577"), std::string::npos);
}

TEST(MerkleTree, AuditPathOfAnIndexPastTheTreeIsAnError) {
    auto tree = MerkleTree::from_leaf_hashes(std::vector<Hash32>(5, Hash32{1}));
    ASSERT_TRUE(tree.ok());
    auto path = tree->audit_path(5);
    ASSERT_FALSE(path.ok());
    EXPECT_EQ(path.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(root_from_path(Hash32{1}, 5, 5, {}).has_value());
}

TEST(MerkleTree, FromLeavesNamesTheBadLeaf) {
    std::vector<LeafFields> leaves = {generated_leaf(0), generated_leaf(1), generated_leaf(2)};
    leaves[2].finding = "nodule present";
    auto tree = MerkleTree::from_leaves(leaves);
    ASSERT_FALSE(tree.ok());
    EXPECT_EQ(tree.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(tree.error().message().rfind("leaf 2: leaf field finding ", 0), 0u)
        << tree.error().message();
}

// Each rule of the contract's check of a leaf (check-item, and the tuple's types).
TEST(LeafFields, RefusesWhatTheContractWouldRefuse) {
    struct Case {
        const char* field;
        void (*spoil)(LeafFields&);
    };
    const Case cases[] = {
        {"image_hash", [](LeafFields& f) { f.image_hash = Hash32{}; }},
        {"finding", [](LeafFields& f) { f.finding = ""; }},
        {"finding", [](LeafFields& f) { f.finding = std::string(33, 'a'); }},
        {"finding", [](LeafFields& f) { f.finding = "nodule present"; }},
        {"finding", [](LeafFields& f) { f.finding = "nodule\xc3\xa9"; }},
        {"confidence", [](LeafFields& f) { f.confidence = 10001; }},
        {"report_digest", [](LeafFields& f) { f.report_digest = Hash32{}; }},
        {"analyst", [](LeafFields& f) { f.analyst = Value::uint_(1); }},
        {"analyst", [](LeafFields& f) { f.analyst = Value(); }},
    };
    for (const auto& c : cases) {
        LeafFields f = generated_leaf(7);
        ASSERT_TRUE(check_leaf(f).ok());
        c.spoil(f);
        const Status s = check_leaf(f);
        ASSERT_FALSE(s.ok()) << c.field;
        EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_EQ(s.error().message().rfind(std::string("leaf field ") + c.field + " ", 0), 0u)
            << s.error().message();
        EXPECT_FALSE(leaf_bytes(f).ok());
        EXPECT_FALSE(leaf_hash(f).ok());
        EXPECT_FALSE(leaf_tuple(f).ok());
    }
}

TEST(LeafFields, TupleIsWhatTheContractFunctionsTake) {
    const LeafFields f = generated_leaf(3);
    auto tuple = leaf_tuple(f);
    ASSERT_TRUE(tuple.ok());
    ASSERT_EQ(tuple->kind(), stacks::ValueKind::kTuple);
    ASSERT_EQ(tuple->fields().size(), 6u);
    EXPECT_EQ(tuple->field("finding")->text(), "nodule-absent");
    EXPECT_EQ(tuple->field("confidence")->as_uint(), UInt128{6003});
    EXPECT_EQ(tuple->field("analyst")->address().to_string(),
              "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC");
    // The decoder reads the bytes back to the same tuple.
    auto bytes = leaf_bytes(f);
    ASSERT_TRUE(bytes.ok());
    auto back = stacks::deserialize(*bytes);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, *tuple);
}

}  // namespace
}  // namespace medanchor::chain
