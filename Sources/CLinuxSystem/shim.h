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

#include <stdint.h>
#include <sys/ioctl.h>

// PIDFD_GET_INFO (Linux 6.15) with PIDFD_INFO_EXIT: the wait status of the process a pidfd names,
// kept by the kernel once the process is reaped, whoever reaped it. The struct is the ioctl's
// first version (64 bytes); newer kernels accept it as it is.
struct wsbridge_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};

// 1 and the wait status in *status once the process was reaped; 0 while it is not (running or a
// zombie); -1 where the kernel has no such ioctl (before 6.15) or the fd is no pidfd.
static inline int wsbridge_pidfd_wait_status(int pidfd, int *status) {
    struct wsbridge_pidfd_info info = {0};
    info.mask = 0x8;  // PIDFD_INFO_EXIT
    if (ioctl(pidfd, _IOWR(0xFF, 11, struct wsbridge_pidfd_info), &info) != 0) return -1;
    if (!(info.mask & 0x8)) return 0;
    *status = info.exit_code;
    return 1;
}

#include <sys/resource.h>

// setpriority(2) on one thread (Linux: a thread id is a PRIO_PROCESS target), for workers that
// must yield the CPU to the event loops.
static inline int wsbridge_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(186 /* SYS_gettid */), nice);
}

#include <malloc.h>

// The bytes malloc has handed out and not yet had back (mallinfo2's uordblks, glibc 2.33), in all
// arenas: what tests and measurements use to weigh a structure (RSS hides untouched pages).
static inline size_t wsbridge_heap_bytes_in_use(void) { return mallinfo2().uordblks; }

#include <errno.h>
#include <fcntl.h>
#include <termios.h>

// Declared by glibc's stdlib.h only under _XOPEN_SOURCE or _GNU_SOURCE, which the Glibc module is
// not built with.
extern int posix_openpt(int flags);
extern int grantpt(int fd);
extern int unlockpt(int fd);
extern int ptsname_r(int fd, char *buffer, size_t length);

// A pseudo-terminal pair for a `--pty` child (SPEC §12): the primary side for the server and the
// secondary for the child's stdin, stdout and stderr, both close-on-exec and neither becoming
// the opener's controlling terminal (O_NOCTTY). The secondary comes from TIOCGPTPEER (Linux
// 4.13), which opens the primary's own peer rather than whatever the ptsname path names by then,
// or else from that path. 0, or -1 with errno.
static inline int wsbridge_open_pty(int *primary, int *secondary) {
    int primary_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (primary_fd < 0) return -1;
    if (grantpt(primary_fd) != 0 || unlockpt(primary_fd) != 0) {
        int saved = errno;
        close(primary_fd);
        errno = saved;
        return -1;
    }
    int secondary_fd = ioctl(primary_fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (secondary_fd < 0) {
        char name[128];
        if (ptsname_r(primary_fd, name, sizeof name) == 0) secondary_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (secondary_fd < 0) {
        int saved = errno;
        close(primary_fd);
        errno = saved;
        return -1;
    }
    *primary = primary_fd;
    *secondary = secondary_fd;
    return 0;
}

// TIOCSWINSZ (ioctl is variadic, which Swift does not import): sets a terminal's size in cells.
static inline int wsbridge_set_window_size(int fd, unsigned short columns, unsigned short rows) {
    struct winsize size = {0};
    size.ws_col = columns;
    size.ws_row = rows;
    return ioctl(fd, TIOCSWINSZ, &size);
}
