#include "app/devnet_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "stacks/node_client.h"

namespace medanchor::app {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path pid_file(const DevnetOptions& o) {
    return o.data_dir / "devnet.pid";
}
fs::path log_file(const DevnetOptions& o) {
    return o.data_dir / "devnet.log";
}

std::string url_of(const DevnetOptions& o) {
    return "http://" + o.host + ":" + std::to_string(o.port);
}

std::optional<int> read_pid(const DevnetOptions& o) {
    std::ifstream in(pid_file(o));
    int pid = 0;
    if (in >> pid && pid > 0 && ::kill(pid, 0) == 0)
        return pid;
    return std::nullopt;
}

std::string log_tail(const DevnetOptions& o) {
    std::ifstream in(log_file(o));
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (all.size() > 2000)
        all = all.substr(all.size() - 2000);
    return all;
}

std::optional<std::uint64_t> probe(const std::string& url) {
    stacks::RetryPolicy once;
    once.attempts = 1;
    once.request_timeout = 1500ms;
    stacks::NodeClient client(url, once);
    auto info = client.info();
    if (!info)
        return std::nullopt;
    return info->stacks_tip_height;
}

}  // namespace

fs::path source_root() {
    if (const char* env = std::getenv("MEDANCHOR_ROOT"); env != nullptr && *env != '\0') {
        return env;
    }
    return MEDANCHOR_SOURCE_DIR;
}

DevnetOptions default_devnet_options() {
    DevnetOptions o;
    o.source_root = source_root();
    o.data_dir = o.source_root / ".medanchor" / "devnet";
    return o;
}

Result<DevnetState> devnet_status(const DevnetOptions& options) {
    DevnetState state;
    state.url = url_of(options);
    if (auto pid = read_pid(options)) {
        state.running = true;
        state.pid = *pid;
    }
    state.tip_height = probe(state.url);
    return state;
}

Result<DevnetState> start_devnet(const DevnetOptions& options) {
    const fs::path server = options.source_root / "devnet" / "server.mjs";
    if (!fs::exists(server)) {
        return Error(ErrorCode::kNotFound, server.string() +
                                               ": the local chain is missing (set MEDANCHOR_ROOT "
                                               "to the medanchor checkout)");
    }
    std::error_code ec;
    fs::create_directories(options.data_dir, ec);
    if (ec)
        return Error(ErrorCode::kIo, options.data_dir.string() + ": " + ec.message());

    if (auto pid = read_pid(options)) {
        DevnetState state{true, *pid, url_of(options), probe(url_of(options))};
        if (state.tip_height)
            return state;  // already up
        return Error(ErrorCode::kNetwork, "a local chain (pid " + std::to_string(*pid) +
                                              ") runs from " + options.data_dir.string() +
                                              " but does not answer on " + state.url);
    }
    if (probe(url_of(options))) {
        return Error(ErrorCode::kInvalidArgument,
                     url_of(options) + " already answers, but not from " +
                         options.data_dir.string() + "; stop that node or choose --port");
    }

    const std::string port = std::to_string(options.port);
    const std::string data = options.data_dir.string();
    const pid_t pid = ::fork();
    if (pid < 0)
        return Error(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Child: own session (survives the CLI), output to the log, then the server.
        ::setsid();
        const int log = ::open(log_file(options).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        const int null = ::open("/dev/null", O_RDONLY);
        if (log >= 0) {
            ::dup2(log, STDOUT_FILENO);
            ::dup2(log, STDERR_FILENO);
        }
        if (null >= 0)
            ::dup2(null, STDIN_FILENO);
        if (::chdir(options.source_root.c_str()) != 0)
            ::_exit(126);
        ::execlp("node", "node", server.c_str(), "--host", options.host.c_str(), "--port",
                 port.c_str(), "--data", data.c_str(), static_cast<char*>(nullptr));
        std::fprintf(stderr, "medanchor: cannot run node: %s\n", std::strerror(errno));
        ::_exit(127);
    }
    {
        std::ofstream out(pid_file(options));
        out << pid << "\n";
    }
    const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            fs::remove(pid_file(options), ec);
            return Error(ErrorCode::kInternal, "the local chain exited during start-up; its log (" +
                                                   log_file(options).string() + ") ends:\n" +
                                                   log_tail(options));
        }
        if (auto tip = probe(url_of(options))) {
            return DevnetState{true, pid, url_of(options), tip};
        }
        std::this_thread::sleep_for(200ms);
    }
    ::kill(pid, SIGTERM);
    fs::remove(pid_file(options), ec);
    return Error(ErrorCode::kTimeout,
                 "the local chain did not answer on " + url_of(options) + " within " +
                     std::to_string(options.ready_timeout.count() / 1000) + " s; its log (" +
                     log_file(options).string() + ") ends:\n" + log_tail(options));
}

Status stop_devnet(const DevnetOptions& options) {
    auto pid = read_pid(options);
    std::error_code ec;
    if (!pid) {
        fs::remove(pid_file(options), ec);
        return Status::Ok();
    }
    ::kill(*pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        // Reap it if it is our child; otherwise just watch for it to go.
        ::waitpid(*pid, nullptr, WNOHANG);
        if (::kill(*pid, 0) != 0) {
            fs::remove(pid_file(options), ec);
            return Status::Ok();
        }
        std::this_thread::sleep_for(100ms);
    }
    return Error(ErrorCode::kTimeout,
                 "the local chain (pid " + std::to_string(*pid) + ") did not stop within 10 s");
}

}  // namespace medanchor::app
