// The passive link measurement behind the AUTO WAN settings: the decision
// rules, the kernel's delivery rate on a real loopback socket whose reader
// is slow, and the image sender turning JPEG on for a photo over such a
// link (and not over a fast one).
#include <gtest/gtest.h>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include <spice/enums.h>

#include "display/image_sender.hpp"
#include "reds/link_rate.hpp"

namespace rs {
namespace {

constexpr uint64_t mbit = 1000 * 1000 / 8; // bytes per second in one Mbit/s

TEST(BandwidthMonitor, StartsFastAndTurnsLowOnlyOnAFullLinkBelowTheThreshold) {
    bandwidth_monitor m;
    EXPECT_FALSE(m.low());
    // App-limited: the sender had nothing more to send; says nothing.
    EXPECT_FALSE(m.add({.bytes_per_sec = 1 * mbit, .app_limited = true}));
    EXPECT_FALSE(m.low());
    EXPECT_TRUE(m.add({.bytes_per_sec = 2 * mbit, .app_limited = false}));
    EXPECT_TRUE(m.low());
    EXPECT_EQ(m.last_bits_per_sec(), 2 * mbit * 8);
    // Between the threshold and 1.25 × it: no change either way.
    EXPECT_FALSE(m.add({.bytes_per_sec = 11 * 1024 * 1024 / 8, .app_limited = false}));
    EXPECT_TRUE(m.low());
    // A lower bound above 1.25 × the threshold proves a fast link.
    EXPECT_TRUE(m.add({.bytes_per_sec = 100 * mbit, .app_limited = true}));
    EXPECT_FALSE(m.low());
}

TEST(LinkRate, NotATcpSocketGivesNoSample) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT_FALSE(read_link_rate(sv[0]).has_value());
    EXPECT_FALSE(read_link_rate(-1).has_value());
    ::close(sv[0]);
    ::close(sv[1]);
}

/// A loopback TCP connection whose client side reads `chunk` bytes every
/// `pause` (0: as fast as it can) on a thread, with a small receive buffer
/// so that a slow reader limits the sender.
class tcp_pair {
  public:
    tcp_pair(size_t chunk, std::chrono::milliseconds pause) {
        const int l = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        EXPECT_EQ(::bind(l, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
        EXPECT_EQ(::getsockname(l, reinterpret_cast<sockaddr *>(&a), &len), 0);
        EXPECT_EQ(::listen(l, 1), 0);
        _client = ::socket(AF_INET, SOCK_STREAM, 0);
        const int rcvbuf = 16384;
        ::setsockopt(_client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        EXPECT_EQ(::connect(_client, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
        _server = ::accept(l, nullptr, nullptr);
        ::close(l);
        _reader = std::thread([this, chunk, pause] {
            std::vector<char> b(chunk);
            while (::read(_client, b.data(), b.size()) > 0)
                if (pause.count() > 0) std::this_thread::sleep_for(pause);
        });
    }
    ~tcp_pair() {
        ::shutdown(_server, SHUT_RDWR);
        ::close(_server);
        _reader.join();
        ::close(_client);
    }
    int server() const noexcept { return _server; }
    /// Writes `bytes` on the server side, then waits (at most 10 s) until
    /// the reader has taken half of them, so the kernel's rate sample comes
    /// from ACKs paced by the reader rather than from the first burst.
    void send(size_t bytes) {
        std::vector<char> data(bytes, 'x');
        size_t off = 0;
        while (off < data.size()) {
            const ssize_t n = ::write(_server, data.data() + off, data.size() - off);
            ASSERT_GT(n, 0);
            off += static_cast<size_t>(n);
        }
        for (int i = 0; i < 1000; ++i) {
            int queued = 0;
            ASSERT_EQ(::ioctl(_server, SIOCOUTQ, &queued), 0);
            if (static_cast<size_t>(queued) <= bytes / 2) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        FAIL() << "the reader did not take half of " << bytes << " bytes in 10 s";
    }

  private:
    int _server = -1;
    int _client = -1;
    std::thread _reader;
};

TEST(LinkRate, ASlowReaderShowsAsAFullLinkBelowTenMegabits) {
    // 2 KiB every 25 ms: 0.65 Mbit/s on average. The kernel's sample runs
    // higher (a reader's drain lets a window's burst through at once) but
    // stays far below 10 Mbit/s.
    tcp_pair p(2048, std::chrono::milliseconds(25));
    p.send(128 * 1024);
    const auto s = read_link_rate(p.server());
    ASSERT_TRUE(s.has_value());
    EXPECT_FALSE(s->app_limited);
    EXPECT_LT(s->bytes_per_sec * 8, bandwidth_monitor::low_bits_per_sec);
    bandwidth_monitor m;
    m.add(*s);
    EXPECT_TRUE(m.low());
}

TEST(LinkRate, AFastReaderIsNotLowBandwidth) {
    tcp_pair p(65536, std::chrono::milliseconds(0));
    p.send(4 * 1024 * 1024);
    const auto s = read_link_rate(p.server());
    ASSERT_TRUE(s.has_value());
    bandwidth_monitor m;
    m.add(*s);
    EXPECT_FALSE(m.low()) << s->bytes_per_sec * 8 << " bit/s";
}

/// A 256×256 photo-like RGB32 image (smooth sinusoids and grain), which the
/// graduality classifier calls a photo, drawn by a plain COPY.
struct photo_drawable {
    std::vector<uint8_t> pixels;
    draw::drawable d;

    photo_drawable() {
        constexpr uint32_t w = 256, h = 256;
        pixels.resize(size_t{w} * h * 4);
        uint32_t noise = 12345;
        for (uint32_t y = 0; y < h; ++y)
            for (uint32_t x = 0; x < w; ++x) {
                noise = noise * 1103515245 + 12345;
                const int grain = static_cast<int>((noise >> 16) % 9) - 4;
                uint8_t *px = &pixels[(size_t{y} * w + x) * 4];
                px[0] = static_cast<uint8_t>(120 + 100 * std::sin(x / 23.0) + grain);
                px[1] = static_cast<uint8_t>(120 + 100 * std::cos(y / 31.0) + grain);
                px[2] = static_cast<uint8_t>(120 + 60 * std::sin((x + y) / 17.0) + grain);
                px[3] = 0;
            }
        auto img = std::make_shared<draw::image>();
        img->id = 1;
        img->width = w;
        img->height = h;
        draw::bitmap bmp;
        bmp.format = SPICE_BITMAP_FMT_32BIT;
        bmp.flags = SPICE_BITMAP_FLAGS_TOP_DOWN;
        bmp.width = w;
        bmp.height = h;
        bmp.stride = w * 4;
        bmp.data.parts.emplace_back(pixels.data(), pixels.size());
        img->payload = std::move(bmp);
        draw::copy c;
        c.src = img;
        c.src_area = {0, 0, static_cast<int32_t>(w), static_cast<int32_t>(h)};
        d.bbox = c.src_area;
        d.op = c;
    }
};

uint64_t jpeg_images_over(tcp_pair &p, size_t prime_bytes) {
    image_settings s; // AUTO_GLZ, JPEG AUTO, ZLIB_GLZ AUTO: the defaults
    image_sender sender(s, false, true);
    sender.set_socket(p.server());
    p.send(prime_bytes); // what the link carried so far (the first picture)
    photo_drawable photo;
    sender.prepare(photo.d);
    return sender.images_sent()[SPICE_IMAGE_TYPE_JPEG];
}

TEST(LinkRate, AutoJpegIsUsedForAPhotoOverASlowLinkOnly) {
    {
        tcp_pair slow(2048, std::chrono::milliseconds(25));
        EXPECT_EQ(jpeg_images_over(slow, 128 * 1024), 1u);
    }
    {
        tcp_pair fast(65536, std::chrono::milliseconds(0));
        EXPECT_EQ(jpeg_images_over(fast, 4 * 1024 * 1024), 0u);
    }
}

} // namespace
} // namespace rs
