// `medanchor listen`'s core (docs/pacs.md): instances arrive by C-STORE (pacs::StoreScp) or from
// Orthanc's change feed, are de-identified on arrival into a spool of DE-IDENTIFIED files under
// the data folder and recorded in the ledger (ledger/pacs_store.h) before the sender is answered,
// grouped by series, analysed through service::AnalysisService once a series has been quiet for
// `stable_after` (or at once per instance), anchored by the caller's chain::AnchoringService, and
// summarised in one DICOM SR per series (report/dicom_sr.h, write_series_sr) that goes back to
// each configured destination through the ledger's durable send queue.
//
// Why a spool on disk and not memory: the listener answers Success only once the instance is
// durable (fsync'd file and ledger row), so a process killed at any instant loses no instance a
// sender was told was stored; the spool holds de-identified copies only, each removed once its
// instance is analysed (the report folder keeps the de-identified copy the report cites).
//
// On a PostgreSQL ledger the assembler analyses nothing itself: a stable series' instances become
// jobs of the shared queue (ledger/job_queue.h) for the workers of the same model and analyst,
// it looks their jobs up every `follow_every`, takes each finished one's outcome (the worker's
// analysis, or the job's error), and writes the SR as above once none is left; anchoring is
// `medanchor anchorer`'s (the caller passes no AnchoringService then; one given is not used).
//
// Threads: the SCP's association workers (intake), one assembler (analysis and SRs), one sender
// (the queue), and in Orthanc mode one follower. Thread safety: start() and stop() from one
// owning thread; stats() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chain/anchoring_service.h"
#include "common/error.h"
#include "image/site_key.h"
#include "pacs/dimse.h"
#include "pacs/store_scp.h"
#include "service/analysis_service.h"

namespace medanchor::dicom {

struct ListenOptions {
    // The DICOM listener; `listen_dimse` false runs without one (Orthanc mode alone).
    bool listen_dimse = true;
    pacs::StoreScpOptions scp;
    // A series is analysed once no instance of it arrived for this long; per_instance analyses
    // every instance as soon as it is stored (and writes the series' SR again each time).
    std::chrono::milliseconds stable_after{std::chrono::seconds(5)};
    bool per_instance = false;
    // Keep each received instance as sent under DATA/originals/ (identified: off by default).
    bool keep_originals = false;
    // The SR cites the instances as the sender had them (their UIDs kept only in the ledger)
    // instead of the de-identified copies.
    bool reference_originals = false;
    std::vector<pacs::DicomPeer> send_to;  // C-STORE destinations of the SR
    std::vector<std::string> stow;         // DICOMweb roots for STOW-RS of the SR
    std::vector<std::string> fhir;         // FHIR endpoints for each image's bundle
    std::string orthanc;                   // Orthanc mode: its REST root; the SR goes back there
    std::chrono::milliseconds orthanc_poll{std::chrono::seconds(1)};
    // Backoff of a failed send: first, doubled each attempt, at most.
    std::chrono::milliseconds retry_first{std::chrono::seconds(1)};
    std::chrono::milliseconds retry_max{std::chrono::seconds(60)};
    // A send that failed this many times (for reasons that pass: the network, a timeout, a
    // destination out of resources) is given up as `failed`; one refused for good (a DIMSE
    // failure status other than 0xA7xx, an association rejected, HTTP 4xx other than 408/429)
    // is given up at once.
    int max_send_attempts = 50;
    // At start, make every failed send pending again (an operator fixed the destination).
    bool retry_failed_sends = false;
    // spool/ (de-identified instances waiting), results/ (series SRs), originals/ (opt-in).
    std::filesystem::path data_dir;
    // Where the de-identified instances wait; empty: data_dir/spool. On a PostgreSQL ledger the
    // workers read them there, at the same absolute path (made absolute at start).
    std::filesystem::path spool_dir;
    // An SQLite file: the listener analyses each stable series itself. A PostgreSQL URI: it
    // queues the series' instances as jobs (ledger/job_queue.h) for `medanchor worker`s of the
    // analysis' model and analyst, follows them, and writes the SR once they are all finished.
    std::filesystem::path ledger_path;
    // How often a queued series' jobs are looked up (on a PostgreSQL ledger).
    std::chrono::milliseconds follow_every{std::chrono::seconds(1)};
    service::AnalysisOptions analysis;
};

// Counters since start (Prometheus names in docs/pacs.md).
struct ListenStats {
    std::uint64_t instances_received = 0;   // stored in the spool and answered Success
    std::uint64_t instances_duplicate = 0;  // already recorded: answered Success, not kept again
    std::uint64_t instances_ignored = 0;    // not an image (SR, presentation state...): not kept
    std::uint64_t instances_refused = 0;    // answered with a failure status
    std::uint64_t images_analysed = 0;
    std::uint64_t images_failed = 0;
    std::uint64_t series_analysed = 0;  // SRs written
    std::uint64_t sends_ok = 0;
    std::uint64_t sends_failed = 0;  // failed attempts (each retried)
    std::uint64_t sends_dead = 0;    // sends given up (state `failed`) by this run
    // Instances a followed feed (Orthanc) could not give for a reason that will not pass (too
    // large, not DICOM, refused by de-identification, gone): recorded, skipped.
    std::uint64_t instances_fetch_failed = 0;
};

// Where a series whose instances wait in the spool stands in this run: instances arrived less
// than stable_after ago (not yet stable), quiet and waiting for the assembler (busy with another
// series), or being analysed now (on a PostgreSQL ledger: queued, and the workers' jobs followed).
enum class SeriesPhase { kReceiving, kWaiting, kAnalysing };

class Listener {
  public:
    // Opens the spool and the ledger's listener tables, starts the SCP (when listen_dimse), the
    // assembler, the sender and the Orthanc follower. Instances spooled by an earlier run are
    // analysed once their series has been quiet for stable_after. `anchoring` (may be null) is
    // notified after each series. REQUIRES: `analysis` and `anchoring` outlive the listener.
    // `site_key` remaps UIDs on arrival, as the analysis does.
    static Result<std::unique_ptr<Listener>> start(ListenOptions options,
                                                   const image::SiteKey& site_key,
                                                   service::AnalysisService& analysis,
                                                   chain::AnchoringService* anchoring);
    ~Listener();  // stop()s
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    std::uint16_t port() const;  // the SCP's; 0 without one
    ListenStats stats() const;
    // The phase of each series this run has seen arrive, by de-identified series UID: a snapshot,
    // meaningful for the series the ledger says have spooled instances (finished series may stay
    // in it; a series spooled by an earlier run is absent until the assembler first looks at it).
    // Thread-safe.
    std::map<std::string, SeriesPhase> phases() const;
    // Stops the SCP (associations in progress finish), then the other threads; what is spooled
    // or queued stays for the next start. Idempotent.
    void stop();

    struct Impl;

  private:
    explicit Listener(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Whether `data_dir` may be the listener's data folder (made private, mode 0700): new, empty, or
// holding something of a listener's (spool, results, reports, originals, ledger.sqlite); else
// kInvalidArgument naming it. Listener::start checks it; a caller that makes anything in the
// folder first (the reports folder) checks it before.
Status check_data_folder(const std::filesystem::path& data_dir);

// Whether instances of this SOP class are analysed: images; not SR, key objects, presentation
// states, RT, waveforms, encapsulated documents, segmentations and the like, which a PACS routing
// a whole study sends too (they are answered Success and not kept).
bool is_image_sop_class(const std::string& sop_class_uid);

// "dimse:AE@HOST:PORT", "stow:URL", "fhir:URL", "orthanc:URL": how a destination is named in the
// send queue and the log.
std::string destination_name(const pacs::DicomPeer& peer);

}  // namespace medanchor::dicom
