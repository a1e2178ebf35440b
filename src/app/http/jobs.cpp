#include "app/http/jobs.h"

#include <openssl/rand.h>

#include <iostream>

#include "chain/anchoring_service.h"
#include "chain/threshold_policy.h"
#include "common/encoding.h"
#include "common/file_io.h"
#include "image/deid.h"
#include "image/reader.h"
#include "ledger/job_queue.h"
#include "ledger/ledger.h"
#include "service/analysis_service.h"
#include "service/verification_service.h"
#include "stacks/keys.h"

namespace medanchor::http {
namespace fs = std::filesystem;

namespace {

const char* extension_for(image::Magic magic) {
    switch (magic) {
        case image::Magic::kDicom:
        case image::Magic::kTruncatedDicom:
            return ".dcm";
        case image::Magic::kPng:
            return ".png";
        case image::Magic::kJpeg:
            return ".jpg";
        case image::Magic::kTiff:
            return ".tif";
        case image::Magic::kUnknown:
            break;
    }
    return nullptr;
}

// What anchoring does, one line each on stderr: transaction ids and ledger ids only (nothing a
// patient could be found by), so an operator can follow it in the log.
class AnchoringLog : public chain::AnchoringObserver {
  public:
    explicit AnchoringLog(std::string principal) : principal_(std::move(principal)) {}
    void on_sent(const std::string& txid, const std::vector<std::int64_t>& ids) override {
        std::cerr << "medanchor serve: anchoring for " << principal_ << ": sent " << txid
                  << " with " << ids.size() << " analys" << (ids.size() == 1 ? "is" : "es") << "\n";
    }
    void on_confirmed(const std::string& txid, std::size_t n, std::uint64_t height) override {
        std::cerr << "medanchor serve: anchoring for " << principal_ << ": " << txid
                  << " confirmed (" << n << ", block " << height << ")\n";
    }
    void on_refused(const std::string& txid, const std::string& reason) override {
        std::cerr << "medanchor serve: anchoring for " << principal_ << ": " << txid
                  << " refused: " << reason << "\n";
    }
    void on_held(std::int64_t id, const std::string& reason) override {
        std::cerr << "medanchor serve: anchoring for " << principal_ << ": analysis #" << id
                  << " held for review: " << reason << "\n";
    }

  private:
    std::string principal_;
};

}  // namespace

Result<std::string> random_hex(std::size_t bytes) {
    std::vector<std::uint8_t> raw(bytes);
    if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
        return Error(ErrorCode::kInternal, "the system's random generator failed");
    return to_hex(raw);
}

// The service's events for one job, into the job (under the service's mutex). `index` maps the
// position in the analysed batch to the file's position in the upload (files that failed
// before the batch, e.g. an original that could not be kept, are not in it).
class JobService::Progress : public service::Observer {
  public:
    Progress(JobService& jobs, std::string job_id, std::vector<std::size_t> index)
        : jobs_(jobs), job_id_(std::move(job_id)), index_(std::move(index)) {}

    void on_decoded(const service::ImageRef& image, const std::string&) override {
        update(image.index, [](JobFile& f) { f.state = "analysing"; });
    }
    void on_recorded(const service::ImageRef& image, const ledger::Analysis& a, bool) override {
        update(image.index, [&](JobFile& f) {
            f.state = "analysed";
            f.analysis_id = a.id;
        });
        std::lock_guard lock(jobs_.mutex_);
        ++jobs_.analysed_;
    }
    void on_failed(const service::ImageRef& image, const Error& e) override {
        const std::string kind = error_info(e.code()).name;
        update(image.index, [&](JobFile& f) {
            f.state = "failed";
            f.error_code = kind;
            f.error_message = e.message();
        });
        std::lock_guard lock(jobs_.mutex_);
        ++jobs_.errors_[kind];
    }

  private:
    template <class F>
    void update(std::size_t batch_index, F&& change) {
        {
            std::lock_guard lock(jobs_.mutex_);
            auto& job = jobs_.jobs_.at(job_id_);
            auto& file = job.files.at(index_.at(batch_index));
            const bool was_queued = file.state == "queued" || file.state == "analysing";
            change(file);
            if (was_queued && file.state != "analysing")
                --jobs_.queued_images_;
            ++job.version;
            jobs_.persist_file(job_id_, index_.at(batch_index), file);
        }
        jobs_.changed_.notify_all();
    }

    JobService& jobs_;
    std::string job_id_;
    std::vector<std::size_t> index_;
};

JobService::JobService(service::AnalysisService& analysis, const image::SiteKey& site_key,
                       JobSettings settings, std::function<std::vector<Signer>()> signers,
                       std::optional<ledger::JobStore> store)
    : analysis_(analysis),
      site_key_(site_key),
      settings_(std::move(settings)),
      signers_(std::move(signers)),
      store_(std::move(store)) {}

void JobService::persist_file(const std::string& job_id, std::size_t index, const JobFile& file) {
    if (!store_)
        return;
    if (auto s = store_->save_file(job_id, index, file); !s)
        std::cerr << "medanchor serve: job " << job_id << ": " << s.error().message() << "\n";
}

void JobService::persist_state(const std::string& job_id, const std::string& state) {
    if (!store_)
        return;
    if (auto s = store_->set_state(job_id, state); !s)
        std::cerr << "medanchor serve: job " << job_id << ": " << s.error().message() << "\n";
}

JobService::~JobService() {
    stop();
}

void JobService::start() {
    worker_ = std::thread([this] { work(); });
    if (settings_.anchor && !settings_.queue) {
        for (const auto& signer : signers_())
            anchoring_for(signer);
    }
}

void JobService::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    if (worker_.joinable())
        worker_.join();
    std::lock_guard lock(anchoring_mutex_);
    for (auto& [principal, service] : anchoring_)
        service->stop();
}

bool JobService::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

chain::AnchoringService* JobService::anchoring_for(const Signer& signer) {
    // Queue mode: `medanchor anchorer` is the one writer of each key (two would share a nonce).
    if (!settings_.anchor || settings_.queue || signer.key_file.empty())
        return nullptr;
    std::lock_guard lock(anchoring_mutex_);
    if (auto it = anchoring_.find(signer.principal); it != anchoring_.end())
        return it->second.get();
    const auto refuse = [&](const Error& e) -> chain::AnchoringService* {
        // Said once per account: its analyses stay recorded and wait for a usable key.
        if (unusable_keys_.emplace(signer.principal, e.message()).second) {
            std::cerr << "medanchor serve: cannot anchor for " << signer.principal << ": "
                      << e.message() << " [" << error_info(e.code()).name << "]\n";
        }
        return nullptr;
    };
    auto key = stacks::read_key_file(signer.key_file);
    if (!key)
        return refuse(key.error());
    chain::AnchoringService::Options options;
    options.outbox.wait = false;  // the settle interval follows what was sent
    auto log = std::make_unique<AnchoringLog>(signer.principal);
    options.outbox.observer = log.get();
    options.settle_interval = settings_.settle_interval;
    auto service = chain::AnchoringService::open(
        analysis_.ledger_path(), chain::ChainSession(settings_.chain, *key), options);
    if (!service)
        return refuse(service.error());
    (*service)->start();
    auto* raw = service->get();
    anchoring_.emplace(signer.principal, std::move(*service));
    anchoring_logs_.push_back(std::move(log));
    return raw;
}

service::AnalysisOptions JobService::analysis_options(const Signer& signer) const {
    service::AnalysisOptions options;
    options.analyst = signer.principal;
    options.saliency = true;
    if (settings_.anchor && !signer.key_file.empty()) {
        if (auto key = stacks::read_key_file(signer.key_file); key) {
            chain::ChainSession session(settings_.chain, *key);
            const auto& manifest = analysis_.bundle().manifest;
            auto terms = chain::read_terms(session, manifest.model_sha256,
                                           manifest.name + " " + manifest.version,
                                           static_cast<std::uint32_t>(manifest.min_confidence_bp));
            if (terms)
                options.terms = *terms;
        }
    }
    return options;
}

std::vector<AnchoringState> JobService::anchoring() const {
    std::vector<AnchoringState> out;
    std::lock_guard lock(anchoring_mutex_);
    for (const auto& [principal, service] : anchoring_)
        out.push_back({principal, service->passes(), service->last_error()});
    return out;
}

Result<std::string> JobService::submit(const std::string& owner, const Signer& signer,
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
        // Recorded before the client has its id: a job it was told of is never unknown later.
        if (store_) {
            if (auto s = store_->create(job); !s)
                return s.error();
        }
        jobs_.emplace(*id, std::move(job));
        queued_images_ += files.size();
        queue_.push_back(Pending{*id, signer, std::move(files)});
    }
    changed_.notify_all();
    return *id;
}

std::optional<Job> JobService::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(id);
    if (it != jobs_.end())
        return it->second;
    if (!store_)
        return std::nullopt;
    auto kept = store_->get(id);
    if (!kept) {
        std::cerr << "medanchor serve: job " << id << ": " << kept.error().message() << "\n";
        return std::nullopt;
    }
    if (!*kept)
        return std::nullopt;
    Job job;
    static_cast<ledger::JobRecord&>(job) = std::move(**kept);
    return job;
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

void JobService::work() {
    if (settings_.queue) {
        work_queue();
        return;
    }
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
            persist_state(job.id, job.state);
        }
        changed_.notify_all();
        run(next);
        {
            std::lock_guard lock(mutex_);
            auto& job = jobs_.at(next.job_id);
            // A file the service never reported on (it could not run at all) is failed above.
            job.state = "done";
            ++job.version;
            persist_state(job.id, job.state);
        }
        changed_.notify_all();
    }
}

void JobService::fail_file(const std::string& job_id, std::size_t i, const Error& e) {
    {
        std::lock_guard lock(mutex_);
        auto& file = jobs_.at(job_id).files.at(i);
        if (file.state == "queued" || file.state == "analysing")
            --queued_images_;
        file.state = "failed";
        file.error_code = error_info(e.code()).name;
        file.error_message = e.message();
        ++errors_[file.error_code];
        ++jobs_.at(job_id).version;
        persist_file(job_id, i, file);
    }
    changed_.notify_all();
}

void JobService::run(Pending& next) {
    const auto fail_file = [&](std::size_t i, const Error& e) {
        this->fail_file(next.job_id, i, e);
    };

    std::vector<service::ImageSource> sources;
    std::vector<std::size_t> index;  // batch position → file position
    for (std::size_t i = 0; i < next.files.size(); ++i) {
        std::string& bytes = next.files[i];
        const std::string name = "file " + std::to_string(i + 1);
        const char* ext = extension_for(image::sniff_magic(
            {reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()}));
        if (ext == nullptr) {
            // The API's word for bytes that are no image (docs/api.md, "Errors"); the image
            // layer would call them corrupt.
            fail_file(i,
                      Error(ErrorCode::kUnsupported,
                            name + ": not a DICOM, PNG, JPEG or TIFF image (by its first bytes)"));
            continue;
        }
        auto source = service::ImageSource::bytes(
            std::vector<std::uint8_t>(bytes.begin(), bytes.end()), name);
        std::string().swap(bytes);
        if (!settings_.originals.empty()) {
            // Kept before the analysis, named by the keyed hash, so an image whose original
            // cannot be kept is not analysed: the operator asked for both. An image that does
            // not decode has no hash to name it by: it fails here, with the decoder's reason.
            auto data = source.load();
            if (!data) {
                fail_file(i, data.error());
                continue;
            }
            auto hash = service::hash_target(source, &site_key_);
            if (!hash) {
                fail_file(i, hash.error());
                continue;
            }
            const std::string_view view(reinterpret_cast<const char*>((*data)->data()),
                                        (*data)->size());
            if (auto w = write_file_atomically(settings_.originals / (hash->hex + ext), view); !w) {
                fail_file(i, w.error());
                continue;
            }
        }
        sources.push_back(std::move(source));
        index.push_back(i);
    }
    if (sources.empty())
        return;

    const service::AnalysisOptions options = analysis_options(next.signer);
    Progress progress(*this, next.job_id, index);
    auto outcome = analysis_.analyze_batch(sources, options, progress);
    if (!outcome) {
        for (std::size_t i : index)
            fail_file(i, outcome.error());
        return;
    }
    if (outcome->recorded > 0) {
        if (auto* anchoring = anchoring_for(next.signer))
            anchoring->notify();
    }
}

// Queue mode ----------------------------------------------------------------------------------

namespace {

// The worker's `last_error` ("<error name>: <message>", docs/scale.md) as the file's error, the
// spool copy's path replaced by the file's name: a client never sees the server's folders, and
// the message names the file whatever produced it (a failure after three expired leases names
// none).
std::pair<std::string, std::string> file_error(const std::string& last_error,
                                               const std::string& path, const std::string& name) {
    std::string code = "internal";
    std::string message = last_error;
    if (const auto colon = last_error.find(": "); colon != std::string::npos) {
        const std::string prefix = last_error.substr(0, colon);
        for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) {
            const char* known = error_info(static_cast<ErrorCode>(c)).name;
            if (known != nullptr && prefix == known) {
                code = prefix;
                message = last_error.substr(colon + 2);
                break;
            }
        }
    }
    bool named = false;
    for (const std::string& spelled : {escape_for_display(path), path}) {
        for (auto at = message.find(spelled); at != std::string::npos;
             at = message.find(spelled, at + name.size())) {
            message.replace(at, spelled.size(), name);
            named = true;
        }
    }
    if (!named)
        message = name + ": " + message;
    return {code, message};
}

}  // namespace

std::optional<JobService::Followed> JobService::spool(Pending& next) {
    const QueueSettings& q = *settings_.queue;
    Followed followed{next.job_id, next.signer.principal, {}, {}, false};
    const image::UidRemapper remapper(site_key_);
    const image::DeidOptions deid;  // as the server's own analyses: burned-in text refused
    const fs::path dir = q.spool / next.job_id;
    for (std::size_t i = 0; i < next.files.size(); ++i) {
        std::string bytes;
        bytes.swap(next.files[i]);
        const std::string name = "file " + std::to_string(i + 1);
        const std::span<const std::uint8_t> view(
            reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        const image::Magic magic = image::sniff_magic(view);
        if (extension_for(magic) == nullptr) {
            fail_file(next.job_id, i,
                      Error(ErrorCode::kUnsupported,
                            name + ": not a DICOM, PNG, JPEG or TIFF image (by its first bytes)"));
            continue;
        }
        if (magic != image::Magic::kDicom && magic != image::Magic::kTruncatedDicom) {
            // The spool must never hold an identified file, and only DICOM is de-identified.
            fail_file(next.job_id, i,
                      Error(ErrorCode::kUnsupported,
                            name + ": with a PostgreSQL ledger uploads are queued for workers as "
                                   "de-identified DICOM copies; a PNG, JPEG or TIFF file is not "
                                   "queued (its metadata is not de-identified)"));
            continue;
        }
        // De-identified from the bytes in memory, as the server's own analysis does: the
        // identified upload is never written anywhere.
        auto copy = image::deidentify_in_memory(view, name, deid, remapper);
        std::string().swap(bytes);
        if (!copy) {
            fail_file(next.job_id, i, copy.error());
            continue;
        }
        if (!copy->uids) {  // the worker's report could not cite it: it would fail there
            fail_file(next.job_id, i, copy->uids.error());
            continue;
        }
        if (auto s = create_directories_durably(dir); !s) {
            fail_file(next.job_id, i, s.error());
            continue;
        }
        // Written once, under a temporary name renamed into place and synced: a worker never
        // claims a half-written copy (the job is queued after), and the copy survives a crash
        // (the upload it came from is gone).
        const fs::path path = dir / (std::to_string(i + 1) + ".dcm");
        AtomicFile file(path);
        auto placed = [&]() -> Result<bool> {
            if (auto w = write_new_file(file.temp_path(), copy->part10); !w)
                return w.error();
            return file.commit({.replace = false, .durable = true});
        }();
        if (placed && !*placed)
            placed = Error(ErrorCode::kIo, escape_for_display(path.string()) + ": already exists");
        if (!placed) {
            fail_file(next.job_id, i, placed.error());
            continue;
        }
        followed.index.push_back(i);
        followed.paths.push_back(path.string());
    }
    if (followed.paths.empty())
        return std::nullopt;
    return followed;
}

std::vector<JobService::Followed> JobService::resume() {
    std::vector<Followed> out;
    const std::vector<Signer> signers = signers_();
    std::size_t files = 0;
    {
        std::lock_guard lock(mutex_);
        if (!store_)
            return out;
        auto list = store_->unfinished();
        if (!list) {
            std::cerr << "medanchor serve: cannot read the jobs of the last run: "
                      << list.error().message() << "\n";
            return out;
        }
        for (auto& record : *list) {
            Job job;
            static_cast<ledger::JobRecord&>(job) = std::move(record);
            // The analyst is the owner's principal, as at upload (an account removed since has
            // no principal: its jobs cannot be followed and are interrupted).
            const auto signer = std::find_if(signers.begin(), signers.end(), [&](const Signer& s) {
                return s.account == job.owner;
            });
            Followed f{job.id, signer == signers.end() ? "" : signer->principal, {}, {}, false};
            bool interrupted = false;
            for (std::size_t i = 0; i < job.files.size(); ++i) {
                auto& file = job.files[i];
                if (file.state != "queued" && file.state != "analysing")
                    continue;
                const fs::path path =
                    settings_.queue->spool / job.id / (std::to_string(i + 1) + ".dcm");
                std::error_code ec;
                if (!f.analyst.empty() && fs::is_regular_file(path, ec)) {
                    f.index.push_back(i);
                    f.paths.push_back(path.string());
                    ++queued_images_;
                } else {
                    file.state = "interrupted";  // never spooled: the client sends it again
                    persist_file(job.id, i, file);
                    interrupted = true;
                }
            }
            if (f.paths.empty()) {
                job.state = interrupted ? "interrupted" : "done";
                persist_state(job.id, job.state);
            } else {
                files += f.paths.size();
                out.push_back(std::move(f));
            }
            jobs_.emplace(job.id, std::move(job));
        }
    }
    if (!out.empty()) {
        std::cerr << "medanchor serve: following " << out.size() << " job"
                  << (out.size() == 1 ? "" : "s") << " the last run queued (" << files << " file"
                  << (files == 1 ? "" : "s") << " not finished)\n";
    }
    return out;
}

Status JobService::poll(std::optional<ledger::JobQueue>& queue, std::vector<Followed>& followed) {
    const QueueSettings& q = *settings_.queue;
    if (followed.empty())
        return Status::Ok();
    if (!queue) {
        auto opened = ledger::JobQueue::open(q.ledger);
        if (!opened)
            return opened.error();
        queue.emplace(std::move(*opened));
    }
    // Queued only now that every copy of the job is in place, flagged de-identified: spool()
    // de-identified each under the site key, so the worker analyses it as it is and its report
    // cites the copy's UIDs (docs/scale.md, "UIDs"), not a second remapping of them.
    for (auto& f : followed) {
        if (f.enqueued)
            continue;
        if (auto r = queue->enqueue_deidentified(f.paths, q.model_sha256, f.analyst); !r)
            return r.error();
        f.enqueued = true;
    }
    std::map<std::string, std::vector<std::string>> paths;  // by analyst
    for (const auto& f : followed)
        paths[f.analyst].insert(paths[f.analyst].end(), f.paths.begin(), f.paths.end());
    std::map<std::string, ledger::JobView> views;  // by path
    for (const auto& [analyst, list] : paths) {
        auto found = queue->lookup(list, q.model_sha256, analyst);
        if (!found)
            return found.error();
        for (auto& v : *found)
            views.emplace(v.path, std::move(v));
    }
    for (auto it = followed.begin(); it != followed.end();) {
        bool finished = true;
        bool changed = false;
        {
            std::lock_guard lock(mutex_);
            auto& job = jobs_.at(it->job_id);
            for (std::size_t k = 0; k < it->paths.size(); ++k) {
                auto& file = job.files.at(it->index[k]);
                if (file.state == "analysed" || file.state == "failed")
                    continue;  // final here, even if an operator requeues the queue's job
                const auto v = views.find(it->paths[k]);
                if (v == views.end()) {  // not in the queue (yet): enqueue() failed half-way?
                    finished = false;
                    it->enqueued = false;
                    continue;
                }
                JobFile now = file;
                switch (v->second.state) {
                    case ledger::JobState::kQueued:
                        now.state = "queued";
                        break;
                    case ledger::JobState::kClaimed:
                        now.state = "analysing";
                        break;
                    case ledger::JobState::kDone:
                        now.state = "analysed";
                        now.analysis_id = v->second.analysis_id;
                        break;
                    case ledger::JobState::kFailed: {
                        now.state = "failed";
                        auto [code, message] =
                            file_error(v->second.error, it->paths[k],
                                       "file " + std::to_string(it->index[k] + 1));
                        now.error_code = std::move(code);
                        now.error_message = std::move(message);
                        break;
                    }
                }
                const bool terminal = now.state == "analysed" || now.state == "failed";
                finished = finished && terminal;
                if (now.state == file.state && now.analysis_id == file.analysis_id)
                    continue;
                if (terminal) {
                    --queued_images_;
                    if (now.state == "analysed")
                        ++analysed_;
                    else
                        ++errors_[now.error_code];
                    // The copy has served: the report folder holds the analysed copy.
                    std::error_code ec;
                    fs::remove(it->paths[k], ec);
                }
                file = std::move(now);
                persist_file(job.id, it->index[k], file);
                changed = true;
            }
            // Running once a worker has taken a file (one that failed before the queue does
            // not count): a client sees its job waiting for workers until then.
            const auto taken = [](const JobFile& f) {
                return f.state == "analysing" || f.state == "analysed";
            };
            const std::string state = finished ? "done"
                                      : std::any_of(job.files.begin(), job.files.end(), taken)
                                          ? "running"
                                          : "queued";
            if (state != job.state) {
                job.state = state;
                persist_state(job.id, state);
                changed = true;
            }
            if (changed)
                ++job.version;
        }
        if (changed)
            changed_.notify_all();
        if (finished) {
            std::error_code ec;
            fs::remove(q.spool / it->job_id, ec);  // empty now
            it = followed.erase(it);
        } else {
            ++it;
        }
    }
    return Status::Ok();
}

void JobService::work_queue() {
    std::vector<Followed> followed = resume();
    std::optional<ledger::JobQueue> queue;
    bool away = false;  // the queue failed at the last poll: an outage is said once
    for (;;) {
        std::vector<Pending> accepted;
        bool stopping = false;
        {
            std::unique_lock lock(mutex_);
            changed_.wait_for(lock, settings_.queue->poll_interval,
                              [&] { return stopping_ || !queue_.empty(); });
            while (!queue_.empty()) {
                accepted.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
            stopping = stopping_;
        }
        // Accepted uploads are spooled even when stopping: the client was given an id.
        for (auto& next : accepted) {
            if (auto f = spool(next)) {
                followed.push_back(std::move(*f));
                continue;
            }
            {
                std::lock_guard lock(mutex_);  // every file failed before the queue
                auto& job = jobs_.at(next.job_id);
                job.state = "done";
                ++job.version;
                persist_state(job.id, job.state);
            }
            changed_.notify_all();
        }
        if (auto s = poll(queue, followed); !s) {
            // The ledger is away: said once, tried again at the next poll on a new connection.
            // What was spooled stays; a restart enqueues it again.
            if (!away) {
                std::cerr << "medanchor serve: the job queue: " << s.error().message()
                          << " (tried again every poll)\n";
            }
            away = true;
            queue.reset();
        } else if (away) {
            away = false;
            std::cerr << "medanchor serve: the job queue answers again\n";
        }
        if (stopping)
            return;
    }
}

}  // namespace medanchor::http
