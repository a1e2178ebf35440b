// The listener's tables of the ledger (pacs_store.h), on either backend (backend.h): one
// connection of its own, every change one write transaction of the backend (SQLite: BEGIN
// IMMEDIATE; PostgreSQL: SERIALIZABLE, run again on a conflict), statements written once in the
// SQL both engines speak. Order of arrival is `rowid`: SQLite's own, and on PostgreSQL an identity
// column of that name (postgres_backend.cpp, version 4), so one ORDER BY serves both.
#include "ledger/pacs_store.h"

#include <functional>

#include "ledger/backend.h"
#include "ledger/ledger.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

struct PacsStore::Impl : StoreConnection {
    // The one INSERT of a send (inside the caller's transaction); whether it was new. Only the
    // (destination, digest) conflict is ignored: OR IGNORE would drop a row failing a CHECK too.
    Result<bool> insert_send(const std::string& series_uid, const std::string& destination,
                             const std::string& kind, const std::string& payload_path,
                             const std::string& payload_sha256) {
        auto n = run(
            "INSERT INTO pacs_sends (series_uid, destination, kind, payload_path, payload_sha256, "
            "state, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) "
            "ON CONFLICT (destination, payload_sha256) DO NOTHING",
            {text(series_uid), text(destination), text(kind), text(payload_path),
             text(payload_sha256), text(utc_now())},
            "queueing a send to " + destination);
        if (!n)
            return n.error();
        return *n == 1;
    }
};

namespace {

constexpr const char* kInstanceColumns =
    "sop_uid, series_uid, study_uid, sop_class_uid, origin, spool_path, original_uids, "
    "analysis_id, error, received_at";
constexpr const char* kSendColumns =
    "id, series_uid, destination, kind, payload_path, payload_sha256, state, attempts, "
    "next_attempt_at, last_error, created_at, sent_at";

PacsInstance read_instance(const SqlRow& s) {
    PacsInstance i;
    i.sop_uid = s.text(0);
    i.series_uid = s.text(1);
    i.study_uid = s.text(2);
    i.sop_class_uid = s.text(3);
    i.origin = s.text(4);
    i.spool_path = s.opt_text(5);
    i.original_uids = s.opt_text(6);
    if (auto id = s.opt_u64(7))
        i.analysis_id = static_cast<std::int64_t>(*id);
    i.error = s.opt_text(8);
    i.received_at = s.text(9);
    return i;
}

// The per-series aggregate of pacs_instances; read_series() reads its columns.
constexpr const char* kSeriesSelect =
    "SELECT series_uid, min(study_uid), count(*), count(analysis_id), count(error), "
    "sum(CASE WHEN analysis_id IS NULL AND error IS NULL THEN 1 ELSE 0 END), min(received_at), "
    "max(received_at), "
    "max(analysed_at), max(rowid) AS latest FROM pacs_instances";

PacsSeries read_series(const SqlRow& s) {
    PacsSeries r;
    r.series_uid = s.text(0);
    r.study_uid = s.text(1);
    r.instances = static_cast<std::size_t>(s.i64(2));
    r.analysed = static_cast<std::size_t>(s.i64(3));
    r.failed = static_cast<std::size_t>(s.i64(4));
    r.spooled = static_cast<std::size_t>(s.i64(5));
    r.first_received_at = s.text(6);
    r.last_received_at = s.text(7);
    r.last_analysed_at = s.opt_text(8);
    return r;
}

PacsSend read_send(const SqlRow& s) {
    PacsSend r;
    r.id = s.i64(0);
    r.series_uid = s.text(1);
    r.destination = s.text(2);
    r.kind = s.text(3);
    r.payload_path = s.text(4);
    r.payload_sha256 = s.text(5);
    const std::string state = s.text(6);
    r.state = state == "sent"     ? SendState::kSent
              : state == "failed" ? SendState::kFailed
                                  : SendState::kPending;
    r.attempts = static_cast<int>(s.i64(7));
    r.next_attempt_at = s.i64(8);
    r.last_error = s.text(9);
    r.created_at = s.text(10);
    r.sent_at = s.opt_text(11);
    return r;
}

}  // namespace

Result<PacsStore> PacsStore::open(const fs::path& ledger_path) {
    // Connecting migrates the schema (the listener's tables: SQLite version 5, PostgreSQL 4).
    auto impl = std::make_unique<Impl>();
    if (auto s = impl->open(ledger_path); !s)
        return s.error();
    return PacsStore(std::move(impl));
}

PacsStore::PacsStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PacsStore::PacsStore(PacsStore&&) noexcept = default;
PacsStore& PacsStore::operator=(PacsStore&&) noexcept = default;
PacsStore::~PacsStore() = default;

Result<bool> PacsStore::add_instance(const PacsInstance& i) {
    bool added = false;
    auto s = impl_->transaction("recording received instance " + i.sop_uid, [&]() -> Status {
        auto n = impl_->run(
            "INSERT INTO pacs_instances (sop_uid, series_uid, study_uid, sop_class_uid, origin, "
            "spool_path, original_uids, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT (sop_uid) DO NOTHING",
            {text(i.sop_uid), text(i.series_uid), text(i.study_uid), text(i.sop_class_uid),
             text(i.origin), optional_text(i.spool_path), optional_text(i.original_uids),
             text(utc_now())},
            "recording a received instance");
        if (!n)
            return n.error();
        added = *n == 1;
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return added;
}

Result<std::optional<PacsInstance>> PacsStore::instance(const std::string& sop_uid) {
    std::optional<PacsInstance> found;
    const std::string sql =
        std::string("SELECT ") + kInstanceColumns + " FROM pacs_instances WHERE sop_uid = ?1";
    if (auto s = impl_->query(sql, {text(sop_uid)}, "reading a received instance",
                              [&](const SqlRow& st) { found = read_instance(st); });
        !s)
        return s.error();
    return found;
}

Result<std::vector<PacsInstance>> PacsStore::spooled() {
    std::vector<PacsInstance> out;
    const std::string sql = std::string("SELECT ") + kInstanceColumns +
                            " FROM pacs_instances WHERE analysis_id IS NULL AND error IS NULL "
                            "ORDER BY received_at, rowid";
    if (auto s = impl_->query(sql, {}, "listing spooled instances",
                              [&](const SqlRow& st) { out.push_back(read_instance(st)); });
        !s)
        return s.error();
    return out;
}

Result<std::vector<PacsInstance>> PacsStore::series(const std::string& series_uid) {
    std::vector<PacsInstance> out;
    const std::string sql = std::string("SELECT ") + kInstanceColumns +
                            " FROM pacs_instances WHERE series_uid = ?1 ORDER BY rowid";
    if (auto s = impl_->query(sql, {text(series_uid)}, "listing a series' instances",
                              [&](const SqlRow& st) { out.push_back(read_instance(st)); });
        !s)
        return s.error();
    return out;
}

Result<std::vector<PacsSeries>> PacsStore::series_page(std::size_t limit, std::size_t offset) {
    std::vector<PacsSeries> out;
    const std::string sql = std::string(kSeriesSelect) +
                            " GROUP BY series_uid ORDER BY latest DESC, series_uid LIMIT ?1 "
                            "OFFSET ?2";
    if (auto s = impl_->query(
            sql,
            {number(static_cast<std::int64_t>(limit)), number(static_cast<std::int64_t>(offset))},
            "listing received series", [&](const SqlRow& st) { out.push_back(read_series(st)); });
        !s)
        return s.error();
    return out;
}

Result<std::optional<PacsSeries>> PacsStore::series_summary(const std::string& series_uid) {
    std::optional<PacsSeries> found;
    const std::string sql =
        std::string(kSeriesSelect) + " WHERE series_uid = ?1 GROUP BY series_uid";
    if (auto s = impl_->query(sql, {text(series_uid)}, "reading a received series",
                              [&](const SqlRow& st) { found = read_series(st); });
        !s)
        return s.error();
    return found;
}

Result<std::size_t> PacsStore::series_count() {
    std::size_t n = 0;
    if (auto s = impl_->query("SELECT count(DISTINCT series_uid) FROM pacs_instances", {},
                              "counting received series",
                              [&](const SqlRow& st) { n = static_cast<std::size_t>(st.i64(0)); });
        !s)
        return s.error();
    return n;
}

Result<std::vector<PacsSend>> PacsStore::series_sends(const std::string& series_uid) {
    std::vector<PacsSend> out;
    const std::string sql = std::string("SELECT ") + kSendColumns +
                            " FROM pacs_sends WHERE series_uid = ?1 ORDER BY id";
    if (auto s = impl_->query(sql, {text(series_uid)}, "listing a series' sends",
                              [&](const SqlRow& st) { out.push_back(read_send(st)); });
        !s)
        return s.error();
    return out;
}

Status PacsStore::mark_analysed(const std::string& sop_uid, std::int64_t analysis_id) {
    return impl_->transaction("marking instance " + sop_uid + " analysed", [&]() -> Status {
        const std::string now = utc_now();
        if (auto s = impl_->query(
                "UPDATE pacs_instances SET analysis_id = ?2, spool_path = NULL, analysed_at = ?3 "
                "WHERE sop_uid = ?1",
                {text(sop_uid), number(analysis_id), text(now)}, "marking an instance analysed");
            !s)
            return s;
        return impl_->query(
            "INSERT INTO pacs_summaries_due (series_uid, since) SELECT series_uid, CAST(?2 AS "
            "TEXT) FROM pacs_instances WHERE sop_uid = ?1 ON CONFLICT (series_uid) DO NOTHING",
            {text(sop_uid), text(now)}, "marking a series' summary due");
    });
}

Status PacsStore::mark_failed(const std::string& sop_uid, const std::string& error) {
    return impl_->transaction("marking instance " + sop_uid + " failed", [&]() -> Status {
        return impl_->query(
            "UPDATE pacs_instances SET error = ?2, spool_path = NULL, analysed_at = ?3 WHERE "
            "sop_uid = ?1 AND analysis_id IS NULL",
            {text(sop_uid), text(error), text(utc_now())}, "marking an instance failed");
    });
}

Result<std::vector<std::string>> PacsStore::summaries_due() {
    std::vector<std::string> out;
    if (auto s = impl_->query("SELECT series_uid FROM pacs_summaries_due ORDER BY since, rowid", {},
                              "listing series whose summary is due",
                              [&](const SqlRow& st) { out.push_back(st.text(0)); });
        !s)
        return s.error();
    return out;
}

Status PacsStore::complete_summary(const std::string& series_uid,
                                   const std::vector<PacsSend>& sends) {
    return impl_->transaction("queueing the summary of series " + series_uid, [&]() -> Status {
        for (const auto& send : sends) {
            if (auto added = impl_->insert_send(series_uid, send.destination, send.kind,
                                                send.payload_path, send.payload_sha256);
                !added)
                return added.error();
        }
        return impl_->query("DELETE FROM pacs_summaries_due WHERE series_uid = ?1",
                            {text(series_uid)}, "clearing a series' summary mark");
    });
}

Result<bool> PacsStore::enqueue(const std::string& series_uid, const std::string& destination,
                                const std::string& kind, const std::string& payload_path,
                                const std::string& payload_sha256) {
    bool added = false;
    auto s = impl_->transaction("queueing a send to " + destination, [&]() -> Status {
        auto inserted =
            impl_->insert_send(series_uid, destination, kind, payload_path, payload_sha256);
        if (!inserted)
            return inserted.error();
        added = *inserted;
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return added;
}

Result<std::vector<PacsSend>> PacsStore::due(std::int64_t now) {
    std::vector<PacsSend> out;
    const std::string sql = std::string("SELECT ") + kSendColumns +
                            " FROM pacs_sends WHERE state = 'pending' AND next_attempt_at <= ?1 "
                            "ORDER BY id";
    if (auto s = impl_->query(sql, {number(now)}, "listing due sends",
                              [&](const SqlRow& st) { out.push_back(read_send(st)); });
        !s)
        return s.error();
    return out;
}

Result<std::vector<PacsSend>> PacsStore::sends() {
    std::vector<PacsSend> out;
    const std::string sql = std::string("SELECT ") + kSendColumns + " FROM pacs_sends ORDER BY id";
    if (auto s = impl_->query(sql, {}, "listing sends",
                              [&](const SqlRow& st) { out.push_back(read_send(st)); });
        !s)
        return s.error();
    return out;
}

Status PacsStore::mark_sent(std::int64_t id) {
    return impl_->transaction("marking send " + std::to_string(id) + " sent", [&]() -> Status {
        return impl_->query(
            "UPDATE pacs_sends SET state = 'sent', sent_at = ?2, attempts = attempts + 1, "
            "last_error = NULL WHERE id = ?1 AND state = 'pending'",
            {number(id), text(utc_now())}, "marking a send sent");
    });
}

Status PacsStore::note_failure(std::int64_t id, const std::string& error,
                               std::int64_t next_attempt_at) {
    return impl_->transaction("noting a failed send", [&]() -> Status {
        return impl_->query(
            "UPDATE pacs_sends SET attempts = attempts + 1, last_error = ?2, next_attempt_at = "
            "?3 WHERE id = ?1 AND state = 'pending'",
            {number(id), text(error), number(next_attempt_at)}, "noting a failed send");
    });
}

Status PacsStore::mark_dead(std::int64_t id, const std::string& error) {
    return impl_->transaction("marking send " + std::to_string(id) + " failed", [&]() -> Status {
        return impl_->query(
            "UPDATE pacs_sends SET state = 'failed', attempts = attempts + 1, last_error = ?2 "
            "WHERE id = ?1 AND state = 'pending'",
            {number(id), text(error)}, "marking a send failed");
    });
}

Result<std::int64_t> PacsStore::retry_failed_sends() {
    std::int64_t changed = 0;
    auto s = impl_->transaction("retrying failed sends", [&]() -> Status {
        auto n = impl_->run(
            "UPDATE pacs_sends SET state = 'pending', attempts = 0, next_attempt_at = 0 WHERE "
            "state = 'failed'",
            {}, "retrying failed sends");
        if (!n)
            return n.error();
        changed = *n;
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return changed;
}

Status PacsStore::add_fetch_failure(const std::string& origin, const std::string& resource,
                                    const std::string& reason) {
    return impl_->transaction("recording that " + resource + " could not be fetched",
                              [&]() -> Status {
                                  return impl_->query(
                                      "INSERT INTO pacs_fetch_failures (origin, resource, "
                                      "reason, at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (origin, "
                                      "resource) DO NOTHING",
                                      {text(origin), text(resource), text(reason), text(utc_now())},
                                      "recording a fetch failure");
                              });
}

Result<std::int64_t> PacsStore::fetch_failures(const std::string& origin) {
    std::int64_t n = 0;
    if (auto s = impl_->query("SELECT count(*) FROM pacs_fetch_failures WHERE origin = ?1",
                              {text(origin)}, "counting fetch failures",
                              [&](const SqlRow& st) { n = st.i64(0); });
        !s)
        return s.error();
    return n;
}

Result<std::int64_t> PacsStore::cursor(const std::string& name) {
    std::int64_t seq = 0;
    if (auto s = impl_->query("SELECT seq FROM pacs_cursors WHERE name = ?1", {text(name)},
                              "reading a cursor", [&](const SqlRow& st) { seq = st.i64(0); });
        !s)
        return s.error();
    return seq;
}

Status PacsStore::set_cursor(const std::string& name, std::int64_t seq) {
    return impl_->transaction("saving cursor " + name, [&]() -> Status {
        return impl_->query(
            "INSERT INTO pacs_cursors (name, seq) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE "
            "SET seq = excluded.seq",
            {text(name), number(seq)}, "saving a cursor");
    });
}

}  // namespace medanchor::ledger
