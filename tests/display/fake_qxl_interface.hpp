// Test helper: the VMM's side of one QXL device, as QEMU's qxl.c plays it.
// A real QXLInstance whose QXLInterface (version 3.3) hands out commands
// from two queues the test fills (display and cursor rings), and records
// what the server gives back: released resources, notify_update ids and
// async cookies. The server calls it on its display shard; the test thread
// fills the queues and reads the records, so every member is behind one
// mutex.
#pragma once

#include <spice.h>
#include <spice/qxl_dev.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <vector>

namespace rs::testing {

class fake_qxl_interface {
  public:
    /// One release_resource call: where the QXLReleaseInfo was (a host
    /// pointer into guest memory), its id, and the group it came with.
    struct release_record {
        uintptr_t info = 0;
        uint64_t id = 0;
        uint32_t group_id = 0;
    };

    explicit fake_qxl_interface(const QXLDevInitInfo &init)
        : _init(init) {
        _block.qxl.base.sif = &table().base;
        _block.qxl.id = 0;
        _block.self = this;
    }
    fake_qxl_interface(const fake_qxl_interface &) = delete;
    fake_qxl_interface &operator=(const fake_qxl_interface &) = delete;

    QXLInstance *instance() noexcept { return &_block.qxl; }

    void push(const QXLCommandExt &cmd) {
        std::lock_guard lk(_m);
        _display.push_back(cmd);
    }
    void push_cursor(const QXLCommandExt &cmd) {
        std::lock_guard lk(_m);
        _cursor.push_back(cmd);
    }

    /// Waits until the server has taken every queued command of both rings.
    bool wait_until_taken(std::chrono::milliseconds timeout) {
        std::unique_lock lk(_m);
        return _cv.wait_for(lk, timeout, [&] { return _display.empty() && _cursor.empty(); });
    }

    uint64_t display_taken() const {
        return locked([&] { return _display_taken; });
    }
    uint64_t cursor_taken() const {
        return locked([&] { return _cursor_taken; });
    }
    std::vector<release_record> releases() const {
        return locked([&] { return _releases; });
    }
    std::vector<uint64_t> async_cookies() const {
        return locked([&] { return _cookies; });
    }
    uint64_t updates_notified() const {
        return locked([&] { return _updates; });
    }

  private:
    struct block {
        QXLInstance qxl{};
        fake_qxl_interface *self = nullptr;
    };

    static fake_qxl_interface &of(QXLInstance *q) noexcept {
        // `block` is standard layout, so its first member shares its address.
        return *reinterpret_cast<block *>(q)->self;
    }

    template <typename F> auto locked(F f) const -> decltype(f()) {
        std::lock_guard lk(_m);
        return f();
    }

    static int take(QXLInstance *q, QXLCommandExt *cmd, bool cursor) {
        auto &f = of(q);
        std::lock_guard lk(f._m);
        auto &ring = cursor ? f._cursor : f._display;
        if (ring.empty()) return 0;
        *cmd = ring.front();
        ring.pop_front();
        ++(cursor ? f._cursor_taken : f._display_taken);
        if (f._display.empty() && f._cursor.empty()) f._cv.notify_all();
        return 1;
    }

    static int ring_empty(QXLInstance *q, bool cursor) {
        auto &f = of(q);
        std::lock_guard lk(f._m);
        return (cursor ? f._cursor : f._display).empty() ? 1 : 0;
    }

    static const QXLInterface &table() {
        static const QXLInterface t = [] {
            QXLInterface i{};
            i.base.type = SPICE_INTERFACE_QXL;
            i.base.description = "fake qxl";
            i.base.major_version = SPICE_INTERFACE_QXL_MAJOR;
            i.base.minor_version = SPICE_INTERFACE_QXL_MINOR;
            i.attached_worker = [](QXLInstance *) {};
            i.set_compression_level = [](QXLInstance *, int) {};
            i.get_init_info = [](QXLInstance *q, QXLDevInitInfo *info) { *info = of(q)._init; };
            i.get_command = [](QXLInstance *q, QXLCommandExt *c) { return take(q, c, false); };
            i.req_cmd_notification = [](QXLInstance *q) { return ring_empty(q, false); };
            i.release_resource = [](QXLInstance *q, QXLReleaseInfoExt r) {
                auto &f = of(q);
                release_record rec;
                rec.info = reinterpret_cast<uintptr_t>(r.info);
                std::memcpy(&rec.id, r.info, sizeof rec.id);
                rec.group_id = r.group_id;
                std::lock_guard lk(f._m);
                f._releases.push_back(rec);
            };
            i.get_cursor_command = [](QXLInstance *q, QXLCommandExt *c) {
                return take(q, c, true);
            };
            i.req_cursor_notification = [](QXLInstance *q) { return ring_empty(q, true); };
            i.notify_update = [](QXLInstance *q, uint32_t) {
                auto &f = of(q);
                std::lock_guard lk(f._m);
                ++f._updates;
            };
            i.flush_resources = [](QXLInstance *) { return 0; };
            i.async_complete = [](QXLInstance *q, uint64_t cookie) {
                auto &f = of(q);
                std::lock_guard lk(f._m);
                f._cookies.push_back(cookie);
            };
            i.update_area_complete = [](QXLInstance *, uint32_t, QXLRect *, uint32_t) {};
            i.set_client_capabilities = [](QXLInstance *, uint8_t, uint8_t *) {};
            i.client_monitors_config = [](QXLInstance *, VDAgentMonitorsConfig *) { return 0; };
            return i;
        }();
        return t;
    }

    block _block;
    QXLDevInitInfo _init;
    mutable std::mutex _m;
    std::condition_variable _cv;
    std::deque<QXLCommandExt> _display;
    std::deque<QXLCommandExt> _cursor;
    uint64_t _display_taken = 0;
    uint64_t _cursor_taken = 0;
    uint64_t _updates = 0;
    std::vector<release_record> _releases;
    std::vector<uint64_t> _cookies;
};

} // namespace rs::testing
