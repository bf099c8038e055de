#include "reds/tls.hpp"
#include "reds/websocket.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/io.hpp"
#include "runtime/socket.hpp"
#include "runtime/sync.hpp"
#include "support/run_task.hpp"

namespace {

using namespace std::chrono_literals;
using rs::task;
using rs::testing::run_task;

constexpr const char *key_password = "s3cret";

/// A CA and a server certificate for "localhost" signed by it, with the
/// server key encrypted under key_password: made once per test binary with
/// the openssl CLI in a temporary directory.
struct cert_files {
    std::filesystem::path dir;
    std::string ca, cert, key, dh;
};

const cert_files &certs() {
    static const cert_files files = [] {
        cert_files f;
        std::string tmpl = (std::filesystem::temp_directory_path() / "rs-tls-XXXXXX").string();
        f.dir = ::mkdtemp(tmpl.data());
        f.ca = (f.dir / "ca.pem").string();
        f.cert = (f.dir / "server.pem").string();
        f.key = (f.dir / "server.key").string();
        f.dh = (f.dir / "dh.pem").string();
        const std::string cmd =
            "cd '" + f.dir.string() +
            "' && (openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
            "-keyout ca.key -out ca.pem -days 2 -subj /CN=ringspice-test-ca"
            " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -passout pass:" +
            std::string(key_password) +
            " -keyout server.key -out server.csr -subj /CN=localhost"
            " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
            "-out server.pem -days 2"
            " && openssl genpkey -genparam -algorithm DH -pkeyopt dh_param:ffdhe2048 -out dh.pem"
            ") >/dev/null 2>&1";
        EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
        return f;
    }();
    return files;
}

rs::tls_options options() {
    rs::tls_options o;
    o.ca_cert_file = certs().ca;
    o.cert_file = certs().cert;
    o.private_key_file = certs().key;
    o.key_password = key_password;
    return o;
}

std::shared_ptr<rs::tls_context> context() {
    auto ctx = rs::tls_context::create(options());
    EXPECT_TRUE(ctx.ok()) << ctx.error().message();
    return ctx.ok() ? *ctx : nullptr;
}

struct socket_pair {
    rs::fd_handle server, client;
    socket_pair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        server.reset(fds[0]);
        client.reset(fds[1]);
    }
};

struct ssl_ctx_free {
    void operator()(SSL_CTX *c) const { SSL_CTX_free(c); }
};
struct ssl_free {
    void operator()(SSL *s) const { SSL_free(s); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

/// A blocking OpenSSL client on its own thread, as a SPICE client is: it
/// checks the server's certificate against the test CA and the name.
struct client_conn {
    std::unique_ptr<SSL_CTX, ssl_ctx_free> ctx;
    ssl_ptr ssl;
};

client_conn client_connect(int fd, int max_version = 0) {
    client_conn c;
    c.ctx.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(c.ctx.get(), certs().ca.c_str(), nullptr);
    SSL_CTX_set_verify(c.ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (max_version != 0) {
        // TLS 1.1 needs SHA-1 signatures, which security level 1 forbids.
        SSL_CTX_set_security_level(c.ctx.get(), 0);
        SSL_CTX_set_min_proto_version(c.ctx.get(), TLS1_VERSION);
        SSL_CTX_set_max_proto_version(c.ctx.get(), max_version);
    }
    c.ssl.reset(SSL_new(c.ctx.get()));
    SSL_set_fd(c.ssl.get(), fd);
    SSL_set1_host(c.ssl.get(), "localhost");
    if (SSL_connect(c.ssl.get()) != 1) c.ssl.reset();
    ERR_clear_error();
    return c;
}

bool ssl_write_all(SSL *ssl, const std::vector<uint8_t> &data) {
    size_t off = 0;
    while (off < data.size()) {
        size_t n = 0;
        if (SSL_write_ex(ssl, data.data() + off, data.size() - off, &n) != 1) return false;
        off += n;
    }
    return true;
}

std::vector<uint8_t> ssl_read_n(SSL *ssl, size_t want) {
    std::vector<uint8_t> out(want);
    size_t off = 0;
    while (off < want) {
        size_t n = 0;
        if (SSL_read_ex(ssl, out.data() + off, want - off, &n) != 1) break;
        off += n;
    }
    out.resize(off);
    return out;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<uint8_t>((i * 131 + seed) ^ (i >> 11));
    return v;
}

std::span<const std::byte> as_bytes(const std::vector<uint8_t> &v) {
    return std::as_bytes(std::span(v));
}

std::span<const std::byte> as_bytes(std::string_view s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

using accept_result = rs::result<std::unique_ptr<rs::tls_stream>>;

task<accept_result> accept_on(rs::fd_handle fd, std::shared_ptr<rs::tls_context> ctx,
                              std::vector<std::byte> already_read = {}) {
    co_return co_await rs::tls_stream::accept(std::move(fd), std::move(ctx), already_read, {});
}

TEST(TlsContext, LoadsCertificatesKeyCaAndDhFile) {
    auto o = options();
    o.dh_key_file = certs().dh;
    o.ciphersuite = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
    auto ctx = rs::tls_context::create(o);
    ASSERT_TRUE(ctx.ok()) << ctx.error().message();
    EXPECT_NE((*ctx)->native(), nullptr);
    EXPECT_EQ(SSL_CTX_get_min_proto_version((*ctx)->native()), TLS1_2_VERSION);
    EXPECT_NE(SSL_CTX_get_options((*ctx)->native()) & SSL_OP_NO_RENEGOTIATION, 0u);
    EXPECT_NE(SSL_CTX_get_options((*ctx)->native()) & SSL_OP_NO_COMPRESSION, 0u);
}

TEST(TlsContext, WrongKeyPasswordFails) {
    auto o = options();
    o.key_password = "not the password";
    EXPECT_FALSE(rs::tls_context::create(o).ok());
    o.key_password.clear();
    EXPECT_FALSE(rs::tls_context::create(o).ok());
}

TEST(TlsContext, MissingOrBadFilesFail) {
    auto o = options();
    o.cert_file = (certs().dir / "missing.pem").string();
    EXPECT_FALSE(rs::tls_context::create(o).ok());
    o = options();
    o.ca_cert_file = (certs().dir / "missing-ca.pem").string();
    EXPECT_FALSE(rs::tls_context::create(o).ok());
    o = options();
    o.dh_key_file = certs().ca; // a certificate, not DH parameters
    EXPECT_FALSE(rs::tls_context::create(o).ok());
    o = options();
    o.ciphersuite = "NO-SUCH-CIPHER";
    EXPECT_FALSE(rs::tls_context::create(o).ok());
}

TEST(TlsStream, HandshakeThenBytesBothWaysIncludingOneMebibyte) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    const auto to_client = pattern(1 << 20, 7);
    const auto to_server = pattern(1 << 20, 91);
    std::vector<uint8_t> client_got;
    std::string client_hello;
    std::thread client([&, fd = sp.client.get()] {
        auto c = client_connect(fd);
        if (!c.ssl) return;
        auto hello = ssl_read_n(c.ssl.get(), 5);
        client_hello.assign(hello.begin(), hello.end());
        ssl_write_all(c.ssl.get(), {'w', 'o', 'r', 'l', 'd'});
        client_got = ssl_read_n(c.ssl.get(), to_client.size());
        ssl_write_all(c.ssl.get(), to_server);
        SSL_shutdown(c.ssl.get()); // close_notify
    });

    struct outcome {
        bool accepted = false;
        int ssf = 0;
        bool is_tls = false;
        std::string small;
        std::vector<uint8_t> big;
        std::error_code end;
    };
    auto out = run_task([](rs::fd_handle fd, std::shared_ptr<rs::tls_context> c,
                           const std::vector<uint8_t> *send_big) -> task<outcome> {
        outcome o;
        auto s = co_await accept_on(std::move(fd), std::move(c));
        if (!s) co_return o;
        o.accepted = true;
        o.ssf = (*s)->ssf();
        o.is_tls = (*s)->is_tls();
        EXPECT_TRUE((co_await (*s)->write_all(as_bytes("hello"), {})).ok());
        std::vector<std::byte> buf(5);
        EXPECT_TRUE((co_await (*s)->read_exact(buf, {})).ok());
        o.small.assign(reinterpret_cast<const char *>(buf.data()), buf.size());
        EXPECT_TRUE((co_await (*s)->write_all(as_bytes(*send_big), {})).ok());
        std::vector<std::byte> big(send_big->size());
        EXPECT_TRUE((co_await (*s)->read_exact(big, {})).ok());
        o.big.assign(reinterpret_cast<const uint8_t *>(big.data()),
                     reinterpret_cast<const uint8_t *>(big.data()) + big.size());
        std::array<std::byte, 16> tail{};
        auto end = co_await (*s)->read_some(tail, {});
        EXPECT_FALSE(end.ok());
        o.end = end.error();
        co_return o;
    }(std::move(sp.server), ctx, &to_client));
    client.join();

    ASSERT_TRUE(out.accepted);
    EXPECT_TRUE(out.is_tls);
    EXPECT_GE(out.ssf, 128);
    EXPECT_EQ(client_hello, "hello");
    EXPECT_EQ(out.small, "world");
    EXPECT_TRUE(client_got == to_client);
    EXPECT_TRUE(out.big == to_server);
    EXPECT_EQ(out.end, rs::errc::eof);
}

TEST(TlsStream, SocketEofWithoutCloseNotifyIsEof) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    std::thread client([fd = sp.client.get()] {
        auto c = client_connect(fd);
        if (c.ssl) ssl_write_all(c.ssl.get(), {'x'});
        // The end of the socket without close_notify. (A close(2) with our
        // session tickets unread would reset the connection instead.)
        ::shutdown(fd, SHUT_WR);
    });
    auto r = run_task(
        [](rs::fd_handle fd, std::shared_ptr<rs::tls_context> c) -> task<rs::result<size_t>> {
            auto s = co_await accept_on(std::move(fd), std::move(c));
            if (!s) co_return s.error();
            std::array<std::byte, 4> buf{};
            auto first = co_await (*s)->read_some(buf, {});
            EXPECT_TRUE(first.ok());
            co_return co_await (*s)->read_some(buf, {});
        }(std::move(sp.server), ctx));
    client.join();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::eof);
}

TEST(TlsStream, UsesBytesTheListenerAlreadyRead) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    std::string got;
    std::thread client([&, fd = sp.client.get()] {
        auto c = client_connect(fd);
        if (!c.ssl) return;
        ssl_write_all(c.ssl.get(), {'p', 'i', 'n', 'g'});
        auto v = ssl_read_n(c.ssl.get(), 4);
        got.assign(v.begin(), v.end());
    });
    auto ok = run_task([](rs::fd_handle fd, std::shared_ptr<rs::tls_context> c) -> task<bool> {
        // The listener peeks at the first bytes to tell SPICE from TLS.
        std::vector<std::byte> first(4);
        if (!(co_await rs::recv_exact(fd.get(), first)).ok()) co_return false;
        auto s = co_await accept_on(std::move(fd), std::move(c), first);
        if (!s) co_return false;
        std::vector<std::byte> buf(4);
        if (!(co_await (*s)->read_exact(buf, {})).ok()) co_return false;
        co_return (co_await (*s)->write_all(as_bytes("pong"), {})).ok();
    }(std::move(sp.server), ctx));
    client.join();
    EXPECT_TRUE(ok);
    EXPECT_EQ(got, "pong");
}

TEST(TlsStream, Tls11ClientIsRefused) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    bool client_connected = true;
    std::thread client([&, fd = sp.client.get()] {
        client_connected = static_cast<bool>(client_connect(fd, TLS1_1_VERSION).ssl);
    });
    auto r = run_task(accept_on(std::move(sp.server), ctx));
    client.join();
    EXPECT_FALSE(client_connected);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::protocol);
}

TEST(TlsStream, GarbageInsteadOfClientHelloIsAnError) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    std::thread client([fd = sp.client.get()] {
        const std::string_view junk = "GET / HTTP/1.1\r\nHost: spice\r\n\r\n";
        (void)!::write(fd, junk.data(), junk.size());
        char buf[256];
        while (::read(fd, buf, sizeof(buf)) > 0) {
        } // until the server closes
    });
    auto r = run_task(accept_on(std::move(sp.server), ctx));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::protocol);
    client.join(); // the failed stream closed the socket, so the client saw EOF
}

TEST(TlsStream, GarbageAlreadyReadFailsWithoutWaitingForTheSocket) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    std::vector<std::byte> redq{std::byte{'R'},  std::byte{'E'}, std::byte{'D'}, std::byte{'Q'},
                                std::byte{0x02}, std::byte{0},   std::byte{0},   std::byte{0}};
    auto r = run_task(accept_on(std::move(sp.server), ctx, redq));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::protocol);
}

TEST(TlsStream, PeerClosingDuringHandshakeIsEof) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    sp.client.reset();
    auto r = run_task(accept_on(std::move(sp.server), ctx));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::eof);
}

TEST(TlsStream, CancelledReadLosesNothing) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    std::thread client([fd = sp.client.get()] {
        auto c = client_connect(fd);
        if (!c.ssl) return;
        std::this_thread::sleep_for(100ms); // after the server's read was cancelled
        ssl_write_all(c.ssl.get(), {'l', 'a', 't', 'e'});
        ssl_read_n(c.ssl.get(), 1); // until the server is done
    });
    auto out = run_task(
        [](rs::fd_handle fd,
           std::shared_ptr<rs::tls_context> c) -> task<std::pair<std::error_code, std::string>> {
            auto s = co_await accept_on(std::move(fd), std::move(c));
            if (!s) co_return std::pair{s.error(), std::string()};
            std::stop_source stop;
            rs::spawn([](std::stop_source src) -> task<void> {
                co_await rs::sleep_for(10ms);
                src.request_stop();
            }(stop));
            std::vector<std::byte> buf(4);
            auto cancelled = co_await (*s)->read_some(buf, stop.get_token());
            auto late = co_await (*s)->read_exact(buf, {});
            EXPECT_TRUE(late.ok());
            (void)co_await (*s)->write_all(as_bytes("!"), {});
            co_return std::pair{cancelled.error(),
                                std::string(reinterpret_cast<const char *>(buf.data()), 4)};
        }(std::move(sp.server), ctx));
    client.join();
    EXPECT_EQ(out.first, rs::errc::cancelled);
    EXPECT_EQ(out.second, "late");
}

/// A non-blocking client that writes and reads at the same time, so the
/// server's reader and writer coroutines run concurrently on one stream.
std::vector<uint8_t> duplex_client(int fd, const std::vector<uint8_t> &send, size_t want) {
    auto c = client_connect(fd);
    if (!c.ssl) return {};
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::vector<uint8_t> got(want);
    size_t sent = 0, recvd = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while ((sent < send.size() || recvd < want) && std::chrono::steady_clock::now() < deadline) {
        bool progress = false;
        size_t n = 0;
        if (sent < send.size()) {
            if (SSL_write_ex(c.ssl.get(), send.data() + sent,
                             std::min<size_t>(send.size() - sent, 16384), &n) == 1) {
                sent += n;
                progress = true;
            }
        }
        if (recvd < want && SSL_read_ex(c.ssl.get(), got.data() + recvd, want - recvd, &n) == 1) {
            recvd += n;
            progress = true;
        }
        ERR_clear_error();
        if (!progress) {
            pollfd p{fd, static_cast<short>(POLLIN | (sent < send.size() ? POLLOUT : 0)), 0};
            ::poll(&p, 1, 10);
        }
    }
    got.resize(recvd);
    return got;
}

TEST(TlsStream, ConcurrentReaderAndWriterOnOneStream) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    const auto down = pattern(1 << 20, 3);
    const auto up = pattern(1 << 20, 200);
    std::vector<uint8_t> client_got;
    std::thread client(
        [&, fd = sp.client.get()] { client_got = duplex_client(fd, up, down.size()); });
    auto server_got = run_task([](rs::fd_handle fd, std::shared_ptr<rs::tls_context> c,
                                  const std::vector<uint8_t> *send,
                                  size_t want) -> task<std::vector<uint8_t>> {
        auto s = co_await accept_on(std::move(fd), std::move(c));
        if (!s) co_return std::vector<uint8_t>{};
        rs::event wrote;
        // Two writers race for the lock; their halves must not interleave.
        const size_t half = send->size() / 2;
        int writers = 2;
        for (size_t part = 0; part < 2; ++part)
            rs::spawn([](rs::tls_stream &st, std::span<const std::byte> b, int &left,
                         rs::event &done) -> task<void> {
                EXPECT_TRUE((co_await st.write_all(b, {})).ok());
                if (--left == 0) done.set();
            }(**s, as_bytes(*send).subspan(part * half, half), writers, wrote));
        std::vector<std::byte> got(want);
        EXPECT_TRUE((co_await (*s)->read_exact(got, {})).ok());
        co_await wrote.wait();
        co_return std::vector<uint8_t>(reinterpret_cast<const uint8_t *>(got.data()),
                                       reinterpret_cast<const uint8_t *>(got.data()) + got.size());
    }(std::move(sp.server), ctx, &down, up.size()));
    client.join();
    EXPECT_TRUE(client_got == down);
    EXPECT_TRUE(server_got == up);
}

} // namespace

// ---- TLS + WebSocket: the upgrade runs inside the TLS session -----------------

task<rs::result<std::string>> tls_then_websocket(rs::fd_handle fd,
                                                 std::shared_ptr<rs::tls_context> ctx) {
    auto tls = co_await accept_on(std::move(fd), std::move(ctx));
    if (!tls) co_return tls.error();
    std::unique_ptr<rs::stream> inner = std::move(*tls);
    auto ws = co_await rs::websocket_accept(std::move(inner), {}, {});
    if (!ws) co_return ws.error();
    std::unique_ptr<rs::stream> s = std::move(*ws);
    EXPECT_TRUE(s->is_tls()); // the WebSocket layer keeps the TLS view of the link
    std::array<std::byte, 4> magic{};
    auto r = co_await s->read_exact(magic, {});
    if (!r) co_return r.error();
    EXPECT_TRUE((co_await s->write_all(as_bytes("ok"), {})).ok());
    // Stay open until the client is done (its close_notify, then EOF):
    // closing first would make its last write hit a closed socket.
    std::array<std::byte, 16> tail{};
    auto end = co_await s->read_some(tail, {});
    EXPECT_FALSE(end.ok());
    co_return std::string(reinterpret_cast<const char *>(magic.data()), magic.size());
}

TEST(TlsWebSocket, UpgradeInsideTlsThenFramedBytesBothWays) {
    auto ctx = context();
    ASSERT_TRUE(ctx);
    socket_pair sp;
    std::string response, reply;
    std::thread client([&, fd = sp.client.get()] {
        auto c = client_connect(fd);
        if (!c.ssl) return;
        const std::string req =
            "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n";
        ssl_write_all(c.ssl.get(), std::vector<uint8_t>(req.begin(), req.end()));
        while (response.find("\r\n\r\n") == std::string::npos) {
            auto b = ssl_read_n(c.ssl.get(), 1);
            if (b.empty()) return;
            response.push_back(static_cast<char>(b[0]));
        }
        // One masked binary frame carrying the SPICE magic.
        const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
        std::vector<uint8_t> frame = {0x82, 0x80 | 4, mask[0], mask[1], mask[2], mask[3]};
        const char magic[] = "REDQ";
        for (int i = 0; i < 4; ++i)
            frame.push_back(static_cast<uint8_t>(magic[i]) ^ mask[i]);
        ssl_write_all(c.ssl.get(), frame);
        auto hdr = ssl_read_n(c.ssl.get(), 2); // unmasked server frame: 0x82, length
        if (hdr.size() == 2 && hdr[0] == 0x82) {
            auto body = ssl_read_n(c.ssl.get(), hdr[1] & 0x7f);
            reply.assign(body.begin(), body.end());
        }
        SSL_shutdown(c.ssl.get());
    });
    auto got = run_task(tls_then_websocket(std::move(sp.server), ctx));
    client.join();
    EXPECT_EQ(response.rfind("HTTP/1.1 101 ", 0), 0u) << response;
    EXPECT_NE(response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
              std::string::npos)
        << response;
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(*got, "REDQ");
    EXPECT_EQ(reply, "ok");
}
