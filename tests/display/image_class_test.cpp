#include "display/codec/image_class.hpp"

#include <gtest/gtest.h>
#include <spice/enums.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

namespace {

using rs::codec::image_view;
using rs::image_class::classify;
using rs::image_class::gradual;

struct rgb8 {
    uint8_t r, g, b;
};

using picture = std::function<rgb8(uint32_t x, uint32_t y)>;

struct test_image {
    std::vector<uint8_t> bytes;
    image_view view;
};

// Lays out a picture as 32BIT/RGBA/24BIT (bytes b, g, r[, x]) or 16BIT
// (top 5 bits of each channel), rows `pad` bytes longer than the pixels with
// junk in the padding.
test_image make(uint32_t w, uint32_t h, uint8_t format, const picture &pic, size_t pad = 0) {
    const size_t bpp = format == SPICE_BITMAP_FMT_16BIT   ? 2
                       : format == SPICE_BITMAP_FMT_24BIT ? 3
                                                          : 4;
    const size_t stride = w * bpp + pad;
    test_image t;
    t.bytes.resize(stride * h);
    std::mt19937 junk(99);
    for (auto &b : t.bytes)
        b = static_cast<uint8_t>(junk());
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            const rgb8 c = pic(x, y);
            uint8_t *d = &t.bytes[y * stride + x * bpp];
            if (bpp == 2) {
                const uint16_t v =
                    static_cast<uint16_t>((c.r >> 3) << 10 | (c.g >> 3) << 5 | (c.b >> 3));
                std::memcpy(d, &v, 2);
            } else {
                d[0] = c.b;
                d[1] = c.g;
                d[2] = c.r;
                if (bpp == 4) d[3] = 0xFF;
            }
        }
    t.view = {t.bytes.data(), w, h, stride, format, true, {}, 0};
    return t;
}

uint8_t clamp8(double v) { return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0))); }

// A photograph's statistics: colour changes a little from every pixel to the
// next, in both directions, never in big steps. `slope` scales the change.
picture photo(double slope = 1.0) {
    return [slope](uint32_t x, uint32_t y) {
        const double fx = x * slope, fy = y * slope;
        return rgb8{clamp8(128 + 100 * std::sin(fx / 23.0) * std::cos(fy / 19.0) +
                           12 * std::sin((fx + fy) / 5.0)),
                    clamp8(120 + 90 * std::cos(fx / 29.0 + fy / 31.0) + 10 * std::sin(fy / 4.0)),
                    clamp8(110 + 80 * std::sin(fy / 17.0) + 14 * std::cos(fx / 6.0))};
    };
}

// Black text on white: glyph-sized boxes of strokes on a flat background,
// the kind of update a terminal or editor sends.
rgb8 text(uint32_t x, uint32_t y) {
    const uint32_t cx = x % 9, cy = y % 16; // 9×16 character cells
    const uint32_t glyph = (x / 9 * 7 + y / 16 * 13) % 5;
    const bool ink =
        cy >= 3 && cy < 13 && cx >= 1 && cx < 7 &&
        ((glyph == 0 && (cx == 1 || cx == 6)) || (glyph == 1 && (cy == 3 || cy == 12)) ||
         (glyph == 2 && cx == 3) || (glyph == 3 && (cx + cy) % 5 == 0));
    return ink ? rgb8{0, 0, 0} : rgb8{255, 255, 255};
}

// Window chrome: flat panels, a title bar, 1-pixel borders, buttons.
rgb8 ui(uint32_t x, uint32_t y) {
    if (y < 24) return (x % 200 > 170 && y > 4 && y < 20) ? rgb8{200, 40, 40} : rgb8{40, 60, 110};
    if (x % 160 == 0 || y % 120 == 0) return {90, 90, 90};
    if (y % 120 > 90 && y % 120 < 110 && x % 160 > 20 && x % 160 < 100) return {220, 220, 220};
    return {240, 240, 240};
}

constexpr uint8_t rgb_formats[] = {SPICE_BITMAP_FMT_32BIT, SPICE_BITMAP_FMT_RGBA,
                                   SPICE_BITMAP_FMT_24BIT};

TEST(ImageClass, PhotoLikeImagesAreHighlyGradual) {
    for (uint8_t fmt : rgb_formats) {
        const test_image img = make(320, 240, fmt, photo());
        EXPECT_EQ(classify(img.view), gradual::high) << int(fmt);
    }
    // 16BIT has 5-bit channels: its photos change by fewer steps per pixel.
    const test_image img16 = make(320, 240, SPICE_BITMAP_FMT_16BIT, photo(4.0));
    EXPECT_EQ(classify(img16.view), gradual::high);
}

TEST(ImageClass, TextAndUiAreLowGraduality) {
    for (uint8_t fmt : {uint8_t{SPICE_BITMAP_FMT_32BIT}, uint8_t{SPICE_BITMAP_FMT_24BIT},
                        uint8_t{SPICE_BITMAP_FMT_16BIT}}) {
        EXPECT_EQ(classify(make(400, 300, fmt, text).view), gradual::low) << int(fmt);
        EXPECT_EQ(classify(make(400, 300, fmt, ui).view), gradual::low) << int(fmt);
    }
}

TEST(ImageClass, NoiseIsLowAndFlatIsMedium) {
    std::mt19937 rng(5);
    std::vector<rgb8> noise(300 * 200);
    for (auto &c : noise)
        c = {uint8_t(rng()), uint8_t(rng()), uint8_t(rng())};
    const picture noisy = [&](uint32_t x, uint32_t y) { return noise[y * 300 + x]; };
    EXPECT_EQ(classify(make(300, 200, SPICE_BITMAP_FMT_32BIT, noisy).view), gradual::low);
    // Identical neighbours neither add nor subtract: the score is exactly 0.
    const picture flat = [](uint32_t, uint32_t) { return rgb8{30, 90, 150}; };
    for (uint8_t fmt : rgb_formats)
        EXPECT_EQ(classify(make(300, 200, fmt, flat).view), gradual::medium) << int(fmt);
}

TEST(ImageClass, TheMajorityDecidesInAMixedImage) {
    // The score is a mean over the whole image: a caption band over a photo
    // leaves it a photo, a photo thumbnail in a page of text does not make
    // the page one.
    const picture p = photo();
    const picture captioned = [&](uint32_t x, uint32_t y) {
        return y >= 200 ? text(x, y) : p(x, y);
    };
    const picture page = [&](uint32_t x, uint32_t y) { return y < 48 ? p(x, y) : text(x, y); };
    EXPECT_EQ(classify(make(320, 240, SPICE_BITMAP_FMT_32BIT, captioned).view), gradual::high);
    EXPECT_EQ(classify(make(320, 240, SPICE_BITMAP_FMT_32BIT, page).view), gradual::low);
}

TEST(ImageClass, RowsAnywhereClassifyAsTheContiguousImage) {
    const picture flat = [](uint32_t, uint32_t) { return rgb8{30, 90, 150}; };
    for (const picture &p : {photo(), picture(text), picture(ui), flat}) {
        const auto img = make(200, 90, SPICE_BITMAP_FMT_32BIT, p, 12);
        // The same rows, each moved to its own place in another buffer.
        std::vector<std::vector<uint8_t>> moved;
        std::vector<const uint8_t *> rows;
        for (uint32_t y = 0; y < img.view.height; ++y) {
            const uint8_t *r = img.view.data + size_t{y} * img.view.stride;
            moved.emplace_back(r, r + img.view.stride);
        }
        for (const auto &m : moved)
            rows.push_back(m.data());
        const auto expected = classify(img.view);
        EXPECT_NE(expected, gradual::invalid);
        EXPECT_EQ(
            rs::image_class::classify_rows(img.view.format, img.view.width, rows, img.view.stride),
            expected);
    }
    const std::vector<const uint8_t *> none(10, nullptr);
    EXPECT_EQ(rs::image_class::classify_rows(SPICE_BITMAP_FMT_32BIT, 10, none, 40),
              gradual::invalid);
}

TEST(ImageClass, TinyImagesAreNotClassified) {
    const picture p = photo();
    // Below MIN_DIMENSION_TO_QUIC in either direction.
    EXPECT_EQ(classify(make(2, 100, SPICE_BITMAP_FMT_32BIT, p).view), gradual::invalid);
    EXPECT_EQ(classify(make(100, 2, SPICE_BITMAP_FMT_32BIT, p).view), gradual::invalid);
    EXPECT_EQ(classify(make(1, 1, SPICE_BITMAP_FMT_32BIT, p).view), gradual::invalid);
    // Fewer than MIN_SIZE_TO_COMPRESS bytes: 3×3×4 = 36, 4×4×3 = 48.
    EXPECT_EQ(classify(make(3, 3, SPICE_BITMAP_FMT_32BIT, p).view), gradual::invalid);
    EXPECT_EQ(classify(make(4, 4, SPICE_BITMAP_FMT_24BIT, p).view), gradual::invalid);
    // The smallest that count: 54 bytes and more.
    EXPECT_NE(classify(make(3, 3, SPICE_BITMAP_FMT_32BIT, p, 6).view), gradual::invalid);
    EXPECT_NE(classify(make(4, 4, SPICE_BITMAP_FMT_32BIT, p).view), gradual::invalid);
}

TEST(ImageClass, FormatsWithoutRgbPixelsAreNotClassified) {
    test_image img = make(64, 64, SPICE_BITMAP_FMT_32BIT, photo());
    for (int fmt : std::initializer_list<int>{SPICE_BITMAP_FMT_INVALID, SPICE_BITMAP_FMT_1BIT_LE,
                                              SPICE_BITMAP_FMT_1BIT_BE, SPICE_BITMAP_FMT_4BIT_LE,
                                              SPICE_BITMAP_FMT_4BIT_BE, SPICE_BITMAP_FMT_8BIT,
                                              SPICE_BITMAP_FMT_8BIT_A, 77}) {
        image_view v = img.view;
        v.format = static_cast<uint8_t>(fmt);
        EXPECT_EQ(classify(v), gradual::invalid) << fmt;
        EXPECT_FALSE(rs::image_class::has_graduality(v.format));
    }
    for (uint8_t fmt : {SPICE_BITMAP_FMT_16BIT, SPICE_BITMAP_FMT_24BIT, SPICE_BITMAP_FMT_32BIT,
                        SPICE_BITMAP_FMT_RGBA})
        EXPECT_TRUE(rs::image_class::has_graduality(fmt));
    image_view v = img.view;
    v.stride = 64 * 4 - 1; // rows wider than the stride
    v.height = 60;
    EXPECT_EQ(classify(v), gradual::invalid);
    v = img.view;
    v.data = nullptr;
    EXPECT_EQ(classify(v), gradual::invalid);
}

TEST(ImageClass, StridePaddingIsNotLookedAt) {
    // Junk in the padding would read as contrast if it were sampled.
    for (uint8_t fmt : rgb_formats) {
        const test_image padded = make(333, 201, fmt, photo(), 40);
        EXPECT_EQ(classify(padded.view), gradual::high) << int(fmt);
    }
    EXPECT_EQ(classify(make(
                           333, 201, SPICE_BITMAP_FMT_32BIT,
                           [](uint32_t, uint32_t) {
                               return rgb8{1, 2, 3};
                           },
                           64)
                           .view),
              gradual::medium);
}

// The rule of the header, written out the slow way: index arithmetic over
// the pixels as one run, doubles and the reference's thresholds.
struct ruled {
    gradual g;
    double score;
};

ruled score_by_the_rule(const test_image &t) {
    const image_view &v = t.view;
    const bool is16 = v.format == SPICE_BITMAP_FMT_16BIT;
    const size_t bpp = is16 ? 2 : v.format == SPICE_BITMAP_FMT_24BIT ? 3 : 4;
    const int th = is16 ? 8 : 60;
    auto px = [&](size_t i, int ch) {
        const uint8_t *p = v.data + (i / v.width) * v.stride + (i % v.width) * bpp;
        if (!is16) return int(p[2 - ch]);
        uint16_t u;
        std::memcpy(&u, p, 2);
        return int((u >> (10 - 5 * ch)) & 31);
    };
    auto cmp = [&](size_t a, size_t b) {
        bool diff = false;
        for (int ch = 0; ch < 3; ++ch) {
            const int d = px(a, ch) - px(b, ch);
            if (std::abs(d) >= th) return 1.0;
            diff = diff || d != 0;
        }
        return diff ? -0.25 : 0.5;
    };
    const size_t w = v.width, end = (v.height - 1) * w;
    const size_t jump = 15 % w ? 15 : 14;
    double sum = 0;
    size_t n = 0;
    for (size_t i = w / 2; i < end; i += jump) {
        if ((i + 1) % w == 0) --i;
        const double a = cmp(i, i + 1), b = cmp(i, i + w), c = cmp(i, i + w + 1);
        sum += (a == 0.5 && b == 0.5 && c == 0.5) ? 0 : a + b + c;
        ++n;
    }
    const double score = sum / double(3 * n);
    if (score < (is16 ? 0.0 : -0.03)) return {gradual::high, score};
    if (score < 0.002) return {gradual::medium, score};
    return {gradual::low, score};
}

gradual by_the_rule(const test_image &t) { return score_by_the_rule(t).g; }

TEST(ImageClass, AgreesWithTheDocumentedRuleOnManyShapes) {
    // Widths that 15 divides (sampling every 14th pixel), widths where the
    // sampling hits the last column, and mixes near the thresholds.
    std::mt19937 rng(11);
    int seen[4] = {};
    for (uint32_t w : {3u, 4u, 5u, 15u, 16u, 29u, 30u, 45u, 64u, 121u}) {
        for (uint32_t h : {3u, 7u, 40u}) {
            for (uint8_t fmt : {uint8_t{SPICE_BITMAP_FMT_32BIT}, uint8_t{SPICE_BITMAP_FMT_24BIT},
                                uint8_t{SPICE_BITMAP_FMT_16BIT}}) {
                for (int kind = 0; kind < 5; ++kind) {
                    const double slope = 0.5 + (rng() % 40) / 10.0;
                    const uint32_t every = 2 + rng() % 60;
                    const picture p = photo(slope);
                    const picture mixed = [&](uint32_t x, uint32_t y) {
                        switch (kind) {
                        case 0:
                            return p(x, y);
                        case 1:
                            return (x * 7 + y * 3) % every == 0 ? text(x * 3, y * 5) : p(x, y);
                        case 2:
                            return text(x, y);
                        case 3:
                            return (x + y) % every == 0 ? rgb8{0, 0, 0} : rgb8{50, 50, 50};
                        default:
                            return ui(x * 11, y * 13);
                        }
                    };
                    const test_image t = make(w, h, fmt, mixed, (w + h) % 3 == 0 ? 0 : 8);
                    if (classify(t.view) == gradual::invalid) continue;
                    const gradual want = by_the_rule(t);
                    EXPECT_EQ(classify(t.view), want)
                        << w << "x" << h << " fmt " << int(fmt) << " kind " << kind;
                    ++seen[int(want)];
                }
            }
        }
    }
    // The shapes reach every class, so the comparison covers every threshold.
    EXPECT_GT(seen[int(gradual::low)], 0);
    EXPECT_GT(seen[int(gradual::medium)], 0);
    EXPECT_GT(seen[int(gradual::high)], 0);
}

TEST(ImageClass, AgreesWithTheDocumentedRuleAtTheThresholds) {
    // A photo turned into a page of text 2×2 block by 2×2 block, in random
    // order: the score climbs in steps of about 0.0002 from a photo's to a
    // page's. Bisect for the blocks where the rule's class changes (the score
    // crosses a threshold there) and compare on both sides of each crossing.
    constexpr uint32_t w = 128, h = 96, blocks = (w / 2) * (h / 2);
    std::vector<rgb8> photo_px(w * h), text_px(w * h);
    const picture p = photo(2.0);
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) {
            photo_px[y * w + x] = p(x, y);
            text_px[y * w + x] = text(x, y);
        }
    std::vector<uint32_t> rank(blocks);
    for (uint32_t i = 0; i < blocks; ++i)
        rank[i] = i;
    std::shuffle(rank.begin(), rank.end(), std::mt19937(3));

    for (uint8_t fmt : {uint8_t{SPICE_BITMAP_FMT_32BIT}, uint8_t{SPICE_BITMAP_FMT_16BIT}}) {
        auto image = [&](uint32_t share) {
            return make(w, h, fmt, [&](uint32_t x, uint32_t y) {
                return rank[y / 2 * (w / 2) + x / 2] < share ? text_px[y * w + x]
                                                             : photo_px[y * w + x];
            });
        };
        ASSERT_EQ(by_the_rule(image(0)), gradual::high);
        ASSERT_EQ(by_the_rule(image(blocks)), gradual::low);
        // First share at which the rule no longer says `above`.
        for (gradual above : {gradual::high, gradual::medium}) {
            uint32_t lo = 0, hi = blocks; // rule(lo) >= above, rule(hi) < above
            while (hi - lo > 1) {
                const uint32_t mid = (lo + hi) / 2;
                (by_the_rule(image(mid)) >= above ? lo : hi) = mid;
            }
            const test_image before = image(lo), after = image(hi);
            const ruled b = score_by_the_rule(before), a = score_by_the_rule(after);
            EXPECT_EQ(classify(before.view), b.g) << "share " << lo << " score " << b.score;
            EXPECT_EQ(classify(after.view), a.g) << "share " << hi << " score " << a.score;
            EXPECT_LT(std::abs(a.score - b.score), 0.002); // a crossing, not a jump across
        }
    }
}

TEST(ImageClass, NamesForLogs) {
    EXPECT_STREQ(rs::image_class::to_string(gradual::invalid), "invalid");
    EXPECT_STREQ(rs::image_class::to_string(gradual::low), "low");
    EXPECT_STREQ(rs::image_class::to_string(gradual::medium), "medium");
    EXPECT_STREQ(rs::image_class::to_string(gradual::high), "high");
}

} // namespace
