#include "echo_servers.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <stop_token>
#include <system_error>
#include <thread>
#include <vector>

#include "runtime/buffer_ring.hpp"
#include "runtime/cross_shard.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"
#include "runtime/socket.hpp"
#include "runtime/sync.hpp"
#include "runtime/task.hpp"

namespace rs::bench {
namespace {

using namespace std::chrono_literals;

// ---- ringspice ----

/// The server's shard-local state: created, used and destroyed on the
/// server's shard thread.
struct rs_state {
    fd_handle listener;
    std::unique_ptr<buffer_ring> ring;
    size_t buffer_size = 0;
    std::stop_source stop;
    gate conns;
    event accept_done;
};

/// What one connection holds besides its socket: its place in the gate that
/// shutdown waits on, and its share of the live counter the main thread reads.
class conn_guard {
  public:
    conn_guard(gate &g, std::atomic<size_t> &live) noexcept
        : _gate(g)
        , _live(&live) {
        _live->fetch_add(1, std::memory_order_relaxed);
    }
    conn_guard(conn_guard &&o) noexcept
        : _gate(std::move(o._gate))
        , _live(std::exchange(o._live, nullptr)) {}
    conn_guard &operator=(conn_guard &&) = delete;
    ~conn_guard() {
        if (_live != nullptr) _live->fetch_sub(1, std::memory_order_relaxed);
    }

  private:
    gate::holder _gate;
    std::atomic<size_t> *_live;
};

task<void> echo_select(fd_handle fd, buffer_ring &ring, std::stop_token st, conn_guard g) {
    (void)g;
    for (;;) {
        auto lease = co_await recv_select(fd.get(), ring, st);
        if (!lease) {
            // Every buffer leased by other connections: they return theirs
            // within a turn, and our bytes wait in the socket meanwhile.
            if (lease.error() == std::errc::no_buffer_space) {
                co_await yield_now{};
                continue;
            }
            co_return; // eof, reset or cancelled: the connection ends
        }
        std::span<const std::byte> out = lease->bytes();
        while (!out.empty()) {
            auto n = co_await send(fd.get(), out);
            if (!n) co_return;
            out = out.subspan(*n);
        }
    }
}

/// The fallback without buffer rings: each connection owns its buffer.
task<void> echo_plain(fd_handle fd, size_t buffer_size, std::stop_token st, conn_guard g) {
    (void)g;
    std::vector<std::byte> buf(buffer_size);
    for (;;) {
        auto got = co_await recv(fd.get(), buf, st);
        if (!got) co_return;
        std::span<const std::byte> out(buf.data(), *got);
        while (!out.empty()) {
            auto n = co_await send(fd.get(), out);
            if (!n) co_return;
            out = out.subspan(*n);
        }
    }
}

task<void> accept_loop(rs_state &s, std::atomic<size_t> &live) {
    acceptor acc(s.listener.get());
    const std::stop_token st = s.stop.get_token();
    for (;;) {
        auto fd = co_await acc.next(st);
        if (!fd) {
            if (fd.error() == errc::cancelled) break;
            // EMFILE and friends: back off instead of spinning on them.
            RS_LOG_RATELIMITED("bench", "accept: {}", fd.error().message());
            co_await sleep_for(10ms, st);
            continue;
        }
        fd_handle conn(*fd);
        set_nodelay(conn.get());
        conn_guard guard(s.conns, live);
        if (s.ring)
            spawn(echo_select(std::move(conn), *s.ring, st, std::move(guard)), "conn");
        else
            spawn(echo_plain(std::move(conn), s.buffer_size, st, std::move(guard)), "conn");
    }
    co_await acc.close();
    s.accept_done.set();
}

task<void> shutdown(rs_state &s) {
    // Cancels the accept and every pending receive; each connection ends and
    // leaves the gate. The ring goes last: no receive or lease is left.
    s.stop.request_stop();
    co_await s.accept_done.wait();
    co_await s.conns.close();
    s.ring.reset();
    s.listener.reset();
}

class ringspice_server final : public echo_server {
  public:
    explicit ringspice_server(const ringspice_options &opts)
        : _opts(opts)
        , _thread(shard_options{.name = "echo", .entries = 1024}) {
        call_sync(_thread.get(), [this] { setup(); });
    }
    ~ringspice_server() override { stop(); }

    std::string name() const override {
        return _opts.buffer_ring ? "ringspice" : "ringspice-plain";
    }
    std::string detail() const override { return _detail; }

    void stop() override {
        if (_stopped) return;
        _stopped = true;
        call_sync(_thread.get(), [this] { return shutdown(*_st); });
        call_sync(_thread.get(), [this] { _st.reset(); });
        _thread.stop();
    }

  private:
    void setup() { // on the shard's thread
        ::pthread_getcpuclockid(::pthread_self(), &_cpu);
        auto l = listen_tcp("127.0.0.1", 0, address_family::ipv4, 4096);
        if (!l) throw std::system_error(l.error(), "listen on 127.0.0.1");
        _st = std::make_unique<rs_state>();
        _st->listener = std::move((*l)[0]);
        _st->buffer_size = _opts.buffer_size;
        auto addr = local_address(_st->listener.get());
        _port = ntohs(reinterpret_cast<const sockaddr_in *>(&addr->storage)->sin_port);
        const auto &f = shard::current()->features();
        std::string ring_note;
        if (_opts.buffer_ring) {
            auto r = buffer_ring::create(_opts.ring_buffers, _opts.buffer_size);
            if (r) {
                _st->ring = std::move(*r);
            } else if (r.error() == errc::not_supported) {
                ring_note = " (no buffer rings on this kernel: plain recv)";
            } else {
                throw std::system_error(r.error(), "buffer_ring::create");
            }
        }
        if (_st->ring)
            _detail = fmt::format("recv_select on a buffer ring of {} x {} B (group {}, {} KiB "
                                  "mmap, shared)",
                                  _st->ring->count(), _st->ring->buffer_size(), _st->ring->group(),
                                  _st->ring->memory_bytes() / 1024);
        else
            _detail = fmt::format("plain recv into a {} B buffer per connection{}",
                                  _opts.buffer_size, ring_note);
        _detail += fmt::format("; ring flags: single_issuer={} defer_taskrun={} "
                               "multishot_accept={}",
                               f.single_issuer, f.defer_taskrun, f.multishot_accept);
        spawn(accept_loop(*_st, _live), "accept");
    }

    ringspice_options _opts;
    shard_thread _thread;
    std::unique_ptr<rs_state> _st; // touched only on the shard's thread
    std::string _detail;
    bool _stopped = false;
};

// ---- epoll ----

class epoll_server final : public echo_server {
  public:
    explicit epoll_server(size_t buffer_size)
        : _buf(buffer_size) {
        _listen = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (::bind(_listen, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 ||
            ::listen(_listen, 4096) != 0 ||
            ::getsockname(_listen, reinterpret_cast<sockaddr *>(&a), &len) != 0)
            throw std::system_error(errno, std::generic_category(), "epoll server listen");
        _port = ntohs(a.sin_port);
        _ep = ::epoll_create1(EPOLL_CLOEXEC);
        _stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        add(_listen, EPOLLIN, &_listen_tag);
        add(_stop_fd, EPOLLIN, &_stop_tag);
        _thread = std::thread([this] { run(); });
        ::pthread_getcpuclockid(_thread.native_handle(), &_cpu);
    }
    ~epoll_server() override {
        stop();
        ::close(_ep);
        ::close(_stop_fd);
    }

    std::string name() const override { return "epoll"; }
    std::string detail() const override {
        return fmt::format("level-triggered epoll, non-blocking, recv into one {} B buffer, "
                           "per-connection struct of {} B",
                           _buf.size(), sizeof(conn));
    }

    void stop() override {
        if (!_thread.joinable()) return;
        const uint64_t one = 1;
        [[maybe_unused]] const ssize_t n = ::write(_stop_fd, &one, sizeof(one));
        _thread.join();
    }

  private:
    /// One connection: its fd, output the socket did not take yet, and its
    /// links in the list shutdown walks.
    struct conn {
        int fd = -1;
        conn *prev = nullptr;
        conn *next = nullptr;
        std::vector<std::byte> pending;
        size_t pending_off = 0;
    };

    void add(int fd, uint32_t events, void *tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = tag;
        ::epoll_ctl(_ep, EPOLL_CTL_ADD, fd, &ev);
    }
    void modify(conn *c, uint32_t events) {
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = c;
        ::epoll_ctl(_ep, EPOLL_CTL_MOD, c->fd, &ev);
    }

    void run() {
        epoll_event events[256];
        bool running = true;
        while (running) {
            const int n = ::epoll_wait(_ep, events, 256, -1);
            for (int i = 0; i < n; ++i) {
                void *tag = events[i].data.ptr;
                if (tag == &_listen_tag)
                    accept_all();
                else if (tag == &_stop_tag)
                    running = false;
                else
                    serve(static_cast<conn *>(tag), events[i].events);
            }
        }
        while (_conns != nullptr)
            close_conn(_conns);
        ::close(_listen);
    }

    void accept_all() {
        for (;;) {
            const int fd = ::accept4(_listen, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return; // EAGAIN, or EMFILE: level-triggered, we come back
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            auto *c = new conn;
            c->fd = fd;
            c->next = _conns;
            if (_conns != nullptr) _conns->prev = c;
            _conns = c;
            add(fd, EPOLLIN, c);
            _live.fetch_add(1, std::memory_order_relaxed);
        }
    }

    void serve(conn *c, uint32_t ev) {
        if (!c->pending.empty()) {
            // Registered for EPOLLOUT only; an error shows in the send.
            if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) flush(c);
            return;
        }
        const ssize_t got = ::recv(c->fd, _buf.data(), _buf.size(), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
            close_conn(c);
            return;
        }
        if (got < 0) return;
        const ssize_t sent = ::send(c->fd, _buf.data(), static_cast<size_t>(got), MSG_NOSIGNAL);
        if (sent == got) return;
        if (sent < 0 && errno != EAGAIN) {
            close_conn(c);
            return;
        }
        // The socket is full: keep the rest and stop reading until it drains.
        const size_t done = sent < 0 ? 0 : static_cast<size_t>(sent);
        c->pending.assign(_buf.begin() + static_cast<ptrdiff_t>(done), _buf.begin() + got);
        c->pending_off = 0;
        modify(c, EPOLLOUT);
    }

    void flush(conn *c) {
        while (c->pending_off < c->pending.size()) {
            const ssize_t n = ::send(c->fd, c->pending.data() + c->pending_off,
                                     c->pending.size() - c->pending_off, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno != EAGAIN) close_conn(c);
                return;
            }
            c->pending_off += static_cast<size_t>(n);
        }
        c->pending.clear();
        c->pending_off = 0;
        modify(c, EPOLLIN);
    }

    void close_conn(conn *c) {
        if (c->prev != nullptr) c->prev->next = c->next;
        if (c->next != nullptr) c->next->prev = c->prev;
        if (_conns == c) _conns = c->next;
        ::close(c->fd); // also removes it from the epoll set
        delete c;
        _live.fetch_sub(1, std::memory_order_relaxed);
    }

    std::vector<std::byte> _buf;
    int _listen = -1;
    int _ep = -1;
    int _stop_fd = -1;
    char _listen_tag = 0;
    char _stop_tag = 0;
    conn *_conns = nullptr;
    std::thread _thread;
};

} // namespace

std::unique_ptr<echo_server> start_ringspice_server(const ringspice_options &opts) {
    return std::make_unique<ringspice_server>(opts);
}

std::unique_ptr<echo_server> start_epoll_server(size_t buffer_size) {
    return std::make_unique<epoll_server>(buffer_size);
}

} // namespace rs::bench
