#include "reds/server.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "reds/agent.hpp" // agent (issue 8)
#include "reds/link_protocol.hpp"
#include "reds/main_channel.hpp"
#include "reds/sasl.hpp"
#include "reds/ticket.hpp"
#include "reds/tls.hpp"
#include "reds/websocket.hpp" // websocket (issue 10)
#include "runtime/io.hpp"
#include "runtime/log.hpp"

namespace rs {

using namespace std::chrono_literals;

namespace {

int64_t monotonic_s() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int bound_port_of(const std::vector<fd_handle> &fds) {
    if (fds.empty()) return -1;
    auto a = local_address(fds.front().get());
    if (!a) return -1;
    if (a->family() == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in *>(&a->storage)->sin_port);
    if (a->family() == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6 *>(&a->storage)->sin6_port);
    return 0;
}

void on_ring_readable(int /*fd*/, int /*event*/, void *opaque) {
    static_cast<shard *>(opaque)->poll();
}

std::span<const std::byte> as_bytes_of(const std::vector<uint8_t> &v) {
    return std::as_bytes(std::span(v.data(), v.size()));
}

} // namespace

/// What the VMM's channel_event sees of one connection. The VMM may keep
/// the pointer (QEMU lists it for "info spice") until DISCONNECTED, so it
/// lives on the heap from accept until that event. Control shard.
struct server::connection_record {
    SpiceChannelEventInfo info{};
    bool initialized = false;
};

server::server() = default;

server::~server() { shutdown(); }

int server::init(const SpiceCoreInterface *core) {
    if (_control != nullptr) {
        RS_LOG_WARN("server", "spice_server_init called twice; ignored");
        return 0;
    }
    _config.apply_init_defaults();
    // issue 7: as the reference does at init, SPICE_DEBUG_ALLOW_MC=<n != 0>
    // lets a new main link coexist with the current viewer.
    if (const char *mc = std::getenv("SPICE_DEBUG_ALLOW_MC")) { // NOLINT(concurrency-mt-unsafe)
        _config.set_allow_multiple_clients(std::atoi(mc) != 0);
        if (_config.allow_multiple_clients())
            RS_LOG_WARN("server", "allowing multiple client connections");
    }
    if (core != nullptr) {
        if (interface_registry::check_core_interface(core) != 0) {
            RS_LOG_ERROR("server", "core interface version {}.{} not supported",
                         core->base.major_version, core->base.minor_version);
            return -1;
        }
        // The control shard is host-driven: its ring fd is one watch in the
        // VMM's loop, and every VMM callback runs on that loop's thread.
        _core = core;
        _host_shard = std::make_unique<shard>(
            shard_options{.name = "control", .entries = 256, .host_driven = true});
        _control = _host_shard.get();
        _watch =
            core->watch_add(_control->fd(), SPICE_WATCH_EVENT_READ, on_ring_readable, _control);
        if (_watch == nullptr) {
            RS_LOG_ERROR("server", "the VMM refused a watch on the control ring");
            _control = nullptr;
            _host_shard.reset();
            return -1;
        }
        int rc = 0;
        {
            const shard::entered here(*_control);
            rc = start_listeners();
        }
        _control->poll(); // submit the accept SQEs now
        return rc;
    }
    _own_shard = std::make_unique<shard_thread>(
        shard_options{.name = "control", .entries = 256, .host_driven = false});
    _control = &_own_shard->get();
    return call_sync(*_control, [this] { return start_listeners(); });
}

int server::start_listeners() {
    const auto &cfg = _config;
    if (cfg.tls_port() > 0) {
        auto ctx = tls_context::create(cfg.tls());
        if (!ctx) {
            RS_LOG_ERROR("server", "TLS setup failed: {}", ctx.error().message());
            return -1;
        }
        _tls = std::move(*ctx);
    }
    const address_family fam = cfg.family() == listen_family::ipv4   ? address_family::ipv4
                               : cfg.family() == listen_family::ipv6 ? address_family::ipv6
                                                                     : address_family::any;
    auto open = [&](int port, std::vector<fd_handle> &out) -> bool {
        if (cfg.family() == listen_family::unix_socket) {
            auto ua = unix_address(cfg.addr());
            if (!ua) return false;
            ::unlink(cfg.addr().c_str());
            auto fd = listen_on(*ua);
            if (!fd) {
                RS_LOG_ERROR("server", "cannot listen on {}: {}", cfg.addr(), fd.error().message());
                return false;
            }
            out.push_back(std::move(*fd));
            return true;
        }
        auto fds = listen_tcp(cfg.addr(), port, fam);
        if (!fds) {
            RS_LOG_ERROR("server", "cannot listen on {}:{}: {}",
                         cfg.addr().empty() ? "*" : cfg.addr(), port, fds.error().message());
            return false;
        }
        out = std::move(*fds);
        return true;
    };
    if (cfg.listen_socket_fd() >= 0) {
        _listeners_plain.emplace_back(::dup(cfg.listen_socket_fd()));
    } else if (cfg.port() >= 0 && (cfg.port() > 0 || cfg.tls_port() <= 0)) {
        if (!open(cfg.port(), _listeners_plain)) return -1;
    }
    if (cfg.tls_port() > 0 && cfg.family() != listen_family::unix_socket) {
        if (!open(cfg.tls_port(), _listeners_tls)) return -1;
    }
    _bound_port = bound_port_of(_listeners_plain);
    _bound_tls_port = bound_port_of(_listeners_tls);
    for (auto &fd : _listeners_plain) {
        gate::holder h(_work);
        spawn(
            [](server &s, int lfd, std::stop_token st, gate::holder g) -> task<void> {
                co_await s.accept_loop(fd_handle(::dup(lfd)), false, st);
                (void)g;
            }(*this, fd.get(), _stop.get_token(), std::move(h)),
            "plain listener");
    }
    for (auto &fd : _listeners_tls) {
        gate::holder h(_work);
        spawn(
            [](server &s, int lfd, std::stop_token st, gate::holder g) -> task<void> {
                co_await s.accept_loop(fd_handle(::dup(lfd)), true, st);
                (void)g;
            }(*this, fd.get(), _stop.get_token(), std::move(h)),
            "TLS listener");
    }
    if (_bound_port > 0 || _bound_tls_port > 0)
        RS_LOG_INFO("server", "listening on {} port {} tls-port {}",
                    _config.addr().empty() ? "*" : _config.addr(), _bound_port, _bound_tls_port);
    return 0;
}

task<void> server::accept_loop(fd_handle listen_fd, bool tls, std::stop_token st) {
    acceptor acc(listen_fd.get());
    while (!st.stop_requested()) {
        auto fd = co_await acc.next(st);
        if (!fd) {
            if (fd.error() == errc::cancelled) break;
            RS_LOG_RATELIMITED("server", "accept failed: {}", fd.error().message());
            // EMFILE and friends: back off instead of spinning.
            (void)co_await sleep_for(100ms, st);
            continue;
        }
        fd_handle conn(*fd);
        if (_pending_links >= max_pending_links) {
            RS_LOG_RATELIMITED("server", "{} links in progress; refusing a connection",
                               _pending_links);
            continue;
        }
        // connection limit (issue 9): the socket closes with `conn`.
        if (_live_connections >= _max_connections) {
            RS_LOG_RATELIMITED("server", "{} connections open (the limit); refusing a connection",
                               _live_connections);
            continue;
        }
        gate::holder h(_work);
        if (!h.entered()) break;
        spawn(
            [](server &s, fd_handle c, bool t, gate::holder g) -> task<void> {
                co_await s.serve_connection(std::move(c), t, false);
                (void)g;
            }(*this, std::move(conn), tls, std::move(h)),
            "connection");
    }
    co_await acc.close();
}

int server::add_client(int fd, bool tls, bool skip_auth) {
    if (_control == nullptr || fd < 0) return -1;
    gate::holder h(_work);
    if (!h.entered()) return -1;
    spawn(
        [](server &s, fd_handle c, bool t, bool skip, gate::holder g) -> task<void> {
            co_await s.serve_connection(std::move(c), t, skip);
            (void)g;
        }(*this, fd_handle(fd), tls, skip_auth, std::move(h)),
        "connection");
    if (_host_shard) _host_shard->post([] {}); // make sure the host loop picks it up
    return 0;
}

void server::channel_event(int event, connection_record &rec) {
    if (_core == nullptr || _core->channel_event == nullptr) return;
    // channel_event exists from core interface 1.3 on.
    if (_core->base.major_version == 1 && _core->base.minor_version < 3) return;
    _core->channel_event(event, &rec.info);
}

uint32_t server::new_session_id() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    uint32_t id = 0;
    do {
        id = rng();
    } while (id == 0 || _sessions.contains(id));
    return id;
}

// One connection from accept to close: TLS, the link handshake, auth, then
// the channel. Every early exit ends here, where the stream is closed and
// the VMM told; nothing else frees a connection.
task<void> server::serve_connection(fd_handle fd, bool tls, bool skip_auth) {
    // connection limit (issue 9): counted from here to the last line.
    ++_live_connections;
    struct live_count {
        size_t &n;
        ~live_count() { --n; }
    } live{_live_connections};
    auto rec_owner = std::make_unique<connection_record>();
    connection_record &rec = *rec_owner;
    {
        auto la = local_address(fd.get());
        auto pa = peer_address(fd.get());
        rec.info.flags =
            SPICE_CHANNEL_EVENT_FLAG_ADDR_EXT | (tls ? SPICE_CHANNEL_EVENT_FLAG_TLS : 0);
        if (la) {
            std::memcpy(&rec.info.laddr_ext, &la->storage, sizeof(rec.info.laddr_ext));
            rec.info.llen_ext = la->len;
        }
        if (pa) {
            std::memcpy(&rec.info.paddr_ext, &pa->storage, sizeof(rec.info.paddr_ext));
            rec.info.plen_ext = pa->len;
        }
        if (pa && pa->family() != AF_UNIX) set_nodelay(fd.get());
    }
    channel_event(SPICE_CHANNEL_EVENT_CONNECTED, rec);
    ++_pending_links;
    bool counted = true;
    auto done_linking = [&] {
        if (counted) --_pending_links;
        counted = false;
    };

    // Watchdog: the whole handshake has link_timeout; a stalled client is cut.
    std::stop_source link_stop;
    std::stop_source watchdog_cancel;
    gate::holder wd(_work);
    spawn(
        [](std::stop_source trip, std::chrono::milliseconds timeout, std::stop_token cancel,
           gate::holder g) -> task<void> {
            auto r = co_await sleep_for(timeout, cancel);
            if (r.ok()) trip.request_stop();
            (void)g;
        }(link_stop, _link_timeout, watchdog_cancel.get_token(), std::move(wd)),
        "link watchdog");
    std::stop_callback server_stopping(_stop.get_token(),
                                       [&link_stop] { link_stop.request_stop(); });
    const auto st = link_stop.get_token();

    // Where the handshake is, for the log line when the watchdog cuts it.
    const char *stage = "TLS handshake";
    std::unique_ptr<stream> s;
    if (tls) {
        auto t = co_await tls_stream::accept(std::move(fd), _tls, {}, st);
        if (!t) {
            RS_LOG_RATELIMITED("link", "TLS handshake failed: {}", t.error().message());
        } else {
            s = std::move(*t);
        }
    } else {
        s = std::make_unique<plain_stream>(std::move(fd));
    }

    std::optional<link::message> linked;
    std::vector<uint8_t> out;
    wire::writer w(out);
    auto fail = [&](const link::failure &f) -> task<void> {
        return [](stream *str, link::failure fl, std::stop_token t) -> task<void> {
            RS_LOG_RATELIMITED("link", "link refused ({}): {}", fl.error, fl.reason);
            if (str == nullptr || fl.how == link::answer::close) co_return;
            std::vector<uint8_t> buf;
            wire::writer wr(buf);
            link::encode_failure(wr, fl);
            (void)co_await str->write_all(as_bytes_of(buf), t);
        }(s.get(), f, st);
    };

    do {
        if (!s) break;
        stage = "link header";
        // The magic first: a wrong one is answered after its 4 bytes, as the
        // reference does, not after a whole header the peer may never send.
        std::array<uint8_t, link::header_size> hdr{};
        const auto hdr_bytes = std::as_writable_bytes(std::span(hdr));
        auto r = co_await s->read_exact(hdr_bytes.first(link::magic_size), st);
        // websocket (issue 10): "GET " on the same port is a WebSocket
        // upgrade; the link then starts over inside the WebSocket stream.
        if (r && std::memcmp(hdr.data(), "GET ", link::magic_size) == 0) {
            auto ws =
                co_await websocket_accept(std::move(s), hdr_bytes.first(link::magic_size), st);
            if (!ws) break; // answered (or gone) and logged; the socket closes with it
            s = std::move(*ws);
            r = co_await s->read_exact(hdr_bytes.first(link::magic_size), st);
        }
        if (r && !link::is_magic(std::span(hdr).first(link::magic_size))) {
            co_await fail(
                link::failure{SPICE_LINK_ERR_INVALID_MAGIC, link::answer::reply, "bad magic"});
            break;
        }
        if (r) r = co_await s->read_exact(hdr_bytes.subspan(link::magic_size), st);
        if (!r) break;
        auto h = link::parse_header(hdr);
        if (!h) {
            co_await fail(h.error());
            break;
        }
        std::vector<uint8_t> body(h->size);
        stage = "link message";
        r = co_await s->read_exact(std::as_writable_bytes(std::span(body)), st);
        if (!r) break;
        auto m = link::parse_message(body);
        if (!m) {
            co_await fail(m.error());
            break;
        }
        const uint8_t type = m->channel_type;
        const auto known =
            type == SPICE_CHANNEL_MAIN ||
            std::any_of(_channels.begin(), _channels.end(), [&](const channel_service &c) {
                return c.type == type && c.id == m->channel_id;
            });
        if (!known) {
            RS_LOG_RATELIMITED("link", "link to {} {} refused: no such channel",
                               channel_type_name(type), m->channel_id);
            break; // the reference closes without an answer
        }
        const uint32_t sec = _config.channel_security(type);
        if (auto f = link::check_security(s->is_tls(), (sec & SPICE_CHANNEL_SECURITY_SSL) != 0,
                                          (sec & SPICE_CHANNEL_SECURITY_NONE) != 0)) {
            co_await fail(*f);
            break;
        }
        const bool no_auth = skip_auth || !_config.ticketing_enabled();
        auto step = link::next_auth_step(*m, _config.sasl_enabled(), no_auth);
        if (!step) {
            co_await fail(step.error());
            break;
        }
        // The reply: an RSA key for the ticket, and our capabilities. A
        // ticket that is checked needs a fresh key per link, or a recorded
        // encrypted ticket could be replayed; without authentication the
        // ticket is only decrypted, so one key serves every such link.
        std::optional<ticket_key> fresh;
        const ticket_key *key = nullptr;
        if (no_auth) {
            if (!_noauth_key) _noauth_key = ticket_key::generate();
            if (_noauth_key) key = &*_noauth_key;
        } else {
            fresh = ticket_key::generate();
            if (fresh) key = &*fresh;
        }
        if (key == nullptr) {
            RS_LOG_ERROR("link", "RSA key generation failed");
            break;
        }
        caps common;
        common.set(SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION);
        common.set(_config.sasl_enabled() ? SPICE_COMMON_CAP_AUTH_SASL
                                          : SPICE_COMMON_CAP_AUTH_SPICE);
        common.set(SPICE_COMMON_CAP_MINI_HEADER);
        caps chan;
        if (type == SPICE_CHANNEL_MAIN) {
            chan.set(SPICE_MAIN_CAP_SEMI_SEAMLESS_MIGRATE);
            chan.set(SPICE_MAIN_CAP_NAME_AND_UUID);
            chan.set(SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS);
        } else {
            for (const auto &c : _channels)
                if (c.type == type && c.id == m->channel_id) chan = c.channel_caps;
        }
        link::encode_reply(w, key->public_key_der(), common, chan);
        stage = "link reply";
        if (!(co_await s->write_all(as_bytes_of(out), st))) break;
        out.clear();

        // Authentication.
        link::auth_method method = link::auth_method::spice_ticket;
        if (*step == link::auth_step::read_mechanism) {
            std::array<uint8_t, link::auth_mechanism_size> mech{};
            stage = "auth mechanism";
            r = co_await s->read_exact(std::as_writable_bytes(std::span(mech)), st);
            if (!r) break;
            auto mv = link::parse_auth_mechanism(mech);
            auto chosen = link::choose_auth(mv.value_or(0), _config.sasl_enabled());
            if (!chosen) {
                co_await fail(chosen.error());
                break;
            }
            method = *chosen;
        }
        if (method == link::auth_method::sasl) {
            stage = "SASL exchange";
            auto settings = sasl_settings::for_stream(*s, _config.sasl_appname());
            auto sr = co_await sasl_authenticate(*s, settings, st);
            if (!sr) {
                // A refused login was already told to the client by the SASL
                // exchange; only a bad mechanism or start gets a link result.
                if (sr.error() == sasl_invalid_data)
                    co_await fail(link::failure{SPICE_LINK_ERR_INVALID_DATA, link::answer::result,
                                                "bad SASL start"});
                else
                    RS_LOG_RATELIMITED("link", "SASL authentication failed: {}",
                                       sr.error().message());
                break;
            }
        } else {
            std::array<uint8_t, link::encrypted_ticket_size> ticket{};
            stage = "ticket";
            r = co_await s->read_exact(std::as_writable_bytes(std::span(ticket)), st);
            if (!r) break;
            // A ticket that does not decrypt is refused even without auth, as
            // in the reference.
            auto password = key->decrypt_password(ticket);
            if (!password) {
                co_await fail(link::ticket_denied("ticket does not decrypt"));
                break;
            }
            if (!no_auth) {
                const auto verdict = _config.check_ticket(*password, monotonic_s());
                if (verdict != ticket_verdict::accepted) {
                    const char *why = verdict == ticket_verdict::expired ? "ticket expired"
                                      : verdict == ticket_verdict::no_password_set
                                          ? "no password set"
                                          : "wrong password";
                    co_await fail(link::ticket_denied(why));
                    break;
                }
            }
        }
        // Which session this channel belongs to.
        if (type != SPICE_CHANNEL_MAIN && !_sessions.contains(m->connection_id)) {
            co_await fail(link::failure{SPICE_LINK_ERR_BAD_CONNECTION_ID, link::answer::result,
                                        "unknown session"});
            break;
        }
        linked = std::move(*m);
    } while (false);
    done_linking();
    watchdog_cancel.request_stop();
    if (!linked && link_stop.stop_requested() && !_stop.stop_requested())
        RS_LOG_RATELIMITED("link", "link handshake timed out after {} ms at the {}",
                           _link_timeout.count(), stage);

    if (linked && s) {
        channel_link cl{.connection_id = linked->connection_id,
                        .type = linked->channel_type,
                        .id = linked->channel_id,
                        .common_caps = linked->common_caps,
                        .channel_caps = linked->channel_caps};
        if (cl.type == SPICE_CHANNEL_MAIN) {
            if (!_config.allow_multiple_clients())
                disconnect_all(); // a new viewer replaces the old one
            cl.connection_id = new_session_id();
        }
        link::encode_result(w, SPICE_LINK_ERR_OK);
        auto ok = co_await s->write_all(as_bytes_of(out), _stop.get_token());
        out.clear();
        if (ok) {
            rec.info.connection_id = static_cast<int>(cl.connection_id);
            rec.info.type = cl.type;
            rec.info.id = cl.id;
            rec.initialized = true;
            channel_event(SPICE_CHANNEL_EVENT_INITIALIZED, rec);
            RS_LOG_INFO("link", "session {:#x}: {} {} linked{}", cl.connection_id,
                        channel_type_name(cl.type), cl.id, s->is_tls() ? " over TLS" : "");
            if (cl.type == SPICE_CHANNEL_MAIN) {
                co_await run_main(
                    std::make_unique<main_channel_client>(*this, std::move(s), std::move(cl)));
            } else {
                for (auto &c : _channels) {
                    if (c.type != cl.type || c.id != cl.id) continue;
                    auto it = _sessions.find(cl.connection_id);
                    if (it == _sessions.end()) break;
                    auto serve = c.serve; // the registry may change while we run
                    co_await serve(std::move(s), std::move(cl), *it->second);
                    break;
                }
            }
        }
    }
    channel_event(SPICE_CHANNEL_EVENT_DISCONNECTED, rec);
}

task<void> server::run_main(std::unique_ptr<main_channel_client> mcc) {
    const uint32_t id = mcc->link().connection_id;
    auto sess = std::make_unique<session>();
    sess->id = id;
    sess->main = mcc.get();
    _sessions.emplace(id, std::move(sess));
    co_await mcc->run();
    // The main channel ended: the session and all its channels end with it.
    if (auto it = _sessions.find(id); it != _sessions.end()) {
        for (auto *c : it->second->channels)
            c->stop("session ended");
        for (auto &hook : it->second->stop_hooks)
            hook();
        _sessions.erase(it);
    }
    if (_agent != nullptr) _agent->client_gone(*mcc, _sessions.empty()); // agent (issue 8)
    RS_LOG_INFO("server", "session {:#x} ended", id);
    if (_config.exit_on_disconnect()) {
        RS_LOG_INFO("server", "exit-on-disconnect is set: exiting");
        std::exit(0); // NOLINT(concurrency-mt-unsafe): what the reference does
    }
}

task<void> server::drain() { co_await _work.close(); }

void server::disconnect_all() {
    for (auto &[id, sess] : _sessions) {
        if (sess->main != nullptr) sess->main->stop("disconnected by the server");
        for (auto *c : sess->channels)
            c->stop("disconnected by the server");
    }
}

void server::register_channel(channel_service svc) {
    unregister_channel(svc.type, svc.id);
    const uint8_t type = svc.type;
    _channels.push_back(std::move(svc));
    if (type == SPICE_CHANNEL_DISPLAY) update_mouse_mode(); // inputs (issue 5): display count
}

void server::unregister_channel(uint8_t type, uint8_t id) {
    const auto n = std::erase_if(
        _channels, [&](const channel_service &c) { return c.type == type && c.id == id; });
    if (n > 0 && type == SPICE_CHANNEL_DISPLAY) update_mouse_mode(); // inputs (issue 5)
}

std::vector<msg::channel_id> server::channel_list() const {
    // Main is not listed: spice-gtk opens a channel for every entry, and a
    // second main channel would replace the session's first.
    std::vector<msg::channel_id> out;
    for (const auto &c : _channels)
        out.push_back({c.type, c.id});
    return out;
}

uint32_t server::display_channels_hint() const noexcept {
    return static_cast<uint32_t>(_interfaces.qxls().size());
}

uint32_t server::multi_media_time() const noexcept {
    return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

// ---- mouse modes (inputs channel, issue 5): the reference's rules ----------
server::mouse_mode_state server::mouse_modes() const noexcept {
    // Client (absolute) mode needs the display side's consent (a primary
    // surface with a hardware cursor), and either the agent carrying the
    // mouse or a tablet with exactly one QXL and one display channel
    // (reds_update_mouse_mode).
    const auto displays =
        std::count_if(_channels.begin(), _channels.end(),
                      [](const channel_service &c) { return c.type == SPICE_CHANNEL_DISPLAY; });
    const bool client_allowed =
        _display_allows_client_mouse &&
        ((_config.agent_mouse() && _interfaces.vdagent() != nullptr &&
          (_agent == nullptr || _agent->attached())) || // agent (issue 8): a reset link
         (_interfaces.tablet() != nullptr && _interfaces.qxls().size() == 1 && displays == 1));
    mouse_mode_state m;
    m.supported = SPICE_MOUSE_MODE_SERVER | (client_allowed ? SPICE_MOUSE_MODE_CLIENT : 0);
    m.current = _mouse_mode;
    return m;
}

void server::request_mouse_mode(uint32_t mode) {
    const auto m = mouse_modes();
    if (mode != SPICE_MOUSE_MODE_SERVER && mode != SPICE_MOUSE_MODE_CLIENT) {
        RS_LOG_RATELIMITED("server", "mouse mode request {} is not a mode; ignored", mode);
        return;
    }
    if ((m.supported & mode) == 0) {
        RS_LOG_INFO("server", "client mouse mode requested but not allowed now");
        return;
    }
    if (mode == _mouse_mode) return;
    _mouse_mode = mode;
    for (auto &[id, sess] : _sessions)
        if (sess->main != nullptr) sess->main->push_mouse_mode(m.supported, mode);
}

void server::update_mouse_mode() {
    // The mode itself only changes on a client's request, except that client
    // mode ends when it stops being allowed (the reference's rule; spice-gtk
    // requests client mode whenever MOUSE_MODE says it is supported).
    const auto m = mouse_modes();
    const bool allowed = (m.supported & SPICE_MOUSE_MODE_CLIENT) != 0;
    if (allowed == _client_mouse_allowed) return;
    _client_mouse_allowed = allowed;
    if (!allowed) _mouse_mode = SPICE_MOUSE_MODE_SERVER;
    for (auto &[id, sess] : _sessions)
        if (sess->main != nullptr) sess->main->push_mouse_mode(m.supported, _mouse_mode);
}

void server::set_client_mouse_allowed(bool allowed, int x_res, int y_res) {
    if (!allowed && !_display_allows_client_mouse) return;
    _monitor_x_res = x_res;
    _monitor_y_res = y_res;
    _display_allows_client_mouse = allowed;
    update_mouse_mode();
    push_tablet_logical_size();
}

void server::push_tablet_logical_size() {
    SpiceTabletInstance *tablet = _interfaces.tablet();
    if (tablet == nullptr || !_client_mouse_allowed) return;
    auto *sif = reinterpret_cast<const SpiceTabletInterface *>(tablet->base.sif);
    if (sif->set_logical_size != nullptr)
        sif->set_logical_size(tablet, _monitor_x_res, _monitor_y_res);
}

// ---- agent (issue 8) -------------------------------------------------------
bool server::agent_attached() const noexcept { return _agent != nullptr && _agent->attached(); }

std::vector<main_channel_client *> server::main_clients() const {
    std::vector<main_channel_client *> out;
    for (const auto &[id, sess] : _sessions)
        if (sess->main != nullptr) out.push_back(sess->main);
    return out;
}

void server::set_vm_running(bool running) {
    const bool started = running && !_vm_running;
    _vm_running = running;
    if (started && _agent != nullptr) _agent->wakeup();
}

void server::agent_mouse_state(const VDAgentMouseState &state) {
    if (_agent != nullptr) _agent->mouse_state(state);
}

void server::set_qxl_device_info(qxl_device_info info) {
    std::erase_if(_device_infos, [&](const qxl_device_info &d) { return d.qxl_id == info.qxl_id; });
    _device_infos.push_back(std::move(info));
    if (_agent != nullptr) _agent->device_info_changed();
}
// ---- end agent ---------------------------------------------------------------

session *server::find_session(uint32_t id) noexcept {
    auto it = _sessions.find(id);
    return it == _sessions.end() ? nullptr : it->second.get();
}
// ---- end mouse modes ---------------------------------------------------------

void server::shutdown() {
    if (_control == nullptr) return;
    if (_host_shard) {
        {
            const shard::entered here(*_host_shard);
            _stop.request_stop();
            disconnect_all();
        }
        // Drive the ring ourselves until every connection has wound down
        // (bounded: a wedged peer cannot hold the VMM's shutdown).
        for (int i = 0; i < 500 && _work.count() > 0; ++i) {
            _host_shard->poll();
            if (_work.count() > 0) std::this_thread::sleep_for(2ms);
        }
        if (_work.count() > 0)
            RS_LOG_WARN("server", "{} connections did not end in time", _work.count());
        if (_watch != nullptr && _core != nullptr) _core->watch_remove(_watch);
        _watch = nullptr;
        _listeners_plain.clear();
        _listeners_tls.clear();
        _control = nullptr;
        _host_shard.reset();
    } else {
        call_sync(*_control, [this] {
            _stop.request_stop();
            disconnect_all();
            return drain();
        });
        call_sync(*_control, [this] {
            _listeners_plain.clear();
            _listeners_tls.clear();
        });
        _control = nullptr;
        _own_shard.reset();
    }
}

} // namespace rs
