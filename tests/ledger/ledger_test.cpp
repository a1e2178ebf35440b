// The ledger, one suite on two backends: real SQLite files and a real PostgreSQL server started by
// this binary (postgres_server.h). Created, idempotent, every outbox transition and its refusals,
// reopened intact, a newer schema or a foreign database refused, a process killed inside a write
// leaves the state before it, processes opening one new ledger at once, connections racing to add
// and to send the same analyses, and the outbox lock that lets one process at a time sign and
// send. SQLite only: the file's mode, a version-1 file migrated, connections coming and going.
// PostgreSQL only: a server restart, the password in no message, the schema row, the stores that
// need SQLite.
#include "ledger/ledger.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "ledger/job_queue.h"
#include "ledger/merkle_store.h"
#include "ledger/pacs_store.h"
#include "postgres_server.h"

namespace medanchor::ledger {
namespace {

namespace fs = std::filesystem;

NewAnalysis analysis(char image, const std::string& analyst = "ST1ANALYST") {
    NewAnalysis a;
    a.source_path = "/data/study/" + std::string(1, image) + ".dcm";
    a.image_hash = std::string(64, image);
    a.hash_mode = "hmac-sha256";
    a.model_sha256 = std::string(64, 'f');
    a.model_name = "m";
    a.model_version = "1";
    a.finding = "nodule-present";
    a.confidence_bp = 9000;
    a.report_json = std::string("{\"image\":\"") + image + "\"}";
    a.analyst = analyst;
    return a;
}

// The analysis of image number `n` (64 hex digits of it).
NewAnalysis numbered(int n) {
    auto a = analysis('a');
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016x", n + 1);
    a.image_hash = std::string(48, 'a') + hex;
    a.report_json = "{\"n\":" + std::to_string(n) + "}";
    return a;
}

// A txid-shaped name: "t1" becomes 62 zeros and "t1".
std::string txid(const std::string& name) {
    return std::string(64 - name.size(), '0') + name;
}

Transaction tx(const std::string& id, std::vector<std::int64_t> analyses,
               const std::string& sender = "ST1ANALYST", std::uint64_t nonce = 0) {
    Transaction t;
    t.txid = txid(id);
    t.raw_hex = "00ff";
    t.sender = sender;
    t.nonce = nonce;
    t.fee = 300;
    t.kind = analyses.size() == 1 ? kSubmitAnalysis : kSubmitAnalyses;
    t.analysis_ids = std::move(analyses);
    return t;
}

using testing::Backend;
using testing::name_of;

// Every test of the ledger's behaviour runs on both backends: an SQLite file in a temporary
// folder, and a fresh database on the test binary's PostgreSQL server (postgres_server.h).
class LedgerTest : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("medanchor-ledger-" + std::to_string(rd()));
        if (GetParam() == Backend::kSqlite) {
            path_ = dir_ / "sub" / "ledger.sqlite";
            return;
        }
        auto server = testing::PostgresServer::shared();
        ASSERT_TRUE(server.ok()) << server.error().message();
        server_ = *server;
        auto db = server_->create_database();
        ASSERT_TRUE(db.ok()) << db.error().message();
        database_ = *db;
        path_ = server_->uri(database_);
    }
    void TearDown() override {
        fs::remove_all(dir_);
        if (server_ != nullptr && !database_.empty()) {
            EXPECT_TRUE(server_->drop_database(database_).ok());
        }
    }

    bool postgres() const { return GetParam() == Backend::kPostgres; }

    // Makes the ledger new again: no file, or an empty database.
    void renew() {
        fs::remove_all(dir_);
        if (postgres()) {
            ASSERT_TRUE(server_->drop_database(database_).ok());
            auto db = server_->create_database();
            ASSERT_TRUE(db.ok());
            database_ = *db;
            path_ = server_->uri(database_);
        }
    }

    // Runs SQL on the ledger behind its back, with a connection of its own (sqlite3, libpq).
    void raw(const std::string& sql, const fs::path& where = {}) {
        if (postgres()) {
            auto r = server_->exec(where.empty() ? database_ : where.string(), sql);
            ASSERT_TRUE(r.ok()) << r.error().message();
            return;
        }
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open((where.empty() ? path_ : where).c_str(), &db), SQLITE_OK);
        char* msg = nullptr;
        const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
        const std::string m = msg != nullptr ? msg : "";
        sqlite3_free(msg);
        sqlite3_close(db);
        ASSERT_EQ(rc, SQLITE_OK) << m;
    }

    fs::path dir_, path_;
    testing::PostgresServer* server_ = nullptr;
    std::string database_;
};

INSTANTIATE_TEST_SUITE_P(Backends, LedgerTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return std::string(name_of(info.param));
                         });

// What only the SQLite file has: its mode, and SQLite's own locking between connections.
class SqliteLedgerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("medanchor-ledger-" + std::to_string(rd()));
        path_ = dir_ / "sub" / "ledger.sqlite";
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_, path_;
};

TEST_F(SqliteLedgerTest, IsCreatedPrivateWithItsFolders) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok()) << l.error().message();
    struct stat st {};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_P(LedgerTest, AddIsIdempotentPerImageModelAndAnalyst) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    auto first = l->add(analysis('a'));
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_TRUE(first->created);
    EXPECT_EQ(first->analysis.state, AnalysisState::kPending);
    EXPECT_EQ(first->analysis.report_digest, report_digest("{\"image\":\"a\"}"));

    auto again = l->add(analysis('a'));
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->created);
    EXPECT_EQ(again->analysis.id, first->analysis.id);
    auto other_analyst = l->add(analysis('a', "ST2OTHER"));
    ASSERT_TRUE(other_analyst.ok());
    EXPECT_TRUE(other_analyst->created);
    EXPECT_EQ(l->counts()->at(AnalysisState::kPending), 2u);
}

// A batch in one transaction: each entry's result in its place, as add() gives it — a malformed
// entry refused alone, a repeat of an earlier entry (or of a record) found, the rest written.
TEST_P(LedgerTest, AddAllWritesABatchWithEachEntrysOwnResult) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    ASSERT_TRUE(l->add(analysis('a')).ok());
    auto bad = analysis('c');
    bad.finding = "has space";
    auto results = l->add_all({analysis('a'), analysis('b'), bad, analysis('b'), analysis('d')});
    ASSERT_TRUE(results.ok()) << results.error().message();
    ASSERT_EQ(results->size(), 5u);
    const auto& r = *results;
    ASSERT_TRUE(r[0].ok());
    EXPECT_FALSE(r[0]->created) << "recorded before the batch";
    ASSERT_TRUE(r[1].ok());
    EXPECT_TRUE(r[1]->created);
    ASSERT_FALSE(r[2].ok());
    EXPECT_EQ(r[2].error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r[2].error().message().find("finding"), std::string::npos);
    ASSERT_TRUE(r[3].ok());
    EXPECT_FALSE(r[3]->created) << "the same key earlier in the batch";
    EXPECT_EQ(r[3]->analysis.id, r[1]->analysis.id);
    ASSERT_TRUE(r[4].ok());
    EXPECT_TRUE(r[4]->created);
    EXPECT_EQ(l->counts()->at(AnalysisState::kPending), 3u);
    auto empty = l->add_all({});
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->empty());
}

TEST_P(LedgerTest, RefusesMalformedFields) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    auto a = analysis('a');
    a.image_hash = "nothex";
    EXPECT_EQ(l->add(a).error().code(), ErrorCode::kInvalidArgument);
    a = analysis('a');
    a.finding = "has space";
    EXPECT_EQ(l->add(a).error().code(), ErrorCode::kInvalidArgument);
    a = analysis('a');
    a.confidence_bp = 10001;
    EXPECT_EQ(l->add(a).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(l->counts()->at(AnalysisState::kPending), 0u);
}

// The anchoring lag's times (docs/anchorer.md), read from the ledger by any process: none on a
// new ledger; the newest transaction recorded; the newest mined with success.
TEST_P(LedgerTest, AnchoringTimesComeFromTheTransactions) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    auto none = l->anchoring_times();
    ASSERT_TRUE(none.ok()) << none.error().message();
    EXPECT_FALSE(none->last_broadcast);
    EXPECT_FALSE(none->last_confirmed);
    const auto a = l->add(analysis('a'))->analysis.id;
    ASSERT_TRUE(l->record_transaction(tx("t1", {a})).ok());
    auto sent = l->anchoring_times();
    ASSERT_TRUE(sent.ok());
    ASSERT_TRUE(sent->last_broadcast);
    EXPECT_EQ(sent->last_broadcast->size(), 20u) << *sent->last_broadcast;  // ISO 8601, UTC
    EXPECT_FALSE(sent->last_confirmed);
    ASSERT_TRUE(l->settle_success(txid("t1"), {{11, 5, 1000}}).ok());
    auto mined = l->anchoring_times();
    ASSERT_TRUE(mined.ok());
    ASSERT_TRUE(mined->last_confirmed);
    EXPECT_GE(*mined->last_confirmed, *mined->last_broadcast);
}

TEST_P(LedgerTest, OutboxTransitions) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    const auto a = l->add(analysis('a'))->analysis.id;
    const auto b = l->add(analysis('b'))->analysis.id;
    const auto c = l->add(analysis('c'))->analysis.id;

    // A transaction takes pending analyses of its sender only.
    EXPECT_FALSE(l->record_transaction(tx("t0", {a}, "ST9SOMEONE-ELSE")).ok());
    ASSERT_TRUE(l->record_transaction(tx("t1", {a, b})).ok());
    EXPECT_EQ(l->get(a)->state, AnalysisState::kBroadcast);
    EXPECT_FALSE(l->record_transaction(tx("t2", {b})).ok()) << "b is already carried";
    EXPECT_EQ(l->transaction(txid("t1"))->analysis_ids, (std::vector<std::int64_t>{a, b}));

    ASSERT_TRUE(l->mark_accepted(txid("t1")).ok());
    EXPECT_TRUE(l->transaction(txid("t1"))->accepted);
    ASSERT_TRUE(l->settle_success(txid("t1"), {{11, 5, 1000}, {12, 5, 1000}}).ok());
    EXPECT_EQ(l->get(b)->state, AnalysisState::kConfirmed);
    EXPECT_EQ(l->get(b)->onchain_id, 12u);
    EXPECT_EQ(l->transaction(txid("t1"))->state, TxState::kSuccess);

    // Released: back to pending, failed once the attempts run out; a requeue starts over.
    ASSERT_TRUE(l->record_transaction(tx("t3", {c}, "ST1ANALYST", 1)).ok());
    ASSERT_TRUE(l->release(txid("t3"), TxState::kDropped, {}, "FeeTooLow", true, 2).ok());
    EXPECT_EQ(l->get(c)->state, AnalysisState::kPending);
    EXPECT_EQ(l->get(c)->attempts, 1);
    ASSERT_TRUE(l->record_transaction(tx("t4", {c}, "ST1ANALYST", 1)).ok());
    ASSERT_TRUE(l->release(txid("t4"), TxState::kDropped, {}, "FeeTooLow", true, 2).ok());
    EXPECT_EQ(l->get(c)->state, AnalysisState::kFailed);
    EXPECT_EQ(l->get(c)->transactions, 2);
    ASSERT_TRUE(l->requeue(c).ok());
    EXPECT_EQ(l->get(c)->state, AnalysisState::kPending);
    EXPECT_FALSE(l->requeue(a).ok()) << "a confirmed analysis is never requeued";

    // Found on chain after its transaction died: confirmed without another send.
    ASSERT_TRUE(l->record_transaction(tx("t5", {c}, "ST1ANALYST", 2)).ok());
    ASSERT_TRUE(
        l->release(txid("t5"), TxState::kDropped, {{c, {13, 6, 1600}}}, "BadNonce", false, 3).ok());
    EXPECT_EQ(l->get(c)->state, AnalysisState::kConfirmed);
    EXPECT_EQ(l->get(c)->onchain_id, 13u);

    // Refused by the contract for one item of a batch: that one is held for review with the
    // reason; the other goes back to pending, no attempt counted.
    const auto d = l->add(analysis('d'))->analysis.id;
    const auto e = l->add(analysis('e'))->analysis.id;
    ASSERT_TRUE(l->record_transaction(tx("t6", {d, e}, "ST1ANALYST", 3)).ok());
    const std::string why = "(err (tuple (code u1063) (index (some u1)))) ERR-CONFIDENCE-BELOW";
    ASSERT_TRUE(l->release(txid("t6"), TxState::kAbort, {}, why, false, 3, {{e, why}}).ok());
    EXPECT_EQ(l->transaction(txid("t6"))->state, TxState::kAbort);
    EXPECT_EQ(l->get(d)->state, AnalysisState::kPending);
    EXPECT_EQ(l->get(d)->attempts, 0);
    EXPECT_EQ(l->get(e)->state, AnalysisState::kNeedsReview);
    EXPECT_EQ(l->get(e)->review_reason, why);
    EXPECT_EQ(l->get(e)->attempts, 0);
}

TEST_P(LedgerTest, ReopenedLedgerKeepsEverything) {
    {
        auto l = Ledger::open(path_);
        ASSERT_TRUE(l.ok());
        const auto a = l->add(analysis('a'))->analysis.id;
        ASSERT_TRUE(l->record_transaction(tx("t1", {a})).ok());
    }
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->list().value().size(), 1u);
    EXPECT_EQ(l->transactions(TxState::kBroadcast)->size(), 1u);
    EXPECT_EQ(l->find_by_image(std::string(64, 'a'))->front().txid, txid("t1"));
}

TEST_P(LedgerTest, RefusesANewerSchemaAndForeignFiles) {
    ASSERT_TRUE(Ledger::open(path_).ok());
    raw(postgres() ? "UPDATE medanchor_schema SET version = 99" : "PRAGMA user_version = 99");
    auto newer = Ledger::open(path_);
    ASSERT_FALSE(newer.ok());
    EXPECT_EQ(newer.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(newer.error().message().find("newer"), std::string::npos) << newer.error().message();

    // Some other database with tables of its own is never adopted.
    fs::path other = dir_ / "other.sqlite";
    if (postgres()) {
        auto db = server_->create_database();
        ASSERT_TRUE(db.ok());
        other = *db;
    } else {
        fs::create_directories(dir_);
    }
    raw("CREATE TABLE patients (name TEXT)", other);
    auto foreign = Ledger::open(postgres() ? fs::path(server_->uri(other)) : other);
    if (postgres()) {
        EXPECT_TRUE(server_->drop_database(other.string()).ok());
    }
    ASSERT_FALSE(foreign.ok());
    EXPECT_EQ(foreign.error().code(), ErrorCode::kCorrupt);
}

TEST_P(LedgerTest, AProcessKilledInsideAWriteLeavesTheStateBefore) {
    std::int64_t a = 0;
    {
        auto l = Ledger::open(path_);
        ASSERT_TRUE(l.ok());
        a = l->add(analysis('a'))->analysis.id;
    }
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Half a record_transaction by hand: the transaction row is in, the analysis not yet
        // moved, and the process dies before COMMIT.
        const std::string insert =
            "INSERT INTO transactions (txid, raw_hex, sender, nonce, fee, kind, state, created_at, "
            "updated_at) "
            "VALUES ('" +
            txid("t1") + "','00','ST1ANALYST',0,1,'submit-analysis','broadcast','x','x')";
        if (postgres()) {
            PGconn* c = PQconnectdb(path_.c_str());
            PQclear(PQexec(c, "BEGIN"));
            PQclear(PQexec(c, insert.c_str()));
        } else {
            sqlite3* db = nullptr;
            sqlite3_open(path_.c_str(), &db);
            sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
            sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr);
        }
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok()) << l.error().message();
    EXPECT_EQ(l->get(a)->state, AnalysisState::kPending);
    EXPECT_TRUE(l->transactions(TxState::kBroadcast)->empty());
    EXPECT_TRUE(l->record_transaction(tx("t1", {a})).ok());
}

// A long-lived connection (the server's anchoring service) stays coherent while other
// connections of the same process come and go (a request's) and another process opens and
// closes the ledger (a CLI, sqlite3). Opening a connection must never open and close a file
// descriptor of the ledger itself: POSIX drops every lock the process holds on a file when any
// descriptor of it is closed, and the next connection to close elsewhere then believed itself
// the last one and deleted the -wal and -shm files under the live connections, whose writes
// nobody else saw until the process ended.
TEST_F(SqliteLedgerTest, ALongLivedConnectionStaysVisibleWhileOthersComeAndGo) {
    // As in `medanchor serve`: the analysis service's connection, the verification service's,
    // the anchoring service's, and a request's that comes and goes.
    auto kept = Ledger::open(path_);
    ASSERT_TRUE(kept.ok()) << kept.error().message();
    auto second = Ledger::open(path_);
    ASSERT_TRUE(second.ok());
    auto third = Ledger::open(path_);
    ASSERT_TRUE(third.ok());
    ASSERT_TRUE(third->list(std::nullopt).ok());
    ASSERT_TRUE(kept->add(analysis('a')).ok());
    {
        auto passing = Ledger::open(path_);
        ASSERT_TRUE(passing.ok());
        ASSERT_TRUE(passing->list(std::nullopt).ok());
    }
    // Another process (a new program, not a fork: a fork would inherit this process' view of
    // its SQLite locks) reads and closes.
    const auto rows_elsewhere = [&]() -> int {
        const std::string command =
            "/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
            "n=c.execute(\"select count(*) from analyses\").fetchone()[0]; c.close(); "
            "sys.exit(n)' " +
            path_.string();
        const int status = std::system(command.c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    };
    EXPECT_EQ(rows_elsewhere(), 1);
    EXPECT_TRUE(fs::exists(path_.string() + "-wal"));
    // What the kept connection writes now, the others see.
    ASSERT_TRUE(kept->add(analysis('b')).ok());
    EXPECT_EQ(rows_elsewhere(), 2);
    auto fresh = Ledger::open(path_);
    ASSERT_TRUE(fresh.ok());
    EXPECT_EQ(fresh->list(std::nullopt)->size(), 2u);
}

TEST_P(LedgerTest, RecordsAndFindsTheReportFolder) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    auto with = analysis('a');
    with.report_dir = "/reports/aaaa";
    ASSERT_TRUE(l->add(with).ok());
    ASSERT_TRUE(l->add(analysis('b')).ok());
    auto found = l->find(std::string(64, 'a'), std::string(64, 'f'), "ST1ANALYST");
    ASSERT_TRUE(found.ok()) << found.error().message();
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->report_dir, "/reports/aaaa");
    EXPECT_FALSE(l->find(std::string(64, 'b'), std::string(64, 'f'), "ST1ANALYST")
                     .value()
                     ->report_dir.has_value());
    // The key is (image, model, analyst): another analyst's analysis of the image is another.
    EXPECT_FALSE(l->find(std::string(64, 'a'), std::string(64, 'f'), "ST2OTHER")->has_value());
}

TEST_P(LedgerTest, CountsPendingAnalysesPerAnalyst) {
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    ASSERT_TRUE(l->add(analysis('a', "ST1A")).ok());
    ASSERT_TRUE(l->add(analysis('b', "ST1A")).ok());
    auto held = analysis('c', "ST2B");
    held.state = AnalysisState::kNeedsReview;
    held.review_reason = "below";
    ASSERT_TRUE(l->add(held).ok());
    auto pending = l->pending_by_analyst();
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(*pending, (std::map<std::string, std::size_t>{{"ST1A", 2}}));
}

// A ledger written by schema version 1 (no report_dir) is migrated on open, its rows kept.
TEST_F(SqliteLedgerTest, MigratesAVersion1Ledger) {
    std::int64_t id = 0;
    {
        auto l = Ledger::open(path_);
        ASSERT_TRUE(l.ok());
        id = l->add(analysis('a'))->analysis.id;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "DROP TABLE pacs_summaries_due; DROP TABLE pacs_fetch_failures; "
                     "DROP TABLE pacs_instances; DROP TABLE pacs_sends; DROP TABLE pacs_cursors; "
                     "DROP TABLE merkle_leaves; DROP TABLE merkle_roots; ALTER TABLE analyses "
                     "DROP COLUMN report_dir; PRAGMA user_version = 1",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);

    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok()) << l.error().message();
    auto old = l->get(id);
    ASSERT_TRUE(old.ok());
    EXPECT_EQ(old->report_digest, report_digest("{\"image\":\"a\"}"));
    EXPECT_FALSE(old->report_dir.has_value());
    auto next = analysis('b');
    next.report_dir = "/reports/bbbb";
    ASSERT_TRUE(l->add(next).ok());
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* v = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(v), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(v, 0), Ledger::kSchemaVersion);
    sqlite3_finalize(v);
    sqlite3_close(db);
    EXPECT_TRUE(MerkleStore::open(path_).ok());  // version 3's tables were made
    EXPECT_TRUE(PacsStore::open(path_).ok());    // and version 4's
    auto pacs = PacsStore::open(path_);
    EXPECT_TRUE(pacs->summaries_due().ok());  // and version 5's
}

// Processes that open a new ledger at the same moment and write to it: every one succeeds (the
// schema is made once; the others wait for it).
TEST_P(LedgerTest, ProcessesOpeningANewLedgerAtOnceAllSucceed) {
    for (int round = 0; round < 5; ++round) {
        renew();
        std::vector<pid_t> children;
        int go[2];
        ASSERT_EQ(::pipe(go), 0);
        for (int c = 0; c < 6; ++c) {
            const pid_t child = ::fork();
            ASSERT_GE(child, 0);
            if (child == 0) {
                ::close(go[1]);
                char byte;
                (void)!::read(go[0], &byte, 1);  // all start together
                auto l = Ledger::open(path_);
                if (!l.ok())
                    ::_exit(10 + static_cast<int>(l.error().code()));
                auto added = l->add(analysis(static_cast<char>('a' + c)));
                ::_exit(added.ok() ? 0 : 40 + static_cast<int>(added.error().code()));
            }
            children.push_back(child);
        }
        ::close(go[0]);
        ::close(go[1]);  // EOF releases every child at once
        for (pid_t child : children) {
            int status = 0;
            ::waitpid(child, &status, 0);
            ASSERT_TRUE(WIFEXITED(status));
            EXPECT_EQ(WEXITSTATUS(status), 0) << "round " << round;
        }
        auto l = Ledger::open(path_);
        ASSERT_TRUE(l.ok());
        EXPECT_EQ(l->list()->size(), 6u);
    }
}

// One process at a time holds the outbox; another waits, then times out naming the holder, and
// gets the lock once the holder is gone (even when it died without releasing it).
TEST_P(LedgerTest, TheOutboxLockIsHeldByOneProcessAtATime) {
    ASSERT_TRUE(Ledger::open(path_).ok());
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto held = OutboxLock::acquire(path_, std::chrono::milliseconds(0));
        (void)!::write(ready[1], held.ok() ? "1" : "0", 1);
        ::sleep(60);
        ::_exit(0);  // killed with -9 before, holding it
    }
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ASSERT_EQ(byte, '1');
    long told = -1;
    auto busy =
        OutboxLock::acquire(path_, std::chrono::milliseconds(300), [&](long pid) { told = pid; });
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().code(), ErrorCode::kTimeout);
    EXPECT_NE(busy.error().message().find("pid " + std::to_string(child)), std::string::npos)
        << busy.error().message();
    EXPECT_EQ(told, child);
    // The holder dies without a word: the kernel (flock) or the server (the session's socket
    // closes) lets the lock go.
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    auto mine = OutboxLock::acquire(path_, std::chrono::seconds(10));
    ASSERT_TRUE(mine.ok()) << mine.error().message();
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status));
    // Held by this process now: a second holder in another process is refused.
    const pid_t probe = ::fork();
    ASSERT_GE(probe, 0);
    if (probe == 0) {
        auto again = OutboxLock::acquire(path_, std::chrono::milliseconds(0));
        ::_exit(!again.ok() && again.error().code() == ErrorCode::kTimeout ? 0 : 1);
    }
    ::waitpid(probe, &status, 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // Released (its file closed, or its session ended) when it goes: another process gets it.
    { OutboxLock gone(std::move(*mine)); }
    const pid_t after = ::fork();
    ASSERT_GE(after, 0);
    if (after == 0) {
        auto next = OutboxLock::acquire(path_, std::chrono::milliseconds(0));
        ::_exit(next.ok() ? 0 : 1);
    }
    ::waitpid(after, &status, 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Two connections add the same analyses at the same time, in opposite orders: each analysis is
// recorded once, and exactly one of the two adds says it created it.
TEST_P(LedgerTest, ConcurrentAddsRecordEachAnalysisOnce) {
    ASSERT_TRUE(Ledger::open(path_).ok());
    constexpr int kImages = 40;
    std::vector<NewAnalysis> forward, backward;
    for (int i = 0; i < kImages; ++i)
        forward.push_back(numbered(i));
    backward.assign(forward.rbegin(), forward.rend());
    std::vector<int> created(2 * kImages, 0);
    std::vector<std::string> errors(2);
    const auto writer = [&](int w) {
        auto l = Ledger::open(path_);
        if (!l.ok()) {
            errors[w] = l.error().message();
            return;
        }
        const auto& list = w == 0 ? forward : backward;
        // One at a time and then all in one batch: both paths race the other writer.
        for (int i = 0; i < kImages; ++i) {
            auto one = l->add(list[i]);
            if (!one.ok()) {
                errors[w] = one.error().message();
                return;
            }
            created[w * kImages + i] = one->created ? 1 : 0;
        }
    };
    std::thread a(writer, 0), b(writer, 1);
    a.join();
    b.join();
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    int total = 0;
    for (int c : created)
        total += c;
    EXPECT_EQ(total, kImages) << "each analysis created by exactly one writer";
    auto l = Ledger::open(path_);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->list()->size(), static_cast<std::size_t>(kImages));

    // A batch racing a batch of the same analyses: still one row each.
    std::vector<NewAnalysis> more;
    for (int i = kImages; i < 2 * kImages; ++i)
        more.push_back(numbered(i));
    std::vector<std::size_t> made(2, 0);
    const auto batch = [&](int w) {
        auto c = Ledger::open(path_);
        if (!c.ok())
            return;
        auto r = c->add_all(more);
        if (!r.ok()) {
            errors[w] = r.error().message();
            return;
        }
        for (const auto& one : *r)
            made[w] += one.ok() && one->created ? 1 : 0;
    };
    std::thread c(batch, 0), d(batch, 1);
    c.join();
    d.join();
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    EXPECT_EQ(made[0] + made[1], static_cast<std::size_t>(kImages));
    EXPECT_EQ(l->list()->size(), static_cast<std::size_t>(2 * kImages));
}

// Two outboxes (connections) race to put the same pending analyses into two transactions: one
// succeeds, the other is refused whole (kInvalidArgument), and every analysis is carried by one
// transaction. This is what stops two writers from anchoring one analysis twice.
TEST_P(LedgerTest, RacingTransactionsCarryEachAnalysisOnce) {
    auto setup = Ledger::open(path_);
    ASSERT_TRUE(setup.ok());
    for (int round = 0; round < 10; ++round) {
        std::vector<std::int64_t> ids;
        for (int i = 0; i < 5; ++i) {
            auto added = setup->add(numbered(round * 5 + i));
            ASSERT_TRUE(added.ok());
            ids.push_back(added->analysis.id);
        }
        std::vector<Status> outcome(2);
        const auto outbox = [&](int w) {
            auto l = Ledger::open(path_);
            if (!l.ok()) {
                outcome[w] = l.error();
                return;
            }
            // The same analyses, in another order for the second writer.
            auto mine = ids;
            if (w == 1)
                std::reverse(mine.begin(), mine.end());
            outcome[w] = l->record_transaction(
                tx("r" + std::to_string(round) + "w" + std::to_string(w), mine, "ST1ANALYST",
                   static_cast<std::uint64_t>(round * 2 + w)));
        };
        std::thread a(outbox, 0), b(outbox, 1);
        a.join();
        b.join();
        ASSERT_NE(outcome[0].ok(), outcome[1].ok()) << "round " << round;
        const Status& refused = outcome[0].ok() ? outcome[1] : outcome[0];
        EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument) << refused.error().message();
        const std::string winner =
            txid("r" + std::to_string(round) + "w" + std::to_string(outcome[0].ok() ? 0 : 1));
        for (auto id : ids) {
            auto a = setup->get(id);
            ASSERT_TRUE(a.ok());
            EXPECT_EQ(a->state, AnalysisState::kBroadcast);
            EXPECT_EQ(a->txid, winner);
            EXPECT_EQ(a->transactions, 1);
        }
    }
    EXPECT_EQ(setup->transactions(TxState::kBroadcast)->size(), 10u);
}

// ---- PostgreSQL only ------------------------------------------------------------------------

using PostgresLedgerTest = testing::PostgresDatabaseTest;

// The backend keeps one connection. After a PostgreSQL restart between two calls, the next call
// connects again and succeeds (the old session told its end on the socket). While the server is
// down, a call fails with kNetwork, and the first call after it is back succeeds.
TEST_F(PostgresLedgerTest, ReconnectsAfterARestart) {
    auto l = Ledger::open(uri_);
    ASSERT_TRUE(l.ok()) << l.error().message();
    ASSERT_TRUE(l->add(analysis('a')).ok());
    ASSERT_TRUE(server_->restart().ok());
    auto after = l->add(analysis('b'));
    ASSERT_TRUE(after.ok()) << after.error().message();
    EXPECT_EQ(l->list()->size(), 2u);

    ASSERT_TRUE(server_->stop().ok());
    auto down = l->add(analysis('c'));
    auto down_read = l->counts();
    ASSERT_TRUE(server_->start().ok());
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.error().code(), ErrorCode::kNetwork) << down.error().message();
    ASSERT_FALSE(down_read.ok());
    EXPECT_EQ(down_read.error().code(), ErrorCode::kNetwork);
    auto back = l->add(analysis('c'));
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_TRUE(back->created) << "the add while down wrote nothing";
    EXPECT_EQ(l->list()->size(), 3u);
}

// A password in the URI is never in a message: not when the database is missing, not when the
// server is unreachable, not when the outbox lock times out, not in the ledger's own name.
TEST_F(PostgresLedgerTest, ThePasswordNeverAppearsInAMessage) {
    const std::string secret = "s3cr3t-pw-4711";
    const auto clean = [&](const std::string& message) {
        EXPECT_EQ(message.find(secret), std::string::npos) << message;
        EXPECT_FALSE(message.empty());
    };
    auto missing = Ledger::open(server_->uri("no_such_db", secret));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound) << missing.error().message();
    clean(missing.error().message());

    auto unreachable =
        Ledger::open("postgresql://medanchor:" + secret + "@/x?host=/nonexistent&port=1");
    ASSERT_FALSE(unreachable.ok());
    EXPECT_EQ(unreachable.error().code(), ErrorCode::kNetwork) << unreachable.error().message();
    clean(unreachable.error().message());

    auto l = Ledger::open(server_->uri(database_, secret));
    ASSERT_TRUE(l.ok()) << l.error().message();
    clean(l->display_name());
    EXPECT_NE(l->display_name().find(database_), std::string::npos) << l->display_name();
    auto nothing = l->get(12345);
    ASSERT_FALSE(nothing.ok());
    clean(nothing.error().message());
    auto held = OutboxLock::acquire(server_->uri(database_, secret), std::chrono::seconds(0));
    ASSERT_TRUE(held.ok());
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto second = OutboxLock::acquire(server_->uri(database_, secret), std::chrono::seconds(0));
        const bool ok = !second.ok() && second.error().code() == ErrorCode::kTimeout &&
                        second.error().message().find(secret) == std::string::npos;
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// One writer per signing key: the outbox lock is keyed by its scope (sender and contract), so
// two keys on one ledger each get one, and a second holder of one key's lock is refused, naming
// the holder's pid and host. The lock's own session is checked, never reconnected: once the
// server ends it (pg_terminate_backend, as an operator or a failover would, or a restart),
// check() says the lock is lost, and another process can take it.
TEST_F(PostgresLedgerTest, TheOutboxLockIsOnePerSigningKeyAndItsLossIsSeen) {
    ASSERT_TRUE(Ledger::open(uri_).ok());
    const std::string a = outbox_scope("ST1A", "ST1.medical-analysis");
    const std::string b = outbox_scope("ST2B", "ST1.medical-analysis");
    auto first = OutboxLock::acquire(uri_, std::chrono::milliseconds(0), {}, a);
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_TRUE(first->check().ok());
    // Another key: its own lock, at once.
    auto other_key = OutboxLock::acquire(uri_, std::chrono::milliseconds(0), {}, b);
    ASSERT_TRUE(other_key.ok()) << other_key.error().message();
    // The same key again (another session): refused, naming this process.
    auto second = OutboxLock::acquire(uri_, std::chrono::milliseconds(0), {}, a);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), ErrorCode::kTimeout);
    EXPECT_NE(second.error().message().find("pid " + std::to_string(::getpid())), std::string::npos)
        << second.error().message();
    EXPECT_NE(second.error().message().find(" for " + a), std::string::npos)
        << second.error().message();
    // The same key on another contract: the same account nonces, so the same lock.
    auto other_contract = OutboxLock::acquire(uri_, std::chrono::milliseconds(0), {},
                                              outbox_scope("ST1A", "ST9.medical-analysis"));
    ASSERT_FALSE(other_contract.ok());
    EXPECT_EQ(other_contract.error().code(), ErrorCode::kTimeout);

    // The server ends the lock's session (all of this database's advisory lock holders).
    auto killed = server_->exec(
        database_,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND "
        "objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = '" +
            database_ + "')");
    ASSERT_TRUE(killed.ok()) << killed.error().message();
    ASSERT_EQ(killed->value_or(""), "2");
    auto lost = first->check();
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.error().code(), ErrorCode::kNetwork);
    EXPECT_NE(lost.error().message().find("lost the outbox lock"), std::string::npos)
        << lost.error().message();
    EXPECT_FALSE(first->check().ok());  // and stays lost: never re-taken behind its back
    auto taken = OutboxLock::acquire(uri_, std::chrono::seconds(5), {}, a);
    ASSERT_TRUE(taken.ok()) << taken.error().message();
    EXPECT_TRUE(taken->check().ok());

    // A restart ends it too.
    ASSERT_TRUE(server_->restart().ok());
    EXPECT_FALSE(taken->check().ok());
    auto again = OutboxLock::acquire(uri_, std::chrono::seconds(5), {}, a);
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_TRUE(again->check().ok());
}

// The listener's tables and the Merkle tables are on both backends (PostgreSQL schema version 4
// and 2; PacsStore's and MerkleStore's suites run on both); no file named like the URI is made.
TEST_F(PostgresLedgerTest, TheListenerStoreAndTheMerkleStoreOpenOnAPostgresLedger) {
    ASSERT_TRUE(Ledger::open(uri_).ok());
    auto merkle = MerkleStore::open(uri_);
    ASSERT_TRUE(merkle.ok()) << merkle.error().message();
    EXPECT_TRUE(merkle->roots()->empty());
    auto pacs = PacsStore::open(uri_);
    ASSERT_TRUE(pacs.ok()) << pacs.error().message();
    EXPECT_TRUE(pacs->spooled()->empty());
    EXPECT_FALSE(fs::exists(uri_));
}

// A PostgreSQL ledger written at schema version 1 (analyses and the outbox; no Merkle tables,
// no job queue) is migrated on open to the current version, its rows kept, and the tables of
// versions 2 and 3 work.
TEST_F(PostgresLedgerTest, MigratesAVersion1Ledger) {
    std::int64_t id = 0;
    {
        auto l = Ledger::open(uri_);
        ASSERT_TRUE(l.ok()) << l.error().message();
        id = l->add(analysis('a'))->analysis.id;
    }
    // Back to what version 1 made: its migrations' tables dropped, its version set.
    auto down = server_->exec(database_,
                              "DROP TABLE pacs_instances; DROP TABLE pacs_sends; DROP TABLE "
                              "pacs_cursors; DROP TABLE pacs_summaries_due; DROP TABLE "
                              "pacs_fetch_failures; DROP TABLE jobs; DROP TABLE merkle_leaves; "
                              "DROP TABLE merkle_roots; UPDATE medanchor_schema SET version = 1");
    ASSERT_TRUE(down.ok()) << down.error().message();
    ASSERT_EQ(server_->exec(database_, "SELECT to_regclass('jobs') IS NULL").value(),
              std::optional<std::string>("t"));

    auto l = Ledger::open(uri_);
    ASSERT_TRUE(l.ok()) << l.error().message();
    EXPECT_EQ(server_->exec(database_, "SELECT version FROM medanchor_schema").value(),
              std::optional<std::string>(std::to_string(Ledger::kPostgresSchemaVersion)));
    auto old = l->get(id);
    ASSERT_TRUE(old.ok()) << old.error().message();
    EXPECT_EQ(old->image_hash, std::string(64, 'a'));
    ASSERT_TRUE(l->add(analysis('b')).ok());
    auto merkle = MerkleStore::open(uri_);
    ASSERT_TRUE(merkle.ok()) << merkle.error().message();
    EXPECT_TRUE(merkle->roots()->empty());
    auto queue = JobQueue::open(uri_);
    ASSERT_TRUE(queue.ok()) << queue.error().message();
    auto queued = queue->enqueue({"/shared/a.dcm"}, std::string(64, 'f'), "ST1ANALYST");
    ASSERT_TRUE(queued.ok()) << queued.error().message();
    EXPECT_EQ(queued->queued, 1u);
    auto spooled =
        queue->enqueue_deidentified({"/shared/spool/b.dcm"}, std::string(64, 'f'), "ST1ANALYST");
    ASSERT_TRUE(spooled.ok()) << spooled.error().message();  // version 4's column
    auto pacs = PacsStore::open(uri_);
    ASSERT_TRUE(pacs.ok()) << pacs.error().message();
    EXPECT_TRUE(pacs->spooled()->empty());
}

// The schema is what docs/ledger.md says: version 1 in medanchor_schema, the key UNIQUE.
TEST_F(PostgresLedgerTest, TheSchemaIsVersionedAndTheKeyUnique) {
    ASSERT_TRUE(Ledger::open(uri_).ok());
    auto v = server_->exec(database_, "SELECT version FROM medanchor_schema");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v.value(),
              std::optional<std::string>(std::to_string(Ledger::kPostgresSchemaVersion)));
    auto rows = server_->exec(database_, "SELECT count(*) FROM medanchor_schema");
    EXPECT_EQ(rows.value(), std::optional<std::string>("1"));
    auto l = Ledger::open(uri_);
    ASSERT_TRUE(l->add(analysis('a')).ok());
    // Behind the ledger's back, a second row with the same key is refused by the engine.
    auto dup = server_->exec(database_,
                             "INSERT INTO analyses (created_at, updated_at, source_path, "
                             "image_hash, hash_mode, model_sha256, model_name, model_version, "
                             "finding, confidence_bp, report_json, report_digest, analyst, state) "
                             "SELECT created_at, updated_at, source_path, image_hash, hash_mode, "
                             "model_sha256, model_name, model_version, finding, confidence_bp, "
                             "report_json, report_digest, analyst, state FROM analyses");
    ASSERT_FALSE(dup.ok());
    EXPECT_NE(dup.error().message().find("duplicate key"), std::string::npos);
}

}  // namespace
}  // namespace medanchor::ledger
