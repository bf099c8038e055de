#include "reds/sasl.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <sasl/sasl.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/io.hpp"
#include "runtime/socket.hpp"
#include "support/run_task.hpp"

namespace {

using rs::task;
using rs::testing::run_task;

constexpr const char *app = "ringspice-sasl-test";
constexpr const char *user = "alice";
constexpr const char *password = "wonderland";

/// Points Cyrus at a private config (<app>.conf: sasldb auxprop in a temp
/// dir, PLAIN and DIGEST-MD5 only) and creates the test user through the
/// SASL API, before anything initialises the library.
class Sasl : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "rs-sasl-XXXXXX").string();
        const std::filesystem::path dir = ::mkdtemp(tmpl.data());
        std::ofstream(dir / (std::string(app) + ".conf"))
            << "pwcheck_method: auxprop\n"
            << "auxprop_plugin: sasldb\n"
            << "sasldb_path: " << (dir / "sasldb").string() << "\n"
            << "mech_list: PLAIN DIGEST-MD5\n";
        static std::string conf_dir = dir.string(); // Cyrus keeps the pointer
        ASSERT_EQ(sasl_set_path(SASL_PATH_TYPE_CONFIG, conf_dir.data()), SASL_OK);
        ASSERT_TRUE(rs::sasl_init(app).ok());
        ASSERT_EQ(sasl_client_init(nullptr), SASL_OK);

        sasl_conn_t *conn = nullptr;
        ASSERT_EQ(sasl_server_new("spice", nullptr, nullptr, nullptr, nullptr, nullptr, 0, &conn),
                  SASL_OK);
        const int err = sasl_setpass(conn, user, password, static_cast<unsigned>(strlen(password)),
                                     nullptr, 0, SASL_SET_CREATE);
        EXPECT_EQ(err, SASL_OK) << sasl_errdetail(conn);
        sasl_dispose(&conn);
    }
};

/// A socket stream that says it is TLS with a 256-bit cipher: SASL runs over
/// TLS only, and the bytes on the socket are what matter here.
class pretend_tls_stream final : public rs::stream {
  public:
    using stream::stream;
    task<rs::result<size_t>> read_some(std::span<std::byte> buf, std::stop_token st) override {
        co_return co_await rs::recv(fd(), buf, std::move(st));
    }
    task<rs::result<void>> write_all(std::span<const std::byte> buf, std::stop_token st) override {
        co_return co_await rs::send_all(fd(), buf, std::move(st));
    }
    bool is_tls() const noexcept override { return true; }
    int ssf() const noexcept override { return 256; }
};

struct socket_pair {
    rs::fd_handle server, client;
    socket_pair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        server.reset(fds[0]);
        client.reset(fds[1]);
    }
};

/// Runs sasl_authenticate on the server end as the link coroutine would; the
/// stream (and its socket) is gone when this returns, so the client sees EOF.
rs::result<void> serve(rs::fd_handle fd, bool tls = true) {
    return run_task([](rs::fd_handle f, bool over_tls) -> task<rs::result<void>> {
        std::unique_ptr<rs::stream> s;
        if (over_tls)
            s = std::make_unique<pretend_tls_stream>(std::move(f));
        else
            s = std::make_unique<rs::plain_stream>(std::move(f));
        rs::sasl_settings settings;
        settings.appname = app;
        settings.local_address = "127.0.0.1;5901";
        settings.remote_address = "127.0.0.1;40000";
        settings.is_tls = s->is_tls();
        settings.ssf = s->ssf();
        co_return co_await rs::sasl_authenticate(*s, settings, {});
    }(std::move(fd), tls));
}

// ---- a blocking client speaking spice-gtk's side of the exchange ------------

bool write_all(int fd, const void *p, size_t n) {
    const auto *b = static_cast<const char *>(p);
    while (n > 0) {
        const ssize_t w = ::write(fd, b, n);
        if (w <= 0) return false;
        b += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}
bool read_all(int fd, void *p, size_t n) {
    auto *b = static_cast<char *>(p);
    while (n > 0) {
        const ssize_t r = ::read(fd, b, n);
        if (r <= 0) return false;
        b += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}
bool write_u32(int fd, uint32_t v) {
    const uint8_t le[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
    return write_all(fd, le, 4);
}
bool read_u32(int fd, uint32_t &v) {
    uint8_t le[4];
    if (!read_all(fd, le, 4)) return false;
    v = le[0] | (uint32_t(le[1]) << 8) | (uint32_t(le[2]) << 16) | (uint32_t(le[3]) << 24);
    return true;
}
bool write_payload(int fd, const char *data, unsigned len) {
    if (data == nullptr) return write_u32(fd, 0);
    return write_u32(fd, len + 1) && write_all(fd, data, len) && write_all(fd, "", 1);
}
/// Reads a server payload (NUL stripped) and the complete flag.
bool read_reply(int fd, std::string &data, bool &has_data, uint8_t &complete) {
    uint32_t len = 0;
    if (!read_u32(fd, len) || len > rs::sasl_max_data_length) return false;
    data.assign(len, '\0');
    if (!read_all(fd, data.data(), len)) return false;
    has_data = len > 0;
    if (has_data) data.pop_back();
    return read_all(fd, &complete, 1);
}

int get_simple(void *, int id, const char **result, unsigned *len) {
    if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER) return SASL_FAIL;
    *result = user;
    if (len != nullptr) *len = static_cast<unsigned>(strlen(user));
    return SASL_OK;
}
int get_secret(sasl_conn_t *, void *ctx, int id, sasl_secret_t **out) {
    if (id != SASL_CB_PASS) return SASL_FAIL;
    const auto *pass = static_cast<const std::string *>(ctx);
    static thread_local std::vector<unsigned char> buf;
    buf.assign(sizeof(sasl_secret_t) + pass->size() + 1, 0);
    auto *secret = reinterpret_cast<sasl_secret_t *>(buf.data());
    secret->len = pass->size();
    std::memcpy(secret->data, pass->data(), pass->size());
    *out = secret;
    return SASL_OK;
}

struct client_outcome {
    std::string offered;
    bool accepted = false;
};

client_outcome sasl_client(int fd, const char *mech, std::string pass) {
    client_outcome out;
    // Cyrus stores every callback as int (*)(); void (*)() is the cast GCC
    // accepts between unrelated function types.
    using sasl_fn = int (*)();
    auto fn = [](auto *f) { return reinterpret_cast<sasl_fn>(reinterpret_cast<void (*)()>(f)); };
    sasl_callback_t callbacks[] = {
        {SASL_CB_AUTHNAME, fn(get_simple), nullptr},
        {SASL_CB_USER, fn(get_simple), nullptr},
        {SASL_CB_PASS, fn(get_secret), &pass},
        {SASL_CB_LIST_END, nullptr, nullptr},
    };
    sasl_conn_t *conn = nullptr;
    if (sasl_client_new("spice", "localhost", nullptr, nullptr, callbacks, 0, &conn) != SASL_OK)
        return out;
    std::unique_ptr<sasl_conn_t, void (*)(sasl_conn_t *)> guard(
        conn, [](sasl_conn_t *c) { sasl_dispose(&c); });

    uint32_t len = 0;
    if (!read_u32(fd, len) || len > 4096) return out;
    out.offered.assign(len, '\0');
    if (!read_all(fd, out.offered.data(), len)) return out;

    const char *client_out = nullptr;
    unsigned client_len = 0;
    const char *chosen = nullptr;
    int err = sasl_client_start(conn, mech, nullptr, &client_out, &client_len, &chosen);
    if (err != SASL_OK && err != SASL_CONTINUE) return out;
    if (!write_u32(fd, static_cast<uint32_t>(strlen(chosen))) ||
        !write_all(fd, chosen, strlen(chosen)) || !write_payload(fd, client_out, client_len))
        return out;

    for (;;) {
        std::string data;
        bool has_data = false;
        uint8_t complete = 0;
        if (!read_reply(fd, data, has_data, complete)) return out;
        if (complete != 0) {
            // The server is done; the client still checks what it sent (mutual auth).
            if (err == SASL_CONTINUE &&
                sasl_client_step(conn, has_data ? data.c_str() : nullptr,
                                 static_cast<unsigned>(data.size()), nullptr, &client_out,
                                 &client_len) != SASL_OK)
                return out;
            break;
        }
        err =
            sasl_client_step(conn, has_data ? data.c_str() : nullptr,
                             static_cast<unsigned>(data.size()), nullptr, &client_out, &client_len);
        if (err != SASL_OK && err != SASL_CONTINUE) return out;
        if (!write_payload(fd, client_out, client_len)) return out;
    }
    uint32_t verdict = 1;
    out.accepted = read_u32(fd, verdict) && verdict == 0;
    return out;
}

/// Runs the client on a thread against serve() on this one.
std::pair<rs::result<void>, client_outcome> exchange(const char *mech, const std::string &pass) {
    socket_pair sp;
    client_outcome client_out;
    std::thread client([&, fd = sp.client.get()] { client_out = sasl_client(fd, mech, pass); });
    auto r = serve(std::move(sp.server));
    client.join();
    return {r, client_out};
}

/// Sends raw bytes as a client would, then drains until the server closes.
rs::result<void> raw_exchange(std::vector<uint8_t> bytes, bool tls = true,
                              std::string *received = nullptr) {
    socket_pair sp;
    std::string got;
    std::thread client([&, fd = sp.client.get()] {
        write_all(fd, bytes.data(), bytes.size());
        ::shutdown(fd, SHUT_WR); // a short message ends with the client's EOF
        char buf[512];
        for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;)
            got.append(buf, static_cast<size_t>(n));
    });
    auto r = serve(std::move(sp.server), tls);
    client.join();
    if (received != nullptr) *received = got;
    return r;
}

void put_u32(std::vector<uint8_t> &v, uint32_t x) {
    for (int i = 0; i < 4; ++i)
        v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
void put_str(std::vector<uint8_t> &v, std::string_view s) { v.insert(v.end(), s.begin(), s.end()); }

TEST_F(Sasl, PlainWithTheRightPasswordIsAccepted) {
    auto [server, client] = exchange("PLAIN", password);
    EXPECT_TRUE(server.ok()) << server.error().message();
    EXPECT_TRUE(client.accepted);
    EXPECT_NE(client.offered.find(",PLAIN,"), std::string::npos) << client.offered;
    EXPECT_EQ(client.offered.front(), ',');
    EXPECT_EQ(client.offered.back(), ',');
}

TEST_F(Sasl, DigestMd5TakesSeveralStepsAndIsAccepted) {
    auto [server, client] = exchange("DIGEST-MD5", password);
    EXPECT_TRUE(server.ok()) << server.error().message();
    EXPECT_TRUE(client.accepted);
}

TEST_F(Sasl, WrongPasswordIsRefused) {
    auto [server, client] = exchange("PLAIN", "not the password");
    ASSERT_FALSE(server.ok());
    EXPECT_EQ(server.error(), std::errc::permission_denied);
    EXPECT_FALSE(client.accepted);

    auto [server2, client2] = exchange("DIGEST-MD5", "not the password");
    ASSERT_FALSE(server2.ok());
    EXPECT_FALSE(client2.accepted);
}

TEST_F(Sasl, GarbageMechanismLengthIsAnError) {
    std::vector<uint8_t> b;
    put_u32(b, 0xffffffffu);
    auto r = raw_exchange(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::protocol);

    b.clear();
    put_u32(b, 0); // names must not be empty
    EXPECT_EQ(raw_exchange(b).error(), rs::errc::protocol);
}

TEST_F(Sasl, MechanismNotOfferedIsInvalidData) {
    for (std::string_view name : std::initializer_list<std::string_view>{
             "GSSAPI", "PLAIN,DIGEST-MD5", "PLAI", std::string_view("PL\0IN", 5)}) {
        std::vector<uint8_t> b;
        put_u32(b, static_cast<uint32_t>(name.size()));
        put_str(b, name);
        auto r = raw_exchange(b);
        ASSERT_FALSE(r.ok()) << name;
        EXPECT_EQ(r.error(), rs::sasl_invalid_data) << name;
    }
}

TEST_F(Sasl, OversizedDataIsAnErrorWithoutAllocatingIt) {
    std::vector<uint8_t> b;
    put_u32(b, 5);
    put_str(b, "PLAIN");
    put_u32(b, 0xfffffff0u);
    auto r = raw_exchange(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::sasl_invalid_data);
}

TEST_F(Sasl, GarbagePlainDataIsRefused) {
    std::vector<uint8_t> b;
    put_u32(b, 5);
    put_str(b, "PLAIN");
    put_u32(b, 9);
    put_str(b, std::string_view("\xff\xfe\0\0junk", 8));
    b.push_back(0);
    auto r = raw_exchange(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), std::errc::permission_denied);
}

TEST_F(Sasl, PeerClosingMidwayIsEof) {
    std::vector<uint8_t> b;
    put_u32(b, 5);
    put_str(b, "PLA");
    auto r = raw_exchange(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::eof);
}

TEST_F(Sasl, PlainConnectionsAreRefusedBeforeAnyByte) {
    std::string received;
    auto r = raw_exchange({}, /*tls=*/false, &received);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error(), rs::errc::not_supported);
    EXPECT_TRUE(received.empty());
}

TEST_F(Sasl, SettingsForAStreamFormatAddressesAsCyrusExpects) {
    auto listeners = rs::listen_tcp("127.0.0.1", 0, rs::address_family::ipv4);
    ASSERT_TRUE(listeners.ok());
    auto addr = rs::local_address((*listeners)[0].get());
    ASSERT_TRUE(addr.ok());
    auto settings = run_task([](int lfd, rs::socket_address a) -> task<rs::sasl_settings> {
        auto client = co_await rs::tcp_connect(a);
        EXPECT_TRUE(client.ok());
        auto server = co_await rs::accept(lfd);
        EXPECT_TRUE(server.ok());
        rs::plain_stream s{rs::fd_handle(*server)};
        co_return rs::sasl_settings::for_stream(s, "spice");
    }((*listeners)[0].get(), *addr));
    EXPECT_EQ(settings.appname, "spice");
    EXPECT_EQ(settings.local_address.rfind("127.0.0.1;", 0), 0u) << settings.local_address;
    EXPECT_EQ(settings.remote_address.rfind("127.0.0.1;", 0), 0u) << settings.remote_address;
    EXPECT_FALSE(settings.is_tls);
    EXPECT_EQ(settings.ssf, 0);

    socket_pair sp;
    pretend_tls_stream unix_stream{std::move(sp.server)};
    auto local = rs::sasl_settings::for_stream(unix_stream, "x");
    EXPECT_EQ(local.local_address, "localhost;");
    EXPECT_TRUE(local.is_tls);
    EXPECT_EQ(local.ssf, 256);
}

} // namespace
