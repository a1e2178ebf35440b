// The unit of data between preprocessing and an engine: one sample's input (or output) as a
// dense float32 array in C x H x W order. A batch is a span of these; engines pack it into one
// N x C x H x W blob themselves.
#pragma once

#include <cstddef>
#include <vector>

namespace medanchor::inference {

struct Tensor {
    int channels = 0;
    int height = 0;
    int width = 0;
    std::vector<float> data;  // channels * height * width values, channel planes in order

    std::size_t size() const {
        return static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) *
               static_cast<std::size_t>(width);
    }
};

}  // namespace medanchor::inference
