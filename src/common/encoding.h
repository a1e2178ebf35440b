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
// Only the digits 0-9 and a-f, exactly `length` of them (any number when npos) — the form of
// every digest and transaction id medanchor writes.
bool is_lower_hex(std::string_view s, std::size_t length = std::string_view::npos);

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> bytes);
inline std::array<std::uint8_t, 32> sha256(std::string_view text) {
    return sha256({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

// "2.25." followed by the decimal of `n` (big-endian): at most 44 characters.
std::string uid_from_128_bits(const std::array<std::uint8_t, 16>& n);

// A file name (or any untrusted text) made safe to print on one line: control characters become
// \n, \t, \r or \xNN, a backslash becomes \\, and bytes that are not valid UTF-8, C1 controls
// and invisible or direction-changing characters (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069,
// U+FEFF) become \xNN per byte. Printable ASCII and other valid UTF-8 pass unchanged, so an
// ordinary name prints as itself and no name can forge a line or hide its true spelling.
std::string escape_for_display(std::string_view text);

}  // namespace medanchor
