#include "image/reader.h"

#include <algorithm>
#include <array>
#include <cstring>

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

Result<std::vector<std::uint8_t>> read_file_bytes(const std::filesystem::path& path,
                                                  std::size_t max_bytes) {
    return read_regular_file(path, max_bytes);
}

Magic sniff_magic(std::span<const std::uint8_t> bytes) {
    auto starts = [&](std::size_t offset, std::initializer_list<std::uint8_t> magic) {
        return bytes.size() >= offset + magic.size() &&
               std::equal(magic.begin(), magic.end(), bytes.begin() + offset);
    };
    if (starts(128, {'D', 'I', 'C', 'M'}))
        return Magic::kDicom;
    if (starts(0, {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}))
        return Magic::kPng;
    if (starts(0, {0xFF, 0xD8, 0xFF}))
        return Magic::kJpeg;
    if (starts(0, {'I', 'I', 0x2A, 0x00}) || starts(0, {'M', 'M', 0x00, 0x2A})) {
        return Magic::kTiff;
    }
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
        case Magic::kUnknown:
            break;
    }
    if (bytes.empty()) {
        return Error(ErrorCode::kCorrupt, std::string(name) + ": empty file");
    }
    return Error(ErrorCode::kCorrupt,
                 std::string(name) +
                     ": unrecognised format (no DICOM Part 10 'DICM' magic at offset 128, "
                     "and not PNG, JPEG or TIFF)");
}

Result<Image> read_image(const std::filesystem::path& path, const DecodeLimits& limits) {
    auto bytes = read_file_bytes(path, limits.max_file_bytes);
    if (!bytes) {
        return bytes.error();
    }
    return decode_image(*bytes, path.string(), limits);
}

}  // namespace medanchor::image
