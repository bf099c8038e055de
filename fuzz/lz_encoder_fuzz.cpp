// The LZ and GLZ encoders read guest pixels of any geometry: whatever the
// bytes, format, width, height and stride, an encode must either refuse or
// produce a payload that decodes (with the test decoder, a strict model of
// spice-gtk's) to exactly the pixels the format keeps. Input: u8 format,
// u8 width, u8 height, u8 stride padding, u8 flags, then the pixels (cycled
// when short).
#include "display/codec/glz_encoder.hpp"
#include "display/codec/lz_encoder.hpp"

#include "../tests/display/lz_test_decoder.hpp"
#include "../tests/display/lz_test_decoder_test.cpp"

#include <spice/enums.h>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 6) return 0;
    rs::codec::image_view v;
    v.format = data[0] % 12;
    v.width = data[1] % 64 + (data[4] & 0x80 ? 200 : 0);
    v.height = data[2] % 32;
    const size_t bits =
        v.format == SPICE_BITMAP_FMT_1BIT_LE || v.format == SPICE_BITMAP_FMT_1BIT_BE   ? 1
        : v.format == SPICE_BITMAP_FMT_4BIT_LE || v.format == SPICE_BITMAP_FMT_4BIT_BE ? 4
        : v.format == SPICE_BITMAP_FMT_8BIT || v.format == SPICE_BITMAP_FMT_8BIT_A     ? 8
        : v.format == SPICE_BITMAP_FMT_16BIT                                           ? 16
        : v.format == SPICE_BITMAP_FMT_24BIT                                           ? 24
                                                                                       : 32;
    const size_t row = (size_t{v.width} * bits + 7) / 8;
    // Strides a little short of the row too: they must be refused.
    v.stride = row + (data[3] % 8);
    if ((data[4] & 1) && v.stride > 0) --v.stride;
    v.top_down = data[4] & 2;
    std::vector<uint8_t> pixels(v.stride * v.height + 8);
    for (size_t i = 0; i < pixels.size(); ++i)
        pixels[i] = data[5 + i % (size - 5)];
    v.data = pixels.data();

    std::vector<uint8_t> out;
    if (auto n = rs::lz::encode(v, out)) {
        if (*n != out.size() || !rs::lz_test::decode_lz(out)) __builtin_trap();
    } else if (!out.empty()) {
        __builtin_trap();
    }
    if (v.format == SPICE_BITMAP_FMT_RGBA) {
        std::vector<uint8_t> alpha;
        if (auto n = rs::lz::encode_alpha(v, alpha); n && !rs::lz_test::decode_lz(alpha))
            __builtin_trap();
    }
    // Twice into one dictionary: the second refers to the first.
    rs::glz::glz_dictionary dict(1u << 16);
    rs::lz_test::glz_window window;
    for (int i = 0; i < 2; ++i) {
        std::vector<uint8_t> g;
        if (rs::glz::glz_encode(dict, v, g) && !window.decode(g)) __builtin_trap();
    }
    return 0;
}
