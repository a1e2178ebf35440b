// AnalysisService without a chain, on real files: the shipped reference model, the simulated CT
// samples, a real SQLite ledger and real report folders. What a server and the DICOM listener
// rely on: an image given as bytes in memory is analysed like the same file (same hash, finding
// and digest inputs), its report folder is written once and a second call reports "already
// recorded", the Observer hears every step in order, a bad upload is an error naming it, and
// the thresholds in force decide needs_review.
#include "service/analysis_service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <vector>

#include "../image/test_support.h"
#include "common/file_io.h"
#include "image/deid.h"
#include "image/instance_uids.h"
#include "image/site_key.h"
#include "inference/model_bundle.h"
#include "service/file_inputs.h"

namespace medanchor::service {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

constexpr const char* kAnalyst = "ST1SJ3DTE5DN7X54YDH5D64R3BCB6A2AG2ZQ8YPD5";

fs::path sample(int i) {
    return fs::path(MEDANCHOR_SOURCE_DIR) / "samples" / "ct" /
           ("ctsim-42-0000" + std::to_string(i) + ".dcm");
}

std::vector<std::uint8_t> bytes_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every event, one line each, in the order heard.
struct Recording : Observer {
    std::vector<std::string> events;
    void on_decoded(const ImageRef& i, const std::string& hash) override {
        events.push_back("decoded " + i.name + " " + hash.substr(0, 12));
    }
    void on_analysed(const ImageRef& i, const std::string& finding, std::uint32_t) override {
        events.push_back("analysed " + i.name + " " + finding);
    }
    void on_recorded(const ImageRef& i, const ledger::Analysis& a, bool already) override {
        events.push_back(std::string(already ? "already " : "recorded ") + i.name + " #" +
                         std::to_string(a.id));
    }
    void on_needs_review(const ImageRef& i, std::int64_t id, const std::string&) override {
        events.push_back("review " + i.name + " #" + std::to_string(id));
    }
    void on_failed(const ImageRef& i, const Error& e) override {
        events.push_back("failed " + i.name + " " + error_info(e.code()).name);
    }
};

class AnalysisServiceTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto key = image::SiteKey::create(dir_.path() / "site.key");
        ASSERT_TRUE(key) << key.error().message();
        auto bundle = inference::load_model_bundle(fs::path(MEDANCHOR_SOURCE_DIR) / "models" /
                                                   "ct-nodule-sim");
        ASSERT_TRUE(bundle) << bundle.error().message();
        auto store = ArtifactStore::open(dir_.path() / "reports");
        ASSERT_TRUE(store) << store.error().message();
        auto service = AnalysisService::open(
            {std::make_shared<const inference::ModelBundle>(std::move(*bundle)), *key,
             dir_.path() / "ledger.sqlite", std::move(*store), /*compute_threads=*/1});
        ASSERT_TRUE(service) << service.error().message();
        service_ = std::move(*service);
        options_.analyst = kAnalyst;
        options_.threads = 1;
    }

    ScratchDir dir_;
    std::unique_ptr<AnalysisService> service_;
    AnalysisOptions options_;
};

TEST_F(AnalysisServiceTest, BytesInMemoryAreAnalysedLikeTheFileAndWrittenOnce) {
    Recording heard;
    auto from_bytes =
        service_->analyze(ImageSource::bytes(bytes_of(sample(0)), "upload-0.dcm"), options_, heard);
    ASSERT_TRUE(from_bytes) << from_bytes.error().message();
    EXPECT_FALSE(from_bytes->already_recorded);
    const ledger::Analysis& a = from_bytes->analysis;
    EXPECT_EQ(a.hash_mode, "hmac-sha256");
    EXPECT_EQ(a.analyst, kAnalyst);
    EXPECT_EQ(a.source_path, "upload:upload-0.dcm");  // never a path that does not exist
    ASSERT_TRUE(a.report_dir);
    const fs::path folder(*a.report_dir);
    EXPECT_EQ(folder.parent_path(), fs::absolute(dir_.path() / "reports"));
    for (const char* f : {"report.json", "report.fhir.json", "report.sr.dcm", "image.deid.dcm"})
        EXPECT_TRUE(fs::is_regular_file(folder / f)) << f;
    // The folder holds exactly the report the ledger recorded (its digest is what is anchored).
    auto report = read_regular_text_file(folder / "report.json", 1 << 20);
    ASSERT_TRUE(report);
    EXPECT_EQ(*report, a.report_json);
    ASSERT_GE(heard.events.size(), 3u);
    EXPECT_EQ(heard.events[0].rfind("decoded upload-0.dcm hmac-sha256", 0), 0u) << heard.events[0];
    EXPECT_EQ(heard.events[1].rfind("analysed upload-0.dcm ", 0), 0u) << heard.events[1];
    EXPECT_EQ(heard.events[2], "recorded upload-0.dcm #" + std::to_string(a.id));

    // The same pixels from the file: the same ledger entry, reported as already recorded, and
    // the folder is not touched.
    const auto before = fs::last_write_time(folder / "report.json");
    Recording again;
    auto from_file = service_->analyze(ImageSource::file(sample(0)), options_, again);
    ASSERT_TRUE(from_file) << from_file.error().message();
    EXPECT_TRUE(from_file->already_recorded);
    EXPECT_EQ(from_file->analysis.id, a.id);
    EXPECT_EQ(from_file->analysis.image_hash, a.image_hash);
    EXPECT_EQ(fs::last_write_time(folder / "report.json"), before);
    EXPECT_EQ(again.events.back(), "already " + sample(0).string() + " #" + std::to_string(a.id));
}

// A de-identified copy at or over Dependencies::spill_bytes is written to a hidden file by the
// loader as soon as it is made (so it is not held in memory beside the model input) and moved
// into its report folder: the same bytes as a copy written from memory. An image that fails
// after its copy was spilled (an MR slice: the model takes CT) leaves no file behind.
TEST_F(AnalysisServiceTest, ASpilledCopyIsTheSameFileAndNoneIsLeftBehind) {
    auto key = image::SiteKey::load(dir_.path() / "site.key");
    ASSERT_TRUE(key) << key.error().message();
    auto bundle =
        inference::load_model_bundle(fs::path(MEDANCHOR_SOURCE_DIR) / "models" / "ct-nodule-sim");
    ASSERT_TRUE(bundle) << bundle.error().message();
    const fs::path root = dir_.path() / "spilled-reports";
    auto store = ArtifactStore::open(root);
    ASSERT_TRUE(store) << store.error().message();
    AnalysisService::Dependencies deps{
        std::make_shared<const inference::ModelBundle>(std::move(*bundle)), *key,
        dir_.path() / "spilled-ledger.sqlite", std::move(*store), /*compute_threads=*/1};
    deps.spill_bytes = 1;  // every copy
    auto spilling = AnalysisService::open(std::move(deps));
    ASSERT_TRUE(spilling) << spilling.error().message();

    Recording heard;
    auto kept = service_->analyze(ImageSource::file(sample(1)), options_, heard);
    auto spilled = (*spilling)->analyze(ImageSource::file(sample(1)), options_, heard);
    ASSERT_TRUE(kept) << kept.error().message();
    ASSERT_TRUE(spilled) << spilled.error().message();
    const auto copy = bytes_of(fs::path(*spilled->analysis.report_dir) / "image.deid.dcm");
    EXPECT_GT(copy.size(), 100000u);
    EXPECT_EQ(copy, bytes_of(fs::path(*kept->analysis.report_dir) / "image.deid.dcm"));

    auto failed = (*spilling)->analyze(ImageSource::file(testing::pydicom_file("MR_small.dcm")),
                                       options_, heard);
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error().code(), ErrorCode::kUnsupported) << failed.error().message();
    std::vector<std::string> hidden;
    for (const auto& entry : fs::directory_iterator(root)) {
        if (entry.path().filename().string().find("spilled") != std::string::npos)
            hidden.push_back(entry.path().filename().string());
    }
    EXPECT_TRUE(hidden.empty()) << hidden.front();
}

// The listener's spool holds instances de-identified at intake under the site key: analysed as
// they are, the report and its copy cite the UIDs the spool file carries (not remapped again);
// the same bytes as a plain PACS instance would be de-identified a second time.
TEST_F(AnalysisServiceTest, ADeidentifiedInstanceIsCitedWithTheUidsItCarries) {
    auto key = image::SiteKey::load(dir_.path() / "site.key");
    ASSERT_TRUE(key) << key.error().message();
    const image::UidRemapper remapper(*key);
    auto spooled = image::deidentify_in_memory(bytes_of(sample(1)), "spool-1.dcm", {}, remapper);
    ASSERT_TRUE(spooled) << spooled.error().message();
    ASSERT_TRUE(spooled->uids);
    const std::vector<std::uint8_t> bytes(spooled->part10.begin(), spooled->part10.end());
    Observer quiet;
    auto r = service_->analyze(ImageSource::deidentified_pacs_instance(bytes, "dimse:M/1"),
                               options_, quiet);
    ASSERT_TRUE(r) << r.error().message();
    const fs::path folder(*r->analysis.report_dir);
    auto copy = image::read_instance_uids(folder / "image.deid.dcm");
    ASSERT_TRUE(copy) << copy.error().message();
    EXPECT_EQ(copy->sop_instance, spooled->uids->sop_instance);
    EXPECT_EQ(copy->series, spooled->uids->series);
    EXPECT_EQ(copy->study, spooled->uids->study);
    auto report = read_regular_text_file(folder / "report.json", 1 << 20);
    ASSERT_TRUE(report);
    EXPECT_NE(report->find(spooled->uids->sop_instance), std::string::npos);
    // De-identifying again would have remapped it once more.
    EXPECT_NE(remapper.remap(spooled->uids->sop_instance), spooled->uids->sop_instance);
}

TEST_F(AnalysisServiceTest, BadBytesAreAnErrorNamingTheUploadAndNothingIsWritten) {
    Recording heard;
    const std::string junk = "not an image at all";
    auto r = service_->analyze(
        ImageSource::bytes(std::vector<std::uint8_t>(junk.begin(), junk.end()), "junk.bin"),
        options_, heard);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("junk.bin"), std::string::npos) << r.error().message();
    ASSERT_EQ(heard.events.size(), 1u);
    EXPECT_EQ(heard.events[0].rfind("failed junk.bin ", 0), 0u) << heard.events[0];
    // Nothing but the output marker in the report root.
    std::size_t entries = 0;
    for (const auto& e : fs::directory_iterator(dir_.path() / "reports")) {
        EXPECT_EQ(e.path().filename(), kOutputFolderMarker);
        ++entries;
    }
    EXPECT_EQ(entries, 1u);
}

TEST_F(AnalysisServiceTest, ABatchGoesOnPastAFailureAndTheThresholdsDecideReview) {
    // A contract threshold no confidence reaches: every analysis is held for review, with the
    // reason naming the contract's threshold.
    options_.terms = chain::AnchoringTerms{chain::Thresholds{10001, 0, 0}, 7};
    std::vector<ImageSource> sources{ImageSource::file(sample(1)),
                                     ImageSource::file(dir_.path() / "missing.dcm"),
                                     ImageSource::file(sample(2))};
    Recording heard;
    auto batch = service_->analyze_batch(sources, options_, heard);
    ASSERT_TRUE(batch) << batch.error().message();
    ASSERT_EQ(batch->images.size(), 3u);
    EXPECT_EQ(batch->failed, 1u);
    EXPECT_EQ(batch->needs_review, 2u);
    EXPECT_EQ(batch->recorded, 0u);
    ASSERT_TRUE(batch->first_failure());
    EXPECT_EQ(batch->first_failure()->code(), ErrorCode::kNotFound);
    for (std::size_t i : {0u, 2u}) {
        ASSERT_TRUE(batch->images[i].result);
        const auto& a = batch->images[i].result->analysis;
        EXPECT_EQ(a.state, ledger::AnalysisState::kNeedsReview);
        EXPECT_NE(a.review_reason.find("the contract's threshold of 10001 bp"), std::string::npos)
            << a.review_reason;
        EXPECT_EQ(a.model_id, std::optional<std::uint64_t>(7));
    }
    // Events in input order, the failure among them.
    std::vector<std::string> kinds;
    for (const auto& e : heard.events)
        kinds.push_back(e.substr(0, e.find(' ')));
    EXPECT_EQ(kinds,
              (std::vector<std::string>{"decoded", "analysed", "recorded", "review", "failed",
                                        "decoded", "analysed", "recorded", "review"}));
}

// Records are committed in batches; still, an image found recorded is told after the new image
// before it, never ahead of it.
TEST_F(AnalysisServiceTest, ARecordFoundIsToldInInputOrderAfterANewOneStagedBeforeIt) {
    Recording first;
    ASSERT_TRUE(service_->analyze(ImageSource::file(sample(2)), options_, first));
    Recording heard;
    auto batch = service_->analyze_batch(
        {ImageSource::file(sample(1)), ImageSource::file(sample(2))}, options_, heard);
    ASSERT_TRUE(batch) << batch.error().message();
    EXPECT_EQ(batch->already_recorded, 1u);
    std::vector<std::string> recorded;
    for (const auto& e : heard.events) {
        if (e.rfind("recorded ", 0) == 0 || e.rfind("already ", 0) == 0)
            recorded.push_back(e);
    }
    ASSERT_EQ(recorded.size(), 2u);
    EXPECT_EQ(recorded[0].rfind("recorded ", 0), 0u) << recorded[0];
    EXPECT_NE(recorded[0].find(sample(1).filename().string()), std::string::npos) << recorded[0];
    EXPECT_EQ(recorded[1].rfind("already ", 0), 0u) << recorded[1];
    EXPECT_NE(recorded[1].find(sample(2).filename().string()), std::string::npos) << recorded[1];
}

// Every file of a folder, by name.
std::map<std::string, std::vector<std::uint8_t>> files_of(const fs::path& folder) {
    std::map<std::string, std::vector<std::uint8_t>> out;
    for (const auto& entry : fs::directory_iterator(folder))
        out[entry.path().filename().string()] = bytes_of(entry.path());
    return out;
}

// A process killed between the record and placing its folder leaves a record without a folder:
// the next analysis of the same image (a rerun, the worker that takes the job over) places it
// again from the recorded report, every file byte for byte what the first run wrote. A run that
// cannot make every file the report cites (no saliency map) leaves it missing.
TEST_F(AnalysisServiceTest, AMissingFolderIsPlacedAgainFromTheRecordByteForByte) {
    options_.saliency = true;
    Recording heard;
    auto first = service_->analyze(ImageSource::file(sample(4)), options_, heard);
    ASSERT_TRUE(first) << first.error().message();
    ASSERT_TRUE(first->analysis.report_dir);
    const fs::path folder(*first->analysis.report_dir);
    const auto written = files_of(folder);
    ASSERT_EQ(written.size(), 5u);  // report.json, FHIR, SR, de-identified copy, saliency map
    fs::remove_all(folder);

    AnalysisOptions plain = options_;
    plain.saliency = false;
    auto without = service_->analyze(ImageSource::file(sample(4)), plain, heard);
    ASSERT_TRUE(without) << without.error().message();
    EXPECT_TRUE(without->already_recorded);
    EXPECT_FALSE(fs::exists(folder));

    auto again = service_->analyze(ImageSource::file(sample(4)), options_, heard);
    ASSERT_TRUE(again) << again.error().message();
    EXPECT_TRUE(again->already_recorded);
    EXPECT_EQ(again->analysis.id, first->analysis.id);
    ASSERT_TRUE(fs::is_directory(folder));
    const auto restored = files_of(folder);
    ASSERT_EQ(restored.size(), written.size());
    for (const auto& [name, bytes] : written) {
        ASSERT_TRUE(restored.count(name)) << name;
        EXPECT_TRUE(restored.at(name) == bytes) << name << " differs from the first run's";
    }
    // Nothing of the drafts is left beside it.
    for (const auto& entry : fs::directory_iterator(folder.parent_path())) {
        const std::string name = entry.path().filename().string();
        EXPECT_TRUE(name == folder.filename().string() || name == kOutputFolderMarker) << name;
    }
}

TEST_F(AnalysisServiceTest, AFolderThatIsNotInTheLedgerIsNeverRewritten) {
    Recording heard;
    auto first = service_->analyze(ImageSource::file(sample(3)), options_, heard);
    ASSERT_TRUE(first);
    // Another ledger, the same report root: the folder exists but is not this ledger's.
    auto key = image::SiteKey::load(dir_.path() / "site.key");
    auto bundle =
        inference::load_model_bundle(fs::path(MEDANCHOR_SOURCE_DIR) / "models" / "ct-nodule-sim");
    auto store = ArtifactStore::open(dir_.path() / "reports");
    ASSERT_TRUE(key && bundle && store);
    auto other =
        AnalysisService::open({std::make_shared<const inference::ModelBundle>(std::move(*bundle)),
                               *key, dir_.path() / "other.sqlite", std::move(*store), 1});
    ASSERT_TRUE(other);
    auto second = (*other)->analyze(ImageSource::file(sample(3)), options_, heard);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(second.error().message().find("exists but is not in the ledger"), std::string::npos)
        << second.error().message();
}

}  // namespace
}  // namespace medanchor::service
