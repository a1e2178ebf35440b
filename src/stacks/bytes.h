// Byte strings, hex, big-endian integers and a bounds-checked reader: the wire primitives of the
// Stacks consensus encodings (SIP-005), which are all big-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::stacks {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

std::string to_hex(ByteView bytes);
// Accepts an optional "0x" prefix and either case. nullopt on odd length or a non-hex digit.
std::optional<Bytes> from_hex(std::string_view hex);

void put_u8(Bytes& out, std::uint8_t v);
void put_u32(Bytes& out, std::uint32_t v);
void put_u64(Bytes& out, std::uint64_t v);
void put_bytes(Bytes& out, ByteView bytes);
void put_string(Bytes& out, std::string_view s);

// Reads from a byte view without ever reading past its end. Every read reports truncation as
// kCorrupt naming `what`, so a decoder's message says which field was cut short.
class ByteReader {
  public:
    explicit ByteReader(ByteView data) : data_(data) {}

    Result<std::uint8_t> u8(std::string_view what);
    Result<std::uint32_t> u32(std::string_view what);
    Result<std::uint64_t> u64(std::string_view what);
    Result<Bytes> bytes(std::size_t n, std::string_view what);

    std::size_t offset() const { return pos_; }
    std::size_t remaining() const { return data_.size() - pos_; }
    bool at_end() const { return pos_ == data_.size(); }

  private:
    Status need(std::size_t n, std::string_view what) const;

    ByteView data_;
    std::size_t pos_ = 0;
};

}  // namespace medanchor::stacks
