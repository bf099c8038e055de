#include "reds/agent.hpp"

#include <algorithm>

#include "reds/main_channel.hpp"
#include "reds/server.hpp"
#include "reds/wire.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

constexpr size_t chunk_header_size = sizeof(VDIChunkHeader);
// MAIN_INIT and AGENT_CONNECTED_TOKENS announce the window the pipe counts.
static_assert(agent_pipe::client_window == server::agent_window_size);

/// VDIChunkHeader + VDAgentMessage header + data: a message of the server's
/// own, whole in one chunk to the server port, as the reference writes them.
std::vector<uint8_t> server_chunk(uint32_t type, std::span<const uint8_t> data) {
    std::vector<uint8_t> out;
    out.reserve(chunk_header_size + agent_message_header::wire_size + data.size());
    wire::writer w(out);
    w.u32(VDP_SERVER_PORT);
    w.u32(static_cast<uint32_t>(agent_message_header::wire_size + data.size()));
    write_agent_header(out, agent_message_header{.protocol = VD_AGENT_PROTOCOL,
                                                 .type = type,
                                                 .opaque = 0,
                                                 .size = static_cast<uint32_t>(data.size())});
    w.bytes(data);
    return out;
}

} // namespace

agent_pipe::agent_pipe(server &srv, SpiceCharDeviceInstance *sin)
    : _server(srv)
    , _sin(sin)
    , _sif(reinterpret_cast<const SpiceCharDeviceInterface *>(sin->base.sif))
    , _alive(std::make_shared<agent_pipe *>(this)) {
    // Both directions discard until a client sends AGENT_START.
    _read_filter.reset(settings(), /*discard_all=*/true);
    _write_filter.reset(settings(), /*discard_all=*/true);
    // As attach_to_red_agent: the mouse may now go through the agent, the
    // device hears that the host side is open, and connected clients are
    // told (they answer AGENT_START).
    _server.set_agent(this);
    _server.update_mouse_mode();
    if (_sif->state != nullptr) _sif->state(_sin, 1);
    const auto clients = _server.main_clients();
    for (auto *mcc : clients)
        mcc->push_agent_connected();
    RS_LOG_INFO("agent", "vdagent attached ({} client(s) told)", clients.size());
}

agent_pipe::~agent_pipe() {
    *_alive = nullptr;
    _retry_stop.request_stop();
    if (_attached) {
        if (_sif->state != nullptr) _sif->state(_sin, 0);
        for (auto *mcc : _server.main_clients())
            mcc->push_agent_disconnected();
    }
    if (_server.agent() == this) _server.set_agent(nullptr);
    _server.update_mouse_mode();
    RS_LOG_INFO("agent", "vdagent removed");
}

agent_filter_settings agent_pipe::settings() const {
    return agent_filter_settings{.copypaste = _server.config().agent_copypaste(),
                                 .file_xfer = _server.config().agent_file_xfer(),
                                 .client_monitors_config = _use_qxl_monitors};
}

bool agent_pipe::use_client_monitors_config() const {
    // reds_use_client_monitors_config: every QXL device must take them; the
    // callback with a null config answers whether it can.
    const auto &qxls = _server.interfaces().qxls();
    if (qxls.empty()) return false;
    return std::all_of(qxls.begin(), qxls.end(), [](QXLInstance *q) {
        if (!interface_registry::version_at_least(&q->base, 3, 3)) return false;
        const auto *sif = reinterpret_cast<const QXLInterface *>(q->base.sif);
        return sif->client_monitors_config != nullptr &&
               sif->client_monitors_config(q, nullptr) != 0;
    });
}

agent_pipe::client_state *agent_pipe::find(main_channel_client &mcc) {
    auto it = std::find_if(_clients.begin(), _clients.end(),
                           [&](const client_state &c) { return c.mcc == &mcc; });
    return it == _clients.end() ? nullptr : &*it;
}

// ---- the pump: all device I/O happens here ---------------------------------

void agent_pipe::wakeup() {
    if (_attached) pump();
}

void agent_pipe::pump() {
    // The device is touched only while the VM runs; set_vm_running(true)
    // wakes the pipe up again.
    if (!_server.vm_running()) return;
    // sif->read/write may call spice_server_char_device_wakeup, which lands
    // here again: the outer call loops instead.
    if (_in_pump) {
        _pump_again = true;
        return;
    }
    _in_pump = true;
    do {
        _pump_again = false;
        write_to_device();
        if (_attached) read_from_device();
    } while (_pump_again && _attached);
    _in_pump = false;
    if (_attached && (!_writes.empty() || _blocked_by_backlog)) arm_retry();
}

void agent_pipe::write_to_device() {
    while (_attached && !_writes.empty()) {
        write_item &it = _writes.front();
        const size_t left = it.bytes.size() - it.written;
        const int n = _sif->write(_sin, it.bytes.data() + it.written, static_cast<int>(left));
        if (n <= 0) return; // the device is full; wakeup (or the retry) resumes
        it.written += std::min(static_cast<size_t>(n), left);
        if (it.written < it.bytes.size()) continue;
        main_channel_client *owner = it.kind == item_kind::client_data ? it.owner : nullptr;
        _write_bytes -= it.bytes.size();
        _writes.pop_front();
        if (owner != nullptr) return_token(owner);
    }
}

bool agent_pipe::can_read() const {
    // As the reference: with no client started, read and drop; else read
    // only what every started client can take now.
    for (const auto &c : _clients)
        if (c.send_tokens == 0 || c.mcc->backlog() > max_client_backlog) return false;
    return true;
}

void agent_pipe::read_from_device() {
    _blocked_by_backlog = false;
    while (_attached) {
        const bool at_boundary = (_stage == read_stage::chunk_header && _header_have == 0) ||
                                 (_stage == read_stage::chunk_data && _piece_have == 0);
        if (at_boundary && !can_read()) {
            _blocked_by_backlog = std::any_of(_clients.begin(), _clients.end(), [](auto &c) {
                return c.send_tokens != 0 && c.mcc->backlog() > max_client_backlog;
            });
            return;
        }
        if (_stage == read_stage::chunk_header) {
            const int n = _sif->read(_sin, _chunk_header + _header_have,
                                     static_cast<int>(chunk_header_size - _header_have));
            if (n <= 0) return;
            _header_have += std::min(static_cast<size_t>(n), chunk_header_size - _header_have);
            if (_header_have < chunk_header_size) continue;
            _header_have = 0;
            wire::reader r(std::span<const uint8_t>(_chunk_header, chunk_header_size));
            _chunk_port = r.u32();
            _chunk_left = r.u32();
            if (_chunk_port != VDP_CLIENT_PORT && _chunk_port != VDP_SERVER_PORT) {
                detach("chunk for an unknown port");
                return;
            }
            if (_chunk_left == 0) continue; // nothing in it (the reference would stall)
            _stage = read_stage::chunk_data;
            _piece_have = 0;
            _piece_want = std::min<size_t>(_chunk_left, _piece.size());
            _chunk_left -= static_cast<uint32_t>(_piece_want);
            continue;
        }
        const int n = _sif->read(_sin, _piece.data() + _piece_have,
                                 static_cast<int>(_piece_want - _piece_have));
        if (n <= 0) return;
        _piece_have += std::min(static_cast<size_t>(n), _piece_want - _piece_have);
        if (_piece_have < _piece_want) continue;
        dispatch_piece();
        if (!_attached) return;
        _piece_have = 0;
        if (_chunk_left == 0) {
            _stage = read_stage::chunk_header;
        } else {
            _piece_want = std::min<size_t>(_chunk_left, _piece.size());
            _chunk_left -= static_cast<uint32_t>(_piece_want);
        }
    }
}

void agent_pipe::dispatch_piece() {
    const auto piece = std::span<uint8_t>(_piece.data(), _piece_have);
    // The agent's messages to the server port carry nothing we act on.
    if (_chunk_port == VDP_SERVER_PORT) return;
    const bool starts_message = !_read_filter.mid_message();
    const auto s = settings();
    _read_filter.configure(s);
    switch (_read_filter.process(piece)) {
    case agent_verdict::protocol_error:
        detach(_read_filter.error());
        return;
    case agent_verdict::forward:
        break;
    case agent_verdict::discard:
    case agent_verdict::monitors_config:
        return;
    }
    std::optional<bool> device_info_cap;
    if (starts_message) device_info_cap = rewrite_agent_capabilities(piece, s);
    forward_to_clients(piece);
    if (device_info_cap) {
        _supports_device_info = *device_info_cap;
        device_info_changed();
    }
}

void agent_pipe::forward_to_clients(std::span<const uint8_t> piece) {
    for (auto &c : _clients) {
        if (c.send_tokens == 0) continue; // can_read() rules this out
        --c.send_tokens;
        c.mcc->push_agent_data(piece);
    }
}

void agent_pipe::detach(const char *why) {
    RS_LOG_WARN("agent",
                "the vdagent broke the protocol ({}); its link is reset until the "
                "device is added again",
                why);
    _attached = false;
    _clients.clear();
    _writes.clear();
    _write_bytes = 0;
    _stage = read_stage::chunk_header;
    _header_have = 0;
    _piece_have = 0;
    _supports_device_info = false;
    _read_filter.reset(settings(), true);
    // Pieces of a client message in flight still arrive: keep the position,
    // discard them (reds_reset_vdp).
    _write_filter.set_discard_all(true);
    _monitors.reset();
    if (_sif->state != nullptr) _sif->state(_sin, 0);
    for (auto *mcc : _server.main_clients())
        mcc->push_agent_disconnected();
    _server.update_mouse_mode();
}

// ---- the retry timer ----------------------------------------------------------

task<void> agent_pipe::retry_after(std::shared_ptr<agent_pipe *> alive,
                                   std::chrono::milliseconds delay, std::stop_token st) {
    auto slept = co_await sleep_for(delay, st);
    if (!slept.ok() || *alive == nullptr) co_return;
    agent_pipe *self = *alive;
    self->_retry_armed = false;
    if (self->_attached) self->pump();
}

void agent_pipe::arm_retry() {
    if (_retry_armed) return;
    _retry_armed = true;
    spawn(retry_after(_alive, retry_interval, _retry_stop.get_token()), "agent retry");
}

// ---- from the main channel ------------------------------------------------------

void agent_pipe::client_start(main_channel_client &mcc, uint32_t tokens) {
    if (!_attached) return; // AGENT_CONNECTED will come when a device is
    if (auto *c = find(mcc)) {
        c->send_tokens = tokens;
    } else {
        _clients.push_back(client_state{
            .mcc = &mcc, .send_tokens = tokens, .recv_tokens = client_window, .freed = 0});
    }
    _use_qxl_monitors = use_client_monitors_config();
    const auto s = settings();
    _write_filter.configure(s);
    _write_filter.set_discard_all(false);
    _read_filter.configure(s);
    _read_filter.set_discard_all(false);
    device_info_changed();
    pump();
}

void agent_pipe::client_tokens(main_channel_client &mcc, uint32_t tokens) {
    auto *c = _attached ? find(mcc) : nullptr;
    if (c == nullptr) return;
    c->send_tokens += tokens;
    pump();
}

result<void> agent_pipe::client_data(main_channel_client &mcc, std::span<const uint8_t> data) {
    const uint32_t session = mcc.link().connection_id;
    auto s = settings();
    _write_filter.configure(s);
    const agent_verdict v = _write_filter.process(data);
    if (v == agent_verdict::protocol_error) {
        RS_LOG_RATELIMITED("agent", "session {:#x}: malformed agent data ({} bytes): {}; closing",
                           session, data.size(), _write_filter.error());
        return errc::protocol;
    }
    client_state *c = _attached ? find(mcc) : nullptr;
    if (c == nullptr) {
        // Addressed to an agent that went away (or never heard AGENT_START
        // from this client): dropped without a token, as in the reference.
        RS_LOG_DEBUG("agent", "session {:#x}: agent data dropped: agent not started", session);
        return {};
    }
    if (c->recv_tokens == 0) {
        RS_LOG_RATELIMITED("agent",
                           "session {:#x}: agent data beyond the {} tokens granted; closing",
                           session, client_window);
        return errc::protocol;
    }
    --c->recv_tokens;
    switch (v) {
    case agent_verdict::forward: {
        const size_t size = chunk_header_size + data.size();
        if (_write_bytes + size > max_write_queue_bytes) {
            RS_LOG_RATELIMITED("agent", "session {:#x}: {} bytes queued for the agent; closing",
                               session, _write_bytes);
            return errc::protocol;
        }
        write_item it{.kind = item_kind::client_data, .owner = &mcc, .bytes = {}, .written = 0};
        it.bytes.reserve(size);
        wire::writer w(it.bytes);
        w.u32(VDP_CLIENT_PORT);
        w.u32(static_cast<uint32_t>(data.size()));
        w.bytes(data);
        _write_bytes += size;
        _writes.push_back(std::move(it));
        pump();
        return {};
    }
    case agent_verdict::monitors_config:
        switch (_monitors.append(data)) {
        case monitors_config_assembler::status::invalid:
            RS_LOG_RATELIMITED("agent", "session {:#x}: invalid MONITORS_CONFIG; closing", session);
            return errc::protocol;
        case monitors_config_assembler::status::complete:
            deliver_monitors_config();
            break;
        case monitors_config_assembler::status::incomplete:
            break;
        }
        return_token(&mcc);
        return {};
    case agent_verdict::discard:
    case agent_verdict::protocol_error:
        break;
    }
    return_token(&mcc);
    return {};
}

void agent_pipe::deliver_monitors_config() {
    VDAgentMonitorsConfig *cfg = _monitors.config();
    if (cfg == nullptr) return;
    RS_LOG_DEBUG("agent", "client monitors config: {} monitor(s) to the QXL devices",
                 _monitors.num_monitors());
    for (QXLInstance *q : _server.interfaces().qxls()) {
        if (!interface_registry::version_at_least(&q->base, 3, 3)) continue;
        const auto *sif = reinterpret_cast<const QXLInterface *>(q->base.sif);
        if (sif->client_monitors_config == nullptr || sif->client_monitors_config(q, cfg) == 0)
            RS_LOG_DEBUG("agent", "QXL {} did not take the client monitors config", q->id);
    }
}

void agent_pipe::return_token(main_channel_client *owner) {
    auto *c = find(*owner);
    if (c == nullptr) return;
    if (++c->freed < tokens_interval) return;
    c->recv_tokens += c->freed;
    c->mcc->push_agent_tokens(c->freed);
    c->freed = 0;
}

void agent_pipe::client_gone(main_channel_client &mcc, bool last) {
    std::erase_if(_clients, [&](const client_state &c) { return c.mcc == &mcc; });
    for (auto &it : _writes)
        if (it.owner == &mcc) it.owner = nullptr; // its bytes still go; its token is moot
    if (_clients.empty()) _read_filter.set_discard_all(true);
    if (!last) return;
    // reds_client_disconnect: the agent hears it, and the client direction
    // starts clean for the next viewer.
    _write_filter.reset(settings(), true);
    _monitors.reset();
    if (!_attached) return;
    queue_server_message(item_kind::server_message, VD_AGENT_CLIENT_DISCONNECTED, {});
    pump();
}

// ---- the server's own messages -----------------------------------------------------

void agent_pipe::queue_server_message(item_kind kind, uint32_t type,
                                      std::span<const uint8_t> data) {
    auto bytes = server_chunk(type, data);
    if (kind != item_kind::server_message) {
        // A newer mouse state or device info replaces one not yet started.
        for (auto &it : _writes) {
            if (it.kind != kind || it.written != 0) continue;
            _write_bytes = _write_bytes - it.bytes.size() + bytes.size();
            it.bytes = std::move(bytes);
            return;
        }
    }
    if (_write_bytes + bytes.size() > max_write_queue_bytes) {
        RS_LOG_RATELIMITED("agent", "agent message type {} dropped: {} bytes already queued", type,
                           _write_bytes);
        return;
    }
    _write_bytes += bytes.size();
    _writes.push_back(write_item{.kind = kind, .owner = nullptr, .bytes = std::move(bytes)});
}

void agent_pipe::mouse_state(const VDAgentMouseState &state) {
    if (!_attached) return;
    std::vector<uint8_t> data;
    wire::writer w(data);
    w.u32(state.x);
    w.u32(state.y);
    w.u32(state.buttons);
    w.u8(state.display_id);
    queue_server_message(item_kind::mouse_state, VD_AGENT_MOUSE_STATE, data);
    pump();
}

void agent_pipe::device_info_changed() {
    if (!_attached || !_supports_device_info) return;
    // VDAgentGraphicsDeviceInfo: a count, then one VDAgentDeviceDisplayInfo
    // per monitor of every QXL that set its device info.
    std::vector<uint8_t> data;
    wire::writer w(data);
    const auto count = w.reserve_u32();
    uint32_t n = 0;
    for (const auto &info : _server.qxl_device_infos()) {
        if (_server.interfaces().qxl_by_id(info.qxl_id) == nullptr) continue; // removed
        for (uint32_t i = 0; i < info.count; ++i) {
            w.u32(static_cast<uint32_t>(info.qxl_id));
            w.u32(i);
            w.u32(info.first_display_id + i);
            w.u32(static_cast<uint32_t>(info.address.size() + 1));
            w.bytes(std::span(reinterpret_cast<const uint8_t *>(info.address.data()),
                              info.address.size()));
            w.u8(0);
            ++n;
        }
    }
    w.patch(count, n);
    queue_server_message(item_kind::device_info, VD_AGENT_GRAPHICS_DEVICE_INFO, data);
    pump();
}

std::unique_ptr<char_device_handler> attach_agent(server &srv, SpiceCharDeviceInstance *sin) {
    if (sin == nullptr || sin->base.sif == nullptr) return nullptr;
    const auto *sif = reinterpret_cast<const SpiceCharDeviceInterface *>(sin->base.sif);
    if (sif->read == nullptr || sif->write == nullptr) {
        RS_LOG_WARN("agent", "the vdagent device has no read or write callback; not served");
        return nullptr;
    }
    if (srv.agent() != nullptr) {
        RS_LOG_WARN("agent", "a vdagent device is already served; the second is not");
        return nullptr;
    }
    return std::make_unique<agent_pipe>(srv, sin);
}

} // namespace rs
