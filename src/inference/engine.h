// Engines run a bundle's network on a batch of input tensors: OpenCV dnn (model.onnx) and LibTorch
// (model.ts, TorchScript) today. The interface is small so that another engine (ONNX Runtime, a
// CUDA one) can sit beside them without the pipeline, calibration or saliency code changing.
//
// Threads: both libraries size their worker pools process-wide. OpenCV (TBB here) with
// cv::setNumThreads, for its dnn layers and for preprocessing's resize; LibTorch (OpenMP) with
// at::set_num_threads, for its operators. The two pools are separate, so each engine's count is
// set on its own (set_opencv_threads, set_torch_threads). Neither library offers a count per
// network or per call (cv::dnn::Net has none; ATen's is a process default, applied per OpenMP
// thread): what remains process-wide is set once, by the process' owner at start-up
// (set_compute_threads: a CLI command before it runs, a server when it starts), never per run.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "inference/model_bundle.h"
#include "inference/tensor.h"

namespace medanchor::inference {

class Engine {
  public:
    virtual ~Engine() = default;

    // Runs the network on `inputs` as one batch (N x C x H x W) and returns one output vector
    // per input, in the same order, each of manifest.labels.size() raw values (logits or
    // probabilities, as output.kind says).
    // REQUIRES: every input has the manifest's input shape.
    // Thread safety: an Engine is used by one thread at a time; make one per thread.
    virtual Result<std::vector<std::vector<float>>> run(std::span<const Tensor> inputs) = 0;

    // A short description for reports, e.g. "opencv-dnn 4.6.0 cpu", "libtorch 1.13.0 cpu".
    virtual std::string description() const = 0;
};

// The OpenCV dnn engine (cv::dnn::readNetFromONNX over the bundle's bytes, backend OpenCV,
// target CPU). Checks the network against the manifest on construction: the input name
// exists, a forward pass at the manifest's input shape succeeds, the output name exists and
// yields labels.size() values per sample. Errors: kCorrupt (unreadable ONNX, mismatch),
// kUnsupported (an operator OpenCV 4.6 cannot import), all naming model.onnx.
// Thread safety: each engine owns its cv::dnn::Net (Net is not thread-safe); OpenCV's own
// worker threads inside a forward are set process-wide with cv::setNumThreads.
// REQUIRES: bundle.manifest.engine is kOpenCvDnn (else kInternal).
Result<std::unique_ptr<Engine>> make_opencv_engine(const ModelBundle& bundle);

// The check every engine makes of its network once built: a forward pass of one zero tensor at the
// manifest's input shape, which catches a height/width/channels mismatch with the network's layers
// and an output that is not one value per label. Returns `engine`, or the run's error with the
// shape it checked named. (Inline: the LibTorch module uses it without linking this library.)
inline Result<std::unique_ptr<Engine>> checked_against_manifest(std::unique_ptr<Engine> engine,
                                                                const ModelManifest& m) {
    Tensor probe{m.input.channels, m.input.height, m.input.width, {}};
    probe.data.assign(probe.size(), 0.0f);
    auto dry = engine->run(std::span<const Tensor>(&probe, 1));
    if (!dry) {
        return Error(dry.error().code(),
                     dry.error().message() + " (checking model.json input " +
                         std::to_string(m.input.channels) + "x" + std::to_string(m.input.height) +
                         "x" + std::to_string(m.input.width) + " against the network)");
    }
    return engine;
}

// The LibTorch engine (torch::jit::load over the bundle's model.ts bytes, CPU): the module is put
// in eval mode, frozen and optimised for inference (torch::jit::optimize_for_inference: weights
// folded as constants, convolutions on oneDNN with weights packed once), and checked against the
// manifest by a dry run at the manifest's input shape, as for OpenCV. forward() takes the N x C x
// H x W batch as its one positional argument (input.name is not used: TorchScript has no input
// names) and must return a tensor of labels.size() values per sample, or a dict of tensors read at
// output.name. LibTorch lives in a module (medanchor_torch_engine.so, or $MEDANCHOR_TORCH_ENGINE)
// opened on the first call, so that commands which never run TorchScript do not load it.
// Errors: kCorrupt (not a TorchScript archive, a failing dry run, a mismatch), kUnsupported
// (another return type; the module cannot be loaded), naming model.ts.
// Thread safety: each engine owns its module; run() applies the set_torch_threads count to the
// calling thread (OpenMP keeps it per thread) and runs under c10::InferenceMode.
// REQUIRES: bundle.manifest.engine is kLibTorch (else kInternal).
Result<std::unique_ptr<Engine>> make_torch_engine(const ModelBundle& bundle);

// The engine the bundle was loaded for (bundle.manifest.engine).
Result<std::unique_ptr<Engine>> make_engine(const ModelBundle& bundle);

// Sets the number of threads OpenCV uses inside one operation (resize, convolution), process
// wide; 0 or less leaves OpenCV's default. Returns the previous setting.
int set_opencv_threads(int threads);

// Sets LibTorch's intra-op thread count (at::set_num_threads), process wide, and has every later
// LibTorch run apply it to its own thread; 0 or less leaves it as it is. Returns the previous
// count (the one last set, else LibTorch's current one; 0 before LibTorch is loaded and any was
// set). Never loads LibTorch: a count set before is applied when it loads. LibTorch's default is
// one thread per physical core.
int set_torch_threads(int threads);

// Both of the above, once at start-up: `threads` for OpenCV's pool and LibTorch's intra-op count
// (0 or less: one per core, std::thread::hardware_concurrency()). Not while a pipeline runs.
void set_compute_threads(int threads);

}  // namespace medanchor::inference
