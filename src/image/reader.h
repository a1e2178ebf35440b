// Reading images from untrusted bytes. Every function here is total over its input: bad bytes
// come back as an Error whose message starts with the file's name and says what is wrong;
// nothing here asserts on input or allocates more than DecodeLimits allow.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "image/image.h"

namespace medanchor::image {

// Reads a whole file into memory, refusing files over max_bytes before reading them. Error
// messages name the path escaped for display (common/encoding.h escape_for_display).
Result<std::vector<std::uint8_t>> read_file_bytes(const std::filesystem::path& path,
                                                  std::size_t max_bytes);

// Which decoder the bytes call for, from their magic numbers alone (never the file name):
// DICOM Part 10 ("DICM" at offset 128), a DICOM data set without the preamble (a first element
// in group 0002 or 0008), PNG, JPEG (FF D8 FF), TIFF (II*\0 or MM\0*). kTruncatedDicom: a file
// that ends inside the "DICM" magic (whatever its preamble holds, e.g. a TIFF header).
enum class Magic { kDicom, kPng, kJpeg, kTiff, kTruncatedDicom, kUnknown };
Magic sniff_magic(std::span<const std::uint8_t> bytes);

// Decodes a DICOM file (Part 10, or a data set without preamble and meta whose transfer syntax
// is detected as DCMTK does) of any transfer syntax we read (implicit/explicit little endian,
// explicit big endian, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000).
// What it tolerates is listed in Image::info.warnings. `name` is used only in messages and must
// already be fit to print. (dicom.cpp, the one file that uses GDCM for reading.)
Result<Image> decode_dicom(std::span<const std::uint8_t> bytes, std::string_view name,
                           const DecodeLimits& limits = {});

// Decodes PNG, JPEG or TIFF through OpenCV (raster.cpp, the one file that uses OpenCV).
// Colour comes out as RGB (or RGBA), not OpenCV's BGR.
Result<Image> decode_raster(std::span<const std::uint8_t> bytes, std::string_view name,
                            const DecodeLimits& limits = {});

// Dispatches on the magic number.
Result<Image> decode_image(std::span<const std::uint8_t> bytes, std::string_view name,
                           const DecodeLimits& limits = {});

// read_file_bytes + decode_image; error messages name `path`, escaped for display.
Result<Image> read_image(const std::filesystem::path& path, const DecodeLimits& limits = {});

}  // namespace medanchor::image
