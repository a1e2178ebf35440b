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

bool is_lower_hex(std::string_view s, std::size_t length) {
    if (length != std::string_view::npos && s.size() != length)
        return false;
    for (const char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
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

namespace {

// The length of the valid UTF-8 sequence at text[i] and its code point, or 0 when invalid
// (overlong forms, surrogates and values over U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view text, std::size_t i, char32_t& cp) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
    const unsigned char lead = b(0);
    std::size_t length = 0;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        cp = lead & 0x07;
    } else {
        return 0;
    }
    if (i + length > text.size())
        return 0;
    for (std::size_t k = 1; k < length; ++k) {
        if ((b(k) & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    const bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
    if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return length;
}

bool invisible(char32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x200B && cp <= 0x200F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

}  // namespace

std::string escape_for_display(std::string_view text) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    auto escape_byte = [&](unsigned char c) {
        out += "\\x";
        out.push_back(kDigits[c >> 4]);
        out.push_back(kDigits[c & 0x0F]);
    };
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x80) {
            char32_t cp = 0;
            const std::size_t length = utf8_sequence(text, i, cp);
            if (length == 0 || invisible(cp)) {
                for (std::size_t k = 0; k < std::max<std::size_t>(length, 1); ++k)
                    escape_byte(static_cast<unsigned char>(text[i + k]));
                i += std::max<std::size_t>(length, 1);
            } else {
                out.append(text.substr(i, length));
                i += length;
            }
            continue;
        }
        ++i;
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7F)
                    escape_byte(c);
                else
                    out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

}  // namespace medanchor
