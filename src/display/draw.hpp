// Parsed drawing commands: what the QXL parser produces from guest memory,
// and what the canvas renders and the display channel marshals. Plain data,
// validated once by the parser: every size and count here is within bounds,
// and every span points into a memslot (or into memory the parser owns).
//
// Pixel data is not copied: an image's chunks are spans of guest memory that
// stay valid until the command is released back to the guest (its
// release_info). The guest may still write the pixels meanwhile — that can
// change what is drawn, never where memory is read.
#pragma once

#include <spice/enums.h>
#include <spice/qxl_dev.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <type_traits>
#include <variant>
#include <vector>

namespace rs::draw {

struct point {
    int32_t x = 0;
    int32_t y = 0;
    friend bool operator==(const point &, const point &) = default;
};

struct point16 {
    int16_t x = 0;
    int16_t y = 0;
};

/// Fixed point 28.4 (SPICE_FIXED28_4), as paths carry it.
struct point_fix {
    int32_t x = 0;
    int32_t y = 0;
};

/// Half-open: [left, right) × [top, bottom). Valid means left <= right, top <= bottom.
struct rect {
    int32_t left = 0;
    int32_t top = 0;
    int32_t right = 0;
    int32_t bottom = 0;
    int32_t width() const noexcept { return right - left; }
    int32_t height() const noexcept { return bottom - top; }
    bool empty() const noexcept { return right <= left || bottom <= top; }
    friend bool operator==(const rect &, const rect &) = default;
    /// The overlap (empty when there is none).
    rect intersect(const rect &o) const noexcept {
        return {std::max(left, o.left), std::max(top, o.top), std::min(right, o.right),
                std::min(bottom, o.bottom)};
    }
    /// The bounding box of both.
    rect unite(const rect &o) const noexcept {
        return {std::min(left, o.left), std::min(top, o.top), std::max(right, o.right),
                std::max(bottom, o.bottom)};
    }
    bool contains(const rect &inner) const noexcept {
        return inner.left >= left && inner.top >= top && inner.right <= right &&
               inner.bottom <= bottom;
    }
};

/// SPICE_CLIP_TYPE_NONE (rects empty) or _RECTS.
struct clip {
    uint8_t type = SPICE_CLIP_TYPE_NONE;
    std::vector<rect> rects;
};

/// A palette; `unique` identifies it for the client's palette cache (0: not cacheable).
struct palette {
    uint64_t unique = 0;
    std::vector<uint32_t> entries; ///< at most 256
};

/// Bytes of an image or glyph run, possibly in several guest chunks.
struct chunks {
    std::vector<std::span<const uint8_t>> parts;
    size_t size() const noexcept {
        size_t n = 0;
        for (const auto &p : parts)
            n += p.size();
        return n;
    }
    /// True when one span holds everything (the common case for bitmaps).
    bool contiguous() const noexcept { return parts.size() <= 1; }
};

/// Bits per pixel of a SPICE_BITMAP_FMT_*, 0 for none (as the reference's
/// MAP_BITMAP_FMT_TO_BITS_PER_PIXEL, with INVALID refused).
constexpr unsigned bitmap_bits_per_pixel(uint8_t format) noexcept {
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
    case SPICE_BITMAP_FMT_32BIT:
    case SPICE_BITMAP_FMT_RGBA:
        return 32;
    default:
        return 0;
    }
}

/// SPICE_IMAGE_TYPE_BITMAP: raw pixels, format SPICE_BITMAP_FMT_*.
struct bitmap {
    uint8_t format = SPICE_BITMAP_FMT_32BIT;
    uint8_t flags = 0; ///< SPICE_BITMAP_FLAGS_TOP_DOWN, ...
    uint32_t width = 0;
    uint32_t height = 0;
    uint32_t stride = 0; ///< bytes per row; height × stride bytes are present in data
    std::shared_ptr<const palette> pal; ///< for PLT formats; null otherwise
    chunks data;
};

/// SPICE_IMAGE_TYPE_QUIC from the guest: compressed bytes (the canvas decodes).
struct quic_data {
    chunks data;
};

/// SPICE_IMAGE_TYPE_SURFACE: another surface of the same device.
struct surface_ref {
    uint32_t surface_id = 0;
};

/// An image: descriptor plus exactly one payload.
struct image {
    uint64_t id = 0; ///< the guest's id, for the pixmap cache
    uint8_t type = SPICE_IMAGE_TYPE_BITMAP;
    uint8_t flags = 0; ///< SPICE_IMAGE_FLAGS_CACHE_ME, ...
    uint32_t width = 0;
    uint32_t height = 0;
    std::variant<bitmap, quic_data, surface_ref> payload;
};
using image_ptr = std::shared_ptr<const image>;

struct pattern {
    image_ptr pat;
    point pos;
};

/// SPICE_BRUSH_TYPE_NONE / SOLID / PATTERN.
struct brush {
    uint32_t type = SPICE_BRUSH_TYPE_NONE;
    uint32_t color = 0;
    pattern pat;
};

/// A 1-bit mask (SPICE_MASK_FLAGS_INVERS); no bitmap means no mask.
struct qmask {
    uint8_t flags = 0;
    point pos;
    image_ptr bitmap;
};

struct fill {
    brush br;
    uint16_t rop_descriptor = SPICE_ROPD_OP_PUT;
    qmask mask;
};

struct opaque {
    image_ptr src;
    rect src_area;
    brush br;
    uint16_t rop_descriptor = SPICE_ROPD_OP_PUT;
    uint8_t scale_mode = SPICE_IMAGE_SCALE_MODE_NEAREST;
    qmask mask;
};

/// COPY and BLEND share their fields.
struct copy {
    image_ptr src;
    rect src_area;
    uint16_t rop_descriptor = SPICE_ROPD_OP_PUT;
    uint8_t scale_mode = SPICE_IMAGE_SCALE_MODE_NEAREST;
    qmask mask;
};
struct blend : copy {};

struct transparent {
    image_ptr src;
    rect src_area;
    uint32_t src_color = 0;
    uint32_t true_color = 0;
};

struct alpha_blend {
    uint16_t alpha_flags = 0; ///< SPICE_ALPHA_FLAGS_*
    uint8_t alpha = 255;
    image_ptr src;
    rect src_area;
};

struct rop3 {
    image_ptr src;
    rect src_area;
    brush br;
    uint8_t rop3_code = 0;
    uint8_t scale_mode = SPICE_IMAGE_SCALE_MODE_NEAREST;
    qmask mask;
};

/// 16.16 fixed-point affine transform.
struct transform {
    uint32_t t00 = 1u << 16, t01 = 0, t02 = 0;
    uint32_t t10 = 0, t11 = 1u << 16, t12 = 0;
};

struct composite {
    uint32_t flags = 0; ///< SPICE_COMPOSITE_* (op, filters, repeat, flags)
    image_ptr src;
    image_ptr mask; ///< may be null
    std::optional<transform> src_transform;
    std::optional<transform> mask_transform;
    point16 src_origin;
    point16 mask_origin;
};

/// BLACKNESS, WHITENESS and INVERS carry only a mask.
struct blackness {
    qmask mask;
};
struct whiteness {
    qmask mask;
};
struct invers {
    qmask mask;
};

struct path_segment {
    uint32_t flags = 0; ///< SPICE_PATH_BEGIN / END / CLOSE / BEZIER
    std::vector<point_fix> points;
};

struct stroke {
    std::vector<path_segment> path;
    uint8_t line_flags = 0;     ///< SPICE_LINE_FLAGS_*
    std::vector<int32_t> style; ///< fixed 28.4 dash lengths
    brush br;
    uint16_t fore_mode = SPICE_ROPD_OP_PUT;
    uint16_t back_mode = SPICE_ROPD_OP_PUT;
};

struct glyph {
    point render_pos;
    point glyph_origin;
    uint16_t width = 0;
    uint16_t height = 0;
    std::span<const uint8_t> data; ///< rows padded per bpp, as SPICE_STRING_FLAGS_RASTER_A*
};

struct text {
    uint16_t string_flags = 0; ///< SPICE_STRING_FLAGS_RASTER_A1 / A4 / A8
    std::vector<glyph> glyphs;
    rect back_area;
    brush fore_brush;
    brush back_brush;
    uint16_t fore_mode = SPICE_ROPD_OP_PUT;
    uint16_t back_mode = SPICE_ROPD_OP_PUT;
    /// Owns the bytes the glyphs' data spans point into: the parser copies a
    /// string's glyph run out of guest memory (where it may be split across
    /// chunks). Null only for a default-constructed text.
    std::shared_ptr<const std::vector<uint8_t>> storage;
};

/// QXL_COPY_BITS: copy within the surface from src_pos to bbox.
struct copy_bits {
    point src_pos;
};

using operation = std::variant<fill, opaque, copy, blend, blackness, whiteness, invers, rop3,
                               stroke, text, transparent, alpha_blend, composite, copy_bits>;

/// One QXL_CMD_DRAW after parsing: where, clipped how, and what.
struct drawable {
    uint32_t surface_id = 0;
    uint8_t effect = QXL_EFFECT_OPAQUE; ///< QXL_EFFECT_*
    rect bbox;
    clip clp;
    /// Surfaces this drawable reads (QXL's surfaces_dest / surfaces_rects), -1 for none.
    std::array<int32_t, 3> surface_deps{-1, -1, -1};
    std::array<rect, 3> surface_rects{};
    uint32_t mm_time = 0;
    bool self_bitmap = false;
    rect self_bitmap_area;
    operation op;
};

/// QXL_CMD_SURFACE after parsing.
struct surface_cmd {
    uint32_t surface_id = 0;
    uint32_t type = QXL_SURFACE_CMD_CREATE; ///< or QXL_SURFACE_CMD_DESTROY
    uint32_t flags = 0;                     ///< QXL_SURF_FLAG_KEEP_DATA
    uint32_t format = SPICE_SURFACE_FMT_32_xRGB;
    uint32_t width = 0;
    uint32_t height = 0;
    int32_t stride = 0;      ///< negative: bottom-up
    std::span<uint8_t> data; ///< guest memory, |stride| × height bytes (create only)
};

/// QXL_CMD_UPDATE after parsing.
struct update_cmd {
    uint32_t surface_id = 0;
    rect area;
    uint32_t update_id = 0;
};

/// A cursor shape (SPICE_CURSOR_TYPE_*), its pixels copied out of the guest
/// because the cursor cache outlives the command.
struct cursor_shape {
    uint64_t unique = 0;
    uint16_t type = SPICE_CURSOR_TYPE_ALPHA;
    uint16_t width = 0;
    uint16_t height = 0;
    uint16_t hot_spot_x = 0;
    uint16_t hot_spot_y = 0;
    uint16_t flags = 0; ///< SPICE_CURSOR_FLAGS_*
    std::vector<uint8_t> data;
};

/// QXL_CMD_CURSOR after parsing.
struct cursor_cmd {
    uint8_t type = QXL_CURSOR_SET; ///< SET, MOVE, HIDE, TRAIL
    point16 position;
    bool visible = true;
    std::shared_ptr<const cursor_shape> shape; ///< SET only
    uint16_t trail_length = 0;
    uint16_t trail_frequency = 0;
};

/// Which field of a drawing an image fills.
enum class image_role : uint8_t { source, mask, pattern };

/// Calls f(image, role) for each image an operation carries, in the order
/// their pointers go on the wire (source, brush pattern, mask).
template <typename F> void for_each_image(const operation &op, F &&f) {
    auto brush_of = [&](const brush &b) {
        if (b.type == SPICE_BRUSH_TYPE_PATTERN && b.pat.pat) f(*b.pat.pat, image_role::pattern);
    };
    auto mask_of = [&](const qmask &m) {
        if (m.bitmap) f(*m.bitmap, image_role::mask);
    };
    auto src_of = [&](const image_ptr &p) {
        if (p) f(*p, image_role::source);
    };
    std::visit(
        [&](const auto &o) {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, fill>) {
                brush_of(o.br);
                mask_of(o.mask);
            } else if constexpr (std::is_same_v<T, opaque> || std::is_same_v<T, rop3>) {
                src_of(o.src);
                brush_of(o.br);
                mask_of(o.mask);
            } else if constexpr (std::is_same_v<T, copy> || std::is_same_v<T, blend>) {
                src_of(o.src);
                mask_of(o.mask);
            } else if constexpr (std::is_same_v<T, blackness> || std::is_same_v<T, whiteness> ||
                                 std::is_same_v<T, invers>) {
                mask_of(o.mask);
            } else if constexpr (std::is_same_v<T, stroke>) {
                brush_of(o.br);
            } else if constexpr (std::is_same_v<T, text>) {
                brush_of(o.fore_brush);
                brush_of(o.back_brush);
            } else if constexpr (std::is_same_v<T, transparent> || std::is_same_v<T, alpha_blend>) {
                src_of(o.src);
            } else if constexpr (std::is_same_v<T, composite>) {
                src_of(o.src);
                if (o.mask) f(*o.mask, image_role::mask);
            }
        },
        op);
}

/// Whether a ROP descriptor (SPICE_ROPD_*) reads the destination pixels.
constexpr bool rop_reads_dest(uint32_t rop) noexcept {
    return (rop & (SPICE_ROPD_INVERS_DEST | SPICE_ROPD_OP_OR | SPICE_ROPD_OP_AND |
                   SPICE_ROPD_OP_XOR | SPICE_ROPD_OP_INVERS)) != 0;
}

/// Whether every pixel of the drawable's bbox is replaced without being
/// read: an unclipped, unmasked fill, copy or opaque with ROP PUT.
inline bool replaces_bbox(const drawable &d) {
    if (d.clp.type != SPICE_CLIP_TYPE_NONE) return false;
    if (const auto *f = std::get_if<fill>(&d.op))
        return f->rop_descriptor == SPICE_ROPD_OP_PUT && !f->mask.bitmap &&
               f->br.type != SPICE_BRUSH_TYPE_NONE;
    if (const auto *c = std::get_if<copy>(&d.op))
        return c->rop_descriptor == SPICE_ROPD_OP_PUT && !c->mask.bitmap;
    if (const auto *o = std::get_if<opaque>(&d.op))
        return o->rop_descriptor == SPICE_ROPD_OP_PUT && !o->mask.bitmap;
    return false;
}

/// Calls f(surface_id, area) for each area of a surface whose current
/// pixels the drawable's result depends on: its own bbox when it reads the
/// destination, the source of a COPY_BITS, and (as a whole: area is
/// unbounded) every surface an image of it names.
template <typename F> void for_each_read(const drawable &d, F &&f) {
    constexpr rect everything{0, 0, INT32_MAX, INT32_MAX};
    bool dest = false;
    std::visit(
        [&](const auto &o) {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, copy_bits>) {
                f(d.surface_id, rect{o.src_pos.x, o.src_pos.y, o.src_pos.x + d.bbox.width(),
                                     o.src_pos.y + d.bbox.height()});
            } else if constexpr (std::is_same_v<T, blend> || std::is_same_v<T, rop3> ||
                                 std::is_same_v<T, alpha_blend> || std::is_same_v<T, composite> ||
                                 std::is_same_v<T, invers>) {
                dest = true;
            } else if constexpr (std::is_same_v<T, fill> || std::is_same_v<T, copy> ||
                                 std::is_same_v<T, opaque>) {
                dest = rop_reads_dest(o.rop_descriptor);
            } else if constexpr (std::is_same_v<T, text> || std::is_same_v<T, stroke>) {
                dest = rop_reads_dest(o.fore_mode) || rop_reads_dest(o.back_mode);
            }
        },
        d.op);
    if (dest) f(d.surface_id, d.bbox);
    for_each_image(d.op, [&](const image &img, image_role) {
        if (const auto *s = std::get_if<surface_ref>(&img.payload)) f(s->surface_id, everything);
    });
}

} // namespace rs::draw
