// `medanchor analyze`: the main job. For each image: decode, de-identify (a copy; the input is
// never changed), canonical keyed hash, preprocess, infer, report (canonical JSON, FHIR, DICOM
// SR, saliency), record in the ledger; then anchor what is fit to anchor through the outbox
// (src/chain/anchoring_service.h), in batches. Results below the contract's or the model's
// threshold are kept as "needs review" and never sent.
//
// Files: each ledger entry (image, model, analyst) gets one report folder, built under a
// temporary name and placed write-once after the entry is recorded; an analysis already in the
// ledger is reported as such and its files are never touched (docs/report.md, "Report folders").
// With the chain unreachable every analysis is still recorded and the run exits
// kNotYetAnchored; a file that fails is reported by name and the others go on.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/cli/chain_options.h"
#include "common/error.h"
#include "image/site_key.h"
#include "inference/model_bundle.h"
#include "service/analysis_service.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

struct AnalyzeRequest {
    std::vector<std::string> inputs;
    std::string model;       // bundle folder; default: the shipped reference model
    std::string out;         // reports folder
    std::string site_key;    // default: $MEDANCHOR_SITE_KEY_FILE or ~/.medanchor/site.key
    std::string ledger;      // default: $MEDANCHOR_LEDGER or ~/.medanchor/ledger.sqlite
    std::string site_label;  // optional label written into reports
    // --analyst: the principal the analyses are recorded for. With --no-anchor it stands in
    // for the signing key; with a key, it must be the key's principal.
    std::string analyst;
    bool saliency = false;
    bool anchor = true;  // --no-anchor: record as pending, anchor later with `sync`
    bool allow_burned_in = false;
    int threads = 0;
    int batch = 8;
    ChainOptions chain;
    AnchorOptions anchoring;
};

// The default bundle: <source root>/models/ct-nodule-sim.
std::filesystem::path default_model_dir();

// What every command that analyses needs, set up from its request the way `analyze` does it
// (shared with `listen`): the site key, the analyst (from the signing key or --analyst), the
// AnalysisService over the ledger and the report store, the analysis options, and the chain's
// thresholds for the model when the chain answers (when it does not, chain_down says why and
// the analyses wait for anchoring). Errors as `analyze`'s (kNoKey, kInvalidArgument, kIo...).
struct AnalysisSetup {
    std::unique_ptr<service::AnalysisService> service;
    service::AnalysisOptions options;
    std::optional<chain::ChainSession> session;  // with the signing key; none without one
    std::optional<std::string> chain_down;
    std::filesystem::path ledger_path;
    std::filesystem::path out;
    std::optional<image::SiteKey> site_key;  // set on success
};
Result<AnalysisSetup> prepare_analysis(const AnalyzeRequest& request,
                                       inference::ModelBundle bundle);

Status run_analyze(const AnalyzeRequest& request);

// The principal analyses are recorded for without anchoring them (`enqueue`, `worker`):
// --analyst, or the principal of the key in --key-file / $MEDANCHOR_KEY_FILE (both given: they
// must agree). kNoKey when neither is given.
Result<std::string> recording_analyst(const AnalyzeRequest& request);

// --site-key, --ledger, --site, --analyst, --saliency, --no-anchor, --allow-burned-in: what every
// command that analyses takes (`analyze`, `listen`).
void add_analysis_options(CLI::App* cmd, AnalyzeRequest& request);
// The same without --no-anchor: for `worker`, which records only.
void add_record_options(CLI::App* cmd, AnalyzeRequest& request);

void add_analyze_command(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
