// The PACS layer against a real Orthanc 1.10.1 with its DICOMweb plugin (tests/pacs/
// orthanc_process.h), started once for this binary: C-ECHO and C-STORE into Orthanc, STOW-RS and
// QIDO-RS through the plugin, Orthanc routing a series to our listener, and the /changes feed.
// Every check reads back through another of Orthanc's interfaces (QIDO-RS, REST, DICOM) or through
// dcmdump, never through the path that wrote.
#include <gtest/gtest.h>

#include <set>

#include "common/file_io.h"
#include "pacs/dicomweb.h"
#include "pacs/orthanc_client.h"
#include "pacs/orthanc_process.h"
#include "pacs/pacs_test_support.h"
#include "pacs/store_scp.h"
#include "pacs/store_scu.h"
#include "report/dicom_sr.h"
#include "report/sample_report.h"

namespace medanchor::pacs {
namespace {

using testing::dcmdump_value;
using testing::OrthancProcess;
using testing::pydicom_file;
using testing::read_bytes;
using testing::sample_ct;

OrthancProcess* orthanc = nullptr;

class OrthancEnvironment : public ::testing::Environment {
  public:
    void SetUp() override {
        process_ = std::make_unique<OrthancProcess>();
        ASSERT_TRUE(process_->ok()) << process_->failure();
        orthanc = process_.get();
    }
    void TearDown() override {
        orthanc = nullptr;
        process_.reset();
    }

  private:
    std::unique_ptr<OrthancProcess> process_;
};

[[maybe_unused]] auto* const environment =
    ::testing::AddGlobalTestEnvironment(new OrthancEnvironment);

DicomPeer orthanc_peer() {
    return {OrthancProcess::kAeTitle, "127.0.0.1",
            static_cast<std::uint16_t>(orthanc->dicom_port())};
}

OrthancClient orthanc_client(OrthancClientOptions options = {}) {
    auto client = OrthancClient::create(orthanc->url(), options);
    EXPECT_TRUE(client.ok());
    return std::move(*client);
}

DicomWebClient dicomweb() {
    auto client = DicomWebClient::create(orthanc->dicomweb_url());
    EXPECT_TRUE(client.ok());
    return std::move(*client);
}

// The SOP Instance UIDs QIDO-RS lists for one series.
std::set<std::string> qido_instances(const std::string& study, const std::string& series) {
    auto found = dicomweb().search("studies/" + study + "/series/" + series + "/instances");
    EXPECT_TRUE(found.ok()) << found.error().message();
    std::set<std::string> uids;
    if (found.ok()) {
        for (const auto& match : *found)
            uids.insert(match.at("00080018"));
    }
    return uids;
}

TEST(Orthanc, AnswersOurEcho) {
    StoreScuOptions options;
    options.calling_ae = OrthancProcess::kListenerAeTitle;
    const Status echoed = StoreScu(orthanc_peer(), options).echo();
    EXPECT_TRUE(echoed.ok()) << echoed.error().message();
}

// The analysis' DICOM SR (report/dicom_sr.h) sent by C-STORE, found by QIDO-RS.
TEST(Orthanc, StoresTheSrWeSendAndQidoFindsIt) {
    testing::ScratchDir dir;
    const auto report = testing::sample_report();
    ASSERT_TRUE(report::write_dicom_sr(report, dir / "report.sr.dcm").ok());
    const auto sr = dir / "report.sr.dcm";
    StoreScuOptions options;
    options.calling_ae = OrthancProcess::kListenerAeTitle;
    auto receipt = StoreScu(orthanc_peer(), options).store_file(sr);
    ASSERT_TRUE(receipt.ok()) << receipt.error().message();
    EXPECT_EQ(receipt->status, 0x0000);
    EXPECT_EQ(receipt->sop_instance_uid, dcmdump_value(sr, "SOPInstanceUID"));

    const std::string study = dcmdump_value(sr, "StudyInstanceUID");
    EXPECT_EQ(study, report.image.dicom->study_instance_uid);  // the SR joins the analysed study
    const auto found = qido_instances(study, dcmdump_value(sr, "SeriesInstanceUID"));
    EXPECT_EQ(found, std::set<std::string>{receipt->sop_instance_uid});
    auto series = dicomweb().search("studies/" + study + "/series");
    ASSERT_TRUE(series.ok()) << series.error().message();
    ASSERT_EQ(series->size(), 1u);
    EXPECT_EQ(series->front().at("00080060"), "SR");  // Modality
}

// Orthanc accepts C-STORE only from its configured modality: a stranger's association is
// accepted (C-ECHO is always allowed) and then aborted at the C-STORE; the error names the peer.
TEST(Orthanc, RefusesAStoreFromAnUnknownAeTitleAndWeSayWho) {
    StoreScuOptions options;
    options.calling_ae = "STRANGER";
    auto receipt = StoreScu(orthanc_peer(), options).store_file(pydicom_file("MR_small.dcm"));
    ASSERT_FALSE(receipt.ok());
    EXPECT_EQ(receipt.error().code(), ErrorCode::kNetwork) << receipt.error().message();
    EXPECT_EQ(receipt.error().message().rfind(orthanc_peer().to_string() + ": ", 0), 0u)
        << receipt.error().message();
}

TEST(Orthanc, StowRsStoresInstancesAndQidoFindsThem) {
    const auto ct = read_bytes(sample_ct(0));
    const auto mr = read_bytes(pydicom_file("MR_small.dcm"));
    const std::vector<std::span<const std::uint8_t>> parts{ct, mr};
    auto receipt = dicomweb().store(parts);
    ASSERT_TRUE(receipt.ok()) << receipt.error().message();
    EXPECT_EQ(receipt->http_status, 200);
    EXPECT_TRUE(receipt->failed.empty());
    const std::set<std::string> stored(receipt->stored.begin(), receipt->stored.end());
    EXPECT_EQ(stored, (std::set<std::string>{
                          dcmdump_value(sample_ct(0), "SOPInstanceUID"),
                          dcmdump_value(pydicom_file("MR_small.dcm"), "SOPInstanceUID")}));
    EXPECT_EQ(qido_instances(dcmdump_value(sample_ct(0), "StudyInstanceUID"),
                             dcmdump_value(sample_ct(0), "SeriesInstanceUID"))
                  .count(dcmdump_value(sample_ct(0), "SOPInstanceUID")),
              1u);
}

// Orthanc's plugin answers 400 with an empty receipt: a refusal, naming the URL.
TEST(Orthanc, StowRsOfSomethingThatIsNotDicomIsRefused) {
    const std::vector<std::uint8_t> junk(1000, 0x41);
    const std::vector<std::span<const std::uint8_t>> parts{junk};
    auto receipt = dicomweb().store(parts);
    ASSERT_FALSE(receipt.ok());
    EXPECT_EQ(receipt.error().code(), ErrorCode::kRejected);
    EXPECT_EQ(receipt.error().message().rfind(
                  "STOW-RS " + orthanc->dicomweb_url() + "/studies: HTTP 400", 0),
              0u)
        << receipt.error().message();
}

// Orthanc's routing (/modalities/{name}/store) sends a whole series to our listener, which hands
// every instance over with the UIDs dcmdump reads from the files. The series: three copies of a
// CT slice that dcmodify puts in a new series, each with a new SOP Instance UID.
TEST(Orthanc, RoutesAStoredSeriesToOurListener) {
    testing::ScratchDir dir;
    std::vector<std::filesystem::path> files;
    std::string series_uid;
    for (int i = 0; i < 3; ++i) {
        files.push_back(dir / ("slice" + std::to_string(i) + ".dcm"));
        std::filesystem::copy_file(pydicom_file("CT_small.dcm"), files.back());
        const std::string change = i == 0 ? "-gse" : "-m \"(0020,000e)=" + series_uid + "\"";
        const auto modified = testing::run_command("dcmodify -nb -gin " + change + " " +
                                                   testing::quote(files.back()));
        ASSERT_EQ(modified.exit_code, 0) << modified.output;
        if (i == 0)
            series_uid = dcmdump_value(files.back(), "SeriesInstanceUID");
    }
    auto client = orthanc_client();
    std::set<std::string> series_ids;
    std::set<std::string> expected;
    for (const auto& file : files) {
        auto stored = client.upload(read_bytes(file));
        ASSERT_TRUE(stored.ok()) << stored.error().message();
        series_ids.insert(stored->parent_series);
        expected.insert(dcmdump_value(file, "SOPInstanceUID"));
    }
    ASSERT_EQ(series_ids.size(), 1u);
    ASSERT_EQ(expected.size(), 3u);

    testing::Inbox inbox;
    StoreScpOptions options;
    options.port = static_cast<std::uint16_t>(orthanc->listener_port());
    options.ae_title = OrthancProcess::kListenerAeTitle;
    options.allowed_calling_aes = {OrthancProcess::kAeTitle};
    auto scp = StoreScp::start(options, inbox.handler());
    ASSERT_TRUE(scp.ok()) << scp.error().message();
    const Status sent =
        client.send_to_modality(OrthancProcess::kListenerModality, {*series_ids.begin()});
    ASSERT_TRUE(sent.ok()) << sent.error().message();
    std::set<std::string> received;
    for (const auto& instance : inbox.received()) {
        EXPECT_EQ(instance.calling_ae, OrthancProcess::kAeTitle);
        EXPECT_EQ(instance.series_instance_uid, series_uid);
        received.insert(instance.sop_instance_uid);
    }
    EXPECT_EQ(received, expected);
}

// The change log, followed from where it stood: a new series becomes StableSeries after StableAge,
// its instance downloads as the bytes uploaded, and paging one change at a time sees the same.
TEST(Orthanc, FollowsChangesUntilTheSeriesIsStable) {
    auto client = orthanc_client();
    auto start = client.follow_changes(0, [](const OrthancChange&) { return Status::Ok(); });
    ASSERT_TRUE(start.ok()) << start.error().message();

    const auto file = read_bytes(pydicom_file("CT_small.dcm"));
    auto stored = client.upload(file);
    ASSERT_TRUE(stored.ok()) << stored.error().message();

    std::int64_t cursor = *start;
    std::vector<OrthancChange> seen;
    bool stable = false;
    for (int i = 0; i < 100 && !stable; ++i) {
        auto next = client.follow_changes(cursor, [&](const OrthancChange& change) {
            seen.push_back(change);
            stable = stable ||
                     (change.change_type == "StableSeries" && change.id == stored->parent_series);
            return Status::Ok();
        });
        ASSERT_TRUE(next.ok()) << next.error().message();
        cursor = *next;
        if (!stable)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(stable) << "no StableSeries within 10 s";
    EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [&](const OrthancChange& c) {
        return c.change_type == "NewInstance" && c.id == stored->id;
    }));

    std::vector<OrthancChange> paged;
    auto again = client.follow_changes(
        *start,
        [&](const OrthancChange& change) {
            if (change.seq <= cursor)
                paged.push_back(change);
            return Status::Ok();
        },
        /*page_size=*/1);
    ASSERT_TRUE(again.ok()) << again.error().message();
    ASSERT_EQ(paged.size(), seen.size());
    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_EQ(paged[i].seq, seen[i].seq);
        EXPECT_EQ(paged[i].change_type, seen[i].change_type);
    }

    auto series = client.series(stored->parent_series);
    ASSERT_TRUE(series.ok()) << series.error().message();
    EXPECT_TRUE(series->stable);
    EXPECT_EQ(series->series_instance_uid,
              dcmdump_value(pydicom_file("CT_small.dcm"), "SeriesInstanceUID"));
    ASSERT_EQ(series->instances, std::vector<std::string>{stored->id});
    auto downloaded = client.instance_file(stored->id);
    ASSERT_TRUE(downloaded.ok()) << downloaded.error().message();
    EXPECT_TRUE(*downloaded == file);
}

// A visitor's error stops the loop and comes back as it was.
TEST(Orthanc, AVisitorsErrorStopsFollowing) {
    auto client = orthanc_client();
    ASSERT_TRUE(client.upload(read_bytes(pydicom_file("MR_small.dcm"))).ok());
    int visits = 0;
    auto followed = client.follow_changes(0, [&](const OrthancChange&) {
        ++visits;
        return Status(Error(ErrorCode::kIo, "ledger full"));
    });
    ASSERT_FALSE(followed.ok());
    EXPECT_EQ(followed.error().message(), "ledger full");
    EXPECT_EQ(visits, 1);
}

TEST(Orthanc, ClientErrorsNameTheResource) {
    auto client = orthanc_client();
    auto bad = client.series("../system");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
    const std::string unknown = "00000000-00000000-00000000-00000000-00000000";
    auto missing = client.series(unknown);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(missing.error().message().find(orthanc->url() + "/series/" + unknown),
              std::string::npos)
        << missing.error().message();
    auto junk = client.upload(std::vector<std::uint8_t>(500, 0x41));
    ASSERT_FALSE(junk.ok());
    EXPECT_NE(junk.error().message().find("POST " + orthanc->url() + "/instances"),
              std::string::npos)
        << junk.error().message();
}

// A download past the bound is refused without keeping it.
TEST(Orthanc, RefusesADownloadOverTheBound) {
    auto client = orthanc_client();
    auto stored = client.upload(read_bytes(sample_ct(1)));
    ASSERT_TRUE(stored.ok()) << stored.error().message();
    OrthancClientOptions small;
    small.max_instance_bytes = 10000;
    auto got = orthanc_client(small).instance_file(stored->id);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code(), ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace medanchor::pacs
