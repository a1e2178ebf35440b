// What medanchor knows about its contract: the C++ table of errors must match the ERR-...
// constants of the contract itself; refusals (single and batch) are read and named; every public
// function has a read-only way to see its effect, or is settled by the outbox.
#include "chain/contract.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace medanchor::chain {
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

TEST(Contract, ReadsAndNamesBatchRefusals) {
    using stacks::Value;
    const Value item = Value::err(
        Value::tuple({{"code", Value::uint_(1063)}, {"index", Value::some(Value::uint_(2))}}));
    auto r = contract_refusal(item);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->code, 1063u);
    EXPECT_EQ(r->index, 2u);
    EXPECT_NE(describe_result(item).find("ERR-CONFIDENCE-BELOW-THRESHOLD"), std::string::npos);
    EXPECT_NE(describe_result(item).find("(item 2)"), std::string::npos);

    const Value whole =
        Value::err(Value::tuple({{"code", Value::uint_(1010)}, {"index", Value::none()}}));
    r = contract_refusal(whole);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->code, 1010u);
    EXPECT_FALSE(r->index.has_value());

    r = contract_refusal(Value::err(Value::uint_(1025)));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->code, 1025u);
    EXPECT_FALSE(contract_refusal(Value::ok(Value::uint_(1))).has_value());
    EXPECT_FALSE(contract_refusal(Value::err(Value::ascii("x"))).has_value());
}

// A contract whose read-only functions answer from a table, for checking effects offline.
struct FakeReads {
    std::map<std::string, stacks::Value> answers;  // "function" -> its answer
    std::vector<std::string> asked;
    std::vector<std::vector<stacks::Value>> asked_args;  // the arguments of each, in order
    ReadOnlyCall reader() {
        return [this](const std::string& function,
                      const std::vector<stacks::Value>& args) -> Result<stacks::Value> {
            asked.push_back(function);
            asked_args.push_back(args);
            auto it = answers.find(function);
            if (it == answers.end())
                return Error(ErrorCode::kContract, "no such read-only function " + function);
            return it->second;
        };
    }
};

bool shows(const Effect& e, FakeReads& reads) {
    auto r = e.shows(reads.reader());
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() && *r;
}

TEST(Contract, EffectsAreReadBackByName) {
    using stacks::Value;
    const std::string me = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";
    const Value who = *Value::parse_principal("ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG");
    auto pause = effect_of("pause", {}, me);
    ASSERT_TRUE(pause.has_value());
    FakeReads reads;
    reads.answers["get-parameters"] = Value::tuple({{"paused", Value::boolean(true)}});
    EXPECT_TRUE(shows(*pause, reads));
    EXPECT_EQ(reads.asked, std::vector<std::string>{"get-parameters"});
    reads.answers["get-parameters"] = Value::tuple({{"paused", Value::boolean(false)}});
    EXPECT_FALSE(shows(*pause, reads));
    reads.answers["get-parameters"] = Value::tuple({});
    EXPECT_FALSE(shows(*pause, reads));

    auto verify = effect_of("verify-professional", {who, Value::uint_(99), Value::uint_(1)}, me);
    ASSERT_TRUE(verify.has_value());
    const auto record = [&](std::uint64_t until, std::uint64_t reason) {
        return Value::some(Value::tuple({{"verified-until", Value::uint_(until)},
                                         {"verified-by", Value::some(*Value::parse_principal(me))},
                                         {"status-reason", Value::uint_(reason)},
                                         {"suspended", Value::boolean(false)}}));
    };
    reads.answers["get-professional"] = record(99, 1);
    EXPECT_TRUE(shows(*verify, reads));
    reads.answers["get-professional"] = record(98, 1);
    EXPECT_FALSE(shows(*verify, reads));
    reads.answers["get-professional"] = record(99, 2);
    EXPECT_FALSE(shows(*verify, reads));
    reads.answers["get-professional"] = Value::none();
    EXPECT_FALSE(shows(*verify, reads));

    auto suspend = effect_of("suspend-professional", {who, Value::uint_(2)}, me);
    ASSERT_TRUE(suspend.has_value());
    reads.answers["get-professional"] =
        Value::some(Value::tuple({{"suspended", Value::boolean(true)},
                                  {"suspended-by", Value::some(*Value::parse_principal(me))},
                                  {"status-reason", Value::uint_(2)}}));
    EXPECT_TRUE(shows(*suspend, reads));
    reads.answers["get-professional"] = Value::some(
        Value::tuple({{"suspended", Value::boolean(true)}, {"status-reason", Value::uint_(2)}}));
    EXPECT_FALSE(shows(*suspend, reads)) << "a field the answer lacks is not shown";

    // Roots are kept per anchoring analyst: anchor-root is shown under the caller's own key.
    const Value root = Value::buffer(stacks::Bytes(32, 7));
    auto anchor =
        effect_of("anchor-root", {root, Value::uint_(2), Value::uint_(1), Value::uint_(5000)}, me);
    ASSERT_TRUE(anchor.has_value());
    reads.asked.clear();
    reads.asked_args.clear();
    reads.answers["get-root-id"] = Value::some(Value::uint_(4));
    EXPECT_TRUE(shows(*anchor, reads));
    ASSERT_EQ(reads.asked_args.size(), 1U);
    EXPECT_EQ(reads.asked_args[0], (std::vector<Value>{*Value::parse_principal(me), root}));

    // Two reads: the id of the root the leaf's analyst anchored, then the review kept under it.
    const Value leaf_analyst = who;
    auto review =
        effect_of("review-leaf",
                  {root, Value::tuple({{"analyst", leaf_analyst}}), Value::uint_(3),
                   Value::list({}), Value::boolean(true), Value::buffer(stacks::Bytes(32, 9))},
                  me);
    ASSERT_TRUE(review.has_value());
    auto no_analyst = effect_of("review-leaf",
                                {root, Value::tuple({}), Value::uint_(3), Value::list({}),
                                 Value::boolean(true), Value::buffer(stacks::Bytes(32, 9))},
                                me);
    ASSERT_TRUE(no_analyst.has_value());
    reads.asked.clear();
    EXPECT_FALSE(shows(*no_analyst, reads)) << "a leaf without an analyst names no root";
    EXPECT_TRUE(reads.asked.empty());
    reads.asked.clear();
    reads.asked_args.clear();
    reads.answers["get-root-id"] = Value::some(Value::uint_(4));
    reads.answers["get-leaf-review"] =
        Value::some(Value::tuple({{"confirmed", Value::boolean(true)},
                                  {"note-digest", Value::buffer(stacks::Bytes(32, 9))}}));
    EXPECT_TRUE(shows(*review, reads));
    EXPECT_EQ(reads.asked, (std::vector<std::string>{"get-root-id", "get-leaf-review"}));
    EXPECT_EQ(reads.asked_args[0], (std::vector<Value>{leaf_analyst, root}));
    reads.answers["get-root-id"] = Value::none();
    EXPECT_FALSE(shows(*review, reads));

    // A failed read is an error, not "no effect".
    auto retire = effect_of("retire-model", {Value::uint_(1)}, me);
    ASSERT_TRUE(retire.has_value());
    EXPECT_FALSE(retire->shows(reads.reader()).ok());

    EXPECT_FALSE(effect_of("submit-analyses", {}, me).has_value());
    EXPECT_FALSE(effect_of("pause", {Value::uint_(1)}, me).has_value()) << "wrong arity";
}

// A public function the contract gains needs a way to be confirmed without the API: an effect
// here, or the outbox's own lookup (the submissions).
TEST(Contract, EveryPublicFunctionCanBeConfirmedWithoutTheApi) {
    std::ifstream in(std::string(MEDANCHOR_SOURCE_DIR) + "/" + kContractSourcePath);
    ASSERT_TRUE(in);
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    const std::string me = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";
    std::size_t seen = 0;
    for (std::size_t at = source.find("(define-public ("); at != std::string::npos;
         at = source.find("(define-public (", at + 1)) {
        // The signature: "(name (arg type) ...)"; count its top-level argument groups.
        std::size_t i = at + std::string("(define-public ").size();
        const std::size_t name_start = i + 1;
        const std::size_t name_end = source.find_first_of(" \n)", name_start);
        const std::string name = source.substr(name_start, name_end - name_start);
        int depth = 0;
        std::size_t args = 0;
        for (; i < source.size(); ++i) {
            if (source[i] == '(') {
                if (++depth == 2)
                    ++args;
            } else if (source[i] == ')' && --depth == 0) {
                break;
            }
        }
        ++seen;
        if (name == "submit-analysis" || name == "submit-analyses")
            continue;
        std::vector<stacks::Value> values(args, stacks::Value::uint_(1));
        EXPECT_TRUE(effect_of(name, values, me).has_value())
            << name << " (" << args << " arguments) has no effect to read back";
    }
    EXPECT_GT(seen, 15u);
}

}  // namespace
}  // namespace medanchor::chain
