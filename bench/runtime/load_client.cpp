#include "load_client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace rs::bench {
namespace {

double cpu_seconds(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::byte pattern_at(size_t i) { return static_cast<std::byte>((i * 7 + 13) & 0xff); }

/// A blocking connect to 127.0.0.1:port; -errno on failure.
int connect_loopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) {
        const int e = errno;
        ::close(fd);
        return -e;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/// One client connection of the load: how much it still has to send, and
/// where in the message pattern its send and receive stand.
struct client_conn {
    int fd = -1;
    size_t to_send = 0;
    size_t send_off = 0;
    size_t recv_off = 0;
    bool want_out = false;
};

class load_loop {
  public:
    explicit load_loop(const load_options &o)
        : _o(o)
        , _pattern(o.message_size)
        , _rbuf(std::max<size_t>(o.message_size * o.depth, 64 * 1024)) {
        for (size_t i = 0; i < _pattern.size(); ++i)
            _pattern[i] = pattern_at(i);
    }
    ~load_loop() {
        for (auto &c : _conns)
            if (c.fd >= 0) ::close(c.fd);
        if (_ep >= 0) ::close(_ep);
    }
    load_loop(const load_loop &) = delete;
    load_loop &operator=(const load_loop &) = delete;

    std::string connect_all() {
        _ep = ::epoll_create1(EPOLL_CLOEXEC);
        _conns.resize(_o.connections);
        for (auto &c : _conns) {
            c.fd = connect_loopback(_o.port);
            if (c.fd < 0) return fmt::format("connect: {}", std::strerror(-c.fd));
            ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.ptr = &c;
            ::epoll_ctl(_ep, EPOLL_CTL_ADD, c.fd, &ev);
        }
        return {};
    }

    void run(load_result &out) {
        using clock = std::chrono::steady_clock;
        const auto start = clock::now();
        const auto window_start = start + std::chrono::duration_cast<clock::duration>(
                                              std::chrono::duration<double>(_o.warmup_s));
        const auto window_end = window_start + std::chrono::duration_cast<clock::duration>(
                                                   std::chrono::duration<double>(_o.seconds));
        for (auto &c : _conns) {
            c.to_send = _o.message_size * _o.depth;
            if (!send_some(c)) {
                out.error = _error;
                return;
            }
        }
        bool in_window = false;
        uint64_t base = 0;
        double srv0 = 0, cli0 = 0;
        clock::time_point t0;
        epoll_event evs[256];
        for (;;) {
            const auto now = clock::now();
            if (!in_window && now >= window_start) {
                in_window = true;
                base = _messages;
                t0 = now;
                srv0 = cpu_seconds(_o.server_cpu);
                cli0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
            }
            if (in_window && now >= window_end) {
                out.messages = _messages - base;
                out.seconds = std::chrono::duration<double>(now - t0).count();
                out.server_cpu_s = cpu_seconds(_o.server_cpu) - srv0;
                out.client_cpu_s = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cli0;
                out.mismatches = _mismatches;
                return;
            }
            const int n = ::epoll_wait(_ep, evs, 256, 100);
            for (int i = 0; i < n; ++i) {
                auto *c = static_cast<client_conn *>(evs[i].data.ptr);
                if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0 && !receive(*c)) {
                    out.error = _error;
                    return;
                }
                if (!send_some(*c)) {
                    out.error = _error;
                    return;
                }
            }
        }
    }

  private:
    /// One recv per readiness (level-triggered: what is left comes back).
    bool receive(client_conn &c) {
        const ssize_t r = ::recv(c.fd, _rbuf.data(), _rbuf.size(), 0);
        if (r == 0) return fail("the server closed a connection");
        if (r < 0) return errno == EAGAIN || errno == EINTR || fail(std::strerror(errno));
        const auto got = static_cast<size_t>(r);
        const size_t m = _o.message_size;
        for (size_t i = 0; i < got;) { // compare run by run against the pattern
            const size_t at = (c.recv_off + i) % m;
            const size_t run = std::min(got - i, m - at);
            if (std::memcmp(_rbuf.data() + i, _pattern.data() + at, run) != 0) ++_mismatches;
            i += run;
        }
        const size_t total = c.recv_off + got;
        const size_t done = total / m;
        c.recv_off = total % m;
        _messages += done;
        c.to_send += done * m;
        return true;
    }

    bool send_some(client_conn &c) {
        while (c.to_send > 0) {
            const size_t chunk = std::min(c.to_send, _o.message_size - c.send_off);
            const ssize_t n = ::send(c.fd, _pattern.data() + c.send_off, chunk, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN) return fail(std::strerror(errno));
                if (!c.want_out) watch(c, true);
                return true;
            }
            c.to_send -= static_cast<size_t>(n);
            c.send_off = (c.send_off + static_cast<size_t>(n)) % _o.message_size;
        }
        if (c.want_out) watch(c, false);
        return true;
    }

    void watch(client_conn &c, bool out) {
        c.want_out = out;
        epoll_event ev{};
        ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
        ev.data.ptr = &c;
        ::epoll_ctl(_ep, EPOLL_CTL_MOD, c.fd, &ev);
    }

    bool fail(const char *why) {
        _error = why;
        return false;
    }

    load_options _o;
    std::vector<std::byte> _pattern;
    std::vector<std::byte> _rbuf;
    std::vector<client_conn> _conns;
    int _ep = -1;
    uint64_t _messages = 0;
    uint64_t _mismatches = 0;
    std::string _error;
};

// ---- the idle connector's child ----

struct command {
    int op; // 1 open, 2 close all, 3 exit
    int port;
    uint64_t count;
};
struct reply {
    int err; // 0 or errno
    uint64_t opened;
};

bool read_full(int fd, void *p, size_t n) {
    auto *b = static_cast<char *>(p);
    while (n > 0) {
        const ssize_t r = ::read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        b += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}
bool write_full(int fd, const void *p, size_t n) {
    const auto *b = static_cast<const char *>(p);
    while (n > 0) {
        const ssize_t r = ::write(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        b += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

[[noreturn]] void child_main(int sock, size_t max_connections) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the benchmark
    std::vector<int> fds;
    fds.reserve(max_connections);
    command cmd{};
    while (read_full(sock, &cmd, sizeof(cmd))) {
        reply rep{};
        if (cmd.op == 1) {
            for (uint64_t i = 0; i < cmd.count; ++i) {
                const int fd = connect_loopback(cmd.port);
                if (fd < 0) {
                    rep.err = -fd;
                    break;
                }
                fds.push_back(fd);
            }
            rep.opened = fds.size();
        } else if (cmd.op == 2) {
            const linger lg{1, 0}; // reset: the ports are free again at once
            for (int fd : fds) {
                ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                ::close(fd);
            }
            fds.clear();
        } else {
            break;
        }
        if (!write_full(sock, &rep, sizeof(rep))) break;
    }
    ::_exit(0);
}

} // namespace

load_result run_load(const load_options &opts) {
    load_result out;
    load_loop loop(opts);
    out.error = loop.connect_all();
    if (!out.error.empty()) return out;
    std::thread client([&] { loop.run(out); });
    client.join();
    return out;
}

bool raise_fd_limit(size_t needed, std::string &why) {
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur >= needed) return true;
    if (lim.rlim_max < needed) {
        lim.rlim_max = needed; // works with CAP_SYS_RESOURCE
        lim.rlim_cur = needed;
        if (::setrlimit(RLIMIT_NOFILE, &lim) == 0) return true;
        ::getrlimit(RLIMIT_NOFILE, &lim);
        why = fmt::format("RLIMIT_NOFILE hard limit is {} but {} descriptors are needed and "
                          "raising it failed ({}); run with `ulimit -Hn {}` or lower --idle",
                          lim.rlim_max, needed, std::strerror(errno), needed);
        return false;
    }
    lim.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
        why = fmt::format("setrlimit(RLIMIT_NOFILE, {}): {}", needed, std::strerror(errno));
        return false;
    }
    return true;
}

idle_connector idle_connector::create(size_t max_connections) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return {-1, -1};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(sv[0]);
        child_main(sv[1], max_connections);
    }
    ::close(sv[1]);
    if (pid < 0) {
        ::close(sv[0]);
        return {-1, -1};
    }
    return {pid, sv[0]};
}

idle_connector::idle_connector(idle_connector &&o) noexcept
    : _pid(std::exchange(o._pid, -1))
    , _sock(std::exchange(o._sock, -1)) {}

idle_connector::~idle_connector() {
    if (_pid <= 0) return;
    const command cmd{3, 0, 0};
    write_full(_sock, &cmd, sizeof(cmd));
    ::close(_sock);
    int status = 0;
    ::waitpid(_pid, &status, 0);
}

std::string idle_connector::open(int port, size_t n) {
    if (_pid <= 0) return "the connector process could not be started";
    const command cmd{1, port, n};
    reply rep{};
    if (!write_full(_sock, &cmd, sizeof(cmd)) || !read_full(_sock, &rep, sizeof(rep)))
        return "the connector process died";
    if (rep.err != 0)
        return fmt::format("connect #{} failed: {}", rep.opened + 1, std::strerror(rep.err));
    return {};
}

void idle_connector::close_all() {
    if (_pid <= 0) return;
    const command cmd{2, 0, 0};
    reply rep{};
    if (write_full(_sock, &cmd, sizeof(cmd))) read_full(_sock, &rep, sizeof(rep));
}

} // namespace rs::bench
