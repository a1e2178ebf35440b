#include "stacks/transaction.h"

namespace medanchor::stacks {
namespace {

constexpr std::uint8_t kAuthStandard = 0x04;
constexpr std::uint8_t kHashModeP2pkh = 0x00;
constexpr std::uint8_t kKeyCompressed = 0x00;
constexpr std::uint8_t kPayloadContractCall = 0x02;
constexpr std::uint8_t kPayloadVersionedContract = 0x06;
// Bounds the node enforces on names and code; checked before encoding so that a bad name is an
// error here rather than a rejection later.
constexpr std::size_t kMaxContractNameLength = 40;
constexpr std::size_t kMaxCodeLength = 1024 * 1024 * 2;

std::uint8_t version_byte(Network network) {
    return network == Network::kMainnet ? 0x00 : 0x80;
}

Status put_name(Bytes& out, const std::string& name, std::size_t max, const char* what) {
    if (name.empty() || name.size() > max) {
        return Error(ErrorCode::kInvalidArgument, std::string(what) + " \"" + name +
                                                      "\" must be 1 to " + std::to_string(max) +
                                                      " characters");
    }
    put_u8(out, static_cast<std::uint8_t>(name.size()));
    put_string(out, name);
    return Status::Ok();
}

Status encode_payload(Bytes& out, const Payload& payload) {
    if (const auto* call = std::get_if<ContractCall>(&payload)) {
        put_u8(out, kPayloadContractCall);
        put_u8(out, call->contract_address.version);
        put_bytes(out, call->contract_address.hash);
        if (!is_valid_contract_name(call->contract_name)) {
            return Error(ErrorCode::kInvalidArgument,
                         "\"" + call->contract_name + "\" is not a valid contract name");
        }
        if (auto s = put_name(out, call->contract_name, kMaxNameLength, "contract name"); !s) {
            return s;
        }
        if (!is_valid_clarity_name(call->function_name)) {
            return Error(ErrorCode::kInvalidArgument,
                         "\"" + call->function_name + "\" is not a valid Clarity function name");
        }
        if (auto s = put_name(out, call->function_name, kMaxNameLength, "function name"); !s) {
            return s;
        }
        put_u32(out, static_cast<std::uint32_t>(call->args.size()));
        for (const auto& arg : call->args) {
            serialize_into(out, arg);
        }
    } else {
        const auto& deploy = std::get<ContractDeploy>(payload);
        put_u8(out, kPayloadVersionedContract);
        put_u8(out, deploy.clarity_version);
        if (!is_valid_contract_name(deploy.contract_name)) {
            return Error(ErrorCode::kInvalidArgument,
                         "\"" + deploy.contract_name + "\" is not a valid contract name");
        }
        if (auto s = put_name(out, deploy.contract_name, kMaxContractNameLength, "contract name");
            !s) {
            return s;
        }
        if (deploy.source.size() > kMaxCodeLength) {
            return Error(ErrorCode::kTooLarge,
                         "contract source over " + std::to_string(kMaxCodeLength) + " bytes");
        }
        put_u32(out, static_cast<std::uint32_t>(deploy.source.size()));
        put_string(out, deploy.source);
    }
    return Status::Ok();
}

// `cleared` writes the spending condition as the initial sighash sees it: nonce, fee and
// signature zeroed.
Result<Bytes> encode(const Transaction& tx, bool cleared) {
    Bytes out;
    put_u8(out, version_byte(tx.network));
    put_u32(out, tx.chain_id);
    put_u8(out, kAuthStandard);
    put_u8(out, kHashModeP2pkh);
    put_bytes(out, tx.signer);
    put_u64(out, cleared ? 0 : tx.nonce);
    put_u64(out, cleared ? 0 : tx.fee);
    put_u8(out, kKeyCompressed);
    if (cleared) {
        out.insert(out.end(), tx.signature.size(), 0);
    } else {
        put_bytes(out, tx.signature);
    }
    put_u8(out, static_cast<std::uint8_t>(tx.anchor_mode));
    put_u8(out, static_cast<std::uint8_t>(tx.post_condition_mode));
    put_u32(out, 0);  // no post-conditions
    if (auto s = encode_payload(out, tx.payload); !s)
        return s.error();
    return out;
}

Hash32 presign(const Hash32& initial, const Transaction& tx) {
    Bytes buf(initial.begin(), initial.end());
    put_u8(buf, kAuthStandard);
    put_u64(buf, tx.fee);
    put_u64(buf, tx.nonce);
    return sha512_256(buf);
}

}  // namespace

Transaction make_transaction(Network network, const PrivateKey& key, std::uint64_t nonce,
                             std::uint64_t fee, Payload payload) {
    Transaction tx;
    tx.network = network;
    tx.chain_id = network == Network::kMainnet ? kMainnetChainId : kTestnetChainId;
    tx.signer = hash160(key.public_key());
    tx.nonce = nonce;
    tx.fee = fee;
    tx.payload = std::move(payload);
    return tx;
}

Result<Hash32> presign_sighash(const Transaction& tx) {
    auto cleared = encode(tx, /*cleared=*/true);
    if (!cleared)
        return cleared.error();
    return presign(txid(*cleared), tx);
}

void sign(Transaction& tx, const PrivateKey& key) {
    auto digest = presign_sighash(tx);
    // encode() fails only on invalid names, which serialize() reports to the caller as well.
    if (digest) {
        tx.signature = key.sign(*digest);
    }
}

Status verify_signature(const Transaction& tx) {
    auto digest = presign_sighash(tx);
    if (!digest)
        return digest.error();
    auto key = recover_public_key(*digest, tx.signature);
    if (!key)
        return Error(ErrorCode::kCorrupt, "transaction signature: " + key.error().message());
    if (hash160(*key) != tx.signer) {
        return Error(ErrorCode::kCorrupt, "transaction signature was not made by its signer");
    }
    return Status::Ok();
}

Result<Bytes> serialize(const Transaction& tx) {
    return encode(tx, /*cleared=*/false);
}

Result<Bytes> serialize_payload(const Payload& payload) {
    Bytes out;
    if (auto s = encode_payload(out, payload); !s)
        return s.error();
    return out;
}

Hash32 txid(ByteView serialized) {
    return sha512_256(serialized);
}

Result<Transaction> deserialize_transaction(ByteView data) {
    ByteReader r(data);
    Transaction tx;
    const auto unsupported = [&](const std::string& what) {
        return Error(ErrorCode::kUnsupported, "transaction byte " + std::to_string(r.offset()) +
                                                  ": " + what + " is not supported");
    };
    const auto corrupt = [&](const std::string& what) {
        return Error(ErrorCode::kCorrupt,
                     "transaction byte " + std::to_string(r.offset()) + ": " + what);
    };
#define MA_READ(var, expr) \
    auto var = (expr);     \
    if (!var)              \
        return var.error();

    MA_READ(version, r.u8("version"));
    if (*version != 0x00 && *version != 0x80)
        return corrupt("unknown version byte");
    tx.network = *version == 0x00 ? Network::kMainnet : Network::kTestnet;
    MA_READ(chain, r.u32("chain id"));
    tx.chain_id = *chain;
    MA_READ(auth, r.u8("authorization type"));
    if (*auth != kAuthStandard)
        return unsupported("sponsored or unknown authorization");
    MA_READ(mode, r.u8("hash mode"));
    if (*mode != kHashModeP2pkh)
        return unsupported("a multi-signature or segwit spending condition");
    MA_READ(signer, r.bytes(20, "signer"));
    std::copy(signer->begin(), signer->end(), tx.signer.begin());
    MA_READ(nonce, r.u64("nonce"));
    tx.nonce = *nonce;
    MA_READ(fee, r.u64("fee"));
    tx.fee = *fee;
    MA_READ(key_encoding, r.u8("key encoding"));
    if (*key_encoding != kKeyCompressed)
        return unsupported("an uncompressed public key");
    MA_READ(sig, r.bytes(65, "signature"));
    std::copy(sig->begin(), sig->end(), tx.signature.begin());
    MA_READ(anchor, r.u8("anchor mode"));
    if (*anchor < 1 || *anchor > 3)
        return corrupt("unknown anchor mode");
    tx.anchor_mode = static_cast<AnchorMode>(*anchor);
    MA_READ(pc_mode, r.u8("post-condition mode"));
    if (*pc_mode != 1 && *pc_mode != 2)
        return corrupt("unknown post-condition mode");
    tx.post_condition_mode = static_cast<PostConditionMode>(*pc_mode);
    MA_READ(pc_count, r.u32("post-condition count"));
    if (*pc_count != 0)
        return unsupported("a transaction with post-conditions");
    MA_READ(payload_type, r.u8("payload type"));
    if (*payload_type == kPayloadContractCall) {
        ContractCall call;
        MA_READ(addr_version, r.u8("contract address version"));
        MA_READ(addr_hash, r.bytes(20, "contract address"));
        call.contract_address.version = *addr_version;
        std::copy(addr_hash->begin(), addr_hash->end(), call.contract_address.hash.begin());
        MA_READ(name_len, r.u8("contract name length"));
        MA_READ(name, r.bytes(*name_len, "contract name"));
        call.contract_name.assign(name->begin(), name->end());
        if (!is_valid_contract_name(call.contract_name))
            return corrupt("invalid contract name");
        MA_READ(fn_len, r.u8("function name length"));
        MA_READ(fn, r.bytes(*fn_len, "function name"));
        call.function_name.assign(fn->begin(), fn->end());
        if (!is_valid_clarity_name(call.function_name))
            return corrupt("invalid function name");
        MA_READ(argc, r.u32("argument count"));
        if (*argc > r.remaining())
            return corrupt("more arguments claimed than bytes remain");
        for (std::uint32_t i = 0; i < *argc; ++i) {
            auto arg = deserialize_from(r);
            if (!arg)
                return Error(arg.error().code(),
                             "argument " + std::to_string(i + 1) + ": " + arg.error().message());
            call.args.push_back(std::move(*arg));
        }
        tx.payload = std::move(call);
    } else if (*payload_type == kPayloadVersionedContract) {
        ContractDeploy deploy;
        MA_READ(clarity, r.u8("Clarity version"));
        deploy.clarity_version = *clarity;
        MA_READ(name_len, r.u8("contract name length"));
        MA_READ(name, r.bytes(*name_len, "contract name"));
        deploy.contract_name.assign(name->begin(), name->end());
        if (!is_valid_contract_name(deploy.contract_name) ||
            deploy.contract_name.size() > kMaxContractNameLength) {
            return corrupt("invalid contract name");
        }
        MA_READ(code_len, r.u32("code length"));
        if (*code_len > kMaxCodeLength)
            return corrupt("contract code over the size limit");
        MA_READ(code, r.bytes(*code_len, "contract code"));
        deploy.source.assign(code->begin(), code->end());
        tx.payload = std::move(deploy);
    } else {
        return unsupported("payload type " + std::to_string(*payload_type));
    }
#undef MA_READ
    if (!r.at_end())
        return corrupt(std::to_string(r.remaining()) + " bytes after the payload");
    return tx;
}

}  // namespace medanchor::stacks
