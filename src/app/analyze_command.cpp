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

#include "app/contract.h"
#include "app/devnet_process.h"
#include "app/file_inputs.h"
#include "app/model_input.h"
#include "app/outbox.h"
#include "app/progress.h"
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
#include "stacks/hash.h"

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
    std::optional<image::InstanceUids> uids;
    fs::path folder;  // <out>/<first 16 hex digits of the hash>
};

// The thresholds in force: the contract's, the model's on chain, and the bundle's own.
struct Thresholds {
    std::uint32_t contract_bp = 0;
    std::uint32_t chain_model_bp = 0;
    std::uint32_t bundle_bp = 0;
    std::optional<std::uint64_t> model_id;
    std::uint32_t highest() const { return std::max({contract_bp, chain_model_bp, bundle_bp}); }
};

std::string file_sha256(const fs::path& path) {
    auto bytes = image::read_file_bytes(path, std::size_t{1} << 30);
    if (!bytes)
        return {};
    return image::to_hex(image::sha256(*bytes));
}

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
    std::size_t skipped = 0;
    const auto files = expand_inputs(r.inputs, &skipped);
    if (files.empty())
        return Error(ErrorCode::kNotFound, "no image files found in the given paths");

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

    // The analyst: the signing key's principal. Its session reads the thresholds now and
    // anchors at the end.
    if (r.anchor) {
        if (auto up = ensure_local_chain(r.chain); !up)
            return up;
    }
    auto session = open_session(r.chain);
    if (!session)
        return session.error();
    const std::string analyst = session->sender();
    Thresholds thresholds;
    thresholds.bundle_bp = static_cast<std::uint32_t>(manifest.min_confidence_bp);
    if (r.anchor) {
        auto t = chain_thresholds(*session, manifest);
        if (!t)
            return t.error();
        t->bundle_bp = thresholds.bundle_bp;
        thresholds = *t;
    }

    auto ledger = ledger::Ledger::open(r.ledger.empty() ? ledger::Ledger::default_path()
                                                        : fs::path(r.ledger));
    if (!ledger)
        return ledger.error();
    const fs::path out = r.out.empty() ? fs::path("medanchor-reports") : fs::path(r.out);
    std::error_code ec;
    fs::create_directories(out, ec);
    if (ec)
        return Error(ErrorCode::kIo,
                     out.string() + ": cannot create the reports folder: " + ec.message());

    std::vector<FileFacts> facts(files.size());
    image::DeidOptions deid_options;
    deid_options.allow_burned_in_annotation = r.allow_burned_in;
    const auto loader = [&](std::size_t i) -> Result<inference::ModalityImage> {
        auto img = image::read_image(files[i]);
        if (!img)
            return img.error();
        FileFacts& f = facts[i];
        f.hash = image::hash_image(*img, &*site_key);
        f.geometry = img->geometry;
        f.info = img->info;
        f.folder = out / f.hash.hex().substr(0, 16);
        std::error_code mk;
        fs::create_directories(f.folder, mk);
        if (mk)
            return Error(ErrorCode::kIo, f.folder.string() + ": cannot create: " + mk.message());
        if (img->info.format == image::SourceFormat::kDicom) {
            // The de-identified copy is what the report cites; the input is never changed.
            const fs::path copy = f.folder / "image.deid.dcm";
            if (auto d = image::deidentify_file(files[i], copy, deid_options, remapper); !d)
                return d.error();
            auto uids = image::read_instance_uids(copy);
            if (!uids)
                return uids.error();
            f.uids = *uids;
        }
        return to_model_input(*img, files[i].string());
    };

    struct Counts {
        std::size_t recorded = 0, again = 0, review = 0, failed = 0;
    } counts;
    Progress progress(r.chain.json ? 0 : files.size(), "images");
    const auto sink = [&](std::size_t i, Result<inference::ItemResult> result) {
        progress.clear_line();
        const std::string name = files[i].string();
        auto fail = [&](const std::string& message) {
            ++counts.failed;
            std::cerr << "medanchor: " << message << "\n";
        };
        if (!result)
            return fail(result.error().message());
        const FileFacts& f = facts[i];
        const auto& p = result->prediction;

        report::AnalysisReport rep;
        rep.medanchor_version = kVersion;
        rep.analyzed_at = report::utc_timestamp(std::chrono::system_clock::now());
        rep.image.hash = f.hash.to_string();
        rep.image.modality = f.info.modality;
        rep.image.rows = f.geometry.rows;
        rep.image.columns = f.geometry.columns;
        rep.image.frames = f.geometry.frames;
        if (f.uids) {
            rep.image.dicom =
                report::DicomReference{f.info.transfer_syntax_uid, f.uids->sop_class, f.uids->study,
                                       f.uids->series, f.uids->sop_instance};
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
            const fs::path png = f.folder / "saliency.png";
            if (auto s = inference::write_saliency_png(*result->saliency, result->input, png); !s) {
                return fail(s.error().message());
            }
            rep.result.saliency = report::Saliency{"saliency.png", file_sha256(png)};
        }
        rep.analyst = analyst;
        if (!r.site_label.empty())
            rep.site = r.site_label;

        auto canonical = report::to_canonical_json(rep);
        if (!canonical)
            return fail(name + ": " + canonical.error().message());
        auto fhir = report::to_fhir(rep);
        if (!fhir)
            return fail(name + ": " + fhir.error().message());
        for (const auto& [file, text] :
             {std::pair{"report.json", *canonical}, std::pair{"report.fhir.json", *fhir}}) {
            if (auto w = write_file_atomically(f.folder / file, text); !w)
                return fail(w.error().message());
        }
        if (f.uids) {
            if (auto w = report::write_dicom_sr(rep, f.folder / "report.sr.dcm"); !w)
                return fail(w.error().message());
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
            entry.saliency_path = (f.folder / "saliency.png").string();
        entry.analyst = analyst;
        entry.state = rep.result.needs_review ? ledger::AnalysisState::kNeedsReview
                                              : ledger::AnalysisState::kPending;
        entry.review_reason = rep.result.review_reason;
        auto added = ledger->add(entry);
        if (!added)
            return fail(name + ": " + added.error().message());
        if (!added->created)
            ++counts.again;
        else if (rep.result.needs_review)
            ++counts.review;
        else
            ++counts.recorded;

        const auto& a = added->analysis;
        if (r.chain.json) {
            nlohmann::ordered_json j{{"file", name},
                                     {"image_hash", rep.image.hash},
                                     {"finding", rep.result.finding_code},
                                     {"confidence_bp", confidence},
                                     {"needs_review", rep.result.needs_review},
                                     {"review_reason", rep.result.review_reason},
                                     {"report", (f.folder / "report.json").string()},
                                     {"report_digest", a.report_digest},
                                     {"ledger_id", a.id},
                                     {"state", ledger::to_string(a.state)},
                                     {"already_recorded", !added->created}};
            std::cout << j.dump() << "\n";
        } else {
            std::cout << name << "\n  " << rep.result.finding_code << " " << percent(confidence)
                      << " (" << confidence << " bp), " << rep.image.hash.substr(0, 28)
                      << "...\n  ";
            if (!added->created) {
                std::cout << "already in the ledger as #" << a.id << " ("
                          << ledger::to_string(a.state) << ")";
            } else if (rep.result.needs_review) {
                std::cout << "needs human review: " << rep.result.review_reason << "; not anchored";
            } else {
                std::cout << "recorded as #" << a.id << ", to anchor";
            }
            std::cout << "\n  report: " << (f.folder / "report.json").string() << "\n";
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
        std::cout << ": " << counts.recorded << " to anchor, " << counts.review
                  << " need human review, " << counts.again << " already recorded, "
                  << counts.failed << " failed\n";
    }

    Status anchored = Status::Ok();
    if (r.anchor) {
        OutboxOptions sync_options;
        sync_options.wait = !r.chain.no_wait;
        auto summary = sync_outbox(*ledger, *session, sync_options);
        if (!summary) {
            anchored = Error(summary.error().code(), "anchoring: " + summary.error().message());
        } else if (!r.chain.json) {
            print_summary(*summary, std::cout);
        }
    } else if (!r.chain.json) {
        std::cout << "not anchored (--no-anchor): `medanchor sync` anchors the pending analyses\n";
    }
    if (!anchored)
        return anchored;
    if (counts.failed) {
        return Error(ErrorCode::kCorrupt, std::to_string(counts.failed) + " of " +
                                              std::to_string(files.size()) +
                                              " image(s) could not be analysed (see above)");
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
    cmd->add_option("--out", r->out, "reports folder: one subfolder per image, named by its hash")
        ->capture_default_str();
    cmd->add_option("--site-key", r->site_key,
                    "site key file (default $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key)");
    cmd->add_option("--ledger", r->ledger,
                    "ledger file (default $MEDANCHOR_LEDGER or ~/.medanchor/ledger.sqlite)");
    cmd->add_option("--site", r->site_label, "a site label written into the reports");
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
        "Without --node, "
        "the embedded local chain is used and started if needed. Reports: OUT/<hash>/report.json "
        "(canonical; its "
        "SHA-256 is anchored), report.fhir.json, report.sr.dcm, image.deid.dcm. Results below the "
        "contract's or "
        "the model's threshold are kept as needing human review and never anchored.");
    cmd->callback([&action, r] { action = [r] { return run_analyze(*r); }; });
}

}  // namespace medanchor::app
