// The ceiling a user-space loop can reach: plain C send()/recv() over loopback, the same workloads as copyprof's
// two-copy transport (one contiguous buffer, messages received whole), with no counters and no verification.
//
//   reference stream   SIZE CONNECTIONS SECONDS [SENDER]  -> prints "throughput_gbps <value>", "messages_sent <n>",
//                                                            "messages_received <n>"
//   reference pingpong SIZE CONNECTIONS SECONDS           -> prints "rtt_p50_us <value>", "rtt_p99_us <value>" and
//                                                            "round_trips <n>"
//
// SENDER (stream only) is the C loop of one of copyprof's senders, doing the work that sender's transport requires
// and nothing else (no stamps, no verification, no statistics), so that each copyprof sender can be held against a C
// loop of the same transport (Benchmarks/hot-loops.sh):
//   two-copy   send() of one contiguous buffer (the default);
//   marshal    memcpy of 8 separately allocated fields into a staging buffer, then send();
//   one-copy   sendmsg() gathering the 8 fields through 8 iovecs;
//   zero-copy  sendmsg(MSG_ZEROCOPY) of the 8 fields of one of 64 field sets; a set is rewritten only after every
//              id that pinned it has completed (the last freed set is taken first, as copyprof does); the error
//              queue is drained every 32 sends, and polled when no set is free or on ENOBUFS.
//
// With REFERENCE_STAMPS=1 (stream only) the loops also do what copyprof's message format asks of every transport:
// the sender writes a 64-bit stamp (sequence ^ field * 0x9E3779B97F4A7C15) at the start of each of the 8 fields of
// every message, and the receiver checks the first (copyprof's `--verify header`); mismatches are printed as
// "stamp_errors <n>". These are separate functions (*_stamped), so the plain loops stay as they are.
//
// The timed loops are separate functions (stream_send_loop, stream_receive_loop, pingpong_client_loop, echo_loop)
// so that callgrind can count their instructions apart (Benchmarks/hot-loops.sh).
//
// With REFERENCE_IO_TIMEOUT=1 in the environment the sockets get copyprof's 5 s SO_RCVTIMEO and SO_SNDTIMEO, to
// measure what those timeouts cost.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/errqueue.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop_flag;
static atomic_int ready;
static atomic_int go;
static size_t size;
static int pingpong;

enum sender_kind { TWO_COPY, MARSHAL, ONE_COPY, ZERO_COPY };
static enum sender_kind sender_kind = TWO_COPY;
static int stamped; /* REFERENCE_STAMPS */

#define FIELDS 8
#define POOL 64
#define LEDGER 4096 /* ids in flight at most, a power of two */
#define DRAIN_INTERVAL 32
#define STAMP_KEY 0x9E3779B97F4A7C15ull

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int recv_all(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int send_all(int fd, const char *buf, size_t n) {
    size_t sent = 0;
    while (sent < n) {
        ssize_t r = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);
        if (r <= 0) return -1;
        sent += (size_t)r;
    }
    return 0;
}

// The rest of a sendmsg() of `msg` whose first call returned `first`: its iovecs are copied and advanced after a
// partial write (the prepared header stays as it is). Returns 0, or -1 on an error other than ENOBUFS (zero-copy's
// back-pressure, handled by `on_enobufs`). `on_queued` runs after each further call that queued bytes (zero-copy:
// each takes an id).
__attribute__((noinline)) static int sendmsg_rest(int fd, const struct msghdr *msg, int flags, ssize_t first,
                                                   void (*on_enobufs)(int fd), void (*on_queued)(void)) {
    struct iovec scratch[FIELDS];
    struct msghdr rest = *msg;
    memcpy(scratch, msg->msg_iov, msg->msg_iovlen * sizeof *scratch);
    rest.msg_iov = scratch;
    size_t left = size;
    ssize_t r = first;
    int first_call = 1;
    while (1) {
        if (r < 0) {
            if (errno != ENOBUFS || !on_enobufs) return -1;
            on_enobufs(fd);
        } else {
            if (!first_call && on_queued) on_queued();
            left -= (size_t)r;
            if (left == 0) return 0;
            while ((size_t)r >= rest.msg_iov->iov_len) {
                r -= (ssize_t)rest.msg_iov->iov_len;
                rest.msg_iov++;
                rest.msg_iovlen--;
            }
            rest.msg_iov->iov_base = (char *)rest.msg_iov->iov_base + r;
            rest.msg_iov->iov_len -= (size_t)r;
        }
        first_call = 0;
        r = sendmsg(fd, &rest, flags);
    }
}

// sendmsg() until the whole message described by `msg` is queued: one call in the common case.
static inline int sendmsg_all(int fd, const struct msghdr *msg, int flags) {
    ssize_t r = sendmsg(fd, msg, flags);
    if (r == (ssize_t)size) return 0;
    return sendmsg_rest(fd, msg, flags, r, NULL, NULL);
}

// A field set: 8 separately allocated fields, and a sendmsg header of their iovecs, prepared once.
struct field_set {
    char *field[FIELDS];
    struct iovec iov[FIELDS];
    struct msghdr msg;
};

static void field_set_init(struct field_set *set) {
    size_t field_size = size / FIELDS;
    for (int f = 0; f < FIELDS; f++) {
        // On a page when a field is a page or more, as copyprof places them (FieldSet.allocateBlock).
        size_t align = field_size >= 4096 ? 4096 : 64;
        set->field[f] = aligned_alloc(align, (field_size + align - 1) / align * align);
        memset(set->field[f], 7, field_size);
        set->iov[f] = (struct iovec){set->field[f], field_size};
    }
    set->msg = (struct msghdr){.msg_iov = set->iov, .msg_iovlen = FIELDS};
}

// The 8 stamps of message `seq` in fields `field` (field_size apart when `field` is NULL: one contiguous buffer).
ALWAYS_INLINE void stamp_fields(char **field, char *buf, size_t field_size, unsigned long long seq) {
#pragma GCC unroll 8
    for (int f = 0; f < FIELDS; f++) {
        unsigned long long stamp = seq ^ ((unsigned long long)f * STAMP_KEY);
        memcpy(field ? field[f] : buf + f * field_size, &stamp, sizeof stamp);
    }
}

ALWAYS_INLINE unsigned long long marshal_send(int fd, const int stamps) {
    struct field_set set;
    field_set_init(&set);
    size_t field_size = size / FIELDS;
    char *staging = aligned_alloc(64, (size + 63) / 64 * 64);
    unsigned long long messages = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (stamps) stamp_fields(set.field, NULL, 0, messages);
        for (int f = 0; f < FIELDS; f++) memcpy(staging + f * field_size, set.field[f], field_size);
        if (send_all(fd, staging, size) != 0) break;
        messages++;
    }
    return messages;
}
__attribute__((noinline)) static unsigned long long marshal_send_loop(int fd) { return marshal_send(fd, 0); }
__attribute__((noinline)) static unsigned long long marshal_send_loop_stamped(int fd) { return marshal_send(fd, 1); }

ALWAYS_INLINE unsigned long long one_copy_send(int fd, const int stamps) {
    struct field_set set;
    field_set_init(&set);
    unsigned long long messages = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (stamps) stamp_fields(set.field, NULL, 0, messages);
        if (sendmsg_all(fd, &set.msg, MSG_NOSIGNAL) < 0) break;
        messages++;
    }
    return messages;
}
__attribute__((noinline)) static unsigned long long one_copy_send_loop(int fd) { return one_copy_send(fd, 0); }
__attribute__((noinline)) static unsigned long long one_copy_send_loop_stamped(int fd) { return one_copy_send(fd, 1); }

// Zero-copy: which set each id in flight pins, and the free sets (last freed on top).
static struct {
    int set_of_id[LEDGER];
    int pending[POOL];
    int free_sets[POOL];
    int free_count;
    unsigned char pinned[POOL]; /* 1 once its message is sent, until its ids complete and it is free again */
    unsigned int next_id;
    int in_flight;
    int current; /* the set being sent */
} zc;

// A call that queued bytes of the current set took the socket's next id.
static inline void zc_record(void) {
    zc.set_of_id[zc.next_id++ & (LEDGER - 1)] = zc.current;
    zc.pending[zc.current]++;
    zc.in_flight++;
}

static void zc_record_current(void) { zc_record(); }

// Reads every completion on the error queue without blocking and frees the sets whose ids have all completed.
static void zc_drain(int fd) {
    char control[128];
    while (zc.in_flight > 0) {
        struct msghdr msg = {.msg_control = control, .msg_controllen = sizeof control};
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (!((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
                  (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
                continue;
            struct sock_extended_err *err = (struct sock_extended_err *)CMSG_DATA(cm);
            if (err->ee_origin != SO_EE_ORIGIN_ZEROCOPY || err->ee_errno != 0) continue;
            for (unsigned int id = err->ee_info;; id++) {
                int set = zc.set_of_id[id & (LEDGER - 1)];
                zc.set_of_id[id & (LEDGER - 1)] = -1;
                if (set < 0) goto next; /* not in flight */
                zc.in_flight--;
                if (--zc.pending[set] == 0 && zc.pinned[set]) {
                    zc.pinned[set] = 0;
                    zc.free_sets[zc.free_count++] = set;
                }
            next:
                if (id == err->ee_data) break;
            }
        }
    }
}

// Blocks until the error queue has something, then drains it.
static void zc_wait(int fd) {
    if (zc.in_flight == 0) {
        sched_yield();
        return;
    }
    struct pollfd p = {.fd = fd, .events = 0};
    poll(&p, 1, 5000);
    zc_drain(fd);
}

ALWAYS_INLINE unsigned long long zero_copy_send(int fd, struct field_set *sets, const int stamps) {
    unsigned long long messages = 0;
    int since_drain = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (zc.free_count == 0 || zc.in_flight >= LEDGER - FIELDS) {
            zc_drain(fd);
            while (zc.free_count == 0 || zc.in_flight >= LEDGER - FIELDS) zc_wait(fd);
        }
        int set = zc.free_sets[--zc.free_count];
        zc.current = set;
        if (stamps) stamp_fields(sets[set].field, NULL, 0, messages);
        ssize_t r = sendmsg(fd, &sets[set].msg, MSG_NOSIGNAL | MSG_ZEROCOPY);
        if (r > 0) zc_record();
        if (r != (ssize_t)size &&
            sendmsg_rest(fd, &sets[set].msg, MSG_NOSIGNAL | MSG_ZEROCOPY, r, zc_wait, zc_record_current) < 0)
            break;
        // The message is sent: the set is free once its ids have completed (at once if they all have).
        if (zc.pending[set] == 0)
            zc.free_sets[zc.free_count++] = set;
        else
            zc.pinned[set] = 1;
        messages++;
        if (++since_drain == DRAIN_INTERVAL) {
            since_drain = 0;
            zc_drain(fd);
        }
    }
    zc_drain(fd);
    while (zc.in_flight > 0) zc_wait(fd);
    return messages;
}
__attribute__((noinline)) static unsigned long long zero_copy_send_loop(int fd, struct field_set *sets) {
    return zero_copy_send(fd, sets, 0);
}
__attribute__((noinline)) static unsigned long long zero_copy_send_loop_stamped(int fd, struct field_set *sets) {
    return zero_copy_send(fd, sets, 1);
}

struct worker {
    int fd;
    int sender;
    unsigned long long bytes;
    unsigned long long messages;
    unsigned long long stamp_errors;
    double end;
    double *rtts;
    size_t rtt_count, rtt_capacity;
    pthread_t thread;
};

static void wait_go(void) {
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&go)) sched_yield();
}

// Each loop returns the whole messages it moved in its timed part.
ALWAYS_INLINE unsigned long long stream_send(int fd, char *buf, const int stamps) {
    unsigned long long messages = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (stamps) stamp_fields(NULL, buf, size / FIELDS, messages);
        if (send_all(fd, buf, size) != 0) break;
        messages++;
    }
    return messages;
}
__attribute__((noinline)) static unsigned long long stream_send_loop(int fd, char *buf) { return stream_send(fd, buf, 0); }
__attribute__((noinline)) static unsigned long long stream_send_loop_stamped(int fd, char *buf) {
    return stream_send(fd, buf, 1);
}

ALWAYS_INLINE unsigned long long stream_receive(int fd, char *buf, unsigned long long *errors, const int stamps) {
    unsigned long long messages = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (recv_all(fd, buf, size) != 0) break;
        if (stamps) {
            unsigned long long stamp;
            memcpy(&stamp, buf, sizeof stamp);
            if (stamp != messages) ++*errors;
        }
        messages++;
    }
    return messages;
}
__attribute__((noinline)) static unsigned long long stream_receive_loop(int fd, char *buf, unsigned long long *errors) {
    return stream_receive(fd, buf, errors, 0);
}
__attribute__((noinline)) static unsigned long long stream_receive_loop_stamped(int fd, char *buf,
                                                                                unsigned long long *errors) {
    return stream_receive(fd, buf, errors, 1);
}

__attribute__((noinline)) static void pingpong_client_loop(struct worker *w, char *buf) {
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        double t = now();
        if (send_all(w->fd, buf, size) != 0 || recv_all(w->fd, buf, size) != 0) break;
        if (w->rtt_count == w->rtt_capacity) {
            w->rtt_capacity = w->rtt_capacity ? 2 * w->rtt_capacity : 1 << 16;
            w->rtts = realloc(w->rtts, w->rtt_capacity * sizeof(double));
        }
        w->rtts[w->rtt_count++] = now() - t;
    }
}

__attribute__((noinline)) static void echo_loop(int fd, char *buf) {
    while (recv_all(fd, buf, size) == 0)
        if (send_all(fd, buf, size) != 0) break;
}

static void *run(void *arg) {
    struct worker *w = arg;
    char *buf = aligned_alloc(64, (size + 63) / 64 * 64);
    memset(buf, 7, size);
    wait_go();
    if (!pingpong) {
        if (w->sender) {
            switch (sender_kind) {
            case TWO_COPY: w->messages = stamped ? stream_send_loop_stamped(w->fd, buf) : stream_send_loop(w->fd, buf); break;
            case MARSHAL: w->messages = stamped ? marshal_send_loop_stamped(w->fd) : marshal_send_loop(w->fd); break;
            case ONE_COPY: w->messages = stamped ? one_copy_send_loop_stamped(w->fd) : one_copy_send_loop(w->fd); break;
            case ZERO_COPY: {
                struct field_set *sets = malloc(POOL * sizeof *sets);
                for (int k = 0; k < POOL; k++) field_set_init(&sets[k]);
                int one = 1;
                if (setsockopt(w->fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof one)) perror("SO_ZEROCOPY");
                for (int k = 0; k < LEDGER; k++) zc.set_of_id[k] = -1;
                for (int k = 0; k < POOL; k++) zc.free_sets[k] = POOL - 1 - k;
                zc.free_count = POOL;
                w->messages = stamped ? zero_copy_send_loop_stamped(w->fd, sets) : zero_copy_send_loop(w->fd, sets);
                break;
            }
            }
            shutdown(w->fd, SHUT_WR);
        } else {
            w->messages = stamped ? stream_receive_loop_stamped(w->fd, buf, &w->stamp_errors)
                                  : stream_receive_loop(w->fd, buf, &w->stamp_errors);
            w->bytes = w->messages * size;
            w->end = now();
            while (recv(w->fd, buf, size, 0) > 0) {}
        }
    } else if (w->sender) {
        pingpong_client_loop(w, buf);
        shutdown(w->fd, SHUT_WR);
    } else {
        echo_loop(w->fd, buf);
    }
    free(buf);
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: %s stream|pingpong SIZE CONNECTIONS SECONDS [two-copy|marshal|one-copy|zero-copy]\n",
                argv[0]);
        return 1;
    }
    pingpong = strcmp(argv[1], "pingpong") == 0;
    if (argc == 6) {
        const char *names[] = {"two-copy", "marshal", "one-copy", "zero-copy"};
        int found = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(argv[5], names[k]) == 0) found = k;
        if (found < 0 || (pingpong && found != TWO_COPY)) {
            fprintf(stderr, "%s: unknown sender %s (stream: two-copy, marshal, one-copy, zero-copy)\n", argv[0], argv[5]);
            return 1;
        }
        sender_kind = (enum sender_kind)found;
    }
    stamped = !pingpong && getenv("REFERENCE_STAMPS") && strcmp(getenv("REFERENCE_STAMPS"), "1") == 0;
    size = strtoul(argv[2], NULL, 10);
    int n = atoi(argv[3]);
    double seconds = atof(argv[4]);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, len) || listen(listener, 128) ||
        getsockname(listener, (struct sockaddr *)&addr, &len)) {
        perror("listen");
        return 1;
    }
    struct worker *w = calloc(2 * (size_t)n, sizeof *w);
    int one = 1;
    for (int i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&addr, len)) {
            perror("connect");
            return 1;
        }
        int s = accept(listener, NULL, NULL);
        if (pingpong) {
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (getenv("REFERENCE_IO_TIMEOUT")) {
            struct timeval tv = {5, 0};
            int fds[2] = {c, s};
            for (int k = 0; k < 2; k++) {
                setsockopt(fds[k], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                setsockopt(fds[k], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            }
        }
        w[2 * i] = (struct worker){.fd = c, .sender = 1};
        w[2 * i + 1] = (struct worker){.fd = s, .sender = 0};
    }
    for (int i = 0; i < 2 * n; i++) pthread_create(&w[i].thread, NULL, run, &w[i]);
    while (atomic_load(&ready) < 2 * n) sched_yield();
    double start = now();
    atomic_store(&go, 1);
    struct timespec pause = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&pause, NULL);
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < 2 * n; i++) pthread_join(w[i].thread, NULL);

    if (!pingpong) {
        unsigned long long bytes = 0, sent = 0, received = 0;
        double end = start;
        for (int i = 0; i < 2 * n; i++) {
            bytes += w[i].bytes;
            if (w[i].sender) sent += w[i].messages; else received += w[i].messages;
            if (w[i].end > end) end = w[i].end;
        }
        printf("throughput_gbps %.4f\nmessages_sent %llu\nmessages_received %llu\n", bytes * 8 / (end - start) / 1e9,
               sent, received);
        if (stamped) {
            unsigned long long errors = 0;
            for (int i = 0; i < 2 * n; i++) errors += w[i].stamp_errors;
            printf("stamp_errors %llu\n", errors);
        }
    } else {
        size_t total = 0;
        for (int i = 0; i < 2 * n; i++) total += w[i].rtt_count;
        double *all = malloc((total ? total : 1) * sizeof(double));
        size_t k = 0;
        for (int i = 0; i < 2 * n; i++)
            for (size_t j = 0; j < w[i].rtt_count; j++) all[k++] = w[i].rtts[j];
        qsort(all, total, sizeof(double), cmp);
        // p99 as the value below which 99% of the round trips lie (nearest rank), as HdrHistogram reports it.
        size_t rank99 = total ? (size_t)((total * 99 + 99) / 100) - 1 : 0;
        printf("rtt_p50_us %.2f\nrtt_p99_us %.2f\nround_trips %zu\n", total ? all[total / 2] * 1e6 : 0.0,
               total ? all[rank99] * 1e6 : 0.0, total);
    }
    return 0;
}
