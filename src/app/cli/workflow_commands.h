// The professional workflow and the outbox on the command line:
//   medanchor professional register|verify|suspend|reinstate|status
//   medanchor review ANALYSIS-ID --confirm|--dispute --note-file F
//   medanchor retract ANALYSIS-ID --reason N
//   medanchor sync                       anchor what the ledger holds pending, settle the rest
//   medanchor ledger list|show|requeue   the local record
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

void add_workflow_commands(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
