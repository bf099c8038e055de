// Opus for the sound channels, with the parameters spice-common's snd_codec
// uses (and so what spice-gtk expects): S16 interleaved stereo,
// OPUS_APPLICATION_AUDIO, at most 480 bytes per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "runtime/result.hpp"

struct OpusEncoder;
struct OpusDecoder;

namespace rs {

/// Stereo frames (u32 each: two S16 samples) per playback DATA message.
inline constexpr uint32_t audio_frame_samples = 480;
/// The largest Opus packet sent (SND_CODEC_OPUS_COMPRESSED_FRAME_BYTES).
inline constexpr size_t opus_max_packet_bytes = 480;
/// The most stereo frames one received Opus packet may decode to (120 ms at
/// 48 kHz, Opus's longest packet), so a record buffer is bounded.
inline constexpr uint32_t opus_max_decoded_samples = 5760;

/// True for the rates Opus runs at (48000, 24000, 16000, 12000, 8000), the
/// ones for which the reference advertises and uses Opus.
bool opus_rate_supported(uint32_t hz) noexcept;

/// Stereo frames per Opus packet at `hz`: 480 as in the reference (10 ms at
/// 48 kHz), except at 16 kHz where 480 would be 30 ms, a duration Opus
/// cannot encode; there 320 (20 ms).
uint32_t opus_frame_samples(uint32_t hz) noexcept;

/// One Opus encoder (stereo). Owns the libopus state; single-threaded.
class opus_encoder {
  public:
    /// An encoder at `hz`, or an error when libopus refuses the rate.
    static result<opus_encoder> create(uint32_t hz);
    opus_encoder(opus_encoder &&o) noexcept;
    opus_encoder &operator=(opus_encoder &&o) noexcept;
    ~opus_encoder();

    /// Encodes opus_frame_samples(rate) stereo frames of `pcm` into `out`;
    /// the packet's size, or an error.
    result<size_t> encode(std::span<const uint32_t> pcm, std::span<uint8_t> out);
    uint32_t rate() const noexcept { return _hz; }

  private:
    opus_encoder(OpusEncoder *e, uint32_t hz) noexcept
        : _enc(e)
        , _hz(hz) {}
    OpusEncoder *_enc = nullptr;
    uint32_t _hz = 0;
};

/// One Opus decoder (stereo). Owns the libopus state; single-threaded.
class opus_decoder {
  public:
    static result<opus_decoder> create(uint32_t hz);
    opus_decoder(opus_decoder &&o) noexcept;
    opus_decoder &operator=(opus_decoder &&o) noexcept;
    ~opus_decoder();

    /// Decodes one packet into `out` (stereo frames); how many frames, or
    /// an error for a packet libopus rejects or that does not fit.
    result<size_t> decode(std::span<const uint8_t> packet, std::span<uint32_t> out);

  private:
    explicit opus_decoder(OpusDecoder *d) noexcept
        : _dec(d) {}
    OpusDecoder *_dec = nullptr;
};

} // namespace rs
