// The C-STORE sender and the AE@HOST:PORT syntax, against the listener (pacs::StoreScp) on
// loopback. Sending into Orthanc is in orthanc_test.cpp.
#include "pacs/store_scu.h"

#include <gtest/gtest.h>

#include <mutex>

#include "image/test_support.h"
#include "pacs/store_scp.h"

namespace medanchor::pacs {
namespace {

using testing::pydicom_file;

struct Listener {
    Listener() {
        StoreScpOptions options;
        options.port = 0;
        options.allowed_calling_aes = {"MEDANCHOR"};
        auto started = StoreScp::start(options, [this](ReceivedInstance&& instance) {
            const std::lock_guard lock(mutex);
            received.push_back(std::move(instance));
            return StoreStatus::kSuccess;
        });
        EXPECT_TRUE(started.ok()) << started.error().message();
        if (started.ok())
            scp = std::move(*started);
    }
    DicomPeer peer(const std::string& ae = "MEDANCHOR") const {
        return {ae, "127.0.0.1", scp->port()};
    }

    std::mutex mutex;
    std::vector<ReceivedInstance> received;
    std::unique_ptr<StoreScp> scp;
};

TEST(StoreScu, StoresAFileAndTheListenerGetsIt) {
    Listener listener;
    ASSERT_TRUE(listener.scp);
    StoreScu scu(listener.peer());
    auto receipt = scu.store_file(pydicom_file("MR_small.dcm"));
    ASSERT_TRUE(receipt.ok()) << receipt.error().message();
    EXPECT_EQ(receipt->status, 0x0000);
    ASSERT_EQ(listener.received.size(), 1u);
    EXPECT_EQ(listener.received[0].sop_instance_uid, receipt->sop_instance_uid);
    EXPECT_EQ(listener.received[0].calling_ae, "MEDANCHOR");
}

// A big-endian file is offered as it is and as little endian; DCMTK converts it if need be.
TEST(StoreScu, SendsUncompressedSyntaxesTheListenerAccepts) {
    Listener listener;
    ASSERT_TRUE(listener.scp);
    StoreScu scu(listener.peer());
    auto receipt = scu.store_file(pydicom_file("MR_small_bigendian.dcm"));
    ASSERT_TRUE(receipt.ok()) << receipt.error().message();
    ASSERT_EQ(listener.received.size(), 1u);
    EXPECT_EQ(listener.received[0].sop_instance_uid, receipt->sop_instance_uid);
}

TEST(StoreScu, EchoesTheListener) {
    Listener listener;
    ASSERT_TRUE(listener.scp);
    EXPECT_TRUE(StoreScu(listener.peer()).echo().ok());
    EXPECT_EQ(listener.scp->stats().echoes, 1u);
}

TEST(StoreScu, NamesThePeerThatRejectsTheAssociation) {
    Listener listener;
    ASSERT_TRUE(listener.scp);
    StoreScu scu(listener.peer("NOT_THEM"));
    auto receipt = scu.store_file(pydicom_file("MR_small.dcm"));
    ASSERT_FALSE(receipt.ok());
    // Told as a failure that may pass (network): DcmSCU does not say whether the rejection
    // was transient (an association limit) or permanent.
    EXPECT_EQ(receipt.error().code(), ErrorCode::kNetwork);
    EXPECT_NE(receipt.error().message().find("association rejected"), std::string::npos);
    EXPECT_NE(receipt.error().message().find(listener.peer("NOT_THEM").to_string()),
              std::string::npos)
        << receipt.error().message();
    EXPECT_TRUE(listener.received.empty());
}

TEST(StoreScu, NamesThePeerNobodyAnswersFor) {
    int port = 0;
    {
        Listener gone;  // a port that was just free, closed again
        ASSERT_TRUE(gone.scp);
        port = gone.scp->port();
    }
    StoreScuOptions options;
    options.connect_timeout = std::chrono::seconds(2);
    const DicomPeer peer{"MEDANCHOR", "127.0.0.1", static_cast<std::uint16_t>(port)};
    auto echoed = StoreScu(peer, options).echo();
    ASSERT_FALSE(echoed.ok());
    EXPECT_EQ(echoed.error().code(), ErrorCode::kNetwork);
    EXPECT_NE(echoed.error().message().find(peer.to_string()), std::string::npos)
        << echoed.error().message();
}

TEST(StoreScu, RefusesBytesThatAreNotDicomBeforeConnecting) {
    StoreScu scu(DicomPeer{"NOBODY", "127.0.0.1", 1});
    const std::vector<std::uint8_t> junk(300, 0x41);
    auto receipt = scu.store(junk, "report.sr.dcm");
    ASSERT_FALSE(receipt.ok());
    EXPECT_EQ(receipt.error().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(receipt.error().message().rfind("report.sr.dcm: ", 0), 0u)
        << receipt.error().message();
}

TEST(DicomPeer, ParsesAeAtHostColonPort) {
    auto peer = parse_dicom_peer("ORTHANC@pacs.example.org:4242");
    ASSERT_TRUE(peer.ok()) << peer.error().message();
    EXPECT_EQ(peer->ae_title, "ORTHANC");
    EXPECT_EQ(peer->host, "pacs.example.org");
    EXPECT_EQ(peer->port, 4242);
    EXPECT_EQ(peer->to_string(), "ORTHANC@pacs.example.org:4242");
    for (const char* bad : {"ORTHANC", "ORTHANC@host", "@host:4242", "ORTHANC@:4242",
                            "ORTHANC@host:0", "ORTHANC@host:65536", "ORTHANC@host:42x",
                            "A_TITLE_LONGER_THAN_16@host:4242", "BACK\\SLASH@host:4242"}) {
        auto r = parse_dicom_peer(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
    }
}

TEST(StoreStatus, DescribesCodesByTheirPs34Meaning) {
    EXPECT_EQ(describe_store_status(0xA700), "0xA700 (Refused: Out of Resources)");
    EXPECT_EQ(describe_store_status(0xA7FF), "0xA7FF (Refused: Out of Resources)");
    EXPECT_EQ(describe_store_status(0xA900), "0xA900 (Error: Data Set does not match SOP Class)");
    EXPECT_EQ(describe_store_status(0xC123), "0xC123 (Error: Cannot understand)");
    EXPECT_EQ(describe_store_status(0x0110), "0x0110 (Failure: Processing failure)");
    EXPECT_TRUE(store_status_stored(0x0000));
    EXPECT_TRUE(store_status_stored(0xB000));
    EXPECT_FALSE(store_status_stored(0xA700));
    EXPECT_FALSE(store_status_stored(0x0110));
}

}  // namespace
}  // namespace medanchor::pacs
