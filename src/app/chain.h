// A signed conversation with the medical-analysis contract on one network: picks the node and the
// contract, numbers the account's transactions (nonces), prices them (fees), broadcasts them and
// follows them to confirmation. The CLI's admin, deploy and professional commands are thin shells
// over it.
// Thread safety: one ChainSession per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "stacks/keys.h"
#include "stacks/node_client.h"
#include "stacks/transaction.h"

namespace medanchor::app {

enum class NetworkName { kDevnet, kTestnet, kMainnet };

Result<NetworkName> parse_network_name(const std::string& text);
const char* to_string(NetworkName network);
stacks::Network stacks_network(NetworkName network);

struct ChainConfig {
    NetworkName network = NetworkName::kDevnet;
    std::string node_url;     // empty: the devnet default; required for testnet and mainnet
    std::string contract_id;  // empty: <deployer>.medical-analysis on devnet; required elsewhere
    std::uint64_t fee = 0;    // micro-STX per transaction; 0 asks the node for an estimate
    std::uint64_t max_fee = 1'000'000;  // refuse estimates above this (1 STX) unless raised
    std::chrono::milliseconds confirm_timeout{std::chrono::seconds(120)};
    std::chrono::milliseconds poll_interval{std::chrono::milliseconds(250)};
};

inline constexpr const char* kDevnetUrl = "http://127.0.0.1:20443";
// The deployer of Clarinet's devnet settings (settings/Devnet.toml), who deploys the contract.
inline constexpr const char* kDevnetDeployer = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";

// Fills the defaults in and checks what cannot be defaulted.
Result<ChainConfig> resolve(ChainConfig config);

struct Confirmed {
    std::string txid;
    stacks::TxStatus status;
};

class ChainSession {
  public:
    // REQUIRES: config came from resolve().
    ChainSession(ChainConfig config, stacks::PrivateKey key);

    const ChainConfig& config() const { return config_; }
    std::string sender() const;
    stacks::NodeClient& node() { return node_; }

    // Signs and broadcasts; returns the txid. Nonces count up locally from the node's answer,
    // so several transactions can be sent before the first is mined.
    Result<std::string> send(stacks::Payload payload);
    // A signed transaction not yet broadcast: the outbox records it before sending it.
    struct Signed {
        std::string txid;
        stacks::Bytes raw;
        std::uint64_t nonce = 0;
        std::uint64_t fee = 0;
    };
    // Signs with the next nonce (at least `min_nonce`: transactions of this account the node
    // has not mined yet) and counts the nonce as used.
    Result<Signed> sign(stacks::Payload payload, std::uint64_t min_nonce = 0);
    // The next sign() asks the node for the account's nonce again.
    void forget_nonce() { next_nonce_.reset(); }
    // send() then waits for the transaction to be mined. A mined call that answered (err uN) is
    // a Confirmed with status kAbortByResponse, not an Error: the caller decides.
    Result<Confirmed> send_and_wait(stacks::Payload payload);
    Result<stacks::TxStatus> wait(const std::string& txid);

    // A contract call on the configured contract.
    stacks::Payload call(const std::string& function, std::vector<stacks::Value> args) const;
    // A read-only call on the configured contract, as this session's sender.
    Result<stacks::Value> read(const std::string& function, const std::vector<stacks::Value>& args);

  private:
    Result<std::uint64_t> fee_for(const stacks::Payload& payload);

    ChainConfig config_;
    stacks::PrivateKey key_;
    stacks::NodeClient node_;
    std::optional<std::uint64_t> next_nonce_;
};

}  // namespace medanchor::app
