// The OpenCV dnn engine: the one file of the inference layer that includes opencv2/dnn.
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>

#include "inference/engine.h"

namespace medanchor::inference {
namespace {

class OpenCvEngine final : public Engine {
  public:
    OpenCvEngine(cv::dnn::Net net, const ModelManifest& manifest, std::string onnx_name)
        : net_(std::move(net)),
          input_(manifest.input),
          output_name_(manifest.output.name),
          outputs_(manifest.labels.size()),
          onnx_name_(std::move(onnx_name)) {}

    Result<std::vector<std::vector<float>>> run(std::span<const Tensor> inputs) override {
        if (inputs.empty())
            return std::vector<std::vector<float>>{};
        const int n = static_cast<int>(inputs.size());
        const int shape[4] = {n, input_.channels, input_.height, input_.width};
        cv::Mat blob(4, shape, CV_32F);
        const std::size_t per_sample = static_cast<std::size_t>(input_.channels) *
                                       static_cast<std::size_t>(input_.height) *
                                       static_cast<std::size_t>(input_.width);
        auto* dst = reinterpret_cast<float*>(blob.data);
        for (int i = 0; i < n; ++i) {
            const Tensor& t = inputs[static_cast<std::size_t>(i)];
            if (t.data.size() != per_sample) {
                return Error(ErrorCode::kInternal, "engine input " + std::to_string(i) + " has " +
                                                       std::to_string(t.data.size()) +
                                                       " values, the model takes " +
                                                       std::to_string(per_sample));
            }
            std::copy(t.data.begin(), t.data.end(), dst + per_sample * static_cast<std::size_t>(i));
        }
        cv::Mat out;
        try {
            net_.setInput(blob, input_.name);
            out = net_.forward(output_name_);
        } catch (const cv::Exception& e) {
            return Error(ErrorCode::kCorrupt, onnx_name_ + ": forward pass failed: " + e.msg);
        }
        if (out.type() != CV_32F || !out.isContinuous() ||
            out.total() != static_cast<std::size_t>(n) * outputs_) {
            return Error(ErrorCode::kCorrupt, onnx_name_ + ": output \"" + output_name_ +
                                                  "\" has " + std::to_string(out.total()) +
                                                  " values for a batch of " + std::to_string(n) +
                                                  ", expected " + std::to_string(outputs_) +
                                                  " per image (one per label)");
        }
        std::vector<std::vector<float>> results(static_cast<std::size_t>(n));
        const auto* src = reinterpret_cast<const float*>(out.data);
        for (std::size_t i = 0; i < results.size(); ++i) {
            results[i].assign(src + i * outputs_, src + (i + 1) * outputs_);
        }
        return results;
    }

    std::string description() const override {
        return std::string("opencv-dnn ") + CV_VERSION + " cpu";
    }

  private:
    cv::dnn::Net net_;
    InputSpec input_;
    std::string output_name_;
    std::size_t outputs_;
    std::string onnx_name_;
};

}  // namespace

Result<std::unique_ptr<Engine>> make_opencv_engine(const ModelBundle& bundle) {
    const std::string onnx_name = bundle.network_path.string();
    const ModelManifest& m = bundle.manifest;
    if (m.engine != EngineKind::kOpenCvDnn) {
        return Error(ErrorCode::kInternal, onnx_name + ": bundle loaded for engine " +
                                               engine_name(m.engine) + ", not opencv-dnn");
    }
    cv::dnn::Net net;
    try {
        net = cv::dnn::readNetFromONNX(reinterpret_cast<const char*>(bundle.network.data()),
                                       bundle.network.size());
    } catch (const cv::Exception& e) {
        const bool unsupported = e.msg.find("Can't create layer") != std::string::npos;
        return Error(unsupported ? ErrorCode::kUnsupported : ErrorCode::kCorrupt,
                     onnx_name + ": OpenCV dnn cannot read this ONNX model: " + e.msg);
    }
    if (net.empty())
        return Error(ErrorCode::kCorrupt, onnx_name + ": OpenCV dnn read an empty network");
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);

    // The names: OpenCV reports a missing input or output as an exception on first use, so
    // check them here, with messages that say which manifest field is wrong.
    const int shape[4] = {1, m.input.channels, m.input.height, m.input.width};
    try {
        net.setInput(cv::Mat(4, shape, CV_32F, cv::Scalar(0)), m.input.name);
    } catch (const cv::Exception&) {
        return Error(ErrorCode::kCorrupt, onnx_name + ": the network has no input named \"" +
                                              m.input.name + "\" (model.json input.name)");
    }
    const auto outputs = net.getUnconnectedOutLayersNames();
    const auto layers = net.getLayerNames();
    if (std::find(outputs.begin(), outputs.end(), m.output.name) == outputs.end() &&
        std::find(layers.begin(), layers.end(), m.output.name) == layers.end()) {
        std::string known;
        for (const auto& o : outputs)
            known += (known.empty() ? "\"" : ", \"") + o + "\"";
        return Error(ErrorCode::kCorrupt, onnx_name + ": the network has no output named \"" +
                                              m.output.name +
                                              "\" (model.json output.name; the "
                                              "network's outputs: " +
                                              known + ")");
    }
    auto engine = std::make_unique<OpenCvEngine>(std::move(net), m, onnx_name);
    return checked_against_manifest(std::move(engine), m);
}

int set_opencv_threads(int threads) {
    const int previous = cv::getNumThreads();
    if (threads > 0)
        cv::setNumThreads(threads);
    return previous;
}

}  // namespace medanchor::inference
