#include "app/cli/predict_command.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "app/cli/progress.h"
#include "image/reader.h"
#include "inference/engine.h"
#include "inference/pipeline.h"
#include "service/file_inputs.h"
#include "service/model_input.h"

namespace medanchor::app {

using namespace medanchor::service;  // the CLI is a shell over the services
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

struct PredictRequest {
    std::string model;
    std::vector<std::string> inputs;
    std::string saliency_dir;
    bool as_json = false;
    int threads = 0;
    int batch = 8;
    std::string engine;  // "" : the one model.json names
};

std::string percent(double p) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f%%", p * 100.0);
    return buf;
}

// Clears a progress line on a terminal before other output, so lines do not mix.
void clear_progress_line() {
    if (::isatty(STDERR_FILENO) == 1)
        std::fputs("\r\033[K", stderr);
}

// Saliency file names: <stem>.saliency.png, with -2, -3, ... when two inputs share a stem.
class SaliencyNames {
  public:
    explicit SaliencyNames(fs::path dir) : dir_(std::move(dir)) {}
    fs::path next(const fs::path& input) {
        const std::string stem = input.stem().string();
        std::string name = stem;
        for (int n = 2; !used_.insert(name).second; ++n)
            name = stem + "-" + std::to_string(n);
        return dir_ / (name + ".saliency.png");
    }

  private:
    fs::path dir_;
    std::set<std::string> used_;
};

json result_json(const fs::path& file, const inference::ModelBundle& bundle,
                 const std::string& engine, const inference::ItemResult& r,
                 const std::optional<fs::path>& saliency) {
    const auto& m = bundle.manifest;
    const auto& p = r.prediction;
    json probabilities = json::array();
    for (std::size_t i = 0; i < m.labels.size(); ++i) {
        probabilities.push_back({{"code", m.labels[i].code},
                                 {"display", m.labels[i].display},
                                 {"probability", p.probabilities[i]},
                                 {"bp", inference::to_basis_points(p.probabilities[i])}});
    }
    json positives = json::array();
    for (std::size_t i : p.positives)
        positives.push_back(m.labels[i].code);
    json j{
        {"file", file.string()},
        {"model", {{"name", m.name}, {"version", m.version}, {"sha256", m.model_sha256}}},
        {"engine", engine},
        {"preprocessing", r.input.steps},
        {"activation", inference::activation_name(m.activation)},
        {"temperature", m.calibration.temperature},
        {"probabilities", probabilities},
        {"finding", {{"code", m.labels[p.finding].code}, {"display", m.labels[p.finding].display}}},
        {"findings", positives},
        {"confidence_bp", p.confidence_bp},
        {"min_confidence_bp", m.min_confidence_bp},
        {"needs_review", p.below_min_confidence}};
    if (saliency)
        j["saliency"] = saliency->string();
    return j;
}

void print_result(const fs::path& file, const inference::ModelBundle& bundle,
                  const inference::ItemResult& r, const std::optional<fs::path>& saliency) {
    const auto& m = bundle.manifest;
    const auto& p = r.prediction;
    const auto& label = m.labels[p.finding];
    std::cout << file.string() << "\n"
              << "  finding:       " << label.code << " (" << label.display << ")\n"
              << "  confidence:    " << percent(p.probabilities[p.finding]) << " ("
              << p.confidence_bp << " bp)";
    if (p.below_min_confidence) {
        std::cout << "  below the model's " << m.min_confidence_bp << " bp: needs human review";
    }
    std::cout << "\n";
    if (m.activation == inference::Activation::kSigmoid) {
        std::cout << "  findings:      ";
        if (p.positives.empty())
            std::cout << "none at or above 50%";
        for (std::size_t k = 0; k < p.positives.size(); ++k)
            std::cout << (k ? ", " : "") << m.labels[p.positives[k]].code;
        std::cout << "\n";
    }
    std::cout << "  probabilities: ";
    for (std::size_t i = 0; i < m.labels.size(); ++i)
        std::cout << (i ? ", " : "") << m.labels[i].code << " " << percent(p.probabilities[i]);
    std::cout << "\n";
    if (saliency)
        std::cout << "  saliency:      " << saliency->string() << "\n";
}

Status run_predict(const PredictRequest& req) {
    if (req.threads < 0)
        return Error(ErrorCode::kInvalidArgument, "--threads must be 0 (all cores) or more");
    if (req.batch < 1 || req.batch > 256)
        return Error(ErrorCode::kInvalidArgument, "--batch must be in 1..256");
    auto bundle = inference::load_model_bundle(req.model, inference::parse_engine_name(req.engine));
    if (!bundle)
        return bundle.error();
    const auto files = expand_inputs(req.inputs);
    if (files.empty()) {
        return Error(ErrorCode::kNoInput,
                     "no image files (DICOM, PNG, JPEG, TIFF) in the given paths");
    }
    std::optional<SaliencyNames> names;
    if (!req.saliency_dir.empty()) {
        // Marked as medanchor's output: a later run over a folder holding it skips the PNGs.
        if (auto made = make_output_folder(req.saliency_dir); !made)
            return made;
        names.emplace(req.saliency_dir);
    }

    inference::PipelineOptions options;
    options.threads = req.threads;
    // OpenCV's and LibTorch's threads are process-wide: set once, before the run.
    inference::set_compute_threads(req.threads);
    options.batch = req.batch;
    options.saliency = names.has_value();
    options.saliency_options.batch = req.batch;

    // The engine description for reports, from the same factory the pipeline uses.
    std::string engine_name;
    const inference::EngineFactory factory = [&engine_name](const inference::ModelBundle& b) {
        auto engine = inference::make_engine(b);
        if (engine && engine_name.empty())
            engine_name = (*engine)->description();
        return engine;
    };

    Progress progress(files.size(), "images");
    std::size_t failed = 0;
    std::optional<Error> first;
    auto report_error = [&](const fs::path& file, const Error& error) {
        ++failed;
        if (!first)
            first = error;
        if (req.as_json) {
            std::cout << json{{"file", file.string()},
                              {"error",
                               {{"code", error_info(error.code()).name},
                                {"message", error.message()}}}}
                             .dump()
                      << "\n"
                      << std::flush;
        }
        if (files.size() > 1) {
            clear_progress_line();
            std::cerr << "medanchor: " << error.message() << " [" << error_info(error.code()).name
                      << "]\n";
        }
    };
    const Status status = inference::run_pipeline(
        *bundle, files.size(),
        [&files](std::size_t i) -> Result<inference::ModalityImage> {
            auto img = image::read_image(files[i]);
            if (!img)
                return img.error();
            return to_model_input(*img, files[i].string());
        },
        [&](std::size_t i, Result<inference::ItemResult> r) {
            const fs::path& file = files[i];
            if (!r) {
                report_error(file, r.error());
                progress.tick();
                return;
            }
            std::optional<fs::path> saliency;
            if (names && r->saliency) {
                saliency = names->next(file);
                const Status written =
                    inference::write_saliency_png(*r->saliency, r->input, *saliency);
                if (!written) {
                    report_error(file, written.error());
                    progress.tick();
                    return;
                }
            }
            clear_progress_line();
            if (req.as_json) {
                std::cout << result_json(file, *bundle, engine_name, *r, saliency).dump() << "\n";
            } else {
                print_result(file, *bundle, *r, saliency);
            }
            std::cout << std::flush;
            progress.tick();
        },
        options, factory);
    progress.finish();
    if (!status)
        return status.error();
    if (failed == 0)
        return Status::Ok();
    if (files.size() == 1)
        return *first;
    return Error(first->code(), std::to_string(failed) + " of " + std::to_string(files.size()) +
                                    " files failed (see above)");
}

}  // namespace

void add_predict_command(CLI::App& app, PredictCommandAction& action) {
    auto* cmd = app.add_subcommand(
        "predict",
        "Run a model bundle (model.json + ONNX or TorchScript) on images: finding, calibrated "
        "confidence, per-label probabilities, optional saliency maps");
    auto req = std::make_shared<PredictRequest>();
    cmd->add_option("--model", req->model,
                    "model bundle folder (model.json + model.onnx and/or model.ts)")
        ->required();
    cmd->add_option("FILE", req->inputs, "DICOM, PNG, JPEG or TIFF files or folders (recursive)")
        ->required();
    cmd->add_flag("--json", req->as_json, "JSON Lines output: one object per file");
    cmd->add_option("--saliency", req->saliency_dir,
                    "write an occlusion saliency overlay <stem>.saliency.png per file into DIR");
    cmd->add_option("--threads", req->threads, "compute threads (default 0: one per core)");
    cmd->add_option("--batch", req->batch, "images per forward pass (default 8)");
    cmd->add_option("--engine", req->engine,
                    "run the bundle's network for this engine: opencv-dnn (model.onnx) or "
                    "libtorch (model.ts); default: the engine model.json names")
        ->check(CLI::IsMember({"opencv-dnn", "libtorch"}));
    cmd->footer(
        "Confidence is the calibrated probability of the reported finding, in basis points "
        "(docs/model-bundle.md). Multi-frame images are classified on their first frame. "
        "Not for clinical use.");
    cmd->callback([&action, req] { action = [req] { return run_predict(*req); }; });
}

}  // namespace medanchor::app
