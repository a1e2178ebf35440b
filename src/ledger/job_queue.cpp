// The job queue's statements (job_queue.h). Unlike the ledger's, they are PostgreSQL's own
// (FOR UPDATE SKIP LOCKED, timestamptz and now(), make_interval): the queue exists only on a
// PostgreSQL ledger. Each claim, heartbeat, completion and failure is one statement, run as its
// own transaction at READ COMMITTED (the backend's execute() outside transaction()): SKIP LOCKED
// is what keeps claimers apart, and a SERIALIZABLE claim would only add conflicts to retry.
#include "ledger/job_queue.h"

#include <algorithm>
#include <unordered_map>

#include "ledger/backend.h"
#include "ledger/ledger.h"

namespace medanchor::ledger {

namespace {

// Seconds of age, whole, as PostgreSQL computes them from its own clock. (Built by appending:
// GCC 12 at -O3 reports a false -Wrestrict on std::string::replace,
// cmake/Gcc12FalsePositives.cmake.)
std::string age_of(const std::string& column) {
    std::string out = "COALESCE(floor(extract(epoch FROM now() - ";
    out += column;
    out += "))::bigint, 0)";
    return out;
}

std::string lease_sql(int param) {
    std::string out = "now() + make_interval(secs => ?";
    out += std::to_string(param);
    out += ')';
    return out;
}

}  // namespace

const char* to_string(JobState state) {
    switch (state) {
        case JobState::kQueued:
            return "queued";
        case JobState::kClaimed:
            return "claimed";
        case JobState::kDone:
            return "done";
        case JobState::kFailed:
            return "failed";
    }
    return "failed";
}

JobQueue::JobQueue(std::unique_ptr<LedgerBackend> db, int max_attempts)
    : db_(std::move(db)), max_attempts_(max_attempts) {}
JobQueue::JobQueue(JobQueue&&) noexcept = default;
JobQueue& JobQueue::operator=(JobQueue&&) noexcept = default;
JobQueue::~JobQueue() = default;

const std::string& JobQueue::display_name() const {
    return db_->name();
}

Result<JobQueue> JobQueue::open(const std::filesystem::path& location, int max_attempts) {
    if (!is_postgres_location(location.native())) {
        return Error(ErrorCode::kUnsupported,
                     location.string() +
                         ": the job queue needs a PostgreSQL ledger (--ledger postgresql://...): "
                         "workers on several machines claim jobs with FOR UPDATE SKIP LOCKED and "
                         "leases on the database server's clock, which an SQLite file does not "
                         "offer; for one machine, `medanchor analyze` does the same work");
    }
    if (max_attempts < 1)
        return Error(ErrorCode::kInvalidArgument, "the job queue's max attempts must be 1 or more");
    auto backend = open_postgres_backend(location);
    if (!backend)
        return backend.error();
    return JobQueue(std::move(*backend), max_attempts);
}

Result<EnqueueResult> JobQueue::enqueue(const std::vector<std::string>& paths,
                                        const std::string& model_sha256, const std::string& analyst,
                                        bool requeue) {
    return add_jobs(paths, model_sha256, analyst, requeue, /*deidentified=*/false);
}

Result<EnqueueResult> JobQueue::enqueue_deidentified(const std::vector<std::string>& paths,
                                                     const std::string& model_sha256,
                                                     const std::string& analyst) {
    return add_jobs(paths, model_sha256, analyst, /*requeue=*/false, /*deidentified=*/true);
}

Result<EnqueueResult> JobQueue::add_jobs(const std::vector<std::string>& paths,
                                         const std::string& model_sha256,
                                         const std::string& analyst, bool requeue,
                                         bool deidentified) {
    EnqueueResult out;
    const Status s = db_->transaction("enqueueing jobs", [&]() -> Status {
        out = {};  // the body may run again after a serialization conflict
        for (const auto& path : paths) {
            auto added = db_->execute(
                "INSERT INTO jobs (path, model_sha256, analyst, deidentified) VALUES (?1, ?2, ?3, "
                "?4) ON CONFLICT (path, model_sha256, analyst) DO NOTHING",
                {text(path), text(model_sha256), text(analyst),
                 text(deidentified ? "true" : "false")},
                "enqueueing " + path);
            if (!added)
                return added.error();
            if (*added == 1) {
                ++out.queued;
                continue;
            }
            ++out.already_queued;
            if (!requeue)
                continue;
            auto again = db_->execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, last_error = NULL, "
                "analysis_id = NULL, lease_expires_at = NULL, updated_at = now() "
                "WHERE path = ?1 AND model_sha256 = ?2 AND analyst = ?3 "
                "AND state IN ('done', 'failed')",
                {text(path), text(model_sha256), text(analyst)}, "requeueing " + path);
            if (!again)
                return again.error();
            out.requeued += static_cast<std::size_t>(*again);
        }
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return out;
}

Result<std::vector<ClaimedJob>> JobQueue::claim(std::size_t batch, const std::string& worker,
                                                std::chrono::seconds lease,
                                                const std::string& model_sha256,
                                                const std::string& analyst) {
    // A job whose worker died max_attempts times is not handed to a fourth: it may be what
    // kills them.
    auto spent = db_->execute(
        "UPDATE jobs SET state = 'failed', updated_at = now(), last_error = 'claimed ' || "
        "attempts || ' times and its lease expired each time (worker ' || worker || "
        "' was the last)' WHERE state = 'claimed' AND lease_expires_at < now() AND attempts >= ?1",
        {number(max_attempts_)}, "failing jobs whose leases expired too often");
    if (!spent)
        return spent.error();
    std::vector<ClaimedJob> out;
    // One statement: the rows are locked as they are picked (SKIP LOCKED passes over rows
    // another claimer holds), and updated before the lock is released at commit.
    auto claimed = db_->execute(
        "WITH picked AS (SELECT id FROM jobs WHERE model_sha256 = ?1 AND analyst = ?2 AND "
        "(state = 'queued' OR (state = 'claimed' AND lease_expires_at < now() AND attempts < ?6)) "
        "ORDER BY id LIMIT ?3 FOR UPDATE SKIP LOCKED) "
        "UPDATE jobs SET state = 'claimed', worker = ?4, attempts = jobs.attempts + 1, "
        "claimed_at = now(), heartbeat_at = now(), lease_expires_at = " +
            lease_sql(5) +
            ", updated_at = now() FROM picked WHERE jobs.id = picked.id "
            "RETURNING jobs.id, jobs.path, jobs.attempts, jobs.deidentified",
        {text(model_sha256), text(analyst), unsigned_number(batch), text(worker),
         number(lease.count()), number(max_attempts_)},
        "claiming jobs", [&](const SqlRow& row) {
            out.push_back(
                {row.i64(0), row.text(1), static_cast<int>(row.i64(2)), row.text(3) == "t"});
        });
    if (!claimed)
        return claimed.error();
    std::sort(out.begin(), out.end(),
              [](const ClaimedJob& a, const ClaimedJob& b) { return a.id < b.id; });
    return out;
}

Result<std::size_t> JobQueue::heartbeat(const std::string& worker, std::chrono::seconds lease) {
    auto n =
        db_->execute("UPDATE jobs SET heartbeat_at = now(), lease_expires_at = " + lease_sql(2) +
                         " WHERE state = 'claimed' AND worker = ?1",
                     {text(worker), number(lease.count())}, "extending the leases of " + worker);
    if (!n)
        return n.error();
    return static_cast<std::size_t>(*n);
}

Result<bool> JobQueue::complete(std::int64_t job_id, std::int64_t analysis_id) {
    auto n = db_->execute(
        "UPDATE jobs SET state = 'done', analysis_id = ?2, last_error = NULL, "
        "lease_expires_at = NULL, updated_at = now() WHERE id = ?1 AND state <> 'done'",
        {number(job_id), number(analysis_id)}, "completing job " + std::to_string(job_id));
    if (!n)
        return n.error();
    return *n == 1;
}

Result<bool> JobQueue::fail(std::int64_t job_id, const std::string& worker,
                            const std::string& error, bool permanent) {
    auto n = db_->execute(
        "UPDATE jobs SET last_error = ?3, lease_expires_at = NULL, updated_at = now(), "
        "state = CASE WHEN ?4 = 1 OR attempts >= ?5 THEN 'failed' ELSE 'queued' END "
        "WHERE id = ?1 AND state = 'claimed' AND worker = ?2",
        {number(job_id), text(worker), text(error), number(permanent ? 1 : 0),
         number(max_attempts_)},
        "failing job " + std::to_string(job_id));
    if (!n)
        return n.error();
    return *n == 1;
}

Result<std::size_t> JobQueue::release_all(const std::string& worker) {
    auto n = db_->execute(
        "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), "
        "lease_expires_at = NULL, updated_at = now() WHERE state = 'claimed' AND worker = ?1",
        {text(worker)}, "giving back the jobs of " + worker);
    if (!n)
        return n.error();
    return static_cast<std::size_t>(*n);
}

Result<std::size_t> JobQueue::release(const std::vector<std::int64_t>& job_ids,
                                      const std::string& worker) {
    std::size_t released = 0;
    for (std::int64_t id : job_ids) {
        auto n = db_->execute(
            "UPDATE jobs SET state = 'queued', attempts = GREATEST(attempts - 1, 0), "
            "lease_expires_at = NULL, updated_at = now() "
            "WHERE id = ?1 AND state = 'claimed' AND worker = ?2",
            {number(id), text(worker)}, "releasing job " + std::to_string(id));
        if (!n)
            return n.error();
        released += static_cast<std::size_t>(*n);
    }
    return released;
}

Result<std::size_t> JobQueue::unfinished(const std::string& model_sha256,
                                         const std::string& analyst) {
    std::size_t n = 0;
    auto r = db_->execute(
        "SELECT count(*) FROM jobs WHERE model_sha256 = ?1 AND analyst = ?2 AND "
        "state IN ('queued', 'claimed')",
        {text(model_sha256), text(analyst)}, "counting unfinished jobs",
        [&](const SqlRow& row) { n = static_cast<std::size_t>(row.i64(0)); });
    if (!r)
        return r.error();
    return n;
}

Result<std::vector<JobView>> JobQueue::lookup(const std::vector<std::string>& paths,
                                              const std::string& model_sha256,
                                              const std::string& analyst) {
    std::vector<JobView> out;
    if (paths.empty())
        return out;
    // The paths as one text[] parameter, written as a PostgreSQL array literal: each element
    // double-quoted, its backslashes and quotes escaped.
    std::string array = "{";
    for (std::size_t i = 0; i < paths.size(); ++i) {
        if (i > 0)
            array += ',';
        array += '"';
        for (char c : paths[i]) {
            if (c == '"' || c == '\\')
                array += '\\';
            array += c;
        }
        array += '"';
    }
    array += '}';
    std::unordered_map<std::string, JobView> found;
    auto r = db_->execute(
        "SELECT id, path, state, analysis_id, COALESCE(last_error, '') FROM jobs "
        "WHERE model_sha256 = ?1 AND analyst = ?2 AND path = ANY(?3::text[])",
        {text(model_sha256), text(analyst), text(array)}, "reading jobs", [&](const SqlRow& row) {
            JobView v;
            v.id = row.i64(0);
            v.path = row.text(1);
            const std::string state = row.text(2);
            v.state = state == "queued"    ? JobState::kQueued
                      : state == "claimed" ? JobState::kClaimed
                      : state == "done"    ? JobState::kDone
                                           : JobState::kFailed;
            if (!row.is_null(3))
                v.analysis_id = row.i64(3);
            v.error = row.text(4);
            found.emplace(v.path, std::move(v));
        });
    if (!r)
        return r.error();
    out.reserve(found.size());
    for (const auto& path : paths) {
        if (auto it = found.find(path); it != found.end())
            out.push_back(it->second);
    }
    return out;
}

Result<QueueStatus> JobQueue::status() {
    QueueStatus out;
    auto counts = db_->execute(
        "SELECT state, count(*), count(*) FILTER (WHERE state = 'claimed' AND "
        "lease_expires_at < now()) FROM jobs GROUP BY state",
        {}, "counting jobs", [&](const SqlRow& row) {
            const std::string state = row.text(0);
            const auto n = static_cast<std::size_t>(row.i64(1));
            if (state == "queued")
                out.queued = n;
            else if (state == "claimed")
                out.claimed = n;
            else if (state == "done")
                out.done = n;
            else if (state == "failed")
                out.failed = n;
            out.expired += static_cast<std::size_t>(row.i64(2));
        });
    if (!counts)
        return counts.error();
    auto workers =
        db_->execute("SELECT worker, count(*), " + age_of("min(claimed_at)") + ", " +
                         age_of("max(heartbeat_at)") +
                         " FROM jobs WHERE state = 'claimed' GROUP BY worker ORDER BY worker",
                     {}, "reading the workers' jobs", [&](const SqlRow& row) {
                         out.workers.push_back({row.text(0), static_cast<std::size_t>(row.i64(1)),
                                                row.i64(2), row.i64(3)});
                     });
    if (!workers)
        return workers.error();
    auto failures = db_->execute(
        "SELECT id, path, COALESCE(last_error, ''), "
        "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM jobs WHERE state = 'failed' ORDER BY updated_at DESC, id DESC LIMIT 5",
        {}, "reading the failed jobs", [&](const SqlRow& row) {
            out.last_failures.push_back({row.i64(0), row.text(1), row.text(2), row.text(3)});
        });
    if (!failures)
        return failures.error();
    return out;
}

}  // namespace medanchor::ledger
