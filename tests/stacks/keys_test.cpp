#include "stacks/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

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

}  // namespace
}  // namespace medanchor::stacks
