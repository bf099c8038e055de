#include "runtime/socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cstring>
#include <functional>

#include "runtime/log.hpp"

namespace rs {

void fd_handle::reset(int fd) noexcept {
    if (_fd >= 0) ::close(_fd);
    _fd = fd;
}

std::string socket_address::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    switch (storage.ss_family) {
    case AF_INET: {
        const auto *a = reinterpret_cast<const sockaddr_in *>(&storage);
        ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
        return fmt::format("{}:{}", buf, ntohs(a->sin_port));
    }
    case AF_INET6: {
        const auto *a = reinterpret_cast<const sockaddr_in6 *>(&storage);
        ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
        return fmt::format("[{}]:{}", buf, ntohs(a->sin6_port));
    }
    case AF_UNIX: {
        const auto *a = reinterpret_cast<const sockaddr_un *>(&storage);
        const size_t n =
            len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
        if (n > 0 && a->sun_path[0] == '\0') return "unix:@" + std::string(a->sun_path + 1, n - 1);
        return std::string("unix:") + a->sun_path;
    }
    default:
        return "?";
    }
}

result<std::vector<socket_address>> resolve(const std::string &host, int port, address_family fam,
                                            bool passive) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = fam == address_family::ipv4   ? AF_INET
                      : fam == address_family::ipv6 ? AF_INET6
                                                    : AF_UNSPEC;
    hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_ADDRCONFIG;
    addrinfo *res = nullptr;
    const std::string service = std::to_string(port);
    const int rc =
        ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0 && (hints.ai_flags & AI_ADDRCONFIG) != 0) {
        // Loopback-only machines (tests, CI) have no "configured" address.
        hints.ai_flags &= ~AI_ADDRCONFIG;
        if (::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res) !=
            0)
            return std::make_error_code(std::errc::address_not_available);
    } else if (rc != 0) {
        return std::make_error_code(std::errc::address_not_available);
    }
    std::vector<socket_address> out;
    for (addrinfo *ai = res; ai != nullptr; ai = ai->ai_next) {
        socket_address a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        out.push_back(a);
    }
    ::freeaddrinfo(res);
    // Wildcard: v6 first, as one dual-stack socket then covers both families.
    std::stable_sort(out.begin(), out.end(), [](const socket_address &x, const socket_address &y) {
        return x.family() > y.family();
    });
    return out;
}

result<socket_address> unix_address(const std::string &path) {
    socket_address a;
    auto *un = reinterpret_cast<sockaddr_un *>(&a.storage);
    un->sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(un->sun_path))
        return std::make_error_code(std::errc::invalid_argument);
    std::memcpy(un->sun_path, path.data(), path.size());
    if (path[0] == '@') {
        un->sun_path[0] = '\0';
        a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    } else {
        a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    }
    return a;
}

result<fd_handle> listen_on(const socket_address &addr, int backlog) {
    fd_handle fd(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return std::error_code(errno, std::generic_category());
    const int one = 1;
    if (addr.family() != AF_UNIX)
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (addr.family() == AF_INET6) {
        const auto *a6 = reinterpret_cast<const sockaddr_in6 *>(&addr.storage);
        const int v6only = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ? 0 : 1;
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (::bind(fd.get(), addr.get(), addr.len) != 0)
        return std::error_code(errno, std::generic_category());
    if (::listen(fd.get(), backlog) != 0) return std::error_code(errno, std::generic_category());
    return fd;
}

result<std::vector<fd_handle>> listen_tcp(const std::string &host, int port, address_family fam,
                                          int backlog) {
    auto addrs = resolve(host, port, fam, true);
    if (!addrs) return addrs.error();
    std::vector<fd_handle> out;
    std::error_code last = std::make_error_code(std::errc::address_not_available);
    for (const auto &a : *addrs) {
        auto fd = listen_on(a, backlog);
        if (fd) {
            out.push_back(std::move(*fd));
            // A dual-stack wildcard v6 socket already covers v4.
            if (host.empty() && a.family() == AF_INET6 && fam == address_family::any) break;
        } else {
            last = fd.error();
        }
    }
    if (out.empty()) return last;
    return out;
}

namespace {
result<socket_address> sock_name(int fd, bool peer) {
    socket_address a;
    a.len = sizeof(a.storage);
    auto *sa = reinterpret_cast<sockaddr *>(&a.storage);
    const int rc = peer ? ::getpeername(fd, sa, &a.len) : ::getsockname(fd, sa, &a.len);
    if (rc != 0) return std::error_code(errno, std::generic_category());
    return a;
}
} // namespace

result<socket_address> local_address(int fd) { return sock_name(fd, false); }
result<socket_address> peer_address(int fd) { return sock_name(fd, true); }

void set_nodelay(int fd) noexcept {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

task<result<fd_handle>> tcp_connect(socket_address addr, std::stop_token st) {
    fd_handle fd(::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) co_return std::error_code(errno, std::generic_category());
    auto r = co_await connect(fd.get(), addr.get(), addr.len, std::move(st));
    if (!r) co_return r.error();
    if (addr.family() != AF_UNIX) set_nodelay(fd.get());
    co_return std::move(fd);
}

task<result<void>> recv_exact(int fd, std::span<std::byte> buf, std::stop_token st) {
    while (!buf.empty()) {
        auto n = co_await recv(fd, buf, st);
        if (!n) co_return n.error();
        buf = buf.subspan(*n);
    }
    co_return result<void>{};
}

task<result<void>> send_all(int fd, std::span<const std::byte> buf, std::stop_token st) {
    while (!buf.empty()) {
        auto n = co_await send(fd, buf, st);
        if (!n) co_return n.error();
        buf = buf.subspan(*n);
    }
    co_return result<void>{};
}

// ---- acceptor ----

acceptor::~acceptor() {
    if (_armed)
        RS_LOG_ERROR("runtime", "acceptor destroyed with an armed SQE; close() was not awaited");
    for (int fd : _ready_fds)
        ::close(fd);
}

void acceptor::arm() {
    _shard = shard::current();
    io_uring_sqe *sqe = _shard->get_sqe();
    _multishot = _shard->features().multishot_accept;
    if (_multishot)
        io_uring_prep_multishot_accept(sqe, _fd, nullptr, nullptr, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, _fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, static_cast<completion *>(this));
    _armed = true;
}

void acceptor::complete(int res, uint32_t flags) noexcept {
    if (res >= 0) {
        if (_closing)
            ::close(res);
        else
            _ready_fds.push_back(res);
    } else if (res != -ECANCELED || !_closing) {
        _error = res;
    }
    if ((flags & IORING_CQE_F_MORE) == 0) _armed = false;
    if (_waiter) _shard->schedule(std::exchange(_waiter, {}));
}

bool acceptor::next_awaitable::await_ready() noexcept {
    return !a._ready_fds.empty() || a._error != 0 || st.stop_requested();
}

void acceptor::next_awaitable::await_suspend(std::coroutine_handle<> h) {
    a._waiter = h;
    if (!a._armed) a.arm();
    if (st.stop_possible()) {
        cb.emplace(st, [this] {
            if (a._armed) a._shard->cancel(&a);
        });
    }
}

result<int> acceptor::next_awaitable::await_resume() {
    cb.reset();
    if (!a._ready_fds.empty()) {
        const int fd = a._ready_fds.front();
        a._ready_fds.pop_front();
        return fd;
    }
    if (a._error != 0) return from_errno(std::exchange(a._error, 0));
    return errc::cancelled;
}

namespace {
/// Waits until the acceptor's SQE has posted its final CQE.
struct acceptor_drain {
    bool &armed;
    std::coroutine_handle<> &waiter;
    bool await_ready() const noexcept { return !armed; }
    void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
    void await_resume() const noexcept {}
};
} // namespace

task<void> acceptor::close() {
    _closing = true;
    while (_armed) {
        _shard->cancel(this);
        co_await acceptor_drain{_armed, _waiter};
    }
    for (int fd : _ready_fds)
        ::close(fd);
    _ready_fds.clear();
}

} // namespace rs
