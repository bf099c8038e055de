#include "reds/ticket.hpp"

#include <cstring>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "runtime/log.hpp"

namespace rs {

namespace {

struct ctx_free {
    void operator()(EVP_PKEY_CTX *c) const noexcept { EVP_PKEY_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, ctx_free>;

// OpenSSL keeps errors in a thread-local queue; a failure left there would be
// reported against some later, unrelated call on the same shard.
void log_openssl_errors(const char *what) {
    unsigned long e = ERR_get_error();
    if (e == 0) {
        RS_LOG_RATELIMITED("ticket", "{} failed", what);
        return;
    }
    while (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        RS_LOG_RATELIMITED("ticket", "{} failed: {}", what, buf);
        e = ERR_get_error();
    }
}

} // namespace

void ticket_key::pkey_free::operator()(EVP_PKEY *p) const noexcept { EVP_PKEY_free(p); }

ticket_key::~ticket_key() = default;

std::optional<ticket_key> ticket_key::generate() noexcept {
    ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), SPICE_TICKET_KEY_PAIR_LENGTH) <= 0) {
        log_openssl_errors("RSA key setup");
        return std::nullopt;
    }
    // 65537 is OpenSSL's default exponent and the reference's RSA_F4.
    EVP_PKEY *raw = nullptr;
    if (EVP_PKEY_generate(ctx.get(), &raw) <= 0) {
        log_openssl_errors("RSA key generation");
        return std::nullopt;
    }
    ticket_key key;
    key._pkey.reset(raw);

    // Ask for the length first: a different size means a different key shape
    // than the 162 bytes the reply has room for.
    const int len = i2d_PUBKEY(key._pkey.get(), nullptr);
    if (len != static_cast<int>(pub_key_size)) {
        RS_LOG_WARN("ticket", "public key is {} bytes, expected {}", len, pub_key_size);
        return std::nullopt;
    }
    unsigned char *out = key._der.data();
    if (i2d_PUBKEY(key._pkey.get(), &out) != len) {
        log_openssl_errors("public key encoding");
        return std::nullopt;
    }
    return key;
}

std::optional<std::string>
ticket_key::decrypt_password(std::span<const uint8_t> encrypted) const noexcept {
    if (!_pkey || encrypted.size() != encrypted_size) return std::nullopt;
    ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, _pkey.get(), nullptr));
    if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha1()) <= 0) {
        log_openssl_errors("RSA decrypt setup");
        return std::nullopt;
    }
    std::array<unsigned char, encrypted_size> plain{};
    size_t plain_len = plain.size();
    bool ok = EVP_PKEY_decrypt(ctx.get(), plain.data(), &plain_len, encrypted.data(),
                               encrypted.size()) > 0;
    // spice-html5 (ticket.js rsa_encrypt) drops the ciphertext's leading zero
    // bytes and sends the rest left-aligned, zero-filled: 1 link in 256 with
    // the right password would fail (the reference refuses those too). When
    // the ticket ends in zeros, also try it shifted right by 1..max_dropped.
    constexpr size_t max_dropped = 2;
    for (size_t k = 1; !ok && k <= max_dropped && encrypted[encrypted_size - k] == 0; ++k) {
        std::array<unsigned char, encrypted_size> shifted{};
        std::memcpy(shifted.data() + k, encrypted.data(), encrypted_size - k);
        plain_len = plain.size();
        ok = EVP_PKEY_decrypt(ctx.get(), plain.data(), &plain_len, shifted.data(), shifted.size()) >
             0;
    }
    if (!ok) {
        log_openssl_errors("ticket decryption");
        return std::nullopt;
    }
    ERR_clear_error(); // a failed first try leaves its errors queued
    // The client sends a C string; without a NUL the whole plaintext counts,
    // as the reference terminates after the decrypted length.
    const void *nul = std::memchr(plain.data(), 0, plain_len);
    const size_t n =
        nul ? static_cast<size_t>(static_cast<const unsigned char *>(nul) - plain.data())
            : plain_len;
    std::string password(reinterpret_cast<const char *>(plain.data()), n);
    OPENSSL_cleanse(plain.data(), plain.size());
    return password;
}

bool password_equal(std::string_view given, std::string_view expected) noexcept {
    // Walks all of `expected` whatever `given` holds; only the lengths leak.
    unsigned diff = given.size() != expected.size() ? 1u : 0u;
    for (size_t i = 0; i < expected.size(); ++i) {
        const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        diff |= g ^ static_cast<unsigned char>(expected[i]);
    }
    return diff == 0;
}

} // namespace rs
