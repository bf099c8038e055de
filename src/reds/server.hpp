// The SPICE server ("reds"): configuration, the VMM's instances, listeners,
// the link handshake, sessions and the registry of channels.
#pragma once

#include <spice.h>
#include <spice/vd_agent.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "reds/channel_client.hpp"
#include "reds/interfaces.hpp"
#include "reds/main_messages.hpp"
#include "reds/server_config.hpp"
#include "reds/ticket.hpp"
#include "runtime/cross_shard.hpp"
#include "runtime/shard.hpp"
#include "runtime/socket.hpp"
#include "runtime/sync.hpp"

namespace rs {

class main_channel_client;
class tls_context;
class agent_pipe; // agent (issue 8)

/// One viewer: its main channel and the other channels it linked with the
/// session's connection id. Owned by the server; lives on the control shard.
struct session {
    uint32_t id = 0;
    main_channel_client *main = nullptr;
    std::vector<channel_client *> channels;
    /// How to stop this session's channels that live on other shards
    /// (display, cursor): each posts to its shard. Called on the control
    /// shard when the session ends.
    std::vector<std::function<void()>> stop_hooks;
};

/// A channel other than main that clients may link to. `serve` takes over
/// a linked stream (it may hand it to another shard) and returns when the
/// channel client has ended. Registered on the control shard.
struct channel_service {
    uint8_t type = 0;
    uint8_t id = 0;
    caps channel_caps; ///< what the server advertises in the link reply
    std::function<task<void>(std::unique_ptr<stream>, channel_link, session &)> serve;
};

// ---- inputs channel (issue 5) ------------------------------------------------
/// Server-wide state of a channel implemented in a component above reds
/// (src/input), which rs_reds cannot name. The server owns it so that it
/// outlives every client of the channel. Control shard.
struct channel_owner {
    virtual ~channel_owner() = default;
};
// ---- end inputs channel ------------------------------------------------------

/// The server. Created by spice_server_new on the VMM's thread. After init
/// everything here lives on the control shard: host-driven on the VMM's
/// loop thread when the VMM gave a core interface, else on a thread of its
/// own (tests, tools). Public methods marked "control shard" must be called
/// there; the shim routes calls with on_control().
class server {
  public:
    static constexpr uint32_t agent_window_size = 10; ///< REDS_AGENT_WINDOW_SIZE
    static constexpr uint32_t mm_time_delta_ms = 400; ///< MM_TIME_DELTA
    /// A client that has not finished the link handshake by then is dropped.
    static constexpr std::chrono::seconds default_link_timeout{10};
    /// Tests shorten it to exercise stalls quickly; set before init.
    void set_link_timeout(std::chrono::milliseconds t) noexcept { _link_timeout = t; }
    /// Connections being linked at once; more are closed at accept.
    static constexpr size_t max_pending_links = 256;
    // ---- connection limit (issue 9) ----------------------------------------
    /// Live connections (linking or linked, every channel) per server; more
    /// are closed at accept with a rate-limited log line.
    static constexpr size_t max_connections = 1024;
    /// Tests lower it to exercise the limit with a few sockets; set before init.
    void set_max_connections(size_t n) noexcept { _max_connections = n; }
    /// Control shard.
    size_t live_connections() const noexcept { return _live_connections; }
    // ---- end connection limit ----------------------------------------------

    server();
    ~server();
    server(const server &) = delete;
    server &operator=(const server &) = delete;

    server_config &config() noexcept { return _config; }
    const server_config &config() const noexcept { return _config; }
    interface_registry &interfaces() noexcept { return _interfaces; }
    const interface_registry &interfaces() const noexcept { return _interfaces; }

    /// Binds the listeners and starts serving. `core` is the VMM's event
    /// loop (host-driven control shard, VMM callbacks on its thread), or
    /// nullptr for a control shard on its own thread. 0 or -1, as
    /// spice_server_init.
    int init(const SpiceCoreInterface *core);
    bool initialized() const noexcept { return _control != nullptr; }
    shard &control() noexcept { return *_control; }
    /// Stops listeners and sessions, waits for them (bounded) and tears the
    /// control shard down. Idempotent; called by the destructor.
    void shutdown();

    /// Runs `f` on the control shard: inline when already there, else as a
    /// blocking call (never from a thread the control shard's loop waits on).
    template <typename F> auto on_control(F f) {
        if (_control == nullptr) return f();
        if (_control->on_owner_thread()) {
            // Host-driven, from the VMM's loop thread between two polls:
            // what `f` made runnable (a send, a wake-up) waits for the next
            // poll, so make the ring readable for the host loop to call one.
            // The thread may drive other servers' shards too: this one is
            // current while `f` runs.
            const shard::entered here(*_control);
            if constexpr (std::is_void_v<decltype(f())>) {
                f();
                wake_host_loop();
                return;
            } else {
                auto r = f();
                wake_host_loop();
                return r;
            }
        }
        return call_sync(*_control, std::move(f));
    }
    /// Host-driven mode: makes the control ring readable so the VMM's loop
    /// polls it soon. Control shard.
    void wake_host_loop() {
        if (_host_shard) _host_shard->post([] {});
    }

    // ---- control shard ----------------------------------------------------
    /// spice_server_add_client / add_ssl_client: serve a socket the VMM accepted.
    int add_client(int fd, bool tls, bool skip_auth);
    void register_channel(channel_service svc);
    void unregister_channel(uint8_t type, uint8_t id);
    std::vector<msg::channel_id> channel_list() const;
    size_t num_clients() const noexcept { return _sessions.size(); }
    void disconnect_all();

    struct mouse_mode_state {
        uint32_t supported = SPICE_MOUSE_MODE_SERVER;
        uint32_t current = SPICE_MOUSE_MODE_SERVER;
    };
    mouse_mode_state mouse_modes() const noexcept;
    void request_mouse_mode(uint32_t mode);
    /// Re-evaluates which modes are allowed (a tablet or agent came or went).
    void update_mouse_mode();
    /// Any thread: the VMM asks from its own threads and must never wait.
    bool is_server_mouse() const noexcept { return _mouse_mode == SPICE_MOUSE_MODE_SERVER; }
    // ---- inputs channel (issue 5) ------------------------------------------
    /// reds_update_client_mouse_allowed: the display side reports whether its
    /// primary surface allows client mouse (hardware cursor) and its size.
    /// Client mode needs it, as in the reference; the tablet learns the size.
    void set_client_mouse_allowed(bool allowed, int x_res, int y_res);
    /// Tells a registered tablet the monitor size when client mouse is
    /// allowed (after a tablet or the display size arrived).
    void push_tablet_logical_size();
    /// The live session with this id, or nullptr.
    session *find_session(uint32_t id) noexcept;
    channel_owner *inputs_state() noexcept { return _inputs.get(); }
    void set_inputs_state(std::unique_ptr<channel_owner> st) { _inputs = std::move(st); }
    // ---- end inputs channel ------------------------------------------------
    // ---- sound (issue 8): the playback and record channels, owned like inputs
    channel_owner *sound_state() noexcept { return _sound.get(); }
    void set_sound_state(std::unique_ptr<channel_owner> st) { _sound = std::move(st); }
    // ---- end sound ---------------------------------------------------------
    // ---- agent (issue 8): the vdagent pipe, owned by the shim's device state
    /// The pipe serving the vdagent device, or nullptr; the pipe registers
    /// and unregisters itself.
    agent_pipe *agent() noexcept { return _agent; }
    void set_agent(agent_pipe *a) noexcept { _agent = a; }
    /// A vdagent device is served and its link is up (INIT's agent_connected).
    bool agent_attached() const noexcept;
    /// The main channel of every live session.
    std::vector<main_channel_client *> main_clients() const;
    /// Client-mode mouse state for the agent (from the inputs channel).
    void agent_mouse_state(const VDAgentMouseState &state);
    /// What spice_qxl_set_device_info said about one QXL instance: its
    /// monitors map to device displays first_display_id.. of `address`.
    /// Plain data; the server keeps the list on the control shard.
    struct qxl_device_info {
        int qxl_id = 0;
        std::string address;
        uint32_t first_display_id = 0;
        uint32_t count = 0;
    };
    /// Records (replaces) a QXL instance's device info and tells the agent.
    void set_qxl_device_info(qxl_device_info info);
    const std::vector<qxl_device_info> &qxl_device_infos() const noexcept { return _device_infos; }
    // ---- end agent ---------------------------------------------------------
    uint32_t display_channels_hint() const noexcept;
    uint32_t multi_media_time() const noexcept;
    uint32_t ram_hint() const noexcept { return _ram_hint; }
    /// spice_server_vm_start/stop: QXL workers fetch commands only while running.
    bool vm_running() const noexcept { return _vm_running; }
    /// Also resumes the agent pipe, which touches its device only while the
    /// VM runs (as the reference's char devices). Control shard.
    void set_vm_running(bool running);
    void set_ram_hint(uint32_t bytes) noexcept { _ram_hint = bytes; }

    /// The ports actually bound (port 0 in the config binds an ephemeral one).
    int bound_port() const noexcept { return _bound_port; }
    int bound_tls_port() const noexcept { return _bound_tls_port; }

  private:
    struct connection_record;
    int start_listeners();
    task<void> accept_loop(fd_handle listen_fd, bool tls, std::stop_token st);
    task<void> serve_connection(fd_handle fd, bool tls, bool skip_auth);
    task<void> run_main(std::unique_ptr<main_channel_client> mcc);
    void channel_event(int event, connection_record &rec);
    uint32_t new_session_id();
    task<void> drain();

    server_config _config;
    interface_registry _interfaces;
    const SpiceCoreInterface *_core = nullptr;
    SpiceWatch *_watch = nullptr;
    std::unique_ptr<shard> _host_shard;       // host-driven mode
    std::unique_ptr<shard_thread> _own_shard; // standalone mode
    shard *_control = nullptr;
    std::shared_ptr<tls_context> _tls;
    std::stop_source _stop;
    gate _work; // listeners and connections
    size_t _pending_links = 0;
    size_t _live_connections = 0;              // connection limit (issue 9)
    size_t _max_connections = max_connections; // connection limit (issue 9)
    std::unordered_map<uint32_t, std::unique_ptr<session>> _sessions;
    std::vector<channel_service> _channels;
    // The RSA key of links that need no ticket, generated at the first one.
    // A ticket is only checked against a key of its own link (replay), so
    // only links without authentication share it: 10-30 ms of CPU saved
    // per channel link.
    std::optional<ticket_key> _noauth_key;
    std::atomic<uint32_t> _mouse_mode{SPICE_MOUSE_MODE_SERVER}; // read by is_server_mouse
    // inputs channel (issue 5): the reference's mouse-mode inputs
    bool _display_allows_client_mouse = false;
    bool _client_mouse_allowed = false; // as last pushed to the clients
    int _monitor_x_res = 0;
    int _monitor_y_res = 0;
    uint32_t _ram_hint = 0;
    bool _vm_running = false;
    int _bound_port = -1;
    int _bound_tls_port = -1;
    std::chrono::milliseconds _link_timeout{default_link_timeout};
    std::vector<fd_handle> _listeners_plain;
    std::vector<fd_handle> _listeners_tls;
    agent_pipe *_agent = nullptr;               // agent (issue 8)
    std::vector<qxl_device_info> _device_infos; // agent (issue 8)
    std::unique_ptr<channel_owner> _inputs;     // inputs channel (issue 5); last: destroyed first
    std::unique_ptr<channel_owner> _sound;      // sound (issue 8); destroyed before inputs
};

} // namespace rs
