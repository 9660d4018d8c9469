/*
 * invoice_docs.h — the PDF of an invoice or a credit note, gathered from the
 * database and rendered by documents/pdf.h.
 *
 * What a document shows is what was frozen on it when it was issued (the
 * invoice's seller, buyer, taxes, credit notes as invoices_get answers them);
 * a member that is absent — an invoice from before issue 14 — is filled
 * from the present: the seller from the company settings (company.name, else
 * SMTP_FROM's display name, else "Lumi"), the buyer from the client's
 * record. The payment
 * references come from the invoice's transactions. Read-only.
 */
#ifndef LUMI_BILLING_INVOICE_DOCS_H
#define LUMI_BILLING_INVOICE_DOCS_H

#include <jansson.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "db/db.h"

/** Largest PDF answered or attached. */
#define INVOICE_DOCS_PDF_MAX (16u << 20)

/** Room for a document's file name ("INV-2026-000001.pdf"). */
#define INVOICE_DOCS_NAME_MAX 96

/**
 * The invoice as pdf_invoice reads it (new reference), or NULL with err:
 * LUMI_ENOTFOUND when there is no such invoice or, when client_id > 0, it is
 * not that client's (the same answer, so another's invoice cannot be told
 * from a missing one).
 */
json_t *invoice_docs_invoice(struct db *db, int64_t id, int64_t client_id, struct lumi_err *err);

/**
 * Appends the invoice's PDF to out and its file name ("INV-000001.pdf",
 * the number with anything but letters, digits, '-', '_' and '.' made '_')
 * to name. Errors as invoice_docs_invoice, and those of pdf_invoice.
 */
int invoice_docs_invoice_pdf(struct db *db, int64_t id, int64_t client_id, struct buf *out,
                             char name[INVOICE_DOCS_NAME_MAX], struct lumi_err *err);

/** As invoice_docs_invoice_pdf for a credit note (credit_notes.id). */
int invoice_docs_credit_note_pdf(struct db *db, int64_t id, struct buf *out,
                                 char name[INVOICE_DOCS_NAME_MAX], struct lumi_err *err);

#endif
