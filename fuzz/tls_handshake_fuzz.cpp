// Feeds the input as a TLS client's first flight to a server tls_session
// (memory BIOs, no sockets) configured by tls_context::create, then drives
// the session as tls_stream does: handshake, drain the output, try a read.
// The certificate is a self-signed P-256 one made once per process.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "reds/tls.hpp"
#include "runtime/log.hpp"

namespace {

bool write_pem(const std::string &path, EVP_PKEY *key, X509 *cert) {
    FILE *f = std::fopen(path.c_str(), "w");
    if (f == nullptr) return false;
    const bool ok = key != nullptr
                        ? PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1
                        : PEM_write_X509(f, cert) == 1;
    std::fclose(f);
    return ok;
}

/// A self-signed certificate for "localhost" written to a temporary
/// directory (tls_context loads files, as the server does), then the context.
std::shared_ptr<rs::tls_context> make_context() {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    if (key == nullptr || cert == nullptr) std::abort();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24 * 365);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char *>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    if (X509_sign(cert, key, EVP_sha256()) == 0) std::abort();

    std::string tmpl = (std::filesystem::temp_directory_path() / "rs-tls-fuzz-XXXXXX").string();
    const std::filesystem::path dir = ::mkdtemp(tmpl.data());
    rs::tls_options opts;
    opts.cert_file = (dir / "cert.pem").string();
    opts.ca_cert_file = opts.cert_file;
    opts.private_key_file = (dir / "key.pem").string();
    if (!write_pem(opts.cert_file, nullptr, cert) ||
        !write_pem(opts.private_key_file, key, nullptr))
        std::abort();
    X509_free(cert);
    EVP_PKEY_free(key);

    auto ctx = rs::tls_context::create(opts);
    std::filesystem::remove_all(dir);
    if (!ctx) std::abort();
    return *ctx;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const std::shared_ptr<rs::tls_context> ctx = [] {
        // Failed handshakes are the normal case here; keep the output quiet.
        rs::set_log_threshold(rs::log_level::error);
        return make_context();
    }();
    auto session = rs::tls_session::create(*ctx);
    if (!session) return 0;

    session->feed(std::as_bytes(std::span(data, size)));
    const auto st = session->handshake();
    std::byte out[4096];
    while (session->take_output(out) > 0) {
    }
    if (st == rs::tls_session::status::ok) {
        std::byte plain[1024];
        (void)session->read(plain);
    }
    return 0;
}
