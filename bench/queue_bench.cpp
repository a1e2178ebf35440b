// The job queue alone (docs/scale.md, "Benchmark"): jobs claimed and completed per second with
// no analysis, by 1 and 2 claimers (threads, each with its own connection, as separate worker
// processes would have), on the PostgreSQL database the URI names (bench/worker_bench.sh starts
// one). Every job points at one analysis row this program records first. Prints figures; never
// pass/fail.
// Usage: medanchor_bench_queue URI [JOBS] [BATCH]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ledger/job_queue.h"
#include "ledger/ledger.h"

using namespace medanchor::ledger;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s URI [JOBS] [BATCH]\n", argv[0]);
        return 2;
    }
    const std::string uri = argv[1];
    const int jobs = argc > 2 ? std::atoi(argv[2]) : 2000;
    const auto batch = static_cast<std::size_t>(argc > 3 ? std::atoi(argv[3]) : 32);
    const std::string model(64, 'f'), analyst = "ST1BENCH";
    auto ledger = Ledger::open(uri);
    if (!ledger) {
        std::fprintf(stderr, "%s\n", ledger.error().message().c_str());
        return 1;
    }
    NewAnalysis a;
    a.source_path = "/bench/x.dcm";
    a.image_hash = std::string(64, 'b');
    a.hash_mode = "sha256";
    a.model_sha256 = model;
    a.model_name = "m";
    a.model_version = "1";
    a.finding = "bench";
    a.report_json = "{}";
    a.analyst = analyst;
    auto added = ledger->add(a);
    if (!added)
        return 1;
    const std::int64_t analysis = added->analysis.id;
    for (int claimers : {1, 2}) {
        auto queue = JobQueue::open(uri);
        if (!queue)
            return 1;
        std::vector<std::string> paths;
        for (int i = 0; i < jobs; ++i)
            paths.push_back("/bench/" + std::to_string(claimers) + "/" + std::to_string(i));
        if (!queue->enqueue(paths, model, analyst))
            return 1;
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (int t = 0; t < claimers; ++t) {
            threads.emplace_back([&, t] {
                auto q = JobQueue::open(uri);
                if (!q)
                    return;
                const std::string worker = "bench:" + std::to_string(t);
                for (;;) {
                    auto got = q->claim(batch, worker, std::chrono::seconds(60), model, analyst);
                    if (!got || got->empty())
                        return;
                    for (const auto& job : *got)
                        (void)q->complete(job.id, analysis);
                }
            });
        }
        for (auto& t : threads)
            t.join();
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        auto st = queue->status();
        std::printf(
            "queue alone, %d claimer(s), batch %zu: %d jobs claimed and completed in %.2f s = "
            "%.0f jobs/s (%zu queued left)\n",
            claimers, batch, jobs, s, jobs / s, st ? st->queued : 0);
    }
    return 0;
}
