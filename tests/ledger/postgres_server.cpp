#include "postgres_server.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>

namespace medanchor::ledger::testing {
namespace fs = std::filesystem;
namespace {

// Not PostgreSQL's default 5432: only the name of the socket file in the private folder, but
// nothing here should look like a shared server's.
constexpr int kPort = 54329;

std::unique_ptr<PostgresServer>& instance() {
    static std::unique_ptr<PostgresServer> server;
    return server;
}

class StopAtExit : public ::testing::Environment {
  public:
    void TearDown() override { instance().reset(); }
};
[[maybe_unused]] ::testing::Environment* const kStopAtExit =
    ::testing::AddGlobalTestEnvironment(new StopAtExit);

}  // namespace

Status ScratchDatabase::make() {
    auto shared = PostgresServer::shared();
    if (!shared)
        return shared.error();
    server = *shared;
    auto db = server->create_database();
    if (!db)
        return db.error();
    name = *db;
    uri = server->uri(name);
    return Status::Ok();
}

ScratchDatabase::~ScratchDatabase() {
    if (server != nullptr && !name.empty())
        (void)server->drop_database(name);
}

Result<PostgresServer*> PostgresServer::shared() {
    static std::optional<Error> failed;
    if (failed)
        return *failed;
    if (!instance()) {
        std::unique_ptr<PostgresServer> server(new PostgresServer());
        if (auto s = server->init(); !s) {
            failed = s.error();
            return s.error();
        }
        instance() = std::move(server);
    }
    return instance().get();
}

std::string PostgresServer::as_owner(const std::string& command) const {
    return ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
}

Status PostgresServer::init() {
    const char* env = std::getenv("MEDANCHOR_PG_BINDIR");
    bin_ = env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/usr/lib/postgresql/15/bin");
    if (::access((bin_ / "initdb").c_str(), X_OK) != 0 ||
        ::access((bin_ / "pg_ctl").c_str(), X_OK) != 0) {
        return Error(ErrorCode::kNotFound,
                     "PostgreSQL's initdb and pg_ctl are not in " + bin_.string() +
                         ": install the Debian package postgresql-15 (listed in "
                         "scripts/apt-packages.txt; bash scripts/bootstrap.sh installs it), or "
                         "set MEDANCHOR_PG_BINDIR to the folder that has them");
    }
    std::string tmpl = (fs::temp_directory_path() / "medanchor-pg-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        return Error(ErrorCode::kIo, "cannot make a temporary folder for PostgreSQL");
    dir_ = tmpl;
    if (::geteuid() == 0) {
        const passwd* pg = ::getpwnam("postgres");
        if (pg == nullptr) {
            return Error(ErrorCode::kNotFound,
                         "running as root, the tests start PostgreSQL as the `postgres` user, "
                         "which does not exist: install the Debian package postgresql-15");
        }
        if (::chown(dir_.c_str(), pg->pw_uid, pg->pw_gid) != 0)
            return Error(ErrorCode::kIo, "cannot give " + dir_.string() + " to postgres");
    }
    const std::string initdb =
        as_owner((bin_ / "initdb").string() + " -D " + (dir_ / "data").string() +
                 " -U medanchor -A trust --no-sync -E UTF8 --locale=C "
                 ">" +
                 (dir_ / "initdb.log").string() + " 2>&1");
    if (std::system(initdb.c_str()) != 0)
        return Error(ErrorCode::kIo, "initdb failed; see " + (dir_ / "initdb.log").string());
    if (auto s = start(); !s)
        return s;
    return Status::Ok();
}

Status PostgresServer::pg_ctl(const std::string& args) const {
    const std::string command =
        as_owner((bin_ / "pg_ctl").string() + " -D " + (dir_ / "data").string() + " -l " +
                 (dir_ / "server.log").string() + " -w -t 60 " + args + " >>" +
                 (dir_ / "pg_ctl.log").string() + " 2>&1");
    if (std::system(command.c_str()) != 0)
        return Error(ErrorCode::kIo, "pg_ctl " + args + " failed; see " + dir_.string());
    return Status::Ok();
}

Status PostgresServer::start() {
    auto s = pg_ctl("-o \"-k " + dir_.string() + " -c listen_addresses='' -p " +
                    std::to_string(kPort) + " -c fsync=off\" start");
    running_ = s.ok();
    return s;
}

Status PostgresServer::stop() {
    running_ = false;
    return pg_ctl("-m fast stop");
}

Status PostgresServer::restart() {
    if (auto s = stop(); !s)
        return s;
    return start();
}

PostgresServer::~PostgresServer() {
    if (running_)
        (void)pg_ctl("-m immediate stop");
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

std::string PostgresServer::uri(const std::string& database, const std::string& password) const {
    return "postgresql://medanchor" + (password.empty() ? "" : ":" + password) + "@/" + database +
           "?host=" + dir_.string() + "&port=" + std::to_string(kPort);
}

Result<std::optional<std::string>> PostgresServer::exec(const std::string& database,
                                                        const std::string& sql) const {
    PGconn* c = PQconnectdb(uri(database).c_str());
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(c, &PQfinish);
    if (PQstatus(c) != CONNECTION_OK)
        return Error(ErrorCode::kNetwork, std::string("test connection: ") + PQerrorMessage(c));
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(c, sql.c_str()), &PQclear);
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return Error(ErrorCode::kIo, sql + ": " + PQresultErrorMessage(r.get()));
    if (PQntuples(r.get()) > 0 && PQnfields(r.get()) > 0)
        return std::optional<std::string>(PQgetvalue(r.get(), 0, 0));
    return std::optional<std::string>();
}

Result<std::string> PostgresServer::create_database() {
    const std::string name =
        "ledger_" + std::to_string(::getpid()) + "_" + std::to_string(next_db_++);
    if (auto r = exec("postgres", "CREATE DATABASE " + name); !r)
        return r.error();
    return name;
}

Status PostgresServer::drop_database(const std::string& name) {
    auto r = exec("postgres", "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    return r ? Status::Ok() : Status(r.error());
}

}  // namespace medanchor::ledger::testing
