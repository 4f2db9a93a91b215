/* cbtls: reads the certificate and key files whole (each under a ceiling: a PEM chain is a few
 * KB) and asks GnuTLS to load them as libmicrohttpd will, so that a wrong file or a key of
 * another certificate is a configuration error naming the setting, not a failed listen. */
#include "cbtls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#define CBTLS_MAX_FILE (1024 * 1024)

static const char CERT_KEY[] = "TMPROV_CALLBACK_TLS_CERT";
static const char KEY_KEY[] = "TMPROV_CALLBACK_TLS_KEY";

/* The whole file, NUL-terminated, into *out (len without the NUL). 0, or -1 with err. */
static int
cbtls_read(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0;
	int rc = -1;

	*out = NULL;
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((data = malloc(CBTLS_MAX_FILE + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(data, 1, CBTLS_MAX_FILE + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (n > CBTLS_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes, not a PEM file", path,
			 CBTLS_MAX_FILE);
		goto out;
	}
	data[n] = '\0';
	*out = data;
	*len = n;
	data = NULL;
	rc = 0;
out:
	if (data != NULL) {
		sodium_memzero(data, CBTLS_MAX_FILE + 1);
		free(data);
	}
	fclose(f);
	return rc;
}

/* Each certificate of the PEM text, imported on its own. gnutls_certificate_set_x509_key_mem2
 * (GnuTLS 3.7.9) leaks the certificate it was reading when that one does not parse, which
 * AddressSanitizer reports at exit; imported here first, a bad one never gets there. */
static int
cbtls_check_certs(const char *pem, char *err, size_t errlen)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----",
			  end[] = "-----END CERTIFICATE-----";
	const char *p = pem, *e;

	while ((p = strstr(p, begin)) != NULL) {
		gnutls_datum_t block = {(unsigned char *)p, 0}, der = {NULL, 0};
		gnutls_x509_crt_t crt;
		int rc;

		if ((e = strstr(p, end)) == NULL) {
			snprintf(err, errlen, "a certificate without its END line");
			return -1;
		}
		block.size = (unsigned)(e + sizeof(end) - 1 - p);
		rc = gnutls_pem_base64_decode2("CERTIFICATE", &block, &der);
		if (rc >= 0 && (rc = gnutls_x509_crt_init(&crt)) >= 0) {
			rc = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
			gnutls_x509_crt_deinit(crt);
		}
		gnutls_free(der.data);
		if (rc < 0) {
			snprintf(err, errlen, "not a PEM certificate (%s)", gnutls_strerror(rc));
			return -1;
		}
		p = e;
	}
	return 0;
}

/* 0 if GnuTLS loads the pair, else -1 with its reason. */
static int
cbtls_check(const struct cbtls *t, size_t cert_len, char *err, size_t errlen)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = {(unsigned char *)t->cert, (unsigned)cert_len};
	gnutls_datum_t key = {(unsigned char *)t->key, (unsigned)t->key_len};
	int rc = gnutls_certificate_allocate_credentials(&cred);

	if (rc < 0) {
		snprintf(err, errlen, "GnuTLS: %s", gnutls_strerror(rc));
		return -1;
	}
	rc = gnutls_certificate_set_x509_key_mem2(cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		snprintf(err, errlen,
			 "with %s: not a PEM certificate and its matching unencrypted key (%s)",
			 KEY_KEY, gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int
cbtls_load(struct cbtls *t, const char *cert_path, const char *key_path, const char **bad_key,
	   char *err, size_t errlen)
{
	bool has_cert = cert_path != NULL && *cert_path, has_key = key_path != NULL && *key_path;
	size_t cert_len = 0;

	memset(t, 0, sizeof(*t));
	if (!has_cert && !has_key)
		return 0;
	if (has_cert != has_key) {
		*bad_key = has_cert ? KEY_KEY : CERT_KEY;
		snprintf(err, errlen, "%s and %s go together: set both or neither", CERT_KEY,
			 KEY_KEY);
		return -1;
	}
	*bad_key = CERT_KEY;
	if (cbtls_read(cert_path, &t->cert, &cert_len, err, errlen) != 0)
		goto fail;
	*bad_key = KEY_KEY;
	if (cbtls_read(key_path, &t->key, &t->key_len, err, errlen) != 0)
		goto fail;
	*bad_key = CERT_KEY;
	if (cbtls_check_certs(t->cert, err, errlen) != 0 ||
	    cbtls_check(t, cert_len, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	cbtls_free(t);
	return -1;
}

void
cbtls_free(struct cbtls *t)
{
	if (t->key != NULL)
		sodium_memzero(t->key, t->key_len);
	free(t->key);
	free(t->cert);
	memset(t, 0, sizeof(*t));
}
