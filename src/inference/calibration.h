// Calibrated confidence (docs/model-bundle.md, "Calibration and confidence"): the network's raw
// output becomes one calibrated probability per label, a reported finding, and the confidence in
// basis points that a report records and the contract's threshold is checked against.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "inference/model_bundle.h"

namespace medanchor::inference {

struct Prediction {
    std::vector<double> probabilities;   // calibrated, one per label, each in [0,1]
    std::size_t finding = 0;             // index of the reported (primary) finding
    std::vector<std::size_t> positives;  // sigmoid: every label with p >= 0.5; softmax: finding
    int confidence_bp = 0;               // round(p[finding] * 10000), clamped to 0..10000
    bool below_min_confidence = false;   // confidence_bp < manifest.min_confidence_bp
};

// p = softmax(z / T) or sigmoid(z / T) for logits (T = 1 without temperature scaling);
// probabilities pass through, clamped to [0,1]. Computed in double, max-subtracted (no
// overflow for any finite logits). REQUIRES: raw.size() == manifest.labels.size().
std::vector<double> calibrated_probabilities(std::span<const float> raw,
                                             const ModelManifest& manifest);

// The finding: argmax for softmax; for sigmoid the most probable label (reported even when no
// label reaches 0.5, in which case positives is empty and the confidence is below 5000 bp).
// Ties go to the lower label index. REQUIRES: raw.size() == manifest.labels.size().
Prediction predict(std::span<const float> raw, const ModelManifest& manifest);

// round(p * 10000) (half away from zero), clamped to 0..10000; NaN gives 0.
int to_basis_points(double p);

}  // namespace medanchor::inference
