// The only file that touches SQLite.
#include "ledger/ledger.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <thread>

#include "common/encoding.h"
#include "ledger/merkle_store.h"
#include "ledger/pacs_store.h"
#include "ledger/sqlite_stmt.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

namespace {

// Version 1, as first released. A new ledger is made by running it and then every migration
// step, so a new file and a migrated one have the same schema.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE transactions (
    txid        TEXT PRIMARY KEY CHECK (length(txid) = 64),
    raw_hex     TEXT NOT NULL,
    sender      TEXT NOT NULL,
    nonce       INTEGER NOT NULL CHECK (nonce >= 0),
    fee         INTEGER NOT NULL CHECK (fee >= 0),
    kind        TEXT NOT NULL CHECK (kind IN ('submit-analysis', 'submit-analyses')),
    state       TEXT NOT NULL CHECK (state IN ('broadcast', 'success', 'abort', 'dropped')),
    accepted    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX transactions_state ON transactions (state, sender, nonce);

CREATE TABLE analyses (
    id            INTEGER PRIMARY KEY,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    source_path   TEXT NOT NULL,
    image_hash    TEXT NOT NULL CHECK (length(image_hash) = 64),
    hash_mode     TEXT NOT NULL CHECK (hash_mode IN ('hmac-sha256', 'sha256')),
    model_sha256  TEXT NOT NULL CHECK (length(model_sha256) = 64),
    model_name    TEXT NOT NULL,
    model_version TEXT NOT NULL,
    model_id      INTEGER,
    finding       TEXT NOT NULL,
    confidence_bp INTEGER NOT NULL CHECK (confidence_bp BETWEEN 0 AND 10000),
    report_json   TEXT NOT NULL,
    report_digest TEXT NOT NULL CHECK (length(report_digest) = 64),
    saliency_path TEXT,
    analyst       TEXT NOT NULL,
    state         TEXT NOT NULL
                  CHECK (state IN ('needs_review', 'pending', 'broadcast', 'confirmed', 'failed')),
    review_reason TEXT,
    last_error    TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    txid          TEXT REFERENCES transactions (txid),
    onchain_id    INTEGER,
    block_height  INTEGER,
    block_time    INTEGER,
    UNIQUE (image_hash, model_sha256, analyst),
    CHECK ((state = 'confirmed') = (onchain_id IS NOT NULL)),
    CHECK (state <> 'broadcast' OR txid IS NOT NULL)
);
CREATE INDEX analyses_state ON analyses (state);

CREATE TABLE transaction_analyses (
    txid        TEXT NOT NULL REFERENCES transactions (txid),
    position    INTEGER NOT NULL CHECK (position >= 0),
    analysis_id INTEGER NOT NULL REFERENCES analyses (id),
    PRIMARY KEY (txid, position),
    UNIQUE (txid, analysis_id)
);
CREATE INDEX transaction_analyses_analysis ON transaction_analyses (analysis_id);
)sql";

// kMigrations[v - 1] takes a ledger from version v to v + 1, inside one write transaction.
constexpr const char* kMigrations[] = {
    // 1 -> 2: where the analysis' write-once report folder is (NULL: recorded before version 2,
    // when reports were written per image, not per analysis).
    "ALTER TABLE analyses ADD COLUMN report_dir TEXT;",
    // 2 -> 3: Merkle roots and their leaves (merkle_store.h).
    kMerkleSchemaSql,
    // 3 -> 4: the DICOM listener's instances, send queue and feed cursors (pacs_store.h).
    kPacsSchemaSql,
    // 4 -> 5: series whose SR is due, instances a feed could not give, sends' `failed` state.
    kPacsSchemaV5Sql,
};
static_assert(std::size(kMigrations) == Ledger::kSchemaVersion - 1);

// How long a write waits for another connection's write to finish before giving up.

constexpr const char* kAnalysisColumns =
    "id, created_at, updated_at, source_path, image_hash, hash_mode, model_sha256, model_name, "
    "model_version, model_id, finding, confidence_bp, report_json, report_digest, saliency_path, "
    "analyst, state, review_reason, last_error, attempts, txid, onchain_id, block_height, "
    "block_time, (SELECT count(*) FROM transaction_analyses t WHERE t.analysis_id = analyses.id), "
    "report_dir";

constexpr const char* kTxColumns =
    "txid, raw_hex, sender, nonce, fee, kind, state, accepted, last_error, created_at, "
    "updated_at";

// A digest the contract takes: 64 lowercase hex digits, not all zero (refused on chain).
bool is_hex64(std::string_view s) {
    return is_lower_hex(s, 64) && s.find_first_not_of('0') != std::string_view::npos;
}

bool is_code(std::string_view s) {
    if (s.empty() || s.size() > 32)
        return false;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

AnalysisState state_or_failed(const std::string& text) {
    auto s = parse_analysis_state(text);
    return s ? *s : AnalysisState::kFailed;
}

Analysis read_analysis(const Stmt& s) {
    Analysis a;
    a.id = s.i64(0);
    a.created_at = s.text(1);
    a.updated_at = s.text(2);
    a.source_path = s.text(3);
    a.image_hash = s.text(4);
    a.hash_mode = s.text(5);
    a.model_sha256 = s.text(6);
    a.model_name = s.text(7);
    a.model_version = s.text(8);
    a.model_id = s.opt_u64(9);
    a.finding = s.text(10);
    a.confidence_bp = static_cast<std::uint32_t>(s.i64(11));
    a.report_json = s.text(12);
    a.report_digest = s.text(13);
    a.saliency_path = s.opt_text(14);
    a.analyst = s.text(15);
    a.state = state_or_failed(s.text(16));
    a.review_reason = s.text(17);
    a.last_error = s.text(18);
    a.attempts = static_cast<int>(s.i64(19));
    a.txid = s.opt_text(20);
    a.onchain_id = s.opt_u64(21);
    a.block_height = s.opt_u64(22);
    a.block_time = s.opt_u64(23);
    a.transactions = static_cast<int>(s.i64(24));
    a.report_dir = s.opt_text(25);
    return a;
}

Transaction read_tx(const Stmt& s) {
    Transaction t;
    t.txid = s.text(0);
    t.raw_hex = s.text(1);
    t.sender = s.text(2);
    t.nonce = static_cast<std::uint64_t>(s.i64(3));
    t.fee = static_cast<std::uint64_t>(s.i64(4));
    t.kind = s.text(5);
    auto st = parse_tx_state(s.text(6));
    t.state = st ? *st : TxState::kDropped;
    t.accepted = s.i64(7) != 0;
    t.last_error = s.text(8);
    t.created_at = s.text(9);
    t.updated_at = s.text(10);
    return t;
}

}  // namespace

// ---- names ----------------------------------------------------------------------------------

const char* to_string(AnalysisState state) {
    switch (state) {
        case AnalysisState::kNeedsReview:
            return "needs_review";
        case AnalysisState::kPending:
            return "pending";
        case AnalysisState::kBroadcast:
            return "broadcast";
        case AnalysisState::kConfirmed:
            return "confirmed";
        case AnalysisState::kFailed:
            return "failed";
    }
    return "failed";
}

Result<AnalysisState> parse_analysis_state(std::string_view text) {
    for (auto s : kAnalysisStates) {
        if (text == to_string(s))
            return s;
    }
    return Error(ErrorCode::kInvalidArgument,
                 "unknown analysis state \"" + std::string(text) +
                     "\" (needs_review, pending, broadcast, confirmed or failed)");
}

const char* to_string(TxState state) {
    switch (state) {
        case TxState::kBroadcast:
            return "broadcast";
        case TxState::kSuccess:
            return "success";
        case TxState::kAbort:
            return "abort";
        case TxState::kDropped:
            return "dropped";
    }
    return "dropped";
}

Result<TxState> parse_tx_state(std::string_view text) {
    for (auto s : {TxState::kBroadcast, TxState::kSuccess, TxState::kAbort, TxState::kDropped}) {
        if (text == to_string(s))
            return s;
    }
    return Error(ErrorCode::kInvalidArgument,
                 "unknown transaction state \"" + std::string(text) + "\"");
}

std::string report_digest(std::string_view report_json) {
    return to_hex(sha256(report_json));
}

std::string utc_now() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// ---- the connection -------------------------------------------------------------------------

struct Ledger::Impl : Connection {
    // PRAGMA user_version: 0 for a new file.
    Result<int> schema_version() {
        auto v = count("PRAGMA user_version");
        if (!v)
            return v.error();
        return static_cast<int>(*v);
    }

    // The one integer a query returns; its statement is finalized on return.
    Result<std::int64_t> count(const char* sql) {
        Stmt s(db, sql);
        if (!s.prepared() || s.step() != SQLITE_ROW)
            return sql_error("reading the schema");
        return s.i64(0);
    }

    Result<std::vector<Analysis>> analyses(const std::string& where,
                                           const std::vector<std::string>& args,
                                           std::size_t limit = 0) {
        std::string sql =
            std::string("SELECT ") + kAnalysisColumns + " FROM analyses " + where + " ORDER BY id";
        if (limit != 0)
            sql += " LIMIT " + std::to_string(limit);
        Stmt s(db, sql.c_str());
        if (!s.prepared())
            return sql_error("reading analyses");
        for (std::size_t i = 0; i < args.size(); ++i)
            s.bind(static_cast<int>(i + 1), args[i]);
        std::vector<Analysis> out;
        int rc;
        while ((rc = s.step()) == SQLITE_ROW)
            out.push_back(read_analysis(s));
        if (rc != SQLITE_DONE)
            return sql_error("reading analyses");
        return out;
    }

    Result<std::vector<std::int64_t>> linked(const std::string& txid) {
        Stmt s(db,
               "SELECT analysis_id FROM transaction_analyses WHERE txid = ?1 ORDER BY position");
        if (!s.prepared())
            return sql_error("reading a transaction's analyses");
        s.bind(1, txid);
        std::vector<std::int64_t> ids;
        int rc;
        while ((rc = s.step()) == SQLITE_ROW)
            ids.push_back(s.i64(0));
        if (rc != SQLITE_DONE)
            return sql_error("reading a transaction's analyses");
        return ids;
    }

    // The transaction's state must be broadcast for a settlement to apply.
    Status require_live(const std::string& txid) {
        Stmt s(db, "SELECT state FROM transactions WHERE txid = ?1");
        s.bind(1, txid);
        if (s.step() != SQLITE_ROW) {
            return Error(ErrorCode::kNotFound, name + ": no transaction " + txid);
        }
        if (s.text(0) != "broadcast") {
            return Error(ErrorCode::kInvalidArgument,
                         name + ": transaction " + txid + " is already " + s.text(0));
        }
        return Status::Ok();
    }

    Status set_tx_state(const std::string& txid, TxState state, const std::string& error) {
        Stmt s(db,
               "UPDATE transactions SET state = ?2, last_error = ?3, updated_at = ?4 "
               "WHERE txid = ?1");
        s.bind(1, txid).bind(2, to_string(state)).bind(4, utc_now());
        if (error.empty())
            s.bind_null(3);
        else
            s.bind(3, error);
        return run(s, "updating transaction " + txid);
    }

    // Changes one analysis if it is in `from`; kInvalidArgument when it is not.
    Status move(std::int64_t id, const char* from_states, const char* set_sql,
                const std::function<void(Stmt&)>& bind_extra, const std::string& what) {
        const std::string sql = std::string("UPDATE analyses SET ") + set_sql +
                                ", updated_at = ?2 WHERE id = ?1 AND state IN (" + from_states +
                                ")";
        Stmt s(db, sql.c_str());
        s.bind(1, id).bind(2, utc_now());
        bind_extra(s);
        if (auto st = run(s, what); !st)
            return st;
        if (sqlite3_changes(db) != 1) {
            return Error(ErrorCode::kInvalidArgument, name + ": " + what + ": analysis " +
                                                          std::to_string(id) + " is not in state " +
                                                          from_states);
        }
        return Status::Ok();
    }
};

Ledger::Ledger(fs::path path, std::unique_ptr<Impl> impl)
    : path_(std::move(path)), impl_(std::move(impl)) {}
Ledger::Ledger(Ledger&&) noexcept = default;
Ledger& Ledger::operator=(Ledger&&) noexcept = default;
Ledger::~Ledger() = default;

fs::path Ledger::default_path() {
    if (const char* env = std::getenv("MEDANCHOR_LEDGER"); env != nullptr && *env != '\0')
        return env;
    const char* home = std::getenv("HOME");
    return fs::path(home != nullptr ? home : ".") / ".medanchor" / "ledger.sqlite";
}

Result<Ledger> Ledger::open(const fs::path& path) {
    // SQLite waits out a lock with the busy handler, but answers SQLITE_BUSY at once in a few cases
    // (switching to WAL, or WAL set-up, while another connection is doing the same): a new ledger
    // opened by several processes at the same moment then failed one of them with a "timeout" after
    // milliseconds. A timeout is only a timeout once the busy timeout has passed.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
    for (;;) {
        auto ledger = open_once(path);
        if (ledger.ok() || ledger.error().code() != ErrorCode::kTimeout ||
            std::chrono::steady_clock::now() >= deadline)
            return ledger;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

Result<Ledger> Ledger::open_once(const fs::path& path) {
    const std::string name = path.string();
    auto impl = std::make_unique<Impl>();
    if (auto opened = impl->open(path, "the ledger"); !opened)
        return opened.error();
    sqlite3_extended_result_codes(impl->db, 0);
    if (auto s = impl->exec("PRAGMA journal_mode = WAL", "setting WAL mode"); !s)
        return s.error();
    if (auto s =
            impl->exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "setting pragmas");
        !s)
        return s.error();

    // Most opens find the current schema and write nothing. Otherwise the schema is created or
    // migrated under BEGIN IMMEDIATE, and the version read again there: of two processes that
    // open a new ledger at once, the second waits for the first and then finds it made. (Every
    // statement is finalized before the transaction: a reader still open on this connection
    // would make SQLite refuse the write at once instead of waiting.)
    auto version = impl->schema_version();
    if (!version)
        return version.error();
    if (*version != kSchemaVersion) {
        auto s = impl->transaction("preparing the schema", [&]() -> Status {
            auto v = impl->schema_version();
            if (!v)
                return v.error();
            if (*v > kSchemaVersion) {
                return Error(ErrorCode::kUnsupported,
                             name + ": ledger schema version " + std::to_string(*v) +
                                 " is newer than this medanchor understands (" +
                                 std::to_string(kSchemaVersion) +
                                 "); use the medanchor that wrote it, or a newer one");
            }
            if (*v == 0) {
                // Either brand new, or some other SQLite file: refuse to adopt one with tables.
                auto tables = impl->count("SELECT count(*) FROM sqlite_master");
                if (!tables)
                    return tables.error();
                if (*tables != 0) {
                    return Error(ErrorCode::kCorrupt,
                                 name +
                                     ": an SQLite file with tables but no medanchor schema "
                                     "version; not a medanchor ledger");
                }
                if (auto c = impl->exec(kSchemaV1, "creating the schema"); !c)
                    return c;
                *v = 1;
            }
            for (; *v < kSchemaVersion; ++*v) {
                if (auto m = impl->exec(kMigrations[*v - 1],
                                        "migrating the schema from version " + std::to_string(*v));
                    !m)
                    return m;
            }
            const std::string set = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
            return impl->exec(set.c_str(), "setting the schema version");
        });
        if (!s)
            return s.error();
    }
    return Ledger(path, std::move(impl));
}

// ---- the outbox lock ------------------------------------------------------------------------

Result<OutboxLock> OutboxLock::acquire(const fs::path& ledger_path, std::chrono::milliseconds wait,
                                       const std::function<void(long)>& waiting) {
    const fs::path path = ledger_path.string() + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return Error(
            errno == EACCES ? ErrorCode::kPermission : ErrorCode::kIo,
            path.string() + ": cannot open the ledger's lock file: " + std::strerror(errno));
    }
    OutboxLock lock(fd);
    // The holder writes its pid into the file, for the others' messages; pid 0 if unreadable.
    const auto holder = [&]() -> long {
        char buffer[32] = {};
        const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
        return n > 0 ? std::strtol(buffer, nullptr, 10) : 0;
    };
    const auto deadline = std::chrono::steady_clock::now() + wait;
    bool told = false;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return Error(ErrorCode::kIo,
                         path.string() + ": cannot lock: " + std::string(std::strerror(errno)));
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            const long pid = holder();
            return Error(ErrorCode::kTimeout,
                         ledger_path.string() + ": another medanchor process" +
                             (pid > 0 ? " (pid " + std::to_string(pid) + ")" : "") +
                             " is still anchoring from this ledger after " +
                             std::to_string(wait.count() / 1000) +
                             " s; run `medanchor sync` once it is done");
        }
        if (!told && waiting) {
            waiting(holder());
            told = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        // Only the others' messages lose the pid; the lock itself holds.
    }
    return lock;
}

OutboxLock::OutboxLock(OutboxLock&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
}

OutboxLock::~OutboxLock() {
    if (fd_ >= 0)
        ::close(fd_);  // releases the flock
}

// ---- records ------------------------------------------------------------------------------

namespace {

// What a new analysis must be before it is written; the message names the field, never the
// report or the source path's contents.
Status check_new_analysis(const NewAnalysis& a) {
    const auto bad = [&](const std::string& what) {
        return Error(ErrorCode::kInvalidArgument, "analysis of " + a.source_path + ": " + what);
    };
    if (!is_hex64(a.image_hash))
        return bad("image hash must be 64 lowercase hex digits, not all zero");
    if (a.hash_mode != "hmac-sha256" && a.hash_mode != "sha256")
        return bad("hash mode must be hmac-sha256 or sha256");
    if (!is_hex64(a.model_sha256))
        return bad("model SHA-256 must be 64 lowercase hex digits, not all zero");
    if (a.model_name.empty() || a.model_version.empty())
        return bad("model name and version are required");
    if (!is_code(a.finding))
        return bad("finding \"" + a.finding + "\" is not a code (1-32 of A-Z a-z 0-9 . _ : -)");
    if (a.confidence_bp > 10000)
        return bad("confidence above 10000 basis points");
    if (a.report_json.empty())
        return bad("the report is empty");
    if (a.analyst.empty())
        return bad("no analyst principal");
    if (a.state != AnalysisState::kPending && a.state != AnalysisState::kNeedsReview)
        return bad("a new analysis is pending or needs_review");
    return Status::Ok();
}

}  // namespace

// Inside a transaction: the existing record of (image, model, analyst), or the new one.
Result<AddResult> Ledger::insert(const NewAnalysis& a) {
    AddResult result;
    auto existing = impl_->analyses("WHERE image_hash = ?1 AND model_sha256 = ?2 AND analyst = ?3",
                                    {a.image_hash, a.model_sha256, a.analyst});
    if (!existing)
        return existing.error();
    if (!existing->empty()) {
        result.analysis = existing->front();
        result.created = false;
        return result;
    }
    const std::string now = utc_now();
    Stmt ins(impl_->db,
             "INSERT INTO analyses (created_at, updated_at, source_path, image_hash, "
             "hash_mode, model_sha256, model_name, model_version, model_id, finding, "
             "confidence_bp, report_json, report_digest, saliency_path, analyst, state, "
             "review_reason, report_dir) VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
             "?11, ?12, ?13, ?14, ?15, ?16, ?17)");
    ins.bind(1, now)
        .bind(2, a.source_path)
        .bind(3, a.image_hash)
        .bind(4, a.hash_mode)
        .bind(5, a.model_sha256)
        .bind(6, a.model_name)
        .bind(7, a.model_version)
        .bind_opt(8, a.model_id)
        .bind(9, a.finding)
        .bind(10, static_cast<std::int64_t>(a.confidence_bp))
        .bind(11, a.report_json)
        .bind(12, report_digest(a.report_json))
        .bind_opt(13, a.saliency_path)
        .bind(14, a.analyst)
        .bind(15, to_string(a.state));
    if (a.review_reason.empty())
        ins.bind_null(16);
    else
        ins.bind(16, a.review_reason);
    if (a.report_dir.empty())
        ins.bind_null(17);
    else
        ins.bind(17, a.report_dir);
    if (auto st = impl_->run(ins, "adding an analysis"); !st)
        return st.error();
    auto added =
        impl_->analyses("WHERE id = ?1", {std::to_string(sqlite3_last_insert_rowid(impl_->db))});
    if (!added)
        return added.error();
    result.analysis = added->front();
    result.created = true;
    return result;
}

Result<AddResult> Ledger::add(const NewAnalysis& a) {
    if (auto c = check_new_analysis(a); !c)
        return c.error();
    Result<AddResult> result = Error(ErrorCode::kInternal, "not added");
    auto s = impl_->transaction("adding an analysis", [&]() -> Status {
        result = insert(a);
        return result ? Status::Ok() : Status(result.error());
    });
    if (!s)
        return s.error();
    return result;
}

Result<std::vector<Result<AddResult>>> Ledger::add_all(const std::vector<NewAnalysis>& list) {
    std::vector<Result<AddResult>> out;
    std::vector<bool> valid(list.size());
    out.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
        auto c = check_new_analysis(list[i]);
        valid[i] = c.ok();
        out.emplace_back(c ? Error(ErrorCode::kInternal, "not added") : c.error());
    }
    auto s = impl_->transaction("adding analyses", [&]() -> Status {
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (!valid[i])
                continue;  // refused by the check: never written
            out[i] = insert(list[i]);
            if (!out[i])
                return out[i].error();
        }
        return Status::Ok();
    });
    if (!s)
        return s.error();
    return out;
}

Result<Analysis> Ledger::get(std::int64_t id) {
    auto r = impl_->analyses("WHERE id = ?1", {std::to_string(id)});
    if (!r)
        return r.error();
    if (r->empty())
        return Error(ErrorCode::kNotFound, path_.string() + ": no analysis " + std::to_string(id));
    return r->front();
}

Result<std::vector<Analysis>> Ledger::find_by_image(const std::string& image_hash) {
    return impl_->analyses("WHERE image_hash = ?1", {image_hash});
}

Result<std::optional<Analysis>> Ledger::find(const std::string& image_hash,
                                             const std::string& model_sha256,
                                             const std::string& analyst) {
    auto r = impl_->analyses("WHERE image_hash = ?1 AND model_sha256 = ?2 AND analyst = ?3",
                             {image_hash, model_sha256, analyst});
    if (!r)
        return r.error();
    if (r->empty())
        return std::optional<Analysis>();
    return std::optional<Analysis>(std::move(r->front()));
}

Result<std::map<std::string, std::size_t>> Ledger::pending_by_analyst() {
    Stmt s(impl_->db,
           "SELECT analyst, count(*) FROM analyses WHERE state = 'pending' GROUP BY analyst");
    if (!s.prepared())
        return impl_->sql_error("counting pending analyses");
    std::map<std::string, std::size_t> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
        out[s.text(0)] = static_cast<std::size_t>(s.i64(1));
    if (rc != SQLITE_DONE)
        return impl_->sql_error("counting pending analyses");
    return out;
}

Result<std::vector<Analysis>> Ledger::list(std::optional<AnalysisState> state, std::size_t limit) {
    if (state)
        return impl_->analyses("WHERE state = ?1", {to_string(*state)}, limit);
    return impl_->analyses("", {}, limit);
}

Result<std::map<AnalysisState, std::size_t>> Ledger::counts() {
    std::map<AnalysisState, std::size_t> out;
    for (auto s : kAnalysisStates)
        out[s] = 0;
    Stmt s(impl_->db, "SELECT state, count(*) FROM analyses GROUP BY state");
    if (!s.prepared())
        return impl_->sql_error("counting analyses");
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
        out[state_or_failed(s.text(0))] = static_cast<std::size_t>(s.i64(1));
    if (rc != SQLITE_DONE)
        return impl_->sql_error("counting analyses");
    return out;
}

Result<Transaction> Ledger::transaction(const std::string& txid) {
    const std::string sql =
        std::string("SELECT ") + kTxColumns + " FROM transactions WHERE txid = ?1";
    Stmt s(impl_->db, sql.c_str());
    if (!s.prepared())
        return impl_->sql_error("reading a transaction");
    s.bind(1, txid);
    const int rc = s.step();
    if (rc == SQLITE_DONE)
        return Error(ErrorCode::kNotFound, path_.string() + ": no transaction " + txid);
    if (rc != SQLITE_ROW)
        return impl_->sql_error("reading a transaction");
    Transaction t = read_tx(s);
    auto ids = impl_->linked(txid);
    if (!ids)
        return ids.error();
    t.analysis_ids = std::move(*ids);
    return t;
}

Result<std::vector<Transaction>> Ledger::transactions(TxState state) {
    const std::string sql = std::string("SELECT ") + kTxColumns +
                            " FROM transactions WHERE state = ?1 ORDER BY sender, nonce";
    Stmt s(impl_->db, sql.c_str());
    if (!s.prepared())
        return impl_->sql_error("reading transactions");
    s.bind(1, to_string(state));
    std::vector<Transaction> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
        out.push_back(read_tx(s));
    if (rc != SQLITE_DONE)
        return impl_->sql_error("reading transactions");
    for (auto& t : out) {
        auto ids = impl_->linked(t.txid);
        if (!ids)
            return ids.error();
        t.analysis_ids = std::move(*ids);
    }
    return out;
}

// ---- outbox transitions ---------------------------------------------------------------------

Status Ledger::record_transaction(const Transaction& tx) {
    if (tx.analysis_ids.empty() || tx.txid.size() != 64 || tx.raw_hex.empty()) {
        return Error(ErrorCode::kInternal, "record_transaction: incomplete transaction");
    }
    return impl_->transaction("recording transaction " + tx.txid, [&]() -> Status {
        const std::string now = utc_now();
        Stmt ins(impl_->db,
                 "INSERT INTO transactions (txid, raw_hex, sender, nonce, fee, kind, state, "
                 "accepted, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'broadcast', "
                 "0, ?7, ?7)");
        ins.bind(1, tx.txid)
            .bind(2, tx.raw_hex)
            .bind(3, tx.sender)
            .bind_u64(4, tx.nonce)
            .bind_u64(5, tx.fee)
            .bind(6, tx.kind)
            .bind(7, now);
        if (auto s = impl_->run(ins, "recording transaction " + tx.txid); !s)
            return s;
        for (std::size_t i = 0; i < tx.analysis_ids.size(); ++i) {
            const std::int64_t id = tx.analysis_ids[i];
            Stmt link(impl_->db,
                      "INSERT INTO transaction_analyses (txid, position, analysis_id) "
                      "VALUES (?1, ?2, ?3)");
            link.bind(1, tx.txid).bind(2, static_cast<std::int64_t>(i)).bind(3, id);
            if (auto s = impl_->run(link, "linking analysis " + std::to_string(id)); !s)
                return s;
            Stmt up(impl_->db,
                    "UPDATE analyses SET state = 'broadcast', txid = ?2, last_error = NULL, "
                    "updated_at = ?3 WHERE id = ?1 AND state = 'pending' AND analyst = ?4");
            up.bind(1, id).bind(2, tx.txid).bind(3, now).bind(4, tx.sender);
            if (auto s = impl_->run(up, "moving analysis " + std::to_string(id)); !s)
                return s;
            if (sqlite3_changes(impl_->db) != 1) {
                return Error(ErrorCode::kInvalidArgument,
                             impl_->name + ": analysis " + std::to_string(id) +
                                 " is no longer pending for " + tx.sender +
                                 " (another medanchor process may be anchoring it)");
            }
        }
        return Status::Ok();
    });
}

Status Ledger::mark_accepted(const std::string& txid) {
    Stmt s(impl_->db,
           "UPDATE transactions SET accepted = 1, last_error = NULL, updated_at = ?2 "
           "WHERE txid = ?1");
    s.bind(1, txid).bind(2, utc_now());
    return impl_->run(s, "marking transaction " + txid + " accepted");
}

Status Ledger::note_transaction_error(const std::string& txid, const std::string& error) {
    return impl_->transaction("noting an error on " + txid, [&]() -> Status {
        Stmt t(impl_->db,
               "UPDATE transactions SET last_error = ?2, updated_at = ?3 WHERE txid = ?1");
        t.bind(1, txid).bind(2, error).bind(3, utc_now());
        if (auto s = impl_->run(t, "noting an error on " + txid); !s)
            return s;
        Stmt a(impl_->db,
               "UPDATE analyses SET last_error = ?2, updated_at = ?3 "
               "WHERE txid = ?1 AND state = 'broadcast'");
        a.bind(1, txid).bind(2, error).bind(3, utc_now());
        return impl_->run(a, "noting an error on " + txid);
    });
}

Status Ledger::settle_success(const std::string& txid, const std::vector<OnChain>& on_chain) {
    return impl_->transaction("settling " + txid, [&]() -> Status {
        if (auto s = impl_->require_live(txid); !s)
            return s;
        auto ids = impl_->linked(txid);
        if (!ids)
            return ids.error();
        if (ids->size() != on_chain.size()) {
            return Error(ErrorCode::kInternal, "settle_success: " + std::to_string(ids->size()) +
                                                   " analyses but " +
                                                   std::to_string(on_chain.size()) + " ids");
        }
        if (auto s = impl_->set_tx_state(txid, TxState::kSuccess, ""); !s)
            return s;
        for (std::size_t i = 0; i < ids->size(); ++i) {
            const OnChain& c = on_chain[i];
            auto s =
                impl_->move((*ids)[i], "'broadcast', 'pending'",
                            "state = 'confirmed', txid = ?3, onchain_id = ?4, block_height = ?5, "
                            "block_time = ?6, last_error = NULL",
                            [&](Stmt& st) {
                                st.bind(3, txid)
                                    .bind_u64(4, c.analysis_id)
                                    .bind_u64(5, c.block_height)
                                    .bind_u64(6, c.block_time);
                            },
                            "confirming");
            if (!s)
                return s;
        }
        return Status::Ok();
    });
}

Status Ledger::release(const std::string& txid, TxState final_state,
                       const std::map<std::int64_t, OnChain>& found, const std::string& error,
                       bool count_attempt, int max_attempts,
                       const std::map<std::int64_t, std::string>& held) {
    return impl_->transaction("releasing " + txid, [&]() -> Status {
        if (auto s = impl_->require_live(txid); !s)
            return s;
        if (auto s = impl_->set_tx_state(txid, final_state, error); !s)
            return s;
        auto ids = impl_->linked(txid);
        if (!ids)
            return ids.error();
        for (std::int64_t id : *ids) {
            if (auto f = found.find(id); f != found.end()) {
                const OnChain& c = f->second;
                auto s = impl_->move(
                    id, "'broadcast'",
                    "state = 'confirmed', onchain_id = ?3, block_height = ?4, block_time = ?5, "
                    "last_error = NULL",
                    [&](Stmt& st) {
                        st.bind_u64(3, c.analysis_id)
                            .bind_u64(4, c.block_height)
                            .bind_u64(5, c.block_time);
                    },
                    "confirming");
                if (!s)
                    return s;
                continue;
            }
            if (auto h = held.find(id); h != held.end()) {
                Stmt up(impl_->db,
                        "UPDATE analyses SET state = 'needs_review', review_reason = ?3, "
                        "last_error = ?4, updated_at = ?2 "
                        "WHERE id = ?1 AND state = 'broadcast' AND txid = ?5");
                up.bind(1, id).bind(2, utc_now()).bind(3, h->second).bind(4, error).bind(5, txid);
                if (auto s = impl_->run(up, "holding analysis " + std::to_string(id)); !s)
                    return s;
                continue;
            }
            // Only analyses this transaction still holds: one already moved on is left alone.
            Stmt up(impl_->db,
                    "UPDATE analyses SET attempts = attempts + ?3, last_error = ?4, "
                    "state = CASE WHEN attempts + ?3 >= ?5 THEN 'failed' ELSE 'pending' END, "
                    "updated_at = ?2 WHERE id = ?1 AND state = 'broadcast' AND txid = ?6");
            up.bind(1, id)
                .bind(2, utc_now())
                .bind(3, static_cast<std::int64_t>(count_attempt ? 1 : 0))
                .bind(4, error)
                .bind(5, static_cast<std::int64_t>(max_attempts))
                .bind(6, txid);
            if (auto s = impl_->run(up, "releasing analysis " + std::to_string(id)); !s)
                return s;
        }
        return Status::Ok();
    });
}

Status Ledger::confirm_found(std::int64_t id, const OnChain& c) {
    return impl_->transaction("confirming analysis " + std::to_string(id), [&]() -> Status {
        return impl_->move(
            id, "'pending'",
            "state = 'confirmed', onchain_id = ?3, block_height = ?4, block_time = ?5, "
            "last_error = NULL",
            [&](Stmt& st) {
                st.bind_u64(3, c.analysis_id).bind_u64(4, c.block_height).bind_u64(5, c.block_time);
            },
            "confirming");
    });
}

Status Ledger::note_error(std::int64_t id, const std::string& error) {
    return impl_->move(
        id, "'pending'", "last_error = ?3", [&](Stmt& st) { st.bind(3, error); }, "noting");
}

Status Ledger::mark_needs_review(std::int64_t id, const std::string& reason) {
    return impl_->move(
        id, "'pending'", "state = 'needs_review', review_reason = ?3",
        [&](Stmt& st) { st.bind(3, reason); }, "holding for review");
}

Status Ledger::mark_failed(std::int64_t id, const std::string& error) {
    return impl_->move(
        id, "'pending'", "state = 'failed', last_error = ?3", [&](Stmt& st) { st.bind(3, error); },
        "failing");
}

Status Ledger::set_model_id(std::int64_t id, std::uint64_t model_id) {
    Stmt s(impl_->db, "UPDATE analyses SET model_id = ?2, updated_at = ?3 WHERE id = ?1");
    s.bind(1, id).bind_u64(2, model_id).bind(3, utc_now());
    return impl_->run(s, "setting the model id");
}

Status Ledger::requeue(std::int64_t id) {
    return impl_->move(
        id, "'needs_review', 'failed'", "state = 'pending', attempts = 0", [](Stmt&) {},
        "requeueing");
}

Result<std::int64_t> anchoring_lag_seconds(Ledger& ledger) {
    std::int64_t lag = 0;
    for (auto state : {AnalysisState::kPending, AnalysisState::kBroadcast}) {
        auto oldest = ledger.list(state, 1);
        if (!oldest)
            return oldest.error();
        if (oldest->empty())
            continue;
        std::tm tm{};
        if (strptime(oldest->front().created_at.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) != nullptr) {
            const auto age =
                static_cast<std::int64_t>(std::difftime(std::time(nullptr), timegm(&tm)));
            lag = std::max(lag, age);
        }
    }
    return lag;
}

}  // namespace medanchor::ledger
