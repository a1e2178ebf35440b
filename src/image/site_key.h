// The site secret: 32 random bytes that key the image hash (HMAC-SHA-256) and the UID remapping
// of de-identification. Stored as 64 lowercase hex digits and a newline, in a file that only its
// owner may read (mode 0600 or stricter). Never printed, never logged.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>

#include "common/error.h"

namespace medanchor::image {

class SiteKey {
  public:
    static constexpr std::size_t kSize = 32;

    // Loads a key file through common/file_io's read_secret_file: (kNoKey) a missing file,
    // (kInvalidArgument) a folder, FIFO or device, without waiting on it, (kPermission) a file
    // that group or others can access, (kTooLarge) one over 4 KiB, (kCorrupt) one that is not
    // exactly 64 hex digits, (kInvalidArgument) a key with fewer than 8 distinct byte values
    // (all zero, a repeated pattern: no entropy).
    static Result<SiteKey> load(const std::filesystem::path& path);

    // Makes a new random key and writes it to `path` with mode 0600, creating missing parent
    // folders with mode 0700. Refuses to overwrite an existing file.
    static Result<SiteKey> create(const std::filesystem::path& path);

    // A key from known bytes (test vectors).
    static SiteKey from_bytes(const std::array<std::uint8_t, kSize>& bytes) {
        return SiteKey(bytes);
    }

    // Where `hash` and `deid` look when no key file is named: $MEDANCHOR_SITE_KEY_FILE, else
    // ~/.medanchor/site.key.
    static std::filesystem::path default_path();

    SiteKey(const SiteKey&) = default;
    SiteKey& operator=(const SiteKey&) = default;
    ~SiteKey();

    std::span<const std::uint8_t> bytes() const { return bytes_; }

  private:
    explicit SiteKey(const std::array<std::uint8_t, kSize>& bytes) : bytes_(bytes) {}
    std::array<std::uint8_t, kSize> bytes_;
};

}  // namespace medanchor::image
