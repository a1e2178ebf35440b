#include "pacs/store_scu.h"

#include <dcmtk/config/osconfig.h>  // must come first
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmnet/dul.h>
#include <dcmtk/dcmnet/scu.h>
#include <dcmtk/oflog/oflog.h>

#include "common/file_io.h"
#include "image/instance_uids.h"

namespace medanchor::pacs {
namespace {

void configure_dcmtk_once() {
    static const bool done = [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        return true;
    }();
    (void)done;
}

// An association to `peer` with the given presentation contexts, released on destruction.
class Association {
  public:
    Association(const DicomPeer& peer, const StoreScuOptions& options) : peer_(peer) {
        configure_dcmtk_once();
        scu_.setAETitle(options.calling_ae.c_str());
        scu_.setPeerAETitle(peer.ae_title.c_str());
        scu_.setPeerHostName(peer.host.c_str());
        scu_.setPeerPort(peer.port);
        scu_.setMaxReceivePDULength(options.max_pdu_bytes);
        scu_.setACSETimeout(static_cast<Uint32>(options.acse_timeout.count()));
        scu_.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        scu_.setDIMSETimeout(static_cast<Uint32>(options.dimse_timeout.count()));
        scu_.setConnectionTimeout(static_cast<Sint32>(options.connect_timeout.count()));
        scu_.setDatasetConversionMode(OFTrue);
    }
    ~Association() {
        if (scu_.isConnected())
            scu_.releaseAssociation();
    }
    Association(const Association&) = delete;
    Association& operator=(const Association&) = delete;

    DcmSCU& scu() { return scu_; }

    Status open() {
        OFCondition cond = scu_.initNetwork();
        if (cond.bad())
            return failure(cond, "cannot set up the network");
        cond = scu_.negotiateAssociation();
        if (cond == DUL_ASSOCIATIONREJECTED) {
            // A failure that may pass: a PACS at its association limit rejects "transient" for
            // a while, and DCMTK 3.6.7's DcmSCU does not tell which kind of rejection it got.
            return Error(ErrorCode::kNetwork, where() + ": association rejected (is " +
                                                  peer_.ae_title +
                                                  " its AE title, does it accept ours, is it at "
                                                  "its association limit?)");
        }
        if (cond == NET_EC_NoAcceptablePresentationContexts) {
            return Error(ErrorCode::kUnsupported,
                         where() + ": accepts none of the presentation contexts proposed");
        }
        if (cond.bad())
            return failure(cond, "cannot associate");
        return Status::Ok();
    }

    // A DCMTK condition as an error naming the peer.
    Error failure(const OFCondition& cond, const std::string& what) const {
        const std::string text = cond.text();
        const bool timeout = cond == DUL_READTIMEOUT || cond == DIMSE_NODATAAVAILABLE ||
                             text.find("imeout") != std::string::npos ||
                             text.find("timed out") != std::string::npos;
        return Error(timeout ? ErrorCode::kTimeout : ErrorCode::kNetwork,
                     where() + ": " + what + " (" + text + ")");
    }

    std::string where() const { return peer_.to_string(); }

  private:
    const DicomPeer& peer_;
    DcmSCU scu_;
};

}  // namespace

StoreScu::StoreScu(DicomPeer peer, StoreScuOptions options)
    : peer_(std::move(peer)), options_(std::move(options)) {}

Result<StoreReceipt> StoreScu::store_file(const std::filesystem::path& path,
                                          std::size_t max_bytes) {
    auto bytes = read_regular_file(path, max_bytes);
    if (!bytes)
        return bytes.error();
    return store(*bytes, path.string());
}

Result<StoreReceipt> StoreScu::store(std::span<const std::uint8_t> part10, std::string_view name) {
    // The gate checks every declared length before DCMTK parses the bytes below.
    auto uids = image::read_instance_uids(part10, name);
    if (!uids)
        return uids.error();
    DcmInputBufferStream in;
    in.setBuffer(part10.data(), static_cast<offile_off_t>(part10.size()));
    in.setEos();
    DcmFileFormat file;
    file.transferInit();
    const OFCondition read = file.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.transferEnd();
    if (read.bad()) {
        return Error(ErrorCode::kCorrupt,
                     std::string(name) + ": cannot parse the DICOM data set (" + read.text() + ")");
    }
    DcmDataset* dataset = file.getDataset();
    const DcmXfer xfer(dataset->getOriginalXfer());

    Association association(peer_, options_);
    DcmSCU& scu = association.scu();
    OFList<OFString> own;
    own.push_back(xfer.getXferID());
    scu.addPresentationContext(uids->sop_class.c_str(), own);
    if (xfer.isNotEncapsulated()) {
        OFList<OFString> uncompressed;
        uncompressed.push_back(UID_LittleEndianExplicitTransferSyntax);
        uncompressed.push_back(UID_LittleEndianImplicitTransferSyntax);
        scu.addPresentationContext(uids->sop_class.c_str(), uncompressed);
    }
    if (Status opened = association.open(); !opened)
        return opened.error();

    T_ASC_PresentationContextID context =
        scu.findPresentationContextID(uids->sop_class.c_str(), xfer.getXferID());
    if (context == 0 && xfer.isNotEncapsulated()) {
        context = scu.findAnyPresentationContextID(uids->sop_class.c_str(),
                                                   UID_LittleEndianExplicitTransferSyntax);
    }
    if (context == 0) {
        return Error(ErrorCode::kUnsupported,
                     association.where() + ": does not accept " + std::string(name) +
                         " (SOP class " + uids->sop_class + ", " + xfer.getXferName() + ")");
    }
    Uint16 status = 0;
    const OFCondition sent = scu.sendSTORERequest(context, OFFilename(), dataset, status);
    if (sent.bad())
        return association.failure(sent, "C-STORE of " + std::string(name) + " failed");
    if (!store_status_stored(status)) {
        // 0xA7xx, Out of Resources: the peer cannot take it now (full, busy), and may later.
        const bool passing = (status & 0xFF00) == 0xA700;
        return Error(passing ? ErrorCode::kNetwork : ErrorCode::kRejected,
                     association.where() + ": refused " + std::string(name) + " with status " +
                         describe_store_status(status));
    }
    return StoreReceipt{status, uids->sop_instance};
}

Status StoreScu::echo() {
    Association association(peer_, options_);
    OFList<OFString> uncompressed;
    uncompressed.push_back(UID_LittleEndianExplicitTransferSyntax);
    uncompressed.push_back(UID_LittleEndianImplicitTransferSyntax);
    association.scu().addPresentationContext(UID_VerificationSOPClass, uncompressed);
    if (Status opened = association.open(); !opened)
        return opened;
    const OFCondition echoed = association.scu().sendECHORequest(0);
    if (echoed.bad())
        return association.failure(echoed, "C-ECHO failed");
    return Status::Ok();
}

}  // namespace medanchor::pacs
