#include "inference/pipeline.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

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
    bool stopping = false;  // the run is being abandoned (the sink threw): workers return
    std::map<std::size_t, Result<ItemResult>> results;

    void post(std::size_t index, Result<ItemResult> result) {
        {
            std::lock_guard lock(mutex);
            results.emplace(index, std::move(result));
        }
        result_ready.notify_one();
    }
};

// An exception escaping a worker would end the process (std::terminate); one from the caller's
// loader or an engine becomes that image's kInternal error instead.
Error internal(const char* where, const std::exception* e) {
    std::string message = "internal error in ";
    message += where;
    message += ": ";
    message += e ? e->what() : "unknown exception";
    return Error(ErrorCode::kInternal, message);
}

Result<PreparedInput> load_and_prepare(const ImageLoader& loader, std::size_t i,
                                       const ModelManifest& manifest) {
    try {
        auto image = loader(i);
        if (!image)
            return image.error();
        return preprocess(std::move(*image), manifest);
    } catch (const std::exception& e) {
        return internal("loading an image", &e);
    } catch (...) {
        return internal("loading an image", nullptr);
    }
}

void loader_thread(Shared& shared, std::atomic<std::size_t>& next, std::size_t count,
                   const ImageLoader& loader, const ModelManifest& manifest) {
    for (;;) {
        const std::size_t i = next.fetch_add(1);
        if (i >= count)
            break;
        auto prepared = load_and_prepare(loader, i, manifest);
        if (!prepared) {
            shared.post(i, prepared.error());
            continue;
        }
        std::unique_lock lock(shared.mutex);
        shared.queue_has_room.wait(
            lock, [&] { return shared.queue.size() < shared.queue_capacity || shared.stopping; });
        if (shared.stopping)
            break;
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
            shared.queue_changed.wait(lock, [&] {
                return shared.queue.size() >= batch || shared.loaders_running == 0 ||
                       shared.stopping;
            });
            if (shared.queue.empty() || shared.stopping)
                return;  // loaders done and nothing left, or the run abandoned
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
        Result<std::vector<std::vector<float>>> outputs = internal("inference", nullptr);
        try {
            outputs = engine.run(tensors);
        } catch (const std::exception& e) {
            outputs = internal("inference", &e);
        } catch (...) {
        }
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

// The run's threads, joined on every path: a sink that throws abandons the run (the workers stop
// at their next wait) and the exception reaches run_pipeline's caller after the join.
class Workers {
  public:
    explicit Workers(Shared& shared) : shared_(shared) {}
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;
    ~Workers() {
        {
            std::lock_guard lock(shared_.mutex);
            shared_.stopping = true;
        }
        shared_.queue_changed.notify_all();
        shared_.queue_has_room.notify_all();
        for (auto& t : threads_)
            t.join();
    }
    template <typename... Args>
    void start(Args&&... args) {
        threads_.emplace_back(std::forward<Args>(args)...);
    }

  private:
    Shared& shared_;
    std::vector<std::thread> threads_;
};

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

    // The threads inside one operator (OpenCV's, LibTorch's) are the process owner's to set, once
    // (set_compute_threads, engine.h); a run never changes them. The loaders mostly decode
    // (DCMTK/GDCM, single-threaded) and wait on the queue.
    const int loaders = static_cast<int>(std::min<std::size_t>(count, threads));

    Shared shared;
    shared.queue_capacity = batch * static_cast<std::size_t>(engines) * 2;
    shared.loaders_running = loaders;
    std::atomic<std::size_t> next{0};
    Workers workers(shared);
    for (int l = 0; l < loaders; ++l) {
        workers.start(loader_thread, std::ref(shared), std::ref(next), count, std::cref(loader),
                      std::cref(bundle.manifest));
    }
    for (auto& engine : made) {
        workers.start(inference_thread, std::ref(shared), std::ref(*engine),
                      std::cref(bundle.manifest), std::cref(options), batch);
    }
    for (std::size_t i = 0; i < count; ++i) {
        std::unique_lock lock(shared.mutex);
        shared.result_ready.wait(lock, [&] { return shared.results.count(i) != 0; });
        auto node = shared.results.extract(i);
        lock.unlock();
        sink(i, std::move(node.mapped()));
    }
    return Status::Ok();
}

}  // namespace medanchor::inference
