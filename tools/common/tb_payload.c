/* tb_payload.c - sensor payload formatting and the HMAC tail signature (OpenSSL's one-shot HMAC). */
#define _POSIX_C_SOURCE 200809L
#include "tb_payload.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

static const char HMAC_TAIL[] = ",\"hmac\":\"";

void tb_hmac_hex(const uint8_t *key, size_t key_len, const void *p, size_t n,
		 char hex[65])
{
	uint8_t mac[32];
	unsigned mac_len = 0;
	HMAC(EVP_sha256(), key, (int)key_len, p, n, mac, &mac_len);
	static const char dig[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		hex[2 * i] = dig[mac[i] >> 4];
		hex[2 * i + 1] = dig[mac[i] & 15];
	}
	hex[64] = '\0';
}

size_t tb_payload_format(const struct tb_reading *r, const struct tb_sec_cfg *s,
			 char *out, size_t cap)
{
	int n = snprintf(out, cap, r->dht22
			 ? "{\"device\":\"%s\",\"temperature\":%.1f,\"humidity\":%.1f"
			 : "{\"device\":\"%s\",\"temperature\":%.1f,\"humidity\":%.0f",
			 r->device, r->temperature, r->humidity);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	size_t len = (size_t)n;
	enum tb_sec mode = s ? s->mode : TB_SEC_NONE;
	if (mode == TB_SEC_KEY)
		n = snprintf(out + len, cap - len, ",\"key\":\"%s\"}", s->shared_key);
	else if (mode == TB_SEC_HMAC)
		n = snprintf(out + len, cap - len, ",\"ctr\":%llu,\"ts\":%llu}",
			     (unsigned long long)r->ctr, (unsigned long long)r->ts);
	else
		n = snprintf(out + len, cap - len, "}");
	if (n < 0 || (size_t)n >= cap - len)
		return 0;
	len += (size_t)n;
	if (mode != TB_SEC_HMAC)
		return len;
	/* Sign the object as it stands, then replace its "}" by the tail. */
	char hex[65];
	tb_hmac_hex(s->key, s->key_len, out, len, hex);
	len--;
	n = snprintf(out + len, cap - len, "%s%s\"}", HMAC_TAIL, hex);
	if (n < 0 || (size_t)n >= cap - len)
		return 0;
	return len + (size_t)n;
}

int tb_payload_verify(const char *p, size_t n, const uint8_t *key, size_t key_len)
{
	const size_t tail = sizeof(HMAC_TAIL) - 1;
	/* ,"hmac":"<64 hex>"} is the last thing in the payload. */
	if (n < tail + 64 + 2 + 1)
		return -1;
	size_t at = n - (tail + 64 + 2);
	if (memcmp(p + at, HMAC_TAIL, tail) != 0 || p[n - 2] != '"' || p[n - 1] != '}')
		return -1;
	const char *hx = p + at + tail;
	for (size_t i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)hx[i]))
			return -1;
	char body[4096];
	if (at + 1 > sizeof(body))
		return -1;
	memcpy(body, p, at);
	body[at] = '}';
	char want[65];
	tb_hmac_hex(key, key_len, body, at + 1, want);
	int diff = 0;
	for (size_t i = 0; i < 64; i++)
		diff |= tolower((unsigned char)hx[i]) ^ want[i];
	return diff == 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tb_key_file_lookup(const char *path, const char *device, uint8_t *key,
		       size_t *key_len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: cannot open key file\n", path);
		return -1;
	}
	char line[512];
	unsigned lineno = 0;
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '#' || *s == '\0')
			continue;
		char name[128], hex[2 * TB_HMAC_KEY_MAX + 2];
		if (sscanf(s, "%127s %129s", name, hex) != 2) {
			fprintf(stderr, "%s:%u: expected \"<device> <hex key>\"\n", path, lineno);
			continue;
		}
		if (strcmp(name, device) != 0)
			continue;
		size_t hl = strlen(hex);
		if (hl % 2 || hl == 0 || hl / 2 > TB_HMAC_KEY_MAX) {
			fprintf(stderr, "%s:%u: key must be 2-%d hex digits\n", path,
				lineno, 2 * TB_HMAC_KEY_MAX);
			break;
		}
		rc = 0;
		for (size_t i = 0; i < hl / 2; i++) {
			int a = hexval((unsigned char)hex[2 * i]);
			int b = hexval((unsigned char)hex[2 * i + 1]);
			if (a < 0 || b < 0) {
				fprintf(stderr, "%s:%u: key is not hex\n", path, lineno);
				rc = -1;
				break;
			}
			key[i] = (uint8_t)(a << 4 | b);
		}
		*key_len = hl / 2;
		break;
	}
	if (rc != 0 && !ferror(f) && feof(f))
		fprintf(stderr, "%s: no key for device %s\n", path, device);
	fclose(f);
	return rc;
}
