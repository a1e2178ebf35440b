// A Prometheus scrape endpoint for a command that is not a web server (`listen --metrics`,
// `worker --metrics`): GET /metrics on ADDR:PORT (as --listen takes it: 127.0.0.1 unless an
// address is given) answers with the text the command's callback makes at that moment, on a
// thread of its own, until the endpoint is destroyed.
//
// A command starts its endpoint before anything else (before it binds its own ports, opens its
// ledger or loads its model): a bad or busy --metrics address is refused while nothing has
// started, and the address is held from then on. What the text reads may not exist yet then;
// until answer_with() gives the callback, GET /metrics answers 503.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/error.h"

namespace medanchor::app {

class MetricsEndpoint {
  public:
    // Binds `where` (the value of `option`, named in errors) and starts answering, with `text`
    // or, when it is empty, 503 until answer_with(); kInvalidArgument when `where` is not
    // ADDR:PORT or cannot be bound (taken, not an address of this machine). REQUIRES: the signals
    // the command waits for are blocked already (the endpoint's thread inherits the mask).
    static Result<std::unique_ptr<MetricsEndpoint>> start(const std::string& option,
                                                          const std::string& where,
                                                          std::function<std::string()> text = {});
    ~MetricsEndpoint();  // stops answering and joins the thread
    MetricsEndpoint(const MetricsEndpoint&) = delete;
    MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

    // Answers with `text` from now on. Thread-safe. REQUIRES: what `text` reads outlives the
    // endpoint, or the endpoint is destroyed first.
    void answer_with(std::function<std::string()> text);

    int port() const;  // the bound port (the one chosen when `where` said port 0)

  private:
    struct State;
    explicit MetricsEndpoint(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace medanchor::app
