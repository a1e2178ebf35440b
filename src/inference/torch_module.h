// The interface between the inference library and the LibTorch engine module
// (medanchor_torch_engine.so, built from torch_engine.cpp and loaded on first use by engine.cpp).
// Both sides are built together by this project's CMake with the same compiler and flags, so C++
// types cross the boundary as they are; the two entry points have C names so dlsym finds them.
#pragma once

#include <atomic>
#include <memory>

#include "common/error.h"
#include "inference/engine.h"
#include "inference/model_bundle.h"

namespace medanchor::inference {

// Makes a LibTorch engine for `bundle` into `*out`. The engine reads the intra-op thread count
// to apply from `*threads` at every run (0: leave it); `*threads` outlives every engine.
// REQUIRES: bundle->manifest.engine is kLibTorch.
using TorchMakeEngine = void (*)(const ModelBundle* bundle, const std::atomic<int>* threads,
                                 Result<std::unique_ptr<Engine>>* out);
inline constexpr const char* kTorchMakeEngineSymbol = "medanchor_torch_make_engine";

// at::set_num_threads(threads) when threads > 0; returns at::get_num_threads() from before.
using TorchSetThreads = int (*)(int threads);
inline constexpr const char* kTorchSetThreadsSymbol = "medanchor_torch_set_threads";

}  // namespace medanchor::inference
