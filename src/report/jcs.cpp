#include "report/jcs.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace medanchor::report::jcs {

namespace {

// Decodes one code point at text[i] and advances i. REQUIRES: valid_utf8(text), i < size.
char32_t next_code_point(std::string_view text, std::size_t& i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
        ++i;
        return lead;
    }
    const int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    char32_t cp = lead & (0x7F >> length);
    for (int k = 1; k < length; ++k)
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    i += length;
    return cp;
}

std::u16string to_utf16(std::string_view text) {
    std::u16string units;
    units.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        const char32_t cp = next_code_point(text, i);
        if (cp >= 0x10000) {
            units.push_back(static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10)));
            units.push_back(static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF)));
        } else {
            units.push_back(static_cast<char16_t>(cp));
        }
    }
    return units;
}

constexpr std::int64_t kMaxSafe = (std::int64_t{1} << 53) - 1;

Status write(const nlohmann::json& value, std::string& out) {
    using Type = nlohmann::json::value_t;
    switch (value.type()) {
        case Type::null:
            out += "null";
            return Status::Ok();
        case Type::boolean:
            out += value.get<bool>() ? "true" : "false";
            return Status::Ok();
        case Type::number_unsigned: {
            const auto n = value.get<std::uint64_t>();
            if (n > static_cast<std::uint64_t>(kMaxSafe))
                return Error(ErrorCode::kInvalidArgument,
                             "canonical JSON: integer " + std::to_string(n) + " exceeds 2^53-1");
            out += std::to_string(n);
            return Status::Ok();
        }
        case Type::number_integer: {
            const auto n = value.get<std::int64_t>();
            if (n > kMaxSafe || n < -kMaxSafe)
                return Error(ErrorCode::kInvalidArgument,
                             "canonical JSON: integer " + std::to_string(n) + " exceeds 2^53-1");
            out += std::to_string(n);
            return Status::Ok();
        }
        case Type::number_float:
            return Error(ErrorCode::kInvalidArgument,
                         "canonical JSON: floating-point numbers are not allowed");
        case Type::string: {
            const auto& s = value.get_ref<const std::string&>();
            if (!valid_utf8(s))
                return Error(ErrorCode::kInvalidArgument,
                             "canonical JSON: a string is not valid UTF-8");
            append_string(out, s);
            return Status::Ok();
        }
        case Type::array: {
            out += '[';
            bool first = true;
            for (const auto& item : value) {
                if (!first)
                    out += ',';
                first = false;
                if (auto s = write(item, out); !s)
                    return s;
            }
            out += ']';
            return Status::Ok();
        }
        case Type::object: {
            std::vector<const std::string*> keys;
            keys.reserve(value.size());
            for (const auto& [key, item] : value.items()) {
                if (!valid_utf8(key))
                    return Error(ErrorCode::kInvalidArgument,
                                 "canonical JSON: an object key is not valid UTF-8");
                keys.push_back(&key);
            }
            std::sort(keys.begin(), keys.end(), [](const std::string* a, const std::string* b) {
                return utf16_less(*a, *b);
            });
            out += '{';
            bool first = true;
            for (const std::string* key : keys) {
                if (!first)
                    out += ',';
                first = false;
                append_string(out, *key);
                out += ':';
                if (auto s = write(value.at(*key), out); !s)
                    return s;
            }
            out += '}';
            return Status::Ok();
        }
        case Type::binary:
        case Type::discarded:
            break;
    }
    return Error(ErrorCode::kInvalidArgument, "canonical JSON: value of an unsupported type");
}

}  // namespace

bool valid_utf8(std::string_view text) {
    std::size_t i = 0;
    const std::size_t n = text.size();
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const auto cont = [&](std::size_t k) { return k < n && (byte(k) & 0xC0) == 0x80; };
    while (i < n) {
        const unsigned char b = byte(i);
        if (b < 0x80) {
            ++i;
        } else if (b >= 0xC2 && b <= 0xDF) {
            if (!cont(i + 1))
                return false;
            i += 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            if (!cont(i + 1) || !cont(i + 2))
                return false;
            const unsigned char b1 = byte(i + 1);
            if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F))  // overlong, surrogate
                return false;
            i += 3;
        } else if (b >= 0xF0 && b <= 0xF4) {
            if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3))
                return false;
            const unsigned char b1 = byte(i + 1);
            if ((b == 0xF0 && b1 < 0x90) || (b == 0xF4 && b1 > 0x8F))  // overlong, > U+10FFFF
                return false;
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

bool utf16_less(std::string_view a, std::string_view b) {
    return to_utf16(a) < to_utf16(b);
}

void append_string(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += '"';
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (u < 0x20) {
                    out += "\\u00";
                    out += kHex[u >> 4];
                    out += kHex[u & 0xF];
                } else {
                    out += c;  // UTF-8 bytes pass through unchanged
                }
        }
    }
    out += '"';
}

Result<std::string> canonicalize(const nlohmann::json& value) {
    std::string out;
    if (auto s = write(value, out); !s)
        return s.error();
    return out;
}

}  // namespace medanchor::report::jcs
