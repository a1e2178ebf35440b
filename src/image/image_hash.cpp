#include "image/image_hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>

#include "common/encoding.h"

namespace medanchor::image {
namespace {

void put_le(std::uint8_t* out, std::uint64_t value, std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i)
        out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

struct MdCtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacFree {
    void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// One-shot digest over a list of byte ranges. OpenSSL failures here are allocation failures or a
// broken installation, not input errors: they abort.
std::array<std::uint8_t, 32> digest_parts(
    std::initializer_list<std::span<const std::uint8_t>> parts, const SiteKey* key) {
    std::array<std::uint8_t, 32> out{};
    if (key == nullptr) {
        std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
        unsigned len = 0;
        if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
            std::abort();
        for (auto part : parts) {
            if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1)
                std::abort();
        }
        if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) {
            std::abort();
        }
        return out;
    }
    static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr)
        std::abort();
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(mac));
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end()};
    if (!ctx || EVP_MAC_init(ctx.get(), key->bytes().data(), key->bytes().size(), params) != 1) {
        std::abort();
    }
    for (auto part : parts) {
        if (EVP_MAC_update(ctx.get(), part.data(), part.size()) != 1)
            std::abort();
    }
    std::size_t len = 0;
    if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1 || len != out.size()) {
        std::abort();
    }
    return out;
}

}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
    return medanchor::to_hex(bytes);
}

std::string ImageHash::hex() const {
    return to_hex(digest);
}

const char* ImageHash::mode_name() const {
    return mode == HashMode::kKeyed ? "hmac-sha256" : "sha256";
}

std::array<std::uint8_t, kCanonicalHeaderSize> canonical_header(const Geometry& g,
                                                                std::uint64_t pixel_bytes) {
    std::array<std::uint8_t, kCanonicalHeaderSize> h{};
    static_assert(sizeof(kCanonicalMagic) - 1 == 16);
    std::memcpy(h.data(), kCanonicalMagic, 16);
    put_le(h.data() + 16, g.rows, 4);
    put_le(h.data() + 20, g.columns, 4);
    put_le(h.data() + 24, g.frames, 4);
    put_le(h.data() + 28, g.samples_per_pixel, 2);
    put_le(h.data() + 30, g.bits_allocated, 2);
    put_le(h.data() + 32, g.bits_stored, 2);
    put_le(h.data() + 34, g.pixel_representation, 2);
    // Photometric interpretation: ASCII, NUL-padded to 16 bytes (the longest defined term,
    // "YBR_PARTIAL_420", has 15), truncated if longer.
    std::memcpy(h.data() + 36, g.photometric.data(),
                std::min<std::size_t>(g.photometric.size(), 16));
    put_le(h.data() + 52, pixel_bytes, 8);
    return h;
}

ImageHash hash_image(const Image& image, const SiteKey* key) {
    const auto header = canonical_header(image.geometry, image.pixels.size());
    ImageHash h;
    h.mode = key == nullptr ? HashMode::kPublic : HashMode::kKeyed;
    h.digest = digest_parts({header, image.pixels}, key);
    return h;
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> bytes) {
    return digest_parts({bytes}, nullptr);
}

std::array<std::uint8_t, 32> hmac_sha256(const SiteKey& key, std::span<const std::uint8_t> bytes) {
    return digest_parts({bytes}, &key);
}

}  // namespace medanchor::image
