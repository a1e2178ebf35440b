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
    std::condition_variable queue_changed;  // queue gained items, or loaders finished loading
    // For the loaders: the queue lost items, unfinished gained one, or inference ended.
    std::condition_variable loader_wake;
    std::condition_variable result_ready;  // results gained an item
    std::deque<Prepared> queue;
    std::size_t queue_capacity = 0;
    int loaders_loading = 0;    // loaders that may still add to the queue
    int inference_running = 0;  // inference threads that may still add to unfinished
    bool stopping = false;      // the run is being abandoned (the sink threw): workers return
    // Inference results waiting for the finisher (options.finish), which the loaders run.
    std::deque<std::pair<std::size_t, Result<ItemResult>>> unfinished;
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
                                       const ModelManifest& manifest, bool display) {
    try {
        auto image = loader(i);
        if (!image)
            return image.error();
        return preprocess(std::move(*image), manifest, display);
    } catch (const std::exception& e) {
        return internal("loading an image", &e);
    } catch (...) {
        return internal("loading an image", nullptr);
    }
}

Result<ItemResult> finish_item(const ItemFinisher& finish, std::size_t i,
                               Result<ItemResult> result) {
    try {
        return finish(i, std::move(result));
    } catch (const std::exception& e) {
        return internal("finishing an image", &e);
    } catch (...) {
        return internal("finishing an image", nullptr);
    }
}

// Takes one waiting result off `unfinished`, finishes it unlocked and posts it; `lock` is held
// again on return. False when none waits.
bool finish_one(Shared& shared, std::unique_lock<std::mutex>& lock, const ItemFinisher& finish) {
    if (shared.unfinished.empty())
        return false;
    auto [i, result] = std::move(shared.unfinished.front());
    shared.unfinished.pop_front();
    lock.unlock();
    shared.post(i, finish_item(finish, i, std::move(result)));
    lock.lock();
    return true;
}

void loader_thread(Shared& shared, std::atomic<std::size_t>& next, std::size_t count,
                   const ImageLoader& loader, const ModelManifest& manifest,
                   const ItemFinisher& finish, bool saliency) {
    bool loading = true;
    for (;;) {
        std::unique_lock lock(shared.mutex);
        if (shared.stopping)
            break;
        // Finishing first: it frees what a result holds and lets the sink go on.
        if (finish_one(shared, lock, finish))
            continue;
        if (!loading) {
            // Loading done: finish what inference still hands over, then leave.
            if (shared.inference_running == 0)
                break;
            shared.loader_wake.wait(lock, [&] {
                return !shared.unfinished.empty() || shared.inference_running == 0 ||
                       shared.stopping;
            });
            continue;
        }
        lock.unlock();
        const std::size_t i = next.fetch_add(1);
        if (i >= count) {
            loading = false;
            lock.lock();
            --shared.loaders_loading;
            lock.unlock();
            shared.queue_changed.notify_all();
            continue;
        }
        auto prepared = load_and_prepare(loader, i, manifest, saliency);
        if (!prepared) {
            shared.post(i, prepared.error());
            continue;
        }
        lock.lock();
        for (;;) {
            shared.loader_wake.wait(lock, [&] {
                return shared.queue.size() < shared.queue_capacity || !shared.unfinished.empty() ||
                       shared.stopping;
            });
            if (shared.stopping || shared.queue.size() < shared.queue_capacity)
                break;
            finish_one(shared, lock, finish);  // no room yet: finish meanwhile
        }
        if (shared.stopping)
            break;
        shared.queue.push_back({i, std::move(*prepared)});
        lock.unlock();
        shared.queue_changed.notify_one();
    }
    std::unique_lock lock(shared.mutex);
    if (loading) {
        --shared.loaders_loading;  // abandoned while loading
        lock.unlock();
        shared.queue_changed.notify_all();
    }
}

// Hands an inference result on: to the loaders to finish, or to the sink.
void hand_on(Shared& shared, const PipelineOptions& options, std::size_t index,
             Result<ItemResult> result) {
    if (!options.finish) {
        shared.post(index, std::move(result));
        return;
    }
    {
        std::lock_guard lock(shared.mutex);
        shared.unfinished.emplace_back(index, std::move(result));
    }
    shared.loader_wake.notify_one();
}

void inference_loop(Shared& shared, Engine& engine, const ModelManifest& manifest,
                    const PipelineOptions& options, std::size_t batch) {
    std::vector<Prepared> items;
    std::vector<Tensor> tensors;
    for (;;) {
        items.clear();
        {
            std::unique_lock lock(shared.mutex);
            // A full batch, or whatever is left once the loaders are done.
            shared.queue_changed.wait(lock, [&] {
                return shared.queue.size() >= batch || shared.loaders_loading == 0 ||
                       shared.stopping;
            });
            if (shared.queue.empty() || shared.stopping)
                return;  // loaders done and nothing left, or the run abandoned
            while (!shared.queue.empty() && items.size() < batch) {
                items.push_back(std::move(shared.queue.front()));
                shared.queue.pop_front();
            }
        }
        shared.loader_wake.notify_all();
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
                hand_on(shared, options, items[k].index, outputs.error());
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
                    hand_on(shared, options, items[k].index, map.error());
                    continue;
                }
                r.saliency = std::move(*map);
            } else {
                r.input.display.clear();
                r.input.display.shrink_to_fit();
            }
            hand_on(shared, options, items[k].index, std::move(r));
        }
    }
}

void inference_thread(Shared& shared, Engine& engine, const ModelManifest& manifest,
                      const PipelineOptions& options, std::size_t batch) {
    inference_loop(shared, engine, manifest, options, batch);
    {
        std::lock_guard lock(shared.mutex);
        --shared.inference_running;
    }
    shared.loader_wake.notify_all();
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
        shared_.loader_wake.notify_all();
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
    shared.loaders_loading = loaders;
    shared.inference_running = engines;
    std::atomic<std::size_t> next{0};
    Workers workers(shared);
    for (int l = 0; l < loaders; ++l) {
        workers.start(loader_thread, std::ref(shared), std::ref(next), count, std::cref(loader),
                      std::cref(bundle.manifest), std::cref(options.finish), options.saliency);
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
