// The vdagent pipe end to end: a real rs::server on loopback, a fake
// "vdagent" SpiceCharDeviceInstance standing for the guest's virtio port,
// and the in-repo client on the main channel. Data both ways, the tokens
// of each direction, chunking, the filter's settings, and what happens
// when either side misbehaves or goes away.
#include "reds/agent.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "reds/server.hpp"
#include "support/spice_test_client.hpp"

namespace {

using namespace std::chrono_literals;
using bytes = std::vector<uint8_t>;
using rs::testing::read_status;
using rs::testing::spice_test_client;

// ---- the fake device: touched only on the control shard ---------------------------

struct fake_device {
    SpiceCharDeviceInstance sin{}; // first: the callbacks cast back
    bytes to_server;               // what the guest agent wrote, not yet read
    size_t read_pos = 0;
    bytes from_server; // everything the server wrote
    size_t write_room = std::numeric_limits<size_t>::max();
    std::vector<int> states;
};

fake_device &dev_of(SpiceCharDeviceInstance *sin) { return *reinterpret_cast<fake_device *>(sin); }

int dev_write(SpiceCharDeviceInstance *sin, const uint8_t *buf, int len) {
    auto &d = dev_of(sin);
    const size_t n = std::min(static_cast<size_t>(len), d.write_room);
    d.from_server.insert(d.from_server.end(), buf, buf + n);
    d.write_room -= n;
    return static_cast<int>(n);
}

int dev_read(SpiceCharDeviceInstance *sin, uint8_t *buf, int len) {
    auto &d = dev_of(sin);
    const size_t n = std::min(static_cast<size_t>(len), d.to_server.size() - d.read_pos);
    std::copy_n(d.to_server.begin() + static_cast<std::ptrdiff_t>(d.read_pos), n, buf);
    d.read_pos += n;
    return static_cast<int>(n);
}

void dev_state(SpiceCharDeviceInstance *sin, int connected) {
    dev_of(sin).states.push_back(connected);
}

const SpiceCharDeviceInterface dev_sif = {
    .base = {SPICE_INTERFACE_CHAR_DEVICE, "fake vdagent", SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
             SPICE_INTERFACE_CHAR_DEVICE_MINOR},
    .state = dev_state,
    .write = dev_write,
    .read = dev_read,
    .event = nullptr,
    .flags = spice_char_device_flags{},
};

// ---- a fake QXL device that takes client monitors configs ------------------------

struct qxl_record {
    int probes = 0; // calls with a null config
    std::vector<std::pair<uint32_t, std::vector<VDAgentMonConfig>>> configs;
};
qxl_record *g_qxl = nullptr;

int qxl_client_monitors_config(QXLInstance *, VDAgentMonitorsConfig *mc) {
    if (mc == nullptr) {
        ++g_qxl->probes;
        return 1;
    }
    std::vector<VDAgentMonConfig> mons(mc->num_of_monitors);
    std::memcpy(mons.data(), reinterpret_cast<const uint8_t *>(mc) + sizeof(VDAgentMonitorsConfig),
                mons.size() * sizeof(VDAgentMonConfig));
    const uint32_t flags = mc->flags;
    g_qxl->configs.emplace_back(flags, std::move(mons));
    return 1;
}

QXLInterface make_qxl_sif() {
    QXLInterface s{};
    s.base = {SPICE_INTERFACE_QXL, "fake qxl", SPICE_INTERFACE_QXL_MAJOR,
              SPICE_INTERFACE_QXL_MINOR};
    s.client_monitors_config = qxl_client_monitors_config;
    return s;
}
const QXLInterface qxl_sif = make_qxl_sif();

// ---- wire helpers -------------------------------------------------------------------

bytes agent_message(uint32_t type, const bytes &data) {
    bytes out;
    rs::write_agent_header(out,
                           rs::agent_message_header{.protocol = VD_AGENT_PROTOCOL,
                                                    .type = type,
                                                    .opaque = 0,
                                                    .size = static_cast<uint32_t>(data.size())});
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

bytes filled(size_t n, uint8_t seed = 1) {
    bytes b(n);
    for (size_t i = 0; i < n; ++i)
        b[i] = static_cast<uint8_t>(seed + i * 7);
    return b;
}

bytes chunk(uint32_t port, const bytes &data) {
    bytes out;
    rs::wire::writer w(out);
    w.u32(port);
    w.u32(static_cast<uint32_t>(data.size()));
    w.bytes(data);
    return out;
}

bytes u32_body(uint32_t v) {
    bytes b;
    rs::wire::writer w(b);
    w.u32(v);
    return b;
}

/// One chunk the server wrote to the device.
struct device_chunk {
    uint32_t port = 0;
    bytes data;
};

std::vector<device_chunk> split_chunks(const bytes &raw) {
    std::vector<device_chunk> out;
    rs::wire::reader r(raw);
    while (r.remaining() >= 8) {
        device_chunk c;
        c.port = r.u32();
        const uint32_t size = r.u32();
        const auto d = r.bytes(size);
        if (!r.ok()) break;
        c.data.assign(d.begin(), d.end());
        out.push_back(std::move(c));
    }
    return out;
}

bytes caps_message(std::initializer_list<uint32_t> caps) {
    bytes data(4 + 4 * VD_AGENT_CAPS_SIZE, 0);
    for (uint32_t c : caps)
        data[4 + 4 * (c / 32) + (c % 32) / 8] |= static_cast<uint8_t>(1u << (c % 8));
    return agent_message(VD_AGENT_ANNOUNCE_CAPABILITIES, data);
}

bool has_cap(const bytes &msg, uint32_t c) {
    const size_t at = 24 + 4 * (c / 32) + (c % 32) / 8;
    return at < msg.size() && (msg[at] & (1u << (c % 8))) != 0;
}

/// MAIN_INIT as the client saw it.
struct init_fields {
    uint32_t agent_connected = 0;
    uint32_t agent_tokens = 0;
};

class agent_pipe_test : public ::testing::Test {
  protected:
    void SetUp() override {
        dev.sin.base.sif = &dev_sif.base;
        dev.sin.subtype = "vdagent";
        qxl.base.sif = &qxl_sif.base;
        qxl.id = 0;
        g_qxl = &qxl_rec;
        srv.config().set_port(0);
        srv.config().set_addr("127.0.0.1", 0);
        srv.config().set_noauth();
        ASSERT_EQ(srv.init(nullptr), 0);
        port = srv.bound_port();
        ASSERT_GT(port, 0);
        srv.on_control([this] { srv.set_vm_running(true); });
    }
    void TearDown() override {
        srv.on_control([this] {
            if (pipe) {
                (void)srv.interfaces().remove_interface(&dev.sin.base);
                pipe.reset();
            }
        });
        srv.shutdown();
        g_qxl = nullptr;
    }

    void attach() {
        srv.on_control([this] {
            EXPECT_EQ(srv.interfaces().add_interface(&dev.sin.base), 0);
            pipe = rs::attach_agent(srv, &dev.sin);
        });
        ASSERT_NE(pipe, nullptr);
    }
    void remove_device() {
        srv.on_control([this] {
            EXPECT_EQ(srv.interfaces().remove_interface(&dev.sin.base), 0);
            pipe.reset();
        });
    }
    void add_qxl() {
        srv.on_control([this] { EXPECT_EQ(srv.interfaces().add_interface(&qxl.base), 0); });
    }
    /// The guest agent writes `b`; the VMM wakes the server up.
    void agent_writes(const bytes &b) {
        srv.on_control([&] {
            dev.to_server.insert(dev.to_server.end(), b.begin(), b.end());
            pipe->wakeup();
        });
    }
    std::vector<device_chunk> device_got() {
        return split_chunks(srv.on_control([this] { return dev.from_server; }));
    }
    size_t device_unread() {
        return srv.on_control([this] { return dev.to_server.size() - dev.read_pos; });
    }
    std::vector<int> device_states() {
        return srv.on_control([this] { return dev.states; });
    }

    /// Links a main channel (with AGENT_CONNECTED_TOKENS unless told not to)
    /// and reads MAIN_INIT.
    std::optional<init_fields> link(spice_test_client &c, bool connected_tokens_cap = true) {
        if (!c.connect(port)) return std::nullopt;
        auto m = spice_test_client::main_link();
        if (connected_tokens_cap) m.channel_caps.set(SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS);
        if (c.link_and_auth(m) != uint32_t{SPICE_LINK_ERR_OK}) return std::nullopt;
        auto init = c.read_message_of(SPICE_MSG_MAIN_INIT);
        if (!init || init->body.size() != 32) return std::nullopt;
        rs::wire::reader r(init->body);
        r.skip(16);
        init_fields f;
        f.agent_connected = r.u32();
        f.agent_tokens = r.u32();
        return f;
    }
    /// Sends ATTACH_CHANNELS and returns every message before CHANNELS_LIST:
    /// the server handled all that the client sent before, and queued all it
    /// sent in reply ahead of the list.
    std::vector<rs::testing::channel_message> barrier(spice_test_client &c) {
        std::vector<rs::testing::channel_message> out;
        if (!c.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS)) return out;
        while (auto m = c.read_message()) {
            if (m->type == SPICE_MSG_MAIN_CHANNELS_LIST) return out;
            out.push_back(std::move(*m));
        }
        ADD_FAILURE() << "no CHANNELS_LIST";
        return out;
    }
    static std::vector<bytes> agent_data_of(const std::vector<rs::testing::channel_message> &ms) {
        std::vector<bytes> out;
        for (const auto &m : ms)
            if (m.type == SPICE_MSG_MAIN_AGENT_DATA) out.push_back(m.body);
        return out;
    }
    /// Links, starts the agent with `tokens`, and waits until the server took it.
    void link_and_start(spice_test_client &c, uint32_t tokens = ~0u) {
        ASSERT_TRUE(link(c).has_value());
        ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_START, u32_body(tokens)));
        (void)barrier(c);
    }

    rs::server srv;
    fake_device dev;
    QXLInstance qxl{};
    qxl_record qxl_rec;
    std::unique_ptr<rs::char_device_handler> pipe;
    int port = 0;
};

// ---- attach and remove -----------------------------------------------------------------

TEST_F(agent_pipe_test, an_attached_agent_is_announced_in_init_and_the_device_told_connected) {
    attach();
    EXPECT_EQ(device_states(), std::vector<int>{1});
    spice_test_client c;
    auto init = link(c);
    ASSERT_TRUE(init.has_value());
    EXPECT_EQ(init->agent_connected, 1u);
    EXPECT_EQ(init->agent_tokens, rs::agent_pipe::client_window);
}

TEST_F(agent_pipe_test, attaching_while_linked_sends_agent_connected_tokens) {
    spice_test_client c;
    auto init = link(c);
    ASSERT_TRUE(init.has_value());
    EXPECT_EQ(init->agent_connected, 0u);
    attach();
    auto m = c.read_message_of(SPICE_MSG_MAIN_AGENT_CONNECTED_TOKENS);
    ASSERT_TRUE(m.has_value());
    rs::wire::reader r(m->body);
    EXPECT_EQ(r.u32(), rs::agent_pipe::client_window);
}

TEST_F(agent_pipe_test, a_client_without_the_tokens_cap_gets_agent_connected) {
    spice_test_client c;
    ASSERT_TRUE(link(c, /*connected_tokens_cap=*/false).has_value());
    attach();
    EXPECT_TRUE(c.read_message_of(SPICE_MSG_MAIN_AGENT_CONNECTED).has_value());
}

TEST_F(agent_pipe_test, removing_the_device_sends_agent_disconnected) {
    attach();
    spice_test_client c;
    link_and_start(c);
    remove_device();
    auto m = c.read_message_of(SPICE_MSG_MAIN_AGENT_DISCONNECTED);
    ASSERT_TRUE(m.has_value());
    rs::wire::reader r(m->body);
    EXPECT_EQ(r.u32(), uint32_t{SPICE_LINK_ERR_OK});
    EXPECT_EQ(device_states(), (std::vector<int>{1, 0}));
    // A new link no longer hears of an agent.
    spice_test_client c2;
    auto init = link(c2);
    ASSERT_TRUE(init.has_value());
    EXPECT_EQ(init->agent_connected, 0u);
}

// ---- data both ways ------------------------------------------------------------------------

TEST_F(agent_pipe_test, client_data_reaches_the_device_as_a_client_port_chunk) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    (void)barrier(c);
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].port, uint32_t{VDP_CLIENT_PORT});
    EXPECT_EQ(got[0].data, msg);
}

TEST_F(agent_pipe_test, agent_data_reaches_the_client) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_REPLY, filled(8));
    agent_writes(chunk(VDP_CLIENT_PORT, msg));
    const auto data = agent_data_of(barrier(c));
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0], msg);
}

TEST_F(agent_pipe_test, agent_data_before_agent_start_is_dropped) {
    attach();
    spice_test_client c;
    ASSERT_TRUE(link(c).has_value());
    agent_writes(chunk(VDP_CLIENT_PORT, agent_message(VD_AGENT_REPLY, filled(8))));
    EXPECT_TRUE(agent_data_of(barrier(c)).empty());
    EXPECT_EQ(device_unread(), 0u); // read and dropped, as the reference does
}

TEST_F(agent_pipe_test, large_agent_messages_reach_the_client_in_2048_byte_pieces) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_CLIPBOARD, filled(5000));
    agent_writes(chunk(VDP_CLIENT_PORT, msg));
    const auto data = agent_data_of(barrier(c));
    ASSERT_EQ(data.size(), 3u);
    EXPECT_EQ(data[0].size(), 2048u);
    EXPECT_EQ(data[1].size(), 2048u);
    EXPECT_EQ(data[2].size(), msg.size() - 4096);
    bytes joined;
    for (const auto &d : data)
        joined.insert(joined.end(), d.begin(), d.end());
    EXPECT_EQ(joined, msg);
}

TEST_F(agent_pipe_test, agent_bytes_trickling_in_are_reassembled) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_REPLY, filled(8));
    const bytes all = chunk(VDP_CLIENT_PORT, msg);
    for (size_t i = 0; i < all.size(); i += 3)
        agent_writes(bytes(all.begin() + static_cast<std::ptrdiff_t>(i),
                           all.begin() + static_cast<std::ptrdiff_t>(std::min(i + 3, all.size()))));
    const auto data = agent_data_of(barrier(c));
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0], msg);
}

// ---- tokens -----------------------------------------------------------------------------------

TEST_F(agent_pipe_test, the_server_never_sends_more_agent_data_than_the_client_granted) {
    attach();
    spice_test_client c;
    link_and_start(c, /*tokens=*/2);
    bytes five;
    const bytes one = chunk(VDP_CLIENT_PORT, agent_message(VD_AGENT_REPLY, filled(8)));
    for (int i = 0; i < 5; ++i)
        five.insert(five.end(), one.begin(), one.end());
    agent_writes(five);
    EXPECT_EQ(agent_data_of(barrier(c)).size(), 2u);
    EXPECT_EQ(device_unread(), 3 * one.size()); // the rest waits in the device
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_TOKEN, u32_body(2)));
    EXPECT_EQ(agent_data_of(barrier(c)).size(), 2u);
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_TOKEN, u32_body(10)));
    EXPECT_EQ(agent_data_of(barrier(c)).size(), 1u);
    EXPECT_EQ(device_unread(), 0u);
}

TEST_F(agent_pipe_test, tokens_come_back_as_the_device_consumes_client_data) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    for (uint32_t i = 0; i < rs::agent_pipe::tokens_interval; ++i)
        ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    auto m = c.read_message_of(SPICE_MSG_MAIN_AGENT_TOKEN);
    ASSERT_TRUE(m.has_value());
    rs::wire::reader r(m->body);
    EXPECT_EQ(r.u32(), rs::agent_pipe::tokens_interval);
    EXPECT_EQ(device_got().size(), rs::agent_pipe::tokens_interval);
}

TEST_F(agent_pipe_test, client_data_the_device_cannot_take_waits_for_wakeup) {
    attach();
    srv.on_control([this] { dev.write_room = 10; });
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    (void)barrier(c);
    EXPECT_EQ(srv.on_control([this] { return dev.from_server.size(); }), 10u);
    srv.on_control([this] {
        dev.write_room = 1000;
        pipe->wakeup();
    });
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, msg);
}

TEST_F(agent_pipe_test, a_refused_write_is_retried_without_a_wakeup) {
    attach();
    srv.on_control([this] { dev.write_room = 10; });
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    (void)barrier(c);
    // Room appears, but the VMM never calls wakeup: the retry timer writes.
    srv.on_control([this] { dev.write_room = 1000; });
    std::vector<device_chunk> got;
    for (int i = 0; i < 500 && got.empty(); ++i) {
        got = device_got();
        if (got.empty()) std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, msg);
}

TEST_F(agent_pipe_test, the_device_is_left_alone_while_the_vm_is_stopped) {
    attach();
    spice_test_client c;
    link_and_start(c);
    srv.on_control([this] { srv.set_vm_running(false); });
    const bytes msg = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    const bytes reply = chunk(VDP_CLIENT_PORT, agent_message(VD_AGENT_REPLY, filled(8)));
    agent_writes(reply);
    EXPECT_TRUE(agent_data_of(barrier(c)).empty());
    EXPECT_TRUE(device_got().empty());
    EXPECT_EQ(device_unread(), reply.size());
    srv.on_control([this] { srv.set_vm_running(true); });
    EXPECT_EQ(agent_data_of(barrier(c)).size(), 1u);
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, msg);
}

TEST_F(agent_pipe_test, client_data_beyond_the_granted_tokens_ends_the_main_channel) {
    attach();
    srv.on_control([this] { dev.write_room = 0; }); // nothing is consumed: no token returns
    spice_test_client c;
    link_and_start(c);
    const bytes msg = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    for (uint32_t i = 0; i < rs::agent_pipe::client_window; ++i)
        ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    (void)barrier(c); // still linked after the whole window
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, msg));
    EXPECT_EQ(c.wait_closed(), read_status::closed);
}

// ---- the filter's settings -------------------------------------------------------------------

TEST_F(agent_pipe_test, clipboard_is_dropped_both_ways_when_copypaste_is_off) {
    srv.config().set_agent_copypaste(0);
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes grab =
        agent_message(VD_AGENT_CLIPBOARD_GRAB, u32_body(VD_AGENT_CLIPBOARD_UTF8_TEXT));
    const bytes display = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, grab));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, display));
    (void)barrier(c);
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, display);

    const bytes reply = agent_message(VD_AGENT_REPLY, filled(8));
    bytes from_agent = chunk(VDP_CLIENT_PORT, grab);
    const bytes c2 = chunk(VDP_CLIENT_PORT,
                           caps_message({VD_AGENT_CAP_CLIPBOARD, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND,
                                         VD_AGENT_CAP_MOUSE_STATE}));
    const bytes c3 = chunk(VDP_CLIENT_PORT, reply);
    from_agent.insert(from_agent.end(), c2.begin(), c2.end());
    from_agent.insert(from_agent.end(), c3.begin(), c3.end());
    agent_writes(from_agent);
    const auto data = agent_data_of(barrier(c));
    ASSERT_EQ(data.size(), 2u); // the grab is gone
    EXPECT_FALSE(has_cap(data[0], VD_AGENT_CAP_CLIPBOARD));
    EXPECT_FALSE(has_cap(data[0], VD_AGENT_CAP_CLIPBOARD_BY_DEMAND));
    EXPECT_TRUE(has_cap(data[0], VD_AGENT_CAP_MOUSE_STATE));
    EXPECT_EQ(data[1], reply);
}

TEST_F(agent_pipe_test, clipboard_passes_when_copypaste_is_on) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes grab =
        agent_message(VD_AGENT_CLIPBOARD_GRAB, u32_body(VD_AGENT_CLIPBOARD_UTF8_TEXT));
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, grab));
    agent_writes(chunk(VDP_CLIENT_PORT, grab));
    const auto data = agent_data_of(barrier(c));
    ASSERT_EQ(data.size(), 1u);
    EXPECT_EQ(data[0], grab);
    ASSERT_EQ(device_got().size(), 1u);
}

TEST_F(agent_pipe_test, file_transfer_is_dropped_when_file_xfer_is_off) {
    srv.config().set_agent_file_xfer(0);
    attach();
    spice_test_client c;
    link_and_start(c);
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA,
                               agent_message(VD_AGENT_FILE_XFER_START, filled(40))));
    agent_writes(chunk(VDP_CLIENT_PORT, caps_message({VD_AGENT_CAP_MOUSE_STATE})));
    const auto data = agent_data_of(barrier(c));
    EXPECT_TRUE(device_got().empty());
    ASSERT_EQ(data.size(), 1u);
    EXPECT_TRUE(has_cap(data[0], VD_AGENT_CAP_FILE_XFER_DISABLED));
}

// ---- misbehaviour ---------------------------------------------------------------------------

TEST_F(agent_pipe_test, malformed_client_agent_data_ends_the_main_channel) {
    attach();
    spice_test_client c;
    link_and_start(c);
    bytes bad = agent_message(VD_AGENT_DISPLAY_CONFIG, filled(8));
    bad[0] = 2; // protocol 2
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, bad));
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    // At most the server's own CLIENT_DISCONNECTED reached the device.
    const auto got = device_got();
    EXPECT_TRUE(std::all_of(got.begin(), got.end(),
                            [](const device_chunk &ch) { return ch.port == VDP_SERVER_PORT; }));
}

TEST_F(agent_pipe_test, client_agent_data_over_2048_bytes_ends_the_main_channel) {
    attach();
    spice_test_client c;
    link_and_start(c);
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA,
                               agent_message(VD_AGENT_CLIPBOARD, filled(2100))));
    EXPECT_EQ(c.wait_closed(), read_status::closed);
}

TEST_F(agent_pipe_test, an_agent_breaking_the_protocol_resets_its_link) {
    attach();
    spice_test_client c;
    link_and_start(c);
    agent_writes(chunk(7, agent_message(VD_AGENT_REPLY, filled(8)))); // no such port
    auto m = c.read_message_of(SPICE_MSG_MAIN_AGENT_DISCONNECTED);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(device_states(), (std::vector<int>{1, 0}));
    EXPECT_FALSE(srv.on_control([this] { return srv.agent_attached(); }));
    // The main channel lives on; later agent bytes are ignored.
    agent_writes(chunk(VDP_CLIENT_PORT, agent_message(VD_AGENT_REPLY, filled(8))));
    EXPECT_TRUE(agent_data_of(barrier(c)).empty());
}

TEST_F(agent_pipe_test, an_agent_message_with_a_wrong_protocol_resets_its_link) {
    attach();
    spice_test_client c;
    link_and_start(c);
    bytes bad = agent_message(VD_AGENT_REPLY, filled(8));
    bad[0] = 9;
    agent_writes(chunk(VDP_CLIENT_PORT, bad));
    EXPECT_TRUE(c.read_message_of(SPICE_MSG_MAIN_AGENT_DISCONNECTED).has_value());
    EXPECT_EQ(device_states(), (std::vector<int>{1, 0}));
}

// ---- the server's own messages to the agent ---------------------------------------------------

TEST_F(agent_pipe_test, the_agent_hears_when_the_last_client_leaves) {
    attach();
    {
        spice_test_client c;
        link_and_start(c);
    }
    std::vector<device_chunk> got;
    for (int i = 0; i < 500 && got.empty(); ++i) {
        got = device_got();
        if (got.empty()) std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].port, uint32_t{VDP_SERVER_PORT});
    const auto h = rs::read_agent_header(got[0].data);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->type, uint32_t{VD_AGENT_CLIENT_DISCONNECTED});
    EXPECT_EQ(h->size, 0u);
}

TEST_F(agent_pipe_test, mouse_state_reaches_the_agent_and_coalesces_while_the_device_is_full) {
    attach();
    srv.on_control([this] {
        dev.write_room = 0;
        srv.agent_mouse_state(VDAgentMouseState{.x = 1, .y = 2, .buttons = 0, .display_id = 0});
        srv.agent_mouse_state(VDAgentMouseState{
            .x = 100, .y = 200, .buttons = VD_AGENT_LBUTTON_MASK, .display_id = 1});
        dev.write_room = 1000;
        pipe->wakeup();
    });
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u); // the older state was replaced
    EXPECT_EQ(got[0].port, uint32_t{VDP_SERVER_PORT});
    const auto h = rs::read_agent_header(got[0].data);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->type, uint32_t{VD_AGENT_MOUSE_STATE});
    ASSERT_EQ(h->size, 13u);
    rs::wire::reader r(std::span(got[0].data).subspan(20));
    EXPECT_EQ(r.u32(), 100u);
    EXPECT_EQ(r.u32(), 200u);
    EXPECT_EQ(r.u32(), uint32_t{VD_AGENT_LBUTTON_MASK});
    EXPECT_EQ(r.u8(), 1u);
}

TEST_F(agent_pipe_test, graphics_device_info_goes_to_an_agent_that_announces_it) {
    add_qxl();
    srv.on_control([this] {
        srv.set_qxl_device_info(rs::server::qxl_device_info{
            .qxl_id = 0, .address = "pci/0000/02.0", .first_display_id = 3, .count = 2});
    });
    attach();
    spice_test_client c;
    link_and_start(c);
    EXPECT_TRUE(device_got().empty()); // the agent has not said it understands
    agent_writes(chunk(VDP_CLIENT_PORT, caps_message({VD_AGENT_CAP_GRAPHICS_DEVICE_INFO})));
    (void)barrier(c);
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u);
    const auto h = rs::read_agent_header(got[0].data);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->type, uint32_t{VD_AGENT_GRAPHICS_DEVICE_INFO});
    rs::wire::reader r(std::span(got[0].data).subspan(20));
    ASSERT_EQ(r.u32(), 2u);
    for (uint32_t i = 0; i < 2; ++i) {
        EXPECT_EQ(r.u32(), 0u);    // channel id: the QXL's id
        EXPECT_EQ(r.u32(), i);     // monitor id
        EXPECT_EQ(r.u32(), 3 + i); // device display id
        ASSERT_EQ(r.u32(), 14u);   // address with its NUL
        const auto addr = r.bytes(14);
        EXPECT_EQ(std::string(addr.begin(), addr.end() - 1), "pci/0000/02.0");
        EXPECT_EQ(addr.back(), 0);
    }
    EXPECT_TRUE(r.at_end());
}

// ---- client monitors config ---------------------------------------------------------------------

bytes monitors_config(uint32_t claimed, std::initializer_list<VDAgentMonConfig> mons) {
    bytes data;
    rs::wire::writer w(data);
    w.u32(claimed);
    w.u32(VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS);
    for (const auto &m : mons) {
        w.u32(m.height);
        w.u32(m.width);
        w.u32(m.depth);
        w.i32(m.x);
        w.i32(m.y);
    }
    return agent_message(VD_AGENT_MONITORS_CONFIG, data);
}

TEST_F(agent_pipe_test, client_monitors_config_goes_to_the_qxl_device_not_the_agent) {
    add_qxl();
    attach();
    spice_test_client c;
    link_and_start(c);
    ASSERT_TRUE(c.send_message(
        SPICE_MSGC_MAIN_AGENT_DATA,
        monitors_config(2, {{.height = 768, .width = 1024, .depth = 32, .x = 0, .y = 0},
                            {.height = 600, .width = 800, .depth = 32, .x = 1024, .y = 0}})));
    (void)barrier(c);
    EXPECT_TRUE(device_got().empty());
    const auto rec = srv.on_control([this] { return qxl_rec; });
    EXPECT_GT(rec.probes, 0);
    ASSERT_EQ(rec.configs.size(), 1u);
    EXPECT_EQ(rec.configs[0].first, uint32_t{VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS});
    ASSERT_EQ(rec.configs[0].second.size(), 2u);
    EXPECT_EQ(rec.configs[0].second[1].width, 800u);
    EXPECT_EQ(rec.configs[0].second[1].x, 1024);
}

TEST_F(agent_pipe_test, without_a_qxl_taking_it_monitors_config_goes_to_the_agent) {
    attach();
    spice_test_client c;
    link_and_start(c);
    const bytes mc =
        monitors_config(1, {{.height = 768, .width = 1024, .depth = 32, .x = 0, .y = 0}});
    ASSERT_TRUE(c.send_message(SPICE_MSGC_MAIN_AGENT_DATA, mc));
    (void)barrier(c);
    const auto got = device_got();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].data, mc);
}

TEST_F(agent_pipe_test, an_invalid_monitors_config_ends_the_main_channel) {
    add_qxl();
    attach();
    spice_test_client c;
    link_and_start(c);
    // Three monitors claimed, one present.
    ASSERT_TRUE(c.send_message(
        SPICE_MSGC_MAIN_AGENT_DATA,
        monitors_config(3, {{.height = 768, .width = 1024, .depth = 32, .x = 0, .y = 0}})));
    EXPECT_EQ(c.wait_closed(), read_status::closed);
    EXPECT_TRUE(srv.on_control([this] { return qxl_rec.configs.empty(); }));
}

} // namespace
