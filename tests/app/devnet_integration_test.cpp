// The C++ chain path end to end against the local chain (devnet/server.mjs on the real Clarity
// VM), over real HTTP on loopback: deploy the contract with a contract-deploy transaction signed
// here, grant roles, register a model and a professional, submit an analysis, read it back through
// call-read and map_entry; and the refusals a real node gives for a nonce past the chaining limit,
// a bad signature and a foreign chain id (a future nonce within the limit is held, not refused).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/ops/devnet_process.h"
#include "chain/contract.h"
#include "chain/session.h"
#include "devnet_fixture.h"
#include "stacks/hash.h"

namespace medanchor::app {
namespace {

using namespace medanchor::chain;  // NOLINT: tests of the chain layer
using namespace medanchor::ops;

namespace fs = std::filesystem;
using stacks::Value;

using testing::devnet_key;
using testing::digest;
using testing::free_port;

class DevnetIntegration : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        options_ = new DevnetOptions(default_devnet_options());
        options_->data_dir =
            fs::temp_directory_path() / ("medanchor-devnet-test-" + std::to_string(::getpid()));
        fs::remove_all(options_->data_dir);
        options_->port = free_port();
        options_->api_port = free_port();
        auto state = start_devnet(*options_);
        ASSERT_TRUE(state.ok()) << state.error().message();
    }
    static void TearDownTestSuite() {
        EXPECT_TRUE(stop_devnet(*options_).ok());
        fs::remove_all(options_->data_dir);
        delete options_;
    }

    static ChainSession session(const std::string& account) {
        ChainConfig c;
        c.node_url = "http://127.0.0.1:" + std::to_string(options_->port);
        c.api_url = "http://127.0.0.1:" + std::to_string(options_->api_port);
        c.fee = 0;  // ask the node, as the CLI does: a deploy pays per byte
        c.confirm_timeout = std::chrono::seconds(60);
        c.poll_interval = std::chrono::milliseconds(100);
        return ChainSession(*resolve(c), devnet_key(account));
    }

    static std::string url() { return "http://127.0.0.1:" + std::to_string(options_->port); }

    static inline DevnetOptions* options_ = nullptr;
};

void expect_success(const Result<Confirmed>& r, const std::string& what) {
    ASSERT_TRUE(r.ok()) << what << ": " << r.error().message();
    EXPECT_EQ(r->status.state, stacks::TxState::kSuccess)
        << what << ": " << r->status.raw_status << " "
        << (r->status.result ? describe_result(*r->status.result) : "");
}

TEST_F(DevnetIntegration, DeploysAndRecordsAnAnalysisEndToEnd) {
    auto admin = session("deployer");
    auto verifier = session("wallet_1");
    auto doctor = session("wallet_2");

    std::ifstream in(source_root() / kContractSourcePath);
    std::stringstream source;
    source << in.rdbuf();
    expect_success(admin.send_and_wait(stacks::ContractDeploy{kContractName, source.str(), 4}),
                   "deploy");

    // Two calls from one account before either is mined: local nonce numbering.
    auto appoint = admin.send(admin.call(
        "appoint-verifier", {Value::principal(*stacks::parse_address(verifier.sender()))}));
    ASSERT_TRUE(appoint.ok()) << appoint.error().message();
    auto model = admin.send_and_wait(
        admin.call("register-model", {digest("model.onnx"), Value::ascii("nodule-cnn"),
                                      Value::ascii("1.0.0"), Value::uint_(6000)}));
    expect_success(model, "register-model");
    EXPECT_EQ(model->status.result->to_string(), "(ok u1)");
    auto appointed = admin.wait(*appoint);
    ASSERT_TRUE(appointed.ok());
    EXPECT_EQ(appointed->state, stacks::TxState::kSuccess);

    auto registered = doctor.send_and_wait(
        doctor.call("register-professional", {digest("licence:salt"), Value::ascii("radiology")}));
    expect_success(registered, "register-professional");
    // Expiry is compared with stacks-block-time, the chain's clock, not this machine's.
    ASSERT_GT(registered->status.block_time, 0u);
    // The chain's clock as clients read it (professional verify --expires-in): the newest block.
    auto clock = doctor.node().latest_block_time();
    ASSERT_TRUE(clock.ok()) << clock.error().message();
    EXPECT_EQ(*clock, registered->status.block_time);
    const std::uint64_t expiry = registered->status.block_time + 365 * 86400;
    expect_success(
        verifier.send_and_wait(verifier.call(
            "verify-professional", {Value::principal(*stacks::parse_address(doctor.sender())),
                                    Value::uint_(expiry), Value::uint_(1)})),
        "verify-professional");

    auto submitted = doctor.send_and_wait(doctor.call(
        "submit-analysis", {digest("image"), Value::uint_(1), Value::ascii("nodule-present"),
                            Value::uint_(9100), digest("report")}));
    expect_success(submitted, "submit-analysis");
    EXPECT_EQ(submitted->status.result->to_string(), "(ok u1)");

    // A contract refusal is mined and reported with the contract's error name.
    auto low = doctor.send_and_wait(doctor.call(
        "submit-analysis", {digest("image2"), Value::uint_(1), Value::ascii("nodule-present"),
                            Value::uint_(4000), digest("report2")}));
    ASSERT_TRUE(low.ok()) << low.error().message();
    EXPECT_EQ(low->status.state, stacks::TxState::kAbortByResponse);
    EXPECT_NE(describe_result(*low->status.result).find("ERR-CONFIDENCE-BELOW-THRESHOLD"),
              std::string::npos);

    // Read back through call-read ...
    auto record = doctor.read("get-analysis", {Value::uint_(1)});
    ASSERT_TRUE(record.ok()) << record.error().message();
    ASSERT_EQ(record->kind(), stacks::ValueKind::kSome);
    const Value& a = record->inner();
    EXPECT_EQ(a.field("confidence")->to_string(), "u9100");
    EXPECT_EQ(a.field("analyst")->to_string(), "'" + doctor.sender());
    EXPECT_EQ(a.field("status")->to_string(), "\"unreviewed\"");
    auto verdict = doctor.read("verify-image", {digest("image")});
    ASSERT_TRUE(verdict.ok());
    EXPECT_EQ(verdict->field("valid")->to_string(), "true");

    // ... and map_entry.
    auto entry = doctor.node().map_entry(admin.config().contract_id, "analyses", Value::uint_(1));
    ASSERT_TRUE(entry.ok()) << entry.error().message();
    ASSERT_TRUE(entry->has_value());
    EXPECT_EQ((*entry)->field("finding")->to_string(), "\"nodule-present\"");
    auto missing =
        doctor.node().map_entry(admin.config().contract_id, "analyses", Value::uint_(99));
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
}

TEST_F(DevnetIntegration, RejectsWhatARealNodeRejects) {
    auto key = devnet_key("wallet_3");
    stacks::NodeClient node(url());
    auto account = node.account(key.address(stacks::Network::kTestnet).to_string());
    ASSERT_TRUE(account.ok()) << account.error().message();
    const auto contract =
        *Value::parse_principal(std::string(kDevnetDeployer) + ".medical-analysis");
    const stacks::ContractCall call{contract.address(), contract.contract_name(), "pause", {}};

    const auto broadcast = [&](stacks::Transaction tx, bool resign = true) {
        if (resign)
            stacks::sign(tx, key);
        return node.broadcast(*stacks::serialize(tx));
    };

    // A nonce past the chaining limit (the confirmed nonce + 1 + 25) is refused; one within it
    // is not: a node holds it in its mempool until the nonces before it are mined.
    auto too_far =
        stacks::make_transaction(stacks::Network::kTestnet, key, account->nonce + 27, 2000, call);
    auto r = broadcast(too_far);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kRejected);
    EXPECT_NE(r.error().message().find("TooMuchChaining"), std::string::npos)
        << r.error().message();
    auto held = stacks::make_transaction(stacks::Network::kTestnet, key, account->nonce + 5, 2000,
                                         stacks::ContractDeploy{"held-probe", "(+ 1 2)", 4});
    r = broadcast(held);
    EXPECT_TRUE(r.ok()) << "a future nonce is held, not refused: " << r.error().message();

    auto forged =
        stacks::make_transaction(stacks::Network::kTestnet, key, account->nonce, 2000, call);
    stacks::sign(forged, key);
    forged.signature[20] ^= 0x40;
    r = broadcast(forged, /*resign=*/false);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kRejected);
    EXPECT_NE(r.error().message().find("Signature"), std::string::npos) << r.error().message();

    // A mainnet transaction, and a testnet one signed for another chain id: the node checks the
    // version byte (BadTransactionVersion) and then the chain id after the signature.
    auto mainnet =
        stacks::make_transaction(stacks::Network::kMainnet, key, account->nonce, 2000, call);
    r = broadcast(mainnet);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kRejected) << r.error().message();
    EXPECT_NE(r.error().message().find("BadTransactionVersion"), std::string::npos)
        << r.error().message();

    auto foreign =
        stacks::make_transaction(stacks::Network::kTestnet, key, account->nonce, 2000, call);
    foreign.chain_id = 0x12345678;
    r = broadcast(foreign);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kRejected) << r.error().message();
    EXPECT_NE(r.error().message().find("chain ID"), std::string::npos) << r.error().message();

    // Bytes that are not a transaction at all: the node's plain-text 400.
    const stacks::Bytes junk = {0x80, 0x00, 0x01};
    r = node.broadcast(junk);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kRejected) << r.error().message();
    EXPECT_NE(r.error().message().find("malformed"), std::string::npos) << r.error().message();

    // None of them consumed the nonce.
    auto after = node.account(key.address(stacks::Network::kTestnet).to_string());
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->nonce, account->nonce);
}

}  // namespace
}  // namespace medanchor::app
