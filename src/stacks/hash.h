// The digests Stacks uses: SHA-256, SHA-512/256 (transaction ids and sighashes), and HASH160
// (RIPEMD-160 of SHA-256: the 20 bytes of an address). All through OpenSSL.
#pragma once

#include <array>
#include <cstdint>

#include "stacks/bytes.h"

namespace medanchor::stacks {

using Hash32 = std::array<std::uint8_t, 32>;
using Hash20 = std::array<std::uint8_t, 20>;

Hash32 sha256(ByteView data);
Hash32 sha512_256(ByteView data);
Hash20 hash160(ByteView data);

}  // namespace medanchor::stacks
