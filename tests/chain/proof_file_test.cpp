// chain/proof_file: anchor.proof.json as docs/merkle.md specifies it. The example file
// (tests/chain/data/anchor.proof.json, quoted in the docs) is what format_proof writes for leaf 4
// of the 7-leaf vector tree, whose path and root come from tests/merkle/vectors.json; the contract
// tests prove the same file's leaf on chain. Then every way a file can be spoilt, one at a time,
// each refused with the file and the field named.
#include "chain/proof_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/encoding.h"

namespace medanchor::chain {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

const fs::path kExample = fs::path(MEDANCHOR_MERKLE_VECTORS).parent_path().parent_path() / "chain" /
                          "data" / "anchor.proof.json";

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

Hash32 hash_of(const std::string& hex) {
    Hash32 h{};
    const auto bytes = from_hex(hex);
    if (bytes && bytes->size() == 32)
        std::copy(bytes->begin(), bytes->end(), h.begin());
    return h;
}

// Leaf 4 of the 7-leaf vector tree with its vector path, and an anchor as phase B would fill it.
LeafProof vector_proof() {
    std::ifstream in(MEDANCHOR_MERKLE_VECTORS);
    const auto v = nlohmann::json::parse(in);
    const auto& leaf = v.at("leaves")[4];
    LeafProof p;
    p.leaf.image_hash = hash_of(leaf.at("image_hash"));
    p.leaf.model_id = *stacks::parse_uint128(leaf.at("model_id").get<std::string>());
    p.leaf.finding = leaf.at("finding");
    p.leaf.confidence = *stacks::parse_uint128(leaf.at("confidence").get<std::string>());
    p.leaf.report_digest = hash_of(leaf.at("report_digest"));
    p.leaf.analyst = *stacks::Value::parse_principal(leaf.at("analyst").get<std::string>());
    for (const auto& tree : v.at("trees")) {
        if (tree.at("size") != 7)
            continue;
        p.size = 7;
        p.index = 4;
        p.root = hash_of(tree.at("root"));
        for (const auto& h : tree.at("proofs")[4].at("path"))
            p.path.push_back(hash_of(h));
    }
    p.anchor.network = "devnet";
    p.anchor.contract = *stacks::Value::parse_principal(
        "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medical-analysis");
    p.anchor.root_id = 1;
    p.anchor.txid = sha256("medanchor example anchor-root transaction");
    p.anchor.block_height = 42;
    p.anchor.block_time = 1764500000;
    p.anchor.burn_block_height = 117;
    return p;
}

// The example file's JSON with one change, as text.
std::string spoilt(const std::function<void(ordered_json&)>& change) {
    auto j = ordered_json::parse(slurp(kExample));
    change(j);
    return j.dump(2);
}

void expect_refused(const std::string& text, ErrorCode code, const std::string& names) {
    auto p = parse_proof(text, "some/anchor.proof.json");
    ASSERT_FALSE(p.ok()) << "accepted; expected to name " << names;
    EXPECT_EQ(p.error().code(), code) << p.error().message();
    EXPECT_EQ(p.error().message().rfind("some/anchor.proof.json: ", 0), 0u) << p.error().message();
    EXPECT_NE(p.error().message().find(names), std::string::npos) << p.error().message();
}

class ProofFileDir : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("medanchor-proof-file-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST(ProofFile, ExampleIsWhatFormatProofWrites) {
    const LeafProof p = vector_proof();
    ASSERT_TRUE(verify_proof(p));
    auto text = format_proof(p);
    ASSERT_TRUE(text.ok()) << text.error().message();
    EXPECT_EQ(*text, slurp(kExample));
}

TEST(ProofFile, DocsQuoteTheExample) {
    const std::string docs = slurp(
        kExample.parent_path().parent_path().parent_path().parent_path() / "docs" / "merkle.md");
    const auto section = docs.find("## Proof file: `anchor.proof.json`");
    ASSERT_NE(section, std::string::npos);
    const auto start = docs.find("```json\n", section);
    ASSERT_NE(start, std::string::npos);
    const auto end = docs.find("```", start + 8);
    ASSERT_NE(end, std::string::npos);
    EXPECT_EQ(docs.substr(start + 8, end - start - 8), slurp(kExample));
}

TEST(ProofFile, ExampleReadsBackToTheSameProof) {
    auto p = parse_proof(slurp(kExample), kExample.string());
    ASSERT_TRUE(p.ok()) << p.error().message();
    EXPECT_EQ(*p, vector_proof());
    EXPECT_TRUE(verify_proof(*p));
    EXPECT_LT(slurp(kExample).size(), kMaxProofFileBytes);
}

TEST(ProofFile, LongestProofIsFarBelowTheBound) {
    LeafProof p = vector_proof();
    // 20 siblings of a leaf of a tree of 2^20 copies, the longest finding, the largest numbers.
    p.leaf.finding = std::string(kMaxFindingLength, 'x');
    p.leaf.model_id = ~stacks::UInt128{0};
    p.leaf.analyst = *stacks::Value::parse_principal("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM." +
                                                     std::string(stacks::kMaxNameLength, 'a'));
    auto leaf = leaf_hash(p.leaf);
    ASSERT_TRUE(leaf.ok());
    auto tree = MerkleTree::from_leaf_hashes(std::vector<Hash32>(kMaxLeaves, *leaf));
    ASSERT_TRUE(tree.ok());
    p.size = kMaxLeaves;
    p.index = kMaxLeaves - 1;
    p.path = *tree->audit_path(p.index);
    p.root = tree->root();
    p.anchor.root_id = p.anchor.block_height = p.anchor.block_time = p.anchor.burn_block_height =
        kMaxJsonInteger;
    auto text = format_proof(p);
    ASSERT_TRUE(text.ok()) << text.error().message();
    EXPECT_LT(text->size(), 3u * 1024);
    auto back = parse_proof(*text, "longest");
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, p);
}

TEST(ProofFile, AlteredLeafNoLongerVerifies) {
    auto p = parse_proof(spoilt([](ordered_json& j) { j["leaf"]["confidence"] = "9999"; }), "x");
    ASSERT_TRUE(p.ok()) << p.error().message();  // well-formed: the verdict is verify_proof's
    EXPECT_FALSE(verify_proof(*p));
    auto moved = parse_proof(spoilt([](ordered_json& j) { j["index"] = 5; }), "x");
    ASSERT_TRUE(moved.ok());
    EXPECT_FALSE(verify_proof(*moved));
}

TEST(ProofFile, FormatRefusesAProofThatDoesNotVerify) {
    LeafProof p = vector_proof();
    p.path[1][0] ^= 1;
    auto text = format_proof(p);
    ASSERT_FALSE(text.ok());
    EXPECT_EQ(text.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(text.error().message().find("path"), std::string::npos);

    LeafProof q = vector_proof();
    q.anchor.contract = q.leaf.analyst;  // a standard principal
    EXPECT_FALSE(format_proof(q).ok());
    LeafProof r = vector_proof();
    r.anchor.network = "mainnet";  // the addresses are testnet ones
    EXPECT_FALSE(format_proof(r).ok());
    LeafProof s = vector_proof();
    s.anchor.root_id = 0;
    EXPECT_FALSE(format_proof(s).ok());
}

TEST(ProofFile, RefusesEachSpoiltField) {
    using J = ordered_json;
    struct Case {
        const char* names;
        std::function<void(J&)> change;
        ErrorCode code = ErrorCode::kCorrupt;
    };
    const std::string hash(64, 'a');
    const std::vector<Case> cases = {
        {"field extra is not a known field", [](J& j) { j["extra"] = 1; }},
        {"field leaf.note is not a known field", [](J& j) { j["leaf"]["note"] = "x"; }},
        {"field anchor.block_hash is not a known field",
         [&](J& j) { j["anchor"]["block_hash"] = hash; }},
        {"field root is missing", [](J& j) { j.erase("root"); }},
        {"field leaf.analyst is missing", [](J& j) { j["leaf"].erase("analyst"); }},
        {"field anchor.txid is missing", [](J& j) { j["anchor"].erase("txid"); }},
        {"field anchor is missing", [](J& j) { j.erase("anchor"); }},
        {"field leaf is not an object", [](J& j) { j["leaf"] = J::array(); }},
        {"field root is not 64 lowercase hex digits",
         [](J& j) { j["root"] = std::string(64, 'A'); }},
        {"field root is not 64 lowercase hex digits",
         [](J& j) { j["root"] = std::string(63, 'a'); }},
        {"field leaf.image_hash is longer than 64",
         [](J& j) { j["leaf"]["image_hash"] = std::string(66, 'a'); }},
        {"field leaf.report_digest is not 64 lowercase hex digits",
         [](J& j) { j["leaf"]["report_digest"] = "0x" + std::string(62, 'a'); }},
        {"field anchor.txid is not 64 lowercase hex digits",
         [](J& j) { j["anchor"]["txid"] = std::string(64, 'g'); }},
        {"field path[1] is not 64 lowercase hex digits", [](J& j) { j["path"][1] = "00"; }},
        {"field path[0] is not a string", [](J& j) { j["path"][0] = 7; }},
        {"field path has more than 20 items",
         [&](J& j) { j["path"] = J(std::vector<std::string>(21, hash)); }},
        {"field path is not an array", [&](J& j) { j["path"] = hash; }},
        {"field index is above 1048575", [](J& j) { j["index"] = 1048576; }},
        {"field index is not a non-negative integer", [](J& j) { j["index"] = -1; }},
        {"field index is not a non-negative integer", [](J& j) { j["index"] = 4.0; }},
        {"field index is not a non-negative integer", [](J& j) { j["index"] = "4"; }},
        {"field size is above 1048576", [](J& j) { j["size"] = 1048577; }},
        {"field size is 0", [](J& j) { j["size"] = 0; }},
        {"field leaf.model_id is not a decimal", [](J& j) { j["leaf"]["model_id"] = "01"; }},
        {"field leaf.model_id is not a decimal", [](J& j) { j["leaf"]["model_id"] = "+1"; }},
        {"field leaf.model_id is not a decimal",
         [](J& j) { j["leaf"]["model_id"] = std::string(39, '9'); }},
        {"field leaf.model_id is not a string", [](J& j) { j["leaf"]["model_id"] = 1; }},
        {"field leaf.confidence is above 10000", [](J& j) { j["leaf"]["confidence"] = "10001"; }},
        {"field leaf.finding is longer than 32",
         [](J& j) { j["leaf"]["finding"] = std::string(33, 'a'); }},
        {"field leaf.finding is empty", [](J& j) { j["leaf"]["finding"] = ""; }},
        {"field leaf.finding is not a code", [](J& j) { j["leaf"]["finding"] = "no dule"; }},
        {"field leaf.image_hash is all zero",
         [](J& j) { j["leaf"]["image_hash"] = std::string(64, '0'); }},
        {"field leaf.analyst is not a Stacks principal",
         [](J& j) { j["leaf"]["analyst"] = "ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNX"; }},
        {"field leaf.analyst is not written as the principal's canonical text",
         [](J& j) { j["leaf"]["analyst"] = "st2jhg361zxg51qtky2nqcvbpprre2kzb1hr05nnc"; }},
        {"field leaf.analyst is not an address of mainnet",
         [](J& j) {
             j["anchor"]["network"] = "mainnet";
             j["anchor"]["contract"] = "SP000000000000000000002Q6VF78.medical-analysis";
         }},
        {"field anchor.contract is not an address of mainnet",
         [](J& j) { j["anchor"]["network"] = "mainnet"; }},
        {"field anchor.contract is not a contract principal",
         [](J& j) { j["anchor"]["contract"] = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"; }},
        {"field anchor.network is not \"devnet\"",
         [](J& j) { j["anchor"]["network"] = "regtest"; }},
        {"field anchor.root_id is 0", [](J& j) { j["anchor"]["root_id"] = 0; }},
        {"field anchor.block_height is above 9007199254740991",
         [](J& j) { j["anchor"]["block_height"] = std::uint64_t{1} << 53; }},
        {"field anchor.burn_block_height is missing",
         [](J& j) { j["anchor"].erase("burn_block_height"); }},
        {"proof format \"medanchor-merkle-proof/2\" is not supported",
         [](J& j) { j["format"] = "medanchor-merkle-proof/2"; }, ErrorCode::kUnsupported},
        {"field format is not a string", [](J& j) { j["format"] = 1; }},
        {"the document is not an object", [](J& j) { j = J::array({1}); }},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.names);
        expect_refused(spoilt(c.change), c.code, c.names);
    }
}

TEST(ProofFile, RefusesDuplicateKeysMalformedJsonAndOversizedText) {
    std::string text = slurp(kExample);
    // The same key twice: nlohmann alone would keep the second, silently.
    std::string twice = text;
    twice.insert(twice.find("\"index\""), "\"index\": 5,\n  ");
    expect_refused(twice, ErrorCode::kCorrupt, "repeats the key \"index\"");
    expect_refused(text.substr(0, text.size() / 2), ErrorCode::kCorrupt, "not well-formed JSON");
    expect_refused("\xff\xfe", ErrorCode::kCorrupt, "not well-formed JSON");
    expect_refused("", ErrorCode::kCorrupt, "not well-formed JSON");
    std::string padded = text;
    padded.insert(padded.size() - 2, std::string(kMaxProofFileBytes, ' '));
    expect_refused(padded, ErrorCode::kTooLarge, "at most 16384 bytes");
}

TEST_F(ProofFileDir, WriteThenReadRoundTrips) {
    const fs::path file = dir_ / std::string(kProofFileName);
    ASSERT_TRUE(write_proof_file(file, vector_proof()).ok());
    auto back = read_proof_file(file);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(*back, vector_proof());
    EXPECT_EQ(slurp(file), slurp(kExample));
    // Only the file: no temporary left beside it.
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(ProofFileDir, WriteOfABadProofLeavesNothing) {
    LeafProof p = vector_proof();
    p.root[0] ^= 1;
    const fs::path file = dir_ / "anchor.proof.json";
    const Status s = write_proof_file(file, p);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message().rfind(file.string() + ": ", 0), 0u) << s.error().message();
    EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(ProofFileDir, ReadRefusesWhatIsNotARegularFileAndNamesIt) {
    auto missing = read_proof_file(dir_ / "none.proof.json");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(missing.error().message().find("none.proof.json"), std::string::npos);

    auto folder = read_proof_file(dir_);
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.error().code(), ErrorCode::kInvalidArgument);

    const fs::path fifo = dir_ / "fifo.proof.json";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    auto from_fifo = read_proof_file(fifo);  // returns at once: never waits for a writer
    ASSERT_FALSE(from_fifo.ok());
    EXPECT_EQ(from_fifo.error().code(), ErrorCode::kInvalidArgument);

    const fs::path big = dir_ / "big.proof.json";
    std::ofstream(big) << std::string(kMaxProofFileBytes + 1, ' ');
    auto too_big = read_proof_file(big);
    ASSERT_FALSE(too_big.ok());
    EXPECT_EQ(too_big.error().code(), ErrorCode::kTooLarge);

    const fs::path bad = dir_ / "bad.proof.json";
    std::ofstream(bad) << "{\"format\": \"medanchor-merkle-proof/1\"}";
    auto corrupt = read_proof_file(bad);
    ASSERT_FALSE(corrupt.ok());
    EXPECT_EQ(corrupt.error().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(corrupt.error().message(), bad.string() + ": field leaf is missing");
}

}  // namespace
}  // namespace medanchor::chain
