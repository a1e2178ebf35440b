#include "service/model_input.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

#include "image/modality_lut.h"

namespace medanchor::service {
namespace {

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
}

// Gives the whole pages inside `bytes` back to the system now (they read as zeros if touched
// again): for a buffer whose contents are spent and that is about to be freed. The allocator
// only ever writes its bookkeeping into a block it is given back, which faults a fresh page in,
// so this is safe on any heap block; pages shared with neighbouring data are left alone.
void release_pages(std::span<const std::uint8_t> bytes) {
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data());
    const std::uintptr_t first = (begin + page - 1) / page * page;
    const std::uintptr_t last = (begin + bytes.size()) / page * page;
    // A refusal only leaves the pages in memory until the buffer is freed.
    if (last > first)
        ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

// Grey samples are converted in runs of this many pixels: the model input grows by a run (its
// pages touched only then) and the run's pixels are released before the next.
constexpr std::size_t kRun = std::size_t{1} << 18;

Result<inference::ModalityImage> make_input(const image::Image& img, const std::string& source,
                                            std::uint32_t frame, bool consume) {
    const image::Geometry& g = img.geometry;
    if (frame >= g.frames) {
        return Error(ErrorCode::kInvalidArgument, source + ": no frame " + std::to_string(frame) +
                                                      " (the image has " +
                                                      std::to_string(g.frames) + ")");
    }
    inference::ModalityImage out;
    out.rows = static_cast<int>(g.rows);
    out.columns = static_cast<int>(g.columns);
    out.source = source;
    out.modality = img.info.format == image::SourceFormat::kDicom ? img.info.modality : "";
    out.has_window = img.info.has_window;
    out.window_center = img.info.window_center;
    out.window_width = img.info.window_width;
    if (g.frames > 1)
        out.steps.push_back("frame " + std::to_string(frame) + " of " + std::to_string(g.frames));

    const std::size_t pixels = std::size_t{g.rows} * g.columns;
    const std::size_t base = g.samples_per_frame() * frame;
    if (g.samples_per_pixel == 1) {
        if (g.photometric != "MONOCHROME1" && g.photometric != "MONOCHROME2") {
            return Error(ErrorCode::kUnsupported,
                         source + ": photometric interpretation " + g.photometric +
                             " is not supported for inference (MONOCHROME1/2, RGB, YBR_FULL)");
        }
        out.channels = 1;
        out.invert = g.photometric == "MONOCHROME1";
        const double slope = img.info.rescale_slope;
        const double intercept = img.info.rescale_intercept;
        const std::size_t width = g.sample_bytes();
        const bool release = consume && img.pixels.size() >= (base + pixels) * width;
        if (release) {
            // Only the chosen frame is read: the others go at once.
            release_pages(std::span(img.pixels).first(base * width));
            release_pages(std::span(img.pixels).subspan((base + pixels) * width));
        }
        out.values.reserve(pixels);
        for (std::size_t start = 0; start < pixels; start += kRun) {
            const std::size_t end = std::min(pixels, start + kRun);
            out.values.resize(end);
            for (std::size_t i = start; i < end; ++i) {
                out.values[i] =
                    static_cast<float>(image::stored_value(img, base + i) * slope + intercept);
            }
            if (release)
                release_pages(std::span(img.pixels).subspan(0, (base + end) * width));
        }
        if (img.info.has_rescale) {
            out.steps.push_back("modality LUT slope=" + num(slope) +
                                " intercept=" + num(intercept) +
                                (img.info.rescale_type.empty() ? "" : " " + img.info.rescale_type));
        }
        return out;
    }
    const bool ybr = g.photometric == "YBR_FULL";
    if (g.samples_per_pixel < 3 || (g.samples_per_pixel == 3 && g.photometric != "RGB" && !ybr)) {
        return Error(ErrorCode::kUnsupported,
                     source + ": photometric interpretation " + g.photometric + " with " +
                         std::to_string(g.samples_per_pixel) +
                         " samples per pixel is not supported for inference");
    }
    out.channels = 3;
    out.values.resize(pixels * 3);
    const std::size_t spp = g.samples_per_pixel;
    // YBR_FULL to RGB (PS3.3 C.7.6.3.1.2), around the mid value of the sample range.
    const double mid = static_cast<double>(1u << (g.bits_stored - 1));
    for (std::size_t i = 0; i < pixels; ++i) {
        const double a = image::stored_value(img, base + i * spp);
        const double b = image::stored_value(img, base + i * spp + 1);
        const double c = image::stored_value(img, base + i * spp + 2);
        float* o = &out.values[i * 3];
        if (ybr) {
            o[0] = static_cast<float>(a + 1.402 * (c - mid));
            o[1] = static_cast<float>(a - 0.344136 * (b - mid) - 0.714136 * (c - mid));
            o[2] = static_cast<float>(a + 1.772 * (b - mid));
        } else {
            o[0] = static_cast<float>(a);
            o[1] = static_cast<float>(b);
            o[2] = static_cast<float>(c);
        }
    }
    if (ybr)
        out.steps.push_back("YBR_FULL->RGB");
    if (spp == 4)
        out.steps.push_back("alpha dropped");
    return out;
}

}  // namespace

Result<inference::ModalityImage> to_model_input(const image::Image& img, const std::string& source,
                                                std::uint32_t frame) {
    return make_input(img, source, frame, false);
}

Result<inference::ModalityImage> to_model_input(image::Image&& img, const std::string& source,
                                                std::uint32_t frame) {
    auto out = make_input(img, source, frame, true);
    std::vector<std::uint8_t>().swap(img.pixels);
    return out;
}

}  // namespace medanchor::service
