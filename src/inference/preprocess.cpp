#include "inference/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace medanchor::inference {
namespace {

// Numbers in step records: short and exact enough to reproduce the step (%.6g).
std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

std::string list(const std::vector<float>& v) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i > 0)
            out += ',';
        out += num(v[i]);
    }
    return out + "]";
}

Error fail(ErrorCode code, const ModalityImage& image, const std::string& what) {
    return Error(code, (image.source.empty() ? std::string("image") : image.source) + ": " + what);
}

int cv_interpolation(Interpolation i) {
    switch (i) {
        case Interpolation::kArea:
            return cv::INTER_AREA;
        case Interpolation::kLinear:
            return cv::INTER_LINEAR;
        case Interpolation::kNearest:
            return cv::INTER_NEAREST;
    }
    return cv::INTER_AREA;
}

// In place: the value at percentile p of `v` (whose order it changes).
double percentile_in_place(std::vector<float>& v, double p) {
    const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
    const auto k = static_cast<std::size_t>(std::floor(pos));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    const double lower = v[k];
    if (k + 1 >= v.size())
        return lower;
    const double upper = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(k) + 1, v.end());
    return lower + (pos - static_cast<double>(k)) * (upper - lower);
}

}  // namespace

double percentile(std::vector<float> values, double p) {
    return percentile_in_place(values, p);
}

Result<PreparedInput> preprocess(const ModalityImage& image, const ModelManifest& manifest) {
    ModalityImage copy = image;
    return preprocess(std::move(copy), manifest);
}

Result<PreparedInput> preprocess(ModalityImage&& image, const ModelManifest& manifest,
                                 bool display) {
    const InputSpec& in = manifest.input;
    const Preprocessing& pre = manifest.preprocessing;
    if (image.rows <= 0 || image.columns <= 0 || (image.channels != 1 && image.channels != 3) ||
        image.values.size() != static_cast<std::size_t>(image.rows) *
                                   static_cast<std::size_t>(image.columns) *
                                   static_cast<std::size_t>(image.channels)) {
        return fail(ErrorCode::kInvalidArgument, image,
                    "image is empty or its values do not match its geometry");
    }
    if (!manifest.accepts_modality(image.modality)) {
        std::string accepted;
        for (const auto& m : pre.modalities)
            accepted += (accepted.empty() ? "" : ", ") + m;
        return fail(ErrorCode::kUnsupported, image,
                    "modality " + (image.modality.empty() ? "(none: not DICOM)" : image.modality) +
                        " is not accepted by model " + manifest.name + " (accepts " + accepted +
                        ")");
    }
    if (image.channels == 3 && in.channels != 1 && in.channels != 3) {
        return fail(ErrorCode::kUnsupported, image,
                    "a colour image cannot fill a " + std::to_string(in.channels) +
                        "-channel input (only 1 or 3)");
    }

    PreparedInput out;
    out.steps = image.steps;
    const std::size_t pixels =
        static_cast<std::size_t>(image.rows) * static_cast<std::size_t>(image.columns);

    // 1. Colour to luminance for a one-channel network.
    int channels = image.channels;
    std::vector<float> values;
    if (channels == 3 && in.channels == 1) {
        values.resize(pixels);
        for (std::size_t i = 0; i < pixels; ++i) {
            const float* p = &image.values[3 * i];
            values[i] = kLumaR * p[0] + kLumaG * p[1] + kLumaB * p[2];
        }
        channels = 1;
        out.steps.push_back("luminance 0.299R+0.587G+0.114B");
    } else {
        values = std::move(image.values);
    }

    // 2. Window to [0,1]: clamp((v - (c - w/2)) / w, 0, 1), or v / scale for "none".
    const WindowSpec& w = pre.window;
    double center = w.center;
    double width = w.width;
    switch (w.type) {
        case WindowType::kFixed:
            out.steps.push_back("window fixed c=" + num(center) + " w=" + num(width));
            break;
        case WindowType::kPercentile: {
            std::vector<float> scratch = values;
            const double lo = percentile_in_place(scratch, w.low);
            const double hi = percentile_in_place(scratch, w.high);
            // A constant image has no spread: a width of 1 keeps the formula defined (it maps
            // every pixel to 0.5).
            width = hi > lo ? hi - lo : 1.0;
            center = hi > lo ? (lo + hi) / 2 : lo;
            out.steps.push_back("window percentile p" + num(w.low) + "=" + num(lo) + " p" +
                                num(w.high) + "=" + num(hi) + " (c=" + num(center) +
                                " w=" + num(width) + ")");
            break;
        }
        case WindowType::kDicom:
            if (!image.has_window || !(image.window_width > 0)) {
                return fail(ErrorCode::kUnsupported, image,
                            "model " + manifest.name +
                                " windows with the file's Window Center/Width (0028,1050/1051), "
                                "and this image has none");
            }
            center = image.window_center;
            width = image.window_width;
            out.steps.push_back("window dicom c=" + num(center) + " w=" + num(width));
            break;
        case WindowType::kNone:
            out.steps.push_back("window none scale=" + num(w.scale));
            break;
    }
    if (w.type == WindowType::kNone) {
        const auto scale = static_cast<float>(w.scale);
        for (float& v : values)
            v = v / scale;
    } else {
        const double low = center - width / 2;
        for (float& v : values) {
            v = static_cast<float>(std::clamp((static_cast<double>(v) - low) / width, 0.0, 1.0));
        }
    }
    if (image.invert) {
        for (float& v : values)
            v = 1.0f - v;
        out.steps.push_back("invert (MONOCHROME1)");
    }

    // The display image for saliency: the windowed image, one channel.
    out.display_rows = image.rows;
    out.display_columns = image.columns;
    if (display) {
        out.display.resize(pixels);
        // Row by row (no full-size float copy): clamp to [0,1], then OpenCV's rounding to 8 bits.
        const auto columns = static_cast<std::size_t>(image.columns);
        std::vector<float> row(columns);
        const cv::Mat row_mat(1, image.columns, CV_32F, row.data());
        for (std::size_t y = 0; y < static_cast<std::size_t>(image.rows); ++y) {
            for (std::size_t x = 0; x < columns; ++x) {
                const std::size_t i = y * columns + x;
                row[x] = channels == 1 ? values[i]
                                       : kLumaR * values[3 * i] + kLumaG * values[3 * i + 1] +
                                             kLumaB * values[3 * i + 2];
            }
            cv::Mat(cv::min(cv::max(row_mat, 0.0), 1.0))
                .convertTo(cv::Mat(1, image.columns, CV_8U, out.display.data() + y * columns),
                           CV_8U, 255.0);
        }
    }

    // 3. Resize to the input size.
    const cv::Mat source(image.rows, image.columns, CV_32FC(channels), values.data());
    cv::Mat resized;
    const int interpolation = cv_interpolation(pre.interpolation);
    const std::string size_text = std::to_string(image.columns) + "x" + std::to_string(image.rows) +
                                  "->" + std::to_string(in.width) + "x" + std::to_string(in.height);
    if (pre.resize == ResizePolicy::kStretch) {
        cv::resize(source, resized, cv::Size(in.width, in.height), 0, 0, interpolation);
        out.content_width = in.width;
        out.content_height = in.height;
        out.steps.push_back("resize " + size_text + " stretch " +
                            interpolation_name(pre.interpolation));
    } else {
        const double scale = std::min(static_cast<double>(in.width) / image.columns,
                                      static_cast<double>(in.height) / image.rows);
        const int cw =
            std::clamp(static_cast<int>(std::lround(image.columns * scale)), 1, in.width);
        const int ch = std::clamp(static_cast<int>(std::lround(image.rows * scale)), 1, in.height);
        out.content_x = (in.width - cw) / 2;
        out.content_y = (in.height - ch) / 2;
        out.content_width = cw;
        out.content_height = ch;
        resized = cv::Mat::zeros(in.height, in.width, CV_32FC(channels));
        cv::Mat inner;
        cv::resize(source, inner, cv::Size(cw, ch), 0, 0, interpolation);
        inner.copyTo(resized(cv::Rect(out.content_x, out.content_y, cw, ch)));
        out.steps.push_back(
            "resize " + size_text + " letterbox " + interpolation_name(pre.interpolation) +
            " content " + std::to_string(cw) + "x" + std::to_string(ch) + " at (" +
            std::to_string(out.content_x) + "," + std::to_string(out.content_y) + ") pad 0");
    }

    // 4. Channel fill (interleaved HxWxC to planar CxHxW) and 5. normalisation per channel.
    Tensor& t = out.tensor;
    t.channels = in.channels;
    t.height = in.height;
    t.width = in.width;
    t.data.resize(t.size());
    const std::size_t plane = static_cast<std::size_t>(in.height) * in.width;
    const auto* src = reinterpret_cast<const float*>(resized.data);
    for (int c = 0; c < in.channels; ++c) {
        const int from = channels == 1 ? 0 : c;
        const float mean = pre.mean.size() == 1 ? pre.mean[0] : pre.mean[c];
        const float std = pre.std.size() == 1 ? pre.std[0] : pre.std[c];
        float* dst = t.data.data() + plane * static_cast<std::size_t>(c);
        for (std::size_t i = 0; i < plane; ++i) {
            dst[i] = (src[i * channels + from] - mean) / std;
        }
    }
    if (channels == 1 && in.channels > 1) {
        out.steps.push_back("channels replicate 1->" + std::to_string(in.channels));
    }
    out.steps.push_back("normalize mean=" + list(pre.mean) + " std=" + list(pre.std));
    return out;
}

}  // namespace medanchor::inference
