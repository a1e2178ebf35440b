#include "chain/contract.h"

namespace medanchor::chain {
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
    {1029, "ERR-NOT-GRANTOR",
     "only the verifier who granted a running verification, or an admin, may shorten it"},
    {1030, "ERR-NOT-SUSPENDER",
     "only the verifier who suspended a professional, or an admin, may reinstate them"},
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
    {1066, "ERR-INVALID-ROOT", "Merkle root not 32 bytes or all zero"},
    {1067, "ERR-INVALID-LEAF-COUNT", "leaf count not in 1 .. 2^20"},
    {1068, "ERR-ROOT-EXISTS", "this root is already anchored"},
    {1069, "ERR-UNKNOWN-ROOT", "no anchored root with this hash"},
    {1070, "ERR-INVALID-PROOF", "index past the tree, or the leaf and proof do not give the root"},
    {1071, "ERR-LEAF-MISMATCH", "the leaf names another analyst or model than its root"},
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

std::optional<ContractRefusal> contract_refusal(const stacks::Value& result) {
    using stacks::ValueKind;
    if (result.kind() != ValueKind::kErr)
        return std::nullopt;
    const stacks::Value& e = result.inner();
    if (e.kind() == ValueKind::kUInt)
        return ContractRefusal{static_cast<std::uint64_t>(e.as_uint()), std::nullopt};
    if (e.kind() != ValueKind::kTuple)
        return std::nullopt;
    const stacks::Value* code = e.field("code");
    const stacks::Value* index = e.field("index");
    if (code == nullptr || code->kind() != ValueKind::kUInt)
        return std::nullopt;
    ContractRefusal r{static_cast<std::uint64_t>(code->as_uint()), std::nullopt};
    if (index != nullptr && index->kind() == ValueKind::kSome &&
        index->inner().kind() == ValueKind::kUInt)
        r.index = static_cast<std::uint64_t>(index->inner().as_uint());
    return r;
}

std::string describe_result(const stacks::Value& result) {
    std::string text = result.to_string();
    if (auto r = contract_refusal(result)) {
        if (const auto* e = find_contract_error(r->code))
            text += std::string(" ") + e->name + ": " + e->meaning;
        if (r->index)
            text += " (item " + std::to_string(*r->index) + ")";
    }
    return text;
}

namespace {

using stacks::Value;
using stacks::ValueKind;

// The tuple inside (some tuple), or nullptr.
const Value* some_tuple(const Value& v) {
    return v.kind() == ValueKind::kSome && v.inner().kind() == ValueKind::kTuple ? &v.inner()
                                                                                 : nullptr;
}

// True when every named field of the tuple equals the given value.
bool fields_equal(const Value* tuple, const std::vector<std::pair<std::string, Value>>& expected) {
    if (tuple == nullptr)
        return false;
    for (const auto& [name, value] : expected) {
        const Value* f = tuple->field(name);
        if (f == nullptr || !(*f == value))
            return false;
    }
    return true;
}

// A value as a person reads it: principals without Clarity's leading quote.
std::string show(const Value& v) {
    std::string text = v.to_string();
    return text.starts_with("'") ? text.substr(1) : text;
}

}  // namespace

namespace {

// An effect one read-only call shows: `function` with `args` answers what `holds` accepts.
Effect one_read(std::string function, std::vector<Value> args,
                std::function<bool(const Value&)> holds, std::string description) {
    return Effect{std::move(description),
                  [function = std::move(function), args = std::move(args),
                   holds = std::move(holds)](const ReadOnlyCall& read) -> Result<bool> {
                      auto v = read(function, args);
                      if (!v)
                          return v.error();
                      return holds(*v);
                  }};
}

// (some tuple) whose named fields equal `expected`.
std::function<bool(const Value&)> some_with(std::vector<std::pair<std::string, Value>> expected) {
    return [expected = std::move(expected)](const Value& v) {
        return fields_equal(some_tuple(v), expected);
    };
}

}  // namespace

std::optional<Effect> effect_of(const std::string& function, const std::vector<Value>& args,
                                const std::string& caller) {
    auto me = Value::parse_principal(caller);
    if (!me)
        return std::nullopt;
    const auto n = args.size();
    const auto professional = [](const Value& who,
                                 std::vector<std::pair<std::string, Value>> expected,
                                 std::string description) {
        return one_read("get-professional", {who}, some_with(std::move(expected)),
                        std::move(description));
    };
    const auto flag = [](const char* reader, const Value& who, bool want, std::string what) {
        return one_read(
            reader, {who},
            [want](const Value& v) {
                return (v.kind() == ValueKind::kTrue || v.kind() == ValueKind::kFalse) &&
                       v.as_bool() == want;
            },
            std::move(what));
    };
    const auto parameter = [](const char* field, Value want, std::string what) {
        return one_read(
            "get-parameters", {},
            [field, want](const Value& v) {
                const Value* f = v.field(field);
                return f != nullptr && *f == want;
            },
            std::move(what));
    };
    if (function == "register-professional" && n == 2)
        return professional(*me, {{"credential-hash", args[0]}, {"specialty", args[1]}},
                            caller + " is registered with this credential hash");
    // (An admin shortening a verification leaves its grantor as verified-by.)
    if (function == "verify-professional" && n == 3)
        return professional(args[0], {{"verified-until", args[1]}, {"status-reason", args[2]}},
                            show(args[0]) + " is verified until " + show(args[1]) +
                                " with reason " + show(args[2]));
    if (function == "suspend-professional" && n == 2)
        return professional(
            args[0],
            {{"suspended", Value::boolean(true)},
             {"suspended-by", Value::some(*me)},
             {"status-reason", args[1]}},
            show(args[0]) + " is suspended by " + caller + " with reason " + show(args[1]));
    if (function == "reinstate-professional" && n == 2)
        return professional(
            args[0],
            {{"suspended", Value::boolean(false)},
             {"reinstated-by", Value::some(*me)},
             {"status-reason", args[1]}},
            show(args[0]) + " is reinstated by " + caller + " with reason " + show(args[1]));
    if (function == "review-analysis" && n == 3)
        return one_read("get-review", {args[0], *me},
                        some_with({{"confirmed", args[1]}, {"note-digest", args[2]}}),
                        "analysis " + show(args[0]) + " carries " + caller + "'s review");
    if (function == "retract-analysis" && n == 2)
        return one_read("get-analysis", {args[0]},
                        some_with({{"retracted", Value::boolean(true)},
                                   {"retraction-reason", args[1]},
                                   {"analyst", *me}}),
                        "analysis " + show(args[0]) + " is retracted with reason " + show(args[1]));
    if ((function == "add-admin" || function == "remove-admin") && n == 1)
        return flag("is-admin", args[0], function == "add-admin",
                    show(args[0]) + (function == "add-admin" ? " is" : " is not") + " an admin");
    if ((function == "appoint-verifier" || function == "dismiss-verifier") && n == 1)
        return flag(
            "is-verifier", args[0], function == "appoint-verifier",
            show(args[0]) + (function == "appoint-verifier" ? " is" : " is not") + " a verifier");
    if (function == "set-min-confidence" && n == 1)
        return parameter("min-confidence", args[0], "the minimum confidence is " + show(args[0]));
    if (function == "set-max-verification-period" && n == 1)
        return parameter("max-verification-period", args[0],
                         "the longest verification period is " + show(args[0]));
    if ((function == "pause" || function == "unpause") && n == 0)
        return parameter("paused", Value::boolean(function == "pause"),
                         function == "pause" ? "the contract is paused" : "the contract runs");
    if (function == "register-model" && n == 4)
        return one_read(
            "get-model-id", {args[0]}, [](const Value& v) { return v.kind() == ValueKind::kSome; },
            "a model with hash " + show(args[0]) + " is registered");
    if (function == "retire-model" && n == 1)
        return one_read("get-model", {args[0]}, some_with({{"active", Value::boolean(false)}}),
                        "model " + show(args[0]) + " is retired");
    // Merkle mode (docs/merkle.md): roots are kept per anchoring analyst, so another's copy of a
    // root is a record of its own.
    if (function == "anchor-root" && n == 4)
        return one_read(
            "get-root-id", {*me, args[0]},
            [](const Value& v) { return v.kind() == ValueKind::kSome; },
            "root " + show(args[0]) + " is anchored by " + caller);
    if (function == "review-leaf" && n == 6) {
        // The review is kept under the id of the root its leaf's analyst anchored: find it first.
        // A leaf without an analyst (the contract refuses such a call) names no root: never shown.
        const Value* analyst = args[1].field("analyst");
        const std::optional<Value> leaf_analyst =
            analyst != nullptr ? std::optional<Value>(*analyst) : std::nullopt;
        const Value root = args[0], index = args[2], confirmed = args[4], note = args[5];
        const Value reviewer = *me;
        return Effect{
            "leaf " + show(index) + " of root " + show(root) + " carries " + caller + "'s review",
            [=](const ReadOnlyCall& read) -> Result<bool> {
                if (!leaf_analyst)
                    return false;
                auto id = read("get-root-id", {*leaf_analyst, root});
                if (!id)
                    return id.error();
                if (id->kind() != ValueKind::kSome)
                    return false;
                auto review = read("get-leaf-review", {id->inner(), index, reviewer});
                if (!review)
                    return review.error();
                return fields_equal(some_tuple(*review),
                                    {{"confirmed", confirmed}, {"note-digest", note}});
            }};
    }
    if (function == "retract-leaf" && n == 5)
        return one_read(
            "verify-leaf", {args[0], args[1], args[2], args[3]},
            [reason = args[4]](const Value& v) {
                return v.kind() == ValueKind::kOk &&
                       fields_equal(&v.inner(), {{"retracted", Value::boolean(true)},
                                                 {"retraction-reason", reason}});
            },
            "leaf " + show(args[2]) + " of root " + show(args[0]) + " is retracted with reason " +
                show(args[4]));
    return std::nullopt;
}

std::uint64_t uint_field(const stacks::Value& tuple, std::string_view name) {
    const stacks::Value* v = tuple.field(name);
    return v && v->kind() == stacks::ValueKind::kUInt ? static_cast<std::uint64_t>(v->as_uint())
                                                      : 0;
}

}  // namespace medanchor::chain
