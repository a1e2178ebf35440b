// The Prometheus text exposition format (version 0.0.4), written once for every command that
// exposes metrics (`listen --metrics`, `status --prometheus`): one family per call, its # HELP
// and # TYPE lines, then one sample per label set.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace medanchor {

struct MetricSample {
    // Label pairs, in order; values are escaped here (backslash, double quote, newline).
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;
};

// Appends the family `name` (REQUIRES: [a-zA-Z_:][a-zA-Z0-9_:]*) of `type` ("counter", "gauge")
// with its help text (one line) and samples. Integral values are written without a fraction.
void append_metric(std::string& out, const std::string& name, const char* type,
                   const std::string& help, const std::vector<MetricSample>& samples);
// One unlabelled sample.
void append_metric(std::string& out, const std::string& name, const char* type,
                   const std::string& help, double value);

}  // namespace medanchor
