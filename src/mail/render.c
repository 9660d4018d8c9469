/*
 * render.c — mail templates: the override directory first, then the
 * embedded set (see render.h). Reads the override files on every call, so an
 * admin's edit takes effect without a restart; no state, any thread.
 */
#include "mail/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/str.h"
#include "core/tmpl.h"

#define TEMPLATE_MAX (256 * 1024)   /* an override file larger than this is refused */
#define OUTPUT_MAX (2 * 1024 * 1024) /* a rendered part */
#define SUBJECT_MAX 400

void mail_rendered_clear(struct mail_rendered *r)
{
    if (r == NULL)
        return;
    free(r->subject);
    free(r->text);
    free(r->html);
    r->subject = r->text = r->html = NULL;
}

static bool name_ok(const char *name)
{
    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

/* Reads dir/file into a new string: 1 read, 0 no such file, < 0 error. */
static int read_override(const char *dir, const char *file, char **out, size_t *len,
                         struct lumi_err *err)
{
    char path[1024];
    struct buf b;
    *out = NULL;
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(err, LUMI_EINVAL, "LUMI_MAIL_TEMPLATES: path too long");
    buf_init(&b, TEMPLATE_MAX);
    int rc = buf_read_file(&b, path, err);
    if (rc != 0) {
        buf_free(&b);
        return rc == 1 ? 0 : rc;
    }
    *len = b.len;
    *out = buf_steal(&b);
    return 1;
}

/* Renders one part (file "mail/<name>.<ext>"): 1 rendered into out, 0 none exists, < 0. */
static int render_part(const char *name, const char *ext, const json_t *data, struct buf *out,
                       struct lumi_err *err)
{
    char file[96], embedded[112];
    const char *dir = config_str("LUMI_MAIL_TEMPLATES");
    snprintf(file, sizeof file, "%s.%s", name, ext);
    snprintf(embedded, sizeof embedded, "mail/%s", file);
    if (dir != NULL && *dir != '\0') {
        char *text = NULL;
        size_t len = 0;
        int rc = read_override(dir, file, &text, &len, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rc = tmpl_render_text(text, len, data, out, err);
            free(text);
            if (rc != 0)
                return rc == LUMI_EINVAL
                           ? err_set(err, LUMI_EINVAL, "%s/%s: %s", dir, file, err->msg)
                           : rc;
            return 1;
        }
    }
    if (tmpl_file_find(embedded) == NULL)
        return 0;
    int rc = tmpl_render(embedded, data, out, err);
    return rc == 0 ? 1 : rc;
}

/* Splits "Subject: …\n" off the text part; the subject's white space collapsed. */
static int split_subject(char *text, char **subject, char **body, struct lumi_err *err,
                         const char *name)
{
    const char *prefix = "Subject:";
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        return err_set(err, LUMI_EINVAL, "mail template %s.txt must start with a \"Subject:\" line",
                       name);
    char *line = text + strlen(prefix);
    char *nl = strchr(line, '\n');
    char *rest = nl != NULL ? nl + 1 : line + strlen(line);
    if (nl != NULL)
        *nl = '\0';
    char s[SUBJECT_MAX];
    size_t n = 0;
    bool space = false;
    for (const char *p = line; *p && n + 1 < sizeof s; p++) {
        bool ws = *p == ' ' || *p == '\t' || *p == '\r';
        if (ws) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < sizeof s)
            s[n++] = ' ';
        space = false;
        s[n++] = *p;
    }
    s[n] = '\0';
    if (n == 0)
        return err_set(err, LUMI_EINVAL, "mail template %s.txt has an empty subject", name);
    while (*rest == '\r' || *rest == '\n')
        rest++; /* the blank line after the subject */
    *subject = str_dup(s);
    *body = str_dup(rest);
    if (*subject == NULL || *body == NULL)
        return err_set(err, LUMI_ENOMEM, "out of memory");
    return 0;
}

int mail_render(const char *name, const json_t *data, struct mail_rendered *out,
                struct lumi_err *err)
{
    struct buf text, html;
    int rc;
    memset(out, 0, sizeof *out);
    if (!name_ok(name))
        return err_set(err, LUMI_EINVAL, "bad mail template name");
    buf_init(&text, OUTPUT_MAX);
    buf_init(&html, OUTPUT_MAX);
    rc = render_part(name, "txt", data, &text, err);
    if (rc == 0)
        rc = err_set(err, LUMI_ENOTFOUND, "no mail template %s.txt", name);
    if (rc < 0)
        goto out;
    rc = render_part(name, "html", data, &html, err);
    if (rc < 0)
        goto out;
    if (rc == 1) {
        out->html = buf_steal(&html);
        if (out->html == NULL) {
            rc = err_set(err, LUMI_ENOMEM, "out of memory");
            goto out;
        }
    }
    char *t = buf_steal(&text);
    if (t == NULL) {
        rc = err_set(err, LUMI_EINVAL, "mail template %s.txt is empty", name);
        goto out;
    }
    rc = split_subject(t, &out->subject, &out->text, err, name);
    free(t);
out:
    buf_free(&text);
    buf_free(&html);
    if (rc < 0) {
        mail_rendered_clear(out);
        return rc;
    }
    return 0;
}
