#include "service/verification_service.h"

#include <algorithm>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "chain/contract.h"
#include "chain/merkle.h"
#include "chain/registry.h"
#include "common/encoding.h"
#include "common/file_io.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "report/report.h"
#include "stacks/bytes.h"
#include "stacks/node_client.h"

namespace medanchor::service {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using stacks::Value;

namespace {

// A report folder's report.json is small (docs/report.md: at most 1 MiB); more is not one.
constexpr std::size_t kMaxReportBytes = std::size_t{1} << 20;

std::string text(const Value& tuple, const char* name) {
    const Value* v = tuple.field(name);
    return v ? v->text() : "";
}

std::string hex(const Value& tuple, const char* name) {
    const Value* v = tuple.field(name);
    return v ? stacks::to_hex(v->bytes()) : "";
}

std::string principal(const Value& tuple, const char* name) {
    const Value* v = tuple.field(name);
    if (!v)
        return "";
    std::string s = v->to_string();
    return s.starts_with("'") ? s.substr(1) : s;
}

std::string utc(std::uint64_t unix_seconds) {
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

// The local side of one anchored analysis: the ledger's copy of the report and the report.json
// in its folder. Sets *differs when either is not the anchored digest; a read error other than
// a missing file comes back as an Error (the image's check is then incomplete).
Result<std::string> check_local(const ledger::Analysis& l, const std::string& chain_digest,
                                bool* differs) {
    const bool stored_ok =
        ledger::report_digest(l.report_json) == l.report_digest && l.report_digest == chain_digest;
    if (!stored_ok) {
        *differs = true;
        return std::string("THE LEDGER'S COPY OF REPORT #") + std::to_string(l.id) +
               " DIFFERS FROM THE ANCHORED DIGEST";
    }
    if (!l.report_dir)
        return std::string("the ledger's copy matches (no report folder recorded)");
    const fs::path file = fs::path(*l.report_dir) / "report.json";
    auto bytes = read_regular_file(file, kMaxReportBytes);
    if (!bytes) {
        if (bytes.error().code() == ErrorCode::kNotFound)
            return "the ledger's copy matches; " + file.string() + " is missing";
        return bytes.error();
    }
    const std::string digest = to_hex(sha256(*bytes));
    if (digest != chain_digest) {
        *differs = true;
        return "LOCAL REPORT " + file.string() +
               " DIFFERS FROM THE ANCHORED DIGEST (its SHA-256 is " + digest + ")";
    }
    return "local report " + file.string() + " matches the anchored digest";
}

// A report handed over must be about this image and carry the digest of one of its anchored
// analyses (v.analyses): the sentence goes into v.handed_check; *mismatch when it does not.
void check_handed(ImageVerification& v, const HandedReport& handed, bool* mismatch) {
    v.handed = handed;
    const std::string image_hex = handed.image_hash.empty() ? "" : handed.image_hex();
    if (!image_hex.empty() && image_hex != v.target.hex) {
        *mismatch = true;
        v.handed_check =
            "THE REPORT " + handed.path + " IS ABOUT ANOTHER IMAGE (" + image_hex + ")";
    } else if (v.total == 0) {
        v.handed_check = "the report " + handed.path + " cannot match: nothing is anchored";
    } else if (std::none_of(v.analyses.begin(), v.analyses.end(), [&](const AnchoredAnalysis& a) {
                   return a.report_digest == handed.digest;
               })) {
        *mismatch = true;
        v.handed_check = "THE REPORT " + handed.path +
                         " MATCHES NO ANCHORED DIGEST OF THIS IMAGE (its SHA-256 is " +
                         handed.digest + ")";
    } else {
        v.handed_check = "the report " + handed.path + " matches an anchored digest";
    }
}

Verdict verdict_of(const ImageVerification& v, bool mismatch) {
    return mismatch       ? Verdict::kReportMismatch
           : v.total == 0 ? Verdict::kNotAnchored
           : v.valid == 0 ? Verdict::kDisputed
                          : Verdict::kValid;
}

}  // namespace

Result<HashTarget> parse_hash_target(const std::string& arg) {
    std::string mode, digits = arg;
    if (auto colon = arg.find(':'); colon != std::string::npos) {
        mode = arg.substr(0, colon);
        digits = arg.substr(colon + 1);
        if (mode != "hmac-sha256" && mode != "sha256") {
            return Error(ErrorCode::kInvalidArgument, "--hash: unknown hash mode \"" + mode + "\"");
        }
    }
    auto bytes = stacks::from_hex(digits);
    if (!bytes || bytes->size() != 32) {
        return Error(ErrorCode::kInvalidArgument,
                     "--hash must be 64 hex digits (optionally prefixed hmac-sha256:)");
    }
    return HashTarget{"--hash", stacks::to_hex(*bytes), mode};
}

Result<HashTarget> hash_target(const ImageSource& source, const image::SiteKey* key) {
    auto bytes = source.load();
    if (!bytes)
        return bytes.error();
    const std::string display =
        escape_for_display(source.path() ? source.path()->string() : source.name());
    auto img = image::decode_image(**bytes, display);
    if (!img)
        return img.error();
    const auto h = image::hash_image(*img, key);
    return HashTarget{source.name(), h.hex(), h.mode_name()};
}

std::string HandedReport::image_hex() const {
    return image_hash.substr(image_hash.find(':') + 1);
}

Result<HandedReport> read_handed_report(const fs::path& path, std::optional<Error>* parse_error) {
    // Hashed as it is, byte for byte (the anchored digest covers exact bytes); parsed only to
    // learn which image it is about.
    auto bytes = read_regular_text_file(path, kMaxReportBytes);
    if (!bytes)
        return bytes.error();
    HandedReport handed{path.string(), to_hex(sha256(*bytes)), ""};
    auto parsed = report::from_json(*bytes);
    if (parsed)
        handed.image_hash = parsed->image.hash;
    else if (parse_error)
        *parse_error = parsed.error();
    return handed;
}

const char* to_string(Verdict v) {
    switch (v) {
        case Verdict::kValid:
            return "valid";
        case Verdict::kNotAnchored:
            return "not-anchored";
        case Verdict::kDisputed:
            return "disputed";
        case Verdict::kReportMismatch:
            return "report-mismatch";
    }
    return "report-mismatch";
}

std::string to_json(const ImageVerification& v) {
    ordered_json j{{"image", v.target.label},
                   {"image_hash", v.target.display()},
                   {"total", v.total},
                   {"analyses", ordered_json::array()}};
    for (const auto& a : v.analyses) {
        j["analyses"].push_back({{"analysis_id", a.analysis_id},
                                 {"model", a.model},
                                 {"finding", a.finding},
                                 {"confidence_bp", a.confidence_bp},
                                 {"analyst", a.analyst},
                                 {"block_height", a.block_height},
                                 {"time", a.time},
                                 {"status", a.status},
                                 {"confirmations", a.confirmations},
                                 {"disputes", a.disputes},
                                 {"report_digest", a.report_digest},
                                 {"local_report", a.local_checks}});
        if (a.root_id) {
            j["analyses"].back()["root_id"] = *a.root_id;
            j["analyses"].back()["leaf_index"] = a.leaf_index;
        }
    }
    ordered_json waiting = ordered_json::array();
    for (const auto& l : v.local_only)
        waiting.push_back({{"ledger_id", l.ledger_id}, {"state", ledger::to_string(l.state)}});
    j["local_only"] = waiting;
    if (v.handed) {
        j["report"] = {
            {"file", v.handed->path}, {"digest", v.handed->digest}, {"check", v.handed_check}};
    }
    if (!v.proof_file.empty())
        j["proof"] = {{"file", v.proof_file}, {"checks", v.proof_checks}};
    if (!v.hint.empty())
        j["hint"] = v.hint;
    j["valid"] = v.valid;
    j["verdict"] = to_string(v.verdict);
    if (v.incomplete)
        j["error"] = {{"code", error_info(v.incomplete->code()).name},
                      {"message", v.incomplete->message()}};
    return j.dump();
}

Result<std::unique_ptr<VerificationService>> VerificationService::open(
    chain::ChainConfig config, const std::optional<fs::path>& ledger_path) {
    std::optional<ledger::Ledger> ledger;
    if (ledger_path &&
        (ledger::is_postgres_location(ledger_path->native()) || fs::exists(*ledger_path))) {
        auto opened = ledger::Ledger::open(*ledger_path);
        if (!opened)
            return opened.error();
        ledger.emplace(std::move(*opened));
    }
    return std::unique_ptr<VerificationService>(
        new VerificationService(std::move(config), std::move(ledger)));
}

VerificationService::VerificationService(chain::ChainConfig config,
                                         std::optional<ledger::Ledger> ledger)
    : config_(std::move(config)), ledger_(std::move(ledger)) {}

Result<ImageVerification> VerificationService::verify(const HashTarget& t,
                                                      const HandedReport* handed) {
    // A node client per call: NodeClient is one thread's at a time. The contract's deployer
    // stands as the caller of read-only functions.
    stacks::NodeClient node(config_.node_url, stacks::RetryPolicy{}, config_.api_url);
    const auto read = [&](const std::string& function, const std::vector<Value>& args) {
        return chain::read_only(node, config_, function, args);
    };
    const Value key = Value::buffer(*stacks::from_hex(t.hex));
    auto verdict = read("verify-image", {key});
    if (!verdict)
        return verdict.error();
    ImageVerification v;
    v.target = t;
    v.total = chain::uint_field(*verdict, "total");

    // Every analysis, paged 20 at a time.
    std::vector<Value> analyses;
    for (std::uint64_t start = 0; start < v.total; start += 20) {
        auto ids = read("get-image-analysis-ids", {key, Value::uint_(start)});
        if (!ids)
            return ids.error();
        for (const auto& id : ids->items()) {
            auto a = read("get-analysis", {id});
            if (!a)
                return a.error();
            if (a->kind() == stacks::ValueKind::kSome)
                analyses.push_back(a->inner());
        }
    }
    std::map<std::uint64_t, Value> models;
    for (const auto& a : analyses) {
        const auto id = chain::uint_field(a, "model-id");
        if (models.count(id))
            continue;
        auto m = read("get-model", {Value::uint_(id)});
        if (!m)
            return m.error();
        if (m->kind() == stacks::ValueKind::kSome)
            models.emplace(id, m->inner());
    }
    // This image's analyses in the local ledger: matched to the chain's by on-chain id, or by
    // analyst and digest when the ledger has not settled them yet.
    std::vector<ledger::Analysis> local;
    {
        std::lock_guard lock(ledger_mutex_);
        if (ledger_) {
            auto mine = ledger_->find_by_image(t.hex);
            if (!mine)
                return mine.error();
            local = std::move(*mine);
        }
    }
    std::vector<bool> local_matched(local.size(), false);

    bool mismatch = false;
    for (const auto& a : analyses) {
        AnchoredAnalysis out;
        out.analysis_id = chain::uint_field(a, "analysis-id");
        out.status = text(a, "status");
        out.retracted = out.status == "retracted";
        out.retraction_reason = chain::uint_field(a, "retraction-reason");
        // Valid now: neither retracted by its analyst nor disputed by reviewers.
        if (!out.retracted && out.status != "disputed")
            ++v.valid;
        const auto m = models.find(chain::uint_field(a, "model-id"));
        out.model = m == models.end() ? "model #" + std::to_string(chain::uint_field(a, "model-id"))
                                      : text(m->second, "name") + " " + text(m->second, "version");
        out.finding = text(a, "finding");
        out.confidence_bp = chain::uint_field(a, "confidence");
        out.report_digest = hex(a, "report-digest");
        out.analyst = principal(a, "analyst");
        out.block_height = chain::uint_field(a, "block-height");
        out.block_time = chain::uint_field(a, "block-time");
        out.time = utc(out.block_time);
        out.confirmations = chain::uint_field(a, "confirmations");
        out.disputes = chain::uint_field(a, "disputes");
        for (std::size_t k = 0; k < local.size(); ++k) {
            const auto& l = local[k];
            // By on-chain id only for a record (it has a transaction): a Merkle leaf's onchain_id
            // is its root's id, another numbering.
            const bool same = l.onchain_id && l.txid ? *l.onchain_id == out.analysis_id
                                                     : l.analyst == out.analyst &&
                                                           l.report_digest == out.report_digest;
            if (!same)
                continue;
            local_matched[k] = true;
            auto check = check_local(l, out.report_digest, &mismatch);
            if (!check) {
                if (!v.incomplete)
                    v.incomplete = check.error();
                out.local_checks.push_back("cannot read the local report: " +
                                           check.error().message());
            } else {
                out.local_checks.push_back(*check);
            }
        }
        if (handed && handed->digest == out.report_digest)
            out.local_checks.push_back("the report " + handed->path + " matches it");
        if (out.local_checks.empty())
            out.local_checks.push_back("no local report");
        v.analyses.push_back(std::move(out));
    }
    for (std::size_t k = 0; k < local.size(); ++k) {
        if (!local_matched[k])
            v.local_only.push_back({local[k].id, local[k].state});
    }

    if (handed)
        check_handed(v, *handed, &mismatch);
    v.verdict = verdict_of(v, mismatch);
    if (v.total == 0 && !handed)
        v.hint =
            "no record of this image on chain. An analysis anchored in Merkle mode is "
            "proven by its proof file, anchor.proof.json, which the site keeps beside the "
            "analysis' report.json in its report folder (analyze --out): `medanchor verify "
            "IMAGE --proof FILE`";
    return v;
}

Result<Value> VerificationService::read(stacks::NodeClient& node, const std::string& function,
                                        const std::vector<Value>& args) const {
    return chain::read_only(node, config_, function, args);
}

Result<std::optional<fs::path>> VerificationService::local_proof(const HashTarget& t) {
    std::lock_guard lock(ledger_mutex_);
    if (!ledger_)
        return std::optional<fs::path>();
    auto mine = ledger_->find_by_image(t.hex);
    if (!mine)
        return mine.error();
    for (const auto& a : *mine) {
        if (!a.report_dir)
            continue;
        const fs::path file = fs::path(*a.report_dir) / std::string(chain::kProofFileName);
        std::error_code ec;
        if (fs::is_regular_file(file, ec))
            return std::optional<fs::path>(file);
    }
    return std::optional<fs::path>();
}

Result<ImageVerification> VerificationService::verify_proof(const HashTarget& t,
                                                            const chain::LeafProof& proof,
                                                            const std::string& proof_file,
                                                            const HandedReport* handed) {
    ImageVerification v;
    v.target = t;
    v.proof_file = proof_file;
    const std::string leaf_image = stacks::to_hex(proof.leaf.image_hash);
    const std::string leaf_digest = stacks::to_hex(proof.leaf.report_digest);
    const auto done = [&](bool mismatch) {
        v.verdict = verdict_of(v, mismatch);
        return v;
    };
    if (leaf_image != t.hex) {
        v.proof_checks.push_back("THE PROOF IS ABOUT ANOTHER IMAGE (" + leaf_image + ")");
        return done(false);
    }
    if (!chain::verify_proof(proof)) {
        v.proof_checks.push_back(
            "THE PROOF DOES NOT HOLD: its path does not lead from the leaf to its root (a "
            "sibling, a field of the leaf, the index or the size was changed)");
        return done(false);
    }
    v.proof_checks.push_back("the proof's path leads from the leaf to root " +
                             stacks::to_hex(proof.root));

    // The proof says where it was anchored; it is checked where this verification asks, and a
    // difference is said, so "not accepted" is not read as "forged" when it is only elsewhere.
    const std::string proof_contract = proof.anchor.contract.to_string().substr(1);
    if (proof.anchor.network != chain::to_string(config_.network) ||
        proof_contract != config_.contract_id) {
        v.proof_checks.push_back("the proof names " + proof.anchor.network + " contract " +
                                 proof_contract + "; checked on " +
                                 chain::to_string(config_.network) + " contract " +
                                 config_.contract_id + " (--network, --contract)");
    }
    stacks::NodeClient node(config_.node_url, stacks::RetryPolicy{}, config_.api_url);
    auto args = chain::proof_arguments(proof);
    if (!args)
        return args.error();
    auto answer = read(node, "verify-leaf", *args);
    if (!answer)
        return answer.error();
    if (answer->kind() != stacks::ValueKind::kOk) {
        // ERR-UNKNOWN-ROOT: this analyst never anchored this root on this contract.
        v.proof_checks.push_back("THE CHAIN DOES NOT ACCEPT THE PROOF on " + config_.contract_id +
                                 ": " + chain::describe_result(*answer));
        return done(false);
    }
    const Value& r = answer->inner();
    v.total = 1;
    AnchoredAnalysis out;
    out.root_id = chain::uint_field(r, "root-id");
    out.leaf_index = proof.index;
    out.status = text(r, "status");
    out.retracted = out.status == "retracted";
    out.retraction_reason = chain::uint_field(r, "retraction-reason");
    const Value* valid = r.field("valid");
    if (valid && valid->as_bool())
        ++v.valid;
    const auto model_id = chain::uint_field(r, "model-id");
    out.model = "model #" + std::to_string(model_id);
    if (auto m = read(node, "get-model", {Value::uint_(model_id)});
        m && m->kind() == stacks::ValueKind::kSome)
        out.model = text(m->inner(), "name") + " " + text(m->inner(), "version");
    out.finding = proof.leaf.finding;
    out.confidence_bp = static_cast<std::uint64_t>(proof.leaf.confidence);
    out.analyst = principal(r, "analyst");
    out.block_height = chain::uint_field(r, "block-height");
    out.block_time = chain::uint_field(r, "block-time");
    out.time = utc(out.block_time);
    out.confirmations = chain::uint_field(r, "confirmations");
    out.disputes = chain::uint_field(r, "disputes");
    out.report_digest = leaf_digest;
    if (const Value* meets = r.field("meets-threshold"); meets && !meets->as_bool())
        v.proof_checks.push_back(
            "the leaf's confidence is below the threshold stored with its "
            "root (" +
            std::to_string(chain::uint_field(r, "threshold")) + " bp)");
    // What the file says of the anchor against what the chain says: told, not judged (the
    // proof itself holds either way).
    if (proof.anchor.root_id != *out.root_id || proof.anchor.block_height != out.block_height ||
        proof.anchor.burn_block_height != chain::uint_field(r, "burn-block-height"))
        v.proof_checks.push_back("the proof file's anchor (root #" +
                                 std::to_string(proof.anchor.root_id) + ", block " +
                                 std::to_string(proof.anchor.block_height) +
                                 ") differs from the chain's; the chain's is shown");
    else
        v.proof_checks.push_back("anchored as root #" + std::to_string(*out.root_id) +
                                 " in Stacks block " + std::to_string(out.block_height) +
                                 " (Bitcoin block " +
                                 std::to_string(proof.anchor.burn_block_height) + ")");

    bool mismatch = false;
    // The report.json beside the proof file, as the site wrote them.
    const fs::path beside = fs::path(proof_file).parent_path() / "report.json";
    std::error_code ec;
    if (!proof_file.empty() && fs::is_regular_file(beside, ec)) {
        auto bytes = read_regular_file(beside, kMaxReportBytes);
        if (!bytes) {
            v.incomplete = bytes.error();
        } else if (to_hex(sha256(*bytes)) != leaf_digest) {
            mismatch = true;
            out.local_checks.push_back("THE REPORT " + beside.string() +
                                       " BESIDE THE PROOF DIFFERS FROM THE ANCHORED DIGEST");
        } else {
            out.local_checks.push_back("the report " + beside.string() +
                                       " beside the proof matches the anchored digest");
        }
    }
    {
        std::lock_guard lock(ledger_mutex_);
        if (ledger_) {
            auto mine = ledger_->find_by_image(t.hex);
            if (!mine)
                return mine.error();
            for (const auto& l : *mine) {
                if (l.analyst != out.analyst || l.report_digest != leaf_digest)
                    continue;
                auto check = check_local(l, leaf_digest, &mismatch);
                if (!check)
                    v.incomplete = check.error();
                else
                    out.local_checks.push_back(*check);
            }
        }
    }
    if (out.local_checks.empty())
        out.local_checks.push_back("no local report");
    v.analyses.push_back(std::move(out));
    if (handed)
        check_handed(v, *handed, &mismatch);
    return done(mismatch);
}

}  // namespace medanchor::service
