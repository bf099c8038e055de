// The software canvas against hand-computed pixels: every drawing operation
// on small surfaces, with the expected results written out or produced by a
// simple reference loop of spice-common's semantics.
#include "display/canvas.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>

namespace {

using namespace rs;

constexpr int32_t fix(int v) { return v * 16; }

/// A store with surface 0 (8×8 xRGB) and helpers to build drawables whose
/// pixel data stays alive for the whole test.
class Canvas : public ::testing::Test {
  protected:
    surface_store store;
    std::deque<std::vector<uint8_t>> bytes;

    void SetUp() override {
        ASSERT_TRUE(store.create_surface(0, SPICE_SURFACE_FMT_32_xRGB, 8, 8, 0).ok());
    }

    uint32_t px(uint32_t id, int x, int y) {
        pixman_image_t *img = store.image(id);
        const auto *row = reinterpret_cast<const uint8_t *>(pixman_image_get_data(img)) +
                          y * pixman_image_get_stride(img);
        const int bpp = PIXMAN_FORMAT_BPP(pixman_image_get_format(img));
        uint32_t v = 0;
        std::memcpy(&v, row + x * (bpp / 8), static_cast<size_t>(bpp / 8));
        return v;
    }
    void set_px(uint32_t id, int x, int y, uint32_t v) {
        pixman_image_t *img = store.image(id);
        auto *row = reinterpret_cast<uint8_t *>(pixman_image_get_data(img)) +
                    y * pixman_image_get_stride(img);
        const int bpp = PIXMAN_FORMAT_BPP(pixman_image_get_format(img));
        std::memcpy(row + x * (bpp / 8), &v, static_cast<size_t>(bpp / 8));
    }
    void fill_all(uint32_t id, const std::function<uint32_t(int, int)> &f) {
        pixman_image_t *img = store.image(id);
        for (int y = 0; y < pixman_image_get_height(img); ++y)
            for (int x = 0; x < pixman_image_get_width(img); ++x)
                set_px(id, x, y, f(x, y));
    }

    std::span<const uint8_t> keep(std::vector<uint8_t> v) {
        bytes.push_back(std::move(v));
        return bytes.back();
    }

    draw::image_ptr bitmap(uint8_t format, uint32_t w, uint32_t h, uint32_t stride,
                           std::vector<uint8_t> data, bool top_down = true,
                           std::vector<uint32_t> palette = {}, uint8_t image_flags = 0) {
        auto im = std::make_shared<draw::image>();
        im->type = SPICE_IMAGE_TYPE_BITMAP;
        im->flags = image_flags;
        im->width = w;
        im->height = h;
        draw::bitmap bm;
        bm.format = format;
        bm.flags = top_down ? SPICE_BITMAP_FLAGS_TOP_DOWN : 0;
        bm.width = w;
        bm.height = h;
        bm.stride = stride;
        if (!palette.empty()) {
            auto pal = std::make_shared<draw::palette>();
            pal->entries = std::move(palette);
            bm.pal = pal;
        }
        bm.data.parts.push_back(keep(std::move(data)));
        im->payload = std::move(bm);
        return im;
    }
    draw::image_ptr bitmap32(uint32_t w, uint32_t h, const std::vector<uint32_t> &pixels,
                             uint8_t format = SPICE_BITMAP_FMT_32BIT) {
        std::vector<uint8_t> d(pixels.size() * 4);
        std::memcpy(d.data(), pixels.data(), d.size());
        return bitmap(format, w, h, w * 4, std::move(d));
    }
    static draw::image_ptr surface_image(uint32_t id) {
        auto im = std::make_shared<draw::image>();
        im->type = SPICE_IMAGE_TYPE_SURFACE;
        im->payload = draw::surface_ref{id};
        return im;
    }
    static draw::drawable drawable(draw::rect bbox, draw::operation op) {
        draw::drawable d;
        d.bbox = bbox;
        d.op = std::move(op);
        return d;
    }
    static draw::brush solid(uint32_t c) {
        draw::brush b;
        b.type = SPICE_BRUSH_TYPE_SOLID;
        b.color = c;
        return b;
    }
};

// ------------------------------------------------------------------ surfaces

TEST_F(Canvas, SurfacesAreCreatedOnceAndDestroyed) {
    EXPECT_EQ(store.create_surface(0, SPICE_SURFACE_FMT_32_xRGB, 4, 4, 0).error(),
              canvas_errc::surface_exists);
    EXPECT_EQ(store.create_surface(1, 12345, 4, 4, 0).error(), canvas_errc::bad_surface);
    EXPECT_EQ(store.create_surface(1, SPICE_SURFACE_FMT_32_xRGB, 4, 4, 8).error(),
              canvas_errc::bad_surface); // stride shorter than a row
    ASSERT_TRUE(store.create_surface(1, SPICE_SURFACE_FMT_16_565, 3, 2, 0).ok());
    EXPECT_EQ(pixman_image_get_stride(store.image(1)), 8);
    EXPECT_TRUE(store.destroy_surface(1).ok());
    EXPECT_FALSE(store.has_surface(1));
    EXPECT_EQ(store.destroy_surface(1).error(), canvas_errc::no_such_surface);
}

TEST_F(Canvas, NegativeStrideSurfaceKeepsItsTopRowLastInMemory) {
    std::vector<uint8_t> guest(2 * 8, 0);
    ASSERT_TRUE(store.create_surface(2, SPICE_SURFACE_FMT_32_xRGB, 2, 2, -8, guest).ok());
    auto fill = drawable({0, 0, 2, 1}, draw::fill{solid(0x00112233), SPICE_ROPD_OP_PUT, {}});
    fill.surface_id = 2;
    ASSERT_TRUE(store.render(fill).ok());
    uint32_t last_row_first_px = 0, first_row_first_px = 0;
    std::memcpy(&last_row_first_px, guest.data() + 8, 4);
    std::memcpy(&first_row_first_px, guest.data(), 4);
    EXPECT_EQ(last_row_first_px, 0x00112233u);
    EXPECT_EQ(first_row_first_px, 0u);
    auto area = store.read_area(2, {0, 0, 2, 2});
    ASSERT_TRUE(area.ok());
    uint32_t top_left = 0, bottom_left = 0;
    std::memcpy(&top_left, area->data.data(), 4);
    std::memcpy(&bottom_left, area->data.data() + area->stride, 4);
    EXPECT_EQ(top_left, 0x00112233u);
    EXPECT_EQ(bottom_left, 0u);
    EXPECT_EQ(store.read_area(2, {0, 0, 3, 1}).error(), canvas_errc::src_area_outside);
}

// ------------------------------------------------------------------ ROPs

TEST_F(Canvas, FillAppliesEveryRopDescriptorLikeSpiceCommon) {
    const uint32_t brush = 0x00ff00f0, dest = 0x0f0f0f0f;
    const uint16_t ops[] = {SPICE_ROPD_OP_PUT, SPICE_ROPD_OP_OR, SPICE_ROPD_OP_AND,
                            SPICE_ROPD_OP_XOR};
    for (uint16_t op : ops)
        for (unsigned inv = 0; inv < 16; ++inv) {
            // inversion bits: brush, dest, result, and (ignored for fill) src
            const uint16_t desc = op | ((inv & 1) ? SPICE_ROPD_INVERS_BRUSH : 0) |
                                  ((inv & 2) ? SPICE_ROPD_INVERS_DEST : 0) |
                                  ((inv & 4) ? SPICE_ROPD_INVERS_RES : 0) |
                                  ((inv & 8) ? SPICE_ROPD_INVERS_SRC : 0);
            const uint32_t b = (inv & 1) ? ~brush : brush;
            const uint32_t d = (inv & 2) ? ~dest : dest;
            uint32_t want = 0;
            switch (op) {
            case SPICE_ROPD_OP_PUT:
                want = b; // PUT ignores the destination
                break;
            case SPICE_ROPD_OP_OR:
                want = b | d;
                break;
            case SPICE_ROPD_OP_AND:
                want = b & d;
                break;
            default:
                want = b ^ d;
            }
            if (inv & 4) want = ~want;
            set_px(0, 3, 3, dest);
            ASSERT_TRUE(
                store.render(drawable({3, 3, 4, 4}, draw::fill{solid(brush), desc, {}})).ok());
            EXPECT_EQ(px(0, 3, 3), want) << "op " << op << " inversions " << inv;
        }
    const std::pair<uint16_t, uint32_t> unary[] = {{SPICE_ROPD_OP_BLACKNESS, 0u},
                                                   {SPICE_ROPD_OP_WHITENESS, 0xffffffffu},
                                                   {SPICE_ROPD_OP_INVERS, ~dest}};
    for (auto [desc, want] : unary) {
        set_px(0, 3, 3, dest);
        ASSERT_TRUE(store.render(drawable({3, 3, 4, 4}, draw::fill{solid(brush), desc, {}})).ok());
        EXPECT_EQ(px(0, 3, 3), want);
    }
}

TEST_F(Canvas, BlacknessWhitenessAndInversHonourTheClip) {
    fill_all(0, [](int, int) { return 0x00123456u; });
    auto d = drawable({0, 0, 8, 8}, draw::invers{});
    d.clp.type = SPICE_CLIP_TYPE_RECTS;
    d.clp.rects = {{1, 1, 2, 2}};
    ASSERT_TRUE(store.render(d).ok());
    EXPECT_EQ(px(0, 1, 1), ~0x00123456u);
    EXPECT_EQ(px(0, 2, 2), 0x00123456u);
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, draw::blackness{})).ok());
    ASSERT_TRUE(store.render(drawable({7, 7, 8, 8}, draw::whiteness{})).ok());
    EXPECT_EQ(px(0, 0, 0), 0u);
    EXPECT_EQ(px(0, 7, 7), 0xffffffffu);
}

TEST_F(Canvas, FillOnA16BitSurfaceStoresTheTruncatedColor) {
    ASSERT_TRUE(store.create_surface(3, SPICE_SURFACE_FMT_16_565, 4, 4, 0).ok());
    auto d = drawable({1, 1, 3, 2}, draw::fill{solid(0xabcd1234), SPICE_ROPD_OP_PUT, {}});
    d.surface_id = 3;
    ASSERT_TRUE(store.render(d).ok());
    EXPECT_EQ(px(3, 1, 1), 0x1234u);
    EXPECT_EQ(px(3, 2, 1), 0x1234u);
    EXPECT_EQ(px(3, 0, 1), 0u);
}

TEST_F(Canvas, PatternBrushTilesFromItsPosition) {
    // 2×2 tile, origin at (1,0): surface pixel (x,y) shows tile ((x-1)&1, y&1).
    auto tile = bitmap32(2, 2, {1, 2, 3, 4});
    draw::brush br;
    br.type = SPICE_BRUSH_TYPE_PATTERN;
    br.pat.pat = tile;
    br.pat.pos = {1, 0};
    ASSERT_TRUE(store.render(drawable({0, 0, 4, 2}, draw::fill{br, SPICE_ROPD_OP_PUT, {}})).ok());
    const uint32_t t[2][2] = {{1, 2}, {3, 4}};
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 4; ++x)
            EXPECT_EQ(px(0, x, y), t[y][((x - 1) % 2 + 2) % 2]);
}

// ------------------------------------------------------------------ copy, masks

TEST_F(Canvas, CopyDrawsOnlyInsideTheClipRects) {
    std::vector<uint32_t> src(16);
    for (uint32_t i = 0; i < 16; ++i)
        src[i] = 0x00010101 * (i + 1);
    fill_all(0, [](int, int) { return 0xdeadu; });
    draw::copy c;
    c.src = bitmap32(4, 4, src);
    c.src_area = {0, 0, 4, 4};
    auto d = drawable({2, 2, 6, 6}, c);
    d.clp.type = SPICE_CLIP_TYPE_RECTS;
    d.clp.rects = {{2, 2, 4, 3}, {5, 5, 8, 8}};
    ASSERT_TRUE(store.render(d).ok());
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
            const bool in = (y == 2 && x >= 2 && x < 4) || (x == 5 && y == 5);
            EXPECT_EQ(px(0, x, y), in ? src[(y - 2) * 4 + (x - 2)] : 0xdeadu) << x << "," << y;
        }
}

TEST_F(Canvas, CopyWithRopCombinesSourceAndDestination) {
    fill_all(0, [](int, int) { return 0x00f0f0f0u; });
    draw::copy c;
    c.src = bitmap32(1, 1, {0x000ff00f});
    c.src_area = {0, 0, 1, 1};
    c.rop_descriptor = SPICE_ROPD_OP_XOR;
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, c)).ok());
    EXPECT_EQ(px(0, 0, 0), 0x00f0f0f0u ^ 0x000ff00fu);
}

TEST_F(Canvas, BottomUpBitmapsAreFlipped) {
    // Memory rows: 1 then 2; bottom-up means row "2" is the top.
    std::vector<uint8_t> d(8);
    const uint32_t a = 1, b = 2;
    std::memcpy(d.data(), &a, 4);
    std::memcpy(d.data() + 4, &b, 4);
    draw::copy c;
    c.src = bitmap(SPICE_BITMAP_FMT_32BIT, 1, 2, 4, d, /*top_down=*/false);
    c.src_area = {0, 0, 1, 2};
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 2}, c)).ok());
    EXPECT_EQ(px(0, 0, 0), 2u);
    EXPECT_EQ(px(0, 0, 1), 1u);
}

TEST_F(Canvas, OneBitMaskSelectsPixelsAndInversFlipsIt) {
    // 8×1 mask, 1BIT_LE: pixel x is bit x. 0b00000101 keeps x=0 and x=2.
    for (bool invers : {false, true})
        for (uint8_t fmt : {uint8_t{SPICE_BITMAP_FMT_1BIT_LE}, uint8_t{SPICE_BITMAP_FMT_1BIT_BE}}) {
            fill_all(0, [](int, int) { return 0u; });
            const uint8_t bits = fmt == SPICE_BITMAP_FMT_1BIT_LE ? 0x05 : 0xa0;
            draw::fill f{solid(0x00ffffff), SPICE_ROPD_OP_PUT, {}};
            f.mask.flags = invers ? SPICE_MASK_FLAGS_INVERS : 0;
            f.mask.bitmap = bitmap(fmt, 6, 1, 4, {bits, 0, 0, 0});
            ASSERT_TRUE(store.render(drawable({0, 0, 8, 1}, f)).ok());
            for (int x = 0; x < 8; ++x) {
                // Pixels past the 6-pixel mask are dropped whether inverted or not.
                const bool set = x < 6 && ((x == 0 || x == 2) != invers);
                EXPECT_EQ(px(0, x, 0), set ? 0x00ffffffu : 0u) << "x " << x << " invers " << invers;
            }
        }
}

TEST_F(Canvas, PaletteBitmapsOfEveryDepthAndBitOrder) {
    const std::vector<uint32_t> pal = {0x000000aa, 0x000000bb, 0x000000cc, 0x000000dd};
    struct tcase {
        uint8_t fmt;
        std::vector<uint8_t> row;
        std::vector<uint32_t> want;
    };
    const tcase cases[] = {
        {SPICE_BITMAP_FMT_1BIT_BE, {0x50}, {0xaa, 0xbb, 0xaa, 0xbb}},
        {SPICE_BITMAP_FMT_1BIT_LE, {0x0a}, {0xaa, 0xbb, 0xaa, 0xbb}},
        {SPICE_BITMAP_FMT_4BIT_BE, {0x12, 0x30}, {0xbb, 0xcc, 0xdd, 0xaa}},
        {SPICE_BITMAP_FMT_4BIT_LE, {0x21, 0x03}, {0xbb, 0xcc, 0xdd, 0xaa}},
        {SPICE_BITMAP_FMT_8BIT, {3, 2, 1, 0}, {0xdd, 0xcc, 0xbb, 0xaa}},
    };
    for (const auto &tc : cases) {
        auto row = tc.row;
        row.resize(4, 0);
        draw::copy c;
        c.src = bitmap(tc.fmt, 4, 1, 4, row, true, pal);
        c.src_area = {0, 0, 4, 1};
        ASSERT_TRUE(store.render(drawable({0, 0, 4, 1}, c)).ok());
        for (int x = 0; x < 4; ++x)
            EXPECT_EQ(px(0, x, 0), tc.want[x]) << "format " << int(tc.fmt);
    }
}

TEST_F(Canvas, PaletteOn555SurfaceTruncatesEntriesTo16Bits) {
    ASSERT_TRUE(store.create_surface(4, SPICE_SURFACE_FMT_16_555, 2, 1, 0).ok());
    draw::copy c;
    c.src = bitmap(SPICE_BITMAP_FMT_8BIT, 2, 1, 4, {1, 0, 0, 0}, true, {0x00017c00, 0x0002001f});
    c.src_area = {0, 0, 2, 1};
    auto d = drawable({0, 0, 2, 1}, c);
    d.surface_id = 4;
    ASSERT_TRUE(store.render(d).ok());
    EXPECT_EQ(px(4, 0, 0), 0x001fu);
    EXPECT_EQ(px(4, 1, 0), 0x7c00u);
    // A 565 surface has no palette conversion in spice-common.
    ASSERT_TRUE(store.create_surface(5, SPICE_SURFACE_FMT_16_565, 2, 1, 0).ok());
    d.surface_id = 5;
    EXPECT_EQ(store.render(d).error(), canvas_errc::unsupported);
}

TEST_F(Canvas, SixteenBitSourcesExpandLikePixman) {
    std::vector<uint8_t> d = {0xff, 0x7f, 0x1f, 0x00, 0x00, 0x7c, 0x10, 0x42};
    draw::copy c;
    c.src = bitmap(SPICE_BITMAP_FMT_16BIT, 4, 1, 8, d);
    c.src_area = {0, 0, 4, 1};
    ASSERT_TRUE(store.render(drawable({0, 0, 4, 1}, c)).ok());
    EXPECT_EQ(px(0, 0, 0) & 0xffffff, 0xffffffu);
    EXPECT_EQ(px(0, 1, 0) & 0xffffff, 0x0000ffu);
    EXPECT_EQ(px(0, 2, 0) & 0xffffff, 0xff0000u);
    // 0x4210: each channel 0b10000 -> 0b10000100 (c << 3 | c >> 2).
    EXPECT_EQ(px(0, 3, 0) & 0xffffff, 0x848484u);
}

TEST_F(Canvas, TwentyFourBitSourcesAreBgrTriples) {
    draw::copy c;
    c.src = bitmap(SPICE_BITMAP_FMT_24BIT, 1, 1, 4, {0x11, 0x22, 0x33, 0});
    c.src_area = {0, 0, 1, 1};
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, c)).ok());
    EXPECT_EQ(px(0, 0, 0), 0x00332211u);
}

TEST_F(Canvas, ScaledCopyNearestRepeatsPixels) {
    draw::copy c;
    c.src = bitmap32(2, 2, {1, 2, 3, 4});
    c.src_area = {0, 0, 2, 2};
    ASSERT_TRUE(store.render(drawable({0, 0, 4, 4}, c)).ok());
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x)
            EXPECT_EQ(px(0, x, y) & 0xffffff, uint32_t(1 + (y / 2) * 2 + x / 2));
}

TEST_F(Canvas, CopyFromAnotherSurface) {
    ASSERT_TRUE(store.create_surface(6, SPICE_SURFACE_FMT_32_xRGB, 2, 2, 0).ok());
    fill_all(6, [](int x, int y) { return uint32_t(10 + y * 2 + x); });
    draw::copy c;
    c.src = surface_image(6);
    c.src_area = {1, 0, 2, 2};
    ASSERT_TRUE(store.render(drawable({4, 4, 5, 6}, c)).ok());
    EXPECT_EQ(px(0, 4, 4), 11u);
    EXPECT_EQ(px(0, 4, 5), 13u);
}

TEST_F(Canvas, OpaqueCopiesThenAppliesTheBrush) {
    draw::opaque o;
    o.src = bitmap32(1, 1, {0x00ff0000});
    o.src_area = {0, 0, 1, 1};
    o.br = solid(0x000000ff);
    o.rop_descriptor = SPICE_ROPD_OP_OR;
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, o)).ok());
    EXPECT_EQ(px(0, 0, 0), 0x00ff00ffu);
}

TEST_F(Canvas, TransparentSkipsTheKeyColorIgnoringTheTopByte) {
    fill_all(0, [](int, int) { return 7u; });
    draw::transparent t;
    t.src = bitmap32(3, 1, {0xff00ff00, 0x00123456, 0x0000ff00});
    t.src_area = {0, 0, 3, 1};
    t.true_color = 0x0000ff00;
    ASSERT_TRUE(store.render(drawable({0, 0, 3, 1}, t)).ok());
    EXPECT_EQ(px(0, 0, 0), 7u);
    EXPECT_EQ(px(0, 1, 0), 0x00123456u);
    EXPECT_EQ(px(0, 2, 0), 7u);
}

// ------------------------------------------------------------------ alpha

/// pixman's 8-bit multiply (x*a/255 rounded).
uint32_t mul8(uint32_t x, uint32_t a) {
    uint32_t t = x * a + 0x80;
    return (t + (t >> 8)) >> 8;
}
uint32_t over(uint32_t s, uint32_t d) {
    const uint32_t ia = 255 - (s >> 24);
    uint32_t out = 0;
    for (int sh = 0; sh < 32; sh += 8)
        out |= std::min<uint32_t>(255, ((s >> sh) & 0xff) + mul8((d >> sh) & 0xff, ia)) << sh;
    return out;
}

TEST_F(Canvas, AlphaBlendOfAnArgbBitmap) {
    const uint32_t src = 0x80400010, dst = 0x000000ff;
    for (bool dest_alpha : {false, true}) {
        set_px(0, 0, 0, dst);
        draw::alpha_blend a;
        a.alpha_flags = dest_alpha ? SPICE_ALPHA_FLAGS_DEST_HAS_ALPHA : 0;
        a.src = bitmap32(1, 1, {src}, SPICE_BITMAP_FMT_RGBA);
        a.src_area = {0, 0, 1, 1};
        ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, a)).ok());
        const uint32_t want = over(src, dst);
        EXPECT_EQ(px(0, 0, 0) & 0xffffff, want & 0xffffff);
        if (dest_alpha) {
            EXPECT_EQ(px(0, 0, 0) >> 24, want >> 24);
        }
    }
}

TEST_F(Canvas, AlphaBlendWithGlobalAlphaAndOpaqueSource) {
    set_px(0, 0, 0, 0x00000000);
    draw::alpha_blend a;
    a.alpha = 0x80;
    a.src = bitmap32(1, 1, {0x00ff0000});
    a.src_area = {0, 0, 1, 1};
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, a)).ok());
    EXPECT_EQ(px(0, 0, 0) & 0xffffff, mul8(0xff, 0x80) << 16);
}

TEST_F(Canvas, AlphaBlendFromASurfaceWithAlpha) {
    ASSERT_TRUE(store.create_surface(7, SPICE_SURFACE_FMT_32_xRGB, 1, 1, 0).ok());
    set_px(7, 0, 0, 0x00ff0000); // alpha byte 0: transparent if its alpha counts
    set_px(0, 0, 0, 0x000000ff);
    draw::alpha_blend a;
    a.alpha_flags = SPICE_ALPHA_FLAGS_SRC_SURFACE_HAS_ALPHA;
    a.src = surface_image(7);
    a.src_area = {0, 0, 1, 1};
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, a)).ok());
    EXPECT_EQ(px(0, 0, 0) & 0xffffff, over(0x00ff0000, 0x000000ff) & 0xffffff);
    a.alpha_flags = 0; // now the source is opaque
    ASSERT_TRUE(store.render(drawable({0, 0, 1, 1}, a)).ok());
    EXPECT_EQ(px(0, 0, 0) & 0xffffff, 0xff0000u);
}

TEST_F(Canvas, CompositeOver) {
    set_px(0, 2, 2, 0x00204060);
    draw::composite c;
    c.flags = PIXMAN_OP_OVER;
    c.src = bitmap32(1, 1, {0x80800000}, SPICE_BITMAP_FMT_RGBA);
    ASSERT_TRUE(store.render(drawable({2, 2, 3, 3}, c)).ok());
    EXPECT_EQ(px(0, 2, 2) & 0xffffff, over(0x80800000, 0xff204060) & 0xffffff);
    c.flags = 0xff; // not a pixman operator
    EXPECT_EQ(store.render(drawable({2, 2, 3, 3}, c)).error(), canvas_errc::unsupported);
}

// ------------------------------------------------------------------ rop3

uint32_t rop3_ref(uint8_t code, uint32_t p, uint32_t s, uint32_t d) {
    uint32_t out = 0;
    for (int b = 0; b < 32; ++b) {
        const unsigned i = ((p >> b) & 1) * 4 + ((s >> b) & 1) * 2 + ((d >> b) & 1);
        out |= ((code >> i) & 1u) << b;
    }
    return out;
}

TEST_F(Canvas, Rop3WithColorAndPattern) {
    const uint32_t dst = 0x00aa55f0, src = 0x00cc33cc, pat = 0x00f00ff0;
    for (uint8_t code :
         {uint8_t{0xcc}, uint8_t{0x5a}, uint8_t{0xb8}, uint8_t{0xe2}, uint8_t{0x96}}) {
        set_px(0, 1, 1, dst);
        draw::rop3 r;
        r.src = bitmap32(1, 1, {src});
        r.src_area = {0, 0, 1, 1};
        r.br = solid(pat);
        r.rop3_code = code;
        ASSERT_TRUE(store.render(drawable({1, 1, 2, 2}, r)).ok());
        EXPECT_EQ(px(0, 1, 1), rop3_ref(code, pat, src, dst)) << int(code);
    }
    // A 2×1 pattern aligned at x=0: bbox at x=3 starts with pattern pixel 1.
    set_px(0, 3, 0, dst);
    draw::rop3 r;
    r.src = bitmap32(1, 1, {src});
    r.src_area = {0, 0, 1, 1};
    r.br.type = SPICE_BRUSH_TYPE_PATTERN;
    r.br.pat.pat = bitmap32(2, 1, {0x11111111, 0x00ff00ff});
    r.rop3_code = 0x5a;
    ASSERT_TRUE(store.render(drawable({3, 0, 4, 1}, r)).ok());
    EXPECT_EQ(px(0, 3, 0), 0x00ff00ffu ^ dst);
}

// ------------------------------------------------------------------ text

TEST_F(Canvas, TextA1AndA8Glyphs) {
    // A1 glyph 3×2, rows stored bottom-up, most significant bit first:
    // top row 101, bottom row 010.
    draw::glyph g1;
    g1.render_pos = {1, 1};
    g1.width = 3;
    g1.height = 2;
    g1.data = keep({0x40, 0xa0});
    draw::text t;
    t.string_flags = SPICE_STRING_FLAGS_RASTER_A1;
    t.glyphs = {g1};
    t.fore_brush = solid(0x00ffffff);
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 8}, t)).ok());
    const int want[2][3] = {{1, 0, 1}, {0, 1, 0}};
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            EXPECT_EQ(px(0, 1 + x, 1 + y) & 0xffffff, want[y][x] ? 0xffffffu : 0u);

    fill_all(0, [](int, int) { return 0u; });
    draw::glyph g8;
    g8.render_pos = {4, 4};
    g8.width = 2;
    g8.height = 1;
    g8.data = keep({0xff, 0x80});
    t.string_flags = SPICE_STRING_FLAGS_RASTER_A8;
    t.glyphs = {g8};
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 8}, t)).ok());
    EXPECT_EQ(px(0, 4, 4) & 0xffffff, 0xffffffu);
    EXPECT_EQ(px(0, 5, 4) & 0xff, mul8(0xff, 0x80));
    EXPECT_EQ(px(0, 6, 4), 0u);
}

TEST_F(Canvas, TextBackgroundIsFilledFirst) {
    draw::text t;
    t.string_flags = SPICE_STRING_FLAGS_RASTER_A1;
    draw::glyph g;
    g.render_pos = {0, 0};
    g.width = 1;
    g.height = 1;
    g.data = keep({0x80});
    t.glyphs = {g};
    t.back_area = {0, 0, 2, 1};
    t.back_brush = solid(0x00000011);
    t.fore_brush = solid(0x00ff0000);
    ASSERT_TRUE(store.render(drawable({0, 0, 2, 1}, t)).ok());
    EXPECT_EQ(px(0, 0, 0) & 0xffffff, 0xff0000u);
    EXPECT_EQ(px(0, 1, 0) & 0xffffff, 0x11u);
}

// ------------------------------------------------------------------ stroke

draw::stroke line(std::vector<draw::point_fix> pts, uint32_t color) {
    draw::stroke s;
    draw::path_segment seg;
    seg.flags = SPICE_PATH_BEGIN | SPICE_PATH_END;
    seg.points = std::move(pts);
    s.path = {seg};
    s.br.type = SPICE_BRUSH_TYPE_SOLID;
    s.br.color = color;
    return s;
}

TEST_F(Canvas, StrokeDrawsBresenhamLinesWithoutTheirLastPoint) {
    auto s = line({{fix(1), fix(1)}, {fix(5), fix(1)}}, 0xffffff);
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 8}, s)).ok());
    for (int x = 0; x < 8; ++x)
        EXPECT_EQ(px(0, x, 1), (x >= 1 && x <= 4) ? 0xffffffu : 0u);

    fill_all(0, [](int, int) { return 0u; });
    // (0,0)-(4,1): x-major, the tie at x=2 steps (X's bias leaves octant 1 alone).
    s = line({{fix(0), fix(0)}, {fix(4), fix(1)}}, 1);
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 8}, s)).ok());
    EXPECT_EQ(px(0, 0, 0), 1u);
    EXPECT_EQ(px(0, 1, 0), 1u);
    EXPECT_EQ(px(0, 2, 1), 1u);
    EXPECT_EQ(px(0, 3, 1), 1u);
    EXPECT_EQ(px(0, 4, 1), 0u);
    EXPECT_EQ(px(0, 2, 0), 0u);

    fill_all(0, [](int, int) { return 0u; });
    // The same line drawn backwards is biased the other way at the tie.
    s = line({{fix(4), fix(1)}, {fix(0), fix(0)}}, 1);
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 8}, s)).ok());
    EXPECT_EQ(px(0, 4, 1), 1u);
    EXPECT_EQ(px(0, 3, 1), 1u);
    EXPECT_EQ(px(0, 2, 1), 1u);
    EXPECT_EQ(px(0, 1, 0), 1u);
    EXPECT_EQ(px(0, 0, 0), 0u);
}

TEST_F(Canvas, StrokeClippedByTheSurfaceKeepsItsPixels) {
    // A steep line starting far outside hits the same pixels as if unclipped.
    auto s = line({{fix(-10), fix(-20)}, {fix(4), fix(8)}}, 1);
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 8}, s)).ok());
    // y-major, dx=14, dy=28: x = -10 + round-ish(k/2); at y=0 (k=20) x=0.
    EXPECT_EQ(px(0, 0, 0), 1u);
    EXPECT_EQ(px(0, 3, 6), 1u);
    EXPECT_EQ(px(0, 4, 8 - 1), 1u);
}

// ------------------------------------------------------------------ copy_bits

TEST_F(Canvas, CopyBitsMovesOverlappingAreasInEveryDirection) {
    const std::pair<int, int> shifts[] = {{0, 1}, {0, -1}, {1, 0}, {-1, 0}, {2, 2}, {-2, -1}};
    for (auto [sx, sy] : shifts) {
        fill_all(0, [](int x, int y) { return uint32_t(y * 8 + x); });
        // bbox (2,2)-(6,6) takes its pixels from (2-sx, 2-sy).
        draw::copy_bits cb{{2 - sx, 2 - sy}};
        auto d = drawable({2, 2, 6, 6}, cb);
        d.clp.type = SPICE_CLIP_TYPE_RECTS;
        d.clp.rects = {{2, 2, 6, 4}, {2, 4, 4, 6}, {5, 4, 6, 6}}; // several bands and rects
        ASSERT_TRUE(store.render(d).ok());
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
                const bool in = x >= 2 && x < 6 && y >= 2 && y < 6 && !(y >= 4 && x == 4);
                const uint32_t want = in ? uint32_t((y - sy) * 8 + (x - sx)) : uint32_t(y * 8 + x);
                EXPECT_EQ(px(0, x, y), want)
                    << "shift " << sx << "," << sy << " at " << x << "," << y;
            }
    }
}

// ------------------------------------------------------------------ errors

TEST_F(Canvas, BadCrossReferencesAreErrors) {
    draw::copy c;
    c.src = surface_image(42);
    c.src_area = {0, 0, 1, 1};
    EXPECT_EQ(store.render(drawable({0, 0, 1, 1}, c)).error(), canvas_errc::no_such_surface);

    c.src = bitmap32(2, 2, {1, 2, 3, 4});
    c.src_area = {1, 1, 3, 3};
    EXPECT_EQ(store.render(drawable({0, 0, 2, 2}, c)).error(), canvas_errc::src_area_outside);
    c.src_area = {1, 1, 1, 1};
    EXPECT_EQ(store.render(drawable({0, 0, 2, 2}, c)).error(), canvas_errc::src_area_outside);

    auto quic = std::make_shared<draw::image>();
    quic->type = SPICE_IMAGE_TYPE_QUIC;
    quic->width = quic->height = 1;
    quic->payload = draw::quic_data{};
    c.src = quic;
    c.src_area = {0, 0, 1, 1};
    EXPECT_EQ(store.render(drawable({0, 0, 1, 1}, c)).error(), canvas_errc::bad_image);

    auto d = drawable({0, 0, 1, 1}, draw::blackness{});
    d.surface_id = 99;
    EXPECT_EQ(store.render(d).error(), canvas_errc::no_such_surface);

    // Too few bytes for the bitmap, and a palette bitmap without a palette.
    c.src = bitmap(SPICE_BITMAP_FMT_32BIT, 2, 2, 8, {0, 0, 0, 0});
    c.src_area = {0, 0, 2, 2};
    EXPECT_EQ(store.render(drawable({0, 0, 2, 2}, c)).error(), canvas_errc::bad_image);
    c.src = bitmap(SPICE_BITMAP_FMT_8BIT, 1, 1, 4, {0, 0, 0, 0});
    c.src_area = {0, 0, 1, 1};
    EXPECT_EQ(store.render(drawable({0, 0, 1, 1}, c)).error(), canvas_errc::bad_image);

    // A 16-bit surface cannot be blitted raw into a 32-bit one.
    ASSERT_TRUE(store.create_surface(8, SPICE_SURFACE_FMT_16_555, 2, 2, 0).ok());
    c.src = surface_image(8);
    c.src_area = {0, 0, 1, 1};
    EXPECT_EQ(store.render(drawable({0, 0, 1, 1}, c)).error(), canvas_errc::format_mismatch);
}

TEST_F(Canvas, DrawingOutsideTheSurfaceIsClippedNotFatal) {
    auto f = drawable({-100, -100, 100, 100}, draw::fill{solid(5), SPICE_ROPD_OP_PUT, {}});
    ASSERT_TRUE(store.render(f).ok());
    EXPECT_EQ(px(0, 7, 7), 5u);
    draw::rop3 r;
    r.src = bitmap32(1, 1, {1});
    r.src_area = {0, 0, 1, 1};
    r.rop3_code = 0xcc;
    ASSERT_TRUE(store.render(drawable({6, 6, 10, 10}, r)).ok()); // scaled 1×1 -> 4×4
    EXPECT_EQ(px(0, 7, 7), 1u);
}

} // namespace

namespace {

TEST_F(Canvas, HostileGeometryIsClippedWithoutCrashing) {
    // Huge stroke coordinates and a degenerate bezier (all points equal).
    auto s = line({{INT32_MIN, INT32_MIN}, {INT32_MAX, INT32_MAX}, {0, INT32_MAX}}, 1);
    draw::path_segment bez;
    bez.flags = SPICE_PATH_BEZIER | SPICE_PATH_END;
    bez.points = {{fix(3), fix(3)}, {fix(3), fix(3)}, {fix(3), fix(3)}};
    s.path.front().flags = SPICE_PATH_BEGIN;
    s.path.push_back(bez);
    EXPECT_TRUE(store.render(drawable({0, 0, 8, 8}, s)).ok());

    // Glyphs far apart: the string's bounds span the whole coordinate space.
    draw::glyph a, b;
    a.render_pos = {INT32_MIN + 5, 0};
    b.render_pos = {INT32_MAX - 5, 2};
    a.width = b.width = 1;
    a.height = b.height = 1;
    a.data = b.data = keep({0x80});
    draw::text t;
    t.string_flags = SPICE_STRING_FLAGS_RASTER_A1;
    t.glyphs = {a, b};
    t.fore_brush = solid(1);
    EXPECT_TRUE(store.render(drawable({0, 0, 8, 8}, t)).ok());

    // A mask far away masks everything out.
    draw::fill f{solid(9), SPICE_ROPD_OP_PUT, {}};
    f.mask.pos = {INT32_MIN, INT32_MAX};
    f.mask.bitmap = bitmap(SPICE_BITMAP_FMT_1BIT_LE, 1, 1, 4, {1, 0, 0, 0});
    EXPECT_TRUE(store.render(drawable({0, 0, 8, 8}, f)).ok());
    EXPECT_NE(px(0, 5, 5), 9u);

    // copy_bits from far away, composite with a wild transform.
    EXPECT_TRUE(store.render(drawable({0, 0, 8, 8}, draw::copy_bits{{INT32_MIN, INT32_MAX}})).ok());
    draw::composite c;
    c.flags = PIXMAN_OP_OVER | (1u << 14) | (PIXMAN_FILTER_BILINEAR << 8);
    c.src = bitmap32(2, 2, {1, 2, 3, 4}, SPICE_BITMAP_FMT_RGBA);
    c.src_transform = draw::transform{0x7fffffff, 0x80000000, 0x7fffffff, 3, 0, 0xffffffff};
    EXPECT_TRUE(store.render(drawable({0, 0, 8, 8}, c)).ok());
}

// ------------------------------------------------------------------ QUIC

/// 4×3 RGB32 gradient (byte i of row y is 3i + 5y) from spice-common's quic_encode.
const std::vector<uint8_t> quic_rgb32_4x3 = {
    0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x98, 0x80, 0x86, 0x8c, 0x01, 0x00, 0x00, 0x98,
    0x38, 0x26, 0x26, 0xa6, 0xd2, 0xaa, 0x8a, 0xe3, 0x65, 0x59, 0x52, 0x52, 0xaa, 0x65,
    0x59, 0x96, 0xb2, 0x24, 0x49, 0xaa, 0xc8, 0xb2, 0x2c, 0xcb, 0x00, 0x00, 0x00, 0x00};
/// 2×2 GRAY from spice-common's quic_encode (the canvas refuses GRAY, as spice-common does).
const std::vector<uint8_t> quic_gray_2x2 = {
    0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x80, 0x68, 0x02, 0x80, 0x00, 0x00, 0x00, 0x00};

uint32_t gradient_px(int x, int y) {
    auto byte = [&](int i) { return static_cast<uint32_t>((i * 3 + y * 5) & 0xff); };
    return byte(4 * x + 2) << 16 | byte(4 * x + 1) << 8 | byte(4 * x);
}

TEST_F(Canvas, QuicSourcesAreDecoded) {
    auto quic = [&](std::vector<uint8_t> data, uint32_t w, uint32_t h, uint8_t flags = 0,
                    size_t split = 0) {
        auto im = std::make_shared<draw::image>();
        im->type = SPICE_IMAGE_TYPE_QUIC;
        im->flags = flags;
        im->width = w;
        im->height = h;
        draw::quic_data q;
        auto all = keep(std::move(data));
        if (split) {
            q.data.parts.push_back(all.first(split)); // guest chunks are joined
            q.data.parts.push_back(all.subspan(split));
        } else {
            q.data.parts.push_back(all);
        }
        im->payload = std::move(q);
        return im;
    };
    fill_all(0, [](int, int) { return 0x00123456u; });
    draw::copy c;
    c.src = quic(quic_rgb32_4x3, 4, 3, 0, 30);
    c.src_area = {1, 0, 4, 3};
    ASSERT_TRUE(store.render(drawable({2, 3, 5, 6}, c)).ok());
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
            const bool in = x >= 2 && x < 5 && y >= 3 && y < 6;
            const uint32_t want = in ? gradient_px(x - 2 + 1, y - 3) : 0x00123456u;
            EXPECT_EQ(px(0, x, y) & 0xffffff, want) << x << "," << y;
        }

    // As a pattern brush too (any image source).
    draw::fill f;
    f.br.type = SPICE_BRUSH_TYPE_PATTERN;
    f.br.pat.pat = quic(quic_rgb32_4x3, 4, 3);
    ASSERT_TRUE(store.render(drawable({0, 0, 8, 2}, f)).ok());
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 8; ++x)
            EXPECT_EQ(px(0, x, y) & 0xffffff, gradient_px(x % 4, y % 3)) << x << "," << y;

    // A descriptor that disagrees with the stream, GRAY, and corrupt data.
    c.src_area = {0, 0, 2, 2};
    c.src = quic(quic_rgb32_4x3, 4, 4);
    EXPECT_EQ(store.render(drawable({0, 0, 2, 2}, c)).error(), canvas_errc::bad_image);
    c.src = quic(quic_gray_2x2, 2, 2);
    EXPECT_EQ(store.render(drawable({0, 0, 2, 2}, c)).error(), canvas_errc::bad_image);
    auto truncated = quic_rgb32_4x3;
    truncated.resize(32);
    c.src = quic(truncated, 4, 3);
    EXPECT_EQ(store.render(drawable({0, 0, 2, 2}, c)).error(), canvas_errc::bad_image);
    c.src_area = {0, 0, 5, 3}; // outside the descriptor's size
    c.src = quic(quic_rgb32_4x3, 4, 3);
    EXPECT_EQ(store.render(drawable({0, 0, 5, 3}, c)).error(), canvas_errc::src_area_outside);
}

} // namespace
