// WebSocket (RFC 6455) for web clients: the upgrade, the framing rules a
// server must enforce (the Autobahn-style cases), the stream over a socket
// pair, and a real rs::server linking main through a WebSocket proxy that
// the in-repo SPICE test client talks to.
#include "reds/websocket.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "reds/server.hpp"
#include "runtime/socket.hpp"
#include "support/run_task.hpp"
#include "support/spice_test_client.hpp"

namespace {

using namespace std::chrono_literals;
using rs::task;
using rs::testing::run_task;
using rs::ws::frame_decoder;
using kind = frame_decoder::event::kind;

constexpr const char *rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";

std::string browser_request(std::string_view extra = "Sec-WebSocket-Protocol: binary\r\n") {
    return "GET /spice HTTP/1.1\r\nHost: 127.0.0.1:5900\r\nUpgrade: websocket\r\n"
           "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " +
           std::string(rfc_key) + "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) +
           "Origin: http://127.0.0.1:8000\r\n\r\n";
}

/// A client frame: FIN as given, masked with a fixed key.
std::vector<std::byte> client_frame(uint8_t opcode, std::span<const uint8_t> payload,
                                    bool fin = true, uint8_t first_byte_extra = 0) {
    std::vector<std::byte> f;
    f.push_back(std::byte((fin ? 0x80 : 0) | first_byte_extra | opcode));
    const uint64_t n = payload.size();
    if (n < 126) {
        f.push_back(std::byte(0x80 | n));
    } else if (n <= 0xFFFF) {
        f.push_back(std::byte(0x80 | 126));
        f.push_back(std::byte(n >> 8));
        f.push_back(std::byte(n & 0xFF));
    } else {
        f.push_back(std::byte(0x80 | 127));
        for (int i = 7; i >= 0; --i)
            f.push_back(std::byte((n >> (8 * i)) & 0xFF));
    }
    const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    for (uint8_t m : mask)
        f.push_back(std::byte(m));
    for (size_t i = 0; i < payload.size(); ++i)
        f.push_back(std::byte(payload[i] ^ mask[i % 4]));
    return f;
}

std::vector<std::byte> client_frame(uint8_t opcode, std::string_view payload, bool fin = true) {
    return client_frame(
        opcode, std::span(reinterpret_cast<const uint8_t *>(payload.data()), payload.size()), fin);
}

std::vector<std::byte> cat(std::initializer_list<std::vector<std::byte>> parts) {
    std::vector<std::byte> out;
    for (const auto &p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

/// Everything the decoder makes of `in`, `out_chunk` bytes of data at a time
/// and `in_chunk` input bytes at a time: the data, and the other events.
struct decoded {
    std::string data;
    std::vector<frame_decoder::event> events; // ping, pong, close, fail (payload not kept)
    std::vector<std::string> payloads;
};

decoded decode_all(std::span<const std::byte> in, size_t in_chunk = 1 << 20,
                   size_t out_chunk = 1 << 20) {
    frame_decoder d;
    decoded r;
    std::vector<std::byte> out(out_chunk);
    size_t pos = 0;
    while (pos < in.size()) {
        auto piece = in.subspan(pos, std::min(in_chunk, in.size() - pos));
        size_t used = 0;
        for (;;) {
            auto ev = d.decode(piece.subspan(used), out);
            used += ev.consumed;
            if (ev.what == kind::need_more) break;
            if (ev.what == kind::data) {
                r.data.append(reinterpret_cast<const char *>(out.data()), ev.produced);
                continue;
            }
            r.events.push_back(ev);
            r.payloads.emplace_back(reinterpret_cast<const char *>(ev.payload.data()),
                                    ev.payload.size());
            if (ev.what == kind::fail || ev.what == kind::close) return r;
        }
        pos += piece.size();
    }
    return r;
}

uint16_t fail_code(std::span<const std::byte> in) {
    auto r = decode_all(in);
    if (r.events.empty() || r.events.back().what != kind::fail) return 0;
    return r.events.back().code;
}

// ---- the upgrade -------------------------------------------------------------

TEST(WebSocketUpgrade, AcceptKeyIsTheRfcExample) {
    EXPECT_EQ(rs::ws::accept_key(rfc_key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketUpgrade, BrowserRequestWithBinaryProtocolIsEchoed) {
    rs::ws::upgrade_request up;
    EXPECT_FALSE(rs::ws::parse_upgrade(browser_request(), up).has_value());
    EXPECT_TRUE(up.binary_protocol);
    const auto resp = rs::ws::upgrade_response(up);
    EXPECT_EQ(resp.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u);
    EXPECT_NE(resp.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              std::string::npos);
    EXPECT_NE(resp.find("Sec-WebSocket-Protocol: binary\r\n"), std::string::npos);
    EXPECT_TRUE(resp.ends_with("\r\n\r\n"));
}

TEST(WebSocketUpgrade, NoProtocolAskedNoneAnswered) {
    rs::ws::upgrade_request up;
    EXPECT_FALSE(rs::ws::parse_upgrade(browser_request(""), up).has_value());
    EXPECT_FALSE(up.binary_protocol);
    EXPECT_EQ(rs::ws::upgrade_response(up).find("Sec-WebSocket-Protocol"), std::string::npos);
}

TEST(WebSocketUpgrade, ProtocolListContainingBinaryIsAccepted) {
    rs::ws::upgrade_request up;
    EXPECT_FALSE(
        rs::ws::parse_upgrade(browser_request("Sec-WebSocket-Protocol: base64, binary\r\n"), up));
    EXPECT_TRUE(up.binary_protocol);
}

TEST(WebSocketUpgrade, BadRequestsAreRefusedWithAnHttpAnswer) {
    rs::ws::upgrade_request up;
    auto is_400 = [&](const std::string &req) {
        auto r = rs::ws::parse_upgrade(req, up);
        return r && r->response.rfind("HTTP/1.1 400 ", 0) == 0;
    };
    EXPECT_TRUE(is_400("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); // plain HTTP
    EXPECT_TRUE(is_400(browser_request("Sec-WebSocket-Protocol: base64\r\n")));
    EXPECT_TRUE(is_400("POST / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"));
    EXPECT_TRUE(is_400("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n"));
    EXPECT_TRUE(is_400("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: short==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
    EXPECT_TRUE(is_400("GET / HTTP/1.1\r\nUpgrade: websocket\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n")); // no Connection: upgrade
    auto r = rs::ws::parse_upgrade("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 8\r\n\r\n",
                                   up);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->response.rfind("HTTP/1.1 426 ", 0), 0u);
    EXPECT_NE(r->response.find("Sec-WebSocket-Version: 13\r\n"), std::string::npos);
}

// ---- framing -----------------------------------------------------------------

TEST(WebSocketFraming, EncodeHeaderUsesTheShortestLength) {
    std::array<std::byte, rs::ws::max_header_size> h{};
    EXPECT_EQ(rs::ws::encode_header(h, rs::ws::op_binary, 0), 2u);
    EXPECT_EQ(h[0], std::byte{0x82});
    EXPECT_EQ(h[1], std::byte{0});
    EXPECT_EQ(rs::ws::encode_header(h, rs::ws::op_binary, 125), 2u);
    EXPECT_EQ(rs::ws::encode_header(h, rs::ws::op_binary, 126), 4u);
    EXPECT_EQ(h[1], std::byte{126});
    EXPECT_EQ(rs::ws::encode_header(h, rs::ws::op_binary, 65535), 4u);
    EXPECT_EQ(h[2], std::byte{0xFF});
    EXPECT_EQ(rs::ws::encode_header(h, rs::ws::op_close, 65536), 10u);
    EXPECT_EQ(h[0], std::byte{0x88});
    EXPECT_EQ(h[1], std::byte{127});
    EXPECT_EQ(h[7], std::byte{1});
}

TEST(WebSocketFraming, RfcMaskedHelloDecodes) {
    const uint8_t rfc[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    auto r = decode_all(std::as_bytes(std::span(rfc)));
    EXPECT_EQ(r.data, "Hello");
    EXPECT_TRUE(r.events.empty());
}

TEST(WebSocketFraming, AnySplitOfInputAndOutputGivesTheSameBytes) {
    std::string big(70000, '\0');
    for (size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 7 + 3);
    const auto in = cat({client_frame(rs::ws::op_binary, "abc"),
                         client_frame(rs::ws::op_binary, std::string(300, 'x')),
                         client_frame(rs::ws::op_binary, big), client_frame(rs::ws::op_binary, ""),
                         client_frame(rs::ws::op_text, "tail")});
    const std::string want = "abc" + std::string(300, 'x') + big + "tail";
    for (size_t in_chunk : {size_t{1}, size_t{3}, size_t{13}, size_t{4096}, size_t{1} << 20})
        for (size_t out_chunk : {size_t{1}, size_t{5}, size_t{65536}})
            EXPECT_EQ(decode_all(in, in_chunk, out_chunk).data, want)
                << in_chunk << " " << out_chunk;
}

TEST(WebSocketFraming, FragmentedMessageWithPingInTheMiddle) {
    const auto in =
        cat({client_frame(rs::ws::op_binary, "Hel", false),
             client_frame(rs::ws::op_ping, "are you there"),
             client_frame(rs::ws::op_continuation, "l", false), client_frame(rs::ws::op_pong, ""),
             client_frame(rs::ws::op_continuation, "o", true)});
    auto r = decode_all(in, 2);
    EXPECT_EQ(r.data, "Hello");
    ASSERT_EQ(r.events.size(), 2u);
    EXPECT_EQ(r.events[0].what, kind::ping);
    EXPECT_EQ(r.payloads[0], "are you there");
    EXPECT_EQ(r.events[1].what, kind::pong);
}

TEST(WebSocketFraming, CloseCarriesItsCode) {
    const uint8_t body[] = {0x03, 0xE8, 'b', 'y', 'e'};
    auto r = decode_all(client_frame(rs::ws::op_close, body));
    ASSERT_EQ(r.events.size(), 1u);
    EXPECT_EQ(r.events[0].what, kind::close);
    EXPECT_EQ(r.events[0].code, 1000);
    auto empty = decode_all(client_frame(rs::ws::op_close, ""));
    ASSERT_EQ(empty.events.size(), 1u);
    EXPECT_EQ(empty.events[0].code, rs::ws::close_no_status);
}

TEST(WebSocketFraming, ProtocolErrorsAreFailedWith1002) {
    using namespace rs::ws;
    // Unmasked client frame.
    const uint8_t unmasked[] = {0x82, 0x01, 'x'};
    EXPECT_EQ(fail_code(std::as_bytes(std::span(unmasked))), close_protocol_error);
    // RSV bits without an extension.
    EXPECT_EQ(fail_code(client_frame(op_binary, std::span<const uint8_t>{}, true, 0x40)),
              close_protocol_error);
    // Reserved opcodes, data and control.
    for (uint8_t op : {0x3, 0x7, 0xB, 0xF})
        EXPECT_EQ(fail_code(client_frame(op, "x")), close_protocol_error) << int(op);
    // Fragmented control frames.
    EXPECT_EQ(fail_code(client_frame(op_ping, "x", false)), close_protocol_error);
    EXPECT_EQ(fail_code(client_frame(op_close, "", false)), close_protocol_error);
    // Control payload over 125 bytes.
    EXPECT_EQ(fail_code(client_frame(op_ping, std::string(126, 'p'))), close_protocol_error);
    // Continuation with no message started; a new message inside one.
    EXPECT_EQ(fail_code(client_frame(op_continuation, "x")), close_protocol_error);
    EXPECT_EQ(fail_code(cat({client_frame(op_binary, "a", false), client_frame(op_text, "b")})),
              close_protocol_error);
    // A 64-bit length with the top bit set.
    const uint8_t huge[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    EXPECT_EQ(fail_code(std::as_bytes(std::span(huge))), close_protocol_error);
    // A 1-byte close payload; reserved and out-of-range close codes.
    EXPECT_EQ(fail_code(client_frame(op_close, "x")), close_protocol_error);
    for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
        const uint8_t body[] = {uint8_t(code >> 8), uint8_t(code & 0xFF)};
        EXPECT_EQ(fail_code(client_frame(op_close, body)), close_protocol_error) << code;
    }
    for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999}) {
        const uint8_t body[] = {uint8_t(code >> 8), uint8_t(code & 0xFF)};
        EXPECT_EQ(fail_code(client_frame(op_close, body)), 0) << code;
    }
    // A close reason that is not UTF-8.
    const uint8_t bad_reason[] = {0x03, 0xE8, 0xC0, 0xAF};
    EXPECT_EQ(fail_code(client_frame(op_close, bad_reason)), close_invalid_payload);
    // Nothing after a close.
    EXPECT_EQ(decode_all(cat({client_frame(op_close, ""), client_frame(op_binary, "x")})).data, "");
}

TEST(WebSocketFraming, HeaderErrorsAreReportedBeforeThePayloadArrives) {
    // A reserved opcode is refused on its first two bytes.
    const uint8_t two[] = {0x83, 0xFF};
    EXPECT_EQ(fail_code(std::as_bytes(std::span(two))), rs::ws::close_protocol_error);
}

// ---- the stream over a socket pair ------------------------------------------

struct socket_pair {
    rs::fd_handle server, client;
    socket_pair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        server.reset(fds[0]);
        client.reset(fds[1]);
    }
};

void send_bytes(int fd, std::span<const std::byte> b) {
    while (!b.empty()) {
        const ssize_t n = ::send(fd, b.data(), b.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        b = b.subspan(static_cast<size_t>(n));
    }
}
void send_str(int fd, std::string_view s) { send_bytes(fd, std::as_bytes(std::span(s))); }

/// Reads until `n` bytes or EOF/timeout.
std::string recv_n(int fd, size_t n) {
    std::string out;
    while (out.size() < n) {
        pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        char buf[65536];
        const ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
        if (r <= 0) break;
        out.append(buf, static_cast<size_t>(r));
    }
    return out;
}
std::string recv_http(int fd) {
    std::string out;
    while (out.find("\r\n\r\n") == std::string::npos) {
        auto c = recv_n(fd, 1);
        if (c.empty()) break;
        out += c;
    }
    return out;
}
/// One server frame: opcode and payload (server frames are unmasked).
std::pair<int, std::string> recv_frame(int fd) {
    auto h = recv_n(fd, 2);
    if (h.size() < 2) return {-1, {}};
    if ((static_cast<uint8_t>(h[1]) & 0x80) != 0) return {-2, {}}; // servers must not mask
    uint64_t len = static_cast<uint8_t>(h[1]) & 0x7F;
    if (len == 126) {
        auto e = recv_n(fd, 2);
        len = (uint64_t(uint8_t(e[0])) << 8) | uint8_t(e[1]);
    } else if (len == 127) {
        auto e = recv_n(fd, 8);
        len = 0;
        for (char c : e)
            len = (len << 8) | uint8_t(c);
    }
    return {static_cast<uint8_t>(h[0]) & 0x0F, recv_n(fd, static_cast<size_t>(len))};
}

/// websocket_accept on the server end, as serve_connection calls it after
/// reading "GET ".
task<rs::result<std::unique_ptr<rs::stream>>> accept_on(rs::fd_handle fd) {
    auto inner = std::make_unique<rs::plain_stream>(std::move(fd));
    std::array<std::byte, 4> magic{};
    auto r = co_await inner->read_exact(magic, {});
    if (!r) co_return r.error();
    co_return co_await rs::websocket_accept(std::move(inner), magic, {});
}

TEST(WebSocketStream, UpgradeThenBytesBothWays) {
    socket_pair sp;
    const int cfd = sp.client.get();
    std::string big(200000, '\0');
    for (size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>(i * 13);
    std::string response, echoed_small, echoed_big;
    int big_op = -1;
    std::thread client([&] {
        // The request and the first frame in one write: the frame must not
        // be lost with the request's buffer.
        send_bytes(cfd, cat({[] {
                                 auto s = browser_request();
                                 auto b = std::as_bytes(std::span(s));
                                 return std::vector<std::byte>(b.begin(), b.end());
                             }(),
                             client_frame(rs::ws::op_binary, "REDQ", false),
                             client_frame(rs::ws::op_continuation, "rest", true)}));
        response = recv_http(cfd);
        echoed_small = recv_frame(cfd).second;
        auto f = recv_frame(cfd);
        big_op = f.first;
        echoed_big = f.second;
    });
    auto out = run_task([&]() -> task<std::string> {
        auto s = co_await accept_on(std::move(sp.server));
        if (!s) co_return "accept failed: " + s.error().message();
        std::array<std::byte, 8> got{};
        auto r = co_await (*s)->read_exact(got, {});
        if (!r) co_return "read failed";
        if (!co_await (*s)->write_all(got, {})) co_return "write failed";
        if (!co_await (*s)->write_all(std::as_bytes(std::span(big)), {})) co_return "big failed";
        co_return std::string(reinterpret_cast<const char *>(got.data()), got.size());
    }());
    client.join();
    EXPECT_EQ(out, "REDQrest");
    EXPECT_EQ(response.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << response;
    EXPECT_NE(response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              std::string::npos);
    EXPECT_NE(response.find("Sec-WebSocket-Protocol: binary\r\n"), std::string::npos);
    EXPECT_EQ(echoed_small, "REDQrest");
    EXPECT_EQ(big_op, rs::ws::op_binary);
    EXPECT_TRUE(echoed_big == big);
}

TEST(WebSocketStream, PingIsPongedAndCloseIsEchoedThenEof) {
    socket_pair sp;
    const int cfd = sp.client.get();
    std::pair<int, std::string> pong, close;
    std::thread client([&] {
        send_str(cfd, browser_request());
        recv_http(cfd);
        const uint8_t bye[] = {0x03, 0xE9};
        send_bytes(cfd,
                   cat({client_frame(rs::ws::op_ping, "p1"), client_frame(rs::ws::op_binary, "d"),
                        client_frame(rs::ws::op_close, bye)}));
        pong = recv_frame(cfd);
        close = recv_frame(cfd);
    });
    auto out = run_task([&]() -> task<std::string> {
        auto s = co_await accept_on(std::move(sp.server));
        if (!s) co_return "accept failed";
        std::array<std::byte, 8> buf{};
        auto n = co_await (*s)->read_some(buf, {});
        if (!n || *n != 1) co_return "no data";
        auto e = co_await (*s)->read_some(buf, {});
        if (e || e.error() != rs::errc::eof) co_return "no eof";
        // Writing after the close handshake fails.
        if (co_await (*s)->write_all(buf, {})) co_return "wrote after close";
        co_return "ok";
    }());
    client.join();
    EXPECT_EQ(out, "ok");
    EXPECT_EQ(pong.first, rs::ws::op_pong);
    EXPECT_EQ(pong.second, "p1");
    EXPECT_EQ(close.first, rs::ws::op_close);
    EXPECT_EQ(close.second, std::string("\x03\xE9", 2));
}

TEST(WebSocketStream, FramingErrorIsClosedWith1002) {
    socket_pair sp;
    const int cfd = sp.client.get();
    std::pair<int, std::string> close;
    std::thread client([&] {
        send_str(cfd, browser_request());
        recv_http(cfd);
        send_bytes(cfd, client_frame(rs::ws::op_ping, "x", false));
        close = recv_frame(cfd);
    });
    auto out = run_task([&]() -> task<std::error_code> {
        auto s = co_await accept_on(std::move(sp.server));
        if (!s) co_return s.error();
        std::array<std::byte, 8> buf{};
        auto n = co_await (*s)->read_some(buf, {});
        co_return n ? std::error_code{} : n.error();
    }());
    client.join();
    EXPECT_EQ(out, rs::errc::protocol);
    EXPECT_EQ(close.first, rs::ws::op_close);
    EXPECT_EQ(close.second, std::string("\x03\xEA", 2));
}

TEST(WebSocketStream, OversizedRequestIsAnswered431) {
    socket_pair sp;
    const int cfd = sp.client.get();
    std::string answer;
    std::thread client([&] {
        send_str(cfd, "GET / HTTP/1.1\r\nX-Junk: " + std::string(rs::ws::max_request_size, 'j'));
        answer = recv_http(cfd);
    });
    auto out = run_task([&]() -> task<std::error_code> {
        auto s = co_await accept_on(std::move(sp.server));
        co_return s ? std::error_code{} : s.error();
    }());
    client.join();
    EXPECT_EQ(out, rs::errc::protocol);
    EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer;
}

// ---- a real server, through a WebSocket proxy --------------------------------

/// Listens on 127.0.0.1; for one accepted client, opens a WebSocket to the
/// SPICE server and relays: the client's bytes go out as masked binary
/// frames (split into fragmented messages, with pings between fragments),
/// the server's frames come back as bytes. A browser does the same with
/// spice-html5's bytes.
class ws_proxy {
  public:
    explicit ws_proxy(int server_port)
        : _server_port(server_port) {
        _listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(_listen, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
        EXPECT_EQ(::listen(_listen, 4), 0);
        socklen_t len = sizeof(a);
        ::getsockname(_listen, reinterpret_cast<sockaddr *>(&a), &len);
        _port = ntohs(a.sin_port);
        _thread = std::thread([this] { run(); });
    }
    ~ws_proxy() {
        _stop = true;
        _thread.join();
        ::close(_listen);
    }
    int port() const { return _port; }
    std::string response() const { return _response; }
    int pongs() const { return _pongs; }

  private:
    void run() {
        int c = -1;
        while (!_stop && c < 0) {
            pollfd p{.fd = _listen, .events = POLLIN, .revents = 0};
            if (::poll(&p, 1, 50) > 0) c = ::accept4(_listen, nullptr, nullptr, SOCK_CLOEXEC);
        }
        if (c < 0) return;
        spice_test_client_fd s = connect_server();
        if (s.fd >= 0) relay(c, s.fd);
        ::close(c);
    }
    struct spice_test_client_fd {
        int fd = -1;
        ~spice_test_client_fd() {
            if (fd >= 0) ::close(fd);
        }
    };
    spice_test_client_fd connect_server() {
        spice_test_client_fd s;
        s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(_server_port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(s.fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) return s;
        send_str(s.fd, browser_request());
        _response = recv_http(s.fd);
        return s;
    }
    void relay(int c, int s) {
        std::mt19937 rng(42);
        std::string from_server;
        while (!_stop) {
            pollfd p[2] = {{.fd = c, .events = POLLIN, .revents = 0},
                           {.fd = s, .events = POLLIN, .revents = 0}};
            if (::poll(p, 2, 50) <= 0) continue;
            char buf[65536];
            if (p[0].revents != 0) {
                const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
                if (n <= 0) return;
                // Fragment at random points, a ping between fragments.
                std::string_view rest(buf, static_cast<size_t>(n));
                bool first = true;
                while (!rest.empty()) {
                    const size_t take = std::min<size_t>(rest.size(), 1 + rng() % 40);
                    const bool fin = take == rest.size();
                    send_bytes(s, client_frame(first ? rs::ws::op_binary : rs::ws::op_continuation,
                                               rest.substr(0, take), fin));
                    if (!fin && rng() % 4 == 0) send_bytes(s, client_frame(rs::ws::op_ping, "k"));
                    rest.remove_prefix(take);
                    first = false;
                }
            }
            if (p[1].revents != 0) {
                const ssize_t n = ::recv(s, buf, sizeof(buf), 0);
                if (n <= 0) return;
                from_server.append(buf, static_cast<size_t>(n));
                // Complete server frames to the client.
                for (;;) {
                    if (from_server.size() < 2) break;
                    uint64_t len = uint8_t(from_server[1]) & 0x7F;
                    size_t hl = 2;
                    if (len == 126) {
                        if (from_server.size() < 4) break;
                        len = (uint64_t(uint8_t(from_server[2])) << 8) | uint8_t(from_server[3]);
                        hl = 4;
                    } else if (len == 127) {
                        if (from_server.size() < 10) break;
                        len = 0;
                        for (size_t i = 2; i < 10; ++i)
                            len = (len << 8) | uint8_t(from_server[i]);
                        hl = 10;
                    }
                    if (from_server.size() < hl + len) break;
                    const int op = uint8_t(from_server[0]) & 0x0F;
                    if (op == rs::ws::op_binary)
                        send_str(c, std::string_view(from_server).substr(hl, len));
                    else if (op == rs::ws::op_pong)
                        ++_pongs;
                    else if (op == rs::ws::op_close)
                        return;
                    from_server.erase(0, hl + len);
                }
            }
        }
    }

    int _server_port;
    int _listen = -1;
    int _port = 0;
    std::atomic<bool> _stop{false};
    std::string _response;
    std::atomic<int> _pongs{0};
    std::thread _thread;
};

int64_t monotonic_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct ws_server {
    rs::server srv;
    ws_server() {
        srv.config().set_port(0);
        srv.config().set_addr("127.0.0.1", 0);
    }
    int start() { return srv.init(nullptr) == 0 ? srv.bound_port() : -1; }
};

TEST(WebSocketServer, MainLinksWithTicketOverWebSocket) {
    ws_server ts;
    ASSERT_EQ(ts.srv.config().set_ticket("s3cret", 0, monotonic_s()), 0);
    const int port = ts.start();
    ASSERT_GT(port, 0);
    int pongs = 0;
    {
        ws_proxy proxy(port);
        rs::testing::spice_test_client c;
        ASSERT_TRUE(c.connect(proxy.port()));
        EXPECT_EQ(c.link_and_auth(rs::testing::spice_test_client::main_link(), "s3cret"),
                  uint32_t{SPICE_LINK_ERR_OK});
        auto init = c.read_message_of(SPICE_MSG_MAIN_INIT);
        ASSERT_TRUE(init.has_value());
        EXPECT_GE(init->body.size(), 4u);
        EXPECT_EQ(proxy.response().rfind("HTTP/1.1 101 ", 0), 0u);
        std::this_thread::sleep_for(100ms); // let the last pongs arrive
        pongs = proxy.pongs();
    }
    EXPECT_GT(pongs, 0);
}

TEST(WebSocketServer, WrongTicketOverWebSocketIsDenied) {
    ws_server ts;
    ASSERT_EQ(ts.srv.config().set_ticket("s3cret", 0, monotonic_s()), 0);
    const int port = ts.start();
    ws_proxy proxy(port);
    rs::testing::spice_test_client c;
    ASSERT_TRUE(c.connect(proxy.port()));
    EXPECT_EQ(c.link_and_auth(rs::testing::spice_test_client::main_link(), "guess"),
              uint32_t{SPICE_LINK_ERR_PERMISSION_DENIED});
}

TEST(WebSocketServer, PlainHttpGetIsAnswered400AndClosed) {
    ws_server ts;
    ts.srv.config().set_noauth();
    const int port = ts.start();
    rs::testing::spice_test_client c;
    ASSERT_TRUE(c.connect(port));
    const std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(c.send_raw(std::span(reinterpret_cast<const uint8_t *>(req.data()), req.size())));
    std::array<uint8_t, 13> got{};
    ASSERT_EQ(c.read_exact(got), rs::testing::read_status::ok);
    EXPECT_EQ(std::string(got.begin(), got.end()), "HTTP/1.1 400 ");
    EXPECT_EQ(c.wait_closed(), rs::testing::read_status::closed);
    // The server still serves SPICE on the same port.
    rs::testing::spice_test_client ok;
    ASSERT_TRUE(ok.connect(port));
    EXPECT_EQ(ok.link_and_auth(rs::testing::spice_test_client::main_link()),
              uint32_t{SPICE_LINK_ERR_OK});
}

} // namespace
