// The canonical image hash (specified in docs/image-hash.md): a digest of the image's geometry,
// pixel representation and stored sample values in one fixed layout, so the same pixels hash the
// same whatever the file's encoding, byte order or metadata.
//   public: SHA-256 of the canonical form; anyone can recompute it from the image.
//   keyed:  HMAC-SHA-256 of the canonical form under the site secret; the default for anything
//           that goes on chain, so a public digest cannot be used to test "is this the image of
//           patient X?" against a guessed image.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "image/image.h"
#include "image/site_key.h"

namespace medanchor::image {

enum class HashMode { kPublic, kKeyed };

// Bytes of the canonical header that precedes the pixel bytes.
inline constexpr std::size_t kCanonicalHeaderSize = 60;
// The magic and version of the canonical form; a new layout gets a new string.
inline constexpr char kCanonicalMagic[] = "MEDANCHOR-IMG-V1";

struct ImageHash {
    HashMode mode = HashMode::kPublic;
    std::array<std::uint8_t, 32> digest{};

    std::string hex() const;
    // "sha256" or "hmac-sha256"
    const char* mode_name() const;
    // "<mode_name>:<hex>", the text form printed by the CLI and stored off chain.
    std::string to_string() const { return std::string(mode_name()) + ":" + hex(); }
    bool operator==(const ImageHash&) const = default;
};

// The canonical header for `g` (docs/image-hash.md, "Canonical form").
// REQUIRES: pixel_bytes == g.pixel_bytes() for the header to describe a real image.
std::array<std::uint8_t, kCanonicalHeaderSize> canonical_header(const Geometry& g,
                                                                std::uint64_t pixel_bytes);

// Hashes header || image.pixels. `key` selects keyed mode; nullptr selects public mode.
// Thread-safe; allocates nothing proportional to the image.
ImageHash hash_image(const Image& image, const SiteKey* key);

// The same digests over arbitrary bytes (used for test vectors and benchmarks).
std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> bytes);
std::array<std::uint8_t, 32> hmac_sha256(const SiteKey& key, std::span<const std::uint8_t> bytes);

std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace medanchor::image
