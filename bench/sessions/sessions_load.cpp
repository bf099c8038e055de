// rs_sessions_load: opens N idle SPICE sessions (main + display each) against
// one server on 127.0.0.1 and holds them, for the side-by-side per-session
// cost benchmark (issue 7; run_sessions_bench.py drives it).
//
// Per session: link main (noauth: an empty ticket), wait for MAIN_INIT, link
// display with its session id, send DISPLAY_INIT, read until the display MARK.
// Every channel acks as the server asks (ACK_SYNC with SET_ACK's generation,
// then an ACK every `window` messages), answers PING with PONG, and drains
// and counts everything else. One thread, poll() over all sockets. Sessions
// are set up one after another while the earlier ones are serviced.
//
// Output (stdout, one line each):
//   SETUP i=<i> bytes=<link bytes until the display MARK, main + display>
//   READY n=<sessions> setup_ms=<ms>
//   IDLE bytes=<bytes received by all sessions after READY> msgs=<count>
// It holds the sessions after READY until stdin reaches EOF or --hold
// seconds pass (0: until stdin EOF), then prints IDLE and exits.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <spice/enums.h>
#include <spice/protocol.h>

#include "support/spice_test_client.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using rs::testing::spice_test_client;

struct options {
    int port = 5900;
    int sessions = 1;
    int hold_s = 0;
    int timeout_s = 20; ///< per session setup
};

/// One linked channel in the poll loop.
struct channel {
    std::unique_ptr<spice_test_client> client;
    uint8_t type = 0;
    size_t session = 0;
    std::vector<uint8_t> in; ///< unparsed bytes
    uint64_t bytes = 0;      ///< all bytes received, link reply included
    uint64_t idle_bytes = 0; ///< bytes received after READY
    uint64_t idle_msgs = 0;
    uint32_t ack_window = 0; ///< 0: no SET_ACK yet
    uint32_t since_ack = 0;
    bool dead = false;
};

struct session {
    size_t main = SIZE_MAX;
    size_t display = SIZE_MAX;
    uint32_t connection_id = 0;
    bool got_init = false;
    bool got_mark = false;
};

class load {
  public:
    explicit load(options o)
        : _o(o) {}

    int run();

  private:
    bool link(size_t s, uint8_t type, uint32_t connection_id);
    bool service(int timeout_ms);
    bool on_readable(channel &c);
    void on_message(channel &c, uint16_t type, std::span<const uint8_t> body);
    static bool send(channel &c, uint16_t type, std::span<const uint8_t> body = {}) {
        return c.client->send_message(type, body);
    }

    options _o;
    std::vector<channel> _channels;
    std::vector<session> _sessions;
    bool _idle = false;
};

bool load::link(size_t s, uint8_t type, uint32_t connection_id) {
    channel c;
    c.client = std::make_unique<spice_test_client>();
    c.type = type;
    c.session = s;
    c.client->set_timeout(std::chrono::seconds(_o.timeout_s));
    if (!c.client->connect(_o.port)) return false;
    const auto res = c.client->link_and_auth(spice_test_client::link_to(type, 0, connection_id));
    if (!res || *res != SPICE_LINK_ERR_OK) {
        std::fprintf(stderr, "rs_sessions_load: session %zu: channel %u link failed (%d)\n", s,
                     type, res ? static_cast<int>(*res) : -1);
        return false;
    }
    // Link header, reply body and the 4-byte result.
    c.bytes = rs::link::header_size + c.client->last_reply()->size + rs::link::result_size;
    const int fd = c.client->fd();
    (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    (type == SPICE_CHANNEL_MAIN ? _sessions[s].main : _sessions[s].display) = _channels.size();
    _channels.push_back(std::move(c));
    return true;
}

void load::on_message(channel &c, uint16_t type, std::span<const uint8_t> body) {
    auto &s = _sessions[c.session];
    if (_idle) ++c.idle_msgs;
    if (c.ack_window != 0 && ++c.since_ack >= c.ack_window) {
        c.since_ack = 0;
        (void)send(c, SPICE_MSGC_ACK);
    }
    rs::wire::reader r(body);
    switch (type) {
    case SPICE_MSG_SET_ACK: {
        const uint32_t generation = r.u32();
        const uint32_t window = r.u32();
        std::vector<uint8_t> b;
        rs::wire::writer w(b);
        w.u32(generation);
        (void)send(c, SPICE_MSGC_ACK_SYNC, b);
        c.ack_window = window;
        c.since_ack = 0;
        return;
    }
    case SPICE_MSG_PING: {
        const uint32_t id = r.u32();
        const uint64_t ts = r.u64();
        std::vector<uint8_t> b;
        rs::wire::writer w(b);
        w.u32(id);
        w.u64(ts);
        (void)send(c, SPICE_MSGC_PONG, b);
        return;
    }
    default:
        break;
    }
    if (c.type == SPICE_CHANNEL_MAIN && type == SPICE_MSG_MAIN_INIT && !s.got_init) {
        s.connection_id = r.u32();
        s.got_init = true;
        (void)send(c, SPICE_MSGC_MAIN_ATTACH_CHANNELS);
    } else if (c.type == SPICE_CHANNEL_DISPLAY && type == SPICE_MSG_DISPLAY_MARK) {
        s.got_mark = true;
    }
}

bool load::on_readable(channel &c) {
    std::array<uint8_t, 65536> buf{};
    while (true) {
        const ssize_t n = ::recv(c.client->fd(), buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) return false;
        const auto got = static_cast<size_t>(n);
        c.bytes += got;
        if (_idle) c.idle_bytes += got;
        c.in.insert(c.in.end(), buf.begin(), buf.begin() + n);
    }
    size_t off = 0;
    while (c.in.size() - off >= rs::mini_header::wire_size) {
        const auto h = rs::mini_header::decode(std::span(c.in).subspan(off));
        if (!h) return false;
        const size_t total = rs::mini_header::wire_size + h->size;
        if (c.in.size() - off < total) break;
        on_message(
            c, h->type,
            std::span<const uint8_t>(c.in).subspan(off + rs::mini_header::wire_size, h->size));
        off += total;
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(off));
    return true;
}

/// One poll round over all channels; false when a channel closed.
bool load::service(int timeout_ms) {
    std::vector<pollfd> fds;
    fds.reserve(_channels.size());
    for (const auto &c : _channels)
        fds.push_back(pollfd{.fd = c.dead ? -1 : c.client->fd(), .events = POLLIN, .revents = 0});
    const int pr = ::poll(fds.data(), fds.size(), timeout_ms);
    if (pr <= 0) return pr == 0 || errno == EINTR;
    bool ok = true;
    for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        if (!on_readable(_channels[i])) {
            auto &c = _channels[i];
            std::fprintf(stderr, "rs_sessions_load: session %zu: channel %u closed by the server\n",
                         c.session, c.type);
            c.dead = true;
            ok = false;
        }
    }
    return ok;
}

int load::run() {
    const auto t0 = clock_type::now();
    _sessions.resize(static_cast<size_t>(_o.sessions));
    _channels.reserve(_sessions.size() * 2);
    for (size_t s = 0; s < _sessions.size(); ++s) {
        const auto deadline = clock_type::now() + std::chrono::seconds(_o.timeout_s);
        if (!link(s, SPICE_CHANNEL_MAIN, 0)) return 1;
        while (!_sessions[s].got_init) {
            if (!service(100) || clock_type::now() > deadline) {
                std::fprintf(stderr, "rs_sessions_load: session %zu: no MAIN_INIT\n", s);
                return 1;
            }
        }
        if (!link(s, SPICE_CHANNEL_DISPLAY, _sessions[s].connection_id)) return 1;
        {
            // DISPLAY_INIT as spice-gtk sends it by default: pixmap cache 80 MiB
            // (in 4-byte pixels), glz window 16 MiB (in pixels).
            std::vector<uint8_t> b;
            rs::wire::writer w(b);
            w.u8(1);
            w.u64(static_cast<uint64_t>(80) * 1024 * 1024 / 4);
            w.u8(1);
            w.u32(16U * 1024 * 1024 / 4);
            if (!send(_channels[_sessions[s].display], SPICE_MSGC_DISPLAY_INIT, b)) return 1;
        }
        while (!_sessions[s].got_mark) {
            if (!service(100) || clock_type::now() > deadline) {
                std::fprintf(stderr, "rs_sessions_load: session %zu: no display MARK\n", s);
                return 1;
            }
        }
        const auto &m = _channels[_sessions[s].main];
        const auto &d = _channels[_sessions[s].display];
        std::printf("SETUP i=%zu bytes=%llu\n", s,
                    static_cast<unsigned long long>(m.bytes + d.bytes));
    }
    const auto setup_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0).count();
    std::printf("READY n=%zu setup_ms=%lld\n", _sessions.size(), static_cast<long long>(setup_ms));
    std::fflush(stdout);
    _idle = true;

    const auto hold_until = clock_type::now() + std::chrono::seconds(_o.hold_s);
    int rc = 0;
    while (_o.hold_s == 0 || clock_type::now() < hold_until) {
        // stdin EOF ends the hold (the runner closes it).
        pollfd in{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
        if (::poll(&in, 1, 0) > 0) {
            std::array<char, 256> b{};
            if (::read(STDIN_FILENO, b.data(), b.size()) <= 0) break;
        }
        if (!service(100)) rc = 1;
    }
    uint64_t idle_bytes = 0;
    uint64_t idle_msgs = 0;
    for (const auto &c : _channels) {
        idle_bytes += c.idle_bytes;
        idle_msgs += c.idle_msgs;
    }
    std::printf("IDLE bytes=%llu msgs=%llu\n", static_cast<unsigned long long>(idle_bytes),
                static_cast<unsigned long long>(idle_msgs));
    std::fflush(stdout);
    return rc;
}

} // namespace

int main(int argc, char **argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        const int v = std::atoi(argv[i + 1]);
        if (a == "--port")
            o.port = v;
        else if (a == "--sessions")
            o.sessions = v;
        else if (a == "--hold")
            o.hold_s = v;
        else if (a == "--timeout")
            o.timeout_s = v;
        else {
            std::fprintf(stderr, "usage: rs_sessions_load --port P --sessions N [--hold S] "
                                 "[--timeout S]\n");
            return 2;
        }
    }
    if (o.sessions < 1 || o.port <= 0) return 2;
    return load(o).run();
}
