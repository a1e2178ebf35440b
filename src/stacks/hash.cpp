#include "stacks/hash.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace medanchor::stacks {
namespace {

// EVP digests fail only when the algorithm is missing from the OpenSSL build, which is a broken
// installation, not bad input: that is the one place this layer throws.
template <std::size_t N>
std::array<std::uint8_t, N> digest(const char* name, ByteView data) {
    std::array<std::uint8_t, N> out{};
    EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
    unsigned int len = 0;
    const bool ok = md != nullptr &&
                    EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) == 1 &&
                    len == N;
    EVP_MD_free(md);
    if (!ok) {
        throw std::runtime_error(std::string("OpenSSL lacks the digest ") + name);
    }
    return out;
}

}  // namespace

Hash32 sha256(ByteView data) {
    return digest<32>("SHA256", data);
}

Hash32 sha512_256(ByteView data) {
    return digest<32>("SHA512-256", data);
}

Hash20 hash160(ByteView data) {
    const Hash32 inner = sha256(data);
    return digest<20>("RIPEMD160", inner);
}

}  // namespace medanchor::stacks
