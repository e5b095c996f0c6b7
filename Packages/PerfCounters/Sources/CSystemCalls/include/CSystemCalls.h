#ifndef CSYSTEMCALLS_H
#define CSYSTEMCALLS_H

// What SystemCalls needs from the C library that Swift's Glibc module does not import: glibc declares these only
// under _GNU_SOURCE (accept4, pipe2, gettid, pthread_setname_np), which the Glibc module is not built with.
// Each function is the call itself, with its C name after the prefix; -1 (or an error number, as pthread's
// functions return) and errno as the C library leaves them.

#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>

/// accept4(2): the new descriptor gets `flags` (SOCK_CLOEXEC, SOCK_NONBLOCK) atomically.
int CSystemCalls_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

/// pipe2(2): both ends get `flags` (O_CLOEXEC, O_NONBLOCK) atomically.
int CSystemCalls_pipe2(int fds[2], int flags);

/// gettid(2): the calling thread's kernel thread id (as /proc/self/task/TID and perf's -t name it).
pid_t CSystemCalls_gettid(void);

/// pthread_setname_np(3): at most 15 bytes and the terminating NUL; returns 0 or an error number (ERANGE).
int CSystemCalls_pthread_setname_np(pthread_t thread, const char *name);

#endif
