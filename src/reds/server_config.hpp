// The server's configuration: every setting of the public spice_server_set_*
// API, validated with the reference server's rules (server/reds.cpp,
// server/sound.cpp) so that each setter returns what the reference returns
// (0 or -1) for the same arguments. The shim forwards each C call to one
// method here; the rest of the server reads the accessors.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spice.h>
#include <spice/enums.h>
#include <spice/protocol.h>

namespace rs {

/// The address family the listener binds, from spice_server_set_addr flags.
enum class listen_family : uint8_t { any, ipv4, ipv6, unix_socket };

/// What set_ticket must do first when a client is already connected. The
/// server decides this before calling server_config::set_ticket, because
/// only it knows whether the main channel is connected.
enum class ticket_connected_action : uint8_t { proceed, fail, disconnect_then_proceed };
ticket_connected_action ticket_action(bool main_channel_connected, int fail_if_connected,
                                      int disconnect_if_connected) noexcept;

/// Outcome of checking a client's password against the ticket.
enum class ticket_verdict : uint8_t { accepted, no_password_set, expired, wrong_password };

/// The SPICE_CHANNEL_* type for a name of spice_server_set_channel_security
/// ("main", "display", …, "webdav"; also "tunnel", as in the reference), or
/// nullopt for any other name. Names are case-sensitive.
std::optional<uint8_t> channel_type_from_name(std::string_view name) noexcept;

/// A video encoder family of the "encoder:codec" strings.
enum class video_encoder : uint8_t {
    spice,     ///< the built-in encoder
    gstreamer, ///< a known name that this server does not implement
};

/// One entry of the video codec preference list, in preference order.
struct video_codec {
    video_encoder encoder = video_encoder::spice;
    SpiceVideoCodecType type = SPICE_VIDEO_CODEC_TYPE_MJPEG;
    friend bool operator==(const video_codec &, const video_codec &) = default;
};

/// The TLS files and options of spice_server_set_tls. Empty strings mean
/// "not given".
struct tls_options {
    std::string ca_cert_file;
    std::string cert_file;
    std::string private_key_file;
    std::string key_password;
    std::string dh_key_file;
    std::string ciphersuite;
};

/// Where clients are sent on migration (spice_server_migrate_info/connect).
struct migration_target {
    std::string host;
    int port = -1;
    int secure_port = -1;
    std::optional<std::string> cert_subject;
};

/// Plain data owned by the server object and living on the control shard.
/// The shim writes it from the VMM thread before spice_server_init; after
/// that the control shard is reaped by the VMM's loop thread, so setters and
/// readers still run on one thread and no locking is needed.
class server_config {
  public:
    static constexpr size_t max_password_length = SPICE_MAX_PASSWORD_LENGTH;
    /// Ticket expiration meaning "never" (what a zero lifetime sets).
    static constexpr int64_t ticket_never_expires = INT32_MAX;
    /// The renderer list of spice_server_add_renderer holds at most this many.
    static constexpr size_t max_renderers = 2;
    /// Opus runs at 48 kHz; spice_server_get_best_{playback,record}_rate.
    static constexpr uint32_t best_audio_rate = 48000;
    /// What "auto" and the spice_server_init default expand to.
    static constexpr std::string_view default_video_codecs = "spice:mjpeg";

    /// The defaults of spice_server_new.
    server_config() = default;

    // ---- listening -------------------------------------------------------
    /// 0 for SPICE_COMPAT_VERSION_0_6 (the current one), -1 for anything else.
    int set_compat_version(spice_compat_version_t version) noexcept;
    /// 0..65535 → 0 (0 is stored as given); anything else → -1, unchanged.
    int set_port(int port) noexcept;
    /// A null addr keeps the address; flags select the family only when they
    /// are exactly one SPICE_ADDR_FLAG_*; 0 or any other value keeps it.
    void set_addr(const char *addr, int flags);
    /// Always 0; the fd is not checked here.
    int set_listen_socket_fd(int fd) noexcept;
    int set_exit_on_disconnect(int flag) noexcept;

    // ---- authentication ---------------------------------------------------
    /// Disables ticketing and clears the password. Always 0.
    int set_noauth() noexcept;
    /// Call after ticket_action said proceed (or after disconnecting).
    /// Enables ticketing and sets the expiration (lifetime 0: never, else
    /// now + lifetime seconds) before checking the password: longer than
    /// max_password_length → -1 with the old password kept. A null passwd
    /// clears the password and makes the ticket expired. `now_s` is the
    /// monotonic clock in seconds.
    int set_ticket(const char *passwd, int lifetime, int64_t now_s);
    /// Checks a password a client sent; accepted when ticketing is off.
    ticket_verdict check_ticket(std::string_view password, int64_t now_s) const noexcept;
    /// Always 0 (this server is built with SASL).
    int set_sasl(int enabled) noexcept;
    /// Always 0; null restores the default appname "spice".
    int set_sasl_appname(const char *appname);

    // ---- TLS and per-channel security ---------------------------------------
    /// -1 when port is 0 or outside 1..65535 or any of ca_cert_file,
    /// certs_file, private_key_file is null (nothing changes); otherwise
    /// replaces all TLS options (null optional arguments become empty).
    int set_tls(int port, const char *ca_cert_file, const char *certs_file,
                const char *private_key_file, const char *key_passwd, const char *dh_key_file,
                const char *ciphersuite);
    /// A null channel sets the default; an unknown name → -1. The value is
    /// stored as given (SPICE_CHANNEL_SECURITY_NONE / _SSL bits).
    int set_channel_security(const char *channel, int security);
    /// The security bits for a SPICE_CHANNEL_* type: its own or the default.
    uint32_t channel_security(uint8_t channel_type) const noexcept;

    // ---- compression and video ---------------------------------------------
    /// Always 0; a value outside OFF..LZ4 is ignored with a warning.
    int set_image_compression(SpiceImageCompression comp);
    /// SPICE_WAN_COMPRESSION_INVALID → -1; AUTO/ALWAYS/NEVER stored → 0;
    /// any other value is ignored with a warning → 0.
    int set_jpeg_compression(spice_wan_compression_t comp);
    int set_zlib_glz_compression(spice_wan_compression_t comp);
    /// SPICE_STREAM_VIDEO_OFF/ALL/FILTER → 0; anything else → -1, unchanged.
    int set_streaming_video(int value) noexcept;
    /// Parses "encoder:codec;…" ("auto" = default_video_codecs). Entries
    /// that are malformed, name an unknown encoder or codec, or an encoder
    /// this server lacks are skipped with a warning. -1 (list unchanged) when
    /// codecs is null or no entry remains; else the list is replaced → 0.
    int set_video_codecs(const char *codecs);
    /// The list as "encoder:codec;…" without a trailing ';' — what
    /// spice_server_get_video_codecs returns ("" before init if never set).
    std::string video_codecs_string() const;
    /// "sw" → 0 while fewer than max_renderers are listed; else -1.
    int add_renderer(const char *name) noexcept;
    int set_playback_compression(int enable) noexcept;

    // ---- agent, identity, migration, audio --------------------------------
    int set_agent_mouse(int enable) noexcept;
    int set_agent_copypaste(int enable) noexcept;
    int set_agent_file_xfer(int enable) noexcept;
    /// Null clears the name.
    void set_name(const char *name);
    void set_uuid(const uint8_t uuid[16]) noexcept;
    void set_seamless_migration(int enable) noexcept;
    /// From SPICE_DEBUG_ALLOW_MC at init; multiple clients rule out seamless
    /// migration.
    void set_allow_multiple_clients(bool allow) noexcept { _allow_multiple_clients = allow; }
    /// Clears the old target first; -1 when dest is null or both ports are -1.
    int set_migration_target(const char *dest, int port, int secure_port, const char *cert_subject);
    void clear_migration_target() noexcept { _migration_target.reset(); }
    /// spice_server_set_{playback,record}_rate: stored as given.
    void set_playback_rate(uint32_t hz) noexcept { _playback_rate = hz; }
    void set_record_rate(uint32_t hz) noexcept { _record_rate = hz; }
    /// True for the rates the Opus codec runs at (48, 24, 16, 12, 8 kHz).
    static bool opus_supports_rate(uint32_t hz) noexcept;

    /// What spice_server_init fills in when unset: the "sw" renderer and the
    /// default video codecs.
    void apply_init_defaults();

    // ---- accessors ---------------------------------------------------------
    int port() const noexcept { return _port; }         ///< -1: none
    int tls_port() const noexcept { return _tls_port; } ///< -1: none
    const std::string &addr() const noexcept { return _addr; }
    listen_family family() const noexcept { return _family; }
    int listen_socket_fd() const noexcept { return _listen_socket_fd; } ///< -1: none
    bool exit_on_disconnect() const noexcept { return _exit_on_disconnect; }
    bool ticketing_enabled() const noexcept { return _ticketing_enabled; }
    const std::string &ticket_password() const noexcept { return _ticket_password; }
    int64_t ticket_expiration_s() const noexcept { return _ticket_expiration_s; }
    bool sasl_enabled() const noexcept { return _sasl_enabled; }
    std::string_view sasl_appname() const noexcept;
    const tls_options &tls() const noexcept { return _tls; }
    uint32_t default_channel_security() const noexcept { return _default_channel_security; }
    SpiceImageCompression image_compression() const noexcept { return _image_compression; }
    spice_wan_compression_t jpeg_compression() const noexcept { return _jpeg; }
    spice_wan_compression_t zlib_glz_compression() const noexcept { return _zlib_glz; }
    int streaming_video() const noexcept { return _streaming_video; }
    const std::vector<video_codec> &video_codecs() const noexcept { return _video_codecs; }
    size_t renderer_count() const noexcept { return _renderers; }
    bool playback_compression() const noexcept { return _playback_compression; }
    bool agent_mouse() const noexcept { return _agent_mouse; }
    bool agent_copypaste() const noexcept { return _agent_copypaste; }
    bool agent_file_xfer() const noexcept { return _agent_file_xfer; }
    const std::optional<std::string> &name() const noexcept { return _name; }
    const std::optional<std::array<uint8_t, 16>> &uuid() const noexcept { return _uuid; }
    bool seamless_migration() const noexcept {
        return _seamless_migration && !_allow_multiple_clients;
    }
    bool allow_multiple_clients() const noexcept { return _allow_multiple_clients; }
    const std::optional<migration_target> &migration() const noexcept { return _migration_target; }
    uint32_t playback_rate() const noexcept { return _playback_rate; }
    uint32_t record_rate() const noexcept { return _record_rate; }

  private:
    int _port = -1;
    int _tls_port = -1;
    std::string _addr;
    listen_family _family = listen_family::any;
    int _listen_socket_fd = -1;
    bool _exit_on_disconnect = false;

    bool _ticketing_enabled = true;
    std::string _ticket_password;
    int64_t _ticket_expiration_s = 0;
    bool _sasl_enabled = false;
    std::optional<std::string> _sasl_appname;

    tls_options _tls;
    uint32_t _default_channel_security = SPICE_CHANNEL_SECURITY_NONE | SPICE_CHANNEL_SECURITY_SSL;
    std::array<std::optional<uint32_t>, SPICE_END_CHANNEL> _channel_security{};

    SpiceImageCompression _image_compression = SPICE_IMAGE_COMPRESSION_AUTO_GLZ;
    spice_wan_compression_t _jpeg = SPICE_WAN_COMPRESSION_AUTO;
    spice_wan_compression_t _zlib_glz = SPICE_WAN_COMPRESSION_AUTO;
    int _streaming_video = SPICE_STREAM_VIDEO_FILTER;
    std::vector<video_codec> _video_codecs;
    size_t _renderers = 0;
    bool _playback_compression = true;

    bool _agent_mouse = true;
    bool _agent_copypaste = true;
    bool _agent_file_xfer = true;
    std::optional<std::string> _name;
    std::optional<std::array<uint8_t, 16>> _uuid;
    bool _seamless_migration = false;
    bool _allow_multiple_clients = false;
    std::optional<migration_target> _migration_target;
    uint32_t _playback_rate = best_audio_rate;
    uint32_t _record_rate = best_audio_rate;
};

} // namespace rs
