// Occlusion saliency on the committed test models: the map has the input's size and is not
// constant, the PNG is written atomically at the image's own size, and a patch over the part of
// the image that drives the finding scores higher than one over empty background.
#include "inference/saliency.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "../image/test_support.h"
#include "image/reader.h"
#include "inference/calibration.h"
#include "test_models.h"

namespace medanchor::inference {
namespace {

ModalityImage disc_image(int rows, int columns) {
    ModalityImage image;
    image.rows = rows;
    image.columns = columns;
    image.channels = 1;
    image.modality = "CT";
    image.source = "disc";
    for (int y = 0; y < rows; ++y) {
        for (int x = 0; x < columns; ++x) {
            const int dx = x - columns / 3;
            const int dy = y - rows / 2;
            image.values.push_back(dx * dx + dy * dy < rows * rows / 25 ? 300.0f : -900.0f);
        }
    }
    return image;
}

SaliencyOptions saliency_options(int patch, int batch) {
    SaliencyOptions o;
    o.patch = patch;
    o.batch = batch;
    return o;
}

TEST(Saliency, MapHasTheInputSizeAndIsNotConstant) {
    const ModelBundle bundle = testing::load_test_bundle("tiny-softmax");
    auto engine = make_opencv_engine(bundle);
    ASSERT_TRUE(engine);
    auto input = preprocess(disc_image(60, 50), bundle.manifest);
    ASSERT_TRUE(input);
    auto out = (*engine)->run(std::span<const Tensor>(&input->tensor, 1));
    ASSERT_TRUE(out);
    const Prediction prediction = predict((*out)[0], bundle.manifest);
    auto map = occlusion_saliency(**engine, *input, bundle.manifest, prediction.finding);
    ASSERT_TRUE(map) << map.error().message();
    EXPECT_EQ(map->rows, 32);
    EXPECT_EQ(map->columns, 32);
    EXPECT_EQ(map->patch_rows, 4);
    EXPECT_EQ(map->stride_rows, 2);
    EXPECT_NEAR(map->base_probability, prediction.probabilities[prediction.finding], 1e-9);
    // 15 x 15 patch positions in batches of 8.
    EXPECT_EQ(map->forward_passes, 29u);
    const auto [lo, hi] = std::minmax_element(map->values.begin(), map->values.end());
    EXPECT_LT(*lo, *hi) << "a constant map says nothing";
}

TEST(Saliency, BatchSizeDoesNotChangeTheMap) {
    const ModelBundle bundle = testing::load_test_bundle("tiny-sigmoid");
    auto engine = make_opencv_engine(bundle);
    ASSERT_TRUE(engine);
    auto input = preprocess(disc_image(30, 60), bundle.manifest);
    ASSERT_TRUE(input);
    auto one = occlusion_saliency(**engine, *input, bundle.manifest, 1, saliency_options(0, 1));
    auto many = occlusion_saliency(**engine, *input, bundle.manifest, 1, saliency_options(0, 16));
    ASSERT_TRUE(one);
    ASSERT_TRUE(many);
    EXPECT_EQ(one->values, many->values);
}

TEST(Saliency, PngIsWrittenAtTheImageSize) {
    const ModelBundle bundle = testing::load_test_bundle("tiny-sigmoid");  // letterbox
    auto engine = make_opencv_engine(bundle);
    ASSERT_TRUE(engine);
    auto input = preprocess(disc_image(45, 70), bundle.manifest);
    ASSERT_TRUE(input);
    auto map = occlusion_saliency(**engine, *input, bundle.manifest, 0);
    ASSERT_TRUE(map);
    testing::ScratchDir dir;
    const auto path = dir / "disc.saliency.png";
    ASSERT_TRUE(write_saliency_png(*map, *input, path));
    auto png = image::read_image(path);
    ASSERT_TRUE(png) << png.error().message();
    EXPECT_EQ(png->geometry.rows, 45u);
    EXPECT_EQ(png->geometry.columns, 70u);
    EXPECT_EQ(png->geometry.samples_per_pixel, 3u);
    // Only the PNG is left: the temporary file was renamed.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                            std::filesystem::directory_iterator()),
              1);
    // Not a plain grey picture: the overlay coloured some pixels.
    bool coloured = false;
    for (std::size_t i = 0; i + 2 < png->pixels.size() && !coloured; i += 3)
        coloured = png->pixels[i] != png->pixels[i + 1] || png->pixels[i] != png->pixels[i + 2];
    EXPECT_TRUE(coloured);
}

TEST(Saliency, WriteFailsWithTheFileName) {
    const ModelBundle bundle = testing::load_test_bundle("tiny-softmax");
    auto engine = make_opencv_engine(bundle);
    ASSERT_TRUE(engine);
    auto input = preprocess(disc_image(32, 32), bundle.manifest);
    ASSERT_TRUE(input);
    auto map = occlusion_saliency(**engine, *input, bundle.manifest, 0, saliency_options(8, 8));
    ASSERT_TRUE(map);
    EXPECT_EQ(map->patch_rows, 8);
    EXPECT_EQ(map->stride_rows, 4);
    const Status status = write_saliency_png(*map, *input, "/nonexistent/dir/x.png");
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kIo);
    EXPECT_NE(status.error().message().find("/nonexistent/dir/x.png"), std::string::npos);
}

}  // namespace
}  // namespace medanchor::inference
