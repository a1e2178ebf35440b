#include "app/cli/metrics_endpoint.h"

#include <httplib.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "app/http/server.h"

namespace medanchor::app {

struct MetricsEndpoint::State {
    httplib::Server server;
    std::thread thread;
    int port = 0;
    std::mutex mutex;
    std::function<std::string()> text;  // guarded by mutex; empty: not ready, 503
};

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<State> state) : state_(std::move(state)) {}

MetricsEndpoint::~MetricsEndpoint() {
    state_->server.stop();
    if (state_->thread.joinable())
        state_->thread.join();
}

void MetricsEndpoint::answer_with(std::function<std::string()> text) {
    std::lock_guard lock(state_->mutex);
    state_->text = std::move(text);
}

int MetricsEndpoint::port() const {
    return state_->port;
}

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::start(const std::string& option,
                                                                const std::string& where,
                                                                std::function<std::string()> text) {
    auto at = http::parse_listen(where, option);
    if (!at)
        return at.error();
    auto state = std::make_unique<State>();
    state->text = std::move(text);
    state->server.set_socket_options(http::listen_socket_options);
    // The state outlives the server's thread: the destructor joins it first.
    state->server.Get("/metrics",
                      [s = state.get()](const httplib::Request&, httplib::Response& res) {
                          std::function<std::string()> text;
                          {
                              std::lock_guard lock(s->mutex);
                              text = s->text;
                          }
                          if (!text) {
                              res.status = 503;
                              res.set_content("starting\n", "text/plain");
                              return;
                          }
                          res.set_content(text(), "text/plain; version=0.0.4");
                      });
    // (cpp-httplib: bind_to_any_port gives the port or -1, bind_to_port true or false.)
    state->port = at->second == 0
                      ? state->server.bind_to_any_port(at->first)
                      : (state->server.bind_to_port(at->first, at->second) ? at->second : -1);
    if (state->port <= 0) {
        return Error(
            ErrorCode::kInvalidArgument,
            option + ": cannot listen on " + where + " (taken, or not an address of this machine)");
    }
    auto* server = &state->server;
    state->thread = std::thread([server] { server->listen_after_bind(); });
    // cpp-httplib's stop() does nothing until the listening loop runs: an endpoint destroyed
    // before then (a command failing right after start) would wait for ever in its destructor.
    for (int i = 0; i < 2000 && !server->is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(state)));
}

}  // namespace medanchor::app
