// What medanchor knows about its own contract, `medical-analysis`: its name, its error codes
// (mirroring the ERR-... constants of contracts/medical-analysis.clar; a test keeps the two
// in step), and how to explain a contract result to a person.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stacks/clarity_value.h"

namespace medanchor::app {

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

// "(ok u3)" stays as it is; "(err u1063)" becomes
// "(err u1063) ERR-CONFIDENCE-BELOW-THRESHOLD: below the global or the model's minimum".
std::string describe_result(const stacks::Value& result);

// A uint field of a tuple the contract returned, or 0 when it is absent or not a uint.
std::uint64_t uint_field(const stacks::Value& tuple, std::string_view name);

}  // namespace medanchor::app
