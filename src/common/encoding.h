// Small encodings every layer needs, in one place: hex, SHA-256 (OpenSSL), and the "2.25." UID
// form (PS3.5 B.2: a UID from a 128-bit number, no registered root needed).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace medanchor {

// Lowercase hex, two digits a byte.
std::string to_hex(std::span<const std::uint8_t> bytes);
// Hex of either case, even length; nullopt on anything else.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex);
// The value of one hex digit, or -1.
int hex_digit(char c);

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> bytes);
inline std::array<std::uint8_t, 32> sha256(std::string_view text) {
    return sha256({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

// "2.25." followed by the decimal of `n` (big-endian): at most 44 characters.
std::string uid_from_128_bits(const std::array<std::uint8_t, 16>& n);

}  // namespace medanchor
