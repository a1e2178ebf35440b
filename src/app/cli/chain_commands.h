// The CLI's chain commands: `keys`, `devnet`, `deploy`, `admin`. Each registers a CLI11
// subcommand whose action runs after parsing; main() runs it and turns an Error into a message
// on stderr and the exit code of the error table.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

// The action the parsed command line selected (empty when only --help or --version ran).
using CommandAction = std::function<Status()>;

void add_chain_commands(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
