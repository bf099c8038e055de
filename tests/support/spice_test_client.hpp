// Test helper: a minimal blocking SPICE client over loopback TCP. It speaks
// the link handshake step by step (so a test can stop or misbehave at any
// step) and then mini-header messages on the channel. Every read is bounded
// by a timeout so a wedged server fails the test instead of hanging it.
// Header-only: tests/<area>/ compiles only *_test.cpp files.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "reds/link_protocol.hpp"
#include "reds/protocol.hpp"
#include "reds/wire.hpp"

namespace rs::testing {

/// How a bounded read ended.
enum class read_status : uint8_t {
    ok,      ///< all requested bytes arrived
    closed,  ///< EOF or connection reset before they did
    timeout, ///< nothing more within the deadline
};

/// The server's link reply as the client saw it: the header fields and,
/// when the body parsed, the SpiceLinkReply.
struct link_reply {
    uint32_t magic = 0;
    uint32_t major_version = 0;
    uint32_t minor_version = 0;
    uint32_t size = 0;
    std::optional<link::reply> body;
    uint32_t error() const noexcept { return body ? body->error : uint32_t{SPICE_LINK_ERR_ERROR}; }
};

/// One message received on the channel (mini header).
struct channel_message {
    uint16_t type = 0;
    std::vector<uint8_t> body;
};

/// The common caps a modern client announces: auth selection, ticket auth
/// and the mini header.
inline caps default_client_common_caps() {
    caps c;
    c.set(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
    c.set(SPICE_COMMON_CAP_AUTH_SPICE);
    c.set(SPICE_COMMON_CAP_MINI_HEADER);
    return c;
}

/// RSA-OAEP (SHA-1) encryption of `password` (with its NUL, as spice-gtk
/// sends it) under the DER SubjectPublicKeyInfo of a link reply. Empty on
/// failure.
inline std::vector<uint8_t> encrypt_ticket(std::span<const uint8_t> der_key,
                                           std::string_view password) {
    std::vector<uint8_t> out;
    const unsigned char *p = der_key.data();
    EVP_PKEY *key = d2i_PUBKEY(nullptr, &p, static_cast<long>(der_key.size()));
    if (key == nullptr) return out;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, nullptr);
    std::vector<uint8_t> plain(password.begin(), password.end());
    plain.push_back(0);
    size_t len = 0;
    if (ctx != nullptr && EVP_PKEY_encrypt_init(ctx) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 &&
        EVP_PKEY_encrypt(ctx, nullptr, &len, plain.data(), plain.size()) == 1) {
        out.resize(len);
        if (EVP_PKEY_encrypt(ctx, out.data(), &len, plain.data(), plain.size()) == 1)
            out.resize(len);
        else
            out.clear();
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    return out;
}

/// A blocking TCP client to 127.0.0.1. Not copyable; closes its socket when
/// destroyed.
class spice_test_client {
  public:
    static constexpr std::chrono::milliseconds default_timeout{5000};

    spice_test_client() = default;
    spice_test_client(const spice_test_client &) = delete;
    spice_test_client &operator=(const spice_test_client &) = delete;
    ~spice_test_client() { close(); }

    /// Connects to 127.0.0.1:port; false on failure.
    bool connect(int port) {
        close();
        _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (_fd < 0) return false;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(_fd, reinterpret_cast<const sockaddr *>(&a), sizeof(a)) != 0) {
            close();
            return false;
        }
        const int one = 1;
        (void)::setsockopt(_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return true;
    }
    void close() noexcept {
        if (_fd >= 0) ::close(_fd);
        _fd = -1;
    }
    /// Closing with RST instead of FIN (SO_LINGER 0), as a crashed peer does.
    void reset() noexcept {
        if (_fd < 0) return;
        const linger l{.l_onoff = 1, .l_linger = 0};
        (void)::setsockopt(_fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close();
    }
    bool connected() const noexcept { return _fd >= 0; }
    /// A half-open socket: no more bytes from us (FIN), reads still work.
    bool shutdown_write() noexcept { return _fd >= 0 && ::shutdown(_fd, SHUT_WR) == 0; }
    /// The socket, for tests that tune it (buffer sizes, timeouts).
    int fd() const noexcept { return _fd; }
    void set_timeout(std::chrono::milliseconds t) noexcept { _timeout = t; }

    // ---- raw bytes -----------------------------------------------------------
    bool send_raw(std::span<const uint8_t> data) {
        while (!data.empty()) {
            const ssize_t n = ::send(_fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            data = data.subspan(static_cast<size_t>(n));
        }
        return true;
    }
    /// Reads exactly out.size() bytes within the client's timeout.
    read_status read_exact(std::span<uint8_t> out) {
        const auto deadline = std::chrono::steady_clock::now() + _timeout;
        while (!out.empty()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return read_status::timeout;
            pollfd p{.fd = _fd, .events = POLLIN, .revents = 0};
            const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
            if (pr < 0 && errno == EINTR) continue;
            if (pr == 0) return read_status::timeout;
            if (pr < 0) return read_status::closed;
            const ssize_t n = ::recv(_fd, out.data(), out.size(), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return read_status::closed;
            out = out.subspan(static_cast<size_t>(n));
        }
        return read_status::ok;
    }
    /// Reads and discards until the server closes (closed), or the timeout.
    read_status wait_closed() {
        std::array<uint8_t, 4096> buf{};
        const auto deadline = std::chrono::steady_clock::now() + _timeout;
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return read_status::timeout;
            pollfd p{.fd = _fd, .events = POLLIN, .revents = 0};
            const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
            if (pr < 0 && errno == EINTR) continue;
            if (pr == 0) return read_status::timeout;
            if (pr < 0) return read_status::closed;
            const ssize_t n = ::recv(_fd, buf.data(), buf.size(), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return read_status::closed;
        }
    }

    // ---- the link handshake ------------------------------------------------
    /// Sends SpiceLinkHeader + SpiceLinkMess.
    bool send_link(const link::message &m, uint32_t major = SPICE_VERSION_MAJOR,
                   uint32_t minor = SPICE_VERSION_MINOR) {
        std::vector<uint8_t> buf;
        wire::writer w(buf);
        link::encode_link_request(w, m, major, minor);
        return send_raw(buf);
    }
    /// A main-channel link message with the default client caps.
    static link::message main_link(uint32_t connection_id = 0) {
        return link_to(SPICE_CHANNEL_MAIN, 0, connection_id);
    }
    static link::message link_to(uint8_t type, uint8_t id, uint32_t connection_id) {
        link::message m;
        m.connection_id = connection_id;
        m.channel_type = type;
        m.channel_id = id;
        m.common_caps = default_client_common_caps();
        return m;
    }
    /// Reads the SpiceLinkHeader and the reply body; nullopt when the server
    /// closed (or timed out) before a whole reply.
    std::optional<link_reply> read_reply() {
        std::array<uint8_t, link::header_size> hdr{};
        if (read_exact(hdr) != read_status::ok) return std::nullopt;
        wire::reader r(hdr);
        link_reply rep;
        rep.magic = r.u32();
        rep.major_version = r.u32();
        rep.minor_version = r.u32();
        rep.size = r.u32();
        if (rep.size > 64 * 1024) return rep; // nonsense; do not allocate it
        std::vector<uint8_t> body(rep.size);
        if (read_exact(body) != read_status::ok) return std::nullopt;
        auto parsed = link::parse_reply(body);
        if (parsed) rep.body = std::move(*parsed);
        return rep;
    }
    bool send_auth_mechanism(uint32_t mechanism = SPICE_COMMON_CAP_AUTH_SPICE) {
        std::vector<uint8_t> buf;
        wire::writer w(buf);
        w.u32(mechanism);
        return send_raw(buf);
    }
    /// Encrypts `password` with the reply's key and sends the 128 bytes.
    bool send_ticket(const link::reply &rep, std::string_view password) {
        const auto enc = encrypt_ticket(rep.pub_key, password);
        if (enc.size() != link::encrypted_ticket_size) return false;
        return send_raw(enc);
    }
    /// The 4-byte link result; nullopt when the server closed first.
    std::optional<uint32_t> read_result() {
        std::array<uint8_t, link::result_size> b{};
        if (read_exact(b) != read_status::ok) return std::nullopt;
        wire::reader r(b);
        return r.u32();
    }
    /// The whole handshake for a client with auth selection: link, reply,
    /// AUTH_SPICE, ticket, result. nullopt when the server closed before
    /// answering; the reply's error when it refused the link, else the
    /// link result.
    std::optional<uint32_t> link_and_auth(const link::message &m, std::string_view password = {}) {
        if (!send_link(m)) return std::nullopt;
        auto rep = read_reply();
        if (!rep) return std::nullopt;
        if (rep->error() != SPICE_LINK_ERR_OK || !rep->body) return rep->error();
        _last_reply = rep;
        if (m.wants_auth_selection() && !send_auth_mechanism()) return std::nullopt;
        if (!send_ticket(*rep->body, password)) return std::nullopt;
        return read_result();
    }
    /// The reply of the last successful link_and_auth.
    const std::optional<link_reply> &last_reply() const noexcept { return _last_reply; }

    // ---- messages (mini header) --------------------------------------------
    bool send_message(uint16_t type, std::span<const uint8_t> body = {}) {
        std::vector<uint8_t> buf;
        wire::writer w(buf);
        mini_header{.type = type, .size = static_cast<uint32_t>(body.size())}.encode(w);
        w.bytes(body);
        return send_raw(buf);
    }
    std::optional<channel_message> read_message() {
        std::array<uint8_t, mini_header::wire_size> hdr{};
        if (read_exact(hdr) != read_status::ok) return std::nullopt;
        const auto h = mini_header::decode(hdr);
        if (!h || h->size > 16 * 1024 * 1024) return std::nullopt;
        channel_message m{.type = h->type, .body = std::vector<uint8_t>(h->size)};
        if (read_exact(m.body) != read_status::ok) return std::nullopt;
        return m;
    }
    /// Reads messages until one of `type` arrives (others are skipped).
    std::optional<channel_message> read_message_of(uint16_t type) {
        while (auto m = read_message())
            if (m->type == type) return m;
        return std::nullopt;
    }

  private:
    int _fd = -1;
    std::chrono::milliseconds _timeout{default_timeout};
    std::optional<link_reply> _last_reply;
};

} // namespace rs::testing
