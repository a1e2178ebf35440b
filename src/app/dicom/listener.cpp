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
    std::string analysing;          // the series process_series() is on; empty: none
    ListenStats stats;

    std::unique_ptr<pacs::StoreScp> scp;
    std::thread assembler;
    std::thread sender;
    std::thread follower;

    Impl(ListenOptions options, const image::SiteKey& key, service::AnalysisService& a,
         chain::AnchoringService* c, ledger::PacsStore s)
        : o(std::move(options)), analysis(a), anchoring(c), remapper(key), store(std::move(s)) {
        deid_options.allow_burned_in_annotation = o.analysis.allow_burned_in;
    }

    fs::path spool_dir() const { return o.data_dir / "spool"; }

    template <class F>
    void count(F&& f) {
        std::lock_guard lock(mutex);
        f(stats);
    }

    // ---- intake (SCP worker threads, the Orthanc follower) ----------------------------------

    // De-identifies one received instance into the spool, durably, and records it; the status
    // to answer. `origin` names the sender ("dimse:AE", "orthanc").
    pacs::StoreStatus intake(const std::string& origin, const std::string& sop_class,
                             const std::string& study, const std::string& series,
                             const std::string& sop, std::span<const std::uint8_t> part10) {
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
        std::error_code made;
        fs::create_directories(dir, made);
        if (made)
            return fail(Error(ErrorCode::kIo, dir.string() + ": " + made.message()),
                        pacs::StoreStatus::kOutOfResources);
        if (auto w = write_file_atomically(final_path, d->part10, /*durable=*/true); !w)
            return fail(w.error(), pacs::StoreStatus::kOutOfResources);
        spooled = true;
        if (o.keep_originals) {
            if (auto w = write_file_atomically(o.data_dir / "originals" / (deid_sop + ".dcm"),
                                               part10, true);
                !w)
                return fail(w.error(), pacs::StoreStatus::kOutOfResources);
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
            auto spooled = [&] {
                std::lock_guard s(store_mutex);
                return store.spooled();
            }();
            lock.lock();
            if (!spooled) {
                log_line("reading the spool: " + spooled.error().message());
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
                if (o.per_instance || due_now.count(series) || due <= now)
                    ready.push_back(series);
                else
                    next = std::min(next, due);
            }
            if (ready.empty()) {
                wake_assembler.wait_until(lock, next);
                continue;
            }
            for (const auto& series : ready) {
                due_now.erase(series);
                analysing = series;
                lock.unlock();
                process_series(*ledger, series, by_series[series]);
                lock.lock();
                analysing.clear();
                if (stopping)
                    break;
            }
        }
    }

    void process_series(ledger::Ledger& ledger, const std::string& series,
                        const std::vector<ledger::PacsInstance>& rows) {
        service::Observer quiet;
        std::size_t analysed = 0;
        for (const auto& row : rows) {
            if (!row.spool_path)
                continue;
            auto bytes = read_regular_file(*row.spool_path, o.scp.max_object_bytes * 2 + (1 << 20));
            Result<service::Recorded> recorded =
                bytes ? analysis.analyze(service::ImageSource::pacs_instance(
                                             std::move(*bytes), row.origin + "/" + row.sop_uid),
                                         o.analysis, quiet)
                      : Result<service::Recorded>(bytes.error());
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
        std::error_code ec;
        fs::remove(spool_dir() / series, ec);  // only when empty
        if (anchoring != nullptr && analysed > 0)
            anchoring->notify();
        if (auto s = summarise(ledger, series); !s)
            log_line("series " + series + ": no SR: " + s.error().message() + " [" +
                     error_info(s.error().code()).name + "]");
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
            }
            summary.images.push_back(std::move(image));
            if (a->report_dir)
                fhir_files.push_back((fs::path(*a->report_dir) / "report.fhir.json").string());
        }
        if (summary.images.empty())
            return Error(ErrorCode::kNoInput, "no instance of it could be analysed");
        const fs::path dir = o.data_dir / "results" / series;
        const fs::path staged = dir / ".staged.sr.dcm";
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (auto w = report::write_series_sr(summary, staged); !w)
            return w;
        auto bytes = read_regular_file(staged, kMaxSrBytes);
        if (!bytes)
            return bytes.error();
        const std::string digest = to_hex(sha256(*bytes));
        const fs::path sr = dir / (digest + ".sr.dcm");
        fs::rename(staged, sr, ec);
        if (ec)
            return Error(ErrorCode::kIo, sr.string() + ": " + ec.message());
        const auto worst = report::worst_image(summary);
        const auto& w = summary.images[worst].report.result;
        log_line("series " + series + ": " + std::to_string(summary.images.size()) +
                 " image(s) analysed, worst finding " + w.finding_code + " (" +
                 report::percent_string(w.confidence_bp) + "%); SR " + sr.filename().string());
        count([](ListenStats& s) { ++s.series_analysed; });
        std::lock_guard lock(store_mutex);
        const auto queue = [&](const std::string& destination, const std::string& kind,
                               const std::string& path, const std::string& sha) -> Status {
            auto added = store.enqueue(series, destination, kind, path, sha);
            return added ? Status::Ok() : Status(added.error());
        };
        for (const auto& peer : o.send_to)
            if (auto s = queue(destination_name(peer), "sr", sr.string(), digest); !s)
                return s;
        for (const auto& url : o.stow)
            if (auto s = queue("stow:" + url, "sr", sr.string(), digest); !s)
                return s;
        if (!o.orthanc.empty())
            if (auto s = queue("orthanc:" + o.orthanc, "sr", sr.string(), digest); !s)
                return s;
        for (const auto& url : o.fhir) {
            for (const auto& file : fhir_files) {
                auto fb = read_regular_file(file, kMaxSrBytes);
                if (!fb)
                    return fb.error();
                if (auto s = queue("fhir:" + url, "fhir", file, to_hex(sha256(*fb))); !s)
                    return s;
            }
        }
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

    Status fetch_series(pacs::OrthancClient& client, const std::string& id) {
        auto s = client.series(id);
        if (!s) {
            // Deleted since: nothing to analyse.
            return s.error().code() == ErrorCode::kNotFound ? Status::Ok() : Status(s.error());
        }
        std::string deid_series;
        for (const auto& instance : s->instances) {
            auto file = client.instance_file(instance);
            if (!file)
                return file.error();
            auto uids = image::read_instance_uids(*file, "orthanc/" + instance);
            if (!uids) {
                log_line("Orthanc instance " + instance + " skipped: " + uids.error().message());
                continue;
            }
            const auto status = intake("orthanc", uids->sop_class, uids->study, uids->series,
                                       uids->sop_instance, *file);
            if (status == pacs::StoreStatus::kOutOfResources)
                return Error(ErrorCode::kIo, "Orthanc instance " + instance + ": not spooled");
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
        auto client = pacs::OrthancClient::create(o.orthanc);
        if (!client) {
            log_line(client.error().message());
            return;
        }
        const std::string cursor_name = "orthanc:" + o.orthanc;
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
                } else if (followed.error().message() != "stopping") {
                    log_line("following " + o.orthanc + "/changes: " + followed.error().message() +
                             " (tried again)");
                }
            } else {
                log_line(since.error().message());
            }
            lock.lock();
            if (!stopping)
                wake_follower.wait_for(lock, o.orthanc_poll);
        }
    }
};

Result<std::unique_ptr<Listener>> Listener::start(ListenOptions options,
                                                  const image::SiteKey& site_key,
                                                  service::AnalysisService& analysis,
                                                  chain::AnchoringService* anchoring) {
    if (auto ledger = ledger::Ledger::open(options.ledger_path); !ledger)
        return ledger.error();  // creates and migrates the schema
    auto store = ledger::PacsStore::open(options.ledger_path);
    if (!store)
        return store.error();
    auto impl = std::make_unique<Impl>(std::move(options), site_key, analysis, anchoring,
                                       std::move(*store));
    std::error_code ec;
    fs::create_directories(impl->spool_dir(), ec);
    if (ec)
        return Error(ErrorCode::kIo, impl->spool_dir().string() + ": " + ec.message());
    fs::permissions(impl->o.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    if (impl->o.keep_originals) {
        const fs::path originals = impl->o.data_dir / "originals";
        fs::create_directories(originals, ec);
        if (!ec)
            fs::permissions(originals, fs::perms::owner_all, fs::perm_options::replace, ec);
        if (ec)
            return Error(ErrorCode::kIo, originals.string() + ": " + ec.message());
    }
    Impl* raw = impl.get();
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
