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
    // ---- agent (issue 8) ------------------------------------------------------
    /// AGENT_CONNECTED_TOKENS (a fresh window) when the client has the cap,
    /// else AGENT_CONNECTED.
    void push_agent_connected();
    void push_agent_disconnected();
    void push_agent_data(std::span<const uint8_t> piece);
    void push_agent_tokens(uint32_t tokens);
    /// Bytes queued for this client: the agent pipe stops reading the agent
    /// while a client is far behind.
    size_t backlog() const noexcept { return queued_bytes(); }

  protected:
    void on_start() override;
    task<result<void>> handle_message(uint16_t type, std::span<const uint8_t> body) override;

  private:
    server &_server;
    bool _agent_started = false;
};

} // namespace rs
