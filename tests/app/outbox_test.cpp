// The outbox against the real local chain: what a crash at each point leaves behind is settled by
// the next sync, and every analysis ends on chain exactly once.
//   - batches: three analyses go in one submit-analyses transaction; a second sync sends nothing;
//   - killed after recording, before broadcasting: the stored bytes are sent again, same txid;
//   - the chain stopped after broadcast: restarted, the transaction is found mined and settled;
//   - the recorded transaction's nonce used by another one: the chain is searched, then the
//     analysis is sent afresh, once;
//   - a recorded transaction behind a nonce gap keeps its analysis: the gap is filled, then it is
//     sent again byte for byte.
#include "app/outbox.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/contract.h"
#include "devnet_fixture.h"
#include "stacks/bytes.h"

namespace medanchor::app {
namespace {

namespace fs = std::filesystem;
using stacks::Value;
using testing::devnet_key;
using testing::digest;

class OutboxOnDevnet : public ::testing::Test {
  protected:
    void SetUp() override {
        options_ = default_devnet_options();
        dir_ = fs::temp_directory_path() / ("medanchor-outbox-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        options_.data_dir = dir_ / "chain";
        options_.port = testing::free_port();
        options_.api_port = testing::free_port();
        ASSERT_TRUE(start_devnet(options_).ok());
        auto admin = session("deployer");
        std::ifstream in(source_root() / kContractSourcePath);
        std::stringstream source;
        source << in.rdbuf();
        ok(admin.send_and_wait(stacks::ContractDeploy{kContractName, source.str(), 4}));
        ok(admin.send_and_wait(
            admin.call("appoint-verifier",
                       {Value::principal(*stacks::parse_address(session("wallet_1").sender()))})));
        ok(admin.send_and_wait(
            admin.call("register-model", {Value::buffer(*stacks::from_hex(kModel)),
                                          Value::ascii("m"), Value::ascii("1"), Value::uint_(0)})));
        auto doctor = session("wallet_2");
        auto reg = doctor.send_and_wait(
            doctor.call("register-professional", {digest("l"), Value::ascii("radiology")}));
        ok(reg);
        auto verifier = session("wallet_1");
        ok(verifier.send_and_wait(
            verifier.call("verify-professional",
                          {Value::principal(*stacks::parse_address(doctor.sender())),
                           Value::uint_(reg->status.block_time + 86400 * 30), Value::uint_(1)})));
        auto l = ledger::Ledger::open(dir_ / "ledger.sqlite");
        ASSERT_TRUE(l.ok());
        ledger_.emplace(std::move(*l));
    }
    void TearDown() override {
        (void)stop_devnet(options_);
        ledger_.reset();
        fs::remove_all(dir_);
    }

    ChainSession session(const std::string& account) {
        ChainConfig c;
        c.node_url = "http://127.0.0.1:" + std::to_string(options_.port);
        c.confirm_timeout = std::chrono::seconds(60);
        c.poll_interval = std::chrono::milliseconds(100);
        return ChainSession(*resolve(c), devnet_key(account));
    }
    static void ok(const Result<Confirmed>& r) {
        ASSERT_TRUE(r.ok()) << r.error().message();
        ASSERT_EQ(r->status.state, stacks::TxState::kSuccess) << r->status.raw_status;
    }

    std::int64_t add(char image, const std::string& analyst) {
        ledger::NewAnalysis a;
        a.source_path = "x";
        a.image_hash = std::string(64, image);
        a.hash_mode = "hmac-sha256";
        a.model_sha256 = kModel;
        a.model_name = "m";
        a.model_version = "1";
        a.finding = "nodule-present";
        a.confidence_bp = 9000;
        a.report_json = std::string("{\"r\":\"") + image + "\"}";
        a.analyst = analyst;
        return ledger_->add(a)->analysis.id;
    }

    // How many analyses the chain holds for an image.
    static ledger::Transaction recorded(const ChainSession::Signed& s, const std::string& sender,
                                        std::int64_t id) {
        ledger::Transaction t;
        t.txid = s.txid;
        t.raw_hex = stacks::to_hex(s.raw);
        t.sender = sender;
        t.nonce = s.nonce;
        t.fee = s.fee;
        t.kind = ledger::kSubmitAnalysis;
        t.analysis_ids = {id};
        return t;
    }

    std::uint64_t on_chain(char image) {
        auto s = session("wallet_3");
        auto stats =
            s.read("get-image-stats", {Value::buffer(*stacks::from_hex(std::string(64, image)))});
        EXPECT_TRUE(stats.ok());
        return static_cast<std::uint64_t>(stats->field("total")->as_uint());
    }

    static inline const std::string kModel = std::string(64, 'e');
    DevnetOptions options_;
    fs::path dir_;
    std::optional<ledger::Ledger> ledger_;
};

TEST_F(OutboxOnDevnet, BatchesAndCrashRecoveryAnchorEachAnalysisOnce) {
    auto doctor = session("wallet_2");
    const std::string me = doctor.sender();

    // Three analyses, one transaction.
    for (char c : {'a', 'b', 'c'})
        add(c, me);
    auto first = sync_outbox(*ledger_, doctor, {});
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(first->sent, 3u);
    EXPECT_EQ(first->txids.size(), 1u);
    EXPECT_EQ(first->confirmed, 3u);
    auto again = sync_outbox(*ledger_, doctor, {});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->sent, 0u);
    EXPECT_TRUE(again->txids.empty());

    // Killed between recording and broadcasting: the next sync sends the stored bytes.
    const auto d = add('d', me);
    auto d_record = *ledger_->get(d);
    auto signed_tx = doctor.sign(
        doctor.call(ledger::kSubmitAnalysis,
                    {Value::buffer(*stacks::from_hex(d_record.image_hash)), Value::uint_(1),
                     Value::ascii("nodule-present"), Value::uint_(9000),
                     Value::buffer(*stacks::from_hex(d_record.report_digest))}));
    ASSERT_TRUE(signed_tx.ok());
    const auto tx = recorded(*signed_tx, me, d);
    ASSERT_TRUE(ledger_->record_transaction(tx).ok());
    auto fresh = session("wallet_2");  // a new process: no nonce memory
    auto resumed = sync_outbox(*ledger_, fresh, {});
    ASSERT_TRUE(resumed.ok()) << resumed.error().message();
    EXPECT_EQ(resumed->resent, 1u);
    EXPECT_EQ(resumed->sent, 0u);
    EXPECT_EQ(ledger_->get(d)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_EQ(ledger_->get(d)->txid, signed_tx->txid);

    // The chain goes down after a broadcast, before the outbox hears back.
    const auto e = add('e', me);
    OutboxOptions no_wait;
    no_wait.wait = false;
    auto sent = sync_outbox(*ledger_, fresh, no_wait);
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    ASSERT_EQ(ledger_->get(e)->state, ledger::AnalysisState::kBroadcast);
    ASSERT_TRUE(stop_devnet(options_).ok());
    auto down = sync_outbox(*ledger_, fresh, {});
    ASSERT_FALSE(down.ok());
    EXPECT_EQ(down.error().code(), ErrorCode::kNetwork);
    EXPECT_EQ(ledger_->get(e)->state, ledger::AnalysisState::kBroadcast);
    ASSERT_TRUE(start_devnet(options_).ok());
    auto settled = sync_outbox(*ledger_, fresh, {});
    ASSERT_TRUE(settled.ok()) << settled.error().message();
    EXPECT_EQ(ledger_->get(e)->state, ledger::AnalysisState::kConfirmed);

    // A recorded transaction whose nonce another transaction took: searched for, then sent afresh.
    const auto f = add('f', me);
    auto f_record = *ledger_->get(f);
    auto lost =
        fresh.sign(fresh.call(ledger::kSubmitAnalysis,
                              {Value::buffer(*stacks::from_hex(f_record.image_hash)),
                               Value::uint_(1), Value::ascii("nodule-present"), Value::uint_(9000),
                               Value::buffer(*stacks::from_hex(f_record.report_digest))}));
    ASSERT_TRUE(lost.ok());
    const auto lost_tx = recorded(*lost, me, f);
    ASSERT_TRUE(ledger_->record_transaction(lost_tx).ok());
    auto other = session("wallet_2");  // the same key elsewhere uses that nonce first
    // Any mined call takes the nonce; this one is refused (already registered), which is enough.
    auto taken = other.send_and_wait(
        other.call("register-professional", {digest("l2"), Value::ascii("radiology")}));
    ASSERT_TRUE(taken.ok()) << taken.error().message();
    auto recovered = sync_outbox(*ledger_, other, {});
    ASSERT_TRUE(recovered.ok()) << recovered.error().message();
    EXPECT_EQ(ledger_->transaction(lost->txid)->state, ledger::TxState::kDropped);
    EXPECT_EQ(ledger_->get(f)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_NE(ledger_->get(f)->txid, lost->txid);

    for (char c : {'a', 'b', 'c', 'd', 'e', 'f'})
        EXPECT_EQ(on_chain(c), 1u) << "image " << c;
}

// Two recorded transactions the node never saw, nonces n and n+1; the first is refused for a
// reason that is not its nonce (here a fee below the node's minimum). The second is then refused
// with BadNonce, but its nonce is still ahead of the account: it may yet be mined, so its analysis
// must stay with it. The outbox fills nonce n with a fresh transaction for the first analysis and
// then sends the second transaction's stored bytes again: each image once, the second by its
// original txid. (Releasing the second analysis instead would anchor it twice once anyone sent the
// stored bytes again, as a peer holding them would.)
TEST_F(OutboxOnDevnet, ATransactionBehindANonceGapKeepsItsAnalyses) {
    auto doctor = session("wallet_2");
    const std::string me = doctor.sender();
    const auto x = add('7', me);
    const auto y = add('8', me);
    const auto call = [&](ChainSession& s, std::int64_t id) {
        auto a = *ledger_->get(id);
        return s.call(ledger::kSubmitAnalysis,
                      {Value::buffer(*stacks::from_hex(a.image_hash)), Value::uint_(1),
                       Value::ascii(a.finding), Value::uint_(a.confidence_bp),
                       Value::buffer(*stacks::from_hex(a.report_digest))});
    };
    auto account = doctor.node().account(me);
    ASSERT_TRUE(account.ok()) << account.error().message();
    const std::uint64_t n = account->nonce;

    ChainConfig cheap_config = doctor.config();
    cheap_config.fee = 1;  // under 1 micro-STX per byte: the node refuses it (FeeTooLow)
    ChainSession cheap(cheap_config, devnet_key("wallet_2"));
    auto first = cheap.sign(call(cheap, x), n);
    ASSERT_TRUE(first.ok()) << first.error().message();
    ASSERT_EQ(first->nonce, n);
    ASSERT_TRUE(ledger_->record_transaction(recorded(*first, me, x)).ok());
    auto second = doctor.sign(call(doctor, y), n + 1);
    ASSERT_TRUE(second.ok()) << second.error().message();
    ASSERT_EQ(second->nonce, n + 1);
    ASSERT_TRUE(ledger_->record_transaction(recorded(*second, me, y)).ok());

    auto fresh = session("wallet_2");
    auto r = sync_outbox(*ledger_, fresh, {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(ledger_->transaction(first->txid)->state, ledger::TxState::kDropped);
    EXPECT_EQ(ledger_->transaction(second->txid)->state, ledger::TxState::kSuccess);
    EXPECT_EQ(ledger_->get(x)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_NE(ledger_->get(x)->txid, first->txid);
    EXPECT_EQ(ledger_->get(y)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_EQ(ledger_->get(y)->txid, second->txid);

    // Whoever sends the stored bytes again now, nothing is anchored twice.
    (void)fresh.node().broadcast(second->raw);
    (void)fresh.wait(second->txid);
    EXPECT_EQ(on_chain('7'), 1u);
    EXPECT_EQ(on_chain('8'), 1u);
}

TEST_F(OutboxOnDevnet, AnInactiveProfessionalIsRefusedAndNothingIsLost) {
    auto doctor = session("wallet_2");
    auto verifier = session("wallet_1");
    ok(verifier.send_and_wait(verifier.call(
        "suspend-professional",
        {Value::principal(*stacks::parse_address(doctor.sender())), Value::uint_(2)})));
    const auto a = add('a', doctor.sender());
    auto r = sync_outbox(*ledger_, doctor, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kContract);
    EXPECT_NE(r.error().message().find("ERR-SUSPENDED"), std::string::npos) << r.error().message();
    EXPECT_EQ(ledger_->get(a)->state, ledger::AnalysisState::kPending);
    EXPECT_EQ(on_chain('a'), 0u);
}

}  // namespace
}  // namespace medanchor::app
