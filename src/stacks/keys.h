// secp256k1 keys for signing Stacks transactions (libsecp256k1), their addresses, key files, and
// derivation from a BIP-39 mnemonic (the form Clarinet's settings/Devnet.toml gives accounts in).
//
// A PrivateKey never prints itself and wipes its bytes on destruction. Key files are created
// 0600 and refused when group or others can read them.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"
#include "stacks/bytes.h"
#include "stacks/c32.h"
#include "stacks/hash.h"

namespace medanchor::stacks {

enum class Network { kMainnet, kTestnet };

using PublicKey = std::array<std::uint8_t, 33>;             // compressed SEC1
using RecoverableSignature = std::array<std::uint8_t, 65>;  // recovery id, r, s (Stacks' "VRS")

class PrivateKey {
  public:
    // 32 bytes, or 33 with the trailing 0x01 "compressed" marker @stacks/transactions appends.
    static Result<PrivateKey> from_hex(std::string_view hex);
    static Result<PrivateKey> from_bytes(ByteView bytes);
    // A fresh key from the operating system's CSPRNG (OpenSSL RAND_bytes).
    static Result<PrivateKey> generate();
    // BIP-39 seed (PBKDF2-HMAC-SHA512, 2048 rounds) then BIP-32 along m/44'/5757'/0'/0/index,
    // the Stacks wallet path. The mnemonic's words are not checked against the word list.
    static Result<PrivateKey> from_mnemonic(std::string_view mnemonic, std::uint32_t index = 0);

    PrivateKey(const PrivateKey&) = default;
    PrivateKey& operator=(const PrivateKey&) = default;
    ~PrivateKey();

    PublicKey public_key() const;
    Address address(Network network) const;
    // RFC 6979 deterministic, low-S: the same signature @stacks/transactions produces.
    RecoverableSignature sign(const Hash32& digest) const;
    // 64 hex digits followed by "01": the form @stacks/transactions and the devnet settings use.
    std::string to_hex_secret() const;

  private:
    PrivateKey() = default;
    std::array<std::uint8_t, 32> secret_{};
};

// The public key that made `signature` over `digest`, or kCorrupt.
Result<PublicKey> recover_public_key(const Hash32& digest, const RecoverableSignature& signature);

std::uint8_t address_version(Network network);
Address address_of(const PublicKey& key, Network network);

// Key files: {"format": "medanchor-stacks-key/1", "private_key": "<hex>"}.
// write_key_file refuses to overwrite an existing file.
Status write_key_file(const std::filesystem::path& path, const PrivateKey& key);
// Through common/file_io's read_secret_file: kNoKey (missing), kInvalidArgument (a folder, FIFO
// or device, without waiting on it), kPermission (group or others have access; the message says
// how to fix it), kTooLarge (over 4 KiB), kCorrupt (not the format above), kInvalidArgument (not
// a valid secp256k1 secret).
Result<PrivateKey> read_key_file(const std::filesystem::path& path);

}  // namespace medanchor::stacks
