// What Swift cannot import for the transports: the CMSG_* macros and struct sock_extended_err (MSG_ZEROCOPY
// completions); the io_uring system calls (no libc wrapper; `syscall` is variadic) and the ring's acquire and release
// accesses; the full struct tcp_zerocopy_receive (glibc's <netinet/tcp.h> has only its first three fields).
// <sys/socket.h> and <time.h> must come before <linux/errqueue.h>, or clang fails on struct timespec.
#ifndef CLINUXNET_H
#define CLINUXNET_H

#include <sys/socket.h>
#include <time.h>
#include <netinet/in.h>
#include <linux/errqueue.h>
#include <linux/io_uring.h>
#include <stddef.h>
#include <stdint.h>

static const unsigned int CLinuxNet_SO_EE_ORIGIN_ZEROCOPY = SO_EE_ORIGIN_ZEROCOPY;
static const unsigned int CLinuxNet_SO_EE_CODE_ZEROCOPY_COPIED = SO_EE_CODE_ZEROCOPY_COPIED;

/// CMSG_FIRSTHDR(msg), or NULL when the control buffer holds no complete header.
struct cmsghdr *CLinuxNet_CMSG_FIRSTHDR(struct msghdr *msg);
/// CMSG_NXTHDR(msg, cmsg), or NULL after the last one.
struct cmsghdr *CLinuxNet_CMSG_NXTHDR(struct msghdr *msg, struct cmsghdr *cmsg);
/// CMSG_DATA(cmsg).
unsigned char *CLinuxNet_CMSG_DATA(struct cmsghdr *cmsg);
/// CMSG_SPACE(len) and CMSG_LEN(len).
size_t CLinuxNet_CMSG_SPACE(size_t len);
size_t CLinuxNet_CMSG_LEN(size_t len);

// ---- io_uring (Linux 5.1; IORING_OP_SENDMSG_ZC 6.1; IORING_SEND_ZC_REPORT_USAGE 6.2) ----

/// io_uring_setup(2): a new ring of `entries` submission entries; its file descriptor, or -1 with errno set.
int CLinuxNet_io_uring_setup(unsigned int entries, struct io_uring_params *params);
/// io_uring_enter(2) with an extended argument (IORING_ENTER_EXT_ARG: `arg` is a struct io_uring_getevents_arg,
/// `argSize` its size) or a signal mask; the number of entries submitted, or -1 with errno set.
int CLinuxNet_io_uring_enter(int ring, unsigned int toSubmit, unsigned int minComplete, unsigned int flags,
                             const void *arg, size_t argSize);
/// io_uring_register(2); 0 (or a positive result), or -1 with errno set.
int CLinuxNet_io_uring_register(int ring, unsigned int opcode, void *arg, unsigned int count);

/// A load of a ring index the kernel writes, ordered before the loads of the entries it publishes.
static inline uint32_t CLinuxNet_loadAcquire(const uint32_t *index) { return __atomic_load_n(index, __ATOMIC_ACQUIRE); }
/// A store of a ring index the kernel reads, ordered after the stores of the entries it publishes.
static inline void CLinuxNet_storeRelease(uint32_t *index, uint32_t value) {
    __atomic_store_n(index, value, __ATOMIC_RELEASE);
}

// ---- TCP_ZEROCOPY_RECEIVE (Linux 4.18; the fields after recv_skip_hint 5.3 to 5.14) ----

/// struct tcp_zerocopy_receive of include/uapi/linux/tcp.h, field for field (shim.c checks the layout against the
/// kernel header): getsockopt(IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE) maps whole pages of the receive queue at `address`.
struct CLinuxNet_ZeroCopyReceive {
    uint64_t address;          ///< in: page-aligned address inside a mapping of the socket
    uint32_t length;           ///< in: bytes to map; out: bytes mapped
    uint32_t recv_skip_hint;   ///< out: bytes to read with recv() before the next mappable page
    uint32_t inq;              ///< out: bytes in the receive queue
    int32_t err;               ///< out: the socket's pending error
    uint64_t copybuf_address;  ///< in: a buffer for small reads
    int32_t copybuf_len;       ///< in/out: its size / bytes copied into it, or an error
    uint32_t flags;            ///< in: TCP_RECEIVE_ZEROCOPY_FLAG_*
    uint64_t msg_control;      ///< ancillary data
    uint64_t msg_controllen;
    uint32_t msg_flags;
    uint32_t reserved;         ///< 0
};

/// getsockopt(fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, zc, sizeof *zc): 0, or -1 with errno set (EIO: the peer ended
/// the stream and nothing is left; ENOPROTOOPT: a kernel without the option).
int CLinuxNet_zerocopy_receive(int fd, struct CLinuxNet_ZeroCopyReceive *zc);


/// memfd_create(name, MFD_CLOEXEC) (Linux 3.17): an anonymous file in memory; -1 with errno set.
int CLinuxNet_memfd_create(const char *name);

#endif
