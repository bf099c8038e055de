#include "display/codec/jpeg_encoder.hpp"

#include "display/jpeg_test_support.hpp"

#include <gtest/gtest.h>
#include <spice/enums.h>

#include <random>
#include <vector>

namespace {

using namespace rs::jpeg_test;

TEST(JpegEncoder, PhotoAtQuality85DecodesToTheSameSizeAbove35dB) {
    const uint32_t w = 320, h = 200;
    const rgb_plane rgb = photo(w, h);
    const test_image img = make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_32BIT, true);
    const std::vector<uint8_t> jpeg = must_encode(img.view, 85);
    ASSERT_GE(jpeg.size(), 4u);
    EXPECT_EQ(jpeg[0], 0xFF); // SOI
    EXPECT_EQ(jpeg[1], 0xD8);
    EXPECT_EQ(jpeg[jpeg.size() - 2], 0xFF); // EOI
    EXPECT_EQ(jpeg[jpeg.size() - 1], 0xD9);
    EXPECT_LT(jpeg.size(), img.bytes.size() / 4); // a photo compresses well

    const auto d = decode(jpeg);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->width, w);
    EXPECT_EQ(d->height, h);
    EXPECT_EQ(d->components, 3); // YCbCr: what spice-gtk's JCS_RGB output expects
    EXPECT_GE(psnr(d->rgb, rgb), 35.0);
}

TEST(JpegEncoder, BottomUpInputDecodesTopRowFirst) {
    // Top half red, bottom half blue, as seen; stored both ways.
    const uint32_t w = 48, h = 32;
    rgb_plane rgb(size_t{w} * h * 3, 0);
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x)
            rgb[(size_t{y} * w + x) * 3 + (y < h / 2 ? 0 : 2)] = 255;
    const test_image down = make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_32BIT, true);
    const test_image up = make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_32BIT, false);
    ASSERT_NE(down.bytes, up.bytes);

    const std::vector<uint8_t> from_up = must_encode(up.view);
    const auto d = decode(from_up);
    ASSERT_TRUE(d);
    const uint8_t *top = &d->rgb[(size_t{2} * w + w / 2) * 3];
    const uint8_t *bottom = &d->rgb[(size_t{h - 3} * w + w / 2) * 3];
    EXPECT_GT(top[0], 200);
    EXPECT_LT(top[2], 60);
    EXPECT_LT(bottom[0], 60);
    EXPECT_GT(bottom[2], 200);
    // The stream is the picture, not the memory layout.
    EXPECT_EQ(from_up, must_encode(down.view));
}

TEST(JpegEncoder, SixteenBitInputDecodesToItsWidenedColours) {
    const uint32_t w = 160, h = 120;
    const rgb_plane rgb = photo(w, h);
    const rgb_plane expect = widened16(rgb);
    for (bool top_down : {true, false}) {
        const test_image img = make_bitmap16(rgb, w, h, top_down);
        const std::vector<uint8_t> jpeg = must_encode(img.view);
        const auto d = decode(jpeg);
        ASSERT_TRUE(d);
        EXPECT_EQ(d->width, w);
        EXPECT_EQ(d->height, h);
        EXPECT_GE(psnr(d->rgb, expect), 35.0) << "top_down " << top_down;
        // Exactly the stream of the same colours given as 24-bit pixels.
        const test_image as24 = make_bitmap(expect, w, h, SPICE_BITMAP_FMT_24BIT, true);
        EXPECT_EQ(jpeg, must_encode(as24.view));
    }
}

TEST(JpegEncoder, TwentyFourBitRgbaAndThirtyTwoBitGiveTheSameStream) {
    const uint32_t w = 97, h = 45; // odd sizes: partial MCUs on both edges
    const rgb_plane rgb = photo(w, h);
    const std::vector<uint8_t> ref =
        must_encode(make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_32BIT, true).view);
    EXPECT_EQ(ref, must_encode(make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_24BIT, true).view));
    // RGBA: the alpha byte does not reach the colour stream.
    EXPECT_EQ(ref,
              must_encode(
                  make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_RGBA, true, 0, [](uint32_t x, uint32_t) {
                      return uint8_t(x * 31);
                  }).view));
    const auto d = decode(ref);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->width, w);
    EXPECT_EQ(d->height, h);
}

TEST(JpegEncoder, StridePaddingIsNotPartOfTheImage) {
    const uint32_t w = 64, h = 40;
    const rgb_plane rgb = photo(w, h);
    for (uint8_t fmt : {uint8_t{SPICE_BITMAP_FMT_32BIT}, uint8_t{SPICE_BITMAP_FMT_24BIT}}) {
        const test_image packed = make_bitmap(rgb, w, h, fmt, false);
        const test_image padded = make_bitmap(rgb, w, h, fmt, false, 13);
        EXPECT_EQ(must_encode(packed.view), must_encode(padded.view));
    }
}

TEST(JpegEncoder, AppendsAfterWhatIsInTheVector) {
    const uint32_t w = 64, h = 64;
    const test_image img = make_bitmap(photo(w, h), w, h, SPICE_BITMAP_FMT_32BIT, true);
    const std::vector<uint8_t> alone = must_encode(img.view);
    std::vector<uint8_t> out = {1, 2, 3};
    const auto n = rs::jpeg::encode(img.view, rs::jpeg::default_quality, out);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, alone.size());
    ASSERT_EQ(out.size(), 3 + alone.size());
    EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.begin() + 3), (std::vector<uint8_t>{1, 2, 3}));
    EXPECT_TRUE(std::equal(alone.begin(), alone.end(), out.begin() + 3));
}

TEST(JpegEncoder, LargeImagesGrowTheOutputAsNeeded) {
    // Noise compresses badly, so the stream outgrows any first guess.
    const uint32_t w = 640, h = 480;
    rgb_plane rgb(size_t{w} * h * 3);
    std::mt19937 rng(7);
    for (auto &c : rgb)
        c = static_cast<uint8_t>(rng());
    const test_image img = make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_32BIT, true);
    const std::vector<uint8_t> jpeg = must_encode(img.view, 95);
    EXPECT_GT(jpeg.size(), size_t{w} * h / 8 * 2);
    const auto d = decode(jpeg);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->width, w);
}

TEST(JpegEncoder, LowerQualityMeansFewerBytes) {
    const uint32_t w = 256, h = 256;
    const rgb_plane rgb = photo(w, h);
    const test_image img = make_bitmap(rgb, w, h, SPICE_BITMAP_FMT_32BIT, true);
    const std::vector<uint8_t> q30 = must_encode(img.view, 30), q95 = must_encode(img.view, 95);
    EXPECT_LT(q30.size(), q95.size());
    EXPECT_GT(psnr(decode(q95)->rgb, rgb), psnr(decode(q30)->rgb, rgb));
    // Out-of-range qualities are clamped, not refused.
    EXPECT_EQ(must_encode(img.view, 1000), must_encode(img.view, 100));
    EXPECT_EQ(must_encode(img.view, -5), must_encode(img.view, 1));
}

TEST(JpegEncoder, RefusesWhatItCannotCarryAndLeavesTheVectorAlone) {
    const uint32_t w = 16, h = 16;
    test_image img = make_bitmap(photo(w, h), w, h, SPICE_BITMAP_FMT_32BIT, true);
    const std::vector<uint8_t> before = {9, 8, 7};
    auto refused = [&](const image_view &v) {
        std::vector<uint8_t> out = before;
        const bool none = !rs::jpeg::encode(v, 85, out).has_value();
        return none && out == before;
    };
    for (int fmt : std::initializer_list<int>{SPICE_BITMAP_FMT_INVALID, SPICE_BITMAP_FMT_1BIT_LE,
                                              SPICE_BITMAP_FMT_4BIT_BE, SPICE_BITMAP_FMT_8BIT,
                                              SPICE_BITMAP_FMT_8BIT_A, 200}) {
        image_view v = img.view;
        v.format = static_cast<uint8_t>(fmt);
        EXPECT_TRUE(refused(v)) << fmt;
    }
    image_view v = img.view;
    v.width = 0;
    EXPECT_TRUE(refused(v));
    v = img.view;
    v.height = 0;
    EXPECT_TRUE(refused(v));
    v = img.view;
    v.stride = w * 4 - 1; // a row wider than the stride
    v.height = h - 1;
    EXPECT_TRUE(refused(v));
    v = img.view;
    v.data = nullptr;
    EXPECT_TRUE(refused(v));
    v = img.view;
    v.width = rs::jpeg::max_dimension + 1;
    v.height = 1;
    v.stride = size_t{v.width} * 4;
    EXPECT_TRUE(refused(v)); // (no pixels are read)
}

TEST(JpegEncoder, RefusesAStreamLargerThanTheRawBitmap) {
    // 8×8 pixels are 256 raw bytes; any JFIF stream's tables alone are more.
    const uint32_t w = 8, h = 8;
    const test_image img = make_bitmap(photo(w, h), w, h, SPICE_BITMAP_FMT_32BIT, true);
    std::vector<uint8_t> out;
    EXPECT_FALSE(rs::jpeg::encode(img.view, 85, out));
    EXPECT_TRUE(out.empty());
    // The same pixels with room to spare in the stride are worth it.
    const test_image wide = make_bitmap(photo(w, h), w, h, SPICE_BITMAP_FMT_32BIT, true, 400);
    EXPECT_TRUE(rs::jpeg::encode(wide.view, 85, out));
}

TEST(JpegEncoder, ReusesItsCompressorAfterAFailure) {
    const uint32_t w = 40, h = 30;
    const test_image img = make_bitmap(photo(w, h), w, h, SPICE_BITMAP_FMT_32BIT, true);
    const std::vector<uint8_t> first = must_encode(img.view);
    std::vector<uint8_t> out;
    const test_image tiny = make_bitmap(photo(4, 4), 4, 4, SPICE_BITMAP_FMT_32BIT, true);
    EXPECT_FALSE(rs::jpeg::encode(tiny.view, 85, out));
    EXPECT_EQ(first, must_encode(img.view));
}

} // namespace
