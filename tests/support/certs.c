/* certs.c — see certs.h. */
#include "certs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* A self-signed certificate for 127.0.0.1 (and its key) as PEM files in dir. */
void ts_make_certificate(const char *dir, const char *name, char cert[256], char key[256])
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *subject;
    X509_EXTENSION *san;
    FILE *fp;
    assert_non_null(pk);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    subject = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
                               -1, 0);
    X509_set_issuer_name(x, subject);
    san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(san);
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    snprintf(cert, 256, "%s/%s.crt", dir, name);
    snprintf(key, 256, "%s/%s.key", dir, name);
    assert_non_null(fp = fopen(cert, "w"));
    PEM_write_X509(fp, x);
    fclose(fp);
    assert_non_null(fp = fopen(key, "w"));
    PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(pk);
}
