#include "app/http/jobs.h"

#include <openssl/rand.h>

#include <iostream>

#include "app/http/app_adapter.h"
#include "common/encoding.h"
#include "ledger/ledger.h"

namespace medanchor::http {

Result<std::string> random_hex(std::size_t bytes) {
    std::vector<std::uint8_t> raw(bytes);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
        return Error(ErrorCode::kInternal, "the system's random generator failed");
    return to_hex(raw);
}

JobService::JobService(Pipeline& pipeline, std::function<std::vector<Anchorer>()> anchorers,
                       bool anchor, std::chrono::milliseconds anchor_interval)
    : pipeline_(pipeline),
      anchorers_(std::move(anchorers)),
      anchor_(anchor),
      anchor_interval_(anchor_interval) {}

JobService::~JobService() {
    stop();
}

void JobService::start() {
    worker_ = std::thread([this] { work(); });
    if (anchor_)
        anchorer_ = std::thread([this] { anchor_loop(); });
}

void JobService::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable())
        worker_.join();
    if (anchorer_.joinable())
        anchorer_.join();
}

bool JobService::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

Result<std::string> JobService::submit(const std::string& owner, const std::string& analyst,
                                       std::vector<std::string> files) {
    auto id = random_hex(16);
    if (!id)
        return id.error();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return Error(ErrorCode::kTimeout,
                         "the server is shutting down and takes no new jobs; try again after "
                         "it restarts");
        }
        Job job;
        job.id = *id;
        job.owner = owner;
        job.created_at = ledger::utc_now();
        job.files.resize(files.size());
        jobs_.emplace(*id, std::move(job));
        queued_images_ += files.size();
        queue_.push_back(Pending{*id, analyst, std::move(files)});
    }
    changed_.notify_all();
    return *id;
}

std::optional<Job> JobService::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end())
        return std::nullopt;
    return it->second;
}

std::optional<Job> JobService::wait_change(const std::string& id, std::uint64_t seen,
                                           std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] {
        auto it = jobs_.find(id);
        return stopping_ || it == jobs_.end() || it->second.version > seen;
    });
    auto it = jobs_.find(id);
    if (it == jobs_.end())
        return std::nullopt;
    return it->second;
}

std::size_t JobService::queue_depth() const {
    std::lock_guard lock(mutex_);
    return queued_images_;
}

std::uint64_t JobService::images_analysed() const {
    std::lock_guard lock(mutex_);
    return analysed_;
}

std::map<std::string, std::uint64_t> JobService::errors_by_kind() const {
    std::lock_guard lock(mutex_);
    return errors_;
}

void JobService::count_error(const Error& e) {
    std::lock_guard lock(mutex_);
    ++errors_[error_info(e.code()).name];
}

void JobService::work() {
    for (;;) {
        Pending next;
        {
            std::unique_lock lock(mutex_);
            // Accepted jobs are finished even when stopping: the client was given an id.
            changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty())
                return;
            next = std::move(queue_.front());
            queue_.pop_front();
            auto& job = jobs_.at(next.job_id);
            job.state = "running";
            ++job.version;
        }
        changed_.notify_all();
        {
            std::lock_guard lock(mutex_);
            auto& job = jobs_.at(next.job_id);
            for (auto& f : job.files)
                f.state = "analysing";
            ++job.version;
        }
        changed_.notify_all();
        auto ids = pipeline_.analyze(next.files, next.analyst);
        next.files.clear();
        {
            std::lock_guard lock(mutex_);
            auto& job = jobs_.at(next.job_id);
            for (std::size_t i = 0; i < job.files.size(); ++i) {
                auto& file = job.files[i];
                --queued_images_;
                if (ids[i]) {
                    file.state = "analysed";
                    file.analysis_id = *ids[i];
                    ++analysed_;
                } else {
                    file.state = "failed";
                    file.error_code = error_info(ids[i].error().code()).name;
                    file.error_message = ids[i].error().message();
                    ++errors_[file.error_code];
                }
            }
            job.state = "done";
            ++job.version;
        }
        changed_.notify_all();
    }
}

void JobService::anchor_loop() {
    std::string last_problem;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            if (changed_.wait_for(lock, anchor_interval_, [&] { return stopping_; }))
                return;
        }
        auto ledger = ledger::Ledger::open(pipeline_.ledger_path());
        if (!ledger) {
            count_error(ledger.error());
            continue;
        }
        auto pending = ledger->pending_by_analyst();
        auto sent = ledger->transactions(ledger::TxState::kBroadcast);
        if (!pending || !sent)
            continue;
        for (const auto& who : anchorers_()) {
            bool work = pending->count(who.principal) != 0;
            for (const auto& tx : *sent)
                work = work || tx.sender == who.principal;
            if (!work || who.key_file.empty())
                continue;
            if (auto s = pipeline_.anchor_round(who.key_file); !s) {
                count_error(s.error());
                // Said once per distinct problem, not once a second.
                if (s.error().message() != last_problem) {
                    last_problem = s.error().message();
                    std::cerr << "medanchor serve: anchoring for " << who.principal
                              << " waits: " << last_problem << " ["
                              << error_info(s.error().code()).name << "]\n";
                }
            } else {
                last_problem.clear();
            }
        }
    }
}

}  // namespace medanchor::http
