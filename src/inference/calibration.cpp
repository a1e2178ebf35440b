#include "inference/calibration.h"

#include <algorithm>
#include <cmath>

namespace medanchor::inference {

std::vector<double> calibrated_probabilities(std::span<const float> raw,
                                             const ModelManifest& manifest) {
    std::vector<double> p(raw.begin(), raw.end());
    if (manifest.output.kind == OutputKind::kProbabilities) {
        for (double& v : p)
            v = std::isnan(v) ? 0.0 : std::clamp(v, 0.0, 1.0);
        return p;
    }
    const double t =
        manifest.calibration.temperature_scaling ? manifest.calibration.temperature : 1.0;
    for (double& v : p)
        v /= t;
    if (manifest.activation == Activation::kSoftmax) {
        const double max = *std::max_element(p.begin(), p.end());
        double sum = 0.0;
        for (double& v : p) {
            v = std::exp(v - max);
            sum += v;
        }
        for (double& v : p)
            v /= sum;
    } else {
        for (double& v : p) {
            // The two branches avoid exp overflow for large |v|.
            v = v >= 0 ? 1.0 / (1.0 + std::exp(-v)) : std::exp(v) / (1.0 + std::exp(v));
        }
    }
    return p;
}

int to_basis_points(double p) {
    if (std::isnan(p))
        return 0;
    return static_cast<int>(std::clamp(std::round(p * 10000.0), 0.0, 10000.0));
}

Prediction predict(std::span<const float> raw, const ModelManifest& manifest) {
    Prediction out;
    out.probabilities = calibrated_probabilities(raw, manifest);
    const auto& p = out.probabilities;
    out.finding = static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    if (manifest.activation == Activation::kSoftmax) {
        out.positives = {out.finding};
    } else {
        for (std::size_t i = 0; i < p.size(); ++i) {
            if (p[i] >= 0.5)
                out.positives.push_back(i);
        }
    }
    out.confidence_bp = to_basis_points(p[out.finding]);
    out.below_min_confidence = out.confidence_bp < manifest.min_confidence_bp;
    return out;
}

}  // namespace medanchor::inference
