#include "sound/opus_codec.hpp"

#include <opus/opus.h>

#include <utility>

#include "runtime/log.hpp"

namespace rs {

namespace {
constexpr int channels = 2;
} // namespace

bool opus_rate_supported(uint32_t hz) noexcept {
    return hz == 48000 || hz == 24000 || hz == 16000 || hz == 12000 || hz == 8000;
}

uint32_t opus_frame_samples(uint32_t hz) noexcept {
    return hz == 16000 ? 320 : audio_frame_samples;
}

// ---- encoder -----------------------------------------------------------------

result<opus_encoder> opus_encoder::create(uint32_t hz) {
    if (!opus_rate_supported(hz)) return errc::not_supported;
    int err = OPUS_OK;
    OpusEncoder *e =
        opus_encoder_create(static_cast<opus_int32>(hz), channels, OPUS_APPLICATION_AUDIO, &err);
    if (e == nullptr || err != OPUS_OK) {
        RS_LOG_WARN("sound", "opus encoder at {} Hz: {}", hz, opus_strerror(err));
        if (e != nullptr) opus_encoder_destroy(e);
        return errc::not_supported;
    }
    return opus_encoder(e, hz);
}

opus_encoder::opus_encoder(opus_encoder &&o) noexcept
    : _enc(std::exchange(o._enc, nullptr))
    , _hz(o._hz) {}

opus_encoder &opus_encoder::operator=(opus_encoder &&o) noexcept {
    if (this != &o) {
        if (_enc != nullptr) opus_encoder_destroy(_enc);
        _enc = std::exchange(o._enc, nullptr);
        _hz = o._hz;
    }
    return *this;
}

opus_encoder::~opus_encoder() {
    if (_enc != nullptr) opus_encoder_destroy(_enc);
}

result<size_t> opus_encoder::encode(std::span<const uint32_t> pcm, std::span<uint8_t> out) {
    const uint32_t n = opus_frame_samples(_hz);
    if (_enc == nullptr || pcm.size() < n) return errc::protocol;
    // u32 frames are two interleaved little-endian S16 samples, which is
    // how opus_int16 pairs lie in memory on the hosts we build for.
    const int r = opus_encode(_enc, reinterpret_cast<const opus_int16 *>(pcm.data()),
                              static_cast<int>(n), out.data(), static_cast<opus_int32>(out.size()));
    if (r < 0) {
        RS_LOG_RATELIMITED("sound", "opus_encode: {}", opus_strerror(r));
        return errc::protocol;
    }
    return static_cast<size_t>(r);
}

// ---- decoder -----------------------------------------------------------------

result<opus_decoder> opus_decoder::create(uint32_t hz) {
    if (!opus_rate_supported(hz)) return errc::not_supported;
    int err = OPUS_OK;
    OpusDecoder *d = opus_decoder_create(static_cast<opus_int32>(hz), channels, &err);
    if (d == nullptr || err != OPUS_OK) {
        RS_LOG_WARN("sound", "opus decoder at {} Hz: {}", hz, opus_strerror(err));
        if (d != nullptr) opus_decoder_destroy(d);
        return errc::not_supported;
    }
    return opus_decoder(d);
}

opus_decoder::opus_decoder(opus_decoder &&o) noexcept
    : _dec(std::exchange(o._dec, nullptr)) {}

opus_decoder &opus_decoder::operator=(opus_decoder &&o) noexcept {
    if (this != &o) {
        if (_dec != nullptr) opus_decoder_destroy(_dec);
        _dec = std::exchange(o._dec, nullptr);
    }
    return *this;
}

opus_decoder::~opus_decoder() {
    if (_dec != nullptr) opus_decoder_destroy(_dec);
}

result<size_t> opus_decoder::decode(std::span<const uint8_t> packet, std::span<uint32_t> out) {
    // An empty packet would ask libopus for loss concealment; from a client
    // it is just a bad message.
    if (_dec == nullptr || packet.empty()) return errc::protocol;
    const int r =
        opus_decode(_dec, packet.data(), static_cast<opus_int32>(packet.size()),
                    reinterpret_cast<opus_int16 *>(out.data()), static_cast<int>(out.size()), 0);
    if (r < 0) return errc::protocol;
    return static_cast<size_t>(r);
}

} // namespace rs
