#include "reds/server_config.hpp"

#include <algorithm>
#include <cstring>

#include "reds/ticket.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

// Indexed by SPICE_CHANNEL_*. These are the names QEMU's tls-channel= and
// plaintext-channel= options pass through, so they never change.
constexpr std::array<std::string_view, SPICE_END_CHANNEL> channel_names = {
    "",       "main",   "display",   "inputs",   "cursor", "playback",
    "record", "tunnel", "smartcard", "usbredir", "port",   "webdav",
};

struct encoder_name {
    std::string_view name;
    video_encoder encoder;
    bool available; // false: a name the reference knows but we do not build
};
constexpr std::array<encoder_name, 2> encoder_names = {{
    {"spice", video_encoder::spice, true},
    {"gstreamer", video_encoder::gstreamer, false},
}};

struct codec_name {
    std::string_view name;
    SpiceVideoCodecType type;
};
constexpr std::array<codec_name, 4> codec_names = {{
    {"mjpeg", SPICE_VIDEO_CODEC_TYPE_MJPEG},
    {"vp8", SPICE_VIDEO_CODEC_TYPE_VP8},
    {"h264", SPICE_VIDEO_CODEC_TYPE_H264},
    {"vp9", SPICE_VIDEO_CODEC_TYPE_VP9},
}};

bool is_word(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    });
}

bool valid_wan_compression(spice_wan_compression_t comp) noexcept {
    return comp == SPICE_WAN_COMPRESSION_AUTO || comp == SPICE_WAN_COMPRESSION_ALWAYS ||
           comp == SPICE_WAN_COMPRESSION_NEVER;
}

} // namespace

ticket_connected_action ticket_action(bool main_channel_connected, int fail_if_connected,
                                      int disconnect_if_connected) noexcept {
    if (!main_channel_connected) return ticket_connected_action::proceed;
    if (fail_if_connected) return ticket_connected_action::fail;
    if (disconnect_if_connected) return ticket_connected_action::disconnect_then_proceed;
    return ticket_connected_action::proceed;
}

std::optional<uint8_t> channel_type_from_name(std::string_view name) noexcept {
    if (name.empty()) return std::nullopt;
    for (size_t i = 0; i < channel_names.size(); ++i)
        if (channel_names[i] == name) return static_cast<uint8_t>(i);
    return std::nullopt;
}

int server_config::set_compat_version(spice_compat_version_t version) noexcept {
    // 0.4 compatibility was never implemented and later versions are unknown.
    return version == SPICE_COMPAT_VERSION_CURRENT ? 0 : -1;
}

int server_config::set_port(int port) noexcept {
    if (port < 0 || port > 0xffff) return -1;
    _port = port;
    return 0;
}

void server_config::set_addr(const char *addr, int flags) {
    if (addr != nullptr) _addr = addr;
    switch (flags) {
    case 0:
        break;
    case SPICE_ADDR_FLAG_IPV4_ONLY:
        _family = listen_family::ipv4;
        break;
    case SPICE_ADDR_FLAG_IPV6_ONLY:
        _family = listen_family::ipv6;
        break;
    case SPICE_ADDR_FLAG_UNIX_ONLY:
        _family = listen_family::unix_socket;
        break;
    default:
        RS_LOG_WARN("config", "unknown address flags 0x{:x}, family unchanged", flags);
    }
}

int server_config::set_listen_socket_fd(int fd) noexcept {
    _listen_socket_fd = fd;
    return 0;
}

int server_config::set_exit_on_disconnect(int flag) noexcept {
    _exit_on_disconnect = flag != 0;
    return 0;
}

int server_config::set_noauth() noexcept {
    _ticket_password.clear();
    _ticketing_enabled = false;
    return 0;
}

int server_config::set_ticket(const char *passwd, int lifetime, int64_t now_s) {
    // The reference enables ticketing and moves the expiration even when the
    // password is then refused; a caller that ignores -1 is left locked
    // rather than open.
    _ticketing_enabled = true;
    _ticket_expiration_s = lifetime == 0 ? ticket_never_expires : now_s + lifetime;
    if (passwd == nullptr) {
        _ticket_password.clear();
        _ticket_expiration_s = 0;
        return 0;
    }
    if (std::strlen(passwd) > max_password_length) {
        RS_LOG_WARN("config", "ticket refused: password longer than {} bytes", max_password_length);
        return -1;
    }
    _ticket_password = passwd;
    return 0;
}

ticket_verdict server_config::check_ticket(std::string_view password,
                                           int64_t now_s) const noexcept {
    if (!_ticketing_enabled) return ticket_verdict::accepted;
    if (_ticket_password.empty()) return ticket_verdict::no_password_set;
    if (_ticket_expiration_s < now_s) return ticket_verdict::expired;
    if (!password_equal(password, _ticket_password)) return ticket_verdict::wrong_password;
    return ticket_verdict::accepted;
}

int server_config::set_sasl(int enabled) noexcept {
    _sasl_enabled = enabled != 0;
    return 0;
}

int server_config::set_sasl_appname(const char *appname) {
    if (appname == nullptr)
        _sasl_appname.reset();
    else
        _sasl_appname = appname;
    return 0;
}

std::string_view server_config::sasl_appname() const noexcept {
    return _sasl_appname ? std::string_view(*_sasl_appname) : std::string_view("spice");
}

int server_config::set_tls(int port, const char *ca_cert_file, const char *certs_file,
                           const char *private_key_file, const char *key_passwd,
                           const char *dh_key_file, const char *ciphersuite) {
    if (port <= 0 || port > 0xffff) return -1;
    if (ca_cert_file == nullptr || certs_file == nullptr || private_key_file == nullptr) return -1;
    _tls_port = port;
    _tls = tls_options{};
    _tls.ca_cert_file = ca_cert_file;
    _tls.cert_file = certs_file;
    _tls.private_key_file = private_key_file;
    if (key_passwd != nullptr) _tls.key_password = key_passwd;
    if (dh_key_file != nullptr) _tls.dh_key_file = dh_key_file;
    if (ciphersuite != nullptr) _tls.ciphersuite = ciphersuite;
    return 0;
}

int server_config::set_channel_security(const char *channel, int security) {
    if (channel == nullptr) {
        _default_channel_security = static_cast<uint32_t>(security);
        return 0;
    }
    auto type = channel_type_from_name(channel);
    if (!type) {
        RS_LOG_WARN("config", "channel security: unknown channel name '{}'", channel);
        return -1;
    }
    _channel_security[*type] = static_cast<uint32_t>(security);
    return 0;
}

uint32_t server_config::channel_security(uint8_t channel_type) const noexcept {
    if (channel_type < _channel_security.size() && _channel_security[channel_type])
        return *_channel_security[channel_type];
    return _default_channel_security;
}

int server_config::set_image_compression(SpiceImageCompression comp) {
    switch (comp) {
    case SPICE_IMAGE_COMPRESSION_OFF:
    case SPICE_IMAGE_COMPRESSION_AUTO_GLZ:
    case SPICE_IMAGE_COMPRESSION_AUTO_LZ:
    case SPICE_IMAGE_COMPRESSION_QUIC:
    case SPICE_IMAGE_COMPRESSION_GLZ:
    case SPICE_IMAGE_COMPRESSION_LZ:
    case SPICE_IMAGE_COMPRESSION_LZ4:
        _image_compression = comp;
        break;
    default:
        // The reference warns and still returns 0.
        RS_LOG_WARN("config", "invalid image compression {}, unchanged", static_cast<int>(comp));
    }
    return 0;
}

int server_config::set_jpeg_compression(spice_wan_compression_t comp) {
    if (comp == SPICE_WAN_COMPRESSION_INVALID) return -1;
    if (valid_wan_compression(comp))
        _jpeg = comp;
    else
        RS_LOG_WARN("config", "unknown jpeg compression {}, unchanged", static_cast<int>(comp));
    return 0;
}

int server_config::set_zlib_glz_compression(spice_wan_compression_t comp) {
    if (comp == SPICE_WAN_COMPRESSION_INVALID) return -1;
    if (valid_wan_compression(comp))
        _zlib_glz = comp;
    else
        RS_LOG_WARN("config", "unknown zlib-glz compression {}, unchanged", static_cast<int>(comp));
    return 0;
}

int server_config::set_streaming_video(int value) noexcept {
    if (value != SPICE_STREAM_VIDEO_OFF && value != SPICE_STREAM_VIDEO_ALL &&
        value != SPICE_STREAM_VIDEO_FILTER)
        return -1;
    _streaming_video = value;
    return 0;
}

int server_config::set_video_codecs(const char *codecs) {
    if (codecs == nullptr) return -1;
    std::string_view rest = codecs;
    if (rest == "auto") rest = default_video_codecs;

    std::vector<video_codec> parsed;
    while (!rest.empty()) {
        size_t end = rest.find(';');
        std::string_view entry = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (entry.empty()) continue; // ";;" and a trailing ';' are allowed

        size_t colon = entry.find(':');
        std::string_view enc = entry.substr(0, colon);
        std::string_view codec =
            colon == std::string_view::npos ? std::string_view{} : entry.substr(colon + 1);
        if (!is_word(enc) || !is_word(codec)) {
            RS_LOG_WARN("config", "video codecs: invalid encoder:codec entry '{}'", entry);
            continue;
        }
        auto e = std::find_if(encoder_names.begin(), encoder_names.end(),
                              [&](const encoder_name &n) { return n.name == enc; });
        auto c = std::find_if(codec_names.begin(), codec_names.end(),
                              [&](const codec_name &n) { return n.name == codec; });
        if (e == encoder_names.end()) {
            RS_LOG_WARN("config", "video codecs: unknown encoder '{}'", enc);
        } else if (c == codec_names.end()) {
            RS_LOG_WARN("config", "video codecs: unknown codec '{}'", codec);
        } else if (!e->available) {
            RS_LOG_WARN("config", "video codecs: unsupported encoder '{}'", enc);
        } else {
            parsed.push_back({e->encoder, c->type});
        }
    }
    if (parsed.empty()) {
        RS_LOG_WARN("config", "video codecs: nothing usable in '{}', unchanged", codecs);
        return -1;
    }
    _video_codecs = std::move(parsed);
    return 0;
}

std::string server_config::video_codecs_string() const {
    std::string out;
    for (const auto &vc : _video_codecs) {
        if (!out.empty()) out += ';';
        for (const auto &e : encoder_names)
            if (e.encoder == vc.encoder) out += e.name;
        out += ':';
        for (const auto &c : codec_names)
            if (c.type == vc.type) out += c.name;
    }
    return out;
}

int server_config::add_renderer(const char *name) noexcept {
    if (_renderers == max_renderers || name == nullptr || std::strcmp(name, "sw") != 0) return -1;
    ++_renderers;
    return 0;
}

int server_config::set_playback_compression(int enable) noexcept {
    _playback_compression = enable != 0;
    return 0;
}

int server_config::set_agent_mouse(int enable) noexcept {
    _agent_mouse = enable != 0;
    return 0;
}

int server_config::set_agent_copypaste(int enable) noexcept {
    _agent_copypaste = enable != 0;
    return 0;
}

int server_config::set_agent_file_xfer(int enable) noexcept {
    _agent_file_xfer = enable != 0;
    return 0;
}

void server_config::set_name(const char *name) {
    if (name == nullptr)
        _name.reset();
    else
        _name = name;
}

void server_config::set_uuid(const uint8_t uuid[16]) noexcept {
    std::array<uint8_t, 16> u{};
    std::memcpy(u.data(), uuid, u.size());
    _uuid = u;
}

void server_config::set_seamless_migration(int enable) noexcept {
    _seamless_migration = enable != 0;
}

int server_config::set_migration_target(const char *dest, int port, int secure_port,
                                        const char *cert_subject) {
    _migration_target.reset();
    if (dest == nullptr || (port == -1 && secure_port == -1)) return -1;
    migration_target t;
    t.host = dest;
    t.port = port;
    t.secure_port = secure_port;
    if (cert_subject != nullptr) t.cert_subject = cert_subject;
    _migration_target = std::move(t);
    return 0;
}

bool server_config::opus_supports_rate(uint32_t hz) noexcept {
    return hz == 48000 || hz == 24000 || hz == 16000 || hz == 12000 || hz == 8000;
}

void server_config::apply_init_defaults() {
    if (_renderers == 0) _renderers = 1;
    if (_video_codecs.empty()) set_video_codecs("auto");
}

} // namespace rs
