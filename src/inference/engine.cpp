#include "inference/engine.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "common/loadable_module.h"
#include "inference/torch_module.h"

namespace medanchor::inference {
namespace {

// The LibTorch engine module, opened once, on first use, and never closed (engines made from it
// may live until exit).
struct TorchModule {
    TorchMakeEngine make = nullptr;
    TorchSetThreads set_threads = nullptr;
    // Why it could not be opened (empty when it was); kPermission when refused as a file others
    // could have written.
    std::string error;
    ErrorCode error_code = ErrorCode::kUnsupported;
};

// The requested intra-op count (0: LibTorch's default), read by every LibTorch engine at each
// run; kept here so that it can be set before the module is loaded.
std::atomic<int> g_torch_threads{0};
std::atomic<const TorchModule*> g_loaded{nullptr};  // set once the module is open

const TorchModule& torch_module() {
    static TorchModule module;
    static std::once_flag once;
    std::call_once(once, [] {
        // $MEDANCHOR_TORCH_ENGINE if set, else beside the binary, else where this build put it
        // (for the build's own binaries: common/loadable_module.h).
        auto found =
            open_module("the LibTorch engine module",
                        module_path("MEDANCHOR_TORCH_ENGINE", MEDANCHOR_TORCH_ENGINE_MODULE),
                        {kTorchMakeEngineSymbol, kTorchSetThreadsSymbol});
        if (!found) {
            module.error = found.error().message();
            module.error_code = found.error().code();
            return;
        }
        module.make = reinterpret_cast<TorchMakeEngine>((*found)[0]);
        module.set_threads = reinterpret_cast<TorchSetThreads>((*found)[1]);
        if (const int threads = g_torch_threads.load(); threads > 0)
            module.set_threads(threads);
        g_loaded.store(&module);
    });
    return module;
}

}  // namespace

Result<std::unique_ptr<Engine>> make_torch_engine(const ModelBundle& bundle) {
    if (bundle.manifest.engine != EngineKind::kLibTorch) {
        return Error(ErrorCode::kInternal,
                     bundle.network_path.string() + ": bundle loaded for engine " +
                         engine_name(bundle.manifest.engine) + ", not libtorch");
    }
    const TorchModule& module = torch_module();
    if (module.make == nullptr)
        return Error(module.error_code, bundle.network_path.string() + ": " + module.error);
    Result<std::unique_ptr<Engine>> out = Error(ErrorCode::kInternal, "LibTorch made no engine");
    module.make(&bundle, &g_torch_threads, &out);
    return out;
}

int set_torch_threads(int threads) {
    const int requested = g_torch_threads.load();
    if (threads > 0)
        g_torch_threads.store(threads);
    // Before the module is loaded nothing has run on LibTorch: the count is only recorded, and
    // applied when the module loads. Setting a count never loads LibTorch.
    const TorchModule* module = g_loaded.load();
    if (module == nullptr)
        return requested;
    const int previous = module->set_threads(threads);
    return requested > 0 ? requested : previous;
}

Result<std::unique_ptr<Engine>> make_engine(const ModelBundle& bundle) {
    switch (bundle.manifest.engine) {
        case EngineKind::kOpenCvDnn:
            return make_opencv_engine(bundle);
        case EngineKind::kLibTorch:
            return make_torch_engine(bundle);
    }
    return Error(ErrorCode::kInternal, "unknown engine");
}

void set_compute_threads(int threads) {
    if (threads <= 0)
        threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    set_opencv_threads(threads);
    set_torch_threads(threads);
}

}  // namespace medanchor::inference
