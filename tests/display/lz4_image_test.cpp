#include "display/codec/lz4_image.hpp"

#include <gtest/gtest.h>

#include <lz4.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace {

using bytes = std::vector<uint8_t>;

/// What spice-gtk's canvas_get_lz4 does with a payload, written from its
/// facts: u8 top_down, u8 format, then big-endian u32 block sizes each
/// followed by an LZ4 block, decoded as one stream into one buffer until the
/// payload ends. Returns the decoded rows (width × bpp each, no padding).
struct decoded {
    bool top_down = false;
    uint8_t format = 0;
    bytes rows;
    size_t blocks = 0;
};

std::optional<decoded> decode(const bytes &in, size_t capacity) {
    if (in.size() < 2) return std::nullopt;
    decoded d;
    d.top_down = in[0] != 0;
    d.format = in[1];
    d.rows.resize(capacity);
    LZ4_streamDecode_t *s = LZ4_createStreamDecode();
    size_t pos = 2;
    size_t out = 0;
    bool ok = true;
    do {
        if (pos + 4 > in.size()) {
            ok = false;
            break;
        }
        const uint32_t n = uint32_t{in[pos]} << 24 | uint32_t{in[pos + 1]} << 16 |
                           uint32_t{in[pos + 2]} << 8 | in[pos + 3];
        pos += 4;
        if (n > in.size() - pos) {
            ok = false;
            break;
        }
        const int got =
            LZ4_decompress_safe_continue(s, reinterpret_cast<const char *>(in.data() + pos),
                                         reinterpret_cast<char *>(d.rows.data() + out),
                                         static_cast<int>(n), static_cast<int>(capacity - out));
        if (got <= 0) {
            ok = false;
            break;
        }
        out += static_cast<size_t>(got);
        pos += n;
        ++d.blocks;
    } while (pos < in.size());
    LZ4_freeStreamDecode(s);
    if (!ok) return std::nullopt;
    d.rows.resize(out);
    return d;
}

bytes pattern(size_t n, uint32_t seed) {
    bytes b(n);
    uint32_t x = seed;
    for (size_t i = 0; i < n; ++i) {
        // Runs of repeated bytes with some noise: compressible but not trivial.
        if (i % 13 == 0) x = x * 1103515245u + 12345u;
        b[i] = static_cast<uint8_t>(x >> 16);
    }
    return b;
}

// The packed rows of a strided image: what the client must get back.
bytes packed_rows(const bytes &px, uint32_t row, uint32_t height, uint32_t stride) {
    bytes out;
    for (uint32_t y = 0; y < height; ++y)
        out.insert(out.end(), px.begin() + y * stride, px.begin() + y * stride + row);
    return out;
}

TEST(Lz4Image, BytesPerPixelAreTheFormatsTheClientDecodes) {
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_16BIT), 2u);
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_24BIT), 3u);
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_32BIT), 4u);
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_RGBA), 4u);
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_8BIT), 0u);
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_1BIT_LE), 0u);
    EXPECT_EQ(rs::lz4_image::bytes_per_pixel(SPICE_BITMAP_FMT_8BIT_A), 0u);
}

TEST(Lz4Image, HeaderIsTopDownThenFormat) {
    const bytes px = pattern(4 * 4 * 3, 1);
    bytes out;
    ASSERT_TRUE(rs::lz4_image::encode(px, SPICE_BITMAP_FMT_32BIT, true, 4, 3, 16, out));
    ASSERT_GE(out.size(), 6u);
    EXPECT_EQ(out[0], 1);
    EXPECT_EQ(out[1], SPICE_BITMAP_FMT_32BIT);
    out.clear();
    ASSERT_TRUE(rs::lz4_image::encode(px, SPICE_BITMAP_FMT_32BIT, false, 4, 3, 16, out));
    EXPECT_EQ(out[0], 0);
}

TEST(Lz4Image, RoundTripsEveryFormat) {
    for (uint8_t fmt : {SPICE_BITMAP_FMT_16BIT, SPICE_BITMAP_FMT_24BIT, SPICE_BITMAP_FMT_32BIT,
                        SPICE_BITMAP_FMT_RGBA}) {
        const uint32_t bpp = rs::lz4_image::bytes_per_pixel(fmt);
        const uint32_t w = 37, h = 11, stride = w * bpp;
        const bytes px = pattern(size_t{stride} * h, fmt);
        bytes out;
        const auto n = rs::lz4_image::encode(px, fmt, false, w, h, stride, out);
        ASSERT_TRUE(n) << int(fmt);
        EXPECT_EQ(*n, out.size());
        auto d = decode(out, px.size());
        ASSERT_TRUE(d) << int(fmt);
        EXPECT_EQ(d->format, fmt);
        EXPECT_FALSE(d->top_down);
        EXPECT_EQ(d->rows, px);
    }
}

TEST(Lz4Image, StridePaddingIsNotSent) {
    // 24-bit rows of 15 bytes padded to 16: the client decodes 15 per row.
    const uint32_t w = 5, h = 9, stride = 16;
    const bytes px = pattern(size_t{stride} * h, 7);
    bytes out;
    ASSERT_TRUE(rs::lz4_image::encode(px, SPICE_BITMAP_FMT_24BIT, true, w, h, stride, out));
    auto d = decode(out, size_t{stride} * h);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->rows, packed_rows(px, w * 3, h, stride));
}

TEST(Lz4Image, LargeImagesSplitIntoBlocksOfOneStream) {
    const uint32_t w = 300, h = 200, stride = w * 4; // 240 KB: several 64 KiB blocks
    bytes px = pattern(size_t{stride} * h, 3);
    // Repeat the first rows at the end so later blocks can refer back.
    std::copy(px.begin(), px.begin() + stride * 20, px.end() - stride * 20);
    bytes out;
    ASSERT_TRUE(
        rs::lz4_image::encode(px, SPICE_BITMAP_FMT_32BIT, false, w, h, stride, out, 64 * 1024));
    auto d = decode(out, px.size());
    ASSERT_TRUE(d);
    EXPECT_GT(d->blocks, 1u);
    EXPECT_EQ(d->rows, px);
    EXPECT_LT(out.size(), px.size());
}

TEST(Lz4Image, APictureIsOneBlockAsTheReferenceSendsIt) {
    // Each block ends in literals and costs a size word: a 1024x768 picture
    // in 64 KiB blocks was about 1 % bigger than in one.
    const uint32_t w = 1024, h = 768, stride = w * 4;
    const bytes px = pattern(size_t{stride} * h, 5);
    bytes out;
    ASSERT_TRUE(rs::lz4_image::encode(px, SPICE_BITMAP_FMT_32BIT, true, w, h, stride, out));
    auto d = decode(out, px.size());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->blocks, 1u);
    EXPECT_EQ(d->rows, px);
}

TEST(Lz4Image, ChunkedBitmapWithRowsAcrossChunks) {
    const uint32_t w = 7, h = 6, stride = 32; // 28-byte rows, 4 bytes of padding
    const bytes px = pattern(size_t{stride} * h, 9);
    rs::draw::bitmap bmp;
    bmp.format = SPICE_BITMAP_FMT_32BIT;
    bmp.flags = SPICE_BITMAP_FLAGS_TOP_DOWN;
    bmp.width = w;
    bmp.height = h;
    bmp.stride = stride;
    // Uneven chunks so rows straddle them.
    const std::span<const uint8_t> all(px);
    bmp.data.parts = {all.subspan(0, 45), all.subspan(45, 1), all.subspan(46, 100),
                      all.subspan(146)};
    bytes out = {0xaa}; // appends after what is there
    const auto n = rs::lz4_image::encode(bmp, out);
    ASSERT_TRUE(n);
    EXPECT_EQ(out[0], 0xaa);
    EXPECT_EQ(*n, out.size() - 1);
    auto d = decode(bytes(out.begin() + 1, out.end()), px.size());
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->top_down);
    EXPECT_EQ(d->rows, packed_rows(px, w * 4, h, stride));
}

TEST(Lz4Image, PackedChunksAreCompressedWhereTheyAre) {
    // Rows without padding in uneven guest chunks (rows straddle them): one
    // block per chunk, one stream, no gathering copy; the last chunk holds
    // more than the image (only height rows count).
    const uint32_t w = 40, h = 30, stride = w * 4;
    bytes px = pattern(size_t{stride} * h + 100, 11);
    std::copy(px.begin(), px.begin() + stride * 5, px.begin() + stride * 20); // refs back
    rs::draw::bitmap bmp;
    bmp.format = SPICE_BITMAP_FMT_32BIT;
    bmp.width = w;
    bmp.height = h;
    bmp.stride = stride;
    const std::span<const uint8_t> all(px);
    bmp.data.parts = {all.subspan(0, 1001), all.subspan(1001, 3), all.subspan(1004, 2500),
                      all.subspan(3504)};
    bytes out;
    ASSERT_TRUE(rs::lz4_image::encode(bmp, out));
    auto d = decode(out, size_t{stride} * h);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->blocks, 4u);
    EXPECT_FALSE(d->top_down);
    EXPECT_EQ(d->rows, bytes(px.begin(), px.begin() + stride * h));
}

TEST(Lz4Image, LastRowNeedsNoFullStride) {
    const uint32_t w = 2, h = 3, stride = 12;
    const bytes px = pattern(stride * 2 + 8, 4); // the last row stops after its pixels
    bytes out;
    ASSERT_TRUE(rs::lz4_image::encode(px, SPICE_BITMAP_FMT_32BIT, false, w, h, stride, out));
    auto d = decode(out, 64);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->rows, packed_rows(px, 8, h, stride));
}

TEST(Lz4Image, RefusesWhatTheClientCannotDecode) {
    const bytes px = pattern(1024, 5);
    bytes out = {1, 2, 3};
    using rs::lz4_image::encode;
    EXPECT_FALSE(encode(px, SPICE_BITMAP_FMT_8BIT, false, 4, 4, 4, out));    // palette
    EXPECT_FALSE(encode(px, SPICE_BITMAP_FMT_1BIT_BE, false, 4, 4, 4, out)); // 1-bit
    EXPECT_FALSE(encode(px, SPICE_BITMAP_FMT_32BIT, false, 0, 4, 16, out));  // empty
    EXPECT_FALSE(encode(px, SPICE_BITMAP_FMT_32BIT, false, 4, 0, 16, out));  // empty
    EXPECT_FALSE(encode(px, SPICE_BITMAP_FMT_32BIT, false, 5, 4, 16, out));  // row > stride
    EXPECT_FALSE(encode(px, SPICE_BITMAP_FMT_32BIT, false, 4, 65, 16, out)); // short data
    rs::draw::bitmap none;
    none.width = 1;
    none.height = 1;
    none.stride = 4;
    EXPECT_FALSE(rs::lz4_image::encode(none, out)); // no chunks
    EXPECT_EQ(out, (bytes{1, 2, 3}));
}

} // namespace
