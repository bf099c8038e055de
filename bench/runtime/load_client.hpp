// The benchmark's load: an epoll echo client on one thread of its own, and a
// child process that holds idle connections.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

namespace rs::bench {

struct load_options {
    int port = 0;
    unsigned connections = 100;
    size_t message_size = 64;
    unsigned depth = 1; ///< messages in flight per connection; 1 = ping-pong
    double warmup_s = 1.0;
    double seconds = 5.0;
    /// CPU clock of the server's thread, read at the edges of the window.
    clockid_t server_cpu = CLOCK_THREAD_CPUTIME_ID;
};

struct load_result {
    uint64_t messages = 0;   ///< echoes completed inside the window
    double seconds = 0;      ///< the window's real length
    double server_cpu_s = 0; ///< server thread CPU time inside the window
    double client_cpu_s = 0; ///< client thread CPU time inside the window
    uint64_t mismatches = 0; ///< echoed bytes that differ from what was sent
    std::string error;       ///< empty on success
};

/// Connects `connections` sockets to 127.0.0.1:port, runs the load on a new
/// thread for warm-up + window and returns what the window saw. Each
/// connection keeps `depth` messages of `message_size` bytes in flight and
/// checks every echoed byte.
load_result run_load(const load_options &opts);

/// A child process that opens and holds idle connections, so that the
/// benchmark process's heap holds nothing but the servers' share of them.
/// Owns the child; create() forks, so call it before starting any thread.
class idle_connector {
  public:
    /// Forks the child; it may hold up to `max_connections` sockets.
    static idle_connector create(size_t max_connections);
    idle_connector(idle_connector &&o) noexcept;
    idle_connector &operator=(idle_connector &&) = delete;
    idle_connector(const idle_connector &) = delete;
    ~idle_connector();

    /// Opens `n` connections to 127.0.0.1:port and leaves them idle; an
    /// empty string on success, else why not.
    std::string open(int port, size_t n);
    /// Closes them all with a reset (no TIME_WAIT left behind).
    void close_all();

  private:
    idle_connector(pid_t pid, int sock) noexcept
        : _pid(pid)
        , _sock(sock) {}
    pid_t _pid = -1;
    int _sock = -1;
};

/// Raises RLIMIT_NOFILE's soft limit to at least `needed`; false (with the
/// limits in `why`) when the hard limit is lower and cannot be raised.
bool raise_fd_limit(size_t needed, std::string &why);

} // namespace rs::bench
