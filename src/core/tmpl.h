/*
 * tmpl.h — HTML templates and static files embedded into the binary.
 *
 * Files under templates/ (named "layout.html", "_nav.html", ...; the mail
 * templates under templates/mail/ as "mail/NAME.txt" and "mail/NAME.html") and static/
 * (named "static/style.css", ...) are compiled into the binary by
 * tools/embed.c (cmake/Embed.cmake); tmpl_file_find() serves both.
 *
 * Template language (small, Mustache-like; whitespace is kept as written):
 *
 *   {{path}}          The value at a dotted path ("a.b.c"; an array element by
 *                     number, "items.0"), HTML-escaped: & < > " ' ` = become
 *                     entities. Strings as they are, integers in decimal,
 *                     true/false as "true"/"false"; null, missing, objects and
 *                     arrays print nothing. (Reals print with %g; data should
 *                     not contain them — money is an integer.)
 *                     The first segment is looked up in the innermost context,
 *                     then in the outer ones; later segments only inside the
 *                     value found. "{{.}}" is the innermost context itself.
 *   {{{path}}}        The same without escaping: only for trusted HTML built by
 *                     code (an inline SVG), never for user data.
 *   {{#path}}…{{/path}}  Section. Skipped when the value is false, null,
 *                     missing, an empty array, "" or 0. An array renders the
 *                     body once per element with the element pushed as the
 *                     innermost context; any other value (an object, a
 *                     non-empty string, true, ...) once with the value pushed.
 *   {{^path}}…{{/path}}  Inverted section: rendered once exactly when the
 *                     section above would be skipped.
 *   {{> name}}        Partial: another embedded template ("_nav.html") rendered
 *                     with the current contexts. Partials and layouts nest at
 *                     most TMPL_MAX_PARTIAL_DEPTH templates deep, which also
 *                     stops a template that includes itself.
 *   {{! comment }}    Nothing.
 *   {{< layout.html}} Layout, only as the first tag of a template (whitespace
 *                     before it is dropped): the template's own output is
 *                     rendered first, then layout.html is rendered with the same
 *                     contexts plus one innermost context {"content": output},
 *                     so the layout writes the page body with {{{content}}}.
 *
 * Tag names are letters, digits and "_-./" with optional spaces around them;
 * anything else ("{{=", "{{&", an empty name, "a..b") is a parse error, as are
 * an unterminated tag, an unclosed, unopened or mismatched section, and an
 * unknown partial or layout: LUMI_EINVAL naming the template and line.
 *
 * Attributes: escaping is the same in text and in attribute values, so quote
 * every attribute in templates (class="{{x}}", never class={{x}}). A value
 * inserted right after href=" src=" or action=" (either quote, any case)
 * chooses the URL's scheme, so it is checked: a value with a scheme other than
 * http:, https: or mailto: (javascript:, data:, ...) is replaced with "#";
 * relative URLs ("/admin", "?page=2", "#top", "//host/x") pass. A value later
 * in the attribute (href="/servers/{{id}}") cannot change the scheme.
 *
 * Threading: embedded templates are parsed once (pthread_once) and are then
 * read-only; rendering is safe from any number of threads.
 */
#ifndef LUMI_CORE_TMPL_H
#define LUMI_CORE_TMPL_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/** Partials and layouts nest at most this many templates deep. */
#define TMPL_MAX_PARTIAL_DEPTH 8
/** Sections nest at most this deep inside one template. */
#define TMPL_MAX_SECTION_DEPTH 32
/** Largest template source accepted (tmpl_render_text answers LUMI_ETOOLARGE above it). */
#define TMPL_MAX_SOURCE (1024 * 1024)

/** One embedded file. All strings are static; data has len bytes followed by a NUL. */
struct tmpl_file {
    const char *name;         /* "layout.html", "static/style.css" */
    const char *data;         /* the file's bytes, NUL-terminated */
    size_t len;               /* bytes, excluding the NUL */
    const char *content_type; /* "text/html; charset=utf-8", "text/css; charset=utf-8", ... */
};

/**
 * The embedded table written by tools/embed.c, sorted by name (strcmp).
 * Internal to tmpl.c and the generated file; use tmpl_file_find().
 */
extern const struct tmpl_file lumi_embedded_files[];
/** Number of entries in lumi_embedded_files. */
extern const size_t lumi_embedded_count;

/**
 * The embedded file with exactly this name ("layout.html",
 * "static/style.css"; no leading slash), or NULL. Borrowed, static storage.
 * Names are compared exactly, so "../x" or "static/../y" never match.
 */
const struct tmpl_file *tmpl_file_find(const char *name);

/** Number of embedded files (0 when the build embeds nothing). */
size_t tmpl_file_count(void);

/**
 * Parses every embedded template (once per process; later calls return the
 * same result) and reports the first that does not parse, as LUMI_EINVAL
 * "template 'x.html' line N: ...". Call it at start-up to fail fast;
 * tmpl_render() calls it too.
 */
int tmpl_init(struct lumi_err *err);

/**
 * Renders the embedded template `name` with `data` (borrowed; any JSON value,
 * usually an object; NULL means no data) and appends the HTML to out, whose
 * max caps the output: LUMI_ETOOLARGE when the page would exceed it.
 * Returns 0, LUMI_ENOTFOUND (no such template), LUMI_EINVAL (the template or
 * a partial does not parse, or nesting is too deep), LUMI_ETOOLARGE or
 * LUMI_ENOMEM. On error out is left as it was before the call.
 */
int tmpl_render(const char *name, const json_t *data, struct buf *out, struct lumi_err *err);

/**
 * As tmpl_render() for template text given as text[0..len) (borrowed, need
 * not be NUL-terminated; named "<text>" in errors). Partials and layouts are
 * still the embedded templates. For tests and fuzzing.
 */
int tmpl_render_text(const char *text, size_t len, const json_t *data, struct buf *out,
                     struct lumi_err *err);

#endif
