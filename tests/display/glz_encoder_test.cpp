#include "display/codec/glz_encoder.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "lz_test_decoder.hpp"
#include "lz_test_images.hpp"

namespace {

using rs::glz::glz_dictionary;
using rs::lz::image_type;
using namespace rs::lz_test;
using bytes = std::vector<uint8_t>;

// The x8r8g8b8 (a8r8g8b8 for RGBA) pixel spice-gtk decodes pixel (x, y) to.
uint32_t expected_pixel(const test_image &img, size_t x, size_t y) {
    const uint8_t *p = img.view.data + y * img.view.stride;
    switch (img.view.format) {
    case SPICE_BITMAP_FMT_16BIT:
        return rgb16_to_rgb32(static_cast<uint16_t>(p[2 * x] | p[2 * x + 1] << 8));
    case SPICE_BITMAP_FMT_24BIT:
        return p[3 * x] | uint32_t{p[3 * x + 1]} << 8 | uint32_t{p[3 * x + 2]} << 16;
    case SPICE_BITMAP_FMT_RGBA:
        return p[4 * x] | uint32_t{p[4 * x + 1]} << 8 | uint32_t{p[4 * x + 2]} << 16 |
               uint32_t{p[4 * x + 3]} << 24;
    default:
        return p[4 * x] | uint32_t{p[4 * x + 1]} << 8 | uint32_t{p[4 * x + 2]} << 16;
    }
}

// Decodes `payload` into `window` and compares with `img`; "" when equal.
std::string decode_and_compare(glz_window &window, const test_image &img, const bytes &payload,
                               uint64_t want_id) {
    auto d = window.decode(payload);
    if (!d) return "payload does not decode against the window";
    if (d->id != want_id) return "id " + std::to_string(d->id);
    if (d->width != img.view.width || d->height != img.view.height) return "size";
    if (d->top_down != img.view.top_down) return "top_down";
    for (size_t y = 0; y < img.view.height; ++y)
        for (size_t x = 0; x < img.view.width; ++x)
            if (d->pixels[y * img.view.width + x] != expected_pixel(img, x, y))
                return "pixel " + std::to_string(x) + "," + std::to_string(y) + " differs";
    return "";
}

constexpr uint32_t client_window = 12 * 1024 * 1024 / 4; // spice-gtk's smallest, in pixels

TEST(GlzEncoder, EveryRgbFormatRoundTripsAlone) {
    const uint8_t formats[] = {SPICE_BITMAP_FMT_16BIT, SPICE_BITMAP_FMT_24BIT,
                               SPICE_BITMAP_FMT_32BIT, SPICE_BITMAP_FMT_RGBA};
    const std::pair<uint32_t, uint32_t> sizes[] = {{1, 1}, {3, 2}, {7, 5}, {33, 17}, {250, 41}};
    for (auto f : formats) {
        glz_dictionary dict(client_window);
        glz_window window;
        uint64_t id = 0;
        for (auto [w, h] : sizes) {
            for (auto p : {pattern::flat, pattern::gradient, pattern::noise, pattern::text}) {
                for (bool top_down : {true, false}) {
                    // A new seed each time, so images differ from earlier ones.
                    const auto img = make_image(f, w, h, p, top_down, 3, id + 7);
                    bytes out;
                    const auto n = rs::glz::glz_encode(dict, img.view, out);
                    SCOPED_TRACE("format " + std::to_string(f) + " " + std::to_string(w) + "x" +
                                 std::to_string(h) + " " + name(p));
                    ASSERT_TRUE(n.has_value());
                    EXPECT_EQ(*n, out.size());
                    EXPECT_EQ(decode_and_compare(window, img, out, id), "");
                    ++id;
                }
            }
        }
        EXPECT_EQ(dict.next_id(), id);
    }
}

TEST(GlzEncoder, AnUnusedDictionaryHoldsNoMemory) {
    // Every display client gets a dictionary at INIT; an idle one never
    // encodes, so it must not cost its hash table.
    glz_dictionary dict(client_window);
    EXPECT_EQ(dict.memory_bytes(), 0u);
    const auto img = make_image(SPICE_BITMAP_FMT_32BIT, 64, 32, pattern::text, true, 0, 1);
    bytes out;
    ASSERT_TRUE(rs::glz::glz_encode(dict, img.view, out).has_value());
    const size_t used = dict.memory_bytes();
    EXPECT_GE(used, size_t{64} * 32 * 4 + 1024 * 1024);
    // Reset keeps the table (the client is still there) but drops the images.
    dict.reset();
    EXPECT_LE(dict.memory_bytes(), used - size_t{64} * 32 * 4);
    EXPECT_GE(dict.memory_bytes(), size_t{1024} * 1024);
    glz_window window;
    ASSERT_TRUE(rs::glz::glz_encode(dict, img.view, out = {}).has_value());
    EXPECT_EQ(decode_and_compare(window, img, out, 0), "");
}

TEST(GlzEncoder, ARepeatedImageRefersToTheEarlierOne) {
    for (auto f : {SPICE_BITMAP_FMT_16BIT, SPICE_BITMAP_FMT_32BIT, SPICE_BITMAP_FMT_RGBA}) {
        glz_dictionary dict(client_window);
        glz_window window;
        const auto first = make_image(f, 320, 200, pattern::noise, true, 0, 1);
        bytes a;
        ASSERT_TRUE(rs::glz::glz_encode(dict, first.view, a).has_value());
        ASSERT_EQ(decode_and_compare(window, first, a, 0), "");

        // The same pixels again, bottom-up and with another stride: the
        // colour is found in image 0 and costs a few bytes per 255 pixels.
        auto again = make_image(f, 320, 200, pattern::noise, false, 8, 1);
        bytes b;
        ASSERT_TRUE(rs::glz::glz_encode(dict, again.view, b).has_value());
        EXPECT_EQ(decode_and_compare(window, again, b, 1), "");
        const size_t colour_raw = size_t{320} * 200 * (f == SPICE_BITMAP_FMT_16BIT ? 2 : 3);
        EXPECT_LT(b.size() * 20, colour_raw + (f == SPICE_BITMAP_FMT_RGBA ? 320 * 200 * 20 : 0))
            << "format " << int(f) << ": " << b.size() << " bytes after " << a.size();
        EXPECT_LT(b.size() * 2, a.size());
        EXPECT_TRUE(window.holds(0)) << "image 0 was freed while still referred to";
    }
}

TEST(GlzEncoder, ExcludedImagesAreNeverReferredTo) {
    // Another display channel's image that may never reach the client: a
    // payload that must not refer to it decodes in a window without it.
    glz_dictionary dict(client_window);
    glz_window full, without_0;
    const auto other = make_image(SPICE_BITMAP_FMT_32BIT, 160, 100, pattern::noise, true, 0, 5);
    const auto mine = make_image(SPICE_BITMAP_FMT_32BIT, 160, 100, pattern::noise, true, 0, 6);
    bytes a, b, c;
    ASSERT_TRUE(rs::glz::glz_encode(dict, other.view, a).has_value());
    ASSERT_TRUE(rs::glz::glz_encode(dict, mine.view, b).has_value());
    ASSERT_EQ(decode_and_compare(full, other, a, 0), "");
    ASSERT_EQ(decode_and_compare(full, mine, b, 1), "");
    ASSERT_EQ(decode_and_compare(without_0, mine, b, 1), "");

    // Image 0's pixels again, with image 0 excluded: no reference to it.
    const std::vector<uint64_t> excluded{0};
    ASSERT_TRUE(rs::glz::glz_encode(dict, other.view, c, excluded).has_value());
    EXPECT_EQ(decode_and_compare(without_0, other, c, 2), "");
    EXPECT_EQ(decode_and_compare(full, other, c, 2), "");
    EXPECT_GT(c.size(), a.size() / 2) << "noise found nowhere but in image 0 cannot shrink";

    // Not excluded, the same pixels are one long reference to image 0.
    bytes d;
    ASSERT_TRUE(rs::glz::glz_encode(dict, other.view, d).has_value());
    EXPECT_EQ(decode_and_compare(full, other, d, 3), "");
    EXPECT_LT(d.size() * 20, a.size());
}

TEST(GlzEncoder, Rgb24AndRgb32ShareTheWindowButRgb16DoesNot) {
    glz_dictionary dict(client_window);
    glz_window window;
    const auto rgb24 = make_image(SPICE_BITMAP_FMT_24BIT, 200, 100, pattern::noise, true, 0, 3);
    bytes a;
    ASSERT_TRUE(rs::glz::glz_encode(dict, rgb24.view, a).has_value());
    ASSERT_EQ(decode_and_compare(window, rgb24, a, 0), "");

    const auto rgb32 = make_image(SPICE_BITMAP_FMT_32BIT, 200, 100, pattern::noise, true, 0, 3);
    bytes b;
    ASSERT_TRUE(rs::glz::glz_encode(dict, rgb32.view, b).has_value());
    EXPECT_EQ(decode_and_compare(window, rgb32, b, 1), "");
    EXPECT_LT(b.size() * 20, a.size());

    // The same noise as x1r5g5b5 is other pixels to the client: it must
    // decode right, which it could not if it referred to the RGB images.
    const auto rgb16 = make_image(SPICE_BITMAP_FMT_16BIT, 200, 100, pattern::noise, true, 0, 3);
    bytes c;
    ASSERT_TRUE(rs::glz::glz_encode(dict, rgb16.view, c).has_value());
    EXPECT_EQ(decode_and_compare(window, rgb16, c, 2), "");
}

TEST(GlzEncoder, FullWindowDropsTheOldestImagesAndTellsTheClient) {
    // Room for three 100×100 images and a bit.
    glz_dictionary dict(client_window, 35000);
    EXPECT_EQ(dict.window_pixels(), 35000u);
    glz_window window;
    std::vector<test_image> images;
    for (uint64_t id = 0; id < 8; ++id) {
        images.push_back(
            make_image(SPICE_BITMAP_FMT_32BIT, 100, 100, pattern::noise, true, 0, 100 + id));
        bytes out;
        ASSERT_TRUE(rs::glz::glz_encode(dict, images.back().view, out).has_value());
        ASSERT_EQ(decode_and_compare(window, images.back(), out, id), "") << id;
        EXPECT_LE(dict.pixels(), 35000u);
        EXPECT_LE(dict.images(), 3u);
        // The client holds no more than the encoder may still refer to.
        EXPECT_LE(window.size(), 3u);
    }
    EXPECT_FALSE(window.holds(0));
    EXPECT_TRUE(window.holds(7));

    // Image 0 again: long gone from the window, so nothing to refer to.
    bytes old;
    auto again0 = make_image(SPICE_BITMAP_FMT_32BIT, 100, 100, pattern::noise, true, 0, 100);
    ASSERT_TRUE(rs::glz::glz_encode(dict, again0.view, old).has_value());
    EXPECT_EQ(decode_and_compare(window, again0, old, 8), "");
    EXPECT_GT(old.size(), size_t{100} * 100 * 3 * 9 / 10);

    // Image 7 again: still in the window, found.
    bytes recent;
    auto again7 = make_image(SPICE_BITMAP_FMT_32BIT, 100, 100, pattern::noise, true, 0, 107);
    ASSERT_TRUE(rs::glz::glz_encode(dict, again7.view, recent).has_value());
    EXPECT_EQ(decode_and_compare(window, again7, recent, 9), "");
    EXPECT_LT(recent.size() * 20, old.size());
}

TEST(GlzEncoder, RefusesWhatItCannotCarryAndStaysUnchanged) {
    glz_dictionary dict(client_window, 10000);
    const bytes before = {5};
    auto refused = [&](const rs::codec::image_view &v, const char *what) {
        bytes out = before;
        EXPECT_FALSE(rs::glz::glz_encode(dict, v, out).has_value()) << what;
        EXPECT_EQ(out, before) << what;
        EXPECT_EQ(dict.next_id(), 0u) << what;
        EXPECT_EQ(dict.images(), 0u) << what;
    };
    const auto plt = make_image(SPICE_BITMAP_FMT_8BIT, 10, 10, pattern::text);
    refused(plt.view, "palette image");
    const auto a8 = make_image(SPICE_BITMAP_FMT_8BIT_A, 10, 10, pattern::text);
    refused(a8.view, "alpha-only image");
    const auto big = make_image(SPICE_BITMAP_FMT_32BIT, 100, 100, pattern::flat);
    refused(big.view, "as many pixels as the window");
    auto narrow = make_image(SPICE_BITMAP_FMT_32BIT, 10, 10, pattern::flat);
    narrow.view.stride = 39;
    refused(narrow.view, "row wider than the stride");
}

TEST(GlzEncoder, ResetStartsIdsAgainAndForgetsImages) {
    glz_dictionary dict(client_window);
    const auto img = make_image(SPICE_BITMAP_FMT_32BIT, 64, 64, pattern::noise);
    bytes first;
    ASSERT_TRUE(rs::glz::glz_encode(dict, img.view, first).has_value());
    bytes second;
    ASSERT_TRUE(rs::glz::glz_encode(dict, img.view, second).has_value());
    EXPECT_EQ(dict.next_id(), 2u);
    dict.reset();
    EXPECT_EQ(dict.next_id(), 0u);
    EXPECT_EQ(dict.images(), 0u);
    bytes after;
    ASSERT_TRUE(rs::glz::glz_encode(dict, img.view, after).has_value());
    EXPECT_EQ(after, first); // a fresh client window decodes it alone
    glz_window fresh;
    EXPECT_EQ(decode_and_compare(fresh, img, after, 0), "");
}

TEST(GlzEncoder, ZlibWrapInflatesBackToTheGlzPayload) {
    glz_dictionary dict(client_window);
    const auto img = make_image(SPICE_BITMAP_FMT_32BIT, 300, 200, pattern::text);
    bytes glz;
    ASSERT_TRUE(rs::glz::glz_encode(dict, img.view, glz).has_value());
    bytes out = {7, 7};
    const auto n = rs::glz::zlib_wrap(glz, 3, out);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n + 2, out.size());
    EXPECT_LT(*n, glz.size());
    bytes inflated(glz.size());
    uLongf size = inflated.size();
    ASSERT_EQ(uncompress(inflated.data(), &size, out.data() + 2, *n), Z_OK);
    EXPECT_EQ(size, glz.size());
    EXPECT_EQ(inflated, glz);

    bytes unchanged = {1};
    EXPECT_FALSE(rs::glz::zlib_wrap(glz, 0, unchanged).has_value());
    EXPECT_FALSE(rs::glz::zlib_wrap(glz, 10, unchanged).has_value());
    EXPECT_FALSE(rs::glz::zlib_wrap({}, 3, unchanged).has_value());
    // Noise does not deflate: the caller sends GLZ_RGB.
    bytes noise(64);
    rng r(9);
    for (auto &b : noise)
        b = static_cast<uint8_t>(r.next());
    EXPECT_FALSE(rs::glz::zlib_wrap(noise, 9, unchanged).has_value());
    EXPECT_EQ(unchanged, bytes{1});
}

} // namespace
