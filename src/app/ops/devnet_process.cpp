#include "app/ops/devnet_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "common/file_io.h"
#include "stacks/node_client.h"

namespace medanchor::ops {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Our own small files (a pid, two URLs): anything longer is not ours.
constexpr std::size_t kSmallFileBytes = 4096;

fs::path pid_file(const DevnetOptions& o) {
    return o.data_dir / "devnet.pid";
}
fs::path ready_file(const DevnetOptions& o) {
    return o.data_dir / "devnet.json";
}
fs::path log_file(const DevnetOptions& o) {
    return o.data_dir / "devnet.log";
}
fs::path server_script(const DevnetOptions& o) {
    return o.source_root / "devnet" / "server.mjs";
}

// Every path made absolute once, before anything is derived from it: the chain runs from
// source_root, so a relative --data handed over as is would name another folder there.
DevnetOptions resolved(const DevnetOptions& options) {
    DevnetOptions o = options;
    std::error_code ec;
    o.source_root = fs::absolute(options.source_root, ec).lexically_normal();
    o.data_dir = fs::absolute(options.data_dir, ec).lexically_normal();
    if (o.data_dir.has_filename() == false && o.data_dir.has_parent_path())
        o.data_dir = o.data_dir.parent_path();  // "dir/" and "dir" are one folder
    return o;
}

std::string url_of(const std::string& host, int port) {
    return port > 0 ? "http://" + host + ":" + std::to_string(port) : std::string();
}

// "1", "0.2", "1.5": the seconds the chain's --block-interval takes.
std::string seconds_text(std::chrono::milliseconds ms) {
    std::string s = std::to_string(ms.count() / 1000);
    if (const auto frac = ms.count() % 1000; frac != 0) {
        char buf[8];
        std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(frac));
        std::string f = buf;
        while (f.back() == '0')
            f.pop_back();
        s += f;
    }
    return s;
}

struct ProcessInfo {
    char state = '?';  // R, S, D, Z (zombie), ...
    std::uint64_t start_time = 0;
};

// /proc/PID/stat: the state (field 3) and the start time in clock ticks since boot (field 22).
// The command name (field 2) may hold spaces and parentheses, so fields count from its last ')'.
std::optional<ProcessInfo> process_info(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos)
        return std::nullopt;
    std::istringstream fields(stat.substr(close + 1));
    ProcessInfo info;
    std::string skip;
    fields >> info.state;
    for (int field = 4; field < 22 && fields >> skip; ++field) {
    }
    if (!(fields >> info.start_time))
        return std::nullopt;
    return info;
}

std::vector<std::string> process_args(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::vector<std::string> args;
    for (std::string arg; std::getline(in, arg, '\0');)
        args.push_back(arg);
    return args;
}

// Is `pid` our chain: alive (a zombie is not), and either the process started at `start_time`
// (recorded by the start that forked it: pid and start time name one process for the life of the
// machine, even before it has exec'd the server) or, when no start time was recorded, a process
// running devnet/server.mjs on this data directory.
bool is_our_chain(int pid, std::optional<std::uint64_t> start_time, const DevnetOptions& o) {
    // Reap it first if it is a child of this process that has ended (a chain started in-process,
    // as the tests do): a zombie would otherwise look alive. ECHILD for anyone else's: harmless.
    ::waitpid(pid, nullptr, WNOHANG);
    const auto info = process_info(pid);
    if (!info || info->state == 'Z' || info->state == 'X')
        return false;
    if (start_time)
        return *start_time == info->start_time;
    // A devnet/server.mjs (of any checkout: MEDANCHOR_ROOT may differ between two calls) on
    // this data directory.
    const auto args = process_args(pid);
    bool server = false;
    bool data = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const fs::path arg(args[i]);
        server =
            server || (arg.filename() == "server.mjs" && arg.parent_path().filename() == "devnet");
        data = data || (args[i] == "--data" && i + 1 < args.size() &&
                        fs::path(args[i + 1]).lexically_normal() == o.data_dir);
    }
    return server && data;
}

struct PidRecord {
    int pid = 0;
    std::optional<std::uint64_t> start_time;
};

// devnet.pid: {"pid": N, "start_time": T}; a bare "N" (written before start times were kept)
// is still read, and then only the command line identifies the process.
std::optional<PidRecord> read_pid_file(const DevnetOptions& o) {
    auto text = read_regular_text_file(pid_file(o), kSmallFileBytes);
    if (!text)
        return std::nullopt;
    PidRecord record;
    const json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("pid") && j["pid"].is_number_integer()) {
        record.pid = j["pid"].get<int>();
        if (j.contains("start_time") && j["start_time"].is_number_unsigned())
            record.start_time = j["start_time"].get<std::uint64_t>();
    } else if (j.is_number_integer()) {
        record.pid = j.get<int>();
    }
    if (record.pid <= 0)
        return std::nullopt;
    return record;
}

// The pid of our chain running from this data directory, if any.
std::optional<PidRecord> running_chain(const DevnetOptions& o) {
    auto record = read_pid_file(o);
    if (record && is_our_chain(record->pid, record->start_time, o))
        return record;
    return std::nullopt;
}

struct ReadyInfo {
    int pid = 0;
    std::string url;
    std::string api_url;
};

// devnet.json, as the chain wrote it once both its ports answered.
std::optional<ReadyInfo> read_ready_file(const DevnetOptions& o) {
    auto text = read_regular_text_file(ready_file(o), kSmallFileBytes);
    if (!text)
        return std::nullopt;
    const json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer() ||
        !j.contains("url") || !j["url"].is_string() || !j.contains("api_url") ||
        !j["api_url"].is_string())
        return std::nullopt;
    return ReadyInfo{j["pid"].get<int>(), j["url"].get<std::string>(),
                     j["api_url"].get<std::string>()};
}

void remove_state_files(const DevnetOptions& o) {
    std::error_code ec;
    fs::remove(pid_file(o), ec);
    fs::remove(ready_file(o), ec);
}

std::string log_tail(const DevnetOptions& o) {
    std::ifstream in(log_file(o));
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (all.size() > 2000)
        all = all.substr(all.size() - 2000);
    return all;
}

std::optional<std::uint64_t> probe(const std::string& url) {
    if (url.empty())
        return std::nullopt;
    stacks::RetryPolicy once;
    once.attempts = 1;
    once.request_timeout = 1500ms;
    stacks::NodeClient client(url, once);
    auto info = client.info();
    if (!info)
        return std::nullopt;
    return info->stacks_tip_height;
}

// The state of our chain `pid`: its URLs from devnet.json once it wrote it (so port 0 works),
// else those the options name (none for port 0); the tip height when the node answers.
DevnetState state_of(int pid, const DevnetOptions& o) {
    DevnetState state;
    state.running = true;
    state.pid = pid;
    if (auto ready = read_ready_file(o); ready && ready->pid == pid) {
        state.url = ready->url;
        state.api_url = ready->api_url;
    } else {
        state.url = url_of(o.host, o.port);
        state.api_url = url_of(o.host, o.api_port);
    }
    state.tip_height = probe(state.url);
    return state;
}

// Waits for our chain `pid` to answer: devnet.json written by that process, and its node
// answering there. kInternal when it exits first (`child`: it is ours to reap), kTimeout.
Result<DevnetState> wait_until_ready(int pid, std::optional<std::uint64_t> start_time,
                                     const DevnetOptions& o, bool child) {
    const auto deadline = std::chrono::steady_clock::now() + o.ready_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        const bool exited =
            child ? ::waitpid(pid, &status, WNOHANG) == pid : !is_our_chain(pid, start_time, o);
        if (exited) {
            remove_state_files(o);
            return Error(ErrorCode::kInternal, "the local chain exited during start-up; its log (" +
                                                   log_file(o).string() + ") ends:\n" +
                                                   log_tail(o));
        }
        // devnet.json is written once both ports listen; then the node must answer.
        if (auto ready = read_ready_file(o); ready && ready->pid == pid) {
            if (auto state = state_of(pid, o); state.tip_height)
                return state;
        }
        std::this_thread::sleep_for(200ms);
    }
    return Error(ErrorCode::kTimeout,
                 "the local chain (pid " + std::to_string(pid) + ", data " + o.data_dir.string() +
                     ") did not answer within " + std::to_string(o.ready_timeout.count() / 1000) +
                     " s; its log (" + log_file(o).string() + ") ends:\n" + log_tail(o));
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
    const DevnetOptions o = resolved(options);
    if (auto running = running_chain(o))
        return state_of(running->pid, o);
    DevnetState state;
    state.url = url_of(o.host, o.port);
    state.api_url = url_of(o.host, o.api_port);
    return state;
}

Result<DevnetState> start_devnet(const DevnetOptions& options) {
    const DevnetOptions o = resolved(options);
    const fs::path server = server_script(o);
    if (!fs::exists(server)) {
        return Error(ErrorCode::kNotFound, server.string() +
                                               ": the local chain is missing (set MEDANCHOR_ROOT "
                                               "to the medanchor checkout)");
    }
    if (o.block_interval < 10ms || o.block_interval > 1h) {
        return Error(
            ErrorCode::kInvalidArgument,
            "block interval " + seconds_text(o.block_interval) + " s: expected 0.01 to 3600 s");
    }
    std::error_code ec;
    fs::create_directories(o.data_dir, ec);
    if (ec)
        return Error(ErrorCode::kIo, o.data_dir.string() + ": " + ec.message());

    if (auto running = running_chain(o)) {
        // Ours, already up, or still starting (another start under way): wait for it.
        return wait_until_ready(running->pid, running->start_time, o, /*child=*/false);
    }
    remove_state_files(o);  // left by a chain that was killed: they name no live process
    if (auto tip = probe(url_of(o.host, o.port))) {
        return Error(ErrorCode::kInvalidArgument,
                     url_of(o.host, o.port) + " already answers, but not from " +
                         o.data_dir.string() + "; stop that node or choose --port");
    }

    const std::string port = std::to_string(o.port);
    const std::string api_port = std::to_string(o.api_port);
    const std::string interval = seconds_text(o.block_interval);
    const std::string data = o.data_dir.string();
    const std::string ready = ready_file(o).string();
    const std::string log = log_file(o).string();
    const pid_t pid = ::fork();
    if (pid < 0)
        return Error(ErrorCode::kInternal, std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        // Child: own session (survives the CLI), output to the log, then the server.
        ::setsid();
        const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        const int null = ::open("/dev/null", O_RDONLY);
        if (log_fd >= 0) {
            ::dup2(log_fd, STDOUT_FILENO);
            ::dup2(log_fd, STDERR_FILENO);
        }
        if (null >= 0)
            ::dup2(null, STDIN_FILENO);
        if (::chdir(o.source_root.c_str()) != 0)
            ::_exit(126);
        ::execlp("node", "node", server.c_str(), "--host", o.host.c_str(), "--port", port.c_str(),
                 "--api-port", api_port.c_str(), "--block-interval", interval.c_str(), "--data",
                 data.c_str(), "--ready-file", ready.c_str(), static_cast<char*>(nullptr));
        std::fprintf(stderr, "medanchor: cannot run node: %s\n", std::strerror(errno));
        ::_exit(127);
    }
    const auto started = process_info(pid);
    json record = {{"pid", pid}};
    if (started)
        record["start_time"] = started->start_time;
    if (auto s = write_file_atomically(pid_file(o), record.dump() + "\n"); !s) {
        ::kill(pid, SIGTERM);
        ::waitpid(pid, nullptr, 0);
        return s.error();
    }
    auto state = wait_until_ready(pid, std::nullopt, o, /*child=*/true);
    if (!state && state.error().code() == ErrorCode::kTimeout) {
        ::kill(pid, SIGTERM);
        ::waitpid(pid, nullptr, 0);
        remove_state_files(o);
    }
    return state;
}

Status stop_devnet(const DevnetOptions& options) {
    const DevnetOptions o = resolved(options);
    const auto running = running_chain(o);
    if (!running) {
        remove_state_files(o);  // stale: whatever process has that pid now is not signalled
        return Status::Ok();
    }
    ::kill(running->pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        if (!is_our_chain(running->pid, running->start_time, o)) {
            remove_state_files(o);
            return Status::Ok();
        }
        std::this_thread::sleep_for(100ms);
    }
    return Error(ErrorCode::kTimeout, "the local chain (pid " + std::to_string(running->pid) +
                                          ") did not stop within 10 s");
}

}  // namespace medanchor::ops
