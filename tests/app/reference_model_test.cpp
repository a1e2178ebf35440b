// The shipped reference model (models/ct-nodule-sim) through medanchor's own path: DICOM decode,
// Modality LUT, preprocessing from the manifest, OpenCV dnn, temperature scaling.
//   - Golden: the bundled sample slices give the probabilities PyTorch computed at training time
//     (models/ct-nodule-sim/golden.json) to 1e-4, so C++ preprocessing equals the training one.
//   - Fresh data: a simulated set with a seed training never used reaches the AUC the model card
//     claims, less a margin for the smaller sample.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "app/cli/simulate_command.h"
#include "image/reader.h"
#include "inference/model_bundle.h"
#include "inference/pipeline.h"
#include "service/model_input.h"

namespace medanchor::app {
namespace {

namespace fs = std::filesystem;
using service::to_model_input;
const fs::path kRoot = MEDANCHOR_SOURCE_DIR;
const fs::path kBundle = kRoot / "models" / "ct-nodule-sim";

// Runs the bundle on `files`, returning the calibrated probability of each label per file.
std::vector<std::vector<double>> run(const inference::ModelBundle& bundle,
                                     const std::vector<fs::path>& files) {
    std::vector<std::vector<double>> out(files.size());
    const auto loader = [&](std::size_t i) -> Result<inference::ModalityImage> {
        auto img = image::read_image(files[i]);
        if (!img)
            return img.error();
        return to_model_input(*img, files[i].string());
    };
    const auto sink = [&](std::size_t i, Result<inference::ItemResult> r) {
        ASSERT_TRUE(r.ok()) << r.error().message();
        out[i] = r->prediction.probabilities;
    };
    inference::PipelineOptions options;
    options.threads = 2;
    EXPECT_TRUE(inference::run_pipeline(bundle, files.size(), loader, sink, options).ok());
    return out;
}

// Area under the ROC curve (Mann-Whitney, ties one half).
double auc(const std::vector<double>& scores, const std::vector<int>& labels) {
    double wins = 0;
    std::size_t pos = 0, neg = 0;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        if (labels[i] != 1)
            continue;
        ++pos;
        for (std::size_t j = 0; j < scores.size(); ++j) {
            if (labels[j] != 0)
                continue;
            wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
        }
    }
    neg = scores.size() - pos;
    return wins / (static_cast<double>(pos) * static_cast<double>(neg));
}

TEST(ReferenceModel, MatchesThePyTorchReferenceOnTheSampleSlices) {
    auto bundle = inference::load_model_bundle(kBundle);
    ASSERT_TRUE(bundle.ok()) << bundle.error().message();
    std::ifstream in(kBundle / "golden.json");
    const auto golden = nlohmann::json::parse(in);
    ASSERT_GE(golden["cases"].size(), 4u);
    std::vector<fs::path> files;
    for (const auto& c : golden["cases"])
        files.push_back(kRoot / c["file"].get<std::string>());
    const auto probs = run(*bundle, files);
    for (std::size_t i = 0; i < files.size(); ++i) {
        const auto& expected = golden["cases"][i]["probabilities"];
        ASSERT_EQ(probs[i].size(), expected.size());
        for (std::size_t k = 0; k < expected.size(); ++k) {
            EXPECT_NEAR(probs[i][k], expected[k].get<double>(), 1e-4) << files[i] << " label " << k;
        }
    }
}

TEST(ReferenceModel, AucOnFreshSimulatedData) {
    auto bundle = inference::load_model_bundle(kBundle);
    ASSERT_TRUE(bundle.ok()) << bundle.error().message();
    std::ifstream in(kBundle / "model.json");
    const double claimed =
        nlohmann::json::parse(in)["provenance"]["test_metrics"]["auc"].get<double>();

    // Seed 777: the training script derives its seeds as 1000 * seed + 1..3 (1001, 1002, 1003
    // for the shipped bundle), so this set shares no slice with training, validation or test.
    constexpr std::uint64_t kSeed = 777;
    constexpr std::size_t kCount = 400;
    const fs::path dir =
        fs::temp_directory_path() / ("medanchor-auc-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    SimulateRequest request;  // the training set's options: the defaults
    request.out = dir;
    request.seed = kSeed;
    request.count = kCount;
    ASSERT_TRUE(simulate(request, /*show_progress=*/false).ok());
    std::vector<fs::path> files;
    std::vector<int> labels;
    std::ifstream truth(dir / "truth.csv");
    std::string line;
    std::getline(truth, line);  // header: file,index,nodule,...
    while (std::getline(truth, line)) {
        const auto first = line.find(','), second = line.find(',', first + 1);
        files.push_back(dir / line.substr(0, first));
        labels.push_back(line.substr(second + 1, 1) == "1" ? 1 : 0);
    }
    ASSERT_EQ(files.size(), kCount);
    const auto probs = run(*bundle, files);
    std::vector<double> scores;
    for (const auto& p : probs)
        scores.push_back(p.at(1));  // nodule-present
    const double measured = auc(scores, labels);
    // The standard error of an AUC near 0.9 on 400 slices is about 0.016; 0.05 is three of them.
    std::cout << "reference model AUC on " << kCount << " fresh slices (seed " << kSeed
              << "): " << measured << "; model card: " << claimed << "\n";
    EXPECT_GE(measured, claimed - 0.05);
    fs::remove_all(dir);
}

}  // namespace
}  // namespace medanchor::app
