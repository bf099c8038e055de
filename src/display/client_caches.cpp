#include "display/client_caches.hpp"

#include <spice/enums.h>

#include <algorithm>

namespace rs {

bool client_caches::join(uint8_t id, member &m, const msgc::display_init &init) {
    if (id >= max_channels) return false;
    if (!_have_init) {
        _have_init = true;
        _init = init;
        pixmaps.reset(std::max<int64_t>(init.pixmap_cache_size, 0));
        if (init.glz_dictionary_window_size > 0)
            _glz = std::make_unique<glz::glz_dictionary>(
                static_cast<uint32_t>(init.glz_dictionary_window_size));
    } else if (init.pixmap_cache_id != _init.pixmap_cache_id ||
               init.glz_dictionary_id != _init.glz_dictionary_id) {
        return false;
    }
    _members[id] = &m;
    return true;
}

void client_caches::leave(uint8_t id, const member &m) {
    if (id >= max_channels || _members[id] != &m) return;
    // GLZ images it queued but never sent leave a gap in the client's
    // window, which then never frees what follows: GLZ ends for the client.
    const uint64_t sent = m.sent_serial();
    for (const auto &g : _glz_images)
        if (g.owner == id && (g.serial == 0 || g.serial > sent)) _glz_lost = true;
    _members[id] = nullptr;
}

size_t client_caches::members() const noexcept {
    return static_cast<size_t>(std::count_if(_members.begin(), _members.end(),
                                             [](const member *m) { return m != nullptr; }));
}

bool client_caches::usable(uint8_t c, uint8_t owner, uint64_t added_in) const noexcept {
    if (owner == c) return true;
    if (owner >= max_channels || _members[owner] == nullptr) return false;
    return added_in != 0 && added_in <= _members[owner]->sent_serial();
}

void client_caches::glz_added(uint8_t c, uint64_t glz_id) {
    _glz_images.push_back(glz_image{glz_id, c, 0});
    prune_glz();
}

void client_caches::stamp_glz(uint8_t c, uint64_t serial) {
    for (auto it = _glz_images.rbegin(); it != _glz_images.rend(); ++it)
        if (it->owner == c && it->serial == 0) it->serial = serial;
}

void client_caches::prune_glz() {
    if (!_glz) return;
    const uint64_t oldest = _glz->next_id() - _glz->images();
    const auto keep = std::find_if(_glz_images.begin(), _glz_images.end(),
                                   [oldest](const glz_image &g) { return g.id >= oldest; });
    _glz_images.erase(_glz_images.begin(), keep);
}

const std::vector<uint64_t> &client_caches::glz_excluded(uint8_t c) {
    prune_glz();
    _excluded.clear();
    for (const auto &g : _glz_images)
        if (!usable(c, g.owner, g.serial)) _excluded.push_back(g.id);
    return _excluded;
}

std::vector<msg::channel_wait>
client_caches::waits_for(uint8_t c, const std::vector<image_cache::evicted_entry> &evicted) const {
    std::vector<msg::channel_wait> out;
    for (size_t m = 0; m < max_channels; ++m) {
        if (m == c || _members[m] == nullptr) continue;
        uint64_t serial = 0;
        for (const auto &e : evicted)
            serial = std::max(serial, e.used_by[m]);
        if (serial != 0)
            out.push_back(msg::channel_wait{.channel_type = SPICE_CHANNEL_DISPLAY,
                                            .channel_id = static_cast<uint8_t>(m),
                                            .message_serial = serial});
    }
    return out;
}

std::vector<msg::channel_wait> client_caches::waits_for_all(uint8_t c) const {
    std::vector<msg::channel_wait> out;
    for (size_t m = 0; m < max_channels; ++m) {
        if (m == c || _members[m] == nullptr || _members[m]->queued_serial() == 0) continue;
        out.push_back(msg::channel_wait{.channel_type = SPICE_CHANNEL_DISPLAY,
                                        .channel_id = static_cast<uint8_t>(m),
                                        .message_serial = _members[m]->queued_serial()});
    }
    return out;
}

void client_caches::reset_after_drop(uint8_t c) {
    pixmaps.reset(pixmaps.capacity());
    palettes.reset(palettes.capacity());
    const member *m = c < max_channels ? _members[c] : nullptr;
    const uint64_t sent = m != nullptr ? m->sent_serial() : 0;
    for (const auto &g : _glz_images)
        if (g.owner == c && (g.serial == 0 || g.serial > sent)) _glz_lost = true;
}

void client_caches::note_reset(uint8_t c, uint64_t serial) noexcept {
    ++_resets;
    _reset_by = c;
    _reset_serial = serial;
}

void client_caches::sync_wait(uint8_t c, uint64_t &seen,
                              std::vector<msg::channel_wait> &out) const {
    if (seen == _resets) return;
    seen = _resets;
    if (_reset_by == c || _reset_by >= max_channels || _members[_reset_by] == nullptr) return;
    out.push_back(msg::channel_wait{.channel_type = SPICE_CHANNEL_DISPLAY,
                                    .channel_id = _reset_by,
                                    .message_serial = _reset_serial});
}

std::shared_ptr<client_caches> display_group::caches_for(uint32_t connection_id) {
    auto &weak = _sessions[connection_id];
    auto caches = weak.lock();
    if (!caches) {
        caches = std::make_shared<client_caches>();
        weak = caches;
    }
    // Sessions that ended leave expired entries; sweep them now and then.
    if (_sessions.size() > 16)
        std::erase_if(_sessions, [](const auto &kv) { return kv.second.expired(); });
    return caches;
}

} // namespace rs
