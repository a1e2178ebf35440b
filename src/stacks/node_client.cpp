#include "stacks/node_client.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

namespace medanchor::stacks {
namespace {

using nlohmann::json;

bool transient(long status) {
    return status == 429 || status >= 500;
}

Result<json> parse_json(const std::string& what, const HttpResponse& r) {
    auto j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        return Error(ErrorCode::kNetwork, what + ": the node answered HTTP " +
                                              std::to_string(r.status) +
                                              " with a body that is not JSON");
    }
    return j;
}

Error unexpected(const std::string& what, const HttpResponse& r) {
    std::string body = r.body.substr(0, 300);
    return Error(r.status == 404 ? ErrorCode::kNotFound : ErrorCode::kNetwork,
                 what + ": HTTP " + std::to_string(r.status) + ": " + body);
}

// The JSON of a 200 answer; any other status is unexpected().
Result<json> ok_json(const std::string& what, const HttpResponse& r) {
    if (r.status != 200)
        return unexpected(what, r);
    return parse_json(what, r);
}

// A field of an untrusted JSON object, or the fallback when absent or of another type (json's
// value() would throw on a type mismatch). A float that holds a whole number counts as one.
std::uint64_t number_field(const json& j, const char* name, std::uint64_t fallback = 0) {
    if (!j.is_object() || !j.contains(name))
        return fallback;
    const json& v = j[name];
    if (v.is_number_unsigned())
        return v.get<std::uint64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (d >= 0 && d < 1.8e19 && d == static_cast<double>(static_cast<std::uint64_t>(d)))
            return static_cast<std::uint64_t>(d);
    }
    return fallback;
}

std::string string_field(const json& j, const char* name) {
    if (!j.is_object() || !j.contains(name) || !j[name].is_string())
        return {};
    return j[name].get<std::string>();
}

// Parses "0x..."-hex of a u128 (the node's balance format) or a decimal string.
Result<UInt128> parse_amount(const json& j, const std::string& what) {
    if (!j.is_string())
        return Error(ErrorCode::kNetwork, what + " is missing from the node's answer");
    const std::string s = j.get<std::string>();
    if (s.starts_with("0x")) {
        auto bytes = from_hex(s);
        if (!bytes || bytes->size() > 16)
            return Error(ErrorCode::kNetwork, what + " is not a u128: " + s);
        UInt128 v = 0;
        for (auto b : *bytes)
            v = v << 8 | b;
        return v;
    }
    auto v = parse_uint128(s);
    if (!v)
        return Error(ErrorCode::kNetwork, what + ": " + v.error().message());
    return v;
}

Result<Value> decode_hex_value(const json& j, const std::string& what) {
    if (!j.is_string())
        return Error(ErrorCode::kNetwork, what + ": no hex value in the answer");
    auto bytes = from_hex(j.get<std::string>());
    if (!bytes)
        return Error(ErrorCode::kNetwork, what + ": the value is not hex");
    auto v = deserialize(*bytes);
    if (!v)
        return Error(v.error().code(), what + ": " + v.error().message());
    return v;
}

// "ADDR.name" -> "ADDR/name", validating both halves.
Result<std::string> contract_path(const std::string& contract_id) {
    auto p = Value::parse_principal(contract_id);
    if (!p || p->kind() != ValueKind::kContractPrincipal) {
        return Error(ErrorCode::kInvalidArgument,
                     "\"" + contract_id + "\" is not a contract id (ADDRESS.contract-name)");
    }
    return p->address().to_string() + "/" + p->contract_name();
}

// A number the node gives as a JSON integer or as "0x"-hex u128 (NotEnoughFunds), in decimal.
std::string amount_text(const json& j) {
    if (j.is_number_unsigned())
        return std::to_string(j.get<std::uint64_t>());
    if (j.is_string()) {
        if (auto v = parse_amount(j, "amount"))
            return uint128_to_string(*v);
    }
    return j.dump();
}

std::string describe_rejection(const json& j) {
    std::string reason = string_field(j, "reason");
    if (reason.empty())
        reason = "unknown reason";
    std::string detail;
    if (j.contains("reason_data") && j["reason_data"].is_object()) {
        const auto& d = j["reason_data"];
        if (reason == "BadNonce" && d.contains("expected") && d.contains("actual")) {
            detail = "expected nonce " + d["expected"].dump() + ", got " + d["actual"].dump();
        } else if (reason == "NotEnoughFunds" && d.contains("expected") && d.contains("actual")) {
            detail = "needs " + amount_text(d["expected"]) + " micro-STX, has " +
                     amount_text(d["actual"]);
        } else if (reason == "FeeTooLow" && d.contains("expected") && d.contains("actual")) {
            detail = "fee " + amount_text(d["actual"]) + " below the minimum " +
                     amount_text(d["expected"]);
        } else if (reason == "TooMuchChaining" && d.contains("expected") && d.contains("actual")) {
            detail = "nonce " + d["actual"].dump() + " beyond the mempool's chaining limit " +
                     d["expected"].dump();
        } else if (d.contains("message")) {
            detail =
                d["message"].is_string() ? d["message"].get<std::string>() : d["message"].dump();
        } else {
            detail = d.dump();
        }
    }
    return reason + (detail.empty() ? "" : " (" + detail + ")");
}

// The API's own 404 for a transaction it does not know. Its error handler has answered
// {"error": "could not find transaction by ID"} and, since the move to Fastify, {"statusCode": 404,
// "error": "Not Found", "message": "could not find transaction by ID"}. Anything else at 404 is
// not an API speaking about this transaction (a stacks-node answers "No such API endpoint" text).
bool api_says_unknown_tx(const HttpResponse& r) {
    if (r.status != 404)
        return false;
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return false;
    for (const char* field : {"error", "message"}) {
        if (j.contains(field) && j[field].is_string() &&
            j[field].get<std::string>().find("could not find transaction") != std::string::npos)
            return true;
    }
    return false;
}

// An answer at an API path that shows the URL serves no Stacks Blockchain API there: a node's
// plain 404, or the API's 410 Gone for an endpoint it has retired.
std::optional<Error> not_an_api(const std::string& what, const std::string& url,
                                const HttpResponse& r) {
    if (r.status != 404 && r.status != 410)
        return std::nullopt;
    std::string body = r.body.substr(0, 120);
    std::erase_if(body, [](unsigned char c) { return c < 0x20 || c > 0x7e; });
    return Error(ErrorCode::kUnsupported,
                 what + ": " + url + " answered HTTP " + std::to_string(r.status) + " (" + body +
                     "): it does not serve the Stacks Blockchain API there (a plain Stacks node "
                     "does not; give the API's URL with --api, or none)");
}

}  // namespace

const char* to_string(TxState state) {
    switch (state) {
        case TxState::kPending:
            return "pending";
        case TxState::kSuccess:
            return "success";
        case TxState::kAbortByResponse:
            return "abort_by_response";
        case TxState::kAbortByPostCondition:
            return "abort_by_post_condition";
        case TxState::kDropped:
            return "dropped";
        case TxState::kUnknown:
            return "unknown";
        case TxState::kNonceConsumed:
            return "nonce_consumed";
    }
    return "unknown";
}

NodeClient::NodeClient(std::string base_url, RetryPolicy policy, std::string api_url)
    : base_url_(std::move(base_url)),
      api_url_(std::move(api_url)),
      policy_(policy),
      http_(policy.request_timeout) {
    for (auto* url : {&base_url_, &api_url_}) {
        while (!url->empty() && url->back() == '/')
            url->pop_back();
    }
}

Result<HttpResponse> NodeClient::api_request(const std::string& path) {
    if (api_url_.empty()) {
        return Error(ErrorCode::kUnsupported,
                     "GET " + path + ": no Stacks Blockchain API URL is configured (--api URL)");
    }
    return request(api_url_, path, nullptr, {});
}

Result<HttpResponse> NodeClient::request(const std::string& base, const std::string& path,
                                         const std::string* body, std::string_view content_type,
                                         int* tries) {
    auto backoff = policy_.first_backoff;
    for (int attempt = 1;; ++attempt) {
        if (tries != nullptr)
            *tries = attempt;
        HttpRequest req;
        req.url = base + path;
        if (body != nullptr) {
            req.method = "POST";
            req.body = *body;
            req.content_type = content_type;
        }
        req.fresh_connection = tries != nullptr;
        auto r = http_.send(req);
        const bool retry = (!r && (r.error().code() == ErrorCode::kNetwork ||
                                   r.error().code() == ErrorCode::kTimeout)) ||
                           (r && transient(r->status));
        if (!retry || attempt >= policy_.attempts) {
            if (!r) {
                return Error(r.error().code(), r.error().message() + " (after " +
                                                   std::to_string(attempt) + " attempts)");
            }
            return r;
        }
        std::this_thread::sleep_for(backoff);
        backoff = std::chrono::milliseconds(
            static_cast<long long>(static_cast<double>(backoff.count()) * policy_.backoff_factor));
    }
}

Result<NodeInfo> NodeClient::info() {
    auto r = request(base_url_, "/v2/info", nullptr, {});
    if (!r)
        return r.error();
    auto j = ok_json("GET /v2/info", *r);
    if (!j)
        return j.error();
    if (!j->is_object())
        return Error(ErrorCode::kNetwork, "GET /v2/info: the answer is not a JSON object");
    NodeInfo info;
    info.network_id = static_cast<std::uint32_t>(number_field(*j, "network_id"));
    info.stacks_tip_height = number_field(*j, "stacks_tip_height");
    info.burn_block_height = number_field(*j, "burn_block_height");
    info.server_version = string_field(*j, "server_version");
    return info;
}

Result<std::uint64_t> NodeClient::latest_block_time() {
    const std::string what = "GET /extended/v2/blocks";
    auto r = api_request("/extended/v2/blocks?limit=1");
    if (!r)
        return r.error();
    if (auto e = not_an_api(what, api_url_, *r))
        return *e;
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    const auto results = j->find("results");
    if (results == j->end() || !results->is_array() || results->empty() ||
        !(*results)[0].is_object() || !(*results)[0].contains("block_time") ||
        !(*results)[0]["block_time"].is_number_unsigned()) {
        return Error(ErrorCode::kNetwork, what + ": no block with a block_time in the answer");
    }
    return (*results)[0]["block_time"].get<std::uint64_t>();
}

Result<AccountInfo> NodeClient::account(const std::string& principal) {
    if (auto p = Value::parse_principal(principal); !p)
        return p.error();
    const std::string what = "GET /v2/accounts/" + principal;
    auto r = request(base_url_, "/v2/accounts/" + principal + "?proof=0", nullptr, {});
    if (!r)
        return r.error();
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    if (!j->is_object())
        return Error(ErrorCode::kNetwork, what + ": the answer is not a JSON object");
    auto balance = parse_amount((*j)["balance"], what + ": balance");
    if (!balance)
        return balance.error();
    if (!(*j)["nonce"].is_number_unsigned()) {
        return Error(ErrorCode::kNetwork, what + ": nonce missing from the answer");
    }
    return AccountInfo{*balance, (*j)["nonce"].get<std::uint64_t>()};
}

Result<AccountInfo> NodeClient::wait_for_nonce(const std::string& principal, std::uint64_t nonce,
                                               std::chrono::milliseconds timeout,
                                               std::chrono::milliseconds poll_interval) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto a = account(principal);
        if (!a || a->nonce > nonce)
            return a;
        if (std::chrono::steady_clock::now() + poll_interval > deadline) {
            return Error(ErrorCode::kTimeout, "nonce " + std::to_string(nonce) + " of " +
                                                  principal + " not yet mined after " +
                                                  std::to_string(timeout.count()) +
                                                  " ms (the account's confirmed nonce is " +
                                                  std::to_string(a->nonce) + ")");
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

Result<bool> NodeClient::contract_exists(const std::string& contract_id) {
    auto path = contract_path(contract_id);
    if (!path)
        return path.error();
    auto r = request(base_url_, "/v2/contracts/interface/" + *path, nullptr, {});
    if (!r)
        return r.error();
    if (r->status == 404)
        return false;
    if (r->status != 200)
        return unexpected("GET /v2/contracts/interface/" + *path, *r);
    return true;
}

Result<std::string> NodeClient::broadcast(ByteView transaction, Refusal* refusal) {
    const std::string body(transaction.begin(), transaction.end());
    int tries = 0;
    auto r = request(base_url_, "/v2/transactions", &body, "application/octet-stream", &tries);
    if (!r)
        return r.error();
    if (refusal != nullptr)
        refusal->after_unanswered_try = tries > 1;
    const std::string local_txid = to_hex(txid(transaction));
    if (r->status == 200) {
        auto j = parse_json("POST /v2/transactions", *r);
        if (!j)
            return j.error();
        std::string id = j->is_string() ? j->get<std::string>() : "";
        if (id.starts_with("0x"))
            id.erase(0, 2);
        if (id != local_txid) {
            return Error(ErrorCode::kNetwork,
                         "POST /v2/transactions: the node acknowledged txid \"" + id + "\", not " +
                             local_txid);
        }
        return id;
    }
    auto j = json::parse(r->body, nullptr, false);
    if (r->status == 400 && !j.is_discarded() && j.is_object() && j.contains("reason")) {
        if (refusal != nullptr) {
            refusal->reason = j["reason"].is_string() ? j["reason"].get<std::string>() : "";
            const json* data = j.contains("reason_data") && j["reason_data"].is_object()
                                   ? &j["reason_data"]
                                   : nullptr;
            if (refusal->reason == "BadNonce" && data && (*data).contains("expected") &&
                (*data)["expected"].is_number_unsigned())
                refusal->expected_nonce = (*data)["expected"].get<std::uint64_t>();
        }
        return Error(ErrorCode::kRejected,
                     "the node rejected transaction " + local_txid + ": " + describe_rejection(j));
    }
    if (r->status == 400) {
        if (refusal != nullptr)
            refusal->reason = "Malformed";
        // A node answers bytes it cannot even decode with a plain-text 400.
        std::string reason = r->body.substr(0, 300);
        std::erase_if(reason, [](unsigned char c) { return c < 0x20 || c > 0x7e; });
        return Error(ErrorCode::kRejected,
                     "the node rejected transaction " + local_txid +
                         " as malformed: " + (reason.empty() ? "(no reason given)" : reason));
    }
    return unexpected("POST /v2/transactions", *r);
}

Result<Value> NodeClient::call_read_only(const std::string& contract_id,
                                         const std::string& function,
                                         const std::vector<Value>& args,
                                         const std::string& sender) {
    auto path = contract_path(contract_id);
    if (!path)
        return path.error();
    if (!is_valid_clarity_name(function)) {
        return Error(ErrorCode::kInvalidArgument, "\"" + function + "\" is not a function name");
    }
    json body = {{"sender", sender}, {"arguments", json::array()}};
    for (const auto& a : args)
        body["arguments"].push_back("0x" + to_hex(serialize(a)));
    const std::string text = body.dump();
    const std::string what = "call-read " + contract_id + "::" + function;
    auto r = request(base_url_, "/v2/contracts/call-read/" + *path + "/" + function, &text,
                     "application/json");
    if (!r)
        return r.error();
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    if (!j->is_object())
        return Error(ErrorCode::kNetwork, what + ": the answer is not a JSON object");
    if (!j->contains("okay") || !(*j)["okay"].is_boolean() || !(*j)["okay"].get<bool>()) {
        const std::string cause = string_field(*j, "cause");
        return Error(ErrorCode::kContract, what + ": " + (cause.empty() ? "failed" : cause));
    }
    return decode_hex_value((*j)["result"], what);
}

Result<std::optional<Value>> NodeClient::map_entry(const std::string& contract_id,
                                                   const std::string& map, const Value& key) {
    auto path = contract_path(contract_id);
    if (!path)
        return path.error();
    const std::string body = json("0x" + to_hex(serialize(key))).dump();
    const std::string what = "map_entry " + contract_id + "::" + map;
    auto r = request(base_url_, "/v2/map_entry/" + *path + "/" + map + "?proof=0", &body,
                     "application/json");
    if (!r)
        return r.error();
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    if (!j->is_object())
        return Error(ErrorCode::kNetwork, what + ": the answer is not a JSON object");
    auto v = decode_hex_value((*j)["data"], what);
    if (!v)
        return v.error();
    if (v->kind() == ValueKind::kNone)
        return std::optional<Value>{};
    if (v->kind() != ValueKind::kSome) {
        return Error(ErrorCode::kNetwork, what + ": expected an optional, got " + v->to_string());
    }
    return std::optional<Value>{v->inner()};
}

Result<std::uint64_t> NodeClient::estimate_fee(ByteView payload, std::size_t estimated_length) {
    const std::string what = "POST /v2/fees/transaction";
    const std::string body = json{
        {"transaction_payload", "0x" + to_hex(payload)},
        {"estimated_len",
         estimated_length}}.dump();
    auto r = request(base_url_, "/v2/fees/transaction", &body, "application/json");
    if (!r)
        return r.error();
    if (r->status == 200) {
        auto j = parse_json(what, *r);
        if (!j)
            return j.error();
        // Low, middle and high by default (the node's RPCFeeEstimate::estimate_fees): take the
        // middle one of however many there are.
        const json* e =
            j->is_object() && j->contains("estimations") ? &(*j)["estimations"] : nullptr;
        if (e && e->is_array() && !e->empty()) {
            const json& mid = (*e)[e->size() / 2];
            if (mid.is_object() && mid.contains("fee") && mid["fee"].is_number_unsigned())
                return mid["fee"].get<std::uint64_t>();
        }
        return Error(ErrorCode::kNetwork, what + ": no fee in the answer's estimations");
    }
    // The node has no estimate: its 400 says NoEstimateAvailable (it has not seen this call yet)
    // or CostEstimationDisabled, or is the JSON string "Fee estimation not supported on this
    // node". Only then fall back to the per-byte transfer rate; other answers are errors.
    bool no_estimate = false;
    if (r->status == 400) {
        auto j = json::parse(r->body, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.contains("reason") && j["reason"].is_string()) {
            const auto reason = j["reason"].get<std::string>();
            no_estimate = reason == "NoEstimateAvailable" || reason == "CostEstimationDisabled";
        } else if (!j.is_discarded() && j.is_string()) {
            no_estimate = j.get<std::string>().find("not supported") != std::string::npos;
        }
    }
    if (!no_estimate)
        return unexpected(what, *r);
    auto t = request(base_url_, "/v2/fees/transfer", nullptr, {});
    if (!t)
        return t.error();
    auto rate = ok_json("GET /v2/fees/transfer", *t);
    if (!rate)
        return rate.error();
    if (!rate->is_number_unsigned())
        return Error(ErrorCode::kNetwork, "GET /v2/fees/transfer: not a number");
    const std::uint64_t per_byte = rate->get<std::uint64_t>();
    if (estimated_length != 0 &&
        per_byte > std::numeric_limits<std::uint64_t>::max() / estimated_length)
        return Error(ErrorCode::kNetwork, "GET /v2/fees/transfer: a rate of " +
                                              std::to_string(per_byte) +
                                              " micro-STX per byte overflows a fee");
    return per_byte * estimated_length;
}

Result<TxStatus> NodeClient::transaction_status(const std::string& txid) {
    std::string id = txid.starts_with("0x") ? txid.substr(2) : txid;
    if (auto b = from_hex(id); !b || b->size() != 32) {
        return Error(ErrorCode::kInvalidArgument, "\"" + txid + "\" is not a transaction id");
    }
    const std::string what = "GET /extended/v1/tx/0x" + id;
    auto r = api_request("/extended/v1/tx/0x" + id);
    if (!r)
        return r.error();
    TxStatus status;
    if (api_says_unknown_tx(*r))
        return status;  // kUnknown
    if (auto e = not_an_api(what, api_url_, *r))
        return *e;
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    if (!j->is_object())
        return Error(ErrorCode::kNetwork, what + ": the answer is not a JSON object");
    status.raw_status = string_field(*j, "tx_status");
    if (status.raw_status == "pending")
        status.state = TxState::kPending;
    else if (status.raw_status == "success")
        status.state = TxState::kSuccess;
    else if (status.raw_status == "abort_by_response")
        status.state = TxState::kAbortByResponse;
    else if (status.raw_status == "abort_by_post_condition")
        status.state = TxState::kAbortByPostCondition;
    else if (status.raw_status.starts_with("dropped_") ||
             status.raw_status == "problematic_skipped")
        status.state = TxState::kDropped;
    else
        return Error(ErrorCode::kNetwork,
                     what + ": unknown tx_status \"" + status.raw_status + "\"");
    status.block_height = number_field(*j, "block_height");
    status.block_time = number_field(*j, "block_time");
    status.replaced_by = string_field(*j, "replaced_by_tx_id");
    if (j->contains("tx_result") && (*j)["tx_result"].is_object() &&
        (*j)["tx_result"].contains("hex")) {
        auto v = decode_hex_value((*j)["tx_result"]["hex"], what + ": tx_result");
        if (!v)
            return v.error();
        status.result = std::move(*v);
    }
    return status;
}

Result<TxStatus> NodeClient::wait_for_transaction(const std::string& txid,
                                                  std::chrono::milliseconds timeout,
                                                  std::chrono::milliseconds poll_interval) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto s = transaction_status(txid);
        if (!s)
            return s;
        if (s->state != TxState::kPending && s->state != TxState::kUnknown)
            return s;
        if (std::chrono::steady_clock::now() + poll_interval > deadline) {
            return Error(ErrorCode::kTimeout, "transaction " + txid + " still " +
                                                  to_string(s->state) + " after " +
                                                  std::to_string(timeout.count()) + " ms");
        }
        std::this_thread::sleep_for(poll_interval);
    }
}

}  // namespace medanchor::stacks
