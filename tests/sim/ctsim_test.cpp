// The CT simulator: filtered back-projection reconstructs what was projected (values and place),
// slices are reproducible from their seed, noise grows as the dose falls, nodules show as denser
// tissue where the truth says, and the DICOM written reads back through the image layer in HU.
#include "sim/ctsim.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "image/modality_lut.h"
#include "image/reader.h"

namespace medanchor::sim {
namespace {

namespace fs = std::filesystem;

// Mean and standard deviation of the pixels of `image` (size x size) within `radius` pixels of
// (row, col).
std::pair<double, double> disc_stats(const std::vector<float>& image, std::uint32_t size,
                                     double row, double col, double radius) {
    double sum = 0, sum2 = 0;
    int n = 0;
    for (std::uint32_t r = 0; r < size; ++r) {
        for (std::uint32_t c = 0; c < size; ++c) {
            if ((r - row) * (r - row) + (c - col) * (c - col) > radius * radius)
                continue;
            const double v = image[std::size_t{r} * size + c];
            sum += v;
            sum2 += v * v;
            ++n;
        }
    }
    const double mean = sum / n;
    return {mean, std::sqrt(std::max(0.0, sum2 / n - mean * mean))};
}

std::vector<float> to_float(const std::vector<std::int16_t>& v) {
    return {v.begin(), v.end()};
}

TEST(CtSim, ReconstructionRecoversAUniformDisc) {
    const std::uint32_t n = 128;
    std::vector<float> mu(n * n, 0.0f);
    const double c = (n - 1) / 2.0;
    for (std::uint32_t r = 0; r < n; ++r) {
        for (std::uint32_t col = 0; col < n; ++col) {
            if ((r - c) * (r - c) + (col - c) * (col - c) <= 40.0 * 40.0)
                mu[r * n + col] = 0.05f;
        }
    }
    const auto recon = reconstruct(project(mu, n, 180), n, 180);
    const auto [inside, inside_sd] = disc_stats(recon, n, c, c, 30);
    EXPECT_NEAR(inside, 0.05, 0.05 * 0.02);  // within 2 %
    EXPECT_LT(inside_sd, 0.05 * 0.02);
    // Air between the disc and the edge of the field of view.
    const auto [outside, outside_sd] = disc_stats(recon, n, c, 10, 3);
    EXPECT_NEAR(outside, 0.0, 0.05 * 0.03);
}

TEST(CtSim, ReconstructionPutsThingsWhereTheyWere) {
    // A small dense disc off centre, towards the bottom right: the reconstruction's brightest
    // region must be there, not mirrored or rotated.
    const std::uint32_t n = 128;
    std::vector<float> mu(n * n, 0.0f);
    const double row = 90, col = 40;
    for (std::uint32_t r = 0; r < n; ++r) {
        for (std::uint32_t c = 0; c < n; ++c) {
            if ((r - row) * (r - row) + (c - col) * (c - col) <= 16)
                mu[r * n + c] = 0.1f;
        }
    }
    const auto recon = reconstruct(project(mu, n, 180), n, 180);
    const auto peak = std::max_element(recon.begin(), recon.end()) - recon.begin();
    EXPECT_NEAR(static_cast<double>(peak / n), row, 1.5);
    EXPECT_NEAR(static_cast<double>(peak % n), col, 1.5);
}

TEST(CtSim, SlicesAreReproducibleFromTheirSeed) {
    CtSimOptions o;
    o.size = 96;
    o.views = 90;
    const auto a = simulate_slice(7, 3, o);
    const auto b = simulate_slice(7, 3, o);
    const auto other = simulate_slice(7, 4, o);
    EXPECT_EQ(a.hu, b.hu);
    EXPECT_EQ(a.truth.nodule, b.truth.nodule);
    EXPECT_NE(a.hu, other.hu);
}

TEST(CtSim, TissuesComeOutAtTheirHounsfieldUnits) {
    // Noise-free reference and a high-dose slice of the same phantom: in the lung, the soft
    // tissue and the air outside, the reconstruction is within a few tens of HU of the truth.
    CtSimOptions o;
    o.size = 128;
    o.views = 180;
    o.min_i0 = o.max_i0 = 1e7;
    const auto truth = phantom_hu(11, 0, o);
    const auto slice = simulate_slice(11, 0, o);
    const auto recon = to_float(slice.hu);
    int checked = 0;
    for (std::size_t i = 0; i < truth.size(); i += 97) {
        const std::uint32_t r = static_cast<std::uint32_t>(i / o.size),
                            c = static_cast<std::uint32_t>(i % o.size);
        // Only flat regions: the phantom is the same value on a 5x5 neighbourhood.
        bool flat = r >= 2 && c >= 2 && r + 2 < o.size && c + 2 < o.size;
        for (int dr = -2; flat && dr <= 2; ++dr) {
            for (int dc = -2; flat && dc <= 2; ++dc) {
                flat = std::abs(truth[(r + dr) * o.size + c + dc] - truth[i]) < 1.0f;
            }
        }
        const double dist = std::hypot(r - (o.size - 1) / 2.0, c - (o.size - 1) / 2.0);
        if (!flat || dist > o.size / 2.0 - 4)
            continue;
        EXPECT_NEAR(recon[i], truth[i], 60.0) << "pixel " << r << "," << c;
        ++checked;
    }
    EXPECT_GT(checked, 50);
}

TEST(CtSim, LowerDoseMeansMoreNoise) {
    // Noise is what a slice differs by from a near noise-free one of the same anatomy. Photon
    // noise has a variance proportional to 1/dose: 40 times fewer photons, about 6 times the noise.
    CtSimOptions o;
    o.size = 96;
    o.views = 120;
    o.nodule_fraction = 0;
    auto at = [&](double i0) {
        auto d = o;
        d.min_i0 = d.max_i0 = i0;
        return simulate_slice(5, 0, d).hu;
    };
    const auto reference = at(1e9), high = at(2e5), low = at(5e3);
    auto rms = [&](const std::vector<std::int16_t>& s) {
        double sum2 = 0;
        for (std::size_t i = 0; i < s.size(); ++i)
            sum2 += (s[i] - reference[i]) * (s[i] - reference[i]);
        return std::sqrt(sum2 / s.size());
    };
    EXPECT_GT(rms(low), 4.0 * rms(high));
    EXPECT_LT(rms(low), 9.0 * rms(high));
}

TEST(CtSim, NodulesAreDenserThanTheLungAroundThem) {
    CtSimOptions o;
    o.size = 192;
    o.views = 180;
    o.nodule_fraction = 1;
    o.min_nodule_mm = o.max_nodule_mm = 14;
    int seen = 0;
    for (std::uint64_t i = 0; i < 6; ++i) {
        const auto s = simulate_slice(21, i, o);
        ASSERT_TRUE(s.truth.nodule);
        if (s.truth.nodule_hu < -200)
            continue;  // faint ones are allowed to be hard to see
        const double half = o.size * s.pixel_mm / 2;
        const double col = (s.truth.nodule_x_mm + half) / s.pixel_mm - 0.5;
        const double row = (s.truth.nodule_y_mm + half) / s.pixel_mm - 0.5;
        const auto inside = disc_stats(to_float(s.hu), o.size, row, col, 3);
        EXPECT_GT(inside.first, -400) << "slice " << i;
        ++seen;
    }
    EXPECT_GT(seen, 0);
}

TEST(CtSim, NoduleFractionZeroAndOne) {
    CtSimOptions o;
    o.size = 64;
    o.views = 32;
    for (std::uint64_t i = 0; i < 10; ++i) {
        o.nodule_fraction = 0;
        EXPECT_FALSE(simulate_slice(1, i, o).truth.nodule);
        o.nodule_fraction = 1;
        EXPECT_TRUE(simulate_slice(1, i, o).truth.nodule);
    }
}

TEST(CtSim, WritesDicomThatReadsBackInHounsfieldUnits) {
    CtSimOptions o;
    o.size = 64;
    o.views = 64;
    const auto slice = simulate_slice(3, 9, o);
    const fs::path dir =
        fs::temp_directory_path() / ("medanchor-ctsim-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path file = dir / "slice.dcm";
    ASSERT_TRUE(write_dicom(slice, 3, 9, file).ok());
    EXPECT_FALSE(fs::exists(file.string() + ".tmp"));

    auto image = image::read_image(file);
    ASSERT_TRUE(image.ok()) << image.error().message();
    EXPECT_EQ(image->info.modality, "CT");
    EXPECT_EQ(image->geometry.rows, 64u);
    EXPECT_EQ(image->geometry.bits_stored, 12u);
    EXPECT_DOUBLE_EQ(image->info.rescale_intercept, -1024.0);
    auto hu = image::apply_modality_lut(*image);
    ASSERT_TRUE(hu.ok());
    for (std::size_t i = 0; i < slice.hu.size(); ++i)
        ASSERT_EQ((*hu)[i], slice.hu[i]) << i;

    // The same slice written again is the same file, byte for byte (reproducible UIDs).
    const fs::path again = dir / "again.dcm";
    ASSERT_TRUE(write_dicom(slice, 3, 9, again).ok());
    auto a = image::read_file_bytes(file, 1 << 20);
    auto b = image::read_file_bytes(again, 1 << 20);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);

    const auto refused = write_dicom(slice, 3, 9, dir / "missing-dir" / "x.dcm");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kIo);
    EXPECT_NE(refused.error().message().find("missing-dir"), std::string::npos);
    fs::remove_all(dir);
}

TEST(CtSim, OptionsAreValidated) {
    CtSimOptions o;
    EXPECT_TRUE(validate(o).ok());
    o.size = 8;
    auto s = validate(o);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.error().message().find("--size"), std::string::npos);
    o = {};
    o.nodule_fraction = 1.5;
    EXPECT_FALSE(validate(o).ok());
    o = {};
    o.min_i0 = 5e5;  // above max_i0
    EXPECT_FALSE(validate(o).ok());
}

}  // namespace
}  // namespace medanchor::sim
