// The module medanchor_opencv_codecs.so: the one file that includes opencv2/imgcodecs.
#include "codecs/opencv_codecs_module.h"

#include <opencv2/imgcodecs.hpp>

using medanchor::codecs::EncodePngFn;
using medanchor::codecs::ImdecodeFn;

extern "C" {

__attribute__((visibility("default"))) bool medanchor_opencv_imdecode(const std::uint8_t* bytes,
                                                                      std::size_t size, int flags,
                                                                      cv::Mat* out,
                                                                      std::string* error) {
    try {
        const cv::Mat input(1, static_cast<int>(size), CV_8U, const_cast<std::uint8_t*>(bytes));
        *out = cv::imdecode(input, flags);
        return true;
    } catch (const cv::Exception& e) {
        *error = e.what();
        return false;
    }
}

__attribute__((visibility("default"))) bool medanchor_opencv_encode_png(
    const cv::Mat* image, std::vector<std::uint8_t>* out, std::string* error) {
    try {
        if (cv::imencode(".png", *image, *out))
            return true;
        *error = "PNG encoding failed";
    } catch (const cv::Exception& e) {
        *error = e.msg;
    }
    return false;
}

}  // extern "C"

// The entry points have the types the library calls them with.
static_assert(std::is_same_v<decltype(&medanchor_opencv_imdecode), ImdecodeFn>);
static_assert(std::is_same_v<decltype(&medanchor_opencv_encode_png), EncodePngFn>);
