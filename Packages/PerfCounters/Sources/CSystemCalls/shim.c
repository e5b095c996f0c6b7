#include "CSystemCalls.h"
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int CSystemCalls_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

int CSystemCalls_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

// syscall(2) rather than glibc's gettid(), which only glibc 2.30 and later have.
pid_t CSystemCalls_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int CSystemCalls_pthread_setname_np(pthread_t thread, const char *name) { return pthread_setname_np(thread, name); }
