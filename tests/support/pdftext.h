/*
 * pdftext.h — what Debian's pdftotext (poppler-utils) reads in a PDF, as an
 * accountant's software would read the document Lumi made. For the tests of
 * invoices, credit notes and the mail that carries them.
 */
#ifndef LUMI_TESTS_PDFTEXT_H
#define LUMI_TESTS_PDFTEXT_H

#include <stddef.h>

struct pdf_text {
    char *text; /* pdftotext -layout, pages separated by form feeds; free() it */
    int pages;
};

/** The text of the PDF in data (len bytes); fails the test when pdftotext cannot read it. */
struct pdf_text pdf_read(const char *data, size_t len);

#endif
