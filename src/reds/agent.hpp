// The vdagent char device: the agent pipe of the main channel. Bytes from
// the guest agent (VDIChunkHeader + VDAgentMessage pieces) go to the main
// channel clients as AGENT_DATA under the tokens each client granted; the
// clients' AGENT_DATA goes to the device under the tokens the server granted
// (INIT / AGENT_CONNECTED_TOKENS, then AGENT_TOKEN as the device consumes).
// Both directions pass the agent filter (reds/agent_filter.hpp).
#pragma once

#include <spice.h>
#include <spice/vd_agent.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <stop_token>
#include <vector>

#include "reds/agent_filter.hpp"
#include "reds/char_device.hpp"
#include "runtime/result.hpp"
#include "runtime/task.hpp"

namespace rs {

class server;
class main_channel_client;

/// Serves the "vdagent" char device for one server: reads and writes it
/// through its SpiceCharDeviceInterface, filters, and carries its data to
/// and from the main channel clients. Owned by the instance's shim state
/// (see char_device.hpp) and registered with the server while it lives; on
/// the control shard, where every call below must be made.
class agent_pipe final : public char_device_handler {
  public:
    /// Tokens the server grants a client for AGENT_DATA to the agent
    /// (REDS_AGENT_WINDOW_SIZE, as MAIN_INIT and AGENT_CONNECTED_TOKENS say).
    static constexpr uint32_t client_window = 10;
    /// Consumed client messages are returned as one AGENT_TOKEN this many at
    /// a time (REDS_TOKENS_TO_SEND).
    static constexpr uint32_t tokens_interval = 5;
    /// Bytes queued for the device at most: every client's window of
    /// chunks plus the server's own messages. Tokens keep clients below it;
    /// it is the backstop.
    static constexpr size_t max_write_queue_bytes = 256 * 1024;
    /// The agent is not read while a client's main channel has this many
    /// bytes queued: a slow client slows the agent down instead of growing
    /// its queue (spice-gtk grants ~0 tokens).
    static constexpr size_t max_client_backlog = 256 * 1024;
    /// While the device refuses bytes or a client is backlogged, the pipe
    /// retries this often (CHAR_DEVICE_WRITE_TO_TIMEOUT); idle otherwise.
    static constexpr std::chrono::milliseconds retry_interval{100};
    /// spice_qxl_set_device_info limits (MAX_DEVICE_ADDRESS_LEN, MAX_MONITORS_COUNT).
    static constexpr size_t max_device_address_len = 256;
    static constexpr uint32_t max_device_displays = 16;

    agent_pipe(server &srv, SpiceCharDeviceInstance *sin);
    ~agent_pipe() override;
    agent_pipe(const agent_pipe &) = delete;
    agent_pipe &operator=(const agent_pipe &) = delete;

    /// spice_server_char_device_wakeup: write what is queued, then read.
    void wakeup() override;
    /// False after the agent broke the protocol (the link is reset and the
    /// device ignored until the VMM adds it again, as in the reference).
    bool attached() const noexcept { return _attached; }

    // ---- from the main channel -----------------------------------------
    /// AGENT_START: the client takes `tokens` AGENT_DATA messages.
    void client_start(main_channel_client &mcc, uint32_t tokens);
    /// AGENT_TOKEN: `tokens` more.
    void client_tokens(main_channel_client &mcc, uint32_t tokens);
    /// AGENT_DATA. An error (malformed, beyond the tokens, a bad monitors
    /// config) ends the client's main channel; the reason is logged here.
    result<void> client_data(main_channel_client &mcc, std::span<const uint8_t> data);
    /// A main channel ended; `last` when no session is left, which tells
    /// the agent VD_AGENT_CLIENT_DISCONNECTED.
    void client_gone(main_channel_client &mcc, bool last);

    // ---- from the server's own components -------------------------------
    /// VD_AGENT_MOUSE_STATE (client mouse mode, agent mouse on); a state
    /// not yet written to the device is replaced by the newer one.
    void mouse_state(const VDAgentMouseState &state);
    /// The QXL device info changed: VD_AGENT_GRAPHICS_DEVICE_INFO when the
    /// agent announced the capability.
    void device_info_changed();

    /// Bytes queued for the device (tests, diagnostics).
    size_t write_queue_bytes() const noexcept { return _write_bytes; }

  private:
    struct client_state {
        main_channel_client *mcc = nullptr;
        uint64_t send_tokens = 0; // AGENT_DATA the client will still take
        uint32_t recv_tokens = 0; // AGENT_DATA the client may still send
        uint32_t freed = 0;       // consumed, not yet returned by AGENT_TOKEN
    };
    enum class item_kind : uint8_t { client_data, mouse_state, device_info, server_message };
    struct write_item {
        item_kind kind = item_kind::server_message;
        main_channel_client *owner = nullptr; // client_data: whose token it holds
        std::vector<uint8_t> bytes;           // VDIChunkHeader + data
        size_t written = 0;
    };
    enum class read_stage : uint8_t { chunk_header, chunk_data };

    static task<void> retry_after(std::shared_ptr<agent_pipe *> alive,
                                  std::chrono::milliseconds delay, std::stop_token st);
    void pump();
    void write_to_device();
    void read_from_device();
    bool can_read() const;
    void dispatch_piece();
    void deliver_monitors_config();
    void forward_to_clients(std::span<const uint8_t> piece);
    void queue_server_message(item_kind kind, uint32_t type, std::span<const uint8_t> data);
    void return_token(main_channel_client *owner);
    void detach(const char *why);
    void arm_retry();
    client_state *find(main_channel_client &mcc);
    agent_filter_settings settings() const;
    bool use_client_monitors_config() const;

    server &_server;
    SpiceCharDeviceInstance *_sin;
    const SpiceCharDeviceInterface *_sif;
    bool _attached = true;
    bool _in_pump = false;
    bool _pump_again = false;
    bool _supports_device_info = false;
    std::vector<client_state> _clients; // those that sent AGENT_START
    // device -> clients
    agent_filter _read_filter;
    read_stage _stage = read_stage::chunk_header;
    uint8_t _chunk_header[8] = {};
    size_t _header_have = 0;
    uint32_t _chunk_port = 0;
    uint32_t _chunk_left = 0; // chunk bytes not yet read into a piece
    std::array<uint8_t, VD_AGENT_MAX_DATA_SIZE> _piece{};
    size_t _piece_have = 0;
    size_t _piece_want = 0;
    bool _blocked_by_backlog = false;
    bool _use_qxl_monitors = false; // every QXL takes client monitors configs
    // clients -> device
    agent_filter _write_filter;
    monitors_config_assembler _monitors;
    std::deque<write_item> _writes;
    size_t _write_bytes = 0;
    // the retry timer: armed only while something waits
    std::shared_ptr<agent_pipe *> _alive;
    std::stop_source _retry_stop;
    bool _retry_armed = false;
};

/// Starts serving the "vdagent" char device `sin` for `srv`'s main channel.
/// nullptr (logged) when it cannot be served. Control shard.
std::unique_ptr<char_device_handler> attach_agent(server &srv, SpiceCharDeviceInstance *sin);

} // namespace rs
