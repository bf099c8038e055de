// The two echo servers the benchmark compares, each on one thread of its own
// and listening on 127.0.0.1 (an ephemeral port).
#pragma once

#include <atomic>
#include <cstddef>
#include <ctime>
#include <memory>
#include <string>

namespace rs::bench {

/// A running echo server. Owns its thread, listening socket and connections;
/// the benchmark's main thread only reads its counters and stops it.
class echo_server {
  public:
    virtual ~echo_server() = default;
    echo_server() = default;
    echo_server(const echo_server &) = delete;
    echo_server &operator=(const echo_server &) = delete;

    virtual std::string name() const = 0;
    /// One line on how it receives (for the report).
    virtual std::string detail() const = 0;
    int port() const noexcept { return _port; }
    /// The CPU-time clock of the server's thread.
    clockid_t cpu_clock() const noexcept { return _cpu; }
    /// Connections the server thread is serving right now.
    size_t connections() const noexcept { return _live.load(std::memory_order_relaxed); }
    /// Closes the listener and every connection, then joins the thread.
    virtual void stop() = 0;

  protected:
    int _port = 0;
    clockid_t _cpu = CLOCK_THREAD_CPUTIME_ID;
    std::atomic<size_t> _live{0};
};

struct ringspice_options {
    bool buffer_ring = true;     ///< recv_select on a shared ring; false: plain recv
    unsigned ring_buffers = 256; ///< buffers in the ring (a power of two)
    size_t buffer_size = 4096;   ///< bytes per ring buffer / per plain recv buffer
};

/// Echo server on the ringspice runtime: one rs::shard_thread, an acceptor
/// loop spawning one coroutine per connection.
std::unique_ptr<echo_server> start_ringspice_server(const ringspice_options &opts);

/// Level-triggered, non-blocking epoll echo server on one thread.
std::unique_ptr<echo_server> start_epoll_server(size_t buffer_size);

} // namespace rs::bench
