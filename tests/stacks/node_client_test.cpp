// NodeClient against a real HTTP server on loopback (cpp-httplib) that answers the way a Stacks
// node does, including its failure modes. The end-to-end path against the local chain is in
// devnet_integration_test.cpp.
#include "stacks/node_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

namespace medanchor::stacks {
namespace {

using namespace std::chrono_literals;

class FakeNode {
  public:
    FakeNode() {
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        while (!server_.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~FakeNode() {
        server_.stop();
        thread_.join();
    }
    httplib::Server& server() { return server_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

RetryPolicy fast() {
    RetryPolicy p;
    p.attempts = 3;
    p.first_backoff = 5ms;
    p.request_timeout = 2000ms;
    return p;
}

TEST(NodeClient, RetriesTransientFailuresThenSucceeds) {
    FakeNode node;
    std::atomic<int> calls{0};
    node.server().Get("/v2/info", [&](const httplib::Request&, httplib::Response& res) {
        if (++calls < 3) {
            res.status = 503;
            return;
        }
        res.set_content(
            R"J({"network_id":2147483648,"stacks_tip_height":42,"burn_block_height":7,)J"
            R"J("server_version":"stacks-node test"})J",
            "application/json");
    });
    NodeClient client(node.url(), fast());
    auto info = client.info();
    ASSERT_TRUE(info.ok()) << info.error().message();
    EXPECT_EQ(calls.load(), 3);
    EXPECT_EQ(info->stacks_tip_height, 42u);
    EXPECT_EQ(info->network_id, 0x80000000u);
}

TEST(NodeClient, GivesUpAfterTheLastAttempt) {
    FakeNode node;
    std::atomic<int> calls{0};
    node.server().Get("/v2/info", [&](const httplib::Request&, httplib::Response& res) {
        ++calls;
        res.status = 500;
        res.set_content("boom", "text/plain");
    });
    NodeClient client(node.url(), fast());
    auto info = client.info();
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(calls.load(), 3);
    EXPECT_NE(info.error().message().find("HTTP 500"), std::string::npos);
}

TEST(NodeClient, ReportsAnUnreachableNode) {
    int port = 0;
    {
        FakeNode closed;  // take a free port, then close it
        port = std::stoi(closed.url().substr(closed.url().rfind(':') + 1));
    }
    NodeClient client("http://127.0.0.1:" + std::to_string(port), fast());
    auto info = client.info();
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code(), ErrorCode::kNetwork);
    EXPECT_NE(info.error().message().find("after 3 attempts"), std::string::npos);
}

TEST(NodeClient, TimesOutOnASilentNode) {
    FakeNode node;
    node.server().Get("/v2/info", [](const httplib::Request&, httplib::Response& res) {
        std::this_thread::sleep_for(600ms);
        res.set_content("{}", "application/json");
    });
    RetryPolicy p = fast();
    p.attempts = 1;
    p.request_timeout = 150ms;
    NodeClient client(node.url(), p);
    auto info = client.info();
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code(), ErrorCode::kTimeout);
}

TEST(NodeClient, SurfacesARejectionReasonInWords) {
    FakeNode node;
    node.server().Post("/v2/transactions", [](const httplib::Request& req, httplib::Response& res) {
        EXPECT_EQ(req.get_header_value("Content-Type"), "application/octet-stream");
        res.status = 400;
        res.set_content(
            R"J({"error":"transaction rejected","reason":"BadNonce",)J"
            R"J("reason_data":{"expected":3,"actual":5,"is_origin":true,)J"
            R"J("principal":"ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM"},"txid":"ab"})J",
            "application/json");
    });
    NodeClient client(node.url(), fast());
    const Bytes tx{0x80, 0, 0, 0, 1};
    auto r = client.broadcast(tx);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kRejected);
    EXPECT_NE(r.error().message().find("BadNonce (expected nonce 3, got 5)"), std::string::npos)
        << r.error().message();
}

TEST(NodeClient, ChecksTheAcknowledgedTxid) {
    FakeNode node;
    const Bytes tx{0x80, 1, 2, 3};
    const std::string id = to_hex(txid(tx));
    node.server().Post("/v2/transactions", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content("\"" + id + "\"", "application/json");
    });
    NodeClient client(node.url(), fast());
    auto r = client.broadcast(tx);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, id);
    const Bytes other{0x80, 9};
    EXPECT_FALSE(client.broadcast(other).ok());
}

TEST(NodeClient, ReadsAccountsMapsAndReadOnlyCalls) {
    FakeNode node;
    node.server().Get(
        R"J(/v2/accounts/(\w+))J", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(
                R"J({"balance":"0x0000000000000000000000e8d4a51000","locked":"0x0","nonce":7})J",
                "application/json");
        });
    node.server().Post(
        R"J(/v2/map_entry/.*)J", [](const httplib::Request& req, httplib::Response& res) {
            // present for key u1, absent otherwise
            const bool present = req.body == "\"0x" + to_hex(serialize(Value::uint_(1))) + "\"";
            res.set_content(present ? R"J({"data":"0x0a0100000000000000000000000000000005"})J"
                                    : R"J({"data":"0x09"})J",
                            "application/json");
        });
    node.server().Post(
        R"J(/v2/contracts/call-read/.*)J", [](const httplib::Request& req, httplib::Response& res) {
            if (req.path.ends_with("/missing")) {
                res.set_content(R"J({"okay":false,"cause":"Unchecked(NoSuchPublicFunction)"})J",
                                "application/json");
                return;
            }
            res.set_content(R"J({"okay":true,"result":"0x0703"})J", "application/json");
        });
    NodeClient client(node.url(), fast());
    auto acct = client.account("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM");
    ASSERT_TRUE(acct.ok()) << acct.error().message();
    EXPECT_EQ(acct->nonce, 7u);
    EXPECT_TRUE(acct->balance == static_cast<UInt128>(1000000000000ULL));
    EXPECT_FALSE(client.account("not-an-address").ok());

    const std::string contract = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medical-analysis";
    auto hit = client.map_entry(contract, "models", Value::uint_(1));
    ASSERT_TRUE(hit.ok()) << hit.error().message();
    ASSERT_TRUE(hit->has_value());
    EXPECT_EQ((*hit)->to_string(), "u5");
    auto miss = client.map_entry(contract, "models", Value::uint_(2));
    ASSERT_TRUE(miss.ok());
    EXPECT_FALSE(miss->has_value());

    auto ro = client.call_read_only(contract, "is-admin", {},
                                    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM");
    ASSERT_TRUE(ro.ok()) << ro.error().message();
    EXPECT_EQ(ro->to_string(), "(ok true)");
    auto missing =
        client.call_read_only(contract, "missing", {}, "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message().find("NoSuchPublicFunction"), std::string::npos);
    EXPECT_FALSE(client.call_read_only("no-dot", "f", {}, "x").ok());
}

TEST(NodeClient, ReadsTheChainClockOrSaysThereIsNone) {
    FakeNode with_api;
    with_api.server().Get("/extended/v2/blocks", [&](const httplib::Request& req,
                                                     httplib::Response& res) {
        EXPECT_EQ(req.get_param_value("limit"), "1");
        res.set_content(
            R"J({"limit":1,"offset":0,"total":9,"results":[{"height":9,"block_time":1790000000}]})J",
            "application/json");
    });
    auto t = NodeClient(with_api.url(), fast()).latest_block_time();
    ASSERT_TRUE(t.ok()) << t.error().message();
    EXPECT_EQ(*t, 1790000000u);

    FakeNode bare;  // a node without the API: every unknown path is a 404
    auto none = NodeClient(bare.url(), fast()).latest_block_time();
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), ErrorCode::kNotFound);

    FakeNode odd;
    odd.server().Get("/extended/v2/blocks", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"J({"results":[]})J", "application/json");
    });
    auto empty = NodeClient(odd.url(), fast()).latest_block_time();
    ASSERT_FALSE(empty.ok());
    EXPECT_EQ(empty.error().code(), ErrorCode::kNetwork);
}

TEST(NodeClient, RefusesGarbageFromTheNode) {
    FakeNode node;
    node.server().Get("/v2/info", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("<html>proxy error</html>", "text/html");
    });
    node.server().Post(
        R"J(/v2/contracts/call-read/.*)J", [](const httplib::Request&, httplib::Response& res) {
            res.set_content(R"J({"okay":true,"result":"0x0bffffffff"})J", "application/json");
        });
    NodeClient client(node.url(), fast());
    auto info = client.info();
    ASSERT_FALSE(info.ok());
    EXPECT_NE(info.error().message().find("not JSON"), std::string::npos);
    auto ro = client.call_read_only("ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.c", "f", {},
                                    "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM");
    ASSERT_FALSE(ro.ok());
    EXPECT_EQ(ro.error().code(), ErrorCode::kCorrupt);
}

TEST(NodeClient, FollowsATransactionToConfirmation) {
    FakeNode node;
    std::atomic<int> polls{0};
    node.server().Get(R"J(/extended/v1/tx/0x([0-9a-f]+))J", [&](const httplib::Request&,
                                                                httplib::Response& res) {
        if (++polls < 3) {
            res.set_content(R"J({"tx_status":"pending"})J", "application/json");
            return;
        }
        res.set_content(
            R"J({"tx_status":"abort_by_response","block_height":12,)J"
            R"J("tx_result":{"hex":"0x080100000000000000000000000000000427","repr":"(err u1063)"}})J",
            "application/json");
    });
    NodeClient client(node.url(), fast());
    const std::string id(64, 'a');
    auto s = client.wait_for_transaction(id, 2s, 5ms);
    ASSERT_TRUE(s.ok()) << s.error().message();
    EXPECT_EQ(s->state, TxState::kAbortByResponse);
    EXPECT_EQ(s->block_height, 12u);
    ASSERT_TRUE(s->result.has_value());
    EXPECT_EQ(s->result->to_string(), "(err u1063)");
    EXPECT_FALSE(client.transaction_status("xyz").ok());
}

TEST(NodeClient, WaitingGivesUpWithATimeout) {
    FakeNode node;
    node.server().Get(R"J(/extended/v1/tx/.*)J",
                      [](const httplib::Request&, httplib::Response& res) {
                          res.set_content(R"J({"tx_status":"pending"})J", "application/json");
                      });
    NodeClient client(node.url(), fast());
    auto s = client.wait_for_transaction(std::string(64, 'b'), 60ms, 20ms);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kTimeout);
}

}  // namespace
}  // namespace medanchor::stacks
