// A real HTTP server on 127.0.0.1 (cpp-httplib) on a port the kernel picks, for tests of HTTP
// clients: the test registers handlers on server() before sending. Stopped and joined on
// destruction.
#pragma once

#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

namespace medanchor::testing {

class LoopbackHttpServer {
  public:
    LoopbackHttpServer() {
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        while (!server_.is_running())
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ~LoopbackHttpServer() {
        server_.stop();
        thread_.join();
    }
    LoopbackHttpServer(const LoopbackHttpServer&) = delete;
    LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

    httplib::Server& server() { return server_; }
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

}  // namespace medanchor::testing
