// Model bundles (docs/model-bundle.md): a folder holding model.onnx and model.json, the manifest
// that says what the network computes, what it expects as input, how to get there from an image,
// and how to read its output. A bundle comes from outside (a user's trained model), so loading it
// is total: every problem comes back as an Error naming model.json (or model.onnx) and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::inference {

// The one manifest format this build reads; anything else is refused (kUnsupported).
inline constexpr std::string_view kManifestFormat = "medanchor-model/1";

enum class Activation { kSoftmax, kSigmoid };
enum class OutputKind { kLogits, kProbabilities };
enum class WindowType { kFixed, kPercentile, kDicom, kNone };
enum class ResizePolicy { kStretch, kLetterbox };
enum class Interpolation { kArea, kLinear, kNearest };

struct Label {
    std::string code;     // [A-Za-z0-9._:-]{1,32}: the contract's finding-code charset
    std::string display;  // human text, 1..128 printable characters
};

struct InputSpec {
    std::string name;  // the ONNX graph input
    int channels = 0;  // 1..16
    int height = 0;    // 1..4096
    int width = 0;     // 1..4096
};

struct OutputSpec {
    std::string name;  // the ONNX graph output
    OutputKind kind = OutputKind::kLogits;
};

// How modality values become [0,1]: see docs/model-bundle.md, "window".
struct WindowSpec {
    WindowType type = WindowType::kFixed;
    double center = 0.0;  // kFixed
    double width = 0.0;   // kFixed, > 0
    double low = 0.0;     // kPercentile, 0 <= low < high <= 100
    double high = 0.0;    // kPercentile
    double scale = 1.0;   // kNone, > 0
};

struct Preprocessing {
    std::vector<std::string> modalities;  // DICOM modalities accepted; "*" accepts any
    WindowSpec window;
    ResizePolicy resize = ResizePolicy::kStretch;
    Interpolation interpolation = Interpolation::kArea;
    std::vector<float> mean;  // one value, or one per input channel
    std::vector<float> std;   // likewise; every value > 0
};

struct Calibration {
    bool temperature_scaling = false;  // method "temperature"; false for "none"
    double temperature = 1.0;          // > 0; 1.0 when method is "none"
};

struct ModelManifest {
    std::string name;          // [A-Za-z0-9._-]{1,64}
    std::string version;       // [A-Za-z0-9._-]{1,32}
    std::string model_sha256;  // 64 lowercase hex digits (normalised on parse)
    Activation activation = Activation::kSoftmax;
    std::vector<Label> labels;  // softmax: at least 2; sigmoid: at least 1; codes unique
    InputSpec input;
    OutputSpec output;
    Preprocessing preprocessing;
    Calibration calibration;
    int min_confidence_bp = 0;    // 0..10000
    std::string provenance_json;  // the provenance object, compact JSON, for reports

    // True if an image of `modality` ("" for PNG/JPEG/TIFF) is accepted: "*" is listed, the
    // modality is listed, or the modality is empty and "OT" is listed.
    bool accepts_modality(std::string_view modality) const;
};

// Parses and validates manifest text. `source` (normally the path of model.json) starts every
// error message, followed by the field: "<source>: preprocessing.window.width must be > 0".
// Errors: kUnsupported for an unknown "format"; kCorrupt for anything else malformed.
Result<ModelManifest> parse_model_manifest(std::string_view json_text, std::string_view source);

// A loaded bundle: the validated manifest and the bytes of model.onnx, whose SHA-256 matched
// manifest.model_sha256. Engines build their networks from these bytes (not by reopening the
// file), so the network that runs is the one that was hashed.
struct ModelBundle {
    std::filesystem::path dir;
    ModelManifest manifest;
    std::vector<std::uint8_t> onnx;
};

// Reads dir/model.json and dir/model.onnx (each bounded in size), validates the manifest and
// checks the hash. Errors: kNotFound (no folder, no model.json, no model.onnx), kIo, kTooLarge,
// kCorrupt (bad manifest, hash mismatch), kUnsupported (unknown format).
Result<ModelBundle> load_model_bundle(const std::filesystem::path& dir);

// SHA-256 of `bytes` as 64 lowercase hex digits (OpenSSL).
std::string sha256_hex(const std::vector<std::uint8_t>& bytes);

const char* activation_name(Activation a);
const char* window_type_name(WindowType t);
const char* resize_policy_name(ResizePolicy p);
const char* interpolation_name(Interpolation i);

}  // namespace medanchor::inference
