#include "common/prometheus.h"

#include <cmath>
#include <cstdio>

namespace medanchor {

namespace {

void append_escaped(std::string& out, const std::string& value) {
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

void append_value(std::string& out, double value) {
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.0e15) {
        out += std::to_string(static_cast<std::int64_t>(value));
        return;
    }
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.17g", value);
    out += buffer;
}

}  // namespace

void append_metric(std::string& out, const std::string& name, const char* type,
                   const std::string& help, const std::vector<MetricSample>& samples) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    for (const auto& sample : samples) {
        out += name;
        if (!sample.labels.empty()) {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : sample.labels) {
                if (!first)
                    out += ',';
                first = false;
                out += key;
                out += "=\"";
                append_escaped(out, value);
                out += '"';
            }
            out += '}';
        }
        out += ' ';
        append_value(out, sample.value);
        out += '\n';
    }
}

void append_metric(std::string& out, const std::string& name, const char* type,
                   const std::string& help, double value) {
    append_metric(out, name, type, help, std::vector<MetricSample>{{{}, value}});
}

}  // namespace medanchor
