// PNG, JPEG and TIFF decoding: JPEG and TIFF through OpenCV imgcodecs (its module, loaded on first
// use: src/codecs/opencv_codecs.h), PNG through libpng directly (the only file that includes it).
// PNG is read here rather than by OpenCV because OpenCV installs no error handler in libpng, whose
// default one prints "libpng error: ..." and "libpng warning: ..." on stderr for every damaged
// file; here libpng's messages come back as the Error's text. The PNG reading applies the same
// libpng transformations OpenCV applies for IMREAD_UNCHANGED, so the samples (and the image hash)
// are the ones OpenCV gave; the tests check that against OpenCV for every PNG colour type and bit
// depth.
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>  // the IMREAD_ flags (decoded by the codecs module)

#include "codecs/opencv_codecs.h"
#include "image/reader.h"

namespace medanchor::image {
namespace {

Error fail(ErrorCode code, std::string_view name, const std::string& what) {
    return Error(code, std::string(name) + ": " + what);
}

std::uint32_t be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

// libpng's reading state: the bytes, where it is, and the first error or warning text.
struct PngSource {
    std::span<const std::uint8_t> bytes;
    std::size_t at = 0;
    std::string error;
};

void png_read_bytes(png_structp png, png_bytep out, png_size_t length) {
    auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
    if (length > source->bytes.size() - source->at)
        png_error(png, "the file ends inside a chunk (truncated)");
    std::memcpy(out, source->bytes.data() + source->at, length);
    source->at += length;
}

[[noreturn]] void png_on_error(png_structp png, png_const_charp message) {
    auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
    source->error = message != nullptr ? message : "unknown libpng error";
    png_longjmp(png, 1);
}

// libpng's warnings (a damaged ancillary chunk, an odd colour profile) describe data it skipped
// or repaired without touching the pixels: tolerated silently, as OpenCV's reading does.
void png_on_warning(png_structp, png_const_charp) {}

// The PNG as OpenCV's imdecode(IMREAD_UNCHANGED) returns it (grfmt_png.cpp): grey stays one
// channel (1, 2 and 4-bit expanded to 8), grey+alpha becomes RGBA, palette becomes RGB, and
// RGB or palette images with a tRNS chunk become RGBA; 16-bit samples stay 16-bit. Interleaved,
// RGB order (not OpenCV's BGR), little-endian 16-bit.
Result<Image> decode_png(std::span<const std::uint8_t> bytes, std::string_view name,
                         const DecodeLimits& limits) {
    PngSource source{bytes, 0, {}};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_on_error, png_on_warning);
    if (png == nullptr)
        return fail(ErrorCode::kInternal, name, "cannot start libpng");
    png_infop info = png_create_info_struct(png);
    struct Cleanup {
        png_structp* png;
        png_infop* info;
        ~Cleanup() { png_destroy_read_struct(png, info, nullptr); }
    } cleanup{&png, &info};
    if (info == nullptr)
        return fail(ErrorCode::kInternal, name, "cannot start libpng");

    // Everything the error path reads is declared before setjmp.
    Image out;
    std::vector<png_bytep> rows;
    if (setjmp(png_jmpbuf(png)) != 0) {
        return fail(ErrorCode::kCorrupt, name, "cannot decode PNG: " + source.error);
    }
    png_set_user_limits(png, 65535, 65535);
    png_set_read_fn(png, &source, png_read_bytes);
    png_read_info(png, info);
    const png_uint_32 width = png_get_image_width(png, info);
    const png_uint_32 height = png_get_image_height(png, info);
    const int bit_depth = png_get_bit_depth(png, info);
    const int colour_type = png_get_color_type(png, info);
    int trans_count = 0;
    if (png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_bytep trans = nullptr;
        png_color_16p trans_values = nullptr;
        png_get_tRNS(png, info, &trans, &trans_count, &trans_values);
    }
    std::uint16_t channels = 1;
    switch (colour_type) {
        case PNG_COLOR_TYPE_RGB:
        case PNG_COLOR_TYPE_PALETTE:
            channels = trans_count > 0 ? 4 : 3;
            break;
        case PNG_COLOR_TYPE_GRAY_ALPHA:
        case PNG_COLOR_TYPE_RGB_ALPHA:
            channels = 4;
            break;
        default:
            channels = 1;
    }
    Geometry& g = out.geometry;
    g.rows = height;
    g.columns = width;
    g.frames = 1;
    g.samples_per_pixel = channels;
    g.bits_allocated = bit_depth == 16 ? 16 : 8;
    g.bits_stored = g.bits_allocated;
    g.pixel_representation = 0;
    g.photometric = channels == 1 ? "MONOCHROME2" : channels == 3 ? "RGB" : "RGBA";
    if (g.pixel_bytes() > limits.max_pixel_bytes)
        return fail(ErrorCode::kTooLarge, name, "decoded image over the size limit");

    if (bit_depth == 16)
        png_set_swap(png);  // PNG is big-endian; the canonical layout is little-endian
    if (channels < 4)
        png_set_strip_alpha(png);
    else
        png_set_tRNS_to_alpha(png);
    if (colour_type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if ((colour_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if ((colour_type & PNG_COLOR_MASK_COLOR) == 0 && channels > 1)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const std::size_t row_bytes = std::size_t{width} * channels * g.sample_bytes();
    if (png_get_rowbytes(png, info) != row_bytes)
        return fail(ErrorCode::kUnsupported, name, "PNG layout not understood");
    out.pixels.resize(g.pixel_bytes());
    rows.resize(height);
    for (png_uint_32 r = 0; r < height; ++r)
        rows[r] = out.pixels.data() + std::size_t{r} * row_bytes;
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);

    out.info.format = SourceFormat::kPng;
    out.info.high_bit = static_cast<std::uint16_t>(g.bits_allocated - 1);
    out.info.photometric_in_file = g.photometric;
    return out;
}

// libjpeg fills the rest of a truncated JPEG with grey and only warns (OpenCV drops the warning),
// so a cut-off file would decode, and hash, as if it were whole. A complete JPEG ends its last
// scan with an End Of Image marker (FF D9): inside entropy-coded data FF is always followed by
// 00 or a restart marker, so an FF D9 after the last Start Of Scan (FF DA) is the end of the main
// image (an embedded thumbnail's markers all come before the main image's scans).
bool jpeg_has_end(std::span<const std::uint8_t> bytes) {
    std::size_t last_scan = 0;
    std::size_t last_end = 0;
    for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
        if (bytes[i] != 0xFF)
            continue;
        if (bytes[i + 1] == 0xDA)
            last_scan = i + 1;
        else if (bytes[i + 1] == 0xD9)
            last_end = i + 1;
    }
    return last_scan != 0 && last_end > last_scan;
}

}  // namespace

Result<Image> decode_raster(std::span<const std::uint8_t> bytes, std::string_view name,
                            const DecodeLimits& limits) {
    const Magic magic = sniff_magic(bytes);
    SourceFormat format;
    switch (magic) {
        case Magic::kPng:
            format = SourceFormat::kPng;
            break;
        case Magic::kJpeg:
            format = SourceFormat::kJpeg;
            break;
        case Magic::kTiff:
            format = SourceFormat::kTiff;
            break;
        default:
            return fail(ErrorCode::kCorrupt, name, "not a PNG, JPEG or TIFF file");
    }
    // PNG states its size up front (IHDR): refuse absurd sizes before OpenCV allocates. For JPEG
    // and TIFF we rely on OpenCV's own pixel-count cap (OPENCV_IO_MAX_IMAGE_PIXELS, 2^30) and
    // check the decoded size below.
    if (format == SourceFormat::kPng) {
        if (bytes.size() < 24)
            return fail(ErrorCode::kCorrupt, name, "truncated PNG header");
        const std::uint64_t width = be32(bytes.data() + 16);
        const std::uint64_t height = be32(bytes.data() + 20);
        if (width == 0 || height == 0) {
            return fail(ErrorCode::kCorrupt, name, "PNG header has zero width or height");
        }
        if (width > 65535 || height > 65535 || width * height * 8 > limits.max_pixel_bytes) {
            return fail(ErrorCode::kTooLarge, name,
                        "PNG header claims " + std::to_string(width) + "x" +
                            std::to_string(height) + " pixels, over the limit");
        }
    }

    if (format == SourceFormat::kPng)
        return decode_png(bytes, name, limits);
    if (format == SourceFormat::kJpeg && !jpeg_has_end(bytes)) {
        return fail(ErrorCode::kCorrupt, name,
                    "truncated JPEG: no End Of Image marker after the last scan");
    }

    auto opened = codecs::imdecode(bytes, cv::IMREAD_UNCHANGED);
    if (!opened) {
        if (opened.error().code() != ErrorCode::kCorrupt)
            return fail(opened.error().code(), name, opened.error().message());
        return fail(ErrorCode::kCorrupt, name,
                    std::string("cannot decode ") + source_format_name(format) + ": " +
                        opened.error().message());
    }
    const cv::Mat decoded = std::move(*opened);
    if (decoded.empty()) {
        return fail(ErrorCode::kCorrupt, name,
                    std::string("cannot decode ") + source_format_name(format) +
                        " (truncated or malformed)");
    }
    const int depth = decoded.depth();
    const int channels = decoded.channels();
    if (depth != CV_8U && depth != CV_16U) {
        return fail(ErrorCode::kUnsupported, name,
                    "sample type other than 8 or 16-bit unsigned integers");
    }
    if (channels != 1 && channels != 3 && channels != 4) {
        return fail(ErrorCode::kUnsupported, name,
                    std::to_string(channels) + " channels (only 1, 3 or 4)");
    }

    Image out;
    Geometry& g = out.geometry;
    g.rows = static_cast<std::uint32_t>(decoded.rows);
    g.columns = static_cast<std::uint32_t>(decoded.cols);
    g.frames = 1;
    g.samples_per_pixel = static_cast<std::uint16_t>(channels);
    g.bits_allocated = depth == CV_8U ? 8 : 16;
    g.bits_stored = g.bits_allocated;
    g.pixel_representation = 0;
    g.photometric = channels == 1 ? "MONOCHROME2" : channels == 3 ? "RGB" : "RGBA";
    out.info.format = format;
    out.info.high_bit = static_cast<std::uint16_t>(g.bits_allocated - 1);
    out.info.photometric_in_file = g.photometric;
    out.info.lossy_source = format == SourceFormat::kJpeg;
    if (g.pixel_bytes() > limits.max_pixel_bytes) {
        return fail(ErrorCode::kTooLarge, name, "decoded image over the size limit");
    }

    // Copy row by row (a Mat may be padded), swapping OpenCV's BGR(A) to RGB(A).
    out.pixels.resize(g.pixel_bytes());
    const std::size_t row_bytes = std::size_t{g.columns} * channels * g.sample_bytes();
    const std::size_t width = g.sample_bytes();
    for (int r = 0; r < decoded.rows; ++r) {
        const std::uint8_t* src = decoded.ptr<std::uint8_t>(r);
        std::uint8_t* dst = out.pixels.data() + std::size_t(r) * row_bytes;
        std::memcpy(dst, src, row_bytes);
        if (channels >= 3) {
            for (std::size_t c = 0; c < g.columns; ++c) {
                std::uint8_t* px = dst + c * channels * width;
                for (std::size_t b = 0; b < width; ++b)
                    std::swap(px[b], px[2 * width + b]);
            }
        }
    }
    return out;
}

}  // namespace medanchor::image
