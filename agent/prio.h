/*
 * prio.h: the check threads' CPU and I/O priority (check_priority).
 *
 * Linux keeps both per thread: the nice value (setpriority(PRIO_PROCESS, tid), see
 * setpriority(2) "the nice value is a per-thread attribute") and the I/O priority
 * (ioprio_set(IOPRIO_WHO_PROCESS, tid), ioprio_set(2)). Only the calling check worker is
 * lowered; the sampler, the HTTP thread and the watchdog keep the process's priority, so a
 * scrape and a step-aside are not delayed by the host's load.
 *
 * Nice 19 rather than SCHED_IDLE: a check that must step aside for a checkpointer needs the
 * CPU to do so (the interrupt takes effect on its own thread). SCHED_IDLE's weight (3, against
 * 1024 for nice 0, and 15 for nice 19: kernel/sched/core.c sched_prio_to_weight) can leave it
 * off the CPU for hundreds of milliseconds on a saturated host, while it still holds its
 * snapshot; and an unprivileged thread cannot leave SCHED_IDLE again. At nice 19 it still
 * gets about 1.5 % of a busy CPU, which is not enough either: measured on a loaded 2-core host,
 * a nice-19 check held its snapshot 5.5 s past a waiting checkpoint. So when the watchdog
 * makes a check step aside it also raises that thread to nice 0 and I/O class best-effort
 * (prio_boost) until its read transaction is over. That needs CAP_SYS_NICE or an RLIMIT_NICE
 * of 20 (systemd: LimitNICE=0); without either the thread runs at nice 10 instead of 19.
 */
#ifndef SQLITE_AGENT_PRIO_H
#define SQLITE_AGENT_PRIO_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/* Whether a lowered thread can be raised back to nice 0 (CAP_SYS_NICE or RLIMIT_NICE 20,
 * whose soft limit it raises to the hard one when that allows it). */
bool prio_can_boost(void);

/* Sets the calling thread's priority: idle is nice 19 when boostable (else 10) and I/O class
 * idle. Returns 0, or -1 with errno (the thread then runs at the priority it had: never worse
 * for the application). */
int prio_set_this_thread(enum check_priority p, bool boostable);

/* Raises thread tid to nice 0 and I/O best-effort, from another thread. Returns 0 or -1. */
int prio_boost(pid_t tid);

pid_t prio_this_tid(void);

#endif
