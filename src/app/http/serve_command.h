// `medanchor serve` (the HTTP API and web UI) and `medanchor users add|list|remove` (its
// accounts), registered on the CLI by main.cpp.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::http {

using CommandAction = std::function<Status()>;

void add_serve_commands(CLI::App& app, CommandAction& action);

}  // namespace medanchor::http
