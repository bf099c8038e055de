#include "runtime/buffer_ring.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "runtime/socket.hpp"
#include "runtime/sync.hpp"
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

std::vector<std::byte> pattern(size_t n, unsigned seed) {
    std::vector<std::byte> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<std::byte>(i * 131 + seed * 7 + 1);
    return v;
}

void write_all(int fd, std::span<const std::byte> b) {
    ASSERT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
}

/// A shard on this thread and a ring registered with it; skips (with the
/// reason in the output) on kernels without buffer rings.
class BufferRing : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!_shard.features().buf_ring) GTEST_SKIP() << "kernel has no provided buffer rings";
        _frames = rs::live_task_frames();
    }
    void TearDown() override { EXPECT_EQ(rs::live_task_frames(), _frames) << "leaked frames"; }

    std::unique_ptr<rs::buffer_ring> make_ring(unsigned count, size_t size) {
        auto r = rs::buffer_ring::create(count, size);
        EXPECT_TRUE(r.ok()) << r.error().message();
        return r.ok() ? std::move(*r) : nullptr;
    }

    rs::shard _shard;
    long _frames = 0;
};

TEST_F(BufferRing, ReceivedBytesArriveIntactInALease) {
    auto ring = make_ring(8, 4096);
    ASSERT_TRUE(ring);
    socket_pair sp;
    const auto sent = pattern(3000, 1);
    write_all(sp.a.get(), sent);
    auto got = run_task(_shard, [](int fd, rs::buffer_ring &r) -> task<std::vector<std::byte>> {
        auto lease = co_await rs::recv_select(fd, r);
        EXPECT_TRUE(lease.ok()) << lease.error().message();
        if (!lease) co_return std::vector<std::byte>{};
        EXPECT_EQ(r.leased(), 1u);
        co_return std::vector<std::byte>(lease->bytes().begin(), lease->bytes().end());
    }(sp.b.get(), *ring));
    EXPECT_EQ(got, sent);
    EXPECT_EQ(ring->leased(), 0u);
    EXPECT_EQ(ring->in_flight(), 0u);
}

TEST_F(BufferRing, MessageLargerThanABufferComesInBufferSizedPieces) {
    auto ring = make_ring(4, 1024);
    ASSERT_TRUE(ring);
    socket_pair sp;
    const auto sent = pattern(2500, 2);
    write_all(sp.a.get(), sent);
    auto got = run_task(_shard, [](int fd, rs::buffer_ring &r) -> task<std::vector<std::byte>> {
        std::vector<std::byte> all;
        while (all.size() < 2500) {
            auto lease = co_await rs::recv_select(fd, r);
            EXPECT_TRUE(lease.ok());
            if (!lease) break;
            EXPECT_LE(lease->size(), 1024u);
            all.insert(all.end(), lease->bytes().begin(), lease->bytes().end());
        }
        co_return all;
    }(sp.b.get(), *ring));
    EXPECT_EQ(got, sent);
}

TEST_F(BufferRing, LeasesReturnBuffersSoARingServesMoreMessagesThanItHas) {
    auto ring = make_ring(4, 256);
    ASSERT_TRUE(ring);
    socket_pair sp;
    const int ok = run_task(_shard, [](int a, int b, rs::buffer_ring &r) -> task<int> {
        int good = 0;
        for (unsigned i = 0; i < 40; ++i) { // ten times the ring
            const auto msg = pattern(100 + i, i);
            auto s = co_await rs::send(a, msg);
            EXPECT_EQ(s.ok() ? *s : 0, msg.size());
            auto lease = co_await rs::recv_select(b, r);
            EXPECT_TRUE(lease.ok()) << "message " << i << ": " << lease.error().message();
            if (!lease) break;
            if (std::equal(msg.begin(), msg.end(), lease->bytes().begin(), lease->bytes().end()))
                ++good;
        } // each lease returns its buffer here
        co_return good;
    }(sp.a.get(), sp.b.get(), *ring));
    EXPECT_EQ(ok, 40);
    EXPECT_EQ(ring->leased(), 0u);
    EXPECT_EQ(ring->starved(), 0u);
}

TEST_F(BufferRing, PendingReceivesHoldNoBuffer) {
    // Eight connections wait on a ring of two buffers: waiting costs nothing,
    // only a receive that found data holds a buffer.
    auto ring = make_ring(2, 128);
    ASSERT_TRUE(ring);
    std::vector<socket_pair> pairs(8);
    const int done =
        run_task(_shard, [](std::vector<socket_pair> &ps, rs::buffer_ring &r) -> task<int> {
            int received = 0;
            rs::gate g;
            for (size_t i = 0; i < ps.size(); ++i) {
                rs::spawn(
                    [](int fd, rs::buffer_ring &rg, int &n, rs::gate::holder h) -> task<void> {
                        auto lease = co_await rs::recv_select(fd, rg);
                        EXPECT_TRUE(lease.ok()) << lease.error().message();
                        if (lease && lease->size() == 5) ++n;
                        (void)h;
                    }(ps[i].b.get(), r, received, rs::gate::holder(g)));
            }
            co_await rs::yield_now{};
            co_await rs::sleep_for(2ms); // every receive has reached the kernel
            EXPECT_EQ(r.in_flight(), ps.size());
            EXPECT_EQ(r.leased(), 0u);
            for (auto &p : ps) {
                const size_t waiting = g.count();
                auto s = co_await rs::send(p.a.get(), std::as_bytes(std::span("hello", 5)));
                EXPECT_TRUE(s.ok());
                while (g.count() == waiting) // its receiver ends and drops its lease
                    co_await rs::yield_now{};
            }
            co_await g.close();
            co_return received;
        }(pairs, *ring));
    EXPECT_EQ(done, 8);
    EXPECT_EQ(ring->leased(), 0u);
    EXPECT_EQ(ring->starved(), 0u);
}

TEST_F(BufferRing, EmptyRingIsNoBufferSpaceAndRecoversWhenALeaseReturns) {
    auto ring = make_ring(2, 64);
    ASSERT_TRUE(ring);
    socket_pair sp;
    auto r = run_task(_shard, [](int a, int b, rs::buffer_ring &rg) -> task<bool> {
        auto m1 = pattern(10, 1), m2 = pattern(10, 2), m3 = pattern(10, 3);
        write_all(a, m1);
        auto l1 = co_await rs::recv_select(b, rg);
        write_all(a, m2);
        auto l2 = co_await rs::recv_select(b, rg);
        EXPECT_TRUE(l1.ok() && l2.ok());
        EXPECT_EQ(rg.leased(), 2u);

        write_all(a, m3);
        auto starved = co_await rs::recv_select(b, rg);
        EXPECT_FALSE(starved.ok());
        EXPECT_EQ(starved.error(), std::errc::no_buffer_space);
        EXPECT_EQ(rg.starved(), 1u);

        // The data waited in the socket; one lease back and it arrives.
        l1->reset();
        EXPECT_FALSE(*l1);
        auto l3 = co_await rs::recv_select(b, rg);
        EXPECT_TRUE(l3.ok());
        if (!l3) co_return false;
        co_return std::equal(m3.begin(), m3.end(), l3->bytes().begin(), l3->bytes().end());
    }(sp.a.get(), sp.b.get(), *ring));
    EXPECT_TRUE(r);
    EXPECT_EQ(ring->leased(), 0u);
}

TEST_F(BufferRing, ZeroByteReadIsEofAndHoldsNoBuffer) {
    auto ring = make_ring(2, 64);
    ASSERT_TRUE(ring);
    socket_pair sp;
    sp.a.reset();
    auto r = run_task(_shard, [](int b, rs::buffer_ring &rg) -> task<rs::result<rs::ring_buffer>> {
        co_return co_await rs::recv_select(b, rg);
    }(sp.b.get(), *ring));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::eof);
    EXPECT_EQ(ring->leased(), 0u);
    EXPECT_EQ(ring->in_flight(), 0u);
}

TEST_F(BufferRing, ReceiveIsCancelledThroughItsStopToken) {
    auto ring = make_ring(2, 64);
    ASSERT_TRUE(ring);
    socket_pair sp;
    auto r = run_task(_shard, [](int b, rs::buffer_ring &rg) -> task<std::error_code> {
        std::stop_source src;
        rs::spawn([](std::stop_source s) -> task<void> {
            co_await rs::sleep_for(5ms);
            s.request_stop();
        }(src));
        auto res = co_await rs::recv_select(b, rg, src.get_token());
        co_return res.ok() ? std::error_code{} : res.error();
    }(sp.b.get(), *ring));
    EXPECT_EQ(r, rs::errc::cancelled);
    EXPECT_EQ(ring->in_flight(), 0u);
    EXPECT_EQ(ring->leased(), 0u);
}

TEST_F(BufferRing, AlreadyStoppedTokenSubmitsNothing) {
    auto ring = make_ring(2, 64);
    ASSERT_TRUE(ring);
    socket_pair sp;
    auto r = run_task(_shard, [](int b, rs::buffer_ring &rg) -> task<std::error_code> {
        std::stop_source src;
        src.request_stop();
        auto res = co_await rs::recv_select(b, rg, src.get_token());
        co_return res.ok() ? std::error_code{} : res.error();
    }(sp.b.get(), *ring));
    EXPECT_EQ(r, rs::errc::cancelled);
    EXPECT_EQ(ring->in_flight(), 0u);
}

TEST_F(BufferRing, MovedLeaseReturnsItsBufferExactlyOnce) {
    auto ring = make_ring(1, 64);
    ASSERT_TRUE(ring);
    socket_pair sp;
    auto ok = run_task(_shard, [](int a, int b, rs::buffer_ring &rg) -> task<bool> {
        write_all(a, pattern(8, 1));
        auto r1 = co_await rs::recv_select(b, rg);
        EXPECT_TRUE(r1.ok());
        rs::ring_buffer moved = std::move(*r1);
        EXPECT_FALSE(*r1);
        rs::ring_buffer assigned;
        assigned = std::move(moved);
        EXPECT_EQ(rg.leased(), 1u);
        assigned = rs::ring_buffer{}; // returns the one buffer
        EXPECT_EQ(rg.leased(), 0u);
        write_all(a, pattern(8, 2));
        auto r2 = co_await rs::recv_select(b, rg); // the single buffer is back
        co_return r2.ok() && r2->size() == 8;
    }(sp.a.get(), sp.b.get(), *ring));
    EXPECT_TRUE(ok);
    EXPECT_EQ(ring->leased(), 0u);
}

TEST_F(BufferRing, RingsOnOneShardHaveDistinctGroupsAndOwnMemory) {
    auto r1 = make_ring(2, 64);
    auto r2 = make_ring(2, 64);
    ASSERT_TRUE(r1 && r2);
    EXPECT_NE(r1->group(), r2->group());
    socket_pair sp;
    auto ok =
        run_task(_shard, [](int a, int b, rs::buffer_ring &x, rs::buffer_ring &y) -> task<bool> {
            write_all(a, pattern(4, 1));
            auto lx = co_await rs::recv_select(b, x);
            write_all(a, pattern(4, 2));
            auto ly = co_await rs::recv_select(b, y);
            co_return lx.ok() && ly.ok() && x.leased() == 1 && y.leased() == 1 &&
                lx->bytes()[0] == pattern(4, 1)[0] && ly->bytes()[0] == pattern(4, 2)[0];
        }(sp.a.get(), sp.b.get(), *r1, *r2));
    EXPECT_TRUE(ok);
    // A destroyed ring's group id is free for the next one.
    const uint16_t freed = r1->group();
    r1.reset();
    auto r3 = make_ring(2, 64);
    ASSERT_TRUE(r3);
    EXPECT_EQ(r3->group(), freed);
}

TEST_F(BufferRing, CreateRejectsBadSizes) {
    EXPECT_EQ(rs::buffer_ring::create(3, 64).error(), std::errc::invalid_argument);
    EXPECT_EQ(rs::buffer_ring::create(0, 64).error(), std::errc::invalid_argument);
    EXPECT_EQ(rs::buffer_ring::create(4, 0).error(), std::errc::invalid_argument);
    EXPECT_EQ(rs::buffer_ring::create(rs::buffer_ring::max_count * 2, 64).error(),
              std::errc::invalid_argument);
}

TEST(BufferRingOffShard, CreateOutsideAShardIsAProgrammingError) {
    EXPECT_THROW((void)rs::buffer_ring::create(2, 64), std::logic_error);
}

} // namespace
