// A signed conversation with the medical-analysis contract on one network: picks the node (and,
// when there is one, the Stacks Blockchain API) and the contract, numbers the account's
// transactions (nonces), prices them (fees), broadcasts them and follows them to confirmation:
// through the API when one is configured, otherwise from the node's RPC alone (the account's
// confirmed nonce, then the contract's state; docs/stacks-client.md, "Confirmation"). The CLI's
// admin, deploy and professional commands are thin shells over it.
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

namespace medanchor::chain {

enum class NetworkName { kDevnet, kTestnet, kMainnet };

Result<NetworkName> parse_network_name(const std::string& text);
const char* to_string(NetworkName network);
stacks::Network stacks_network(NetworkName network);

struct ChainConfig {
    NetworkName network = NetworkName::kDevnet;
    std::string node_url;  // empty: the devnet default; required for testnet and mainnet
    // The Stacks Blockchain API (Hiro's, or the local chain's API port); empty: none, and
    // transactions are confirmed from the node's RPC alone. On devnet without --node it defaults
    // to the embedded chain's API.
    std::string api_url;
    std::string contract_id;  // empty: <deployer>.medical-analysis on devnet; required elsewhere
    std::uint64_t fee = 0;    // micro-STX per transaction; 0 asks the node for an estimate
    std::uint64_t max_fee = 1'000'000;  // refuse estimates above this (1 STX) unless raised
    std::chrono::milliseconds confirm_timeout{std::chrono::seconds(120)};
    std::chrono::milliseconds poll_interval{std::chrono::milliseconds(250)};
};

inline constexpr const char* kDevnetUrl = "http://127.0.0.1:20443";
// The embedded local chain's Stacks Blockchain API (`/extended/...`; docs/devnet.md).
inline constexpr const char* kDevnetApiUrl = "http://127.0.0.1:3999";
// The deployer of Clarinet's devnet settings (settings/Devnet.toml), who deploys the contract.
inline constexpr const char* kDevnetDeployer = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";

// Fills the defaults in and checks what cannot be defaulted.
Result<ChainConfig> resolve(ChainConfig config);

struct Confirmed {
    std::string txid;
    stacks::TxStatus status;
    // Without the API, how the outcome is known: what the contract's state showed once the nonce
    // was consumed. Empty when the API gave the status.
    std::string evidence;
    // False when nothing could tell the outcome (status kNonceConsumed and no effect to read, or
    // the effect already held before the call).
    bool outcome_known = true;
};

// A transaction this account sent: its id and the nonce it holds.
struct Sent {
    std::string txid;
    std::uint64_t nonce = 0;
};

class ChainSession {
  public:
    // REQUIRES: config came from resolve().
    ChainSession(ChainConfig config, stacks::PrivateKey key);

    const ChainConfig& config() const { return config_; }
    std::string sender() const;
    stacks::NodeClient& node() { return node_; }

    // Signs and broadcasts. Nonces count up locally from the node's answer, so several
    // transactions can be sent before the first is mined. Refused BadNonce because another
    // session of the key used the nonce, the call is signed again once with the node's nonce;
    // refused so after a try that went unanswered (it may have been taken and mined), the call is
    // not signed again and this transaction is returned: its confirmation tells what it became.
    Result<Sent> send(stacks::Payload payload);
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
    // a Confirmed with status kAbortByResponse, not an Error: the caller decides. Without the API
    // the outcome is read from the contract's state (effect_of(), contract.h): kSuccess when it
    // shows the call's effect, kNonceConsumed when it does not (refused, or replaced by another
    // transaction of this key), with outcome_known false when no state can tell.
    Result<Confirmed> send_and_wait(stacks::Payload payload);
    // What the chain says now about a transaction this account sent. With the API, its status
    // (kUnknown: the API has not heard of it). Without one (or when the API URL serves no API):
    // kNonceConsumed once the account's confirmed nonce has passed tx.nonce, else kUnknown (not
    // mined; perhaps in a mempool: sending its bytes again is harmless).
    Result<stacks::TxStatus> status(const Sent& tx);
    // Polls status() until the transaction is mined, dropped or its nonce consumed (kTimeout
    // after the configured confirm_timeout).
    Result<stacks::TxStatus> wait(const Sent& tx);

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

// One contract call's outcome: broadcast only (`confirmed` empty, with wait = false) or followed
// to the end. `action` names it for people, e.g. "retract analysis 12".
struct CallOutcome {
    std::string action;
    std::string txid;
    std::optional<Confirmed> confirmed;
};

// Signs and sends `payload`; with `wait`, follows it to confirmation (send_and_wait). Errors
// (network, refusal at broadcast) come back with `action` in front of their message.
Result<CallOutcome> submit(ChainSession& session, const std::string& action,
                           stacks::Payload payload, bool wait);

// What a call's outcome means (README "Exit codes"): Ok when it succeeded or was only broadcast;
// kContract when the contract refused it (naming its error constant) or, without the API, its
// effect does not show in the contract's state; kUnsupported when nothing can tell how it ended;
// kRejected for any other failure.
Status outcome_status(const CallOutcome& outcome);

}  // namespace medanchor::chain
