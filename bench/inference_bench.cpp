// Inference hot paths on fixed input: preprocessing of a CT-size slice (512 x 512 HU values to a
// 128 x 128 and a 32 x 32 tensor, fixed and percentile windows), the OpenCV dnn engine on the
// committed test model at batch 1 and 8 with 1 and 2 OpenCV threads, and occlusion saliency.
// Prints figures; asserts nothing about time. The reference model runs on both engines, OpenCV dnn
// (model.onnx) and LibTorch (model.ts), on the same tensors; a ResNet-18-sized network on OpenCV
// dnn (issue 5, issue 16).
//   build-release/bench/medanchor_bench_inference [--benchmark_filter=EngineReference]
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "inference/calibration.h"
#include "inference/engine.h"
#include "inference/preprocess.h"
#include "inference/saliency.h"

namespace {

using namespace medanchor::inference;

// A 512 x 512 slice in HU: air around a soft-tissue ellipse with noise.
ModalityImage ct_slice() {
    ModalityImage image;
    image.rows = 512;
    image.columns = 512;
    image.channels = 1;
    image.modality = "CT";
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 20.0f);
    for (int y = 0; y < 512; ++y) {
        for (int x = 0; x < 512; ++x) {
            const float dx = (x - 256) / 200.0f;
            const float dy = (y - 256) / 150.0f;
            image.values.push_back((dx * dx + dy * dy < 1 ? 40.0f : -1000.0f) + noise(rng));
        }
    }
    return image;
}

ModelBundle tiny() {
    auto b = load_model_bundle(std::filesystem::path(MEDANCHOR_SOURCE_DIR) /
                               "tests/data/models/tiny-softmax");
    if (!b)
        std::abort();
    return std::move(*b);
}

void BM_Preprocess(benchmark::State& state) {
    const ModalityImage image = ct_slice();
    ModelManifest m = tiny().manifest;
    m.input.height = m.input.width = static_cast<int>(state.range(0));
    if (state.range(1) == 0) {
        m.preprocessing.window.type = WindowType::kFixed;
        m.preprocessing.window.center = -600;
        m.preprocessing.window.width = 1500;
    }
    set_opencv_threads(1);
    for (auto _ : state) {
        auto p = preprocess(image, m);
        benchmark::DoNotOptimize(p);
    }
    state.SetLabel(state.range(1) == 0 ? "fixed window" : "percentile window");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Preprocess)
    ->Args({128, 0})
    ->Args({128, 1})
    ->Args({32, 0})
    ->Unit(benchmark::kMicrosecond);

// The engine on a whole bundle: the shipped reference model, and a ResNet-18-shaped network with
// random weights (3 x 224 x 224, 11.2 M parameters) that `tools/models/make_resnet18.py` writes to
// build/bench-models/resnet18 (skipped with a message when absent: it is 45 MB, not committed).
void engine_bundle(benchmark::State& state, const std::filesystem::path& dir,
                   EngineKind kind = EngineKind::kOpenCvDnn) {
    auto bundle = load_model_bundle(dir, kind);
    if (!bundle) {
        state.SkipWithError((dir.string() + ": " + bundle.error().message()).c_str());
        return;
    }
    set_opencv_threads(static_cast<int>(state.range(1)));
    set_torch_threads(static_cast<int>(state.range(1)));
    auto engine = make_engine(*bundle);
    if (!engine)
        std::abort();
    const auto& in = bundle->manifest.input;
    Tensor t;
    t.channels = in.channels;
    t.height = in.height;
    t.width = in.width;
    std::mt19937 rng(3);
    std::normal_distribution<float> value(0.0f, 1.0f);
    t.data.resize(static_cast<std::size_t>(in.channels) * in.height * in.width);
    for (auto& v : t.data)
        v = value(rng);
    std::vector<Tensor> batch(static_cast<std::size_t>(state.range(0)), t);
    for (auto _ : state) {
        auto out = (*engine)->run(batch);
        benchmark::DoNotOptimize(out);
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
    state.SetLabel(std::string(engine_name(kind)) + ", batch " + std::to_string(state.range(0)) +
                   ", " + std::to_string(state.range(1)) + " thread(s)");
}

void BM_EngineTiny(benchmark::State& state) {
    engine_bundle(state,
                  std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "tests/data/models/tiny-softmax");
}
BENCHMARK(BM_EngineTiny)
    ->Args({1, 1})
    ->Args({8, 1})
    ->Args({1, 2})
    ->Args({8, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

void BM_SaliencyTiny(benchmark::State& state) {
    const ModelBundle bundle = tiny();
    set_opencv_threads(1);
    auto engine = make_opencv_engine(bundle);
    auto prepared = preprocess(ct_slice(), bundle.manifest);
    for (auto _ : state) {
        auto map = occlusion_saliency(**engine, *prepared, bundle.manifest, 1);
        benchmark::DoNotOptimize(map);
    }
}
BENCHMARK(BM_SaliencyTiny)->Unit(benchmark::kMillisecond);

// Args: batch, threads, engine (0 OpenCV dnn, 1 LibTorch): the two engines alternate, so a
// change in the machine's load touches both alike.
void BM_EngineReferenceModel(benchmark::State& state) {
    engine_bundle(state, std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "models/ct-nodule-sim",
                  state.range(2) == 0 ? EngineKind::kOpenCvDnn : EngineKind::kLibTorch);
}
void BM_EngineResNet18(benchmark::State& state) {
    engine_bundle(state,
                  std::filesystem::path(MEDANCHOR_SOURCE_DIR) / "build/bench-models/resnet18");
}
BENCHMARK(BM_EngineReferenceModel)
    ->ArgsProduct({{1, 8}, {1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_EngineResNet18)
    ->Args({1, 1})
    ->Args({8, 1})
    ->Args({1, 2})
    ->Args({8, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
