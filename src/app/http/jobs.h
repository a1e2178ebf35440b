// Upload jobs of `medanchor serve`, over the service layer: an upload is accepted at once and
// analysed in the background, one job at a time in arrival order, by the server's one
// service::AnalysisService (the model bundle loaded once, at start) from the bytes in memory
// (service::ImageSource::bytes: an upload is never written to disk identified). Each file's
// progress comes from the service's Observer into the job, which event streams wait on.
//
// Anchoring is chain::AnchoringService's: one per signing key bound to an account (accounts
// added while serving get theirs at their first upload), started with the server, woken
// (notify()) after each job records analyses, stopped by stop(). The ledger is the durable
// record: an accepted job's images are analysed before stop() returns, and whatever is recorded
// but not yet on chain is anchored by the next server (or `medanchor sync`) after a restart.
//
// Jobs live in memory while the server runs (ids are random, 128 bits) and, with a job store
// (ledger::JobStore, DATA/jobs.sqlite), on disk too: each is recorded before its 202 and every
// change of a file or of its state is written as it happens, so GET /api/jobs/{id} answers after
// a restart; a job the last server did not finish is `interrupted` (the server marks it so at
// start), its files never analysed `interrupted`. Uploads themselves are not kept (unless
// --keep-originals): an interrupted file is sent again by its client. No client file name is kept
// anywhere: a job's files are its upload's parts, numbered in order ("file 1", "file 2").
//
// With a PostgreSQL ledger (JobSettings::queue, docs/scale.md "Front ends: serve and listen on
// PostgreSQL") the service runs no model: its thread de-identifies each accepted DICOM upload
// in memory, writes the copy write-once into the spool (SPOOL/<job id>/<n>.dcm, atomically),
// enqueues the job's copies in the ledger's job queue (ledger::JobQueue) for the bundle's model
// and the uploader's principal, and then follows them (JobQueue::lookup every poll interval)
// as `medanchor worker` processes claim and finish them: queued → analysing (claimed) →
// analysed (the worker's ledger row) or failed (the worker's error, the spool path replaced by
// "file N"). A spool copy is removed once its queue job is done or failed. Nothing is anchored
// here (`medanchor anchorer` is the one writer per key). After a restart the jobs the last
// server left queued or running are followed again (the spool copies that exist are enqueued
// again, which the queue ignores when they are there; a file never spooled is interrupted).
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chain/session.h"
#include "common/error.h"
#include "image/site_key.h"
#include "ledger/job_store.h"
#include "service/analysis_service.h"

namespace medanchor::ledger {
class JobQueue;
}  // namespace medanchor::ledger

namespace medanchor::chain {
class AnchoringService;
class AnchoringObserver;
}  // namespace medanchor::chain

namespace medanchor::http {

using JobFile = ledger::JobFile;

// A job as the store keeps it (id, owner, state, files), with a version for event streams.
struct Job : ledger::JobRecord {
    std::uint64_t version = 0;  // bumped on every change (event streams wait on it)
};

// An account that signs: its principal and its key file (and its name, when known).
struct Signer {
    std::string principal;
    std::string key_file;
    std::string account;
};

// Uploads queued for `medanchor worker` on a PostgreSQL ledger instead of analysed here.
struct QueueSettings {
    std::string ledger;           // the postgresql:// URI
    std::filesystem::path spool;  // absolute; every worker reaches it at this path
    std::string model_sha256;     // the server's bundle: the workers' --model
    std::chrono::milliseconds poll_interval{1000};  // how often the queue is read
};

struct JobSettings {
    chain::ChainConfig chain;  // resolved (chain::resolve)
    bool anchor = true;        // false: record only; `medanchor sync` anchors
    // How often each anchoring service settles what it sent (and retries a chain that was down).
    std::chrono::milliseconds settle_interval{1000};
    // Where uploads are kept as sent, named by their keyed image hash; empty: never stored.
    std::filesystem::path originals;
    // Set: uploads are spooled and queued for workers (see the file comment); anchor is false.
    std::optional<QueueSettings> queue;
};

// Anchoring, per signing key, as the metrics show it.
struct AnchoringState {
    std::string principal;
    std::uint64_t passes = 0;
    std::optional<Error> last_error;  // the last pass failed (chain unreachable...): it retries
};

class JobService {
  public:
    // `analysis` and `site_key` outlive the service. `signers` lists the accounts that sign
    // (read at start() and when an unknown analyst uploads). `store`, when given, keeps every
    // job (the caller marked what an earlier server left unfinished: mark_interrupted()).
    JobService(service::AnalysisService& analysis, const image::SiteKey& site_key,
               JobSettings settings, std::function<std::vector<Signer>()> signers,
               std::optional<ledger::JobStore> store = std::nullopt);
    ~JobService();

    // Starts the worker and, with settings.anchor, an anchoring service per signer. A signer
    // whose key cannot be read is reported on stderr and skipped (its analyses wait).
    void start();
    // Stops taking jobs, analyses every accepted image, stops the anchoring services (a pass
    // under way ends at its next check), joins the threads. Idempotent.
    void stop();

    // Accepts an upload for `signer` (whose principal the analyses are recorded for). Returns
    // the job id; kTimeout once stop() was called (the server answers 503: come back after the
    // restart); the store's error when the job cannot be recorded (nothing is accepted then).
    Result<std::string> submit(const std::string& owner, const Signer& signer,
                               std::vector<std::string> files);
    // A job of this run, or one the store kept from an earlier run (version 0).
    std::optional<Job> get(const std::string& id) const;
    // Waits until the job's version passes `seen`, the timeout passes or stop() is called.
    std::optional<Job> wait_change(const std::string& id, std::uint64_t seen,
                                   std::chrono::milliseconds timeout) const;

    std::size_t queue_depth() const;        // images accepted and not yet analysed
    std::uint64_t images_analysed() const;  // since start
    std::map<std::string, std::uint64_t> errors_by_kind() const;  // failed images
    std::vector<AnchoringState> anchoring() const;
    bool stopping() const;

    // How `signer`'s images are analysed (uploads and, in serve --listen-dicom, the listener's):
    // recorded for its principal, with a saliency map, under the chain's terms for the model
    // when anchoring is on and the chain answers (else the bundle's threshold alone, and the
    // anchoring service holds back what the contract would refuse).
    service::AnalysisOptions analysis_options(const Signer& signer) const;
    // The anchoring service of `signer`, opened and started when missing; null when anchoring
    // is off or the key cannot be read (said once on stderr).
    chain::AnchoringService* anchoring_for(const Signer& signer);

  private:
    struct Pending {
        std::string job_id;
        Signer signer;
        std::vector<std::string> files;
    };
    // A job whose spooled files the queue works on (queue mode).
    struct Followed {
        std::string job_id;
        std::string analyst;
        std::vector<std::size_t> index;  // the job's files that were spooled
        std::vector<std::string> paths;  // their spool copies, as enqueued
        bool enqueued = false;
    };
    class Progress;
    // REQUIRES: mutex_ held. Writes a file's change, or the job's state, to the store (when
    // there is one); a failed write is said on stderr and the job goes on in memory.
    void persist_file(const std::string& job_id, std::size_t index, const JobFile& file);
    void persist_state(const std::string& job_id, const std::string& state);
    void work();
    void run(Pending& job);
    // REQUIRES: mutex_ not held. File `i` of the job failed with `e`.
    void fail_file(const std::string& job_id, std::size_t i, const Error& e);
    // Queue mode: spools the accepted upload; what was spooled is to be enqueued.
    std::optional<Followed> spool(Pending& job);
    // Queue mode: the jobs the last server left unfinished, followed again (or interrupted).
    std::vector<Followed> resume();
    // Queue mode: enqueues what waits to be, reads the state of every followed file and moves
    // its job on. The queue's error (the ledger away) when it cannot: tried again next poll.
    Status poll(std::optional<ledger::JobQueue>& queue, std::vector<Followed>& followed);
    void work_queue();

    service::AnalysisService& analysis_;
    const image::SiteKey& site_key_;
    const JobSettings settings_;
    std::function<std::vector<Signer>()> signers_;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::deque<Pending> queue_;
    std::map<std::string, Job> jobs_;
    mutable std::optional<ledger::JobStore> store_;  // guarded by mutex_
    std::size_t queued_images_ = 0;
    std::uint64_t analysed_ = 0;
    std::map<std::string, std::uint64_t> errors_;
    bool stopping_ = false;
    std::thread worker_;

    mutable std::mutex anchoring_mutex_;
    // Each anchoring service's observer (declared first: destroyed after the services).
    std::vector<std::unique_ptr<chain::AnchoringObserver>> anchoring_logs_;
    // By principal; guarded by anchoring_mutex_ (the services themselves are thread-safe).
    std::map<std::string, std::unique_ptr<chain::AnchoringService>> anchoring_;
    std::map<std::string, std::string> unusable_keys_;  // principal → why, said once
};

// 2 * bytes random hex digits (OpenSSL RAND_bytes); kInternal if the CSPRNG fails.
Result<std::string> random_hex(std::size_t bytes);

}  // namespace medanchor::http
