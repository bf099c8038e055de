// Test helpers for the JPEG encoder tests: generated pictures laid out as
// bitmaps, and a decoder that reads a stream the way spice-gtk does.
#pragma once

#include "display/codec/image_view.hpp"
#include "display/codec/jpeg_encoder.hpp"

#include <gtest/gtest.h>
#include <spice/enums.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include <jpeglib.h>

namespace rs::jpeg_test {

using rs::codec::image_view;

// An image the test owns, plus the view the encoder gets.
struct test_image {
    std::vector<uint8_t> bytes;
    image_view view;
};

// The expected colour of each pixel, top row first, r g b.
using rgb_plane = std::vector<uint8_t>;

// A photo-like picture: smooth, overlapping waves in each channel (no flat
// areas, no sharp edges), 8 bits per channel, top row first.
inline rgb_plane photo(uint32_t w, uint32_t h) {
    rgb_plane p(size_t{w} * h * 3);
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            const double fx = x, fy = y;
            const double r = 128 + 90 * std::sin(fx / 61.0) * std::cos(fy / 47.0) +
                             20 * std::sin((fx + fy) / 13.0);
            const double g = 120 + 80 * std::cos(fx / 83.0 + fy / 71.0) + 15 * std::sin(fy / 9.0);
            const double b = 110 + 70 * std::sin(fy / 53.0) + 30 * std::cos(fx / 17.0);
            uint8_t *px = &p[(size_t{y} * w + x) * 3];
            px[0] = static_cast<uint8_t>(std::lround(std::clamp(r, 0.0, 255.0)));
            px[1] = static_cast<uint8_t>(std::lround(std::clamp(g, 0.0, 255.0)));
            px[2] = static_cast<uint8_t>(std::lround(std::clamp(b, 0.0, 255.0)));
        }
    return p;
}

// Lays `rgb` out as a bitmap of `format` (32BIT, RGBA, 24BIT; alpha bytes
// from `alpha`), rows `stride` bytes apart (padding filled with junk), bottom
// row first in memory unless top_down.
inline test_image make_bitmap(const rgb_plane &rgb, uint32_t w, uint32_t h, uint8_t format,
                              bool top_down, size_t pad = 0,
                              uint8_t (*alpha)(uint32_t, uint32_t) = nullptr) {
    const size_t bpp = format == SPICE_BITMAP_FMT_24BIT ? 3 : 4;
    const size_t stride = w * bpp + pad;
    test_image t;
    t.bytes.assign(stride * h, 0xA5);
    for (uint32_t y = 0; y < h; ++y) {
        const uint32_t mem_row = top_down ? y : h - 1 - y;
        for (uint32_t x = 0; x < w; ++x) {
            const uint8_t *s = &rgb[(size_t{y} * w + x) * 3];
            uint8_t *d = &t.bytes[mem_row * stride + x * bpp];
            d[0] = s[2];
            d[1] = s[1];
            d[2] = s[0];
            if (bpp == 4) d[3] = alpha ? alpha(x, y) : static_cast<uint8_t>(x * 7 + y);
        }
    }
    t.view = {t.bytes.data(), w, h, stride, format, top_down, {}, 0};
    return t;
}

// The same for 16BIT: channels are the top 5 bits of `rgb`.
inline test_image make_bitmap16(const rgb_plane &rgb, uint32_t w, uint32_t h, bool top_down) {
    const size_t stride = w * 2;
    test_image t;
    t.bytes.assign(stride * h, 0);
    for (uint32_t y = 0; y < h; ++y) {
        const uint32_t mem_row = top_down ? y : h - 1 - y;
        for (uint32_t x = 0; x < w; ++x) {
            const uint8_t *s = &rgb[(size_t{y} * w + x) * 3];
            const uint16_t v =
                static_cast<uint16_t>((s[0] >> 3) << 10 | (s[1] >> 3) << 5 | (s[2] >> 3));
            std::memcpy(&t.bytes[mem_row * stride + x * 2], &v, 2);
        }
    }
    t.view = {t.bytes.data(), w, h, stride, SPICE_BITMAP_FMT_16BIT, top_down, {}, 0};
    return t;
}

// What a 16BIT pixel should look like after decoding: each 5-bit channel
// widened to 8 bits (v << 3 | v >> 2).
inline rgb_plane widened16(const rgb_plane &rgb) {
    rgb_plane out(rgb.size());
    for (size_t i = 0; i < rgb.size(); ++i) {
        const unsigned v = rgb[i] >> 3;
        out[i] = static_cast<uint8_t>(v << 3 | v >> 2);
    }
    return out;
}

struct decoded {
    uint32_t width = 0, height = 0;
    int components = 0;
    rgb_plane rgb; // top row first, as spice-gtk's decoder writes it
};

struct decode_error {
    jpeg_error_mgr pub;
    std::jmp_buf env;
};

[[noreturn]] inline void decode_error_exit(j_common_ptr cinfo) {
    std::longjmp(reinterpret_cast<decode_error *>(cinfo->err)->env, 1);
}

// Decodes like spice-gtk's decode-jpeg.c: libjpeg, out_color_space JCS_RGB,
// one scanline after the other from the top.
inline std::optional<decoded> decode(const uint8_t *data, size_t size) {
    jpeg_decompress_struct ci{};
    decode_error err{};
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = decode_error_exit;
    decoded d;
    if (setjmp(err.env)) {
        jpeg_destroy_decompress(&ci);
        return std::nullopt;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, static_cast<unsigned long>(size));
    jpeg_read_header(&ci, TRUE);
    d.components = ci.num_components;
    ci.out_color_space = JCS_RGB;
    jpeg_start_decompress(&ci);
    d.width = ci.output_width;
    d.height = ci.output_height;
    d.rgb.resize(size_t{d.width} * d.height * 3);
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW row = &d.rgb[size_t{ci.output_scanline} * d.width * 3];
        jpeg_read_scanlines(&ci, &row, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    return d;
}

inline std::optional<decoded> decode(const std::vector<uint8_t> &jpeg) {
    return decode(jpeg.data(), jpeg.size());
}

inline double psnr(const rgb_plane &a, const rgb_plane &b) {
    double se = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double d = double(a[i]) - double(b[i]);
        se += d * d;
    }
    const double mse = se / static_cast<double>(a.size());
    return mse == 0 ? 99.0 : 10 * std::log10(255.0 * 255.0 / mse);
}

inline std::vector<uint8_t> must_encode(const image_view &v,
                                        int quality = rs::jpeg::default_quality) {
    std::vector<uint8_t> out;
    const auto n = rs::jpeg::encode(v, quality, out);
    EXPECT_TRUE(n.has_value());
    if (n) {
        EXPECT_EQ(*n, out.size());
    }
    return out;
}
} // namespace rs::jpeg_test
