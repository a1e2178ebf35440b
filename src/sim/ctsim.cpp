#include "sim/ctsim.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <system_error>

#include "common/encoding.h"
#include "common/file_io.h"

namespace medanchor::sim {
namespace {

// Linear attenuation of water at the effective energy of a 120 kVp beam (about 70 keV), per mm.
constexpr double kMuWater = 0.0195;
constexpr int kSupersample = 2;

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// One independent stream per (seed, index, purpose): the phantom and the noise of a slice are
// drawn from separate generators so that changing the dose keeps the anatomy.
std::mt19937_64 stream(std::uint64_t seed, std::uint64_t index, std::uint64_t purpose) {
    return std::mt19937_64(splitmix64(splitmix64(splitmix64(seed) ^ index) ^ purpose));
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
}

struct Ellipse {
    double cx, cy, a, b, angle;  // mm, radians
    bool contains(double x, double y) const {
        const double c = std::cos(angle), s = std::sin(angle);
        const double u = (x - cx) * c + (y - cy) * s;
        const double v = -(x - cx) * s + (y - cy) * c;
        return (u * u) / (a * a) + (v * v) / (b * b) <= 1.0;
    }
};

// Paints `value` into the pixels of `image` (pixel size px mm, centred field of view) whose
// centres lie inside `e`, visiting only its bounding box.
void paint(cv::Mat& image, double px, const Ellipse& e, float value) {
    const double half = image.cols * px / 2, reach = std::max(e.a, e.b);
    const int c0 = std::max(0, static_cast<int>(std::floor((e.cx - reach + half) / px))),
              c1 =
                  std::min(image.cols - 1, static_cast<int>(std::ceil((e.cx + reach + half) / px)));
    const int r0 = std::max(0, static_cast<int>(std::floor((e.cy - reach + half) / px))),
              r1 =
                  std::min(image.rows - 1, static_cast<int>(std::ceil((e.cy + reach + half) / px)));
    const double c = std::cos(e.angle), s = std::sin(e.angle), ia2 = 1 / (e.a * e.a),
                 ib2 = 1 / (e.b * e.b);
    for (int r = r0; r <= r1; ++r) {
        auto* row = image.ptr<float>(r);
        const double y = (r + 0.5) * px - half - e.cy;
        for (int col = c0; col <= c1; ++col) {
            const double x = (col + 0.5) * px - half - e.cx;
            const double u = x * c + y * s, v = -x * s + y * c;
            if (u * u * ia2 + v * v * ib2 <= 1.0)
                row[col] = value;
        }
    }
}

struct Shape {
    Ellipse e;
    float hu;
};

// The phantom as an ordered list of shapes, each painted over the ones before it.
struct Phantom {
    std::vector<Shape> shapes;
    CtTruth truth;
};

Phantom make_phantom(std::uint64_t seed, std::uint64_t index, const CtSimOptions& o) {
    auto rng = stream(seed, index, 1);
    Phantom p;
    auto add = [&](double cx, double cy, double a, double b, double angle, double hu) {
        p.shapes.push_back({{cx, cy, a, b, angle}, static_cast<float>(hu)});
    };
    const double scale = o.fov_mm / 360.0;  // anatomy is sized for a 360 mm field of view
    const double a = uniform(rng, 135, 165) * scale, b = uniform(rng, 95, 118) * scale;
    const double dy = uniform(rng, -6, 6) * scale;
    const double fat = uniform(rng, 6, 18) * scale;
    add(0, dy, a, b, 0, uniform(rng, -110, -90));           // subcutaneous fat
    add(0, dy, a - fat, b - fat, 0, uniform(rng, 35, 55));  // muscle and soft tissue
    const double ia = a - fat, ib = b - fat;
    // Ribs: small dense ellipses just inside the soft-tissue boundary, sparing front and back.
    for (int k = 0; k < 14; ++k) {
        const double t =
            (k < 7 ? 0.35 : std::numbers::pi + 0.35) + (k % 7) * 0.36 + uniform(rng, -0.05, 0.05);
        const double rx = (ia - 9 * scale) * std::cos(t), ry = dy + (ib - 9 * scale) * std::sin(t);
        add(rx, ry, 5 * scale, 3 * scale, t, uniform(rng, 650, 900));
    }
    // Lungs.
    const double lung_hu = uniform(rng, -880, -820);
    const Ellipse lungs[2] = {
        {-ia * uniform(rng, 0.44, 0.50), dy - uniform(rng, 0, 8) * scale,
         ia * uniform(rng, 0.30, 0.36), ib * uniform(rng, 0.68, 0.76), uniform(rng, -0.15, 0.15)},
        {ia * uniform(rng, 0.44, 0.50), dy - uniform(rng, 0, 8) * scale,
         ia * uniform(rng, 0.30, 0.36), ib * uniform(rng, 0.68, 0.76), uniform(rng, -0.15, 0.15)}};
    for (const auto& l : lungs)
        p.shapes.push_back({l, static_cast<float>(lung_hu)});
    // Vessels: bright dots in the lungs, denser and larger towards the hilum. They are what makes
    // a small nodule hard to tell apart.
    for (const auto& l : lungs) {
        const int n = static_cast<int>(uniform(rng, 18, 40));
        for (int k = 0; k < n; ++k) {
            const double r = std::sqrt(uniform(rng, 0, 1)),
                         t = uniform(rng, 0, 2 * std::numbers::pi);
            const double x = l.cx + r * l.a * 0.9 * std::cos(t),
                         y = l.cy + r * l.b * 0.9 * std::sin(t);
            const double radius = (2.6 - 1.9 * r) * uniform(rng, 0.6, 1.1) * scale;
            add(x, y, radius, radius * uniform(rng, 1.0, 1.8), uniform(rng, 0, std::numbers::pi),
                uniform(rng, 20, 60));
        }
    }
    // Mediastinum: heart (towards the patient's left, +x) and aorta; spine at the back.
    const Ellipse heart{uniform(rng, 8, 22) * scale, dy - uniform(rng, 15, 30) * scale,
                        uniform(rng, 42, 56) * scale, uniform(rng, 36, 46) * scale,
                        uniform(rng, -0.5, 0.1)};
    p.shapes.push_back({heart, static_cast<float>(uniform(rng, 30, 50))});
    const double spine_y = dy + ib * uniform(rng, 0.58, 0.66),
                 spine_r = uniform(rng, 14, 18) * scale;
    add(uniform(rng, 10, 18) * scale, spine_y - spine_r - uniform(rng, 8, 14) * scale,
        uniform(rng, 10, 14) * scale, uniform(rng, 10, 14) * scale, 0,
        uniform(rng, 35, 55));  // descending aorta
    add(0, spine_y + spine_r + 9 * scale, 16 * scale, 8 * scale, 0,
        uniform(rng, 450, 600));  // posterior arch
    add(0, spine_y, spine_r + 2 * scale, spine_r + 2 * scale, 0, uniform(rng, 700, 900));  // cortex
    add(0, spine_y, spine_r, spine_r, 0, uniform(rng, 200, 320));                          // body
    add(0, spine_y + spine_r + 6 * scale, 6 * scale, 5 * scale, 0, uniform(rng, 5, 25));   // canal
    add(uniform(rng, -4, 4) * scale, dy - ib * 0.25, 8 * scale, 7 * scale, 0, -1000);  // trachea

    // The nodule: inside a lung, clear of its border and of the heart.
    auto nodule_rng = stream(seed, index, 2);
    if (uniform(nodule_rng, 0, 1) < o.nodule_fraction) {
        const double d = uniform(nodule_rng, o.min_nodule_mm, o.max_nodule_mm);
        const double hu = uniform(nodule_rng, -450, 80);
        for (int attempt = 0; attempt < 200; ++attempt) {  // a small lung may need a few tries
            const auto& l = lungs[uniform(nodule_rng, 0, 1) < 0.5 ? 0 : 1];
            const double r = std::sqrt(uniform(nodule_rng, 0, 1)),
                         t = uniform(nodule_rng, 0, 2 * std::numbers::pi);
            const double x = l.cx + r * (l.a - d / 2 - 3) * std::cos(t);
            const double y = l.cy + r * (l.b - d / 2 - 3) * std::sin(t);
            const Ellipse clear{heart.cx, heart.cy, heart.a + d / 2 + 3, heart.b + d / 2 + 3,
                                heart.angle};
            if (l.a - d / 2 - 3 <= 0 || l.b - d / 2 - 3 <= 0 || clear.contains(x, y))
                continue;
            const double elong = uniform(nodule_rng, 0.85, 1.15);
            add(x, y, d / 2 * elong, d / 2 / elong, uniform(nodule_rng, 0, std::numbers::pi), hu);
            p.truth = {true, d, hu, x, y, 0};
            break;
        }
    }
    return p;
}

cv::Mat render(const Phantom& p, const CtSimOptions& o) {
    const int n = static_cast<int>(o.size) * kSupersample;
    cv::Mat hu(n, n, CV_32F, cv::Scalar(-1000));
    for (const auto& s : p.shapes)
        paint(hu, o.fov_mm / n, s.e, s.hu);
    cv::Mat out;
    cv::resize(hu, out, cv::Size(static_cast<int>(o.size), static_cast<int>(o.size)), 0, 0,
               cv::INTER_AREA);
    return out;
}

cv::Point2f centre(std::uint32_t size) {
    return {static_cast<float>(size - 1) / 2.0f, static_cast<float>(size - 1) / 2.0f};
}

double angle_deg(std::uint32_t view, std::uint32_t views) {
    return 180.0 * view / views;
}

// Ram-Lak filter built from its band-limited spatial kernel (Kak and Slaney, eq. 61), which
// avoids the DC offset of a sampled |f|, times a Hann window against noise; as a frequency
// response of length `padded`.
std::vector<float> ramp_filter(int padded) {
    cv::Mat h(1, padded, CV_32F, cv::Scalar(0));
    for (int i = 0; i < padded; ++i) {
        const int n = i <= padded / 2 ? i : i - padded;
        if (n == 0)
            h.at<float>(i) = 0.25f;
        else if (n % 2 != 0)
            h.at<float>(i) =
                static_cast<float>(-1.0 / (std::numbers::pi * std::numbers::pi * n * n));
    }
    cv::Mat spectrum;
    cv::dft(h, spectrum, cv::DFT_COMPLEX_OUTPUT);
    std::vector<float> response(padded);
    for (int i = 0; i < padded; ++i) {
        const int k = i <= padded / 2 ? i : padded - i;
        const double hann = 0.5 + 0.5 * std::cos(std::numbers::pi * k / (padded / 2.0));
        response[i] = static_cast<float>(spectrum.at<cv::Vec2f>(i)[0] * hann);
    }
    return response;
}

}  // namespace

Status validate(const CtSimOptions& o) {
    auto bad = [](const std::string& what) { return Error(ErrorCode::kInvalidArgument, what); };
    if (o.size < 32 || o.size > 1024)
        return bad("--size must be between 32 and 1024 pixels");
    if (!(o.fov_mm >= 200 && o.fov_mm <= 500))
        return bad("--fov must be between 200 and 500 mm");
    if (o.views < 16 || o.views > 2048)
        return bad("--views must be between 16 and 2048");
    if (!(o.nodule_fraction >= 0 && o.nodule_fraction <= 1))
        return bad("--nodule-fraction must be within 0..1");
    if (!(o.min_i0 >= 100 && o.min_i0 <= o.max_i0 && o.max_i0 <= 1e8)) {
        return bad("the dose range must satisfy 100 <= min-i0 <= max-i0 <= 1e8 photons");
    }
    if (!(o.min_nodule_mm >= 1 && o.min_nodule_mm <= o.max_nodule_mm && o.max_nodule_mm <= 40)) {
        return bad("the nodule size range must satisfy 1 <= min <= max <= 40 mm");
    }
    return Status::Ok();
}

std::vector<float> phantom_hu(std::uint64_t seed, std::uint64_t index, const CtSimOptions& o,
                              CtTruth* truth) {
    const Phantom p = make_phantom(seed, index, o);
    if (truth)
        *truth = p.truth;
    const cv::Mat hu = render(p, o);
    return std::vector<float>(hu.begin<float>(), hu.end<float>());
}

std::vector<float> project(const std::vector<float>& mu, std::uint32_t size, std::uint32_t views) {
    const int n = static_cast<int>(size);
    const cv::Mat image(n, n, CV_32F, const_cast<float*>(mu.data()));
    std::vector<float> sinogram(std::size_t{views} * size);
    cv::Mat rotated, sums;
    for (std::uint32_t v = 0; v < views; ++v) {
        const cv::Mat m = cv::getRotationMatrix2D(centre(size), angle_deg(v, views), 1.0);
        cv::warpAffine(image, rotated, m, image.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
        cv::reduce(rotated, sums, 0, cv::REDUCE_SUM, CV_32F);
        std::copy(sums.begin<float>(), sums.end<float>(), sinogram.begin() + std::ptrdiff_t{v} * n);
    }
    return sinogram;
}

std::vector<float> reconstruct(const std::vector<float>& sinogram, std::uint32_t size,
                               std::uint32_t views) {
    const int n = static_cast<int>(size);
    int padded = 1;
    while (padded < 2 * n)
        padded *= 2;
    const std::vector<float> response = ramp_filter(padded);
    cv::Mat accumulator(n, n, CV_32F, cv::Scalar(0));
    cv::Mat line(1, padded, CV_32F), spectrum, filtered, smear, rotated;
    for (std::uint32_t v = 0; v < views; ++v) {
        line.setTo(0);
        std::copy_n(sinogram.begin() + std::ptrdiff_t{v} * n, n, line.ptr<float>());
        cv::dft(line, spectrum, cv::DFT_COMPLEX_OUTPUT);
        for (int i = 0; i < padded; ++i)
            spectrum.at<cv::Vec2f>(i) *= response[i];
        cv::idft(spectrum, filtered, cv::DFT_REAL_OUTPUT | cv::DFT_SCALE);
        // Smear the filtered projection back along its rays, then turn it to the view's angle:
        // the adjoint of project()'s rotate-then-sum.
        cv::repeat(filtered.colRange(0, n), n, 1, smear);
        const cv::Mat m = cv::getRotationMatrix2D(centre(size), -angle_deg(v, views), 1.0);
        cv::warpAffine(smear, rotated, m, smear.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
        accumulator += rotated;
    }
    accumulator *= std::numbers::pi / views;
    return std::vector<float>(accumulator.begin<float>(), accumulator.end<float>());
}

CtSlice simulate_slice(std::uint64_t seed, std::uint64_t index, const CtSimOptions& o) {
    CtSlice slice;
    slice.size = o.size;
    slice.pixel_mm = o.fov_mm / o.size;
    const std::vector<float> hu = phantom_hu(seed, index, o, &slice.truth);

    // Attenuation per pixel, so that a projection is the dimensionless line integral.
    std::vector<float> mu(hu.size());
    for (std::size_t i = 0; i < hu.size(); ++i) {
        mu[i] =
            static_cast<float>(std::max(0.0, kMuWater * (1.0 + hu[i] / 1000.0)) * slice.pixel_mm);
    }
    std::vector<float> sinogram = project(mu, o.size, o.views);

    // Photon counting at this slice's dose: the noise a real detector adds, larger where the
    // body attenuates more.
    auto rng = stream(seed, index, 3);
    const double i0 = std::exp(uniform(rng, std::log(o.min_i0), std::log(o.max_i0)));
    slice.truth.i0 = i0;
    for (float& p : sinogram) {
        const double expected = i0 * std::exp(-static_cast<double>(p));
        const double counts =
            static_cast<double>(std::poisson_distribution<long long>(expected)(rng));
        p = static_cast<float>(-std::log(std::max(counts, 0.5) / i0));
    }

    const std::vector<float> recon = reconstruct(sinogram, o.size, o.views);
    slice.hu.resize(recon.size());
    const double c = (o.size - 1) / 2.0, radius2 = (o.size / 2.0) * (o.size / 2.0);
    for (std::uint32_t r = 0; r < o.size; ++r) {
        for (std::uint32_t col = 0; col < o.size; ++col) {
            const std::size_t i = std::size_t{r} * o.size + col;
            const bool inside = (r - c) * (r - c) + (col - c) * (col - c) <= radius2;
            const double value =
                inside ? 1000.0 * (recon[i] / (kMuWater * slice.pixel_mm) - 1.0) : -1024.0;
            slice.hu[i] =
                static_cast<std::int16_t>(std::lround(std::clamp(value, -1024.0, 3071.0)));
        }
    }
    return slice;
}

namespace {

// "2.25." followed by the decimal of a 128-bit number derived from (seed, index, kind): a UID
// form that needs no registered root (PS3.5 B.2), reproducible from the seed.
std::string derived_uid(std::uint64_t seed, std::uint64_t index, std::uint64_t kind) {
    const std::uint64_t hi =
        splitmix64(splitmix64(seed ^ 0x6d6564616e63686fULL) ^ index ^ (kind << 56));
    const std::uint64_t lo = splitmix64(hi ^ kind);
    std::array<std::uint8_t, 16> n{};
    for (int b = 0; b < 8; ++b) {
        n[b] = static_cast<std::uint8_t>(hi >> (56 - 8 * b));
        n[8 + b] = static_cast<std::uint8_t>(lo >> (56 - 8 * b));
    }
    return uid_from_128_bits(n);
}

}  // namespace

Status write_dicom(const CtSlice& slice, std::uint64_t seed, std::uint64_t index,
                   const std::filesystem::path& path) {
    DcmFileFormat file;
    DcmDataset* ds = file.getDataset();
    const std::string sop = derived_uid(seed, index, 1);
    const std::string id = "SIM-" + std::to_string(seed) + "-" + std::to_string(index);
    const std::string spacing =
        std::to_string(slice.pixel_mm) + "\\" + std::to_string(slice.pixel_mm);
    const double origin = -(slice.size * slice.pixel_mm) / 2 + slice.pixel_mm / 2;
    const std::string position = std::to_string(origin) + "\\" + std::to_string(origin) + "\\0";
    const std::pair<DcmTagKey, std::string> strings[] = {
        {DCM_SOPClassUID, UID_CTImageStorage},
        {DCM_SOPInstanceUID, sop},
        {DCM_StudyInstanceUID, derived_uid(seed, index, 2)},
        {DCM_SeriesInstanceUID, derived_uid(seed, index, 3)},
        {DCM_FrameOfReferenceUID, derived_uid(seed, index, 4)},
        {DCM_PatientName, "SIMULATED^PHANTOM"},
        {DCM_PatientID, id},
        {DCM_PatientBirthDate, ""},
        {DCM_PatientSex, "O"},
        {DCM_StudyDate, ""},
        {DCM_StudyTime, ""},
        {DCM_ReferringPhysicianName, ""},
        {DCM_StudyID, ""},
        {DCM_AccessionNumber, ""},
        {DCM_Modality, "CT"},
        {DCM_SeriesNumber, "1"},
        {DCM_InstanceNumber, "1"},
        {DCM_Manufacturer, "medanchor"},
        {DCM_ManufacturerModelName, "ctsim"},
        {DCM_ImageType, "DERIVED\\SECONDARY\\AXIAL"},
        {DCM_ImageComments,
         "Simulated phantom (medanchor ctsim), not a patient; not for clinical use"},
        {DCM_BodyPartExamined, "CHEST"},
        {DCM_KVP, "120"},
        {DCM_SliceThickness, "1"},
        {DCM_ConvolutionKernel, "RAMLAK-HANN"},
        {DCM_PatientPosition, "HFS"},
        {DCM_ImagePositionPatient, position},
        {DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0"},
        {DCM_PixelSpacing, spacing},
        {DCM_PhotometricInterpretation, "MONOCHROME2"},
        {DCM_RescaleIntercept, "-1024"},
        {DCM_RescaleSlope, "1"},
        {DCM_RescaleType, "HU"},
        {DCM_WindowCenter, "-600"},
        {DCM_WindowWidth, "1500"},
        {DCM_BurnedInAnnotation, "NO"},
        {DCM_PositionReferenceIndicator, ""},
    };
    for (const auto& [tag, value] : strings) {
        if (ds->putAndInsertString(tag, value.c_str()).bad()) {
            return Error(ErrorCode::kInternal,
                         "cannot set " + std::string(DcmTag(tag).getTagName()));
        }
    }
    const auto rows = static_cast<Uint16>(slice.size);
    std::vector<Uint16> stored(slice.hu.size());
    for (std::size_t i = 0; i < stored.size(); ++i)
        stored[i] = static_cast<Uint16>(slice.hu[i] + 1024);
    if (ds->putAndInsertUint16(DCM_SamplesPerPixel, 1).bad() ||
        ds->putAndInsertUint16(DCM_Rows, rows).bad() ||
        ds->putAndInsertUint16(DCM_Columns, rows).bad() ||
        ds->putAndInsertUint16(DCM_BitsAllocated, 16).bad() ||
        ds->putAndInsertUint16(DCM_BitsStored, 12).bad() ||
        ds->putAndInsertUint16(DCM_HighBit, 11).bad() ||
        ds->putAndInsertUint16(DCM_PixelRepresentation, 0).bad() ||
        ds->putAndInsertUint16Array(DCM_PixelData, stored.data(),
                                    static_cast<unsigned long>(stored.size()))
            .bad()) {
        return Error(ErrorCode::kInternal, "cannot set the image attributes");
    }
    AtomicFile out(path);
    const OFCondition saved = file.saveFile(out.temp_path().c_str(), EXS_LittleEndianExplicit);
    if (saved.bad())
        return Error(ErrorCode::kIo, path.string() + ": cannot write: " + saved.text());
    if (auto s = out.commit(); !s)
        return s;
    return Status::Ok();
}

}  // namespace medanchor::sim
