#include "stacks/node_client.h"

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

std::string describe_rejection(const json& j) {
    std::string reason = j.value("reason", std::string("unknown reason"));
    std::string detail;
    if (j.contains("reason_data") && j["reason_data"].is_object()) {
        const auto& d = j["reason_data"];
        if (reason == "BadNonce" && d.contains("expected") && d.contains("actual")) {
            detail = "expected nonce " + d["expected"].dump() + ", got " + d["actual"].dump();
        } else if (reason == "NotEnoughFunds" && d.contains("expected") && d.contains("actual")) {
            detail = "needs " + d["expected"].dump() + " micro-STX, has " + d["actual"].dump();
        } else if (reason == "FeeTooLow" && d.contains("expected") && d.contains("actual")) {
            detail = "fee " + d["actual"].dump() + " below the minimum " + d["expected"].dump();
        } else if (d.contains("message")) {
            detail =
                d["message"].is_string() ? d["message"].get<std::string>() : d["message"].dump();
        } else {
            detail = d.dump();
        }
    }
    return reason + (detail.empty() ? "" : " (" + detail + ")");
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
    }
    return "unknown";
}

NodeClient::NodeClient(std::string base_url, RetryPolicy policy)
    : base_url_(std::move(base_url)), policy_(policy), http_(policy.request_timeout) {
    while (!base_url_.empty() && base_url_.back() == '/')
        base_url_.pop_back();
}

Result<HttpResponse> NodeClient::request(const std::string& path, const std::string* body,
                                         std::string_view content_type) {
    auto backoff = policy_.first_backoff;
    for (int attempt = 1;; ++attempt) {
        auto r =
            body ? http_.post(base_url_ + path, *body, content_type) : http_.get(base_url_ + path);
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
    auto r = request("/v2/info", nullptr, {});
    if (!r)
        return r.error();
    auto j = ok_json("GET /v2/info", *r);
    if (!j)
        return j.error();
    NodeInfo info;
    info.network_id = j->value("network_id", 0u);
    info.stacks_tip_height = j->value("stacks_tip_height", std::uint64_t{0});
    info.burn_block_height = j->value("burn_block_height", std::uint64_t{0});
    info.server_version = j->value("server_version", std::string());
    return info;
}

Result<std::uint64_t> NodeClient::latest_block_time() {
    const std::string what = "GET /extended/v2/blocks";
    auto r = request("/extended/v2/blocks?limit=1", nullptr, {});
    if (!r)
        return r.error();
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
    auto r = request("/v2/accounts/" + principal + "?proof=0", nullptr, {});
    if (!r)
        return r.error();
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    auto balance = parse_amount((*j)["balance"], what + ": balance");
    if (!balance)
        return balance.error();
    if (!(*j)["nonce"].is_number_unsigned()) {
        return Error(ErrorCode::kNetwork, what + ": nonce missing from the answer");
    }
    return AccountInfo{*balance, (*j)["nonce"].get<std::uint64_t>()};
}

Result<std::string> NodeClient::broadcast(ByteView transaction) {
    const std::string body(transaction.begin(), transaction.end());
    auto r = request("/v2/transactions", &body, "application/octet-stream");
    if (!r)
        return r.error();
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
        return Error(ErrorCode::kRejected,
                     "the node rejected transaction " + local_txid + ": " + describe_rejection(j));
    }
    if (r->status == 400) {
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
    auto r =
        request("/v2/contracts/call-read/" + *path + "/" + function, &text, "application/json");
    if (!r)
        return r.error();
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    if (!j->value("okay", false)) {
        return Error(ErrorCode::kContract, what + ": " + j->value("cause", std::string("failed")));
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
    auto r = request("/v2/map_entry/" + *path + "/" + map + "?proof=0", &body, "application/json");
    if (!r)
        return r.error();
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
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
    const std::string body = json{
        {"transaction_payload", "0x" + to_hex(payload)},
        {"estimated_len",
         estimated_length}}.dump();
    auto r = request("/v2/fees/transaction", &body, "application/json");
    if (!r)
        return r.error();
    if (r->status == 200) {
        auto j = parse_json("POST /v2/fees/transaction", *r);
        if (!j)
            return j.error();
        const auto& e = (*j)["estimations"];
        if (e.is_array() && e.size() == 3 && e[1].contains("fee") &&
            e[1]["fee"].is_number_unsigned()) {
            return e[1]["fee"].get<std::uint64_t>();
        }
        return Error(ErrorCode::kNetwork,
                     "POST /v2/fees/transaction: no estimations in the answer");
    }
    // No estimate yet (a fresh chain): fall back to the per-byte transfer rate.
    auto t = request("/v2/fees/transfer", nullptr, {});
    if (!t)
        return t.error();
    auto rate = ok_json("GET /v2/fees/transfer", *t);
    if (!rate)
        return rate.error();
    if (!rate->is_number_unsigned())
        return Error(ErrorCode::kNetwork, "GET /v2/fees/transfer: not a number");
    return rate->get<std::uint64_t>() * estimated_length;
}

Result<TxStatus> NodeClient::transaction_status(const std::string& txid) {
    std::string id = txid.starts_with("0x") ? txid.substr(2) : txid;
    if (auto b = from_hex(id); !b || b->size() != 32) {
        return Error(ErrorCode::kInvalidArgument, "\"" + txid + "\" is not a transaction id");
    }
    const std::string what = "GET /extended/v1/tx/0x" + id;
    auto r = request("/extended/v1/tx/0x" + id, nullptr, {});
    if (!r)
        return r.error();
    TxStatus status;
    if (r->status == 404)
        return status;  // kUnknown
    auto j = ok_json(what, *r);
    if (!j)
        return j.error();
    status.raw_status = j->value("tx_status", std::string());
    if (status.raw_status == "pending")
        status.state = TxState::kPending;
    else if (status.raw_status == "success")
        status.state = TxState::kSuccess;
    else if (status.raw_status == "abort_by_response")
        status.state = TxState::kAbortByResponse;
    else if (status.raw_status == "abort_by_post_condition")
        status.state = TxState::kAbortByPostCondition;
    else if (status.raw_status.starts_with("dropped"))
        status.state = TxState::kDropped;
    else
        return Error(ErrorCode::kNetwork,
                     what + ": unknown tx_status \"" + status.raw_status + "\"");
    status.block_height = j->value("block_height", std::uint64_t{0});
    status.block_time = j->value("block_time", std::uint64_t{0});
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
