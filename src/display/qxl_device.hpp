// One QXL device: its memslots, surfaces, the worker that drains the guest's
// command and cursor rings, and the display and cursor channel clients that
// watch it.
#pragma once

#include <spice.h>

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "display/canvas.hpp"
#include "display/client_caches.hpp"
#include "display/draw.hpp"
#include "display/image_settings.hpp"
#include "display/memslot.hpp"
#include "reds/channel_client.hpp"
#include "runtime/cross_shard.hpp"
#include "runtime/sync.hpp"

namespace rs {

class display_channel_client;
class cursor_channel_client;

/// State of the cursor as the guest last set it; sent to each new cursor client.
struct cursor_state {
    draw::point16 position;
    bool visible = false;
    uint16_t trail_length = 0;
    uint16_t trail_frequency = 0;
    std::shared_ptr<const draw::cursor_shape> shape;
};

/// One QXLInstance. Created on the VMM thread by spice_server_add_interface;
/// from then on it lives on its display shard (`home()`): the worker, the
/// canvas, the memslots and the channel clients are touched only there.
/// VMM threads reach it through sync_call / async_call / post, which turn
/// each spice_qxl_* call into a message to the home shard.
class qxl_device {
  public:
    /// Calls `get_init_info` (on the calling VMM thread, as the reference does
    /// in red_qxl_init) and starts the worker on `home`.
    /// `group`: the other QXL devices of the same server, on the same
    /// shard (a new group of its own when null).
    qxl_device(QXLInstance *qxl, shard &home, std::shared_ptr<display_group> group = nullptr);
    ~qxl_device();
    qxl_device(const qxl_device &) = delete;
    qxl_device &operator=(const qxl_device &) = delete;

    shard &home() noexcept { return _home; }
    /// The server's devices, whose display channels share each client's
    /// caches. Home shard.
    display_group &group() noexcept { return *_group; }
    QXLInstance *instance() noexcept { return _qxl; }
    int id() const noexcept { return _qxl->id; }
    const QXLDevInitInfo &init_info() const noexcept { return _init; }

    // ---- from VMM threads -----------------------------------------------------
    /// Runs f(*this) on the home shard and waits for its result (the calling
    /// VMM thread blocks; the home shard never waits on VMM threads).
    template <typename F> auto sync_call(F f) {
        return call_sync(_home, [this, fn = std::move(f)]() mutable { return fn(*this); });
    }
    /// Runs f(*this) on the home shard, then completes `cookie` through
    /// QXLInterface::async_complete from there, as the reference's worker does.
    template <typename F> void async_call(uint64_t cookie, F f) {
        _home.post([this, cookie, fn = std::move(f)]() mutable {
            fn(*this);
            complete_async(cookie);
        });
    }
    template <typename F> void post(F f) {
        _home.post([this, fn = std::move(f)]() mutable { fn(*this); });
    }
    /// Stops the worker and every client and waits for them; VMM thread.
    void shutdown();

    // ---- home shard ---------------------------------------------------------------
    void start();
    void stop();
    bool running() const noexcept { return _running; }
    void wakeup();
    void oom();
    void add_memslot(const QXLDevMemSlot &slot);
    void del_memslot(uint32_t group, uint32_t slot);
    void reset_memslots();
    void create_primary(uint32_t surface_id, const QXLDevSurfaceCreate &create);
    void destroy_primary(uint32_t surface_id);
    void destroy_surface(uint32_t surface_id);
    void destroy_surfaces();
    /// Brings `area` of the surface up to date (renders what is pending) and
    /// reports it as the one dirty rect, as the reference reports what it
    /// rendered.
    void update_area(uint32_t surface_id, const QXLRect &area, std::span<QXLRect> dirty,
                     bool clear_dirty);
    void flush_surfaces();
    void reset_image_cache();
    void reset_cursor();
    void loadvm_commands(std::span<const QXLCommandExt> cmds);
    void monitors_config(QXLPHYSICAL config, int group_id);
    void set_max_monitors(uint32_t n) noexcept { _max_monitors = n; }

    /// Serve a linked display / cursor channel; returns when the client leaves.
    task<void> serve_display(std::unique_ptr<stream> s, channel_link link, image_settings images);
    task<void> serve_cursor(std::unique_ptr<stream> s, channel_link link);
    /// Stops the display and cursor clients of one session.
    void stop_clients_of(uint32_t connection_id);

    // ---- what the channel clients read (home shard) ------------------------------
    /// The canvas, brought up to date first (render_pending): while a
    /// drawable is being broadcast, the picture just before it.
    const surface_store &surfaces() {
        render_pending();
        return *_surfaces;
    }
    /// Renders, in order, every drawable that was sent to the clients but not
    /// drawn into the canvas yet, and releases their commands; not the one
    /// whose broadcast is in progress.
    void render_pending();
    /// Drawables drawn into the canvas, and drawables never drawn because a
    /// later one covered them before anything needed their pixels.
    uint64_t rendered_draws() const noexcept { return _rendered; }
    uint64_t culled_draws() const noexcept { return _culled; }
    /// Drawables held unrendered at most; more render the oldest.
    static constexpr size_t max_pending_draws = 64;
    const cursor_state &cursor() const noexcept { return _cursor; }
    bool has_primary() const noexcept { return _primary_id.has_value(); }
    uint32_t primary_id() const noexcept { return _primary_id.value_or(0); }

  private:
    const QXLInterface *sif() const noexcept {
        return reinterpret_cast<const QXLInterface *>(_qxl->base.sif);
    }
    task<void> worker();
    bool drain_display(int budget);
    bool drain_cursor(int budget);
    void process_display(const QXLCommandExt &cmd);
    void process_cursor(const QXLCommandExt &cmd);
    void release(const QXLCommandExt &cmd);
    void complete_async(uint64_t cookie);
    void update_client_capabilities();
    void broadcast(const std::function<void(display_channel_client &)> &f);
    void broadcast_cursor(const std::function<void(cursor_channel_client &)> &f);
    bool create_surface(uint32_t id, const draw::surface_cmd &cmd);
    /// A drawable the clients got and the canvas has not: rendering is
    /// lazy, as in the reference, so a drawable that a later one covers
    /// before anyone needs its pixels is never rendered. Its command (and
    /// the guest memory it reads) is held until then.
    struct pending_draw {
        QXLCommandExt cmd;
        draw::drawable d;
        bool barrier = false;  ///< reads pixels elsewhere: nothing before it may be culled
        bool rendered = false; ///< rendered while its broadcast was in progress
    };
    void draw_lazily(const QXLCommandExt &cmd, draw::drawable &&d);
    void render(pending_draw &p);
    void drop_surface(uint32_t id);

    QXLInstance *_qxl;
    shard &_home;
    std::shared_ptr<display_group> _group;
    QXLDevInitInfo _init{};
    std::unique_ptr<memslot_table> _memslots;
    std::unique_ptr<surface_store> _surfaces;
    std::optional<uint32_t> _primary_id;
    cursor_state _cursor;
    uint32_t _max_monitors = 1;
    bool _running = false;
    bool _closing = false;
    event _wake;
    gate _work;
    std::vector<std::shared_ptr<display_channel_client>> _display_clients;
    std::vector<std::shared_ptr<cursor_channel_client>> _cursor_clients;
    std::list<pending_draw> _pending;
    const pending_draw *_in_flight = nullptr; // being broadcast: not released yet
    uint64_t _rendered = 0;
    uint64_t _culled = 0;
    uint64_t _commands = 0;
    uint64_t _bad_commands = 0;
};

} // namespace rs
