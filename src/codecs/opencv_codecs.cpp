#include "codecs/opencv_codecs.h"

#include <mutex>

#include "codecs/codecs_module.h"
#include "codecs/opencv_codecs_module.h"
#include "common/loadable_module.h"

namespace medanchor::codecs {
namespace {

struct Module {
    ImdecodeFn imdecode = nullptr;
    EncodePngFn encode_png = nullptr;
    Error error{ErrorCode::kInternal, ""};  // why it could not be loaded
};

// Opened once, on first use, never closed.
const Module& module() {
    static Module m;
    static std::once_flag once;
    std::call_once(once, [] {
        auto found =
            open_module("the OpenCV image codecs module",
                        module_path("MEDANCHOR_OPENCV_CODECS", MEDANCHOR_OPENCV_CODECS_MODULE),
                        {kImdecodeSymbol, kEncodePngSymbol});
        if (!found) {
            m.error = found.error();
            return;
        }
        m.imdecode = reinterpret_cast<ImdecodeFn>((*found)[0]);
        m.encode_png = reinterpret_cast<EncodePngFn>((*found)[1]);
    });
    return m;
}

}  // namespace

Status load_module() {
    const Module& m = module();
    if (m.imdecode == nullptr)
        return m.error;
    return Status::Ok();
}

Result<cv::Mat> imdecode(std::span<const std::uint8_t> bytes, int flags) {
    const Module& m = module();
    if (m.imdecode == nullptr)
        return m.error;
    cv::Mat out;
    std::string error;
    if (!m.imdecode(bytes.data(), bytes.size(), flags, &out, &error))
        return Error(ErrorCode::kCorrupt, error);
    return out;
}

Result<std::vector<std::uint8_t>> encode_png(const cv::Mat& image) {
    const Module& m = module();
    if (m.encode_png == nullptr)
        return m.error;
    std::vector<std::uint8_t> out;
    std::string error;
    if (!m.encode_png(&image, &out, &error))
        return Error(ErrorCode::kInternal, error);
    return out;
}

}  // namespace medanchor::codecs
