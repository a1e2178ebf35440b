// The ledger's Merkle roots, on both backends (a real SQLite file, and a fresh database on the test
// binary's real PostgreSQL, postgres_server.h): a root and its leaves are stored in one
// transaction or not at all, an analysis is a leaf of one root at most (the schema refuses a
// second, even written by hand), confirming a root confirms its analyses, a failed root gives
// them back for the next root, and a process killed inside store_root leaves no half root.
#include "ledger/merkle_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "ledger/ledger.h"
#include "postgres_server.h"

namespace medanchor::ledger {
namespace {

namespace fs = std::filesystem;

using testing::Backend;
using testing::name_of;

class MerkleStoreTest : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("medanchor-merkle-store-" + std::to_string(rd()));
        path_ = dir_ / "ledger.sqlite";
        if (postgres()) {
            auto made = scratch_.make();
            ASSERT_TRUE(made.ok()) << made.error().message();
            server_ = scratch_.server;
            database_ = scratch_.name;
            path_ = scratch_.uri;
        }
        auto l = Ledger::open(path_);
        ASSERT_TRUE(l.ok()) << l.error().message();
        ledger_.emplace(std::move(*l));
        auto m = MerkleStore::open(path_);
        ASSERT_TRUE(m.ok()) << m.error().message();
        store_.emplace(std::move(*m));
    }
    void TearDown() override {
        store_.reset();
        ledger_.reset();
        fs::remove_all(dir_);
    }
    testing::ScratchDatabase scratch_;  // dropped after the test

    bool postgres() const { return GetParam() == Backend::kPostgres; }

    // Runs SQL behind the store's back on a connection of its own; whether it succeeded.
    bool raw(const std::string& sql) {
        if (postgres())
            return server_->exec(database_, sql).ok();
        sqlite3* db = nullptr;
        if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK)
            return false;
        const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
        sqlite3_close(db);
        return rc == SQLITE_OK;
    }

    std::int64_t add(char image, const std::string& analyst = "ST1ANALYST") {
        NewAnalysis a;
        a.source_path = "x";
        a.image_hash = std::string(64, image);
        a.hash_mode = "hmac-sha256";
        a.model_sha256 = std::string(64, 'f');
        a.model_name = "m";
        a.model_version = "1";
        a.finding = "nodule-present";
        a.confidence_bp = 9000;
        a.report_json = std::string("{\"image\":\"") + image + "\"}";
        a.analyst = analyst;
        return ledger_->add(a)->analysis.id;
    }

    static NewRoot root(char tag, std::vector<std::int64_t> ids, std::uint64_t nonce = 0) {
        NewRoot r;
        r.root = std::string(64, tag);
        r.analyst = "ST1ANALYST";
        r.model_id = 1;
        r.lowest_confidence = 9000;
        r.txid = std::string(63, '0') + tag;
        r.raw_hex = "00ff";
        r.nonce = nonce;
        r.fee = 300;
        for (std::size_t i = 0; i < ids.size(); ++i)
            r.leaf_hashes.push_back(std::string(63, 'a') + static_cast<char>('0' + i));
        r.analysis_ids = std::move(ids);
        return r;
    }

    fs::path dir_, path_;
    testing::PostgresServer* server_ = nullptr;
    std::string database_;
    std::optional<Ledger> ledger_;
    std::optional<MerkleStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, MerkleStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return std::string(name_of(info.param));
                         });

TEST_P(MerkleStoreTest, ARootIsStoredWithItsLeavesInOrder) {
    const auto a = add('a'), b = add('b'), c = add('c');
    auto row = store_->store_root(root('1', {c, a, b}));
    ASSERT_TRUE(row.ok()) << row.error().message();
    auto stored = store_->root(*row);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->state, RootState::kBuilt);
    EXPECT_EQ(stored->size, 3u);
    auto leaves = store_->leaves(*row);
    ASSERT_TRUE(leaves.ok());
    ASSERT_EQ(leaves->size(), 3u);
    EXPECT_EQ((*leaves)[0].analysis_id, c);
    EXPECT_EQ((*leaves)[2].analysis_id, b);
    EXPECT_EQ((*leaves)[2].index, 2u);
    EXPECT_EQ(*store_->in_live_roots(), (std::set<std::int64_t>{a, b, c}));
    EXPECT_EQ(store_->leaf_of(a)->value().root_row, *row);
    // Still pending until the root is confirmed.
    EXPECT_EQ(ledger_->get(a)->state, AnalysisState::kPending);
}

TEST_P(MerkleStoreTest, AnAnalysisIsALeafOfOneRootAtMost) {
    const auto a = add('a'), b = add('b'), c = add('c');
    ASSERT_TRUE(store_->store_root(root('1', {a, b})).ok());
    // A second root taking b is refused as a whole: nothing of it is stored.
    auto second = store_->store_root(root('2', {c, b}, 1));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->roots()->size(), 1u);
    EXPECT_FALSE(store_->leaf_of(c)->has_value());
    // The schema itself refuses it, whoever writes (and takes a leaf of a free analysis).
    const auto leaf = [&](std::int64_t id) {
        return "INSERT INTO merkle_leaves VALUES (" + std::to_string(store_->roots()->front().row) +
               ", 5, " + std::to_string(id) + ", '" + std::string(64, 'b') + "')";
    };
    EXPECT_FALSE(raw(leaf(b)));
    EXPECT_TRUE(raw(leaf(c)));
    // Another analyst's analysis, or one not pending, is refused too.
    EXPECT_FALSE(store_->store_root(root('4', {c}, 3)).ok());
    const auto other = add('d', "ST2OTHER");
    EXPECT_FALSE(store_->store_root(root('3', {other}, 2)).ok());
}

TEST_P(MerkleStoreTest, ConfirmingARootConfirmsItsAnalyses) {
    const auto a = add('a'), b = add('b');
    auto row = store_->store_root(root('1', {a, b}));
    ASSERT_TRUE(row.ok());
    ASSERT_TRUE(store_->mark_sent(*row).ok());
    EXPECT_EQ(store_->root(*row)->state, RootState::kSent);
    ASSERT_TRUE(store_->confirm(*row, RootOnChain{7, 42, 1764500000, 117}).ok());
    auto r = store_->root(*row);
    EXPECT_EQ(r->state, RootState::kConfirmed);
    EXPECT_EQ(r->root_id, 7u);
    EXPECT_EQ(r->burn_block_height, 117u);
    EXPECT_FALSE(r->proofs_written);
    for (const auto id : {a, b}) {
        auto an = ledger_->get(id);
        EXPECT_EQ(an->state, AnalysisState::kConfirmed);
        EXPECT_EQ(an->onchain_id, 7u);
        EXPECT_EQ(an->block_height, 42u);
    }
    EXPECT_TRUE(store_->in_live_roots()->empty());
    EXPECT_FALSE(store_->confirm(*row, RootOnChain{7, 42, 1, 1}).ok());  // once
    ASSERT_TRUE(store_->mark_proofs_written(*row).ok());
    EXPECT_TRUE(store_->root(*row)->proofs_written);
}

TEST_P(MerkleStoreTest, AFailedRootGivesItsAnalysesBackForTheNextRoot) {
    const auto a = add('a'), b = add('b');
    auto row = store_->store_root(root('1', {a, b}));
    ASSERT_TRUE(row.ok());
    ASSERT_TRUE(store_->fail(*row, "nonce 0 consumed by another transaction").ok());
    EXPECT_EQ(store_->root(*row)->state, RootState::kFailed);
    EXPECT_TRUE(store_->leaves(*row)->empty());
    EXPECT_EQ(ledger_->get(a)->state, AnalysisState::kPending);
    EXPECT_EQ(ledger_->get(a)->last_error, "nonce 0 consumed by another transaction");
    EXPECT_TRUE(store_->in_live_roots()->empty());
    EXPECT_FALSE(store_->fail(*row, "again").ok());
    auto next = store_->store_root(root('2', {b, a}, 1));
    ASSERT_TRUE(next.ok()) << next.error().message();
    EXPECT_EQ(store_->leaf_of(a)->value().index, 1u);
}

// SIGKILL inside store_root's transaction (after the root row, before the commit): the ledger
// holds no root and no leaf, and the analyses are free.
TEST_P(MerkleStoreTest, AProcessKilledInsideStoreRootLeavesNoHalfRoot) {
    const auto a = add('a'), b = add('b');
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // What store_root does, stopped half-way: the root row is written, no commit.
        const std::string insert =
            "INSERT INTO merkle_roots (root, analyst, model_id, lowest_confidence, size, state, "
            "txid, raw_hex, nonce, fee, created_at, updated_at) VALUES ('" +
            std::string(64, '1') + "', 'ST1ANALYST', 1, 9000, 2, 'built', '" +
            std::string(64, '2') + "', '00', 0, 1, 'x', 'x')";
        if (postgres()) {
            PGconn* db = PQconnectdb(path_.c_str());
            PQclear(PQexec(db, ("BEGIN; " + insert).c_str()));
        } else {
            sqlite3* db = nullptr;
            sqlite3_open(path_.c_str(), &db);
            sqlite3_exec(db, ("BEGIN IMMEDIATE; " + insert).c_str(), nullptr, nullptr, nullptr);
        }
        ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_TRUE(store_->roots()->empty());
    EXPECT_TRUE(store_->store_root(root('1', {a, b})).ok());
}

}  // namespace
}  // namespace medanchor::ledger
