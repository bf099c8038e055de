// WebSocket (RFC 6455) as a stream layer: web clients (spice-html5) reach
// the same plain and TLS ports as native clients. The listener reads the
// 4-byte SPICE magic; when it is "GET " instead, websocket_accept reads the
// rest of the HTTP/1.1 upgrade, answers 101 and returns a websocket_stream
// wrapping the plain or TLS stream. The link handshake and every channel
// then run on it unchanged.
//
// The framing is sans-I/O (ws::frame_decoder, ws::encode_header) so the unit
// tests and the fuzz target drive it without sockets.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "reds/stream.hpp"
#include "runtime/result.hpp"
#include "runtime/sync.hpp"
#include "runtime/task.hpp"

namespace rs {

namespace ws {

enum opcode : uint8_t {
    op_continuation = 0x0,
    op_text = 0x1,
    op_binary = 0x2,
    op_close = 0x8,
    op_ping = 0x9,
    op_pong = 0xA,
};

/// Close status codes we send (RFC 6455 §7.4.1).
enum close_code : uint16_t {
    close_normal = 1000,
    close_protocol_error = 1002,
    close_invalid_payload = 1007,
    close_no_status = 1005, ///< never sent: "the peer's close had no code"
};

/// Largest HTTP upgrade request accepted (the reference reads up to 4 KiB;
/// browsers send about 500 bytes).
inline constexpr size_t max_request_size = 8 * 1024;
/// Largest frame header: 2 bytes, 8 of extended length, 4 of mask.
inline constexpr size_t max_header_size = 14;
/// Largest control frame payload (§5.5).
inline constexpr size_t max_control_payload = 125;

/// What a valid upgrade request asked for.
struct upgrade_request {
    std::string key;              ///< Sec-WebSocket-Key, trimmed
    bool binary_protocol = false; ///< Sec-WebSocket-Protocol offered "binary"
};

/// Why a request is not a valid upgrade; `response` is the complete HTTP
/// answer to send before closing.
struct upgrade_refusal {
    std::string reason;   ///< for the log
    std::string response; ///< "HTTP/1.1 400 Bad Request\r\n..."
};

/// Parses a complete request (through the blank line). Checks the method
/// (GET), the version (HTTP/1.1 or later), Upgrade: websocket, Connection:
/// upgrade, Sec-WebSocket-Version: 13 and a 16-byte base64 key. A protocol
/// list without "binary" is refused, as the reference does: the client
/// would otherwise speak a framing we do not (websockify's base64).
std::optional<upgrade_refusal> parse_upgrade(std::string_view request, upgrade_request &out);

/// base64(SHA-1(key + the RFC's GUID)).
std::string accept_key(std::string_view key);

/// The 101 Switching Protocols answer for `req`.
std::string upgrade_response(const upgrade_request &req);

/// Writes an unmasked server frame header (FIN set) into `out`; returns its size.
size_t encode_header(std::span<std::byte, max_header_size> out, uint8_t opcode,
                     uint64_t payload_size) noexcept;

/// Reassembles client frames, without I/O: the caller hands it received
/// bytes and a destination; it unmasks data payload straight into the
/// destination (the only copy) and reports control frames. Owned by one
/// websocket_stream (or a test); no shard affinity of its own.
///
/// Enforces RFC 6455 §5 for a server: every frame masked, no RSV bits (no
/// extension is negotiated), no reserved opcode, control frames unfragmented
/// and at most 125 bytes, continuations only inside a fragmented message and
/// no new data message inside one, 64-bit lengths with the top bit clear,
/// close payloads of 0 or 2+ bytes with a valid code and a UTF-8 reason.
/// Text frames are passed through as bytes (SPICE never sends text).
class frame_decoder {
  public:
    struct event {
        enum class kind {
            need_more, ///< every input byte was consumed; feed more
            data,      ///< `produced` bytes of message payload are in `out`
            ping,      ///< answer with a pong carrying `payload`
            pong,      ///< ignore
            close,     ///< the peer's close: `code` (close_no_status if none), `payload` echoed
            fail,      ///< protocol error: close with `code`; the decoder is dead
        };
        kind what = kind::need_more;
        size_t consumed = 0; ///< input bytes used, whatever the kind
        size_t produced = 0;
        uint16_t code = 0;
        std::span<const std::byte> payload; ///< control payload, valid until the next call
        const char *reason = "";            ///< for the log on fail
    };

    /// Decodes from `in` until one event. `out` must not be empty.
    event decode(std::span<const std::byte> in, std::span<std::byte> out);
    /// Payload bytes left in the current data frame: a caller with nothing
    /// buffered may receive up to this many straight into its buffer and
    /// then call unmask_direct on them.
    uint64_t data_remaining() const noexcept { return _in_data ? _remaining : 0; }
    /// Unmasks `data` in place as the next bytes of the current data frame
    /// (data.size() <= data_remaining()).
    void unmask_direct(std::span<std::byte> data) noexcept;

  private:
    event fail(size_t consumed, uint16_t code, const char *why);

    std::array<std::byte, max_header_size> _hdr{};
    size_t _hdr_len = 0;
    std::array<std::byte, max_control_payload> _ctl{};
    size_t _ctl_len = 0;
    std::array<uint8_t, 4> _mask{};
    size_t _mask_pos = 0;    // offset into _mask of the next payload byte
    uint64_t _remaining = 0; // payload bytes left in the current frame
    uint8_t _opcode = 0;
    bool _in_data = false;    // reading a data frame's payload
    bool _in_control = false; // reading a control frame's payload
    bool _in_message = false; // a fragmented data message awaits continuations
    bool _failed = false;
};

} // namespace ws

/// A WebSocket connection: owns the stream under it (plain or TLS, which owns
/// the socket) and turns the client's frames into a byte stream and each
/// write into one binary frame. Lives on one shard at a time like every
/// stream: the control shard, then the display shard a display or cursor
/// channel moves to (only while no operation is in flight).
///
/// One reader and any number of writers may be in flight at once: writers
/// and the reader's pong and close answers are serialised so frames never
/// interleave. A write that fails midway leaves a partial frame, so every
/// later write fails too.
class websocket_stream final : public stream {
  public:
    /// Bytes one read from the inner stream asks for when a frame header is
    /// needed (the payload that follows it comes along).
    static constexpr size_t read_chunk = 16 * 1024;
    /// Writes up to this size are copied behind their header and sent in
    /// one inner write; larger ones send the header, then the caller's bytes.
    static constexpr size_t coalesce_limit = 64 * 1024;

    /// Wraps `inner`, whose upgrade is done; `pending` are bytes received
    /// after the request (the client's first frames), decoded first.
    websocket_stream(std::unique_ptr<stream> inner, std::span<const std::byte> pending);

    /// Message payload up to buf.size(); errc::eof after the peer's close
    /// (answered) or the inner end; errc::protocol after a framing error
    /// (answered with a close frame).
    task<result<size_t>> read_some(std::span<std::byte> buf, std::stop_token st) override;
    /// All of buf as one binary frame.
    task<result<void>> write_all(std::span<const std::byte> buf, std::stop_token st) override;
    bool is_tls() const noexcept override { return _inner->is_tls(); }
    int ssf() const noexcept override { return _inner->ssf(); }
    int fd() const noexcept override { return _inner->fd(); }
    void shutdown() noexcept override { _inner->shutdown(); }

  private:
    /// Sends one frame under the write lock.
    task<result<void>> send_frame(uint8_t opcode, std::span<const std::byte> payload,
                                  std::stop_token st);

    std::unique_ptr<stream> _inner;
    ws::frame_decoder _decoder;
    std::vector<std::byte> _in; // received, not yet decoded: _in[_in_pos, _in_end)
    size_t _in_pos = 0;
    size_t _in_end = 0;
    std::vector<std::byte> _out;  // header + small payload, one inner write
    std::error_code _write_error; // sticky: a partial frame is on the wire
    std::error_code _read_error;  // sticky: closed or failed
    async_mutex _write_lock;      // one writer at a time: frames must not interleave
};

/// Completes a WebSocket upgrade on `inner`: `already_read` are the bytes the
/// listener read (the 4 that were not the SPICE magic). Reads the request to
/// its blank line (at most ws::max_request_size; the caller's stop token
/// bounds the time — the server passes the link watchdog's), answers 101 and
/// returns the websocket stream. A bad request is answered (400, or 426 for
/// another protocol version) and returns errc::protocol; the caller closes.
task<result<std::unique_ptr<stream>>> websocket_accept(std::unique_ptr<stream> inner,
                                                       std::span<const std::byte> already_read,
                                                       std::stop_token st);

} // namespace rs
