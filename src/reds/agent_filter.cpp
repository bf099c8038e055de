#include "reds/agent_filter.hpp"

#include <algorithm>
#include <cstring>

#include "reds/wire.hpp"

namespace rs {

namespace {

uint32_t load_le32(const uint8_t *p) noexcept {
    return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

void store_le32(uint8_t *p, uint32_t v) noexcept {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
    p[2] = static_cast<uint8_t>(v >> 16);
    p[3] = static_cast<uint8_t>(v >> 24);
}

/// Appends `v` in host byte order: the QXL callback reads a C struct.
template <typename T> void put_host(std::vector<uint8_t> &out, T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
}

} // namespace

std::optional<agent_message_header> read_agent_header(std::span<const uint8_t> bytes) noexcept {
    wire::reader r(bytes);
    agent_message_header h;
    h.protocol = r.u32();
    h.type = r.u32();
    h.opaque = r.u64();
    h.size = r.u32();
    if (!r.ok()) return std::nullopt;
    return h;
}

void write_agent_header(std::vector<uint8_t> &out, const agent_message_header &h) {
    wire::writer w(out);
    w.u32(h.protocol);
    w.u32(h.type);
    w.u64(h.opaque);
    w.u32(h.size);
}

agent_verdict agent_filter::process(std::span<const uint8_t> piece) noexcept {
    if (piece.size() > max_piece_size) {
        _error = "piece larger than VD_AGENT_MAX_DATA_SIZE";
        return agent_verdict::protocol_error;
    }
    if (_remaining != 0) {
        if (piece.size() > _remaining) {
            _error = "data beyond the size in the message header";
            return agent_verdict::protocol_error;
        }
        _remaining -= static_cast<uint32_t>(piece.size());
        return _current;
    }
    const auto h = read_agent_header(piece);
    if (!h) {
        _error = "incomplete message header";
        return agent_verdict::protocol_error;
    }
    if (h->protocol != VD_AGENT_PROTOCOL) {
        _error = "wrong agent protocol";
        return agent_verdict::protocol_error;
    }
    const size_t data = piece.size() - agent_message_header::wire_size;
    if (data > h->size) {
        _error = "data beyond the size in the message header";
        return agent_verdict::protocol_error;
    }
    _current = agent_verdict::forward;
    if (_discard_all) {
        _current = agent_verdict::discard;
    } else {
        switch (h->type) {
        case VD_AGENT_CLIPBOARD:
        case VD_AGENT_CLIPBOARD_GRAB:
        case VD_AGENT_CLIPBOARD_REQUEST:
        case VD_AGENT_CLIPBOARD_RELEASE:
            if (!_settings.copypaste) _current = agent_verdict::discard;
            break;
        case VD_AGENT_FILE_XFER_START:
        case VD_AGENT_FILE_XFER_STATUS:
        case VD_AGENT_FILE_XFER_DATA:
            if (!_settings.file_xfer) _current = agent_verdict::discard;
            break;
        case VD_AGENT_MONITORS_CONFIG:
            if (_settings.client_monitors_config) _current = agent_verdict::monitors_config;
            break;
        default:
            break;
        }
    }
    _remaining = h->size - static_cast<uint32_t>(data);
    return _current;
}

void agent_filter::set_discard_all(bool on) noexcept {
    _discard_all = on;
    if (on) _current = agent_verdict::discard;
}

void agent_filter::reset(agent_filter_settings s, bool discard_all) noexcept {
    _settings = s;
    _discard_all = discard_all;
    _remaining = 0;
    _current = agent_verdict::forward;
    _error = "";
}

std::optional<bool> rewrite_agent_capabilities(std::span<uint8_t> piece,
                                               const agent_filter_settings &s) noexcept {
    const auto h = read_agent_header(piece);
    if (!h || h->protocol != VD_AGENT_PROTOCOL || h->type != VD_AGENT_ANNOUNCE_CAPABILITIES)
        return std::nullopt;
    // VDAgentAnnounceCapabilities: u32 request, then the caps words. Only
    // the words both the header and this piece hold are touched.
    constexpr size_t caps_at = agent_message_header::wire_size + sizeof(uint32_t);
    const size_t declared_words =
        h->size >= sizeof(uint32_t) ? (h->size - sizeof(uint32_t)) / sizeof(uint32_t) : 0;
    const size_t present_words =
        piece.size() >= caps_at ? (piece.size() - caps_at) / sizeof(uint32_t) : 0;
    const size_t words = std::min(declared_words, present_words);
    auto clear = [&](uint32_t cap) {
        if (cap / 32 >= words) return;
        uint8_t *p = piece.data() + caps_at + 4 * (cap / 32);
        store_le32(p, load_le32(p) & ~(1u << (cap % 32)));
    };
    auto set = [&](uint32_t cap) {
        if (cap / 32 >= words) return;
        uint8_t *p = piece.data() + caps_at + 4 * (cap / 32);
        store_le32(p, load_le32(p) | (1u << (cap % 32)));
    };
    auto has = [&](uint32_t cap) {
        if (cap / 32 >= words) return false;
        const uint8_t *p = piece.data() + caps_at + 4 * (cap / 32);
        return (load_le32(p) & (1u << (cap % 32))) != 0;
    };
    if (!s.copypaste) {
        clear(VD_AGENT_CAP_CLIPBOARD);
        clear(VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
        clear(VD_AGENT_CAP_CLIPBOARD_SELECTION);
    }
    if (!s.file_xfer) set(VD_AGENT_CAP_FILE_XFER_DISABLED);
    return has(VD_AGENT_CAP_GRAPHICS_DEVICE_INFO);
}

monitors_config_assembler::status
monitors_config_assembler::append(std::span<const uint8_t> piece) {
    _out.clear();
    _num_monitors = 0;
    constexpr size_t hdr = agent_message_header::wire_size;
    if (_raw.size() + piece.size() > hdr + max_data_size) {
        reset();
        return status::invalid;
    }
    _raw.insert(_raw.end(), piece.begin(), piece.end());
    const auto h = read_agent_header(_raw);
    if (!h) return status::incomplete;
    if (h->protocol != VD_AGENT_PROTOCOL || h->type != VD_AGENT_MONITORS_CONFIG ||
        h->size > max_data_size || _raw.size() > hdr + h->size) {
        reset();
        return status::invalid;
    }
    if (_raw.size() < hdr + h->size) return status::incomplete;

    // Complete: validate as agent_check_message does, then build the struct.
    wire::reader r(std::span<const uint8_t>(_raw).subspan(hdr));
    const uint32_t num = r.u32();
    const uint32_t flags = r.u32() & (VD_AGENT_CONFIG_MONITORS_FLAG_USE_POS |
                                      VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE);
    if (!r.ok()) {
        reset();
        return status::invalid;
    }
    const bool physical = (flags & VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE) != 0;
    const size_t element = sizeof(VDAgentMonConfig) + (physical ? sizeof(VDAgentMonitorMM) : 0);
    if (num > max_monitors || num > r.remaining() / element) {
        reset();
        return status::invalid;
    }
    std::vector<uint8_t> out;
    out.reserve(sizeof(VDAgentMonitorsConfig) + num * element);
    put_host(out, num);
    put_host(out, flags);
    for (uint32_t i = 0; i < num; ++i) {
        put_host(out, r.u32()); // height
        put_host(out, r.u32()); // width
        put_host(out, r.u32()); // depth
        put_host(out, r.i32()); // x
        put_host(out, r.i32()); // y
    }
    if (physical) {
        for (uint32_t i = 0; i < num; ++i) {
            put_host(out, r.u16()); // height
            put_host(out, r.u16()); // width
        }
    }
    _raw.clear();
    if (!r.ok()) return status::invalid;
    _out = std::move(out);
    _num_monitors = num;
    return status::complete;
}

VDAgentMonitorsConfig *monitors_config_assembler::config() noexcept {
    if (_out.empty()) return nullptr;
    return reinterpret_cast<VDAgentMonitorsConfig *>(_out.data());
}

void monitors_config_assembler::reset() noexcept {
    _raw.clear();
    _out.clear();
    _num_monitors = 0;
}

} // namespace rs
