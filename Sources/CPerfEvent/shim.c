#include "CPerfEvent.h"
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

int CPerfEvent_getrusage_thread(struct rusage *usage) { return getrusage(RUSAGE_THREAD, usage); }

pid_t CPerfEvent_gettid(void) { return (pid_t)syscall(SYS_gettid); }

unsigned int CPerfEvent_attr_size(void) { return (unsigned int)sizeof(struct perf_event_attr); }
