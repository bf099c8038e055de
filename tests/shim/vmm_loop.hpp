// Test helper: the VMM's side of libspice-server.so.1, as QEMU plays it,
// for tests that drive the library through <spice.h> only.
//
// vmm_loop is the VMM's main loop: a SpiceCoreInterface whose watches and
// timers fire from vmm_loop::pump on the calling thread. That thread is the
// "main-loop thread": it calls spice_server_init, so the library's control
// shard is host-driven from it, and every VMM call a test makes (add/remove
// interface, spice_qxl_*) is made from it too, as QEMU does under its lock.
// Blocking test clients run on a second thread through vmm_loop::run: the
// loop keeps turning until the client's step has finished (bounded).
//
// qxl_guest is one QXL device: fake_qxl_interface's rings, one memslot of
// fake guest RAM, a primary surface and builders for solid fills on it.
// Header-only: tests/<area>/ compiles only *_test.cpp files.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spice.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "display/fake_qxl_interface.hpp"
#include "display/guest_memory.hpp"
#include "support/spice_test_client.hpp"

/// A SpiceCoreInterface watch: one fd the library wants readiness of.
struct SpiceWatch {
    int fd = -1;
    int mask = 0;
    SpiceWatchFunc func = nullptr;
    void *opaque = nullptr;
};

/// A SpiceCoreInterface timer; fires once per timer_start.
struct SpiceTimer {
    SpiceTimerFunc func = nullptr;
    void *opaque = nullptr;
    bool armed = false;
    std::chrono::steady_clock::time_point due;
};

namespace rs::testing {

/// The VMM's main loop. One at a time per process (the core interface has
/// no user pointer); owned and pumped by the test thread.
class vmm_loop {
  public:
    /// One channel_event call: SPICE_CHANNEL_EVENT_* and the channel.
    struct channel_event_record {
        int event = 0;
        int type = 0;
        int id = 0;
    };

    vmm_loop() {
        current() = this;
        _core.base.type = SPICE_INTERFACE_CORE;
        _core.base.description = "vmm_loop";
        _core.base.major_version = SPICE_INTERFACE_CORE_MAJOR;
        _core.base.minor_version = SPICE_INTERFACE_CORE_MINOR;
        _core.timer_add = [](SpiceTimerFunc f, void *o) {
            auto t = std::make_unique<SpiceTimer>();
            t->func = f;
            t->opaque = o;
            current()->_timers.push_back(std::move(t));
            return current()->_timers.back().get();
        };
        _core.timer_start = [](SpiceTimer *t, uint32_t ms) {
            t->armed = true;
            t->due = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        };
        _core.timer_cancel = [](SpiceTimer *t) { t->armed = false; };
        _core.timer_remove = [](SpiceTimer *t) {
            t->armed = false;
            t->func = nullptr; // freed after the current pump
        };
        _core.watch_add = [](int fd, int mask, SpiceWatchFunc f, void *o) {
            auto w = std::make_unique<SpiceWatch>();
            w->fd = fd;
            w->mask = mask;
            w->func = f;
            w->opaque = o;
            current()->_watches.push_back(std::move(w));
            return current()->_watches.back().get();
        };
        _core.watch_update_mask = [](SpiceWatch *w, int mask) { w->mask = mask; };
        _core.watch_remove = [](SpiceWatch *w) {
            w->func = nullptr; // freed after the current pump
        };
        _core.channel_event = [](int event, SpiceChannelEventInfo *info) {
            if (info == nullptr) return;
            std::lock_guard lk(current()->_events_mutex);
            current()->_events.push_back({event, info->type, info->id});
        };
    }
    ~vmm_loop() { current() = nullptr; }
    vmm_loop(const vmm_loop &) = delete;
    vmm_loop &operator=(const vmm_loop &) = delete;

    SpiceCoreInterface *core() noexcept { return &_core; }

    /// One turn of the loop: waits up to `wait` for a watched fd, then runs
    /// the ready watches and the due timers.
    void pump(std::chrono::milliseconds wait = std::chrono::milliseconds(5)) {
        std::vector<pollfd> fds;
        std::vector<SpiceWatch *> ws;
        for (auto &w : _watches) {
            if (w->func == nullptr) continue;
            short ev = 0;
            if (w->mask & SPICE_WATCH_EVENT_READ) ev |= POLLIN;
            if (w->mask & SPICE_WATCH_EVENT_WRITE) ev |= POLLOUT;
            fds.push_back(pollfd{.fd = w->fd, .events = ev, .revents = 0});
            ws.push_back(w.get());
        }
        (void)::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
        for (size_t i = 0; i < fds.size(); ++i) {
            int ev = 0;
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ev |= SPICE_WATCH_EVENT_READ;
            if (fds[i].revents & POLLOUT) ev |= SPICE_WATCH_EVENT_WRITE;
            if (ev != 0 && ws[i]->func != nullptr) ws[i]->func(ws[i]->fd, ev, ws[i]->opaque);
        }
        const auto now = std::chrono::steady_clock::now();
        for (size_t i = 0; i < _timers.size(); ++i) {
            SpiceTimer *t = _timers[i].get();
            if (t->armed && t->func != nullptr && t->due <= now) {
                t->armed = false;
                t->func(t->opaque);
            }
        }
        std::erase_if(_watches, [](const auto &w) { return w->func == nullptr; });
        std::erase_if(_timers, [](const auto &t) { return t->func == nullptr; });
    }

    /// Turns the loop until `done()` holds or `limit` passes; true if it held.
    template <typename F>
    bool pump_until(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            pump();
        }
        return true;
    }

    /// Runs `step` (a blocking client action) on a client thread while the
    /// loop turns here; returns when it has finished. Steps are bounded by
    /// their client's own read timeouts, so this always returns.
    /// `each_turn` runs on this thread after every turn (a guest drawing).
    void run(const std::function<void()> &step, const std::function<void()> &each_turn = {}) {
        std::atomic<bool> finished{false};
        std::thread t([&] {
            step();
            finished.store(true);
        });
        while (!finished.load()) {
            pump(std::chrono::milliseconds(2));
            if (each_turn) each_turn();
        }
        t.join();
    }

    std::vector<channel_event_record> events() {
        std::lock_guard lk(_events_mutex);
        return _events;
    }
    size_t count_events(int event, int type) {
        std::lock_guard lk(_events_mutex);
        return static_cast<size_t>(std::count_if(_events.begin(), _events.end(), [&](auto &e) {
            return e.event == event && e.type == type;
        }));
    }

  private:
    static vmm_loop *&current() {
        static vmm_loop *p = nullptr;
        return p;
    }

    SpiceCoreInterface _core{};
    std::vector<std::unique_ptr<SpiceWatch>> _watches;
    std::vector<std::unique_ptr<SpiceTimer>> _timers;
    std::mutex _events_mutex; // channel_event may come from any thread
    std::vector<channel_event_record> _events;
};

/// A listening socket on 127.0.0.1 with an ephemeral port, handed to the
/// library with spice_server_set_listen_socket_fd (the library dups it).
class loopback_listener {
  public:
    loopback_listener() {
        _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (_fd < 0 || ::bind(_fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
            ::listen(_fd, 128) != 0 || ::getsockname(_fd, reinterpret_cast<sockaddr *>(&a), &len))
            return;
        _port = ntohs(a.sin_port);
    }
    ~loopback_listener() {
        if (_fd >= 0) ::close(_fd);
    }
    loopback_listener(const loopback_listener &) = delete;
    loopback_listener &operator=(const loopback_listener &) = delete;
    int fd() const noexcept { return _fd; }
    int port() const noexcept { return _port; }

  private:
    int _fd = -1;
    int _port = -1;
};

/// spice_server_new + init on the loop's thread, without a password, on a
/// loopback listener; destroyed with spice_server_destroy.
class shim_server {
  public:
    explicit shim_server(vmm_loop &loop) {
        _s = spice_server_new();
        spice_server_set_listen_socket_fd(_s, _listener.fd());
        spice_server_set_noauth(_s);
        _init_rc = spice_server_init(_s, loop.core());
    }
    ~shim_server() { spice_server_destroy(_s); }
    shim_server(const shim_server &) = delete;
    shim_server &operator=(const shim_server &) = delete;

    SpiceServer *get() noexcept { return _s; }
    bool ok() const noexcept { return _s != nullptr && _init_rc == 0 && _listener.port() > 0; }
    int port() const noexcept { return _listener.port(); }

  private:
    loopback_listener _listener;
    SpiceServer *_s = nullptr;
    int _init_rc = -1;
};

/// One QXL device of the VMM: rings (fake_qxl_interface), one memslot of
/// guest RAM, and a primary surface of side × side pixels in it. Calls are
/// made from the loop's thread.
class qxl_guest {
  public:
    static constexpr size_t ram_bytes = size_t{1} << 20;

    /// Drawables are rewritten in place, round robin over this many slots;
    /// at most max_queued are pushed and not yet taken, and the device
    /// holds at most one more, so a slot is released before it is reused.
    static constexpr size_t draw_slots = 64;
    static constexpr uint64_t max_queued = 32;

    qxl_guest(int id, uint32_t side)
        : _side(side)
        , _ram(ram_bytes)
        , _qxl(guest_memory::init_info()) {
        _qxl.instance()->id = id;
        _primary = _ram.alloc(size_t{side} * side * 4, 4096);
        for (size_t i = 0; i < draw_slots; ++i)
            _draw_slots.push_back(_ram.alloc(sizeof(QXLDrawable)));
    }
    qxl_guest(const qxl_guest &) = delete;
    qxl_guest &operator=(const qxl_guest &) = delete;

    QXLInstance *instance() noexcept { return _qxl.instance(); }
    fake_qxl_interface &rings() noexcept { return _qxl; }
    uint32_t side() const noexcept { return _side; }

    /// add_interface, the memslot and the primary surface, as QEMU's qxl
    /// device does at realize and when the guest driver sets a mode.
    int add(SpiceServer *s) {
        const int rc = spice_server_add_interface(s, &instance()->base);
        if (rc != 0) return rc;
        QXLDevMemSlot slot = _ram.mem_slot();
        spice_qxl_add_memslot(instance(), &slot);
        QXLDevSurfaceCreate c{};
        c.width = _side;
        c.height = _side;
        c.stride = static_cast<int32_t>(_side * 4);
        c.format = SPICE_SURFACE_FMT_32_xRGB;
        c.mem = _primary;
        c.group_id = guest_memory::group;
        spice_qxl_create_primary_surface(instance(), 0, &c);
        return 0;
    }
    int remove() { return spice_server_remove_interface(&instance()->base); }

    /// Queues a solid fill of `colour` over a square of the primary and
    /// wakes the worker; false (nothing queued) while max_queued commands
    /// wait for the device.
    bool draw(int32_t left, int32_t top, int32_t size, uint32_t colour) {
        if (_pushed - _qxl.display_taken() >= max_queued) return false;
        const int32_t s = static_cast<int32_t>(_side);
        auto d = guest_memory::drawable(
            QXL_DRAW_FILL,
            guest_memory::rect(std::clamp(left, 0, s), std::clamp(top, 0, s),
                               std::clamp(left + size, 0, s), std::clamp(top + size, 0, s)));
        d.surface_id = 0;
        d.u.fill.brush.type = SPICE_BRUSH_TYPE_SOLID;
        d.u.fill.brush.u.color = colour;
        d.u.fill.rop_descriptor = SPICE_ROPD_OP_PUT;
        const QXLPHYSICAL at = _draw_slots[_pushed % draw_slots];
        _ram.set(at, d);
        _qxl.push(guest_memory::command(QXL_CMD_DRAW, at));
        ++_pushed;
        spice_qxl_wakeup(instance());
        return true;
    }
    uint64_t pushed() const noexcept { return _pushed; }

    /// Writes the primary surface's pixels (xRGB) directly, as a guest
    /// writing its framebuffer before the device is added.
    template <typename F> void paint_primary(F &&pixel_at) {
        for (uint32_t y = 0; y < _side; ++y)
            for (uint32_t x = 0; x < _side; ++x)
                _ram.set(_primary + (uint64_t{y} * _side + x) * 4, uint32_t{pixel_at(x, y)});
    }

    /// Queues a COPY_BITS of the square at (src_x, src_y) to (left, top).
    bool copy_bits(int32_t src_x, int32_t src_y, int32_t left, int32_t top, int32_t size) {
        if (_pushed - _qxl.display_taken() >= max_queued) return false;
        auto d = guest_memory::drawable(QXL_COPY_BITS,
                                        guest_memory::rect(left, top, left + size, top + size));
        d.surface_id = 0;
        d.u.copy_bits.src_pos.x = src_x;
        d.u.copy_bits.src_pos.y = src_y;
        const QXLPHYSICAL at = _draw_slots[_pushed % draw_slots];
        _ram.set(at, d);
        _qxl.push(guest_memory::command(QXL_CMD_DRAW, at));
        ++_pushed;
        spice_qxl_wakeup(instance());
        return true;
    }

    /// Queues a COPY of a `size`-square 32 bpp bitmap filled with `fill`
    /// to (left, top), its QXL image `id` flagged QXL_IMAGE_CACHE (the
    /// guest asks the server to cache it for the client).
    bool copy_cached_image(int32_t left, int32_t top, uint32_t size, uint64_t id, uint8_t fill) {
        if (_pushed - _qxl.display_taken() >= max_queued) return false;
        std::vector<uint8_t> px(size_t{size} * size * 4, fill);
        guest_memory::bitmap_opts o;
        o.id = id;
        o.image_flags = QXL_IMAGE_CACHE;
        const QXLPHYSICAL img =
            _ram.bitmap_image(SPICE_BITMAP_FMT_32BIT, size, size, size * 4, px, o);
        const auto s = static_cast<int32_t>(size);
        auto d =
            guest_memory::drawable(QXL_DRAW_COPY, guest_memory::rect(left, top, left + s, top + s));
        d.surface_id = 0;
        d.u.copy.src_bitmap = img;
        d.u.copy.src_area = guest_memory::rect(0, 0, s, s);
        d.u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;
        const QXLPHYSICAL at = _draw_slots[_pushed % draw_slots];
        _ram.set(at, d);
        _qxl.push(guest_memory::command(QXL_CMD_DRAW, at));
        ++_pushed;
        spice_qxl_wakeup(instance());
        return true;
    }

  private:
    uint32_t _side;
    guest_memory _ram;
    fake_qxl_interface _qxl;
    QXLPHYSICAL _primary = 0;
    std::vector<QXLPHYSICAL> _draw_slots;
    uint64_t _pushed = 0;
};

/// Links main on `port` and reads MAIN_INIT; the session id, or 0.
inline uint32_t link_main(spice_test_client &c, int port) {
    if (!c.connect(port)) return 0;
    if (c.link_and_auth(spice_test_client::main_link()) != uint32_t{SPICE_LINK_ERR_OK}) return 0;
    auto init = c.read_message_of(SPICE_MSG_MAIN_INIT);
    if (!init || init->body.size() < 4) return 0;
    wire::reader r(init->body);
    return r.u32();
}

/// Links channel (type, id) of session `sid`; true when the link succeeded.
inline bool link_channel(spice_test_client &c, int port, uint8_t type, uint8_t id, uint32_t sid) {
    if (!c.connect(port)) return false;
    return c.link_and_auth(spice_test_client::link_to(type, id, sid)) ==
           uint32_t{SPICE_LINK_ERR_OK};
}

/// The (type, id) pairs of a SPICE_MSG_MAIN_CHANNELS_LIST body.
inline std::vector<std::pair<uint8_t, uint8_t>> channels_of(const channel_message &m) {
    std::vector<std::pair<uint8_t, uint8_t>> out;
    wire::reader r(m.body);
    const uint32_t n = r.u32();
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
        const uint8_t type = r.u8();
        const uint8_t id = r.u8();
        if (r.ok()) out.emplace_back(type, id);
    }
    return out;
}

/// Asks the main channel for its channel list and reads it; nullopt when
/// the main channel is gone.
inline std::optional<std::vector<std::pair<uint8_t, uint8_t>>> ask_channels(spice_test_client &c) {
    if (!c.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS)) return std::nullopt;
    auto m = c.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST);
    if (!m) return std::nullopt;
    return channels_of(*m);
}

} // namespace rs::testing
