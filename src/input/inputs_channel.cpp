#include "input/inputs_channel.hpp"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <algorithm>
#include <array>
#include <span>
#include <utility>
#include <variant>

#include "input/inputs_messages.hpp"
#include "reds/main_channel.hpp"
#include "reds/main_messages.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

constexpr uint8_t release_bit = 0x80;
constexpr uint8_t scroll_lock_scan = 0x46;
constexpr uint8_t num_lock_scan = 0x45;
constexpr uint8_t caps_lock_scan = 0x3a;

uint8_t lock_flag(uint8_t scan) noexcept {
    switch (scan & ~release_bit) {
    case caps_lock_scan:
        return SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK;
    case num_lock_scan:
        return SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK;
    case scroll_lock_scan:
        return SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK;
    default:
        return 0;
    }
}

channel_limits inputs_limits() {
    channel_limits l;
    l.max_message_size = inputs_channel::max_message_size;
    return l;
}

uint64_t monotonic_ns() noexcept {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

template <typename Sif, typename Instance> const Sif *sif_of(Instance *sin) noexcept {
    return reinterpret_cast<const Sif *>(sin->base.sif);
}

} // namespace

// ---- key_tracker -------------------------------------------------------------

key_tracker::byte_kind key_tracker::note(uint8_t scan) noexcept {
    if (_pause_bytes > 0) {
        --_pause_bytes;
        return byte_kind::prefix;
    }
    if (scan == 0xE1) {
        _pause_bytes = 2;
        _prefix = 0;
        return byte_kind::prefix;
    }
    if (scan == 0xE0 || scan == 0xE2) {
        _prefix = scan;
        return byte_kind::prefix;
    }
    const uint8_t prefix = _prefix;
    _prefix = 0;
    const bool down = (scan & release_bit) == 0;
    // 0x60..0x62 are no keys: their release bytes would be the prefixes
    // E0..E2 and garble the guest's next key, so they are never released.
    if ((scan & 0x7f) >= 0x60 && (scan & 0x7f) <= 0x62) return byte_kind::prefix;
    if (prefix == 0xE0) {
        _down_ext[scan & 0x7f] = down;
        return byte_kind::extended;
    }
    if (prefix == 0xE2) return byte_kind::prefix;
    _down[scan & 0x7f] = down;
    return byte_kind::key;
}

std::vector<uint8_t> key_tracker::release_all() {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < _down.size(); ++i)
        if (_down[i]) out.push_back(static_cast<uint8_t>(i | release_bit));
    for (size_t i = 0; i < _down_ext.size(); ++i) {
        if (!_down_ext[i]) continue;
        out.push_back(0xE0);
        out.push_back(static_cast<uint8_t>(i | release_bit));
    }
    _down.reset();
    _down_ext.reset();
    _prefix = 0;
    _pause_bytes = 0;
    return out;
}

uint32_t buttons_to_vmm(uint16_t b) noexcept {
    return (b & SPICE_MOUSE_BUTTON_MASK_LEFT) |
           (uint32_t{static_cast<uint16_t>(b & (SPICE_MOUSE_BUTTON_MASK_MIDDLE | 0xffe0))} << 1) |
           ((b & SPICE_MOUSE_BUTTON_MASK_RIGHT) >> 1);
}

uint32_t buttons_to_agent(uint16_t b) noexcept { return uint32_t{b} << 1; }

// ---- the channel client --------------------------------------------------------

/// One client's inputs channel: INIT on start, messages to the channel's
/// handlers, motion ACKs and the modifiers resync timer of this client.
/// Owned by inputs_channel::serve's frame; control shard.
class inputs_channel_client final : public channel_client {
  public:
    inputs_channel_client(inputs_channel &ch, std::unique_ptr<stream> s, channel_link link)
        : channel_client(std::move(s), std::move(link), /*handle_acks=*/true, inputs_limits())
        , _channel(ch) {}

    /// (Re)starts this client's resync timer: when it runs out, the client
    /// is told the modifiers the guest should have.
    void arm_modifiers_timer(std::chrono::milliseconds ttl) {
        _timer.request_stop();
        if (stopped()) return;
        gate::holder h(_timers);
        if (!h.entered()) return;
        _timer = std::stop_source{};
        spawn(
            [](inputs_channel_client &self, std::chrono::milliseconds t, std::stop_token st,
               gate::holder g) -> task<void> {
                auto slept = co_await sleep_for(t, st);
                if (slept.ok() && !self.stopped()) self.push_modifiers(self._channel.modifiers());
                (void)g;
            }(*this, ttl, _timer.get_token(), std::move(h)),
            "inputs modifiers timer");
    }
    /// Cancels the timer and waits until its coroutine has ended.
    task<void> close_timers() {
        _timer.request_stop();
        co_await _timers.close();
    }
    void push_modifiers(uint8_t m) { send(msg::inputs_key_modifiers{.modifiers = m}); }

  protected:
    void on_start() override {
        uint8_t leds = 0;
        if (auto *kbd = _channel._server.interfaces().keyboard()) {
            const auto *sif = sif_of<SpiceKbdInterface>(kbd);
            if (sif->get_leds != nullptr) leds = sif->get_leds(kbd);
        }
        send(msg::inputs_init{.keyboard_modifiers = leds});
    }

    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override {
        co_return handle(parse_inputs_client_message(type, body, extra_bytes::ignore));
    }

  private:
    result<void> handle(const inputs_client_message &m) {
        inputs_channel &ch = _channel;
        if (const auto *e = std::get_if<parse_error>(&m)) {
            RS_LOG_RATELIMITED("inputs", "session {:#x}: bad message type {}: {}",
                               link().connection_id, e->type, e->reason);
            return errc::protocol;
        }
        if (const auto *down = std::get_if<msgc::inputs_key_down>(&m)) {
            key_code(down->code);
        } else if (const auto *up = std::get_if<msgc::inputs_key_up>(&m)) {
            key_code(up->code);
        } else if (const auto *sc = std::get_if<msgc::inputs_key_scancode>(&m)) {
            ch.keys(sc->codes);
        } else if (const auto *mod = std::get_if<msgc::inputs_key_modifiers>(&m)) {
            ch.client_modifiers(mod->modifiers);
        } else if (const auto *mo = std::get_if<msgc::inputs_mouse_motion>(&m)) {
            count_motion();
            ch.mouse_motion(mo->dx, mo->dy, mo->buttons_state);
        } else if (const auto *pos = std::get_if<msgc::inputs_mouse_position>(&m)) {
            count_motion();
            ch.mouse_position(pos->x, pos->y, pos->buttons_state, pos->display_id);
        } else if (const auto *press = std::get_if<msgc::inputs_mouse_press>(&m)) {
            ch.mouse_button(press->button, press->buttons_state, true);
        } else if (const auto *rel = std::get_if<msgc::inputs_mouse_release>(&m)) {
            ch.mouse_button(rel->button, rel->buttons_state, false);
        }
        return {};
    }

    // KEY_DOWN / KEY_UP: up to four bytes, least significant first, ended
    // by a zero byte.
    void key_code(uint32_t code) {
        std::array<uint8_t, 4> bytes{};
        size_t n = 0;
        for (; n < bytes.size(); ++n) {
            const auto b = static_cast<uint8_t>(code >> (8 * n));
            if (b == 0) break;
            bytes[n] = b;
        }
        _channel.keys(std::span(bytes.data(), n));
    }

    // The client stops sending motion after a bunch without an ACK.
    void count_motion() {
        if (++_motion_count % SPICE_INPUT_MOTION_ACK_BUNCH == 0) {
            send(msg::inputs_mouse_motion_ack{});
            _motion_count = 0;
        }
    }

    inputs_channel &_channel;
    uint32_t _motion_count = 0;
    std::stop_source _timer;
    gate _timers;
};

// ---- inputs_channel ------------------------------------------------------------

inputs_channel &inputs_channel::ensure(server &srv) {
    // Only this function sets the server's inputs state, so the cast holds.
    if (channel_owner *st = srv.inputs_state()) return static_cast<inputs_channel &>(*st);
    auto owned = std::make_unique<inputs_channel>(srv);
    inputs_channel *ch = owned.get();
    srv.set_inputs_state(std::move(owned));
    caps chan_caps;
    chan_caps.set(SPICE_INPUTS_CAP_KEY_SCANCODE);
    srv.register_channel(channel_service{
        .type = SPICE_CHANNEL_INPUTS,
        .id = 0,
        .channel_caps = chan_caps,
        .serve = [ch](std::unique_ptr<stream> s, channel_link l,
                      session &sess) { return ch->serve(std::move(s), std::move(l), sess.id); },
    });
    return *ch;
}

inputs_channel::inputs_channel(server &srv)
    : _server(srv) {}

inputs_channel::~inputs_channel() = default;

task<void> inputs_channel::serve(std::unique_ptr<stream> s, channel_link link,
                                 uint32_t session_id) {
    session *sess = _server.find_session(session_id);
    if (sess == nullptr) co_return;
    if (!s->is_tls() && sess->main != nullptr)
        sess->main->send(msg::notify{.time_stamp = monotonic_ns(),
                                     .severity = SPICE_NOTIFY_SEVERITY_WARN,
                                     .visibility = SPICE_NOTIFY_VISIBILITY_HIGH,
                                     .what = SPICE_WARN_GENERAL,
                                     .message = "keyboard channel is insecure"});
    inputs_channel_client client(*this, std::move(s), std::move(link));
    // The session's end stops this client; this frame outlives it either way.
    sess->channels.push_back(&client);
    _clients.push_back(&client);
    co_await client.run();
    std::erase(_clients, &client);
    if (session *still = _server.find_session(session_id)) std::erase(still->channels, &client);
    co_await client.close_timers();
    // A client that leaves with keys down must not leave them down in the
    // guest (the reference releases on every inputs client's disconnect).
    release_keys();
}

void inputs_channel::set_leds(uint8_t leds) {
    _modifiers = leds;
    for (auto *c : _clients)
        c->push_modifiers(leds);
}

void inputs_channel::post_leds(uint8_t leds) {
    if (!_server.initialized() || _server.control().on_owner_thread()) {
        set_leds(leds);
        return;
    }
    _server.control().post([this, leds] { set_leds(leds); });
}

key_tracker::byte_kind inputs_channel::push_scan(uint8_t scan) {
    SpiceKbdInstance *kbd = _server.interfaces().keyboard();
    if (kbd == nullptr) return key_tracker::byte_kind::prefix;
    const auto kind = _keys.note(scan);
    sif_of<SpiceKbdInterface>(kbd)->push_scan_freg(kbd, scan);
    return kind;
}

void inputs_channel::keys(std::span<const uint8_t> codes) {
    for (const uint8_t c : codes)
        if (push_scan(c) == key_tracker::byte_kind::key) sync_locks(c);
}

// A lock key pressed on the client toggles what the guest's lock should be;
// the resync timer then tells the clients.
void inputs_channel::sync_locks(uint8_t scan) {
    const uint8_t flag = lock_flag(scan);
    if (flag == 0) return;
    if ((scan & release_bit) != 0) {
        _modifiers_pressed &= static_cast<uint8_t>(~flag);
    } else if ((_modifiers_pressed & flag) == 0) {
        _modifiers ^= flag;
        _modifiers_pressed |= flag;
        arm_modifiers_timers();
    }
}

// The client's locks differ from the guest's: tap the lock keys that differ
// (unless the user holds one), then resync the clients.
void inputs_channel::client_modifiers(uint16_t wanted) {
    if (_server.interfaces().keyboard() == nullptr) return;
    constexpr std::pair<uint8_t, uint8_t> locks[] = {
        {SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK, scroll_lock_scan},
        {SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK, num_lock_scan},
        {SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK, caps_lock_scan},
    };
    for (const auto &[flag, scan] : locks) {
        if ((_modifiers_pressed & flag) != 0 ||
            ((wanted & flag) != 0) == ((_modifiers & flag) != 0))
            continue;
        push_scan(scan);
        push_scan(scan | release_bit);
        _modifiers ^= flag;
    }
    arm_modifiers_timers();
}

void inputs_channel::release_keys() {
    const auto bytes = _keys.release_all();
    SpiceKbdInstance *kbd = _server.interfaces().keyboard();
    if (kbd == nullptr) return;
    for (const uint8_t b : bytes)
        sif_of<SpiceKbdInterface>(kbd)->push_scan_freg(kbd, b);
}

void inputs_channel::arm_modifiers_timers() {
    for (auto *c : _clients)
        c->arm_modifiers_timer(_modifiers_ttl);
}

bool inputs_channel::agent_carries_mouse() const noexcept {
    return _server.config().agent_mouse() && _server.interfaces().vdagent() != nullptr;
}

void inputs_channel::send_agent_mouse_state() {
    if (_agent_mouse_sink) {
        _agent_mouse_sink(_mouse_state);
        return;
    }
    _server.agent_mouse_state(_mouse_state); // agent (issue 8): the vdagent pipe
}

void inputs_channel::mouse_motion(int32_t dx, int32_t dy, uint16_t buttons) {
    SpiceMouseInstance *mouse = _server.interfaces().mouse();
    if (mouse == nullptr || !_server.is_server_mouse()) return;
    sif_of<SpiceMouseInterface>(mouse)->motion(mouse, dx, dy, 0, buttons_to_vmm(buttons));
}

void inputs_channel::mouse_position(uint32_t x, uint32_t y, uint16_t buttons, uint8_t display_id) {
    if (_server.is_server_mouse()) return;
    if (agent_carries_mouse()) {
        _mouse_state.x = x;
        _mouse_state.y = y;
        _mouse_state.buttons = buttons_to_agent(buttons);
        _mouse_state.display_id = display_id;
        send_agent_mouse_state();
        return;
    }
    // The tablet has one logical size (client mode with a tablet means one
    // display), so display_id is the agent's business only.
    if (SpiceTabletInstance *tablet = _server.interfaces().tablet())
        sif_of<SpiceTabletInterface>(tablet)->position(
            tablet, static_cast<int>(x), static_cast<int>(y), buttons_to_vmm(buttons));
}

void inputs_channel::mouse_button(uint8_t button, uint16_t buttons, bool press) {
    int dz = 0;
    if (press && button == SPICE_MOUSE_BUTTON_UP) dz = -1;
    if (press && button == SPICE_MOUSE_BUTTON_DOWN) dz = 1;
    if (!_server.is_server_mouse()) {
        if (agent_carries_mouse()) {
            _mouse_state.buttons = buttons_to_agent(buttons) |
                                   (dz == -1 ? VD_AGENT_UBUTTON_MASK : 0) |
                                   (dz == 1 ? VD_AGENT_DBUTTON_MASK : 0);
            send_agent_mouse_state();
        } else if (SpiceTabletInstance *tablet = _server.interfaces().tablet()) {
            const auto *sif = sif_of<SpiceTabletInterface>(tablet);
            if (press)
                sif->wheel(tablet, dz, buttons_to_vmm(buttons));
            else
                sif->buttons(tablet, buttons_to_vmm(buttons));
        }
        return;
    }
    if (SpiceMouseInstance *mouse = _server.interfaces().mouse()) {
        const auto *sif = sif_of<SpiceMouseInterface>(mouse);
        if (press)
            sif->motion(mouse, 0, 0, dz, buttons_to_vmm(buttons));
        else
            sif->buttons(mouse, buttons_to_vmm(buttons));
    }
}

} // namespace rs
