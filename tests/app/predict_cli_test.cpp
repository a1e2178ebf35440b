// `medanchor predict` as a user runs it, on real DICOM files with the committed test bundles:
// text and JSON output, saliency PNGs, bad files reported by name without stopping the others,
// exit codes from the error table, and the same answers whatever --threads and --batch say.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../image/test_support.h"
#include "image/reader.h"

namespace medanchor::app {
namespace {

using nlohmann::json;
using testing::pydicom_file;
using testing::quote;
using testing::run_command;
using testing::ScratchDir;

std::string predict(const std::string& model) {
    return quote(MEDANCHOR_BINARY) + " predict --model " +
           quote(std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "tests/data/models" / model);
}

std::vector<json> json_lines(const std::string& output) {
    std::vector<json> out;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] == '{')
            out.push_back(json::parse(line));
    }
    return out;
}

TEST(PredictCli, PrintsTheFindingForRealDicomFiles) {
    const auto r = run_command(predict("tiny-softmax") + " " + quote(pydicom_file("CT_small.dcm")) +
                               " " + quote(pydicom_file("MR_small.dcm")));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("CT_small.dcm\n  finding:       class-"), std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("MR_small.dcm\n  finding:       class-"), std::string::npos);
    EXPECT_NE(r.output.find(" bp)"), std::string::npos);
    EXPECT_NE(r.output.find("probabilities: class-a "), std::string::npos);
}

TEST(PredictCli, RunsOnASimulatedCtSlice) {
    // samples/ct: the CT simulator's slices (docs/ctsim.md), real DICOM CT in HU.
    const auto slice =
        std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "samples/ct/ctsim-42-00000.dcm";
    if (!std::filesystem::exists(slice))
        GTEST_SKIP() << slice << " is not in this checkout";
    const auto r = run_command(predict("tiny-sigmoid") + " --json " + quote(slice));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto lines = json_lines(r.output);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["preprocessing"][0].get<std::string>().rfind("modality LUT", 0), 0u);
    EXPECT_EQ(lines[0]["probabilities"].size(), 3u);
}

TEST(PredictCli, JsonLinesCarryTheRecord) {
    const auto r = run_command(predict("tiny-softmax") + " --json " +
                               quote(pydicom_file("CT_small.dcm")) + " 2>/dev/null");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto lines = json_lines(r.output);
    ASSERT_EQ(lines.size(), 1u) << r.output;
    const json& j = lines[0];
    EXPECT_EQ(j["model"]["name"], "tiny-softmax");
    EXPECT_EQ(j["model"]["version"], "1.0.0");
    std::ifstream manifest(std::filesystem::path(MEDANCHOR_SOURCE_DIR) /
                           "tests/data/models/tiny-softmax/model.json");
    EXPECT_EQ(j["model"]["sha256"], json::parse(manifest)["model_sha256"]);
    ASSERT_TRUE(j["preprocessing"].is_array());
    EXPECT_EQ(j["preprocessing"][0].get<std::string>().rfind("modality LUT", 0), 0u);
    EXPECT_EQ(j["preprocessing"][2], "resize 128x128->32x32 stretch area");
    double sum = 0, best = 0;
    std::string best_code;
    for (const auto& p : j["probabilities"]) {
        sum += p["probability"].get<double>();
        if (p["probability"].get<double>() > best) {
            best = p["probability"];
            best_code = p["code"];
        }
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);
    EXPECT_EQ(j["finding"]["code"], best_code);
    EXPECT_EQ(j["confidence_bp"], static_cast<int>(std::lround(best * 10000)));
    EXPECT_EQ(j["needs_review"], j["confidence_bp"].get<int>() < 6000);
    EXPECT_EQ(j["engine"].get<std::string>().rfind("opencv-dnn", 0), 0u);
}

TEST(PredictCli, EngineChoosesTheNetworkAndItsHashIsTheModels) {
    // The reference bundle carries model.onnx and model.ts; --engine picks which runs, and the
    // model hash printed is that file's. The answers agree (docs/model-bundle.md, "Engines").
    const auto bundle = std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "models/ct-nodule-sim";
    const auto slice =
        std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "samples/ct/ctsim-42-00000.dcm";
    std::ifstream in(bundle / "model.json");
    const json manifest = json::parse(in);
    std::map<std::string, json> by_engine;
    for (const std::string engine : {"", "opencv-dnn", "libtorch"}) {
        const auto r =
            run_command(quote(MEDANCHOR_BINARY) + " predict --json --model " + quote(bundle) +
                        (engine.empty() ? "" : " --engine " + engine) + " " + quote(slice));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        const auto lines = json_lines(r.output);
        ASSERT_EQ(lines.size(), 1u) << r.output;
        by_engine[engine] = lines[0];
    }
    EXPECT_EQ(by_engine["opencv-dnn"]["model"]["sha256"], manifest["networks"]["onnx"]["sha256"]);
    EXPECT_EQ(by_engine["opencv-dnn"]["engine"].get<std::string>().rfind("opencv-dnn", 0), 0u);
    EXPECT_EQ(by_engine["libtorch"]["model"]["sha256"],
              manifest["networks"]["torchscript"]["sha256"]);
    EXPECT_EQ(by_engine["libtorch"]["engine"].get<std::string>().rfind("libtorch", 0), 0u);
    EXPECT_EQ(by_engine[""]["model"]["sha256"], by_engine[manifest["engine"]]["model"]["sha256"]);
    EXPECT_EQ(by_engine["opencv-dnn"]["confidence_bp"], by_engine["libtorch"]["confidence_bp"]);
    EXPECT_EQ(by_engine["opencv-dnn"]["finding"], by_engine["libtorch"]["finding"]);

    const auto bad = run_command(predict("tiny-softmax") + " --engine libtorch " + quote(slice));
    EXPECT_EQ(bad.exit_code, 6) << bad.output;  // unsupported: the bundle has no model.ts
    EXPECT_NE(bad.output.find("engine libtorch runs model.ts, which this bundle does not carry"),
              std::string::npos)
        << bad.output;
    const auto unknown = run_command(predict("tiny-softmax") + " --engine tflite " + quote(slice));
    EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
}

TEST(PredictCli, OnlyATorchScriptNetworkLoadsLibTorch) {
    // LibTorch is a module opened on first use (docs/model-bundle.md, "Engines"): the dynamic
    // loader's own log (LD_DEBUG=files) names every library a process opens.
    const auto bundle = std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "models/ct-nodule-sim";
    const auto slice =
        std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "samples/ct/ctsim-42-00000.dcm";
    const std::string run = "LD_DEBUG=files " + quote(MEDANCHOR_BINARY) + " predict --model " +
                            quote(bundle) + " " + quote(slice) + " --engine ";
    const auto opencv = run_command(run + "opencv-dnn");
    ASSERT_EQ(opencv.exit_code, 0) << opencv.output;
    EXPECT_NE(opencv.output.find("libopencv_dnn"), std::string::npos) << "LD_DEBUG shows nothing";
    EXPECT_EQ(opencv.output.find("libtorch_cpu"), std::string::npos);
    const auto torch = run_command(run + "libtorch");
    ASSERT_EQ(torch.exit_code, 0) << torch.output;
    EXPECT_NE(torch.output.find("medanchor_torch_engine"), std::string::npos);
    EXPECT_NE(torch.output.find("libtorch_cpu"), std::string::npos);

    // Without the module, a LibTorch bundle is refused by name; OpenCV dnn still runs.
    const std::string missing = "MEDANCHOR_TORCH_ENGINE=/nonexistent/medanchor_torch_engine.so " +
                                quote(MEDANCHOR_BINARY) + " predict --model " + quote(bundle) +
                                " " + quote(slice);
    const auto refused = run_command(missing);
    EXPECT_EQ(refused.exit_code, 6) << refused.output;  // unsupported
    EXPECT_NE(refused.output.find("model.ts: the LibTorch engine module cannot be loaded"),
              std::string::npos)
        << refused.output;
    EXPECT_EQ(run_command(missing + " --engine opencv-dnn").exit_code, 0);
}

TEST(PredictCli, ABadFileIsNamedAndTheOthersGoOn) {
    ScratchDir dir;
    std::ofstream(dir / "bad.dcm") << "not an image";
    const auto r =
        run_command(predict("tiny-softmax") + " --json " + quote(pydicom_file("CT_small.dcm")) +
                    " " + quote(dir / "bad.dcm") + " " + quote(pydicom_file("MR_small.dcm")));
    EXPECT_EQ(r.exit_code, 14) << r.output;  // corrupt
    const auto lines = json_lines(r.output);
    ASSERT_EQ(lines.size(), 3u) << r.output;
    EXPECT_TRUE(lines[0].contains("finding"));
    EXPECT_EQ(lines[1]["file"], (dir / "bad.dcm").string());
    EXPECT_EQ(lines[1]["error"]["code"], "corrupt");
    EXPECT_TRUE(lines[2].contains("finding"));
    EXPECT_NE(r.output.find("medanchor: " + (dir / "bad.dcm").string() + ": "), std::string::npos);
    EXPECT_NE(r.output.find("1 of 3 files failed"), std::string::npos);
}

TEST(PredictCli, AMissingFileExitsNotFound) {
    const auto r = run_command(predict("tiny-softmax") + " /nonexistent/x.dcm");
    EXPECT_EQ(r.exit_code, 13) << r.output;
    EXPECT_NE(r.output.find("/nonexistent/x.dcm"), std::string::npos);
}

TEST(PredictCli, AModalityTheBundleRefusesIsUnsupported) {
    // tiny-sigmoid accepts CT, MR and OT; rtdose.dcm is RTDOSE.
    const auto r = run_command(predict("tiny-sigmoid") + " " + quote(pydicom_file("rtdose.dcm")));
    EXPECT_EQ(r.exit_code, 6) << r.output;
    EXPECT_NE(r.output.find("rtdose.dcm: modality RTDOSE is not accepted by model tiny-sigmoid"),
              std::string::npos)
        << r.output;
}

TEST(PredictCli, ABrokenBundleStopsBeforeAnyImage) {
    ScratchDir dir;
    std::filesystem::copy(
        std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "tests/data/models/tiny-softmax", dir / "m");
    std::ofstream(dir / "m/model.onnx", std::ios::app) << "x";
    const auto r = run_command(quote(MEDANCHOR_BINARY) + " predict --model " + quote(dir / "m") +
                               " " + quote(pydicom_file("CT_small.dcm")));
    EXPECT_EQ(r.exit_code, 14) << r.output;
    EXPECT_NE(r.output.find("model.onnx: SHA-256 is"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("finding:"), std::string::npos);
}

TEST(PredictCli, WritesSaliencyPngsAtTheImageSize) {
    ScratchDir dir;
    const auto r = run_command(predict("tiny-sigmoid") + " --saliency " + quote(dir / "sal") + " " +
                               quote(pydicom_file("CT_small.dcm")) + " " +
                               quote(pydicom_file("SC_rgb_rle.dcm")));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("saliency:      " + (dir / "sal/CT_small.saliency.png").string()),
              std::string::npos)
        << r.output;
    auto ct = image::read_image(dir / "sal/CT_small.saliency.png");
    ASSERT_TRUE(ct) << ct.error().message();
    EXPECT_EQ(ct->geometry.rows, 128u);
    EXPECT_EQ(ct->geometry.columns, 128u);
    auto rgb = image::read_image(dir / "sal/SC_rgb_rle.saliency.png");
    ASSERT_TRUE(rgb) << rgb.error().message();
    EXPECT_EQ(rgb->geometry.rows, 100u);
}

TEST(PredictCli, ThreadsAndBatchDoNotChangeTheAnswers) {
    const std::string files =
        quote(pydicom_file("CT_small.dcm")) + " " + quote(pydicom_file("MR_small.dcm")) + " " +
        quote(pydicom_file("JPEG2000.dcm")) + " " + quote(pydicom_file("rtdose.dcm"));
    const auto a = run_command(predict("tiny-softmax") + " --json --threads 1 --batch 1 " + files);
    const auto b = run_command(predict("tiny-softmax") + " --json --threads 2 --batch 8 " + files);
    ASSERT_EQ(a.exit_code, 0) << a.output;
    ASSERT_EQ(b.exit_code, 0) << b.output;
    EXPECT_EQ(json_lines(a.output).size(), 4u);
    EXPECT_EQ(a.output, b.output);
}

TEST(PredictCli, RefusesABadBatch) {
    const auto r =
        run_command(predict("tiny-softmax") + " --batch 0 " + quote(pydicom_file("CT_small.dcm")));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--batch"), std::string::npos);
}

// Issue 11, item 7: a batch exits with the kind of its first failed file (in input order), not
// one code for every failure; a folder with no image in it is "no input".
TEST(PredictCli, AMixedBatchExitsWithTheCodeOfItsFirstFailedFile) {
    ScratchDir dir;
    std::ofstream(dir / "bad.dcm") << "not an image";
    const std::string good = quote(pydicom_file("CT_small.dcm"));
    const std::string missing = quote(dir / "missing.dcm");
    const std::string bad = quote(dir / "bad.dcm");
    const std::string rtdose = quote(pydicom_file("rtdose.dcm"));  // unsupported by tiny-sigmoid
    struct Case {
        std::string files;
        int exit_code;
    };
    for (const Case& c :
         {Case{good + " " + missing + " " + bad, 13}, Case{good + " " + bad + " " + missing, 14},
          Case{rtdose + " " + bad + " " + good, 6}}) {
        const auto r = run_command(predict("tiny-sigmoid") + " " + c.files);
        EXPECT_EQ(r.exit_code, c.exit_code) << c.files << "\n" << r.output;
        EXPECT_NE(r.output.find("finding:"), std::string::npos) << "the good file was analysed";
    }
    std::filesystem::create_directories(dir / "empty");
    std::ofstream(dir / "empty/notes.txt") << "no images here";
    const auto none = run_command(predict("tiny-sigmoid") + " " + quote(dir / "empty"));
    EXPECT_EQ(none.exit_code, 17) << none.output;  // no-input
}

// Issue 11, item 5: a saliency folder inside the input folder is medanchor's output, and a rerun
// over the input folder does not read its PNGs as images.
TEST(PredictCli, ARerunSkipsItsOwnSaliencyFolder) {
    ScratchDir dir;
    std::filesystem::create_directories(dir / "in");
    std::filesystem::copy_file(pydicom_file("CT_small.dcm"), dir / "in/CT_small.dcm");
    for (int run = 0; run < 2; ++run) {
        const auto r = run_command(predict("tiny-sigmoid") + " --json --saliency " +
                                   quote(dir / "in/sal") + " " + quote(dir / "in"));
        ASSERT_EQ(r.exit_code, 0) << r.output;
        const auto lines = json_lines(r.output);
        ASSERT_EQ(lines.size(), 1u) << "run " << run << ": " << r.output;
        EXPECT_EQ(lines[0]["file"], (dir / "in/CT_small.dcm").string());
    }
    // Named on its own, the folder is read: naming it is asking for it.
    const auto named = run_command(predict("tiny-sigmoid") + " --json " + quote(dir / "in/sal"));
    EXPECT_EQ(json_lines(named.output).size(), 1u) << named.output;
}

}  // namespace
}  // namespace medanchor::app
