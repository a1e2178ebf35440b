// A Prometheus scrape endpoint for a command that is not a web server (`listen --metrics`,
// `worker --metrics`): GET /metrics on ADDR:PORT (as --listen takes it: 127.0.0.1 unless an
// address is given) answers with the text the command's callback makes at that moment, on a
// thread of its own, until the endpoint is destroyed.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/error.h"

namespace medanchor::app {

class MetricsEndpoint {
  public:
    // Binds `where` (the value of `option`, named in errors) and starts answering; kInvalidArgument
    // when it is not ADDR:PORT or cannot be bound (taken, not an address of this machine).
    static Result<std::unique_ptr<MetricsEndpoint>> start(const std::string& option,
                                                          const std::string& where,
                                                          std::function<std::string()> text);
    ~MetricsEndpoint();  // stops answering and joins the thread
    MetricsEndpoint(const MetricsEndpoint&) = delete;
    MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

    int port() const;  // the bound port (the one chosen when `where` said port 0)

  private:
    struct State;
    explicit MetricsEndpoint(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace medanchor::app
