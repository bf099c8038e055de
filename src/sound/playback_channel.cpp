#include "sound/playback_channel.hpp"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "runtime/log.hpp"
#include "sound/sound_messages.hpp"

namespace rs {

// ---- the channel client --------------------------------------------------------

/// One client's playback channel: its data mode (raw or Opus, chosen from its
/// caps and the server's compression setting), its encoder, and whether it
/// was told START. Owned by playback_channel::serve's frame; control shard.
class playback_channel_client final : public channel_client {
  public:
    playback_channel_client(playback_channel &ch, std::unique_ptr<stream> s, channel_link link)
        : channel_client(std::move(s), std::move(link), /*handle_acks=*/false)
        , _channel(ch) {
        (void)choose_mode();
    }

    uint16_t mode() const noexcept { return _mode; }
    bool told_active() const noexcept { return _told_active; }
    size_t backlog() const noexcept { return queued_bytes(); }
    bool has_cap(uint32_t cap) const noexcept { return link().channel_caps.has(cap); }
    /// Stereo frames per DATA message in the current mode.
    uint32_t frame_samples() const noexcept {
        return _mode == SPICE_AUDIO_DATA_MODE_OPUS ? opus_frame_samples(_channel._rate)
                                                   : audio_frame_samples;
    }

    /// Re-evaluates the data mode; true when it changed.
    bool choose_mode() {
        const bool want_opus = _channel._server.config().playback_compression() &&
                               has_cap(SPICE_PLAYBACK_CAP_OPUS) &&
                               opus_rate_supported(_channel._rate);
        uint16_t mode = SPICE_AUDIO_DATA_MODE_RAW;
        if (want_opus) {
            if (!_encoder || _encoder->rate() != _channel._rate) {
                auto e = opus_encoder::create(_channel._rate);
                if (e)
                    _encoder.emplace(std::move(*e));
                else
                    _encoder.reset(); // logged; raw it is, as in the reference
            }
            if (_encoder) mode = SPICE_AUDIO_DATA_MODE_OPUS;
        }
        const bool changed = mode != _mode;
        _mode = mode;
        return changed;
    }
    void send_mode() {
        send(msg::playback_mode{.time = _channel._server.multi_media_time(), .mode = _mode});
    }
    void send_start() {
        _told_active = true;
        send(msg::playback_start{.channels = SPICE_INTERFACE_PLAYBACK_CHAN,
                                 .format = SPICE_AUDIO_FMT_S16,
                                 .frequency = _channel._rate,
                                 .time = _channel._server.multi_media_time()});
    }
    void send_stop() {
        _told_active = false;
        send(msg::playback_stop{});
    }
    /// VOLUME then MUTE, when the VMM set a volume and the client takes it.
    void send_volume_and_mute() {
        if (_channel._volume.empty() || !has_cap(SPICE_PLAYBACK_CAP_VOLUME)) return;
        send(msg::playback_volume{.volume = _channel._volume});
        send(msg::playback_mute{.mute = _channel._mute});
    }
    void send_mute() {
        if (has_cap(SPICE_PLAYBACK_CAP_VOLUME)) send(msg::playback_mute{.mute = _channel._mute});
    }
    /// One DATA message; an error when the encoder fails (the reference
    /// disconnects the client then).
    result<void> send_frame(const playback_channel::pending_frame &f) {
        if (_mode == SPICE_AUDIO_DATA_MODE_OPUS) {
            // A frame lent before a mode switch may be shorter than a packet
            // needs; the rest of the array is silence then.
            std::array<uint32_t, audio_frame_samples> pcm{};
            std::copy_n(f.samples.begin(), std::min<size_t>(f.count, pcm.size()), pcm.begin());
            std::array<uint8_t, opus_max_packet_bytes> packet{};
            auto n = _encoder->encode(pcm, packet);
            if (!n) return n.error();
            send(msg::playback_data{.time = f.time, .data = std::span(packet.data(), *n)});
            return {};
        }
        send(msg::playback_data{.time = f.time,
                                .data =
                                    std::span(reinterpret_cast<const uint8_t *>(f.samples.data()),
                                              size_t{f.count} * sizeof(uint32_t))});
        return {};
    }

  protected:
    // The reference's order: MODE, then START when the VMM is playing, then
    // VOLUME and MUTE.
    void on_start() override {
        send_mode();
        if (_channel._active) send_start();
        send_volume_and_mute();
    }

    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t>) override {
        // The playback channel has no client messages of its own.
        RS_LOG_RATELIMITED("sound", "playback: unexpected client message type {}", type);
        co_return errc::protocol;
    }

  private:
    playback_channel &_channel;
    uint16_t _mode = SPICE_AUDIO_DATA_MODE_RAW;
    std::optional<opus_encoder> _encoder;
    bool _told_active = false;
};

// ---- playback_channel ------------------------------------------------------------

playback_channel::playback_channel(server &srv, uint8_t id)
    : _server(srv)
    , _id(id) {}

playback_channel::~playback_channel() = default;

caps playback_channel::channel_caps() const {
    caps c;
    c.set(SPICE_PLAYBACK_CAP_VOLUME);
    if (_opus_cap) c.set(SPICE_PLAYBACK_CAP_OPUS);
    return c;
}

void playback_channel::register_with_server() {
    _server.register_channel(channel_service{
        .type = SPICE_CHANNEL_PLAYBACK,
        .id = _id,
        .channel_caps = channel_caps(),
        .serve = [this](std::unique_ptr<stream> s, channel_link l,
                        session &sess) { return serve(std::move(s), std::move(l), sess.id); },
    });
}

task<void> playback_channel::serve(std::unique_ptr<stream> s, channel_link link,
                                   uint32_t session_id) {
    session *sess = _server.find_session(session_id);
    if (sess == nullptr) co_return;
    // One client per sound channel: a new one replaces the old, whose
    // frames are not worth keeping.
    if (_client != nullptr) _client->stop("replaced by a new playback client");
    drop_pending();
    playback_channel_client client(*this, std::move(s), std::move(link));
    sess->channels.push_back(&client);
    _client = &client;
    co_await client.run();
    if (_client == &client) {
        _client = nullptr;
        drop_pending();
    }
    if (session *still = _server.find_session(session_id)) std::erase(still->channels, &client);
}

void playback_channel::start() {
    _active = true;
    if (_client != nullptr && !_client->told_active()) _client->send_start();
}

void playback_channel::stop() {
    _active = false;
    if (_client != nullptr && _client->told_active()) {
        // At most max_pending_frames: the tail of the sound, then STOP.
        flush(/*force=*/true);
        _client->send_stop();
    }
    drop_pending();
}

void playback_channel::get_buffer(uint32_t **samples, uint32_t *num_samples) {
    *samples = nullptr;
    *num_samples = 0;
    if (_client == nullptr || !_client->told_active()) return;
    for (auto &f : _pool) {
        if (f.lent) continue;
        f.lent = true;
        *samples = f.samples.data();
        *num_samples = _client->frame_samples();
        return;
    }
}

void playback_channel::put_samples(const uint32_t *samples) {
    auto it = std::find_if(_pool.begin(), _pool.end(),
                           [samples](const pool_frame &f) { return f.samples.data() == samples; });
    if (it == _pool.end() || !it->lent) {
        RS_LOG_RATELIMITED("sound", "playback_put_samples with a buffer not lent by get_buffer");
        return;
    }
    it->lent = false;
    // Lent to a client that has gone (or before STOP): dropped, as in the
    // reference.
    if (_client == nullptr || !_client->told_active()) return;
    if (_pending_count == max_pending_frames) {
        _pending_head = (_pending_head + 1) % max_pending_frames;
        --_pending_count;
        ++_frames_dropped;
    }
    auto &p = _pending[(_pending_head + _pending_count) % max_pending_frames];
    ++_pending_count;
    p.time = _server.multi_media_time();
    p.count = _client->frame_samples();
    std::copy(it->samples.begin(), it->samples.end(), p.samples.begin());
    flush(/*force=*/false);
}

void playback_channel::flush(bool force) {
    while (_pending_count > 0 && _client != nullptr && !_client->stopped()) {
        if (!force && _client->backlog() >= max_backlog_bytes) return;
        const auto &f = _pending[_pending_head];
        _pending_head = (_pending_head + 1) % max_pending_frames;
        --_pending_count;
        if (auto r = _client->send_frame(f); !r) {
            _client->stop("opus encoding failed");
            return;
        }
        ++_frames_sent;
    }
}

void playback_channel::drop_pending() noexcept {
    _pending_head = 0;
    _pending_count = 0;
}

void playback_channel::set_volume(std::span<const uint16_t> volume) {
    _volume.assign(volume.begin(), volume.end());
    if (_client != nullptr && !_volume.empty() && _client->has_cap(SPICE_PLAYBACK_CAP_VOLUME))
        _client->send(msg::playback_volume{.volume = _volume});
}

void playback_channel::set_mute(bool mute) {
    _mute = mute ? 1 : 0;
    if (_client != nullptr) _client->send_mute();
}

void playback_channel::set_rate(uint32_t hz) {
    _rate = hz;
    if (opus_rate_supported(hz) && !_opus_cap) {
        _opus_cap = true;
        register_with_server();
    }
}

void playback_channel::update_mode() {
    if (_client != nullptr && _client->choose_mode()) _client->send_mode();
}

void playback_channel::set_latency(uint32_t ms) {
    if (_client != nullptr && _client->has_cap(SPICE_PLAYBACK_CAP_LATENCY))
        _client->send(msg::playback_latency{.latency_ms = ms});
}

playback_channel::counters playback_channel::stats() const {
    counters c;
    c.connected = _client != nullptr;
    c.mode = _client != nullptr ? _client->mode() : uint16_t{SPICE_AUDIO_DATA_MODE_INVALID};
    c.frames_sent = _frames_sent;
    c.frames_dropped = _frames_dropped;
    c.pending_frames = _pending_count;
    c.queued_bytes = _client != nullptr ? _client->backlog() : 0;
    c.lent_buffers = static_cast<size_t>(
        std::count_if(_pool.begin(), _pool.end(), [](const pool_frame &f) { return f.lent; }));
    return c;
}

} // namespace rs
