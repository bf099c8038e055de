// The server's sound state: every playback and record channel, one per
// SpicePlaybackInstance / SpiceRecordInstance the VMM added.
#pragma once

#include <memory>
#include <vector>

#include "reds/server.hpp"
#include "sound/playback_channel.hpp"
#include "sound/record_channel.hpp"

namespace rs {

/// Owns the playback and record channels. Owned by the server (as its
/// sound_state), so the channels, and the buffers they lend the VMM,
/// outlive every client; lives on the control shard.
class sound_channels final : public channel_owner {
  public:
    /// The server's sound state, created on first use (the shim calls it
    /// when a playback or record instance is added). Control shard or
    /// before init.
    static sound_channels &ensure(server &srv);

    explicit sound_channels(server &srv)
        : _server(srv) {}

    /// A new channel, registered; ids count from 0 per type (QEMU adds one
    /// of each, so spice-gtk sees playback 0 and record 0).
    playback_channel &add_playback();
    record_channel &add_record();
    /// spice_server_set_playback_compression: connected clients switch mode.
    void update_playback_mode();
    /// LATENCY to every playback client that takes it.
    void set_playback_latency(uint32_t ms);

  private:
    server &_server;
    std::vector<std::unique_ptr<playback_channel>> _playbacks;
    std::vector<std::unique_ptr<record_channel>> _records;
};

} // namespace rs
