#include "display/codec/image_class.hpp"

#include <spice/enums.h>

#include <cstring>

namespace rs::image_class {

namespace {

// Distance between samples along the image taken as one run of pixels.
constexpr uint32_t sample_step = 15;

// Pair weights in quarters, so the sum stays an integer: same +0.5,
// contrast +1.0, soft (different, not contrasting) −0.25.
constexpr int64_t same_pair = 2;
constexpr int64_t contrast_pair = 4;
constexpr int64_t soft_pair = -1;

struct rgb {
    int r, g, b;
};

// Pixel readers per format; `contrast` is the channel difference that makes
// a pair "contrast" in that format's channel depth.
struct rgb16_pixels {
    static constexpr uint32_t bpp = 2;
    static constexpr int contrast = 8;
    static rgb at(const uint8_t *p) noexcept {
        uint16_t v;
        std::memcpy(&v, p, 2);
        return {(v >> 10) & 0x1f, (v >> 5) & 0x1f, v & 0x1f};
    }
};

template <uint32_t Bpp> struct bgr_pixels {
    static constexpr uint32_t bpp = Bpp;
    static constexpr int contrast = 60;
    static rgb at(const uint8_t *p) noexcept { return {p[2], p[1], p[0]}; }
};

enum class pair : uint8_t { same, contrast, soft }; // soft: different, not contrasting

template <int Contrast> pair compare(rgb a, rgb b) noexcept {
    const int dr = a.r - b.r, dg = a.g - b.g, db = a.b - b.b;
    auto sharp = [](int d) { return d >= Contrast || d <= -Contrast; };
    if (sharp(dr) || sharp(dg) || sharp(db)) return pair::contrast;
    if ((dr | dg | db) == 0) return pair::same;
    return pair::soft;
}

constexpr int64_t weight(pair p) noexcept {
    switch (p) {
    case pair::same:
        return same_pair;
    case pair::contrast:
        return contrast_pair;
    case pair::soft:
        return soft_pair;
    }
    return 0;
}

struct tally {
    int64_t quarters = 0; // sum of pair weights, in quarters
    uint64_t samples = 0;
};

// Row y's first byte is row_at(y); rows are width pixels of Pixels.
template <typename Pixels, typename RowAt>
tally score(uint32_t w, uint32_t height, RowAt row_at) noexcept {
    const uint32_t step = (sample_step % w) != 0 ? sample_step : sample_step - 1;
    tally t;
    uint32_t x = w / 2;
    uint32_t y = 0;
    while (y + 1 < height) {
        if (x == w - 1) --x; // the right neighbour must exist; the shift stays
        const uint8_t *p = row_at(y) + size_t{x} * Pixels::bpp;
        const uint8_t *below = row_at(y + 1) + size_t{x} * Pixels::bpp;
        const rgb c = Pixels::at(p);
        const pair right = compare<Pixels::contrast>(c, Pixels::at(p + Pixels::bpp));
        const pair down = compare<Pixels::contrast>(c, Pixels::at(below));
        const pair diag = compare<Pixels::contrast>(c, Pixels::at(below + Pixels::bpp));
        if (right != pair::same || down != pair::same || diag != pair::same)
            t.quarters += weight(right) + weight(down) + weight(diag);
        ++t.samples;
        x += step;
        while (x >= w) { // at most step / min_dimension rows at once
            x -= w;
            ++y;
        }
    }
    return t;
}

} // namespace

bool has_graduality(uint8_t bitmap_format) noexcept {
    return codec::rgb_bytes_per_pixel(bitmap_format) != 0;
}

namespace {

template <typename RowAt>
tally score_format(uint8_t format, uint32_t width, uint32_t height, RowAt row_at) noexcept {
    switch (format) {
    case SPICE_BITMAP_FMT_16BIT:
        return score<rgb16_pixels>(width, height, row_at);
    case SPICE_BITMAP_FMT_24BIT:
        return score<bgr_pixels<3>>(width, height, row_at);
    default:
        return score<bgr_pixels<4>>(width, height, row_at);
    }
}

gradual verdict(uint8_t format, const tally &t) noexcept;

} // namespace

gradual classify(const codec::image_view &img) noexcept {
    const uint32_t bpp = codec::rgb_bytes_per_pixel(img.format);
    if (bpp == 0 || !img.has_pixels()) return gradual::invalid;
    if (img.width < min_dimension || img.height < min_dimension) return gradual::invalid;
    if (uint64_t{img.height} * img.stride < min_bytes) return gradual::invalid;
    if (uint64_t{img.width} * bpp > img.stride) return gradual::invalid;
    return verdict(img.format, score_format(img.format, img.width, img.height,
                                            [&](uint32_t y) { return img.row(y); }));
}

gradual classify_rows(uint8_t format, uint32_t width, std::span<const uint8_t *const> rows,
                      size_t stride) noexcept {
    if (rows.size() > UINT32_MAX) return gradual::invalid;
    for (const uint8_t *r : rows)
        if (r == nullptr) return gradual::invalid;
    codec::image_view v;
    v.width = width;
    v.height = static_cast<uint32_t>(rows.size());
    v.stride = stride;
    v.format = format;
    v.rows = rows.data();
    return classify(v);
}

namespace {

gradual verdict(uint8_t format, const tally &t) noexcept {
    // score = quarters / (4 × 3 × samples), compared with the thresholds
    // exactly: score < −0.03 ⇔ 100 × quarters < −36 × samples, and
    // score < 0.002 ⇔ 1000 × quarters < 24 × samples.
    const auto n = static_cast<int64_t>(t.samples);
    const int64_t q = t.quarters;
    const bool high = format == SPICE_BITMAP_FMT_16BIT ? q < 0 : 100 * q < -36 * n;
    if (high) return gradual::high;
    if (1000 * q < 24 * n) return gradual::medium;
    return gradual::low;
}

} // namespace

const char *to_string(gradual g) noexcept {
    switch (g) {
    case gradual::invalid:
        return "invalid";
    case gradual::low:
        return "low";
    case gradual::medium:
        return "medium";
    case gradual::high:
        return "high";
    }
    return "?";
}

} // namespace rs::image_class
