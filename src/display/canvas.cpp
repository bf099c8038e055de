// Software canvas: the semantics of spice-common's sw_canvas.c/canvas_base.c
// (the canvas both spice-gtk and the reference server render with), written
// for our parsed drawables. Raw operations (ROP fills, tiles, blits, color
// keys, copy_bits, rop3) work on the surface's bytes exactly as
// pixman_utils.c does; scaling, blending, text and composite go through
// pixman with the same parameters, so the same pixman gives the same pixels.
#include "display/canvas.hpp"

#include "display/codec/quic_decoder.hpp"
#include "runtime/byte_pool.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

namespace rs {
namespace {

class canvas_category_impl final : public std::error_category {
  public:
    const char *name() const noexcept override { return "canvas"; }
    std::string message(int ev) const override {
        switch (static_cast<canvas_errc>(ev)) {
        case canvas_errc::no_such_surface:
            return "the surface does not exist";
        case canvas_errc::surface_exists:
            return "a surface with this id already exists";
        case canvas_errc::bad_surface:
            return "invalid surface format, size, stride or memory";
        case canvas_errc::src_area_outside:
            return "src_area is invalid, empty or outside its image";
        case canvas_errc::bad_image:
            return "image data, palette or format cannot be read";
        case canvas_errc::format_mismatch:
            return "source and destination surfaces have different pixel depths";
        case canvas_errc::unsupported:
            return "operation not defined for these formats or parameters";
        case canvas_errc::out_of_memory:
            return "out of memory for a pixman image or region";
        }
        return "unknown canvas error";
    }
};

} // namespace

const std::error_category &canvas_category() noexcept {
    static const canvas_category_impl cat;
    return cat;
}

struct surface_store::surface {
    uint32_t format = 0;
    int width = 0;
    int height = 0;
    int32_t stride = 0;
    uint8_t *line0 = nullptr; ///< the top row
    std::unique_ptr<uint8_t[]> owned;
    pixman_image_t *img = nullptr;
    ~surface() {
        if (img) pixman_image_unref(img);
    }
};

namespace {

using surface = surface_store::surface;

struct pix_unref {
    void operator()(pixman_image_t *p) const noexcept { pixman_image_unref(p); }
};
using pix = std::unique_ptr<pixman_image_t, pix_unref>;

/// RAII pixman region.
struct region {
    pixman_region32_t r;
    region() { pixman_region32_init(&r); }
    ~region() { pixman_region32_fini(&r); }
    region(const region &) = delete;
    region &operator=(const region &) = delete;
    bool empty() const { return !pixman_region32_not_empty(const_cast<pixman_region32_t *>(&r)); }
    std::span<const pixman_box32_t> boxes() const {
        int n = 0;
        const pixman_box32_t *b =
            pixman_region32_rectangles(const_cast<pixman_region32_t *>(&r), &n);
        return {b, static_cast<size_t>(n)};
    }
    bool contains(int x, int y) const {
        return pixman_region32_contains_point(const_cast<pixman_region32_t *>(&r), x, y, nullptr);
    }
    pixman_region32_t *get() { return &r; }
};

// Limits a decoded image so that a hostile size cannot make us allocate
// gigabytes (pixman itself only refuses what overflows).
constexpr uint64_t max_pixels = uint64_t{1} << 28;

std::error_code err(canvas_errc e) { return make_error_code(e); }

std::optional<pixman_format_code_t> surface_pixman_format(uint32_t f) {
    switch (f) {
    case SPICE_SURFACE_FMT_1_A:
        return PIXMAN_a1;
    case SPICE_SURFACE_FMT_8_A:
        return PIXMAN_a8;
    case SPICE_SURFACE_FMT_16_555:
        return PIXMAN_x1r5g5b5;
    case SPICE_SURFACE_FMT_16_565:
        return PIXMAN_r5g6b5;
    case SPICE_SURFACE_FMT_32_xRGB:
        return PIXMAN_x8r8g8b8;
    case SPICE_SURFACE_FMT_32_ARGB:
        return PIXMAN_a8r8g8b8;
    default:
        return std::nullopt;
    }
}

int format_bpp(pixman_format_code_t f) { return PIXMAN_FORMAT_BPP(f); }

/// The bytes of an image as one row-addressable block (top row first).
struct view {
    uint8_t *line0 = nullptr;
    ptrdiff_t stride = 0;
    int w = 0;
    int h = 0;
    int bpp = 0;
    uint8_t *row(int y) const { return line0 + y * stride; }
};

view view_of(pixman_image_t *img) {
    return {reinterpret_cast<uint8_t *>(pixman_image_get_data(img)), pixman_image_get_stride(img),
            pixman_image_get_width(img), pixman_image_get_height(img),
            format_bpp(pixman_image_get_format(img))};
}

template <typename T> T load(const uint8_t *p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <typename T> void store(uint8_t *p, T v) { std::memcpy(p, &v, sizeof v); }

/// A fresh pixman image over a surface's pixels: sources get their own
/// transform/filter/repeat state instead of changing the surface's image.
pix surface_view(const surface &s, pixman_format_code_t fmt) {
    return pix(pixman_image_create_bits(fmt, s.width, s.height,
                                        reinterpret_cast<uint32_t *>(s.line0), s.stride));
}

// ---------------------------------------------------------------- ROPs

/// spice-common's SpiceROP: the X11 GX codes, bit (1-s)*2+(1-d) of the code
/// is the result for source bit s and destination bit d.
enum class rop : uint8_t {
    clear,
    and_,
    and_reverse,
    copy,
    and_inverted,
    noop,
    xor_,
    or_,
    nor,
    equiv,
    invert,
    or_reverse,
    copy_inverted,
    or_inverted,
    nand,
    set
};

template <typename T> inline T rop_apply(rop r, T s, T d) {
    switch (r) {
    case rop::clear:
        return 0;
    case rop::and_:
        return s & d;
    case rop::and_reverse:
        return s & ~d;
    case rop::copy:
        return s;
    case rop::and_inverted:
        return ~s & d;
    case rop::noop:
        return d;
    case rop::xor_:
        return s ^ d;
    case rop::or_:
        return s | d;
    case rop::nor:
        return ~s & ~d;
    case rop::equiv:
        return ~s ^ d;
    case rop::invert:
        return ~d;
    case rop::or_reverse:
        return s | ~d;
    case rop::copy_inverted:
        return ~s;
    case rop::or_inverted:
        return ~s | d;
    case rop::nand:
        return ~s | ~d;
    case rop::set:
        return static_cast<T>(~T{0});
    }
    return d;
}

enum class rop_input { src, brush, dest };

/// canvas_base.c's ropd_descriptor_to_rop: the descriptor's inversions of the
/// two inputs in play (and of the result) folded into one binary ROP.
rop ropd_to_rop(uint16_t desc, rop_input src_input, rop_input dest_input) {
    auto inv_bit = [](rop_input in) -> uint16_t {
        switch (in) {
        case rop_input::src:
            return SPICE_ROPD_INVERS_SRC;
        case rop_input::brush:
            return SPICE_ROPD_INVERS_BRUSH;
        case rop_input::dest:
            return SPICE_ROPD_INVERS_DEST;
        }
        return 0;
    };
    const bool inv_src = desc & inv_bit(src_input);
    const bool inv_dst = desc & inv_bit(dest_input);
    const bool inv_res = desc & SPICE_ROPD_INVERS_RES;
    auto from_truth = [&](auto op) {
        unsigned code = 0;
        for (unsigned s = 0; s < 2; ++s)
            for (unsigned d = 0; d < 2; ++d) {
                unsigned v = op(s ^ inv_src, d ^ inv_dst) ^ inv_res;
                code |= (v & 1u) << ((1 - s) * 2 + (1 - d));
            }
        return static_cast<rop>(code);
    };
    if (desc & SPICE_ROPD_OP_PUT) return (inv_src != inv_res) ? rop::copy_inverted : rop::copy;
    if (desc & SPICE_ROPD_OP_OR) return from_truth([](unsigned a, unsigned b) { return a | b; });
    if (desc & SPICE_ROPD_OP_AND) return from_truth([](unsigned a, unsigned b) { return a & b; });
    if (desc & SPICE_ROPD_OP_XOR) return from_truth([](unsigned a, unsigned b) { return a ^ b; });
    if (desc & SPICE_ROPD_OP_BLACKNESS) return rop::clear;
    if (desc & SPICE_ROPD_OP_WHITENESS) return rop::set;
    if (desc & SPICE_ROPD_OP_INVERS) return rop::invert;
    return rop::copy;
}

// ---------------------------------------------------------------- raw ops

/// Calls f.template operator()<T>() with the pixel type of `bpp`.
template <typename F> bool with_pixel_type(int bpp, F &&f) {
    switch (bpp) {
    case 8:
        f.template operator()<uint8_t>();
        return true;
    case 16:
        f.template operator()<uint16_t>();
        return true;
    case 32:
        f.template operator()<uint32_t>();
        return true;
    default:
        return false;
    }
}

/// spice_pixman_fill_rect(_rop): the value is stored raw, truncated to the depth.
void fill_box(const view &d, const pixman_box32_t &b, uint32_t color, rop r) {
    // A plain fill goes through pixman_fill (SIMD), as the reference's
    // spice_pixman_fill_rect does; it needs 32-bit aligned rows.
    if (r == rop::copy && d.stride > 0 && d.stride % 4 == 0 &&
        reinterpret_cast<uintptr_t>(d.line0) % 4 == 0 && b.x2 > b.x1 && b.y2 > b.y1 &&
        pixman_fill(reinterpret_cast<uint32_t *>(d.line0), static_cast<int>(d.stride / 4), d.bpp,
                    b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1, color))
        return;
    with_pixel_type(d.bpp, [&]<typename T>() {
        const T c = static_cast<T>(color);
        for (int y = b.y1; y < b.y2; ++y) {
            uint8_t *p = d.row(y) + b.x1 * sizeof(T);
            for (int x = b.x1; x < b.x2; ++x, p += sizeof(T))
                store<T>(p, r == rop::copy ? c : rop_apply<T>(r, c, load<T>(p)));
        }
    });
}

/// spice_pixman_tile_rect(_rop): tile origin at (offset_x, offset_y).
void tile_box(const view &d, const pixman_box32_t &b, const view &t, int offset_x, int offset_y,
              rop r) {
    with_pixel_type(d.bpp, [&]<typename T>() {
        // 64-bit: pattern positions are arbitrary guest values.
        int ty = static_cast<int>((int64_t{b.y1} - offset_y) % t.h);
        if (ty < 0) ty += t.h;
        int tx0 = static_cast<int>((int64_t{b.x1} - offset_x) % t.w);
        if (tx0 < 0) tx0 += t.w;
        for (int y = b.y1; y < b.y2; ++y) {
            uint8_t *p = d.row(y) + b.x1 * sizeof(T);
            const uint8_t *trow = t.row(ty);
            int tx = tx0;
            for (int x = b.x1; x < b.x2; ++x, p += sizeof(T)) {
                const T s = load<T>(trow + tx * sizeof(T));
                store<T>(p, r == rop::copy ? s : rop_apply<T>(r, s, load<T>(p)));
                if (++tx == t.w) tx = 0;
            }
            if (++ty == t.h) ty = 0;
        }
    });
}

/// The source clipping of spice_pixman_blit*: the part of the rectangle that
/// the source does not cover is left alone.
bool clip_to_source(const view &s, int &src_x, int &src_y, int &dest_x, int &dest_y, int &width,
                    int &height) {
    if (src_x < 0) {
        width += src_x;
        dest_x -= src_x;
        src_x = 0;
    }
    if (src_y < 0) {
        height += src_y;
        dest_y -= src_y;
        src_y = 0;
    }
    if (src_x + width > s.w) width = s.w - src_x;
    if (src_y + height > s.h) height = s.h - src_y;
    return width > 0 && height > 0;
}

void blit(const view &d, const view &s, int src_x, int src_y, int dest_x, int dest_y, int width,
          int height, rop r) {
    if (!clip_to_source(s, src_x, src_y, dest_x, dest_y, width, height)) return;
    with_pixel_type(d.bpp, [&]<typename T>() {
        for (int y = 0; y < height; ++y) {
            uint8_t *dp = d.row(dest_y + y) + dest_x * sizeof(T);
            const uint8_t *sp = s.row(src_y + y) + src_x * sizeof(T);
            if (r == rop::copy) {
                std::memmove(dp, sp, width * sizeof(T));
                continue;
            }
            for (int x = 0; x < width; ++x, dp += sizeof(T), sp += sizeof(T))
                store<T>(dp, rop_apply<T>(r, load<T>(sp), load<T>(dp)));
        }
    });
}

/// spice_pixman_blit_colorkey: 32-bit pixels compare their low 24 bits.
void blit_colorkey(const view &d, const view &s, int src_x, int src_y, int dest_x, int dest_y,
                   int width, int height, uint32_t key) {
    if (!clip_to_source(s, src_x, src_y, dest_x, dest_y, width, height)) return;
    with_pixel_type(d.bpp, [&]<typename T>() {
        const uint32_t mask = sizeof(T) == 4 ? 0xffffffu : static_cast<T>(~T{0});
        const uint32_t k = key & mask;
        for (int y = 0; y < height; ++y) {
            uint8_t *dp = d.row(dest_y + y) + dest_x * sizeof(T);
            const uint8_t *sp = s.row(src_y + y) + src_x * sizeof(T);
            for (int x = 0; x < width; ++x, dp += sizeof(T), sp += sizeof(T)) {
                const T v = load<T>(sp);
                if ((v & mask) != k) store<T>(dp, v);
            }
        }
    });
}

/// spice_pixman_copy_rect within one surface, in the row order that keeps
/// overlapping copies correct.
void copy_rect_within(const view &d, int src_x, int src_y, int width, int height, int dest_x,
                      int dest_y) {
    const size_t bytes = static_cast<size_t>(width) * (d.bpp / 8);
    const size_t sx = static_cast<size_t>(src_x) * (d.bpp / 8);
    const size_t dx = static_cast<size_t>(dest_x) * (d.bpp / 8);
    if (dest_y > src_y) {
        for (int y = height - 1; y >= 0; --y)
            std::memmove(d.row(dest_y + y) + dx, d.row(src_y + y) + sx, bytes);
    } else {
        for (int y = 0; y < height; ++y)
            std::memmove(d.row(dest_y + y) + dx, d.row(src_y + y) + sx, bytes);
    }
}

/// sw_canvas.c's clear_dest_alpha: when the first pixel of the (clipped)
/// area came out with alpha 0xff, the whole area's alpha bytes are cleared.
void clear_dest_alpha(pixman_image_t *img, int64_t x, int64_t y, int64_t width, int64_t height) {
    const view d = view_of(img);
    if (d.bpp != 32) return;
    if (x + width <= 0 || x >= d.w || y + height <= 0 || y >= d.h || width == 0 || height == 0)
        return;
    if (x < 0) {
        width += x;
        x = 0;
    }
    if (x + width > d.w) width = d.w - x;
    if (y < 0) {
        height += y;
        y = 0;
    }
    if (y + height > d.h) height = d.h - y;
    if ((load<uint32_t>(d.row(static_cast<int>(y)) + x * 4) & 0xff000000u) != 0xff000000u) return;
    pixman_box32_t b{static_cast<int32_t>(x), static_cast<int32_t>(y),
                     static_cast<int32_t>(x + width), static_cast<int32_t>(y + height)};
    fill_box(d, b, 0x00ffffffu, rop::and_);
}

// ---------------------------------------------------------------- images

/// An image's bytes in one block (guest chunks are linearized, as
/// spice_chunks_linearize does).
struct linear_bytes {
    std::span<const uint8_t> bytes;
    std::vector<uint8_t> copy;
};

linear_bytes linearize(const draw::chunks &c) {
    linear_bytes out;
    if (c.contiguous()) {
        if (!c.parts.empty()) out.bytes = c.parts[0];
        return out;
    }
    out.copy.reserve(c.size());
    for (const auto &p : c.parts)
        out.copy.insert(out.copy.end(), p.begin(), p.end());
    out.bytes = out.copy;
    return out;
}

bool has_alpha(pixman_format_code_t f) { return PIXMAN_FORMAT_A(f) != 0; }

/// canvas_get_target_format.
pixman_format_code_t target_format(pixman_format_code_t canvas, bool source_has_alpha) {
    if (source_has_alpha && canvas == PIXMAN_x8r8g8b8) return PIXMAN_a8r8g8b8;
    if (!source_has_alpha && canvas == PIXMAN_a8r8g8b8) return PIXMAN_x8r8g8b8;
    return canvas;
}

bool is_palette_format(uint8_t f) {
    return f == SPICE_BITMAP_FMT_1BIT_LE || f == SPICE_BITMAP_FMT_1BIT_BE ||
           f == SPICE_BITMAP_FMT_4BIT_LE || f == SPICE_BITMAP_FMT_4BIT_BE ||
           f == SPICE_BITMAP_FMT_8BIT;
}

/// spice_bitmap_format_to_pixman: what the bitmap's pixels are natively.
std::optional<pixman_format_code_t> native_format(uint8_t bitmap_format,
                                                  pixman_format_code_t canvas) {
    if (is_palette_format(bitmap_format)) return canvas;
    switch (bitmap_format) {
    case SPICE_BITMAP_FMT_16BIT:
        return PIXMAN_x1r5g5b5;
    case SPICE_BITMAP_FMT_24BIT:
    case SPICE_BITMAP_FMT_32BIT:
        return PIXMAN_x8r8g8b8;
    case SPICE_BITMAP_FMT_RGBA:
        return PIXMAN_a8r8g8b8;
    case SPICE_BITMAP_FMT_8BIT_A:
        return PIXMAN_a8;
    default:
        return std::nullopt;
    }
}

uint64_t bitmap_row_bytes(uint8_t f, uint64_t w) {
    switch (f) {
    case SPICE_BITMAP_FMT_1BIT_LE:
    case SPICE_BITMAP_FMT_1BIT_BE:
        return (w + 7) / 8;
    case SPICE_BITMAP_FMT_4BIT_LE:
    case SPICE_BITMAP_FMT_4BIT_BE:
        return (w + 1) / 2;
    case SPICE_BITMAP_FMT_8BIT:
    case SPICE_BITMAP_FMT_8BIT_A:
        return w;
    case SPICE_BITMAP_FMT_16BIT:
        return w * 2;
    case SPICE_BITMAP_FMT_24BIT:
        return w * 3;
    default:
        return w * 4;
    }
}

result<pix> create_image(pixman_format_code_t f, int w, int h) {
    pixman_image_t *img = pixman_image_create_bits(f, w, h, nullptr, 0);
    if (!img) return err(canvas_errc::out_of_memory);
    return pix(img);
}

result<pix> convert(pixman_image_t *src, pixman_format_code_t f) {
    auto out = create_image(f, pixman_image_get_width(src), pixman_image_get_height(src));
    if (!out) return out;
    pixman_image_composite32(PIXMAN_OP_SRC, src, nullptr, out->get(), 0, 0, 0, 0, 0, 0,
                             pixman_image_get_width(src), pixman_image_get_height(src));
    return out;
}

/// spice_bitmap_to_pixman: the bitmap's pixels stored into `dest` (whose
/// depth is the native one), bottom-up bitmaps flipped. Palette indices past
/// the palette wrap around as in spice-common's LZ palette decoder (its raw
/// path reads past the table). 1BIT_LE and 4BIT_LE take the LZ decoder's bit
/// order (spice-common's raw path aborts on them).
result<void> decode_bitmap(const draw::bitmap &bm, std::span<const uint8_t> src, const view &dest) {
    const int w = static_cast<int>(bm.width);
    const int h = static_cast<int>(bm.height);
    const bool top_down = bm.flags & SPICE_BITMAP_FLAGS_TOP_DOWN;
    std::span<const uint32_t> ents;
    if (is_palette_format(bm.format)) {
        if (!bm.pal || bm.pal->entries.empty()) return err(canvas_errc::bad_image);
        ents = bm.pal->entries;
    }
    auto ent = [&](unsigned i) { return ents[i % ents.size()]; };
    bool ok = true;
    for (int r = 0; r < h && ok; ++r) {
        const uint8_t *s = src.data() + static_cast<size_t>(r) * bm.stride;
        uint8_t *d = dest.row(top_down ? r : h - 1 - r);
        switch (bm.format) {
        case SPICE_BITMAP_FMT_32BIT:
        case SPICE_BITMAP_FMT_RGBA:
            std::memcpy(d, s, static_cast<size_t>(w) * 4);
            break;
        case SPICE_BITMAP_FMT_16BIT:
            std::memcpy(d, s, static_cast<size_t>(w) * 2);
            break;
        case SPICE_BITMAP_FMT_8BIT_A:
            std::memcpy(d, s, static_cast<size_t>(w));
            break;
        case SPICE_BITMAP_FMT_24BIT:
            for (int x = 0; x < w; ++x)
                store<uint32_t>(d + x * 4, uint32_t{s[x * 3 + 2]} << 16 |
                                               uint32_t{s[x * 3 + 1]} << 8 | s[x * 3]);
            break;
        default: {
            ok = with_pixel_type(dest.bpp, [&]<typename T>() {
                for (int x = 0; x < w; ++x) {
                    unsigned idx = 0;
                    switch (bm.format) {
                    case SPICE_BITMAP_FMT_8BIT:
                        idx = s[x];
                        break;
                    case SPICE_BITMAP_FMT_4BIT_BE:
                        idx = (x & 1) ? s[x / 2] & 0x0f : s[x / 2] >> 4;
                        break;
                    case SPICE_BITMAP_FMT_4BIT_LE:
                        idx = (x & 1) ? s[x / 2] >> 4 : s[x / 2] & 0x0f;
                        break;
                    case SPICE_BITMAP_FMT_1BIT_BE:
                        idx = (s[x / 8] >> (7 - (x & 7))) & 1;
                        break;
                    case SPICE_BITMAP_FMT_1BIT_LE:
                        idx = (s[x / 8] >> (x & 7)) & 1;
                        break;
                    }
                    store<T>(d + x * sizeof(T), static_cast<T>(ent(idx)));
                }
            });
            // Only 32- and 16-bit (555) canvases have palette conversions.
            if (dest.bpp == 8) ok = false;
        }
        }
    }
    if (!ok) return err(canvas_errc::unsupported);
    return {};
}

/// canvas_get_image for a BITMAP: the pixels in the canvas's target format,
/// or (want_original, used by alpha_blend) in the bitmap's native format.
result<pix> load_bitmap(const draw::image &im, const draw::bitmap &bm, uint32_t canvas_format,
                        bool want_original) {
    const auto canvas = surface_pixman_format(canvas_format);
    if (!canvas) return err(canvas_errc::unsupported);
    if (bm.width == 0 || bm.height == 0 || bm.width > 0xffff || bm.height > 0xffff ||
        uint64_t{bm.width} * bm.height > max_pixels)
        return err(canvas_errc::bad_image);
    const auto native = native_format(bm.format, *canvas);
    if (!native) return err(canvas_errc::bad_image);
    if (is_palette_format(bm.format) && canvas_format != SPICE_SURFACE_FMT_32_xRGB &&
        canvas_format != SPICE_SURFACE_FMT_32_ARGB && canvas_format != SPICE_SURFACE_FMT_16_555)
        return err(canvas_errc::unsupported); // spice-common aborts: no palette conversion
    auto bytes = linearize(bm.data);
    const uint64_t need =
        uint64_t{bm.stride} * (bm.height - 1) + bitmap_row_bytes(bm.format, bm.width);
    if (bytes.bytes.size() < need) return err(canvas_errc::bad_image);

    const int w = static_cast<int>(bm.width);
    const int h = static_cast<int>(bm.height);
    // CACHE_ME makes spice-common load the original format first and convert
    // afterwards; following the same steps keeps the same pixels.
    const bool original = want_original || (im.flags & SPICE_IMAGE_FLAGS_CACHE_ME);
    const pixman_format_code_t first =
        original ? *native : target_format(*canvas, bm.format == SPICE_BITMAP_FMT_RGBA);
    const bool compatible =
        first == *native || (*native == PIXMAN_a8r8g8b8 && first == PIXMAN_x8r8g8b8);

    auto img = create_image(compatible ? first : *native, w, h);
    if (!img) return img;
    if (auto r = decode_bitmap(bm, bytes.bytes, view_of(img->get())); !r) return r.error();
    if (!compatible) {
        img = convert(img->get(), first);
        if (!img) return img;
    }
    if ((im.flags & SPICE_IMAGE_FLAGS_HIGH_BITS_SET) && first == PIXMAN_x8r8g8b8)
        fill_box(view_of(img->get()), {0, 0, w, h}, 0xff000000u, rop::or_);
    if (!want_original) {
        const pixman_format_code_t wanted = target_format(*canvas, first == PIXMAN_a8r8g8b8);
        if (wanted != first) return convert(img->get(), wanted);
    }
    return img;
}

/// canvas_get_quic, then canvas_get_image's HIGH_BITS_SET and conversion
/// steps as for bitmaps. RGBA decodes as a8r8g8b8, RGB32/RGB24 as x8r8g8b8,
/// RGB16 as x1r5g5b5 unless the canvas is 32-bit and the original format is
/// not wanted (then widened to x8r8g8b8); GRAY is refused as spice-common
/// refuses it, and so is a header whose size differs from the descriptor's.
/// Guest chunks are joined before decoding (spice-common reads each chunk's
/// whole words; only a chunk length that is not a multiple of 4 differs).
result<pix> load_quic(const draw::image &im, const draw::quic_data &q, uint32_t canvas_format,
                      bool want_original) {
    const auto canvas = surface_pixman_format(canvas_format);
    if (!canvas) return err(canvas_errc::unsupported);
    auto bytes = linearize(q.data);
    auto hdr = quic::read_header(bytes.bytes);
    if (!hdr || hdr->width != im.width || hdr->height != im.height)
        return err(canvas_errc::bad_image);
    const bool original = want_original || (im.flags & SPICE_IMAGE_FLAGS_CACHE_ME);
    pixman_format_code_t first = PIXMAN_x8r8g8b8;
    quic::pixel_layout layout = quic::pixel_layout::rgb32;
    switch (hdr->type) {
    case quic::image_type::rgba:
        first = PIXMAN_a8r8g8b8;
        layout = quic::pixel_layout::rgba;
        break;
    case quic::image_type::rgb32:
    case quic::image_type::rgb24:
        break;
    case quic::image_type::rgb16:
        if (original || PIXMAN_FORMAT_BPP(*canvas) != 32) {
            first = PIXMAN_x1r5g5b5;
            layout = quic::pixel_layout::rgb16;
        }
        break;
    default:
        return err(canvas_errc::bad_image);
    }
    const int w = static_cast<int>(hdr->width);
    const int h = static_cast<int>(hdr->height);
    auto img = create_image(first, w, h);
    if (!img) return img;
    const view v = view_of(img->get());
    if (!quic::decode(bytes.bytes, layout,
                      {v.line0, static_cast<size_t>(v.stride) * static_cast<size_t>(h)},
                      static_cast<size_t>(v.stride)))
        return err(canvas_errc::bad_image);
    if ((im.flags & SPICE_IMAGE_FLAGS_HIGH_BITS_SET) && first == PIXMAN_x8r8g8b8)
        fill_box(v, {0, 0, w, h}, 0xff000000u, rop::or_);
    if (!want_original) {
        const pixman_format_code_t wanted = target_format(*canvas, first == PIXMAN_a8r8g8b8);
        if (wanted != first) return convert(img->get(), wanted);
    }
    return img;
}

/// A resolved image source: a decoded bitmap or a view of a surface.
struct source {
    pix img;
    const surface *surf = nullptr;
};

int image_width(const draw::image &im, const surface *s) {
    if (s) return s->width;
    if (const auto *bm = std::get_if<draw::bitmap>(&im.payload)) return static_cast<int>(bm->width);
    return static_cast<int>(im.width);
}
int image_height(const draw::image &im, const surface *s) {
    if (s) return s->height;
    if (const auto *bm = std::get_if<draw::bitmap>(&im.payload))
        return static_cast<int>(bm->height);
    return static_cast<int>(im.height);
}

/// Checks that src_area is a non-empty rectangle inside its image (the
/// reference server's parser does this for COPY; an empty or outside area
/// would make spice-common divide by zero or read outside the image).
result<void> check_src_area(const draw::rect &a, int w, int h) {
    if (a.left < 0 || a.top < 0 || a.left >= a.right || a.top >= a.bottom || a.right > w ||
        a.bottom > h)
        return err(canvas_errc::src_area_outside);
    return {};
}

// ---------------------------------------------------------------- stroke geometry

int fix_to_int(int32_t fixed) {
    int v = fixed >> 4;
    if ((fixed & 0x0f) > 8) ++v;
    return v;
}

__extension__ typedef __int128 i128;

struct fix_point {
    int64_t x, y;
};

/// canvas_base.c's subdivide_bezier, with 128-bit products so that large
/// coordinates cannot overflow, and a depth limit: spice-common recurses
/// forever on a degenerate curve (all four points equal).
void subdivide_bezier(std::vector<draw::point> &out, fix_point p0, fix_point p1, fix_point p2,
                      fix_point p3, int depth) {
    auto dot = [](int64_t x1, int64_t y1, int64_t x2, int64_t y2) {
        return (i128{x1} * x2 + i128{y1} * y2) >> 4;
    };
    const i128 a2 = dot(p1.x - p0.x, p1.y - p0.y, p1.x - p0.x, p1.y - p0.y);
    const i128 b2 = dot(p3.x - p0.x, p3.y - p0.y, p3.x - p0.x, p3.y - p0.y);
    const i128 c2 = dot(p2.x - p3.x, p2.y - p3.y, p2.x - p3.x, p2.y - p3.y);
    const i128 ab = dot(p1.x - p0.x, p1.y - p0.y, p3.x - p0.x, p3.y - p0.y);
    const i128 cb = dot(p2.x - p3.x, p2.y - p3.y, p0.x - p3.x, p0.y - p3.y);
    const i128 h1 = (a2 * b2 - ab * ab) >> 3;
    const i128 h2 = (c2 * b2 - cb * cb) >> 3;
    if ((h1 < b2 && h2 < b2) || depth >= 24) {
        out.push_back(
            {fix_to_int(static_cast<int32_t>(p3.x)), fix_to_int(static_cast<int32_t>(p3.y))});
        return;
    }
    auto mid = [](fix_point a, fix_point b) { return fix_point{(a.x + b.x) / 2, (a.y + b.y) / 2}; };
    const fix_point p01 = mid(p0, p1), p12 = mid(p1, p2), p23 = mid(p2, p3);
    const fix_point p012 = mid(p01, p12), p123 = mid(p12, p23);
    const fix_point p0123 = mid(p012, p123);
    subdivide_bezier(out, p0, p01, p012, p0123, depth + 1);
    subdivide_bezier(out, p0123, p123, p23, p3, depth + 1);
}

} // namespace

// ================================================================ the store

surface_store::surface_store() = default;
surface_store::~surface_store() = default;

result<void> surface_store::create_surface(uint32_t id, uint32_t format, uint32_t width,
                                           uint32_t height, int32_t stride,
                                           std::span<uint8_t> memory) {
    if (_surfaces.contains(id)) return err(canvas_errc::surface_exists);
    const auto pf = surface_pixman_format(format);
    if (!pf || width == 0 || height == 0 || width > 0x7fff'ffff || height > 0x7fff'ffff ||
        uint64_t{width} * height > max_pixels)
        return err(canvas_errc::bad_surface);
    const uint64_t min_stride = (uint64_t{width} * format_bpp(*pf) + 7) / 8;
    auto s = std::make_unique<surface>();
    s->format = format;
    s->width = static_cast<int>(width);
    s->height = static_cast<int>(height);
    if (memory.empty()) {
        // Pixman wants 4-byte aligned rows; keep the caller's orientation.
        uint64_t abs_stride = stride == 0 ? (min_stride + 3) / 4 * 4
                                          : static_cast<uint64_t>(std::abs(int64_t{stride}));
        if (abs_stride < min_stride || abs_stride % 4 != 0) return err(canvas_errc::bad_surface);
        const uint64_t size = abs_stride * height;
        s->owned.reset(new (std::nothrow) uint8_t[size]());
        if (!s->owned) return err(canvas_errc::out_of_memory);
        memory = {s->owned.get(), size};
        if (stride == 0) stride = static_cast<int32_t>(abs_stride);
    }
    const uint64_t abs_stride = static_cast<uint64_t>(std::abs(int64_t{stride}));
    if (abs_stride < min_stride || abs_stride % 4 != 0 || abs_stride > 0x7fff'ffff ||
        memory.size() < abs_stride * height || reinterpret_cast<uintptr_t>(memory.data()) % 4 != 0)
        return err(canvas_errc::bad_surface);
    s->stride = stride;
    s->line0 = stride < 0 ? memory.data() + abs_stride * (height - 1) : memory.data();
    s->img = pixman_image_create_bits(*pf, s->width, s->height,
                                      reinterpret_cast<uint32_t *>(s->line0), stride);
    if (!s->img) return err(canvas_errc::out_of_memory);
    _surfaces.emplace(id, std::move(s));
    return {};
}

result<void> surface_store::apply(const draw::surface_cmd &cmd) {
    if (cmd.type == QXL_SURFACE_CMD_DESTROY) return destroy_surface(cmd.surface_id);
    if (cmd.type != QXL_SURFACE_CMD_CREATE) return err(canvas_errc::unsupported);
    return create_surface(cmd.surface_id, cmd.format, cmd.width, cmd.height, cmd.stride, cmd.data);
}

result<void> surface_store::destroy_surface(uint32_t id) {
    if (_surfaces.erase(id) == 0) return err(canvas_errc::no_such_surface);
    return {};
}

void surface_store::destroy_all() noexcept { _surfaces.clear(); }

bool surface_store::has_surface(uint32_t id) const noexcept { return _surfaces.contains(id); }

const surface_store::surface *surface_store::find(uint32_t id) const noexcept {
    auto it = _surfaces.find(id);
    return it == _surfaces.end() ? nullptr : it->second.get();
}

pixman_image_t *surface_store::image(uint32_t id) const noexcept {
    const surface *s = find(id);
    return s ? s->img : nullptr;
}

result<surface_pixels> surface_store::read_area(uint32_t id, const draw::rect &area) const {
    const surface *s = find(id);
    if (!s) return err(canvas_errc::no_such_surface);
    if (area.left < 0 || area.top < 0 || area.left > area.right || area.top > area.bottom ||
        area.right > s->width || area.bottom > s->height)
        return err(canvas_errc::src_area_outside);
    surface_pixels out;
    out.format = s->format;
    out.width = static_cast<uint32_t>(area.width());
    out.height = static_cast<uint32_t>(area.height());
    const view v = view_of(s->img);
    if (v.bpp == 1) {
        out.stride = (out.width + 7) / 8;
        out.data.assign(size_t{out.stride} * out.height, 0);
        for (uint32_t y = 0; y < out.height; ++y) {
            const uint8_t *r = v.row(area.top + static_cast<int>(y));
            for (uint32_t x = 0; x < out.width; ++x) {
                const uint32_t sx = static_cast<uint32_t>(area.left) + x;
                if ((r[sx / 8] >> (sx & 7)) & 1)
                    out.data[y * out.stride + x / 8] |= static_cast<uint8_t>(1u << (x & 7));
            }
        }
        return out;
    }
    const uint32_t bytes = static_cast<uint32_t>(v.bpp / 8);
    out.stride = out.width * bytes;
    // A recycled buffer, filled row by row: no fresh pages, no zeroing.
    out.data = byte_pool::take(size_t{out.stride} * out.height);
    for (uint32_t y = 0; y < out.height; ++y) {
        const uint8_t *r = v.row(area.top + static_cast<int>(y)) + size_t{bytes} * area.left;
        out.data.insert(out.data.end(), r, r + out.stride);
    }
    return out;
}

// ================================================================ rendering

namespace {

/// One drawable being rendered: its destination and the store's surfaces.
class renderer {
  public:
    renderer(const std::unordered_map<uint32_t, std::unique_ptr<surface>> &surfaces, surface &dest,
             const draw::drawable &d)
        : _surfaces(surfaces)
        , _dest(dest)
        , _d(d)
        , _dv(view_of(dest.img)) {}

    result<void> run() {
        if (_dv.bpp == 1) return err(canvas_errc::unsupported); // spice-common asserts on a1
        // bbox sizes must be ints; the parser normally keeps bboxes inside
        // the surface, but the canvas only relies on this.
        if (int64_t{_d.bbox.right} - _d.bbox.left > INT32_MAX ||
            int64_t{_d.bbox.bottom} - _d.bbox.top > INT32_MAX)
            return err(canvas_errc::unsupported);
        if (auto r = dest_region(); !r) return r;
        return std::visit([this](const auto &op) { return draw(op); }, _d.op);
    }

  private:
    const std::unordered_map<uint32_t, std::unique_ptr<surface>> &_surfaces;
    surface &_dest;
    const draw::drawable &_d;
    view _dv;
    region _region; ///< bbox ∩ surface ∩ clip (∩ mask)

    const surface *find(uint32_t id) const {
        auto it = _surfaces.find(id);
        return it == _surfaces.end() ? nullptr : it->second.get();
    }
    const draw::rect &bbox() const { return _d.bbox; }
    int bbox_w() const { return _d.bbox.width(); }
    int bbox_h() const { return _d.bbox.height(); }

    // canvas_clip_pixman
    result<void> dest_region() {
        const auto &b = _d.bbox;
        if (b.left < b.right && b.top < b.bottom) {
            pixman_box32_t box{std::max(b.left, 0), std::max(b.top, 0),
                               std::min(b.right, _dest.width), std::min(b.bottom, _dest.height)};
            if (box.x1 < box.x2 && box.y1 < box.y2)
                pixman_region32_init_rect(_region.get(), box.x1, box.y1,
                                          static_cast<unsigned>(box.x2 - box.x1),
                                          static_cast<unsigned>(box.y2 - box.y1));
        }
        if (_d.clp.type == SPICE_CLIP_TYPE_RECTS) {
            std::vector<pixman_box32_t> boxes;
            boxes.reserve(_d.clp.rects.size());
            for (const auto &r : _d.clp.rects)
                if (r.left < r.right && r.top < r.bottom)
                    boxes.push_back({r.left, r.top, r.right, r.bottom});
            region clip;
            if (!pixman_region32_init_rects(clip.get(), boxes.data(),
                                            static_cast<int>(boxes.size())))
                return err(canvas_errc::out_of_memory);
            pixman_region32_intersect(_region.get(), _region.get(), clip.get());
        } else if (_d.clp.type != SPICE_CLIP_TYPE_NONE) {
            return err(canvas_errc::unsupported);
        }
        return {};
    }

    // canvas_mask_pixman: keep the pixels whose mask bit (xor invers) is set;
    // pixels outside the mask image are dropped either way.
    result<void> apply_mask(const draw::qmask &m) {
        if (!m.bitmap) return {};
        const draw::image &im = *m.bitmap;
        pix a1;
        int w = 0, h = 0;
        if (const auto *ref = std::get_if<draw::surface_ref>(&im.payload)) {
            // spice-common reads any surface's bytes as a 1-bit mask.
            const surface *s = find(ref->surface_id);
            if (!s) return err(canvas_errc::no_such_surface);
            a1 = surface_view(*s, PIXMAN_a1);
            w = s->width;
            h = s->height;
        } else if (const auto *bm = std::get_if<draw::bitmap>(&im.payload)) {
            if (bm->format != SPICE_BITMAP_FMT_1BIT_LE && bm->format != SPICE_BITMAP_FMT_1BIT_BE)
                return err(canvas_errc::bad_image);
            if (bm->width == 0 || bm->height == 0 || bm->width > 0xffff || bm->height > 0xffff)
                return err(canvas_errc::bad_image);
            w = static_cast<int>(bm->width);
            h = static_cast<int>(bm->height);
            auto bytes = linearize(bm->data);
            const size_t line = (bm->width + 7) / 8;
            if (bytes.bytes.size() < size_t{bm->stride} * (bm->height - 1) + line)
                return err(canvas_errc::bad_image);
            auto img = create_image(PIXMAN_a1, w, h);
            if (!img) return img.error();
            a1 = std::move(*img);
            const view v = view_of(a1.get());
            const bool top_down = bm->flags & SPICE_BITMAP_FLAGS_TOP_DOWN;
            for (int r = 0; r < h; ++r) {
                const uint8_t *s = bytes.bytes.data() + size_t{bm->stride} * r;
                uint8_t *d = v.row(top_down ? r : h - 1 - r);
                for (size_t i = 0; i < line; ++i) {
                    uint8_t b = s[i];
                    if (bm->format == SPICE_BITMAP_FMT_1BIT_BE) {
                        b = static_cast<uint8_t>((b * 0x0202020202ull & 0x010884422010ull) % 1023);
                    }
                    d[i] = b;
                }
            }
        } else {
            return err(canvas_errc::bad_image); // spice-common takes no QUIC masks
        }
        if (!a1) return err(canvas_errc::out_of_memory);
        region mr;
        pixman_region32_init_from_image(mr.get(), a1.get());
        if (m.flags & SPICE_MASK_FLAGS_INVERS) {
            pixman_box32_t all{0, 0, w, h};
            pixman_region32_inverse(mr.get(), mr.get(), &all);
        }
        // Surfaces and masks are under 2^28 pixels wide, so a larger shift
        // cannot overlap them (and would overflow pixman's coordinates).
        const int64_t tx = int64_t{bbox().left} - m.pos.x, ty = int64_t{bbox().top} - m.pos.y;
        if (std::abs(tx) >= (int64_t{1} << 30) || std::abs(ty) >= (int64_t{1} << 30)) {
            pixman_region32_clear(_region.get());
            return {};
        }
        pixman_region32_translate(mr.get(), static_cast<int>(tx), static_cast<int>(ty));
        pixman_region32_intersect(_region.get(), _region.get(), mr.get());
        return {};
    }

    /// Resolves an image (canvas_get_surface, else canvas_get_image).
    result<source> get_source(const draw::image_ptr &im, bool want_original) {
        if (!im) return err(canvas_errc::bad_image);
        if (const auto *ref = std::get_if<draw::surface_ref>(&im->payload)) {
            const surface *s = find(ref->surface_id);
            if (!s) return err(canvas_errc::no_such_surface);
            pix v = surface_view(*s, *surface_pixman_format(s->format));
            if (!v) return err(canvas_errc::out_of_memory);
            return source{std::move(v), s};
        }
        if (const auto *bm = std::get_if<draw::bitmap>(&im->payload)) {
            auto img = load_bitmap(*im, *bm, _dest.format, want_original);
            if (!img) return img.error();
            return source{std::move(*img), nullptr};
        }
        if (const auto *q = std::get_if<draw::quic_data>(&im->payload)) {
            auto img = load_quic(*im, *q, _dest.format, want_original);
            if (!img) return img.error();
            return source{std::move(*img), nullptr};
        }
        return err(canvas_errc::bad_image);
    }

    result<void> check_area(const draw::image_ptr &im, const draw::rect &area) {
        if (!im) return err(canvas_errc::bad_image);
        const surface *s = nullptr;
        if (const auto *ref = std::get_if<draw::surface_ref>(&im->payload)) {
            s = find(ref->surface_id);
            if (!s) return err(canvas_errc::no_such_surface);
        }
        return check_src_area(area, image_width(*im, s), image_height(*im, s));
    }

    /// Operations that scale to the bbox or copy it aside allocate a bbox
    /// sized image; bound it so a hostile bbox cannot exhaust memory.
    result<void> check_temp_bbox() const {
        if (bbox_w() > 0x7fff || bbox_h() > 0x7fff ||
            uint64_t(bbox_w()) * uint64_t(bbox_h()) > (uint64_t{1} << 26))
            return err(canvas_errc::unsupported);
        return {};
    }

    bool same_size(const draw::rect &src_area) const {
        return src_area.width() == bbox_w() && src_area.height() == bbox_h();
    }

    static result<void> check_depth(const view &a, const view &b) {
        if (a.bpp != b.bpp) return err(canvas_errc::format_mismatch);
        return {};
    }

    // draw_brush
    result<void> draw_brush(const region &rgn, const draw::brush &br, rop r) {
        switch (br.type) {
        case SPICE_BRUSH_TYPE_SOLID:
        case SPICE_BRUSH_TYPE_NONE: {
            // NONE still runs the ROP (an inverting ROP ignores its source).
            const uint32_t color = br.type == SPICE_BRUSH_TYPE_SOLID ? br.color : 0;
            for (const auto &b : rgn.boxes())
                fill_box(_dv, b, color, r);
            return {};
        }
        case SPICE_BRUSH_TYPE_PATTERN: {
            auto tile = get_source(br.pat.pat, false);
            if (!tile) return tile.error();
            const view tv = view_of(tile->img.get());
            if (auto c = check_depth(_dv, tv); !c) return c;
            for (const auto &b : rgn.boxes())
                tile_box(_dv, b, tv, br.pat.pos.x, br.pat.pos.y, r);
            return {};
        }
        default:
            return err(canvas_errc::unsupported);
        }
    }

    result<void> check_brush(const draw::brush &br) {
        if (br.type == SPICE_BRUSH_TYPE_PATTERN) {
            if (!br.pat.pat) return err(canvas_errc::bad_image);
            return check_area(br.pat.pat, {0, 0, 1, 1});
        }
        if (br.type != SPICE_BRUSH_TYPE_SOLID && br.type != SPICE_BRUSH_TYPE_NONE)
            return err(canvas_errc::unsupported);
        return {};
    }

    static std::optional<pixman_filter_t> scale_filter(uint8_t mode) {
        if (mode == SPICE_IMAGE_SCALE_MODE_NEAREST) return PIXMAN_FILTER_NEAREST;
        if (mode == SPICE_IMAGE_SCALE_MODE_INTERPOLATE) return PIXMAN_FILTER_GOOD;
        return std::nullopt;
    }

    /// The transform of __scale_image and friends: dest (0,0) of the bbox
    /// samples src_area's origin, scaled by src/dest in 16.16.
    void set_scale_transform(pixman_image_t *src, const draw::rect &sa) const {
        const pixman_fixed_t fsx =
            static_cast<pixman_fixed_t>((int64_t{sa.width()} * 65536) / bbox_w());
        const pixman_fixed_t fsy =
            static_cast<pixman_fixed_t>((int64_t{sa.height()} * 65536) / bbox_h());
        pixman_transform_t t;
        pixman_transform_init_scale(&t, fsx, fsy);
        pixman_transform_translate(&t, nullptr, pixman_int_to_fixed(sa.left),
                                   pixman_int_to_fixed(sa.top));
        pixman_image_set_transform(src, &t);
        pixman_image_set_repeat(src, PIXMAN_REPEAT_NONE);
    }

    /// The source scaled to the bbox size into a temporary (__scale_image_rop,
    /// __colorkey_scale_image): only the region's pixels are computed.
    result<pix> scaled_copy(pixman_image_t *src, const draw::rect &sa, pixman_filter_t filter) {
        auto scaled = create_image(pixman_image_get_format(src), bbox_w(), bbox_h());
        if (!scaled) return scaled;
        region local;
        pixman_region32_copy(local.get(), _region.get());
        pixman_region32_translate(local.get(), -bbox().left, -bbox().top);
        pixman_image_set_clip_region32(scaled->get(), local.get());
        set_scale_transform(src, sa);
        pixman_image_set_filter(src, filter, nullptr, 0);
        pixman_image_composite32(PIXMAN_OP_SRC, src, nullptr, scaled->get(), 0, 0, 0, 0, 0, 0,
                                 bbox_w(), bbox_h());
        pixman_image_set_clip_region32(scaled->get(), nullptr);
        return scaled;
    }

    /// blit_image / scale_image (with or without a ROP) of COPY, BLEND and OPAQUE.
    result<void> put_source(const draw::image_ptr &im, const draw::rect &sa, uint8_t scale_mode,
                            rop r) {
        auto src = get_source(im, false);
        if (!src) return src.error();
        pixman_image_t *s = src->img.get();
        if (same_size(sa)) {
            const view sv = view_of(s);
            if (auto c = check_depth(_dv, sv); !c) return c;
            const int ox = bbox().left - sa.left, oy = bbox().top - sa.top;
            for (const auto &b : _region.boxes())
                blit(_dv, sv, b.x1 - ox, b.y1 - oy, b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1, r);
            return {};
        }
        const auto filter = scale_filter(scale_mode);
        if (!filter) return err(canvas_errc::unsupported);
        if (auto c = check_temp_bbox(); !c) return c;
        if (r == rop::copy) {
            // __scale_image: straight into the surface, clipped to the region.
            pixman_image_set_clip_region32(_dest.img, _region.get());
            set_scale_transform(s, sa);
            pixman_image_set_filter(s, *filter, nullptr, 0);
            pixman_image_composite32(PIXMAN_OP_SRC, s, nullptr, _dest.img, 0, 0, 0, 0, bbox().left,
                                     bbox().top, bbox_w(), bbox_h());
            pixman_image_set_clip_region32(_dest.img, nullptr);
            return {};
        }
        auto scaled = scaled_copy(s, sa, *filter);
        if (!scaled) return scaled.error();
        const view sv = view_of(scaled->get());
        if (auto c = check_depth(_dv, sv); !c) return c;
        for (const auto &b : _region.boxes())
            blit(_dv, sv, b.x1 - bbox().left, b.y1 - bbox().top, b.x1, b.y1, b.x2 - b.x1,
                 b.y2 - b.y1, r);
        return {};
    }

    // ------------------------------------------------------------ operations

    result<void> draw(const draw::fill &f) {
        if (auto c = check_brush(f.br); !c) return c;
        if (auto m = apply_mask(f.mask); !m) return m;
        const rop r = ropd_to_rop(f.rop_descriptor, rop_input::brush, rop_input::dest);
        if (r == rop::noop || _region.empty()) return {};
        return draw_brush(_region, f.br, r);
    }

    result<void> draw_copy(const draw::copy &c) {
        if (auto a = check_area(c.src, c.src_area); !a) return a;
        if (auto m = apply_mask(c.mask); !m) return m;
        const rop r = ropd_to_rop(c.rop_descriptor, rop_input::src, rop_input::dest);
        if (r == rop::noop || _region.empty()) return {};
        return put_source(c.src, c.src_area, c.scale_mode, r);
    }
    result<void> draw(const draw::copy &c) { return draw_copy(c); }
    result<void> draw(const draw::blend &b) { return draw_copy(b); }

    result<void> draw(const draw::opaque &o) {
        if (auto a = check_area(o.src, o.src_area); !a) return a;
        if (auto c = check_brush(o.br); !c) return c;
        if (auto m = apply_mask(o.mask); !m) return m;
        const rop r = ropd_to_rop(o.rop_descriptor, rop_input::brush, rop_input::src);
        if (r == rop::noop || _region.empty()) return {};
        if (auto p = put_source(o.src, o.src_area, o.scale_mode, rop::copy); !p) return p;
        return draw_brush(_region, o.br, r);
    }

    result<void> solid(const draw::qmask &mask, uint32_t color, rop r) {
        if (auto m = apply_mask(mask); !m) return m;
        for (const auto &b : _region.boxes())
            fill_box(_dv, b, color, r);
        return {};
    }
    result<void> draw(const draw::blackness &b) { return solid(b.mask, 0x000000, rop::copy); }
    result<void> draw(const draw::whiteness &w) { return solid(w.mask, 0xffffffff, rop::copy); }
    result<void> draw(const draw::invers &i) { return solid(i.mask, 0, rop::invert); }

    result<void> draw(const draw::transparent &t) {
        if (auto a = check_area(t.src, t.src_area); !a) return a;
        if (_region.empty()) return {};
        uint32_t key = 0;
        switch (_dest.format) {
        case SPICE_SURFACE_FMT_32_xRGB:
        case SPICE_SURFACE_FMT_32_ARGB:
            key = t.true_color;
            break;
        case SPICE_SURFACE_FMT_16_555:
            key = ((t.true_color >> 3) & 0x001f) | ((t.true_color >> 6) & 0x03e0) |
                  ((t.true_color >> 9) & 0x7c00);
            break;
        case SPICE_SURFACE_FMT_16_565:
            key = ((t.true_color >> 3) & 0x001f) | ((t.true_color >> 5) & 0x07e0) |
                  ((t.true_color >> 8) & 0xf800);
            break;
        default:
            key = 0;
        }
        auto src = get_source(t.src, false);
        if (!src) return src.error();
        pix scaled;
        view sv;
        int ox = 0, oy = 0;
        if (same_size(t.src_area)) {
            sv = view_of(src->img.get());
            ox = bbox().left - t.src_area.left;
            oy = bbox().top - t.src_area.top;
        } else {
            if (auto c = check_temp_bbox(); !c) return c;
            auto sc = scaled_copy(src->img.get(), t.src_area, PIXMAN_FILTER_NEAREST);
            if (!sc) return sc.error();
            scaled = std::move(*sc);
            sv = view_of(scaled.get());
            ox = bbox().left;
            oy = bbox().top;
        }
        if (auto c = check_depth(_dv, sv); !c) return c;
        for (const auto &b : _region.boxes())
            blit_colorkey(_dv, sv, b.x1 - ox, b.y1 - oy, b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1, key);
        return {};
    }

    /// canvas_get_as_surface: an xRGB surface viewed as ARGB when its alpha counts.
    static pix as_surface(const surface &s, bool with_alpha) {
        const pixman_format_code_t f = with_alpha && s.format == SPICE_SURFACE_FMT_32_xRGB
                                           ? PIXMAN_a8r8g8b8
                                           : *surface_pixman_format(s.format);
        return surface_view(s, f);
    }

    result<void> draw(const draw::alpha_blend &a) {
        if (auto c = check_area(a.src, a.src_area); !c) return c;
        if (a.alpha == 0 || _region.empty()) return {};
        if (!same_size(a.src_area))
            if (auto c = check_temp_bbox(); !c) return c;
        const bool dest_alpha = a.alpha_flags & SPICE_ALPHA_FLAGS_DEST_HAS_ALPHA;
        pix src;
        if (const auto *ref = std::get_if<draw::surface_ref>(&a.src->payload)) {
            src = as_surface(*find(ref->surface_id),
                             a.alpha_flags & SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA);
            if (!src) return err(canvas_errc::out_of_memory);
        } else {
            auto s = get_source(a.src, true);
            if (!s) return s.error();
            src = std::move(s->img);
        }
        pix dest = as_surface(_dest, dest_alpha);
        if (!dest) return err(canvas_errc::out_of_memory);
        pix mask;
        if (a.alpha != 0xff) {
            pixman_color_t color{0, 0, 0, static_cast<uint16_t>(a.alpha * 0x101)};
            mask.reset(pixman_image_create_solid_fill(&color));
            if (!mask) return err(canvas_errc::out_of_memory);
        }
        pixman_image_set_clip_region32(dest.get(), _region.get());
        pixman_image_set_repeat(src.get(), PIXMAN_REPEAT_NONE);
        if (same_size(a.src_area)) {
            pixman_image_composite32(PIXMAN_OP_OVER, src.get(), mask.get(), dest.get(),
                                     a.src_area.left, a.src_area.top, 0, 0, bbox().left, bbox().top,
                                     bbox_w(), bbox_h());
        } else {
            set_scale_transform(src.get(), a.src_area);
            pixman_image_set_filter(src.get(), PIXMAN_FILTER_NEAREST, nullptr, 0);
            pixman_image_composite32(PIXMAN_OP_OVER, src.get(), mask.get(), dest.get(), 0, 0, 0, 0,
                                     bbox().left, bbox().top, bbox_w(), bbox_h());
        }
        if (_dest.format == SPICE_SURFACE_FMT_32_xRGB && !dest_alpha)
            clear_dest_alpha(dest.get(), bbox().left, bbox().top, bbox_w(), bbox_h());
        return {};
    }

    /// A copy of the destination under the bbox (canvas_get_image_from_self);
    /// parts outside the surface stay zero and are never written back.
    result<pix> copy_of_dest() {
        auto d = create_image(*surface_pixman_format(_dest.format), bbox_w(), bbox_h());
        if (!d) return d;
        const view dv = view_of(d->get());
        const int x1 = std::max(bbox().left, 0), x2 = std::min(bbox().right, _dest.width);
        const int y1 = std::max(bbox().top, 0), y2 = std::min(bbox().bottom, _dest.height);
        const size_t bpp = static_cast<size_t>(_dv.bpp / 8);
        for (int y = y1; y < y2 && x1 < x2; ++y)
            std::memcpy(dv.row(y - bbox().top) + (x1 - bbox().left) * bpp, _dv.row(y) + x1 * bpp,
                        (x2 - x1) * bpp);
        return d;
    }

    void put_back(pixman_image_t *d) {
        const view v = view_of(d);
        for (const auto &b : _region.boxes())
            blit(_dv, v, b.x1 - bbox().left, b.y1 - bbox().top, b.x1, b.y1, b.x2 - b.x1,
                 b.y2 - b.y1, rop::copy);
    }

    /// Bit i of a rop3 code is the result for pattern, source and destination
    /// bits p, s, d with i = p*4 + s*2 + d (pattern 0xf0, source 0xcc,
    /// destination 0xaa give the code itself).
    template <typename T> static T rop3_apply(uint8_t code, T p, T s, T d) {
        T out = 0;
        for (unsigned i = 0; i < 8; ++i) {
            if (!((code >> i) & 1)) continue;
            const T pp = (i & 4) ? p : static_cast<T>(~p);
            const T ss = (i & 2) ? s : static_cast<T>(~s);
            const T dd = (i & 1) ? d : static_cast<T>(~d);
            out |= pp & ss & dd;
        }
        return out;
    }

    result<void> draw(const draw::rop3 &o) {
        if (auto a = check_area(o.src, o.src_area); !a) return a;
        if (auto c = check_brush(o.br); !c) return c;
        if (auto m = apply_mask(o.mask); !m) return m;
        if (_region.empty()) return {};
        if (_dv.bpp != 16 && _dv.bpp != 32) return err(canvas_errc::unsupported);
        if (auto c = check_temp_bbox(); !c) return c;
        auto d = copy_of_dest();
        if (!d) return d.error();
        auto src = get_source(o.src, false);
        if (!src) return src.error();
        pix s = std::move(src->img);
        int spx = o.src_area.left, spy = o.src_area.top;
        if (!same_size(o.src_area)) {
            // canvas_scale_surface: a different rounding from __scale_image.
            const auto filter = scale_filter(o.scale_mode);
            if (!filter) return err(canvas_errc::unsupported);
            auto scaled = create_image(pixman_image_get_format(s.get()), bbox_w(), bbox_h());
            if (!scaled) return scaled.error();
            const double sx = static_cast<double>(o.src_area.width()) / bbox_w();
            const double sy = static_cast<double>(o.src_area.height()) / bbox_h();
            pixman_transform_t t;
            pixman_transform_init_scale(&t, pixman_double_to_fixed(sx), pixman_double_to_fixed(sy));
            pixman_image_set_transform(s.get(), &t);
            pixman_image_set_repeat(s.get(), PIXMAN_REPEAT_NONE);
            pixman_image_set_filter(s.get(), *filter, nullptr, 0);
            auto round = [](double v) { return static_cast<int>(std::floor(v + 0.5)); };
            pixman_image_composite32(PIXMAN_OP_SRC, s.get(), nullptr, scaled->get(),
                                     round(o.src_area.left / sx), round(o.src_area.top / sy), 0, 0,
                                     0, 0, bbox_w(), bbox_h());
            s = std::move(*scaled);
            spx = spy = 0;
        }
        const view dv = view_of(d->get()), sv = view_of(s.get());
        if (auto c = check_depth(dv, sv); !c) return c;
        if (sv.w - spx < bbox_w() || sv.h - spy < bbox_h())
            return err(canvas_errc::src_area_outside);
        pix p;
        view pv;
        int ppx = 0, ppy = 0;
        if (o.br.type == SPICE_BRUSH_TYPE_PATTERN) {
            auto pat = get_source(o.br.pat.pat, false);
            if (!pat) return pat.error();
            p = std::move(pat->img);
            pv = view_of(p.get());
            if (auto c = check_depth(dv, pv); !c) return c;
            // spice-common keeps C's negative remainder here and reads before
            // the pattern; we wrap it into the pattern instead.
            ppx = static_cast<int>((int64_t{bbox().left} - o.br.pat.pos.x) % pv.w);
            ppy = static_cast<int>((int64_t{bbox().top} - o.br.pat.pos.y) % pv.h);
            if (ppx < 0) ppx += pv.w;
            if (ppy < 0) ppy += pv.h;
        }
        with_pixel_type(dv.bpp, [&]<typename T>() {
            const T color = static_cast<T>(o.br.color);
            int py = ppy;
            for (int y = 0; y < dv.h; ++y) {
                uint8_t *dp = dv.row(y);
                const uint8_t *sp = sv.row(spy + y) + spx * sizeof(T);
                int px = ppx;
                for (int x = 0; x < dv.w; ++x, dp += sizeof(T), sp += sizeof(T)) {
                    const T pval = p ? load<T>(pv.row(py) + px * sizeof(T)) : color;
                    store<T>(dp, rop3_apply<T>(o.rop3_code, pval, load<T>(sp), load<T>(dp)));
                    if (p && ++px == pv.w) px = 0;
                }
                if (p && ++py == pv.h) py = 0;
            }
        });
        put_back(d->get());
        return {};
    }

    static bool valid_pixman_op(unsigned op) {
        return op <= 0x0d || (op >= 0x10 && op <= 0x1b) || (op >= 0x20 && op <= 0x2b) ||
               (op >= 0x30 && op <= 0x3e);
    }
    static pixman_transform_t to_pixman(const draw::transform &t) {
        pixman_transform_t p;
        p.matrix[0][0] = static_cast<pixman_fixed_t>(t.t00);
        p.matrix[0][1] = static_cast<pixman_fixed_t>(t.t01);
        p.matrix[0][2] = static_cast<pixman_fixed_t>(t.t02);
        p.matrix[1][0] = static_cast<pixman_fixed_t>(t.t10);
        p.matrix[1][1] = static_cast<pixman_fixed_t>(t.t11);
        p.matrix[1][2] = static_cast<pixman_fixed_t>(t.t12);
        p.matrix[2][0] = 0;
        p.matrix[2][1] = 0;
        p.matrix[2][2] = pixman_fixed_1;
        return p;
    }

    result<void> draw(const draw::composite &c) {
        const unsigned op = c.flags & 0xff;
        const unsigned src_filter = (c.flags >> 8) & 7, mask_filter = (c.flags >> 11) & 7;
        const unsigned src_repeat = (c.flags >> 14) & 3, mask_repeat = (c.flags >> 16) & 3;
        const bool has_mask = c.flags & SPICE_COMPOSITE_HAS_MASK;
        // Convolution filters without parameters would make pixman read a
        // null kernel; spice-common passes them through and crashes.
        if (!valid_pixman_op(op) || src_filter > PIXMAN_FILTER_BILINEAR ||
            (has_mask && mask_filter > PIXMAN_FILTER_BILINEAR) || (has_mask && !c.mask))
            return err(canvas_errc::unsupported);
        if (auto a = check_area(c.src, {0, 0, 1, 1}); !a) return a;
        if (has_mask)
            if (auto a = check_area(c.mask, {0, 0, 1, 1}); !a) return a;
        if (_region.empty()) return {};
        if (auto t = check_temp_bbox(); !t) return t;
        // DEST_OPAQUE is ignored: spice-common computes the opaque format for
        // the destination copy but creates it with the surface's format.
        auto d = copy_of_dest();
        if (!d) return d.error();
        pix s;
        if (const auto *ref = std::get_if<draw::surface_ref>(&c.src->payload)) {
            const surface &ss = *find(ref->surface_id);
            pixman_format_code_t f = *surface_pixman_format(ss.format);
            if ((c.flags & SPICE_COMPOSITE_SOURCE_OPAQUE) && has_alpha(f)) {
                if (f != PIXMAN_a8r8g8b8) return err(canvas_errc::unsupported);
                f = PIXMAN_x8r8g8b8;
            }
            s = surface_view(ss, f);
            if (!s) return err(canvas_errc::out_of_memory);
        } else {
            auto src = get_source(c.src, false);
            if (!src) return src.error();
            s = std::move(src->img);
        }
        if (c.src_transform) {
            const pixman_transform_t t = to_pixman(*c.src_transform);
            pixman_image_set_transform(s.get(), &t);
        }
        pixman_image_set_filter(s.get(), static_cast<pixman_filter_t>(src_filter), nullptr, 0);
        pixman_image_set_repeat(s.get(), static_cast<pixman_repeat_t>(src_repeat));
        pix m;
        if (has_mask) {
            auto mk = get_source(c.mask, false);
            if (!mk) return mk.error();
            m = std::move(mk->img);
            if (c.mask_transform) {
                const pixman_transform_t t = to_pixman(*c.mask_transform);
                pixman_image_set_transform(m.get(), &t);
            }
            pixman_image_set_repeat(m.get(), static_cast<pixman_repeat_t>(mask_repeat));
            pixman_image_set_filter(m.get(), static_cast<pixman_filter_t>(mask_filter), nullptr, 0);
            pixman_image_set_component_alpha(m.get(),
                                             (c.flags & SPICE_COMPOSITE_COMPONENT_ALPHA) != 0);
        }
        pixman_image_composite32(static_cast<pixman_op_t>(op), s.get(), m.get(), d->get(),
                                 c.src_origin.x, c.src_origin.y, c.mask_origin.x, c.mask_origin.y,
                                 0, 0, bbox_w(), bbox_h());
        put_back(d->get());
        return {};
    }

    result<void> draw(const draw::copy_bits &cb) {
        const int64_t dx64 = int64_t{bbox().left} - cb.src_pos.x;
        const int64_t dy64 = int64_t{bbox().top} - cb.src_pos.y;
        if (dx64 == 0 && dy64 == 0) return {};
        // A shift as large as the surface leaves no source pixel inside it.
        if (std::abs(dx64) >= _dest.width || std::abs(dy64) >= _dest.height) return {};
        const int dx = static_cast<int>(dx64), dy = static_cast<int>(dy64);
        // Keep the source inside the surface.
        region src_ok;
        pixman_region32_init_rect(src_ok.get(), dx, dy, static_cast<unsigned>(_dest.width),
                                  static_cast<unsigned>(_dest.height));
        pixman_region32_intersect(_region.get(), _region.get(), src_ok.get());
        const auto boxes = _region.boxes();
        const int n = static_cast<int>(boxes.size());
        auto one = [&](int i) {
            const auto &b = boxes[static_cast<size_t>(i)];
            copy_rect_within(_dv, b.x1 - dx, b.y1 - dy, b.x2 - b.x1, b.y2 - b.y1, b.x1, b.y1);
        };
        // sw_canvas.c's copy_region: order the bands and the rectangles in a
        // band so that no rectangle reads pixels another one already wrote.
        if (dy > 0) {
            if (dx >= 0) {
                for (int i = n - 1; i >= 0; --i)
                    one(i);
            } else {
                for (int i = n - 1; i >= 0;) {
                    int end = i - 1;
                    while (end >= 0 && boxes[end].y1 == boxes[i].y1)
                        --end;
                    for (int j = end + 1; j <= i; ++j)
                        one(j);
                    i = end;
                }
            }
        } else if (dx > 0) {
            for (int i = 0; i < n;) {
                int end = i;
                while (end < n && boxes[end].y1 == boxes[i].y1)
                    ++end;
                for (int j = end - 1; j >= i; --j)
                    one(j);
                i = end;
            }
        } else {
            for (int i = 0; i < n; ++i)
                one(i);
        }
        return {};
    }

    /// canvas_get_pixman_brush for text. 16-bit surfaces read the color as
    /// 5-bit components, for 565 too, as spice-common does.
    result<pix> text_brush(const draw::brush &br) {
        if (br.type == SPICE_BRUSH_TYPE_SOLID) {
            const bool depth16 = (_dest.format & 0x3f) == 16;
            const uint32_t shift = depth16 ? 5 : 8, mask = depth16 ? 0x1f : 0xff;
            uint32_t color = br.color;
            pixman_color_t c;
            c.blue = static_cast<uint16_t>(((color & mask) * 0xffff) / mask);
            color >>= shift;
            c.green = static_cast<uint16_t>(((color & mask) * 0xffff) / mask);
            color >>= shift;
            c.red = static_cast<uint16_t>(((color & mask) * 0xffff) / mask);
            c.alpha = 0xffff;
            pixman_image_t *img = pixman_image_create_solid_fill(&c);
            if (!img) return err(canvas_errc::out_of_memory);
            return pix(img);
        }
        auto src = get_source(br.pat.pat, false);
        if (!src) return src.error();
        pixman_transform_t t;
        pixman_transform_init_translate(&t, pixman_int_to_fixed(-br.pat.pos.x),
                                        pixman_int_to_fixed(-br.pat.pos.y));
        pixman_image_set_transform(src->img.get(), &t);
        pixman_image_set_repeat(src->img.get(), PIXMAN_REPEAT_NORMAL);
        return std::move(src->img);
    }

    result<void> draw(const draw::text &t) {
        if (auto c = check_brush(t.fore_brush); !c) return c;
        if (auto c = check_brush(t.back_brush); !c) return c;
        if (_region.empty()) return {};
        const auto &ba = t.back_area;
        if (ba.left != ba.right && ba.top != ba.bottom) {
            // spice-common accepts only PUT with a background (and aborts otherwise).
            if (t.fore_mode != SPICE_ROPD_OP_PUT) return err(canvas_errc::unsupported);
            if (ba.left < ba.right && ba.top < ba.bottom) {
                region back;
                pixman_region32_init_rect(back.get(), ba.left, ba.top,
                                          static_cast<unsigned>(ba.width()),
                                          static_cast<unsigned>(ba.height()));
                pixman_region32_intersect(back.get(), back.get(), _region.get());
                if (!back.empty())
                    if (auto r = draw_brush(back, t.back_brush, rop::copy); !r) return r;
            }
        }
        int depth = 0;
        if (t.string_flags & SPICE_STRING_FLAGS_RASTER_A1)
            depth = 1;
        else if (t.string_flags & SPICE_STRING_FLAGS_RASTER_A4)
            depth = 4;
        else if (t.string_flags & SPICE_STRING_FLAGS_RASTER_A8)
            depth = 8;
        else
            return err(canvas_errc::unsupported); // vector glyphs
        if (t.glyphs.empty() || t.fore_brush.type == SPICE_BRUSH_TYPE_NONE) return {};

        // The string's bounds (canvas_get_str_mask), in 64 bits: glyph
        // positions are arbitrary.
        int64_t bl = INT64_MAX, bt = INT64_MAX, br_ = INT64_MIN, bb = INT64_MIN;
        for (const auto &g : t.glyphs) {
            const int64_t l = int64_t{g.render_pos.x} + g.glyph_origin.x;
            const int64_t tp = int64_t{g.render_pos.y} + g.glyph_origin.y;
            bl = std::min(bl, l);
            bt = std::min(bt, tp);
            br_ = std::max(br_, l + g.width);
            bb = std::max(bb, tp + g.height);
            const size_t row = depth == 1   ? (g.width + 7u) / 8
                               : depth == 4 ? (g.width + 1u) / 2
                                            : g.width;
            if (g.data.size() < row * g.height) return err(canvas_errc::bad_image);
        }
        // spice-common allocates the whole bounds; only the part on the
        // surface can show, so the mask covers just that (same pixels).
        const int64_t mx1 = std::max<int64_t>(bl, 0), my1 = std::max<int64_t>(bt, 0);
        const int64_t mx2 = std::min<int64_t>(br_, _dest.width),
                      my2 = std::min<int64_t>(bb, _dest.height);
        if (mx1 < mx2 && my1 < my2) {
            const int mw = static_cast<int>(mx2 - mx1), mh = static_cast<int>(my2 - my1);
            auto mask = create_image(depth == 1 ? PIXMAN_a1 : PIXMAN_a8, mw, mh);
            if (!mask) return mask.error();
            const view mv = view_of(mask->get());
            for (const auto &g : t.glyphs)
                put_glyph(g, depth, mv, mx1, my1);
            auto brush = text_brush(t.fore_brush);
            if (!brush) return brush.error();
            pixman_image_set_clip_region32(_dest.img, _region.get());
            pixman_image_composite32(PIXMAN_OP_OVER, brush->get(), mask->get(), _dest.img,
                                     static_cast<int>(mx1 - bl), static_cast<int>(my1 - bt), 0, 0,
                                     static_cast<int>(mx1), static_cast<int>(my1), mw, mh);
            pixman_image_set_clip_region32(_dest.img, nullptr);
        }
        if (_dest.format == SPICE_SURFACE_FMT_32_xRGB)
            clear_dest_alpha(_dest.img, bl, bt, br_ - bl, bb - bt);
        return {};
    }

    /// canvas_put_glyph_bits: rows are stored bottom-up; A1 rows are most
    /// significant bit first and OR together, A4/A8 take the maximum (A4
    /// values land in the top nibble). spice-common's A8 path starts one row
    /// past the glyph (reading outside it); we read the glyph's own rows.
    static void put_glyph(const draw::glyph &g, int depth, const view &mv, int64_t mx, int64_t my) {
        const int64_t gl = int64_t{g.render_pos.x} + g.glyph_origin.x;
        const int64_t gt = int64_t{g.render_pos.y} + g.glyph_origin.y;
        const size_t stride = depth == 1   ? (g.width + 7u) / 8
                              : depth == 4 ? (g.width + 1u) / 2
                                           : g.width;
        for (int r = 0; r < g.height; ++r) {
            const int64_t y = gt + r - my;
            if (y < 0 || y >= mv.h) continue;
            const uint8_t *src = g.data.data() + stride * static_cast<size_t>(g.height - 1 - r);
            uint8_t *dst = mv.row(static_cast<int>(y));
            for (int c = 0; c < g.width; ++c) {
                const int64_t x = gl + c - mx;
                if (x < 0 || x >= mv.w) continue;
                if (depth == 1) {
                    if ((src[c / 8] >> (7 - (c & 7))) & 1)
                        dst[x / 8] |= static_cast<uint8_t>(1u << (x & 7));
                } else {
                    const uint8_t v =
                        depth == 8
                            ? src[c]
                            : static_cast<uint8_t>((c & 1) ? src[c / 2] << 4 : src[c / 2] & 0xf0);
                    dst[x] = std::max(dst[x], v);
                }
            }
        }
    }

    // ------------------------------------------------------------ stroke

    struct stroke_state {
        bool solid = true;
        uint32_t color = 0;
        view tile;
        int tile_x = 0, tile_y = 0;
        rop fore = rop::copy;
        // Dashes: lengths in pixels, and where along the dash pattern the
        // current polyline is.
        std::vector<int> dashes;
        int64_t dash_total = 0;
        int64_t dash_pos = 0;
    };

    bool dash_on(const stroke_state &st, int64_t pos) const {
        if (st.dash_total == 0) return true;
        int64_t p = pos % st.dash_total;
        for (size_t i = 0; i < st.dashes.size(); ++i) {
            if (p < st.dashes[i]) return i % 2 == 0;
            p -= st.dashes[i];
        }
        return true;
    }

    void plot(const stroke_state &st, int x, int y) {
        if (!_region.contains(x, y)) return;
        const pixman_box32_t b{x, y, x + 1, y + 1};
        if (st.solid)
            fill_box(_dv, b, st.color, st.fore);
        else
            tile_box(_dv, b, st.tile, st.tile_x, st.tile_y, st.fore);
    }

    /// One segment of miZeroLine (lines.c): Bresenham with the X server's
    /// default octant bias, the end point not drawn (CapNotLast joins the
    /// segments), clipped to the surface. Only the visible run of the major
    /// axis is walked; the error term for its first pixel is computed in
    /// closed form, which gives the pixels miZeroClipLine gives.
    void zero_segment(stroke_state &st, int64_t x1, int64_t y1, int64_t x2, int64_t y2,
                      bool dashed) {
        constexpr unsigned xdecreasing = 4, ydecreasing = 2, ymajor = 1;
        constexpr unsigned bias = (1u << (ydecreasing | ymajor)) |
                                  (1u << (xdecreasing | ydecreasing | ymajor)) |
                                  (1u << (xdecreasing | ydecreasing)) | (1u << xdecreasing);
        unsigned octant = 0;
        int64_t adx = x2 - x1, ady = y2 - y1, sdx = 1, sdy = 1;
        if (adx < 0) {
            adx = -adx;
            sdx = -1;
            octant |= xdecreasing;
        }
        if (ady < 0) {
            ady = -ady;
            sdy = -1;
            octant |= ydecreasing;
        }
        const bool xmajor = adx > ady;
        if (!xmajor) octant |= ymajor;
        const int64_t major = xmajor ? adx : ady, minor = xmajor ? ady : adx;
        const int64_t length = major;
        const int64_t start_pos = st.dash_pos;
        st.dash_pos += length;
        if (length == 0) return;
        const int64_t e1 = 2 * minor;
        const int64_t e_init = -major - ((bias >> octant) & 1);
        const int64_t maj0 = xmajor ? x1 : y1, min0 = xmajor ? y1 : x1;
        const int64_t smaj = xmajor ? sdx : sdy, smin = xmajor ? sdy : sdx;
        const int64_t limit = (xmajor ? _dest.width : _dest.height) - 1;
        // k: pixel index along the major axis, 0 <= k < length.
        int64_t kmin = 0, kmax = length - 1;
        if (smaj > 0) {
            kmin = std::max(kmin, -maj0);
            kmax = std::min(kmax, limit - maj0);
        } else {
            kmin = std::max(kmin, maj0 - limit);
            kmax = std::min(kmax, maj0);
        }
        auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
        for (int64_t k = kmin; k <= kmax; ++k) {
            const int64_t steps = floor_div(e_init + k * e1, 2 * major) + 1;
            const int64_t ma = maj0 + smaj * k, mi = min0 + smin * steps;
            const int64_t x = xmajor ? ma : mi, y = xmajor ? mi : ma;
            if (x < 0 || y < 0 || x >= _dest.width || y >= _dest.height) continue;
            if (dashed && !dash_on(st, start_pos + k)) continue;
            plot(st, static_cast<int>(x), static_cast<int>(y));
        }
    }

    result<void> draw(const draw::stroke &s) {
        if (auto c = check_brush(s.br); !c) return c;
        if (_region.empty()) return {};
        stroke_state st;
        st.fore = ropd_to_rop(s.fore_mode, rop_input::brush, rop_input::dest);
        pix tile;
        if (s.br.type == SPICE_BRUSH_TYPE_PATTERN) {
            auto src = get_source(s.br.pat.pat, false);
            if (!src) return src.error();
            tile = std::move(src->img);
            st.solid = false;
            st.tile = view_of(tile.get());
            if (auto c = check_depth(_dv, st.tile); !c) return c;
            st.tile_x = s.br.pat.pos.x;
            st.tile_y = s.br.pat.pos.y;
        } else {
            st.color = s.br.type == SPICE_BRUSH_TYPE_SOLID ? s.br.color : 0;
        }
        const bool dashed = s.line_flags & SPICE_LINE_FLAGS_STYLED;
        int64_t dash_offset = 0;
        if (dashed && !s.style.empty()) {
            // lineGC keeps dash lengths in bytes; START_WITH_GAP rotates the
            // list by one as canvas_draw_stroke does.
            const size_t n = s.style.size();
            st.dashes.resize(n);
            if (s.line_flags & SPICE_LINE_FLAGS_START_WITH_GAP) {
                st.dashes[n - 1] = static_cast<uint8_t>(fix_to_int(s.style[0]));
                for (size_t i = 0; i + 1 < n; ++i)
                    st.dashes[i] = static_cast<uint8_t>(fix_to_int(s.style[i + 1]));
                dash_offset = st.dashes[0];
            } else {
                for (size_t i = 0; i < n; ++i)
                    st.dashes[i] = static_cast<uint8_t>(fix_to_int(s.style[i]));
            }
            for (int d : st.dashes)
                st.dash_total += d;
        }
        std::vector<draw::point> pts;
        auto flush = [&] {
            st.dash_pos = dash_offset;
            for (size_t i = 1; i < pts.size(); ++i)
                zero_segment(st, pts[i - 1].x, pts[i - 1].y, pts[i].x, pts[i].y, dashed);
            pts.clear();
        };
        auto append_fix = [&](const draw::point_fix &p) {
            pts.push_back({fix_to_int(p.x), fix_to_int(p.y)});
        };
        for (const auto &seg : s.path) {
            size_t i = 0;
            if (seg.flags & SPICE_PATH_BEGIN) {
                flush();
                if (seg.points.empty()) return err(canvas_errc::unsupported);
                append_fix(seg.points[0]);
                i = 1;
            }
            if (seg.flags & SPICE_PATH_BEZIER) {
                if ((seg.points.size() - i) % 3 != 0 || pts.empty())
                    return err(canvas_errc::unsupported);
                for (; i + 2 < seg.points.size(); i += 3) {
                    const fix_point p0{int64_t{pts.back().x} << 4, int64_t{pts.back().y} << 4};
                    auto fp = [](const draw::point_fix &p) { return fix_point{p.x, p.y}; };
                    subdivide_bezier(pts, p0, fp(seg.points[i]), fp(seg.points[i + 1]),
                                     fp(seg.points[i + 2]), 0);
                }
            } else {
                for (; i < seg.points.size(); ++i)
                    append_fix(seg.points[i]);
            }
            if (seg.flags & SPICE_PATH_END) {
                if ((seg.flags & SPICE_PATH_CLOSE) && !pts.empty()) pts.push_back(pts.front());
                flush();
            }
        }
        flush();
        return {};
    }
};

} // namespace

result<void> surface_store::render(const draw::drawable &d) {
    auto it = _surfaces.find(d.surface_id);
    if (it == _surfaces.end()) return err(canvas_errc::no_such_surface);
    renderer r(_surfaces, *it->second, d);
    return r.run();
}

} // namespace rs
