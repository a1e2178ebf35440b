#include "app/contract.h"

namespace medanchor::app {
namespace {

constexpr ContractError kErrors[] = {
    {1000, "ERR-NOT-ADMIN", "caller is not an admin"},
    {1001, "ERR-NOT-VERIFIER", "caller is not a verifier"},
    {1002, "ERR-ALREADY-ADMIN", "principal is already an admin"},
    {1003, "ERR-UNKNOWN-ADMIN", "principal is not an admin"},
    {1004, "ERR-LAST-ADMIN", "removing would leave no admin"},
    {1005, "ERR-ALREADY-VERIFIER", "principal is already a verifier"},
    {1006, "ERR-UNKNOWN-VERIFIER", "principal is not a verifier"},
    {1007, "ERR-INVALID-PARAMETER", "parameter out of range"},
    {1008, "ERR-ALREADY-PAUSED", "already paused"},
    {1009, "ERR-NOT-PAUSED", "not paused"},
    {1010, "ERR-PAUSED", "submissions and reviews are paused"},
    {1020, "ERR-ALREADY-REGISTERED", "principal already registered as a professional"},
    {1021, "ERR-NOT-REGISTERED", "principal is not a registered professional"},
    {1022, "ERR-INVALID-CREDENTIAL",
     "credential hash not 32 bytes or all zero, or specialty not a code"},
    {1023, "ERR-NOT-VERIFIED", "professional was never verified"},
    {1024, "ERR-VERIFICATION-EXPIRED", "professional's verification has expired"},
    {1025, "ERR-SUSPENDED", "professional is suspended"},
    {1026, "ERR-NOT-SUSPENDED", "professional is not suspended"},
    {1027, "ERR-INVALID-EXPIRY", "expiry not in the future, or beyond the maximum period"},
    {1028, "ERR-SELF-VERIFICATION", "a verifier may not verify, suspend or reinstate themselves"},
    {1040, "ERR-UNKNOWN-MODEL", "no model with this id"},
    {1041, "ERR-MODEL-RETIRED", "model is retired"},
    {1042, "ERR-MODEL-EXISTS", "a model with this hash is already registered"},
    {1043, "ERR-INVALID-MODEL",
     "hash not 32 bytes or all zero, empty name or version, or minimum > 10000"},
    {1060, "ERR-INVALID-IMAGE-HASH", "image hash not 32 bytes or all zero"},
    {1061, "ERR-INVALID-FINDING",
     "finding code empty or with a character outside letters, digits and . _ : -"},
    {1062, "ERR-INVALID-CONFIDENCE", "confidence above 10000 basis points"},
    {1063, "ERR-CONFIDENCE-BELOW-THRESHOLD",
     "below the global or the model's minimum, whichever is higher"},
    {1064, "ERR-EMPTY-BATCH", "batch has no analyses"},
    {1065, "ERR-INVALID-REPORT-DIGEST", "report digest not 32 bytes or all zero"},
    {1080, "ERR-UNKNOWN-ANALYSIS", "no analysis with this id"},
    {1081, "ERR-SELF-REVIEW", "the author may not review their own analysis"},
    {1082, "ERR-ALREADY-REVIEWED", "this reviewer already reviewed this analysis"},
    {1083, "ERR-NOT-AUTHOR", "only the author may retract"},
    {1084, "ERR-ANALYSIS-RETRACTED", "the analysis is retracted"},
    {1085, "ERR-INVALID-NOTE-DIGEST", "review note digest not 32 bytes or all zero"},
};

}  // namespace

const ContractError* find_contract_error(std::uint64_t code) {
    for (const auto& e : kErrors) {
        if (e.code == code)
            return &e;
    }
    return nullptr;
}

const ContractError* contract_errors(std::size_t* count) {
    *count = sizeof(kErrors) / sizeof(kErrors[0]);
    return kErrors;
}

std::string describe_result(const stacks::Value& result) {
    std::string text = result.to_string();
    if (result.kind() == stacks::ValueKind::kErr &&
        result.inner().kind() == stacks::ValueKind::kUInt) {
        if (const auto* e =
                find_contract_error(static_cast<std::uint64_t>(result.inner().as_uint()))) {
            text += std::string(" ") + e->name + ": " + e->meaning;
        }
    }
    return text;
}

std::uint64_t uint_field(const stacks::Value& tuple, std::string_view name) {
    const stacks::Value* v = tuple.field(name);
    return v && v->kind() == stacks::ValueKind::kUInt ? static_cast<std::uint64_t>(v->as_uint())
                                                      : 0;
}

}  // namespace medanchor::app
