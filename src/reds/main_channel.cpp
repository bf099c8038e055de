#include "reds/main_channel.hpp"

#include <spice/enums.h>

#include <variant>

#include "reds/agent.hpp"
#include "reds/main_messages.hpp"
#include "reds/server.hpp"
#include "runtime/log.hpp"

namespace rs {

main_channel_client::main_channel_client(server &srv, std::unique_ptr<stream> s, channel_link link)
    : channel_client(std::move(s), std::move(link), /*handle_acks=*/false, channel_limits{})
    , _server(srv) {}

void main_channel_client::on_start() {
    const auto modes = _server.mouse_modes();
    send(msg::main_init{
        .session_id = link().connection_id,
        .display_channels_hint = _server.display_channels_hint(),
        .supported_mouse_modes = modes.supported,
        .current_mouse_mode = modes.current,
        .agent_connected = _server.agent_attached() ? 1u : 0u,
        .agent_tokens = server::agent_window_size,
        .multi_media_time = _server.multi_media_time() - server::mm_time_delta_ms,
        .ram_hint = _server.ram_hint(),
    });
    const auto &cfg = _server.config();
    if (link().channel_caps.has(SPICE_MAIN_CAP_NAME_AND_UUID)) {
        if (cfg.name()) send(msg::main_name{.name = *cfg.name()});
        if (cfg.uuid()) send(msg::main_uuid{.uuid = *cfg.uuid()});
    }
}

void main_channel_client::push_mouse_mode(uint32_t supported, uint32_t current) {
    send(msg::main_mouse_mode{.supported_modes = static_cast<uint16_t>(supported),
                              .current_mode = static_cast<uint16_t>(current)});
}

void main_channel_client::push_multi_media_time(uint32_t mm_time) {
    send(msg::main_multi_media_time{.time = mm_time});
}

void main_channel_client::push_agent_connected() {
    if (link().channel_caps.has(SPICE_MAIN_CAP_AGENT_CONNECTED_TOKENS))
        send(msg::main_agent_connected_tokens{.num_tokens = server::agent_window_size});
    else
        send(msg::main_agent_connected{});
}

void main_channel_client::push_agent_disconnected() {
    send(msg::main_agent_disconnected{.error_code = SPICE_LINK_ERR_OK});
}

void main_channel_client::push_agent_data(std::span<const uint8_t> piece) {
    send(msg::main_agent_data{.data = piece});
}

void main_channel_client::push_agent_tokens(uint32_t tokens) {
    send(msg::main_agent_token{.num_tokens = tokens});
}

task<result<void>> main_channel_client::handle_message(uint16_t type,
                                                       std::span<const uint8_t> body) {
    auto m = parse_main_client_message(type, body, extra_bytes::ignore);
    if (auto *e = std::get_if<parse_error>(&m)) {
        RS_LOG_RATELIMITED("main", "session {:#x}: bad message type {}: {}", link().connection_id,
                           type, e->reason);
        co_return errc::protocol;
    }
    if (std::holds_alternative<msgc::main_attach_channels>(m)) {
        const auto list = _server.channel_list();
        send(msg::main_channels_list{.channels = list});
    } else if (auto *req = std::get_if<msgc::main_mouse_mode_request>(&m)) {
        _server.request_mouse_mode(req->mode);
    } else if (std::holds_alternative<msgc::main_client_info>(m)) {
        // The client's cache size hint: the reference ignores it too.
    } else if (auto *start = std::get_if<msgc::main_agent_start>(&m)) {
        _agent_started = true;
        if (auto *agent = _server.agent()) agent->client_start(*this, start->num_tokens);
    } else if (auto *tok = std::get_if<msgc::main_agent_token>(&m)) {
        if (auto *agent = _server.agent()) agent->client_tokens(*this, tok->num_tokens);
    } else if (auto *data = std::get_if<msgc::main_agent_data>(&m)) {
        if (!_agent_started) {
            RS_LOG_RATELIMITED("main", "session {:#x}: agent data before AGENT_START; closing",
                               link().connection_id);
            co_return errc::protocol;
        }
        if (auto *agent = _server.agent()) {
            // The pipe logs why it refused the data.
            if (auto r = agent->client_data(*this, data->data); !r) co_return r.error();
        } else {
            // No vdagent device is attached: the data has nowhere to go, as
            // in the reference when the agent is absent.
            RS_LOG_DEBUG("main", "session {:#x}: agent data dropped: no agent attached",
                         link().connection_id);
        }
    } else if (std::holds_alternative<msgc::main_migrate_connected>(m) ||
               std::holds_alternative<msgc::main_migrate_connect_error>(m) ||
               std::holds_alternative<msgc::main_migrate_end>(m) ||
               std::holds_alternative<msgc::main_migrate_dst_do_seamless>(m) ||
               std::holds_alternative<msgc::main_migrate_connected_seamless>(m)) {
        RS_LOG_INFO("main",
                    "session {:#x}: migration message {} ignored: migration is not supported",
                    link().connection_id, type);
    } else {
        RS_LOG_DEBUG("main", "session {:#x}: message {} ignored", link().connection_id, type);
    }
    co_return result<void>{};
}

} // namespace rs
