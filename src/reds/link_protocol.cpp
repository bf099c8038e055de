#include "reds/link_protocol.hpp"

#include <algorithm>
#include <vector>

namespace rs::link {

namespace {

failure invalid_data(const char *reason) {
    return failure{SPICE_LINK_ERR_INVALID_DATA, answer::reply, reason};
}

// Reads `count` words at the reader's position; the caller has checked that
// they lie inside the input.
caps read_caps(wire::reader &r, uint32_t count) {
    std::vector<uint32_t> words(count);
    for (auto &w : words)
        w = r.u32();
    return caps(std::move(words));
}

void write_link_header(wire::writer &w, uint32_t major, uint32_t minor, uint32_t size) {
    w.u32(SPICE_MAGIC);
    w.u32(major);
    w.u32(minor);
    w.u32(size);
}

void write_caps(wire::writer &w, const caps &c) {
    for (uint32_t word : c.words())
        w.u32(word);
}

} // namespace

bool is_magic(std::span<const uint8_t> first) noexcept {
    wire::reader r(first);
    const uint32_t magic = r.u32();
    return r.ok() && magic == SPICE_MAGIC;
}

outcome<header> parse_header(std::span<const uint8_t> in) noexcept {
    if (in.size() < header_size) return failure{SPICE_LINK_ERR_ERROR, answer::close, "truncated"};
    if (!is_magic(in)) return failure{SPICE_LINK_ERR_INVALID_MAGIC, answer::reply, "bad magic"};
    wire::reader r(in.subspan(magic_size));
    header h;
    h.major_version = r.u32();
    h.minor_version = r.u32();
    h.size = r.u32();
    if (h.major_version != SPICE_VERSION_MAJOR) {
        // A zero major is what very old clients send; the reference answers
        // nothing to it and only closes.
        return failure{SPICE_LINK_ERR_VERSION_MISMATCH,
                       h.major_version > 0 ? answer::reply : answer::close, "version mismatch"};
    }
    if (h.size < message_min_size || h.size > message_max_size) return invalid_data("bad size");
    return h;
}

outcome<message> parse_message(std::span<const uint8_t> in) {
    if (in.size() < message_min_size || in.size() > message_max_size)
        return invalid_data("bad size");
    wire::reader r(in);
    message m;
    m.connection_id = r.u32();
    m.channel_type = r.u8();
    m.channel_id = r.u8();
    const uint32_t num_common = r.u32();
    const uint32_t num_channel = r.u32();
    const uint32_t caps_offset = r.u32();
    if (num_common > max_caps_words || num_channel > max_caps_words)
        return invalid_data("too many caps");
    const uint64_t num_caps = uint64_t{num_common} + num_channel;
    if (num_caps == 0) return m; // caps_offset is not looked at then
    if (caps_offset < message_min_size || num_caps * 4 + caps_offset > in.size())
        return invalid_data("caps outside the message");
    wire::reader caps_reader(in.subspan(caps_offset));
    m.common_caps = read_caps(caps_reader, num_common);
    m.channel_caps = read_caps(caps_reader, num_channel);
    return m;
}

std::optional<failure> check_security(bool over_tls, bool tls_allowed,
                                      bool plain_allowed) noexcept {
    if (over_tls && !tls_allowed)
        return failure{SPICE_LINK_ERR_NEED_UNSECURED, answer::reply, "channel must not use TLS"};
    if (!over_tls && !plain_allowed)
        return failure{SPICE_LINK_ERR_NEED_SECURED, answer::reply, "channel must use TLS"};
    return std::nullopt;
}

outcome<auth_step> next_auth_step(const message &m, bool sasl_enabled, bool skip_auth) {
    if (m.wants_auth_selection()) return auth_step::read_mechanism;
    if (sasl_enabled && !skip_auth)
        return failure{SPICE_LINK_ERR_VERSION_MISMATCH, answer::reply,
                       "SASL enabled, but the client supports only ticket auth"};
    return auth_step::read_ticket;
}

std::optional<uint32_t> parse_auth_mechanism(std::span<const uint8_t> in) noexcept {
    wire::reader r(in);
    const uint32_t mechanism = r.u32();
    if (!r.ok()) return std::nullopt;
    return mechanism;
}

outcome<auth_method> choose_auth(uint32_t mechanism, bool sasl_enabled) {
    if (mechanism == SPICE_COMMON_CAP_AUTH_SPICE && !sasl_enabled) return auth_method::spice_ticket;
    if (mechanism == SPICE_COMMON_CAP_AUTH_SASL) return auth_method::sasl;
    return invalid_data(sasl_enabled ? "unknown auth method (client without SASL?)"
                                     : "unknown auth method");
}

void encode_reply(wire::writer &w, std::span<const uint8_t> pub_key, const caps &common,
                  const caps &channel) {
    const size_t caps_bytes = 4 * (common.num_words() + channel.num_words());
    write_link_header(w, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR,
                      static_cast<uint32_t>(reply_size + caps_bytes));
    w.u32(SPICE_LINK_ERR_OK);
    const size_t key_len = std::min(pub_key.size(), pub_key_size);
    w.bytes(pub_key.first(key_len));
    w.zeros(pub_key_size - key_len);
    w.u32(static_cast<uint32_t>(common.num_words()));
    w.u32(static_cast<uint32_t>(channel.num_words()));
    w.u32(static_cast<uint32_t>(reply_size));
    write_caps(w, common);
    write_caps(w, channel);
}

void encode_error_reply(wire::writer &w, uint32_t error) {
    write_link_header(w, SPICE_VERSION_MAJOR, SPICE_VERSION_MINOR,
                      static_cast<uint32_t>(reply_size));
    w.u32(error);
    w.zeros(reply_size - 4);
}

void encode_result(wire::writer &w, uint32_t error) { w.u32(error); }

void encode_failure(wire::writer &w, const failure &f) {
    switch (f.how) {
    case answer::close:
        break;
    case answer::reply:
        encode_error_reply(w, f.error);
        break;
    case answer::result:
        encode_result(w, f.error);
        break;
    }
}

void encode_link_request(wire::writer &w, const message &m, uint32_t major_version,
                         uint32_t minor_version) {
    const size_t caps_bytes = 4 * (m.common_caps.num_words() + m.channel_caps.num_words());
    write_link_header(w, major_version, minor_version,
                      static_cast<uint32_t>(message_min_size + caps_bytes));
    w.u32(m.connection_id);
    w.u8(m.channel_type);
    w.u8(m.channel_id);
    w.u32(static_cast<uint32_t>(m.common_caps.num_words()));
    w.u32(static_cast<uint32_t>(m.channel_caps.num_words()));
    w.u32(static_cast<uint32_t>(message_min_size));
    write_caps(w, m.common_caps);
    write_caps(w, m.channel_caps);
}

outcome<reply> parse_reply(std::span<const uint8_t> in) {
    wire::reader r(in);
    reply rep;
    rep.error = r.u32();
    const auto key = r.bytes(pub_key_size);
    const uint32_t num_common = r.u32();
    const uint32_t num_channel = r.u32();
    const uint32_t caps_offset = r.u32();
    if (!r.ok()) return failure{SPICE_LINK_ERR_INVALID_DATA, answer::close, "truncated reply"};
    std::copy(key.begin(), key.end(), rep.pub_key.begin());
    if (num_common > max_caps_words || num_channel > max_caps_words)
        return failure{SPICE_LINK_ERR_INVALID_DATA, answer::close, "too many caps"};
    const uint64_t num_caps = uint64_t{num_common} + num_channel;
    if (num_caps == 0) return rep;
    if (num_caps * 4 + caps_offset > in.size())
        return failure{SPICE_LINK_ERR_INVALID_DATA, answer::close, "caps outside the reply"};
    wire::reader caps_reader(in.subspan(caps_offset));
    rep.common_caps = read_caps(caps_reader, num_common);
    rep.channel_caps = read_caps(caps_reader, num_channel);
    return rep;
}

} // namespace rs::link
