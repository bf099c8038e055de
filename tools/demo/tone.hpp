// The demo VM's sound card: a playback device that plays a continuous sine
// through the public <spice.h> playback API, paced by the wall clock the way
// QEMU's audio/spiceaudio.c paces its line-out voice.
#pragma once

#include <glib.h>
#include <spice.h>

#include <cstdint>

namespace rs::demo {

/// A SpicePlaybackInstance playing a stereo S16 sine of `hz` (both channels
/// alike, continuous phase). Owns the instance the server was given and a GLib
/// timeout on the default main context; every call and every tick happen on
/// the demo's main-loop thread (the thread running the core interface).
///
/// Each tick pushes as many whole buffers (get_buffer's frame count) as real
/// time says are due since start(), so the stream runs at the rate the server
/// was told. While no client listens the server lends no buffer; the due
/// samples are then skipped, keeping the phase, so a client that connects
/// later hears the tone in real time, not a burst. A stall longer than
/// max_lag_ms skips ahead instead of catching up, so the device is never more
/// than ~100 ms ahead of or behind the clock.
class tone_player {
  public:
    static constexpr uint32_t tick_ms = 10;
    static constexpr uint32_t max_lag_ms = 100;
    static constexpr double amplitude = 10000; // of 32767: clearly audible, never clipping

    explicit tone_player(double hz);
    ~tone_player();
    tone_player(const tone_player &) = delete;
    tone_player &operator=(const tone_player &) = delete;

    /// Adds the playback interface to `server` and sets its rate (the
    /// server's best, when the interface is new enough to have rates); false
    /// if the server refused the interface.
    bool attach(SpiceServer *server);
    /// spice_server_playback_start and the pacing timer. After attach.
    void start();
    /// The timer off, the buffer in hand (if any) returned, then
    /// spice_server_playback_stop. Before spice_server_destroy; idempotent.
    void stop();

    uint32_t rate() const noexcept { return _rate; }
    /// Stereo frames handed to the server so far.
    uint64_t frames_played() const noexcept { return _played; }

  private:
    static gboolean tick(gpointer self);
    void pump();
    uint32_t next_sample();

    SpicePlaybackInterface _iface{};
    SpicePlaybackInstance _sin{};
    double _hz;
    uint32_t _rate = SPICE_INTERFACE_PLAYBACK_FREQ;
    bool _attached = false;
    bool _running = false;
    guint _source = 0;
    gint64 _start_us = 0;   // monotonic time of frame 0
    uint64_t _due_base = 0; // frames counted as due at _start_us
    uint64_t _position = 0; // frames generated (played or skipped): the phase
    uint64_t _played = 0;
};

} // namespace rs::demo
