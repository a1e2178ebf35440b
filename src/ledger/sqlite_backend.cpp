// The SQLite ledger: one file (WAL, foreign keys, synchronous = FULL, a busy timeout), mode 0600,
// schema versioned with PRAGMA user_version, every write transaction BEGIN IMMEDIATE; and its
// outbox lock, an flock(2) on the side file LEDGER.lock.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "ledger/backend.h"
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

class StmtRow final : public SqlRow {
  public:
    explicit StmtRow(const Stmt& s) : s_(s) {}
    bool is_null(int col) const override { return !s_.opt_text(col).has_value(); }
    std::string text(int col) const override { return s_.text(col); }
    std::int64_t i64(int col) const override { return s_.i64(col); }

  private:
    const Stmt& s_;
};

class SqliteBackend final : public LedgerBackend {
  public:
    const std::string& name() const override { return c_.name; }

    Result<std::int64_t> execute(const std::string& sql, const std::vector<SqlArg>& args,
                                 const std::string& doing,
                                 const std::function<void(const SqlRow&)>& row) override {
        if (auto s = c_.query(sql.c_str(), args, doing,
                              [&](const Stmt& st) {
                                  if (row)
                                      row(StmtRow(st));
                              });
            !s)
            return s.error();
        return static_cast<std::int64_t>(c_.changes());
    }

    Status transaction(const std::string& doing, const std::function<Status()>& body) override {
        return c_.transaction(doing, body);
    }

    // One try of opening: SQLite answers busy at once in a few cases, which open_sqlite_backend
    // retries.
    Status open(const fs::path& path) {
        if (auto opened = c_.open(path, "the ledger"); !opened)
            return opened;
        sqlite3_extended_result_codes(c_.db, 0);
        if (auto s = c_.exec("PRAGMA journal_mode = WAL", "setting WAL mode"); !s)
            return s;
        if (auto s =
                c_.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "setting pragmas");
            !s)
            return s;
        return migrate();
    }

  private:
    // PRAGMA user_version: 0 for a new file.
    Result<int> schema_version() {
        auto v = count("PRAGMA user_version");
        if (!v)
            return v.error();
        return static_cast<int>(*v);
    }

    // The one integer a query returns; its statement is finalized on return.
    Result<std::int64_t> count(const char* sql) {
        Stmt s(c_.db, sql);
        if (!s.prepared() || s.step() != SQLITE_ROW)
            return c_.sql_error("reading the schema");
        return s.i64(0);
    }

    // Most opens find the current schema and write nothing. Otherwise the schema is created or
    // migrated under BEGIN IMMEDIATE, and the version read again there: of two processes that
    // open a new ledger at once, the second waits for the first and then finds it made. (Every
    // statement is finalized before the transaction: a reader still open on this connection
    // would make SQLite refuse the write at once instead of waiting.)
    Status migrate() {
        auto version = schema_version();
        if (!version)
            return version.error();
        if (*version == Ledger::kSchemaVersion)
            return Status::Ok();
        return c_.transaction("preparing the schema", [&]() -> Status {
            auto v = schema_version();
            if (!v)
                return v.error();
            if (*v > Ledger::kSchemaVersion) {
                return Error(ErrorCode::kUnsupported,
                             c_.name + ": ledger schema version " + std::to_string(*v) +
                                 " is newer than this medanchor understands (" +
                                 std::to_string(Ledger::kSchemaVersion) +
                                 "); use the medanchor that wrote it, or a newer one");
            }
            if (*v == 0) {
                // Either brand new, or some other SQLite file: refuse to adopt one with tables.
                auto tables = count("SELECT count(*) FROM sqlite_master");
                if (!tables)
                    return tables.error();
                if (*tables != 0) {
                    return Error(ErrorCode::kCorrupt,
                                 c_.name +
                                     ": an SQLite file with tables but no medanchor schema "
                                     "version; not a medanchor ledger");
                }
                if (auto c = c_.exec(kSchemaV1, "creating the schema"); !c)
                    return c;
                *v = 1;
            }
            for (; *v < Ledger::kSchemaVersion; ++*v) {
                if (auto m = c_.exec(kMigrations[*v - 1],
                                     "migrating the schema from version " + std::to_string(*v));
                    !m)
                    return m;
            }
            const std::string set =
                "PRAGMA user_version = " + std::to_string(Ledger::kSchemaVersion);
            return c_.exec(set.c_str(), "setting the schema version");
        });
    }

    Connection c_;
};

// The flock of an SQLite ledger's outbox: released by the kernel when the descriptor closes,
// however its holder ends.
struct FlockHeld final : OutboxLock::Held {
    explicit FlockHeld(int fd) : fd(fd) {}
    ~FlockHeld() override {
        if (fd >= 0)
            ::close(fd);
    }
    FlockHeld(const FlockHeld&) = delete;
    FlockHeld& operator=(const FlockHeld&) = delete;
    int fd;
};

}  // namespace

Result<std::unique_ptr<LedgerBackend>> open_sqlite_backend(const fs::path& path) {
    // SQLite waits out a lock with the busy handler, but answers SQLITE_BUSY at once in a few cases
    // (switching to WAL, or WAL set-up, while another connection is doing the same): a new ledger
    // opened by several processes at the same moment then failed one of them with a "timeout" after
    // milliseconds. A timeout is only a timeout once the busy timeout has passed.
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
    for (;;) {
        auto backend = std::make_unique<SqliteBackend>();
        auto opened = backend->open(path);
        if (opened)
            return std::unique_ptr<LedgerBackend>(std::move(backend));
        if (opened.error().code() != ErrorCode::kTimeout ||
            std::chrono::steady_clock::now() >= deadline)
            return opened.error();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

Result<std::unique_ptr<OutboxLock::Held>> lock_sqlite_outbox(
    const fs::path& ledger_path, std::chrono::milliseconds wait,
    const std::function<void(long)>& waiting) {
    const fs::path path = ledger_path.string() + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return Error(
            errno == EACCES ? ErrorCode::kPermission : ErrorCode::kIo,
            path.string() + ": cannot open the ledger's lock file: " + std::strerror(errno));
    }
    auto held = std::make_unique<FlockHeld>(fd);
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
    return std::unique_ptr<OutboxLock::Held>(std::move(held));
}

}  // namespace medanchor::ledger
