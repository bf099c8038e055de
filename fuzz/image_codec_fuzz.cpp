// Guest pixels of any geometry through the lossy path: the graduality
// classifier and the JPEG encoder must read only the rows the view
// describes (the input buffer is exactly that long), and a stream the
// encoder accepts must decode to the image's size.
//
// Input: u8 format, u8 width, u8 height, u8 flags (bit 0 top_down, bits 1-4
// extra stride bytes), u8 quality, then the pixels (rows are cut to what
// the input holds).
#include "display/codec/image_class.hpp"
#include "display/codec/jpeg_encoder.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <jpeglib.h>

namespace {

uint32_t bpp(uint8_t format) {
    switch (format % 12) {
    case 6:
        return 2; // 16BIT
    case 7:
        return 3; // 24BIT
    case 8:       // 32BIT
    case 9:
        return 4; // RGBA
    default:
        return 1;
    }
}

// Width and height of a JPEG stream, from its frame header (libjpeg).
bool jpeg_size(const std::vector<uint8_t> &s, uint32_t &w, uint32_t &h) {
    jpeg_decompress_struct ci{};
    jpeg_error_mgr err{};
    ci.err = jpeg_std_error(&err); // a stream we made is never invalid: exit is a find
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, s.data(), static_cast<unsigned long>(s.size()));
    const bool ok = jpeg_read_header(&ci, TRUE) == JPEG_HEADER_OK;
    w = ci.image_width;
    h = ci.image_height;
    jpeg_destroy_decompress(&ci);
    return ok;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    const uint8_t format = data[0] % 12;
    const uint32_t width = data[1], height = data[2];
    const size_t stride = size_t{width} * bpp(format) + ((data[3] >> 1) & 0xf);
    const bool top_down = data[3] & 1;
    const int quality = data[4];
    data += 5;
    size -= 5;
    if (width == 0 || height == 0 || stride == 0) return 0;
    // The rows the input holds, and an exact copy so that reading past them is
    // caught by ASan.
    const size_t rows = std::min<size_t>(height, size / stride);
    if (rows == 0) return 0;
    const std::vector<uint8_t> pixels(data, data + rows * stride);
    const rs::codec::image_view v{
        pixels.data(), width, static_cast<uint32_t>(rows), stride, format, top_down, {}, 0};

    (void)rs::image_class::classify(v);

    std::vector<uint8_t> out = {0xAB};
    const auto n = rs::jpeg::encode(v, quality, out);
    if (!n) {
        if (out.size() != 1) __builtin_trap();
        return 0;
    }
    if (*n + 1 != out.size() || *n > rows * stride) __builtin_trap();
    out.erase(out.begin());
    uint32_t w = 0, h = 0;
    if (!jpeg_size(out, w, h) || w != width || h != rows) __builtin_trap();
    return 0;
}
