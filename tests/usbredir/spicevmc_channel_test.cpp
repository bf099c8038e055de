// The spicevmc channels (usbredir, port, webdav) of a real rs::server on
// loopback, driven by the in-repo raw client, with a char-device emulator:
// the real SpiceCharDeviceInstance with our own SpiceCharDeviceInterface
// whose read and write the test controls. As in the shim, every call into
// the device handler (create, wakeup, port_event, destroy) runs on the
// control shard, and so do the device callbacks; the test reads the
// emulator's state there too.
#include <gtest/gtest.h>

#include <lz4.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reds/server.hpp"
#include "support/spice_test_client.hpp"
#include "usbredir/spicevmc.hpp"
#include "usbredir/spicevmc_messages.hpp"
#include "usbredir_packets.hpp"

namespace {

using namespace std::chrono_literals;
using rs::testing::read_status;
using rs::testing::spice_test_client;
using bytes = std::vector<uint8_t>;

/// Bounded polling: the condition checked up to ~5 s.
constexpr int poll_rounds = 2500;
constexpr auto poll_step = 2ms;

/// A char device the test drives: what the guest "wrote" waits in
/// `from_guest` for the server's read; what the server writes lands in
/// `to_guest` while `write_budget` allows. Standard layout, the instance
/// first, so the callbacks find their emulator from the instance pointer.
struct fake_char_device {
    SpiceCharDeviceInstance sin{};
    SpiceCharDeviceInterface sif{};
    std::string subtype;
    std::string portname;
    bytes from_guest;
    size_t read_pos = 0;
    bytes to_guest;
    size_t write_budget = std::numeric_limits<size_t>::max();
    std::vector<int> states;
    std::vector<uint8_t> events;
    uint64_t reads = 0;

    fake_char_device(std::string sub, std::string port = {}, bool notify_writable = true)
        : subtype(std::move(sub))
        , portname(std::move(port)) {
        sif.base.type = SPICE_INTERFACE_CHAR_DEVICE;
        sif.base.description = "fake char device";
        sif.base.major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR;
        sif.base.minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR;
        sif.state = &on_state;
        sif.write = &on_write;
        sif.read = &on_read;
        sif.event = &on_event;
        sif.flags = notify_writable ? SPICE_CHAR_DEVICE_NOTIFY_WRITABLE
                                    : static_cast<spice_char_device_flags>(0);
        sin.base.sif = &sif.base;
        sin.subtype = subtype.c_str();
        sin.portname = portname.empty() ? nullptr : portname.c_str();
    }
    fake_char_device(const fake_char_device &) = delete;
    fake_char_device &operator=(const fake_char_device &) = delete;

    static fake_char_device &of(SpiceCharDeviceInstance *s) {
        return *reinterpret_cast<fake_char_device *>(s);
    }
    static void on_state(SpiceCharDeviceInstance *s, int connected) {
        of(s).states.push_back(connected);
    }
    static int on_write(SpiceCharDeviceInstance *s, const uint8_t *buf, int len) {
        auto &d = of(s);
        const size_t n = std::min<size_t>(static_cast<size_t>(len), d.write_budget);
        d.write_budget -= n;
        d.to_guest.insert(d.to_guest.end(), buf, buf + n);
        return static_cast<int>(n);
    }
    static int on_read(SpiceCharDeviceInstance *s, uint8_t *buf, int len) {
        auto &d = of(s);
        ++d.reads;
        const size_t n =
            std::min<size_t>(static_cast<size_t>(len), d.from_guest.size() - d.read_pos);
        std::copy_n(d.from_guest.begin() + static_cast<std::ptrdiff_t>(d.read_pos), n, buf);
        d.read_pos += n;
        return static_cast<int>(n);
    }
    static void on_event(SpiceCharDeviceInstance *s, uint8_t event) {
        of(s).events.push_back(event);
    }
};
static_assert(std::is_standard_layout_v<SpiceCharDeviceInstance>);

bytes noise(size_t n, uint32_t seed = 2463534242u) {
    bytes b(n);
    uint32_t x = seed;
    for (auto &v : b) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v = static_cast<uint8_t>(x >> 11);
    }
    return b;
}

bytes compressible(size_t n) {
    const std::string text = "GET /usb/device/descriptor HTTP/1.1 -- ";
    bytes b(n);
    for (size_t i = 0; i < n; ++i)
        b[i] = static_cast<uint8_t>(text[i % text.size()] + (i / 4096) % 3);
    return b;
}

bytes lz4_of(const bytes &in) {
    bytes out(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
    const int n = LZ4_compress_default(reinterpret_cast<const char *>(in.data()),
                                       reinterpret_cast<char *>(out.data()),
                                       static_cast<int>(in.size()), static_cast<int>(out.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

class spicevmc_channel_test : public ::testing::Test {
  protected:
    void SetUp() override {
        srv = std::make_unique<rs::server>();
        srv->config().set_port(0);
        srv->config().set_addr("127.0.0.1", 0);
        srv->config().set_noauth();
        ASSERT_EQ(srv->init(nullptr), 0);
        port = srv->bound_port();
        set_vm_running(true); // as QEMU does once the VM starts
        connect_main();
    }
    void TearDown() override {
        client.close();
        main.close();
        if (srv) {
            srv->on_control([this] { handlers.clear(); });
            srv->shutdown();
        }
    }

    void connect_main() {
        ASSERT_TRUE(main.connect(port));
        ASSERT_EQ(main.link_and_auth(spice_test_client::main_link()), SPICE_LINK_ERR_OK);
        auto init = main.read_message_of(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        rs::wire::reader r(init->body);
        session = r.u32();
    }
    /// spice_server_vm_start / vm_stop as the shim runs them: the server's
    /// state, then (on start) a wakeup of every device.
    void set_vm_running(bool running) {
        srv->on_control([&] {
            srv->set_vm_running(running);
            if (running)
                for (auto &h : handlers)
                    h->wakeup();
        });
    }
    /// Adds `dev` as the shim does; the handler stays in `handlers`.
    rs::vmc_device *attach(fake_char_device &dev, rs::char_device_kind kind) {
        return srv->on_control([&]() -> rs::vmc_device * {
            auto h = rs::vmc_device::create(*srv, &dev.sin, kind);
            auto *p = h.get();
            if (h) handlers.push_back(std::move(h));
            return p;
        });
    }
    rs::vmc_device *attach_with_policy(fake_char_device &dev, std::string_view filter) {
        auto policy = rs::usb_policy::parse(filter);
        EXPECT_TRUE(policy);
        return srv->on_control([&]() -> rs::vmc_device * {
            auto h =
                rs::vmc_device::create(*srv, &dev.sin, rs::char_device_kind::usbredir, *policy);
            auto *p = h.get();
            if (h) handlers.push_back(std::move(h));
            return p;
        });
    }
    void detach(rs::vmc_device *h) {
        srv->on_control(
            [&] { std::erase_if(handlers, [h](const auto &p) { return p.get() == h; }); });
    }
    void link(spice_test_client &c, uint8_t type, uint8_t id, bool lz4) {
        ASSERT_TRUE(c.connect(port));
        auto m = spice_test_client::link_to(type, id, session);
        if (lz4) m.channel_caps.set(SPICE_SPICEVMC_CAP_DATA_COMPRESS_LZ4);
        ASSERT_EQ(c.link_and_auth(m), SPICE_LINK_ERR_OK);
    }
    /// The guest writes `data`; the VMM tells the server.
    void guest_sends(fake_char_device &dev, rs::vmc_device *h, const bytes &data) {
        srv->on_control([&] {
            dev.from_guest.insert(dev.from_guest.end(), data.begin(), data.end());
            h->wakeup();
        });
    }
    /// Reads DATA / COMPRESSED_DATA until `n` device bytes arrived.
    bytes client_receives(spice_test_client &c, size_t n, size_t *compressed = nullptr) {
        bytes got;
        while (got.size() < n) {
            auto m = c.read_message();
            if (!m) break;
            if (m->type == SPICE_MSG_SPICEVMC_DATA) {
                got.insert(got.end(), m->body.begin(), m->body.end());
            } else if (m->type == SPICE_MSG_SPICEVMC_COMPRESSED_DATA) {
                auto p =
                    rs::parse_spicevmc_client_message(SPICE_MSGC_SPICEVMC_COMPRESSED_DATA, m->body);
                auto *cd = std::get_if<rs::msgc::spicevmc_compressed_data>(&p);
                EXPECT_NE(cd, nullptr);
                if (cd == nullptr) break;
                auto plain = rs::vmc_decompress(*cd);
                EXPECT_TRUE(plain);
                if (!plain) break;
                got.insert(got.end(), plain->begin(), plain->end());
                if (compressed != nullptr) ++*compressed;
            }
        }
        return got;
    }
    /// Polls (on the control shard) until `pred(dev, stats)` holds.
    template <typename P> bool eventually(fake_char_device &dev, rs::vmc_device *h, P pred) {
        for (int i = 0; i < poll_rounds; ++i) {
            if (srv->on_control([&] { return pred(dev, h->stats()); })) return true;
            std::this_thread::sleep_for(poll_step);
        }
        return false;
    }
    bytes to_guest(fake_char_device &dev) {
        return srv->on_control([&] { return dev.to_guest; });
    }
    std::vector<int> states(fake_char_device &dev) {
        return srv->on_control([&] { return dev.states; });
    }
    bool listed(uint8_t type, uint8_t id) {
        return srv->on_control([&] {
            for (const auto &c : srv->channel_list())
                if (c.type == type && c.id == id) return true;
            return false;
        });
    }
    void main_alive() {
        ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
        EXPECT_TRUE(main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST));
    }

    /// A device the fixture owns: it outlives the handlers, which TearDown
    /// removes first, as the VMM frees an instance only after removing it.
    fake_char_device &make(std::string subtype, std::string portname = {},
                           bool notify_writable = true) {
        return *devices.emplace_back(std::make_unique<fake_char_device>(
            std::move(subtype), std::move(portname), notify_writable));
    }

    std::unique_ptr<rs::server> srv;
    std::vector<std::unique_ptr<fake_char_device>> devices;
    std::vector<std::unique_ptr<rs::vmc_device>> handlers;
    int port = 0;
    uint32_t session = 0;
    spice_test_client main;
    spice_test_client client;
};

// ---- channels and ids ----------------------------------------------------------------

TEST_F(spicevmc_channel_test, usbredir_devices_get_their_own_ids_and_advertise_lz4) {
    auto &a = make("usbredir");
    auto &b = make("usbredir");
    auto *ha = attach(a, rs::char_device_kind::usbredir);
    auto *hb = attach(b, rs::char_device_kind::usbredir);
    ASSERT_NE(ha, nullptr);
    ASSERT_NE(hb, nullptr);
    EXPECT_EQ(ha->channel_type(), SPICE_CHANNEL_USBREDIR);
    EXPECT_EQ(ha->channel_id(), 0);
    EXPECT_EQ(hb->channel_id(), 1);
    EXPECT_TRUE(listed(SPICE_CHANNEL_USBREDIR, 0));
    EXPECT_TRUE(listed(SPICE_CHANNEL_USBREDIR, 1));
    link(client, SPICE_CHANNEL_USBREDIR, 1, false);
    ASSERT_TRUE(client.last_reply() && client.last_reply()->body);
    EXPECT_TRUE(client.last_reply()->body->channel_caps.has(SPICE_SPICEVMC_CAP_DATA_COMPRESS_LZ4));
    // A removed device frees its id for the next one.
    detach(ha);
    EXPECT_FALSE(listed(SPICE_CHANNEL_USBREDIR, 0));
    auto &c = make("usbredir");
    auto *hc = attach(c, rs::char_device_kind::usbredir);
    ASSERT_NE(hc, nullptr);
    EXPECT_EQ(hc->channel_id(), 0);
}

TEST_F(spicevmc_channel_test, ports_and_webdav_become_port_and_webdav_channels) {
    auto &p0 = make("port", "org.qemu.test.0");
    auto &p1 = make("port", "org.qemu.test.1");
    auto &dav = make("port", "org.spice-space.webdav.0");
    EXPECT_EQ(attach(p0, rs::char_device_kind::port)->channel_id(), 0);
    EXPECT_EQ(attach(p1, rs::char_device_kind::port)->channel_id(), 1);
    auto *hd = attach(dav, rs::char_device_kind::webdav);
    ASSERT_NE(hd, nullptr);
    EXPECT_EQ(hd->channel_type(), SPICE_CHANNEL_WEBDAV);
    EXPECT_EQ(hd->channel_id(), 0);
    // The webdav channel is a port channel to the client: PORT_INIT first.
    link(client, SPICE_CHANNEL_WEBDAV, 0, false);
    auto init = client.read_message();
    ASSERT_TRUE(init);
    EXPECT_EQ(init->type, SPICE_MSG_PORT_INIT);
    rs::wire::reader r(init->body);
    const uint32_t size = r.u32();
    const uint32_t off = r.u32();
    ASSERT_LE(size_t{off} + size, init->body.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(init->body.data() + off)),
              "org.spice-space.webdav.0");
}

TEST_F(spicevmc_channel_test, kinds_spicevmc_does_not_serve_get_no_channel) {
    auto &sc = make("smartcard");
    auto &st = make("port", "org.spice-space.stream.0");
    EXPECT_EQ(attach(sc, rs::char_device_kind::smartcard), nullptr);
    EXPECT_EQ(attach(st, rs::char_device_kind::stream), nullptr);
    EXPECT_TRUE(srv->on_control([&] { return srv->channel_list().empty(); }));
}

// ---- data both ways ----------------------------------------------------------------

TEST_F(spicevmc_channel_test, bytes_arrive_intact_both_ways_without_lz4) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, /*lz4=*/false);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));
    EXPECT_EQ(states(dev), std::vector<int>{1});

    // Compressible, but this client did not ask for LZ4.
    const auto from_guest = compressible(200'000);
    guest_sends(dev, h, from_guest);
    size_t compressed = 0;
    EXPECT_EQ(client_receives(client, from_guest.size(), &compressed), from_guest);
    EXPECT_EQ(compressed, 0u);

    const auto from_client = noise(150'000);
    for (size_t at = 0; at < from_client.size(); at += 40'000) {
        const auto n = std::min<size_t>(40'000, from_client.size() - at);
        ASSERT_TRUE(
            client.send_message(SPICE_MSGC_SPICEVMC_DATA, std::span(from_client).subspan(at, n)));
    }
    ASSERT_TRUE(
        eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() >= from_client.size(); }));
    EXPECT_EQ(to_guest(dev), from_client);
}

TEST_F(spicevmc_channel_test, bytes_arrive_intact_both_ways_with_lz4) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, /*lz4=*/true);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));

    const auto from_guest = compressible(300'000);
    guest_sends(dev, h, from_guest);
    size_t compressed = 0;
    EXPECT_EQ(client_receives(client, from_guest.size(), &compressed), from_guest);
    EXPECT_GT(compressed, 0u);
    // Short or incompressible data goes as plain DATA even to an LZ4 client.
    const auto small = compressible(rs::vmc_compress_threshold);
    guest_sends(dev, h, small);
    auto m = client.read_message();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->type, SPICE_MSG_SPICEVMC_DATA);
    EXPECT_EQ(m->body, small);

    // The client compresses too: COMPRESSED_DATA decoded into the device.
    bytes expected;
    for (int i = 0; i < 3; ++i) {
        const auto plain = compressible(50'000 + i);
        const auto packed = lz4_of(plain);
        bytes body;
        rs::wire::writer w(body);
        w.u8(SPICE_DATA_COMPRESSION_TYPE_LZ4);
        w.u32(static_cast<uint32_t>(plain.size()));
        w.bytes(packed);
        ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_COMPRESSED_DATA, body));
        expected.insert(expected.end(), plain.begin(), plain.end());
    }
    ASSERT_TRUE(
        eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() >= expected.size(); }));
    EXPECT_EQ(to_guest(dev), expected);
    EXPECT_EQ(srv->on_control([&] { return h->stats().compressed_received; }), 3u);
}

TEST_F(spicevmc_channel_test, the_device_is_not_read_without_a_client) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    const auto early = noise(5000);
    guest_sends(dev, h, early);
    EXPECT_EQ(srv->on_control([&] { return dev.reads; }), 0u);
    // What the guest wrote before the client came goes to that client.
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    EXPECT_EQ(client_receives(client, early.size()), early);
}

TEST_F(spicevmc_channel_test, a_stopped_vm_has_its_device_neither_read_nor_written) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));
    set_vm_running(false);
    const auto reads_before = srv->on_control([&] { return dev.reads; });
    const auto from_guest = noise(3000);
    guest_sends(dev, h, from_guest);
    const auto from_client = noise(2000);
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA, from_client));
    // The client's data reached the server (queued for the device)...
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.to_device_queued > 0; }));
    // ...but the stopped VM's device was not touched.
    EXPECT_EQ(srv->on_control([&] { return dev.reads; }), reads_before);
    EXPECT_TRUE(to_guest(dev).empty());

    set_vm_running(true);
    EXPECT_EQ(client_receives(client, from_guest.size()), from_guest);
    ASSERT_TRUE(
        eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() >= from_client.size(); }));
    EXPECT_EQ(to_guest(dev), from_client);
}

TEST_F(spicevmc_channel_test, large_transfers_complete_with_bounded_queues) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    // A small receive buffer so the client's socket holds little of what the
    // server sends while the test is not reading.
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    const int small = 64 * 1024;
    ASSERT_EQ(setsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));

    // Guest -> client: 8 MiB while the client does not read. The server
    // stops reading the device at the cap: the guest is held back.
    const size_t total = 8 * 1024 * 1024;
    const auto from_guest = noise(total, 7);
    guest_sends(dev, h, from_guest);
    uint64_t last = 0;
    int stable = 0;
    for (int i = 0; i < poll_rounds && stable < 50; ++i) {
        const auto now = srv->on_control([&] { return h->stats().bytes_from_device; });
        stable = now == last ? stable + 1 : 0;
        last = now;
        std::this_thread::sleep_for(poll_step);
    }
    auto s = srv->on_control([&] { return h->stats(); });
    EXPECT_LT(s.bytes_from_device, total) << "the device was drained into memory";
    EXPECT_LE(s.peak_to_client_queued, rs::vmc_queue_cap);
    // Reading resumes as the client drains: everything arrives, in order,
    // with no wakeup from the VMM.
    EXPECT_EQ(client_receives(client, total), from_guest);
    s = srv->on_control([&] { return h->stats(); });
    EXPECT_EQ(s.bytes_from_device, total);
    EXPECT_LE(s.peak_to_client_queued, rs::vmc_queue_cap);

    // Client -> guest: 6 MiB into a device that takes 256 KiB per wakeup.
    // The sender runs on its own thread: the server stops reading its
    // socket while the device's queue is full.
    srv->on_control([&] { dev.write_budget = 0; });
    const auto from_client = noise(6 * 1024 * 1024, 11);
    std::atomic<bool> sent_all{false};
    std::thread sender([&] {
        bool ok = true;
        for (size_t at = 0; ok && at < from_client.size(); at += 60'000) {
            const auto n = std::min<size_t>(60'000, from_client.size() - at);
            ok = client.send_message(SPICE_MSGC_SPICEVMC_DATA,
                                     std::span(from_client).subspan(at, n));
        }
        sent_all = ok;
    });
    bool done = false;
    for (int i = 0; i < 20 * poll_rounds && !done; ++i) {
        done = srv->on_control([&] {
            if (dev.to_guest.size() >= from_client.size()) return true;
            dev.write_budget += 256 * 1024;
            h->wakeup();
            return false;
        });
        if (!done) std::this_thread::sleep_for(1ms);
    }
    sender.join();
    EXPECT_TRUE(sent_all);
    EXPECT_EQ(to_guest(dev), from_client);
    s = srv->on_control([&] { return h->stats(); });
    EXPECT_LE(s.peak_to_device_queued, rs::vmc_queue_cap);
    EXPECT_EQ(s.to_device_queued, 0u);
}

TEST_F(spicevmc_channel_test, a_device_that_takes_nothing_gets_the_data_after_wakeup) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    srv->on_control([&] { dev.write_budget = 0; });
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    const auto data = noise(3000);
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA, data));
    ASSERT_TRUE(eventually(dev, h, [&](auto &, auto s) { return s.to_device_queued == 3000; }));
    EXPECT_TRUE(to_guest(dev).empty());
    // Room for part of it: the rest stays queued.
    srv->on_control([&] {
        dev.write_budget = 1000;
        h->wakeup();
    });
    EXPECT_EQ(to_guest(dev), bytes(data.begin(), data.begin() + 1000));
    EXPECT_EQ(srv->on_control([&] { return h->stats().to_device_queued; }), 2000u);
    srv->on_control([&] {
        dev.write_budget = std::numeric_limits<size_t>::max();
        h->wakeup();
    });
    EXPECT_EQ(to_guest(dev), data);
    EXPECT_EQ(srv->on_control([&] { return h->stats().to_device_queued; }), 0u);
}

TEST_F(spicevmc_channel_test, a_device_without_writable_notification_is_retried) {
    auto &dev = make("usbredir", {}, /*notify_writable=*/false);
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    srv->on_control([&] { dev.write_budget = 0; });
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    const auto data = noise(5000);
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA, data));
    ASSERT_TRUE(eventually(dev, h, [&](auto &, auto s) { return s.to_device_queued == 5000; }));
    // Room appears without a wakeup: the server's retry finds it.
    srv->on_control([&] { dev.write_budget = std::numeric_limits<size_t>::max(); });
    ASSERT_TRUE(eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() == 5000; }));
    EXPECT_EQ(to_guest(dev), data);
}

// ---- port events ------------------------------------------------------------------

TEST_F(spicevmc_channel_test, port_init_and_events_reach_the_client_and_the_vmm) {
    auto &dev = make("port", "org.qemu.test.0");
    auto *h = attach(dev, rs::char_device_kind::port);
    ASSERT_EQ(h->channel_type(), SPICE_CHANNEL_PORT);
    // Opened before any client: remembered for PORT_INIT.
    srv->on_control([&] { h->port_event(SPICE_PORT_EVENT_OPENED); });
    link(client, SPICE_CHANNEL_PORT, 0, false);
    auto init = client.read_message();
    ASSERT_TRUE(init);
    ASSERT_EQ(init->type, SPICE_MSG_PORT_INIT);
    rs::wire::reader r(init->body);
    const uint32_t size = r.u32();
    const uint32_t off = r.u32();
    EXPECT_EQ(r.u8(), 1) << "opened";
    ASSERT_EQ(init->body.size(), size_t{off} + size);
    EXPECT_EQ(std::string(reinterpret_cast<const char *>(init->body.data() + off)),
              "org.qemu.test.0");

    srv->on_control([&] { h->port_event(SPICE_PORT_EVENT_BREAK); });
    auto ev = client.read_message();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->type, SPICE_MSG_PORT_EVENT);
    EXPECT_EQ(ev->body, bytes{SPICE_PORT_EVENT_BREAK});
    srv->on_control([&] { h->port_event(SPICE_PORT_EVENT_CLOSED); });
    ev = client.read_message();
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->body, bytes{SPICE_PORT_EVENT_CLOSED});
    EXPECT_FALSE(srv->on_control([&] { return h->stats().port_opened; }));

    // The client's events go to the VMM's event callback.
    ASSERT_TRUE(client.send_message(SPICE_MSGC_PORT_EVENT, bytes{SPICE_PORT_EVENT_OPENED}));
    ASSERT_TRUE(eventually(dev, h, [](auto &d, auto) { return !d.events.empty(); }));
    EXPECT_EQ(srv->on_control([&] { return dev.events; }),
              std::vector<uint8_t>{SPICE_PORT_EVENT_OPENED});

    // A later client learns the port is closed now.
    spice_test_client late;
    link(late, SPICE_CHANNEL_PORT, 0, false);
    auto init2 = late.read_message();
    ASSERT_TRUE(init2);
    ASSERT_EQ(init2->type, SPICE_MSG_PORT_INIT);
    EXPECT_EQ(init2->body.at(8), 0) << "closed";
}

// ---- malformed messages -------------------------------------------------------------

TEST_F(spicevmc_channel_test, a_malformed_port_event_ends_that_channel_only) {
    auto &dev = make("port", "org.qemu.test.0");
    auto *h = attach(dev, rs::char_device_kind::port);
    link(client, SPICE_CHANNEL_PORT, 0, false);
    ASSERT_TRUE(client.read_message_of(SPICE_MSG_PORT_INIT));
    ASSERT_TRUE(client.send_message(SPICE_MSGC_PORT_EVENT, bytes{1, 2}));
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    EXPECT_TRUE(srv->on_control([&] { return dev.events.empty(); }));
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return !s.connected; }));
    EXPECT_EQ(states(dev), (std::vector<int>{1, 0}));
    main_alive();
}

TEST_F(spicevmc_channel_test, compressed_data_that_does_not_decode_ends_the_channel) {
    auto &dev = make("usbredir");
    attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, true);
    const auto packed = lz4_of(compressible(10'000));
    bytes body;
    rs::wire::writer w(body);
    w.u8(SPICE_DATA_COMPRESSION_TYPE_LZ4);
    w.u32(9'000); // a lie: the output would overflow
    w.bytes(packed);
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_COMPRESSED_DATA, body));
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    EXPECT_TRUE(to_guest(dev).empty());
    main_alive();
}

TEST_F(spicevmc_channel_test, an_oversized_message_ends_the_channel) {
    auto &dev = make("usbredir");
    attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    bytes hdr;
    rs::wire::writer w(hdr);
    rs::mini_header{.type = SPICE_MSGC_SPICEVMC_DATA,
                    .size = static_cast<uint32_t>(rs::vmc_max_client_message + 1)}
        .encode(w);
    ASSERT_TRUE(client.send_raw(hdr));
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    main_alive();
}

// ---- clients come and go ------------------------------------------------------------

TEST_F(spicevmc_channel_test, a_second_client_replaces_the_first) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));
    spice_test_client second;
    link(second, SPICE_CHANNEL_USBREDIR, 0, false);
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.clients == 2 && s.connected; }));
    // The device saw the old client go before the new one came.
    EXPECT_EQ(states(dev), (std::vector<int>{1, 0, 1}));
    const auto data = noise(20'000);
    guest_sends(dev, h, data);
    EXPECT_EQ(client_receives(second, data.size()), data);
    ASSERT_TRUE(second.send_message(SPICE_MSGC_SPICEVMC_DATA, data));
    ASSERT_TRUE(
        eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() == data.size(); }));
    main_alive();
}

TEST_F(spicevmc_channel_test, removing_the_device_ends_its_client_cleanly) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));
    srv->on_control([&] { dev.write_budget = 0; });
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA, noise(100)));
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.to_device_queued == 100; }));
    detach(h);
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    // The device heard of the disconnection before it went, and no more.
    EXPECT_EQ(srv->on_control([&] { return dev.states; }), (std::vector<int>{1, 0}));
    EXPECT_FALSE(listed(SPICE_CHANNEL_USBREDIR, 0));
    // A link to the removed channel is refused; the session lives on.
    spice_test_client late;
    ASSERT_TRUE(late.connect(port));
    ASSERT_TRUE(late.send_link(spice_test_client::link_to(SPICE_CHANNEL_USBREDIR, 0, session)));
    EXPECT_FALSE(late.read_reply());
    main_alive();
}

TEST_F(spicevmc_channel_test, the_device_may_outlive_the_server) {
    auto &dev = make("usbredir");
    auto *h = attach(dev, rs::char_device_kind::usbredir);
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    ASSERT_TRUE(eventually(dev, h, [](auto &, auto s) { return s.connected; }));
    srv->shutdown();
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    srv.reset();
    // The VMM removes the device after destroying the server: the handler
    // must not touch the server any more.
    EXPECT_EQ(dev.states, (std::vector<int>{1, 0}));
    handlers.clear();
    EXPECT_EQ(dev.states, (std::vector<int>{1, 0}));
}

// ---- USB device policy ---------------------------------------------------------------

TEST_F(spicevmc_channel_test, a_usb_device_outside_the_policy_never_reaches_the_guest) {
    using namespace rs::testing;
    auto &dev = make("usbredir");
    auto *h = attach_with_policy(dev, "-1,0x1234,0x5678,-1,1|-1,-1,-1,-1,0");
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    // The guest's hello goes to the client; the client's hello to the guest.
    const auto guest_hello = usb_hello("qemu usb-redir guest");
    guest_sends(dev, h, guest_hello);
    EXPECT_EQ(client_receives(client, guest_hello.size()), guest_hello);
    const auto host_hello = usb_hello("spice-gtk usbredir host");
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA, host_hello));
    ASSERT_TRUE(
        eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() == host_hello.size(); }));
    // A mass-storage device the policy does not allow.
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA,
                                    usb_interface_info({0x08}, true) +
                                        usb_device_connect(0, 0xdead, 0xbeef, true)));
    auto notify = client.read_message_of(SPICE_MSG_NOTIFY);
    ASSERT_TRUE(notify);
    const std::string text(notify->body.begin() + 24, notify->body.end());
    EXPECT_NE(text.find("dead:beef"), std::string::npos) << text;
    EXPECT_EQ(client.wait_closed(), read_status::closed);
    EXPECT_EQ(to_guest(dev), host_hello);
    EXPECT_EQ(srv->on_control([&] { return h->stats().usb_devices_refused; }), 1u);
    main_alive();
}

TEST_F(spicevmc_channel_test, a_usb_device_inside_the_policy_is_redirected) {
    using namespace rs::testing;
    auto &dev = make("usbredir");
    auto *h = attach_with_policy(dev, "-1,0x1234,0x5678,-1,1|-1,-1,-1,-1,0");
    link(client, SPICE_CHANNEL_USBREDIR, 0, false);
    const auto guest_hello = usb_hello("qemu usb-redir guest");
    guest_sends(dev, h, guest_hello);
    EXPECT_EQ(client_receives(client, guest_hello.size()), guest_hello);
    const auto stream = usb_hello("spice-gtk usbredir host") + usb_interface_info({0x03}, true) +
                        usb_device_connect(0, 0x1234, 0x5678, true) +
                        usb_packet(usb_redir_interrupt_packet, usb_bytes(8, 1), true, 5);
    ASSERT_TRUE(client.send_message(SPICE_MSGC_SPICEVMC_DATA, stream));
    ASSERT_TRUE(
        eventually(dev, h, [&](auto &d, auto) { return d.to_guest.size() == stream.size(); }));
    EXPECT_EQ(to_guest(dev), stream);
    EXPECT_EQ(srv->on_control([&] { return h->stats().usb_devices_refused; }), 0u);
    EXPECT_TRUE(srv->on_control([&] { return h->stats().connected; }));
}

} // namespace
