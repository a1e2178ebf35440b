#include "ledger/sqlite_stmt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/file_io.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

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

Connection::~Connection() {
    if (db != nullptr)
        sqlite3_close_v2(db);
}

Status Connection::open(const fs::path& path, const std::string& what) {
    name = path.string();
    holder = what;
    auto opened = open_private_sqlite(path, what);
    if (!opened)
        return opened.error();
    db = *opened;
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    return Status::Ok();
}

Error Connection::error(int code, std::string message) const {
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
        return Error(ErrorCode::kTimeout,
                     message + " (another process has been writing to " + holder + " for over " +
                         std::to_string(kBusyTimeoutMs / 1000) + " s; try again later)");
    }
    const ErrorCode ec = (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) ? ErrorCode::kCorrupt
                         : (code == SQLITE_CONSTRAINT) ? ErrorCode::kInvalidArgument
                                                       : ErrorCode::kIo;
    return Error(ec, std::move(message));
}

Error Connection::sql_error(const std::string& doing) const {
    return error(sqlite3_errcode(db), name + ": " + doing + ": " + sqlite3_errmsg(db));
}

Status Connection::exec(const char* sql, const std::string& doing) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        std::string m = msg ? msg : "failed";
        sqlite3_free(msg);
        return error(sqlite3_errcode(db), name + ": " + doing + ": " + m);
    }
    return Status::Ok();
}

Status Connection::run(Stmt& s, const std::string& doing) {
    if (!s.prepared())
        return sql_error("preparing " + doing);
    const int rc = s.step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sql_error(doing);
    return Status::Ok();
}

Status ensure_schema(Connection& c, const std::string& what, const char* schema, int version,
                     const char* table) {
    Stmt current(c.db, "PRAGMA user_version");
    if (!current.prepared() || current.step() != SQLITE_ROW)
        return c.sql_error("reading the schema version");
    const std::int64_t v = current.i64(0);
    if (v == 0) {
        Stmt tables(c.db, "SELECT count(*) FROM sqlite_master");
        if (!tables.prepared() || tables.step() != SQLITE_ROW)
            return c.sql_error("reading the schema");
        if (tables.i64(0) != 0) {
            return Error(ErrorCode::kCorrupt, c.name +
                                                  ": an SQLite file with tables but no schema "
                                                  "version; not a medanchor " +
                                                  what);
        }
        return c.exec(schema, "creating the schema");
    }
    if (v != version) {
        return Error(ErrorCode::kUnsupported, c.name + ": " + what + " schema version " +
                                                  std::to_string(v) + " is not " +
                                                  std::to_string(version));
    }
    Stmt check(c.db, "SELECT count(*) FROM sqlite_master WHERE name = ?1");
    if (!check.prepared())
        return c.sql_error("reading the schema");
    check.bind(1, table);
    if (check.step() != SQLITE_ROW || check.i64(0) != 1)
        return Error(ErrorCode::kCorrupt, c.name + ": not a medanchor " + what);
    return Status::Ok();
}

Status Connection::query(const char* sql, const std::vector<SqlArg>& args, const std::string& doing,
                         const std::function<void(const Stmt&)>& row) {
    Stmt stmt(db, sql);
    if (!stmt.prepared())
        return sql_error("preparing " + doing);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const int at = static_cast<int>(i + 1);
        if (args[i].text)
            stmt.bind(at, *args[i].text);
        else if (args[i].number)
            stmt.bind(at, *args[i].number);
        else
            stmt.bind_null(at);
    }
    int rc;
    while ((rc = stmt.step()) == SQLITE_ROW) {
        if (row)
            row(stmt);
    }
    return rc == SQLITE_DONE ? Status::Ok() : Status(sql_error(doing));
}

}  // namespace medanchor::ledger
