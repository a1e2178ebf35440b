// PNG, JPEG and TIFF decoding through OpenCV imgcodecs. The only file that includes OpenCV.
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

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

    cv::Mat decoded;
    try {
        const cv::Mat input(1, static_cast<int>(bytes.size()), CV_8U,
                            const_cast<std::uint8_t*>(bytes.data()));
        decoded = cv::imdecode(input, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        return fail(ErrorCode::kCorrupt, name,
                    std::string("cannot decode ") + source_format_name(format) + ": " + e.what());
    }
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
