/* prio.c: see prio.h. */
#include "prio.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/ioprio.h (no glibc wrapper): class in the top 3 of 16 bits. */
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_VALUE(cls, data) (((cls) << IOPRIO_CLASS_SHIFT) | (data))
#define NICE_IDLE 19

int prio_set_this_thread(enum check_priority p)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int rc = 0;

    if (p != CHECK_PRIORITY_IDLE)
        return 0; /* normal: what the process has */
    if (setpriority(PRIO_PROCESS, (id_t)tid, NICE_IDLE) != 0)
        rc = -1;
    /* Honoured by the BFQ (and the old CFQ) I/O schedulers; none and mq-deadline ignore it,
     * which is why check_max_read_rate exists too. */
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)tid, IOPRIO_VALUE(IOPRIO_CLASS_IDLE, 0)) !=
        0)
        rc = -1;
    return rc;
}
