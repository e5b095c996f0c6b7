#include "CPerfEvent.h"
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(unsigned long long) == 8, "perf read format uses 64-bit words");

int CPerfEvent_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd, unsigned long flags) {
    return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

int CPerfEvent_enable(int fd, unsigned int flags) { return ioctl(fd, PERF_EVENT_IOC_ENABLE, flags); }
int CPerfEvent_disable(int fd, unsigned int flags) { return ioctl(fd, PERF_EVENT_IOC_DISABLE, flags); }
int CPerfEvent_reset(int fd, unsigned int flags) { return ioctl(fd, PERF_EVENT_IOC_RESET, flags); }
int CPerfEvent_id(int fd, unsigned long long *id) { return ioctl(fd, PERF_EVENT_IOC_ID, id); }
int CPerfEvent_set_output(int fd, int target) { return ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target); }

// The ring's control words sit where the ABI puts them (include/uapi/linux/perf_event.h: the first page is
// 1 KiB of self-monitoring fields, then data_head, data_tail, data_offset, data_size).
_Static_assert(__builtin_offsetof(struct perf_event_mmap_page, data_head) == 1024, "data_head at 1024");
_Static_assert(__builtin_offsetof(struct perf_event_mmap_page, data_tail) == 1032, "data_tail at 1032");
_Static_assert(__builtin_offsetof(struct perf_event_mmap_page, data_offset) == 1040, "data_offset at 1040");
_Static_assert(__builtin_offsetof(struct perf_event_mmap_page, data_size) == 1048, "data_size at 1048");
_Static_assert(sizeof(struct perf_event_header) == 8, "perf_event_header is 8 bytes");

unsigned long long CPerfEvent_ring_head(const struct perf_event_mmap_page *page) {
    return __atomic_load_n(&page->data_head, __ATOMIC_ACQUIRE);
}

void CPerfEvent_ring_set_tail(struct perf_event_mmap_page *page, unsigned long long tail) {
    __atomic_store_n(&page->data_tail, tail, __ATOMIC_RELEASE);
}

int CPerfEvent_getrusage_thread(struct rusage *usage) { return getrusage(RUSAGE_THREAD, usage); }

pid_t CPerfEvent_gettid(void) { return (pid_t)syscall(SYS_gettid); }

unsigned int CPerfEvent_attr_size(void) { return (unsigned int)sizeof(struct perf_event_attr); }

int CPerfEvent_current_cpu(void) { return sched_getcpu(); }

int CPerfEvent_allowed_cpus(unsigned long long *mask, int words) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    for (int w = 0; w < words; w++) mask[w] = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu < 64 * words; cpu++) {
        if (CPU_ISSET(cpu, &set)) mask[cpu / 64] |= 1ULL << (cpu % 64);
    }
    return 0;
}

int CPerfEvent_set_allowed_cpus(const unsigned long long *mask, int words) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu < 64 * words; cpu++) {
        if (mask[cpu / 64] & (1ULL << (cpu % 64))) CPU_SET(cpu, &set);
    }
    return sched_setaffinity(0, sizeof(set), &set);
}

#if defined(__x86_64__) || defined(__aarch64__)
int CPerfEvent_exact_loops(void) { return 1; }
#else
int CPerfEvent_exact_loops(void) { return 0; }
#endif

unsigned long long CPerfEvent_instruction_loop(unsigned long long iterations) {
    if (iterations == 0) return 0;
    unsigned long long left = iterations;
#if defined(__x86_64__)
    __asm__ volatile("1:\n\t"
                     "dec %0\n\t"
                     "jnz 1b\n\t"
                     : "+r"(left)
                     :
                     : "cc");
#elif defined(__aarch64__)
    __asm__ volatile("1:\n\t"
                     "subs %0, %0, #1\n\t"
                     "b.ne 1b\n\t"
                     : "+r"(left)
                     :
                     : "cc");
#else
    while (left != 0) {
        __asm__ volatile("" : "+r"(left));
        left--;
    }
#endif
    return iterations;
}

unsigned long long CPerfEvent_branch_loop(const unsigned char *bytes, unsigned long long count) {
    unsigned long long taken = 0;
    if (count == 0) return 0;
#if defined(__x86_64__)
    __asm__ volatile("1:\n\t"
                     "testb $1, (%[p])\n\t"
                     "jz 2f\n\t"
                     "inc %[t]\n\t"
                     "2:\n\t"
                     "inc %[p]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b\n\t"
                     : [p] "+r"(bytes), [n] "+r"(count), [t] "+r"(taken)
                     :
                     : "cc", "memory");
#elif defined(__aarch64__)
    __asm__ volatile("1:\n\t"
                     "ldrb w9, [%[p]], #1\n\t"
                     "tbz w9, #0, 2f\n\t"
                     "add %[t], %[t], #1\n\t"
                     "2:\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "b.ne 1b\n\t"
                     : [p] "+r"(bytes), [n] "+r"(count), [t] "+r"(taken)
                     :
                     : "x9", "cc", "memory");
#else
    for (unsigned long long i = 0; i < count; i++) {
        if (bytes[i] & 1) taken++;
        __asm__ volatile("" : "+r"(taken));
    }
#endif
    return taken;
}

unsigned long long CPerfEvent_pointer_chase(const unsigned long long *words, unsigned long long steps) {
    unsigned long long next = 0;
    if (steps == 0) return 0;
#if defined(__x86_64__)
    __asm__ volatile("1:\n\t"
                     "mov (%[w],%[i],8), %[i]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b\n\t"
                     : [i] "+r"(next), [n] "+r"(steps)
                     : [w] "r"(words)
                     : "cc", "memory");
#elif defined(__aarch64__)
    __asm__ volatile("1:\n\t"
                     "ldr %[i], [%[w], %[i], lsl #3]\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "b.ne 1b\n\t"
                     : [i] "+r"(next), [n] "+r"(steps)
                     : [w] "r"(words)
                     : "cc", "memory");
#else
    while (steps--) {
        next = ((const volatile unsigned long long *)words)[next];
    }
#endif
    return next;
}
