// The inputs channel's wire formats (spice.proto InputsChannel), byte for
// byte, and the pure pieces of the channel: the scancode key tracker and the
// button-state conversions the VMM and the agent expect.
#include "input/inputs_messages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <spice/vd_agent.h>

#include "input/inputs_channel.hpp"

namespace {

using bytes = std::vector<uint8_t>;

template <typename M> bytes encode(const M &m) {
    bytes out;
    rs::wire::writer w(out);
    m.encode(w);
    return out;
}

template <typename T> T expect_type(const rs::inputs_client_message &m) {
    EXPECT_TRUE(std::holds_alternative<T>(m));
    return std::holds_alternative<T>(m) ? std::get<T>(m) : T{};
}

rs::parse_error::kind error_kind(const rs::inputs_client_message &m) {
    EXPECT_TRUE(std::holds_alternative<rs::parse_error>(m));
    return std::holds_alternative<rs::parse_error>(m) ? std::get<rs::parse_error>(m).what
                                                      : rs::parse_error::kind::unknown_type;
}

// ---- server -> client ---------------------------------------------------------

TEST(inputs_server_messages, types_are_the_spice_enums) {
    EXPECT_EQ(rs::msg::inputs_init::type, 101);
    EXPECT_EQ(rs::msg::inputs_key_modifiers::type, 102);
    EXPECT_EQ(rs::msg::inputs_mouse_motion_ack::type, 111);
}

TEST(inputs_server_messages, init_and_key_modifiers_are_one_u16) {
    EXPECT_EQ(encode(rs::msg::inputs_init{.keyboard_modifiers = 0x0105}), (bytes{0x05, 0x01}));
    EXPECT_EQ(encode(rs::msg::inputs_key_modifiers{.modifiers = 0x0007}), (bytes{0x07, 0x00}));
}

TEST(inputs_server_messages, motion_ack_is_empty) {
    EXPECT_TRUE(encode(rs::msg::inputs_mouse_motion_ack{}).empty());
}

// ---- client -> server ---------------------------------------------------------

TEST(inputs_client_messages, key_down_and_up_are_one_u32) {
    const bytes e0_48{0xE0, 0x48, 0x00, 0x00};
    EXPECT_EQ(
        expect_type<rs::msgc::inputs_key_down>(rs::parse_inputs_client_message(101, e0_48)).code,
        0x48E0u);
    EXPECT_EQ(
        expect_type<rs::msgc::inputs_key_up>(rs::parse_inputs_client_message(102, e0_48)).code,
        0x48E0u);
}

TEST(inputs_client_messages, key_modifiers_is_one_u16) {
    EXPECT_EQ(expect_type<rs::msgc::inputs_key_modifiers>(
                  rs::parse_inputs_client_message(103, bytes{0x04, 0x00}))
                  .modifiers,
              0x0004);
}

TEST(inputs_client_messages, key_scancode_is_the_whole_body_even_empty) {
    const bytes pause{0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5};
    auto sc =
        expect_type<rs::msgc::inputs_key_scancode>(rs::parse_inputs_client_message(104, pause));
    EXPECT_EQ(bytes(sc.codes.begin(), sc.codes.end()), pause);
    EXPECT_TRUE(
        expect_type<rs::msgc::inputs_key_scancode>(rs::parse_inputs_client_message(104, bytes{}))
            .codes.empty());
}

TEST(inputs_client_messages, mouse_motion_is_two_i32_and_a_u16) {
    const bytes b{0xFE, 0xFF, 0xFF, 0xFF, 0x03, 0x00, 0x00, 0x00, 0x05, 0x00};
    auto m = expect_type<rs::msgc::inputs_mouse_motion>(rs::parse_inputs_client_message(111, b));
    EXPECT_EQ(m.dx, -2);
    EXPECT_EQ(m.dy, 3);
    EXPECT_EQ(m.buttons_state, 5);
}

TEST(inputs_client_messages, mouse_position_is_two_u32_a_u16_and_a_display_byte) {
    const bytes b{0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x00, 0x02};
    auto m = expect_type<rs::msgc::inputs_mouse_position>(rs::parse_inputs_client_message(112, b));
    EXPECT_EQ(m.x, 1024u);
    EXPECT_EQ(m.y, 768u);
    EXPECT_EQ(m.buttons_state, 1);
    EXPECT_EQ(m.display_id, 2);
}

TEST(inputs_client_messages, press_and_release_are_a_button_byte_and_a_u16) {
    const bytes b{SPICE_MOUSE_BUTTON_UP, 0x02, 0x00};
    auto p = expect_type<rs::msgc::inputs_mouse_press>(rs::parse_inputs_client_message(113, b));
    EXPECT_EQ(p.button, SPICE_MOUSE_BUTTON_UP);
    EXPECT_EQ(p.buttons_state, 2);
    auto r = expect_type<rs::msgc::inputs_mouse_release>(rs::parse_inputs_client_message(114, b));
    EXPECT_EQ(r.button, SPICE_MOUSE_BUTTON_UP);
    EXPECT_EQ(r.buttons_state, 2);
}

TEST(inputs_client_messages, short_bodies_are_truncated) {
    EXPECT_EQ(error_kind(rs::parse_inputs_client_message(101, bytes{1, 0, 0})),
              rs::parse_error::kind::truncated);
    EXPECT_EQ(error_kind(rs::parse_inputs_client_message(103, bytes{1})),
              rs::parse_error::kind::truncated);
    EXPECT_EQ(error_kind(rs::parse_inputs_client_message(111, bytes(9))),
              rs::parse_error::kind::truncated);
    EXPECT_EQ(error_kind(rs::parse_inputs_client_message(112, bytes(10))),
              rs::parse_error::kind::truncated);
    EXPECT_EQ(error_kind(rs::parse_inputs_client_message(113, bytes(2))),
              rs::parse_error::kind::truncated);
}

TEST(inputs_client_messages, trailing_bytes_are_refused_unless_lenient) {
    const bytes b{1, 0, 0, 0, 9};
    EXPECT_EQ(error_kind(rs::parse_inputs_client_message(101, b)),
              rs::parse_error::kind::trailing_bytes);
    EXPECT_EQ(expect_type<rs::msgc::inputs_key_down>(
                  rs::parse_inputs_client_message(101, b, rs::extra_bytes::ignore))
                  .code,
              1u);
}

TEST(inputs_client_messages, other_types_are_unknown) {
    for (uint16_t t : {uint16_t{1}, uint16_t{3}, uint16_t{100}, uint16_t{105}, uint16_t{110},
                       uint16_t{115}, uint16_t{0xFFFF}})
        EXPECT_EQ(error_kind(rs::parse_inputs_client_message(t, bytes{})),
                  rs::parse_error::kind::unknown_type)
            << t;
}

// ---- key tracking ---------------------------------------------------------------

TEST(key_tracker, held_keys_are_released_plain_first_then_e0_prefixed) {
    rs::key_tracker k;
    for (uint8_t b : {0x1E, 0xE0, 0x48, 0x10, 0xE0, 0x1D, 0x90})
        (void)k.note(b);
    EXPECT_TRUE(k.any_down());
    EXPECT_EQ(k.release_all(), (bytes{0x9E, 0xE0, 0x9D, 0xE0, 0xC8}));
    EXPECT_FALSE(k.any_down());
    EXPECT_TRUE(k.release_all().empty());
}

TEST(key_tracker, the_pause_sequence_is_no_held_key) {
    rs::key_tracker k;
    using kind = rs::key_tracker::byte_kind;
    // E1 1D 45: neither 1D (ctrl) nor 45 (num lock) is a key of its own.
    EXPECT_EQ(k.note(0xE1), kind::prefix);
    EXPECT_EQ(k.note(0x1D), kind::prefix);
    EXPECT_EQ(k.note(0x45), kind::prefix);
    EXPECT_FALSE(k.any_down());
    EXPECT_EQ(k.note(0x1D), kind::key); // a real left ctrl afterwards
    EXPECT_EQ(k.note(0xE0), kind::prefix);
    EXPECT_EQ(k.note(0x38), kind::extended);
    EXPECT_EQ(k.release_all(), (bytes{0x9D, 0xE0, 0xB8}));
}

TEST(key_tracker, codes_whose_release_would_be_a_prefix_are_not_held) {
    rs::key_tracker k;
    for (uint8_t b : {0x60, 0x61, 0x62, 0xE0, 0x60})
        (void)k.note(b);
    EXPECT_FALSE(k.any_down());
    EXPECT_TRUE(k.release_all().empty());
}

TEST(key_tracker, e2_hides_the_next_byte_as_in_the_reference) {
    rs::key_tracker k;
    (void)k.note(0xE2);
    EXPECT_EQ(k.note(0x10), rs::key_tracker::byte_kind::prefix);
    EXPECT_FALSE(k.any_down());
}

// ---- buttons --------------------------------------------------------------------

TEST(buttons, vmm_bits_swap_middle_and_right_and_shift_side_keys) {
    EXPECT_EQ(rs::buttons_to_vmm(SPICE_MOUSE_BUTTON_MASK_LEFT), 1u);
    EXPECT_EQ(rs::buttons_to_vmm(SPICE_MOUSE_BUTTON_MASK_MIDDLE), 4u);
    EXPECT_EQ(rs::buttons_to_vmm(SPICE_MOUSE_BUTTON_MASK_RIGHT), 2u);
    EXPECT_EQ(rs::buttons_to_vmm(SPICE_MOUSE_BUTTON_MASK_UP | SPICE_MOUSE_BUTTON_MASK_DOWN), 0u);
    EXPECT_EQ(rs::buttons_to_vmm(SPICE_MOUSE_BUTTON_MASK_SIDE), 0x40u);
    EXPECT_EQ(rs::buttons_to_vmm(SPICE_MOUSE_BUTTON_MASK_EXTRA), 0x80u);
    EXPECT_EQ(rs::buttons_to_vmm(0x8000), 0x10000u);
}

TEST(buttons, agent_bits_are_one_higher) {
    EXPECT_EQ(rs::buttons_to_agent(SPICE_MOUSE_BUTTON_MASK_LEFT), uint32_t{VD_AGENT_LBUTTON_MASK});
    EXPECT_EQ(rs::buttons_to_agent(SPICE_MOUSE_BUTTON_MASK_RIGHT), uint32_t{VD_AGENT_RBUTTON_MASK});
}

} // namespace
