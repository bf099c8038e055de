// rs_codec_bench: ringspice's image encoders on a fixed, generated image set
// (issue 6, "Benchmark"). For each image and codec it prints the compressed
// size and the encode speed: input bytes / median thread CPU time over N runs.
// A tool to run by hand on a release build, not a test: it asserts nothing.
//
// Usage: rs_codec_bench [--runs N] [--width W] [--height H] [--images a,b] [--codecs A,B]
#include <spice/enums.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "display/codec/glz_encoder.hpp"
#include "display/codec/image_view.hpp"
#include "display/codec/jpeg_encoder.hpp"
#include "display/codec/lz4_image.hpp"
#include "display/codec/lz_encoder.hpp"
#include "display/codec/quic_encoder.hpp"

namespace {

using namespace rs;

/// A generated test image: owns its pixels (and palette), lives on the
/// benchmark's one thread.
struct test_image {
    std::string name;
    uint32_t width = 0;
    uint32_t height = 0;
    uint8_t format = SPICE_BITMAP_FMT_32BIT;
    size_t stride = 0;
    std::vector<uint8_t> pixels;
    std::vector<uint32_t> palette;

    codec::image_view view() const {
        codec::image_view v;
        v.data = pixels.data();
        v.width = width;
        v.height = height;
        v.stride = stride;
        v.format = format;
        v.top_down = true;
        v.palette = palette;
        v.palette_unique = palette.empty() ? 0 : 1;
        return v;
    }
};

/// xorshift64*: the same pseudo-random sequence on every machine and run.
struct rng {
    uint64_t s;
    uint32_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return static_cast<uint32_t>((s * 0x2545F4914F6CDD1DULL) >> 32);
    }
    uint32_t below(uint32_t n) { return next() % n; }
};

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::clamp(v, 0.0, 255.0)); }

test_image rgb32(const char *name, uint32_t w, uint32_t h) {
    test_image t;
    t.name = name;
    t.width = w;
    t.height = h;
    t.stride = size_t{w} * 4;
    t.pixels.assign(t.stride * h, 0);
    return t;
}

void put(test_image &t, uint32_t x, uint32_t y, uint32_t rgb) {
    uint8_t *p = t.pixels.data() + y * t.stride + size_t{x} * 4;
    p[0] = static_cast<uint8_t>(rgb);
    p[1] = static_cast<uint8_t>(rgb >> 8);
    p[2] = static_cast<uint8_t>(rgb >> 16);
    p[3] = 0;
}

void fill(test_image &t, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1, uint32_t rgb) {
    x1 = std::min(x1, t.width);
    y1 = std::min(y1, t.height);
    for (uint32_t y = y0; y < y1; ++y)
        for (uint32_t x = x0; x < x1; ++x)
            put(t, x, y, rgb);
}

/// Draws pseudo-text: lines of 8×14 cells, each a glyph of a 5×9 dot pattern
/// drawn from a set of 96, with word gaps and ragged line ends.
void text_block(test_image &t, rng &r, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1,
                uint32_t ink) {
    static const auto glyphs = [] {
        std::vector<uint64_t> g(96);
        rng gr{0x5eed};
        for (auto &v : g)
            v = (uint64_t{gr.next()} << 32 | gr.next()) & ((uint64_t{1} << 45) - 1);
        return g;
    }();
    for (uint32_t y = y0; y + 14 <= y1; y += 16) {
        const uint32_t end = x1 - r.below(std::max(1u, (x1 - x0) / 3));
        for (uint32_t x = x0; x + 8 <= end; x += 8) {
            if (r.below(6) == 0) continue; // a space
            const uint64_t g = glyphs[r.below(96)];
            for (uint32_t gy = 0; gy < 9; ++gy)
                for (uint32_t gx = 0; gx < 5; ++gx)
                    if (g >> (gy * 5 + gx) & 1) put(t, x + 1 + gx, y + 3 + gy, ink);
        }
    }
}

test_image text_page(uint32_t w, uint32_t h) {
    auto t = rgb32("text", w, h);
    rng r{1};
    fill(t, 0, 0, w, h, 0xffffff);
    fill(t, 0, 0, w, 28, 0xe8e8e8);
    text_block(t, r, 40, 60, w - 40, h - 20, 0x202020);
    return t;
}

test_image ui(uint32_t w, uint32_t h) {
    auto t = rgb32("ui", w, h);
    rng r{2};
    fill(t, 0, 0, w, h, 0x3a6ea5);      // desktop
    fill(t, 0, h - 40, w, h, 0xd4d0c8); // taskbar
    for (uint32_t i = 0; i < 6; ++i) {  // windows
        const uint32_t x = 40 + i * w / 8, y = 30 + i * h / 10;
        const uint32_t ww = w / 3, wh = h / 2;
        fill(t, x, y, x + ww, y + wh, 0xf0f0f0);
        for (uint32_t yy = y; yy < std::min(y + 24, h); ++yy) // title bar gradient
            for (uint32_t xx = x; xx < std::min(x + ww, w); ++xx)
                put(t, xx, yy, 0x000080 + ((xx - x) * 0x7f / ww) * 0x010100);
        fill(t, x + ww - 60, y + wh - 36, x + ww - 10, y + wh - 12, 0xd4d0c8); // button
        text_block(t, r, x + 10, y + 34, x + ww - 10, y + wh / 2, 0x000000);
    }
    return t;
}

test_image gradient(uint32_t w, uint32_t h) {
    auto t = rgb32("gradient", w, h);
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            const double fx = double(x) / w, fy = double(y) / h;
            put(t, x, y,
                uint32_t{clamp8(255 * fx)} << 16 | uint32_t{clamp8(255 * fy)} << 8 |
                    clamp8(255 * (1 - fx) * (1 - fy) + 64 * fx * fy));
        }
    return t;
}

/// Smooth shapes (sums of sinusoids) with fine grain noise on top, as a
/// photograph's content and sensor noise.
test_image photo(uint32_t w, uint32_t h) {
    auto t = rgb32("photo", w, h);
    rng r{3};
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            const double fx = x / 160.0, fy = y / 120.0;
            const double base = 110 + 50 * std::sin(fx) * std::cos(fy * 0.7) +
                                30 * std::sin(fx * 2.3 + fy * 1.7) + 20 * std::cos(fx * 0.3 - fy);
            const double n = static_cast<int>(r.below(17)) - 8;
            put(t, x, y,
                uint32_t{clamp8(base + 40 * std::sin(fy * 0.5) + n)} << 16 |
                    uint32_t{clamp8(base + n)} << 8 | clamp8(base - 30 * std::cos(fx * 0.4) + n));
        }
    return t;
}

/// The demo's `--photo` background (tools/demo/desktop.cpp): smooth colour
/// fields with one grain of -3..3 added to all three channels, so a pixel
/// often equals a neighbour and short repeats abound, unlike `photo`.
test_image grain(uint32_t w, uint32_t h) {
    auto t = rgb32("grain", w, h);
    uint32_t seed = 0x2545f491;
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            seed = seed * 1664525u + 1013904223u;
            const int g = static_cast<int>((seed >> 24) % 7) - 3;
            const double fx = x / 97.0, fy = y / 71.0;
            const double wave = std::sin(fx + std::sin(fy) * 1.7) * 0.5 + 0.5;
            const double hill = std::cos(fx * 0.6 - fy * 0.9) * 0.5 + 0.5;
            const double ty = static_cast<double>(y) / std::max(1u, h - 1);
            put(t, x, y,
                uint32_t{clamp8(40 + 120 * ty + 60 * wave + g)} << 16 |
                    uint32_t{clamp8(70 + 90 * hill + 40 * (1 - ty) + g)} << 8 |
                    clamp8(200 - 110 * ty + 30 * wave * hill + g));
        }
    return t;
}

test_image noise(uint32_t w, uint32_t h) {
    auto t = rgb32("noise", w, h);
    rng r{4};
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x)
            put(t, x, y, r.next() & 0xffffff);
    return t;
}

/// An 8-bit palette image (256 entries): flat bands, dithered ramps and text.
test_image palette8(uint32_t w, uint32_t h) {
    test_image t;
    t.name = "palette8";
    t.width = w;
    t.height = h;
    t.format = SPICE_BITMAP_FMT_8BIT;
    t.stride = w;
    t.pixels.assign(size_t{w} * h, 0);
    for (uint32_t i = 0; i < 256; ++i)
        t.palette.push_back(0xff000000u | (i & 0xe0) << 16 | (i & 0x1c) << 11 | (i & 0x03) << 6);
    rng r{5};
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            uint8_t v;
            if (y < h / 3)
                v = static_cast<uint8_t>(16 * (x * 8 / w)); // flat bands
            else if (y < 2 * h / 3)
                v = static_cast<uint8_t>((x * 256 / w + ((x ^ y) & 3)) & 0xff);
            else
                v = 0xff;
            t.pixels[size_t{y} * w + x] = v;
        }
    for (uint32_t y = 2 * h / 3 + 10; y + 14 < h; y += 16)
        for (uint32_t x = 20; x + 8 < w - 20; x += 8)
            if (r.below(5) != 0)
                for (uint32_t k = 0; k < 12; ++k)
                    t.pixels[size_t{y + 2 + r.below(10)} * w + x + r.below(6)] = 0;
    return t;
}

double thread_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// One codec as the benchmark runs it: `prepare` runs untimed before each
/// run (e.g. a dictionary's first pass), `encode` is timed and appends the
/// payload; nullopt when the codec cannot carry the image.
struct codec_case {
    const char *name;
    std::function<void()> prepare;
    std::function<std::optional<size_t>(const codec::image_view &, std::vector<uint8_t> &)> encode;
};

struct result {
    std::optional<size_t> bytes;
    double seconds = 0; ///< median
    double min_seconds = 0;
};

/// Whether `name` is in the comma-separated `list`; an empty list holds all.
bool listed(const std::string &list, const std::string &name) {
    if (list.empty()) return true;
    size_t from = 0;
    while (from <= list.size()) {
        const size_t comma = std::min(list.find(',', from), list.size());
        if (list.compare(from, comma - from, name) == 0) return true;
        from = comma + 1;
    }
    return false;
}

result measure(const codec_case &c, const codec::image_view &v, int runs) {
    result res;
    std::vector<double> times;
    std::vector<uint8_t> out;
    out.reserve(v.stride * v.height * 2 + 4096);
    for (int i = 0; i < runs; ++i) {
        out.clear();
        if (c.prepare) c.prepare();
        const double t0 = thread_seconds();
        const auto n = c.encode(v, out);
        const double t1 = thread_seconds();
        if (!n) return res;
        if (res.bytes && *res.bytes != *n) {
            std::fprintf(stderr, "%s: size changed between runs (%zu, %zu)\n", c.name, *res.bytes,
                         *n);
        }
        res.bytes = n;
        times.push_back(t1 - t0);
    }
    std::sort(times.begin(), times.end());
    res.seconds = times[times.size() / 2];
    res.min_seconds = times.front();
    return res;
}

bool parse_u32(const char *s, uint32_t &out) {
    char *end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 65536) return false;
    out = static_cast<uint32_t>(v);
    return true;
}

} // namespace

int main(int argc, char **argv) {
    uint32_t runs = 7, width = 1920, height = 1080;
    std::string only_images, only_codecs; // --images / --codecs: comma-separated names
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has = i + 1 < argc;
        if (a == "--runs" && has && parse_u32(argv[i + 1], runs))
            ++i;
        else if (a == "--width" && has && parse_u32(argv[i + 1], width) && width >= 64)
            ++i;
        else if (a == "--height" && has && parse_u32(argv[i + 1], height) && height >= 64)
            ++i;
        else if (a == "--images" && has)
            only_images = argv[++i];
        else if (a == "--codecs" && has)
            only_codecs = argv[++i];
        else {
            std::fprintf(stderr, "usage: rs_codec_bench [--runs N] [--width W] [--height H] "
                                 "[--images a,b] [--codecs A,B]\n");
            return 2;
        }
    }

    std::vector<test_image> images;
    images.push_back(text_page(width, height));
    images.push_back(ui(width, height));
    images.push_back(gradient(width, height));
    images.push_back(photo(width, height));
    images.push_back(grain(width, height));
    images.push_back(noise(width, height));
    images.push_back(palette8(width, height));

    // The GLZ dictionaries: spice-gtk offers a window of 16 Mi pixels; ours
    // caps it at 4 Mi, which holds two 1920×1080 images.
    constexpr uint32_t client_window = 16u << 20;
    std::optional<glz::glz_dictionary> dict;
    const codec::image_view *current = nullptr;
    std::vector<uint8_t> glz_scratch;
    constexpr int zlib_level = 3; // image_sender's level for ZLIB_GLZ

    const std::vector<codec_case> cases = {
        {"QUIC",
         {},
         [](const codec::image_view &v, std::vector<uint8_t> &o) { return quic::encode(v, o); }},
        {"LZ",
         {},
         [](const codec::image_view &v, std::vector<uint8_t> &o) { return lz::encode(v, o); }},
        {"GLZ fresh", [&] { dict.emplace(client_window); },
         [&](const codec::image_view &v, std::vector<uint8_t> &o) {
             return glz::glz_encode(*dict, v, o);
         }},
        {"GLZ 2nd pass",
         [&] {
             dict.emplace(client_window);
             glz_scratch.clear();
             (void)glz::glz_encode(*dict, *current, glz_scratch);
         },
         [&](const codec::image_view &v, std::vector<uint8_t> &o) {
             return glz::glz_encode(*dict, v, o);
         }},
        {"ZLIB_GLZ", [&] { dict.emplace(client_window); },
         [&](const codec::image_view &v, std::vector<uint8_t> &o) -> std::optional<size_t> {
             glz_scratch.clear();
             if (!glz::glz_encode(*dict, v, glz_scratch)) return std::nullopt;
             // No gain: the server sends the GLZ payload itself (as the reference).
             if (auto z = glz::zlib_wrap(glz_scratch, zlib_level, o)) return z;
             o.insert(o.end(), glz_scratch.begin(), glz_scratch.end());
             return glz_scratch.size();
         }},
        {"LZ4",
         {},
         [](const codec::image_view &v, std::vector<uint8_t> &o) {
             return lz4_image::encode(std::span<const uint8_t>(v.data, v.stride * v.height),
                                      v.format, v.top_down, v.width, v.height,
                                      static_cast<uint32_t>(v.stride), o);
         }},
        {"JPEG q85",
         {},
         [](const codec::image_view &v, std::vector<uint8_t> &o) {
             return jpeg::encode(v, jpeg::default_quality, o);
         }},
    };

    std::printf("rs_codec_bench: %ux%u, median of %u runs, thread CPU time; "
                "MB/s = input bytes (stride x height) / time / 1e6\n\n",
                width, height, runs);
#define RS_ROW_FMT "%-10s %-13s %12s %9s %9s %9s %9s\n"
    std::printf(RS_ROW_FMT, "image", "codec", "bytes", "ratio", "ms", "min ms", "MB/s");
    std::printf("%s\n", std::string(77, '-').c_str());
    for (const auto &img : images) {
        if (!listed(only_images, img.name)) continue;
        const auto v = img.view();
        current = &v;
        const double raw = static_cast<double>(v.stride) * v.height;
        for (const auto &c : cases) {
            if (!listed(only_codecs, c.name)) continue;
            const auto r = measure(c, v, static_cast<int>(runs));
            if (!r.bytes) {
                std::printf(RS_ROW_FMT, img.name.c_str(), c.name, "n/a", "", "", "", "");
                continue;
            }
            std::printf("%-10s %-13s %12zu %9.2f %9.2f %9.2f %9.1f\n", img.name.c_str(), c.name,
                        *r.bytes, raw / static_cast<double>(*r.bytes), r.seconds * 1e3,
                        r.min_seconds * 1e3, raw / r.seconds / 1e6);
        }
        current = nullptr;
        std::fflush(stdout);
    }
    return 0;
}
