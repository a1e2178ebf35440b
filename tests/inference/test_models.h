// The committed test bundles (tests/data/models/, made by tools/models/make_test_models.py) and
// their golden PyTorch outputs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inference/model_bundle.h"
#include "inference/pipeline.h"
#include "inference/tensor.h"

namespace medanchor::testing {

namespace fs = std::filesystem;

inline fs::path model_dir(const std::string& name) {
    return fs::path(MEDANCHOR_SOURCE_DIR) / "tests" / "data" / "models" / name;
}

inline inference::ModelBundle load_test_bundle(const std::string& name) {
    auto bundle = inference::load_model_bundle(model_dir(name));
    if (!bundle)
        ADD_FAILURE() << bundle.error().message();
    return bundle ? std::move(*bundle) : inference::ModelBundle{};
}

struct Golden {
    std::vector<inference::Tensor> inputs;
    std::vector<std::vector<float>> outputs;
};

inline Golden load_golden(const std::string& name) {
    Golden g;
    std::ifstream meta(model_dir(name) / "golden.json");
    const auto j = nlohmann::json::parse(meta);
    const auto shape = j.at("input_shape").get<std::vector<int>>();
    std::ifstream raw(model_dir(name) / "golden_inputs.f32", std::ios::binary);
    for (int n = 0; n < shape[0]; ++n) {
        inference::Tensor t{shape[1], shape[2], shape[3], {}};
        t.data.resize(t.size());
        raw.read(reinterpret_cast<char*>(t.data.data()),
                 static_cast<std::streamsize>(t.size() * sizeof(float)));
        g.inputs.push_back(std::move(t));
    }
    EXPECT_TRUE(raw.good()) << "golden_inputs.f32 shorter than golden.json says";
    g.outputs = j.at("outputs").get<std::vector<std::vector<float>>>();
    return g;
}

// A deterministic synthetic CT image, different for every index: a gradient plus a bright disc.
inline inference::ModalityImage synthetic(std::size_t index) {
    inference::ModalityImage image;
    image.rows = 40 + static_cast<int>(index % 3) * 8;
    image.columns = 48;
    image.channels = 1;
    image.modality = "CT";
    image.source = "synthetic-" + std::to_string(index);
    for (int y = 0; y < image.rows; ++y) {
        for (int x = 0; x < image.columns; ++x) {
            const double dx = x - 10.0 - static_cast<double>(index % 7) * 3;
            const double dy = y - 20.0;
            image.values.push_back(
                static_cast<float>(-1000 + 10 * x + 5 * y + (dx * dx + dy * dy < 36 ? 900 : 0)));
        }
    }
    return image;
}

inline inference::PipelineOptions pipeline_options(int threads, int batch, int engines) {
    inference::PipelineOptions o;
    o.threads = threads;
    o.batch = batch;
    o.engines = engines;
    return o;
}

// The raw outputs of run_pipeline on synthetic(0..count-1), checking they arrive in order.
inline std::map<std::size_t, std::vector<float>> run_all(const inference::ModelBundle& bundle,
                                                         std::size_t count,
                                                         inference::PipelineOptions options) {
    std::map<std::size_t, std::vector<float>> out;
    std::size_t expected = 0;
    const Status status = inference::run_pipeline(
        bundle, count,
        [](std::size_t i) -> Result<inference::ModalityImage> { return synthetic(i); },
        [&](std::size_t i, Result<inference::ItemResult> r) {
            EXPECT_EQ(i, expected++) << "results out of order";
            ASSERT_TRUE(r) << r.error().message();
            out[i] = r->raw;
        },
        options);
    EXPECT_TRUE(status);
    return out;
}

}  // namespace medanchor::testing
