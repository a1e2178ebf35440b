// The job queue's commands on a PostgreSQL ledger (docs/scale.md): `medanchor enqueue PATHS...`
// adds a job per image file for (model, analyst); `medanchor worker` claims jobs in batches and
// runs each through the same AnalysisService as `analyze` (recording only: anchoring is
// `medanchor sync`'s, or the anchoring writer's); `medanchor status` shows the queue, the workers
// and the anchoring lag, as text, JSON or Prometheus text.
#pragma once

#include <functional>

#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

using CommandAction = std::function<Status()>;

void add_queue_commands(CLI::App& app, CommandAction& action);

}  // namespace medanchor::app
