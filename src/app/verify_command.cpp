#include "app/verify_command.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "app/contract.h"
#include "app/file_inputs.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "image/site_key.h"
#include "ledger/ledger.h"
#include "stacks/bytes.h"
#include "stacks/node_client.h"

namespace medanchor::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using stacks::Value;

class Reader {
  public:
    Reader(ChainConfig config) : config_(std::move(config)), node_(config_.node_url) {}
    Result<Value> read(const std::string& function, const std::vector<Value>& args) {
        return read_contract(node_, config_, function, args);
    }
    const ChainConfig& config() const { return config_; }

  private:
    ChainConfig config_;
    stacks::NodeClient node_;
};

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

// The hash to look up: 64 hex digits and how it was made.
struct Target {
    std::string label;  // the file, or "--hash"
    std::string hex;
    std::string mode;  // "hmac-sha256", "sha256" or "" (given bare)
};

Result<Target> parse_hash_arg(const std::string& arg) {
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
    return Target{"--hash", stacks::to_hex(*bytes), mode};
}

struct Outcome {
    bool found_valid = false;
    bool digest_mismatch = false;
};

Result<Outcome> verify_one(Reader& chain, ledger::Ledger* ledger, const Target& t, bool as_json) {
    const Value key = Value::buffer(*stacks::from_hex(t.hex));
    auto verdict = chain.read("verify-image", {key});
    if (!verdict)
        return verdict.error();
    const std::uint64_t total = uint_field(*verdict, "total");

    // Every analysis, paged 20 at a time.
    std::vector<Value> analyses;
    for (std::uint64_t start = 0; start < total; start += 20) {
        auto ids = chain.read("get-image-analysis-ids", {key, Value::uint_(start)});
        if (!ids)
            return ids.error();
        for (const auto& id : ids->items()) {
            auto a = chain.read("get-analysis", {id});
            if (!a)
                return a.error();
            if (a->kind() == stacks::ValueKind::kSome)
                analyses.push_back(a->inner());
        }
    }
    std::map<std::uint64_t, Value> models;
    for (const auto& a : analyses) {
        const auto id = uint_field(a, "model-id");
        if (models.count(id))
            continue;
        auto m = chain.read("get-model", {Value::uint_(id)});
        if (!m)
            return m.error();
        if (m->kind() == stacks::ValueKind::kSome)
            models.emplace(id, m->inner());
    }
    // Local reports of this image, by on-chain id.
    std::map<std::uint64_t, ledger::Analysis> local;
    if (ledger) {
        auto mine = ledger->find_by_image(t.hex);
        if (!mine)
            return mine.error();
        for (auto& a : *mine) {
            if (a.onchain_id)
                local.emplace(*a.onchain_id, a);
        }
    }

    Outcome out;
    ordered_json j{{"image", t.label},
                   {"image_hash", (t.mode.empty() ? "" : t.mode + ":") + t.hex},
                   {"valid", verdict->field("valid") && verdict->field("valid")->as_bool()},
                   {"total", total},
                   {"analyses", ordered_json::array()}};
    if (!as_json) {
        std::cout << t.label << "\n  image hash " << (t.mode.empty() ? "" : t.mode + ":") << t.hex
                  << "\n";
        if (total == 0)
            std::cout << "  no analysis of this image is recorded on the chain\n";
    }
    for (const auto& a : analyses) {
        const auto id = uint_field(a, "analysis-id");
        const std::string status = text(a, "status");
        const bool retracted = status == "retracted";
        if (!retracted)
            out.found_valid = true;
        const auto m = models.find(uint_field(a, "model-id"));
        const std::string model = m == models.end()
                                      ? "model #" + std::to_string(uint_field(a, "model-id"))
                                      : text(m->second, "name") + " " + text(m->second, "version");
        const std::string chain_digest = hex(a, "report-digest");
        std::string local_check = "no local report";
        if (auto l = local.find(id); l != local.end()) {
            const bool stored_ok =
                ledger::report_digest(l->second.report_json) == l->second.report_digest;
            const bool same = stored_ok && l->second.report_digest == chain_digest;
            if (!same)
                out.digest_mismatch = true;
            local_check = same ? "local report matches the anchored digest"
                               : "LOCAL REPORT DIGEST DIFFERS FROM THE CHAIN (report altered?)";
        }
        j["analyses"].push_back({{"analysis_id", id},
                                 {"model", model},
                                 {"finding", text(a, "finding")},
                                 {"confidence_bp", uint_field(a, "confidence")},
                                 {"analyst", principal(a, "analyst")},
                                 {"block_height", uint_field(a, "block-height")},
                                 {"time", utc(uint_field(a, "block-time"))},
                                 {"status", status},
                                 {"confirmations", uint_field(a, "confirmations")},
                                 {"disputes", uint_field(a, "disputes")},
                                 {"report_digest", chain_digest},
                                 {"local_report", local_check}});
        if (!as_json) {
            std::cout << "  analysis #" << id << ": " << text(a, "finding") << " at "
                      << uint_field(a, "confidence") << " bp, by " << model << "\n"
                      << "    analyst " << principal(a, "analyst") << ", block "
                      << uint_field(a, "block-height") << " at " << utc(uint_field(a, "block-time"))
                      << "\n"
                      << "    status " << status << " (" << uint_field(a, "confirmations")
                      << " confirmed, " << uint_field(a, "disputes") << " disputed)"
                      << (retracted ? ", retracted with reason " +
                                          std::to_string(uint_field(a, "retraction-reason"))
                                    : "")
                      << "\n    report digest " << chain_digest << ": " << local_check << "\n";
        }
    }
    if (as_json)
        std::cout << j.dump() << "\n";
    else if (total)
        std::cout << "  "
                  << (out.found_valid ? "VERIFIED: a valid analysis is anchored"
                                      : "no valid analysis (all retracted)")
                  << "\n";
    return out;
}

}  // namespace

Status run_verify(const VerifyRequest& r) {
    if (r.files.empty() == r.hash.empty()) {
        return Error(ErrorCode::kInvalidArgument, "give image files, or --hash HEX, not both");
    }
    auto config = chain_config(r.chain);
    if (!config)
        return config.error();
    Reader chain(*config);

    std::vector<Target> targets;
    if (!r.hash.empty()) {
        auto t = parse_hash_arg(r.hash);
        if (!t)
            return t.error();
        targets.push_back(*t);
    } else {
        std::optional<image::SiteKey> key;
        if (!r.public_hash) {
            const fs::path path =
                r.site_key.empty() ? image::SiteKey::default_path() : fs::path(r.site_key);
            auto loaded = image::SiteKey::load(path);
            if (!loaded) {
                return Error(loaded.error().code(), loaded.error().message() +
                                                        " (keyed hashes need the site key that "
                                                        "made them; --public for unkeyed ones)");
            }
            key = *loaded;
        }
        for (const auto& file : expand_inputs(r.files)) {
            auto img = image::read_image(file);
            if (!img)
                return img.error();
            const auto h = image::hash_image(*img, key ? &*key : nullptr);
            targets.push_back({file.string(), h.hex(), h.mode_name()});
        }
    }

    std::optional<ledger::Ledger> ledger;
    const fs::path ledger_path =
        r.ledger.empty() ? ledger::Ledger::default_path() : fs::path(r.ledger);
    if (fs::exists(ledger_path)) {
        auto opened = ledger::Ledger::open(ledger_path);
        if (!opened)
            return opened.error();
        ledger.emplace(std::move(*opened));
    }

    bool missing = false, mismatch = false;
    for (const auto& t : targets) {
        auto o = verify_one(chain, ledger ? &*ledger : nullptr, t, r.chain.json);
        if (!o)
            return o.error();
        missing = missing || !o->found_valid;
        mismatch = mismatch || o->digest_mismatch;
    }
    if (mismatch)
        return Error(ErrorCode::kReportMismatch,
                     "a local report does not match the digest anchored on chain");
    if (missing)
        return Error(ErrorCode::kNotAnchored, "no valid analysis is anchored for at least one image");
    return Status::Ok();
}

void add_verify_command(CLI::App& app, CommandAction& action) {
    auto r = std::make_shared<VerifyRequest>();
    auto* cmd = app.add_subcommand(
        "verify", "Show what the chain recorded about an image, and check local reports");
    cmd->add_option("FILE", r->files, "image files or folders");
    cmd->add_option("--hash", r->hash,
                    "look up a hash instead of an image (64 hex, or hmac-sha256:HEX)");
    cmd->add_option(
        "--site-key", r->site_key,
        "site key for keyed hashes (default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key)");
    cmd->add_flag("--public", r->public_hash, "look up the unkeyed (public) hash");
    cmd->add_option("--ledger", r->ledger, "local ledger to compare reports with");
    add_chain_options(cmd, r->chain, /*needs_key=*/false);
    cmd->footer(
        "Exit codes: 0 a valid analysis is anchored for every image (and local reports match); 3 "
        "none for some "
        "image; 5 a local report's digest differs from the chain's.");
    cmd->callback([&action, r] { action = [r] { return run_verify(*r); }; });
}

}  // namespace medanchor::app
