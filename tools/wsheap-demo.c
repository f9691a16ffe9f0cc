/* SPDX-License-Identifier: MIT */
/*
 * wsheap-demo: a small message-processing program in the WWSAPI style. It reads HTTP/1.1
 * request heads (request line + header lines, one blank line between messages) from a file,
 * or generates N synthetic ones, parses each into structures allocated from one WS_HEAP, and
 * resets the heap after every message. Malformed messages get a one-line error and processing
 * goes on. At the end it prints a summary, the heap's sizes and messages per second.
 *
 *   wsheap-demo [--max-size BYTES] [--trim-size BYTES] [--inject-overrun N] FILE
 *   wsheap-demo [options] --generate N
 *
 * --inject-overrun N plants a classic bug at message N (1-based): the request target is copied
 * into a block one byte too small for its terminating NUL. The arena does not notice; run with
 * WSHEAP_PAGEHEAP=1 and the guarded backend stops the program at message N with a report.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <wsheap.h>

#define MAX_HEADERS 100
#define MAX_LINE    8190

struct header {
    const char *name;
    const char *value;
};

struct request {
    const char *method;
    const char *target;
    int version_major, version_minor;
    struct header *headers;
    size_t n_headers, capacity;
};

/* Everything a run counts; printed at the end. */
struct summary {
    unsigned long messages, parsed, rejected;
    unsigned long n_get, n_post, n_other, n_headers, n_with_host;
    size_t peak_requested;
};

struct config {
    size_t max_size, trim_size;
    unsigned long inject_at; /* 0: no injected bug */
};

/* --- Parsing into the heap -------------------------------------------------------------------- */

/* The parser's state for one message: its heap, its WS_ERROR, and where the text stands. */
struct parse {
    WS_HEAP *heap;
    WS_ERROR *error;
    const char *at, *end; /* the unread rest of the message's head */
    unsigned long number; /* 1-based message number */
    const struct config *config;
    char why[384]; /* the reason a message was rejected */
};

static bool fail(struct parse *p, const char *why)
{
    snprintf(p->why, sizeof p->why, "%s", why);
    return false;
}

/* Allocates `size` bytes from the message's heap; on failure records the WS_ERROR's newest
 * string as the reason. */
static void *heap_alloc(struct parse *p, size_t size)
{
    void *block = NULL;
    HRESULT hr = WsAlloc(p->heap, size, &block, p->error);

    if (FAILED(hr)) {
        WS_STRING s;
        char text[320] = "";

        if (SUCCEEDED(WsGetErrorString(p->error, 0, &s)))
            wsheap_string_to_utf8(&s, text, sizeof text);
        snprintf(p->why, sizeof p->why, "%s: %s", wsheap_hresult_name(hr), text);
        return NULL;
    }
    return block;
}

/* Copies text[0..len) into the heap as a NUL-terminated string. */
static char *heap_strndup(struct parse *p, const char *text, size_t len)
{
    char *copy = heap_alloc(p, len + 1);

    if (copy != NULL) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

/* The injected bug: the size passed to WsAlloc forgets the NUL, then the NUL is written. */
__attribute__((noinline)) static char *copy_target_off_by_one(struct parse *p, const char *text,
                                                              size_t len)
{
    char *copy = heap_alloc(p, len);

    if (copy != NULL) {
        memcpy(copy, text, len);
        copy[len] = '\0'; /* one byte past the block */
    }
    return copy;
}

/* Takes the next line (without its LF or CRLF); false at the end of the head. */
static bool next_line(struct parse *p, const char **line, size_t *len)
{
    const char *nl;

    if (p->at >= p->end) return false;
    nl = memchr(p->at, '\n', (size_t)(p->end - p->at));
    *line = p->at;
    *len = (size_t)((nl != NULL ? nl : p->end) - p->at);
    p->at = nl != NULL ? nl + 1 : p->end;
    if (*len > 0 && (*line)[*len - 1] == '\r') (*len)--;
    return true;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool parse_request_line(struct parse *p, struct request *req)
{
    const char *line, *sp1, *sp2;
    size_t len, method_len;

    if (!next_line(p, &line, &len) || len == 0) return fail(p, "empty request line");
    if (len > MAX_LINE) return fail(p, "request line longer than 8190 bytes");
    sp1 = memchr(line, ' ', len);
    if (sp1 == NULL) return fail(p, "request line has no spaces (want METHOD TARGET HTTP/x.y)");
    sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
    if (sp2 == NULL) return fail(p, "request line is missing the HTTP version");
    method_len = (size_t)(sp1 - line);
    for (size_t i = 0; i < method_len; i++)
        if (!is_tchar(line[i]))
            return fail(p, "method contains a character that is not a token character");
    if (method_len == 0 || sp2 == sp1 + 1) return fail(p, "empty method or request target");
    if (line + len - (sp2 + 1) != 8 || memcmp(sp2 + 1, "HTTP/", 5) != 0 || sp2[6] < '0' ||
        sp2[6] > '9' || sp2[7] != '.' || sp2[8] < '0' || sp2[8] > '9')
        return fail(p, "version is not HTTP/<digit>.<digit>");
    req->method = heap_strndup(p, line, method_len);
    if (p->config->inject_at == p->number)
        req->target = copy_target_off_by_one(p, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    else
        req->target = heap_strndup(p, sp1 + 1, (size_t)(sp2 - sp1 - 1));
    req->version_major = sp2[6] - '0';
    req->version_minor = sp2[8] - '0';
    return req->method != NULL && req->target != NULL;
}

/* Appends a header, growing the array in the heap (the old array stays until the reset). */
static bool add_header(struct parse *p, struct request *req, const char *name, size_t name_len,
                       const char *value, size_t value_len)
{
    struct header *h;

    if (req->n_headers == MAX_HEADERS) return fail(p, "more than 100 header lines");
    if (req->n_headers == req->capacity) {
        size_t capacity = req->capacity ? req->capacity * 2 : 8;
        struct header *grown = heap_alloc(p, capacity * sizeof *grown);

        if (grown == NULL) return false;
        if (req->n_headers > 0) memcpy(grown, req->headers, req->n_headers * sizeof *grown);
        req->headers = grown;
        req->capacity = capacity;
    }
    h = &req->headers[req->n_headers];
    h->name = heap_strndup(p, name, name_len);
    h->value = heap_strndup(p, value, value_len);
    if (h->name == NULL || h->value == NULL) return false;
    req->n_headers++;
    return true;
}

static bool parse_headers(struct parse *p, struct request *req)
{
    const char *line;
    size_t len;

    while (next_line(p, &line, &len)) {
        const char *colon = memchr(line, ':', len), *value, *value_end;
        size_t name_len;

        if (len > MAX_LINE) return fail(p, "header line longer than 8190 bytes");
        if (colon == NULL) return fail(p, "header line without a colon");
        name_len = (size_t)(colon - line);
        if (name_len == 0) return fail(p, "header line with an empty field name");
        for (size_t i = 0; i < name_len; i++)
            if (!is_tchar(line[i]))
                return fail(p, "header field name with a space or separator before the colon");
        value = colon + 1;
        value_end = line + len;
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        if (!add_header(p, req, line, name_len, value, (size_t)(value_end - value))) return false;
    }
    return true;
}

/* Parses one message head into the heap; false (with p->why) when it is malformed. */
static bool parse_message(struct parse *p, struct request *req)
{
    memset(req, 0, sizeof *req);
    if (!parse_request_line(p, req) || !parse_headers(p, req)) return false;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "Host") == 0) return true;
    if (req->version_major == 1 && req->version_minor == 1)
        return fail(p, "HTTP/1.1 request without a Host header");
    return true;
}

/* --- Driving ---------------------------------------------------------------------------------- */

static void account(struct summary *s, const struct request *req)
{
    s->parsed++;
    s->n_headers += req->n_headers;
    if (strcmp(req->method, "GET") == 0)
        s->n_get++;
    else if (strcmp(req->method, "POST") == 0)
        s->n_post++;
    else
        s->n_other++;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "Host") == 0) s->n_with_host++;
}

/* Processes one message head text[0..len) with `heap`, then resets the heap. */
static void process(WS_HEAP *heap, WS_ERROR *error, const struct config *config, struct summary *s,
                    const char *text, size_t len)
{
    struct parse p = {heap, error, text, text + len, s->messages + 1, config, ""};
    struct request req;
    size_t requested = 0;
    HRESULT hr;

    s->messages++;
    if (parse_message(&p, &req))
        account(s, &req);
    else {
        s->rejected++;
        fprintf(stderr, "wsheap-demo: message %lu rejected: %s\n", s->messages, p.why);
    }
    WsGetHeapProperty(heap, WS_HEAP_PROPERTY_REQUESTED_SIZE, &requested, sizeof requested, NULL);
    if (requested > s->peak_requested) s->peak_requested = requested;
    WsResetError(error);
    hr = WsResetHeap(heap, NULL);
    if (FAILED(hr)) {
        fprintf(stderr, "wsheap-demo: WsResetHeap failed: %s\n", wsheap_hresult_name(hr));
        exit(1);
    }
}

/* Splits `text` at blank lines and processes each message head. */
static void process_text(WS_HEAP *heap, WS_ERROR *error, const struct config *config,
                         struct summary *s, const char *text, size_t len)
{
    const char *at = text, *end = text + len;

    while (at < end) {
        const char *start = at, *stop = NULL;

        while (at < end) { /* find the end of this head: an empty line */
            const char *nl = memchr(at, '\n', (size_t)(end - at));
            size_t line_len;

            if (nl == NULL) {
                at = end;
                break;
            }
            line_len = (size_t)(nl - at);
            if (line_len == 0 || (line_len == 1 && at[0] == '\r')) {
                stop = at;
                at = nl + 1;
                break;
            }
            at = nl + 1;
        }
        if (stop == NULL) stop = at;
        if (stop > start) process(heap, error, config, s, start, (size_t)(stop - start));
    }
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t cap = 0;

    if (f == NULL) return NULL;
    *len = 0;
    for (;;) {
        size_t n;

        if (*len == cap) {
            char *grown = realloc(data, cap ? cap * 2 : 65536);

            if (grown == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
            cap = cap ? cap * 2 : 65536;
        }
        n = fread(data + *len, 1, cap - *len, f);
        if (n == 0) break;
        *len += n;
    }
    fclose(f);
    return data;
}

/* Writes `n` synthetic request heads: varied methods, targets and header sets, every 500th
 * one malformed on purpose. */
static char *generate(unsigned long n, size_t *len)
{
    static const char *const methods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
    static const char *const agents[] = {"curl/7.88.1", "Mozilla/5.0 (X11; Linux x86_64)",
                                         "wsheap-demo/1.0"};
    size_t cap = n * 400 + 1, used = 0;
    char *text = malloc(cap);
    unsigned seed = 12345;

    if (text == NULL) return NULL;
    for (unsigned long i = 0; i < n; i++) {
        int extra;

        seed = seed * 1103515245u + 12345u;
        extra = (int)((seed >> 16) % 6);
        if (i % 500 == 499) {
            used += (size_t)snprintf(text + used, cap - used, "GET /broken\r\nHost: x\r\n\r\n");
            continue;
        }
        used += (size_t)snprintf(text + used, cap - used,
                                 "%s /api/v1/items/%lu?page=%u HTTP/1.1\r\nHost: example.org\r\n"
                                 "User-Agent: %s\r\nAccept: */*\r\n",
                                 methods[(seed >> 8) % 6], i, (seed >> 4) % 100,
                                 agents[(seed >> 12) % 3]);
        for (int h = 0; h < extra; h++)
            used += (size_t)snprintf(text + used, cap - used, "X-Trace-%d: %08x-%04x\r\n", h,
                                     seed ^ (unsigned)h, (unsigned)i & 0xffff);
        used += (size_t)snprintf(text + used, cap - used, "\r\n");
    }
    *len = used;
    return text;
}

static void usage(FILE *out)
{
    fputs("usage: wsheap-demo [--max-size BYTES] [--trim-size BYTES] [--inject-overrun N] FILE\n"
          "       wsheap-demo [options] --generate N\n"
          "Parses HTTP/1.1 request heads into one WS_HEAP, resetting it after each message.\n"
          "  --max-size BYTES     the heap's maxSize (default 65536)\n"
          "  --trim-size BYTES    the heap's trimSize (default 16384)\n"
          "  --inject-overrun N   plant an off-by-one write in message N (see WSHEAP_PAGEHEAP=1)\n"
          "  --generate N         parse N synthetic request heads instead of a file\n",
          out);
}

static bool parse_count(const char *text, unsigned long *out)
{
    char *end;

    errno = 0;
    *out = strtoul(text, &end, 10);
    return text[0] >= '0' && text[0] <= '9' && *end == '\0' && errno == 0;
}

int main(int argc, char **argv)
{
    struct config config = {65536, 16384, 0};
    struct summary s = {0};
    const char *path = NULL;
    unsigned long generate_n = 0, value = 0;
    WS_HEAP *heap = NULL;
    WS_ERROR *error = NULL;
    size_t len = 0, actual = 0;
    struct timespec t0, t1;
    double seconds;
    char *text;
    HRESULT hr;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc && parse_count(argv[i + 1], &value);

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "--max-size") == 0 && has_value) {
            config.max_size = value, i++;
        } else if (strcmp(arg, "--trim-size") == 0 && has_value) {
            config.trim_size = value, i++;
        } else if (strcmp(arg, "--inject-overrun") == 0 && has_value && value > 0) {
            config.inject_at = value, i++;
        } else if (strcmp(arg, "--generate") == 0 && has_value) {
            generate_n = value, i++;
        } else if (arg[0] != '-' && path == NULL) {
            path = arg;
        } else {
            fprintf(stderr, "wsheap-demo: bad argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    if ((path == NULL) == (generate_n == 0)) {
        usage(stderr);
        return 2;
    }
    text = path != NULL ? read_file(path, &len) : generate(generate_n, &len);
    if (text == NULL) {
        fprintf(stderr, "wsheap-demo: cannot read %s: %s\n", path ? path : "(generated input)",
                strerror(errno));
        return 1;
    }
    if (FAILED(WsCreateError(NULL, 0, &error)) ||
        FAILED(hr = WsCreateHeap(config.max_size, config.trim_size, NULL, 0, &heap, error))) {
        fprintf(stderr, "wsheap-demo: cannot create the heap\n");
        return 1;
    }
    wsheap_set_heap_name(heap, "demo-messages");

    clock_gettime(CLOCK_MONOTONIC, &t0);
    process_text(heap, error, &config, &s, text, len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    WsGetHeapProperty(heap, WS_HEAP_PROPERTY_ACTUAL_SIZE, &actual, sizeof actual, NULL);
    printf("wsheap-demo: %lu messages, %lu parsed, %lu rejected\n", s.messages, s.parsed,
           s.rejected);
    printf("  methods: GET %lu, POST %lu, other %lu; %.1f headers per parsed message\n", s.n_get,
           s.n_post, s.n_other, s.parsed ? (double)s.n_headers / (double)s.parsed : 0.0);
    printf("  heap (%s backend, maxSize %zu, trimSize %zu): peak REQUESTED_SIZE %zu bytes, "
           "ACTUAL_SIZE after the last reset %zu bytes\n",
           wsheap_backend_name(heap), config.max_size, config.trim_size, s.peak_requested, actual);
    printf("  %.0f messages per second\n", seconds > 0 ? (double)s.messages / seconds : 0.0);
    WsFreeHeap(heap);
    WsFreeError(error);
    free(text);
    return 0;
}
