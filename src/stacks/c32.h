// Crockford-style base-32 (c32) and c32check: the text form of Stacks addresses, e.g.
// ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM = "S" + version + c32(hash160 || checksum).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "stacks/bytes.h"
#include "stacks/hash.h"

namespace medanchor::stacks {

// Address versions: single-signature (P2PKH) and multi-signature (P2SH), per network.
inline constexpr std::uint8_t kMainnetSingleSig = 22;  // 'P'
inline constexpr std::uint8_t kMainnetMultiSig = 20;   // 'M'
inline constexpr std::uint8_t kTestnetSingleSig = 26;  // 'T'
inline constexpr std::uint8_t kTestnetMultiSig = 21;   // 'N'

// A standard principal: version and the HASH160 of the public key (or script).
struct Address {
    std::uint8_t version = 0;
    Hash20 hash{};

    std::string to_string() const;
    bool operator==(const Address&) const = default;
};

// The c32 digits of a big-endian number, one leading '0' per leading zero byte.
std::string c32_encode(ByteView data);
// Inverse of c32_encode; accepts lower case and the Crockford look-alikes O/o (0), I/i/L/l (1).
Result<Bytes> c32_decode(std::string_view text);

// Parses and verifies (checksum, version < 32, 20-byte hash) an address like "ST...".
Result<Address> parse_address(std::string_view text);

}  // namespace medanchor::stacks
