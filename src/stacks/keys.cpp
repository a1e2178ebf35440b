#include "stacks/keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_io.h"

namespace medanchor::stacks {
namespace {

constexpr std::string_view kKeyFormat = "medanchor-stacks-key/1";
// A key file is a line of JSON around 66 hex digits; anything much larger is not one, and is not
// read (a 1 GiB file would otherwise be read whole, twice).
constexpr std::size_t kMaxKeyFileBytes = 4096;
constexpr std::uint32_t kHardened = 0x80000000u;

// One context for the process: libsecp256k1 contexts are safe to share for signing and
// verification once created.
const secp256k1_context* context() {
    static secp256k1_context* ctx = [] {
        secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
        std::array<unsigned char, 32> seed{};
        if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) == 1) {
            // Randomisation hardens against side channels; failure leaves a working context.
            if (secp256k1_context_randomize(c, seed.data()) != 1) {
                return c;
            }
        }
        return c;
    }();
    return ctx;
}

std::array<std::uint8_t, 64> hmac_sha512(ByteView key, ByteView data) {
    std::array<std::uint8_t, 64> out{};
    unsigned int len = 0;
    HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
         out.data(), &len);
    return out;
}

}  // namespace

PrivateKey::~PrivateKey() {
    OPENSSL_cleanse(secret_.data(), secret_.size());
}

Result<PrivateKey> PrivateKey::from_bytes(ByteView bytes) {
    if (bytes.size() == 33 && bytes[32] == 0x01) {
        bytes = bytes.first(32);
    }
    if (bytes.size() != 32) {
        return Error(ErrorCode::kInvalidArgument,
                     "a private key is 32 bytes (64 hex digits, optionally followed by 01), not " +
                         std::to_string(bytes.size()));
    }
    PrivateKey key;
    std::copy(bytes.begin(), bytes.end(), key.secret_.begin());
    if (secp256k1_ec_seckey_verify(context(), key.secret_.data()) != 1) {
        return Error(ErrorCode::kInvalidArgument,
                     "the private key is zero or not below the curve order");
    }
    return key;
}

Result<PrivateKey> PrivateKey::from_hex(std::string_view hex) {
    auto bytes = stacks::from_hex(hex);
    if (!bytes) {
        return Error(ErrorCode::kInvalidArgument, "the private key is not hex");
    }
    auto key = from_bytes(*bytes);
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return key;
}

Result<PrivateKey> PrivateKey::generate() {
    std::array<std::uint8_t, 32> raw{};
    for (int attempt = 0; attempt < 8; ++attempt) {
        if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
            return Error(ErrorCode::kInternal, "the system random generator failed");
        }
        auto key = from_bytes(raw);
        OPENSSL_cleanse(raw.data(), raw.size());
        if (key)
            return key;
    }
    return Error(ErrorCode::kInternal, "could not draw a valid private key");
}

Result<PrivateKey> PrivateKey::from_mnemonic(std::string_view mnemonic, std::uint32_t index) {
    // Normalise runs of spaces; the words themselves are ASCII in the English list.
    std::istringstream words{std::string(mnemonic)};
    std::string word, phrase;
    int count = 0;
    while (words >> word) {
        phrase += (phrase.empty() ? "" : " ") + word;
        ++count;
    }
    if (count != 12 && count != 15 && count != 18 && count != 21 && count != 24) {
        return Error(
            ErrorCode::kInvalidArgument,
            "a mnemonic has 12, 15, 18, 21 or 24 words, this one " + std::to_string(count));
    }
    std::array<std::uint8_t, 64> seed{};
    const std::string salt = "mnemonic";
    PKCS5_PBKDF2_HMAC(phrase.data(), static_cast<int>(phrase.size()),
                      reinterpret_cast<const unsigned char*>(salt.data()),
                      static_cast<int>(salt.size()), 2048, EVP_sha512(), seed.size(), seed.data());
    OPENSSL_cleanse(phrase.data(), phrase.size());

    const std::string master_key = "Bitcoin seed";
    auto node = hmac_sha512(
        {reinterpret_cast<const std::uint8_t*>(master_key.data()), master_key.size()}, seed);
    OPENSSL_cleanse(seed.data(), seed.size());
    std::array<std::uint8_t, 32> k{}, chain{};
    std::copy_n(node.begin(), 32, k.begin());
    std::copy_n(node.begin() + 32, 32, chain.begin());

    const std::uint32_t path[] = {44 | kHardened, 5757 | kHardened, 0 | kHardened, 0, index};
    for (std::uint32_t i : path) {
        Bytes data;
        if (i & kHardened) {
            data.push_back(0x00);
            put_bytes(data, k);
        } else {
            secp256k1_pubkey pub;
            if (secp256k1_ec_pubkey_create(context(), &pub, k.data()) != 1) {
                return Error(ErrorCode::kInternal, "BIP-32 derivation met an invalid key");
            }
            std::array<std::uint8_t, 33> ser{};
            std::size_t len = ser.size();
            secp256k1_ec_pubkey_serialize(context(), ser.data(), &len, &pub,
                                          SECP256K1_EC_COMPRESSED);
            put_bytes(data, ser);
        }
        put_u32(data, i);
        auto child = hmac_sha512(chain, data);
        OPENSSL_cleanse(data.data(), data.size());
        // child key = IL + k (mod n); libsecp256k1 refuses the negligible invalid cases.
        if (secp256k1_ec_seckey_tweak_add(context(), k.data(), child.data()) != 1) {
            return Error(ErrorCode::kInternal, "BIP-32 derivation produced an invalid key");
        }
        std::copy_n(child.begin() + 32, 32, chain.begin());
        OPENSSL_cleanse(child.data(), child.size());
    }
    auto key = from_bytes(k);
    OPENSSL_cleanse(k.data(), k.size());
    OPENSSL_cleanse(chain.data(), chain.size());
    return key;
}

PublicKey PrivateKey::public_key() const {
    secp256k1_pubkey pub;
    PublicKey out{};
    // Cannot fail: the secret was verified on construction.
    if (secp256k1_ec_pubkey_create(context(), &pub, secret_.data()) != 1) {
        return out;
    }
    std::size_t len = out.size();
    secp256k1_ec_pubkey_serialize(context(), out.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
    return out;
}

Address PrivateKey::address(Network network) const {
    return address_of(public_key(), network);
}

RecoverableSignature PrivateKey::sign(const Hash32& digest) const {
    secp256k1_ecdsa_recoverable_signature sig;
    RecoverableSignature out{};
    // Cannot fail for a verified secret and the default nonce function.
    if (secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), secret_.data(), nullptr,
                                         nullptr) != 1) {
        return out;
    }
    int recid = 0;
    secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), out.data() + 1, &recid,
                                                            &sig);
    out[0] = static_cast<std::uint8_t>(recid);
    return out;
}

std::string PrivateKey::to_hex_secret() const {
    return to_hex(secret_) + "01";
}

Result<PublicKey> recover_public_key(const Hash32& digest, const RecoverableSignature& signature) {
    secp256k1_ecdsa_recoverable_signature sig;
    if (signature[0] > 3 || secp256k1_ecdsa_recoverable_signature_parse_compact(
                                context(), &sig, signature.data() + 1, signature[0]) != 1) {
        return Error(ErrorCode::kCorrupt, "malformed recoverable signature");
    }
    secp256k1_pubkey pub;
    if (secp256k1_ecdsa_recover(context(), &pub, &sig, digest.data()) != 1) {
        return Error(ErrorCode::kCorrupt, "no public key recovers from this signature");
    }
    PublicKey out{};
    std::size_t len = out.size();
    secp256k1_ec_pubkey_serialize(context(), out.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
    return out;
}

std::uint8_t address_version(Network network) {
    return network == Network::kMainnet ? kMainnetSingleSig : kTestnetSingleSig;
}

Address address_of(const PublicKey& key, Network network) {
    return Address{address_version(network), hash160(key)};
}

Status write_key_file(const std::filesystem::path& path, const PrivateKey& key) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            return Error(ErrorCode::kInvalidArgument,
                         path.string() + ": already exists; medanchor never overwrites a key");
        }
        return Error(ErrorCode::kIo, path.string() + ": cannot create: " + std::strerror(errno));
    }
    nlohmann::json j = {{"format", kKeyFormat}, {"private_key", key.to_hex_secret()}};
    std::string text = j.dump(2) + "\n";
    const auto written = ::write(fd, text.data(), text.size());
    OPENSSL_cleanse(text.data(), text.size());
    const bool ok = written == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        return Error(ErrorCode::kIo, path.string() + ": could not write the key");
    }
    return Status::Ok();
}

Result<PrivateKey> read_key_file(const std::filesystem::path& path) {
    auto read = read_secret_file(path, kMaxKeyFileBytes);
    if (!read)
        return read.error();
    std::string& text = *read;
    auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    OPENSSL_cleanse(text.data(), text.size());
    if (j.is_discarded() || !j.is_object() || j.value("format", "") != kKeyFormat ||
        !j.contains("private_key") || !j["private_key"].is_string()) {
        return Error(ErrorCode::kCorrupt, path.string() + ": not a medanchor key file (expected " +
                                              std::string(kKeyFormat) + " JSON)");
    }
    std::string hex = j["private_key"].get<std::string>();
    auto key = PrivateKey::from_hex(hex);
    OPENSSL_cleanse(hex.data(), hex.size());
    if (!key)
        return Error(key.error().code(), path.string() + ": " + key.error().message());
    return key;
}

}  // namespace medanchor::stacks
