#include "app/cli/analyze_command.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "app/cli/chain_options.h"
#include "app/cli/progress.h"
#include "app/ops/devnet_process.h"
#include "chain/anchoring_service.h"
#include "chain/contract.h"
#include "chain/threshold_policy.h"
#include "image/site_key.h"
#include "inference/model_bundle.h"
#include "ledger/ledger.h"
#include "service/analysis_service.h"
#include "service/file_inputs.h"
#include "stacks/c32.h"
#include "stacks/keys.h"

namespace medanchor::app {

using namespace medanchor::service;  // the CLI is a shell over the services

using namespace medanchor::chain;  // the CLI is a shell over the chain layer
using namespace medanchor::ops;
namespace {

namespace fs = std::filesystem;
using stacks::Value;

constexpr const char* kVersion = "0.1.0";

std::string percent(std::uint32_t bp) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f%%", bp / 100.0);
    return buffer;
}

// Errors that mean "not now" rather than "no": the analyses wait in the ledger for `sync`.
bool is_unreachable(ErrorCode code) {
    return code == ErrorCode::kNetwork || code == ErrorCode::kTimeout;
}

// Who the analyses are for: the principal written into every report and ledger entry, and the
// key that signs them when this run anchors.
struct Analyst {
    std::string principal;
    std::optional<stacks::PrivateKey> key;
};

Result<std::string> parse_analyst(const std::string& text, const ChainConfig& config) {
    auto address = stacks::parse_address(text);
    const stacks::Network network = stacks_network(config.network);
    const bool mainnet = network == stacks::Network::kMainnet;
    if (!address) {
        return Error(
            ErrorCode::kInvalidArgument,
            "--analyst: " + text + " is not a Stacks address (" + address.error().message() + ")");
    }
    const std::uint8_t v = address->version;
    const bool fits = mainnet ? (v == stacks::kMainnetSingleSig || v == stacks::kMainnetMultiSig)
                              : (v == stacks::kTestnetSingleSig || v == stacks::kTestnetMultiSig);
    if (!fits) {
        return Error(ErrorCode::kInvalidArgument, "--analyst: " + text +
                                                      " is not an address of the " +
                                                      to_string(config.network) + " network");
    }
    return address->to_string();
}

// The signing key when anchoring (it is the analyst); for --no-anchor, --analyst or the key's
// principal. Both given: they must agree, or `sync` would never send these analyses.
Result<Analyst> resolve_analyst(const AnalyzeRequest& r, const ChainConfig& config) {
    Analyst who;
    const char* env = std::getenv("MEDANCHOR_KEY_FILE");
    const bool have_key = !r.chain.key_file.empty() || (env != nullptr && *env != '\0');
    if (!r.anchor && !have_key && r.analyst.empty()) {
        return Error(ErrorCode::kNoKey,
                     "no analyst: every report names the analyst who will anchor it, so "
                     "--no-anchor needs --analyst ST... (their principal; no key is read) or "
                     "--key-file FILE");
    }
    if (r.anchor || have_key) {
        auto key = load_key(r.chain.key_file);
        if (!key) {
            if (key.error().code() == ErrorCode::kNoKey && r.anchor) {
                return Error(ErrorCode::kNoKey,
                             key.error().message() +
                                 "; analyze signs the anchoring transactions with the analyst's "
                                 "key (to record only: --no-anchor --analyst ST...)");
            }
            return key.error();
        }
        who.principal = key->address(stacks_network(config.network)).to_string();
        who.key = std::move(*key);
    }
    if (!r.analyst.empty()) {
        auto given = parse_analyst(r.analyst, config);
        if (!given)
            return given.error();
        if (who.key && *given != who.principal) {
            return Error(ErrorCode::kInvalidArgument, "--analyst " + *given +
                                                          " is not the signing key's principal (" +
                                                          who.principal + ")");
        }
        who.principal = *given;
    }
    return who;
}

}  // namespace

Result<std::string> recording_analyst(const AnalyzeRequest& r) {
    auto config = chain_config(r.chain);
    if (!config)
        return config.error();
    AnalyzeRequest record_only = r;
    record_only.anchor = false;
    auto who = resolve_analyst(record_only, *config);
    if (!who)
        return who.error();
    return who->principal;
}

namespace {

// "already recorded": a rerun leaves the analysis and its folder exactly as they are (a folder
// that was missing is placed again from the record: `restored`).
void print_already(const std::string& file, const ledger::Analysis& a, bool restored, bool json) {
    std::error_code ec;
    const bool folder_there = a.report_dir && fs::is_directory(*a.report_dir, ec);
    if (json) {
        nlohmann::ordered_json j{
            {"file", file},
            {"image_hash", a.hash_mode + ":" + a.image_hash},
            {"finding", a.finding},
            {"confidence_bp", a.confidence_bp},
            {"needs_review", a.state == ledger::AnalysisState::kNeedsReview},
            {"report",
             a.report_dir ? (fs::path(*a.report_dir) / "report.json").string() : std::string()},
            {"report_digest", a.report_digest},
            {"ledger_id", a.id},
            {"state", ledger::to_string(a.state)},
            {"already_recorded", true},
            {"folder_restored", restored}};
        std::cout << j.dump() << "\n";
        return;
    }
    std::cout << file << "\n  already recorded as #" << a.id << " (" << ledger::to_string(a.state)
              << (restored ? "); its missing report folder is placed again from the record\n  "
                             "report: "
                           : "); its files are left as they are\n  report: ");
    if (!a.report_dir)
        std::cout << "none kept (recorded before report folders)";
    else if (!folder_there)
        std::cout << *a.report_dir << " is missing; `medanchor ledger show " << a.id
                  << "` prints the recorded report";
    else
        std::cout << (fs::path(*a.report_dir) / "report.json").string();
    std::cout << "\n";
}

// Makes sure the embedded local chain is up when the command is to use it (devnet, no --node).
Status ensure_local_chain(const ChainOptions& o) {
    if (o.network != "devnet" || !o.node.empty())
        return Status::Ok();
    const DevnetOptions options = default_devnet_options();
    auto state = devnet_status(options);
    if (state && state->running)
        return Status::Ok();
    std::cerr << "starting the local chain (medanchor devnet start) ...\n";
    auto started = start_devnet(options);
    if (!started)
        return started.error();
    return Status::Ok();
}

}  // namespace

fs::path default_model_dir() {
    return source_root() / "models" / "ct-nodule-sim";
}

// Prints each image as the service records it: one line block per image (or one JSON object),
// errors on stderr; a progress line on a terminal in between.
class AnalyzePrinter : public Observer {
  public:
    AnalyzePrinter(std::size_t total, fs::path out, bool json)
        : progress_(json ? 0 : total, "images"), out_(std::move(out)), json_(json) {}

    void on_folder_restored(const ImageRef& image, const ledger::Analysis&) override {
        restored_ = image.index;
    }

    void on_recorded(const ImageRef& image, const ledger::Analysis& a, bool already) override {
        progress_.clear_line();
        if (already) {
            const bool restored = restored_ == image.index;
            print_already(image.name, a, restored, json_);
            if (restored)
                restored_.reset();
            progress_.tick();
            return;
        }
        // The folder as the user named it: --out, then the analysis' folder name.
        const std::string report =
            (out_ / fs::path(a.report_dir.value_or("")).filename() / "report.json").string();
        const bool review = a.state == ledger::AnalysisState::kNeedsReview;
        const std::string hash = a.hash_mode + ":" + a.image_hash;
        if (json_) {
            nlohmann::ordered_json j{
                {"file", image.name},       {"image_hash", hash},
                {"finding", a.finding},     {"confidence_bp", a.confidence_bp},
                {"needs_review", review},   {"review_reason", a.review_reason},
                {"report", report},         {"report_digest", a.report_digest},
                {"ledger_id", a.id},        {"state", ledger::to_string(a.state)},
                {"already_recorded", false}};
            std::cout << j.dump() << "\n";
        } else {
            std::cout << image.name << "\n  " << a.finding << " " << percent(a.confidence_bp)
                      << " (" << a.confidence_bp << " bp), " << hash.substr(0, 28) << "...\n  ";
            if (review)
                std::cout << "needs human review: " << a.review_reason << "; not anchored";
            else
                std::cout << "recorded as #" << a.id << ", to anchor";
            std::cout << "\n  report: " << report << "\n";
        }
        progress_.tick();
    }

    void on_failed(const ImageRef& image, const Error& e) override {
        progress_.clear_line();
        if (json_) {
            std::cout << nlohmann::ordered_json{{"file", image.name},
                                                {"error",
                                                 {{"code", error_info(e.code()).name},
                                                  {"message", e.message()}}}}
                             .dump()
                      << "\n";
        }
        std::cerr << "medanchor: " << e.message() << " [" << error_info(e.code()).name << "]\n";
        progress_.tick();
    }

    void finish() { progress_.finish(); }

  private:
    Progress progress_;
    fs::path out_;
    bool json_;
    std::optional<std::size_t> restored_;  // the image whose folder was just placed again
};

Result<AnalysisSetup> prepare_analysis(const AnalyzeRequest& r, inference::ModelBundle bundle) {
    const fs::path key_path =
        r.site_key.empty() ? image::SiteKey::default_path() : fs::path(r.site_key);
    auto site_key = image::SiteKey::load(key_path);
    if (!site_key) {
        if (site_key.error().code() == ErrorCode::kNoKey) {
            return Error(ErrorCode::kNoKey,
                         key_path.string() +
                             ": no site key; create one with `medanchor site-key new` "
                             "(or pass --site-key FILE)");
        }
        return site_key.error();
    }

    auto config = chain_config(r.chain);
    if (!config)
        return config.error();
    auto who = resolve_analyst(r, *config);
    if (!who)
        return who.error();
    std::optional<ChainSession> session;
    if (who->key)
        session.emplace(*config, *who->key);

    const fs::path ledger_path =
        r.ledger.empty() ? ledger::Ledger::default_path() : fs::path(r.ledger);
    const fs::path out = r.out.empty() ? fs::path("medanchor-reports") : fs::path(r.out);
    auto store = ArtifactStore::open(out);
    if (!store)
        return store.error();
    auto service = AnalysisService::open(AnalysisService::Dependencies{
        std::make_shared<const inference::ModelBundle>(std::move(bundle)), *site_key, ledger_path,
        std::move(*store), r.threads});
    if (!service)
        return service.error();

    AnalysisOptions options;
    options.analyst = who->principal;
    options.site_label = r.site_label;
    options.saliency = r.saliency;
    options.allow_burned_in = r.allow_burned_in;
    options.threads = r.threads;
    options.batch = r.batch;
    // The thresholds in force. With the chain unreachable, the bundle's own: everything is
    // recorded, and `sync` holds back what the contract's thresholds would refuse.
    std::optional<std::string> chain_down;
    if (r.anchor) {
        // A local chain that will not start is a chain that cannot be reached, too.
        const Status up = ensure_local_chain(r.chain);
        // The service holds the bundle now (`bundle` was moved into it).
        const auto& manifest = (*service)->bundle().manifest;
        const std::string label = manifest.name + " " + manifest.version;
        Result<AnchoringTerms> read =
            up ? read_terms(*session, manifest.model_sha256, label,
                            static_cast<std::uint32_t>(manifest.min_confidence_bp))
               : Result<AnchoringTerms>(up.error());
        if (read) {
            options.terms = *read;
        } else if (!up || is_unreachable(read.error().code())) {
            chain_down = read.error().message();
            std::cerr << "medanchor: the chain cannot be reached (" << *chain_down
                      << "); every analysis is recorded and waits for `medanchor sync`\n";
        } else {
            return read.error();
        }
    }

    AnalysisSetup setup;
    setup.service = std::move(*service);
    setup.options = std::move(options);
    setup.session = std::move(session);
    setup.chain_down = std::move(chain_down);
    setup.ledger_path = ledger_path;
    setup.out = out;
    setup.site_key = *site_key;
    return setup;
}

Status run_analyze(const AnalyzeRequest& r) {
    if (r.threads < 0)
        return Error(ErrorCode::kInvalidArgument, "--threads must be 0 (all cores) or more");
    if (r.batch < 1 || r.batch > 256)
        return Error(ErrorCode::kInvalidArgument, "--batch must be in 1..256");
    auto bundle =
        inference::load_model_bundle(r.model.empty() ? default_model_dir() : fs::path(r.model));
    if (!bundle)
        return bundle.error();
    std::size_t skipped = 0, skipped_outputs = 0;
    const auto files = expand_inputs(r.inputs, &skipped, &skipped_outputs);
    if (files.empty()) {
        return Error(
            ErrorCode::kNoInput,
            "no image files (DICOM, PNG, JPEG, TIFF) in the given paths" +
                std::string(skipped ? " (" + std::to_string(skipped) + " other file(s) skipped)"
                                    : ""));
    }

    // The site key keys the image hash and the UID remapping; without it nothing is private.
    auto setup = prepare_analysis(r, std::move(*bundle));
    if (!setup)
        return setup.error();
    auto& service = setup->service;
    const AnalysisOptions& options = setup->options;
    auto& session = setup->session;
    const auto& chain_down = setup->chain_down;
    const fs::path& ledger_path = setup->ledger_path;
    const fs::path& out = setup->out;

    std::vector<ImageSource> sources;
    sources.reserve(files.size());
    for (const auto& file : files)
        sources.push_back(ImageSource::file(file));
    AnalyzePrinter printer(files.size(), out, r.chain.json);
    auto outcome = service->analyze_batch(sources, options, printer);
    if (!outcome)
        return outcome.error();
    printer.finish();
    std::set<std::int64_t> touched;  // the ledger entries of this run's images
    for (const auto& image : outcome->images) {
        if (image.result)
            touched.insert(image.result->analysis.id);
    }

    if (!r.chain.json) {
        std::cout << "\nanalysed " << files.size() - outcome->failed << " of " << files.size()
                  << " image(s)";
        if (skipped)
            std::cout << " (" << skipped << " non-image file(s) skipped)";
        if (skipped_outputs)
            std::cout << " (" << skipped_outputs << " medanchor output folder(s) skipped)";
        std::cout << ": " << outcome->recorded << " to anchor, " << outcome->needs_review
                  << " need human review, " << outcome->already_recorded << " already recorded, "
                  << outcome->failed << " failed\n";
    }

    auto ledger = ledger::Ledger::open(ledger_path);
    if (!ledger)
        return ledger.error();
    // Anchoring: one outbox per ledger at a time (another analyze or sync may hold it).
    std::optional<Error> refused;            // the node or the contract said no
    std::optional<std::string> why_waiting;  // the analyses stay recorded for `sync`
    if (!r.anchor) {
        why_waiting = "--no-anchor";
    } else if (chain_down) {
        why_waiting = "the chain cannot be reached";
    } else {
        auto lock = ledger::OutboxLock::acquire(
            ledger->path(), std::chrono::seconds(r.chain.timeout_s),
            [&](long pid) {
                std::cerr << "medanchor: waiting for another medanchor process"
                          << (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string())
                          << " that is anchoring from " << ledger->display_name() << " ...\n";
            },
            outbox_scope(*session));
        if (!lock) {
            if (lock.error().code() != ErrorCode::kTimeout)
                return lock.error();
            why_waiting = lock.error().message();
        } else {
            AnchoringProgress anchoring(!r.chain.json);
            auto options = outbox_options(r.anchoring);
            if (!options)
                return options.error();
            OutboxOptions sync_options = *options;
            sync_options.wait = !r.chain.no_wait;
            sync_options.observer = &anchoring;
            auto summary = sync_outbox(*ledger, *session, sync_options);
            anchoring.finish();
            if (!summary) {
                if (is_unreachable(summary.error().code()))
                    why_waiting = summary.error().message();
                else
                    refused =
                        Error(summary.error().code(), "anchoring: " + summary.error().message());
            } else if (!r.chain.json) {
                print_summary(*summary, std::cout);
            }
        }
    }
    // What of this run's analyses is recorded but not on chain yet (pending, or broadcast and
    // not confirmed): `sync` anchors or settles it.
    std::size_t waiting = 0;
    for (std::int64_t id : touched) {
        auto a = ledger->get(id);
        if (a && (a->state == ledger::AnalysisState::kPending ||
                  a->state == ledger::AnalysisState::kBroadcast))
            ++waiting;
    }
    if (waiting && !r.chain.json) {
        std::cout << waiting << " analys" << (waiting == 1 ? "is" : "es")
                  << " recorded and waiting to be anchored"
                  << (why_waiting ? " (" + *why_waiting + ")" : std::string())
                  << ": `medanchor sync` anchors them\n";
    }

    // The exit status (README "Exit codes"): the node's or contract's refusal, else the first
    // file that failed, else not-yet-anchored when something waits (not for --no-anchor, which
    // asked for exactly that), else success.
    if (refused)
        return *refused;
    if (auto first_failure = outcome->first_failure()) {
        return Error(first_failure->code(),
                     std::to_string(outcome->failed) + " of " + std::to_string(files.size()) +
                         " image(s) could not be analysed; the first: " + first_failure->message());
    }
    if (waiting && r.anchor) {
        return Error(ErrorCode::kNotYetAnchored,
                     std::to_string(waiting) + " analysis(es) recorded but not anchored yet" +
                         (why_waiting ? " (" + *why_waiting + ")" : std::string()) +
                         "; `medanchor sync` anchors them");
    }
    return Status::Ok();
}

void add_analysis_options(CLI::App* cmd, AnalyzeRequest& r) {
    add_record_options(cmd, r);
    cmd->add_flag("!--no-anchor", r.anchor, "record only; `medanchor sync` anchors later");
}

void add_record_options(CLI::App* cmd, AnalyzeRequest& r) {
    cmd->add_option("--site-key", r.site_key,
                    "site key file (default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key)");
    cmd->add_option("--ledger", r.ledger,
                    "ledger: an SQLite file or a postgresql:// URI (default $MEDANCHOR_LEDGER or "
                    "~/.medanchor/ledger.sqlite)");
    cmd->add_option("--site", r.site_label, "a site label written into the reports");
    cmd->add_option("--analyst", r.analyst,
                    "the analyst's principal (ST...), for --no-anchor without a key; `sync` "
                    "later needs that principal's key");
    cmd->add_flag("--saliency", r.saliency,
                  "write an occlusion-sensitivity saliency.png per image");
    cmd->add_flag(
        "--allow-burned-in", r.allow_burned_in,
        "analyse images flagged Burned In Annotation = YES (their pixels may show identity)");
}

void add_analyze_command(CLI::App& app, CommandAction& action) {
    auto r = std::make_shared<AnalyzeRequest>();
    auto* cmd = app.add_subcommand(
        "analyze",
        "Analyse images and anchor the results: de-identify, hash, infer, report, record, anchor");
    cmd->add_option("PATH", r->inputs,
                    "DICOM/PNG/JPEG/TIFF files or folders (searched recursively)")
        ->required();
    cmd->add_option("--model", r->model,
                    "model bundle folder (default: the shipped models/ct-nodule-sim)");
    cmd->add_option("--out", r->out,
                    "reports folder: one write-once subfolder per analysis (image, model, analyst)")
        ->capture_default_str();
    add_analysis_options(cmd, *r);
    cmd->add_option("--threads", r->threads, "compute threads (default: all cores)");
    cmd->add_option("--batch", r->batch, "images per forward pass")->capture_default_str();
    add_chain_options(cmd, r->chain);
    add_anchor_options(cmd, r->anchoring, /*root_every=*/true);
    cmd->footer(
        "The signing key (--key-file) is the analyst's: a professional verified on the contract. "
        "Without --node, the embedded local chain is used and started if needed. Reports: "
        "OUT/<hash16>_<model>-<version>_<sha8>_<analyst>/ with report.json (canonical; its "
        "SHA-256 is anchored), report.fhir.json, report.sr.dcm, image.deid.dcm, written once and "
        "never rewritten. Results below the contract's or the model's threshold are kept as "
        "needing human review and never anchored. Exit 0 when everything is recorded and "
        "anchored (or --no-anchor); 20 when analyses wait for `medanchor sync` (the chain cannot "
        "be reached, or, with --anchor-mode merkle, their root is not due yet); the code of the "
        "first file that failed; 11/12 when the node or contract "
        "refuses.");
    cmd->callback([&action, r] { action = [r] { return run_analyze(*r); }; });
}

}  // namespace medanchor::app
