// A gateway in front of the local chain's node RPC that loses the answer to a transaction
// broadcast, as a load balancer in front of several nodes does when a connection drops: the first
// POST of a transaction is answered 503 and the client tries again, and the try is answered by a
// node that never saw the transaction, in the words a stacks-node uses
// (MemPoolRejection::into_json).
//   - kTakenThenMined: the first POST reaches the node (it is mined); the next try is answered once
//     the nonce is consumed, with BadNonce (expected = the account's nonce), as a second node says;
//   - kHeldThenRefused: the first POST is kept by the gateway (a node that took it but has not yet
//     passed it on); the next try is refused with `reason` (e.g. FeeTooLow); deliver() hands the
//     kept bytes to the node later.
// Every other request passes through unchanged. Used by tests on loopback only.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "stacks/bytes.h"
#include "stacks/transaction.h"
#include "support/loopback_http_server.h"

namespace medanchor::testing {

class LossyGateway {
  public:
    enum class Mode { kTakenThenMined, kHeldThenRefused };

    // `node_port`: the local chain's node RPC; `sender`: the principal whose broadcasts are lost.
    LossyGateway(int node_port, std::string sender, Mode mode, std::string reason = "FeeTooLow")
        : node_port_(node_port),
          sender_(std::move(sender)),
          mode_(mode),
          reason_(std::move(reason)) {
        auto& s = server_.server();
        s.Post("/v2/transactions", [this](const httplib::Request& req, httplib::Response& res) {
            broadcast(req, res);
        });
        s.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
            pass(upstream().Get(req.target), res);
        });
        s.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
            pass(upstream().Post(req.target, req.body, req.get_header_value("Content-Type")), res);
        });
    }

    std::string url() const { return server_.url(); }
    // How many broadcasts had their answer lost.
    int lost() {
        std::lock_guard lock(mutex_);
        return static_cast<int>(seen_.size());
    }
    // kHeldThenRefused: hands the kept transactions to the node; true when it took them all.
    bool deliver() {
        std::vector<std::string> held;
        {
            std::lock_guard lock(mutex_);
            held.swap(held_);
        }
        bool all = true;
        for (const auto& raw : held) {
            auto r = upstream().Post("/v2/transactions", raw, "application/octet-stream");
            all = all && r && r->status == 200;
        }
        return all;
    }

  private:
    httplib::Client upstream() const {
        httplib::Client c("127.0.0.1", node_port_);
        c.set_read_timeout(std::chrono::seconds(30));
        return c;
    }
    static void pass(const httplib::Result& r, httplib::Response& res) {
        if (!r) {
            res.status = 502;
            return;
        }
        res.status = r->status;
        res.set_content(r->body, r->get_header_value("Content-Type"));
    }
    // The origin's nonce of a single-signature standard transaction: version (1), chain id (4),
    // auth type (1), hash mode (1), signer (20), then the nonce, 8 bytes big-endian.
    static std::uint64_t nonce_of(const std::string& raw) {
        std::uint64_t n = 0;
        for (std::size_t i = 27; i < 35 && i < raw.size(); ++i)
            n = (n << 8) | static_cast<unsigned char>(raw[i]);
        return n;
    }
    std::uint64_t account_nonce() {
        auto r = upstream().Get("/v2/accounts/" + sender_ + "?proof=0");
        if (!r || r->status != 200)
            return 0;
        return nlohmann::json::parse(r->body).at("nonce").get<std::uint64_t>();
    }

    void broadcast(const httplib::Request& req, httplib::Response& res) {
        const stacks::Bytes bytes(req.body.begin(), req.body.end());
        const std::string txid = stacks::to_hex(stacks::txid(bytes));
        enum class Step { kLose, kRefuse } step;
        {
            std::lock_guard lock(mutex_);
            if (seen_.insert(txid).second) {
                step = Step::kLose;
                if (mode_ == Mode::kHeldThenRefused)
                    held_.push_back(req.body);
            } else {
                step = Step::kRefuse;
            }
        }
        if (step == Step::kLose) {
            if (mode_ == Mode::kTakenThenMined)
                (void)upstream().Post(req.target, req.body, "application/octet-stream");
            res.status = 503;
            res.set_content("upstream connection lost", "text/plain");
            return;
        }
        // A later try of a lost one, answered by a node that never saw it.
        const std::uint64_t nonce = nonce_of(req.body);
        std::uint64_t expected = account_nonce();
        if (mode_ == Mode::kTakenThenMined) {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (expected <= nonce && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                expected = account_nonce();
            }
        }
        const std::string reason = mode_ == Mode::kTakenThenMined ? "BadNonce" : reason_;
        nlohmann::json body = {
            {"error", "transaction rejected"}, {"reason", reason}, {"txid", txid}};
        if (reason == "BadNonce") {
            body["reason_data"] = {{"expected", expected},
                                   {"actual", nonce},
                                   {"principal", sender_},
                                   {"is_origin", true}};
        } else {
            body["reason_data"] = {{"expected", 1000}, {"actual", 1}};
        }
        res.status = 400;
        res.set_content(body.dump(), "application/json");
    }

    const int node_port_;
    const std::string sender_;
    const Mode mode_;
    const std::string reason_;
    std::mutex mutex_;
    std::set<std::string> seen_;
    std::vector<std::string> held_;
    LoopbackHttpServer server_;  // last: stopped and joined before the rest goes
};

}  // namespace medanchor::testing
