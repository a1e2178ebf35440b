// common/file_io: bounded reads that never block on a FIFO, and writes that are atomic and leave
// nothing behind on failure.
#include "common/file_io.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <fstream>

namespace medanchor {
namespace {

namespace fs = std::filesystem;

class FileIo : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("medanchor-file-io-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    // Names in the folder, hidden ones included: a leftover temporary shows here.
    std::vector<std::string> listing() const {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(dir_))
            names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }
    fs::path dir_;
};

TEST_F(FileIo, ReadsARegularFileWithinItsBound) {
    std::ofstream(dir_ / "a") << "hello";
    auto bytes = read_regular_text_file(dir_ / "a", 5);
    ASSERT_TRUE(bytes) << bytes.error().message();
    EXPECT_EQ(*bytes, "hello");
    auto big = read_regular_file(dir_ / "a", 4);
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code(), ErrorCode::kTooLarge);
    EXPECT_NE(big.error().message().find((dir_ / "a").string()), std::string::npos);
}

TEST_F(FileIo, RefusesWhatIsNotARegularFileWithoutBlocking) {
    ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
    // No writer ever opens the FIFO: a blocking open would hang this test (ctest's timeout).
    auto fifo = read_regular_file(dir_ / "fifo", 1 << 20);
    ASSERT_FALSE(fifo);
    EXPECT_EQ(fifo.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(fifo.error().message().find("not a regular file"), std::string::npos);

    fs::create_directory(dir_ / "folder");
    auto folder = read_regular_file(dir_ / "folder", 1 << 20);
    ASSERT_FALSE(folder);
    EXPECT_NE(folder.error().message().find("is a folder"), std::string::npos);

    auto missing = read_regular_file(dir_ / "missing", 1 << 20);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(FileIo, AWriteReplacesAtomicallyAndLeavesNoTemporary) {
    ASSERT_TRUE(write_file_atomically(dir_ / "f", std::string_view("one")));
    ASSERT_TRUE(write_file_atomically(dir_ / "f", std::string_view("two"), /*durable=*/true));
    EXPECT_EQ(*read_regular_text_file(dir_ / "f", 10), "two");
    EXPECT_EQ(listing(), std::vector<std::string>{"f"});
}

TEST_F(FileIo, AnUncommittedFileOrFolderIsRemoved) {
    {
        AtomicFile file(dir_ / "f");
        std::ofstream(file.temp_path()) << "partial";
        AtomicFile folder(dir_ / "d");
        fs::create_directory(folder.temp_path());
        std::ofstream(folder.temp_path() / "inside") << "x";
        EXPECT_EQ(listing().size(), 2u);
    }
    EXPECT_TRUE(listing().empty());
}

TEST_F(FileIo, WriteOnceNeverReplacesAFileOrAFolder) {
    ASSERT_TRUE(write_file_atomically(dir_ / "f", std::string_view("first")));
    {
        AtomicFile again(dir_ / "f");
        std::ofstream(again.temp_path()) << "second";
        auto placed = again.commit({.replace = false});
        ASSERT_TRUE(placed) << placed.error().message();
        EXPECT_FALSE(*placed);
    }
    EXPECT_EQ(*read_regular_text_file(dir_ / "f", 10), "first");

    for (const char* content : {"a", "b"}) {
        AtomicFile folder(dir_ / "d");
        fs::create_directory(folder.temp_path());
        std::ofstream(folder.temp_path() / "x") << content;
        auto placed = folder.commit({.replace = false, .durable = true});
        ASSERT_TRUE(placed) << placed.error().message();
        EXPECT_EQ(*placed, std::string(content) == "a");
    }
    EXPECT_EQ(*read_regular_text_file(dir_ / "d" / "x", 10), "a");
    EXPECT_EQ(listing(), (std::vector<std::string>{"d", "f"}));
}

// A new file in place: written with its bytes, and never over one that exists.
TEST_F(FileIo, ANewFileIsWrittenInPlaceAndNeverOverAnother) {
    ASSERT_TRUE(write_new_file(dir_ / "a", std::string_view("first")).ok());
    EXPECT_EQ(listing(), std::vector<std::string>{"a"}) << "no temporary, no rename";
    auto again = write_new_file(dir_ / "a", std::string_view("second"));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), ErrorCode::kIo);
    EXPECT_NE(again.error().message().find((dir_ / "a").string()), std::string::npos);
    auto bytes = read_regular_file(dir_ / "a", 100);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "first");
}

// A file written from pieces held apart is their concatenation, empty pieces included, and
// never over a file that exists.
TEST_F(FileIo, ANewFileFromPiecesIsTheirConcatenation) {
    const std::string big(100000, 'p');
    const std::array<std::string_view, 4> pieces{"head", "", big, "tail"};
    ASSERT_TRUE(write_new_file(dir_ / "a", pieces).ok());
    auto bytes = read_regular_file(dir_ / "a", 1 << 20);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ(std::string(bytes->begin(), bytes->end()), "head" + big + "tail");
    auto again = write_new_file(dir_ / "a", pieces);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), ErrorCode::kIo);
}

TEST_F(FileIo, AWriteThatRunsOutOfRoomFailsCleanly) {
    // RLIMIT_FSIZE makes the kernel refuse writes past 1 KiB (EFBIG) as a full disk would
    // (ENOSPC): the error is reported and no partial file remains. In a child, so the limit
    // does not reach the rest of the suite.
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit {
            1024, 1024
        };
        ::setrlimit(RLIMIT_FSIZE, &limit);
        const std::string big(64 * 1024, 'x');
        const auto s = write_file_atomically(dir_ / "f", std::string_view(big));
        const bool clean = !s && s.error().code() == ErrorCode::kIo && fs::is_empty(dir_);
        // The same for a new file written in place (inside a folder placed whole).
        const auto n = write_new_file(dir_ / "g", std::string_view(big));
        const bool clean_new = !n && n.error().code() == ErrorCode::kIo && fs::is_empty(dir_);
        // And from pieces, failing in the second.
        const std::array<std::string_view, 2> pieces{std::string_view(big).substr(0, 512), big};
        const auto p = write_new_file(dir_ / "h", pieces);
        const bool clean_pieces = !p && p.error().code() == ErrorCode::kIo && fs::is_empty(dir_);
        ::_exit(clean && clean_new && clean_pieces ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the failed write left a file or gave no kIo error";
}

TEST_F(FileIo, ASecretFileIsReadOnlyWhenPrivate) {
    const fs::path key = dir_ / "k";
    std::ofstream(key) << "secret";
    ::chmod(key.c_str(), 0600);
    auto read = read_secret_file(key, 64);
    ASSERT_TRUE(read) << read.error().message();
    EXPECT_EQ(*read, "secret");
    ::chmod(key.c_str(), 0640);
    auto open = read_secret_file(key, 64);
    ASSERT_FALSE(open);
    EXPECT_EQ(open.error().code(), ErrorCode::kPermission);
    EXPECT_NE(open.error().message().find("mode 0640"), std::string::npos);
    EXPECT_NE(open.error().message().find("chmod 600 " + key.string()), std::string::npos);
    EXPECT_EQ(open.error().message().find("secret\n"), std::string::npos);
    auto missing = read_secret_file(dir_ / "absent", 64);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kNoKey);
    ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
    EXPECT_EQ(read_secret_file(dir_ / "fifo", 64).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medanchor
