// The outbox against the real local chain: what a crash at each point leaves behind is settled by
// the next sync, and every analysis ends on chain exactly once. Every test runs twice: with the
// Stacks Blockchain API (transaction status by txid) and against the node's RPC alone (the
// account's nonce, then the contract's state), as against a plain stacks-node.
//   - batches: three analyses go in one submit-analyses transaction; a second sync sends nothing;
//   - killed after recording, before broadcasting: the stored bytes are sent again, same txid;
//   - the chain stopped after broadcast: restarted, the transaction is found mined and settled;
//   - the recorded transaction's nonce used by another one: the chain is searched, then the
//     analysis is sent afresh, once;
//   - a recorded transaction behind a nonce gap keeps its analysis: the gap is filled, then it is
//     sent again byte for byte;
//   - a broadcast whose answer was lost (a gateway in front of the node,
//   tests/chain/lossy_gateway.h)
//     and whose next try is refused: mined, its analyses are settled at once; not yet passed on,
//     the transaction keeps them and the next sync settles it, sending nothing new; a session's
//     call is not signed a second time.
#include "chain/anchoring_service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "app/devnet_fixture.h"
#include "chain/contract.h"
#include "chain/lossy_gateway.h"
#include "chain/proof_file.h"
#include "ledger/merkle_store.h"
#include "stacks/bytes.h"

namespace medanchor::chain {
namespace {

using namespace medanchor::chain;  // NOLINT: tests of the chain layer
using namespace medanchor::ops;

namespace fs = std::filesystem;
using stacks::Value;
using stacks::ValueKind;
using testing::devnet_key;
using testing::digest;

class OutboxOnDevnet : public ::testing::TestWithParam<bool> {
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

    // A session of a devnet account; `api` false: the node's RPC alone; `node`: another address
    // for the node's RPC (a gateway in front of it).
    ChainSession session(const std::string& account, bool api = true,
                         const std::string& node = "") {
        ChainConfig c;
        c.node_url = node.empty() ? "http://127.0.0.1:" + std::to_string(options_.port) : node;
        if (api)
            c.api_url = "http://127.0.0.1:" + std::to_string(options_.api_port);
        c.confirm_timeout = std::chrono::seconds(60);
        c.poll_interval = std::chrono::milliseconds(100);
        return ChainSession(*resolve(c), devnet_key(account));
    }
    // The session whose outbox is under test: with the API or without, per the test's parameter.
    ChainSession analyst(const std::string& account = "wallet_2") {
        return session(account, GetParam());
    }
    static void ok(const Result<Confirmed>& r) {
        ASSERT_TRUE(r.ok()) << r.error().message();
        ASSERT_EQ(r->status.state, stacks::TxState::kSuccess) << r->status.raw_status;
    }

    std::int64_t add(char image, const std::string& analyst, std::uint32_t confidence = 9000,
                     const std::string& report_dir = "") {
        ledger::NewAnalysis a;
        a.report_dir = report_dir;
        a.source_path = "x";
        a.image_hash = std::string(64, image);
        a.hash_mode = "hmac-sha256";
        a.model_sha256 = kModel;
        a.model_name = "m";
        a.model_version = "1";
        a.finding = "nodule-present";
        a.confidence_bp = confidence;
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

    std::optional<std::vector<std::int64_t>> race(
        char first, const std::vector<std::uint32_t>& confidences, const std::string& function,
        std::vector<Value> args, const OutboxOptions& outbox, Result<OutboxSummary>* settled);

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

// What a long-lived process (serve, listen) relies on: the service anchors in the background on
// its own ledger connection, a notify() wakes it for new analyses, the observer hears each
// transaction sent and confirmed, sync() is refused while it runs, and stop() joins it.
TEST_P(OutboxOnDevnet, TheBackgroundServiceAnchorsWhatItIsToldOfAndStops) {
    struct Heard : AnchoringObserver {
        std::mutex mutex;
        std::vector<std::string> events;
        void on_sent(const std::string& txid, const std::vector<std::int64_t>& ids) override {
            std::lock_guard lock(mutex);
            events.push_back("sent " + txid + " " + std::to_string(ids.size()));
        }
        void on_confirmed(const std::string& txid, std::size_t n, std::uint64_t) override {
            std::lock_guard lock(mutex);
            events.push_back("confirmed " + txid + " " + std::to_string(n));
        }
    } heard;
    auto doctor = analyst();
    const std::string me = doctor.sender();
    AnchoringService::Options options;
    options.outbox.observer = &heard;
    options.settle_interval = std::chrono::seconds(3600);  // only notify() wakes it here
    auto service = AnchoringService::open(dir_ / "ledger.sqlite", std::move(doctor), options);
    ASSERT_TRUE(service.ok()) << service.error().message();
    auto& anchoring = **service;
    anchoring.start();
    EXPECT_TRUE(anchoring.running());
    const auto wait_for = [&](std::uint64_t passes) {
        for (int i = 0; i < 600 && anchoring.passes() < passes; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return anchoring.passes() >= passes;
    };
    ASSERT_TRUE(wait_for(1));  // the first pass, at once: nothing to send
    ASSERT_TRUE(anchoring.last_summary());
    EXPECT_EQ(anchoring.last_summary()->sent, 0u);

    const auto a = add('3', me);
    const auto b = add('4', me);
    EXPECT_FALSE(anchoring.sync().ok()) << "sync() while the background thread runs";
    anchoring.notify();
    ASSERT_TRUE(wait_for(2));
    ASSERT_FALSE(anchoring.last_error()) << anchoring.last_error()->message();
    EXPECT_EQ(anchoring.last_summary()->sent, 2u);
    EXPECT_EQ(ledger_->get(a)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_EQ(ledger_->get(b)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_EQ(on_chain('3'), 1u);
    {
        std::lock_guard lock(heard.mutex);
        ASSERT_EQ(heard.events.size(), 2u);
        const std::string txid = *ledger_->get(a)->txid;
        EXPECT_EQ(heard.events[0], "sent " + txid + " 2");
        EXPECT_EQ(heard.events[1], "confirmed " + txid + " 2");
    }
    anchoring.stop();
    EXPECT_FALSE(anchoring.running());
    anchoring.stop();  // idempotent
    // Stopped: a one-shot pass works again, and finds nothing to do.
    auto once = anchoring.sync();
    ASSERT_TRUE(once.ok()) << once.error().message();
    EXPECT_EQ(once->sent, 0u);
}

TEST_P(OutboxOnDevnet, BatchesAndCrashRecoveryAnchorEachAnalysisOnce) {
    auto doctor = analyst();
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
    auto fresh = analyst();  // a new process: no nonce memory
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
    auto other = analyst();  // the same key elsewhere uses that nonce first
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
// The node's mempool takes at most 25 + 1 chained transactions of a sender beyond its confirmed
// nonce (TooMuchChaining). A burst that needs more (30 analyses, one a transaction) is sent 25
// at a time: a pass that may not wait leaves the rest pending, counted as waiting for room, and
// meets no refusal; one that waits sends the rest once confirmations have made room, and every
// analysis is on chain once.
TEST_P(OutboxOnDevnet, ABurstOfMoreThan25TransactionsWaitsForRoomInTheMempool) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    constexpr int kBurst = 30;
    std::vector<std::string> hashes;
    for (int i = 0; i < kBurst; ++i) {
        char tail[8];
        std::snprintf(tail, sizeof tail, "%04x", i);
        hashes.push_back(std::string(60, '7') + tail);
        ledger::NewAnalysis a;
        a.source_path = "x";
        a.image_hash = hashes.back();
        a.hash_mode = "hmac-sha256";
        a.model_sha256 = kModel;
        a.model_name = "m";
        a.model_version = "1";
        a.finding = "nodule-present";
        a.confidence_bp = 9000;
        a.report_json = "{\"r\":" + std::to_string(i) + "}";
        a.analyst = me;
        ASSERT_TRUE(ledger_->add(a).ok());
    }
    OutboxOptions one_each;
    one_each.batch = 1;
    one_each.wait = false;
    auto first = sync_outbox(*ledger_, doctor, one_each);
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(first->sent, kMaxChainedTransactions);
    EXPECT_EQ(first->txids.size(), kMaxChainedTransactions);
    EXPECT_EQ(first->chained_out, kBurst - kMaxChainedTransactions);
    EXPECT_EQ(first->deferred, 0u);
    for (const auto& p : first->problems)
        EXPECT_EQ(p.find("TooMuchChaining"), std::string::npos) << p;

    one_each.wait = true;
    auto rest = sync_outbox(*ledger_, doctor, one_each);
    ASSERT_TRUE(rest.ok()) << rest.error().message();
    EXPECT_EQ(rest->sent, kBurst - kMaxChainedTransactions);
    EXPECT_EQ(rest->chained_out, 0u);
    EXPECT_EQ(rest->deferred, 0u);
    for (const auto& p : rest->problems)
        EXPECT_EQ(p.find("TooMuchChaining"), std::string::npos) << p;
    EXPECT_EQ(ledger_->counts()->at(ledger::AnalysisState::kConfirmed),
              static_cast<std::size_t>(kBurst));
    auto reader = session("wallet_3");
    for (const auto& h : hashes) {
        auto stats = reader.read("get-image-stats", {Value::buffer(*stacks::from_hex(h))});
        ASSERT_TRUE(stats.ok()) << stats.error().message();
        EXPECT_EQ(stats->field("total")->as_uint(), 1u) << h;
    }
    // One transaction per nonce: the account's nonce counts them (the registration was 0).
    auto account = reader.node().account(me);
    ASSERT_TRUE(account.ok());
    EXPECT_EQ(account->nonce, 1u + kBurst);
}

TEST_P(OutboxOnDevnet, ATransactionBehindANonceGapKeepsItsAnalyses) {
    auto doctor = analyst();
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

    auto fresh = analyst();
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
    (void)fresh.wait({second->txid, second->nonce});
    EXPECT_EQ(on_chain('7'), 1u);
    EXPECT_EQ(on_chain('8'), 1u);
}

TEST_P(OutboxOnDevnet, AnInactiveProfessionalIsRefusedAndNothingIsLost) {
    auto doctor = analyst();
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

// The real race (issue 10): blocks come every second and the mempool orders by fee, so an admin's
// call sent right after a batch, with a higher fee, is mined before it in the same block. Sends
// `count` new analyses (images `first`, `first` + 1, ...) in one batch without waiting, then at
// once `overtaking` from the admin at ten times the fee, waits for the admin's call, and settles
// with `outbox`. Returns the analyses' ids, or nothing when a block boundary fell between the two
// sends and the batch was mined first (the try proves nothing; the caller undoes the admin's call
// and tries again).
std::optional<std::vector<std::int64_t>> OutboxOnDevnet::race(
    char first, const std::vector<std::uint32_t>& confidences, const std::string& function,
    std::vector<Value> args, const OutboxOptions& outbox, Result<OutboxSummary>* settled) {
    ChainConfig c = analyst().config();
    c.fee = 5'000;
    ChainSession doctor(c, devnet_key("wallet_2"));
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < confidences.size(); ++i)
        ids.push_back(add(static_cast<char>(first + i), doctor.sender(), confidences[i]));
    OutboxOptions send_only = outbox;
    send_only.wait = false;
    auto sent = sync_outbox(*ledger_, doctor, send_only);
    EXPECT_TRUE(sent.ok()) << sent.error().message();
    EXPECT_EQ(sent->txids.size(), 1u);

    ChainConfig a = session("deployer").config();
    a.fee = 50'000;
    ChainSession admin(a, devnet_key("deployer"));
    ok(admin.send_and_wait(admin.call(function, std::move(args))));

    // Settles the batch. While the contract is paused the same sync then sends nothing and says
    // so (kContract): the settlement stands, as the ledger shows.
    *settled = sync_outbox(*ledger_, doctor, outbox);
    bool mined_first = true;
    for (auto id : ids)
        mined_first = mined_first && ledger_->get(id)->state == ledger::AnalysisState::kConfirmed;
    if (mined_first)
        return std::nullopt;
    return ids;
}

// A batch overtaken by the admin's pause is refused with ERR-PAUSED, a condition that passes: its
// analyses go back to pending with no attempt counted, nothing is sent while the contract is
// paused, and they anchor once it runs again.
TEST_P(OutboxOnDevnet, ABatchOvertakenByAPauseStaysPendingAndAnchorsAfterUnpause) {
    auto admin = session("deployer");
    OutboxOptions once;
    once.max_attempts = 1;  // a counted attempt would fail them at once
    std::optional<std::vector<std::int64_t>> ids;
    Result<OutboxSummary> r = Error(ErrorCode::kInternal, "not run");
    for (int attempt = 0; attempt < 3 && !ids; ++attempt) {
        ids = race(static_cast<char>('1' + 3 * attempt), {9000, 9000, 9000}, "pause", {}, once, &r);
        if (!ids)
            ok(admin.send_and_wait(admin.call("unpause", {})));
    }
    ASSERT_TRUE(ids) << "the admin's pause never overtook the batch in three tries";
    ASSERT_FALSE(r.ok()) << "settled, then nothing sent while paused";
    EXPECT_EQ(r.error().code(), ErrorCode::kContract);
    EXPECT_NE(r.error().message().find("paused"), std::string::npos) << r.error().message();
    for (auto id : *ids) {
        auto a = *ledger_->get(id);
        EXPECT_EQ(a.state, ledger::AnalysisState::kPending) << a.last_error;
        EXPECT_EQ(a.attempts, 0);
        EXPECT_NE(a.last_error.find("paused"), std::string::npos) << a.last_error;
    }
    // Still paused: the next sync sends nothing and says why.
    auto doctor = analyst();
    auto blocked = sync_outbox(*ledger_, doctor, once);
    ASSERT_FALSE(blocked.ok());
    EXPECT_EQ(blocked.error().code(), ErrorCode::kContract);

    ok(admin.send_and_wait(admin.call("unpause", {})));
    auto after = sync_outbox(*ledger_, doctor, once);
    ASSERT_TRUE(after.ok()) << after.error().message();
    EXPECT_EQ(after->confirmed, 3u);
    for (auto id : *ids) {
        auto a = *ledger_->get(id);
        EXPECT_EQ(a.state, ledger::AnalysisState::kConfirmed);
        EXPECT_EQ(on_chain(a.image_hash.front()), 1u) << a.image_hash;
    }
}

// A batch overtaken by a raised threshold is refused for one item (submit-analyses names it;
// without the API the contract's state explains it). That item is held for review with the reason,
// and the other two are sent again in the same sync and anchored.
TEST_P(OutboxOnDevnet, ABatchOvertakenByARaisedThresholdAnchorsAllButTheLowItem) {
    auto admin = session("deployer");
    std::optional<std::vector<std::int64_t>> ids;
    Result<OutboxSummary> r = Error(ErrorCode::kInternal, "not run");
    for (int attempt = 0; attempt < 3 && !ids; ++attempt) {
        ids = race(static_cast<char>('1' + 3 * attempt), {9000, 6500, 9000}, "set-min-confidence",
                   {Value::uint_(7000)}, {}, &r);
        if (!ids)
            ok(admin.send_and_wait(admin.call("set-min-confidence", {Value::uint_(5000)})));
    }
    ASSERT_TRUE(ids) << "the admin's call never overtook the batch in three tries";
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->held, 1u);
    EXPECT_EQ(r->confirmed, 2u);
    const auto batch = *ledger_->transaction(*ledger_->get((*ids)[1])->txid);
    EXPECT_NE(batch.state, ledger::TxState::kBroadcast);
    auto low = *ledger_->get((*ids)[1]);
    EXPECT_EQ(low.state, ledger::AnalysisState::kNeedsReview);
    EXPECT_NE(low.review_reason.find("ERR-CONFIDENCE-BELOW-THRESHOLD"), std::string::npos)
        << low.review_reason;
    EXPECT_EQ(on_chain(low.image_hash.front()), 0u);
    for (auto id : {(*ids)[0], (*ids)[2]}) {
        auto a = *ledger_->get(id);
        EXPECT_EQ(a.state, ledger::AnalysisState::kConfirmed) << a.last_error;
        EXPECT_EQ(a.attempts, 0);
        EXPECT_NE(a.txid, batch.txid);
        EXPECT_EQ(on_chain(a.image_hash.front()), 1u) << a.image_hash;
    }
}

// Two sessions of one key (two processes, or the test's admin and a fresh one): the one whose
// remembered nonce the other used is refused BadNonce by the node, and sends the same call once
// more with the nonce the node names, instead of failing.
TEST_P(OutboxOnDevnet, ASessionWhoseNonceAnotherUsedSendsWithTheNodesNonce) {
    auto first = session("deployer", GetParam());
    ok(first.send_and_wait(first.call("set-min-confidence", {Value::uint_(5001)})));
    auto second = session("deployer", GetParam());
    ok(second.send_and_wait(second.call("set-min-confidence", {Value::uint_(5002)})));
    auto again = first.send_and_wait(first.call("set-min-confidence", {Value::uint_(5003)}));
    ok(again);
    auto parameters = first.read("get-parameters", {});
    ASSERT_TRUE(parameters.ok()) << parameters.error().message();
    const Value* min = parameters->field("min-confidence");
    ASSERT_NE(min, nullptr);
    EXPECT_EQ(*min, Value::uint_(5003));
}

// Refusals at the node's door that pass with time (a fee below the minimum, not enough funds) leave
// the analyses pending with no attempt counted; they anchor once the condition is gone.
TEST_P(OutboxOnDevnet, RefusalsThatCanPassCountNoAttempt) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    const std::vector<std::int64_t> ids = {add('a', me), add('b', me)};
    OutboxOptions once;
    once.max_attempts = 1;
    for (std::uint64_t fee : {std::uint64_t{1}, std::uint64_t{1'000'000'000'000'000}}) {
        ChainConfig c = doctor.config();
        c.fee = fee;  // 1: FeeTooLow; 10^15 micro-STX: more than the account holds
        ChainSession s(c, devnet_key("wallet_2"));
        auto r = sync_outbox(*ledger_, s, once);
        ASSERT_TRUE(r.ok()) << r.error().message();
        EXPECT_EQ(r->deferred, 2u);
        ASSERT_FALSE(r->problems.empty());
        EXPECT_NE(r->problems.front().find(fee == 1 ? "FeeTooLow" : "NotEnoughFunds"),
                  std::string::npos)
            << r->problems.front();
        for (auto id : ids) {
            auto a = *ledger_->get(id);
            EXPECT_EQ(a.state, ledger::AnalysisState::kPending);
            EXPECT_EQ(a.attempts, 0);
        }
    }
    auto r = sync_outbox(*ledger_, doctor, once);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->confirmed, 2u);
    EXPECT_EQ(on_chain('a'), 1u);
    EXPECT_EQ(on_chain('b'), 1u);
}

// Merkle mode: pending analyses wait for their root until it is full or due (or flushed, as
// `sync` does), each root carries at most root_size leaves of one model, and once confirmed
// every analysis is confirmed and has a proof file beside its report that verify-leaf accepts
// on chain. A second pass sends nothing.
TEST_P(OutboxOnDevnet, MerkleRootsAnchorPendingAnalysesAndWriteTheirProofs) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    std::vector<std::int64_t> ids;
    std::vector<fs::path> folders;
    const std::string images = "56789";
    for (std::size_t i = 0; i < images.size(); ++i) {
        folders.push_back(dir_ / "reports" / std::string(1, images[i]));
        fs::create_directories(folders.back());
        ids.push_back(
            add(images[i], me, static_cast<std::uint32_t>(9000 + i), folders.back().string()));
    }
    OutboxOptions merkle;
    merkle.mode = AnchorMode::kMerkle;
    merkle.root_every = std::chrono::seconds(3600);
    merkle.root_size = 100;
    auto early = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(early.ok()) << early.error().message();
    EXPECT_EQ(early->sent, 0u) << "a root that is neither full nor due waits";
    EXPECT_EQ(early->waiting, 5u);

    merkle.root_size = 4;  // one full root of the four oldest; the fifth waits
    auto full = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(full.ok()) << full.error().message();
    EXPECT_EQ(full->roots, 1u);
    EXPECT_EQ(full->sent, 4u);
    EXPECT_EQ(full->confirmed, 4u);
    EXPECT_EQ(full->proofs, 4u);
    EXPECT_EQ(full->waiting, 1u);
    EXPECT_EQ(ledger_->get(ids[4])->state, ledger::AnalysisState::kPending);

    merkle.flush = true;
    auto rest = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(rest.ok()) << rest.error().message();
    EXPECT_EQ(rest->roots, 1u);
    EXPECT_EQ(rest->sent, 1u);
    auto again = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->sent, 0u);
    EXPECT_EQ(again->proofs, 0u);

    auto store = ledger::MerkleStore::open(ledger_->path());
    ASSERT_TRUE(store.ok());
    EXPECT_EQ(store->roots(ledger::RootState::kConfirmed)->size(), 2u);
    auto reader = session("wallet_3");
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto a = ledger_->get(ids[i]);
        EXPECT_EQ(a->state, ledger::AnalysisState::kConfirmed);
        EXPECT_EQ(on_chain(images[i]), 0u) << "no record: the root anchors it";
        auto proof = read_proof_file(folders[i] / "anchor.proof.json");
        ASSERT_TRUE(proof.ok()) << proof.error().message();
        EXPECT_TRUE(verify_proof(*proof));
        EXPECT_EQ(proof->size, i < 4 ? 4u : 1u);
        EXPECT_EQ(proof->anchor.root_id, *a->onchain_id);
        EXPECT_EQ(proof->leaf.confidence, 9000 + i);
        auto verdict = reader.read("verify-leaf", *proof_arguments(*proof));
        ASSERT_TRUE(verdict.ok()) << verdict.error().message();
        ASSERT_EQ(verdict->kind(), ValueKind::kOk) << verdict->to_string();
        EXPECT_TRUE(verdict->inner().field("valid")->as_bool());
        EXPECT_EQ(uint_field(verdict->inner(), "burn-block-height"),
                  proof->anchor.burn_block_height);
    }
}

// A report folder that is away when its root confirms (an unmounted share, a folder being
// moved) gets its proof on a later pass once it is back: the root is not marked done while one
// of its proofs is unwritten.
TEST_P(OutboxOnDevnet, AProofWhoseReportFolderWasAwayIsWrittenWhenItIsBack) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    const fs::path here = dir_ / "reports" / "p";
    const fs::path away = dir_ / "reports" / "p.away";
    const fs::path other = dir_ / "reports" / "q";
    fs::create_directories(here);
    fs::create_directories(other);
    add('e', me, 9100, here.string());  // image hashes are 64 hex digits
    add('f', me, 9200, other.string());
    fs::rename(here, away);

    OutboxOptions merkle;
    merkle.mode = AnchorMode::kMerkle;
    merkle.flush = true;
    auto first = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_EQ(first->confirmed, 2u);
    EXPECT_EQ(first->proofs, 1u);
    ASSERT_FALSE(first->problems.empty());
    EXPECT_NE(first->problems.front().find("is missing"), std::string::npos)
        << first->problems.front();
    EXPECT_TRUE(fs::exists(other / "anchor.proof.json"));

    fs::rename(away, here);
    auto second = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(second.ok()) << second.error().message();
    EXPECT_EQ(second->sent, 0u);
    EXPECT_EQ(second->proofs, 1u) << "the folder is back: its proof is written now";
    auto proof = read_proof_file(here / "anchor.proof.json");
    ASSERT_TRUE(proof.ok()) << proof.error().message();
    EXPECT_TRUE(verify_proof(*proof));
    EXPECT_EQ(proof->leaf.confidence, 9100u);

    auto third = sync_outbox(*ledger_, doctor, merkle);
    ASSERT_TRUE(third.ok()) << third.error().message();
    EXPECT_EQ(third->proofs, 0u);
    EXPECT_TRUE(third->problems.empty());
}

// Killed after the root is stored, before it was broadcast: the next pass sends the stored bytes
// (same txid), confirms the root and writes every proof. Killed after the broadcast, before the
// confirmation was recorded: the next pass finds the root mined. Either way no analysis is a
// leaf of two roots and the chain holds each root once.
TEST_P(OutboxOnDevnet, AMerkleRootStoredBeforeACrashIsSentOnceAndItsProofsWritten) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    const fs::path folder = dir_ / "reports" / "u";
    fs::create_directories(folder);
    const auto u = add('1', me, 9000, folder.string());
    const auto v = add('2', me, 9100);
    ASSERT_TRUE(ledger_->set_model_id(u, 1).ok());
    ASSERT_TRUE(ledger_->set_model_id(v, 1).ok());
    std::vector<LeafFields> leaves{*leaf_fields(*ledger_->get(u)), *leaf_fields(*ledger_->get(v))};
    auto tree = MerkleTree::from_leaves(leaves);
    ASSERT_TRUE(tree.ok());
    auto signed_tx = doctor.sign(doctor.call(
        kAnchorRoot, {Value::buffer(stacks::Bytes(tree->root().begin(), tree->root().end())),
                      Value::uint_(2), Value::uint_(1), Value::uint_(9000)}));
    ASSERT_TRUE(signed_tx.ok());
    ledger::NewRoot root;
    root.root = stacks::to_hex(tree->root());
    root.analyst = me;
    root.model_id = 1;
    root.lowest_confidence = 9000;
    root.txid = signed_tx->txid;
    root.raw_hex = stacks::to_hex(signed_tx->raw);
    root.nonce = signed_tx->nonce;
    root.fee = signed_tx->fee;
    root.analysis_ids = {u, v};
    root.leaf_hashes = {stacks::to_hex(tree->leaf_hash(0)), stacks::to_hex(tree->leaf_hash(1))};
    auto store = ledger::MerkleStore::open(ledger_->path());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE(store->store_root(root).ok());
    // ... and the process dies here. A new one, in Merkle mode and flushing, must not put u or
    // v into a second root.
    OutboxOptions merkle;
    merkle.mode = AnchorMode::kMerkle;
    merkle.flush = true;
    auto fresh = analyst();
    auto resumed = sync_outbox(*ledger_, fresh, merkle);
    ASSERT_TRUE(resumed.ok()) << resumed.error().message();
    EXPECT_EQ(resumed->resent, 1u);
    EXPECT_EQ(resumed->roots, 0u);
    EXPECT_EQ(resumed->sent, 0u);
    EXPECT_EQ(resumed->proofs, 1u);
    EXPECT_EQ(ledger_->get(u)->state, ledger::AnalysisState::kConfirmed);
    EXPECT_EQ(ledger_->get(v)->state, ledger::AnalysisState::kConfirmed);
    auto proof = read_proof_file(folder / "anchor.proof.json");
    ASSERT_TRUE(proof.ok()) << proof.error().message();
    EXPECT_EQ(stacks::to_hex(proof->anchor.txid), signed_tx->txid);

    // Broadcast, then killed before the confirmation was recorded.
    const auto w = add('3', me);
    OutboxOptions no_wait = merkle;
    no_wait.wait = false;
    auto sent = sync_outbox(*ledger_, fresh, no_wait);
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    ASSERT_EQ(sent->roots, 1u);
    EXPECT_EQ(ledger_->get(w)->state, ledger::AnalysisState::kPending);
    auto later = analyst();
    auto settled = sync_outbox(*ledger_, later, merkle);
    ASSERT_TRUE(settled.ok()) << settled.error().message();
    EXPECT_EQ(settled->roots, 0u);
    EXPECT_EQ(settled->confirmed, 1u);
    EXPECT_EQ(ledger_->get(w)->state, ledger::AnalysisState::kConfirmed);
    auto roots = store->roots();
    ASSERT_TRUE(roots.ok());
    EXPECT_EQ(roots->size(), 2u);
    for (const auto& r : *roots)
        EXPECT_EQ(r.state, ledger::RootState::kConfirmed);
}

// The node took each transaction on a try whose answer was lost, and mined it; the next try is
// answered BadNonce by a node that never saw it. The analyses are on chain: they are settled now
// as mined, the next transaction goes on, and nothing is sent for them again.
TEST_P(OutboxOnDevnet, ABatchTakenOnATryWhoseAnswerWasLostIsSettledNotSentAgain) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    const std::vector<std::int64_t> ids = {add('a', me), add('b', me)};
    testing::LossyGateway gateway(options_.port, me, testing::LossyGateway::Mode::kTakenThenMined);
    auto through = session("wallet_2", GetParam(), gateway.url());
    OutboxOptions one_each;
    one_each.batch = 1;
    auto r = sync_outbox(*ledger_, through, one_each);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(gateway.lost(), 2);
    EXPECT_EQ(r->txids.size(), 2u);
    EXPECT_EQ(r->confirmed, 2u);
    EXPECT_EQ(r->deferred, 0u);
    for (auto id : ids)
        EXPECT_EQ(ledger_->get(id)->state, ledger::AnalysisState::kConfirmed) << id;
    auto again = sync_outbox(*ledger_, doctor, {});
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(again->sent, 0u);
    EXPECT_EQ(on_chain('a'), 1u);
    EXPECT_EQ(on_chain('b'), 1u);
}

// A node took the batch on a try whose answer was lost but has not passed it on yet; the next try
// is refused by another node (a fee below its minimum). The transaction may still be mined, so it
// keeps its analyses; once it reaches the chain the next sync settles it and sends nothing new.
TEST_P(OutboxOnDevnet, ABatchRefusedAfterATryWhoseAnswerWasLostStaysWithItsTransaction) {
    auto doctor = analyst();
    const std::string me = doctor.sender();
    const std::vector<std::int64_t> ids = {add('a', me), add('b', me)};
    testing::LossyGateway gateway(options_.port, me, testing::LossyGateway::Mode::kHeldThenRefused,
                                  "FeeTooLow");
    auto through = session("wallet_2", GetParam(), gateway.url());
    auto r = sync_outbox(*ledger_, through, {});
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(gateway.lost(), 1);
    EXPECT_EQ(r->confirmed, 0u);
    for (auto id : ids)
        EXPECT_EQ(ledger_->get(id)->state, ledger::AnalysisState::kBroadcast) << id;
    ASSERT_TRUE(gateway.deliver());
    auto settled = sync_outbox(*ledger_, doctor, {});
    ASSERT_TRUE(settled.ok()) << settled.error().message();
    EXPECT_EQ(settled->sent, 0u);
    EXPECT_EQ(settled->confirmed, 2u);
    for (auto id : ids)
        EXPECT_EQ(ledger_->get(id)->state, ledger::AnalysisState::kConfirmed) << id;
    EXPECT_EQ(on_chain('a'), 1u);
    EXPECT_EQ(on_chain('b'), 1u);
}

// A call taken on a try whose answer was lost and mined, its next try refused BadNonce: the session
// does not sign the call again with the next nonce (that would carry it out twice); it waits for
// the first and reports it.
TEST_P(OutboxOnDevnet, ACallTakenOnATryWhoseAnswerWasLostIsNotSentTwice) {
    auto admin = session("deployer", GetParam());
    testing::LossyGateway gateway(options_.port, admin.sender(),
                                  testing::LossyGateway::Mode::kTakenThenMined);
    auto through = session("deployer", GetParam(), gateway.url());
    auto before = admin.node().account(admin.sender());
    ASSERT_TRUE(before.ok()) << before.error().message();
    auto done = through.send_and_wait(through.call("set-min-confidence", {Value::uint_(5004)}));
    ok(done);
    EXPECT_EQ(gateway.lost(), 1);
    auto after = admin.node().account(admin.sender());
    ASSERT_TRUE(after.ok()) << after.error().message();
    EXPECT_EQ(after->nonce, before->nonce + 1);
}

INSTANTIATE_TEST_SUITE_P(Confirmation, OutboxOnDevnet, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                             return info.param ? "WithApi" : "NodeRpcOnly";
                         });

}  // namespace
}  // namespace medanchor::chain
