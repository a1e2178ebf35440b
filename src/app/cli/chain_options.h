// The options and helpers every command that talks to the chain shares (admin, deploy,
// professional, review, analyze, sync, verify): network, node, contract, key, fee, waiting, and
// turning a confirmed call into output and an exit code.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chain/session.h"
#include "common/error.h"

namespace CLI {
class App;
}

namespace medanchor::app {

struct ChainOptions {
    std::string network = "devnet";
    std::string node;
    std::string api;  // empty: $MEDANCHOR_API_URL, else none (the devnet default without --node)
    std::string contract;
    std::string key_file;
    std::uint64_t fee = 0;
    std::uint64_t max_fee = 1'000'000;
    int timeout_s = 120;
    bool json = false;
    bool no_wait = false;
};

// --network, --node, --api, --contract, --json; with needs_key also --key-file, --fee,
// --max-fee, --timeout, --no-wait.
void add_chain_options(CLI::App* cmd, ChainOptions& o, bool needs_key = true);

Result<chain::ChainConfig> chain_config(const ChainOptions& o);
// A client of the configured node and API, for keyless reads.
stacks::NodeClient node_client(const chain::ChainConfig& config);
// The signing key from --key-file or $MEDANCHOR_KEY_FILE (kInvalidArgument with a hint if neither).
Result<stacks::PrivateKey> load_key(const std::string& flag);
Result<chain::ChainSession> open_session(const ChainOptions& o);

// A read-only call needing no key, on any network: the contract's deployer stands as the caller.
Result<stacks::Value> read_contract(stacks::NodeClient& node, const chain::ChainConfig& config,
                                    const std::string& function,
                                    const std::vector<stacks::Value>& args);

// Prints the outcome of a contract call (text or --json: txid, status, block, result; without
// the API, the evidence from the contract's state) and returns chain::outcome_status(): (err uN)
// is kContract naming the contract's error constant, other failures kRejected, an unknowable
// outcome kUnsupported. A broadcast-only outcome prints its txid.
Status print_outcome(const ChainOptions& o, const chain::CallOutcome& outcome);
Status print_outcome(const ChainOptions& o, Result<chain::CallOutcome> outcome);
// Signs and sends one call, then prints its outcome (or its txid with --no-wait).
Status send_call(const ChainOptions& o, const std::string& what, const std::string& function,
                 std::vector<stacks::Value> args);

// Argument parsers that name what was wrong.
Result<stacks::Value> principal_arg(const std::string& text);
Result<stacks::Value> digest_arg(const std::string& text, const std::string& what);
// SHA-256 of a file's bytes as a (buff 32).
Result<stacks::Value> file_digest(const std::string& path);

}  // namespace medanchor::app
