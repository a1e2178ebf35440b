#include "image/modality_lut.h"

#include <cstdint>
#include <cstring>

namespace medanchor::image {

double stored_value(const Image& image, std::size_t index) {
    const Geometry& g = image.geometry;
    const std::uint8_t* p = image.pixels.data() + index * g.sample_bytes();
    const bool is_signed = g.pixel_representation == 1;
    switch (g.sample_bytes()) {
        case 1:
            return is_signed ? double(std::int8_t(p[0])) : double(p[0]);
        case 2: {
            std::uint16_t v;
            std::memcpy(&v, p, 2);
            return is_signed ? double(std::int16_t(v)) : double(v);
        }
        default: {
            std::uint32_t v;
            std::memcpy(&v, p, 4);
            return is_signed ? double(std::int32_t(v)) : double(v);
        }
    }
}

Result<std::vector<float>> apply_modality_lut(const Image& image) {
    const Geometry& g = image.geometry;
    if (g.samples_per_pixel != 1) {
        return Error(ErrorCode::kUnsupported,
                     "Modality LUT applies to single-sample (monochrome) images, this one has " +
                         std::to_string(g.samples_per_pixel) + " samples per pixel");
    }
    const double slope = image.info.rescale_slope;
    const double intercept = image.info.rescale_intercept;
    const std::size_t count = g.samples_per_frame() * g.frames;
    std::vector<float> out(count);
    for (std::size_t i = 0; i < count; ++i) {
        out[i] = static_cast<float>(stored_value(image, i) * slope + intercept);
    }
    return out;
}

}  // namespace medanchor::image
