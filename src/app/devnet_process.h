// Starts, stops and inspects the local chain (devnet/server.mjs, a Node.js process serving the
// Stacks node RPC over the real Clarity VM) as a background process owned by a data directory:
// DIR/devnet.pid, DIR/devnet.log and the chain's own state live there.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"

namespace medanchor::app {

struct DevnetOptions {
    std::filesystem::path source_root;  // the checkout holding devnet/ and contracts/
    std::filesystem::path data_dir;     // default: <source_root>/.medanchor/devnet
    std::string host = "127.0.0.1";
    int port = 20443;
    std::chrono::milliseconds ready_timeout{std::chrono::seconds(60)};
};

struct DevnetState {
    bool running = false;
    int pid = 0;
    std::string url;
    std::optional<std::uint64_t> tip_height;  // when the node answered
};

// The checkout medanchor was built from, or $MEDANCHOR_ROOT when set.
std::filesystem::path source_root();
DevnetOptions default_devnet_options();

// Starts the chain unless one already runs from this data directory; waits until it answers.
Result<DevnetState> start_devnet(const DevnetOptions& options);
// SIGTERM, then waits for the process to end. Ok when none was running.
Status stop_devnet(const DevnetOptions& options);
Result<DevnetState> devnet_status(const DevnetOptions& options);

}  // namespace medanchor::app
