#include "runtime/io.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "runtime/socket.hpp"
#include "support/run_task.hpp"

namespace {

using namespace std::chrono_literals;
using rs::task;
using rs::testing::run_task;

struct socket_pair {
    rs::fd_handle a, b;
    socket_pair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
};

std::span<const std::byte> bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

TEST(Io, SendThenRecvCarriesBytes) {
    socket_pair sp;
    auto got = run_task([](int a, int b) -> task<std::string> {
        auto sent = co_await rs::send(a, bytes("hello"));
        EXPECT_TRUE(sent.ok());
        std::array<std::byte, 16> buf{};
        auto n = co_await rs::recv(b, buf);
        EXPECT_TRUE(n.ok());
        co_return std::string(reinterpret_cast<const char *>(buf.data()), n.ok() ? *n : 0);
    }(sp.a.get(), sp.b.get()));
    EXPECT_EQ(got, "hello");
}

TEST(Io, ZeroByteReadIsEof) {
    socket_pair sp;
    sp.a.reset();
    auto r = run_task([](int b) -> task<rs::result<size_t>> {
        std::array<std::byte, 8> buf{};
        co_return co_await rs::recv(b, buf);
    }(sp.b.get()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::eof);
    EXPECT_TRUE(rs::is_disconnect(r.error()));
}

TEST(Io, PeerResetIsAValue) {
    // A TCP peer closing with unread data (or SO_LINGER 0) sends RST.
    auto listeners = rs::listen_tcp("127.0.0.1", 0, rs::address_family::ipv4);
    ASSERT_TRUE(listeners.ok());
    auto addr = rs::local_address((*listeners)[0].get());
    ASSERT_TRUE(addr.ok());
    auto r = run_task([](int lfd, rs::socket_address a) -> task<rs::result<size_t>> {
        auto client = co_await rs::tcp_connect(a);
        EXPECT_TRUE(client.ok());
        auto server = co_await rs::accept(lfd);
        EXPECT_TRUE(server.ok());
        rs::fd_handle srv(*server);
        linger lg{1, 0};
        ::setsockopt(srv.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        srv.reset();
        std::array<std::byte, 8> buf{};
        co_return co_await rs::recv(client->get(), buf);
    }((*listeners)[0].get(), *addr));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::connection_reset);
    EXPECT_TRUE(rs::is_disconnect(r.error()));
}

TEST(Io, RecvIsCancelledThroughItsStopToken) {
    socket_pair sp;
    const long frames = rs::live_task_frames();
    auto r = run_task([](int b) -> task<rs::result<size_t>> {
        std::stop_source src;
        std::array<std::byte, 8> buf{};
        // A sibling requests stop while recv waits on a silent socket.
        rs::spawn([](std::stop_source s) -> task<void> {
            co_await rs::sleep_for(5ms);
            s.request_stop();
        }(src));
        co_return co_await rs::recv(b, buf, src.get_token());
    }(sp.b.get()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::cancelled);
    EXPECT_EQ(rs::live_task_frames(), frames);
}

TEST(Io, AlreadyStoppedTokenCancelsWithoutSubmitting) {
    socket_pair sp;
    auto r = run_task([](int b) -> task<rs::result<size_t>> {
        std::stop_source src;
        src.request_stop();
        std::array<std::byte, 8> buf{};
        co_return co_await rs::recv(b, buf, src.get_token());
    }(sp.b.get()));
    EXPECT_EQ(r.error(), rs::errc::cancelled);
}

TEST(Io, SleepCompletesAndCanBeCancelled) {
    auto r = run_task([]() -> task<std::pair<bool, std::error_code>> {
        auto slept = co_await rs::sleep_for(1ms);
        std::stop_source src;
        rs::spawn([](std::stop_source s) -> task<void> {
            co_await rs::sleep_for(1ms);
            s.request_stop();
        }(src));
        auto cancelled = co_await rs::sleep_for(std::chrono::hours(1), src.get_token());
        co_return std::pair{slept.ok(), cancelled.error()};
    }());
    EXPECT_TRUE(r.first);
    EXPECT_EQ(r.second, rs::errc::cancelled);
}

TEST(Io, AcceptorTakesManyConnectionsAndClosesCleanly) {
    auto listeners = rs::listen_tcp("127.0.0.1", 0, rs::address_family::ipv4);
    ASSERT_TRUE(listeners.ok());
    auto addr = rs::local_address((*listeners)[0].get());
    const int accepted = run_task([](int lfd, rs::socket_address a) -> task<int> {
        std::vector<rs::fd_handle> clients;
        for (int i = 0; i < 20; ++i) {
            auto c = co_await rs::tcp_connect(a);
            EXPECT_TRUE(c.ok());
            if (c) clients.push_back(std::move(*c));
        }
        rs::acceptor acc(lfd);
        int n = 0;
        for (int i = 0; i < 20; ++i) {
            auto fd = co_await acc.next();
            EXPECT_TRUE(fd.ok());
            if (fd) {
                rs::fd_handle owned(*fd);
                ++n;
            }
        }
        co_await acc.close();
        co_return n;
    }((*listeners)[0].get(), *addr));
    EXPECT_EQ(accepted, 20);
}

TEST(Io, AcceptorNextIsCancellable) {
    auto listeners = rs::listen_tcp("127.0.0.1", 0, rs::address_family::ipv4);
    ASSERT_TRUE(listeners.ok());
    auto err = run_task([](int lfd) -> task<std::error_code> {
        rs::acceptor acc(lfd);
        std::stop_source src;
        rs::spawn([](std::stop_source s) -> task<void> {
            co_await rs::sleep_for(2ms);
            s.request_stop();
        }(src));
        auto r = co_await acc.next(src.get_token());
        co_await acc.close();
        co_return r.error();
    }((*listeners)[0].get()));
    EXPECT_EQ(err, rs::errc::cancelled);
}

TEST(Io, ConnectRefusedIsAValue) {
    // Bind a port, close it: nothing listens there now.
    rs::socket_address a;
    {
        auto l = rs::listen_tcp("127.0.0.1", 0, rs::address_family::ipv4);
        ASSERT_TRUE(l.ok());
        a = *rs::local_address((*l)[0].get());
    }
    auto r = run_task([](rs::socket_address addr) -> task<std::error_code> {
        auto c = co_await rs::tcp_connect(addr);
        co_return c.ok() ? std::error_code{} : c.error();
    }(a));
    EXPECT_EQ(r, std::errc::connection_refused);
}

TEST(Io, LargeSendUsesZeroCopyAndArrivesIntact) {
    auto listeners = rs::listen_tcp("127.0.0.1", 0, rs::address_family::ipv4);
    ASSERT_TRUE(listeners.ok());
    auto addr = *rs::local_address((*listeners)[0].get());
    std::vector<std::byte> payload(1 << 20);
    for (size_t i = 0; i < payload.size(); ++i)
        payload[i] = static_cast<std::byte>(i * 131 + 7);
    auto got = run_task([](int lfd, rs::socket_address a,
                           std::span<const std::byte> p) -> task<std::vector<std::byte>> {
        auto client = co_await rs::tcp_connect(a);
        auto server = co_await rs::accept(lfd);
        rs::fd_handle srv(*server);
        std::vector<std::byte> in(p.size());
        // Receive concurrently so a full socket buffer cannot stall the sender.
        rs::spawn([](int fd, std::span<std::byte> buf) -> task<void> {
            auto r = co_await rs::recv_exact(fd, buf);
            EXPECT_TRUE(r.ok());
        }(srv.get(), in));
        auto s = co_await rs::send_all(client->get(), p);
        EXPECT_TRUE(s.ok());
        // Wait for the receiver's last bytes.
        std::array<std::byte, 1> probe{};
        client->reset();
        auto eof = co_await rs::recv(srv.get(), probe);
        EXPECT_EQ(eof.error(), rs::errc::eof);
        co_return in;
    }((*listeners)[0].get(), addr, payload));
    EXPECT_EQ(got, payload);
}

TEST(Io, LargeSendOnAUnixSocketFallsBackFromZeroCopy) {
    // AF_UNIX refuses SEND_ZC with EOPNOTSUPP; the send must still happen.
    socket_pair sp;
    std::vector<std::byte> payload(256 * 1024, std::byte{0x5a});
    auto got = run_task([](int a, int b, std::span<const std::byte> p) -> task<size_t> {
        std::vector<std::byte> in(p.size());
        rs::spawn([](int fd, std::span<std::byte> buf) -> task<void> {
            auto r = co_await rs::recv_exact(fd, buf);
            EXPECT_TRUE(r.ok());
        }(b, in));
        auto s = co_await rs::send_all(a, p);
        EXPECT_TRUE(s.ok()) << s.error().message();
        co_await rs::sleep_for(std::chrono::milliseconds(5));
        co_return static_cast<size_t>(std::count(in.begin(), in.end(), std::byte{0x5a}));
    }(sp.a.get(), sp.b.get(), payload));
    EXPECT_EQ(got, payload.size());
}

TEST(Io, ReadAndWriteOnEventfd) {
    rs::fd_handle efd(::eventfd(0, EFD_CLOEXEC));
    const uint64_t v = run_task([](int fd) -> task<uint64_t> {
        uint64_t one = 3;
        auto w = co_await rs::write_fd(fd, std::as_bytes(std::span(&one, 1)));
        EXPECT_TRUE(w.ok());
        uint64_t got = 0;
        auto r = co_await rs::read_fd(fd, std::as_writable_bytes(std::span(&got, 1)));
        EXPECT_TRUE(r.ok());
        co_return got;
    }(efd.get()));
    EXPECT_EQ(v, 3u);
}

TEST(Io, PollReportsReadiness) {
    socket_pair sp;
    ASSERT_EQ(::write(sp.a.get(), "x", 1), 1);
    auto rev = run_task([](int b) -> task<unsigned> {
        auto r = co_await rs::poll_fd(b, POLLIN);
        co_return r.ok() ? *r : 0u;
    }(sp.b.get()));
    EXPECT_TRUE(rev & POLLIN);
}

TEST(Socket, UnixAbstractAndIpv6Listeners) {
    auto ua = rs::unix_address("@ringspice-test-" + std::to_string(::getpid()));
    ASSERT_TRUE(ua.ok());
    auto ul = rs::listen_on(*ua);
    ASSERT_TRUE(ul.ok());
    auto name = rs::local_address(ul->get());
    ASSERT_TRUE(name.ok());
    EXPECT_EQ(name->to_string(), "unix:@ringspice-test-" + std::to_string(::getpid()));

    auto v6 = rs::listen_tcp("::1", 0, rs::address_family::ipv6);
    ASSERT_TRUE(v6.ok()) << v6.error().message();
    auto a6 = rs::local_address((*v6)[0].get());
    EXPECT_EQ(a6->family(), AF_INET6);
    EXPECT_EQ(a6->to_string().rfind("[::1]:", 0), 0u);
}

} // namespace
