#include "reds/link_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

using bytes = std::vector<uint8_t>;
namespace link = rs::link;

void put32(bytes &b, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

bytes link_header(uint32_t major, uint32_t minor, uint32_t size) {
    bytes b = {'R', 'E', 'D', 'Q'};
    put32(b, major);
    put32(b, minor);
    put32(b, size);
    return b;
}

// SpiceLinkMess fixed part: connection_id u32, type u8, id u8, num_common u32,
// num_channel u32, caps_offset u32.
bytes link_mess(uint32_t conn, uint8_t type, uint8_t id, uint32_t ncommon, uint32_t nchannel,
                uint32_t offset) {
    bytes b;
    put32(b, conn);
    b.push_back(type);
    b.push_back(id);
    put32(b, ncommon);
    put32(b, nchannel);
    put32(b, offset);
    return b;
}

void expect_failure(const link::failure &f, uint32_t error, link::answer how) {
    EXPECT_EQ(f.error, error);
    EXPECT_EQ(f.how, how);
    EXPECT_NE(f.reason, nullptr);
}

TEST(link_sizes, match_spice_protocol_structs) {
    EXPECT_EQ(link::header_size, 16u);
    EXPECT_EQ(link::message_min_size, 18u);
    EXPECT_EQ(link::reply_size, 178u);
    EXPECT_EQ(link::pub_key_size, 162u);
    EXPECT_EQ(link::encrypted_ticket_size, 128u);
    EXPECT_EQ(link::auth_mechanism_size, 4u);
}

TEST(link_header, magic_is_REDQ) {
    const bytes good = {'R', 'E', 'D', 'Q'};
    const bytes bad = {'G', 'E', 'T', ' '};
    EXPECT_TRUE(link::is_magic(good));
    EXPECT_FALSE(link::is_magic(bad));
    EXPECT_FALSE(link::is_magic(std::span(good).first(3)));
}

TEST(link_header, valid_header_parses) {
    auto h = link::parse_header(link_header(2, 2, 30));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->major_version, 2u);
    EXPECT_EQ(h->minor_version, 2u);
    EXPECT_EQ(h->size, 30u);
}

TEST(link_header, minor_version_is_not_checked) {
    EXPECT_TRUE(link::parse_header(link_header(2, 0, 18)));
    EXPECT_TRUE(link::parse_header(link_header(2, 99, 18)));
}

TEST(link_header, wrong_magic_answers_invalid_magic) {
    auto b = link_header(2, 2, 18);
    b[0] = 'X';
    auto h = link::parse_header(b);
    ASSERT_FALSE(h);
    expect_failure(h.error(), SPICE_LINK_ERR_INVALID_MAGIC, link::answer::reply);
}

TEST(link_header, other_major_answers_version_mismatch) {
    for (uint32_t major : {1u, 3u, 0xffffffffu}) {
        auto h = link::parse_header(link_header(major, 2, 18));
        ASSERT_FALSE(h);
        expect_failure(h.error(), SPICE_LINK_ERR_VERSION_MISMATCH, link::answer::reply);
    }
}

TEST(link_header, major_zero_closes_without_answer) {
    auto h = link::parse_header(link_header(0, 2, 18));
    ASSERT_FALSE(h);
    expect_failure(h.error(), SPICE_LINK_ERR_VERSION_MISMATCH, link::answer::close);
}

TEST(link_header, size_outside_18_to_4096_is_invalid_data) {
    for (uint32_t size : {0u, 17u, 4097u, 0xffffffffu}) {
        auto h = link::parse_header(link_header(2, 2, size));
        ASSERT_FALSE(h) << size;
        expect_failure(h.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
    }
    EXPECT_TRUE(link::parse_header(link_header(2, 2, 18)));
    EXPECT_TRUE(link::parse_header(link_header(2, 2, 4096)));
}

TEST(link_header, truncated_header_closes) {
    auto b = link_header(2, 2, 18);
    b.pop_back();
    auto h = link::parse_header(b);
    ASSERT_FALSE(h);
    EXPECT_EQ(h.error().how, link::answer::close);
}

TEST(link_message, parses_fields_and_caps) {
    bytes b = link_mess(0x01020304u, SPICE_CHANNEL_DISPLAY, 3, 1, 2, 18);
    put32(b, 0x0000000bu); // common: bits 0, 1, 3
    put32(b, 0x80000001u); // channel word 0
    put32(b, 0x00000002u); // channel word 1
    auto m = link::parse_message(b);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->connection_id, 0x01020304u);
    EXPECT_EQ(m->channel_type, SPICE_CHANNEL_DISPLAY);
    EXPECT_EQ(m->channel_id, 3);
    EXPECT_TRUE(m->wants_auth_selection());
    EXPECT_TRUE(m->common_caps.has(SPICE_COMMON_CAP_AUTH_SPICE));
    EXPECT_FALSE(m->common_caps.has(SPICE_COMMON_CAP_AUTH_SASL));
    EXPECT_TRUE(m->common_caps.has(SPICE_COMMON_CAP_MINI_HEADER));
    ASSERT_EQ(m->channel_caps.num_words(), 2u);
    EXPECT_TRUE(m->channel_caps.has(0));
    EXPECT_TRUE(m->channel_caps.has(31));
    EXPECT_TRUE(m->channel_caps.has(33));
}

TEST(link_message, caps_may_sit_after_a_gap) {
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1, 0, 22);
    put32(b, 0xdeadbeef); // ignored padding
    put32(b, 1u << SPICE_COMMON_CAP_AUTH_SASL);
    auto m = link::parse_message(b);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->common_caps.has(SPICE_COMMON_CAP_AUTH_SASL));
    EXPECT_FALSE(m->wants_auth_selection());
}

TEST(link_message, no_caps_ignores_caps_offset) {
    auto m = link::parse_message(link_mess(7, SPICE_CHANNEL_INPUTS, 0, 0, 0, 0xffffffffu));
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->common_caps.empty());
    EXPECT_TRUE(m->channel_caps.empty());
    EXPECT_FALSE(m->wants_auth_selection());
}

TEST(link_message, caps_count_1025_is_invalid_data) {
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1025, 0, 18);
    b.resize(4096, 0);
    auto m = link::parse_message(b);
    ASSERT_FALSE(m);
    expect_failure(m.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);

    bytes c = link_mess(0, SPICE_CHANNEL_MAIN, 0, 0, 1025, 18);
    c.resize(4096, 0);
    auto n = link::parse_message(c);
    ASSERT_FALSE(n);
    expect_failure(n.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
}

TEST(link_message, caps_count_1024_each_fits_in_4096_only_if_present) {
    // 2048 words do not fit in 4096 bytes: refused as outside the message.
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1024, 1024, 18);
    b.resize(4096, 0);
    auto m = link::parse_message(b);
    ASSERT_FALSE(m);
    expect_failure(m.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
    // 1019 words do.
    bytes c = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1000, 19, 18);
    c.resize(18 + 4 * 1019, 0xff);
    auto n = link::parse_message(c);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->common_caps.num_words(), 1000u);
    EXPECT_EQ(n->channel_caps.num_words(), 19u);
}

TEST(link_message, caps_running_past_the_end_are_invalid_data) {
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1, 1, 18);
    put32(b, 1); // only one of two words
    auto m = link::parse_message(b);
    ASSERT_FALSE(m);
    expect_failure(m.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
}

TEST(link_message, caps_offset_past_the_end_is_invalid_data) {
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1, 0, 0xfffffffcu);
    put32(b, 1);
    auto m = link::parse_message(b);
    ASSERT_FALSE(m);
    expect_failure(m.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
}

TEST(link_message, caps_offset_inside_the_fixed_part_is_invalid_data) {
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 1, 0, 17);
    put32(b, 1);
    auto m = link::parse_message(b);
    ASSERT_FALSE(m);
    expect_failure(m.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
}

TEST(link_message, truncated_or_oversized_is_invalid_data) {
    bytes b = link_mess(0, SPICE_CHANNEL_MAIN, 0, 0, 0, 18);
    b.pop_back();
    auto m = link::parse_message(b);
    ASSERT_FALSE(m);
    expect_failure(m.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
    auto e = link::parse_message({});
    ASSERT_FALSE(e);
    bytes big = link_mess(0, SPICE_CHANNEL_MAIN, 0, 0, 0, 18);
    big.resize(4097);
    ASSERT_FALSE(link::parse_message(big));
}

TEST(link_message, request_encoding_round_trips) {
    link::message m;
    m.connection_id = 42;
    m.channel_type = SPICE_CHANNEL_USBREDIR;
    m.channel_id = 1;
    m.common_caps.set(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
    m.common_caps.set(SPICE_COMMON_CAP_MINI_HEADER);
    m.channel_caps.set(40);
    bytes out;
    rs::wire::writer w(out);
    link::encode_link_request(w, m);
    ASSERT_EQ(out.size(), 16u + 18u + 12u);
    auto h = link::parse_header(std::span(out).first(16));
    ASSERT_TRUE(h);
    EXPECT_EQ(h->size, 30u);
    auto back = link::parse_message(std::span(out).subspan(16));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->connection_id, 42u);
    EXPECT_EQ(back->channel_type, SPICE_CHANNEL_USBREDIR);
    EXPECT_EQ(back->channel_id, 1);
    EXPECT_EQ(back->common_caps, m.common_caps);
    EXPECT_EQ(back->channel_caps, m.channel_caps);
}

TEST(link_security, wrong_transport_answers_need_secured_or_unsecured) {
    EXPECT_FALSE(link::check_security(false, true, true));
    EXPECT_FALSE(link::check_security(true, true, false));
    EXPECT_FALSE(link::check_security(false, false, true));
    auto tls_only = link::check_security(false, true, false);
    ASSERT_TRUE(tls_only);
    expect_failure(*tls_only, SPICE_LINK_ERR_NEED_SECURED, link::answer::reply);
    auto plain_only = link::check_security(true, false, true);
    ASSERT_TRUE(plain_only);
    expect_failure(*plain_only, SPICE_LINK_ERR_NEED_UNSECURED, link::answer::reply);
}

TEST(link_auth, selection_decides_what_is_read_next) {
    link::message with;
    with.common_caps.set(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
    link::message without;

    EXPECT_EQ(*link::next_auth_step(with, false, false), link::auth_step::read_mechanism);
    EXPECT_EQ(*link::next_auth_step(with, true, false), link::auth_step::read_mechanism);
    EXPECT_EQ(*link::next_auth_step(without, false, false), link::auth_step::read_ticket);
    EXPECT_EQ(*link::next_auth_step(without, true, true), link::auth_step::read_ticket);
    auto r = link::next_auth_step(without, true, false);
    ASSERT_FALSE(r);
    expect_failure(r.error(), SPICE_LINK_ERR_VERSION_MISMATCH, link::answer::reply);
}

TEST(link_auth, mechanism_parse_and_choice) {
    const bytes spice = {SPICE_COMMON_CAP_AUTH_SPICE, 0, 0, 0};
    EXPECT_EQ(link::parse_auth_mechanism(spice), SPICE_COMMON_CAP_AUTH_SPICE);
    EXPECT_FALSE(link::parse_auth_mechanism(std::span(spice).first(3)));

    EXPECT_EQ(*link::choose_auth(SPICE_COMMON_CAP_AUTH_SPICE, false),
              link::auth_method::spice_ticket);
    EXPECT_EQ(*link::choose_auth(SPICE_COMMON_CAP_AUTH_SASL, true), link::auth_method::sasl);
    EXPECT_EQ(*link::choose_auth(SPICE_COMMON_CAP_AUTH_SASL, false), link::auth_method::sasl);
    auto spice_with_sasl = link::choose_auth(SPICE_COMMON_CAP_AUTH_SPICE, true);
    ASSERT_FALSE(spice_with_sasl);
    expect_failure(spice_with_sasl.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
    auto unknown = link::choose_auth(77, false);
    ASSERT_FALSE(unknown);
    expect_failure(unknown.error(), SPICE_LINK_ERR_INVALID_DATA, link::answer::reply);
}

TEST(link_auth, bad_ticket_is_permission_denied_as_a_result) {
    expect_failure(link::ticket_denied("x"), SPICE_LINK_ERR_PERMISSION_DENIED,
                   link::answer::result);
}

TEST(link_reply, ack_layout_is_byte_exact) {
    bytes key(162);
    for (size_t i = 0; i < key.size(); ++i)
        key[i] = static_cast<uint8_t>(i);
    rs::caps common;
    common.set(SPICE_COMMON_CAP_AUTH_SPICE);
    common.set(SPICE_COMMON_CAP_MINI_HEADER);
    rs::caps channel;
    channel.set(1);
    channel.set(34);
    bytes out;
    rs::wire::writer w(out);
    link::encode_reply(w, key, common, channel);

    bytes expect = link_header(2, 2, 178 + 12);
    put32(expect, 0); // error OK
    expect.insert(expect.end(), key.begin(), key.end());
    put32(expect, 1);   // common words
    put32(expect, 2);   // channel words
    put32(expect, 178); // caps_offset, relative to SpiceLinkReply
    put32(expect, (1u << SPICE_COMMON_CAP_AUTH_SPICE) | (1u << SPICE_COMMON_CAP_MINI_HEADER));
    put32(expect, 1u << 1);
    put32(expect, 1u << 2);
    EXPECT_EQ(out, expect);

    auto rep = link::parse_reply(std::span(out).subspan(16));
    ASSERT_TRUE(rep);
    EXPECT_EQ(rep->error, 0u);
    EXPECT_TRUE(std::equal(key.begin(), key.end(), rep->pub_key.begin()));
    EXPECT_EQ(rep->common_caps, common);
    EXPECT_EQ(rep->channel_caps, channel);
}

TEST(link_reply, missing_key_is_sent_as_zeros) {
    bytes out;
    rs::wire::writer w(out);
    link::encode_reply(w, {}, rs::caps{}, rs::caps{});
    ASSERT_EQ(out.size(), 16u + 178u);
    for (size_t i = 20; i < 20 + 162; ++i)
        ASSERT_EQ(out[i], 0) << i;
    EXPECT_EQ(out[16 + 4 + 162 + 8], 178); // caps_offset still set
}

TEST(link_reply, error_reply_is_zeroed_except_the_code) {
    bytes out;
    rs::wire::writer w(out);
    link::encode_error_reply(w, SPICE_LINK_ERR_INVALID_MAGIC);
    bytes expect = link_header(2, 2, 178);
    put32(expect, SPICE_LINK_ERR_INVALID_MAGIC);
    expect.resize(16 + 178, 0);
    EXPECT_EQ(out, expect);
}

TEST(link_reply, failures_encode_as_their_answer_says) {
    bytes out;
    rs::wire::writer w(out);
    link::encode_failure(w, {SPICE_LINK_ERR_VERSION_MISMATCH, link::answer::close, ""});
    EXPECT_TRUE(out.empty());
    link::encode_failure(w, link::ticket_denied("x"));
    EXPECT_EQ(out, (bytes{SPICE_LINK_ERR_PERMISSION_DENIED, 0, 0, 0}));
    out.clear();
    link::encode_failure(w, {SPICE_LINK_ERR_NEED_SECURED, link::answer::reply, ""});
    EXPECT_EQ(out.size(), 16u + 178u);
    EXPECT_EQ(out[16], SPICE_LINK_ERR_NEED_SECURED);
}

TEST(link_reply, result_is_four_le_bytes) {
    bytes out;
    rs::wire::writer w(out);
    link::encode_result(w, SPICE_LINK_ERR_OK);
    link::encode_result(w, SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE);
    EXPECT_EQ(out, (bytes{0, 0, 0, 0, SPICE_LINK_ERR_CHANNEL_NOT_AVAILABLE, 0, 0, 0}));
}

TEST(link_reply, short_reply_does_not_parse) {
    bytes out;
    rs::wire::writer w(out);
    link::encode_error_reply(w, SPICE_LINK_ERR_ERROR);
    EXPECT_FALSE(link::parse_reply(std::span(out).subspan(16, 177)));
}

} // namespace
