#include "usbredir/usb_policy.hpp"

#include <usbredirproto.h>

#include <cerrno>
#include <cstdlib>

#include "reds/wire.hpp"
#include "runtime/log.hpp"

namespace rs {

namespace {

constexpr size_t hello_version_size = 64; // usb_redir_hello_header.version
constexpr size_t interface_slots = 32;    // usb_redir_interface_info_header arrays

bool has_cap(const std::optional<std::vector<uint32_t>> &caps, uint32_t cap) {
    return caps && cap / 32 < caps->size() && ((*caps)[cap / 32] >> (cap % 32) & 1u) != 0;
}

std::vector<uint32_t> parse_hello_caps(std::span<const uint8_t> body) {
    wire::reader r(body);
    r.skip(hello_version_size);
    std::vector<uint32_t> caps;
    while (r.remaining() >= 4)
        caps.push_back(r.u32());
    return caps;
}

} // namespace

// ---- usb_policy ----------------------------------------------------------------

result<usb_policy> usb_policy::parse(std::string_view filter) {
    const std::string text(filter);
    usbredirfilter_rule *rules = nullptr;
    int count = 0;
    if (usbredirfilter_string_to_rules(text.c_str(), ",", "|", &rules, &count) != 0)
        return errc::protocol;
    usb_policy p;
    p._rules.assign(rules, rules + count);
    usbredirfilter_free(rules);
    p._text = text;
    return p;
}

std::optional<usb_policy> usb_policy::from_environment() {
    const char *env = std::getenv("RINGSPICE_USBREDIR_FILTER"); // NOLINT(concurrency-mt-unsafe)
    if (env == nullptr || *env == '\0') return std::nullopt;
    auto p = parse(env);
    if (p) {
        RS_LOG_INFO("usbredir", "USB device policy: {}", env);
        return std::move(*p);
    }
    RS_LOG_ERROR("usbredir",
                 "RINGSPICE_USBREDIR_FILTER '{}' is not a usbredir filter; refusing every USB "
                 "device",
                 env);
    usb_policy none;
    none._refuse_all = true;
    none._text = env;
    return none;
}

std::optional<std::string> usb_policy::refusal(const usb_device_info &dev) const {
    if (_refuse_all) return std::string("the server's USB policy does not parse");
    std::vector<uint8_t> cls = dev.interface_class;
    std::vector<uint8_t> sub = dev.interface_subclass;
    std::vector<uint8_t> proto = dev.interface_protocol;
    const int rc = usbredirfilter_check(
        _rules.data(), static_cast<int>(_rules.size()), dev.device_class, dev.device_subclass,
        dev.device_protocol, cls.data(), sub.data(), proto.data(), static_cast<int>(cls.size()),
        dev.vendor_id, dev.product_id, dev.device_version_bcd, 0);
    if (rc == 0) return std::nullopt;
    return rc == -EPERM    ? std::string("blocked by the server's USB policy")
           : rc == -ENOENT ? std::string("not allowed by the server's USB policy")
                           : std::string("the device description is invalid");
}

// ---- usbredir_watch ----------------------------------------------------------------

size_t usbredir_watch::header_size(bool from_client_side, uint64_t packets) const noexcept {
    // A hello goes before its sender knows the peer's caps: 32-bit id.
    // After both hellos, ids are 64-bit when both sides have the cap.
    if (packets == 0 || !from_client_side) return 12;
    const bool wide = has_cap(_client_caps, usb_redir_cap_64bits_ids) &&
                      has_cap(_guest_caps, usb_redir_cap_64bits_ids);
    return wide ? 16 : 12;
}

void usbredir_watch::from_guest(std::span<const uint8_t> bytes) {
    framer &f = _guest;
    while (!_guest_done && !bytes.empty()) {
        if (!f.in_body) {
            const size_t want = header_size(false, 0) - f.header.size();
            const size_t n = std::min(want, bytes.size());
            f.header.insert(f.header.end(), bytes.begin(), bytes.begin() + n);
            bytes = bytes.subspan(n);
            if (f.header.size() < header_size(false, 0)) return;
            wire::reader r(f.header);
            f.type = r.u32();
            f.body_left = r.u32();
            if (f.type != usb_redir_hello || f.body_left < hello_version_size ||
                f.body_left > max_control_packet) {
                // Not a hello first: the caps stay unknown (32-bit ids assumed).
                _guest_done = true;
                return;
            }
            f.in_body = true;
            f.body.clear();
        }
        const size_t n = std::min(f.body_left, bytes.size());
        f.body.insert(f.body.end(), bytes.begin(), bytes.begin() + n);
        bytes = bytes.subspan(n);
        f.body_left -= n;
        if (f.body_left == 0) {
            _guest_caps = parse_hello_caps(f.body);
            _guest_done = true;
        }
    }
}

result<std::vector<usb_device_info>> usbredir_watch::from_client(std::span<const uint8_t> bytes) {
    std::vector<usb_device_info> connected;
    framer &f = _client;
    while (!bytes.empty()) {
        if (!f.in_body) {
            const size_t hs = header_size(true, f.packets);
            const size_t n = std::min(hs - f.header.size(), bytes.size());
            f.header.insert(f.header.end(), bytes.begin(), bytes.begin() + n);
            bytes = bytes.subspan(n);
            if (f.header.size() < hs) break;
            wire::reader r(f.header);
            f.type = r.u32();
            f.body_left = r.u32();
            f.header.clear();
            if (f.packets == 0 && f.type != usb_redir_hello) return errc::protocol;
            f.keep = f.type == usb_redir_hello || f.type == usb_redir_interface_info ||
                     f.type == usb_redir_device_connect;
            if (f.keep && f.body_left > max_control_packet) return errc::protocol;
            f.in_body = true;
            f.body.clear();
        }
        const size_t n = std::min(f.body_left, bytes.size());
        if (f.keep) f.body.insert(f.body.end(), bytes.begin(), bytes.begin() + n);
        bytes = bytes.subspan(n);
        f.body_left -= n;
        if (f.body_left != 0) break;
        f.in_body = false;
        ++f.packets;
        if (!f.keep) continue;
        wire::reader r(f.body);
        if (f.type == usb_redir_hello) {
            if (f.body.size() < hello_version_size) return errc::protocol;
            _client_caps = parse_hello_caps(f.body);
        } else if (f.type == usb_redir_interface_info) {
            const uint32_t count = r.u32();
            const auto ifaces = r.bytes(interface_slots);
            const auto cls = r.bytes(interface_slots);
            const auto sub = r.bytes(interface_slots);
            const auto proto = r.bytes(interface_slots);
            if (!r.ok() || count > interface_slots) return errc::protocol;
            (void)ifaces;
            usb_device_info info;
            info.interface_class.assign(cls.begin(), cls.begin() + count);
            info.interface_subclass.assign(sub.begin(), sub.begin() + count);
            info.interface_protocol.assign(proto.begin(), proto.begin() + count);
            _interfaces = std::move(info);
        } else { // device_connect
            usb_device_info info = _interfaces.value_or(usb_device_info{});
            (void)r.u8(); // speed
            info.device_class = r.u8();
            info.device_subclass = r.u8();
            info.device_protocol = r.u8();
            info.vendor_id = r.u16();
            info.product_id = r.u16();
            if (r.remaining() >= 2) info.device_version_bcd = r.u16();
            if (!r.ok()) return errc::protocol;
            connected.push_back(std::move(info));
            _interfaces.reset();
        }
    }
    return connected;
}

} // namespace rs
