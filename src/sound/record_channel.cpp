#include "sound/record_channel.hpp"

#include <spice/enums.h>
#include <spice/protocol.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <variant>

#include "runtime/log.hpp"
#include "sound/opus_codec.hpp"
#include "sound/sound_messages.hpp"

namespace rs {

// ---- the channel client --------------------------------------------------------

/// One client's record channel: the data mode it announced, its decoder and
/// whether it was told START. Owned by record_channel::serve's frame;
/// control shard.
class record_channel_client final : public channel_client {
  public:
    record_channel_client(record_channel &ch, std::unique_ptr<stream> s, channel_link link)
        : channel_client(std::move(s), std::move(link), /*handle_acks=*/false)
        , _channel(ch) {}

    uint16_t mode() const noexcept { return _mode; }
    bool told_active() const noexcept { return _told_active; }
    bool has_cap(uint32_t cap) const noexcept { return link().channel_caps.has(cap); }
    void send_start() {
        _told_active = true;
        send(msg::record_start{.channels = SPICE_INTERFACE_RECORD_CHAN,
                               .format = SPICE_AUDIO_FMT_S16,
                               .frequency = _channel._rate});
    }
    void send_stop() {
        _told_active = false;
        send(msg::record_stop{});
    }
    void send_volume_and_mute() {
        if (_channel._volume.empty() || !has_cap(SPICE_RECORD_CAP_VOLUME)) return;
        send(msg::record_volume{.volume = _channel._volume});
        send(msg::record_mute{.mute = _channel._mute});
    }

  protected:
    // The reference's order: START when the VMM records, then VOLUME, MUTE.
    void on_start() override {
        if (_channel._active) {
            _channel.reset_ring();
            send_start();
        }
        send_volume_and_mute();
    }

    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override {
        co_return handle(parse_record_client_message(type, body, extra_bytes::ignore));
    }

  private:
    result<void> handle(const record_client_message &m) {
        if (const auto *e = std::get_if<parse_error>(&m)) {
            RS_LOG_RATELIMITED("sound", "record: bad message type {}: {}", e->type, e->reason);
            return errc::protocol;
        }
        if (const auto *d = std::get_if<msgc::record_data>(&m)) return data(*d);
        if (const auto *md = std::get_if<msgc::record_mode>(&m)) return set_mode(*md);
        if (const auto *mark = std::get_if<msgc::record_start_mark>(&m)) _start_time = mark->time;
        return {};
    }

    result<void> data(const msgc::record_data &d) {
        if (_mode != SPICE_AUDIO_DATA_MODE_OPUS) {
            _channel.write(d.data);
            return {};
        }
        auto n = _decoder->decode(d.data, _decoded);
        if (!n) {
            RS_LOG_RATELIMITED("sound", "record: undecodable Opus packet of {} bytes",
                               d.data.size());
            return n.error();
        }
        _channel.write(
            std::span(reinterpret_cast<const uint8_t *>(_decoded.data()), *n * sizeof(uint32_t)));
        return {};
    }

    result<void> set_mode(const msgc::record_mode &m) {
        if (m.mode == SPICE_AUDIO_DATA_MODE_RAW) {
            _mode = m.mode;
            _decoder.reset();
            return {};
        }
        if (m.mode != SPICE_AUDIO_DATA_MODE_OPUS || !opus_rate_supported(_channel._rate)) {
            RS_LOG_RATELIMITED("sound", "record: unsupported mode {} at {} Hz", m.mode,
                               _channel._rate);
            return errc::protocol;
        }
        auto dec = opus_decoder::create(_channel._rate);
        if (!dec) return dec.error();
        _decoder.emplace(std::move(*dec));
        _decoded.assign(opus_max_decoded_samples, 0);
        _mode = m.mode;
        return {};
    }

    record_channel &_channel;
    uint16_t _mode = SPICE_AUDIO_DATA_MODE_RAW;
    std::optional<opus_decoder> _decoder;
    std::vector<uint32_t> _decoded; // one packet's frames; sized when Opus starts
    uint32_t _start_time = 0;
    bool _told_active = false;
};

// ---- record_channel --------------------------------------------------------------

record_channel::record_channel(server &srv, uint8_t id)
    : _server(srv)
    , _id(id)
    , _ring(ring_samples, 0) {}

record_channel::~record_channel() = default;

caps record_channel::channel_caps() const {
    caps c;
    c.set(SPICE_RECORD_CAP_VOLUME);
    if (_opus_cap) c.set(SPICE_RECORD_CAP_OPUS);
    return c;
}

void record_channel::register_with_server() {
    _server.register_channel(channel_service{
        .type = SPICE_CHANNEL_RECORD,
        .id = _id,
        .channel_caps = channel_caps(),
        .serve = [this](std::unique_ptr<stream> s, channel_link l,
                        session &sess) { return serve(std::move(s), std::move(l), sess.id); },
    });
}

task<void> record_channel::serve(std::unique_ptr<stream> s, channel_link link,
                                 uint32_t session_id) {
    session *sess = _server.find_session(session_id);
    if (sess == nullptr) co_return;
    if (_client != nullptr) _client->stop("replaced by a new record client");
    record_channel_client client(*this, std::move(s), std::move(link));
    sess->channels.push_back(&client);
    _client = &client;
    co_await client.run();
    if (_client == &client) _client = nullptr;
    if (session *still = _server.find_session(session_id)) std::erase(still->channels, &client);
}

void record_channel::start() {
    _active = true;
    reset_ring();
    if (_client != nullptr && !_client->told_active()) _client->send_start();
}

void record_channel::stop() {
    _active = false;
    if (_client != nullptr && _client->told_active()) _client->send_stop();
}

void record_channel::reset_ring() noexcept {
    _write_pos = 0;
    _read_pos = 0;
    _overwritten = 0;
}

void record_channel::write(std::span<const uint8_t> bytes) {
    // A body bigger than the ring keeps only its first ring's worth, as the
    // reference does; a partial trailing frame is ignored.
    size_t n = std::min<size_t>(bytes.size() / sizeof(uint32_t), ring_samples);
    const uint8_t *src = bytes.data();
    while (n > 0) {
        const size_t at = static_cast<size_t>(_write_pos % ring_samples);
        const size_t now = std::min(n, ring_samples - at);
        std::memcpy(_ring.data() + at, src, now * sizeof(uint32_t));
        src += now * sizeof(uint32_t);
        _write_pos += now;
        n -= now;
    }
    if (_write_pos - _read_pos > ring_samples) {
        _overwritten += _write_pos - _read_pos - ring_samples;
        _read_pos = _write_pos - ring_samples;
    }
}

uint32_t record_channel::get_samples(std::span<uint32_t> out) {
    if (_client == nullptr || _write_pos < start_threshold) return 0;
    size_t len = std::min<size_t>(_write_pos - _read_pos, out.size());
    const auto total = static_cast<uint32_t>(len);
    auto *dst = out.data();
    while (len > 0) {
        const size_t at = static_cast<size_t>(_read_pos % ring_samples);
        const size_t now = std::min(len, ring_samples - at);
        std::memcpy(dst, _ring.data() + at, now * sizeof(uint32_t));
        dst += now;
        _read_pos += now;
        len -= now;
    }
    return total;
}

void record_channel::set_volume(std::span<const uint16_t> volume) {
    _volume.assign(volume.begin(), volume.end());
    if (_client != nullptr && !_volume.empty() && _client->has_cap(SPICE_RECORD_CAP_VOLUME))
        _client->send(msg::record_volume{.volume = _volume});
}

void record_channel::set_mute(bool mute) {
    _mute = mute ? 1 : 0;
    if (_client != nullptr && _client->has_cap(SPICE_RECORD_CAP_VOLUME))
        _client->send(msg::record_mute{.mute = _mute});
}

void record_channel::set_rate(uint32_t hz) {
    _rate = hz;
    if (opus_rate_supported(hz) && !_opus_cap) {
        _opus_cap = true;
        register_with_server();
    }
}

record_channel::counters record_channel::stats() const {
    counters c;
    c.connected = _client != nullptr;
    c.mode = _client != nullptr ? _client->mode() : uint16_t{SPICE_AUDIO_DATA_MODE_INVALID};
    c.written = _write_pos;
    c.read = _read_pos;
    c.overwritten = _overwritten;
    return c;
}

} // namespace rs
