#include "app/cli/simulate_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "app/cli/progress.h"
#include "common/file_io.h"

namespace medanchor::app {
namespace {

namespace fs = std::filesystem;

std::string slice_name(std::uint64_t seed, std::uint64_t index) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "ctsim-%llu-%05llu.dcm",
                  static_cast<unsigned long long>(seed), static_cast<unsigned long long>(index));
    return buffer;
}

std::string truth_row(const std::string& file, std::uint64_t index, const sim::CtTruth& t) {
    std::ostringstream row;
    row.precision(6);
    row << file << ',' << index << ',' << (t.nodule ? 1 : 0) << ',' << t.nodule_diameter_mm << ','
        << t.nodule_hu << ',' << t.nodule_x_mm << ',' << t.nodule_y_mm << ',' << t.i0 << '\n';
    return row.str();
}

}  // namespace

Status simulate(const SimulateRequest& r, bool show_progress) {
    if (auto valid = sim::validate(r.options); !valid)
        return valid;
    if (r.count == 0 || r.count > 1'000'000) {
        return Error(ErrorCode::kInvalidArgument, "--count must be between 1 and 1000000");
    }
    std::error_code ec;
    fs::create_directories(r.out, ec);
    if (ec || !fs::is_directory(r.out)) {
        return Error(ErrorCode::kIo, r.out.string() + ": cannot create the output folder" +
                                         (ec ? ": " + ec.message() : ""));
    }
    const fs::path truth = r.out / "truth.csv";
    if (fs::exists(truth) && !r.force) {
        return Error(
            ErrorCode::kInvalidArgument,
            truth.string() +
                " exists: this folder already holds a simulated set (use --force to replace it)");
    }

    std::vector<std::optional<sim::CtTruth>> truths(r.count);
    std::atomic<std::uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::optional<Error> first_error;
    std::mutex error_mutex;
    Progress progress(show_progress ? r.count : 0, "slices");
    auto worker = [&] {
        for (std::uint64_t k = next++; k < r.count && !failed; k = next++) {
            const std::uint64_t index = r.first + k;
            const auto slice = sim::simulate_slice(r.seed, index, r.options);
            if (auto written =
                    sim::write_dicom(slice, r.seed, index, r.out / slice_name(r.seed, index));
                !written) {
                std::lock_guard lock(error_mutex);
                if (!first_error)
                    first_error = written.error();
                failed = true;
                return;
            }
            truths[k] = slice.truth;
            progress.tick();
        }
    };
    const unsigned threads = std::max(
        1u, std::min<unsigned>(r.threads ? r.threads : std::thread::hardware_concurrency(),
                               static_cast<unsigned>(std::min<std::uint64_t>(r.count, 256))));
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back(worker);
    for (auto& t : pool)
        t.join();
    progress.finish();
    if (first_error)
        return *first_error;

    // The truth table last, by rename: its presence means the set is complete.
    std::string table = "file,index,nodule,diameter_mm,nodule_hu,x_mm,y_mm,photons_per_ray\n";
    for (std::uint64_t k = 0; k < r.count; ++k)
        table += truth_row(slice_name(r.seed, r.first + k), r.first + k, *truths[k]);
    if (auto s = write_file_atomically(truth, table); !s)
        return s;
    return Status::Ok();
}

void add_simulate_command(CLI::App& app, CommandAction& action) {
    auto request = std::make_shared<SimulateRequest>();
    auto* cmd = app.add_subcommand(
        "simulate",
        "Write simulated chest CT slices as DICOM, with their ground truth (docs/ctsim.md)");
    cmd->add_option("--out", request->out, "output folder (created if missing)")->required();
    cmd->add_option("--count", request->count, "number of slices")->capture_default_str();
    cmd->add_option("--seed", request->seed, "series seed: the same seed gives the same files")
        ->capture_default_str();
    cmd->add_option("--first", request->first, "index of the first slice")->capture_default_str();
    cmd->add_option("--size", request->options.size, "image matrix, pixels")->capture_default_str();
    cmd->add_option("--fov", request->options.fov_mm, "field of view, mm")->capture_default_str();
    cmd->add_option("--views", request->options.views, "projection angles over 180 degrees")
        ->capture_default_str();
    cmd->add_option("--nodule-fraction", request->options.nodule_fraction,
                    "share of slices with a nodule")
        ->capture_default_str();
    cmd->add_option("--min-dose", request->options.min_i0, "fewest photons per ray and view")
        ->capture_default_str();
    cmd->add_option("--max-dose", request->options.max_i0, "most photons per ray and view")
        ->capture_default_str();
    cmd->add_option("--min-nodule-mm", request->options.min_nodule_mm, "smallest nodule diameter")
        ->capture_default_str();
    cmd->add_option("--max-nodule-mm", request->options.max_nodule_mm, "largest nodule diameter")
        ->capture_default_str();
    cmd->add_option("--threads", request->threads, "worker threads (default: one per core)");
    cmd->add_flag("--force", request->force, "replace a simulated set already in --out");
    cmd->footer(
        "Writes OUT/ctsim-SEED-INDEX.dcm (DICOM CT, Hounsfield units; patient SIMULATED^PHANTOM) "
        "and "
        "OUT/truth.csv (nodule present, size, density, place, dose). Not patient data; not for "
        "clinical use.");
    cmd->callback([&action, request] {
        action = [request]() -> Status {
            if (auto s = simulate(*request, true); !s)
                return s;
            std::cout << "wrote " << request->count << " simulated CT slices and truth.csv to "
                      << request->out.string() << "\n";
            return Status::Ok();
        };
    });
}

}  // namespace medanchor::app
