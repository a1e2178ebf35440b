// NodeClient against a real HTTP server on loopback (cpp-httplib) that answers the way a Stacks
// node and the Stacks Blockchain API do, including their failure modes, and with the responses
// their published specifications record (fixtures/, see its README). The end-to-end path against
// the local chain is in devnet_integration_test.cpp.
#include "stacks/node_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
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

// A recorded response body (fixtures/README.md names each one's source).
std::string fixture(const std::string& name) {
    std::ifstream in(std::string(MEDANCHOR_STACKS_FIXTURES) + "/" + name);
    EXPECT_TRUE(in) << "missing fixture " << name;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

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
    with_api.server().Get("/extended/v2/blocks",
                          [&](const httplib::Request& req, httplib::Response& res) {
                              EXPECT_EQ(req.get_param_value("limit"), "1");
                              res.set_content(fixture("api/blocks.json"), "application/json");
                          });
    auto t = NodeClient("http://127.0.0.1:1", fast(), with_api.url()).latest_block_time();
    ASSERT_TRUE(t.ok()) << t.error().message();
    EXPECT_EQ(*t, 1790000123u);

    // No API configured: nothing is asked.
    auto none = NodeClient(with_api.url(), fast()).latest_block_time();
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), ErrorCode::kUnsupported);

    FakeNode bare;  // a node given as the API: its 404 for every path it does not serve
    bare.server().Get(".*", [](const httplib::Request&, httplib::Response& res) {
        res.status = 404;
        res.set_content(fixture("node/not-found.txt"), "text/plain");
    });
    auto plain = NodeClient(bare.url(), fast(), bare.url()).latest_block_time();
    ASSERT_FALSE(plain.ok());
    EXPECT_EQ(plain.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(plain.error().message().find("--api"), std::string::npos);

    FakeNode odd;
    odd.server().Get("/extended/v2/blocks", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"J({"results":[]})J", "application/json");
    });
    auto empty = NodeClient(odd.url(), fast(), odd.url()).latest_block_time();
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
    NodeClient client("http://127.0.0.1:1", fast(), node.url());  // the API has its own URL
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
    NodeClient client(node.url(), fast(), node.url());
    auto s = client.wait_for_transaction(std::string(64, 'b'), 60ms, 20ms);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kTimeout);
}

// Issue 10: a plain stacks-node answers every /extended path with a text 404. Taken as "this
// transaction is unknown", it made the outbox send the same bytes again on every sync and never
// settle; it means "no API here".
TEST(NodeClient, APlainNodeIsNotAnApi) {
    FakeNode node;
    node.server().Get(".*", [](const httplib::Request&, httplib::Response& res) {
        res.status = 404;
        res.set_content(fixture("node/not-found.txt"), "text/plain");
    });
    const std::string id(64, 'c');
    auto s = NodeClient(node.url(), fast(), node.url()).transaction_status(id);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(s.error().message().find("No such API endpoint"), std::string::npos)
        << s.error().message();
    // Without an API URL nothing is asked of the node's /extended paths at all.
    std::atomic<int> asked{0};
    FakeNode counting;
    counting.server().Get(".*", [&](const httplib::Request&, httplib::Response& res) {
        ++asked;
        res.status = 404;
    });
    auto none = NodeClient(counting.url(), fast()).transaction_status(id);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().code(), ErrorCode::kUnsupported);
    EXPECT_EQ(asked.load(), 0);
}

// Every transaction status the API's schema defines, as recorded in fixtures/api.
TEST(NodeClient, ReadsEveryTransactionStatusTheApiRecords) {
    struct Case {
        const char* file;
        int http_status;
        TxState state;
        const char* raw;
        const char* result;
    };
    const Case cases[] = {
        {"tx-success.json", 200, TxState::kSuccess, "success",
         "(ok (tuple (first-id u5) (last-id u7)))"},
        {"tx-abort-by-response-item.json", 200, TxState::kAbortByResponse, "abort_by_response",
         "(err (tuple (code u1063) (index (some u1))))"},
        {"tx-abort-by-response-paused.json", 200, TxState::kAbortByResponse, "abort_by_response",
         "(err (tuple (code u1010) (index none)))"},
        {"tx-pending.json", 200, TxState::kPending, "pending", ""},
        {"tx-dropped-replace-by-fee.json", 200, TxState::kDropped, "dropped_replace_by_fee", ""},
        {"tx-dropped-replace-across-fork.json", 200, TxState::kDropped,
         "dropped_replace_across_fork", ""},
        {"tx-dropped-too-expensive.json", 200, TxState::kDropped, "dropped_too_expensive", ""},
        {"tx-dropped-stale-garbage-collect.json", 200, TxState::kDropped,
         "dropped_stale_garbage_collect", ""},
        {"tx-dropped-problematic.json", 200, TxState::kDropped, "dropped_problematic", ""},
        {"tx-not-found.json", 404, TxState::kUnknown, "", ""},
        {"tx-not-found-express.json", 404, TxState::kUnknown, "", ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        const std::string body = fixture(std::string("api/") + c.file);
        FakeNode api;
        std::string requested;
        api.server().Get(R"J(/extended/v1/tx/(.*))J",
                         [&](const httplib::Request& req, httplib::Response& res) {
                             requested = req.matches[1];
                             res.status = c.http_status;
                             res.set_content(body, "application/json");
                         });
        const auto j = nlohmann::json::parse(body);
        const std::string id =
            j.contains("tx_id") ? j["tx_id"].get<std::string>().substr(2) : std::string(64, 'a');
        auto s = NodeClient("http://127.0.0.1:1", fast(), api.url()).transaction_status(id);
        ASSERT_TRUE(s.ok()) << s.error().message();
        EXPECT_EQ(requested, "0x" + id);
        EXPECT_EQ(s->state, c.state);
        EXPECT_EQ(s->raw_status, c.raw);
        EXPECT_EQ(s->result ? s->result->to_string() : "", c.result);
        if (c.state == TxState::kSuccess || c.state == TxState::kAbortByResponse) {
            EXPECT_EQ(s->block_height, 3201u);
            EXPECT_EQ(s->block_time, 1790000123u);
        }
        if (j.contains("replaced_by_tx_id") && j["replaced_by_tx_id"].is_string()) {
            EXPECT_EQ(s->replaced_by, j["replaced_by_tx_id"].get<std::string>());
        }
    }
    // A route the API does not have, or has retired: no answer about the transaction.
    for (const auto& [file, status] :
         {std::pair{"api/route-not-found.json", 404}, std::pair{"api/tx-gone.json", 410}}) {
        SCOPED_TRACE(file);
        FakeNode api;
        api.server().Get(".*", [file, status](const httplib::Request&, httplib::Response& res) {
            res.status = status;
            res.set_content(fixture(file), "application/json");
        });
        auto s = NodeClient("http://127.0.0.1:1", fast(), api.url())
                     .transaction_status(std::string(64, '9'));
        ASSERT_FALSE(s.ok());
        EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported) << s.error().message();
    }
}

// The node's recorded answers, read as the specification means them; the requests carry only
// what the specification's request schemas allow.
TEST(NodeClient, ReadsRecordedNodeAnswersAndAsksInTheSpecifiedShape) {
    FakeNode node;
    const std::regex hex_value("^(0x)?([0-9a-fA-F]{2})+$");
    node.server().Get("/v2/info", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(fixture("node/info.json"), "application/json");
    });
    node.server().Get(R"J(/v2/accounts/(S[0-9A-Z]+))J",
                      [](const httplib::Request& req, httplib::Response& res) {
                          EXPECT_EQ(req.get_param_value("proof"), "0");
                          res.set_content(fixture("node/account.json"), "application/json");
                      });
    node.server().Post(
        R"J(/v2/contracts/call-read/(S[0-9A-Z]+)/([a-zA-Z][a-zA-Z0-9_-]*)/([a-z-]+))J",
        [&](const httplib::Request& req, httplib::Response& res) {
            // read-only-function-args.schema.yaml: {sender, sponsor?, arguments: [hex]}, no more.
            const auto body = nlohmann::json::parse(req.body);
            for (const auto& [k, v] : body.items())
                EXPECT_TRUE(k == "sender" || k == "sponsor" || k == "arguments") << k;
            EXPECT_TRUE(body["sender"].is_string());
            for (const auto& a : body["arguments"])
                EXPECT_TRUE(std::regex_match(a.get<std::string>(), hex_value));
            res.set_content(fixture(req.matches[3] == "missing" ? "node/call-read-failure.json"
                                                                : "node/call-read-success.json"),
                            "application/json");
        });
    node.server().Post(
        R"J(/v2/map_entry/.*)J", [&](const httplib::Request& req, httplib::Response& res) {
            EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
            // The key is a JSON string holding the hex of the serialized value.
            const auto body = nlohmann::json::parse(req.body);
            EXPECT_TRUE(body.is_string() && std::regex_match(body.get<std::string>(), hex_value));
            res.set_content(fixture("node/map-entry.json"), "application/json");
        });
    node.server().Post(
        "/v2/fees/transaction", [](const httplib::Request& req, httplib::Response& res) {
            // fee-transaction-request.schema.yaml: {transaction_payload, estimated_len?}, no more.
            const auto body = nlohmann::json::parse(req.body);
            for (const auto& [k, v] : body.items())
                EXPECT_TRUE(k == "transaction_payload" || k == "estimated_len") << k;
            EXPECT_TRUE(body["transaction_payload"].is_string());
            EXPECT_TRUE(body["estimated_len"].is_number_integer());
            res.set_content(fixture("node/fee-transaction.json"), "application/json");
        });
    NodeClient client(node.url(), fast());
    auto info = client.info();
    ASSERT_TRUE(info.ok()) << info.error().message();
    EXPECT_EQ(info->network_id, 1u);
    EXPECT_EQ(info->stacks_tip_height, 1832097u);
    EXPECT_EQ(info->burn_block_height, 16u);
    EXPECT_NE(info->server_version.find("stacks-node 3.1"), std::string::npos);

    auto account = client.account("ST2ZRX0K27GW0SP3GJCEMHD95TQGJMKB7G9Y0X1MH");
    ASSERT_TRUE(account.ok()) << account.error().message();
    EXPECT_EQ(account->nonce, 2867u);
    EXPECT_TRUE(account->balance == static_cast<UInt128>(500000));

    const std::string contract = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM.medical-analysis";
    const std::string sender = "ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM";
    auto ok = client.call_read_only(contract, "get-parameters", {Value::uint_(1)}, sender);
    ASSERT_TRUE(ok.ok()) << ok.error().message();
    EXPECT_EQ(ok->to_string(), "u1");
    auto refused = client.call_read_only(contract, "missing", {}, sender);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kContract);
    EXPECT_NE(refused.error().message().find("NotReadOnly"), std::string::npos);

    auto entry = client.map_entry(contract, "analyses", Value::uint_(1));
    ASSERT_TRUE(entry.ok()) << entry.error().message();
    ASSERT_TRUE(entry->has_value());
    EXPECT_EQ((*entry)->to_string(), "(tuple (monster-id u1))");

    auto fee = client.estimate_fee(Bytes{0x02, 0x1a}, 200);
    ASSERT_TRUE(fee.ok()) << fee.error().message();
    EXPECT_EQ(*fee, 125u);  // the middle of the three estimations
}

// Without an estimate (a node that has not seen the call, or runs no estimator) the fee is the
// transfer rate times the length; any other failure is an error, never a guess.
TEST(NodeClient, FallsBackToTheTransferRateOnlyWithoutAnEstimate) {
    for (const char* file :
         {"node/fee-transaction-no-estimate.json", "node/fee-transaction-disabled.json"}) {
        SCOPED_TRACE(file);
        FakeNode node;
        node.server().Post("/v2/fees/transaction",
                           [file](const httplib::Request&, httplib::Response& res) {
                               res.status = 400;
                               res.set_content(fixture(file), "application/json");
                           });
        node.server().Get("/v2/fees/transfer", [](const httplib::Request&, httplib::Response& res) {
            res.set_content("3", "application/json");
        });
        auto fee = NodeClient(node.url(), fast()).estimate_fee(Bytes{0x02}, 200);
        ASSERT_TRUE(fee.ok()) << fee.error().message();
        EXPECT_EQ(*fee, 600u);
    }
    FakeNode broken;
    broken.server().Post(
        "/v2/fees/transaction", [](const httplib::Request&, httplib::Response& res) {
            res.status = 400;
            res.set_content(R"J({"error":"x","reason":"DatabaseError"})J", "application/json");
        });
    auto fee = NodeClient(broken.url(), fast()).estimate_fee(Bytes{0x02}, 200);
    ASSERT_FALSE(fee.ok());
    EXPECT_NE(fee.error().message().find("DatabaseError"), std::string::npos);
}

TEST(NodeClient, NamesTheRecordedRefusals) {
    struct Case {
        const char* file;
        const char* reason;
        const char* words;
    };
    const Case cases[] = {
        {"node/transaction-rejected-bad-nonce.json", "BadNonce", "expected nonce 0, got 4"},
        {"node/transaction-rejected-not-enough-funds.json", "NotEnoughFunds",
         "needs 200000 micro-STX, has 100000"},
        {"node/transaction-rejected-too-much-chaining.json", "TooMuchChaining",
         "nonce 26 beyond the mempool's chaining limit 25"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.file);
        FakeNode node;
        node.server().Post("/v2/transactions",
                           [&](const httplib::Request&, httplib::Response& res) {
                               res.status = 400;
                               res.set_content(fixture(c.file), "application/json");
                           });
        Refusal refusal;
        auto r = NodeClient(node.url(), fast()).broadcast(Bytes{0x80, 1}, &refusal);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code(), ErrorCode::kRejected);
        EXPECT_EQ(refusal.reason, c.reason);
        EXPECT_NE(r.error().message().find(c.words), std::string::npos) << r.error().message();
        if (refusal.reason == "BadNonce") {
            EXPECT_EQ(refusal.expected_nonce, 0u);
        }
    }
}

// Confirmation from the node's RPC alone: the account's confirmed nonce passing the transaction's.
TEST(NodeClient, WaitsForANonceToBeConsumed) {
    FakeNode node;
    std::atomic<int> polls{0};
    node.server().Get(R"J(/v2/accounts/(S[0-9A-Z]+))J",
                      [&](const httplib::Request&, httplib::Response& res) {
                          const int nonce = 5 + (++polls >= 3 ? 1 : 0);
                          res.set_content(R"J({"balance":"0x00000000000000000000000000000001",)J"
                                          R"J("locked":"0x0","unlock_height":0,"nonce":)J" +
                                              std::to_string(nonce) + "}",
                                          "application/json");
                      });
    NodeClient client(node.url(), fast());
    const std::string who = "ST2ZRX0K27GW0SP3GJCEMHD95TQGJMKB7G9Y0X1MH";
    auto a = client.wait_for_nonce(who, 5, 2s, 5ms);
    ASSERT_TRUE(a.ok()) << a.error().message();
    EXPECT_EQ(a->nonce, 6u);
    auto late = client.wait_for_nonce(who, 6, 60ms, 20ms);
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.error().code(), ErrorCode::kTimeout);
}

}  // namespace
}  // namespace medanchor::stacks
