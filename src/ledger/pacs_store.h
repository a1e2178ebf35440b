// The ledger's tables for `medanchor listen` (docs/pacs.md, "What is stored, and for how long"):
// the instances received from a PACS, the durable send queue of results going back, and the
// cursors of followed change feeds (Orthanc's /changes). In the ledger, on either backend: an
// SQLite file (schema version 5) or a PostgreSQL database (schema version 4), created and
// migrated as Ledger::open does; its own connection.
//
// An instance row is written when the listener has placed the instance's de-identified copy in
// the spool and before it answers the sender: every instance a sender was told is stored has a
// row. It holds de-identified UIDs only; the original Study, Series and SOP Instance UIDs are kept
// (in `original_uids`) only when the operator asks the SR to reference the originals
// (--reference-originals), and never leave this file. A row is `spooled` until analysed
// (`analysis_id` set, spool file removed) or failed (`error` set, spool file removed).
//
// A series whose instance was marked analysed is "summary due" (`pacs_summaries_due`, written in
// the same transaction as the instance's mark) until its SR's sends are queued (the marker is
// cleared in the same transaction as the enqueues): a process killed between the two, or a
// summary that failed, leaves the marker, and the listener summarises the series again.
//
// A send is keyed by (destination, payload digest): the same SR or FHIR bundle is queued once per
// destination, whatever restarts or series re-assemblies happen, and is `pending` until the
// destination took it (`sent`) or refused it for good (`failed`, a dead letter, with the reason;
// `retry_failed_sends` makes it pending again). A send that fails for a passing reason waits
// `next_attempt_at` (backoff) and is tried again.
//
// An instance that could not be fetched from a followed feed for a reason that will not pass (too
// large, not DICOM, gone) is kept in `pacs_fetch_failures` with the reason, so the feed moves on.
//
// Thread safety: one PacsStore per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::ledger {

// The schema of the listener's tables: Ledger's migration from version 3 to 4 runs it.
inline constexpr const char* kPacsSchemaSql = R"sql(
CREATE TABLE pacs_instances (
    sop_uid       TEXT PRIMARY KEY,
    series_uid    TEXT NOT NULL,
    study_uid     TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    origin        TEXT NOT NULL,
    spool_path    TEXT,
    original_uids TEXT,
    analysis_id   INTEGER REFERENCES analyses (id),
    error         TEXT,
    received_at   TEXT NOT NULL,
    analysed_at   TEXT,
    CHECK (analysis_id IS NULL OR error IS NULL)
);
CREATE INDEX pacs_instances_series ON pacs_instances (series_uid);
CREATE TABLE pacs_sends (
    id              INTEGER PRIMARY KEY,
    series_uid      TEXT NOT NULL,
    destination     TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('sr', 'fhir')),
    payload_path    TEXT NOT NULL,
    payload_sha256  TEXT NOT NULL CHECK (length(payload_sha256) = 64),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (destination, payload_sha256)
);
CREATE TABLE pacs_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL CHECK (seq >= 0)
);
)sql";

// Ledger's migration from version 4 to 5: the series whose SR is due, the instances a followed
// feed could not give, and sends' `failed` state (SQLite cannot change a CHECK in place: the
// table is rebuilt, its rows and ids kept).
inline constexpr const char* kPacsSchemaV5Sql = R"sql(
CREATE TABLE pacs_summaries_due (
    series_uid TEXT PRIMARY KEY,
    since      TEXT NOT NULL
);
CREATE TABLE pacs_fetch_failures (
    origin   TEXT NOT NULL,
    resource TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (origin, resource)
);
CREATE TABLE pacs_sends_v5 (
    id              INTEGER PRIMARY KEY,
    series_uid      TEXT NOT NULL,
    destination     TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('sr', 'fhir')),
    payload_path    TEXT NOT NULL,
    payload_sha256  TEXT NOT NULL CHECK (length(payload_sha256) = 64),
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    UNIQUE (destination, payload_sha256)
);
INSERT INTO pacs_sends_v5 SELECT id, series_uid, destination, kind, payload_path, payload_sha256,
    state, attempts, next_attempt_at, last_error, created_at, sent_at FROM pacs_sends;
DROP TABLE pacs_sends;
ALTER TABLE pacs_sends_v5 RENAME TO pacs_sends;
)sql";

struct PacsInstance {
    std::string sop_uid;     // de-identified (2.25...)
    std::string series_uid;  // de-identified
    std::string study_uid;   // de-identified
    std::string sop_class_uid;
    std::string origin;  // "dimse:<calling AE>" or "orthanc:<base URL>"
    std::optional<std::string> spool_path;
    // "study\series\sop" as the sender had them; only with --reference-originals.
    std::optional<std::string> original_uids;
    std::optional<std::int64_t> analysis_id;
    std::optional<std::string> error;
    std::string received_at;
};

enum class SendState { kPending, kSent, kFailed };

struct PacsSend {
    std::int64_t id = 0;
    std::string series_uid;
    std::string destination;  // "dimse:AE@HOST:PORT", "stow:URL", "fhir:URL", "orthanc:URL"
    std::string kind;         // "sr" or "fhir"
    std::string payload_path;
    std::string payload_sha256;
    SendState state = SendState::kPending;
    int attempts = 0;
    std::int64_t next_attempt_at = 0;  // Unix seconds
    std::string last_error;
    std::string created_at;
    std::optional<std::string> sent_at;
};

// One series as the operator's status view shows it (GET /api/pacs/series): counts and times
// from its instance rows. De-identified UIDs only; nothing here names a patient.
struct PacsSeries {
    std::string series_uid;  // de-identified
    std::string study_uid;   // de-identified
    std::size_t instances = 0;
    std::size_t analysed = 0;  // analysis_id set
    std::size_t failed = 0;    // error set
    std::size_t spooled = 0;   // neither: waiting for analysis
    std::string first_received_at;
    std::string last_received_at;
    std::optional<std::string> last_analysed_at;
};

class PacsStore {
  public:
    // Opens the ledger at `ledger_path`: an SQLite file, which must exist (Ledger::open creates
    // it), or a postgresql:// URI; migrates its schema. kIo (no such file), the backend's errors
    // otherwise (kNetwork when the PostgreSQL server cannot be reached).
    static Result<PacsStore> open(const std::filesystem::path& ledger_path);
    PacsStore(PacsStore&&) noexcept;
    PacsStore& operator=(PacsStore&&) noexcept;
    ~PacsStore();

    // Records a received instance. Returns false, changing nothing, when its de-identified SOP
    // Instance UID is already recorded (a sender's retry, a PACS routing it twice): such an
    // instance is never analysed twice.
    Result<bool> add_instance(const PacsInstance& instance);
    Result<std::optional<PacsInstance>> instance(const std::string& sop_uid);
    // Instances waiting for analysis (spooled, neither analysed nor failed), oldest first.
    Result<std::vector<PacsInstance>> spooled();
    // Every instance of a series, in order of arrival.
    Result<std::vector<PacsInstance>> series(const std::string& series_uid);
    // Read-only, for the status view: one page of series, the one whose latest instance arrived
    // last first (then by series UID), skipping `offset`; at most `limit` (REQUIRES: 1..1000).
    Result<std::vector<PacsSeries>> series_page(std::size_t limit, std::size_t offset);
    // One series' counts; nullopt when no instance of it is recorded.
    Result<std::optional<PacsSeries>> series_summary(const std::string& series_uid);
    // How many series have at least one instance recorded.
    Result<std::size_t> series_count();
    // The sends of one series (both states), oldest first.
    Result<std::vector<PacsSend>> series_sends(const std::string& series_uid);
    // Also marks the instance's series "summary due", in the same transaction.
    Status mark_analysed(const std::string& sop_uid, std::int64_t analysis_id);
    Status mark_failed(const std::string& sop_uid, const std::string& error);

    // Series marked "summary due" (an instance analysed since their SR's sends were queued),
    // oldest mark first.
    Result<std::vector<std::string>> summaries_due();
    // Queues each of `sends` (destination, kind, payload_path, payload_sha256; as enqueue) and
    // clears the series' "summary due" mark, in one transaction: all or nothing.
    Status complete_summary(const std::string& series_uid, const std::vector<PacsSend>& sends);

    // Queues a payload for a destination; false when that payload is already queued (or sent)
    // there.
    Result<bool> enqueue(const std::string& series_uid, const std::string& destination,
                         const std::string& kind, const std::string& payload_path,
                         const std::string& payload_sha256);
    // Pending sends whose next attempt is due at `now` (Unix seconds), oldest first.
    Result<std::vector<PacsSend>> due(std::int64_t now);
    // Every send (both states), oldest first: the queue's state for the operator.
    Result<std::vector<PacsSend>> sends();
    Status mark_sent(std::int64_t id);
    // One more failed attempt, tried again at `next_attempt_at`.
    Status note_failure(std::int64_t id, const std::string& error, std::int64_t next_attempt_at);
    // One more failed attempt, and the last: the send is `failed` (a dead letter) with `error`.
    Status mark_dead(std::int64_t id, const std::string& error);
    // Makes every failed send pending again, due at once (attempts start over); how many.
    Result<std::int64_t> retry_failed_sends();

    // Records that `resource` (an Orthanc instance id) of the feed `origin` could not be taken,
    // for a reason that will not pass; recording it again keeps the first reason.
    Status add_fetch_failure(const std::string& origin, const std::string& resource,
                             const std::string& reason);
    // How many are recorded for `origin`.
    Result<std::int64_t> fetch_failures(const std::string& origin);

    // The persisted position in a followed feed (0 when never set).
    Result<std::int64_t> cursor(const std::string& name);
    Status set_cursor(const std::string& name, std::int64_t seq);

  private:
    struct Impl;
    explicit PacsStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace medanchor::ledger
