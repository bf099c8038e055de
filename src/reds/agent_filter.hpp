// The vdagent message filter: what the server lets through the agent pipe in
// each direction (clipboard and file transfer by setting, the client's
// MONITORS_CONFIG to the QXL devices), the agent's capability announcement
// rewritten to match, and the client's MONITORS_CONFIG reassembled and
// validated. Pure functions over bytes; no I/O, no server state.
#pragma once

#include <spice/vd_agent.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace rs {

/// What the server lets through the agent pipe. Plain data.
struct agent_filter_settings {
    bool copypaste = true; ///< spice_server_set_agent_copypaste
    bool file_xfer = true; ///< spice_server_set_agent_file_xfer
    /// Every QXL device takes the client's monitors config
    /// (QXLInterface.client_monitors_config): MONITORS_CONFIG goes there, not
    /// to the agent.
    bool client_monitors_config = false;
};

/// The fate of one piece of agent data.
enum class agent_verdict : uint8_t {
    forward,         ///< pass it on
    discard,         ///< drop it (a setting forbids it, or nobody listens)
    monitors_config, ///< a client MONITORS_CONFIG for the QXL devices
    protocol_error,  ///< not a well-formed VDAgentMessage stream
};

/// The VDAgentMessage header (20 bytes, little-endian). Plain data.
struct agent_message_header {
    static constexpr size_t wire_size = 20;
    uint32_t protocol = 0;
    uint32_t type = 0;
    uint64_t opaque = 0;
    uint32_t size = 0; ///< bytes of data after the header
};

/// The header at the start of `bytes`; nullopt when fewer than 20 bytes.
std::optional<agent_message_header> read_agent_header(std::span<const uint8_t> bytes) noexcept;
/// Appends a header to `out`.
void write_agent_header(std::vector<uint8_t> &out, const agent_message_header &h);

/// Follows the VDAgentMessage stream of one direction piece by piece, as the
/// reference's agent-msg-filter does: a piece is one client AGENT_DATA body
/// or one part (at most VD_AGENT_MAX_DATA_SIZE bytes) of an agent chunk. The
/// first piece of a message starts with its header and decides the verdict;
/// the pieces that complete the message share it. Plain data; owned by the
/// agent pipe on the control shard.
class agent_filter {
  public:
    static constexpr size_t max_piece_size = VD_AGENT_MAX_DATA_SIZE;

    explicit agent_filter(agent_filter_settings s = {}, bool discard_all = false) noexcept
        : _settings(s)
        , _discard_all(discard_all) {}

    /// The verdict for the next piece; protocol_error leaves the filter in
    /// an unknown position in the stream (reset it before reuse).
    agent_verdict process(std::span<const uint8_t> piece) noexcept;

    /// New settings for the messages that start from now on.
    void configure(agent_filter_settings s) noexcept { _settings = s; }
    const agent_filter_settings &settings() const noexcept { return _settings; }
    /// Discards every message from now on; the one in progress too when on.
    void set_discard_all(bool on) noexcept;
    bool discard_all() const noexcept { return _discard_all; }
    /// Forgets the message in progress and starts over.
    void reset(agent_filter_settings s, bool discard_all) noexcept;
    /// True between the first and last piece of a message.
    bool mid_message() const noexcept { return _remaining != 0; }
    /// Why the last protocol_error happened (a static string for the log).
    const char *error() const noexcept { return _error; }

  private:
    agent_filter_settings _settings;
    bool _discard_all = false;
    uint32_t _remaining = 0; // data bytes of the current message still to come
    agent_verdict _current = agent_verdict::forward;
    const char *_error = "";
};

/// Rewrites in place an agent's ANNOUNCE_CAPABILITIES message that starts
/// `piece` (header included): without copypaste the clipboard capabilities
/// are cleared, without file transfer FILE_XFER_DISABLED is set, as far as
/// the piece holds the caps words. Returns whether the agent announces
/// VD_AGENT_CAP_GRAPHICS_DEVICE_INFO, or nullopt when the piece does not
/// start a capabilities message.
std::optional<bool> rewrite_agent_capabilities(std::span<uint8_t> piece,
                                               const agent_filter_settings &s) noexcept;

/// Reassembles a client's MONITORS_CONFIG message (header included) from
/// the AGENT_DATA pieces the filter marked monitors_config, bounded as in
/// the reference (256 monitors), and validates it. Plain data; owned by the
/// agent pipe on the control shard.
class monitors_config_assembler {
  public:
    static constexpr uint32_t max_monitors = 256;
    /// The largest message data accepted: the config, every monitor, and
    /// every physical size.
    static constexpr size_t max_data_size =
        sizeof(VDAgentMonitorsConfig) +
        max_monitors * (sizeof(VDAgentMonConfig) + sizeof(VDAgentMonitorMM));

    enum class status : uint8_t { incomplete, complete, invalid };

    /// Adds a piece. complete: config() holds the result until the next
    /// append or reset. invalid: the message is refused (and forgotten).
    status append(std::span<const uint8_t> piece);
    /// The validated config in host byte order, flags masked to USE_POS and
    /// PHYSICAL_SIZE; the physical sizes follow the monitors when flagged.
    /// nullptr unless the last append was complete.
    VDAgentMonitorsConfig *config() noexcept;
    uint32_t num_monitors() const noexcept { return _num_monitors; }
    void reset() noexcept;

  private:
    std::vector<uint8_t> _raw;
    std::vector<uint8_t> _out;
    uint32_t _num_monitors = 0;
};

} // namespace rs
