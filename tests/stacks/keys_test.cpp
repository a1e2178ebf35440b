#include "stacks/keys.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace medanchor::stacks {
namespace {

namespace fs = std::filesystem;

// Clarinet's public devnet accounts (settings/Devnet.toml): mnemonic and the address Clarinet
// derives for it. No value anywhere.
constexpr const char* kDeployerMnemonic =
    "twice kind fence tip hidden tilt action fragile skin nothing glory cousin green tomorrow "
    "spring wrist shed math olympic multiply hip blue scout claw";
constexpr const char* kWallet1Mnemonic =
    "sell invite acquire kitten bamboo drastic jelly vivid peace spawn twice guilt pave pen "
    "trash pretty park cube fragile unaware remain midnight betray rebuild";

class TempDir {
  public:
    TempDir() {
        path_ = fs::temp_directory_path() /
                ("medanchor-keys-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        fs::create_directories(path_);
    }
    ~TempDir() { fs::remove_all(path_); }
    const fs::path& path() const { return path_; }

  private:
    static inline int counter_ = 0;
    fs::path path_;
};

TEST(Keys, DerivesDevnetAccountsFromTheirMnemonics) {
    auto deployer = PrivateKey::from_mnemonic(kDeployerMnemonic);
    ASSERT_TRUE(deployer.ok()) << deployer.error().message();
    EXPECT_EQ(deployer->address(Network::kTestnet).to_string(),
              "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM");
    auto wallet1 = PrivateKey::from_mnemonic(kWallet1Mnemonic);
    ASSERT_TRUE(wallet1.ok());
    EXPECT_EQ(wallet1->address(Network::kTestnet).to_string(),
              "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5");
    EXPECT_FALSE(PrivateKey::from_mnemonic("too few words").ok());
}

TEST(Keys, SignaturesRecoverToTheSigner) {
    auto key = PrivateKey::generate();
    ASSERT_TRUE(key.ok());
    const Hash32 digest = sha256(Bytes{1, 2, 3});
    const auto sig = key->sign(digest);
    auto recovered = recover_public_key(digest, sig);
    ASSERT_TRUE(recovered.ok());
    EXPECT_EQ(*recovered, key->public_key());
    // Deterministic (RFC 6979): the same digest gives the same signature.
    EXPECT_EQ(key->sign(digest), sig);
}

TEST(Keys, RejectsInvalidSecrets) {
    EXPECT_FALSE(PrivateKey::from_hex("00").ok());
    EXPECT_FALSE(PrivateKey::from_hex(std::string(64, '0')).ok());  // zero is not a key
    EXPECT_FALSE(PrivateKey::from_hex(std::string(64, 'f')).ok());  // above the curve order
    EXPECT_FALSE(PrivateKey::from_hex(std::string(64, 'g')).ok());
}

TEST(Keys, KeyFilesAreCreatedPrivateAndReadBack) {
    TempDir dir;
    const fs::path file = dir.path() / "analyst.key";
    auto key = PrivateKey::generate();
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE(write_key_file(file, *key).ok());
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto back = read_key_file(file);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back->public_key(), key->public_key());
    // Never overwritten.
    auto again = write_key_file(file, *key);
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().message().find("never overwrites"), std::string::npos);
}

TEST(Keys, RefusesAKeyFileOthersCanRead) {
    TempDir dir;
    const fs::path file = dir.path() / "open.key";
    ASSERT_TRUE(write_key_file(file, *PrivateKey::generate()).ok());
    fs::permissions(file, fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
    auto key = read_key_file(file);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.error().code(), ErrorCode::kPermission);
    EXPECT_NE(key.error().message().find("chmod 600 " + file.string()), std::string::npos);
    EXPECT_NE(key.error().message().find("0644"), std::string::npos);
}

TEST(Keys, ReportsACorruptKeyFileWithoutEchoingIt) {
    TempDir dir;
    const fs::path file = dir.path() / "bad.key";
    {
        std::ofstream out(file);
        out << "{\"format\": \"medanchor-stacks-key/1\", \"private_key\": \"zz-secret-zz\"}";
    }
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
    auto key = read_key_file(file);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.error().message().find("zz-secret-zz"), std::string::npos);
    EXPECT_NE(key.error().message().find(file.string()), std::string::npos);
    EXPECT_EQ(read_key_file(dir.path() / "missing.key").error().code(), ErrorCode::kNoKey);
}

// Item 8 of issue 11: a signing key that is a FIFO, a folder or a huge file gets a clear error,
// at once and without reading it. Each runs in a child with an alarm (a FIFO used to block the
// process for good) and a 512 MiB address-space limit (a 1 GiB file used to be read whole).
TEST(Keys, KeyFilesAreRegularSmallFilesAndRefusedClearlyOtherwise) {
    TempDir dir;
    const fs::path fifo = dir.path() / "fifo.key";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const fs::path folder = dir.path() / "folder.key";
    fs::create_directory(folder);
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace);
    const fs::path huge = dir.path() / "huge.key";
    { std::ofstream out(huge); }
    fs::permissions(huge, fs::perms::owner_read | fs::perms::owner_write,
                    fs::perm_options::replace);
    fs::resize_file(huge, std::uintmax_t{1} << 30);  // sparse: no disk used

    struct Case {
        fs::path file;
        ErrorCode code;
        const char* says;
    };
    for (const Case& c : {Case{fifo, ErrorCode::kInvalidArgument, "not a regular file"},
                          Case{folder, ErrorCode::kInvalidArgument, "is a folder"},
                          Case{huge, ErrorCode::kTooLarge, "over the limit"}}) {
        const pid_t child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            ::alarm(10);
            const rlim_t cap = rlim_t{512} << 20;
            struct rlimit limit {};
            limit.rlim_cur = cap;
            limit.rlim_max = cap;
            ::setrlimit(RLIMIT_AS, &limit);
            auto key = read_key_file(c.file);
            const bool clear = !key.ok() && key.error().code() == c.code &&
                               key.error().message().find(c.says) != std::string::npos &&
                               key.error().message().find(c.file.string()) != std::string::npos;
            ::_exit(clear ? 0 : 1);
        }
        int status = 0;
        ASSERT_EQ(::waitpid(child, &status, 0), child);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << c.file << ": "
            << (WIFSIGNALED(status) ? "killed by a signal (hung or out of memory)"
                                    : "wrong or unclear error");
    }
}

}  // namespace
}  // namespace medanchor::stacks
