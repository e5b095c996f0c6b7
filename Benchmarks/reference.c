// The ceiling a user-space loop can reach: plain C send()/recv() over loopback, the same workloads as copyprof's
// two-copy transport (one contiguous buffer, messages received whole), with no counters and no verification.
//
//   reference stream   SIZE CONNECTIONS SECONDS   -> prints "throughput_gbps <value>", "messages_sent <n>",
//                                                    "messages_received <n>"
//   reference pingpong SIZE CONNECTIONS SECONDS   -> prints "rtt_p50_us <value>", "rtt_p99_us <value>" and
//                                                    "round_trips <n>"
//
// The timed loops are separate functions (stream_send_loop, stream_receive_loop, pingpong_client_loop, echo_loop)
// so that callgrind can count their instructions apart (Benchmarks/hot-loops.sh).
//
// With REFERENCE_IO_TIMEOUT=1 in the environment the sockets get copyprof's 5 s SO_RCVTIMEO and SO_SNDTIMEO, to
// measure what those timeouts cost.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop_flag;
static atomic_int ready;
static atomic_int go;
static size_t size;
static int pingpong;

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

struct worker {
    int fd;
    int sender;
    unsigned long long bytes;
    unsigned long long messages;
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
__attribute__((noinline)) static unsigned long long stream_send_loop(int fd, const char *buf) {
    unsigned long long messages = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (send_all(fd, buf, size) != 0) break;
        messages++;
    }
    return messages;
}

__attribute__((noinline)) static unsigned long long stream_receive_loop(int fd, char *buf) {
    unsigned long long messages = 0;
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        if (recv_all(fd, buf, size) != 0) break;
        messages++;
    }
    return messages;
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
            w->messages = stream_send_loop(w->fd, buf);
            shutdown(w->fd, SHUT_WR);
        } else {
            w->messages = stream_receive_loop(w->fd, buf);
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
    if (argc != 5) {
        fprintf(stderr, "usage: %s stream|pingpong SIZE CONNECTIONS SECONDS\n", argv[0]);
        return 1;
    }
    pingpong = strcmp(argv[1], "pingpong") == 0;
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
