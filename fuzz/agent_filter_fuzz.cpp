// The agent filter, the capability rewrite and the MONITORS_CONFIG
// assembler on arbitrary pieces, as the agent pipe drives them with bytes
// from a client or the guest agent. Input: one settings byte (bit 0
// copypaste, 1 file transfer, 2 client monitors config, 3 discard all),
// then pieces, each a u16 LE length and that many bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "reds/agent_filter.hpp"
#include "reds/wire.hpp"

namespace {

void check(bool cond) {
    if (!cond) std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rs::wire::reader r(std::span<const uint8_t>(data, size));
    const uint8_t mode = r.u8();
    if (!r.ok()) return 0;
    const rs::agent_filter_settings s{.copypaste = (mode & 1) != 0,
                                      .file_xfer = (mode & 2) != 0,
                                      .client_monitors_config = (mode & 4) != 0};
    const bool discard_all = (mode & 8) != 0;
    rs::agent_filter filter(s, discard_all);
    rs::monitors_config_assembler monitors;
    int pieces = 0;
    while (r.remaining() >= 2 && pieces++ < 256) {
        const uint16_t len = r.u16();
        const auto in = r.bytes(std::min<size_t>(len, r.remaining()));
        std::vector<uint8_t> piece(in.begin(), in.end());
        const bool starts = !filter.mid_message();
        const auto v = filter.process(piece);
        if (piece.size() > rs::agent_filter::max_piece_size)
            check(v == rs::agent_verdict::protocol_error);
        if (v == rs::agent_verdict::protocol_error) {
            filter.reset(s, discard_all);
            monitors.reset();
            continue;
        }
        if (discard_all) check(v == rs::agent_verdict::discard);
        if (v == rs::agent_verdict::forward && starts) {
            const auto before = piece;
            const auto cap = rs::rewrite_agent_capabilities(piece, s);
            check(piece.size() == before.size());
            // Nothing to hide: the message goes through untouched.
            if (s.copypaste && s.file_xfer) check(piece == before);
            if (!cap) check(piece == before);
        }
        if (v == rs::agent_verdict::monitors_config) {
            const auto st = monitors.append(piece);
            if (st == rs::monitors_config_assembler::status::complete) {
                const VDAgentMonitorsConfig *c = monitors.config();
                check(c != nullptr);
                const uint32_t n = c->num_of_monitors;
                check(n == monitors.num_monitors());
                check(n <= rs::monitors_config_assembler::max_monitors);
            } else {
                check(monitors.config() == nullptr);
            }
        }
    }
    return 0;
}
