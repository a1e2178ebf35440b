// The whole `medanchor` command line: every subcommand registered on one CLI11 app, the
// configuration file attached (config.h), and `medanchor config show`. main() parses with it and
// runs the action the command line selected; `config show` builds a second one to resolve the
// command it is asked about exactly as a run would.
#pragma once

#include <functional>
#include <memory>

#include "app/cli/config.h"
#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

// REQUIRES: `file` and `action` outlive the app. Errors: an unknown key in the file.
Result<std::unique_ptr<CLI::App>> make_cli(CommandAction& action, const ConfigFile& file);

}  // namespace medanchor::app
