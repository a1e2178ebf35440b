// The LibTorch engine: the one file of medanchor that includes torch headers (they take most of a
// minute to compile and define macros of their own; nothing else should see them). It is built as
// a loadable module, medanchor_torch_engine.so, that engine.cpp opens with dlopen the first time
// a LibTorch engine is made: loading libtorch costs most of a second of CPU (hundreds of shared
// libraries, thousands of operator registrations), which no command that does not run a
// TorchScript network should pay. The module exports two C functions (torch_module.h).
#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/script.h>
#include <torch/version.h>

#include <atomic>
#include <cstring>
#include <sstream>

#include "inference/engine.h"
#include "inference/torch_module.h"

namespace medanchor::inference {
namespace {

std::string what_of(const c10::Error& e) {
    return e.what_without_backtrace();
}

class TorchEngine final : public Engine {
  public:
    TorchEngine(torch::jit::Module module, const ModelManifest& manifest, std::string file,
                const std::atomic<int>& threads)
        : threads_(threads),
          module_(std::move(module)),
          input_(manifest.input),
          output_name_(manifest.output.name),
          outputs_(manifest.labels.size()),
          file_(std::move(file)) {}

    Result<std::vector<std::vector<float>>> run(std::span<const Tensor> inputs) override {
        if (inputs.empty())
            return std::vector<std::vector<float>>{};
        // ATen keeps the intra-op count process-wide, but its OpenMP backend applies it per thread
        // (omp_set_num_threads sets the calling thread's count; ATen copies the process-wide
        // value into a new thread only at that thread's first parallel loop, and oneDNN reads
        // the calling thread's count directly). So each run applies the requested count to the
        // thread it runs on.
        const int threads = threads_.load();
        if (threads > 0 && at::get_num_threads() != threads)
            at::set_num_threads(threads);
        const auto n = static_cast<std::int64_t>(inputs.size());
        const std::size_t per_sample = static_cast<std::size_t>(input_.channels) *
                                       static_cast<std::size_t>(input_.height) *
                                       static_cast<std::size_t>(input_.width);
        // InferenceMode: no autograd records, no version counters; the fastest CPU mode.
        c10::InferenceMode inference;
        at::Tensor blob = torch::empty({n, input_.channels, input_.height, input_.width},
                                       torch::TensorOptions().dtype(torch::kFloat32));
        float* dst = blob.data_ptr<float>();
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const Tensor& t = inputs[i];
            if (t.data.size() != per_sample) {
                return Error(ErrorCode::kInternal, "engine input " + std::to_string(i) + " has " +
                                                       std::to_string(t.data.size()) +
                                                       " values, the model takes " +
                                                       std::to_string(per_sample));
            }
            std::memcpy(dst + per_sample * i, t.data.data(), per_sample * sizeof(float));
        }
        at::Tensor out;
        try {
            const c10::IValue result = module_.forward({blob});
            if (result.isTensor()) {
                out = result.toTensor();
            } else if (result.isGenericDict()) {
                // Networks that return named outputs (a dict) are read at output.name.
                const auto dict = result.toGenericDict();
                const auto it = dict.find(c10::IValue(output_name_));
                if (it == dict.end() || !it->value().isTensor()) {
                    return Error(ErrorCode::kCorrupt,
                                 file_ + ": forward returned a dict without a tensor at \"" +
                                     output_name_ + "\" (model.json output.name)");
                }
                out = it->value().toTensor();
            } else {
                return Error(ErrorCode::kUnsupported,
                             file_ + ": forward returned " + result.tagKind() +
                                 "; medanchor reads a tensor, or a dict of tensors at output.name");
            }
            out = out.to(torch::kFloat32).contiguous();
        } catch (const c10::Error& e) {
            return Error(ErrorCode::kCorrupt, file_ + ": forward pass failed: " + what_of(e));
        } catch (const std::exception& e) {
            return Error(ErrorCode::kCorrupt, file_ + ": forward pass failed: " + e.what());
        }
        if (out.dim() < 1 || out.size(0) != n ||
            static_cast<std::size_t>(out.numel()) != static_cast<std::size_t>(n) * outputs_) {
            return Error(ErrorCode::kCorrupt, file_ + ": output has shape " + shape_text(out) +
                                                  " for a batch of " + std::to_string(n) +
                                                  ", expected " + std::to_string(outputs_) +
                                                  " values per image (one per label)");
        }
        std::vector<std::vector<float>> results(inputs.size());
        const float* src = out.data_ptr<float>();
        for (std::size_t i = 0; i < results.size(); ++i)
            results[i].assign(src + i * outputs_, src + (i + 1) * outputs_);
        return results;
    }

    std::string description() const override {
        return std::string("libtorch ") + TORCH_VERSION + " cpu";
    }

  private:
    static std::string shape_text(const at::Tensor& t) {
        std::string s = "[";
        for (std::int64_t d = 0; d < t.dim(); ++d) {
            if (d > 0)
                s += ", ";
            s += std::to_string(t.size(d));
        }
        return s + "]";
    }

    const std::atomic<int>& threads_;
    torch::jit::Module module_;
    InputSpec input_;
    std::string output_name_;
    std::size_t outputs_;
    std::string file_;
};

Result<std::unique_ptr<Engine>> make(const ModelBundle& bundle, const std::atomic<int>& threads) {
    const std::string file = bundle.network_path.string();
    const ModelManifest& m = bundle.manifest;
    // (make_torch_engine has checked that the bundle was loaded for LibTorch.)
    torch::jit::Module module;
    try {
        // torch::jit::load reads from a stream; the bytes are the ones that were hashed.
        std::istringstream in(std::string(reinterpret_cast<const char*>(bundle.network.data()),
                                          bundle.network.size()));
        module = torch::jit::load(in, torch::kCPU);
        module.eval();
        // Freezing inlines the weights as constants and folds what it can; optimising for
        // inference then rewrites convolutions to oneDNN with weights packed once, instead of
        // repacked at every call (docs/model-bundle.md, "Engines": about 5x faster here).
        module = torch::jit::optimize_for_inference(module);
    } catch (const c10::Error& e) {
        return Error(ErrorCode::kCorrupt,
                     file + ": LibTorch cannot load this TorchScript module: " + what_of(e));
    } catch (const std::exception& e) {
        return Error(ErrorCode::kCorrupt,
                     file + ": LibTorch cannot load this TorchScript module: " + e.what());
    }
    auto engine = std::make_unique<TorchEngine>(std::move(module), m, file, threads);
    return checked_against_manifest(std::move(engine), m);
}

}  // namespace

extern "C" {

void medanchor_torch_make_engine(const ModelBundle* bundle, const std::atomic<int>* threads,
                                 Result<std::unique_ptr<Engine>>* out) {
    *out = make(*bundle, *threads);
}

int medanchor_torch_set_threads(int threads) {
    const int previous = at::get_num_threads();
    if (threads > 0)
        at::set_num_threads(threads);
    return previous;
}

}  // extern "C"

}  // namespace medanchor::inference
