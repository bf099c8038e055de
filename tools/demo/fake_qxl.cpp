#include "fake_qxl.hpp"

#include <glib.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace rs::demo {
namespace {

// Memslot encoding, as QEMU's qxl device declares it in get_init_info: a
// QXLPHYSICAL carries the slot id in its top `id_bits`, the slot generation in
// the `gen_bits` below, and a guest-physical address in the rest. The server
// maps it to a host pointer as (addr & ((1 << (64 - id_bits - gen_bits)) - 1))
// + slot.addr_delta and checks the result against [virt_start, virt_end).
constexpr uint8_t memslot_id_bits = 8;
constexpr uint8_t memslot_gen_bits = 8;
constexpr uint32_t memslot_group = 0;
constexpr uint32_t memslot_id = 0;
constexpr uint32_t memslot_generation = 1;  // non-zero, so the bits are exercised
constexpr uint64_t guest_base = 0x10000000; // "BAR address" of the guest memory
constexpr std::size_t block_align = 64;
constexpr std::size_t chunk_max_bytes = 64 * 1024; // bitmap data per QXLDataChunk
constexpr std::size_t cursor_cmd_bytes = sizeof(QXLCursorCmd);

std::size_t align_up(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

QXLRect to_qxl(const rect &r) {
    QXLRect q{};
    q.top = r.top;
    q.left = r.left;
    q.bottom = r.bottom;
    q.right = r.right;
    return q;
}

template <class T> void put(uint8_t *dst, const T &v) { std::memcpy(dst, &v, sizeof v); }

} // namespace

// rect / bitmap ---------------------------------------------------------------

rect rect::intersect(const rect &o) const noexcept {
    rect r{std::max(left, o.left), std::max(top, o.top), std::min(right, o.right),
           std::min(bottom, o.bottom)};
    if (r.empty()) return {};
    return r;
}

rect rect::unite(const rect &o) const noexcept {
    if (empty()) return o;
    if (o.empty()) return *this;
    return {std::min(left, o.left), std::min(top, o.top), std::max(right, o.right),
            std::max(bottom, o.bottom)};
}

bool rect::touches(const rect &o) const noexcept {
    return !empty() && !o.empty() && left <= o.right && o.left <= right && top <= o.bottom &&
           o.top <= bottom;
}

bitmap::bitmap(int w, int h, uint32_t fill)
    : width(w)
    , height(h)
    , pixels(static_cast<std::size_t>(w) * static_cast<std::size_t>(h), fill) {}

void bitmap::seal() noexcept {
    // A 64-bit content hash over the size and the pixels, a word at a time:
    // content identity for the image cache (a collision would show the wrong
    // image, hence 64 bits; the content is ours, not adversarial).
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    auto mix = [&h](uint64_t v) {
        h = (h ^ v) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    };
    mix(static_cast<uint64_t>(width) << 32 | static_cast<uint32_t>(height));
    for (std::size_t i = 0; i + 1 < pixels.size(); i += 2)
        mix(static_cast<uint64_t>(pixels[i]) << 32 | pixels[i + 1]);
    if (pixels.size() % 2 != 0) mix(pixels.back());
    h *= 0xc4ceb9fe1a85ec53ULL;
    hash = h ^ (h >> 29);
}

// fake_qxl -------------------------------------------------------------------

fake_qxl::fake_qxl(SpiceServer *server, const qxl_config &config)
    : _server(server)
    , _config(config) {
    _primary_bytes = align_up(
        static_cast<std::size_t>(config.width) * static_cast<std::size_t>(config.height) * 4, 4096);
    _mem_size = _primary_bytes + align_up(config.heap_bytes, 4096);
    _mem = mmap(nullptr, _mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (_mem == MAP_FAILED) throw std::runtime_error("fake_qxl: cannot map guest memory");
    // A guest's framebuffer is resident RAM (a real one is written at boot).
    // Touch it now, so a server that renders into it only when a client
    // first needs the picture is not charged the VM's own memory then.
    std::memset(_mem, 0, _primary_bytes);
    _free.emplace(_primary_bytes, _mem_size - _primary_bytes);

    _iface.base.type = SPICE_INTERFACE_QXL;
    _iface.base.description = "ringspice demo qxl";
    _iface.base.major_version = SPICE_INTERFACE_QXL_MAJOR;
    _iface.base.minor_version = SPICE_INTERFACE_QXL_MINOR;
    _iface.attached_worker = cb_attached_worker;
    _iface.set_compression_level = cb_set_compression_level;
    _iface.get_init_info = cb_get_init_info;
    _iface.get_command = cb_get_command;
    _iface.req_cmd_notification = cb_req_cmd_notification;
    _iface.release_resource = cb_release_resource;
    _iface.get_cursor_command = cb_get_cursor_command;
    _iface.req_cursor_notification = cb_req_cursor_notification;
    _iface.notify_update = cb_notify_update;
    _iface.flush_resources = cb_flush_resources;
    _iface.async_complete = cb_async_complete;
    _iface.update_area_complete = cb_update_area_complete;
    _iface.set_client_capabilities = cb_set_client_capabilities;
    _iface.client_monitors_config = cb_client_monitors_config;
    _dev.qxl.base.sif = &_iface.base;
    _dev.qxl.id = config.id;
    _dev.self = this;
}

fake_qxl::~fake_qxl() { munmap(_mem, _mem_size); }

fake_qxl &fake_qxl::of(QXLInstance *qin) noexcept { return *reinterpret_cast<device *>(qin)->self; }

QXLPHYSICAL fake_qxl::phys(std::size_t offset) const noexcept {
    return static_cast<uint64_t>(memslot_id) << (64 - memslot_id_bits) |
           static_cast<uint64_t>(memslot_generation) << (64 - memslot_id_bits - memslot_gen_bits) |
           (guest_base + offset);
}

bool fake_qxl::attach() {
    if (spice_server_add_interface(_server, &_dev.qxl.base) != 0) return false;

    QXLDevMemSlot slot{};
    slot.slot_group_id = memslot_group;
    slot.slot_id = memslot_id;
    slot.generation = memslot_generation;
    slot.virt_start = reinterpret_cast<uintptr_t>(_mem);
    slot.virt_end = reinterpret_cast<uintptr_t>(_mem) + _mem_size;
    slot.addr_delta = reinterpret_cast<uintptr_t>(_mem) - guest_base;
    slot.qxl_ram_size = static_cast<uint32_t>(_mem_size);
    spice_qxl_add_memslot(&_dev.qxl, &slot);

    QXLDevSurfaceCreate surface{};
    surface.width = static_cast<uint32_t>(_config.width);
    surface.height = static_cast<uint32_t>(_config.height);
    surface.stride = _config.width * 4; // positive: mem is the top row
    surface.format = SPICE_SURFACE_FMT_32_xRGB;
    surface.position = 0;
    surface.mouse_mode = 1; // client mouse mode allowed
    surface.flags = 0;
    surface.type = QXL_SURF_TYPE_PRIMARY;
    surface.mem = phys(0);
    surface.group_id = memslot_group;
    spice_qxl_create_primary_surface(&_dev.qxl, 0, &surface);
    return true;
}

// Heap --------------------------------------------------------------------------

bool fake_qxl::alloc_locked(std::size_t size, std::size_t &offset) {
    size = align_up(size, block_align);
    for (auto it = _free.begin(); it != _free.end(); ++it) {
        if (it->second < size) continue;
        offset = it->first;
        const std::size_t rest = it->second - size;
        _free.erase(it);
        if (rest > 0) _free.emplace(offset + size, rest);
        _live.emplace(offset, size);
        return true;
    }
    return false;
}

void fake_qxl::free_locked(std::size_t offset) {
    auto live = _live.find(offset);
    std::size_t size = live->second;
    _live.erase(live);
    auto next = _free.lower_bound(offset);
    if (next != _free.end() && offset + size == next->first) {
        size += next->second;
        next = _free.erase(next);
    }
    if (next != _free.begin()) {
        auto prev = std::prev(next);
        if (prev->first + prev->second == offset) {
            prev->second += size;
            return;
        }
    }
    _free.emplace(offset, size);
}

bool fake_qxl::reserve(std::span<const std::size_t> sizes, std::vector<std::size_t> &offsets,
                       bool cursor_ring) {
    offsets.clear();
    bool ok = true;
    {
        std::lock_guard lock(_mutex);
        const auto &ring = cursor_ring ? _cursor_commands : _commands;
        if (ring.size() + sizes.size() > _config.max_queued ||
            _live.size() + sizes.size() > _config.max_in_flight)
            ok = false;
        for (std::size_t i = 0; ok && i < sizes.size(); ++i) {
            std::size_t off = 0;
            if (!alloc_locked(sizes[i], off)) {
                ok = false;
                break;
            }
            offsets.push_back(off);
        }
        if (!ok) {
            for (std::size_t off : offsets)
                free_locked(off);
            offsets.clear();
            ++_stats.full;
        }
    }
    if (ok) {
        _oom_asked = false;
    } else if (!_oom_asked) {
        // As QEMU does when the guest runs out of command memory: ask the
        // worker to process the ring and free what it can.
        _oom_asked = true;
        {
            std::lock_guard lock(_mutex);
            ++_stats.oom_calls;
        }
        spice_qxl_oom(&_dev.qxl);
    }
    return ok;
}

void fake_qxl::publish(std::span<const QXLCommandExt> cmds, bool cursor_ring) {
    bool wake = false;
    {
        std::lock_guard lock(_mutex);
        auto &ring = cursor_ring ? _cursor_commands : _commands;
        bool &notify = cursor_ring ? _notify_cursor : _notify_commands;
        ring.insert(ring.end(), cmds.begin(), cmds.end());
        (cursor_ring ? _stats.cursor_queued : _stats.commands_queued) += cmds.size();
        // QEMU's contract: the worker is woken only if it asked (it returned
        // "wait" from req_*_notification); otherwise it is polling the ring.
        if (notify && !cmds.empty()) {
            notify = false;
            wake = true;
            ++_stats.wakeups;
        }
    }
    if (wake) spice_qxl_wakeup(&_dev.qxl);
}

// Commands -----------------------------------------------------------------------

std::size_t fake_qxl::op_size(const draw_op &op) {
    std::size_t size = align_up(sizeof(QXLDrawable), 8);
    if (op.type == draw_op::kind::copy) {
        const std::size_t stride = static_cast<std::size_t>(op.src->width) * 4;
        const std::size_t rows_per_chunk = std::max<std::size_t>(1, chunk_max_bytes / stride);
        const std::size_t rows = static_cast<std::size_t>(op.src->height);
        const std::size_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
        size += align_up(sizeof(QXLImage), 8);
        size += chunks * (sizeof(QXLDataChunk) + 8) + rows * stride; // + alignment slack
    }
    return size;
}

uint32_t fake_qxl::image_id(const bitmap &bm) {
    // One id space for every device of the process, as one guest driver has
    // for all its heads: the same pixels drawn on two heads carry the same
    // id, so a client's shared pixmap cache can serve both.
    static std::mutex m;
    static std::unordered_map<uint64_t, uint32_t> ids; // content hash -> unique
    static uint32_t next = 1;
    const std::lock_guard lock(m);
    auto it = ids.find(bm.hash);
    if (it != ids.end()) return it->second;
    if (ids.size() >= 65536) ids.clear(); // ids stay unique: the counter goes on
    if (next == 0) next = 1;
    const uint32_t id = next++;
    ids.emplace(bm.hash, id);
    return id;
}

QXLCommandExt fake_qxl::write_op(const draw_op &op, std::size_t offset) {
    QXLDrawable d{};
    d.release_info.id = offset;
    d.surface_id = 0;
    d.effect = QXL_EFFECT_OPAQUE;
    d.self_bitmap = 0;
    d.bbox = to_qxl(op.area);
    d.clip.type = SPICE_CLIP_TYPE_NONE;
    d.clip.data = 0;
    // Guest time in ms on the monotonic clock, the clock the server's mm_time uses.
    d.mm_time = static_cast<uint32_t>(g_get_monotonic_time() / 1000);
    d.surfaces_dest[0] = d.surfaces_dest[1] = d.surfaces_dest[2] = -1;

    if (op.type == draw_op::kind::fill) {
        d.type = QXL_DRAW_FILL;
        d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
        d.u.fill.brush.u.color = op.color;
        d.u.fill.rop_descriptor = SPICE_ROPD_OP_PUT;
        d.u.fill.mask.flags = 0;
        d.u.fill.mask.bitmap = 0;
    } else {
        const bitmap &bm = *op.src;
        const std::size_t image_off = offset + align_up(sizeof(QXLDrawable), 8);
        std::size_t chunk_off = image_off + align_up(sizeof(QXLImage), 8);

        d.type = QXL_DRAW_COPY;
        d.u.copy.src_bitmap = phys(image_off);
        d.u.copy.src_area = to_qxl(
            rect{op.src_x, op.src_y, op.src_x + op.area.width(), op.src_y + op.area.height()});
        d.u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
        d.u.copy.scale_mode = SPICE_IMAGE_SCALE_MODE_NEAREST;
        d.u.copy.mask.flags = 0;
        d.u.copy.mask.bitmap = 0;

        QXLImage image{};
        QXL_SET_IMAGE_ID(&image, QXL_IMAGE_GROUP_DRIVER, image_id(bm));
        image.descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
        image.descriptor.flags = QXL_IMAGE_CACHE;
        image.descriptor.width = static_cast<uint32_t>(bm.width);
        image.descriptor.height = static_cast<uint32_t>(bm.height);
        image.bitmap.format = SPICE_BITMAP_FMT_32BIT;
        image.bitmap.flags = QXL_BITMAP_TOP_DOWN; // data is a QXLDataChunk chain
        image.bitmap.x = static_cast<uint32_t>(bm.width);
        image.bitmap.y = static_cast<uint32_t>(bm.height);
        image.bitmap.stride = static_cast<uint32_t>(bm.width) * 4;
        image.bitmap.palette = 0;
        image.bitmap.data = phys(chunk_off);
        put(host(image_off), image);

        // The pixels, split into chunks of whole rows like a guest driver's
        // allocations: prev/next are QXLPHYSICAL, 0 ends the chain.
        const std::size_t stride = static_cast<std::size_t>(bm.width) * 4;
        const std::size_t rows_per_chunk = std::max<std::size_t>(1, chunk_max_bytes / stride);
        std::size_t prev_off = 0;
        for (std::size_t row = 0; row < static_cast<std::size_t>(bm.height);) {
            const std::size_t rows =
                std::min(rows_per_chunk, static_cast<std::size_t>(bm.height) - row);
            const std::size_t next_off =
                align_up(chunk_off + sizeof(QXLDataChunk) + rows * stride, 8);
            const bool last = row + rows == static_cast<std::size_t>(bm.height);
            QXLDataChunk chunk{};
            chunk.data_size = static_cast<uint32_t>(rows * stride);
            chunk.prev_chunk = prev_off != 0 ? phys(prev_off) : 0;
            chunk.next_chunk = last ? 0 : phys(next_off);
            put(host(chunk_off), chunk); // data[] follows the 20-byte header
            std::memcpy(host(chunk_off) + sizeof(QXLDataChunk), bm.row(static_cast<int>(row)),
                        rows * stride);
            prev_off = chunk_off;
            chunk_off = next_off;
            row += rows;
        }
    }
    put(host(offset), d);

    QXLCommandExt ext{};
    ext.cmd.data = phys(offset);
    ext.cmd.type = QXL_CMD_DRAW;
    ext.cmd.padding = 0;
    ext.group_id = memslot_group;
    ext.flags = 0;
    return ext;
}

bool fake_qxl::submit(std::span<const draw_op> ops) {
    if (ops.empty()) return true;
    std::vector<std::size_t> sizes;
    sizes.reserve(ops.size());
    for (const auto &op : ops)
        sizes.push_back(op_size(op));
    std::vector<std::size_t> offsets;
    if (!reserve(sizes, offsets, false)) return false;
    std::vector<QXLCommandExt> cmds;
    cmds.reserve(ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i)
        cmds.push_back(write_op(ops[i], offsets[i]));
    publish(cmds, false);
    return true;
}

QXLCommandExt fake_qxl::cursor_command(std::size_t offset) const {
    QXLCommandExt ext{};
    ext.cmd.data = phys(offset);
    ext.cmd.type = QXL_CMD_CURSOR;
    ext.group_id = memslot_group;
    ext.flags = 0;
    return ext;
}

bool fake_qxl::cursor_set(const cursor_image &shape, int x, int y) {
    const std::size_t data_bytes = shape.pixels.size() * 4;
    const std::size_t shape_off_rel = align_up(cursor_cmd_bytes, 8);
    const std::size_t size = shape_off_rel + sizeof(QXLCursor) + data_bytes;
    std::vector<std::size_t> offsets;
    const std::size_t sizes[] = {size};
    if (!reserve(sizes, offsets, true)) return false;
    const std::size_t off = offsets[0];

    QXLCursor cursor{};
    cursor.header.unique = 1; // one shape: the client may cache it
    cursor.header.type = SPICE_CURSOR_TYPE_ALPHA;
    cursor.header.width = static_cast<uint16_t>(shape.width);
    cursor.header.height = static_cast<uint16_t>(shape.height);
    cursor.header.hot_spot_x = static_cast<uint16_t>(shape.hot_x);
    cursor.header.hot_spot_y = static_cast<uint16_t>(shape.hot_y);
    cursor.data_size = static_cast<uint32_t>(data_bytes);
    cursor.chunk.data_size = static_cast<uint32_t>(data_bytes);
    cursor.chunk.prev_chunk = 0;
    cursor.chunk.next_chunk = 0;
    put(host(off + shape_off_rel), cursor);
    std::memcpy(host(off + shape_off_rel) + sizeof(QXLCursor), shape.pixels.data(), data_bytes);

    QXLCursorCmd cmd{};
    cmd.release_info.id = off;
    cmd.type = QXL_CURSOR_SET;
    cmd.u.set.position.x = static_cast<int16_t>(x);
    cmd.u.set.position.y = static_cast<int16_t>(y);
    cmd.u.set.visible = 1;
    cmd.u.set.shape = phys(off + shape_off_rel);
    put(host(off), cmd);

    const QXLCommandExt ext = cursor_command(off);
    publish({&ext, 1}, true);
    return true;
}

bool fake_qxl::cursor_move(int x, int y) {
    std::vector<std::size_t> offsets;
    const std::size_t sizes[] = {cursor_cmd_bytes};
    if (!reserve(sizes, offsets, true)) return false;
    const std::size_t off = offsets[0];
    QXLCursorCmd cmd{};
    cmd.release_info.id = off;
    cmd.type = QXL_CURSOR_MOVE;
    cmd.u.position.x = static_cast<int16_t>(x);
    cmd.u.position.y = static_cast<int16_t>(y);
    put(host(off), cmd);
    const QXLCommandExt ext = cursor_command(off);
    publish({&ext, 1}, true);
    return true;
}

const uint32_t *fake_qxl::update_primary() {
    QXLRect area = to_qxl(rect{0, 0, _config.width, _config.height});
    spice_qxl_update_area(&_dev.qxl, 0, &area, nullptr, 0, 1);
    return static_cast<const uint32_t *>(_mem);
}

qxl_stats fake_qxl::stats() const {
    std::lock_guard lock(_mutex);
    return _stats;
}

// QXLInterface callbacks ------------------------------------------------------------

void fake_qxl::cb_attached_worker(QXLInstance *) {}

void fake_qxl::cb_set_compression_level(QXLInstance *qin, int level) {
    of(qin)._compression_level = level;
}

void fake_qxl::cb_get_init_info(QXLInstance *qin, QXLDevInitInfo *info) {
    fake_qxl &self = of(qin);
    std::memset(info, 0, sizeof *info);
    info->num_memslots_groups = 1;
    info->num_memslots = 1;
    info->memslot_gen_bits = memslot_gen_bits;
    info->memslot_id_bits = memslot_id_bits;
    info->qxl_ram_size = static_cast<uint32_t>(self._mem_size);
    info->internal_groupslot_id = 0;
    info->n_surfaces = 1024; // as QEMU's qxl
}

int fake_qxl::cb_get_command(QXLInstance *qin, QXLCommandExt *cmd) {
    fake_qxl &self = of(qin);
    std::lock_guard lock(self._mutex);
    if (self._commands.empty()) return 0;
    *cmd = self._commands.front();
    self._commands.pop_front();
    ++self._stats.commands_fetched;
    return 1;
}

int fake_qxl::cb_req_cmd_notification(QXLInstance *qin) {
    fake_qxl &self = of(qin);
    std::lock_guard lock(self._mutex);
    if (!self._commands.empty()) return 0; // more to do: keep fetching
    self._notify_commands = true;          // empty: wait, we will call spice_qxl_wakeup
    ++self._stats.notify_requests;
    return 1;
}

void fake_qxl::cb_release_resource(QXLInstance *qin, QXLReleaseInfoExt release_info) {
    fake_qxl &self = of(qin);
    const uint64_t id = release_info.info->id;
    std::lock_guard lock(self._mutex);
    if (release_info.group_id != memslot_group || self._live.count(id) == 0) {
        ++self._stats.bad_releases;
        std::fprintf(stderr, "demo: qxl: release of unknown resource %#llx (group %u)\n",
                     static_cast<unsigned long long>(id), release_info.group_id);
        return;
    }
    self.free_locked(id);
    ++self._stats.released;
}

int fake_qxl::cb_get_cursor_command(QXLInstance *qin, QXLCommandExt *cmd) {
    fake_qxl &self = of(qin);
    std::lock_guard lock(self._mutex);
    if (self._cursor_commands.empty()) return 0;
    *cmd = self._cursor_commands.front();
    self._cursor_commands.pop_front();
    ++self._stats.cursor_fetched;
    return 1;
}

int fake_qxl::cb_req_cursor_notification(QXLInstance *qin) {
    fake_qxl &self = of(qin);
    std::lock_guard lock(self._mutex);
    if (!self._cursor_commands.empty()) return 0;
    self._notify_cursor = true;
    ++self._stats.notify_requests;
    return 1;
}

void fake_qxl::cb_notify_update(QXLInstance *, uint32_t) {}

int fake_qxl::cb_flush_resources(QXLInstance *) {
    return 0; // releases are applied as they arrive: nothing is pending
}

void fake_qxl::cb_async_complete(QXLInstance *, uint64_t cookie) {
    std::fprintf(stderr, "demo: qxl: unexpected async_complete %llu\n",
                 static_cast<unsigned long long>(cookie));
}

void fake_qxl::cb_update_area_complete(QXLInstance *, uint32_t, QXLRect *, uint32_t) {}

void fake_qxl::cb_set_client_capabilities(QXLInstance *, uint8_t client_present, uint8_t *) {
    std::printf("demo: qxl: display client %s\n", client_present ? "present" : "gone");
    std::fflush(stdout);
}

int fake_qxl::cb_client_monitors_config(QXLInstance *, VDAgentMonitorsConfig *) {
    return 0; // not supported by this device: the server uses the agent, if any
}

} // namespace rs::demo
