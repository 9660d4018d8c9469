/*
 * fakes_main.c — the fake upstreams for the browser test (tests/browser/flow.mjs),
 * as a process the Node.js script can start and talk to over pipes.
 *
 * It starts the fake Pterodactyl panel and the fake Stripe API from
 * tests/fakes/ on 127.0.0.1 (free ports), prints what Lumi and the test need
 * to stdout as NAME=value lines followed by "READY", then reads one command
 * per line on stdin and answers each with one line, "OK …" or "ERR …":
 *
 *   pay SESSION_ID WEBHOOK_URL   the buyer paid: the fake completes the checkout
 *                                session, builds the checkout.session.completed
 *                                event, signs it with the webhook secret (the
 *                                Stripe-Signature header Stripe would send) and
 *                                POSTs it to WEBHOOK_URL; answers "OK <status>"
 *   session SESSION_ID           "OK <status> <payment_status> <amount_total> <currency>
 *                                <success_url>" (words, "-" for a null)
 *   installs                     marks installing servers installed
 *   ptero                        "OK <servers> <users>" on the fake panel
 *   ptero_password EMAIL         "OK <password>": the panel password last set for
 *                                the fake panel's user with that e-mail ("-" if none)
 *
 * It stops the fakes and exits 0 at end of stdin, on SIGTERM or SIGINT, so
 * the test stops it also when it fails half-way (closing the pipe is enough).
 *
 * Threading: the fakes serve on their own libmicrohttpd threads; everything
 * here runs on the main thread and reaches their state through the fakes'
 * locking functions. The signal handler only sets a flag.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "fakes/fake_pterodactyl.h"
#include "fakes/fake_stripe.h"
#include "support/httpc.h"

/* Test-only credentials: the fakes accept exactly these, Lumi is configured with them. */
#define PTERO_KEY "ptla_BrowserTestKey0123456789abcdefABCDEFghij"
#define STRIPE_KEY "sk_test_browserFlowKey0123456789"
#define WHSEC "whsec_browser_flow_secret"

#define LINE_MAX_LEN 2048

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Splits line into at most max space-separated words (in place); answers their number. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *p = line;
    while (*p != '\0' && n < max) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        words[n++] = p;
        while (*p != '\0' && *p != ' ')
            p++;
        if (*p == ' ')
            *p++ = '\0';
    }
    return n;
}

/* The buyer paid on the checkout page: complete the session, sign and deliver the event. */
static void cmd_pay(struct fake_stripe *stripe, const char *session_id, const char *webhook_url)
{
    char *body = NULL, *sig = NULL;
    char sig_header[512];
    struct http_result res = {0};
    bool have_res = false;

    if (fake_stripe_complete(stripe, session_id, true) != 0) {
        reply("ERR no checkout session %s on the fake Stripe", session_id);
        goto out;
    }
    body = fake_stripe_event_session(stripe, "checkout.session.completed", session_id, NULL);
    sig = body != NULL ? fake_stripe_sign(stripe, body, (int64_t)time(NULL)) : NULL;
    if (body == NULL || sig == NULL) {
        reply("ERR could not build or sign the event");
        goto out;
    }
    int n = snprintf(sig_header, sizeof sig_header, "Stripe-Signature: %s", sig);
    if (n < 0 || (size_t)n >= sizeof sig_header) {
        reply("ERR signature header too long");
        goto out;
    }
    const char *headers[] = {"Content-Type: application/json", sig_header, NULL};
    if (http_request("POST", webhook_url, headers, body, &res) != 0) {
        reply("ERR no answer from %s", webhook_url);
        goto out;
    }
    have_res = true;
    reply("OK %ld", res.status);
out:
    if (have_res)
        http_result_free(&res);
    free(sig);
    free(body);
}

static void cmd_session(struct fake_stripe *stripe, const char *session_id)
{
    json_t *s = fake_stripe_session_json(stripe, session_id);
    if (s == NULL) {
        reply("ERR no checkout session %s", session_id);
        return;
    }
    const char *status = json_string_value(json_object_get(s, "status"));
    const char *paid = json_string_value(json_object_get(s, "payment_status"));
    const char *currency = json_string_value(json_object_get(s, "currency"));
    const char *success = json_string_value(json_object_get(s, "success_url"));
    reply("OK %s %s %" PRId64 " %s %s", status ? status : "-", paid ? paid : "-",
          (int64_t)json_integer_value(json_object_get(s, "amount_total")),
          currency ? currency : "-", success ? success : "-");
    json_decref(s);
}

/* The password the fake panel holds for the user with that e-mail. */
static void cmd_ptero_password(struct fake_ptero *ptero, const char *email)
{
    json_t *user = fake_ptero_user_json(ptero, email);
    if (user == NULL) {
        reply("ERR no user %s on the fake panel", email);
        return;
    }
    const char *pw = json_string_value(json_object_get(user, "password"));
    reply("OK %s", pw != NULL && pw[0] != '\0' ? pw : "-");
    json_decref(user);
}

static void run_command(char *line, struct fake_ptero *ptero, struct fake_stripe *stripe)
{
    char *w[4];
    int n = split_words(line, w, 4);
    if (n == 0)
        reply("ERR empty command");
    else if (strcmp(w[0], "pay") == 0 && n == 3)
        cmd_pay(stripe, w[1], w[2]);
    else if (strcmp(w[0], "ptero_password") == 0 && n == 2)
        cmd_ptero_password(ptero, w[1]);
    else if (strcmp(w[0], "session") == 0 && n == 2)
        cmd_session(stripe, w[1]);
    else if (strcmp(w[0], "installs") == 0 && n == 1) {
        fake_ptero_finish_installs(ptero);
        reply("OK");
    } else if (strcmp(w[0], "ptero") == 0 && n == 1)
        reply("OK %zu %zu", fake_ptero_server_count(ptero), fake_ptero_user_count(ptero));
    else
        reply("ERR unknown command %.64s", w[0]);
}

/* Reads commands until end of input or a stop signal. */
static void command_loop(struct fake_ptero *ptero, struct fake_stripe *stripe)
{
    char line[LINE_MAX_LEN];
    size_t len = 0;
    while (!stop_requested) {
        ssize_t got = read(STDIN_FILENO, line + len, sizeof line - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return;
        len += (size_t)got;
        line[len] = '\0';
        char *nl;
        while ((nl = memchr(line, '\n', len)) != NULL) {
            *nl = '\0';
            size_t used = (size_t)(nl - line) + 1;
            run_command(line, ptero, stripe);
            memmove(line, nl + 1, len - used);
            len -= used;
            line[len] = '\0';
        }
        if (len == sizeof line - 1) {
            reply("ERR command too long");
            len = 0;
        }
    }
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: read() returns EINTR and the loop ends */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || crypto_init() != 0) {
        fprintf(stderr, "fakes_main: could not initialise libcurl or the crypto library\n");
        return 1;
    }
    struct fake_ptero *ptero = fake_ptero_start(PTERO_KEY);
    struct fake_stripe *stripe = fake_stripe_start(STRIPE_KEY, WHSEC);

    printf("PTERO_URL=%s\n", fake_ptero_url(ptero));
    printf("PTERO_API_KEY=%s\n", PTERO_KEY);
    printf("STRIPE_API_BASE=%s\n", fake_stripe_url(stripe));
    printf("STRIPE_SECRET_KEY=%s\n", STRIPE_KEY);
    printf("STRIPE_WEBHOOK_SECRET=%s\n", WHSEC);
    printf("READY\n");
    fflush(stdout);

    command_loop(ptero, stripe);

    fake_stripe_stop(stripe);
    fake_ptero_stop(ptero);
    curl_global_cleanup();
    return 0;
}
