// A hostile guest against one QXL device on its display shard: thousands of
// commands, valid ones mixed with random addresses, sizes, chunk cycles,
// surface ids and bytes, fed through a fake QXLInterface exactly as a VMM
// feeds the real one. The guest RAM is one memslot of mmap'd memory between
// two PROT_NONE pages, so a read outside the slot faults even without ASan.
//
// The specification: the device survives it, hands every command it took
// back through release_resource exactly once (except those whose own address
// does not translate: those it cannot release), and keeps serving: a last,
// valid fill renders and update_area returns.
#include "display/qxl_device.hpp"

#include "display/fake_qxl_interface.hpp"
#include "display/guest_memory.hpp"
#include "display/qxl_parser.hpp"
#include "runtime/cross_shard.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace {

using rs::testing::fake_qxl_interface;
using rs::testing::guest_memory;

constexpr uint32_t primary_side = 256;
constexpr size_t primary_bytes = size_t{primary_side} * primary_side * 4;
/// Where the commands of a batch are built (guest_memory's buffer is copied here).
constexpr size_t builder_bytes = size_t{1} << 20;
/// The whole memslot: the builder area, then the primary surface up to its end.
constexpr size_t slot_bytes = builder_bytes + primary_bytes;
constexpr size_t primary_offset = builder_bytes;
constexpr uint32_t n_surfaces = 64;
constexpr uint64_t seed = 0x5eedc0ffee123457ull;

constexpr int display_commands = 5000;
constexpr int batch_size = 50;
constexpr auto batch_timeout = std::chrono::seconds(20);

/// Geometry as QEMU's qxl device: 2 groups x 8 slots, 8 generation and 8
/// slot id bits (guest_memory's builders address group 1, slot 1); 64 surfaces.
QXLDevInitInfo init_info() {
    QXLDevInitInfo i = guest_memory::init_info();
    i.n_surfaces = n_surfaces;
    return i;
}

/// A guest address from its parts: slot id, generation, 48 address bits.
QXLPHYSICAL make_address(uint64_t slot_id, uint64_t gen, uint64_t low) {
    return (slot_id << 56) | ((gen & 0xff) << 48) | (low & ((uint64_t{1} << 48) - 1));
}
QXLPHYSICAL slot_address(uint64_t offset) {
    return make_address(guest_memory::slot, guest_memory::generation,
                        guest_memory::guest_base + offset);
}

/// slot_bytes of read-write memory with a PROT_NONE page on each side.
class guarded_slot {
  public:
    guarded_slot()
        : _page(size_t(sysconf(_SC_PAGESIZE)))
        , _total(slot_bytes + 2 * _page) {
        if (slot_bytes % _page != 0) throw std::logic_error("slot is not a whole number of pages");
        void *p = mmap(nullptr, _total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
        _base = static_cast<uint8_t *>(p);
        if (mprotect(_base + _page, slot_bytes, PROT_READ | PROT_WRITE) != 0)
            throw std::system_error(errno, std::generic_category(), "mprotect");
    }
    ~guarded_slot() { munmap(_base, _total); }
    guarded_slot(const guarded_slot &) = delete;
    guarded_slot &operator=(const guarded_slot &) = delete;

    uint8_t *data() const noexcept { return _base + _page; }

    /// The slot as QEMU describes it: guest_base maps onto data().
    QXLDevMemSlot mem_slot() const {
        QXLDevMemSlot s{};
        s.slot_group_id = guest_memory::group;
        s.slot_id = guest_memory::slot;
        s.generation = guest_memory::generation;
        s.virt_start = reinterpret_cast<uintptr_t>(data());
        s.virt_end = s.virt_start + slot_bytes;
        s.addr_delta = s.virt_start - guest_memory::guest_base;
        return s;
    }

    QXLDevSurfaceCreate primary() const {
        QXLDevSurfaceCreate c{};
        c.width = primary_side;
        c.height = primary_side;
        c.stride = int32_t(primary_side * 4);
        c.format = SPICE_SURFACE_FMT_32_xRGB;
        c.mem = slot_address(primary_offset);
        c.group_id = guest_memory::group;
        return c;
    }

  private:
    size_t _page;
    size_t _total;
    uint8_t *_base = nullptr;
};

/// splitmix64: deterministic on every platform, unlike <random>'s distributions.
class random_source {
  public:
    explicit random_source(uint64_t s)
        : _s(s) {}
    uint64_t next() {
        uint64_t z = (_s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }
    int32_t between(int32_t lo, int32_t hi) { return lo + int32_t(below(uint64_t(hi - lo) + 1)); }
    bool one_in(uint64_t n) { return below(n) == 0; }

  private:
    uint64_t _s;
};

/// A command handed to the device, and whether the device can release it.
struct sent_command {
    QXLCommandExt cmd{};
    bool cursor = false;
    /// Its QXLReleaseInfo translates; then this is where the info lives.
    std::optional<size_t> release_offset;
};

/// The guest: builds each batch of commands in guest_memory, then copies it
/// into the slot while the device is idle (a batch is drained before the next
/// one is written, so the test thread and the shard never touch the slot at
/// the same time).
class hostile_guest {
  public:
    hostile_guest(uint64_t s, guarded_slot &slot)
        : _r(s)
        , _slot(slot) {}

    std::vector<sent_command> batch(int n) {
        begin();
        std::vector<sent_command> out;
        for (int i = 0; i < n; ++i) {
            out.push_back(display_command());
            if (_r.one_in(6)) out.push_back(cursor_command());
        }
        commit();
        return out;
    }

    /// One valid fill of `colour` over `area` of the primary.
    sent_command final_fill(QXLRect area, uint32_t colour) {
        begin();
        sent_command s = releasable(QXL_CMD_DRAW, fill(0, area, colour));
        commit();
        return s;
    }

    int bad_addresses() const noexcept { return _bad_addresses; }

  private:
    // ---- the batch's memory -------------------------------------------------

    void begin() {
        _g.emplace(builder_bytes);
        _pool.clear();
        _tail.clear();
    }
    void commit() {
        const auto used = _g->used();
        std::memcpy(_slot.data(), used.data(), used.size());
        for (const auto &[offset, bytes] : _tail)
            std::memcpy(_slot.data() + offset, bytes.data(), bytes.size());
    }
    guest_memory &g() { return *_g; }

    sent_command releasable(uint32_t type, QXLPHYSICAL at, bool cursor = false) {
        sent_command s;
        s.cmd = guest_memory::command(type, at, flags());
        s.cursor = cursor;
        s.release_offset = guest_memory::offset_of(at);
        return s;
    }
    uint32_t flags() {
        // Mostly none; now and then the compat bits of revision 1 drivers.
        return _r.one_in(10) ? uint32_t(_r.below(4)) : 0;
    }

    // ---- random values -------------------------------------------------------

    uint32_t dimension() {
        switch (_r.below(8)) {
        case 0:
            return 0;
        case 1:
            return 1;
        case 2:
            return 0xffff;
        case 3:
            return 0x7fffffff;
        case 4:
            return 0xffffffff;
        case 5:
            return uint32_t(_r.next());
        default:
            return uint32_t(_r.below(300));
        }
    }
    int32_t coordinate() {
        switch (_r.below(6)) {
        case 0:
            return int32_t(uint32_t(_r.next()));
        case 1:
            return std::numeric_limits<int32_t>::min();
        case 2:
            return std::numeric_limits<int32_t>::max();
        default:
            return _r.between(-40, 300);
        }
    }
    QXLRect any_rect() {
        return guest_memory::rect(coordinate(), coordinate(), coordinate(), coordinate());
    }
    QXLRect rect_on_primary() {
        const int32_t l = _r.between(-8, 250), t = _r.between(-8, 250);
        return guest_memory::rect(l, t, l + _r.between(1, 64), t + _r.between(1, 64));
    }
    uint32_t surface_id() {
        switch (_r.below(8)) {
        case 0:
            return n_surfaces + uint32_t(_r.below(4));
        case 1:
            return uint32_t(_r.next());
        case 2:
            return 0xffffffff;
        case 3:
        case 4:
            return 0;
        default:
            return uint32_t(_r.below(n_surfaces));
        }
    }
    uint32_t offscreen_id() { return 1 + uint32_t(_r.below(n_surfaces - 1)); }

    /// An address that does not translate in group 1, in one of the ways a
    /// guest gets it wrong.
    QXLPHYSICAL bad_address() {
        const uint64_t base = guest_memory::guest_base;
        switch (_r.below(6)) {
        case 0: { // a slot that is not mapped, or out of range
            uint64_t id = _r.below(256);
            if (id == guest_memory::slot) id = 0;
            return make_address(id, guest_memory::generation, base + _r.below(slot_bytes));
        }
        case 1: { // a stale generation
            uint64_t gen = _r.below(256);
            if (gen == guest_memory::generation) gen = 2;
            return make_address(guest_memory::slot, gen, base + _r.below(slot_bytes));
        }
        case 2: // straddling the slot's end, or past it
            return slot_address(slot_bytes - 7 + _r.below(1u << 20));
        case 3: // below the slot
            return make_address(guest_memory::slot, guest_memory::generation,
                                base - 1 - _r.below(base));
        case 4: // the top of the address space
            return make_address(guest_memory::slot, guest_memory::generation,
                                (uint64_t{1} << 48) - 1 - _r.below(64));
        default:
            return 0;
        }
    }
    /// An address somewhere in the slot, whatever lies there.
    QXLPHYSICAL address_in_slot() { return slot_address(_r.below(slot_bytes)); }
    /// Any address a hostile guest could write: a valid object of this batch,
    /// somewhere in the slot, or nowhere.
    QXLPHYSICAL any_address() {
        switch (_r.below(6)) {
        case 0:
        case 1:
            if (!_pool.empty()) return _pool[_r.below(_pool.size())];
            return address_in_slot();
        case 2:
            return address_in_slot();
        case 3:
            return slot_address(slot_bytes - 1 - _r.below(64)); // near the end
        case 4:
            return bad_address();
        default:
            return _r.next();
        }
    }
    uint64_t word() {
        switch (_r.below(5)) {
        case 0:
        case 1:
            return any_address();
        case 2:
            return _r.below(300);
        case 3:
            return _r.next();
        default:
            return 0;
        }
    }
    std::vector<uint8_t> random_bytes(size_t n) {
        std::vector<uint8_t> b(n);
        for (auto &x : b)
            x = uint8_t(_r.next());
        return b;
    }

    // ---- valid objects -----------------------------------------------------------

    QXLPHYSICAL fill(uint32_t sid, QXLRect bbox, uint32_t colour) {
        auto d = guest_memory::drawable(QXL_DRAW_FILL, bbox);
        d.surface_id = sid;
        d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
        d.u.fill.brush.u.color = colour;
        d.u.fill.rop_descriptor = SPICE_ROPD_OP_PUT;
        return g().put(d);
    }
    QXLPHYSICAL copy(uint32_t sid, QXLRect bbox, QXLPHYSICAL src, QXLRect src_area) {
        auto d = guest_memory::drawable(QXL_DRAW_COPY, bbox);
        d.surface_id = sid;
        d.u.copy.src_bitmap = src;
        d.u.copy.src_area = src_area;
        d.u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
        return g().put(d);
    }
    QXLPHYSICAL bitmap(uint32_t w, uint32_t h) {
        guest_memory::bitmap_opts o;
        o.pieces = 1 + _r.below(3);
        if (_r.one_in(4)) o.qxl_flags |= QXL_BITMAP_DIRECT;
        if (_r.one_in(2)) o.qxl_flags |= QXL_BITMAP_TOP_DOWN;
        const auto px = random_bytes(size_t{w} * h * 4);
        return g().bitmap_image(SPICE_BITMAP_FMT_32BIT, w, h, w * 4, px, o);
    }
    QXLPHYSICAL valid_copy() {
        const uint32_t w = 1 + uint32_t(_r.below(32)), h = 1 + uint32_t(_r.below(32));
        const int32_t l = _r.between(-8, 250), t = _r.between(-8, 250);
        return copy(_r.one_in(4) ? offscreen_id() : 0,
                    guest_memory::rect(l, t, l + int32_t(w), t + int32_t(h)), bitmap(w, h),
                    guest_memory::rect(0, 0, int32_t(w), int32_t(h)));
    }
    QXLPHYSICAL surface_copy() {
        const auto area = rect_on_primary();
        return copy(_r.one_in(3) ? offscreen_id() : 0, area,
                    g().surface_image(_r.one_in(2) ? 0 : offscreen_id()), area);
    }
    QXLPHYSICAL surface_create(uint32_t sid, uint32_t format, uint32_t w, uint32_t h,
                               int32_t stride, QXLPHYSICAL data) {
        QXLSurfaceCmd s{};
        s.surface_id = sid;
        s.type = QXL_SURFACE_CMD_CREATE;
        s.u.surface_create.format = format;
        s.u.surface_create.width = w;
        s.u.surface_create.height = h;
        s.u.surface_create.stride = stride;
        s.u.surface_create.data = data;
        return g().put(s);
    }
    QXLPHYSICAL valid_surface_create() {
        const uint32_t w = 1 + uint32_t(_r.below(64)), h = 1 + uint32_t(_r.below(64));
        const int32_t stride = int32_t(w * 4);
        const QXLPHYSICAL mem = g().alloc(size_t(stride) * h, 4);
        return surface_create(offscreen_id(), SPICE_SURFACE_FMT_32_xRGB, w, h,
                              _r.one_in(3) ? -stride : stride, mem);
    }
    QXLPHYSICAL surface_destroy(uint32_t sid) {
        QXLSurfaceCmd s{};
        s.surface_id = sid;
        s.type = QXL_SURFACE_CMD_DESTROY;
        return g().put(s);
    }
    QXLPHYSICAL update(uint32_t sid, QXLRect area) {
        QXLUpdateCmd u{};
        u.area = area;
        u.update_id = uint32_t(_r.next());
        u.surface_id = sid;
        return g().put(u);
    }
    QXLPHYSICAL message(size_t length) {
        std::vector<uint8_t> m(sizeof(QXLMessage) + length + 1, 'm');
        m.back() = 0;
        return g().put_bytes(m);
    }

    // ---- chunk chains ----------------------------------------------------------

    /// The chunks of an acyclic chain guest_memory built, first to last.
    std::vector<QXLPHYSICAL> chunks_of(QXLPHYSICAL first) {
        std::vector<QXLPHYSICAL> out;
        for (QXLPHYSICAL c = first; c != 0 && out.size() < 16;
             c = g().get<QXLDataChunk>(c).next_chunk)
            out.push_back(c);
        return out;
    }
    void set_next(QXLPHYSICAL chunk, QXLPHYSICAL next) {
        auto c = g().get<QXLDataChunk>(chunk);
        c.next_chunk = next;
        g().set(chunk, c);
    }
    void set_size(QXLPHYSICAL chunk, uint32_t size) {
        auto c = g().get<QXLDataChunk>(chunk);
        c.data_size = size;
        g().set(chunk, c);
    }
    /// Turns a chain into a cycle, or gives it sizes that overflow.
    void corrupt_chain(QXLPHYSICAL first) {
        const auto c = chunks_of(first);
        if (c.empty()) return;
        switch (_r.below(7)) {
        case 0:
            set_next(c.back(), c.front());
            break; // last -> first
        case 1:
            set_next(c.back(), c.back());
            break; // last -> itself
        case 2:
            set_next(c.back(), c[c.size() / 2]);
            break; // last -> middle
        case 3:
            set_size(c.front(), 0xffffffff);
            break; // one huge chunk
        case 4:    // a sum that wraps 32 bits
            set_size(c.front(), 0xfffffff0);
            set_next(c.front(), c.back());
            set_size(c.back(), 0x20);
            break;
        case 5:
            set_size(c.back(), uint32_t(slot_bytes));
            break; // past the slot's end
        default:
            set_next(c.back(), any_address());
            break; // into anything
        }
    }
    QXLPHYSICAL chained_bitmap() {
        guest_memory::bitmap_opts o;
        o.pieces = 2 + _r.below(3);
        const uint32_t w = 4 + uint32_t(_r.below(16)), h = 4 + uint32_t(_r.below(16));
        const auto px = random_bytes(size_t{w} * h * 4);
        const QXLPHYSICAL img = g().bitmap_image(SPICE_BITMAP_FMT_32BIT, w, h, w * 4, px, o);
        return img;
    }
    QXLPHYSICAL cyclic_bitmap() {
        const QXLPHYSICAL img = chained_bitmap();
        corrupt_chain(g().get<QXLImage>(img).bitmap.data);
        return img;
    }
    QXLPHYSICAL clip_rects(bool corrupt) {
        std::vector<QXLRect> rects;
        for (uint64_t i = 0, n = 1 + _r.below(6); i < n; ++i)
            rects.push_back(rect_on_primary());
        const QXLPHYSICAL c = g().clip_rects(rects, 1 + _r.below(3));
        if (corrupt) {
            corrupt_chain(c + offsetof(QXLClipRects, chunk));
            if (_r.one_in(3)) {
                auto h = g().get<QXLClipRects>(c);
                h.num_rects = uint32_t(_r.next());
                g().set(c, h);
            }
        }
        return c;
    }
    QXLPHYSICAL path(bool corrupt) {
        std::vector<QXLPointFix> pts;
        for (int i = 0; i < 4; ++i)
            pts.push_back(QXLPointFix{_r.between(0, 255) << 4, _r.between(0, 255) << 4});
        const QXLPHYSICAL p = g().path({{SPICE_PATH_BEGIN | SPICE_PATH_END, pts}}, 1 + _r.below(3));
        if (corrupt) corrupt_chain(p + offsetof(QXLPath, chunk));
        return p;
    }
    QXLPHYSICAL glyphs(bool corrupt) {
        const QXLPHYSICAL s =
            g().string(SPICE_STRING_FLAGS_RASTER_A1, 1,
                       {{10, 20, 8, 8, 0xaa}, {20, 20, 8, 8, 0x55}}, 1 + _r.below(3));
        if (corrupt) corrupt_chain(s + offsetof(QXLString, chunk));
        return s;
    }
    QXLPHYSICAL cursor_shape(bool corrupt) {
        const uint16_t side = uint16_t(1 + _r.below(32));
        const auto px = random_bytes(size_t{side} * side * 4);
        const QXLPHYSICAL c =
            g().cursor_shape(SPICE_CURSOR_TYPE_ALPHA, side, side, px, 1 + _r.below(3));
        if (corrupt) {
            corrupt_chain(c + offsetof(QXLCursor, chunk));
            if (_r.one_in(2)) {
                auto h = g().get<QXLCursor>(c);
                h.header.type = uint16_t(_r.below(8));
                h.header.width = uint16_t(dimension());
                h.header.height = uint16_t(dimension());
                h.data_size = dimension();
                g().set(c, h);
            }
        }
        return c;
    }

    // ---- hostile objects ------------------------------------------------------------

    QXLPHYSICAL hostile_image() {
        switch (_r.below(5)) {
        case 0:
            return cyclic_bitmap();
        case 1:
            return g().surface_image(surface_id());
        case 2:
            return g().quic_image(dimension(), dimension(), random_bytes(64 + _r.below(256)),
                                  1 + _r.below(3));
        default: {
            QXLImage img{};
            img.descriptor.id = _r.next();
            img.descriptor.type =
                _r.one_in(6) ? uint8_t(_r.next()) : uint8_t{SPICE_IMAGE_TYPE_BITMAP};
            img.descriptor.flags = uint8_t(_r.next());
            img.descriptor.width = dimension();
            img.descriptor.height = dimension();
            img.bitmap.format = uint8_t(_r.below(14));
            img.bitmap.flags = uint8_t(_r.below(16));
            img.bitmap.x = dimension();
            img.bitmap.y = dimension();
            img.bitmap.stride =
                _r.one_in(2) ? img.bitmap.x * uint32_t(1 + _r.below(4)) : dimension();
            img.bitmap.palette = _r.one_in(3) ? any_address() : 0;
            img.bitmap.data = any_address();
            return g().put(img);
        }
        }
    }

    /// A drawable of any type whose union is random words, many of them
    /// addresses of this batch's objects.
    QXLPHYSICAL random_drawable() {
        auto d = guest_memory::drawable(uint8_t(_r.below(QXL_DRAW_COMPOSITE + 2)),
                                        _r.one_in(2) ? rect_on_primary() : any_rect());
        d.surface_id = surface_id();
        d.effect = uint8_t(_r.below(9));
        d.mm_time = uint32_t(_r.next());
        if (_r.one_in(3)) {
            d.clip.type = uint32_t(_r.below(4));
            d.clip.data = _r.one_in(2) ? clip_rects(_r.one_in(2)) : any_address();
        }
        if (_r.one_in(5)) {
            const size_t i = _r.below(3);
            d.surfaces_dest[i] = int32_t(surface_id());
            d.surfaces_rects[i] = any_rect();
        }
        if (_r.one_in(8)) {
            d.self_bitmap = 1;
            d.self_bitmap_area = any_rect();
        }
        const QXLPHYSICAL at = g().put(d);
        uint8_t *u = g().host(at) + offsetof(QXLDrawable, u);
        for (size_t i = 0; i + 8 <= sizeof(QXLDrawable) - offsetof(QXLDrawable, u);
             i += 4 * (1 + _r.below(2))) {
            const uint64_t w = word();
            std::memcpy(u + i, &w, sizeof w);
        }
        return at;
    }

    /// A valid drawable with a few of its bytes overwritten.
    QXLPHYSICAL mutated_drawable() {
        QXLPHYSICAL at = 0;
        switch (_r.below(5)) {
        case 0:
            at = fill(surface_id(), rect_on_primary(), uint32_t(_r.next()));
            break;
        case 1:
            at = valid_copy();
            break;
        case 2:
            at = surface_copy();
            break;
        case 3: {
            auto d = guest_memory::drawable(QXL_DRAW_STROKE, rect_on_primary());
            d.u.stroke.path = path(_r.one_in(2));
            d.u.stroke.attr.flags = 0;
            d.u.stroke.brush.type = SPICE_BRUSH_TYPE_SOLID;
            d.u.stroke.brush.u.color = uint32_t(_r.next());
            d.u.stroke.fore_mode = SPICE_ROPD_OP_PUT;
            d.u.stroke.back_mode = SPICE_ROPD_OP_PUT;
            at = g().put(d);
            break;
        }
        default: {
            auto d = guest_memory::drawable(QXL_DRAW_TEXT, rect_on_primary());
            d.u.text.str = glyphs(_r.one_in(2));
            d.u.text.back_area = rect_on_primary();
            d.u.text.fore_brush.type = SPICE_BRUSH_TYPE_SOLID;
            d.u.text.fore_brush.u.color = uint32_t(_r.next());
            d.u.text.fore_mode = SPICE_ROPD_OP_PUT;
            d.u.text.back_mode = SPICE_ROPD_OP_PUT;
            at = g().put(d);
            break;
        }
        }
        uint8_t *p = g().host(at);
        for (uint64_t i = 0, n = 1 + _r.below(4); i < n; ++i) {
            const size_t o = sizeof(QXLReleaseInfo) + _r.below(sizeof(QXLDrawable) - 8);
            if (_r.one_in(2)) {
                p[o] = uint8_t(_r.next());
            } else if (o + 8 <= sizeof(QXLDrawable)) {
                const uint64_t w = word();
                std::memcpy(p + o, &w, sizeof w);
            }
        }
        return at;
    }

    QXLPHYSICAL hostile_copy() {
        auto d = guest_memory::drawable(_r.one_in(3) ? QXL_DRAW_OPAQUE : QXL_DRAW_COPY,
                                        _r.one_in(2) ? rect_on_primary() : any_rect());
        d.surface_id = _r.one_in(3) ? surface_id() : 0;
        d.u.copy.src_bitmap = hostile_image();
        d.u.copy.src_area = _r.one_in(2) ? any_rect() : rect_on_primary();
        d.u.copy.rop_descriptor = _r.one_in(2) ? uint16_t{SPICE_ROPD_OP_PUT} : uint16_t(_r.next());
        if (_r.one_in(4)) {
            d.u.copy.mask.bitmap = hostile_image();
            d.u.copy.mask.flags = uint8_t(_r.below(2));
        }
        return g().put(d);
    }

    QXLPHYSICAL hostile_surface() {
        static constexpr std::array<uint32_t, 8> formats{SPICE_SURFACE_FMT_1_A,
                                                         SPICE_SURFACE_FMT_8_A,
                                                         SPICE_SURFACE_FMT_16_555,
                                                         SPICE_SURFACE_FMT_32_xRGB,
                                                         SPICE_SURFACE_FMT_16_565,
                                                         SPICE_SURFACE_FMT_32_ARGB,
                                                         0,
                                                         7};
        if (_r.one_in(4)) return surface_destroy(_r.one_in(2) ? offscreen_id() : surface_id() | 1);
        int32_t stride = 0;
        switch (_r.below(4)) {
        case 0:
            stride = std::numeric_limits<int32_t>::min();
            break;
        case 1:
            stride = -int32_t(_r.below(4096));
            break;
        case 2:
            stride = int32_t(uint32_t(_r.next()));
            break;
        default:
            stride = int32_t(_r.below(4096));
            break;
        }
        QXLPHYSICAL data = 0;
        switch (_r.below(3)) {
        case 0:
            data = slot_address(slot_bytes - _r.below(8192));
            break; // runs off the end
        case 1:
            data = any_address();
            break;
        default:
            data = address_in_slot();
            break;
        }
        uint32_t sid = surface_id();
        if (sid == 0) sid = offscreen_id(); // the primary is the VMM's, not a command's
        return surface_create(sid, formats[_r.below(formats.size())], dimension(), dimension(),
                              stride, data);
    }

    /// The first bytes of some command at the very end of the slot (over the
    /// primary's last row): reading the whole struct would leave the slot.
    sent_command truncated_at_slot_end() {
        const size_t n = sizeof(QXLReleaseInfo) + _r.below(120);
        std::vector<uint8_t> b = random_bytes(n);
        if (_r.one_in(3)) std::fill(b.begin() + sizeof(QXLReleaseInfo), b.end(), uint8_t('t'));
        const size_t offset = slot_bytes - n;
        _tail.emplace_back(offset, std::move(b));
        sent_command s;
        const uint32_t types[] = {QXL_CMD_DRAW, QXL_CMD_SURFACE, QXL_CMD_MESSAGE, QXL_CMD_UPDATE,
                                  QXL_CMD_CURSOR};
        s.cmd = guest_memory::command(types[_r.below(5)], slot_address(offset), flags());
        s.release_offset = offset;
        return s;
    }

    sent_command unreleasable(uint32_t type, bool cursor) {
        sent_command s;
        s.cursor = cursor;
        ++_bad_addresses;
        if (_r.one_in(4)) {
            // A valid command in a group that is not mapped.
            s.cmd = guest_memory::command(type, fill(0, rect_on_primary(), 0xff0000), 0);
            s.cmd.group_id = _r.one_in(2) ? 0 : uint32_t(2 + _r.below(1000));
            return s;
        }
        s.cmd = guest_memory::command(type, bad_address(), flags());
        return s;
    }

    /// A batch starts with some valid objects that random words can point at.
    void fill_pool() {
        for (int i = 0; i < 3; ++i) {
            _pool.push_back(bitmap(1 + uint32_t(_r.below(16)), 1 + uint32_t(_r.below(16))));
            _pool.push_back(clip_rects(false));
        }
        _pool.push_back(path(false));
        _pool.push_back(glyphs(false));
        _pool.push_back(g().surface_image(offscreen_id()));
        _pool.push_back(cyclic_bitmap());
        _pool.push_back(cursor_shape(false));
    }

    sent_command display_command() {
        if (_pool.empty()) fill_pool();
        switch (_r.below(20)) {
        // Valid: what a driver sends.
        case 0:
        case 1:
        case 2:
            return releasable(QXL_CMD_DRAW, fill(_r.one_in(4) ? offscreen_id() : 0,
                                                 rect_on_primary(), uint32_t(_r.next())));
        case 3:
        case 4:
            return releasable(QXL_CMD_DRAW, valid_copy());
        case 5:
            return releasable(QXL_CMD_DRAW, surface_copy());
        case 6:
            return releasable(QXL_CMD_SURFACE, _r.one_in(3) ? surface_destroy(offscreen_id())
                                                            : valid_surface_create());
        case 7:
            return releasable(_r.one_in(2) ? QXL_CMD_UPDATE : QXL_CMD_MESSAGE,
                              _r.one_in(2) ? update(surface_id(), rect_on_primary())
                                           : message(_r.below(64)));
        // Hostile.
        case 8:
            return unreleasable(_r.one_in(4) ? uint32_t(_r.below(256)) : uint32_t{QXL_CMD_DRAW},
                                false);
        case 9:
            return releasable(uint32_t(_r.below(8)), address_in_slot_for_release());
        case 10: {
            auto b = random_bytes(32 + _r.below(512));
            return releasable(_r.one_in(3) ? uint32_t(_r.below(256)) : 1 + uint32_t(_r.below(5)),
                              g().put_bytes(b));
        }
        case 11:
        case 12:
            return releasable(QXL_CMD_DRAW, random_drawable());
        case 13:
        case 14:
            return releasable(QXL_CMD_DRAW, mutated_drawable());
        case 15:
        case 16:
            return releasable(QXL_CMD_DRAW, hostile_copy());
        case 17:
            return releasable(QXL_CMD_SURFACE, hostile_surface());
        case 18:
            return truncated_at_slot_end();
        default:
            return releasable(QXL_CMD_UPDATE,
                              update(surface_id(), _r.one_in(2) ? any_rect() : rect_on_primary()));
        }
    }

    /// An address in the slot with room for the QXLReleaseInfo.
    QXLPHYSICAL address_in_slot_for_release() {
        return slot_address(_r.below(slot_bytes - sizeof(QXLReleaseInfo) + 1));
    }

    sent_command cursor_command() {
        QXLCursorCmd c{};
        c.type = uint8_t(_r.below(4));
        c.u.set.position.x = int16_t(_r.between(-50, 300));
        c.u.set.position.y = int16_t(_r.between(-50, 300));
        c.u.set.visible = uint8_t(_r.below(2));
        switch (_r.below(8)) {
        case 0:
            return unreleasable(QXL_CMD_CURSOR, true);
        case 1:
            c.u.set.shape = any_address();
            break;
        case 2:
            c.u.set.shape = cursor_shape(true);
            break;
        case 3:
            c.type = uint8_t(_r.next());
            break;
        case 4:
            return releasable(uint32_t(_r.below(8)), address_in_slot_for_release(), true);
        default:
            if (c.type == QXL_CURSOR_SET) c.u.set.shape = cursor_shape(false);
            if (c.type == QXL_CURSOR_TRAIL) {
                c.u.trail.length = uint16_t(_r.below(10));
                c.u.trail.frequency = uint16_t(_r.below(10));
            }
            break;
        }
        return releasable(QXL_CMD_CURSOR, g().put(c), true);
    }

    random_source _r;
    guarded_slot &_slot;
    std::optional<guest_memory> _g;
    std::vector<QXLPHYSICAL> _pool;
    std::vector<std::pair<size_t, std::vector<uint8_t>>> _tail;
    int _bad_addresses = 0;
};

class QxlDeviceFuzz : public ::testing::Test {
  protected:
    // Declared in the order they must be built; destroyed the other way, so
    // the device is gone before its shard, and both before the guest's RAM.
    guarded_slot slot;
    fake_qxl_interface vmm{init_info()};
    rs::shard_thread thread{rs::shard_options{.name = "qxl-fuzz"}};
    rs::qxl_device dev{vmm.instance(), thread.get()};

    void SetUp() override {
        dev.sync_call([m = slot.mem_slot()](rs::qxl_device &d) { d.add_memslot(m); });
        dev.sync_call([](rs::qxl_device &d) { d.start(); });
        dev.sync_call([c = slot.primary()](rs::qxl_device &d) { d.create_primary(0, c); });
        ASSERT_TRUE(dev.sync_call([](rs::qxl_device &d) { return d.has_primary(); }));
    }

    /// How the test's own parse of each command (against the same slot, just
    /// before the device sees it) came out: drawables, other commands, errors.
    /// Only a check that the mix keeps reaching both the renderer and the
    /// parser's refusals; the device may see different bytes, since drawing
    /// on surfaces in guest memory rewrites commands later in the batch.
    struct parse_tally {
        uint64_t drawables = 0;
        uint64_t others = 0;
        uint64_t errors = 0;
    };
    parse_tally tally;
    rs::memslot_table test_slots = [&] {
        rs::memslot_table t(init_info());
        t.add(guest_memory::group, guest_memory::slot, slot.mem_slot());
        return t;
    }();

    void count(const std::vector<sent_command> &cmds) {
        for (const auto &c : cmds) {
            const auto r = rs::qxl::parse_command(c.cmd, test_slots);
            if (std::holds_alternative<rs::draw::drawable>(r))
                ++tally.drawables;
            else if (std::holds_alternative<rs::qxl::parse_error>(r))
                ++tally.errors;
            else
                ++tally.others;
        }
    }

    /// Queues the commands, wakes the worker and waits until it has taken
    /// and processed them all.
    ::testing::AssertionResult feed(const std::vector<sent_command> &cmds) {
        count(cmds);
        for (const auto &c : cmds)
            c.cursor ? vmm.push_cursor(c.cmd) : vmm.push(c.cmd);
        dev.post([](rs::qxl_device &d) { d.wakeup(); });
        if (!vmm.wait_until_taken(batch_timeout))
            return ::testing::AssertionFailure() << "the device stopped taking commands";
        // The worker processes what it took before it yields the shard, so a
        // call queued behind it runs after the last command; rendering is
        // lazy, so it also renders what is pending, which releases it.
        dev.sync_call([](rs::qxl_device &d) { d.render_pending(); });
        return ::testing::AssertionSuccess();
    }

    uintptr_t host(size_t offset) const {
        return reinterpret_cast<uintptr_t>(slot.data()) + offset;
    }
};

TEST_F(QxlDeviceFuzz, HostileCommandsAreReleasedOnceAndTheShardKeepsServing) {
    hostile_guest guest(seed, slot);
    std::vector<uintptr_t> expected_releases;
    uint64_t sent_display = 0, sent_cursor = 0;
    uint64_t cookie = 0;

    for (int done = 0; done < display_commands; done += batch_size) {
        const auto cmds = guest.batch(batch_size);
        for (const auto &c : cmds) {
            ++(c.cursor ? sent_cursor : sent_display);
            if (c.release_offset) expected_releases.push_back(host(*c.release_offset));
        }
        ASSERT_TRUE(feed(cmds)) << "after " << done << " commands";
        ASSERT_EQ(vmm.releases().size(), expected_releases.size()) << "after batch at " << done;
        // A VMM's async request between batches completes on the shard.
        dev.async_call(++cookie, [](rs::qxl_device &d) { d.flush_surfaces(); });
    }

    // Every command the device took came back exactly once, except those
    // whose QXLReleaseInfo is at an address that does not translate.
    EXPECT_EQ(vmm.display_taken(), sent_display);
    EXPECT_EQ(vmm.cursor_taken(), sent_cursor);
    const auto releases = vmm.releases();
    EXPECT_EQ(releases.size() + uint64_t(guest.bad_addresses()), sent_display + sent_cursor);
    std::vector<uintptr_t> released;
    for (const auto &r : releases) {
        released.push_back(r.info);
        EXPECT_EQ(r.group_id, guest_memory::group);
    }
    std::sort(released.begin(), released.end());
    std::sort(expected_releases.begin(), expected_releases.end());
    EXPECT_EQ(released, expected_releases);
    EXPECT_GT(guest.bad_addresses(), 0);
    const uint64_t parsed = tally.drawables + tally.others + tally.errors;
    EXPECT_GT(tally.drawables * 4, parsed) << "too few commands reach the renderer";
    EXPECT_GT(tally.errors * 4, parsed) << "too few commands are refused";
    RecordProperty("drawables", std::to_string(tally.drawables));
    RecordProperty("other_commands", std::to_string(tally.others));
    RecordProperty("refused", std::to_string(tally.errors));

    // The shard still serves the VMM: the async calls completed, in order...
    dev.sync_call([](rs::qxl_device &) {});
    std::vector<uint64_t> cookies(cookie);
    for (uint64_t i = 0; i < cookie; ++i)
        cookies[i] = i + 1;
    EXPECT_EQ(vmm.async_cookies(), cookies);

    // ...a fresh primary over the same memory (the guest may have replaced
    // or destroyed it) takes a valid fill, which renders...
    dev.sync_call([c = slot.primary()](rs::qxl_device &d) {
        d.destroy_surfaces();
        d.create_primary(0, c);
    });
    const QXLRect area = guest_memory::rect(16, 24, 80, 72);
    constexpr uint32_t colour = 0x00c0ffee;
    const auto fill = guest.final_fill(area, colour);
    ASSERT_TRUE(feed({fill}));
    EXPECT_EQ(vmm.releases().size(), expected_releases.size() + 1);
    const auto px = dev.sync_call([&](rs::qxl_device &d) {
        return d.surfaces().read_area(0,
                                      rs::draw::rect{area.left, area.top, area.right, area.bottom});
    });
    ASSERT_TRUE(px) << px.error().message();
    ASSERT_EQ(px->width, uint32_t(area.right - area.left));
    ASSERT_EQ(px->height, uint32_t(area.bottom - area.top));
    size_t wrong = 0;
    for (uint32_t y = 0; y < px->height; ++y)
        for (uint32_t x = 0; x < px->width; ++x) {
            uint32_t v = 0;
            std::memcpy(&v, px->data.data() + size_t{y} * px->stride + size_t{x} * 4, 4);
            if ((v & 0x00ffffff) != colour) ++wrong;
        }
    EXPECT_EQ(wrong, 0u);

    // ...and update_area returns, reporting the area as brought up to date.
    const QXLRect dirty = dev.sync_call([&](rs::qxl_device &d) {
        std::array<QXLRect, 2> rects{};
        d.update_area(0, area, rects, true);
        return rects[0];
    });
    EXPECT_EQ(dirty.left, area.left);
    EXPECT_EQ(dirty.top, area.top);
    EXPECT_EQ(dirty.right, area.right);
    EXPECT_EQ(dirty.bottom, area.bottom);
}

} // namespace
