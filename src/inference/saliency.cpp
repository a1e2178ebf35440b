#include "inference/saliency.h"

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "codecs/opencv_codecs.h"
#include "common/file_io.h"
#include "inference/calibration.h"

namespace medanchor::inference {
namespace {

// Patch origins along one axis: every stride, plus one flush with the far edge so the border is
// covered as often as the interior allows.
std::vector<int> origins(int size, int patch, int stride) {
    std::vector<int> out;
    for (int o = 0; o + patch <= size; o += stride)
        out.push_back(o);
    if (out.empty() || out.back() + patch < size)
        out.push_back(std::max(0, size - patch));
    return out;
}

}  // namespace

Result<SaliencyMap> occlusion_saliency(Engine& engine, const PreparedInput& input,
                                       const ModelManifest& manifest, std::size_t label,
                                       const SaliencyOptions& options) {
    const Tensor& base = input.tensor;
    if (label >= manifest.labels.size() || base.data.size() != base.size() || base.size() == 0)
        return Error(ErrorCode::kInternal, "occlusion_saliency: bad label or empty input");
    SaliencyMap map;
    map.rows = base.height;
    map.columns = base.width;
    map.label = label;
    map.patch_rows =
        options.patch > 0 ? std::min(options.patch, base.height) : std::max(1, base.height / 8);
    map.patch_columns =
        options.patch > 0 ? std::min(options.patch, base.width) : std::max(1, base.width / 8);
    map.stride_rows = options.stride > 0 ? options.stride : std::max(1, map.patch_rows / 2);
    map.stride_columns = options.stride > 0 ? options.stride : std::max(1, map.patch_columns / 2);
    const int batch = std::max(1, options.batch);

    // The baseline probability, from the same engine and batch path as the occluded copies.
    {
        auto out = engine.run(std::span<const Tensor>(&base, 1));
        if (!out)
            return out.error();
        map.base_probability = calibrated_probabilities(out->front(), manifest)[label];
    }
    // The occluding value per channel: where the window's low end (0) lands after normalising.
    const auto& pre = manifest.preprocessing;
    std::vector<float> fill(static_cast<std::size_t>(base.channels));
    for (int c = 0; c < base.channels; ++c) {
        const float mean = pre.mean.size() == 1 ? pre.mean[0] : pre.mean[c];
        const float std = pre.std.size() == 1 ? pre.std[0] : pre.std[c];
        fill[static_cast<std::size_t>(c)] = (0.0f - mean) / std;
    }

    struct Patch {
        int y, x;
    };
    std::vector<Patch> patches;
    for (int y : origins(base.height, map.patch_rows, map.stride_rows)) {
        for (int x : origins(base.width, map.patch_columns, map.stride_columns))
            patches.push_back({y, x});
    }
    std::vector<double> sum(static_cast<std::size_t>(base.height) * base.width, 0.0);
    std::vector<int> count(sum.size(), 0);
    const std::size_t plane = sum.size();
    std::vector<Tensor> copies;
    for (std::size_t first = 0; first < patches.size(); first += static_cast<std::size_t>(batch)) {
        const std::size_t last = std::min(patches.size(), first + static_cast<std::size_t>(batch));
        copies.assign(last - first, base);
        for (std::size_t k = first; k < last; ++k) {
            Tensor& t = copies[k - first];
            for (int c = 0; c < t.channels; ++c) {
                float* p = t.data.data() + plane * static_cast<std::size_t>(c);
                for (int y = patches[k].y; y < patches[k].y + map.patch_rows; ++y) {
                    std::fill_n(p + static_cast<std::size_t>(y) * base.width + patches[k].x,
                                map.patch_columns, fill[static_cast<std::size_t>(c)]);
                }
            }
        }
        auto out = engine.run(copies);
        if (!out)
            return out.error();
        ++map.forward_passes;
        for (std::size_t k = first; k < last; ++k) {
            const double p = calibrated_probabilities((*out)[k - first], manifest)[label];
            const double drop = map.base_probability - p;
            for (int y = patches[k].y; y < patches[k].y + map.patch_rows; ++y) {
                for (int x = patches[k].x; x < patches[k].x + map.patch_columns; ++x) {
                    const std::size_t i = static_cast<std::size_t>(y) * base.width + x;
                    sum[i] += drop;
                    ++count[i];
                }
            }
        }
    }
    map.values.resize(plane);
    for (std::size_t i = 0; i < plane; ++i)
        map.values[i] = count[i] ? static_cast<float>(sum[i] / count[i]) : 0.0f;
    return map;
}

Result<std::vector<std::uint8_t>> render_saliency_png(const SaliencyMap& map,
                                                      const PreparedInput& input) {
    if (input.display.size() !=
            static_cast<std::size_t>(input.display_rows) * input.display_columns ||
        input.display.empty() ||
        map.values.size() != static_cast<std::size_t>(map.rows) * map.columns ||
        input.content_width <= 0 || input.content_height <= 0 ||
        input.content_x + input.content_width > map.columns ||
        input.content_y + input.content_height > map.rows) {
        return Error(ErrorCode::kInternal, "render_saliency_png: map and input do not match");
    }
    try {
        // The map over the part of the input the image occupies, back at the image's size.
        const cv::Mat full(map.rows, map.columns, CV_32F, const_cast<float*>(map.values.data()));
        const cv::Mat content = full(
            cv::Rect(input.content_x, input.content_y, input.content_width, input.content_height));
        // Full-size planes, each made once and changed in place: the heat (float), its 8-bit
        // colour map, and the blend written over the colour map.
        cv::Mat heat;
        cv::resize(content, heat, cv::Size(input.display_columns, input.display_rows), 0, 0,
                   cv::INTER_LINEAR);
        double max = 0.0;
        cv::minMaxLoc(heat, nullptr, &max);
        cv::max(heat, 0.0, heat);
        if (max > 0)
            heat /= max;  // the weight, in [0,1]: 1 at the strongest evidence
        cv::Mat colour;
        {
            cv::Mat heat8;
            heat.convertTo(heat8, CV_8U, 255.0);
            cv::applyColorMap(heat8, colour, cv::COLORMAP_JET);
        }

        // Over the grey background (the display image, the same in each of the three channels).
        constexpr float kMaxAlpha = 0.6f;
        for (int y = 0; y < colour.rows; ++y) {
            const std::uint8_t* g = input.display.data() + std::size_t(y) * input.display_columns;
            const auto* w = heat.ptr<float>(y);
            auto* o = colour.ptr<cv::Vec3b>(y);
            for (int x = 0; x < colour.cols; ++x) {
                const float a = kMaxAlpha * w[x];
                for (int k = 0; k < 3; ++k) {
                    o[x][k] = cv::saturate_cast<std::uint8_t>((1.0f - a) * g[x] + a * o[x][k]);
                }
            }
        }
        auto png = codecs::encode_png(colour);
        if (!png)
            return Error(png.error().code(), "render_saliency_png: " + png.error().message());
        return png;
    } catch (const cv::Exception& e) {
        return Error(ErrorCode::kInternal, "render_saliency_png: " + e.msg);
    }
}

Status write_saliency_png(const SaliencyMap& map, const PreparedInput& input,
                          const std::filesystem::path& path) {
    auto png = render_saliency_png(map, input);
    if (!png)
        return png.error();
    return write_file_atomically(path, std::span<const std::uint8_t>(*png));
}

}  // namespace medanchor::inference
