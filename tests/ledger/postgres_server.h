// A real PostgreSQL server for the tests, in a temporary folder: initdb + pg_ctl, listening on a
// Unix socket in that folder only (listen_addresses=''), trust authentication (for this test
// server only), stopped and removed when the test binary ends (a global test environment), also
// when a test failed. As root (CI), initdb and pg_ctl run as the `postgres` system user (initdb
// refuses root), the folder chowned to it; as any other user they run as that user.
//
// The binaries are PostgreSQL 15's, in /usr/lib/postgresql/15/bin (Debian's postgresql-15, not on
// PATH), or $MEDANCHOR_PG_BINDIR. When they are missing, shared() fails with what to install:
// the PostgreSQL tests fail, never skip.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

#include "common/error.h"

namespace medanchor::ledger::testing {

// The two ledger backends a value-parameterised suite runs on (ledger_test.cpp,
// merkle_store_test.cpp).
enum class Backend { kSqlite, kPostgres };
inline const char* name_of(Backend b) {
    return b == Backend::kSqlite ? "SQLite" : "PostgreSQL";
}
// How gtest (and so CTest's test names) shows the parameter.
inline void PrintTo(Backend b, std::ostream* os) {
    *os << name_of(b);
}

class PostgresServer;

// A database of its own on the shared server, for one test: make() starts the server if need be
// and creates it; the destructor drops it.
struct ScratchDatabase {
    PostgresServer* server = nullptr;
    std::string name;
    std::string uri;
    Status make();
    ~ScratchDatabase();
};

// A fixture for tests on PostgreSQL alone: each test gets a database of its own on the shared
// server (server_, database_, its URI uri_), dropped after it.
class PostgresDatabaseTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto made = scratch_.make();
        ASSERT_TRUE(made.ok()) << made.error().message();
        server_ = scratch_.server;
        database_ = scratch_.name;
        uri_ = scratch_.uri;
    }
    ScratchDatabase scratch_;
    PostgresServer* server_ = nullptr;
    std::string database_, uri_;
};

class PostgresServer {
  public:
    // The one server of this test binary, started on first use.
    static Result<PostgresServer*> shared();

    // A new empty database, and its name.
    Result<std::string> create_database();
    Status drop_database(const std::string& name);
    // A libpq URI for `database` over the socket, with `password` in it when not empty (trust
    // authentication ignores it).
    std::string uri(const std::string& database, const std::string& password = "") const;

    // Runs SQL (no parameters) on `database` with a connection of its own, behind the ledger's
    // back; the first column of the first row, if any.
    Result<std::optional<std::string>> exec(const std::string& database,
                                            const std::string& sql) const;

    Status stop();     // pg_ctl stop -m fast: sessions end
    Status start();    // after stop()
    Status restart();  // stop() then start()

    const std::filesystem::path& socket_dir() const { return dir_; }
    ~PostgresServer();

  private:
    PostgresServer() = default;
    Status init();
    Status pg_ctl(const std::string& args) const;
    std::string as_owner(const std::string& command) const;
    std::filesystem::path bin_, dir_;
    bool running_ = false;
    int next_db_ = 0;
};

}  // namespace medanchor::ledger::testing
