// Client for a Stacks node's RPC API (and the transaction-status subset of the Stacks Blockchain
// API), as served by stacks-node and by medanchor's local chain (devnet/). Transient failures
// (no connection, 429, 5xx) are retried with exponential backoff; refusals (4xx) are not, and a
// rejected transaction's reason is surfaced in words.
// Thread safety: a NodeClient is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/http.h"
#include "stacks/clarity_value.h"
#include "stacks/transaction.h"

namespace medanchor::stacks {

struct RetryPolicy {
    int attempts = 4;  // total tries for a transient failure
    std::chrono::milliseconds first_backoff{200};
    double backoff_factor = 2.0;
    std::chrono::milliseconds request_timeout{15000};
};

struct NodeInfo {
    std::uint32_t network_id = 0;
    std::uint64_t stacks_tip_height = 0;
    std::uint64_t burn_block_height = 0;
    std::string server_version;
};

struct AccountInfo {
    UInt128 balance = 0;  // micro-STX
    std::uint64_t nonce = 0;
};

enum class TxState {
    kPending,
    kSuccess,
    kAbortByResponse,
    kAbortByPostCondition,
    kDropped,
    kUnknown
};

struct TxStatus {
    TxState state = TxState::kUnknown;
    std::optional<Value> result;  // the contract call's response, once mined
    std::uint64_t block_height = 0;
    std::uint64_t block_time = 0;  // Unix seconds of the block that mined it (stacks-block-time)
    std::string raw_status;        // the API's word for it, e.g. "dropped_stale_garbage_collect"
};

const char* to_string(TxState state);

class NodeClient {
  public:
    explicit NodeClient(std::string base_url, RetryPolicy policy = {});

    const std::string& base_url() const { return base_url_; }

    Result<NodeInfo> info();
    // The chain's clock: stacks-block-time (Unix seconds) of the newest block, from the Stacks
    // API's GET /extended/v2/blocks?limit=1 (served by the API alongside a node, and by the local
    // chain). kNotFound (HTTP 404) when the node serves no such list.
    Result<std::uint64_t> latest_block_time();
    Result<AccountInfo> account(const std::string& principal);
    // Returns the txid (64 hex digits). kRejected with the node's reason when refused.
    Result<std::string> broadcast(ByteView transaction);
    Result<Value> call_read_only(const std::string& contract_id, const std::string& function,
                                 const std::vector<Value>& args, const std::string& sender);
    // The map value, or nullopt when the key is absent.
    Result<std::optional<Value>> map_entry(const std::string& contract_id, const std::string& map,
                                           const Value& key);
    // micro-STX for a transaction with this payload and length: the node's middle estimate, or
    // the transfer fee rate times the length when the node has no estimate yet.
    Result<std::uint64_t> estimate_fee(ByteView payload, std::size_t estimated_length);
    // kUnknown when the node has never heard of it.
    Result<TxStatus> transaction_status(const std::string& txid);
    // Polls until the transaction leaves the mempool or `timeout` passes (kTimeout).
    Result<TxStatus> wait_for_transaction(const std::string& txid,
                                          std::chrono::milliseconds timeout,
                                          std::chrono::milliseconds poll_interval);

  private:
    Result<HttpResponse> request(const std::string& path, const std::string* body,
                                 std::string_view content_type);

    std::string base_url_;
    RetryPolicy policy_;
    HttpClient http_;
};

}  // namespace medanchor::stacks
