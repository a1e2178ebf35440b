// Issue 10, done when: the whole analyze -> sync -> verify flow, through the medanchor binary,
// against the local chain's node port alone — its RPC (/v2/...), where every /extended path is a
// 404 as on a plain stacks-node, so each transaction is confirmed from the account's nonce and the
// contract's state — and the same with the Stacks Blockchain API given (--api). One chain (two
// ports, a block every second), set up once; each flow has its own radiologist, site key and
// ledger.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../image/test_support.h"
#include "devnet_fixture.h"

namespace medanchor::app {
namespace {

using namespace medanchor::ops;

namespace fs = std::filesystem;
using medanchor::testing::quote;
using medanchor::testing::run_command;

class PlainNodeFlow : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        work_ = new fs::path(fs::temp_directory_path() /
                             ("medanchor-flow-test-" + std::to_string(::getpid())));
        fs::remove_all(*work_);
        fs::create_directories(*work_);
        options_ = new DevnetOptions(default_devnet_options());
        options_->data_dir = *work_ / "chain";
        options_->port = testing::free_port();
        options_->api_port = testing::free_port();
        auto state = start_devnet(*options_);
        ASSERT_TRUE(state.ok()) << state.error().message();
        ASSERT_EQ(state->api_url, api());
        for (const char* account : {"deployer", "wallet_1", "wallet_2", "wallet_3"})
            ok("keys devnet " + std::string(account) + " --out " + quote(key(account)));
        // The administration goes through the node port alone too.
        ok("deploy " + node() + " --key-file " + quote(key("deployer")));
        ok("admin appoint-verifier " + address("wallet_1") + " " + node() + " --key-file " +
           quote(key("deployer")));
        ok("admin register-model --bundle " + quote(source_root() / "models" / "ct-nodule-sim") +
           " " + node() + " --key-file " + quote(key("deployer")));
    }
    static void TearDownTestSuite() {
        EXPECT_TRUE(stop_devnet(*options_).ok());
        fs::remove_all(*work_);
        delete options_;
        delete work_;
    }

    static std::string node() {
        return "--node http://127.0.0.1:" + std::to_string(options_->port);
    }
    static std::string api() { return "http://127.0.0.1:" + std::to_string(options_->api_port); }
    static fs::path key(const std::string& account) { return *work_ / (account + ".key"); }
    static medanchor::testing::CommandResult run(const std::string& args) {
        return run_command(quote(MEDANCHOR_BINARY) + " " + args);
    }
    static void ok(const std::string& args) {
        const auto r = run(args);
        ASSERT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    }
    static std::string address(const std::string& account) {
        const auto r = run("keys show --json --key-file " + quote(key(account)));
        return nlohmann::json::parse(r.output)["address_testnet"].get<std::string>();
    }

    // A radiologist registers and is verified; then analyze, sync and verify with `chain` (the
    // node, and maybe the API) as the only way to the chain.
    void flow(const std::string& radiologist, const std::string& chain) {
        const fs::path dir = *work_ / radiologist;
        fs::create_directories(dir);
        const std::string files =
            " --site-key " + quote(dir / "site.key") + " --ledger " + quote(dir / "ledger.sqlite");
        ok("site-key new " + quote(dir / "site.key"));
        {
            std::ofstream licence(dir / "licence.txt");
            licence << "licence record of " << radiologist << "\n";
        }
        ok("professional register --credential-file " + quote(dir / "licence.txt") +
           " --specialty radiology " + chain + " --key-file " + quote(key(radiologist)));
        ok("professional verify " + address(radiologist) + " --expires-in 365 --reason 1 " + chain +
           " --key-file " + quote(key("wallet_1")));

        const auto analyzed = run("analyze " + quote(source_root() / "samples" / "ct") + " --out " +
                                  quote(dir / "reports") + files + " " + chain + " --key-file " +
                                  quote(key(radiologist)));
        ASSERT_EQ(analyzed.exit_code, 0) << analyzed.output;
        const auto listed = run("ledger list --json --ledger " + quote(dir / "ledger.sqlite"));
        ASSERT_EQ(listed.exit_code, 0) << listed.output;
        std::istringstream lines(listed.output);
        std::string line;
        int confirmed = 0;
        while (std::getline(lines, line)) {
            const auto j = nlohmann::json::parse(line);
            EXPECT_EQ(j["state"], "confirmed") << line;
            confirmed += j["state"] == "confirmed";
        }
        EXPECT_EQ(confirmed, 6) << listed.output;

        // Nothing left: a second sync sends nothing.
        const auto synced =
            run("sync --json" + std::string(" --ledger ") + quote(dir / "ledger.sqlite") + " " +
                chain + " --key-file " + quote(key(radiologist)));
        ASSERT_EQ(synced.exit_code, 0) << synced.output;
        const auto summary = nlohmann::json::parse(synced.output);
        EXPECT_EQ(summary["sent"], 0);
        EXPECT_EQ(summary["ledger"]["confirmed"], 6);

        const auto verified =
            run("verify " + quote(source_root() / "samples" / "ct") + files + " " + chain);
        EXPECT_EQ(verified.exit_code, 0) << verified.output;
    }

    static inline fs::path* work_ = nullptr;
    static inline DevnetOptions* options_ = nullptr;
};

TEST_F(PlainNodeFlow, AnalyzeSyncVerifyThroughTheNodePortAlone) {
    flow("wallet_2", node());
}

TEST_F(PlainNodeFlow, AnalyzeSyncVerifyWithTheApi) {
    flow("wallet_3", node() + " --api " + api());
}

}  // namespace
}  // namespace medanchor::app
