// The account store over SQLite (the ledger library is where SQLite is touched).
#include "ledger/accounts.h"

#include <sqlite3.h>

#include "common/encoding.h"
#include "ledger/ledger.h"
#include "ledger/sqlite_stmt.h"

namespace medanchor::ledger {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    key_file TEXT NOT NULL,
    principal TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
PRAGMA user_version = 1;
)sql";

}  // namespace

bool is_account_name(std::string_view name) {
    if (name.empty() || name.size() > 64)
        return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return name.front() != '.' && name.front() != '-';
}

struct AccountStore::Impl : Connection {};

AccountStore::AccountStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AccountStore::AccountStore(AccountStore&&) noexcept = default;
AccountStore& AccountStore::operator=(AccountStore&&) noexcept = default;
AccountStore::~AccountStore() = default;

Result<AccountStore> AccountStore::open(const fs::path& path) {
    // Made 0600 (open_private_sqlite); one found open to others is refused, as a key file is:
    // whoever can write it can give themselves a role. (Checked with stat: opening the file
    // beside SQLite would drop this process' locks on it.)
    std::error_code ec;
    const auto perms = fs::status(path, ec).permissions();
    if (!ec && (perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(perms) & 07777u);
        return Error(ErrorCode::kPermission,
                     path.string() +
                         ": the account store must not be open to group or others (mode " + mode +
                         "); run: chmod 600 " + path.string());
    }
    auto impl = std::make_unique<Impl>();
    if (auto opened = impl->open(path, "the account store"); !opened)
        return opened.error();
    const std::string& name = impl->name;
    Stmt version(impl->db, "PRAGMA user_version");
    if (!version.prepared() || version.step() != SQLITE_ROW)
        return impl->sql_error("reading the schema version");
    const std::int64_t v = version.i64(0);
    if (v == 0) {
        Stmt tables(impl->db, "SELECT count(*) FROM sqlite_master");
        if (!tables.prepared() || tables.step() != SQLITE_ROW)
            return impl->sql_error("reading the schema");
        if (tables.i64(0) != 0) {
            return Error(ErrorCode::kCorrupt,
                         name +
                             ": an SQLite file with tables but no schema version; not a "
                             "medanchor account store");
        }
        if (auto made = impl->exec(kSchema, "creating the schema"); !made)
            return made.error();
    } else if (v != kSchemaVersion) {
        return Error(ErrorCode::kUnsupported, name + ": account store schema version " +
                                                  std::to_string(v) + " is not " +
                                                  std::to_string(kSchemaVersion));
    } else {
        Stmt check(impl->db, "SELECT count(*) FROM sqlite_master WHERE name = 'accounts'");
        if (!check.prepared() || check.step() != SQLITE_ROW || check.i64(0) != 1)
            return Error(ErrorCode::kCorrupt, name + ": not a medanchor account store");
    }
    return AccountStore(std::move(impl));
}

Status AccountStore::add(const Account& a, const std::string& token_sha256) {
    if (!is_account_name(a.name)) {
        return Error(ErrorCode::kInvalidArgument,
                     "user name: 1 to 64 of A-Z a-z 0-9 . _ - (not starting with . or -)");
    }
    if (!is_lower_hex(token_sha256, 64))
        return Error(ErrorCode::kInternal, "token digest: not 64 lowercase hex digits");
    Stmt s(impl_->db,
           "INSERT INTO accounts (name, role, key_file, principal, token_sha256, created_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s.prepared())
        return impl_->sql_error("adding a user");
    s.bind(1, a.name).bind(2, a.role).bind(3, a.key_file).bind(4, a.principal);
    s.bind(5, token_sha256).bind(6, utc_now());
    const int rc = s.step();
    if (rc == SQLITE_CONSTRAINT) {
        return Error(ErrorCode::kInvalidArgument,
                     impl_->name + ": a user named " + a.name + " already exists");
    }
    if (rc != SQLITE_DONE)
        return impl_->sql_error("adding a user");
    return Status::Ok();
}

Status AccountStore::remove(const std::string& name) {
    Stmt s(impl_->db, "DELETE FROM accounts WHERE name = ?1");
    if (!s.prepared())
        return impl_->sql_error("removing a user");
    s.bind(1, name);
    if (s.step() != SQLITE_DONE)
        return impl_->sql_error("removing a user");
    if (sqlite3_changes(impl_->db) != 1)
        return Error(ErrorCode::kNotFound, impl_->name + ": no user named " + name);
    return Status::Ok();
}

namespace {
Account read_account(const Stmt& s) {
    return Account{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4)};
}
}  // namespace

Result<std::vector<Account>> AccountStore::list() {
    Stmt s(impl_->db,
           "SELECT name, role, key_file, principal, created_at FROM accounts ORDER BY name");
    if (!s.prepared())
        return impl_->sql_error("listing users");
    std::vector<Account> out;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
        out.push_back(read_account(s));
    if (rc != SQLITE_DONE)
        return impl_->sql_error("listing users");
    return out;
}

Result<std::optional<Account>> AccountStore::find_by_token_sha256(const std::string& token_sha256) {
    Stmt s(impl_->db,
           "SELECT name, role, key_file, principal, created_at FROM accounts "
           "WHERE token_sha256 = ?1");
    if (!s.prepared())
        return impl_->sql_error("finding a user");
    s.bind(1, token_sha256);
    const int rc = s.step();
    if (rc == SQLITE_DONE)
        return std::optional<Account>{};
    if (rc != SQLITE_ROW)
        return impl_->sql_error("finding a user");
    return std::optional<Account>{read_account(s)};
}

}  // namespace medanchor::ledger
