// The Modality LUT step: stored sample values to modality units (Hounsfield units for CT), as
// value * Rescale Slope + Rescale Intercept. Kept apart from decoding on purpose: Image::pixels
// are the stored values, which the canonical hash names and which are exact integers; modality
// values are what a model or a window/level step consumes.
#pragma once

#include <cstddef>
#include <vector>

#include "common/error.h"
#include "image/image.h"

namespace medanchor::image {

// The stored value of sample `index` (0-based over all frames, rows, columns, samples),
// honouring sample width and signedness. REQUIRES: index < geometry.samples_per_frame() * frames.
double stored_value(const Image& image, std::size_t index);

// Every sample through the Modality LUT, in the same order as Image::pixels. Refuses colour
// images (kUnsupported: the Modality LUT is defined for single-sample pixels only). Images with
// no rescale come out unchanged (slope 1, intercept 0).
Result<std::vector<float>> apply_modality_lut(const Image& image);

}  // namespace medanchor::image
