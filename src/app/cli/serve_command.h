// `medanchor serve` (the HTTP API and web UI) and `medanchor users add|list|remove` (its
// accounts), registered on the CLI by cli.cpp. The
// server itself is src/app/http/ (server.h); this file only parses and starts it.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

void add_serve_commands(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
