// Occlusion sensitivity (Zeiler & Fergus 2014): which parts of the input the reported finding
// depends on, using nothing but forward passes, so it works for any network an engine runs.
// A patch of the input is replaced by the normalised value of 0 (the window's low end), and the
// drop in the finding's calibrated probability is credited to the pixels the patch covered.
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "inference/engine.h"
#include "inference/model_bundle.h"
#include "inference/preprocess.h"

namespace medanchor::inference {

struct SaliencyOptions {
    int patch = 0;   // patch side in input pixels; 0: max(1, input side / 8), per axis
    int stride = 0;  // 0: max(1, patch / 2)
    int batch = 8;   // occluded copies per forward pass
};

// At input resolution (input.height x input.width): the mean drop, over the patches covering
// each pixel, of the label's calibrated probability. Positive where hiding the pixel lowers the
// probability (evidence for the finding); negative where it raises it.
struct SaliencyMap {
    int rows = 0;
    int columns = 0;
    std::vector<float> values;
    std::size_t label = 0;
    double base_probability = 0.0;
    int patch_rows = 0;
    int patch_columns = 0;
    int stride_rows = 0;
    int stride_columns = 0;
    std::size_t forward_passes = 0;
};

// REQUIRES: input was produced by preprocess() for this manifest; label < labels.size().
// Thread safety: uses `engine` (one thread at a time, as Engine requires).
Result<SaliencyMap> occlusion_saliency(Engine& engine, const PreparedInput& input,
                                       const ModelManifest& manifest, std::size_t label,
                                       const SaliencyOptions& options = {});

// The map rendered over the windowed image at the image's own size: grey background, JET
// colour map blended with an alpha proportional to the positive saliency (at most 0.6), as PNG.
Result<std::vector<std::uint8_t>> render_saliency_png(const SaliencyMap& map,
                                                      const PreparedInput& input);

// render_saliency_png, written atomically: a temporary file in the same folder, then rename, so
// a reader never sees half a PNG. Errors: kIo naming `path`.
Status write_saliency_png(const SaliencyMap& map, const PreparedInput& input,
                          const std::filesystem::path& path);

}  // namespace medanchor::inference
