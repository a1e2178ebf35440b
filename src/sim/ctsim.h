// A physically based simulator of axial chest CT slices, for training and testing the reference
// model without patient data (docs/ctsim.md). Each slice is a randomised thorax phantom (body,
// fat, lungs with vessels, heart, aorta, spine, ribs) with, on request, one lung nodule of random
// size, density and place; it is forward-projected as parallel-beam line integrals, photon-counted
// with Poisson noise at a random dose, reconstructed by filtered back-projection and written as
// a real DICOM CT image in Hounsfield units.
//
// Deterministic: a slice is a function of (seed, index, options) only, whatever the thread count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace medanchor::sim {

struct CtSimOptions {
    std::uint32_t size = 256;      // image matrix (rows = columns)
    double fov_mm = 360.0;         // reconstruction field of view (diameter)
    std::uint32_t views = 240;     // projection angles over 180 degrees
    double nodule_fraction = 0.5;  // probability that a slice carries a nodule
    double min_i0 = 5.0e3;         // photons per ray and view, unattenuated: the dose range,
    double max_i0 = 2.0e5;         // drawn log-uniformly (about 70 to 11 HU of noise at 256/240)
    double min_nodule_mm = 4.0;    // nodule diameter range
    double max_nodule_mm = 18.0;
};

// What was simulated: the ground truth kept beside the image, never inside it.
struct CtTruth {
    bool nodule = false;
    double nodule_diameter_mm = 0;  // 0 when no nodule
    double nodule_hu = 0;           // the nodule's density
    double nodule_x_mm = 0;         // centre, patient coordinates (x to the patient's left)
    double nodule_y_mm = 0;         // (y to the back)
    double i0 = 0;                  // photons per ray
};

struct CtSlice {
    std::uint32_t size = 0;
    double pixel_mm = 0;
    std::vector<std::int16_t> hu;  // size * size, row-major, clamped to [-1024, 3071]
    CtTruth truth;
};

// Validates options: kInvalidArgument naming the field.
Status validate(const CtSimOptions& options);

// Simulates slice `index` of the series `seed`. REQUIRES: validate(options) is ok.
CtSlice simulate_slice(std::uint64_t seed, std::uint64_t index, const CtSimOptions& options);

// The noise-free phantom of the same slice in Hounsfield units (tests compare against it).
std::vector<float> phantom_hu(std::uint64_t seed, std::uint64_t index, const CtSimOptions& options,
                              CtTruth* truth = nullptr);

// Parallel-beam projection and filtered back-projection of a size x size image of linear
// attenuation (per pixel), exposed for tests. sinogram is views x size, row per angle.
std::vector<float> project(const std::vector<float>& mu, std::uint32_t size, std::uint32_t views);
std::vector<float> reconstruct(const std::vector<float>& sinogram, std::uint32_t size,
                               std::uint32_t views);

// Writes the slice as a DICOM CT Image (Explicit VR Little Endian, 12 bits stored, Rescale
// Intercept -1024) with UIDs derived from (seed, index) so files are reproducible. The patient is
// "SIMULATED^PHANTOM": nothing in the file belongs to a person. Written to a temporary name and
// renamed, so a crash leaves no half-written file.
Status write_dicom(const CtSlice& slice, std::uint64_t seed, std::uint64_t index,
                   const std::filesystem::path& path);

}  // namespace medanchor::sim
