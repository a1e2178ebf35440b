// Where the image and inference layers meet: a decoded image becomes the one frame, in modality
// units, that preprocessing takes. Only geometry, sample values, the modality code and the first
// VOI window cross over; nothing that could carry identity exists in either type.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "image/image.h"
#include "inference/preprocess.h"

namespace medanchor::service {

// Frame `frame` of `img` (frame 0 by default: multi-frame images are classified on their first
// frame), through the Modality LUT (stored * slope + intercept, as image::apply_modality_lut,
// for that frame only). MONOCHROME1 is marked for inversion; YBR_FULL is converted to RGB; RGBA
// rasters lose their alpha. `source` names the image in errors.
// Errors: kUnsupported (PALETTE COLOR, other photometrics), kInvalidArgument (no such frame).
Result<inference::ModalityImage> to_model_input(const image::Image& img, const std::string& source,
                                                std::uint32_t frame = 0);
// The same from an image that is no longer needed: `img.pixels` is left empty, whatever the
// outcome. A grey image's pixels are given back to the system as they are read (whole pages at
// a time, the frames not chosen at once), so the model input (twice the size of 16-bit pixels)
// and the pixels are never both whole in memory: on a large slice, one pixel size less at the
// peak. A colour image's go at the end.
Result<inference::ModalityImage> to_model_input(image::Image&& img, const std::string& source,
                                                std::uint32_t frame = 0);

}  // namespace medanchor::service
