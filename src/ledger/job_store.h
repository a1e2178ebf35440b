// The upload jobs of `medanchor serve`, kept so that a job answers after a restart: one SQLite
// file (by default `jobs.sqlite` beside the ledger and users.sqlite), mode 0600. A job is its
// id, the account that uploaded it, its state and, per file in upload order, the file's state,
// its analysis id or its error. Nothing of an upload is kept here: no bytes, no file name.
//
// The ledger stays the record of analyses; this store is what a client was told about its job.
// A server that stops without finishing a job (killed, crashed) leaves it `queued` or `running`:
// the next one marks it `interrupted` (mark_interrupted()), with each file that was never
// analysed marked `interrupted` too, so a client sees what finished and what to send again.
//
// SQLite types stay out of this header. Thread safety: one JobStore per thread, or calls
// serialized by the caller (the server's JobService holds one under its mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::ledger {

struct JobFile {
    std::string state = "queued";  // queued, analysing, analysed, failed, interrupted
    std::optional<std::int64_t> analysis_id;
    std::string error_code;  // common/error.h's name, when failed
    std::string error_message;
};

struct JobRecord {
    std::string id;     // 32 hex digits
    std::string owner;  // the account that uploaded it
    std::string created_at;
    std::string state = "queued";  // queued, running, done, interrupted
    std::vector<JobFile> files;
};

class JobStore {
  public:
    static constexpr int kSchemaVersion = 1;

    // Opens (creating it with mode 0600) and creates the schema. kCorrupt for an SQLite file
    // that is not a job store.
    static Result<JobStore> open(const std::filesystem::path& path);

    JobStore(JobStore&&) noexcept;
    JobStore& operator=(JobStore&&) noexcept;
    ~JobStore();

    // A new job with its files, in one transaction.
    Status create(const JobRecord& job);
    Status set_state(const std::string& job_id, const std::string& state);
    // File `index` (0-based, upload order) of the job.
    Status save_file(const std::string& job_id, std::size_t index, const JobFile& file);
    // nullopt when no job has this id.
    Result<std::optional<JobRecord>> get(const std::string& job_id);
    // Every job left queued or running becomes interrupted, and each of its files never
    // analysed (queued, analysing) interrupted. Returns how many jobs. Only for a store no
    // running server writes to (the server calls it before it takes jobs).
    Result<std::size_t> mark_interrupted();
    // The jobs left queued or running, oldest first, with their files: what a server that
    // queues its uploads for workers (a PostgreSQL ledger) follows again after a restart
    // instead of marking them interrupted.
    Result<std::vector<JobRecord>> unfinished();

  private:
    struct Impl;
    explicit JobStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace medanchor::ledger
