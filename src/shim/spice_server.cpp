// libspice-server.so.1: the C ABI of Debian's <spice.h> over rs::server.
// Each function validates its arguments, then routes to the control shard
// (on_control) or answers from configuration. Features that land later
// either store their setting and succeed, or return the documented error
// with a log line; nothing aborts the VMM.
#include <spice.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>   // sound (issue 8)
#include <vector> // sound (issue 8)

#include "display/display_shards.hpp"
#include "display/qxl_channels.hpp"
#include "input/inputs_channel.hpp"
#include "reds/agent.hpp" // agent (issue 8)
#include "reds/server.hpp"
#include "runtime/log.hpp"
#include "shim/shim_state.hpp"
#include "sound/sound_channels.hpp" // sound (issue 8)
#include "usbredir/spicevmc.hpp"    // spicevmc (issue 8)

// ---- inputs (issue 5) ---------------------------------------------------------
/// The state behind SpiceKbdInstance::st: the LED state the VMM pushed and
/// the inputs channel that forwards it. Created on the control shard when
/// the keyboard is added; never freed, as the keyboard is never removed.
struct SpiceKbdState {
    int leds = 0;
    rs::inputs_channel *inputs = nullptr;
};

/// The state behind SpiceTabletInstance::st: which server the tablet belongs
/// to, so spice_server_remove_interface can find it (as the reference does).
struct SpiceTabletState {
    RedsState *reds = nullptr;
};
// ---- end inputs ---------------------------------------------------------------

// ---- sound (issue 8) ------------------------------------------------------------
/// The state behind SpicePlaybackInstance::st: the server and the instance's
/// channel, which the server's sound state owns. Set at add_interface.
struct SpicePlaybackState {
    RedsState *reds = nullptr;
    rs::playback_channel *channel = nullptr;
};
/// The state behind SpiceRecordInstance::st, as SpicePlaybackState.
struct SpiceRecordState {
    RedsState *reds = nullptr;
    rs::record_channel *channel = nullptr;
};

// ---- char devices (issue 8) -----------------------------------------------------
/// The state behind SpiceCharDeviceInstance::st: the server and what serves
/// the device (agent or spicevmc). Created at add_interface; the handler is
/// destroyed on the control shard at remove_interface.
struct SpiceCharDeviceState {
    RedsState *reds = nullptr;
    std::unique_ptr<rs::char_device_handler> handler;
};

namespace {

template <typename T> T *self_or_null(T *p, const char *fn) {
    if (p == nullptr) RS_LOG_WARN("shim", "{} called with a null server", fn);
    return p;
}

int64_t monotonic_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace

namespace rs::shim {
void not_supported(const char *fn) {
    RS_LOG_RATELIMITED("shim", "{}: not supported by ringspice yet", fn);
}
} // namespace rs::shim

using rs::shim::not_supported;

extern "C" {

// ---- server lifetime --------------------------------------------------------

SpiceServer *spice_server_new(void) { return new RedsState(); }

int spice_server_init(SpiceServer *s, SpiceCoreInterface *core) {
    if (self_or_null(s, __func__) == nullptr || core == nullptr) return -1;
    return s->srv.init(core);
}

void spice_server_destroy(SpiceServer *s) {
    if (s == nullptr) return;
    // QXL devices the VMM did not remove: their workers and clients stop
    // and their state goes with the server (from this VMM thread, as
    // remove_interface does it).
    const std::vector<QXLInstance *> qxls =
        s->srv.on_control([s] { return s->srv.interfaces().qxls(); });
    for (QXLInstance *qxl : qxls) {
        QXLState *st = qxl->st;
        if (st == nullptr || st->reds != s) continue;
        s->srv.on_control([s, qxl] { rs::unregister_qxl_channels(s->srv, qxl->id); });
        st->device->shutdown();
        rs::display_shards::instance().release(*st->home);
        delete st;
        qxl->st = nullptr;
    }
    // Char devices the VMM did not remove first: their handlers use the
    // server, so they end now; the instances stay the VMM's, and a later
    // remove_interface finds them detached.
    s->srv.on_control([s] {
        // The per-instance states the server made and the VMM cannot remove
        // (a keyboard) or may not have (a tablet, sound cards).
        const auto &ifs = s->srv.interfaces();
        if (SpiceKbdInstance *k = ifs.keyboard(); k != nullptr) {
            delete k->st;
            k->st = nullptr;
        }
        if (SpiceTabletInstance *t = ifs.tablet(); t != nullptr) {
            delete t->st;
            t->st = nullptr;
        }
        for (SpicePlaybackInstance *p : ifs.playbacks()) {
            delete p->st;
            p->st = nullptr;
        }
        for (SpiceRecordInstance *r : ifs.records()) {
            delete r->st;
            r->st = nullptr;
        }
        for (const auto &e : s->srv.interfaces().char_devices())
            if (SpiceCharDeviceState *st = e.instance->st; st != nullptr && st->reds == s) {
                st->handler.reset();
                st->reds = nullptr;
            }
    });
    delete s;
}

int spice_server_set_compat_version(SpiceServer *s, spice_compat_version_t version) {
    return s != nullptr ? s->srv.config().set_compat_version(version) : -1;
}

spice_compat_version_t spice_get_current_compat_version(void) {
    return SPICE_COMPAT_VERSION_CURRENT;
}

// ---- interfaces -------------------------------------------------------------

int spice_server_add_interface(SpiceServer *s, SpiceBaseInstance *sin) {
    if (self_or_null(s, __func__) == nullptr) return -1;
    return s->srv.on_control([s, sin] {
        const int rc = s->srv.interfaces().add_interface(sin);
        if (rc != 0 || sin == nullptr || sin->sif == nullptr) return rc;
        const std::string_view type = sin->sif->type;
        if (type == SPICE_INTERFACE_QXL) {
            auto *qxl = reinterpret_cast<QXLInstance *>(sin);
            // The server's devices share one display shard: a client's
            // display channels share its caches there.
            rs::shard *with = nullptr;
            for (QXLInstance *other : s->srv.interfaces().qxls())
                if (other != qxl && other->st != nullptr && other->st->reds == s)
                    with = other->st->home;
            if (with == nullptr || !s->displays)
                s->displays = std::make_shared<rs::display_group>();
            auto &home = rs::display_shards::instance().acquire(with);
            auto *st =
                new QXLState{.reds = s,
                             .device = std::make_shared<rs::qxl_device>(qxl, home, s->displays),
                             .home = &home};
            qxl->st = st;
            s->srv.set_ram_hint(static_cast<uint32_t>(st->device->init_info().qxl_ram_size));
            rs::register_qxl_channels(s->srv, st->device);
            if (s->srv.vm_running()) st->device->post([](rs::qxl_device &d) { d.start(); });
            s->srv.update_mouse_mode();
        } else if (type == SPICE_INTERFACE_KEYBOARD) { // inputs (issue 5)
            auto &inputs = rs::inputs_channel::ensure(s->srv);
            reinterpret_cast<SpiceKbdInstance *>(sin)->st =
                new SpiceKbdState{.leds = 0, .inputs = &inputs};
        } else if (type == SPICE_INTERFACE_MOUSE) { // inputs (issue 5)
            rs::inputs_channel::ensure(s->srv);
        } else if (type == SPICE_INTERFACE_TABLET) { // inputs (issue 5)
            rs::inputs_channel::ensure(s->srv);
            reinterpret_cast<SpiceTabletInstance *>(sin)->st = new SpiceTabletState{.reds = s};
            s->srv.update_mouse_mode();
            s->srv.push_tablet_logical_size();
        } else if (type == SPICE_INTERFACE_PLAYBACK) { // sound (issue 8)
            auto &snd = rs::sound_channels::ensure(s->srv);
            reinterpret_cast<SpicePlaybackInstance *>(sin)->st =
                new SpicePlaybackState{.reds = s, .channel = &snd.add_playback()};
        } else if (type == SPICE_INTERFACE_RECORD) { // sound (issue 8)
            auto &snd = rs::sound_channels::ensure(s->srv);
            reinterpret_cast<SpiceRecordInstance *>(sin)->st =
                new SpiceRecordState{.reds = s, .channel = &snd.add_record()};
        } else if (type == SPICE_INTERFACE_CHAR_DEVICE) { // agent, spicevmc (issue 8)
            auto *dev = reinterpret_cast<SpiceCharDeviceInstance *>(sin);
            const auto &devs = s->srv.interfaces().char_devices();
            const auto it = std::find_if(devs.begin(), devs.end(),
                                         [dev](const auto &e) { return e.instance == dev; });
            if (it == devs.end()) return rc; // refused (logged) by the registry
            auto *st = new SpiceCharDeviceState{.reds = s, .handler = nullptr};
            st->handler = it->kind == rs::char_device_kind::vdagent
                              ? rs::attach_agent(s->srv, dev)
                              : rs::attach_spicevmc(s->srv, dev, it->kind);
            dev->st = st;
        }
        return rc;
    });
}

int spice_server_remove_interface(SpiceBaseInstance *sin) {
    // The reference finds the server through the instance's state; we do
    // the same for the kinds that carry one.
    if (sin == nullptr || sin->sif == nullptr) return -1;
    const std::string_view type = sin->sif->type;
    if (type == SPICE_INTERFACE_TABLET) { // inputs (issue 5)
        auto *tablet = reinterpret_cast<SpiceTabletInstance *>(sin);
        SpiceTabletState *st = tablet->st;
        if (st == nullptr || st->reds == nullptr) return -1;
        RedsState *s = st->reds;
        const int rc = s->srv.on_control([s, sin] {
            const int r = s->srv.interfaces().remove_interface(sin);
            if (r == 0) s->srv.update_mouse_mode(); // client mode may end
            return r;
        });
        if (rc == 0) {
            delete st;
            tablet->st = nullptr;
        }
        return rc;
    }
    if (type == SPICE_INTERFACE_CHAR_DEVICE) { // agent, spicevmc (issue 8)
        auto *dev = reinterpret_cast<SpiceCharDeviceInstance *>(sin);
        SpiceCharDeviceState *st = dev->st;
        if (st == nullptr) return -1;
        if (st->reds == nullptr) { // its server was destroyed first
            delete st;
            dev->st = nullptr;
            return 0;
        }
        RedsState *s = st->reds;
        const int rc = s->srv.on_control([s, sin, st] {
            const int r = s->srv.interfaces().remove_interface(sin);
            if (r == 0) st->handler.reset();
            return r;
        });
        if (rc == 0) {
            delete st;
            dev->st = nullptr;
        }
        return rc;
    }
    if (type == SPICE_INTERFACE_QXL) {
        auto *qxl = reinterpret_cast<QXLInstance *>(sin);
        QXLState *st = qxl->st;
        if (st == nullptr || st->reds == nullptr) return -1;
        RedsState *s = st->reds;
        const int rc = s->srv.on_control([s, sin, qxl] {
            const int r = s->srv.interfaces().remove_interface(sin);
            if (r == 0) rs::unregister_qxl_channels(s->srv, qxl->id);
            return r;
        });
        if (rc == 0) {
            st->device->shutdown();
            rs::display_shards::instance().release(*st->home);
            delete st;
            qxl->st = nullptr;
        }
        return rc;
    }
    RS_LOG_WARN(
        "shim",
        "spice_server_remove_interface({}): only QXL instances can be found without a server",
        type);
    return -1;
}

// ---- listening and auth -----------------------------------------------------

int spice_server_set_port(SpiceServer *s, int port) {
    return s != nullptr ? s->srv.config().set_port(port) : -1;
}

void spice_server_set_addr(SpiceServer *s, const char *addr, int flags) {
    if (s != nullptr) s->srv.config().set_addr(addr, flags);
}

int spice_server_set_listen_socket_fd(SpiceServer *s, int listen_fd) {
    return s != nullptr ? s->srv.config().set_listen_socket_fd(listen_fd) : -1;
}

int spice_server_set_exit_on_disconnect(SpiceServer *s, int flag) {
    return s != nullptr ? s->srv.config().set_exit_on_disconnect(flag) : -1;
}

int spice_server_set_noauth(SpiceServer *s) {
    return s != nullptr ? s->srv.config().set_noauth() : -1;
}

int spice_server_set_sasl(SpiceServer *s, int enabled) {
    return s != nullptr ? s->srv.config().set_sasl(enabled) : -1;
}

int spice_server_set_sasl_appname(SpiceServer *s, const char *appname) {
    return s != nullptr ? s->srv.config().set_sasl_appname(appname) : -1;
}

int spice_server_set_ticket(SpiceServer *s, const char *passwd, int lifetime, int fail_if_connected,
                            int disconnect_if_connected) {
    if (self_or_null(s, __func__) == nullptr) return -1;
    return s->srv.on_control([=] {
        switch (rs::ticket_action(s->srv.num_clients() > 0, fail_if_connected,
                                  disconnect_if_connected)) {
        case rs::ticket_connected_action::fail:
            return -1;
        case rs::ticket_connected_action::disconnect_then_proceed:
            s->srv.disconnect_all();
            break;
        case rs::ticket_connected_action::proceed:
            break;
        }
        return s->srv.config().set_ticket(passwd, lifetime, monotonic_s());
    });
}

int spice_server_set_tls(SpiceServer *s, int port, const char *ca_cert_file, const char *certs_file,
                         const char *private_key_file, const char *key_passwd,
                         const char *dh_key_file, const char *ciphersuite) {
    if (self_or_null(s, __func__) == nullptr) return -1;
    if (s->srv.initialized()) {
        RS_LOG_WARN("shim",
                    "spice_server_set_tls after spice_server_init: takes effect only before init");
    }
    return s->srv.config().set_tls(port, ca_cert_file, certs_file, private_key_file, key_passwd,
                                   dh_key_file, ciphersuite);
}

int spice_server_set_channel_security(SpiceServer *s, const char *channel, int security) {
    return s != nullptr ? s->srv.config().set_channel_security(channel, security) : -1;
}

int spice_server_add_client(SpiceServer *s, int socket, int skip_auth) {
    if (self_or_null(s, __func__) == nullptr) return -1;
    return s->srv.on_control([=] { return s->srv.add_client(socket, false, skip_auth != 0); });
}

int spice_server_add_ssl_client(SpiceServer *s, int socket, int skip_auth) {
    if (self_or_null(s, __func__) == nullptr) return -1;
    return s->srv.on_control([=] { return s->srv.add_client(socket, true, skip_auth != 0); });
}

int spice_server_get_sock_info(SpiceServer *, struct sockaddr *, socklen_t *) { return -1; }
int spice_server_get_peer_info(SpiceServer *, struct sockaddr *, socklen_t *) { return -1; }

int spice_server_get_num_clients(SpiceServer *s) {
    if (s == nullptr) return 0;
    return s->srv.on_control([s] { return static_cast<int>(s->srv.num_clients()); });
}

// ---- settings ---------------------------------------------------------------

int spice_server_set_image_compression(SpiceServer *s, SpiceImageCompression comp) {
    return s != nullptr ? s->srv.config().set_image_compression(comp) : -1;
}

SpiceImageCompression spice_server_get_image_compression(SpiceServer *s) {
    return s != nullptr ? s->srv.config().image_compression() : SPICE_IMAGE_COMPRESSION_INVALID;
}

int spice_server_set_jpeg_compression(SpiceServer *s, spice_wan_compression_t comp) {
    return s != nullptr ? s->srv.config().set_jpeg_compression(comp) : -1;
}

int spice_server_set_zlib_glz_compression(SpiceServer *s, spice_wan_compression_t comp) {
    return s != nullptr ? s->srv.config().set_zlib_glz_compression(comp) : -1;
}

int spice_server_set_streaming_video(SpiceServer *s, int value) {
    return s != nullptr ? s->srv.config().set_streaming_video(value) : -1;
}

int spice_server_set_video_codecs(SpiceServer *s, const char *video_codecs) {
    return s != nullptr ? s->srv.config().set_video_codecs(video_codecs) : -1;
}

const char *spice_server_get_video_codecs(SpiceServer *s) {
    if (s == nullptr) return nullptr;
    return strdup(s->srv.config().video_codecs_string().c_str());
}

void spice_server_free_video_codecs(SpiceServer *, const char *video_codecs) {
    std::free(const_cast<char *>(video_codecs)); // NOLINT: allocated by strdup above
}

int spice_server_set_playback_compression(SpiceServer *s, int enable) {
    if (s == nullptr) return -1;
    const int rc = s->srv.config().set_playback_compression(enable);
    s->srv.on_control([s] { // sound (issue 8): connected clients switch mode
        if (auto *st = s->srv.sound_state())
            static_cast<rs::sound_channels *>(st)->update_playback_mode();
    });
    return rc;
}

int spice_server_set_agent_mouse(SpiceServer *s, int enable) {
    if (s == nullptr) return -1;
    return s->srv.on_control([=] {
        const int rc = s->srv.config().set_agent_mouse(enable);
        if (s->srv.initialized()) s->srv.update_mouse_mode();
        return rc;
    });
}

int spice_server_set_agent_copypaste(SpiceServer *s, int enable) {
    return s != nullptr ? s->srv.config().set_agent_copypaste(enable) : -1;
}

int spice_server_set_agent_file_xfer(SpiceServer *s, int enable) {
    return s != nullptr ? s->srv.config().set_agent_file_xfer(enable) : -1;
}

int spice_server_add_renderer(SpiceServer *s, const char *name) {
    return s != nullptr ? s->srv.config().add_renderer(name) : -1;
}

void spice_server_set_name(SpiceServer *s, const char *name) {
    if (s != nullptr) s->srv.config().set_name(name);
}

void spice_server_set_uuid(SpiceServer *s, const uint8_t uuid[16]) {
    if (s != nullptr && uuid != nullptr) s->srv.config().set_uuid(uuid);
}

void spice_server_set_seamless_migration(SpiceServer *s, int enable) {
    if (s != nullptr) s->srv.config().set_seamless_migration(enable);
}

int spice_server_is_server_mouse(SpiceServer *s) {
    // inputs (issue 5): an atomic read, so a VMM thread never waits on the
    // control shard for it.
    if (s == nullptr) return 1;
    return s->srv.is_server_mouse() ? 1 : 0;
}

/// Starts or stops every QXL worker and char device: the reference fetches
/// guest commands and touches char devices only while the VM runs.
static void set_vm_running(SpiceServer *s, bool running) {
    if (s == nullptr) return;
    s->srv.on_control([s, running] {
        s->srv.set_vm_running(running);
        // Char devices pause with the VM; on start each catches up with
        // what it missed (the agent is woken by set_vm_running itself).
        if (running)
            for (const auto &e : s->srv.interfaces().char_devices())
                if (e.instance->st != nullptr && e.instance->st->handler)
                    e.instance->st->handler->wakeup();
        for (QXLInstance *qxl : s->srv.interfaces().qxls()) {
            if (qxl->st == nullptr || !qxl->st->device) continue;
            qxl->st->device->post([running](rs::qxl_device &d) {
                if (running)
                    d.start();
                else
                    d.stop();
            });
        }
    });
}

void spice_server_vm_start(SpiceServer *s) { set_vm_running(s, true); }

void spice_server_vm_stop(SpiceServer *s) { set_vm_running(s, false); }

// ---- migration: the settings are kept; clients are not moved -----------------

int spice_server_migrate_info(SpiceServer *s, const char *dest, int port, int secure_port,
                              const char *cert_subject) {
    if (s == nullptr) return -1;
    return s->srv.config().set_migration_target(dest, port, secure_port, cert_subject) == 0 ? 0
                                                                                            : -1;
}

int spice_server_migrate_connect(SpiceServer *s, const char *dest, int port, int secure_port,
                                 const char *cert_subject) {
    if (s == nullptr) return -1;
    const int rc = s->srv.config().set_migration_target(dest, port, secure_port, cert_subject);
    RS_LOG_INFO(
        "shim",
        "migration: clients are not moved to the destination (not supported); they reconnect");
    // Answer at once, as the reference does when no client is connected, so
    // the VMM's migration never waits on us.
    if (auto *mig = s->srv.interfaces().migration()) {
        auto *sif = reinterpret_cast<const SpiceMigrateInterface *>(mig->base.sif);
        if (sif->migrate_connect_complete != nullptr) sif->migrate_connect_complete(mig);
    }
    return rc == 0 ? 0 : -1;
}

int spice_server_migrate_start(SpiceServer *s) {
    if (s == nullptr) return -1;
    return s->srv.config().migration() ? 0 : -1;
}

int spice_server_migrate_end(SpiceServer *s, int completed) {
    if (s == nullptr) return -1;
    if (completed) s->srv.on_control([s] { s->srv.disconnect_all(); });
    if (auto *mig = s->srv.interfaces().migration()) {
        auto *sif = reinterpret_cast<const SpiceMigrateInterface *>(mig->base.sif);
        if (sif->migrate_end_complete != nullptr) sif->migrate_end_complete(mig);
    }
    s->srv.config().clear_migration_target();
    return 0;
}

int spice_server_migrate_switch(SpiceServer *s) {
    if (s == nullptr) return -1;
    s->srv.config().clear_migration_target();
    return 0;
}

// ---- input ------------------------------------------------------------------

int spice_server_kbd_leds(SpiceKbdInstance *sin, int leds) { // inputs (issue 5)
    if (sin == nullptr || sin->st == nullptr) return -1;
    sin->st->leds = leds;
    if (sin->st->inputs != nullptr) sin->st->inputs->post_leds(static_cast<uint8_t>(leds));
    return 0;
}

// ---- char devices -----------------------------------------------------------

void spice_server_char_device_wakeup(SpiceCharDeviceInstance *sin) {
    if (sin == nullptr || sin->st == nullptr || sin->st->reds == nullptr) return;
    SpiceCharDeviceState *st = sin->st;
    st->reds->srv.on_control([st] {
        if (st->handler) st->handler->wakeup();
    });
}

const char **spice_server_char_device_recognized_subtypes(void) {
    return rs::interface_registry::recognized_char_subtypes();
}

void spice_server_port_event(SpiceCharDeviceInstance *sin, uint8_t event) {
    if (sin == nullptr || sin->st == nullptr || sin->st->reds == nullptr) return;
    SpiceCharDeviceState *st = sin->st;
    st->reds->srv.on_control([st, event] {
        if (st->handler) st->handler->port_event(event);
    });
}

// ---- audio (sound, issue 8) ------------------------------------------------------
// Each call runs on the control shard: inline on the VMM's loop thread (where
// QEMU's audio timer calls from), as a blocking call from any other thread.
// An instance never added has no state and is ignored, with defaults.

void spice_server_playback_start(SpicePlaybackInstance *sin) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpicePlaybackState *st = sin->st;
    st->reds->srv.on_control([st] { st->channel->start(); });
}
void spice_server_playback_stop(SpicePlaybackInstance *sin) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpicePlaybackState *st = sin->st;
    st->reds->srv.on_control([st] { st->channel->stop(); });
}
void spice_server_playback_get_buffer(SpicePlaybackInstance *sin, uint32_t **samples,
                                      uint32_t *num_samples) {
    if (samples == nullptr || num_samples == nullptr) return;
    *samples = nullptr;
    *num_samples = 0;
    if (sin == nullptr || sin->st == nullptr) return;
    SpicePlaybackState *st = sin->st;
    st->reds->srv.on_control([=] { st->channel->get_buffer(samples, num_samples); });
}
void spice_server_playback_put_samples(SpicePlaybackInstance *sin, uint32_t *samples) {
    if (sin == nullptr || sin->st == nullptr || samples == nullptr) return;
    SpicePlaybackState *st = sin->st;
    st->reds->srv.on_control([=] { st->channel->put_samples(samples); });
}
void spice_server_playback_set_volume(SpicePlaybackInstance *sin, uint8_t nchannels,
                                      uint16_t *volume) {
    if (sin == nullptr || sin->st == nullptr || (volume == nullptr && nchannels != 0)) return;
    SpicePlaybackState *st = sin->st;
    const std::vector<uint16_t> v(volume, volume + nchannels);
    st->reds->srv.on_control([st, &v] { st->channel->set_volume(v); });
}
void spice_server_playback_set_mute(SpicePlaybackInstance *sin, uint8_t mute) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpicePlaybackState *st = sin->st;
    st->reds->srv.on_control([st, mute] { st->channel->set_mute(mute != 0); });
}
uint32_t spice_server_get_best_playback_rate(SpicePlaybackInstance *) {
    return rs::server_config::best_audio_rate;
}
void spice_server_set_playback_rate(SpicePlaybackInstance *sin, uint32_t frequency) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpicePlaybackState *st = sin->st;
    st->reds->srv.on_control([st, frequency] { st->channel->set_rate(frequency); });
}
void spice_server_record_start(SpiceRecordInstance *sin) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpiceRecordState *st = sin->st;
    st->reds->srv.on_control([st] { st->channel->start(); });
}
void spice_server_record_stop(SpiceRecordInstance *sin) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpiceRecordState *st = sin->st;
    st->reds->srv.on_control([st] { st->channel->stop(); });
}
uint32_t spice_server_record_get_samples(SpiceRecordInstance *sin, uint32_t *samples,
                                         uint32_t bufsize) {
    if (sin == nullptr || sin->st == nullptr || samples == nullptr) return 0;
    SpiceRecordState *st = sin->st;
    return st->reds->srv.on_control(
        [=] { return st->channel->get_samples(std::span(samples, bufsize)); });
}
void spice_server_record_set_volume(SpiceRecordInstance *sin, uint8_t nchannels, uint16_t *volume) {
    if (sin == nullptr || sin->st == nullptr || (volume == nullptr && nchannels != 0)) return;
    SpiceRecordState *st = sin->st;
    const std::vector<uint16_t> v(volume, volume + nchannels);
    st->reds->srv.on_control([st, &v] { st->channel->set_volume(v); });
}
void spice_server_record_set_mute(SpiceRecordInstance *sin, uint8_t mute) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpiceRecordState *st = sin->st;
    st->reds->srv.on_control([st, mute] { st->channel->set_mute(mute != 0); });
}
uint32_t spice_server_get_best_record_rate(SpiceRecordInstance *) {
    return rs::server_config::best_audio_rate;
}
void spice_server_set_record_rate(SpiceRecordInstance *sin, uint32_t frequency) {
    if (sin == nullptr || sin->st == nullptr) return;
    SpiceRecordState *st = sin->st;
    st->reds->srv.on_control([st, frequency] { st->channel->set_rate(frequency); });
}

// ---- record/replay of QXL command streams: not supported ---------------------

SpiceReplay *spice_replay_new(FILE *, int) {
    not_supported(__func__);
    return nullptr;
}
void spice_replay_free(SpiceReplay *) {}
QXLCommandExt *spice_replay_next_cmd(SpiceReplay *, QXLInstance *) {
    not_supported(__func__);
    return nullptr;
}
void spice_replay_free_cmd(SpiceReplay *, QXLCommandExt *) {}

} // extern "C"
