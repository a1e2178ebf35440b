// The job queue of a PostgreSQL ledger (docs/scale.md): one row per (input file, model, analyst)
// in the table `jobs`, beside the analyses, so that many stateless workers on many machines share
// the work with nothing but the database between them.
//
// States: queued ─(claim)─► claimed ─(complete)─► done
//                   ▲          │ ─(fail: permanent, or attempts spent)─► failed
//                   └──────────┘ (fail: transient; release; the lease expired)
// A claim takes a batch in one statement (`SELECT ... FOR UPDATE SKIP LOCKED`: two claimers never
// take the same row, and neither waits for the other) and gives each job a lease; a worker's
// heartbeat extends the leases of its jobs; a job whose lease expired (its worker died, or lost
// the database) is claimed again by the next claim, unless it has been claimed max_attempts times,
// when it becomes failed. Lease times are the database server's clock (now()), never a worker's:
// workers on machines whose clocks disagree still agree on leases.
//
// The queue does not analyse: a job is done when its analysis is in the ledger, whose key
// (image hash, model, analyst) is UNIQUE. A job claimed again after its worker recorded the
// analysis but died before complete() finds the analysis there (AnalysisService reports it as
// already recorded) and is simply completed: an image is never recorded twice, however workers
// interleave.
//
// PostgreSQL only: open() refuses an SQLite ledger (kUnsupported). Thread safety: one JobQueue
// per thread (it is one connection); any number of processes may share the queue.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::ledger {

class LedgerBackend;

enum class JobState { kQueued, kClaimed, kDone, kFailed };
// "queued", "claimed", "done", "failed".
const char* to_string(JobState state);

struct ClaimedJob {
    std::int64_t id = 0;
    std::string path;  // absolute, as enqueued
    int attempts = 0;  // claims so far, this one included
    // Queued by a front end that de-identified the file into its spool under the site key
    // (enqueue_deidentified: `medanchor listen`, `medanchor serve`): analysed as it is
    // (service::ImageSource::deidentified_file), never de-identified a second time.
    bool deidentified = false;
};

struct EnqueueResult {
    std::size_t queued = 0;          // new jobs
    std::size_t already_queued = 0;  // the same (path, model, analyst) was there (any state)
    std::size_t requeued = 0;        // done or failed jobs put back (with requeue)
};

// One job as a front end that queued it (serve, listen) follows it: its state, and once done the
// ledger analysis it ended in; once failed, why.
struct JobView {
    std::int64_t id = 0;
    std::string path;
    JobState state = JobState::kQueued;
    std::optional<std::int64_t> analysis_id;  // when done
    std::string error;                        // the last failure's, when failed or retried
};

// What `medanchor status` shows of the queue.
struct WorkerLoad {
    std::string worker;
    std::size_t jobs = 0;                 // claimed now
    std::int64_t oldest_claim_age_s = 0;  // since its oldest job in flight was claimed
    std::int64_t last_heartbeat_age_s = 0;
};
struct JobFailure {
    std::int64_t id = 0;
    std::string path;
    std::string error;
    std::string updated_at;
};
struct QueueStatus {
    std::size_t queued = 0, claimed = 0, done = 0, failed = 0;
    std::size_t expired = 0;  // claimed, lease expired: the next claim takes them back
    std::vector<WorkerLoad> workers;
    std::vector<JobFailure> last_failures;  // newest first, at most 5
};

class JobQueue {
  public:
    // A job claimed this many times (its leases expired, or transient failures) becomes failed.
    static constexpr int kDefaultMaxAttempts = 3;

    // Connects to the PostgreSQL ledger `location` names (migrating its schema, as Ledger::open
    // does). kUnsupported for an SQLite ledger, saying why; the ledger's errors otherwise
    // (kNetwork when the server cannot be reached).
    static Result<JobQueue> open(const std::filesystem::path& location,
                                 int max_attempts = kDefaultMaxAttempts);

    JobQueue(JobQueue&&) noexcept;
    JobQueue& operator=(JobQueue&&) noexcept;
    ~JobQueue();

    const std::string& display_name() const;

    // Adds a job per path for (model_sha256, analyst), in one transaction. Idempotent: a path
    // already queued for the pair, in any state, is counted in already_queued and left alone;
    // with `requeue`, one done or failed goes back to queued with its attempts reset.
    // REQUIRES: absolute paths, model_sha256 64 hex digits, analyst a principal.
    Result<EnqueueResult> enqueue(const std::vector<std::string>& paths,
                                  const std::string& model_sha256, const std::string& analyst,
                                  bool requeue = false);

    // As enqueue (never requeueing), for files a front end (`medanchor listen`, `medanchor
    // serve`) de-identified into its spool under the site key: their jobs are claimed with
    // `deidentified` set. A path already queued keeps the flag it was queued with. REQUIRES:
    // what enqueue requires, and each file the output of image::deidentify_in_memory under the
    // site key the workers use.
    Result<EnqueueResult> enqueue_deidentified(const std::vector<std::string>& paths,
                                               const std::string& model_sha256,
                                               const std::string& analyst);

    // Gives back every job `worker` holds, its attempt uncounted. A worker claims only when it
    // holds nothing, so what it holds then is a claim whose answer it never got (the connection
    // dropped at commit, a PostgreSQL restart): it does not know those jobs, and its heartbeat
    // would keep their leases for ever. Returns how many.
    Result<std::size_t> release_all(const std::string& worker);

    // Claims up to `batch` jobs of (model_sha256, analyst) for `worker`, oldest first: queued
    // ones, and claimed ones whose lease expired. Each claim counts an attempt and holds the job
    // for `lease` from now (server time). First, expired jobs already claimed max_attempts times
    // become failed. Empty when nothing is claimable.
    Result<std::vector<ClaimedJob>> claim(std::size_t batch, const std::string& worker,
                                          std::chrono::seconds lease,
                                          const std::string& model_sha256,
                                          const std::string& analyst);
    // Extends to now + `lease` the lease of every job `worker` holds; how many.
    Result<std::size_t> heartbeat(const std::string& worker, std::chrono::seconds lease);
    // The job's analysis is in the ledger: done, whoever holds it now (a worker whose lease
    // expired may finish after another claimed it; the analysis is the same ledger row). False
    // when the job was done already.
    Result<bool> complete(std::int64_t job_id, std::int64_t analysis_id);
    // The job could not be done by `worker`: failed for good when `permanent` (the file is
    // unreadable or not an image) or when its attempts reach max_attempts, else queued again.
    // `error` is kept (no patient identity: the analysis' error messages name the file and the
    // problem). False when `worker` no longer held it (its lease expired and another took it).
    Result<bool> fail(std::int64_t job_id, const std::string& worker, const std::string& error,
                      bool permanent);
    // Gives back jobs `worker` claimed and never started (a worker stopping): queued again, this
    // claim not counted as an attempt. How many.
    Result<std::size_t> release(const std::vector<std::int64_t>& job_ids,
                                const std::string& worker);

    // Jobs of (model_sha256, analyst) not finished: queued, or claimed by any worker (whose
    // lease may still expire and put them back). `worker --once` stops when none is left.
    Result<std::size_t> unfinished(const std::string& model_sha256, const std::string& analyst);

    // The jobs of (model_sha256, analyst) for these paths, in the order of `paths`; a path with
    // no job is left out. One statement.
    Result<std::vector<JobView>> lookup(const std::vector<std::string>& paths,
                                        const std::string& model_sha256,
                                        const std::string& analyst);
    Result<QueueStatus> status();

  private:
    JobQueue(std::unique_ptr<LedgerBackend> db, int max_attempts);
    Result<EnqueueResult> add_jobs(const std::vector<std::string>& paths,
                                   const std::string& model_sha256, const std::string& analyst,
                                   bool requeue, bool deidentified);
    std::unique_ptr<LedgerBackend> db_;
    int max_attempts_;
};

}  // namespace medanchor::ledger
