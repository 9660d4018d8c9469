/*
 * pdf.h — invoices and credit notes as A4 PDF documents (cairo + pango).
 *
 * This layer renders; it never queries. The caller (billing/invoice_docs.h)
 * gathers everything a document shows into JSON and hands it here. Every
 * member but the number, currency and amounts may be absent or empty, and is
 * then left out of the page (a document from before issue 14 has no frozen
 * seller, buyer or taxes).
 *
 * Text is UTF-8 set with real fonts through Pango and fontconfig (DejaVu Sans,
 * then Droid Sans Fallback for CJK, then any installed font for scripts
 * neither has), wrapped to its column; amounts are right-aligned as
 * money_format_text writes them ("15.00 EUR"). Long invoices break onto new
 * pages with the items table's header repeated; every page carries the
 * footer and its page number.
 *
 * Thread-safe: documents are drawn one at a time (a process-wide lock around
 * the one Pango font map, made at the first document and kept).
 *
 * Where it runs: pdf.c is built into the module lumi-pdf.so only; in lumi and
 * every program linking lumi_lib these two functions are the loader's
 * (pdf_module.c), which opens the module at the first document and forwards
 * to it, or fails with LUMI_EBUSY when it cannot be loaded.
 */
#ifndef LUMI_DOCUMENTS_PDF_H
#define LUMI_DOCUMENTS_PDF_H

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/** Most items one document lists (more answers LUMI_ETOOLARGE). */
#define PDF_MAX_ITEMS 2000

/** Largest logo file read (company.logo_path), and its largest side in pixels. */
#define PDF_LOGO_MAX_BYTES (2u << 20)
#define PDF_LOGO_MAX_SIDE 4000

/**
 * Appends the PDF of an invoice to out (whose max bounds the document: a
 * larger one fails with LUMI_ETOOLARGE and out is left as it was).
 *
 * invoice (borrowed): {number, status, currency, subtotal, tax, total,
 * amount_paid, amount_refunded, due_date, created_at, paid_at?, kind?,
 * discount?, credit_applied?, tax_note?,
 * seller? {name, address (lines split by "\n"), country, tax_id, email},
 * buyer? {name, company, email, address1, address2, city, region, postcode,
 *         country, tax_id},
 * items [{description, quantity, unit_amount, amount, period_start?, period_end?}],
 * taxes? [{name, country, region, rate_bp, inclusive, base, amount}],
 * credit_notes? [{number, amount, tax, reason, created_at}],
 * payments? [{kind, gateway, gateway_ref, amount, currency, status, created_at}]}.
 *
 * opts (borrowed, may be NULL): {logo_path? (a PNG; a missing, unreadable or
 * oversized file is left out, not an error), footer? (text on every page)}.
 *
 * 0; LUMI_EINVAL (no number or currency), LUMI_ETOOLARGE, LUMI_ENOMEM,
 * LUMI_EINTERNAL when cairo fails, or LUMI_EBUSY (→ 503) when the PDF module
 * cannot be loaded (the message names each path tried and why it failed).
 */
int pdf_invoice(const json_t *invoice, const json_t *opts, struct buf *out, struct lumi_err *err);

/**
 * As pdf_invoice for a credit note (borrowed): {number, currency, amount
 * (gross), tax, reason, created_at, invoice_number?, seller?, buyer?}.
 */
int pdf_credit_note(const json_t *note, const json_t *opts, struct buf *out,
                    struct lumi_err *err);

#endif
