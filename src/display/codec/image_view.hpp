// The input every image encoder takes: rows of pixels in one buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <spice/enums.h>

namespace rs::codec {

/// Pixels to compress, borrowed from the caller for the duration of one
/// encode call. Row r (0 ≤ r < height) starts at row(r): data + r × stride; `top_down`
/// says whether that first row in memory is the image's top row
/// (SPICE_BITMAP_FLAGS_TOP_DOWN) or its bottom row. `format` is a
/// SPICE_BITMAP_FMT_* value: 32BIT (b, g, r, x bytes), RGBA (b, g, r, a),
/// 24BIT (b, g, r), 16BIT (x1r5g5b5, native u16), 8BIT_A (one alpha byte),
/// or a palette format (1BIT_LE/BE, 4BIT_LE/BE, 8BIT) whose entries are in
/// `palette` (0xAARRGGBB, as QXL palettes hold them). Plain data, any shard.
struct image_view {
    const uint8_t *data = nullptr;
    uint32_t width = 0;
    uint32_t height = 0;
    size_t stride = 0; ///< bytes from one row to the next, ≥ the row's bytes
    uint8_t format = 0;
    bool top_down = true;
    std::span<const uint32_t> palette{};
    uint64_t palette_unique = 0; ///< the palette's id for the palette cache
    /// When not null, row r starts at rows[r] instead (a bitmap in guest
    /// chunks, see display/bitmap_rows.hpp) and `data` is unused. Encoders
    /// that need one buffer (LZ's direct RGB32 matcher) gather such a view.
    const uint8_t *const *rows = nullptr;

    const uint8_t *row(size_t r) const noexcept {
        return rows != nullptr ? rows[r] : data + r * stride;
    }
    bool has_pixels() const noexcept { return data != nullptr || rows != nullptr; }
};

/// Bytes per pixel of the formats whose pixels are colours (16BIT, 24BIT,
/// 32BIT, RGBA); 0 for palettes, 1-bit and 8-bit alpha.
constexpr uint32_t rgb_bytes_per_pixel(uint8_t format) noexcept {
    switch (format) {
    case SPICE_BITMAP_FMT_16BIT:
        return 2;
    case SPICE_BITMAP_FMT_24BIT:
        return 3;
    case SPICE_BITMAP_FMT_32BIT:
    case SPICE_BITMAP_FMT_RGBA:
        return 4;
    default:
        return 0;
    }
}

} // namespace rs::codec
