// OpenCV's image codecs (imgcodecs: JPEG and TIFF input, the saliency PNG), loaded on first use
// from a module, medanchor_opencv_codecs.so. Debian's libopencv_imgcodecs brings about 120
// shared libraries with it (GDAL, HDF5, ...): linked into the binary they cost every command
// about 0.13 s at start (README, "Performance": `perf stat`), though most commands never decode
// a JPEG. The module is found beside the build's binary or at $MEDANCHOR_OPENCV_CODECS.
#pragma once

#include <opencv2/core.hpp>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::codecs {

// cv::imdecode(bytes, flags): the decoded image, empty when OpenCV cannot decode the bytes;
// an exception OpenCV throws comes back as kCorrupt with its message; kUnsupported when the
// module cannot be loaded (named, with the loader's reason).
Result<cv::Mat> imdecode(std::span<const std::uint8_t> bytes, int flags);

// cv::imencode(".png", image): the PNG; kInternal when OpenCV cannot encode it.
Result<std::vector<std::uint8_t>> encode_png(const cv::Mat& image);

}  // namespace medanchor::codecs
