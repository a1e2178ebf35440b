// Starts, stops and inspects the local chain (devnet/server.mjs, a Node.js process serving a
// Stacks node's RPC and the Stacks Blockchain API over the real Clarity VM) as a background
// process owned by a data directory. DIR holds, beside the chain's own state:
//   devnet.pid   {"pid", "start_time"} of the process this CLI started (start_time is the
//                kernel's, /proc/PID/stat field 22: a pid reused by another process never matches)
//   devnet.json  {"pid", "url", "api_url"}, written by the chain once both ports answer, removed
//                when it stops cleanly: how a chain started on port 0 is found
//   devnet.log   its stdout and stderr
// start, status and stop decide "is our chain running" the same way: the recorded process exists,
// is not a zombie and started at the recorded time (for a devnet.pid without one: runs
// devnet/server.mjs on this data directory).
// Thread safety: none needed; every call reads and writes the files above afresh.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"

namespace medanchor::ops {

struct DevnetOptions {
    std::filesystem::path source_root;  // the checkout holding devnet/ and contracts/
    // Default: <source_root>/.medanchor/devnet. A relative path is taken from the current
    // directory, once, by every call below; the chain is handed the absolute path.
    std::filesystem::path data_dir;
    std::string host = "127.0.0.1";
    int port = 20443;     // the node's RPC; 0 picks a free one (read back from devnet.json)
    int api_port = 3999;  // the Stacks Blockchain API; 0 picks a free one
    std::chrono::milliseconds block_interval{1000};  // a block at most this often (10 ms to 1 h)
    std::chrono::milliseconds ready_timeout{std::chrono::seconds(60)};
};

struct DevnetState {
    bool running = false;  // our chain's process is alive (see above)
    int pid = 0;
    std::string url;                          // the node's RPC, e.g. http://127.0.0.1:20443
    std::string api_url;                      // the API, e.g. http://127.0.0.1:3999
    std::optional<std::uint64_t> tip_height;  // when the node answered
};

// The checkout medanchor was built from, or $MEDANCHOR_ROOT when set.
std::filesystem::path source_root();
DevnetOptions default_devnet_options();

// Starts the chain unless ours already runs from this data directory, and waits until it answers
// (a chain still starting is waited for). kInvalidArgument: the port already answers for another
// node, or a bad option; kTimeout: no answer within ready_timeout; kInternal: it exited during
// start-up (the message ends with its log).
Result<DevnetState> start_devnet(const DevnetOptions& options);
// SIGTERM to our chain, then waits (10 s) for it to end. Ok when none of ours was running: a
// stale devnet.pid naming another process is removed, and that process is never signalled.
Status stop_devnet(const DevnetOptions& options);
Result<DevnetState> devnet_status(const DevnetOptions& options);

}  // namespace medanchor::ops
