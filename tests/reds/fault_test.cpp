// Fault injection against a real rs::server on loopback (issue 9): clients
// that vanish at every byte of the handshake, half-open sockets, a client
// that never reads, floods of garbage connections, oversize and truncated
// messages, more connections than the server allows. Each fault ends only
// the connection that caused it: the server keeps linking new clients, the
// other sessions keep working, and nothing is left running after shutdown.
#include "reds/server.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "reds/stream.hpp"
#include "runtime/log.hpp"
#include "runtime/task.hpp"
#include "support/spice_test_client.hpp"

namespace {

using namespace std::chrono_literals;
using rs::testing::read_status;
using rs::testing::spice_test_client;

/// A standalone server on 127.0.0.1 with an ephemeral port, no password and
/// several viewers allowed (so one viewer's fault can be seen not to touch
/// another's session).
struct test_server {
    rs::server srv;

    test_server() {
        srv.config().set_port(0);
        srv.config().set_addr("127.0.0.1", 0);
        srv.config().set_noauth();
        srv.config().set_allow_multiple_clients(true);
    }
    /// Starts serving; call after adjusting the config.
    int start() {
        if (srv.init(nullptr) != 0) return -1;
        return srv.bound_port();
    }
    size_t num_clients() {
        return srv.on_control([this] { return srv.num_clients(); });
    }
    size_t live_connections() {
        return srv.on_control([this] { return srv.live_connections(); });
    }
    /// Waits (bounded, 5 s) until `get()` is n.
    template <typename F> bool wait_for(size_t n, F get) {
        for (int i = 0; i < 500; ++i) {
            if (get() == n) return true;
            std::this_thread::sleep_for(10ms);
        }
        return get() == n;
    }
    bool wait_clients(size_t n) {
        return wait_for(n, [this] { return num_clients(); });
    }
    bool wait_connections(size_t n) {
        return wait_for(n, [this] { return live_connections(); });
    }
    /// Registers a channel whose serve function ends at once.
    void register_idle_channel(uint8_t type, uint8_t id) {
        srv.on_control([this, type, id] {
            srv.register_channel(rs::channel_service{
                .type = type,
                .id = id,
                .channel_caps = {},
                .serve = [](std::unique_ptr<rs::stream>, rs::channel_link,
                            rs::session &) -> rs::task<void> { co_return; },
            });
        });
    }
};

/// The bytes of a valid main-channel link request (header and body).
std::vector<uint8_t> main_link_bytes() {
    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    rs::link::encode_link_request(w, spice_test_client::main_link());
    return out;
}

/// A mini-header message: type, the announced size, then `body` (which may
/// be shorter than announced).
std::vector<uint8_t> message_bytes(uint16_t type, uint32_t announced,
                                   std::span<const uint8_t> body = {}) {
    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    rs::mini_header{.type = type, .size = announced}.encode(w);
    w.bytes(body);
    return out;
}

/// Links a main channel without a password and reads MAIN_INIT's session id.
std::optional<uint32_t> link_main_session(spice_test_client &c, int port) {
    if (!c.connect(port)) return std::nullopt;
    auto r = c.link_and_auth(spice_test_client::main_link());
    if (r != uint32_t{SPICE_LINK_ERR_OK}) return std::nullopt;
    auto init = c.read_message_of(SPICE_MSG_MAIN_INIT);
    if (!init || init->body.size() < 4) return std::nullopt;
    rs::wire::reader rd(init->body);
    return rd.u32();
}

/// A normal main link works on `port` (the server is still serving).
void expect_server_still_links(int port) {
    spice_test_client c;
    auto id = link_main_session(c, port);
    ASSERT_TRUE(id.has_value());
    EXPECT_NE(*id, 0u);
}

/// A linked main channel answers ATTACH_CHANNELS with CHANNELS_LIST.
void expect_session_works(spice_test_client &c) {
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    EXPECT_TRUE(c.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST).has_value());
}

/// Ends the client's side as a vanishing peer does: FIN or RST.
void vanish(spice_test_client &c, bool with_reset) {
    if (with_reset)
        c.reset();
    else
        c.close();
}

/// This process's resident set (the server runs in it), KiB; 0 if unknown.
long rss_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

// ---- a client that vanishes anywhere ---------------------------------------------

TEST(Fault, ClientVanishingAtEveryByteOfTheLinkLeavesTheServerServingAndNothingRunning) {
    const long frames_before = rs::live_task_frames();
    {
        test_server ts;
        const int port = ts.start();
        ASSERT_GT(port, 0);
        const auto link = main_link_bytes();
        int n_conn = 0;
        // After 0..N-1 bytes of the link message.
        for (size_t cut = 0; cut < link.size(); ++cut, ++n_conn) {
            spice_test_client c;
            ASSERT_TRUE(c.connect(port));
            ASSERT_TRUE(c.send_raw(std::span(link).first(cut)));
            vanish(c, cut % 2 == 1);
        }
        expect_server_still_links(port);
        // After the whole link and 0..3 bytes of the auth mechanism.
        std::vector<uint8_t> mech;
        rs::wire::writer(mech).u32(SPICE_COMMON_CAP_AUTH_SPICE);
        for (size_t cut = 0; cut < mech.size(); ++cut, ++n_conn) {
            spice_test_client c;
            ASSERT_TRUE(c.connect(port));
            ASSERT_TRUE(c.send_raw(link));
            ASSERT_TRUE(c.read_reply().has_value()); // the server waits for the mechanism
            ASSERT_TRUE(c.send_raw(std::span(mech).first(cut)));
            vanish(c, cut % 2 == 1);
        }
        expect_server_still_links(port);
        // After the link, the mechanism and 0..127 bytes of the ticket.
        const std::vector<uint8_t> ticket(rs::link::encrypted_ticket_size, 0x5a);
        for (size_t cut = 0; cut < ticket.size(); ++cut, ++n_conn) {
            spice_test_client c;
            ASSERT_TRUE(c.connect(port));
            ASSERT_TRUE(c.send_raw(link));
            ASSERT_TRUE(c.read_reply().has_value());
            ASSERT_TRUE(c.send_raw(mech));
            ASSERT_TRUE(c.send_raw(std::span(ticket).first(cut)));
            vanish(c, cut % 2 == 1);
        }
        expect_server_still_links(port);
        EXPECT_TRUE(ts.wait_clients(0));
        std::printf("[ fault    ] %d connections dropped mid-link\n", n_conn);
        ts.srv.shutdown();
        EXPECT_EQ(rs::live_task_frames(), frames_before);
    }
    EXPECT_EQ(rs::live_task_frames(), frames_before);
}

TEST(Fault, ClientVanishingMidMainMessageEndsOnlyItsSession) {
    const long frames_before = rs::live_task_frames();
    {
        test_server ts;
        const int port = ts.start();
        ASSERT_GT(port, 0);
        spice_test_client other;
        ASSERT_TRUE(link_main_session(other, port).has_value());
        // MAIN_CLIENT_INFO: a 6-byte mini header and an 8-byte body.
        const std::array<uint8_t, 8> body{1, 2, 3, 4, 5, 6, 7, 8};
        const auto whole =
            message_bytes(SPICE_MSGC_MAIN_CLIENT_INFO, static_cast<uint32_t>(body.size()), body);
        for (size_t cut = 1; cut < whole.size(); ++cut) {
            spice_test_client c;
            ASSERT_TRUE(link_main_session(c, port).has_value()) << "cut " << cut;
            ASSERT_TRUE(ts.wait_clients(2));
            ASSERT_TRUE(c.send_raw(std::span(whole).first(cut)));
            vanish(c, cut % 2 == 1);
            EXPECT_TRUE(ts.wait_clients(1)) << "cut " << cut;
        }
        expect_session_works(other);
        ts.srv.shutdown();
        EXPECT_EQ(rs::live_task_frames(), frames_before);
    }
    EXPECT_EQ(rs::live_task_frames(), frames_before);
}

// ---- half-open sockets ---------------------------------------------------------------

TEST(Fault, HalfOpenSocketMidLinkIsClosedByTheServer) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client other;
    ASSERT_TRUE(link_main_session(other, port).has_value());
    const auto link = main_link_bytes();
    for (const size_t cut : {size_t{0}, size_t{3}, size_t{16}, link.size() - 1}) {
        spice_test_client c;
        ASSERT_TRUE(c.connect(port));
        ASSERT_TRUE(c.send_raw(std::span(link).first(cut)));
        ASSERT_TRUE(c.shutdown_write());
        EXPECT_EQ(c.wait_closed(), read_status::closed) << "cut " << cut;
    }
    // Half-open while the server waits for the ticket.
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.send_raw(link));
    ASSERT_TRUE(c.read_reply().has_value());
    ASSERT_TRUE(c.shutdown_write());
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    EXPECT_TRUE(ts.wait_connections(1)); // only `other`
    expect_session_works(other);
}

TEST(Fault, HalfOpenSocketAfterLinkEndsThatSessionOnly) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client other;
    ASSERT_TRUE(link_main_session(other, port).has_value());
    spice_test_client c;
    ASSERT_TRUE(link_main_session(c, port).has_value());
    ASSERT_TRUE(ts.wait_clients(2));
    ASSERT_TRUE(c.shutdown_write());
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    EXPECT_TRUE(ts.wait_clients(1));
    expect_session_works(other);
    expect_server_still_links(port);
}

// ---- a client that never reads -------------------------------------------------------

TEST(Fault, ClientThatNeverReadsIsCutAtTheQueueLimitAndOthersKeepWorking) {
    test_server ts;
    // Many channels make every CHANNELS_LIST reply large: ~520 bytes for a
    // 6-byte ATTACH_CHANNELS request.
    constexpr uint8_t n_channels = 255;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    for (uint8_t id = 0; id < n_channels; ++id)
        ts.register_idle_channel(SPICE_CHANNEL_PORT, id);
    spice_test_client other;
    ASSERT_TRUE(link_main_session(other, port).has_value());
    spice_test_client stuck;
    ASSERT_TRUE(stuck.connect(port));
    ASSERT_EQ(stuck.link_and_auth(spice_test_client::main_link()), uint32_t{SPICE_LINK_ERR_OK});
    ASSERT_TRUE(ts.wait_clients(2));
    // A send that blocks for 2 s means the server stopped reading us.
    const timeval tv{.tv_sec = 2, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(stuck.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);

    std::vector<uint8_t> batch; // 1000 requests, 6 KB
    for (int i = 0; i < 1000; ++i) {
        const auto m = message_bytes(SPICE_MSGC_MAIN_ATTACH_CHANNELS, 0);
        batch.insert(batch.end(), m.begin(), m.end());
    }
    ::testing::internal::CaptureStderr();
    const long rss_before = rss_kib();
    long rss_peak = rss_before;
    int batches = 0;
    int sent = 0; // requests
    const auto t0 = std::chrono::steady_clock::now();
    // Bounded: 200 batches would ask for ~100 MB of replies. The server
    // reads everything we send until it gives up on us.
    for (; batches < 200; ++batches) {
        if (!stuck.send_raw(batch)) break; // already reset by the server
        sent += 1000;
        rss_peak = std::max(rss_peak, rss_kib());
        if (batches % 20 == 0) expect_session_works(other); // meanwhile
        if (ts.num_clients() == 1) break;                   // cut
    }
    const bool session_ended = ts.wait_clients(1);
    rss_peak = std::max(rss_peak, rss_kib());
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    const std::string log = ::testing::internal::GetCapturedStderr();

    EXPECT_TRUE(session_ended) << "the server kept a client that never reads";
    EXPECT_EQ(stuck.wait_closed(), read_status::closed);
    if (rs::log_threshold() >= rs::log_level::warn) {
        const std::string line =
            "send queue over " + std::to_string(rs::channel_limits{}.max_queued_bytes) + " bytes";
        EXPECT_NE(log.find(line), std::string::npos) << log;
    }
    const long delta_kib = rss_peak - rss_before;
    std::printf("[ fault    ] never-reading client: %d requests sent, session cut within %lld ms, "
                "peak RSS delta %ld KiB\n",
                sent, static_cast<long long>(elapsed / 1ms), delta_kib);
#if defined(__SANITIZE_ADDRESS__)
    // ASan keeps freed memory in quarantine, so RSS grows with traffic
    // whatever the queue bound; the bound itself is checked by the ordinary
    // build, this one only guards against unbounded growth.
    constexpr long rss_bound_kib = 256 * 1024;
#else
    constexpr long rss_bound_kib = 64 * 1024;
#endif
    EXPECT_LT(delta_kib, rss_bound_kib);
    expect_session_works(other);
    expect_server_still_links(port);
}

// ---- garbage connections --------------------------------------------------------------

TEST(Fault, TenThousandGarbageConnectionsLeaveTheServerLinking) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    constexpr int total = 10'000;
    constexpr size_t wave = 100; // sockets open at once (the listen backlog is 128)
    std::mt19937 rng(9);
    std::uniform_int_distribution<int> kind(0, 3);
    std::uniform_int_distribution<int> small_len(1, 64);
    std::uniform_int_distribution<int> big_len(65, 4096);
    std::uniform_int_distribution<int> byte(0, 255);
    std::array<spice_test_client, wave> clients;
    const auto t0 = std::chrono::steady_clock::now();
    int opened = 0;
    while (opened < total) {
        for (auto &c : clients) {
            ASSERT_TRUE(c.connect(port)) << "connection " << opened;
            ++opened;
            const int k = kind(rng);
            if (k == 0) continue; // nothing at all
            std::vector<uint8_t> junk(static_cast<size_t>(k == 1 ? small_len(rng) : big_len(rng)));
            for (auto &b : junk)
                b = static_cast<uint8_t>(byte(rng));
            if (k == 3) { // a valid magic, then junk
                const auto magic = main_link_bytes();
                std::copy_n(magic.begin(), rs::link::magic_size, junk.begin());
            }
            (void)c.send_raw(junk); // the server may have answered and closed already
        }
        for (size_t i = 0; i < clients.size(); ++i)
            vanish(clients[i], (i + static_cast<size_t>(opened)) % 2 == 0);
    }
    EXPECT_TRUE(ts.wait_connections(0));
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    std::printf("[ fault    ] %d garbage connections in %lld ms\n", opened,
                static_cast<long long>(elapsed / 1ms));
    EXPECT_LT(elapsed, 20s);
    expect_server_still_links(port);
}

// ---- oversize and truncated messages ------------------------------------------------

TEST(Fault, MessageLargerThanMaxMessageSizeEndsOnlyThatSession) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client other;
    ASSERT_TRUE(link_main_session(other, port).has_value());
    const uint32_t limit = rs::channel_limits{}.max_message_size;
    for (const uint32_t size : {limit + 1, uint32_t{0xffffffff}}) {
        spice_test_client c;
        ASSERT_TRUE(link_main_session(c, port).has_value());
        ASSERT_TRUE(ts.wait_clients(2));
        ASSERT_TRUE(c.send_raw(message_bytes(SPICE_MSGC_MAIN_CLIENT_INFO, size)));
        EXPECT_EQ(c.wait_closed(), read_status::closed) << "size " << size;
        EXPECT_TRUE(ts.wait_clients(1));
    }
    expect_session_works(other);
}

TEST(Fault, MessageOfExactlyMaxMessageSizeIsAccepted) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client c;
    ASSERT_TRUE(link_main_session(c, port).has_value());
    // CLIENT_INFO's 8 bytes and padding; trailing bytes are ignored.
    const std::vector<uint8_t> body(rs::channel_limits{}.max_message_size, 0);
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_CLIENT_INFO, body));
    expect_session_works(c);
}

TEST(Fault, MessageCutMidBodyThenEofEndsOnlyThatSession) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client other;
    ASSERT_TRUE(link_main_session(other, port).has_value());
    spice_test_client c;
    ASSERT_TRUE(link_main_session(c, port).has_value());
    ASSERT_TRUE(ts.wait_clients(2));
    const std::vector<uint8_t> part(40, 7);
    ASSERT_TRUE(c.send_raw(message_bytes(SPICE_MSGC_MAIN_CLIENT_INFO, 100, part)));
    ASSERT_TRUE(c.shutdown_write()); // EOF 60 bytes early
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    EXPECT_TRUE(ts.wait_clients(1));
    expect_session_works(other);
}

// ---- server::max_connections (issue 9) ---------------------------------------------

TEST(Fault, DefaultConnectionLimitIsNamed) {
    EXPECT_EQ(rs::server::max_connections, 1024u);
    EXPECT_GE(rs::server::max_connections, rs::server::max_pending_links);
}

TEST(Fault, ConnectionsBeyondMaxConnectionsAreClosedAtAccept) {
    test_server ts;
    ts.srv.set_max_connections(3);
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client a;
    spice_test_client b;
    ASSERT_TRUE(link_main_session(a, port).has_value());
    ASSERT_TRUE(link_main_session(b, port).has_value());
    spice_test_client linking; // the third connection, still in its handshake
    ASSERT_TRUE(linking.connect(port));
    ASSERT_TRUE(ts.wait_connections(3));

    spice_test_client refused;
    ASSERT_TRUE(refused.connect(port)); // the kernel accepts; the server closes it
    (void)refused.send_link(spice_test_client::main_link());
    EXPECT_FALSE(refused.read_reply().has_value());
    EXPECT_EQ(refused.wait_closed(), read_status::closed);
    EXPECT_EQ(ts.live_connections(), 3u);
    expect_session_works(a);
    expect_session_works(b);

    // A connection that ends makes room for the next.
    linking.close();
    ASSERT_TRUE(ts.wait_connections(2));
    expect_server_still_links(port);
}

} // namespace
