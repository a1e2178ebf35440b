#include "app/verify_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "app/contract.h"
#include "app/file_inputs.h"
#include "common/encoding.h"
#include "common/file_io.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "image/site_key.h"
#include "ledger/ledger.h"
#include "report/report.h"
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

// A report handed over with --report: its bytes' digest and the image it says it is about.
struct HandedReport {
    std::string path;
    std::string digest;     // hex SHA-256 of the file's bytes
    std::string image_hex;  // from its image.hash; empty when it does not parse as a report
};

// What verify found for one image. The exit status combines them (run_verify).
enum class Verdict { kValid, kNotAnchored, kDisputed, kReportMismatch };

const char* verdict_name(Verdict v) {
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

// A report folder's report.json is small (docs/report.md: at most 1 MiB); more is not one.
constexpr std::size_t kMaxReportBytes = std::size_t{1} << 20;

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

Result<Verdict> verify_one(Reader& chain, ledger::Ledger* ledger, const Target& t,
                           const HandedReport* handed, bool as_json) {
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
    // This image's analyses in the local ledger: matched to the chain's by on-chain id, or by
    // analyst and digest when the ledger has not settled them yet.
    std::vector<ledger::Analysis> local;
    if (ledger) {
        auto mine = ledger->find_by_image(t.hex);
        if (!mine)
            return mine.error();
        local = std::move(*mine);
    }
    std::vector<bool> local_matched(local.size(), false);

    bool mismatch = false;
    std::optional<Error> incomplete;
    std::size_t valid_now = 0;
    ordered_json j{{"image", t.label},
                   {"image_hash", (t.mode.empty() ? "" : t.mode + ":") + t.hex},
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
        // Valid now: neither retracted by its analyst nor disputed by reviewers.
        if (!retracted && status != "disputed")
            ++valid_now;
        const auto m = models.find(uint_field(a, "model-id"));
        const std::string model = m == models.end()
                                      ? "model #" + std::to_string(uint_field(a, "model-id"))
                                      : text(m->second, "name") + " " + text(m->second, "version");
        const std::string chain_digest = hex(a, "report-digest");
        const std::string analyst = principal(a, "analyst");
        std::vector<std::string> local_checks;
        for (std::size_t k = 0; k < local.size(); ++k) {
            const auto& l = local[k];
            const bool same = l.onchain_id
                                  ? *l.onchain_id == id
                                  : l.analyst == analyst && l.report_digest == chain_digest;
            if (!same)
                continue;
            local_matched[k] = true;
            auto check = check_local(l, chain_digest, &mismatch);
            if (!check) {
                if (!incomplete)
                    incomplete = check.error();
                local_checks.push_back("cannot read the local report: " + check.error().message());
            } else {
                local_checks.push_back(*check);
            }
        }
        if (handed && handed->digest == chain_digest)
            local_checks.push_back("the report " + handed->path + " matches it");
        if (local_checks.empty())
            local_checks.push_back("no local report");
        ordered_json checks = local_checks;
        j["analyses"].push_back({{"analysis_id", id},
                                 {"model", model},
                                 {"finding", text(a, "finding")},
                                 {"confidence_bp", uint_field(a, "confidence")},
                                 {"analyst", analyst},
                                 {"block_height", uint_field(a, "block-height")},
                                 {"time", utc(uint_field(a, "block-time"))},
                                 {"status", status},
                                 {"confirmations", uint_field(a, "confirmations")},
                                 {"disputes", uint_field(a, "disputes")},
                                 {"report_digest", chain_digest},
                                 {"local_report", checks}});
        if (!as_json) {
            std::cout << "  analysis #" << id << ": " << text(a, "finding") << " at "
                      << uint_field(a, "confidence") << " bp, by " << model << "\n"
                      << "    analyst " << analyst << ", block " << uint_field(a, "block-height")
                      << " at " << utc(uint_field(a, "block-time")) << "\n"
                      << "    status " << status << " (" << uint_field(a, "confirmations")
                      << " confirmed, " << uint_field(a, "disputes") << " disputed)"
                      << (retracted ? ", retracted with reason " +
                                          std::to_string(uint_field(a, "retraction-reason"))
                                    : "")
                      << "\n    report digest " << chain_digest << "\n";
            for (const auto& c : local_checks)
                std::cout << "      " << c << "\n";
        }
    }
    // Recorded here, not (yet) on chain: said, not judged.
    ordered_json waiting = ordered_json::array();
    for (std::size_t k = 0; k < local.size(); ++k) {
        if (local_matched[k])
            continue;
        waiting.push_back(
            {{"ledger_id", local[k].id}, {"state", ledger::to_string(local[k].state)}});
        if (!as_json) {
            std::cout << "  recorded locally as #" << local[k].id << " ("
                      << ledger::to_string(local[k].state) << "), not on chain\n";
        }
    }
    j["local_only"] = waiting;

    // A report handed over must be about this image and carry the digest of one of its
    // analyses.
    std::string handed_check;
    if (handed) {
        if (!handed->image_hex.empty() && handed->image_hex != t.hex) {
            mismatch = true;
            handed_check = "THE REPORT " + handed->path + " IS ABOUT ANOTHER IMAGE (" +
                           handed->image_hex + ")";
        } else if (total == 0) {
            handed_check = "the report " + handed->path + " cannot match: nothing is anchored";
        } else if (std::none_of(analyses.begin(), analyses.end(), [&](const Value& a) {
                       return hex(a, "report-digest") == handed->digest;
                   })) {
            mismatch = true;
            handed_check = "THE REPORT " + handed->path +
                           " MATCHES NO ANCHORED DIGEST OF THIS IMAGE (its SHA-256 is " +
                           handed->digest + ")";
        } else {
            handed_check = "the report " + handed->path + " matches an anchored digest";
        }
        j["report"] = {{"file", handed->path}, {"digest", handed->digest}, {"check", handed_check}};
    }

    Verdict v = mismatch         ? Verdict::kReportMismatch
                : total == 0     ? Verdict::kNotAnchored
                : valid_now == 0 ? Verdict::kDisputed
                                 : Verdict::kValid;
    j["valid"] = valid_now;
    j["verdict"] = verdict_name(v);
    if (incomplete)
        j["error"] = {{"code", error_info(incomplete->code()).name},
                      {"message", incomplete->message()}};
    if (as_json) {
        std::cout << j.dump() << "\n";
    } else {
        if (!handed_check.empty())
            std::cout << "  " << handed_check << "\n";
        const char* line = v == Verdict::kReportMismatch ? "REPORT MISMATCH: a report differs from "
                                                           "the digest anchored on chain"
                           : v == Verdict::kNotAnchored  ? "NOT ANCHORED"
                           : v == Verdict::kDisputed
                               ? "DISPUTED: anchored, but every analysis is retracted or disputed"
                               : "VERIFIED: a valid analysis is anchored";
        std::cout << "  " << line << "\n";
    }
    if (incomplete && v != Verdict::kReportMismatch)
        return *incomplete;
    return v;
}

// One file's error, said at once with its name and kind; the batch goes on.
void report_file_error(const std::string& file, const Error& e, bool as_json) {
    const std::string message =
        e.message().find(file) == std::string::npos ? file + ": " + e.message() : e.message();
    if (as_json) {
        std::cout << ordered_json{{"image", file},
                                  {"error",
                                   {{"code", error_info(e.code()).name}, {"message", message}}}}
                         .dump()
                  << "\n";
    }
    std::cerr << "medanchor: " << message << " [" << error_info(e.code()).name << "]\n";
}

}  // namespace

Status run_verify(const VerifyRequest& r) {
    if (!r.files.empty() && !r.hash.empty())
        return Error(ErrorCode::kInvalidArgument, "give image files or --hash HEX, not both");
    if (r.files.empty() && r.hash.empty() && r.report.empty()) {
        return Error(ErrorCode::kInvalidArgument,
                     "give image files or folders, --hash HEX, or --report FILE");
    }
    auto config = chain_config(r.chain);
    if (!config)
        return config.error();
    Reader chain(*config);

    // A report handed over: hashed as it is, byte for byte (the anchored digest covers exact
    // bytes); parsed only to learn which image it is about.
    std::optional<HandedReport> handed;
    std::string handed_hash;
    if (!r.report.empty()) {
        auto text = read_regular_text_file(r.report, kMaxReportBytes);
        if (!text)
            return text.error();
        handed = HandedReport{r.report, to_hex(sha256(*text)), ""};
        auto parsed = report::from_json(*text);
        if (parsed) {
            handed_hash = parsed->image.hash;
            handed->image_hex = handed_hash.substr(handed_hash.find(':') + 1);
        } else if (r.files.empty() && r.hash.empty()) {
            return Error(parsed.error().code(),
                         r.report + ": " + parsed.error().message() +
                             " (give the image or --hash to check its digest all the same)");
        }
    }

    std::vector<Target> targets;
    std::optional<Error> first_error;
    std::size_t errors = 0;
    if (!r.hash.empty() || (r.files.empty() && handed)) {
        auto t = parse_hash_arg(r.hash.empty() ? handed_hash : r.hash);
        if (!t)
            return t.error();
        if (r.hash.empty())
            t->label = r.report;
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
        std::size_t skipped = 0;
        const auto files = expand_inputs(r.files, &skipped);
        if (files.empty()) {
            return Error(ErrorCode::kNoInput,
                         "no image files (DICOM, PNG, JPEG, TIFF) in the given paths");
        }
        for (const auto& file : files) {
            auto img = image::read_image(file);
            if (!img) {
                ++errors;
                report_file_error(file.string(), img.error(), r.chain.json);
                if (!first_error)
                    first_error = img.error();
                continue;
            }
            const auto h = image::hash_image(*img, key ? &*key : nullptr);
            targets.push_back({file.string(), h.hex(), h.mode_name()});
        }
    }
    if (handed && targets.size() + errors != 1) {
        return Error(ErrorCode::kInvalidArgument, "--report checks one report against one image; " +
                                                      std::to_string(targets.size() + errors) +
                                                      " images were given");
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

    std::map<Verdict, std::size_t> verdicts;
    for (const auto& t : targets) {
        auto v = verify_one(chain, ledger ? &*ledger : nullptr, t, handed ? &*handed : nullptr,
                            r.chain.json);
        if (!v) {
            // The chain could not answer: nothing more can be checked.
            if (v.error().code() == ErrorCode::kNetwork || v.error().code() == ErrorCode::kTimeout)
                return v.error();
            ++errors;
            report_file_error(t.label, v.error(), r.chain.json);
            if (!first_error)
                first_error = v.error();
            continue;
        }
        ++verdicts[*v];
    }
    // The exit status, worst news first (README "Exit codes"): a report that differs (5), an
    // image with nothing anchored (3), an image whose analyses are all retracted or disputed
    // (15), then the first file that could not be checked, then 0.
    const auto n = [&](Verdict v) { return std::to_string(verdicts[v]); };
    if (verdicts[Verdict::kReportMismatch])
        return Error(ErrorCode::kReportMismatch,
                     n(Verdict::kReportMismatch) +
                         " image(s) with a report that differs from the digest anchored on chain");
    if (verdicts[Verdict::kNotAnchored])
        return Error(ErrorCode::kNotAnchored,
                     n(Verdict::kNotAnchored) + " image(s) with no analysis anchored");
    if (verdicts[Verdict::kDisputed])
        return Error(
            ErrorCode::kDisputed,
            n(Verdict::kDisputed) + " image(s) whose every analysis is retracted or disputed");
    if (first_error) {
        return Error(first_error->code(),
                     std::to_string(errors) +
                         " file(s) could not be checked; the first: " + first_error->message());
    }
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
    cmd->add_option("--report", r->report,
                    "a report.json to check against the chain (handed over by someone else); "
                    "its image is the one given, or the one it names");
    add_chain_options(cmd, r->chain, /*needs_key=*/false);
    cmd->footer(
        "Every image is checked and reported. Exit codes, worst first: 5 a local report (in the "
        "ledger's report folder, or --report) differs from the digest anchored on chain; 3 an "
        "image has no analysis anchored; 15 an image's analyses are all retracted or disputed; "
        "then the code of the first file that could not be read; 0 a valid analysis is anchored "
        "for every image and every report matches. 16: no site key; 17: no image files.");
    cmd->callback([&action, r] { action = [r] { return run_verify(*r); }; });
}

}  // namespace medanchor::app
