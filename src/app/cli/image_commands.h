// The CLI's image commands: `inspect`, `deid`, `hash`, `site-key`. Each registers a CLI11
// subcommand whose action runs after parsing; main() runs it and turns an Error into a message on
// stderr and the exit code of the error table.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using ImageCommandAction = std::function<Status()>;

void add_image_commands(CLI::App& app, ImageCommandAction& action);

}  // namespace medanchor::app
