#include "app/analyze_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "app/chain_options.h"
#include "app/contract.h"
#include "app/devnet_process.h"
#include "app/file_inputs.h"
#include "app/model_input.h"
#include "app/outbox.h"
#include "app/progress.h"
#include "common/encoding.h"
#include "common/file_io.h"
#include "image/deid.h"
#include "image/image_hash.h"
#include "image/instance_uids.h"
#include "image/reader.h"
#include "image/site_key.h"
#include "inference/pipeline.h"
#include "ledger/ledger.h"
#include "report/dicom_sr.h"
#include "report/fhir.h"
#include "report/report.h"
#include "stacks/bytes.h"
#include "stacks/c32.h"
#include "stacks/hash.h"
#include "stacks/keys.h"

namespace medanchor::app {
namespace {

namespace fs = std::filesystem;
using stacks::Value;

constexpr const char* kVersion = "0.1.0";

// What the loader learns about image i besides the model input; written by one loader thread,
// read by the sink after the pipeline hands back i (the pipeline orders the two).
struct FileFacts {
    image::ImageHash hash;
    image::Geometry geometry;
    image::ImageInfo info;
};

// A saliency PNG is a small overlay at the model's input size; anything larger is not ours.
constexpr std::size_t kMaxSaliencyBytes = std::size_t{64} << 20;

// The thresholds in force: the contract's, the model's on chain, and the bundle's own.
struct Thresholds {
    std::uint32_t contract_bp = 0;
    std::uint32_t chain_model_bp = 0;
    std::uint32_t bundle_bp = 0;
    std::optional<std::uint64_t> model_id;
    std::uint32_t highest() const { return std::max({contract_bp, chain_model_bp, bundle_bp}); }
};

// Reads the contract's parameters and the model's registration; refuses to go on when nothing
// could be anchored anyway (paused, model unknown or retired), before any image is read.
Result<Thresholds> chain_thresholds(ChainSession& session, const inference::ModelManifest& m) {
    Thresholds t;
    auto params = session.read("get-parameters", {});
    if (!params)
        return Error(params.error().code(),
                     "reading the contract's parameters: " + params.error().message());
    t.contract_bp = static_cast<std::uint32_t>(uint_field(*params, "min-confidence"));
    if (const Value* paused = params->field("paused"); paused && paused->as_bool()) {
        return Error(ErrorCode::kContract,
                     "the contract is paused: no analysis can be anchored now (run with "
                     "--no-anchor to record them "
                     "and `medanchor sync` later)");
    }
    auto hash = stacks::from_hex(m.model_sha256);
    auto id = session.read("get-model-id", {Value::buffer(*hash)});
    if (!id)
        return id.error();
    if (id->kind() != stacks::ValueKind::kSome) {
        return Error(ErrorCode::kNotFound,
                     "model " + m.name + " " + m.version + " (sha256 " + m.model_sha256 +
                         ") is not registered on the contract; an admin registers it with "
                         "`medanchor admin register-model --bundle DIR`");
    }
    t.model_id = static_cast<std::uint64_t>(id->inner().as_uint());
    auto model = session.read("get-model", {Value::uint_(*t.model_id)});
    if (!model)
        return model.error();
    if (model->kind() == stacks::ValueKind::kSome) {
        t.chain_model_bp = static_cast<std::uint32_t>(uint_field(model->inner(), "min-confidence"));
        if (const Value* active = model->inner().field("active"); active && !active->as_bool()) {
            return Error(ErrorCode::kContract,
                         "model " + m.name + " " + m.version + " is retired on the contract");
        }
    }
    return t;
}

std::string review_reason(std::uint32_t confidence, const Thresholds& t) {
    const char* whose = confidence < t.contract_bp      ? "the contract's"
                        : confidence < t.chain_model_bp ? "the model's on-chain"
                                                        : "the model bundle's";
    const std::uint32_t threshold = confidence < t.contract_bp      ? t.contract_bp
                                    : confidence < t.chain_model_bp ? t.chain_model_bp
                                                                    : t.bundle_bp;
    return "confidence " + std::to_string(confidence) + " bp is below " + whose + " threshold of " +
           std::to_string(threshold) + " bp";
}

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

// "already recorded": a rerun leaves the analysis and its folder exactly as they are.
void print_already(const std::string& file, const ledger::Analysis& a, bool json) {
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
            {"already_recorded", true}};
        std::cout << j.dump() << "\n";
        return;
    }
    std::cout << file << "\n  already recorded as #" << a.id << " (" << ledger::to_string(a.state)
              << "); its files are left as they are\n  report: ";
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

Status run_analyze(const AnalyzeRequest& r) {
    if (r.threads < 0)
        return Error(ErrorCode::kInvalidArgument, "--threads must be 0 (all cores) or more");
    if (r.batch < 1 || r.batch > 256)
        return Error(ErrorCode::kInvalidArgument, "--batch must be in 1..256");
    auto bundle =
        inference::load_model_bundle(r.model.empty() ? default_model_dir() : fs::path(r.model));
    if (!bundle)
        return bundle.error();
    const auto& manifest = bundle->manifest;
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
    const image::UidRemapper remapper(*site_key);

    auto config = chain_config(r.chain);
    if (!config)
        return config.error();
    auto who = resolve_analyst(r, *config);
    if (!who)
        return who.error();
    const std::string analyst = who->principal;
    std::optional<ChainSession> session;
    if (who->key)
        session.emplace(*config, *who->key);

    auto ledger = ledger::Ledger::open(r.ledger.empty() ? ledger::Ledger::default_path()
                                                        : fs::path(r.ledger));
    if (!ledger)
        return ledger.error();
    const fs::path out = r.out.empty() ? fs::path("medanchor-reports") : fs::path(r.out);
    if (auto made = make_output_folder(out); !made)
        return made;

    // The thresholds in force. With the chain unreachable, the bundle's own: everything is
    // recorded, and `sync` holds back what the contract's thresholds would refuse.
    Thresholds thresholds;
    thresholds.bundle_bp = static_cast<std::uint32_t>(manifest.min_confidence_bp);
    std::optional<std::string> chain_down;
    if (r.anchor) {
        // A local chain that will not start is a chain that cannot be reached, too.
        const Status up = ensure_local_chain(r.chain);
        Result<Thresholds> read =
            up ? chain_thresholds(*session, manifest) : Result<Thresholds>(up.error());
        if (read) {
            read->bundle_bp = thresholds.bundle_bp;
            thresholds = *read;
        } else if (!up || is_unreachable(read.error().code())) {
            chain_down = read.error().message();
            std::cerr << "medanchor: the chain cannot be reached (" << *chain_down
                      << "); every analysis is recorded and waits for `medanchor sync`\n";
        } else {
            return read.error();
        }
    }

    std::vector<FileFacts> facts(files.size());
    image::DeidOptions deid_options;
    deid_options.allow_burned_in_annotation = r.allow_burned_in;
    // Loader threads decode and hash only; every file is written by the sink, on this thread,
    // in input order, so two inputs with the same pixels never write the same folder at once.
    const auto loader = [&](std::size_t i) -> Result<inference::ModalityImage> {
        auto img = image::read_image(files[i]);
        if (!img)
            return img.error();
        FileFacts& f = facts[i];
        f.hash = image::hash_image(*img, &*site_key);
        f.geometry = img->geometry;
        f.info = img->info;
        return to_model_input(*img, files[i].string());
    };

    struct Counts {
        std::size_t recorded = 0, again = 0, review = 0, failed = 0;
    } counts;
    std::optional<Error> first_failure;
    std::set<std::int64_t> touched;  // the ledger entries of this run's images
    Progress progress(r.chain.json ? 0 : files.size(), "images");
    const auto sink = [&](std::size_t i, Result<inference::ItemResult> result) {
        progress.clear_line();
        const std::string name = files[i].string();
        auto fail = [&](const Error& e) {
            ++counts.failed;
            // Every message names the file (the image layer's already do).
            const Error named(e.code(), e.message().find(name) == std::string::npos
                                            ? name + ": " + e.message()
                                            : e.message());
            if (!first_failure)
                first_failure = named;
            if (r.chain.json) {
                std::cout << nlohmann::ordered_json{{"file", name},
                                                    {"error",
                                                     {{"code", error_info(named.code()).name},
                                                      {"message", named.message()}}}}
                                 .dump()
                          << "\n";
            }
            std::cerr << "medanchor: " << named.message() << " [" << error_info(named.code()).name
                      << "]\n";
            progress.tick();
        };
        if (!result)
            return fail(result.error());
        const FileFacts& f = facts[i];
        const auto& p = result->prediction;

        // Recorded already (a rerun, or the same pixels twice in the inputs): its files stay
        // as they are, byte for byte.
        auto existing = ledger->find(f.hash.hex(), manifest.model_sha256, analyst);
        if (!existing)
            return fail(existing.error());
        if (*existing) {
            ++counts.again;
            touched.insert((*existing)->id);
            print_already(name, **existing, r.chain.json);
            return progress.tick();
        }

        // One folder per ledger entry, built under a temporary name and placed write-once.
        const fs::path target =
            out / report::report_folder_name(f.hash.hex(), manifest.name, manifest.version,
                                             manifest.model_sha256, analyst);
        std::error_code ec;
        if (fs::exists(fs::symlink_status(target, ec))) {
            return fail(Error(
                ErrorCode::kInvalidArgument,
                target.string() + " exists but is not in the ledger " + ledger->path().string() +
                    " (written with another ledger, or by hand); medanchor never "
                    "rewrites a report folder: move it away or choose another --out"));
        }
        AtomicFile folder(target);
        const fs::path tmp = folder.temp_path();
        if (!fs::create_directory(tmp, ec) || ec) {
            return fail(
                Error(ErrorCode::kIo,
                      target.string() + ": cannot create the report folder: " + ec.message()));
        }
        std::optional<image::InstanceUids> uids;
        if (f.info.format == image::SourceFormat::kDicom) {
            // The de-identified copy is what the report cites; the input is never changed.
            const fs::path copy = tmp / "image.deid.dcm";
            if (auto d = image::deidentify_file(files[i], copy, deid_options, remapper); !d)
                return fail(d.error());
            auto read = image::read_instance_uids(copy);
            if (!read)
                return fail(read.error());
            uids = *read;
        }

        report::AnalysisReport rep;
        rep.medanchor_version = kVersion;
        rep.analyzed_at = report::utc_timestamp(std::chrono::system_clock::now());
        rep.image.hash = f.hash.to_string();
        rep.image.modality = f.info.modality;
        rep.image.rows = f.geometry.rows;
        rep.image.columns = f.geometry.columns;
        rep.image.frames = f.geometry.frames;
        if (uids) {
            rep.image.dicom = report::DicomReference{f.info.transfer_syntax_uid, uids->sop_class,
                                                     uids->study, uids->series, uids->sop_instance};
        }
        rep.model.name = manifest.name;
        rep.model.version = manifest.version;
        rep.model.sha256 = manifest.model_sha256;
        rep.model.chain_id = thresholds.model_id;
        rep.model.calibration_method =
            manifest.calibration.temperature_scaling ? "temperature" : "none";
        rep.model.calibration_temperature =
            report::decimal_string(manifest.calibration.temperature);
        const auto confidence = static_cast<std::uint32_t>(p.confidence_bp);
        rep.result.finding_code = manifest.labels[p.finding].code;
        rep.result.finding_display = manifest.labels[p.finding].display;
        rep.result.confidence_bp = confidence;
        for (std::size_t k = 0; k < manifest.labels.size(); ++k) {
            rep.result.label_probabilities.push_back(
                {manifest.labels[k].code,
                 static_cast<std::uint32_t>(inference::to_basis_points(p.probabilities[k]))});
        }
        if (confidence < thresholds.highest()) {
            rep.result.needs_review = true;
            rep.result.review_reason = review_reason(confidence, thresholds);
        }
        rep.result.preprocessing = result->input.steps;
        if (result->saliency) {
            const fs::path png = tmp / "saliency.png";
            if (auto s = inference::write_saliency_png(*result->saliency, result->input, png); !s)
                return fail(s.error());
            auto bytes = read_regular_file(png, kMaxSaliencyBytes);
            if (!bytes)
                return fail(bytes.error());
            rep.result.saliency = report::Saliency{"saliency.png", to_hex(sha256(*bytes))};
        }
        rep.analyst = analyst;
        if (!r.site_label.empty())
            rep.site = r.site_label;

        auto canonical = report::to_canonical_json(rep);
        if (!canonical)
            return fail(canonical.error());
        auto fhir = report::to_fhir(rep);
        if (!fhir)
            return fail(fhir.error());
        for (const auto& [file, text] :
             {std::pair{"report.json", *canonical}, std::pair{"report.fhir.json", *fhir}}) {
            if (auto w = write_file_atomically(tmp / file, text); !w)
                return fail(w.error());
        }
        if (uids) {
            if (auto w = report::write_dicom_sr(rep, tmp / "report.sr.dcm"); !w)
                return fail(w.error());
        }

        ledger::NewAnalysis entry;
        entry.source_path = fs::absolute(files[i]).string();
        entry.image_hash = f.hash.hex();
        entry.hash_mode = f.hash.mode_name();
        entry.model_sha256 = manifest.model_sha256;
        entry.model_name = manifest.name;
        entry.model_version = manifest.version;
        entry.model_id = thresholds.model_id;
        entry.finding = rep.result.finding_code;
        entry.confidence_bp = confidence;
        entry.report_json = *canonical;
        if (rep.result.saliency)
            entry.saliency_path =
                (fs::absolute(target).lexically_normal() / "saliency.png").string();
        entry.analyst = analyst;
        entry.state = rep.result.needs_review ? ledger::AnalysisState::kNeedsReview
                                              : ledger::AnalysisState::kPending;
        entry.review_reason = rep.result.review_reason;
        entry.report_dir = fs::absolute(target).lexically_normal().string();
        auto added = ledger->add(entry);
        if (!added)
            return fail(added.error());
        const auto& a = added->analysis;
        touched.insert(a.id);
        if (!added->created) {
            // Another process recorded it since find(): its folder is the one to keep.
            ++counts.again;
            print_already(name, a, r.chain.json);
            return progress.tick();
        }
        // Recorded first, then placed: the ledger holds the report's exact bytes, so a crash in
        // between loses a folder, never the record (`ledger show` prints it).
        auto placed = folder.commit({.replace = false});
        if (!placed || !*placed) {
            return fail(Error(ErrorCode::kIo,
                              "recorded as #" + std::to_string(a.id) + ", but its report folder " +
                                  target.string() + " could not be placed (" +
                                  (placed ? std::string("another writer took the name")
                                          : placed.error().message()) +
                                  "); `medanchor ledger show " + std::to_string(a.id) +
                                  "` prints the recorded report"));
        }
        if (rep.result.needs_review)
            ++counts.review;
        else
            ++counts.recorded;

        if (r.chain.json) {
            nlohmann::ordered_json j{{"file", name},
                                     {"image_hash", rep.image.hash},
                                     {"finding", rep.result.finding_code},
                                     {"confidence_bp", confidence},
                                     {"needs_review", rep.result.needs_review},
                                     {"review_reason", rep.result.review_reason},
                                     {"report", (target / "report.json").string()},
                                     {"report_digest", a.report_digest},
                                     {"ledger_id", a.id},
                                     {"state", ledger::to_string(a.state)},
                                     {"already_recorded", false}};
            std::cout << j.dump() << "\n";
        } else {
            std::cout << name << "\n  " << rep.result.finding_code << " " << percent(confidence)
                      << " (" << confidence << " bp), " << rep.image.hash.substr(0, 28)
                      << "...\n  ";
            if (rep.result.needs_review)
                std::cout << "needs human review: " << rep.result.review_reason << "; not anchored";
            else
                std::cout << "recorded as #" << a.id << ", to anchor";
            std::cout << "\n  report: " << (target / "report.json").string() << "\n";
        }
        progress.tick();
    };

    inference::PipelineOptions options;
    options.threads = r.threads;
    options.batch = r.batch;
    options.saliency = r.saliency;
    if (auto ran = inference::run_pipeline(*bundle, files.size(), loader, sink, options); !ran)
        return ran;
    progress.finish();

    if (!r.chain.json) {
        std::cout << "\nanalysed " << files.size() - counts.failed << " of " << files.size()
                  << " image(s)";
        if (skipped)
            std::cout << " (" << skipped << " non-image file(s) skipped)";
        if (skipped_outputs)
            std::cout << " (" << skipped_outputs << " medanchor output folder(s) skipped)";
        std::cout << ": " << counts.recorded << " to anchor, " << counts.review
                  << " need human review, " << counts.again << " already recorded, "
                  << counts.failed << " failed\n";
    }

    // Anchoring: one outbox per ledger at a time (another analyze or sync may hold it).
    std::optional<Error> refused;            // the node or the contract said no
    std::optional<std::string> why_waiting;  // the analyses stay recorded for `sync`
    if (!r.anchor) {
        why_waiting = "--no-anchor";
    } else if (chain_down) {
        why_waiting = "the chain cannot be reached";
    } else {
        auto lock = ledger::OutboxLock::acquire(
            ledger->path(), std::chrono::seconds(r.chain.timeout_s), [&](long pid) {
                std::cerr << "medanchor: waiting for another medanchor process"
                          << (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string())
                          << " that is anchoring from " << ledger->path().string() << " ...\n";
            });
        if (!lock) {
            if (lock.error().code() != ErrorCode::kTimeout)
                return lock.error();
            why_waiting = lock.error().message();
        } else {
            OutboxOptions sync_options;
            sync_options.wait = !r.chain.no_wait;
            auto summary = sync_outbox(*ledger, *session, sync_options);
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
    if (first_failure) {
        return Error(first_failure->code(),
                     std::to_string(counts.failed) + " of " + std::to_string(files.size()) +
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
    cmd->add_option("--site-key", r->site_key,
                    "site key file (default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key)");
    cmd->add_option("--ledger", r->ledger,
                    "ledger file (default $MEDANCHOR_LEDGER or ~/.medanchor/ledger.sqlite)");
    cmd->add_option("--site", r->site_label, "a site label written into the reports");
    cmd->add_option("--analyst", r->analyst,
                    "the analyst's principal (ST...), for --no-anchor without a key; `sync` "
                    "later needs that principal's key");
    cmd->add_flag("--saliency", r->saliency,
                  "write an occlusion-sensitivity saliency.png per image");
    cmd->add_flag("!--no-anchor", r->anchor, "record only; `medanchor sync` anchors later");
    cmd->add_flag(
        "--allow-burned-in", r->allow_burned_in,
        "analyse images flagged Burned In Annotation = YES (their pixels may show identity)");
    cmd->add_option("--threads", r->threads, "compute threads (default: all cores)");
    cmd->add_option("--batch", r->batch, "images per forward pass")->capture_default_str();
    add_chain_options(cmd, r->chain);
    cmd->footer(
        "The signing key (--key-file) is the analyst's: a professional verified on the contract. "
        "Without --node, the embedded local chain is used and started if needed. Reports: "
        "OUT/<hash16>_<model>-<version>_<sha8>_<analyst>/ with report.json (canonical; its "
        "SHA-256 is anchored), report.fhir.json, report.sr.dcm, image.deid.dcm, written once and "
        "never rewritten. Results below the contract's or the model's threshold are kept as "
        "needing human review and never anchored. Exit 0 when everything is recorded and "
        "anchored (or --no-anchor); 20 when analyses wait for `medanchor sync` (the chain cannot "
        "be reached); the code of the first file that failed; 11/12 when the node or contract "
        "refuses.");
    cmd->callback([&action, r] { action = [r] { return run_analyze(*r); }; });
}

}  // namespace medanchor::app
