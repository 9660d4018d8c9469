/*
 * test_pdf_module.c — the loader of lumi-pdf.so (documents/pdf_module.c), as
 * pdf_invoice and pdf_credit_note show it:
 *   - LUMI_PDF_MODULE naming a missing file: LUMI_EBUSY (→ 503) whose message
 *     names the path and dlerror()'s reason, for both documents, every time;
 *   - a shared library that is not a Lumi PDF module, and a module built for
 *     another Lumi (another ABI mark), are refused with the reason;
 *   - without LUMI_PDF_MODULE it looks beside the executable, then in the
 *     install directory (a message naming both when neither has it);
 *   - this build's module (CTest's LUMI_PDF_MODULE) renders both documents.
 * The module is loaded once per process, so each case runs in a child
 * process of its own and reports its result through a pipe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "documents/pdf.h"

struct outcome {
    int rc_invoice;
    int rc_credit_note;
    int rc_again; /* the invoice a second time */
    bool pdf;     /* the invoice's output starts "%PDF-" */
    char msg[LUMI_ERR_MSG_MAX];
};

/* Both documents rendered in a child whose LUMI_PDF_MODULE is module (NULL: unset). */
static struct outcome render_in_child(const char *module)
{
    struct outcome o;
    int fds[2];
    memset(&o, 0, sizeof o);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (module != NULL)
            setenv("LUMI_PDF_MODULE", module, 1);
        else
            unsetenv("LUMI_PDF_MODULE");
        json_t *inv = json_pack("{s:s, s:s, s:I, s:I, s:I, s:[]}", "number", "INV-000001",
                                "currency", "eur", "subtotal", (json_int_t)100, "tax",
                                (json_int_t)0, "total", (json_int_t)100, "items");
        json_t *cn =
            json_pack("{s:s, s:s, s:I, s:I, s:s}", "number", "CN-000001", "currency", "eur",
                      "amount", (json_int_t)100, "tax", (json_int_t)0, "reason", "test");
        struct lumi_err err, err2;
        struct buf out;
        err_clear(&err);
        err_clear(&err2);
        buf_init(&out, 4u << 20);
        o.rc_invoice = pdf_invoice(inv, NULL, &out, &err);
        o.pdf = out.len > 5 && memcmp(out.data, "%PDF-", 5) == 0;
        buf_reset(&out);
        o.rc_credit_note = pdf_credit_note(cn, NULL, &out, &err2);
        buf_reset(&out);
        o.rc_again = pdf_invoice(inv, NULL, &out, &err2);
        memcpy(o.msg, err.msg, sizeof o.msg);
        buf_free(&out);
        json_decref(inv);
        json_decref(cn);
        ssize_t w = write(fds[1], &o, sizeof o);
        _exit(w == (ssize_t)sizeof o ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], &o, sizeof o);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(n, (ssize_t)sizeof o);
    return o;
}

static void contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("'%s' is not in: %s", needle, text);
}

static void unavailable(const struct outcome *o)
{
    assert_true(o->rc_invoice == LUMI_EBUSY);
    assert_true(o->rc_credit_note == LUMI_EBUSY);
    assert_true(o->rc_again == LUMI_EBUSY);
    assert_int_equal(err_http_status(o->rc_invoice), 503);
    contains(o->msg, "the PDF module could not be loaded");
    contains(o->msg, "LUMI_PDF_MODULE");
}

static void a_missing_module_is_503_naming_the_path(void **state)
{
    (void)state;
    struct outcome o = render_in_child("/nonexistent/dir/lumi-pdf.so");
    unavailable(&o);
    contains(o.msg, "/nonexistent/dir/lumi-pdf.so: cannot open shared object file: "
                    "No such file or directory");
}

static void a_library_that_is_no_pdf_module_is_refused(void **state)
{
    (void)state;
    struct outcome o = render_in_child("libm.so.6"); /* relative: never the library path */
    unavailable(&o);
    contains(o.msg, "./libm.so.6");

    /* jansson's own file: a real shared library, already loaded */
    Dl_info info;
    assert_int_not_equal(dladdr((void *)json_pack, &info), 0);
    assert_non_null(info.dli_fname);
    assert_true(info.dli_fname[0] == '/');
    o = render_in_child(info.dli_fname);
    unavailable(&o);
    contains(o.msg, "not a Lumi PDF module (no lumi_pdf_abi)");
}

static void a_module_of_another_build_is_refused(void **state)
{
    (void)state;
    struct outcome o = render_in_child(getenv("LUMI_TEST_STALE_PDF_MODULE"));
    unavailable(&o);
    contains(o.msg, "built for another Lumi (module 0.0.1");
    contains(o.msg, "this lumi " LUMI_VERSION);
}

static void without_the_variable_it_looks_beside_the_program_then_installed(void **state)
{
    (void)state;
    char exe[PATH_MAX], beside[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(beside, sizeof beside, "%s/lumi-pdf.so", exe);
    struct outcome o = render_in_child(NULL);
    if (o.rc_invoice == 0)
        skip(); /* a module is installed on this machine */
    unavailable(&o);
    contains(o.msg, beside);
    contains(o.msg, "/lumi/lumi-pdf.so: cannot open shared object file");
}

static void this_builds_module_renders_both_documents(void **state)
{
    (void)state;
    const char *module = getenv("LUMI_PDF_MODULE");
    if (module == NULL || module[0] == '\0')
        fail_msg("LUMI_PDF_MODULE is not set (run the tests through ctest)");
    struct outcome o = render_in_child(module);
    if (o.rc_invoice != 0)
        fail_msg("pdf_invoice: %d %s", o.rc_invoice, o.msg);
    assert_true(o.pdf);
    assert_int_equal(o.rc_credit_note, 0);
    assert_int_equal(o.rc_again, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_module_is_503_naming_the_path),
        cmocka_unit_test(a_library_that_is_no_pdf_module_is_refused),
        cmocka_unit_test(a_module_of_another_build_is_refused),
        cmocka_unit_test(without_the_variable_it_looks_beside_the_program_then_installed),
        cmocka_unit_test(this_builds_module_renders_both_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
