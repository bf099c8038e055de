#include "tone.hpp"

#include <cmath>
#include <numbers>

namespace rs::demo {

tone_player::tone_player(double hz)
    : _hz(hz) {
    _iface.base = {SPICE_INTERFACE_PLAYBACK, "ringspice demo tone", SPICE_INTERFACE_PLAYBACK_MAJOR,
                   SPICE_INTERFACE_PLAYBACK_MINOR};
    _sin.base.sif = &_iface.base;
}

tone_player::~tone_player() { stop(); }

bool tone_player::attach(SpiceServer *server) {
    if (spice_server_add_interface(server, &_sin.base) != 0) return false;
    _attached = true;
#if SPICE_INTERFACE_PLAYBACK_MAJOR > 1 || SPICE_INTERFACE_PLAYBACK_MINOR >= 3
    // 48 kHz when the server encodes Opus, as QEMU asks for.
    _rate = spice_server_get_best_playback_rate(&_sin);
    spice_server_set_playback_rate(&_sin, _rate);
#endif
    return true;
}

void tone_player::start() {
    if (!_attached || _running) return;
    _running = true;
    _start_us = g_get_monotonic_time();
    _due_base = _position;
    spice_server_playback_start(&_sin);
    _source = g_timeout_add(tick_ms, tick, this);
}

void tone_player::stop() {
    if (!_running) return;
    _running = false;
    if (_source != 0) g_source_remove(_source);
    _source = 0;
    spice_server_playback_stop(&_sin); // no buffer is held between ticks
}

gboolean tone_player::tick(gpointer self) {
    static_cast<tone_player *>(self)->pump();
    return G_SOURCE_CONTINUE;
}

uint32_t tone_player::next_sample() {
    // The phase from the frame index, so skipped frames keep it and no
    // rounding error accumulates.
    const double cycles = std::fmod(_hz * double(_position) / double(_rate), 1.0);
    const double v = amplitude * std::sin(2 * std::numbers::pi * cycles);
    ++_position;
    const auto u = static_cast<uint16_t>(static_cast<int16_t>(std::lround(v)));
    return uint32_t{u} | (uint32_t{u} << 16); // left in the low half, as S16LE stereo
}

void tone_player::pump() {
    const gint64 now = g_get_monotonic_time();
    const auto elapsed_us = static_cast<uint64_t>(now - _start_us);
    uint64_t due = _due_base + elapsed_us * _rate / 1'000'000;
    const uint64_t max_lag = uint64_t{_rate} * max_lag_ms / 1000;
    if (due > _position + max_lag) {
        // The loop stalled: carry on from here rather than burst to catch up.
        _start_us = now;
        _due_base = _position;
        due = _position;
    }
    // Whole buffers while any frame is due: at most one buffer (10 ms) ahead.
    while (_position < due) {
        uint32_t *buf = nullptr;
        uint32_t n = 0;
        spice_server_playback_get_buffer(&_sin, &buf, &n);
        if (buf == nullptr || n == 0) {
            // No client (or its queue is full): nobody hears these frames.
            // Skip them keeping the phase, so later frames stay on time.
            if (buf != nullptr) spice_server_playback_put_samples(&_sin, buf);
            _position = due;
            break;
        }
        for (uint32_t i = 0; i < n; ++i)
            buf[i] = next_sample();
        spice_server_playback_put_samples(&_sin, buf);
        _played += n;
    }
}

} // namespace rs::demo
