// A byte stream under the link handshake and every channel: plain TCP/UNIX
// today, TLS (and WebSocket) as layers implementing the same interface, so
// channels never special-case their transport.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <stop_token>

#include "runtime/result.hpp"
#include "runtime/socket.hpp"
#include "runtime/task.hpp"

namespace rs {

/// Owns one connected socket and what wraps it (a TLS session). Lives on one
/// shard at a time: it may move to another shard (the control shard hands a
/// display channel's stream to its display shard) only while no operation
/// is in flight.
class stream {
  public:
    explicit stream(fd_handle fd) noexcept
        : _fd(std::move(fd)) {}
    stream(const stream &) = delete;
    stream &operator=(const stream &) = delete;
    virtual ~stream() = default;

    /// Up to buf.size() bytes; errc::eof at a clean end of stream.
    virtual task<result<size_t>> read_some(std::span<std::byte> buf, std::stop_token st) = 0;
    /// All of buf, or an error.
    virtual task<result<void>> write_all(std::span<const std::byte> buf, std::stop_token st) = 0;
    /// True when the bytes are protected by TLS.
    virtual bool is_tls() const noexcept { return false; }
    /// Security strength factor in bits (SASL's rules): 0 plain, the cipher's key bits under TLS.
    virtual int ssf() const noexcept { return 0; }

    /// Exactly buf.size() bytes (errc::eof if the stream ends first).
    task<result<void>> read_exact(std::span<std::byte> buf, std::stop_token st);

    /// The socket; a layer without a socket of its own (WebSocket) forwards
    /// to the stream it wraps.
    virtual int fd() const noexcept { return _fd.get(); }
    /// Wakes any pending I/O with an error (shutdown(2)); the fd stays open
    /// until the stream is destroyed.
    virtual void shutdown() noexcept;

  protected:
    /// For a layer over another stream, which owns the socket: one owner.
    stream() noexcept = default;
    fd_handle _fd;
};

/// A stream straight on the socket.
class plain_stream final : public stream {
  public:
    using stream::stream;
    task<result<size_t>> read_some(std::span<std::byte> buf, std::stop_token st) override;
    task<result<void>> write_all(std::span<const std::byte> buf, std::stop_token st) override;
};

} // namespace rs
