#include "app/chain.h"

#include "app/contract.h"

namespace medanchor::app {

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
    : config_(std::move(config)), key_(std::move(key)), node_(config_.node_url) {}

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

Result<std::string> ChainSession::send(stacks::Payload payload) {
    auto signed_tx = sign(std::move(payload));
    if (!signed_tx)
        return signed_tx.error();
    auto txid = node_.broadcast(signed_tx->raw);
    if (!txid) {
        // The node's view of the nonce wins next time (someone else may have used the key).
        next_nonce_.reset();
        return txid.error();
    }
    return txid;
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

Result<stacks::TxStatus> ChainSession::wait(const std::string& txid) {
    return node_.wait_for_transaction(txid, config_.confirm_timeout, config_.poll_interval);
}

Result<Confirmed> ChainSession::send_and_wait(stacks::Payload payload) {
    auto txid = send(std::move(payload));
    if (!txid)
        return txid.error();
    auto status = wait(*txid);
    if (!status)
        return status.error();
    return Confirmed{*txid, *status};
}

Result<stacks::Value> ChainSession::read(const std::string& function,
                                         const std::vector<stacks::Value>& args) {
    return node_.call_read_only(config_.contract_id, function, args, sender());
}

}  // namespace medanchor::app
