/*
 * bench_pdf.c — PDFs per second for a 10-line invoice (documents/pdf.h),
 * rendered in memory the way GET /api/admin/invoices/{id}/pdf and the
 * invoice mails render it: real fonts through Pango (DejaVu Sans, Noto CJK
 * for the Japanese client name), a footer, two taxes, one payment.
 *
 * Usage: bench_pdf [ITERATIONS [OUT.pdf]]   (default 300; OUT.pdf keeps the last one to look at)
 * Prints PDFs per second (best of 3 runs), milliseconds per PDF and bytes
 * per PDF; exit status 1 when a render fails or a PDF does not start "%PDF-".
 *
 * Threading: one thread (the server renders one PDF per worker thread).
 * The renderer is this build's lumi-pdf.so (LUMI_PDF_MODULE when set, else
 * the path compiled in by bench/CMakeLists.txt); the first document loads it
 * and is not timed apart (best of 3 runs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/str.h"
#include "documents/pdf.h"

#define RUNS 3
#define LINES 10

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static json_t *invoice_10_lines(void)
{
    json_t *inv = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s,"
        " s:{s:s, s:s, s:s, s:s, s:s},"
        " s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s},"
        " s:[{s:s, s:s, s:s, s:I, s:b, s:I, s:I}],"
        " s:[{s:s, s:s, s:s, s:I, s:s, s:s}], s:[]}",
        "number", "INV-2026-000123", "status", "partially_paid", "currency", "eur", "subtotal",
        (json_int_t)55000, "tax", (json_int_t)10450, "total", (json_int_t)65450, "amount_paid",
        (json_int_t)20000, "amount_refunded", (json_int_t)0, "due_date", "2026-12-31",
        "created_at", "2026-12-07T05:30:00Z",
        "seller", "name", "Acme Hosting GmbH", "address", "Hauptstraße 1\n10115 Berlin",
        "country", "DE", "tax_id", "DE123456789", "email", "billing@acme.example",
        "buyer", "name", "渡辺 健", "company", "Watanabe Trading K.K.", "address1",
        "1-2-3 Shibuya", "city", "Tokyo", "postcode", "150-0002", "country", "JP", "email",
        "watanabe@example.jp",
        "taxes", "name", "VAT", "country", "DE", "region", "", "rate_bp", (json_int_t)1900,
        "inclusive", 0, "base", (json_int_t)55000, "amount", (json_int_t)10450,
        "payments", "kind", "payment", "gateway", "stripe", "gateway_ref",
        "pi_3Nabcdefghijkl", "amount", (json_int_t)20000, "status", "succeeded", "created_at",
        "2026-12-08T10:00:00Z", "items");
    if (inv == NULL)
        return NULL;
    json_t *items = json_object_get(inv, "items");
    for (int i = 1; i <= LINES; i++) {
        char d[160];
        snprintf(d, sizeof d, "Managed VPS %d — 4 vCPU, 8 GB RAM, 160 GB NVMe, daily backups", i);
        json_array_append_new(items, json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "description", d,
                                               "quantity", (json_int_t)1, "unit_amount",
                                               (json_int_t)5500, "amount", (json_int_t)5500,
                                               "period_start", "2026-12-01", "period_end",
                                               "2026-12-31"));
    }
    return inv;
}

int main(int argc, char **argv)
{
    int64_t n = 300;
    setenv("LUMI_PDF_MODULE", LUMI_BENCH_PDF_MODULE, 0);
    if (argc > 1 && str_to_i64z(argv[1], 1, 1000000, &n) != 0) {
        fprintf(stderr, "usage: bench_pdf [ITERATIONS [OUT.pdf]]\n");
        return 2;
    }
    json_t *inv = invoice_10_lines();
    json_t *opts = json_pack("{s:s}", "footer", "Acme Hosting GmbH · Amtsgericht Berlin HRB 1");
    if (inv == NULL || opts == NULL) {
        fprintf(stderr, "bench_pdf: cannot build the invoice\n");
        return 1;
    }
    struct buf out;
    buf_init(&out, 16u << 20);
    double best = 0;
    size_t bytes = 0;
    for (int run = 0; run < RUNS; run++) {
        int64_t t0 = mono_ns();
        for (int64_t i = 0; i < n; i++) {
            struct lumi_err err = {0};
            buf_reset(&out);
            if (pdf_invoice(inv, opts, &out, &err) != 0 || out.len < 5 ||
                memcmp(out.data, "%PDF-", 5) != 0) {
                fprintf(stderr, "bench_pdf: render failed: %s\n", err.msg);
                return 1;
            }
            bytes = out.len;
        }
        double s = (double)(mono_ns() - t0) / 1e9;
        double rate = (double)n / s;
        if (rate > best)
            best = rate;
    }
    printf("pdf: %.0f PDFs/s (%.2f ms each, best of %d runs of %lld), %zu bytes per PDF "
           "(%d lines)\n",
           best, 1000.0 / best, RUNS, (long long)n, bytes, LINES);
    FILE *f = argc > 2 ? fopen(argv[2], "wb") : NULL;
    if (f != NULL) {
        fwrite(out.data, 1, out.len, f);
        fclose(f);
    }
    buf_free(&out);
    json_decref(inv);
    json_decref(opts);
    return 0;
}
