// Clients that vanish early while the guest draws (issue 9), through
// libspice-server.so.1 as QEMU loads it. The reference library takes QEMU
// down on a few percent of clients that disconnect before the display
// channel's first MARK; this is that race, run a few hundred times.
//
// The specification: each of 300 clients links main and display and goes
// away at a random point — during either link, right after the display
// link, before, at or just after the MARK, in the middle of a server
// message, in the middle of a message of its own — by FIN or by RST, while
// the QXL device keeps drawing. Afterwards no session is left, the device
// still takes the guest's commands, and a full client gets the primary
// surface, the MARK and the drawing that follows.
#include "shim/vmm_loop.hpp"

#include <gtest/gtest.h>

#include <cstdio>

#include <spice/enums.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rs::testing::link_channel;
using rs::testing::link_main;
using rs::testing::qxl_guest;
using rs::testing::shim_server;
using rs::testing::spice_test_client;
using rs::testing::vmm_loop;

constexpr int clients = 300;
constexpr uint32_t side = 128;

/// Where a client goes away.
enum class cut : uint8_t {
    main_link_partial,    ///< part of the main link request
    main_linked,          ///< main linked, nothing else
    display_link_partial, ///< main linked, part of the display link request
    display_linked,       ///< right after the display link result
    display_messages,     ///< after reading 0..6 display messages (around MARK)
    mid_server_message,   ///< part-way through a server message
    mid_client_message,   ///< part-way through a message of its own
    main_first,           ///< main closes while display is linked and unread
    count,
};

std::vector<uint8_t> link_bytes(const rs::link::message &m) {
    std::vector<uint8_t> out;
    rs::wire::writer w(out);
    rs::link::encode_link_request(w, m);
    return out;
}

/// Closes by RST or FIN.
void leave(spice_test_client &c, bool rst) {
    if (rst)
        c.reset();
    else
        c.close();
}

/// One client that goes away at `where`; returns whether every step before
/// the cut went as the protocol says (a refused link would make the test
/// exercise nothing).
bool vanishing_client(int port, cut where, std::mt19937 &rng) {
    const bool rst = (rng() & 1) != 0;
    spice_test_client main_c, display_c;
    // Generous: CI runs this beside QEMU and browser tests on 2 cores.
    main_c.set_timeout(10s);
    display_c.set_timeout(10s);
    if (where == cut::main_link_partial) {
        if (!main_c.connect(port)) return false;
        const auto b = link_bytes(spice_test_client::main_link());
        (void)main_c.send_raw(std::span(b).first(rng() % b.size()));
        leave(main_c, rst);
        return true;
    }
    const uint32_t sid = link_main(main_c, port);
    if (sid == 0) return false;
    if (where == cut::main_linked) {
        leave(main_c, rst);
        return true;
    }
    if (where == cut::display_link_partial) {
        if (!display_c.connect(port)) return false;
        const auto b = link_bytes(spice_test_client::link_to(SPICE_CHANNEL_DISPLAY, 0, sid));
        (void)display_c.send_raw(std::span(b).first(1 + rng() % (b.size() - 1)));
        leave(display_c, rst);
        leave(main_c, (rng() & 1) != 0);
        return true;
    }
    if (!link_channel(display_c, port, SPICE_CHANNEL_DISPLAY, 0, sid)) return false;
    switch (where) {
    case cut::display_linked:
        break;
    case cut::display_messages:
        for (uint32_t n = rng() % 7; n > 0; --n)
            if (!display_c.read_message()) return false;
        break;
    case cut::mid_server_message: {
        std::array<uint8_t, 5> part{}; // a mini header is 6 bytes
        if (display_c.read_exact(std::span(part).first(1 + rng() % part.size())) !=
            rs::testing::read_status::ok)
            return false;
        break;
    }
    case cut::mid_client_message: {
        // DISPLAY_INIT announces 14 bytes; send the header and a few.
        std::vector<uint8_t> m;
        rs::wire::writer w(m);
        rs::mini_header{.type = SPICE_MSGC_DISPLAY_INIT, .size = 14}.encode(w);
        for (int i = 0; i < 14; ++i)
            w.u8(0);
        (void)display_c.send_raw(std::span(m).first(1 + rng() % (m.size() - 1)));
        break;
    }
    case cut::main_first:
        leave(main_c, rst);
        break;
    default:
        break;
    }
    if ((rng() & 1) != 0) {
        leave(display_c, rst);
        leave(main_c, !rst);
    } else {
        leave(main_c, !rst);
        leave(display_c, rst);
    }
    return true;
}

TEST(FastDisconnect, ThreeHundredClientsVanishWhileTheGuestDraws) {
    qxl_guest guest(0, side);
    vmm_loop vmm;
    shim_server srv(vmm);
    ASSERT_TRUE(srv.ok());
    spice_server_vm_start(srv.get());
    ASSERT_EQ(guest.add(srv.get()), 0);

    // The guest draws on every turn of the VMM's loop, so display clients
    // link, start and leave while drawables are being broadcast.
    uint32_t colour = 0;
    auto draw = [&] {
        ++colour;
        (void)guest.draw(static_cast<int32_t>(colour * 7 % side),
                         static_cast<int32_t>(colour * 13 % side), 16, colour);
    };

    std::array<int, static_cast<size_t>(cut::count)> cuts{};
    int refused = 0;
    vmm.run(
        [&] {
            std::mt19937 rng(0x5eed);
            for (int i = 0; i < clients; ++i) {
                const auto where = static_cast<cut>(rng() % static_cast<uint32_t>(cut::count));
                ++cuts[static_cast<size_t>(where)];
                if (!vanishing_client(srv.port(), where, rng)) {
                    ++refused;
                    std::fprintf(stderr, "client %d: a step before cut %d failed\n", i,
                                 static_cast<int>(where));
                }
            }
        },
        draw);
    EXPECT_EQ(refused, 0) << "some links failed before their cut: the cuts were not exercised";
    for (size_t i = 0; i < cuts.size(); ++i)
        EXPECT_GT(cuts[i], 0) << "cut " << i << " never ran";

    // Every session ends: nothing is left behind by the vanished clients.
    EXPECT_TRUE(vmm.pump_until([&] { return spice_server_get_num_clients(srv.get()) == 0; }, 10s));

    // The device still takes the guest's commands.
    const uint64_t taken = guest.rings().display_taken();
    ASSERT_TRUE(vmm.pump_until([&] {
        draw();
        return guest.rings().display_taken() > taken + 10;
    }));

    // A full client: the primary, the MARK, then the drawing that follows.
    spice_test_client main_c, display_c;
    uint32_t width = 0;
    bool marked = false;
    int fills_after_mark = 0;
    vmm.run(
        [&] {
            const uint32_t sid = link_main(main_c, srv.port());
            if (sid == 0 || !link_channel(display_c, srv.port(), SPICE_CHANNEL_DISPLAY, 0, sid))
                return;
            while (auto m = display_c.read_message()) {
                if (m->type == SPICE_MSG_DISPLAY_SURFACE_CREATE && m->body.size() >= 8) {
                    rs::wire::reader r(m->body);
                    (void)r.u32();
                    width = r.u32();
                }
                if (m->type == SPICE_MSG_DISPLAY_MARK) marked = true;
                if (marked && m->type == SPICE_MSG_DISPLAY_DRAW_FILL && ++fills_after_mark == 5)
                    break;
            }
        },
        draw);
    EXPECT_EQ(width, side);
    EXPECT_TRUE(marked);
    EXPECT_EQ(fills_after_mark, 5);
    EXPECT_EQ(spice_server_get_num_clients(srv.get()), 1);
    EXPECT_EQ(guest.remove(), 0);
}

} // namespace
