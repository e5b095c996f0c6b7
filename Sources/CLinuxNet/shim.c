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
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>

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

// ---- rtnetlink (rtnetlink(7), netlink(7); iproute2's ip/iproute.c iproute_get and lib/libnetlink.c rtnl_talk) ----

_Static_assert(CLinuxNet_IFF_LOOPBACK == IFF_LOOPBACK, "IFF_LOOPBACK");
_Static_assert(sizeof(((struct CLinuxNet_link *)0)->name) == IFNAMSIZ, "IFNAMSIZ");

/// Bytes of the buffer an answer is read into: a link's answer, with its statistics and per-family data, is a few KiB.
#define ANSWER_CAPACITY 32768

/// Appends a route attribute to a request of `capacity` bytes; -1 (EMSGSIZE) when it does not fit.
static int add_attribute(struct nlmsghdr *request, size_t capacity, unsigned short type, const void *data, size_t length) {
    size_t at = NLMSG_ALIGN(request->nlmsg_len);
    if (at + RTA_SPACE(length) > capacity) {
        errno = EMSGSIZE;
        return -1;
    }
    struct rtattr *attribute = (struct rtattr *)((char *)request + at);
    attribute->rta_type = type;
    attribute->rta_len = (unsigned short)RTA_LENGTH(length);
    memcpy(RTA_DATA(attribute), data, length);
    request->nlmsg_len = (uint32_t)(at + RTA_SPACE(length));
    return 0;
}

/// Sends `request` to the kernel on a new NETLINK_ROUTE socket and reads its one answer into `answer`. Returns the
/// answer (a message of type `expected` with at least `fixed` bytes of payload before its attributes), or NULL with
/// errno set: the kernel's error for an NLMSG_ERROR answer, EBADMSG for an answer that is not one whole such message.
static struct nlmsghdr *rtnetlink_ask(struct nlmsghdr *request, unsigned short expected, size_t fixed, char *answer) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return NULL;
    // The kernel answers within the sendto; the timeout only bounds a kernel that never does.
    struct timeval timeout = {.tv_sec = 2, .tv_usec = 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    request->nlmsg_flags = NLM_F_REQUEST;
    request->nlmsg_seq = 1;
    ssize_t sent;
    do sent = sendto(fd, request, request->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    while (sent < 0 && errno == EINTR);
    ssize_t received = -1;
    if (sent >= 0) {
        // MSG_TRUNC: the length of the whole answer, even when it did not fit.
        do received = recv(fd, answer, ANSWER_CAPACITY, MSG_TRUNC);
        while (received < 0 && errno == EINTR);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    if (received < 0) return NULL;
    if (received > ANSWER_CAPACITY) {
        errno = EMSGSIZE;
        return NULL;
    }
    struct nlmsghdr *header = (struct nlmsghdr *)answer;
    if (!NLMSG_OK(header, (size_t)received) || header->nlmsg_seq != request->nlmsg_seq) {
        errno = EBADMSG;
        return NULL;
    }
    if (header->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *error = NLMSG_DATA(header);
        errno = header->nlmsg_len >= NLMSG_LENGTH(sizeof *error) && error->error < 0 ? -error->error : EBADMSG;
        return NULL;
    }
    if (header->nlmsg_type != expected || header->nlmsg_len < NLMSG_LENGTH(fixed)) {
        errno = EBADMSG;
        return NULL;
    }
    return header;
}

/// Frees `answer` and returns -1, errno as it was.
static int fail_freeing(char *answer) {
    int saved = errno;
    free(answer);
    errno = saved;
    return -1;
}

int CLinuxNet_route_get(int family, const uint8_t *destination, const uint8_t *source, struct CLinuxNet_route *route) {
    size_t length = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
    if (length == 0 || destination == NULL || route == NULL) {
        errno = EINVAL;
        return -1;
    }
    struct {
        struct nlmsghdr header;
        struct rtmsg message;
        char attributes[2 * RTA_SPACE(16)];
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof request.message);
    request.header.nlmsg_type = RTM_GETROUTE;
    request.message.rtm_family = (unsigned char)family;
    request.message.rtm_dst_len = (unsigned char)(length * 8);
    if (add_attribute(&request.header, sizeof request, RTA_DST, destination, length) != 0) return -1;
    if (source != NULL) {
        request.message.rtm_src_len = (unsigned char)(length * 8);
        if (add_attribute(&request.header, sizeof request, RTA_SRC, source, length) != 0) return -1;
    }
    char *answer = malloc(ANSWER_CAPACITY);
    if (answer == NULL) return -1;
    struct nlmsghdr *header = rtnetlink_ask(&request.header, RTM_NEWROUTE, sizeof(struct rtmsg), answer);
    if (header == NULL) return fail_freeing(answer);
    route->output_interface = 0;
    route->mtu = 0;
    struct rtmsg *message = NLMSG_DATA(header);
    int remaining = (int)RTM_PAYLOAD(header);
    for (struct rtattr *attribute = RTM_RTA(message); RTA_OK(attribute, remaining);
         attribute = RTA_NEXT(attribute, remaining)) {
        if (attribute->rta_type == RTA_OIF && RTA_PAYLOAD(attribute) >= sizeof(int32_t)) {
            memcpy(&route->output_interface, RTA_DATA(attribute), sizeof(int32_t));
        } else if (attribute->rta_type == RTA_METRICS) {
            int nested = (int)RTA_PAYLOAD(attribute);
            for (struct rtattr *metric = RTA_DATA(attribute); RTA_OK(metric, nested); metric = RTA_NEXT(metric, nested)) {
                if (metric->rta_type == RTAX_MTU && RTA_PAYLOAD(metric) >= sizeof(uint32_t)) {
                    memcpy(&route->mtu, RTA_DATA(metric), sizeof(uint32_t));
                }
            }
        }
    }
    free(answer);
    if (route->output_interface == 0) {
        errno = ENODEV;
        return -1;
    }
    return 0;
}

/// Copies a string attribute into `field` of `capacity` bytes, NUL-terminated, cut if longer.
static void copy_string(char *field, size_t capacity, const struct rtattr *attribute) {
    size_t length = RTA_PAYLOAD(attribute);
    const char *text = RTA_DATA(attribute);
    size_t n = strnlen(text, length);
    if (n >= capacity) n = capacity - 1;
    memcpy(field, text, n);
    field[n] = 0;
}

int CLinuxNet_link_get(int32_t index, struct CLinuxNet_link *link) {
    if (index <= 0 || link == NULL) {
        errno = EINVAL;
        return -1;
    }
    struct {
        struct nlmsghdr header;
        struct ifinfomsg message;
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof request.message);
    request.header.nlmsg_type = RTM_GETLINK;
    request.message.ifi_family = AF_UNSPEC;
    request.message.ifi_index = index;
    char *answer = malloc(ANSWER_CAPACITY);
    if (answer == NULL) return -1;
    struct nlmsghdr *header = rtnetlink_ask(&request.header, RTM_NEWLINK, sizeof(struct ifinfomsg), answer);
    if (header == NULL) return fail_freeing(answer);
    memset(link, 0, sizeof *link);
    struct ifinfomsg *message = NLMSG_DATA(header);
    link->flags = message->ifi_flags;
    int remaining = (int)(header->nlmsg_len - NLMSG_LENGTH(sizeof(struct ifinfomsg)));
    for (struct rtattr *attribute = (struct rtattr *)((char *)message + NLMSG_ALIGN(sizeof(struct ifinfomsg)));
         RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
        if (attribute->rta_type == IFLA_MTU && RTA_PAYLOAD(attribute) >= sizeof(uint32_t)) {
            memcpy(&link->mtu, RTA_DATA(attribute), sizeof(uint32_t));
        } else if (attribute->rta_type == IFLA_IFNAME) {
            copy_string(link->name, sizeof link->name, attribute);
        } else if (attribute->rta_type == IFLA_LINKINFO) {
            int nested = (int)RTA_PAYLOAD(attribute);
            for (struct rtattr *info = RTA_DATA(attribute); RTA_OK(info, nested); info = RTA_NEXT(info, nested)) {
                if (info->rta_type == IFLA_INFO_KIND) copy_string(link->kind, sizeof link->kind, info);
            }
        }
    }
    free(answer);
    return 0;
}
