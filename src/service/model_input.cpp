#include "service/model_input.h"

#include <algorithm>
#include <cstdio>

#include "image/modality_lut.h"

namespace medanchor::service {
namespace {

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

}  // namespace

Result<inference::ModalityImage> to_model_input(const image::Image& img, const std::string& source,
                                                std::uint32_t frame) {
    const image::Geometry& g = img.geometry;
    if (frame >= g.frames) {
        return Error(ErrorCode::kInvalidArgument, source + ": no frame " + std::to_string(frame) +
                                                      " (the image has " +
                                                      std::to_string(g.frames) + ")");
    }
    inference::ModalityImage out;
    out.rows = static_cast<int>(g.rows);
    out.columns = static_cast<int>(g.columns);
    out.source = source;
    out.modality = img.info.format == image::SourceFormat::kDicom ? img.info.modality : "";
    out.has_window = img.info.has_window;
    out.window_center = img.info.window_center;
    out.window_width = img.info.window_width;
    if (g.frames > 1)
        out.steps.push_back("frame " + std::to_string(frame) + " of " + std::to_string(g.frames));

    const std::size_t pixels = std::size_t{g.rows} * g.columns;
    const std::size_t base = g.samples_per_frame() * frame;
    if (g.samples_per_pixel == 1) {
        if (g.photometric != "MONOCHROME1" && g.photometric != "MONOCHROME2") {
            return Error(ErrorCode::kUnsupported,
                         source + ": photometric interpretation " + g.photometric +
                             " is not supported for inference (MONOCHROME1/2, RGB, YBR_FULL)");
        }
        out.channels = 1;
        out.invert = g.photometric == "MONOCHROME1";
        const double slope = img.info.rescale_slope;
        const double intercept = img.info.rescale_intercept;
        out.values.resize(pixels);
        for (std::size_t i = 0; i < pixels; ++i) {
            out.values[i] =
                static_cast<float>(image::stored_value(img, base + i) * slope + intercept);
        }
        if (img.info.has_rescale) {
            out.steps.push_back("modality LUT slope=" + num(slope) +
                                " intercept=" + num(intercept) +
                                (img.info.rescale_type.empty() ? "" : " " + img.info.rescale_type));
        }
        return out;
    }
    const bool ybr = g.photometric == "YBR_FULL";
    if (g.samples_per_pixel < 3 || (g.samples_per_pixel == 3 && g.photometric != "RGB" && !ybr)) {
        return Error(ErrorCode::kUnsupported,
                     source + ": photometric interpretation " + g.photometric + " with " +
                         std::to_string(g.samples_per_pixel) +
                         " samples per pixel is not supported for inference");
    }
    out.channels = 3;
    out.values.resize(pixels * 3);
    const std::size_t spp = g.samples_per_pixel;
    // YBR_FULL to RGB (PS3.3 C.7.6.3.1.2), around the mid value of the sample range.
    const double mid = static_cast<double>(1u << (g.bits_stored - 1));
    for (std::size_t i = 0; i < pixels; ++i) {
        const double a = image::stored_value(img, base + i * spp);
        const double b = image::stored_value(img, base + i * spp + 1);
        const double c = image::stored_value(img, base + i * spp + 2);
        float* o = &out.values[i * 3];
        if (ybr) {
            o[0] = static_cast<float>(a + 1.402 * (c - mid));
            o[1] = static_cast<float>(a - 0.344136 * (b - mid) - 0.714136 * (c - mid));
            o[2] = static_cast<float>(a + 1.772 * (b - mid));
        } else {
            o[0] = static_cast<float>(a);
            o[1] = static_cast<float>(b);
            o[2] = static_cast<float>(c);
        }
    }
    if (ybr)
        out.steps.push_back("YBR_FULL->RGB");
    if (spp == 4)
        out.steps.push_back("alpha dropped");
    return out;
}

}  // namespace medanchor::service
