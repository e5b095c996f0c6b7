#include "CLinuxNet.h"

_Static_assert(sizeof(struct sock_extended_err) == 16, "sock_extended_err is 16 bytes in the kernel ABI");

struct cmsghdr *CLinuxNet_CMSG_FIRSTHDR(struct msghdr *msg) { return CMSG_FIRSTHDR(msg); }
struct cmsghdr *CLinuxNet_CMSG_NXTHDR(struct msghdr *msg, struct cmsghdr *cmsg) { return CMSG_NXTHDR(msg, cmsg); }
unsigned char *CLinuxNet_CMSG_DATA(struct cmsghdr *cmsg) { return CMSG_DATA(cmsg); }
size_t CLinuxNet_CMSG_SPACE(size_t len) { return CMSG_SPACE(len); }
size_t CLinuxNet_CMSG_LEN(size_t len) { return CMSG_LEN(len); }
