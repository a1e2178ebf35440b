#include "chain/registry.h"

#include <algorithm>
#include <chrono>

#include "chain/contract.h"
#include "common/encoding.h"
#include "stacks/bytes.h"

namespace medanchor::chain {

using stacks::Value;
using stacks::ValueKind;

Result<Value> read_only(stacks::NodeClient& node, const ChainConfig& config,
                        const std::string& function, const std::vector<Value>& args) {
    const std::string deployer = config.contract_id.substr(0, config.contract_id.find('.'));
    return node.call_read_only(config.contract_id, function, args, deployer);
}

namespace {

bool printable_ascii(std::string_view text, std::size_t max) {
    return !text.empty() && text.size() <= max &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

constexpr std::uint64_t kBasisPoints = 10000;

}  // namespace

Result<RegistryCall> register_model_call(const std::string& model_sha256, const std::string& name,
                                         const std::string& version,
                                         std::uint64_t min_confidence_bp) {
    auto hash = stacks::from_hex(model_sha256);
    if (!hash || hash->size() != 32) {
        return Error(ErrorCode::kInvalidArgument,
                     "model hash: 64 hex digits (the SHA-256 of the network file)");
    }
    if (!printable_ascii(name, 64))
        return Error(ErrorCode::kInvalidArgument, "model name: 1 to 64 printable ASCII characters");
    if (!printable_ascii(version, 32)) {
        return Error(ErrorCode::kInvalidArgument,
                     "model version: 1 to 32 printable ASCII characters");
    }
    if (min_confidence_bp > kBasisPoints) {
        return Error(ErrorCode::kInvalidArgument,
                     "the model's minimum confidence: 0 to 10000 basis points");
    }
    return RegistryCall{"register-model " + name + " " + version,
                        "register-model",
                        {Value::buffer(std::move(*hash)), Value::ascii(name), Value::ascii(version),
                         Value::uint_(min_confidence_bp)}};
}

RegistryCall retire_model_call(std::uint64_t model_id) {
    return {"retire-model " + std::to_string(model_id), "retire-model", {Value::uint_(model_id)}};
}

Result<RegistryCall> set_min_confidence_call(std::uint64_t basis_points) {
    if (basis_points > kBasisPoints)
        return Error(ErrorCode::kInvalidArgument, "minimum confidence: 0 to 10000 basis points");
    return RegistryCall{"set-min-confidence " + std::to_string(basis_points),
                        "set-min-confidence",
                        {Value::uint_(basis_points)}};
}

RegistryCall set_max_verification_period_call(std::uint64_t seconds) {
    return {"set-max-verification-period " + std::to_string(seconds),
            "set-max-verification-period",
            {Value::uint_(seconds)}};
}

RegistryCall pause_call(bool pause) {
    const char* f = pause ? "pause" : "unpause";
    return {f, f, {}};
}

Result<RegistryCall> verifier_call(const std::string& principal, bool appoint) {
    auto p = Value::parse_principal(principal);
    if (!p)
        return Error(ErrorCode::kInvalidArgument, "principal: " + p.error().message());
    const char* f = appoint ? "appoint-verifier" : "dismiss-verifier";
    return RegistryCall{std::string(f) + " " + principal, f, {*p}};
}

Result<CallOutcome> submit(ChainSession& session, const RegistryCall& call, bool wait) {
    return submit(session, call.action, session.call(call.function, call.args), wait);
}

Result<std::uint64_t> expiry_in_days(stacks::NodeClient& node, std::uint64_t days,
                                     bool* from_local_clock) {
    if (days == 0 || days > 36500)
        return Error(ErrorCode::kInvalidArgument, "days: 1 to 36500");
    auto now = node.latest_block_time();
    if (!now && now.error().code() != ErrorCode::kUnsupported)
        return now.error();
    std::uint64_t base = 0;
    if (now) {
        base = *now;
    } else {
        base = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
        if (from_local_clock != nullptr)
            *from_local_clock = true;
    }
    return base + days * 86400;
}

RegistryReader::RegistryReader(ChainConfig config, stacks::RetryPolicy policy)
    : config_(std::move(config)), policy_(policy) {}

stacks::NodeClient RegistryReader::node() const {
    return stacks::NodeClient(config_.node_url, policy_, config_.api_url);
}

Result<Value> RegistryReader::read(stacks::NodeClient& node, const std::string& function,
                                   const std::vector<Value>& args) {
    return read_only(node, config_, function, args);
}

Result<Value> RegistryReader::parameters() {
    auto node = this->node();
    auto v = read(node, "get-parameters", {});
    if (!v)
        return v.error();
    if (v->kind() != ValueKind::kTuple)
        return Error(ErrorCode::kNetwork,
                     "get-parameters: expected a tuple, got " + v->to_string());
    return v;
}

Result<ModelPage> RegistryReader::models(std::uint64_t start, std::uint64_t limit) {
    auto node = this->node();
    auto params = read(node, "get-parameters", {});
    if (!params)
        return params.error();
    ModelPage page;
    page.model_count = uint_field(*params, "model-count");
    for (std::uint64_t id = start; id <= page.model_count && id - start < limit; ++id) {
        auto m = read(node, "get-model", {Value::uint_(id)});
        if (!m)
            return m.error();
        // Ids are dense (register-model takes model-count + 1): none is missing below the count.
        if (m->kind() != ValueKind::kSome || m->inner().kind() != ValueKind::kTuple) {
            return Error(ErrorCode::kNetwork, "get-model u" + std::to_string(id) +
                                                  ": expected (some tuple), got " + m->to_string());
        }
        page.models.push_back(ModelRecord{id, m->inner()});
    }
    return page;
}

Result<Standing> RegistryReader::standing(const std::string& principal) {
    auto p = Value::parse_principal(principal);
    if (!p) {
        return Error(ErrorCode::kInvalidArgument,
                     escape_for_display(principal) + ": not a Stacks principal");
    }
    auto node = this->node();
    Standing s;
    s.principal = principal;
    auto pro = read(node, "get-professional", {*p});
    if (!pro)
        return pro.error();
    if (pro->kind() == ValueKind::kSome)
        s.professional = pro->inner();
    const std::pair<const char*, bool*> roles[] = {{"is-verifier", &s.verifier},
                                                   {"is-admin", &s.admin}};
    for (const auto& [function, flag] : roles) {
        auto v = read(node, function, {*p});
        if (!v)
            return v.error();
        *flag = v->as_bool();
    }
    return s;
}

}  // namespace medanchor::chain
