// Sockets: an owning fd, listeners (TCP v4/v6, UNIX incl. abstract "@name"),
// connect, and whole-buffer receive/send built on the single-SQE awaitables.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "runtime/io.hpp"
#include "runtime/result.hpp"
#include "runtime/task.hpp"

namespace rs {

/// Owns one file descriptor and closes it. Movable, not copyable; usable on
/// any thread, but an fd with I/O in flight belongs to that I/O's shard.
class fd_handle {
  public:
    fd_handle() noexcept = default;
    explicit fd_handle(int fd) noexcept
        : _fd(fd) {}
    fd_handle(fd_handle &&o) noexcept
        : _fd(std::exchange(o._fd, -1)) {}
    fd_handle &operator=(fd_handle &&o) noexcept {
        if (this != &o) reset(std::exchange(o._fd, -1));
        return *this;
    }
    fd_handle(const fd_handle &) = delete;
    fd_handle &operator=(const fd_handle &) = delete;
    ~fd_handle() { reset(); }

    int get() const noexcept { return _fd; }
    explicit operator bool() const noexcept { return _fd >= 0; }
    int release() noexcept { return std::exchange(_fd, -1); }
    void reset(int fd = -1) noexcept;

  private:
    int _fd = -1;
};

/// A socket address of any family we listen on.
struct socket_address {
    sockaddr_storage storage{};
    socklen_t len = 0;
    const sockaddr *get() const noexcept { return reinterpret_cast<const sockaddr *>(&storage); }
    int family() const noexcept { return storage.ss_family; }
    std::string to_string() const;
};

enum class address_family { any, ipv4, ipv6 };

/// Resolves numeric or named `host` (empty: all interfaces) and `port` into
/// the addresses to bind, in getaddrinfo's order.
result<std::vector<socket_address>> resolve(const std::string &host, int port, address_family fam,
                                            bool passive);
/// A UNIX address; a leading '@' names the abstract namespace.
result<socket_address> unix_address(const std::string &path);

/// socket+bind+listen, non-blocking, CLOEXEC, SO_REUSEADDR; IPV6_V6ONLY off
/// for a wildcard v6 address so one socket serves both families.
result<fd_handle> listen_on(const socket_address &addr, int backlog = 128);
/// Binds every address `resolve` yields for host/port; fails only when none binds.
result<std::vector<fd_handle>> listen_tcp(const std::string &host, int port,
                                          address_family fam = address_family::any,
                                          int backlog = 128);
/// The address a listening or connected socket is bound to / connected to.
result<socket_address> local_address(int fd);
result<socket_address> peer_address(int fd);

/// A connected TCP socket (TCP_NODELAY on) or an error.
task<result<fd_handle>> tcp_connect(socket_address addr, std::stop_token st = {});

/// Receives exactly buf.size() bytes (errc::eof if the peer closes first).
task<result<void>> recv_exact(int fd, std::span<std::byte> buf, std::stop_token st = {});
/// Sends the whole buffer, resuming after partial sends.
task<result<void>> send_all(int fd, std::span<const std::byte> buf, std::stop_token st = {});

void set_nodelay(int fd) noexcept;

/// Accepts connections with one multishot SQE where the kernel has it (one
/// SQE, many CQEs), else one accept SQE per connection. Lives in the accept
/// loop's frame on one shard. Lifecycle: next() as often as needed, then
/// `co_await close()` before the object dies, which cancels the multishot SQE
/// and waits for its last CQE (the kernel holds a pointer to us until then).
///
///     acceptor acc(listen_fd);
///     while (auto fd = co_await acc.next(stop)) spawn(serve(fd_handle(*fd)));
///     co_await acc.close();
class acceptor final : public completion {
  public:
    explicit acceptor(int listen_fd) noexcept
        : _fd(listen_fd) {}
    acceptor(const acceptor &) = delete;
    acceptor &operator=(const acceptor &) = delete;
    ~acceptor();

    struct next_awaitable {
        acceptor &a;
        std::stop_token st;
        std::optional<std::stop_callback<std::function<void()>>> cb;
        bool await_ready() noexcept;
        void await_suspend(std::coroutine_handle<> h);
        result<int> await_resume();
    };
    /// The next accepted fd (CLOEXEC), or an error (errc::cancelled when `st` stops).
    next_awaitable next(std::stop_token st = {}) noexcept { return {*this, std::move(st), {}}; }
    /// Cancels the armed SQE, waits for its last CQE and closes unclaimed fds.
    task<void> close();

    void complete(int res, uint32_t flags) noexcept override;

  private:
    void arm();
    int _fd;
    shard *_shard = nullptr;
    bool _armed = false;
    bool _multishot = false;
    bool _closing = false;
    std::deque<int> _ready_fds;
    int _error = 0;
    std::coroutine_handle<> _waiter;
};

} // namespace rs
