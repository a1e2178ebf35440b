// Stacks transactions (SIP-005): building, signing, serializing and decoding the kinds medanchor
// sends — contract-call and versioned contract-deploy — from a standard single-signature account.
// The bytes equal those @stacks/transactions produces for the same inputs; tests/stacks checks
// that against vectors the library generated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "stacks/bytes.h"
#include "stacks/c32.h"
#include "stacks/clarity_value.h"
#include "stacks/hash.h"
#include "stacks/keys.h"

namespace medanchor::stacks {

inline constexpr std::uint32_t kMainnetChainId = 0x00000001;
inline constexpr std::uint32_t kTestnetChainId = 0x80000000;

enum class PostConditionMode : std::uint8_t { kAllow = 0x01, kDeny = 0x02 };
enum class AnchorMode : std::uint8_t { kOnChainOnly = 0x01, kOffChainOnly = 0x02, kAny = 0x03 };

struct ContractCall {
    Address contract_address;
    std::string contract_name;
    std::string function_name;
    std::vector<Value> args;
};

// A versioned smart contract (payload 0x06): the Clarity version is part of the transaction.
struct ContractDeploy {
    std::string contract_name;
    std::string source;
    std::uint8_t clarity_version = 4;
};

using Payload = std::variant<ContractCall, ContractDeploy>;

struct Transaction {
    Network network = Network::kTestnet;
    std::uint32_t chain_id = kTestnetChainId;
    // Standard authorization, single-signature P2PKH spending condition.
    Hash20 signer{};
    std::uint64_t nonce = 0;
    std::uint64_t fee = 0;  // micro-STX
    RecoverableSignature signature{};
    AnchorMode anchor_mode = AnchorMode::kAny;
    PostConditionMode post_condition_mode = PostConditionMode::kDeny;
    Payload payload;
};

// A transaction for `key`'s account on `network` (chain id and version follow the network).
Transaction make_transaction(Network network, const PrivateKey& key, std::uint64_t nonce,
                             std::uint64_t fee, Payload payload);

// Fills in `tx.signature`: the sighash procedure of SIP-005 (initial sighash over the transaction
// with a cleared spending condition, then the presign sighash over it, auth type, fee and nonce).
// REQUIRES: key's public key hashes to tx.signer.
void sign(Transaction& tx, const PrivateKey& key);
// Recovers the signer from the signature and compares it with tx.signer.
Status verify_signature(const Transaction& tx);

Result<Bytes> serialize(const Transaction& tx);
// The payload alone, as fee estimation (/v2/fees/transaction) wants it.
Result<Bytes> serialize_payload(const Payload& payload);
Hash32 txid(ByteView serialized);
// Decodes a serialized transaction; kUnsupported for authorizations, post-conditions or payloads
// outside what make_transaction builds, kCorrupt for malformed bytes.
Result<Transaction> deserialize_transaction(ByteView data);

// The presign sighash that `sign` signs (exposed for tests and diagnostics).
Result<Hash32> presign_sighash(const Transaction& tx);

}  // namespace medanchor::stacks
