#include "display/display_messages.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "display/codec/lz4_image.hpp"
#include "runtime/byte_pool.hpp"

namespace rs {

namespace {

// ---- pointer layout --------------------------------------------------------
//
// spice-common's marshaller keeps one list of sub-buffers: each pointer field
// appends a new, empty one to the end of that list (wherever the pointer
// itself lives), the body is the list concatenated, and a pointer is the
// offset of its sub-buffer, or 0 if nothing was written to it. `layout`
// reproduces that, so our bytes match the reference's byte for byte.
//
// Bytes written are copied into one scratch vector; large pixel data is kept
// as a borrowed span and copied once, into the message, by finish().

class layout;

/// A sub-buffer being written; cheap to copy, valid while its layout lives.
class block {
  public:
    void u8(uint8_t v);
    void u16(uint16_t v);
    void u32(uint32_t v);
    void u64(uint64_t v);
    void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
    void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
    /// Keeps a view of `b`, copied by finish(); `b` must outlive the layout.
    void ref(std::span<const uint8_t> b);
    void zeros(size_t n);
    /// Writes a pointer here and returns the (empty) block it points to,
    /// placed after every block opened so far.
    block ptr();
    /// Makes scratch bytes [from, from + n) the next bytes of this block:
    /// lets a codec compress straight into the layout's scratch.
    void adopt_scratch(size_t from, size_t n);
    layout &owner() const noexcept { return *_l; }

  private:
    friend class layout;
    block(layout *l, uint32_t id)
        : _l(l)
        , _id(id) {}
    layout *_l;
    uint32_t _id;
};

class layout {
  public:
    layout() { _blocks.emplace_back(); }

    block root() { return block(this, 0); }

    /// Where a codec may append bytes before adopt_scratch / drop_scratch.
    std::vector<uint8_t> &scratch() noexcept { return _scratch; }
    void drop_scratch(size_t from) { _scratch.resize(from); }

    /// Appends the body to `w` and fills in the pointers, relative to the
    /// writer's size on entry (the start of the body).
    void finish(wire::writer &w) const {
        const size_t base = w.size();
        std::vector<size_t> start(_blocks.size());
        size_t at = 0;
        for (size_t i = 0; i < _blocks.size(); ++i) {
            start[i] = at;
            at += _blocks[i].size;
        }
        // A large message goes into a recycled buffer (the writer gives it
        // back once sent) rather than freshly faulted-in pages.
        auto &buf = w.buffer();
        if (buf.capacity() < base + at && base + at >= byte_pool::min_pooled) {
            auto pooled = byte_pool::take(base + at);
            pooled.insert(pooled.end(), buf.begin(), buf.end());
            buf.swap(pooled);
        }
        buf.reserve(base + at);
        for (const auto &b : _blocks)
            for (const auto &p : b.pieces)
                w.bytes(p.borrowed ? std::span<const uint8_t>(p.borrowed, p.len)
                                   : std::span<const uint8_t>(_scratch.data() + p.off, p.len));
        for (size_t i = 1; i < _blocks.size(); ++i) {
            const auto &b = _blocks[i];
            if (b.size == 0) continue; // an empty target stays a null pointer
            w.patch(wire::u32_slot{base + start[b.parent] + b.slot},
                    static_cast<uint32_t>(start[i]));
        }
    }

  private:
    friend class block;

    struct piece {
        size_t off = 0; ///< into _scratch when borrowed is null
        size_t len = 0;
        const uint8_t *borrowed = nullptr;
    };
    struct blk {
        std::vector<piece> pieces;
        size_t size = 0;
        uint32_t parent = 0;
        size_t slot = 0; ///< offset of the pointer inside the parent
    };

    void append(uint32_t id, const uint8_t *p, size_t n) {
        const size_t off = _scratch.size();
        _scratch.insert(_scratch.end(), p, p + n);
        add_scratch_piece(_blocks[id], off, n);
    }
    void append_zeros(uint32_t id, size_t n) {
        const size_t off = _scratch.size();
        _scratch.resize(off + n, 0);
        add_scratch_piece(_blocks[id], off, n);
    }
    void append_ref(uint32_t id, std::span<const uint8_t> s) {
        if (s.empty()) return;
        auto &b = _blocks[id];
        b.pieces.push_back(piece{0, s.size(), s.data()});
        b.size += s.size();
    }
    void adopt(uint32_t id, size_t from, size_t n) {
        auto &b = _blocks[id];
        b.pieces.push_back(piece{from, n, nullptr});
        b.size += n;
    }
    uint32_t open_ptr(uint32_t parent) {
        const size_t slot = _blocks[parent].size;
        append_zeros(parent, 4);
        blk b;
        b.parent = parent;
        b.slot = slot;
        _blocks.push_back(std::move(b));
        return static_cast<uint32_t>(_blocks.size() - 1);
    }
    // Consecutive writes to one block share a piece.
    static void add_scratch_piece(blk &b, size_t off, size_t n) {
        b.size += n;
        if (!b.pieces.empty()) {
            auto &last = b.pieces.back();
            if (!last.borrowed && last.off + last.len == off) {
                last.len += n;
                return;
            }
        }
        b.pieces.push_back(piece{off, n, nullptr});
    }

    std::vector<uint8_t> _scratch;
    std::vector<blk> _blocks;
};

void block::u8(uint8_t v) { _l->append(_id, &v, 1); }
void block::u16(uint16_t v) {
    const uint8_t b[2] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)};
    _l->append(_id, b, 2);
}
void block::u32(uint32_t v) {
    const uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8),
                          static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 24)};
    _l->append(_id, b, 4);
}
void block::u64(uint64_t v) {
    u32(static_cast<uint32_t>(v));
    u32(static_cast<uint32_t>(v >> 32));
}
void block::ref(std::span<const uint8_t> b) { _l->append_ref(_id, b); }
void block::zeros(size_t n) { _l->append_zeros(_id, n); }
block block::ptr() { return block(_l, _l->open_ptr(_id)); }
void block::adopt_scratch(size_t from, size_t n) { _l->adopt(_id, from, n); }

// ---- spice.proto structures --------------------------------------------------

// Rect is top, left, bottom, right on the wire (not the C order).
void put_rect(block &b, const draw::rect &r) {
    b.i32(r.top);
    b.i32(r.left);
    b.i32(r.bottom);
    b.i32(r.right);
}

void put_point(block &b, const draw::point &p) {
    b.i32(p.x);
    b.i32(p.y);
}

// DisplayBase: the clip rects are inline (Clip's @to_ptr only shapes the C
// struct; the generated marshaller writes them in place).
void put_base(block &b, const draw::drawable &d) {
    b.u32(d.surface_id);
    put_rect(b, d.bbox);
    if (d.clp.type == SPICE_CLIP_TYPE_RECTS) {
        b.u8(SPICE_CLIP_TYPE_RECTS);
        b.u32(static_cast<uint32_t>(d.clp.rects.size()));
        for (const auto &r : d.clp.rects)
            put_rect(b, r);
    } else {
        b.u8(SPICE_CLIP_TYPE_NONE);
    }
}

// Writes the first `n` bytes of `c` by reference, zero-padded if it holds
// fewer: the client reads exactly n (it derives the size, e.g. stride × y),
// so the message must carry exactly that many.
void put_chunks(block &b, const draw::chunks &c, uint64_t n) {
    for (const auto &p : c.parts) {
        if (n == 0) return;
        const size_t take = static_cast<size_t>(std::min<uint64_t>(n, p.size()));
        b.ref(p.first(take));
        n -= take;
    }
    if (n) b.zeros(static_cast<size_t>(n));
}

void put_descriptor(block &b, uint64_t id, uint8_t type, uint8_t flags, uint32_t width,
                    uint32_t height) {
    b.u64(id);
    b.u8(type);
    b.u8(flags);
    b.u32(width);
    b.u32(height);
}

bool is_binary_data_type(uint8_t type) noexcept {
    switch (type) {
    case SPICE_IMAGE_TYPE_QUIC:
    case SPICE_IMAGE_TYPE_LZ_RGB:
    case SPICE_IMAGE_TYPE_GLZ_RGB:
    case SPICE_IMAGE_TYPE_JPEG:
    case SPICE_IMAGE_TYPE_LZ4:
        return true;
    default:
        return false;
    }
}

// SpiceImage with a BITMAP payload. The palette pointer opens its block when
// the image is written (after the drawing's own pointers), as
// spice_marshall_Image does.
void put_bitmap(block &b, const draw::image &img, const draw::bitmap &bmp, const image_plan &plan) {
    put_descriptor(b, img.id, SPICE_IMAGE_TYPE_BITMAP, plan.descriptor_flags, img.width,
                   img.height);
    uint8_t flags = bmp.flags & SPICE_BITMAP_FLAGS_TOP_DOWN;
    const draw::palette *pal = bmp.pal.get();
    if (pal && plan.palette == image_plan::palette_mode::from_cache)
        flags |= SPICE_BITMAP_FLAGS_PAL_FROM_CACHE;
    else if (pal && plan.palette == image_plan::palette_mode::send_and_cache)
        flags |= SPICE_BITMAP_FLAGS_PAL_CACHE_ME;
    b.u8(bmp.format);
    b.u8(flags);
    b.u32(bmp.width);
    b.u32(bmp.height);
    b.u32(bmp.stride);
    if (flags & SPICE_BITMAP_FLAGS_PAL_FROM_CACHE) {
        b.u64(pal->unique);
    } else {
        block p = b.ptr();
        if (pal) {
            // num_ents is u16; a palette has at most 256 entries anyway.
            const size_t n = std::min<size_t>(pal->entries.size(), 0xffff);
            p.u64(pal->unique);
            p.u16(static_cast<uint16_t>(n));
            for (size_t i = 0; i < n; ++i)
                p.u32(pal->entries[i]);
        }
    }
    // BitmapData has no size field: the client takes stride × y bytes.
    put_chunks(b, bmp.data, uint64_t{bmp.stride} * bmp.height);
}

// LZ4 when it applies and pays; false when the caller should send it raw.
bool put_lz4(block &b, const draw::image &img, const draw::bitmap &bmp, const image_plan &plan) {
    layout &l = b.owner();
    const size_t mark = l.scratch().size();
    const auto n = lz4_image::encode(bmp, l.scratch());
    if (!n) return false;
    // As the reference: keep LZ4 only when it is no bigger than the pixels.
    if (*n > uint64_t{bmp.stride} * bmp.height || *n > std::numeric_limits<uint32_t>::max()) {
        l.drop_scratch(mark);
        return false;
    }
    // canvas_get_lz4 sizes the image from the descriptor, so it must be the
    // geometry that was compressed.
    put_descriptor(b, img.id, SPICE_IMAGE_TYPE_LZ4, plan.descriptor_flags, bmp.width, bmp.height);
    b.u32(static_cast<uint32_t>(*n));
    b.adopt_scratch(mark, *n);
    return true;
}

// The palette of an LZ_PLT image: its id when the client caches it, else a
// pointer whose block (filled now, after the image's own bytes are placed
// in this block) holds it, as LZPLTData's @outvar palette.
void put_lz_plt_palette(block &b, const draw::palette &pal, uint8_t flags) {
    if (flags & SPICE_BITMAP_FLAGS_PAL_FROM_CACHE) {
        b.u64(pal.unique);
        return;
    }
    block p = b.ptr();
    const size_t n = std::min<size_t>(pal.entries.size(), 0xffff);
    p.u64(pal.unique);
    p.u16(static_cast<uint16_t>(n));
    for (size_t i = 0; i < n; ++i)
        p.u32(pal.entries[i]);
}

// A payload an encoder produced (image_plan::method::encoded); false when
// it is not one this can carry, so the caller sends the image as it is.
bool put_encoded(block &b, const draw::image &img, const image_plan &plan) {
    if (plan.encoded.size() > std::numeric_limits<uint32_t>::max()) return false;
    const auto size = static_cast<uint32_t>(plan.encoded.size());
    if (is_binary_data_type(plan.encoded_type)) {
        put_descriptor(b, img.id, plan.encoded_type, plan.descriptor_flags, img.width, img.height);
        b.u32(size);
        b.ref(plan.encoded);
        return true;
    }
    switch (plan.encoded_type) {
    case SPICE_IMAGE_TYPE_LZ_PLT: {
        const auto *bmp = std::get_if<draw::bitmap>(&img.payload);
        if (bmp == nullptr || !bmp->pal) return false;
        uint8_t flags = plan.encoded_flags & SPICE_BITMAP_FLAGS_TOP_DOWN;
        if (plan.palette == image_plan::palette_mode::from_cache)
            flags |= SPICE_BITMAP_FLAGS_PAL_FROM_CACHE;
        else if (plan.palette == image_plan::palette_mode::send_and_cache)
            flags |= SPICE_BITMAP_FLAGS_PAL_CACHE_ME;
        put_descriptor(b, img.id, SPICE_IMAGE_TYPE_LZ_PLT, plan.descriptor_flags, img.width,
                       img.height);
        b.u8(flags);
        b.u32(size);
        put_lz_plt_palette(b, *bmp->pal, flags);
        b.ref(plan.encoded);
        return true;
    }
    case SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB:
        put_descriptor(b, img.id, SPICE_IMAGE_TYPE_ZLIB_GLZ_RGB, plan.descriptor_flags, img.width,
                       img.height);
        b.u32(plan.encoded_aux);
        b.u32(size);
        b.ref(plan.encoded);
        return true;
    case SPICE_IMAGE_TYPE_JPEG_ALPHA:
        put_descriptor(b, img.id, SPICE_IMAGE_TYPE_JPEG_ALPHA, plan.descriptor_flags, img.width,
                       img.height);
        b.u8(plan.encoded_flags);
        b.u32(plan.encoded_aux);
        b.u32(size);
        b.ref(plan.encoded);
        return true;
    default:
        return false;
    }
}

/// fill_bits: the image into the block its pointer opened; nothing (a null
/// pointer) when there is no image.
void put_image(block b, const draw::image_ptr &img, image_role role, const image_encoder &enc) {
    if (!img) return;
    const image_plan plan = enc ? enc(*img, role) : default_image_plan(*img, role);
    switch (plan.how) {
    case image_plan::method::from_cache:
    case image_plan::method::from_cache_lossless:
        put_descriptor(b, img->id,
                       plan.how == image_plan::method::from_cache
                           ? SPICE_IMAGE_TYPE_FROM_CACHE
                           : SPICE_IMAGE_TYPE_FROM_CACHE_LOSSLESS,
                       plan.descriptor_flags, img->width, img->height);
        return;
    case image_plan::method::encoded:
        if (put_encoded(b, *img, plan)) return;
        break; // not a payload this can carry: send the image as it is
    case image_plan::method::lz4:
        if (const auto *bmp = std::get_if<draw::bitmap>(&img->payload))
            if (put_lz4(b, *img, *bmp, plan)) return;
        break;
    case image_plan::method::raw:
        break;
    }
    std::visit(
        [&](const auto &payload) {
            using T = std::decay_t<decltype(payload)>;
            if constexpr (std::is_same_v<T, draw::bitmap>) {
                put_bitmap(b, *img, payload, plan);
            } else if constexpr (std::is_same_v<T, draw::quic_data>) {
                // The guest's QUIC bytes pass through as BinaryData.
                const uint64_t n =
                    std::min<uint64_t>(payload.data.size(), std::numeric_limits<uint32_t>::max());
                put_descriptor(b, img->id, SPICE_IMAGE_TYPE_QUIC, plan.descriptor_flags, img->width,
                               img->height);
                b.u32(static_cast<uint32_t>(n));
                put_chunks(b, payload.data, n);
            } else {
                put_descriptor(b, img->id, SPICE_IMAGE_TYPE_SURFACE, plan.descriptor_flags,
                               img->width, img->height);
                b.u32(payload.surface_id);
            }
        },
        img->payload);
}

/// An image whose pointer is written now and whose bytes come later, in the
/// order the reference fills them.
struct pending_image {
    std::optional<block> target;
    const draw::image_ptr *img = nullptr;
    image_role role = image_role::source;
};

pending_image put_image_ptr(block &b, const draw::image_ptr &img, image_role role) {
    return {b.ptr(), &img, role};
}

// Brush: a pattern's image pointer is written in place, its image later.
pending_image put_brush(block &b, const draw::brush &br) {
    b.u8(static_cast<uint8_t>(br.type));
    if (br.type == SPICE_BRUSH_TYPE_SOLID) {
        b.u32(br.color);
    } else if (br.type == SPICE_BRUSH_TYPE_PATTERN) {
        pending_image p = put_image_ptr(b, br.pat.pat, image_role::pattern);
        put_point(b, br.pat.pos);
        return p;
    }
    return {};
}

pending_image put_mask(block &b, const draw::qmask &m) {
    b.u8(m.flags);
    put_point(b, m.pos);
    return put_image_ptr(b, m.bitmap, image_role::mask);
}

void fill(const pending_image &p, const image_encoder &enc) {
    if (p.target) put_image(*p.target, *p.img, p.role, enc);
}

void put_transform(block &b, const std::optional<draw::transform> &t) {
    const draw::transform x = t.value_or(draw::transform{});
    b.u32(x.t00);
    b.u32(x.t01);
    b.u32(x.t02);
    b.u32(x.t10);
    b.u32(x.t11);
    b.u32(x.t12);
}

// Path (spice.proto PathSegment: u8 flags, u32 count, PointFix points).
void put_path(block &b, const std::vector<draw::path_segment> &path) {
    b.u32(static_cast<uint32_t>(path.size()));
    for (const auto &seg : path) {
        b.u8(static_cast<uint8_t>(seg.flags));
        b.u32(static_cast<uint32_t>(seg.points.size()));
        for (const auto &p : seg.points) {
            b.i32(p.x);
            b.i32(p.y);
        }
    }
}

// Bytes of a glyph's raster as the client computes them (spice.proto
// RasterGlyphA1/A4/A8: image_size(bpp, width, height)).
uint64_t glyph_bytes(unsigned bpp, const draw::glyph &g) {
    return (uint64_t{bpp} * g.width + 7) / 8 * g.height;
}

// String: u16 length, u8 flags, then the glyphs of the first raster kind
// set (A1, then A4, then A8, as the generated marshaller tests them).
void put_string(block &b, const draw::text &t) {
    const uint8_t flags = static_cast<uint8_t>(t.string_flags);
    unsigned bpp = 0;
    if (flags & SPICE_STRING_FLAGS_RASTER_A1)
        bpp = 1;
    else if (flags & SPICE_STRING_FLAGS_RASTER_A4)
        bpp = 4;
    else if (flags & SPICE_STRING_FLAGS_RASTER_A8)
        bpp = 8;
    // Without a raster kind no glyph follows, so none may be counted: the
    // client would walk glyphs that are not there.
    const size_t n = bpp ? std::min<size_t>(t.glyphs.size(), 0xffff) : 0;
    b.u16(static_cast<uint16_t>(n));
    b.u8(flags);
    for (size_t i = 0; i < n; ++i) {
        const auto &g = t.glyphs[i];
        put_point(b, g.render_pos);
        put_point(b, g.glyph_origin);
        b.u16(g.width);
        b.u16(g.height);
        const uint64_t want = glyph_bytes(bpp, g);
        const size_t have = static_cast<size_t>(std::min<uint64_t>(want, g.data.size()));
        b.ref(g.data.first(have));
        if (want > have) b.zeros(static_cast<size_t>(want - have));
    }
}

// One function per operation: the fixed part with its pointers, then the
// pointed-to images in the order the reference fills them.
struct op_writer {
    block &b;
    const image_encoder &enc;

    void operator()(const draw::fill &f) {
        auto pat = put_brush(b, f.br);
        b.u16(f.rop_descriptor);
        auto mask = put_mask(b, f.mask);
        fill(pat, enc);
        fill(mask, enc);
    }
    void operator()(const draw::opaque &o) {
        auto src = put_image_ptr(b, o.src, image_role::source);
        put_rect(b, o.src_area);
        auto pat = put_brush(b, o.br);
        b.u16(o.rop_descriptor);
        b.u8(o.scale_mode);
        auto mask = put_mask(b, o.mask);
        fill(src, enc);
        fill(pat, enc);
        fill(mask, enc);
    }
    void operator()(const draw::copy &c) {
        auto src = put_image_ptr(b, c.src, image_role::source);
        put_rect(b, c.src_area);
        b.u16(c.rop_descriptor);
        b.u8(c.scale_mode);
        auto mask = put_mask(b, c.mask);
        fill(src, enc);
        fill(mask, enc);
    }
    void operator()(const draw::blend &c) { (*this)(static_cast<const draw::copy &>(c)); }
    void operator()(const draw::blackness &m) { fill(put_mask(b, m.mask), enc); }
    void operator()(const draw::whiteness &m) { fill(put_mask(b, m.mask), enc); }
    void operator()(const draw::invers &m) { fill(put_mask(b, m.mask), enc); }
    void operator()(const draw::rop3 &r) {
        auto src = put_image_ptr(b, r.src, image_role::source);
        put_rect(b, r.src_area);
        auto pat = put_brush(b, r.br);
        b.u8(r.rop3_code);
        b.u8(r.scale_mode);
        auto mask = put_mask(b, r.mask);
        fill(src, enc);
        fill(pat, enc);
        fill(mask, enc);
    }
    void operator()(const draw::stroke &s) {
        // The path is marshalled into its block at once (Path *path @marshall).
        block path = b.ptr();
        put_path(path, s.path);
        b.u8(s.line_flags);
        std::optional<block> style;
        size_t nseg = 0;
        if (s.line_flags & SPICE_LINE_FLAGS_STYLED) {
            nseg = std::min<size_t>(s.style.size(), 0xff); // style_nseg is u8
            b.u8(static_cast<uint8_t>(nseg));
            style = b.ptr();
        }
        auto pat = put_brush(b, s.br);
        b.u16(s.fore_mode);
        b.u16(s.back_mode);
        if (style)
            for (size_t i = 0; i < nseg; ++i)
                style->i32(s.style[i]);
        fill(pat, enc);
    }
    void operator()(const draw::text &t) {
        block str = b.ptr(); // String *str @marshall: written at once
        put_string(str, t);
        put_rect(b, t.back_area);
        auto fore = put_brush(b, t.fore_brush);
        auto back = put_brush(b, t.back_brush);
        b.u16(t.fore_mode);
        b.u16(t.back_mode);
        fill(fore, enc);
        fill(back, enc);
    }
    void operator()(const draw::transparent &t) {
        auto src = put_image_ptr(b, t.src, image_role::source);
        put_rect(b, t.src_area);
        b.u32(t.src_color);
        b.u32(t.true_color);
        fill(src, enc);
    }
    void operator()(const draw::alpha_blend &a) {
        b.u8(static_cast<uint8_t>(a.alpha_flags)); // alpha_flags is flags8 on the wire
        b.u8(a.alpha);
        auto src = put_image_ptr(b, a.src, image_role::source);
        put_rect(b, a.src_area);
        fill(src, enc);
    }
    void operator()(const draw::composite &c) {
        // The flags say which optional fields follow; they are sent as given.
        b.u32(c.flags);
        auto src = put_image_ptr(b, c.src, image_role::source);
        pending_image mask;
        if (c.flags & SPICE_COMPOSITE_HAS_MASK) mask = put_image_ptr(b, c.mask, image_role::mask);
        if (c.flags & SPICE_COMPOSITE_HAS_SRC_TRANSFORM) put_transform(b, c.src_transform);
        if (c.flags & SPICE_COMPOSITE_HAS_MASK_TRANSFORM) put_transform(b, c.mask_transform);
        b.i16(c.src_origin.x);
        b.i16(c.src_origin.y);
        b.i16(c.mask_origin.x);
        b.i16(c.mask_origin.y);
        fill(src, enc);
        fill(mask, enc);
    }
    void operator()(const draw::copy_bits &c) { put_point(b, c.src_pos); }
};

// Ends a fixed-size parse as main_messages.cpp does.
template <typename T>
display_client_message finish(const wire::reader &r, uint16_t type, extra_bytes extra, T value) {
    if (!r.ok()) return parse_error{parse_error::kind::truncated, type, "truncated"};
    if (extra == extra_bytes::reject && r.remaining() != 0)
        return parse_error{parse_error::kind::trailing_bytes, type, "trailing bytes"};
    return display_client_message(std::in_place_type<T>, std::move(value));
}

} // namespace

image_plan default_image_plan(const draw::image &img, image_role) noexcept {
    image_plan p;
    // A surface reference is never cached and carries no flags (reference).
    if (!std::holds_alternative<draw::surface_ref>(img.payload))
        p.descriptor_flags = img.flags & SPICE_IMAGE_FLAGS_HIGH_BITS_SET;
    return p;
}

uint16_t draw_message_type(const draw::operation &op) noexcept {
    struct visitor {
        uint16_t operator()(const draw::fill &) const { return SPICE_MSG_DISPLAY_DRAW_FILL; }
        uint16_t operator()(const draw::opaque &) const { return SPICE_MSG_DISPLAY_DRAW_OPAQUE; }
        uint16_t operator()(const draw::copy &) const { return SPICE_MSG_DISPLAY_DRAW_COPY; }
        uint16_t operator()(const draw::blend &) const { return SPICE_MSG_DISPLAY_DRAW_BLEND; }
        uint16_t operator()(const draw::blackness &) const {
            return SPICE_MSG_DISPLAY_DRAW_BLACKNESS;
        }
        uint16_t operator()(const draw::whiteness &) const {
            return SPICE_MSG_DISPLAY_DRAW_WHITENESS;
        }
        uint16_t operator()(const draw::invers &) const { return SPICE_MSG_DISPLAY_DRAW_INVERS; }
        uint16_t operator()(const draw::rop3 &) const { return SPICE_MSG_DISPLAY_DRAW_ROP3; }
        uint16_t operator()(const draw::stroke &) const { return SPICE_MSG_DISPLAY_DRAW_STROKE; }
        uint16_t operator()(const draw::text &) const { return SPICE_MSG_DISPLAY_DRAW_TEXT; }
        uint16_t operator()(const draw::transparent &) const {
            return SPICE_MSG_DISPLAY_DRAW_TRANSPARENT;
        }
        uint16_t operator()(const draw::alpha_blend &) const {
            return SPICE_MSG_DISPLAY_DRAW_ALPHA_BLEND;
        }
        uint16_t operator()(const draw::composite &) const {
            return SPICE_MSG_DISPLAY_DRAW_COMPOSITE;
        }
        uint16_t operator()(const draw::copy_bits &) const { return SPICE_MSG_DISPLAY_COPY_BITS; }
    };
    return std::visit(visitor{}, op);
}

void encode_draw(wire::writer &w, const draw::drawable &d, const image_encoder &images) {
    layout l;
    block root = l.root();
    put_base(root, d);
    std::visit(op_writer{root, images}, d.op);
    l.finish(w);
}

namespace msg {

void display_inval_list::encode(wire::writer &w) const {
    const size_t n = std::min<size_t>(resources.size(), 0xffff);
    w.u16(static_cast<uint16_t>(n));
    for (const auto &r : resources.first(n)) {
        w.u8(r.type);
        w.u64(r.id);
    }
}

void display_inval_all_pixmaps::encode(wire::writer &w) const {
    // Same layout as BaseChannel WAIT_FOR_CHANNELS.
    wait_for_channels{waits}.encode(w);
}

void display_surface_create::encode(wire::writer &w) const {
    w.u32(surface_id);
    w.u32(width);
    w.u32(height);
    w.u32(format);
    w.u32(flags);
}

namespace {

void write_rect(wire::writer &w, const draw::rect &r) {
    w.i32(r.top);
    w.i32(r.left);
    w.i32(r.bottom);
    w.i32(r.right);
}

void write_clip(wire::writer &w, std::span<const draw::rect> clip, bool clipped) {
    if (clip.empty() && !clipped) {
        w.u8(SPICE_CLIP_TYPE_NONE);
        return;
    }
    w.u8(SPICE_CLIP_TYPE_RECTS);
    w.u32(static_cast<uint32_t>(clip.size()));
    for (const auto &r : clip)
        write_rect(w, r);
}

} // namespace

void display_stream_create::encode(wire::writer &w) const {
    w.u32(surface_id);
    w.u32(id);
    w.u8(flags);
    w.u8(codec_type);
    w.u64(stamp);
    w.u32(stream_width);
    w.u32(stream_height);
    w.u32(src_width);
    w.u32(src_height);
    write_rect(w, dest);
    write_clip(w, clip, clipped);
}

void display_stream_data::encode(wire::writer &w) const {
    w.u32(id);
    w.u32(multi_media_time);
    w.u32(static_cast<uint32_t>(data.size()));
    w.bytes(data);
}

void display_stream_data_sized::encode(wire::writer &w) const {
    w.u32(id);
    w.u32(multi_media_time);
    w.u32(width);
    w.u32(height);
    write_rect(w, dest);
    w.u32(static_cast<uint32_t>(data.size()));
    w.bytes(data);
}

void display_stream_clip::encode(wire::writer &w) const {
    w.u32(id);
    write_clip(w, clip, clipped);
}

void display_monitors_config::encode(wire::writer &w) const {
    const size_t n = std::min<size_t>(heads.size(), 0xffff);
    w.u16(static_cast<uint16_t>(n));
    w.u16(max_allowed);
    for (const auto &h : heads.first(n)) {
        w.u32(h.monitor_id);
        w.u32(h.surface_id);
        w.u32(h.width);
        w.u32(h.height);
        w.u32(h.x);
        w.u32(h.y);
        w.u32(h.flags);
    }
}

} // namespace msg

display_client_message parse_display_client_message(uint16_t type, std::span<const uint8_t> body,
                                                    extra_bytes extra) {
    // Channel-specific types start at 101 (SPICE_MSGC_DISPLAY_INIT); below
    // that are BaseChannel messages, parsed by the shared parser.
    if (type < SPICE_MSGC_DISPLAY_INIT)
        return std::visit([](auto &&m) -> display_client_message { return std::move(m); },
                          parse_common_client_message(type, body, extra));
    wire::reader r(body);
    switch (type) {
    case SPICE_MSGC_DISPLAY_INIT: {
        msgc::display_init m;
        m.pixmap_cache_id = r.u8();
        m.pixmap_cache_size = r.i64();
        m.glz_dictionary_id = r.u8();
        m.glz_dictionary_window_size = r.i32();
        return finish(r, type, extra, m);
    }
    case SPICE_MSGC_DISPLAY_STREAM_REPORT: {
        msgc::display_stream_report m;
        m.stream_id = r.u32();
        m.unique_id = r.u32();
        m.start_frame_mm_time = r.u32();
        m.end_frame_mm_time = r.u32();
        m.num_frames = r.u32();
        m.num_drops = r.u32();
        m.last_frame_delay = r.i32();
        m.audio_delay = r.u32();
        return finish(r, type, extra, m);
    }
    case SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION: {
        msgc::display_preferred_compression m;
        m.image_compression = r.u8();
        return finish(r, type, extra, m);
    }
    case SPICE_MSGC_DISPLAY_GL_DRAW_DONE:
        return finish(r, type, extra, msgc::display_gl_draw_done{});
    case SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE: {
        msgc::display_preferred_video_codec_type m;
        const uint8_t n = r.u8();
        m.codecs = r.bytes(n);
        return finish(r, type, extra, m);
    }
    default:
        return parse_error{parse_error::kind::unknown_type, type, "unknown message type"};
    }
}

} // namespace rs
