// Test helper: a fake guest RAM. One page-aligned buffer is mapped as one
// memslot, the way QEMU maps the QXL device's RAM, and small builders lay QXL
// structures into it and answer their QXLPHYSICAL addresses. Used by the
// parser tests and by fuzz/qxl_parser_fuzz.cpp (which adopts its input as the
// buffer), so the seeds written by the tests decode the same way there.
//
// Byte 0 of the buffer is guest address guest_base in slot `slot`, generation
// `generation`, of memslot group `group`. The first header_size bytes are
// never allocated: the fuzz target reads its command from them, and no
// structure ever sits at an address that could be mistaken for null.
#pragma once

#include "display/memslot.hpp"

#include <spice.h>
#include <spice/qxl_dev.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define RS_GUEST_MEMORY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RS_GUEST_MEMORY_ASAN 1
#endif
#endif
#ifdef RS_GUEST_MEMORY_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace rs::testing {

/// Fake guest RAM for QXL parser tests: owns one page-aligned buffer that is
/// never reallocated (the memslot holds its address). Test-thread only.
class guest_memory {
  public:
    // Geometry as QEMU's qxl device: 2 groups (host, guest), 8 slots,
    // 8 generation and 8 slot id bits, 1024 surfaces.
    static constexpr uint32_t num_groups = 2;
    static constexpr uint32_t num_slots = 8;
    static constexpr uint8_t gen_bits = 8;
    static constexpr uint8_t id_bits = 8;
    static constexpr uint32_t n_surfaces = 1024;
    static constexpr uint32_t group = 1;
    static constexpr uint32_t slot = 1;
    static constexpr uint32_t generation = 1;
    static constexpr uint64_t guest_base = 0x100000;
    static constexpr size_t header_size = 64;

    /// The fuzz target's command, stored in the first bytes of the buffer.
    struct fuzz_header {
        uint8_t type;  ///< QXL_CMD_*
        uint8_t flags; ///< QXLCommandExt::flags
        uint16_t reserved;
        uint32_t offset; ///< the command's offset in the buffer
    };

    explicit guest_memory(size_t size = 1u << 20)
        : _size(size) {
        allocate();
        std::memset(_mem.get(), 0, _size);
        _next = header_size;
    }

    /// Adopts `bytes` as the whole of guest RAM (the fuzz target's input).
    explicit guest_memory(std::span<const uint8_t> bytes)
        : _size(bytes.size()) {
        allocate();
        if (!bytes.empty()) std::memcpy(_mem.get(), bytes.data(), bytes.size());
        _next = _size;
    }

    guest_memory(const guest_memory &) = delete;
    guest_memory &operator=(const guest_memory &) = delete;

    static QXLDevInitInfo init_info() {
        QXLDevInitInfo i{};
        i.num_memslots_groups = num_groups;
        i.num_memslots = num_slots;
        i.memslot_gen_bits = gen_bits;
        i.memslot_id_bits = id_bits;
        i.internal_groupslot_id = 0;
        i.qxl_ram_size = 0;
        i.n_surfaces = n_surfaces;
        return i;
    }

    /// The slot as QEMU would describe it: host range of the buffer, and a
    /// delta that maps guest_base onto its first byte.
    QXLDevMemSlot mem_slot() const {
        QXLDevMemSlot s{};
        s.slot_group_id = group;
        s.slot_id = slot;
        s.generation = generation;
        s.virt_start = reinterpret_cast<uintptr_t>(_mem.get());
        s.virt_end = s.virt_start + _size;
        s.addr_delta = s.virt_start - guest_base;
        return s;
    }

    /// A table with this buffer mapped.
    memslot_table table() const {
        memslot_table t(init_info());
        t.add(group, slot, mem_slot());
        return t;
    }

    /// The guest address of byte `offset`, with this slot's id and generation.
    static QXLPHYSICAL phys(size_t offset, uint64_t slot_id = slot, uint64_t gen = generation) {
        return (slot_id << (64 - id_bits)) | (gen << (64 - id_bits - gen_bits)) |
               (guest_base + offset);
    }
    static size_t offset_of(QXLPHYSICAL a) {
        return size_t((a & (~uint64_t{0} >> (id_bits + gen_bits))) - guest_base);
    }

    uint8_t *host(QXLPHYSICAL a) { return _mem.get() + offset_of(a); }
    std::span<const uint8_t> bytes() const { return {_mem.get(), _size}; }
    /// Bytes used so far (header included): what a seed file needs.
    std::span<const uint8_t> used() const { return {_mem.get(), _next}; }

    QXLPHYSICAL alloc(size_t n, size_t align = 8) {
        size_t at = (_next + align - 1) / align * align;
        if (at + n > _size) throw std::length_error("guest_memory full");
        _next = at + n;
        return phys(at);
    }

    QXLPHYSICAL put_bytes(std::span<const uint8_t> b, size_t align = 8) {
        QXLPHYSICAL a = alloc(b.size(), align);
        if (!b.empty()) std::memcpy(host(a), b.data(), b.size());
        return a;
    }

    template <typename T> QXLPHYSICAL put(const T &v) {
        QXLPHYSICAL a = alloc(sizeof(T));
        std::memcpy(host(a), &v, sizeof(T));
        return a;
    }
    template <typename T> void set(QXLPHYSICAL a, const T &v) {
        std::memcpy(host(a), &v, sizeof(T));
    }
    template <typename T> T get(QXLPHYSICAL a) {
        T v;
        std::memcpy(&v, host(a), sizeof(T));
        return v;
    }

    /// Splits data into `pieces` nearly equal parts (the last takes the rest).
    static std::vector<std::span<const uint8_t>> split(std::span<const uint8_t> data,
                                                       size_t pieces) {
        pieces = std::max<size_t>(pieces, 1);
        std::vector<std::span<const uint8_t>> parts;
        const size_t each = data.size() / pieces;
        for (size_t i = 0; i < pieces; ++i) {
            const size_t n = i + 1 == pieces ? data.size() - each * i : each;
            parts.push_back(data.subspan(each * i, n));
        }
        return parts;
    }

    /// `head` with its embedded QXLDataChunk (at chunk_offset) carrying data
    /// in `pieces` chunks: the first in place after the header, the others
    /// linked through next_chunk/prev_chunk. Returns the address of head.
    template <typename T>
    QXLPHYSICAL put_chained(const T &head, size_t chunk_offset, std::span<const uint8_t> data,
                            size_t pieces = 1) {
        const auto parts = split(data, pieces);
        const size_t data_at = chunk_offset + sizeof(QXLDataChunk);
        const QXLPHYSICAL at = alloc(std::max(sizeof(T), data_at + parts[0].size()));
        std::memcpy(host(at), &head, sizeof(T));
        std::vector<QXLPHYSICAL> chunk_addrs{at + chunk_offset};
        for (size_t i = 1; i < parts.size(); ++i)
            chunk_addrs.push_back(alloc(sizeof(QXLDataChunk) + parts[i].size()));
        for (size_t i = 0; i < parts.size(); ++i) {
            QXLDataChunk c{};
            c.data_size = uint32_t(parts[i].size());
            c.prev_chunk = i == 0 ? 0 : chunk_addrs[i - 1];
            c.next_chunk = i + 1 < parts.size() ? chunk_addrs[i + 1] : 0;
            std::memcpy(host(chunk_addrs[i]), &c, sizeof c);
            if (!parts[i].empty())
                std::memcpy(host(chunk_addrs[i]) + sizeof c, parts[i].data(), parts[i].size());
        }
        return at;
    }

    /// A free-standing chunk chain (as QXLBitmap::data without DIRECT).
    QXLPHYSICAL chain(std::span<const uint8_t> data, size_t pieces = 1) {
        return put_chained(QXLDataChunk{}, 0, data, pieces);
    }

    QXLPHYSICAL palette(const std::vector<uint32_t> &ents, uint64_t unique = 0) {
        QXLPalette p{};
        p.unique = unique;
        p.num_ents = uint16_t(ents.size());
        const QXLPHYSICAL a = alloc(sizeof p + ents.size() * 4);
        std::memcpy(host(a), &p, sizeof p);
        if (!ents.empty()) std::memcpy(host(a) + sizeof p, ents.data(), ents.size() * 4);
        return a;
    }

    struct bitmap_opts {
        uint8_t qxl_flags = 0; ///< QXL_BITMAP_DIRECT, _TOP_DOWN, ...
        QXLPHYSICAL palette = 0;
        size_t pieces = 1; ///< chunks (when not DIRECT)
        uint64_t id = 0;
        uint8_t image_flags = 0;
    };

    /// A SPICE_IMAGE_TYPE_BITMAP image holding `pixels` (height × stride).
    QXLPHYSICAL bitmap_image(uint8_t format, uint32_t w, uint32_t h, uint32_t stride,
                             std::span<const uint8_t> pixels, const bitmap_opts &o) {
        QXLPHYSICAL data =
            (o.qxl_flags & QXL_BITMAP_DIRECT) ? put_bytes(pixels) : chain(pixels, o.pieces);
        QXLImage img{};
        img.descriptor.id = o.id;
        img.descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
        img.descriptor.flags = o.image_flags;
        img.descriptor.width = w;
        img.descriptor.height = h;
        img.bitmap.format = format;
        img.bitmap.flags = o.qxl_flags;
        img.bitmap.x = w;
        img.bitmap.y = h;
        img.bitmap.stride = stride;
        img.bitmap.palette = o.palette;
        img.bitmap.data = data;
        return put(img);
    }
    QXLPHYSICAL bitmap_image(uint8_t format, uint32_t w, uint32_t h, uint32_t stride,
                             std::span<const uint8_t> pixels) {
        return bitmap_image(format, w, h, stride, pixels, bitmap_opts{});
    }

    /// A 32 bpp bitmap of w × h filled with `fill`.
    QXLPHYSICAL bitmap32(uint32_t w, uint32_t h, uint8_t fill = 0x5a, size_t pieces = 1) {
        std::vector<uint8_t> px(size_t{w} * h * 4, fill);
        bitmap_opts o;
        o.pieces = pieces;
        return bitmap_image(SPICE_BITMAP_FMT_32BIT, w, h, w * 4, px, o);
    }

    QXLPHYSICAL quic_image(uint32_t w, uint32_t h, std::span<const uint8_t> data,
                           size_t pieces = 1) {
        QXLImage img{};
        img.descriptor.type = SPICE_IMAGE_TYPE_QUIC;
        img.descriptor.width = w;
        img.descriptor.height = h;
        img.quic.data_size = uint32_t(data.size());
        return put_chained(img, offsetof(QXLImage, quic) + sizeof(QXLQUICData), data, pieces);
    }

    QXLPHYSICAL surface_image(uint32_t surface_id) {
        QXLImage img{};
        img.descriptor.type = SPICE_IMAGE_TYPE_SURFACE;
        img.surface_image.surface_id = surface_id;
        return put(img);
    }

    QXLPHYSICAL clip_rects(const std::vector<QXLRect> &rects, size_t pieces = 1) {
        QXLClipRects c{};
        c.num_rects = uint32_t(rects.size());
        std::span<const uint8_t> data(reinterpret_cast<const uint8_t *>(rects.data()),
                                      rects.size() * sizeof(QXLRect));
        return put_chained(c, offsetof(QXLClipRects, chunk), data, pieces);
    }

    /// A QXLPath of segments given as (flags, points).
    QXLPHYSICAL path(const std::vector<std::pair<uint32_t, std::vector<QXLPointFix>>> &segs,
                     size_t pieces = 1) {
        std::vector<uint8_t> data;
        for (const auto &[flags, pts] : segs) {
            QXLPathSeg s{};
            s.flags = flags;
            s.count = uint32_t(pts.size());
            append(data, &s, sizeof s);
            append(data, pts.data(), pts.size() * sizeof(QXLPointFix));
        }
        QXLPath p{};
        p.data_size = uint32_t(data.size());
        return put_chained(p, offsetof(QXLPath, chunk), data, pieces);
    }

    struct glyph_spec {
        int32_t x, y;
        uint16_t w, h;
        uint8_t fill;
    };

    /// A QXLString of glyphs at `bpp` (1, 4 or 8) bits per pixel.
    QXLPHYSICAL string(uint16_t flags, unsigned bpp, const std::vector<glyph_spec> &glyphs,
                       size_t pieces = 1) {
        std::vector<uint8_t> data;
        for (const auto &g : glyphs) {
            QXLRasterGlyph r{};
            r.render_pos.x = g.x;
            r.render_pos.y = g.y;
            r.glyph_origin.x = 0;
            r.glyph_origin.y = -int32_t(g.h);
            r.width = g.w;
            r.height = g.h;
            append(data, &r, sizeof r);
            data.insert(data.end(), size_t{g.h} * ((size_t{g.w} * bpp + 7) / 8), g.fill);
        }
        QXLString s{};
        s.data_size = uint32_t(data.size());
        s.length = uint16_t(glyphs.size());
        s.flags = flags;
        return put_chained(s, offsetof(QXLString, chunk), data, pieces);
    }

    QXLPHYSICAL cursor_shape(uint16_t type, uint16_t w, uint16_t h, std::span<const uint8_t> data,
                             size_t pieces = 1, uint64_t unique = 0) {
        QXLCursor c{};
        c.header.unique = unique;
        c.header.type = type;
        c.header.width = w;
        c.header.height = h;
        c.header.hot_spot_x = uint16_t(w / 2);
        c.header.hot_spot_y = uint16_t(h / 2);
        c.data_size = uint32_t(data.size());
        return put_chained(c, offsetof(QXLCursor, chunk), data, pieces);
    }

    /// A QXLDrawable with no clip, no dependencies, effect OPAQUE, the given
    /// type and bbox; the caller fills in the union.
    static QXLDrawable drawable(uint8_t type, QXLRect bbox) {
        QXLDrawable d{};
        d.type = type;
        d.effect = QXL_EFFECT_OPAQUE;
        d.bbox = bbox;
        d.clip.type = SPICE_CLIP_TYPE_NONE;
        for (size_t i = 0; i < 3; ++i)
            d.surfaces_dest[i] = -1;
        return d;
    }

    static QXLRect rect(int32_t l, int32_t t, int32_t r, int32_t b) {
        QXLRect x{};
        x.left = l;
        x.top = t;
        x.right = r;
        x.bottom = b;
        return x;
    }

    static QXLCommandExt command(uint32_t type, QXLPHYSICAL addr, uint32_t flags = 0) {
        QXLCommandExt c{};
        c.cmd.data = addr;
        c.cmd.type = type;
        c.group_id = group;
        c.flags = flags;
        return c;
    }

    /// Stores the command in the header, as the fuzz target expects it.
    void set_fuzz_command(uint32_t type, QXLPHYSICAL addr, uint32_t flags = 0) {
        fuzz_header h{};
        h.type = uint8_t(type);
        h.flags = uint8_t(flags);
        h.offset = uint32_t(offset_of(addr));
        std::memcpy(_mem.get(), &h, sizeof h);
    }

    /// The command the header describes (the fuzz target's reading of it).
    std::optional<QXLCommandExt> fuzz_command() const {
        if (_size < sizeof(fuzz_header)) return std::nullopt;
        fuzz_header h;
        std::memcpy(&h, _mem.get(), sizeof h);
        return command(h.type, phys(h.offset), h.flags);
    }

  private:
    struct free_deleter {
        size_t size;
        size_t rounded;
        void operator()(uint8_t *p) const noexcept {
#ifdef RS_GUEST_MEMORY_ASAN
            ASAN_UNPOISON_MEMORY_REGION(p + size, rounded - size);
#endif
            std::free(p);
        }
    };

    static constexpr size_t page = 4096;

    void allocate() {
        const size_t rounded = std::max<size_t>(page, (_size + page - 1) / page * page);
        auto *p = static_cast<uint8_t *>(std::aligned_alloc(page, rounded));
        if (p == nullptr) throw std::bad_alloc();
        _mem = std::unique_ptr<uint8_t[], free_deleter>(p, free_deleter{_size, rounded});
#ifdef RS_GUEST_MEMORY_ASAN
        // Bytes past the slot's end are poisoned, so a read beyond the slot
        // is caught even though the page rounding made them addressable.
        ASAN_POISON_MEMORY_REGION(p + _size, rounded - _size);
#endif
    }

    static void append(std::vector<uint8_t> &v, const void *p, size_t n) {
        const auto *b = static_cast<const uint8_t *>(p);
        v.insert(v.end(), b, b + n);
    }

    size_t _size;
    std::unique_ptr<uint8_t[], free_deleter> _mem;
    size_t _next = 0;
};

} // namespace rs::testing
