// Client message parser of the spicevmc channels (usbredir, port, webdav) on
// arbitrary bytes, the LZ4 decoder fed whatever COMPRESSED_DATA those bytes
// carry, and the USB policy's usbredir watch. Input: u16 LE message type,
// one mode byte, then the body. Mode bit 0: lenient trailing bytes. Bit 1:
// the body goes to a usbredir_watch instead: its first byte n, then n bytes
// from the guest, then the client's bytes fed in chunks of (mode >> 2) + 1.
// A parse that succeeds must never claim bytes beyond the body; a decode
// that succeeds yields exactly the announced size, within the cap, and
// compressing that output again must round-trip; a device the watch reports
// has at most 32 interfaces.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "usbredir/spicevmc_messages.hpp"
#include "usbredir/usb_policy.hpp"

namespace {

using rs::fuzz::check;
using rs::fuzz::check_within;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const auto in = rs::fuzz::frame(data, size);
    if (!in) return 0;
    const uint16_t type = in->type;
    const uint8_t mode = in->mode;
    const auto body = in->body;
    const auto extra = in->extra;

    if (mode & 2) {
        rs::wire::reader b(body);
        const size_t n = b.u8();
        const auto guest = b.bytes(std::min(n, b.remaining()));
        auto client = b.rest();
        rs::usbredir_watch w;
        w.from_guest(guest);
        const size_t chunk = static_cast<size_t>(mode >> 2) + 1;
        while (!client.empty()) {
            const size_t k = std::min(chunk, client.size());
            auto found = w.from_client(client.first(k));
            if (!found) break;
            for (const auto &dev : *found) {
                check(dev.interface_class.size() <= 32);
                check(dev.interface_class.size() == dev.interface_subclass.size());
                check(dev.interface_class.size() == dev.interface_protocol.size());
            }
            client = client.subspan(k);
        }
        return 0;
    }

    const auto m = rs::parse_spicevmc_client_message(type, body, extra);
    if (const auto *d = std::get_if<rs::msgc::spicevmc_data>(&m)) {
        check(d->data.size() == body.size());
        check_within(d->data, body);
    } else if (const auto *c = std::get_if<rs::msgc::spicevmc_compressed_data>(&m)) {
        const size_t fixed = c->compression == SPICE_DATA_COMPRESSION_TYPE_NONE ? 1 : 5;
        check(body.size() >= fixed && c->data.size() == body.size() - fixed);
        check_within(c->data, body);
        auto out = rs::vmc_decompress(*c);
        if (out) {
            check(c->compression == SPICE_DATA_COMPRESSION_TYPE_LZ4);
            check(out->size() == c->uncompressed_size);
            check(out->size() <= rs::vmc_max_client_message);
            if (auto again = rs::vmc_compress(*out)) {
                rs::msgc::spicevmc_compressed_data back{
                    .compression = SPICE_DATA_COMPRESSION_TYPE_LZ4,
                    .uncompressed_size = static_cast<uint32_t>(out->size()),
                    .data = *again};
                auto round = rs::vmc_decompress(back);
                check(round.ok() && *round == *out);
            }
        }
    } else if (std::holds_alternative<rs::msgc::port_event>(m)) {
        check(extra == rs::extra_bytes::reject ? body.size() == 1 : body.size() >= 1);
    } else {
        check(std::holds_alternative<rs::parse_error>(m));
    }
    return 0;
}
