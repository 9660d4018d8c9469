/*
 * render.h — a mail message from its templates.
 *
 * Message NAME has two templates: NAME.txt, whose first line is
 * "Subject: …" and whose rest is the plain-text body, and NAME.html, the
 * HTML body (optional). Both are rendered with the template engine
 * (core/tmpl.h) from data: in .html every {{value}} is HTML-escaped; in .txt
 * values are written with {{{value}}} (the text part is not HTML). The
 * built-in templates are embedded as "mail/NAME.txt" and "mail/NAME.html"
 * (templates/mail/); a file of the same name in the directory named by
 * LUMI_MAIL_TEMPLATES replaces the built-in one (partials and layouts such as
 * {{< mail/_layout.html}} still come from the embedded set).
 */
#ifndef LUMI_MAIL_RENDER_H
#define LUMI_MAIL_RENDER_H

#include <jansson.h>

#include "core/err.h"

/** A rendered message; strings owned (free with mail_rendered_clear). html may be NULL. */
struct mail_rendered {
    char *subject;
    char *text;
    char *html;
};

void mail_rendered_clear(struct mail_rendered *r);

/**
 * Renders message `name` (letters, digits and '_' only) with data
 * (borrowed). 0, or LUMI_ENOTFOUND (no such template), LUMI_EINVAL (a
 * template does not parse, or the text has no "Subject:" first line, naming
 * the file), LUMI_ETOOLARGE, LUMI_EIO (an override cannot be read).
 */
int mail_render(const char *name, const json_t *data, struct mail_rendered *out,
                struct lumi_err *err);

#endif
