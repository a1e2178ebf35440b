#include "common/encoding.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace medanchor {

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const std::uint8_t b : bytes) {
        out.push_back(kDigits[b >> 4]);
        out.push_back(kDigits[b & 0x0f]);
    }
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0)
        return std::nullopt;
    std::vector<std::uint8_t> out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> bytes) {
    // The implementation is fetched once and each thread keeps one context: EVP_sha256() with
    // EVP_Digest looks the implementation up again on every call (a locked table search in
    // OpenSSL 3) and allocates a context, which costs more than hashing a 65-byte Merkle node.
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    thread_local const std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(),
                                                                              &EVP_MD_CTX_free);
    std::array<std::uint8_t, 32> out{};
    unsigned int len = 0;
    // These fail only when OpenSSL cannot allocate or lacks SHA-256: not recoverable here.
    if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != 32) {
        throw std::runtime_error("OpenSSL SHA-256 failed");
    }
    return out;
}

std::string uid_from_128_bits(const std::array<std::uint8_t, 16>& value) {
    std::array<std::uint8_t, 16> n = value;
    std::string digits;
    bool nonzero = true;
    while (nonzero) {  // long division by 10
        unsigned remainder = 0;
        nonzero = false;
        for (auto& byte : n) {
            const unsigned v = remainder * 256 + byte;
            byte = static_cast<std::uint8_t>(v / 10);
            remainder = v % 10;
            nonzero = nonzero || byte != 0;
        }
        digits.push_back(static_cast<char>('0' + remainder));
    }
    std::reverse(digits.begin(), digits.end());
    return "2.25." + digits;
}

}  // namespace medanchor
