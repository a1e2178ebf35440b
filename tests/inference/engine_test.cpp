// The OpenCV dnn engine against PyTorch's outputs for the same exported weights (to 1e-4), its
// checks of the network against the manifest, and the pipeline's determinism and ordering.
// (The LibTorch engine: torch_engine_test.cpp.)
#include "inference/engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "inference/pipeline.h"
#include "test_models.h"

namespace medanchor::inference {
namespace {

using testing::load_golden;
using testing::load_test_bundle;

void expect_matches_golden(const std::string& name) {
    const ModelBundle bundle = load_test_bundle(name);
    const auto golden = load_golden(name);
    ASSERT_EQ(golden.inputs.size(), golden.outputs.size());
    auto engine = make_opencv_engine(bundle);
    ASSERT_TRUE(engine) << engine.error().message();
    // All golden inputs as one batch, and each alone.
    double max_diff = 0;
    auto batched = (*engine)->run(golden.inputs);
    ASSERT_TRUE(batched) << batched.error().message();
    ASSERT_EQ(batched->size(), golden.inputs.size());
    for (std::size_t i = 0; i < golden.inputs.size(); ++i) {
        auto single = (*engine)->run(std::span<const Tensor>(&golden.inputs[i], 1));
        ASSERT_TRUE(single) << single.error().message();
        ASSERT_EQ((*batched)[i].size(), golden.outputs[i].size());
        for (std::size_t k = 0; k < golden.outputs[i].size(); ++k) {
            EXPECT_NEAR((*batched)[i][k], golden.outputs[i][k], 1e-4)
                << name << " input " << i << " output " << k;
            EXPECT_NEAR((*single)[0][k], golden.outputs[i][k], 1e-4)
                << name << " input " << i << " output " << k << " (batch of 1)";
            max_diff =
                std::max<double>(max_diff, std::abs((*batched)[i][k] - golden.outputs[i][k]));
        }
    }
    std::cout << name << ": largest difference from PyTorch " << max_diff << "\n";
}

TEST(Engine, SoftmaxModelMatchesPyTorch) {
    expect_matches_golden("tiny-softmax");
}

TEST(Engine, SigmoidModelMatchesPyTorch) {
    expect_matches_golden("tiny-sigmoid");
}

TEST(Engine, DescribesItself) {
    auto engine = make_opencv_engine(load_test_bundle("tiny-softmax"));
    ASSERT_TRUE(engine);
    EXPECT_EQ((*engine)->description().rfind("opencv-dnn 4.", 0), 0u);
}

TEST(Engine, BatchOfEightEqualsEightBatchesOfOne) {
    for (const char* name : {"tiny-softmax", "tiny-sigmoid"}) {
        const ModelBundle bundle = load_test_bundle(name);
        auto golden = load_golden(name);
        std::vector<Tensor> inputs = golden.inputs;
        for (const auto& t : golden.inputs) {  // four more: the same inputs scaled
            Tensor u = t;
            for (float& v : u.data)
                v *= 0.5f;
            inputs.push_back(std::move(u));
        }
        ASSERT_EQ(inputs.size(), 8u);
        auto engine = make_opencv_engine(bundle);
        ASSERT_TRUE(engine);
        auto batched = (*engine)->run(inputs);
        ASSERT_TRUE(batched);
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            auto single = (*engine)->run(std::span<const Tensor>(&inputs[i], 1));
            ASSERT_TRUE(single);
            EXPECT_EQ((*single)[0], (*batched)[i]) << name << " input " << i;
        }
    }
}

TEST(Engine, RefusesAnInputNameTheNetworkLacks) {
    ModelBundle bundle = load_test_bundle("tiny-softmax");
    bundle.manifest.input.name = "pixels";
    auto engine = make_opencv_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_EQ(engine.error().code(), ErrorCode::kCorrupt);
    EXPECT_NE(engine.error().message().find("no input named \"pixels\""), std::string::npos)
        << engine.error().message();
    EXPECT_NE(engine.error().message().find("model.onnx"), std::string::npos);
}

TEST(Engine, RefusesAnOutputNameTheNetworkLacks) {
    ModelBundle bundle = load_test_bundle("tiny-softmax");
    bundle.manifest.output.name = "scores";
    auto engine = make_opencv_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_NE(engine.error().message().find("no output named \"scores\""), std::string::npos)
        << engine.error().message();
}

TEST(Engine, RefusesAnInputSizeTheNetworkCannotTake) {
    ModelBundle bundle = load_test_bundle("tiny-softmax");
    bundle.manifest.input.height = 48;  // the linear layer takes 8x8x8 features from 32x32
    auto engine = make_opencv_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_NE(engine.error().message().find("against the network"), std::string::npos)
        << engine.error().message();
}

TEST(Engine, RefusesALabelCountTheOutputDoesNotHave) {
    ModelBundle bundle = load_test_bundle("tiny-softmax");
    bundle.manifest.labels.push_back({"class-c", "Class C"});
    auto engine = make_opencv_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_NE(engine.error().message().find("one per label"), std::string::npos)
        << engine.error().message();
}

TEST(Engine, RefusesBytesThatAreNotOnnx) {
    ModelBundle bundle = load_test_bundle("tiny-softmax");
    bundle.network.assign(100, 0x42);
    auto engine = make_opencv_engine(bundle);
    ASSERT_FALSE(engine);
    EXPECT_NE(engine.error().message().find("cannot read this ONNX model"), std::string::npos)
        << engine.error().message();
}

using testing::run_all;
using testing::synthetic;
constexpr auto options = testing::pipeline_options;

TEST(Pipeline, OutputsDoNotDependOnThreadsOrBatch) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    const std::size_t n = 21;  // not a multiple of the batch: a short last batch
    const auto reference = run_all(bundle, n, options(1, 1, 1));
    ASSERT_EQ(reference.size(), n);
    EXPECT_EQ(run_all(bundle, n, options(1, 8, 1)), reference);
    EXPECT_EQ(run_all(bundle, n, options(2, 8, 1)), reference);
    EXPECT_EQ(run_all(bundle, n, options(2, 8, 2)), reference);
    EXPECT_EQ(run_all(bundle, n, options(2, 3, 2)), reference);
    // And equal to the engine run directly on preprocess()'s tensors.
    auto engine = make_opencv_engine(bundle);
    ASSERT_TRUE(engine);
    for (std::size_t i = 0; i < n; ++i) {
        auto prepared = preprocess(synthetic(i), bundle.manifest);
        ASSERT_TRUE(prepared);
        auto out = (*engine)->run(std::span<const Tensor>(&prepared->tensor, 1));
        ASSERT_TRUE(out);
        EXPECT_EQ((*out)[0], reference.at(i));
    }
}

TEST(Pipeline, ReportsABadImageInItsPlaceAndGoesOn) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    std::vector<std::string> seen;
    const Status status = run_pipeline(
        bundle, 6,
        [](std::size_t i) -> Result<ModalityImage> {
            if (i == 2)
                return Error(ErrorCode::kCorrupt, "two.dcm: truncated");
            ModalityImage image = synthetic(i);
            if (i == 4)
                image.modality = "";  // allowed: the bundle accepts "*"
            return image;
        },
        [&](std::size_t i, Result<ItemResult> r) {
            seen.push_back(std::to_string(i) + (r ? " ok" : " " + r.error().message()));
            if (r) {
                EXPECT_EQ(r->raw.size(), 2u);
                EXPECT_EQ(r->prediction.probabilities.size(), 2u);
                EXPECT_FALSE(r->input.steps.empty());
                EXPECT_TRUE(r->input.tensor.data.empty()) << "tensor released after inference";
            }
        },
        options(2, 4, 1));
    EXPECT_TRUE(status);
    EXPECT_EQ(seen, (std::vector<std::string>{"0 ok", "1 ok", "2 two.dcm: truncated", "3 ok",
                                              "4 ok", "5 ok"}));
}

// With a finisher, every inference result is finished once, off the calling thread (on the
// loader threads), and the sink gets what it returned, in input order; a loader's error skips
// the finisher, and an exception it throws becomes that image's kInternal error.
TEST(Pipeline, FinishesEachResultOnceOnALoaderThreadAndHandsItOnInOrder) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    const std::size_t n = 23;
    const auto calling = std::this_thread::get_id();
    std::mutex mutex;
    std::map<std::size_t, int> finished;
    std::set<std::thread::id> finishers;
    PipelineOptions o = options(2, 4, 1);
    o.finish = [&](std::size_t i, Result<ItemResult> r) -> Result<ItemResult> {
        {
            std::lock_guard lock(mutex);
            ++finished[i];
            finishers.insert(std::this_thread::get_id());
        }
        if (i == 7)
            throw std::runtime_error("boom");
        if (!r)
            return r;
        r->raw.push_back(static_cast<float>(i));  // the finisher's mark
        return r;
    };
    std::vector<std::string> seen;
    const Status status = run_pipeline(
        bundle, n,
        [](std::size_t i) -> Result<ModalityImage> {
            if (i == 3)
                return Error(ErrorCode::kCorrupt, "three.dcm: truncated");
            return synthetic(i);
        },
        [&](std::size_t i, Result<ItemResult> r) {
            if (!r) {
                seen.push_back(std::to_string(i) + " " + r.error().message());
                return;
            }
            ASSERT_EQ(r->raw.size(), 3u);
            seen.push_back(std::to_string(i) + " mark " +
                           std::to_string(static_cast<int>(r->raw.back())));
        },
        o);
    ASSERT_TRUE(status);
    ASSERT_EQ(seen.size(), n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string expected = i == 3   ? "3 three.dcm: truncated"
                                     : i == 7 ? "7 internal error in finishing an image: boom"
                                              : std::to_string(i) + " mark " + std::to_string(i);
        EXPECT_EQ(seen[i], expected);
        EXPECT_EQ(finished.count(i), i == 3 ? 0u : 1u) << i;
        if (finished.count(i)) {
            EXPECT_EQ(finished[i], 1) << i;
        }
    }
    EXPECT_EQ(finishers.count(calling), 0u);
}

TEST(Pipeline, RefusesABadBatchSize) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    const Status status = run_pipeline(
        bundle, 1, [](std::size_t i) -> Result<ModalityImage> { return synthetic(i); },
        [](std::size_t, Result<ItemResult>) {}, options(1, 0, 1));
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
}

// An engine that notes OpenCV's thread count whenever it runs.
class OpenCvThreadsSeen final : public Engine {
  public:
    OpenCvThreadsSeen(std::unique_ptr<Engine> inner, std::vector<int>& seen, std::mutex& mutex)
        : inner_(std::move(inner)), seen_(seen), mutex_(mutex) {}
    Result<std::vector<std::vector<float>>> run(std::span<const Tensor> inputs) override {
        {
            std::lock_guard lock(mutex_);
            seen_.push_back(set_opencv_threads(0));  // 0: reads the count, changes nothing
        }
        return inner_->run(inputs);
    }
    std::string description() const override { return inner_->description(); }

  private:
    std::unique_ptr<Engine> inner_;
    std::vector<int>& seen_;
    std::mutex& mutex_;
};

// OpenCV's thread count is process-wide: a run (perhaps one of several at once in a server) must
// not flip it; the process' owner sets it once (set_compute_threads).
TEST(Pipeline, NeverChangesOpenCvsProcessWideThreadCount) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    std::vector<int> seen;
    std::mutex mutex;
    const EngineFactory factory = [&](const ModelBundle& b) -> Result<std::unique_ptr<Engine>> {
        auto engine = make_engine(b);
        if (!engine)
            return engine.error();
        return std::unique_ptr<Engine>(
            std::make_unique<OpenCvThreadsSeen>(std::move(*engine), seen, mutex));
    };
    const int before = set_opencv_threads(1);
    for (const auto& [threads, engines] : {std::pair{2, 1}, std::pair{2, 2}, std::pair{1, 1}}) {
        seen.clear();
        const Status status = run_pipeline(
            bundle, 5, [](std::size_t i) -> Result<ModalityImage> { return synthetic(i); },
            [](std::size_t, Result<ItemResult> r) { ASSERT_TRUE(r); }, options(threads, 2, engines),
            factory);
        ASSERT_TRUE(status);
        ASSERT_FALSE(seen.empty());
        for (int s : seen)
            EXPECT_EQ(s, 1) << threads << " threads, " << engines << " engines";
        EXPECT_EQ(set_opencv_threads(0), 1);
    }
    set_opencv_threads(before);
}

// Every thread a run starts is joined on every path: a sink that throws (a bug, or bad_alloc)
// reaches the caller as the exception, never std::terminate.
TEST(Pipeline, JoinsItsThreadsWhenTheSinkThrows) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    std::size_t sunk = 0;
    EXPECT_THROW(
        run_pipeline(
            bundle, 40, [](std::size_t i) -> Result<ModalityImage> { return synthetic(i); },
            [&](std::size_t i, Result<ItemResult>) {
                ++sunk;
                if (i == 1)
                    throw std::runtime_error("sink failed");
            },
            options(2, 2, 2)),
        std::runtime_error);
    EXPECT_EQ(sunk, 2u);
}

// An exception from the caller's loader becomes that image's kInternal error; the others go on.
TEST(Pipeline, ALoaderThatThrowsFailsThatImageOnly) {
    const ModelBundle bundle = load_test_bundle("tiny-softmax");
    std::vector<std::string> seen;
    const Status status = run_pipeline(
        bundle, 4,
        [](std::size_t i) -> Result<ModalityImage> {
            if (i == 1)
                throw std::runtime_error("loader bug");
            return synthetic(i);
        },
        [&](std::size_t i, Result<ItemResult> r) {
            seen.push_back(std::to_string(i) +
                           (r ? " ok" : std::string(" ") + error_info(r.error().code()).name));
        },
        options(2, 2, 1));
    EXPECT_TRUE(status);
    EXPECT_EQ(seen, (std::vector<std::string>{"0 ok", "1 internal", "2 ok", "3 ok"}));
}

}  // namespace
}  // namespace medanchor::inference
