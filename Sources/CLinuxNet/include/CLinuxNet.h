// What Swift cannot import for the transports: the CMSG_* macros and struct sock_extended_err (MSG_ZEROCOPY
// completions); the io_uring system calls (no libc wrapper; `syscall` is variadic), its structures and the ring's
// acquire and release accesses; the full struct tcp_zerocopy_receive (glibc's <netinet/tcp.h> has only its first three
// fields); memfd_create. And for the control plane: the rtnetlink requests that find the route toward a peer (the
// NLMSG_* and RTA_* macros).
//
// This header includes no libc or kernel header (only the compiler's <stddef.h> and <stdint.h>): a libc header
// included here becomes part of this module's own text, and a whole-module (release) build then attributes names such
// as MSG_NOSIGNAL or SOCK_STREAM to this module once a file that imports it uses them, so that the files importing only
// Glibc no longer find them. So the kernel's structures and constants are mirrored here with prefixed names, and
// shim.c, which includes the real headers (<linux/errqueue.h>, <linux/io_uring.h>, <linux/tcp.h> of linux-libc-dev),
// checks every size, offset and value against them at compile time.
#ifndef CLINUXNET_H
#define CLINUXNET_H

#include <stddef.h>
#include <stdint.h>

struct msghdr;
struct cmsghdr;

/// struct sock_extended_err (include/uapi/linux/errqueue.h): an error-queue report; MSG_ZEROCOPY completions carry
/// the ids `[ee_info, ee_data]`.
struct CLinuxNet_sock_extended_err {
    uint32_t ee_errno;
    uint8_t ee_origin;
    uint8_t ee_type;
    uint8_t ee_code;
    uint8_t ee_pad;
    uint32_t ee_info;
    uint32_t ee_data;
};

static const unsigned int CLinuxNet_SO_EE_ORIGIN_ZEROCOPY = 5;
static const unsigned int CLinuxNet_SO_EE_CODE_ZEROCOPY_COPIED = 1;

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

/// struct io_uring_sqe: a submission, with the fields of the unions a send uses.
struct CLinuxNet_io_uring_sqe {
    uint8_t opcode;
    uint8_t flags;
    uint16_t ioprio;        ///< for SEND_ZC and SENDMSG_ZC: IORING_RECVSEND_* and IORING_SEND_ZC_* flags
    int32_t fd;
    uint64_t off;
    uint64_t addr;          ///< SENDMSG_ZC: the struct msghdr
    uint32_t len;
    uint32_t msg_flags;
    uint64_t user_data;
    uint16_t buf_index;
    uint16_t personality;
    int32_t splice_fd_in;
    uint64_t addr3;
    uint64_t pad2;
};

/// struct io_uring_cqe (without IORING_SETUP_CQE32).
struct CLinuxNet_io_uring_cqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
};

/// struct io_sqring_offsets.
struct CLinuxNet_io_sqring_offsets {
    uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
    uint64_t resv2;
};

/// struct io_cqring_offsets.
struct CLinuxNet_io_cqring_offsets {
    uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
    uint64_t resv2;
};

/// struct io_uring_params.
struct CLinuxNet_io_uring_params {
    uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
    struct CLinuxNet_io_sqring_offsets sq_off;
    struct CLinuxNet_io_cqring_offsets cq_off;
};

/// struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG); `ts` points at a struct __kernel_timespec.
struct CLinuxNet_io_uring_getevents_arg {
    uint64_t sigmask;
    uint32_t sigmask_sz;
    uint32_t pad;
    uint64_t ts;
};

/// struct __kernel_timespec.
struct CLinuxNet_kernel_timespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};

/// struct io_uring_probe_op.
struct CLinuxNet_io_uring_probe_op {
    uint8_t op;
    uint8_t resv;
    uint16_t flags;
    uint32_t resv2;
};

/// struct io_uring_probe, followed in memory by its ops.
struct CLinuxNet_io_uring_probe {
    uint8_t last_op;
    uint8_t ops_len;
    uint16_t resv;
    uint32_t resv2[3];
};

static const uint8_t CLinuxNet_IORING_OP_SENDMSG_ZC = 48;
static const uint32_t CLinuxNet_IORING_SETUP_CQSIZE = 1U << 3;
static const uint32_t CLinuxNet_IORING_SETUP_SINGLE_ISSUER = 1U << 12;
static const uint32_t CLinuxNet_IORING_SETUP_DEFER_TASKRUN = 1U << 13;
static const uint32_t CLinuxNet_IORING_FEAT_EXT_ARG = 1U << 8;
static const uint32_t CLinuxNet_IORING_ENTER_GETEVENTS = 1U << 0;
static const uint32_t CLinuxNet_IORING_ENTER_EXT_ARG = 1U << 3;
static const uint32_t CLinuxNet_IORING_CQE_F_MORE = 1U << 1;
static const uint32_t CLinuxNet_IORING_CQE_F_NOTIF = 1U << 3;
static const uint16_t CLinuxNet_IORING_SEND_ZC_REPORT_USAGE = 1U << 3;
static const uint32_t CLinuxNet_IORING_NOTIF_USAGE_ZC_COPIED = 1U << 31;
static const uint32_t CLinuxNet_IORING_REGISTER_PROBE = 8;
static const uint16_t CLinuxNet_IO_URING_OP_SUPPORTED = 1U << 0;
static const uint64_t CLinuxNet_IORING_OFF_SQ_RING = 0ULL;
static const uint64_t CLinuxNet_IORING_OFF_CQ_RING = 0x8000000ULL;
static const uint64_t CLinuxNet_IORING_OFF_SQES = 0x10000000ULL;

/// io_uring_setup(2): a new ring of `entries` submission entries; its file descriptor, or -1 with errno set.
int CLinuxNet_io_uring_setup(unsigned int entries, struct CLinuxNet_io_uring_params *params);
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

// ---- rtnetlink: the route toward a peer and its interface, as `ip route get` and `ip link show` ask for them ----

/// What the kernel answers an RTM_GETROUTE request: the route its packets toward the destination take now.
struct CLinuxNet_route {
    /// RTA_OIF: the index of the interface the packets leave by.
    int32_t output_interface;
    /// RTAX_MTU of the route's metrics: a route's own `mtu`, or a path MTU learned from the network; 0 when it has
    /// none and the interface's MTU applies (the kernel's dst_mtu, include/net/dst.h).
    uint32_t mtu;
};

/// An interface, as the kernel describes it in answer to RTM_GETLINK.
struct CLinuxNet_link {
    /// IFLA_MTU.
    uint32_t mtu;
    /// ifi_flags: IFF_UP, IFF_LOOPBACK, ...
    uint32_t flags;
    /// IFLA_IFNAME, NUL-terminated (IFNAMSIZ).
    char name[16];
    /// IFLA_LINKINFO's IFLA_INFO_KIND, NUL-terminated: "veth", "bridge", "tun", ...; empty for a device driven by a
    /// driver of its own, which has no link kind.
    char kind[32];
};

/// IFF_LOOPBACK (<net/if.h>).
static const unsigned int CLinuxNet_IFF_LOOPBACK = 0x8;

/// The route toward `destination` (4 bytes for AF_INET, 16 for AF_INET6, network order), leaving from the local
/// address `source` (same family; NULL: the kernel's choice), as `ip route get DESTINATION from SOURCE` asks for it:
/// one RTM_GETROUTE request on a NETLINK_ROUTE socket of the calling thread's network namespace. 0, or -1 with errno
/// set (the kernel's answer: ENETUNREACH when no route leads there).
int CLinuxNet_route_get(int family, const uint8_t *destination, const uint8_t *source, struct CLinuxNet_route *route);

/// The interface of index `index`: one RTM_GETLINK request. 0, or -1 with errno set (ENODEV: no such interface).
int CLinuxNet_link_get(int32_t index, struct CLinuxNet_link *link);

#endif
