// JPEG_ALPHA: the JPEG of the colour, then exactly what the LZ encoder makes
// of the alpha plane.
#include "display/codec/jpeg_encoder.hpp"

#include "display/codec/lz_encoder.hpp"
#include "display/jpeg_test_support.hpp"
#include "display/lz_test_decoder.hpp"

#include <gtest/gtest.h>
#include <spice/enums.h>

#include <span>
#include <vector>

namespace {

using namespace rs::jpeg_test;

TEST(JpegAlpha, ColourJpegThenLzAlphaWithFlagsAndJpegSize) {
    const uint32_t w = 120, h = 90;
    const rgb_plane rgb = photo(w, h);
    for (bool top_down : {true, false}) {
        const test_image img =
            make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_RGBA, top_down, 0,
                        [](uint32_t x, uint32_t y) { return uint8_t(x < 60 ? 255 : y); });
        std::vector<uint8_t> out = {42};
        uint8_t flags = 0xEE;
        uint32_t jpeg_size = 0;
        const auto n = rs::jpeg::encode_alpha(img.view, 85, out, flags, jpeg_size);
        ASSERT_TRUE(n);
        EXPECT_EQ(*n, out.size() - 1);
        EXPECT_EQ(flags, top_down ? SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN : 0);

        std::vector<uint8_t> colour;
        ASSERT_TRUE(rs::jpeg::encode(img.view, 85, colour));
        ASSERT_EQ(jpeg_size, colour.size());
        EXPECT_TRUE(std::equal(colour.begin(), colour.end(), out.begin() + 1));

        std::vector<uint8_t> alpha;
        ASSERT_TRUE(rs::lz::encode_alpha(img.view, alpha));
        ASSERT_EQ(*n, jpeg_size + alpha.size());
        EXPECT_TRUE(std::equal(alpha.begin(), alpha.end(), out.begin() + 1 + jpeg_size));

        const auto d = decode(out.data() + 1, jpeg_size);
        ASSERT_TRUE(d);
        EXPECT_GE(psnr(d->rgb, rgb), 35.0);
    }
}

// What canvas_get_jpeg_alpha checks and does: the alpha part is an XXXA
// image of the same size whose TOP_DOWN agrees with the flags, and its
// decoded alpha lands on the rows the colour came from.
TEST(JpegAlpha, DecodesToTheImageColourAndAlpha) {
    const uint32_t w = 101, h = 67;
    const rgb_plane rgb = photo(w, h);
    for (bool top_down : {true, false}) {
        const test_image img =
            make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_RGBA, top_down, 0, [](uint32_t x, uint32_t y) {
                return uint8_t(x < 50 ? 255 : (x * 3 + y * 5) % 256);
            });
        std::vector<uint8_t> out;
        uint8_t flags = 0;
        uint32_t jpeg_size = 0;
        ASSERT_TRUE(rs::jpeg::encode_alpha(img.view, 85, out, flags, jpeg_size));

        const auto colour = decode(out.data(), jpeg_size);
        ASSERT_TRUE(colour);
        EXPECT_EQ(colour->width, w);
        EXPECT_EQ(colour->height, h);
        EXPECT_GE(psnr(colour->rgb, rgb), 35.0);

        const auto alpha = rs::lz_test::decode_lz(std::span<const uint8_t>(out).subspan(jpeg_size));
        ASSERT_TRUE(alpha);
        EXPECT_EQ(alpha->type, rs::lz::image_type::xxxa);
        EXPECT_EQ(alpha->width, w);
        EXPECT_EQ(alpha->height, h);
        EXPECT_EQ(alpha->top_down, (flags & SPICE_JPEG_ALPHA_FLAGS_TOP_DOWN) != 0);
        ASSERT_EQ(alpha->pixels.size(), size_t{w} * h * 4);
        // Decoded rows are in memory order; row r of memory is image row
        // r (top-down) or h − 1 − r (bottom-up).
        for (uint32_t r = 0; r < h; ++r) {
            const uint32_t y = top_down ? r : h - 1 - r;
            for (uint32_t x = 0; x < w; ++x)
                ASSERT_EQ(alpha->pixels[(size_t{r} * w + x) * 4 + 3],
                          uint8_t(x < 50 ? 255 : (x * 3 + y * 5) % 256))
                    << x << "," << y << " top_down " << top_down;
        }
    }
}

TEST(JpegAlpha, OnlyRgbaAndNothingChangesWhenRefused) {
    const uint32_t w = 32, h = 32;
    const test_image img = make_bitmap(photo(w, h), w, h, SPICE_BITMAP_FMT_32BIT, true);
    std::vector<uint8_t> out = {1};
    uint8_t flags = 0x77;
    uint32_t jpeg_size = 1234;
    EXPECT_FALSE(rs::jpeg::encode_alpha(img.view, 85, out, flags, jpeg_size));
    EXPECT_EQ(out, std::vector<uint8_t>{1});
    EXPECT_EQ(flags, 0x77);
    EXPECT_EQ(jpeg_size, 1234u);

    const test_image tiny = make_bitmap(photo(4, 4), 4, 4, SPICE_BITMAP_FMT_RGBA, true);
    EXPECT_FALSE(rs::jpeg::encode_alpha(tiny.view, 85, out, flags, jpeg_size));
    EXPECT_EQ(out, std::vector<uint8_t>{1});
    EXPECT_EQ(flags, 0x77);
}

} // namespace
