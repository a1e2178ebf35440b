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

Status SqliteConnection::open_ledger(const fs::path& ledger_path, const char* table) {
    constexpr int kBusyTimeoutMs = 10000;  // as ledger.cpp: a write waits this long for another
    name = ledger_path.string();
    if (sqlite3_open_v2(ledger_path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
        return Error(ErrorCode::kIo, name + ": cannot open the ledger: " +
                                         (db ? sqlite3_errmsg(db) : "out of memory"));
    }
    sqlite3_busy_timeout(db, kBusyTimeoutMs);
    if (auto s = exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "setting pragmas"); !s)
        return s;
    std::int64_t tables = 0;
    if (auto s = query("SELECT count(*) FROM sqlite_master WHERE name = ?1", {text(table)},
                       "reading the schema",
                       [&](sqlite3_stmt* st) { tables = sqlite3_column_int64(st, 0); });
        !s)
        return s;
    if (tables != 1) {
        return Error(ErrorCode::kUnsupported, name + ": the ledger has no " + table +
                                                  " table (open it with this medanchor's Ledger "
                                                  "first, which migrates it)");
    }
    return Status::Ok();
}

}  // namespace medanchor::ledger
