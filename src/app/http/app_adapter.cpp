#include "app/http/app_adapter.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <span>
#include <system_error>

#include "app/cli/analyze_command.h"
#include "app/cli/chain_options.h"
#include "chain/anchoring_service.h"
#include "service/model_input.h"
#include "common/file_io.h"
#include "image/image_hash.h"
#include "image/reader.h"
#include "image/site_key.h"
#include "inference/model_bundle.h"
#include "inference/preprocess.h"
#include "inference/saliency.h"
#include "ledger/ledger.h"

namespace medanchor::http {
namespace fs = std::filesystem;

namespace {

const char* extension_for(image::Magic magic) {
    switch (magic) {
        case image::Magic::kDicom:
        case image::Magic::kTruncatedDicom:
            return ".dcm";
        case image::Magic::kPng:
            return ".png";
        case image::Magic::kJpeg:
            return ".jpg";
        case image::Magic::kTiff:
            return ".tif";
        case image::Magic::kUnknown:
            break;
    }
    return nullptr;
}

std::span<const std::uint8_t> as_bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

struct Pipeline::Impl {
    PipelineSettings settings;
    fs::path ledger_path;
    fs::path site_key_path;
    std::optional<image::SiteKey> site_key;
    std::string model_sha256;
    std::optional<inference::ModelManifest> manifest;
    std::atomic<std::uint64_t> counter{0};
    // run_analyze and the outbox are used from the job worker and the anchoring loop; one at
    // a time keeps the CLI code, written for one thread, on one thread.
    std::mutex run_mutex;

    app::ChainOptions chain(const std::string& key_file) const {
        app::ChainOptions o;
        o.network = settings.network;
        o.node = settings.node;
        o.api = settings.api;
        o.contract = settings.contract;
        o.key_file = key_file;
        o.json = true;  // nothing on a terminal
        return o;
    }
};

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() = default;

fs::path Pipeline::ledger_path() const {
    return impl_->ledger_path;
}

Result<std::unique_ptr<Pipeline>> Pipeline::open(const PipelineSettings& settings) {
    auto impl = std::make_unique<Impl>();
    impl->settings = settings;
    impl->ledger_path = settings.data_dir / "ledger.sqlite";
    impl->site_key_path = settings.data_dir / "site.key";
    std::error_code ec;
    fs::create_directories(settings.data_dir / "tmp", ec);
    if (ec)
        return Error(ErrorCode::kIo, (settings.data_dir / "tmp").string() + ": " + ec.message());
    fs::permissions(settings.data_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
    fs::permissions(settings.data_dir / "tmp", fs::perms::owner_all, fs::perm_options::replace, ec);
    if (settings.keep_originals) {
        fs::create_directories(settings.data_dir / "originals", ec);
        if (ec) {
            return Error(ErrorCode::kIo,
                         (settings.data_dir / "originals").string() + ": " + ec.message());
        }
        fs::permissions(settings.data_dir / "originals", fs::perms::owner_all,
                        fs::perm_options::replace, ec);
    }
    // Uploads that a crash left behind are removed: the client was never told they were done.
    for (const auto& entry : fs::directory_iterator(settings.data_dir / "tmp", ec))
        fs::remove_all(entry.path(), ec);

    auto key = image::SiteKey::load(impl->site_key_path);
    if (!key && key.error().code() == ErrorCode::kNoKey)
        key = image::SiteKey::create(impl->site_key_path);
    if (!key)
        return key.error();
    impl->site_key = *key;

    auto bundle = inference::load_model_bundle(settings.model.empty() ? app::default_model_dir()
                                                                      : fs::path(settings.model));
    if (!bundle)
        return bundle.error();
    impl->model_sha256 = bundle->manifest.model_sha256;
    impl->manifest = bundle->manifest;

    auto ledger = ledger::Ledger::open(impl->ledger_path);
    if (!ledger)
        return ledger.error();
    return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

std::vector<Result<std::int64_t>> Pipeline::analyze(const std::vector<std::string>& images,
                                                    const std::string& analyst) {
    std::vector<Result<std::int64_t>> out(images.size(),
                                          Error(ErrorCode::kInternal, "not analysed"));
    // Each image is decoded here once for the hash the ledger is keyed by (run_analyze decodes
    // it again), and written under a name the server chose; the files go when this returns.
    struct Staged {
        std::size_t index;
        std::string hash;
        fs::path file;
    };
    std::vector<Staged> staged;
    struct Remove {
        std::vector<Staged>& files;
        ~Remove() {
            std::error_code ec;
            for (const auto& f : files)
                fs::remove(f.file, ec);
        }
    } remove{staged};
    for (std::size_t i = 0; i < images.size(); ++i) {
        const auto& bytes = images[i];
        const char* ext = extension_for(image::sniff_magic(as_bytes(bytes)));
        if (ext == nullptr) {
            out[i] = Error(ErrorCode::kUnsupported,
                           "not a DICOM, PNG, JPEG or TIFF image (by its first bytes)");
            continue;
        }
        auto img = image::decode_image(as_bytes(bytes), "upload " + std::to_string(i + 1));
        if (!img) {
            out[i] = img.error();
            continue;
        }
        const auto hash = image::hash_image(*img, &*impl_->site_key);
        const fs::path file =
            impl_->settings.data_dir / "tmp" /
            (std::to_string(impl_->counter.fetch_add(1)) + "-" + std::to_string(::getpid()) + ext);
        if (auto w = write_file_atomically(file, std::string_view(bytes)); !w) {
            out[i] = w.error();
            continue;
        }
        if (impl_->settings.keep_originals) {
            // Kept before the analysis, so an image whose original could not be kept is not
            // analysed: the operator asked for both.
            if (auto w = write_file_atomically(
                    impl_->settings.data_dir / "originals" / (hash.hex() + ext),
                    std::string_view(bytes));
                !w) {
                out[i] = w.error();
                std::error_code ec;
                fs::remove(file, ec);
                continue;
            }
        }
        staged.push_back({i, hash.hex(), file});
    }
    if (staged.empty())
        return out;

    app::AnalyzeRequest r;
    for (const auto& f : staged)
        r.inputs.push_back(f.file.string());
    r.model = impl_->settings.model;
    r.out = (impl_->settings.data_dir / "reports").string();
    r.site_key = impl_->site_key_path.string();
    r.ledger = impl_->ledger_path.string();
    r.analyst = analyst;
    r.saliency = true;
    r.anchor = false;
    r.threads = 1;
    r.chain = impl_->chain("");
    Status status;
    {
        std::lock_guard lock(impl_->run_mutex);
        status = app::run_analyze(r);
    }
    // run_analyze reports only the first failure; each image's outcome is read from the
    // ledger, by the key it is recorded under.
    auto ledger = ledger::Ledger::open(impl_->ledger_path);
    for (const auto& f : staged) {
        if (!ledger) {
            out[f.index] = ledger.error();
            continue;
        }
        auto found = ledger->find(f.hash, impl_->model_sha256, analyst);
        if (!found)
            out[f.index] = found.error();
        else if (*found)
            out[f.index] = (*found)->id;
        else if (!status)
            out[f.index] = status.error();
        else
            out[f.index] = Error(ErrorCode::kInternal, "the analysis was not recorded");
    }
    return out;
}

Status Pipeline::anchor_round(const std::string& key_file) {
    auto session = app::open_session(impl_->chain(key_file));
    if (!session)
        return session.error();
    std::lock_guard lock(impl_->run_mutex);
    auto ledger = ledger::Ledger::open(impl_->ledger_path);
    if (!ledger)
        return ledger.error();
    auto outbox_lock = ledger::OutboxLock::acquire(impl_->ledger_path, std::chrono::seconds(1));
    if (!outbox_lock)
        return outbox_lock.error();
    chain::OutboxOptions options;
    options.wait = false;
    auto summary = chain::sync_outbox(*ledger, *session, options);
    if (!summary)
        return summary.error();
    return Status::Ok();
}

Result<std::vector<std::uint8_t>> Pipeline::render_image_png(const fs::path& report_dir) {
    auto img = image::read_image(report_dir / "image.deid.dcm");
    if (!img)
        return img.error();
    auto input = service::to_model_input(*img, "image.deid.dcm");
    if (!input)
        return input.error();
    auto prepared = inference::preprocess(*input, *impl_->manifest);
    if (!prepared)
        return prepared.error();
    // An all-zero saliency map: render_saliency_png then blends nothing over the windowed
    // image, which is exactly the plain rendering (one PNG encoder for both).
    inference::SaliencyMap none;
    none.rows = prepared->content_y + prepared->content_height;
    none.columns = prepared->content_x + prepared->content_width;
    none.values.assign(static_cast<std::size_t>(none.rows) * none.columns, 0.0f);
    return inference::render_saliency_png(none, *prepared);
}

Result<std::string> principal_of_key_file(const std::string& key_file, const std::string& network) {
    app::ChainOptions o;
    o.network = network;
    o.key_file = key_file;
    auto session = app::open_session(o);
    if (!session)
        return session.error();
    return session->sender();
}

}  // namespace medanchor::http
