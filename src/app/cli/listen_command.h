// `medanchor listen`: the DICOM listener and Orthanc follower (docs/pacs.md). Parses its options,
// sets up the analysis as `analyze` does (analyze_command.h, prepare_analysis), starts the
// background anchoring and dicom::Listener, and runs until SIGTERM or SIGINT.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

void add_listen_command(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
