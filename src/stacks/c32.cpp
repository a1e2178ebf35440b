#include "stacks/c32.h"

#include <algorithm>

namespace medanchor::stacks {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int c32_value(char c) {
    switch (c) {
        case 'O':
        case 'o':
            return 0;
        case 'I':
        case 'i':
        case 'L':
        case 'l':
            return 1;
        default:
            break;
    }
    const char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    const auto pos = kAlphabet.find(upper);
    return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

std::array<std::uint8_t, 4> checksum(std::uint8_t version, ByteView hash) {
    Bytes payload{version};
    put_bytes(payload, hash);
    const Hash32 once = sha256(payload);
    const Hash32 twice = sha256(once);
    return {twice[0], twice[1], twice[2], twice[3]};
}

}  // namespace

std::string c32_encode(ByteView data) {
    std::string digits;  // least significant first
    unsigned carry = 0;
    int carry_bits = 0;
    for (auto it = data.rbegin(); it != data.rend(); ++it) {
        carry |= static_cast<unsigned>(*it) << carry_bits;
        carry_bits += 8;
        while (carry_bits >= 5) {
            digits.push_back(kAlphabet[carry & 31]);
            carry >>= 5;
            carry_bits -= 5;
        }
    }
    if (carry_bits > 0) {
        digits.push_back(kAlphabet[carry & 31]);
    }
    while (!digits.empty() && digits.back() == '0') {
        digits.pop_back();
    }
    const auto zero_bytes =
        std::find_if(data.begin(), data.end(), [](auto b) { return b != 0; }) - data.begin();
    digits.append(static_cast<std::size_t>(zero_bytes), '0');
    std::reverse(digits.begin(), digits.end());
    return digits;
}

Result<Bytes> c32_decode(std::string_view text) {
    Bytes bytes;  // least significant first
    unsigned carry = 0;
    int carry_bits = 0;
    for (auto it = text.rbegin(); it != text.rend(); ++it) {
        const int v = c32_value(*it);
        if (v < 0) {
            return Error(ErrorCode::kInvalidArgument, "'" + std::string(1, *it) +
                                                          "' is not a c32 digit in \"" +
                                                          std::string(text) + "\"");
        }
        carry |= static_cast<unsigned>(v) << carry_bits;
        carry_bits += 5;
        if (carry_bits >= 8) {
            bytes.push_back(static_cast<std::uint8_t>(carry & 0xff));
            carry >>= 8;
            carry_bits -= 8;
        }
    }
    if (carry_bits > 0 && carry != 0) {
        bytes.push_back(static_cast<std::uint8_t>(carry));
    }
    while (!bytes.empty() && bytes.back() == 0) {
        bytes.pop_back();
    }
    const auto zero_digits =
        std::find_if(text.begin(), text.end(), [](char c) { return c32_value(c) != 0; }) -
        text.begin();
    bytes.insert(bytes.end(), static_cast<std::size_t>(zero_digits), 0);
    std::reverse(bytes.begin(), bytes.end());
    return bytes;
}

std::string Address::to_string() const {
    Bytes data(hash.begin(), hash.end());
    const auto sum = checksum(version, hash);
    data.insert(data.end(), sum.begin(), sum.end());
    return std::string("S") + kAlphabet[version & 31] + c32_encode(data);
}

Result<Address> parse_address(std::string_view text) {
    const auto bad = [&](const std::string& why) {
        return Error(ErrorCode::kInvalidArgument,
                     "\"" + std::string(text) + "\" is not a Stacks address: " + why);
    };
    if (text.size() < 5 || text.size() > 64 || (text[0] != 'S' && text[0] != 's')) {
        return bad("it must start with S and be 5 to 64 characters");
    }
    const int version = c32_value(text[1]);
    if (version < 0) {
        return bad("bad version character");
    }
    auto data = c32_decode(text.substr(2));
    if (!data) {
        return bad(data.error().message());
    }
    if (data->size() != 24) {
        return bad("it decodes to " + std::to_string(data->size()) + " bytes, not 20 + 4");
    }
    Address addr;
    addr.version = static_cast<std::uint8_t>(version);
    std::copy_n(data->begin(), 20, addr.hash.begin());
    const auto sum = checksum(addr.version, addr.hash);
    if (!std::equal(sum.begin(), sum.end(), data->begin() + 20)) {
        return bad("checksum mismatch (a typo?)");
    }
    return addr;
}

}  // namespace medanchor::stacks
