// libFuzzer target for model.json (docs/model-bundle.md): any bytes must come back as a valid
// manifest or an Error naming the source; a crash, a sanitizer report or an exception escaping
// is a finding. Seeds: tests/data/models/*/model.json. Run e.g.:
//   build-fuzz/fuzz/medanchor_fuzz_model_manifest -max_total_time=300 corpus/ seeds/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "inference/model_bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace medanchor::inference;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto m = parse_model_manifest(text, "fuzz/model.json");
    if (m.ok()) {
        // What a valid manifest promises to the preprocessing and calibration code.
        const ModelManifest& v = m.value();
        const bool sound = v.labels.size() >= 1 && v.input.channels >= 1 && v.input.height >= 1 &&
                           v.input.width >= 1 &&
                           (v.preprocessing.mean.size() == 1 ||
                            v.preprocessing.mean.size() == std::size_t(v.input.channels)) &&
                           (v.preprocessing.std.size() == 1 ||
                            v.preprocessing.std.size() == std::size_t(v.input.channels)) &&
                           v.calibration.temperature > 0 && v.min_confidence_bp >= 0 &&
                           v.min_confidence_bp <= 10000 && v.model_sha256.size() == 64;
        if (!sound)
            std::abort();
    } else if (m.error().message().rfind("fuzz/model.json: ", 0) != 0) {
        std::abort();  // every error names the file
    }
    return 0;
}
