// Feeds the input to the WebSocket layer as a client's bytes: the first
// byte picks how the input is cut (chunk sizes for the decoder's input and
// output, so every split of a frame is tried), then the rest goes through
// ws::parse_upgrade up to a blank line (when there is one) and the frame
// decoder after it, as websocket_stream drives them. Checks the decoder's
// contract: it consumes no more than it was given, produces no more than
// room, and never reports data after a close or a failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "reds/websocket.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const size_t in_chunk = 1 + (data[0] & 0x0F) * 7;
    const size_t out_chunk = 1 + (data[0] >> 4) * 97;
    std::span<const std::byte> in(reinterpret_cast<const std::byte *>(data + 1), size - 1);

    // An upgrade request when the input starts like one.
    const std::string_view text(reinterpret_cast<const char *>(in.data()), in.size());
    if (text.starts_with("GET ")) {
        const size_t end = text.find("\r\n\r\n");
        if (end != std::string_view::npos && end + 4 <= rs::ws::max_request_size) {
            rs::ws::upgrade_request up;
            if (!rs::ws::parse_upgrade(text.substr(0, end + 4), up)) {
                const auto resp = rs::ws::upgrade_response(up);
                if (!resp.ends_with("\r\n\r\n")) std::abort();
            }
            in = in.subspan(end + 4);
        }
    }

    rs::ws::frame_decoder d;
    std::vector<std::byte> out(out_chunk);
    bool ended = false;
    while (!in.empty()) {
        auto piece = in.first(std::min(in_chunk, in.size()));
        in = in.subspan(piece.size());
        size_t used = 0;
        for (;;) {
            // The stream's direct path: nothing buffered, payload pending.
            if (used == piece.size()) break;
            auto ev = d.decode(piece.subspan(used), out);
            if (ev.consumed > piece.size() - used) std::abort();
            used += ev.consumed;
            using kind = rs::ws::frame_decoder::event::kind;
            if (ev.what == kind::need_more) {
                if (used != piece.size()) std::abort();
                break;
            }
            if (ev.what == kind::data) {
                if (ended || ev.produced == 0 || ev.produced > out.size()) std::abort();
                continue;
            }
            if (ev.payload.size() > rs::ws::max_control_payload) std::abort();
            if (ev.what == kind::fail || ev.what == kind::close) {
                ended = true;
                break;
            }
        }
        if (ended) break;
        // Alternate with the direct path, as read_some does when its buffer
        // is empty inside a frame.
        if (const uint64_t rem = d.data_remaining(); rem > 0 && !in.empty()) {
            std::vector<std::byte> direct(
                in.begin(), in.begin() + static_cast<ptrdiff_t>(
                                             std::min<uint64_t>({rem, in.size(), out_chunk})));
            d.unmask_direct(direct);
            if (d.data_remaining() != rem - direct.size()) std::abort();
            in = in.subspan(direct.size());
        }
    }
    return 0;
}
