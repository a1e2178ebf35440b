// Model bundles (docs/model-bundle.md): a folder holding model.json, the manifest that says what
// the network computes, which engine runs it, what it expects as input, how to get there from an
// image, and how to read its output, beside the network itself: model.onnx (ONNX, run by OpenCV
// dnn), model.ts (TorchScript, run by LibTorch), or both. A bundle comes from outside (a user's
// trained model), so loading it is total: every problem comes back as an Error naming model.json
// (or the network file) and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace medanchor::inference {

// The manifest formats this build reads; anything else is refused (kUnsupported).
//   /1: one network, model.onnx, run by OpenCV dnn; `model_sha256` is its hash.
//   /2: `engine` names the engine that runs by default and `networks` lists the network files
//       the bundle carries with their hashes (model.onnx, model.ts or both).
inline constexpr std::string_view kManifestFormatV1 = "medanchor-model/1";
inline constexpr std::string_view kManifestFormatV2 = "medanchor-model/2";

// The engines, each with the one network format (and file) it runs.
enum class EngineKind {
    kOpenCvDnn,  // "opencv-dnn": model.onnx ("onnx")
    kLibTorch,   // "libtorch": model.ts ("torchscript")
};

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

// A network file the bundle carries, and the SHA-256 its bytes must have.
struct NetworkSpec {
    EngineKind engine;   // the engine that runs this file
    std::string sha256;  // 64 lowercase hex digits (normalised on parse)
};

struct ModelManifest {
    int format = 2;       // the manifest's format version: 1 or 2
    std::string name;     // [A-Za-z0-9._-]{1,64}
    std::string version;  // [A-Za-z0-9._-]{1,32}
    // The engine that runs: the manifest's `engine` (/1: opencv-dnn), or the one a caller chose
    // with load_model_bundle(dir, engine).
    EngineKind engine = EngineKind::kOpenCvDnn;
    std::vector<NetworkSpec> networks;  // the network files carried; one per engine, at least one
    // The SHA-256 of the network that runs (networks' entry for `engine`): the model's identity
    // in reports, the ledger and on chain (`admin register-model --bundle`).
    std::string model_sha256;
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

    // The network `engine` runs, or nullptr when the bundle does not carry it.
    const NetworkSpec* network(EngineKind engine) const;
};

// Parses and validates manifest text. `source` (normally the path of model.json) starts every
// error message, followed by the field: "<source>: preprocessing.window.width must be > 0".
// Errors: kUnsupported for an unknown "format"; kCorrupt for anything else malformed.
Result<ModelManifest> parse_model_manifest(std::string_view json_text, std::string_view source);

// A loaded bundle: the validated manifest (its `engine` and `model_sha256` are those of the
// network that runs) and the bytes of that network, whose SHA-256 matched. Engines build their
// networks from these bytes (not by reopening the file), so the network that runs is the one
// that was hashed. A network the chosen engine does not run is not read.
struct ModelBundle {
    std::filesystem::path dir;
    ModelManifest manifest;
    std::filesystem::path network_path;  // dir/model.onnx or dir/model.ts
    std::vector<std::uint8_t> network;
};

// Reads dir/model.json and the network file of the engine that runs (`engine`, default: the one
// the manifest names), each bounded in size; validates the manifest and checks the network's
// hash. Errors: kNotFound (no folder, no model.json, no network file), kIo, kTooLarge, kCorrupt
// (bad manifest, hash mismatch), kUnsupported (unknown format; an engine the bundle carries no
// network for).
Result<ModelBundle> load_model_bundle(const std::filesystem::path& dir,
                                      std::optional<EngineKind> engine = std::nullopt);

// SHA-256 of `bytes` as 64 lowercase hex digits (OpenSSL).
std::string sha256_hex(const std::vector<std::uint8_t>& bytes);

// "opencv-dnn" / "libtorch"; the network format ("onnx" / "torchscript") and file ("model.onnx"
// / "model.ts") each engine runs.
const char* engine_name(EngineKind e);
const char* network_format_name(EngineKind e);
const char* network_file_name(EngineKind e);
// The engine of a name as engine_name() writes it; nullopt for anything else.
std::optional<EngineKind> parse_engine_name(std::string_view name);

const char* activation_name(Activation a);
const char* window_type_name(WindowType t);
const char* resize_policy_name(ResizePolicy p);
const char* interpolation_name(Interpolation i);

}  // namespace medanchor::inference
