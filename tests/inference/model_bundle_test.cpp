// Model bundle loading and manifest validation: every broken field is named in the error, the
// SHA-256 of model.onnx is checked, and unknown formats are refused.
#include "inference/model_bundle.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "../image/test_support.h"
#include "test_models.h"

namespace medanchor::inference {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json base_manifest() {
    std::ifstream in(testing::model_dir("tiny-softmax") / "model.json");
    return json::parse(in);
}

Result<ModelManifest> parse_json(const json& j) {
    return parse_model_manifest(j.dump(), "bundle/model.json");
}

TEST(ModelBundle, LoadsTheTestBundles) {
    auto softmax = load_model_bundle(testing::model_dir("tiny-softmax"));
    ASSERT_TRUE(softmax) << softmax.error().message();
    const ModelManifest& m = softmax->manifest;
    EXPECT_EQ(m.name, "tiny-softmax");
    EXPECT_EQ(m.version, "1.0.0");
    EXPECT_EQ(m.activation, Activation::kSoftmax);
    ASSERT_EQ(m.labels.size(), 2u);
    EXPECT_EQ(m.labels[1].code, "class-b");
    EXPECT_EQ(m.labels[1].display, "Class B");
    EXPECT_EQ(m.input.name, "image");
    EXPECT_EQ(m.input.channels, 1);
    EXPECT_EQ(m.input.height, 32);
    EXPECT_EQ(m.output.name, "logits");
    EXPECT_EQ(m.output.kind, OutputKind::kLogits);
    EXPECT_EQ(m.preprocessing.window.type, WindowType::kPercentile);
    EXPECT_DOUBLE_EQ(m.preprocessing.window.low, 0.5);
    EXPECT_EQ(m.preprocessing.resize, ResizePolicy::kStretch);
    EXPECT_EQ(m.preprocessing.interpolation, Interpolation::kArea);
    EXPECT_EQ(m.preprocessing.mean, std::vector<float>{0.5f});
    EXPECT_TRUE(m.calibration.temperature_scaling);
    EXPECT_DOUBLE_EQ(m.calibration.temperature, 1.5);
    EXPECT_EQ(m.min_confidence_bp, 6000);
    EXPECT_NE(m.provenance_json.find("make_test_models.py"), std::string::npos);
    EXPECT_EQ(sha256_hex(softmax->network), m.model_sha256);

    auto sigmoid = load_model_bundle(testing::model_dir("tiny-sigmoid"));
    ASSERT_TRUE(sigmoid) << sigmoid.error().message();
    EXPECT_EQ(sigmoid->manifest.activation, Activation::kSigmoid);
    EXPECT_EQ(sigmoid->manifest.preprocessing.mean.size(), 3u);
    EXPECT_FALSE(sigmoid->manifest.calibration.temperature_scaling);
    EXPECT_EQ(sigmoid->manifest.preprocessing.resize, ResizePolicy::kLetterbox);
}

TEST(ModelBundle, Sha256MatchesAKnownVector) {
    const std::string abc = "abc";
    EXPECT_EQ(sha256_hex(std::vector<std::uint8_t>(abc.begin(), abc.end())),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ModelBundle, AcceptsEachWindowType) {
    for (const json& window : {json{{"type", "fixed"}, {"center", -600}, {"width", 1500}},
                               json{{"type", "percentile"}, {"low", 0}, {"high", 100}},
                               json{{"type", "dicom"}}, json{{"type", "none"}, {"scale", 255}}}) {
        json j = base_manifest();
        j["preprocessing"]["window"] = window;
        auto m = parse_json(j);
        EXPECT_TRUE(m) << window.dump() << ": " << m.error().message();
    }
}

TEST(ModelBundle, AcceptsUppercaseHashAndNormalisesIt) {
    json j = base_manifest();
    std::string upper = j["model_sha256"];
    for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    j["model_sha256"] = upper;
    auto m = parse_json(j);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->model_sha256, base_manifest()["model_sha256"].get<std::string>());
}

struct BrokenCase {
    const char* what;
    std::function<void(json&)> mutate;
    const char* message;  // expected after "bundle/model.json: "
};

TEST(ModelBundle, NamesTheBrokenField) {
    const std::vector<BrokenCase> cases = {
        {"no name", [](json& j) { j.erase("name"); }, "name is missing"},
        {"bad name", [](json& j) { j["name"] = "bad name!"; }, "name must match"},
        {"long name", [](json& j) { j["name"] = std::string(65, 'a'); }, "name must match"},
        {"empty version", [](json& j) { j["version"] = ""; }, "version must match"},
        {"version type", [](json& j) { j["version"] = 1; }, "version must be a string"},
        {"short hash", [](json& j) { j["model_sha256"] = "abc"; },
         "model_sha256 must be 64 hex digits"},
        {"task type", [](json& j) { j["task"]["type"] = "segmentation"; },
         "task.type must be one of \"classification\""},
        {"activation", [](json& j) { j["task"]["activation"] = "relu"; },
         "task.activation must be one of"},
        {"one softmax label",
         [](json& j) { j["task"]["labels"] = json::array({j["task"]["labels"][0]}); },
         "task.labels must hold 2..1000 labels for softmax"},
        {"label code", [](json& j) { j["task"]["labels"][0]["code"] = "bad code"; },
         "task.labels[0].code must match [A-Za-z0-9._:-]{1,32}"},
        {"long label code", [](json& j) { j["task"]["labels"][0]["code"] = std::string(33, 'x'); },
         "task.labels[0].code must match"},
        {"repeated code",
         [](json& j) { j["task"]["labels"][1]["code"] = j["task"]["labels"][0]["code"]; },
         "task.labels[1].code repeats \"class-a\""},
        {"empty display", [](json& j) { j["task"]["labels"][0]["display"] = ""; },
         "task.labels[0].display must be 1..128 printable characters"},
        {"control in display", [](json& j) { j["task"]["labels"][1]["display"] = "a\x1b[2Jb"; },
         "task.labels[1].display must be 1..128 printable characters"},
        {"label extra", [](json& j) { j["task"]["labels"][0]["colour"] = "red"; },
         "task.labels[0].colour is not a known field"},
        {"layout", [](json& j) { j["input"]["layout"] = "NHWC"; },
         "input.layout must be one of \"NCHW\""},
        {"dtype", [](json& j) { j["input"]["dtype"] = "float16"; },
         "input.dtype must be one of \"float32\""},
        {"channels 0", [](json& j) { j["input"]["channels"] = 0; },
         "input.channels must be in 1..16"},
        {"height fraction", [](json& j) { j["input"]["height"] = 32.5; },
         "input.height must be an integer"},
        {"width string", [](json& j) { j["input"]["width"] = "32"; },
         "input.width must be an integer"},
        {"width huge", [](json& j) { j["input"]["width"] = 1u << 31; },
         "input.width must be in 1..4096"},
        {"input name", [](json& j) { j["input"]["name"] = ""; }, "input.name must be 1..256"},
        {"output kind", [](json& j) { j["output"]["kind"] = "scores"; },
         "output.kind must be one of \"logits\", \"probabilities\""},
        {"no output", [](json& j) { j.erase("output"); }, "output is missing"},
        {"modalities empty", [](json& j) { j["preprocessing"]["modalities"] = json::array(); },
         "preprocessing.modalities must be a non-empty array of strings"},
        {"modality type", [](json& j) { j["preprocessing"]["modalities"] = {7}; },
         "preprocessing.modalities[0] must be a string"},
        {"modality text", [](json& j) { j["preprocessing"]["modalities"] = {"C T"}; },
         "preprocessing.modalities[0] must be \"*\" or a DICOM modality code"},
        {"window width 0",
         [](json& j) {
             j["preprocessing"]["window"] = {{"type", "fixed"}, {"center", 40}, {"width", 0}};
         },
         "preprocessing.window.width must be > 0"},
        {"window centre missing",
         [](json& j) {
             j["preprocessing"]["window"] = {{"type", "fixed"}, {"width", 400}};
         },
         "preprocessing.window.center is missing"},
        {"window centre spelt",
         [](json& j) {
             j["preprocessing"]["window"] = {
                 {"type", "fixed"}, {"centre", 40}, {"center", 40}, {"width", 400}};
         },
         "preprocessing.window.centre is not a known field"},
        {"percentile order",
         [](json& j) {
             j["preprocessing"]["window"] = {{"type", "percentile"}, {"low", 50}, {"high", 40}};
         },
         "preprocessing.window.high must be in (low, 100]"},
        {"percentile low",
         [](json& j) {
             j["preprocessing"]["window"] = {{"type", "percentile"}, {"low", -1}, {"high", 40}};
         },
         "preprocessing.window.low must be in [0, 100)"},
        {"scale",
         [](json& j) {
             j["preprocessing"]["window"] = {{"type", "none"}, {"scale", -1}};
         },
         "preprocessing.window.scale must be > 0"},
        {"dicom extra",
         [](json& j) {
             j["preprocessing"]["window"] = {{"type", "dicom"}, {"width", 3}};
         },
         "preprocessing.window.width is not a known field"},
        {"window type", [](json& j) { j["preprocessing"]["window"]["type"] = "auto"; },
         "preprocessing.window.type must be one of"},
        {"resize policy", [](json& j) { j["preprocessing"]["resize"]["policy"] = "crop"; },
         "preprocessing.resize.policy must be one of \"stretch\", \"letterbox\""},
        {"interpolation", [](json& j) { j["preprocessing"]["resize"]["interpolation"] = "cubic"; },
         "preprocessing.resize.interpolation must be one of"},
        {"std zero", [](json& j) { j["preprocessing"]["normalize"]["std"] = {0}; },
         "preprocessing.normalize.std[0] must be > 0"},
        {"mean count",
         [](json& j) {
             j["preprocessing"]["normalize"]["mean"] = {0.1, 0.2};
         },
         "preprocessing.normalize.mean must hold 1 or input.channels (1) values"},
        {"mean type", [](json& j) { j["preprocessing"]["normalize"]["mean"] = 0.5; },
         "preprocessing.normalize.mean must be an array of numbers"},
        {"channels", [](json& j) { j["preprocessing"]["channels"] = "first"; },
         "preprocessing.channels must be one of \"replicate\""},
        {"temperature 0", [](json& j) { j["calibration"]["temperature"] = 0; },
         "calibration.temperature must be > 0"},
        {"method", [](json& j) { j["calibration"]["method"] = "platt"; },
         "calibration.method must be one of"},
        {"probabilities with temperature", [](json& j) { j["output"]["kind"] = "probabilities"; },
         "calibration.method must be \"none\" when output.kind is \"probabilities\""},
        {"none with temperature",
         [](json& j) {
             j["calibration"] = {{"method", "none"}, {"temperature", 2}};
         },
         "calibration.temperature is not a known field"},
        {"bp range", [](json& j) { j["min_confidence_bp"] = 10001; },
         "min_confidence_bp must be in 0..10000"},
        {"bp negative", [](json& j) { j["min_confidence_bp"] = -1; },
         "min_confidence_bp must be in 0..10000"},
        {"bp fraction", [](json& j) { j["min_confidence_bp"] = 0.6; },
         "min_confidence_bp must be an integer"},
        {"no provenance", [](json& j) { j.erase("provenance"); }, "provenance is missing"},
        {"provenance type", [](json& j) { j["provenance"] = "trust me"; },
         "provenance must be an object"},
        {"unknown key", [](json& j) { j["extra"] = 1; }, "extra is not a known field"},
        {"top level", [](json& j) { j = json::array({j}); }, "(top level) must be a JSON object"},
    };
    for (const auto& c : cases) {
        json j = base_manifest();
        c.mutate(j);
        auto m = parse_json(j);
        ASSERT_FALSE(m) << c.what << ": accepted";
        EXPECT_EQ(m.error().code(), ErrorCode::kCorrupt) << c.what;
        EXPECT_EQ(m.error().message().rfind(std::string("bundle/model.json: ") + c.message, 0), 0u)
            << c.what << ": " << m.error().message();
    }
}

TEST(ModelBundle, ProbabilitiesWithoutCalibrationAreAccepted) {
    json j = base_manifest();
    j["output"]["kind"] = "probabilities";
    j["calibration"] = {{"method", "none"}};
    auto m = parse_json(j);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->output.kind, OutputKind::kProbabilities);
}

TEST(ModelBundle, RefusesAnUnknownFormat) {
    json j = base_manifest();
    j["format"] = "medanchor-model/3";
    auto m = parse_json(j);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(m.error().message(),
              "bundle/model.json: format is \"medanchor-model/3\"; this build reads "
              "\"medanchor-model/1\" and \"medanchor-model/2\" only");
}

TEST(ModelBundle, FormatOneIsOneOnnxNetworkOnOpenCv) {
    auto m = parse_json(base_manifest());
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->format, 1);
    EXPECT_EQ(m->engine, EngineKind::kOpenCvDnn);
    ASSERT_EQ(m->networks.size(), 1u);
    EXPECT_EQ(m->networks[0].engine, EngineKind::kOpenCvDnn);
    EXPECT_EQ(m->networks[0].sha256, m->model_sha256);
    EXPECT_EQ(m->network(EngineKind::kLibTorch), nullptr);
}

// The tiny-softmax manifest in format 2, carrying `networks` (the hashes are made up: parsing
// does not read the files).
json v2_manifest(const json& networks, const std::string& engine) {
    json j = base_manifest();
    j.erase("model_sha256");
    j["format"] = "medanchor-model/2";
    j["engine"] = engine;
    j["networks"] = networks;
    return j;
}

const std::string kOnnxHash(64, 'a');
const std::string kTorchHash(64, 'b');

TEST(ModelBundle, FormatTwoNamesTheEngineAndItsNetworkIsTheModelHash) {
    const json both = {{"onnx", {{"sha256", kOnnxHash}}},
                       {"torchscript", {{"sha256", kTorchHash}}}};
    auto torch = parse_json(v2_manifest(both, "libtorch"));
    ASSERT_TRUE(torch) << torch.error().message();
    EXPECT_EQ(torch->format, 2);
    EXPECT_EQ(torch->engine, EngineKind::kLibTorch);
    EXPECT_EQ(torch->model_sha256, kTorchHash);
    ASSERT_EQ(torch->networks.size(), 2u);
    EXPECT_EQ(torch->network(EngineKind::kOpenCvDnn)->sha256, kOnnxHash);

    auto opencv = parse_json(v2_manifest(both, "opencv-dnn"));
    ASSERT_TRUE(opencv) << opencv.error().message();
    EXPECT_EQ(opencv->engine, EngineKind::kOpenCvDnn);
    EXPECT_EQ(opencv->model_sha256, kOnnxHash);

    std::string upper = kTorchHash;
    upper[0] = 'B';
    auto only = parse_json(v2_manifest({{"torchscript", {{"sha256", upper}}}}, "libtorch"));
    ASSERT_TRUE(only) << only.error().message();
    EXPECT_EQ(only->model_sha256, kTorchHash) << "normalised to lowercase";
    EXPECT_EQ(only->network(EngineKind::kOpenCvDnn), nullptr);
}

TEST(ModelBundle, FormatTwoNamesItsBrokenFields) {
    const json onnx = {{"onnx", {{"sha256", kOnnxHash}}}};
    const std::vector<BrokenCase> cases = {
        {"engine missing", [](json& j) { j.erase("engine"); }, "engine is missing"},
        {"engine unknown", [](json& j) { j["engine"] = "onnxruntime"; },
         "engine must be one of \"opencv-dnn\", \"libtorch\" (got \"onnxruntime\")"},
        {"engine without its network", [](json& j) { j["engine"] = "libtorch"; },
         "engine is \"libtorch\" but networks has no \"torchscript\" entry (model.ts)"},
        {"networks missing", [](json& j) { j.erase("networks"); }, "networks is missing"},
        {"networks empty", [](json& j) { j["networks"] = json::object(); },
         "networks must list at least one of \"onnx\", \"torchscript\""},
        {"network unknown",
         [](json& j) {
             j["networks"]["tflite"] = {{"sha256", kOnnxHash}};
         },
         "networks.tflite is not a known field"},
        {"network not an object", [](json& j) { j["networks"]["onnx"] = kOnnxHash; },
         "networks.onnx must be an object"},
        {"network hash short", [](json& j) { j["networks"]["onnx"]["sha256"] = "abc"; },
         "networks.onnx.sha256 must be 64 hex digits (the SHA-256 of model.onnx)"},
        {"network extra field", [](json& j) { j["networks"]["onnx"]["file"] = "other.onnx"; },
         "networks.onnx.file is not a known field"},
        {"model_sha256 in format 2", [](json& j) { j["model_sha256"] = kOnnxHash; },
         "model_sha256 is not a known field"},
    };
    for (const auto& c : cases) {
        json j = v2_manifest(onnx, "opencv-dnn");
        c.mutate(j);
        auto m = parse_json(j);
        ASSERT_FALSE(m) << c.what << ": accepted";
        EXPECT_EQ(m.error().code(), ErrorCode::kCorrupt) << c.what;
        EXPECT_EQ(m.error().message(), std::string("bundle/model.json: ") + c.message) << c.what;
    }
    // And format 1 knows nothing of engines: an older reader's rules are unchanged.
    json j = base_manifest();
    j["engine"] = "opencv-dnn";
    auto m = parse_json(j);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message(), "bundle/model.json: engine is not a known field");
}

TEST(ModelBundle, EngineNamesRoundTrip) {
    for (const EngineKind e : {EngineKind::kOpenCvDnn, EngineKind::kLibTorch})
        EXPECT_EQ(parse_engine_name(engine_name(e)), e);
    EXPECT_EQ(std::string(network_file_name(EngineKind::kLibTorch)), "model.ts");
    EXPECT_EQ(std::string(network_file_name(EngineKind::kOpenCvDnn)), "model.onnx");
    EXPECT_EQ(parse_engine_name("torch"), std::nullopt);
    EXPECT_EQ(parse_engine_name(""), std::nullopt);
}

TEST(ModelBundle, RefusesTextThatIsNotJson) {
    auto m = parse_model_manifest("{\"format\": ", "bundle/model.json");
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().message(), "bundle/model.json: not valid JSON");
}

class BundleCopy : public ::testing::Test {
  protected:
    void SetUp() override { fs::copy(testing::model_dir("tiny-softmax"), dir_.path() / "b"); }
    fs::path dir() const { return dir_.path() / "b"; }
    testing::ScratchDir dir_;
};

TEST_F(BundleCopy, RefusesAModelWhoseHashDiffers) {
    auto bytes = testing::read_bytes(dir() / "model.onnx");
    bytes.back() ^= 1;
    testing::write_bytes(dir() / "model.onnx", bytes);
    auto b = load_model_bundle(dir());
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(b.error().message().find("model.onnx: SHA-256 is "), std::string::npos)
        << b.error().message();
    EXPECT_NE(b.error().message().find("says model_sha256"), std::string::npos);
}

TEST_F(BundleCopy, RefusesAMissingModel) {
    fs::remove(dir() / "model.onnx");
    auto b = load_model_bundle(dir());
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(b.error().message(), (dir() / "model.onnx").string() + ": no such file");
}

TEST_F(BundleCopy, RefusesAMissingManifest) {
    fs::remove(dir() / "model.json");
    auto b = load_model_bundle(dir());
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(b.error().message().find("model.json: no such file"), std::string::npos);
}

TEST_F(BundleCopy, NamesTheManifestPathInFieldErrors) {
    json j = base_manifest();
    j["preprocessing"]["window"] = {{"type", "fixed"}, {"center", -600}, {"width", -1}};
    std::ofstream(dir() / "model.json") << j.dump(2);
    auto b = load_model_bundle(dir());
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().message(),
              (dir() / "model.json").string() + ": preprocessing.window.width must be > 0");
}

// The reference bundle carries both networks; the hash of the one that runs is the model's.
const fs::path kReference = fs::path(MEDANCHOR_SOURCE_DIR) / "models" / "ct-nodule-sim";

TEST(ModelBundle, TheReferenceBundleCarriesBothNetworks) {
    std::ifstream in(kReference / "model.json");
    const json j = json::parse(in);
    EXPECT_EQ(j["format"], "medanchor-model/2");
    const auto onnx = testing::read_bytes(kReference / "model.onnx");
    const auto ts = testing::read_bytes(kReference / "model.ts");
    EXPECT_EQ(j["networks"]["onnx"]["sha256"], sha256_hex(onnx));
    EXPECT_EQ(j["networks"]["torchscript"]["sha256"], sha256_hex(ts));

    auto by_default = load_model_bundle(kReference);
    ASSERT_TRUE(by_default) << by_default.error().message();
    EXPECT_EQ(engine_name(by_default->manifest.engine), j["engine"].get<std::string>());

    auto torch = load_model_bundle(kReference, EngineKind::kLibTorch);
    ASSERT_TRUE(torch) << torch.error().message();
    EXPECT_EQ(torch->manifest.engine, EngineKind::kLibTorch);
    EXPECT_EQ(torch->network_path, kReference / "model.ts");
    EXPECT_EQ(torch->network, ts);
    EXPECT_EQ(torch->manifest.model_sha256, sha256_hex(ts));

    auto opencv = load_model_bundle(kReference, EngineKind::kOpenCvDnn);
    ASSERT_TRUE(opencv) << opencv.error().message();
    EXPECT_EQ(opencv->manifest.engine, EngineKind::kOpenCvDnn);
    EXPECT_EQ(opencv->network_path, kReference / "model.onnx");
    EXPECT_EQ(opencv->network, onnx);
    EXPECT_EQ(opencv->manifest.model_sha256, sha256_hex(onnx));
}

class TorchBundleCopy : public ::testing::Test {
  protected:
    void SetUp() override { fs::copy(kReference, dir_.path() / "b"); }
    fs::path dir() const { return dir_.path() / "b"; }
    testing::ScratchDir dir_;
};

TEST_F(TorchBundleCopy, ChecksOnlyTheNetworkThatRuns) {
    // A damaged model.onnx does not stop LibTorch (it never reads it), and stops OpenCV dnn.
    auto bytes = testing::read_bytes(dir() / "model.onnx");
    bytes.back() ^= 1;
    testing::write_bytes(dir() / "model.onnx", bytes);
    EXPECT_TRUE(load_model_bundle(dir(), EngineKind::kLibTorch));
    auto b = load_model_bundle(dir(), EngineKind::kOpenCvDnn);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(b.error().message().find("says networks.onnx.sha256 "), std::string::npos)
        << b.error().message();
}

TEST_F(TorchBundleCopy, RefusesATorchScriptNetworkWhoseHashDiffers) {
    auto bytes = testing::read_bytes(dir() / "model.ts");
    bytes[bytes.size() / 2] ^= 1;
    testing::write_bytes(dir() / "model.ts", bytes);
    auto b = load_model_bundle(dir(), EngineKind::kLibTorch);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(b.error().message().rfind((dir() / "model.ts").string() + ": SHA-256 is ", 0), 0u)
        << b.error().message();
    EXPECT_NE(b.error().message().find("says networks.torchscript.sha256 "), std::string::npos);
}

TEST_F(TorchBundleCopy, RefusesAMissingTorchScriptFile) {
    fs::remove(dir() / "model.ts");
    auto b = load_model_bundle(dir(), EngineKind::kLibTorch);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kNotFound);
    EXPECT_EQ(b.error().message(), (dir() / "model.ts").string() + ": no such file");
}

TEST(ModelBundle, RefusesAnEngineTheBundleCarriesNoNetworkFor) {
    auto b = load_model_bundle(testing::model_dir("tiny-torchscript"), EngineKind::kOpenCvDnn);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(b.error().message().find("model.json: engine opencv-dnn runs model.onnx, which this "
                                       "bundle does not carry (it has model.ts)"),
              std::string::npos)
        << b.error().message();
    auto v1 = load_model_bundle(testing::model_dir("tiny-softmax"), EngineKind::kLibTorch);
    ASSERT_FALSE(v1);
    EXPECT_EQ(v1.error().code(), ErrorCode::kUnsupported);
}

TEST(ModelBundle, RefusesAMissingFolder) {
    auto b = load_model_bundle("/nonexistent/bundle");
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code(), ErrorCode::kNotFound);
}

TEST(ModelBundle, AcceptsModalitiesAsDocumented) {
    ModelManifest m;
    m.preprocessing.modalities = {"CT"};
    EXPECT_TRUE(m.accepts_modality("CT"));
    EXPECT_FALSE(m.accepts_modality("MR"));
    EXPECT_FALSE(m.accepts_modality(""));
    m.preprocessing.modalities = {"CT", "OT"};
    EXPECT_TRUE(m.accepts_modality(""));  // PNG/JPEG count as OT
    m.preprocessing.modalities = {"*"};
    EXPECT_TRUE(m.accepts_modality("MR"));
    EXPECT_TRUE(m.accepts_modality(""));
}

}  // namespace
}  // namespace medanchor::inference
