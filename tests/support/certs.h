/* certs.h — TLS material for tests, made with OpenSSL: a self-signed certificate for
 * 127.0.0.1 with its private key (P-256), valid for an hour. */
#ifndef GS_TEST_CERTS_H
#define GS_TEST_CERTS_H

/* Writes dir/name.crt and dir/name.key (PEM) and their paths into cert and key. */
void ts_make_certificate(const char *dir, const char *name, char cert[256], char key[256]);

#endif
