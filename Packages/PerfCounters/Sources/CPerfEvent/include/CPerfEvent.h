// What Swift cannot import from <linux/perf_event.h>, <sys/resource.h> and <sched.h>:
// the variadic syscall(2), the ioctl request macros, RUSAGE_THREAD and the CPU affinity calls (_GNU_SOURCE),
// the acquire load and release store of a sampling ring's data_head and data_tail (Swift has no atomic access
// to memory it does not own: the kernel's mmap),
// the CPU_SET macros, and loops whose retired instructions and branches are known exactly (inline assembly,
// which Swift does not have), for `copyprof counters --check`.
// struct perf_event_attr itself imports, bitfields included.
#ifndef CPERFEVENT_H
#define CPERFEVENT_H

#include <linux/perf_event.h>
#include <sys/types.h>
#include <sys/resource.h>

/// perf_event_open(2). Returns a file descriptor, or -1 with errno set.
int CPerfEvent_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd, unsigned long flags);

/// ioctl(fd, PERF_EVENT_IOC_ENABLE/DISABLE/RESET, flags). Returns 0, or -1 with errno set.
int CPerfEvent_enable(int fd, unsigned int flags);
int CPerfEvent_disable(int fd, unsigned int flags);
int CPerfEvent_reset(int fd, unsigned int flags);

/// ioctl(fd, PERF_EVENT_IOC_ID, &id): the kernel's id of an event, as PERF_FORMAT_ID reports it.
int CPerfEvent_id(int fd, unsigned long long *id);

/// ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, target): `fd`'s records go to `target`'s ring (which must be mapped).
/// Returns 0, or -1 with errno set.
int CPerfEvent_set_output(int fd, int target);

/// The ring's data_head, loaded with acquire semantics: the records before it are visible once it is read
/// (tools/lib/perf/mmap.c perf_mmap__read_head, smp_load_acquire).
unsigned long long CPerfEvent_ring_head(const struct perf_event_mmap_page *page);

/// Stores the ring's data_tail with release semantics: the records before it have been read before the kernel
/// may overwrite them (tools/lib/perf/mmap.c perf_mmap__write_tail, smp_store_release).
void CPerfEvent_ring_set_tail(struct perf_event_mmap_page *page, unsigned long long tail);

/// getrusage(RUSAGE_THREAD, usage): resource use of the calling thread.
int CPerfEvent_getrusage_thread(struct rusage *usage);

/// The calling thread's kernel thread id (gettid).
pid_t CPerfEvent_gettid(void);

/// sizeof(struct perf_event_attr) as compiled here (PERF_ATTR_SIZE_VER*).
unsigned int CPerfEvent_attr_size(void);

/// sched_getcpu(): the CPU the calling thread runs on now, or -1 with errno set.
int CPerfEvent_current_cpu(void);

/// sched_getaffinity for the calling thread, as a bit mask: bit i of mask[i / 64] is CPU i.
/// Fills `words` 64-bit words (CPUs beyond 64 * words are left out). Returns 0, or -1 with errno set.
int CPerfEvent_allowed_cpus(unsigned long long *mask, int words);

/// sched_setaffinity for the calling thread from a bit mask laid out as above. Returns 0, or -1 with errno set.
int CPerfEvent_set_allowed_cpus(const unsigned long long *mask, int words);

/// 1 where the loops below are written in assembly for this architecture (x86-64, AArch64), so their
/// instruction and branch counts are exact; 0 where they are plain C and the compiler decides.
int CPerfEvent_exact_loops(void);

/// Runs `iterations` turns of a two-instruction loop (decrement, branch back while not zero): exactly
/// 2 * iterations retired instructions in the loop, 1 * iterations of them branches. Returns `iterations`.
unsigned long long CPerfEvent_instruction_loop(unsigned long long iterations);

/// For each of `count` bytes, one conditional branch on the byte's lowest bit. With random bytes the
/// predictor cannot learn the branch: about half of the branches are mispredicted. Returns how many were taken.
unsigned long long CPerfEvent_branch_loop(const unsigned char *bytes, unsigned long long count);

/// Follows `steps` links from word 0 of `words`, where each visited word holds the index of the next one to
/// read: exactly one load per step, each depending on the last. Returns the index it stopped at.
unsigned long long CPerfEvent_pointer_chase(const unsigned long long *words, unsigned long long steps);

#endif
