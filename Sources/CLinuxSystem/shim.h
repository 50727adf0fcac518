// Linux headers that Swift's Glibc module does not export: epoll and eventfd for the event loop.
#pragma once
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

// accept4 and pipe2 are declared only under _GNU_SOURCE, which the Glibc module is not built with.
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
extern int pipe2(int pipefd[2], int flags);

#include <unistd.h>
#include <sys/syscall.h>

// pidfd_open(2) (Linux 5.3): an fd that becomes readable when the process exits, so an event loop
// learns of a child's exit without polling. glibc 2.36 has a wrapper, older ones do not.
static inline int wsbridge_pidfd_open(pid_t pid) {
    return (int)syscall(434 /* SYS_pidfd_open */, pid, 0);
}

// pidfd_send_signal(2) (Linux 5.1): signal 0 tells whether the process the pidfd names is still
// there (running or an unreaped zombie), whatever process now holds its old pid number.
static inline int wsbridge_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(424 /* SYS_pidfd_send_signal */, pidfd, signal, 0, 0);
}

// The CMSG_* macros, as functions Swift can call, for passing fds over a Unix socket (SCM_RIGHTS).
static inline size_t wsbridge_cmsg_space(size_t length) { return CMSG_SPACE(length); }
static inline size_t wsbridge_cmsg_len(size_t length) { return CMSG_LEN(length); }
static inline struct cmsghdr *wsbridge_cmsg_firsthdr(struct msghdr *message) { return CMSG_FIRSTHDR(message); }
static inline struct cmsghdr *wsbridge_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header) {
    return CMSG_NXTHDR(message, header);
}
static inline unsigned char *wsbridge_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }
