// The link handshake as data: what the client sends before a channel exists
// (SpiceLinkHeader, SpiceLinkMess, SpiceLinkAuthMechanism), what the server
// answers (SpiceLinkReply, the 4-byte link result), and every rule the
// reference applies on the way, each with the SPICE_LINK_ERR_* it answers.
// No I/O here: the link coroutine reads the byte counts named below and hands
// the bytes to these functions.
//
// Order of a link, as in the reference (server/reds.cpp):
//   1. read 4 bytes, is_magic()             (else maybe WebSocket, else failure)
//   2. read 12 more, parse_header()         (16 bytes in all)
//   3. read header.size bytes, parse_message()
//   4. check_security(), then encode_reply() with the channel's caps
//   5. next_auth_step(): read 4 bytes and choose_auth(), or read the ticket
//   6. encrypted_ticket_size bytes -> ticket_key::decrypt_password
//   7. encode_result(SPICE_LINK_ERR_OK or the failure)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <variant>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "reds/protocol.hpp"
#include "reds/wire.hpp"

namespace rs::link {

inline constexpr size_t magic_size = 4;
inline constexpr size_t header_size = sizeof(SpiceLinkHeader);    // 16
inline constexpr size_t message_min_size = sizeof(SpiceLinkMess); // 18
/// Larger links are refused so a client cannot make the server allocate at will.
inline constexpr uint32_t message_max_size = 4096;
/// Per caps array; the reference calls it DoS protection.
inline constexpr uint32_t max_caps_words = caps::max_words;
inline constexpr size_t reply_size = sizeof(SpiceLinkReply); // 178, without caps
inline constexpr size_t pub_key_size = SPICE_TICKET_PUBKEY_BYTES;
inline constexpr size_t auth_mechanism_size = sizeof(SpiceLinkAuthMechanism);
inline constexpr size_t encrypted_ticket_size = sizeof(SpiceLinkEncryptedTicket); // 128
inline constexpr size_t result_size = sizeof(uint32_t);

/// How the server reacts to a failed step, as the reference does.
enum class answer : uint8_t {
    close,  ///< close without writing anything
    reply,  ///< SpiceLinkHeader + a zeroed SpiceLinkReply carrying `error` (encode_error_reply)
    result, ///< the 4-byte link result (encode_result); only after a reply was sent
};

/// A failed link step: the code to send, how to send it, and a reason for the
/// log. Plain data, usable from any shard.
struct failure {
    uint32_t error = SPICE_LINK_ERR_ERROR; ///< SPICE_LINK_ERR_*
    answer how = answer::close;
    const char *reason = "";
};

/// A parsed value or the failure that ends the link; like rs::result, but
/// the error says what to answer. value() on a failure is a programming error
/// (throws std::bad_variant_access).
template <typename T> class [[nodiscard]] outcome {
  public:
    outcome(T v)
        : _v(std::in_place_index<0>, std::move(v)) {}
    outcome(failure f)
        : _v(std::in_place_index<1>, f) {}

    bool ok() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T &value() & { return std::get<0>(_v); }
    const T &value() const & { return std::get<0>(_v); }
    T &&value() && { return std::get<0>(std::move(_v)); }
    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }
    const failure &error() const { return std::get<1>(_v); }

  private:
    std::variant<T, failure> _v;
};

/// SpiceLinkHeader without its magic (checked by parse_header). Plain data.
struct header {
    uint32_t major_version = SPICE_VERSION_MAJOR;
    uint32_t minor_version = SPICE_VERSION_MINOR;
    uint32_t size = 0; ///< bytes of the SpiceLinkMess that follows
};

/// SpiceLinkMess with its caps arrays copied out. Plain data, usable from any
/// shard.
struct message {
    uint32_t connection_id = 0; ///< 0 for a new session's main channel
    uint8_t channel_type = 0;   ///< SPICE_CHANNEL_*
    uint8_t channel_id = 0;
    caps common_caps; ///< SPICE_COMMON_CAP_*
    caps channel_caps;

    bool wants_auth_selection() const noexcept {
        return common_caps.has(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
    }
};

/// SpiceLinkReply as a client reads it (for the in-repo test client).
struct reply {
    uint32_t error = SPICE_LINK_ERR_OK;
    std::array<uint8_t, pub_key_size> pub_key{};
    caps common_caps;
    caps channel_caps;
};

/// True when the first four bytes are SPICE_MAGIC ("REDQ"); false when fewer.
bool is_magic(std::span<const uint8_t> first) noexcept;

/// Parses the 16-byte SpiceLinkHeader. Failures: fewer than 16 bytes (close);
/// bad magic (INVALID_MAGIC, reply); major != SPICE_VERSION_MAJOR
/// (VERSION_MISMATCH, reply — but close silently when major is 0); size
/// outside [18, 4096] (INVALID_DATA, reply). The minor version is not checked.
outcome<header> parse_header(std::span<const uint8_t> in) noexcept;

/// Parses a SpiceLinkMess; `in` is exactly the header.size bytes read after
/// the header. Failures (all INVALID_DATA, reply): size outside [18, 4096];
/// a caps count above 1024; when any caps are announced, caps_offset below 18
/// or caps running past the end of the message.
outcome<message> parse_message(std::span<const uint8_t> in);

/// Refusal of a channel over the wrong transport: NEED_UNSECURED over TLS
/// when only plain is allowed, NEED_SECURED in plain when only TLS is; both
/// a reply. nullopt when the transport is allowed.
std::optional<failure> check_security(bool over_tls, bool tls_allowed, bool plain_allowed) noexcept;

/// What the link reads after the reply.
enum class auth_step : uint8_t {
    read_mechanism, ///< 4-byte SpiceLinkAuthMechanism, then choose_auth()
    read_ticket,    ///< old client without auth selection: the encrypted ticket
};

/// Without PROTOCOL_AUTH_SELECTION the client goes straight to the ticket,
/// which SASL cannot serve: VERSION_MISMATCH (reply) when SASL is enabled
/// and the link is not exempt from auth (skip_auth).
outcome<auth_step> next_auth_step(const message &m, bool sasl_enabled, bool skip_auth);

/// Decodes SpiceLinkAuthMechanism; nullopt when fewer than 4 bytes.
std::optional<uint32_t> parse_auth_mechanism(std::span<const uint8_t> in) noexcept;

enum class auth_method : uint8_t { spice_ticket, sasl };

/// AUTH_SPICE is accepted only while SASL is disabled; AUTH_SASL is accepted
/// whatever sasl_enabled says (as in the reference); anything else is
/// INVALID_DATA (reply).
outcome<auth_method> choose_auth(uint32_t mechanism, bool sasl_enabled);

/// The answer to a wrong, expired or undecryptable ticket.
inline failure ticket_denied(const char *reason) noexcept {
    return failure{SPICE_LINK_ERR_PERMISSION_DENIED, answer::result, reason};
}

/// The server's successful reply: header (size = 178 + 4 * caps words) and
/// SpiceLinkReply with error OK, caps_offset 178, then common and channel
/// caps. `pub_key` is the 162-byte DER key, or empty for zeros (the SASL
/// case); a shorter key is zero-padded, a longer one cut.
void encode_reply(wire::writer &w, std::span<const uint8_t> pub_key, const caps &common,
                  const caps &channel);
/// The server's error reply: header (size 178) and an all-zero SpiceLinkReply
/// except `error` (caps_offset and counts 0, no caps).
void encode_error_reply(wire::writer &w, uint32_t error);
/// The 4-byte link result sent after authentication.
void encode_result(wire::writer &w, uint32_t error);
/// Writes what `f.how` says (nothing for answer::close).
void encode_failure(wire::writer &w, const failure &f);

/// Client side, for tests and the in-repo client: header + SpiceLinkMess with
/// caps right after the fixed part.
void encode_link_request(wire::writer &w, const message &m,
                         uint32_t major_version = SPICE_VERSION_MAJOR,
                         uint32_t minor_version = SPICE_VERSION_MINOR);
/// Client side: parses the SpiceLinkReply body (header.size bytes after the
/// header). INVALID_DATA (close) when short or caps lie outside it.
outcome<reply> parse_reply(std::span<const uint8_t> in);

} // namespace rs::link
