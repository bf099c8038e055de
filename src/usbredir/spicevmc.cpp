#include "usbredir/spicevmc.hpp"

#include <spice/enums.h>
#include <spice/protocol.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <deque>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "reds/channel_client.hpp"
#include "reds/server.hpp"
#include "runtime/io.hpp"
#include "runtime/log.hpp"
#include "usbredir/spicevmc_messages.hpp"

namespace rs {

using namespace std::chrono_literals;

namespace {

/// How often data a device refused is offered again when the device does
/// not promise a wakeup once writable (no SPICE_CHAR_DEVICE_NOTIFY_WRITABLE;
/// the reference's CHAR_DEVICE_WRITE_TO_TIMEOUT).
constexpr auto write_retry_interval = 100ms;
/// Room a DATA message needs beyond its payload in the send queue: the
/// largest header (full data header) plus the COMPRESSED_DATA fields.
constexpr size_t message_overhead = 32;
/// A device that keeps waking us up from inside read/write while returning
/// nothing gets this many immediate retries, then waits for the next wakeup.
constexpr int max_nested_retries = 16;

const SpiceCharDeviceInterface *sif_of(SpiceCharDeviceInstance *sin) noexcept {
    return reinterpret_cast<const SpiceCharDeviceInterface *>(sin->base.sif);
}

bool is_local_socket(int fd) {
    auto a = local_address(fd);
    return a && a->family() == AF_UNIX;
}

} // namespace

class vmc_channel_client;

/// The stream of a spicevmc client, observed: after each write the channel
/// learns that the client's queue shrank and reads the device again.
/// Owned by the channel client; control shard.
class observed_stream final : public stream {
  public:
    explicit observed_stream(std::unique_ptr<stream> inner) noexcept
        : _inner(std::move(inner)) {}
    void set_listener(vmc_channel_client *c) noexcept { _listener = c; }
    /// A write is under way (bytes taken from the send queue, not yet sent).
    bool in_flight() const noexcept { return _in_flight; }

    task<result<size_t>> read_some(std::span<std::byte> buf, std::stop_token st) override {
        return _inner->read_some(buf, st);
    }
    task<result<void>> write_all(std::span<const std::byte> buf, std::stop_token st) override;
    bool is_tls() const noexcept override { return _inner->is_tls(); }
    int ssf() const noexcept override { return _inner->ssf(); }
    int fd() const noexcept override { return _inner->fd(); }
    void shutdown() noexcept override { _inner->shutdown(); }

  private:
    std::unique_ptr<stream> _inner;
    vmc_channel_client *_listener = nullptr;
    bool _in_flight = false;
};

/// Keeps the server's registry from outliving the channel unnoticed: the
/// channel_service's serve function holds it, so it dies when the server
/// drops the service (unregistered, or the server destroyed) and no link is
/// being served through it. Then the channel forgets the server. Control
/// shard.
struct vmc_registration {
    std::weak_ptr<vmc_channel> channel;
    ~vmc_registration();
};

/// The state of one spicevmc device's channel: the device instance (until
/// detached), the client (at most one), the client's bytes the device has
/// not taken, and the port state. Shared by the vmc_device handler and the
/// coroutine serving each client, so a client ending after the device was
/// removed finds it still here (detached). Control shard.
class vmc_channel : public std::enable_shared_from_this<vmc_channel> {
  public:
    vmc_channel(server &srv, SpiceCharDeviceInstance *sin, uint8_t type, uint8_t id, bool is_port,
                std::optional<usb_policy> policy)
        : _server(&srv)
        , _sin(sin)
        , _type(type)
        , _id(id)
        , _is_port(is_port)
        , _port_name(is_port && sin->portname != nullptr ? sin->portname : "")
        , _read_buf(vmc_read_chunk)
        , _policy(std::move(policy)) {}

    void register_with_server();
    /// The device goes away: unregister, end the client (the device sees
    /// state(0) first), drop what the device never took.
    void detach();
    void forget_server(const vmc_registration *r) noexcept {
        if (_registration == r) {
            _server = nullptr;
            _registration = nullptr;
        }
    }

    void pump_to_device();
    void pump_from_device();
    void port_event(uint8_t event);
    void client_wrote(vmc_channel_client &c);
    /// Client data for the device, accepted once there is room.
    bool has_room_for(size_t n) const noexcept {
        return _to_device_bytes == 0 || _to_device_bytes + n <= vmc_queue_cap;
    }
    void queue_for_device(std::vector<uint8_t> data);
    void device_event(uint8_t event);

    uint8_t type() const noexcept { return _type; }
    uint8_t id() const noexcept { return _id; }
    bool attached() const noexcept { return _sin != nullptr; }
    vmc_device::counters stats() const;

    static task<void> serve(std::shared_ptr<vmc_channel> self, std::unique_ptr<stream> s,
                            channel_link link, uint32_t session_id);

  private:
    friend class vmc_channel_client;
    void attach_client(vmc_channel_client &c);
    void drop_client(vmc_channel_client &c);
    void set_device_state(int connected);
    /// The VM runs (a detached channel has no server and no device anyway).
    bool device_may_run() const noexcept { return _server == nullptr || _server->vm_running(); }
    bool notify_writable() const noexcept {
        const auto *sif = sif_of(_sin);
        return sif->base.minor_version > 2 && (sif->flags & SPICE_CHAR_DEVICE_NOTIFY_WRITABLE);
    }

    server *_server;
    const vmc_registration *_registration = nullptr;
    SpiceCharDeviceInstance *_sin;
    uint8_t _type;
    uint8_t _id;
    bool _is_port;
    std::string _port_name;
    bool _port_opened = false;
    vmc_channel_client *_client = nullptr;
    // client -> device
    std::deque<std::vector<uint8_t>> _to_device;
    size_t _front_offset = 0;
    size_t _to_device_bytes = 0;
    // device -> client
    std::vector<uint8_t> _read_buf;
    // re-entrancy guards: the device may call wakeup from inside read/write
    bool _reading = false;
    bool _read_again = false;
    bool _writing = false;
    bool _write_again = false;
    vmc_device::counters _stats;
    std::optional<usb_policy> _policy; ///< usbredir only
};

/// One client of a spicevmc channel: decodes its messages for the device,
/// and waits (holding back the socket) while the device has a full queue.
/// Owned by vmc_channel::serve's frame; control shard.
class vmc_channel_client final : public channel_client {
  public:
    vmc_channel_client(vmc_channel &ch, std::unique_ptr<observed_stream> s, channel_link link)
        : channel_client(std::move(s), std::move(link), /*handle_acks=*/false,
                         channel_limits{.max_message_size = vmc_max_client_message})
        , _channel(ch)
        , _on_stop(stop_token(), wake_waiters{this}) {
        if (ch._policy) _watch.emplace();
        _lz4 = this->link().channel_caps.has(SPICE_SPICEVMC_CAP_DATA_COMPRESS_LZ4) &&
               !is_local_socket(fd());
    }

    /// Whether device data goes out as LZ4 when it pays off: the client
    /// said it decodes it, and the socket is not local (the reference's
    /// rule: no point compressing over AF_UNIX).
    bool lz4() const noexcept { return _lz4; }
    size_t queued() const noexcept { return queued_bytes(); }
    /// The device took data: a reader waiting for room may go on.
    void room_available() { _room.set(); }
    /// The device refused data and will not say when it is writable.
    void want_retry() { _retry.set(); }
    /// Guest bytes on their way to this client: the USB policy watch learns
    /// the guest's usbredir caps from them.
    void saw_guest_bytes(std::span<const uint8_t> data) {
        if (_watch) _watch->from_guest(data);
    }
    void set_stream(observed_stream *s) noexcept { _obs = s; }

    /// Offers the device's refused data again every write_retry_interval
    /// while asked to; ends (setting `done`) when the client stops.
    static task<void> retry_loop(std::shared_ptr<vmc_channel> ch, vmc_channel_client &c,
                                 event &done) {
        while (!c.stopped()) {
            co_await c._retry.wait();
            c._retry.reset();
            if (c.stopped()) break;
            auto slept = co_await sleep_for(write_retry_interval, c.stop_token());
            if (!slept || c.stopped()) break;
            ch->pump_to_device();
        }
        done.set();
    }

  protected:
    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override {
        const auto m = parse_spicevmc_client_message(type, body);
        if (const auto *e = std::get_if<parse_error>(&m)) {
            RS_LOG_RATELIMITED("spicevmc", "{} {}: malformed client message type {}: {}",
                               channel_type_name(_channel.type()), _channel.id(), type, e->reason);
            co_return errc::protocol;
        }
        if (const auto *d = std::get_if<msgc::spicevmc_data>(&m)) {
            if (d->data.empty()) co_return result<void>{};
            if (!(co_await admit(d->data))) co_return result<void>{};
            co_await wait_for_room(d->data.size());
            if (!stopped()) _channel.queue_for_device({d->data.begin(), d->data.end()});
        } else if (const auto *c = std::get_if<msgc::spicevmc_compressed_data>(&m)) {
            auto data = vmc_decompress(*c);
            if (!data) {
                RS_LOG_RATELIMITED("spicevmc",
                                   "{} {}: COMPRESSED_DATA of type {} ({} bytes, {} announced) "
                                   "does not decode",
                                   channel_type_name(_channel.type()), _channel.id(),
                                   c->compression, c->data.size(), c->uncompressed_size);
                co_return errc::protocol;
            }
            ++_channel._stats.compressed_received;
            if (!(co_await admit(*data))) co_return result<void>{};
            co_await wait_for_room(data->size());
            if (!stopped()) _channel.queue_for_device(std::move(*data));
        } else if (const auto *p = std::get_if<msgc::port_event>(&m)) {
            _channel.device_event(p->event);
        }
        co_return result<void>{};
    }

  private:
    friend class observed_stream;
    struct wake_waiters {
        vmc_channel_client *c;
        void operator()() const {
            c->_room.set();
            c->_retry.set();
        }
    };

    /// The USB policy's verdict on client bytes bound for the guest: true
    /// to pass them on. A device outside the policy: logged, the client is
    /// told why (NOTIFY), and once that is sent the channel ends; a stream
    /// that is not usbredir ends it too. Neither reaches the guest.
    task<bool> admit(std::span<const uint8_t> data) {
        if (!_watch || stopped()) co_return !stopped();
        auto devices = _watch->from_client(data);
        if (!devices) {
            RS_LOG_RATELIMITED("usbredir",
                               "{} {}: client data is not a usbredir stream the USB policy can "
                               "follow; closing",
                               channel_type_name(_channel.type()), _channel.id());
            stop("not a usbredir stream");
            co_return false;
        }
        for (const auto &dev : *devices) {
            auto why = _channel._policy->refusal(dev);
            if (!why) continue;
            ++_channel._stats.usb_devices_refused;
            const std::string text =
                fmt::format("USB device {:04x}:{:04x} (class {:02x}) refused: {}", dev.vendor_id,
                            dev.product_id, dev.device_class, *why);
            RS_LOG_WARN("usbredir", "{} {}: {}", channel_type_name(_channel.type()), _channel.id(),
                        text);
            send(msg::notify{.time_stamp = monotonic_us(),
                             .severity = SPICE_NOTIFY_SEVERITY_ERROR,
                             .visibility = SPICE_NOTIFY_VISIBILITY_HIGH,
                             .what = SPICE_WARN_GENERAL,
                             .message = text});
            // Stopping shuts the socket at once: first let the NOTIFY out.
            while (!stopped() && (queued() > 0 || (_obs != nullptr && _obs->in_flight()))) {
                _room.reset();
                co_await _room.wait();
            }
            stop("USB device refused by the policy");
            co_return false;
        }
        co_return true;
    }

    /// Holds the reader (and so the socket) until the device's queue can
    /// take `n` more bytes, or the client stops.
    task<void> wait_for_room(size_t n) {
        while (!stopped() && _channel.attached() && !_channel.has_room_for(n)) {
            _room.reset();
            co_await _room.wait();
        }
    }

    vmc_channel &_channel;
    bool _lz4 = false;
    event _room;
    event _retry;
    std::stop_callback<wake_waiters> _on_stop;
    observed_stream *_obs = nullptr;
    std::optional<usbredir_watch> _watch; ///< with a USB policy only
};

// ---- observed_stream / registration -------------------------------------------

task<result<void>> observed_stream::write_all(std::span<const std::byte> buf, std::stop_token st) {
    _in_flight = true;
    auto r = co_await _inner->write_all(buf, st);
    _in_flight = false;
    if (_listener != nullptr) {
        _listener->_room.set(); // a refusal waiting for its NOTIFY to go out
        if (r && !_listener->stopped()) _listener->_channel.client_wrote(*_listener);
    }
    co_return r;
}

vmc_registration::~vmc_registration() {
    if (auto ch = channel.lock()) ch->forget_server(this);
}

// ---- vmc_channel ------------------------------------------------------------------

void vmc_channel::register_with_server() {
    auto reg = std::make_shared<vmc_registration>();
    reg->channel = weak_from_this();
    _registration = reg.get();
    caps c;
    c.set(SPICE_SPICEVMC_CAP_DATA_COMPRESS_LZ4);
    _server->register_channel(channel_service{
        .type = _type,
        .id = _id,
        .channel_caps = c,
        .serve =
            [reg](std::unique_ptr<stream> s, channel_link l, session &sess) {
                return vmc_channel::serve(reg->channel.lock(), std::move(s), std::move(l), sess.id);
            },
    });
}

void vmc_channel::detach() {
    if (_server != nullptr && _registration != nullptr) {
        server *srv = _server;
        _registration = nullptr; // the service is going: nothing to forget
        srv->unregister_channel(_type, _id);
    }
    _server = nullptr;
    RS_LOG_INFO("spicevmc", "{} {}: device removed{}", channel_type_name(_type), _id,
                _client != nullptr ? "; ending its client" : "");
    if (_client != nullptr) {
        vmc_channel_client &c = *_client;
        c.stop("device removed");
        drop_client(c); // state(0) while the instance is still valid
    }
    _sin = nullptr;
    _to_device.clear();
    _front_offset = 0;
    _to_device_bytes = 0;
}

void vmc_channel::set_device_state(int connected) {
    if (_sin == nullptr) return;
    const auto *sif = sif_of(_sin);
    if (sif->state != nullptr) sif->state(_sin, connected);
}

void vmc_channel::attach_client(vmc_channel_client &c) {
    _client = &c;
    ++_stats.clients;
    // The reference's order: PORT_INIT first, then the device learns it has
    // a client, then what the device holds goes out.
    if (_is_port)
        c.send(
            msg::port_init{.name = _port_name, .opened = _port_opened ? uint8_t{1} : uint8_t{0}});
    set_device_state(1);
    pump_to_device();
    pump_from_device();
}

void vmc_channel::drop_client(vmc_channel_client &c) {
    if (_client != &c) return;
    _client = nullptr;
    set_device_state(0);
}

task<void> vmc_channel::serve(std::shared_ptr<vmc_channel> self, std::unique_ptr<stream> s,
                              channel_link link, uint32_t session_id) {
    if (!self || !self->attached() || self->_server == nullptr) co_return; // device gone
    server *srv = self->_server;
    session *sess = srv->find_session(session_id);
    if (sess == nullptr) co_return;
    // One client per device: a new one replaces the old (whose session may
    // have been replaced by this one's).
    if (self->_client != nullptr) {
        vmc_channel_client &old = *self->_client;
        old.stop("replaced by a new client");
        self->drop_client(old);
    }
    auto observed = std::make_unique<observed_stream>(std::move(s));
    observed_stream *obs = observed.get();
    vmc_channel_client client(*self, std::move(observed), std::move(link));
    obs->set_listener(&client);
    client.set_stream(obs);
    sess->channels.push_back(&client);
    RS_LOG_INFO("spicevmc", "{} {}: client of session {:#x} connected{}",
                channel_type_name(self->_type), self->_id, session_id,
                client.lz4() ? " (LZ4)" : "");
    self->attach_client(client);
    event retry_done;
    spawn(vmc_channel_client::retry_loop(self, client, retry_done), "spicevmc write retry");
    co_await client.run();
    co_await retry_done.wait();
    self->drop_client(client);
    obs->set_listener(nullptr);
    if (session *still = srv->find_session(session_id)) std::erase(still->channels, &client);
}

void vmc_channel::client_wrote(vmc_channel_client &c) {
    if (_client == &c) pump_from_device();
}

void vmc_channel::pump_from_device() {
    // As the reference stops its char devices with the VM: the device is
    // neither read nor written while the VM is stopped (its state may be
    // migrating); spice_server_vm_start wakes every device again.
    if (!device_may_run()) return;
    if (_reading) {
        _read_again = true; // the outer loop reads once more
        return;
    }
    _reading = true;
    int nested = 0;
    while (_sin != nullptr && _client != nullptr && !_client->stopped() &&
           _client->queued() + vmc_read_chunk + message_overhead <= vmc_queue_cap) {
        _read_again = false;
        const auto *sif = sif_of(_sin);
        if (sif->read == nullptr) break;
        const int n = sif->read(_sin, _read_buf.data(), static_cast<int>(_read_buf.size()));
        if (n <= 0) {
            if (_read_again && ++nested < max_nested_retries) continue;
            break;
        }
        nested = 0;
        if (_client == nullptr || _client->stopped()) break; // gone during the read
        const auto data = std::span<const uint8_t>(_read_buf).first(
            std::min<size_t>(size_t(n), _read_buf.size()));
        _stats.bytes_from_device += data.size();
        _client->saw_guest_bytes(data);
        std::optional<std::vector<uint8_t>> packed;
        if (_client->lz4()) packed = vmc_compress(data);
        if (packed) {
            ++_stats.compressed_sent;
            _client->send(msg::spicevmc_compressed_data{
                .compression = SPICE_DATA_COMPRESSION_TYPE_LZ4,
                .uncompressed_size = static_cast<uint32_t>(data.size()),
                .data = *packed});
        } else {
            _client->send(msg::spicevmc_data{.data = data});
        }
        _stats.peak_to_client_queued = std::max(_stats.peak_to_client_queued, _client->queued());
    }
    _reading = false;
}

void vmc_channel::pump_to_device() {
    if (!device_may_run()) return;
    if (_writing) {
        _write_again = true;
        return;
    }
    _writing = true;
    int nested = 0;
    while (_sin != nullptr && !_to_device.empty()) {
        _write_again = false;
        const auto *sif = sif_of(_sin);
        if (sif->write == nullptr) break;
        const auto &front = _to_device.front();
        const size_t left = front.size() - _front_offset;
        const int n = sif->write(_sin, front.data() + _front_offset,
                                 static_cast<int>(std::min<size_t>(left, INT_MAX)));
        if (n <= 0) {
            if (_write_again && ++nested < max_nested_retries) continue;
            break;
        }
        nested = 0;
        if (_to_device.empty()) break; // detached during the write
        const size_t took = std::min<size_t>(size_t(n), left);
        _front_offset += took;
        _to_device_bytes -= took;
        _stats.bytes_to_device += took;
        if (_front_offset == _to_device.front().size()) {
            _to_device.pop_front();
            _front_offset = 0;
        }
    }
    _writing = false;
    if (_client != nullptr) {
        _client->room_available();
        if (!_to_device.empty() && _sin != nullptr && !notify_writable()) _client->want_retry();
    }
}

void vmc_channel::queue_for_device(std::vector<uint8_t> data) {
    if (_sin == nullptr || data.empty()) return;
    _to_device_bytes += data.size();
    _to_device.push_back(std::move(data));
    _stats.peak_to_device_queued = std::max(_stats.peak_to_device_queued, _to_device_bytes);
    pump_to_device();
}

void vmc_channel::device_event(uint8_t event) {
    if (_sin == nullptr) return;
    const auto *sif = sif_of(_sin);
    // The event callback exists from interface minor 2 on.
    if (sif->base.minor_version >= 2 && sif->event != nullptr) sif->event(_sin, event);
}

void vmc_channel::port_event(uint8_t event) {
    if (event == SPICE_PORT_EVENT_OPENED)
        _port_opened = true;
    else if (event == SPICE_PORT_EVENT_CLOSED)
        _port_opened = false;
    if (_client != nullptr) _client->send(msg::port_event{.event = event});
}

vmc_device::counters vmc_channel::stats() const {
    auto c = _stats;
    c.connected = _client != nullptr;
    c.port_opened = _port_opened;
    c.to_client_queued = _client != nullptr ? _client->queued() : 0;
    c.to_device_queued = _to_device_bytes;
    return c;
}

// ---- vmc_device -------------------------------------------------------------------

std::unique_ptr<vmc_device> vmc_device::create(server &srv, SpiceCharDeviceInstance *sin,
                                               char_device_kind kind) {
    return create(srv, sin, kind,
                  kind == char_device_kind::usbredir ? usb_policy::from_environment()
                                                     : std::nullopt);
}

std::unique_ptr<vmc_device> vmc_device::create(server &srv, SpiceCharDeviceInstance *sin,
                                               char_device_kind kind,
                                               std::optional<usb_policy> policy) {
    uint8_t type = 0;
    switch (kind) {
    case char_device_kind::usbredir:
        type = SPICE_CHANNEL_USBREDIR;
        break;
    case char_device_kind::port:
        type = SPICE_CHANNEL_PORT;
        break;
    case char_device_kind::webdav:
        type = SPICE_CHANNEL_WEBDAV;
        break;
    default:
        RS_LOG_WARN("spicevmc", "char device '{}' is not served by ringspice",
                    sin != nullptr && sin->subtype != nullptr ? sin->subtype : "?");
        return nullptr;
    }
    if (sin == nullptr || sin->base.sif == nullptr) return nullptr;
    // The lowest id of this type no registered channel uses (the reference's
    // reds_get_free_channel_id).
    std::array<bool, 256> used{};
    for (const auto &c : srv.channel_list())
        if (c.type == type) used[c.id] = true;
    const auto free_id = std::find(used.begin(), used.end(), false);
    if (free_id == used.end()) {
        RS_LOG_WARN("spicevmc", "no free {} channel id; char device '{}' not served",
                    channel_type_name(type), sin->subtype != nullptr ? sin->subtype : "?");
        return nullptr;
    }
    const auto id = static_cast<uint8_t>(free_id - used.begin());
    const bool is_port = kind == char_device_kind::port || kind == char_device_kind::webdav;
    if (kind != char_device_kind::usbredir) policy.reset();
    auto ch = std::make_shared<vmc_channel>(srv, sin, type, id, is_port, std::move(policy));
    ch->register_with_server();
    RS_LOG_INFO("spicevmc", "{} {} serves char device '{}'{}{}", channel_type_name(type), id,
                sin->subtype != nullptr ? sin->subtype : "",
                is_port && sin->portname != nullptr ? " " : "",
                is_port && sin->portname != nullptr ? sin->portname : "");
    return std::unique_ptr<vmc_device>(new vmc_device(std::move(ch)));
}

vmc_device::vmc_device(std::shared_ptr<vmc_channel> ch) noexcept
    : _channel(std::move(ch)) {}

vmc_device::~vmc_device() { _channel->detach(); }

void vmc_device::wakeup() {
    _channel->pump_to_device();
    _channel->pump_from_device();
}

void vmc_device::port_event(uint8_t event) { _channel->port_event(event); }

uint8_t vmc_device::channel_type() const noexcept { return _channel->type(); }
uint8_t vmc_device::channel_id() const noexcept { return _channel->id(); }
vmc_device::counters vmc_device::stats() const { return _channel->stats(); }

std::unique_ptr<char_device_handler> attach_spicevmc(server &srv, SpiceCharDeviceInstance *sin,
                                                     char_device_kind kind) {
    return vmc_device::create(srv, sin, kind);
}

} // namespace rs
