/*
 * pdftext.c — pdftotext over a PDF held in memory (see pdftext.h): the bytes
 * go to a temporary file, pdftotext -layout writes the text to a pipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "support/pdftext.h"

struct pdf_text pdf_read(const char *data, size_t len)
{
    char path[] = "/tmp/lumi-test-pdf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 -layout %s - 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    struct pdf_text t = {0};
    size_t cap = 1 << 20, n = 0;
    t.text = malloc(cap);
    assert_non_null(t.text);
    size_t got;
    while ((got = fread(t.text + n, 1, cap - n - 1, p)) > 0)
        n += got;
    t.text[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    if (rc != 0)
        fail_msg("pdftotext failed (%d): %s", rc, t.text);
    for (size_t i = 0; i < n; i++)
        t.pages += t.text[i] == '\f';
    return t;
}
