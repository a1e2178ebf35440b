#include "image/site_key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cstdlib>

#include "common/encoding.h"
#include "common/file_io.h"
#include "image/image_hash.h"

namespace medanchor::image {
namespace {

// A key file is 64 hex digits and a newline; anything much larger is not one, and is not read.
constexpr std::size_t kMaxFileBytes = 4096;
// 32 bytes from a random generator show at least this many distinct values except with
// probability below 1e-36 (C(256,7) * (7/256)^32); fewer means a key typed or patterned by hand
// (all zero, "0101...", "deadbeef" repeated), which keys nothing.
constexpr std::size_t kMinDistinctBytes = 8;

}  // namespace

SiteKey::~SiteKey() {
    OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

std::filesystem::path SiteKey::default_path() {
    if (const char* env = std::getenv("MEDANCHOR_SITE_KEY_FILE"); env != nullptr && *env != '\0') {
        return env;
    }
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home != nullptr ? home : ".") / ".medanchor" / "site.key";
}

Result<SiteKey> SiteKey::load(const std::filesystem::path& path) {
    const std::string name = path.string();
    auto read = read_secret_file(path, kMaxFileBytes);
    if (!read)
        return read.error();
    std::string& text = *read;
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    std::array<std::uint8_t, kSize> bytes{};
    bool ok = text.size() == 2 * kSize;
    for (std::size_t i = 0; ok && i < kSize; ++i) {
        const int hi = hex_digit(text[2 * i]);
        const int lo = hex_digit(text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        bytes[i] = static_cast<std::uint8_t>(ok ? hi * 16 + lo : 0);
    }
    OPENSSL_cleanse(text.data(), text.size());
    if (!ok) {
        return Error(ErrorCode::kCorrupt,
                     name + ": key file must hold exactly 64 hex digits (a 32-byte key)");
    }
    SiteKey key(bytes);
    std::array<std::uint8_t, 256> seen{};
    std::size_t distinct = 0;
    for (std::uint8_t b : bytes) {
        distinct += seen[b] == 0 ? 1 : 0;
        seen[b] = 1;
    }
    OPENSSL_cleanse(seen.data(), seen.size());
    OPENSSL_cleanse(bytes.data(), bytes.size());
    if (distinct < kMinDistinctBytes) {
        return Error(ErrorCode::kInvalidArgument,
                     name +
                         ": the key has no entropy (all zero or a short repeated pattern); "
                         "make a new one with `medanchor site-key new`");
    }
    return key;
}

Result<SiteKey> SiteKey::create(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::error_code ec;
    if (path.has_parent_path() && !std::filesystem::exists(path.parent_path(), ec)) {
        std::filesystem::create_directories(path.parent_path(), ec);
        if (ec) {
            return Error(ErrorCode::kIo, name + ": cannot create folder: " + ec.message());
        }
        std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
    }
    std::array<std::uint8_t, kSize> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        return Error(ErrorCode::kInternal, name + ": the system random generator failed");
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            return Error(ErrorCode::kInvalidArgument,
                         name + ": already exists; refusing to overwrite a site key");
        }
        return Error(ErrorCode::kIo, name + ": cannot create key file");
    }
    std::string text = to_hex(bytes) + "\n";
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    OPENSSL_cleanse(text.data(), text.size());
    const bool closed = ::close(fd) == 0;
    if (!written || !closed) {
        return Error(ErrorCode::kIo, name + ": cannot write key file");
    }
    SiteKey key(bytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return key;
}

}  // namespace medanchor::image
