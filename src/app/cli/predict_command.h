// `medanchor predict --model DIR FILE|FOLDER...`: runs a model bundle (docs/model-bundle.md) on
// images and prints, per file, the finding, its calibrated confidence, every label's probability
// and whether it is below the bundle's threshold; JSON Lines with --json; saliency PNGs with
// --saliency DIR. A bad file is reported with its name and the others go on; the exit code is
// non-zero if any failed.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using PredictCommandAction = std::function<Status()>;

void add_predict_command(CLI::App& app, PredictCommandAction& action);

}  // namespace medanchor::app
