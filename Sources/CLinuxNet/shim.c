#include "CLinuxNet.h"
#include <linux/tcp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(struct sock_extended_err) == 16, "sock_extended_err is 16 bytes in the kernel ABI");

struct cmsghdr *CLinuxNet_CMSG_FIRSTHDR(struct msghdr *msg) { return CMSG_FIRSTHDR(msg); }
struct cmsghdr *CLinuxNet_CMSG_NXTHDR(struct msghdr *msg, struct cmsghdr *cmsg) { return CMSG_NXTHDR(msg, cmsg); }
unsigned char *CLinuxNet_CMSG_DATA(struct cmsghdr *cmsg) { return CMSG_DATA(cmsg); }
size_t CLinuxNet_CMSG_SPACE(size_t len) { return CMSG_SPACE(len); }
size_t CLinuxNet_CMSG_LEN(size_t len) { return CMSG_LEN(len); }

// The io_uring ABI this module relies on (include/uapi/linux/io_uring.h).
_Static_assert(sizeof(struct io_uring_sqe) == 64, "io_uring_sqe is 64 bytes");
_Static_assert(sizeof(struct io_uring_cqe) == 16, "io_uring_cqe is 16 bytes without IORING_SETUP_CQE32");
_Static_assert(sizeof(struct io_uring_getevents_arg) == 24, "io_uring_getevents_arg is 24 bytes");

int CLinuxNet_io_uring_setup(unsigned int entries, struct io_uring_params *params) {
    return (int)syscall(__NR_io_uring_setup, entries, params);
}

int CLinuxNet_io_uring_enter(int ring, unsigned int toSubmit, unsigned int minComplete, unsigned int flags,
                             const void *arg, size_t argSize) {
    return (int)syscall(__NR_io_uring_enter, ring, toSubmit, minComplete, flags, arg, argSize);
}

int CLinuxNet_io_uring_register(int ring, unsigned int opcode, void *arg, unsigned int count) {
    return (int)syscall(__NR_io_uring_register, ring, opcode, arg, count);
}

// The mirror of struct tcp_zerocopy_receive must match the kernel's, offset for offset.
#define SAME_FIELD(name) \
    _Static_assert(offsetof(struct CLinuxNet_ZeroCopyReceive, name) == offsetof(struct tcp_zerocopy_receive, name), \
                   "tcp_zerocopy_receive." #name)
SAME_FIELD(address);
SAME_FIELD(length);
SAME_FIELD(recv_skip_hint);
SAME_FIELD(inq);
SAME_FIELD(err);
SAME_FIELD(copybuf_address);
SAME_FIELD(copybuf_len);
SAME_FIELD(flags);
SAME_FIELD(msg_control);
SAME_FIELD(msg_controllen);
SAME_FIELD(msg_flags);
SAME_FIELD(reserved);
_Static_assert(sizeof(struct CLinuxNet_ZeroCopyReceive) == sizeof(struct tcp_zerocopy_receive),
               "tcp_zerocopy_receive size");

int CLinuxNet_zerocopy_receive(int fd, struct CLinuxNet_ZeroCopyReceive *zc) {
    socklen_t length = sizeof(*zc);
    return getsockopt(fd, IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, zc, &length);
}

int CLinuxNet_memfd_create(const char *name) { return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC); }
