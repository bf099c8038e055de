// rs-vdiload: the load client of the VDI benchmark (issue 7). It opens N
// SPICE sessions (main, display, cursor and inputs channels each, as
// spice-gtk does) against servers on 127.0.0.1 and is a sink: it decodes no
// image, but acks, answers pings, and recognises the frame marker the VM
// driver appends to every frame (README, vdi_protocol) to count frames and
// measure their latency.
//
// One shard (one io_uring ring on the main thread). Each channel is a reader
// coroutine that receives into a provided buffer ring shared by every
// socket (an idle socket holds no buffer), splits messages, and sends what
// they ask for (ACK, ACK_SYNC, PONG) in one send per read. At most
// --parallel sessions link at a time; each setup is watched by a sibling
// coroutine that stops the session's I/O after --timeout seconds.
//
// Output and commands (stdout lines, flushed; stdin lines):
//   SETUP i=<i> bytes=<bytes from link start to the first display MARK>
//   READY ok=<n> failed=<n> setup_s=<s>
//   START (stdin): zeroes the window counters
//   STOP (stdin, or EOF): prints WINDOW, LATENCY and one SESSION line per
//   session, then ends every session and exits.
#include <spice/enums.h>
#include <spice/protocol.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "reds/link_protocol.hpp"
#include "reds/protocol.hpp"
#include "reds/wire.hpp"
#include "runtime/buffer_ring.hpp"
#include "runtime/io.hpp"
#include "runtime/shard.hpp"
#include "runtime/socket.hpp"
#include "runtime/sync.hpp"
#include "runtime/task.hpp"
#include "support/spice_test_client.hpp"
#include "vdi_load_parse.hpp"

namespace {

using rs::errc;
using rs::fd_handle;
using rs::gate;
using rs::result;
using rs::task;

struct options {
    int port = 5900;
    int ports = 1;
    size_t sessions = 1;
    size_t parallel = 16;
    int timeout_s = 60;
};

/// What a window (START … STOP) or a session counts.
struct counters {
    uint64_t bytes = 0;
    uint64_t msgs = 0;
    uint64_t reads = 0;
    uint64_t frames = 0;
    uint64_t stream_frames = 0;
};

uint64_t now_100us() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 10000 + static_cast<uint64_t>(ts.tv_nsec) / 100000;
}

double now_s() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct session;

/// One linked channel of a session: its socket, the splitter of its byte
/// stream, its ACK window and the bytes its next send carries. Owned by its
/// session; touched only on the client's shard.
struct channel {
    session *owner = nullptr;
    uint8_t type = 0;
    fd_handle fd;
    rs::vdi::message_splitter split;
    uint32_t ack_window = 0; ///< 0: the server has not asked for ACKs
    uint32_t ack_left = 0;
    std::vector<uint8_t> out; ///< ACK / ACK_SYNC / PONG queued during a read
};

enum class session_state : uint8_t { linking, up, failed, dead };

/// One client session (main, display, cursor, inputs) and its counters.
/// Lives, at a fixed address, for the whole run on the client's shard.
struct session {
    size_t index = 0;
    int port = 0;
    session_state state = session_state::linking;
    std::stop_source stop;       ///< cancels every I/O of the session
    std::stop_source setup_done; ///< cancels the setup watchdog
    std::array<channel, 4> ch;   ///< main, display, cursor, inputs
    uint32_t connection_id = 0;
    uint32_t ram_hint = 0;
    std::vector<rs::vdi::channel_id> listed;
    uint32_t height = 0; ///< of surface 0, from SURFACE_CREATE
    rs::event got_init;
    rs::event got_list;
    rs::event got_mark;
    bool marked = false;
    const char *stage = "linking main"; ///< where setup is, for the timeout log
    uint64_t total_bytes = 0;           ///< everything received, link replies included
    uint64_t setup_bytes = 0;           ///< total_bytes at the first display MARK
    counters window;
};

constexpr size_t main_i = 0;
constexpr size_t display_i = 1;
constexpr size_t cursor_i = 2;
constexpr size_t inputs_i = 3;

/// The whole client on one shard: sessions, window figures, latency samples.
class load {
  public:
    load(options o, rs::shard &s)
        : _o(o)
        , _shard(s) {}

    task<void> run();

  private:
    task<void> worker();
    task<bool> setup(session &s);
    task<void> watchdog(session &s);
    task<bool> link(session &s, channel &c, uint8_t type, uint8_t id);
    task<void> read_channel(channel &c);
    bool on_bytes(channel &c, std::span<const uint8_t> in, uint64_t now);
    bool on_message(channel &c, uint16_t type, uint32_t size, std::span<const uint8_t> body,
                    size_t rest, uint64_t now);
    void end(session &s, const char *why);
    task<void> commands();
    void print_window();

    options _o;
    rs::shard &_shard;
    std::vector<std::unique_ptr<session>> _sessions;
    std::unique_ptr<rs::buffer_ring> _ring; ///< null: plain poll + recv
    std::vector<uint8_t> _scratch;          ///< the plain path's receive buffer
    gate _gate;
    size_t _next = 0;
    size_t _finished = 0;
    size_t _ok = 0;
    size_t _failed = 0;
    rs::event _all_set_up;
    rs::event _stop_cmd;
    bool _in_window = false;
    double _window_t0 = 0;
    counters _window;
    uint64_t _dead_in_window = 0;
    uint64_t _stream_creates = 0;
    std::vector<uint32_t> _latency; ///< 100 µs units, this window
};

void put_message(std::vector<uint8_t> &out, uint16_t type, std::span<const uint8_t> body) {
    rs::wire::writer w(out);
    rs::mini_header{.type = type, .size = static_cast<uint32_t>(body.size())}.encode(w);
    w.bytes(body);
}

std::span<const std::byte> as_bytes(const std::vector<uint8_t> &v) {
    return std::as_bytes(std::span<const uint8_t>(v));
}

void load::end(session &s, const char *why) {
    if (s.state == session_state::up) {
        s.state = session_state::dead;
        if (_in_window) ++_dead_in_window;
        std::fprintf(stderr, "rs-vdiload: session %zu ended: %s\n", s.index, why);
    } else if (s.state == session_state::linking) {
        s.state = session_state::failed;
        std::fprintf(stderr, "rs-vdiload: session %zu failed: %s\n", s.index, why);
    }
    s.stop.request_stop();
    s.got_init.set();
    s.got_list.set();
    s.got_mark.set();
}

/// Link handshake of one channel: SpiceLinkHeader + SpiceLinkMess, the
/// reply, AUTH_SPICE and the encrypted empty ticket, the 4-byte result.
task<bool> load::link(session &s, channel &c, uint8_t type, uint8_t id) {
    auto st = s.stop.get_token();
    c.owner = &s;
    c.type = type;
    auto addr = rs::resolve("127.0.0.1", s.port, rs::address_family::ipv4, false);
    if (!addr || addr->empty()) {
        end(s, "cannot resolve 127.0.0.1");
        co_return false;
    }
    auto fd = co_await rs::tcp_connect((*addr)[0], st);
    if (!fd) {
        end(s, "connect failed");
        co_return false;
    }
    c.fd = std::move(*fd);
    const int sock = c.fd.get();

    rs::link::message m = rs::testing::spice_test_client::link_to(type, id, s.connection_id);
    if (type == SPICE_CHANNEL_MAIN) {
        // spice-gtk's main channel caps.
        m.channel_caps.set(SPICE_MAIN_CAP_SEMI_SEAMLESS_MIGRATE);
        m.channel_caps.set(SPICE_MAIN_CAP_NAME_AND_UUID);
        m.channel_caps.set(SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS);
        m.channel_caps.set(SPICE_MAIN_CAP_SEAMLESS_MIGRATE);
    } else if (type == SPICE_CHANNEL_DISPLAY) {
        // spice-gtk's display caps without STREAM_REPORT (and GL_SCANOUT,
        // which it sets only for a local unix socket).
        for (const uint32_t cap : {SPICE_DISPLAY_CAP_SIZED_STREAM,
                                   SPICE_DISPLAY_CAP_MONITORS_CONFIG, SPICE_DISPLAY_CAP_COMPOSITE,
                                   SPICE_DISPLAY_CAP_A8_SURFACE, SPICE_DISPLAY_CAP_LZ4_COMPRESSION,
                                   SPICE_DISPLAY_CAP_MULTI_CODEC, SPICE_DISPLAY_CAP_CODEC_MJPEG})
            m.channel_caps.set(cap);
    }
    std::vector<uint8_t> req;
    rs::wire::writer w(req);
    rs::link::encode_link_request(w, m);
    if (!co_await rs::send_all(sock, as_bytes(req), st)) {
        end(s, "link send failed");
        co_return false;
    }
    std::array<uint8_t, rs::link::header_size> hdr{};
    if (!co_await rs::recv_exact(sock, std::as_writable_bytes(std::span(hdr)), st)) {
        end(s, "no link reply");
        co_return false;
    }
    rs::wire::reader hr(hdr);
    const uint32_t magic = hr.u32();
    hr.skip(8);
    const uint32_t size = hr.u32();
    if (magic != SPICE_MAGIC || size > 64 * 1024) {
        end(s, "bad link reply header");
        co_return false;
    }
    std::vector<uint8_t> body(size);
    if (!co_await rs::recv_exact(sock, std::as_writable_bytes(std::span(body)), st)) {
        end(s, "short link reply");
        co_return false;
    }
    auto reply = rs::link::parse_reply(body);
    if (!reply || reply->error != SPICE_LINK_ERR_OK) {
        end(s, "link refused");
        co_return false;
    }
    const auto ticket = rs::testing::encrypt_ticket(reply->pub_key, {});
    if (ticket.size() != rs::link::encrypted_ticket_size) {
        end(s, "cannot encrypt the ticket");
        co_return false;
    }
    std::vector<uint8_t> auth;
    rs::wire::writer aw(auth);
    aw.u32(SPICE_COMMON_CAP_AUTH_SPICE);
    aw.bytes(ticket);
    if (!co_await rs::send_all(sock, as_bytes(auth), st)) {
        end(s, "ticket send failed");
        co_return false;
    }
    std::array<uint8_t, rs::link::result_size> res{};
    if (!co_await rs::recv_exact(sock, std::as_writable_bytes(std::span(res)), st)) {
        end(s, "no link result");
        co_return false;
    }
    rs::wire::reader rr(res);
    if (rr.u32() != SPICE_LINK_ERR_OK) {
        end(s, "link result not OK");
        co_return false;
    }
    s.total_bytes += rs::link::header_size + size + rs::link::result_size;
    co_return true;
}

bool load::on_message(channel &c, uint16_t type, uint32_t size, std::span<const uint8_t> body,
                      size_t rest, uint64_t now) {
    session &s = *c.owner;
    const bool whole = body.size() == size;
    ++s.window.msgs;
    ++_window.msgs;
    if (c.ack_window != 0 && --c.ack_left == 0) {
        put_message(c.out, SPICE_MSGC_ACK, {});
        c.ack_left = c.ack_window;
    }
    switch (type) {
    case SPICE_MSG_SET_ACK: {
        const auto a = rs::vdi::parse_set_ack(body);
        if (!a) return false;
        std::vector<uint8_t> gen;
        rs::wire::writer gw(gen);
        gw.u32(a->generation);
        put_message(c.out, SPICE_MSGC_ACK_SYNC, gen);
        c.ack_window = a->window;
        c.ack_left = a->window;
        return true;
    }
    case SPICE_MSG_PING: {
        const auto p = rs::vdi::parse_ping(body);
        if (!p) return false;
        std::vector<uint8_t> pong;
        rs::wire::writer pw(pong);
        pw.u32(p->id);
        pw.u64(p->timestamp);
        put_message(c.out, SPICE_MSGC_PONG, pong);
        return true;
    }
    default:
        break;
    }
    if (c.type == SPICE_CHANNEL_MAIN) {
        if (type == SPICE_MSG_MAIN_INIT && !s.got_init.is_set()) {
            const auto init = rs::vdi::parse_main_init(body);
            if (!init) return false;
            s.connection_id = init->session_id;
            s.ram_hint = init->ram_hint;
            put_message(c.out, SPICE_MSGC_MAIN_ATTACH_CHANNELS, {});
            s.got_init.set();
        } else if (type == SPICE_MSG_MAIN_CHANNELS_LIST && !s.got_list.is_set()) {
            auto list = rs::vdi::parse_channels_list(body, whole);
            if (!list) return false;
            s.listed = std::move(*list);
            s.got_list.set();
        }
        return true;
    }
    if (c.type != SPICE_CHANNEL_DISPLAY) return true;
    switch (type) {
    case SPICE_MSG_DISPLAY_SURFACE_CREATE: {
        const auto sc = rs::vdi::parse_surface_create(body);
        if (!sc) return false;
        if (sc->surface_id == 0 && (sc->flags & SPICE_SURFACE_FLAGS_PRIMARY) != 0)
            s.height = sc->height;
        return true;
    }
    case SPICE_MSG_DISPLAY_DRAW_FILL: {
        const auto f = rs::vdi::parse_fill_head(body);
        if (!f) return !whole; // a cut prefix with many clip rects: no marker
        if (!rs::vdi::is_frame_marker(*f, s.height)) return true;
        ++s.window.frames;
        ++_window.frames;
        if (_in_window) _latency.push_back(rs::vdi::marker_latency(f->color, now));
        return true;
    }
    case SPICE_MSG_DISPLAY_MARK:
        if (!s.marked) {
            s.marked = true;
            s.setup_bytes = s.total_bytes - rest;
            s.got_mark.set();
        }
        return true;
    case SPICE_MSG_DISPLAY_STREAM_CREATE:
        ++_stream_creates;
        return true;
    case SPICE_MSG_DISPLAY_STREAM_DATA:
    case SPICE_MSG_DISPLAY_STREAM_DATA_SIZED:
        ++s.window.stream_frames;
        ++_window.stream_frames;
        return true;
    default:
        return true;
    }
}

bool load::on_bytes(channel &c, std::span<const uint8_t> in, uint64_t now) {
    session &s = *c.owner;
    s.total_bytes += in.size();
    s.window.bytes += in.size();
    s.window.reads += 1;
    _window.bytes += in.size();
    _window.reads += 1;
    return c.split.feed(
        in, [&](uint16_t type, uint32_t size, std::span<const uint8_t> body, size_t rest) {
            if (on_message(c, type, size, body, rest, now)) return true;
            std::fprintf(stderr,
                         "rs-vdiload: session %zu: malformed message %u (%u bytes) on channel %u\n",
                         s.index, type, size, c.type);
            return false;
        });
}

/// The reader of one channel: receive, split, answer; ends the session on
/// EOF, an error, a malformed message or a stop request.
task<void> load::read_channel(channel &c) {
    gate::holder live(_gate);
    session &s = *c.owner;
    auto st = s.stop.get_token();
    const int sock = c.fd.get();
    const char *why = nullptr;
    while (why == nullptr && !st.stop_requested()) {
        bool ok = true;
        if (_ring) {
            auto r = co_await rs::recv_select(sock, *_ring, st);
            if (!r) {
                if (r.error() == std::errc::no_buffer_space) {
                    co_await rs::yield_now{};
                    continue;
                }
                why = r.error() == errc::eof ? "closed by the server" : "receive failed";
                break;
            }
            const auto bytes = r->bytes();
            ok = on_bytes(c,
                          std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(bytes.data()),
                                                   bytes.size()),
                          now_100us());
        } else {
            auto p = co_await rs::poll_fd(sock, POLLIN, st);
            if (!p) {
                why = "poll failed";
                break;
            }
            const ssize_t n = ::recv(sock, _scratch.data(), _scratch.size(), MSG_DONTWAIT);
            if (n == 0) {
                why = "closed by the server";
                break;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                why = "receive failed";
                break;
            }
            ok = on_bytes(c, std::span<const uint8_t>(_scratch.data(), static_cast<size_t>(n)),
                          now_100us());
        }
        if (!ok) {
            why = "malformed message";
            break;
        }
        if (!c.out.empty()) {
            std::vector<uint8_t> out;
            out.swap(c.out);
            if (!co_await rs::send_all(sock, as_bytes(out), st)) why = "send failed";
        }
    }
    if (why != nullptr && !st.stop_requested()) end(s, why);
}

task<void> load::watchdog(session &s) {
    gate::holder live(_gate);
    auto r = co_await rs::sleep_for(std::chrono::seconds(_o.timeout_s), s.setup_done.get_token());
    if (r && s.state == session_state::linking) {
        const std::string why = std::string("setup timed out ") + s.stage;
        end(s, why.c_str());
    }
}

/// Links main, waits for MAIN_INIT and CHANNELS_LIST, links display, cursor
/// and inputs (channel id 0) and waits for the first display MARK.
task<bool> load::setup(session &s) {
    rs::spawn(watchdog(s), "watchdog");
    if (!co_await link(s, s.ch[main_i], SPICE_CHANNEL_MAIN, 0)) co_return false;
    rs::spawn(read_channel(s.ch[main_i]), "main");
    s.stage = "waiting for MAIN_INIT";
    co_await s.got_init.wait();
    if (s.state != session_state::linking) co_return false;
    s.stage = "waiting for CHANNELS_LIST";
    co_await s.got_list.wait();
    if (s.state != session_state::linking) co_return false;
    auto listed = [&s](uint8_t type) {
        return std::any_of(s.listed.begin(), s.listed.end(), [type](const rs::vdi::channel_id &c) {
            return c.type == type && c.id == 0;
        });
    };
    if (!listed(SPICE_CHANNEL_DISPLAY)) {
        end(s, "the server lists no display channel 0");
        co_return false;
    }
    for (const auto &[index, type] : {std::pair<size_t, uint8_t>{display_i, SPICE_CHANNEL_DISPLAY},
                                      std::pair<size_t, uint8_t>{cursor_i, SPICE_CHANNEL_CURSOR},
                                      std::pair<size_t, uint8_t>{inputs_i, SPICE_CHANNEL_INPUTS}}) {
        if (!listed(type)) continue;
        channel &c = s.ch[index];
        s.stage = "linking display, cursor or inputs";
        if (!co_await link(s, c, type, 0)) co_return false;
        if (type == SPICE_CHANNEL_DISPLAY) {
            // spice-gtk's DISPLAY_INIT: pixmap cache 1 of 80 MiB and GLZ
            // dictionary 1 of clamp(ram_hint / 2, 12 MiB, 64 MiB), in
            // 4-byte pixels.
            const uint32_t glz_bytes =
                std::clamp<uint32_t>(s.ram_hint / 2, 12U << 20, std::min(4U << 25, 64U << 20));
            std::vector<uint8_t> b;
            rs::wire::writer w(b);
            w.u8(1);
            w.u64(uint64_t{80} * 1024 * 1024 / 4);
            w.u8(1);
            w.u32(glz_bytes / 4);
            std::vector<uint8_t> msg;
            put_message(msg, SPICE_MSGC_DISPLAY_INIT, b);
            if (!co_await rs::send_all(c.fd.get(), as_bytes(msg), s.stop.get_token())) {
                end(s, "DISPLAY_INIT send failed");
                co_return false;
            }
        }
        rs::spawn(read_channel(c), "channel");
    }
    s.stage = "waiting for the display MARK";
    co_await s.got_mark.wait();
    co_return s.state == session_state::linking;
}

task<void> load::worker() {
    gate::holder live(_gate);
    while (_next < _sessions.size()) {
        session &s = *_sessions[_next++];
        const bool ok = co_await setup(s);
        s.setup_done.request_stop();
        if (ok) {
            s.state = session_state::up;
            ++_ok;
        } else {
            if (s.state == session_state::linking) end(s, "setup failed");
            ++_failed;
        }
        if (++_finished == _sessions.size()) _all_set_up.set();
    }
}

/// Reads START / STOP lines from stdin; EOF counts as STOP.
task<void> load::commands() {
    gate::holder live(_gate);
    std::string line;
    std::array<char, 256> buf{};
    while (true) {
        auto p = co_await rs::poll_fd(STDIN_FILENO, POLLIN);
        if (!p) break;
        const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) break;
        line.append(buf.data(), static_cast<size_t>(n));
        size_t nl = 0;
        bool stop = false;
        while ((nl = line.find('\n')) != std::string::npos) {
            std::string_view cmd(line.data(), nl);
            while (!cmd.empty() && (cmd.back() == '\r' || cmd.back() == ' '))
                cmd.remove_suffix(1);
            if (cmd == "START") {
                _window = {};
                for (auto &s : _sessions)
                    s->window = {};
                _latency.clear();
                _dead_in_window = 0;
                _in_window = true;
                _window_t0 = now_s();
            } else if (cmd == "STOP") {
                stop = true;
            }
            line.erase(0, nl + 1);
        }
        if (stop) break;
    }
    _stop_cmd.set();
}

void load::print_window() {
    size_t alive = 0;
    for (const auto &s : _sessions)
        alive += s->state == session_state::up ? 1 : 0;
    std::printf("WINDOW seconds=%.3f sessions=%zu bytes=%" PRIu64 " msgs=%" PRIu64 " reads=%" PRIu64
                " frames=%" PRIu64 " stream_frames=%" PRIu64 " dead=%" PRIu64 "\n",
                now_s() - _window_t0, alive, _window.bytes, _window.msgs, _window.reads,
                _window.frames, _window.stream_frames, _dead_in_window);
    std::sort(_latency.begin(), _latency.end());
    auto pct = [this](double q) {
        if (_latency.empty()) return 0.0;
        // Nearest rank.
        auto rank = static_cast<size_t>(q * static_cast<double>(_latency.size()) + 0.999999);
        rank = std::clamp<size_t>(rank, 1, _latency.size());
        return static_cast<double>(_latency[rank - 1]) / 10.0;
    };
    std::printf("LATENCY samples=%zu p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f\n",
                _latency.size(), pct(0.50), pct(0.90), pct(0.99),
                _latency.empty() ? 0.0 : static_cast<double>(_latency.back()) / 10.0);
    for (const auto &s : _sessions)
        std::printf("SESSION i=%zu bytes=%" PRIu64 " msgs=%" PRIu64 " frames=%" PRIu64 "\n",
                    s->index, s->window.bytes, s->window.msgs, s->window.frames);
    std::fflush(stdout);
    std::fprintf(stderr, "rs-vdiload: %" PRIu64 " STREAM_CREATE in the run\n", _stream_creates);
}

task<void> load::run() {
    {
        // 256 buffers of 64 KiB shared by every socket of the run.
        auto ring = rs::buffer_ring::create(256, 64 * 1024);
        if (ring)
            _ring = std::move(*ring);
        else
            _scratch.resize(64 * 1024);
    }
    for (size_t i = 0; i < _o.sessions; ++i) {
        auto s = std::make_unique<session>();
        s->index = i;
        s->port = _o.port + static_cast<int>(i % static_cast<size_t>(_o.ports));
        _sessions.push_back(std::move(s));
    }
    const double t0 = now_s();
    const size_t workers = std::min(_o.parallel, _o.sessions);
    for (size_t i = 0; i < workers; ++i)
        rs::spawn(worker(), "worker");
    co_await _all_set_up.wait();
    for (const auto &s : _sessions)
        if (s->state == session_state::up)
            std::printf("SETUP i=%zu bytes=%" PRIu64 "\n", s->index, s->setup_bytes);
    std::printf("READY ok=%zu failed=%zu setup_s=%.3f\n", _ok, _failed, now_s() - t0);
    std::fflush(stdout);
    _window_t0 = now_s();
    _window = {};
    for (auto &s : _sessions)
        s->window = {};
    rs::spawn(commands(), "commands");
    co_await _stop_cmd.wait();
    print_window();
    for (auto &s : _sessions) {
        if (s->state == session_state::up) s->state = session_state::dead;
        s->stop.request_stop();
        s->setup_done.request_stop();
    }
    co_await _gate.close();
    _ring.reset();
    _shard.stop();
}

bool raise_fd_limit(size_t needed) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
    if (rl.rlim_cur >= needed) return true;
    if (rl.rlim_max < needed) rl.rlim_max = needed; // works with CAP_SYS_RESOURCE
    rl.rlim_cur = needed;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0) return true;
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur >= needed;
}

void usage() {
    std::fputs("usage: rs-vdiload --port P [--ports K] --sessions N [--parallel M] [--timeout S]\n"
               "  opens N SPICE sessions (main, display, cursor, inputs) to 127.0.0.1;\n"
               "  session i goes to port P + i mod K. See bench/vdi/vdi_load.cpp.\n",
               stderr);
}

} // namespace

int main(int argc, char **argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        char *end = nullptr;
        const long v = std::strtol(argv[++i], &end, 10);
        if (end == argv[i] || *end != '\0' || v < 0) {
            usage();
            return 2;
        }
        if (a == "--port")
            o.port = static_cast<int>(v);
        else if (a == "--ports")
            o.ports = static_cast<int>(v);
        else if (a == "--sessions")
            o.sessions = static_cast<size_t>(v);
        else if (a == "--parallel")
            o.parallel = static_cast<size_t>(v);
        else if (a == "--timeout")
            o.timeout_s = static_cast<int>(v);
        else {
            usage();
            return 2;
        }
    }
    if (o.port <= 0 || o.port > 65535 || o.ports < 1 || o.port + o.ports - 1 > 65535 ||
        o.sessions < 1 || o.parallel < 1 || o.timeout_s < 1) {
        usage();
        return 2;
    }
    if (!raise_fd_limit(o.sessions * 4 + 64))
        std::fprintf(stderr, "rs-vdiload: RLIMIT_NOFILE too low for %zu sessions\n", o.sessions);
    rs::shard sh(rs::shard_options{.name = "vdiload", .entries = 4096});
    load l(o, sh);
    rs::spawn(l.run(), "vdiload");
    sh.run();
    return 0;
}
