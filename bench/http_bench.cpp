// `medanchor serve` under load on loopback: requests per second and p50/p99 latency for
// GET /api/health and for POST /api/jobs with one CT slice (the 202 that accepts it; analysis
// runs behind), at 1, 8 and 64 concurrent clients, each on its own keep-alive connection.
// The server runs in this process with its default pool (32 threads) and anchoring off.
// Prints figures; never run by CTest. Usage: medanchor_bench_http [requests-per-level]
//
// Verify-by-hash needs a chain, so it is measured against a running `medanchor serve` on one:
// with MEDANCHOR_BENCH_PORT, MEDANCHOR_BENCH_TOKEN and MEDANCHOR_BENCH_HASH set (an anchored
// image hash), GET /api/verify/{hash} at 1, 8 and 64 clients, then exit
// (bench/http_confirm_bench.sh does this on the local chain).
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "app/http/server.h"
#include "common/encoding.h"
#include "ledger/accounts.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Figures {
    double rps = 0, p50_ms = 0, p99_ms = 0;
    int failures = 0;
};

template <class Call>
Figures run(int port, int clients, int total, Call call) {
    std::vector<std::vector<double>> latencies(clients);
    std::atomic<int> next{0}, failures{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            httplib::Client client("127.0.0.1", port);
            client.set_keep_alive(true);
            client.set_tcp_nodelay(true);
            client.set_read_timeout(60, 0);
            while (next.fetch_add(1) < total) {
                const auto t0 = Clock::now();
                if (!call(client))
                    ++failures;
                latencies[c].push_back(
                    std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            }
        });
    }
    for (auto& t : threads)
        t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::vector<double> all;
    for (const auto& l : latencies)
        all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    Figures f;
    f.rps = all.size() / seconds;
    f.p50_ms = all[all.size() / 2];
    f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
    f.failures = failures;
    return f;
}

}  // namespace

int verify_bench(int requests) {
    const int port = std::atoi(std::getenv("MEDANCHOR_BENCH_PORT"));
    const httplib::Headers auth = {
        {"Authorization", std::string("Bearer ") + std::getenv("MEDANCHOR_BENCH_TOKEN")}};
    const std::string path = std::string("/api/verify/") + std::getenv("MEDANCHOR_BENCH_HASH");
    std::printf(
        "| endpoint | clients | requests/s | p50 | p99 |\n| --- | --- | --- | --- | --- |\n");
    for (int clients : {1, 8, 64}) {
        auto f = run(port, clients, std::max(clients * 2, requests), [&](httplib::Client& c) {
            auto r = c.Get(path, auth);
            if (!r || r->status != 200 ||
                r->body.find("\"verdict\":\"valid\"") == std::string::npos) {
                std::fprintf(stderr, "verify: %s\n",
                             r ? (std::to_string(r->status) + " " + r->body.substr(0, 200)).c_str()
                               : httplib::to_string(r.error()).c_str());
                return false;
            }
            return true;
        });
        std::printf("| GET /api/verify/{hash} | %d | %.0f | %.2f ms | %.2f ms |", clients, f.rps,
                    f.p50_ms, f.p99_ms);
        if (f.failures)
            std::printf(" %d failed", f.failures);
        std::printf("\n");
    }
    return 0;
}

int main(int argc, char** argv) {
    const int requests = argc > 1 ? std::atoi(argv[1]) : 2000;
    if (std::getenv("MEDANCHOR_BENCH_PORT") != nullptr &&
        std::getenv("MEDANCHOR_BENCH_TOKEN") != nullptr &&
        std::getenv("MEDANCHOR_BENCH_HASH") != nullptr)
        return verify_bench(requests);
    const fs::path dir =
        fs::temp_directory_path() / ("medanchor-http-bench-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    const std::string token(64, 'b');
    {
        auto store = medanchor::ledger::AccountStore::open(dir / "users.sqlite");
        medanchor::ledger::Account a{"bench", "radiologist", "",
                                     "ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG", ""};
        if (!store || !store->add(a, medanchor::to_hex(medanchor::sha256(token)))) {
            std::fprintf(stderr, "cannot make the account store\n");
            return 1;
        }
    }
    medanchor::http::ServeOptions o;
    o.port = 0;
    o.data_dir = dir / "data";
    o.users = dir / "users.sqlite";
    o.model = fs::path(MEDANCHOR_SOURCE_DIR) / "models" / "ct-nodule-sim";
    o.chain.node_url = "http://127.0.0.1:1";  // no chain: anchoring is off
    o.anchor = false;
    o.log_requests = false;
    medanchor::http::ApiServer server(o);
    if (auto s = server.bind(); !s) {
        std::fprintf(stderr, "%s\n", s.error().message().c_str());
        return 1;
    }
    std::thread serving([&] { (void)server.run(); });
    const int port = server.port();

    std::ifstream in(fs::path(MEDANCHOR_SOURCE_DIR) / "samples/ct/ctsim-42-00000.dcm",
                     std::ios::binary);
    std::ostringstream slice;
    slice << in.rdbuf();
    const httplib::MultipartFormDataItems upload = {
        {"file", slice.str(), "slice.dcm", "application/dicom"}};
    const httplib::Headers auth = {{"Authorization", "Bearer " + token}};

    std::printf(
        "| endpoint | clients | requests/s | p50 | p99 |\n| --- | --- | --- | --- | --- |\n");
    for (int clients : {1, 8, 64}) {
        auto f = run(port, clients, requests, [](httplib::Client& c) {
            auto r = c.Get("/api/health");
            return r && r->status == 200;
        });
        std::printf("| GET /api/health | %d | %.0f | %.2f ms | %.2f ms |", clients, f.rps, f.p50_ms,
                    f.p99_ms);
        if (f.failures)
            std::printf(" %d failed", f.failures);
        std::printf("\n");
    }
    // Uploads are fewer: each queues a real analysis, and the queue is not drained here.
    for (int clients : {1, 8, 64}) {
        auto f = run(port, clients, std::max(clients * 2, requests / 20), [&](httplib::Client& c) {
            auto r = c.Post("/api/jobs", auth, upload);
            if (!r || r->status != 202) {
                std::fprintf(
                    stderr, "upload: %s\n",
                    r ? std::to_string(r->status).c_str() : httplib::to_string(r.error()).c_str());
                return false;
            }
            return true;
        });
        std::printf(
            "| POST /api/jobs (one 256x256 CT slice, 133 KB) | %d | %.0f | %.2f ms | %.2f ms |",
            clients, f.rps, f.p50_ms, f.p99_ms);
        if (f.failures)
            std::printf(" %d failed", f.failures);
        std::printf("\n");
    }
    std::fflush(stdout);
    // The accepted uploads would be analysed before a graceful stop; a benchmark does not wait.
    fs::remove_all(dir);
    std::_Exit(0);
}
