// Real DICOM files (pydicom's public test files, tests/data/README.md) through the image layer,
// the app's hand-over (to_model_input) and preprocessing: CT in Hounsfield units under a fixed
// window, MR under the file's own window, a multi-frame file, YBR colour, lossless variants.
#include "service/model_input.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "../image/test_support.h"
#include "image/modality_lut.h"
#include "image/reader.h"

namespace medanchor::service {
namespace {

using testing::pydicom_file;

inference::ModelManifest manifest(int size, inference::WindowSpec window) {
    inference::ModelManifest m;
    m.name = "real-files";
    m.labels = {{"a", "A"}, {"b", "B"}};
    m.input = {"image", 1, size, size};
    m.preprocessing.modalities = {"*"};
    m.preprocessing.window = window;
    m.preprocessing.resize = inference::ResizePolicy::kStretch;
    m.preprocessing.interpolation = inference::Interpolation::kNearest;
    m.preprocessing.mean = {0.0f};
    m.preprocessing.std = {1.0f};
    return m;
}

inference::ModalityImage load(const std::string& name) {
    auto img = image::read_image(pydicom_file(name));
    EXPECT_TRUE(img) << img.error().message();
    if (!img)
        return {};
    auto input = to_model_input(*img, name);
    EXPECT_TRUE(input) << input.error().message();
    return input ? std::move(*input) : inference::ModalityImage{};
}

TEST(ModelInput, CtInHounsfieldUnitsUnderAFixedWindow) {
    auto img = image::read_image(pydicom_file("CT_small.dcm"));
    ASSERT_TRUE(img);
    auto input = to_model_input(*img, "CT_small.dcm");
    ASSERT_TRUE(input);
    EXPECT_EQ(input->modality, "CT");
    EXPECT_EQ(input->rows, 128);
    EXPECT_EQ(input->channels, 1);
    ASSERT_FALSE(input->steps.empty());
    EXPECT_EQ(input->steps[0].rfind("modality LUT slope=1 intercept=-1024", 0), 0u);
    const auto hu = image::apply_modality_lut(*img);
    ASSERT_TRUE(hu);
    EXPECT_EQ(input->values, *hu);

    inference::WindowSpec w;
    w.type = inference::WindowType::kFixed;
    w.center = 40;  // a soft-tissue window
    w.width = 400;
    auto p = inference::preprocess(*input, manifest(128, w));
    ASSERT_TRUE(p) << p.error().message();
    for (std::size_t i = 0; i < hu->size(); i += 97) {
        const double expected = std::clamp(((*hu)[i] - (40.0 - 200.0)) / 400.0, 0.0, 1.0);
        EXPECT_NEAR(p->tensor.data[i], expected, 1e-6) << "pixel " << i << " HU " << (*hu)[i];
    }
    EXPECT_EQ(p->steps[1], "window fixed c=40 w=400");
}

TEST(ModelInput, MrUnderTheFilesOwnWindow) {
    const auto input = load("MR_small.dcm");
    EXPECT_EQ(input.modality, "MR");
    ASSERT_TRUE(input.has_window);
    EXPECT_DOUBLE_EQ(input.window_center, 600);
    EXPECT_DOUBLE_EQ(input.window_width, 1600);
    inference::WindowSpec w;
    w.type = inference::WindowType::kDicom;
    auto p = inference::preprocess(input, manifest(64, w));
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_EQ(p->steps[0], "window dicom c=600 w=1600");
    for (std::size_t i = 0; i < input.values.size(); i += 31) {
        const double expected = std::clamp((input.values[i] + 200.0) / 1600.0, 0.0, 1.0);
        EXPECT_NEAR(p->tensor.data[i], expected, 1e-6);
    }
    // CT_small has no window: a "dicom" window is refused, naming the file.
    auto refused = inference::preprocess(load("CT_small.dcm"), manifest(64, w));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message().rfind("CT_small.dcm: ", 0), 0u);
}

TEST(ModelInput, LosslessVariantsGiveTheSameTensor) {
    inference::WindowSpec w;
    w.type = inference::WindowType::kPercentile;
    w.low = 0.5;
    w.high = 99.5;
    const auto reference = inference::preprocess(load("MR_small.dcm"), manifest(32, w));
    ASSERT_TRUE(reference);
    for (const char* name : {"MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                             "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"}) {
        const auto p = inference::preprocess(load(name), manifest(32, w));
        ASSERT_TRUE(p) << name;
        EXPECT_EQ(p->tensor.data, reference->tensor.data) << name;
        EXPECT_EQ(p->steps, reference->steps) << name;
    }
}

TEST(ModelInput, MultiFrameUsesTheFirstFrame) {
    auto img = image::read_image(pydicom_file("rtdose.dcm"));
    ASSERT_TRUE(img);
    ASSERT_EQ(img->geometry.frames, 15u);
    auto input = to_model_input(*img, "rtdose.dcm");
    ASSERT_TRUE(input);
    EXPECT_EQ(input->steps[0], "frame 0 of 15");
    const auto all = image::apply_modality_lut(*img);
    ASSERT_TRUE(all);
    ASSERT_EQ(input->values.size(), 100u);
    EXPECT_TRUE(std::equal(input->values.begin(), input->values.end(), all->begin()));
    auto last = to_model_input(*img, "rtdose.dcm", 14);
    ASSERT_TRUE(last);
    EXPECT_TRUE(std::equal(last->values.begin(), last->values.end(), all->begin() + 1400));
    EXPECT_FALSE(to_model_input(*img, "rtdose.dcm", 15));
}

// An image that is no longer needed is consumed: its pixels are given back as they are read,
// and the model input is the same, value for value, as the Modality LUT of the image layer gives
// (a wrongly released page would read as zeros). Frames of several runs of pixels, whichever
// frame is chosen, random signed samples under a slope and an intercept; and a real file.
TEST(ModelInput, AConsumedImageGivesTheSameInputAndIsLeftEmpty) {
    image::Image img;
    img.geometry = {600, 700, 3, 1, 16, 16, 1, "MONOCHROME2"};
    img.info.format = image::SourceFormat::kDicom;
    img.info.modality = "CT";
    img.info.has_rescale = true;
    img.info.rescale_slope = 2.0;
    img.info.rescale_intercept = -1024.0;
    img.pixels.resize(img.geometry.pixel_bytes());
    std::uint32_t state = 12345;
    for (auto& byte : img.pixels) {
        state = state * 1664525u + 1013904223u;
        byte = static_cast<std::uint8_t>(state >> 24);
    }
    const auto all = image::apply_modality_lut(img);
    ASSERT_TRUE(all) << all.error().message();
    const std::size_t frame = std::size_t{600} * 700;
    for (std::uint32_t f = 0; f < 3; ++f) {
        image::Image spent = img;
        auto input = to_model_input(std::move(spent), "synthetic", f);
        ASSERT_TRUE(input) << input.error().message();
        EXPECT_TRUE(spent.pixels.empty());
        ASSERT_EQ(input->values.size(), frame);
        EXPECT_TRUE(
            std::equal(input->values.begin(), input->values.end(), all->begin() + f * frame))
            << "frame " << f;
        auto kept = to_model_input(img, "synthetic", f);
        ASSERT_TRUE(kept);
        EXPECT_EQ(kept->values, input->values);
        EXPECT_EQ(kept->steps, input->steps);
    }
    image::Image spent = img;
    EXPECT_FALSE(to_model_input(std::move(spent), "synthetic", 3));
    EXPECT_TRUE(spent.pixels.empty());

    auto ct = image::read_image(pydicom_file("CT_small.dcm"));
    ASSERT_TRUE(ct);
    const auto hu = image::apply_modality_lut(*ct);
    ASSERT_TRUE(hu);
    auto input = to_model_input(std::move(*ct), "CT_small.dcm");
    ASSERT_TRUE(input);
    EXPECT_EQ(input->values, *hu);
}

TEST(ModelInput, YbrColourBecomesRgbWhoseLuminanceIsY) {
    auto img = image::read_image(pydicom_file("SC_ybr_full_422_uncompressed.dcm"));
    ASSERT_TRUE(img);
    ASSERT_EQ(img->geometry.photometric, "YBR_FULL");
    auto input = to_model_input(*img, "ybr.dcm");
    ASSERT_TRUE(input) << input.error().message();
    EXPECT_EQ(input->channels, 3);
    EXPECT_EQ(input->steps.back(), "YBR_FULL->RGB");
    for (std::size_t i = 0; i < 100u * 100u; i += 13) {
        const float* rgb = &input->values[3 * i];
        const double luma =
            inference::kLumaR * rgb[0] + inference::kLumaG * rgb[1] + inference::kLumaB * rgb[2];
        EXPECT_NEAR(luma, image::stored_value(*img, 3 * i), 0.01) << "pixel " << i;
    }
}

TEST(ModelInput, RgbColourPassesThrough) {
    const auto input = load("SC_rgb_rle.dcm");
    EXPECT_EQ(input.channels, 3);
    EXPECT_EQ(input.modality, "OT");
    EXPECT_TRUE(input.steps.empty());
    auto img = image::read_image(pydicom_file("SC_rgb_rle.dcm"));
    ASSERT_TRUE(img);
    EXPECT_FLOAT_EQ(input.values[5], static_cast<float>(image::stored_value(*img, 5)));
}

}  // namespace
}  // namespace medanchor::service
