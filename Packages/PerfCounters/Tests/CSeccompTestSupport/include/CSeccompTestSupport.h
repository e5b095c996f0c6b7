// For tests only: a seccomp filter on the calling thread that refuses perf_event_open, as a container's default
// profile does (Docker's and Podman's answer EPERM to a container without CAP_PERFMON or CAP_SYS_ADMIN). prctl and
// seccomp(2) are variadic or macros Swift cannot call.
#ifndef CSECCOMPTESTSUPPORT_H
#define CSECCOMPTESTSUPPORT_H

/// Sets no_new_privs and installs a seccomp filter on the calling thread only (no SECCOMP_FILTER_FLAG_TSYNC): from
/// then on perf_event_open fails with `error` on this thread; every other call is allowed. The filter ends with the
/// thread. Returns 0, or -1 with errno set (ENOSYS on an architecture this filter does not know).
int CSeccompTestSupport_refuse_perf_event_open(int error);

#endif
