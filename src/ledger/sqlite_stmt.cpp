#include "ledger/sqlite_stmt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file_io.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

Error Connection::error(const std::string& what) const {
    const int code = sqlite3_errcode(db);
    const ErrorCode ec = (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? ErrorCode::kCorrupt
                         : (code == SQLITE_BUSY || code == SQLITE_LOCKED)  ? ErrorCode::kTimeout
                                                                           : ErrorCode::kIo;
    return Error(ec, name + ": " + what + ": " + sqlite3_errmsg(db));
}

Status Connection::exec(const char* sql, const std::string& what) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
        return error(what);
    return Status::Ok();
}

Result<sqlite3*> open_private_sqlite(const fs::path& path, const std::string& what) {
    const std::string name = path.string();
    std::error_code ec;
    if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
        fs::create_directories(path.parent_path(), ec);
        if (ec)
            return Error(ErrorCode::kIo, path.parent_path().string() + ": " + ec.message());
        fs::permissions(path.parent_path(), fs::perms::owner_all, fs::perm_options::replace, ec);
    }
    // A new file is made 0600 under a temporary name and renamed into place without replacing
    // (so it never exists with a looser mode). An existing file is never opened here: POSIX
    // drops every lock this process holds on a file when any descriptor of it is closed, so an
    // open-and-close beside SQLite would strip the other connections of this process of their
    // locks, and the next connection to close anywhere would believe itself the last and
    // delete the -wal and -shm files under them (their writes then unseen by anyone else).
    if (!fs::exists(path, ec)) {
        AtomicFile created(path);
        const int fd =
            ::open(created.temp_path().c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            return Error(errno == EACCES ? ErrorCode::kPermission : ErrorCode::kIo,
                         name + ": cannot create " + what + ": " + std::strerror(errno));
        }
        ::close(fd);
        // false: another process or thread made it meanwhile; theirs is used.
        if (auto placed = created.commit({.replace = false}); !placed)
            return placed.error();
    }
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        Error e(ErrorCode::kIo, name + ": cannot open " + what + ": " +
                                    (db ? sqlite3_errmsg(db) : "out of memory"));
        sqlite3_close_v2(db);
        return e;
    }
    return db;
}

Status ensure_schema(Connection& c, const std::string& what, const char* schema, int version,
                     const char* table) {
    sqlite3* db = c.db;
    const std::string& name = c.name;
    const auto sql_error = [&](const std::string& doing) { return c.error(doing); };
    Stmt current(db, "PRAGMA user_version");
    if (!current.prepared() || current.step() != SQLITE_ROW)
        return sql_error("reading the schema version");
    const std::int64_t v = current.i64(0);
    if (v == 0) {
        Stmt tables(db, "SELECT count(*) FROM sqlite_master");
        if (!tables.prepared() || tables.step() != SQLITE_ROW)
            return sql_error("reading the schema");
        if (tables.i64(0) != 0) {
            return Error(ErrorCode::kCorrupt, name +
                                                  ": an SQLite file with tables but no schema "
                                                  "version; not a medanchor " +
                                                  what);
        }
        char* msg = nullptr;
        if (sqlite3_exec(db, schema, nullptr, nullptr, &msg) != SQLITE_OK) {
            std::string m = msg ? msg : "failed";
            sqlite3_free(msg);
            return Error(ErrorCode::kIo, name + ": creating the schema: " + m);
        }
        return Status::Ok();
    }
    if (v != version) {
        return Error(ErrorCode::kUnsupported, name + ": " + what + " schema version " +
                                                  std::to_string(v) + " is not " +
                                                  std::to_string(version));
    }
    Stmt check(db, "SELECT count(*) FROM sqlite_master WHERE name = ?1");
    if (!check.prepared())
        return sql_error("reading the schema");
    check.bind(1, table);
    if (check.step() != SQLITE_ROW || check.i64(0) != 1)
        return Error(ErrorCode::kCorrupt, name + ": not a medanchor " + what);
    return Status::Ok();
}

}  // namespace medanchor::ledger
