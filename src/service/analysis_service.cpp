#include "service/analysis_service.h"

#include <chrono>
#include <set>

#include "common/encoding.h"
#include "common/file_io.h"
#include "image/deid.h"
#include "image/image_hash.h"
#include "image/instance_uids.h"
#include "image/reader.h"
#include "inference/engine.h"
#include "inference/pipeline.h"
#include "report/dicom_sr.h"
#include "report/fhir.h"
#include "report/report.h"
#include "service/model_input.h"

namespace medanchor::service {

namespace fs = std::filesystem;

namespace {

constexpr const char* kVersion = "0.1.0";

// A saliency PNG is a small overlay at the model's input size; anything larger is not ours.
constexpr std::size_t kMaxSaliencyBytes = std::size_t{64} << 20;

// Every message names the image (the image layer's already do).
Error named(const Error& e, const std::string& name) {
    if (e.message().find(name) != std::string::npos)
        return e;
    std::string message = name;
    message += ": ";
    message += e.message();
    return Error(e.code(), message);
}

}  // namespace

std::optional<Error> BatchOutcome::first_failure() const {
    for (const auto& image : images) {
        if (!image.result)
            return image.result.error();
    }
    return std::nullopt;
}

Result<std::unique_ptr<AnalysisService>> AnalysisService::open(Dependencies dependencies) {
    auto ledger = ledger::Ledger::open(dependencies.ledger_path);
    if (!ledger)
        return ledger.error();
    if (dependencies.compute_threads >= 0)
        inference::set_compute_threads(dependencies.compute_threads);
    return std::unique_ptr<AnalysisService>(
        new AnalysisService(std::move(dependencies), std::move(*ledger)));
}

AnalysisService::AnalysisService(Dependencies dependencies, ledger::Ledger ledger)
    : bundle_(std::move(dependencies.bundle)),
      site_key_(std::move(dependencies.site_key)),
      ledger_path_(ledger.path()),
      store_(std::move(dependencies.store)),
      spill_bytes_(dependencies.spill_bytes),
      ledger_(std::move(ledger)) {}

// What one call needs per image: the loader side (worker threads: read once, decode, hash,
// de-identify in memory, model input; after inference, the report folder drafted) and the sink
// side (the calling thread: record, place the folder, tell the observer).
struct AnalysisService::Run {
    // An analysis drafted (its folder built under a temporary name) and waiting to be staged.
    struct Staged {
        std::size_t i;
        ArtifactStore::Draft draft;
        ledger::NewAnalysis entry;
        std::string review_reason;  // empty: no review needed
    };

    // What the loader learns about image i besides the model input; written by one loader
    // thread, read by the sink after the pipeline hands back i (the pipeline orders the two).
    struct Facts {
        // A DICOM input's de-identified copy (Part 10) and the UIDs the report cites; the
        // identified bytes are dropped by the loader. Released once recorded.
        std::optional<image::DeidentifiedInstance> deid;
        // A large copy's bytes, moved out of `deid` to disk by the loader (spill_bytes_).
        std::optional<ArtifactStore::Spilled> spilled;
        image::ImageHash hash;
        image::Geometry geometry;
        image::ImageInfo info;
        // Set by finish() on a loader thread, read by the sink: the model ran (its finding and
        // confidence are due to the observer), and the outcome: a folder drafted to be staged,
        // or the record found (its missing folder placed again: restored).
        bool inferred = false;
        std::string finding;
        std::uint32_t confidence = 0;
        std::optional<Staged> drafted;
        std::optional<Recorded> found;
        bool restored = false;
    };

    AnalysisService& service;
    const std::vector<ImageSource>& sources;
    const AnalysisOptions& options;
    Observer& observer;
    const inference::ModelManifest& manifest;
    const image::UidRemapper remapper;
    image::DeidOptions deid_options;
    chain::Thresholds thresholds;
    std::optional<std::uint64_t> model_id;
    std::vector<Facts> facts;
    // Analyses whose folder is drafted and whose ledger entry waits for the batch's commit: one
    // SQL transaction (one sync of the journal) for up to kCommitEvery of them, or whatever is
    // staged when kCommitAfter has passed since the first, and the rest at the end of the run.
    // Recorded first, then placed, as for one: a crash before the commit loses drafts only.
    static constexpr std::size_t kCommitEvery = 32;
    static constexpr std::chrono::milliseconds kCommitAfter{250};
    std::vector<Staged> staged;
    std::chrono::steady_clock::time_point first_staged;
    // The analyses this run recorded (behind service.ledger_mutex_): their folders are the
    // calling thread's to place, never restore_folder's.
    std::set<std::int64_t> committed;

    Run(AnalysisService& s, const std::vector<ImageSource>& src, const AnalysisOptions& o,
        Observer& obs)
        : service(s),
          sources(src),
          options(o),
          observer(obs),
          manifest(s.bundle_->manifest),
          remapper(s.site_key_),
          facts(src.size()) {
        deid_options.allow_burned_in_annotation = o.allow_burned_in;
        if (o.terms) {
            thresholds = o.terms->thresholds;
            model_id = o.terms->model_id;
        }
        thresholds.bundle_bp = static_cast<std::uint32_t>(manifest.min_confidence_bp);
    }

    ImageRef ref(std::size_t i) const { return ImageRef{i, sources[i].name()}; }

    // Loader threads decode, hash and de-identify (each input read once, its bytes parsed in
    // memory), and after inference draft each report folder under a temporary name of its own
    // (finish); the sink, on the calling thread, records the drafts in input order and places
    // each write-once, so two inputs with the same pixels end with one folder and one record.
    Result<inference::ModalityImage> load(std::size_t i) {
        const ImageSource& source = sources[i];
        auto bytes = source.load();
        if (!bytes)
            return bytes.error();
        const std::string display = source.path() ? escape_for_display(source.path()->string())
                                                  : escape_for_display(source.name());
        Facts& f = facts[i];
        // The de-identified copy is what the report cites; the source is never changed.
        const fs::path in = source.path() ? *source.path() : fs::path(source.name());
        const bool dicom = image::sniff_magic(**bytes) == image::Magic::kDicom;
        Result<image::Image> img = Error(ErrorCode::kInternal, "not decoded");
        if (dicom && !source.deidentified()) {
            // Decoded and de-identified from one parse; the bytes read go as soon as it is made.
            // A large copy is written to disk from its pieces (spill_bytes_), never joined in
            // memory beside the parsed data set and the decoded pixels; the file goes with
            // `spilled` if the image fails.
            std::optional<ArtifactStore::Spilled> spilled;
            const image::Part10Taker spill =
                [&](std::span<const std::string_view> pieces) -> Result<bool> {
                std::size_t size = 0;
                for (const std::string_view piece : pieces)
                    size += piece.size();
                if (size < service.spill_bytes_)
                    return false;
                auto written = service.store_.spill(pieces);
                if (!written)
                    return written.error();
                spilled.emplace(std::move(*written));
                return true;
            };
            auto d = image::decode_and_deidentify(std::move(*bytes), display, in, deid_options,
                                                  remapper, {}, spill);
            if (!d)
                return d.error();
            if (!d->deid.uids)
                return d->deid.uids.error();
            img = std::move(d->image);
            f.deid = std::move(d->deid);
            if (spilled)
                f.spilled.emplace(std::move(*spilled));
        } else if (dicom) {
            // De-identified under this key already (the listener's spool): cited as it is, its
            // UIDs read from the parse that decodes it.
            auto d = image::decode_with_instance_uids(**bytes, display, source.name());
            if (!d)
                return d.error();
            if (!d->uids)
                return d->uids.error();
            img = std::move(d->image);
            f.deid = image::DeidentifiedInstance{
                std::string((*bytes)->begin(), (*bytes)->end()), std::move(*d->uids), {}};
            bytes->reset();  // the file as read is no longer needed: one copy less at the peak
        } else {
            img = image::decode_image(**bytes, display);
            if (!img)
                return img.error();
            bytes->reset();
        }
        if (f.deid && !f.spilled && f.deid->part10.size() >= service.spill_bytes_) {
            // Written now and dropped from memory: not held beside the model input (which is
            // twice the size of 16-bit pixels) while the image waits for inference.
            auto spilled = service.store_.spill(f.deid->part10);
            if (!spilled)
                return spilled.error();
            f.spilled.emplace(std::move(*spilled));
            std::string().swap(f.deid->part10);
        }
        f.hash = image::hash_image(*img, &service.site_key_);
        f.geometry = img->geometry;
        f.info = img->info;
        return to_model_input(std::move(*img), source.name());
    }

    // On a loader thread (the pipeline's finisher): the report folder drafted, or the record
    // found; the outcome kept in facts[i] for the sink. An error names the image.
    Result<inference::ItemResult> finish(std::size_t i, Result<inference::ItemResult> result) {
        Facts& f = facts[i];
        if (!result) {
            f.deid.reset();  // facts live for the whole run: a failed image's copy goes now
            f.spilled.reset();
            return named(result.error(), sources[i].name());
        }
        const auto& p = result->prediction;
        f.inferred = true;
        f.confidence = static_cast<std::uint32_t>(p.confidence_bp);
        f.finding = manifest.labels[p.finding].code;
        auto recorded = record(i, f, *result, f.confidence);
        f.deid.reset();
        f.spilled.reset();
        if (!recorded)
            return named(recorded.error(), sources[i].name());
        if (*recorded)
            f.found = std::move(**recorded);
        // What the sink needs is in facts[i]; the rest (the saliency map, the display image)
        // goes now.
        return inference::ItemResult{};
    }

    // On the calling thread, in input order: the image's outcome now (a failure, or recorded
    // already), or nullopt: staged for commit().
    Result<std::optional<Recorded>> sink(std::size_t i, Result<inference::ItemResult> result) {
        Facts& f = facts[i];
        if (f.inferred) {
            observer.on_decoded(ref(i), f.hash.to_string());
            observer.on_analysed(ref(i), f.finding, f.confidence);
        }
        if (!result) {
            f.deid.reset();
            f.spilled.reset();
            return named(result.error(), sources[i].name());
        }
        if (f.found) {
            if (f.restored)
                observer.on_folder_restored(ref(i), f.found->analysis);
            return std::optional<Recorded>{std::move(*f.found)};
        }
        if (staged.empty())
            first_staged = std::chrono::steady_clock::now();
        staged.push_back(std::move(*f.drafted));
        f.drafted.reset();
        return std::optional<Recorded>{};
    }

    bool commit_due() const {
        return staged.size() >= kCommitEvery ||
               (!staged.empty() && std::chrono::steady_clock::now() - first_staged >= kCommitAfter);
    }

    // Records every staged analysis in one transaction, then places each folder: the outcome
    // of each staged image, in input order.
    std::vector<std::pair<std::size_t, Result<Recorded>>> commit() {
        std::vector<std::pair<std::size_t, Result<Recorded>>> out;
        if (staged.empty())
            return out;
        std::vector<ledger::NewAnalysis> entries;
        entries.reserve(staged.size());
        for (const auto& st : staged)
            entries.push_back(st.entry);
        Result<std::vector<Result<ledger::AddResult>>> added = Error(ErrorCode::kInternal, "");
        {
            std::lock_guard lock(service.ledger_mutex_);
            added = service.ledger_.add_all(entries);
            if (added) {
                for (const auto& one : *added) {
                    if (one && one->created)
                        committed.insert(one->analysis.id);
                }
            }
        }
        for (std::size_t k = 0; k < staged.size(); ++k) {
            Staged& st = staged[k];
            const std::string& name = sources[st.i].name();
            if (!added) {
                out.emplace_back(st.i, named(added.error(), name));
                continue;
            }
            auto& one = (*added)[k];
            if (!one) {
                out.emplace_back(st.i, named(one.error(), name));
                continue;
            }
            if (!one->created) {
                // Recorded meanwhile (the same pixels earlier in this batch, or another
                // process): its folder is the one to keep; this draft goes.
                out.emplace_back(st.i, already(st.i, one->analysis));
                continue;
            }
            const auto& a = one->analysis;
            // Recorded first, then placed: the ledger holds the report's exact bytes, so a crash
            // in between loses a folder, never the record (`ledger show` prints it).
            auto placed = st.draft.place();
            if (placed && !*placed && holds_report(st.draft.target(), a.report_json))
                placed = true;  // placed meanwhile from this record (restore_folder)
            if (!placed || !*placed) {
                out.emplace_back(
                    st.i, named(Error(ErrorCode::kIo,
                                      "recorded as #" + std::to_string(a.id) +
                                          ", but its report folder " + st.draft.target().string() +
                                          " could not be placed (" +
                                          (placed ? std::string("another writer took the name")
                                                  : placed.error().message()) +
                                          "); `medanchor ledger show " + std::to_string(a.id) +
                                          "` prints the recorded report"),
                                name));
                continue;
            }
            observer.on_recorded(ref(st.i), a, false);
            if (!st.review_reason.empty())
                observer.on_needs_review(ref(st.i), a.id, st.review_reason);
            out.emplace_back(st.i, Recorded{a, false});
        }
        staged.clear();
        return out;
    }

    Result<std::optional<Recorded>> record(std::size_t i, Facts& f,
                                           const inference::ItemResult& item,
                                           std::uint32_t confidence) {
        const ImageSource& source = sources[i];
        const std::string& analyst = options.analyst;
        // Recorded already (a rerun, or the same pixels twice in the inputs): its files stay
        // as they are, byte for byte (a missing folder placed again: restore_folder).
        auto existing = find_recorded(f);
        if (!existing)
            return existing.error();
        if (*existing)
            return already_recorded(f, item, std::move(**existing));

        // One folder per ledger entry, built under a temporary name and placed write-once.
        const std::string folder_name = report::report_folder_name(
            f.hash.hex(), manifest.name, manifest.version, manifest.model_sha256, analyst);
        auto draft = service.store_.begin(folder_name);
        if (!draft) {
            if (draft.error().code() == ErrorCode::kInvalidArgument) {
                // The folder is there: recorded and placed meanwhile (the same pixels earlier
                // in this run, committed by the calling thread since the look above, or another
                // process), or not this ledger's.
                auto meanwhile = find_recorded(f);
                if (!meanwhile)
                    return meanwhile.error();
                if (*meanwhile)
                    return already_recorded(f, item, std::move(**meanwhile));
                return Error(ErrorCode::kInvalidArgument, draft.error().message() + " (ledger " +
                                                              service.ledger_.display_name() + ")");
            }
            return draft.error();
        }
        const fs::path target = draft->target();
        std::optional<image::InstanceUids> uids;
        if (f.deid) {
            if (auto w = write_copy(*draft, f); !w)
                return w.error();
            uids = *f.deid->uids;
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
        rep.model.chain_id = model_id;
        rep.model.calibration_method =
            manifest.calibration.temperature_scaling ? "temperature" : "none";
        rep.model.calibration_temperature =
            report::decimal_string(manifest.calibration.temperature);
        const auto& p = item.prediction;
        rep.result.finding_code = manifest.labels[p.finding].code;
        rep.result.finding_display = manifest.labels[p.finding].display;
        rep.result.confidence_bp = confidence;
        for (std::size_t k = 0; k < manifest.labels.size(); ++k) {
            rep.result.label_probabilities.push_back(
                {manifest.labels[k].code,
                 static_cast<std::uint32_t>(inference::to_basis_points(p.probabilities[k]))});
        }
        if (thresholds.needs_review(confidence)) {
            rep.result.needs_review = true;
            rep.result.review_reason = chain::review_reason(confidence, thresholds);
        }
        rep.result.preprocessing = item.input.steps;
        if (item.saliency) {
            auto digest = write_saliency(*draft, item);
            if (!digest)
                return digest.error();
            rep.result.saliency = report::Saliency{"saliency.png", std::move(*digest)};
        }
        rep.analyst = analyst;
        if (!options.site_label.empty())
            rep.site = options.site_label;

        auto canonical = report::to_canonical_json(rep);
        if (!canonical)
            return canonical.error();
        if (auto w = write_reports(*draft, rep, *canonical); !w)
            return w.error();

        ledger::NewAnalysis entry;
        entry.source_path =
            source.path()
                ? fs::absolute(*source.path()).string()
                : std::string(source.kind() == ImageSource::Kind::kPacsInstance ? "pacs:"
                                                                                : "upload:") +
                      source.name();
        entry.image_hash = f.hash.hex();
        entry.hash_mode = f.hash.mode_name();
        entry.model_sha256 = manifest.model_sha256;
        entry.model_name = manifest.name;
        entry.model_version = manifest.version;
        entry.model_id = model_id;
        entry.finding = rep.result.finding_code;
        entry.confidence_bp = confidence;
        entry.report_json = *canonical;
        if (rep.result.saliency)
            entry.saliency_path = (target / "saliency.png").string();
        entry.analyst = analyst;
        entry.state = rep.result.needs_review ? ledger::AnalysisState::kNeedsReview
                                              : ledger::AnalysisState::kPending;
        entry.review_reason = rep.result.review_reason;
        entry.report_dir = target.string();
        f.drafted.emplace(Staged{i, std::move(*draft), std::move(entry),
                                 rep.result.needs_review ? rep.result.review_reason : ""});
        return std::optional<Recorded>{};
    }

    Result<std::optional<ledger::Analysis>> find_recorded(const Facts& f) {
        std::lock_guard lock(service.ledger_mutex_);
        return service.ledger_.find(f.hash.hex(), manifest.model_sha256, options.analyst);
    }

    // A record found: its missing folder placed again, unless this run recorded it (its folder
    // is the calling thread's to place, perhaps now).
    Result<std::optional<Recorded>> already_recorded(Facts& f, const inference::ItemResult& item,
                                                     ledger::Analysis a) {
        bool ours = false;
        {
            std::lock_guard lock(service.ledger_mutex_);
            ours = committed.count(a.id) != 0;
        }
        if (!ours)
            f.restored = restore_folder(f, item, a);
        return std::optional<Recorded>{Recorded{std::move(a), true}};  // told in order
    }

    // Whether `folder` holds report.json with exactly the bytes `report_json`.
    static bool holds_report(const fs::path& folder, const std::string& report_json) {
        auto text = read_regular_text_file(folder / "report.json", report_json.size() + 1);
        return text && *text == report_json;
    }

    // The de-identified copy into the draft: the spilled file moved in, or written from memory.
    static Status write_copy(const ArtifactStore::Draft& draft, Facts& f) {
        auto w = f.spilled ? draft.adopt("image.deid.dcm", std::move(*f.spilled))
                           : draft.write("image.deid.dcm", f.deid->part10);
        f.spilled.reset();
        return w;
    }

    // saliency.png into the draft; its SHA-256 (hex), which the report cites.
    static Result<std::string> write_saliency(const ArtifactStore::Draft& draft,
                                              const inference::ItemResult& item) {
        const fs::path png = draft.dir() / "saliency.png";
        if (auto s = inference::write_saliency_png(*item.saliency, item.input, png); !s)
            return s.error();
        auto bytes = read_regular_file(png, kMaxSaliencyBytes);
        if (!bytes)
            return bytes.error();
        return to_hex(sha256(*bytes));
    }

    // report.json (exactly `canonical`), its FHIR form, and the DICOM SR of a DICOM image.
    static Status write_reports(const ArtifactStore::Draft& draft,
                                const report::AnalysisReport& rep, std::string_view canonical) {
        auto fhir = report::to_fhir(rep);
        if (!fhir)
            return fhir.error();
        if (auto w = draft.write("report.json", canonical); !w)
            return w;
        if (auto w = draft.write("report.fhir.json", *fhir); !w)
            return w;
        if (rep.image.dicom)
            return report::write_dicom_sr(rep, draft.dir() / "report.sr.dcm");
        return Status::Ok();
    }

    // A record whose report folder is missing (the process died between the record and placing
    // the folder: a killed `analyze`, a worker whose job another took over) has it placed again
    // from the recorded report: report.json the recorded bytes, its FHIR and SR forms made from
    // them, the saliency map made again and checked against the digest the report cites, and
    // the de-identified copy made again from the image now given, checked to be the instance
    // the report cites (UIDs, transfer syntax; the same file under the same options gives the
    // same bytes). True when placed. Best effort: the record stands either way, and a folder
    // there, or one in another report root, is never touched.
    bool restore_folder(Facts& f, const inference::ItemResult& item, const ledger::Analysis& a) {
        if (!a.report_dir)
            return false;
        const std::string name = report::report_folder_name(
            f.hash.hex(), manifest.name, manifest.version, manifest.model_sha256, options.analyst);
        if (service.store_.folder(name) != fs::path(*a.report_dir))
            return false;
        std::error_code ec;
        if (fs::symlink_status(*a.report_dir, ec).type() != fs::file_type::not_found)
            return false;
        auto rep = report::from_json(a.report_json);
        if (!rep || rep->image.dicom.has_value() != f.deid.has_value() ||
            rep->result.saliency.has_value() != item.saliency.has_value())
            return false;
        if (rep->image.dicom) {
            // The same pixels may come in another instance (other UIDs, another encoding): only
            // the copy of the instance the report cites goes with it.
            const report::DicomReference& cited = *rep->image.dicom;
            const image::InstanceUids& uids = *f.deid->uids;
            if (cited.transfer_syntax_uid != f.info.transfer_syntax_uid ||
                cited.sop_class_uid != uids.sop_class || cited.study_instance_uid != uids.study ||
                cited.series_instance_uid != uids.series ||
                cited.sop_instance_uid != uids.sop_instance)
                return false;
        }
        auto draft = service.store_.begin(name);
        if (!draft)
            return false;
        if (f.deid && !write_copy(*draft, f))
            return false;
        if (rep->result.saliency) {
            auto digest = write_saliency(*draft, item);
            if (!digest || *digest != rep->result.saliency->sha256)
                return false;
        }
        if (!write_reports(*draft, *rep, a.report_json))
            return false;
        auto placed = draft->place();
        return placed && *placed;
    }

    Recorded already(std::size_t i, const ledger::Analysis& a) {
        observer.on_recorded(ref(i), a, true);
        return Recorded{a, true};
    }
};

Result<BatchOutcome> AnalysisService::analyze_batch(const std::vector<ImageSource>& sources,
                                                    const AnalysisOptions& options,
                                                    Observer& observer) {
    if (options.threads < 0)
        return Error(ErrorCode::kInvalidArgument, "--threads must be 0 (all cores) or more");
    if (options.batch < 1 || options.batch > 256)
        return Error(ErrorCode::kInvalidArgument, "--batch must be in 1..256");
    if (options.analyst.empty())
        return Error(ErrorCode::kNoKey, "no analyst: every analysis names its analyst");
    Run run(*this, sources, options, observer);
    BatchOutcome outcome;
    outcome.images.reserve(sources.size());
    const auto loader = [&run](std::size_t i) { return run.load(i); };
    // Each image's slot is filled when its outcome is known: at once, or at its batch's commit.
    const auto finish = [&](std::size_t i, Result<Recorded> recorded) {
        if (!recorded) {
            ++outcome.failed;
            observer.on_failed(run.ref(i), recorded.error());
        } else if (recorded->already_recorded) {
            ++outcome.already_recorded;
        } else if (recorded->analysis.state == ledger::AnalysisState::kNeedsReview) {
            ++outcome.needs_review;
        } else {
            ++outcome.recorded;
        }
        outcome.images[i].result = std::move(recorded);
    };
    const auto commit = [&] {
        for (auto& [i, recorded] : run.commit())
            finish(i, std::move(recorded));
    };
    const auto sink = [&](std::size_t i, Result<inference::ItemResult> result) {
        outcome.images.push_back(
            ImageOutcome{run.ref(i), Error(ErrorCode::kInternal, "not finished")});
        auto now = run.sink(i, std::move(result));
        // Observers hear of the images in input order: what is staged before an image known
        // now (a failure, a record found) is committed first.
        if (!now || *now)
            commit();
        if (!now) {
            finish(i, now.error());
        } else if (*now) {
            observer.on_recorded(run.ref(i), (*now)->analysis, true);
            finish(i, std::move(**now));
        }
        if (run.commit_due())
            commit();
    };
    inference::PipelineOptions pipeline;
    pipeline.finish = [&run](std::size_t i, Result<inference::ItemResult> result) {
        return run.finish(i, std::move(result));
    };
    pipeline.threads = options.threads;
    pipeline.batch = options.batch;
    pipeline.saliency = options.saliency;
    if (auto ran = inference::run_pipeline(*bundle_, sources.size(), loader, sink, pipeline); !ran)
        return ran.error();
    commit();
    return outcome;
}

Result<Recorded> AnalysisService::analyze(const ImageSource& source, const AnalysisOptions& options,
                                          Observer& observer) {
    AnalysisOptions one = options;
    one.batch = 1;
    if (one.threads == 0)
        one.threads = 1;
    auto outcome = analyze_batch({source}, one, observer);
    if (!outcome)
        return outcome.error();
    return std::move(outcome->images.front().result);
}

}  // namespace medanchor::service
