#include "reds/websocket.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "runtime/log.hpp"
#include "runtime/shard.hpp"

namespace rs {

namespace ws {

namespace {

constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

constexpr uint8_t fin_flag = 0x80;
constexpr uint8_t rsv_mask = 0x70;
constexpr uint8_t opcode_mask = 0x0F;
constexpr uint8_t mask_flag = 0x80;
constexpr uint8_t length_mask = 0x7F;
constexpr uint8_t length_16 = 126;
constexpr uint8_t length_64 = 127;

char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// True when the comma-separated token list `list` holds `token` (any case).
bool has_token(std::string_view list, std::string_view token) noexcept {
    while (!list.empty()) {
        const size_t comma = list.find(',');
        if (iequals(trim(list.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

/// A key is base64 of 16 bytes: 22 characters of the alphabet, then "==".
bool valid_key(std::string_view k) noexcept {
    if (k.size() != 24 || k.substr(22) != "==") return false;
    return std::all_of(k.begin(), k.begin() + 22, [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    });
}

upgrade_refusal refuse(std::string reason, bool wrong_version = false) {
    upgrade_refusal r;
    r.reason = std::move(reason);
    r.response = wrong_version ? "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n"
                               : "HTTP/1.1 400 Bad Request\r\n";
    r.response += "Connection: close\r\nContent-Length: 0\r\n\r\n";
    return r;
}

/// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF), for close
/// reasons (§5.5.1 says they are UTF-8; Autobahn checks it).
bool valid_utf8(std::span<const std::byte> s) noexcept {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<uint8_t>(s[i]);
        size_t n = 0;
        uint32_t cp = 0;
        uint32_t min = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (s.size() - i <= n) return false;
        for (size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<uint8_t>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

/// Codes a peer may send (§7.4.1, §7.4.2 and the IANA registry): not the
/// reserved 1004-1006 and 1015, nothing below 1000 or in 1016-2999.
bool valid_close_code(uint16_t c) noexcept {
    if (c >= 3000 && c <= 4999) return true;
    return c >= 1000 && c <= 1014 && c != 1004 && c != 1005 && c != 1006;
}

} // namespace

std::optional<upgrade_refusal> parse_upgrade(std::string_view request, upgrade_request &out) {
    out = {};
    const size_t line_end = request.find("\r\n");
    if (line_end == std::string_view::npos) return refuse("no request line");
    const std::string_view line = request.substr(0, line_end);
    // "GET <target> HTTP/1.x": the target is ours whatever it is (the
    // reference ignores it too: every path leads to the SPICE link).
    const size_t sp1 = line.find(' ');
    const size_t sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp1 == sp2) return refuse("malformed request line");
    if (line.substr(0, sp1) != "GET") return refuse("not a GET request");
    const std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '1' ||
        version[7] > '9')
        return refuse("not HTTP/1.1");

    bool upgrade = false, connection = false, have_version = false, have_protocol = false;
    std::optional<std::string_view> key;
    std::string_view rest = request.substr(line_end + 2);
    for (;;) {
        const size_t e = rest.find("\r\n");
        if (e == std::string_view::npos) return refuse("headers do not end");
        const std::string_view h = rest.substr(0, e);
        rest.remove_prefix(e + 2);
        if (h.empty()) break;
        if (h.front() == ' ' || h.front() == '\t') return refuse("folded header");
        const size_t colon = h.find(':');
        if (colon == std::string_view::npos || colon == 0) return refuse("malformed header");
        const std::string_view name = h.substr(0, colon);
        const std::string_view value = trim(h.substr(colon + 1));
        if (iequals(name, "Upgrade")) {
            upgrade = upgrade || has_token(value, "websocket");
        } else if (iequals(name, "Connection")) {
            connection = connection || has_token(value, "upgrade");
        } else if (iequals(name, "Sec-WebSocket-Key")) {
            if (key) return refuse("two Sec-WebSocket-Key headers");
            key = value;
        } else if (iequals(name, "Sec-WebSocket-Version")) {
            if (value != "13") return refuse("Sec-WebSocket-Version is not 13", true);
            have_version = true;
        } else if (iequals(name, "Sec-WebSocket-Protocol")) {
            have_protocol = true;
            out.binary_protocol = out.binary_protocol || has_token(value, "binary");
        }
    }
    if (!upgrade) return refuse("no Upgrade: websocket");
    if (!connection) return refuse("no Connection: upgrade");
    if (!have_version) return refuse("no Sec-WebSocket-Version", true);
    if (!key || !valid_key(*key)) return refuse("missing or malformed Sec-WebSocket-Key");
    if (have_protocol && !out.binary_protocol) return refuse("no \"binary\" subprotocol offered");
    out.key = std::string(*key);
    return std::nullopt;
}

std::string accept_key(std::string_view key) {
    std::string in(key);
    in += guid;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char *>(in.data()), in.size(), digest);
    unsigned char b64[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
    const int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<const char *>(b64), static_cast<size_t>(n));
}

std::string upgrade_response(const upgrade_request &req) {
    std::string r = "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: ";
    r += accept_key(req.key);
    r += "\r\n";
    if (req.binary_protocol) r += "Sec-WebSocket-Protocol: binary\r\n";
    r += "\r\n";
    return r;
}

size_t encode_header(std::span<std::byte, max_header_size> out, uint8_t opcode,
                     uint64_t payload_size) noexcept {
    out[0] = std::byte(fin_flag | (opcode & opcode_mask));
    if (payload_size < length_16) {
        out[1] = std::byte(payload_size);
        return 2;
    }
    if (payload_size <= 0xFFFF) {
        out[1] = std::byte(length_16);
        out[2] = std::byte(payload_size >> 8);
        out[3] = std::byte(payload_size & 0xFF);
        return 4;
    }
    out[1] = std::byte(length_64);
    for (int i = 0; i < 8; ++i)
        out[2 + i] = std::byte((payload_size >> (8 * (7 - i))) & 0xFF);
    return 10;
}

// ---- frame_decoder -----------------------------------------------------------

namespace {
frame_decoder::event need_more(size_t consumed) {
    frame_decoder::event ev;
    ev.consumed = consumed;
    return ev;
}
} // namespace

frame_decoder::event frame_decoder::fail(size_t consumed, uint16_t code, const char *why) {
    _failed = true;
    event ev;
    ev.what = event::kind::fail;
    ev.consumed = consumed;
    ev.code = code;
    ev.reason = why;
    return ev;
}

void frame_decoder::unmask_direct(std::span<std::byte> data) noexcept {
    for (auto &b : data) {
        b ^= std::byte(_mask[_mask_pos]);
        _mask_pos = (_mask_pos + 1) & 3;
    }
    _remaining -= std::min<uint64_t>(_remaining, data.size());
    if (_remaining == 0) _in_data = false;
}

frame_decoder::event frame_decoder::decode(std::span<const std::byte> in,
                                           std::span<std::byte> out) {
    size_t used = 0;
    for (;;) {
        if (_failed) return fail(used, close_protocol_error, "frame after a close or an error");
        const size_t avail = in.size() - used;
        if (_in_data) {
            // The one copy: unmask from the receive buffer into the caller's.
            if (avail == 0) return need_more(used);
            const size_t n =
                static_cast<size_t>(std::min<uint64_t>(std::min(avail, out.size()), _remaining));
            for (size_t i = 0; i < n; ++i) {
                out[i] = in[used + i] ^ std::byte(_mask[_mask_pos]);
                _mask_pos = (_mask_pos + 1) & 3;
            }
            _remaining -= n;
            if (_remaining == 0) _in_data = false;
            event ev;
            ev.what = event::kind::data;
            ev.consumed = used + n;
            ev.produced = n;
            return ev;
        }
        if (_in_control) {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(avail, _remaining));
            for (size_t i = 0; i < n; ++i) {
                _ctl[_ctl_len++] = in[used + i] ^ std::byte(_mask[_mask_pos]);
                _mask_pos = (_mask_pos + 1) & 3;
            }
            used += n;
            _remaining -= n;
            if (_remaining > 0) return need_more(used);
            _in_control = false;
            event ev;
            ev.consumed = used;
            ev.payload = std::span<const std::byte>(_ctl.data(), _ctl_len);
            if (_opcode == op_ping) {
                ev.what = event::kind::ping;
            } else if (_opcode == op_pong) {
                ev.what = event::kind::pong;
            } else { // close
                if (_ctl_len == 1) return fail(used, close_protocol_error, "1-byte close payload");
                ev.what = event::kind::close;
                ev.code = close_no_status;
                if (_ctl_len >= 2) {
                    ev.code = static_cast<uint16_t>((std::to_integer<unsigned>(_ctl[0]) << 8) |
                                                    std::to_integer<unsigned>(_ctl[1]));
                    if (!valid_close_code(ev.code))
                        return fail(used, close_protocol_error, "invalid close code");
                    if (!valid_utf8(ev.payload.subspan(2)))
                        return fail(used, close_invalid_payload, "close reason is not UTF-8");
                }
                _failed = true; // nothing may follow a close (§5.5.1)
            }
            return ev;
        }
        // A header: the first two bytes say how long it is.
        const size_t want = [&] {
            if (_hdr_len < 2) return size_t{2};
            const uint8_t len = std::to_integer<uint8_t>(_hdr[1]) & length_mask;
            return size_t{2} + (len == length_16 ? 2 : len == length_64 ? 8 : 0) + 4;
        }();
        const size_t n = std::min(avail, want - _hdr_len);
        std::copy_n(in.begin() + static_cast<ptrdiff_t>(used), n, _hdr.begin() + _hdr_len);
        _hdr_len += n;
        used += n;
        if (_hdr_len < want) return need_more(used);
        if (want == 2) {
            // Check what the first two bytes decide at once, before waiting
            // for more: a peer sending junk is answered without delay.
            const uint8_t b0 = std::to_integer<uint8_t>(_hdr[0]);
            const uint8_t b1 = std::to_integer<uint8_t>(_hdr[1]);
            const uint8_t op = b0 & opcode_mask;
            const bool fin = (b0 & fin_flag) != 0;
            if ((b0 & rsv_mask) != 0)
                return fail(used, close_protocol_error, "RSV bits set without an extension");
            if ((b1 & mask_flag) == 0) return fail(used, close_protocol_error, "unmasked frame");
            switch (op) {
            case op_continuation:
                if (!_in_message)
                    return fail(used, close_protocol_error, "continuation outside a message");
                break;
            case op_text:
            case op_binary:
                if (_in_message)
                    return fail(used, close_protocol_error, "new message inside a fragmented one");
                break;
            case op_close:
            case op_ping:
            case op_pong:
                if (!fin) return fail(used, close_protocol_error, "fragmented control frame");
                if ((b1 & length_mask) > max_control_payload)
                    return fail(used, close_protocol_error, "control frame over 125 bytes");
                break;
            default:
                return fail(used, close_protocol_error, "reserved opcode");
            }
            continue; // now the extended length and the mask
        }
        {
            const uint8_t b0 = std::to_integer<uint8_t>(_hdr[0]);
            const uint8_t len7 = std::to_integer<uint8_t>(_hdr[1]) & length_mask;
            uint64_t len = len7;
            size_t pos = 2;
            if (len7 == length_16) {
                len =
                    (std::to_integer<uint64_t>(_hdr[2]) << 8) | std::to_integer<uint64_t>(_hdr[3]);
                pos = 4;
            } else if (len7 == length_64) {
                len = 0;
                for (size_t i = 0; i < 8; ++i)
                    len = (len << 8) | std::to_integer<uint64_t>(_hdr[2 + i]);
                pos = 10;
                // §5.2: the most significant bit MUST be 0.
                if ((len >> 63) != 0)
                    return fail(used, close_protocol_error, "64-bit length with the top bit set");
            }
            for (size_t i = 0; i < 4; ++i)
                _mask[i] = std::to_integer<uint8_t>(_hdr[pos + i]);
            _mask_pos = 0;
            _hdr_len = 0;
            _opcode = b0 & opcode_mask;
            _remaining = len;
            if ((_opcode & 0x8) != 0) {
                _in_control = true;
                _ctl_len = 0;
            } else {
                // Fragmentation: a FIN frame ends the message it belongs to.
                _in_message = (b0 & fin_flag) == 0;
                _in_data = len > 0; // an empty data frame carries nothing
            }
        }
    }
}

} // namespace ws

// ---- websocket_stream --------------------------------------------------------

websocket_stream::websocket_stream(std::unique_ptr<stream> inner,
                                   std::span<const std::byte> pending)
    : _inner(std::move(inner))
    , _in(std::max(read_chunk, pending.size())) {
    std::copy(pending.begin(), pending.end(), _in.begin());
    _in_end = pending.size();
}

task<result<void>> websocket_stream::send_frame(uint8_t opcode, std::span<const std::byte> payload,
                                                std::stop_token st) {
    co_await _write_lock.lock();
    result<void> r;
    if (_write_error) {
        r = _write_error;
    } else {
        std::array<std::byte, ws::max_header_size> h{};
        const size_t hn = ws::encode_header(h, opcode, payload.size());
        if (payload.size() <= coalesce_limit) {
            // One copy behind the header, one inner write (one TLS record
            // batch, one send).
            _out.resize(hn + payload.size());
            std::copy_n(h.begin(), hn, _out.begin());
            std::copy(payload.begin(), payload.end(), _out.begin() + static_cast<ptrdiff_t>(hn));
            r = co_await _inner->write_all(_out, st);
        } else {
            // Large payloads go out from the caller's buffer, uncopied.
            r = co_await _inner->write_all(std::span(h).first(hn), st);
            if (r) r = co_await _inner->write_all(payload, st);
        }
        if (!r)
            _write_error = r.error();
        else if (opcode == ws::op_close)
            _write_error = make_error_code(errc::eof); // nothing may follow our close
    }
    _write_lock.unlock();
    co_return r;
}

task<result<void>> websocket_stream::write_all(std::span<const std::byte> buf, std::stop_token st) {
    if (buf.empty()) co_return result<void>{};
    co_return co_await send_frame(ws::op_binary, buf, std::move(st));
}

task<result<size_t>> websocket_stream::read_some(std::span<std::byte> buf, std::stop_token st) {
    if (buf.empty()) co_return size_t{0};
    if (_read_error) co_return _read_error;
    for (;;) {
        if (_in_pos == _in_end) {
            // Nothing buffered inside a frame: its payload goes straight
            // into the caller's buffer and is unmasked there.
            if (const uint64_t rem = _decoder.data_remaining(); rem > 0) {
                const auto dst =
                    buf.first(static_cast<size_t>(std::min<uint64_t>(buf.size(), rem)));
                auto n = co_await _inner->read_some(dst, st);
                if (!n) {
                    if (n.error() != errc::cancelled) _read_error = n.error();
                    co_return n.error();
                }
                _decoder.unmask_direct(dst.first(*n));
                co_return *n;
            }
            auto n = co_await _inner->read_some(_in, st);
            if (!n) {
                if (n.error() != errc::cancelled) _read_error = n.error();
                co_return n.error();
            }
            _in_pos = 0;
            _in_end = *n;
        }
        const auto ev = _decoder.decode(std::span(_in).subspan(_in_pos, _in_end - _in_pos), buf);
        _in_pos += ev.consumed;
        using kind = ws::frame_decoder::event::kind;
        switch (ev.what) {
        case kind::need_more:
        case kind::pong:
            break;
        case kind::data:
            co_return ev.produced;
        case kind::ping: {
            // Copied: the decoder's buffer is reused by the next frame.
            std::array<std::byte, ws::max_control_payload> p{};
            std::copy(ev.payload.begin(), ev.payload.end(), p.begin());
            auto r = co_await send_frame(ws::op_pong, std::span(p).first(ev.payload.size()), st);
            if (!r) co_return r.error();
            break;
        }
        case kind::close: {
            // Echo the status code (§5.5.1), then the stream is over.
            std::array<std::byte, 2> code{};
            const size_t cn = ev.code == ws::close_no_status ? 0 : 2;
            std::copy_n(ev.payload.begin(), cn, code.begin());
            RS_LOG_DEBUG("websocket", "fd {}: peer closed ({})", fd(), ev.code);
            (void)co_await send_frame(ws::op_close, std::span(code).first(cn), st);
            _read_error = make_error_code(errc::eof);
            co_return _read_error;
        }
        case kind::fail: {
            RS_LOG_RATELIMITED("websocket", "fd {}: {}; closing with {}", fd(), ev.reason, ev.code);
            const std::array<std::byte, 2> code{std::byte(ev.code >> 8), std::byte(ev.code & 0xFF)};
            (void)co_await send_frame(ws::op_close, code, st);
            _read_error = make_error_code(errc::protocol);
            co_return _read_error;
        }
        }
    }
}

// ---- the upgrade -------------------------------------------------------------

task<result<std::unique_ptr<stream>>> websocket_accept(std::unique_ptr<stream> inner,
                                                       std::span<const std::byte> already_read,
                                                       std::stop_token st) {
    std::string req(reinterpret_cast<const char *>(already_read.data()), already_read.size());
    std::array<std::byte, 1024> chunk{};
    size_t end = std::string::npos;
    // Read to the blank line; what follows it is the client's first frames.
    while ((end = req.find("\r\n\r\n")) == std::string::npos) {
        if (req.size() >= ws::max_request_size) {
            RS_LOG_RATELIMITED("websocket", "fd {}: HTTP request over {} bytes; refused",
                               inner->fd(), ws::max_request_size);
            const std::string_view resp = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                          "Connection: close\r\nContent-Length: 0\r\n\r\n";
            (void)co_await inner->write_all(std::as_bytes(std::span(resp)), st);
            co_return errc::protocol;
        }
        const size_t room = std::min(chunk.size(), ws::max_request_size - req.size());
        auto n = co_await inner->read_some(std::span(chunk).first(room), st);
        if (!n) {
            RS_LOG_DEBUG("websocket", "fd {}: upgrade request not read: {}", inner->fd(),
                         n.error().message());
            co_return n.error();
        }
        req.append(reinterpret_cast<const char *>(chunk.data()), *n);
    }
    ws::upgrade_request up;
    if (auto refusal = ws::parse_upgrade(std::string_view(req).substr(0, end + 4), up)) {
        RS_LOG_RATELIMITED("websocket", "fd {}: not a WebSocket upgrade ({}); refused", inner->fd(),
                           refusal->reason);
        (void)co_await inner->write_all(std::as_bytes(std::span(refusal->response)), st);
        co_return errc::protocol;
    }
    const std::string resp = ws::upgrade_response(up);
    if (auto w = co_await inner->write_all(std::as_bytes(std::span(resp)), st); !w)
        co_return w.error();
    RS_LOG_DEBUG("websocket", "fd {}: WebSocket upgrade done{}", inner->fd(),
                 up.binary_protocol ? " (binary)" : "");
    const auto pending = std::as_bytes(std::span(req)).subspan(end + 4);
    co_return std::unique_ptr<stream>(
        std::make_unique<websocket_stream>(std::move(inner), pending));
}

} // namespace rs
