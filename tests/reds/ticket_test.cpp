#include "reds/ticket.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

namespace {

using bytes = std::vector<uint8_t>;

struct pkey_free {
    void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
};
struct ctx_free {
    void operator()(EVP_PKEY_CTX *c) const { EVP_PKEY_CTX_free(c); }
};

// What a client does: load the DER key from the reply and encrypt with
// RSA-OAEP(SHA-1).
std::unique_ptr<EVP_PKEY, pkey_free> load_public(std::span<const uint8_t> der) {
    const unsigned char *p = der.data();
    return std::unique_ptr<EVP_PKEY, pkey_free>(
        d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
}

bytes client_encrypt(std::span<const uint8_t> der, std::string_view plain) {
    auto pub = load_public(der);
    if (!pub) return {};
    std::unique_ptr<EVP_PKEY_CTX, ctx_free> ctx(EVP_PKEY_CTX_new(pub.get(), nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) <= 0 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0)
        return {};
    size_t len = 0;
    const auto *in = reinterpret_cast<const unsigned char *>(plain.data());
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, in, plain.size()) <= 0) return {};
    bytes out(len);
    if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, in, plain.size()) <= 0) return {};
    out.resize(len);
    return out;
}

class ticket_key_test : public testing::Test {
  protected:
    static void SetUpTestSuite() {
        auto k = rs::ticket_key::generate();
        ASSERT_TRUE(k) << "RSA-1024 key generation failed (FIPS mode?)";
        _key = new rs::ticket_key(std::move(*k));
    }
    static void TearDownTestSuite() {
        delete _key;
        _key = nullptr;
    }
    static rs::ticket_key *_key;
};
rs::ticket_key *ticket_key_test::_key = nullptr;

TEST_F(ticket_key_test, public_key_is_a_162_byte_rsa_1024_spki) {
    auto der = _key->public_key_der();
    ASSERT_EQ(der.size(), static_cast<size_t>(SPICE_TICKET_PUBKEY_BYTES));
    EXPECT_EQ(der[0], 0x30); // SEQUENCE
    auto pub = load_public(der);
    ASSERT_TRUE(pub);
    EXPECT_EQ(EVP_PKEY_get_base_id(pub.get()), EVP_PKEY_RSA);
    EXPECT_EQ(EVP_PKEY_get_bits(pub.get()), SPICE_TICKET_KEY_PAIR_LENGTH);
    BIGNUM *e = nullptr;
    ASSERT_EQ(EVP_PKEY_get_bn_param(pub.get(), OSSL_PKEY_PARAM_RSA_E, &e), 1);
    EXPECT_EQ(BN_get_word(e), 65537u);
    BN_free(e);
}

TEST_F(ticket_key_test, decrypts_a_nul_terminated_password) {
    using namespace std::string_literals;
    auto enc = client_encrypt(_key->public_key_der(), "s3cret\0"s);
    ASSERT_EQ(enc.size(), rs::ticket_key::encrypted_size);
    auto pw = _key->decrypt_password(enc);
    ASSERT_TRUE(pw);
    EXPECT_EQ(*pw, "s3cret");
}

TEST_F(ticket_key_test, password_without_nul_is_the_whole_plaintext) {
    auto enc = client_encrypt(_key->public_key_der(), "abc");
    auto pw = _key->decrypt_password(enc);
    ASSERT_TRUE(pw);
    EXPECT_EQ(*pw, "abc");
}

TEST_F(ticket_key_test, password_ends_at_the_first_nul) {
    using namespace std::string_literals;
    auto pw = _key->decrypt_password(client_encrypt(_key->public_key_der(), "ab\0cd"s));
    ASSERT_TRUE(pw);
    EXPECT_EQ(*pw, "ab");
    auto empty = _key->decrypt_password(client_encrypt(_key->public_key_der(), ""));
    ASSERT_TRUE(empty);
    EXPECT_EQ(*empty, "");
}

TEST_F(ticket_key_test, longest_password_round_trips) {
    const std::string longest(SPICE_MAX_PASSWORD_LENGTH, 'x');
    auto pw = _key->decrypt_password(client_encrypt(_key->public_key_der(), longest + '\0'));
    ASSERT_TRUE(pw);
    EXPECT_EQ(*pw, longest);
}

TEST_F(ticket_key_test, html5_ticket_without_its_leading_zero_byte_decrypts) {
    // spice-html5 sends the ciphertext without leading zero bytes,
    // left-aligned and zero-filled; find a ciphertext starting with 0x00.
    using namespace std::string_literals;
    bytes enc;
    for (int i = 0; i < 20000 && (enc.empty() || enc[0] != 0); ++i)
        enc = client_encrypt(_key->public_key_der(), "html5-secret\0"s);
    ASSERT_EQ(enc.size(), rs::ticket_key::encrypted_size);
    ASSERT_EQ(enc[0], 0);
    bytes sent(enc.begin() + 1, enc.end());
    sent.push_back(0);
    auto pw = _key->decrypt_password(sent);
    ASSERT_TRUE(pw);
    EXPECT_EQ(*pw, "html5-secret");
    EXPECT_TRUE(_key->decrypt_password(enc)); // the well-formed one still works
    sent.back() = 1;                          // not zero-filled: no retry
    EXPECT_FALSE(_key->decrypt_password(sent));
}

TEST_F(ticket_key_test, garbage_and_wrong_sizes_are_values_not_exceptions) {
    EXPECT_FALSE(_key->decrypt_password(bytes(128, 0x5a)));
    EXPECT_FALSE(_key->decrypt_password(bytes(127, 0)));
    EXPECT_FALSE(_key->decrypt_password(bytes(129, 0)));
    EXPECT_FALSE(_key->decrypt_password({}));
    auto enc = client_encrypt(_key->public_key_der(), "pw");
    enc[5] ^= 1;
    EXPECT_FALSE(_key->decrypt_password(enc));
}

TEST_F(ticket_key_test, another_key_cannot_decrypt) {
    auto other = rs::ticket_key::generate();
    ASSERT_TRUE(other);
    EXPECT_FALSE(std::equal(other->public_key_der().begin(), other->public_key_der().end(),
                            _key->public_key_der().begin()));
    EXPECT_FALSE(other->decrypt_password(client_encrypt(_key->public_key_der(), "pw")));
}

TEST(password_equal, compares_content_and_length) {
    EXPECT_TRUE(rs::password_equal("secret", "secret"));
    EXPECT_TRUE(rs::password_equal("", ""));
    EXPECT_FALSE(rs::password_equal("secreT", "secret"));
    EXPECT_FALSE(rs::password_equal("secret", "secret1"));
    EXPECT_FALSE(rs::password_equal("secret1", "secret"));
    EXPECT_FALSE(rs::password_equal("", "secret"));
    EXPECT_FALSE(rs::password_equal("secret", ""));
}

} // namespace
