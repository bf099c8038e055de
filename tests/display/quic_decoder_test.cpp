// The QUIC decoder against streams from spice-common's own encoder (embedded
// fixtures) and against a test-only encoder written from the same facts,
// which must produce those fixtures byte for byte before it serves as the
// oracle for round trips; truncated and corrupt streams must be errors.
#include "display/codec/quic_decoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace {

using namespace rs::quic;
using bytes = std::vector<uint8_t>;

struct fixture {
    image_type type;
    uint32_t width;
    uint32_t height;
    bytes encoded;
    bytes pixels; ///< the encoder's input, packed (the rgb32 pad byte is not coded)
};

/// rgb32 9x5, encoded by spice-common quic_encode.
const fixture spice_rgb32 = {
    image_type::rgb32,
    9,
    5,
    {0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
     0x05, 0x00, 0x00, 0x00, 0x19, 0xac, 0xce, 0xb8, 0xdd, 0x95, 0x8c, 0xf6, 0xf6, 0x86, 0x35, 0x36,
     0x20, 0xf5, 0xe5, 0x01, 0xf7, 0xd0, 0x43, 0xcf, 0x84, 0xb7, 0x35, 0xf3, 0x04, 0x08, 0x08, 0x38,
     0x0b, 0x00, 0xb0, 0x41, 0x0e, 0x22, 0x7e, 0x74, 0xdd, 0x48, 0xac, 0xbf, 0xa2, 0x26, 0x22, 0x27,
     0x49, 0x0a, 0x46, 0x63, 0x93, 0x88, 0x14, 0x77, 0x80, 0x80, 0x80, 0x5d, 0xca, 0xf9, 0x67, 0x62,
     0x00, 0xc4, 0x08, 0x91, 0xd7, 0xc2, 0x17, 0x00, 0xd3, 0x59, 0xe0, 0x8b, 0x5c, 0x52, 0x23, 0x6a,
     0xfd, 0x07, 0x00, 0x00, 0xd2, 0x89, 0xaa, 0x6d, 0x0d, 0x10, 0x08, 0x38, 0x10, 0x38, 0x7a, 0x17,
     0x24, 0x60, 0x1c, 0xb2, 0x55, 0x38, 0x6c, 0xbd, 0xf7, 0x62, 0x16, 0xcc, 0x00, 0xa0, 0x07, 0xaf,
     0x3e, 0x20, 0x64, 0x03, 0x08, 0x08, 0x78, 0x58, 0xd5, 0x87, 0x4f, 0x0d, 0xff, 0x6e, 0x8b, 0x6a,
     0xda, 0x59, 0x09, 0x56, 0xbf, 0x64, 0xf4, 0x26, 0xd4, 0x71, 0x38, 0x9c, 0x66, 0x5b, 0x6b, 0xae,
     0x00, 0x40, 0x20, 0xe0, 0x00, 0x00, 0x00, 0x00},
    {0x16, 0x27, 0x1c, 0x96, 0x1c, 0x62, 0xcf, 0xad, 0x77, 0x33, 0xc4, 0xaf, 0xb2, 0x36, 0x69,
     0x99, 0x1b, 0xc6, 0xe8, 0x27, 0xbc, 0x00, 0x2e, 0xd4, 0x62, 0xc0, 0xe6, 0xde, 0x00, 0x3c,
     0x78, 0xb4, 0x00, 0x3c, 0x78, 0xb4, 0x98, 0xa2, 0x7e, 0x3f, 0xab, 0x01, 0x20, 0xb3, 0xa7,
     0xfa, 0xb9, 0xb8, 0x58, 0x69, 0xf5, 0x88, 0x4a, 0xea, 0x3f, 0x20, 0xc8, 0xd8, 0xc4, 0x3c,
     0xdf, 0x50, 0x70, 0x57, 0x00, 0x3c, 0x78, 0xb4, 0x00, 0x3c, 0x78, 0xb4, 0x5b, 0x2e, 0xef,
     0xae, 0xc7, 0x0e, 0xac, 0x3d, 0x71, 0x4b, 0xd4, 0xc0, 0x63, 0x02, 0x53, 0xb3, 0x6a, 0x0f,
     0xd5, 0x51, 0x11, 0x0e, 0xc5, 0x97, 0xa5, 0x5a, 0x51, 0x41, 0x00, 0x3c, 0x78, 0xb4, 0x00,
     0x3c, 0x78, 0xb4, 0x32, 0x10, 0x63, 0xca, 0x84, 0x0c, 0xa7, 0x6f, 0x27, 0xea, 0x8b, 0x2c,
     0x66, 0x05, 0x39, 0xbd, 0x4e, 0x7a, 0x9e, 0x9e, 0xab, 0x25, 0x65, 0x0a, 0x09, 0xa2, 0xfc,
     0xfe, 0x00, 0x3c, 0x78, 0xb4, 0x00, 0x3c, 0x78, 0xb4, 0xb3, 0x4c, 0x8d, 0x36, 0xb6, 0x40,
     0x05, 0x2d, 0xde, 0x5a, 0x10, 0x20, 0xb6, 0x36, 0x19, 0x0b, 0x8b, 0x2f, 0x4d, 0xaa, 0x6a,
     0x62, 0x98, 0x78, 0x1c, 0xab, 0xa6, 0xb3, 0x00, 0x3c, 0x78, 0xb4, 0x00, 0x3c, 0x78, 0xb4}};

/// rgba 6x4, encoded by spice-common quic_encode.
const fixture spice_rgba = {
    image_type::rgba,
    6,
    4,
    {0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
     0x00, 0x04, 0x00, 0x00, 0x00, 0x98, 0x80, 0x86, 0x8c, 0x01, 0x00, 0x00, 0x98, 0x38, 0x26,
     0x26, 0xa6, 0xe3, 0x38, 0x8e, 0xe3, 0x98, 0x92, 0x38, 0x8e, 0xaa, 0x38, 0x8e, 0xe3, 0x25,
     0x25, 0x25, 0xad, 0x96, 0x65, 0x59, 0x96, 0x59, 0x96, 0x65, 0x59, 0x49, 0x92, 0x54, 0x65,
     0xa9, 0xaa, 0x96, 0x24, 0x2c, 0xcb, 0x92, 0x24, 0xb2, 0x2c, 0xcb, 0xb2, 0xa9, 0xb2, 0x2c,
     0xcb, 0x2d, 0x49, 0x92, 0x24, 0x96, 0x24, 0x49, 0x6b, 0x59, 0x96, 0x65, 0x59, 0x65, 0x59,
     0x96, 0x65, 0x24, 0x49, 0x92, 0x96, 0x00, 0x00, 0x00, 0x92, 0x00, 0x00, 0x00, 0x00},
    {0x00, 0x03, 0x06, 0x09, 0x0c, 0x0f, 0x12, 0x15, 0x18, 0x1b, 0x1e, 0x21, 0x24, 0x27,
     0x2a, 0x2d, 0x30, 0x33, 0x36, 0x39, 0x3c, 0x3f, 0x42, 0x45, 0x05, 0x08, 0x0b, 0x0e,
     0x11, 0x14, 0x17, 0x1a, 0x1d, 0x20, 0x23, 0x26, 0x29, 0x2c, 0x2f, 0x32, 0x35, 0x38,
     0x3b, 0x3e, 0x41, 0x44, 0x47, 0x4a, 0x0a, 0x0d, 0x10, 0x13, 0x16, 0x19, 0x1c, 0x1f,
     0x22, 0x25, 0x28, 0x2b, 0x2e, 0x31, 0x34, 0x37, 0x3a, 0x3d, 0x40, 0x43, 0x46, 0x49,
     0x4c, 0x4f, 0x0f, 0x12, 0x15, 0x18, 0x1b, 0x1e, 0x21, 0x24, 0x27, 0x2a, 0x2d, 0x30,
     0x33, 0x36, 0x39, 0x3c, 0x3f, 0x42, 0x45, 0x48, 0x4b, 0x4e, 0x51, 0x54}};

/// rgb16 6x4, encoded by spice-common quic_encode.
const fixture spice_rgb16 = {
    image_type::rgb16,
    6,
    4,
    {0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
     0x04, 0x00, 0x00, 0x00, 0xf1, 0x7f, 0xc7, 0x17, 0x4c, 0x33, 0x80, 0x30, 0x91, 0xf2, 0x08, 0x94,
     0x00, 0x40, 0xaf, 0xb7, 0x92, 0xb0, 0xd4, 0x00, 0x0e, 0x85, 0x8c, 0xf4, 0x80, 0xc7, 0xec, 0x3c,
     0x7a, 0x20, 0x8f, 0x3c, 0x45, 0x59, 0xed, 0x8c, 0xee, 0xe8, 0x81, 0x9d, 0x17, 0x06, 0xa7, 0x4b,
     0x46, 0xcd, 0x06, 0x7d, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00},
    {0x16, 0x27, 0x1c, 0x16, 0x1c, 0x62, 0xcf, 0x2d, 0x77, 0x33, 0xc4, 0x2f,
     0xb2, 0x36, 0x69, 0x19, 0x1b, 0x46, 0xe8, 0x27, 0xbc, 0x00, 0x2e, 0x54,
     0x62, 0x40, 0xe6, 0x5e, 0x98, 0x22, 0x7e, 0x3f, 0xab, 0x01, 0x20, 0x33,
     0xa7, 0x7a, 0xb9, 0x38, 0x58, 0x69, 0xf5, 0x08, 0x4a, 0x6a, 0x3f, 0x20}};

/// rgb24 5x3, encoded by spice-common quic_encode.
const fixture spice_rgb24 = {
    image_type::rgb24,
    5,
    3,
    {0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00,
     0x00, 0x03, 0x00, 0x00, 0x00, 0x0c, 0xac, 0xce, 0xb8, 0x5d, 0xaa, 0x7f, 0x95, 0x48, 0xae,
     0xf0, 0xf2, 0x2b, 0x7e, 0x64, 0x0b, 0x60, 0x42, 0xe5, 0xdd, 0x2b, 0xdf, 0xdb, 0x8b, 0x89,
     0x12, 0x2e, 0x28, 0x22, 0xd7, 0x51, 0xf4, 0xe5, 0x28, 0x01, 0xd6, 0xb0, 0x14, 0x93, 0x3d,
     0xc1, 0x75, 0xe8, 0x16, 0x00, 0x00, 0x00, 0xa8, 0x00, 0x00, 0x00, 0x00},
    {0x16, 0x27, 0x1c, 0x96, 0x1c, 0x62, 0xcf, 0xad, 0x77, 0x33, 0xc4, 0xaf, 0xb2, 0x36, 0x69,
     0x99, 0x1b, 0xc6, 0xe8, 0x27, 0xbc, 0x00, 0x2e, 0xd4, 0x62, 0xc0, 0xe6, 0xde, 0x98, 0xa2,
     0x7e, 0x3f, 0xab, 0x01, 0x20, 0xb3, 0xa7, 0xfa, 0xb9, 0xb8, 0x58, 0x69, 0xf5, 0x88, 0x4a}};

/// gray 7x4, encoded by spice-common quic_encode.
const fixture spice_gray = {
    image_type::gray,
    7,
    4,
    {0x51, 0x55, 0x49, 0x43, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00,
     0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0xe8, 0xaa, 0xa2, 0xac, 0x06, 0xb4, 0x18, 0xe6,
     0x0f, 0x60, 0x55, 0x33, 0x7d, 0xc0, 0x46, 0xed, 0xc3, 0xed, 0x52, 0x21, 0xb1, 0x1b,
     0x35, 0x46, 0x69, 0x66, 0x5b, 0xf5, 0x00, 0x00, 0x00, 0xa0, 0x00, 0x00, 0x00, 0x00},
    {0x16, 0x27, 0x1c, 0x96, 0x1c, 0x62, 0xcf, 0xad, 0x77, 0x33, 0xc4, 0xaf, 0xb2, 0x36,
     0x69, 0x99, 0x1b, 0xc6, 0xe8, 0x27, 0xbc, 0x00, 0x2e, 0xd4, 0x62, 0xc0, 0xe6, 0xde}};

pixel_layout layout_of(image_type t) {
    return t == image_type::rgb24 ? pixel_layout::rgb24 : natural_layout(t);
}

// ------------------------------------------------------------ test encoder

/// quic_encode for every type, following spice-common's quic.c: LE words
/// filled from the most significant bit, the same families, buckets, model
/// schedule, RLE and MELCODE. Input is packed pixels in layout_of(type).
class test_encoder {
  public:
    bytes encode(image_type type, uint32_t w, uint32_t h, const bytes &px) {
        _bpc = type == image_type::rgb16 ? 5 : 8;
        init_family();
        put32(0x43495551);
        put32(0);
        put32(static_cast<uint32_t>(type));
        put32(w);
        put32(h);
        const unsigned nch = type == image_type::gray ? 1 : type == image_type::rgba ? 4 : 3;
        std::array<chan, 4> ch;
        for (unsigned c = 0; c < nch; ++c) {
            ch[c].corr.assign(w + 1, 0);
            ch[c].best.fill(static_cast<uint8_t>(_bpc - 1));
        }
        state rgb, single;
        std::vector<chan *> rgb_ch = {&ch[0], &ch[1], &ch[2]};
        std::vector<chan *> single_ch = {type == image_type::rgba ? &ch[3] : &ch[0]};
        const uint32_t bpp = bytes_per_pixel(layout_of(type));
        std::array<std::vector<uint8_t>, 4> prev, cur;
        for (uint32_t y = 0; y < h; ++y) {
            for (unsigned c = 0; c < nch; ++c)
                cur[c].resize(w);
            for (uint32_t x = 0; x < w; ++x) {
                const uint8_t *p = px.data() + (size_t{y} * w + x) * bpp;
                if (type == image_type::gray) {
                    cur[0][x] = p[0];
                } else if (type == image_type::rgb16) {
                    const unsigned v = p[0] | p[1] << 8;
                    cur[0][x] = (v >> 10) & 31;
                    cur[1][x] = (v >> 5) & 31;
                    cur[2][x] = v & 31;
                } else {
                    cur[0][x] = p[2];
                    cur[1][x] = p[1];
                    cur[2][x] = p[0];
                    if (nch == 4) cur[3][x] = p[3];
                }
            }
            for (unsigned c = 0; c < nch; ++c) {
                ch[c].cur = &cur[c];
                ch[c].prev = &prev[c];
            }
            if (type != image_type::gray) row(rgb, rgb_ch, y == 0, w);
            if (type == image_type::gray || type == image_type::rgba)
                row(single, single_ch, y == 0, w);
            std::swap(cur, prev);
        }
        // flush: pad the word, then 32 zero bits and one more
        if (_avail > 0 && _avail != 32) put(0, _avail);
        put32(0);
        put(0, 1);
        bytes out(_words.size() * 4);
        std::memcpy(out.data(), _words.data(), out.size());
        return out;
    }

  private:
    struct state {
        uint32_t waitcnt = 0, seed = 0xff, wmidx = 0, wmileft = 2048;
        uint32_t melcstate = 0, melclen = 0, melcorder = 1;
        uint32_t trigger() const {
            static constexpr uint16_t t[11] = {110, 550, 900, 800, 550, 400,
                                               350, 250, 140, 160, 140};
            return t[std::min<uint32_t>(wmidx, 10)];
        }
    };
    struct chan {
        std::array<std::array<uint32_t, 8>, 8> counters{};
        std::array<uint8_t, 8> best{};
        std::vector<uint8_t> corr; // corr[x + 1] is pixel x
        std::vector<uint8_t> *cur = nullptr, *prev = nullptr;
    };
    static constexpr uint8_t melc[32] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,  2,  3,  3,  3,  3,
                                         4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    static constexpr uint32_t chaos[256] = {
        0x02c57542, 0x35427717, 0x2f5a2153, 0x9244f155, 0x7bd26d07, 0x354c6052, 0x57329b28,
        0x2993868e, 0x6cd8808c, 0x147b46e0, 0x99db66af, 0xe32b4cac, 0x1b671264, 0x9d433486,
        0x62a4c192, 0x06089a4b, 0x9e3dce44, 0xdaabee13, 0x222425ea, 0xa46f331d, 0xcd589250,
        0x8bb81d7f, 0xc8b736b9, 0x35948d33, 0xd7ac7fd0, 0x5fbe2803, 0x2cfbc105, 0x013dbc4e,
        0x7a37820f, 0x39f88e9e, 0xedd58794, 0xc5076689, 0xfcada5a4, 0x64c2f46d, 0xb3ba3243,
        0x8974b4f9, 0x5a05aebd, 0x20afcd00, 0x39e2b008, 0x88a18a45, 0x600bde29, 0xf3971ace,
        0xf37b0a6b, 0x7041495b, 0x70b707ab, 0x06beffbb, 0x4206051f, 0xe13c4ee3, 0xc1a78327,
        0x91aa067c, 0x8295f72a, 0x732917a6, 0x1d871b4d, 0x4048f136, 0xf1840e7e, 0x6a6048c1,
        0x696cb71a, 0x7ff501c3, 0x0fc6310b, 0x57e0f83d, 0x8cc26e74, 0x11a525a2, 0x946934c7,
        0x7cd888f0, 0x8f9d8604, 0x4f86e73b, 0x04520316, 0xdeeea20c, 0xf1def496, 0x67687288,
        0xf540c5b2, 0x22401484, 0x3478658a, 0xc2385746, 0x01979c2c, 0x5dad73c8, 0x0321f58b,
        0xf0fedbee, 0x92826ddf, 0x284bec73, 0x5b1a1975, 0x03df1e11, 0x20963e01, 0xa17cf12b,
        0x740d776e, 0xa7a6bf3c, 0x01b5cce4, 0x1118aa76, 0xfc6fac0a, 0xce927e9b, 0x00bf2567,
        0x806f216c, 0xbca69056, 0x795bd3e9, 0xc9dc4557, 0x8929b6c2, 0x789d52ec, 0x3f3fbf40,
        0xb9197368, 0xa38c15b5, 0xc3b44fa8, 0xca8333b0, 0xb7e8d590, 0xbe807feb, 0xbf5f8360,
        0xd99e2f5c, 0x372928e1, 0x7c757c4c, 0x0db5b154, 0xc01ede02, 0x1fc86e78, 0x1f3985be,
        0xb4805c77, 0x00c880fa, 0x974c1b12, 0x35ab0214, 0xb2dc840d, 0x5b00ae37, 0xd313b026,
        0xb260969d, 0x7f4c8879, 0x1734c4d3, 0x49068631, 0xb9f6a021, 0x6b863e6f, 0xcee5debf,
        0x29f8c9fb, 0x53dd6880, 0x72b61223, 0x1f67a9fd, 0x0a0f6993, 0x13e59119, 0x11cca12e,
        0xfe6b6766, 0x16b6effc, 0x97918fc4, 0xc2b8a563, 0x94f2f741, 0x0bfa8c9a, 0xd1537ae8,
        0xc1da349c, 0x873c60ca, 0x95005b85, 0x9b5c080e, 0xbc8abbd9, 0xe1eab1d2, 0x6dac9070,
        0x4ea9ebf1, 0xe0cf30d4, 0x1ef5bd7b, 0xd161043e, 0x5d2fa2e2, 0xff5d3cae, 0x86ed9f87,
        0x2aa1daa1, 0xbd731a34, 0x9e8f4b22, 0xb1c2c67a, 0xc21758c9, 0xa182215d, 0xccb01948,
        0x8d168df7, 0x04238cfe, 0x368c3dbc, 0x0aeadca5, 0xbad21c24, 0x0a71fee5, 0x9fc5d872,
        0x54c152c6, 0xfc329483, 0x6783384a, 0xeddb3e1c, 0x65f90e30, 0x884ad098, 0xce81675a,
        0x4b372f7d, 0x68bf9a39, 0x43445f1e, 0x40f8d8cb, 0x90d5acb6, 0x4cd07282, 0x349eeb06,
        0x0c9d5332, 0x520b24ef, 0x80020447, 0x67976491, 0x2f931ca3, 0xfe9b0535, 0xfcd30220,
        0x61a9e6cc, 0xa487d8d7, 0x3f7c5dd1, 0x7d0127c5, 0x48f51d15, 0x60dea871, 0xc9a91cb7,
        0x58b53bb3, 0x9d5e0b2d, 0x624a78b4, 0x30dbee1b, 0x9bdf22e7, 0x1df5c299, 0x2d5643a7,
        0xf4dd35ff, 0x03ca8fd6, 0x53b47ed8, 0x6f2c19aa, 0xfeb0c1f4, 0x49e54438, 0x2f2577e6,
        0xbf876969, 0x72440ea9, 0xfa0bafb8, 0x74f5b3a0, 0x7dd357cd, 0x89ce1358, 0x6ef2cdda,
        0x1e7767f3, 0xa6be9fdb, 0x4f5f88f8, 0xba994a3a, 0x08ca6b65, 0xe0893818, 0x9e00a16a,
        0xf42bfc8f, 0x9972eedc, 0x749c8b51, 0x32c05f5e, 0xd706805f, 0x6bfbb7cf, 0xd9210a10,
        0x31a1db97, 0x923a9559, 0x37a7a1f6, 0x059f8861, 0xca493e62, 0x65157e81, 0x8f6467dd,
        0xab85ff9f, 0x9331aff2, 0x8616b9f5, 0xedbd5695, 0xee7e29b1, 0x313ac44f, 0xb903112f,
        0x432ef649, 0xdc0a36c0, 0x61cf2bba, 0x81474925, 0xa8b6c7ad, 0xee5931de, 0xb2f8158d,
        0x59fb7409, 0x2e3dfaed, 0x9af25a3f, 0xe1fed4d5,
    };

    unsigned _bpc = 8;
    std::array<uint32_t, 8> _n_gr{}, _escape_len{};
    std::vector<uint32_t> _words;
    uint32_t _word = 0;
    unsigned _avail = 32;

    void init_family() {
        for (unsigned l = 0; l < _bpc; ++l) {
            const uint32_t prefix = std::min<uint32_t>(26 - _bpc, (1u << (_bpc - l)) - 1);
            _n_gr[l] = prefix << l;
            const uint32_t escapes = (1u << _bpc) - _n_gr[l];
            unsigned suffix = 0;
            while ((1u << suffix) < escapes)
                ++suffix;
            _escape_len[l] = prefix + suffix;
        }
    }
    uint32_t code_len(unsigned n, unsigned l) const {
        return n < _n_gr[l] ? (n >> l) + l + 1 : _escape_len[l];
    }
    void put(uint32_t word, unsigned len) {
        if (_avail >= len) {
            _avail -= len;
            _word |= _avail < 32 ? word << _avail : 0;
            return;
        }
        const unsigned over = len - _avail;
        _word |= word >> over;
        _words.push_back(_word);
        _avail = 32 - over;
        _word = word << _avail;
    }
    void put32(uint32_t w) {
        put(w >> 16, 16);
        put(w & 0xffff, 16);
    }
    void golomb(unsigned n, unsigned l) {
        if (n < _n_gr[l])
            put((1u << l) | (n & ((1u << l) - 1)), (n >> l) + l + 1);
        else
            put(n - _n_gr[l], _escape_len[l]);
    }
    unsigned bucket(unsigned v) const {
        unsigned b = 0;
        while (b + 1 < _bpc && v + 1 >= (2u << b))
            ++b;
        return b;
    }
    uint8_t fold(int err) const { // U2L
        const unsigned mask = (1u << _bpc) - 1;
        const unsigned s = static_cast<unsigned>(err) & mask;
        return static_cast<uint8_t>(s <= mask >> 1 ? s << 1 : ((mask - s) << 1) + 1);
    }
    void update(const state &st, chan &c, unsigned ctx, unsigned v) {
        auto &cnt = c.counters[bucket(ctx)];
        unsigned best = _bpc - 1;
        uint32_t best_len = cnt[best] += code_len(v, best);
        for (int i = static_cast<int>(_bpc) - 2; i >= 0; --i) {
            const uint32_t len = cnt[i] += code_len(v, static_cast<unsigned>(i));
            if (len < best_len) {
                best = static_cast<unsigned>(i);
                best_len = len;
            }
        }
        c.best[bucket(ctx)] = static_cast<uint8_t>(best);
        if (best_len > st.trigger())
            for (unsigned i = 0; i < _bpc; ++i)
                cnt[i] >>= 1;
    }
    void update_at(const state &st, std::vector<chan *> &g, int x) {
        for (chan *c : g)
            update(st, *c, c->corr[x], c->corr[x + 1]);
    }
    void code_pixel(std::vector<chan *> &g, bool first, int x) {
        for (chan *c : g) {
            const auto &cur = *c->cur;
            const auto &prev = *c->prev;
            int pred;
            if (x == 0)
                pred = first ? 0 : prev[0];
            else
                pred = first ? cur[x - 1] : (cur[x - 1] + prev[x]) >> 1;
            const uint8_t v = fold(cur[x] - pred);
            c->corr[x + 1] = v;
            golomb(v, c->best[bucket(c->corr[x])]);
        }
    }
    static bool run_pred(std::vector<chan *> &g, int i, int run_index) {
        if (i <= 2 || run_index == i) return false;
        for (chan *c : g)
            if ((*c->prev)[i - 1] != (*c->prev)[i] || (*c->cur)[i - 1] != (*c->cur)[i - 2])
                return false;
        return true;
    }
    static bool same_as_left(std::vector<chan *> &g, int i) {
        for (chan *c : g)
            if ((*c->cur)[i] != (*c->cur)[i - 1]) return false;
        return true;
    }
    void put_run(state &st, uint32_t len) {
        unsigned hits = 0;
        while (len >= st.melcorder) {
            ++hits;
            len -= st.melcorder;
            if (st.melcstate < 31) {
                st.melclen = melc[++st.melcstate];
                st.melcorder = 1u << st.melclen;
            }
        }
        for (; hits >= 32; hits -= 32)
            put32(~0u);
        if (hits) put((1u << hits) - 1, hits);
        put(len, st.melclen + 1);
        if (st.melcstate) {
            st.melclen = melc[--st.melcstate];
            st.melcorder = 1u << st.melclen;
        }
    }
    void segment(state &st, std::vector<chan *> &g, bool first, int i, int end) {
        const uint32_t waitmask = (1u << st.wmidx) - 1;
        int stop;
        int run_index = 0;
        if (i == 0) {
            code_pixel(g, first, 0);
            if (st.waitcnt) {
                --st.waitcnt;
            } else {
                st.waitcnt = chaos[++st.seed & 0xff] & waitmask;
                update_at(st, g, 0);
            }
            stop = ++i + static_cast<int>(st.waitcnt);
        } else {
            stop = i + static_cast<int>(st.waitcnt);
        }
        for (;;) {
            bool run = false;
            while (!run && stop < end) {
                for (; i <= stop; ++i) {
                    if (!first && run_pred(g, i, run_index)) {
                        run = true;
                        break;
                    }
                    code_pixel(g, first, i);
                }
                if (run) break;
                update_at(st, g, stop);
                stop = i + static_cast<int>(chaos[++st.seed & 0xff] & waitmask);
            }
            if (!run) {
                for (; i < end; ++i) {
                    if (!first && run_pred(g, i, run_index)) {
                        run = true;
                        break;
                    }
                    code_pixel(g, first, i);
                }
                if (!run) {
                    st.waitcnt = static_cast<uint32_t>(stop - end);
                    return;
                }
            }
            run_index = i;
            st.waitcnt = static_cast<uint32_t>(stop - i);
            uint32_t len = 0;
            while (same_as_left(g, i)) {
                ++len;
                if (++i == end) {
                    put_run(st, len);
                    return;
                }
            }
            put_run(st, len);
            stop = i + static_cast<int>(st.waitcnt);
        }
    }
    void row(state &st, std::vector<chan *> &g, bool first, uint32_t width) {
        for (chan *c : g)
            c->corr[0] = first ? 0 : c->corr[1];
        uint32_t pos = 0;
        while (st.wmidx < 6 && st.wmileft <= width) {
            if (st.wmileft) {
                segment(st, g, first, static_cast<int>(pos), static_cast<int>(pos + st.wmileft));
                width -= st.wmileft;
                pos += st.wmileft;
            }
            ++st.wmidx;
            st.wmileft = 2048;
        }
        if (width) {
            segment(st, g, first, static_cast<int>(pos), static_cast<int>(pos + width));
            if (st.wmidx < 6) st.wmileft -= width;
        }
    }
};

bytes encode(image_type t, uint32_t w, uint32_t h, const bytes &px) {
    return test_encoder().encode(t, w, h, px);
}

/// Packed pixels of a pattern; rgb16 keeps bit 15 clear, rgb32's pad byte 0.
bytes make_image(image_type t, uint32_t w, uint32_t h, int pattern, uint32_t seed = 1) {
    const uint32_t bpp = bytes_per_pixel(layout_of(t));
    std::mt19937 rng(seed);
    bytes px(size_t{w} * h * bpp);
    for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w * bpp; ++x) {
            uint8_t v = 0;
            switch (pattern) {
            case 0: // gradient
                v = static_cast<uint8_t>(x * 3 + y * 5);
                break;
            case 1: // noise
                v = static_cast<uint8_t>(rng());
                break;
            case 2: // solid
                v = static_cast<uint8_t>(0x5a + (x % bpp) * 40);
                break;
            default: // blocks of runs and noise
                v = ((x / bpp / 7 + y / 5) % 3 == 0)
                        ? static_cast<uint8_t>(rng())
                        : static_cast<uint8_t>((x % bpp) * 60 + (x / bpp / 13) * 17);
            }
            px[size_t{y} * w * bpp + x] = v;
        }
    for (size_t i = 0; i < px.size(); ++i) {
        if (t == image_type::rgb16 && i % 2 == 1) px[i] &= 0x7f;
        if (t == image_type::rgb32 && i % 4 == 3) px[i] = 0;
    }
    return px;
}

bytes decode_as(const bytes &in, image_type t, uint32_t w, uint32_t h) {
    const pixel_layout l = layout_of(t);
    bytes out(size_t{w} * h * bytes_per_pixel(l), 0xee);
    auto r = decode(in, l, out, size_t{w} * bytes_per_pixel(l));
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r) return {};
    EXPECT_EQ(r->type, t);
    EXPECT_EQ(r->width, w);
    EXPECT_EQ(r->height, h);
    return out;
}

const fixture *const fixtures[] = {&spice_rgb32, &spice_rgba, &spice_rgb16, &spice_rgb24,
                                   &spice_gray};

constexpr image_type all_types[] = {image_type::rgb32, image_type::rgb24, image_type::rgba,
                                    image_type::rgb16, image_type::gray};

// ------------------------------------------------------------ tests

TEST(QuicDecoder, DecodesSpiceCommonStreamsExactly) {
    for (const fixture *f : fixtures) {
        SCOPED_TRACE(static_cast<int>(f->type));
        bytes want = f->pixels;
        if (f->type == image_type::rgb32)
            for (size_t i = 3; i < want.size(); i += 4)
                want[i] = 0; // the pad byte is not coded; the decoder writes 0
        EXPECT_EQ(decode_as(f->encoded, f->type, f->width, f->height), want);
    }
}

TEST(QuicDecoder, TestEncoderReproducesSpiceCommonStreams) {
    for (const fixture *f : fixtures) {
        SCOPED_TRACE(static_cast<int>(f->type));
        bytes px = f->pixels;
        if (f->type == image_type::rgb32)
            for (size_t i = 3; i < px.size(); i += 4)
                px[i] = 0;
        EXPECT_EQ(encode(f->type, f->width, f->height, px), f->encoded);
    }
}

TEST(QuicDecoder, RoundTripsEveryTypeAndPattern) {
    const std::pair<uint32_t, uint32_t> sizes[] = {{1, 1},    {2, 3},    {7, 5},   {64, 64},
                                                   {3000, 3}, {4100, 2}, {300, 40}};
    for (image_type t : all_types)
        for (int pattern = 0; pattern < 4; ++pattern)
            for (auto [w, h] : sizes) {
                SCOPED_TRACE(testing::Message() << static_cast<int>(t) << " pattern " << pattern
                                                << " " << w << "x" << h);
                const bytes px = make_image(t, w, h, pattern, w * 31 + h);
                const bytes enc = encode(t, w, h, px);
                EXPECT_EQ(decode_as(enc, t, w, h), px);
            }
}

TEST(QuicDecoder, NaturalLayoutAndWidening) {
    const bytes px = make_image(image_type::rgb16, 9, 4, 3);
    const bytes enc = encode(image_type::rgb16, 9, 4, px);
    auto img = decode(enc);
    ASSERT_TRUE(img.ok());
    EXPECT_EQ(img->layout, pixel_layout::rgb16);
    EXPECT_EQ(img->stride, 18u);
    EXPECT_EQ(img->pixels, px);
    // rgb16 widened to rgb32 as spice-common's 16_to_32 (v << 3 | v >> 2).
    bytes wide(9 * 4 * 4);
    ASSERT_TRUE(decode(enc, pixel_layout::rgb32, wide, 36).ok());
    for (size_t i = 0; i < 36; ++i) {
        const unsigned v = px[i * 2] | px[i * 2 + 1] << 8;
        auto w8 = [](unsigned c) { return static_cast<uint8_t>(c << 3 | c >> 2); };
        EXPECT_EQ(wide[i * 4 + 0], w8(v & 31));
        EXPECT_EQ(wide[i * 4 + 1], w8((v >> 5) & 31));
        EXPECT_EQ(wide[i * 4 + 2], w8((v >> 10) & 31));
        EXPECT_EQ(wide[i * 4 + 3], 0);
    }
    // rgb24 streams decode into rgb32 too; a padded stride is honoured.
    const bytes px24 = make_image(image_type::rgb24, 5, 3, 1);
    bytes out(3 * 40, 0xee);
    ASSERT_TRUE(decode(encode(image_type::rgb24, 5, 3, px24), pixel_layout::rgb32, out, 40).ok());
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 5; ++x)
            for (int c = 0; c < 3; ++c)
                EXPECT_EQ(out[y * 40 + x * 4 + c], px24[(y * 5 + x) * 3 + c]);
    EXPECT_EQ(out[20], 0xee); // past the row: untouched
}

TEST(QuicDecoder, RejectsBadHeaders) {
    const bytes good = encode(image_type::rgb32, 4, 4, make_image(image_type::rgb32, 4, 4, 0));
    auto with_word = [&](size_t i, uint32_t v) {
        bytes b = good;
        std::memcpy(b.data() + i * 4, &v, 4);
        return b;
    };
    EXPECT_EQ(decode(bytes{}).error(), quic_errc::truncated);
    EXPECT_EQ(decode(bytes(good.begin(), good.begin() + 19)).error(), quic_errc::truncated);
    EXPECT_EQ(decode(with_word(0, 0x43495552)).error(), quic_errc::bad_magic);
    EXPECT_EQ(decode(with_word(1, 1)).error(), quic_errc::bad_version);
    EXPECT_EQ(decode(with_word(2, 0)).error(), quic_errc::bad_type);
    EXPECT_EQ(decode(with_word(2, 6)).error(), quic_errc::bad_type);
    EXPECT_EQ(decode(with_word(3, 0)).error(), quic_errc::bad_size);
    EXPECT_EQ(decode(with_word(4, 0)).error(), quic_errc::bad_size);
    EXPECT_EQ(decode(with_word(3, 0x10000)).error(), quic_errc::too_large);
    EXPECT_EQ(decode(with_word(3, 0xffffffff)).error(), quic_errc::too_large);
    EXPECT_EQ(decode(with_word(4, 0x80000000)).error(), quic_errc::too_large);
    EXPECT_EQ(decode(with_word(4, 0xffff)).error(), quic_errc::truncated); // 4×65535 from 8 words
    bytes huge = with_word(3, 0xffff);
    std::memcpy(huge.data() + 16, "\xff\xff\x00\x00", 4);
    EXPECT_EQ(decode(huge).error(), quic_errc::too_large); // > max_pixels

    bytes out(4 * 4 * 4);
    EXPECT_EQ(decode(good, pixel_layout::gray, out, 4).error(), quic_errc::layout_mismatch);
    EXPECT_EQ(decode(good, pixel_layout::rgb32, out, 15).error(), quic_errc::layout_mismatch);
    EXPECT_EQ(decode(good, pixel_layout::rgb32, std::span(out).first(out.size() - 1), 16).error(),
              quic_errc::layout_mismatch);
    EXPECT_TRUE(decode(good, pixel_layout::rgb32, out, 16).ok());
}

TEST(QuicDecoder, TruncatedStreamsAreErrors) {
    for (image_type t : all_types) {
        const bytes enc = encode(t, 37, 11, make_image(t, 37, 11, 1));
        const bytes runs = encode(t, 37, 11, make_image(t, 37, 11, 3));
        for (const bytes *b : {&enc, &runs}) {
            // The encoder's last word is padding; any shorter cut loses coded bits.
            for (size_t cut = 0; cut < b->size() - 4; ++cut)
                EXPECT_FALSE(decode(bytes(b->begin(), b->begin() + static_cast<long>(cut))).ok())
                    << static_cast<int>(t) << " cut " << cut << " of " << b->size();
            EXPECT_TRUE(decode(bytes(b->begin(), b->end() - 4)).ok());
        }
    }
}

TEST(QuicDecoder, CorruptStreamsNeverCrash) {
    std::mt19937 rng(7);
    for (image_type t : all_types) {
        const bytes enc = encode(t, 40, 20, make_image(t, 40, 20, 3));
        for (int round = 0; round < 300; ++round) {
            bytes b = enc;
            const int flips = 1 + static_cast<int>(rng() % 8);
            for (int i = 0; i < flips; ++i) {
                const size_t bit = 160 + rng() % ((b.size() - 20) * 8);
                b[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
            }
            auto r = decode(b); // an error or some image, never out of bounds
            if (r) {
                EXPECT_EQ(r->pixels.size(), size_t{40} * 20 * bytes_per_pixel(natural_layout(t)));
            }
        }
        // Garbage after a valid header, including all ones (runs that overflow).
        for (int fill : {0x00, 0xff, -1}) {
            bytes b(enc.begin(), enc.begin() + 20);
            for (int i = 0; i < 400; ++i)
                b.push_back(fill < 0 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(fill));
            (void)decode(b);
        }
    }
}

TEST(QuicDecoder, ErrorsHaveMessages) {
    EXPECT_EQ(std::error_code(quic_errc::bad_code).category().name(), std::string("quic"));
    EXPECT_FALSE(std::error_code(quic_errc::truncated).message().empty());
}

} // namespace
