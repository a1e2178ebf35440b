#include "stacks/bytes.h"

#include "common/encoding.h"

namespace medanchor::stacks {

std::string to_hex(ByteView bytes) {
    return medanchor::to_hex(bytes);
}

std::optional<Bytes> from_hex(std::string_view hex) {
    if (hex.starts_with("0x") || hex.starts_with("0X")) {
        hex.remove_prefix(2);
    }
    return medanchor::from_hex(hex);
}

void put_u8(Bytes& out, std::uint8_t v) {
    out.push_back(v);
}

void put_u32(Bytes& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>(v >> shift));
    }
}

void put_u64(Bytes& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<std::uint8_t>(v >> shift));
    }
}

void put_bytes(Bytes& out, ByteView bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}

void put_string(Bytes& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}

Status ByteReader::need(std::size_t n, std::string_view what) const {
    if (n > remaining()) {
        return Error(ErrorCode::kCorrupt, "truncated " + std::string(what) + " at byte " +
                                              std::to_string(pos_) + ": needs " +
                                              std::to_string(n) + " bytes, " +
                                              std::to_string(remaining()) + " left");
    }
    return Status::Ok();
}

Result<std::uint8_t> ByteReader::u8(std::string_view what) {
    if (auto s = need(1, what); !s)
        return s.error();
    return data_[pos_++];
}

Result<std::uint32_t> ByteReader::u32(std::string_view what) {
    if (auto s = need(4, what); !s)
        return s.error();
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
        v = v << 8 | data_[pos_++];
    return v;
}

Result<std::uint64_t> ByteReader::u64(std::string_view what) {
    if (auto s = need(8, what); !s)
        return s.error();
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = v << 8 | data_[pos_++];
    return v;
}

Result<Bytes> ByteReader::bytes(std::size_t n, std::string_view what) {
    if (auto s = need(n, what); !s)
        return s.error();
    Bytes out(data_.begin() + static_cast<std::ptrdiff_t>(pos_),
              data_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return out;
}

}  // namespace medanchor::stacks
