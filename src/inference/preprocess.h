// The preprocessing pipeline: from one image frame in modality units to the input tensor a
// bundle's manifest asks for, deterministically, recording every step with its parameters so a
// report can say exactly what the network saw (docs/model-bundle.md, "Preprocessing").
//
// The inference layer does not include the image layer (layers meet in app): app turns a decoded
// image (Modality LUT applied, one frame chosen) into a ModalityImage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "inference/model_bundle.h"
#include "inference/tensor.h"

namespace medanchor::inference {

// One frame in modality units (Hounsfield units for CT), ready for windowing. Carries no
// identity: only geometry, values, the modality code and the first VOI window.
struct ModalityImage {
    int rows = 0;
    int columns = 0;
    int channels = 0;           // 1 (grey) or 3 (RGB)
    std::vector<float> values;  // rows * columns * channels, row-major, samples interleaved
    std::string modality;       // DICOM Modality (CT, MR, ...); "" for PNG/JPEG/TIFF
    bool invert = false;        // MONOCHROME1: inverted (1 - x) after windowing
    bool has_window = false;    // the file's first Window Center/Width, for window "dicom"
    double window_center = 0.0;
    double window_width = 0.0;
    std::string source;              // what to call the image in error messages (a file name)
    std::vector<std::string> steps;  // steps already applied upstream (frame, Modality LUT)
};

// What preprocess() produces.
struct PreparedInput {
    Tensor tensor;                   // input.channels x input.height x input.width
    std::vector<std::string> steps;  // the image's own steps, then ours, in order
    // The windowed image at the image's own size, one channel (luminance for colour), clamped
    // to [0,1] and scaled to 0..255 as the saliency overlay's background shows it: a quarter of
    // the float image's memory while it waits for inference.
    int display_rows = 0;
    int display_columns = 0;
    std::vector<std::uint8_t> display;
    // The part of the input tensor the image occupies (the whole input for "stretch"; the
    // centred, aspect-preserving rectangle for "letterbox"), in input pixels.
    int content_x = 0;
    int content_y = 0;
    int content_width = 0;
    int content_height = 0;
};

// Luminance weights (ITU-R BT.601) for colour images fed to a 1-channel network.
inline constexpr float kLumaR = 0.299f;
inline constexpr float kLumaG = 0.587f;
inline constexpr float kLumaB = 0.114f;

// Order: [colour -> luminance when input.channels is 1] -> window to [0,1] -> [invert for
// MONOCHROME1] -> resize (stretch or letterbox, padding 0) -> channel fill (replicate grey) ->
// normalise per channel. Thread-safe (no shared state; OpenCV's resize may use its own threads).
// Errors (each message starts with image.source): kUnsupported for a modality the bundle does
// not accept, a "dicom" window on an image without one, or a colour image for a network whose
// channel count is neither 1 nor 3; kInvalidArgument for an empty or inconsistent image.
Result<PreparedInput> preprocess(const ModalityImage& image, const ModelManifest& manifest);
// The same, windowing the image's values in place (no copy of a large image); without the
// display image when `display` is false (a run without saliency: half the float image's memory
// less at the peak of a large image).
Result<PreparedInput> preprocess(ModalityImage&& image, const ModelManifest& manifest,
                                 bool display = true);

// The value at percentile p (0..100) of `values`, interpolating linearly between the closest
// ranks (numpy's default). REQUIRES: !values.empty().
double percentile(std::vector<float> values, double p);

}  // namespace medanchor::inference
