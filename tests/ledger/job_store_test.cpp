// The job store of `medanchor serve` on real SQLite files: mode 0600, a job and its files as
// recorded and updated, read back by another connection (what a restarted server sees), jobs left
// unfinished marked interrupted with exactly the files never analysed, and files that are not a
// job store (or the account store) refused.
#include "ledger/job_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "ledger/accounts.h"

namespace medanchor::ledger {
namespace {
namespace fs = std::filesystem;

class JobStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("medanchor-jobs-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    static JobRecord job(const std::string& id, std::size_t files) {
        JobRecord j;
        j.id = id;
        j.owner = "doc";
        j.created_at = "2026-01-01T00:00:00Z";
        j.files.resize(files);
        return j;
    }
    fs::path dir_;
};

TEST_F(JobStoreTest, KeepsAJobAndItsFilesForTheNextConnection) {
    const fs::path path = dir_ / "jobs.sqlite";
    {
        auto store = JobStore::open(path);
        ASSERT_TRUE(store.ok()) << store.error().message();
        ASSERT_TRUE(store->create(job(std::string(32, 'a'), 3)).ok());
        ASSERT_TRUE(store->set_state(std::string(32, 'a'), "running").ok());
        JobFile analysed;
        analysed.state = "analysed";
        analysed.analysis_id = 41;
        ASSERT_TRUE(store->save_file(std::string(32, 'a'), 0, analysed).ok());
        JobFile failed;
        failed.state = "failed";
        failed.error_code = "unsupported";
        failed.error_message = "file 2: not a DICOM, PNG, JPEG or TIFF image";
        ASSERT_TRUE(store->save_file(std::string(32, 'a'), 1, failed).ok());
        // Unknown jobs and files are errors, not silent no-ops.
        EXPECT_EQ(store->set_state(std::string(32, 'b'), "done").error().code(),
                  ErrorCode::kNotFound);
        EXPECT_EQ(store->save_file(std::string(32, 'a'), 3, analysed).error().code(),
                  ErrorCode::kNotFound);
    }
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    auto store = JobStore::open(path);
    ASSERT_TRUE(store.ok());
    auto got = store->get(std::string(32, 'a'));
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(got->has_value());
    const JobRecord& j = **got;
    EXPECT_EQ(j.owner, "doc");
    EXPECT_EQ(j.created_at, "2026-01-01T00:00:00Z");
    EXPECT_EQ(j.state, "running");
    ASSERT_EQ(j.files.size(), 3u);
    EXPECT_EQ(j.files[0].state, "analysed");
    EXPECT_EQ(j.files[0].analysis_id, 41);
    EXPECT_EQ(j.files[1].state, "failed");
    EXPECT_EQ(j.files[1].error_code, "unsupported");
    EXPECT_EQ(j.files[1].error_message, "file 2: not a DICOM, PNG, JPEG or TIFF image");
    EXPECT_FALSE(j.files[1].analysis_id);
    EXPECT_EQ(j.files[2].state, "queued");
    EXPECT_FALSE(store->get(std::string(32, 'c'))->has_value());
    // A job id twice is refused, and leaves the first as it was.
    EXPECT_FALSE(store->create(job(std::string(32, 'a'), 1)).ok());
    EXPECT_EQ((*store->get(std::string(32, 'a')))->files.size(), 3u);
}

TEST_F(JobStoreTest, ListsTheJobsLeftUnfinishedWithTheirFiles) {
    auto store = JobStore::open(dir_ / "jobs.sqlite");
    ASSERT_TRUE(store.ok());
    const std::string running(32, '1'), queued(32, '2'), done(32, '3'), cut(32, '4');
    ASSERT_TRUE(store->create(job(running, 2)).ok());
    ASSERT_TRUE(store->create(job(queued, 1)).ok());
    ASSERT_TRUE(store->create(job(done, 1)).ok());
    ASSERT_TRUE(store->create(job(cut, 1)).ok());
    ASSERT_TRUE(store->set_state(running, "running").ok());
    ASSERT_TRUE(store->set_state(done, "done").ok());
    ASSERT_TRUE(store->set_state(cut, "interrupted").ok());
    JobFile f;
    f.state = "analysed";
    f.analysis_id = 9;
    ASSERT_TRUE(store->save_file(running, 1, f).ok());

    auto list = store->unfinished();
    ASSERT_TRUE(list.ok()) << list.error().message();
    ASSERT_EQ(list->size(), 2u);  // neither the done nor the interrupted one
    EXPECT_EQ((*list)[0].id, running);
    EXPECT_EQ((*list)[0].state, "running");
    ASSERT_EQ((*list)[0].files.size(), 2u);
    EXPECT_EQ((*list)[0].files[0].state, "queued");
    EXPECT_EQ((*list)[0].files[1].analysis_id, 9);
    EXPECT_EQ((*list)[1].id, queued);
    // Listing changes nothing (unlike mark_interrupted).
    EXPECT_EQ((**store->get(queued)).state, "queued");
}

TEST_F(JobStoreTest, MarksWhatTheLastServerLeftUnfinishedInterrupted) {
    auto store = JobStore::open(dir_ / "jobs.sqlite");
    ASSERT_TRUE(store.ok());
    const std::string running(32, '1'), queued(32, '2'), done(32, '3');
    ASSERT_TRUE(store->create(job(running, 3)).ok());
    ASSERT_TRUE(store->create(job(queued, 2)).ok());
    ASSERT_TRUE(store->create(job(done, 1)).ok());
    ASSERT_TRUE(store->set_state(running, "running").ok());
    JobFile f;
    f.state = "analysed";
    f.analysis_id = 7;
    ASSERT_TRUE(store->save_file(running, 0, f).ok());
    f = JobFile{};
    f.state = "analysing";
    ASSERT_TRUE(store->save_file(running, 1, f).ok());
    f.state = "analysed";
    f.analysis_id = 8;
    ASSERT_TRUE(store->save_file(done, 0, f).ok());
    ASSERT_TRUE(store->set_state(done, "done").ok());

    auto n = store->mark_interrupted();
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(*n, 2u);
    auto r = **store->get(running);
    EXPECT_EQ(r.state, "interrupted");
    EXPECT_EQ(r.files[0].state, "analysed");  // what finished stays
    EXPECT_EQ(r.files[0].analysis_id, 7);
    EXPECT_EQ(r.files[1].state, "interrupted");
    EXPECT_EQ(r.files[2].state, "interrupted");
    auto q = **store->get(queued);
    EXPECT_EQ(q.state, "interrupted");
    EXPECT_EQ(q.files[0].state, "interrupted");
    auto d = **store->get(done);
    EXPECT_EQ(d.state, "done");
    EXPECT_EQ(d.files[0].state, "analysed");
    // Idempotent: nothing is left to mark.
    EXPECT_EQ(*store->mark_interrupted(), 0u);
}

TEST_F(JobStoreTest, RefusesAnSqliteFileThatIsNotAJobStore) {
    fs::create_directories(dir_);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "other.sqlite").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    auto store = JobStore::open(dir_ / "other.sqlite");
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code(), ErrorCode::kCorrupt);
    // The account store is an SQLite file at version 1 too: not a job store.
    ASSERT_TRUE(AccountStore::open(dir_ / "users.sqlite").ok());
    auto users = JobStore::open(dir_ / "users.sqlite");
    ASSERT_FALSE(users.ok());
    EXPECT_EQ(users.error().code(), ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace medanchor::ledger
