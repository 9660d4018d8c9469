/*
 * cidr.c — address ranges and membership (see cidr.h).
 *
 * Pure functions over caller-owned values; no state, thread-safe. Addresses
 * are parsed with inet_pton only (never a resolver), so a name in the list
 * is an error, not a lookup.
 */
#include "core/cidr.h"

#include <arpa/inet.h>
#include <string.h>

#include "core/str.h"

#define ENTRY_MAX 64 /* longest "ADDRESS/PREFIX" accepted */

/* Parses a bare address: AF_INET / AF_INET6 with the bytes in addr, or 0. */
static int parse_addr(const char *s, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(addr, mapped, sizeof mapped) == 0) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            return AF_INET;
        }
        return AF_INET6;
    }
    return 0;
}

static void clear_host_bits(uint8_t addr[16], int prefix, int bits)
{
    for (int i = prefix; i < bits; i++)
        addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

static bool in_range(const struct cidr *c, int family, const uint8_t addr[16])
{
    if (c->family != family)
        return false;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

/* One "ADDRESS[/PREFIX]" entry of len bytes. */
static int parse_entry(const char *p, size_t len, struct cidr *c, struct lumi_err *err)
{
    char text[ENTRY_MAX];
    if (len >= sizeof text)
        return err_set(err, LUMI_EINVAL, "entry '%.*s…' is too long", 24, p);
    memcpy(text, p, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    if (slash != NULL)
        *slash = '\0';
    c->family = parse_addr(text, c->addr);
    if (c->family == 0)
        return err_set(err, LUMI_EINVAL, "'%s' is not an IPv4 or IPv6 address", text);
    int bits = c->family == AF_INET ? 32 : 128;
    int64_t prefix = bits;
    if (slash != NULL && str_to_i64z(slash + 1, 0, bits, &prefix) != 0)
        return err_set(err, LUMI_EINVAL, "'%s/%s': the prefix length must be 0 to %d", text,
                       slash + 1, bits);
    c->prefix = (int)prefix;
    clear_host_bits(c->addr, c->prefix, bits);
    return 0;
}

int cidr_list_parse(const char *text, struct cidr_list *out, struct lumi_err *err)
{
    out->n = 0;
    const char *p = text != NULL ? text : "";
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (s < e) {
            if (out->n == CIDR_LIST_MAX) {
                out->n = 0;
                return err_set(err, LUMI_EINVAL, "more than %d entries", CIDR_LIST_MAX);
            }
            if (parse_entry(s, (size_t)(e - s), &out->v[out->n], err) != 0) {
                out->n = 0;
                return LUMI_EINVAL;
            }
            out->n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

bool cidr_list_contains(const struct cidr_list *l, const char *ip)
{
    uint8_t addr[16];
    int family = ip != NULL ? parse_addr(ip, addr) : 0;
    if (family == 0)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (in_range(&l->v[i], family, addr))
            return true;
    return false;
}

bool cidr_ip_normalize(const char *text, size_t len, char *out, size_t outsz)
{
    char tmp[INET6_ADDRSTRLEN + 8];
    uint8_t addr[16];
    while (len > 0 && (*text == ' ' || *text == '\t')) {
        text++;
        len--;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof tmp)
        return false;
    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL)
            return false;
        len = (size_t)(close - text - 1);
        text++;
    }
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    char *colon = strchr(tmp, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL && strchr(tmp, '.') != NULL)
        *colon = '\0'; /* "a.b.c.d:port" */
    int family = parse_addr(tmp, addr);
    if (family == 0)
        return false;
    return inet_ntop(family, addr, out, (socklen_t)outsz) != NULL;
}
