// The playback channel (SPICE_CHANNEL_PLAYBACK): the guest's sound, handed
// over by the VMM through spice_server_playback_get_buffer/put_samples, goes
// to the one client linked to the channel as raw S16 stereo or Opus.
#pragma once

#include <spice.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "reds/channel_client.hpp"
#include "reds/server.hpp"
#include "sound/opus_codec.hpp"

namespace rs {

class playback_channel_client;

/// One SpicePlaybackInstance's channel: its state as the VMM set it
/// (started, rate, volume, mute), the buffers lent to the VMM, the frames
/// waiting for the client, and the client (at most one: a new one replaces
/// the old). Owned by sound_channels (the server's sound state); lives on
/// the control shard, and every method must be called there.
class playback_channel {
  public:
    /// Buffers the VMM may hold at once; get_buffer hands out none beyond.
    static constexpr size_t pool_frames = 4;
    /// Frames kept for a client that is behind; a newer frame drops the oldest.
    static constexpr size_t max_pending_frames = 3;
    /// Frames go to the client's send queue only while less than this waits
    /// there, so a slow client costs bounded memory and hears recent sound.
    static constexpr size_t max_backlog_bytes = 4096;

    playback_channel(server &srv, uint8_t id);
    ~playback_channel();
    playback_channel(const playback_channel &) = delete;
    playback_channel &operator=(const playback_channel &) = delete;

    /// (Re)registers the channel with the server under its current caps.
    void register_with_server();
    /// What the link reply advertises: VOLUME, and OPUS once the VMM set an
    /// Opus-capable rate (as the reference does).
    caps channel_caps() const;

    /// spice_server_playback_start/stop: START (or STOP) to the client.
    void start();
    void stop();
    bool active() const noexcept { return _active; }
    /// spice_server_playback_get_buffer: a pooled buffer of *num_samples
    /// stereo S16 frames, or nullptr/0 when no client is playing or every
    /// buffer is lent (as the reference does; the VMM then drops its audio).
    void get_buffer(uint32_t **samples, uint32_t *num_samples);
    /// spice_server_playback_put_samples: the filled buffer returns to the
    /// pool and its samples go to the client, stamped with the multimedia
    /// time. A pointer not from get_buffer is logged and ignored.
    void put_samples(const uint32_t *samples);
    void set_volume(std::span<const uint16_t> volume);
    void set_mute(bool mute);
    /// spice_server_set_playback_rate: the rate START announces.
    void set_rate(uint32_t hz);
    uint32_t rate() const noexcept { return _rate; }
    /// The server's playback compression changed: the client switches
    /// between Opus and raw with a MODE message.
    void update_mode();
    /// LATENCY to a client that has SPICE_PLAYBACK_CAP_LATENCY.
    void set_latency(uint32_t ms);

    /// What tests and logs look at.
    struct counters {
        bool connected = false;
        uint16_t mode = SPICE_AUDIO_DATA_MODE_INVALID;
        uint64_t frames_sent = 0;
        uint64_t frames_dropped = 0;
        size_t pending_frames = 0;
        size_t queued_bytes = 0; ///< in the client's send queue
        size_t lent_buffers = 0;
    };
    counters stats() const;

  private:
    friend class playback_channel_client;
    struct pool_frame {
        std::array<uint32_t, audio_frame_samples> samples{};
        bool lent = false;
    };
    struct pending_frame {
        uint32_t time = 0;
        uint32_t count = 0;
        std::array<uint32_t, audio_frame_samples> samples{};
    };

    task<void> serve(std::unique_ptr<stream> s, channel_link link, uint32_t session_id);
    /// Moves pending frames to the client while its backlog allows (or all
    /// of them when `force`).
    void flush(bool force);
    void drop_pending() noexcept;

    server &_server;
    uint8_t _id;
    bool _active = false;
    uint32_t _rate = server_config::best_audio_rate;
    bool _opus_cap = false;
    std::vector<uint16_t> _volume;
    uint8_t _mute = 0;
    std::array<pool_frame, pool_frames> _pool;
    std::array<pending_frame, max_pending_frames> _pending;
    size_t _pending_head = 0;
    size_t _pending_count = 0;
    playback_channel_client *_client = nullptr;
    uint64_t _frames_sent = 0;
    uint64_t _frames_dropped = 0;
};

} // namespace rs
