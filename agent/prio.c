/* prio.c: see prio.h. */
#include "prio.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/ioprio.h (no glibc wrapper): class in the top 3 of 16 bits. */
#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_CLASS_BE 2
#define IOPRIO_CLASS_IDLE 3
#define IOPRIO_BE_NORMAL 4 /* the level a thread without an I/O priority gets (ioprio_set(2)) */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_VALUE(cls, data) (((cls) << IOPRIO_CLASS_SHIFT) | (data))
/* Nice 19 when the watchdog may raise the thread back for a step aside; nice 10 (weight 110
 * against 1024, kernel/sched/core.c sched_prio_to_weight) when it may not, so an interrupted
 * check still gets about a tenth of a saturated CPU to let go of its snapshot. */
#define NICE_IDLE 19
#define NICE_IDLE_UNBOOSTABLE 10
/* setpriority(2): lowering a nice value needs CAP_SYS_NICE or an RLIMIT_NICE soft limit of
 * at least 20 - nice; back to 0 needs 20. */
#define RLIMIT_NICE_FOR_ZERO 20

pid_t prio_this_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

bool prio_can_boost(void)
{
    struct rlimit rl;

    if (geteuid() == 0)
        return true; /* CAP_SYS_NICE, unless a bounding set took it: then nice 19 stays */
    if (getrlimit(RLIMIT_NICE, &rl) != 0)
        return false;
    if (rl.rlim_cur < RLIMIT_NICE_FOR_ZERO && rl.rlim_max >= RLIMIT_NICE_FOR_ZERO) {
        rl.rlim_cur = RLIMIT_NICE_FOR_ZERO; /* raising a soft limit to the hard one is allowed */
        setrlimit(RLIMIT_NICE, &rl);
    }
    return getrlimit(RLIMIT_NICE, &rl) == 0 && rl.rlim_cur >= RLIMIT_NICE_FOR_ZERO;
}

static int set_thread(pid_t tid, int nice, int ioclass, int iolevel)
{
    int rc = 0;

    if (setpriority(PRIO_PROCESS, (id_t)tid, nice) != 0)
        rc = -1;
    /* Honoured by the BFQ (and the old CFQ) I/O schedulers; none and mq-deadline ignore it,
     * which is why check_max_read_rate exists too. */
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, (int)tid, IOPRIO_VALUE(ioclass, iolevel)) != 0)
        rc = -1;
    return rc;
}

int prio_set_this_thread(enum check_priority p, bool boostable)
{
    if (p != CHECK_PRIORITY_IDLE)
        return 0; /* normal: what the process has */
    return set_thread(prio_this_tid(), boostable ? NICE_IDLE : NICE_IDLE_UNBOOSTABLE,
                      IOPRIO_CLASS_IDLE, 0);
}

int prio_boost(pid_t tid)
{
    return set_thread(tid, 0, IOPRIO_CLASS_BE, IOPRIO_BE_NORMAL);
}
