#include "reds/sasl.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <sasl/sasl.h>

#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "runtime/log.hpp"

namespace rs {

namespace {

struct conn_dispose {
    void operator()(sasl_conn_t *c) const noexcept { sasl_dispose(&c); }
};
using conn_ptr = std::unique_ptr<sasl_conn_t, conn_dispose>;

/// "host;port" as Cyrus parses it, or "localhost;" for UNIX sockets as the
/// reference sends; empty when the address is unknown.
std::string sasl_address(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    auto *sa = reinterpret_cast<sockaddr *>(&ss);
    if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) return {};
    if (ss.ss_family == AF_UNIX) return "localhost;";
    std::array<char, NI_MAXHOST> host{};
    std::array<char, NI_MAXSERV> serv{};
    const int err = ::getnameinfo(sa, len, host.data(), host.size(), serv.data(), serv.size(),
                                  NI_NUMERICHOST | NI_NUMERICSERV);
    if (err != 0) {
        RS_LOG_WARN("sasl", "cannot format the address of fd {}: {}", fd, ::gai_strerror(err));
        return {};
    }
    return fmt::format("{};{}", host.data(), serv.data());
}

void put_u32(std::vector<std::byte> &out, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

void put_bytes(std::vector<std::byte> &out, const void *p, size_t n) {
    const auto *b = static_cast<const std::byte *>(p);
    out.insert(out.end(), b, b + n);
}

/// A SASL payload as the wire carries it: length 0 for none, else the bytes
/// plus a NUL counted in the length (spice-gtk strips it).
void put_payload(std::vector<std::byte> &out, const char *data, unsigned len) {
    if (data == nullptr || len == 0) {
        put_u32(out, 0);
        return;
    }
    put_u32(out, len + 1);
    put_bytes(out, data, len);
    out.push_back(std::byte{0});
}

task<result<uint32_t>> read_u32(stream &s, std::stop_token st) {
    std::array<std::byte, 4> b{};
    if (auto r = co_await s.read_exact(b, std::move(st)); !r) co_return r.error();
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | static_cast<uint32_t>(b[static_cast<size_t>(i)]);
    co_return v;
}

/// A client-chosen name made safe for one log line.
std::string printable(std::string_view s) {
    std::string out;
    for (const char c : s)
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

const char *or_null(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

std::string conn_detail(sasl_conn_t *conn) {
    const char *d = sasl_errdetail(conn);
    return d != nullptr ? d : "no detail";
}

constexpr char rejection[] = "Authentication failed"; // sent with its NUL, as the reference

} // namespace

sasl_settings sasl_settings::for_stream(const stream &s, std::string_view appname) {
    sasl_settings out;
    out.appname = std::string(appname);
    out.local_address = sasl_address(s.fd(), false);
    out.remote_address = sasl_address(s.fd(), true);
    out.is_tls = s.is_tls();
    out.ssf = s.ssf();
    return out;
}

result<void> sasl_init(std::string_view appname) {
    static std::once_flag once;
    static int rc = SASL_OK;
    std::call_once(once, [appname] {
        // Cyrus may keep the pointer, so the name lives as long as the process.
        static const std::string name(appname.empty() ? std::string_view("spice") : appname);
        rc = sasl_server_init(nullptr, name.c_str());
        if (rc != SASL_OK)
            RS_LOG_ERROR("sasl", "cannot initialise Cyrus SASL for '{}': {}", name,
                         sasl_errstring(rc, nullptr, nullptr));
    });
    if (rc != SASL_OK) return errc::not_supported;
    return {};
}

task<result<void>> sasl_authenticate(stream &s, const sasl_settings &settings, std::stop_token st) {
    if (!settings.is_tls) {
        RS_LOG_WARN("sasl",
                    "refusing SASL on plain fd {}: without TLS the reference requires a SASL "
                    "security layer (SSF >= 56), which ringspice does not implement; "
                    "use the TLS port",
                    s.fd());
        co_return errc::not_supported;
    }
    if (auto r = sasl_init(settings.appname); !r) co_return r.error();

    sasl_conn_t *raw = nullptr;
    // Service "spice" (the Kerberos principal's service), as the reference.
    int err = sasl_server_new("spice", nullptr, nullptr, or_null(settings.local_address),
                              or_null(settings.remote_address), nullptr, SASL_SUCCESS_DATA, &raw);
    if (err != SASL_OK) {
        RS_LOG_WARN("sasl", "cannot set up a SASL connection for fd {}: {}", s.fd(),
                    sasl_errstring(err, nullptr, nullptr));
        co_return errc::not_supported;
    }
    conn_ptr conn(raw);

    // TLS already protects the bytes: tell SASL its strength and forbid a
    // SASL security layer, so no mechanism negotiates one.
    sasl_ssf_t external = settings.ssf > 0 ? static_cast<sasl_ssf_t>(settings.ssf) : 0;
    sasl_security_properties_t props{};
    props.min_ssf = 0;
    props.max_ssf = 0;
    props.maxbufsize = 8192;
    props.security_flags = 0;
    if ((err = sasl_setprop(conn.get(), SASL_SSF_EXTERNAL, &external)) != SASL_OK ||
        (err = sasl_setprop(conn.get(), SASL_SEC_PROPS, &props)) != SASL_OK) {
        RS_LOG_WARN("sasl", "cannot set SASL security properties: {}", conn_detail(conn.get()));
        co_return errc::not_supported;
    }

    const char *mechs = nullptr;
    unsigned mechs_len = 0;
    err = sasl_listmech(conn.get(), nullptr, ",", ",", ",", &mechs, &mechs_len, nullptr);
    if (err != SASL_OK || mechs == nullptr) {
        RS_LOG_WARN("sasl", "no SASL mechanism available: {}", conn_detail(conn.get()));
        co_return errc::not_supported;
    }
    const std::string offered(mechs, mechs_len);
    RS_LOG_DEBUG("sasl", "offering SASL mechanisms '{}' on fd {}", offered, s.fd());

    std::vector<std::byte> out;
    put_u32(out, static_cast<uint32_t>(offered.size()));
    put_bytes(out, offered.data(), offered.size());
    if (auto r = co_await s.write_all(out, st); !r) co_return r.error();

    auto mech_len = co_await read_u32(s, st);
    if (!mech_len) co_return mech_len.error();
    if (*mech_len < 1 || *mech_len > sasl_max_mechname_length) {
        RS_LOG_RATELIMITED("sasl", "fd {}: bad SASL mechanism name length {}", s.fd(), *mech_len);
        co_return errc::protocol;
    }
    std::string mech(*mech_len, '\0');
    if (auto r = co_await s.read_exact(std::as_writable_bytes(std::span(mech)), st); !r)
        co_return r.error();
    if (mech.find_first_of(std::string_view(",\0", 2)) != std::string::npos ||
        offered.find("," + mech + ",") == std::string::npos) {
        RS_LOG_RATELIMITED("sasl", "fd {}: client chose SASL mechanism '{}', not among '{}'",
                           s.fd(), printable(mech), offered);
        co_return std::make_error_code(sasl_invalid_data);
    }

    std::vector<char> in;
    for (bool starting = true;; starting = false) {
        auto len = co_await read_u32(s, st);
        if (!len) co_return len.error();
        if (*len > sasl_max_data_length) {
            RS_LOG_RATELIMITED("sasl", "fd {}: SASL data of {} bytes is too long (max {})", s.fd(),
                               *len, sasl_max_data_length);
            if (starting) co_return std::make_error_code(sasl_invalid_data);
            co_return errc::protocol;
        }
        in.resize(*len);
        if (auto r = co_await s.read_exact(std::as_writable_bytes(std::span(in)), st); !r)
            co_return r.error();

        // No data and empty data differ in SASL: a zero length means none.
        const char *client_in = nullptr;
        unsigned client_len = 0;
        if (!in.empty()) {
            in.back() = '\0'; // the wire counts a NUL; make sure it is one
            client_in = in.data();
            client_len = static_cast<unsigned>(in.size() - 1);
        }
        const char *server_out = nullptr;
        unsigned server_len = 0;
        err = starting
                  ? sasl_server_start(conn.get(), mech.c_str(), client_in, client_len, &server_out,
                                      &server_len)
                  : sasl_server_step(conn.get(), client_in, client_len, &server_out, &server_len);
        if (err != SASL_OK && err != SASL_CONTINUE) {
            // As the reference: no message, the link closes.
            RS_LOG_RATELIMITED("sasl", "fd {}: SASL {} authentication failed: {}", s.fd(), mech,
                               conn_detail(conn.get()));
            co_return std::make_error_code(std::errc::permission_denied);
        }
        if (server_len > sasl_max_data_length) {
            RS_LOG_WARN("sasl", "fd {}: SASL {} produced {} bytes, more than a client accepts",
                        s.fd(), mech, server_len);
            co_return errc::protocol;
        }

        out.clear();
        put_payload(out, server_out, server_len);
        out.push_back(std::byte{err == SASL_CONTINUE ? uint8_t{0} : uint8_t{1}});
        if (err == SASL_CONTINUE) {
            if (auto r = co_await s.write_all(out, st); !r) co_return r.error();
            continue;
        }

        // Complete. max_ssf 0 rules out a SASL security layer; should a
        // plug-in negotiate one anyway, refuse: we cannot encode the stream.
        const void *ssf_prop = nullptr;
        if (sasl_getprop(conn.get(), SASL_SSF, &ssf_prop) != SASL_OK || ssf_prop == nullptr ||
            *static_cast<const sasl_ssf_t *>(ssf_prop) != 0) {
            RS_LOG_WARN("sasl", "fd {}: SASL {} negotiated a security layer; refusing", s.fd(),
                        mech);
            put_u32(out, 1);
            put_u32(out, sizeof(rejection));
            put_bytes(out, rejection, sizeof(rejection));
            if (auto r = co_await s.write_all(out, st); !r) co_return r.error();
            co_return std::make_error_code(std::errc::permission_denied);
        }

        put_u32(out, 0); // SPICE_LINK_ERR_OK: accepted
        if (auto r = co_await s.write_all(out, st); !r) co_return r.error();
        const void *user = nullptr;
        sasl_getprop(conn.get(), SASL_USERNAME, &user);
        RS_LOG_INFO("sasl", "fd {}: SASL {} authentication of '{}' succeeded", s.fd(), mech,
                    user != nullptr ? static_cast<const char *>(user) : "");
        co_return result<void>{};
    }
}

} // namespace rs
