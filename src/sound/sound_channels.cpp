#include "sound/sound_channels.hpp"

namespace rs {

sound_channels &sound_channels::ensure(server &srv) {
    // Only this function sets the server's sound state, so the cast holds.
    if (channel_owner *st = srv.sound_state()) return static_cast<sound_channels &>(*st);
    auto owned = std::make_unique<sound_channels>(srv);
    sound_channels *s = owned.get();
    srv.set_sound_state(std::move(owned));
    return *s;
}

playback_channel &sound_channels::add_playback() {
    const auto id = static_cast<uint8_t>(_playbacks.size());
    auto &ch = *_playbacks.emplace_back(std::make_unique<playback_channel>(_server, id));
    ch.register_with_server();
    return ch;
}

record_channel &sound_channels::add_record() {
    const auto id = static_cast<uint8_t>(_records.size());
    auto &ch = *_records.emplace_back(std::make_unique<record_channel>(_server, id));
    ch.register_with_server();
    return ch;
}

void sound_channels::update_playback_mode() {
    for (auto &p : _playbacks)
        p->update_mode();
}

void sound_channels::set_playback_latency(uint32_t ms) {
    for (auto &p : _playbacks)
        p->set_latency(ms);
}

} // namespace rs
