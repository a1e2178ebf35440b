// The floor under `medanchor analyze`: only read the image files and run the model's forward
// passes, through medanchor's own decoder, preprocessing and engine, in one batch loop — no
// de-identification, hashing, reports or ledger. bench/peer/run.sh reports analyze's throughput as
// a fraction of this. Prints figures; asserts nothing about time.
//   build-release/bench/medanchor_bench_floor FOLDER [--threads N] [--batch N] [--engine E]
//       [--model DIR]
// --threads 1: one thread reads, preprocesses and runs each batch in turn. --threads N > 1:
// run_pipeline, N loader threads overlapping one inference thread with N intra-op threads, as
// analyze runs it. The clock starts with the model loaded and warm (one forward pass first), as
// the peer's does; in the pipeline mode the pipeline still loads its own copy of the network
// inside the clock (the LibTorch module is loaded by then).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include "image/reader.h"
#include "inference/engine.h"
#include "inference/pipeline.h"
#include "service/file_inputs.h"
#include "service/model_input.h"

namespace {

using namespace medanchor;

int usage() {
    std::cerr << "usage: medanchor_bench_floor FOLDER [--threads N] [--batch N] "
                 "[--engine opencv-dnn|libtorch] [--model DIR]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2)
        return usage();
    std::string folder = argv[1];
    std::string model = std::string(MEDANCHOR_SOURCE_DIR) + "/models/ct-nodule-sim";
    std::string engine_arg;
    int threads = 1, batch = 8;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--threads")
            threads = std::atoi(value.c_str());
        else if (flag == "--batch")
            batch = std::atoi(value.c_str());
        else if (flag == "--engine")
            engine_arg = value;
        else if (flag == "--model")
            model = value;
        else
            return usage();
    }
    if (threads < 1 || batch < 1 || (argc % 2) != 0)
        return usage();
    const auto engine_kind = inference::parse_engine_name(engine_arg);
    if (!engine_arg.empty() && !engine_kind)
        return usage();
    auto bundle = inference::load_model_bundle(model, engine_kind);
    if (!bundle) {
        std::cerr << bundle.error().message() << "\n";
        return 1;
    }
    const auto files = service::expand_inputs({folder});
    if (files.empty()) {
        std::cerr << folder << ": no image files\n";
        return 1;
    }
    const auto load = [&files](std::size_t i) -> Result<inference::ModalityImage> {
        auto img = image::read_image(files[i]);
        if (!img)
            return img.error();
        return service::to_model_input(*img, files[i].string());
    };

    std::size_t done = 0, failed = 0;
    if (threads == 1) {
        inference::set_opencv_threads(1);
        inference::set_torch_threads(1);
    }
    // As the peer's clock does, this one starts with the model loaded and warm: the engine (and
    // with it the LibTorch module) is made and runs one forward pass of the first image first.
    auto engine = inference::make_engine(*bundle);
    if (!engine) {
        std::cerr << engine.error().message() << "\n";
        return 1;
    }
    if (auto first = load(0); first) {
        if (auto warm = inference::preprocess(*first, bundle->manifest); warm) {
            std::vector<inference::Tensor> one;
            one.push_back(std::move(warm->tensor));
            (void)(*engine)->run(one);
        }
    }
    const auto start = std::chrono::steady_clock::now();
    if (threads == 1) {
        std::vector<inference::Tensor> tensors;
        for (std::size_t i = 0; i < files.size(); ++i) {
            auto image = load(i);
            auto prepared = image ? inference::preprocess(*image, bundle->manifest)
                                  : Result<inference::PreparedInput>(image.error());
            if (!prepared) {
                ++failed;
            } else {
                tensors.push_back(std::move(prepared->tensor));
            }
            if (tensors.size() == static_cast<std::size_t>(batch) || i + 1 == files.size()) {
                auto out = (*engine)->run(tensors);
                (out ? done : failed) += tensors.size();
                tensors.clear();
            }
        }
    } else {
        inference::PipelineOptions options;
        options.threads = threads;
        options.batch = batch;
        const Status status = inference::run_pipeline(
            *bundle, files.size(), load,
            [&](std::size_t, Result<inference::ItemResult> r) { (r ? done : failed) += 1; },
            options);
        if (!status) {
            std::cerr << status.error().message() << "\n";
            return 1;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "{\"mode\":\"floor\",\"images\":%zu,\"failed\":%zu,\"seconds\":%.4f,\"images_per_s\":%.1f,"
        "\"threads\":%d,\"batch\":%d,\"engine\":\"%s\"}\n",
        done, failed, seconds, static_cast<double>(done) / seconds, threads, batch,
        inference::engine_name(bundle->manifest.engine));
    return failed == 0 ? 0 : 1;
}
