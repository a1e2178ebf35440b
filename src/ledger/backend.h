// Internal to the ledger library (never included outside src/ledger/): what the ledger needs of a
// database, so that its rules — the checks, the idempotent key, the state machine of analyses and
// transactions — are written once (ledger.cpp) and run unchanged on SQLite (sqlite_backend.cpp)
// and on PostgreSQL (postgres_backend.cpp).
//
// The cut: a backend owns the connection, the schema and its migrations, what "one write
// transaction" means on its engine, and the classification of its failures into ErrorCode. The
// ledger owns every statement, written in the SQL both engines speak (positional `?N`
// parameters, `INSERT ... ON CONFLICT DO NOTHING RETURNING`, no engine-specific functions), so a
// transition is one text, never two that could diverge.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "ledger/ledger.h"

namespace medanchor::ledger {

// A bound value: text, an integer, or NULL when neither.
struct SqlArg {
    std::optional<std::string> text;
    std::optional<std::int64_t> number;
};
inline SqlArg text(std::string s) {
    return {std::move(s), std::nullopt};
}
inline SqlArg number(std::int64_t n) {
    return {std::nullopt, n};
}
inline SqlArg unsigned_number(std::uint64_t n) {
    return number(static_cast<std::int64_t>(n));
}
inline SqlArg optional_text(const std::optional<std::string>& s) {
    return s ? text(*s) : SqlArg{};
}
template <class T>
SqlArg optional_number(const std::optional<T>& n) {
    return n ? unsigned_number(*n) : SqlArg{};
}

// One row of a result, valid only inside the callback that receives it.
class SqlRow {
  public:
    virtual bool is_null(int col) const = 0;
    virtual std::string text(int col) const = 0;  // "" for NULL
    virtual std::int64_t i64(int col) const = 0;  // 0 for NULL
    std::optional<std::string> opt_text(int col) const {
        return is_null(col) ? std::nullopt : std::optional<std::string>(text(col));
    }
    std::optional<std::uint64_t> opt_u64(int col) const {
        return is_null(col) ? std::nullopt
                            : std::optional<std::uint64_t>(static_cast<std::uint64_t>(i64(col)));
    }

  protected:
    ~SqlRow() = default;
};

// Thread safety: one backend per thread (it is one connection).
class LedgerBackend {
  public:
    virtual ~LedgerBackend() = default;

    // What messages call the ledger: the file, or the PostgreSQL URI without its password.
    virtual const std::string& name() const = 0;

    // Runs one statement (`?1`..`?N` parameters, each used with one type), hands every row it
    // returns to `row`, and answers how many rows an INSERT, UPDATE or DELETE changed. Outside
    // transaction() the statement is its own transaction. The error names `doing` and the ledger.
    virtual Result<std::int64_t> execute(const std::string& sql, const std::vector<SqlArg>& args,
                                         const std::string& doing,
                                         const std::function<void(const SqlRow&)>& row = {}) = 0;

    // Runs `body` as one write transaction that behaves as if no other writer ran at the same
    // time (SQLite: BEGIN IMMEDIATE, one writer at a time; PostgreSQL: SERIALIZABLE, `body` run
    // again when the engine reports a serialization conflict, so it must only write through
    // execute() and overwrite, not accumulate, what it hands out). Rolled back when `body` or the
    // commit fails.
    virtual Status transaction(const std::string& doing, const std::function<Status()>& body) = 0;
};

// A store kept beside the ledger's analyses (MerkleStore, PacsStore): one backend connection of
// its own and the calls its statements go through. Thread safety: as LedgerBackend's.
struct StoreConnection {
    std::unique_ptr<LedgerBackend> db;

    // Connects to the ledger at `location`, migrating its schema: a postgresql:// URI, or an
    // SQLite file that must exist already (a store never creates a ledger by itself: kIo).
    Status open(const std::filesystem::path& location);
    const std::string& name() const { return db->name(); }
    // One statement; how many rows it changed.
    Result<std::int64_t> run(const std::string& sql, const std::vector<SqlArg>& args,
                             const std::string& doing,
                             const std::function<void(const SqlRow&)>& row = {}) {
        return db->execute(sql, args, doing, row);
    }
    // One statement, its count dropped.
    Status query(const std::string& sql, const std::vector<SqlArg>& args, const std::string& doing,
                 const std::function<void(const SqlRow&)>& row = {}) {
        auto r = db->execute(sql, args, doing, row);
        return r ? Status::Ok() : Status(r.error());
    }
    Status transaction(const std::string& doing, const std::function<Status()>& body) {
        return db->transaction(doing, body);
    }
};

// Opens (creating it and its folders, mode 0600/0700) the SQLite ledger file and brings its
// schema to Ledger::kSchemaVersion (PRAGMA user_version).
Result<std::unique_ptr<LedgerBackend>> open_sqlite_backend(const std::filesystem::path& path);
// Connects to the database a libpq URI names and brings its schema to
// Ledger::kPostgresSchemaVersion (table medanchor_schema), once even when many processes start
// at the same moment (under an advisory transaction lock). The database must exist.
Result<std::unique_ptr<LedgerBackend>> open_postgres_backend(const std::string& uri);

// The outbox lock of each kind of ledger (OutboxLock::acquire picks one): flock(2) on
// LEDGER.lock for SQLite (every scope), a session-level advisory lock keyed by the scope on a
// connection of its own for PostgreSQL.
Result<std::unique_ptr<OutboxLock::Held>> lock_sqlite_outbox(
    const std::filesystem::path& ledger_path, std::chrono::milliseconds wait,
    const std::function<void(long)>& waiting);
Result<std::unique_ptr<OutboxLock::Held>> lock_postgres_outbox(
    const std::string& uri, std::chrono::milliseconds wait,
    const std::function<void(long)>& waiting, const std::string& scope);

// The URI as messages may show it: postgresql://USER@HOST:PORT/DBNAME, never the password.
std::string postgres_display_name(const std::string& uri);

}  // namespace medanchor::ledger
