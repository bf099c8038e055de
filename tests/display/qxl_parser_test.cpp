#include "display/qxl_parser.hpp"

#include "display/guest_memory.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using rs::qxl::parse_command;
using rs::qxl::parse_error;
using rs::qxl::parse_result;
using rs::qxl::parser_limits;
using rs::testing::guest_memory;
namespace draw = rs::draw;

class QxlParser : public ::testing::Test {
  protected:
    guest_memory g{1u << 20};
    rs::memslot_table slots = g.table();
    parser_limits limits;

    parse_result parse(uint32_t type, QXLPHYSICAL addr, uint32_t flags = 0) {
        return parse_command(guest_memory::command(type, addr, flags), slots, limits);
    }

    /// The drawable a successful parse yields (fails the test otherwise).
    draw::drawable draw_ok(QXLPHYSICAL addr, uint32_t flags = 0) {
        auto r = parse(QXL_CMD_DRAW, addr, flags);
        if (auto *e = std::get_if<parse_error>(&r)) ADD_FAILURE() << "parse error: " << e->reason;
        auto *d = std::get_if<draw::drawable>(&r);
        return d ? *d : draw::drawable{};
    }

    /// The reason a parse failed ("" if it did not).
    std::string error_of(uint32_t type, QXLPHYSICAL addr, uint32_t flags = 0) {
        auto r = parse(type, addr, flags);
        auto *e = std::get_if<parse_error>(&r);
        return e ? e->reason : "";
    }
    std::string draw_error(const QXLDrawable &d, uint32_t flags = 0) {
        return error_of(QXL_CMD_DRAW, g.put(d), flags);
    }

    QXLPHYSICAL copy_drawable(QXLPHYSICAL src, QXLRect area) {
        auto d = guest_memory::drawable(QXL_DRAW_COPY, guest_memory::rect(0, 0, 8, 8));
        d.u.copy.src_bitmap = src;
        d.u.copy.src_area = area;
        d.u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
        return g.put(d);
    }
    /// The source image of a COPY drawing `src` (null when refused).
    draw::image_ptr copy_src(QXLPHYSICAL src, QXLRect area) {
        auto r = parse(QXL_CMD_DRAW, copy_drawable(src, area));
        if (auto *e = std::get_if<parse_error>(&r)) ADD_FAILURE() << "parse error: " << e->reason;
        auto *d = std::get_if<draw::drawable>(&r);
        if (d == nullptr) return nullptr;
        return std::get<draw::copy>(d->op).src;
    }
    std::string copy_error(QXLPHYSICAL src, QXLRect area) {
        return error_of(QXL_CMD_DRAW, copy_drawable(src, area));
    }

    bool within_guest(std::span<const uint8_t> s) {
        const auto all = g.bytes();
        return s.data() >= all.data() && s.data() + s.size() <= all.data() + all.size();
    }
};

// ---- draw types ----------------------------------------------------------

TEST_F(QxlParser, FillParsesBboxBrushRopAndHeader) {
    auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(10, 20, 110, 220));
    d.surface_id = 3;
    d.effect = QXL_EFFECT_OPAQUE_BRUSH;
    d.mm_time = 1234;
    d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.fill.brush.u.color = 0x00ff8040;
    d.u.fill.rop_descriptor = SPICE_ROPD_OP_XOR;
    const auto out = draw_ok(g.put(d));
    EXPECT_EQ(out.surface_id, 3u);
    EXPECT_EQ(out.effect, QXL_EFFECT_OPAQUE_BRUSH);
    EXPECT_EQ(out.bbox, (draw::rect{10, 20, 110, 220}));
    EXPECT_EQ(out.mm_time, 1234u);
    EXPECT_EQ(out.clp.type, SPICE_CLIP_TYPE_NONE);
    EXPECT_EQ(out.surface_deps, (std::array<int32_t, 3>{-1, -1, -1}));
    const auto &f = std::get<draw::fill>(out.op);
    EXPECT_EQ(f.br.type, uint32_t{SPICE_BRUSH_TYPE_SOLID});
    EXPECT_EQ(f.br.color, 0x00ff8040u);
    EXPECT_EQ(f.rop_descriptor, SPICE_ROPD_OP_XOR);
    EXPECT_FALSE(f.mask.bitmap);
}

TEST_F(QxlParser, Compat16bppConvertsSolidColours) {
    auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(0, 0, 1, 1));
    d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.fill.brush.u.color = 0x7fff; // white in x555
    const auto out = draw_ok(g.put(d), QXL_COMMAND_FLAG_COMPAT_16BPP);
    EXPECT_EQ(std::get<draw::fill>(out.op).br.color, 0x00ffffffu);
}

TEST_F(QxlParser, FillWithClipRectsInSeveralChunks) {
    auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(0, 0, 100, 100));
    d.clip.type = SPICE_CLIP_TYPE_RECTS;
    d.clip.data =
        g.clip_rects({guest_memory::rect(0, 0, 10, 10), guest_memory::rect(20, 20, 30, 40),
                      guest_memory::rect(50, 0, 100, 5)},
                     2);
    const auto out = draw_ok(g.put(d));
    EXPECT_EQ(out.clp.type, SPICE_CLIP_TYPE_RECTS);
    ASSERT_EQ(out.clp.rects.size(), 3u);
    EXPECT_EQ(out.clp.rects[1], (draw::rect{20, 20, 30, 40}));
    EXPECT_EQ(out.clp.rects[2], (draw::rect{50, 0, 100, 5}));
}

TEST_F(QxlParser, OpaqueWithPatternBrushAndMask) {
    auto d = guest_memory::drawable(QXL_DRAW_OPAQUE, guest_memory::rect(0, 0, 16, 16));
    d.u.opaque.src_bitmap = g.bitmap32(16, 16);
    d.u.opaque.src_area = guest_memory::rect(0, 0, 16, 16);
    d.u.opaque.brush.type = SPICE_BRUSH_TYPE_PATTERN;
    d.u.opaque.brush.u.pattern.pat = g.bitmap32(8, 8, 0x11);
    d.u.opaque.brush.u.pattern.pos.x = 3;
    d.u.opaque.brush.u.pattern.pos.y = 4;
    d.u.opaque.rop_descriptor = SPICE_ROPD_OP_PUT;
    d.u.opaque.scale_mode = SPICE_IMAGE_SCALE_MODE_INTERPOLATE;
    std::vector<uint8_t> bits(16 * 4, 0xf0);
    d.u.opaque.mask.bitmap = g.bitmap_image(SPICE_BITMAP_FMT_1BIT_BE, 16, 16, 4, bits);
    d.u.opaque.mask.flags = SPICE_MASK_FLAGS_INVERS;
    d.u.opaque.mask.pos.x = 1;
    const auto out = draw_ok(g.put(d));
    const auto &o = std::get<draw::opaque>(out.op);
    ASSERT_TRUE(o.src);
    EXPECT_EQ(o.src_area, (draw::rect{0, 0, 16, 16}));
    EXPECT_EQ(o.scale_mode, SPICE_IMAGE_SCALE_MODE_INTERPOLATE);
    EXPECT_EQ(o.br.type, uint32_t{SPICE_BRUSH_TYPE_PATTERN});
    ASSERT_TRUE(o.br.pat.pat);
    EXPECT_EQ(o.br.pat.pat->width, 8u);
    EXPECT_EQ(o.br.pat.pos, (draw::point{3, 4}));
    ASSERT_TRUE(o.mask.bitmap); // a 1-bit mask needs no palette
    EXPECT_EQ(o.mask.flags, SPICE_MASK_FLAGS_INVERS);
    EXPECT_EQ(o.mask.pos, (draw::point{1, 0}));
    EXPECT_EQ(std::get<draw::bitmap>(o.mask.bitmap->payload).format, SPICE_BITMAP_FMT_1BIT_BE);
}

TEST_F(QxlParser, CopyOfADirectBitmapPointsIntoGuestMemory) {
    std::vector<uint8_t> px(4 * 3 * 4);
    for (size_t i = 0; i < px.size(); ++i)
        px[i] = uint8_t(i);
    guest_memory::bitmap_opts o;
    o.qxl_flags = QXL_BITMAP_DIRECT;
    o.id = 0x1122334455667788;
    o.image_flags = QXL_IMAGE_CACHE;
    const auto img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_32BIT, 4, 3, 16, px, o),
                              guest_memory::rect(1, 1, 4, 3));
    ASSERT_TRUE(img);
    EXPECT_EQ(img->id, 0x1122334455667788u);
    EXPECT_EQ(img->type, SPICE_IMAGE_TYPE_BITMAP);
    EXPECT_EQ(img->flags, SPICE_IMAGE_FLAGS_CACHE_ME);
    const auto &bm = std::get<draw::bitmap>(img->payload);
    EXPECT_EQ(bm.width, 4u);
    EXPECT_EQ(bm.height, 3u);
    EXPECT_EQ(bm.stride, 16u);
    EXPECT_FALSE(bm.pal);
    ASSERT_EQ(bm.data.parts.size(), 1u);
    EXPECT_TRUE(within_guest(bm.data.parts[0]));
    EXPECT_EQ(std::vector<uint8_t>(bm.data.parts[0].begin(), bm.data.parts[0].end()), px);
}

TEST_F(QxlParser, CopyClearsSelfBitmapAndBlendParsesLikeCopy) {
    auto d = guest_memory::drawable(QXL_DRAW_COPY, guest_memory::rect(0, 0, 4, 4));
    d.self_bitmap = 1;
    d.self_bitmap_area = guest_memory::rect(0, 0, 4, 4);
    d.u.copy.src_bitmap = g.bitmap32(4, 4);
    d.u.copy.src_area = guest_memory::rect(0, 0, 4, 4);
    EXPECT_FALSE(draw_ok(g.put(d)).self_bitmap);

    d.type = QXL_DRAW_BLEND;
    d.u.blend.rop_descriptor = SPICE_ROPD_OP_OR;
    const auto out = draw_ok(g.put(d));
    EXPECT_EQ(std::get<draw::blend>(out.op).rop_descriptor, SPICE_ROPD_OP_OR);
}

TEST_F(QxlParser, BlacknessWhitenessInversCarryTheirMask) {
    std::vector<uint8_t> bits(8, 0xaa);
    const QXLPHYSICAL mask = g.bitmap_image(SPICE_BITMAP_FMT_1BIT_LE, 8, 8, 1, bits);
    for (uint8_t type :
         {uint8_t(QXL_DRAW_BLACKNESS), uint8_t(QXL_DRAW_WHITENESS), uint8_t(QXL_DRAW_INVERS)}) {
        auto d = guest_memory::drawable(type, guest_memory::rect(0, 0, 8, 8));
        d.u.blackness.mask.bitmap = mask;
        const auto out = draw_ok(g.put(d));
        const draw::qmask *m = nullptr;
        if (auto *b = std::get_if<draw::blackness>(&out.op)) m = &b->mask;
        if (auto *w = std::get_if<draw::whiteness>(&out.op)) m = &w->mask;
        if (auto *i = std::get_if<draw::invers>(&out.op)) m = &i->mask;
        ASSERT_NE(m, nullptr) << int(type);
        EXPECT_TRUE(m->bitmap);
    }
    auto d = guest_memory::drawable(QXL_DRAW_WHITENESS, guest_memory::rect(0, 0, 8, 8));
    EXPECT_TRUE(std::holds_alternative<draw::whiteness>(draw_ok(g.put(d)).op));
}

TEST_F(QxlParser, Rop3) {
    auto d = guest_memory::drawable(QXL_DRAW_ROP3, guest_memory::rect(0, 0, 4, 4));
    d.u.rop3.src_bitmap = g.bitmap32(4, 4);
    d.u.rop3.src_area = guest_memory::rect(0, 0, 4, 4);
    d.u.rop3.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.rop3.brush.u.color = 7;
    d.u.rop3.rop3 = 0xb8;
    const auto r_d = draw_ok(g.put(d));
    const auto &r = std::get<draw::rop3>(r_d.op);
    EXPECT_EQ(r.rop3_code, 0xb8);
    EXPECT_EQ(r.br.color, 7u);
    EXPECT_TRUE(r.src);
}

TEST_F(QxlParser, StrokeWithAPathInChunksAndADashStyle) {
    auto d = guest_memory::drawable(QXL_DRAW_STROKE, guest_memory::rect(0, 0, 64, 64));
    d.u.stroke.path = g.path({{SPICE_PATH_BEGIN, {{0, 0}, {160, 160}}},
                              {SPICE_PATH_END | SPICE_PATH_CLOSE, {{320, 16}}}},
                             3);
    const int32_t style[] = {16, 32, 48};
    d.u.stroke.attr.flags = SPICE_LINE_FLAGS_STYLED;
    d.u.stroke.attr.style_nseg = 3;
    d.u.stroke.attr.style = g.put(style);
    d.u.stroke.brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.stroke.fore_mode = SPICE_ROPD_OP_PUT;
    d.u.stroke.back_mode = SPICE_ROPD_OP_OR;
    const auto s_d = draw_ok(g.put(d));
    const auto &s = std::get<draw::stroke>(s_d.op);
    ASSERT_EQ(s.path.size(), 2u);
    EXPECT_EQ(s.path[0].flags, uint32_t{SPICE_PATH_BEGIN});
    ASSERT_EQ(s.path[0].points.size(), 2u);
    EXPECT_EQ(s.path[0].points[1].x, 160);
    EXPECT_EQ(s.path[1].flags, uint32_t{SPICE_PATH_END | SPICE_PATH_CLOSE});
    ASSERT_EQ(s.path[1].points.size(), 1u);
    EXPECT_EQ(s.path[1].points[0].y, 16);
    EXPECT_EQ(s.style, (std::vector<int32_t>{16, 32, 48}));
    EXPECT_EQ(s.line_flags, SPICE_LINE_FLAGS_STYLED);
    EXPECT_EQ(s.back_mode, SPICE_ROPD_OP_OR);
}

TEST_F(QxlParser, TextWithGlyphsSplitAcrossChunks) {
    auto d = guest_memory::drawable(QXL_DRAW_TEXT, guest_memory::rect(0, 0, 64, 16));
    d.u.text.str = g.string(SPICE_STRING_FLAGS_RASTER_A1, 1,
                            {{0, 12, 7, 12, 0x11}, {8, 12, 9, 12, 0x22}, {18, 12, 1, 1, 0x33}}, 4);
    d.u.text.back_area = guest_memory::rect(0, 0, 64, 16);
    d.u.text.fore_brush.type = SPICE_BRUSH_TYPE_SOLID;
    d.u.text.fore_brush.u.color = 0xffffff;
    d.u.text.back_brush.type = SPICE_BRUSH_TYPE_NONE;
    const auto t_d = draw_ok(g.put(d));
    const auto &t = std::get<draw::text>(t_d.op);
    EXPECT_EQ(t.string_flags, SPICE_STRING_FLAGS_RASTER_A1);
    ASSERT_EQ(t.glyphs.size(), 3u);
    EXPECT_EQ(t.glyphs[1].render_pos, (draw::point{8, 12}));
    EXPECT_EQ(t.glyphs[1].glyph_origin, (draw::point{0, -12}));
    EXPECT_EQ(t.glyphs[1].width, 9);
    EXPECT_EQ(t.glyphs[1].data.size(), 12u * 2); // 9 pixels at 1 bpp: 2 bytes a row
    EXPECT_EQ(t.glyphs[1].data[0], 0x22);
    EXPECT_EQ(t.glyphs[2].data.size(), 1u);
    ASSERT_TRUE(t.storage);
    EXPECT_EQ(t.back_area, (draw::rect{0, 0, 64, 16}));
    EXPECT_EQ(t.fore_brush.color, 0xffffffu);
}

TEST_F(QxlParser, TransparentAndAlphaBlend) {
    auto d = guest_memory::drawable(QXL_DRAW_TRANSPARENT, guest_memory::rect(0, 0, 4, 4));
    d.u.transparent.src_bitmap = g.bitmap32(4, 4);
    d.u.transparent.src_area = guest_memory::rect(0, 0, 4, 4);
    d.u.transparent.src_color = 0xff00ff;
    d.u.transparent.true_color = 0x123456;
    const auto t_d = draw_ok(g.put(d));
    const auto &t = std::get<draw::transparent>(t_d.op);
    EXPECT_EQ(t.src_color, 0xff00ffu);
    EXPECT_EQ(t.true_color, 0x123456u);

    auto a = guest_memory::drawable(QXL_DRAW_ALPHA_BLEND, guest_memory::rect(0, 0, 4, 4));
    a.u.alpha_blend.alpha_flags = SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA;
    a.u.alpha_blend.alpha = 128;
    a.u.alpha_blend.src_bitmap = g.bitmap32(4, 4);
    a.u.alpha_blend.src_area = guest_memory::rect(0, 0, 2, 2);
    const auto ab_d = draw_ok(g.put(a));
    const auto &ab = std::get<draw::alpha_blend>(ab_d.op);
    EXPECT_EQ(ab.alpha_flags, SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA);
    EXPECT_EQ(ab.alpha, 128);
    EXPECT_EQ(ab.src_area, (draw::rect{0, 0, 2, 2}));
}

TEST_F(QxlParser, CompositeWithTransformsAndMask) {
    auto d = guest_memory::drawable(QXL_DRAW_COMPOSITE, guest_memory::rect(0, 0, 4, 4));
    QXLTransform t{};
    t.t00 = 2u << 16;
    t.t11 = 3u << 16;
    t.t02 = 5;
    // HAS_* bits from the guest are ignored: they describe what was parsed.
    d.u.composite.flags = uint32_t{QXL_OP_OVER} | uint32_t{SPICE_COMPOSITE_HAS_MASK_TRANSFORM};
    d.u.composite.src = g.bitmap32(4, 4);
    d.u.composite.src_transform = g.put(t);
    d.u.composite.mask = g.bitmap32(4, 4, 0x80);
    d.u.composite.src_origin.x = -2;
    d.u.composite.mask_origin.y = 7;
    const auto c_d = draw_ok(g.put(d));
    const auto &c = std::get<draw::composite>(c_d.op);
    EXPECT_EQ(c.flags, uint32_t{QXL_OP_OVER} | uint32_t{SPICE_COMPOSITE_HAS_SRC_TRANSFORM} |
                           uint32_t{SPICE_COMPOSITE_HAS_MASK});
    ASSERT_TRUE(c.src_transform);
    EXPECT_EQ(c.src_transform->t00, 2u << 16);
    EXPECT_EQ(c.src_transform->t11, 3u << 16);
    EXPECT_EQ(c.src_transform->t02, 5u);
    EXPECT_FALSE(c.mask_transform);
    EXPECT_TRUE(c.mask);
    EXPECT_EQ(c.src_origin.x, -2);
    EXPECT_EQ(c.mask_origin.y, 7);
}

TEST_F(QxlParser, CopyBitsAndSurfaceDependencies) {
    auto d = guest_memory::drawable(QXL_COPY_BITS, guest_memory::rect(10, 10, 20, 30));
    d.u.copy_bits.src_pos.x = 40;
    d.u.copy_bits.src_pos.y = 50;
    d.surfaces_dest[0] = 0;
    d.surfaces_rects[0] = guest_memory::rect(40, 50, 50, 70);
    const auto out = draw_ok(g.put(d));
    EXPECT_EQ(std::get<draw::copy_bits>(out.op).src_pos, (draw::point{40, 50}));
    EXPECT_EQ(out.surface_deps[0], 0);
    EXPECT_EQ(out.surface_rects[0], (draw::rect{40, 50, 50, 70}));
}

TEST_F(QxlParser, CompatDrawablesAreAccepted) {
    QXLCompatDrawable c{};
    c.type = QXL_COPY_BITS;
    c.effect = QXL_EFFECT_OPAQUE;
    c.bbox = guest_memory::rect(10, 10, 20, 30);
    c.u.copy_bits.src_pos.x = 40;
    c.u.copy_bits.src_pos.y = 50;
    auto out = draw_ok(g.put(c), QXL_COMMAND_FLAG_COMPAT);
    EXPECT_EQ(out.surface_id, 0u);
    EXPECT_EQ(out.surface_deps[0], 0);
    EXPECT_EQ(out.surface_rects[0], (draw::rect{40, 50, 50, 70}));
    EXPECT_EQ(out.surface_deps[1], -1);

    QXLCompatDrawable a{};
    a.type = QXL_DRAW_ALPHA_BLEND;
    a.bbox = guest_memory::rect(0, 0, 4, 4);
    a.u.alpha_blend.alpha = 77;
    a.u.alpha_blend.src_bitmap = g.bitmap32(4, 4);
    a.u.alpha_blend.src_area = guest_memory::rect(0, 0, 4, 4);
    out = draw_ok(g.put(a), QXL_COMMAND_FLAG_COMPAT);
    EXPECT_EQ(std::get<draw::alpha_blend>(out.op).alpha, 77);

    QXLCompatDrawable f{};
    f.type = QXL_DRAW_FILL;
    f.bbox = guest_memory::rect(0, 0, 4, 4);
    f.bitmap_offset = 8;
    f.bitmap_area = guest_memory::rect(0, 0, 4, 4);
    out = draw_ok(g.put(f), QXL_COMMAND_FLAG_COMPAT);
    EXPECT_TRUE(out.self_bitmap);
    EXPECT_TRUE(std::holds_alternative<draw::fill>(out.op));

    QXLCompatDrawable overflow = c;
    overflow.u.copy_bits.src_pos.x = INT32_MAX - 5; // + bbox width 10
    EXPECT_EQ(error_of(QXL_CMD_DRAW, g.put(overflow), QXL_COMMAND_FLAG_COMPAT),
              "copy bits source area overflows");
}

// ---- images --------------------------------------------------------------

TEST_F(QxlParser, PaletteFormatsCarryTheirPalette) {
    const std::vector<uint32_t> two{0x000000, 0xffffff};
    std::vector<uint8_t> px1(2 * 4, 0x55);
    guest_memory::bitmap_opts o;
    o.palette = g.palette(two, 42);
    auto img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_1BIT_BE, 9, 4, 2, px1, o),
                        guest_memory::rect(0, 0, 9, 4));
    ASSERT_TRUE(img);
    auto *bm = &std::get<draw::bitmap>(img->payload);
    ASSERT_TRUE(bm->pal);
    EXPECT_EQ(bm->pal->unique, 42u);
    EXPECT_EQ(bm->pal->entries, two);

    std::vector<uint32_t> sixteen(16);
    for (uint32_t i = 0; i < 16; ++i)
        sixteen[i] = i * 0x111111;
    std::vector<uint8_t> px4(3 * 5, 0x12);
    o.palette = g.palette(sixteen, 43);
    img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_4BIT_LE, 5, 5, 3, px4, o),
                   guest_memory::rect(0, 0, 5, 5));
    ASSERT_TRUE(img);
    bm = &std::get<draw::bitmap>(img->payload);
    EXPECT_EQ(bm->pal->entries, sixteen);

    std::vector<uint32_t> full(256, 0xabcdef);
    std::vector<uint8_t> px8(8 * 2, 3);
    o.palette = g.palette(full, 44);
    img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_8BIT, 8, 2, 8, px8, o),
                   guest_memory::rect(0, 0, 8, 2));
    ASSERT_TRUE(img);
    EXPECT_EQ(std::get<draw::bitmap>(img->payload).pal->entries.size(), 256u);
}

TEST_F(QxlParser, PaletteEntriesBeyondTheDepthAreDroppedAndNotCached) {
    std::vector<uint32_t> ents(256, 1);
    guest_memory::bitmap_opts o;
    o.palette = g.palette(ents, 99);
    std::vector<uint8_t> px(2 * 2, 0);
    auto img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_4BIT_BE, 4, 2, 2, px, o),
                        guest_memory::rect(0, 0, 4, 2));
    ASSERT_TRUE(img);
    const auto &bm = std::get<draw::bitmap>(img->payload);
    EXPECT_EQ(bm.pal->entries.size(), 16u);
    EXPECT_EQ(bm.pal->unique, 0u);
}

TEST_F(QxlParser, Compat16bppConvertsPalettes) {
    guest_memory::bitmap_opts o;
    o.palette = g.palette({0x7c00, 0x001f});
    std::vector<uint8_t> px(1, 0);
    auto r = parse(QXL_CMD_DRAW,
                   copy_drawable(g.bitmap_image(SPICE_BITMAP_FMT_1BIT_LE, 2, 1, 1, px, o),
                                 guest_memory::rect(0, 0, 2, 1)),
                   QXL_COMMAND_FLAG_COMPAT_16BPP);
    const auto &d = std::get<draw::drawable>(r);
    const auto &bm = std::get<draw::bitmap>(std::get<draw::copy>(d.op).src->payload);
    EXPECT_EQ(bm.pal->entries, (std::vector<uint32_t>{0xff0000, 0x0000ff}));
}

TEST_F(QxlParser, TopDownFlagAndOtherRgbFormats) {
    guest_memory::bitmap_opts o;
    o.qxl_flags = QXL_BITMAP_TOP_DOWN | QXL_BITMAP_DIRECT;
    std::vector<uint8_t> px(6 * 2);
    auto img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_16BIT, 3, 2, 6, px, o),
                        guest_memory::rect(0, 0, 3, 2));
    ASSERT_TRUE(img);
    EXPECT_EQ(std::get<draw::bitmap>(img->payload).flags, SPICE_BITMAP_FLAGS_TOP_DOWN);

    std::vector<uint8_t> px24(12 * 2);
    img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_24BIT, 4, 2, 12, px24),
                   guest_memory::rect(0, 0, 4, 2));
    ASSERT_TRUE(img);
    EXPECT_EQ(std::get<draw::bitmap>(img->payload).flags, 0);

    std::vector<uint8_t> px8a(4 * 2);
    img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_8BIT_A, 4, 2, 4, px8a),
                   guest_memory::rect(0, 0, 4, 2));
    ASSERT_TRUE(img);
    img = copy_src(g.bitmap_image(SPICE_BITMAP_FMT_RGBA, 1, 2, 4, px8a),
                   guest_memory::rect(0, 0, 1, 2));
    ASSERT_TRUE(img);
}

TEST_F(QxlParser, BitmapDataInSeveralChunks) {
    auto img = copy_src(g.bitmap32(16, 16, 0x33, 5), guest_memory::rect(0, 0, 16, 16));
    ASSERT_TRUE(img);
    const auto &bm = std::get<draw::bitmap>(img->payload);
    EXPECT_EQ(bm.data.parts.size(), 5u);
    EXPECT_EQ(bm.data.size(), 16u * 16 * 4);
    for (const auto &p : bm.data.parts)
        EXPECT_TRUE(within_guest(p));
}

TEST_F(QxlParser, QuicImagesKeepTheirChunks) {
    std::vector<uint8_t> stream(1000, 0x42);
    auto img = copy_src(g.quic_image(20, 10, stream, 3), guest_memory::rect(0, 0, 20, 10));
    ASSERT_TRUE(img);
    EXPECT_EQ(img->type, SPICE_IMAGE_TYPE_QUIC);
    EXPECT_EQ(img->width, 20u);
    const auto &q = std::get<draw::quic_data>(img->payload);
    EXPECT_EQ(q.data.parts.size(), 3u);
    EXPECT_EQ(q.data.size(), 1000u);

    // data_size must match the chunks.
    const QXLPHYSICAL bad = g.quic_image(20, 10, stream);
    auto head = g.get<QXLImage>(bad);
    head.quic.data_size = 1001;
    g.set(bad, head);
    EXPECT_EQ(copy_error(bad, guest_memory::rect(0, 0, 1, 1)),
              "QUIC chunks do not match data_size");
}

TEST_F(QxlParser, SurfaceImages) {
    auto img = copy_src(g.surface_image(7), guest_memory::rect(0, 0, 100, 100));
    ASSERT_TRUE(img);
    EXPECT_EQ(std::get<draw::surface_ref>(img->payload).surface_id, 7u);
    EXPECT_EQ(copy_error(g.surface_image(guest_memory::n_surfaces), guest_memory::rect(0, 0, 1, 1)),
              "image of a surface id >= n_surfaces");
}

// ---- other commands ------------------------------------------------------

TEST_F(QxlParser, SurfaceCreateAndDestroy) {
    QXLSurfaceCmd s{};
    s.surface_id = 5;
    s.type = QXL_SURFACE_CMD_CREATE;
    s.flags = QXL_SURF_FLAG_KEEP_DATA;
    s.u.surface_create.format = SPICE_SURFACE_FMT_32_ARGB;
    s.u.surface_create.width = 64;
    s.u.surface_create.height = 32;
    s.u.surface_create.stride = -256;
    s.u.surface_create.data = g.alloc(256 * 32);
    auto r = parse(QXL_CMD_SURFACE, g.put(s));
    auto *c = std::get_if<draw::surface_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->surface_id, 5u);
    EXPECT_EQ(c->type, uint32_t{QXL_SURFACE_CMD_CREATE});
    EXPECT_EQ(c->flags, uint32_t{QXL_SURF_FLAG_KEEP_DATA});
    EXPECT_EQ(c->format, uint32_t{SPICE_SURFACE_FMT_32_ARGB});
    EXPECT_EQ(c->width, 64u);
    EXPECT_EQ(c->height, 32u);
    EXPECT_EQ(c->stride, -256);
    EXPECT_EQ(c->data.data(), g.host(s.u.surface_create.data));
    EXPECT_EQ(c->data.size(), 256u * 32);

    QXLSurfaceCmd d{};
    d.surface_id = 5;
    d.type = QXL_SURFACE_CMD_DESTROY;
    r = parse(QXL_CMD_SURFACE, g.put(d));
    c = std::get_if<draw::surface_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, uint32_t{QXL_SURFACE_CMD_DESTROY});
    EXPECT_TRUE(c->data.empty());
}

TEST_F(QxlParser, SurfaceCreateChecks) {
    QXLSurfaceCmd s{};
    s.surface_id = 1;
    s.type = QXL_SURFACE_CMD_CREATE;
    s.u.surface_create.format = SPICE_SURFACE_FMT_32_xRGB;
    s.u.surface_create.width = 64;
    s.u.surface_create.height = 32;
    s.u.surface_create.stride = 256;
    s.u.surface_create.data = g.alloc(256 * 32);
    auto bad = [&](auto change) {
        QXLSurfaceCmd c = s;
        change(c);
        return error_of(QXL_CMD_SURFACE, g.put(c));
    };
    EXPECT_EQ(bad([](QXLSurfaceCmd &) {}), "");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) { c.surface_id = guest_memory::n_surfaces; }),
              "surface id >= n_surfaces");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) { c.u.surface_create.format = 7; }), "bad surface format");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) { c.u.surface_create.stride = 255; }),
              "surface stride below width");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) { c.u.surface_create.stride = INT32_MIN; }),
              "bad surface stride");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) {
                  c.u.surface_create.data = guest_memory::phys((1u << 20) - 100);
              }),
              "surface memory outside its memslot");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) {
                  c.u.surface_create.stride = INT32_MAX;
                  c.u.surface_create.height = 0xffffffff;
              }),
              "surface larger than max_surface_bytes");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) { c.u.surface_create.height = 0; }), "zero-area surface");
    EXPECT_EQ(bad([](QXLSurfaceCmd &c) { c.type = 9; }), "bad surface command type");
}

TEST_F(QxlParser, UpdateCommand) {
    QXLUpdateCmd u{};
    u.surface_id = 2;
    u.area = guest_memory::rect(1, 2, 3, 4);
    u.update_id = 77;
    auto r = parse(QXL_CMD_UPDATE, g.put(u));
    auto *c = std::get_if<draw::update_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->surface_id, 2u);
    EXPECT_EQ(c->area, (draw::rect{1, 2, 3, 4}));
    EXPECT_EQ(c->update_id, 77u);

    u.surface_id = guest_memory::n_surfaces;
    EXPECT_EQ(error_of(QXL_CMD_UPDATE, g.put(u)), "update of a surface id >= n_surfaces");
}

TEST_F(QxlParser, CursorSetMoveHideTrail) {
    std::vector<uint8_t> argb(32 * 32 * 4, 0xcc);
    QXLCursorCmd set{};
    set.type = QXL_CURSOR_SET;
    set.u.set.position.x = 100;
    set.u.set.position.y = 200;
    set.u.set.visible = 1;
    set.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_ALPHA, 32, 32, argb, 2, 0xfeed);
    auto r = parse(QXL_CMD_CURSOR, g.put(set));
    auto *c = std::get_if<draw::cursor_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, QXL_CURSOR_SET);
    EXPECT_EQ(c->position.x, 100);
    EXPECT_EQ(c->position.y, 200);
    EXPECT_TRUE(c->visible);
    ASSERT_TRUE(c->shape);
    EXPECT_EQ(c->shape->unique, 0xfeedu);
    EXPECT_EQ(c->shape->type, SPICE_CURSOR_TYPE_ALPHA);
    EXPECT_EQ(c->shape->width, 32);
    EXPECT_EQ(c->shape->hot_spot_x, 16);
    EXPECT_EQ(c->shape->data, argb);

    // A monochrome cursor: AND and XOR masks, one bit a pixel each.
    std::vector<uint8_t> mono(2 * 4 * 32, 0xff);
    set.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_MONO, 32, 32, mono);
    r = parse(QXL_CMD_CURSOR, g.put(set));
    ASSERT_TRUE(std::holds_alternative<draw::cursor_cmd>(r));

    QXLCursorCmd move{};
    move.type = QXL_CURSOR_MOVE;
    move.u.position.x = -5;
    move.u.position.y = 9;
    r = parse(QXL_CMD_CURSOR, g.put(move));
    c = std::get_if<draw::cursor_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->type, QXL_CURSOR_MOVE);
    EXPECT_EQ(c->position.x, -5);
    EXPECT_FALSE(c->shape);

    QXLCursorCmd hide{};
    hide.type = QXL_CURSOR_HIDE;
    r = parse(QXL_CMD_CURSOR, g.put(hide));
    c = std::get_if<draw::cursor_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->visible);

    QXLCursorCmd trail{};
    trail.type = QXL_CURSOR_TRAIL;
    trail.u.trail.length = 4;
    trail.u.trail.frequency = 20;
    r = parse(QXL_CMD_CURSOR, g.put(trail));
    c = std::get_if<draw::cursor_cmd>(&r);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->trail_length, 4);
    EXPECT_EQ(c->trail_frequency, 20);
}

TEST_F(QxlParser, CursorDataMustFitItsTypeAndSize) {
    QXLCursorCmd set{};
    set.type = QXL_CURSOR_SET;
    std::vector<uint8_t> short_data(32 * 32 * 4 - 1);
    set.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_ALPHA, 32, 32, short_data);
    EXPECT_EQ(error_of(QXL_CMD_CURSOR, g.put(set)),
              "cursor data smaller than its type and size need");

    // COLOR32 needs the AND mask after the pixels.
    std::vector<uint8_t> no_mask(8 * 8 * 4);
    set.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_COLOR32, 8, 8, no_mask);
    EXPECT_EQ(error_of(QXL_CMD_CURSOR, g.put(set)),
              "cursor data smaller than its type and size need");

    std::vector<uint8_t> any(64);
    set.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_ENUM_END, 2, 2, any);
    EXPECT_EQ(error_of(QXL_CMD_CURSOR, g.put(set)), "bad cursor type");

    set.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_ALPHA, 0xffff, 0xffff, any);
    EXPECT_EQ(error_of(QXL_CMD_CURSOR, g.put(set)), "cursor larger than max_cursor_bytes");

    QXLCursorCmd odd{};
    odd.type = 9;
    EXPECT_EQ(error_of(QXL_CMD_CURSOR, g.put(odd)), "bad cursor command type");
}

TEST_F(QxlParser, MessageIsBoundedText) {
    const char text[] = "hello from the guest";
    QXLMessage m{};
    const QXLPHYSICAL at = g.alloc(sizeof m + sizeof text);
    g.set(at, m);
    std::memcpy(g.host(at) + sizeof m, text, sizeof text);
    auto r = parse(QXL_CMD_MESSAGE, at);
    auto *msg = std::get_if<rs::qxl::message_cmd>(&r);
    ASSERT_NE(msg, nullptr);
    EXPECT_EQ(msg->text, "hello from the guest");

    limits.max_message_length = 5;
    EXPECT_EQ(error_of(QXL_CMD_MESSAGE, at), "message longer than max_message_length");
}

TEST_F(QxlParser, MessageRunningOffTheSlotIsRefused) {
    guest_memory small(4096);
    auto t = small.table();
    const QXLPHYSICAL at = guest_memory::phys(4096 - 16);
    std::memset(small.host(at), 'x', 16); // no NUL before the slot ends
    auto r = parse_command(guest_memory::command(QXL_CMD_MESSAGE, at), t, limits);
    ASSERT_TRUE(std::holds_alternative<parse_error>(r));
    EXPECT_STREQ(std::get<parse_error>(r).reason, "message runs off its memslot");
}

TEST_F(QxlParser, ReleaseInfoPointsAtTheCommand) {
    QXLUpdateCmd u{};
    u.release_info.id = 0xabcdef;
    const QXLPHYSICAL at = g.put(u);
    auto ext = rs::qxl::release_info_of(guest_memory::command(QXL_CMD_UPDATE, at), slots);
    ASSERT_TRUE(ext);
    EXPECT_EQ(reinterpret_cast<uint8_t *>(ext->info), g.host(at));
    EXPECT_EQ(ext->group_id, guest_memory::group);
    EXPECT_FALSE(rs::qxl::release_info_of(
        guest_memory::command(QXL_CMD_UPDATE, guest_memory::phys(1u << 21)), slots));
}

// ---- refused commands ----------------------------------------------------

TEST_F(QxlParser, CommandOutsideTheSlot) {
    EXPECT_EQ(error_of(QXL_CMD_DRAW, guest_memory::phys((1u << 20) - 8)),
              "drawable outside its memslot");
    EXPECT_EQ(error_of(QXL_CMD_UPDATE, guest_memory::phys(1u << 24)),
              "update command outside its memslot");
}

TEST_F(QxlParser, WrongGenerationSlotIdOrDeletedSlot) {
    auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(0, 0, 1, 1));
    const size_t off = guest_memory::offset_of(g.put(d));
    EXPECT_EQ(error_of(QXL_CMD_DRAW, guest_memory::phys(off)), "");
    EXPECT_EQ(error_of(QXL_CMD_DRAW, guest_memory::phys(off, guest_memory::slot, 2)),
              "drawable outside its memslot");
    EXPECT_EQ(error_of(QXL_CMD_DRAW, guest_memory::phys(off, 200)), "drawable outside its memslot");
    slots.del(guest_memory::group, guest_memory::slot);
    EXPECT_EQ(error_of(QXL_CMD_DRAW, guest_memory::phys(off)), "drawable outside its memslot");
}

TEST_F(QxlParser, ImagePointerWithAStaleGeneration) {
    const QXLPHYSICAL img = g.bitmap32(2, 2);
    const QXLPHYSICAL stale =
        guest_memory::phys(guest_memory::offset_of(img), guest_memory::slot, 0);
    EXPECT_EQ(copy_error(stale, guest_memory::rect(0, 0, 1, 1)), "image outside its memslot");
}

TEST_F(QxlParser, CyclicChunkListsAreRefused) {
    // Three chunks whose last points back at the second.
    std::vector<uint8_t> px(4 * 4 * 4);
    const QXLPHYSICAL img = g.bitmap32(4, 4, 0, 3);
    const auto head = g.get<QXLImage>(img);
    const QXLPHYSICAL first = head.bitmap.data;
    const QXLPHYSICAL second = g.get<QXLDataChunk>(first).next_chunk;
    const QXLPHYSICAL third = g.get<QXLDataChunk>(second).next_chunk;
    auto c = g.get<QXLDataChunk>(third);
    c.next_chunk = second;
    g.set(third, c);
    EXPECT_EQ(copy_error(img, guest_memory::rect(0, 0, 1, 1)), "cyclic data chunk list");

    // A chunk pointing at itself, with no data (no size cap would stop it).
    QXLDataChunk self{};
    const QXLPHYSICAL at = g.alloc(sizeof self);
    self.next_chunk = at;
    g.set(at, self);
    auto h = head;
    h.bitmap.data = at;
    EXPECT_EQ(copy_error(g.put(h), guest_memory::rect(0, 0, 1, 1)), "cyclic data chunk list");

    // An embedded first chunk (a string) whose next points back at itself.
    auto t = guest_memory::drawable(QXL_DRAW_TEXT, guest_memory::rect(0, 0, 8, 8));
    const QXLPHYSICAL str = g.string(SPICE_STRING_FLAGS_RASTER_A8, 8, {{0, 0, 1, 1, 1}});
    auto s = g.get<QXLString>(str);
    s.chunk.next_chunk = str + offsetof(QXLString, chunk);
    g.set(str, s);
    t.u.text.str = str;
    EXPECT_EQ(draw_error(t), "cyclic data chunk list");
}

TEST_F(QxlParser, TooManyChunksAreRefused) {
    limits.max_chunks = 4;
    EXPECT_EQ(copy_error(g.bitmap32(4, 4, 0, 5), guest_memory::rect(0, 0, 1, 1)),
              "too many data chunks");
    EXPECT_TRUE(copy_src(g.bitmap32(4, 4, 0, 4), guest_memory::rect(0, 0, 1, 1)));
}

TEST_F(QxlParser, ChunkSizesThatOverflowAreRefused) {
    const QXLPHYSICAL img = g.bitmap32(4, 4, 0, 2);
    const auto head = g.get<QXLImage>(img);
    auto c = g.get<QXLDataChunk>(head.bitmap.data);
    c.data_size = 0xffffffff;
    g.set(head.bitmap.data, c);
    EXPECT_EQ(copy_error(img, guest_memory::rect(0, 0, 1, 1)), "data chunk larger than its limit");

    // Two chunks each within the slot whose sum exceeds the image limit.
    limits.max_image_bytes = 63;
    EXPECT_EQ(copy_error(g.bitmap32(4, 4, 0, 2), guest_memory::rect(0, 0, 1, 1)),
              "bitmap larger than max_image_bytes");
    limits = {};
    // A later chunk whose size takes the sum past the limit.
    const QXLPHYSICAL img2 = g.bitmap32(4, 4, 0, 2);
    const auto head2 = g.get<QXLImage>(img2);
    const QXLPHYSICAL second = g.get<QXLDataChunk>(head2.bitmap.data).next_chunk;
    auto c2 = g.get<QXLDataChunk>(second);
    c2.data_size = 0x7ffffff0;
    g.set(second, c2);
    EXPECT_EQ(copy_error(img2, guest_memory::rect(0, 0, 1, 1)),
              "data chunks larger than their limit");
    // One within the limit whose data runs past the slot's end.
    c2.data_size = 2u << 20;
    g.set(second, c2);
    EXPECT_EQ(copy_error(img2, guest_memory::rect(0, 0, 1, 1)), "data chunk outside its memslot");
}

TEST_F(QxlParser, BitmapChecks) {
    std::vector<uint8_t> px(16 * 4);
    const auto whole = guest_memory::rect(0, 0, 1, 1);
    // Smaller than stride × height.
    const QXLPHYSICAL small =
        g.bitmap_image(SPICE_BITMAP_FMT_32BIT, 4, 4, 16, std::span<const uint8_t>(px).first(63));
    EXPECT_EQ(copy_error(small, whole), "bitmap data size is not stride x height");
    guest_memory::bitmap_opts direct;
    direct.qxl_flags = QXL_BITMAP_DIRECT;
    auto img = g.get<QXLImage>(g.bitmap_image(SPICE_BITMAP_FMT_32BIT, 4, 4, 16, px, direct));
    img.bitmap.y = 0x10000; // the rows end beyond the slot
    EXPECT_EQ(copy_error(g.put(img), whole), "bitmap data outside its memslot");
    // Stride below width.
    EXPECT_EQ(copy_error(g.bitmap_image(SPICE_BITMAP_FMT_32BIT, 4, 4, 15, px), whole),
              "bitmap stride below width");
    // Huge: y × stride beyond the limit.
    img.bitmap.y = 0xffffffff;
    img.bitmap.stride = 0xffffffff;
    EXPECT_EQ(copy_error(g.put(img), whole), "bitmap larger than max_image_bytes");
    EXPECT_EQ(copy_error(g.bitmap_image(SPICE_BITMAP_FMT_INVALID, 4, 4, 16, px), whole),
              "bad bitmap format");
    EXPECT_EQ(copy_error(g.bitmap_image(SPICE_BITMAP_FMT_ENUM_END, 4, 4, 16, px), whole),
              "bad bitmap format");
    EXPECT_EQ(copy_error(g.bitmap_image(SPICE_BITMAP_FMT_32BIT, 0, 4, 16, px), whole),
              "zero-area bitmap");
    EXPECT_EQ(copy_error(g.bitmap_image(SPICE_BITMAP_FMT_8BIT, 4, 4, 4, px), whole),
              "palette format bitmap without a palette");
    guest_memory::bitmap_opts big;
    big.palette = g.palette(std::vector<uint32_t>(257));
    EXPECT_EQ(copy_error(g.bitmap_image(SPICE_BITMAP_FMT_8BIT, 4, 4, 4, px, big), whole),
              "palette with more than 256 entries");
    // Source area outside the bitmap, or inverted.
    EXPECT_EQ(copy_error(g.bitmap32(4, 4), guest_memory::rect(0, 0, 5, 4)),
              "source area outside the source bitmap");
    EXPECT_EQ(copy_error(g.bitmap32(4, 4), guest_memory::rect(3, 0, 2, 4)), "bad source area");
    EXPECT_EQ(copy_error(0, whole), "drawing without its source image");
}

TEST_F(QxlParser, ImageTypesAGuestMayNotSend) {
    for (uint8_t type :
         {uint8_t(SPICE_IMAGE_TYPE_LZ_RGB), uint8_t(SPICE_IMAGE_TYPE_JPEG),
          uint8_t(SPICE_IMAGE_TYPE_FROM_CACHE), uint8_t(SPICE_IMAGE_TYPE_RESERVED)}) {
        QXLImage img{};
        img.descriptor.type = type;
        EXPECT_EQ(copy_error(g.put(img), guest_memory::rect(0, 0, 1, 1)),
                  "image type a guest may not send")
            << int(type);
    }
}

TEST_F(QxlParser, ClipRectChecks) {
    auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(0, 0, 100, 100));
    d.clip.type = SPICE_CLIP_TYPE_RECTS;
    const QXLPHYSICAL rects =
        g.clip_rects({guest_memory::rect(0, 0, 1, 1), guest_memory::rect(0, 0, 2, 2)});
    auto head = g.get<QXLClipRects>(rects);
    head.num_rects = 3; // more than the chunks hold
    g.set(rects, head);
    d.clip.data = rects;
    EXPECT_EQ(draw_error(d), "clip rects count does not match their data");
    head.num_rects = 1; // fewer than the chunks hold
    g.set(rects, head);
    EXPECT_EQ(draw_error(d), "data chunk larger than its limit");

    d.clip.data = g.clip_rects({guest_memory::rect(0, 0, 1, 1), guest_memory::rect(0, 0, 2, 2)}, 2);
    head = g.get<QXLClipRects>(d.clip.data);
    head.num_rects = 3;
    g.set(d.clip.data, head);
    EXPECT_EQ(draw_error(d), "clip rects count does not match their data");

    limits.max_clip_rects = 1;
    d.clip.data = g.clip_rects({guest_memory::rect(0, 0, 1, 1), guest_memory::rect(0, 0, 2, 2)});
    EXPECT_EQ(draw_error(d), "more clip rects than max_clip_rects");
    limits = {};
    d.clip.data = g.clip_rects({guest_memory::rect(5, 0, 1, 1)});
    EXPECT_EQ(draw_error(d), "inverted clip rect");
    d.clip.type = 7;
    EXPECT_EQ(draw_error(d), "bad clip type");
}

TEST_F(QxlParser, DrawableHeaderChecks) {
    auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(0, 0, 4, 4));
    auto bad = [&](auto change) {
        QXLDrawable c = d;
        change(c);
        return draw_error(c);
    };
    EXPECT_EQ(bad([](QXLDrawable &) {}), "");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.surface_id = guest_memory::n_surfaces; }),
              "drawable on a surface id >= n_surfaces");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.surfaces_dest[1] = int32_t(guest_memory::n_surfaces); }),
              "bad surface dependency id");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.surfaces_dest[2] = -2; }), "bad surface dependency id");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.bbox = guest_memory::rect(-1, 0, 4, 4); }),
              "bad drawable bbox");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.bbox = guest_memory::rect(4, 0, 3, 4); }),
              "bad drawable bbox");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.effect = 8; }), "bad drawable effect");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.type = QXL_DRAW_COMPOSITE + 1; }), "bad drawable type");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.type = QXL_DRAW_NOP; }),
              "QXL_DRAW_NOP drawable (nothing to draw)");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.u.fill.brush.type = 3; }), "bad brush type");
    EXPECT_EQ(bad([](QXLDrawable &c) { c.u.fill.brush.type = SPICE_BRUSH_TYPE_PATTERN; }),
              "pattern brush without an image");

    QXLCompatDrawable comp{};
    comp.type = QXL_DRAW_COMPOSITE;
    EXPECT_EQ(error_of(QXL_CMD_DRAW, g.put(comp), QXL_COMMAND_FLAG_COMPAT), "bad drawable type");
}

TEST_F(QxlParser, PathAndStringChecks) {
    auto d = guest_memory::drawable(QXL_DRAW_STROKE, guest_memory::rect(0, 0, 8, 8));
    const QXLPHYSICAL p = g.path({{SPICE_PATH_BEGIN, {{0, 0}, {1, 1}}}});
    // Claim more points than the path holds.
    auto head = g.get<QXLPath>(p);
    QXLPathSeg seg{};
    seg.count = 3;
    std::memcpy(g.host(p) + sizeof head, &seg, sizeof seg);
    d.u.stroke.path = p;
    EXPECT_EQ(draw_error(d), "path segment longer than the path");
    limits.max_path_segments = 1;
    d.u.stroke.path = g.path({{SPICE_PATH_BEGIN, {{0, 0}}}, {SPICE_PATH_END, {{1, 1}}}});
    EXPECT_EQ(draw_error(d), "more path segments than limit");
    limits = {};
    d.u.stroke.attr.flags = SPICE_LINE_FLAGS_STYLED;
    d.u.stroke.attr.style_nseg = 2;
    EXPECT_EQ(draw_error(d), "styled stroke without a style");

    auto t = guest_memory::drawable(QXL_DRAW_TEXT, guest_memory::rect(0, 0, 8, 8));
    t.u.text.str = g.string(0, 8, {{0, 0, 2, 2, 1}});
    EXPECT_EQ(draw_error(t), "string without a raster format");
    const QXLPHYSICAL s = g.string(SPICE_STRING_FLAGS_RASTER_A8, 8, {{0, 0, 2, 2, 1}});
    auto sh = g.get<QXLString>(s);
    sh.length = 2;
    g.set(s, sh);
    t.u.text.str = s;
    EXPECT_EQ(draw_error(t), "string has fewer glyphs than its length");
    sh.length = 1;
    sh.data_size += 1;
    g.set(s, sh);
    EXPECT_EQ(draw_error(t), "string chunks do not match data_size");
    // A glyph whose size runs past the string.
    const QXLPHYSICAL s2 = g.string(SPICE_STRING_FLAGS_RASTER_A8, 8, {{0, 0, 2, 2, 1}});
    QXLRasterGlyph gl;
    std::memcpy(&gl, g.host(s2) + sizeof(QXLString), sizeof gl);
    gl.height = 3;
    std::memcpy(g.host(s2) + sizeof(QXLString), &gl, sizeof gl);
    t.u.text.str = s2;
    EXPECT_EQ(draw_error(t), "glyph larger than the string");
    limits.max_glyphs = 1;
    t.u.text.str = g.string(SPICE_STRING_FLAGS_RASTER_A8, 8, {{0, 0, 1, 1, 1}, {0, 0, 1, 1, 1}});
    EXPECT_EQ(draw_error(t), "more glyphs than max_glyphs");
}

TEST_F(QxlParser, UnknownCommandTypes) {
    EXPECT_EQ(error_of(QXL_CMD_NOP, guest_memory::phys(64)), "unknown command type");
    EXPECT_EQ(error_of(77, guest_memory::phys(64)), "unknown command type");
}

// Writes the fuzz target's seed corpus: run with
//   --gtest_also_run_disabled_tests --gtest_filter='*WriteFuzzSeeds*'
// and RS_QXL_SEED_DIR set to fuzz/corpus/qxl_parser_fuzz.
TEST(QxlParserSeeds, DISABLED_WriteFuzzSeeds) {
    const char *dir = std::getenv("RS_QXL_SEED_DIR");
    ASSERT_NE(dir, nullptr);
    auto write = [&](const char *name, auto build) {
        guest_memory g(1u << 16);
        build(g);
        const auto t = g.table();
        auto cmd = g.fuzz_command();
        ASSERT_TRUE(cmd);
        auto r = parse_command(*cmd, t);
        if (auto *e = std::get_if<parse_error>(&r)) FAIL() << name << ": " << e->reason;
        std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
        const auto bytes = g.used();
        out.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    };
    write("fill_clip", [](guest_memory &g) {
        auto d = guest_memory::drawable(QXL_DRAW_FILL, guest_memory::rect(0, 0, 64, 64));
        d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
        d.u.fill.brush.u.color = 0xff0000;
        d.clip.type = SPICE_CLIP_TYPE_RECTS;
        d.clip.data =
            g.clip_rects({guest_memory::rect(0, 0, 8, 8), guest_memory::rect(9, 9, 20, 20)}, 2);
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(d));
    });
    write("copy_chunked_bitmap", [](guest_memory &g) {
        auto d = guest_memory::drawable(QXL_DRAW_COPY, guest_memory::rect(0, 0, 8, 8));
        d.u.copy.src_bitmap = g.bitmap32(8, 8, 0x40, 3);
        d.u.copy.src_area = guest_memory::rect(0, 0, 8, 8);
        std::vector<uint8_t> bits(8, 0x0f);
        d.u.copy.mask.bitmap = g.bitmap_image(SPICE_BITMAP_FMT_1BIT_LE, 8, 8, 1, bits);
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(d));
    });
    write("opaque_palette", [](guest_memory &g) {
        auto d = guest_memory::drawable(QXL_DRAW_OPAQUE, guest_memory::rect(0, 0, 8, 8));
        guest_memory::bitmap_opts o;
        o.palette = g.palette({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 5);
        o.qxl_flags = QXL_BITMAP_TOP_DOWN;
        std::vector<uint8_t> px(4 * 8, 0x21);
        d.u.opaque.src_bitmap = g.bitmap_image(SPICE_BITMAP_FMT_4BIT_BE, 8, 8, 4, px, o);
        d.u.opaque.src_area = guest_memory::rect(0, 0, 8, 8);
        d.u.opaque.brush.type = SPICE_BRUSH_TYPE_PATTERN;
        d.u.opaque.brush.u.pattern.pat = g.bitmap32(2, 2);
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(d));
    });
    write("stroke", [](guest_memory &g) {
        auto d = guest_memory::drawable(QXL_DRAW_STROKE, guest_memory::rect(0, 0, 8, 8));
        d.u.stroke.path =
            g.path({{SPICE_PATH_BEGIN, {{0, 0}, {16, 16}}}, {SPICE_PATH_END, {{32, 0}}}}, 2);
        const int32_t style[] = {16, 16};
        d.u.stroke.attr.flags = SPICE_LINE_FLAGS_STYLED;
        d.u.stroke.attr.style_nseg = 2;
        d.u.stroke.attr.style = g.put(style);
        d.u.stroke.brush.type = SPICE_BRUSH_TYPE_SOLID;
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(d));
    });
    write("text", [](guest_memory &g) {
        auto d = guest_memory::drawable(QXL_DRAW_TEXT, guest_memory::rect(0, 0, 32, 16));
        d.u.text.str =
            g.string(SPICE_STRING_FLAGS_RASTER_A4, 4, {{0, 8, 5, 8, 0x12}, {6, 8, 3, 8, 0x34}}, 2);
        d.u.text.fore_brush.type = SPICE_BRUSH_TYPE_SOLID;
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(d));
    });
    write("composite_quic", [](guest_memory &g) {
        auto d = guest_memory::drawable(QXL_DRAW_COMPOSITE, guest_memory::rect(0, 0, 8, 8));
        QXLTransform t{};
        t.t00 = t.t11 = 1u << 16;
        std::vector<uint8_t> q(100, 0x42);
        d.u.composite.flags = QXL_OP_OVER;
        d.u.composite.src = g.quic_image(8, 8, q, 2);
        d.u.composite.src_transform = g.put(t);
        d.u.composite.mask = g.surface_image(3);
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(d));
    });
    write("compat_copy_bits", [](guest_memory &g) {
        QXLCompatDrawable c{};
        c.type = QXL_COPY_BITS;
        c.bbox = guest_memory::rect(0, 0, 8, 8);
        c.u.copy_bits.src_pos.x = 4;
        g.set_fuzz_command(QXL_CMD_DRAW, g.put(c), QXL_COMMAND_FLAG_COMPAT);
    });
    write("surface_create", [](guest_memory &g) {
        QXLSurfaceCmd s{};
        s.surface_id = 1;
        s.type = QXL_SURFACE_CMD_CREATE;
        s.u.surface_create.format = SPICE_SURFACE_FMT_32_xRGB;
        s.u.surface_create.width = 16;
        s.u.surface_create.height = 16;
        s.u.surface_create.stride = -64;
        s.u.surface_create.data = g.alloc(64 * 16);
        g.set_fuzz_command(QXL_CMD_SURFACE, g.put(s));
    });
    write("update", [](guest_memory &g) {
        QXLUpdateCmd u{};
        u.area = guest_memory::rect(0, 0, 10, 10);
        g.set_fuzz_command(QXL_CMD_UPDATE, g.put(u));
    });
    write("cursor_set", [](guest_memory &g) {
        QXLCursorCmd c{};
        c.type = QXL_CURSOR_SET;
        c.u.set.visible = 1;
        std::vector<uint8_t> px(8 * 8 * 4 + 8, 0x80);
        c.u.set.shape = g.cursor_shape(SPICE_CURSOR_TYPE_COLOR32, 8, 8, px, 2);
        g.set_fuzz_command(QXL_CMD_CURSOR, g.put(c));
    });
    write("message", [](guest_memory &g) {
        const char text[] = "guest says hi";
        const QXLPHYSICAL at = g.alloc(sizeof(QXLMessage) + sizeof text);
        std::memcpy(g.host(at) + sizeof(QXLMessage), text, sizeof text);
        g.set_fuzz_command(QXL_CMD_MESSAGE, at);
    });
}

} // namespace
