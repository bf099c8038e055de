#include "display/qxl_device.hpp"

#include <cstring>
#include <variant>

#include "display/display_channel.hpp"
#include "display/display_messages.hpp"
#include "display/qxl_parser.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

template <class... Ts> struct overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> overloaded(Ts...) -> overloaded<Ts...>;

/// Commands taken from a ring before the worker yields to its shard, so one
/// busy guest cannot starve the other devices and clients of the shard.
constexpr int ring_batch = 64;

} // namespace

qxl_device::qxl_device(QXLInstance *qxl, shard &home, std::shared_ptr<display_group> group)
    : _qxl(qxl)
    , _home(home)
    , _group(group ? std::move(group) : std::make_shared<display_group>()) {
    const QXLInterface *i = sif();
    if (i->attached_worker != nullptr) i->attached_worker(qxl);
    if (i->set_compression_level != nullptr) i->set_compression_level(qxl, 9);
    if (i->get_init_info != nullptr) i->get_init_info(qxl, &_init);
    _memslots = std::make_unique<memslot_table>(_init);
    _surfaces = std::make_unique<surface_store>();
    gate::holder h(_work);
    _home.post([this, h = std::move(h)]() mutable {
        spawn(
            [](qxl_device &d, gate::holder g) -> task<void> {
                co_await d.worker();
                (void)g;
            }(*this, std::move(h)),
            "qxl worker");
    });
}

qxl_device::~qxl_device() { shutdown(); }

void qxl_device::shutdown() {
    if (_home.on_owner_thread()) {
        // Cannot wait for our own shard from inside it; the owner (the shim)
        // always shuts a device down from a VMM thread.
        RS_LOG_ERROR("qxl", "device {} shut down from its own display shard; clients left running",
                     id());
        _closing = true;
        _wake.set();
        return;
    }
    if (_closing && _work.is_closed()) return;
    call_sync(_home, [this]() -> task<void> {
        return [](qxl_device &d) -> task<void> {
            d._closing = true;
            d._wake.set();
            for (auto &c : d._display_clients)
                c->stop("device removed");
            for (auto &c : d._cursor_clients)
                c->stop("device removed");
            co_await d._work.close();
            d.render_pending();
            d._surfaces->destroy_all();
            d._primary_id.reset();
        }(*this);
    });
}

// ---- the worker -------------------------------------------------------------------

task<void> qxl_device::worker() {
    while (!_closing) {
        if (!_running) {
            _wake.reset();
            co_await _wake.wait();
            continue;
        }
        const bool more_display = drain_display(ring_batch);
        const bool more_cursor = drain_cursor(ring_batch);
        if (more_display || more_cursor) {
            co_await yield_now{};
            continue;
        }
        // Both rings empty: ask the guest to notify us. A 0 answer means
        // commands arrived meanwhile, so look again instead of sleeping.
        _wake.reset();
        const bool display_waits = sif()->req_cmd_notification(_qxl) != 0;
        const bool cursor_waits = sif()->req_cursor_notification(_qxl) != 0;
        if (!display_waits || !cursor_waits) continue;
        co_await _wake.wait();
    }
}

bool qxl_device::drain_display(int budget) {
    for (int n = 0; n < budget; ++n) {
        QXLCommandExt cmd{};
        if (sif()->get_command(_qxl, &cmd) == 0) return false;
        process_display(cmd);
    }
    return true;
}

bool qxl_device::drain_cursor(int budget) {
    for (int n = 0; n < budget; ++n) {
        QXLCommandExt cmd{};
        if (sif()->get_cursor_command(_qxl, &cmd) == 0) return false;
        process_cursor(cmd);
    }
    return true;
}

void qxl_device::release(const QXLCommandExt &cmd) {
    auto info = qxl::release_info_of(cmd, *_memslots);
    if (!info) {
        RS_LOG_RATELIMITED(
            "qxl", "device {}: command at {:#x} cannot be released: its address does not translate",
            id(), cmd.cmd.data);
        return;
    }
    sif()->release_resource(_qxl, *info);
}

void qxl_device::process_display(const QXLCommandExt &cmd) {
    ++_commands;
    bool deferred = false; // a drawable held for lazy rendering
    auto parsed = qxl::parse_command(cmd, *_memslots);
    std::visit(overloaded{
                   [&](draw::drawable &d) {
                       if (!_surfaces->has_surface(d.surface_id)) {
                           RS_LOG_RATELIMITED(
                               "qxl", "device {}: draw on surface {} that does not exist; dropped",
                               id(), d.surface_id);
                           return;
                       }
                       draw_lazily(cmd, std::move(d));
                       deferred = true;
                   },
                   [&](draw::surface_cmd &s) {
                       if (s.type == QXL_SURFACE_CMD_CREATE) {
                           (void)create_surface(s.surface_id, s);
                       } else {
                           drop_surface(s.surface_id);
                       }
                   },
                   [&](draw::update_cmd &u) {
                       render_pending(); // the guest waits for these pixels
                       if (sif()->notify_update != nullptr) sif()->notify_update(_qxl, u.update_id);
                   },
                   [&](qxl::message_cmd &m) {
                       RS_LOG_DEBUG("qxl", "device {} guest message: {}", id(), m.text);
                   },
                   [&](draw::cursor_cmd &) {
                       RS_LOG_RATELIMITED(
                           "qxl", "device {}: cursor command on the display ring; dropped", id());
                   },
                   [&](qxl::parse_error &e) {
                       ++_bad_commands;
                       RS_LOG_RATELIMITED("qxl", "device {}: command type {} dropped: {}", id(),
                                          cmd.cmd.type, e.reason);
                   },
               },
               parsed);
    if (!deferred) release(cmd);
}

namespace {

/// Whether a drawable reads pixels other than those it draws over: a copy
/// within the surface, an image that is a surface, or declared surface
/// dependencies. Culling must not reach past such a drawable.
bool reads_elsewhere(const draw::drawable &d) {
    if (std::holds_alternative<draw::copy_bits>(d.op) || d.self_bitmap) return true;
    for (int32_t s : d.surface_deps)
        if (s >= 0) return true;
    bool surface_image = false;
    draw::for_each_image(d.op, [&](const draw::image &img, draw::image_role) {
        if (std::holds_alternative<draw::surface_ref>(img.payload)) surface_image = true;
    });
    return surface_image;
}

} // namespace

void qxl_device::draw_lazily(const QXLCommandExt &cmd, draw::drawable &&d) {
    auto &p = _pending.emplace_back(pending_draw{cmd, std::move(d), false, false});
    p.barrier = reads_elsewhere(p.d);
    // The clients get it now; a client that needs the canvas meanwhile (a
    // resync, a lossless resend) gets everything pending rendered but this
    // one: the picture it applies to.
    _in_flight = &p;
    broadcast([&](display_channel_client &c) { c.on_drawable(p.d); });
    _in_flight = nullptr;
    if (p.rendered) {
        release(p.cmd);
        _pending.pop_back();
        return;
    }
    // Cull what this one covers, back to the last barrier.
    // (Not when it reads pixels itself: what it covers may be its source.)
    if (!p.barrier && draw::replaces_bbox(p.d)) {
        auto it = std::prev(_pending.end());
        while (it != _pending.begin()) {
            --it;
            if (it->barrier) break;
            if (it->d.surface_id == p.d.surface_id && p.d.bbox.contains(it->d.bbox)) {
                release(it->cmd);
                it = _pending.erase(it);
                ++_culled;
            }
        }
    }
    while (_pending.size() > max_pending_draws) {
        render(_pending.front());
        release(_pending.front().cmd);
        _pending.pop_front();
    }
}

void qxl_device::render(pending_draw &p) {
    if (p.rendered) return;
    p.rendered = true;
    ++_rendered;
    if (!_surfaces->has_surface(p.d.surface_id)) return;
    if (auto r = _surfaces->render(p.d); !r)
        RS_LOG_RATELIMITED("qxl", "device {}: draw type {} not rendered: {}", id(),
                           draw_message_type(p.d.op), r.error().message());
}

void qxl_device::render_pending() {
    while (!_pending.empty()) {
        auto &p = _pending.front();
        // The one being broadcast stays unrendered: meanwhile the canvas
        // holds the picture before it (what a lossless resend needs).
        if (&p == _in_flight) break;
        render(p);
        release(p.cmd);
        _pending.pop_front();
    }
}

void qxl_device::process_cursor(const QXLCommandExt &cmd) {
    auto parsed = qxl::parse_command(cmd, *_memslots);
    if (auto *c = std::get_if<draw::cursor_cmd>(&parsed)) {
        switch (c->type) {
        case QXL_CURSOR_SET:
            _cursor.position = c->position;
            _cursor.visible = c->visible;
            _cursor.shape = c->shape;
            break;
        case QXL_CURSOR_MOVE:
            _cursor.position = c->position;
            break;
        case QXL_CURSOR_HIDE:
            _cursor.visible = false;
            break;
        case QXL_CURSOR_TRAIL:
            _cursor.trail_length = c->trail_length;
            _cursor.trail_frequency = c->trail_frequency;
            break;
        default:
            break;
        }
        broadcast_cursor([&](cursor_channel_client &cc) { cc.on_cursor(*c); });
    } else if (auto *e = std::get_if<qxl::parse_error>(&parsed)) {
        ++_bad_commands;
        RS_LOG_RATELIMITED("qxl", "device {}: cursor command dropped: {}", id(), e->reason);
    } else {
        RS_LOG_RATELIMITED("qxl",
                           "device {}: non-cursor command type {} on the cursor ring; dropped",
                           id(), cmd.cmd.type);
    }
    release(cmd);
}

void qxl_device::complete_async(uint64_t cookie) {
    if (sif()->async_complete != nullptr) sif()->async_complete(_qxl, cookie);
}

void qxl_device::broadcast(const std::function<void(display_channel_client &)> &f) {
    for (auto &c : _display_clients)
        if (!c->stopped()) f(*c);
}

void qxl_device::broadcast_cursor(const std::function<void(cursor_channel_client &)> &f) {
    for (auto &c : _cursor_clients)
        if (!c->stopped()) f(*c);
}

// ---- surfaces ---------------------------------------------------------------------

bool qxl_device::create_surface(uint32_t sid, const draw::surface_cmd &cmd) {
    if (_surfaces->has_surface(sid)) drop_surface(sid);
    if (auto r = _surfaces->apply(cmd); !r) {
        RS_LOG_RATELIMITED("qxl", "device {}: surface {} not created: {}", id(), sid,
                           r.error().message());
        return false;
    }
    const bool primary = _primary_id && *_primary_id == sid;
    broadcast([&](display_channel_client &c) {
        c.on_surface_created(sid, cmd.width, cmd.height, cmd.format, primary);
    });
    return true;
}

void qxl_device::drop_surface(uint32_t sid) {
    if (!_surfaces->has_surface(sid)) return;
    render_pending(); // what is pending may read or draw this surface
    (void)_surfaces->destroy_surface(sid);
    if (_primary_id && *_primary_id == sid) _primary_id.reset();
    broadcast([&](display_channel_client &c) { c.on_surface_destroyed(sid); });
}

void qxl_device::create_primary(uint32_t surface_id, const QXLDevSurfaceCreate &create) {
    const int64_t stride = create.stride;
    const uint64_t bytes = static_cast<uint64_t>(stride < 0 ? -stride : stride) * create.height;
    auto mem = _memslots->translate(create.mem, bytes, create.group_id);
    if (!mem) {
        RS_LOG_WARN("qxl",
                    "device {}: primary surface memory {:#x} (+{} bytes) is outside every memslot; "
                    "not created",
                    id(), create.mem, bytes);
        return;
    }
    draw::surface_cmd cmd;
    cmd.surface_id = surface_id;
    cmd.type = QXL_SURFACE_CMD_CREATE;
    cmd.format = create.format;
    cmd.width = create.width;
    cmd.height = create.height;
    cmd.stride = create.stride;
    cmd.data = *mem;
    // A second create without destroy replaces the primary. Drop the old
    // one first: dropping it after _primary_id is set would clear the id.
    drop_surface(surface_id);
    _primary_id = surface_id;
    if (!create_surface(surface_id, cmd)) {
        _primary_id.reset();
        return;
    }
    broadcast([](display_channel_client &c) { c.on_mark(); });
    update_client_capabilities();
}

void qxl_device::destroy_primary(uint32_t surface_id) {
    if (!_primary_id || *_primary_id != surface_id) {
        RS_LOG_WARN("qxl", "device {}: destroy_primary_surface({}) without that primary", id(),
                    surface_id);
        return;
    }
    drop_surface(surface_id);
}

void qxl_device::destroy_surface(uint32_t surface_id) { drop_surface(surface_id); }

void qxl_device::destroy_surfaces() {
    std::vector<uint32_t> ids;
    for (uint32_t sid = 0; sid < _init.n_surfaces && sid < 4096; ++sid)
        if (_surfaces->has_surface(sid)) ids.push_back(sid);
    for (auto sid : ids)
        drop_surface(sid);
    _primary_id.reset();
}

void qxl_device::update_area(uint32_t surface_id, const QXLRect &area, std::span<QXLRect> dirty,
                             bool) {
    // What the guest queued before asking must be drawn first (the reference
    // drains the ring here too); drawing itself is eager, so after that the
    // area is current. Bounded, so a guest that keeps the ring full cannot
    // hold the calling vCPU forever.
    if (_running) {
        for (int rounds = 0; rounds < 1024 && drain_display(ring_batch); ++rounds) {
        }
    }
    render_pending();
    // Report the area as the one rect brought up to date, as the reference
    // reports what it rendered.
    for (auto &r : dirty)
        r = QXLRect{};
    if (!_surfaces->has_surface(surface_id)) return;
    if (!dirty.empty()) dirty[0] = area;
}

void qxl_device::flush_surfaces() {}

void qxl_device::reset_image_cache() {
    // The guest's image ids start over: no client may take one from its cache.
    broadcast([](display_channel_client &c) { c.on_reset_image_cache(); });
}

void qxl_device::reset_cursor() {
    _cursor = cursor_state{};
    broadcast_cursor([](cursor_channel_client &c) { c.on_reset(); });
}

void qxl_device::loadvm_commands(std::span<const QXLCommandExt> cmds) {
    for (const auto &c : cmds) {
        if (c.cmd.type == QXL_CMD_CURSOR)
            process_cursor(c);
        else
            process_display(c);
    }
}

void qxl_device::monitors_config(QXLPHYSICAL config, int group_id) {
    auto hdr =
        _memslots->translate(config, sizeof(QXLMonitorsConfig), static_cast<uint32_t>(group_id));
    if (!hdr) return;
    QXLMonitorsConfig mc{};
    std::memcpy(&mc, hdr->data(), sizeof(mc));
    const uint16_t count =
        std::min<uint16_t>(mc.count, static_cast<uint16_t>(std::max<uint32_t>(1, _max_monitors)));
    auto heads_mem = _memslots->translate(config + sizeof(QXLMonitorsConfig),
                                          sizeof(QXLHead) * count, static_cast<uint32_t>(group_id));
    if (!heads_mem) return;
    std::vector<monitor_head> heads(count);
    for (uint16_t i = 0; i < count; ++i) {
        QXLHead h{};
        std::memcpy(&h, heads_mem->data() + i * sizeof(QXLHead), sizeof(h));
        heads[i] = monitor_head{h.id, h.surface_id, h.width, h.height, h.x, h.y, h.flags};
    }
    broadcast([&](display_channel_client &c) { c.on_monitors_config(heads, mc.max_allowed); });
}

void qxl_device::start() {
    _running = true;
    _wake.set();
    update_client_capabilities();
}

void qxl_device::stop() {
    // The VMM may save the guest now: nothing may stay unrendered or held.
    render_pending();
    _running = false;
}

void qxl_device::wakeup() { _wake.set(); }

void qxl_device::oom() {
    // Give back what pending drawables hold, drain, then let the driver
    // reclaim what it can.
    render_pending();
    _wake.set();
    if (sif()->flush_resources != nullptr) sif()->flush_resources(_qxl);
}

void qxl_device::add_memslot(const QXLDevMemSlot &slot) {
    render_pending(); // pending drawables read through the current slots
    (void)_memslots->add(slot.slot_group_id, slot.slot_id, slot);
}

void qxl_device::del_memslot(uint32_t group, uint32_t slot) {
    render_pending();
    (void)_memslots->del(group, slot);
}

void qxl_device::reset_memslots() {
    render_pending();
    _memslots->reset();
}

void qxl_device::update_client_capabilities() {
    const QXLInterface *i = sif();
    if (_qxl->base.sif->major_version != 3 || _qxl->base.sif->minor_version < 2) return;
    if (i->set_client_capabilities == nullptr || !_running) return;
    uint8_t caps[sizeof(((QXLRom *)nullptr)->client_capabilities)] = {};
    size_t live = 0;
    for (auto &c : _display_clients)
        if (!c->stopped()) ++live;
    if (live == 0) {
        i->set_client_capabilities(_qxl, 0, caps);
        return;
    }
    // The least common denominator of the connected clients.
    for (uint32_t cap : {SPICE_DISPLAY_CAP_SIZED_STREAM, SPICE_DISPLAY_CAP_MONITORS_CONFIG,
                         SPICE_DISPLAY_CAP_COMPOSITE, SPICE_DISPLAY_CAP_A8_SURFACE}) {
        bool all = true;
        for (auto &c : _display_clients)
            if (!c->stopped() && !c->link().channel_caps.has(cap)) all = false;
        if (all) caps[cap / 8] |= static_cast<uint8_t>(1u << (cap % 8));
    }
    i->set_client_capabilities(_qxl, 1, caps);
}

// ---- channel clients ----------------------------------------------------------------

task<void> qxl_device::serve_display(std::unique_ptr<stream> s, channel_link link,
                                     image_settings images) {
    gate::holder h(_work);
    if (!h.entered()) co_return;
    auto c = std::make_shared<display_channel_client>(*this, std::move(s), std::move(link), images);
    _display_clients.push_back(c);
    update_client_capabilities();
    co_await c->run();
    std::erase(_display_clients, c);
    update_client_capabilities();
}

task<void> qxl_device::serve_cursor(std::unique_ptr<stream> s, channel_link link) {
    gate::holder h(_work);
    if (!h.entered()) co_return;
    auto c = std::make_shared<cursor_channel_client>(*this, std::move(s), std::move(link));
    _cursor_clients.push_back(c);
    co_await c->run();
    std::erase(_cursor_clients, c);
}

void qxl_device::stop_clients_of(uint32_t connection_id) {
    for (auto &c : _display_clients)
        if (c->link().connection_id == connection_id) c->stop("session ended");
    for (auto &c : _cursor_clients)
        if (c->link().connection_id == connection_id) c->stop("session ended");
}

} // namespace rs
