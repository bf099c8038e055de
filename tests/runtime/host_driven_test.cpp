// The control shard runs inside the VMM's loop: its ring fd is one watch, and
// the loop calls poll() when it is readable. A GLib main loop stands in for
// QEMU's here (QEMU's SpiceCoreInterface watches are GLib sources).
#include "runtime/shard.hpp"

#include <gtest/gtest.h>

#include <glib-unix.h>
#include <glib.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "runtime/cross_shard.hpp"
#include "runtime/io.hpp"
#include "runtime/socket.hpp"

namespace {

using namespace std::chrono_literals;
using rs::task;

struct glib_host {
    GMainContext *ctx = g_main_context_new();
    GMainLoop *loop = g_main_loop_new(ctx, FALSE);
    GSource *watch = nullptr;
    GSource *deadline = nullptr;
    bool timed_out = false;

    explicit glib_host(rs::shard &s) {
        watch = g_unix_fd_source_new(s.fd(), G_IO_IN);
        g_source_set_callback(watch,
                              G_SOURCE_FUNC(+[](gint, GIOCondition, gpointer sh) -> gboolean {
                                  static_cast<rs::shard *>(sh)->poll();
                                  return G_SOURCE_CONTINUE;
                              }),
                              &s, nullptr);
        g_source_attach(watch, ctx);
        // Bounded: a broken wake-up path ends the test instead of hanging it.
        deadline = g_timeout_source_new_seconds(20);
        g_source_set_callback(
            deadline,
            +[](gpointer self) -> gboolean {
                auto *h = static_cast<glib_host *>(self);
                h->timed_out = true;
                g_main_loop_quit(h->loop);
                return G_SOURCE_REMOVE;
            },
            this, nullptr);
        g_source_attach(deadline, ctx);
    }
    ~glib_host() {
        g_source_destroy(watch);
        g_source_unref(watch);
        g_source_destroy(deadline);
        g_source_unref(deadline);
        g_main_loop_unref(loop);
        g_main_context_unref(ctx);
    }
    void run() { g_main_loop_run(loop); }
    void quit() { g_main_loop_quit(loop); }
};

TEST(HostDriven, TimersAndSocketsProgressUnderAGlibLoop) {
    rs::shard s(rs::shard_options{.name = "control", .entries = 64, .host_driven = true});
    glib_host host(s);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    rs::fd_handle a(fds[0]), b(fds[1]);
    std::string got;
    const auto loop_thread = std::this_thread::get_id();
    bool ran_on_loop_thread = false;
    // Spawned outside poll(): the first SQEs are queued here and submitted
    // by the first poll(), which the posted wake-up triggers.
    s.post([&] {
        rs::spawn([](int x, int y, std::string &out, glib_host &h, bool &same,
                     std::thread::id tid) -> task<void> {
            co_await rs::sleep_for(2ms);
            auto sent = co_await rs::send(x, std::as_bytes(std::span("ping", 4)));
            EXPECT_TRUE(sent.ok());
            std::array<std::byte, 4> buf{};
            auto r = co_await rs::recv_exact(y, buf);
            EXPECT_TRUE(r.ok());
            out.assign(reinterpret_cast<const char *>(buf.data()), buf.size());
            same = std::this_thread::get_id() == tid;
            h.quit();
        }(a.get(), b.get(), got, host, ran_on_loop_thread, loop_thread));
    });
    host.run();
    EXPECT_FALSE(host.timed_out);
    EXPECT_EQ(got, "ping");
    EXPECT_TRUE(ran_on_loop_thread);
}

TEST(HostDriven, WorkLeftAfterTheBoundedRoundsIsPolledAgain) {
    // Each recv completes as it is submitted (the bytes are there), so
    // every poll() round resumes the reader once and reaps one completion:
    // far more rounds than one poll() runs. The reader resumed by the last
    // round's completion must get another poll() although nothing more
    // happens on the ring (CI once stalled a link until a timer fired).
    rs::shard s(rs::shard_options{.name = "control", .entries = 64, .host_driven = true});
    glib_host host(s);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    rs::fd_handle a(fds[0]), b(fds[1]);
    constexpr size_t bytes = 1000;
    const std::vector<char> data(bytes, 'x');
    ASSERT_EQ(::write(a.get(), data.data(), data.size()), static_cast<ssize_t>(bytes));
    size_t got = 0;
    s.post([&] {
        rs::spawn([](int fd, size_t &n, glib_host &h) -> task<void> {
            std::array<std::byte, 1> one{};
            while (n < bytes) {
                auto r = co_await rs::recv(fd, one);
                if (!r || *r == 0) break;
                ++n;
            }
            h.quit();
        }(b.get(), got, host));
    });
    host.run();
    EXPECT_FALSE(host.timed_out) << "stalled after " << got << " bytes";
    EXPECT_EQ(got, bytes);
}

TEST(HostDriven, PostsFromForeignThreadsWakeTheHostLoop) {
    rs::shard s(rs::shard_options{.name = "control", .entries = 64, .host_driven = true});
    glib_host host(s);
    constexpr int posts = 1000;
    int ran = 0; // loop thread only
    std::thread vcpu([&] {
        for (int i = 0; i < posts; ++i)
            s.post([&] {
                if (++ran == posts) host.quit();
            });
    });
    host.run();
    vcpu.join();
    EXPECT_FALSE(host.timed_out);
    EXPECT_EQ(ran, posts);
}

TEST(HostDriven, CallSyncFromAVcpuThreadIsServedByTheLoop) {
    rs::shard s(rs::shard_options{.name = "control", .entries = 64, .host_driven = true});
    glib_host host(s);
    const auto loop_thread = std::this_thread::get_id();
    bool on_loop = false;
    int answer = 0;
    std::thread vcpu([&] {
        answer = rs::call_sync(s, [&] {
            on_loop = std::this_thread::get_id() == loop_thread;
            return 99;
        });
        s.post([&] { host.quit(); });
    });
    host.run();
    vcpu.join();
    EXPECT_FALSE(host.timed_out);
    EXPECT_EQ(answer, 99);
    EXPECT_TRUE(on_loop);
}

} // namespace
