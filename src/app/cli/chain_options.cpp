#include "app/cli/chain_options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "chain/contract.h"
#include "chain/registry.h"
#include "stacks/hash.h"

namespace medanchor::app {

using namespace medanchor::chain;  // the CLI is a shell over the chain layer

using nlohmann::json;
using stacks::Value;

void add_chain_options(CLI::App* cmd, ChainOptions& o, bool needs_key) {
    cmd->add_option("--network", o.network, "devnet (the local chain), testnet or mainnet")
        ->capture_default_str();
    cmd->add_option("--node", o.node,
                    "Stacks node RPC URL (default on devnet: " + std::string(kDevnetUrl) + ")");
    cmd->add_option("--api", o.api,
                    "Stacks Blockchain API URL, for faster confirmation (default "
                    "$MEDANCHOR_API_URL; on devnet without --node: " +
                        std::string(kDevnetApiUrl) + "; none: confirm from the node alone)");
    cmd->add_option(
        "--contract", o.contract,
        "contract id ADDRESS.medical-analysis (default on devnet: the devnet deployer's)");
    if (needs_key) {
        cmd->add_option("--key-file", o.key_file,
                        "signing key file (medanchor keys new); default $MEDANCHOR_KEY_FILE");
        cmd->add_option("--fee", o.fee, "fee in micro-STX (default: the node's estimate)");
        cmd->add_option("--max-fee", o.max_fee, "refuse estimated fees above this (micro-STX)")
            ->capture_default_str();
        cmd->add_option("--timeout", o.timeout_s, "seconds to wait for confirmation")
            ->capture_default_str();
        cmd->add_flag("--no-wait", o.no_wait, "broadcast and return the txid without waiting");
    }
    cmd->add_flag("--json", o.json, "machine-readable output");
}

void add_anchor_options(CLI::App* cmd, AnchorOptions& o, bool root_every) {
    cmd->add_option("--anchor-mode", o.mode,
                    "records (one contract record per analysis, batches of 50) or merkle (one "
                    "root for many analyses, a proof file beside each report)")
        ->check(CLI::IsMember({"records", "merkle"}))
        ->capture_default_str();
    if (root_every) {
        cmd->add_option("--root-every", o.root_every_s,
                        "merkle: anchor a root once its oldest analysis has waited this many "
                        "seconds (0: at once)")
            ->check(CLI::Range(0, 86400))
            ->capture_default_str();
    }
    cmd->add_option("--root-size", o.root_size,
                    "merkle: analyses per root; a full root is anchored at once (1 to 1048576)")
        ->check(CLI::Range(std::size_t{1}, chain::kMaxRootLeaves))
        ->capture_default_str();
}

Result<chain::OutboxOptions> outbox_options(const AnchorOptions& o) {
    auto mode = chain::parse_anchor_mode(o.mode);
    if (!mode)
        return mode.error();
    chain::OutboxOptions options;
    options.mode = *mode;
    options.root_every = std::chrono::seconds(o.root_every_s);
    options.root_size = o.root_size;
    return options;
}

Result<ChainConfig> chain_config(const ChainOptions& o) {
    auto network = parse_network_name(o.network);
    if (!network)
        return network.error();
    ChainConfig c;
    c.network = *network;
    c.node_url = o.node;
    c.api_url = o.api;
    if (c.api_url.empty()) {
        if (const char* env = std::getenv("MEDANCHOR_API_URL"); env != nullptr)
            c.api_url = env;
    }
    c.contract_id = o.contract;
    c.fee = o.fee;
    c.max_fee = o.max_fee;
    c.confirm_timeout = std::chrono::seconds(o.timeout_s);
    return resolve(c);
}

stacks::NodeClient node_client(const ChainConfig& config) {
    return stacks::NodeClient(config.node_url, stacks::RetryPolicy{}, config.api_url);
}

Result<stacks::PrivateKey> load_key(const std::string& flag) {
    std::string path = flag;
    if (path.empty()) {
        if (const char* env = std::getenv("MEDANCHOR_KEY_FILE"); env != nullptr)
            path = env;
    }
    if (path.empty()) {
        return Error(ErrorCode::kNoKey,
                     "no signing key: pass --key-file FILE or set MEDANCHOR_KEY_FILE "
                     "(create one with `medanchor keys new --out FILE`)");
    }
    return stacks::read_key_file(path);
}

Result<ChainSession> open_session(const ChainOptions& o) {
    auto config = chain_config(o);
    if (!config)
        return config.error();
    auto key = load_key(o.key_file);
    if (!key)
        return key.error();
    return ChainSession(*config, *key);
}

Result<Value> read_contract(stacks::NodeClient& node, const ChainConfig& config,
                            const std::string& function, const std::vector<Value>& args) {
    return chain::read_only(node, config, function, args);
}

Status print_outcome(const ChainOptions& o, const CallOutcome& outcome) {
    const std::string& what = outcome.action;
    if (!outcome.confirmed) {
        std::cout
            << (o.json
                    ? json{{"action", what}, {"txid", outcome.txid}, {"status", "pending"}}.dump()
                    : what + ": broadcast, tx " + outcome.txid)
            << "\n";
        return Status::Ok();
    }
    const Confirmed& c = *outcome.confirmed;
    const auto& s = c.status;
    const std::string result = s.result ? describe_result(*s.result) : "";
    // Without the API: what the contract's state showed, and that no block number is known.
    const std::string where =
        c.evidence.empty() ? " in block " + std::to_string(s.block_height)
                           : " (" + s.raw_status +
                                 "; without an API the contract's state tells: " + c.evidence + ")";
    if (o.json) {
        json j = {{"action", what},
                  {"txid", c.txid},
                  {"status", stacks::to_string(s.state)},
                  {"block_height", s.block_height},
                  {"result", s.result ? s.result->to_string() : ""}};
        if (!c.evidence.empty()) {
            j["evidence"] = c.evidence;
            j["outcome_known"] = c.outcome_known;
        }
        std::cout << j.dump() << "\n";
    } else {
        std::cout << what << ": " << stacks::to_string(s.state) << where << " (tx " << c.txid << ")"
                  << (result.empty() ? "" : ": " + result) << "\n";
    }
    return outcome_status(outcome);
}

Status print_outcome(const ChainOptions& o, Result<CallOutcome> outcome) {
    if (!outcome)
        return outcome.error();
    return print_outcome(o, *outcome);
}

Status send_call(const ChainOptions& o, const std::string& what, const std::string& function,
                 std::vector<Value> args) {
    auto session = open_session(o);
    if (!session)
        return session.error();
    return print_outcome(
        o, submit(*session, what, session->call(function, std::move(args)), !o.no_wait));
}

Result<Value> principal_arg(const std::string& text) {
    auto p = Value::parse_principal(text);
    if (!p)
        return Error(ErrorCode::kInvalidArgument, "principal: " + p.error().message());
    return p;
}

Result<Value> digest_arg(const std::string& text, const std::string& what) {
    auto bytes = stacks::from_hex(text);
    if (!bytes || bytes->size() != 32) {
        return Error(ErrorCode::kInvalidArgument, what + " must be 64 hex digits (a SHA-256)");
    }
    return Value::buffer(*bytes);
}

Result<Value> file_digest(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return Error(ErrorCode::kNotFound, path + ": cannot open");
    std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
    const auto h = stacks::sha256(data);
    return Value::buffer(stacks::Bytes(h.begin(), h.end()));
}

}  // namespace medanchor::app
