#include "reds/channel_client.hpp"

#include <spice/enums.h>
#include <spice/protocol.h>

#include "reds/main_messages.hpp"
#include "runtime/byte_pool.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"

namespace rs {

using namespace std::chrono_literals;

namespace {

/// Messages at least this large are written from their own buffer; smaller
/// ones are copied together into writes of up to this many bytes.
constexpr size_t direct_write_bytes = 64 * 1024;

} // namespace

uint64_t monotonic_us() noexcept {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

channel_client::channel_client(std::unique_ptr<stream> s, channel_link link, bool handle_acks,
                               channel_limits limits)
    : _stream(std::move(s))
    , _link(std::move(link))
    , _handle_acks(handle_acks)
    , _limits(limits)
    , _mini(_link.common_caps.has(SPICE_COMMON_CAP_MINI_HEADER))
    , _last_received(std::chrono::steady_clock::now()) {}

channel_client::~channel_client() = default;

bool channel_client::enqueue(std::vector<uint8_t> buf) {
    if (stopped()) return false;
    if (_queued_bytes + buf.size() > _limits.max_queued_bytes) {
        RS_LOG_RATELIMITED("channel",
                           "{} {}: send queue over {} bytes, client is not reading; disconnecting",
                           channel_type_name(_link.type), _link.id, _limits.max_queued_bytes);
        stop("send queue full");
        return false;
    }
    _queued_bytes += buf.size();
    _queue.push_back(std::move(buf));
    _wake_writer.set();
    return true;
}

void channel_client::stop(std::string_view why) {
    if (_stop.stop_requested()) return;
    if (!why.empty())
        RS_LOG_DEBUG("channel", "{} {} of session {:#x} stopping: {}",
                     channel_type_name(_link.type), _link.id, _link.connection_id, why);
    _stop.request_stop();
    _stream->shutdown();
    _wake_writer.set();
    _pong_wait.request_stop();
}

bool channel_client::waiting_for_ack() const noexcept {
    return _handle_acks && _messages_in_window > _limits.ack_window * 2;
}

task<void> channel_client::run() {
    if (_handle_acks) {
        // Start an ACK generation before anything else is sent.
        send(msg::set_ack{.generation = ++_ack_generation, .window = _limits.ack_window});
        _messages_in_window = 0;
    }
    on_start();
    gate::holder w(_siblings);
    spawn(
        [](channel_client &self, gate::holder h) -> task<void> {
            co_await self.writer();
            (void)h;
        }(*this, std::move(w)),
        "channel writer");
    gate::holder p(_siblings);
    spawn(
        [](channel_client &self, gate::holder h) -> task<void> {
            co_await self.pinger();
            (void)h;
        }(*this, std::move(p)),
        "channel pinger");
    gate::holder b(_siblings);
    spawn(
        [](channel_client &self, gate::holder h) -> task<void> {
            co_await self.background();
            (void)h;
        }(*this, std::move(b)),
        "channel background");
    co_await reader();
    stop();
    co_await _siblings.close();
    on_stopped();
}

task<void> channel_client::reader() {
    const size_t header_size = _mini ? mini_header::wire_size : data_header::wire_size;
    std::array<std::byte, data_header::wire_size> hdr{};
    std::vector<uint8_t> body;
    while (!stopped()) {
        auto r = co_await _stream->read_exact(std::span(hdr.data(), header_size), stop_token());
        if (!r) {
            if (!stopped() && !is_disconnect(r.error()) && r.error() != errc::cancelled)
                RS_LOG_WARN("channel", "{} {}: read failed: {}", channel_type_name(_link.type),
                            _link.id, r.error().message());
            co_return;
        }
        const auto raw = std::span(reinterpret_cast<const uint8_t *>(hdr.data()), header_size);
        uint16_t type = 0;
        uint32_t size = 0;
        if (_mini) {
            const auto h = mini_header::decode(raw);
            type = h->type;
            size = h->size;
        } else {
            const auto h = data_header::decode(raw);
            type = h->type;
            size = h->size;
        }
        if (size > _limits.max_message_size) {
            RS_LOG_RATELIMITED(
                "channel", "{} {}: message type {} of {} bytes exceeds the limit of {}; closing",
                channel_type_name(_link.type), _link.id, type, size, _limits.max_message_size);
            co_return;
        }
        body.resize(size);
        r = co_await _stream->read_exact(std::as_writable_bytes(std::span(body)), stop_token());
        if (!r) co_return;
        _last_received = std::chrono::steady_clock::now();
        bool handled = false;
        auto c = co_await handle_common(type, body, handled);
        if (!handled) c = co_await handle_message(type, body);
        if (!c) {
            RS_LOG_RATELIMITED("channel", "{} {}: bad message type {} ({} bytes): {}; closing",
                               channel_type_name(_link.type), _link.id, type, size,
                               c.error().message());
            co_return;
        }
    }
}

task<result<void>> channel_client::handle_common(uint16_t type, std::span<const uint8_t> body,
                                                 bool &handled) {
    handled = false;
    if (type > SPICE_MSGC_MIGRATE_DATA) co_return result<void>{}; // the common range is 1..6
    handled = true;
    auto m = parse_common_client_message(type, body, extra_bytes::ignore);
    if (std::holds_alternative<parse_error>(m)) co_return errc::protocol;
    if (auto *sync = std::get_if<msgc::ack_sync>(&m)) {
        _client_ack_generation = sync->generation;
    } else if (std::holds_alternative<msgc::ack>(m)) {
        if (_client_ack_generation == _ack_generation) {
            _messages_in_window -= std::min(_messages_in_window, _limits.ack_window);
            _wake_writer.set();
        }
    } else if (auto *pong = std::get_if<msgc::pong>(&m)) {
        if (_outstanding_ping && pong->id == *_outstanding_ping) {
            _latency = std::chrono::microseconds(monotonic_us() - pong->timestamp);
            _outstanding_ping.reset();
            _pong_wait.request_stop();
        }
    } else if (std::holds_alternative<msgc::disconnecting>(m)) {
        stop("client disconnecting");
    } else {
        // MIGRATE_FLUSH_MARK / MIGRATE_DATA: migration is not supported;
        // the messages are well-formed, so they are dropped, not fatal.
        RS_LOG_INFO("channel", "{} {}: migration message {} ignored: migration is not supported",
                    channel_type_name(_link.type), _link.id, type);
    }
    co_return result<void>{};
}

task<void> channel_client::writer() {
    std::vector<std::byte> batch;
    while (true) {
        while (!stopped() && (_queue.empty() || waiting_for_ack())) {
            _wake_writer.reset();
            co_await _wake_writer.wait();
        }
        if (stopped()) co_return;
        // A large message is written from its own buffer, which then goes
        // back to this shard's pool for the next one.
        if (_queue.front().size() >= direct_write_bytes) {
            std::vector<uint8_t> m = std::move(_queue.front());
            _queue.pop_front();
            _queued_bytes -= m.size();
            ++_messages_sent;
            if (_handle_acks) ++_messages_in_window;
            auto r = co_await _stream->write_all(std::as_bytes(std::span<const uint8_t>(m)),
                                                 stop_token());
            if (!r) {
                stop(r.error().message());
                co_return;
            }
            _bytes_sent += m.size();
            byte_pool::give(std::move(m));
            continue;
        }
        // Coalesce small queued messages into one write; the ACK window
        // counts messages, so stop at its edge.
        batch.clear();
        while (!_queue.empty() && !waiting_for_ack() &&
               _queue.front().size() < direct_write_bytes &&
               (batch.empty() || batch.size() + _queue.front().size() <= direct_write_bytes)) {
            auto &m = _queue.front();
            const auto *p = reinterpret_cast<const std::byte *>(m.data());
            batch.insert(batch.end(), p, p + m.size());
            _queued_bytes -= m.size();
            _queue.pop_front();
            ++_messages_sent;
            if (_handle_acks) ++_messages_in_window;
        }
        auto r = co_await _stream->write_all(batch, stop_token());
        if (!r) {
            stop(r.error().message());
            co_return;
        }
        _bytes_sent += batch.size();
    }
}

task<void> channel_client::pinger() {
    while (!stopped()) {
        auto slept = co_await sleep_for(_limits.ping_interval, stop_token());
        if (!slept || stopped()) co_return;
        if (std::chrono::steady_clock::now() - _last_received < _limits.ping_interval) continue;
        _outstanding_ping = ++_ping_id;
        send(msg::ping{.id = _ping_id, .timestamp = monotonic_us(), .padding_bytes = 0});
        // The PONG (or stop()) cancels this sleep; running out means a dead peer.
        _pong_wait = std::stop_source{};
        auto waited = co_await sleep_for(_limits.pong_timeout, _pong_wait.get_token());
        if (stopped()) co_return;
        if (waited.ok() && _outstanding_ping) {
            RS_LOG_WARN("channel", "{} {}: no PONG in {} ms; the client is gone",
                        channel_type_name(_link.type), _link.id, _limits.pong_timeout.count());
            stop("ping timeout");
        }
    }
}

} // namespace rs
