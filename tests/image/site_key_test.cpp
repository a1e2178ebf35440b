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

}  // namespace
}  // namespace medanchor::image
