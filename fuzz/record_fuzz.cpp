// Client message parser of the record channel on arbitrary bytes, and the
// Opus decoder fed whatever DATA payload those bytes carry. Input: u16 LE
// message type, one byte choosing strict or lenient trailing-byte handling
// (bit 0) and whether DATA goes through the Opus decoder (bit 1), then the
// body. A parse that succeeds must never claim bytes beyond the body, and a
// decode must never yield more frames than the buffer holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "sound/opus_codec.hpp"
#include "sound/sound_messages.hpp"

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

    const auto m = rs::parse_record_client_message(type, body, extra);
    if (const auto *d = std::get_if<rs::msgc::record_data>(&m)) {
        check(body.size() >= 4 && d->data.size() == body.size() - 4);
        check_within(d->data, body);
        if (mode & 2) {
            static auto dec = rs::opus_decoder::create(48000);
            check(dec.ok());
            std::vector<uint32_t> out(rs::opus_max_decoded_samples);
            auto n = dec->decode(d->data, out);
            if (n) check(*n <= out.size());
        }
    } else if (const auto *md = std::get_if<rs::msgc::record_mode>(&m)) {
        check(body.size() >= 6 && md->data.size() == body.size() - 6);
        check_within(md->data, body);
    } else if (std::holds_alternative<rs::msgc::record_start_mark>(m)) {
        check(extra == rs::extra_bytes::reject ? body.size() == 4 : body.size() >= 4);
    } else {
        check(std::holds_alternative<rs::parse_error>(m));
    }
    return 0;
}
