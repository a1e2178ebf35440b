// The interface between the codecs library (opencv_codecs.cpp) and its module
// (medanchor_opencv_codecs.so, opencv_codecs_module.cpp): built together, with the same compiler
// and flags, so C++ types cross it as they are; the entry points have C names for dlsym.
#pragma once

#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace medanchor::codecs {

// cv::imdecode into *out; false with *error set when OpenCV threw.
using ImdecodeFn = bool (*)(const std::uint8_t* bytes, std::size_t size, int flags, cv::Mat* out,
                            std::string* error);
inline constexpr const char* kImdecodeSymbol = "medanchor_opencv_imdecode";

// cv::imencode(".png") into *out; false with *error set when it failed or threw.
using EncodePngFn = bool (*)(const cv::Mat* image, std::vector<std::uint8_t>* out,
                             std::string* error);
inline constexpr const char* kEncodePngSymbol = "medanchor_opencv_encode_png";

}  // namespace medanchor::codecs
