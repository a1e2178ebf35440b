// The C++ table of contract errors must match the ERR-... constants of the contract itself.
#include "app/contract.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace medanchor::app {
namespace {

TEST(Contract, ErrorTableMatchesTheClaritySource) {
    std::ifstream in(std::string(MEDANCHOR_SOURCE_DIR) + "/" + kContractSourcePath);
    ASSERT_TRUE(in) << "cannot read the contract";
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    std::map<std::uint32_t, std::string> in_contract;
    const std::regex constant(R"(\(define-constant (ERR-[A-Z-]+) \(err u(\d+)\)\))");
    for (std::sregex_iterator it(source.begin(), source.end(), constant), end; it != end; ++it) {
        in_contract[static_cast<std::uint32_t>(std::stoul((*it)[2]))] = (*it)[1];
    }
    std::size_t count = 0;
    const ContractError* table = contract_errors(&count);
    ASSERT_EQ(count, in_contract.size());
    for (std::size_t i = 0; i < count; ++i) {
        EXPECT_EQ(in_contract[table[i].code], table[i].name) << table[i].code;
    }
}

TEST(Contract, DescribesErrorsByName) {
    using stacks::Value;
    EXPECT_EQ(describe_result(Value::ok(Value::uint_(3))), "(ok u3)");
    EXPECT_EQ(describe_result(Value::err(Value::uint_(1025))),
              "(err u1025) ERR-SUSPENDED: professional is suspended");
    EXPECT_EQ(describe_result(Value::err(Value::uint_(7))), "(err u7)");
}

}  // namespace
}  // namespace medanchor::app
