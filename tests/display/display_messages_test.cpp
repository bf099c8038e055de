#include "display/display_messages.hpp"

#include <gtest/gtest.h>

#include <lz4.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace {

using bytes = std::vector<uint8_t>;
using rs::image_plan;
using rs::image_role;
namespace draw = rs::draw;

/// Expected bytes, spelled field by field from spice.proto (little-endian).
struct le {
    bytes b;
    le &u8(uint8_t v) {
        b.push_back(v);
        return *this;
    }
    le &u16(uint16_t v) { return u8(uint8_t(v)).u8(uint8_t(v >> 8)); }
    le &u32(uint32_t v) { return u16(uint16_t(v)).u16(uint16_t(v >> 16)); }
    le &u64(uint64_t v) { return u32(uint32_t(v)).u32(uint32_t(v >> 32)); }
    le &i32(int32_t v) { return u32(uint32_t(v)); }
    le &i16(int16_t v) { return u16(uint16_t(v)); }
    /// spice.proto Rect: top, left, bottom, right.
    le &rect(int32_t left, int32_t top, int32_t right, int32_t bottom) {
        return i32(top).i32(left).i32(bottom).i32(right);
    }
    le &raw(const bytes &x) {
        b.insert(b.end(), x.begin(), x.end());
        return *this;
    }
    /// ImageDescriptor: id u64, type u8, flags u8, width u32, height u32.
    le &descriptor(uint64_t id, uint8_t type, uint8_t flags, uint32_t w, uint32_t h) {
        return u64(id).u8(type).u8(flags).u32(w).u32(h);
    }
};

uint32_t read32(const bytes &b, size_t at) {
    return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8 | uint32_t{b[at + 2]} << 16 |
           uint32_t{b[at + 3]} << 24;
}

bytes encode_draw(const draw::drawable &d, const rs::image_encoder &e = {}) {
    bytes out;
    rs::wire::writer w(out);
    rs::encode_draw(w, d, e);
    return out;
}

template <typename M> bytes encode(const M &m) {
    bytes out;
    rs::wire::writer w(out);
    m.encode(w);
    return out;
}

// bbox left 1, top 2, right 11, bottom 22 on surface 0, no clip.
draw::drawable drawable_at(draw::operation op) {
    draw::drawable d;
    d.bbox = {1, 2, 11, 22};
    d.op = std::move(op);
    return d;
}

// DisplayBase for drawable_at: surface_id, box, clip type NONE — 21 bytes.
le base_none() { return le{}.u32(0).rect(1, 2, 11, 22).u8(SPICE_CLIP_TYPE_NONE); }

const bytes px32 = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}; // 2×2, stride 8
const bytes px8 = {0, 1, 2, 0xee, 1, 2, 0, 0xee};                           // 2×2, stride 4
const bytes px1 = {0x80, 0, 0, 0, 0x40, 0, 0, 0};                           // 2×2 1-bit

draw::image_ptr bitmap_image(uint64_t id, uint8_t fmt, uint8_t bflags, uint32_t w, uint32_t h,
                             uint32_t stride, const bytes &px,
                             std::shared_ptr<const draw::palette> pal = nullptr) {
    auto img = std::make_shared<draw::image>();
    img->id = id;
    img->width = w;
    img->height = h;
    draw::bitmap b;
    b.format = fmt;
    b.flags = bflags;
    b.width = w;
    b.height = h;
    b.stride = stride;
    b.pal = std::move(pal);
    b.data.parts = {std::span<const uint8_t>(px)};
    img->payload = std::move(b);
    return img;
}

std::shared_ptr<const draw::palette> palette(uint64_t unique, std::vector<uint32_t> ents) {
    auto p = std::make_shared<draw::palette>();
    p->unique = unique;
    p->entries = std::move(ents);
    return p;
}

rs::image_encoder always(image_plan p) {
    return [p](const draw::image &, image_role) { return p; };
}

// ---- message types ---------------------------------------------------------

TEST(DisplayMessages, DrawTypesFollowTheOperation) {
    EXPECT_EQ(rs::draw_message_type(draw::fill{}), 302);
    EXPECT_EQ(rs::draw_message_type(draw::opaque{}), 303);
    EXPECT_EQ(rs::draw_message_type(draw::copy{}), 304);
    EXPECT_EQ(rs::draw_message_type(draw::blend{}), 305);
    EXPECT_EQ(rs::draw_message_type(draw::blackness{}), 306);
    EXPECT_EQ(rs::draw_message_type(draw::whiteness{}), 307);
    EXPECT_EQ(rs::draw_message_type(draw::invers{}), 308);
    EXPECT_EQ(rs::draw_message_type(draw::rop3{}), 309);
    EXPECT_EQ(rs::draw_message_type(draw::stroke{}), 310);
    EXPECT_EQ(rs::draw_message_type(draw::text{}), 311);
    EXPECT_EQ(rs::draw_message_type(draw::transparent{}), 312);
    EXPECT_EQ(rs::draw_message_type(draw::alpha_blend{}), 313);
    EXPECT_EQ(rs::draw_message_type(draw::composite{}), 318);
    EXPECT_EQ(rs::draw_message_type(draw::copy_bits{}), 104);
    EXPECT_EQ(rs::msg::display_mark::type, 102);
    EXPECT_EQ(rs::msg::display_reset::type, 103);
    EXPECT_EQ(rs::msg::display_inval_list::type, 105);
    EXPECT_EQ(rs::msg::display_inval_all_pixmaps::type, 106);
    EXPECT_EQ(rs::msg::display_inval_palette::type, 107);
    EXPECT_EQ(rs::msg::display_inval_all_palettes::type, 108);
    EXPECT_EQ(rs::msg::display_surface_create::type, 314);
    EXPECT_EQ(rs::msg::display_surface_destroy::type, 315);
    EXPECT_EQ(rs::msg::display_monitors_config::type, 317);
}

// ---- drawing commands --------------------------------------------------------

TEST(DisplayMessages, FillWithSolidBrushAndNoClip) {
    draw::fill f;
    f.br.type = SPICE_BRUSH_TYPE_SOLID;
    f.br.color = 0x00ff8040;
    f.rop_descriptor = SPICE_ROPD_OP_PUT;
    // Fill: brush type u8, color u32; rop u16; QMask flags u8, pos, bitmap ptr
    // (0: no mask).
    const bytes want = base_none()
                           .u8(SPICE_BRUSH_TYPE_SOLID)
                           .u32(0x00ff8040)
                           .u16(SPICE_ROPD_OP_PUT)
                           .u8(0)
                           .i32(0)
                           .i32(0)
                           .u32(0)
                           .b;
    EXPECT_EQ(want.size(), 41u);
    EXPECT_EQ(encode_draw(drawable_at(f)), want);
}

TEST(DisplayMessages, ClipRectsAreInlineAfterTheClipType) {
    draw::drawable d = drawable_at(draw::whiteness{});
    d.surface_id = 3;
    d.clp.type = SPICE_CLIP_TYPE_RECTS;
    d.clp.rects = {{0, 1, 5, 6}, {5, 6, 10, 11}};
    const bytes want = le{}.u32(3)
                           .rect(1, 2, 11, 22)
                           .u8(SPICE_CLIP_TYPE_RECTS)
                           .u32(2)
                           .rect(0, 1, 5, 6)
                           .rect(5, 6, 10, 11)
                           .u8(0) // mask flags
                           .i32(0)
                           .i32(0)
                           .u32(0)
                           .b;
    EXPECT_EQ(encode_draw(d), want);
}

TEST(DisplayMessages, CopyOfA2x2TopDown32BitBitmap) {
    draw::copy c;
    c.src =
        bitmap_image(0x1122, SPICE_BITMAP_FMT_32BIT, SPICE_BITMAP_FLAGS_TOP_DOWN, 2, 2, 8, px32);
    c.src_area = {0, 0, 2, 2};
    // Fixed part: base 21 + Copy (src ptr 4, src_area 16, rop 2, scale 1,
    // mask 13) = 57; the image follows at offset 57.
    const bytes want = base_none()
                           .u32(57) // src_bitmap
                           .rect(0, 0, 2, 2)
                           .u16(SPICE_ROPD_OP_PUT)
                           .u8(SPICE_IMAGE_SCALE_MODE_NEAREST)
                           .u8(0)
                           .i32(0)
                           .i32(0)
                           .u32(0) // no mask
                           .descriptor(0x1122, SPICE_IMAGE_TYPE_BITMAP, 0, 2, 2)
                           .u8(SPICE_BITMAP_FMT_32BIT)
                           .u8(SPICE_BITMAP_FLAGS_TOP_DOWN)
                           .u32(2) // x
                           .u32(2) // y
                           .u32(8) // stride
                           .u32(0) // no palette
                           .raw(px32)
                           .b;
    EXPECT_EQ(encode_draw(drawable_at(c)), want);
}

TEST(DisplayMessages, PalettesFollowEveryImageOfTheDrawing) {
    // A paletted source (its palette to be cached) and a paletted mask: the
    // images take the blocks their pointers opened, in order, and each
    // palette's block opens when its image is written — after both images.
    draw::copy c;
    c.src = bitmap_image(0x10, SPICE_BITMAP_FMT_8BIT, 0, 2, 2, 4, px8,
                         palette(0x77, {0x100, 0x101, 0x102}));
    c.src_area = {0, 0, 2, 2};
    c.mask.pos = {7, 8};
    c.mask.bitmap = bitmap_image(0x11, SPICE_BITMAP_FMT_1BIT_LE, SPICE_BITMAP_FLAGS_TOP_DOWN, 2, 2,
                                 4, px1, palette(0x66, {0x200, 0x201}));
    auto enc = [](const draw::image &, image_role r) {
        image_plan p;
        if (r == image_role::source) p.palette = image_plan::palette_mode::send_and_cache;
        return p;
    };
    // Offsets: fixed part 0..57; source image 57..101 (descriptor 18, bitmap
    // header 14, palette ptr 4, pixels 8); mask image 101..145; source
    // palette 145..167 (unique 8, count 2, 3 entries); mask palette 167..185.
    const bytes want = base_none()
                           .u32(57)
                           .rect(0, 0, 2, 2)
                           .u16(SPICE_ROPD_OP_PUT)
                           .u8(SPICE_IMAGE_SCALE_MODE_NEAREST)
                           .u8(0)
                           .i32(7)
                           .i32(8)
                           .u32(101)
                           // source image
                           .descriptor(0x10, SPICE_IMAGE_TYPE_BITMAP, 0, 2, 2)
                           .u8(SPICE_BITMAP_FMT_8BIT)
                           .u8(SPICE_BITMAP_FLAGS_PAL_CACHE_ME)
                           .u32(2)
                           .u32(2)
                           .u32(4)
                           .u32(145)
                           .raw(px8)
                           // mask image
                           .descriptor(0x11, SPICE_IMAGE_TYPE_BITMAP, 0, 2, 2)
                           .u8(SPICE_BITMAP_FMT_1BIT_LE)
                           .u8(SPICE_BITMAP_FLAGS_TOP_DOWN)
                           .u32(2)
                           .u32(2)
                           .u32(4)
                           .u32(167)
                           .raw(px1)
                           // palettes
                           .u64(0x77)
                           .u16(3)
                           .u32(0x100)
                           .u32(0x101)
                           .u32(0x102)
                           .u64(0x66)
                           .u16(2)
                           .u32(0x200)
                           .u32(0x201)
                           .b;
    const bytes got = encode_draw(drawable_at(c), enc);
    ASSERT_EQ(got, want);
    // The pointers land on what they name.
    EXPECT_EQ(got[read32(got, 21)], 0x10);       // source descriptor id
    EXPECT_EQ(got[read32(got, 21 + 32)], 0x11);  // mask descriptor id
    EXPECT_EQ(got[read32(got, 57 + 32)], 0x77);  // source palette unique
    EXPECT_EQ(got[read32(got, 101 + 32)], 0x66); // mask palette unique
}

TEST(DisplayMessages, PaletteFromCacheIsItsIdInPlaceOfThePointer) {
    draw::copy c;
    c.src = bitmap_image(0x10, SPICE_BITMAP_FMT_8BIT, 0, 2, 2, 4, px8, palette(0x77, {1, 2, 3}));
    c.src_area = {0, 0, 2, 2};
    image_plan p;
    p.palette = image_plan::palette_mode::from_cache;
    const bytes got = encode_draw(drawable_at(c), always(p));
    const bytes image = le{}.descriptor(0x10, SPICE_IMAGE_TYPE_BITMAP, 0, 2, 2)
                            .u8(SPICE_BITMAP_FMT_8BIT)
                            .u8(SPICE_BITMAP_FLAGS_PAL_FROM_CACHE)
                            .u32(2)
                            .u32(2)
                            .u32(4)
                            .u64(0x77)
                            .raw(px8)
                            .b;
    ASSERT_EQ(got.size(), 57 + image.size());
    EXPECT_EQ(bytes(got.begin() + 57, got.end()), image);
}

TEST(DisplayMessages, MultiChunkBitmapIsWrittenContiguously) {
    draw::copy c;
    c.src = bitmap_image(0x33, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    auto &bmp = std::get<draw::bitmap>(const_cast<draw::image &>(*c.src).payload);
    const std::span<const uint8_t> all(px32);
    bmp.data.parts = {all.first(5), all.subspan(5, 3), all.subspan(8)};
    const bytes got = encode_draw(drawable_at(c));
    ASSERT_EQ(got.size(), 57u + 18 + 14 + 4 + 16);
    EXPECT_EQ(bytes(got.end() - 16, got.end()), px32);
}

TEST(DisplayMessages, DescriptorFlagsAreTheEncodersChoice) {
    draw::copy c;
    c.src = bitmap_image(0x44, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    image_plan p;
    p.descriptor_flags = SPICE_IMAGE_FLAGS_CACHE_ME | SPICE_IMAGE_FLAGS_HIGH_BITS_SET;
    const bytes got = encode_draw(drawable_at(c), always(p));
    EXPECT_EQ(got[57 + 8], SPICE_IMAGE_TYPE_BITMAP);
    EXPECT_EQ(got[57 + 9], SPICE_IMAGE_FLAGS_CACHE_ME | SPICE_IMAGE_FLAGS_HIGH_BITS_SET);
}

TEST(DisplayMessages, DefaultPlanKeepsOnlyHighBitsSet) {
    auto img = bitmap_image(1, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    const_cast<draw::image &>(*img).flags =
        SPICE_IMAGE_FLAGS_CACHE_ME | SPICE_IMAGE_FLAGS_HIGH_BITS_SET;
    const image_plan p = rs::default_image_plan(*img, image_role::source);
    EXPECT_EQ(p.how, image_plan::method::raw);
    EXPECT_EQ(p.descriptor_flags, SPICE_IMAGE_FLAGS_HIGH_BITS_SET);
}

TEST(DisplayMessages, FromCacheSendsTheDescriptorAlone) {
    draw::copy c;
    c.src = bitmap_image(0xabcdef, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    image_plan p;
    p.how = image_plan::method::from_cache_lossless;
    const bytes got = encode_draw(drawable_at(c), always(p));
    EXPECT_EQ(bytes(got.begin() + 57, got.end()),
              le{}.descriptor(0xabcdef, SPICE_IMAGE_TYPE_FROM_CACHE_LOSSLESS, 0, 2, 2).b);
    p.how = image_plan::method::from_cache;
    EXPECT_EQ(encode_draw(drawable_at(c), always(p))[57 + 8], SPICE_IMAGE_TYPE_FROM_CACHE);
}

TEST(DisplayMessages, SurfaceImageIsItsSurfaceId) {
    auto img = std::make_shared<draw::image>();
    img->width = 640;
    img->height = 480;
    img->payload = draw::surface_ref{2};
    draw::copy c;
    c.src = img;
    const bytes got = encode_draw(drawable_at(c));
    EXPECT_EQ(bytes(got.begin() + 57, got.end()),
              le{}.descriptor(0, SPICE_IMAGE_TYPE_SURFACE, 0, 640, 480).u32(2).b);
}

TEST(DisplayMessages, EncodedPayloadIsBinaryData) {
    const bytes quic = {9, 8, 7, 6, 5};
    draw::copy c;
    c.src = bitmap_image(0x5, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    image_plan p;
    p.how = image_plan::method::encoded;
    p.encoded_type = SPICE_IMAGE_TYPE_QUIC;
    p.encoded = quic;
    const bytes got = encode_draw(drawable_at(c), always(p));
    EXPECT_EQ(bytes(got.begin() + 57, got.end()),
              le{}.descriptor(0x5, SPICE_IMAGE_TYPE_QUIC, 0, 2, 2).u32(5).raw(quic).b);
}

// The payload of an LZ4 image decoded as canvas_get_lz4 does it.
bytes lz4_decode(const bytes &payload, size_t capacity) {
    bytes out(capacity);
    LZ4_streamDecode_t *s = LZ4_createStreamDecode();
    size_t pos = 2, at = 0;
    while (pos + 4 <= payload.size()) {
        const uint32_t n = uint32_t{payload[pos]} << 24 | uint32_t{payload[pos + 1]} << 16 |
                           uint32_t{payload[pos + 2]} << 8 | payload[pos + 3];
        pos += 4;
        const int got =
            LZ4_decompress_safe_continue(s, reinterpret_cast<const char *>(payload.data() + pos),
                                         reinterpret_cast<char *>(out.data() + at),
                                         static_cast<int>(n), static_cast<int>(capacity - at));
        if (got <= 0) break;
        at += static_cast<size_t>(got);
        pos += n;
    }
    LZ4_freeStreamDecode(s);
    out.resize(at);
    return out;
}

TEST(DisplayMessages, Lz4ImageIsBinaryDataOfTheLz4Payload) {
    bytes px(64 * 4 * 40);
    for (size_t i = 0; i < px.size(); ++i)
        px[i] = static_cast<uint8_t>(i / 7);
    draw::copy c;
    c.src = bitmap_image(0x77, SPICE_BITMAP_FMT_32BIT, 0, 64, 40, 256, px);
    c.src_area = {0, 0, 64, 40};
    image_plan p;
    p.how = image_plan::method::lz4;
    p.descriptor_flags = SPICE_IMAGE_FLAGS_CACHE_ME;
    const bytes got = encode_draw(drawable_at(c), always(p));
    EXPECT_EQ(read32(got, 21), 57u);
    EXPECT_EQ(bytes(got.begin() + 57, got.begin() + 75),
              le{}.descriptor(0x77, SPICE_IMAGE_TYPE_LZ4, SPICE_IMAGE_FLAGS_CACHE_ME, 64, 40).b);
    const uint32_t size = read32(got, 75);
    ASSERT_EQ(got.size(), 79u + size); // data_size covers the rest
    const bytes payload(got.begin() + 79, got.end());
    EXPECT_EQ(payload[0], 0); // bottom-up
    EXPECT_EQ(payload[1], SPICE_BITMAP_FMT_32BIT);
    EXPECT_EQ(lz4_decode(payload, px.size()), px);
    EXPECT_LT(size, px.size());
}

TEST(DisplayMessages, Lz4FallsBackToRawWhenItCannotOrDoesNotPay) {
    image_plan p;
    p.how = image_plan::method::lz4;
    // A palette format has no LZ4 form.
    draw::copy c;
    c.src = bitmap_image(1, SPICE_BITMAP_FMT_8BIT, 0, 2, 2, 4, px8, palette(9, {1}));
    EXPECT_EQ(encode_draw(drawable_at(c), always(p))[57 + 8], SPICE_IMAGE_TYPE_BITMAP);
    // Tiny incompressible pixels come out bigger than they are.
    c.src = bitmap_image(2, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    const bytes raw = encode_draw(drawable_at(c));
    EXPECT_EQ(encode_draw(drawable_at(c), always(p)), raw);
}

TEST(DisplayMessages, OpaqueFillsSourcePatternMaskInThatOrder) {
    draw::opaque o;
    o.src = bitmap_image(0xA, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    o.br.type = SPICE_BRUSH_TYPE_PATTERN;
    o.br.pat.pat = bitmap_image(0xB, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    o.br.pat.pos = {-1, -2};
    o.mask.bitmap = bitmap_image(0xC, SPICE_BITMAP_FMT_1BIT_LE, 0, 2, 2, 4, px1);
    std::vector<image_role> roles;
    auto enc = [&roles](const draw::image &, image_role r) {
        roles.push_back(r);
        return image_plan{};
    };
    const bytes got = encode_draw(drawable_at(o), enc);
    EXPECT_EQ(roles,
              (std::vector<image_role>{image_role::source, image_role::pattern, image_role::mask}));
    // Opaque: src ptr @21, src_area, brush type @41, pattern ptr @42, pos,
    // rop u16, scale u8, mask flags, pos, mask ptr @66; fixed part ends @70.
    // Each 2×2 32-bit image is 52 bytes, the 1-bit mask 44.
    EXPECT_EQ(read32(got, 21), 70u);
    EXPECT_EQ(got[41], SPICE_BRUSH_TYPE_PATTERN);
    EXPECT_EQ(read32(got, 42), 70u + 52);
    EXPECT_EQ(read32(got, 66), 70u + 52 + 52);
    EXPECT_EQ(got[read32(got, 21)], 0xA);
    EXPECT_EQ(got[read32(got, 42)], 0xB);
    EXPECT_EQ(got[read32(got, 66)], 0xC);
    EXPECT_EQ(got.size(), 70u + 52 + 52 + 44);
}

TEST(DisplayMessages, StrokePathThenStyleThenPattern) {
    draw::stroke s;
    s.path = {{SPICE_PATH_BEGIN, {{16, 32}, {48, 64}}}, {SPICE_PATH_END, {{-16, 0}}}};
    s.line_flags = SPICE_LINE_FLAGS_STYLED;
    s.style = {16, 32, 48};
    s.br.type = SPICE_BRUSH_TYPE_SOLID;
    s.br.color = 7;
    s.fore_mode = SPICE_ROPD_OP_PUT;
    s.back_mode = SPICE_ROPD_OP_OR;
    // Stroke: path ptr, line flags u8, style_nseg u8, style ptr, brush (5),
    // fore u16, back u16 = 19; fixed part 40. Path 40..78, style 78..90.
    const bytes want = base_none()
                           .u32(40)
                           .u8(SPICE_LINE_FLAGS_STYLED)
                           .u8(3)
                           .u32(78)
                           .u8(SPICE_BRUSH_TYPE_SOLID)
                           .u32(7)
                           .u16(SPICE_ROPD_OP_PUT)
                           .u16(SPICE_ROPD_OP_OR)
                           // Path
                           .u32(2)
                           .u8(SPICE_PATH_BEGIN)
                           .u32(2)
                           .i32(16)
                           .i32(32)
                           .i32(48)
                           .i32(64)
                           .u8(SPICE_PATH_END)
                           .u32(1)
                           .i32(-16)
                           .i32(0)
                           // style
                           .i32(16)
                           .i32(32)
                           .i32(48)
                           .b;
    EXPECT_EQ(encode_draw(drawable_at(s)), want);
}

TEST(DisplayMessages, TextGlyphsArePaddedToTheirRasterSize) {
    const bytes g0 = {0xa0, 0x40}; // 3×2 A1: one byte per row
    const bytes g1 = {0xff};       // 9×1 A1 needs 2 bytes: the missing one is 0
    draw::text t;
    t.string_flags = SPICE_STRING_FLAGS_RASTER_A1;
    t.glyphs = {{{1, 2}, {0, -1}, 3, 2, g0}, {{5, 2}, {0, 0}, 9, 1, g1}};
    t.back_area = {1, 1, 20, 10};
    t.fore_brush.type = SPICE_BRUSH_TYPE_SOLID;
    t.fore_brush.color = 1;
    // Text: str ptr, back_area, fore brush (5), back brush NONE (1), modes
    // (4) = 30; fixed part 51.
    const bytes want = base_none()
                           .u32(51)
                           .rect(1, 1, 20, 10)
                           .u8(SPICE_BRUSH_TYPE_SOLID)
                           .u32(1)
                           .u8(SPICE_BRUSH_TYPE_NONE)
                           .u16(SPICE_ROPD_OP_PUT)
                           .u16(SPICE_ROPD_OP_PUT)
                           // String
                           .u16(2)
                           .u8(SPICE_STRING_FLAGS_RASTER_A1)
                           .i32(1)
                           .i32(2)
                           .i32(0)
                           .i32(-1)
                           .u16(3)
                           .u16(2)
                           .raw(g0)
                           .i32(5)
                           .i32(2)
                           .i32(0)
                           .i32(0)
                           .u16(9)
                           .u16(1)
                           .u8(0xff)
                           .u8(0)
                           .b;
    EXPECT_EQ(encode_draw(drawable_at(t)), want);
    // Without a raster kind no glyph can follow, so none is counted.
    t.string_flags = 0;
    const bytes got = encode_draw(drawable_at(t));
    EXPECT_EQ(got.size(), 51u + 3);
    EXPECT_EQ(read32(got, 21), 51u);
    EXPECT_EQ(got[51], 0);
    EXPECT_EQ(got[52], 0);
}

TEST(DisplayMessages, CompositeOptionalFieldsFollowItsFlags) {
    draw::composite c;
    c.flags = 3 | SPICE_COMPOSITE_HAS_SRC_TRANSFORM;
    c.src = bitmap_image(0x21, SPICE_BITMAP_FMT_RGBA, 0, 2, 2, 8, px32);
    c.mask = bitmap_image(0x22, SPICE_BITMAP_FMT_8BIT_A, 0, 2, 2, 4, px8); // not flagged
    c.src_transform = draw::transform{1, 2, 3, 4, 5, 6};
    c.src_origin = {-3, 4};
    c.mask_origin = {5, -6};
    // flags u32, src ptr, transform 24, origins 8 = 40; fixed part 61.
    const bytes head = base_none()
                           .u32(c.flags)
                           .u32(61)
                           .u32(1)
                           .u32(2)
                           .u32(3)
                           .u32(4)
                           .u32(5)
                           .u32(6)
                           .i16(-3)
                           .i16(4)
                           .i16(5)
                           .i16(-6)
                           .b;
    const bytes got = encode_draw(drawable_at(c));
    ASSERT_EQ(got.size(), 61u + 52);
    EXPECT_EQ(bytes(got.begin(), got.begin() + 61), head);
}

TEST(DisplayMessages, CopyBitsIsBaseThenSourcePoint) {
    EXPECT_EQ(encode_draw(drawable_at(draw::copy_bits{{-5, 7}})), base_none().i32(-5).i32(7).b);
}

TEST(DisplayMessages, MissingImagesAreNullPointers) {
    draw::alpha_blend a;
    a.alpha_flags = SPICE_ALPHA_FLAGS_DEST_HAS_ALPHA;
    a.alpha = 0x80;
    a.src_area = {0, 0, 2, 2};
    EXPECT_EQ(encode_draw(drawable_at(a)),
              base_none().u8(SPICE_ALPHA_FLAGS_DEST_HAS_ALPHA).u8(0x80).u32(0).rect(0, 0, 2, 2).b);
}

TEST(DisplayMessages, BodyOffsetsAreRelativeToTheBodyStart) {
    draw::copy c;
    c.src = bitmap_image(0x1, SPICE_BITMAP_FMT_32BIT, 0, 2, 2, 8, px32);
    bytes out = {0xde, 0xad, 0xbe, 0xef, 0, 0}; // a header already written
    rs::wire::writer w(out);
    rs::encode_draw(w, drawable_at(c));
    EXPECT_EQ(read32(out, 6 + 21), 57u);
    EXPECT_EQ(bytes(out.begin() + 6, out.end()), encode_draw(drawable_at(c)));
}

// ---- other server messages -----------------------------------------------------

TEST(DisplayMessages, SurfaceCreate) {
    rs::msg::display_surface_create s{0, 1024, 768, SPICE_SURFACE_FMT_32_xRGB,
                                      SPICE_SURFACE_FLAGS_PRIMARY};
    EXPECT_EQ(encode(s), le{}.u32(0).u32(1024).u32(768).u32(32).u32(1).b);
    EXPECT_EQ(encode(rs::msg::display_surface_destroy{5}), le{}.u32(5).b);
}

TEST(DisplayMessages, InvalidationMessages) {
    const rs::resource_id res[] = {{SPICE_RES_TYPE_PIXMAP, 0x0102030405060708ull}, {1, 9}};
    EXPECT_EQ(encode(rs::msg::display_inval_list{res}),
              le{}.u16(2).u8(1).u64(0x0102030405060708ull).u8(1).u64(9).b);
    const rs::msg::channel_wait waits[] = {{SPICE_CHANNEL_DISPLAY, 1, 77}};
    EXPECT_EQ(encode(rs::msg::display_inval_all_pixmaps{waits}), le{}.u8(1).u8(2).u8(1).u64(77).b);
    EXPECT_EQ(encode(rs::msg::display_inval_palette{0x1234}), le{}.u64(0x1234).b);
    EXPECT_TRUE(encode(rs::msg::display_inval_all_palettes{}).empty());
    EXPECT_TRUE(encode(rs::msg::display_mark{}).empty());
    EXPECT_TRUE(encode(rs::msg::display_reset{}).empty());
}

TEST(DisplayMessages, MonitorsConfig) {
    const rs::monitor_head heads[] = {{0, 0, 1024, 768, 0, 0, 0}, {1, 0, 800, 600, 1024, 0, 0}};
    EXPECT_EQ(encode(rs::msg::display_monitors_config{heads, 4}), le{}.u16(2)
                                                                      .u16(4)
                                                                      .u32(0)
                                                                      .u32(0)
                                                                      .u32(1024)
                                                                      .u32(768)
                                                                      .u32(0)
                                                                      .u32(0)
                                                                      .u32(0)
                                                                      .u32(1)
                                                                      .u32(0)
                                                                      .u32(800)
                                                                      .u32(600)
                                                                      .u32(1024)
                                                                      .u32(0)
                                                                      .u32(0)
                                                                      .b);
}

// ---- client messages ------------------------------------------------------------

template <typename T> const T *parsed(const rs::display_client_message &m) {
    return std::get_if<T>(&m);
}

rs::parse_error::kind error_of(const rs::display_client_message &m) {
    const auto *e = parsed<rs::parse_error>(m);
    return e ? e->what : static_cast<rs::parse_error::kind>(255);
}

TEST(DisplayMessages, ParsesInit) {
    const bytes body = le{}.u8(1).u64(uint64_t(-1)).u8(2).i32(0x10000).b;
    ASSERT_EQ(body.size(), 14u);
    const auto m = rs::parse_display_client_message(SPICE_MSGC_DISPLAY_INIT, body);
    const auto *init = parsed<rs::msgc::display_init>(m);
    ASSERT_TRUE(init);
    EXPECT_EQ(init->pixmap_cache_id, 1);
    EXPECT_EQ(init->pixmap_cache_size, -1);
    EXPECT_EQ(init->glz_dictionary_id, 2);
    EXPECT_EQ(init->glz_dictionary_window_size, 0x10000);
}

TEST(DisplayMessages, ParsesStreamReportAndSmallMessages) {
    const bytes report = le{}.u32(1).u32(2).u32(3).u32(4).u32(5).u32(6).i32(-7).u32(8).b;
    auto m = rs::parse_display_client_message(SPICE_MSGC_DISPLAY_STREAM_REPORT, report);
    const auto *r = parsed<rs::msgc::display_stream_report>(m);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->stream_id, 1u);
    EXPECT_EQ(r->unique_id, 2u);
    EXPECT_EQ(r->start_frame_mm_time, 3u);
    EXPECT_EQ(r->end_frame_mm_time, 4u);
    EXPECT_EQ(r->num_frames, 5u);
    EXPECT_EQ(r->num_drops, 6u);
    EXPECT_EQ(r->last_frame_delay, -7);
    EXPECT_EQ(r->audio_delay, 8u);

    const bytes one = {SPICE_IMAGE_COMPRESSION_LZ4};
    m = rs::parse_display_client_message(SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION, one);
    ASSERT_TRUE(parsed<rs::msgc::display_preferred_compression>(m));
    EXPECT_EQ(parsed<rs::msgc::display_preferred_compression>(m)->image_compression,
              SPICE_IMAGE_COMPRESSION_LZ4);

    m = rs::parse_display_client_message(SPICE_MSGC_DISPLAY_GL_DRAW_DONE, {});
    EXPECT_TRUE(parsed<rs::msgc::display_gl_draw_done>(m));

    const bytes codecs = {2, SPICE_VIDEO_CODEC_TYPE_VP8, SPICE_VIDEO_CODEC_TYPE_MJPEG};
    m = rs::parse_display_client_message(SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE, codecs);
    const auto *c = parsed<rs::msgc::display_preferred_video_codec_type>(m);
    ASSERT_TRUE(c);
    EXPECT_EQ(bytes(c->codecs.begin(), c->codecs.end()),
              (bytes{SPICE_VIDEO_CODEC_TYPE_VP8, SPICE_VIDEO_CODEC_TYPE_MJPEG}));
    EXPECT_EQ(c->codecs.data(), codecs.data() + 1); // a view of the input
}

TEST(DisplayMessages, CommonMessagesParseOnTheDisplayChannel) {
    const bytes gen = le{}.u32(9).b;
    const auto m = rs::parse_display_client_message(SPICE_MSGC_ACK_SYNC, gen);
    ASSERT_TRUE(parsed<rs::msgc::ack_sync>(m));
    EXPECT_EQ(parsed<rs::msgc::ack_sync>(m)->generation, 9u);
    EXPECT_TRUE(parsed<rs::msgc::ack>(rs::parse_display_client_message(SPICE_MSGC_ACK, {})));
    EXPECT_EQ(error_of(rs::parse_display_client_message(SPICE_MSGC_PONG, gen)),
              rs::parse_error::kind::truncated);
}

TEST(DisplayMessages, ClientMessageErrors) {
    using k = rs::parse_error::kind;
    const bytes init = le{}.u8(1).u64(2).u8(3).i32(4).b;
    EXPECT_EQ(error_of(rs::parse_display_client_message(SPICE_MSGC_DISPLAY_INIT,
                                                        bytes(init.begin(), init.end() - 1))),
              k::truncated);
    bytes longer = init;
    longer.push_back(0);
    EXPECT_EQ(error_of(rs::parse_display_client_message(SPICE_MSGC_DISPLAY_INIT, longer)),
              k::trailing_bytes);
    EXPECT_TRUE(parsed<rs::msgc::display_init>(rs::parse_display_client_message(
        SPICE_MSGC_DISPLAY_INIT, longer, rs::extra_bytes::ignore)));
    EXPECT_EQ(
        error_of(rs::parse_display_client_message(SPICE_MSGC_DISPLAY_STREAM_REPORT, bytes(31, 0))),
        k::truncated);
    EXPECT_EQ(
        error_of(rs::parse_display_client_message(SPICE_MSGC_DISPLAY_PREFERRED_COMPRESSION, {})),
        k::truncated);
    const bytes gl = {0};
    EXPECT_EQ(error_of(rs::parse_display_client_message(SPICE_MSGC_DISPLAY_GL_DRAW_DONE, gl)),
              k::trailing_bytes);
    // The codec count promises more codecs than follow.
    const bytes short_codecs = {3, 1, 2};
    EXPECT_EQ(error_of(rs::parse_display_client_message(
                  SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE, short_codecs)),
              k::truncated);
    EXPECT_EQ(error_of(rs::parse_display_client_message(
                  SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE, {})),
              k::truncated);
    const bytes extra_codecs = {1, 1, 2};
    EXPECT_EQ(error_of(rs::parse_display_client_message(
                  SPICE_MSGC_DISPLAY_PREFERRED_VIDEO_CODEC_TYPE, extra_codecs)),
              k::trailing_bytes);
    const auto unknown = rs::parse_display_client_message(106, {}); // keep the result alive
    const auto *e = std::get_if<rs::parse_error>(&unknown);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->what, k::unknown_type);
    EXPECT_EQ(e->type, 106);
    EXPECT_EQ(error_of(rs::parse_display_client_message(7, {})), k::unknown_type);
    EXPECT_EQ(error_of(rs::parse_display_client_message(SPICE_MSGC_MAIN_CLIENT_INFO + 100, {})),
              k::unknown_type);
}

} // namespace
