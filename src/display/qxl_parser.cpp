#include "display/qxl_parser.hpp"

#include "runtime/log.hpp"

#include <array>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

namespace rs::qxl {

namespace {

// Sizes the parser relies on; a different spice-protocol would change the
// guest ABI, which must not go unnoticed.
static_assert(sizeof(QXLDataChunk) == 20);
static_assert(sizeof(QXLImageDescriptor) == 18);
static_assert(sizeof(QXLImage) >=
                  offsetof(QXLImage, quic) + sizeof(QXLQUICData) + sizeof(QXLDataChunk),
              "a QUIC image's first chunk header lies within sizeof(QXLImage)");
static_assert(sizeof(QXLPalette) == 10);
static_assert(sizeof(QXLRect) == 16 && sizeof(QXLPointFix) == 8 && sizeof(QXLPathSeg) == 8);
static_assert(sizeof(QXLRasterGlyph) == 20);
static_assert(sizeof(QXLTransform) == 24);

/// Formats whose pixels index a palette.
bool bitmap_has_palette(uint8_t format) noexcept {
    return format >= SPICE_BITMAP_FMT_1BIT_LE && format <= SPICE_BITMAP_FMT_8BIT;
}

unsigned surface_bpp(uint32_t format) noexcept {
    switch (format) {
    case SPICE_SURFACE_FMT_1_A:
        return 1;
    case SPICE_SURFACE_FMT_8_A:
        return 8;
    case SPICE_SURFACE_FMT_16_555:
    case SPICE_SURFACE_FMT_16_565:
        return 16;
    case SPICE_SURFACE_FMT_32_xRGB:
    case SPICE_SURFACE_FMT_32_ARGB:
        return 32;
    default:
        return 0;
    }
}

/// x555 → x888 with the low bits replicated (QXL_COMMAND_FLAG_COMPAT_16BPP).
uint32_t color_16_to_32(uint32_t c) noexcept {
    uint32_t r = ((c & 0x001f) << 3) | ((c & 0x001c) >> 2);
    r |= ((c & 0x03e0) << 6) | ((c & 0x0380) << 1);
    r |= ((c & 0x7c00) << 9) | ((c & 0x7000) << 4);
    return r;
}

/// Bytes of cursor data a client decodes for a shape of this type and size
/// (pixels, then palette and AND mask where the type has them); nullopt for
/// an unknown type.
std::optional<uint64_t> cursor_bytes(uint16_t type, uint64_t w, uint64_t h) noexcept {
    const uint64_t mask = (w + 7) / 8 * h;
    switch (type) {
    case SPICE_CURSOR_TYPE_ALPHA:
        return w * h * 4;
    case SPICE_CURSOR_TYPE_MONO:
        return mask * 2;
    case SPICE_CURSOR_TYPE_COLOR4:
        return (w + 1) / 2 * h + 16 * 4 + mask;
    case SPICE_CURSOR_TYPE_COLOR8:
        return w * h + 256 * 4 + mask;
    case SPICE_CURSOR_TYPE_COLOR16:
        return w * h * 2 + mask;
    case SPICE_CURSOR_TYPE_COLOR24:
        return w * h * 3 + mask;
    case SPICE_CURSOR_TYPE_COLOR32:
        return w * h * 4 + mask;
    default:
        return std::nullopt;
    }
}

draw::rect to_rect(QXLRect r) noexcept { return {r.left, r.top, r.right, r.bottom}; }
draw::point to_point(QXLPoint p) noexcept { return {p.x, p.y}; }
draw::point16 to_point16(QXLPoint16 p) noexcept { return {p.x, p.y}; }

bool well_formed(const draw::rect &r) noexcept { return r.left <= r.right && r.top <= r.bottom; }
bool non_negative(const draw::rect &r) noexcept {
    return r.left >= 0 && r.top >= 0 && r.right >= 0 && r.bottom >= 0;
}

/// One command's parse. Collects the first failure's reason; every step
/// returns false once something failed, so the callers just propagate.
class parser {
  public:
    parser(const memslot_table &slots, const parser_limits &limits, uint32_t group,
           uint32_t flags) noexcept
        : _slots(slots)
        , _limits(limits)
        , _group(group)
        , _flags(flags) {}

    const char *error() const noexcept { return _error != nullptr ? _error : "invalid command"; }

    bool drawable(QXLPHYSICAL addr, draw::drawable &out);
    bool compat_drawable(QXLPHYSICAL addr, draw::drawable &out);
    bool surface(QXLPHYSICAL addr, draw::surface_cmd &out);
    bool update(QXLPHYSICAL addr, draw::update_cmd &out);
    bool message(QXLPHYSICAL addr, message_cmd &out);
    bool cursor(QXLPHYSICAL addr, draw::cursor_cmd &out);

  private:
    bool fail(const char *reason) noexcept {
        if (_error == nullptr) _error = reason;
        return false;
    }

    /// Guest bytes [addr, addr + size); memslot_table logs why not.
    std::optional<std::span<const uint8_t>> bytes(QXLPHYSICAL addr, size_t size, const char *what) {
        auto s = _slots.translate(addr, size, _group);
        if (!s) {
            fail(what);
            return std::nullopt;
        }
        return std::span<const uint8_t>(s->data(), s->size());
    }

    /// Copies the guest struct at addr into out: the one read of its fields.
    template <typename T> bool read(QXLPHYSICAL addr, T &out, const char *what) {
        auto s = bytes(addr, sizeof(T), what);
        if (!s) return false;
        std::memcpy(&out, s->data(), sizeof(T));
        return true;
    }

    bool surface_id_ok(uint64_t id) const noexcept { return id < _slots.n_surfaces(); }

    bool chain(QXLPHYSICAL base, size_t header_offset, QXLDataChunk first, uint64_t max_total,
               draw::chunks &out);
    bool chain_at(QXLPHYSICAL addr, uint64_t max_total, draw::chunks &out);
    static std::vector<uint8_t> linearize(const draw::chunks &c);

    bool get_image(QXLPHYSICAL addr, bool is_mask, draw::image_ptr &out);
    bool get_bitmap(QXLBitmap b, bool is_mask, draw::image &img);
    bool get_palette(QXLPHYSICAL addr, unsigned bpp, std::shared_ptr<const draw::palette> &out);
    bool get_brush(QXLBrush b, draw::brush &out);
    bool get_qmask(QXLQMask m, draw::qmask &out);
    bool get_src(QXLPHYSICAL addr, QXLRect area, draw::image_ptr &img, draw::rect &out_area);
    bool get_clip(QXLClip c, draw::clip &out);
    bool get_path(QXLPHYSICAL addr, std::vector<draw::path_segment> &out);
    bool get_string(QXLPHYSICAL addr, draw::text &out);
    bool get_transform(QXLPHYSICAL addr, std::optional<draw::transform> &out);
    bool get_cursor_shape(QXLPHYSICAL addr, std::shared_ptr<const draw::cursor_shape> &out);

    bool get_fill(QXLFill q, draw::fill &out);
    bool get_opaque(QXLOpaque q, draw::opaque &out);
    bool get_copy(QXLCopy q, draw::copy &out);
    bool get_transparent(QXLTransparent q, draw::transparent &out);
    bool get_rop3(QXLRop3 q, draw::rop3 &out);
    bool get_stroke(QXLStroke q, draw::stroke &out);
    bool get_text(QXLText q, draw::text &out);
    bool get_composite(QXLComposite q, draw::composite &out);
    template <typename M> bool get_mask_only(QXLQMask m, draw::operation &op);

    /// The operation for a drawable type shared by native and compat
    /// drawables (their unions hold the same structs for these types).
    template <typename U> bool common_op(uint8_t type, const U &u, draw::drawable &out);
    /// Checks shared by native and compat drawables once they are filled in.
    bool finish_drawable(draw::drawable &out);

    const memslot_table &_slots;
    const parser_limits &_limits;
    uint32_t _group;
    uint32_t _flags;
    const char *_error = nullptr;
};

// ---- data chunks ---------------------------------------------------------

// A chain starts with a QXLDataChunk embedded `header_offset` bytes into the
// guest object at `base` (already copied into `first`) and continues through
// next_chunk. prev_chunk is never followed, as in the reference. The walk is
// bounded three ways: the total size (max_total), the number of chunks
// (max_chunks, empty ones included), and a cycle check (Brent's: compare
// each address with one saved address, re-saved at powers of two), which
// finds any loop among distinct guest addresses in O(loop) steps with no
// extra guest reads.
bool parser::chain(QXLPHYSICAL base, size_t header_offset, QXLDataChunk first, uint64_t max_total,
                   draw::chunks &out) {
    constexpr size_t hdr = sizeof(QXLDataChunk);
    uint32_t size = first.data_size;
    QXLPHYSICAL next = first.next_chunk;
    if (size > max_total) return fail("data chunk larger than its limit");
    uint64_t total = size;
    auto data = bytes(base, header_offset + hdr + size, "data chunk outside its memslot");
    if (!data) return false;
    if (size > 0) out.parts.push_back(data->subspan(header_offset + hdr));

    QXLPHYSICAL saved = base + header_offset; // for comparison only, never read
    uint64_t steps = 0;
    uint64_t power = 1;
    uint64_t count = 1;
    while (next != 0) {
        if (next == saved) return fail("cyclic data chunk list");
        if (++steps == power) {
            saved = next;
            power *= 2;
            steps = 0;
        }
        if (++count > _limits.max_chunks) return fail("too many data chunks");
        QXLDataChunk c;
        if (!read(next, c, "data chunk header outside its memslot")) return false;
        size = c.data_size;
        total += size;
        if (total > max_total) return fail("data chunks larger than their limit");
        data = bytes(next, hdr + size, "data chunk outside its memslot");
        if (!data) return false;
        // Empty chunks cost nothing but their count, which is bounded.
        if (size > 0) out.parts.push_back(data->subspan(hdr));
        next = c.next_chunk;
    }
    return true;
}

bool parser::chain_at(QXLPHYSICAL addr, uint64_t max_total, draw::chunks &out) {
    QXLDataChunk first;
    if (!read(addr, first, "data chunk header outside its memslot")) return false;
    return chain(addr, 0, first, max_total, out);
}

// Callers cap the chain first, so the copy is bounded; parsing the copy
// rather than guest memory means each guest byte is read exactly once.
std::vector<uint8_t> parser::linearize(const draw::chunks &c) {
    std::vector<uint8_t> v;
    v.reserve(c.size());
    for (const auto &p : c.parts)
        v.insert(v.end(), p.begin(), p.end());
    return v;
}

// ---- images --------------------------------------------------------------

bool parser::get_palette(QXLPHYSICAL addr, unsigned bpp,
                         std::shared_ptr<const draw::palette> &out) {
    QXLPalette head;
    if (!read(addr, head, "palette outside its memslot")) return false;
    const uint16_t num_ents = head.num_ents;
    if (num_ents > 256) return fail("palette with more than 256 entries");
    auto raw =
        bytes(addr, sizeof(QXLPalette) + size_t{num_ents} * 4, "palette outside its memslot");
    if (!raw) return false;
    auto pal = std::make_shared<draw::palette>();
    pal->unique = head.unique;
    // Entries a pixel of this depth cannot index are dropped, so consumers
    // may rely on entries.size() <= 1 << bpp. A truncated palette is no
    // longer the guest's palette `unique`, so it must not be cached as such.
    size_t keep = num_ents;
    if (bpp < 8 && keep > (size_t{1} << bpp)) {
        keep = size_t{1} << bpp;
        pal->unique = 0;
    }
    pal->entries.resize(keep);
    const uint8_t *p = raw->data() + sizeof(QXLPalette);
    for (size_t i = 0; i < keep; ++i) {
        uint32_t e;
        std::memcpy(&e, p + i * 4, 4);
        pal->entries[i] = (_flags & QXL_COMMAND_FLAG_COMPAT_16BPP) ? color_16_to_32(e) : e;
    }
    out = std::move(pal);
    return true;
}

bool parser::get_bitmap(QXLBitmap b, bool is_mask, draw::image &img) {
    draw::bitmap bm;
    bm.format = b.format;
    bm.width = b.x;
    bm.height = b.y;
    bm.stride = b.stride;
    const uint8_t qflags = b.flags;
    const QXLPHYSICAL pal_addr = b.palette;
    const QXLPHYSICAL data_addr = b.data;

    const unsigned bpp = draw::bitmap_bits_per_pixel(bm.format);
    if (bpp == 0) return fail("bad bitmap format");
    if (bm.width == 0 || bm.height == 0) return fail("zero-area bitmap");
    if (bm.stride < (uint64_t{bm.width} * bpp + 7) / 8) return fail("bitmap stride below width");
    if (qflags & QXL_BITMAP_TOP_DOWN) bm.flags = SPICE_BITMAP_FLAGS_TOP_DOWN;

    if (bitmap_has_palette(bm.format)) {
        // A 1-bit mask is drawn without colours, so it may come without one.
        if (pal_addr == 0 && !is_mask) return fail("palette format bitmap without a palette");
        if (pal_addr != 0 && !get_palette(pal_addr, bpp, bm.pal)) return false;
    }
    // A palette on a direct-colour bitmap means nothing and is not read.

    const uint64_t size = uint64_t{bm.height} * bm.stride;
    if (size > _limits.max_image_bytes) return fail("bitmap larger than max_image_bytes");
    if (qflags & QXL_BITMAP_DIRECT) {
        auto d = bytes(data_addr, size, "bitmap data outside its memslot");
        if (!d) return false;
        bm.data.parts.push_back(*d);
    } else {
        if (!chain_at(data_addr, _limits.max_image_bytes, bm.data)) return false;
        if (bm.data.size() != size) return fail("bitmap data size is not stride x height");
    }
    img.payload = std::move(bm);
    return true;
}

bool parser::get_image(QXLPHYSICAL addr, bool is_mask, draw::image_ptr &out) {
    std::array<uint8_t, sizeof(QXLImage)> raw;
    if (!read(addr, raw, "image outside its memslot")) return false;
    QXLImageDescriptor d;
    std::memcpy(&d, raw.data(), sizeof d);

    auto img = std::make_shared<draw::image>();
    img->id = d.id;
    img->type = d.type;
    if (d.flags & QXL_IMAGE_HIGH_BITS_SET) img->flags |= SPICE_IMAGE_FLAGS_HIGH_BITS_SET;
    if (d.flags & QXL_IMAGE_CACHE) img->flags |= SPICE_IMAGE_FLAGS_CACHE_ME;
    img->width = d.width;
    img->height = d.height;

    switch (img->type) {
    case SPICE_IMAGE_TYPE_BITMAP: {
        QXLBitmap b;
        std::memcpy(&b, raw.data() + offsetof(QXLImage, bitmap), sizeof b);
        if (!get_bitmap(b, is_mask, *img)) return false;
        break;
    }
    case SPICE_IMAGE_TYPE_QUIC: {
        // QXLQUICData: a size, then the first QXLDataChunk in place.
        constexpr size_t quic_at = offsetof(QXLImage, quic);
        uint32_t data_size;
        QXLDataChunk first;
        std::memcpy(&data_size, raw.data() + quic_at, 4);
        std::memcpy(&first, raw.data() + quic_at + 4, sizeof first);
        if (data_size > _limits.max_image_bytes)
            return fail("QUIC data larger than max_image_bytes");
        draw::quic_data q;
        if (!chain(addr, quic_at + 4, first, data_size, q.data)) return false;
        if (q.data.size() != data_size) return fail("QUIC chunks do not match data_size");
        img->payload = std::move(q);
        break;
    }
    case SPICE_IMAGE_TYPE_SURFACE: {
        uint32_t id;
        std::memcpy(&id, raw.data() + offsetof(QXLImage, surface_image), 4);
        if (!surface_id_ok(id)) return fail("image of a surface id >= n_surfaces");
        img->payload = draw::surface_ref{id};
        break;
    }
    default:
        return fail("image type a guest may not send");
    }
    out = std::move(img);
    return true;
}

bool parser::get_brush(QXLBrush b, draw::brush &out) {
    out.type = b.type;
    switch (out.type) {
    case SPICE_BRUSH_TYPE_NONE:
        return true;
    case SPICE_BRUSH_TYPE_SOLID: {
        const uint32_t c = b.u.color;
        out.color = (_flags & QXL_COMMAND_FLAG_COMPAT_16BPP) ? color_16_to_32(c) : c;
        return true;
    }
    case SPICE_BRUSH_TYPE_PATTERN: {
        const QXLPattern p = b.u.pattern;
        if (p.pat == 0) return fail("pattern brush without an image");
        out.pat.pos = to_point(p.pos);
        return get_image(p.pat, false, out.pat.pat);
    }
    default:
        return fail("bad brush type");
    }
}

bool parser::get_qmask(QXLQMask m, draw::qmask &out) {
    if (m.bitmap == 0) return true; // no mask; flags and pos stay zero
    out.flags = m.flags;
    out.pos = to_point(m.pos);
    return get_image(m.bitmap, true, out.bitmap);
}

// Every operation that reads a source image needs one, and its area must be
// a well-formed rectangle inside the image where the parser knows the size
// (bitmaps; a surface's or a QUIC stream's size is the consumer's to check).
bool parser::get_src(QXLPHYSICAL addr, QXLRect area, draw::image_ptr &img, draw::rect &out_area) {
    if (addr == 0) return fail("drawing without its source image");
    if (!get_image(addr, false, img)) return false;
    out_area = to_rect(area);
    if (!well_formed(out_area) || out_area.left < 0 || out_area.top < 0)
        return fail("bad source area");
    if (const auto *bm = std::get_if<draw::bitmap>(&img->payload)) {
        if (uint64_t(out_area.right) > bm->width || uint64_t(out_area.bottom) > bm->height)
            return fail("source area outside the source bitmap");
    }
    return true;
}

bool parser::get_transform(QXLPHYSICAL addr, std::optional<draw::transform> &out) {
    if (addr == 0) return true; // identity
    QXLTransform t;
    if (!read(addr, t, "transform outside its memslot")) return false;
    out = draw::transform{t.t00, t.t01, t.t02, t.t10, t.t11, t.t12};
    return true;
}

// ---- clip, path, string --------------------------------------------------

bool parser::get_clip(QXLClip c, draw::clip &out) {
    const uint32_t type = c.type;
    const QXLPHYSICAL addr = c.data;
    if (type == SPICE_CLIP_TYPE_NONE) return true;
    if (type != SPICE_CLIP_TYPE_RECTS) return fail("bad clip type");
    out.type = SPICE_CLIP_TYPE_RECTS;

    QXLClipRects head;
    if (!read(addr, head, "clip rects outside their memslot")) return false;
    const uint32_t n = head.num_rects;
    if (n > _limits.max_clip_rects) return fail("more clip rects than max_clip_rects");
    draw::chunks ch;
    const uint64_t want = uint64_t{n} * sizeof(QXLRect);
    if (!chain(addr, offsetof(QXLClipRects, chunk), head.chunk, want, ch)) return false;
    if (ch.size() != want) return fail("clip rects count does not match their data");
    const auto data = linearize(ch);
    out.rects.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
        QXLRect r;
        std::memcpy(&r, data.data() + size_t{i} * sizeof r, sizeof r);
        out.rects[i] = to_rect(r);
        if (!well_formed(out.rects[i])) return fail("inverted clip rect");
    }
    return true;
}

bool parser::get_path(QXLPHYSICAL addr, std::vector<draw::path_segment> &out) {
    QXLPath head;
    if (!read(addr, head, "path outside its memslot")) return false;
    // QXLPath::data_size is not trusted (nor used by the reference): the
    // chunks say how much there is.
    draw::chunks ch;
    if (!chain(addr, offsetof(QXLPath, chunk), head.chunk, _limits.max_path_bytes, ch))
        return false;
    const auto data = linearize(ch);
    size_t off = 0;
    // As the reference: segments follow each other while more than a
    // segment header remains; a shorter tail is ignored.
    while (data.size() - off > sizeof(QXLPathSeg)) {
        if (out.size() >= _limits.max_path_segments) return fail("more path segments than limit");
        QXLPathSeg seg;
        std::memcpy(&seg, data.data() + off, sizeof seg);
        off += sizeof seg;
        const uint32_t count = seg.count;
        if (uint64_t{count} * sizeof(QXLPointFix) > data.size() - off)
            return fail("path segment longer than the path");
        draw::path_segment s;
        s.flags = seg.flags;
        s.points.resize(count);
        for (uint32_t i = 0; i < count; ++i) {
            QXLPointFix p;
            std::memcpy(&p, data.data() + off, sizeof p);
            off += sizeof p;
            s.points[i] = {p.x, p.y};
        }
        out.push_back(std::move(s));
    }
    return true;
}

bool parser::get_string(QXLPHYSICAL addr, draw::text &out) {
    QXLString head;
    if (!read(addr, head, "string outside its memslot")) return false;
    const uint32_t data_size = head.data_size;
    const uint16_t length = head.length;
    const uint16_t flags = head.flags;
    if (length > _limits.max_glyphs) return fail("more glyphs than max_glyphs");
    if (data_size > _limits.max_text_bytes) return fail("string larger than max_text_bytes");
    unsigned bpp = 0;
    if (flags & SPICE_STRING_FLAGS_RASTER_A1)
        bpp = 1;
    else if (flags & SPICE_STRING_FLAGS_RASTER_A4)
        bpp = 4;
    else if (flags & SPICE_STRING_FLAGS_RASTER_A8)
        bpp = 8;
    if (bpp == 0) return fail("string without a raster format");

    draw::chunks ch;
    if (!chain(addr, offsetof(QXLString, chunk), head.chunk, data_size, ch)) return false;
    if (ch.size() != data_size) return fail("string chunks do not match data_size");
    auto storage = std::make_shared<std::vector<uint8_t>>(linearize(ch));
    const std::vector<uint8_t> &data = *storage;

    out.string_flags = flags;
    out.glyphs.reserve(length);
    size_t off = 0;
    while (off < data.size()) {
        if (out.glyphs.size() >= length) return fail("string has more glyphs than its length");
        if (data.size() - off < sizeof(QXLRasterGlyph)) return fail("truncated glyph");
        QXLRasterGlyph g;
        std::memcpy(&g, data.data() + off, sizeof g);
        off += sizeof g;
        draw::glyph out_g;
        out_g.render_pos = to_point(g.render_pos);
        out_g.glyph_origin = to_point(g.glyph_origin);
        out_g.width = g.width;
        out_g.height = g.height;
        const uint64_t size = uint64_t{out_g.height} * ((uint64_t{out_g.width} * bpp + 7) / 8);
        if (size > data.size() - off) return fail("glyph larger than the string");
        out_g.data = std::span<const uint8_t>(data.data() + off, size);
        off += size;
        out.glyphs.push_back(out_g);
    }
    if (out.glyphs.size() != length) return fail("string has fewer glyphs than its length");
    out.storage = std::move(storage);
    return true;
}

// ---- operations ----------------------------------------------------------

bool parser::get_fill(QXLFill q, draw::fill &out) {
    out.rop_descriptor = q.rop_descriptor;
    return get_brush(q.brush, out.br) && get_qmask(q.mask, out.mask);
}

bool parser::get_opaque(QXLOpaque q, draw::opaque &out) {
    out.rop_descriptor = q.rop_descriptor;
    out.scale_mode = q.scale_mode;
    return get_src(q.src_bitmap, q.src_area, out.src, out.src_area) && get_brush(q.brush, out.br) &&
           get_qmask(q.mask, out.mask);
}

bool parser::get_copy(QXLCopy q, draw::copy &out) {
    out.rop_descriptor = q.rop_descriptor;
    out.scale_mode = q.scale_mode;
    return get_src(q.src_bitmap, q.src_area, out.src, out.src_area) && get_qmask(q.mask, out.mask);
}

bool parser::get_transparent(QXLTransparent q, draw::transparent &out) {
    out.src_color = q.src_color;
    out.true_color = q.true_color;
    return get_src(q.src_bitmap, q.src_area, out.src, out.src_area);
}

bool parser::get_rop3(QXLRop3 q, draw::rop3 &out) {
    out.rop3_code = q.rop3;
    out.scale_mode = q.scale_mode;
    return get_src(q.src_bitmap, q.src_area, out.src, out.src_area) && get_brush(q.brush, out.br) &&
           get_qmask(q.mask, out.mask);
}

bool parser::get_stroke(QXLStroke q, draw::stroke &out) {
    const QXLLineAttr attr = q.attr;
    out.line_flags = attr.flags;
    out.fore_mode = q.fore_mode;
    out.back_mode = q.back_mode;
    if (!get_path(q.path, out.path)) return false;
    if (out.line_flags & SPICE_LINE_FLAGS_STYLED) {
        const uint8_t nseg = attr.style_nseg; // at most 255: no limit needed
        const QXLPHYSICAL style = attr.style;
        if (style == 0 && nseg > 0) return fail("styled stroke without a style");
        if (nseg > 0) {
            auto s =
                bytes(style, size_t{nseg} * sizeof(QXLFIXED), "line style outside its memslot");
            if (!s) return false;
            out.style.resize(nseg);
            std::memcpy(out.style.data(), s->data(), size_t{nseg} * sizeof(QXLFIXED));
        }
    }
    return get_brush(q.brush, out.br);
}

bool parser::get_text(QXLText q, draw::text &out) {
    out.back_area = to_rect(q.back_area);
    out.fore_mode = q.fore_mode;
    out.back_mode = q.back_mode;
    return get_string(q.str, out) && get_brush(q.fore_brush, out.fore_brush) &&
           get_brush(q.back_brush, out.back_brush);
}

bool parser::get_composite(QXLComposite q, draw::composite &out) {
    // The HAS_* bits describe what we found, not what the guest claims: they
    // live in the flags' reserved bits, which the guest leaves zero.
    constexpr uint32_t has_bits = SPICE_COMPOSITE_HAS_MASK | SPICE_COMPOSITE_HAS_SRC_TRANSFORM |
                                  SPICE_COMPOSITE_HAS_MASK_TRANSFORM;
    out.flags = q.flags & ~has_bits;
    out.src_origin = to_point16(q.src_origin);
    out.mask_origin = to_point16(q.mask_origin);
    if (q.src == 0) return fail("composite without its source image");
    if (!get_image(q.src, false, out.src)) return false;
    if (!get_transform(q.src_transform, out.src_transform)) return false;
    if (out.src_transform) out.flags |= SPICE_COMPOSITE_HAS_SRC_TRANSFORM;
    if (q.mask != 0) {
        if (!get_image(q.mask, false, out.mask)) return false;
        out.flags |= SPICE_COMPOSITE_HAS_MASK;
        if (!get_transform(q.mask_transform, out.mask_transform)) return false;
        if (out.mask_transform) out.flags |= SPICE_COMPOSITE_HAS_MASK_TRANSFORM;
    }
    return true;
}

template <typename M> bool parser::get_mask_only(QXLQMask m, draw::operation &op) {
    M v;
    if (!get_qmask(m, v.mask)) return false;
    op = std::move(v);
    return true;
}

template <typename U> bool parser::common_op(uint8_t type, const U &u, draw::drawable &out) {
    switch (type) {
    case QXL_DRAW_FILL: {
        draw::fill v;
        if (!get_fill(u.fill, v)) return false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_OPAQUE: {
        draw::opaque v;
        if (!get_opaque(u.opaque, v)) return false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_COPY: {
        draw::copy v;
        if (!get_copy(u.copy, v)) return false;
        // Meaningless for a copy, and some drivers set it by mistake (the
        // reference clears it too).
        out.self_bitmap = false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_BLEND: {
        draw::blend v;
        if (!get_copy(u.blend, v)) return false;
        out.self_bitmap = false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_TRANSPARENT: {
        draw::transparent v;
        if (!get_transparent(u.transparent, v)) return false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_ROP3: {
        draw::rop3 v;
        if (!get_rop3(u.rop3, v)) return false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_STROKE: {
        draw::stroke v;
        if (!get_stroke(u.stroke, v)) return false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_TEXT: {
        draw::text v;
        if (!get_text(u.text, v)) return false;
        out.op = std::move(v);
        return true;
    }
    case QXL_DRAW_BLACKNESS:
        return get_mask_only<draw::blackness>(u.blackness.mask, out.op);
    case QXL_DRAW_WHITENESS:
        return get_mask_only<draw::whiteness>(u.whiteness.mask, out.op);
    case QXL_DRAW_INVERS:
        return get_mask_only<draw::invers>(u.invers.mask, out.op);
    case QXL_DRAW_NOP:
        // draw::operation has no "nothing": the command is dropped, which
        // is what drawing nothing amounts to.
        return fail("QXL_DRAW_NOP drawable (nothing to draw)");
    default:
        return fail("bad drawable type");
    }
}

bool parser::finish_drawable(draw::drawable &out) {
    if (out.effect > QXL_EFFECT_OPAQUE_BRUSH) return fail("bad drawable effect");
    if (!surface_id_ok(out.surface_id)) return fail("drawable on a surface id >= n_surfaces");
    // Surface coordinates: the reference refuses negative ones too; whether
    // the box fits the surface is for whoever knows the surface's size.
    if (!well_formed(out.bbox) || !non_negative(out.bbox)) return fail("bad drawable bbox");
    if (out.self_bitmap && !well_formed(out.self_bitmap_area)) return fail("bad self bitmap area");
    for (size_t i = 0; i < out.surface_deps.size(); ++i) {
        const int32_t dep = out.surface_deps[i];
        if (dep == -1) continue;
        if (dep < 0 || !surface_id_ok(uint32_t(dep))) return fail("bad surface dependency id");
        if (!well_formed(out.surface_rects[i])) return fail("bad surface dependency area");
    }
    return true;
}

bool parser::drawable(QXLPHYSICAL addr, draw::drawable &out) {
    QXLDrawable q;
    if (!read(addr, q, "drawable outside its memslot")) return false;
    out.surface_id = q.surface_id;
    out.effect = q.effect;
    out.bbox = to_rect(q.bbox);
    out.mm_time = q.mm_time;
    out.self_bitmap = q.self_bitmap != 0;
    out.self_bitmap_area = to_rect(q.self_bitmap_area);
    for (size_t i = 0; i < 3; ++i) {
        out.surface_deps[i] = q.surfaces_dest[i];
        out.surface_rects[i] = to_rect(q.surfaces_rects[i]);
    }
    if (!get_clip(q.clip, out.clp)) return false;

    const uint8_t type = q.type;
    switch (type) {
    case QXL_DRAW_ALPHA_BLEND: {
        const QXLAlphaBlend a = q.u.alpha_blend;
        draw::alpha_blend v;
        v.alpha_flags = a.alpha_flags;
        v.alpha = a.alpha;
        if (!get_src(a.src_bitmap, a.src_area, v.src, v.src_area)) return false;
        out.op = std::move(v);
        break;
    }
    case QXL_DRAW_COMPOSITE: {
        draw::composite v;
        if (!get_composite(q.u.composite, v)) return false;
        out.op = std::move(v);
        break;
    }
    case QXL_COPY_BITS:
        out.op = draw::copy_bits{to_point(q.u.copy_bits.src_pos)};
        break;
    default:
        if (!common_op(type, q.u, out)) return false;
    }
    return finish_drawable(out);
}

bool parser::compat_drawable(QXLPHYSICAL addr, draw::drawable &out) {
    QXLCompatDrawable q;
    if (!read(addr, q, "drawable outside its memslot")) return false;
    out.surface_id = 0; // revision 1 devices draw on the primary only
    out.effect = q.effect;
    out.bbox = to_rect(q.bbox);
    out.mm_time = q.mm_time;
    out.self_bitmap = q.bitmap_offset != 0;
    out.self_bitmap_area = to_rect(q.bitmap_area);
    if (!get_clip(q.clip, out.clp)) return false;

    const uint8_t type = q.type;
    switch (type) {
    case QXL_DRAW_ALPHA_BLEND: {
        const QXLCompatAlphaBlend a = q.u.alpha_blend;
        draw::alpha_blend v;
        v.alpha = a.alpha;
        if (!get_src(a.src_bitmap, a.src_area, v.src, v.src_area)) return false;
        out.op = std::move(v);
        break;
    }
    case QXL_COPY_BITS: {
        // Old drivers do not declare the dependency; it is the primary's
        // source area, the bbox moved to src_pos.
        const draw::point src = to_point(q.u.copy_bits.src_pos);
        out.op = draw::copy_bits{src};
        const int64_t right = int64_t{src.x} + (int64_t{out.bbox.right} - out.bbox.left);
        const int64_t bottom = int64_t{src.y} + (int64_t{out.bbox.bottom} - out.bbox.top);
        constexpr int64_t lo = std::numeric_limits<int32_t>::min();
        constexpr int64_t hi = std::numeric_limits<int32_t>::max();
        if (right < lo || right > hi || bottom < lo || bottom > hi)
            return fail("copy bits source area overflows");
        out.surface_deps[0] = 0;
        out.surface_rects[0] = {src.x, src.y, int32_t(right), int32_t(bottom)};
        break;
    }
    default:
        // QXL_DRAW_COMPOSITE does not exist in the compat union.
        if (!common_op(type, q.u, out)) return false;
    }
    return finish_drawable(out);
}

// ---- the other commands --------------------------------------------------

bool parser::surface(QXLPHYSICAL addr, draw::surface_cmd &out) {
    QXLSurfaceCmd q;
    if (!read(addr, q, "surface command outside its memslot")) return false;
    out.surface_id = q.surface_id;
    out.type = q.type;
    out.flags = q.flags;
    if (!surface_id_ok(out.surface_id)) return fail("surface id >= n_surfaces");
    if (out.type == QXL_SURFACE_CMD_DESTROY) return true;
    if (out.type != QXL_SURFACE_CMD_CREATE) return fail("bad surface command type");

    const QXLSurface s = q.u.surface_create;
    out.format = s.format;
    out.width = s.width;
    out.height = s.height;
    out.stride = s.stride;
    const unsigned bpp = surface_bpp(out.format);
    if (bpp == 0) return fail("bad surface format");
    if (out.width == 0 || out.height == 0) return fail("zero-area surface");
    // INT32_MIN has no magnitude in int32; refuse it before taking one.
    if (out.stride == std::numeric_limits<int32_t>::min()) return fail("bad surface stride");
    const uint64_t abs_stride =
        out.stride < 0 ? uint64_t(-int64_t{out.stride}) : uint64_t(out.stride);
    if ((uint64_t{out.width} * bpp + 7) / 8 > abs_stride) return fail("surface stride below width");
    const uint64_t size = uint64_t{out.height} * abs_stride;
    if (size > _limits.max_surface_bytes) return fail("surface larger than max_surface_bytes");
    auto mem = _slots.translate(s.data, size, _group);
    if (!mem) return fail("surface memory outside its memslot");
    out.data = *mem;
    return true;
}

bool parser::update(QXLPHYSICAL addr, draw::update_cmd &out) {
    QXLUpdateCmd q;
    if (!read(addr, q, "update command outside its memslot")) return false;
    out.surface_id = q.surface_id;
    out.area = to_rect(q.area);
    out.update_id = q.update_id;
    if (!surface_id_ok(out.surface_id)) return fail("update of a surface id >= n_surfaces");
    if (!well_formed(out.area)) return fail("inverted update area");
    return true;
}

bool parser::message(QXLPHYSICAL addr, message_cmd &out) {
    // The text has no length: look for its NUL within the limit and the slot.
    const size_t want = sizeof(QXLMessage) + size_t{_limits.max_message_length} + 1;
    auto s = _slots.translate_prefix(addr, want, _group);
    if (!s) return fail("message outside its memslot");
    if (s->size() < sizeof(QXLMessage)) return fail("message outside its memslot");
    const auto text = s->subspan(sizeof(QXLMessage));
    const void *nul = std::memchr(text.data(), 0, text.size());
    if (nul == nullptr)
        return fail(s->size() == want ? "message longer than max_message_length"
                                      : "message runs off its memslot");
    const size_t len = size_t(static_cast<const uint8_t *>(nul) - text.data());
    out.text.assign(reinterpret_cast<const char *>(text.data()), len);
    return true;
}

bool parser::get_cursor_shape(QXLPHYSICAL addr, std::shared_ptr<const draw::cursor_shape> &out) {
    QXLCursor q;
    if (!read(addr, q, "cursor shape outside its memslot")) return false;
    const QXLCursorHeader h = q.header;
    auto shape = std::make_shared<draw::cursor_shape>();
    shape->unique = h.unique;
    shape->type = h.type;
    shape->width = h.width;
    shape->height = h.height;
    shape->hot_spot_x = h.hot_spot_x;
    shape->hot_spot_y = h.hot_spot_y;
    const uint32_t declared = q.data_size;

    const auto need = cursor_bytes(shape->type, shape->width, shape->height);
    if (!need) return fail("bad cursor type");
    if (*need > _limits.max_cursor_bytes) return fail("cursor larger than max_cursor_bytes");
    draw::chunks ch;
    if (!chain(addr, offsetof(QXLCursor, chunk), q.chunk, _limits.max_cursor_bytes, ch))
        return false;
    // As the reference: the shape is data_size bytes, or what the chunks
    // hold if that is less; either way enough for the type and size.
    auto data = linearize(ch);
    if (declared < data.size()) data.resize(declared);
    if (data.size() < *need) return fail("cursor data smaller than its type and size need");
    shape->data = std::move(data);
    out = std::move(shape);
    return true;
}

bool parser::cursor(QXLPHYSICAL addr, draw::cursor_cmd &out) {
    QXLCursorCmd q;
    if (!read(addr, q, "cursor command outside its memslot")) return false;
    out.type = q.type;
    switch (out.type) {
    case QXL_CURSOR_SET:
        out.position = to_point16(q.u.set.position);
        out.visible = q.u.set.visible != 0;
        return get_cursor_shape(q.u.set.shape, out.shape);
    case QXL_CURSOR_MOVE:
        out.position = to_point16(q.u.position);
        return true;
    case QXL_CURSOR_HIDE:
        out.visible = false;
        return true;
    case QXL_CURSOR_TRAIL:
        out.trail_length = q.u.trail.length;
        out.trail_frequency = q.u.trail.frequency;
        return true;
    default:
        return fail("bad cursor command type");
    }
}

template <typename T, typename F> parse_result run(parser &p, F &&step) {
    T out;
    if (!step(out)) return parse_error{p.error()};
    return out;
}

} // namespace

parse_result parse_command(const QXLCommandExt &cmd, const memslot_table &slots,
                           const parser_limits &limits) {
    // QXLCommandExt is packed: take the fields by value.
    const QXLCommand c = cmd.cmd;
    const QXLPHYSICAL addr = c.data;
    const uint32_t type = c.type;
    const uint32_t group = cmd.group_id;
    const uint32_t flags = cmd.flags;
    parser p(slots, limits, group, flags);

    parse_result r = parse_error{"unknown command type"};
    switch (type) {
    case QXL_CMD_DRAW:
        r = run<draw::drawable>(p, [&](draw::drawable &d) {
            return (flags & QXL_COMMAND_FLAG_COMPAT) ? p.compat_drawable(addr, d)
                                                     : p.drawable(addr, d);
        });
        break;
    case QXL_CMD_UPDATE:
        r = run<draw::update_cmd>(p, [&](draw::update_cmd &u) { return p.update(addr, u); });
        break;
    case QXL_CMD_MESSAGE:
        r = run<message_cmd>(p, [&](message_cmd &m) { return p.message(addr, m); });
        break;
    case QXL_CMD_SURFACE:
        r = run<draw::surface_cmd>(p, [&](draw::surface_cmd &s) { return p.surface(addr, s); });
        break;
    case QXL_CMD_CURSOR:
        r = run<draw::cursor_cmd>(p, [&](draw::cursor_cmd &k) { return p.cursor(addr, k); });
        break;
    default:
        break;
    }
    if (const auto *e = std::get_if<parse_error>(&r))
        RS_LOG_RATELIMITED("qxl", "dropping QXL command (type {}, address {:#x}, group {}): {}",
                           type, addr, group, e->reason);
    return r;
}

std::optional<QXLReleaseInfoExt> release_info_of(const QXLCommandExt &cmd,
                                                 const memslot_table &slots) {
    const QXLCommand c = cmd.cmd;
    const uint32_t group = cmd.group_id;
    auto s = slots.translate(c.data, sizeof(QXLReleaseInfo), group);
    if (!s) return std::nullopt;
    QXLReleaseInfoExt ext{};
    // QXLReleaseInfo is packed (alignment 1), so any byte address holds one.
    ext.info = reinterpret_cast<QXLReleaseInfo *>(s->data());
    ext.group_id = group;
    return ext;
}

} // namespace rs::qxl
