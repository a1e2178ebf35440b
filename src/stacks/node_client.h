// Client for a Stacks node's RPC API (`/v2/...`), and optionally for the transaction-status and
// block-list subset of the Stacks Blockchain API (`/extended/...`), which a plain stacks-node does
// not serve: that is a separate service with its own URL (Hiro's API, or the local chain's API
// port). Everything medanchor needs works from the node RPC alone (docs/stacks-client.md,
// "Confirmation"); the API only makes confirmation faster and names dropped transactions.
// Transient failures (no connection, 429, 5xx) are retried with exponential backoff; refusals
// (4xx) are not, and a rejected transaction's reason is surfaced in words.
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
    kUnknown,
    // Without the API: the sender's nonce went past the transaction's, so it was mined or can
    // never be (another transaction took its nonce); only the contract's state can say which.
    kNonceConsumed,
};

struct TxStatus {
    TxState state = TxState::kUnknown;
    std::optional<Value> result;  // the contract call's response, once mined
    std::uint64_t block_height = 0;
    std::uint64_t block_time = 0;  // Unix seconds of the block that mined it (stacks-block-time)
    std::string raw_status;        // the API's word for it, e.g. "dropped_stale_garbage_collect"
    std::string replaced_by;  // dropped_replace_by_fee: the API's replaced_by_tx_id, when given
};

// Why a node refused a transaction, as its JSON rejection says (MemPoolRejection::into_json).
struct Refusal {
    std::string reason;  // e.g. "BadNonce", "NotEnoughFunds", "FeeTooLow", "TooMuchChaining"
    std::optional<std::uint64_t> expected_nonce;  // BadNonce: the nonce the node wanted
    // The refusal answered a second or later try of the POST: an earlier one got no usable answer
    // (timeout, lost connection, 429, 5xx), so the node, or another behind the same address, may
    // have taken the transaction then. A nonce refusal after that does not mean "never accepted".
    bool after_unanswered_try = false;
};

const char* to_string(TxState state);

class NodeClient {
  public:
    // `base_url`: the node's RPC (e.g. http://127.0.0.1:20443). `api_url`: the Stacks Blockchain
    // API, or empty when there is none.
    explicit NodeClient(std::string base_url, RetryPolicy policy = {}, std::string api_url = {});

    const std::string& base_url() const { return base_url_; }
    const std::string& api_url() const { return api_url_; }
    bool has_api() const { return !api_url_.empty(); }

    Result<NodeInfo> info();
    // The chain's clock: stacks-block-time (Unix seconds) of the newest block, from the API's
    // GET /extended/v2/blocks?limit=1. kUnsupported without an API URL, or when that URL does not
    // serve the API (e.g. it is a plain node: every /extended path is a 404 there).
    Result<std::uint64_t> latest_block_time();
    Result<AccountInfo> account(const std::string& principal);
    // Polls the account until its confirmed nonce is past `nonce`, i.e. a transaction with that
    // nonce was mined or can never be; kTimeout when `timeout` passes first.
    Result<AccountInfo> wait_for_nonce(const std::string& principal, std::uint64_t nonce,
                                       std::chrono::milliseconds timeout,
                                       std::chrono::milliseconds poll_interval);
    // Returns the txid (64 hex digits); a transaction already in the node's mempool is answered
    // the same way, so sending the same bytes twice is harmless. kRejected with the node's reason
    // when refused; `refusal`, when given, receives the reason's machine-readable form.
    Result<std::string> broadcast(ByteView transaction, Refusal* refusal = nullptr);
    // Whether the contract exists (GET /v2/contracts/interface/...: 200 or 404).
    Result<bool> contract_exists(const std::string& contract_id);
    Result<Value> call_read_only(const std::string& contract_id, const std::string& function,
                                 const std::vector<Value>& args, const std::string& sender);
    // The map value, or nullopt when the key is absent.
    Result<std::optional<Value>> map_entry(const std::string& contract_id, const std::string& map,
                                           const Value& key);
    // micro-STX for a transaction with this payload and length (POST /v2/fees/transaction): the
    // node's middle estimate. When the node has no estimate (its 400 NoEstimateAvailable, or
    // estimation disabled), the per-byte transfer rate (GET /v2/fees/transfer) times the length.
    Result<std::uint64_t> estimate_fee(ByteView payload, std::size_t estimated_length);
    // From the API's GET /extended/v1/tx/0x{txid}: kUnknown when the API has never heard of it.
    // kUnsupported when there is no API URL, or when it does not serve the API (a node's text
    // 404 for every /extended path, or the API's 410 for a retired endpoint).
    Result<TxStatus> transaction_status(const std::string& txid);
    // Polls transaction_status() until the transaction leaves the mempool or `timeout` passes
    // (kTimeout).
    Result<TxStatus> wait_for_transaction(const std::string& txid,
                                          std::chrono::milliseconds timeout,
                                          std::chrono::milliseconds poll_interval);

  private:
    // `tries`, when given, receives how many times the request was sent, and each try goes on a
    // fresh connection (libcurl would otherwise send it again by itself on a dropped kept-alive
    // one, unknown to the count).
    Result<HttpResponse> request(const std::string& base, const std::string& path,
                                 const std::string* body, std::string_view content_type,
                                 int* tries = nullptr);
    Result<HttpResponse> api_request(const std::string& path);

    std::string base_url_;
    std::string api_url_;
    RetryPolicy policy_;
    HttpClient http_;
};

}  // namespace medanchor::stacks
