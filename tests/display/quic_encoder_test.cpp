// The QUIC encoder: streams that match spice-common's quic_encode bit for bit
// (digests of its output for fixed pixels), round trips through our decoder
// for every type, size, pattern and row order, and the refusals.
#include "display/codec/quic_encoder.hpp"

#include "display/codec/quic_decoder.hpp"

#include <spice/enums.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace {

using namespace rs;
using quic::image_type;
using bytes = std::vector<uint8_t>;

enum class pattern { gradient, noise, flat, text };

/// Packed top-down pixels, `bpp` bytes each, of a deterministic pattern.
/// Every byte of a pixel is set (pad, alpha and rgb16's top bit included):
/// the encoder must ignore the bits it does not code.
bytes make_pixels(uint32_t w, uint32_t h, unsigned bpp, pattern p, uint32_t seed) {
    bytes px(size_t{w} * h * bpp);
    uint32_t rng = seed * 2654435761u + 1;
    auto next = [&rng] {
        rng = rng * 1664525u + 1013904223u;
        return static_cast<uint8_t>(rng >> 24);
    };
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x)
            for (unsigned k = 0; k < bpp; ++k) {
                uint8_t v = 0;
                switch (p) {
                case pattern::gradient:
                    v = static_cast<uint8_t>(x * (3 + k) + y * 5);
                    break;
                case pattern::noise:
                    v = next();
                    break;
                case pattern::flat:
                    v = static_cast<uint8_t>(0x5a + k * 40);
                    break;
                case pattern::text: { // dark strokes on a light background
                    const bool stem = x % 9 < 2 && y % 14 < 10;
                    const bool bar = y % 14 == 4 && x % 9 < 6;
                    const bool blank = (x / 9 + y / 14) % 5 == 0;
                    v = (stem || bar) && !blank ? static_cast<uint8_t>(20 + k * 10 + (x / 9) % 3)
                                                : static_cast<uint8_t>(0xf0 + k);
                    break;
                }
                }
                px[(size_t{y} * w + x) * bpp + k] = v;
            }
    return px;
}

/// FNV-1a, 64 bits.
uint64_t digest(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

unsigned bpp_of(image_type t) {
    switch (t) {
    case image_type::gray:
        return 1;
    case image_type::rgb16:
        return 2;
    case image_type::rgb24:
        return 3;
    default:
        return 4;
    }
}

quic::pixel_layout layout_of(image_type t) {
    return t == image_type::rgb24 ? quic::pixel_layout::rgb24 : quic::natural_layout(t);
}

/// The pixels as the decoder gives them back: rgb32's pad byte 0, rgb16's
/// top bit clear.
bytes expected_decode(image_type t, bytes px) {
    for (size_t i = 0; i < px.size(); ++i) {
        if (t == image_type::rgb32 && i % 4 == 3) px[i] = 0;
        if (t == image_type::rgb16 && i % 2 == 1) px[i] &= 0x7f;
    }
    return px;
}

/// Lays packed top-down pixels out in memory with `pad` bytes after each
/// row, bottom row first when !top_down, starting `offset` bytes into the
/// buffer (to make the rows unaligned).
struct stored_image {
    bytes buf;
    codec::image_view view;
};
stored_image store(const bytes &px, uint32_t w, uint32_t h, unsigned bpp, bool top_down,
                   size_t pad = 0, size_t offset = 0) {
    stored_image s;
    const size_t row = size_t{w} * bpp, stride = row + pad;
    s.buf.assign(offset + stride * h, 0xa5);
    for (uint32_t y = 0; y < h; ++y) {
        const uint32_t mem_row = top_down ? y : h - 1 - y;
        std::memcpy(s.buf.data() + offset + mem_row * stride, px.data() + y * row, row);
    }
    s.view.data = s.buf.data() + offset;
    s.view.width = w;
    s.view.height = h;
    s.view.stride = stride;
    s.view.top_down = top_down;
    return s;
}

bytes encode_as(image_type t, const codec::image_view &v) {
    bytes out;
    const auto n = quic::encode_as(t, v, out);
    EXPECT_TRUE(n.has_value());
    if (n) {
        EXPECT_EQ(*n, out.size());
    }
    return out;
}

bytes decode(const bytes &stream, image_type t, uint32_t w, uint32_t h) {
    const auto l = layout_of(t);
    bytes out(size_t{w} * h * quic::bytes_per_pixel(l), 0xee);
    const auto r = quic::decode(stream, l, out, size_t{w} * quic::bytes_per_pixel(l));
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r) return {};
    EXPECT_EQ(r->type, t);
    EXPECT_EQ(r->width, w);
    EXPECT_EQ(r->height, h);
    return out;
}

constexpr image_type all_types[] = {image_type::rgb32, image_type::rgba, image_type::rgb24,
                                    image_type::rgb16, image_type::gray};
constexpr pattern all_patterns[] = {pattern::gradient, pattern::noise, pattern::flat,
                                    pattern::text};

// ------------------------------------------------------------ tests

TEST(QuicEncoder, MatchesSpiceCommonStreams) {
    // Size and FNV-1a digest of spice-common's quic_encode output (commit
    // de79bac8e94c) for these pixels, top-down, stride = width × bpp. They
    // cover a row longer than the 2048-symbol wait-mask step, runs, the
    // alpha pass, 5-bit channels and escapes of noise.
    struct reference_case {
        image_type type;
        uint32_t w, h;
        pattern p;
        uint32_t seed;
        size_t size;
        uint64_t digest;
    };
    const reference_case cases[] = {
        {image_type::rgb32, 3000, 3, pattern::text, 1, 10428, 0x5cb3f93bff30d1e1ull},
        {image_type::rgb32, 1000, 17, pattern::noise, 2, 51052, 0x891c288b8806b69bull},
        {image_type::rgba, 300, 40, pattern::text, 3, 11112, 0x4e0a93622492c226ull},
        {image_type::rgb24, 64, 17, pattern::gradient, 4, 2072, 0xf60f5fc95445373bull},
        {image_type::rgb16, 1000, 17, pattern::text, 5, 7784, 0x22339ba76463cf29ull},
        {image_type::rgb16, 7, 3, pattern::noise, 6, 64, 0x4c437786a4a76c48ull},
        {image_type::gray, 1000, 17, pattern::text, 7, 4596, 0x94470849dcd5c617ull},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(static_cast<int>(c.type));
        SCOPED_TRACE(c.w);
        const unsigned bpp = bpp_of(c.type);
        const auto img = store(make_pixels(c.w, c.h, bpp, c.p, c.seed), c.w, c.h, bpp, true);
        const bytes out = encode_as(c.type, img.view);
        EXPECT_EQ(out.size(), c.size);
        EXPECT_EQ(digest(out.data(), out.size()), c.digest);
    }
}

TEST(QuicEncoder, RoundTripsEveryTypeSizePatternAndRowOrder) {
    const uint32_t widths[] = {1, 2, 3, 7, 64, 1000};
    const uint32_t heights[] = {1, 2, 3, 17};
    for (image_type t : all_types)
        for (uint32_t w : widths)
            for (uint32_t h : heights)
                for (pattern p : all_patterns)
                    for (bool top_down : {true, false}) {
                        SCOPED_TRACE(testing::Message()
                                     << "type " << static_cast<int>(t) << " " << w << "x" << h
                                     << " pattern " << static_cast<int>(p) << " top_down "
                                     << top_down);
                        const unsigned bpp = bpp_of(t);
                        const bytes px = make_pixels(w, h, bpp, p, w * 7 + h);
                        // Odd padding and an odd start: rows are not aligned.
                        const auto img = store(px, w, h, bpp, top_down, (w % 3) * 5, 1);
                        const bytes stream = encode_as(t, img.view);
                        ASSERT_GE(stream.size(), 24u);
                        EXPECT_EQ(stream.size() % 4, 0u);
                        EXPECT_EQ(decode(stream, t, w, h), expected_decode(t, px));
                    }
}

TEST(QuicEncoder, BottomUpGivesTheSameStreamAsTopDown) {
    // The stream is always top row first: the client cannot tell the difference.
    for (image_type t : all_types) {
        const unsigned bpp = bpp_of(t);
        const bytes px = make_pixels(64, 17, bpp, pattern::text, 9);
        const auto down = store(px, 64, 17, bpp, true);
        const auto up = store(px, 64, 17, bpp, false, 12);
        EXPECT_EQ(encode_as(t, up.view), encode_as(t, down.view)) << static_cast<int>(t);
    }
}

TEST(QuicEncoder, RowPointersGiveTheSameStreamAsOneBuffer) {
    // A bitmap in guest chunks is coded through row pointers, each row in a
    // buffer of its own here, in memory order (bottom row first when not
    // top_down): the stream must not change.
    for (image_type t : all_types)
        for (bool top_down : {true, false}) {
            SCOPED_TRACE(testing::Message()
                         << "type " << static_cast<int>(t) << " top_down " << top_down);
            const unsigned bpp = bpp_of(t);
            const uint32_t w = 61, h = 23;
            const bytes px = make_pixels(w, h, bpp, pattern::text, 4);
            const auto whole = store(px, w, h, bpp, top_down, 8);
            std::vector<bytes> scattered(h);
            std::vector<const uint8_t *> rows(h);
            for (uint32_t r = 0; r < h; ++r) {
                scattered[r].assign(whole.view.row(r), whole.view.row(r) + size_t{w} * bpp);
                rows[r] = scattered[r].data();
            }
            codec::image_view v = whole.view;
            v.data = nullptr;
            v.rows = rows.data();
            EXPECT_EQ(encode_as(t, v), encode_as(t, whole.view));
        }
}

TEST(QuicEncoder, EncodeMapsBitmapFormatsAsTheReference) {
    EXPECT_EQ(quic::type_for_format(SPICE_BITMAP_FMT_32BIT), image_type::rgb32);
    EXPECT_EQ(quic::type_for_format(SPICE_BITMAP_FMT_RGBA), image_type::rgba);
    EXPECT_EQ(quic::type_for_format(SPICE_BITMAP_FMT_24BIT), image_type::rgb24);
    EXPECT_EQ(quic::type_for_format(SPICE_BITMAP_FMT_16BIT), image_type::rgb16);

    const struct {
        uint8_t format;
        image_type type;
    } formats[] = {{SPICE_BITMAP_FMT_32BIT, image_type::rgb32},
                   {SPICE_BITMAP_FMT_RGBA, image_type::rgba},
                   {SPICE_BITMAP_FMT_24BIT, image_type::rgb24},
                   {SPICE_BITMAP_FMT_16BIT, image_type::rgb16}};
    for (const auto &f : formats) {
        const unsigned bpp = bpp_of(f.type);
        auto img = store(make_pixels(7, 3, bpp, pattern::gradient, 1), 7, 3, bpp, true);
        img.view.format = f.format;
        bytes out;
        ASSERT_TRUE(quic::encode(img.view, out).has_value());
        EXPECT_EQ(out, encode_as(f.type, img.view));
        const auto hdr = quic::read_header(out);
        ASSERT_TRUE(hdr.ok());
        EXPECT_EQ(hdr->type, f.type);
    }
}

TEST(QuicEncoder, AppendsAfterExistingBytes) {
    const bytes px = make_pixels(7, 3, 4, pattern::noise, 3);
    auto img = store(px, 7, 3, 4, true);
    img.view.format = SPICE_BITMAP_FMT_32BIT;
    const bytes prefix = {1, 2, 3};
    bytes out = prefix;
    const auto n = quic::encode(img.view, out);
    ASSERT_TRUE(n.has_value());
    ASSERT_EQ(out.size(), prefix.size() + *n);
    EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), out.begin()));
    const bytes stream(out.begin() + 3, out.end());
    EXPECT_EQ(std::memcmp(stream.data(), "QUIC", 4), 0);
    EXPECT_EQ(decode(stream, image_type::rgb32, 7, 3), expected_decode(image_type::rgb32, px));
}

TEST(QuicEncoder, FlatImagesCompressFarBelowRaw) {
    // A flat image is one coded pixel or three per row and a run for the
    // rest: a few bytes a row against 4000 raw.
    for (image_type t : all_types) {
        const unsigned bpp = bpp_of(t);
        const uint32_t w = 1000, h = 17;
        const auto flat = store(make_pixels(w, h, bpp, pattern::flat, 1), w, h, bpp, true);
        const auto noise = store(make_pixels(w, h, bpp, pattern::noise, 1), w, h, bpp, true);
        const size_t raw = size_t{w} * h * bpp;
        const size_t flat_size = encode_as(t, flat.view).size();
        EXPECT_LT(flat_size * 50, raw) << static_cast<int>(t);
        EXPECT_LT(flat_size * 20, encode_as(t, noise.view).size()) << static_cast<int>(t);
    }
}

TEST(QuicEncoder, RefusesWhatTheReferenceDoesNotSendAsQuic) {
    const bytes px = make_pixels(8, 4, 4, pattern::gradient, 1);
    auto img = store(px, 8, 4, 4, true);
    const bytes before = {9, 8, 7};
    // 8BIT_A is never QUIC in the reference and spice-gtk refuses gray QUIC;
    // palettes and 1/4/8-bit formats are not QUIC types at all.
    for (uint8_t f : {uint8_t{SPICE_BITMAP_FMT_INVALID}, uint8_t{SPICE_BITMAP_FMT_1BIT_LE},
                      uint8_t{SPICE_BITMAP_FMT_1BIT_BE}, uint8_t{SPICE_BITMAP_FMT_4BIT_LE},
                      uint8_t{SPICE_BITMAP_FMT_4BIT_BE}, uint8_t{SPICE_BITMAP_FMT_8BIT},
                      uint8_t{SPICE_BITMAP_FMT_8BIT_A}, uint8_t{200}}) {
        img.view.format = f;
        bytes out = before;
        EXPECT_FALSE(quic::encode(img.view, out).has_value()) << int{f};
        EXPECT_EQ(out, before);
        EXPECT_EQ(quic::type_for_format(f), image_type::invalid);
    }
    bytes out = before;
    EXPECT_FALSE(quic::encode_as(image_type::invalid, img.view, out).has_value());
    EXPECT_FALSE(quic::encode_as(static_cast<image_type>(9), img.view, out).has_value());
    EXPECT_EQ(out, before);
}

TEST(QuicEncoder, RefusesBadGeometry) {
    const bytes px = make_pixels(8, 4, 4, pattern::gradient, 1);
    const auto good = store(px, 8, 4, 4, true);
    const bytes before = {9, 8, 7};
    auto refused = [&](codec::image_view v) {
        v.format = SPICE_BITMAP_FMT_32BIT;
        bytes out = before;
        const bool r = !quic::encode(v, out).has_value();
        if (r) {
            EXPECT_EQ(out, before); // untouched when refused
        }
        return r;
    };
    auto v = good.view;
    EXPECT_FALSE(refused(v)); // the baseline is accepted
    v.width = 0;
    EXPECT_TRUE(refused(v));
    v = good.view;
    v.height = 0;
    EXPECT_TRUE(refused(v));
    v = good.view;
    v.data = nullptr;
    EXPECT_TRUE(refused(v));
    v = good.view;
    v.stride = 8 * 4 - 1; // a row wider than the stride
    EXPECT_TRUE(refused(v));
    v = good.view;
    v.width = 0x80000000u; // not a C int in the client's header reader
    v.stride = size_t{v.width} * 4;
    EXPECT_TRUE(refused(v));
    v = good.view;
    v.width = 1u << 15;
    v.height = 1u << 14; // 2^29 pixels: past spice-common's limit
    v.stride = size_t{v.width} * 4;
    EXPECT_TRUE(refused(v));
}

} // namespace
