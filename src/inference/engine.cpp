#include "inference/engine.h"

namespace medanchor::inference {

Result<std::unique_ptr<Engine>> make_engine(const ModelBundle& bundle) {
    switch (bundle.manifest.engine) {
        case EngineKind::kOpenCvDnn:
            return make_opencv_engine(bundle);
        case EngineKind::kLibTorch:
            return make_torch_engine(bundle);
    }
    return Error(ErrorCode::kInternal, "unknown engine");
}

}  // namespace medanchor::inference
