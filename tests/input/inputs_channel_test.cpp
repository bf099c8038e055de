// The inputs channel of a real rs::server on loopback, driven by the in-repo
// raw client, with fake SpiceKbd/SpiceMouse/SpiceTablet instances (the real
// <spice.h> structs with our own interface tables): what reaches the VMM, in
// which order and on which thread, what comes back to the client, and that
// a bad inputs message ends only the inputs channel.
#include "input/inputs_channel.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reds/server.hpp"
#include "support/spice_test_client.hpp"

namespace {

using namespace std::chrono_literals;
using rs::testing::read_status;
using rs::testing::spice_test_client;
using bytes = std::vector<uint8_t>;

/// What the fake devices were told, from the control shard's thread.
struct recorder {
    std::mutex mu;
    std::condition_variable cv;
    bytes scans;
    std::vector<std::string> calls; // mouse, tablet
    std::vector<std::thread::id> threads;
    uint8_t leds = 0;

    void add_call(std::string c) {
        std::lock_guard l(mu);
        calls.push_back(std::move(c));
        threads.push_back(std::this_thread::get_id());
        cv.notify_all();
    }
    template <typename P> bool wait(P pred) {
        std::unique_lock l(mu);
        return cv.wait_for(l, 5s, pred);
    }
};

recorder *g_rec = nullptr;

void kbd_push_scan(SpiceKbdInstance *, uint8_t frag) {
    std::lock_guard l(g_rec->mu);
    g_rec->scans.push_back(frag);
    g_rec->threads.push_back(std::this_thread::get_id());
    g_rec->cv.notify_all();
}
uint8_t kbd_get_leds(SpiceKbdInstance *) {
    std::lock_guard l(g_rec->mu);
    return g_rec->leds;
}
void mouse_motion(SpiceMouseInstance *, int dx, int dy, int dz, uint32_t b) {
    g_rec->add_call(fmt::format("motion {} {} {} {}", dx, dy, dz, b));
}
void mouse_buttons(SpiceMouseInstance *, uint32_t b) {
    g_rec->add_call(fmt::format("buttons {}", b));
}
void tablet_size(SpiceTabletInstance *, int w, int h) {
    g_rec->add_call(fmt::format("tablet size {} {}", w, h));
}
void tablet_position(SpiceTabletInstance *, int x, int y, uint32_t b) {
    g_rec->add_call(fmt::format("tablet position {} {} {}", x, y, b));
}
void tablet_wheel(SpiceTabletInstance *, int dz, uint32_t b) {
    g_rec->add_call(fmt::format("tablet wheel {} {}", dz, b));
}
void tablet_buttons(SpiceTabletInstance *, uint32_t b) {
    g_rec->add_call(fmt::format("tablet buttons {}", b));
}

const SpiceKbdInterface kbd_sif = {
    {SPICE_INTERFACE_KEYBOARD, "fake keyboard", SPICE_INTERFACE_KEYBOARD_MAJOR,
     SPICE_INTERFACE_KEYBOARD_MINOR},
    kbd_push_scan,
    kbd_get_leds,
};
const SpiceMouseInterface mouse_sif = {
    {SPICE_INTERFACE_MOUSE, "fake mouse", SPICE_INTERFACE_MOUSE_MAJOR, SPICE_INTERFACE_MOUSE_MINOR},
    mouse_motion,
    mouse_buttons,
};
const SpiceTabletInterface tablet_sif = {
    {SPICE_INTERFACE_TABLET, "fake tablet", SPICE_INTERFACE_TABLET_MAJOR,
     SPICE_INTERFACE_TABLET_MINOR},
    tablet_size,
    tablet_position,
    tablet_wheel,
    tablet_buttons,
};
// The registry reads only the base of these; nothing calls into them.
const SpiceBaseInterface qxl_sif = {SPICE_INTERFACE_QXL, "fake qxl", SPICE_INTERFACE_QXL_MAJOR,
                                    SPICE_INTERFACE_QXL_MINOR};
const SpiceBaseInterface char_sif = {SPICE_INTERFACE_CHAR_DEVICE, "fake vdagent",
                                     SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
                                     SPICE_INTERFACE_CHAR_DEVICE_MINOR};

bytes u16_body(uint16_t v) {
    bytes b;
    rs::wire::writer w(b);
    w.u16(v);
    return b;
}
bytes u32_body(uint32_t v) {
    bytes b;
    rs::wire::writer w(b);
    w.u32(v);
    return b;
}
bytes motion_body(int32_t dx, int32_t dy, uint16_t buttons) {
    bytes b;
    rs::wire::writer w(b);
    w.i32(dx);
    w.i32(dy);
    w.u16(buttons);
    return b;
}
bytes position_body(uint32_t x, uint32_t y, uint16_t buttons, uint8_t display) {
    bytes b;
    rs::wire::writer w(b);
    w.u32(x);
    w.u32(y);
    w.u16(buttons);
    w.u8(display);
    return b;
}
bytes button_body(uint8_t button, uint16_t buttons) {
    bytes b;
    rs::wire::writer w(b);
    w.u8(button);
    w.u16(buttons);
    return b;
}

class inputs_channel_test : public ::testing::Test {
  protected:
    void SetUp() override {
        g_rec = &rec;
        kbd.base.sif = &kbd_sif.base;
        mouse.base.sif = &mouse_sif.base;
        tablet.base.sif = &tablet_sif.base;
        qxl.base.sif = &qxl_sif;
        agent.base.sif = &char_sif;
        agent.subtype = "vdagent";
        srv.config().set_port(0);
        srv.config().set_addr("127.0.0.1", 0);
        srv.config().set_noauth();
        ASSERT_EQ(srv.init(nullptr), 0);
        port = srv.bound_port();
        control_thread = srv.on_control([this] {
            EXPECT_EQ(srv.interfaces().add_interface(&kbd.base), 0);
            EXPECT_EQ(srv.interfaces().add_interface(&mouse.base), 0);
            ch = &rs::inputs_channel::ensure(srv);
            ch->set_modifiers_ttl(100ms);
            return std::this_thread::get_id();
        });
    }
    void TearDown() override {
        main.close();
        inputs.close();
        srv.shutdown();
        g_rec = nullptr;
    }

    void connect_main() {
        ASSERT_TRUE(main.connect(port));
        ASSERT_EQ(main.link_and_auth(spice_test_client::main_link()), SPICE_LINK_ERR_OK);
        auto init = main.read_message_of(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init);
        rs::wire::reader r(init->body);
        session = r.u32();
    }
    /// Links `c` to inputs 0 of the session; returns the INIT body.
    bytes connect_inputs(spice_test_client &c) {
        EXPECT_TRUE(c.connect(port));
        EXPECT_EQ(c.link_and_auth(spice_test_client::link_to(SPICE_CHANNEL_INPUTS, 0, session)),
                  SPICE_LINK_ERR_OK);
        auto init = c.read_message_of(SPICE_MSG_INPUTS_INIT);
        EXPECT_TRUE(init);
        return init ? init->body : bytes{};
    }
    void connect_both() {
        connect_main();
        connect_inputs(inputs);
    }

    /// Everything sent on `c` before this has been handled once it returns:
    /// a release byte for an unused key goes through and is dropped again.
    void barrier(spice_test_client &c) {
        ASSERT_TRUE(c.send_message(SPICE_MSGC_INPUTS_KEY_SCANCODE, bytes{0xFF}));
        ASSERT_TRUE(rec.wait([&] { return !rec.scans.empty() && rec.scans.back() == 0xFF; }));
        std::lock_guard l(rec.mu);
        rec.scans.pop_back();
        rec.threads.pop_back();
    }
    bytes scans() {
        std::lock_guard l(rec.mu);
        return rec.scans;
    }
    std::vector<std::string> calls() {
        std::lock_guard l(rec.mu);
        return rec.calls;
    }
    void clear() {
        std::lock_guard l(rec.mu);
        rec.scans.clear();
        rec.calls.clear();
    }
    bool wait_scans(size_t n) {
        return rec.wait([&] { return rec.scans.size() >= n; });
    }
    /// Reads MAIN_MOUSE_MODE messages until one says `current`.
    std::optional<std::pair<uint16_t, uint16_t>> main_mouse_mode(uint16_t current) {
        while (auto m = main.read_message_of(SPICE_MSG_MAIN_MOUSE_MODE)) {
            rs::wire::reader r(m->body);
            const uint16_t supported = r.u16();
            const uint16_t cur = r.u16();
            if (cur == current) return std::pair{supported, cur};
        }
        return std::nullopt;
    }
    /// A tablet, one QXL, one display channel and the display's consent:
    /// client mode is allowed; then the client asks for it, as spice-gtk does.
    void enter_client_mode_with_tablet() {
        srv.on_control([this] {
            EXPECT_EQ(srv.interfaces().add_interface(&tablet.base), 0);
            EXPECT_EQ(srv.interfaces().add_interface(&qxl.base), 0);
            srv.register_channel(rs::channel_service{
                .type = SPICE_CHANNEL_DISPLAY,
                .id = 0,
                .channel_caps = {},
                .serve = [](std::unique_ptr<rs::stream>, rs::channel_link,
                            rs::session &) -> rs::task<void> { co_return; },
            });
            srv.set_client_mouse_allowed(true, 1024, 768);
        });
        request_client_mode();
    }
    void request_client_mode() {
        ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST,
                                      u16_body(SPICE_MOUSE_MODE_CLIENT)));
        auto mm = main_mouse_mode(SPICE_MOUSE_MODE_CLIENT);
        ASSERT_TRUE(mm);
        EXPECT_EQ(mm->first, SPICE_MOUSE_MODE_SERVER | SPICE_MOUSE_MODE_CLIENT);
        EXPECT_FALSE(srv.is_server_mouse());
    }

    recorder rec;
    rs::server srv;
    SpiceKbdInstance kbd{};
    SpiceMouseInstance mouse{};
    SpiceTabletInstance tablet{};
    QXLInstance qxl{};
    SpiceCharDeviceInstance agent{};
    rs::inputs_channel *ch = nullptr;
    std::thread::id control_thread;
    int port = 0;
    uint32_t session = 0;
    spice_test_client main;
    spice_test_client inputs;
};

TEST_F(inputs_channel_test, is_listed_advertises_key_scancode_and_init_carries_get_leds) {
    rec.leds = SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK | SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK;
    connect_main();
    ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    auto list = main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->body, (bytes{1, 0, 0, 0, SPICE_CHANNEL_INPUTS, 0}));

    EXPECT_EQ(connect_inputs(inputs), (bytes{0x06, 0x00}));
    ASSERT_TRUE(inputs.last_reply() && inputs.last_reply()->body);
    EXPECT_TRUE(inputs.last_reply()->body->channel_caps.has(SPICE_INPUTS_CAP_KEY_SCANCODE));
}

TEST_F(inputs_channel_test, scancodes_reach_the_keyboard_in_order_on_the_loop_thread) {
    connect_both();
    // A, then the up arrow (E0 48) as KEY_DOWN/KEY_UP codes, least
    // significant byte first; then Pause both ways it can arrive.
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x1E));
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_UP, u32_body(0x9E));
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x48E0));
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_UP, u32_body(0xC8E0));
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_SCANCODE, bytes{0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5});
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x451DE1));
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_UP, u32_body(0xC59DE1));
    const bytes want{0x1E, 0x9E, 0xE0, 0x48, 0xE0, 0xC8, 0xE1, 0x1D, 0x45,
                     0xE1, 0x9D, 0xC5, 0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5};
    ASSERT_TRUE(wait_scans(want.size()));
    EXPECT_EQ(scans(), want);
    std::lock_guard l(rec.mu);
    for (auto id : rec.threads)
        EXPECT_EQ(id, control_thread);
    // Pause's 45 is no Num Lock: the modifiers did not change.
    EXPECT_EQ(ch->modifiers(), 0);
}

TEST_F(inputs_channel_test, keys_held_when_the_client_leaves_are_released) {
    connect_both();
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x1E));                    // A
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x48E0));                  // up arrow
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_SCANCODE, bytes{0xE0, 0x1D, 0x10, 0x90}); // rctrl, q
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_SCANCODE, bytes{0xE1, 0x1D, 0x45});       // Pause
    ASSERT_TRUE(wait_scans(10));
    clear();
    inputs.close();
    ASSERT_TRUE(wait_scans(5));
    EXPECT_EQ(scans(), (bytes{0x9E, 0xE0, 0x9D, 0xE0, 0xC8}));

    // Only the inputs channel ended: the session links a new one.
    ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    EXPECT_TRUE(main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST));
    spice_test_client again;
    EXPECT_EQ(connect_inputs(again).size(), 2u);
}

TEST_F(inputs_channel_test, the_session_ending_ends_inputs_and_releases_keys) {
    connect_both();
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x4BE0)); // left arrow
    ASSERT_TRUE(wait_scans(2));
    clear();
    main.close();
    EXPECT_EQ(inputs.wait_closed(), read_status::closed);
    ASSERT_TRUE(wait_scans(2));
    EXPECT_EQ(scans(), (bytes{0xE0, 0xCB}));
    EXPECT_EQ(srv.on_control([this] { return ch->num_clients(); }), 0u);
}

TEST_F(inputs_channel_test, motion_reaches_the_mouse_in_server_mode_with_an_ack_per_bunch) {
    connect_both();
    ASSERT_TRUE(srv.is_server_mouse());
    for (int i = 0; i < 2 * SPICE_INPUT_MOTION_ACK_BUNCH; ++i)
        inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_MOTION,
                            motion_body(i, -i, SPICE_MOUSE_BUTTON_MASK_RIGHT));
    ASSERT_TRUE(rec.wait([&] { return rec.calls.size() >= 2 * SPICE_INPUT_MOTION_ACK_BUNCH; }));
    EXPECT_EQ(calls().front(), "motion 0 0 0 2"); // right is the VMM's bit 1
    EXPECT_EQ(calls().back(), "motion 7 -7 0 2");
    for (int i = 0; i < 2; ++i) {
        auto ack = inputs.read_message_of(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK);
        ASSERT_TRUE(ack);
        EXPECT_TRUE(ack->body.empty());
    }
    // Positions count toward the ACK too, but need client mode to go anywhere.
    clear();
    for (int i = 0; i < SPICE_INPUT_MOTION_ACK_BUNCH; ++i)
        inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_POSITION, position_body(10, 20, 0, 0));
    EXPECT_TRUE(inputs.read_message_of(SPICE_MSG_INPUTS_MOUSE_MOTION_ACK));
    barrier(inputs);
    EXPECT_TRUE(calls().empty());
}

TEST_F(inputs_channel_test, position_reaches_the_tablet_only_in_client_mode) {
    connect_both();
    enter_client_mode_with_tablet();
    ASSERT_TRUE(rec.wait([&] { return !rec.calls.empty(); }));
    EXPECT_EQ(calls(), (std::vector<std::string>{"tablet size 1024 768"}));
    clear();
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_MOTION, motion_body(5, 5, 0));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_POSITION,
                        position_body(300, 200, SPICE_MOUSE_BUTTON_MASK_MIDDLE, 0));
    barrier(inputs);
    EXPECT_EQ(calls(), (std::vector<std::string>{"tablet position 300 200 4"}));

    // Back in server mode the tablet hears nothing and the mouse moves again.
    clear();
    ASSERT_TRUE(
        main.send_message(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST, u16_body(SPICE_MOUSE_MODE_SERVER)));
    ASSERT_TRUE(main_mouse_mode(SPICE_MOUSE_MODE_SERVER));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_POSITION, position_body(1, 2, 0, 0));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_MOTION, motion_body(5, 6, 0));
    barrier(inputs);
    EXPECT_EQ(calls(), (std::vector<std::string>{"motion 5 6 0 0"}));
}

TEST_F(inputs_channel_test, press_release_and_wheel_carry_the_button_state) {
    connect_both();
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_PRESS,
                        button_body(SPICE_MOUSE_BUTTON_LEFT, SPICE_MOUSE_BUTTON_MASK_LEFT));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_PRESS,
                        button_body(SPICE_MOUSE_BUTTON_UP, SPICE_MOUSE_BUTTON_MASK_LEFT));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_PRESS, button_body(SPICE_MOUSE_BUTTON_DOWN, 0));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_RELEASE, button_body(SPICE_MOUSE_BUTTON_LEFT, 0));
    barrier(inputs);
    EXPECT_EQ(calls(), (std::vector<std::string>{"motion 0 0 0 1", "motion 0 0 -1 1",
                                                 "motion 0 0 1 0", "buttons 0"}));

    enter_client_mode_with_tablet();
    clear();
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_PRESS,
                        button_body(SPICE_MOUSE_BUTTON_RIGHT, SPICE_MOUSE_BUTTON_MASK_RIGHT));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_PRESS, button_body(SPICE_MOUSE_BUTTON_DOWN, 0));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_RELEASE, button_body(SPICE_MOUSE_BUTTON_RIGHT, 0));
    barrier(inputs);
    EXPECT_EQ(calls(), (std::vector<std::string>{"tablet wheel 0 2", "tablet wheel 1 0",
                                                 "tablet buttons 0"}));
}

TEST_F(inputs_channel_test, kbd_leds_push_key_modifiers_to_every_client) {
    connect_both();
    spice_test_client second;
    connect_inputs(second);
    srv.on_control([this] { ch->set_leds(SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK); });
    for (auto *c : {&inputs, &second}) {
        auto m = c->read_message_of(SPICE_MSG_INPUTS_KEY_MODIFIERS);
        ASSERT_TRUE(m);
        EXPECT_EQ(m->body, (bytes{0x01, 0x00}));
    }
    // From a VMM thread that is not the loop's: posted, never waited for.
    ch->post_leds(SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK);
    auto m = inputs.read_message_of(SPICE_MSG_INPUTS_KEY_MODIFIERS);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->body, (bytes{0x04, 0x00}));
}

TEST_F(inputs_channel_test, client_key_modifiers_tap_the_locks_that_differ_then_resync) {
    connect_both();
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_MODIFIERS,
                        u16_body(SPICE_KEYBOARD_MODIFIER_FLAGS_CAPS_LOCK |
                                 SPICE_KEYBOARD_MODIFIER_FLAGS_SCROLL_LOCK));
    ASSERT_TRUE(wait_scans(4));
    EXPECT_EQ(scans(), (bytes{0x46, 0xC6, 0x3A, 0xBA}));
    // The resync timer tells the client what the guest's locks should be.
    auto m = inputs.read_message_of(SPICE_MSG_INPUTS_KEY_MODIFIERS);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->body, (bytes{0x05, 0x00}));
    // Already in step: nothing is typed.
    clear();
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_MODIFIERS, u16_body(0x05));
    barrier(inputs);
    EXPECT_TRUE(scans().empty());
}

TEST_F(inputs_channel_test, a_typed_lock_key_toggles_the_modifiers_once_while_held) {
    connect_both();
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x45)); // num lock
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_DOWN, u32_body(0x45)); // autorepeat
    inputs.send_message(SPICE_MSGC_INPUTS_KEY_UP, u32_body(0xC5));
    auto m = inputs.read_message_of(SPICE_MSG_INPUTS_KEY_MODIFIERS);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->body, (bytes{SPICE_KEYBOARD_MODIFIER_FLAGS_NUM_LOCK, 0x00}));
    EXPECT_EQ(scans(), (bytes{0x45, 0x45, 0xC5}));
}

struct bad_message {
    const char *name;
    uint16_t type;
    bytes body;
};

class inputs_bad_message_test : public inputs_channel_test,
                                public ::testing::WithParamInterface<bad_message> {};

TEST_P(inputs_bad_message_test, ends_only_the_inputs_channel) {
    connect_both();
    ASSERT_TRUE(inputs.send_message(GetParam().type, GetParam().body));
    EXPECT_EQ(inputs.wait_closed(), read_status::closed);
    // The main channel and its session are still there.
    ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    EXPECT_TRUE(main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST));
    EXPECT_EQ(srv.on_control([this] { return srv.num_clients(); }), 1u);
}

INSTANTIATE_TEST_SUITE_P(
    inputs, inputs_bad_message_test,
    ::testing::Values(bad_message{"truncated_key_down", SPICE_MSGC_INPUTS_KEY_DOWN, bytes{1, 0}},
                      bad_message{"truncated_position", SPICE_MSGC_INPUTS_MOUSE_POSITION,
                                  bytes(10)},
                      bad_message{"unknown_type", 150, bytes{}},
                      bad_message{"type_in_the_gap", 107, bytes(8)},
                      bad_message{"oversized_scancodes", SPICE_MSGC_INPUTS_KEY_SCANCODE,
                                  bytes(rs::inputs_channel::max_message_size + 1, 0x1E)}),
    [](const ::testing::TestParamInfo<bad_message> &i) { return std::string(i.param.name); });

TEST_F(inputs_channel_test, the_agent_carries_the_mouse_when_attached_with_agent_mouse_on) {
    std::mutex mu;
    std::vector<VDAgentMouseState> seen;
    srv.on_control([&] {
        ch->set_agent_mouse_sink([&](const VDAgentMouseState &s) {
            std::lock_guard l(mu);
            seen.push_back(s);
        });
        EXPECT_EQ(srv.interfaces().add_interface(&agent.base), 0);
        EXPECT_EQ(srv.interfaces().add_interface(&tablet.base), 0);
        srv.set_client_mouse_allowed(true, 800, 600);
    });
    connect_both();
    request_client_mode();
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_POSITION,
                        position_body(640, 480, SPICE_MOUSE_BUTTON_MASK_LEFT, 1));
    inputs.send_message(SPICE_MSGC_INPUTS_MOUSE_PRESS,
                        button_body(SPICE_MOUSE_BUTTON_UP, SPICE_MOUSE_BUTTON_MASK_LEFT));
    barrier(inputs);
    std::lock_guard l(mu);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].x, 640u);
    EXPECT_EQ(seen[0].y, 480u);
    EXPECT_EQ(seen[0].buttons, uint32_t{VD_AGENT_LBUTTON_MASK});
    EXPECT_EQ(seen[0].display_id, 1);
    EXPECT_EQ(seen[1].buttons, uint32_t{VD_AGENT_LBUTTON_MASK | VD_AGENT_UBUTTON_MASK});
    // The tablet heard only its size (allowed without a display: the agent's case).
    EXPECT_EQ(calls(), (std::vector<std::string>{"tablet size 800 600"}));
}

TEST_F(inputs_channel_test, mouse_modes_follow_the_reference_rules) {
    connect_both();
    auto modes = [this] { return srv.on_control([this] { return srv.mouse_modes(); }); };
    EXPECT_EQ(modes().supported, uint32_t{SPICE_MOUSE_MODE_SERVER});
    // A tablet alone is not enough: one QXL, one display channel and the
    // display's consent are needed too.
    srv.on_control([this] {
        EXPECT_EQ(srv.interfaces().add_interface(&tablet.base), 0);
        srv.update_mouse_mode();
    });
    EXPECT_EQ(modes().supported, uint32_t{SPICE_MOUSE_MODE_SERVER});
    ASSERT_TRUE(
        main.send_message(SPICE_MSGC_MAIN_MOUSE_MODE_REQUEST, u16_body(SPICE_MOUSE_MODE_CLIENT)));
    ASSERT_TRUE(main.send_message(SPICE_MSGC_MAIN_ATTACH_CHANNELS));
    ASSERT_TRUE(main.read_message_of(SPICE_MSG_MAIN_CHANNELS_LIST));
    EXPECT_TRUE(srv.is_server_mouse());
    srv.on_control([this] { EXPECT_EQ(srv.interfaces().remove_interface(&tablet.base), 0); });

    enter_client_mode_with_tablet();
    EXPECT_EQ(modes().current, uint32_t{SPICE_MOUSE_MODE_CLIENT});
    // The tablet goes: client mode is no longer allowed, the server says so.
    srv.on_control([this] {
        EXPECT_EQ(srv.interfaces().remove_interface(&tablet.base), 0);
        srv.update_mouse_mode();
    });
    auto mm = main_mouse_mode(SPICE_MOUSE_MODE_SERVER);
    ASSERT_TRUE(mm);
    EXPECT_EQ(mm->first, SPICE_MOUSE_MODE_SERVER);
    EXPECT_TRUE(srv.is_server_mouse());
}

} // namespace
