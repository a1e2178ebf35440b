// The LibTorch engine: a TorchScript network compiled by Debian's torch (tests/data/models/
// tiny-torchscript, a bundle wrapped as a MONAI user would wrap one) against PyTorch's own outputs;
// the reference bundle's two networks (model.onnx on OpenCV dnn, model.ts on LibTorch) agreeing to
// 1e-5; the engine's checks of the network against the manifest; and the pipeline on LibTorch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <tuple>

#include "inference/calibration.h"
#include "inference/engine.h"
#include "inference/pipeline.h"
#include "test_models.h"

namespace medanchor::inference {
namespace {

using testing::load_golden;
using testing::load_test_bundle;

const std::filesystem::path kReference =
    std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "models" / "ct-nodule-sim";

ModelBundle reference(EngineKind engine) {
    auto bundle = load_model_bundle(kReference, engine);
    if (!bundle)
        ADD_FAILURE() << bundle.error().message();
    return bundle ? std::move(*bundle) : ModelBundle{};
}

double largest_difference(const std::vector<std::vector<float>>& a,
                          const std::vector<std::vector<float>>& b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
        EXPECT_EQ(a[i].size(), b[i].size());
        for (std::size_t k = 0; k < std::min(a[i].size(), b[i].size()); ++k)
            worst = std::max<double>(worst, std::abs(a[i][k] - b[i][k]));
    }
    return worst;
}

TEST(TorchEngine, ScriptedNetworkMatchesPyTorch) {
    const ModelBundle bundle = load_test_bundle("tiny-torchscript");
    ASSERT_EQ(bundle.manifest.engine, EngineKind::kLibTorch);
    const auto golden = load_golden("tiny-torchscript");
    auto engine = make_engine(bundle);
    ASSERT_TRUE(engine) << engine.error().message();
    auto batched = (*engine)->run(golden.inputs);
    ASSERT_TRUE(batched) << batched.error().message();
    const double worst = largest_difference(*batched, golden.outputs);
    EXPECT_LE(worst, 1e-5);
    for (std::size_t i = 0; i < golden.inputs.size(); ++i) {
        auto single = (*engine)->run(std::span<const Tensor>(&golden.inputs[i], 1));
        ASSERT_TRUE(single) << single.error().message();
        EXPECT_LE(largest_difference(*single, {golden.outputs[i]}), 1e-5) << "input " << i;
    }
    std::cout << "tiny-torchscript: largest difference from PyTorch " << worst << "\n";
}

TEST(TorchEngine, DescribesItself) {
    auto engine = make_engine(load_test_bundle("tiny-torchscript"));
    ASSERT_TRUE(engine);
    EXPECT_EQ((*engine)->description().rfind("libtorch 1.", 0), 0u) << (*engine)->description();
}

// Inputs at the reference model's shape: standard normal tensors (the range a normalised image
// takes) and synthetic CT images through the manifest's preprocessing.
std::vector<Tensor> reference_inputs(const ModelManifest& m) {
    std::vector<Tensor> inputs;
    std::mt19937 rng(11);
    std::normal_distribution<float> value(0.0f, 1.0f);
    for (int n = 0; n < 8; ++n) {
        Tensor t{m.input.channels, m.input.height, m.input.width, {}};
        t.data.resize(t.size());
        for (float& v : t.data)
            v = value(rng);
        inputs.push_back(std::move(t));
    }
    for (std::size_t i = 0; i < 8; ++i) {
        auto prepared = preprocess(testing::synthetic(i), m);
        EXPECT_TRUE(prepared) << prepared.error().message();
        if (prepared)
            inputs.push_back(std::move(prepared->tensor));
    }
    return inputs;
}

// Float32 convolutions summed in another order (oneDNN's blocked kernels, OpenCV's) differ in the
// last bits, about 1e-6 of the value, so logits agree to 1e-5 relative to their size (absolute
// below 1), and the calibrated probabilities the reports carry to 1e-5 absolute.
TEST(TorchEngine, TheReferenceNetworksAgreeAcrossEngines) {
    const ModelBundle torch = reference(EngineKind::kLibTorch);
    const ModelBundle opencv = reference(EngineKind::kOpenCvDnn);
    const auto inputs = reference_inputs(torch.manifest);
    auto torch_engine = make_engine(torch);
    ASSERT_TRUE(torch_engine) << torch_engine.error().message();
    auto opencv_engine = make_engine(opencv);
    ASSERT_TRUE(opencv_engine) << opencv_engine.error().message();
    for (const std::size_t batch : {std::size_t{1}, std::size_t{8}}) {
        double worst_logit = 0, worst_relative = 0, worst_probability = 0, largest = 0;
        for (std::size_t i = 0; i < inputs.size(); i += batch) {
            const std::span<const Tensor> part(inputs.data() + i, batch);
            auto a = (*torch_engine)->run(part);
            auto b = (*opencv_engine)->run(part);
            ASSERT_TRUE(a) << a.error().message();
            ASSERT_TRUE(b) << b.error().message();
            ASSERT_EQ(a->size(), batch);
            ASSERT_EQ(b->size(), batch);
            for (std::size_t k = 0; k < batch; ++k) {
                ASSERT_EQ((*a)[k].size(), (*b)[k].size());
                for (std::size_t j = 0; j < (*a)[k].size(); ++j) {
                    const double x = (*a)[k][j], y = (*b)[k][j];
                    worst_logit = std::max(worst_logit, std::abs(x - y));
                    worst_relative =
                        std::max(worst_relative, std::abs(x - y) / std::max(1.0, std::abs(y)));
                    largest = std::max(largest, std::abs(y));
                }
                const auto p = predict((*a)[k], torch.manifest).probabilities;
                const auto q = predict((*b)[k], opencv.manifest).probabilities;
                for (std::size_t j = 0; j < p.size(); ++j)
                    worst_probability = std::max(worst_probability, std::abs(p[j] - q[j]));
            }
        }
        EXPECT_LE(worst_relative, 1e-5) << "batch " << batch;
        EXPECT_LE(worst_probability, 1e-5) << "batch " << batch;
        std::cout << "reference model, batch " << batch << ", LibTorch vs OpenCV dnn: logits "
                  << worst_logit << " apart (largest |logit| " << largest << "; relative "
                  << worst_relative << "), calibrated probabilities " << worst_probability
                  << " apart\n";
    }
}

TEST(TorchEngine, BatchOfEightEqualsEightBatchesOfOne) {
    for (const ModelBundle& bundle :
         {reference(EngineKind::kLibTorch), load_test_bundle("tiny-torchscript")}) {
        std::vector<Tensor> inputs;
        for (std::size_t i = 0; i < 8; ++i) {
            auto prepared = preprocess(testing::synthetic(i), bundle.manifest);
            ASSERT_TRUE(prepared) << prepared.error().message();
            inputs.push_back(std::move(prepared->tensor));
        }
        auto engine = make_engine(bundle);
        ASSERT_TRUE(engine) << engine.error().message();
        auto batched = (*engine)->run(inputs);
        ASSERT_TRUE(batched);
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            auto single = (*engine)->run(std::span<const Tensor>(&inputs[i], 1));
            ASSERT_TRUE(single);
            EXPECT_EQ((*single)[0], (*batched)[i]) << bundle.manifest.name << " input " << i;
        }
    }
}

TEST(TorchEngine, ReadsADictOutputAtOutputName) {
    // tiny-torchscript's forward returns {"logits": 2 values, "embedding": 8 values}.
    ModelBundle bundle = load_test_bundle("tiny-torchscript");
    bundle.manifest.output.name = "embedding";
    bundle.manifest.labels.clear();
    for (int i = 0; i < 8; ++i) {
        std::string code = "f";  // appended, not "f" + ...: GCC 12's false -Wrestrict (105329)
        code += std::to_string(i);
        bundle.manifest.labels.push_back({code, "feature"});
    }
    auto engine = make_engine(bundle);
    ASSERT_TRUE(engine) << engine.error().message();
    auto out = (*engine)->run(load_golden("tiny-torchscript").inputs);
    ASSERT_TRUE(out);
    EXPECT_EQ((*out)[0].size(), 8u);

    bundle.manifest.output.name = "scores";
    auto missing = make_engine(bundle);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(missing.error().message().find("model.ts: forward returned a dict without a tensor "
                                             "at \"scores\" (model.json output.name)"),
              std::string::npos)
        << missing.error().message();
}

TEST(TorchEngine, RefusesAnInputTheNetworkCannotTake) {
    ModelBundle bundle = load_test_bundle("tiny-torchscript");
    bundle.manifest.input.channels = 3;  // its first convolution takes one channel
    auto engine = make_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_EQ(engine.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(engine.error().message().find("model.ts: forward pass failed: "), std::string::npos)
        << engine.error().message();
    EXPECT_NE(engine.error().message().find("(checking model.json input 3x40x40 against the "
                                            "network)"),
              std::string::npos);
}

TEST(TorchEngine, RefusesALabelCountTheOutputDoesNotHave) {
    ModelBundle bundle = reference(EngineKind::kLibTorch);
    bundle.manifest.labels.push_back({"class-c", "Class C"});
    auto engine = make_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_NE(engine.error().message().find("output has shape [1, 2] for a batch of 1, expected 3 "
                                            "values per image (one per label)"),
              std::string::npos)
        << engine.error().message();
}

TEST(TorchEngine, RefusesBytesThatAreNotTorchScript) {
    ModelBundle bundle = load_test_bundle("tiny-torchscript");
    bundle.network.assign(100, 0x42);
    auto engine = make_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_EQ(engine.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(engine.error().message().find("model.ts: LibTorch cannot load this TorchScript "
                                            "module"),
              std::string::npos)
        << engine.error().message();
    // An ONNX file is not TorchScript either.
    bundle.network = reference(EngineKind::kOpenCvDnn).network;
    EXPECT_FALSE(make_engine(bundle));
}

TEST(TorchEngine, EachEngineRefusesABundleLoadedForTheOther) {
    auto torch_on_onnx = make_torch_engine(reference(EngineKind::kOpenCvDnn));
    ASSERT_FALSE(torch_on_onnx);
    EXPECT_EQ(torch_on_onnx.error().code(), ErrorCode::kInternal);
    auto opencv_on_ts = make_opencv_engine(reference(EngineKind::kLibTorch));
    ASSERT_FALSE(opencv_on_ts);
    EXPECT_EQ(opencv_on_ts.error().code(), ErrorCode::kInternal);
}

TEST(TorchPipeline, OutputsDoNotDependOnThreadsOrBatch) {
    using testing::pipeline_options;
    using testing::run_all;
    for (const ModelBundle& bundle :
         {load_test_bundle("tiny-torchscript"), reference(EngineKind::kLibTorch)}) {
        const std::size_t n = 21;  // not a multiple of the batch: a short last batch
        const auto expected = run_all(bundle, n, pipeline_options(1, 1, 1));
        ASSERT_EQ(expected.size(), n);
        EXPECT_EQ(run_all(bundle, n, pipeline_options(1, 8, 1)), expected) << bundle.manifest.name;
        EXPECT_EQ(run_all(bundle, n, pipeline_options(2, 8, 1)), expected) << bundle.manifest.name;
        EXPECT_EQ(run_all(bundle, n, pipeline_options(2, 3, 2)), expected) << bundle.manifest.name;
    }
}

// An engine that notes LibTorch's requested thread count whenever it runs.
class ThreadsSeen final : public Engine {
  public:
    ThreadsSeen(std::unique_ptr<Engine> inner, std::vector<int>& seen)
        : inner_(std::move(inner)), seen_(seen) {}
    Result<std::vector<std::vector<float>>> run(std::span<const Tensor> inputs) override {
        seen_.push_back(set_torch_threads(0));  // 0: reads the count, changes nothing
        return inner_->run(inputs);
    }
    std::string description() const override { return inner_->description(); }

  private:
    std::unique_ptr<Engine> inner_;
    std::vector<int>& seen_;
};

// LibTorch's count is the process owner's (set_compute_threads, once): a run applies it and never
// changes it, whatever its threads and engines.
TEST(TorchPipeline, AppliesTheOwnersLibTorchThreadsAndNeverChangesThem) {
    const ModelBundle bundle = load_test_bundle("tiny-torchscript");
    std::vector<int> seen;
    const EngineFactory factory = [&seen](const ModelBundle& b) -> Result<std::unique_ptr<Engine>> {
        auto engine = make_engine(b);
        if (!engine)
            return engine.error();
        return std::unique_ptr<Engine>(std::make_unique<ThreadsSeen>(std::move(*engine), seen));
    };
    for (const auto& [threads, engines] : {std::pair{2, 1}, std::pair{2, 2}, std::pair{1, 1}}) {
        set_torch_threads(3);
        seen.clear();
        const Status status = run_pipeline(
            bundle, 5, [](std::size_t i) -> Result<ModalityImage> { return testing::synthetic(i); },
            [](std::size_t, Result<ItemResult> r) { ASSERT_TRUE(r); },
            testing::pipeline_options(threads, 2, engines), factory);
        ASSERT_TRUE(status);
        ASSERT_FALSE(seen.empty());
        for (int s : seen)
            EXPECT_EQ(s, 3) << threads << " threads, " << engines << " engines";
        EXPECT_EQ(set_torch_threads(0), 3);
    }
    set_torch_threads(1);
}

}  // namespace
}  // namespace medanchor::inference
