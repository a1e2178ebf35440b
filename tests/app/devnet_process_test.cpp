// `medanchor devnet start|status|stop` as process management, with real processes: the chain
// (devnet/server.mjs under node) and, for the pid-reuse case, an unrelated `sleep`.
//   - stop with a devnet.pid that names another process leaves that process alone;
//   - a relative data directory is one folder: the chain's state and its pid file live together,
//     so a restart finds the same chain;
//   - after a SIGKILL, status and start agree: not running, and start starts it again at once;
//   - a start while another is still starting the chain waits for it;
//   - ports 0: the chain picks two free ports, and start and status report where.
#include "app/ops/devnet_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "devnet_fixture.h"
#include "stacks/node_client.h"

namespace medanchor::app {
namespace {

using namespace medanchor::ops;

namespace fs = std::filesystem;

class DevnetProcess : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            fs::temp_directory_path() / ("medanchor-devnet-process-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        options_ = default_devnet_options();
        options_.data_dir = dir_ / "chain";
        options_.port = testing::free_port();
        options_.api_port = testing::free_port();
    }
    void TearDown() override {
        (void)stop_devnet(options_);
        fs::remove_all(dir_);
    }

    static std::string first_line(const fs::path& file) {
        std::ifstream in(file);
        std::string line;
        std::getline(in, line);
        return line;
    }

    fs::path dir_;
    DevnetOptions options_;
};

// A process of ours that is not a chain: `sleep`, in its own child.
pid_t spawn_sleep() {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    return pid;
}

bool alive(pid_t pid) {
    return ::waitpid(pid, nullptr, WNOHANG) == 0;
}

TEST_F(DevnetProcess, StopLeavesAloneTheProcessAStalePidFileNames) {
    fs::create_directories(options_.data_dir);
    const pid_t other = spawn_sleep();
    ASSERT_GT(other, 0);
    // The chain's pid, as recorded before start times were kept, and as recorded now with a start
    // time the process with that pid today does not have.
    for (const std::string& record :
         {std::to_string(other) + "\n",
          "{\"pid\":" + std::to_string(other) + ",\"start_time\":1}\n"}) {
        std::ofstream(options_.data_dir / "devnet.pid") << record;
        auto status = devnet_status(options_);
        ASSERT_TRUE(status.ok());
        EXPECT_FALSE(status->running) << record;
        EXPECT_TRUE(stop_devnet(options_).ok()) << record;
        ::usleep(200'000);
        EXPECT_TRUE(alive(other)) << "stop signalled pid " << other << ", not a chain: " << record;
        EXPECT_FALSE(fs::exists(options_.data_dir / "devnet.pid")) << "the stale pid file stays";
    }
    ::kill(other, SIGKILL);
    ::waitpid(other, nullptr, 0);
}

TEST_F(DevnetProcess, ARelativeDataDirectoryIsOneFolderAcrossRestarts) {
    const fs::path cwd = fs::current_path();
    fs::current_path(dir_);
    const fs::path relative = "rel-" + std::to_string(::getpid()) + "/chain";
    options_.data_dir = relative;
    const fs::path absolute = dir_ / relative;
    const fs::path elsewhere = options_.source_root / relative.parent_path();

    auto first = start_devnet(options_);
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_TRUE(fs::exists(absolute / "chain.jsonl"))
        << "the chain's state is not beside its pid file";
    EXPECT_TRUE(fs::exists(absolute / "devnet.pid"));
    EXPECT_FALSE(fs::exists(elsewhere)) << "state written under the checkout: " << elsewhere;
    const std::string genesis = first_line(absolute / "chain.jsonl");
    ASSERT_FALSE(genesis.empty());

    ASSERT_TRUE(stop_devnet(options_).ok());
    EXPECT_FALSE(devnet_status(options_)->running);
    auto second = start_devnet(options_);
    ASSERT_TRUE(second.ok()) << second.error().message();
    EXPECT_NE(second->pid, first->pid);
    EXPECT_EQ(first_line(absolute / "chain.jsonl"), genesis) << "a restart made a new chain";
    ASSERT_TRUE(stop_devnet(options_).ok());

    fs::current_path(cwd);
    fs::remove_all(elsewhere);
    options_.data_dir = absolute;
}

TEST_F(DevnetProcess, AfterSigkillStatusAndStartAgree) {
    auto first = start_devnet(options_);
    ASSERT_TRUE(first.ok()) << first.error().message();
    ASSERT_TRUE(first->running);
    ASSERT_EQ(::kill(first->pid, SIGKILL), 0);
    // The kernel takes a moment to tear a killed process down (longer on a loaded machine): the
    // promise is that status and start agree at every moment, so wait for status to see it gone.
    Result<DevnetState> status = Error(ErrorCode::kInternal, "not asked");
    for (int i = 0; i < 100; ++i) {
        status = devnet_status(options_);
        ASSERT_TRUE(status.ok());
        if (!status->running)
            break;
        ::usleep(100'000);
    }
    EXPECT_FALSE(status->running) << "a killed chain reported running for 10 s";
    auto again = start_devnet(options_);
    ASSERT_TRUE(again.ok()) << "status says not running, start must agree: "
                            << again.error().message();
    EXPECT_NE(again->pid, first->pid);
    EXPECT_TRUE(again->tip_height.has_value());
    EXPECT_TRUE(devnet_status(options_)->running);
}

TEST_F(DevnetProcess, AStartWhileAnotherIsStartingWaitsForIt) {
    // The first start in another process (as a second `medanchor devnet start` would be).
    const pid_t first = ::fork();
    ASSERT_GE(first, 0);
    if (first == 0)
        ::_exit(start_devnet(options_).ok() ? 0 : 1);
    const fs::path pid_file = options_.data_dir / "devnet.pid";
    for (int i = 0; i < 600 && !fs::exists(pid_file); ++i)
        ::usleep(50'000);
    ASSERT_TRUE(fs::exists(pid_file));
    auto second = start_devnet(options_);  // the chain is still starting: wait, do not refuse
    ASSERT_TRUE(second.ok()) << second.error().message();
    EXPECT_TRUE(second->tip_height.has_value());
    int status = 0;
    ASSERT_EQ(::waitpid(first, &status, 0), first);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the first start failed";
    EXPECT_EQ(devnet_status(options_)->pid, second->pid) << "two chains on one data directory";
}

TEST_F(DevnetProcess, PortsZeroAreChosenByTheChainAndReadBack) {
    options_.port = 0;
    options_.api_port = 0;
    auto started = start_devnet(options_);
    ASSERT_TRUE(started.ok()) << started.error().message();
    ASSERT_TRUE(started->tip_height.has_value());
    EXPECT_NE(started->url, started->api_url);
    EXPECT_TRUE(started->url.starts_with("http://127.0.0.1:")) << started->url;
    EXPECT_TRUE(started->api_url.starts_with("http://127.0.0.1:")) << started->api_url;
    EXPECT_TRUE(stacks::NodeClient(started->url).info().ok());
    EXPECT_TRUE(stacks::NodeClient(started->api_url).info().ok())
        << "the API answers the node's paths";
    auto status = devnet_status(options_);
    ASSERT_TRUE(status.ok());
    EXPECT_TRUE(status->running);
    EXPECT_EQ(status->url, started->url);
    EXPECT_EQ(status->api_url, started->api_url);
    EXPECT_TRUE(status->tip_height.has_value());
}

}  // namespace
}  // namespace medanchor::app
