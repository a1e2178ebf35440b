#include "image/reader.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "common/encoding.h"
#include "common/file_io.h"

namespace medanchor::image {

const char* source_format_name(SourceFormat format) {
    switch (format) {
        case SourceFormat::kDicom:
            return "DICOM";
        case SourceFormat::kPng:
            return "PNG";
        case SourceFormat::kJpeg:
            return "JPEG";
        case SourceFormat::kTiff:
            return "TIFF";
    }
    return "unknown";
}

const char* warning_name(WarningKind kind) {
    switch (kind) {
        case WarningKind::kNoPreamble:
            return "no-preamble";
        case WarningKind::kFramesAssumed:
            return "frames-assumed";
        case WarningKind::kBigEndianWordOrder:
            return "big-endian-word-order";
        case WarningKind::kBurnedInValue:
            return "burned-in-value";
    }
    return "unknown";
}

BurnedInReading read_burned_in(std::string_view raw) {
    BurnedInReading reading;
    bool any_yes = false;
    bool all_no = true;
    bool any_value = false;
    std::size_t start = 0;
    while (start <= raw.size()) {
        std::size_t end = raw.find('\\', start);
        if (end == std::string_view::npos)
            end = raw.size();
        std::string token(raw.substr(start, end - start));
        token.erase(std::remove_if(token.begin(), token.end(),
                                   [](char c) { return c == ' ' || c == '\0'; }),
                    token.end());
        if (!token.empty()) {
            any_value = true;
            if (token != "YES" && token != "NO")
                reading.standard = false;
            std::transform(token.begin(), token.end(), token.begin(),
                           [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
            any_yes = any_yes || token == "YES";
            all_no = all_no && token == "NO";
        }
        start = end + 1;
    }
    if (!any_value)
        return {};
    // Several values are not "exactly YES or NO" even when each is.
    if (raw.find('\\') != std::string_view::npos)
        reading.standard = false;
    reading.value = any_yes || !all_no ? BurnedIn::kYes : BurnedIn::kNo;
    return reading;
}

Result<std::vector<std::uint8_t>> read_file_bytes(const std::filesystem::path& path,
                                                  std::size_t max_bytes) {
    auto bytes = read_regular_file(path, max_bytes);
    if (bytes)
        return bytes;
    // read_regular_file names the path as it is; a name with control characters must not reach
    // a terminal or log raw.
    const std::string raw = path.string() + ": ";
    const std::string& message = bytes.error().message();
    if (message.rfind(raw, 0) == 0) {
        return Error(bytes.error().code(),
                     escape_for_display(path.string()) + ": " + message.substr(raw.size()));
    }
    return Error(bytes.error().code(), escape_for_display(message));
}

namespace {

bool starts(std::span<const std::uint8_t> bytes, std::size_t offset,
            std::initializer_list<std::uint8_t> magic) {
    return bytes.size() >= offset + magic.size() &&
           std::equal(magic.begin(), magic.end(), bytes.begin() + offset);
}

// A DICOM data set without the Part 10 preamble: its first element is in group 0002 (file meta
// without preamble) or 0008 (a bare data set, as older archives and ACR-NEMA-era tools store
// them), in either byte order, followed by an explicit VR or a plausible implicit length. The
// gate (dicom_gate.cpp) then decides the transfer syntax as DCMTK does, or refuses the bytes.
bool looks_like_bare_dicom(std::span<const std::uint8_t> bytes) {
    if (bytes.size() < 8)
        return false;
    const std::uint16_t le = std::uint16_t(bytes[0] | bytes[1] << 8);
    const std::uint16_t be = std::uint16_t(bytes[0] << 8 | bytes[1]);
    const bool group_ok = le == 0x0002 || le == 0x0008 || be == 0x0002 || be == 0x0008;
    if (!group_ok)
        return false;
    if (std::isupper(bytes[4]) && std::isupper(bytes[5]))
        return true;  // an explicit VR
    const std::uint64_t length = std::uint64_t(bytes[4]) | std::uint64_t(bytes[5]) << 8 |
                                 std::uint64_t(bytes[6]) << 16 | std::uint64_t(bytes[7]) << 24;
    return le == 0x0008 && length <= bytes.size() - 8;  // implicit VR little endian
}

// 129 to 131 bytes, the last of them the start of "DICM": a Part 10 file cut inside its magic.
bool ends_inside_dicm(std::span<const std::uint8_t> bytes) {
    return bytes.size() > 128 && bytes.size() < 132 &&
           std::equal(bytes.begin() + 128, bytes.end(), "DICM");
}

}  // namespace

Magic sniff_magic(std::span<const std::uint8_t> bytes) {
    if (starts(bytes, 128, {'D', 'I', 'C', 'M'}))
        return Magic::kDicom;
    if (starts(bytes, 0, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}))
        return Magic::kPng;
    if (starts(bytes, 0, {0xFF, 0xD8, 0xFF}))
        return Magic::kJpeg;
    if (starts(bytes, 0, {'I', 'I', 0x2A, 0x00}) || starts(bytes, 0, {'M', 'M', 0x00, 0x2A})) {
        // PS3.10 lets the 128-byte preamble hold a TIFF header (dual-personality files): a file
        // cut short before or inside "DICM" is a truncated DICOM file, not a broken TIFF.
        if (ends_inside_dicm(bytes))
            return Magic::kTruncatedDicom;
        return Magic::kTiff;
    }
    if (ends_inside_dicm(bytes))
        return Magic::kTruncatedDicom;
    if (looks_like_bare_dicom(bytes))
        return Magic::kDicom;
    return Magic::kUnknown;
}

Result<Image> decode_image(std::span<const std::uint8_t> bytes, std::string_view name,
                           const DecodeLimits& limits) {
    switch (sniff_magic(bytes)) {
        case Magic::kDicom:
            return decode_dicom(bytes, name, limits);
        case Magic::kPng:
        case Magic::kJpeg:
        case Magic::kTiff:
            return decode_raster(bytes, name, limits);
        case Magic::kTruncatedDicom:
            return Error(ErrorCode::kCorrupt,
                         std::string(name) +
                             ": truncated DICOM file (it ends inside the 'DICM' "
                             "magic at offset 128)");
        case Magic::kUnknown:
            break;
    }
    if (bytes.empty()) {
        return Error(ErrorCode::kCorrupt, std::string(name) + ": empty file");
    }
    return Error(ErrorCode::kCorrupt,
                 std::string(name) +
                     ": unrecognised format (not DICOM: no 'DICM' magic at offset 128 and no "
                     "data set at offset 0; not PNG, JPEG or TIFF)");
}

Result<Image> read_image(const std::filesystem::path& path, const DecodeLimits& limits) {
    auto bytes = read_file_bytes(path, limits.max_file_bytes);
    if (!bytes) {
        return bytes.error();
    }
    return decode_image(*bytes, escape_for_display(path.string()), limits);
}

}  // namespace medanchor::image
