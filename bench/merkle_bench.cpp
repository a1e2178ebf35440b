// Merkle trees of analyses (chain/merkle.h), at the sizes Merkle mode is for: a root of 1,000,000
// leaves and of 2^20, the contract's most. Fixed input: the generated leaves of docs/merkle.md for
// the leaf step, SHA-256 of "leaf i" as the leaf hashes of the trees. Prints figures; asserts
// nothing about time.
//   - LeafHash: the leaf fields to their hash (Clarity tuple, serialization, SHA-256), per leaf;
//   - TreeBuild: the tree over n leaf hashes, and the memory it holds;
//   - AuditPaths: the audit path of every leaf of the tree, one after another;
//   - VerifyPath: RFC 9162's check of a 20-sibling path, as verify_path runs it.
// tree_MiB is what the tree holds (MerkleTree::memory_bytes: leaf hashes and nodes); peak_MiB
// the process's peak resident memory so far, best read one benchmark at a time, e.g.
//   /usr/bin/time -v build/bench/medanchor_bench_merkle --benchmark_filter='TreeBuild/1048576'
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "chain/merkle.h"
#include "common/encoding.h"

namespace {

using medanchor::chain::Hash32;
using medanchor::chain::LeafFields;
using medanchor::chain::MerkleTree;

LeafFields generated_leaf(std::size_t i) {
    static const auto analyst =
        *medanchor::stacks::Value::parse_principal("ST2JHG361ZXG51QTKY2NQCVBPPRRE2KZB1HR05NNC");
    LeafFields f;
    f.image_hash = medanchor::sha256("medanchor merkle generated image " + std::to_string(i));
    f.report_digest = medanchor::sha256("medanchor merkle generated report " + std::to_string(i));
    f.finding = i % 2 == 0 ? "nodule-present" : "nodule-absent";
    f.confidence = 6000 + i % 4000;
    f.model_id = 1;
    f.analyst = analyst;
    return f;
}

// n leaf hashes for the tree benchmarks: SHA-256 of each index, cheap to make afresh (the leaf
// step, fields to hash, is measured by LeafHash on its own). Hashes are as random as real ones.
std::vector<Hash32> leaf_hashes(std::size_t n) {
    std::vector<Hash32> hashes;
    hashes.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        hashes.push_back(medanchor::sha256("leaf " + std::to_string(i)));
    return hashes;
}

double peak_mib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void BM_LeafHash(benchmark::State& state) {
    std::vector<LeafFields> leaves;
    for (std::size_t i = 0; i < 1024; ++i)
        leaves.push_back(generated_leaf(i));
    std::size_t i = 0;
    for (auto _ : state) {
        auto h = medanchor::chain::leaf_hash(leaves[i++ % leaves.size()]);
        benchmark::DoNotOptimize(h);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_TreeBuild(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    std::size_t tree_bytes = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<Hash32> hashes = leaf_hashes(n);
        state.ResumeTiming();
        auto tree = MerkleTree::from_leaf_hashes(std::move(hashes));
        benchmark::DoNotOptimize(tree->root());
        tree_bytes = tree->memory_bytes();
    }
    state.counters["leaves"] = static_cast<double>(n);
    state.counters["tree_MiB"] = static_cast<double>(tree_bytes) / (1024.0 * 1024.0);
    state.counters["peak_MiB"] = peak_mib();
}

void BM_AuditPaths(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto built = MerkleTree::from_leaf_hashes(leaf_hashes(n));
    const MerkleTree& tree = *built;
    std::size_t siblings = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i) {
            auto path = tree.audit_path(i);
            siblings += path->size();
            benchmark::DoNotOptimize(path);
        }
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
    state.counters["siblings_per_path"] =
        static_cast<double>(siblings) / static_cast<double>(state.iterations() * n);
    state.counters["peak_MiB"] = peak_mib();
}

void BM_VerifyPath(benchmark::State& state) {
    const std::size_t n = std::size_t{1} << 20;
    const auto built = MerkleTree::from_leaf_hashes(leaf_hashes(n));
    const MerkleTree& tree = *built;
    constexpr std::size_t kSamples = 1024;
    std::vector<std::pair<std::size_t, std::vector<Hash32>>> proofs;
    for (std::size_t k = 0; k < kSamples; ++k) {
        const std::size_t index = (k * 1021) % n;  // spread over the tree
        proofs.emplace_back(index, *tree.audit_path(index));
    }
    std::size_t k = 0;
    std::size_t accepted = 0;
    for (auto _ : state) {
        const auto& [index, path] = proofs[k++ % kSamples];
        accepted +=
            medanchor::chain::verify_path(tree.leaf_hash(index), index, n, path, tree.root());
    }
    if (accepted != static_cast<std::size_t>(state.iterations()))
        state.SkipWithError("a valid path was refused");
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(BM_LeafHash)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TreeBuild)->Arg(1000000)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_AuditPaths)->Arg(1000000)->Arg(1 << 20)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_VerifyPath)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
