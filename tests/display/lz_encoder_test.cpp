#include "display/codec/lz_encoder.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <cstring>
#include <string>
#include <vector>

#include "lz_test_decoder.hpp"
#include "lz_test_images.hpp"

namespace {

using rs::lz::image_type;
using namespace rs::lz_test;
using bytes = std::vector<uint8_t>;

// Checks that `payload` decodes to exactly the pixels of `img` the format
// keeps; returns a description of the first difference, or "" when equal.
std::string compare(const test_image &img, const bytes &payload, image_type want_type) {
    auto d = decode_lz(payload);
    if (!d) return "payload does not decode";
    const auto &v = img.view;
    if (d->type != want_type) return "type " + std::to_string(static_cast<int>(d->type));
    if (d->width != v.width || d->height != v.height) return "size";
    if (d->top_down != v.top_down) return "top_down";
    if (d->stride != img.row_bytes() && want_type != image_type::xxxa) return "stride";
    const size_t w = v.width;
    for (size_t y = 0; y < v.height; ++y) {
        const uint8_t *src = v.data + y * v.stride;
        for (size_t x = 0; x < (want_type == image_type::xxxa ? w : img.row_bytes()); ++x) {
            bool same = true;
            switch (want_type) {
            case image_type::rgb32: {
                const uint8_t *o = d->pixels.data() + (y * w) * 4 + x;
                same = (x % 4 == 3) ? *o == 0 : *o == src[x];
                break;
            }
            case image_type::rgb16: {
                const uint8_t *o = d->pixels.data() + (y * w) * 2 + x;
                same = (x % 2 == 1) ? (*o & 0x7f) == (src[x] & 0x7f) : *o == src[x];
                break;
            }
            case image_type::xxxa:
                same = d->pixels[(y * w + x) * 4 + 3] == src[4 * x + 3] &&
                       d->pixels[(y * w + x) * 4] == 0;
                break;
            default: // RGB24, RGBA, palettes, A8: every byte of the packed rows
                same = d->pixels[y * img.row_bytes() + x] == src[x];
                break;
            }
            if (!same)
                return "byte " + std::to_string(x) + " of row " + std::to_string(y) + " differs";
        }
    }
    return "";
}

struct format_case {
    uint8_t format;
    image_type type;
};

const format_case every_format[] = {
    {SPICE_BITMAP_FMT_1BIT_LE, image_type::plt1_le},
    {SPICE_BITMAP_FMT_1BIT_BE, image_type::plt1_be},
    {SPICE_BITMAP_FMT_4BIT_LE, image_type::plt4_le},
    {SPICE_BITMAP_FMT_4BIT_BE, image_type::plt4_be},
    {SPICE_BITMAP_FMT_8BIT, image_type::plt8},
    {SPICE_BITMAP_FMT_16BIT, image_type::rgb16},
    {SPICE_BITMAP_FMT_24BIT, image_type::rgb24},
    {SPICE_BITMAP_FMT_32BIT, image_type::rgb32},
    {SPICE_BITMAP_FMT_RGBA, image_type::rgba},
    {SPICE_BITMAP_FMT_8BIT_A, image_type::a8},
};

TEST(LzEncoder, EveryFormatPatternAndShapeRoundTrips) {
    const std::pair<uint32_t, uint32_t> sizes[] = {{1, 1}, {2, 1},  {1, 5},   {3, 3},
                                                   {7, 2}, {17, 5}, {33, 31}, {250, 41}};
    const pattern patterns[] = {pattern::flat, pattern::gradient, pattern::noise, pattern::text};
    for (const auto &f : every_format) {
        for (auto [w, h] : sizes) {
            for (auto p : patterns) {
                for (bool top_down : {true, false}) {
                    for (size_t pad : {size_t{0}, size_t{5}}) {
                        const auto img = make_image(f.format, w, h, p, top_down, pad);
                        bytes out;
                        const auto n = rs::lz::encode(img.view, out);
                        SCOPED_TRACE("format " + std::to_string(f.format) + " " +
                                     std::to_string(w) + "x" + std::to_string(h) + " " + name(p) +
                                     (top_down ? " top-down" : " bottom-up") + " pad " +
                                     std::to_string(pad));
                        ASSERT_TRUE(n.has_value());
                        EXPECT_EQ(*n, out.size());
                        EXPECT_EQ(compare(img, out, f.type), "");
                    }
                }
            }
        }
    }
}

TEST(LzEncoder, RowPointersGiveTheSameStreamAsOneBuffer) {
    // A bitmap in guest chunks is coded through row pointers (each row in a
    // buffer of its own here); padded rows are coded from the stride: the
    // payload must equal that of the same pixels in one packed buffer.
    for (const auto &f : every_format) {
        for (auto p : {pattern::text, pattern::noise}) {
            SCOPED_TRACE("format " + std::to_string(f.format) + " " + name(p));
            const uint32_t w = 97, h = 29;
            const auto packed = make_image(f.format, w, h, p);
            const auto padded = make_image(f.format, w, h, p, true, 12);
            std::vector<bytes> scattered(h);
            std::vector<const uint8_t *> rows(h);
            for (uint32_t r = 0; r < h; ++r) {
                scattered[r].assign(packed.view.row(r), packed.view.row(r) + packed.row_bytes());
                rows[r] = scattered[r].data();
            }
            auto chunked = packed.view;
            chunked.data = nullptr;
            chunked.rows = rows.data();
            bytes whole, from_rows, from_padded;
            ASSERT_TRUE(rs::lz::encode(packed.view, whole));
            ASSERT_TRUE(rs::lz::encode(chunked, from_rows));
            ASSERT_TRUE(rs::lz::encode(padded.view, from_padded));
            EXPECT_EQ(from_rows, whole);
            // The header's stride is the packed row either way.
            EXPECT_EQ(from_padded, whole);
        }
    }
}

TEST(LzEncoder, FlatImagesCompressFarBelowRaw) {
    for (const auto &f : every_format) {
        const auto img = make_image(f.format, 640, 480, pattern::flat);
        bytes out;
        ASSERT_TRUE(rs::lz::encode(img.view, out).has_value());
        const size_t raw = img.row_bytes() * 480;
        SCOPED_TRACE("format " + std::to_string(f.format));
        EXPECT_LT(out.size() * 50, raw) << out.size() << " bytes for " << raw;
        EXPECT_EQ(compare(img, out, f.type), "");
    }
}

TEST(LzEncoder, TextCompressesWellAndNoiseStaysNearRaw) {
    const auto text = make_image(SPICE_BITMAP_FMT_32BIT, 800, 300, pattern::text);
    bytes t;
    ASSERT_TRUE(rs::lz::encode(text.view, t).has_value());
    EXPECT_LT(t.size() * 4, size_t{800} * 300 * 3) << t.size();
    EXPECT_EQ(compare(text, t, image_type::rgb32), "");

    // Noise cannot compress: the literals cost 3 of every 4 bytes plus one
    // control byte per 32 pixels, and nothing more.
    const auto noise = make_image(SPICE_BITMAP_FMT_32BIT, 800, 300, pattern::noise);
    bytes n;
    ASSERT_TRUE(rs::lz::encode(noise.view, n).has_value());
    const size_t pixels = 800 * 300;
    EXPECT_LE(n.size(), 28 + pixels * 3 + (pixels + 31) / 32);
    EXPECT_EQ(compare(noise, n, image_type::rgb32), "");
}

TEST(LzEncoder, RepeatsBeyondTheNearWindowUseFarReferences) {
    // Noise rows repeating every 100 rows of 300 pixels: 30000 pixels back,
    // beyond 13-bit distances but within the 16-bit far ones.
    auto img = make_image(SPICE_BITMAP_FMT_32BIT, 300, 400, pattern::noise);
    const size_t period = 100 * img.view.stride;
    for (size_t i = period; i < img.bytes.size() - 1; ++i)
        img.bytes[i] = img.bytes[i - period];
    bytes out;
    ASSERT_TRUE(rs::lz::encode(img.view, out).has_value());
    EXPECT_EQ(compare(img, out, image_type::rgb32), "");
    EXPECT_LT(out.size(), size_t{300} * 100 * 3 * 11 / 10) << "repeats were not found";

    // The same 300 000 pixels back is out of reach: it still round trips.
    auto far = make_image(SPICE_BITMAP_FMT_32BIT, 1000, 400, pattern::noise);
    const size_t far_period = 300 * far.view.stride;
    for (size_t i = far_period; i < far.bytes.size() - 1; ++i)
        far.bytes[i] = far.bytes[i - far_period];
    bytes far_out;
    ASSERT_TRUE(rs::lz::encode(far.view, far_out).has_value());
    EXPECT_EQ(compare(far, far_out, image_type::rgb32), "");
}

TEST(LzEncoder, AppendsAfterWhatOutAlreadyHolds) {
    const auto img = make_image(SPICE_BITMAP_FMT_24BIT, 40, 30, pattern::text);
    bytes alone;
    ASSERT_TRUE(rs::lz::encode(img.view, alone).has_value());
    bytes out = {1, 2, 3};
    const auto n = rs::lz::encode(img.view, out);
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, alone.size());
    EXPECT_EQ(bytes(out.begin(), out.begin() + 3), (bytes{1, 2, 3}));
    EXPECT_EQ(bytes(out.begin() + 3, out.end()), alone);
}

TEST(LzEncoder, RefusesWhatItCannotCarryAndLeavesOutUnchanged) {
    const bytes before = {9, 9};
    auto check_refused = [&](const rs::codec::image_view &v, const char *what) {
        bytes out = before;
        EXPECT_FALSE(rs::lz::encode(v, out).has_value()) << what;
        EXPECT_EQ(out, before) << what;
    };
    auto img = make_image(SPICE_BITMAP_FMT_32BIT, 8, 8, pattern::gradient);
    auto v = img.view;
    v.format = SPICE_BITMAP_FMT_INVALID;
    check_refused(v, "invalid format");
    v.format = SPICE_BITMAP_FMT_ENUM_END;
    check_refused(v, "unknown format");
    v = img.view;
    v.width = 0;
    check_refused(v, "zero width");
    v = img.view;
    v.height = 0;
    check_refused(v, "zero height");
    v = img.view;
    v.stride = 8 * 4 - 1;
    check_refused(v, "row wider than the stride");
    v = img.view;
    v.data = nullptr;
    check_refused(v, "no pixels");
}

TEST(LzEncoder, AlphaAloneIsAnXxxaImage) {
    for (auto p : {pattern::flat, pattern::gradient, pattern::noise, pattern::text}) {
        for (bool top_down : {true, false}) {
            const auto img = make_image(SPICE_BITMAP_FMT_RGBA, 61, 17, p, top_down, 4);
            bytes out;
            const auto n = rs::lz::encode_alpha(img.view, out);
            ASSERT_TRUE(n.has_value());
            EXPECT_EQ(*n, out.size());
            auto d = decode_lz(out);
            ASSERT_TRUE(d.has_value()) << name(p);
            EXPECT_EQ(d->stride, 61u * 4);
            EXPECT_EQ(compare(img, out, image_type::xxxa), "") << name(p);
        }
    }
    const auto rgb = make_image(SPICE_BITMAP_FMT_32BIT, 8, 8, pattern::flat);
    bytes out;
    EXPECT_FALSE(rs::lz::encode_alpha(rgb.view, out).has_value());
    EXPECT_TRUE(out.empty());
}

TEST(LzEncoder, AlphaPassIsSmallForOpaqueImages) {
    const auto img = make_image(SPICE_BITMAP_FMT_RGBA, 300, 200, pattern::text);
    bytes rgba;
    ASSERT_TRUE(rs::lz::encode(img.view, rgba).has_value());
    EXPECT_EQ(compare(img, rgba, image_type::rgba), "");
    bytes alpha;
    ASSERT_TRUE(rs::lz::encode_alpha(img.view, alpha).has_value());
    // The text pattern is opaque: its alpha plane is one run.
    EXPECT_LT(alpha.size(), 28u + 300 * 200 / 100);
}

} // namespace
