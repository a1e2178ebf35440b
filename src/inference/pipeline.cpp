#include "inference/pipeline.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace medanchor::inference {
namespace {

struct Prepared {
    std::size_t index;
    PreparedInput input;
};

// State shared by the threads of one run; every member behind `mutex`.
struct Shared {
    std::mutex mutex;
    std::condition_variable queue_changed;   // queue gained items, or loaders finished
    std::condition_variable queue_has_room;  // queue lost items
    std::condition_variable result_ready;    // results gained an item
    std::deque<Prepared> queue;
    std::size_t queue_capacity = 0;
    int loaders_running = 0;
    std::map<std::size_t, Result<ItemResult>> results;

    void post(std::size_t index, Result<ItemResult> result) {
        {
            std::lock_guard lock(mutex);
            results.emplace(index, std::move(result));
        }
        result_ready.notify_one();
    }
};

void loader_thread(Shared& shared, std::atomic<std::size_t>& next, std::size_t count,
                   const ImageLoader& loader, const ModelManifest& manifest) {
    for (;;) {
        const std::size_t i = next.fetch_add(1);
        if (i >= count)
            break;
        auto image = loader(i);
        if (!image) {
            shared.post(i, image.error());
            continue;
        }
        auto prepared = preprocess(*image, manifest);
        if (!prepared) {
            shared.post(i, prepared.error());
            continue;
        }
        std::unique_lock lock(shared.mutex);
        shared.queue_has_room.wait(lock,
                                   [&] { return shared.queue.size() < shared.queue_capacity; });
        shared.queue.push_back({i, std::move(*prepared)});
        lock.unlock();
        shared.queue_changed.notify_one();
    }
    {
        std::lock_guard lock(shared.mutex);
        --shared.loaders_running;
    }
    shared.queue_changed.notify_all();
}

void inference_thread(Shared& shared, Engine& engine, const ModelManifest& manifest,
                      const PipelineOptions& options, std::size_t batch) {
    std::vector<Prepared> items;
    std::vector<Tensor> tensors;
    for (;;) {
        items.clear();
        {
            std::unique_lock lock(shared.mutex);
            // A full batch, or whatever is left once the loaders are done.
            shared.queue_changed.wait(
                lock, [&] { return shared.queue.size() >= batch || shared.loaders_running == 0; });
            if (shared.queue.empty())
                return;  // loaders done and nothing left
            while (!shared.queue.empty() && items.size() < batch) {
                items.push_back(std::move(shared.queue.front()));
                shared.queue.pop_front();
            }
        }
        shared.queue_has_room.notify_all();
        // Another inference thread may be waiting for the rest.
        shared.queue_changed.notify_all();

        tensors.clear();
        for (auto& item : items)
            tensors.push_back(std::move(item.input.tensor));
        auto outputs = engine.run(tensors);
        for (std::size_t k = 0; k < items.size(); ++k) {
            if (!outputs) {
                shared.post(items[k].index, outputs.error());
                continue;
            }
            ItemResult r;
            r.input = std::move(items[k].input);
            r.raw = std::move((*outputs)[k]);
            r.prediction = predict(r.raw, manifest);
            if (options.saliency) {
                r.input.tensor = std::move(tensors[k]);
                auto map = occlusion_saliency(engine, r.input, manifest, r.prediction.finding,
                                              options.saliency_options);
                r.input.tensor = Tensor{};
                if (!map) {
                    shared.post(items[k].index, map.error());
                    continue;
                }
                r.saliency = std::move(*map);
            } else {
                r.input.display.clear();
                r.input.display.shrink_to_fit();
            }
            shared.post(items[k].index, std::move(r));
        }
    }
}

}  // namespace

Status run_pipeline(const ModelBundle& bundle, std::size_t count, const ImageLoader& loader,
                    const ResultSink& sink, const PipelineOptions& options,
                    const EngineFactory& factory) {
    if (options.batch < 1 || options.batch > 256)
        return Error(ErrorCode::kInvalidArgument, "batch must be in 1..256");
    if (options.threads < 0)
        return Error(ErrorCode::kInvalidArgument, "threads must be >= 0");
    const int threads = options.threads > 0
                            ? options.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    const int engines = std::clamp(options.engines, 1, threads);
    const auto batch = static_cast<std::size_t>(options.batch);

    std::vector<std::unique_ptr<Engine>> made;
    for (int e = 0; e < engines; ++e) {
        auto engine = factory(bundle);
        if (!engine)
            return engine.error();
        made.push_back(std::move(*engine));
    }
    if (count == 0)
        return Status::Ok();

    // OpenCV's threads inside one convolution or resize, and LibTorch's inside one operator when
    // it runs the network: the budget split over the engines. The loaders mostly decode
    // (DCMTK/GDCM, single-threaded) and wait on the queue.
    const int per_engine = std::max(1, threads / engines);
    const int previous = set_opencv_threads(per_engine);
    const bool torch = bundle.manifest.engine == EngineKind::kLibTorch;
    const int previous_torch = torch ? set_torch_threads(per_engine) : 0;
    const int loaders = static_cast<int>(std::min<std::size_t>(count, threads));

    Shared shared;
    shared.queue_capacity = batch * static_cast<std::size_t>(engines) * 2;
    shared.loaders_running = loaders;
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> workers;
    for (int l = 0; l < loaders; ++l) {
        workers.emplace_back(loader_thread, std::ref(shared), std::ref(next), count,
                             std::cref(loader), std::cref(bundle.manifest));
    }
    for (auto& engine : made) {
        workers.emplace_back(inference_thread, std::ref(shared), std::ref(*engine),
                             std::cref(bundle.manifest), std::cref(options), batch);
    }
    for (std::size_t i = 0; i < count; ++i) {
        std::unique_lock lock(shared.mutex);
        shared.result_ready.wait(lock, [&] { return shared.results.count(i) != 0; });
        auto node = shared.results.extract(i);
        lock.unlock();
        sink(i, std::move(node.mapped()));
    }
    for (auto& w : workers)
        w.join();
    set_opencv_threads(previous);
    if (torch)
        set_torch_threads(previous_torch);
    return Status::Ok();
}

}  // namespace medanchor::inference
