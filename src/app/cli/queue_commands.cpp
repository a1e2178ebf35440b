#include "app/cli/queue_commands.h"

#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "app/cli/analyze_command.h"
#include "app/cli/metrics_endpoint.h"
#include "codecs/codecs_module.h"
#include "common/encoding.h"
#include "common/prometheus.h"
#include "inference/model_bundle.h"
#include "ledger/job_queue.h"
#include "ledger/ledger.h"
#include "service/analysis_service.h"
#include "service/file_inputs.h"

namespace medanchor::app {

namespace {

namespace fs = std::filesystem;
using service::AnalysisService;
using service::ImageSource;

fs::path ledger_location(const std::string& given) {
    return given.empty() ? ledger::Ledger::default_path() : fs::path(given);
}

// ---- enqueue --------------------------------------------------------------------------------

struct EnqueueRequest {
    AnalyzeRequest analysis;  // --model, --ledger, --analyst, --key-file, --network
    bool requeue = false;
};

Status run_enqueue(const EnqueueRequest& r) {
    const AnalyzeRequest& a = r.analysis;
    // Refused before any other work: an SQLite ledger has no queue.
    auto queue = ledger::JobQueue::open(ledger_location(a.ledger));
    if (!queue)
        return queue.error();
    auto bundle =
        inference::load_model_bundle(a.model.empty() ? default_model_dir() : fs::path(a.model));
    if (!bundle)
        return bundle.error();
    auto analyst = recording_analyst(a);
    if (!analyst)
        return analyst.error();
    std::size_t skipped = 0, skipped_outputs = 0;
    const auto files = service::expand_inputs(a.inputs, &skipped, &skipped_outputs);
    // Stored absolute: a worker on another machine resolves the same path on the shared
    // filesystem, never relative to where enqueue ran.
    std::vector<std::string> paths;
    std::vector<std::string> missing;
    for (const auto& file : files) {
        std::error_code ec;
        if (!fs::is_regular_file(file, ec)) {
            missing.push_back(file.string());
            continue;
        }
        paths.push_back(fs::absolute(file, ec).lexically_normal().string());
    }
    for (const auto& m : missing)
        std::cerr << "medanchor: " << m << ": no such file; not queued [not-found]\n";
    if (paths.empty() && missing.empty()) {
        return Error(
            ErrorCode::kNoInput,
            "no image files (DICOM, PNG, JPEG, TIFF) in the given paths" +
                std::string(skipped ? " (" + std::to_string(skipped) + " other file(s) skipped)"
                                    : ""));
    }
    auto added = queue->enqueue(paths, bundle->manifest.model_sha256, *analyst, r.requeue);
    if (!added)
        return added.error();
    if (a.chain.json) {
        std::cout << nlohmann::ordered_json{{"queued", added->queued},
                                            {"already_queued", added->already_queued},
                                            {"requeued", added->requeued},
                                            {"missing", missing.size()},
                                            {"skipped", skipped},
                                            {"model_sha256", bundle->manifest.model_sha256},
                                            {"analyst", *analyst},
                                            {"ledger", queue->display_name()}}
                         .dump()
                  << "\n";
    } else {
        std::cout << "queued " << added->queued << " job(s), " << added->already_queued
                  << " already queued";
        if (r.requeue)
            std::cout << " (" << added->requeued << " of them done or failed, queued again)";
        if (skipped)
            std::cout << "; " << skipped << " non-image file(s) skipped";
        std::cout << "; model " << bundle->manifest.name << " " << bundle->manifest.version
                  << ", analyst " << *analyst << ", " << queue->display_name() << "\n";
    }
    if (!missing.empty()) {
        return Error(ErrorCode::kNotFound,
                     std::to_string(missing.size()) +
                         " file(s) not found and not queued; the first: " + missing.front());
    }
    return Status::Ok();
}

// ---- worker ---------------------------------------------------------------------------------

struct WorkerRequest {
    AnalyzeRequest analysis;
    std::size_t batch = 32;  // jobs per claim
    int lease_s = 60;
    bool once = false;
    // No progress this long: taken as hung, its leases left to expire (0: never; -1: not given,
    // 600 s or 3 leases, the longer).
    int stall_s = -1;
    std::string metrics;  // ADDR:PORT of the Prometheus endpoint; empty: none
};

// HOSTNAME:TOKEN:PID names the machine and process in `status`; TOKEN (32 random bits, new for
// each process) keeps a restarted process that gets the same host name and pid (a container
// restarted in its pod, medanchor as pid 1) from taking over — and heartbeating for ever — the
// leases of the one that died.
std::string worker_id() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    std::string id = host[0] != '\0' ? host : "unknown-host";
    static constexpr char kHex[] = "0123456789abcdef";
    std::random_device random;
    const std::uint32_t token = random();
    id += ':';
    for (int shift = 28; shift >= 0; shift -= 4)
        id += kHex[(token >> shift) & 0xF];
    id += ':';
    id += std::to_string(::getpid());
    return id;
}

// The ledger cannot be reached (PostgreSQL down, restarting, a lock held too long): wait and
// try again rather than fail the job.
bool is_transient(ErrorCode code) {
    return code == ErrorCode::kNetwork || code == ErrorCode::kTimeout;
}

// A job's input is missing and so is its folder: the tree it was in is gone (the shared
// filesystem unmounted, a share not mounted), which is the storage failing, not the file deleted
// (that leaves its folder). Such a kNotFound becomes kIo, tried again up to the attempts bound
// like the other I/O errors; any other error is returned as it is. A file at the top of a share
// whose mount point stays behind (an empty folder) cannot be told apart: it is missing.
Error storage_view(const Error& error, const std::string& path) {
    if (error.code() != ErrorCode::kNotFound)
        return error;
    std::error_code ec;
    const fs::path folder = fs::path(path).parent_path();
    if (fs::exists(path, ec) || fs::exists(folder, ec))
        return error;  // not the input that is missing, or only the file is
    return Error(ErrorCode::kIo, escape_for_display(path) + ": no such file, nor its folder " +
                                     escape_for_display(folder.string()) +
                                     ": the storage it is on is not there (unmounted?)");
}

// Stop flag and wake-up for the worker's threads: set by the signal watcher.
struct StopSignal {
    std::mutex mutex;
    std::condition_variable cv;
    std::atomic<bool> stop{false};

    void request() {
        {
            std::lock_guard lock(mutex);
            stop = true;
        }
        cv.notify_all();
    }
    // Sleeps `d` unless a stop is requested first; true when stopping.
    bool sleep(std::chrono::milliseconds d) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, d, [&] { return stop.load(); });
    }
};

// Steady-clock seconds, for progress stamps shared between threads.
std::int64_t steady_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// What the worker's threads share: its progress stamp (set by the claiming thread whenever it
// gets past a step: a claim, a forward-pass batch), whether the heartbeat has given it up as
// hung, and its counters (read by the metrics endpoint).
struct WorkerProgress {
    std::atomic<std::int64_t> last = steady_seconds();
    std::atomic<bool> stalled{false};
    std::atomic<std::size_t> done{0}, failed{0}, held{0};
    void tick() { last = steady_seconds(); }
};

// Extends the worker's leases every lease/3 on a connection of its own, so that a long batch
// (or one image that takes long) keeps its jobs. A failed beat is logged once per outage and
// retried at the next tick; if the outage outlasts the lease, the jobs go back to the queue,
// which is the point of a lease. The watchdog: while the worker has made no progress for
// `stall` (a read of the shared filesystem or a forward pass that never returns), it is taken
// as hung and no longer beats, so its leases expire and other workers take its jobs; it beats
// again if it gets going.
class Heartbeat {
  public:
    Heartbeat(fs::path ledger, std::string worker, std::chrono::seconds lease,
              std::chrono::seconds stall, WorkerProgress& progress)
        : progress_(progress),
          stall_(stall),
          thread_([this, ledger = std::move(ledger), worker = std::move(worker), lease] {
              run(ledger, worker, lease);
          }) {}
    ~Heartbeat() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        thread_.join();
    }

  private:
    void run(const fs::path& ledger, const std::string& worker, std::chrono::seconds lease) {
        std::optional<ledger::JobQueue> queue;
        bool failing = false;
        const auto period = std::max<std::chrono::milliseconds>(
            std::chrono::milliseconds(200),
            std::chrono::duration_cast<std::chrono::milliseconds>(lease) / 3);
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                if (cv_.wait_for(lock, period, [&] { return done_; }))
                    return;
            }
            const std::int64_t idle = steady_seconds() - progress_.last.load();
            const bool hung = stall_.count() > 0 && idle >= stall_.count();
            if (hung != progress_.stalled.load()) {
                progress_.stalled = hung;
                if (hung)
                    std::cerr << "medanchor worker " << worker << ": no progress for " << idle
                              << " s (--stall-after " << stall_.count()
                              << "): taken as hung; its leases are no longer extended, so its "
                                 "jobs go back to the queue when they expire\n";
                else
                    std::cerr << "medanchor worker " << worker
                              << ": progress again; extending its leases\n";
            }
            if (hung)
                continue;
            Status s = Status::Ok();
            if (!queue) {
                auto opened = ledger::JobQueue::open(ledger);
                if (opened)
                    queue.emplace(std::move(*opened));
                else
                    s = opened.error();
            }
            if (queue) {
                auto beat = queue->heartbeat(worker, lease);
                if (!beat)
                    s = beat.error();
            }
            if (!s && !failing)
                std::cerr << "medanchor worker " << worker << ": heartbeat: " << s.error().message()
                          << " (retrying)\n";
            failing = !s;
        }
    }

    WorkerProgress& progress_;
    const std::chrono::seconds stall_;
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;  // last: started once the members it reads are made
};

class Worker {
  public:
    Worker(const WorkerRequest& r, std::string id, AnalysisSetup setup, ledger::JobQueue queue,
           StopSignal& stop, WorkerProgress& progress)
        : r_(r),
          setup_(std::move(setup)),
          queue_(std::move(queue)),
          stop_(stop),
          progress_(progress),
          id_(std::move(id)),
          model_(setup_.service->bundle().manifest.model_sha256) {}

    const std::string& id() const { return id_; }

    Status run() {
        std::cerr << "medanchor worker " << id_ << ": claiming jobs for model "
                  << setup_.service->bundle().manifest.name << " "
                  << setup_.service->bundle().manifest.version << ", analyst "
                  << setup_.options.analyst << " from " << queue_.display_name() << "\n";
        Heartbeat heartbeat(setup_.ledger_path, id_, lease(), std::chrono::seconds(r_.stall_s),
                            progress_);
        auto backoff = std::chrono::milliseconds(500);
        const auto wait_down = [&](const Error& e) {
            std::cerr << "medanchor worker " << id_ << ": " << e.message() << "; retrying in "
                      << backoff.count() << " ms\n";
            const bool stopping = stop_.sleep(backoff);
            backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(30));
            return stopping;
        };
        while (!stop_.stop) {
            progress_.tick();
            progress_.held = 0;
            // What an outage left undone is settled before new work is taken.
            if (auto s = flush(); !s) {
                if (!is_transient(s.error().code()))
                    return s;
                if (wait_down(s.error()))
                    break;
                continue;
            }
            // Nothing is held here: anything claimed under this id is a claim whose answer was
            // lost in an outage, which the heartbeat would otherwise keep for ever.
            if (auto lost = queue_.release_all(id_); !lost) {
                if (!is_transient(lost.error().code()))
                    return lost.error();
                if (wait_down(lost.error()))
                    break;
                continue;
            } else if (*lost > 0) {
                std::cerr << "medanchor worker " << id_ << ": gave back " << *lost
                          << " job(s) of a claim whose answer was lost\n";
            }
            auto jobs = queue_.claim(r_.batch, id_, lease(), model_, setup_.options.analyst);
            if (!jobs) {
                if (!is_transient(jobs.error().code()))
                    return jobs.error();
                if (wait_down(jobs.error()))
                    break;
                continue;
            }
            if (jobs->empty()) {
                if (r_.once) {
                    // Drained when nothing is queued or in anyone's hands: a job whose worker
                    // died comes back when its lease expires, and this worker takes it.
                    auto left = queue_.unfinished(model_, setup_.options.analyst);
                    if (left && *left == 0)
                        break;
                    if (!left && !is_transient(left.error().code()))
                        return left.error();
                }
                if (stop_.sleep(r_.once ? std::chrono::milliseconds(500) : std::chrono::seconds(2)))
                    break;
                continue;
            }
            backoff = std::chrono::milliseconds(500);
            progress_.held = jobs->size();
            process(*jobs);
            if (unable_)
                break;
        }
        // Stopping: whatever is claimed and not started goes back now, not at lease expiry.
        if (auto s = flush(); !s)
            std::cerr << "medanchor worker " << id_ << ": " << s.error().message()
                      << "; its jobs go back to the queue when their lease expires\n";
        std::cerr << "medanchor worker " << id_ << ": stopped; " << progress_.done
                  << " job(s) done, " << progress_.failed << " failed\n";
        if (unable_)
            return *unable_;
        return Status::Ok();
    }

  private:
    std::chrono::seconds lease() const { return std::chrono::seconds(r_.lease_s); }

    // The jobs of one claim, a forward-pass batch at a time; between batches a stop request
    // is honoured and the jobs not started are released.
    void process(const std::vector<ledger::ClaimedJob>& jobs) {
        const std::size_t step = static_cast<std::size_t>(std::max(1, setup_.options.batch));
        for (std::size_t begin = 0; begin < jobs.size(); begin += step) {
            // Stopping, or given up as hung by the watchdog (its leases left to expire, so
            // others may hold the rest now): what is not started goes back.
            if (stop_.stop || progress_.stalled) {
                for (std::size_t i = begin; i < jobs.size(); ++i)
                    to_release_.push_back(jobs[i].id);
                return;
            }
            const std::size_t end = std::min(jobs.size(), begin + step);
            std::vector<ImageSource> sources;
            for (std::size_t i = begin; i < end; ++i)
                sources.push_back(jobs[i].deidentified
                                      ? ImageSource::deidentified_file(jobs[i].path)
                                      : ImageSource::file(jobs[i].path));
            service::Observer quiet;
            progress_.tick();
            auto outcome = setup_.service->analyze_batch(sources, setup_.options, quiet);
            progress_.tick();
            for (std::size_t i = begin; i < end; ++i) {
                const auto& job = jobs[i];
                if (!outcome) {  // nothing of the batch could run (e.g. the engine failed)
                    to_fail_.push_back({job.id, outcome.error(), false});
                    continue;
                }
                const auto& result = outcome->images[i - begin].result;
                if (result) {
                    to_complete_.push_back({job.id, result->analysis.id});
                } else if (is_transient(result.error().code())) {
                    to_release_.push_back(job.id);  // the ledger was away: not the file's fault
                } else if (auto codecs = codecs::load_module(); !codecs) {
                    // This worker cannot decode what another could: not the file's fault. The
                    // job goes back and the worker stops. (run_worker refuses to start without
                    // the module and a module once open stays open, so this is a safeguard.)
                    to_release_.push_back(job.id);
                    unable_ = codecs.error();
                } else {
                    // An unreadable or broken file fails for good; an I/O error (the shared
                    // filesystem away?) is tried again up to the attempts bound.
                    Error error = storage_view(result.error(), job.path);
                    const bool permanent =
                        error.code() != ErrorCode::kIo && error.code() != ErrorCode::kInternal;
                    to_fail_.push_back({job.id, std::move(error), permanent});
                }
            }
            if (auto s = flush(); !s)
                return;  // run() backs off and flushes again
            if (unable_) {
                for (std::size_t i = end; i < jobs.size(); ++i)
                    to_release_.push_back(jobs[i].id);
                return;
            }
        }
    }

    // Tells the queue what happened to the jobs; what it cannot tell now (the ledger is away)
    // stays to be told at the next flush. A job whose lease expired meanwhile was taken by
    // another worker: that worker finds its analysis recorded and completes it.
    Status flush() {
        while (!to_complete_.empty()) {
            const auto [job, analysis] = to_complete_.back();
            auto r = queue_.complete(job, analysis);
            if (!r)
                return r.error();
            ++progress_.done;
            to_complete_.pop_back();
        }
        while (!to_fail_.empty()) {
            const auto& f = to_fail_.back();
            const std::string text =
                std::string(error_info(f.error.code()).name) + ": " + f.error.message();
            auto r = queue_.fail(f.job, id_, text, f.permanent);
            if (!r)
                return r.error();
            std::cerr << "medanchor worker " << id_ << ": job " << f.job << ": " << text
                      << (f.permanent ? "" : " (will be tried again)") << "\n";
            ++progress_.failed;
            to_fail_.pop_back();
        }
        if (!to_release_.empty()) {
            auto r = queue_.release(to_release_, id_);
            if (!r)
                return r.error();
            to_release_.clear();
        }
        return Status::Ok();
    }

    struct Failure {
        std::int64_t job;
        Error error;
        bool permanent;
    };

    const WorkerRequest& r_;
    AnalysisSetup setup_;
    ledger::JobQueue queue_;
    StopSignal& stop_;
    WorkerProgress& progress_;
    std::string id_;
    std::string model_;
    std::vector<std::pair<std::int64_t, std::int64_t>> to_complete_;  // job, analysis
    std::vector<Failure> to_fail_;
    std::vector<std::int64_t> to_release_;
    std::optional<Error> unable_;  // what this worker lacks to do its jobs: it stops
};

// This worker's own figures, for its --metrics endpoint (the queue's are `status --prometheus`).
std::string worker_metrics(const std::string& id, const WorkerProgress& p) {
    std::string out;
    const std::vector<std::pair<std::string, std::string>> who = {{"worker", id}};
    append_metric(out, "medanchor_worker_jobs_done_total", "counter",
                  "Jobs this worker completed since it started.",
                  {{who, static_cast<double>(p.done.load())}});
    append_metric(out, "medanchor_worker_jobs_failed_total", "counter",
                  "Jobs this worker failed (for good or to be tried again) since it started.",
                  {{who, static_cast<double>(p.failed.load())}});
    append_metric(out, "medanchor_worker_claimed_jobs", "gauge",
                  "Jobs of this worker's current claim.",
                  {{who, static_cast<double>(p.held.load())}});
    append_metric(out, "medanchor_worker_seconds_since_progress", "gauge",
                  "Seconds since this worker last got past a step (a claim, a forward-pass batch).",
                  {{who, static_cast<double>(steady_seconds() - p.last.load())}});
    append_metric(
        out, "medanchor_worker_stalled", "gauge",
        "1 while this worker is taken as hung (--stall-after) and its leases left to expire.",
        {{who, p.stalled.load() ? 1.0 : 0.0}});
    return out;
}

Status run_worker(WorkerRequest r) {
    if (r.batch < 1 || r.batch > 10000)
        return Error(ErrorCode::kInvalidArgument, "--batch must be in 1..10000");
    if (r.lease_s < 2 || r.lease_s > 86400)
        return Error(ErrorCode::kInvalidArgument, "--lease must be 2..86400 seconds");
    if (r.stall_s == -1)
        r.stall_s = std::max(600, 3 * r.lease_s);
    if (r.stall_s != 0 && (r.stall_s < r.lease_s || r.stall_s > 7 * 86400))
        return Error(ErrorCode::kInvalidArgument,
                     "--stall-after must be 0 (never) or from --lease (" +
                         std::to_string(r.lease_s) + " s) to 604800 seconds");
    // SIGTERM and SIGINT are taken by one thread (sigwait), never by a handler in the middle of
    // an image: the current forward-pass batch finishes, the rest of the claim is released.
    // Blocked before any thread starts (the metrics endpoint's), which inherits the mask; one
    // that comes while the model loads waits for the watcher.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    const std::string id = worker_id();
    WorkerProgress progress;
    // --metrics before the ledger is reached: a bad or busy address is refused with nothing
    // started.
    std::unique_ptr<MetricsEndpoint> metrics;
    if (!r.metrics.empty()) {
        auto started = MetricsEndpoint::start(
            "--metrics", r.metrics, [id, &progress] { return worker_metrics(id, progress); });
        if (!started)
            return started.error();
        metrics = std::move(*started);
        std::cerr << "medanchor worker " << id << ": metrics on port " << metrics->port()
                  << " (GET /metrics)\n";
    }
    const fs::path location = ledger_location(r.analysis.ledger);
    auto queue = ledger::JobQueue::open(location);
    if (!queue)
        return queue.error();
    auto bundle = inference::load_model_bundle(
        r.analysis.model.empty() ? default_model_dir() : fs::path(r.analysis.model));
    if (!bundle)
        return bundle.error();
    // PNG, JPEG and TIFF inputs and saliency maps need OpenCV's codecs module. Without it this
    // worker would fail jobs that another worker can do: it refuses to start instead, taking no
    // job, as it would with a model it cannot load.
    if (auto codecs = codecs::load_module(); !codecs) {
        return Error(codecs.error().code(),
                     codecs.error().message() +
                         "; a worker needs it (PNG, JPEG and TIFF inputs, saliency maps) and "
                         "takes no job without it");
    }
    AnalyzeRequest analysis = r.analysis;
    analysis.anchor = false;  // a worker records; the anchoring writer anchors
    analysis.ledger = location.string();
    auto setup = prepare_analysis(analysis, std::move(*bundle));
    if (!setup)
        return setup.error();

    StopSignal stop;
    std::atomic<bool> finished{false};
    std::thread watcher([&stop, &finished, set] {
        int sig = 0;
        sigwait(&set, &sig);
        if (!finished) {
            std::cerr << "medanchor worker: stopping (signal " << sig
                      << "): finishing the images in hand, releasing the rest\n";
            stop.request();
        }
    });
    Worker worker(r, id, std::move(*setup), std::move(*queue), stop, progress);
    Status status = worker.run();
    metrics.reset();
    finished = true;
    pthread_kill(watcher.native_handle(), SIGTERM);
    watcher.join();
    return status;
}

// ---- status ---------------------------------------------------------------------------------

struct StatusRequest {
    std::string ledger;
    bool json = false;
    bool prometheus = false;
};

// The same figures as the text and JSON, in the Prometheus text format; the analyses and the
// anchoring lag under the names `medanchor serve`'s /api/metrics uses.
std::string status_metrics(const ledger::QueueStatus& q,
                           const std::map<ledger::AnalysisState, std::size_t>& analyses,
                           std::int64_t lag) {
    std::string out;
    std::vector<MetricSample> jobs;
    for (auto [state, n] : {std::pair{"queued", q.queued}, std::pair{"claimed", q.claimed},
                            std::pair{"done", q.done}, std::pair{"failed", q.failed}})
        jobs.push_back({{{"state", state}}, static_cast<double>(n)});
    append_metric(out, "medanchor_jobs", "gauge", "Jobs in the queue, by state.", jobs);
    append_metric(out, "medanchor_jobs_lease_expired", "gauge",
                  "Claimed jobs whose lease expired: the next claim takes them back.",
                  static_cast<double>(q.expired));
    std::vector<MetricSample> held, claim_age, beat_age;
    for (const auto& w : q.workers) {
        held.push_back({{{"worker", w.worker}}, static_cast<double>(w.jobs)});
        claim_age.push_back({{{"worker", w.worker}}, static_cast<double>(w.oldest_claim_age_s)});
        beat_age.push_back({{{"worker", w.worker}}, static_cast<double>(w.last_heartbeat_age_s)});
    }
    append_metric(out, "medanchor_worker_jobs", "gauge", "Jobs a worker holds now.", held);
    append_metric(out, "medanchor_worker_oldest_claim_age_seconds", "gauge",
                  "Age of the oldest job a worker holds.", claim_age);
    append_metric(out, "medanchor_worker_heartbeat_age_seconds", "gauge",
                  "Seconds since a worker's last heartbeat.", beat_age);
    std::vector<MetricSample> states;
    for (auto state : ledger::kAnalysisStates) {
        const auto it = analyses.find(state);
        states.push_back({{{"state", ledger::to_string(state)}},
                          static_cast<double>(it == analyses.end() ? 0 : it->second)});
    }
    append_metric(out, "medanchor_analyses", "gauge", "Analyses in the ledger, by state.", states);
    append_metric(out, "medanchor_anchoring_lag_seconds", "gauge",
                  "Age of the oldest analysis not yet confirmed.", static_cast<double>(lag));
    return out;
}

Status run_status(const StatusRequest& r) {
    const fs::path location = ledger_location(r.ledger);
    auto queue = ledger::JobQueue::open(location);
    if (!queue)
        return queue.error();
    auto q = queue->status();
    if (!q)
        return q.error();
    auto book = ledger::Ledger::open(location);
    if (!book)
        return book.error();
    auto counts = book->counts();
    if (!counts)
        return counts.error();
    auto lag = ledger::anchoring_lag_seconds(*book);
    if (!lag)
        return lag.error();
    const auto count = [&](ledger::AnalysisState s) {
        const auto it = counts->find(s);
        return it == counts->end() ? std::size_t{0} : it->second;
    };
    if (r.prometheus) {
        std::cout << status_metrics(*q, *counts, *lag);
        return Status::Ok();
    }
    if (r.json) {
        nlohmann::ordered_json j;
        j["ledger"] = queue->display_name();
        j["jobs"] = {{"queued", q->queued},
                     {"claimed", q->claimed},
                     {"done", q->done},
                     {"failed", q->failed},
                     {"lease_expired", q->expired}};
        j["workers"] = nlohmann::ordered_json::array();
        for (const auto& w : q->workers) {
            j["workers"].push_back({{"worker", w.worker},
                                    {"jobs", w.jobs},
                                    {"oldest_claim_age_s", w.oldest_claim_age_s},
                                    {"last_heartbeat_age_s", w.last_heartbeat_age_s}});
        }
        j["last_failures"] = nlohmann::ordered_json::array();
        for (const auto& f : q->last_failures) {
            j["last_failures"].push_back(
                {{"job", f.id}, {"path", f.path}, {"error", f.error}, {"at", f.updated_at}});
        }
        nlohmann::ordered_json analyses;
        for (auto s : ledger::kAnalysisStates)
            analyses[ledger::to_string(s)] = count(s);
        j["analyses"] = analyses;
        j["anchoring_lag_s"] = *lag;
        std::cout << j.dump() << "\n";
        return Status::Ok();
    }
    std::cout << "ledger: " << queue->display_name() << "\n"
              << "jobs: " << q->queued << " queued, " << q->claimed << " claimed (" << q->expired
              << " with an expired lease), " << q->done << " done, " << q->failed << " failed\n";
    for (const auto& w : q->workers) {
        std::cout << "  worker " << w.worker << ": " << w.jobs << " job(s) in hand, oldest claimed "
                  << w.oldest_claim_age_s << " s ago, last heartbeat " << w.last_heartbeat_age_s
                  << " s ago\n";
    }
    for (const auto& f : q->last_failures)
        std::cout << "  failed job " << f.id << " (" << f.updated_at << "): " << f.error << "\n";
    std::cout << "analyses:";
    for (auto s : ledger::kAnalysisStates)
        std::cout << " " << count(s) << " " << ledger::to_string(s) << ";";
    std::cout << " anchoring lag " << *lag << " s\n";
    return Status::Ok();
}

}  // namespace

void add_queue_commands(CLI::App& app, CommandAction& action) {
    {
        auto r = std::make_shared<EnqueueRequest>();
        auto* cmd = app.add_subcommand(
            "enqueue",
            "Queue image files for `medanchor worker` (PostgreSQL ledger, docs/scale.md)");
        cmd->add_option("PATH", r->analysis.inputs,
                        "DICOM/PNG/JPEG/TIFF files or folders (searched recursively), on storage "
                        "every worker reaches at the same absolute path")
            ->required();
        cmd->add_option("--ledger", r->analysis.ledger,
                        "the PostgreSQL ledger, postgresql://... (default $MEDANCHOR_LEDGER)");
        cmd->add_option("--model", r->analysis.model,
                        "model bundle folder (default: the shipped models/ct-nodule-sim)");
        cmd->add_option("--analyst", r->analysis.analyst,
                        "the analyst's principal (ST...) the analyses are recorded for");
        cmd->add_option("--key-file", r->analysis.chain.key_file,
                        "or the analyst's key file, for its principal (default "
                        "$MEDANCHOR_KEY_FILE); nothing is signed");
        cmd->add_option("--network", r->analysis.chain.network,
                        "devnet, testnet or mainnet (the analyst's address version)")
            ->capture_default_str();
        cmd->add_flag("--requeue", r->requeue, "queue files whose job is done or failed again");
        cmd->add_flag("--json", r->analysis.chain.json, "machine-readable output");
        cmd->footer(
            "One job per (file, model, analyst): enqueueing a file again changes nothing unless "
            "--requeue. Paths are stored absolute. Exit 6 for an SQLite ledger, 17 when the paths "
            "hold no image file, 13 when a named file is missing (the others are queued).");
        cmd->callback([&action, r] { action = [r] { return run_enqueue(*r); }; });
    }
    {
        auto r = std::make_shared<WorkerRequest>();
        auto* cmd = app.add_subcommand(
            "worker",
            "Analyse queued jobs: claim, analyse as `analyze` does, record (docs/scale.md)");
        cmd->add_option("--model", r->analysis.model,
                        "model bundle folder: the worker takes the jobs queued for this model");
        cmd->add_option("--reports", r->analysis.out,
                        "the shared report root: one write-once folder per analysis")
            ->capture_default_str();
        add_record_options(cmd, r->analysis);
        cmd->add_option("--key-file", r->analysis.chain.key_file,
                        "or the analyst's key file, for its principal; nothing is signed");
        cmd->add_option("--network", r->analysis.chain.network, "devnet, testnet or mainnet")
            ->capture_default_str();
        cmd->add_option("--batch", r->batch, "jobs per claim")->capture_default_str();
        cmd->add_option("--lease", r->lease_s,
                        "seconds a claim holds its jobs without a heartbeat (beats every third)")
            ->capture_default_str();
        cmd->add_flag("--once", r->once,
                      "exit 0 once nothing is queued or in any worker's hands (default: run until "
                      "SIGTERM)");
        cmd->add_option("--threads", r->analysis.threads, "compute threads (default: all cores)");
        cmd->add_option("--stall-after", r->stall_s,
                        "seconds without progress (no forward-pass batch done) after which the "
                        "worker is taken as hung: its leases are no longer extended, so other "
                        "workers take its jobs (0: never; at least --lease; default 600 or 3 "
                        "leases, the longer)");
        cmd->add_option("--metrics", r->metrics,
                        "ADDR:PORT: this worker's Prometheus metrics at GET /metrics (127.0.0.1 "
                        "unless ADDR; the queue's own: `status --prometheus`)");
        cmd->footer(
            "Worker id: HOSTNAME:TOKEN:PID (TOKEN random per start). SIGTERM/SIGINT: the images in "
            "hand are finished, the rest "
            "of the claim released, exit 0. A file that cannot be analysed fails its job (the "
            "error kept, see `medanchor status`); PostgreSQL away: retried with backoff. Records "
            "only: `medanchor anchorer` (the elected anchoring writer) anchors. Exit 6 for an "
            "SQLite ledger, or when OpenCV's codecs module cannot be loaded (8: refused as "
            "others could write it): the worker then takes no job.");
        cmd->callback([&action, r] { action = [r] { return run_worker(*r); }; });
    }
    {
        auto r = std::make_shared<StatusRequest>();
        auto* cmd = app.add_subcommand(
            "status", "The job queue, its workers, failures and the anchoring lag (docs/scale.md)");
        cmd->add_option("--ledger", r->ledger,
                        "the PostgreSQL ledger, postgresql://... (default $MEDANCHOR_LEDGER)");
        auto* json = cmd->add_flag("--json", r->json, "machine-readable output");
        cmd->add_flag("--prometheus", r->prometheus, "the Prometheus text exposition format")
            ->excludes(json);
        cmd->callback([&action, r] { action = [r] { return run_status(*r); }; });
    }
}

}  // namespace medanchor::app
