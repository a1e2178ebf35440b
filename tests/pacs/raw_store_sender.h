// A C-STORE sender for tests that sends what no well-behaved SCU (storescu, pacs::StoreScu)
// would: a data set given as raw bytes, which may not parse, or may not be the instance the
// request announces. Several requests go over one association, so a test can show that a refused
// instance leaves the association usable. DCMTK's DcmSCU does the association and the command;
// only the data set's bytes are ours.
#pragma once

#include <dcmtk/config/osconfig.h>  // must come first
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmnet/scu.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace medanchor::testing {

// A DcmDataset whose encoding is the given bytes, written as they are.
class RawDataSet : public DcmDataset {
  public:
    explicit RawDataSet(const std::vector<std::uint8_t>& bytes) : bytes_(bytes) {}

    OFCondition write(DcmOutputStream& out, const E_TransferSyntax, const E_EncodingType,
                      DcmWriteCache*, const E_GrpLenEncoding, const E_PaddingEncoding, const Uint32,
                      const Uint32, Uint32) override {
        while (written_ < bytes_.size()) {
            const auto n = std::min<std::size_t>(static_cast<std::size_t>(out.avail()),
                                                 bytes_.size() - written_);
            if (n == 0)
                return EC_StreamNotifyClient;
            written_ += static_cast<std::size_t>(
                out.write(bytes_.data() + written_, static_cast<offile_off_t>(n)));
        }
        return EC_Normal;
    }
    OFBool isEmpty(const OFBool) override { return OFFalse; }
    OFBool canWriteXfer(const E_TransferSyntax, const E_TransferSyntax) override { return OFTrue; }

  private:
    const std::vector<std::uint8_t>& bytes_;
    std::size_t written_ = 0;
};

class RawStoreSender : public DcmSCU {
  public:
    // One presentation context: `sop_class` in `transfer_syntax`.
    RawStoreSender(int port, const std::string& calling, const std::string& called,
                   const std::string& sop_class, const std::string& transfer_syntax)
        : sop_class_(sop_class), transfer_syntax_(transfer_syntax) {
        setAETitle(calling.c_str());
        setPeerAETitle(called.c_str());
        setPeerHostName("127.0.0.1");
        setPeerPort(static_cast<Uint16>(port));
        setACSETimeout(10);
        setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        setDIMSETimeout(10);
        OFList<OFString> syntaxes;
        syntaxes.push_back(transfer_syntax.c_str());
        addPresentationContext(sop_class.c_str(), syntaxes);
    }
    ~RawStoreSender() override {
        if (isConnected())
            releaseAssociation();
    }

    bool connect() { return initNetwork().good() && negotiateAssociation().good(); }

    // The C-STORE response status, or nullopt when the exchange failed (the association is
    // then gone).
    std::optional<Uint16> store(const std::string& sop_instance,
                                const std::vector<std::uint8_t>& data_set) {
        const T_ASC_PresentationContextID context =
            findPresentationContextID(sop_class_.c_str(), transfer_syntax_.c_str());
        if (context == 0)
            return std::nullopt;
        T_DIMSE_Message request;
        std::memset(&request, 0, sizeof request);
        request.CommandField = DIMSE_C_STORE_RQ;
        T_DIMSE_C_StoreRQ& store = request.msg.CStoreRQ;
        store.MessageID = ++message_id_;
        OFStandard::strlcpy(store.AffectedSOPClassUID, sop_class_.c_str(),
                            sizeof store.AffectedSOPClassUID);
        OFStandard::strlcpy(store.AffectedSOPInstanceUID, sop_instance.c_str(),
                            sizeof store.AffectedSOPInstanceUID);
        store.DataSetType = DIMSE_DATASET_PRESENT;
        store.Priority = DIMSE_PRIORITY_MEDIUM;
        RawDataSet raw(data_set);
        if (sendDIMSEMessage(context, &request, &raw).bad())
            return std::nullopt;
        T_ASC_PresentationContextID answered = 0;
        T_DIMSE_Message response;
        DcmDataset* detail = nullptr;
        const OFCondition received = receiveDIMSECommand(&answered, &response, &detail);
        delete detail;
        if (received.bad() || response.CommandField != DIMSE_C_STORE_RSP)
            return std::nullopt;
        return response.msg.CStoreRSP.DimseStatus;
    }

  private:
    std::string sop_class_;
    std::string transfer_syntax_;
    Uint16 message_id_ = 0;
};

// The data set of a Part 10 file in explicit VR little endian: what follows the file meta group,
// whose length (0002,0000) is the first element after the 132-byte preamble and "DICM".
inline std::vector<std::uint8_t> data_set_of(const std::vector<std::uint8_t>& part10) {
    const std::size_t group_length_value = 132 + 8;
    const std::uint32_t meta_length = std::uint32_t{part10[group_length_value]} |
                                      std::uint32_t{part10[group_length_value + 1]} << 8 |
                                      std::uint32_t{part10[group_length_value + 2]} << 16 |
                                      std::uint32_t{part10[group_length_value + 3]} << 24;
    return {part10.begin() + static_cast<std::ptrdiff_t>(group_length_value + 4 + meta_length),
            part10.end()};
}

}  // namespace medanchor::testing
