// The site key file: created 0600, refused when others can read it, never overwritten.
#include "image/site_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "test_support.h"

namespace medanchor::image {
namespace {

using testing::ScratchDir;

TEST(SiteKey, CreateWritesMode0600AndLoadsBack) {
    ScratchDir dir;
    const auto path = dir / "nested" / "site.key";
    auto created = SiteKey::create(path);
    ASSERT_TRUE(created.ok()) << created.error().message();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto loaded = SiteKey::load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message();
    EXPECT_TRUE(
        std::equal(created->bytes().begin(), created->bytes().end(), loaded->bytes().begin()));
    // Two keys are different (they come from the system's random generator).
    auto other = SiteKey::create(dir / "other.key");
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(
        std::equal(created->bytes().begin(), created->bytes().end(), other->bytes().begin()));
}

TEST(SiteKey, RefusesToOverwrite) {
    ScratchDir dir;
    ASSERT_TRUE(SiteKey::create(dir / "k").ok());
    auto again = SiteKey::create(dir / "k");
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().message().find("refusing to overwrite"), std::string::npos);
}

TEST(SiteKey, RefusesGroupOrWorldReadableFiles) {
    ScratchDir dir;
    const auto path = dir / "k";
    ASSERT_TRUE(SiteKey::create(path).ok());
    for (auto mode : {0644, 0640, 0604, 0660}) {
        ::chmod(path.c_str(), static_cast<mode_t>(mode));
        auto key = SiteKey::load(path);
        ASSERT_FALSE(key.ok());
        EXPECT_EQ(key.error().code(), ErrorCode::kPermission);
        EXPECT_NE(key.error().message().find("chmod 600"), std::string::npos);
    }
    ::chmod(path.c_str(), 0400);
    EXPECT_TRUE(SiteKey::load(path).ok());
}

TEST(SiteKey, RefusesMalformedAndMissingFiles) {
    ScratchDir dir;
    const auto path = dir / "k";
    {
        std::ofstream out(path);
        out << "not a key\n";
    }
    ::chmod(path.c_str(), 0600);
    auto bad = SiteKey::load(path);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), ErrorCode::kCorrupt);
    // The message never echoes the file's content.
    EXPECT_EQ(bad.error().message().find("not a key"), std::string::npos);
    auto missing = SiteKey::load(dir / "absent");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::kNoKey);
}

// Item 8 of issue 11: key files are regular files only, size-capped, and a key must have
// entropy. (A FIFO is refused without waiting for a writer: a blocking open would hang here.)
TEST(SiteKey, RefusesFifosFoldersAndHugeFilesClearly) {
    ScratchDir dir;
    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
    auto fifo = SiteKey::load(dir / "fifo");
    ASSERT_FALSE(fifo.ok());
    EXPECT_EQ(fifo.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(fifo.error().message().find("not a regular file"), std::string::npos);

    std::filesystem::create_directory(dir / "folder");
    ::chmod((dir / "folder").c_str(), 0700);
    auto folder = SiteKey::load(dir / "folder");
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(folder.error().message().find("is a folder"), std::string::npos);

    const auto huge = dir / "huge.key";
    { std::ofstream out(huge); }
    ::chmod(huge.c_str(), 0600);
    std::filesystem::resize_file(huge, std::uintmax_t{1} << 30);  // sparse: no disk used
    auto big = SiteKey::load(huge);
    ASSERT_FALSE(big.ok());
    EXPECT_EQ(big.error().code(), ErrorCode::kTooLarge);
    EXPECT_NE(big.error().message().find(huge.string()), std::string::npos);
}

TEST(SiteKey, RefusesAKeyWithNoEntropy) {
    ScratchDir dir;
    const auto write_key = [&](const std::string& name, const std::string& hex) {
        const auto path = dir / name;
        std::ofstream(path) << hex << "\n";
        ::chmod(path.c_str(), 0600);
        return path;
    };
    for (const std::string& weak : {std::string(64, '0'), std::string(64, 'f'), [] {
                                        std::string s;
                                        for (int i = 0; i < 8; ++i)
                                            s += "deadbeef";
                                        return s;
                                    }()}) {
        auto key = SiteKey::load(write_key("weak.key", weak));
        ASSERT_FALSE(key.ok()) << weak;
        EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(key.error().message().find("no entropy"), std::string::npos);
        EXPECT_EQ(key.error().message().find(weak), std::string::npos);  // never echoed
        std::filesystem::remove(dir / "weak.key");
    }
    // 32 distinct bytes (00 01 ... 1f) are a key, if not a good one: the rule is about entropy
    // a random generator cannot fail to give, not a guess at quality.
    std::string counting;
    for (int i = 0; i < 32; ++i) {
        char two[3];
        std::snprintf(two, sizeof two, "%02x", i);
        counting += two;
    }
    EXPECT_TRUE(SiteKey::load(write_key("counting.key", counting)).ok());
}

}  // namespace
}  // namespace medanchor::image
