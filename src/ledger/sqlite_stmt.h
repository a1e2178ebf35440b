// Internal to the ledger library (never included outside src/ledger/): the one wrapper of an
// SQLite connection and of a prepared statement, shared by the ledger, the Merkle store and the
// account store so that all open, bind, read columns and name their failures the same way.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/error.h"
#include "ledger/backend.h"  // SqlArg

namespace medanchor::ledger {

// A prepared statement; finalized on scope exit.
class Stmt {
  public:
    Stmt(sqlite3* db, const char* sql) : db_(db) {
        rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    }
    ~Stmt() { sqlite3_finalize(stmt_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    bool prepared() const { return rc_ == SQLITE_OK; }
    Stmt& bind(int i, std::string_view v) {
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    Stmt& bind(int i, std::int64_t v) {
        sqlite3_bind_int64(stmt_, i, v);
        return *this;
    }
    Stmt& bind_u64(int i, std::uint64_t v) { return bind(i, static_cast<std::int64_t>(v)); }
    Stmt& bind_null(int i) {
        sqlite3_bind_null(stmt_, i);
        return *this;
    }
    template <class T>
    Stmt& bind_opt(int i, const std::optional<T>& v) {
        if (!v)
            return bind_null(i);
        if constexpr (std::is_same_v<T, std::uint64_t>)
            return bind_u64(i, *v);
        else
            return bind(i, *v);
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return rc_ = sqlite3_step(stmt_); }
    int rc() const { return rc_; }

    std::string text(int col) const {
        const auto* p = sqlite3_column_text(stmt_, col);
        return p ? std::string(reinterpret_cast<const char*>(p),
                               static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
                 : std::string();
    }
    std::optional<std::string> opt_text(int col) const {
        if (sqlite3_column_type(stmt_, col) == SQLITE_NULL)
            return std::nullopt;
        return text(col);
    }
    std::int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
    std::uint64_t u64(int col) const { return static_cast<std::uint64_t>(i64(col)); }
    std::optional<std::uint64_t> opt_u64(int col) const {
        if (sqlite3_column_type(stmt_, col) == SQLITE_NULL)
            return std::nullopt;
        return static_cast<std::uint64_t>(sqlite3_column_int64(stmt_, col));
    }

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    int rc_ = SQLITE_OK;
};

// How long a statement waits for another connection's write before it fails as a timeout.
inline constexpr int kBusyTimeoutMs = 10000;

// An open SQLite file: closed on scope exit, and the one way its failures are named (after the
// file and what was being done) and classified: busy after the busy timeout → timeout (another
// process' long write, not a broken file), corrupt or not a database → corrupt, a constraint →
// invalid-argument, the rest → io.
struct Connection {
    sqlite3* db = nullptr;
    std::string name;                   // the file, for messages
    std::string holder = "the ledger";  // what a busy message says another process writes to

    Connection() = default;
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Opens (creating when missing, owner-only) the file at `path` with the busy timeout set.
    Status open(const std::filesystem::path& path, const std::string& what);

    Error error(int code, std::string message) const;
    // The error of the last failed call on this connection.
    Error sql_error(const std::string& doing) const;
    Status exec(const char* sql, const std::string& doing);
    // Steps a statement that returns no rows (or ignores them).
    Status run(Stmt& s, const std::string& doing);
    // Prepares `sql`, binds `args`, steps it, and hands every row to `row`.
    Status query(const char* sql, const std::vector<SqlArg>& args, const std::string& doing,
                 const std::function<void(const Stmt&)>& row = {});
    int changes() const { return sqlite3_changes(db); }
    // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it or the commit fails.
    template <class F>
    Status transaction(const std::string& doing, F&& body) {
        if (auto s = exec("BEGIN IMMEDIATE", doing + ": begin"); !s)
            return s;
        Status s = body();
        if (s)
            s = exec("COMMIT", doing + ": commit");
        if (!s)
            (void)exec("ROLLBACK", doing + ": rollback");
        return s;
    }
};

// The schema of a small store (the account store, the job store): a fresh file (no tables) gets
// `schema`, which ends by setting PRAGMA user_version to `version`; an existing one must be at
// that version and hold `table`. kCorrupt for an SQLite file that is not such a store,
// kUnsupported for another version. `what` names the kind of store in errors ("job store").
Status ensure_schema(Connection& c, const std::string& what, const char* schema, int version,
                     const char* table);

// Opens (creating when missing) an SQLite file only its owner may read: missing parent folders
// are made with mode 0700 and the file is created by us with mode 0600 before SQLite opens it,
// so it never exists with a looser mode (SQLite gives its -wal and -shm files the same mode).
// Read-write, serialized threading mode. `what` names the file in errors ("the ledger").
// The caller owns the handle (sqlite3_close_v2).
Result<sqlite3*> open_private_sqlite(const std::filesystem::path& path, const std::string& what);

}  // namespace medanchor::ledger
