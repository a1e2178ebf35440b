// The listener's tables on both backends (a real SQLite file, and a fresh database on the test
// binary's real PostgreSQL, postgres_server.h): an instance is recorded once (a retry is not
// recorded again), spooled until analysed or failed; a payload is queued once per destination,
// due again after a failure only at its next attempt time, and sent once; a cursor survives a
// reopen; a ledger of version 3 is migrated to have the tables. A series is "summary due" from the
// transaction that marks one of its instances analysed to the one that queues its sends; a send
// refused for good is a dead letter until retried; a fetch failure is recorded once.
// reopen; the status view's reads. SQLite only: a ledger of version 3 or 4 is migrated.
#include "ledger/pacs_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <random>
#include <string>

#include "ledger/ledger.h"
#include "postgres_server.h"

namespace medanchor::ledger {
namespace {

namespace fs = std::filesystem;

using testing::Backend;
using testing::name_of;

class PacsStoreTest : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override {
        std::random_device rd;
        dir_ = fs::temp_directory_path() / ("medanchor-pacs-store-" + std::to_string(rd()));
        path_ = dir_ / "ledger.sqlite";
        if (GetParam() == Backend::kPostgres) {
            auto made = scratch_.make();
            ASSERT_TRUE(made.ok()) << made.error().message();
            server_ = scratch_.server;
            database_ = scratch_.name;
            path_ = scratch_.uri;
        }
        auto l = Ledger::open(path_);
        ASSERT_TRUE(l.ok()) << l.error().message();
        auto s = PacsStore::open(path_);
        ASSERT_TRUE(s.ok()) << s.error().message();
        store_.emplace(std::move(*s));
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }
    testing::ScratchDatabase scratch_;  // dropped after the test
    // A real analysis row for an instance to point at.
    std::int64_t an_analysis(char image) {
        auto l = Ledger::open(path_);
        EXPECT_TRUE(l.ok());
        NewAnalysis a;
        a.source_path = "x";
        a.image_hash = std::string(64, image);
        a.hash_mode = "hmac-sha256";
        a.model_sha256 = std::string(64, 'f');
        a.model_name = "m";
        a.model_version = "1";
        a.finding = "nodule-present";
        a.confidence_bp = 9000;
        a.report_json = "{}";
        a.analyst = "ST1ANALYST";
        auto added = l->add(a);
        EXPECT_TRUE(added.ok());
        return added->analysis.id;
    }
    static PacsInstance instance(const std::string& sop, const std::string& series) {
        PacsInstance i;
        i.sop_uid = sop;
        i.series_uid = series;
        i.study_uid = "2.25.1";
        i.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
        i.origin = "dimse:MODALITY";
        i.spool_path = "/spool/" + series + "/" + sop + ".dcm";
        return i;
    }
    fs::path dir_;
    fs::path path_;
    testing::PostgresServer* server_ = nullptr;
    std::string database_;
    std::optional<PacsStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PacsStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return std::string(name_of(info.param));
                         });

// SQLite's migrations of the listener's tables, from the versions before they were complete.
class SqlitePacsStoreTest : public PacsStoreTest {};
INSTANTIATE_TEST_SUITE_P(Sqlite, SqlitePacsStoreTest, ::testing::Values(Backend::kSqlite),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return std::string(name_of(info.param));
                         });

TEST_P(PacsStoreTest, AnInstanceIsRecordedOnceAndSpooledUntilFailedOrAnalysed) {
    ASSERT_TRUE(*store_->add_instance(instance("2.25.10", "2.25.100")));
    ASSERT_TRUE(*store_->add_instance(instance("2.25.11", "2.25.100")));
    ASSERT_TRUE(*store_->add_instance(instance("2.25.12", "2.25.200")));
    // A retry of the same instance changes nothing.
    auto again = instance("2.25.10", "2.25.999");
    EXPECT_FALSE(*store_->add_instance(again));
    EXPECT_EQ((*store_->instance("2.25.10"))->series_uid, "2.25.100");
    EXPECT_EQ(store_->spooled()->size(), 3u);

    EXPECT_TRUE(store_->mark_failed("2.25.11", "burned-in annotation").ok());
    auto series = store_->series("2.25.100");
    ASSERT_TRUE(series.ok());
    ASSERT_EQ(series->size(), 2u);
    EXPECT_EQ((*series)[1].error.value_or(""), "burned-in annotation");
    EXPECT_FALSE((*series)[1].spool_path.has_value());
    auto spooled = store_->spooled();
    ASSERT_EQ(spooled->size(), 2u);
    EXPECT_EQ((*spooled)[0].sop_uid, "2.25.10");
    EXPECT_EQ((*spooled)[1].sop_uid, "2.25.12");
    EXPECT_FALSE((*store_->instance("2.25.404")).has_value());
}

TEST_P(PacsStoreTest, MarkingAnalysedNeedsARecordedAnalysis) {
    ASSERT_TRUE(*store_->add_instance(instance("2.25.10", "2.25.100")));
    // Foreign key: analysis 42 does not exist.
    EXPECT_FALSE(store_->mark_analysed("2.25.10", 42).ok());
    EXPECT_EQ(store_->spooled()->size(), 1u);
}

TEST_P(PacsStoreTest, APayloadIsQueuedOncePerDestinationAndRetriedWhenDue) {
    const std::string sha(64, 'a');
    ASSERT_TRUE(*store_->enqueue("2.25.100", "dimse:PACS@127.0.0.1:4242", "sr", "/r/a.dcm", sha));
    ASSERT_TRUE(*store_->enqueue("2.25.100", "stow:http://pacs/dicom-web", "sr", "/r/a.dcm", sha));
    // The same payload to the same destination again (a restart, the series summarised again).
    EXPECT_FALSE(*store_->enqueue("2.25.100", "dimse:PACS@127.0.0.1:4242", "sr", "/r/a.dcm", sha));
    // A new payload (the series grew) is a new send.
    EXPECT_TRUE(*store_->enqueue("2.25.100", "dimse:PACS@127.0.0.1:4242", "sr", "/r/b.dcm",
                                 std::string(64, 'b')));
    auto due = store_->due(1000);
    ASSERT_EQ(due->size(), 3u);
    const auto first = (*due)[0].id;
    ASSERT_TRUE(store_->note_failure(first, "PACS@127.0.0.1:4242: connection refused", 1010).ok());
    EXPECT_EQ(store_->due(1005)->size(), 2u);  // not due before its next attempt
    ASSERT_EQ(store_->due(1010)->size(), 3u);
    ASSERT_TRUE(store_->mark_sent(first).ok());
    ASSERT_TRUE(store_->mark_sent(first).ok());  // a second mark changes nothing
    EXPECT_EQ(store_->due(2000)->size(), 2u);
    auto all = store_->sends();
    ASSERT_EQ(all->size(), 3u);
    EXPECT_EQ((*all)[0].state, SendState::kSent);
    EXPECT_EQ((*all)[0].attempts, 2);  // one failure, then the success
    EXPECT_TRUE((*all)[0].sent_at.has_value());
    EXPECT_EQ((*all)[1].state, SendState::kPending);
}

// The status view's reads: a page of series, the one whose latest instance arrived last first,
// with counts per state; one series' counts (none for an unknown one); the sends of one series.
TEST_P(PacsStoreTest, SeriesAreSummarisedNewestFirstAndPaged) {
    ASSERT_TRUE(*store_->add_instance(instance("2.25.10", "2.25.100")));  // A
    ASSERT_TRUE(*store_->add_instance(instance("2.25.20", "2.25.200")));  // B
    ASSERT_TRUE(*store_->add_instance(instance("2.25.11", "2.25.100")));  // A again
    ASSERT_TRUE(*store_->add_instance(instance("2.25.30", "2.25.300")));  // C, last
    ASSERT_TRUE(store_->mark_failed("2.25.30", "not an image").ok());
    EXPECT_EQ(*store_->series_count(), 3u);

    auto page = store_->series_page(10, 0);
    ASSERT_TRUE(page.ok()) << page.error().message();
    ASSERT_EQ(page->size(), 3u);
    EXPECT_EQ((*page)[0].series_uid, "2.25.300");
    EXPECT_EQ((*page)[1].series_uid, "2.25.100");
    EXPECT_EQ((*page)[2].series_uid, "2.25.200");
    const auto& a = (*page)[1];
    EXPECT_EQ(a.instances, 2u);
    EXPECT_EQ(a.spooled, 2u);
    EXPECT_EQ(a.failed, 0u);
    EXPECT_EQ(a.analysed, 0u);
    EXPECT_EQ(a.study_uid, "2.25.1");
    EXPECT_FALSE(a.last_analysed_at.has_value());
    EXPECT_LE(a.first_received_at, a.last_received_at);
    const auto& c = (*page)[0];
    EXPECT_EQ(c.failed, 1u);
    EXPECT_EQ(c.spooled, 0u);
    EXPECT_TRUE(c.last_analysed_at.has_value());

    auto second = store_->series_page(2, 2);
    ASSERT_EQ(second->size(), 1u);
    EXPECT_EQ((*second)[0].series_uid, "2.25.200");
    EXPECT_TRUE(store_->series_page(2, 3)->empty());

    auto one = store_->series_summary("2.25.100");
    ASSERT_TRUE(one.ok() && one->has_value());
    EXPECT_EQ((*one)->instances, 2u);
    EXPECT_FALSE(store_->series_summary("2.25.999")->has_value());

    const std::string sha(64, 'a');
    ASSERT_TRUE(*store_->enqueue("2.25.100", "dimse:PACS@127.0.0.1:4242", "sr", "/r/a.dcm", sha));
    ASSERT_TRUE(*store_->enqueue("2.25.200", "dimse:PACS@127.0.0.1:4242", "sr", "/r/b.dcm",
                                 std::string(64, 'b')));
    auto sends = store_->series_sends("2.25.100");
    ASSERT_EQ(sends->size(), 1u);
    EXPECT_EQ((*sends)[0].payload_path, "/r/a.dcm");
    EXPECT_TRUE(store_->series_sends("2.25.300")->empty());
}

TEST_P(PacsStoreTest, ACursorSurvivesAReopen) {
    EXPECT_EQ(*store_->cursor("orthanc:http://127.0.0.1:8042"), 0);
    ASSERT_TRUE(store_->set_cursor("orthanc:http://127.0.0.1:8042", 17).ok());
    ASSERT_TRUE(store_->set_cursor("orthanc:http://127.0.0.1:8042", 39).ok());
    store_.reset();
    auto reopened = PacsStore::open(path_);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ(*reopened->cursor("orthanc:http://127.0.0.1:8042"), 39);
    EXPECT_EQ(*reopened->cursor("orthanc:http://other:8042"), 0);
}

TEST_P(SqlitePacsStoreTest, AVersion3LedgerIsMigratedToHaveTheTables) {
    store_.reset();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE pacs_summaries_due; DROP TABLE pacs_fetch_failures; "
                           "DROP TABLE pacs_instances; DROP TABLE pacs_sends; DROP TABLE "
                           "pacs_cursors; PRAGMA user_version = 3;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    // Opening the store migrates the file, as opening the ledger does.
    auto migrated = PacsStore::open(path_);
    ASSERT_TRUE(migrated.ok()) << migrated.error().message();
    EXPECT_TRUE(migrated->spooled()->empty());
    EXPECT_TRUE(migrated->summaries_due()->empty());
}

// A version 4 ledger (pacs_sends without the `failed` state, no summary marks) keeps its queued
// sends, ids and states through the migration to 5, and takes the new state after it.
TEST_P(SqlitePacsStoreTest, AVersion4LedgerKeepsItsSendsThroughTheMigration) {
    const std::string sha(64, 'c');
    ASSERT_TRUE(*store_->enqueue("2.25.100", "stow:http://pacs/dicom-web", "sr", "/r/c.dcm", sha));
    const auto id = (*store_->sends())[0].id;
    ASSERT_TRUE(store_->mark_sent(id).ok());
    store_.reset();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    // Version 4 as it was: the sends table of kPacsSchemaSql, no version 5 tables.
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE pacs_summaries_due; DROP TABLE pacs_fetch_failures; "
                           "ALTER TABLE pacs_sends RENAME TO s5; PRAGMA user_version = 4;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    const std::string v4(kPacsSchemaSql);
    const auto begin = v4.find("CREATE TABLE pacs_sends");
    const auto end = v4.find(");", begin) + 2;
    const std::string copy =
        v4.substr(begin, end - begin) + "INSERT INTO pacs_sends SELECT * FROM s5; DROP TABLE s5;";
    ASSERT_EQ(sqlite3_exec(db, copy.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    // Version 4 refuses the failed state.
    EXPECT_NE(sqlite3_exec(db, "UPDATE pacs_sends SET state = 'failed'", nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_TRUE(Ledger::open(path_).ok());
    auto s = PacsStore::open(path_);
    ASSERT_TRUE(s.ok()) << s.error().message();
    auto all = s->sends();
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].id, id);
    EXPECT_EQ((*all)[0].state, SendState::kSent);
    EXPECT_TRUE(s->summaries_due()->empty());
    ASSERT_TRUE(*s->enqueue("2.25.100", "stow:http://pacs/dicom-web", "sr", "/r/d.dcm",
                            std::string(64, 'd')));
    const auto second = (*s->due(0))[0].id;
    ASSERT_TRUE(s->mark_dead(second, "HTTP 404").ok());
    EXPECT_EQ((*s->sends())[1].state, SendState::kFailed);
}

// The summary mark is set with the instance's analysis and cleared with the enqueues, all or
// nothing: a refused enqueue (a bad digest, as a full disk would) leaves the mark and no send.
TEST_P(PacsStoreTest, ASeriesIsSummaryDueFromItsAnalysisToItsEnqueues) {
    const auto analysis = an_analysis('7');
    ASSERT_TRUE(*store_->add_instance(instance("2.25.10", "2.25.100")));
    ASSERT_TRUE(*store_->add_instance(instance("2.25.11", "2.25.200")));
    EXPECT_TRUE(store_->summaries_due()->empty());
    ASSERT_TRUE(store_->mark_failed("2.25.11", "not decodable").ok());
    EXPECT_TRUE(store_->summaries_due()->empty());  // nothing analysed: no SR to write
    ASSERT_TRUE(store_->mark_analysed("2.25.10", analysis).ok());
    ASSERT_EQ(*store_->summaries_due(), std::vector<std::string>{"2.25.100"});

    PacsSend good;
    good.destination = "stow:http://pacs/dicom-web";
    good.kind = "sr";
    good.payload_path = "/r/a.dcm";
    good.payload_sha256 = std::string(64, 'a');
    PacsSend bad = good;
    bad.destination = "dimse:PACS@127.0.0.1:4242";
    bad.payload_sha256 = "short";  // refused by the schema
    EXPECT_FALSE(store_->complete_summary("2.25.100", {good, bad}).ok());
    EXPECT_EQ(*store_->summaries_due(), std::vector<std::string>{"2.25.100"});
    EXPECT_TRUE(store_->sends()->empty());  // the good one was rolled back too

    ASSERT_TRUE(store_->complete_summary("2.25.100", {good}).ok());
    EXPECT_TRUE(store_->summaries_due()->empty());
    EXPECT_EQ(store_->sends()->size(), 1u);
    // Summarised again (a restart): the same payload is not queued twice.
    ASSERT_TRUE(store_->complete_summary("2.25.100", {good}).ok());
    EXPECT_EQ(store_->sends()->size(), 1u);
}

TEST_P(PacsStoreTest, ASendRefusedForGoodIsADeadLetterUntilRetried) {
    ASSERT_TRUE(*store_->enqueue("2.25.100", "stow:http://pacs/wrong", "sr", "/r/a.dcm",
                                 std::string(64, 'a')));
    const auto id = (*store_->due(0))[0].id;
    ASSERT_TRUE(store_->note_failure(id, "HTTP 503", 10).ok());
    ASSERT_TRUE(store_->mark_dead(id, "STOW-RS http://pacs/wrong/studies: HTTP 404").ok());
    EXPECT_TRUE(store_->due(1'000'000)->empty());  // never tried again by itself
    auto dead = (*store_->sends())[0];
    EXPECT_EQ(dead.state, SendState::kFailed);
    EXPECT_EQ(dead.attempts, 2);
    EXPECT_EQ(dead.last_error, "STOW-RS http://pacs/wrong/studies: HTTP 404");
    EXPECT_FALSE(store_->mark_sent(id).ok() && (*store_->sends())[0].state == SendState::kSent);
    EXPECT_EQ(*store_->retry_failed_sends(), 1);
    auto due = store_->due(0);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].attempts, 0);
    EXPECT_EQ(*store_->retry_failed_sends(), 0);
}

TEST_P(PacsStoreTest, AFetchFailureIsRecordedOncePerResource) {
    const std::string feed = "orthanc:http://127.0.0.1:8042";
    ASSERT_TRUE(
        store_->add_fetch_failure(feed, "aaaaaaaa-bbbbbbbb-cccccccc-dddddddd-eeeeeeee", "HTTP 404")
            .ok());
    ASSERT_TRUE(
        store_->add_fetch_failure(feed, "aaaaaaaa-bbbbbbbb-cccccccc-dddddddd-eeeeeeee", "again")
            .ok());
    EXPECT_EQ(*store_->fetch_failures(feed), 1);
    EXPECT_EQ(*store_->fetch_failures("orthanc:http://other"), 0);
}

}  // namespace
}  // namespace medanchor::ledger
