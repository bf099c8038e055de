// A fake QXL device, driven through the public <spice.h> API the way QEMU
// drives libspice-server: one guest-memory buffer registered as a memslot,
// the primary surface inside it, and command/cursor rings of QXL structs
// written into that memory, handed out by get_command/get_cursor_command and
// given back by release_resource.
#pragma once

#include <spice.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

namespace rs::demo {

/// A rectangle in surface pixels, [left, right) x [top, bottom). A value type.
struct rect {
    int left = 0;
    int top = 0;
    int right = 0;
    int bottom = 0;

    int width() const noexcept { return right - left; }
    int height() const noexcept { return bottom - top; }
    bool empty() const noexcept { return right <= left || bottom <= top; }
    rect intersect(const rect &o) const noexcept;
    /// The bounding box of both (an empty side is ignored).
    rect unite(const rect &o) const noexcept;
    /// Whether the two overlap or share an edge.
    bool touches(const rect &o) const noexcept;
    bool operator==(const rect &) const = default;
};

/// An immutable 32-bit xRGB image, top-down, `width` pixels a row. Shared (by
/// shared_ptr) between the scene's display list and the ops built from it;
/// its `hash` names the content (the device derives QXL image ids from it).
struct bitmap {
    int width = 0;
    int height = 0;
    std::vector<uint32_t> pixels;
    uint64_t hash = 0;

    bitmap(int w, int h, uint32_t fill);
    uint32_t *row(int y) noexcept { return pixels.data() + static_cast<std::size_t>(y) * width; }
    const uint32_t *row(int y) const noexcept {
        return pixels.data() + static_cast<std::size_t>(y) * width;
    }
    /// Computes `hash`; call once the pixels are final.
    void seal() noexcept;
};
using bitmap_ptr = std::shared_ptr<const bitmap>;

/// One drawing operation on the primary surface, in the only two forms the
/// demo uses (and so can render itself exactly): a solid fill with ROP PUT,
/// or a copy of a 32-bit bitmap with ROP PUT, no clip, no scaling.
struct draw_op {
    enum class kind : uint8_t { fill, copy };
    kind type = kind::fill;
    rect area;          // destination on the surface
    uint32_t color = 0; // fill: xRGB
    bitmap_ptr src;     // copy: the source image
    int src_x = 0;      // copy: source pixel drawn at area.left/top
    int src_y = 0;
};

/// An ARGB (alpha, not premultiplied) cursor image and its hot spot.
struct cursor_image {
    int width = 0;
    int height = 0;
    int hot_x = 0;
    int hot_y = 0;
    std::vector<uint32_t> pixels;
};

/// Counters of the device's traffic with the server (read from any thread).
struct qxl_stats {
    uint64_t commands_queued = 0;
    uint64_t commands_fetched = 0;
    uint64_t cursor_queued = 0;
    uint64_t cursor_fetched = 0;
    uint64_t released = 0;
    uint64_t bad_releases = 0;
    uint64_t wakeups = 0;
    uint64_t notify_requests = 0;
    uint64_t oom_calls = 0;
    uint64_t full = 0; // submissions refused for lack of memory or ring space
};

/// Geometry and limits of the fake device.
struct qxl_config {
    int width = 1024;
    int height = 768;
    std::size_t heap_bytes = std::size_t{64} << 20; // command memory after the primary
    std::size_t max_queued = 1024;                  // commands not yet fetched, per ring
    std::size_t max_in_flight = 4096;               // blocks not yet released
    int id = 0; ///< the QXLInstance id: 0 for the first head, 1, 2, ... for more
};

/// The fake QXL device: owns the guest memory (primary surface + a heap of
/// command blocks), the QXLInstance registered with the server, and the two
/// rings. Producer methods (attach, submit, cursor_*, update_primary) run on
/// the demo's main-loop thread. The QXLInterface callbacks run on the
/// server's worker thread; everything both sides touch (rings, heap, notify
/// flags) is guarded by `_mutex`, and QXL structs written into guest memory
/// are published to the worker by the ring push under that mutex.
class fake_qxl {
  public:
    fake_qxl(SpiceServer *server, const qxl_config &config);
    ~fake_qxl();
    fake_qxl(const fake_qxl &) = delete;
    fake_qxl &operator=(const fake_qxl &) = delete;

    /// Adds the QXL interface to the server, registers the memslot and
    /// creates the primary surface. False if the server refused the interface.
    bool attach();

    /// Queues `ops` as QXL drawables, all or nothing, and wakes the worker if
    /// it asked for a notification. False when the heap or the ring is full
    /// (the worker is then asked to free memory with spice_qxl_oom): retry
    /// later with the same ops.
    bool submit(std::span<const draw_op> ops);
    /// Queues QXL_CURSOR_SET (shape, position, visible) / QXL_CURSOR_MOVE.
    bool cursor_set(const cursor_image &shape, int x, int y);
    bool cursor_move(int x, int y);

    /// spice_qxl_update_area over the whole primary (the server drains the
    /// ring and renders into guest memory), then returns the primary's pixels
    /// as the server rendered them (width*height, top-down).
    const uint32_t *update_primary();

    int width() const noexcept { return _config.width; }
    int height() const noexcept { return _config.height; }
    QXLInstance *instance() noexcept { return &_dev.qxl; }
    qxl_stats stats() const;

  private:
    struct device {
        QXLInstance qxl; // first: callbacks cast QXLInstance* back to device*
        fake_qxl *self;
    };
    static fake_qxl &of(QXLInstance *qin) noexcept;

    // QXLInterface callbacks (worker thread, except attached_worker,
    // set_compression_level and get_init_info which come from
    // spice_server_add_interface on the main thread).
    static void cb_attached_worker(QXLInstance *qin);
    static void cb_set_compression_level(QXLInstance *qin, int level);
    static void cb_get_init_info(QXLInstance *qin, QXLDevInitInfo *info);
    static int cb_get_command(QXLInstance *qin, QXLCommandExt *cmd);
    static int cb_req_cmd_notification(QXLInstance *qin);
    static void cb_release_resource(QXLInstance *qin, QXLReleaseInfoExt release_info);
    static int cb_get_cursor_command(QXLInstance *qin, QXLCommandExt *cmd);
    static int cb_req_cursor_notification(QXLInstance *qin);
    static void cb_notify_update(QXLInstance *qin, uint32_t update_id);
    static int cb_flush_resources(QXLInstance *qin);
    static void cb_async_complete(QXLInstance *qin, uint64_t cookie);
    static void cb_update_area_complete(QXLInstance *qin, uint32_t surface_id, QXLRect *rects,
                                        uint32_t num_rects);
    static void cb_set_client_capabilities(QXLInstance *qin, uint8_t client_present,
                                           uint8_t caps[SPICE_CAPABILITIES_SIZE]);
    static int cb_client_monitors_config(QXLInstance *qin, VDAgentMonitorsConfig *config);

    // Guest memory: offsets are from the start of the buffer.
    QXLPHYSICAL phys(std::size_t offset) const noexcept;
    uint8_t *host(std::size_t offset) const noexcept {
        return static_cast<uint8_t *>(_mem) + offset;
    }
    // Heap (call with _mutex held).
    bool alloc_locked(std::size_t size, std::size_t &offset);
    void free_locked(std::size_t offset);
    // Writes one op into a block at `offset` (size from op_size) and returns
    // the command that names it.
    static std::size_t op_size(const draw_op &op);
    QXLCommandExt write_op(const draw_op &op, std::size_t offset);
    uint32_t image_id(const bitmap &bm);
    // Reserves heap blocks of `sizes` for commands about to go on the
    // display (or cursor) ring; all or nothing. False when full.
    bool reserve(std::span<const std::size_t> sizes, std::vector<std::size_t> &offsets,
                 bool cursor_ring);
    // Pushes written commands on a ring and wakes the worker if it asked.
    void publish(std::span<const QXLCommandExt> cmds, bool cursor_ring);
    QXLCommandExt cursor_command(std::size_t offset) const;

    SpiceServer *_server;
    qxl_config _config;
    QXLInterface _iface{};
    device _dev{};
    void *_mem = nullptr;
    std::size_t _mem_size = 0;
    std::size_t _primary_bytes = 0;

    mutable std::mutex _mutex;
    std::deque<QXLCommandExt> _commands;        // display ring
    std::deque<QXLCommandExt> _cursor_commands; // cursor ring
    bool _notify_commands = false;              // worker waits for a wakeup
    bool _notify_cursor = false;
    std::map<std::size_t, std::size_t> _free;           // heap offset -> size, coalesced
    std::unordered_map<std::size_t, std::size_t> _live; // blocks the server holds
    qxl_stats _stats;

    // Main-loop thread only.
    bool _oom_asked = false;
    std::atomic<int> _compression_level{-1};
};

} // namespace rs::demo
