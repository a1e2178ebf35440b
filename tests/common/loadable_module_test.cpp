// common/loadable_module: a module file that someone other than root or this user could have
// written is refused before it is opened, naming the file and why; a safe one loads.
#include "common/loadable_module.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace medanchor {
namespace {

namespace fs = std::filesystem;

constexpr const char* kWhat = "the test module";
constexpr const char* kSymbol = "medanchor_test_module_answer";

class LoadableModule : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("medanchor-module-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // A copy of the test module at `path`, with `mode`. dlopen finds a path it opened before
    // again without reading it: each test loads a name of its own.
    static fs::path copy(const fs::path& path, mode_t mode) {
        fs::copy_file(MEDANCHOR_TEST_MODULE, path, fs::copy_options::overwrite_existing);
        EXPECT_EQ(::chmod(path.c_str(), mode), 0);
        return path;
    }
    static Result<std::vector<void*>> open(const fs::path& path) {
        return open_module(kWhat, path.string(), {kSymbol});
    }
    static void expect_loads(const fs::path& path) {
        auto found = open(path);
        ASSERT_TRUE(found) << found.error().message();
        ASSERT_EQ(found->size(), 1u);
        EXPECT_EQ(reinterpret_cast<int (*)()>((*found)[0])(), 42);
    }
    static void expect_refused(const fs::path& path, const std::string& why) {
        auto found = open(path);
        ASSERT_FALSE(found) << path << " was loaded";
        EXPECT_EQ(found.error().code(), ErrorCode::kPermission);
        const std::string& message = found.error().message();
        EXPECT_NE(message.find(std::string(kWhat) + " refused: " + path.string()),
                  std::string::npos)
            << message;
        EXPECT_NE(message.find(why), std::string::npos) << message;
    }
    fs::path dir_;
};

TEST_F(LoadableModule, LoadsAModuleOnlyThisUserOrRootCanWrite) {
    expect_loads(copy(dir_ / "safe.so", 0755));
    // A sticky folder anyone can write (/tmp's mode): others cannot replace a file they do not
    // own there.
    ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);
    expect_loads(copy(dir_ / "sticky.so", 0644));
}

TEST_F(LoadableModule, RefusesAModuleGroupOrOthersCanWrite) {
    expect_refused(copy(dir_ / "world.so", 0666), "writable by group or others (mode 0666)");
    expect_refused(copy(dir_ / "group.so", 0775), "writable by group or others (mode 0775)");
    // Through a symbolic link: the file it points to is checked, and both are named.
    fs::create_symlink(dir_ / "world.so", dir_ / "link.so");
    auto found = open(dir_ / "link.so");
    ASSERT_FALSE(found);
    EXPECT_NE(found.error().message().find((dir_ / "link.so").string() + " (" +
                                           (dir_ / "world.so").string() + ")"),
              std::string::npos)
        << found.error().message();
}

TEST_F(LoadableModule, RefusesAModuleInAFolderOthersCanWriteWithoutTheStickyBit) {
    const fs::path module = copy(dir_ / "in-open-folder.so", 0755);
    ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
    expect_refused(module, "its folder " + dir_.string() +
                               " is writable by group or others without the sticky bit "
                               "(mode 0777)");
    ASSERT_EQ(::chmod(dir_.c_str(), 0775), 0);
    expect_refused(module, "(mode 0775)");
}

TEST_F(LoadableModule, RefusesAModuleOwnedByAnotherUser) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "giving a file to another user needs root";
    const fs::path module = copy(dir_ / "theirs.so", 0755);
    ASSERT_EQ(::chown(module.c_str(), 65534, 65534), 0);
    expect_refused(module, "owned by uid 65534, neither root nor this user (uid 0)");
    ASSERT_EQ(::chown(module.c_str(), 0, 0), 0);
    ASSERT_EQ(::chown(dir_.c_str(), 65534, 65534), 0);
    expect_refused(module, "its folder " + dir_.string() + " is owned by uid 65534");
    ASSERT_EQ(::chown(dir_.c_str(), 0, 0), 0);
    expect_loads(module);
}

TEST_F(LoadableModule, AMissingModuleIsUnsupportedAndNamed) {
    auto found = open(dir_ / "nothing-here.so");
    ASSERT_FALSE(found);
    EXPECT_EQ(found.error().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(found.error().message(), std::string(kWhat) + " cannot be loaded: " +
                                           (dir_ / "nothing-here.so").string() + ": no such file");
    auto wrong = open_module(kWhat, copy(dir_ / "other.so", 0755).string(), {"no_such_symbol"});
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(wrong.error().message().find("no no_such_symbol"), std::string::npos);
}

TEST(ModulePath, TheEnvironmentFirstThenTheBuildTreeForTheBuildsOwnBinaries) {
    ::setenv("MEDANCHOR_TEST_MODULE_PATH", "/elsewhere/m.so", 1);
    EXPECT_EQ(module_path("MEDANCHOR_TEST_MODULE_PATH", "/build/m.so"), "/elsewhere/m.so");
    ::unsetenv("MEDANCHOR_TEST_MODULE_PATH");
    // This test runs from the build tree: where the build put a module is a fallback for it (a
    // copied binary is refused that fallback: codecs_module_test.sh).
    EXPECT_EQ(module_path("MEDANCHOR_TEST_MODULE_PATH", "/build/no-module-beside-me.so"),
              "/build/no-module-beside-me.so");
}

}  // namespace
}  // namespace medanchor
