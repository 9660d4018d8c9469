/*
 * pdf.c — invoices and credit notes drawn onto A4 pages (see pdf.h).
 *
 * Owns the page layout: a cursor (y) moves down the page; before anything
 * is drawn its height is measured and, when it does not fit above the
 * footer, the page is finished (footer, page number) and a new one begun,
 * with the items table's header drawn again while the table is open. The
 * cairo PDF surface writes into the caller's bounded buffer through a
 * stream callback, so a document can never grow past out->max.
 *
 * Threading: documents are drawn one at a time, under a process-wide lock,
 * with one Pango font map made at the first document and kept for the
 * process's life. Pango's objects are not thread-safe, and its default
 * per-thread font maps would load fontconfig's configuration again in every
 * worker thread (slow first documents) and leave fontconfig's caches behind
 * when a thread ends. Everything else lives in a struct doc on the stack.
 */
#include "documents/pdf.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <inttypes.h>
#include <pango/pangocairo.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/money.h"
#include "core/str.h"

/* A4 in points, and the margins. */
#define PAGE_W 595.276
#define PAGE_H 841.890
#define MARGIN 48.0
#define CONTENT_W (PAGE_W - 2 * MARGIN)
#define FOOTER_H 44.0
#define BOTTOM (PAGE_H - MARGIN - FOOTER_H)

/* The items table's columns: description, quantity, unit price, amount. */
#define COL_QTY_W 44.0
#define COL_MONEY_W 96.0
#define COL_DESC_W (CONTENT_W - COL_QTY_W - 2 * COL_MONEY_W - 12.0)
#define ROW_GAP 4.0

/* DejaVu for Latin, Greek and Cyrillic; Droid Sans Fallback (TrueType) for CJK
 * before anything fontconfig would pick: cairo 1.16's PDF subsetter leaks
 * about 1.5 KB per document embedding an OpenType/CFF font such as Noto CJK. */
#define FONT_FAMILY "DejaVu Sans,Droid Sans Fallback"

enum font { F_BODY, F_BOLD, F_SMALL, F_TITLE, F_COUNT };
enum align { AL_LEFT, AL_RIGHT, AL_CENTER };

struct sink {
    struct buf *out;
    size_t start; /* out->len before the document */
    bool too_large;
    bool nomem;
};

struct doc {
    cairo_surface_t *surface;
    cairo_t *cr;
    PangoLayout *layout;
    PangoFontDescription *font[F_COUNT];
    double y;
    int page;
    bool in_table; /* repeat the table header on a new page */
    const char *number;
    const char *currency;
    const char *footer;
};

static pthread_mutex_t pdf_lock = PTHREAD_MUTEX_INITIALIZER;
static PangoFontMap *pdf_fontmap; /* guarded by pdf_lock; never freed */

/* ---- small readers of the JSON ------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

static int64_t jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* "2026-12-07T05:30:00Z" → "2026-12-07" (anything shorter as it is). */
static void date_of(const char *iso, char out[16])
{
    str_copy(out, iso != NULL ? iso : "", 11);
}

static void money_of(const struct doc *d, int64_t minor, char out[MONEY_TEXT_MAX + 8])
{
    money_format_text(minor, d->currency, out, MONEY_TEXT_MAX + 8);
}

/* "unpaid" → "Unpaid", "partially_paid" → "Partially paid". */
static void status_label(const char *status, char *out, size_t outsz)
{
    str_copy(out, status != NULL ? status : "", outsz);
    for (char *p = out; *p; p++)
        if (*p == '_')
            *p = ' ';
    if (out[0] >= 'a' && out[0] <= 'z')
        out[0] = (char)(out[0] - 'a' + 'A');
}

/* ---- text ---------------------------------------------------------------------- */

/* Lays text out in a column of width w; answers its height in points. */
static double layout_text(struct doc *d, enum font f, double w, enum align al, const char *text)
{
    pango_layout_set_font_description(d->layout, d->font[f]);
    pango_layout_set_width(d->layout, (int)(w * PANGO_SCALE));
    pango_layout_set_wrap(d->layout, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_alignment(d->layout, al == AL_RIGHT    ? PANGO_ALIGN_RIGHT
                                          : al == AL_CENTER ? PANGO_ALIGN_CENTER
                                                            : PANGO_ALIGN_LEFT);
    pango_layout_set_text(d->layout, text != NULL ? text : "", -1);
    int pw = 0, ph = 0;
    pango_layout_get_size(d->layout, &pw, &ph);
    return (double)ph / PANGO_SCALE;
}

static double measure(struct doc *d, enum font f, double w, const char *text)
{
    return layout_text(d, f, w, AL_LEFT, text);
}

/* Draws text at (x, y) in a column of width w; answers its height. */
static double draw_text(struct doc *d, enum font f, double x, double y, double w, enum align al,
                        const char *text)
{
    double h = layout_text(d, f, w, al, text);
    cairo_move_to(d->cr, x, y);
    pango_cairo_show_layout(d->cr, d->layout);
    return h;
}

static void hline(struct doc *d, double y, double width)
{
    cairo_set_line_width(d->cr, width);
    cairo_move_to(d->cr, MARGIN, y);
    cairo_line_to(d->cr, MARGIN + CONTENT_W, y);
    cairo_stroke(d->cr);
}

/* ---- pages --------------------------------------------------------------------- */

static void draw_footer(struct doc *d)
{
    char page[32];
    double y = PAGE_H - MARGIN - FOOTER_H + 12;
    cairo_set_source_rgb(d->cr, 0.35, 0.35, 0.35);
    hline(d, y - 4, 0.4);
    snprintf(page, sizeof page, "Page %d", d->page);
    draw_text(d, F_SMALL, MARGIN + CONTENT_W - 80, y, 80, AL_RIGHT, page);
    if (str_present(d->footer)) {
        /* At most three lines: the footer must not run off the page. */
        pango_layout_set_height(d->layout, -3);
        pango_layout_set_ellipsize(d->layout, PANGO_ELLIPSIZE_END);
        draw_text(d, F_SMALL, MARGIN, y, CONTENT_W - 90, AL_LEFT, d->footer);
        pango_layout_set_height(d->layout, -1);
        pango_layout_set_ellipsize(d->layout, PANGO_ELLIPSIZE_NONE);
    }
    cairo_set_source_rgb(d->cr, 0, 0, 0);
}

static void table_header(struct doc *d)
{
    double x = MARGIN, y = d->y;
    double h = draw_text(d, F_BOLD, x, y, COL_DESC_W, AL_LEFT, "Description");
    x += COL_DESC_W + 12;
    draw_text(d, F_BOLD, x, y, COL_QTY_W, AL_RIGHT, "Qty");
    x += COL_QTY_W;
    draw_text(d, F_BOLD, x, y, COL_MONEY_W, AL_RIGHT, "Unit price");
    x += COL_MONEY_W;
    draw_text(d, F_BOLD, x, y, COL_MONEY_W, AL_RIGHT, "Amount");
    d->y += h + 3;
    hline(d, d->y, 0.8);
    d->y += ROW_GAP;
}

static void new_page(struct doc *d)
{
    char cont[160];
    draw_footer(d);
    cairo_show_page(d->cr);
    d->page++;
    d->y = MARGIN;
    snprintf(cont, sizeof cont, "%s (continued)", d->number);
    d->y += draw_text(d, F_SMALL, MARGIN, d->y, CONTENT_W, AL_RIGHT, cont) + 10;
    if (d->in_table)
        table_header(d);
}

/* Makes room for h points, starting a new page when they do not fit. */
static void ensure(struct doc *d, double h)
{
    if (d->y + h > BOTTOM && d->y > MARGIN + 40)
        new_page(d);
}

/* ---- blocks ------------------------------------------------------------------- */

/* The company logo, scaled into 170 × 60 points; absent or unreadable: nothing. */
static double draw_logo(struct doc *d, const char *path)
{
    struct stat st;
    if (!str_present(path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size <= 0 || (uintmax_t)st.st_size > PDF_LOGO_MAX_BYTES)
        return 0;
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    double h = 0;
    if (cairo_surface_status(img) == CAIRO_STATUS_SUCCESS) {
        int iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
        if (iw > 0 && ih > 0 && iw <= PDF_LOGO_MAX_SIDE && ih <= PDF_LOGO_MAX_SIDE) {
            double s = 170.0 / iw;
            if (ih * s > 60.0)
                s = 60.0 / ih;
            cairo_save(d->cr);
            cairo_translate(d->cr, MARGIN, d->y);
            cairo_scale(d->cr, s, s);
            cairo_set_source_surface(d->cr, img, 0, 0);
            cairo_paint(d->cr);
            cairo_restore(d->cr);
            h = ih * s;
        }
    }
    cairo_surface_destroy(img);
    return h;
}

static void add_line(struct buf *b, const char *prefix, const char *s)
{
    if (!str_present(s))
        return;
    if (b->len > 0)
        buf_append_char(b, '\n');
    buf_append_str(b, prefix);
    buf_append_str(b, s);
}

/* The seller's lines under its name. */
static void seller_lines(const json_t *s, struct buf *b)
{
    add_line(b, "", jstr(s, "address"));
    add_line(b, "", jstr(s, "country"));
    add_line(b, "Tax ID: ", jstr(s, "tax_id"));
    add_line(b, "", jstr(s, "email"));
}

/* The buyer's lines under its name. */
static void buyer_lines(const json_t *s, struct buf *b)
{
    char city[512];
    add_line(b, "", jstr(s, "company"));
    add_line(b, "", jstr(s, "address1"));
    add_line(b, "", jstr(s, "address2"));
    snprintf(city, sizeof city, "%s%s%s", jstr(s, "postcode"),
             str_present(jstr(s, "postcode")) && str_present(jstr(s, "city")) ? " " : "",
             jstr(s, "city"));
    add_line(b, "", city);
    add_line(b, "", jstr(s, "region"));
    add_line(b, "", jstr(s, "country"));
    add_line(b, "Tax ID: ", jstr(s, "tax_id"));
    add_line(b, "", jstr(s, "email"));
}

/* A party: heading, name in bold, lines; answers its height. */
static double draw_party(struct doc *d, double x, double w, const char *heading, const char *name,
                         const char *lines)
{
    double y = d->y;
    cairo_set_source_rgb(d->cr, 0.35, 0.35, 0.35);
    y += draw_text(d, F_SMALL, x, y, w, AL_LEFT, heading) + 2;
    cairo_set_source_rgb(d->cr, 0, 0, 0);
    if (str_present(name))
        y += draw_text(d, F_BOLD, x, y, w, AL_LEFT, name) + 1;
    if (str_present(lines))
        y += draw_text(d, F_BODY, x, y, w, AL_LEFT, lines);
    return y - d->y;
}

static void draw_parties(struct doc *d, const json_t *seller, const json_t *buyer,
                         const char *buyer_heading)
{
    struct buf sl, bl;
    buf_init(&sl, 8192);
    buf_init(&bl, 8192);
    double w = CONTENT_W / 2 - 12;
    seller_lines(seller, &sl);
    buyer_lines(buyer, &bl);
    double h1 = 0, h2 = 0;
    if (json_is_object(seller))
        h1 = draw_party(d, MARGIN, w, "From", jstr(seller, "name"), buf_cstr(&sl));
    if (json_is_object(buyer))
        h2 = draw_party(d, MARGIN + CONTENT_W / 2 + 12, w, buyer_heading, jstr(buyer, "name"),
                        buf_cstr(&bl));
    d->y += (h1 > h2 ? h1 : h2) + 18;
    buf_free(&sl);
    buf_free(&bl);
}

/* The title block at the top right: title, number, and up to four "label: value" lines. */
static void draw_title(struct doc *d, const char *title, const char *const facts[][2], size_t n,
                       const char *logo_path)
{
    double top = d->y;
    double logo_h = draw_logo(d, logo_path);
    double x = MARGIN + CONTENT_W / 2, w = CONTENT_W / 2;
    double y = top;
    y += draw_text(d, F_TITLE, x, y, w, AL_RIGHT, title);
    y += draw_text(d, F_BOLD, x, y, w, AL_RIGHT, d->number) + 4;
    for (size_t i = 0; i < n; i++) {
        char line[256];
        if (!str_present(facts[i][1]))
            continue;
        snprintf(line, sizeof line, "%s: %s", facts[i][0], facts[i][1]);
        y += draw_text(d, F_BODY, x, y, w, AL_RIGHT, line);
    }
    d->y = (y > top + logo_h ? y : top + logo_h) + 20;
}

/* One row of the items table. */
static void draw_item(struct doc *d, const json_t *it)
{
    char desc[4096], qty[32], unit[MONEY_TEXT_MAX + 8], amount[MONEY_TEXT_MAX + 8];
    const char *ps = jstr(it, "period_start"), *pe = jstr(it, "period_end");
    if (str_present(ps) && str_present(pe)) {
        char a[16], b[16];
        date_of(ps, a);
        date_of(pe, b);
        snprintf(desc, sizeof desc, "%s\n%s – %s", jstr(it, "description"), a, b);
    } else {
        str_copy(desc, jstr(it, "description"), sizeof desc);
    }
    snprintf(qty, sizeof qty, "%" PRId64, jint(it, "quantity"));
    money_of(d, jint(it, "unit_amount"), unit);
    money_of(d, jint(it, "amount"), amount);
    double h = measure(d, F_BODY, COL_DESC_W, desc);
    ensure(d, h + ROW_GAP);
    double x = MARGIN;
    draw_text(d, F_BODY, x, d->y, COL_DESC_W, AL_LEFT, desc);
    x += COL_DESC_W + 12;
    draw_text(d, F_BODY, x, d->y, COL_QTY_W, AL_RIGHT, qty);
    x += COL_QTY_W;
    draw_text(d, F_BODY, x, d->y, COL_MONEY_W, AL_RIGHT, unit);
    x += COL_MONEY_W;
    draw_text(d, F_BODY, x, d->y, COL_MONEY_W, AL_RIGHT, amount);
    d->y += h + ROW_GAP;
}

/* "label .... amount" in the totals column, bold when strong. */
static void draw_total(struct doc *d, const char *label, int64_t minor, bool strong)
{
    char amount[MONEY_TEXT_MAX + 8];
    double lw = 230, x = MARGIN + CONTENT_W - COL_MONEY_W - lw;
    money_of(d, minor, amount);
    enum font f = strong ? F_BOLD : F_BODY;
    double h = measure(d, f, lw, label);
    ensure(d, h + 2);
    draw_text(d, f, x, d->y, lw, AL_RIGHT, label);
    draw_text(d, f, MARGIN + CONTENT_W - COL_MONEY_W, d->y, COL_MONEY_W, AL_RIGHT, amount);
    d->y += h + 2;
}

/* "VAT 19.00 % (DE)" or "VAT 20.00 % (GB, incl.)". */
static void tax_label(const json_t *t, char *out, size_t outsz)
{
    int64_t bp = jint(t, "rate_bp");
    char place[96] = "";
    const char *country = jstr(t, "country"), *region = jstr(t, "region");
    bool incl = json_is_true(json_object_get(t, "inclusive")) || jint(t, "inclusive") == 1;
    if (str_present(country) || incl)
        snprintf(place, sizeof place, " (%s%s%s%s%s)", country, str_present(region) ? "-" : "",
                 region, str_present(country) && incl ? ", " : "", incl ? "incl." : "");
    snprintf(out, outsz, "%s %" PRId64 ".%02" PRId64 " %%%s", str_present(jstr(t, "name"))
             ? jstr(t, "name") : "Tax", bp / 100, bp % 100, place);
}

static void draw_taxes(struct doc *d, const json_t *inv)
{
    const json_t *taxes = json_object_get(inv, "taxes");
    size_t i;
    const json_t *t;
    if (json_array_size(taxes) == 0) {
        draw_total(d, "Tax", jint(inv, "tax"), false);
        return;
    }
    json_array_foreach(taxes, i, t)
    {
        char label[256], base[MONEY_TEXT_MAX + 8], line[400];
        tax_label(t, label, sizeof label);
        money_of(d, jint(t, "base"), base);
        snprintf(line, sizeof line, "%s on %s", label, base);
        draw_total(d, line, jint(t, "amount"), false);
    }
}

/* A heading and a paragraph of text over the whole width. */
static void draw_paragraph(struct doc *d, const char *heading, const char *text)
{
    if (!str_present(text))
        return;
    double h = measure(d, F_BODY, CONTENT_W, text);
    double hh = heading != NULL ? measure(d, F_BOLD, CONTENT_W, heading) : 0;
    ensure(d, h + hh + 10);
    d->y += 8;
    if (heading != NULL)
        d->y += draw_text(d, F_BOLD, MARGIN, d->y, CONTENT_W, AL_LEFT, heading) + 2;
    d->y += draw_text(d, F_BODY, MARGIN, d->y, CONTENT_W, AL_LEFT, text);
}

/* A small table of rows "left | middle | amount" under a heading (payments, credit notes). */
static void draw_list_row(struct doc *d, const char *left, const char *middle, int64_t minor)
{
    char amount[MONEY_TEXT_MAX + 8];
    money_of(d, minor, amount);
    double lw = 150, mw = CONTENT_W - lw - COL_MONEY_W - 12;
    double h1 = measure(d, F_BODY, lw, left), h2 = measure(d, F_BODY, mw, middle);
    double h = h1 > h2 ? h1 : h2;
    ensure(d, h + 2);
    draw_text(d, F_BODY, MARGIN, d->y, lw, AL_LEFT, left);
    draw_text(d, F_BODY, MARGIN + lw, d->y, mw, AL_LEFT, middle);
    draw_text(d, F_BODY, MARGIN + CONTENT_W - COL_MONEY_W, d->y, COL_MONEY_W, AL_RIGHT, amount);
    d->y += h + 2;
}

static void draw_list_heading(struct doc *d, const char *heading)
{
    ensure(d, 40);
    d->y += 12;
    d->y += draw_text(d, F_BOLD, MARGIN, d->y, CONTENT_W, AL_LEFT, heading) + 2;
    hline(d, d->y, 0.5);
    d->y += 3;
}

static void draw_credit_notes(struct doc *d, const json_t *notes)
{
    size_t i;
    const json_t *n;
    if (json_array_size(notes) == 0)
        return;
    draw_list_heading(d, "Credit notes");
    json_array_foreach(notes, i, n)
    {
        char left[160], date[16];
        date_of(jstr(n, "created_at"), date);
        snprintf(left, sizeof left, "%s  %s", jstr(n, "number"), date);
        draw_list_row(d, left, jstr(n, "reason"), jint(n, "amount"));
    }
}

static void draw_payments(struct doc *d, const json_t *payments)
{
    size_t i;
    const json_t *p;
    if (json_array_size(payments) == 0)
        return;
    draw_list_heading(d, "Payments");
    json_array_foreach(payments, i, p)
    {
        char left[64], middle[400], kind[32], date[16];
        date_of(jstr(p, "created_at"), date);
        status_label(jstr(p, "kind"), kind, sizeof kind);
        snprintf(left, sizeof left, "%s  %s", date, kind);
        /* Only a state that says the money is not (yet) there is worth printing. */
        const char *st = jstr(p, "status");
        bool note = str_eq(st, "pending") || str_eq(st, "failed");
        snprintf(middle, sizeof middle, "%s  %s%s%s", jstr(p, "gateway"), jstr(p, "gateway_ref"),
                 note ? "  " : "", note ? st : "");
        draw_list_row(d, left, middle, jint(p, "amount"));
    }
}

/* ---- the document's life -------------------------------------------------------- */

static cairo_status_t sink_write(void *closure, const unsigned char *data, unsigned int len)
{
    struct sink *s = closure;
    int rc = buf_append(s->out, data, len);
    if (rc == 0)
        return CAIRO_STATUS_SUCCESS;
    if (rc == LUMI_ETOOLARGE)
        s->too_large = true;
    else
        s->nomem = true;
    return CAIRO_STATUS_WRITE_ERROR;
}

static int doc_open(struct doc *d, struct sink *s, const char *number, const char *currency,
                    const json_t *opts, struct lumi_err *err)
{
    static const char *const SPEC[F_COUNT] = {FONT_FAMILY " 9", FONT_FAMILY " Bold 9",
                                              FONT_FAMILY " 7.5", FONT_FAMILY " Bold 18"};
    memset(d, 0, sizeof *d);
    if (!str_present(number) || !str_present(currency))
        return err_set(err, LUMI_EINVAL, "the document has no number or currency");
    d->number = number;
    d->currency = currency;
    d->footer = json_string_value(json_object_get(opts, "footer"));
    d->page = 1;
    d->y = MARGIN;
    d->surface = cairo_pdf_surface_create_for_stream(sink_write, s, PAGE_W, PAGE_H);
    if (cairo_surface_status(d->surface) != CAIRO_STATUS_SUCCESS)
        return err_set(err, LUMI_ENOMEM, "cannot create a PDF surface");
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_TITLE, number);
    cairo_pdf_surface_set_metadata(d->surface, CAIRO_PDF_METADATA_CREATOR, "Lumi");
    d->cr = cairo_create(d->surface);
    if (pdf_fontmap == NULL)
        pdf_fontmap = pango_cairo_font_map_new();
    if (pdf_fontmap == NULL || cairo_status(d->cr) != CAIRO_STATUS_SUCCESS)
        return err_set(err, LUMI_ENOMEM, "cannot create a PDF context");
    PangoContext *pc = pango_font_map_create_context(pdf_fontmap);
    if (pc == NULL)
        return err_set(err, LUMI_ENOMEM, "cannot create a PDF context");
    pango_cairo_update_context(d->cr, pc);
    d->layout = pango_layout_new(pc);
    g_object_unref(pc); /* the layout holds it */
    if (d->layout == NULL)
        return err_set(err, LUMI_ENOMEM, "cannot create a PDF context");
    for (int i = 0; i < F_COUNT; i++) {
        d->font[i] = pango_font_description_from_string(SPEC[i]);
        if (d->font[i] == NULL)
            return err_set(err, LUMI_ENOMEM, "out of memory");
    }
    cairo_set_source_rgb(d->cr, 0, 0, 0);
    return 0;
}

/* Finishes the last page and the file; frees everything. 0 or the error. */
static int doc_close(struct doc *d, struct sink *s, int rc, struct lumi_err *err)
{
    if (rc == 0 && d->cr != NULL) {
        draw_footer(d);
        cairo_show_page(d->cr);
    }
    cairo_status_t cst = d->cr != NULL ? cairo_status(d->cr) : CAIRO_STATUS_SUCCESS;
    for (int i = 0; i < F_COUNT; i++)
        if (d->font[i] != NULL)
            pango_font_description_free(d->font[i]);
    if (d->layout != NULL)
        g_object_unref(d->layout);
    if (d->cr != NULL)
        cairo_destroy(d->cr);
    if (d->surface != NULL) {
        cairo_surface_finish(d->surface);
        if (cst == CAIRO_STATUS_SUCCESS)
            cst = cairo_surface_status(d->surface);
        cairo_surface_destroy(d->surface);
    }
    if (rc == 0 && s->too_large)
        rc = err_set(err, LUMI_ETOOLARGE, "the PDF of %s is larger than %zu bytes", d->number,
                     s->out->max);
    else if (rc == 0 && s->nomem)
        rc = err_set(err, LUMI_ENOMEM, "out of memory writing a PDF");
    else if (rc == 0 && cst != CAIRO_STATUS_SUCCESS)
        rc = err_set(err, LUMI_EINTERNAL, "cairo: %s", cairo_status_to_string(cst));
    if (rc != 0 && s->out->len > s->start) {
        /* Leave the caller's buffer as it was. */
        s->out->len = s->start;
        if (s->out->data != NULL)
            s->out->data[s->start] = '\0';
    }
    return rc;
}

/* ---- the two documents ------------------------------------------------------------ */

static void draw_invoice_body(struct doc *d, const json_t *inv, const json_t *opts)
{
    char issued[16], due[16], paid[16], status[64];
    date_of(jstr(inv, "created_at"), issued);
    date_of(jstr(inv, "due_date"), due);
    date_of(jstr(inv, "paid_at"), paid);
    status_label(jstr(inv, "status"), status, sizeof status);
    const char *const facts[][2] = {
        {"Issued", issued}, {"Due", due}, {"Paid", paid}, {"Status", status}};
    draw_title(d, "Invoice", facts, sizeof facts / sizeof facts[0],
               json_string_value(json_object_get(opts, "logo_path")));
    draw_parties(d, json_object_get(inv, "seller"), json_object_get(inv, "buyer"), "Bill to");

    d->in_table = true;
    ensure(d, 60);
    table_header(d);
    size_t i;
    const json_t *it;
    json_array_foreach(json_object_get(inv, "items"), i, it)
        draw_item(d, it);
    d->in_table = false;
    hline(d, d->y, 0.8);
    d->y += 6;

    int64_t total = jint(inv, "total"), paid_amt = jint(inv, "amount_paid");
    draw_total(d, "Subtotal", jint(inv, "subtotal"), false);
    if (jint(inv, "discount") != 0)
        draw_total(d, "Discount", -jint(inv, "discount"), false);
    draw_taxes(d, inv);
    draw_total(d, "Total", total, true);
    if (jint(inv, "credit_applied") != 0)
        draw_total(d, "Credit applied", jint(inv, "credit_applied"), false);
    draw_total(d, "Amount paid", paid_amt, false);
    if (jint(inv, "amount_refunded") != 0)
        draw_total(d, "Amount refunded", jint(inv, "amount_refunded"), false);
    if (!str_eq(jstr(inv, "status"), "cancelled"))
        draw_total(d, "Balance due", total > paid_amt ? total - paid_amt : 0, true);

    draw_paragraph(d, NULL, jstr(inv, "tax_note"));
    draw_credit_notes(d, json_object_get(inv, "credit_notes"));
    draw_payments(d, json_object_get(inv, "payments"));
}

int pdf_invoice(const json_t *invoice, const json_t *opts, struct buf *out, struct lumi_err *err)
{
    struct doc d;
    struct sink s = {.out = out, .start = out->len};
    if (json_array_size(json_object_get(invoice, "items")) > PDF_MAX_ITEMS)
        return err_set(err, LUMI_ETOOLARGE, "an invoice PDF lists at most %d items",
                       PDF_MAX_ITEMS);
    pthread_mutex_lock(&pdf_lock);
    int rc = doc_open(&d, &s, jstr(invoice, "number"), jstr(invoice, "currency"), opts, err);
    if (rc == 0)
        draw_invoice_body(&d, invoice, opts);
    rc = doc_close(&d, &s, rc, err);
    pthread_mutex_unlock(&pdf_lock);
    return rc;
}

static void draw_credit_note_body(struct doc *d, const json_t *cn, const json_t *opts)
{
    char issued[16];
    date_of(jstr(cn, "created_at"), issued);
    const char *const facts[][2] = {{"Issued", issued},
                                    {"For invoice", jstr(cn, "invoice_number")}};
    draw_title(d, "Credit note", facts, sizeof facts / sizeof facts[0],
               json_string_value(json_object_get(opts, "logo_path")));
    draw_parties(d, json_object_get(cn, "seller"), json_object_get(cn, "buyer"), "Credited to");

    int64_t amount = jint(cn, "amount"), tax = jint(cn, "tax");
    draw_list_heading(d, "Reason");
    draw_list_row(d, issued, jstr(cn, "reason"), amount);
    d->y += 8;
    draw_total(d, "Net", amount - tax, false);
    draw_total(d, "Tax", tax, false);
    draw_total(d, "Total credited", amount, true);
}

int pdf_credit_note(const json_t *note, const json_t *opts, struct buf *out,
                    struct lumi_err *err)
{
    struct doc d;
    struct sink s = {.out = out, .start = out->len};
    pthread_mutex_lock(&pdf_lock);
    int rc = doc_open(&d, &s, jstr(note, "number"), jstr(note, "currency"), opts, err);
    if (rc == 0)
        draw_credit_note_body(&d, note, opts);
    rc = doc_close(&d, &s, rc, err);
    pthread_mutex_unlock(&pdf_lock);
    return rc;
}
