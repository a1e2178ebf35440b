// Upload jobs of `medanchor serve`: accepted at once, analysed in the background on one worker
// thread, in arrival order; anchored by a second thread that runs an anchoring round for each
// account with work every interval. The ledger is the durable record: an accepted job's images
// are analysed before stop() returns, and whatever is recorded but not yet on chain is anchored
// by the next server (or `medanchor sync`) after a restart.
//
// Jobs themselves live in memory (ids are random, 128 bits): a restart forgets the job list,
// never an analysis. No client file name is kept anywhere: a job's files are its upload's
// parts, numbered in order.
//
// Thread safety: every public member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace medanchor::http {

class Pipeline;

struct JobFile {
    std::string state = "queued";  // queued, analysing, analysed, failed
    std::optional<std::int64_t> analysis_id;
    std::string error_code;  // common/error.h's name, when failed
    std::string error_message;
};

struct Job {
    std::string id;     // 32 hex digits
    std::string owner;  // the account that uploaded it
    std::string created_at;
    std::string state = "queued";  // queued, running, done
    std::vector<JobFile> files;
    std::uint64_t version = 0;  // bumped on every change (event streams wait on it)
};

struct Anchorer {
    std::string principal;
    std::string key_file;
};

class JobService {
  public:
    // `anchorers` lists the accounts the anchoring loop signs for (re-read each round).
    JobService(Pipeline& pipeline, std::function<std::vector<Anchorer>()> anchorers, bool anchor,
               std::chrono::milliseconds anchor_interval);
    ~JobService();

    void start();
    // Stops taking jobs, analyses every accepted image, finishes the anchoring round under way,
    // joins the threads. Idempotent.
    void stop();

    // Accepts an upload for `analyst` (the principal it is recorded for). Returns the job id;
    // kTimeout once stop() was called (the server answers 503: come back after the restart).
    Result<std::string> submit(const std::string& owner, const std::string& analyst,
                               std::vector<std::string> files);
    std::optional<Job> get(const std::string& id) const;
    // Waits until the job's version passes `seen`, the timeout passes or stop() is called.
    std::optional<Job> wait_change(const std::string& id, std::uint64_t seen,
                                   std::chrono::milliseconds timeout) const;

    std::size_t queue_depth() const;        // images accepted and not yet analysed
    std::uint64_t images_analysed() const;  // since start
    std::map<std::string, std::uint64_t> errors_by_kind() const;  // failed images and rounds
    bool stopping() const;

  private:
    struct Pending {
        std::string job_id;
        std::string analyst;
        std::vector<std::string> files;
    };
    void work();
    void anchor_loop();
    void count_error(const Error& e);

    Pipeline& pipeline_;
    std::function<std::vector<Anchorer>()> anchorers_;
    const bool anchor_;
    const std::chrono::milliseconds anchor_interval_;

    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::deque<Pending> queue_;
    std::map<std::string, Job> jobs_;
    std::size_t queued_images_ = 0;
    std::uint64_t analysed_ = 0;
    std::map<std::string, std::uint64_t> errors_;
    bool stopping_ = false;
    std::thread worker_;
    std::thread anchorer_;
};

// 2 * bytes random hex digits (OpenSSL RAND_bytes); kInternal if the CSPRNG fails.
Result<std::string> random_hex(std::size_t bytes);

}  // namespace medanchor::http
