#include "display/codec/jpeg_encoder.hpp"

#include <spice/enums.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio> // jpeglib.h uses FILE and size_t without including their headers
#include <cstring>
#include <new>
#include <stdexcept>

#include <jerror.h>
#include <jpeglib.h>

namespace rs::jpeg {

namespace {

// Rows handed to libjpeg per jpeg_write_scanlines call: one iMCU row at the
// default 4:2:0 sampling (2 × DCTSIZE), so every call does a full row of work.
constexpr JDIMENSION rows_per_call = 16;

// The first output buffer; it doubles while the stream grows.
constexpr size_t min_output_bytes = 16 * 1024;

// How the rows of one SPICE_BITMAP_FMT_* reach libjpeg.
struct input_kind {
    uint32_t bytes_per_pixel;
    J_COLOR_SPACE color_space; // of the rows libjpeg reads
    int components;
    bool widen_16bit; // rows are x1r5g5b5 and are widened to RGB first
};

std::optional<input_kind> input_for(uint8_t format) noexcept {
    // libjpeg-turbo's extended colour spaces read b, g, r(, x) bytes as they
    // are, so 32/24-bit rows go in without a copy. No JCS_* takes 15-bit
    // pixels for compression, so those are widened a batch of rows at a time.
    switch (format) {
    case SPICE_BITMAP_FMT_32BIT:
    case SPICE_BITMAP_FMT_RGBA: // the alpha byte is read as padding
        return input_kind{4, JCS_EXT_BGRX, 4, false};
    case SPICE_BITMAP_FMT_24BIT:
        return input_kind{3, JCS_EXT_BGR, 3, false};
    case SPICE_BITMAP_FMT_16BIT:
        return input_kind{2, JCS_RGB, 3, true};
    default:
        return std::nullopt;
    }
}

// libjpeg reports a fatal error by calling error_exit, which must not return:
// ours longjmps to the setjmp in compress(). The frames it unwinds are
// libjpeg's C frames and our destination callbacks, none of which holds an
// object with a destructor when it raises.
struct error_manager {
    jpeg_error_mgr pub; // first: libjpeg sees only this part
    std::jmp_buf env;
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
    std::longjmp(reinterpret_cast<error_manager *>(cinfo->err)->env, 1);
}

// Warnings (corrupt-data notes for decoders) never stop compression; they
// would only print to stderr.
void on_message(j_common_ptr) {}

// One libjpeg compressor per thread that encodes, reused image after image
// (its tables and work buffers are set up again by each jpeg_start_compress).
// While an encode runs, `out` is the caller's vector: the destination manager
// writes straight into it from `start` on.
struct compressor {
    jpeg_compress_struct cinfo{};
    error_manager err{};
    jpeg_destination_mgr dest{};
    std::vector<uint8_t> *out = nullptr;
    size_t start = 0;          // out->size() when the encode began
    size_t first_bytes = 0;    // the first buffer's size for this image
    std::vector<uint8_t> wide; // rows_per_call rows widened from 16BIT
    bool created = false;

    compressor() = default;
    compressor(const compressor &) = delete;
    compressor &operator=(const compressor &) = delete;
    ~compressor() {
        if (created) jpeg_destroy_compress(&cinfo);
    }
};

compressor &owner(j_compress_ptr cinfo) { return *static_cast<compressor *>(cinfo->client_data); }

// Raised from our own callbacks: straight back to compress(), as on_error.
[[noreturn]] void fail_out_of_memory(j_compress_ptr cinfo) {
    cinfo->err->msg_code = JERR_OUT_OF_MEMORY;
    on_error(reinterpret_cast<j_common_ptr>(cinfo));
}

// Makes room after the `used` bytes of stream written so far and points the
// destination there. False when the vector cannot grow.
bool grow(compressor &c, size_t used) noexcept {
    const size_t more = std::max(used, c.first_bytes);
    try {
        c.out->resize(c.start + used + more);
    } catch (const std::bad_alloc &) {
        return false;
    } catch (const std::length_error &) {
        return false;
    }
    c.dest.next_output_byte = c.out->data() + c.start + used;
    c.dest.free_in_buffer = more;
    return true;
}

void init_destination(j_compress_ptr cinfo) {
    if (!grow(owner(cinfo), 0)) fail_out_of_memory(cinfo);
}

// Called when the buffer is full; everything in it is stream.
boolean empty_output_buffer(j_compress_ptr cinfo) {
    compressor &c = owner(cinfo);
    if (!grow(c, c.out->size() - c.start)) fail_out_of_memory(cinfo);
    return TRUE;
}

void term_destination(j_compress_ptr cinfo) {
    compressor &c = owner(cinfo);
    c.out->resize(c.out->size() - c.dest.free_in_buffer);
}

bool create(compressor &c) {
    c.cinfo.err = jpeg_std_error(&c.err.pub);
    c.err.pub.error_exit = on_error;
    c.err.pub.output_message = on_message;
    if (setjmp(c.err.env)) return false;
    jpeg_create_compress(&c.cinfo);
    c.created = true;
    c.cinfo.client_data = &c;
    c.dest.init_destination = init_destination;
    c.dest.empty_output_buffer = empty_output_buffer;
    c.dest.term_destination = term_destination;
    c.cinfo.dest = &c.dest;
    return true;
}

compressor *thread_compressor() {
    thread_local compressor c;
    if (!c.created && !create(c)) return nullptr;
    return &c;
}

// Row `y` of the image as it looks (0 = top) in memory.
const uint8_t *visual_row(const codec::image_view &img, JDIMENSION y) noexcept {
    const size_t r = img.top_down ? y : img.height - 1 - y;
    return img.row(r);
}

// x1r5g5b5 to r, g, b bytes; a 5-bit channel v becomes v << 3 | v >> 2, so
// 0 stays 0 and 31 becomes 255 (the reference widens the same way).
void widen_16bit(const uint8_t *src, uint8_t *dst, uint32_t width) noexcept {
    for (uint32_t x = 0; x < width; ++x) {
        uint16_t p;
        std::memcpy(&p, src + 2 * size_t{x}, 2);
        const unsigned r = (p >> 10) & 0x1f, g = (p >> 5) & 0x1f, b = p & 0x1f;
        dst[0] = static_cast<uint8_t>(r << 3 | r >> 2);
        dst[1] = static_cast<uint8_t>(g << 3 | g >> 2);
        dst[2] = static_cast<uint8_t>(b << 3 | b >> 2);
        dst += 3;
    }
}

// The body of one encode, between jpeg_start_compress and
// jpeg_finish_compress. Any libjpeg error longjmps out of it to compress().
bool write_image(compressor &c, const codec::image_view &img, int quality, const input_kind &in) {
    jpeg_compress_struct &ci = c.cinfo;
    ci.image_width = img.width;
    ci.image_height = img.height;
    ci.input_components = in.components;
    ci.in_color_space = in.color_space;
    jpeg_set_defaults(&ci); // baseline, YCbCr 4:2:0, standard Huffman tables
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);

    JSAMPROW rows[rows_per_call];
    while (ci.next_scanline < ci.image_height) {
        const JDIMENSION first = ci.next_scanline;
        const JDIMENSION n = std::min(rows_per_call, ci.image_height - first);
        for (JDIMENSION i = 0; i < n; ++i) {
            const uint8_t *src = visual_row(img, first + i);
            if (in.widen_16bit) {
                uint8_t *dst = c.wide.data() + size_t{i} * img.width * 3;
                widen_16bit(src, dst, img.width);
                rows[i] = dst;
            } else {
                // libjpeg's row type is non-const; it only reads input rows.
                rows[i] = const_cast<JSAMPROW>(src);
            }
        }
        // The destination never suspends, so libjpeg takes every row given;
        // no progress would mean a broken invariant, not a retry.
        if (jpeg_write_scanlines(&ci, rows, n) == 0) return false;
    }
    jpeg_finish_compress(&ci);
    return true;
}

// Runs write_image under the error handler. No local here changes after
// setjmp, so nothing is clobbered by the longjmp back.
bool compress(compressor &c, const codec::image_view &img, int quality, const input_kind &in) {
    if (setjmp(c.err.env)) {
        jpeg_abort_compress(&c.cinfo); // back to the idle state, ready for the next image
        return false;
    }
    if (write_image(c, img, quality, in)) return true;
    jpeg_abort_compress(&c.cinfo);
    return false;
}

} // namespace

std::optional<size_t> encode(const codec::image_view &img, int quality, std::vector<uint8_t> &out) {
    const std::optional<input_kind> in = input_for(img.format);
    if (!in || !img.has_pixels()) return std::nullopt;
    if (img.width == 0 || img.height == 0 || img.width > max_dimension ||
        img.height > max_dimension)
        return std::nullopt;
    if (uint64_t{img.width} * in->bytes_per_pixel > img.stride) return std::nullopt;

    compressor *c = thread_compressor();
    if (c == nullptr) return std::nullopt;
    if (in->widen_16bit) {
        try {
            c->wide.resize(size_t{rows_per_call} * img.width * 3);
        } catch (const std::bad_alloc &) {
            return std::nullopt;
        }
    }

    const size_t start = out.size();
    c->out = &out;
    c->start = start;
    // About a photo's size at quality 85 (~1 bit per pixel); doubling covers
    // the rest.
    c->first_bytes = std::max(min_output_bytes, size_t{img.width} * img.height / 8);
    const bool ok = compress(*c, img, std::clamp(quality, 1, 100), *in);
    c->out = nullptr;
    if (!ok) {
        out.resize(start);
        return std::nullopt;
    }
    const size_t size = out.size() - start;
    // The reference drops a lossy image that came out larger than the raw one.
    if (size > uint64_t{img.height} * img.stride) {
        out.resize(start);
        return std::nullopt;
    }
    return size;
}

} // namespace rs::jpeg
