// Temperature scaling, the finding rule for softmax and sigmoid, and basis-point rounding.
#include "inference/calibration.h"

#include <gtest/gtest.h>

#include <cmath>

namespace medanchor::inference {
namespace {

ModelManifest manifest(Activation activation, std::size_t labels, double temperature) {
    ModelManifest m;
    m.activation = activation;
    for (std::size_t i = 0; i < labels; ++i) {
        std::string code = "l";  // appended, not "l" + ...: GCC 12's false -Wrestrict (105329)
        code += std::to_string(i);
        m.labels.push_back({code, "L"});
    }
    m.output.kind = OutputKind::kLogits;
    m.calibration.temperature_scaling = temperature != 1.0;
    m.calibration.temperature = temperature;
    m.min_confidence_bp = 6000;
    return m;
}

TEST(Calibration, SoftmaxWithTemperature) {
    const std::vector<float> logits = {1.0f, 3.0f};
    const auto p = calibrated_probabilities(logits, manifest(Activation::kSoftmax, 2, 2.0));
    // softmax([0.5, 1.5]) = [1 / (1 + e), e / (1 + e)]
    const double e = std::exp(1.0);
    EXPECT_NEAR(p[0], 1.0 / (1.0 + e), 1e-12);
    EXPECT_NEAR(p[1], e / (1.0 + e), 1e-12);
    const auto uncalibrated =
        calibrated_probabilities(logits, manifest(Activation::kSoftmax, 2, 1.0));
    EXPECT_NEAR(uncalibrated[1], std::exp(2.0) / (1.0 + std::exp(2.0)), 1e-12);
    EXPECT_GT(uncalibrated[1], p[1]) << "T > 1 softens an over-confident model";
}

TEST(Calibration, SoftmaxDoesNotOverflow) {
    const std::vector<float> logits = {1000.0f, 999.0f, -1000.0f};
    const auto p = calibrated_probabilities(logits, manifest(Activation::kSoftmax, 3, 1.0));
    EXPECT_NEAR(p[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-12);
    EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-12);
}

TEST(Calibration, SigmoidPerLabelWithTemperature) {
    const std::vector<float> logits = {0.0f, 3.0f, -800.0f};
    const auto p = calibrated_probabilities(logits, manifest(Activation::kSigmoid, 3, 1.5));
    EXPECT_DOUBLE_EQ(p[0], 0.5);
    EXPECT_NEAR(p[1], 1.0 / (1.0 + std::exp(-2.0)), 1e-12);
    EXPECT_GE(p[2], 0.0);
    EXPECT_LT(p[2], 1e-200);
}

TEST(Calibration, ProbabilitiesPassThroughClamped) {
    ModelManifest m = manifest(Activation::kSoftmax, 2, 1.0);
    m.output.kind = OutputKind::kProbabilities;
    const std::vector<float> probs = {0.25f, 1.0000001f};
    const auto p = calibrated_probabilities(probs, m);
    EXPECT_DOUBLE_EQ(p[0], 0.25);
    EXPECT_DOUBLE_EQ(p[1], 1.0);
}

TEST(Calibration, BasisPointsRoundHalfAwayAndClamp) {
    EXPECT_EQ(to_basis_points(0.0), 0);
    EXPECT_EQ(to_basis_points(1.0), 10000);
    EXPECT_EQ(to_basis_points(0.61234), 6123);
    EXPECT_EQ(to_basis_points(0.03125), 313);  // exactly 312.5: half rounds away from zero
    EXPECT_EQ(to_basis_points(0.99996), 10000);
    EXPECT_EQ(to_basis_points(0.00004), 0);
    EXPECT_EQ(to_basis_points(0.00005), 1);
    EXPECT_EQ(to_basis_points(1.5), 10000);
    EXPECT_EQ(to_basis_points(-0.1), 0);
    EXPECT_EQ(to_basis_points(std::nan("")), 0);
}

TEST(Calibration, SoftmaxFindingIsTheArgmax) {
    const ModelManifest m = manifest(Activation::kSoftmax, 3, 1.0);
    const std::vector<float> logits = {0.1f, 2.0f, 0.5f};
    const Prediction p = predict(logits, m);
    EXPECT_EQ(p.finding, 1u);
    EXPECT_EQ(p.positives, std::vector<std::size_t>{1});
    EXPECT_EQ(p.confidence_bp, to_basis_points(p.probabilities[1]));
    EXPECT_EQ(p.confidence_bp, 7285);  // e^2 / (e^0.1 + e^2 + e^0.5) = 0.72849...
    EXPECT_FALSE(p.below_min_confidence);
}

TEST(Calibration, BelowTheBundleThresholdNeedsReview) {
    const ModelManifest m = manifest(Activation::kSoftmax, 2, 1.0);
    const std::vector<float> logits = {0.0f, 0.2f};  // p = 0.5498
    const Prediction p = predict(logits, m);
    EXPECT_EQ(p.confidence_bp, 5498);
    EXPECT_TRUE(p.below_min_confidence);
}

TEST(Calibration, SigmoidFindingsAreEveryLabelAtOrAboveHalf) {
    const ModelManifest m = manifest(Activation::kSigmoid, 3, 1.0);
    const std::vector<float> logits = {0.5f, -1.0f, 2.0f};
    const Prediction p = predict(logits, m);
    EXPECT_EQ(p.positives, (std::vector<std::size_t>{0, 2}));
    EXPECT_EQ(p.finding, 2u);  // the most probable one is the primary finding
    EXPECT_EQ(p.confidence_bp, 8808);

    const std::vector<float> none = {-2.0f, -1.0f, -3.0f};
    const Prediction q = predict(none, m);
    EXPECT_TRUE(q.positives.empty());
    EXPECT_EQ(q.finding, 1u);
    EXPECT_EQ(q.confidence_bp, 2689);
    EXPECT_TRUE(q.below_min_confidence);
}

}  // namespace
}  // namespace medanchor::inference
