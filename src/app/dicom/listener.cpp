#include "app/dicom/listener.h"

#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/encoding.h"
#include "common/file_io.h"
#include "image/deid.h"
#include "image/instance_uids.h"
#include "ledger/job_queue.h"
#include "ledger/ledger.h"
#include "ledger/pacs_store.h"
#include "pacs/dicomweb.h"
#include "pacs/fhir_client.h"
#include "pacs/orthanc_client.h"
#include "pacs/store_scu.h"
#include "report/dicom_sr.h"
#include "report/report.h"

namespace medanchor::dicom {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxSrBytes = std::size_t{64} << 20;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

// One line on stderr per event; only de-identified UIDs and our own ids, never patient identity.
void log_line(const std::string& line) {
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    std::cerr << "medanchor listen: " << line << std::endl;
}

// Whether a failure may pass by itself (tried again later) or will not (recorded and given up
// until an operator asks again): the network, a timeout (HTTP 408 and 429, DIMSE 0xA7xx are told
// as these by the pacs layer) and our own disk pass; a refusal, a missing resource, something
// too large, not DICOM or not supported do not.
bool passes(const Error& e) {
    switch (e.code()) {
        case ErrorCode::kNetwork:
        case ErrorCode::kTimeout:
        case ErrorCode::kIo:
            return true;
        default:
            return false;
    }
}

}  // namespace

bool is_image_sop_class(const std::string& uid) {
    static constexpr std::string_view kNotImages[] = {
        "1.2.840.10008.5.1.4.1.1.88.",   // structured reports, key object selection
        "1.2.840.10008.5.1.4.1.1.11.",   // presentation states
        "1.2.840.10008.5.1.4.1.1.481.",  // RT objects
        "1.2.840.10008.5.1.4.1.1.9.",    // waveforms
        "1.2.840.10008.5.1.4.1.1.104.",  // encapsulated PDF, CDA, STL...
        "1.2.840.10008.5.1.4.1.1.66",    // raw data, spatial registration, segmentation...
        "1.2.840.10008.5.1.4.1.1.67",    // real world value mapping
    };
    for (auto prefix : kNotImages) {
        if (starts_with(uid, prefix))
            return false;
    }
    return starts_with(uid, "1.2.840.10008.5.1.4.1.1");
}

Status check_data_folder(const fs::path& data_dir) {
    return check_state_folder(data_dir,
                              {"spool", "results", "reports", "originals", "ledger.sqlite"},
                              "--data", "listener");
}

std::string destination_name(const pacs::DicomPeer& peer) {
    return "dimse:" + peer.to_string();
}

struct Listener::Impl {
    ListenOptions o;
    service::AnalysisService& analysis;
    chain::AnchoringService* anchoring;
    const image::UidRemapper remapper;
    image::DeidOptions deid_options;

    std::mutex store_mutex;
    ledger::PacsStore store;  // guarded by store_mutex (one connection behind a lock)

    mutable std::mutex mutex;  // guards everything below
    std::condition_variable wake_assembler;
    std::condition_variable wake_sender;
    std::condition_variable wake_follower;
    bool stopping = false;
    // When the last instance of each series with spooled instances arrived (or, for a series
    // spooled by an earlier run, when this run first saw it).
    std::map<std::string, Clock::time_point> last_arrival;
    std::set<std::string> due_now;  // series to analyse without waiting (stable in Orthanc)
    // Series whose summary failed: when to try again, and the wait before that try. A series
    // marked due in the ledger and absent here (every one at start) is summarised at once.
    std::map<std::string, std::pair<Clock::time_point, std::chrono::milliseconds>> summary_retry;
    std::string analysing;  // the series process_series() is on; empty: none
    // On a PostgreSQL ledger: the series whose jobs are followed, and when to look them up next.
    std::map<std::string, Clock::time_point> next_follow;
    ListenStats stats;

    // On a PostgreSQL ledger, the job queue (used by the assembler only: one connection) and the
    // model the jobs are queued for; empty otherwise.
    std::optional<ledger::JobQueue> queue;
    std::string model_sha256;

    std::unique_ptr<pacs::StoreScp> scp;
    std::thread assembler;
    std::thread sender;
    std::thread follower;

    Impl(ListenOptions options, const image::SiteKey& key, service::AnalysisService& a,
         chain::AnchoringService* c, ledger::PacsStore s)
        : o(std::move(options)), analysis(a), anchoring(c), remapper(key), store(std::move(s)) {
        deid_options.allow_burned_in_annotation = o.analysis.allow_burned_in;
    }

    fs::path spool_dir() const { return o.spool_dir.empty() ? o.data_dir / "spool" : o.spool_dir; }

    template <class F>
    void count(F&& f) {
        std::lock_guard lock(mutex);
        f(stats);
    }

    // ---- intake (SCP worker threads, the Orthanc follower) ----------------------------------

    // De-identifies one received instance into the spool, durably, and records it; the status
    // to answer. `origin` names the sender ("dimse:AE", "orthanc").
    // `refusal`, when given, receives the reason of a status other than Success.
    pacs::StoreStatus intake(const std::string& origin, const std::string& sop_class,
                             const std::string& study, const std::string& series,
                             const std::string& sop, std::span<const std::uint8_t> part10,
                             std::string* refusal = nullptr) {
        if (!is_image_sop_class(sop_class)) {
            count([](ListenStats& s) { ++s.instances_ignored; });
            return pacs::StoreStatus::kSuccess;
        }
        const std::string deid_series = remapper.remap(series);
        const std::string deid_sop = remapper.remap(sop);
        {
            std::lock_guard lock(store_mutex);
            auto known = store.instance(deid_sop);
            if (!known) {
                log_line("instance " + deid_sop + " from " + origin + ": " +
                         known.error().message());
                if (refusal != nullptr)
                    *refusal = known.error().message();
                count([](ListenStats& s) { ++s.instances_refused; });
                return pacs::StoreStatus::kOutOfResources;
            }
            if (*known) {
                count([](ListenStats& s) { ++s.instances_duplicate; });
                return pacs::StoreStatus::kSuccess;
            }
        }
        const fs::path dir = spool_dir() / deid_series;
        const fs::path final_path = dir / (deid_sop + ".dcm");
        bool spooled = false;
        auto fail = [&](const Error& e, pacs::StoreStatus status) {
            // Nothing announces a spool file the row was never written for: it goes.
            std::error_code ec;
            if (spooled)
                fs::remove(final_path, ec);
            log_line("instance " + deid_sop + " from " + origin + " refused: " + e.message() +
                     " [" + error_info(e.code()).name + "]");
            if (refusal != nullptr)
                *refusal = e.message();
            count([](ListenStats& s) { ++s.instances_refused; });
            return status;
        };
        // De-identified from the bytes in memory (never written identified), then made durable
        // (fsync of the file and its folder) before the row that announces it.
        const fs::path name = origin + "/" + deid_sop;
        auto d = image::deidentify_in_memory(part10, name, deid_options, remapper);
        if (!d) {
            const auto code = d.error().code();
            return fail(d.error(), code == ErrorCode::kIo ? pacs::StoreStatus::kOutOfResources
                                                          : pacs::StoreStatus::kCannotUnderstand);
        }
        if (!d->uids)
            return fail(d->uids.error(), pacs::StoreStatus::kCannotUnderstand);
        const image::InstanceUids* uids = &*d->uids;
        // A new series folder is made durable too (fsync of the spool): the file in it would
        // otherwise be unreachable after a crash while its row says it is spooled.
        if (auto made = create_directories_durably(dir); !made)
            return fail(made.error(), pacs::StoreStatus::kOutOfResources);
        if (auto w = write_file_atomically(final_path, d->part10, /*durable=*/true); !w)
            return fail(w.error(), pacs::StoreStatus::kOutOfResources);
        spooled = true;
        if (o.keep_originals) {
            // Identified: owner-only (0600) before it takes its name, in the 0700 folder.
            AtomicFile original(o.data_dir / "originals" / (deid_sop + ".dcm"));
            std::error_code mode;
            if (auto w = write_new_file(original.temp_path(), part10); !w)
                return fail(w.error(), pacs::StoreStatus::kOutOfResources);
            fs::permissions(original.temp_path(), fs::perms::owner_read | fs::perms::owner_write,
                            fs::perm_options::replace, mode);
            if (mode)
                return fail(
                    Error(ErrorCode::kIo, original.target().string() + ": " + mode.message()),
                    pacs::StoreStatus::kOutOfResources);
            if (auto c = original.commit({.replace = true, .durable = true}); !c)
                return fail(c.error(), pacs::StoreStatus::kOutOfResources);
        }
        ledger::PacsInstance row;
        row.sop_uid = uids->sop_instance;
        row.series_uid = uids->series;
        row.study_uid = uids->study;
        row.sop_class_uid = uids->sop_class;
        row.origin = origin;
        row.spool_path = final_path.string();
        if (o.reference_originals)
            row.original_uids = study + "\\" + series + "\\" + sop;
        {
            std::lock_guard lock(store_mutex);
            auto added = store.add_instance(row);
            if (!added)
                return fail(added.error(), pacs::StoreStatus::kOutOfResources);
        }
        {
            std::lock_guard lock(mutex);
            ++stats.instances_received;
            last_arrival[row.series_uid] = Clock::now();
        }
        wake_assembler.notify_one();
        return pacs::StoreStatus::kSuccess;
    }

    // Removes what a killed process left in the spool that no ledger row announces: a file
    // written before its row was (the sender was never answered Success, and will retry), one
    // whose instance was analysed or failed before the file's removal, a temporary. Runs at
    // start, before the SCP and the assembler. Returns how many files went.
    Result<std::size_t> sweep_spool() {
        std::size_t removed = 0;
        std::error_code ec;
        for (fs::directory_iterator series(spool_dir(), ec), end; !ec && series != end;
             series.increment(ec)) {
            if (!series->is_directory(ec))
                continue;
            std::error_code inner;
            for (fs::directory_iterator f(series->path(), inner); !inner && f != end;
                 f.increment(inner)) {
                const fs::path path = f->path();
                const std::string stem = path.stem().string();
                auto row = store.instance(stem);
                if (!row)
                    return row.error();
                if (*row && (*row)->spool_path == path.string())
                    continue;
                std::error_code rm;
                fs::remove_all(path, rm);
                if (rm)
                    return Error(ErrorCode::kIo, path.string() + ": " + rm.message());
                ++removed;
            }
            if (inner)
                return Error(ErrorCode::kIo, series->path().string() + ": " + inner.message());
            fs::remove(series->path(), inner);  // only when empty
        }
        if (ec)
            return Error(ErrorCode::kIo, spool_dir().string() + ": " + ec.message());
        return removed;
    }

    // ---- assembler ---------------------------------------------------------------------------

    void assemble_loop() {
        auto ledger = ledger::Ledger::open(o.ledger_path);
        if (!ledger) {
            log_line("cannot open the ledger: " + ledger.error().message());
            return;
        }
        std::unique_lock lock(mutex);
        while (!stopping) {
            lock.unlock();
            auto [spooled, summaries] = [&] {
                std::lock_guard s(store_mutex);
                return std::pair(store.spooled(), store.summaries_due());
            }();
            lock.lock();
            if (!spooled || !summaries) {
                log_line("reading the spool: " +
                         (spooled ? summaries.error() : spooled.error()).message());
                wake_assembler.wait_for(lock, std::chrono::seconds(1));
                continue;
            }
            std::map<std::string, std::vector<ledger::PacsInstance>> by_series;
            for (auto& row : *spooled)
                by_series[row.series_uid].push_back(std::move(row));
            const auto now = Clock::now();
            auto next = now + std::chrono::seconds(1);
            std::vector<std::string> ready;
            for (const auto& [series, rows] : by_series) {
                auto [at, fresh] = last_arrival.emplace(series, now);
                (void)fresh;
                const auto due = at->second + o.stable_after;
                auto follow = next_follow.find(series);
                if (follow != next_follow.end() && follow->second > now)
                    next = std::min(next, follow->second);  // its jobs were looked up just now
                else if (o.per_instance || due_now.count(series) || due <= now)
                    ready.push_back(series);
                else
                    next = std::min(next, due);
            }
            // Series followed and now without spooled instances are finished.
            std::erase_if(next_follow, [&](const auto& f) { return !by_series.count(f.first); });
            // Series whose SR is due and that wait for no instance: a summary that failed (after
            // its backoff) or that a killed process left undone (at start).
            std::vector<std::string> resummarise;
            for (const auto& series : *summaries) {
                if (by_series.count(series))
                    continue;  // summarised once its instances are analysed
                auto retry = summary_retry.find(series);
                if (retry == summary_retry.end() || retry->second.first <= now)
                    resummarise.push_back(series);
                else
                    next = std::min(next, retry->second.first);
            }
            if (ready.empty() && resummarise.empty()) {
                wake_assembler.wait_until(lock, next);
                continue;
            }
            for (const auto& series : ready) {
                due_now.erase(series);
                analysing = series;
                lock.unlock();
                if (queue) {
                    const bool waiting = follow_series(*ledger, series, by_series[series]);
                    lock.lock();
                    if (waiting)
                        next_follow[series] = Clock::now() + o.follow_every;
                    else
                        next_follow.erase(series);
                } else {
                    process_series(*ledger, series, by_series[series]);
                    lock.lock();
                }
                analysing.clear();
                if (stopping)
                    break;
            }
            for (const auto& series : resummarise) {
                if (stopping)
                    break;
                lock.unlock();
                summarise_or_retry(*ledger, series);
                lock.lock();
            }
        }
    }

    void process_series(ledger::Ledger& ledger, const std::string& series,
                        const std::vector<ledger::PacsInstance>& rows) {
        service::Observer quiet;
        std::size_t analysed = 0;
        std::vector<const ledger::PacsInstance*> spooled;
        for (const auto& row : rows) {
            if (row.spool_path)
                spooled.push_back(&row);
        }
        // Through the batch pipeline (decoding overlaps inference on the compute threads), a
        // bounded number of instances at a time: at most kChunk spooled files in memory at once.
        constexpr std::size_t kChunk = 16;
        for (std::size_t start = 0; start < spooled.size(); start += kChunk) {
            const std::size_t end = std::min(spooled.size(), start + kChunk);
            std::vector<std::optional<Result<service::Recorded>>> results(end - start);
            std::vector<service::ImageSource> sources;
            std::vector<std::size_t> source_of;  // sources[j] is spooled[source_of[j]]
            for (std::size_t k = start; k < end; ++k) {
                const auto& row = *spooled[k];
                auto bytes =
                    read_regular_file(*row.spool_path, o.scp.max_object_bytes * 2 + (1 << 20));
                if (!bytes) {
                    results[k - start] = bytes.error();
                    continue;
                }
                source_of.push_back(k);
                sources.push_back(service::ImageSource::deidentified_pacs_instance(
                    std::move(*bytes), row.origin + "/" + row.sop_uid));
            }
            if (!sources.empty()) {
                auto batch = analysis.analyze_batch(sources, o.analysis, quiet);
                for (std::size_t j = 0; j < sources.size(); ++j) {
                    results[source_of[j] - start] = batch
                                                        ? std::move(batch->images[j].result)
                                                        : Result<service::Recorded>(batch.error());
                }
                sources.clear();  // the chunk's bytes go before the next chunk is read
            }
            for (std::size_t k = start; k < end; ++k) {
                const auto& row = *spooled[k];
                Result<service::Recorded>& recorded = *results[k - start];
                std::lock_guard lock(store_mutex);
                if (recorded) {
                    if (auto s = store.mark_analysed(row.sop_uid, recorded->analysis.id); !s) {
                        log_line("series " + series + ": " + s.error().message());
                        return;  // the instance stays spooled; tried again
                    }
                    ++analysed;
                    count([](ListenStats& s) { ++s.images_analysed; });
                } else {
                    log_line("instance " + row.sop_uid + " of series " + series +
                             " not analysed: " + recorded.error().message() + " [" +
                             error_info(recorded.error().code()).name + "]");
                    if (auto s = store.mark_failed(row.sop_uid, recorded.error().message()); !s) {
                        log_line("series " + series + ": " + s.error().message());
                        return;
                    }
                    count([](ListenStats& s) { ++s.images_failed; });
                }
                std::error_code ec;
                fs::remove(*row.spool_path, ec);
            }
        }
        std::error_code ec;
        fs::remove(spool_dir() / series, ec);  // only when empty
        if (anchoring != nullptr && analysed > 0)
            anchoring->notify();
        summarise_or_retry(ledger, series);
    }

    // On a PostgreSQL ledger, in place of process_series: the series' spooled instances are jobs
    // for the workers. Queues those that have none (a job already there, from an earlier pass or
    // run, is left alone), takes the outcome of each finished job (done: the instance is
    // analysed, with the analysis the worker recorded; failed: it failed, with the job's error)
    // and removes its spool file, and summarises the series as process_series does once none is
    // left waiting (with --per-instance, whenever one more was analysed). Whether instances still
    // wait for the workers; on a ledger error, true (tried again at the next look-up).
    bool follow_series(ledger::Ledger& ledger, const std::string& series,
                       const std::vector<ledger::PacsInstance>& rows) {
        std::vector<std::string> paths;
        std::map<std::string, const ledger::PacsInstance*> by_path;
        for (const auto& row : rows) {
            if (row.spool_path && by_path.emplace(*row.spool_path, &row).second)
                paths.push_back(*row.spool_path);
        }
        const std::string& analyst = o.analysis.analyst;
        auto jobs = queue->lookup(paths, model_sha256, analyst);
        if (!jobs) {
            log_line("series " + series + ": looking up its jobs: " + jobs.error().message());
            return true;
        }
        std::size_t analysed = 0, finished = 0, waiting = 0;
        std::set<std::string> known;
        for (const auto& job : *jobs) {
            known.insert(job.path);
            const auto& row = *by_path.at(job.path);
            if (job.state == ledger::JobState::kDone && job.analysis_id) {
                std::lock_guard lock(store_mutex);
                if (auto s = store.mark_analysed(row.sop_uid, *job.analysis_id); !s) {
                    log_line("series " + series + ": " + s.error().message());
                    return true;  // the instance stays spooled; tried again
                }
                ++analysed;
                count([](ListenStats& st) { ++st.images_analysed; });
            } else if (job.state == ledger::JobState::kFailed) {
                const std::string why = job.error.empty() ? "its job failed" : job.error;
                log_line("instance " + row.sop_uid + " of series " + series +
                         " not analysed: " + why);
                std::lock_guard lock(store_mutex);
                if (auto s = store.mark_failed(row.sop_uid, why); !s) {
                    log_line("series " + series + ": " + s.error().message());
                    return true;
                }
                count([](ListenStats& st) { ++st.images_failed; });
            } else {
                ++waiting;
                continue;
            }
            ++finished;
            std::error_code ec;
            fs::remove(job.path, ec);
        }
        std::vector<std::string> missing;
        for (const auto& path : paths) {
            if (!known.count(path))
                missing.push_back(path);
        }
        if (!missing.empty()) {
            auto added = queue->enqueue_deidentified(missing, model_sha256, analyst);
            if (!added) {
                log_line("series " + series +
                         ": queueing its instances: " + added.error().message());
                return true;
            }
            log_line("series " + series + ": " + std::to_string(missing.size()) +
                     " instance(s) queued for the workers (model " + model_sha256.substr(0, 12) +
                     ", analyst " + analyst + ")");
            waiting += missing.size();
        }
        if (waiting == 0) {
            std::error_code ec;
            fs::remove(spool_dir() / series, ec);  // only when empty
        }
        if (finished > 0 && (waiting == 0 || (o.per_instance && analysed > 0)))
            summarise_or_retry(ledger, series);
        return waiting > 0;
    }

    // Summarises a series; on failure its mark stays in the ledger and it is tried again after
    // the backoff of the sends (retry_first, doubled each time, at most retry_max).
    void summarise_or_retry(ledger::Ledger& ledger, const std::string& series) {
        if (auto s = summarise(ledger, series); !s) {
            std::lock_guard lock(mutex);
            auto [at, fresh] = summary_retry.try_emplace(series, Clock::now(), o.retry_first);
            auto& [when, wait] = at->second;
            if (!fresh)
                wait = std::min(wait * 2, o.retry_max);
            when = Clock::now() + wait;
            log_line("series " + series + ": no SR: " + s.error().message() + " [" +
                     error_info(s.error().code()).name + "] (tried again in " +
                     std::to_string(
                         std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) +
                     " ms)");
        } else {
            std::lock_guard lock(mutex);
            summary_retry.erase(series);
        }
        wake_sender.notify_one();
    }

    // Writes the series' SR from every analysed instance and queues it (and each image's FHIR
    // bundle) for every destination.
    Status summarise(ledger::Ledger& ledger, const std::string& series) {
        auto rows = [&] {
            std::lock_guard lock(store_mutex);
            return store.series(series);
        }();
        if (!rows)
            return rows.error();
        report::SeriesSummary summary;
        std::vector<std::string> fhir_files;
        for (const auto& row : *rows) {
            if (!row.analysis_id)
                continue;
            auto a = ledger.get(*row.analysis_id);
            if (!a)
                return a.error();
            auto rep = report::from_json(a->report_json);
            if (!rep)
                return rep.error();
            if (!rep->image.dicom)
                continue;
            report::SeriesImage image{*rep, *rep->image.dicom};
            if (o.reference_originals && row.original_uids) {
                const std::string& u = *row.original_uids;
                const auto first = u.find('\\');
                const auto second = u.find('\\', first + 1);
                image.cited.study_instance_uid = u.substr(0, first);
                image.cited.series_instance_uid = u.substr(first + 1, second - first - 1);
                image.cited.sop_instance_uid = u.substr(second + 1);
                summary.cites_originals = true;
            }
            summary.images.push_back(std::move(image));
            if (a->report_dir)
                fhir_files.push_back((fs::path(*a->report_dir) / "report.fhir.json").string());
        }
        if (summary.images.empty()) {
            // Nothing analysed (each instance failed): no SR, nothing to send, not due again.
            std::lock_guard lock(store_mutex);
            if (auto s = store.complete_summary(series, {}); !s)
                return s;
            log_line("series " + series + ": no SR: no instance of it could be analysed");
            return Status::Ok();
        }
        // The SR is made beside its place, then written durably under its digest: the queue
        // will name that file, so it must be on disk before the enqueues commit.
        const fs::path dir = o.data_dir / "results" / series;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (ec)
            return Error(ErrorCode::kIo, dir.string() + ": " + ec.message());
        std::vector<std::uint8_t> bytes;
        {
            AtomicFile staged(dir / "staged.sr.dcm");  // removed on every path: never committed
            if (auto w = report::write_series_sr(summary, staged.temp_path()); !w)
                return w;
            auto read = read_regular_file(staged.temp_path(), kMaxSrBytes);
            if (!read)
                return read.error();
            bytes = std::move(*read);
        }
        const std::string digest = to_hex(sha256(bytes));
        const fs::path sr = dir / (digest + ".sr.dcm");
        if (auto w = write_file_atomically(sr, bytes, /*durable=*/true); !w)
            return w;
        std::vector<ledger::PacsSend> sends;
        const auto queue = [&](std::string destination, const char* kind, const fs::path& path,
                               const std::string& sha) {
            ledger::PacsSend send;
            send.destination = std::move(destination);
            send.kind = kind;
            send.payload_path = path.string();
            send.payload_sha256 = sha;
            sends.push_back(std::move(send));
        };
        for (const auto& peer : o.send_to)
            queue(destination_name(peer), "sr", sr, digest);
        for (const auto& url : o.stow)
            queue("stow:" + url, "sr", sr, digest);
        if (!o.orthanc.empty())
            queue("orthanc:" + o.orthanc, "sr", sr, digest);
        for (const auto& url : o.fhir) {
            for (const auto& file : fhir_files) {
                auto fb = read_regular_file(file, kMaxSrBytes);
                if (!fb)
                    return fb.error();
                queue("fhir:" + url, "fhir", file, to_hex(sha256(*fb)));
            }
        }
        {
            std::lock_guard lock(store_mutex);
            if (auto s = store.complete_summary(series, sends); !s)
                return s;
        }
        const auto worst = report::worst_image(summary);
        const auto& w = summary.images[worst].report.result;
        log_line("series " + series + ": " + std::to_string(summary.images.size()) +
                 " image(s) analysed, worst finding " + w.finding_code + " (" +
                 report::percent_string(w.confidence_bp) + "%); SR " + sr.filename().string());
        count([](ListenStats& s) { ++s.series_analysed; });
        return Status::Ok();
    }

    // ---- sender ------------------------------------------------------------------------------

    Status send_one(const ledger::PacsSend& send) {
        auto bytes = read_regular_file(send.payload_path, kMaxSrBytes);
        if (!bytes)
            return bytes.error();
        const std::string& d = send.destination;
        if (starts_with(d, "dimse:")) {
            auto peer = pacs::parse_dicom_peer(d.substr(6));
            if (!peer)
                return peer.error();
            pacs::StoreScuOptions options;
            options.calling_ae = o.scp.ae_title;
            auto r = pacs::StoreScu(*peer, options).store(*bytes, send.payload_path);
            return r ? Status::Ok() : Status(r.error());
        }
        if (starts_with(d, "stow:")) {
            auto client = pacs::DicomWebClient::create(d.substr(5));
            if (!client)
                return client.error();
            const std::span<const std::uint8_t> one(*bytes);
            auto r = client->store(std::span(&one, 1));
            if (!r)
                return r.error();
            if (!r->failed.empty())
                return Error(ErrorCode::kRejected,
                             "STOW-RS " + d.substr(5) + ": the archive did not store the SR");
            return Status::Ok();
        }
        if (starts_with(d, "fhir:")) {
            auto client = pacs::FhirClient::create(d.substr(5));
            if (!client)
                return client.error();
            auto r = client->post_bundle(
                std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
            return r ? Status::Ok() : Status(r.error());
        }
        if (starts_with(d, "orthanc:")) {
            auto client = pacs::OrthancClient::create(d.substr(8));
            if (!client)
                return client.error();
            auto r = client->upload(*bytes);
            return r ? Status::Ok() : Status(r.error());
        }
        return Error(ErrorCode::kInvalidArgument, "unknown destination " + d);
    }

    void send_loop() {
        std::unique_lock lock(mutex);
        while (!stopping) {
            lock.unlock();
            auto due = [&] {
                std::lock_guard s(store_mutex);
                return store.due(unix_now());
            }();
            if (!due) {
                log_line("reading the send queue: " + due.error().message());
            } else {
                for (const auto& send : *due) {
                    {
                        std::lock_guard l(mutex);
                        if (stopping)
                            break;
                    }
                    Status sent = send_one(send);
                    std::lock_guard s(store_mutex);
                    if (sent) {
                        if (auto m = store.mark_sent(send.id); !m)
                            log_line("send " + std::to_string(send.id) + ": " +
                                     m.error().message());
                        log_line("sent " + send.kind + " of series " + send.series_uid + " to " +
                                 send.destination);
                        count([](ListenStats& st) { ++st.sends_ok; });
                    } else if (!passes(sent.error()) || send.attempts + 1 >= o.max_send_attempts) {
                        // A dead letter: kept with its reason, sent again only on request.
                        if (auto m = store.mark_dead(send.id, sent.error().message()); !m)
                            log_line("send " + std::to_string(send.id) + ": " +
                                     m.error().message());
                        log_line("sending " + send.kind + " of series " + send.series_uid + " to " +
                                 send.destination + " failed for good (attempt " +
                                 std::to_string(send.attempts + 1) + ", not retried; `medanchor " +
                                 "listen --retry-failed-sends` queues it again): " +
                                 sent.error().message() + " [" +
                                 error_info(sent.error().code()).name + "]");
                        count([](ListenStats& st) {
                            ++st.sends_failed;
                            ++st.sends_dead;
                        });
                    } else {
                        // Backoff: retry_first doubled per failed attempt, at most retry_max.
                        auto wait = o.retry_first;
                        for (int i = 0; i < send.attempts && wait < o.retry_max; ++i)
                            wait *= 2;
                        wait = std::min(wait, o.retry_max);
                        const auto next =
                            unix_now() +
                            std::max<std::int64_t>(
                                1, std::chrono::duration_cast<std::chrono::seconds>(wait).count());
                        (void)store.note_failure(send.id, sent.error().message(), next);
                        log_line("sending " + send.kind + " of series " + send.series_uid + " to " +
                                 send.destination + " failed (attempt " +
                                 std::to_string(send.attempts + 1) +
                                 ", retried): " + sent.error().message());
                        count([](ListenStats& st) { ++st.sends_failed; });
                    }
                }
            }
            lock.lock();
            if (!stopping)
                wake_sender.wait_for(lock, std::chrono::milliseconds(500));
        }
    }

    // ---- Orthanc mode ------------------------------------------------------------------------

    // Takes every instance of one stable Orthanc series through intake. An error is one that
    // passes (Orthanc unreachable, a timeout, our disk): the caller tries the change again. An
    // instance that will never come (gone, over max_object_bytes, not DICOM, refused by
    // de-identification) is recorded in the ledger with its reason, counted, and skipped.
    Status fetch_series(pacs::OrthancClient& client, const std::string& id) {
        auto s = client.series(id);
        if (!s) {
            // Deleted since: nothing to analyse.
            return s.error().code() == ErrorCode::kNotFound ? Status::Ok() : Status(s.error());
        }
        const std::string feed = "orthanc:" + o.orthanc;
        std::string deid_series;
        for (const auto& instance : s->instances) {
            const auto give_up = [&](const std::string& reason) -> Status {
                log_line("Orthanc instance " + instance + " not taken: " + reason);
                count([](ListenStats& st) { ++st.instances_fetch_failed; });
                std::lock_guard lock(store_mutex);
                return store.add_fetch_failure(feed, instance, reason);
            };
            const auto failed = [&](const Error& e) -> Status {
                return passes(e) ? Status(e) : give_up(e.message());
            };
            // The bound applies before the download (Orthanc knows the size) and to it.
            auto size = client.instance_size(instance);
            if (!size) {
                if (auto f = failed(size.error()); !f)
                    return f;
                continue;
            }
            if (*size > o.scp.max_object_bytes) {
                if (auto f = give_up(std::to_string(*size) + " bytes, over the bound of " +
                                     std::to_string(o.scp.max_object_bytes) +
                                     " (--max-object-mb) [too-large]");
                    !f)
                    return f;
                continue;
            }
            auto file = client.instance_file(instance);
            if (!file) {
                if (auto f = failed(file.error()); !f)
                    return f;
                continue;
            }
            auto uids = image::read_instance_uids(*file, "orthanc/" + instance);
            if (!uids) {
                if (auto f = failed(uids.error()); !f)
                    return f;
                continue;
            }
            std::string refusal;
            const auto status = intake("orthanc", uids->sop_class, uids->study, uids->series,
                                       uids->sop_instance, *file, &refusal);
            if (status == pacs::StoreStatus::kOutOfResources)
                return Error(ErrorCode::kIo, "Orthanc instance " + instance + ": not spooled");
            if (status != pacs::StoreStatus::kSuccess) {
                if (auto f = give_up(refusal); !f)
                    return f;
                continue;
            }
            deid_series = remapper.remap(uids->series);
        }
        if (!deid_series.empty()) {
            std::lock_guard lock(mutex);
            due_now.insert(deid_series);  // Orthanc found it stable already
        }
        wake_assembler.notify_one();
        return Status::Ok();
    }

    void follow_loop() {
        pacs::OrthancClientOptions client_options;
        client_options.max_instance_bytes = o.scp.max_object_bytes;
        auto client = pacs::OrthancClient::create(o.orthanc, client_options);
        if (!client) {
            log_line(client.error().message());
            return;
        }
        const std::string cursor_name = "orthanc:" + o.orthanc;
        // After a failure the next try waits retry_first, doubled each time, at most retry_max.
        auto wait = o.orthanc_poll;
        std::unique_lock lock(mutex);
        while (!stopping) {
            lock.unlock();
            auto since = [&] {
                std::lock_guard s(store_mutex);
                return store.cursor(cursor_name);
            }();
            if (since) {
                auto followed = client->follow_changes(
                    *since, [&](const pacs::OrthancChange& change) -> Status {
                        {
                            std::lock_guard l(mutex);
                            if (stopping)
                                return Error(ErrorCode::kTimeout, "stopping");
                        }
                        if (change.change_type == "StableSeries") {
                            if (auto f = fetch_series(*client, change.id); !f)
                                return f;
                        }
                        std::lock_guard s(store_mutex);
                        return store.set_cursor(cursor_name, change.seq);
                    });
                if (followed) {
                    std::lock_guard s(store_mutex);
                    (void)store.set_cursor(cursor_name, *followed);
                    wait = o.orthanc_poll;
                } else if (followed.error().message() != "stopping") {
                    wait = wait == o.orthanc_poll ? o.retry_first : std::min(wait * 2, o.retry_max);
                    log_line(
                        "following " + o.orthanc + "/changes: " + followed.error().message() +
                        " (tried again in " +
                        std::to_string(
                            std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) +
                        " ms, from the saved cursor)");
                }
            } else {
                log_line(since.error().message());
            }
            lock.lock();
            if (!stopping)
                wake_follower.wait_for(lock, wait);
        }
    }
};

Result<std::unique_ptr<Listener>> Listener::start(ListenOptions options,
                                                  const image::SiteKey& site_key,
                                                  service::AnalysisService& analysis,
                                                  chain::AnchoringService* anchoring) {
    // The data folder is made private (it may hold identified originals): refused, before
    // anything is made in it, when it holds other things and nothing of a listener's.
    if (auto s = check_data_folder(options.data_dir); !s)
        return s.error();
    if (auto ledger = ledger::Ledger::open(options.ledger_path); !ledger)
        return ledger.error();  // creates and migrates the schema
    auto store = ledger::PacsStore::open(options.ledger_path);
    if (!store)
        return store.error();
    if (options.retry_failed_sends) {
        auto again = store->retry_failed_sends();
        if (!again)
            return again.error();
        log_line(std::to_string(*again) + " failed send(s) queued again");
    }
    std::optional<ledger::JobQueue> queue;
    if (ledger::is_postgres_location(options.ledger_path.native())) {
        // The workers read the spool at the path the jobs name: absolute.
        std::error_code abs;
        options.spool_dir = fs::absolute(
            options.spool_dir.empty() ? options.data_dir / "spool" : options.spool_dir, abs);
        if (abs)
            return Error(ErrorCode::kIo, options.data_dir.string() + ": " + abs.message());
        auto q = ledger::JobQueue::open(options.ledger_path);
        if (!q)
            return q.error();
        queue.emplace(std::move(*q));
        anchoring = nullptr;  // the ledger's anchoring writer is `medanchor anchorer`
    }
    auto impl = std::make_unique<Impl>(std::move(options), site_key, analysis, anchoring,
                                       std::move(*store));
    if (queue) {
        impl->queue.emplace(std::move(*queue));
        impl->model_sha256 = analysis.bundle().manifest.model_sha256;
    }
    if (auto made = create_directories_durably(impl->spool_dir()); !made)
        return made.error();
    std::error_code ec;
    fs::permissions(impl->o.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (ec)
        return Error(ErrorCode::kIo, impl->o.data_dir.string() + ": " + ec.message());
    if (impl->o.keep_originals) {
        const fs::path originals = impl->o.data_dir / "originals";
        fs::create_directories(originals, ec);
        if (!ec)
            fs::permissions(originals, fs::perms::owner_all, fs::perm_options::replace, ec);
        if (ec)
            return Error(ErrorCode::kIo, originals.string() + ": " + ec.message());
    }
    Impl* raw = impl.get();
    auto swept = raw->sweep_spool();
    if (!swept)
        return swept.error();
    if (*swept > 0)
        log_line(std::to_string(*swept) + " file(s) in the spool that no ledger row announces " +
                 "removed (left by a process stopped while spooling)");
    if (raw->o.listen_dimse) {
        auto scp_options = raw->o.scp;
        scp_options.on_refused = [raw](pacs::StoreStatus status, const Error& why) {
            log_line("instance refused (status 0x" +
                     to_hex(std::array<std::uint8_t, 2>{
                         static_cast<std::uint8_t>(static_cast<unsigned>(status) >> 8),
                         static_cast<std::uint8_t>(static_cast<unsigned>(status) & 0xFF)}) +
                     "): " + why.message());
            raw->count([](ListenStats& s) { ++s.instances_refused; });
        };
        auto scp =
            pacs::StoreScp::start(std::move(scp_options), [raw](pacs::ReceivedInstance&& in) {
                return raw->intake("dimse:" + in.calling_ae, in.sop_class_uid,
                                   in.study_instance_uid, in.series_instance_uid,
                                   in.sop_instance_uid, in.part10);
            });
        if (!scp)
            return scp.error();
        raw->scp = std::move(*scp);
    }
    raw->assembler = std::thread([raw] { raw->assemble_loop(); });
    raw->sender = std::thread([raw] { raw->send_loop(); });
    if (!raw->o.orthanc.empty())
        raw->follower = std::thread([raw] { raw->follow_loop(); });
    return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Listener::~Listener() {
    stop();
}

std::uint16_t Listener::port() const {
    return impl_->scp ? impl_->scp->port() : 0;
}

ListenStats Listener::stats() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->stats;
}

std::map<std::string, SeriesPhase> Listener::phases() const {
    // Entries of finished series stay in last_arrival; the caller reads only the series the
    // ledger says have spooled instances.
    std::map<std::string, SeriesPhase> out;
    const auto now = Clock::now();
    std::lock_guard lock(impl_->mutex);
    for (const auto& [series, at] : impl_->last_arrival) {
        if (series == impl_->analysing)
            out[series] = SeriesPhase::kAnalysing;
        else if (impl_->o.per_instance || impl_->due_now.count(series) ||
                 at + impl_->o.stable_after <= now)
            out[series] = SeriesPhase::kWaiting;
        else
            out[series] = SeriesPhase::kReceiving;
    }
    if (!impl_->analysing.empty())
        out[impl_->analysing] = SeriesPhase::kAnalysing;
    for (const auto& [series, at] : impl_->next_follow)
        out[series] = SeriesPhase::kAnalysing;  // queued: the workers analyse it
    return out;
}

void Listener::stop() {
    if (impl_->scp)
        impl_->scp->stop();
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
    }
    impl_->wake_assembler.notify_all();
    impl_->wake_sender.notify_all();
    impl_->wake_follower.notify_all();
    for (auto* t : {&impl_->assembler, &impl_->sender, &impl_->follower}) {
        if (t->joinable())
            t->join();
    }
}

}  // namespace medanchor::dicom
