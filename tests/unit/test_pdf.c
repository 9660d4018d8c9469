/*
 * test_pdf.c — documents/pdf.h on its own: an invoice with nothing but its
 * number, currency and amounts still renders (no seller, buyer, taxes or
 * credit notes: the shape of an invoice from before issue 14); a logo PNG is
 * drawn, a missing one left out; the caller's bound holds (a too-small
 * buffer is LUMI_ETOOLARGE with the buffer as it was); no number is
 * LUMI_EINVAL; more items than PDF_MAX_ITEMS are refused; threads render at
 * once (Pango's font map per thread).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "documents/pdf.h"

static json_t *bare_invoice(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:[{s:s, s:I, s:I, s:I}]}",
                     "number", "INV-000042", "status", "unpaid", "currency", "jpy", "subtotal",
                     (json_int_t)1500, "tax", (json_int_t)0, "total", (json_int_t)1500,
                     "amount_paid", (json_int_t)0, "amount_refunded", (json_int_t)0, "due_date",
                     "2026-12-31", "created_at", "2026-12-01T00:00:00Z", "items", "description",
                     "Hosting", "quantity", (json_int_t)1, "unit_amount", (json_int_t)1500,
                     "amount", (json_int_t)1500);
}

static int render(const json_t *inv, const json_t *opts, struct buf *out)
{
    struct lumi_err err;
    err_clear(&err);
    return pdf_invoice(inv, opts, out, &err);
}

static void an_invoice_without_the_issue_14_members_renders(void **state)
{
    (void)state;
    json_t *inv = bare_invoice();
    struct buf out;
    buf_init(&out, 4u << 20);
    assert_int_equal(render(inv, NULL, &out), 0);
    assert_true(out.len > 1000);
    assert_memory_equal(out.data, "%PDF-", 5);
    buf_free(&out);
    json_decref(inv);
}

static void a_logo_is_drawn_and_a_missing_one_left_out(void **state)
{
    (void)state;
    char png[] = "/tmp/lumi-test-logo-XXXXXX";
    int fd = mkstemp(png);
    assert_true(fd >= 0);
    close(fd);
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 120, 40);
    cairo_t *cr = cairo_create(img);
    cairo_set_source_rgb(cr, 0.1, 0.3, 0.8);
    cairo_paint(cr);
    cairo_destroy(cr);
    assert_int_equal(cairo_surface_write_to_png(img, png), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(img);

    json_t *inv = bare_invoice();
    struct buf without, with, missing;
    buf_init(&without, 4u << 20);
    buf_init(&with, 4u << 20);
    buf_init(&missing, 4u << 20);
    json_t *o1 = json_pack("{s:s}", "logo_path", png);
    json_t *o2 = json_pack("{s:s}", "logo_path", "/nonexistent/logo.png");
    assert_int_equal(render(inv, NULL, &without), 0);
    assert_int_equal(render(inv, o1, &with), 0);
    assert_int_equal(render(inv, o2, &missing), 0);
    /* the image is in the file: /Subtype /Image appears only with the logo */
    assert_non_null(memmem(with.data, with.len, "/Image", 6));
    assert_null(memmem(without.data, without.len, "/Image", 6));
    assert_null(memmem(missing.data, missing.len, "/Image", 6));
    unlink(png);
    json_decref(o1);
    json_decref(o2);
    buf_free(&without);
    buf_free(&with);
    buf_free(&missing);
    json_decref(inv);
}

static void the_bound_holds_and_the_buffer_stays_as_it_was(void **state)
{
    (void)state;
    json_t *inv = bare_invoice();
    struct buf out;
    struct lumi_err err;
    buf_init(&out, 2000);
    assert_int_equal(buf_append_str(&out, "before"), 0);
    err_clear(&err);
    assert_int_equal(pdf_invoice(inv, NULL, &out, &err), LUMI_ETOOLARGE);
    assert_non_null(strstr(err.msg, "INV-000042"));
    assert_string_equal(buf_cstr(&out), "before");
    assert_int_equal(out.len, 6);
    buf_free(&out);
    json_decref(inv);
}

static void no_number_and_too_many_items_are_refused(void **state)
{
    (void)state;
    json_t *inv = bare_invoice();
    struct buf out;
    struct lumi_err err;
    buf_init(&out, 4u << 20);
    json_object_del(inv, "number");
    err_clear(&err);
    assert_int_equal(pdf_invoice(inv, NULL, &out, &err), LUMI_EINVAL);
    assert_int_equal(out.len, 0);
    json_decref(inv);

    inv = bare_invoice();
    json_t *items = json_object_get(inv, "items");
    while (json_array_size(items) <= PDF_MAX_ITEMS)
        json_array_append(items, json_array_get(items, 0));
    err_clear(&err);
    assert_int_equal(pdf_invoice(inv, NULL, &out, &err), LUMI_ETOOLARGE);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    json_decref(inv);
}

static void *render_many(void *arg)
{
    const json_t *inv = arg;
    for (int i = 0; i < 5; i++) {
        struct buf out;
        buf_init(&out, 4u << 20);
        int rc = render(inv, NULL, &out);
        buf_free(&out);
        if (rc != 0)
            return (void *)1;
    }
    return NULL;
}

/* With Japanese text, so that the ASan build's leak check sees a font subsetter that
 * leaks per document (cairo 1.16 with an OpenType/CFF CJK font) as 20 leaks. */
static void threads_render_at_once(void **state)
{
    (void)state;
    json_t *inv = bare_invoice();
    json_object_set_new(json_array_get(json_object_get(inv, "items"), 0), "description",
                        json_string("ウェブホスティング 渡辺"));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, render_many, inv), 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    json_decref(inv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_invoice_without_the_issue_14_members_renders),
        cmocka_unit_test(a_logo_is_drawn_and_a_missing_one_left_out),
        cmocka_unit_test(the_bound_holds_and_the_buffer_stays_as_it_was),
        cmocka_unit_test(no_number_and_too_many_items_are_refused),
        cmocka_unit_test(threads_render_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
