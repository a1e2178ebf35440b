// Internal to the ledger library (never included outside src/ledger/): the one wrapper of an
// SQLite prepared statement, shared by the ledger and the account store so that both bind and
// read columns the same way.
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

inline std::string column_text(sqlite3_stmt* s, int col) {
    const auto* p = sqlite3_column_text(s, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(s, col)))
             : std::string();
}

// One connection to the ledger file for the tables kept beside the analyses (merkle_store.h,
// pacs_store.h): errors named after `name`, every change under BEGIN IMMEDIATE. Owns `db`.
struct SqliteConnection {
    sqlite3* db = nullptr;
    std::string name;

    SqliteConnection() = default;
    SqliteConnection(const SqliteConnection&) = delete;
    SqliteConnection& operator=(const SqliteConnection&) = delete;
    ~SqliteConnection() {
        if (db != nullptr)
            sqlite3_close_v2(db);
    }

    Error sql_error(const std::string& what) const {
        const int code = sqlite3_errcode(db);
        std::string message = name + ": " + what + ": " + sqlite3_errmsg(db);
        if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
            return Error(ErrorCode::kTimeout, message +
                                                  " (another process is writing to the "
                                                  "ledger; try again later)");
        return Error(code == SQLITE_CONSTRAINT ? ErrorCode::kInvalidArgument
                     : (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? ErrorCode::kCorrupt
                                                                         : ErrorCode::kIo,
                     std::move(message));
    }

    Status exec(const char* sql, const std::string& what) {
        if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
            return sql_error(what);
        return Status::Ok();
    }

    // Prepares `sql`, binds `args`, steps it, and hands every row to `row`. Finalizes the
    // statement on return.
    Status query(const char* sql, const std::vector<SqlArg>& args, const std::string& what,
                 const std::function<void(sqlite3_stmt*)>& row = {}) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
            return sql_error("preparing " + what);
        for (std::size_t i = 0; i < args.size(); ++i) {
            const int at = static_cast<int>(i + 1);
            if (args[i].text)
                sqlite3_bind_text(stmt, at, args[i].text->data(),
                                  static_cast<int>(args[i].text->size()), SQLITE_TRANSIENT);
            else if (args[i].number)
                sqlite3_bind_int64(stmt, at, *args[i].number);
            else
                sqlite3_bind_null(stmt, at);
        }
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            if (row)
                row(stmt);
        }
        Status s = rc == SQLITE_DONE ? Status::Ok() : Status(sql_error(what));
        sqlite3_finalize(stmt);
        return s;
    }

    template <class F>
    Status transaction(const std::string& what, F&& body) {
        if (auto s = exec("BEGIN IMMEDIATE", what + ": begin"); !s)
            return s;
        Status s = body();
        if (s)
            s = exec("COMMIT", what + ": commit");
        if (!s)
            (void)exec("ROLLBACK", what + ": rollback");
        return s;
    }

    int changes() const { return sqlite3_changes(db); }

    // Opens the existing ledger file (Ledger::open first: it creates and migrates the schema)
    // with the ledger's pragmas, and checks that `table` exists (kUnsupported otherwise).
    Status open_ledger(const std::filesystem::path& ledger_path, const char* table);
};

// Opens (creating when missing) an SQLite file only its owner may read: missing parent folders
// are made with mode 0700 and the file is created by us with mode 0600 before SQLite opens it,
// so it never exists with a looser mode (SQLite gives its -wal and -shm files the same mode).
// Read-write, serialized threading mode. `what` names the file in errors ("the ledger").
// The caller owns the handle (sqlite3_close_v2).
Result<sqlite3*> open_private_sqlite(const std::filesystem::path& path, const std::string& what);

}  // namespace medanchor::ledger
