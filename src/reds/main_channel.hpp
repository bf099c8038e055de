// The main channel: session setup (INIT, NAME, UUID), the channel list,
// mouse-mode requests, multimedia time, and the agent's data path.
#pragma once

#include "reds/channel_client.hpp"

namespace rs {

class server;

/// One viewer's main channel. Owned by its session; lives on the control
/// shard. Its end ends the whole session.
class main_channel_client final : public channel_client {
  public:
    main_channel_client(server &srv, std::unique_ptr<stream> s, channel_link link);

    /// Pushes the current mouse mode (after a change server-side).
    void push_mouse_mode(uint32_t supported, uint32_t current);
    void push_multi_media_time(uint32_t mm_time);

  protected:
    void on_start() override;
    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override;

  private:
    server &_server;
    bool _agent_started = false;
    uint32_t _agent_tokens_from_client = 0;
};

} // namespace rs
