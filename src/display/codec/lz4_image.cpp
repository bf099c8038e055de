#include "display/codec/lz4_image.hpp"
#include "display/codec/image_view.hpp"

#include <lz4.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace rs::lz4_image {

namespace {

// LZ4_stream_t is 16 KiB; one per thread that encodes, reused across images
// (LZ4_initStream makes each image an independent stream).
LZ4_stream_t &thread_stream() {
    thread_local std::unique_ptr<LZ4_stream_t> stream = std::make_unique<LZ4_stream_t>();
    return *stream;
}

void put_be32(uint8_t *p, uint32_t v) noexcept {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

// Output scratch of one encoding thread: room for a worst-case block,
// uninitialised (a vector would zero megabytes per picture), kept between
// pictures up to keep_bytes so a display shard does not fault fresh pages in
// for every frame.
struct block_scratch {
    static constexpr size_t keep_bytes = size_t{16} << 20;
    std::unique_ptr<uint8_t[]> buf;
    size_t capacity = 0;
    uint8_t *room(size_t bytes) {
        if (capacity < bytes) {
            buf.reset(new uint8_t[bytes]);
            capacity = bytes;
        }
        return buf.get();
    }
    void trim() noexcept {
        if (capacity > keep_bytes) {
            buf.reset();
            capacity = 0;
        }
    }
};
block_scratch &thread_scratch() {
    thread_local block_scratch s;
    return s;
}

// Compresses the packed pixel bytes held by `parts` (in order; their total
// is at least `total`, only the first `total` bytes count) as one LZ4 stream
// of blocks of at most `target_block` bytes, in place: a part is never
// copied. The parts must stay where they are until the last block is done:
// the stream refers back into earlier blocks.
std::optional<size_t> compress_parts(std::span<const std::span<const uint8_t>> parts, size_t total,
                                     uint8_t format, bool top_down, std::vector<uint8_t> &out,
                                     size_t target_block) {
    const size_t start = out.size();
    out.push_back(top_down ? 1 : 0);
    out.push_back(format);

    LZ4_stream_t *stream = LZ4_initStream(&thread_stream(), sizeof(LZ4_stream_t));
    block_scratch &scratch = thread_scratch();
    size_t left = total;
    for (const auto &part : parts) {
        for (size_t off = 0; off < part.size() && left > 0;) {
            const size_t in = std::min(
                {target_block, part.size() - off, left, static_cast<size_t>(LZ4_MAX_INPUT_SIZE)});
            const int bound = LZ4_compressBound(static_cast<int>(in));
            uint8_t *dst = scratch.room(static_cast<size_t>(bound));
            const int n = LZ4_compress_fast_continue(
                stream, reinterpret_cast<const char *>(part.data() + off),
                reinterpret_cast<char *>(dst), static_cast<int>(in), bound, 1);
            if (n <= 0) {
                out.resize(start);
                scratch.trim();
                return std::nullopt;
            }
            const size_t pos = out.size();
            out.resize(pos + 4);
            put_be32(out.data() + pos, static_cast<uint32_t>(n));
            out.insert(out.end(), dst, dst + n);
            off += in;
            left -= in;
        }
    }
    scratch.trim();
    if (left > 0) {
        out.resize(start);
        return std::nullopt;
    }
    return out.size() - start;
}

std::optional<size_t> compress_rows(std::span<const uint8_t> rows, uint8_t format, bool top_down,
                                    std::vector<uint8_t> &out, size_t target_block) {
    const std::span<const uint8_t> one[] = {rows};
    return compress_parts(one, rows.size(), format, top_down, out, target_block);
}

// Bytes of one packed row, or 0 when the geometry cannot be encoded: the
// client only decodes rows of width × bpp, an LZ4 block takes at most
// LZ4_MAX_INPUT_SIZE bytes, and the rows must fit the stride.
size_t row_bytes_for(uint8_t format, uint32_t width, uint32_t height, uint32_t stride) noexcept {
    const uint64_t bpp = bytes_per_pixel(format);
    if (bpp == 0 || width == 0 || height == 0) return 0;
    const uint64_t row = bpp * width;
    if (row > stride || row > static_cast<uint64_t>(LZ4_MAX_INPUT_SIZE)) return 0;
    return static_cast<size_t>(row);
}

} // namespace

uint32_t bytes_per_pixel(uint8_t bitmap_format) noexcept {
    // The formats canvas_get_lz4 accepts are exactly the colour ones.
    return codec::rgb_bytes_per_pixel(bitmap_format);
}

std::optional<size_t> encode(std::span<const uint8_t> pixels, uint8_t format, bool top_down,
                             uint32_t width, uint32_t height, uint32_t stride,
                             std::vector<uint8_t> &out, size_t block_bytes) {
    const size_t row = row_bytes_for(format, width, height, stride);
    if (row == 0) return std::nullopt;
    // The last row needs only its own bytes, not a full stride after it.
    const uint64_t needed = uint64_t{stride} * (height - 1) + row;
    if (needed > pixels.size()) return std::nullopt;
    if (stride == row)
        return compress_rows(pixels.first(row * height), format, top_down, out, block_bytes);
    std::vector<uint8_t> packed(row * height);
    for (size_t y = 0; y < height; ++y)
        std::memcpy(packed.data() + y * row, pixels.data() + y * size_t{stride}, row);
    return compress_rows(packed, format, top_down, out, block_bytes);
}

std::optional<size_t> encode(const draw::bitmap &bmp, std::vector<uint8_t> &out) {
    const bool top_down = (bmp.flags & SPICE_BITMAP_FLAGS_TOP_DOWN) != 0;
    if (bmp.data.parts.size() == 1)
        return encode(bmp.data.parts[0], bmp.format, top_down, bmp.width, bmp.height, bmp.stride,
                      out);

    // Several guest chunks.
    const size_t row = row_bytes_for(bmp.format, bmp.width, bmp.height, bmp.stride);
    if (row == 0) return std::nullopt;
    const uint64_t needed = uint64_t{bmp.stride} * (bmp.height - 1) + row;
    if (needed > bmp.data.size()) return std::nullopt;
    // Packed rows (no padding): the chunks are the pixel stream as it is,
    // compressed where the guest put them, as the reference does.
    if (bmp.stride == row)
        return compress_parts(bmp.data.parts, row * bmp.height, bmp.format, top_down, out,
                              target_block_bytes);
    // Padded rows: gather the packed rows into one buffer first (a row may
    // straddle two chunks).
    std::vector<uint8_t> packed(row * bmp.height);
    size_t part = 0;      // chunk holding logical offset `part_base`
    size_t part_base = 0; // logical offset of the first byte of parts[part]
    for (size_t y = 0; y < bmp.height; ++y) {
        size_t src = y * size_t{bmp.stride}; // logical offset of the row
        size_t done = 0;
        while (done < row) {
            while (src >= part_base + bmp.data.parts[part].size()) {
                part_base += bmp.data.parts[part].size();
                ++part;
            }
            const auto &p = bmp.data.parts[part];
            const size_t n = std::min(row - done, part_base + p.size() - src);
            std::memcpy(packed.data() + y * row + done, p.data() + (src - part_base), n);
            done += n;
            src += n;
        }
    }
    return compress_rows(packed, bmp.format, top_down, out, target_block_bytes);
}

} // namespace rs::lz4_image
