// The account store of `medanchor serve` on real SQLite files: mode 0600, lookups by token
// digest, names, duplicates, removal, and files that are not an account store.
#include "ledger/accounts.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace medanchor::ledger {
namespace {
namespace fs = std::filesystem;

class AccountStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("medanchor-accounts-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

const std::string kDigestA(64, 'a');
const std::string kDigestB(64, 'b');

TEST_F(AccountStoreTest, AddFindListRemove) {
    auto store = AccountStore::open(dir_ / "sub" / "users.sqlite");
    ASSERT_TRUE(store.ok()) << store.error().message();
    struct stat st {};
    ASSERT_EQ(::stat((dir_ / "sub" / "users.sqlite").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat((dir_ / "sub").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);

    Account alice{"alice", "radiologist", "/k/alice.key", "ST1ALICE", ""};
    ASSERT_TRUE(store->add(alice, kDigestA).ok());
    auto found = store->find_by_token_sha256(kDigestA);
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(found->has_value());
    EXPECT_EQ((*found)->name, "alice");
    EXPECT_EQ((*found)->role, "radiologist");
    EXPECT_EQ((*found)->principal, "ST1ALICE");
    EXPECT_FALSE((*found)->created_at.empty());
    EXPECT_FALSE(store->find_by_token_sha256(kDigestB)->has_value());

    // The same name twice, or the same token digest twice, is refused.
    EXPECT_EQ(store->add(alice, kDigestB).error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store->add(Account{"bob", "auditor", "", "", ""}, kDigestA).error().code(),
              ErrorCode::kInvalidArgument);
    for (const char* bad : {"", ".hidden", "-x", "a/b", "a b", "DOE^JANE"})
        EXPECT_EQ(store->add(Account{bad, "auditor", "", "", ""}, kDigestB).error().code(),
                  ErrorCode::kInvalidArgument)
            << bad;

    ASSERT_EQ(store->list()->size(), 1u);
    EXPECT_TRUE(store->remove("alice").ok());
    EXPECT_EQ(store->remove("alice").error().code(), ErrorCode::kNotFound);
    EXPECT_FALSE(store->find_by_token_sha256(kDigestA)->has_value());
}

TEST_F(AccountStoreTest, RefusesAnSqliteFileThatIsNotAnAccountStore) {
    fs::create_directories(dir_);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "other.sqlite").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    fs::permissions(dir_ / "other.sqlite", fs::perms::owner_read | fs::perms::owner_write);
    auto store = AccountStore::open(dir_ / "other.sqlite");
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code(), ErrorCode::kCorrupt);
}

// Whoever can write the store can give themselves a role: a store open to group or others is
// refused (as a key file is), with the fix in the message, until its mode is private again.
TEST_F(AccountStoreTest, RefusesAStoreOpenToGroupOrOthers) {
    const fs::path file = dir_ / "users.sqlite";
    ASSERT_TRUE(AccountStore::open(file).ok());
    for (auto loose : {fs::perms::group_read, fs::perms::others_write}) {
        fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | loose);
        auto store = AccountStore::open(file);
        ASSERT_FALSE(store.ok());
        EXPECT_EQ(store.error().code(), ErrorCode::kPermission);
        EXPECT_NE(store.error().message().find("chmod 600 " + file.string()), std::string::npos)
            << store.error().message();
    }
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_TRUE(AccountStore::open(file).ok());
}

}  // namespace
}  // namespace medanchor::ledger
