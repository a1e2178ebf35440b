// The DICOM listener against real senders on loopback: DCMTK's echoscu and storescu as the
// modality (separate processes), tests/pacs/raw_store_sender.h for what no well-behaved sender
// sends, and pacs::StoreScu. Instances that arrive are checked against dcmdump (DCMTK's tool, an
// independent reader) and decoded by the image layer.
#include "pacs/store_scp.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <regex>

#include "image/image.h"
#include "image/reader.h"
#include "image/test_support.h"
#include "pacs/pacs_test_support.h"
#include "pacs/raw_store_sender.h"
#include "pacs/store_scu.h"

namespace medanchor::pacs {
namespace {

namespace fs = std::filesystem;
using testing::dcmdump_value;
using testing::Inbox;
using testing::pydicom_file;
using testing::quote;
using testing::run_command;
using testing::sample_ct;

constexpr char kCtImageStorage[] = "1.2.840.10008.5.1.4.1.1.2";
constexpr char kExplicitLittle[] = "1.2.840.10008.1.2.1";

StoreScpOptions test_options() {
    StoreScpOptions options;
    options.port = 0;
    options.allowed_calling_aes = {"MODALITY", "MOD1", "MOD2", "MOD3"};
    options.acse_timeout = std::chrono::seconds(10);
    options.dimse_timeout = std::chrono::seconds(10);
    return options;
}

std::unique_ptr<StoreScp> start(Inbox& inbox, StoreScpOptions options = test_options()) {
    auto scp = StoreScp::start(std::move(options), inbox.handler());
    EXPECT_TRUE(scp.ok()) << scp.error().message();
    return scp.ok() ? std::move(*scp) : nullptr;
}

std::string dcmtk_peer(const StoreScp& scp, const std::string& calling,
                       const std::string& called = "MEDANCHOR") {
    return "-aet " + calling + " -aec " + called + " 127.0.0.1 " + std::to_string(scp.port());
}

TEST(StoreScp, AnswersEchoscu) {
    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    const auto echo = run_command("echoscu -v " + dcmtk_peer(*scp, "MODALITY"));
    EXPECT_EQ(echo.exit_code, 0) << echo.output;
    EXPECT_NE(echo.output.find("Received Echo Response (Success)"), std::string::npos)
        << echo.output;
    EXPECT_EQ(scp->stats().echoes, 1u);
    EXPECT_EQ(scp->stats().associations_accepted, 1u);
}

TEST(StoreScp, RejectsAnUnknownCallingAeTitleAtAssociation) {
    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    const auto echo = run_command("echoscu -v " + dcmtk_peer(*scp, "STRANGER"));
    EXPECT_NE(echo.exit_code, 0) << echo.output;
    EXPECT_NE(echo.output.find("Association Rejected"), std::string::npos) << echo.output;
    EXPECT_NE(echo.output.find("Calling AE Title Not Recognized"), std::string::npos)
        << echo.output;
    EXPECT_EQ(scp->stats().echoes, 0u);
    EXPECT_EQ(scp->stats().associations_rejected, 1u);
    EXPECT_EQ(scp->stats().associations_accepted, 0u);
}

TEST(StoreScp, RejectsAnAssociationCallingAnotherAeTitle) {
    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    const auto echo = run_command("echoscu -v " + dcmtk_peer(*scp, "MODALITY", "SOMEONE_ELSE"));
    EXPECT_NE(echo.exit_code, 0) << echo.output;
    EXPECT_NE(echo.output.find("Called AE Title Not Recognized"), std::string::npos) << echo.output;
    EXPECT_EQ(scp->stats().associations_rejected, 1u);
}

TEST(StoreScp, AcceptsAnyValidCallingAeTitleWhenNoneAreListed) {
    Inbox inbox;
    auto options = test_options();
    options.allowed_calling_aes.clear();
    auto scp = start(inbox, options);
    ASSERT_TRUE(scp);
    const auto echo = run_command("echoscu " + dcmtk_peer(*scp, "ANYONE"));
    EXPECT_EQ(echo.exit_code, 0) << echo.output;
    // Not an AE title (PS3.5: no backslash): rejected like an unknown one.
    const auto bad = run_command("echoscu -v " + dcmtk_peer(*scp, "'BAD\\AE'"));
    EXPECT_NE(bad.exit_code, 0) << bad.output;
    EXPECT_NE(bad.output.find("Calling AE Title Not Recognized"), std::string::npos) << bad.output;
}

TEST(StoreScp, AnnouncesItsMaximumPdu) {
    Inbox inbox;
    auto options = test_options();
    options.max_pdu_bytes = 16384;
    auto scp = start(inbox, options);
    ASSERT_TRUE(scp);
    const auto echo = run_command("echoscu -v " + dcmtk_peer(*scp, "MODALITY"));
    EXPECT_EQ(echo.exit_code, 0) << echo.output;
    // A PDV is the PDU less its 12 bytes of PDU and PDV headers.
    EXPECT_NE(echo.output.find("Max Send PDV: 16372"), std::string::npos) << echo.output;
}

TEST(StoreScp, RejectsAnAssociationOverTheWorkerLimitUntilOneEnds) {
    Inbox inbox;
    auto options = test_options();
    options.worker_threads = 1;
    auto scp = start(inbox, options);
    ASSERT_TRUE(scp);
    {
        testing::RawStoreSender holder(scp->port(), "MODALITY", "MEDANCHOR", kCtImageStorage,
                                       kExplicitLittle);
        ASSERT_TRUE(holder.connect());
        const auto busy = run_command("echoscu -v " + dcmtk_peer(*scp, "MODALITY"));
        EXPECT_NE(busy.exit_code, 0) << busy.output;
        EXPECT_NE(busy.output.find("Local Limit Exceeded"), std::string::npos) << busy.output;
    }
    // The holder released its association; its worker ends a moment later.
    testing::CommandResult again;
    for (int i = 0; i < 50; ++i) {
        again = run_command("echoscu " + dcmtk_peer(*scp, "MODALITY"));
        if (again.exit_code == 0)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(again.exit_code, 0) << again.output;
}

TEST(StoreScp, DropsASenderSilentPastTheDimseTimeout) {
    Inbox inbox;
    auto options = test_options();
    options.dimse_timeout = std::chrono::seconds(1);
    auto scp = start(inbox, options);
    ASSERT_TRUE(scp);
    testing::RawStoreSender sender(scp->port(), "MODALITY", "MEDANCHOR", kCtImageStorage,
                                   kExplicitLittle);
    ASSERT_TRUE(sender.connect());
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const auto ct = testing::data_set_of(testing::read_bytes(pydicom_file("CT_small.dcm")));
    EXPECT_FALSE(sender.store(dcmdump_value(pydicom_file("CT_small.dcm"), "SOPInstanceUID"), ct)
                     .has_value());
    EXPECT_TRUE(inbox.received().empty());
}

// What storescu sent is what the handler got: each slice's SOP Instance UID (as dcmdump reads it
// from the file) and its pixels (decoded from the received bytes, and from the file).
TEST(StoreScp, StorescuSlicesReachTheHandlerWhole) {
    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    std::string files;
    for (int i = 0; i < 6; ++i)
        files += " " + quote(sample_ct(i));
    const auto sent = run_command("storescu " + dcmtk_peer(*scp, "MODALITY") + files);
    ASSERT_EQ(sent.exit_code, 0) << sent.output;

    const auto received = inbox.received();
    ASSERT_EQ(received.size(), 6u);
    for (int i = 0; i < 6; ++i) {
        const fs::path file = sample_ct(i);
        const auto& instance = received[static_cast<std::size_t>(i)];  // one association: in order
        EXPECT_EQ(instance.calling_ae, "MODALITY");
        EXPECT_EQ(instance.sop_instance_uid, dcmdump_value(file, "SOPInstanceUID"));
        EXPECT_EQ(instance.series_instance_uid, dcmdump_value(file, "SeriesInstanceUID"));
        EXPECT_EQ(instance.study_instance_uid, dcmdump_value(file, "StudyInstanceUID"));
        EXPECT_EQ(instance.sop_class_uid, kCtImageStorage);
        auto got = image::decode_dicom(instance.part10, "received");
        ASSERT_TRUE(got.ok()) << got.error().message();
        auto expected = image::read_image(file);
        ASSERT_TRUE(expected.ok()) << expected.error().message();
        EXPECT_EQ(got->geometry.rows, expected->geometry.rows);
        EXPECT_TRUE(got->pixels == expected->pixels) << file;
    }
    EXPECT_EQ(scp->stats().instances_handled, 6u);
    EXPECT_EQ(scp->stats().instances_refused, 0u);
}

TEST(StoreScp, ServesThreeSendersInParallel) {
    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    std::string files;
    for (int i = 0; i < 6; ++i)
        files += " " + quote(sample_ct(i));
    std::vector<std::future<testing::CommandResult>> senders;
    for (const char* ae : {"MOD1", "MOD2", "MOD3"}) {
        const std::string command = "storescu " + dcmtk_peer(*scp, ae) + files;
        senders.push_back(
            std::async(std::launch::async, [command] { return run_command(command); }));
    }
    for (auto& sender : senders) {
        const auto result = sender.get();
        EXPECT_EQ(result.exit_code, 0) << result.output;
    }
    const auto received = inbox.received();
    ASSERT_EQ(received.size(), 18u);
    for (const char* ae : {"MOD1", "MOD2", "MOD3"}) {
        EXPECT_EQ(std::count_if(received.begin(), received.end(),
                                [&](const ReceivedInstance& r) { return r.calling_ae == ae; }),
                  6)
            << ae;
    }
    EXPECT_EQ(scp->stats().associations_accepted, 3u);
}

// On one association: a good instance, bytes that do not parse, a data set that is not the
// instance the request announces, one over the size bound, and a good one again. Each is
// answered with its status, and the good ones reach the handler.
TEST(StoreScp, RefusesBadInstancesWithTheirStatusAndTheAssociationGoesOn) {
    Inbox inbox;
    auto options = test_options();
    options.max_object_bytes = 60000;
    std::mutex mutex;
    std::vector<std::pair<StoreStatus, Error>> refusals;
    options.on_refused = [&](StoreStatus status, const Error& why) {
        const std::lock_guard lock(mutex);
        refusals.emplace_back(status, why);
    };
    auto scp = start(inbox, options);
    ASSERT_TRUE(scp);

    const auto ct_file = testing::read_bytes(pydicom_file("CT_small.dcm"));
    const auto ct = testing::data_set_of(ct_file);
    const std::string ct_uid = dcmdump_value(pydicom_file("CT_small.dcm"), "SOPInstanceUID");
    ASSERT_LT(ct.size(), options.max_object_bytes);
    // Cut inside the pixel data: every element header before it is fine, the last one lies.
    const std::vector<std::uint8_t> truncated(ct.begin(), ct.end() - 5000);
    std::vector<std::uint8_t> oversized = ct;
    oversized.resize(70000, 0);  // trailing zeros: too big before anything else is looked at

    testing::RawStoreSender sender(scp->port(), "MODALITY", "MEDANCHOR", kCtImageStorage,
                                   kExplicitLittle);
    ASSERT_TRUE(sender.connect());
    EXPECT_EQ(sender.store(ct_uid, ct), 0x0000);
    EXPECT_EQ(sender.store(ct_uid, truncated), 0xC000);
    EXPECT_EQ(sender.store("1.2.3.4", ct), 0xA900);
    EXPECT_EQ(sender.store(ct_uid, oversized), 0xA700);
    EXPECT_EQ(sender.store(ct_uid, ct), 0x0000);

    EXPECT_EQ(inbox.received().size(), 2u);
    EXPECT_EQ(scp->stats().instances_refused, 3u);
    ASSERT_EQ(refusals.size(), 3u);
    EXPECT_EQ(refusals[0].second.code(), ErrorCode::kCorrupt);
    EXPECT_EQ(refusals[1].first, StoreStatus::kDataSetMismatch);
    EXPECT_EQ(refusals[2].second.code(), ErrorCode::kTooLarge);
    for (const auto& [status, why] : refusals) {
        EXPECT_EQ(why.message().rfind("C-STORE from MODALITY (message ", 0), 0u) << why.message();
        EXPECT_EQ(why.message().find(ct_uid), std::string::npos) << why.message();
    }
    EXPECT_EQ(scp->stats().associations_accepted, 1u);
}

// The same with storescu as the modality: the slice over the bound is refused with "Out of
// Resources", the files before and after it in the same association are stored.
TEST(StoreScp, StorescuSeesAnOversizedObjectRefusedAndTheOthersStored) {
    Inbox inbox;
    auto options = test_options();
    options.max_object_bytes = 60000;  // CT_small and MR_small fit; a 256x256 slice does not
    auto scp = start(inbox, options);
    ASSERT_TRUE(scp);
    // -nh: storescu would otherwise stop at the first refusal.
    const auto sent = run_command("storescu -v -nh " + dcmtk_peer(*scp, "MODALITY") + " " +
                                  quote(pydicom_file("MR_small.dcm")) + " " + quote(sample_ct(0)) +
                                  " " + quote(pydicom_file("CT_small.dcm")));
    EXPECT_NE(sent.output.find("Refused: OutOfResources"), std::string::npos) << sent.output;
    const auto received = inbox.received();
    ASSERT_EQ(received.size(), 2u) << sent.output;
    EXPECT_EQ(received[0].sop_instance_uid,
              dcmdump_value(pydicom_file("MR_small.dcm"), "SOPInstanceUID"));
    EXPECT_EQ(received[1].sop_instance_uid,
              dcmdump_value(pydicom_file("CT_small.dcm"), "SOPInstanceUID"));
    EXPECT_EQ(scp->stats().associations_accepted, 1u);
}

// The handler's answer is what the sender sees.
TEST(StoreScp, AnswersWhatTheHandlerDecides) {
    Inbox inbox;
    auto options = test_options();
    auto scp = StoreScp::start(options, inbox.handler(StoreStatus::kOutOfResources));
    ASSERT_TRUE(scp.ok()) << scp.error().message();
    StoreScuOptions scu_options;
    scu_options.calling_ae = "MODALITY";
    StoreScu scu(DicomPeer{"MEDANCHOR", "127.0.0.1", (*scp)->port()}, scu_options);
    auto stored = scu.store_file(sample_ct(0));
    ASSERT_FALSE(stored.ok());
    // Out of Resources may pass (the listener's send queue tries it again): network.
    EXPECT_EQ(stored.error().code(), ErrorCode::kNetwork);
    EXPECT_NE(stored.error().message().find("0xA700 (Refused: Out of Resources)"),
              std::string::npos)
        << stored.error().message();
    EXPECT_EQ(inbox.received().size(), 1u);
}

TEST(StoreScp, AThrowingHandlerIsAProcessingFailure) {
    auto options = test_options();
    auto scp = StoreScp::start(
        options, [](ReceivedInstance&&) -> StoreStatus { throw std::runtime_error("boom"); });
    ASSERT_TRUE(scp.ok()) << scp.error().message();
    testing::RawStoreSender sender((*scp)->port(), "MODALITY", "MEDANCHOR", kCtImageStorage,
                                   kExplicitLittle);
    ASSERT_TRUE(sender.connect());
    const auto ct = testing::data_set_of(testing::read_bytes(pydicom_file("CT_small.dcm")));
    const std::string uid = dcmdump_value(pydicom_file("CT_small.dcm"), "SOPInstanceUID");
    EXPECT_EQ(sender.store(uid, ct), 0x0110);
    EXPECT_EQ(sender.store(uid, ct), 0x0110);  // and the association is still there
}

// Each transfer syntax the image layer decodes is accepted for a storage class, and Verification
// is among the presentation contexts, first.
TEST(StoreScp, AcceptsVerificationAndEveryDecodableTransferSyntax) {
    const auto classes = accepted_sop_classes();
    ASSERT_FALSE(classes.empty());
    EXPECT_EQ(classes.front(), "1.2.840.10008.1.1");
    EXPECT_LE(classes.size(), 128u);  // DCMTK's limit for one list of presentation contexts
    EXPECT_NE(std::find(classes.begin(), classes.end(), kCtImageStorage), classes.end());
    EXPECT_NE(std::find(classes.begin(), classes.end(), "1.2.840.10008.5.1.4.1.1.88.33"),
              classes.end());  // Comprehensive SR

    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    for (const auto& ts : accepted_transfer_syntaxes()) {
        testing::RawStoreSender sender(scp->port(), "MODALITY", "MEDANCHOR", kCtImageStorage, ts);
        EXPECT_TRUE(sender.connect()) << ts;
    }
    testing::RawStoreSender unsupported(scp->port(), "MODALITY", "MEDANCHOR", kCtImageStorage,
                                        "1.2.840.10008.1.2.4.100");  // MPEG-2
    EXPECT_FALSE(unsupported.connect());
}

// Offered several transfer syntaxes in one presentation context, the listener takes a lossy one
// first (the sender holds the image that way), then explicit VR little endian.
TEST(StoreScp, PrefersLossyThenExplicitLittleEndian) {
    const auto order = accepted_transfer_syntaxes();
    const auto at = [&](const std::string& uid) {
        return std::find(order.begin(), order.end(), uid) - order.begin();
    };
    EXPECT_LT(at("1.2.840.10008.1.2.4.50"), at(kExplicitLittle));      // JPEG baseline
    EXPECT_LT(at(kExplicitLittle), at("1.2.840.10008.1.2"));           // implicit
    EXPECT_LT(at("1.2.840.10008.1.2"), at("1.2.840.10008.1.2.4.80"));  // JPEG-LS lossless

    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    DcmSCU scu;
    scu.setAETitle("MODALITY");
    scu.setPeerAETitle("MEDANCHOR");
    scu.setPeerHostName("127.0.0.1");
    scu.setPeerPort(scp->port());
    OFList<OFString> offered;  // the sender's own order: uncompressed first
    for (const char* uid :
         {kExplicitLittle, "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.50"})
        offered.push_back(uid);
    scu.addPresentationContext(kCtImageStorage, offered);
    ASSERT_TRUE(scu.initNetwork().good());
    ASSERT_TRUE(scu.negotiateAssociation().good());
    EXPECT_NE(scu.findPresentationContextID(kCtImageStorage, "1.2.840.10008.1.2.4.50"), 0);
    EXPECT_EQ(scu.findPresentationContextID(kCtImageStorage, kExplicitLittle), 0);
    scu.releaseAssociation();

    // storescu proposing JPEG baseline (-xy) and the uncompressed syntaxes for a JPEG baseline
    // file: it arrives as it is, and decodes to the same pixels.
    const auto file = pydicom_file("SC_rgb_dcmtk_+eb+cy+np.dcm");
    const auto sent =
        run_command("storescu -xy " + dcmtk_peer(*scp, "MODALITY") + " " + quote(file));
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
    const auto received = inbox.received();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].transfer_syntax_uid, "1.2.840.10008.1.2.4.50");
    auto got = image::decode_dicom(received[0].part10, "received");
    ASSERT_TRUE(got.ok()) << got.error().message();
    auto expected = image::read_image(file);
    ASSERT_TRUE(expected.ok()) << expected.error().message();
    EXPECT_TRUE(got->pixels == expected->pixels);
}

TEST(StoreScp, BindsLoopbackByDefaultAndReportsThePortItGot) {
    StoreScpOptions defaults;
    EXPECT_EQ(defaults.bind_address, "127.0.0.1");
    Inbox inbox;
    auto scp = start(inbox);
    ASSERT_TRUE(scp);
    EXPECT_NE(scp->port(), 0);
    const auto listening = run_command("ss -Hltn sport = :" + std::to_string(scp->port()));
    EXPECT_NE(listening.output.find("127.0.0.1:" + std::to_string(scp->port())), std::string::npos)
        << listening.output;
    // A second listener on the same port is refused with a clear error.
    auto options = test_options();
    options.port = scp->port();
    auto second = StoreScp::start(options, inbox.handler());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(second.error().message().find("127.0.0.1:" + std::to_string(scp->port())),
              std::string::npos)
        << second.error().message();
}

TEST(StoreScp, RefusesBadOptionsByName) {
    Inbox inbox;
    const auto refused = [&](StoreScpOptions o) {
        auto r = StoreScp::start(std::move(o), inbox.handler());
        EXPECT_FALSE(r.ok());
        return r.ok() ? std::string() : r.error().message();
    };
    auto o = test_options();
    o.ae_title = "THIS_AE_TITLE_IS_TOO_LONG";
    EXPECT_NE(refused(o).find("AE title"), std::string::npos);
    o = test_options();
    o.allowed_calling_aes = {"BACK\\SLASH"};
    EXPECT_NE(refused(o).find("allowed calling AE title"), std::string::npos);
    o = test_options();
    o.max_pdu_bytes = 1024;
    EXPECT_NE(refused(o).find("maximum PDU size"), std::string::npos);
    o = test_options();
    o.worker_threads = 0;
    EXPECT_NE(refused(o).find("worker threads"), std::string::npos);
    o = test_options();
    o.bind_address = "localhost";
    EXPECT_NE(refused(o).find("IPv4 address"), std::string::npos);
}

// stop() ends the listening at once and waits for the association being served: the sender in
// the middle of its files still gets every answer.
TEST(StoreScp, StopFinishesRunningAssociationsAndAcceptsNoMore) {
    Inbox inbox;
    std::promise<void> first_seen;
    std::atomic<int> calls{0};
    auto options = test_options();
    auto scp = StoreScp::start(options, [&](ReceivedInstance&& instance) {
        if (calls++ == 0) {
            first_seen.set_value();
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        }
        return inbox.handler()(std::move(instance));
    });
    ASSERT_TRUE(scp.ok()) << scp.error().message();
    const int port = (*scp)->port();
    std::string files;
    for (int i = 0; i < 3; ++i)
        files += " " + quote(sample_ct(i));
    auto sender = std::async(std::launch::async, [&] {
        return run_command("storescu -aet MODALITY -aec MEDANCHOR 127.0.0.1 " +
                           std::to_string(port) + files);
    });
    first_seen.get_future().wait();
    (*scp)->stop();
    EXPECT_EQ(sender.get().exit_code, 0);
    EXPECT_EQ(inbox.received().size(), 3u);
    const auto late =
        run_command("echoscu -aet MODALITY -aec MEDANCHOR 127.0.0.1 " + std::to_string(port));
    EXPECT_NE(late.exit_code, 0) << late.output;
}

}  // namespace
}  // namespace medanchor::pacs
