// Engines run a bundle's network on a batch of input tensors. The interface is small so that a
// second engine (ONNX Runtime, a CUDA one) can sit beside the OpenCV dnn one without the
// pipeline, calibration or saliency code changing.
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

    // A short description for reports, e.g. "opencv-dnn 4.6.0 cpu".
    virtual std::string description() const = 0;
};

// The OpenCV dnn engine (cv::dnn::readNetFromONNX over the bundle's bytes, backend OpenCV,
// target CPU). Checks the network against the manifest on construction: the input name
// exists, a forward pass at the manifest's input shape succeeds, the output name exists and
// yields labels.size() values per sample. Errors: kCorrupt (unreadable ONNX, mismatch),
// kUnsupported (an operator OpenCV 4.6 cannot import), all naming model.onnx.
// Thread safety: each engine owns its cv::dnn::Net (Net is not thread-safe); OpenCV's own
// worker threads inside a forward are set process-wide with cv::setNumThreads.
Result<std::unique_ptr<Engine>> make_opencv_engine(const ModelBundle& bundle);

// Sets the number of threads OpenCV uses inside one operation (resize, convolution), process
// wide; 0 or less leaves OpenCV's default. Returns the previous setting.
int set_opencv_threads(int threads);

}  // namespace medanchor::inference
