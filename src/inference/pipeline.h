// The batch pipeline: many images through decode -> preprocess -> engine -> calibration (and
// saliency on request) -> the caller's finishing step, with decoding and preprocessing of the
// next images and finishing of the last ones overlapping inference of the current batch, and
// results handed back in input order.
//
//   loader threads (P)  --bounded queue-->  inference threads (E, one Engine each)
//        load(i), preprocess                 batches of up to `batch`, predict, saliency
//        finish(i) first, when one waits  <-- results (with options.finish)
//        |
//   results, re-ordered by index, to `sink` on the calling thread
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "inference/calibration.h"
#include "inference/engine.h"
#include "inference/model_bundle.h"
#include "inference/preprocess.h"
#include "inference/saliency.h"

namespace medanchor::inference {

struct ItemResult;
// Finishes image `index`'s inference result (or the engine's error for it) on a loader thread,
// concurrently for different indices (must be thread-safe): what it returns goes to the sink.
// A loader finishes a waiting result before it loads the next image, so that the work after
// inference (a caller's reports) is spread over the loader threads instead of the sink's.
using ItemFinisher =
    std::function<Result<ItemResult>(std::size_t index, Result<ItemResult> result)>;

struct PipelineOptions {
    int threads = 0;  // loader threads (at most this many); 0: std::thread::hardware_concurrency()
    int batch = 8;    // images per forward pass, 1..256
    int engines = 1;  // inference threads, each with its own Engine; clamped to 1..threads
    bool saliency = false;
    SaliencyOptions saliency_options;
    ItemFinisher finish;  // empty: results go to the sink as inference left them
};

struct ItemResult {
    // The preprocessing record; its tensor is released after inference, and its display image
    // is kept only when saliency was asked for.
    PreparedInput input;
    std::vector<float> raw;  // the network's output, before calibration
    Prediction prediction;
    std::optional<SaliencyMap> saliency;
};

// Decodes image `index` (called from loader threads, concurrently for different indices; must
// be thread-safe). Errors should name the image.
using ImageLoader = std::function<Result<ModalityImage>(std::size_t index)>;
// Receives each image's result, in index order, on the thread that called run_pipeline.
using ResultSink = std::function<void(std::size_t index, Result<ItemResult> result)>;
// Makes an engine for one inference thread.
using EngineFactory = std::function<Result<std::unique_ptr<Engine>>(const ModelBundle&)>;

// Runs images 0..count-1. Engines are made first (an error there is returned and nothing runs);
// after that a failing image is reported to `sink` and the others go on; an exception thrown by
// `loader` or an engine becomes that image's kInternal error. Every thread the run starts is
// joined before it returns, on every path: an exception thrown by `sink` abandons the run and
// reaches the caller after the join. A run never changes process-wide settings: the threads
// inside one operator (OpenCV's, LibTorch's) are set once by the process' owner
// (set_compute_threads, engine.h), so concurrent runs (a server) do not race on them. The default
// factory makes the engine the bundle was loaded for (make_engine).
// Deterministic: the outputs do not depend on threads, engines or batch (tests check, for each
// engine).
Status run_pipeline(const ModelBundle& bundle, std::size_t count, const ImageLoader& loader,
                    const ResultSink& sink, const PipelineOptions& options,
                    const EngineFactory& factory = make_engine);

}  // namespace medanchor::inference
