#include "chain/proof_file.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/file_io.h"
#include "common/strict_json.h"
#include "stacks/c32.h"

namespace medanchor::chain {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// The longest principal text: a 41-character address, a dot and a 128-character contract name.
constexpr std::size_t kMaxPrincipalText = 41 + 1 + stacks::kMaxNameLength;
// The most digits of a uint (2^128 - 1 has 39).
constexpr std::size_t kMaxUintDigits = 39;

// "ST..." or "ST....name": Clarity's notation without its leading quote.
std::string principal_text(const stacks::Value& principal) {
    return principal.to_string().substr(1);
}

// Mainnet addresses have their own versions; devnet uses testnet's (docs/stacks-client.md).
bool version_fits(std::uint8_t version, std::string_view network) {
    if (network == "mainnet")
        return version == stacks::kMainnetSingleSig || version == stacks::kMainnetMultiSig;
    return version == stacks::kTestnetSingleSig || version == stacks::kTestnetMultiSig;
}

bool is_network(std::string_view s) {
    return s == "devnet" || s == "testnet" || s == "mainnet";
}

// ---- reading --------------------------------------------------------------------------------

Result<Hash32> read_hash(JsonObjectReader& object, const char* key) {
    auto text = object.string(key, 64);
    if (!text)
        return text.error();
    if (text->size() != 64 || !is_lower_hex(*text))
        return object.error(key, "is not 64 lowercase hex digits");
    Hash32 h{};
    const auto bytes = from_hex(*text);
    std::copy(bytes->begin(), bytes->end(), h.begin());
    return h;
}

Result<Hash32> hash_item(const json& item, const JsonObjectReader& parent, const std::string& key) {
    if (!item.is_string())
        return parent.error(key, "is not a string");
    const auto& text = item.get_ref<const std::string&>();
    if (text.size() != 64 || !is_lower_hex(text))
        return parent.error(key, "is not 64 lowercase hex digits");
    Hash32 h{};
    const auto bytes = from_hex(text);
    std::copy(bytes->begin(), bytes->end(), h.begin());
    return h;
}

// A uint as its decimal string (a Clarity uint exceeds what a JSON number carries exactly), in
// its one spelling: no sign, no leading zero.
Result<stacks::UInt128> read_uint(JsonObjectReader& object, const char* key) {
    auto text = object.string(key, kMaxUintDigits);
    if (!text)
        return text.error();
    auto value = stacks::parse_uint128(*text);
    if (!value || stacks::uint128_to_string(*value) != *text)
        return object.error(key, "is not a decimal unsigned integer without leading zeros");
    return *value;
}

// A principal in its canonical text (upper-case c32, as Address::to_string writes it).
Result<stacks::Value> read_principal(JsonObjectReader& object, const char* key) {
    auto text = object.string(key, kMaxPrincipalText);
    if (!text)
        return text.error();
    auto value = stacks::Value::parse_principal(*text);
    if (!value)
        return object.error(key, "is not a Stacks principal: " + value.error().message());
    if (principal_text(*value) != *text)
        return object.error(key, "is not written as the principal's canonical text \"" +
                                     principal_text(*value) + "\"");
    return value;
}

Result<LeafFields> read_leaf(JsonObjectReader& object) {
    LeafFields leaf;
    auto image_hash = read_hash(object, "image_hash");
    if (!image_hash)
        return image_hash.error();
    leaf.image_hash = *image_hash;
    auto model_id = read_uint(object, "model_id");
    if (!model_id)
        return model_id.error();
    leaf.model_id = *model_id;
    auto finding = object.string("finding", kMaxFindingLength);
    if (!finding)
        return finding.error();
    leaf.finding = std::move(*finding);
    auto confidence = read_uint(object, "confidence");
    if (!confidence)
        return confidence.error();
    leaf.confidence = *confidence;
    auto report_digest = read_hash(object, "report_digest");
    if (!report_digest)
        return report_digest.error();
    leaf.report_digest = *report_digest;
    auto analyst = read_principal(object, "analyst");
    if (!analyst)
        return analyst.error();
    leaf.analyst = std::move(*analyst);
    if (auto s = object.finish(); !s)
        return s.error();
    // The contract's own rules (a finding code, a confidence in basis points, non-zero hashes).
    if (auto s = check_leaf(leaf, object.error_prefix()); !s)
        return Error(ErrorCode::kCorrupt, s.error().message());
    return leaf;
}

Result<RootAnchor> read_anchor(JsonObjectReader& object) {
    RootAnchor anchor;
    auto network = object.string("network", 16);
    if (!network)
        return network.error();
    if (!is_network(*network))
        return object.error("network", "is not \"devnet\", \"testnet\" or \"mainnet\"");
    anchor.network = std::move(*network);
    auto contract = read_principal(object, "contract");
    if (!contract)
        return contract.error();
    if (contract->kind() != stacks::ValueKind::kContractPrincipal)
        return object.error("contract", "is not a contract principal (ADDRESS.NAME)");
    if (!version_fits(contract->address().version, anchor.network))
        return object.error("contract", "is not an address of " + anchor.network);
    anchor.contract = std::move(*contract);
    auto root_id = object.integer("root_id", kMaxJsonInteger);
    if (!root_id)
        return root_id.error();
    if (*root_id == 0)
        return object.error("root_id", "is 0 (root ids start at 1)");
    anchor.root_id = *root_id;
    auto txid = read_hash(object, "txid");
    if (!txid)
        return txid.error();
    anchor.txid = *txid;
    for (auto [key, target] : {std::pair{"block_height", &anchor.block_height},
                               std::pair{"block_time", &anchor.block_time},
                               std::pair{"burn_block_height", &anchor.burn_block_height}}) {
        auto n = object.integer(key, kMaxJsonInteger);
        if (!n)
            return n.error();
        *target = *n;
    }
    if (auto s = object.finish(); !s)
        return s.error();
    return anchor;
}

Result<LeafProof> read_proof(const json& document, std::string_view source) {
    auto top = JsonObjectReader::open(document, source);
    if (!top)
        return top.error();
    // The format first, so that a newer file is refused as unsupported, not as corrupt.
    auto format = top->string("format", 64);
    if (!format)
        return format.error();
    if (*format != kProofFormat) {
        return Error(ErrorCode::kUnsupported, std::string(source) + ": proof format \"" +
                                                  quote_for_message(*format) +
                                                  "\" is not supported (this build reads " +
                                                  std::string(kProofFormat) + ")");
    }
    LeafProof proof;
    auto leaf_object = top->object("leaf");
    if (!leaf_object)
        return leaf_object.error();
    auto leaf = read_leaf(*leaf_object);
    if (!leaf)
        return leaf.error();
    proof.leaf = std::move(*leaf);

    auto index = top->integer("index", kMaxLeaves - 1);
    if (!index)
        return index.error();
    proof.index = *index;
    auto size = top->integer("size", kMaxLeaves);
    if (!size)
        return size.error();
    if (*size == 0)
        return top->error("size", "is 0 (a tree has at least one leaf)");
    proof.size = *size;

    auto path = top->array("path", kMaxPathLength);
    if (!path)
        return path.error();
    for (std::size_t i = 0; i < (*path)->size(); ++i) {
        auto h = hash_item((**path)[i], *top, "path[" + std::to_string(i) + "]");
        if (!h)
            return h.error();
        proof.path.push_back(*h);
    }
    auto root = read_hash(*top, "root");
    if (!root)
        return root.error();
    proof.root = *root;

    auto anchor_object = top->object("anchor");
    if (!anchor_object)
        return anchor_object.error();
    auto anchor = read_anchor(*anchor_object);
    if (!anchor)
        return anchor.error();
    proof.anchor = std::move(*anchor);
    if (!version_fits(proof.leaf.analyst.address().version, proof.anchor.network))
        return top->error("leaf.analyst", "is not an address of " + proof.anchor.network);
    if (auto s = top->finish(); !s)
        return s.error();
    return proof;
}

}  // namespace

bool verify_proof(const LeafProof& proof) {
    const auto leaf = leaf_hash(proof.leaf);
    return leaf.ok() && verify_path(*leaf, proof.index, proof.size, proof.path, proof.root);
}

Result<std::string> format_proof(const LeafProof& p) {
    const auto refuse = [](std::string_view field, std::string_view problem) {
        return Error(ErrorCode::kInvalidArgument,
                     "proof field " + std::string(field) + " " + std::string(problem));
    };
    if (auto s = check_leaf(p.leaf, "proof field leaf."); !s)
        return s.error();
    if (!is_network(p.anchor.network))
        return refuse("anchor.network", "is not devnet, testnet or mainnet");
    if (p.anchor.contract.kind() != stacks::ValueKind::kContractPrincipal)
        return refuse("anchor.contract", "is not a contract principal");
    if (!version_fits(p.anchor.contract.address().version, p.anchor.network))
        return refuse("anchor.contract", "is not an address of " + p.anchor.network);
    if (!version_fits(p.leaf.analyst.address().version, p.anchor.network))
        return refuse("leaf.analyst", "is not an address of " + p.anchor.network);
    if (p.anchor.root_id == 0 || p.anchor.root_id > kMaxJsonInteger ||
        p.anchor.block_height > kMaxJsonInteger || p.anchor.block_time > kMaxJsonInteger ||
        p.anchor.burn_block_height > kMaxJsonInteger) {
        return refuse("anchor", "has a number out of range (root_id 1 .. 2^53 - 1)");
    }
    if (p.size == 0 || p.size > kMaxLeaves || p.path.size() > kMaxPathLength)
        return refuse("size", "or path is out of the contract's bounds");
    if (!verify_proof(p))
        return refuse("path", "does not give the root for this leaf, index and size");

    ordered_json path = ordered_json::array();
    for (const Hash32& h : p.path)
        path.push_back(to_hex(h));
    const ordered_json document{
        {"format", kProofFormat},
        {"leaf",
         {{"image_hash", to_hex(p.leaf.image_hash)},
          {"model_id", stacks::uint128_to_string(p.leaf.model_id)},
          {"finding", p.leaf.finding},
          {"confidence", stacks::uint128_to_string(p.leaf.confidence)},
          {"report_digest", to_hex(p.leaf.report_digest)},
          {"analyst", principal_text(p.leaf.analyst)}}},
        {"index", p.index},
        {"size", p.size},
        {"path", path},
        {"root", to_hex(p.root)},
        {"anchor",
         {{"network", p.anchor.network},
          {"contract", principal_text(p.anchor.contract)},
          {"root_id", p.anchor.root_id},
          {"txid", to_hex(p.anchor.txid)},
          {"block_height", p.anchor.block_height},
          {"block_time", p.anchor.block_time},
          {"burn_block_height", p.anchor.burn_block_height}}},
    };
    return document.dump(2) + "\n";
}

Result<LeafProof> parse_proof(std::string_view text, std::string_view source) {
    if (text.size() > kMaxProofFileBytes) {
        return Error(ErrorCode::kTooLarge, std::string(source) + ": a proof file is at most " +
                                               std::to_string(kMaxProofFileBytes) + " bytes");
    }
    auto document = parse_strict_json(text, source);
    if (!document)
        return document.error();
    return read_proof(*document, source);
}

Result<LeafProof> read_proof_file(const std::filesystem::path& path) {
    auto text = read_regular_text_file(path, kMaxProofFileBytes);
    if (!text)
        return text.error();
    return parse_proof(*text, path.string());
}

Status write_proof_file(const std::filesystem::path& path, const LeafProof& proof) {
    auto text = format_proof(proof);
    if (!text)
        return Error(text.error().code(), path.string() + ": " + text.error().message());
    return write_file_atomically(path, *text);
}

Result<std::vector<stacks::Value>> proof_arguments(const LeafProof& proof) {
    auto tuple = leaf_tuple(proof.leaf);
    if (!tuple)
        return tuple.error();
    std::vector<stacks::Value> path;
    for (const auto& h : proof.path)
        path.push_back(stacks::Value::buffer(stacks::Bytes(h.begin(), h.end())));
    return std::vector<stacks::Value>{
        stacks::Value::buffer(stacks::Bytes(proof.root.begin(), proof.root.end())),
        std::move(*tuple), stacks::Value::uint_(proof.index), stacks::Value::list(std::move(path))};
}

Result<bool> write_proof_file_once(const std::filesystem::path& path, const LeafProof& proof) {
    auto text = format_proof(proof);
    if (!text)
        return Error(text.error().code(), path.string() + ": " + text.error().message());
    AtomicFile file(path);
    {
        std::ofstream out(file.temp_path(), std::ios::binary);
        out.write(text->data(), static_cast<std::streamsize>(text->size()));
        out.close();
        if (!out)
            return Error(ErrorCode::kIo, path.string() + ": cannot write the proof file");
    }
    auto placed = file.commit({.replace = false, .durable = true});
    if (!placed)
        return placed.error();
    if (*placed)
        return true;
    // Something is there already: the same proof (an earlier pass that stopped before noting
    // it) is fine; anything else is left alone and reported.
    auto there = read_proof_file(path);
    if (there && *there == proof)
        return false;
    return Error(ErrorCode::kCorrupt,
                 path.string() + ": a different proof file is already there; it is left as it is");
}

}  // namespace medanchor::chain
