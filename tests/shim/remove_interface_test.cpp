// spice_server_remove_interface while clients are connected (issue 9), through
// libspice-server.so.1 as a VMM calls it: QEMU hot-unplugs a QXL device or a
// tablet whenever the user asks, whoever is watching.
//
// The specification: the call returns 0; the removed device's channels end
// cleanly for their clients (display and cursor sockets close; the inputs
// channel stays, as it serves the keyboard and mouse too); the main channel
// stays up and stops listing the removed channels; the removed instance is
// never called again; and a new instance added later works and new clients
// see it.
#include "shim/vmm_loop.hpp"

#include <gtest/gtest.h>

#include <spice/enums.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using rs::testing::ask_channels;
using rs::testing::link_channel;
using rs::testing::link_main;
using rs::testing::qxl_guest;
using rs::testing::read_status;
using rs::testing::shim_server;
using rs::testing::spice_test_client;
using rs::testing::vmm_loop;

using channel_list = std::vector<std::pair<uint8_t, uint8_t>>;

bool lists(const std::optional<channel_list> &l, uint8_t type, uint8_t id) {
    return l && std::find(l->begin(), l->end(), std::make_pair(type, id)) != l->end();
}

/// What a display client reads up to its first MARK: the surface it was
/// told to create (width, 0 if none) and whether the MARK came.
struct display_start {
    uint32_t primary_width = 0;
    bool marked = false;
};

display_start read_until_mark(spice_test_client &c) {
    display_start out;
    while (auto m = c.read_message()) {
        if (m->type == SPICE_MSG_DISPLAY_SURFACE_CREATE && m->body.size() >= 8) {
            rs::wire::reader r(m->body);
            (void)r.u32(); // surface id
            out.primary_width = r.u32();
        }
        if (m->type == SPICE_MSG_DISPLAY_MARK) {
            out.marked = true;
            break;
        }
    }
    return out;
}

TEST(RemoveInterface, QxlWithDisplayAndCursorClientsThenANewQxl) {
    // The VMM's devices outlive the server, as in QEMU.
    auto first = std::make_unique<qxl_guest>(0, 64);
    qxl_guest second(0, 96);
    vmm_loop vmm;
    shim_server srv(vmm);
    ASSERT_TRUE(srv.ok());
    spice_server_vm_start(srv.get());
    ASSERT_EQ(first->add(srv.get()), 0);

    spice_test_client main_c, display_c, cursor_c;
    uint32_t sid = 0;
    display_start before;
    bool cursor_init = false;
    std::optional<channel_list> listed_before;
    vmm.run([&] {
        sid = link_main(main_c, srv.port());
        if (sid == 0) return;
        listed_before = ask_channels(main_c);
        if (!link_channel(display_c, srv.port(), SPICE_CHANNEL_DISPLAY, 0, sid)) return;
        before = read_until_mark(display_c);
        if (!link_channel(cursor_c, srv.port(), SPICE_CHANNEL_CURSOR, 0, sid)) return;
        cursor_init = cursor_c.read_message_of(SPICE_MSG_CURSOR_INIT).has_value();
    });
    ASSERT_NE(sid, 0u);
    EXPECT_TRUE(lists(listed_before, SPICE_CHANNEL_DISPLAY, 0));
    EXPECT_TRUE(lists(listed_before, SPICE_CHANNEL_CURSOR, 0));
    ASSERT_TRUE(before.marked);
    EXPECT_EQ(before.primary_width, 64u);
    ASSERT_TRUE(cursor_init);
    // The device is drawing while it goes away.
    for (int i = 0; i < 20; ++i)
        ASSERT_TRUE(first->draw(i * 3, i * 2, 8, 0x00ff0000u + static_cast<uint32_t>(i)));

    EXPECT_EQ(first->remove(), 0);
    const uint64_t taken_at_removal = first->rings().display_taken();

    read_status display_end = read_status::ok, cursor_end = read_status::ok;
    std::optional<channel_list> listed_after;
    vmm.run([&] {
        display_c.set_timeout(5s);
        cursor_c.set_timeout(5s);
        display_end = display_c.wait_closed();
        cursor_end = cursor_c.wait_closed();
        listed_after = ask_channels(main_c);
    });
    EXPECT_EQ(display_end, read_status::closed) << "the display channel did not end";
    EXPECT_EQ(cursor_end, read_status::closed) << "the cursor channel did not end";
    ASSERT_TRUE(listed_after.has_value()) << "the main channel went down with the device";
    EXPECT_FALSE(lists(listed_after, SPICE_CHANNEL_DISPLAY, 0));
    EXPECT_FALSE(lists(listed_after, SPICE_CHANNEL_CURSOR, 0));
    EXPECT_EQ(spice_server_get_num_clients(srv.get()), 1);

    // The removed device is never asked for commands again, even when
    // poked (a VMM racing its own unplug): its calls are refused.
    ASSERT_TRUE(first->draw(0, 0, 4, 0xffu));
    spice_qxl_wakeup(first->instance());
    vmm.pump_until([] { return false; }, 50ms);
    EXPECT_EQ(first->rings().display_taken(), taken_at_removal);

    // A new device (a different size, so its picture is told apart).
    ASSERT_EQ(second.add(srv.get()), 0);
    ASSERT_TRUE(second.draw(10, 10, 20, 0x0000ff00u));
    std::optional<channel_list> listed_again;
    display_start again, fresh;
    spice_test_client display2, main3, display3;
    vmm.run([&] {
        listed_again = ask_channels(main_c);
        // The client that stayed connected links the new display.
        if (link_channel(display2, srv.port(), SPICE_CHANNEL_DISPLAY, 0, sid))
            again = read_until_mark(display2);
    });
    EXPECT_TRUE(lists(listed_again, SPICE_CHANNEL_DISPLAY, 0));
    EXPECT_TRUE(again.marked);
    EXPECT_EQ(again.primary_width, 96u);
    EXPECT_TRUE(second.rings().wait_until_taken(5s));

    // And a new client, after the first leaves.
    vmm.run([&] {
        display2.close();
        main_c.close();
        display_c.close();
        cursor_c.close();
    });
    ASSERT_TRUE(vmm.pump_until([&] { return spice_server_get_num_clients(srv.get()) == 0; }));
    vmm.run([&] {
        const uint32_t sid3 = link_main(main3, srv.port());
        if (sid3 != 0 && link_channel(display3, srv.port(), SPICE_CHANNEL_DISPLAY, 0, sid3))
            fresh = read_until_mark(display3);
    });
    EXPECT_TRUE(fresh.marked);
    EXPECT_EQ(fresh.primary_width, 96u);
    EXPECT_EQ(second.remove(), 0);
    first.reset(); // the VMM frees the removed instance: nothing may touch it
}

// ---- the tablet ------------------------------------------------------------------

/// A tablet whose callbacks count what reaches it. The library calls it on
/// the loop's thread.
struct counting_tablet {
    SpiceTabletInstance sin{};
    std::atomic<int> positions{0};
    std::atomic<int> last_x{-1};

    counting_tablet() { sin.base.sif = &table().base; }

    static counting_tablet &of(SpiceTabletInstance *t) {
        return *reinterpret_cast<counting_tablet *>(reinterpret_cast<char *>(t) -
                                                    offsetof(counting_tablet, sin));
    }
    static const SpiceTabletInterface &table() {
        static const SpiceTabletInterface i = [] {
            SpiceTabletInterface x{};
            x.base.type = SPICE_INTERFACE_TABLET;
            x.base.description = "counting tablet";
            x.base.major_version = SPICE_INTERFACE_TABLET_MAJOR;
            x.base.minor_version = SPICE_INTERFACE_TABLET_MINOR;
            x.set_logical_size = [](SpiceTabletInstance *, int, int) {};
            x.position = [](SpiceTabletInstance *t, int px, int, uint32_t) {
                ++of(t).positions;
                of(t).last_x = px;
            };
            x.wheel = [](SpiceTabletInstance *, int, uint32_t) {};
            x.buttons = [](SpiceTabletInstance *, uint32_t) {};
            return x;
        }();
        return i;
    }
};

std::vector<uint8_t> position_body(uint32_t x, uint32_t y) {
    std::vector<uint8_t> b;
    rs::wire::writer w(b);
    w.u32(x);
    w.u32(y);
    w.u16(0); // buttons
    w.u8(0);  // display
    return b;
}

/// Sends SPICE_INPUT_MOTION_ACK_BUNCH positions at (x, x) and reads the
/// MOTION_ACK they earn: once it arrives, the server has handled all of
/// them. False if the inputs channel is gone.
bool positions_handled(spice_test_client &inputs_c, uint32_t x) {
    for (int i = 0; i < SPICE_INPUT_MOTION_ACK_BUNCH; ++i)
        if (!inputs_c.send_message(SPICE_MSGC_INPUTS_MOUSE_POSITION, position_body(x, x)))
            return false;
    return inputs_c.read_message_of(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK).has_value();
}

/// The supported modes of the next MAIN_MOUSE_MODE message, or 0.
uint32_t next_supported_modes(spice_test_client &main_c) {
    auto m = main_c.read_message_of(SPICE_MSG_MAIN_MOUSE_MODE);
    if (!m || m->body.size() < 2) return 0;
    rs::wire::reader r(m->body);
    return r.u16();
}

bool request_client_mode(spice_test_client &main_c) {
    std::vector<uint8_t> b;
    rs::wire::writer w(b);
    w.u16(SPICE_MOUSE_MODE_CLIENT);
    return main_c.send_message(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST, b);
}

TEST(RemoveInterface, TabletWithAnInputsClientThenANewTablet) {
    // The VMM's devices outlive the server, as in QEMU.
    qxl_guest qxl(0, 64); // client mouse mode needs a primary surface
    counting_tablet second;
    vmm_loop vmm;
    shim_server srv(vmm);
    ASSERT_TRUE(srv.ok());
    spice_server_vm_start(srv.get());
    ASSERT_EQ(qxl.add(srv.get()), 0);
    auto first = std::make_unique<counting_tablet>();
    ASSERT_EQ(spice_server_add_interface(srv.get(), &first->sin.base), 0);

    spice_test_client main_c, inputs_c;
    uint32_t sid = 0;
    bool handled = false;
    vmm.run([&] {
        sid = link_main(main_c, srv.port());
        if (sid == 0 || !request_client_mode(main_c)) return;
        (void)main_c.read_message_of(SPICE_MSG_MAIN_MOUSE_MODE);
        handled = link_channel(inputs_c, srv.port(), SPICE_CHANNEL_INPUTS, 0, sid) &&
                  positions_handled(inputs_c, 10);
    });
    ASSERT_NE(sid, 0u);
    ASSERT_TRUE(handled);
    ASSERT_EQ(first->positions.load(), SPICE_INPUT_MOTION_ACK_BUNCH)
        << "client mouse mode did not reach the tablet";
    EXPECT_EQ(spice_server_is_server_mouse(srv.get()), 0);

    EXPECT_EQ(spice_server_remove_interface(&first->sin.base), 0);
    EXPECT_EQ(spice_server_is_server_mouse(srv.get()), 1);

    uint32_t supported_after = 0;
    bool handled_after = false;
    vmm.run([&] {
        supported_after = next_supported_modes(main_c);
        handled_after = positions_handled(inputs_c, 20);
    });
    EXPECT_EQ(supported_after, uint32_t{SPICE_MOUSE_MODE_SERVER})
        << "the main channel did not say client mode is gone";
    EXPECT_TRUE(handled_after) << "the inputs channel ended with the tablet";
    EXPECT_EQ(first->positions.load(), SPICE_INPUT_MOTION_ACK_BUNCH)
        << "the removed tablet was still called";
    first.reset(); // the VMM frees the removed tablet: nothing may touch it

    ASSERT_EQ(spice_server_add_interface(srv.get(), &second.sin.base), 0);
    uint32_t supported_again = 0;
    bool handled_again = false;
    vmm.run([&] {
        supported_again = next_supported_modes(main_c);
        if (!request_client_mode(main_c)) return;
        (void)main_c.read_message_of(SPICE_MSG_MAIN_MOUSE_MODE);
        handled_again = positions_handled(inputs_c, 30);
    });
    EXPECT_NE(supported_again & SPICE_MOUSE_MODE_CLIENT, 0u);
    ASSERT_TRUE(handled_again);
    EXPECT_EQ(second.positions.load(), SPICE_INPUT_MOTION_ACK_BUNCH);
    EXPECT_EQ(second.last_x.load(), 30);

    EXPECT_EQ(spice_server_remove_interface(&second.sin.base), 0);
    EXPECT_EQ(qxl.remove(), 0);
}

} // namespace
