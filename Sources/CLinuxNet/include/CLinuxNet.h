// What Swift cannot import for MSG_ZEROCOPY completions: the CMSG_* macros and struct sock_extended_err.
// <sys/socket.h> and <time.h> must come before <linux/errqueue.h>, or clang fails on struct timespec.
#ifndef CLINUXNET_H
#define CLINUXNET_H

#include <sys/socket.h>
#include <time.h>
#include <netinet/in.h>
#include <linux/errqueue.h>
#include <stddef.h>

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

#endif
