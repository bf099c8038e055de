// The inputs channel (SPICE_CHANNEL_INPUTS 0): the client's keyboard and
// mouse go to the VMM's SpiceKbd/SpiceMouse/SpiceTablet instances (or to the
// agent), and the guest's lock LEDs come back as KEY_MODIFIERS.
#pragma once

#include <spice.h>
#include <spice/vd_agent.h>

#include <bitset>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "reds/channel_client.hpp"
#include "reds/server.hpp"

namespace rs {

/// Which PC set-1 keys the guest has been told are down, so that keys held
/// when a client leaves can be released (the reference's SpiceKbdState
/// key/key_ext). Fed every scancode byte sent to the guest, in order: 0xE0
/// marks the next byte as an extended key; 0xE1 starts the Pause sequence
/// (E1 1D 45 / E1 9D C5), whose two following bytes are no key of their
/// own; 0xE2 (never a real key) hides the next byte, as in the reference.
/// Codes 0x60..0x62 are not tracked (their releases would read as prefixes).
/// Plain data; owned by the inputs channel on the control shard.
class key_tracker {
  public:
    /// What a scancode byte was.
    enum class byte_kind : uint8_t {
        prefix,   ///< 0xE0..0xE2, or a byte inside a Pause sequence
        key,      ///< an unprefixed key press or release
        extended, ///< an 0xE0-prefixed key press or release
    };
    byte_kind note(uint8_t scan) noexcept;
    /// The bytes that release every key still down, unprefixed keys first
    /// (code | 0x80), then extended ones (0xE0, code | 0x80), each ascending.
    /// Forgets them.
    std::vector<uint8_t> release_all();
    bool any_down() const noexcept { return _down.any() || _down_ext.any(); }

  private:
    std::bitset<128> _down;
    std::bitset<128> _down_ext;
    uint8_t _prefix = 0;      // 0, 0xE0 or 0xE2
    uint8_t _pause_bytes = 0; // bytes of an E1 sequence still to come
};

/// SPICE button bits -> what QEMU's mouse and tablet take: middle and right
/// swapped, side/extra (and anything above) one bit higher
/// (RED_MOUSE_STATE_TO_LOCAL). Up/down (the wheel) are dropped.
uint32_t buttons_to_vmm(uint16_t spice_buttons) noexcept;
/// SPICE button bits -> VD_AGENT_*BUTTON_MASK bits (one bit higher).
uint32_t buttons_to_agent(uint16_t spice_buttons) noexcept;

class inputs_channel_client;

/// The inputs channel's server-wide state: the lock modifiers the guest
/// should have, the keys it has been told are down, the agent's mouse
/// state, and the clients connected now. Owned by the server (as its
/// inputs_state) and registered as SPICE_CHANNEL_INPUTS 0; lives on the
/// control shard, so every VMM callback it makes (push_scan_freg, get_leds,
/// motion, buttons, position, wheel) runs on the VMM's loop thread.
class inputs_channel final : public channel_owner {
  public:
    /// After a lock key or a client's KEY_MODIFIERS, the modifiers are sent
    /// back this much later, so the client follows the guest even when the
    /// guest never reports its LEDs (KEY_MODIFIERS_TTL).
    static constexpr std::chrono::milliseconds default_modifiers_ttl{2000};
    /// The reference's receive buffer: the largest message is KEY_SCANCODE.
    static constexpr uint32_t max_message_size = 2048;

    /// The server's inputs channel, created and registered on first use
    /// (the shim calls it when a keyboard, mouse or tablet is added). On
    /// the control shard, or before init.
    static inputs_channel &ensure(server &srv);

    explicit inputs_channel(server &srv);
    ~inputs_channel() override;
    inputs_channel(const inputs_channel &) = delete;
    inputs_channel &operator=(const inputs_channel &) = delete;

    /// The guest's LEDs changed; every client hears them. Control shard.
    void set_leds(uint8_t leds);
    /// spice_server_kbd_leds, from any VMM thread: QEMU calls it on a vCPU
    /// thread holding its big lock, which the loop thread driving the
    /// control shard may be waiting for, so this posts and never waits.
    void post_leds(uint8_t leds);
    /// The lock state the guest should have (SPICE_KEYBOARD_MODIFIER_FLAGS_*).
    uint8_t modifiers() const noexcept { return _modifiers; }
    size_t num_clients() const noexcept { return _clients.size(); }
    /// Where VD_AGENT_MOUSE_STATE goes when the agent carries the mouse
    /// (client mode, agent mouse on, a vdagent device). Unset, the events
    /// go to the server's vdagent pipe (server::agent_mouse_state).
    void set_agent_mouse_sink(std::function<void(const VDAgentMouseState &)> sink) {
        _agent_mouse_sink = std::move(sink);
    }
    void set_modifiers_ttl(std::chrono::milliseconds ttl) noexcept { _modifiers_ttl = ttl; }

  private:
    friend class inputs_channel_client;

    task<void> serve(std::unique_ptr<stream> s, channel_link link, uint32_t session_id);
    // Keyboard: every byte to the guest goes through push_scan.
    key_tracker::byte_kind push_scan(uint8_t scan);
    void keys(std::span<const uint8_t> codes);
    void sync_locks(uint8_t scan);
    void client_modifiers(uint16_t wanted);
    void release_keys();
    void arm_modifiers_timers();
    // Mouse, by mode.
    void mouse_motion(int32_t dx, int32_t dy, uint16_t buttons);
    void mouse_position(uint32_t x, uint32_t y, uint16_t buttons, uint8_t display_id);
    void mouse_button(uint8_t button, uint16_t buttons, bool press);
    bool agent_carries_mouse() const noexcept;
    void send_agent_mouse_state();

    server &_server;
    key_tracker _keys;
    uint8_t _modifiers = 0;         // what the guest's locks should be
    uint8_t _modifiers_pressed = 0; // lock keys held down now
    VDAgentMouseState _mouse_state{};
    std::function<void(const VDAgentMouseState &)> _agent_mouse_sink;
    std::chrono::milliseconds _modifiers_ttl{default_modifiers_ttl};
    std::vector<inputs_channel_client *> _clients;
};

} // namespace rs
