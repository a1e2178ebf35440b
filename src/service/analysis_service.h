// The analysis of images, for every front end (the CLI's `analyze`, `medanchor serve`'s uploads,
// `medanchor listen`'s PACS instances): per image, decode once, canonical keyed hash, preprocess
// and infer with the model bundle, a de-identified copy (from the same bytes; the source is never
// changed), the reports (canonical JSON, FHIR R4, DICOM SR, saliency), the ledger record, and a
// write-once report folder (ArtifactStore). It prints nothing, draws no progress, manages no
// process and does not anchor: anchoring is chain::AnchoringService's, over the ledger.
//
// The rules it applies are the product's (README "Analyse, anchor, verify"): an analysis already
// in the ledger (same image, model, analyst) is reported as such and its files are never
// touched; a folder is placed only after its record is in the ledger; results below the
// thresholds in force (chain::Thresholds: the contract's, the model's on chain, the bundle's)
// are recorded as needs_review with the reason; a failing image is reported with its name and
// the others go on.
//
// Ownership and thread safety: the service holds its dependencies for its lifetime — the model
// bundle (shared, immutable), the site key, its own ledger connection and the artifact store. It
// is safe to call analyze() and analyze_batch() from several threads at once: the ledger
// connection is used under the service's mutex (SQLite: one connection per thread, or one behind
// a lock — this is the latter; recording is short, inference runs outside the lock), and each
// call runs its own inference engines. Observer calls come on the calling thread (observer.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chain/threshold_policy.h"
#include "common/error.h"
#include "image/site_key.h"
#include "inference/model_bundle.h"
#include "ledger/ledger.h"
#include "service/artifact_store.h"
#include "service/image_source.h"
#include "service/observer.h"

namespace medanchor::service {

struct AnalysisOptions {
    // The principal the analyses are recorded for (who will anchor them). REQUIRES: a valid
    // Stacks address; the caller checks it against the signing key.
    std::string analyst;
    // What the chain said about this model (thresholds and its id on the contract); nullopt when
    // the chain was not asked or not reachable: the bundle's threshold alone, and the anchoring
    // service holds back later what the contract's would refuse.
    std::optional<chain::AnchoringTerms> terms;
    std::string site_label;  // optional label written into the reports
    bool saliency = false;   // saliency.png per image
    bool allow_burned_in = false;
    int threads = 0;  // loader threads for a batch; 0: one per core
    int batch = 8;    // images per forward pass, 1..256
};

// One image's analysis as recorded: the ledger entry (hash, finding, confidence, state, review
// reason, report folder and digest) and whether it was there before this call.
struct Recorded {
    ledger::Analysis analysis;
    bool already_recorded = false;
};

struct ImageOutcome {
    ImageRef image;
    Result<Recorded> result;  // errors name the image
};

struct BatchOutcome {
    std::vector<ImageOutcome> images;  // in input order
    std::size_t recorded = 0;          // new, to anchor
    std::size_t needs_review = 0;      // new, held for review
    std::size_t already_recorded = 0;
    std::size_t failed = 0;
    // The first failure in input order (the CLI's exit status), if any.
    std::optional<Error> first_failure() const;
};

class AnalysisService {
  public:
    struct Dependencies {
        std::shared_ptr<const inference::ModelBundle> bundle;
        image::SiteKey site_key;
        std::filesystem::path ledger_path;
        ArtifactStore store;
        // The threads inside one operator, for OpenCV and LibTorch: process-wide in both
        // libraries (inference/engine.h), so set once here, by open(), never per call. 0: one per
        // core; -1: leave them as they are (a process holding several services sets them itself).
        int compute_threads = 0;
        // A de-identified copy of this many bytes or more is written to a hidden file in the
        // store by the loader, as soon as it is made, instead of waiting in memory for its
        // report folder (ArtifactStore::Spilled): it is not held beside the model input.
        std::size_t spill_bytes = kDefaultSpillBytes;
    };
    static constexpr std::size_t kDefaultSpillBytes = std::size_t{4} << 20;
    // Opens the ledger and sets the compute threads. Errors: the ledger's (kIo, kCorrupt,
    // kUnsupported).
    static Result<std::unique_ptr<AnalysisService>> open(Dependencies dependencies);

    const inference::ModelBundle& bundle() const { return *bundle_; }
    const ArtifactStore& store() const { return store_; }
    const std::filesystem::path& ledger_path() const { return ledger_path_; }

    // One image (an upload, a PACS instance, a file). Returns the record, or the image's error
    // (also told to observer.on_failed). REQUIRES: options.analyst set.
    Result<Recorded> analyze(const ImageSource& source, const AnalysisOptions& options,
                             Observer& observer);
    // Many images through the batch pipeline (decoding overlaps inference), sharing all
    // per-image logic with analyze(). An Error only for what stops every image (a bad option,
    // the engine cannot be made); each image's own failure is in its ImageOutcome.
    Result<BatchOutcome> analyze_batch(const std::vector<ImageSource>& sources,
                                       const AnalysisOptions& options, Observer& observer);

  private:
    AnalysisService(Dependencies dependencies, ledger::Ledger ledger);
    // One call's per-image logic (analysis_service.cpp).
    struct Run;
    friend struct Run;

    std::shared_ptr<const inference::ModelBundle> bundle_;
    image::SiteKey site_key_;
    std::filesystem::path ledger_path_;
    ArtifactStore store_;
    std::size_t spill_bytes_;
    std::mutex ledger_mutex_;
    ledger::Ledger ledger_;  // guarded by ledger_mutex_
};

}  // namespace medanchor::service
