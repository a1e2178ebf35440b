// A client of Orthanc's REST API, for Orthanc mode (`medanchor listen --orthanc URL`): follow the
// /changes feed, list a stable series' instances, download them, upload results. REST only:
// Orthanc's plugin SDK is GPL-3.0 and medanchor is Apache-2.0. Over common/http.h. Thread safety:
// one client per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/http.h"

namespace medanchor::pacs {

struct OrthancClientOptions {
    std::chrono::milliseconds timeout{60000};  // connecting and each whole request
    // An instance download larger than this is refused (kTooLarge) without reading the rest; the
    // same bound as the DICOM listener's max_object_bytes.
    std::size_t max_instance_bytes = std::size_t{512} << 20;
};

// One entry of Orthanc's change log (GET /changes).
struct OrthancChange {
    std::int64_t seq = 0;
    std::string change_type;    // "StableSeries", "NewInstance", "StableStudy", ...
    std::string resource_type;  // "Series", "Instance", "Study", "Patient"
    std::string id;             // Orthanc's identifier of the resource
};

struct OrthancChanges {
    std::vector<OrthancChange> changes;  // in increasing Seq
    std::int64_t last = 0;               // resume from here
    bool done = false;                   // no change after `last` for now
};

struct OrthancSeries {
    std::string id;
    std::string series_instance_uid;
    std::string parent_study;
    bool stable = false;                 // Orthanc has seen no new instance for StableAge
    std::vector<std::string> instances;  // Orthanc identifiers, in Orthanc's order
};

// What POST /instances answered.
struct OrthancStored {
    std::string id;             // the instance's Orthanc identifier
    std::string status;         // "Success" or "AlreadyStored"
    std::string parent_series;  // its series' Orthanc identifier
};

// Orthanc identifiers are SHA-1 based: five groups of eight lower-case hex digits joined by
// dashes. Every identifier read from an answer is checked against this before it goes into a URL.
bool is_orthanc_id(std::string_view id);

class OrthancClient {
  public:
    // `base_url`: Orthanc's REST root, e.g. "http://127.0.0.1:8042" (kInvalidArgument unless
    // http:// or https://).
    static Result<OrthancClient> create(std::string base_url, OrthancClientOptions options = {});

    // One page of GET /changes?since=&limit=: the changes after Seq `since`, at most `limit`.
    Result<OrthancChanges> changes(std::int64_t since, unsigned limit = 100);

    // The one paging loop over /changes: hands each change after `since` to `visit`, in order,
    // until Orthanc has none left, and returns the Seq to resume from next time. A visit that
    // fails stops the loop and its error is returned: a visitor that must not lose its place
    // persists each Seq it has handled. kNetwork when Orthanc's answer does not advance.
    Result<std::int64_t> follow_changes(std::int64_t since,
                                        const std::function<Status(const OrthancChange&)>& visit,
                                        unsigned page_size = 100);

    // GET /series/{id}. kNotFound when Orthanc has no such series (any more).
    Result<OrthancSeries> series(const std::string& id);
    // GET /instances/{id}: the size of the instance's file in bytes (its FileSize), to refuse a
    // large one before downloading it. kNotFound when Orthanc has no such instance (any more).
    Result<std::uint64_t> instance_size(const std::string& id);
    // GET /instances/{id}/file: the Part 10 file as Orthanc stores it; kTooLarge past
    // max_instance_bytes (the rest is not read).
    Result<std::vector<std::uint8_t>> instance_file(const std::string& id);
    // POST /instances: stores a Part 10 file in Orthanc (an SR going back). kRejected when Orthanc
    // refuses it (e.g. not DICOM).
    Result<OrthancStored> upload(std::span<const std::uint8_t> part10);
    // POST /modalities/{name}/store: Orthanc sends the given resources (instances, series,
    // studies) by C-STORE to one of its configured modalities, and answers when done.
    Status send_to_modality(const std::string& modality, const std::vector<std::string>& ids);

    const std::string& base_url() const { return base_url_; }

  private:
    OrthancClient(std::string base_url, OrthancClientOptions options);
    std::string base_url_;
    OrthancClientOptions options_;
    HttpClient http_;
};

}  // namespace medanchor::pacs
