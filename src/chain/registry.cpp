#include "chain/registry.h"

#include "chain/contract.h"
#include "common/encoding.h"

namespace medanchor::chain {

using stacks::Value;
using stacks::ValueKind;

Result<Value> read_only(stacks::NodeClient& node, const ChainConfig& config,
                        const std::string& function, const std::vector<Value>& args) {
    const std::string deployer = config.contract_id.substr(0, config.contract_id.find('.'));
    return node.call_read_only(config.contract_id, function, args, deployer);
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
