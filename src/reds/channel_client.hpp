// The channel-client base: one client × one channel. A reader, a writer and a
// pinger run as sibling coroutines over one stream, fed by a bounded send
// queue and an event (STYLE.md example 10); the first to fail stops the rest.
#pragma once

#include <spice.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "reds/protocol.hpp"
#include "reds/stream.hpp"
#include "reds/wire.hpp"
#include "runtime/sync.hpp"
#include "runtime/task.hpp"

namespace rs {

/// What the link handshake learned about a channel connection. Plain data.
struct channel_link {
    uint32_t connection_id = 0;
    uint8_t type = 0;
    uint8_t id = 0;
    caps common_caps;  ///< the client's SPICE_COMMON_CAP_* bits
    caps channel_caps; ///< the client's channel-specific bits
};

/// Limits of one channel client; named so tests and the README can cite them.
struct channel_limits {
    /// Largest client message body accepted; bigger ones end the channel.
    uint32_t max_message_size = 64 * 1024;
    /// Bytes queued for sending before the client counts as stuck.
    size_t max_queued_bytes = 4 * 1024 * 1024;

    /// Idle time after which a PING checks that the client is alive.
    std::chrono::milliseconds ping_interval{15'000};
    /// A PING unanswered this long ends the channel (a dead peer).
    std::chrono::milliseconds pong_timeout{60'000};
    /// Messages per ACK the client is asked for (SET_ACK window).
    uint32_t ack_window = 20;
};

/// One client's connection to one channel. Owns the stream, the send queue
/// and the three coroutines; lives on one shard (the control shard, or the
/// display shard for display and cursor channels) and is touched only there.
/// Subclasses switch over their channel's messages in handle_message().
class channel_client {
  public:
    channel_client(std::unique_ptr<stream> s, channel_link link, bool handle_acks,
                   channel_limits limits = {});
    channel_client(const channel_client &) = delete;
    channel_client &operator=(const channel_client &) = delete;
    virtual ~channel_client();

    /// Runs the connection until the client leaves or stop() is called.
    /// Returns after all three coroutines have ended.
    task<void> run();
    /// Ends the connection; safe to call more than once and from any
    /// coroutine of this shard.
    void stop(std::string_view why = {});
    bool stopped() const noexcept { return _stop.stop_requested(); }

    const channel_link &link() const noexcept { return _link; }
    bool mini_header() const noexcept { return _mini; }
    bool is_tls() const noexcept { return _stream->is_tls(); }
    int fd() const noexcept { return _stream->fd(); }
    /// Round-trip time measured by the last PING/PONG, if any.
    std::optional<std::chrono::microseconds> latency() const noexcept { return _latency; }
    uint64_t bytes_sent() const noexcept { return _bytes_sent; }
    uint64_t messages_sent() const noexcept { return _messages_sent; }
    /// The serial of the last message queued: the client numbers the
    /// messages it receives 1, 2, … (with the mini header it counts them),
    /// and SPICE_MSG_WAIT_FOR_CHANNELS names a message of another channel
    /// by that number.
    uint64_t queued_serial() const noexcept { return _serial; }
    /// The serial of the last message handed to the socket: the client gets
    /// every message up to it even if the queue is dropped later.
    uint64_t sent_serial() const noexcept { return _serial - _queue.size(); }

    /// Marshals `m` (a struct with `type` and `encode(wire::writer&)`) and
    /// queues it. False (and the channel stops) when the queue limit is hit.
    template <typename M> bool send(const M &m) {
        return send_with(M::type, [&m](wire::writer &w) { m.encode(w); });
    }
    template <typename F> bool send_with(uint16_t type, F &&encode_body) {
        std::vector<uint8_t> buf;
        wire::writer w(buf);
        auto frame = message_frame::begin(w, _mini, type, ++_serial);
        encode_body(w);
        frame.finish(w);
        return enqueue(std::move(buf));
    }

  protected:
    /// A channel-specific message (common ones are handled here). An error
    /// ends the channel with a log line naming it.
    virtual task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) = 0;
    /// Called once before the coroutines start: queue the greeting messages.
    virtual void on_start() {}
    /// Called once after everything has stopped.
    virtual void on_stopped() {}
    /// Runs beside the reader while the channel is up (a timer, say); must
    /// return soon after stop_token() is requested.
    virtual task<void> background() { co_return; }

    const std::stop_token stop_token() const noexcept { return _stop.get_token(); }
    /// Bytes marshalled but not yet handed to the socket.
    size_t queued_bytes() const noexcept { return _queued_bytes; }
    /// Drops every message not yet handed to the socket (a display client
    /// that fell behind replaces them with the current picture); the serial
    /// goes back with them, so the next message gets the number the client
    /// will count for it. Returns how many were dropped.
    size_t clear_queue() noexcept {
        const size_t n = _queue.size();
        _serial -= n;
        _queue.clear();
        _queued_bytes = 0;
        return n;
    }

  private:
    bool enqueue(std::vector<uint8_t> buf);
    task<void> reader();
    task<void> writer();
    task<void> pinger();
    task<result<void>> handle_common(uint16_t type, std::span<const uint8_t> body, bool &handled);
    bool waiting_for_ack() const noexcept;

    std::unique_ptr<stream> _stream;
    channel_link _link;
    bool _handle_acks;
    channel_limits _limits;
    bool _mini;
    std::stop_source _stop;
    std::deque<std::vector<uint8_t>> _queue;
    size_t _queued_bytes = 0;
    event _wake_writer;
    gate _siblings;
    uint64_t _serial = 0;
    uint64_t _bytes_sent = 0;
    uint64_t _messages_sent = 0;
    // ACK window (reference semantics): SET_ACK starts a generation; the
    // client answers ACK_SYNC with it and then ACK every `window` messages.
    uint32_t _ack_generation = 0;
    uint32_t _client_ack_generation = ~0u;
    uint32_t _messages_in_window = 0;
    // PING/PONG
    uint32_t _ping_id = 0;
    std::optional<uint32_t> _outstanding_ping;
    std::chrono::steady_clock::time_point _last_received;
    std::optional<std::chrono::microseconds> _latency;
    std::stop_source _pong_wait;
};

/// Microseconds of the monotonic clock: PING timestamps, latency.
uint64_t monotonic_us() noexcept;

} // namespace rs
