// What medanchor knows about its own contract, `medical-analysis`: its name, its error codes
// (mirroring the ERR-... constants of contracts/medical-analysis.clar; a test keeps the two
// in step), and how to explain a contract result to a person.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "stacks/clarity_value.h"

namespace medanchor::chain {

inline constexpr const char* kContractName = "medical-analysis";
inline constexpr const char* kContractSourcePath = "contracts/medical-analysis.clar";
inline constexpr std::uint8_t kContractClarityVersion = 4;

struct ContractError {
    std::uint32_t code;
    const char* name;     // ERR-...
    const char* meaning;  // as in docs/contract.md
};

// nullptr for a code the contract does not define.
const ContractError* find_contract_error(std::uint64_t code);
// The whole table, in code order (for the consistency test and `--help` text).
const ContractError* contract_errors(std::size_t* count);

// A refusal by the contract: its error code and, for submit-analyses, the 0-based position of the
// first item that failed its own checks (none for a condition of the whole batch).
struct ContractRefusal {
    std::uint64_t code = 0;
    std::optional<std::uint64_t> index;
};
// Reads (err uN) (every function but submit-analyses) and (err {code: uN, index: (optional
// uI)}) (submit-analyses); nullopt for anything else.
std::optional<ContractRefusal> contract_refusal(const stacks::Value& result);

// "(ok u3)" stays as it is; "(err u1063)" becomes
// "(err u1063) ERR-CONFIDENCE-BELOW-THRESHOLD: below the global or the model's minimum", and a
// batch's refusal names the item: "... ERR-...: ... (item 2)".
std::string describe_result(const stacks::Value& result);

// A uint field of a tuple the contract returned, or 0 when it is absent or not a uint.
std::uint64_t uint_field(const stacks::Value& tuple, std::string_view name);

// Calls a read-only function of the contract.
using ReadOnlyCall = std::function<Result<stacks::Value>(const std::string& function,
                                                         const std::vector<stacks::Value>& args)>;

// What a successful call leaves in the contract's state, as read-only calls show it: how a call is
// confirmed on a node without the Stacks Blockchain API, once its nonce is consumed.
struct Effect {
    std::string description;  // e.g. "ST1... is a verifier"
    // True when the state shows the effect; an Error when a read fails.
    std::function<Result<bool>(const ReadOnlyCall& read)> shows;
};

// The effect of calling the public `function` with `args` as `caller` (a standard principal);
// nullopt for a function whose effect no read-only function shows (submit-analysis and
// submit-analyses are settled by the outbox, which looks the analyses up itself).
std::optional<Effect> effect_of(const std::string& function, const std::vector<stacks::Value>& args,
                                const std::string& caller);

}  // namespace medanchor::chain
