// Test images for the LZ and GLZ encoder tests: deterministic flat, gradient,
// noise and text-like content in every bitmap format, with optional stride
// padding. Tests only.
#pragma once

#include <spice/enums.h>

#include <cstdint>
#include <string>
#include <vector>

#include "display/codec/image_view.hpp"

namespace rs::lz_test {

enum class pattern { flat, gradient, noise, text };

inline const char *name(pattern p) {
    switch (p) {
    case pattern::flat:
        return "flat";
    case pattern::gradient:
        return "gradient";
    case pattern::noise:
        return "noise";
    case pattern::text:
        return "text";
    }
    return "?";
}

/// Bits per pixel of a SPICE_BITMAP_FMT_*.
inline uint32_t bits_per_pixel(uint8_t format) {
    switch (format) {
    case SPICE_BITMAP_FMT_1BIT_LE:
    case SPICE_BITMAP_FMT_1BIT_BE:
        return 1;
    case SPICE_BITMAP_FMT_4BIT_LE:
    case SPICE_BITMAP_FMT_4BIT_BE:
        return 4;
    case SPICE_BITMAP_FMT_8BIT:
    case SPICE_BITMAP_FMT_8BIT_A:
        return 8;
    case SPICE_BITMAP_FMT_16BIT:
        return 16;
    case SPICE_BITMAP_FMT_24BIT:
        return 24;
    default:
        return 32;
    }
}

/// A small deterministic generator (xorshift64*).
struct rng {
    uint64_t s;
    explicit rng(uint64_t seed)
        : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<uint32_t>((s * 0x2545F4914F6CDD1Dull) >> 32);
    }
};

/// An owned image: pixel bytes plus the view encoders take.
struct test_image {
    std::vector<uint8_t> bytes;
    std::vector<uint32_t> palette;
    codec::image_view view;

    size_t row_bytes() const { return (size_t{view.width} * bits_per_pixel(view.format) + 7) / 8; }
};

/// Value of pattern `p` at (x, y): a 32-bit "colour" the format then keeps as
/// many bits of as it has. `seed` varies noise and text.
inline uint32_t pattern_value(pattern p, uint32_t x, uint32_t y, uint64_t seed) {
    switch (p) {
    case pattern::flat:
        return 0x80402010u ^ static_cast<uint32_t>(seed);
    case pattern::gradient:
        return (x * 3) | (y * 5) << 8 | ((x + y) & 0xff) << 16 | (x ^ y) << 24;
    case pattern::noise: {
        rng r(seed * 1000003 + y * 65537 + x);
        return r.next();
    }
    case pattern::text: {
        // 6×9 "glyph" cells picked from a small alphabet, dark on light with
        // two colours, like rendered text.
        const uint32_t cx = x / 6;
        const uint32_t cy = y / 9;
        rng cell(seed * 7919 + cy * 4099 + cx);
        const uint32_t glyph = cell.next() % 12;
        rng shape(glyph + 1);
        uint32_t bits = 0;
        for (uint32_t i = 0; i <= (y % 9); ++i)
            bits = shape.next();
        const bool ink = glyph != 0 && ((bits >> (x % 6)) & 1) != 0;
        return ink ? 0xff101010u : 0xfff0f0f0u;
    }
    }
    return 0;
}

/// Builds a `width` × `height` image of `format` with `pad` extra bytes per
/// row, filled with pattern `p`.
inline test_image make_image(uint8_t format, uint32_t width, uint32_t height, pattern p,
                             bool top_down = true, size_t pad = 0, uint64_t seed = 1) {
    test_image img;
    const size_t row = (size_t{width} * bits_per_pixel(format) + 7) / 8;
    const size_t stride = row + pad;
    img.bytes.assign(stride * height + 1, 0xEE); // +1: never a zero-sized buffer
    for (uint32_t y = 0; y < height; ++y) {
        uint8_t *r = img.bytes.data() + y * stride;
        for (size_t i = 0; i < row; ++i)
            r[i] = 0; // padding keeps 0xEE
        for (uint32_t x = 0; x < width; ++x) {
            const uint32_t v = pattern_value(p, x, y, seed);
            switch (format) {
            case SPICE_BITMAP_FMT_1BIT_LE:
                if (v & 0x40) r[x / 8] |= static_cast<uint8_t>(1u << (x % 8));
                break;
            case SPICE_BITMAP_FMT_1BIT_BE:
                if (v & 0x40) r[x / 8] |= static_cast<uint8_t>(0x80u >> (x % 8));
                break;
            case SPICE_BITMAP_FMT_4BIT_LE:
                r[x / 2] |= static_cast<uint8_t>(((v >> 4) & 0xf) << (x % 2 ? 4 : 0));
                break;
            case SPICE_BITMAP_FMT_4BIT_BE:
                r[x / 2] |= static_cast<uint8_t>(((v >> 4) & 0xf) << (x % 2 ? 0 : 4));
                break;
            case SPICE_BITMAP_FMT_8BIT:
            case SPICE_BITMAP_FMT_8BIT_A:
                r[x] = static_cast<uint8_t>(v);
                break;
            case SPICE_BITMAP_FMT_16BIT: {
                const auto w = static_cast<uint16_t>(v);
                r[2 * x] = static_cast<uint8_t>(w);
                r[2 * x + 1] = static_cast<uint8_t>(w >> 8);
                break;
            }
            case SPICE_BITMAP_FMT_24BIT:
                r[3 * x] = static_cast<uint8_t>(v);
                r[3 * x + 1] = static_cast<uint8_t>(v >> 8);
                r[3 * x + 2] = static_cast<uint8_t>(v >> 16);
                break;
            default: // 32BIT (x is junk the encoder must ignore) and RGBA
                r[4 * x] = static_cast<uint8_t>(v);
                r[4 * x + 1] = static_cast<uint8_t>(v >> 8);
                r[4 * x + 2] = static_cast<uint8_t>(v >> 16);
                r[4 * x + 3] = static_cast<uint8_t>(v >> 24);
                break;
            }
        }
    }
    for (uint32_t i = 0; i < 16; ++i)
        img.palette.push_back(0xff000000u | i * 0x101010u);
    img.view.data = img.bytes.data();
    img.view.width = width;
    img.view.height = height;
    img.view.stride = stride;
    img.view.format = format;
    img.view.top_down = top_down;
    img.view.palette = img.palette;
    return img;
}

} // namespace rs::lz_test
