// The job store over SQLite (the ledger library is where SQLite is touched).
#include "ledger/job_store.h"

#include <sqlite3.h>

#include "ledger/ledger.h"
#include "ledger/sqlite_stmt.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE job_files (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    analysis_id INTEGER,
    error_code TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, idx)
);
CREATE INDEX jobs_by_state ON jobs(state);
PRAGMA user_version = 1;
)sql";

}  // namespace

struct JobStore::Impl : Connection {};

JobStore::JobStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JobStore::JobStore(JobStore&&) noexcept = default;
JobStore& JobStore::operator=(JobStore&&) noexcept = default;
JobStore::~JobStore() = default;

Result<JobStore> JobStore::open(const fs::path& path) {
    auto impl = std::make_unique<Impl>();
    if (auto opened = impl->open(path, "the job store"); !opened)
        return opened.error();
    // WAL with synchronous=FULL: what a client was told (a 202, a file analysed) survives a
    // crash or a power cut once the call returns.
    if (auto s = impl->exec("PRAGMA journal_mode = WAL", "setting WAL mode"); !s)
        return s.error();
    if (auto s = impl->exec("PRAGMA synchronous = FULL", "setting pragmas"); !s)
        return s.error();
    if (auto s = ensure_schema(*impl, "job store", kSchema, kSchemaVersion, "jobs"); !s)
        return s.error();
    return JobStore(std::move(impl));
}

Status JobStore::create(const JobRecord& job) {
    return impl_->transaction("recording job " + job.id, [&]() -> Status {
        Stmt s(impl_->db,
               "INSERT INTO jobs (id, owner, created_at, state) VALUES (?1, ?2, ?3, ?4)");
        if (!s.prepared())
            return impl_->sql_error("recording a job");
        s.bind(1, job.id).bind(2, job.owner).bind(3, job.created_at).bind(4, job.state);
        if (auto r = impl_->run(s, "recording a job"); !r)
            return r;
        for (std::size_t i = 0; i < job.files.size(); ++i) {
            const JobFile& f = job.files[i];
            Stmt fs(impl_->db,
                    "INSERT INTO job_files (job_id, idx, state, analysis_id, error_code, "
                    "error_message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
            if (!fs.prepared())
                return impl_->sql_error("recording a job's files");
            fs.bind(1, job.id).bind(2, static_cast<std::int64_t>(i)).bind(3, f.state);
            fs.bind_opt(4, f.analysis_id).bind(5, f.error_code).bind(6, f.error_message);
            if (auto r = impl_->run(fs, "recording a job's files"); !r)
                return r;
        }
        return Status::Ok();
    });
}

Status JobStore::set_state(const std::string& job_id, const std::string& state) {
    Stmt s(impl_->db, "UPDATE jobs SET state = ?2 WHERE id = ?1");
    if (!s.prepared())
        return impl_->sql_error("updating job " + job_id);
    s.bind(1, job_id).bind(2, state);
    if (s.step() != SQLITE_DONE)
        return impl_->sql_error("updating job " + job_id);
    if (sqlite3_changes(impl_->db) != 1)
        return Error(ErrorCode::kNotFound, impl_->name + ": no job " + job_id);
    return Status::Ok();
}

Status JobStore::save_file(const std::string& job_id, std::size_t index, const JobFile& f) {
    Stmt s(impl_->db,
           "UPDATE job_files SET state = ?3, analysis_id = ?4, error_code = ?5, "
           "error_message = ?6 WHERE job_id = ?1 AND idx = ?2");
    if (!s.prepared())
        return impl_->sql_error("updating job " + job_id);
    s.bind(1, job_id).bind(2, static_cast<std::int64_t>(index)).bind(3, f.state);
    s.bind_opt(4, f.analysis_id).bind(5, f.error_code).bind(6, f.error_message);
    if (s.step() != SQLITE_DONE)
        return impl_->sql_error("updating job " + job_id);
    if (sqlite3_changes(impl_->db) != 1) {
        return Error(ErrorCode::kNotFound,
                     impl_->name + ": no file " + std::to_string(index) + " in job " + job_id);
    }
    return Status::Ok();
}

Result<std::optional<JobRecord>> JobStore::get(const std::string& job_id) {
    Stmt s(impl_->db, "SELECT id, owner, created_at, state FROM jobs WHERE id = ?1");
    if (!s.prepared())
        return impl_->sql_error("reading job " + job_id);
    s.bind(1, job_id);
    const int rc = s.step();
    if (rc == SQLITE_DONE)
        return std::optional<JobRecord>{};
    if (rc != SQLITE_ROW)
        return impl_->sql_error("reading job " + job_id);
    JobRecord job{s.text(0), s.text(1), s.text(2), s.text(3), {}};
    Stmt f(impl_->db,
           "SELECT state, analysis_id, error_code, error_message FROM job_files "
           "WHERE job_id = ?1 ORDER BY idx");
    if (!f.prepared())
        return impl_->sql_error("reading job " + job_id);
    f.bind(1, job_id);
    int frc;
    while ((frc = f.step()) == SQLITE_ROW) {
        JobFile file;
        file.state = f.text(0);
        if (auto id = f.opt_u64(1))
            file.analysis_id = static_cast<std::int64_t>(*id);
        file.error_code = f.text(2);
        file.error_message = f.text(3);
        job.files.push_back(std::move(file));
    }
    if (frc != SQLITE_DONE)
        return impl_->sql_error("reading job " + job_id);
    return std::optional<JobRecord>{std::move(job)};
}

Result<std::vector<JobRecord>> JobStore::unfinished() {
    std::vector<std::string> ids;
    {
        Stmt s(impl_->db,
               "SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at, id");
        if (!s.prepared())
            return impl_->sql_error("listing unfinished jobs");
        int rc;
        while ((rc = s.step()) == SQLITE_ROW)
            ids.push_back(s.text(0));
        if (rc != SQLITE_DONE)
            return impl_->sql_error("listing unfinished jobs");
    }
    std::vector<JobRecord> out;
    for (const auto& id : ids) {
        auto job = get(id);
        if (!job)
            return job.error();
        if (*job)
            out.push_back(std::move(**job));
    }
    return out;
}

Result<std::size_t> JobStore::mark_interrupted() {
    std::size_t jobs = 0;
    auto done = impl_->transaction("marking interrupted jobs", [&]() -> Status {
        if (auto s = impl_->exec("UPDATE job_files SET state = 'interrupted' WHERE state IN "
                                 "('queued', 'analysing') AND job_id IN (SELECT id FROM jobs "
                                 "WHERE state IN ('queued', 'running'))",
                                 "marking interrupted files");
            !s)
            return s;
        if (auto s = impl_->exec(
                "UPDATE jobs SET state = 'interrupted' WHERE state IN ('queued', 'running')",
                "marking interrupted jobs");
            !s)
            return s;
        jobs = static_cast<std::size_t>(sqlite3_changes(impl_->db));
        return Status::Ok();
    });
    if (!done)
        return done.error();
    return jobs;
}

}  // namespace medanchor::ledger
