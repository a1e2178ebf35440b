// The listener's Prometheus counters (docs/pacs.md, "Observability"), in the text exposition
// format: what `medanchor listen --metrics` serves at /metrics and what `medanchor serve
// --listen-dicom` adds to /api/metrics, under the same names.
#pragma once

#include <filesystem>
#include <string>

#include "app/dicom/listener.h"

namespace medanchor::dicom {

// The counters of `stats` and the send queue's pending gauge (read from the ledger at
// `ledger_path`; left out when it cannot be read). Not the anchoring lag: each command has its
// own (serve's counts uploads too).
std::string metrics_text(const ListenStats& stats, const std::filesystem::path& ledger_path);

}  // namespace medanchor::dicom
