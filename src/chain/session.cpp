#include "chain/session.h"

#include <thread>

#include "chain/contract.h"

namespace medanchor::chain {

Result<NetworkName> parse_network_name(const std::string& text) {
    if (text == "devnet")
        return NetworkName::kDevnet;
    if (text == "testnet")
        return NetworkName::kTestnet;
    if (text == "mainnet")
        return NetworkName::kMainnet;
    return Error(ErrorCode::kInvalidArgument,
                 "unknown network \"" + text + "\" (devnet, testnet or mainnet)");
}

const char* to_string(NetworkName network) {
    switch (network) {
        case NetworkName::kDevnet:
            return "devnet";
        case NetworkName::kTestnet:
            return "testnet";
        case NetworkName::kMainnet:
            return "mainnet";
    }
    return "?";
}

stacks::Network stacks_network(NetworkName network) {
    return network == NetworkName::kMainnet ? stacks::Network::kMainnet : stacks::Network::kTestnet;
}

Result<ChainConfig> resolve(ChainConfig config) {
    if (config.node_url.empty()) {
        if (config.network != NetworkName::kDevnet) {
            return Error(ErrorCode::kInvalidArgument,
                         std::string("--node URL is required on ") + to_string(config.network) +
                             " (the RPC address of a Stacks node you trust)");
        }
        config.node_url = kDevnetUrl;
        // The embedded chain comes with its API; a node named with --node comes with none
        // unless --api names one.
        if (config.api_url.empty())
            config.api_url = kDevnetApiUrl;
    }
    for (const auto* url : {&config.node_url, &config.api_url}) {
        if (!url->empty() && !url->starts_with("http://") && !url->starts_with("https://")) {
            return Error(ErrorCode::kInvalidArgument,
                         "\"" + *url + "\" is not an http:// or https:// URL");
        }
    }
    if (config.contract_id.empty()) {
        if (config.network != NetworkName::kDevnet) {
            return Error(ErrorCode::kInvalidArgument,
                         std::string("--contract ADDRESS.medical-analysis is required on ") +
                             to_string(config.network));
        }
        config.contract_id = std::string(kDevnetDeployer) + "." + kContractName;
    }
    auto contract = stacks::Value::parse_principal(config.contract_id);
    if (!contract || contract->kind() != stacks::ValueKind::kContractPrincipal) {
        return Error(ErrorCode::kInvalidArgument,
                     "--contract \"" + config.contract_id + "\" is not ADDRESS.contract-name");
    }
    const bool mainnet_address = contract->address().version == stacks::kMainnetSingleSig ||
                                 contract->address().version == stacks::kMainnetMultiSig;
    if (mainnet_address != (config.network == NetworkName::kMainnet)) {
        return Error(ErrorCode::kInvalidArgument, "--contract " + config.contract_id + " is a " +
                                                      (mainnet_address ? "mainnet" : "testnet") +
                                                      " address but the network is " +
                                                      to_string(config.network));
    }
    return config;
}

ChainSession::ChainSession(ChainConfig config, stacks::PrivateKey key)
    : config_(std::move(config)),
      key_(std::move(key)),
      node_(config_.node_url, stacks::RetryPolicy{}, config_.api_url) {}

std::string ChainSession::sender() const {
    return key_.address(stacks_network(config_.network)).to_string();
}

stacks::Payload ChainSession::call(const std::string& function,
                                   std::vector<stacks::Value> args) const {
    auto contract = *stacks::Value::parse_principal(config_.contract_id);  // checked by resolve()
    return stacks::ContractCall{contract.address(), contract.contract_name(), function,
                                std::move(args)};
}

Result<std::uint64_t> ChainSession::fee_for(const stacks::Payload& payload) {
    if (config_.fee != 0)
        return config_.fee;
    auto payload_bytes = stacks::serialize_payload(payload);
    if (!payload_bytes)
        return payload_bytes.error();
    // Header, authorization and signature come to 180 bytes for a single-signature transaction.
    const std::size_t length = payload_bytes->size() + 180;
    auto fee = node_.estimate_fee(*payload_bytes, length);
    if (!fee)
        return fee.error();
    if (*fee > config_.max_fee) {
        return Error(ErrorCode::kInvalidArgument,
                     "the node estimates a fee of " + std::to_string(*fee) +
                         " micro-STX, above --max-fee " + std::to_string(config_.max_fee));
    }
    return std::max<std::uint64_t>(*fee, 1);
}

Result<Sent> ChainSession::send(stacks::Payload payload) {
    auto signed_tx = sign(payload);
    if (!signed_tx)
        return signed_tx.error();
    stacks::Refusal refusal;
    auto txid = node_.broadcast(signed_tx->raw, &refusal);
    if (!txid && refusal.reason == "BadNonce" && refusal.expected_nonce &&
        *refusal.expected_nonce > signed_tx->nonce && refusal.after_unanswered_try) {
        // An earlier try went unanswered and the nonce is gone now: that try may have been taken
        // and mined (a node behind the same address that never saw it answers BadNonce). Signing
        // the call again could carry it out twice; the confirmation tells what became of this one.
        next_nonce_.reset();
        return Sent{signed_tx->txid, signed_tx->nonce};
    }
    if (!txid && refusal.reason == "BadNonce" && refusal.expected_nonce &&
        *refusal.expected_nonce > signed_tx->nonce) {
        // Another session or process of this key used the nonce we remembered. The refused
        // transaction is in no mempool (the node answered the only try that reached it), so
        // signing the same call again with the node's nonce sends it once; a nonce of ours the
        // node finds too high (a gap) is not guessed at.
        next_nonce_ = *refusal.expected_nonce;
        signed_tx = sign(std::move(payload), *refusal.expected_nonce);
        if (!signed_tx)
            return signed_tx.error();
        txid = node_.broadcast(signed_tx->raw);
    }
    if (!txid) {
        // The node's view of the nonce wins next time (someone else may have used the key).
        next_nonce_.reset();
        return txid.error();
    }
    return Sent{*txid, signed_tx->nonce};
}

Result<ChainSession::Signed> ChainSession::sign(stacks::Payload payload, std::uint64_t min_nonce) {
    if (!next_nonce_) {
        auto account = node_.account(sender());
        if (!account)
            return account.error();
        next_nonce_ = account->nonce;
    }
    next_nonce_ = std::max(*next_nonce_, min_nonce);
    auto fee = fee_for(payload);
    if (!fee)
        return fee.error();
    auto tx = stacks::make_transaction(stacks_network(config_.network), key_, *next_nonce_, *fee,
                                       std::move(payload));
    stacks::sign(tx, key_);
    auto bytes = stacks::serialize(tx);
    if (!bytes)
        return bytes.error();
    Signed s{stacks::to_hex(stacks::txid(*bytes)), std::move(*bytes), *next_nonce_, *fee};
    ++*next_nonce_;
    return s;
}

Result<stacks::TxStatus> ChainSession::status(const Sent& tx) {
    if (node_.has_api()) {
        auto s = node_.transaction_status(tx.txid);
        // An API URL that serves no API (a plain node's 404, a retired endpoint's 410) counts
        // as none: the node's RPC can still tell.
        if (s || s.error().code() != ErrorCode::kUnsupported)
            return s;
    }
    auto account = node_.account(sender());
    if (!account)
        return account.error();
    stacks::TxStatus s;
    if (account->nonce > tx.nonce) {
        s.state = stacks::TxState::kNonceConsumed;
        s.raw_status = "nonce " + std::to_string(tx.nonce) + " consumed";
    }
    return s;
}

Result<stacks::TxStatus> ChainSession::wait(const Sent& tx) {
    const auto deadline = std::chrono::steady_clock::now() + config_.confirm_timeout;
    for (;;) {
        auto s = status(tx);
        if (!s)
            return s;
        if (s->state != stacks::TxState::kPending && s->state != stacks::TxState::kUnknown)
            return s;
        if (std::chrono::steady_clock::now() + config_.poll_interval > deadline) {
            return Error(ErrorCode::kTimeout,
                         "transaction " + tx.txid + " (nonce " + std::to_string(tx.nonce) +
                             ") not mined after " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                config_.confirm_timeout)
                                                .count()) +
                             " s");
        }
        std::this_thread::sleep_for(config_.poll_interval);
    }
}

namespace {

// Whether the contract's state now shows `effect`; for a deploy, whether the contract exists.
Result<bool> effect_shows(ChainSession& session, const stacks::Payload& payload,
                          const std::optional<Effect>& effect) {
    if (const auto* deploy = std::get_if<stacks::ContractDeploy>(&payload))
        return session.node().contract_exists(session.sender() + "." + deploy->contract_name);
    if (!effect)
        return false;
    return effect->shows(
        [&session](const std::string& function, const std::vector<stacks::Value>& args) {
            return session.read(function, args);
        });
}

}  // namespace

Result<Confirmed> ChainSession::send_and_wait(stacks::Payload payload) {
    // Without the API, the outcome will be read from the contract's state; that only tells when
    // the state did not already show the effect before the call.
    std::optional<Effect> effect;
    if (const auto* call = std::get_if<stacks::ContractCall>(&payload);
        call &&
        call->contract_address.to_string() + "." + call->contract_name == config_.contract_id)
        effect = effect_of(call->function_name, call->args, sender());
    const bool by_state = !node_.has_api();
    bool before = false;
    if (by_state) {
        auto shows = effect_shows(*this, payload, effect);
        if (!shows)
            return shows.error();
        before = *shows;
    }
    const stacks::Payload sent_payload = payload;
    auto sent = send(std::move(payload));
    if (!sent)
        return sent.error();
    auto status = wait(*sent);
    if (!status)
        return status.error();
    Confirmed c{sent->txid, *status, "", true};
    if (status->state != stacks::TxState::kNonceConsumed)
        return c;
    // Mined, or its nonce taken by another transaction of this key: the contract's state tells.
    const bool deploy = std::holds_alternative<stacks::ContractDeploy>(sent_payload);
    const std::string what = deploy ? "the contract exists" : effect ? effect->description : "";
    if (!deploy && !effect) {
        c.outcome_known = false;
        c.evidence = "no contract state shows this call's effect";
        return c;
    }
    if (before) {
        c.outcome_known = false;
        c.evidence = "the contract showed that " + what + " before this call already";
        return c;
    }
    auto shows = effect_shows(*this, sent_payload, effect);
    if (!shows)
        return shows.error();
    if (*shows) {
        c.status.state = stacks::TxState::kSuccess;
        c.evidence = what;
    } else {
        c.evidence = "the contract does not show that " + what;
    }
    return c;
}

Result<stacks::Value> ChainSession::read(const std::string& function,
                                         const std::vector<stacks::Value>& args) {
    return node_.call_read_only(config_.contract_id, function, args, sender());
}

Result<CallOutcome> submit(ChainSession& session, const std::string& action,
                           stacks::Payload payload, bool wait) {
    const auto failed = [&](const Error& e) {
        return Error(e.code(), action + ": " + e.message());
    };
    if (!wait) {
        auto sent = session.send(std::move(payload));
        if (!sent)
            return failed(sent.error());
        return CallOutcome{action, sent->txid, std::nullopt};
    }
    auto confirmed = session.send_and_wait(std::move(payload));
    if (!confirmed)
        return failed(confirmed.error());
    return CallOutcome{action, confirmed->txid, *confirmed};
}

Status outcome_status(const CallOutcome& outcome) {
    if (!outcome.confirmed)
        return Status::Ok();
    const Confirmed& c = *outcome.confirmed;
    const auto& s = c.status;
    const std::string& what = outcome.action;
    if (s.state == stacks::TxState::kSuccess)
        return Status::Ok();
    if (s.state == stacks::TxState::kAbortByResponse) {
        const std::string result = s.result ? describe_result(*s.result) : "";
        return Error(ErrorCode::kContract, what + " was refused by the contract: " + result);
    }
    if (s.state == stacks::TxState::kNonceConsumed) {
        if (!c.outcome_known) {
            return Error(ErrorCode::kUnsupported,
                         what + ": transaction " + c.txid +
                             " was mined or replaced, and without a Stacks Blockchain API nothing "
                             "tells which or how it ended (" +
                             c.evidence + "); give --api URL to know");
        }
        return Error(ErrorCode::kContract,
                     what + " did not take effect: " + c.evidence +
                         " (the contract refused it, or another transaction of this key took its "
                         "nonce; give --api URL to read the contract's error)");
    }
    return Error(ErrorCode::kRejected, what + " did not succeed: " + s.raw_status);
}

}  // namespace medanchor::chain
