// SASL authentication of a SPICE link (Cyrus SASL, server side), run by the
// link coroutine after the client chose SPICE_COMMON_CAP_AUTH_SASL.
//
// The exchange on the stream, as spice-gtk's client speaks it (all u32 are
// little-endian):
//   server: u32 mechlist length, mechlist (",PLAIN,DIGEST-MD5,", no NUL)
//   client: u32 mechname length (1..100), mechname
//   client: u32 length, data       (length 0: no data; else data ends in NUL)
//   server: u32 length, data, u8 complete   (same encoding; complete 0 or 1)
//   ... client step / server reply until the server says complete ...
//   server: u32 0 (accepted)
//        or u32 1, u32 22, "Authentication failed\0" (rejected after success
//           of the mechanism, e.g. for a weak security layer)
// After an accepted exchange the link goes on with the 4-byte link result.
//
// Security layers: over TLS the reference passes the cipher's bits to SASL as
// an external SSF and forbids a SASL security layer (max_ssf 0), so every
// mechanism runs without one. On plain TCP it demands a layer of SSF >= 56
// from SASL itself (GSSAPI, DIGEST-MD5 with auth-conf) and then encodes all
// later traffic with sasl_encode/sasl_decode. ringspice does not implement
// that encoding layer: SASL is offered only over TLS, and on a plain stream
// sasl_authenticate refuses before writing anything (errc::not_supported).
#pragma once

#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>

#include "reds/stream.hpp"
#include "runtime/result.hpp"
#include "runtime/task.hpp"

namespace rs {

/// What one SASL exchange needs to know about its server and connection.
/// Plain data, built on the control shard by the link coroutine.
struct sasl_settings {
    /// sasl_server_init's application name: Cyrus reads <appname>.conf. The
    /// first call in the process initialises the library, so its name wins.
    std::string appname = "spice";
    /// "ip;port" of our end and the peer's, as Cyrus expects (empty: unknown;
    /// "localhost;" for UNIX sockets, as in the reference).
    std::string local_address;
    std::string remote_address;
    bool is_tls = false;
    /// The TLS cipher's key bits (stream::ssf()); passed to SASL as the
    /// external SSF.
    int ssf = 0;

    /// Fills addresses, is_tls and ssf from a connected stream.
    static sasl_settings for_stream(const stream &s, std::string_view appname);
};

/// Longest mechanism name a client may send (as the reference).
inline constexpr uint32_t sasl_max_mechname_length = 100;
/// Longest SASL payload either side may send (as the reference and spice-gtk).
inline constexpr uint32_t sasl_max_data_length = 1024 * 1024;

/// The error a failed exchange returns when the reference answers the client
/// with SPICE_LINK_ERR_INVALID_DATA before closing: the client named a
/// mechanism it was not offered, or sent oversized start data. For every
/// other error the link just closes (a refused login was already told to the
/// client by the SASL protocol, or by closing, as the reference does).
inline constexpr std::errc sasl_invalid_data = std::errc::invalid_argument;

/// Initialises Cyrus SASL's server side once per process (thread-safe).
/// Later calls return the first call's outcome whatever their appname.
result<void> sasl_init(std::string_view appname);

/// Runs the SASL exchange on `s` and returns ok only when the client
/// authenticated and the security strength is acceptable. Errors, each logged
/// once: errc::not_supported (not over TLS, see above), sasl_invalid_data,
/// std::errc::permission_denied (wrong credentials or the mechanism failed),
/// errc::protocol (malformed or oversized lengths), and the stream's errors
/// (errc::eof, errc::cancelled). Runs on the control shard; Cyrus plug-ins
/// with blocking back-ends (sasldb file, a KDC) block it briefly, as they do
/// the reference's main loop.
task<result<void>> sasl_authenticate(stream &s, const sasl_settings &settings, std::stop_token st);

} // namespace rs
