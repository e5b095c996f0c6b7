// What Swift cannot import from <linux/perf_event.h> and <sys/resource.h>:
// the variadic syscall(2), the ioctl request macros, and RUSAGE_THREAD (a _GNU_SOURCE constant).
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

/// getrusage(RUSAGE_THREAD, usage): resource use of the calling thread.
int CPerfEvent_getrusage_thread(struct rusage *usage);

/// The calling thread's kernel thread id (gettid).
pid_t CPerfEvent_gettid(void);

/// sizeof(struct perf_event_attr) as compiled here (PERF_ATTR_SIZE_VER*).
unsigned int CPerfEvent_attr_size(void);

#endif
