// The committed test bundles (tests/data/models/, made by tools/models/make_test_models.py) and
// their golden PyTorch outputs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inference/model_bundle.h"
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

}  // namespace medanchor::testing
