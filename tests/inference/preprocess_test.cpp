// Preprocessing on small synthetic images whose expected tensors can be worked out by hand:
// each window type (CT fixed window in HU, percentile for MR/X-ray-like images, the file's DICOM
// window, plain scaling), stretch and letterbox geometry, normalisation, channel replication and
// colour to luminance. Real files go through the same code in tests/app/model_input_test.cpp.
#include "inference/preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace medanchor::inference {
namespace {

ModelManifest manifest(int channels, int height, int width, WindowSpec window) {
    ModelManifest m;
    m.name = "test";
    m.version = "1";
    m.labels = {{"a", "A"}, {"b", "B"}};
    m.input = {"image", channels, height, width};
    m.output = {"logits", OutputKind::kLogits};
    m.preprocessing.modalities = {"*"};
    m.preprocessing.window = window;
    m.preprocessing.resize = ResizePolicy::kStretch;
    m.preprocessing.interpolation = Interpolation::kNearest;
    m.preprocessing.mean = {0.0f};
    m.preprocessing.std = {1.0f};
    return m;
}

WindowSpec fixed(double center, double width) {
    WindowSpec w;
    w.type = WindowType::kFixed;
    w.center = center;
    w.width = width;
    return w;
}

WindowSpec none(double scale) {
    WindowSpec w;
    w.type = WindowType::kNone;
    w.scale = scale;
    return w;
}

ModalityImage grey(int rows, int columns, std::vector<float> values,
                   const std::string& modality = "CT") {
    ModalityImage image;
    image.rows = rows;
    image.columns = columns;
    image.channels = 1;
    image.values = std::move(values);
    image.modality = modality;
    image.source = "test.dcm";
    return image;
}

bool has_step(const PreparedInput& p, const std::string& step) {
    return std::find(p.steps.begin(), p.steps.end(), step) != p.steps.end();
}

void expect_tensor(const Tensor& t, const std::vector<float>& expected) {
    ASSERT_EQ(t.data.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i)
        EXPECT_NEAR(t.data[i], expected[i], 1e-6) << "at " << i;
}

TEST(Preprocess, CtFixedWindowInHounsfieldUnits) {
    ModelManifest m = manifest(1, 2, 2, fixed(-600, 1500));
    m.preprocessing.interpolation = Interpolation::kArea;
    m.preprocessing.mean = {0.5f};
    m.preprocessing.std = {0.25f};
    // Air, the window's centre, soft tissue at the top, bone above it. Low end: -600 - 750.
    auto p = preprocess(grey(2, 2, {-1000, -600, 150, 500}), m);
    ASSERT_TRUE(p) << p.error().message();
    const float air = (350.0f / 1500.0f - 0.5f) / 0.25f;
    expect_tensor(p->tensor, {air, 0.0f, 2.0f, 2.0f});
    EXPECT_EQ(p->steps, (std::vector<std::string>{"window fixed c=-600 w=1500",
                                                  "resize 2x2->2x2 stretch area",
                                                  "normalize mean=[0.5] std=[0.25]"}));
    // The display image: the windowed values on 0..255, rounded.
    const std::vector<float> windowed = {350.0f / 1500.0f, 0.5f, 1.0f, 1.0f};
    ASSERT_EQ(p->display.size(), windowed.size());
    for (std::size_t i = 0; i < windowed.size(); ++i)
        EXPECT_NEAR(p->display[i], windowed[i] * 255.0f, 0.5f + 1e-4f) << i;
}

TEST(Preprocess, PercentileWindowForMrOrXray) {
    WindowSpec w;
    w.type = WindowType::kPercentile;
    w.low = 10;
    w.high = 90;
    std::vector<float> values(101);
    std::iota(values.begin(), values.end(), 0.0f);  // 0..100: p10 = 10, p90 = 90
    std::reverse(values.begin(), values.end());     // order must not matter
    auto p = preprocess(grey(1, 101, values, "MR"), manifest(1, 1, 101, w));
    ASSERT_TRUE(p) << p.error().message();
    EXPECT_NEAR(p->tensor.data[0], 1.0f, 1e-6);    // 100
    EXPECT_NEAR(p->tensor.data[50], 0.5f, 1e-6);   // 50: the centre
    EXPECT_NEAR(p->tensor.data[70], 0.25f, 1e-6);  // 30: (30 - 10) / 80
    EXPECT_NEAR(p->tensor.data[100], 0.0f, 1e-6);  // 0, below p10
    EXPECT_TRUE(has_step(*p, "window percentile p10=10 p90=90 (c=50 w=80)"));
}

TEST(Preprocess, PercentileInterpolatesLikeNumpy) {
    EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
    EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 25), 1.75);
    EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0), 1);
    EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 100), 4);
    EXPECT_DOUBLE_EQ(percentile({7}, 99.5), 7);
}

TEST(Preprocess, ConstantImageUnderPercentileWindowIsMidGrey) {
    WindowSpec w;
    w.type = WindowType::kPercentile;
    w.low = 1;
    w.high = 99;
    auto p = preprocess(grey(2, 2, {5, 5, 5, 5}, "CR"), manifest(1, 2, 2, w));
    ASSERT_TRUE(p);
    expect_tensor(p->tensor, {0.5f, 0.5f, 0.5f, 0.5f});
}

TEST(Preprocess, DicomWindowFromTheFile) {
    WindowSpec w;
    w.type = WindowType::kDicom;
    ModalityImage image = grey(1, 3, {-200, 600, 1400}, "MR");
    image.has_window = true;
    image.window_center = 600;
    image.window_width = 1600;
    auto p = preprocess(image, manifest(1, 1, 3, w));
    ASSERT_TRUE(p) << p.error().message();
    expect_tensor(p->tensor, {0.0f, 0.5f, 1.0f});
    EXPECT_TRUE(has_step(*p, "window dicom c=600 w=1600"));

    image.has_window = false;
    auto refused = preprocess(image, manifest(1, 1, 3, w));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(refused.error().message().rfind("test.dcm: ", 0), 0u);
    EXPECT_NE(refused.error().message().find("Window Center/Width"), std::string::npos);
}

TEST(Preprocess, NoWindowDividesByScaleWithoutClipping) {
    auto p = preprocess(grey(1, 3, {51, 255, 510}, ""), manifest(1, 1, 3, none(255)));
    ASSERT_TRUE(p);
    expect_tensor(p->tensor, {0.2f, 1.0f, 2.0f});
    EXPECT_TRUE(has_step(*p, "window none scale=255"));
}

TEST(Preprocess, Monochrome1IsInvertedAfterWindowing) {
    ModalityImage image = grey(1, 2, {0, 255}, "CR");
    image.invert = true;
    auto p = preprocess(image, manifest(1, 1, 2, none(255)));
    ASSERT_TRUE(p);
    expect_tensor(p->tensor, {1.0f, 0.0f});
    EXPECT_TRUE(has_step(*p, "invert (MONOCHROME1)"));
}

TEST(Preprocess, AreaResizeAveragesBlocks) {
    std::vector<float> values(16);
    std::iota(values.begin(), values.end(), 0.0f);
    ModelManifest m = manifest(1, 2, 2, none(1));
    m.preprocessing.interpolation = Interpolation::kArea;
    auto p = preprocess(grey(4, 4, values), m);
    ASSERT_TRUE(p);
    expect_tensor(p->tensor, {2.5f, 4.5f, 10.5f, 12.5f});
    EXPECT_TRUE(has_step(*p, "resize 4x4->2x2 stretch area"));
    EXPECT_EQ(p->content_width, 2);
    EXPECT_EQ(p->content_height, 2);
}

TEST(Preprocess, StretchFillsTheInputAndLetterboxKeepsTheAspect) {
    // 2 rows x 4 columns into 4x4: stretch doubles the rows; letterbox centres a 4x2 strip.
    const std::vector<float> values = {1, 2, 3, 4, 5, 6, 7, 8};
    ModelManifest m = manifest(1, 4, 4, none(10));
    m.preprocessing.mean = {0.1f};
    auto stretch = preprocess(grey(2, 4, values), m);
    ASSERT_TRUE(stretch);
    expect_tensor(stretch->tensor, {0.0f, 0.1f, 0.2f, 0.3f, 0.0f, 0.1f, 0.2f, 0.3f,  //
                                    0.4f, 0.5f, 0.6f, 0.7f, 0.4f, 0.5f, 0.6f, 0.7f});

    m.preprocessing.resize = ResizePolicy::kLetterbox;
    auto box = preprocess(grey(2, 4, values), m);
    ASSERT_TRUE(box);
    // Padding is 0 after the window, so (0 - mean) / std after normalising.
    expect_tensor(box->tensor, {-0.1f, -0.1f, -0.1f, -0.1f, 0.0f, 0.1f, 0.2f, 0.3f,  //
                                0.4f, 0.5f, 0.6f, 0.7f, -0.1f, -0.1f, -0.1f, -0.1f});
    EXPECT_EQ(box->content_x, 0);
    EXPECT_EQ(box->content_y, 1);
    EXPECT_EQ(box->content_width, 4);
    EXPECT_EQ(box->content_height, 2);
    EXPECT_TRUE(has_step(*box, "resize 4x2->4x4 letterbox nearest content 4x2 at (0,1) pad 0"));
}

TEST(Preprocess, LetterboxRoundsAndCentres) {
    // 3 rows x 10 columns into 8x8: scale 0.8, content 8x2 (2.4 rounds to 2) at y = 3.
    ModelManifest m = manifest(1, 8, 8, none(1));
    m.preprocessing.resize = ResizePolicy::kLetterbox;
    auto p = preprocess(grey(3, 10, std::vector<float>(30, 1.0f)), m);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->content_x, 0);
    EXPECT_EQ(p->content_y, 3);
    EXPECT_EQ(p->content_width, 8);
    EXPECT_EQ(p->content_height, 2);
    for (int y = 0; y < 8; ++y) {
        const float expected = (y == 3 || y == 4) ? 1.0f : 0.0f;
        for (int x = 0; x < 8; ++x)
            EXPECT_EQ(p->tensor.data[static_cast<std::size_t>(y * 8 + x)], expected);
    }
    // A tall image: padded left and right.
    ModelManifest tall = manifest(1, 4, 8, none(1));
    tall.preprocessing.resize = ResizePolicy::kLetterbox;
    auto q = preprocess(grey(8, 2, std::vector<float>(16, 1.0f)), tall);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->content_x, 3);
    EXPECT_EQ(q->content_y, 0);
    EXPECT_EQ(q->content_width, 1);
    EXPECT_EQ(q->content_height, 4);
}

TEST(Preprocess, ReplicatesGreyAndNormalisesPerChannel) {
    ModelManifest m = manifest(3, 1, 2, none(1));
    m.preprocessing.mean = {0.1f, 0.2f, 0.3f};
    m.preprocessing.std = {0.5f, 1.0f, 2.0f};
    auto p = preprocess(grey(1, 2, {0.5f, 1.0f}), m);
    ASSERT_TRUE(p);
    expect_tensor(p->tensor, {0.8f, 1.8f, 0.3f, 0.8f, 0.1f, 0.35f});
    EXPECT_TRUE(has_step(*p, "channels replicate 1->3"));
    EXPECT_TRUE(has_step(*p, "normalize mean=[0.1,0.2,0.3] std=[0.5,1,2]"));
}

ModalityImage rgb_pixel() {
    ModalityImage image;
    image.rows = 1;
    image.columns = 1;
    image.channels = 3;
    image.values = {100, 200, 50};
    image.source = "photo.png";
    return image;
}

TEST(Preprocess, ColourBecomesLuminanceForOneChannel) {
    auto p = preprocess(rgb_pixel(), manifest(1, 1, 1, none(255)));
    ASSERT_TRUE(p);
    // 0.299 * 100 + 0.587 * 200 + 0.114 * 50 = 153
    expect_tensor(p->tensor, {153.0f / 255.0f});
    EXPECT_TRUE(has_step(*p, "luminance 0.299R+0.587G+0.114B"));
}

TEST(Preprocess, ColourStaysRgbForThreeChannels) {
    auto p = preprocess(rgb_pixel(), manifest(3, 1, 1, none(250)));
    ASSERT_TRUE(p);
    expect_tensor(p->tensor, {0.4f, 0.8f, 0.2f});
    ASSERT_EQ(p->display.size(), 1u);
    EXPECT_NEAR(p->display[0], 153.0f / 250.0f * 255.0f, 0.5f + 1e-4f);
}

TEST(Preprocess, ColourCannotFillTwoChannels) {
    auto p = preprocess(rgb_pixel(), manifest(2, 1, 1, none(1)));
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), ErrorCode::kUnsupported);
}

TEST(Preprocess, RefusesAModalityTheBundleDoesNotAccept) {
    ModelManifest m = manifest(1, 1, 1, fixed(40, 400));
    m.preprocessing.modalities = {"CT"};
    auto p = preprocess(grey(1, 1, {0}, "MR"), m);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(p.error().message(),
              "test.dcm: modality MR is not accepted by model test (accepts CT)");
    auto png = preprocess(grey(1, 1, {0}, ""), m);
    ASSERT_FALSE(png);
    m.preprocessing.modalities = {"CT", "OT"};
    EXPECT_TRUE(preprocess(grey(1, 1, {0}, ""), m));
}

TEST(Preprocess, RefusesInconsistentGeometry) {
    auto p = preprocess(grey(2, 2, {1, 2, 3}), manifest(1, 1, 1, none(1)));
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
}

TEST(Preprocess, KeepsTheImagesOwnStepsFirst) {
    ModalityImage image = grey(1, 1, {0});
    image.steps = {"frame 0 of 1", "modality LUT slope=1 intercept=-1024"};
    auto p = preprocess(image, manifest(1, 1, 1, fixed(0, 2)));
    ASSERT_TRUE(p);
    ASSERT_GE(p->steps.size(), 3u);
    EXPECT_EQ(p->steps[0], "frame 0 of 1");
    EXPECT_EQ(p->steps[2], "window fixed c=0 w=2");
}

}  // namespace
}  // namespace medanchor::inference
