// Bitmaps in several guest chunks are walked row by row where they are
// (display/bitmap_rows.hpp): the row pointers see exactly the pixels a
// contiguous copy holds, and every codec that takes such a view writes the
// same bytes as from the contiguous image (LZ, GLZ, JPEG), or refuses it
// (QUIC, which the image sender feeds a copy).
#include "display/bitmap_rows.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <cstring>
#include <vector>

#include "display/codec/glz_encoder.hpp"
#include "display/codec/image_class.hpp"
#include "display/codec/jpeg_encoder.hpp"
#include "display/codec/lz_encoder.hpp"
#include "display/codec/quic_encoder.hpp"
#include "lz_test_images.hpp"

namespace {

using namespace rs::lz_test;
using bytes = std::vector<uint8_t>;

/// `all` cut into chunks of `chunk` bytes.
rs::draw::chunks cut(const bytes &all, size_t chunk) {
    rs::draw::chunks c;
    for (size_t off = 0; off < all.size(); off += chunk)
        c.parts.emplace_back(all.data() + off, std::min(chunk, all.size() - off));
    return c;
}

TEST(BitmapRows, RowsInPlaceOrSpilledHoldTheContiguousPixels) {
    bytes all(10 * 64);
    for (size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<uint8_t>(i * 7 + 3);
    for (size_t chunk : {size_t{64}, size_t{100}, size_t{1}, size_t{640}}) {
        const auto c = cut(all, chunk);
        std::vector<const uint8_t *> rows;
        bytes spill;
        // Rows 2..8, 40 bytes from offset 12 of each 64-byte stride.
        ASSERT_TRUE(rs::chunk_rows(c, 64, 2, 7, 12, 40, rows, spill));
        ASSERT_EQ(rows.size(), 7u);
        for (size_t i = 0; i < rows.size(); ++i)
            EXPECT_EQ(std::memcmp(rows[i], all.data() + (2 + i) * 64 + 12, 40), 0)
                << "chunk " << chunk << " row " << i;
        if (chunk == 64 || chunk == 640) { // rows never straddle
            EXPECT_TRUE(spill.empty());
        }
    }
    std::vector<const uint8_t *> rows;
    bytes spill;
    EXPECT_FALSE(rs::chunk_rows(cut(all, 100), 64, 5, 5, 0, 65, rows, spill)); // past the end
    EXPECT_TRUE(rows.empty());
}

TEST(BitmapRows, CodecsWriteTheSameBytesFromRowsAsFromOneBuffer) {
    for (uint8_t fmt : {uint8_t{SPICE_BITMAP_FMT_32BIT}, uint8_t{SPICE_BITMAP_FMT_24BIT},
                        uint8_t{SPICE_BITMAP_FMT_16BIT}, uint8_t{SPICE_BITMAP_FMT_RGBA},
                        uint8_t{SPICE_BITMAP_FMT_8BIT}}) {
        for (auto p : {pattern::text, pattern::gradient, pattern::noise}) {
            SCOPED_TRACE(std::string(name(p)) + " format " + std::to_string(fmt));
            const auto img = make_image(fmt, 97, 61, p, false, 3, 5);
            const auto c = cut(img.bytes, 1000); // rows straddle some chunks
            std::vector<const uint8_t *> rows;
            bytes spill;
            const size_t row = (size_t{97} * bits_per_pixel(fmt) + 7) / 8;
            ASSERT_TRUE(rs::chunk_rows(c, img.view.stride, 0, 61, 0, row, rows, spill));
            auto rv = img.view;
            rv.data = nullptr;
            rv.rows = rows.data();

            bytes a, b;
            ASSERT_TRUE(rs::lz::encode(img.view, a));
            ASSERT_TRUE(rs::lz::encode(rv, b));
            EXPECT_EQ(a, b) << "LZ";
            if (fmt == SPICE_BITMAP_FMT_8BIT) continue; // palettes: LZ only
            rs::glz::glz_dictionary d1(1 << 20), d2(1 << 20);
            a.clear();
            b.clear();
            ASSERT_TRUE(rs::glz::glz_encode(d1, img.view, a));
            ASSERT_TRUE(rs::glz::glz_encode(d2, rv, b));
            EXPECT_EQ(a, b) << "GLZ";
            EXPECT_EQ(rs::image_class::classify(rv), rs::image_class::classify(img.view));
            if (fmt == SPICE_BITMAP_FMT_32BIT) {
                a.clear();
                b.clear();
                ASSERT_TRUE(rs::jpeg::encode(img.view, 85, a));
                ASSERT_TRUE(rs::jpeg::encode(rv, 85, b));
                EXPECT_EQ(a, b) << "JPEG";
            }
            a.clear();
            b.clear();
            ASSERT_TRUE(rs::quic::encode(img.view, a));
            ASSERT_TRUE(rs::quic::encode(rv, b));
            EXPECT_EQ(a, b) << "QUIC";
        }
    }
}

} // namespace
