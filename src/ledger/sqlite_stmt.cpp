#include "ledger/sqlite_stmt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return Error(errno == EACCES ? ErrorCode::kPermission : ErrorCode::kIo,
                     name + ": cannot open " + what + ": " + std::strerror(errno));
    }
    ::close(fd);
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

}  // namespace medanchor::ledger
