// The record channel (SPICE_CHANNEL_RECORD): the client's microphone, raw
// S16 stereo or Opus, goes into a bounded ring that the VMM drains with
// spice_server_record_get_samples.
#pragma once

#include <spice.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "reds/channel_client.hpp"
#include "reds/server.hpp"

namespace rs {

class record_channel_client;

/// One SpiceRecordInstance's channel: its state as the VMM set it (started,
/// rate, volume, mute), the ring of captured stereo frames and the client
/// (at most one: a new one replaces the old). Owned by sound_channels (the
/// server's sound state); lives on the control shard, and every method must
/// be called there.
class record_channel {
  public:
    /// Stereo frames the ring holds (the reference's RECORD_SAMPLES_SIZE);
    /// when the VMM falls behind, the oldest are overwritten.
    static constexpr uint32_t ring_samples = 8192;
    /// get_samples yields nothing until this many frames arrived after
    /// START, so the VMM starts with a cushion (as the reference does).
    static constexpr uint32_t start_threshold = ring_samples / 2;

    record_channel(server &srv, uint8_t id);
    ~record_channel();
    record_channel(const record_channel &) = delete;
    record_channel &operator=(const record_channel &) = delete;

    void register_with_server();
    /// VOLUME, and OPUS once the VMM set an Opus-capable rate.
    caps channel_caps() const;

    /// spice_server_record_start/stop: the ring restarts; START (STOP) to
    /// the client.
    void start();
    void stop();
    bool active() const noexcept { return _active; }
    /// spice_server_record_get_samples: up to `out.size()` stereo frames,
    /// oldest first; 0 without a client or before the start cushion filled.
    uint32_t get_samples(std::span<uint32_t> out);
    void set_volume(std::span<const uint16_t> volume);
    void set_mute(bool mute);
    /// spice_server_set_record_rate: the rate START announces and Opus
    /// decodes at.
    void set_rate(uint32_t hz);
    uint32_t rate() const noexcept { return _rate; }

    struct counters {
        bool connected = false;
        uint16_t mode = SPICE_AUDIO_DATA_MODE_INVALID;
        uint64_t written = 0; ///< frames written since START
        uint64_t read = 0;    ///< frames read (or overwritten unread) since START
        uint64_t overwritten = 0;
    };
    counters stats() const;

  private:
    friend class record_channel_client;

    task<void> serve(std::unique_ptr<stream> s, channel_link link, uint32_t session_id);
    /// Appends stereo frames given as little-endian bytes (whole frames).
    void write(std::span<const uint8_t> frames);
    void reset_ring() noexcept;

    server &_server;
    uint8_t _id;
    bool _active = false;
    uint32_t _rate = server_config::best_audio_rate;
    bool _opus_cap = false;
    std::vector<uint16_t> _volume;
    uint8_t _mute = 0;
    std::vector<uint32_t> _ring;
    uint64_t _write_pos = 0;
    uint64_t _read_pos = 0;
    uint64_t _overwritten = 0;
    record_channel_client *_client = nullptr;
};

} // namespace rs
