// The link handshake of a real rs::server on loopback, driven by the in-repo
// test client: every refusal answers the SPICE_LINK_ERR_* the reference
// server (server/reds.cpp) answers, and no misbehaving client stops the
// server from serving the next one.
#include "reds/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "reds/stream.hpp"
#include "runtime/task.hpp"
#include "support/spice_test_client.hpp"

namespace {

using namespace std::chrono_literals;
using rs::testing::read_status;
using rs::testing::spice_test_client;

int64_t monotonic_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/// A standalone server on 127.0.0.1 with an ephemeral port.
struct test_server {
    rs::server srv;

    test_server() {
        srv.config().set_port(0);
        srv.config().set_addr("127.0.0.1", 0);
        srv.config().set_noauth();
    }
    /// Starts serving; call after adjusting the config.
    int start() {
        if (srv.init(nullptr) != 0) return -1;
        return srv.bound_port();
    }
    size_t num_clients() {
        return srv.on_control([this] { return srv.num_clients(); });
    }
    /// Waits (bounded) until num_clients() is n.
    bool wait_clients(size_t n) {
        for (int i = 0; i < 500; ++i) {
            if (num_clients() == n) return true;
            std::this_thread::sleep_for(10ms);
        }
        return num_clients() == n;
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

std::vector<uint8_t> link_header(uint32_t magic, uint32_t major, uint32_t minor, uint32_t size) {
    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    w.u32(magic);
    w.u32(major);
    w.u32(minor);
    w.u32(size);
    return out;
}

/// A link header announcing `size` bytes, followed by a SpiceLinkMess body
/// for main with the given caps counts and offset (no caps words follow).
std::vector<uint8_t> link_with_caps_fields(uint32_t num_common, uint32_t num_channel,
                                           uint32_t caps_offset) {
    auto out = link_header(SPICE_MAGIC, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR,
                           rs::link::message_min_size);
    rs::wire::writer w(out);
    w.u32(0); // connection id
    w.u8(SPICE_CHANNEL_MAIN);
    w.u8(0);
    w.u32(num_common);
    w.u32(num_channel);
    w.u32(caps_offset);
    return out;
}

/// The error of the link reply the server answers to `bytes`; nullopt when
/// it closed without a reply.
std::optional<uint32_t> reply_error_to(int port, std::span<const uint8_t> bytes) {
    spice_test_client c;
    if (!c.connect(port) || !c.send_raw(bytes)) return std::nullopt;
    auto rep = c.read_reply();
    if (!rep) return std::nullopt;
    EXPECT_EQ(rep->magic, SPICE_MAGIC);
    EXPECT_EQ(rep->major_version, uint32_t{SPICE_VERSION_MAJOR});
    EXPECT_EQ(rep->size, rs::link::reply_size);
    return rep->error();
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

// ---- the happy path ------------------------------------------------------------

TEST(LinkServer, NoauthMainLinkIsAcceptedWithKeyAndServerCaps) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.send_link(spice_test_client::main_link()));
    auto rep = c.read_reply();
    ASSERT_TRUE(rep.has_value());
    EXPECT_EQ(rep->magic, SPICE_MAGIC);
    EXPECT_EQ(rep->major_version, uint32_t{SPICE_VERSION_MAJOR});
    EXPECT_EQ(rep->minor_version, uint32_t{SPICE_VERSION_MINOR});
    ASSERT_TRUE(rep->body.has_value());
    EXPECT_EQ(rep->body->error, uint32_t{SPICE_LINK_ERR_OK});
    // The key is a 162-byte DER SubjectPublicKeyInfo of an RSA-1024 key.
    const unsigned char *p = rep->body->pub_key.data();
    EVP_PKEY *key = d2i_PUBKEY(nullptr, &p, static_cast<long>(rep->body->pub_key.size()));
    ASSERT_NE(key, nullptr);
    EXPECT_EQ(p - rep->body->pub_key.data(), 162);
    EXPECT_EQ(EVP_PKEY_get_bits(key), 1024);
    EVP_PKEY_free(key);
    const auto &common = rep->body->common_caps;
    EXPECT_TRUE(common.has(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION));
    EXPECT_TRUE(common.has(SPICE_COMMON_CAP_AUTH_SPICE));
    EXPECT_TRUE(common.has(SPICE_COMMON_CAP_MINI_HEADER));
    EXPECT_FALSE(common.has(SPICE_COMMON_CAP_AUTH_SASL));
    const auto &chan = rep->body->channel_caps;
    EXPECT_TRUE(chan.has(SPICE_MAIN_CAP_SEMI_SEAMLESS_MIGRATE));
    EXPECT_TRUE(chan.has(SPICE_MAIN_CAP_NAME_AND_UUID));
    EXPECT_TRUE(chan.has(SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS));
    EXPECT_EQ(rep->size, rs::link::reply_size + 4 * (common.num_words() + chan.num_words()));

    ASSERT_TRUE(c.send_auth_mechanism(SPICE_COMMON_CAP_AUTH_SPICE));
    ASSERT_TRUE(c.send_ticket(*rep->body, ""));
    EXPECT_EQ(c.read_result(), uint32_t{SPICE_LINK_ERR_OK});
}

TEST(LinkServer, LinkedMainChannelSendsInitThenListsChannelsWithoutMain) {
    test_server ts;
    const int port = ts.start();
    ASSERT_GT(port, 0);
    ts.register_idle_channel(SPICE_CHANNEL_INPUTS, 0);
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_EQ(c.link_and_auth(spice_test_client::main_link()), uint32_t{SPICE_LINK_ERR_OK});

    // MAIN_INIT comes first, over the mini header.
    auto init = c.read_message();
    ASSERT_TRUE(init.has_value());
    ASSERT_EQ(init->type, SPICE_MSG_MAIN_INIT);
    ASSERT_EQ(init->body.size(), 32u);
    rs::wire::reader r(init->body);
    const uint32_t session_id = r.u32();
    const uint32_t display_channels_hint = r.u32();
    const uint32_t supported_mouse_modes = r.u32();
    const uint32_t current_mouse_mode = r.u32();
    const uint32_t agent_connected = r.u32();
    const uint32_t agent_tokens = r.u32();
    (void)r.u32(); // multi-media time
    const uint32_t ram_hint = r.u32();
    EXPECT_NE(session_id, 0u);
    EXPECT_EQ(display_channels_hint, 0u); // no QXL instance
    EXPECT_NE(supported_mouse_modes & SPICE_MOUSE_MODE_SERVER, 0u);
    EXPECT_EQ(current_mouse_mode, uint32_t{SPICE_MOUSE_MODE_SERVER});
    EXPECT_EQ(agent_connected, 0u);
    EXPECT_EQ(agent_tokens, rs::server::agent_window_size);
    EXPECT_EQ(ram_hint, 0u);

    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    auto list = c.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST);
    ASSERT_TRUE(list.has_value());
    rs::wire::reader lr(list->body);
    const uint32_t n = lr.u32();
    ASSERT_EQ(list->body.size(), 4 + 2 * size_t{n});
    std::vector<std::pair<uint8_t, uint8_t>> channels;
    for (uint32_t i = 0; i < n; ++i) {
        const uint8_t type = lr.u8();
        const uint8_t id = lr.u8();
        channels.emplace_back(type, id);
        EXPECT_NE(type, SPICE_CHANNEL_MAIN);
    }
    EXPECT_EQ(channels, (std::vector<std::pair<uint8_t, uint8_t>>{{SPICE_CHANNEL_INPUTS, 0}}));

    EXPECT_EQ(ts.num_clients(), 1u);
}

// ---- tickets -------------------------------------------------------------------

/// The public key of a main link's reply on `port`.
std::vector<uint8_t> reply_key(int port) {
    spice_test_client c;
    EXPECT_TRUE(c.connect(port));
    EXPECT_TRUE(c.send_link(spice_test_client::main_link()));
    auto rep = c.read_reply();
    if (!rep || !rep->body) return {};
    return {rep->body->pub_key.begin(), rep->body->pub_key.end()};
}

TEST(LinkServer, LinksWithoutAuthShareOneKeyAndTicketedLinksGetFreshOnes) {
    {
        test_server ts; // noauth
        const int port = ts.start();
        const auto a = reply_key(port);
        ASSERT_EQ(a.size(), 162u);
        EXPECT_EQ(reply_key(port), a);
        // Still a working key: a link with it is accepted.
        expect_server_still_links(port);
    }
    {
        test_server ts;
        ASSERT_EQ(ts.srv.config().set_ticket("s3cret", 0, monotonic_s()), 0);
        const int port = ts.start();
        const auto a = reply_key(port);
        ASSERT_EQ(a.size(), 162u);
        EXPECT_NE(reply_key(port), a); // a recorded ticket cannot be replayed
    }
}

TEST(LinkServer, RightTicketIsAccepted) {
    test_server ts;
    ASSERT_EQ(ts.srv.config().set_ticket("s3cret", 0, monotonic_s()), 0);
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::main_link(), "s3cret"),
              uint32_t{SPICE_LINK_ERR_OK});
}

TEST(LinkServer, WrongTicketIsPermissionDenied) {
    test_server ts;
    ASSERT_EQ(ts.srv.config().set_ticket("s3cret", 0, monotonic_s()), 0);
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::main_link(), "guess"),
              uint32_t{SPICE_LINK_ERR_PERMISSION_DENIED});
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    EXPECT_EQ(ts.num_clients(), 0u);
}

TEST(LinkServer, ExpiredTicketIsPermissionDenied) {
    test_server ts;
    // A one-second lifetime that started a minute ago.
    ASSERT_EQ(ts.srv.config().set_ticket("s3cret", 1, monotonic_s() - 60), 0);
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::main_link(), "s3cret"),
              uint32_t{SPICE_LINK_ERR_PERMISSION_DENIED});
}

TEST(LinkServer, TicketingWithoutPasswordDeniesEveryone) {
    test_server ts;
    ASSERT_EQ(ts.srv.config().set_ticket(nullptr, 0, monotonic_s()), 0);
    ASSERT_TRUE(ts.srv.config().ticketing_enabled());
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::main_link(), ""),
              uint32_t{SPICE_LINK_ERR_PERMISSION_DENIED});
}

TEST(LinkServer, UndecryptableTicketIsDeniedEvenWithoutAuth) {
    test_server ts; // noauth
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.send_link(spice_test_client::main_link()));
    auto rep = c.read_reply();
    ASSERT_TRUE(rep.has_value());
    ASSERT_EQ(rep->error(), uint32_t{SPICE_LINK_ERR_OK});
    ASSERT_TRUE(c.send_auth_mechanism(SPICE_COMMON_CAP_AUTH_SPICE));
    std::vector<uint8_t> junk(rs::link::encrypted_ticket_size, 0xA5);
    ASSERT_TRUE(c.send_raw(junk));
    EXPECT_EQ(c.read_result(), uint32_t{SPICE_LINK_ERR_PERMISSION_DENIED});
}

// ---- malformed links -------------------------------------------------------------

TEST(LinkServer, WrongMagicIsAnsweredInvalidMagic) {
    test_server ts;
    const int port = ts.start();
    const auto bytes = link_header(0x71646572 /* "redq" */, SPICE_VERSION_MAJOR,
                                   SPICE_VERSION_MINOR, rs::link::message_min_size);
    EXPECT_EQ(reply_error_to(port, bytes), uint32_t{SPICE_LINK_ERR_INVALID_MAGIC});
}

TEST(LinkServer, WrongMagicIsAnsweredAfterItsFourBytes) {
    test_server ts;
    const int port = ts.start();
    const auto bytes = link_header(0x71646572 /* "redq" */, 0, 0, 0);
    EXPECT_EQ(reply_error_to(port, std::span(bytes).first(4)),
              uint32_t{SPICE_LINK_ERR_INVALID_MAGIC});
}

TEST(LinkServer, OtherMajorVersionIsAnsweredVersionMismatch) {
    test_server ts;
    const int port = ts.start();
    const auto bytes = link_header(SPICE_MAGIC, 1, 0, rs::link::message_min_size);
    EXPECT_EQ(reply_error_to(port, bytes), uint32_t{SPICE_LINK_ERR_VERSION_MISMATCH});
}

TEST(LinkServer, MajorVersionZeroIsClosedWithoutAnswer) {
    test_server ts;
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.send_raw(link_header(SPICE_MAGIC, 0, 0, rs::link::message_min_size)));
    std::array<uint8_t, 1> b{};
    EXPECT_EQ(c.read_exact(b), read_status::closed);
}

TEST(LinkServer, LinkSizeOutsideBoundsIsInvalidData) {
    test_server ts;
    const int port = ts.start();
    for (uint32_t size : {0u, 17u, 4097u}) {
        SCOPED_TRACE(size);
        const auto bytes = link_header(SPICE_MAGIC, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR, size);
        EXPECT_EQ(reply_error_to(port, bytes), uint32_t{SPICE_LINK_ERR_INVALID_DATA});
    }
}

TEST(LinkServer, MoreThan1024CapsWordsIsInvalidData) {
    test_server ts;
    const int port = ts.start();
    EXPECT_EQ(reply_error_to(port, link_with_caps_fields(1025, 0, 18)),
              uint32_t{SPICE_LINK_ERR_INVALID_DATA});
    EXPECT_EQ(reply_error_to(port, link_with_caps_fields(0, 1025, 18)),
              uint32_t{SPICE_LINK_ERR_INVALID_DATA});
}

TEST(LinkServer, CapsOutsideTheMessageAreInvalidData) {
    test_server ts;
    const int port = ts.start();
    // One word announced at offset 18 of an 18-byte message: past the end.
    EXPECT_EQ(reply_error_to(port, link_with_caps_fields(1, 0, 18)),
              uint32_t{SPICE_LINK_ERR_INVALID_DATA});
    // An offset inside the fixed part.
    EXPECT_EQ(reply_error_to(port, link_with_caps_fields(1, 0, 4)),
              uint32_t{SPICE_LINK_ERR_INVALID_DATA});
}

TEST(LinkServer, TruncatedLinkIsDroppedAndTheNextClientIsServed) {
    test_server ts;
    const int port = ts.start();
    {
        spice_test_client c;
        ASSERT_TRUE(c.connect(port));
        auto bytes = link_header(SPICE_MAGIC, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR, 40);
        bytes.resize(bytes.size() + 10, 0); // 10 of the 40 announced bytes
        ASSERT_TRUE(c.send_raw(bytes));
    } // closes mid-message
    expect_server_still_links(port);
}

// ---- channels, sessions, transport ----------------------------------------------

TEST(LinkServer, ChannelTheServerDoesNotServeIsClosedWithoutAnswer) {
    test_server ts;
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.send_link(spice_test_client::link_to(SPICE_CHANNEL_INPUTS, 0, 1234)));
    std::array<uint8_t, 1> b{};
    EXPECT_EQ(c.read_exact(b), read_status::closed);
}

TEST(LinkServer, ChannelWithUnknownConnectionIdIsBadConnectionId) {
    test_server ts;
    const int port = ts.start();
    ts.register_idle_channel(SPICE_CHANNEL_INPUTS, 0);
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::link_to(SPICE_CHANNEL_INPUTS, 0, 0x1234)),
              uint32_t{SPICE_LINK_ERR_BAD_CONNECTION_ID});
}

TEST(LinkServer, ChannelWithTheSessionsConnectionIdIsLinked) {
    test_server ts;
    const int port = ts.start();
    ts.register_idle_channel(SPICE_CHANNEL_INPUTS, 0);
    spice_test_client main;
    auto session = link_main_session(main, port);
    ASSERT_TRUE(session.has_value());
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::link_to(SPICE_CHANNEL_INPUTS, 0, *session)),
              uint32_t{SPICE_LINK_ERR_OK});
}

TEST(LinkServer, ChannelRequiringTlsOverPlainIsNeedSecured) {
    test_server ts;
    ASSERT_EQ(ts.srv.config().set_channel_security("main", SPICE_CHANNEL_SECURITY_SSL), 0);
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    EXPECT_EQ(c.link_and_auth(spice_test_client::main_link()),
              uint32_t{SPICE_LINK_ERR_NEED_SECURED});
}

TEST(LinkServer, StalledHandshakeIsDisconnected) {
    test_server ts;
    ts.srv.set_link_timeout(200ms);
    const int port = ts.start();
    spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    const auto half = link_header(SPICE_MAGIC, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR, 18);
    ASSERT_TRUE(c.send_raw(std::span(half).first(8)));
    // 5 s is a failure guard, not a timing assertion.
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    expect_server_still_links(port);
}

TEST(LinkServer, SecondMainLinkReplacesTheFirstSession) {
    test_server ts;
    const int port = ts.start();
    spice_test_client first;
    auto first_id = link_main_session(first, port);
    ASSERT_TRUE(first_id.has_value());
    spice_test_client second;
    auto second_id = link_main_session(second, port);
    ASSERT_TRUE(second_id.has_value());
    EXPECT_NE(*first_id, *second_id);
    EXPECT_EQ(first.wait_closed(), read_status::closed);
    EXPECT_TRUE(ts.wait_clients(1));
    // The new viewer keeps working.
    ASSERT_TRUE(second.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    EXPECT_TRUE(second.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST).has_value());
}

TEST(LinkServer, GarbageConnectionsDoNotStopTheServer) {
    test_server ts;
    const int port = ts.start();
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> len(1, 64);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < 200; ++i) {
        spice_test_client c;
        ASSERT_TRUE(c.connect(port)) << "connection " << i;
        std::vector<uint8_t> junk(static_cast<size_t>(len(rng)));
        for (auto &b : junk)
            b = static_cast<uint8_t>(byte(rng));
        (void)c.send_raw(junk);
        if (i % 2 == 0) c.reset();
    }
    expect_server_still_links(port);
}

TEST(LinkServer, ShutdownLeavesNoTaskFrames) {
    const long before = rs::live_task_frames();
    {
        test_server ts;
        const int port = ts.start();
        ts.register_idle_channel(SPICE_CHANNEL_INPUTS, 0);
        spice_test_client main;
        auto session = link_main_session(main, port);
        ASSERT_TRUE(session.has_value());
        spice_test_client inputs;
        ASSERT_TRUE(inputs.connect(port));
        EXPECT_EQ(
            inputs.link_and_auth(spice_test_client::link_to(SPICE_CHANNEL_INPUTS, 0, *session)),
            uint32_t{SPICE_LINK_ERR_OK});
        spice_test_client stalled; // mid-handshake at shutdown
        ASSERT_TRUE(stalled.connect(port));
        ASSERT_TRUE(stalled.send_raw(link_header(SPICE_MAGIC, 2, 2, 18)));
        ts.srv.shutdown();
        EXPECT_EQ(rs::live_task_frames(), before);
        EXPECT_EQ(main.wait_closed(), read_status::closed);
    }
    EXPECT_EQ(rs::live_task_frames(), before);
}

} // namespace
