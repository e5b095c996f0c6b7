// <sys/socket.h> and <time.h> must come before <linux/errqueue.h>, or clang fails on struct timespec.
#include <sys/socket.h>
#include <time.h>
#include <netinet/in.h>
#include <linux/errqueue.h>
#include "CLinuxNet.h"
#include <linux/io_uring.h>
#include <linux/tcp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(struct sock_extended_err) == 16, "sock_extended_err is 16 bytes in the kernel ABI");
_Static_assert(sizeof(struct CLinuxNet_sock_extended_err) == sizeof(struct sock_extended_err), "sock_extended_err size");
_Static_assert(offsetof(struct CLinuxNet_sock_extended_err, ee_origin) == offsetof(struct sock_extended_err, ee_origin), "ee_origin");
_Static_assert(offsetof(struct CLinuxNet_sock_extended_err, ee_code) == offsetof(struct sock_extended_err, ee_code), "ee_code");
_Static_assert(offsetof(struct CLinuxNet_sock_extended_err, ee_info) == offsetof(struct sock_extended_err, ee_info), "ee_info");
_Static_assert(offsetof(struct CLinuxNet_sock_extended_err, ee_data) == offsetof(struct sock_extended_err, ee_data), "ee_data");
_Static_assert(CLinuxNet_SO_EE_ORIGIN_ZEROCOPY == SO_EE_ORIGIN_ZEROCOPY, "SO_EE_ORIGIN_ZEROCOPY");
_Static_assert(CLinuxNet_SO_EE_CODE_ZEROCOPY_COPIED == SO_EE_CODE_ZEROCOPY_COPIED, "SO_EE_CODE_ZEROCOPY_COPIED");

struct cmsghdr *CLinuxNet_CMSG_FIRSTHDR(struct msghdr *msg) { return CMSG_FIRSTHDR(msg); }
struct cmsghdr *CLinuxNet_CMSG_NXTHDR(struct msghdr *msg, struct cmsghdr *cmsg) { return CMSG_NXTHDR(msg, cmsg); }
unsigned char *CLinuxNet_CMSG_DATA(struct cmsghdr *cmsg) { return CMSG_DATA(cmsg); }
size_t CLinuxNet_CMSG_SPACE(size_t len) { return CMSG_SPACE(len); }
size_t CLinuxNet_CMSG_LEN(size_t len) { return CMSG_LEN(len); }

// The mirrors of the io_uring ABI must match include/uapi/linux/io_uring.h, offset for offset and value for value.
#define SAME_LAYOUT(mirror, kernel, field) \
    _Static_assert(offsetof(struct mirror, field) == offsetof(struct kernel, field), #kernel "." #field)
#define SAME_SIZE(mirror, kernel) _Static_assert(sizeof(struct mirror) == sizeof(struct kernel), #kernel " size")
SAME_SIZE(CLinuxNet_io_uring_sqe, io_uring_sqe);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, opcode);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, flags);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, ioprio);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, fd);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, off);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, addr);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, len);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, msg_flags);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, user_data);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, buf_index);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, personality);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, splice_fd_in);
SAME_LAYOUT(CLinuxNet_io_uring_sqe, io_uring_sqe, addr3);
_Static_assert(sizeof(struct CLinuxNet_io_uring_cqe) == 16, "io_uring_cqe is 16 bytes without IORING_SETUP_CQE32");
SAME_LAYOUT(CLinuxNet_io_uring_cqe, io_uring_cqe, user_data);
SAME_LAYOUT(CLinuxNet_io_uring_cqe, io_uring_cqe, res);
SAME_LAYOUT(CLinuxNet_io_uring_cqe, io_uring_cqe, flags);
SAME_SIZE(CLinuxNet_io_sqring_offsets, io_sqring_offsets);
SAME_LAYOUT(CLinuxNet_io_sqring_offsets, io_sqring_offsets, head);
SAME_LAYOUT(CLinuxNet_io_sqring_offsets, io_sqring_offsets, tail);
SAME_LAYOUT(CLinuxNet_io_sqring_offsets, io_sqring_offsets, ring_mask);
SAME_LAYOUT(CLinuxNet_io_sqring_offsets, io_sqring_offsets, array);
SAME_SIZE(CLinuxNet_io_cqring_offsets, io_cqring_offsets);
SAME_LAYOUT(CLinuxNet_io_cqring_offsets, io_cqring_offsets, head);
SAME_LAYOUT(CLinuxNet_io_cqring_offsets, io_cqring_offsets, tail);
SAME_LAYOUT(CLinuxNet_io_cqring_offsets, io_cqring_offsets, ring_mask);
SAME_LAYOUT(CLinuxNet_io_cqring_offsets, io_cqring_offsets, cqes);
SAME_SIZE(CLinuxNet_io_uring_params, io_uring_params);
SAME_LAYOUT(CLinuxNet_io_uring_params, io_uring_params, cq_entries);
SAME_LAYOUT(CLinuxNet_io_uring_params, io_uring_params, flags);
SAME_LAYOUT(CLinuxNet_io_uring_params, io_uring_params, features);
SAME_LAYOUT(CLinuxNet_io_uring_params, io_uring_params, sq_off);
SAME_LAYOUT(CLinuxNet_io_uring_params, io_uring_params, cq_off);
SAME_SIZE(CLinuxNet_io_uring_getevents_arg, io_uring_getevents_arg);
SAME_LAYOUT(CLinuxNet_io_uring_getevents_arg, io_uring_getevents_arg, ts);
SAME_SIZE(CLinuxNet_kernel_timespec, __kernel_timespec);
SAME_SIZE(CLinuxNet_io_uring_probe_op, io_uring_probe_op);
SAME_LAYOUT(CLinuxNet_io_uring_probe_op, io_uring_probe_op, flags);
SAME_SIZE(CLinuxNet_io_uring_probe, io_uring_probe);
SAME_LAYOUT(CLinuxNet_io_uring_probe, io_uring_probe, last_op);
_Static_assert(CLinuxNet_IORING_OP_SENDMSG_ZC == IORING_OP_SENDMSG_ZC, "IORING_OP_SENDMSG_ZC");
_Static_assert(CLinuxNet_IORING_SETUP_CQSIZE == IORING_SETUP_CQSIZE, "IORING_SETUP_CQSIZE");
_Static_assert(CLinuxNet_IORING_SETUP_SINGLE_ISSUER == IORING_SETUP_SINGLE_ISSUER, "IORING_SETUP_SINGLE_ISSUER");
_Static_assert(CLinuxNet_IORING_SETUP_DEFER_TASKRUN == IORING_SETUP_DEFER_TASKRUN, "IORING_SETUP_DEFER_TASKRUN");
_Static_assert(CLinuxNet_IORING_FEAT_EXT_ARG == IORING_FEAT_EXT_ARG, "IORING_FEAT_EXT_ARG");
_Static_assert(CLinuxNet_IORING_ENTER_GETEVENTS == IORING_ENTER_GETEVENTS, "IORING_ENTER_GETEVENTS");
_Static_assert(CLinuxNet_IORING_ENTER_EXT_ARG == IORING_ENTER_EXT_ARG, "IORING_ENTER_EXT_ARG");
_Static_assert(CLinuxNet_IORING_CQE_F_MORE == IORING_CQE_F_MORE, "IORING_CQE_F_MORE");
_Static_assert(CLinuxNet_IORING_CQE_F_NOTIF == IORING_CQE_F_NOTIF, "IORING_CQE_F_NOTIF");
_Static_assert(CLinuxNet_IORING_SEND_ZC_REPORT_USAGE == IORING_SEND_ZC_REPORT_USAGE, "IORING_SEND_ZC_REPORT_USAGE");
_Static_assert(CLinuxNet_IORING_NOTIF_USAGE_ZC_COPIED == IORING_NOTIF_USAGE_ZC_COPIED, "IORING_NOTIF_USAGE_ZC_COPIED");
_Static_assert(CLinuxNet_IORING_REGISTER_PROBE == IORING_REGISTER_PROBE, "IORING_REGISTER_PROBE");
_Static_assert(CLinuxNet_IO_URING_OP_SUPPORTED == IO_URING_OP_SUPPORTED, "IO_URING_OP_SUPPORTED");
_Static_assert(CLinuxNet_IORING_OFF_SQ_RING == IORING_OFF_SQ_RING, "IORING_OFF_SQ_RING");
_Static_assert(CLinuxNet_IORING_OFF_CQ_RING == IORING_OFF_CQ_RING, "IORING_OFF_CQ_RING");
_Static_assert(CLinuxNet_IORING_OFF_SQES == IORING_OFF_SQES, "IORING_OFF_SQES");

int CLinuxNet_io_uring_setup(unsigned int entries, struct CLinuxNet_io_uring_params *params) {
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
