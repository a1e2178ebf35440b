// PNG is read through libpng with medanchor's own error handling (no "libpng error:" lines on
// stderr). The image hash of a PNG must not change with that: for every PNG colour type and bit
// depth (grey 1/2/4/8/16, grey+alpha, RGB, RGBA, palette, tRNS transparency, Adam7 interlacing)
// the samples equal what OpenCV's imdecode(IMREAD_UNCHANGED) gave, which is how PNGs were read
// before. The PNG files are written byte by byte by a small Python encoder (zlib + struct), so
// no PNG library writes what a PNG library reads.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "image/reader.h"
#include "test_support.h"

namespace medanchor::image {
namespace {

using testing::quote;
using testing::run_command;
using testing::ScratchDir;

constexpr char kWritePngs[] = R"PY(
import struct, sys, zlib, random
out = sys.argv[1]
random.seed(3)
W, H = 13, 7
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
def row_bytes(samples, depth):
    if depth >= 8:
        return b''.join(s.to_bytes(depth // 8, 'big') for s in samples)
    bits = ''.join(format(s, '0%db' % depth) for s in samples)
    bits += '0' * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
def write(name, colour, depth, interlace=False, trns=None, palette=None):
    n = CHANNELS[colour]
    top = (1 << depth) - 1
    px = [[[random.randint(0, top) for _ in range(n)] for _ in range(W)] for _ in range(H)]
    if palette is not None:
        px = [[[random.randint(0, len(palette) - 1)] for _ in range(W)] for _ in range(H)]
    raw = b''
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        for y in range(y0, H, dy):
            xs = range(x0, W, dx)
            if not xs:
                continue
            raw += b'\0' + row_bytes([s for x in xs for s in px[y][x]], depth)
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', W, H, depth, colour, 0, 0, 1 if interlace else 0))
    if palette is not None:
        data += chunk(b'PLTE', b''.join(bytes(c) for c in palette))
    if trns is not None:
        data += chunk(b'tRNS', trns)
    data += chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
    open('%s/%s.png' % (out, name), 'wb').write(data)
for d in (1, 2, 4, 8, 16):
    write('grey%d' % d, 0, d)
write('grey8-trns', 0, 8, trns=struct.pack('>H', 7))
write('grey16-interlaced', 0, 16, interlace=True)
for d in (8, 16):
    write('grey-alpha%d' % d, 4, d)
    write('rgb%d' % d, 2, d)
    write('rgba%d' % d, 6, d)
write('rgb8-trns', 2, 8, trns=struct.pack('>HHH', 1, 2, 3))
write('rgb8-interlaced', 2, 8, interlace=True)
pal = [(random.randint(0, 255), random.randint(0, 255), random.randint(0, 255)) for _ in range(16)]
for d in (1, 2, 4, 8):
    write('palette%d' % d, 3, d, palette=pal[:min(16, 1 << d)])
write('palette8-trns', 3, 8, palette=pal, trns=bytes([0, 128, 255]))
write('palette4-interlaced', 3, 4, interlace=True, palette=pal)
)PY";

// The samples OpenCV's imdecode(IMREAD_UNCHANGED) gives, in the canonical layout (RGB order).
std::vector<std::uint8_t> opencv_samples(const std::vector<std::uint8_t>& bytes, int& channels,
                                         int& depth_bits, int& rows, int& cols) {
    const cv::Mat input(1, static_cast<int>(bytes.size()), CV_8U,
                        const_cast<std::uint8_t*>(bytes.data()));
    const cv::Mat m = cv::imdecode(input, cv::IMREAD_UNCHANGED);
    if (m.empty())
        return {};
    channels = m.channels();
    depth_bits = m.depth() == CV_16U ? 16 : 8;
    rows = m.rows;
    cols = m.cols;
    const std::size_t width = depth_bits / 8;
    const std::size_t row_bytes = std::size_t(cols) * channels * width;
    std::vector<std::uint8_t> out(row_bytes * rows);
    for (int r = 0; r < rows; ++r) {
        std::uint8_t* dst = out.data() + std::size_t(r) * row_bytes;
        std::memcpy(dst, m.ptr<std::uint8_t>(r), row_bytes);
        if (channels >= 3) {
            for (int c = 0; c < cols; ++c) {
                std::uint8_t* px = dst + std::size_t(c) * channels * width;
                for (std::size_t b = 0; b < width; ++b)
                    std::swap(px[b], px[2 * width + b]);
            }
        }
    }
    return out;
}

TEST(Raster, EveryKindOfPngDecodesAsOpenCvDecodedIt) {
    ScratchDir dir;
    {
        std::ofstream script(dir / "pngs.py");
        script << kWritePngs;
    }
    const auto r =
        run_command("/usr/bin/python3 " + quote(dir / "pngs.py") + " " + quote(dir.path()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::size_t seen = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        if (entry.path().extension() != ".png")
            continue;
        SCOPED_TRACE(entry.path().filename().string());
        const auto bytes = testing::read_bytes(entry.path());
        int channels = 0, depth = 0, rows = 0, cols = 0;
        const auto expected = opencv_samples(bytes, channels, depth, rows, cols);
        ASSERT_FALSE(expected.empty());
        auto img = decode_image(bytes, "x.png");
        ASSERT_TRUE(img.ok()) << img.error().message();
        EXPECT_EQ(img->geometry.samples_per_pixel, channels);
        EXPECT_EQ(img->geometry.bits_allocated, depth);
        EXPECT_EQ(img->geometry.rows, static_cast<std::uint32_t>(rows));
        EXPECT_EQ(img->geometry.columns, static_cast<std::uint32_t>(cols));
        EXPECT_TRUE(img->pixels == expected);
        ++seen;
    }
    EXPECT_EQ(seen, 21u);
}

}  // namespace
}  // namespace medanchor::image
