// `medanchor simulate`: writes simulated chest CT slices (src/sim, docs/ctsim.md) as DICOM, with
// their ground truth in truth.csv beside them. Training data, sample images, benchmark folders.
#pragma once

#include <filesystem>
#include <functional>

#include "common/error.h"
#include "sim/ctsim.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

struct SimulateRequest {
    std::filesystem::path out;
    std::uint64_t seed = 1;
    std::uint64_t first = 0;
    std::uint64_t count = 16;
    unsigned threads = 0;  // 0: one per core
    bool force = false;    // replace an earlier truth.csv and its slices
    sim::CtSimOptions options;
};

// Writes <out>/ctsim-<seed>-<index>.dcm for each index and <out>/truth.csv (written last, by
// rename). Refuses an output folder that already has a truth.csv unless force.
Status simulate(const SimulateRequest& request, bool show_progress);

void add_simulate_command(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
